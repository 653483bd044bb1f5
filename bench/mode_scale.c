/* --scale: a long run (10 million events by default), events/s and the
 * hub's CPU per event every step, memory, index sizes, the index rebuilt
 * from the log, and a what-if over the whole log. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"
#include "corpus.h"
#include "figures.h"
#include "publish.h"
#include "hubctl.h"
#include "dbsize.h"
#include "modes.h"

#define SCALE_PART_MAX 250000 /* events generated and held at a time */

struct scalestep {
    uint64_t events, failed, alerts;
    double elapsed_s, hub_cpu_s, loop_cpu_s, gen_s;
    double p99_max_ms; /* the largest p99 of its parts */
    double faults;     /* the hub's page faults over the step */
    long private_kb, rss_kb;
};

static double step_us(const struct scalestep *s, double cpu_s)
{
    return s->events ? cpu_s * 1e6 / (double)s->events : 0;
}

/* csphubd --help mentions --what-if? */
static int hubd_has_whatif(const char *hubd)
{
    int fd[2];
    if (pipe(fd) != 0)
        return 0;
    fflush(stdout);
    pid_t p = fork();
    if (p < 0)
        return 0;
    if (p == 0) {
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        execl(hubd, hubd, "--help", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[16384];
    size_t used = 0;
    ssize_t r;
    while ((r = read(fd[0], buf + used, sizeof buf - 1 - used)) > 0 && used < sizeof buf - 1)
        used += (size_t)r;
    buf[used] = 0;
    close(fd[0]);
    int st;
    waitpid(p, &st, 0);
    return strstr(buf, "--what-if") != NULL;
}

struct whatif_result {
    int ran;
    int exit_status; /* 0 no difference, 1 differences, 2 could not run */
    double wall_s;
    long maxrss_kb;
    char difference[16];
    uint64_t events;
    char info[256]; /* its last line on stderr */
    double private_mib; /* from that line ("private N MiB"); -1 when it has none */
};

/* csphubd --what-if RULES --data DIR --config FILE --json, timed, with its
 * peak memory from wait4's rusage. */
static void run_whatif(const struct hub *h, const char *data, struct whatif_result *w)
{
    char out[PATH_MAX + 32], err[PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/whatif.json", h->dir);
    snprintf(err, sizeof err, "%s/whatif.err", h->dir);
    fflush(stdout);
    fflush(stderr);
    int64_t t0 = now_ns();
    pid_t p = fork();
    if (p < 0)
        die("fork: %s", strerror(errno));
    if (p == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo >= 0)
            dup2(fo, 1);
        if (fe >= 0)
            dup2(fe, 2);
        setenv("TMPDIR", opt.tmpdir, 1); /* its temporary log goes beside ours */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execl(h->hubd, h->hubd, "--what-if", CSPH_SOURCE_DIR "/config/rules.yaml", "--data", data,
              "--config", h->config, "--json", (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", h->hubd, strerror(errno));
        _exit(127);
    }
    g.hub_pid = p; /* so an interrupt or die() stops it */
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (;;) {
        pid_t r = wait4(p, &st, 0, &ru);
        if (r == p)
            break;
        if (r < 0 && errno != EINTR)
            die("wait4: %s", strerror(errno));
        if (g.interrupted)
            kill(p, SIGTERM);
    }
    g.hub_pid = 0;
    w->ran = 1;
    w->wall_s = secs(now_ns() - t0);
    w->maxrss_kb = ru.ru_maxrss;
    w->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    snprintf(w->difference, sizeof w->difference, "?");
    FILE *f = fopen(out, "r");
    if (f) {
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        /* the top-level fields come last; search from the end */
        char *dp = NULL, *ep = NULL;
        for (char *q = buf; (q = strstr(q, "\"difference\":")); q++)
            dp = q;
        for (char *q = buf; (q = strstr(q, "\"events\":")); q++)
            ep = q;
        if (dp) {
            dp += strlen("\"difference\":");
            dp += strspn(dp, " ");
            snprintf(w->difference, sizeof w->difference, "%.*s", (int)strcspn(dp, ",\n}"), dp);
        }
        if (ep)
            w->events = strtoull(ep + strlen("\"events\":"), NULL, 10);
    }
    f = fopen(err, "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (line[0] != '\n')
                snprintf(w->info, sizeof w->info, "%.*s", (int)strcspn(line, "\n"), line);
        fclose(f);
    }
    const char *pm = strstr(w->info, "private ");
    w->private_mib = pm ? strtod(pm + strlen("private "), NULL) : -1;
}

static const char *const scale_dbs[] = {"rules.state", "rules.meta", "people", "dedup"};

#define NSCALE_DBS 4

int run_scale(const char *nonce)
{
    const uint64_t n = opt.events, step = opt.scale_step;
    const double span = opt.span_days ? opt.span_days : 365.0 * (double)n / 1e6;
    struct feed f = feed_for(FEED_STATE, span < 1 ? 1 : span);
    const uint64_t nsteps = (n + step - 1) / step;
    struct scalestep *steps = calloc(nsteps, sizeof *steps);
    if (!steps)
        die("out of memory");
    char d0[16], d1[16];
    fmt_date((SPAN_END_S - (int64_t)(f.span_days * 86400.0)) * 1000, d0, sizeof d0);
    fmt_date(SPAN_END_S * 1000, d1, sizeof d1);
    printf("csphub-bench --scale: %" PRIu64 " events of the classic mix, seed %" PRIu64
           ", id nonce %s, made at most %u at a time, between publish phases\n",
           n, opt.seed, nonce, SCALE_PART_MAX);
    printf("  people P-000001..P-%06u drawn uniformly; occurred_at advancing in publish order "
           "over %.0f days (%s to %s, up to 2 days late)\n",
           f.people, f.span_days, d0, d1);
    printf("  load: %d publisher(s) x window %d x batch %d = %d events in flight; the default "
           "rules; figures every %" PRIu64 " events\n",
           opt.publishers, opt.window, opt.batch, opt.publishers * opt.window * opt.batch, step);
    if (strcmp(fs_name(opt.tmpdir), "tmpfs") == 0)
        printf("  WARNING: %s is tmpfs: synced commits cost nothing there; use --tmpdir on a "
               "real disk\n", opt.tmpdir);

    void *ctx = zmq_ctx_new();
    static struct hubrun hr;
    hr.label = "scale";
    printf("\n");
    hubrun_start(&hr, ctx, 0);
    struct hub *h = &hr.hub;
    sync();
    printf("\n  %-10s %10s %10s %12s %8s %12s %9s %9s %11s %9s %8s\n", "events", "in step",
           "events/s", "hub CPU/ev", "x first", "loop CPU/ev", "faults/ev", "p99 ms", "private",
           "alerts", "gen s");
    printf("  %-10s %10s %10s %12s %8s %12s %9s %9s %11s %9s %8s\n", "(to)", "", "", "us", "",
           "us", "", "(worst)", "MiB", "raised", "");
    struct stats sa, sb;
    get_stats(hr.ctl, &sa, opt.reply_timeout_s);
    sb = sa;
    uint64_t done_steps = 0, accepted = 0;
    for (uint64_t k = 0; k < nsteps && !g.interrupted; k++) {
        struct scalestep *S = &steps[k];
        uint64_t a = k * step, b = a + step < n ? a + step : n;
        uint64_t parts = (b - a + SCALE_PART_MAX - 1) / SCALE_PART_MAX;
        double c0 = proc_cpu_s(h->pid, 0), l0 = proc_cpu_s(h->pid, 1), f0 = proc_faults(h->pid);
        for (uint64_t j = 0; j < parts && !g.interrupted; j++) {
            uint64_t pa = a + (b - a) * j / parts, pb = a + (b - a) * (j + 1) / parts;
            struct corpus c;
            struct requests q;
            int64_t tg = now_ns();
            corpus_build_part(&c, pb - pa, opt.seed, nonce, &f, pa, n);
            requests_build(&q, &c, opt.batch);
            S->gen_s += secs(now_ns() - tg);
            struct phase ph = {.name = "hub", .endpoint = h->endpoint, .ctx = ctx, .corpus = &c,
                               .reqs = &q, .hub = 1};
            run_phase(&ph);
            S->events += ph.res.accepted;
            S->failed += ph.res.failed;
            S->elapsed_s += ph.res.elapsed_s;
            if (ph.res.p99_ms > S->p99_max_ms)
                S->p99_max_ms = ph.res.p99_ms;
            if (ph.res.failed && S->failed == ph.res.failed)
                printf("  WARNING: %" PRIu64 " events not accepted; first: %s\n", ph.res.failed,
                       ph.res.first_failure);
            corpus_free(&c);
            requests_free(&q);
        }
        S->hub_cpu_s = proc_cpu_s(h->pid, 0) - c0;
        S->loop_cpu_s = proc_cpu_s(h->pid, 1) - l0;
        S->faults = proc_faults(h->pid) - f0;
        get_stats(hr.ctl, &sb, opt.reply_timeout_s);
        S->alerts = stat_get(&sb, "alerts_raised") - stat_get(&sa, "alerts_raised");
        sa = sb;
        long hwm, anon, file, shmem;
        read_rss(h->pid, &S->rss_kb, &hwm, &anon, &file, &shmem);
        S->private_kb = S->rss_kb >= 0 && file >= 0 ? S->rss_kb - file : -1;
        accepted += S->events;
        done_steps++;
        printf("  %-10" PRIu64 " %10" PRIu64 " %10.0f %12.2f %8.3f %12.2f %9.2f %9.1f %11.1f %9"
               PRIu64 " %8.1f\n",
               b, S->events, S->elapsed_s > 0 ? (double)S->events / S->elapsed_s : 0,
               step_us(S, S->hub_cpu_s),
               ratio(step_us(S, S->hub_cpu_s), step_us(&steps[0], steps[0].hub_cpu_s)),
               step_us(S, S->loop_cpu_s), S->events ? S->faults / (double)S->events : 0,
               S->p99_max_ms,
               (double)S->private_kb / 1024.0, S->alerts, S->gen_s);
    }
    hr.st1 = sb;
    uint64_t alerts_total = sb.alerts_total, last_seq = stat_get(&sb, "last_seq");

    /* Stop; the index's databases, read-only. */
    hubrun_stop(&hr, 1);
    char data[PATH_MAX + 8];
    snprintf(data, sizeof data, "%s/data", h->dir);
    static struct staterun live_db, rebuilt_db;
    int have_db = 0, rebuilt = 0;
    double rebuild_s = -1, rebuild_cpu_s = -1;
    long rb_rss = -1, rb_hwm = -1, rb_anon = -1, rb_file = -1, rb_shmem = -1;
    uint64_t rb_alerts = 0, rb_last_seq = 0;
    char level_line[512] = "";
    struct whatif_result wi = {0};
    int has_whatif = 0;
    if (!g.interrupted && done_steps) {
        lmdb_state(data, &live_db);
        have_db = 1;

        /* The rebuild after a power cut: no index at all. */
        static const char *const gone[] = {"index.mdb", "index.mdb-lock", "index.state"};
        for (int i = 0; i < 3; i++) {
            char p[PATH_MAX + 32];
            snprintf(p, sizeof p, "%s/%s", data, gone[i]);
            if (unlink(p) != 0 && errno != ENOENT)
                die("cannot remove %s: %s", p, strerror(errno));
        }
        snprintf(h->log, sizeof h->log, "%s/csphubd-rebuild.log", h->dir);
        snprintf(g.hub_log, sizeof g.hub_log, "%s", h->log);
        snprintf(h->endpoint, sizeof h->endpoint, "tcp://127.0.0.1:%d", free_port());
        printf("\nrunning: index rebuild: removed index.mdb, index.mdb-lock, index.state; "
               "starting csphubd on the same data ...\n");
        sync();
        static const char *const info[] = {"--log-level", "info", NULL};
        int64_t t0 = now_ns();
        hub_spawn(h, info);
        void *ctl = dealer_new(ctx, h->endpoint);
        char version[128];
        wait_ready(ctl, 24 * 3600, version, sizeof version, &rb_last_seq);
        rebuild_s = secs(now_ns() - t0);
        rebuild_cpu_s = proc_cpu_s(h->pid, 0);
        read_rss(h->pid, &rb_rss, &rb_hwm, &rb_anon, &rb_file, &rb_shmem);
        struct stats sr;
        get_stats(ctl, &sr, opt.reply_timeout_s);
        rb_alerts = sr.alerts_total;
        zmq_close(ctl);
        int st = 0;
        stop_child(&g.hub_pid, SIGTERM, 120, &st);
        g.hub_log[0] = 0;
        rebuilt = 1;
        FILE *lf = fopen(h->log, "r");
        if (lf) {
            char line[512];
            while (fgets(line, sizeof line, lf))
                if (strstr(line, "is level with the log"))
                    snprintf(level_line, sizeof level_line, "%.*s", (int)strcspn(line, "\n"), line);
            fclose(lf);
        }
        lmdb_state(data, &rebuilt_db);

        has_whatif = hubd_has_whatif(h->hubd);
        if (has_whatif && !g.interrupted) {
            printf("running: csphubd --what-if %s/config/rules.yaml --data %s --config %s --json "
                   "...\n", CSPH_SOURCE_DIR, data, h->config);
            sync();
            run_whatif(h, data, &wi);
        }
    }
    forget_tmpdir(h->dir);

    /* The figures. */
    const struct scalestep *F = done_steps ? &steps[0] : NULL;
    const struct scalestep *L = done_steps ? &steps[done_steps - 1] : NULL;
    double cpu_ratio = F && L && step_us(F, F->hub_cpu_s) > 0
                           ? step_us(L, L->hub_cpu_s) / step_us(F, F->hub_cpu_s) : 0;
    double loop_ratio = F && L && step_us(F, F->loop_cpu_s) > 0
                            ? step_us(L, L->loop_cpu_s) / step_us(F, F->loop_cpu_s) : 0;
    double pub_s = 0;
    for (uint64_t k = 0; k < done_steps; k++)
        pub_s += steps[k].elapsed_s;
    long priv = private_kb(h);
    printf("\n== csphub-bench --scale: %" PRIu64 " events published (of %" PRIu64 "), default "
           "rules, %d publisher(s) x window %d x batch %d ==\n",
           accepted, n, opt.publishers, opt.window, opt.batch);
    if (L && L->events < step && done_steps > 1)
        printf("  (the last step holds %" PRIu64 " events, not %" PRIu64 ")\n", L->events, step);
    printf("\n  publish: %.0f events/s over the run (%.1f s publishing); %" PRIu64 " alerts on "
           "the queues; log last_seq %" PRIu64 "\n",
           pub_s > 0 ? (double)accepted / pub_s : 0, pub_s, alerts_total, last_seq);
    if (F && L)
        printf("  hub CPU per event, last step / first step: %.2f / %.2f us = %.3f (target <= "
               "1.25: %s); the loop thread %.2f / %.2f us = %.3f\n",
               step_us(L, L->hub_cpu_s), step_us(F, F->hub_cpu_s), cpu_ratio,
               done_steps > 1 && cpu_ratio <= 1.25 ? "met" : done_steps > 1 ? "NOT met" : "one step only",
               step_us(L, L->loop_cpu_s), step_us(F, F->loop_cpu_s), loop_ratio);
    printf("  csphubd private memory at the end: %.1f MiB = %.1f MB (target < 100 MB: %s); VmRSS "
           "%.1f MiB of which RssFile %.1f (LMDB map pages), peak VmHWM %.1f MiB\n",
           (double)priv / 1024.0, (double)priv * 1024.0 / 1e6,
           priv >= 0 && (double)priv * 1024.0 < 100e6 ? "met" : "NOT met",
           (double)h->rss_kb / 1024.0, (double)h->file_kb / 1024.0, (double)h->hwm_kb / 1024.0);
    if (have_db) {
        printf("\n  index.mdb after the run (read-only, mdb_stat: (branch + leaf + overflow pages) x "
               "page size), per event published\n");
        printf("  %-14s %-22s %14s %12s %12s %16s\n", "database", "what", "entries", "MiB",
               "bytes/event", "after rebuild B/ev");
        static const char *const what[NSCALE_DBS] = {"rule state", "rule state (meta)",
                                                     "person index", "idempotency index"};
        for (int i = 0; i < NSCALE_DBS; i++) {
            const struct dbstat *d = find_db(&live_db, scale_dbs[i]);
            const struct dbstat *r = rebuilt ? find_db(&rebuilt_db, scale_dbs[i]) : NULL;
            char rb[32] = "-";
            if (r)
                snprintf(rb, sizeof rb, "%.1f", accepted ? (double)r->bytes / (double)accepted : 0);
            printf("  %-14s %-22s %14" PRIu64 " %12.2f %12.1f %16s\n", scale_dbs[i], what[i],
                   d ? d->entries : 0, mib(d ? d->bytes : 0),
                   d && accepted ? (double)d->bytes / (double)accepted : 0, rb);
        }
        const struct dbstat *s0 = find_db(&live_db, "rules.state"),
                            *s1 = find_db(&live_db, "rules.meta");
        const struct dbstat *r0 = rebuilt ? find_db(&rebuilt_db, "rules.state") : NULL,
                            *r1 = rebuilt ? find_db(&rebuilt_db, "rules.meta") : NULL;
        uint64_t rs_bytes = (s0 ? s0->bytes : 0) + (s1 ? s1->bytes : 0);
        uint64_t rr_bytes = (r0 ? r0->bytes : 0) + (r1 ? r1->bytes : 0);
        char rb[32] = "-";
        if (rebuilt)
            snprintf(rb, sizeof rb, "%.1f", accepted ? (double)rr_bytes / (double)accepted : 0);
        printf("  %-14s %-22s %14s %12.2f %12.1f %16s\n", "rules.*", "rule state, both", "",
               mib(rs_bytes), accepted ? (double)rs_bytes / (double)accepted : 0, rb);
        const struct dbstat *ev = find_db(&live_db, "events");
        if (ev)
            printf("  %-14s %-22s %14" PRIu64 " %12.2f %12.1f %16s\n", "events", "the log (data.mdb)",
                   ev->entries, mib(ev->bytes), accepted ? (double)ev->bytes / (double)accepted : 0,
                   "");
    }
    if (rebuilt) {
        printf("\n  index rebuild from the log (as after a power cut): %.1f s from start to the "
               "first ping answered (%.0f events/s); hub CPU %.1f s; peak VmHWM %.1f MiB, private "
               "%.1f MiB once serving\n",
               rebuild_s, rebuild_s > 0 ? (double)rb_last_seq / rebuild_s : 0, rebuild_cpu_s,
               (double)rb_hwm / 1024.0, (double)(rb_rss - rb_file) / 1024.0);
        printf("    alerts on the queues: %" PRIu64 " before, %" PRIu64 " after%s; log says: %s\n",
               alerts_total, rb_alerts, alerts_total == rb_alerts ? " (the same)" : " (DIFFERENT)",
               level_line[0] ? level_line : "(no \"level with the log\" line found)");
    }
    if (!has_whatif && rebuilt)
        printf("\n  what-if: this csphubd has no --what-if (csphubd --help); not measured\n");
    else if (wi.ran)
        printf("\n  what-if (csphubd --what-if config/rules.yaml, the default rules, against the "
               "data dir; hub stopped): %.1f s wall, peak memory %.1f MiB (wait4 ru_maxrss); exit "
               "status %d (%s); difference %s; events %" PRIu64 "\n    its own line: %s\n",
               wi.wall_s, (double)wi.maxrss_kb / 1024.0, wi.exit_status,
               wi.exit_status == 0 ? "no difference" : wi.exit_status == 1 ? "differences"
                                                                            : "could not run",
               wi.difference, wi.events, wi.info[0] ? wi.info : "-");
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    printf("\n  this bench's own peak RSS: %.1f MiB; the machine has %ld CPUs, shared by the hub "
           "and the bench\n",
           (double)self.ru_maxrss / 1024.0, sysconf(_SC_NPROCESSORS_ONLN));

    /* One JSON line. */
    printf("{\"bench\":\"csphub-bench\",\"mode\":\"scale\",\"config\":{\"events\":%" PRIu64
           ",\"step\":%" PRIu64 ",\"publishers\":%d,\"window\":%d,\"batch\":%d,\"people\":%u,"
           "\"span_days\":%.0f,\"seed\":%" PRIu64 ",\"tmpdir_fs\":\"%s\"},\"accepted\":%" PRIu64
           ",\"steps\":[",
           n, step, opt.publishers, opt.window, opt.batch, f.people, f.span_days, opt.seed,
           fs_name(opt.tmpdir), accepted);
    for (uint64_t k = 0; k < done_steps; k++) {
        const struct scalestep *S = &steps[k];
        printf("%s{\"events\":%" PRIu64 ",\"elapsed_s\":%.3f,\"events_per_s\":%.1f,"
               "\"hub_cpu_us_per_event\":%.3f,\"loop_cpu_us_per_event\":%.3f,\"p99_ms_worst\":%.3f,"
               "\"private_kb\":%ld,\"alerts_raised\":%" PRIu64 ",\"failed\":%" PRIu64
               ",\"page_faults_per_event\":%.3f}",
               k ? "," : "", S->events, S->elapsed_s,
               S->elapsed_s > 0 ? (double)S->events / S->elapsed_s : 0, step_us(S, S->hub_cpu_s),
               step_us(S, S->loop_cpu_s), S->p99_max_ms, S->private_kb, S->alerts, S->failed,
               S->events ? S->faults / (double)S->events : 0);
    }
    printf("],\"cpu_per_event_last_first\":%.4f,\"loop_cpu_per_event_last_first\":%.4f,",
           cpu_ratio, loop_ratio);
    json_memory(h);
    printf(",\"index_bytes_per_event\":{");
    for (int i = 0; have_db && i < NSCALE_DBS; i++) {
        const struct dbstat *d = find_db(&live_db, scale_dbs[i]);
        printf("%s\"%s\":%.2f", i ? "," : "", scale_dbs[i],
               d && accepted ? (double)d->bytes / (double)accepted : 0);
    }
    if (have_db) {
        const struct dbstat *s0 = find_db(&live_db, "rules.state"),
                            *s1 = find_db(&live_db, "rules.meta");
        printf(",\"rule_state\":%.2f",
               accepted ? (double)((s0 ? s0->bytes : 0) + (s1 ? s1->bytes : 0)) / (double)accepted
                        : 0);
    }
    printf("},\"index_bytes\":{");
    for (int i = 0; have_db && i < NSCALE_DBS; i++) {
        const struct dbstat *d = find_db(&live_db, scale_dbs[i]);
        printf("%s\"%s\":%" PRIu64, i ? "," : "", scale_dbs[i], d ? d->bytes : 0);
    }
    printf("}");
    if (rebuilt)
        printf(",\"rebuild\":{\"seconds\":%.3f,\"hub_cpu_s\":%.2f,\"vm_hwm_kb\":%ld,"
               "\"private_kb\":%ld,\"alerts_before\":%" PRIu64 ",\"alerts_after\":%" PRIu64 "}",
               rebuild_s, rebuild_cpu_s, rb_hwm, rb_rss - rb_file, alerts_total, rb_alerts);
    if (wi.ran)
        printf(",\"what_if\":{\"seconds\":%.3f,\"max_rss_kb\":%ld,\"private_mib\":%.1f,"
               "\"exit_status\":%d,\"events\":%" PRIu64 "}",
               wi.wall_s, wi.maxrss_kb, wi.private_mib, wi.exit_status, wi.events);
    else
        printf(",\"what_if\":null");
    printf("}\n");
    free(steps);
    zmq_ctx_term(ctx);
    cleanup_all();
    return g.interrupted || !done_steps ? 1 : 0;
}
