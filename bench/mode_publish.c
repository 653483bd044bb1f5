/* The default run (no mode flag): the hub's publish phase, then (--replay)
 * the whole log replayed, then in the same run and with the same event bytes
 * the baselines: a ZeroMQ ROUTER echo with no hub logic, raw LMDB appends
 * with synced commits every K events, and the hub's own storage layer. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <math.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"
#include "msg.h"
#include "corpus.h"
#include "figures.h"
#include "publish.h"
#include "hubctl.h"
#include "modes.h"
#include "mpx.h"
#include "config.h"
#include "core.h"

#define REPLAY_PAGE_MAX 10000

struct replay_result {
    uint64_t events, pages, bytes;
    double elapsed_s, events_per_s, mb_per_s;
    double page_p50_ms, page_max_ms;
};

/* A replay page read the way a fast client would: every event is walked
 * and checked to be a well-formed MessagePack map without building it
 * (msgpack-c's tree of 10,000 events costs the client more than the hub
 * spends serving the page); the small fields are decoded. */
struct replay_page {
    int have_req, ok, have_next, have_end, end, have_events;
    uint64_t req, next, events;
    size_t err_off, err_len; /* the error map's bytes, when ok is false */
};

static size_t str_header(const unsigned char *p, size_t len, size_t *n)
{
    if (len >= 1 && (p[0] & 0xe0) == 0xa0) {
        *n = p[0] & 0x1f;
        return 1;
    }
    if (len >= 2 && p[0] == 0xd9) {
        *n = p[1];
        return 2;
    }
    return 0;
}

static int read_page(const char *buf, size_t len, struct replay_page *pg)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t off = 0;
    uint32_t pairs;
    memset(pg, 0, sizeof *pg);
    if (hub_mp_header(buf, len, &off, 1, &pairs))
        return -1;
    for (uint32_t i = 0; i < pairs; i++) {
        size_t kl, h = str_header(p + off, len - off, &kl);
        if (!h || kl > len - off - h)
            return -1;
        const char *key = buf + off + h;
        off += h + kl;
        size_t v0 = off;
        if (kl == 6 && !memcmp(key, "events", 6)) {
            uint32_t n;
            if (hub_mp_header(buf, len, &off, 0, &n))
                return -1;
            for (uint32_t e = 0; e < n; e++) {
                if (off >= len || !((p[off] & 0xf0) == 0x80 || p[off] == 0xde || p[off] == 0xdf))
                    return -1;
                if (hub_mp_check(buf, len, &off, 64))
                    return -1;
            }
            pg->events = n;
            pg->have_events = 1;
            continue;
        }
        if (hub_mp_check(buf, len, &off, 64))
            return -1;
        msgpack_unpacked up;
        size_t o = 0;
        msgpack_unpacked_init(&up);
        if (msgpack_unpack_next(&up, buf + v0, off - v0, &o) != MSGPACK_UNPACK_SUCCESS) {
            msgpack_unpacked_destroy(&up);
            return -1;
        }
        const msgpack_object *v = &up.data;
        if (kl == 3 && !memcmp(key, "req", 3) && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            pg->have_req = 1;
            pg->req = v->via.u64;
        } else if (kl == 2 && !memcmp(key, "ok", 2) && v->type == MSGPACK_OBJECT_BOOLEAN) {
            pg->ok = v->via.boolean;
        } else if (kl == 4 && !memcmp(key, "next", 4) &&
                   v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            pg->have_next = 1;
            pg->next = v->via.u64;
        } else if (kl == 3 && !memcmp(key, "end", 3) && v->type == MSGPACK_OBJECT_BOOLEAN) {
            pg->have_end = 1;
            pg->end = v->via.boolean;
        } else if (kl == 5 && !memcmp(key, "error", 5)) {
            pg->err_off = v0;
            pg->err_len = off - v0;
        }
        msgpack_unpacked_destroy(&up);
    }
    return off == len ? 0 : -1;
}

static void run_replay(void *s, struct replay_result *rr)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    memset(rr, 0, sizeof *rr);
    uint64_t after = 0, cap = 64, reqno;
    int64_t *page_ns = malloc(cap * sizeof *page_ns);
    int64_t t0 = now_ns();
    for (;;) {
        if (g.interrupted)
            die("interrupted during replay");
        pack_op(&sb, &pk, "replay", 2, &reqno);
        pk_str(&pk, "after");
        msgpack_pack_uint64(&pk, after);
        pk_str(&pk, "max");
        msgpack_pack_uint32(&pk, REPLAY_PAGE_MAX);
        int64_t ts = now_ns();
        if (zmq_send(s, sb.data, sb.size, 0) < 0)
            die("cannot send a replay request: %s", zmq_strerror(errno));
        zmq_msg_t m;
        zmq_msg_init(&m);
        int64_t deadline = ts + (int64_t)(opt.reply_timeout_s * 1e9);
        struct replay_page pg;
        for (;;) {
            if (!recv_until(s, &m, deadline))
                die("replay: NO REPLY to the page after seq %" PRIu64 " within %.0f s", after,
                    opt.reply_timeout_s);
            if (read_page(zmq_msg_data(&m), zmq_msg_size(&m), &pg))
                die("replay: the reply is not well-formed MessagePack");
            if (pg.have_req && pg.req == reqno)
                break;
            zmq_msg_close(&m);
            zmq_msg_init(&m);
        }
        int64_t te = now_ns();
        rr->bytes += zmq_msg_size(&m);
        if (!pg.ok) {
            char why[700] = "?";
            size_t o = 0;
            if (pg.err_len &&
                msgpack_unpack_next(&up, (const char *)zmq_msg_data(&m) + pg.err_off, pg.err_len,
                                    &o) == MSGPACK_UNPACK_SUCCESS)
                describe_error(&up.data, why, sizeof why);
            die("replay after %" PRIu64 " was refused: %s", after, why);
        }
        if (!pg.have_events || !pg.have_next || !pg.have_end)
            die("replay: a reply without events, next and end");
        if (rr->pages == cap) {
            cap *= 2;
            page_ns = realloc(page_ns, cap * sizeof *page_ns);
        }
        page_ns[rr->pages++] = te - ts;
        rr->events += pg.events;
        int done = pg.end;
        uint64_t next = pg.next;
        zmq_msg_close(&m);
        if (done)
            break;
        if (next <= after)
            die("replay: 'next' (%" PRIu64 ") did not move past 'after' (%" PRIu64 ") and 'end' "
                "is false: the hub would page forever",
                next, after);
        after = next;
    }
    rr->elapsed_s = secs(now_ns() - t0);
    if (rr->elapsed_s > 0) {
        rr->events_per_s = (double)rr->events / rr->elapsed_s;
        rr->mb_per_s = (double)rr->bytes / 1048576.0 / rr->elapsed_s;
    }
    qsort(page_ns, rr->pages, sizeof *page_ns, cmp_i64);
    rr->page_p50_ms = pct_ms(page_ns, rr->pages, 0.5);
    rr->page_max_ms = rr->pages ? (double)page_ns[rr->pages - 1] / 1e6 : 0;
    free(page_ns);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

struct store_result {
    uint32_t commit_every;
    int observed; /* K is the hub's observed events per commit */
    uint64_t events, commits;
    double elapsed_s, events_per_s, commits_per_s;
    double commit_p50_ms, commit_p99_ms; /* one batch: its puts and its synced commit */
    int limited; /* stopped by --baseline-limit before all events */
    int64_t *lat_ns;
    uint64_t nlat, caplat;
};

static void batch_time(struct store_result *r, int64_t ns)
{
    if (r->nlat == r->caplat) {
        r->caplat = r->caplat ? r->caplat * 2 : 1024;
        r->lat_ns = realloc(r->lat_ns, r->caplat * sizeof *r->lat_ns);
        if (!r->lat_ns)
            die("out of memory");
    }
    r->lat_ns[r->nlat++] = ns;
}

/* The counts and rates of a finished baseline; the batch times become
 * percentiles. */
static void baseline_done(struct store_result *r, uint64_t events, int64_t t0)
{
    r->elapsed_s = secs(now_ns() - t0);
    r->events = events;
    r->events_per_s = r->elapsed_s > 0 ? (double)events / r->elapsed_s : 0;
    r->commits_per_s = r->elapsed_s > 0 ? (double)r->commits / r->elapsed_s : 0;
    qsort(r->lat_ns, r->nlat, sizeof *r->lat_ns, cmp_i64);
    r->commit_p50_ms = pct_ms(r->lat_ns, r->nlat, 0.5);
    r->commit_p99_ms = pct_ms(r->lat_ns, r->nlat, 0.99);
    free(r->lat_ns);
    r->lat_ns = NULL;
    r->nlat = r->caplat = 0;
}

static void lmdb_check(int rc, const char *what)
{
    if (rc)
        die("LMDB baseline: %s: %s", what, mdb_strerror(rc));
}

/* Raw LMDB: the event bytes keyed by seq (MDB_APPEND), default (synced)
 * commits every K events. */
static void lmdb_baseline(const struct corpus *c, uint64_t n, struct store_result *r)
{
    char dir[PATH_MAX];
    make_tmpdir("lmdb", dir, sizeof dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    size_t map = (size_t)(c->off[n] * 3) + (256u << 20);
    lmdb_check(mdb_env_create(&env), "create");
    lmdb_check(mdb_env_set_mapsize(env, map), "mapsize");
    lmdb_check(mdb_env_set_maxdbs(env, 4), "maxdbs");
    lmdb_check(mdb_env_open(env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600), "open");
    lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "begin");
    lmdb_check(mdb_dbi_open(txn, "events", MDB_CREATE | MDB_INTEGERKEY, &dbi), "dbi");
    lmdb_check(mdb_txn_commit(txn), "commit");
    sync();
    const int64_t limit_ns = (int64_t)(opt.baseline_limit_s * 1e9);
    int64_t t0 = now_ns();
    uint64_t i = 0;
    r->commits = 0;
    while (i < n) {
        int64_t tb = now_ns();
        lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "begin");
        for (uint32_t k = 0; k < r->commit_every && i < n; k++, i++) {
            uint64_t seq = i + 1;
            MDB_val key = {8, &seq}, val = {ev_len(c, i), (void *)ev_ptr(c, i)};
            lmdb_check(mdb_put(txn, dbi, &key, &val, MDB_APPEND), "put");
        }
        lmdb_check(mdb_txn_commit(txn), "commit");
        r->commits++;
        batch_time(r, now_ns() - tb);
        if (now_ns() - t0 > limit_ns || g.interrupted)
            break;
    }
    r->limited = i < n;
    baseline_done(r, i, t0);
    mdb_env_close(env);
    forget_tmpdir(dir);
}

/* The hub's storage layer (hub/store.c) driven through its batch owner
 * (hub/core.c) as the hub drives it: dedup lookup and insert, content
 * hash, hash chain, append, synced commit every K events, settle. No
 * network, no MessagePack decoding, no schema checks, no rules. */
static void store_baseline(const struct corpus *c, uint64_t n, struct store_result *r)
{
    char dir[PATH_MAX], data[PATH_MAX + 8];
    make_tmpdir("store", dir, sizeof dir);
    snprintf(data, sizeof data, "%s/data", dir);
    struct hub_core *core = NULL;
    struct hub_error err;
    struct hub_config cfg; /* defaults: no panels */
    hub_config_defaults(&cfg);
    struct hub_core_opts o = {.cfg = &cfg, .dir = data,
                              .map_size = (uint64_t)c->off[n] * 4 + (256u << 20)};
    if (hub_core_open(&core, &o, &err))
        die("store baseline: %s", err.message);
    sync();
    const int64_t limit_ns = (int64_t)(opt.baseline_limit_s * 1e9);
    int64_t t0 = now_ns();
    uint64_t i = 0;
    r->commits = 0;
    while (i < n) {
        int64_t tb = now_ns();
        if (hub_core_batch_begin(core, &err))
            die("store baseline: %s", err.message);
        for (uint32_t k = 0; k < r->commit_every && i < n; k++, i++) {
            const struct evmeta *m = &c->meta[i];
            const char *ev = ev_ptr(c, i);
            struct hub_append a = {
                .source = source_name[m->source], .source_len = strlen(source_name[m->source]),
                .id = ev + m->id_off, .id_len = m->id_len,
                .type = type_name[m->type], .type_len = strlen(type_name[m->type]),
                .occurred_ms = m->occurred_ms, .received_ms = m->occurred_ms,
                .bytes = ev, .len = ev_len(c, i),
            };
            uint64_t seq;
            int dup;
            if (hub_core_append_raw(core, &a, &seq, &dup, &err))
                die("store baseline: %s", err.message);
        }
        if (hub_core_batch_commit(core, &err) ||
            hub_core_settle_all(core, &err)) /* the index committed every batch */
            die("store baseline: %s", err.message);
        r->commits++;
        batch_time(r, now_ns() - tb);
        if (now_ns() - t0 > limit_ns || g.interrupted)
            break;
    }
    r->limited = i < n;
    baseline_done(r, i, t0);
    hub_core_close(&core);
    forget_tmpdir(dir);
}

static void print_store_row(const char *label, const struct store_result *r,
                            const struct phase_result *H)
{
    printf("  %-44s %10.0f %10.0f %10" PRIu64 " %12.3f %9.3f %9.3f%s\n", label, r->events_per_s,
           r->commits_per_s, r->events, ratio(H->events_per_s, r->events_per_s),
           r->commit_p50_ms, r->commit_p99_ms, r->limited ? "  (time-limited)" : "");
}

int run_publish(const char *nonce)
{
    int64_t tg = now_ns();
    static struct corpus corpus;
    static struct requests reqs;
    struct feed feed = feed_for(opt.alert_rate >= 0 ? FEED_ALERT : FEED_CLASSIC, 0);
    corpus_build(&corpus, opt.events, opt.seed, nonce, &feed);
    requests_build(&reqs, &corpus, opt.batch);
    double gen_s = secs(now_ns() - tg);
    double avg_ev = (double)corpus.off[corpus.n] / (double)corpus.n;
    describe_corpus(&corpus, &reqs, gen_s, nonce);

    void *ctx = zmq_ctx_new();
    static struct hub hub;
    const char *endpoint = opt.endpoint;
    if (!endpoint) {
        hub.rules_none = opt.rules_mode == RULES_NONE;
        hub_start(&hub);
        endpoint = hub.endpoint;
    }
    void *ctl = dealer_new(ctx, endpoint);
    char version[128];
    uint64_t last_seq0;
    wait_ready(ctl, opt.endpoint ? 5 : 15, version, sizeof version, &last_seq0);
    if (!opt.endpoint) {
        printf("  hub: started %s (pid %d) on %s, batch_max %s, data in %s (%s)\n", hub.hubd,
               (int)hub.pid, endpoint, opt.hub_batch_max ? "" : "default", hub.dir,
               fs_name(hub.dir));
        if (opt.hub_batch_max)
            printf("       (limits.batch_max: %u)\n", opt.hub_batch_max);
        printf("       rules_file: %s\n",
               hub.rules_none ? "none" : CSPH_SOURCE_DIR "/config/rules.yaml");
    } else {
        printf("  hub: %s at %s (log already holds %" PRIu64 " events)\n", version, endpoint,
               last_seq0);
    }
    printf("  hub version: %s\n", version);

    struct stats st0, st1;
    get_stats(ctl, &st0, opt.reply_timeout_s);

    /* 1. the hub */
    if (opt.perf_file)
        perf_start(hub.pid);
    /* Dirty pages left by an earlier phase or run would compete with the
     * syncs being measured: flush them first, in every measured phase. */
    sync();
    printf("\nrunning: hub publish ...\n");
    struct phase hubph = {.name = "hub", .endpoint = endpoint, .ctx = ctx, .corpus = &corpus,
                          .reqs = &reqs, .hub = 1};
    double hub_cpu0 = opt.endpoint ? -1 : proc_cpu_s(hub.pid, 0);
    double loop_cpu0 = opt.endpoint ? -1 : proc_cpu_s(hub.pid, 1), cli_cpu0 = self_cpu_s();
    run_phase(&hubph);
    double hub_cpu = opt.endpoint || hub_cpu0 < 0 ? -1 : proc_cpu_s(hub.pid, 0) - hub_cpu0;
    double loop_cpu = opt.endpoint || loop_cpu0 < 0 ? -1 : proc_cpu_s(hub.pid, 1) - loop_cpu0;
    double cli_cpu = self_cpu_s() - cli_cpu0;
    if (opt.perf_file) {
        int pst;
        stop_child(&g.perf_pid, SIGINT, 30, &pst);
    }
    get_stats(ctl, &st1, opt.reply_timeout_s);
    const struct phase_result *H = &hubph.res;
    uint64_t d_commits = stat_get(&st1, "commits") - stat_get(&st0, "commits");
    uint64_t d_accepted = stat_get(&st1, "accepted") - stat_get(&st0, "accepted");
    uint64_t d_requests = stat_get(&st1, "requests") - stat_get(&st0, "requests");
    double ev_per_commit = d_commits ? (double)d_accepted / (double)d_commits : 0;
    double req_per_commit = d_commits ? (double)(d_requests - 1) / (double)d_commits : 0;
    /* d_requests counts our stats request too: hence the -1. */

    /* 2. replay */
    struct replay_result rr = {0};
    uint64_t last_seq = stat_get(&st1, "last_seq");
    if (opt.replay && !g.interrupted) {
        printf("running: replay of the whole log (%" PRIu64 " events) ...\n", last_seq);
        void *rs = dealer_new(ctx, endpoint);
        run_replay(rs, &rr);
        zmq_close(rs);
    }
    struct stats st2 = st1;
    if (opt.replay)
        get_stats(ctl, &st2, opt.reply_timeout_s);

    /* 3. stop our hub */
    if (!opt.endpoint) {
        read_rss(hub.pid, &hub.rss_kb, &hub.hwm_kb, &hub.anon_kb, &hub.file_kb, &hub.shmem_kb);
        int status = 0;
        stop_child(&g.hub_pid, SIGTERM, 15, &status);
        hub.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (hub.exit_status != 0) {
            fprintf(stderr, "csphub-bench: WARNING: csphubd exited with status %d\n",
                    hub.exit_status);
            print_file_tail(hub.log, 4000);
        }
        g.hub_log[0] = 0;
        forget_tmpdir(hub.dir);
    }
    zmq_close(ctl);

    /* 4. baselines */
    struct phase_result E = {0};
    struct store_result lm[MAX_COMMIT_EVERY + 1];
    struct store_result sr = {0};
    int nlm = 0;
    uint64_t nbase = H->accepted ? H->accepted : corpus.n;
    if (nbase > corpus.n)
        nbase = corpus.n;
    uint32_t k_obs = (uint32_t)llround(ev_per_commit);
    if (k_obs < 1)
        k_obs = 1;
    if (!opt.no_baseline && !g.interrupted) {
        printf("running: zmq ROUTER echo ...\n");
        struct echo echo;
        echo_start(&echo, endpoint, corpus.n);
        struct phase eph = {.name = "echo", .endpoint = echo.endpoint, .ctx = ctx,
                            .corpus = &corpus, .reqs = &reqs};
        run_phase(&eph);
        echo_stop(&echo);
        E = eph.res;

        int have_obs = 0;
        for (int i = 0; i < opt.ncommit_every; i++) {
            lm[nlm] = (struct store_result){.commit_every = opt.commit_every[i]};
            if (opt.commit_every[i] == k_obs)
                lm[nlm].observed = have_obs = 1;
            nlm++;
        }
        if (!have_obs && d_commits)
            lm[nlm++] = (struct store_result){.commit_every = k_obs, .observed = 1};
        for (int i = 0; i < nlm && !g.interrupted; i++) {
            printf("running: LMDB appends, commit every %u ...\n", lm[i].commit_every);
            lmdb_baseline(&corpus, nbase, &lm[i]);
        }
        if (!g.interrupted) {
            sr.commit_every = k_obs;
            sr.observed = 1;
            printf("running: hub_store appends, commit every %u ...\n", k_obs);
            store_baseline(&corpus, nbase, &sr);
        }
    }

    /* 5. the figures */
    printf("\n== csphub-bench: %d publisher(s), window %d, batch %d, %" PRIu64 " events%s ==\n",
           opt.publishers, opt.window, opt.batch, corpus.n,
           opt.hub_batch_max ? "" : "");
    if (opt.hub_batch_max)
        printf("   hub limits.batch_max %u\n", opt.hub_batch_max);
    printf("\n  %-34s %10s %10s %9s %9s %9s %9s\n", "publish (latency per request)", "events/s",
           "req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms");
    print_phase_row("hub (ack after synced commit)", H);
    if (!opt.no_baseline && E.requests) {
        print_phase_row("zmq ROUTER echo (no hub logic)", &E);
        printf("  %-34s %10.3f %10.3f %9.2f %9.2f %9.2f\n", "ratio hub/echo",
               ratio(H->events_per_s, E.events_per_s), ratio(H->requests_per_s, E.requests_per_s),
               ratio(H->p50_ms, E.p50_ms), ratio(H->p99_ms, E.p99_ms),
               ratio(H->p999_ms, E.p999_ms));
    }
    printf("\n  hub: %" PRIu64 " accepted, %" PRIu64 " duplicate, %" PRIu64
           " not accepted (busy/internal) of %" PRIu64 " sent events in %.2f s; %" PRIu64 "/%"
           PRIu64 " requests replied\n",
           H->accepted, H->duplicate, H->failed, corpus.n, H->elapsed_s, H->requests,
           H->requests_sent);
    if (H->failed)
        printf("  WARNING: %" PRIu64 " events were not accepted; first: %s\n", H->failed,
               H->first_failure);
    if (H->requests_sent < reqs.n)
        printf("  NOTE: stopped sending after %.0f s (--duration-limit) or an interrupt: %" PRIu64
               " of %" PRIu64 " requests sent\n",
               opt.duration_limit_s, H->requests_sent, reqs.n);
    printf("  hub stats (delta over the run): commits %" PRIu64 ", accepted %" PRIu64
           " -> %.1f events/commit, %.1f requests/commit; batch_requests_max %" PRIu64 "\n",
           d_commits, d_accepted, ev_per_commit, req_per_commit,
           stat_get(&st1, "batch_requests_max"));
    print_hub_time("  ", &st0, &st1, H->elapsed_s);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double per_ev = d_accepted ? 1e6 / (double)d_accepted : 0;
    double hub_us = hub_cpu >= 0 ? hub_cpu * per_ev : -1, loop_us = loop_cpu >= 0 ? loop_cpu * per_ev : -1;
    double cli_us = cli_cpu * per_ev;
    if (hub_us > 0 && loop_us > 0 && cli_us > 0 && ncpu > 0 && H->elapsed_s > 0) {
        /* The hub's loop is one thread: it cannot pass 1 / (its CPU per
         * event) even if it never waited for a sync. With the client on the
         * same machine, all the threads share its CPUs: nothing passes
         * ncpu / (hub + client). */
        printf("  CPU per accepted event: hub %.2f us (its loop thread %.2f us, busy %.0f%% of the "
               "run; ZeroMQ's I/O thread %.2f us), this bench's client %.2f us\n",
               hub_us, loop_us, 100.0 * loop_cpu / H->elapsed_s, hub_us - loop_us, cli_us);
        printf("  CPU ceilings at these costs: the hub's loop %.0f events/s (one thread, never "
               "waiting); the %ld CPUs %.0f events/s (hub and client together). 300,000 events/s "
               "needs the loop at %.2f us or less\n",
               1e6 / loop_us, ncpu, (double)ncpu * 1e6 / (hub_us + cli_us), 1e6 / 300000.0);
    }
    printf("  hub stats (totals):");
    for (int i = 0; i < st2.n; i++)
        printf(" %s=%" PRIu64, st2.name[i], st2.v[i]);
    if (st2.rejected[0])
        printf(" rejected{%s}", st2.rejected);
    printf("\n");
    uint64_t d_alerts = stat_get(&st1, "alerts_raised") - stat_get(&st0, "alerts_raised");
    printf("  alerts: %" PRIu64 " raised for %" PRIu64 " accepted events = %.2f%% (rule_version "
           "%s)",
           d_alerts, d_accepted, d_accepted ? 100.0 * (double)d_alerts / (double)d_accepted : 0,
           st1.rule_version);
    if (feed.kind == FEED_ALERT)
        printf("; --alert-rate target %.2f%%", 100.0 * feed.alert_rate);
    printf("\n");
    if (H->paced)
        printf("  paced at %.0f events/s: sends behind schedule p99 %.3f ms, max %.3f ms\n",
               opt.rate, H->lag_p99_ms, H->lag_max_ms);
    if (!opt.endpoint) {
        print_memory(&hub, NULL);
    }

    if (nlm || sr.events) {
        printf("\n  storage baselines on %s (%s), synced commits, the same event bytes (%"
               PRIu64 " events, <= %.0f s each)\n",
               opt.tmpdir, fs_name(opt.tmpdir), nbase, opt.baseline_limit_s);
        printf("  %-44s %10s %10s %10s %12s %9s %9s\n", "", "events/s", "commits/s", "events",
               "hub/baseline", "batch p50", "p99 ms");
        for (int i = 0; i < nlm; i++) {
            char label[96];
            snprintf(label, sizeof label, "LMDB append, commit every %u%s", lm[i].commit_every,
                     lm[i].observed ? " (hub's avg)" : "");
            print_store_row(label, &lm[i], H);
        }
        if (sr.events) {
            char label[96];
            snprintf(label, sizeof label, "hub_store append, commit every %u", sr.commit_every);
            print_store_row(label, &sr, H);
        }
        /* Little's law: with F events in flight and every ack after a synced
         * commit, events/s = F / mean latency, and an event's latency is at
         * least one commit; at best all F share it. */
        uint64_t inflight = (uint64_t)opt.publishers * (uint64_t)opt.window * (uint64_t)opt.batch;
        for (int i = 0; i < nlm; i++)
            if (lm[i].commit_every == inflight && lm[i].commits_per_s > 0)
                printf("  storage ceiling at %" PRIu64 " events in flight (acks after a synced "
                       "commit, all %" PRIu64 " in one commit): %.0f events/s (LMDB alone)\n",
                       inflight, inflight, (double)inflight * lm[i].commits_per_s);
    }
    if (opt.replay && rr.pages)
        printf("\n  replay: %" PRIu64 " events in %" PRIu64 " pages of <= %d, %.2f s: %.0f "
               "events/s, %.1f MiB/s; page p50 %.1f ms, max %.1f ms\n",
               rr.events, rr.pages, REPLAY_PAGE_MAX, rr.elapsed_s, rr.events_per_s, rr.mb_per_s,
               rr.page_p50_ms, rr.page_max_ms);
    if (opt.perf_file)
        printf("\n  perf profile of csphubd: perf report -i %s --no-children\n", opt.perf_file);

    /* One JSON line for scripts. */
    printf("{\"bench\":\"csphub-bench\",\"config\":{\"publishers\":%d,\"window\":%d,\"batch\":%d,"
           "\"events\":%" PRIu64 ",\"seed\":%" PRIu64 ",\"hub_batch_max\":%u,\"endpoint\":\"%s\","
           "\"own_hub\":%s,\"tmpdir_fs\":\"%s\",\"avg_event_bytes\":%.1f},",
           opt.publishers, opt.window, opt.batch, corpus.n, opt.seed, opt.hub_batch_max,
           opt.endpoint ? opt.endpoint : "own", opt.endpoint ? "false" : "true",
           fs_name(opt.tmpdir), avg_ev);
    json_phase(stdout, "hub", H);
    printf(",\"hub_stats\":{\"commits\":%" PRIu64 ",\"accepted\":%" PRIu64
           ",\"events_per_commit\":%.2f,\"requests_per_commit\":%.2f,\"batch_requests_max\":%"
           PRIu64 ",\"busy\":%" PRIu64 ",\"replies_held\":%" PRIu64 ",\"replies_dropped\":%"
           PRIu64 ",\"rss_kb\":%ld,\"rss_anon_kb\":%ld,\"rss_file_kb\":%ld,\"hwm_kb\":%ld}",
           d_commits, d_accepted, ev_per_commit, req_per_commit,
           stat_get(&st1, "batch_requests_max"), stat_get(&st1, "busy"),
           stat_get(&st1, "replies_held"), stat_get(&st1, "replies_dropped"),
           opt.endpoint ? -1L : hub.rss_kb, opt.endpoint ? -1L : hub.anon_kb,
           opt.endpoint ? -1L : hub.file_kb, opt.endpoint ? -1L : hub.hwm_kb);
    printf(",\"rules\":\"%s\",\"alerts_raised\":%" PRIu64 ",\"private_memory_kb\":%ld",
           opt.endpoint ? "?" : hub.rules_none ? "none" : "default", d_alerts,
           opt.endpoint ? -1L : private_kb(&hub));
    printf(",\"cpu_us_per_event\":{\"hub\":%.3f,\"hub_loop\":%.3f,\"client\":%.3f,\"cpus\":%ld}",
           hub_us, loop_us, cli_us, ncpu);
    if (E.requests) {
        printf(",");
        json_phase(stdout, "zmq_echo", &E);
    }
    printf(",\"lmdb\":[");
    for (int i = 0; i < nlm; i++)
        printf("%s{\"commit_every\":%u,\"hub_avg\":%s,\"events_per_s\":%.1f,\"commits_per_s\":"
               "%.1f,\"events\":%" PRIu64 ",\"hub_ratio\":%.4f,\"batch_p50_ms\":%.3f,"
               "\"batch_p99_ms\":%.3f}",
               i ? "," : "", lm[i].commit_every, lm[i].observed ? "true" : "false",
               lm[i].events_per_s, lm[i].commits_per_s, lm[i].events,
               ratio(H->events_per_s, lm[i].events_per_s), lm[i].commit_p50_ms,
               lm[i].commit_p99_ms);
    printf("]");
    if (sr.events)
        printf(",\"store\":{\"commit_every\":%u,\"events_per_s\":%.1f,\"events\":%" PRIu64
               ",\"hub_ratio\":%.4f,\"batch_p50_ms\":%.3f,\"batch_p99_ms\":%.3f}",
               sr.commit_every, sr.events_per_s, sr.events, ratio(H->events_per_s, sr.events_per_s),
               sr.commit_p50_ms, sr.commit_p99_ms);
    if (E.requests)
        printf(",\"ratios\":{\"hub_echo_events_per_s\":%.4f,\"hub_echo_p50\":%.3f,"
               "\"hub_echo_p99\":%.3f,\"hub_echo_p99_9\":%.3f}",
               ratio(H->events_per_s, E.events_per_s), ratio(H->p50_ms, E.p50_ms),
               ratio(H->p99_ms, E.p99_ms), ratio(H->p999_ms, E.p999_ms));
    if (opt.replay && rr.pages)
        printf(",\"replay\":{\"events\":%" PRIu64 ",\"pages\":%" PRIu64 ",\"elapsed_s\":%.3f,"
               "\"events_per_s\":%.1f,\"mib_per_s\":%.2f}",
               rr.events, rr.pages, rr.elapsed_s, rr.events_per_s, rr.mb_per_s);
    printf("}\n");

    zmq_ctx_term(ctx);
    cleanup_all();
    msgpack_sbuffer_destroy(&corpus.buf);
    msgpack_sbuffer_destroy(&reqs.buf);
    free(corpus.off);
    free(corpus.meta);
    free(reqs.off);
    return g.interrupted ? 1 : 0;
}
