/* timefmt.h: RFC 3339 timestamps <-> milliseconds since the Unix epoch (UTC).
 * Pure functions; no locale, no time zone database. */
#ifndef CSPH_TIMEFMT_H
#define CSPH_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Parse an RFC 3339 date-time with a mandatory offset ("Z" or "+01:00"),
 * e.g. "2025-03-01T21:14:00Z" or "2025-03-01t21:14:00.5+01:00". Fractions
 * beyond milliseconds are truncated. Returns 0 and sets *ms, or -1 with a
 * static reason in *why (may be NULL). s need not be NUL-terminated. */
int csph_time_parse(const char *s, size_t len, int64_t *ms, const char **why);

/* Format ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into buf (at least 32 bytes).
 * Returns the length written. */
int csph_time_format(int64_t ms, char *buf);

/* Format as a readable date "3 Apr 2025" into buf (at least 16 bytes). */
int csph_time_format_date(int64_t ms, char *buf);

/* Days since 1970-01-01 for a civil date, and back (proleptic Gregorian). */
int64_t csph_days_from_civil(int y, unsigned m, unsigned d);
void csph_civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d);

/* A duration with its unit, as every program's --timeout takes it: "500ms",
 * "30s", "2m", "1.5s". The unit is required (a bare number is refused: the
 * command's used to mean milliseconds and the adapters' seconds). 0 and
 * *ms, or -1 with a static reason in *why (may be NULL). */
int csph_duration_parse(const char *s, int64_t min_ms, int64_t max_ms, int64_t *ms,
                        const char **why);

#define CSPH_MS_PER_DAY 86400000LL

#endif
