#include "panelcfg.h"

#include <stdio.h>
#include <string.h>

#include "londontime.h"
#include "rules.h"
#include "timefmt.h"
#include "yamlx.h"

static const char *const weekdays[] = {"monday", "tuesday", "wednesday", "thursday",
                                       "friday", "saturday", "sunday"};

int hub_panelcfg_weekday(int64_t day)
{
    int64_t w = (day + 3) % 7; /* 1970-01-01 was a Thursday */
    return (int)(w < 0 ? w + 7 : w);
}

/* Outcome names are what reports group by and people type: short, plain. */
static int outcome_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > CSPH_OUTCOME_LEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_' || s[i] == '.'))
            return 0;
    return 1;
}

static enum hub_err parse_weekday(struct hub_yaml *y, yaml_node_t *n, const char *what, int *out,
                                  struct hub_error *err)
{
    const char *s = hub_yaml_scalar(n);
    for (int i = 0; s && i < 7; i++)
        if (strcmp(s, weekdays[i]) == 0) {
            *out = i;
            return CSPH_ERR_OK;
        }
    return hub_yaml_fail(y, n, err, "%s: '%s' is not a day of the week (monday .. sunday)", what,
                         s ? s : "?");
}

static enum hub_err parse_outcomes(struct hub_yaml *y, yaml_node_t *n, struct hub_panel_work *w,
                                   struct hub_error *err)
{
    size_t len = hub_yaml_seq_len(n);
    if (n->type != YAML_SEQUENCE_NODE || len == 0)
        return hub_yaml_fail(y, n, err, "outcomes: expected a list such as [risk-reduced, referred-on]");
    if (len > CSPH_OUTCOMES_MAX)
        return hub_yaml_fail(y, n, err, "outcomes: at most %d", CSPH_OUTCOMES_MAX);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *it = hub_yaml_seq_item(y, n, i);
        const char *s = hub_yaml_scalar(it);
        if (!s || !outcome_name_ok(s))
            return hub_yaml_fail(y, it, err,
                                 "outcomes: '%s' must be 1-%d lower-case letters, digits, '-', "
                                 "'_' or '.'",
                                 s ? s : "?", CSPH_OUTCOME_LEN);
        if (hub_panelcfg_outcome_ok(w, s, strlen(s)))
            return hub_yaml_fail(y, it, err, "outcomes: '%s' is listed twice", s);
        snprintf(w->outcomes[w->noutcomes++], CSPH_OUTCOME_LEN + 1, "%s", s);
    }
    return CSPH_ERR_OK;
}

static enum hub_err parse_reviews(struct hub_yaml *y, yaml_node_t *n, struct hub_panel_work *w,
                                  struct hub_error *err)
{
    static const char *const keys[] = {"standard", "medium", "high", NULL};
    enum hub_err rc;
    if (n->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, n, err, "reviews: expected days by risk level, such as "
                                        "{high: 14, medium: 28}");
    if ((rc = hub_yaml_only_keys(y, n, keys, "reviews (risk levels)", err)))
        return rc;
    for (int p = 0; p < 3; p++) {
        yaml_node_t *d = hub_yaml_get(y, n, keys[p]);
        int64_t days;
        if (!d)
            continue;
        char what[64];
        snprintf(what, sizeof what, "reviews.%s (days)", keys[p]);
        if ((rc = hub_yaml_int(y, d, what, 1, 366, &days, err)))
            return rc;
        w->review_days[p] = (int)days;
    }
    return CSPH_ERR_OK;
}

static enum hub_err parse_meetings(struct hub_yaml *y, yaml_node_t *n, struct hub_panel_work *w,
                                   struct hub_error *err)
{
    static const char *const kinds[] = {"weekly", "monthly", NULL};
    static const char *const monthly_keys[] = {"nth", "weekday", NULL};
    enum hub_err rc;
    const char *s = hub_yaml_scalar(n);
    if (s) {
        if (strcmp(s, "adhoc") == 0) {
            w->meeting = CSPH_MEETING_ADHOC;
            return CSPH_ERR_OK;
        }
        return hub_yaml_fail(y, n, err, "meetings: '%s' is not a calendar: use adhoc, "
                                        "{weekly: wednesday} or {monthly: {nth: 3, weekday: "
                                        "thursday}}", s);
    }
    if (n->type != YAML_MAPPING_NODE || hub_yaml_map_len(n) != 1)
        return hub_yaml_fail(y, n, err, "meetings: expected one of adhoc, {weekly: DAY} or "
                                        "{monthly: {nth: N, weekday: DAY}}");
    if ((rc = hub_yaml_only_keys(y, n, kinds, "meetings", err)))
        return rc;
    yaml_node_t *wk = hub_yaml_get(y, n, "weekly");
    if (wk) {
        w->meeting = CSPH_MEETING_WEEKLY;
        return parse_weekday(y, wk, "meetings.weekly", &w->weekday, err);
    }
    yaml_node_t *m = hub_yaml_get(y, n, "monthly");
    if (m->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, m, err, "meetings.monthly: expected {nth: N, weekday: DAY}");
    if ((rc = hub_yaml_only_keys(y, m, monthly_keys, "meetings.monthly", err)))
        return rc;
    yaml_node_t *nth = hub_yaml_get(y, m, "nth"), *wd = hub_yaml_get(y, m, "weekday");
    if (!nth || !wd)
        return hub_yaml_fail(y, m, err, "meetings.monthly: both nth (1-4, or last) and weekday "
                                        "are needed");
    const char *ns = hub_yaml_scalar(nth);
    if (ns && strcmp(ns, "last") == 0) {
        w->nth = -1;
    } else {
        int64_t v;
        if ((rc = hub_yaml_int(y, nth, "meetings.monthly.nth (1-4, or last)", 1, 4, &v, err)))
            return rc;
        w->nth = (int)v;
    }
    w->meeting = CSPH_MEETING_MONTHLY;
    return parse_weekday(y, wd, "meetings.monthly.weekday", &w->weekday, err);
}

static enum hub_err parse_lookback(struct hub_yaml *y, yaml_node_t *n, struct hub_panel_work *w,
                                   struct hub_error *err)
{
    static const char *const keys[] = {"types", "days", "ages", NULL};
    enum hub_err rc;
    if (n->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, n, err, "lookback: expected {types: [TYPE...], days: N}");
    if ((rc = hub_yaml_only_keys(y, n, keys, "lookback", err)))
        return rc;
    yaml_node_t *t = hub_yaml_get(y, n, "types"), *d = hub_yaml_get(y, n, "days");
    if (!t || !d)
        return hub_yaml_fail(y, n, err, "lookback: both types and days are needed");
    size_t len = hub_yaml_seq_len(t);
    if (t->type != YAML_SEQUENCE_NODE || len == 0 || len > CSPH_LOOKBACK_TYPES_MAX)
        return hub_yaml_fail(y, t, err, "lookback.types: expected a list of 1-%d event types",
                             CSPH_LOOKBACK_TYPES_MAX);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *it = hub_yaml_seq_item(y, t, i);
        const char *s = hub_yaml_scalar(it);
        if (!s || !*s || strlen(s) > 64)
            return hub_yaml_fail(y, it, err, "lookback.types: expected an event type");
        snprintf(w->lookback_types[w->nlookback++], 65, "%s", s);
    }
    int64_t days;
    if ((rc = hub_yaml_int(y, d, "lookback.days", 1, 366, &days, err)))
        return rc;
    w->lookback_days = (int)days;
    yaml_node_t *a = hub_yaml_get(y, n, "ages");
    if (a) {
        int64_t lo, hi;
        if (a->type != YAML_SEQUENCE_NODE || hub_yaml_seq_len(a) != 2)
            return hub_yaml_fail(y, a, err, "lookback.ages: expected [MIN, MAX] (ages 0-120)");
        if ((rc = hub_yaml_int(y, hub_yaml_seq_item(y, a, 0), "lookback.ages", 0, 120, &lo, err)) ||
            (rc = hub_yaml_int(y, hub_yaml_seq_item(y, a, 1), "lookback.ages", 0, 120, &hi, err)))
            return rc;
        if (lo > hi)
            return hub_yaml_fail(y, a, err, "lookback.ages: the youngest age %lld is above the "
                                 "oldest %lld", (long long)lo, (long long)hi);
        w->lookback_by_age = 1;
        w->lookback_age_min = (int)lo;
        w->lookback_age_max = (int)hi;
    }
    return CSPH_ERR_OK;
}

static enum hub_err parse_risk_scores(struct hub_yaml *y, yaml_node_t *n,
                                      struct hub_panel_work *w, struct hub_error *err)
{
    static const char *const levels[] = {"medium", "high", NULL};
    enum hub_err rc;
    size_t len = hub_yaml_map_len(n);
    if (n->type != YAML_MAPPING_NODE || len == 0)
        return hub_yaml_fail(y, n, err, "risk_scores: expected {TOOL: {medium: N, high: N}}, "
                                        "such as {dash: {medium: 10, high: 14}}");
    if (len > CSPH_RISK_TOOLS_MAX)
        return hub_yaml_fail(y, n, err, "risk_scores: at most %d tools", CSPH_RISK_TOOLS_MAX);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *k, *v;
        hub_yaml_map_pair(y, n, i, &k, &v);
        const char *tool = hub_yaml_scalar(k);
        if (!tool || !outcome_name_ok(tool))
            return hub_yaml_fail(y, k, err, "risk_scores: '%s' is not a tool's name (as in "
                                            "risk.assessment's tool)", tool ? tool : "?");
        if (v->type != YAML_MAPPING_NODE)
            return hub_yaml_fail(y, v, err, "risk_scores.%s: expected {medium: N, high: N}", tool);
        if ((rc = hub_yaml_only_keys(y, v, levels, "risk_scores (levels)", err)))
            return rc;
        snprintf(w->risk_scores[i].tool, sizeof w->risk_scores[i].tool, "%s", tool);
        int64_t t[2] = {-1, -1};
        for (int l = 0; l < 2; l++) {
            yaml_node_t *x = hub_yaml_get(y, v, levels[l]);
            char what[80];
            snprintf(what, sizeof what, "risk_scores.%s.%s", tool, levels[l]);
            if (x && (rc = hub_yaml_int(y, x, what, 0, 1000, &t[l], err)))
                return rc;
        }
        if (t[0] < 0 && t[1] < 0)
            return hub_yaml_fail(y, v, err, "risk_scores.%s: give medium, high or both", tool);
        if (t[0] >= 0 && t[1] >= 0 && t[1] <= t[0])
            return hub_yaml_fail(y, v, err, "risk_scores.%s: high (%lld) must be above medium "
                                            "(%lld)", tool, (long long)t[1], (long long)t[0]);
        w->risk_scores[i].medium = (int)t[0];
        w->risk_scores[i].high = (int)t[1];
        w->nrisk_scores++;
    }
    return CSPH_ERR_OK;
}

int hub_panelcfg_risk_of_score(const struct hub_panel_work *w, const char *tool, size_t len,
                               int64_t score)
{
    for (int i = 0; i < w->nrisk_scores; i++) {
        if (strlen(w->risk_scores[i].tool) != len || memcmp(w->risk_scores[i].tool, tool, len))
            continue;
        if (w->risk_scores[i].high >= 0 && score >= w->risk_scores[i].high)
            return 2;
        if (w->risk_scores[i].medium >= 0 && score >= w->risk_scores[i].medium)
            return 1;
        return 0;
    }
    return -1;
}

enum hub_err hub_panelcfg_parse(struct hub_yaml *y, yaml_node_t *v, struct hub_panel_work *w,
                                struct hub_error *err)
{
    enum hub_err rc = CSPH_ERR_OK;
    yaml_node_t *n;
    memset(w, 0, sizeof *w);
    if ((n = hub_yaml_get(y, v, "outcomes")) && (rc = parse_outcomes(y, n, w, err)))
        return rc;
    if ((n = hub_yaml_get(y, v, "reviews")) && (rc = parse_reviews(y, n, w, err)))
        return rc;
    if ((n = hub_yaml_get(y, v, "meetings")) && (rc = parse_meetings(y, n, w, err)))
        return rc;
    if ((n = hub_yaml_get(y, v, "lookback")) && (rc = parse_lookback(y, n, w, err)))
        return rc;
    if ((n = hub_yaml_get(y, v, "risk_scores")) && (rc = parse_risk_scores(y, n, w, err)))
        return rc;
    return CSPH_ERR_OK;
}

enum hub_err hub_panelcfg_agencies(struct hub_yaml *y, yaml_node_t *n, char (*out)[65], size_t max,
                                   size_t *count, struct hub_error *err)
{
    size_t len = hub_yaml_seq_len(n);
    *count = 0;
    if (n->type != YAML_SEQUENCE_NODE)
        return hub_yaml_fail(y, n, err, "agencies: expected a list of agency names");
    if (len > max)
        return hub_yaml_fail(y, n, err, "agencies: at most %zu", max);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *it = hub_yaml_seq_item(y, n, i);
        const char *s = hub_yaml_scalar(it);
        if (!s || !*s || strlen(s) > 64 || strchr(s, ' '))
            return hub_yaml_fail(y, it, err, "agencies: '%s' must be 1-64 characters without "
                                             "spaces", s ? s : "?");
        for (size_t j = 0; j < *count; j++)
            if (strcmp(out[j], s) == 0)
                return hub_yaml_fail(y, it, err, "agencies: '%s' is listed twice", s);
        snprintf(out[(*count)++], 65, "%s", s);
    }
    return CSPH_ERR_OK;
}

int hub_panelcfg_outcome_ok(const struct hub_panel_work *w, const char *name, size_t len)
{
    for (int i = 0; i < w->noutcomes; i++)
        if (strlen(w->outcomes[i]) == len && memcmp(w->outcomes[i], name, len) == 0)
            return 1;
    return 0;
}

void hub_panelcfg_outcomes_text(const struct hub_panel_work *w, char *buf, size_t n)
{
    size_t off = 0;
    buf[0] = 0;
    for (int i = 0; i < w->noutcomes && off < n; i++) {
        int k = snprintf(buf + off, n - off, "%s%s", i ? ", " : "", w->outcomes[i]);
        if (k < 0)
            break;
        off += (size_t)k;
    }
}

/* The meeting day of the month containing `day`. */
static int64_t monthly_in(const struct hub_panel_work *w, int64_t day)
{
    int y;
    unsigned m, d;
    csph_civil_from_days(day, &y, &m, &d);
    if (w->nth > 0) {
        int64_t first = csph_days_from_civil(y, m, 1);
        return first + (w->weekday - hub_panelcfg_weekday(first) + 7) % 7 + 7 * (w->nth - 1);
    }
    int64_t last = csph_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1) - 1;
    return last - (hub_panelcfg_weekday(last) - w->weekday + 7) % 7;
}

static int64_t next_month_day(int64_t day)
{
    int y;
    unsigned m, d;
    csph_civil_from_days(day, &y, &m, &d);
    return csph_days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, 1);
}

int64_t hub_panelcfg_next_meeting(const struct hub_panel_work *w, int64_t day)
{
    if (w->meeting == CSPH_MEETING_WEEKLY)
        return day + (w->weekday - hub_panelcfg_weekday(day) + 7) % 7;
    if (w->meeting != CSPH_MEETING_MONTHLY)
        return -1;
    int64_t m = monthly_in(w, day);
    return m >= day ? m : monthly_in(w, next_month_day(day));
}

int64_t hub_panelcfg_prev_meeting(const struct hub_panel_work *w, int64_t day)
{
    if (w->meeting == CSPH_MEETING_WEEKLY) {
        int64_t d = day - 1;
        return d - (hub_panelcfg_weekday(d) - w->weekday + 7) % 7;
    }
    if (w->meeting != CSPH_MEETING_MONTHLY)
        return -1;
    int64_t m = monthly_in(w, day - 1);
    if (m < day)
        return m;
    int y;
    unsigned mo, d;
    csph_civil_from_days(day - 1, &y, &mo, &d);
    return monthly_in(w, csph_days_from_civil(y, mo, 1) - 1);
}

int64_t hub_panelcfg_london_day(int64_t utc_ms)
{
    int64_t local = utc_ms + csph_london_offset_ms(utc_ms);
    int64_t d = local / CSPH_MS_PER_DAY;
    return local < 0 && local % CSPH_MS_PER_DAY ? d - 1 : d;
}

int hub_panelcfg_day_format(int64_t day, char *buf)
{
    int y;
    unsigned m, d;
    csph_civil_from_days(day, &y, &m, &d);
    return snprintf(buf, 11, "%04d-%02u-%02u", y, m, d);
}

int hub_panelcfg_day_parse(const char *s, size_t len, int64_t *day)
{
    int y;
    unsigned m, d;
    char buf[11], back[11];
    if (len != 10)
        return -1;
    memcpy(buf, s, 10);
    buf[10] = 0;
    if (sscanf(buf, "%4d-%2u-%2u", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    *day = csph_days_from_civil(y, m, d);
    /* 2025-02-30 is not a date: it must come back as itself. */
    hub_panelcfg_day_format(*day, back);
    return strcmp(back, buf) == 0 ? 0 : -1;
}
