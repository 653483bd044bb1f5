#include "clock.h"

#include <time.h>

void hub_clock_init_real(struct hub_clock *c)
{
    c->fixed = 0;
    c->fixed_ms = 0;
}

void hub_clock_init_fixed(struct hub_clock *c, int64_t ms)
{
    c->fixed = 1;
    c->fixed_ms = ms;
}

void hub_clock_set(struct hub_clock *c, int64_t ms)
{
    c->fixed = 1;
    c->fixed_ms = ms;
}

int64_t hub_clock_now_ms(const struct hub_clock *c)
{
    if (c->fixed)
        return c->fixed_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
