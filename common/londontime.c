#include "londontime.h"

#include "timefmt.h"

#define HOUR_MS 3600000LL

/* The last Sunday of month m of year y, as days since 1970-01-01. */
static int64_t last_sunday(int y, unsigned m)
{
    int64_t first_next = m == 12 ? csph_days_from_civil(y + 1, 1, 1) : csph_days_from_civil(y, m + 1, 1);
    int64_t last = first_next - 1;
    /* 1970-01-01 was a Thursday: weekday (0 Sunday) = (days + 4) mod 7. */
    int64_t wd = ((last + 4) % 7 + 7) % 7;
    return last - wd;
}

int64_t csph_london_offset_ms(int64_t utc_ms)
{
    int64_t day = utc_ms >= 0 ? utc_ms / CSPH_MS_PER_DAY : -((-utc_ms + CSPH_MS_PER_DAY - 1) / CSPH_MS_PER_DAY);
    int y;
    unsigned m, d;
    csph_civil_from_days(day, &y, &m, &d);
    int64_t start = last_sunday(y, 3) * CSPH_MS_PER_DAY + HOUR_MS;
    int64_t end = last_sunday(y, 10) * CSPH_MS_PER_DAY + HOUR_MS;
    return utc_ms >= start && utc_ms < end ? HOUR_MS : 0;
}

int64_t csph_london_day_start(int y, unsigned m, unsigned d)
{
    int64_t local = csph_days_from_civil(y, m, d) * CSPH_MS_PER_DAY;
    /* Midnight is never inside a change (they happen at 01:00 UTC), so the
     * offset at local - 1 h tells which one the clocks show then. */
    return csph_london_offset_ms(local - HOUR_MS) ? local - HOUR_MS : local;
}

void csph_london_month_of(int64_t utc_ms, int *y, unsigned *m)
{
    int64_t local = utc_ms + csph_london_offset_ms(utc_ms);
    int64_t day = local >= 0 ? local / CSPH_MS_PER_DAY : -((-local + CSPH_MS_PER_DAY - 1) / CSPH_MS_PER_DAY);
    unsigned d;
    csph_civil_from_days(day, y, m, &d);
}
