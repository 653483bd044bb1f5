#define _GNU_SOURCE /* nftw */
#include "whatif.h"

#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <xxhash.h>

#include "alertdiff.h"
#include "alertredact.h"
#include "mpx.h"
#include "ruleset.h"
#include "rederive.h"
#include "rules.h"

/* An id no alert has (the schema's largest): a decision on an alert the
 * candidate does not raise names it, and so decides nothing. */
#define NO_ALERT 9007199254740991ull

/* match hash (alertdiff.h) -> the candidate's alert id: 24 bytes an
 * alert, open addressing (id 0: empty). */
struct match_map {
    uint64_t (*keys)[2];
    uint64_t *ids;
    size_t cap, n;
};

static size_t map_slot(const struct match_map *m, const uint64_t key[2])
{
    size_t j = (size_t)(key[0] ^ key[1]) & (m->cap - 1);
    while (m->ids[j] && (m->keys[j][0] != key[0] || m->keys[j][1] != key[1]))
        j = (j + 1) & (m->cap - 1);
    return j;
}

static int map_grow(struct match_map *m)
{
    struct match_map g = {.cap = m->cap ? m->cap * 2 : 1024, .n = m->n};
    g.keys = malloc(g.cap * sizeof *g.keys);
    g.ids = calloc(g.cap, sizeof *g.ids);
    if (!g.keys || !g.ids) {
        free(g.keys);
        free(g.ids);
        return -1;
    }
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->ids[i])
            continue;
        size_t j = map_slot(&g, m->keys[i]);
        g.keys[j][0] = m->keys[i][0];
        g.keys[j][1] = m->keys[i][1];
        g.ids[j] = m->ids[i];
    }
    free(m->keys);
    free(m->ids);
    *m = g;
    return 0;
}

/* The first alert of a match keeps it. */
static int map_put(struct match_map *m, const uint64_t key[2], uint64_t id)
{
    if ((m->n + 1) * 2 > m->cap && map_grow(m))
        return -1;
    size_t j = map_slot(m, key);
    if (m->ids[j])
        return 0;
    m->keys[j][0] = key[0];
    m->keys[j][1] = key[1];
    m->ids[j] = id;
    m->n++;
    return 0;
}

static uint64_t map_get(const struct match_map *m, const uint64_t key[2])
{
    return m->cap ? m->ids[map_slot(m, key)] : 0;
}

static void map_free(struct match_map *m)
{
    free(m->keys);
    free(m->ids);
}

struct whatif {
    const struct hub_config *cfg;
    const struct hub_alert_set *hub; /* the hub's alerts, by id */
    struct match_map map;              /* the candidate's alerts so far */
    uint64_t indexed;                  /* the candidate's alerts 1..indexed are in map */
    msgpack_sbuffer buf;               /* a rewritten decision */
    uint64_t carried, unmatched;       /* decisions */
    char hub_rules[80];                /* the last rules.loaded met: the hub's rules in force */
};

/* The candidate's alerts raised since the last look, into the map. */
static enum hub_err index_candidate(struct whatif *w, struct hub_replay *r,
                                    struct hub_error *err)
{
    uint64_t upto = hub_core_alerts_raised(r->core); /* ids 1, 2, ... in a fresh directory */
    for (uint64_t id = w->indexed + 1; id <= upto; id++) {
        struct hub_alert_brief b;
        enum hub_err rc = hub_core_alert_brief(r->core, id, &b, err);
        if (rc)
            return rc;
        const char *panel = b.panel_index >= 0 ? w->cfg->panels[b.panel_index].name : "";
        uint64_t key[2];
        hub_alert_match_hash(b.rule, panel, b.nkey, b.key_tags,
                             (const char(*)[104])b.key_values, b.anchor_seq, key);
        hub_alert_brief_free(&b);
        if (map_put(&w->map, key, id))
            return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    }
    w->indexed = upto;
    return CSPH_ERR_OK;
}

static enum hub_err carry_decisions(struct hub_replay *r, const struct hub_stored_event *ev,
                                    msgpack_object *obj, struct hub_error *err)
{
    struct whatif *w = r->ctx;
    if (ev->type_len == 12 && memcmp(ev->type, "rules.loaded", 12) == 0) {
        const msgpack_object *d = hub_mp_get(obj, "digest");
        if (d && d->type == MSGPACK_OBJECT_STR)
            snprintf(w->hub_rules, sizeof w->hub_rules, "%.*s", (int)d->via.str.size,
                     d->via.str.ptr);
        return CSPH_ERR_OK; /* the candidate stays in force */
    }
    if (ev->type_len != 12 || memcmp(ev->type, "alert.status", 12) != 0)
        return CSPH_ERR_OK;
    msgpack_object *a = NULL;
    for (uint32_t i = 0; i < obj->via.map.size; i++)
        if (hub_mp_str_eq(&obj->via.map.ptr[i].key, "alert"))
            a = &obj->via.map.ptr[i].val;
    if (!a || a->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return CSPH_ERR_OK;
    const struct hub_alert_row *orig = hub_alert_set_find(w->hub, a->via.u64);
    uint64_t to = 0;
    if (orig) {
        enum hub_err rc = index_candidate(w, r, err);
        if (rc)
            return rc;
        to = map_get(&w->map, orig->match);
    }
    if (to)
        w->carried++;
    else {
        w->unmatched++;
        to = NO_ALERT;
    }
    if (to == a->via.u64)
        return CSPH_ERR_OK;
    a->via.u64 = to;
    msgpack_packer pk;
    w->buf.size = 0;
    msgpack_packer_init(&pk, &w->buf, msgpack_sbuffer_write);
    msgpack_pack_object(&pk, *obj);
    r->bytes = w->buf.data;
    r->len = w->buf.size;
    return CSPH_ERR_OK;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

/* The process's private memory now (RssAnon, KiB; 0 when it cannot be
 * read): ru_maxrss counts the pages of both logs that LMDB maps too. */
static long private_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void note_private(long *peak)
{
    long kb = private_kb();
    if (kb > *peak)
        *peak = kb;
}

static void print_cost(FILE *info, const struct timespec *t0, long private_peak_kb)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(info,
            "what-if took %.2f s, peak memory %.1f MiB (with the logs' pages LMDB maps), "
            "private %.1f MiB after its largest stage\n",
            seconds_since(t0), (double)ru.ru_maxrss / 1024.0, (double)private_peak_kb / 1024.0);
}

/* A hash of "rule \x1f panel \x1f anchor" of row: what a kept alert and
 * the candidate's alert raised on the same event share (the key may
 * differ: the hub's is redacted). */
static uint64_t kept_match(const struct hub_alert_set *s, const struct hub_alert_row *r)
{
    char m[200];
    int n = snprintf(m, sizeof m, "%.150s\x1f%020llu", hub_alert_set_group(s, r),
                     (unsigned long long)r->anchor);
    return XXH3_64bits(m, (size_t)n);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The hub's alerts an erasure or a sweep left on redacted records (kept:
 * alertredact.h) are not the candidate's to raise again: hub and cand
 * without them, and without the candidate's alerts on the same rule,
 * panel and anchor, into h2 and c2 (the sets themselves when nothing is
 * kept; else copies of their rows: free only those arrays). *kept is how
 * many of the hub's were left out; -1 out of memory. */
static int leave_out_kept(const struct hub_alert_set *hub, const struct hub_alert_set *cand,
                          const struct hub_alert_keep *keep, struct hub_alert_set *h2,
                          struct hub_alert_set *c2, size_t *kept)
{
    *h2 = *hub; /* its rows, tables and queues, shared */
    *c2 = *cand;
    *kept = 0;
    if (!keep) /* nothing redacted: the sets as they are */
        return 0;
    uint64_t *m = malloc((hub->n ? hub->n : 1) * sizeof *m);
    h2->v = malloc((hub->n ? hub->n : 1) * sizeof *h2->v);
    c2->v = malloc((cand->n ? cand->n : 1) * sizeof *c2->v);
    size_t nm = 0;
    int rc = m && h2->v && c2->v ? 0 : -1;
    h2->n = c2->n = *kept = 0;
    for (size_t i = 0; !rc && i < hub->n; i++) {
        uint64_t by;
        if (!hub_alert_keep_is(keep, hub->v[i].id, &by))
            h2->v[h2->n++] = hub->v[i];
        else
            m[nm++] = kept_match(hub, &hub->v[i]);
    }
    *kept = nm;
    if (!rc && nm)
        qsort(m, nm, sizeof *m, cmp_u64);
    for (size_t i = 0; !rc && i < cand->n; i++) {
        uint64_t x = nm ? kept_match(cand, &cand->v[i]) : 0;
        if (!nm || !bsearch(&x, m, nm, sizeof *m, cmp_u64))
            c2->v[c2->n++] = cand->v[i];
    }
    free(m);
    h2->cap = h2->n;
    c2->cap = c2->n;
    return rc;
}

/* How many redacted records each rule takes (by its types): a test or a
 * key on a field they lost cannot be evaluated (redacted.h). */
static uint64_t rule_redacted(const struct hub_rule *rule, const struct hub_redacted_count *c)
{
    uint64_t n = 0;
    for (size_t t = 0; t < rule->ntypes; t++)
        n += hub_redacted_count_of(c, rule->types[t]);
    return n;
}

void hub_whatif_redacted_print(FILE *out, const struct hub_rules *rules,
                               const struct hub_redacted_count *c)
{
    if (!c->total)
        return;
    const struct hub_ruleset *set = hub_rules_set(rules);
    fprintf(out, "  %llu redacted records could not be evaluated (an erasure or a retention "
                 "sweep removed their fields; counted by what they keep: seq, times, type, "
                 "source)\n",
            (unsigned long long)c->total);
    for (size_t i = 0; set && i < set->nrules; i++) {
        uint64_t n = rule_redacted(&set->rules[i], c);
        if (n)
            fprintf(out, "    %-40s %llu redacted records could not be evaluated\n",
                    set->rules[i].name, (unsigned long long)n);
    }
}

json_t *hub_whatif_redacted_json(const struct hub_rules *rules,
                                 const struct hub_redacted_count *c)
{
    json_t *o = json_object(), *by_type = json_object(), *by_rule = json_object();
    const struct hub_ruleset *set = hub_rules_set(rules);
    for (size_t i = 0; i < c->n; i++)
        json_object_set_new(by_type, c->v[i].type, json_integer((json_int_t)c->v[i].n));
    for (size_t i = 0; set && i < set->nrules; i++) {
        uint64_t n = rule_redacted(&set->rules[i], c);
        if (n)
            json_object_set_new(by_rule, set->rules[i].name, json_integer((json_int_t)n));
    }
    json_object_set_new(o, "not_evaluated", json_integer((json_int_t)c->total));
    json_object_set_new(o, "types", by_type);
    json_object_set_new(o, "rules", by_rule);
    return o;
}

int hub_whatif(const struct hub_config *cfg, const char *rules_path, int json, FILE *out,
               FILE *info)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct hub_error err = {0};
    struct hub_replay_source src = {0};
    struct hub_schemas *schemas = NULL;
    struct hub_rules *cand = NULL;
    struct hub_core *dst = NULL;
    struct hub_alert_set b = {0};
    struct whatif w = {.cfg = cfg};
    struct hub_replay r = {0};
    struct hub_alert_set h2 = {0}, c2 = {0}; /* without the kept alerts (rows shared) */
    size_t kept = 0;
    int status = 2;
    long private_peak = 0; /* KiB, sampled at the end of each stage */
    char tmp[4200] = "";
    const char *names[CSPH_MAX_PANELS];
    msgpack_sbuffer_init(&w.buf);
    for (size_t i = 0; i < cfg->npanels; i++)
        names[i] = cfg->panels[i].name;
    if (hub_schemas_load(&schemas, cfg->schemas_dir, names, cfg->npanels, &err) ||
        hub_rules_load(&cand, rules_path, cfg->panels, cfg->npanels, schemas, &err)) {
        fprintf(stderr, "csphubd --what-if: the candidate rules do not load: %s\n", err.message);
        goto done;
    }
    if (hub_replay_source_open(&src, cfg, cfg->data_dir, &err)) {
        fprintf(stderr, "csphubd --what-if: cannot read the hub's log: %s\n", err.message);
        goto done;
    }
    const char *tmpdir = getenv("TMPDIR");
    snprintf(tmp, sizeof tmp, "%s/csphub-whatif-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(tmp)) {
        fprintf(stderr, "csphubd --what-if: cannot make a temporary directory %s: %s\n", tmp,
                strerror(errno));
        tmp[0] = 0;
        goto done;
    }
    struct hub_core_opts co = {.cfg = cfg, .dir = tmp, .map_size = cfg->limits.map_size,
                               .schemas = schemas, .rules = cand, .scratch = 1};
    if (hub_core_open(&dst, &co, &err)) {
        fprintf(stderr, "csphubd --what-if: cannot open the temporary log in %s: %s\n", tmp,
                err.message);
        goto done;
    }
    w.hub = &src.alerts;
    r = (struct hub_replay){.core = dst, .out = stderr, .hook = carry_decisions, .ctx = &w};
    if (hub_replay_run(&r, src.store, src.last_seq, &err)) {
        fprintf(stderr, "csphubd --what-if: the replay stopped at event %llu: %s\n",
                (unsigned long long)r.events + 1, err.message);
        goto done;
    }
    note_private(&private_peak);
    struct hub_alert_diff d;
    if (hub_alert_set_collect(&b, hub_core_queues(dst), NULL, &err) ||
        (leave_out_kept(&src.alerts, &b, src.keep, &h2, &c2, &kept) &&
         hub_error_set(&err, CSPH_ERR_NOMEM, NULL, "out of memory")) ||
        hub_alert_diff(&d, &h2, &c2, 0, &err)) {
        fprintf(stderr, "csphubd --what-if: cannot compare the alerts: %s\n", err.message);
        goto done;
    }
    note_private(&private_peak);
    status = hub_alert_diff_any(&d) ? 1 : 0;
    const char *digest = hub_rules_digest(cand);
    if (json) {
        json_t *o = hub_alert_diff_json(&d, "hub", "candidate");
        json_object_set_new(o, "rules", json_string(rules_path));
        json_object_set_new(o, "rule_version", json_string(digest));
        json_object_set_new(o, "data_dir", json_string(cfg->data_dir));
        json_object_set_new(o, "events", json_integer((json_int_t)r.events));
        json_object_set_new(o, "hub_rule_version",
                            w.hub_rules[0] ? json_string(w.hub_rules) : json_null());
        json_object_set_new(o, "decisions",
                            json_pack("{s:I, s:I}", "carried", (json_int_t)w.carried,
                                      "unmatched", (json_int_t)w.unmatched));
        json_object_set_new(o, "difference", json_boolean(status));
        json_t *red = hub_whatif_redacted_json(cand, &r.redacted);
        json_object_set_new(red, "kept_alerts", json_integer((json_int_t)kept));
        json_object_set_new(o, "redacted", red);
        json_dumpf(o, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        fputc('\n', out);
        json_decref(o);
    } else {
        fprintf(out, "what-if: rules %s (version %s) over the log in %s, %llu events\n",
                rules_path, digest, cfg->data_dir, (unsigned long long)r.events);
        if (w.hub_rules[0])
            fprintf(out, "  the hub's rules in force: version %s%s\n", w.hub_rules,
                    strcmp(w.hub_rules, digest) ? "" : " (the same as the candidate)");
        else
            fprintf(out, "  the hub's rules in force: not recorded in the log\n");
        fprintf(out, "  decisions: %llu carried over to the candidate's alerts, %llu on alerts "
                     "it does not raise\n",
                (unsigned long long)w.carried, (unsigned long long)w.unmatched);
        hub_whatif_redacted_print(out, cand, &r.redacted);
        if (kept)
            fprintf(out, "  %zu of the hub's alerts rest on redacted records (kept: an erasure "
                         "or a sweep took their evidence, or their key and reason): not "
                         "compared\n",
                    kept);
        hub_alert_diff_print(out, &d, "hub", "candidate");
    }
    hub_alert_diff_free(&d);
done:
    if (h2.v != src.alerts.v) /* copies when some were left out */
        free(h2.v);
    if (c2.v != b.v)
        free(c2.v);
    hub_redacted_count_free(&r.redacted);
    hub_alert_set_free(&b);
    hub_core_close(&dst);
    hub_replay_source_close(&src);
    hub_rules_destroy(&cand);
    hub_schemas_destroy(&schemas);
    map_free(&w.map);
    msgpack_sbuffer_destroy(&w.buf);
    if (tmp[0])
        nftw(tmp, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    fflush(out);
    if (status != 2)
        print_cost(info, &t0, private_peak);
    return status;
}
