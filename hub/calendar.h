/* calendar.h: working days. A calendar is the days of the week that are
 * not working days, the regular bank holidays of a country computed for any
 * year (`regular: england-and-wales`), regular holidays moved to another
 * date (`moved:`, as 2020's early May bank holiday moved to VE day) and
 * one-off bank holidays (`bank_holidays:`), all from config/calendar.yaml;
 * deadlines given in working days count the days it leaves.
 *
 * Knows nothing of rules: the loader reads one, the evaluator and the
 * queues ask it for a date. */
#ifndef CSPH_CALENDAR_H
#define CSPH_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* At most this many regular bank holidays in one year. */
#define CSPH_CALENDAR_REGULAR_MAX 8

struct hub_calendar {
    unsigned weekend;  /* bit d: weekday d (0 Monday) is not a working day */
    int regular;       /* 1: England and Wales' regular bank holidays apply */
    int64_t *holidays; /* days since 1970-01-01, ascending (owned): one-off days
                        * and the days regular ones were moved to */
    size_t nholidays;
    int64_t *moved_from; /* regular holidays that are not (moved away), ascending (owned) */
    size_t nmoved;
};

/* Saturday and Sunday off, no bank holidays (not even regular ones: a
 * calendar file without `regular:` lists every holiday itself, as files
 * kept in logs before `regular:` existed do, so their deadlines replay the
 * same). */
void hub_calendar_init(struct hub_calendar *c);
/* Read a calendar file over c. On failure CSPH_ERR_CONFIG with
 * "file:line: what is wrong" (a date that does not exist or is listed
 * twice, an unknown day name, a week with no working day), or CSPH_ERR_IO. */
enum hub_err hub_calendar_load(struct hub_calendar *c, const char *path,
                               struct hub_error *err);
/* The same from a calendar file's text (as the log keeps it). */
enum hub_err hub_calendar_load_text(struct hub_calendar *c, const char *name,
                                    const unsigned char *text, size_t len,
                                    struct hub_error *err);
void hub_calendar_free(struct hub_calendar *c);

/* England and Wales' regular bank holidays in year (the Banking and
 * Financial Dealings Act 1971 as observed since the early May holiday began
 * in 1978): New Year's Day, Good Friday, Easter Monday, the first Monday of
 * May, the last Mondays of May and August, Christmas Day and Boxing Day,
 * with a substitute weekday for those falling on a weekend. Writes them
 * ascending into out (days since 1970-01-01) and returns how many (8).
 * One-off changes (jubilees, moved days) are the calendar file's. */
size_t hub_calendar_england_wales(int year, int64_t out[CSPH_CALENDAR_REGULAR_MAX]);
/* Easter Sunday of year (Gregorian), as days since 1970-01-01. */
int64_t hub_calendar_easter(int year);

int hub_calendar_is_working_day(const struct hub_calendar *c, int64_t day);
/* The date ms falls on plus n working days, same time of day (UTC). */
int64_t hub_calendar_add_working_days(const struct hub_calendar *c, int64_t ms, int n);

#endif
