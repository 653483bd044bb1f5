/* test_cli: the csphub command ($CSPH_CLI) against the real csphubd. Each
 * test starts its own hub on a fresh data directory, runs the command as a
 * child process (stdin from a file, stdout and stderr captured through
 * pipes) and checks its output and exit status: publish, queue, alert,
 * watch (--once, --count, held fetch and Ctrl-C), replay, stats, rejects,
 * ping, usage errors and an unreachable hub. Nothing sleeps: every wait is
 * poll() on a pipe or a pidfd with a deadline. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RUN_TIMEOUT_MS 20000

struct buf {
    char *p;
    size_t n, cap;
};

/* One run of the command: what it printed and how it ended. */
struct run {
    int status; /* exit status; -1 when killed at the deadline */
    int64_t ms; /* how long it ran */
    struct buf out, err;
};

/* A command running in the background. */
struct proc {
    pid_t pid;
    int fd[2]; /* stdout, stderr; -1 once at EOF */
    int64_t start;
    struct run *r;
};

struct fx {
    char *tmp;
    char data[600];
    struct tu_hub hub;
    struct run r;
    int seq; /* for file names */
};

/* ---- running the command ---------------------------------------------- */

static void buf_add(struct buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void buf_reset(struct buf *b)
{
    b->n = 0;
    buf_add(b, "", 0);
}

/* Start argv[0] with stdin from in_path (NULL: /dev/null) and the extra
 * environment ("NAME=value", NULL-terminated list or NULL). */
static void proc_start(struct proc *p, struct run *r, const char *in_path, const char *const *env,
                       char *const *argv)
{
    int po[2], pe[2];
    assert_int_equal(pipe2(po, O_CLOEXEC), 0);
    assert_int_equal(pipe2(pe, O_CLOEXEC), 0);
    buf_reset(&r->out);
    buf_reset(&r->err);
    r->status = -1;
    p->r = r;
    p->start = tu_now_ms();
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
        if (in < 0)
            _exit(126);
        dup2(in, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        unsetenv("CSPHUB_HUB");
        unsetenv("CSPHUB_NOW");
        unsetenv("COLUMNS");
        setenv("TZ", "UTC", 1); /* dates shown in local time: make them UTC */
        for (size_t i = 0; env && env[i]; i++)
            putenv(strdup(env[i]));
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    p->fd[0] = po[0];
    p->fd[1] = pe[0];
    fcntl(p->fd[0], F_SETFL, O_NONBLOCK);
    fcntl(p->fd[1], F_SETFL, O_NONBLOCK);
}

/* Read what the child wrote, waiting up to timeout_ms for something.
 * Returns 1 while either pipe is open. */
static int proc_pump(struct proc *p, int timeout_ms)
{
    struct pollfd pf[2];
    int n = 0;
    for (int i = 0; i < 2; i++)
        if (p->fd[i] >= 0)
            pf[n++] = (struct pollfd){p->fd[i], POLLIN, 0};
    if (n == 0)
        return 0;
    if (poll(pf, (nfds_t)n, timeout_ms < 0 ? 0 : timeout_ms) < 0 && errno != EINTR)
        return 0;
    for (int i = 0; i < 2; i++) {
        if (p->fd[i] < 0)
            continue;
        char chunk[8192];
        ssize_t got;
        while ((got = read(p->fd[i], chunk, sizeof chunk)) > 0)
            buf_add(i == 0 ? &p->r->out : &p->r->err, chunk, (size_t)got);
        if (got == 0) {
            close(p->fd[i]);
            p->fd[i] = -1;
        }
    }
    return p->fd[0] >= 0 || p->fd[1] >= 0;
}

/* Pump until stdout contains needle; 0, or -1 at the deadline or EOF. */
static int proc_wait_out(struct proc *p, const char *needle, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    while (!strstr(p->r->out.p, needle)) {
        int64_t left = deadline - tu_now_ms();
        if (left <= 0 || !proc_pump(p, (int)left))
            return strstr(p->r->out.p, needle) ? 0 : -1;
    }
    return 0;
}

/* Collect everything and reap; kills the child at the deadline. */
static int proc_finish(struct proc *p, int timeout_ms)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < deadline && proc_pump(p, (int)(deadline - tu_now_ms())))
        ;
    int pfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    struct pollfd pp = {pfd, POLLIN, 0};
    int64_t left = deadline - tu_now_ms();
    int status;
    if (pfd >= 0 && poll(&pp, 1, left > 0 ? (int)left : 0) == 1) {
        waitpid(p->pid, &status, 0);
        p->r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    } else {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
        p->r->status = -1;
    }
    if (pfd >= 0)
        close(pfd);
    for (int i = 0; i < 2; i++)
        if (p->fd[i] >= 0)
            close(p->fd[i]);
    p->r->ms = tu_now_ms() - p->start;
    return p->r->status;
}

/* argv for `csphub --hub <endpoint> args...` (endpoint NULL: no --hub). */
static int build_argv(char **argv, int max, const char *endpoint, va_list ap)
{
    int n = 0;
    argv[n++] = (char *)tu_env("CSPH_CLI", "csphub");
    if (endpoint) {
        argv[n++] = "--hub";
        argv[n++] = (char *)endpoint;
    }
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < max - 1)
        argv[n++] = (char *)a;
    argv[n] = NULL;
    return n;
}

/* Run `csphub --hub <hub> args...` to completion with stdin from in and the
 * extra environment; its exit status (output in f->r). */
static int runv(struct fx *f, const char *in, const char *const *env, const char *endpoint, ...)
{
    char *argv[40];
    va_list ap;
    va_start(ap, endpoint);
    build_argv(argv, 40, endpoint, ap);
    va_end(ap);
    struct proc p;
    proc_start(&p, &f->r, in, env, argv);
    return proc_finish(&p, RUN_TIMEOUT_MS);
}
#define RUN(f, ...) runv((f), NULL, NULL, (f)->hub.endpoint, __VA_ARGS__, NULL)
#define RUN_IN(f, in, ...) runv((f), (in), NULL, (f)->hub.endpoint, __VA_ARGS__, NULL)
#define RUN_ENV(f, env, ...) runv((f), NULL, (env), (f)->hub.endpoint, __VA_ARGS__, NULL)

#define EXPECT_STATUS(f, want)                                                 \
    do {                                                                       \
        if ((f)->r.status != (want))                                           \
            fail_msg("exit status %d, want %d\n--- stdout:\n%s--- stderr:\n%s", \
                     (f)->r.status, (want), (f)->r.out.p, (f)->r.err.p);        \
    } while (0)
#define EXPECT_IN(f, stream, needle)                                           \
    do {                                                                       \
        if (!strstr((f)->r.stream.p, (needle)))                                \
            fail_msg("expected '%s' in " #stream "\n--- stdout:\n%s--- stderr:\n%s", (needle), \
                     (f)->r.out.p, (f)->r.err.p);                              \
    } while (0)
#define EXPECT_NOT_IN(f, stream, needle)                                       \
    do {                                                                       \
        if (strstr((f)->r.stream.p, (needle)))                                 \
            fail_msg("did not expect '%s' in " #stream "\n--- stdout:\n%s--- stderr:\n%s", \
                     (needle), (f)->r.out.p, (f)->r.err.p);                    \
    } while (0)

/* ---- test data ---------------------------------------------------------- */

/* RFC 3339 for now + offset_s (UTC). Events are dated near the hub's clock:
 * its windows count back from the newest time it has seen. */
static void iso_at(char *buf, size_t n, int64_t offset_s)
{
    time_t t = time(NULL) + offset_s;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A buffer from a ring of 16 for event text (valid for 16 more calls). */
static char *ring_buf(void)
{
    static char ring[16][512];
    static unsigned next;
    return ring[next++ % 16];
}

/* An asb.report dated days_ago days before now. */
static char *asb_event(const char *id, const char *victim, int days_ago)
{
    char when[32], *s = ring_buf();
    iso_at(when, sizeof when, -(int64_t)days_ago * 86400);
    snprintf(s, 512,
             "{\"id\":\"%s\",\"type\":\"asb.report\",\"source\":\"police\","
             "\"occurred_at\":\"%s\",\"victim\":\"%s\",\"location\":{\"lsoa\":"
             "\"E01000916\"},\"category\":\"personal\"}",
             id, when, victim);
    return s;
}

static char *call_event(const char *id, const char *caller, int days_ago)
{
    char when[32], *s = ring_buf();
    iso_at(when, sizeof when, -(int64_t)days_ago * 86400);
    snprintf(s, 512,
             "{\"id\":\"%s\",\"type\":\"call\",\"source\":\"council\","
             "\"occurred_at\":\"%s\",\"caller\":\"%s\",\"category\":\"asb\"}",
             id, when, caller);
    return s;
}

/* Write the lines (NULL-terminated) to a new file in the test's directory;
 * returns its path (static ring of 4). */
static const char *write_lines(struct fx *f, const char *first, ...)
{
    static char paths[4][700];
    char *path = paths[f->seq % 4];
    snprintf(path, 700, "%s/input-%d.jsonl", f->tmp, f->seq++);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    va_list ap;
    va_start(ap, first);
    for (const char *l = first; l; l = va_arg(ap, const char *))
        fprintf(out, "%s\n", l);
    va_end(ap);
    fclose(out);
    return path;
}

/* Publish three ASB reports for victim: the asb-case-review.victim rule
 * raises one alert for them. */
static void publish_three_asb(struct fx *f, const char *prefix, const char *victim)
{
    char a[64], b[64], c[64];
    snprintf(a, sizeof a, "%s-1", prefix);
    snprintf(b, sizeof b, "%s-2", prefix);
    snprintf(c, sizeof c, "%s-3", prefix);
    const char *path = write_lines(f, asb_event(a, victim, 3), asb_event(b, victim, 2),
                                   asb_event(c, victim, 1), NULL);
    RUN(f, "publish", path);
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "accepted   3");
}

/* The JSON lines of stdout, parsed (a new array). */
static json_t *json_lines(struct fx *f)
{
    json_t *a = json_array();
    char *save = NULL, *copy = strdup(f->r.out.p);
    for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *j = json_loads(l, 0, &je);
        if (!j)
            fail_msg("not a JSON line (%s): %s", je.text, l);
        json_array_append_new(a, j);
    }
    free(copy);
    return a;
}

/* ---- fixtures --------------------------------------------------------- */

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!(f->tmp = tu_hub_fresh(&f->hub, "cli", f->data, sizeof f->data))) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

/* A directory and no hub (test_curve starts its own). */
static int setup_nohub(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->tmp = tu_tmpdir("cli");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc = f->hub.pid > 0 ? tu_hub_stop(&f->hub) : 0;
    tu_rmrf(f->tmp);
    free(f->tmp);
    free(f->r.out.p);
    free(f->r.err.p);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* ---- tests ------------------------------------------------------------ */

static void test_usage(void **state)
{
    struct fx *f = *state;
    RUN(f, "--help");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "usage: csphub");
    EXPECT_IN(f, out, "Exit status");
    EXPECT_IN(f, out, "Examples");
    static const char *const cmds[] = {"publish", "watch", "queue", "alert",
                                       "replay",  "stats", "rejects", "ping"};
    for (size_t i = 0; i < sizeof cmds / sizeof *cmds; i++) {
        char want[64];
        snprintf(want, sizeof want, "usage: csphub %s", cmds[i]);
        RUN(f, cmds[i], "--help");
        EXPECT_STATUS(f, 0);
        EXPECT_IN(f, out, want);
        EXPECT_IN(f, out, "Examples:");
        EXPECT_IN(f, out, "Exit status");
    }
    RUN(f, "help", "queue");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "usage: csphub queue");

    RUN(f, "frobnicate");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "csphub: unknown command 'frobnicate'");
    runv(f, NULL, NULL, NULL, NULL);
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "no command");
    RUN(f, "queue");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "usage: csphub queue");
    RUN(f, "queue", "marac", "--bogus");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "unknown option '--bogus'");
    RUN(f, "queue", "marac", "--status", "pending");
    EXPECT_STATUS(f, 2);
    RUN(f, "alert", "1", "frob");
    EXPECT_STATUS(f, 2);
    RUN(f, "alert", "one", "accept");
    EXPECT_STATUS(f, 2);
    RUN(f, "watch", "marac");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "--consumer");
    RUN(f, "--timeout", "soon", "ping");
    EXPECT_STATUS(f, 2);
    /* one unit for every program's --timeout: a bare number is refused,
     * not read as milliseconds here and seconds in the adapters */
    RUN(f, "--timeout", "2000", "ping");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "has no unit: write it as 30s, 500ms or 2m");
    RUN(f, "replay", "--since", "last tuesday");
    EXPECT_STATUS(f, 2);
    /* the hub's own parser: a day the month lacks is refused here, with why */
    RUN(f, "replay", "--since", "2025-02-31");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "day that does not exist");
    RUN(f, "replay", "--since", "2025-03-01 10:00:00Z");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "'T'");
    RUN(f, "replay", "--max");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "needs a value");
    RUN(f, "publish", "/nonexistent/events.jsonl");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "cannot open");
}

static void test_ping(void **state)
{
    struct fx *f = *state;
    RUN(f, "ping");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "answers: CSPH/1");
    EXPECT_IN(f, out, "last seq 1"); /* the hub's rules.loaded */
    /* Global options also work after the command. */
    runv(f, NULL, NULL, NULL, "ping", "--json", "--hub", f->hub.endpoint, NULL);
    EXPECT_STATUS(f, 0);
    json_t *j = json_loads(f->r.out.p, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "last_seq")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "protocol")), "CSPH/1");
    assert_null(json_object_get(j, "ok"));
    json_decref(j);
    /* CSPHUB_HUB names the hub when --hub does not. */
    char env_hub[128];
    snprintf(env_hub, sizeof env_hub, "CSPHUB_HUB=%s", f->hub.endpoint);
    const char *env[] = {env_hub, NULL};
    runv(f, NULL, env, NULL, "ping", NULL);
    EXPECT_STATUS(f, 0);
}

static void test_hub_down(void **state)
{
    struct fx *f = *state;
    char dead[64];
    snprintf(dead, sizeof dead, "tcp://127.0.0.1:%d", tu_free_port());
    runv(f, NULL, NULL, dead, "--timeout", "300ms", "ping", NULL);
    EXPECT_STATUS(f, 1);
    EXPECT_IN(f, err, "csphub: no answer from the hub at tcp://127.0.0.1:");
    EXPECT_IN(f, err, "within 300 ms");
    assert_true(f->r.ms < 5000);
    /* Refused again and again, never reached: said at once, not after the
     * whole timeout (a minute here). */
    runv(f, NULL, NULL, dead, "--timeout", "60s", "ping", NULL);
    EXPECT_STATUS(f, 1);
    EXPECT_IN(f, err, "no hub is listening at tcp://127.0.0.1:");
    EXPECT_IN(f, err, "the connection is refused");
    assert_true(f->r.ms < 30000);

    const char *path = write_lines(f, asb_event("down-1", "V-1", 1), NULL);
    runv(f, NULL, NULL, dead, "--timeout", "300ms", "publish", path, NULL);
    EXPECT_STATUS(f, 1);
    EXPECT_IN(f, err, "no answer from the hub");
    assert_true(f->r.ms < 5000);

    runv(f, NULL, NULL, dead, "--timeout", "300ms", "watch", "marac", "--consumer", "c", NULL);
    EXPECT_STATUS(f, 1);
    assert_true(f->r.ms < 5000);
}

static void test_publish(void **state)
{
    struct fx *f = *state;
    const char *good = write_lines(f, asb_event("p-1", "V-1", 5), asb_event("p-2", "V-2", 4),
                                   call_event("p-3", "V-3", 3), NULL);
    RUN(f, "publish", good);
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "3 events read");
    EXPECT_IN(f, out, "accepted   3");
    EXPECT_IN(f, out, "duplicate  0");
    EXPECT_IN(f, out, "rejected   0");
    assert_string_equal(f->r.err.p, "");

    /* The same file again: every event is recognised. */
    RUN(f, "publish", good);
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "accepted   0");
    EXPECT_IN(f, out, "duplicate  3");

    /* From standard input, summary as JSON. */
    RUN_IN(f, good, "publish", "-", "--json");
    EXPECT_STATUS(f, 0);
    json_t *j = json_loads(f->r.out.p, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "read")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "duplicate")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "rejected")), 0);
    json_decref(j);

    /* A bad field on line 3 (after a blank line 2) and a line that is not
     * JSON on line 4: exit 3, each named by line and field. */
    char *bad = asb_event("p-bad", "V-4", 1);
    char *lsoa = strstr(bad, "E01000916");
    lsoa[0] = 'X';
    const char *mixed = write_lines(f, asb_event("p-4", "V-4", 2), "", bad, "not json at all", NULL);
    RUN(f, "publish", mixed);
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, out, "3 events read");
    EXPECT_IN(f, out, "accepted   1");
    EXPECT_IN(f, out, "rejected   2  (");
    EXPECT_IN(f, out, "line 3: bad_event: ");
    EXPECT_IN(f, out, "(field location.lsoa)");
    EXPECT_IN(f, out, "line 4: bad_json: ");
    EXPECT_IN(f, err, "csphub: 2 of 3 events rejected; the first, line 3: bad_event: ");
    EXPECT_IN(f, err, "(field location.lsoa)");

    RUN(f, "publish", "--json", mixed);
    EXPECT_STATUS(f, 3);
    j = json_loads(f->r.out.p, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_integer_value(json_object_get(j, "duplicate")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "rejected")), 2);
    json_t *by = json_object_get(j, "rejected_by_code");
    assert_int_equal(json_integer_value(json_object_get(by, "bad_event")), 1);
    assert_int_equal(json_integer_value(json_object_get(by, "bad_json")), 1);
    json_t *r0 = json_array_get(json_object_get(j, "rejections"), 0);
    assert_int_equal(json_integer_value(json_object_get(r0, "line")), 3);
    assert_string_equal(json_string_value(json_object_get(r0, "field")), "location.lsoa");
    json_decref(j);
}

static void test_queue_and_alert(void **state)
{
    struct fx *f = *state;
    publish_three_asb(f, "q", "V-1");
    RUN(f, "queue", "asb-case-review");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "ID  PRIORITY  AGE  DUE");
    EXPECT_IN(f, out, "STATUS  REASON");
    EXPECT_IN(f, out, " 1  standard  now ");
    EXPECT_IN(f, out, "  open    3 ASB complaints by V-1 between ");
    EXPECT_IN(f, out, "\n1 alert\n");
    EXPECT_NOT_IN(f, out, "OVERDUE");

    RUN(f, "queue", "asb-case-review", "--json");
    EXPECT_STATUS(f, 0);
    json_t *lines = json_lines(f);
    assert_int_equal(json_array_size(lines), 1);
    json_t *a = json_array_get(lines, 0);
    assert_int_equal(json_integer_value(json_object_get(a, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(a, "status")), "open");
    assert_string_equal(json_string_value(json_object_get(json_object_get(a, "key"), "victim")),
                        "V-1");
    assert_int_equal(json_array_size(json_object_get(a, "evidence")), 3);
    assert_non_null(json_object_get(a, "due_at"));
    json_decref(lines);

    /* A month on, the open alert is past its deadline. */
    char now[64], later[80];
    iso_at(now, sizeof now, 30 * 86400 + 3600);
    snprintf(later, sizeof later, "CSPHUB_NOW=%s", now);
    const char *env[] = {later, NULL};
    RUN_ENV(f, env, "queue", "asb-case-review");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, " 30d ");
    EXPECT_IN(f, out, " OVERDUE  open");
    EXPECT_IN(f, out, "1 alert, 1 overdue");

    RUN(f, "alert", "1", "accept", "--note", "Listed for the next meeting");
    EXPECT_STATUS(f, 0);
    /* seq 1 is the hub's rules.loaded, 2-4 the reports */
    assert_string_equal(f->r.out.p, "alert 1 accepted (recorded as event seq 5)\n");

    RUN(f, "queue", "asb-case-review", "--status", "accepted");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "  accepted  3 ASB complaints by V-1");
    RUN(f, "queue", "asb-case-review", "--status", "open");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "no open alerts on asb-case-review");
    /* A decision ends the deadline: no longer overdue. */
    RUN_ENV(f, env, "queue", "asb-case-review");
    EXPECT_NOT_IN(f, out, "OVERDUE");

    /* The decision is in the log. */
    RUN(f, "replay", "--types", "alert.status");
    EXPECT_STATUS(f, 0);
    lines = json_lines(f);
    assert_int_equal(json_array_size(lines), 1);
    json_t *ev = json_object_get(json_array_get(lines, 0), "event");
    assert_string_equal(json_string_value(json_object_get(ev, "status")), "accepted");
    assert_string_equal(json_string_value(json_object_get(ev, "note")),
                        "Listed for the next meeting");
    json_decref(lines);

    RUN(f, "alert", "1", "close", "--json");
    EXPECT_STATUS(f, 0);
    json_t *j = json_loads(f->r.out.p, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "closed");
    /* seq 6 is the hub's case.opened: accepting the alert opened V-1's case */
    assert_int_equal(json_integer_value(json_object_get(j, "seq")), 7);
    json_decref(j);

    /* Refusals: exit 3 with the hub's code, message and field. */
    RUN(f, "alert", "99", "close");
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, err, "csphub: not_found: ");
    EXPECT_IN(f, err, "(field id)");
    RUN(f, "queue", "no-such-panel");
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, err, "csphub: unknown_panel: ");
    EXPECT_IN(f, err, "(field panel)");
}

/* queue's filters run on the hub; alert show prints one alert in full
 * (reason, evidence events readably, decisions with who and note); the
 * workflow's refusals reach the user with the hub's words. */
static void test_queue_filters_and_alert_show(void **state)
{
    struct fx *f = *state;
    publish_three_asb(f, "a", "V-1");
    publish_three_asb(f, "b", "V-2");
    RUN(f, "queue", "asb-case-review", "--person", "V-2");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "by V-2 between");
    EXPECT_NOT_IN(f, out, "by V-1 between");
    EXPECT_IN(f, out, "\n1 alert\n");
    RUN(f, "queue", "asb-case-review", "--limit", "1", "--json");
    EXPECT_STATUS(f, 0);
    json_t *lines = json_lines(f);
    assert_int_equal(json_array_size(lines), 1);
    json_decref(lines);
    RUN(f, "queue", "asb-case-review", "--priority", "high", "--rule", "asb-case-review.victim");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "no matching alerts on asb-case-review");
    RUN(f, "queue", "asb-case-review", "--overdue");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "no matching alerts on asb-case-review");
    RUN(f, "queue", "asb-case-review", "--priority", "urgent");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "--priority 'urgent': expected standard, medium or high");
    RUN(f, "queue", "asb-case-review", "--person", "V 1");
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, err, "(field person)");

    RUN(f, "alert", "1", "ack", "--by", "ann", "--expect", "open");
    EXPECT_STATUS(f, 0);
    RUN(f, "alert", "1", "accept", "--by", "bob", "--note", "Listed for <b>March</b>");
    EXPECT_STATUS(f, 0);
    RUN(f, "alert", "1", "ack", "--by", "ann");
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, err, "csphub: conflict: alert 1 is accepted (by bob): it can move to closed, "
                      "not acknowledged (field status)");
    RUN(f, "alert", "1", "reopen");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "reopen needs --note");
    RUN(f, "alert", "show", "1");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "Alert 1 on asb-case-review: standard priority, accepted\n");
    EXPECT_IN(f, out, "Rule:     asb-case-review.victim (rule set ");
    EXPECT_IN(f, out, "Reason:   3 ASB complaints by V-1 between ");
    EXPECT_IN(f, out, "(threshold 3 in 183 days)\n"); /* whole, never cut */
    EXPECT_IN(f, out, "Evidence (3 events):\n");
    EXPECT_IN(f, out, "police     asb.report         ");
    EXPECT_IN(f, out, "victim=V-1");
    EXPECT_IN(f, out, "location.lsoa=");
    EXPECT_IN(f, out, "Decisions (2):\n");
    EXPECT_IN(f, out, "acknowledged  by ann");
    EXPECT_IN(f, out, "accepted      by bob");
    EXPECT_IN(f, out, "      note: Listed for <b>March</b>\n");
    RUN(f, "alert", "show", "1", "--json");
    EXPECT_STATUS(f, 0);
    json_t *j = json_loads(f->r.out.p, 0, NULL);
    assert_non_null(j);
    assert_int_equal(json_array_size(json_object_get(j, "events")), 3);
    assert_int_equal(json_array_size(json_object_get(j, "decisions")), 2);
    json_decref(j);
    RUN(f, "alert", "show", "99");
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, err, "csphub: not_found: no alert with id 99 (field id)");
    RUN(f, "alert", "show", "x");
    EXPECT_STATUS(f, 2);
}

static void test_queue_pages(void **state)
{
    struct fx *f = *state;
    publish_three_asb(f, "a", "V-1");
    publish_three_asb(f, "b", "V-2");
    publish_three_asb(f, "c", "V-3");
    RUN(f, "queue", "asb-case-review", "--page", "1", "--json");
    EXPECT_STATUS(f, 0);
    json_t *lines = json_lines(f);
    assert_int_equal(json_array_size(lines), 3);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(json_integer_value(json_object_get(json_array_get(lines, i), "id")),
                         (json_int_t)i + 1);
    json_decref(lines);
    RUN(f, "queue", "asb-case-review", "--page", "2");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "by V-3 between");
    EXPECT_IN(f, out, "\n3 alerts\n");
}

/* An alert whose evidence alone is over a reply's size (the hub's limit
 * lowered to 8 KiB here) comes cut; queue --json and watch --json fetch the
 * rest (`evidence`) and print it whole. */
static void test_queue_cut_evidence(void **state)
{
    struct fx *f = *state;
    char path[700], data[700];
    snprintf(path, sizeof path, "%s/panels.yaml", f->tmp);
    FILE *o = fopen(path, "w");
    assert_non_null(o);
    fputs("panels:\n  tasking: {title: \"Tasking\"}\n", o);
    fclose(o);
    snprintf(path, sizeof path, "%s/rules.yaml", f->tmp);
    o = fopen(path, "w");
    assert_non_null(o);
    fputs("rules:\n"
          "  - name: test.hotspot\n"
          "    panel: tasking\n"
          "    when: asb.report\n"
          "    key: location.lsoa\n"
          "    window_days: 3650\n"
          "    tiers:\n"
          "      - {at_least: 3000, priority: high}\n"
          "    reason: \"{count} reports in {key}\"\n",
          o);
    fclose(o);
    snprintf(path, sizeof path, "%s/hub.yaml", f->tmp);
    o = fopen(path, "w");
    assert_non_null(o);
    fputs("rules_file: rules.yaml\npanels_file: panels.yaml\n"
          "retention_file: none\n" /* its panels lack the shipped file's */
          "limits:\n  reply_max_bytes: 8192\n  event_max_bytes: 2048\n",
          o);
    fclose(o);
    snprintf(data, sizeof data, "%s/data", f->tmp);
    assert_int_equal(tu_hub_start(&f->hub, data, "--config", path, NULL), 0);
    snprintf(path, sizeof path, "%s/hotspot.jsonl", f->tmp);
    o = fopen(path, "w");
    assert_non_null(o);
    for (int i = 0; i < 3000; i++)
        fprintf(o,
                "{\"id\":\"h-%d\",\"type\":\"asb.report\",\"source\":\"police\","
                "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"location\":{\"lsoa\":"
                "\"E01000916\"},\"category\":\"nuisance\"}\n",
                i);
    fclose(o);
    RUN(f, "publish", path);
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "accepted   3000");
    /* The reports' seqs, from the log. */
    RUN(f, "replay", "--types", "asb.report");
    EXPECT_STATUS(f, 0);
    json_t *lines = json_lines(f);
    assert_int_equal(json_array_size(lines), 3000);
    static json_int_t seqs[3000];
    for (size_t i = 0; i < 3000; i++)
        seqs[i] = json_integer_value(json_object_get(json_array_get(lines, i), "seq"));
    json_decref(lines);
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 0)
            RUN(f, "queue", "tasking", "--json");
        else
            RUN(f, "watch", "tasking", "--consumer", "bridge", "--once", "--json");
        EXPECT_STATUS(f, 0);
        lines = json_lines(f);
        assert_int_equal(json_array_size(lines), 1);
        json_t *a = json_array_get(lines, 0);
        assert_null(json_object_get(a, "evidence_next"));
        assert_null(json_object_get(a, "evidence_total"));
        json_t *ev = json_object_get(a, "evidence");
        assert_int_equal(json_array_size(ev), 3000);
        for (size_t i = 0; i < 3000; i++)
            if (json_integer_value(json_array_get(ev, i)) != seqs[i])
                fail_msg("evidence %zu is %lld, want %lld", i,
                         (long long)json_integer_value(json_array_get(ev, i)),
                         (long long)seqs[i]);
        json_decref(lines);
    }
    RUN(f, "queue", "tasking");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "3000 reports in E01000916");
    EXPECT_IN(f, out, "\n1 alert\n");
}

static void test_watch_once(void **state)
{
    struct fx *f = *state;
    publish_three_asb(f, "w", "V-1");
    RUN(f, "watch", "asb-case-review", "--consumer", "coord", "--once");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "  alert 1  standard  due ");
    EXPECT_IN(f, out, "3 ASB complaints by V-1");
    /* Acknowledged: the same consumer has nothing new. */
    RUN(f, "watch", "asb-case-review", "--consumer", "coord", "--once");
    EXPECT_STATUS(f, 0);
    assert_string_equal(f->r.out.p, "");
    /* Another consumer has its own place. */
    RUN(f, "watch", "asb-case-review", "--consumer", "bridge", "--once", "--json");
    EXPECT_STATUS(f, 0);
    json_t *lines = json_lines(f);
    assert_int_equal(json_array_size(lines), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(lines, 0), "id")), 1);
    json_decref(lines);
    RUN(f, "watch", "no-such-panel", "--consumer", "coord", "--once");
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, err, "csphub: unknown_panel: ");
    /* --from now: a new consumer skips what is on the queue already and
     * gets only the alerts raised after it started. */
    RUN(f, "watch", "asb-case-review", "--consumer", "fresh", "--from", "now", "--once");
    EXPECT_STATUS(f, 0);
    assert_string_equal(f->r.out.p, "");
    publish_three_asb(f, "x", "V-9");
    RUN(f, "watch", "asb-case-review", "--consumer", "fresh", "--once");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "3 ASB complaints by V-9");
    EXPECT_NOT_IN(f, out, "by V-1");
    RUN(f, "watch", "asb-case-review", "--consumer", "fresh", "--from", "yesterday");
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "--from 'yesterday'");
}

static void test_watch_live(void **state)
{
    struct fx *f = *state;
    /* A watcher waiting on an empty queue gets the alert when it is raised,
     * and stops cleanly on Ctrl-C, its alert acknowledged. */
    struct run wr = {0};
    struct proc w;
    char *argv[12];
    int n = 0;
    argv[n++] = (char *)tu_env("CSPH_CLI", "csphub");
    argv[n++] = "--hub";
    argv[n++] = f->hub.endpoint;
    argv[n++] = "watch";
    argv[n++] = "asb-case-review";
    argv[n++] = "--consumer";
    argv[n++] = "live";
    argv[n] = NULL;
    proc_start(&w, &wr, NULL, NULL, argv);
    publish_three_asb(f, "l", "V-1");
    if (proc_wait_out(&w, "alert 1 ", 10000) != 0)
        fail_msg("watch printed no alert\n--- stdout:\n%s--- stderr:\n%s", wr.out.p, wr.err.p);
    kill(w.pid, SIGINT);
    int st = proc_finish(&w, 10000);
    if (st != 0)
        fail_msg("watch exit %d after SIGINT\n--- stderr:\n%s", st, wr.err.p);
    RUN(f, "watch", "asb-case-review", "--consumer", "live", "--once");
    EXPECT_STATUS(f, 0);
    assert_string_equal(f->r.out.p, "");

    /* --count 1: prints one alert, acknowledges only that one. */
    publish_three_asb(f, "m", "V-2");
    argv[6] = "counted";
    argv[7] = "--count";
    argv[8] = "1";
    argv[9] = NULL;
    proc_start(&w, &wr, NULL, NULL, argv);
    st = proc_finish(&w, 15000);
    if (st != 0)
        fail_msg("watch --count 1: exit %d\n--- stdout:\n%s--- stderr:\n%s", st, wr.out.p,
                 wr.err.p);
    assert_non_null(strstr(wr.out.p, "alert 1 "));
    assert_null(strstr(wr.out.p, "alert 2 "));
    RUN(f, "watch", "asb-case-review", "--consumer", "counted", "--once");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "alert 2 ");
    EXPECT_NOT_IN(f, out, "alert 1 ");
    free(wr.out.p);
    free(wr.err.p);
}

static void test_replay(void **state)
{
    struct fx *f = *state;
    char *ev[5] = {asb_event("r-1", "V-1", 5), asb_event("r-2", "V-2", 4),
                   call_event("r-3", "V-1", 3), asb_event("r-4", "V-1", 2),
                   call_event("r-5", "V-2", 1)};
    json_t *want[5];
    for (int i = 0; i < 5; i++)
        want[i] = json_loads(ev[i], 0, NULL);
    /* occurred_at of r-2 and r-4, for --since/--till. */
    char since[40], till[40];
    snprintf(since, sizeof since, "%s", json_string_value(json_object_get(want[1], "occurred_at")));
    snprintf(till, sizeof till, "%s", json_string_value(json_object_get(want[3], "occurred_at")));
    const char *path = write_lines(f, ev[0], ev[1], ev[2], ev[3], ev[4], NULL);
    RUN(f, "publish", path);
    EXPECT_STATUS(f, 0);

    /* Seq 1 is the hub's record of its rules (rules.loaded); r-1..r-5 are
     * seqs 2-6. */
    struct {
        const char *args[6];
        int seqs[7]; /* expected seqs, 0-terminated */
    } cases[] = {
        {{NULL}, {1, 2, 3, 4, 5, 6}},
        {{"--types", "call"}, {4, 6}},
        {{"--types", "asb.report,call", "--person", "V-2"}, {3, 6}},
        {{"--person", "V-1"}, {2, 4, 5}},
        {{"--types", "asb.report", "--max", "2", "--page", "1"}, {2, 3}},
        {{"--after", "3", "--until", "5"}, {4, 5}},
        {{"--since", since, "--till", till}, {3, 4}},
        {{"--page", "2"}, {1, 2, 3, 4, 5, 6}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        const char *const *a = cases[k].args;
        runv(f, NULL, NULL, f->hub.endpoint, "replay", a[0], a[1], a[2], a[3], a[4], a[5], NULL);
        EXPECT_STATUS(f, 0);
        json_t *lines = json_lines(f);
        size_t n = 0;
        while (cases[k].seqs[n])
            n++;
        if (json_array_size(lines) != n)
            fail_msg("case %zu: %zu lines, want %zu:\n%s", k, json_array_size(lines), n,
                     f->r.out.p);
        for (size_t i = 0; i < n; i++) {
            json_t *l = json_array_get(lines, i);
            int seq = cases[k].seqs[i];
            assert_int_equal(json_integer_value(json_object_get(l, "seq")), seq);
            assert_true(json_is_string(json_object_get(l, "received_at")));
            if (seq == 1) {
                assert_string_equal(
                    json_string_value(json_object_get(json_object_get(l, "event"), "type")),
                    "rules.loaded");
                continue;
            }
            /* The event exactly as published. */
            if (!json_equal(json_object_get(l, "event"), want[seq - 2]))
                fail_msg("case %zu: seq %d is not the event published:\n%s", k, seq, f->r.out.p);
        }
        json_decref(lines);
    }
    for (int i = 0; i < 5; i++)
        json_decref(want[i]);
}

static void test_stats_and_rejects(void **state)
{
    struct fx *f = *state;
    char *bad = asb_event("bad-1", "V-9", 1);
    strstr(bad, "E01000916")[0] = 'X';
    const char *path = write_lines(f, asb_event("s-1", "V-1", 3), asb_event("s-2", "V-1", 2),
                                   bad, NULL);
    RUN(f, "publish", path);
    EXPECT_STATUS(f, 3);

    RUN(f, "stats");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "  accepted                 2\n");
    EXPECT_IN(f, out, "rejected, by error code\n  bad_event                1\n");
    EXPECT_IN(f, out, "alerts, by panel\n");
    RUN(f, "stats", "--json");
    EXPECT_STATUS(f, 0);
    json_t *j = json_loads(f->r.out.p, 0, NULL);
    json_t *counters = json_object_get(j, "counters");
    assert_int_equal(json_integer_value(json_object_get(counters, "accepted")), 2);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(counters, "rejected"), "bad_event")), 1);
    json_decref(j);

    RUN(f, "rejects");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "reject 1  ");
    EXPECT_IN(f, out, "from police");
    EXPECT_IN(f, out, "  bad_event: ");
    EXPECT_IN(f, out, "(field location.lsoa)");
    EXPECT_IN(f, out, "  event: {\"id\":\"bad-1\",\"type\":\"asb.report\"");
    EXPECT_IN(f, out, "\n1 rejection\n");

    RUN(f, "rejects", "--json");
    EXPECT_STATUS(f, 0);
    json_t *lines = json_lines(f);
    assert_int_equal(json_array_size(lines), 1);
    json_t *r = json_array_get(lines, 0);
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 1);
    assert_string_equal(json_string_value(json_object_get(r, "source")), "police");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "field")),
                        "location.lsoa");
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "event"), "id")),
                        "bad-1");
    json_decref(lines);

    RUN(f, "rejects", "--after", "1");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "no rejections kept after 1");
}

/* rejects says how many older rejections the bound per source dropped,
 * and whose. */
static void test_rejects_dropped(void **state)
{
    struct fx *f = *state;
    char path[700], data[700];
    snprintf(path, sizeof path, "%s/hub.yaml", f->tmp);
    FILE *o = fopen(path, "w");
    assert_non_null(o);
    fputs("rules_file: none\nlimits:\n  rejects_per_source_max: 2\n", o);
    fclose(o);
    snprintf(data, sizeof data, "%s/data", f->tmp);
    assert_int_equal(tu_hub_start(&f->hub, data, "--config", path, NULL), 0);
    char *bad[4];
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "bad-%d", i);
        bad[i] = asb_event(id, "V-9", 1);
        strstr(bad[i], "E01000916")[0] = 'X';
    }
    const char *lines = write_lines(f, bad[0], bad[1], bad[2], bad[3], NULL);
    RUN(f, "publish", lines);
    EXPECT_STATUS(f, 3);
    RUN(f, "rejects");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "reject 3  ");
    EXPECT_IN(f, out, "reject 4  ");
    EXPECT_IN(f, out, "\n2 rejections\n2 older rejections dropped by the bound per source: "
                      "police 2\n");
}

/* Start csphubd with a config file; wait until ping with the auditor's
 * key answers (each try bounded by its own --timeout). */
static pid_t start_curve_hub(struct fx *f, const char *cfg, const char *data, const char *endpoint,
                             const char *log, const char *key, const char *server_key)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        dup2(fd, 2);
        const char *hubd = tu_env("CSPH_HUBD", "csphubd");
        execl(hubd, hubd, "--config", cfg, "--data", data, "--listen", endpoint, (char *)NULL);
        _exit(127);
    }
    int64_t deadline = tu_now_ms() + 20000;
    while (tu_now_ms() < deadline) {
        runv(f, NULL, NULL, endpoint, "--timeout", "300ms", "--key", key, "--server-key",
             server_key, "ping", NULL);
        if (f->r.status == 0)
            return pid;
        if (waitpid(pid, NULL, WNOHANG) == pid)
            break;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    fail_msg("the curve hub did not answer; see %s", log);
    return -1;
}

static void stop_hub(pid_t pid)
{
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
    kill(pid, SIGTERM);
    struct pollfd p = {pfd, POLLIN, 0};
    int status = 0;
    if (pfd < 0 || poll(&p, 1, 20000) != 1)
        kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    if (pfd >= 0)
        close(pfd);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_curve(void **state)
{
    struct fx *f = *state;
    char dir[700], path[800];
    snprintf(dir, sizeof dir, "%s/keys", f->tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    static const char *const names[] = {"hub", "police", "marac-coord", "auditor"};
    char hub_public[41] = "";
    for (size_t i = 0; i < 4; i++) {
        runv(f, NULL, NULL, NULL, "keygen", names[i], "--dir", dir, "--json", NULL);
        EXPECT_STATUS(f, 0);
        json_t *j = json_loads(f->r.out.p, 0, NULL);
        assert_non_null(j);
        assert_int_equal(strlen(json_string_value(json_object_get(j, "public"))), 40);
        if (i == 0)
            memcpy(hub_public, json_string_value(json_object_get(j, "public")), 41);
        json_decref(j);
        struct stat st;
        snprintf(path, sizeof path, "%s/%s.key", dir, names[i]);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
    runv(f, NULL, NULL, NULL, "keygen", "police", "--dir", dir, NULL);
    EXPECT_STATUS(f, 1);
    EXPECT_IN(f, err, "never overwritten");
    runv(f, NULL, NULL, NULL, "keygen", "not a name", "--dir", dir, NULL);
    EXPECT_STATUS(f, 2);

    char ids[800], cfg[800], data[800], log[800], endpoint[64];
    snprintf(ids, sizeof ids, "%s/identities.yaml", dir);
    FILE *o = fopen(ids, "w");
    assert_non_null(o);
    fprintf(o, "clients:\n"
               "  - {name: police, role: agency, key_file: police.pub, types: [asb.report]}\n"
               "  - {name: marac-coord, role: panel, key_file: marac-coord.pub, panels: [marac]}\n"
               "  - {name: auditor, role: auditor, key_file: auditor.pub}\n");
    fclose(o);
    chmod(ids, 0644); /* whatever the umask: the hub refuses one others can write */
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", dir);
    o = fopen(cfg, "w");
    assert_non_null(o);
    fprintf(o, "security: curve\nidentities_file: %s\nserver_key_file: %s/hub.key\n", ids, dir);
    fclose(o);
    snprintf(data, sizeof data, "%s/data", f->tmp);
    snprintf(log, sizeof log, "%s/hub.log", f->tmp);
    snprintf(endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", tu_free_port());
    char police[800], coord[800], auditor[800], hub_pub[800];
    snprintf(police, sizeof police, "%s/police.key", dir);
    snprintf(coord, sizeof coord, "%s/marac-coord.key", dir);
    snprintf(auditor, sizeof auditor, "%s/auditor.key", dir);
    snprintf(hub_pub, sizeof hub_pub, "%s/hub.pub", dir);
    pid_t hub = start_curve_hub(f, cfg, data, endpoint, log, auditor, hub_pub);

    /* Without keys the handshake never completes: no answer, with a hint. */
    runv(f, NULL, NULL, endpoint, "--timeout", "300ms", "ping", NULL);
    EXPECT_STATUS(f, 1);
    EXPECT_IN(f, err, "needs --key and --server-key");

    /* An agency publishes its own types only; source comes from its key. */
    char da[300];
    snprintf(da, sizeof da,
             "{\"id\":\"c-4\",\"type\":\"da.incident\",\"occurred_at\":\"2025-03-01T00:00:00Z\","
             "\"victim\":\"V-2\",\"dash_score\":15}");
    char *e1 = asb_event("c-1", "V-1", 3), *e2 = asb_event("c-2", "V-1", 2),
         *e3 = asb_event("c-3", "V-1", 1);
    const char *events = write_lines(f, e1, e2, e3, da, NULL);
    runv(f, NULL, NULL, endpoint, "--key", police, "--server-key", hub_public, "publish", events,
         NULL);
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, out, "accepted   3");
    EXPECT_IN(f, out, "line 4: forbidden: ");

    /* A MARAC coordinator sees MARAC only. */
    runv(f, NULL, NULL, endpoint, "--key", coord, "--server-key", hub_pub, "queue",
         "asb-case-review", NULL);
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, err, "csphub: forbidden: ");
    EXPECT_IN(f, err, "(field panel)");
    runv(f, NULL, NULL, endpoint, "--key", coord, "--server-key", hub_pub, "queue", "marac",
         NULL);
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "no alerts on marac");

    /* An auditor reads the log but records no decisions. */
    char env_key[900], env_server[900];
    snprintf(env_key, sizeof env_key, "CSPHUB_KEY=%s", auditor);
    snprintf(env_server, sizeof env_server, "CSPHUB_SERVER_KEY=%s", hub_pub);
    const char *env[] = {env_key, env_server, NULL};
    runv(f, NULL, env, endpoint, "replay", "--types", "asb.report", NULL);
    EXPECT_STATUS(f, 0);
    json_t *lines = json_lines(f);
    assert_int_equal(json_array_size(lines), 3);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(lines, 0), "event"),
                                          "source")),
        "police");
    json_decref(lines);
    runv(f, NULL, env, endpoint, "alert", "1", "accept", NULL);
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, err, "csphub: forbidden: ");

    /* Key mistakes are usage errors, found before connecting. */
    runv(f, NULL, NULL, endpoint, "--key", hub_pub, "--server-key", hub_pub, "ping", NULL);
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "not the .pub");
    runv(f, NULL, NULL, endpoint, "--key", police, "ping", NULL);
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "CURVE needs both");
    assert_int_equal(chmod(police, 0644), 0);
    runv(f, NULL, NULL, endpoint, "--key", police, "--server-key", hub_pub, "ping", NULL);
    EXPECT_STATUS(f, 2);
    EXPECT_IN(f, err, "chmod 600");
    stop_hub(hub);
}

/* case, action, meeting: a panel's work after the alert, against a hub that
 * knows its agencies (security none: the config's agencies: list). */
static void test_case_action_meeting(void **state)
{
    struct fx *f = *state;
    char cfg[700], data[700], date[16];
    snprintf(cfg, sizeof cfg, "%s/panel.yaml", f->tmp);
    snprintf(data, sizeof data, "%s/data", f->tmp);
    FILE *out = fopen(cfg, "w");
    assert_non_null(out);
    fprintf(out, "agencies: [police, council, idva]\n");
    fclose(out);
    if (tu_hub_start(&f->hub, data, "--config", cfg, NULL) != 0)
        fail_msg("the hub did not start");
    publish_three_asb(f, "p", "V-1");
    RUN(f, "alert", "1", "accept");
    EXPECT_STATUS(f, 0);
    RUN(f, "case", "list", "asb-case-review");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "open cases on asb-case-review: 1");
    EXPECT_IN(f, out, "V-1 ");
    RUN(f, "action", "create", "asb-case-review", "V-1", "--what", "Visit the victim", "--owner",
        "police", "--due-days", "3");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "action 1 recorded (seq ");
    RUN(f, "action", "create", "asb-case-review", "V-1", "--what", "Visit", "--owner", "nobody",
        "--due-days", "3");
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, err, "(field owner)");
    RUN(f, "action", "create", "asb-case-review", "V-1", "--what", "Visit", "--owner", "police",
        "--due-days", "soon");
    EXPECT_STATUS(f, 2);
    RUN(f, "action", "list", "asb-case-review");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "actions: 1");
    EXPECT_IN(f, out, "Visit the victim");
    /* The ASB Case Review meets ad hoc: an agenda needs its date. */
    RUN(f, "meeting", "agenda", "asb-case-review");
    EXPECT_STATUS(f, 3);
    EXPECT_IN(f, err, "(field meeting)");
    time_t t = time(NULL) + 7 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(date, sizeof date, "%Y-%m-%d", &tm);
    RUN(f, "meeting", "agenda", "asb-case-review", "--date", date, "--issue");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "new cases: 1");
    EXPECT_IN(f, out, "incomplete actions: 1");
    EXPECT_IN(f, out, "issued to the log");
    RUN(f, "meeting", "hear", "asb-case-review", "V-1", "--attend", "police,council",
        "--minutes", "Recommendations agreed");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "hearing recorded (seq ");
    RUN(f, "action", "update", "asb-case-review", "1", "--status", "done");
    EXPECT_STATUS(f, 0);
    RUN(f, "case", "close", "asb-case-review", "V-1", "--outcome", "recommendations-made");
    EXPECT_STATUS(f, 0);
    RUN(f, "case", "list", "asb-case-review", "--status", "closed", "--json");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "\"outcome\":\"recommendations-made\"");
    RUN(f, "case", "show", "asb-case-review", "V-1");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "closed");
    EXPECT_IN(f, out, "done");
    RUN(f, "case", "frobnicate", "x");
    EXPECT_STATUS(f, 2);
    RUN(f, "meeting", "--help");
    EXPECT_STATUS(f, 0);
    EXPECT_IN(f, out, "agenda PANEL");
}

int main(void)
{
    if (!getenv("CSPH_CLI")) {
        fprintf(stderr, "test_cli: CSPH_CLI is not set (the csphub command was not built); "
                        "nothing to test\n");
        return 0;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_usage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_down, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_and_alert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_filters_and_alert_show, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_cut_evidence, setup_nohub, teardown),
        cmocka_unit_test_setup_teardown(test_watch_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_watch_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_and_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects_dropped, setup_nohub, teardown),
        cmocka_unit_test_setup_teardown(test_curve, setup_nohub, teardown),
        cmocka_unit_test_setup_teardown(test_case_action_meeting, setup_nohub, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
