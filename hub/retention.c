#include "retention.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "yamlx.h"

#define NAME_MAX_LEN 64

struct named {
    char name[NAME_MAX_LEN + 1];
    struct hub_period p;
};

struct hub_retention {
    char path[1024];
    char digest[65];
    struct named *classes;
    size_t nclasses;
    int *type_class;            /* per schema type: index into classes */
    struct hub_period *type_over; /* per schema type; kind -1 when not overridden */
    int *has_type_over;
    struct hub_period panel[CSPH_MAX_PANELS];
    int has_panel[CSPH_MAX_PANELS];
    char panel_name[CSPH_MAX_PANELS][65];
    size_t npanels;
    struct hub_period rejections;
    int64_t every_ms;
    uint32_t step_ms;
    int decision_type; /* the schema index of alert.status, -1 when none */
    int panel_work;    /* the class panel_work, -1 when none */
};

int hub_period_parse(const char *text, struct hub_period *p)
{
    memset(p, 0, sizeof *p);
    snprintf(p->text, sizeof p->text, "%s", text);
    if (!strcmp(text, "keep")) {
        p->kind = CSPH_PERIOD_KEEP;
        return 0;
    }
    if (!strcmp(text, "none")) {
        p->kind = CSPH_PERIOD_NONE;
        return 0;
    }
    size_t len = strlen(text), i = 0;
    uint64_t n = 0;
    while (i < len && text[i] >= '0' && text[i] <= '9' && n <= 100000)
        n = n * 10 + (uint64_t)(text[i++] - '0');
    if (i == 0 || i + 1 != len || n == 0 || n > 100000 || !strchr("dwmy", text[i]))
        return -1;
    p->kind = CSPH_PERIOD_SPAN;
    p->n = (uint32_t)n;
    p->unit = text[i];
    return 0;
}

int64_t hub_period_end(const struct hub_period *p, int64_t basis_ms)
{
    if (p->kind != CSPH_PERIOD_SPAN)
        return INT64_MAX;
    const int64_t day = 86400000;
    if (p->unit == 'd' || p->unit == 'w')
        return basis_ms + (int64_t)p->n * (p->unit == 'w' ? 7 : 1) * day;
    /* Calendar months and years on the UTC date; a day past the month's end
     * rolls over (timegm normalises 29 Feb 2025 to 1 Mar). */
    int64_t ms = basis_ms % 1000;
    if (ms < 0)
        ms += 1000;
    time_t t = (time_t)((basis_ms - ms) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    int64_t months = (int64_t)p->n * (p->unit == 'y' ? 12 : 1) + tm.tm_mon;
    tm.tm_year += (int)(months / 12);
    tm.tm_mon = (int)(months % 12);
    return (int64_t)timegm(&tm) * 1000 + ms;
}

void hub_retention_destroy(struct hub_retention **rp)
{
    if (!rp || !*rp)
        return;
    struct hub_retention *r = *rp;
    free(r->classes);
    free(r->type_class);
    free(r->type_over);
    free(r->has_type_over);
    free(r);
    *rp = NULL;
}

static const char period_help[] =
    "write a whole number and a unit: d (days), w (weeks), m (months) or y (years), e.g. "
    "3y; or 'keep' (kept for good on purpose) or 'none' (no published period: kept, warned "
    "at start)";

/* {period: P[, after: event|last_activity]} at node, for what (a sentence
 * part naming the entry). */
static enum hub_err load_period(struct hub_yaml *y, yaml_node_t *node, const char *what,
                                struct hub_period *p, struct hub_error *err)
{
    static const char *const keys[] = {"period", "after", NULL};
    enum hub_err rc;
    if (!node || node->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, node, err, "%s must be a mapping such as '{period: 3y}'", what);
    if ((rc = hub_yaml_only_keys(y, node, keys, what, err)))
        return rc;
    yaml_node_t *pn = hub_yaml_get(y, node, "period");
    const char *text;
    if (!pn)
        return hub_yaml_fail(y, node, err, "%s has no 'period': %s", what, period_help);
    if ((rc = hub_yaml_str(y, pn, "'period'", &text, err)))
        return rc;
    if (hub_period_parse(text, p))
        return hub_yaml_fail(y, pn, err, "'period' of %s is '%s': %s", what, text, period_help);
    yaml_node_t *an = hub_yaml_get(y, node, "after");
    if (an) {
        const char *after;
        if ((rc = hub_yaml_str(y, an, "'after'", &after, err)))
            return rc;
        if (!strcmp(after, "last_activity"))
            p->after_activity = 1;
        else if (strcmp(after, "event") != 0)
            return hub_yaml_fail(y, an, err,
                                 "'after' of %s must be 'event' (from the event's occurred_at) "
                                 "or 'last_activity' (from the last event naming the same "
                                 "person), not '%s'",
                                 what, after);
        if (p->after_activity && p->kind != CSPH_PERIOD_SPAN)
            return hub_yaml_fail(y, an, err,
                                 "'after: last_activity' of %s needs a period such as 6y, not "
                                 "'%s'",
                                 what, p->text);
    }
    return CSPH_ERR_OK;
}

static enum hub_err load_sweep(struct hub_yaml *y, yaml_node_t *node, struct hub_retention *r,
                               struct hub_error *err)
{
    static const char *const keys[] = {"every", "step_ms", NULL};
    enum hub_err rc;
    if (node->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, node, err, "'sweep' must be a mapping such as "
                                           "'{every: 1d, step_ms: 20}'");
    if ((rc = hub_yaml_only_keys(y, node, keys, "'sweep'", err)))
        return rc;
    yaml_node_t *ev = hub_yaml_get(y, node, "every");
    if (ev) {
        const char *text;
        struct hub_period p;
        if ((rc = hub_yaml_str(y, ev, "'every' of 'sweep'", &text, err)))
            return rc;
        /* Hours and minutes too: a sweep may run more often than daily. */
        size_t len = strlen(text);
        char unit = len ? text[len - 1] : 0;
        long n = 0;
        char *end = NULL;
        if (len > 1 && (unit == 'h' || unit == 'm' || unit == 's' || unit == 'd'))
            n = strtol(text, &end, 10);
        if (!end || end != text + len - 1 || n <= 0 || n > 100000 ||
            (hub_period_parse(text, &p) == 0 && p.kind != CSPH_PERIOD_SPAN))
            return hub_yaml_fail(y, ev, err,
                                 "'every' of 'sweep' is '%s': write a whole number and s, m "
                                 "(minutes), h or d, e.g. 1d",
                                 text);
        r->every_ms = (int64_t)n * (unit == 's' ? 1000 : unit == 'm' ? 60000
                                                    : unit == 'h' ? 3600000 : 86400000);
    }
    yaml_node_t *st = hub_yaml_get(y, node, "step_ms");
    int64_t v;
    if (st) {
        /* A step's work and its commit together stay under 50 ms. */
        if ((rc = hub_yaml_int(y, st, "'step_ms' of 'sweep'", 1, 40, &v, err)))
            return rc;
        r->step_ms = (uint32_t)v;
    }
    return CSPH_ERR_OK;
}

static enum hub_err digest_file(const char *path, char out[65], struct hub_error *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return hub_error_set(err, CSPH_ERR_CONFIG, NULL, "%s: cannot read it", path);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char buf[8192], h[EVP_MAX_MD_SIZE];
    unsigned hl = 0;
    size_t n;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0)
        ok = EVP_DigestUpdate(md, buf, n);
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(md, h, &hl);
    EVP_MD_CTX_free(md);
    fclose(f);
    if (!ok)
        return hub_error_set(err, CSPH_ERR_CONFIG, NULL, "%s: cannot hash it", path);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
    return CSPH_ERR_OK;
}

enum hub_err hub_retention_load(struct hub_retention **out, const char *path,
                                const struct hub_schemas *s, const struct hub_config *cfg,
                                struct hub_error *err)
{
    static const char *const top[] = {"sweep", "rejections", "classes", "types", "panels", NULL};
    struct hub_yaml y;
    enum hub_err rc = hub_yaml_load(&y, path, err);
    if (rc)
        return rc == CSPH_ERR_IO ? (err->code = CSPH_ERR_CONFIG) : rc;
    size_t ntypes = hub_schemas_count(s);
    struct hub_retention *r = calloc(1, sizeof *r);
    if (!r || !(r->type_class = calloc(ntypes + 1, sizeof *r->type_class)) ||
        !(r->type_over = calloc(ntypes + 1, sizeof *r->type_over)) ||
        !(r->has_type_over = calloc(ntypes + 1, sizeof *r->has_type_over))) {
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "%s: out of memory", path);
        goto done;
    }
    snprintf(r->path, sizeof r->path, "%s", path);
    r->every_ms = 86400000;
    r->step_ms = 20;
    r->rejections.kind = CSPH_PERIOD_KEEP;
    snprintf(r->rejections.text, sizeof r->rejections.text, "keep");
    yaml_node_t *root = hub_yaml_root(&y);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = hub_yaml_fail(&y, root, err,
                           "a retention file is a mapping with 'classes' (and 'sweep', "
                           "'rejections', 'types', 'panels')");
        goto done;
    }
    if ((rc = hub_yaml_only_keys(&y, root, top, "the retention file", err)))
        goto done;
    yaml_node_t *n;
    if ((n = hub_yaml_get(&y, root, "sweep")) && (rc = load_sweep(&y, n, r, err)))
        goto done;
    if ((n = hub_yaml_get(&y, root, "rejections")) &&
        (rc = load_period(&y, n, "'rejections'", &r->rejections, err)))
        goto done;
    if (r->rejections.after_activity) {
        rc = hub_yaml_fail(&y, n, err, "'rejections' name nobody: 'after: last_activity' does "
                                       "not apply to them");
        goto done;
    }
    yaml_node_t *classes = hub_yaml_get(&y, root, "classes");
    if (!classes || classes->type != YAML_MAPPING_NODE) {
        rc = hub_yaml_fail(&y, classes ? classes : root, err,
                           "'classes' must map each retention class the schemas name to its "
                           "period, e.g. 'asb: {period: 3y}'");
        goto done;
    }
    r->nclasses = hub_yaml_map_len(classes);
    if (!(r->classes = calloc(r->nclasses + 1, sizeof *r->classes))) {
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < r->nclasses; i++) {
        yaml_node_t *k, *v;
        const char *name;
        char what[100];
        hub_yaml_map_pair(&y, classes, i, &k, &v);
        if ((rc = hub_yaml_str(&y, k, "a class name", &name, err)))
            goto done;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(r->classes[j].name, name)) {
                rc = hub_yaml_fail(&y, k, err, "class '%s' is given twice", name);
                goto done;
            }
        snprintf(r->classes[i].name, sizeof r->classes[i].name, "%s", name);
        snprintf(what, sizeof what, "class '%.64s'", name);
        if ((rc = load_period(&y, v, what, &r->classes[i].p, err)))
            goto done;
    }
    for (size_t t = 0; t < ntypes; t++) {
        size_t c = 0;
        while (c < r->nclasses && strcmp(r->classes[c].name, hub_schemas_retention(s, t)))
            c++;
        if (c == r->nclasses) {
            rc = hub_yaml_fail(&y, classes, err,
                               "'classes' has no period for class '%s', which type %s names "
                               "(%s/%s.yaml): add '%s: {period: ...}'",
                               hub_schemas_retention(s, t), hub_schemas_name(s, t),
                               cfg->schemas_dir, hub_schemas_name(s, t),
                               hub_schemas_retention(s, t));
            goto done;
        }
        r->type_class[t] = (int)c;
    }
    r->decision_type = hub_schemas_find(s, "alert.status", 12);
    r->panel_work = -1;
    for (size_t c = 0; c < r->nclasses; c++)
        if (!strcmp(r->classes[c].name, "panel_work"))
            r->panel_work = (int)c;
    yaml_node_t *types = hub_yaml_get(&y, root, "types");
    if (types && types->type != YAML_MAPPING_NODE) {
        rc = hub_yaml_fail(&y, types, err, "'types' must map event types to periods, e.g. "
                                           "'hate.incident: {period: 6y}' ('{}' for none)");
        goto done;
    }
    for (size_t i = 0; types && i < hub_yaml_map_len(types); i++) {
        yaml_node_t *k, *v;
        const char *name;
        char what[100];
        hub_yaml_map_pair(&y, types, i, &k, &v);
        if ((rc = hub_yaml_str(&y, k, "an event type", &name, err)))
            goto done;
        int t = hub_schemas_find(s, name, strlen(name));
        if (t < 0) {
            rc = hub_yaml_fail(&y, k, err, "unknown event type '%s' in 'types': no schema "
                                           "defines it (%s)",
                               name, cfg->schemas_dir);
            goto done;
        }
        if (r->has_type_over[t]) {
            rc = hub_yaml_fail(&y, k, err, "type '%s' is given twice in 'types'", name);
            goto done;
        }
        snprintf(what, sizeof what, "type '%.64s'", name);
        if ((rc = load_period(&y, v, what, &r->type_over[t], err)))
            goto done;
        r->has_type_over[t] = 1;
    }
    yaml_node_t *panels = hub_yaml_get(&y, root, "panels");
    if (panels && panels->type != YAML_MAPPING_NODE) {
        rc = hub_yaml_fail(&y, panels, err, "'panels' must map panel names to periods, e.g. "
                                            "'marac: {period: 6y, after: last_activity}'");
        goto done;
    }
    r->npanels = cfg->npanels;
    for (size_t i = 0; i < cfg->npanels; i++)
        snprintf(r->panel_name[i], sizeof r->panel_name[i], "%s", cfg->panels[i].name);
    for (size_t i = 0; panels && i < hub_yaml_map_len(panels); i++) {
        yaml_node_t *k, *v;
        const char *name;
        char what[100];
        hub_yaml_map_pair(&y, panels, i, &k, &v);
        if ((rc = hub_yaml_str(&y, k, "a panel name", &name, err)))
            goto done;
        size_t p = 0;
        while (p < cfg->npanels && strcmp(cfg->panels[p].name, name))
            p++;
        if (p == cfg->npanels) {
            rc = hub_yaml_fail(&y, k, err, "unknown panel '%s' in 'panels': %s configures no "
                                           "such panel",
                               name, cfg->panels_file);
            goto done;
        }
        if (r->has_panel[p]) {
            rc = hub_yaml_fail(&y, k, err, "panel '%s' is given twice in 'panels'", name);
            goto done;
        }
        snprintf(what, sizeof what, "panel '%.64s'", name);
        if ((rc = load_period(&y, v, what, &r->panel[p], err)))
            goto done;
        r->has_panel[p] = 1;
    }
    if ((rc = digest_file(path, r->digest, err)))
        goto done;
    *out = r;
    r = NULL;
done:
    hub_yaml_free(&y);
    hub_retention_destroy(&r);
    return rc;
}

const struct hub_period *hub_retention_period(const struct hub_retention *r, int type_index,
                                              int panel)
{
    if (panel >= 0 && (size_t)panel < r->npanels && r->has_panel[panel])
        return &r->panel[panel];
    if (r->has_type_over[type_index])
        return &r->type_over[type_index];
    return &r->classes[r->type_class[type_index]].p;
}

const struct hub_period *hub_retention_alert_period(const struct hub_retention *r, int panel)
{
    static const struct hub_period kept = {.kind = CSPH_PERIOD_NONE, .text = "none"};
    if (panel < 0 || (size_t)panel >= r->npanels)
        return &kept; /* a panel no longer configured: its period is unknown */
    if (r->decision_type >= 0)
        return hub_retention_period(r, r->decision_type, panel);
    if (r->has_panel[panel])
        return &r->panel[panel];
    return r->panel_work >= 0 ? &r->classes[r->panel_work].p : &kept;
}

const struct hub_period *hub_retention_rejections(const struct hub_retention *r)
{
    return &r->rejections;
}

int64_t hub_retention_every_ms(const struct hub_retention *r)
{
    return r->every_ms;
}

uint32_t hub_retention_step_ms(const struct hub_retention *r)
{
    return r->step_ms;
}

const char *hub_retention_digest(const struct hub_retention *r)
{
    return r->digest;
}

const char *hub_retention_path(const struct hub_retention *r)
{
    return r->path;
}

size_t hub_retention_unset(const struct hub_retention *r, hub_retention_warn_fn fn, void *ctx)
{
    char what[128];
    size_t n = 0;
    for (size_t i = 0; i < r->nclasses; i++)
        if (r->classes[i].p.kind == CSPH_PERIOD_NONE) {
            snprintf(what, sizeof what, "class '%s'", r->classes[i].name);
            fn(ctx, what);
            n++;
        }
    for (size_t i = 0; i < r->npanels; i++)
        if (r->has_panel[i] && r->panel[i].kind == CSPH_PERIOD_NONE) {
            snprintf(what, sizeof what, "panel '%s'", r->panel_name[i]);
            fn(ctx, what);
            n++;
        }
    if (r->rejections.kind == CSPH_PERIOD_NONE) {
        fn(ctx, "kept rejections");
        n++;
    }
    return n;
}
