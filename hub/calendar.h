/* calendar.h: working days. A calendar is the days of the week that are
 * not working days and a list of bank holidays (config/calendar.yaml);
 * deadlines given in working days count the days it leaves.
 *
 * Knows nothing of rules: the loader reads one, the evaluator and the
 * queues ask it for a date. */
#ifndef CSPH_CALENDAR_H
#define CSPH_CALENDAR_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct hub_calendar {
    unsigned weekend;  /* bit d: weekday d (0 Monday) is not a working day */
    int64_t *holidays; /* days since 1970-01-01, ascending (owned) */
    size_t nholidays;
};

/* Saturday and Sunday off, no bank holidays. */
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

int hub_calendar_is_working_day(const struct hub_calendar *c, int64_t day);
/* The date ms falls on plus n working days, same time of day (UTC). */
int64_t hub_calendar_add_working_days(const struct hub_calendar *c, int64_t ms, int n);

#endif
