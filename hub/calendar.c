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
    hub_calendar_init(c);
}

int hub_calendar_is_working_day(const struct hub_calendar *r, int64_t day)
{
    int wd = (int)(((day % 7) + 7 + 3) % 7); /* 1970-01-01 was a Thursday; 0 = Monday */
    if (r->weekend & (1u << wd))
        return 0;
    size_t lo = 0, hi = r->nholidays;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->holidays[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return !(lo < r->nholidays && r->holidays[lo] == day);
}

int64_t hub_calendar_add_working_days(const struct hub_calendar *r, int64_t ms, int n)
{
    int64_t day = day_of(ms), tod = ms - day * CSPH_MS_PER_DAY;
    while (n > 0) {
        day++;
        if (hub_calendar_is_working_day(r, day))
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

static enum hub_err calendar_read(struct hub_calendar *r, struct hub_yaml *yp,
                                  struct hub_error *err)
{
    static const char *const keys[] = {"weekend", "bank_holidays", NULL};
    static const char *const days[] = {"monday", "tuesday", "wednesday", "thursday",
                                       "friday", "saturday", "sunday"};
    enum hub_err rc = CSPH_ERR_OK;
    yaml_node_t *root = hub_yaml_root(yp), *n;
    r->weekend = (1u << 5) | (1u << 6);
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
            if (!s || parse_date(s, &day)) {
                rc = hub_yaml_fail(yp, it, err, "'%s' is not a date written YYYY-MM-DD",
                                   s ? s : "?");
                goto done;
            }
            for (size_t j = 0; j < r->nholidays; j++)
                if (r->holidays[j] == day) {
                    rc = hub_yaml_fail(yp, it, err, "%s is listed twice", s);
                    goto done;
                }
            r->holidays[r->nholidays++] = day;
        }
        qsort(r->holidays, r->nholidays, sizeof *r->holidays, cmp_i64);
    }
done:    return rc;
}
