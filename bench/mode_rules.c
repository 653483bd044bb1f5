/* --compare-rules: the same events to two fresh hubs, with and without the
 * rules, and the throughput ratio. --alert-latency: paced publishers and a
 * consumer holding 'fetch' on one panel; publish-to-alert latency. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bench.h"
#include "msg.h"
#include "corpus.h"
#include "figures.h"
#include "publish.h"
#include "hubctl.h"
#include "modes.h"

static void print_run_row(const char *label, const struct hubrun *hr)
{
    const struct phase_result *r = &hr->res;
    printf("  %-36s %10.0f %9.3f %9.3f %9.3f %9.3f %9.1f\n", label, r->events_per_s, r->p50_ms,
           r->p99_ms, r->p999_ms, r->max_ms,
           hr->d_commits ? (double)hr->d_accepted / (double)hr->d_commits : 0);
}

int run_compare(const char *nonce)
{
    struct feed f = feed_for(opt.alert_rate >= 0 ? FEED_ALERT : FEED_CLASSIC, 0);
    static struct corpus corpus;
    static struct requests reqs;
    int64_t tg = now_ns();
    corpus_build(&corpus, opt.events, opt.seed, nonce, &f);
    requests_build(&reqs, &corpus, opt.batch);
    describe_corpus(&corpus, &reqs, secs(now_ns() - tg), nonce);

    void *ctx = zmq_ctx_new();
    static struct hubrun runs[2];
    runs[0].label = "default rules";
    runs[1].label = "rules_file: none";
    int done = 0, npairs = opt.pairs > 0 ? opt.pairs : 1, pairs_done = 0;
    double pair_r[50], pair_n[50], pair_ratio[50];
    for (int k = 0; k < npairs && !g.interrupted; k++) {
        done = 0;
        for (int j = 0; j < 2 && !g.interrupted; j++) {
            int i = k % 2 ? 1 - j : j; /* odd pairs start with the hub without rules */
            printf("\n");
            if (npairs > 1)
                printf("  pair %d of %d, run %d:\n", k + 1, npairs, j + 1);
            hubrun_start(&runs[i], ctx, i == 1);
            struct phase ph = {0};
            hubrun_publish(&runs[i], ctx, &corpus, &reqs, &ph);
            hubrun_stop(&runs[i], 0);
            done++;
        }
        if (done == 2) {
            pair_r[k] = runs[0].res.events_per_s;
            pair_n[k] = runs[1].res.events_per_s;
            pair_ratio[k] = ratio(pair_r[k], pair_n[k]);
            pairs_done++;
        }
    }
    const struct hubrun *R = &runs[0], *N = &runs[1];
    double median = 0;
    if (pairs_done) {
        double sorted[50];
        memcpy(sorted, pair_ratio, (size_t)pairs_done * sizeof *sorted);
        qsort(sorted, (size_t)pairs_done, sizeof *sorted, cmp_double);
        median = pairs_done % 2 ? sorted[pairs_done / 2]
                                : (sorted[pairs_done / 2 - 1] + sorted[pairs_done / 2]) / 2;
    }

    printf("\n== csphub-bench --compare-rules: %d publisher(s), window %d, batch %d, %" PRIu64
           " events, the same bytes to two fresh hubs ==\n",
           opt.publishers, opt.window, opt.batch, corpus.n);
    if (pairs_done > 1)
        printf("\n  the last pair in detail:");
    printf("\n  %-36s %10s %9s %9s %9s %9s %9s\n", "publish (latency per request)", "events/s",
           "p50 ms", "p99 ms", "p99.9 ms", "max ms", "ev/commit");
    print_run_row("hub, default rules (source tree)", R);
    if (done == 2) {
        print_run_row("hub, rules_file: none", N);
        double ratio_eps = ratio(R->res.events_per_s, N->res.events_per_s);
        printf("  %-36s %10.3f %9.2f %9.2f %9.2f %9.2f\n", "ratio rules/no-rules", ratio_eps,
               ratio(R->res.p50_ms, N->res.p50_ms), ratio(R->res.p99_ms, N->res.p99_ms),
               ratio(R->res.p999_ms, N->res.p999_ms), ratio(R->res.max_ms, N->res.max_ms));
        if (pairs_done > 1) {
            printf("  pairs (events/s with rules / without = ratio; odd pairs ran the hub without "
                   "rules first):\n");
            for (int k = 0; k < pairs_done; k++)
                printf("    %2d: %9.0f / %9.0f = %.3f\n", k + 1, pair_r[k], pair_n[k],
                       pair_ratio[k]);
            printf("  throughput with rules / without, median of %d pairs: %.3f (target >= 0.80: "
                   "%s)\n",
                   pairs_done, median, median >= 0.80 ? "met" : "NOT met");
        } else {
            printf("  throughput with rules / without: %.3f (target >= 0.80: %s)%s\n", ratio_eps,
                   ratio_eps >= 0.80 ? "met" : "NOT met",
                   opt.rate > 0 ? "; paced (--rate): throughput is the schedule's, compare latencies"
                                : "");
        }
    }
    printf("\n");
    print_alert_rate(R, &corpus);
    for (int i = 0; i < done; i++) {
        const struct hubrun *hr = &runs[i];
        printf("  hub (%s): %" PRIu64 " accepted, %" PRIu64 " duplicate, %" PRIu64
               " not accepted in %.2f s; commits %" PRIu64 "\n",
               hr->label, hr->res.accepted, hr->res.duplicate, hr->res.failed, hr->res.elapsed_s,
               hr->d_commits);
        print_hub_time("    ", &hr->st0, &hr->st1, hr->res.elapsed_s);
        if (hr->res.failed)
            printf("  WARNING: %" PRIu64 " events were not accepted; first: %s\n", hr->res.failed,
                   hr->res.first_failure);
        print_memory(&hr->hub, hr->label);
    }

    printf("{\"bench\":\"csphub-bench\",\"mode\":\"compare-rules\",\"config\":{\"publishers\":%d,"
           "\"window\":%d,\"batch\":%d,\"events\":%" PRIu64 ",\"seed\":%" PRIu64
           ",\"feed\":\"%s\",\"alert_rate\":%.4f,\"people\":%u,\"span_days\":%.0f,\"rate\":%.0f,"
           "\"tmpdir_fs\":\"%s\"}",
           opt.publishers, opt.window, opt.batch, corpus.n, opt.seed,
           f.kind == FEED_ALERT ? "alert" : "classic", f.alert_rate, f.people, f.span_days,
           opt.rate, fs_name(opt.tmpdir));
    for (int i = 0; i < done; i++) {
        const struct hubrun *hr = &runs[i];
        printf(",\"%s\":{", i == 0 ? "rules" : "no_rules");
        json_phase(stdout, "publish", &hr->res);
        printf(",\"commits\":%" PRIu64 ",\"alerts_raised\":%" PRIu64 ",\"alert_rate\":%.5f,",
               hr->d_commits, hr->d_alerts_raised,
               hr->d_accepted ? (double)hr->d_alerts_raised / (double)hr->d_accepted : 0);
        json_memory(&hr->hub);
        printf("}");
    }
    if (done == 2)
        printf(",\"ratio_rules_no_rules\":{\"events_per_s\":%.4f,\"p50\":%.3f,\"p99\":%.3f,"
               "\"p99_9\":%.3f}",
               ratio(R->res.events_per_s, N->res.events_per_s), ratio(R->res.p50_ms, N->res.p50_ms),
               ratio(R->res.p99_ms, N->res.p99_ms), ratio(R->res.p999_ms, N->res.p999_ms));
    if (pairs_done > 1) {
        printf(",\"pairs\":[");
        for (int k = 0; k < pairs_done; k++)
            printf("%s{\"rules\":%.1f,\"no_rules\":%.1f,\"ratio\":%.4f}", k ? "," : "",
                   pair_r[k], pair_n[k], pair_ratio[k]);
        printf("],\"ratio_median\":%.4f", median);
    }
    printf("}\n");
    zmq_ctx_term(ctx);
    cleanup_all();
    corpus_free(&corpus);
    msgpack_sbuffer_destroy(&reqs.buf);
    free(reqs.off);
    return g.interrupted || done < 2 ? 1 : 0;
}

#define FETCH_WAIT_MS 30000

#define LATENCY_PANEL "marac"

struct alert_rec {
    uint64_t id, trig_seq; /* trig_seq: the largest evidence seq, the event that fired it */
    int64_t recv_ns;       /* the fetch reply carrying it arrived */
    int64_t fetch_ns;      /* that fetch was sent */
};

struct consumer {
    void *ctx;
    const char *endpoint;
    char name[64];
    pthread_t thread;
    atomic_int stop;            /* leave once `target` alerts are in, or at deadline_ns */
    atomic_uint_fast64_t target;
    atomic_int_fast64_t deadline_ns;
    struct alert_rec *recs;
    size_t n, cap;
    uint64_t fetches, fetches_empty, acks, redelivered;
    int64_t *ack_ns; /* ack round trips */
    size_t nack, ack_cap;
};

static int consumer_done(struct consumer *c)
{
    if (g.interrupted)
        return 1;
    if (!atomic_load(&c->stop))
        return 0;
    return c->n >= (size_t)atomic_load(&c->target) || now_ns() >= atomic_load(&c->deadline_ns);
}

/* Wait for the reply to reqno on s until deadline_ns, waking every 100 ms to
 * check whether to leave. 1: got it in *m; 0: leave; dies at the deadline. */
static int consumer_wait(struct consumer *c, void *s, uint64_t reqno, zmq_msg_t *m,
                         msgpack_unpacked *up, int64_t deadline_ns, const char *what)
{
    for (;;) {
        int64_t slice = now_ns() + 100000000;
        zmq_msg_init(m);
        if (recv_until(s, m, slice < deadline_ns ? slice : deadline_ns)) {
            size_t off = 0;
            if (msgpack_unpack_next(up, zmq_msg_data(m), zmq_msg_size(m), &off) !=
                    MSGPACK_UNPACK_SUCCESS ||
                up->data.type != MSGPACK_OBJECT_MAP)
                die("consumer: the reply to %s is not a MessagePack map", what);
            const msgpack_object *rq = mp_get(&up->data, "req");
            if (rq && rq->type == MSGPACK_OBJECT_POSITIVE_INTEGER && rq->via.u64 == reqno) {
                const msgpack_object *ok = mp_get(&up->data, "ok");
                if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
                    char why[700] = "no ok";
                    if (mp_get(&up->data, "error"))
                        describe_error(mp_get(&up->data, "error"), why, sizeof why);
                    die("consumer: the hub refused %s: %s", what, why);
                }
                return 1;
            }
            zmq_msg_close(m);
            continue;
        }
        zmq_msg_close(m);
        if (now_ns() >= deadline_ns)
            die("consumer: NO REPLY to %s within its deadline: the hub hung or dropped it", what);
        if (consumer_done(c))
            return 0;
    }
}

static void consumer_pack(msgpack_sbuffer *sb, const char *op, uint64_t reqno, const char *name,
                          uint32_t extra)
{
    msgpack_packer pk;
    sb->size = 0;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4 + extra);
    pk_str(&pk, "req");
    msgpack_pack_uint64(&pk, reqno);
    pk_str(&pk, "op");
    pk_str(&pk, op);
    pk_str(&pk, "panel");
    pk_str(&pk, LATENCY_PANEL);
    pk_str(&pk, "consumer");
    pk_str(&pk, name);
}

/* fetch (held up to 30 s), note every alert; then ack up to the last and
 * fetch again, the two sent together: the hub answers a read after a write
 * of the same connection once the write is committed, so the fetch starts
 * past the acked alerts and is held from the moment the ack is done. */
static void *consumer_main(void *arg)
{
    struct consumer *c = arg;
    void *s = dealer_new(c->ctx, c->endpoint);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    uint64_t reqno = 0, max_id = 0, ack_upto = 0;
    const int64_t reply_ns = (int64_t)(opt.reply_timeout_s * 1e9);
    zmq_msg_t m;
    msgpack_packer pk;
    while (!consumer_done(c)) {
        uint64_t ackno = 0;
        int64_t ta = 0;
        if (ack_upto) {
            consumer_pack(&sb, "ack", ackno = ++reqno, c->name, 1);
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            pk_str(&pk, "upto");
            msgpack_pack_uint64(&pk, ack_upto);
            ta = now_ns();
            if (zmq_send(s, sb.data, sb.size, 0) < 0)
                die("consumer: cannot send ack: %s", zmq_strerror(errno));
            ack_upto = 0;
        }
        consumer_pack(&sb, "fetch", ++reqno, c->name, 2);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pk_str(&pk, "max");
        msgpack_pack_uint32(&pk, 1000);
        pk_str(&pk, "wait_ms");
        msgpack_pack_uint32(&pk, FETCH_WAIT_MS);
        int64_t tf = now_ns();
        if (zmq_send(s, sb.data, sb.size, 0) < 0)
            die("consumer: cannot send fetch: %s", zmq_strerror(errno));
        c->fetches++;
        if (ackno) {
            if (!consumer_wait(c, s, ackno, &m, &up, ta + reply_ns, "an ack"))
                break;
            zmq_msg_close(&m);
            c->acks++;
            if (c->nack == c->ack_cap) {
                c->ack_cap = c->ack_cap ? c->ack_cap * 2 : 4096;
                c->ack_ns = realloc(c->ack_ns, c->ack_cap * sizeof *c->ack_ns);
                if (!c->ack_ns)
                    die("consumer: out of memory");
            }
            c->ack_ns[c->nack++] = now_ns() - ta;
        }
        if (!consumer_wait(c, s, reqno, &m, &up, tf + FETCH_WAIT_MS * 1000000LL + reply_ns,
                           "a held fetch"))
            break;
        int64_t tr = now_ns();
        const msgpack_object *alerts = mp_get(&up.data, "alerts");
        if (!alerts || alerts->type != MSGPACK_OBJECT_ARRAY)
            die("consumer: a fetch reply without 'alerts'");
        uint64_t got = 0;
        for (uint32_t i = 0; i < alerts->via.array.size; i++) {
            const msgpack_object *a = &alerts->via.array.ptr[i];
            const msgpack_object *id = mp_get(a, "id"), *ev = mp_get(a, "evidence");
            if (!id || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER || !ev ||
                ev->type != MSGPACK_OBJECT_ARRAY)
                die("consumer: an alert without id or evidence");
            if (id->via.u64 <= max_id) {
                c->redelivered++;
                continue;
            }
            max_id = id->via.u64;
            uint64_t trig = 0;
            for (uint32_t j = 0; j < ev->via.array.size; j++)
                if (ev->via.array.ptr[j].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                    ev->via.array.ptr[j].via.u64 > trig)
                    trig = ev->via.array.ptr[j].via.u64;
            if (c->n == c->cap) {
                c->cap = c->cap ? c->cap * 2 : 4096;
                c->recs = realloc(c->recs, c->cap * sizeof *c->recs);
                if (!c->recs)
                    die("consumer: out of memory");
            }
            c->recs[c->n++] = (struct alert_rec){.id = id->via.u64, .trig_seq = trig,
                                                 .recv_ns = tr, .fetch_ns = tf};
            got++;
        }
        zmq_msg_close(&m);
        if (!alerts->via.array.size)
            c->fetches_empty++;
        if (got)
            ack_upto = max_id;
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    zmq_close(s);
    return NULL;
}

int run_latency(const char *nonce)
{
    struct feed f = feed_for(FEED_ALERT, 0);
    static struct corpus corpus;
    static struct requests reqs;
    int64_t tg = now_ns();
    corpus_build(&corpus, opt.events, opt.seed, nonce, &f);
    requests_build(&reqs, &corpus, opt.batch);
    describe_corpus(&corpus, &reqs, secs(now_ns() - tg), nonce);

    void *ctx = zmq_ctx_new();
    static struct hubrun hr;
    hr.label = opt.rules_mode == RULES_NONE ? "rules_file: none" : "default rules";
    printf("\n");
    hubrun_start(&hr, ctx, opt.rules_mode == RULES_NONE);

    static struct consumer con;
    con.ctx = ctx;
    con.endpoint = hr.hub.endpoint;
    snprintf(con.name, sizeof con.name, "csphub-bench-%s", nonce);
    atomic_store(&con.deadline_ns, INT64_MAX);
    if (pthread_create(&con.thread, NULL, consumer_main, &con) != 0)
        die("cannot start the consumer thread");

    struct phase ph = {0};
    ph.seq_base = hr.last_seq0;
    ph.seq_cap = corpus.n;
    ph.seq_sent_ns = calloc(corpus.n, sizeof *ph.seq_sent_ns);
    ph.seq_ack_ns = calloc(corpus.n, sizeof *ph.seq_ack_ns);
    if (!ph.seq_sent_ns || !ph.seq_ack_ns)
        die("out of memory for %" PRIu64 " seqs", corpus.n);
    hubrun_publish(&hr, ctx, &corpus, &reqs, &ph);
    uint64_t expected = stat_panel(&hr.st1, LATENCY_PANEL) - stat_panel(&hr.st0, LATENCY_PANEL);
    atomic_store(&con.target, expected);
    atomic_store(&con.deadline_ns, now_ns() + 10000000000LL); /* 10 s to drain */
    atomic_store(&con.stop, 1);
    pthread_join(con.thread, NULL);
    hubrun_stop(&hr, 0);

    /* Join each alert to its triggering event's send and ack times. */
    uint64_t n = con.n, matched = 0, after_commit_fetch = 0;
    int64_t *e2e = malloc((n ? n : 1) * sizeof *e2e), *held = malloc((n ? n : 1) * sizeof *held);
    int64_t *held_only = malloc((n ? n : 1) * sizeof *held_only);
    uint64_t nheld_only = 0;
    for (uint64_t i = 0; i < n; i++) {
        const struct alert_rec *a = &con.recs[i];
        if (a->trig_seq <= ph.seq_base || a->trig_seq - ph.seq_base > ph.seq_cap)
            continue;
        uint64_t k = a->trig_seq - ph.seq_base - 1;
        if (!ph.seq_sent_ns[k] || !ph.seq_ack_ns[k])
            continue;
        e2e[matched] = a->recv_ns - ph.seq_sent_ns[k];
        held[matched] = a->recv_ns - ph.seq_ack_ns[k];
        matched++;
        if (a->fetch_ns > ph.seq_ack_ns[k])
            after_commit_fetch++; /* the alert waited in the queue for the consumer's next fetch */
        else
            held_only[nheld_only++] = a->recv_ns - ph.seq_ack_ns[k];
    }
    struct pctl P_e2e = pctl_of(e2e, matched), P_held = pctl_of(held, matched);
    struct pctl P_heldonly = pctl_of(held_only, nheld_only);
    struct pctl P_ack = pctl_of(con.ack_ns, con.nack);
    const struct phase_result *H = &hr.res;

    printf("\n== csphub-bench --alert-latency: %d paced publisher(s) at %.0f events/s in total, "
           "window %d, batch %d, %" PRIu64 " events; consumer on '%s' ==\n",
           opt.publishers, opt.rate, opt.window, opt.batch, corpus.n, LATENCY_PANEL);
    printf("\n  %-44s %8s %9s %9s %9s %9s\n", "", "n", "p50 ms", "p99 ms", "p99.9 ms", "max ms");
    printf("  %-44s %8" PRIu64 " %9.3f %9.3f %9.3f %9.3f\n", "publish ack (per request)",
           H->requests, H->p50_ms, H->p99_ms, H->p999_ms, H->max_ms);
    printf("  %-44s %8" PRIu64 " %9.3f %9.3f %9.3f %9.3f\n", "send -> alert in a fetch reply",
           P_e2e.n, P_e2e.p50, P_e2e.p99, P_e2e.p999, P_e2e.max);
    printf("  %-44s %8" PRIu64 " %9.3f %9.3f %9.3f %9.3f\n",
           "publisher's ack -> alert (after the commit)", P_held.n, P_held.p50, P_held.p99,
           P_held.p999, P_held.max);
    printf("  %-44s %8" PRIu64 " %9.3f %9.3f %9.3f %9.3f\n", "  of which answered a held fetch",
           P_heldonly.n, P_heldonly.p50, P_heldonly.p99, P_heldonly.p999, P_heldonly.max);
    printf("  %-44s %8" PRIu64 " %9.3f %9.3f %9.3f %9.3f\n", "consumer's ack round trip", P_ack.n,
           P_ack.p50, P_ack.p99, P_ack.p999, P_ack.max);
    printf("\n  targets at %.0f events/s: send -> alert p99 <= 2 ms: %.3f ms, %s; held fetch "
           "answered <= 10 ms after the commit (p99): %.3f ms, %s\n",
           opt.rate, P_e2e.p99, P_e2e.n && P_e2e.p99 <= 2.0 ? "met" : "NOT met", P_held.p99,
           P_held.n && P_held.p99 <= 10.0 ? "met" : "NOT met");
    printf("  alerts: %" PRIu64 " raised on %s during the run, %" PRIu64 " received (%" PRIu64
           " matched to their triggering event's send and ack), %" PRIu64 " redelivered\n",
           expected, LATENCY_PANEL, n, matched, con.redelivered);
    if (n < expected)
        printf("  WARNING: %" PRIu64 " alerts were not received within 10 s of the last ack\n",
               expected - n);
    printf("  delivery: %" PRIu64 " by a fetch the hub held (sent before the triggering event's "
           "ack), %" PRIu64 " by a fetch sent after it (the alert waited for the consumer's next fetch)\n",
           nheld_only, after_commit_fetch);
    printf("  consumer: %" PRIu64 " fetches (%" PRIu64 " ended empty at wait_ms), %" PRIu64
           " acks\n",
           con.fetches, con.fetches_empty, con.acks);
    printf("  publish: %" PRIu64 " accepted in %.2f s = %.0f events/s; %" PRIu64 " commits (%.1f "
           "events/commit); sends behind schedule: p99 %.3f ms, max %.3f ms\n",
           H->accepted, H->elapsed_s, H->events_per_s, hr.d_commits,
           hr.d_commits ? (double)hr.d_accepted / (double)hr.d_commits : 0, H->lag_p99_ms,
           H->lag_max_ms);
    print_hub_time("  ", &hr.st0, &hr.st1, H->elapsed_s);
    if (H->lag_p99_ms > 1.0)
        printf("  NOTE: the publishers themselves ran late (p99 %.1f ms behind schedule): the "
               "bench's wake-ups compete with the hub for the CPUs, and the figures above include "
               "that; --pace-tick 1000 sends what is due once a millisecond instead\n",
               H->lag_p99_ms);
    if (H->failed)
        printf("  WARNING: %" PRIu64 " events were not accepted; first: %s\n", H->failed,
               H->first_failure);
    print_alert_rate(&hr, &corpus);
    print_memory(&hr.hub, NULL);

    printf("{\"bench\":\"csphub-bench\",\"mode\":\"alert-latency\",\"config\":{\"publishers\":%d,"
           "\"window\":%d,\"batch\":%d,\"events\":%" PRIu64 ",\"rate\":%.0f,\"alert_rate\":%.4f,"
           "\"people\":%u,\"panel\":\"%s\",\"fetch_wait_ms\":%d,\"tmpdir_fs\":\"%s\"},",
           opt.publishers, opt.window, opt.batch, corpus.n, opt.rate, f.alert_rate, f.people,
           LATENCY_PANEL, FETCH_WAIT_MS, fs_name(opt.tmpdir));
    json_phase(stdout, "publish", H);
    printf(",");
    json_pctl("send_to_alert_ms", &P_e2e);
    printf(",");
    json_pctl("ack_to_alert_ms", &P_held);
    printf(",");
    json_pctl("ack_to_alert_held_fetch_ms", &P_heldonly);
    printf(",");
    json_pctl("consumer_ack_rtt_ms", &P_ack);
    printf(",\"alerts\":{\"raised\":%" PRIu64 ",\"received\":%" PRIu64 ",\"matched\":%" PRIu64
           ",\"fetch_after_commit\":%" PRIu64 ",\"all_panels\":%" PRIu64 ",\"accepted\":%" PRIu64
           "},\"lag_ms\":{\"p99\":%.3f,\"max\":%.3f},",
           expected, n, matched, after_commit_fetch, hr.d_alerts_raised, hr.d_accepted,
           H->lag_p99_ms, H->lag_max_ms);
    json_memory(&hr.hub);
    printf("}\n");

    free(e2e);
    free(held);
    free(held_only);
    free(con.recs);
    free(con.ack_ns);
    free(ph.seq_sent_ns);
    free(ph.seq_ack_ns);
    zmq_ctx_term(ctx);
    cleanup_all();
    corpus_free(&corpus);
    msgpack_sbuffer_destroy(&reqs.buf);
    free(reqs.off);
    return g.interrupted || n < expected ? 1 : 0;
}
