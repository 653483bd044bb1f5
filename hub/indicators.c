#include "indicators.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "queues.h"
#include "reportcase.h"
#include "rules.h"
#include "schema.h"
#include "yamlx.h"

static const char *const measure_names[] = {
#define CSPH_IND_STR(name, str) str,
    CSPH_IND_MEASURE_MAP(CSPH_IND_STR)
#undef CSPH_IND_STR
};

const char *hub_ind_measure_name(enum hub_ind_measure m)
{
    return (unsigned)m < CSPH_IND__COUNT ? measure_names[m] : "?";
}

const char *hub_ind_unit_name(enum hub_ind_unit u)
{
    return u == CSPH_UNIT_PERCENT ? "percent" : u == CSPH_UNIT_DAYS ? "days" : "count";
}

/* FNV-1a 64: names the files a report was computed from (not a security
 * measure: the log's chain link is). */
static void digest_add(uint64_t *h, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    int c;
    while ((c = fgetc(f)) != EOF) {
        *h ^= (unsigned char)c;
        *h *= 1099511628211ULL;
    }
    fclose(f);
}

static enum hub_err read_number(struct hub_yaml *y, yaml_node_t *n, const char *what, double *out,
                                struct hub_error *err)
{
    const char *s = hub_yaml_scalar(n);
    char *end;
    if (!s || !*s)
        return hub_yaml_fail(y, n, err, "%s must be a number", what);
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return hub_yaml_fail(y, n, err, "%s must be a number, not '%s'", what, s);
    *out = v;
    return CSPH_ERR_OK;
}

static enum hub_err copy_str(struct hub_yaml *y, yaml_node_t *n, const char *what, char *dst,
                             size_t cap, struct hub_error *err)
{
    const char *s;
    enum hub_err rc = hub_yaml_str(y, n, what, &s, err);
    if (rc)
        return rc;
    if (!*s || strlen(s) >= cap)
        return hub_yaml_fail(y, n, err, "%s must be 1-%zu characters", what, cap - 1);
    memcpy(dst, s, strlen(s) + 1);
    return CSPH_ERR_OK;
}

/* where: {field: value | [values] | {min, max}} */
static enum hub_err read_tests(struct hub_yaml *y, yaml_node_t *w, struct hub_ind_type *T,
                               const struct hub_schemas *schemas, struct hub_error *err)
{
    if (w->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, w, err, "where must be a mapping of field: value, as in "
                             "{category: asb}");
    enum hub_err rc;
    for (size_t i = 0; i < hub_yaml_map_len(w); i++) {
        yaml_node_t *k, *v;
        hub_yaml_map_pair(y, w, i, &k, &v);
        if (T->ntests == CSPH_IND_MAX_TESTS)
            return hub_yaml_fail(y, k, err, "at most %d tests in one where", CSPH_IND_MAX_TESTS);
        struct hub_ind_test *t = &T->tests[T->ntests++];
        if ((rc = copy_str(y, k, "a where field", t->field, sizeof t->field, err)))
            return rc;
        if (schemas && !hub_schema_has_field(schemas, T->type, t->field))
            return hub_yaml_fail(y, k, err, "events of type '%s' have no field '%s'", T->type,
                                 t->field);
        if (v->type == YAML_MAPPING_NODE) {
            static const char *const rkeys[] = {"min", "max", NULL};
            if ((rc = hub_yaml_only_keys(y, v, rkeys, "a range", err)))
                return rc;
            yaml_node_t *mn = hub_yaml_get(y, v, "min"), *mx = hub_yaml_get(y, v, "max");
            t->range = 1;
            t->min = INT64_MIN;
            t->max = INT64_MAX;
            if (!mn && !mx)
                return hub_yaml_fail(y, v, err, "a range needs min or max");
            if ((mn && (rc = hub_yaml_int(y, mn, "min", INT64_MIN, INT64_MAX, &t->min, err))) ||
                (mx && (rc = hub_yaml_int(y, mx, "max", INT64_MIN, INT64_MAX, &t->max, err))))
                return rc;
            if (t->min > t->max)
                return hub_yaml_fail(y, v, err, "min %lld is above max %lld", (long long)t->min,
                                     (long long)t->max);
        } else if (v->type == YAML_SEQUENCE_NODE) {
            if (!hub_yaml_seq_len(v) || hub_yaml_seq_len(v) > CSPH_IND_MAX_VALUES)
                return hub_yaml_fail(y, v, err, "a list of values has 1-%d items",
                                     CSPH_IND_MAX_VALUES);
            for (size_t j = 0; j < hub_yaml_seq_len(v); j++)
                if ((rc = copy_str(y, hub_yaml_seq_item(y, v, j), "a value", t->values[j],
                                   sizeof t->values[j], err)))
                    return rc;
            t->nvalues = hub_yaml_seq_len(v);
        } else {
            if ((rc = copy_str(y, v, "a value", t->values[0], sizeof t->values[0], err)))
                return rc;
            t->nvalues = 1;
        }
    }
    return CSPH_ERR_OK;
}

/* count: [{type, person?, where?}] */
static enum hub_err read_count(struct hub_yaml *y, yaml_node_t *c, struct hub_indicator *I,
                               const struct hub_schemas *schemas, struct hub_error *err)
{
    static const char *const keys[] = {"type", "person", "where", NULL};
    enum hub_err rc;
    if (c->type != YAML_SEQUENCE_NODE || !hub_yaml_seq_len(c) ||
        hub_yaml_seq_len(c) > CSPH_IND_MAX_TYPES)
        return hub_yaml_fail(y, c, err, "count must be a list of 1-%d {type, person?, where?}",
                             CSPH_IND_MAX_TYPES);
    for (size_t i = 0; i < hub_yaml_seq_len(c); i++) {
        yaml_node_t *it = hub_yaml_seq_item(y, c, i), *n;
        struct hub_ind_type *T = &I->types[I->ntypes++];
        if ((rc = hub_yaml_only_keys(y, it, keys, "a count item", err)))
            return rc;
        if (!(n = hub_yaml_get(y, it, "type")))
            return hub_yaml_fail(y, it, err, "a count item needs a type");
        if ((rc = copy_str(y, n, "type", T->type, sizeof T->type, err)))
            return rc;
        if (schemas && hub_schemas_find(schemas, T->type, strlen(T->type)) < 0)
            return hub_yaml_fail(y, n, err, "no event type '%s' (see schemas/)", T->type);
        if ((n = hub_yaml_get(y, it, "person"))) {
            if ((rc = copy_str(y, n, "person", T->person, sizeof T->person, err)))
                return rc;
            if (schemas && !hub_schema_has_field(schemas, T->type, T->person))
                return hub_yaml_fail(y, n, err, "events of type '%s' have no field '%s'",
                                     T->type, T->person);
        } else if (I->measure == CSPH_IND_PEOPLE) {
            return hub_yaml_fail(y, it, err, "a people indicator's count item needs person "
                                 "(the field naming the person, e.g. caller)");
        }
        if ((n = hub_yaml_get(y, it, "where")) && (rc = read_tests(y, n, T, schemas, err)))
            return rc;
    }
    return CSPH_ERR_OK;
}

static int rule_known(const struct hub_rules *rules, const char *name)
{
    for (size_t i = 0; i < hub_rules_count(rules); i++)
        if (!strcmp(hub_rules_name(rules, i), name))
            return 1;
    return 0;
}

/* case_exits' outcomes: each one a panel's (the indicator's panel, or any
 * panel's when it names none). */
static enum hub_err read_outcomes(struct hub_yaml *y, yaml_node_t *it, struct hub_indicator *I,
                                  const struct hub_config *cfg, struct hub_error *err)
{
    yaml_node_t *n = hub_yaml_get(y, it, "outcomes");
    if (!n)
        return CSPH_ERR_OK;
    if (I->measure != CSPH_IND_CASE_EXITS)
        return hub_yaml_fail(y, n, err, "outcomes is for the case_exits measure");
    if (n->type != YAML_SEQUENCE_NODE || !hub_yaml_seq_len(n) ||
        hub_yaml_seq_len(n) > CSPH_IND_MAX_VALUES)
        return hub_yaml_fail(y, n, err, "outcomes must be a list of 1-%d outcomes",
                             CSPH_IND_MAX_VALUES);
    for (size_t i = 0; i < hub_yaml_seq_len(n); i++) {
        yaml_node_t *o = hub_yaml_seq_item(y, n, i);
        enum hub_err rc = copy_str(y, o, "an outcome", I->outcomes[i], sizeof I->outcomes[i], err);
        if (rc)
            return rc;
        int known = 0;
        for (size_t k = 0; k < cfg->npanels && !known; k++)
            if ((I->panel < 0 || (size_t)I->panel == k) &&
                hub_panelcfg_outcome_ok(&cfg->panels[k].work, I->outcomes[i],
                                        strlen(I->outcomes[i])))
                known = 1;
        if (!known && !I->left_out) {
            if (cfg->indicators_shipped && I->panel < 0) {
                LOG_WARN("report", "%s:%d: indicator '%s' left out: no panel has the outcome '%s'",
                         y->path, hub_yaml_line(o), I->name, I->outcomes[i]);
                I->left_out = 1;
            } else {
                return hub_yaml_fail(y, o, err, "no outcome '%s' in %s%s's outcomes (the panels "
                                     "file)", I->outcomes[i], I->panel < 0 ? "any panel" : "panel ",
                                     I->panel < 0 ? "" : cfg->panels[I->panel].name);
            }
        }
    }
    I->noutcomes = hub_yaml_seq_len(n);
    return CSPH_ERR_OK;
}

static enum hub_err read_indicator(struct hub_yaml *y, yaml_node_t *it, struct hub_indicators *out,
                                   const struct hub_config *cfg,
                                   const struct hub_schemas *schemas,
                                   const struct hub_rules *rules, yaml_node_t **ratio_num,
                                   yaml_node_t **ratio_den, struct hub_error *err)
{
    static const char *const keys[] = {"name", "title", "measure", "count", "panel", "rules",
                                       "status", "at_least", "within_days", "numerator",
                                       "denominator", "good", "baseline", "target", "band",
                                       "amber", "outcomes", NULL};
    struct hub_indicator *I = &out->v[out->n];
    memset(I, 0, sizeof *I);
    I->panel = -1;
    I->num = I->den = -1;
    I->line = hub_yaml_line(it);
    enum hub_err rc;
    yaml_node_t *n;
    if ((rc = hub_yaml_only_keys(y, it, keys, "an indicator", err)))
        return rc;
    if (!(n = hub_yaml_get(y, it, "name")))
        return hub_yaml_fail(y, it, err, "an indicator needs a name");
    if ((rc = copy_str(y, n, "name", I->name, sizeof I->name, err)))
        return rc;
    for (const char *p = I->name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
              *p == '-'))
            return hub_yaml_fail(y, n, err, "an indicator's name is lower-case letters, digits, "
                                 "'.', '_' and '-' ('%s')", I->name);
    if (hub_indicators_find(out, I->name, strlen(I->name)) >= 0)
        return hub_yaml_fail(y, n, err, "indicator '%s' is defined twice", I->name);
    if ((n = hub_yaml_get(y, it, "title"))) {
        if ((rc = copy_str(y, n, "title", I->title, sizeof I->title, err)))
            return rc;
    } else {
        snprintf(I->title, sizeof I->title, "%s", I->name);
    }
    if (!(n = hub_yaml_get(y, it, "measure")))
        return hub_yaml_fail(y, it, err, "indicator '%s' needs a measure: events, alerts, "
                             "alert_keys, decisions, people, ratio, decided_in_time, "
                             "days_to_decision, case_entries, case_exits, actions_on_time or "
                             "reviews_on_time", I->name);
    int m = -1;
    for (int i = 0; hub_yaml_scalar(n) && i < CSPH_IND__COUNT; i++)
        if (!strcmp(hub_yaml_scalar(n), measure_names[i]))
            m = i;
    if (m < 0)
        return hub_yaml_fail(y, n, err, "unknown measure '%s': events, alerts, alert_keys, "
                             "decisions, people, ratio, decided_in_time, days_to_decision, "
                             "case_entries, case_exits, actions_on_time or reviews_on_time",
                             hub_yaml_scalar(n) ? hub_yaml_scalar(n) : "");
    I->measure = (enum hub_ind_measure)m;
    I->unit = m == CSPH_IND_RATIO || m == CSPH_IND_IN_TIME || m == CSPH_IND_ACTIONS_ON_TIME ||
                      m == CSPH_IND_REVIEWS_ON_TIME
                  ? CSPH_UNIT_PERCENT
              : m == CSPH_IND_DAYS                         ? CSPH_UNIT_DAYS
                                                           : CSPH_UNIT_COUNT;
    int wants_count = m == CSPH_IND_EVENTS || m == CSPH_IND_PEOPLE;
    int wants_panel = m == CSPH_IND_ALERTS || m == CSPH_IND_ALERT_KEYS || m == CSPH_IND_DECISIONS ||
                      m == CSPH_IND_IN_TIME || m == CSPH_IND_DAYS;
    n = hub_yaml_get(y, it, "count");
    if (wants_count && !n)
        return hub_yaml_fail(y, it, err, "indicator '%s' (%s) needs count: [{type: ...}]",
                             I->name, measure_names[m]);
    if (!wants_count && n)
        return hub_yaml_fail(y, n, err, "count is for the events and people measures");
    if (n && (rc = read_count(y, n, I, schemas, err)))
        return rc;
    yaml_node_t *p = hub_yaml_get(y, it, "panel"), *r = hub_yaml_get(y, it, "rules");
    /* The case measures (reportcase.h): a panel, or every panel. */
    int case_measure = hub_rcase_measure(I->measure);
    if (case_measure && r)
        return hub_yaml_fail(y, r, err, "rules are for the alert measures (%s counts a panel's "
                             "cases: panel, or none for every panel)", measure_names[m]);
    if (!wants_panel && !case_measure && (p || r))
        return hub_yaml_fail(y, p ? p : r, err, "panel and rules are for the alert measures");
    if (wants_panel && !p && !r)
        return hub_yaml_fail(y, it, err, "indicator '%s' (%s) needs a panel or rules", I->name,
                             measure_names[m]);
    if (p) {
        const char *s = hub_yaml_scalar(p);
        if (s && (I->panel = hub_config_panel_find(cfg, s, strlen(s))) < 0 &&
            cfg->indicators_shipped) {
            LOG_WARN("report", "%s:%d: indicator '%s' left out: this hub has no panel '%s'",
                     y->path, hub_yaml_line(p), I->name, s);
            I->left_out = 1;
        } else if (!s || I->panel < 0) {
            return hub_yaml_fail(y, p, err, "no panel '%s' in the panels file",
                                 s ? s : "");
        }
    }
    if (r) {
        if (r->type != YAML_SEQUENCE_NODE || !hub_yaml_seq_len(r) ||
            hub_yaml_seq_len(r) > CSPH_IND_MAX_RULES)
            return hub_yaml_fail(y, r, err, "rules must be a list of 1-%d rule names",
                                 CSPH_IND_MAX_RULES);
        for (size_t i = 0; i < hub_yaml_seq_len(r); i++) {
            yaml_node_t *rn = hub_yaml_seq_item(y, r, i);
            if ((rc = copy_str(y, rn, "a rule name", I->rules[i], sizeof I->rules[i], err)))
                return rc;
            if (!rules || rule_known(rules, I->rules[i]))
                continue;
            if (!cfg->indicators_shipped)
                return hub_yaml_fail(y, rn, err, "no rule '%s' in the rules file",
                                     I->rules[i]);
            LOG_WARN("report", "%s:%d: indicator '%s' left out: this hub has no rule '%s'",
                     y->path, hub_yaml_line(rn), I->name, I->rules[i]);
            I->left_out = 1;
        }
        I->nrules = hub_yaml_seq_len(r);
    }
    if ((rc = read_outcomes(y, it, I, cfg, err)))
        return rc;
    n = hub_yaml_get(y, it, "status");
    if (n && m != CSPH_IND_DECISIONS)
        return hub_yaml_fail(y, n, err, "status is for the decisions measure");
    if (m == CSPH_IND_DECISIONS) {
        if (!n || n->type != YAML_SEQUENCE_NODE || !hub_yaml_seq_len(n))
            return hub_yaml_fail(y, n ? n : it, err, "a decisions indicator needs status: a list "
                                 "of accepted, declined, closed, acknowledged");
        for (size_t i = 0; i < hub_yaml_seq_len(n); i++) {
            yaml_node_t *s = hub_yaml_seq_item(y, n, i);
            const char *t = hub_yaml_scalar(s);
            int st = t ? hub_alert_status_parse(t, strlen(t)) : -1;
            if (st <= 0)
                return hub_yaml_fail(y, s, err, "unknown decision '%s': accepted, declined, "
                                     "closed or acknowledged", t ? t : "");
            I->statuses |= 1u << st;
        }
    }
    yaml_node_t *al = hub_yaml_get(y, it, "at_least"), *wd = hub_yaml_get(y, it, "within_days");
    if (m == CSPH_IND_PEOPLE) {
        if (!al || !wd)
            return hub_yaml_fail(y, it, err, "a people indicator needs at_least and within_days");
        if ((rc = hub_yaml_int(y, al, "at_least", 1, 100000, &I->at_least, err)) ||
            (rc = hub_yaml_int(y, wd, "within_days", 1, 3660, &I->within_days, err)))
            return rc;
    } else if (al || wd) {
        return hub_yaml_fail(y, al ? al : wd, err, "at_least and within_days are for the people "
                             "measure");
    }
    yaml_node_t *nu = hub_yaml_get(y, it, "numerator"), *de = hub_yaml_get(y, it, "denominator");
    if (m == CSPH_IND_RATIO) {
        if (!nu || !de)
            return hub_yaml_fail(y, it, err, "a ratio needs numerator and denominator (names of "
                                 "count indicators)");
        ratio_num[out->n] = nu;
        ratio_den[out->n] = de;
    } else if (nu || de) {
        return hub_yaml_fail(y, nu ? nu : de, err, "numerator and denominator are for a ratio");
    }
    if ((n = hub_yaml_get(y, it, "good"))) {
        const char *s = hub_yaml_scalar(n);
        if (s && !strcmp(s, "up"))
            I->good = 1;
        else if (s && !strcmp(s, "down"))
            I->good = -1;
        else if (!s || strcmp(s, "neither"))
            return hub_yaml_fail(y, n, err, "good must be up, down or neither");
    }
    if ((n = hub_yaml_get(y, it, "baseline"))) {
        if ((rc = read_number(y, n, "baseline", &I->baseline, err)))
            return rc;
        I->has_baseline = 1;
    }
    yaml_node_t *t = hub_yaml_get(y, it, "target"), *b = hub_yaml_get(y, it, "band");
    if (t && b)
        return hub_yaml_fail(y, b, err, "give a target or a band, not both");
    if (t) {
        if ((rc = read_number(y, t, "target", &I->target, err)))
            return rc;
        if (!I->good)
            return hub_yaml_fail(y, t, err, "a target needs good: up or down (which side of it "
                                 "is met)");
        I->has_target = 1;
    }
    if (b) {
        if (b->type != YAML_SEQUENCE_NODE || hub_yaml_seq_len(b) != 2)
            return hub_yaml_fail(y, b, err, "band must be [low, high], as in [24, 40]");
        if ((rc = read_number(y, hub_yaml_seq_item(y, b, 0), "band low", &I->band_lo, err)) ||
            (rc = read_number(y, hub_yaml_seq_item(y, b, 1), "band high", &I->band_hi, err)))
            return rc;
        if (I->band_lo > I->band_hi)
            return hub_yaml_fail(y, b, err, "band low %g is above band high %g", I->band_lo,
                                 I->band_hi);
        I->has_band = 1;
    }
    if ((n = hub_yaml_get(y, it, "amber"))) {
        if (!t && !b)
            return hub_yaml_fail(y, n, err, "amber is a margin around a target or band");
        if ((rc = read_number(y, n, "amber", &I->amber, err)))
            return rc;
        if (I->amber < 0)
            return hub_yaml_fail(y, n, err, "amber must not be negative");
    }
    out->n++;
    return CSPH_ERR_OK;
}

static enum hub_err load_areas(struct hub_indicators *out, const char *path,
                               struct hub_error *err)
{
    struct hub_yaml y;
    enum hub_err rc = hub_yaml_load(&y, path, err);
    if (rc)
        return rc;
    static const char *const top[] = {"areas", NULL};
    static const char *const keys[] = {"name", "title", "lsoa", "wards", NULL};
    yaml_node_t *root = hub_yaml_root(&y), *a;
    if (!root || (rc = hub_yaml_only_keys(&y, root, top, "the areas file", err)))
        goto done;
    if (!(a = hub_yaml_get(&y, root, "areas")) || a->type != YAML_SEQUENCE_NODE) {
        rc = hub_yaml_fail(&y, root, err, "areas must be a list of {name, title?, lsoa?, "
                           "wards?}");
        goto done;
    }
    out->areas = calloc(hub_yaml_seq_len(a) + 1, sizeof *out->areas);
    if (!out->areas) {
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory reading %s", path);
        goto done;
    }
    for (size_t i = 0; i < hub_yaml_seq_len(a); i++) {
        yaml_node_t *it = hub_yaml_seq_item(&y, a, i), *n;
        struct hub_area *A = &out->areas[out->nareas];
        if ((rc = hub_yaml_only_keys(&y, it, keys, "an area", err)))
            goto done;
        if (!(n = hub_yaml_get(&y, it, "name"))) {
            rc = hub_yaml_fail(&y, it, err, "an area needs a name");
            goto done;
        }
        if ((rc = copy_str(&y, n, "name", A->name, sizeof A->name, err)))
            goto done;
        if (hub_areas_find(out, A->name, strlen(A->name)) >= 0) {
            rc = hub_yaml_fail(&y, n, err, "area '%s' is defined twice", A->name);
            goto done;
        }
        out->nareas++; /* from here on freed with the rest */
        if ((n = hub_yaml_get(&y, it, "title"))) {
            if ((rc = copy_str(&y, n, "title", A->title, sizeof A->title, err)))
                goto done;
        } else {
            snprintf(A->title, sizeof A->title, "%s", A->name);
        }
        yaml_node_t *l = hub_yaml_get(&y, it, "lsoa"), *w = hub_yaml_get(&y, it, "wards");
        if ((l && l->type != YAML_SEQUENCE_NODE) || (w && w->type != YAML_SEQUENCE_NODE) ||
            (!hub_yaml_seq_len(l) && !hub_yaml_seq_len(w))) {
            rc = hub_yaml_fail(&y, it, err, "area '%s' needs lsoa: [codes] and/or wards: [names]",
                               A->name);
            goto done;
        }
        A->lsoa = calloc(hub_yaml_seq_len(l) + 1, sizeof *A->lsoa);
        A->wards = calloc(hub_yaml_seq_len(w) + 1, sizeof *A->wards);
        if (!A->lsoa || !A->wards) {
            rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory reading %s", path);
            goto done;
        }
        for (size_t j = 0; l && j < hub_yaml_seq_len(l); j++) {
            yaml_node_t *c = hub_yaml_seq_item(&y, l, j);
            const char *s = hub_yaml_scalar(c);
            /* An ONS LSOA code: E01 (England) or W01 (Wales) and six digits. */
            if (!s || strlen(s) != 9 || (s[0] != 'E' && s[0] != 'W') || strncmp(s + 1, "01", 2) ||
                strspn(s + 3, "0123456789") != 6) {
                rc = hub_yaml_fail(&y, c, err, "'%s' is not an LSOA code (E01 or W01 and six "
                                   "digits, e.g. E01000916)", s ? s : "");
                goto done;
            }
            memcpy(A->lsoa[A->nlsoa++], s, 10);
        }
        for (size_t j = 0; w && j < hub_yaml_seq_len(w); j++)
            if ((rc = copy_str(&y, hub_yaml_seq_item(&y, w, j), "a ward name",
                               A->wards[A->nwards++], sizeof A->wards[0], err)))
                goto done;
    }
done:
    hub_yaml_free(&y);
    return rc;
}

enum hub_err hub_indicators_load(struct hub_indicators *out, const char *path,
                                 const char *areas_path, const struct hub_config *cfg,
                                 const struct hub_schemas *schemas,
                                 const struct hub_rules *rules, struct hub_error *err)
{
    memset(out, 0, sizeof *out);
    out->suppress_below = 5;
    struct hub_yaml y;
    yaml_node_t **num = NULL, **den = NULL;
    enum hub_err rc = hub_yaml_load(&y, path, err);
    if (rc)
        return rc;
    static const char *const top[] = {"suppress_below", "indicators", NULL};
    yaml_node_t *root = hub_yaml_root(&y), *n, *list;
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = hub_yaml_fail(&y, root, err, "the indicator file must be a mapping with indicators: "
                           "[...]");
        goto done;
    }
    if ((rc = hub_yaml_only_keys(&y, root, top, "the indicator file", err)))
        goto done;
    if ((n = hub_yaml_get(&y, root, "suppress_below")) &&
        (rc = hub_yaml_int(&y, n, "suppress_below", 1, 1000, &out->suppress_below, err)))
        goto done;
    if (!(list = hub_yaml_get(&y, root, "indicators")) || list->type != YAML_SEQUENCE_NODE ||
        !hub_yaml_seq_len(list)) {
        rc = hub_yaml_fail(&y, list ? list : root, err, "indicators must be a list of at least "
                           "one indicator");
        goto done;
    }
    size_t total = hub_yaml_seq_len(list);
    out->v = calloc(total, sizeof *out->v);
    num = calloc(total, sizeof *num);
    den = calloc(total, sizeof *den);
    if (!out->v || !num || !den) {
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory reading %s", path);
        goto done;
    }
    for (size_t i = 0; i < total; i++)
        if ((rc = read_indicator(&y, hub_yaml_seq_item(&y, list, i), out, cfg, schemas, rules,
                                 num, den, err)))
            goto done;
    /* Ratios name count indicators that may come later in the file. */
    for (size_t i = 0; i < out->n; i++) {
        if (out->v[i].measure != CSPH_IND_RATIO)
            continue;
        yaml_node_t *side[2] = {num[i], den[i]};
        int *idx[2] = {&out->v[i].num, &out->v[i].den};
        for (int j = 0; j < 2; j++) {
            const char *s = hub_yaml_scalar(side[j]);
            int k = s ? hub_indicators_find(out, s, strlen(s)) : -1;
            if (k < 0) {
                rc = hub_yaml_fail(&y, side[j], err, "no indicator '%s' in this file",
                                   s ? s : "");
                goto done;
            }
            if (out->v[k].unit != CSPH_UNIT_COUNT) {
                rc = hub_yaml_fail(&y, side[j], err, "a ratio's %s must be a count, and '%s' is "
                                   "a %s", j ? "denominator" : "numerator", s,
                                   hub_ind_unit_name(out->v[k].unit));
                goto done;
            }
            *idx[j] = k;
        }
        if (out->v[out->v[i].num].left_out || out->v[out->v[i].den].left_out) {
            LOG_WARN("report", "%s:%d: indicator '%s' left out: it is a ratio of one left out",
                     path, out->v[i].line, out->v[i].name);
            out->v[i].left_out = 1;
        }
    }
    /* Drop what was left out, keeping the ratios' indices right. */
    int *map = calloc(out->n + 1, sizeof *map);
    if (!map) {
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory reading %s", path);
        goto done;
    }
    size_t kept = 0;
    for (size_t i = 0; i < out->n; i++) {
        map[i] = out->v[i].left_out ? -1 : (int)kept;
        if (!out->v[i].left_out)
            out->v[kept++] = out->v[i];
    }
    for (size_t i = 0; i < kept; i++)
        if (out->v[i].measure == CSPH_IND_RATIO) {
            out->v[i].num = map[out->v[i].num];
            out->v[i].den = map[out->v[i].den];
        }
    out->n = kept;
    free(map);
    if (areas_path && areas_path[0] && (rc = load_areas(out, areas_path, err)))
        goto done;
    uint64_t h = 1469598103934665603ULL;
    digest_add(&h, path);
    if (areas_path && areas_path[0])
        digest_add(&h, areas_path);
    snprintf(out->digest, sizeof out->digest, "%016llx", (unsigned long long)h);
done:
    free(num);
    free(den);
    hub_yaml_free(&y);
    return rc;
}

void hub_indicators_free(struct hub_indicators *ind)
{
    free(ind->v);
    for (size_t i = 0; i < ind->nareas; i++) {
        free(ind->areas[i].lsoa);
        free(ind->areas[i].wards);
    }
    free(ind->areas);
    memset(ind, 0, sizeof *ind);
}

int hub_indicators_find(const struct hub_indicators *ind, const char *name, size_t len)
{
    for (size_t i = 0; i < ind->n; i++)
        if (strlen(ind->v[i].name) == len && !memcmp(ind->v[i].name, name, len))
            return (int)i;
    return -1;
}

int hub_areas_find(const struct hub_indicators *ind, const char *name, size_t len)
{
    for (size_t i = 0; i < ind->nareas; i++)
        if (strlen(ind->areas[i].name) == len && !memcmp(ind->areas[i].name, name, len))
            return (int)i;
    return -1;
}

int hub_area_has(const struct hub_area *a, const char *lsoa, size_t lsoa_len, const char *ward,
                 size_t ward_len)
{
    for (size_t i = 0; lsoa && i < a->nlsoa; i++)
        if (strlen(a->lsoa[i]) == lsoa_len && !memcmp(a->lsoa[i], lsoa, lsoa_len))
            return 1;
    for (size_t i = 0; ward && i < a->nwards; i++)
        if (strlen(a->wards[i]) == ward_len && !memcmp(a->wards[i], ward, ward_len))
            return 1;
    return 0;
}
