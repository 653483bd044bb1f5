/* londontime.h: Europe/London civil time without a time zone database, for
 * reports that count by calendar month as the partnership's papers do.
 *
 * The UK's rule since 1996 (the EU's summer-time directive, kept in UK law):
 * BST (UTC+1) from 01:00 UTC on the last Sunday of March to 01:00 UTC on the
 * last Sunday of October, GMT otherwise. Applied to every year, so dates
 * before 1996 follow today's rule, not the one then in force. Pure
 * functions of their arguments. */
#ifndef CSPH_LONDONTIME_H
#define CSPH_LONDONTIME_H

#include <stdint.h>

/* London's offset from UTC at the instant utc_ms: 0 or 3,600,000. */
int64_t csph_london_offset_ms(int64_t utc_ms);
/* The instant (UTC ms) London's clocks show 00:00 on y-m-d. */
int64_t csph_london_day_start(int y, unsigned m, unsigned d);
/* The London calendar month the instant utc_ms falls in. */
void csph_london_month_of(int64_t utc_ms, int *y, unsigned *m);
/* Months since year 0 (y * 12 + m - 1): a month's ordinal, for arithmetic. */
static inline int64_t csph_month_ordinal(int y, unsigned m) { return (int64_t)y * 12 + m - 1; }

#endif
