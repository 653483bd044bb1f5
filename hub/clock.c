#include "clock.h"

#include <time.h>

void csph_clock_init_real(struct csph_clock *c)
{
    c->fixed = 0;
    c->fixed_ms = 0;
}

void csph_clock_init_fixed(struct csph_clock *c, int64_t ms)
{
    c->fixed = 1;
    c->fixed_ms = ms;
}

void csph_clock_set(struct csph_clock *c, int64_t ms)
{
    c->fixed = 1;
    c->fixed_ms = ms;
}

int64_t csph_clock_now_ms(const struct csph_clock *c)
{
    if (c->fixed)
        return c->fixed_ms;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
