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

struct csph_calendar {
    unsigned weekend;  /* bit d: weekday d (0 Monday) is not a working day */
    int64_t *holidays; /* days since 1970-01-01, ascending (owned) */
    size_t nholidays;
};

/* Saturday and Sunday off, no bank holidays. */
void csph_calendar_init(struct csph_calendar *c);
/* Read a calendar file over c. On failure CSPH_ERR_CONFIG with
 * "file:line: what is wrong" (a date that does not exist or is listed
 * twice, an unknown day name, a week with no working day), or CSPH_ERR_IO. */
enum csph_err csph_calendar_load(struct csph_calendar *c, const char *path,
                                 struct csph_error *err);
/* The same from a calendar file's text (as the log keeps it). */
enum csph_err csph_calendar_load_text(struct csph_calendar *c, const char *name,
                                      const unsigned char *text, size_t len,
                                      struct csph_error *err);
void csph_calendar_free(struct csph_calendar *c);

int csph_calendar_is_working_day(const struct csph_calendar *c, int64_t day);
/* The date ms falls on plus n working days, same time of day (UTC). */
int64_t csph_calendar_add_working_days(const struct csph_calendar *c, int64_t ms, int n);

#endif
