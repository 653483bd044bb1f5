/* --peers: the hub against the servers a partnership could run instead, in
 * the same run, with the same event bytes and the same client concurrency
 * (connections x requests in flight, for each --concurrency): a fresh hub
 * (acks after a synced commit), Redis Streams with appendfsync always and,
 * when nats-server is installed, NATS JetStream. Each server is started on a
 * free loopback port in a temporary directory of its own and stopped after
 * its run. A peer that is not installed is skipped, and the bench says which
 * and why; a peer that is installed and fails ends the run with status 1. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"
#include "corpus.h"
#include "figures.h"
#include "hubctl.h"
#include "modes.h"
#include "peer.h"
#include "publish.h"

#define NPEERS 2
#define WHY_MAX 320

struct peer_row {
    int ran;
    struct phase_result res;
    double cpu_us; /* the server's CPU per acknowledged event; -1 unknown */
};

struct conc_run {
    int publishers, window;
    struct hubrun hr;
    double hub_cpu_us, loop_cpu_us; /* per acknowledged event */
    struct peer_row peer[NPEERS];
};

/* One client connection and its share of the publishes. */
struct peer_client {
    const struct peer_ops *ops;
    int port, idx, window;
    const char *nonce;
    const struct corpus *corpus;
    uint64_t r0, r1;
    int64_t *sent_ns, *lat_ns; /* per publish, shared by all clients */
    pthread_barrier_t *ready;
    pthread_t thread;
    uint64_t acked, sent;
    int64_t first_ns, last_ns;
};

/* The first directory of $PATH holding an executable prog, in out; 0 when
 * there is none. Only $PATH: a test or a user hides a peer by leaving its
 * directory out. */
static int find_in_path(const char *prog, char *out, size_t outsz)
{
    const char *path = getenv("PATH");
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path ? path : "");
    for (char *save = NULL, *d = strtok_r(buf, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, outsz, "%s/%s", d, prog);
        if (access(out, X_OK) == 0)
            return 1;
    }
    return 0;
}

/* The first line `prog --version` prints, for the table. */
static void server_version(const char *prog, char *out, size_t outsz)
{
    char cmd[PATH_MAX + 32];
    snprintf(cmd, sizeof cmd, "'%s' --version 2>&1", prog);
    snprintf(out, outsz, "?");
    fflush(stdout);
    FILE *p = popen(cmd, "r");
    if (!p)
        return;
    if (fgets(out, (int)outsz, p))
        out[strcspn(out, "\n")] = 0;
    pclose(p);
}

static void *client_main(void *arg)
{
    struct peer_client *cl = arg;
    const struct peer_ops *ops = cl->ops;
    const struct corpus *c = cl->corpus;
    char why[WHY_MAX];
    struct peer_conn *conn = NULL;
    if (ops->open(&conn, cl->port, cl->nonce, cl->idx, opt.reply_timeout_s, why, sizeof why))
        die("%s client %d: %s", ops->name, cl->idx, why);
    pthread_barrier_wait(cl->ready);
    cl->first_ns = cl->last_ns = now_ns();
    const int64_t stop_ns = opt.duration_limit_s > 0
                                ? cl->first_ns + (int64_t)(opt.duration_limit_s * 1e9)
                                : INT64_MAX;
    uint64_t next = cl->r0, end = cl->r1;
    int inflight = 0;
    while (cl->acked < next - cl->r0 || next < end) {
        if (next < end && (g.interrupted || now_ns() >= stop_ns))
            end = next; /* stop sending; drain what is in flight */
        for (; inflight < cl->window && next < end; next++, inflight++) {
            cl->sent_ns[next] = now_ns();
            if (ops->send(conn, next, ev_ptr(c, next), ev_len(c, next), why, sizeof why))
                die("%s client %d: %s", ops->name, cl->idx, why);
            cl->sent++;
        }
        if (!inflight)
            break;
        if (ops->flush(conn, why, sizeof why))
            die("%s client %d: %s", ops->name, cl->idx, why);
        uint64_t r;
        if (ops->recv(conn, &r, why, sizeof why))
            die("%s client %d (%d in flight, %" PRIu64 " acked): %s", ops->name, cl->idx,
                inflight, cl->acked, why);
        int64_t t = now_ns();
        if (r < cl->r0 || r >= next || cl->lat_ns[r])
            die("%s client %d: an ack for publish %" PRIu64 ", which is not in flight", ops->name,
                cl->idx, r);
        cl->lat_ns[r] = t - cl->sent_ns[r] > 0 ? t - cl->sent_ns[r] : 1;
        cl->last_ns = t;
        cl->acked++;
        inflight--;
    }
    ops->close(&conn);
    return NULL;
}

/* publishers connections x window publishes in flight on each, every event
 * of c once, into a peer on port; the figures as a hub phase's. */
static void peer_phase(const struct peer_ops *ops, int port, const char *nonce,
                       const struct corpus *c, int publishers, int window,
                       struct phase_result *res)
{
    uint64_t n = c->n;
    int64_t *sent = calloc(n, sizeof *sent), *lat = calloc(n, sizeof *lat);
    struct peer_client *cls = calloc((size_t)publishers, sizeof *cls);
    if (!sent || !lat || !cls)
        die("out of memory for %" PRIu64 " publishes", n);
    pthread_barrier_t ready;
    pthread_barrier_init(&ready, NULL, (unsigned)publishers + 1);
    for (int i = 0; i < publishers; i++) {
        cls[i] = (struct peer_client){
            .ops = ops, .port = port, .idx = i, .window = window, .nonce = nonce, .corpus = c,
            .r0 = n * (uint64_t)i / (uint64_t)publishers,
            .r1 = n * (uint64_t)(i + 1) / (uint64_t)publishers,
            .sent_ns = sent, .lat_ns = lat, .ready = &ready};
        if (pthread_create(&cls[i].thread, NULL, client_main, &cls[i]) != 0)
            die("cannot start %s client thread %d", ops->name, i);
    }
    pthread_barrier_wait(&ready);
    for (int i = 0; i < publishers; i++)
        pthread_join(cls[i].thread, NULL);
    pthread_barrier_destroy(&ready);

    memset(res, 0, sizeof *res);
    int64_t t0 = INT64_MAX, t1 = 0;
    for (int i = 0; i < publishers; i++) {
        if (cls[i].r0 == cls[i].r1)
            continue;
        t0 = cls[i].first_ns < t0 ? cls[i].first_ns : t0;
        t1 = cls[i].last_ns > t1 ? cls[i].last_ns : t1;
        res->accepted += cls[i].acked;
        res->requests_sent += cls[i].sent;
    }
    res->requests = res->accepted;
    res->elapsed_s = t1 > t0 ? secs(t1 - t0) : 0;
    uint64_t k = 0;
    double sum = 0;
    for (uint64_t r = 0; r < n; r++)
        if (lat[r]) {
            lat[k++] = lat[r];
            sum += (double)lat[r];
        }
    struct pctl p = pctl_of(lat, k);
    res->p50_ms = p.p50;
    res->p90_ms = pct_ms(lat, k, 0.90);
    res->p99_ms = p.p99;
    res->p999_ms = p.p999;
    res->max_ms = p.max;
    res->mean_ms = k ? sum / (double)k / 1e6 : 0;
    if (res->elapsed_s > 0)
        res->events_per_s = res->requests_per_s = (double)res->accepted / res->elapsed_s;
    free(sent);
    free(lat);
    free(cls);
}

/* Start the peer's server in a new directory on a free port, wait until it
 * takes a connection, prepare it; run one phase; stop it. */
static void peer_run(const struct peer_ops *ops, const char *server, const char *nonce,
                     const struct corpus *c, struct conc_run *cr, struct peer_row *row)
{
    char dir[PATH_MAX], buf[PATH_MAX + 64], why[WHY_MAX], logf[PATH_MAX + 16];
    char *argv[24] = {0};
    make_tmpdir(ops->name, dir, sizeof dir);
    int port = free_port();
    ops->argv(argv, buf, sizeof buf, port, dir);
    snprintf(logf, sizeof logf, "%s/stdout.log", dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* a crashed bench leaves no server behind */
        if (!freopen(logf, "w", stdout) || dup2(1, 2) < 0)
            _exit(127);
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execv(server, argv);
        fprintf(stderr, "cannot run %s: %s\n", server, strerror(errno));
        _exit(127);
    }
    g.peer_pid = pid;
    struct peer_conn *probe = NULL;
    int64_t until = now_ns() + 15000000000LL;
    while (ops->open(&probe, port, nonce, 999999, 1.0, why, sizeof why)) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            g.peer_pid = 0;
            print_file_tail(logf, 2000);
            die("%s exited before it took a connection (see above)", server);
        }
        if (now_ns() > until)
            die("%s did not take a connection within 15 s: %s", server, why);
        usleep(50000);
    }
    ops->close(&probe);
    if (ops->prepare(port, nonce, 15, why, sizeof why))
        die("%s: %s", server, why);
    printf("running: %s, %d connection(s) x %d in flight (%s on 127.0.0.1:%d, pid %d) ...\n",
           ops->name, cr->publishers, cr->window, server, port, (int)pid);
    sync(); /* as before the hub's phase: no dirty pages of an earlier run */
    double cpu0 = proc_cpu_s(pid, 0);
    peer_phase(ops, port, nonce, c, cr->publishers, cr->window, &row->res);
    double cpu1 = proc_cpu_s(pid, 0);
    row->cpu_us = cpu0 >= 0 && cpu1 >= 0 && row->res.accepted
                      ? (cpu1 - cpu0) * 1e6 / (double)row->res.accepted
                      : -1;
    row->ran = 1;
    int st = 0;
    stop_child(&g.peer_pid, SIGTERM, 15, &st);
    forget_tmpdir(dir);
}

static void hub_run(void *ctx, const struct corpus *c, const struct requests *q,
                    struct conc_run *cr)
{
    cr->hr.label = opt.rules_mode == RULES_NONE ? "rules_file: none" : "default rules";
    hubrun_start(&cr->hr, ctx, opt.rules_mode == RULES_NONE);
    struct phase ph = {.publishers = cr->publishers, .window = cr->window};
    pid_t pid = cr->hr.hub.pid;
    double c0 = proc_cpu_s(pid, 0), l0 = proc_cpu_s(pid, 1);
    hubrun_publish(&cr->hr, ctx, c, q, &ph);
    double c1 = proc_cpu_s(pid, 0), l1 = proc_cpu_s(pid, 1);
    uint64_t acked = cr->hr.d_accepted;
    cr->hub_cpu_us = c0 >= 0 && c1 >= 0 && acked ? (c1 - c0) * 1e6 / (double)acked : -1;
    cr->loop_cpu_us = l0 >= 0 && l1 >= 0 && acked ? (l1 - l0) * 1e6 / (double)acked : -1;
    if (cr->hr.res.failed)
        printf("  WARNING: %" PRIu64 " events were not accepted; first: %s\n", cr->hr.res.failed,
               cr->hr.res.first_failure);
    hubrun_stop(&cr->hr, 0);
}

static void print_row(const char *label, const struct phase_result *r, double cpu_us)
{
    printf("    %-40s %10.0f %9.3f %9.3f %9.3f %9.3f", label, r->events_per_s, r->p50_ms,
           r->p99_ms, r->p999_ms, r->max_ms);
    if (cpu_us >= 0)
        printf(" %9.2f", cpu_us);
    printf("\n");
}

static void print_ratio(const char *peer, const struct phase_result *h,
                        const struct phase_result *p)
{
    char label[64];
    snprintf(label, sizeof label, "hub / %s", peer);
    printf("    %-40s %10.3f %9.2f %9.2f %9.2f %9.2f\n", label,
           ratio(h->events_per_s, p->events_per_s), ratio(h->p50_ms, p->p50_ms),
           ratio(h->p99_ms, p->p99_ms), ratio(h->p999_ms, p->p999_ms),
           ratio(h->max_ms, p->max_ms));
}

int run_peers(const char *nonce)
{
    const struct peer_ops *ops[NPEERS] = {peer_redis, peer_nats};
    const char *names[NPEERS] = {"redis", "nats"};
    const char *labels[NPEERS] = {"redis streams, appendfsync always",
                                  "nats jetstream, file (no fsync at ack)"};
    const char *debs[NPEERS] = {"redis-server", "nats-server"};
    const char *dirs[NPEERS] = {"/usr/bin", "/usr/sbin"};
    char server[NPEERS][PATH_MAX], version[NPEERS][160], skipped[NPEERS][WHY_MAX];
    for (int i = 0; i < NPEERS; i++) {
        skipped[i][0] = version[i][0] = 0;
        if (!ops[i])
            snprintf(skipped[i], WHY_MAX, "%s", peer_redis_missing);
        else if (!find_in_path(ops[i]->server, server[i], sizeof server[i]))
            snprintf(skipped[i], WHY_MAX,
                     "%s not found in $PATH (Debian: apt-get install %s; it goes into %s)",
                     ops[i]->server, debs[i], dirs[i]);
        else
            server_version(server[i], version[i], sizeof version[i]);
    }

    struct feed f = feed_for(opt.alert_rate >= 0 ? FEED_ALERT : FEED_CLASSIC, 0);
    static struct corpus corpus;
    static struct requests reqs;
    int64_t tg = now_ns();
    corpus_build(&corpus, opt.events, opt.seed, nonce, &f);
    requests_build(&reqs, &corpus, 1);
    describe_corpus(&corpus, &reqs, secs(now_ns() - tg), nonce);
    for (int i = 0; i < NPEERS; i++) {
        if (skipped[i][0])
            printf("  peers: SKIPPED %s: %s\n", names[i], skipped[i]);
        else
            printf("  peers: %s: %s (%s; %s)\n", names[i], server[i], version[i],
                   ops[i]->durability);
    }

    void *ctx = zmq_ctx_new();
    static struct conc_run runs[MAX_CONCURRENCY];
    int done = 0;
    for (int k = 0; k < opt.nconc && !g.interrupted; k++) {
        struct conc_run *cr = &runs[k];
        cr->publishers = opt.conc_publishers[k];
        cr->window = opt.conc_window[k];
        printf("\n%d connection(s) x %d in flight:\n", cr->publishers, cr->window);
        hub_run(ctx, &corpus, &reqs, cr);
        for (int i = 0; i < NPEERS && !g.interrupted; i++)
            if (!skipped[i][0])
                peer_run(ops[i], server[i], nonce, &corpus, cr, &cr->peer[i]);
        done++;
    }

    printf("\n== csphub-bench --peers: the same %" PRIu64 " events (avg %.0f B) to the hub "
           "(%s) and its peers, one event a request; %ld CPUs shared with the client ==\n",
           corpus.n, (double)corpus.off[corpus.n] / (double)corpus.n,
           opt.rules_mode == RULES_NONE ? "rules_file: none" : "default rules",
           sysconf(_SC_NPROCESSORS_ONLN));
    printf("\n    %-40s %10s %9s %9s %9s %9s %9s\n", "connections x in flight", "events/s",
           "p50 ms", "p99 ms", "p99.9 ms", "max ms", "cpu us/ev");
    for (int k = 0; k < done; k++) {
        struct conc_run *cr = &runs[k];
        printf("  %d x %d\n", cr->publishers, cr->window);
        print_row(opt.rules_mode == RULES_NONE ? "hub, no rules (ack after synced commit)"
                                               : "hub, default rules (synced commit)",
                  &cr->hr.res, cr->hub_cpu_us);
        for (int i = 0; i < NPEERS; i++)
            if (cr->peer[i].ran)
                print_row(labels[i], &cr->peer[i].res, cr->peer[i].cpu_us);
        for (int i = 0; i < NPEERS; i++)
            if (cr->peer[i].ran)
                print_ratio(names[i], &cr->hr.res, &cr->peer[i].res);
    }
    printf("\n  ratios: events/s hub/peer (above 1: the hub is faster); latencies hub/peer "
           "(above 1: the hub is slower)\n");
    printf("  hub CPU per acknowledged event (user+system of all its threads from /proc):");
    for (int k = 0; k < done; k++)
        printf("%s %d x %d %.2f us (loop thread %.2f)", k ? ";" : "", runs[k].publishers,
               runs[k].window, runs[k].hub_cpu_us, runs[k].loop_cpu_us);
    printf("\n");
    for (int i = 0; i < NPEERS; i++)
        if (skipped[i][0])
            printf("  skipped %s: %s\n", names[i], skipped[i]);

    printf("{\"bench\":\"csphub-bench\",\"mode\":\"peers\",\"config\":{\"events\":%" PRIu64
           ",\"seed\":%" PRIu64 ",\"avg_event_bytes\":%.1f,\"rules\":\"%s\",\"tmpdir_fs\":\"%s\","
           "\"cpus\":%ld},\"peers\":{",
           corpus.n, opt.seed, (double)corpus.off[corpus.n] / (double)corpus.n,
           opt.rules_mode == RULES_NONE ? "none" : "default", fs_name(opt.tmpdir),
           sysconf(_SC_NPROCESSORS_ONLN));
    for (int i = 0; i < NPEERS; i++) {
        printf("%s\"%s\":{\"skipped\":", i ? "," : "", names[i]);
        if (skipped[i][0]) {
            json_str(skipped[i]);
        } else {
            printf("null,\"version\":");
            json_str(version[i]);
        }
        printf("}");
    }
    printf("},\"runs\":[");
    for (int k = 0; k < done; k++) {
        struct conc_run *cr = &runs[k];
        printf("%s{\"connections\":%d,\"in_flight\":%d,", k ? "," : "", cr->publishers,
               cr->window);
        json_phase(stdout, "hub", &cr->hr.res);
        printf(",\"hub_cpu_us_per_event\":%.3f,\"hub_loop_cpu_us_per_event\":%.3f,"
               "\"hub_commits\":%" PRIu64,
               cr->hub_cpu_us, cr->loop_cpu_us, cr->hr.d_commits);
        for (int i = 0; i < NPEERS; i++) {
            if (!cr->peer[i].ran)
                continue;
            printf(",");
            json_phase(stdout, names[i], &cr->peer[i].res);
            printf(",\"%s_cpu_us_per_event\":%.3f,\"ratio_hub_%s\":{\"events_per_s\":%.4f,"
                   "\"p50\":%.3f,\"p99\":%.3f}",
                   names[i], cr->peer[i].cpu_us, names[i],
                   ratio(cr->hr.res.events_per_s, cr->peer[i].res.events_per_s),
                   ratio(cr->hr.res.p50_ms, cr->peer[i].res.p50_ms),
                   ratio(cr->hr.res.p99_ms, cr->peer[i].res.p99_ms));
        }
        printf("}");
    }
    printf("]}\n");
    zmq_ctx_term(ctx);
    cleanup_all();
    corpus_free(&corpus);
    requests_free(&reqs);
    return g.interrupted || done < opt.nconc ? 1 : 0;
}
