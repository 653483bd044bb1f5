/* csphub-gen's calendar and clock (gen_calendar.h). */
#include "gen_calendar.h"

#include "timefmt.h" /* civil dates: the hub's own, so the two agree on every day */

/* Last Sunday of a 31-day month, 01:00 UTC: when British Summer Time
 * starts (March) and ends (October). */
static int64_t last_sunday_0100(int y, unsigned m)
{
    int64_t d31 = csph_days_from_civil(y, m, 31);
    int64_t wd = (d31 + 4) % 7; /* 0 = Sunday; 1970-01-01 was a Thursday */
    return (d31 - wd) * (int64_t)DAY_S + 3600;
}

void calendar_init(struct calendar *cal, int64_t start)
{
    cal->start = start;
    cal->start_day = (int)(start / DAY_S);
    int y;
    unsigned m, d;
    csph_civil_from_days(cal->start_day, &y, &m, &d);
    cal->year0 = y;
    for (int i = 0; i < 3; i++) {
        cal->bst_on[i] = last_sunday_0100(y + i, 3);
        cal->bst_off[i] = last_sunday_0100(y + i, 10);
    }
}

int is_bst(const struct calendar *cal, int64_t t)
{
    for (int i = 0; i < 3; i++)
        if (t >= cal->bst_on[i] && t < cal->bst_off[i])
            return 1;
    return 0;
}

int weekday(const struct calendar *cal, int day) { return (int)((cal->start_day + day + 3) % 7); }

/* Hour-of-day weights (local time) for the kinds of events (enum profile). */
static const unsigned hour_w[][24] = {
    [H_EVENING] = {3, 2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 7, 8, 10, 12, 13, 13, 12, 10, 7, 5},
    [H_NIGHT] = {9, 8, 6, 4, 2, 1, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 6, 7, 8, 9, 10, 11, 12, 11},
    [H_OFFICE] = {0, 0, 0, 0, 0, 0, 0, 1, 4, 9, 10, 10, 8, 9, 10, 10, 8, 4, 1, 0, 0, 0, 0, 0},
    [H_ANY] = {4, 4, 3, 2, 2, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 5},
    [H_MISSING] = {3, 3, 2, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 6, 8, 10, 12, 12, 10, 7, 4},
};

uint32_t at(const struct calendar *cal, struct rng *r, int day, enum profile p)
{
    if (p == H_OFFICE)
        while (weekday(cal, day) >= 5)
            day++;
    if (day < 0 || day >= (int)YEAR_DAYS)
        return UINT32_MAX;
    int h = weighted(r, hour_w[p], 24);
    int64_t local = (int64_t)day * DAY_S + h * 3600 + below(r, 3600);
    int64_t utc = local - (is_bst(cal, cal->start + local) ? 3600 : 0);
    if (utc < 0 || utc >= (int64_t)YEAR_DAYS * DAY_S)
        return UINT32_MAX;
    return (uint32_t)utc;
}

/* Seasonal weight of a day for a type, 0..100: ASB in summer and around
 * bonfire night, domestic abuse at Christmas and New Year, violence at
 * weekends. */
static unsigned season(const struct calendar *cal, int day, enum type t)
{
    int y;
    unsigned m, d;
    csph_civil_from_days(cal->start_day + day, &y, &m, &d);
    int wd = weekday(cal, day);
    unsigned w = 60;
    switch (t) {
    case T_ASB:
    case T_CALL:
        w = (m >= 5 && m <= 8) ? 85 : 60;
        if ((m == 10 && d >= 25) || (m == 11 && d <= 6))
            w = 100;
        break;
    case T_DA:
        w = (m == 12 && d >= 20) || (m == 1 && d <= 2) ? 100 : 60;
        if (wd >= 5)
            w += 15;
        break;
    case T_VIOL:
        w = wd >= 4 ? 90 : 60;
        break;
    default:
        break;
    }
    return w;
}

int pick_day(const struct calendar *cal, struct rng *r, enum type t)
{
    for (;;) {
        int day = (int)below(r, YEAR_DAYS);
        if (below(r, 100) < season(cal, day, t))
            return day;
    }
}
