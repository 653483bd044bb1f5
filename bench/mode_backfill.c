/* --backfill: a new agency joins with a year of late history; the alerts it
 * raises are compared with those of the same events published in order. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"
#include "msg.h"
#include "corpus.h"
#include "figures.h"
#include "publish.h"
#include "hubctl.h"
#include "modes.h"

/* The window of each windowed rule in the source tree's rules file, by a
 * line scan ("- name: X", then "window_days: D" before the next rule):
 * enough for config/rules.yaml, which the bench's hubs run. */
#define MAX_RULE_NAMES 128

struct rulewin {
    char name[72];
    double days; /* 0: not windowed */
};

static struct rulewin rule_win[MAX_RULE_NAMES];

static int nrule_win;

static void read_rule_windows(void)
{
    FILE *f = fopen(CSPH_SOURCE_DIR "/config/rules.yaml", "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        const char *p = line + strspn(line, " ");
        if (!strncmp(p, "- name:", 7) && nrule_win < MAX_RULE_NAMES) {
            p += 7;
            p += strspn(p, " \"'");
            size_t len = strcspn(p, " \"'#\r\n");
            snprintf(rule_win[nrule_win].name, sizeof rule_win[0].name, "%.*s", (int)len, p);
            rule_win[nrule_win++].days = 0;
        } else if (!strncmp(p, "window_days:", 12) && nrule_win > 0) {
            rule_win[nrule_win - 1].days = strtod(p + 12, NULL);
        }
    }
    fclose(f);
}

static double rule_window_days(const char *rule)
{
    for (int i = 0; i < nrule_win; i++)
        if (!strcmp(rule_win[i].name, rule))
            return rule_win[i].days;
    return 0;
}

/* Names of rules and panels met in alerts, shared by both runs. */
#define MAX_NAMES 256

static char names_tab[MAX_NAMES][72];

static int nnames;

static int intern(const msgpack_object *o)
{
    char b[72];
    mp_str_copy(o, b, sizeof b);
    for (int i = 0; i < nnames; i++)
        if (!strcmp(names_tab[i], b))
            return i;
    if (nnames == MAX_NAMES)
        die("backfill: more than %d rule and panel names", MAX_NAMES);
    snprintf(names_tab[nnames], sizeof names_tab[0], "%s", b);
    return nnames++;
}

static const char *const prio_names[3] = {"standard", "medium", "high"};

static int prio_of(const msgpack_object *o)
{
    for (int i = 0; i < 3; i++)
        if (mp_str_is(o, prio_names[i]))
            return i;
    return -1;
}

/* One alert as the comparison needs it. */
struct arec {
    int rule, panel; /* into names_tab */
    int prio;        /* 0 standard, 1 medium, 2 high */
    char *key;       /* the key's values joined with ", ": what groups alerts */
    char *kshow;     /* with the fields' names: "victim=P-000123" */
    uint64_t id;
    uint64_t trig_seq; /* the largest seq of its evidence: the event that raised it */
    int64_t trig_ms;   /* that event's occurred_at; INT64_MIN: not known */
    int64_t ev_min_ms, ev_max_ms; /* occurred_at range of its evidence (INT64_MAX/MIN: none) */
    uint64_t nev;
};

struct aset {
    struct arec *a;
    size_t n, cap;
    uint64_t cut; /* alerts whose evidence came cut (paged with 'evidence') */
};

/* The key's values (names 0) or "field=value" pairs (names 1), joined with
 * ", ". A rule counting one person under several fields (key_each: the
 * victim of a report, the caller of a call) names the key after the field
 * of the event that raised the alert: the values are what is compared. */
static void key_string(const msgpack_object *key, int names, char *out, size_t outsz)
{
    size_t used = 0;
    out[0] = 0;
    if (!key || key->type != MSGPACK_OBJECT_MAP)
        return;
    for (uint32_t i = 0; i < key->via.map.size && used < outsz; i++) {
        const msgpack_object_kv *kv = &key->via.map.ptr[i];
        char k[128], v[512];
        mp_str_copy(&kv->key, k, sizeof k);
        switch (kv->val.type) {
        case MSGPACK_OBJECT_STR: mp_str_copy(&kv->val, v, sizeof v); break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER: snprintf(v, sizeof v, "%" PRIu64, kv->val.via.u64); break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: snprintf(v, sizeof v, "%" PRId64, kv->val.via.i64); break;
        case MSGPACK_OBJECT_BOOLEAN: snprintf(v, sizeof v, "%s", kv->val.via.boolean ? "true" : "false"); break;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64: snprintf(v, sizeof v, "%g", kv->val.via.f64); break;
        default: snprintf(v, sizeof v, "?"); break;
        }
        used += (size_t)snprintf(out + used, outsz - used, "%s%s%s%s", i ? ", " : "",
                                 names ? k : "", names ? "=" : "", v);
    }
}

/* Where a run's events fall: seq -> occurred_at (INT64_MIN: not one of ours). */
struct seqmap {
    int64_t *occ;
    uint64_t n; /* seqs 0 .. n-1 */
};

static void seqmap_build(struct seqmap *sm, const struct corpus *c, const uint64_t *ev_seq)
{
    uint64_t max = 0;
    for (uint64_t i = 0; i < c->n; i++)
        if (ev_seq[i] > max)
            max = ev_seq[i];
    sm->n = max + 1;
    sm->occ = malloc(sm->n * sizeof *sm->occ);
    if (!sm->occ)
        die("out of memory for a seq map");
    for (uint64_t s = 0; s < sm->n; s++)
        sm->occ[s] = INT64_MIN;
    for (uint64_t i = 0; i < c->n; i++)
        if (ev_seq[i])
            sm->occ[ev_seq[i]] = c->meta[i].occurred_ms;
}

static void note_evidence(struct arec *r, const struct seqmap *sm, const msgpack_object *ev)
{
    for (uint32_t j = 0; ev && ev->type == MSGPACK_OBJECT_ARRAY && j < ev->via.array.size; j++) {
        const msgpack_object *e = &ev->via.array.ptr[j];
        if (e->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            continue;
        uint64_t s = e->via.u64;
        r->nev++;
        if (s > r->trig_seq)
            r->trig_seq = s;
        int64_t t = s < sm->n ? sm->occ[s] : INT64_MIN;
        if (t == INT64_MIN)
            continue;
        if (t < r->ev_min_ms)
            r->ev_min_ms = t;
        if (t > r->ev_max_ms)
            r->ev_max_ms = t;
    }
}

/* The rest of a cut alert's evidence, with {op: evidence, id, after}. */
static void page_evidence(void *s, struct arec *r, uint64_t after, const struct seqmap *sm)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    for (int pages = 0; pages < 100000; pages++) {
        uint64_t reqno;
        zmq_msg_t m;
        pack_op(&sb, &pk, "evidence", 2, &reqno);
        pk_str(&pk, "id");
        msgpack_pack_uint64(&pk, r->id);
        pk_str(&pk, "after");
        msgpack_pack_uint64(&pk, after);
        call(s, &sb, reqno, &up, &m, opt.reply_timeout_s, "an evidence request");
        const msgpack_object *ok = mp_get(&up.data, "ok");
        if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
            char why[700] = "no ok";
            if (mp_get(&up.data, "error"))
                describe_error(mp_get(&up.data, "error"), why, sizeof why);
            die("the hub refused 'evidence' for alert %" PRIu64 ": %s", r->id, why);
        }
        const msgpack_object *ev = mp_get(&up.data, "evidence"), *next = mp_get(&up.data, "next"),
                             *end = mp_get(&up.data, "end");
        note_evidence(r, sm, ev);
        int done = !end || end->type != MSGPACK_OBJECT_BOOLEAN || end->via.boolean || !next ||
                   next->type != MSGPACK_OBJECT_POSITIVE_INTEGER || next->via.u64 <= after;
        if (!done)
            after = next->via.u64;
        zmq_msg_close(&m);
        if (done)
            break;
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

/* Every alert of one panel, paged with {op: alerts, panel, after, max}. */
static void read_panel_alerts(void *s, const char *panel, const struct seqmap *sm,
                              struct aset *out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    uint64_t after = 0;
    for (;;) {
        uint64_t reqno;
        zmq_msg_t m;
        pack_op(&sb, &pk, "alerts", 3, &reqno);
        pk_str(&pk, "panel");
        pk_str(&pk, panel);
        pk_str(&pk, "after");
        msgpack_pack_uint64(&pk, after);
        pk_str(&pk, "max");
        msgpack_pack_uint32(&pk, 1000);
        call(s, &sb, reqno, &up, &m, opt.reply_timeout_s, "an alerts request");
        const msgpack_object *ok = mp_get(&up.data, "ok");
        if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
            char why[700] = "no ok";
            if (mp_get(&up.data, "error"))
                describe_error(mp_get(&up.data, "error"), why, sizeof why);
            die("the hub refused 'alerts' on panel %s: %s", panel, why);
        }
        const msgpack_object *alerts = mp_get(&up.data, "alerts"), *next = mp_get(&up.data, "next"),
                             *end = mp_get(&up.data, "end");
        if (!alerts || alerts->type != MSGPACK_OBJECT_ARRAY)
            die("an alerts reply without 'alerts' (panel %s)", panel);
        for (uint32_t i = 0; i < alerts->via.array.size; i++) {
            const msgpack_object *a = &alerts->via.array.ptr[i];
            const msgpack_object *id = mp_get(a, "id"), *enext = mp_get(a, "evidence_next");
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 4096;
                out->a = realloc(out->a, out->cap * sizeof *out->a);
                if (!out->a)
                    die("out of memory for alerts");
            }
            struct arec *r = &out->a[out->n++];
            char key[1024], kshow[1024];
            key_string(mp_get(a, "key"), 0, key, sizeof key);
            key_string(mp_get(a, "key"), 1, kshow, sizeof kshow);
            *r = (struct arec){.rule = intern(mp_get(a, "rule")), .panel = intern(mp_get(a, "panel")),
                               .prio = prio_of(mp_get(a, "priority")), .key = strdup(key),
                               .kshow = strdup(kshow),
                               .id = id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? id->via.u64 : 0,
                               .trig_ms = INT64_MIN, .ev_min_ms = INT64_MAX,
                               .ev_max_ms = INT64_MIN};
            note_evidence(r, sm, mp_get(a, "evidence"));
            if (enext && enext->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                out->cut++;
                page_evidence(s, r, enext->via.u64, sm);
            }
            if (r->trig_seq && r->trig_seq < sm->n)
                r->trig_ms = sm->occ[r->trig_seq];
        }
        int done = !end || end->type != MSGPACK_OBJECT_BOOLEAN || end->via.boolean ||
                   !alerts->via.array.size || !next ||
                   next->type != MSGPACK_OBJECT_POSITIVE_INTEGER || next->via.u64 <= after;
        if (!done)
            after = next->via.u64;
        zmq_msg_close(&m);
        if (done)
            break;
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

static void read_all_alerts(void *s, const struct stats *st, const struct seqmap *sm,
                            struct aset *out)
{
    static const char *const fallback[] = {"marac", "community-marac", "asb-case-review",
                                           "hate-crime", "iom", "sgv", "mace", "tasking",
                                           "channel", "mappa"};
    if (st->npanels)
        for (int i = 0; i < st->npanels; i++)
            read_panel_alerts(s, st->panel[i], sm, out);
    else
        for (size_t i = 0; i < sizeof fallback / sizeof *fallback; i++)
            read_panel_alerts(s, fallback[i], sm, out);
}

static void aset_free(struct aset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->a[i].key);
        free(s->a[i].kshow);
    }
    free(s->a);
    memset(s, 0, sizeof *s);
}

static int cmp_arec(const void *x, const void *y)
{
    const struct arec *a = x, *b = y;
    int c = strcmp(names_tab[a->rule], names_tab[b->rule]);
    if (!c)
        c = strcmp(names_tab[a->panel], names_tab[b->panel]);
    if (!c)
        c = strcmp(a->key, b->key);
    if (!c)
        c = (a->prio < b->prio) - (a->prio > b->prio); /* highest first */
    if (!c)
        c = (a->id > b->id) - (a->id < b->id);
    return c;
}

static int same_group(const struct arec *a, const struct arec *b)
{
    return a->rule == b->rule && a->panel == b->panel && !strcmp(a->key, b->key);
}

static int cmp_group(const struct arec *a, const struct arec *b)
{
    int c = strcmp(names_tab[a->rule], names_tab[b->rule]);
    if (!c)
        c = strcmp(names_tab[a->panel], names_tab[b->panel]);
    if (!c)
        c = strcmp(a->key, b->key);
    return c;
}

/* Per rule: alerts and keys of each run, and the guarantee's failures. */
struct rulecmp {
    int rule;
    uint64_t ref_alerts, ref_groups, bf_alerts, bf_groups;
    uint64_t missing, higher, extra_groups; /* groups: (rule, panel, key) */
    uint64_t win_checked, win_uncovered;
};

#define MAX_SHOWN 20

struct missing {
    const struct arec *ref; /* the in-order alert (its group's highest) */
    int bf_prio;            /* the backfill run's highest for the group; -1: none */
};

struct comparison {
    struct rulecmp rules[MAX_NAMES];
    int nrules;
    uint64_t groups, missing, higher, extra_groups;
    uint64_t win_checked, win_uncovered, win_unknown;
    struct missing shown[MAX_SHOWN];
    int nshown;
    const struct arec *uncov[MAX_SHOWN];
    int nuncov;
    uint64_t skipped_overdue;
};

static struct rulecmp *rulecmp_of(struct comparison *c, int rule)
{
    for (int i = 0; i < c->nrules; i++)
        if (c->rules[i].rule == rule)
            return &c->rules[i];
    c->rules[c->nrules] = (struct rulecmp){.rule = rule};
    return &c->rules[c->nrules++];
}

static int cmp_rulecmp(const void *x, const void *y)
{
    return strcmp(names_tab[((const struct rulecmp *)x)->rule],
                  names_tab[((const struct rulecmp *)y)->rule]);
}

/* ref: the in-order run, bf: the backfill run; both sorted by cmp_arec. */
static void compare_alerts(struct comparison *c, const struct aset *ref, const struct aset *bf)
{
    memset(c, 0, sizeof *c);
    size_t i = 0, j = 0;
    while (i < ref->n || j < bf->n) {
        int ord = i >= ref->n ? 1 : j >= bf->n ? -1 : cmp_group(&ref->a[i], &bf->a[j]);
        size_t i1 = i, j1 = j;
        if (ord <= 0)
            while (i1 < ref->n && same_group(&ref->a[i1], &ref->a[i]))
                i1++;
        if (ord >= 0)
            while (j1 < bf->n && same_group(&bf->a[j1], &bf->a[j]))
                j1++;
        const struct arec *any = ord <= 0 ? &ref->a[i] : &bf->a[j];
        if (!strcmp(names_tab[any->rule], "overdue")) { /* keyed by alert id: ids differ */
            c->skipped_overdue += (i1 - i) + (j1 - j);
            i = i1;
            j = j1;
            continue;
        }
        struct rulecmp *rc = rulecmp_of(c, any->rule);
        rc->ref_alerts += i1 - i;
        rc->bf_alerts += j1 - j;
        rc->ref_groups += i1 > i;
        rc->bf_groups += j1 > j;
        if (ord > 0) {
            rc->extra_groups++;
            c->extra_groups++;
        } else {
            c->groups++;
            int pr = ref->a[i].prio, pb = j1 > j ? bf->a[j].prio : -1; /* highest first */
            if (pb < pr) {
                rc->missing++;
                if (c->nshown < MAX_SHOWN)
                    c->shown[c->nshown++] = (struct missing){.ref = &ref->a[i], .bf_prio = pb};
                c->missing++;
            } else if (pb > pr) {
                rc->higher++;
                c->higher++;
            }
            /* The engine's guarantee, alert by alert, for windowed rules:
             * an alert of the rule and key at that tier or higher whose
             * triggering event lies less than window_days from an event of
             * this alert's window. */
            double days = rule_window_days(names_tab[any->rule]);
            for (size_t a = i; days > 0 && a < i1; a++) {
                const struct arec *R = &ref->a[a];
                if (R->ev_min_ms == INT64_MAX) {
                    c->win_unknown++;
                    continue;
                }
                int64_t D = (int64_t)(days * 86400000.0);
                int covered = 0;
                for (size_t b = j; b < j1 && !covered; b++) {
                    const struct arec *B = &bf->a[b];
                    covered = B->prio >= R->prio && B->trig_ms != INT64_MIN &&
                              B->trig_ms > R->ev_min_ms - D && B->trig_ms < R->ev_max_ms + D;
                }
                rc->win_checked++;
                c->win_checked++;
                if (!covered) {
                    rc->win_uncovered++;
                    c->win_uncovered++;
                    if (c->nuncov < MAX_SHOWN)
                        c->uncov[c->nuncov++] = R;
                }
            }
        }
        i = i1;
        j = j1;
    }
}

struct idxtime {
    int64_t t;
    uint64_t i;
};

static int cmp_idxtime(const void *x, const void *y)
{
    const struct idxtime *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* One publish phase into an own hub, with the hub's CPU over it. */
struct bphase {
    const char *label;
    struct phase_result res;
    double hub_cpu_s, loop_cpu_s;
    uint64_t alerts; /* alerts_raised over the phase */
};

static void bphase_run(struct bphase *bp, struct hubrun *hr, void *ctx, const struct corpus *c,
                       const struct requests *q, uint64_t *ev_seq)
{
    struct stats a, b;
    get_stats(hr->ctl, &a, opt.reply_timeout_s);
    sync();
    printf("running: %s: %" PRIu64 " events, %d publisher(s) x window %d, batch %d ...\n",
           bp->label, c->n, opt.publishers, opt.window, opt.batch);
    struct phase ph = {.name = "hub", .endpoint = hr->hub.endpoint, .ctx = ctx, .corpus = c,
                       .reqs = q, .hub = 1, .ev_seq = ev_seq};
    double c0 = proc_cpu_s(hr->hub.pid, 0), l0 = proc_cpu_s(hr->hub.pid, 1);
    run_phase(&ph);
    bp->hub_cpu_s = proc_cpu_s(hr->hub.pid, 0) - c0;
    bp->loop_cpu_s = proc_cpu_s(hr->hub.pid, 1) - l0;
    bp->res = ph.res;
    get_stats(hr->ctl, &b, opt.reply_timeout_s);
    bp->alerts = stat_get(&b, "alerts_raised") - stat_get(&a, "alerts_raised");
    if (ph.res.failed)
        printf("  WARNING: %" PRIu64 " events were not accepted; first: %s\n", ph.res.failed,
               ph.res.first_failure);
    if (ph.res.accepted + ph.res.duplicate < c->n)
        printf("  WARNING: only %" PRIu64 " of %" PRIu64 " events accepted%s\n", ph.res.accepted,
               c->n, ph.res.requests_sent < q->n ? " (stopped by --duration-limit or ^C)" : "");
}

static void print_bphase_row(const char *label, uint64_t events, double elapsed_s, double p50,
                             double p99, double hub_cpu_s, uint64_t alerts)
{
    printf("  %-44s %9" PRIu64 " %10.0f %8.3f %8.3f %10.2f %8" PRIu64 "\n", label, events,
           elapsed_s > 0 ? (double)events / elapsed_s : 0, p50, p99,
           events ? hub_cpu_s * 1e6 / (double)events : 0, alerts);
}

static void json_bphase(const char *name, const struct bphase *bp)
{
    printf("\"%s\":{\"events\":%" PRIu64 ",\"elapsed_s\":%.3f,\"events_per_s\":%.1f,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"hub_cpu_us_per_event\":%.3f,"
           "\"loop_cpu_us_per_event\":%.3f,\"alerts_raised\":%" PRIu64 "}",
           name, bp->res.accepted, bp->res.elapsed_s, bp->res.events_per_s, bp->res.p50_ms,
           bp->res.p99_ms, bp->res.accepted ? bp->hub_cpu_s * 1e6 / (double)bp->res.accepted : 0,
           bp->res.accepted ? bp->loop_cpu_s * 1e6 / (double)bp->res.accepted : 0, bp->alerts);
}

int run_backfill(const char *nonce)
{
    uint64_t n = opt.events < 26 ? 26 : opt.events;
    uint64_t live_n = n / 13; /* a month of a year's rate, then the year */
    struct feed f = feed_for(FEED_BACKFILL, opt.span_days);
    f.live_n = live_n;
    read_rule_windows();

    static struct corpus all, sorted;
    static struct requests q_live, q_hist, q_sorted;
    int64_t tg = now_ns();
    corpus_build(&all, n, opt.seed, nonce, &f);
    struct corpus live = corpus_view(&all, 0, live_n), hist = corpus_view(&all, live_n, n);
    struct idxtime *it = malloc(n * sizeof *it);
    uint64_t *order = malloc(n * sizeof *order);
    if (!it || !order)
        die("out of memory for %" PRIu64 " events", n);
    for (uint64_t i = 0; i < n; i++)
        it[i] = (struct idxtime){.t = all.meta[i].occurred_ms, .i = i};
    qsort(it, n, sizeof *it, cmp_idxtime);
    for (uint64_t i = 0; i < n; i++)
        order[i] = it[i].i;
    free(it);
    corpus_permute(&sorted, &all, order);
    requests_build(&q_live, &live, opt.batch);
    requests_build(&q_hist, &hist, opt.batch);
    requests_build(&q_sorted, &sorted, opt.batch);
    double gen_s = secs(now_ns() - tg);

    int64_t live0 = INT64_MAX, live1 = INT64_MIN, hist0 = INT64_MAX, hist1 = INT64_MIN;
    for (uint64_t i = 0; i < n; i++) {
        int64_t t = all.meta[i].occurred_ms;
        if (i < live_n) {
            live0 = t < live0 ? t : live0;
            live1 = t > live1 ? t : live1;
        } else {
            hist0 = t < hist0 ? t : hist0;
            hist1 = t > hist1 ? t : hist1;
        }
    }
    char d[4][16];
    fmt_date(live0, d[0], sizeof d[0]);
    fmt_date(live1, d[1], sizeof d[1]);
    fmt_date(hist0, d[2], sizeof d[2]);
    fmt_date(hist1, d[3], sizeof d[3]);
    printf("csphub-bench --backfill: %" PRIu64 " events of the classic mix (avg %.0f B, generated "
           "and sorted in %.2f s, seed %" PRIu64 ", id nonce %s)\n",
           n, (double)all.off[n] / (double)n, gen_s, opt.seed, nonce);
    printf("  people P-000001..P-%06u drawn %s; rules: %s/config/rules.yaml\n", f.people,
           f.uniform ? "uniformly" : "skewed (some recur a lot)", CSPH_SOURCE_DIR);
    printf("  backfill run: 1. a month of live events: %" PRIu64 ", occurred_at %s to %s "
           "advancing in publish order (up to 2 days late)\n"
           "                2. a year of history for the same people, arriving late: %" PRIu64
           ", occurred_at at random %s to %s\n",
           live_n, d[0], d[1], n - live_n, d[2], d[3]);
    printf("  in-order run: the same %" PRIu64 " events sorted by occurred_at, from one "
           "publisher (so they arrive in that order)\n", n);
    if (strcmp(fs_name(opt.tmpdir), "tmpfs") == 0)
        printf("  WARNING: %s is tmpfs: synced commits cost nothing there; use --tmpdir on a "
               "real disk\n", opt.tmpdir);

    void *ctx = zmq_ctx_new();
    uint64_t *seq_bf = calloc(n, sizeof *seq_bf), *seq_io = calloc(n, sizeof *seq_io);
    if (!seq_bf || !seq_io)
        die("out of memory for %" PRIu64 " seqs", n);
    static struct hubrun A, B;
    static struct bphase pl = {.label = "backfill run, the live month"},
                         ph = {.label = "backfill run, the year's history (late)"},
                         po = {.label = "in-order run"};
    struct stats stA, stB;
    struct seqmap smA = {0}, smB = {0};
    static struct aset alA, alB;
    int done = 0;

    /* 1. the backfill run */
    A.label = "backfill";
    printf("\n");
    hubrun_start(&A, ctx, 0);
    bphase_run(&pl, &A, ctx, &live, &q_live, seq_bf);
    if (!g.interrupted)
        bphase_run(&ph, &A, ctx, &hist, &q_hist, seq_bf + live_n);
    get_stats(A.ctl, &stA, opt.reply_timeout_s);
    A.st1 = stA;
    if (!g.interrupted) {
        printf("running: reading the backfill hub's alerts ...\n");
        seqmap_build(&smA, &all, seq_bf);
        read_all_alerts(A.ctl, &stA, &smA, &alA);
        done++;
    }
    hubrun_stop(&A, 0);

    /* 2. the same events in occurred_at order, one publisher */
    uint64_t inversions = 0, unacked = 0;
    if (!g.interrupted) {
        int np = opt.publishers;
        opt.publishers = 1;
        B.label = "in occurred_at order";
        printf("\n");
        hubrun_start(&B, ctx, 0);
        bphase_run(&po, &B, ctx, &sorted, &q_sorted, seq_io);
        opt.publishers = np;
        get_stats(B.ctl, &stB, opt.reply_timeout_s);
        B.st1 = stB;
        for (uint64_t i = 0; i < n; i++) {
            if (!seq_io[i])
                unacked++;
            else if (i && seq_io[i - 1] && seq_io[i] < seq_io[i - 1])
                inversions++;
        }
        if (!g.interrupted) {
            printf("running: reading the in-order hub's alerts ...\n");
            seqmap_build(&smB, &sorted, seq_io);
            read_all_alerts(B.ctl, &stB, &smB, &alB);
            done++;
        }
        hubrun_stop(&B, 0);
    }

    struct comparison *cmp = calloc(1, sizeof *cmp);
    if (!cmp)
        die("out of memory");
    qsort(alA.a, alA.n, sizeof *alA.a, cmp_arec);
    qsort(alB.a, alB.n, sizeof *alB.a, cmp_arec);
    if (done == 2) {
        compare_alerts(cmp, &alB, &alA);
        qsort(cmp->rules, (size_t)cmp->nrules, sizeof *cmp->rules, cmp_rulecmp);
    }

    /* The figures. */
    double a_el = pl.res.elapsed_s + ph.res.elapsed_s;
    uint64_t a_acc = pl.res.accepted + ph.res.accepted;
    double a_eps = a_el > 0 ? (double)a_acc / a_el : 0;
    printf("\n== csphub-bench --backfill: %" PRIu64 " events (a live month of %" PRIu64
           ", then a year of history of %" PRIu64 "), default rules, batch %d, window %d ==\n",
           n, live_n, n - live_n, opt.batch, opt.window);
    printf("\n  %-44s %9s %10s %8s %8s %10s %8s\n", "publish", "events", "events/s", "p50 ms",
           "p99 ms", "hub CPU/ev", "alerts");
    printf("  %-44s %9s %10s %8s %8s %10s %8s\n", "", "", "", "", "", "us", "raised");
    char lab[96];
    snprintf(lab, sizeof lab, "backfill: live month (%d publisher%s)", opt.publishers,
             opt.publishers == 1 ? "" : "s");
    print_bphase_row(lab, pl.res.accepted, pl.res.elapsed_s, pl.res.p50_ms, pl.res.p99_ms,
                     pl.hub_cpu_s, pl.alerts);
    snprintf(lab, sizeof lab, "backfill: the year's history, late");
    print_bphase_row(lab, ph.res.accepted, ph.res.elapsed_s, ph.res.p50_ms, ph.res.p99_ms,
                     ph.hub_cpu_s, ph.alerts);
    printf("  %-44s %9" PRIu64 " %10.0f %8s %8s %10.2f %8" PRIu64 "\n", "backfill: both", a_acc,
           a_eps, "", "", a_acc ? (pl.hub_cpu_s + ph.hub_cpu_s) * 1e6 / (double)a_acc : 0,
           pl.alerts + ph.alerts);
    if (done == 2) {
        print_bphase_row("in occurred_at order (1 publisher)", po.res.accepted, po.res.elapsed_s,
                         po.res.p50_ms, po.res.p99_ms, po.hub_cpu_s, po.alerts);
        printf("  %-44s %9s %10.3f %8s %8s %10.3f\n", "ratio backfill/in-order", "",
               ratio(a_eps, po.res.events_per_s), "", "",
               ratio((pl.hub_cpu_s + ph.hub_cpu_s) / (double)(a_acc ? a_acc : 1),
                     po.hub_cpu_s / (double)(po.res.accepted ? po.res.accepted : 1)));
        printf("  in-order arrival checked: %" PRIu64 " of %" PRIu64 " events acked, seqs in "
               "occurred_at order (%" PRIu64 " inversions)\n",
               n - unacked, n, inversions);
    }

    if (done == 2) {
        printf("\n  alerts by rule (groups: distinct (rule, panel, key); a tier is missing when "
               "the backfill run's highest\n  priority for a group is below the in-order run's)\n");
        printf("  %-32s %9s %9s %9s %9s %8s %8s %8s %9s\n", "rule", "in-order", "keys",
               "backfill", "keys", "missing", "higher", "extra", "windows");
        printf("  %-32s %9s %9s %9s %9s %8s %8s %8s %9s\n", "", "alerts", "", "alerts", "",
               "tiers", "tiers", "keys", "uncovered");
        for (int r = 0; r < cmp->nrules; r++) { /* the rules by name */
            const struct rulecmp *rc = &cmp->rules[r];
            double days = rule_window_days(names_tab[rc->rule]);
            char win[32];
            if (days > 0)
                snprintf(win, sizeof win, "%" PRIu64 "/%" PRIu64, rc->win_uncovered,
                         rc->win_checked);
            else
                snprintf(win, sizeof win, "-");
            printf("  %-32s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %8" PRIu64
                   " %8" PRIu64 " %8" PRIu64 " %9s\n",
                   names_tab[rc->rule], rc->ref_alerts, rc->ref_groups, rc->bf_alerts,
                   rc->bf_groups, rc->missing, rc->higher, rc->extra_groups, win);
        }
        printf("  %-32s %9zu %9s %9zu\n", "all", alB.n, "", alA.n);
        if (cmp->skipped_overdue)
            printf("  (%" PRIu64 " 'overdue' alerts left out: keyed by alert id, which differs "
                   "between hubs)\n", cmp->skipped_overdue);
        printf("\n  guarantee, (rule, panel, key, max priority): %" PRIu64 " reached in the "
               "in-order run; ", cmp->groups);
        if (!cmp->missing)
            printf("no tier missing in the backfill run\n");
        else
            printf("%" PRIu64 " MISSING in the backfill run:\n", cmp->missing);
        for (int k = 0; k < cmp->nshown; k++) {
            const struct arec *R = cmp->shown[k].ref;
            printf("    %s on %s, key %s: in order %s, backfill %s\n", names_tab[R->rule],
                   names_tab[R->panel], R->kshow, prio_names[R->prio < 0 ? 0 : R->prio],
                   cmp->shown[k].bf_prio < 0 ? "no alert" : prio_names[cmp->shown[k].bf_prio]);
        }
        if (cmp->missing > (uint64_t)cmp->nshown)
            printf("    ... and %" PRIu64 " more\n", cmp->missing - (uint64_t)cmp->nshown);
        printf("  guarantee, alert by alert (windowed rules): %" PRIu64 " in-order alerts, each "
               "needing a backfill alert of its rule and key at that tier or higher triggered "
               "less than window_days from an event of its window: ",
               cmp->win_checked);
        if (!cmp->win_uncovered)
            printf("all covered\n");
        else
            printf("%" PRIu64 " NOT covered\n", cmp->win_uncovered);
        for (int k = 0; k < cmp->nuncov; k++) {
            const struct arec *R = cmp->uncov[k];
            char a0[16], a1[16];
            fmt_date(R->ev_min_ms, a0, sizeof a0);
            fmt_date(R->ev_max_ms, a1, sizeof a1);
            printf("    %s on %s, key %s, %s: window %s to %s (%" PRIu64 " events, alert %" PRIu64
                   " of the in-order hub)\n",
                   names_tab[R->rule], names_tab[R->panel], R->kshow,
                   prio_names[R->prio < 0 ? 0 : R->prio], a0, a1, R->nev, R->id);
        }
        if (cmp->win_unknown)
            printf("  (%" PRIu64 " in-order alerts of windowed rules had no evidence the bench "
                   "could date: not checked)\n", cmp->win_unknown);
        printf("  the backfill run above the in-order run (allowed: a late window may fire on "
               "its own): %" PRIu64 " groups at a higher tier, %" PRIu64 " keys the in-order run "
               "has no alert for\n",
               cmp->higher, cmp->extra_groups);
        if (alA.cut || alB.cut)
            printf("  (%" PRIu64 " + %" PRIu64 " alerts came with their evidence cut and were "
                   "read on with 'evidence')\n", alA.cut, alB.cut);
    }
    printf("\n");
    print_memory(&A.hub, "backfill");
    if (done == 2)
        print_memory(&B.hub, "in order");

    /* One JSON line. */
    printf("{\"bench\":\"csphub-bench\",\"mode\":\"backfill\",\"config\":{\"events\":%" PRIu64
           ",\"live_events\":%" PRIu64 ",\"history_events\":%" PRIu64 ",\"live_days\":%.0f,"
           "\"history_days\":%.0f,\"publishers\":%d,\"in_order_publishers\":1,\"window\":%d,"
           "\"batch\":%d,\"people\":%u,\"seed\":%" PRIu64 ",\"tmpdir_fs\":\"%s\"},",
           n, live_n, n - live_n, f.span_days, f.history_days, opt.publishers, opt.window,
           opt.batch, f.people, opt.seed, fs_name(opt.tmpdir));
    printf("\"backfill\":{");
    json_bphase("live", &pl);
    printf(",");
    json_bphase("history", &ph);
    printf(",\"events\":%" PRIu64 ",\"elapsed_s\":%.3f,\"events_per_s\":%.1f,\"alerts\":%zu,",
           a_acc, a_el, a_eps, alA.n);
    json_memory(&A.hub);
    printf("}");
    if (done == 2) {
        printf(",\"in_order\":{");
        json_bphase("publish", &po);
        printf(",\"events_per_s\":%.1f,\"alerts\":%zu,\"inversions\":%" PRIu64 ",",
               po.res.events_per_s, alB.n, inversions);
        json_memory(&B.hub);
        printf("},\"ratio_backfill_in_order_events_per_s\":%.4f",
               ratio(a_eps, po.res.events_per_s));
        printf(",\"comparison\":{\"groups\":%" PRIu64 ",\"missing\":%" PRIu64 ",\"higher\":%" PRIu64
               ",\"extra_keys\":%" PRIu64 ",\"windows_checked\":%" PRIu64
               ",\"windows_uncovered\":%" PRIu64 ",\"overdue_skipped\":%" PRIu64 ",\"rules\":{",
               cmp->groups, cmp->missing, cmp->higher, cmp->extra_groups, cmp->win_checked,
               cmp->win_uncovered, cmp->skipped_overdue);
        for (int r = 0; r < cmp->nrules; r++) {
            const struct rulecmp *rc = &cmp->rules[r];
            printf("%s", r ? "," : "");
            json_str(names_tab[rc->rule]);
            printf(":{\"in_order_alerts\":%" PRIu64 ",\"in_order_keys\":%" PRIu64
                   ",\"backfill_alerts\":%" PRIu64 ",\"backfill_keys\":%" PRIu64
                   ",\"missing\":%" PRIu64 ",\"higher\":%" PRIu64 ",\"extra_keys\":%" PRIu64
                   ",\"windows_checked\":%" PRIu64 ",\"windows_uncovered\":%" PRIu64 "}",
                   rc->ref_alerts, rc->ref_groups, rc->bf_alerts, rc->bf_groups, rc->missing,
                   rc->higher, rc->extra_groups, rc->win_checked, rc->win_uncovered);
        }
        printf("},\"missing_list\":[");
        for (int k = 0; k < cmp->nshown; k++) {
            const struct arec *R = cmp->shown[k].ref;
            printf("%s{\"rule\":", k ? "," : "");
            json_str(names_tab[R->rule]);
            printf(",\"panel\":");
            json_str(names_tab[R->panel]);
            printf(",\"key\":");
            json_str(R->kshow);
            printf(",\"in_order\":\"%s\",\"backfill\":\"%s\"}", prio_names[R->prio < 0 ? 0 : R->prio],
                   cmp->shown[k].bf_prio < 0 ? "none" : prio_names[cmp->shown[k].bf_prio]);
        }
        printf("]}");
    }
    printf("}\n");

    int rc = g.interrupted || done < 2 || cmp->missing || cmp->win_uncovered ? 1 : 0;
    free(cmp);
    aset_free(&alA);
    aset_free(&alB);
    free(smA.occ);
    free(smB.occ);
    free(seq_bf);
    free(seq_io);
    free(order);
    zmq_ctx_term(ctx);
    cleanup_all();
    requests_free(&q_live);
    requests_free(&q_hist);
    requests_free(&q_sorted);
    corpus_free(&sorted);
    corpus_free(&all);
    return rc;
}
