/* Talking to a hub and running our own: see hubctl.h. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "hubctl.h"
#include "bench.h"
#include "msg.h"
#include "corpus.h"
#include "publish.h"

void *dealer_new(void *ctx, const char *endpoint)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    if (!s || zmq_setsockopt(s, ZMQ_SNDHWM, &opt.hwm, sizeof opt.hwm) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &opt.hwm, sizeof opt.hwm) ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger))
        die("cannot create a DEALER socket: %s", zmq_strerror(errno));
    if (zmq_connect(s, endpoint) != 0)
        die("cannot connect to %s: %s", endpoint, zmq_strerror(errno));
    return s;
}

int recv_until(void *s, zmq_msg_t *m, int64_t deadline_ns)
{
    for (;;) {
        if (zmq_msg_recv(m, s, ZMQ_DONTWAIT) >= 0)
            return 1;
        if (errno != EAGAIN && errno != EINTR)
            die("receive failed: %s", zmq_strerror(errno));
        int64_t left = deadline_ns - now_ns();
        if (left <= 0)
            return 0;
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        long ms = (long)(left / 1000000) + 1;
        if (ms > 100)
            ms = 100; /* wake up to notice an interrupt or a dead hub */
        if (zmq_poll(&it, 1, ms) < 0 && errno != EINTR)
            die("zmq_poll failed: %s", zmq_strerror(errno));
        if (g.hub_pid > 0) {
            int st;
            if (waitpid(g.hub_pid, &st, WNOHANG) == g.hub_pid) {
                g.hub_pid = 0;
                die("csphubd exited (%s %d) while the bench waited for a reply",
                    WIFEXITED(st) ? "status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            }
        }
    }
}

void call(void *s, msgpack_sbuffer *sb, uint64_t reqno, msgpack_unpacked *up,
          zmq_msg_t *m, double timeout_s, const char *what)
{
    if (zmq_send(s, sb->data, sb->size, 0) < 0)
        die("cannot send %s: %s", what, zmq_strerror(errno));
    int64_t deadline = now_ns() + (int64_t)(timeout_s * 1e9);
    for (;;) {
        zmq_msg_init(m);
        if (!recv_until(s, m, deadline)) {
            zmq_msg_close(m);
            die("no reply to %s within %.0f s: the hub is hung, overloaded, or not at this "
                "endpoint",
                what, timeout_s);
        }
        size_t off = 0;
        int rc = msgpack_unpack_next(up, zmq_msg_data(m), zmq_msg_size(m), &off);
        if (rc != MSGPACK_UNPACK_SUCCESS || up->data.type != MSGPACK_OBJECT_MAP)
            die("the reply to %s is not a MessagePack map", what);
        const msgpack_object *req = mp_get(&up->data, "req");
        if (req && req->type == MSGPACK_OBJECT_POSITIVE_INTEGER && req->via.u64 == reqno)
            return;
        zmq_msg_close(m);
    }
}

static uint64_t ctl_reqno = 1u << 30;

void pack_op(msgpack_sbuffer *sb, msgpack_packer *pk, const char *op, uint32_t extra,
             uint64_t *reqno)
{
    sb->size = 0;
    msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(pk, 2 + extra);
    pk_str(pk, "op");
    pk_str(pk, op);
    pk_str(pk, "req");
    *reqno = ++ctl_reqno;
    msgpack_pack_uint64(pk, *reqno);
}



uint64_t stat_panel(const struct stats *st, const char *panel)
{
    for (int i = 0; i < st->npanels; i++)
        if (strcmp(st->panel[i], panel) == 0)
            return st->panel_alerts[i];
    return 0;
}

uint64_t stat_get(const struct stats *st, const char *name)
{
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->name[i], name) == 0)
            return st->v[i];
    return 0;
}

void print_hub_time(const char *indent, const struct stats *a, const struct stats *b,
                    double elapsed_s)
{
    uint64_t commits = stat_get(b, "commits") - stat_get(a, "commits");
    uint64_t work = stat_get(b, "batch_work_us") - stat_get(a, "batch_work_us");
    uint64_t commit = stat_get(b, "commit_us") - stat_get(a, "commit_us");
    if (!commits || !(work + commit) || elapsed_s <= 0)
        return;
    printf("%shub time: work in the transaction %.2f ms/commit (%.0f%% of the run), commit "
           "with its sync %.2f ms/commit (%.0f%%)\n",
           indent, (double)work / 1e3 / (double)commits, 100.0 * (double)work / 1e6 / elapsed_s,
           (double)commit / 1e3 / (double)commits, 100.0 * (double)commit / 1e6 / elapsed_s);
}

void get_stats(void *s, struct stats *st, double timeout_s)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    uint64_t reqno;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    zmq_msg_t m;
    pack_op(&sb, &pk, "stats", 0, &reqno);
    call(s, &sb, reqno, &up, &m, timeout_s, "the stats request");
    const msgpack_object *ok = mp_get(&up.data, "ok");
    const msgpack_object *ctr = mp_get(&up.data, "counters");
    if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean || !ctr ||
        ctr->type != MSGPACK_OBJECT_MAP) {
        char why[700] = "no counters";
        if (mp_get(&up.data, "error"))
            describe_error(mp_get(&up.data, "error"), why, sizeof why);
        die("the hub refused 'stats': %s", why);
    }
    memset(st, 0, sizeof *st);
    for (uint32_t i = 0; i < ctr->via.map.size && st->n < MAX_COUNTERS; i++) {
        const msgpack_object *k = &ctr->via.map.ptr[i].key, *v = &ctr->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR)
            continue;
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            mp_str_copy(k, st->name[st->n], sizeof st->name[0]);
            st->v[st->n++] = v->via.u64;
        } else if (mp_str_is(k, "alerts") && v->type == MSGPACK_OBJECT_MAP) {
            for (uint32_t j = 0; j < v->via.map.size && st->npanels < MAX_PANELS; j++) {
                const msgpack_object_kv *kv = &v->via.map.ptr[j];
                uint64_t cnt = kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER ? kv->val.via.u64 : 0;
                mp_str_copy(&kv->key, st->panel[st->npanels], sizeof st->panel[0]);
                st->panel_alerts[st->npanels++] = cnt;
                st->alerts_total += cnt;
            }
        } else if (mp_str_is(k, "rule_version")) {
            mp_str_copy(v, st->rule_version, sizeof st->rule_version);
        } else if (mp_str_is(k, "rejected") && v->type == MSGPACK_OBJECT_MAP) {
            size_t used = 0;
            for (uint32_t j = 0; j < v->via.map.size; j++) {
                const msgpack_object_kv *kv = &v->via.map.ptr[j];
                char name[40];
                mp_str_copy(&kv->key, name, sizeof name);
                if (used < sizeof st->rejected)
                    used += (size_t)snprintf(st->rejected + used, sizeof st->rejected - used,
                                             "%s%s=%" PRIu64, used ? " " : "", name,
                                             kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER
                                                 ? kv->val.via.u64 : 0);
            }
        }
    }
    zmq_msg_close(&m);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

void wait_ready(void *s, double timeout_s, char *version, size_t vsz, uint64_t *last_seq)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    uint64_t reqno;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    zmq_msg_t m;
    pack_op(&sb, &pk, "ping", 0, &reqno);
    call(s, &sb, reqno, &up, &m, timeout_s, "ping (is the hub running at this endpoint?)");
    mp_str_copy(mp_get(&up.data, "version"), version, vsz);
    const msgpack_object *ls = mp_get(&up.data, "last_seq");
    *last_seq = ls && ls->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? ls->via.u64 : 0;
    zmq_msg_close(&m);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        die("cannot find a free loopback port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static int executable(const char *p) { return p && *p && access(p, X_OK) == 0; }

static void find_hubd(char *out, size_t outsz)
{
    if (opt.hubd) {
        if (!executable(opt.hubd))
            die("--hubd %s: %s", opt.hubd, strerror(errno));
        snprintf(out, outsz, "%s", opt.hubd);
        return;
    }
    const char *env = getenv("CSPH_HUBD");
    if (env && *env) {
        if (!executable(env))
            die("CSPH_HUBD=%s: %s", env, strerror(errno));
        snprintf(out, outsz, "%s", env);
        return;
    }
    char self[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            snprintf(out, outsz, "%s/csphubd", self);
            if (executable(out))
                return;
            snprintf(out, outsz, "%s/../csphubd", self);
            if (executable(out))
                return;
        }
    }
    snprintf(out, outsz, "%s", CSPH_BENCH_HUBD);
    if (!executable(out))
        die("cannot find csphubd (tried --hubd, $CSPH_HUBD, next to the bench, %s); build it "
            "with 'cmake --build build --target csphubd' or pass --hubd PATH",
            CSPH_BENCH_HUBD);
}

static void yaml_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

void hub_start(struct hub *h)
{
    find_hubd(h->hubd, sizeof h->hubd);
    make_tmpdir("hub", h->dir, sizeof h->dir);
    snprintf(h->endpoint, sizeof h->endpoint, "tcp://127.0.0.1:%d", free_port());
    snprintf(h->config, sizeof h->config, "%s/csphub.yaml", h->dir);
    snprintf(h->log, sizeof h->log, "%s/csphubd.log", h->dir);
    snprintf(g.hub_log, sizeof g.hub_log, "%s", h->log);
    FILE *f = fopen(h->config, "w");
    if (!f)
        die("cannot write %s: %s", h->config, strerror(errno));
    char data[PATH_MAX + 8];
    snprintf(data, sizeof data, "%s/data", h->dir);
    fprintf(f, "# written by csphub-bench\ndata_dir: ");
    yaml_quoted(f, data);
    fprintf(f, "\nlisten:\n  - ");
    yaml_quoted(f, h->endpoint);
    fprintf(f, "\nsecurity: none\nlog_level: warn\nschemas_dir: ");
    yaml_quoted(f, CSPH_SOURCE_DIR "/schemas");
    fprintf(f, "\npanels_file: ");
    yaml_quoted(f, CSPH_SOURCE_DIR "/config/panels.yaml");
    fprintf(f, "\nrules_file: ");
    if (h->rules_none)
        fprintf(f, "none");
    else
        yaml_quoted(f, CSPH_SOURCE_DIR "/config/rules.yaml");
    /* No retention sweep: the generated events are dated in the past (up
     * to ten years back at --scale), so under the shipped periods the
     * sweep would redact them while the run measures ingest, and its work
     * and its redactions would be in every figure (the sweep's own cost is
     * csphub-bench-sweep's). */
    fprintf(f, "\nretention_file: none");
    fputc('\n', f);
    if (opt.hub_batch_max)
        fprintf(f, "limits: {batch_max: %u}\n", opt.hub_batch_max);
    if (fclose(f) != 0)
        die("cannot write %s: %s", h->config, strerror(errno));
    hub_spawn(h, NULL);
}

void hub_spawn(struct hub *h, const char *const *extra)
{
    const char *argv[MAX_HUB_ARGS + 16];
    int argc = 0;
    /* Flags override the config file, so --data and --listen hold even when
     * a --hub-arg names another --config. */
    char data_flag[PATH_MAX + 8];
    snprintf(data_flag, sizeof data_flag, "%s/data", h->dir);
    argv[argc++] = h->hubd;
    argv[argc++] = "--config";
    argv[argc++] = h->config;
    argv[argc++] = "--data";
    argv[argc++] = data_flag;
    argv[argc++] = "--listen";
    argv[argc++] = h->endpoint;
    for (int i = 0; i < opt.nhub_args; i++)
        argv[argc++] = opt.hub_args[i];
    for (int i = 0; extra && extra[i] && i < 6; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0); /* a terminal's ^C reaches the bench, which stops the hub */
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* and a crashed bench leaves no hub behind */
        int fd = open(h->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        execv(h->hubd, (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s\n", h->hubd, strerror(errno));
        _exit(127);
    }
    h->pid = g.hub_pid = pid;
}

void perf_start(pid_t hub_pid)
{
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)hub_pid);
    fflush(stdout);
    fflush(stderr);
    pid_t p = fork();
    if (p < 0)
        die("fork: %s", strerror(errno));
    if (p == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGINT);
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, 1);
        if (opt.perf_dwarf)
            execlp("perf", "perf", "record", "--call-graph", "dwarf,16384", "-F", "2000", "-q",
                   "-o", opt.perf_file, "-p", pid, (char *)NULL);
        else
            execlp("perf", "perf", "record", "-g", "-q", "-o", opt.perf_file, "-p", pid,
                   (char *)NULL);
        fprintf(stderr, "csphub-bench: cannot run perf: %s\n", strerror(errno));
        _exit(127);
    }
    g.perf_pid = p;
    usleep(300000); /* let perf attach before the load starts */
}

long private_kb(const struct hub *h)
{
    return h->rss_kb >= 0 && h->file_kb >= 0 ? h->rss_kb - h->file_kb : -1;
}

void hubrun_start(struct hubrun *hr, void *ctx, int rules_none)
{
    hr->hub.rules_none = rules_none;
    hub_start(&hr->hub);
    hr->ctl = dealer_new(ctx, hr->hub.endpoint);
    wait_ready(hr->ctl, 15, hr->version, sizeof hr->version, &hr->last_seq0);
    get_stats(hr->ctl, &hr->st0, opt.reply_timeout_s);
    printf("  hub (%s): started %s (pid %d) on %s, rule_version %s, data in %s (%s)\n",
           hr->label, hr->hub.hubd, (int)hr->hub.pid, hr->hub.endpoint, hr->st0.rule_version,
           hr->hub.dir, fs_name(hr->hub.dir));
}

void hubrun_publish(struct hubrun *hr, void *ctx, const struct corpus *c,
                    const struct requests *q, struct phase *ph)
{
    /* Dirty pages of an earlier run would compete with the syncs measured. */
    sync();
    printf("running: hub publish (%s) ...\n", hr->label);
    ph->name = "hub";
    ph->endpoint = hr->hub.endpoint;
    ph->ctx = ctx;
    ph->corpus = c;
    ph->reqs = q;
    ph->hub = 1;
    run_phase(ph);
    hr->res = ph->res;
    get_stats(hr->ctl, &hr->st1, opt.reply_timeout_s);
    hr->d_commits = stat_get(&hr->st1, "commits") - stat_get(&hr->st0, "commits");
    hr->d_accepted = stat_get(&hr->st1, "accepted") - stat_get(&hr->st0, "accepted");
    hr->d_alerts_raised =
        stat_get(&hr->st1, "alerts_raised") - stat_get(&hr->st0, "alerts_raised");
}

void hubrun_stop(struct hubrun *hr, int keep_dir)
{
    struct hub *h = &hr->hub;
    read_rss(h->pid, &h->rss_kb, &h->hwm_kb, &h->anon_kb, &h->file_kb, &h->shmem_kb);
    zmq_close(hr->ctl);
    hr->ctl = NULL;
    int status = 0;
    stop_child(&g.hub_pid, SIGTERM, 15, &status);
    h->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (h->exit_status != 0) {
        fprintf(stderr, "csphub-bench: WARNING: csphubd (%s) exited with status %d\n", hr->label,
                h->exit_status);
        print_file_tail(h->log, 4000);
    }
    g.hub_log[0] = 0;
    if (!keep_dir)
        forget_tmpdir(h->dir);
}

void print_memory(const struct hub *h, const char *label)
{
    printf("  csphubd memory at the end%s%s%s: private %.1f MiB = VmRSS %.1f - RssFile %.1f "
           "(LMDB map pages) [RssAnon %.1f heap, RssShmem %.1f]; peak VmHWM %.1f MiB; exit "
           "status %d\n",
           label ? " (" : "", label ? label : "", label ? ")" : "", (double)private_kb(h) / 1024.0,
           (double)h->rss_kb / 1024.0, (double)h->file_kb / 1024.0, (double)h->anon_kb / 1024.0,
           (double)(h->shmem_kb > 0 ? h->shmem_kb : 0) / 1024.0, (double)h->hwm_kb / 1024.0,
           h->exit_status);
}

void json_memory(const struct hub *h)
{
    printf("\"memory_kb\":{\"private\":%ld,\"vm_rss\":%ld,\"rss_anon\":%ld,\"rss_file\":%ld,"
           "\"rss_shmem\":%ld,\"vm_hwm\":%ld}",
           private_kb(h), h->rss_kb, h->anon_kb, h->file_kb, h->shmem_kb, h->hwm_kb);
}

void print_alert_rate(const struct hubrun *hr, const struct corpus *c)
{
    double achieved = hr->d_accepted ? (double)hr->d_alerts_raised / (double)hr->d_accepted : 0;
    printf("  alerts (%s): %" PRIu64 " raised for %" PRIu64 " accepted events = %.2f%% (1 in %.1f)",
           hr->label, hr->d_alerts_raised, hr->d_accepted, 100.0 * achieved,
           achieved > 0 ? 1.0 / achieved : 0.0);
    if (c->feed.kind == FEED_ALERT)
        printf("; target %.2f%%", 100.0 * c->feed.alert_rate);
    printf("\n    counters.alerts (total %" PRIu64 "):", hr->st1.alerts_total);
    for (int i = 0; i < hr->st1.npanels; i++)
        if (hr->st1.panel_alerts[i])
            printf(" %s=%" PRIu64, hr->st1.panel[i], hr->st1.panel_alerts[i]);
    printf("\n");
}
