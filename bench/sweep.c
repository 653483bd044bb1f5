/* csphub-bench-sweep: the retention sweep's cost (issue 17, point 1): the
 * longest write transaction of a sweep step, and the ingest rate with the
 * sweep running against the rate without it (target: at least 0.8). Not a
 * test: it prints figures (bench/README.md).
 *
 * It builds a data directory through the hub's own core, as the live hub
 * writes it (schema-checked events through the ingest, the journal on):
 * --events ASB reports and domestic-abuse incidents dated evenly over ten
 * years before --as-of, naming --people people. Then, on that log, it
 * publishes --measure more events in batches of --batch without the sweep,
 * and as many again with the sweep's steps between the batches (--rounds
 * such pairs: the machine's load varies), paced as
 * the hub paces them (sweeprun.h: after a step of d ms, the next 5*d ms
 * later), under the shipped config/retention.yaml.
 *
 * --alerts N: instead of the rounds, N MARAC alerts (high-risk incidents
 * of N people, raised seven years before --as-of, the shipped rules in
 * force) on top of the log, then one pass unpaced: the longest write
 * transaction of a step that expires alerts (sweepalerts.h), against the
 * step's budget (step_ms). */
#define _GNU_SOURCE
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "core.h"
#include "ops.h"
#include "retention.h"
#include "rules.h"
#include "schema.h"
#include "sweep.h"
#include "timefmt.h"

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const struct hub_error *e)
{
    fprintf(stderr, "csphub-bench-sweep: %s: %s\n", what, e ? e->message : "failed");
    exit(1);
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: csphub-bench-sweep [--events N] [--measure N] [--rounds N] [--batch N]\n"
            "                          [--people N] [--as-of RFC3339] [--dir DIR] [--keep]\n"
            "                          [--start]\n"
            "\n"
            "Builds a log of N events (ASB reports and domestic-abuse incidents over ten\n"
            "years), then measures the ingest rate without and with the retention sweep\n"
            "running, and the sweep's longest write transaction.\n"
            "\n"
            "  --events N    events in the log before measuring (default 1000000)\n"
            "  --measure N   events published in each measured phase (default 100000)\n"
            "  --rounds N    pairs of phases, without then with the sweep (default 3)\n"
            "  --batch N     events a batch (default 1000)\n"
            "  --people N    distinct people named (default 100000)\n"
            "  --as-of T     the hub's clock (default 2026-12-01T00:00:00Z)\n"
            "  --dir DIR     build the data directory there (default a new one in $TMPDIR)\n"
            "  --keep        keep it afterwards (the default removes it)\n"
            "  --start       instead of the rounds: what a hub's start costs the sweep once a\n"
            "                pass has finished, without the saved position (a pass from seq 1,\n"
            "                as every start did before it was saved) and with it\n"
            "  --alerts N    instead of the rounds: N MARAC alerts raised seven years before\n"
            "                --as-of (the shipped rules in force), then one pass: the longest\n"
            "                write transaction of the steps that expire them\n");
}

struct gen {
    struct hub_core *core;
    struct hub_schemas *schemas;
    msgpack_sbuffer sb;
    msgpack_zone zone;
    uint64_t n, people;
    int64_t from_ms, span_ms, now_ms;
    int high; /* --alerts: high-risk incidents of distinct people, a day before now */
};

static void kv(msgpack_packer *pk, const char *k, const char *v)
{
    msgpack_pack_str(pk, strlen(k));
    msgpack_pack_str_body(pk, k, strlen(k));
    msgpack_pack_str(pk, strlen(v));
    msgpack_pack_str_body(pk, v, strlen(v));
}

/* One event, its number i: every fourth a domestic-abuse incident. */
static void one(struct gen *g, uint64_t i)
{
    char id[32], when[40], who[32], other[32];
    uint64_t x = i * 0x9E3779B97F4A7C15ull;
    snprintf(id, sizeof id, "b%" PRIu64, i);
    csph_time_format(g->from_ms + (int64_t)(x % (uint64_t)g->span_ms), when);
    snprintf(who, sizeof who, "P-%" PRIu64, (x >> 20) % g->people);
    snprintf(other, sizeof other, "P-%" PRIu64, (x >> 40) % g->people);
    g->sb.size = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &g->sb, msgpack_sbuffer_write);
    if (g->high) { /* one MARAC alert each (marac.high-risk) */
        snprintf(id, sizeof id, "h%" PRIu64, i);
        snprintf(who, sizeof who, "A-%" PRIu64, i);
        csph_time_format(g->now_ms - 86400000, when);
        msgpack_pack_map(&pk, 6);
        kv(&pk, "id", id);
        kv(&pk, "type", "da.incident");
        kv(&pk, "occurred_at", when);
        kv(&pk, "source", "police");
        kv(&pk, "victim", who);
        kv(&pk, "risk", "high");
        return;
    }
    if (i % 4 == 0) {
        msgpack_pack_map(&pk, 7);
        kv(&pk, "id", id);
        kv(&pk, "type", "da.incident");
        kv(&pk, "occurred_at", when);
        kv(&pk, "source", "police");
        kv(&pk, "victim", who);
        kv(&pk, "perpetrator", other);
        kv(&pk, "risk", "medium");
    } else {
        msgpack_pack_map(&pk, 8);
        kv(&pk, "id", id);
        kv(&pk, "type", "asb.report");
        kv(&pk, "occurred_at", when);
        kv(&pk, "source", "council");
        kv(&pk, "victim", who);
        msgpack_pack_str(&pk, 8);
        msgpack_pack_str_body(&pk, "location", 8);
        msgpack_pack_map(&pk, 1);
        kv(&pk, "lsoa", "E01000916");
        kv(&pk, "category", "personal");
        kv(&pk, "summary", "noise and threats at the door, late evening, third time this month");
    }
}

/* Publish events [from, from + n) in batches; the batches' longest time. */
static void publish(struct gen *g, uint64_t from, uint64_t n, uint64_t batch, int64_t *max_ns)
{
    struct hub_error e;
    for (uint64_t i = from; i < from + n;) {
        int64_t t0 = now_ns();
        if (hub_core_batch_begin(g->core, &e))
            die("batch", &e);
        for (uint64_t k = 0; k < batch && i < from + n; k++, i++) {
            one(g, i);
            msgpack_object obj;
            size_t off = 0;
            struct hub_event_info info;
            uint64_t seq;
            int dup;
            msgpack_zone_clear(&g->zone);
            msgpack_unpack(g->sb.data, g->sb.size, &off, &g->zone, &obj);
            if (hub_schema_check(g->schemas, &obj, 1, &info, &e) ||
                hub_ingest_event(hub_core_ingest(g->core), &info, &obj, g->sb.data, g->sb.size,
                                 g->now_ms, &seq, &dup, &e))
                die("event", &e);
        }
        if (hub_core_batch_commit(g->core, &e) || hub_core_batch_settle(g->core, NULL, &e))
            die("commit", &e);
        if (max_ns && now_ns() - t0 > *max_ns)
            *max_ns = now_ns() - t0;
    }
}

/* One step as every start took it before the position was saved: a scan,
 * then, when it found work, a batch of its own (begin, apply, commit,
 * settle). Timed: *txn_ns from begin to the synced commit, *work_ns the
 * sweep's own part (both 0 when nothing was written). 1 when it wrote. */
static int timed_step(struct hub_sweep *sw, struct hub_ctx *h, const struct hub_retention *r,
                      int64_t *txn_ns, int64_t *work_ns)
{
    struct hub_error e;
    int work = 0;
    *txn_ns = *work_ns = 0;
    if (hub_sweep_scan(sw, h->core, h->schemas, h->cfg, r,
                       (uint64_t)hub_retention_step_ms(r) * 1000, &work, &e))
        die("sweep scan", &e);
    if (work) {
        int64_t b0 = now_ns();
        if (hub_core_batch_begin(h->core, &e))
            die("sweep step", &e);
        int64_t a0 = now_ns();
        if (hub_sweep_apply(sw, h, r, &e))
            die("sweep step", &e);
        *work_ns = now_ns() - a0;
        if (hub_core_batch_commit(h->core, &e))
            die("sweep commit", &e);
        *txn_ns = now_ns() - b0;
        if (hub_core_batch_settle(h->core, NULL, &e))
            die("settle", &e);
    }
    hub_sweep_step_done(sw, 1);
    return work;
}

/* Steps until the pass ends, unpaced; its seconds. save_alone: steps that
 * found nothing save the position as the hub does (hub_sweep_step);
 * otherwise scan and apply only, as every start did before the position
 * was saved. */
static double whole_pass(struct hub_sweep *sw, struct hub_ctx *h, const struct hub_retention *r,
                         int save_alone)
{
    struct hub_error e;
    int64_t t0 = now_ns();
    while (hub_sweep_active(sw)) {
        int wrote = 0;
        uint64_t us;
        if (save_alone) {
            if (hub_sweep_step(sw, h, r, &wrote, &us, &e) ||
                (wrote && hub_core_batch_settle(h->core, NULL, &e)))
                die("sweep step", &e);
            continue;
        }
        int64_t txn, w;
        timed_step(sw, h, r, &txn, &w);
    }
    return (double)(now_ns() - t0) / 1e9;
}

/* --alerts: one pass, unpaced, over a log ending in alerts past their
 * period. */
static void measure_alerts(struct hub_ctx *h, const struct hub_retention *r, int64_t now_ms)
{
    struct hub_error e;
    struct hub_sweep *sw;
    int64_t max_txn = 0, max_work = 0, sum_txn = 0, t0 = now_ns();
    uint64_t wrote = 0, steps = 0;
    if (hub_sweep_new(&sw, &e))
        die("sweep", &e);
    hub_sweep_begin_pass(sw, now_ms);
    while (hub_sweep_active(sw)) {
        int64_t txn, w;
        uint64_t before = hub_sweep_stats(sw)->alerts;
        int did = timed_step(sw, h, r, &txn, &w);
        steps++;
        if (did && hub_sweep_stats(sw)->alerts > before) { /* a step that expired alerts */
            wrote++;
            sum_txn += txn;
            max_txn = txn > max_txn ? txn : max_txn;
            max_work = w > max_work ? w : max_work;
        }
    }
    const struct hub_sweep_stats *st = hub_sweep_stats(sw);
    printf("pass: %.1f s, %" PRIu64 " steps; %" PRIu64 " events and %" PRIu64
           " alerts examined, %" PRIu64 " bodies removed, %" PRIu64 " alerts expired in %" PRIu64
           " steps (%.1f a step)\n",
           (double)(now_ns() - t0) / 1e9, steps, st->examined, st->alerts_examined, st->removed,
           st->alerts, wrote, wrote ? (double)st->alerts / (double)wrote : 0.0);
    printf("steps that expired alerts: write transaction (begin to synced commit) longest "
           "%.1f ms, mean %.1f ms; the sweep's own work in one (apply) at most %.1f ms, "
           "against a budget of step_ms %u (the first candidate past the budget waits for the "
           "next step)\n",
           (double)max_txn / 1e6, wrote ? (double)sum_txn / 1e6 / (double)wrote : 0.0,
           (double)max_work / 1e6, hub_retention_step_ms(r));
    hub_sweep_destroy(&sw);
}

/* --start: a first pass (saving its position), then a start without the
 * saved position and one with it. */
static void measure_start(struct hub_ctx *h, const struct hub_retention *r, int64_t now_ms)
{
    struct hub_error e;
    struct hub_sweep *sw;
    if (hub_sweep_new(&sw, &e))
        die("sweep", &e);
    hub_sweep_begin_pass(sw, now_ms);
    double first = whole_pass(sw, h, r, 1);
    printf("first pass: %.1f s, %" PRIu64 " events examined, %" PRIu64 " bodies removed, "
           "%" PRIu64 " batches that saved only the position\n",
           first, hub_sweep_stats(sw)->examined, hub_sweep_stats(sw)->removed,
           hub_sweep_stats(sw)->saves);
    hub_sweep_destroy(&sw);
    /* After: the saved position says the pass finished; the next is due a
     * day after it began (the shipped sweep.every), so nothing runs. */
    if (hub_sweep_new(&sw, &e))
        die("sweep", &e);
    int64_t t0 = now_ns();
    struct hub_sweep_pos pos;
    enum hub_sweep_resumed how =
        hub_sweep_resume(sw, hub_core_store(h->core), r, now_ms + 60000, &pos);
    double after = 0;
    if (hub_sweep_active(sw))
        after = whole_pass(sw, h, r, 1);
    printf("a start with it: %.4f s (%s at seq %" PRIu64 "), %" PRIu64 " events examined; the "
           "next pass is due %lld s after the last began\n",
           (double)(now_ns() - t0) / 1e9 + after,
           how == CSPH_SWEEP_WAITING   ? "the pass had finished"
           : how == CSPH_SWEEP_RESUMED ? "resumed"
                                       : "a new pass",
           pos.next, hub_sweep_stats(sw)->examined,
           (long long)(hub_retention_every_ms(r) / 1000));
    hub_sweep_destroy(&sw);
    /* Before: a start began a pass from seq 1 whatever the last one did. */
    if (hub_sweep_new(&sw, &e))
        die("sweep", &e);
    hub_sweep_begin_pass(sw, now_ms + 60000);
    double before = whole_pass(sw, h, r, 0);
    printf("a start without the saved position (a pass from seq 1): %.2f s of sweep work, "
           "%" PRIu64 " events examined, %" PRIu64 " bodies removed\n",
           before, hub_sweep_stats(sw)->examined, hub_sweep_stats(sw)->removed);
    hub_sweep_destroy(&sw);
}

int main(int argc, char **argv)
{
    uint64_t events = 1000000, measure = 100000, batch = 1000, people = 100000, rounds = 3,
             alerts = 0;
    const char *dir = NULL, *as_of = "2026-12-01T00:00:00Z";
    int keep = 0, start = 0;
    static const struct option opts[] = {
        {"events", required_argument, 0, 'e'}, {"measure", required_argument, 0, 'm'},
        {"batch", required_argument, 0, 'b'},  {"people", required_argument, 0, 'p'},
        {"as-of", required_argument, 0, 'a'},  {"dir", required_argument, 0, 'd'},
        {"keep", no_argument, 0, 'k'},         {"help", no_argument, 0, 'h'},
        {"rounds", required_argument, 0, 'r'}, {"start", no_argument, 0, 's'},
        {"alerts", required_argument, 0, 'A'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'e': events = strtoull(optarg, NULL, 10); break;
        case 'm': measure = strtoull(optarg, NULL, 10); break;
        case 'b': batch = strtoull(optarg, NULL, 10); break;
        case 'p': people = strtoull(optarg, NULL, 10); break;
        case 'a': as_of = optarg; break;
        case 'd': dir = optarg; break;
        case 'k': keep = 1; break;
        case 'r': rounds = strtoull(optarg, NULL, 10); break;
        case 's': start = 1; break;
        case 'A': alerts = strtoull(optarg, NULL, 10); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!events || !measure || !batch || !people || !rounds || rounds > 64) {
        fprintf(stderr, "csphub-bench-sweep: --events, --measure, --batch and --people must be "
                        "positive, --rounds 1-64\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* each figure as it comes, into a file too */
    static struct hub_config cfg;
    struct hub_error e;
    hub_config_defaults(&cfg);
    if (hub_config_load_panels(&cfg, &e))
        die("panels", &e);
    char tmpl[2048];
    if (!dir) {
        snprintf(tmpl, sizeof tmpl, "%s/csphub-bench-sweep-XXXXXX",
                 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmpl))
            die("mkdtemp", NULL);
        dir = tmpl;
    }
    if (strlen(dir) >= sizeof cfg.data_dir - 64) {
        fprintf(stderr, "csphub-bench-sweep: --dir is too long\n");
        return 2;
    }
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%.4000s", dir);
    struct gen g = {.n = events, .people = people};
    const char *names[CSPH_MAX_PANELS];
    for (size_t i = 0; i < cfg.npanels; i++)
        names[i] = cfg.panels[i].name;
    if (hub_schemas_load(&g.schemas, cfg.schemas_dir, names, cfg.npanels, &e))
        die("schemas", &e);
    struct hub_retention *ret = NULL;
    if (hub_retention_load(&ret, cfg.retention_file, g.schemas, &cfg, &e))
        die("retention", &e);
    if (csph_time_parse(as_of, strlen(as_of), &g.now_ms, NULL))
        die("--as-of is no RFC 3339 time", NULL);
    g.span_ms = 10LL * 365 * 86400000;
    g.from_ms = g.now_ms - g.span_ms;
    /* --alerts: the shipped rules in force, so the incidents raise alerts */
    struct hub_rules *rules = NULL;
    if (alerts && hub_rules_load(&rules, cfg.rules_file, cfg.panels, cfg.npanels, g.schemas, &e))
        die("rules", &e);
    struct hub_core_opts o = {.cfg = &cfg, .dir = dir, .map_size = 64ull << 30,
                              .schemas = g.schemas, .rules = rules, .apply_limits = 1,
                              .journal = 1};
    if (hub_core_open(&g.core, &o, &e))
        die("open", &e);
    msgpack_sbuffer_init(&g.sb);
    msgpack_zone_init(&g.zone, 4096);

    int64_t t0 = now_ns();
    if (alerts) { /* raised seven years before --as-of, by people inactive since */
        int64_t as_of_ms = g.now_ms;
        g.now_ms -= 7LL * 365 * 86400000;
        g.high = 1;
        publish(&g, 0, alerts, batch, NULL);
        g.high = 0;
        g.now_ms = as_of_ms;
        printf("%" PRIu64 " MARAC alerts raised in %.1f s\n", alerts,
               (double)(now_ns() - t0) / 1e9);
        t0 = now_ns();
    }
    publish(&g, 0, events, batch, NULL);
    if (hub_core_settle_all(g.core, &e) || hub_core_flush(g.core, &e))
        die("flush", &e);
    printf("log built: %" PRIu64 " events in %.1f s, %" PRIu64 " people, dated over the ten "
           "years before %s\n",
           events, (double)(now_ns() - t0) / 1e9, people, as_of);

    /* Rounds without and with the sweep, alternating (the machine's load
     * varies: each pair is compared, then the medians). */
    struct hub_clock clock;
    hub_clock_init_fixed(&clock, g.now_ms);
    struct hub_ctx h = {.cfg = &cfg, .clock = &clock, .core = g.core, .schemas = g.schemas};
    struct hub_sweep *sw = NULL;
    if (start) {
        measure_start(&h, ret, g.now_ms);
        goto done;
    }
    if (alerts) {
        measure_alerts(&h, ret, g.now_ms);
        goto done;
    }
    if (hub_sweep_new(&sw, &e))
        die("sweep", &e);
    hub_sweep_begin_pass(sw, g.now_ms);
    int64_t max_txn = 0, max_work = 0, sum_txn = 0, sweep_ns = 0, max_batch = 0, with_wall = 0;
    uint64_t steps = 0, wrote = 0, from = events;
    double ratio[64], alone[64], with[64];
    for (uint64_t round = 0; round < rounds; round++) {
        int64_t mb = 0;
        t0 = now_ns();
        publish(&g, from, measure, batch, &mb);
        from += measure;
        alone[round] = (double)measure / ((double)(now_ns() - t0) / 1e9);
        int64_t next_step = 0;
        uint64_t done = 0;
        t0 = now_ns();
        while (done < measure) {
            if (hub_sweep_active(sw) && now_ns() >= next_step) {
                int64_t s0 = now_ns(), txn, w;
                if (timed_step(sw, &h, ret, &txn, &w)) {
                    if (txn > max_txn)
                        max_txn = txn;
                    if (w > max_work)
                        max_work = w;
                    sum_txn += txn;
                    wrote++;
                }
                steps++;
                int64_t d = now_ns() - s0;
                sweep_ns += d;
                /* The hub's pacing (sweeprun.c): 5 d later. */
                next_step = now_ns() + (d / 1000000 ? 5 * d : 1000000);
                continue;
            }
            uint64_t n = measure - done < batch ? measure - done : batch;
            publish(&g, from + done, n, batch, &max_batch);
            done += n;
        }
        from += measure;
        int64_t wall = now_ns() - t0;
        with_wall += wall;
        with[round] = (double)measure / ((double)wall / 1e9);
        ratio[round] = with[round] / alone[round];
        printf("round %" PRIu64 ": without the sweep %.0f events/s, with it %.0f events/s: "
               "ratio %.2f\n",
               round + 1, alone[round], with[round], ratio[round]);
        if (mb > max_batch)
            max_batch = mb;
    }
    qsort(ratio, rounds, sizeof *ratio, cmp_double);
    qsort(alone, rounds, sizeof *alone, cmp_double);
    qsort(with, rounds, sizeof *with, cmp_double);
    const struct hub_sweep_stats *st = hub_sweep_stats(sw);
    printf("ingest (batches of %" PRIu64 ", median of %" PRIu64 " rounds): without the sweep "
           "%.0f events/s, with it %.0f events/s; ratio median %.2f, worst %.2f (target >= "
           "0.8)\n",
           batch, rounds, alone[rounds / 2], with[rounds / 2], ratio[rounds / 2], ratio[0]);
    printf("sweep meanwhile: %" PRIu64 " steps (%" PRIu64 " wrote), %" PRIu64
           " events examined, %" PRIu64 " bodies removed; %.1f%% of the time\n",
           steps, wrote, st->examined, st->removed, 100.0 * (double)sweep_ns / (double)with_wall);
    printf("sweep write transactions (begin to synced commit): longest %.1f ms, mean %.1f ms "
           "(target <= 50 ms); the sweep's own work in them (apply) at most %.1f ms; the "
           "ingest's batches took up to %.1f ms\n",
           (double)max_txn / 1e6, wrote ? (double)sum_txn / 1e6 / (double)wrote : 0.0,
           (double)max_work / 1e6, (double)max_batch / 1e6);
    /* The rest of the pass alone: how long a pass over the log takes. */
    t0 = now_ns();
    while (hub_sweep_active(sw)) {
        int64_t txn, w;
        timed_step(sw, &h, ret, &txn, &w);
        if (w > max_work)
            max_work = w;
        if (txn > max_txn)
            max_txn = txn;
    }
    printf("the pass finished unpaced in %.1f s more: %" PRIu64 " examined, %" PRIu64
           " bodies removed in all; longest write transaction %.1f ms, the sweep's own work "
           "in one at most %.1f ms\n",
           (double)(now_ns() - t0) / 1e9, st->examined, st->removed, (double)max_txn / 1e6,
           (double)max_work / 1e6);
done:
    hub_sweep_destroy(&sw);
    hub_retention_destroy(&ret);
    hub_core_close(&g.core);
    hub_rules_destroy(&rules);
    hub_schemas_destroy(&g.schemas);
    msgpack_sbuffer_destroy(&g.sb);
    msgpack_zone_destroy(&g.zone);
    if (!keep)
        nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}
