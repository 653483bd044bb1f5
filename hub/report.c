#define _GNU_SOURCE /* qsort_r */
#include "reportpriv.h"

#include <lmdb.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "log.h"
#include "londontime.h"
#include "mpx.h"
#include "queues.h"
#include "reportcase.h"
#include "intern.h"
#include "store.h"
#include "suppress.h"
#include "timefmt.h"
#include "wire.h"


/* ---- periods ------------------------------------------------------------ */

static int days_in_month(int y, int m)
{
    static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : d[m - 1];
}

/* "YYYY-MM-DD", or "YYYY-MM" (first day when start, last when not). */
static int parse_day(const char *s, size_t len, int start, int *y, int *m, int *d)
{
    char buf[16];
    if (len != 7 && len != 10)
        return -1;
    memcpy(buf, s, len);
    buf[len] = 0;
    for (size_t i = 0; i < len; i++)
        if (i == 4 || i == 7 ? buf[i] != '-' : (buf[i] < '0' || buf[i] > '9'))
            return -1;
    *y = atoi(buf);
    *m = atoi(buf + 5);
    if (*y < 1970 || *y > 9998 || *m < 1 || *m > 12)
        return -1;
    *d = len == 10 ? atoi(buf + 8) : start ? 1 : days_in_month(*y, *m);
    return *d >= 1 && *d <= days_in_month(*y, *m) ? 0 : -1;
}

enum hub_err hub_report_period(const char *from, size_t from_len, const char *to, size_t to_len,
                               int whole_months, struct hub_report_params *p,
                               struct hub_error *err)
{
    if (parse_day(from, from_len, 1, &p->from_y, &p->from_m, &p->from_d))
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "from", "from must be a date YYYY-MM-DD "
                             "(or a month YYYY-MM) from 1970, not '%.*s'",
                             (int)(from_len > 40 ? 40 : from_len), from);
    if (parse_day(to, to_len, 0, &p->to_y, &p->to_m, &p->to_d))
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "to", "to must be a date YYYY-MM-DD "
                             "(or a month YYYY-MM) from 1970, not '%.*s'",
                             (int)(to_len > 40 ? 40 : to_len), to);
    int64_t a = csph_days_from_civil(p->from_y, (unsigned)p->from_m, (unsigned)p->from_d);
    int64_t b = csph_days_from_civil(p->to_y, (unsigned)p->to_m, (unsigned)p->to_d);
    if (b < a)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "to", "the period ends (to %.*s) before "
                             "it starts (from %.*s)", (int)to_len, to, (int)from_len, from);
    int64_t months = csph_month_ordinal(p->to_y, (unsigned)p->to_m) -
                     csph_month_ordinal(p->from_y, (unsigned)p->from_m) + 1;
    if (months > CSPH_REPORT_MONTHS_MAX)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "to", "a report spans at most %d months; "
                             "this one spans %lld", CSPH_REPORT_MONTHS_MAX, (long long)months);
    if (whole_months && (p->from_d != 1 || p->to_d != days_in_month(p->to_y, p->to_m)))
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, p->from_d != 1 ? "from" : "to",
                             "this identity may report only whole calendar months: from the "
                             "first of a month to the last day of a month (or give YYYY-MM)");
    return CSPH_ERR_OK;
}


static int64_t day_start_clamped(int y, int m, int d)
{
    int dim = days_in_month(y, m);
    return csph_london_day_start(y, (unsigned)m, (unsigned)(d > dim ? dim : d));
}

static void period_init(struct period *P, const struct hub_report_params *p)
{
    for (int k = 0; k < 2; k++) {
        P->from_ms[k] = day_start_clamped(p->from_y - k, p->from_m, p->from_d);
        /* The day after the last: its start ends the period. */
        int ty = p->to_y - k, tm = p->to_m, td = p->to_d + 1;
        if (td > days_in_month(ty, tm)) {
            td = 1;
            if (++tm == 13) {
                tm = 1;
                ty++;
            }
        }
        P->to_ms[k] = day_start_clamped(ty, tm, td);
        P->mo0[k] = csph_month_ordinal(p->from_y - k, (unsigned)p->from_m);
    }
    P->nm = (int)(csph_month_ordinal(p->to_y, (unsigned)p->to_m) - P->mo0[0] + 1);
}

static int64_t month_of(int64_t ms)
{
    int y;
    unsigned m;
    csph_london_month_of(ms, &y, &m);
    return csph_month_ordinal(y, m);
}

/* The month index within period k of the instant ms, or -1 outside it. */
static int bucket(const struct period *P, int k, int64_t ms)
{
    if (ms == NO_TIME || ms < P->from_ms[k] || ms >= P->to_ms[k])
        return -1;
    int64_t b = month_of(ms) - P->mo0[k];
    return b >= 0 && b < P->nm ? (int)b : -1;
}


/* ---- growable arrays ---------------------------------------------------- */


static void *vec_push(struct vec *a)
{
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 256;
        void *v = realloc(a->v, nc * a->size);
        if (!v)
            return NULL;
        a->v = v;
        a->cap = nc;
    }
    return (char *)a->v + a->size * a->n++;
}

/* ---- what one run collects ---------------------------------------------- */


/* One thread's share of the log pass: the seqs after..until. What it
 * collects is its own, merged into the run in seq order when both are
 * done; the alerts it marks (those raised by its seqs) are its only. */
struct part {
    struct run *r;
    uint64_t after, until;
    size_t next_anchor;
    struct hub_intern people;
    struct vec *pev;       /* per indicator */
    int64_t (*cnt)[2][CSPH_REPORT_MONTHS_MAX];
    int64_t (*nr)[2];
    int64_t (*unev)[2]; /* per indicator: redacted records not evaluated */
    struct vec decisions;
    struct hub_rcase rcase;
    struct vec ex;
    msgpack_zone zone;
    int fail;
    enum hub_err rc;
    struct hub_error err;
    uint64_t cpu_ns;
};

/* An explanation computes only the indicator it explains. */
static int wanted(const struct run *r, size_t i)
{
    return r->p->explain < 0 || r->p->explain == (int)i;
}


static int alert_matches(const struct run *r, size_t i, const struct ralert *a)
{
    const struct hub_indicator *I = &r->ind->v[i];
    if (I->panel >= 0 && a->panel != I->panel)
        return 0;
    if (!I->nrules)
        return 1;
    for (size_t k = 0; k < I->nrules; k++)
        if (r->ind_rules[i][k] == a->rule)
            return 1;
    return 0;
}

/* ---- pass 1: the alerts ------------------------------------------------- */

static uint64_t thread_cpu_ns(void);
static int vec_append(struct vec *to, struct vec *from);

/* The alerts are read as stored (hub_queues_each_raw_in), not packed and
 * unpacked whole: at 10 million events the log holds about 2 million alerts,
 * and building each as a msgpack object cost more than the log pass. An
 * alert no indicator counts is passed over on its panel and rule; for the
 * others, only the key and the evidence are walked, in place. The values
 * are those the alert's packed form gives (raised_at and due_at are packed
 * from the same milliseconds). */

static int raw_key_is(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && !memcmp(s, want, n);
}

/* What one thread of the alerts pass collects: its alerts (id order), and
 * the keys and rules interned as it met them. */
struct apart {
    struct run *r;
    struct hub_queues *queues;
    uint64_t after, until;
    struct vec alerts;
    struct hub_intern keys, rules;
    int fail;
    enum hub_err rc;
    struct hub_error err;
    uint64_t cpu_ns;
};

static int alert_keep(const struct run *r, int pi, const char *rule, size_t rule_len)
{
    for (size_t i = 0; i < r->ind->n; i++) {
        const struct hub_indicator *I = &r->ind->v[i];
        if (!ind_uses_alerts(I) || (I->panel >= 0 && I->panel != pi) ||
            (r->p->explain >= 0 && r->p->explain != (int)i))
            continue;
        if (!I->nrules)
            return 1;
        for (size_t k = 0; k < I->nrules; k++)
            if (strlen(I->rules[k]) == rule_len && !memcmp(I->rules[k], rule, rule_len))
                return 1;
    }
    return 0;
}

/* Whether an alert's key is needed: by a distinct-keys indicator that may
 * count it, or to list it in an explanation. The key is the one field
 * interned per alert, the costliest part of the pass at millions. */
static int alert_key_needed(const struct run *r, int pi, const char *rule, size_t rule_len)
{
    if (r->p->explain >= 0)
        return 1;
    for (size_t i = 0; i < r->ind->n; i++) {
        const struct hub_indicator *I = &r->ind->v[i];
        if (I->measure != CSPH_IND_ALERT_KEYS || (I->panel >= 0 && I->panel != pi))
            continue;
        if (!I->nrules)
            return 1;
        for (size_t k = 0; k < I->nrules; k++)
            if (strlen(I->rules[k]) == rule_len && !memcmp(I->rules[k], rule, rule_len))
                return 1;
    }
    return 0;
}

static int alert_visit(void *vctx, const struct hub_alert_raw *x)
{
    struct apart *q = vctx;
    const struct run *r = q->r;
    const char *b = x->pairs, *rule = x->rule, *keyv = NULL, *evv = NULL;
    size_t len = x->pairs_len, rule_len = x->rule_len, off = 0, keyo = 0, evo = 0;
    /* The stored header keeps at most 255 bytes of the rule: a longer one
     * (never written by the shipped rules) is read from the pairs. */
    int long_rule = rule_len >= 255, pi = hub_config_panel_find(r->cfg, x->panel, x->panel_len);
    /* Keep only the alerts some indicator counts. */
    if (!long_rule && !alert_keep(r, pi, rule, rule_len))
        return 0;
    for (uint32_t i = 0; i < x->npairs; i++) {
        const char *k;
        size_t kn;
        if (hub_mp_raw_str(b, len, &off, &k, &kn))
            return 0; /* not ours to judge here: the queues wrote it */
        if (raw_key_is(k, kn, "key")) {
            keyv = b;
            keyo = off;
        } else if (raw_key_is(k, kn, "evidence")) {
            evv = b;
            evo = off;
            if (keyv && !long_rule)
                break; /* all that is read (evidence is walked once, below) */
        } else if (long_rule && raw_key_is(k, kn, "rule")) {
            size_t o = off;
            if (hub_mp_raw_str(b, len, &o, &rule, &rule_len))
                return 0;
        }
        if (hub_mp_check(b, len, &off, 32))
            return 0;
    }
    if (long_rule && !alert_keep(r, pi, rule, rule_len))
        return 0;
    struct ralert *a = vec_push(&q->alerts);
    uint32_t rid;
    if (!a || (rid = hub_intern_get(&q->rules, rule, rule_len)) == UINT32_MAX) {
        q->fail = 1;
        return 1;
    }
    memset(a, 0, sizeof *a);
    a->id = x->id;
    a->panel = pi;
    a->rule = rid;
    a->occ_ms = NO_TIME;
    a->raised_ms = x->raised_ms;
    a->due_ms = x->due_ms == INT64_MIN ? NO_TIME : x->due_ms;
    a->decided_ms = NO_TIME;
    uint32_t cnt;
    if (evv && !hub_mp_header(b, len, &evo, 0, &cnt))
        for (uint32_t i = 0; i < cnt; i++) {
            uint64_t v;
            int t = hub_mp_raw_uint(b, len, &evo, &v);
            if (t < 0)
                break;
            if (t && v > a->anchor)
                a->anchor = v;
        }
    /* The key as one string: its values in order, so {victim: P-1} and
     * {caller: P-1} are one person (a value as "%.*s" would print it). */
    char kb[512];
    size_t kl = 0;
    a->key = UINT32_MAX;
    if (!alert_key_needed(r, pi, rule, rule_len))
        return 0;
    if (keyv && !hub_mp_header(b, len, &keyo, 1, &cnt))
        for (uint32_t i = 0; i < cnt; i++) {
            const char *s;
            size_t n;
            uint64_t v;
            if (hub_mp_check(b, len, &keyo, 8)) /* the pair's key */
                break;
            size_t vo = keyo;
            char num[24];
            if (!hub_mp_raw_str(b, len, &vo, &s, &n)) {
                n = strnlen(s, n);
            } else if (vo = keyo, hub_mp_raw_uint(b, len, &vo, &v) == 1) {
                n = (size_t)snprintf(num, sizeof num, "%llu", (unsigned long long)v);
                s = num;
            } else {
                if (hub_mp_check(b, len, &keyo, 8))
                    break;
                continue;
            }
            keyo = vo;
            size_t w = (i ? 1 : 0) + n;
            if (w >= sizeof kb - kl)
                break;
            if (i)
                kb[kl++] = ',';
            memcpy(kb + kl, s, n);
            kl += n;
        }
    if ((a->key = hub_intern_get(&q->keys, kb, kl)) == UINT32_MAX) {
        q->fail = 1;
        return 1;
    }
    return 0;
}

static void apart_scan(void *arg)
{
    struct apart *q = arg;
    uint64_t t0 = thread_cpu_ns();
    MDB_txn *txn;
    int rc = mdb_txn_begin(hub_store_env(q->r->st), NULL, MDB_RDONLY, &txn);
    if (rc) {
        q->rc = hub_error_set(&q->err, CSPH_ERR_INTERNAL, NULL, "reading the alerts: %s",
                              mdb_strerror(rc));
    } else {
        q->rc = hub_queues_each_raw_in(q->queues, txn, q->after, q->until, alert_visit, q, &q->err);
        mdb_txn_abort(txn);
    }
    q->cpu_ns = thread_cpu_ns() - t0;
}

static void apart_free(struct apart *q)
{
    free(q->alerts.v);
    hub_intern_free(&q->keys);
    hub_intern_free(&q->rules);
}

/* Pass 1: two threads (as the log pass), then one list in id order with the
 * run's key and rule ids. A part's ids are given in the order the part met
 * them, so the run's ids are those one pass in id order would have given. */
#define APARTS 2
static int alerts_pass(struct run *r, struct hub_queues *queues, struct hub_error *err)
{
    struct apart parts[APARTS];
    uint64_t last = 0;
    int rc = 0;
    memset(parts, 0, sizeof parts);
    MDB_txn *txn;
    int lrc = mdb_txn_begin(hub_store_env(r->st), NULL, MDB_RDONLY, &txn);
    if (lrc) {
        hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "reading the alerts: %s", mdb_strerror(lrc));
        return -2;
    }
    enum hub_err e = hub_queues_last_id_in(queues, txn, &last, err);
    mdb_txn_abort(txn);
    if (e)
        return -2;
    for (int k = 0; k < APARTS; k++) {
        struct apart *q = &parts[k];
        q->r = r;
        q->queues = queues;
        q->alerts.size = sizeof(struct ralert);
        q->after = last / APARTS * (uint64_t)k;
        q->until = last / APARTS * (uint64_t)(k + 1);
        if (k == APARTS - 1)
            q->until = last;
    }
    uv_thread_t th[APARTS];
    int started[APARTS] = {0};
    for (int k = 1; k < APARTS; k++)
        started[k] = uv_thread_create(&th[k], apart_scan, &parts[k]) == 0;
    apart_scan(&parts[0]);
    for (int k = 1; k < APARTS; k++) {
        if (started[k])
            uv_thread_join(&th[k]);
        else
            apart_scan(&parts[k]); /* no thread: the same work here */
    }
    uint32_t *kmap = NULL, *rmap = NULL;
    for (int k = 0; k < APARTS && !rc; k++) {
        struct apart *q = &parts[k];
        if (q->rc) {
            *err = q->err;
            rc = -2;
            break;
        }
        if (q->fail) {
            rc = -1;
            break;
        }
        /* this part's ids as the run's, in the order the part gave them */
        free(kmap);
        free(rmap);
        kmap = malloc((q->keys.n + 1) * sizeof *kmap);
        rmap = malloc((q->rules.n + 1) * sizeof *rmap);
        if (!kmap || !rmap) {
            rc = -1;
            break;
        }
        for (uint32_t j = 0; j < q->keys.n && !rc; j++)
            if ((kmap[j] = hub_intern_get(&r->keys, hub_intern_str(&q->keys, j),
                                          hub_intern_len(&q->keys, j))) == UINT32_MAX)
                rc = -1;
        for (uint32_t j = 0; j < q->rules.n && !rc; j++)
            if ((rmap[j] = hub_intern_get(&r->rules, hub_intern_str(&q->rules, j),
                                          hub_intern_len(&q->rules, j))) == UINT32_MAX)
                rc = -1;
        struct ralert *v = q->alerts.v;
        for (size_t j = 0; j < q->alerts.n && !rc; j++) {
            if (v[j].key != UINT32_MAX)
                v[j].key = kmap[v[j].key];
            v[j].rule = rmap[v[j].rule];
        }
        if (!rc && vec_append(&r->alerts, &q->alerts))
            rc = -1;
    }
    free(kmap);
    free(rmap);
    for (int k = 1; k < APARTS; k++)
        r->other_cpu_ns += parts[k].cpu_ns;
    for (int k = 0; k < APARTS; k++)
        apart_free(&parts[k]);
    return rc;
}

static int cmp_anchor(const void *x, const void *y)
{
    const struct anchor *a = x, *b = y;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return a->alert < b->alert ? -1 : a->alert > b->alert;
}

/* ---- pass 2: the log ---------------------------------------------------- */

static int test_ok(const struct hub_ind_test *t, const msgpack_object *ev)
{
    const msgpack_object *v = hub_mp_path(ev, t->field);
    if (!v)
        return 0;
    if (t->range) {
        int64_t x;
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX)
            x = (int64_t)v->via.u64;
        else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            x = v->via.i64;
        else
            return 0;
        return x >= t->min && x <= t->max;
    }
    for (size_t i = 0; i < t->nvalues; i++) {
        const char *want = t->values[i];
        switch (v->type) {
        case MSGPACK_OBJECT_STR:
            if (hub_mp_str_eq(v, want))
                return 1;
            break;
        case MSGPACK_OBJECT_BOOLEAN:
            if (!strcmp(want, v->via.boolean ? "true" : "false"))
                return 1;
            break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: {
            char buf[32];
            if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                snprintf(buf, sizeof buf, "%llu", (unsigned long long)v->via.u64);
            else
                snprintf(buf, sizeof buf, "%lld", (long long)v->via.i64);
            if (!strcmp(want, buf))
                return 1;
            break;
        }
        default: break;
        }
    }
    return 0;
}

/* Where an event is: *in_area (in the report's area; 1 when the report is
 * partnership-wide) and *no_area (neither location.lsoa nor location.ward). */
static void event_area(const struct run *r, const msgpack_object *ev, unsigned char *in_area,
                       unsigned char *no_area)
{
    const msgpack_object *loc = hub_mp_get(ev, "location"), *l = NULL, *w = NULL;
    if (loc) {
        l = hub_mp_get(loc, "lsoa");
        w = hub_mp_get(loc, "ward");
        if (l && l->type != MSGPACK_OBJECT_STR)
            l = NULL;
        if (w && w->type != MSGPACK_OBJECT_STR)
            w = NULL;
    }
    *no_area = !l && !w;
    *in_area = !r->area || hub_area_has(r->area, l ? l->via.str.ptr : NULL,
                                        l ? l->via.str.size : 0, w ? w->via.str.ptr : NULL,
                                        w ? w->via.str.size : 0);
}

static int explaining(const struct run *r, size_t i) { return r->p->explain == (int)i; }

static void explain_add(struct run *r, uint64_t v)
{
    uint64_t *x = vec_push(&r->ex);
    if (!x)
        r->fail = 1;
    else
        *x = v;
}

static int type_eq(const struct hub_stored_event *e, const char *t)
{
    return e->type_len == strlen(t) && !memcmp(e->type, t, e->type_len);
}

static void not_evaluated(struct part *q, size_t i, const struct hub_stored_event *e)
{
    for (int p = 0; p < 2; p++)
        if (bucket(&q->r->P, p, e->occurred_ms) >= 0)
            q->unev[i][p]++;
}

static int log_visit(void *vctx, const struct hub_stored_event *e)
{
    struct part *q = vctx;
    struct run *r = q->r;
    int decoded = 0;
    msgpack_object o;
#define DECODE()                                                                                   \
    do {                                                                                           \
        if (!decoded) {                                                                            \
            size_t off = 0;                                                                        \
            msgpack_zone_clear(&q->zone);                                                          \
            if (msgpack_unpack(e->bytes, e->len, &off, &q->zone, &o) != MSGPACK_UNPACK_SUCCESS)    \
                return 0;                                                                          \
            decoded = 1;                                                                           \
        }                                                                                          \
    } while (0)
    struct ralert *A = r->alerts.v;
    /* The events that raised alerts, met in seq order. */
    while (q->next_anchor < r->alerts.n && r->by_anchor[q->next_anchor].seq < e->seq)
        q->next_anchor++;
    while (q->next_anchor < r->alerts.n && r->by_anchor[q->next_anchor].seq == e->seq) {
        struct ralert *a = &A[r->by_anchor[q->next_anchor++].alert];
        DECODE();
        a->occ_ms = e->occurred_ms;
        event_area(r, &o, &a->in_area, &a->no_area);
    }
    if (r->alerts.n && type_eq(e, "alert.status")) {
        DECODE();
        const msgpack_object *id = hub_mp_get(&o, "alert"), *st = hub_mp_get(&o, "status");
        if (id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER && st &&
            st->type == MSGPACK_OBJECT_STR) {
            size_t lo = 0, hi = r->alerts.n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (A[mid].id < id->via.u64)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            int status = hub_alert_status_parse(st->via.str.ptr, st->via.str.size);
            if (lo < r->alerts.n && A[lo].id == id->via.u64 && status > 0) {
                struct decision *d = vec_push(&q->decisions);
                if (!d) {
                    q->fail = 1;
                    return 1;
                }
                d->alert = lo;
                d->status = status;
                d->ms = e->received_ms;
                d->seq = e->seq;
            }
        }
    }
    /* hook: panel work for the case measures (reportcase.h), by received_at */
    if (r->case_measures && hub_rcase_type(e->type, e->type_len)) {
        DECODE();
        if (hub_rcase_collect(&q->rcase, r->cfg, e->seq, e->received_ms, e->type, e->type_len,
                              &o)) {
            q->fail = 1;
            return 1;
        }
    }
    if (e->occurred_ms < r->earliest_ms || e->occurred_ms >= r->latest_ms)
        return q->fail;
    const struct rtype *ty = NULL;
    for (size_t k = 0; k < r->ntypes && !ty; k++)
        if (r->types[k].len == e->type_len && !memcmp(r->types[k].type, e->type, e->type_len))
            ty = &r->types[k];
    if (!ty)
        return q->fail;
    /* A redacted record (redacted.h) keeps seq, times, type and source:
     * an item testing a field it lost cannot evaluate it, and says so. */
    int redacted = r->erased.n && hub_erased_set_by(&r->erased, e->seq);
    /* For each indicator, the first of its items whose type and tests
     * hold decides: an event counts once for an indicator. */
    uint32_t done = UINT32_MAX;
    for (size_t pi = ty->first; pi < ty->first + ty->n; pi++) {
        size_t i = r->pairs[pi].i;
        if (i == done)
            continue;
        const struct hub_indicator *I = &r->ind->v[i];
        const struct hub_ind_type *T = &I->types[r->pairs[pi].t];
        {
            DECODE();
            size_t k;
            for (k = 0; k < T->ntests && test_ok(&T->tests[k], &o); k++)
                ;
            if (k < T->ntests) {
                if (redacted && !hub_mp_path(&o, T->tests[k].field)) {
                    not_evaluated(q, i, e);
                    done = (uint32_t)i;
                }
                continue;
            }
            unsigned char in_area, no_area;
            event_area(r, &o, &in_area, &no_area);
            if (!in_area) {
                if (redacted && no_area)
                    not_evaluated(q, i, e);
                done = (uint32_t)i;
                continue;
            }
            if (I->measure == CSPH_IND_EVENTS) {
                for (int p = 0; p < 2; p++) {
                    int b = bucket(&r->P, p, e->occurred_ms);
                    if (b < 0)
                        continue;
                    q->cnt[i][p][b]++;
                    q->nr[i][p] += no_area;
                    if (p == 0 && explaining(r, i) && b == r->ex_bucket) {
                        uint64_t *x = vec_push(&q->ex);
                        if (!x) {
                            q->fail = 1;
                            return 1;
                        }
                        *x = e->seq;
                    }
                }
            } else {
                const msgpack_object *who = hub_mp_path(&o, T->person);
                if (!who || who->type != MSGPACK_OBJECT_STR) {
                    if (redacted && !who)
                        not_evaluated(q, i, e);
                    done = (uint32_t)i;
                    continue;
                }
                struct person_ev *pe = vec_push(&q->pev[i]);
                if (!pe || (pe->person = hub_intern_get(&q->people, who->via.str.ptr,
                                                     who->via.str.size)) == UINT32_MAX) {
                    q->fail = 1;
                    return 1;
                }
                pe->ms = e->occurred_ms;
                pe->seq = e->seq;
            }
            done = (uint32_t)i; /* an event counts once for an indicator */
        }
    }
    return q->fail;
#undef DECODE
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void part_scan(void *arg)
{
    struct part *q = arg;
    uint64_t last, t0 = thread_cpu_ns();
    int end;
    q->rc = hub_store_scan(q->r->st, q->after, q->until, UINT64_MAX, log_visit, q, &last, &end,
                           &q->err);
    q->cpu_ns = thread_cpu_ns() - t0;
}

static _Thread_local uint64_t run_cpu_ns;

uint64_t hub_report_cpu_ns(void) { return run_cpu_ns; }

static void part_free(struct part *q, size_t nind)
{
    if (q->pev)
        for (size_t i = 0; i < nind; i++)
            free(q->pev[i].v);
    free(q->pev);
    free(q->cnt);
    free(q->nr);
    free(q->unev);
    free(q->decisions.v);
    hub_rcase_free(&q->rcase);
    free(q->ex.v);
    hub_intern_free(&q->people);
    msgpack_zone_destroy(&q->zone);
}

static int vec_append(struct vec *to, struct vec *from)
{
    if (!from->n)
        return 0;
    if (!to->n && !to->v) {
        /* the first part's array becomes the run's: no copy */
        *to = *from;
        from->v = NULL;
        from->n = from->cap = 0;
        return 0;
    }
    if (to->n + from->n > to->cap) {
        void *v = realloc(to->v, (to->n + from->n) * to->size);
        if (!v)
            return -1;
        to->v = v;
        to->cap = to->n + from->n;
    }
    memcpy((char *)to->v + to->size * to->n, from->v, from->n * from->size);
    to->n += from->n;
    return 0;
}

/* The log pass: two threads (the machine's cores), each over half of the
 * seqs, merged in seq order, so that the figures are those of one pass. */
#define PARTS 2
static int log_pass(struct run *r, struct hub_error *err)
{
    struct part parts[PARTS];
    size_t nind = r->ind->n;
    int rc = 0;
    memset(parts, 0, sizeof parts);
    for (int k = 0; k < PARTS; k++) {
        struct part *q = &parts[k];
        q->r = r;
        q->after = r->p->as_of / PARTS * (uint64_t)k;
        q->until = k == PARTS - 1 ? r->p->as_of : r->p->as_of / PARTS * (uint64_t)(k + 1);
        q->decisions.size = sizeof(struct decision);
        q->ex.size = sizeof(uint64_t);
        msgpack_zone_init(&q->zone, 8192);
        q->pev = calloc(nind, sizeof *q->pev);
        q->cnt = calloc(nind, sizeof *q->cnt);
        q->nr = calloc(nind, sizeof *q->nr);
        q->unev = calloc(nind, sizeof *q->unev);
        if (!q->pev || !q->cnt || !q->nr || !q->unev)
            rc = -1;
        for (size_t i = 0; q->pev && i < nind; i++)
            q->pev[i].size = sizeof(struct person_ev);
        /* the first alert this part may have raised */
        size_t lo = 0, hi = r->alerts.n;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (r->by_anchor[mid].seq <= q->after)
                lo = mid + 1;
            else
                hi = mid;
        }
        q->next_anchor = lo;
    }
    uv_thread_t th[PARTS];
    int started[PARTS] = {0};
    for (int k = 1; k < PARTS && !rc; k++)
        started[k] = uv_thread_create(&th[k], part_scan, &parts[k]) == 0;
    if (!rc)
        part_scan(&parts[0]);
    for (int k = 1; k < PARTS; k++) {
        if (started[k])
            uv_thread_join(&th[k]);
        else if (!rc)
            part_scan(&parts[k]); /* no thread: the same work here */
    }
    for (int k = 0; k < PARTS && !rc; k++) {
        struct part *q = &parts[k];
        if (q->rc) {
            *err = q->err;
            rc = -2;
            break;
        }
        if (q->fail) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < nind; i++) {
            struct row *R = &r->rows[i];
            for (int p = 0; p < 2; p++) {
                for (int b = 0; b < CSPH_REPORT_MONTHS_MAX; b++)
                    R->cnt[p][b] += q->cnt[i][p][b];
                if (R->nr[p] >= 0)
                    R->nr[p] += q->nr[i][p];
                R->unev[p] += q->unev[i][p];
            }
            /* one person, one id: this part's ids as the run's */
            struct person_ev *v = q->pev[i].v;
            for (size_t j = 0; j < q->pev[i].n && !rc; j++) {
                uint32_t id = v[j].person;
                v[j].person = hub_intern_get(&r->people, hub_intern_str(&q->people, id),
                                         hub_intern_len(&q->people, id));
                if (v[j].person == UINT32_MAX)
                    rc = -1;
            }
            if (!rc && vec_append(&r->pev[i], &q->pev[i]))
                rc = -1;
        }
        if (!rc && (vec_append(&r->decisions, &q->decisions) || vec_append(&r->ex, &q->ex) ||
                    hub_rcase_append(&r->rcase, &q->rcase)))
            rc = -1;
    }
    for (int k = 1; k < PARTS; k++)
        r->other_cpu_ns += parts[k].cpu_ns;
    for (int k = 0; k < PARTS; k++)
        part_free(&parts[k], nind);
    if (rc == -2)
        return -2;
    if (rc)
        return -1;
    /* An alert's first decision (accepted, declined or closed; not an
     * acknowledgement), now that the decisions are in seq order. */
    struct ralert *A = r->alerts.v;
    const struct decision *D = r->decisions.v;
    for (size_t j = 0; j < r->decisions.n; j++)
        if (D[j].status != CSPH_ALERT_ACKNOWLEDGED && A[D[j].alert].decided_ms == NO_TIME) {
            A[D[j].alert].decided_ms = D[j].ms;
            A[D[j].alert].decided_seq = D[j].seq;
        }
    return 0;
}

/* ---- figures ------------------------------------------------------------ */

static int cmp_pev(const void *x, const void *y)
{
    const struct person_ev *a = x, *b = y;
    if (a->person != b->person)
        return a->person < b->person ? -1 : 1;
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* People who reach at_least events within any within_days ending in the
 * period, each counted once, in the month they first reach it. */
static void figure_people(struct run *r, size_t i)
{
    const struct hub_indicator *I = &r->ind->v[i];
    struct row *R = &r->rows[i];
    struct person_ev *v = r->pev[i].v;
    size_t n = r->pev[i].n;
    int64_t w = I->within_days * DAY_MS;
    if (n)
        qsort(v, n, sizeof *v, cmp_pev);
    for (size_t s = 0; s < n;) {
        size_t e = s;
        while (e < n && v[e].person == v[s].person)
            e++;
        for (int p = 0; p < 2; p++) {
            size_t lo = s;
            for (size_t j = s; j < e; j++) {
                while (v[j].ms - v[lo].ms >= w)
                    lo++;
                if ((int64_t)(j - lo + 1) < I->at_least)
                    continue;
                int b = bucket(&r->P, p, v[j].ms);
                if (b < 0) {
                    if (v[j].ms >= r->P.to_ms[p])
                        break;
                    continue;
                }
                R->cnt[p][b]++;
                if (p == 0 && explaining(r, i) && b == r->ex_bucket) {
                    /* the person, then the events that made them count */
                    explain_add(r, UINT64_MAX - v[j].person);
                    for (size_t q = lo; q <= j; q++)
                        explain_add(r, v[q].seq);
                }
                break;
            }
        }
        s = e;
    }
}

struct keymonth {
    uint32_t key;
    int b;
};

static int cmp_km(const void *x, const void *y)
{
    const struct keymonth *a = x, *b = y;
    if (a->key != b->key)
        return a->key < b->key ? -1 : 1;
    return a->b < b->b ? -1 : a->b > b->b;
}

static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return a < b ? -1 : a > b;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


/* Alerts, their distinct keys, decided in time, days to decision. */
static int figure_alerts(struct run *r, size_t i)
{
    const struct hub_indicator *I = &r->ind->v[i];
    struct row *R = &r->rows[i];
    struct ralert *A = r->alerts.v;
    struct vec km = {.size = sizeof(struct keymonth)};
    struct vec days[2][CSPH_REPORT_MONTHS_MAX + 1];
    for (int p = 0; p < 2; p++)
        for (int b = 0; b <= CSPH_REPORT_MONTHS_MAX; b++)
            days[p][b] = (struct vec){.size = sizeof(double)};
    int rc = 0;
    for (size_t j = 0; j < r->alerts.n && !rc; j++) {
        struct ralert *a = &A[j];
        if (a->occ_ms == NO_TIME || !a->in_area || !alert_matches(r, i, a))
            continue;
        for (int p = 0; p < 2 && !rc; p++) {
            int b = bucket(&r->P, p, a->occ_ms);
            if (b < 0)
                continue;
            int ex = p == 0 && explaining(r, i) && b == r->ex_bucket;
            switch (I->measure) {
            case CSPH_IND_ALERTS:
                R->cnt[p][b]++;
                R->nr[p] += a->no_area;
                if (ex)
                    explain_add(r, a->id);
                break;
            case CSPH_IND_ALERT_KEYS: {
                struct keymonth *k = vec_push(&km);
                if (!k) {
                    rc = -1;
                    break;
                }
                k->key = a->key;
                k->b = p * CSPH_REPORT_MONTHS_MAX + b;
                if (ex)
                    explain_add(r, a->id);
                break;
            }
            case CSPH_IND_IN_TIME:
                /* An alert with a deadline counts once it is decided or its
                 * deadline has passed by the report's as_of. */
                if (a->due_ms == NO_TIME ||
                    (a->decided_ms == NO_TIME && a->due_ms > r->asof_ms))
                    break;
                R->den[p][b]++;
                R->den_total[p]++;
                if (a->decided_ms != NO_TIME && a->decided_ms <= a->due_ms) {
                    R->cnt[p][b]++;
                    R->cnt_total[p]++;
                }
                if (ex)
                    explain_add(r, a->id);
                break;
            case CSPH_IND_DAYS: {
                if (a->decided_ms == NO_TIME || a->raised_ms == NO_TIME)
                    break;
                double d = (double)(a->decided_ms - a->raised_ms) / DAY_MS;
                double *x = vec_push(&days[p][b]), *t = vec_push(&days[p][CSPH_REPORT_MONTHS_MAX]);
                if (!x || !t) {
                    rc = -1;
                    break;
                }
                *x = *t = d < 0 ? 0 : d;
                if (ex)
                    explain_add(r, a->id);
                break;
            }
            default: break;
            }
        }
    }
    if (!rc && I->measure == CSPH_IND_ALERT_KEYS) {
        struct keymonth *k = km.v;
        if (km.n)
            qsort(k, km.n, sizeof *k, cmp_km);
        for (size_t j = 0; j < km.n; j++) {
            int p = k[j].b / CSPH_REPORT_MONTHS_MAX, b = k[j].b % CSPH_REPORT_MONTHS_MAX;
            if (j == 0 || k[j].key != k[j - 1].key || k[j].b != k[j - 1].b)
                R->cnt[p][b]++;
        }
        /* The total is people (keys) over the whole period, not the sum of
         * the months: a victim heard in two months is one case. */
        for (int p = 0; p < 2; p++) {
            uint32_t last = UINT32_MAX;
            for (size_t j = 0; j < km.n; j++)
                if (k[j].b / CSPH_REPORT_MONTHS_MAX == p && k[j].key != last) {
                    R->cnt_total[p]++;
                    last = k[j].key;
                }
        }
    }
    if (!rc && I->measure == CSPH_IND_DAYS)
        for (int p = 0; p < 2; p++)
            for (int b = 0; b <= r->P.nm; b++) {
                int bb = b == r->P.nm ? CSPH_REPORT_MONTHS_MAX : b;
                struct hub_cell *c = b == r->P.nm ? &R->total[p] : &R->c[p][b];
                int64_t n = (int64_t)days[p][bb].n;
                if (b == r->P.nm)
                    R->cnt_total[p] = n;
                else
                    R->cnt[p][b] = n;
                if (n)
                    *c = (struct hub_cell){CSPH_CELL_REAL, round1(median(days[p][bb].v, (size_t)n))};
            }
    free(km.v);
    for (int p = 0; p < 2; p++)
        for (int b = 0; b <= CSPH_REPORT_MONTHS_MAX; b++)
            free(days[p][b].v);
    return rc;
}

static void figure_decisions(struct run *r, size_t i)
{
    const struct hub_indicator *I = &r->ind->v[i];
    struct row *R = &r->rows[i];
    const struct decision *D = r->decisions.v;
    const struct ralert *A = r->alerts.v;
    for (size_t j = 0; j < r->decisions.n; j++) {
        const struct ralert *a = &A[D[j].alert];
        if (!(I->statuses >> D[j].status & 1) || !a->in_area || !alert_matches(r, i, a))
            continue;
        for (int p = 0; p < 2; p++) {
            int b = bucket(&r->P, p, D[j].ms);
            if (b < 0)
                continue;
            R->cnt[p][b]++;
            R->nr[p] += a->no_area;
            if (p == 0 && explaining(r, i) && b == r->ex_bucket)
                explain_add(r, D[j].seq);
        }
    }
}

/* The case measures (reportcase.h): counted in the month of each figure's
 * time; none in an area report (a case has no place of its own). */
struct case_fig {
    struct run *r;
    size_t i;
};

static void case_count(void *ctx, int64_t ms, int num, int den, uint64_t seq)
{
    struct case_fig *f = ctx;
    struct run *r = f->r;
    struct row *R = &r->rows[f->i];
    for (int p = 0; p < 2; p++) {
        int b = bucket(&r->P, p, ms);
        if (b < 0)
            continue;
        R->cnt[p][b] += num;
        R->cnt_total[p] += num;
        R->den[p][b] += den;
        R->den_total[p] += den;
        if (p == 0 && explaining(r, f->i) && b == r->ex_bucket)
            explain_add(r, seq);
    }
}

static int figure_cases(struct run *r, size_t i)
{
    struct case_fig f = {r, i};
    if (r->area)
        return 0;
    return hub_rcase_figure(&r->rcase, r->cfg, &r->ind->v[i], r->asof_ms, case_count, &f);
}

/* ---- suppression -------------------------------------------------------- */

static void figure_row(struct run *r, size_t i)
{
    const struct hub_indicator *I = &r->ind->v[i];
    struct row *R = &r->rows[i];
    int nm = r->P.nm;
    int64_t T = r->ind->suppress_below;
    for (int p = 0; p < 2; p++) {
        switch (I->measure) {
        case CSPH_IND_EVENTS:
        case CSPH_IND_ALERTS:
        case CSPH_IND_DECISIONS:
        case CSPH_IND_PEOPLE:
        case CSPH_IND_CASE_ENTRIES:
        case CSPH_IND_CASE_EXITS:
        case CSPH_IND_ALERT_KEYS: {
            int64_t sum = 0;
            for (int b = 0; b < nm; b++) {
                R->c[p][b] = (struct hub_cell){CSPH_CELL_INT, (double)R->cnt[p][b]};
                sum += R->cnt[p][b];
            }
            if (I->measure != CSPH_IND_ALERT_KEYS)
                R->cnt_total[p] = sum;
            R->total[p] = (struct hub_cell){CSPH_CELL_INT, (double)R->cnt_total[p]};
            if (r->p->suppress)
                hub_suppress_counts(R->c[p], nm, &R->total[p], T);
            break;
        }
        case CSPH_IND_IN_TIME:
        case CSPH_IND_ACTIONS_ON_TIME:
        case CSPH_IND_REVIEWS_ON_TIME:
            for (int b = 0; b <= nm; b++) {
                int64_t num = b < nm ? R->cnt[p][b] : R->cnt_total[p];
                int64_t den = b < nm ? R->den[p][b] : R->den_total[p];
                struct hub_cell *c = b < nm ? &R->c[p][b] : &R->total[p];
                if (!den)
                    continue;
                *c = (struct hub_cell){CSPH_CELL_REAL, round1(100.0 * (double)num / (double)den)};
                /* The share gives away both counts beside a count of the
                 * panel's alerts: hide it when either side is small ("*":
                 * "<5" beside a percentage would read as under 5 %). */
                if (r->p->suppress && ((num > 0 && num < T) || (den - num > 0 && den - num < T)))
                    c->kind = CSPH_CELL_HIDDEN;
            }
            break;
        case CSPH_IND_DAYS:
            for (int b = 0; b <= nm; b++) {
                int64_t n = b < nm ? R->cnt[p][b] : R->cnt_total[p];
                struct hub_cell *c = b < nm ? &R->c[p][b] : &R->total[p];
                if (r->p->suppress && n > 0 && n < T)
                    c->kind = CSPH_CELL_HIDDEN; /* a median of a few: "*", not "<5" days */
            }
            break;
        case CSPH_IND_RATIO: {
            const struct row *N = &r->rows[I->num], *D = &r->rows[I->den];
            for (int b = 0; b <= nm; b++) {
                const struct hub_cell *n = b < nm ? &N->c[p][b] : &N->total[p];
                const struct hub_cell *d = b < nm ? &D->c[p][b] : &D->total[p];
                struct hub_cell *c = b < nm ? &R->c[p][b] : &R->total[p];
                if (hub_cell_hidden(n) || hub_cell_hidden(d))
                    *c = (struct hub_cell){CSPH_CELL_HIDDEN, 0};
                else if (d->v > 0)
                    *c = (struct hub_cell){CSPH_CELL_REAL, round1(100.0 * n->v / d->v)};
            }
            break;
        }
        default: break;
        }
        if (R->nr[p] >= 0 && r->p->suppress && R->nr[p] > 0 && R->nr[p] < T)
            R->nr[p] = -2; /* shown as "<T" */
        if (r->p->suppress && R->unev[p] > 0 && R->unev[p] < T)
            R->unev[p] = -2;
    }
}

/* ---- the run ------------------------------------------------------------ */

/* r->types and r->pairs from the indicators computed (see struct run). */
static int type_table(struct run *r)
{
    size_t np = 0;
    for (size_t i = 0; i < r->ind->n; i++)
        np += r->ind->v[i].ntypes;
    r->types = calloc(np + 1, sizeof *r->types);
    r->pairs = calloc(np + 1, sizeof *r->pairs);
    if (!r->types || !r->pairs)
        return -1;
    for (size_t i = 0; i < r->ind->n; i++) {
        const struct hub_indicator *I = &r->ind->v[i];
        if ((I->measure != CSPH_IND_EVENTS && I->measure != CSPH_IND_PEOPLE) || !wanted(r, i))
            continue;
        for (size_t t = 0; t < I->ntypes; t++) {
            size_t k, len = strlen(I->types[t].type);
            for (k = 0; k < r->ntypes; k++)
                if (r->types[k].len == len && !memcmp(r->types[k].type, I->types[t].type, len))
                    break;
            if (k == r->ntypes)
                r->types[r->ntypes++] = (struct rtype){I->types[t].type, len, 0, 0};
            r->types[k].n++;
        }
    }
    /* each type's pairs together, in (indicator, item) order */
    size_t at = 0;
    for (size_t k = 0; k < r->ntypes; k++) {
        r->types[k].first = at;
        at += r->types[k].n;
        r->types[k].n = 0;
    }
    for (size_t i = 0; i < r->ind->n; i++) {
        const struct hub_indicator *I = &r->ind->v[i];
        if ((I->measure != CSPH_IND_EVENTS && I->measure != CSPH_IND_PEOPLE) || !wanted(r, i))
            continue;
        for (size_t t = 0; t < I->ntypes; t++) {
            size_t k, len = strlen(I->types[t].type);
            for (k = 0; k < r->ntypes; k++)
                if (r->types[k].len == len && !memcmp(r->types[k].type, I->types[t].type, len))
                    break;
            r->pairs[r->types[k].first + r->types[k].n++] = (struct rpair){(uint32_t)i, (uint32_t)t};
        }
    }
    return 0;
}



static int asof_visit(void *ctx, const struct hub_stored_event *e)
{
    *(int64_t *)ctx = e->received_ms;
    return 0;
}

enum hub_err hub_report_run(struct hub_store *st, struct hub_queues *q,
                            const struct hub_indicators *ind, const struct hub_config *cfg,
                            const struct hub_report_params *p, msgpack_sbuffer *out,
                            uint32_t *npairs, uint64_t *returned, struct hub_error *err)
{
    struct run r = {.st = st, .ind = ind, .cfg = cfg, .p = p, .err = err};
    enum hub_err rc = CSPH_ERR_OK;
    uint64_t cpu0 = thread_cpu_ns();
    unsigned char link[16];
    MDB_txn *txn = NULL;
    r.alerts.size = sizeof(struct ralert);
    r.decisions.size = sizeof(struct decision);
    r.ex.size = sizeof(uint64_t);
    msgpack_zone_init(&r.zone, 8192);
    period_init(&r.P, p);
    r.area = p->area >= 0 ? &ind->areas[p->area] : NULL;
    r.asof_ms = INT64_MIN;
    r.ex_bucket = p->explain >= 0
                      ? (int)(csph_month_ordinal(p->explain_y, (unsigned)p->explain_m) - r.P.mo0[0])
                      : -1;
    if (p->explain >= 0 && (r.ex_bucket < 0 || r.ex_bucket >= r.P.nm)) {
        rc = hub_error_set(err, CSPH_ERR_BAD_REQUEST, "month", "the month explained must be "
                           "within the period");
        goto done;
    }
    if (p->explain >= 0 && ind->v[p->explain].measure == CSPH_IND_RATIO) {
        const struct hub_indicator *I = &ind->v[p->explain];
        rc = hub_error_set(err, CSPH_ERR_BAD_REQUEST, "explain", "'%s' is a ratio: explain its "
                           "numerator '%s' and its denominator '%s'", I->name,
                           ind->v[I->num].name, ind->v[I->den].name);
        goto done;
    }
    if ((rc = hub_store_link(st, p->as_of, link, err)))
        goto done;
    if ((rc = hub_erased_set_load_env(&r.erased, hub_store_env(st), err)))
        goto done;
    if (p->as_of && (rc = hub_store_get(st, p->as_of, asof_visit, &r.asof_ms, err)))
        goto done;
    r.rows = calloc(ind->n, sizeof *r.rows);
    r.pev = calloc(ind->n, sizeof *r.pev);
    r.ind_rules = calloc(ind->n, sizeof *r.ind_rules);
    if (!r.rows || !r.pev || !r.ind_rules)
        goto nomem;
    int64_t widest = 0;
    for (size_t i = 0; i < ind->n; i++) {
        const struct hub_indicator *I = &ind->v[i];
        r.pev[i].size = sizeof(struct person_ev);
        r.rows[i].nr[0] = r.rows[i].nr[1] =
            I->measure == CSPH_IND_EVENTS || I->measure == CSPH_IND_ALERTS ||
                    I->measure == CSPH_IND_DECISIONS
                ? 0
                : -1;
        for (size_t k = 0; k < I->nrules; k++)
            if ((r.ind_rules[i][k] = hub_intern_get(&r.rules, I->rules[k], strlen(I->rules[k]))) ==
                UINT32_MAX)
                goto nomem;
        if (I->measure == CSPH_IND_PEOPLE && I->within_days * DAY_MS > widest)
            widest = I->within_days * DAY_MS;
        if (hub_rcase_measure(I->measure) && wanted(&r, i))
            r.case_measures = 1;
    }
    r.earliest_ms = r.P.from_ms[1] - widest;
    r.latest_ms = r.P.to_ms[0];
    if (p->explain >= 0) {
        /* Only the events that can count for the explained month are
         * read (for people, every one from a window before the period:
         * whether someone counts in this month depends on the months
         * before it); the rest of the log is passed over on its stored
         * header. */
        const struct hub_indicator *I = &ind->v[p->explain];
        int64_t mo = r.P.mo0[0] + r.ex_bucket, next = mo + 1;
        int64_t start = csph_london_day_start((int)(mo / 12), (unsigned)(mo % 12 + 1), 1);
        int64_t end = csph_london_day_start((int)(next / 12), (unsigned)(next % 12 + 1), 1);
        r.earliest_ms = I->measure == CSPH_IND_PEOPLE ? r.P.from_ms[0] - I->within_days * DAY_MS
                                                      : start;
        if (end < r.latest_ms)
            r.latest_ms = end;
    }

    /* Pass 1: the alerts, two threads over halves of the ids (read
     * transactions of their own), merged in id order. */
    uint64_t w0 = uv_hrtime(), c0 = thread_cpu_ns() + r.other_cpu_ns;
    int apr = alerts_pass(&r, q, err);
    uint64_t w1 = uv_hrtime(), c1 = thread_cpu_ns() + r.other_cpu_ns;
    if (apr == -2) {
        rc = err->code;
        goto done;
    }
    if (apr)
        goto nomem;
    if (r.alerts.n && !(r.by_anchor = malloc(r.alerts.n * sizeof *r.by_anchor)))
        goto nomem;
    int sorted = 1;
    for (size_t j = 0; j < r.alerts.n; j++) {
        r.by_anchor[j] = (struct anchor){((struct ralert *)r.alerts.v)[j].anchor, j};
        sorted &= j == 0 || r.by_anchor[j - 1].seq <= r.by_anchor[j].seq;
    }
    /* Alerts are raised as their anchors arrive: mostly in order already. */
    if (!sorted)
        qsort(r.by_anchor, r.alerts.n, sizeof *r.by_anchor, cmp_anchor);

    if (type_table(&r))
        goto nomem;
    /* Pass 2: the log up to as_of (read transactions of its own). */
    if (p->as_of) {
        int lp = log_pass(&r, err);
        if (lp == -2) {
            rc = err->code;
            goto done;
        }
        if (lp)
            goto nomem;
    }

    uint64_t w2 = uv_hrtime(), c2 = thread_cpu_ns() + r.other_cpu_ns;
    LOG_DEBUG("report", "%zu alerts kept: alerts pass %.3f s (%.3f s CPU), log pass %.3f s "
              "(%.3f s CPU)", r.alerts.n, (double)(w1 - w0) / 1e9, (double)(c1 - c0) / 1e9,
              (double)(w2 - w1) / 1e9, (double)(c2 - c1) / 1e9);
    /* Figures: counts first, ratios on them last. */
    for (size_t i = 0; i < ind->n; i++) {
        const struct hub_indicator *I = &ind->v[i];
        if (!wanted(&r, i))
            continue;
        if (I->measure == CSPH_IND_PEOPLE)
            figure_people(&r, i);
        else if (I->measure == CSPH_IND_DECISIONS)
            figure_decisions(&r, i);
        else if (hub_rcase_measure(I->measure) && figure_cases(&r, i))
            goto nomem;
        else if (ind_uses_alerts(I) && figure_alerts(&r, i))
            goto nomem;
        if (I->measure != CSPH_IND_RATIO)
            figure_row(&r, i);
    }
    for (size_t i = 0; i < ind->n; i++)
        if (ind->v[i].measure == CSPH_IND_RATIO)
            figure_row(&r, i);
    if (r.fail)
        goto nomem;

    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    *npairs = hub_report_pack_head(&r, &pk, link);
    if (p->explain >= 0) {
        uint32_t n = hub_report_pack_explain(&r, &pk, returned, err);
        if (!n) {
            rc = err->code;
            goto done;
        }
        *npairs += n;
    } else {
        *npairs += hub_report_pack(&r, &pk, returned);
    }
    goto done;
nomem:
    rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory computing the report");
done:
    if (txn)
        mdb_txn_abort(txn);
    if (r.pev)
        for (size_t i = 0; i < ind->n; i++)
            free(r.pev[i].v);
    free(r.pev);
    free(r.rows);
    free(r.ind_rules);
    free(r.by_anchor);
    free(r.types);
    free(r.pairs);
    free(r.alerts.v);
    free(r.decisions.v);
    hub_rcase_free(&r.rcase);
    free(r.ex.v);
    hub_intern_free(&r.keys);
    hub_intern_free(&r.rules);
    hub_intern_free(&r.people);
    hub_erased_set_free(&r.erased);
    msgpack_zone_destroy(&r.zone);
    run_cpu_ns = thread_cpu_ns() - cpu0 + r.other_cpu_ns;
    return rc;
}
