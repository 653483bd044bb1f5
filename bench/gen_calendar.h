/* csphub-gen's calendar and clock: the year the feed covers, the borough's
 * local time (British Summer Time from the last Sunday of March to the last
 * Sunday of October, 01:00 UTC) and when in a day and a year each kind of
 * event happens. Times are seconds after --start 00:00 UTC; days are days
 * of that year. */
#ifndef CSPH_BENCH_GEN_CALENDAR_H
#define CSPH_BENCH_GEN_CALENDAR_H

#include <stdint.h>

#include "gen_rng.h"
#include "vocab.h"

#define DAY_S 86400u
#define YEAR_DAYS 365u

struct calendar {
    int64_t start; /* --start: Unix seconds, 00:00 UTC */
    int start_day; /* days since 1970 */
    int year0;
    int64_t bst_on[3], bst_off[3]; /* BST spans of year0 .. year0+2, Unix seconds */
};

void calendar_init(struct calendar *cal, int64_t start);

/* 1 when Unix time t is in British Summer Time. */
int is_bst(const struct calendar *cal, int64_t t);

/* Weekday of a day of the year, 0 = Monday. */
int weekday(const struct calendar *cal, int day);

/* Hour-of-day profiles (local time) for the kinds of events. */
enum profile { H_EVENING, H_NIGHT, H_OFFICE, H_ANY, H_MISSING };

/* A moment on day `day` (of the year) at a local hour drawn from the
 * profile, as seconds after --start; office hours move to the next weekday.
 * Returns UINT32_MAX when that falls outside the year. */
uint32_t at(const struct calendar *cal, struct rng *r, int day, enum profile p);

/* A day of the year for an event of type t, drawn by its seasonal weight. */
int pick_day(const struct calendar *cal, struct rng *r, enum type t);

#endif
