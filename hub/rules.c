/* rules.c: the evaluator (rules.h). Given one event, decide from the rule
 * set (ruleset.h) and the rule state (rstate.h) which alerts it raises.
 *
 * The state, series by series (rstate.h addresses a record by kind, id,
 * key values, then a time and a seq):
 *
 *   'W' rule's sid, key   every event the rule counted for the key, at its
 *                         window time (occurred_at; reported_at for rules
 *                         that count complaints): the value holds what
 *                         the count needs (distinct hash; incident ref,
 *                         source, occurred_at; a prior rule's "same" hash)
 *   'F' rule's id, key    the tiers it fired, at the trigger's window time
 *   'P' panel, key        every alert on the panel, at the
 *                         occurred_at of the alert's anchor event (the
 *                         newest event in its evidence): accepted flag,
 *                         "same" hash
 *   'Q' panel, -          anchor seq -> its occurred_at (a decision names
 *                         an alert, not a time)
 *   'M' rule's id, key    incidents a repeat rule has already cited
 *
 * Every series is in time order, so a window of any width around any time
 * is one range read: late events count exactly like timely ones, and there
 * is no horizon. Nothing is held in memory between calls but scratch
 * buffers; the state's pages are LMDB's.
 *
 * Windows (docs/rules.md, "Late events"). When event e (window time t)
 * arrives, it is put in its series; the rule then looks at every window of
 * D days that contains t, over every event of the series however late each
 * arrived, and takes the one with the most events (distinct values,
 * criteria, incidents), the earliest on a tie. The highest tier it reaches
 * fires unless that tier is quiet: a tier is quiet while the rule already
 * fired it or a higher tier for the key from a trigger less than D days
 * from t. */
#include "rules.h"

#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "rstate.h"
#include "ruleset.h"
#include "timefmt.h"

#define STATE_VERSION 4u /* 1: rules.window/prior; 2: rules.log; 3: this file; 4: key values first */

struct kval {
    const char *p;
    size_t n;
    char tag; /* 's' text, 'n' number, 'b' yes/no */
};

struct keyvals {
    char v[CSPH_KEY_MAX_FIELDS][CSPH_KEY_VALUE_MAX + 1];
    uint8_t len[CSPH_KEY_MAX_FIELDS];
    char tag[CSPH_KEY_MAX_FIELDS];
};

/* A window entry as the evaluator reads it. */
struct went {
    int64_t t, occ;
    uint64_t seq;
    uint64_t h;   /* distinct value or criterion; a prior rule's "same" hash */
    uint64_t ref; /* incident_ref hash, 0: none */
    uint64_t src; /* source hash */
    int merge;    /* its type may describe the same incident as another's */
    int extra;    /* another criterion of the event before it: not counted as an event */
};

/* What a draft is anchored on: the newest event of its evidence. */
struct anchor {
    uint64_t seq;
    int64_t occ;
};

struct fire {
    const struct hub_rule *R;
    const struct hub_rule_event *ev;
    int panel;
    enum hub_priority priority;
    const struct hub_keyspec *K;
    uint64_t count, distinct;
    int64_t first_ms, last_ms, date_ms;
    int64_t threshold;
};

struct hub_rules {
    struct hub_ruleset *set;
    struct hub_rstate *st;
    unsigned char (*panel_id)[8];
    /* drafts of the current call */
    struct hub_alert_draft *drafts;
    struct keyvals *keyvals;
    struct anchor *anchors;
    size_t *evoff;
    size_t ndrafts, capdrafts;
    uint64_t *ev;
    size_t nev, capev;
    /* scratch */
    struct went *ents;
    size_t nents, capents;
    struct went *tmp;
    size_t captmp;
    uint64_t *hkeys;
    uint32_t *hcounts;
    size_t caph, hmask;
    int began;       /* the state's version was checked */
    int count_only;  /* a backfill: put what unbuilt rules count, raise nothing */
    unsigned char *unbuilt; /* per rule: its series were not built from the whole log */
};

/* ---- small helpers ---------------------------------------------------- */

const char *hub_priority_name(enum hub_priority p)
{
    switch (p) {
    case CSPH_PRIORITY_STANDARD: return "standard";
    case CSPH_PRIORITY_MEDIUM: return "medium";
    case CSPH_PRIORITY_HIGH: return "high";
    }
    return "standard";
}

int hub_priority_parse(const char *s, size_t len)
{
    if (len == 8 && memcmp(s, "standard", 8) == 0)
        return CSPH_PRIORITY_STANDARD;
    if (len == 6 && memcmp(s, "medium", 6) == 0)
        return CSPH_PRIORITY_MEDIUM;
    if (len == 4 && memcmp(s, "high", 4) == 0)
        return CSPH_PRIORITY_HIGH;
    return -1;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    return hub_grow(p, cap, need, elem, 16);
}

static enum hub_err oom(struct hub_error *err)
{
    return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
}

static int64_t sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void put64(unsigned char *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* FNV-1a over a value's kind and bytes; 0 when it has none (absent, a map,
 * a list). Never 0 otherwise. */
static uint64_t hash_value(const msgpack_object *v)
{
    uint64_t x = 14695981039346656037ull;
    const unsigned char *p;
    size_t n;
    unsigned char tag, num[8];
    if (!v)
        return 0;
    switch (v->type) {
    case MSGPACK_OBJECT_STR:
        tag = 's';
        p = (const unsigned char *)v->via.str.ptr;
        n = v->via.str.size;
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        tag = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? 'u' : 'i';
        memcpy(num, &v->via.u64, 8);
        p = num;
        n = 8;
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        tag = 'b';
        num[0] = v->via.boolean;
        p = num;
        n = 1;
        break;
    default:
        return 0;
    }
    x = (x ^ tag) * 1099511628211ull;
    for (size_t i = 0; i < n; i++)
        x = (x ^ p[i]) * 1099511628211ull;
    return x ? x : 1;
}

static uint64_t hash_text(const char *s, size_t n)
{
    msgpack_object o = {.type = MSGPACK_OBJECT_STR, .via.str = {(uint32_t)n, s}};
    return hash_value(&o);
}

static const msgpack_object *field(const msgpack_object *o, const char *name)
{
    struct hub_path p = {.text = name, .nseg = 1};
    p.seg[0].p = name;
    p.seg[0].n = (uint32_t)strlen(name);
    return hub_path_get(o, &p);
}

/* ---- loading ------------------------------------------------------------ */

enum hub_err hub_rules_load(struct hub_rules **out, const char *path,
                            const struct hub_panel *panels, size_t npanels,
                            const struct hub_schemas *schemas, struct hub_error *err)
{
    struct hub_ruleset *set;
    enum hub_err rc = hub_ruleset_load(&set, path, panels, npanels, schemas, err);
    if (rc)
        return rc;
    return hub_rules_from_set(out, set, err);
}

enum hub_err hub_rules_from_set(struct hub_rules **out, struct hub_ruleset *set,
                                struct hub_error *err)
{
    struct hub_rules *r = calloc(1, sizeof *r);
    size_t np = set->npanels ? set->npanels : 1;
    if (!r || hub_rstate_new(&r->st, err) != CSPH_ERR_OK ||
        !(r->panel_id = calloc(np, sizeof *r->panel_id))) {
        if (r)
            r->set = set;
        hub_rules_destroy(&r);
        return oom(err);
    }
    r->set = set;
    if (hub_rstate_cache(r->st, CSPH_RULES_CACHE_DEFAULT, err)) {
        hub_rules_destroy(&r);
        return CSPH_ERR_NOMEM;
    }
    for (size_t i = 0; i < set->npanels; i++) {
        unsigned char h[16];
        char name[80];
        int n = snprintf(name, sizeof name, "panel:%s", set->panels[i].name);
        crypto_generichash(h, sizeof h, (const unsigned char *)name, (size_t)n, NULL, 0);
        memcpy(r->panel_id[i], h, 8);
    }
    *out = r;
    return CSPH_ERR_OK;
}

void hub_rules_destroy(struct hub_rules **rp)
{
    if (!rp || !*rp)
        return;
    struct hub_rules *r = *rp;
    hub_ruleset_free(&r->set);
    hub_rstate_free(&r->st);
    free(r->panel_id);
    free(r->unbuilt);
    free(r->drafts);
    free(r->keyvals);
    free(r->anchors);
    free(r->evoff);
    free(r->ev);
    free(r->ents);
    free(r->tmp);
    free(r->hkeys);
    free(r->hcounts);
    free(r);
    *rp = NULL;
}

const char *hub_rules_digest(const struct hub_rules *r) { return r->set->digest; }
size_t hub_rules_count(const struct hub_rules *r) { return r->set->nrules; }
const struct hub_ruleset *hub_rules_set(const struct hub_rules *r) { return r->set; }

enum hub_err hub_rules_cache(struct hub_rules *r, size_t bytes, struct hub_error *err)
{
    return hub_rstate_cache(r->st, bytes, err);
}

void hub_rules_take_cache(struct hub_rules *dst, struct hub_rules *src)
{
    if (dst && src)
        hub_rstate_take_cache(dst->st, src->st);
}

const char *hub_rules_name(const struct hub_rules *r, size_t i)
{
    return i < r->set->nrules ? r->set->rules[i].name : NULL;
}

int hub_rules_due(const struct hub_rules *r, int rule_index, enum hub_priority priority,
                  int64_t raised_ms, int64_t *due_ms)
{
    if (!r || rule_index < 0 || (size_t)rule_index >= r->set->nrules)
        return 0;
    const struct hub_rule *R = &r->set->rules[rule_index];
    const struct hub_tier *t = NULL;
    if (!R->windowed) {
        t = &R->tiers[0]; /* a per-event rule has one cadence, whatever the priority */
    } else {
        for (size_t i = 0; i < R->ntiers; i++)
            if (R->tiers[i].priority == priority)
                t = &R->tiers[i]; /* the highest tier of that priority: its cadence, or none */
    }
    if (!t || t->due == CSPH_DUE_NONE)
        return 0;
    *due_ms = hub_ruleset_tier_due(r->set, t, raised_ms);
    return 1;
}

int64_t hub_rules_add_working_days(const struct hub_rules *r, int64_t ms, int n)
{
    return hub_calendar_add_working_days(&r->set->calendar, ms, n);
}

/* ---- keys ---------------------------------------------------------------- */

/* The key's values as text (numbers in decimal). -1: the rule does not apply. */
static int key_values(const struct hub_keyspec *K, const msgpack_object *o, struct kval *out,
                      char (*num)[24])
{
    for (size_t i = 0; i < K->n; i++) {
        const msgpack_object *v = hub_path_get(o, &K->f[i]);
        if (!v)
            return -1;
        switch (v->type) {
        case MSGPACK_OBJECT_STR:
            if (v->via.str.size == 0 || v->via.str.size > CSPH_KEY_VALUE_MAX)
                return -1;
            out[i].p = v->via.str.ptr;
            out[i].n = v->via.str.size;
            out[i].tag = 's';
            break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            out[i].p = num[i];
            out[i].n = (size_t)snprintf(num[i], 24, "%" PRIu64, v->via.u64);
            out[i].tag = 'n';
            break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            out[i].p = num[i];
            out[i].n = (size_t)snprintf(num[i], 24, "%" PRId64, v->via.i64);
            out[i].tag = 'n';
            break;
        case MSGPACK_OBJECT_BOOLEAN:
            out[i].p = v->via.boolean ? "true" : "false";
            out[i].n = strlen(out[i].p);
            out[i].tag = 'b';
            break;
        default:
            return -1;
        }
    }
    return 0;
}

/* Values as a series key: kind, length, bytes each. The kind is part of a
 * value's identity: alert 1042 (a number) is never the person "1042". */
static size_t key_encode(unsigned char *kb, const struct kval *v, size_t n)
{
    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        kb[off++] = (unsigned char)v[i].tag;
        kb[off++] = (unsigned char)v[i].n;
        memcpy(kb + off, v[i].p, v[i].n);
        off += v[i].n;
    }
    return off;
}

struct series {
    struct hub_rs_series s;
    unsigned char kb[CSPH_RS_KEY_MAX];
};

static void series(struct series *s, unsigned char kind, const unsigned char *id,
                   const struct kval *v, size_t n)
{
    s->s.kind = kind;
    memcpy(s->s.id, id, 8);
    s->s.key = s->kb;
    s->s.key_len = v ? key_encode(s->kb, v, n) : 0;
}

/* ---- drafts --------------------------------------------------------------- */

static enum hub_err push_evidence(struct hub_rules *r, uint64_t seq, struct hub_error *err)
{
    if (grow((void **)&r->ev, &r->capev, r->nev + 1, sizeof *r->ev))
        return oom(err);
    r->ev[r->nev++] = seq;
    return CSPH_ERR_OK;
}

/* Sort the evidence from evoff and drop repeats (one event may be cited
 * twice: as a referral's anchor and as an incident). */
static void evidence_sort(struct hub_rules *r, size_t evoff)
{
    qsort(r->ev + evoff, r->nev - evoff, sizeof *r->ev, cmp_u64);
    size_t w = evoff;
    for (size_t i = evoff; i < r->nev; i++)
        if (i == evoff || r->ev[i] != r->ev[w - 1])
            r->ev[w++] = r->ev[i];
    r->nev = w;
}

static enum hub_err add_draft(struct hub_rules *r, const struct fire *f, const struct kval *vals,
                              const struct hub_tier *tier, size_t evoff, const struct anchor *a,
                              struct hub_error *err)
{
    const struct hub_ruleset *set = r->set;
    size_t i = r->ndrafts, c1 = r->capdrafts, c2 = r->capdrafts, c3 = r->capdrafts,
           c4 = r->capdrafts;
    if (grow((void **)&r->drafts, &c1, i + 1, sizeof *r->drafts) ||
        grow((void **)&r->keyvals, &c2, i + 1, sizeof *r->keyvals) ||
        grow((void **)&r->evoff, &c3, i + 1, sizeof *r->evoff) ||
        grow((void **)&r->anchors, &c4, i + 1, sizeof *r->anchors))
        return oom(err);
    r->capdrafts = c1 < c2 ? c1 : c2;
    r->capdrafts = r->capdrafts < c3 ? r->capdrafts : c3;
    r->capdrafts = r->capdrafts < c4 ? r->capdrafts : c4;
    struct hub_alert_draft *d = &r->drafts[i];
    struct keyvals *kv = &r->keyvals[i];
    memset(d, 0, sizeof *d);
    d->rule_index = (int)(f->R - set->rules);
    d->rule = f->R->name;
    d->panel_index = f->panel;
    d->priority = f->priority;
    d->nkey = f->K->n;
    const char *names[CSPH_KEY_MAX_FIELDS], *values[CSPH_KEY_MAX_FIELDS];
    for (size_t k = 0; k < f->K->n; k++) {
        memcpy(kv->v[k], vals[k].p, vals[k].n);
        kv->v[k][vals[k].n] = 0;
        kv->len[k] = (uint8_t)vals[k].n;
        kv->tag[k] = vals[k].tag;
        d->key_names[k] = names[k] = f->K->f[k].text;
        d->key_tags[k] = vals[k].tag;
        values[k] = kv->v[k];
    }
    r->evoff[i] = evoff;
    r->anchors[i] = *a;
    d->nevidence = r->nev - evoff;
    d->raised_ms = f->ev->received_ms;
    d->event_seq = f->ev->seq;
    if (tier->due != CSPH_DUE_NONE) {
        d->has_due = 1;
        d->due_ms = hub_ruleset_tier_due(set, tier, d->raised_ms);
    }
    const struct hub_rule *R = f->R;
    struct hub_tmpl_values tv = {
        .count = f->count, .distinct = f->distinct, .nkey = f->K->n, .key_names = names,
        .key_values = values, .key_lens = kv->len, .first_ms = f->first_ms, .last_ms = f->last_ms,
        .date_ms = f->date_ms, .threshold = f->threshold,
        .window = R->windowed ? R->window_days : R->prior ? R->prior_days : 0,
        .within = R->prior ? R->prior_days : R->window_days, .panel = set->panels[f->panel].name,
        .priority = hub_priority_name(f->priority), .rule = R->name, .has_due = d->has_due,
        .due_ms = d->due_ms, .event = f->ev->obj,
    };
    const struct hub_tmpl *t = set->panels[f->panel].restricted ? &R->restricted_reason : &R->reason;
    hub_tmpl_render(t, &tv, d->reason, sizeof d->reason);
    r->ndrafts++;
    return CSPH_ERR_OK;
}

/* ---- windows -------------------------------------------------------------- */

static uint64_t dec64(const unsigned char **p, const unsigned char *end)
{
    if (end - *p < 8)
        return 0;
    uint64_t v = get64(*p);
    *p += 8;
    return v;
}

static struct went entry_read(const struct hub_rule *R, const struct hub_rs_rec *rec)
{
    const unsigned char *p = rec->val, *end = p + rec->len;
    struct went e = {.t = rec->t, .occ = rec->t, .seq = rec->seq};
    if (R->incidents && p < end) {
        e.merge = *p++ & 1;
        e.occ = (int64_t)dec64(&p, end);
        e.ref = dec64(&p, end);
        e.src = dec64(&p, end);
    } else {
        e.h = dec64(&p, end);
    }
    return e;
}

static size_t entry_write(const struct hub_rule *R, const struct went *e, unsigned char *b)
{
    if (R->incidents) {
        b[0] = (unsigned char)e->merge;
        put64(b + 1, (uint64_t)e->occ);
        put64(b + 9, e->ref);
        put64(b + 17, e->src);
        return 25;
    }
    if (!e->h)
        return 0;
    put64(b, e->h);
    return 8;
}

struct collect {
    struct hub_rules *r;
    const struct hub_rule *R;
    int oom;
};

static int collect_one(void *ctx, const struct hub_rs_rec *rec)
{
    struct collect *c = ctx;
    struct hub_rules *r = c->r;
    /* An event that met several criteria holds a hash for each. */
    size_t nh = !c->R->incidents && rec->len > 8 ? rec->len / 8 : 1;
    if (grow((void **)&r->ents, &r->capents, r->nents + nh, sizeof *r->ents)) {
        c->oom = 1;
        return 1;
    }
    struct went w = entry_read(c->R, rec);
    r->ents[r->nents++] = w;
    for (size_t i = 1; i < nh; i++) {
        w.h = get64(rec->val + 8 * i);
        w.extra = 1;
        r->ents[r->nents++] = w;
    }
    return 0;
}

/* The window entries of a series with from <= t <= to into r->ents. */
static enum hub_err entries_load(struct hub_rules *r, const struct hub_rule *R,
                                 const struct series *s, int64_t from, int64_t to,
                                 struct hub_error *err)
{
    struct collect c = {r, R, 0};
    r->nents = 0;
    enum hub_err e = hub_rstate_range(r->st, &s->s, from, to, collect_one, &c, err);
    return e ? e : c.oom ? oom(err) : CSPH_ERR_OK;
}

struct tier_near {
    uint64_t max, stop;
};

static int tier_near_one(void *ctx, const struct hub_rs_rec *rec)
{
    struct tier_near *q = ctx;
    uint64_t v = rec->len >= 8 ? get64(rec->val) : 0;
    if (v > q->max)
        q->max = v;
    return q->max >= q->stop;
}

/* The highest tier (its at_least) the rule fired for the series less than
 * w from t, 0 when none; a tier is quiet when this reaches its at_least
 * (stop: no need to look further once this many). Tiers fired are kept by
 * their threshold, not their place in the list, so inserting a tier in the
 * file does not change what an earlier alert means. */
static enum hub_err fired_near(struct hub_rules *r, const struct series *fs, int64_t t, int64_t w,
                               int64_t stop, uint64_t *max, struct hub_error *err)
{
    struct tier_near q = {0, (uint64_t)stop};
    *max = 0;
    if (!hub_rstate_may_exist(r->st, &fs->s))
        return CSPH_ERR_OK; /* the rule never fired for the key */
    enum hub_err e = hub_rstate_range(r->st, &fs->s, sat_add(t, -w + 1), sat_add(t, w - 1),
                                      tier_near_one, &q, err);
    *max = q.max;
    return e;
}

/* Counting distinct values in a sliding window: a table of hash -> count. */
static int htab_prepare(struct hub_rules *r, size_t n)
{
    size_t size = 16;
    while (size < 2 * n + 2)
        size *= 2;
    size_t c1 = r->caph, c2 = r->caph;
    if (grow((void **)&r->hkeys, &c1, size, sizeof *r->hkeys) ||
        grow((void **)&r->hcounts, &c2, size, sizeof *r->hcounts))
        return -1;
    r->caph = c1 < c2 ? c1 : c2;
    r->hmask = size - 1;
    memset(r->hkeys, 0, size * sizeof *r->hkeys);
    memset(r->hcounts, 0, size * sizeof *r->hcounts);
    return 0;
}

static size_t htab_slot(const struct hub_rules *r, uint64_t h)
{
    size_t i = (size_t)((h * 0x9E3779B97F4A7C15ull) >> 32) & r->hmask;
    while (r->hkeys[i] && r->hkeys[i] != h)
        i = (i + 1) & r->hmask;
    return i;
}

static void htab_add(struct hub_rules *r, uint64_t h, uint64_t *nd)
{
    size_t i = htab_slot(r, h);
    r->hkeys[i] = h;
    if (r->hcounts[i]++ == 0)
        (*nd)++;
}

static void htab_del(struct hub_rules *r, uint64_t h, uint64_t *nd)
{
    size_t i = htab_slot(r, h);
    if (--r->hcounts[i] == 0)
        (*nd)--;
}

static int by_occ(const void *a, const void *b)
{
    const struct went *x = a, *y = b;
    return x->occ != y->occ ? (x->occ > y->occ) - (x->occ < y->occ)
                            : (x->seq > y->seq) - (x->seq < y->seq);
}

/* The incident each entry of r->ents belongs to, into its h: reports with
 * the same incident_ref are one; otherwise a report joins an incident when
 * both may describe the same kind of incident, they carry no different
 * references, it comes from a source no report of that incident came from,
 * and it occurred within the tolerance of one of them. Taken in occurred_at
 * order over every report read around the new one (not window by window:
 * where a window starts must not split an incident), so it depends only on
 * the reports. */
#define INCIDENT_SOURCES_MAX 8
struct incident {
    uint64_t ref;
    int merge;
    int64_t lo, hi; /* occurred_at of its first and latest reports */
    uint64_t src[INCIDENT_SOURCES_MAX];
    size_t nsrc;
};

static int incidents_assign(struct hub_rules *r, const struct hub_rule *R)
{
    size_t n = r->nents;
    if (grow((void **)&r->tmp, &r->captmp, n + 1, sizeof *r->tmp))
        return -1;
    /* tmp: the entries in occurred_at order, their index in ents kept in h */
    for (size_t i = 0; i < n; i++) {
        r->tmp[i] = r->ents[i];
        r->tmp[i].h = i;
    }
    qsort(r->tmp, n, sizeof *r->tmp, by_occ);
    struct incident *inc = calloc(n ? n : 1, sizeof *inc);
    if (!inc)
        return -1;
    size_t ni = 0;
    for (size_t i = 0; i < n; i++) {
        const struct went *x = &r->tmp[i];
        size_t j = ni;
        for (size_t k = 0; k < ni && j == ni; k++) {
            struct incident *c = &inc[k];
            if (x->ref && c->ref == x->ref) {
                j = k;
                continue;
            }
            if (!x->merge || !c->merge || (x->ref && c->ref) || c->nsrc == INCIDENT_SOURCES_MAX)
                continue;
            int same_source = 0;
            for (size_t q = 0; q < c->nsrc; q++)
                same_source |= c->src[q] == x->src;
            /* Taken in occurred_at order (x->occ >= c->hi >= c->lo):
             * within the tolerance of the incident's latest report; and,
             * unless a reference names the incident, of its first too, so
             * reports without one never chain further than the tolerance. */
            if (!same_source && x->occ - c->hi <= R->tolerance_ms &&
                (c->ref || x->occ - c->lo <= R->tolerance_ms))
                j = k;
        }
        struct incident *c = &inc[j];
        if (j == ni) {
            memset(c, 0, sizeof *c);
            c->lo = x->occ;
            c->merge = x->merge;
            ni++;
        }
        c->hi = x->occ;
        if (x->ref)
            c->ref = x->ref;
        int known = 0;
        for (size_t q = 0; q < c->nsrc; q++)
            known |= c->src[q] == x->src;
        if (!known && c->nsrc < INCIDENT_SOURCES_MAX)
            c->src[c->nsrc++] = x->src;
        r->ents[x->h].h = j + 1; /* the incident it belongs to */
    }
    free(inc);
    return 0;
}

struct best {
    size_t lo, hi; /* ents[lo, hi) */
    uint64_t count, distinct, value;
};

/* The window of the rule's width containing t with the highest value
 * (events, distinct values or criteria, incidents); the earliest on a tie. */
static int best_window(struct hub_rules *r, const struct hub_rule *R, int64_t t, struct best *b)
{
    const struct went *e = r->ents;
    size_t n = r->nents, i = 0, hi;
    int64_t W = R->window_ms;
    int distinct = R->has_distinct || R->incidents;
    uint64_t nd = 0, events = 0;
    while (i < n && e[i].t <= t - W)
        i++;
    if (distinct && htab_prepare(r, n))
        return -1;
    memset(b, 0, sizeof *b);
    for (hi = i; i < n && e[i].t <= t;) {
        int64_t s = e[i].t;
        while (hi < n && e[hi].t - s < W) {
            if (distinct)
                htab_add(r, e[hi].h, &nd);
            events += !e[hi].extra;
            hi++;
        }
        uint64_t v = distinct ? nd : events;
        if (v > b->value) {
            b->lo = i;
            b->hi = hi;
            b->value = v;
            b->count = R->incidents ? nd : events;
            b->distinct = distinct ? nd : events;
        }
        while (i < n && e[i].t == s) {
            if (distinct)
                htab_del(r, e[i].h, &nd);
            events -= !e[i].extra;
            i++;
        }
    }
    return 0;
}

/* reported_at, when the event gives one. */
static int64_t reported_at(const msgpack_object *o, int64_t fallback)
{
    const msgpack_object *v = field(o, "reported_at");
    int64_t ms;
    if (v && v->type == MSGPACK_OBJECT_STR &&
        csph_time_parse(v->via.str.ptr, v->via.str.size, &ms, NULL) == 0)
        return ms;
    return fallback;
}

static int type_in(const char *const *types, size_t n, const char *t, size_t tl)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(types[i]) == tl && !memcmp(types[i], t, tl))
            return 1;
    return 0;
}

#define CRITERIA_MAX CSPH_KEY_EACH_MAX

static enum hub_err eval_window(struct hub_rules *r, struct fire *f, const struct kval *vals,
                                const uint64_t *crit, size_t ncrit, struct hub_error *err)
{
    const struct hub_rule *R = f->R;
    const struct hub_rule_event *ev = f->ev;
    int64_t W = R->window_ms;
    struct went ne = {.t = ev->occurred_ms, .occ = ev->occurred_ms, .seq = ev->seq};
    if (R->distinct_criteria)
        ne.h = crit[0];
    else if (R->has_distinct && !(ne.h = hash_value(hub_path_get(ev->obj, &R->distinct))))
        return CSPH_ERR_OK; /* nothing to count distinctly */
    if (R->incidents) {
        ne.t = reported_at(ev->obj, ev->occurred_ms);
        if (ne.t < ne.occ)
            ne.t = ne.occ; /* a report cannot precede what it reports */
        if (R->report_limit_ms && ne.t - ne.occ > R->report_limit_ms)
            return CSPH_ERR_OK; /* made too long after the behaviour to qualify */
        const msgpack_object *ref = field(ev->obj, "incident_ref"), *src = field(ev->obj, "source");
        ne.ref = hash_value(ref);
        ne.src = hash_value(src);
        ne.merge = !R->merge_types || type_in(R->merge_types, R->nmerge_types, ev->type, ev->type_len);
    }
    struct series ws, fs;
    unsigned char vb[8 * CRITERIA_MAX + 32];
    int existed;
    size_t vlen = entry_write(R, &ne, vb);
    if (R->distinct_criteria) { /* every criterion the event meets for the key */
        for (size_t i = 0; i < ncrit; i++)
            put64(vb + 8 * i, crit[i]);
        vlen = 8 * ncrit;
    }
    series(&ws, 'W', R->sid, vals, f->K->n);
    int first = !hub_rstate_may_exist(r->st, &ws.s);
    enum hub_err e = hub_rstate_put(r->st, &ws.s, ne.t, ne.seq, vb, vlen, &existed, err);
    if (e)
        return e;
    if (existed && R->distinct_criteria) {
        /* The event was counted for some criteria: add any it now meets
         * (one event may meet several) and look again. */
        unsigned char old[CSPH_RS_VALUE_MAX], merged[CSPH_RS_VALUE_MAX];
        size_t olen = sizeof old, mlen;
        int found, added = 0;
        if ((e = hub_rstate_get(r->st, &ws.s, ne.t, ne.seq, old, &olen, &found, err)))
            return e;
        memcpy(merged, old, olen);
        mlen = olen - olen % 8;
        for (size_t i = 0; i < ncrit && mlen + 8 <= sizeof merged; i++) {
            int known = 0;
            for (size_t q = 0; q + 8 <= olen; q += 8)
                known |= get64(old + q) == crit[i];
            if (!known) {
                put64(merged + mlen, crit[i]);
                mlen += 8;
                added = 1;
            }
        }
        if (!added)
            return CSPH_ERR_OK;
        if ((e = hub_rstate_set(r->st, &ws.s, ne.t, ne.seq, merged, mlen, err)))
            return e;
        first = 0;
    } else if (existed) {
        return CSPH_ERR_OK; /* already counted: evaluating an event twice changes nothing */
    }
    if (r->count_only)
        return CSPH_ERR_OK;
    if (first && (uint64_t)R->tiers[0].at_least > (R->distinct_criteria ? ncrit : 1))
        return CSPH_ERR_OK; /* the key's first event: a window of one reaches no tier */
    /* The tiers fired near t first: when the top tier is quiet every tier
     * is (a tier is quiet while the rule fired it or a higher one less than
     * a window from t), and nothing can fire, so the window's entries need
     * not be read. That is the common case of a busy key (a hotspot's
     * thousands of reports, a prolific caller) once it has fired; a key
     * that never fired costs no read (the state's filter). */
    series(&fs, 'F', R->id, vals, f->K->n);
    uint64_t fired;
    if ((e = fired_near(r, &fs, ne.t, W, R->tiers[R->ntiers - 1].at_least, &fired, err)))
        return e;
    if (fired >= (uint64_t)R->tiers[R->ntiers - 1].at_least)
        return CSPH_ERR_OK;
    if ((e = entries_load(r, R, &ws, sat_add(ne.t, -W + 1), sat_add(ne.t, W - 1), err)))
        return e;
    struct best b;
    if ((R->incidents && incidents_assign(r, R)) || best_window(r, R, ne.t, &b))
        return oom(err);
    int reached = -1;
    for (size_t j = 0; j < R->ntiers; j++)
        if (b.value >= (uint64_t)R->tiers[j].at_least)
            reached = (int)j;
    if (reached < 0 || fired >= (uint64_t)R->tiers[reached].at_least)
        return CSPH_ERR_OK; /* no tier reached, or the one reached is quiet */
    unsigned char tier[8];
    put64(tier, (uint64_t)R->tiers[reached].at_least);
    if ((e = hub_rstate_set(r->st, &fs.s, ne.t, ne.seq, tier, sizeof tier, err)))
        return e;
    size_t evoff = r->nev;
    struct anchor a = {ev->seq, ev->occurred_ms};
    f->first_ms = INT64_MAX;
    f->last_ms = INT64_MIN;
    for (size_t q = b.lo; q < b.hi; q++) {
        if ((e = push_evidence(r, r->ents[q].seq, err)))
            return e;
        if (r->ents[q].occ < f->first_ms)
            f->first_ms = r->ents[q].occ;
        if (r->ents[q].occ > f->last_ms)
            f->last_ms = r->ents[q].occ;
    }
    evidence_sort(r, evoff);
    f->count = b.count;
    f->distinct = b.distinct;
    f->threshold = R->tiers[reached].at_least;
    f->priority = R->tiers[reached].priority;
    return add_draft(r, f, vals, &R->tiers[reached], evoff, &a, err);
}

/* ---- prior alerts --------------------------------------------------------- */

struct prior_scan {
    struct hub_rules *r;
    const struct hub_rule *R;
    const struct series *ws; /* the rule's entries: a referral's "same" hash, when it has one */
    enum hub_err e;
    struct hub_error *err;
    uint64_t before_seq; /* only alerts anchored on earlier events (0: any) */
    uint64_t not_seq;    /* ... and not on this one */
    int accepted_only;
    uint64_t same;       /* 0: any */
    size_t found;
    int64_t first;
    int oom;
};

static int prior_one(void *ctx, const struct hub_rs_rec *rec)
{
    struct prior_scan *p = ctx;
    int accepted = rec->len >= 1 && (rec->val[0] & 1);
    if ((p->before_seq && rec->seq >= p->before_seq) || rec->seq == p->not_seq ||
        (p->accepted_only && !accepted))
        return 0;
    if (p->same) { /* the referral's own incident, when the rule counted it */
        unsigned char v[CSPH_RS_VALUE_MAX];
        size_t len = sizeof v;
        int found;
        if ((p->e = hub_rstate_get(p->r->st, &p->ws->s, rec->t, rec->seq, v, &len, &found, p->err)))
            return 1;
        if (found && len >= 8 && get64(v) && get64(v) != p->same)
            return 0; /* both name one, and not the same */
    }
    if (grow((void **)&p->r->ev, &p->r->capev, p->r->nev + 1, sizeof *p->r->ev)) {
        p->oom = 1;
        return 1;
    }
    p->r->ev[p->r->nev++] = rec->seq;
    if (!p->found || rec->t < p->first)
        p->first = rec->t;
    p->found++;
    return 0;
}

static enum hub_err eval_event(struct hub_rules *r, struct fire *f, const struct kval *vals,
                               struct hub_error *err)
{
    const struct hub_rule *R = f->R;
    const struct hub_rule_event *ev = f->ev;
    size_t evoff = r->nev;
    struct anchor a = {ev->seq, ev->occurred_ms};
    enum hub_err e;
    if (r->count_only && !(R->prior && R->prior_accepted))
        return CSPH_ERR_OK; /* a backfill: only what counts events has series to fill */
    f->count = f->distinct = 1;
    f->first_ms = f->last_ms = ev->occurred_ms;
    f->threshold = 1;
    if (R->prior) {
        struct series ps, ws;
        struct prior_scan p = {.r = r, .R = R, .ws = &ws, .err = err};
        series(&ps, 'P', r->panel_id[R->prior_panel], vals, f->K->n);
        series(&ws, 'W', R->sid, vals, f->K->n);
        int64_t from = sat_add(ev->occurred_ms, -R->prior_ms + 1), to = sat_add(ev->occurred_ms, R->prior_ms - 1);
        if (R->prior_accepted) {
            /* SafeLives: an incident within 12 months after a referral the
             * panel accepted; kept as an entry so that an acceptance
             * recorded later finds it (hub_rules_decision). */
            unsigned char vb[32];
            int existed;
            uint64_t same = hash_value(hub_path_get(ev->obj, &R->prior_same));
            struct went ne = {.t = ev->occurred_ms, .seq = ev->seq, .h = same};
            if ((e = hub_rstate_put(r->st, &ws.s, ne.t, ne.seq, vb, entry_write(R, &ne, vb),
                                    &existed, err)) || existed || r->count_only)
                return e;
            p.not_seq = ev->seq;
            p.accepted_only = 1;
            p.same = R->prior_has_same ? same : 0;
            to = ev->occurred_ms;
        } else {
            p.before_seq = ev->seq; /* alerts raised by the same event do not count */
        }
        if (hub_rstate_may_exist(r->st, &ps.s) &&
            ((e = hub_rstate_range(r->st, &ps.s, from, to, prior_one, &p, err)) || (e = p.e)))
            return e;
        if (p.oom)
            return oom(err);
        if (!p.found) {
            r->nev = evoff;
            return CSPH_ERR_OK;
        }
        if (R->prior_accepted) {
            struct series ms;
            int existed;
            series(&ms, 'M', R->id, vals, f->K->n);
            if ((e = hub_rstate_put(r->st, &ms.s, ev->occurred_ms, ev->seq, NULL, 0, &existed, err)))
                return e;
        }
        f->count = f->distinct = p.found;
        f->first_ms = p.first < f->first_ms ? p.first : f->first_ms;
    }
    f->date_ms = ev->occurred_ms;
    if ((e = push_evidence(r, ev->seq, err)))
        return e;
    evidence_sort(r, evoff);
    return add_draft(r, f, vals, &R->tiers[0], evoff, &a, err);
}

/* ---- one event -------------------------------------------------------------- */

static enum hub_err eval_rule(struct hub_rules *r, const struct hub_rule *R,
                              const struct hub_rule_event *ev, struct hub_error *err)
{
    const msgpack_object *o = ev->obj;
    if (r->count_only && !r->unbuilt[R - r->set->rules])
        return CSPH_ERR_OK;
    if (!hub_cond_eval(&R->match, o))
        return CSPH_ERR_OK;
    struct fire f = {.R = R, .ev = ev, .panel = R->panel, .priority = R->tiers[0].priority,
                     .date_ms = ev->occurred_ms};
    if (f.panel < 0) {
        const msgpack_object *v = hub_path_get(o, &R->panel_field);
        if (!v || v->type != MSGPACK_OBJECT_STR ||
            (f.panel = hub_ruleset_panel_find(r->set, v->via.str.ptr, v->via.str.size)) < 0)
            return CSPH_ERR_OK;
    }
    if (R->prio_from_field) {
        const msgpack_object *v = hub_path_get(o, &R->prio_field);
        int p = v && v->type == MSGPACK_OBJECT_STR ? hub_priority_parse(v->via.str.ptr, v->via.str.size)
                                                   : -1;
        if (p < 0)
            return CSPH_ERR_OK;
        p += R->prio_raise;
        f.priority = (enum hub_priority)(p > CSPH_PRIORITY_HIGH ? CSPH_PRIORITY_HIGH : p);
    }
    struct kval vals[CSPH_KEY_EACH_MAX][CSPH_KEY_MAX_FIELDS];
    char num[CSPH_KEY_EACH_MAX][CSPH_KEY_MAX_FIELDS][24];
    int ok[CSPH_KEY_EACH_MAX] = {0};
    for (size_t a = 0; a < R->nkeys; a++) {
        const struct hub_keyspec *K = &R->keys[a];
        ok[a] = (!K->ntypes || type_in(K->types, K->ntypes, ev->type, ev->type_len)) &&
                hub_cond_eval(&K->match, o) && !key_values(K, o, vals[a], num[a]);
    }
    for (size_t a = 0; a < R->nkeys; a++) {
        const struct hub_keyspec *K = &R->keys[a];
        if (!ok[a])
            continue;
        /* Alternatives naming the same key value(s) (the victim is also the
         * perpetrator; one event meets two criteria): one evaluation, at
         * the first of them, with every criterion they meet. */
        int seen = 0;
        uint64_t crit[CRITERIA_MAX];
        size_t ncrit = 0;
        for (size_t b = 0; b < R->nkeys; b++) {
            if (!ok[b] || R->keys[b].n != K->n)
                continue;
            int same = 1;
            for (size_t i = 0; i < K->n && same; i++)
                same = vals[a][i].tag == vals[b][i].tag && vals[a][i].n == vals[b][i].n &&
                       !memcmp(vals[a][i].p, vals[b][i].p, vals[a][i].n);
            if (!same)
                continue;
            if (b < a) {
                seen = 1;
                break;
            }
            if (R->keys[b].criterion) {
                uint64_t h = hash_text(R->keys[b].criterion, strlen(R->keys[b].criterion));
                int known = 0;
                for (size_t q = 0; q < ncrit; q++)
                    known |= crit[q] == h;
                if (!known)
                    crit[ncrit++] = h;
            }
        }
        if (seen)
            continue;
        f.K = K;
        enum hub_err e = R->windowed ? eval_window(r, &f, vals[a], crit, ncrit, err)
                                      : eval_event(r, &f, vals[a], err);
        if (e)
            return e;
    }
    return CSPH_ERR_OK;
}

/* Every draft is remembered on its panel at its anchor (a later rule set
 * may name any panel in a prior_alert, and decisions on any alert are
 * kept): a record or two per alert, against a record per event and rule. */
static enum hub_err remember(struct hub_rules *r, size_t from, struct hub_error *err)
{
    for (size_t i = from; i < r->ndrafts; i++) {
        const struct hub_alert_draft *d = &r->drafts[i];
        const struct anchor *a = &r->anchors[i];
        struct kval vals[CSPH_KEY_MAX_FIELDS];
        for (size_t k = 0; k < d->nkey; k++)
            vals[k] = (struct kval){r->keyvals[i].v[k], r->keyvals[i].len[k], r->keyvals[i].tag[k]};
        unsigned char v[1] = {0}, occ[8];
        put64(occ, (uint64_t)a->occ);
        struct series ps, qs;
        int existed;
        series(&ps, 'P', r->panel_id[d->panel_index], vals, d->nkey);
        series(&qs, 'Q', r->panel_id[d->panel_index], NULL, 0);
        enum hub_err e = hub_rstate_put(r->st, &ps.s, a->occ, a->seq, v, sizeof v, &existed, err);
        if (!e)
            e = hub_rstate_set(r->st, &qs.s, 0, a->seq, occ, sizeof occ, err);
        if (e)
            return e;
    }
    return CSPH_ERR_OK;
}

static void drafts_out(struct hub_rules *r, const struct hub_alert_draft **drafts, size_t *n)
{
    for (size_t i = 0; i < r->ndrafts; i++) {
        struct hub_alert_draft *d = &r->drafts[i];
        d->evidence = r->ev + r->evoff[i];
        for (size_t k = 0; k < d->nkey; k++)
            d->key_values[k] = r->keyvals[i].v[k];
    }
    *drafts = r->drafts;
    *n = r->ndrafts;
}

static enum hub_err begin(struct hub_rules *r, MDB_txn *txn, struct hub_error *err)
{
    enum hub_err e = hub_rstate_begin(r->st, txn, err);
    uint32_t version = STATE_VERSION;
    size_t len;
    int found;
    uint32_t v = 0;
    if (e || r->began)
        return e; /* the version is checked once per engine (the index is rebuilt, not converted) */
    r->began = 1;
    if ((e = hub_rstate_meta_get(r->st, "version", &v, sizeof v, &len, &found, err)))
        return e;
    if (!found)
        return hub_rstate_meta_put(r->st, "version", &version, sizeof version, err);
    if (v != STATE_VERSION)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                             "rules: the rule state in the index is version %u, this hub writes "
                             "version %u (remove index.mdb: it is rebuilt from the log)",
                             v, STATE_VERSION);
    return CSPH_ERR_OK;
}

enum hub_err hub_rules_eval(struct hub_rules *r, MDB_txn *txn, const struct hub_rule_event *ev,
                            const struct hub_alert_draft **drafts, size_t *ndrafts,
                            struct hub_error *err)
{
    const struct hub_ruleset *set = r->set;
    enum hub_err e;
    *drafts = NULL;
    *ndrafts = 0;
    r->ndrafts = 0;
    r->nev = 0;
    if ((e = begin(r, txn, err)))
        return e;
    for (size_t s = 0; s < set->ntypes; s++) {
        const struct hub_type_slot *ts = &set->types[s];
        if (ts->len != ev->type_len || memcmp(ts->name, ev->type, ev->type_len))
            continue;
        for (size_t i = 0; i < ts->n; i++)
            if ((e = eval_rule(r, &set->rules[ts->rules[i]], ev, err)))
                return e;
        break;
    }
    if ((e = remember(r, 0, err)))
        return e;
    hub_rstate_end(r->st);
    drafts_out(r, drafts, ndrafts);
    return CSPH_ERR_OK;
}

/* ---- decisions ---------------------------------------------------------------- */

struct repeat_scan {
    struct hub_rules *r;
    const struct hub_rule *R;
    const struct series *ms;
    const struct hub_rule_decision *dec; /* its alert's own evidence is the referral, not a repeat */
    uint64_t same;
    int64_t last_occ;
    size_t found;
    enum hub_err e;
    struct hub_error *err;
};

static int repeat_one(void *ctx, const struct hub_rs_rec *rec)
{
    struct repeat_scan *p = ctx;
    struct went w = entry_read(p->R, rec);
    int found;
    unsigned char v[CSPH_RS_VALUE_MAX];
    size_t len = sizeof v;
    if (rec->seq == p->dec->anchor_seq || (p->same && w.h && w.h != p->same))
        return 0;
    for (size_t i = 0; i < p->dec->nevidence; i++)
        if (p->dec->evidence[i] == rec->seq)
            return 0;
    if ((p->e = hub_rstate_get(p->r->st, &p->ms->s, rec->t, rec->seq, v, &len, &found, p->err)))
        return 1;
    if (found)
        return 0; /* already cited by an alert of this rule */
    if ((p->e = push_evidence(p->r, rec->seq, p->err)))
        return 1;
    if (grow((void **)&p->r->tmp, &p->r->captmp, p->found + 1, sizeof *p->r->tmp)) {
        p->e = oom(p->err);
        return 1;
    }
    p->r->tmp[p->found] = w;
    p->found++;
    p->last_occ = rec->t;
    return 0;
}

enum hub_err hub_rules_decision(struct hub_rules *r, MDB_txn *txn,
                                const struct hub_rule_decision *dec,
                                const struct hub_alert_draft **drafts, size_t *ndrafts,
                                struct hub_error *err)
{
    const struct hub_ruleset *set = r->set;
    enum hub_err e;
    *drafts = NULL;
    *ndrafts = 0;
    r->ndrafts = 0;
    r->nev = 0;
    if ((e = begin(r, txn, err)))
        return e;
    if (!dec->accepted || dec->panel_index < 0 || (size_t)dec->panel_index >= set->npanels ||
        dec->nkey > CSPH_KEY_MAX_FIELDS)
        return CSPH_ERR_OK;
    struct kval vals[CSPH_KEY_MAX_FIELDS];
    for (size_t k = 0; k < dec->nkey; k++)
        vals[k] = (struct kval){dec->key_values[k], strlen(dec->key_values[k]), dec->key_tags[k]};
    struct series ps, qs;
    unsigned char v[CSPH_RS_VALUE_MAX];
    size_t len = sizeof v;
    int found;
    series(&qs, 'Q', r->panel_id[dec->panel_index], NULL, 0);
    if ((e = hub_rstate_get(r->st, &qs.s, 0, dec->anchor_seq, v, &len, &found, err)) || !found ||
        len < 8)
        return e; /* an alert the rules did not remember: nothing follows from it */
    int64_t ref_occ = (int64_t)get64(v);
    series(&ps, 'P', r->panel_id[dec->panel_index], vals, dec->nkey);
    len = sizeof v;
    if ((e = hub_rstate_get(r->st, &ps.s, ref_occ, dec->anchor_seq, v, &len, &found, err)) ||
        !found || len < 1 || (v[0] & 1))
        return e; /* unknown, or accepted before: a second acceptance adds nothing */
    v[0] |= 1;
    if ((e = hub_rstate_set(r->st, &ps.s, ref_occ, dec->anchor_seq, v, 1, err)))
        return e;
    /* Incidents that arrived before the acceptance was recorded: the repeat
     * is raised now, citing them (SafeLives counts from the referral). */
    static const msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
    struct hub_rule_event ev = {.seq = dec->seq, .type = "alert.status", .type_len = 12,
                                .occurred_ms = dec->occurred_ms, .received_ms = dec->received_ms,
                                .obj = dec->obj ? dec->obj : &nil};
    for (size_t i = 0; i < set->nrules; i++) {
        const struct hub_rule *R = &set->rules[i];
        if (!R->prior || !R->prior_accepted || R->prior_panel != dec->panel_index ||
            R->panel < 0 || R->keys[0].n != dec->nkey)
            continue;
        struct series ws, ms;
        series(&ws, 'W', R->sid, vals, dec->nkey);
        series(&ms, 'M', R->id, vals, dec->nkey);
        size_t evoff = r->nev;
        uint64_t ref_same = 0; /* the referral's own incident's, when the rule counted it */
        if (R->prior_has_same) {
            len = sizeof v;
            if ((e = hub_rstate_get(r->st, &ws.s, ref_occ, dec->anchor_seq, v, &len, &found, err)))
                return e;
            if (found && len >= 8)
                ref_same = get64(v);
        }
        struct repeat_scan p = {r, R, &ms, dec, ref_same, 0, 0, CSPH_ERR_OK, err};
        if ((e = hub_rstate_range(r->st, &ws.s, ref_occ, sat_add(ref_occ, R->prior_ms - 1),
                                  repeat_one, &p, err)) || (e = p.e))
            return e;
        if (!p.found) {
            r->nev = evoff;
            continue;
        }
        for (size_t q = 0; q < p.found; q++) { /* cited: not again by this rule */
            int existed;
            if ((e = hub_rstate_put(r->st, &ms.s, r->tmp[q].t, r->tmp[q].seq, NULL, 0, &existed,
                                    err)))
                return e;
        }
        if ((e = push_evidence(r, dec->anchor_seq, err)))
            return e;
        evidence_sort(r, evoff);
        struct fire f = {.R = R, .ev = &ev, .panel = R->panel, .priority = R->tiers[0].priority,
                         .K = &R->keys[0], .count = p.found, .distinct = p.found,
                         .first_ms = ref_occ, .last_ms = p.last_occ, .date_ms = p.last_occ,
                         .threshold = 1};
        /* Its anchor is the newest event of its evidence (as for every
         * alert: a decision on it names it so). */
        struct anchor a = {dec->anchor_seq, ref_occ};
        for (size_t q = 0; q < p.found; q++)
            if (r->tmp[q].seq > a.seq)
                a = (struct anchor){r->tmp[q].seq, r->tmp[q].t};
        if ((e = add_draft(r, &f, vals, &R->tiers[0], evoff, &a, err)))
            return e;
    }
    if ((e = remember(r, 0, err)))
        return e;
    hub_rstate_end(r->st);
    drafts_out(r, drafts, ndrafts);
    return CSPH_ERR_OK;
}

/* ---- series built from the whole log --------------------------------------------- */

/* What decides which events a rule counts is hashed into its series id
 * (sid): a rule whose sid is new (added, or its tests or key edited) has
 * series holding only the events evaluated since. The ingest fills them
 * from the whole log (hub_rules_backfill), then marks them built. */
static int counts_events(const struct hub_rule *R)
{
    return R->windowed || (R->prior && R->prior_accepted);
}

static void built_name(char *name, size_t n, const struct hub_rule *R)
{
    uint64_t v;
    memcpy(&v, R->sid, 8);
    snprintf(name, n, "built:%016llx", (unsigned long long)v);
}

enum hub_err hub_rules_unbuilt(struct hub_rules *r, MDB_txn *txn, size_t *n,
                               struct hub_error *err)
{
    enum hub_err e = begin(r, txn, err);
    *n = 0;
    if (!e && !r->unbuilt && !(r->unbuilt = calloc(r->set->nrules ? r->set->nrules : 1, 1)))
        e = oom(err);
    for (size_t i = 0; !e && i < r->set->nrules; i++) {
        const struct hub_rule *R = &r->set->rules[i];
        char name[40], v;
        size_t len;
        int found = 0;
        r->unbuilt[i] = 0;
        if (!counts_events(R))
            continue;
        built_name(name, sizeof name, R);
        if ((e = hub_rstate_meta_get(r->st, name, &v, 1, &len, &found, err)))
            break;
        r->unbuilt[i] = !found;
        *n += !found;
    }
    return e;
}

enum hub_err hub_rules_backfill(struct hub_rules *r, MDB_txn *txn,
                                const struct hub_rule_event *ev, struct hub_error *err)
{
    const struct hub_alert_draft *drafts;
    size_t n;
    if (!r->unbuilt)
        return CSPH_ERR_OK;
    r->count_only = 1;
    enum hub_err e = hub_rules_eval(r, txn, ev, &drafts, &n, err);
    r->count_only = 0;
    return e;
}

enum hub_err hub_rules_mark_built(struct hub_rules *r, MDB_txn *txn, struct hub_error *err)
{
    return hub_rules_mark_built_only(r, txn, NULL, err);
}

int hub_rules_counts_alike(const struct hub_rules *r, size_t i, const struct hub_rules *other)
{
    if (i >= r->set->nrules)
        return 0;
    const struct hub_rule *R = &r->set->rules[i];
    for (size_t j = 0; other && j < other->set->nrules; j++)
        if (counts_events(&other->set->rules[j]) &&
            !memcmp(other->set->rules[j].sid, R->sid, sizeof R->sid))
            return 1;
    return 0;
}

enum hub_err hub_rules_mark_built_only(struct hub_rules *r, MDB_txn *txn,
                                       const unsigned char *whole, struct hub_error *err)
{
    enum hub_err e = begin(r, txn, err);
    for (size_t i = 0; !e && i < r->set->nrules; i++) {
        char name[40];
        if (!counts_events(&r->set->rules[i]) || (whole && !whole[i]))
            continue;
        built_name(name, sizeof name, &r->set->rules[i]);
        e = hub_rstate_meta_put(r->st, name, "1", 1, err);
        if (r->unbuilt)
            r->unbuilt[i] = 0;
    }
    return e;
}

/* ---- forgetting a person ---------------------------------------------------------- */

enum hub_err hub_rules_forget(struct hub_rules *r, MDB_txn *txn, const char *value, size_t len,
                              uint64_t *records, struct hub_error *err)
{
    enum hub_err e = begin(r, txn, err);
    if (e)
        return e;
    *records = 0;
    /* A key of one field (every rule of the default pack) names the value's
     * series exactly: its window, the tiers it fired, the acceptances it
     * met, and the alerts remembered on each panel; each is dropped by its
     * prefix. A rule keyed on several fields cannot be found that way: the
     * whole state is read for the value then (at 10 million events, a few
     * seconds inside the erasure's batch). */
    const struct hub_ruleset *set = r->set;
    struct kval v = {value, len, 's'};
    int several = 0;
    for (size_t i = 0; i < set->nrules && !e; i++) {
        const struct hub_rule *R = &set->rules[i];
        int one = 0;
        for (size_t a = 0; a < R->nkeys; a++)
            if (R->keys[a].n == 1)
                one = 1;
            else
                several = 1;
        if (!one)
            continue;
        struct series s[3];
        series(&s[0], 'W', R->sid, &v, 1);
        series(&s[1], 'F', R->id, &v, 1);
        series(&s[2], 'M', R->id, &v, 1);
        for (int k = 0; k < 3 && !e; k++) {
            uint64_t n = 0;
            e = hub_rstate_drop(r->st, &s[k].s, &n, err);
            *records += n;
        }
    }
    for (size_t p = 0; p < set->npanels && !e; p++) {
        struct series s;
        uint64_t n = 0;
        series(&s, 'P', r->panel_id[p], &v, 1);
        e = hub_rstate_drop(r->st, &s.s, &n, err);
        *records += n;
    }
    if (!e && several) {
        uint64_t n = 0;
        e = hub_rstate_drop_value(r->st, 's', value, len, &n, err);
        *records += n;
    }
    return e;
}

/* ---- the transaction ---------------------------------------------------------- */

enum hub_err hub_rules_state_size(struct hub_rules *r, MDB_txn *txn, uint64_t *entries,
                                  uint64_t *bytes, struct hub_error *err)
{
    (void)r;
    return hub_rstate_size(txn, entries, bytes, err);
}
