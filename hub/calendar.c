/* calendar.c: working days (calendar.h). */
#include "calendar.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"
#include "yamlx.h"

static int64_t day_of(int64_t ms)
{
    return ms >= 0 ? ms / CSPH_MS_PER_DAY : -((-ms + CSPH_MS_PER_DAY - 1) / CSPH_MS_PER_DAY);
}

static enum hub_err nomem(struct hub_error *err)
{
    return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
}

void hub_calendar_init(struct hub_calendar *c)
{
    memset(c, 0, sizeof *c);
    c->weekend = (1u << 5) | (1u << 6);
}

void hub_calendar_free(struct hub_calendar *c)
{
    free(c->holidays);
    free(c->moved_from);
    hub_calendar_init(c);
}

static int weekday(int64_t day)
{
    return (int)(((day % 7) + 7 + 3) % 7); /* 1970-01-01 was a Thursday; 0 = Monday */
}

/* Anonymous Gregorian algorithm (Meeus/Jones/Butcher). */
int64_t hub_calendar_easter(int year)
{
    int a = year % 19, b = year / 100, c = year % 100, d = b / 4, e = b % 4;
    int f = (b + 8) / 25, g = (b - f + 1) / 3, h = (19 * a + b - d - g + 15) % 30;
    int i = c / 4, k = c % 4, l = (32 + 2 * e + 2 * i - h - k) % 7;
    int m = (a + 11 * h + 22 * l) / 451;
    int month = (h + l - 7 * m + 114) / 31, dom = (h + l - 7 * m + 114) % 31 + 1;
    return csph_days_from_civil(year, (unsigned)month, (unsigned)dom);
}

static int64_t first_monday(int year, unsigned month)
{
    int64_t d = csph_days_from_civil(year, month, 1);
    return d + (7 - weekday(d)) % 7;
}

static int64_t last_monday(int year, unsigned month)
{
    int64_t d = csph_days_from_civil(month == 12 ? year + 1 : year, month == 12 ? 1 : month + 1, 1) - 1;
    return d - weekday(d);
}

static int has_day(const int64_t *v, size_t n, int64_t day)
{
    for (size_t i = 0; i < n; i++)
        if (v[i] == day)
            return 1;
    return 0;
}

size_t hub_calendar_england_wales(int year, int64_t out[CSPH_CALENDAR_REGULAR_MAX])
{
    int64_t easter = hub_calendar_easter(year);
    size_t n = 0;
    out[n++] = easter - 2; /* Good Friday */
    out[n++] = easter + 1; /* Easter Monday */
    out[n++] = first_monday(year, 5);
    out[n++] = last_monday(year, 5);
    out[n++] = last_monday(year, 8);
    /* Fixed days on a weekend take the next weekday not already a holiday:
     * the days that fall on weekdays are placed first, so Christmas on a
     * Sunday gives Boxing Day on Monday and Christmas's substitute on
     * Tuesday (the Royal Proclamations' practice). */
    int64_t fixed[3] = {csph_days_from_civil(year, 1, 1), csph_days_from_civil(year, 12, 25),
                        csph_days_from_civil(year, 12, 26)};
    for (int i = 0; i < 3; i++)
        if (weekday(fixed[i]) < 5)
            out[n++] = fixed[i];
    for (int i = 0; i < 3; i++) {
        if (weekday(fixed[i]) < 5)
            continue;
        int64_t d = fixed[i] + 1;
        while (weekday(d) >= 5 || has_day(out, n, d))
            d++;
        out[n++] = d;
    }
    for (size_t i = 1; i < n; i++) /* insertion sort: eight days */
        for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
            int64_t t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static int in_sorted(const int64_t *v, size_t n, int64_t day)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == day;
}

static int is_regular(int64_t day)
{
    int y;
    unsigned m, d;
    csph_civil_from_days(day, &y, &m, &d);
    int64_t regular[CSPH_CALENDAR_REGULAR_MAX];
    size_t n = hub_calendar_england_wales(y, regular);
    /* Every substitute stays in its own year (Boxing Day's latest is 28
     * December, New Year's 3 January): the day's own year is enough. */
    return has_day(regular, n, day);
}

int hub_calendar_is_working_day(const struct hub_calendar *r, int64_t day)
{
    if (r->weekend & (1u << weekday(day)))
        return 0;
    if (in_sorted(r->holidays, r->nholidays, day))
        return 0;
    return !(r->regular && is_regular(day) && !in_sorted(r->moved_from, r->nmoved, day));
}

int64_t hub_calendar_add_working_days(const struct hub_calendar *r, int64_t ms, int n)
{
    int64_t day = day_of(ms), tod = ms - day * CSPH_MS_PER_DAY;
    /* The same test as hub_calendar_is_working_day, but a year's regular
     * holidays are worked out once for the days of that year walked over,
     * not once a day: every alert with a working-day deadline walks ten or
     * more days, and working out Easter for each was most of its cost. */
    int64_t year_lo = 1, year_hi = 0; /* days of the year in reg: none yet */
    int64_t reg[CSPH_CALENDAR_REGULAR_MAX];
    size_t nreg = 0;
    while (n > 0) {
        day++;
        if ((r->weekend & (1u << weekday(day))) || in_sorted(r->holidays, r->nholidays, day))
            continue;
        if (r->regular) {
            if (day < year_lo || day > year_hi) {
                int y;
                unsigned m, d;
                csph_civil_from_days(day, &y, &m, &d);
                nreg = hub_calendar_england_wales(y, reg);
                year_lo = csph_days_from_civil(y, 1, 1);
                year_hi = csph_days_from_civil(y + 1, 1, 1) - 1;
            }
            if (has_day(reg, nreg, day) && !in_sorted(r->moved_from, r->nmoved, day))
                continue;
        }
        n--;
    }
    return day * CSPH_MS_PER_DAY + tod;
}

static int parse_date(const char *s, int64_t *day)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || s[4] != '-' ||
        s[7] != '-' || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    *day = csph_days_from_civil(y, (unsigned)m, (unsigned)d);
    int y2;
    unsigned m2, d2;
    csph_civil_from_days(*day, &y2, &m2, &d2);
    return y2 == y && (int)m2 == m && (int)d2 == d ? 0 : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static enum hub_err calendar_read(struct hub_calendar *r, struct hub_yaml *y,
                                  struct hub_error *err);

enum hub_err hub_calendar_load(struct hub_calendar *r, const char *path, struct hub_error *err)
{
    struct hub_yaml y;
    enum hub_err rc = hub_yaml_load(&y, path, err);
    if (!rc)
        rc = calendar_read(r, &y, err);
    hub_yaml_free(&y);
    return rc;
}

enum hub_err hub_calendar_load_text(struct hub_calendar *r, const char *name,
                                    const unsigned char *text, size_t len,
                                    struct hub_error *err)
{
    struct hub_yaml y;
    enum hub_err rc = hub_yaml_load_text(&y, name, text, len, err);
    if (!rc)
        rc = calendar_read(r, &y, err);
    hub_yaml_free(&y);
    return rc;
}

/* The date scalar at node it, or a file:line failure. */
static enum hub_err read_date(struct hub_yaml *yp, yaml_node_t *it, int64_t *day,
                              struct hub_error *err)
{
    const char *s = hub_yaml_scalar(it);
    if (!s || parse_date(s, day))
        return hub_yaml_fail(yp, it, err, "'%s' is not a date written YYYY-MM-DD", s ? s : "?");
    return CSPH_ERR_OK;
}

/* `moved:` entries {from: DATE, to: DATE}: a regular holiday observed on
 * another day that year. */
static enum hub_err read_moved(struct hub_calendar *r, struct hub_yaml *yp, yaml_node_t *n,
                               struct hub_error *err)
{
    static const char *const keys[] = {"from", "to", NULL};
    enum hub_err rc;
    if (n->type != YAML_SEQUENCE_NODE)
        return hub_yaml_fail(yp, n, err, "moved must list days, one a line: "
                             "- {from: 2020-05-04, to: 2020-05-08}");
    if (!r->regular)
        return hub_yaml_fail(yp, n, err, "moved changes regular bank holidays: it needs "
                             "'regular: england-and-wales'");
    size_t len = hub_yaml_seq_len(n);
    int64_t *to = realloc(r->holidays, (r->nholidays + len + 1) * sizeof *to);
    if (!to)
        return nomem(err);
    r->holidays = to;
    if (!(r->moved_from = calloc(len ? len : 1, sizeof *r->moved_from)))
        return nomem(err);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *it = hub_yaml_seq_item(yp, n, i), *f, *t;
        int64_t from_day, to_day;
        if (it->type != YAML_MAPPING_NODE)
            return hub_yaml_fail(yp, it, err, "a moved day is {from: DATE, to: DATE}");
        if ((rc = hub_yaml_only_keys(yp, it, keys, "a moved day", err)))
            return rc;
        if (!(f = hub_yaml_get(yp, it, "from")) || !(t = hub_yaml_get(yp, it, "to")))
            return hub_yaml_fail(yp, it, err, "a moved day needs both from: and to:");
        if ((rc = read_date(yp, f, &from_day, err)) || (rc = read_date(yp, t, &to_day, err)))
            return rc;
        if (!is_regular(from_day))
            return hub_yaml_fail(yp, f, err, "%s is not a regular England and Wales bank "
                                 "holiday: list a one-off day under bank_holidays",
                                 hub_yaml_scalar(f));
        if (has_day(r->moved_from, r->nmoved, from_day))
            return hub_yaml_fail(yp, f, err, "%s is moved twice", hub_yaml_scalar(f));
        if ((is_regular(to_day) && !has_day(r->moved_from, r->nmoved, to_day)) ||
            has_day(r->holidays, r->nholidays, to_day))
            return hub_yaml_fail(yp, t, err, "%s is already a bank holiday",
                                 hub_yaml_scalar(t));
        r->moved_from[r->nmoved++] = from_day;
        r->holidays[r->nholidays++] = to_day;
    }
    qsort(r->moved_from, r->nmoved, sizeof *r->moved_from, cmp_i64);
    return CSPH_ERR_OK;
}

static enum hub_err calendar_read(struct hub_calendar *r, struct hub_yaml *yp,
                                  struct hub_error *err)
{
    static const char *const keys[] = {"weekend", "regular", "moved", "bank_holidays", NULL};
    static const char *const days[] = {"monday", "tuesday", "wednesday", "thursday",
                                       "friday", "saturday", "sunday"};
    enum hub_err rc = CSPH_ERR_OK;
    yaml_node_t *root = hub_yaml_root(yp), *n;
    hub_calendar_free(r); /* a file says everything: nothing of a previous one stays */
    if (!root) {
        rc = hub_yaml_fail(yp, root, err, "the calendar is empty: expected 'weekend:' and "
                           "'bank_holidays:'");
        goto done;
    }
    if ((rc = hub_yaml_only_keys(yp, root, keys, "the calendar", err)))
        goto done;
    if ((n = hub_yaml_get(yp, root, "weekend"))) {
        if (n->type != YAML_SEQUENCE_NODE) {
            rc = hub_yaml_fail(yp, n, err, "weekend must list day names, as in [saturday, sunday]");
            goto done;
        }
        r->weekend = 0;
        for (size_t i = 0; i < hub_yaml_seq_len(n); i++) {
            yaml_node_t *it = hub_yaml_seq_item(yp, n, i);
            const char *s = hub_yaml_scalar(it);
            int found = -1;
            for (int d = 0; s && d < 7; d++)
                if (!strcmp(s, days[d]))
                    found = d;
            if (found < 0) {
                rc = hub_yaml_fail(yp, it, err, "'%s' is not a day name (monday ... sunday)",
                                   s ? s : "?");
                goto done;
            }
            r->weekend |= 1u << found;
        }
        if (r->weekend == 0x7f) {
            rc = hub_yaml_fail(yp, n, err, "at least one day of the week must be a working day");
            goto done;
        }
    }
    if ((n = hub_yaml_get(yp, root, "regular"))) {
        const char *s = hub_yaml_scalar(n);
        if (s && !strcmp(s, "england-and-wales"))
            r->regular = 1;
        else if (s && !strcmp(s, "none"))
            r->regular = 0;
        else {
            rc = hub_yaml_fail(yp, n, err, "regular must be england-and-wales (bank holidays "
                               "computed for every year) or none (only those listed)");
            goto done;
        }
    }
    if ((n = hub_yaml_get(yp, root, "bank_holidays"))) {
        size_t len = hub_yaml_seq_len(n);
        if (n->type != YAML_SEQUENCE_NODE) {
            rc = hub_yaml_fail(yp, n, err, "bank_holidays must list dates, one a line: - 2025-12-25");
            goto done;
        }
        free(r->holidays);
        r->nholidays = 0;
        r->holidays = calloc(len ? len : 1, sizeof *r->holidays);
        if (!r->holidays) {
            rc = nomem(err);
            goto done;
        }
        for (size_t i = 0; i < len; i++) {
            yaml_node_t *it = hub_yaml_seq_item(yp, n, i);
            const char *s = hub_yaml_scalar(it);
            int64_t day;
            if ((rc = read_date(yp, it, &day, err)))
                goto done;
            if (has_day(r->holidays, r->nholidays, day)) {
                rc = hub_yaml_fail(yp, it, err, "%s is listed twice", s);
                goto done;
            }
            /* Listing a regular day again is harmless, and it is how a file
             * written before `regular:` reads: allowed. */
            r->holidays[r->nholidays++] = day;
        }
    }
    if ((n = hub_yaml_get(yp, root, "moved")) && (rc = read_moved(r, yp, n, err)))
        goto done;
    if (r->nholidays) /* qsort must not be given NULL, even for 0 items */
        qsort(r->holidays, r->nholidays, sizeof *r->holidays, cmp_i64);
done:
    return rc;
}
