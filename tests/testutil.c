#define _GNU_SOURCE /* nftw flags, vasprintf */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "csphub.h"
#include "config.h"
#include "core.h"
#include "log.h"
#include "mpx.h"
#include "rules.h"
#include "schema.h"

const char *tu_env(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *tu_tmpdir(const char *tag)
{
    char *p = malloc(512);
    snprintf(p, 512, "%s/csphub-%s-XXXXXX", tu_env("TMPDIR", "/tmp"), tag);
    if (!mkdtemp(p)) {
        fprintf(stderr, "mkdtemp %s: %s\n", p, strerror(errno));
        abort();
    }
    return p;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(path);
}

void tu_rmrf(const char *path)
{
    nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int tu_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    bind(fd, (struct sockaddr *)&a, sizeof a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void print_log(const char *path)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    if (!f)
        return;
    fprintf(stderr, "---- %s ----\n", path);
    while (fgets(line, sizeof line, f))
        fputs(line, stderr);
    fclose(f);
}

static int ping_once(const char *endpoint, int timeout_ms)
{
    struct tu_client c;
    tu_client_open(&c, endpoint, ZMQ_DEALER);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, "{\"op\":\"ping\"}");
    tu_send_raw(&c, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    msgpack_object r;
    int rc = tu_recv(&c, timeout_ms, &r);
    tu_client_close(&c);
    return rc;
}

unsigned tu_hub_nofile;

static int hub_spawn(struct tu_hub *h, va_list ap)
{
    const char *argv[64];
    int n = 0;
    argv[n++] = tu_env("CSPH_HUBD", "csphubd");
    argv[n++] = "--data";
    argv[n++] = h->data;
    argv[n++] = "--listen";
    argv[n++] = h->endpoint;
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 62)
        argv[n++] = a;
    argv[n] = NULL;
    h->pid = fork();
    if (h->pid == 0) {
        /* A test that crashes must not leave its hub running. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (tu_hub_nofile) {
            /* The test's own descriptors would count against the limit. */
            for (int fd = 3; fd < 65536; fd++)
                close(fd);
            struct rlimit rl = {tu_hub_nofile, tu_hub_nofile};
            setrlimit(RLIMIT_NOFILE, &rl);
        }
        int fd = open(h->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int64_t deadline = tu_now_ms() + 20000;
    while (tu_now_ms() < deadline) {
        int status;
        if (waitpid(h->pid, &status, WNOHANG) == h->pid) {
            fprintf(stderr, "csphubd exited early (status %d)\n", status);
            print_log(h->log);
            h->pid = 0;
            return -1;
        }
        if (ping_once(h->endpoint, 200) == 0)
            return 0;
    }
    print_log(h->log);
    return -1;
}

char *tu_hub_fresh(struct tu_hub *h, const char *tag, char *data, size_t n)
{
    char *tmp = tu_tmpdir(tag);
    snprintf(data, n, "%s/data", tmp);
    if (tu_hub_start(h, data, NULL) == 0)
        return tmp;
    tu_rmrf(tmp);
    free(tmp);
    return NULL;
}

char *tu_hub_fresh_log_only(struct tu_hub *h, const char *tag, char *data, size_t n,
                            char *config, size_t config_n)
{
    char *tmp = tu_tmpdir(tag);
    snprintf(data, n, "%s/data", tmp);
    snprintf(config, config_n, "%s/log-only.yaml", tmp);
    FILE *f = fopen(config, "w");
    if (f) {
        fputs("rules_file: none\n", f);
        fclose(f);
    }
    if (f && tu_hub_start(h, data, "--config", config, NULL) == 0)
        return tmp;
    tu_rmrf(tmp);
    free(tmp);
    return NULL;
}

int tu_hub_start(struct tu_hub *h, const char *data_dir, ...)
{
    memset(h, 0, sizeof *h);
    h->port = tu_free_port();
    snprintf(h->endpoint, sizeof h->endpoint, "tcp://127.0.0.1:%d", h->port);
    snprintf(h->data, sizeof h->data, "%s", data_dir);
    snprintf(h->log, sizeof h->log, "%s.log", data_dir);
    va_list ap;
    va_start(ap, data_dir);
    int rc = hub_spawn(h, ap);
    va_end(ap);
    return rc;
}

int tu_hub_restart(struct tu_hub *h, ...)
{
    va_list ap;
    va_start(ap, h);
    int rc = hub_spawn(h, ap);
    va_end(ap);
    return rc;
}

/* Run csphubd with the arguments in ap; timeout_ms < 0 waits for ever. */
static int hub_run_v(char *out, size_t n, int timeout_ms, va_list ap)
{
    const char *argv[64];
    int k = 0;
    argv[k++] = tu_env("CSPH_HUBD", "csphubd");
    const char *a;
    while ((a = va_arg(ap, const char *)) && k < 62)
        argv[k++] = a;
    argv[k] = NULL;
    int pipefd[2];
    if (pipe(pipefd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pipefd[1], 2);
        dup2(pipefd[1], 1);
        close(pipefd[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : tu_now_ms() + timeout_ms;
    size_t got = 0;
    int timed_out = 0;
    for (;;) {
        int64_t left = deadline - tu_now_ms();
        if (left <= 0) {
            timed_out = 1;
            break;
        }
        struct pollfd p = {pipefd[0], POLLIN, 0};
        int pr = poll(&p, 1, timeout_ms < 0 ? -1 : (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0) {
            timed_out = pr == 0;
            break;
        }
        char scrap[4096];
        ssize_t r = got < n - 1 ? read(pipefd[0], out + got, n - 1 - got)
                                : read(pipefd[0], scrap, sizeof scrap);
        if (r <= 0)
            break; /* EOF: the child has exited (or closed its output) */
        if (got < n - 1)
            got += (size_t)r;
    }
    out[got] = 0;
    close(pipefd[0]);
    int status;
    if (timed_out) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return -1;
    }
    /* Output closed: wait for the exit itself, still within the deadline. */
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pfd >= 0) {
        int64_t left = deadline - tu_now_ms();
        struct pollfd p = {pfd, POLLIN, 0};
        int pr = poll(&p, 1, timeout_ms < 0 ? -1 : (int)(left > 0 ? left : 0));
        close(pfd);
        if (pr == 0) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
    }
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int tu_hub_run(char *out, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    int rc = hub_run_v(out, n, -1, ap);
    va_end(ap);
    return rc;
}

int tu_hub_run_ms(char *out, size_t n, int timeout_ms, ...)
{
    va_list ap;
    va_start(ap, timeout_ms);
    int rc = hub_run_v(out, n, timeout_ms, ap);
    va_end(ap);
    return rc;
}

int tu_hub_stop(struct tu_hub *h)
{
    if (h->pid <= 0)
        return -1;
    /* A pidfd becomes readable when the child exits: wait on it with a
     * deadline instead of sleeping. */
    int pfd = (int)syscall(SYS_pidfd_open, h->pid, 0);
    kill(h->pid, SIGTERM);
    int status;
    struct pollfd p = {pfd, POLLIN, 0};
    if (pfd >= 0 && poll(&p, 1, 20000) == 1) {
        close(pfd);
        waitpid(h->pid, &status, 0);
        h->pid = 0;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    if (pfd >= 0)
        close(pfd);
    kill(h->pid, SIGKILL);
    waitpid(h->pid, &status, 0);
    h->pid = 0;
    print_log(h->log);
    return -1;
}

void tu_hub_kill9(struct tu_hub *h)
{
    if (h->pid <= 0)
        return;
    kill(h->pid, SIGKILL);
    int status;
    waitpid(h->pid, &status, 0);
    h->pid = 0;
}

void tu_client_open(struct tu_client *c, const char *endpoint, int type)
{
    int linger = 0, one = 1;
    c->ctx = zmq_ctx_new();
    c->sock = zmq_socket(c->ctx, type);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(c->sock, ZMQ_IPV6, &one, sizeof one); /* tcp://[::1]:PORT too */
    zmq_connect(c->sock, endpoint);
    msgpack_zone_init(&c->zone, 4096);
    c->raw = NULL;
    c->raw_len = 0;
}

void tu_client_close(struct tu_client *c)
{
    zmq_close(c->sock);
    zmq_ctx_term(c->ctx);
    msgpack_zone_destroy(&c->zone);
}

int tu_send_raw(struct tu_client *c, const void *buf, size_t len)
{
    return zmq_send(c->sock, buf, len, 0) < 0 ? -1 : 0;
}

int tu_recv(struct tu_client *c, int timeout_ms, msgpack_object *reply)
{
    zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) <= 0)
        return -1;
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, c->sock, 0) < 0) {
        zmq_msg_close(&m);
        return -1;
    }
    msgpack_zone_clear(&c->zone);
    /* Copy into the zone: the reply outlives the ZeroMQ message. */
    size_t len = zmq_msg_size(&m), off = 0;
    char *copy = msgpack_zone_malloc(&c->zone, len ? len : 1);
    memcpy(copy, zmq_msg_data(&m), len);
    zmq_msg_close(&m);
    c->raw = copy;
    c->raw_len = len;
    msgpack_unpack_return r = msgpack_unpack(copy, len, &off, &c->zone, reply);
    return r == MSGPACK_UNPACK_SUCCESS ? 0 : -1;
}

void tu_json_to_mp(msgpack_sbuffer *sbuf, const char *json)
{
    void *mp;
    size_t len;
    char err[256];
    if (csph_json_to_msgpack(json, strlen(json), &mp, &len, err, sizeof err) != 0) {
        fprintf(stderr, "test JSON is invalid (%s): %s\n", err, json);
        abort();
    }
    sbuf->size = 0;
    msgpack_sbuffer_write(sbuf, mp, len);
    free(mp);
}

/* The reply to what was just sent, within 10 s, or the test fails. */
static msgpack_object reply_or_fail(struct tu_client *c, int sent)
{
    msgpack_object r = {0};
    assert_int_equal(sent, 0);
    if (tu_recv(c, 10000, &r) != 0)
        fail_msg("no reply from the hub within 10 s");
    return r;
}

msgpack_object tu_call_raw(struct tu_client *c, const void *buf, size_t len)
{
    return reply_or_fail(c, tu_send_raw(c, buf, len));
}

static int send_va(struct tu_client *c, const char *fmt, va_list ap)
{
    char *json = NULL;
    if (vasprintf(&json, fmt, ap) < 0)
        abort();
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, json);
    free(json);
    int rc = tu_send_raw(c, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

int tu_send(struct tu_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = send_va(c, fmt, ap);
    va_end(ap);
    return rc;
}

msgpack_object tu_call(struct tu_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = send_va(c, fmt, ap);
    va_end(ap);
    return reply_or_fail(c, rc);
}

const msgpack_object *tu_get(const msgpack_object *o, const char *path)
{
    /* Numeric path parts index arrays: "results.2.status". */
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    for (char *part = strtok_r(buf, ".", &save); part && o; part = strtok_r(NULL, ".", &save)) {
        if (o->type == MSGPACK_OBJECT_ARRAY) {
            unsigned long i = strtoul(part, NULL, 10);
            o = i < o->via.array.size ? &o->via.array.ptr[i] : NULL;
        } else {
            o = hub_mp_get(o, part);
        }
    }
    return o;
}

const char *tu_str(const msgpack_object *o, const char *path)
{
    static char ring[8][1024];
    static int next;
    const msgpack_object *v = tu_get(o, path);
    if (!v || v->type != MSGPACK_OBJECT_STR)
        return NULL;
    char *b = ring[next++ % 8];
    size_t n = v->via.str.size < 1023 ? v->via.str.size : 1023;
    memcpy(b, v->via.str.ptr, n);
    b[n] = 0;
    return b;
}

int64_t tu_int(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = tu_get(o, path);
    if (!v)
        return -1;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t)v->via.u64;
    if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return v->via.i64;
    return -1;
}

int tu_bool(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = tu_get(o, path);
    if (!v || v->type != MSGPACK_OBJECT_BOOLEAN)
        return -1;
    return v->via.boolean;
}

int tu_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* not the directory's own descriptor */
}

/* Decode (and so skip) one object at buf[*off] into zone. */
static int mp_next(const char *buf, size_t len, size_t *off, msgpack_zone *zone, msgpack_object *o)
{
    msgpack_unpack_return r = msgpack_unpack(buf, len, off, zone, o);
    return r == MSGPACK_UNPACK_SUCCESS || r == MSGPACK_UNPACK_EXTRA_BYTES ? 0 : -1;
}

int tu_mp_span(const char *buf, size_t len, const char *path, const char **p, size_t *n)
{
    char parts[256];
    snprintf(parts, sizeof parts, "%s", path);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    size_t off = 0;
    int rc = 0;
    char *save = NULL;
    for (char *part = strtok_r(parts, ".", &save); part && rc == 0;
         part = strtok_r(NULL, ".", &save)) {
        uint32_t count;
        msgpack_object o;
        if (off < len && hub_mp_header(buf, len, &off, 0, &count) == 0) {
            unsigned long want = strtoul(part, NULL, 10);
            if (want >= count) {
                rc = -1;
                break;
            }
            for (unsigned long i = 0; i < want && rc == 0; i++)
                rc = mp_next(buf, len, &off, &zone, &o);
        } else if (off < len && hub_mp_header(buf, len, &off, 1, &count) == 0) {
            int found = 0;
            for (uint32_t i = 0; i < count && rc == 0 && !found; i++) {
                if ((rc = mp_next(buf, len, &off, &zone, &o)))
                    break;
                if (o.type == MSGPACK_OBJECT_STR && o.via.str.size == strlen(part) &&
                    memcmp(o.via.str.ptr, part, o.via.str.size) == 0)
                    found = 1;
                else
                    rc = mp_next(buf, len, &off, &zone, &o);
            }
            if (!found)
                rc = -1;
        } else {
            rc = -1;
        }
    }
    if (rc == 0) {
        size_t start = off;
        msgpack_object o;
        rc = mp_next(buf, len, &off, &zone, &o);
        *p = buf + start;
        *n = off - start;
    }
    msgpack_zone_destroy(&zone);
    return rc;
}

void tu_publish_request(msgpack_sbuffer *sb, const void *ev, size_t len, int64_t req)
{
    sb->size = 0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, req >= 0 ? 3 : 2);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "op", 2);
    msgpack_pack_str(&pk, 7);
    msgpack_pack_str_body(&pk, "publish", 7);
    if (req >= 0) {
        msgpack_pack_str(&pk, 3);
        msgpack_pack_str_body(&pk, "req", 3);
        msgpack_pack_int64(&pk, req);
    }
    msgpack_pack_str(&pk, 5);
    msgpack_pack_str_body(&pk, "event", 5);
    msgpack_sbuffer_write(sb, ev, len);
}

msgpack_object tu_publish_raw(struct tu_client *c, const void *ev, size_t len, int64_t req)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_publish_request(&sb, ev, len, req);
    msgpack_object r = tu_call_raw(c, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return r;
}

const char *tu_dump(const msgpack_object *o)
{
    static char ring[4][8192];
    static int next;
    char *b = ring[next++ % 4];
    if (!o)
        return "(none)";
    if (msgpack_object_print_buffer(b, sizeof ring[0], *o) < 0)
        snprintf(b, sizeof ring[0], "(unprintable)");
    b[sizeof ring[0] - 1] = 0;
    return b;
}

int tu_tmpfx_setup(void **state, const char *name)
{
    struct tu_tmpfx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    f->fds = tu_open_fds();
    f->tmp = tu_tmpdir(name);
    *state = f;
    return 0;
}

int tu_tmpfx_teardown(void **state)
{
    struct tu_tmpfx *f = *state;
    tu_rmrf(f->tmp);
    free(f->tmp);
    int fds = f->fds;
    free(f);
    if (tu_open_fds() != fds) {
        fprintf(stderr, "%d descriptors open before, %d after\n", fds, tu_open_fds());
        return -1;
    }
    return 0;
}

void tu_load_defaults(struct hub_config *cfg, struct hub_schemas **schemas,
                      struct hub_rules **rules)
{
    struct hub_error err;
    hub_config_defaults(cfg);
    if (hub_config_load_panels(cfg, &err))
        fail_msg("panels: %s", err.message);
    const char *names[CSPH_MAX_PANELS];
    for (size_t i = 0; i < cfg->npanels; i++)
        names[i] = cfg->panels[i].name;
    if (hub_schemas_load(schemas, cfg->schemas_dir, names, cfg->npanels, &err) ||
        hub_rules_load(rules, cfg->rules_file, cfg->panels, cfg->npanels, *schemas, &err))
        fail_msg("schemas and rules: %s", err.message);
}

int tu_run_va(const char *out_path, const char *err_path, const char *path_env,
              const char *prog, const char *const *prefix, va_list ap)
{
    const char *argv[32];
    int n = 0;
    argv[n++] = prog;
    for (size_t i = 0; prefix && prefix[i] && n < 31; i++)
        argv[n++] = prefix[i];
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 31)
        argv[n++] = a;
    argv[n] = NULL;
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int out = -1;
        if (out_path) {
            if ((out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
                _exit(126);
            dup2(out, 1);
        }
        if (err_path && out_path && !strcmp(err_path, out_path)) {
            dup2(out, 2);
        } else if (err_path) {
            int fd = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
            if (fd < 0)
                _exit(126);
            dup2(fd, 2);
        }
        if (path_env)
            setenv("PATH", path_env, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

char *tu_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s: %s", path, strerror(errno));
    struct stat st;
    assert_int_equal(fstat(fileno(f), &st), 0);
    char *b = malloc((size_t)st.st_size + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)st.st_size, f), (size_t)st.st_size);
    b[st.st_size] = 0;
    fclose(f);
    if (len)
        *len = (size_t)st.st_size;
    return b;
}

int tu_logonly_open(struct tu_logonly_fx *f, const char *tag)
{
    if (!(f->tmp = tu_hub_fresh_log_only(&f->hub, tag, f->data, sizeof f->data, f->config,
                                         sizeof f->config)))
        return -1;
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    f->client_open = 1;
    return 0;
}

int tu_logonly_close(struct tu_logonly_fx *f)
{
    if (f->client_open)
        tu_client_close(&f->c);
    f->client_open = 0;
    int rc = f->hub.pid > 0 ? tu_hub_stop(&f->hub) : 0;
    tu_rmrf(f->tmp);
    free(f->tmp);
    f->tmp = NULL;
    if (rc != 0)
        fprintf(stderr, "csphubd exited %d on SIGTERM (want 0)\n", rc);
    return rc == 0 ? 0 : -1;
}

int tu_logonly_setup(void **state, const char *tag)
{
    struct tu_logonly_fx *f = calloc(1, sizeof *f);
    if (!f || tu_logonly_open(f, tag) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

int tu_logonly_teardown(void **state)
{
    struct tu_logonly_fx *f = *state;
    int rc = tu_logonly_close(f);
    free(f);
    return rc;
}

void tu_corefx_open(struct tu_corefx *f, int recover)
{
    struct hub_error err;
    struct hub_core_opts o = {.cfg = &f->cfg, .dir = f->data, .map_size = TU_CORE_MAP_SIZE,
                              .schemas = f->schemas, .rules = f->rules, .apply_limits = 1};
    if (hub_core_open(&f->core, &o, &err))
        fail_msg("opening the core in %s: %s", f->data, err.message);
    uint64_t caught;
    if (recover && hub_core_recover(f->core, &caught, &err))
        fail_msg("recover: %s", err.message);
}

int tu_corefx_setup(void **state, const char *tag, int recover)
{
    struct tu_corefx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    hub_log_min = CSPH_LOG_WARN;
    f->fds = tu_open_fds();
    f->dir = tu_tmpdir(tag);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    tu_load_defaults(&f->cfg, &f->schemas, &f->rules);
    msgpack_zone_init(&f->zone, 4096);
    tu_corefx_open(f, recover);
    *state = f;
    return 0;
}

int tu_corefx_teardown(void **state)
{
    struct tu_corefx *f = *state;
    hub_core_close(&f->core);
    hub_rules_destroy(&f->rules);
    hub_schemas_destroy(&f->schemas);
    msgpack_zone_destroy(&f->zone);
    tu_rmrf(f->dir);
    free(f->dir);
    int fds = f->fds;
    free(f);
    assert_int_equal(tu_open_fds(), fds); /* nothing left open */
    return 0;
}

enum hub_err tu_corefx_ingest(struct tu_corefx *f, const char *json, int64_t received_ms,
                              uint64_t *seq, struct hub_error *err)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, json);
    msgpack_object obj;
    size_t off = 0;
    msgpack_zone_clear(&f->zone);
    assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &f->zone, &obj),
                     MSGPACK_UNPACK_SUCCESS);
    struct hub_event_info info;
    assert_int_equal(hub_schema_check(f->schemas, &obj, 1, &info, err), CSPH_ERR_OK);
    int dup = 0;
    enum hub_err rc = hub_ingest_event(hub_core_ingest(f->core), &info, &obj, sb.data, sb.size,
                                       received_ms, seq, &dup, err);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

enum hub_err tu_corefx_referral(struct tu_corefx *f, const char *id, int64_t received_ms,
                                uint64_t *seq, struct hub_error *err)
{
    char json[512];
    snprintf(json, sizeof json,
             "{\"id\":\"%s\",\"type\":\"referral\",\"source\":\"council\","
             "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"subject\":\"S-%s\","
             "\"panel\":\"marac\",\"reason\":\"repeat victim\"}",
             id, id);
    return tu_corefx_ingest(f, json, received_ms, seq, err);
}

int tu_log_count(const struct tu_hub *h, const char *what)
{
    FILE *fp = fopen(h->log, "r");
    char line[4096];
    int n = 0;
    while (fp && fgets(line, sizeof line, fp))
        n += strstr(line, what) != NULL;
    if (fp)
        fclose(fp);
    return n;
}

/* tu_byte_search: one file at a time, in chunks that overlap by the
 * needle's length. */
static const char *search_for;
static char search_hit[1024];

static int search_file(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || !S_ISREG(sb->st_mode))
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    /* The extents that hold data only (index.mdb is sparse, as large as its
     * map), in chunks that overlap by the needle's length. */
    size_t nl = strlen(search_for), chunk = 1 << 20;
    char *buf = malloc(chunk + nl);
    int hit = 0;
    off_t off = lseek(fd, 0, SEEK_DATA);
    while (!hit && off >= 0) {
        off_t end = lseek(fd, off, SEEK_HOLE);
        for (; !hit && off < end; off += (off_t)chunk) {
            ssize_t n = pread(fd, buf, chunk + nl, off);
            if (n <= 0)
                break;
            hit = memmem(buf, (size_t)n, search_for, nl) != NULL;
        }
        off = end < 0 ? -1 : lseek(fd, end, SEEK_DATA);
    }
    free(buf);
    close(fd);
    if (hit) {
        snprintf(search_hit, sizeof search_hit, "%s", path);
        return 1;
    }
    return 0;
}

const char *tu_byte_search(const char *dir, const char *needle)
{
    search_for = needle;
    search_hit[0] = 0;
    return nftw(dir, search_file, 16, FTW_PHYS) == 1 ? search_hit : NULL;
}

int tu_run_cmd(char *out, size_t n, const char *cmd)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}
