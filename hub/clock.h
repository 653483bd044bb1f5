/* clock.h: the hub's one clock. Everything that reads time (received_at,
 * deadlines, window edges) reads it here, so tests set time instead of
 * sleeping. Plain struct, caller-owned. */
#ifndef CSPH_CLOCK_H
#define CSPH_CLOCK_H

#include <stdint.h>

struct hub_clock {
    int fixed;        /* 0: wall clock; 1: reads fixed_ms (tests, re-derivation) */
    int64_t fixed_ms; /* ms since the Unix epoch when fixed */
};

/* The wall clock. */
void hub_clock_init_real(struct hub_clock *c);
/* A clock stopped at ms until hub_clock_set moves it. */
void hub_clock_init_fixed(struct hub_clock *c, int64_t ms);
void hub_clock_set(struct hub_clock *c, int64_t ms);
/* Now, in ms since the Unix epoch (UTC). */
int64_t hub_clock_now_ms(const struct hub_clock *c);

#endif
