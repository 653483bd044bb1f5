/* test_adapters: csphub-csv and csphub-jsonl (adapters/) run as the
 * programs they are against the real csphubd on a fresh data directory:
 * the real police files (both shapes, twice, the City of London's rows
 * without a location), resume after SIGKILL and after Ctrl-C, broken CSV
 * (ragged rows, bad quotes, bad encoding, empty and header-only files),
 * mapping errors, an unreachable hub, and JSON lines from a file and from
 * stdin. The adapters print their summary as JSON (--json) for these
 * checks. No sleeps: children are waited on through pidfds, the state file
 * through inotify, the hub through requests, each with a deadline. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define NORTHUMBRIA_ROWS 39706
#define COL_ROWS 9298
#define COL_NO_LOCATION 797

/* The log-only hub and its client (testutil.h), and the files a test
 * wrote. */
struct fx {
    struct tu_logonly_fx lo;
    char *paths[64]; /* files written by the test, freed in teardown */
    int npaths;
};

/* ---- fixtures --------------------------------------------------------- */

static const char *csv_bin(void)
{
    return getenv("CSPH_CSV");
}

static const char *jsonl_bin(void)
{
    return getenv("CSPH_JSONL");
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    /* no rules: the log holds only what the adapters send */
    if (!f || tu_logonly_open(&f->lo, "adapters") != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < f->npaths; i++)
        free(f->paths[i]);
    int rc = tu_logonly_close(&f->lo);
    free(f);
    return rc;
}

/* Skip when the adapters were not built (no client library yet). */
static void need_adapters(void)
{
    if (!csv_bin() || !jsonl_bin()) {
        print_message("CSPH_CSV / CSPH_JSONL are not set: the adapters were not built "
                      "(adapters/ needs the client library); skipping\n");
        skip();
    }
}

/* The path of a shared police file; skips the test when it is absent. */
static const char *police_file(const char *name)
{
    static char path[1024];
    const char *dir = tu_env("CSPH_SHARED_DATA", "../shared/data");
    snprintf(path, sizeof path, "%s/police-uk/%s", dir, name);
    if (access(path, R_OK) != 0) {
        print_message("%s has no police-uk/%s: skipping the test on the real police files "
                      "(set CSPH_SHARED_DATA to the shared data folder)\n",
                      dir, name);
        skip();
    }
    return path;
}

static const char *shipped_mapping(const char *name)
{
    static char path[2][1024];
    static int next;
    char *p = path[next++ % 2];
    snprintf(p, sizeof path[0], "%s/adapters/csv/mappings/%s", tu_env("CSPH_SOURCE_DIR", "."),
             name);
    return p;
}

/* Write a file under the fixture's directory; returns its path (valid
 * until teardown). */
static const char *write_file(struct fx *f, const char *name, const char *content, size_t len)
{
    char *p;
    assert_true(f->npaths < 64);
    assert_true(asprintf(&p, "%s/%s", f->lo.tmp, name) > 0);
    f->paths[f->npaths++] = p;
    FILE *fp = fopen(p, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(content, 1, len, fp), len);
    fclose(fp);
    return p;
}

static const char *write_text(struct fx *f, const char *name, const char *text)
{
    return write_file(f, name, text, strlen(text));
}

/* ---- running the adapters -------------------------------------------- */

struct proc {
    pid_t pid;
    int pidfd;
    int in; /* the write end of its stdin, or -1 */
    char out[700], err[700];
};

struct res {
    int status; /* exit status, 128+signal, or -1 on timeout */
    char *out, *err;
    json_t *j; /* the --json summary, when stdout holds one */
};

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return strdup("");
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, fp);
    b[got] = 0;
    fclose(fp);
    return b;
}

/* Start prog with the NULL-terminated arguments, in the fixture's
 * directory (so a default state file lands there), its stdout and stderr
 * into files, its stdin a pipe (stdin_pipe) or /dev/null. */
static void spawn_v(struct fx *f, struct proc *p, int stdin_pipe, const char *prog, va_list ap)
{
    static int seq;
    const char *argv[64];
    int n = 0;
    argv[n++] = prog;
    const char *a;
    while ((a = va_arg(ap, const char *)) && n < 62)
        argv[n++] = a;
    argv[n] = NULL;
    seq++;
    snprintf(p->out, sizeof p->out, "%s/run%d.out", f->lo.tmp, seq);
    snprintf(p->err, sizeof p->err, "%s/run%d.err", f->lo.tmp, seq);
    int pipefd[2] = {-1, -1};
    if (stdin_pipe)
        assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (chdir(f->lo.tmp) != 0)
            _exit(126);
        int o = open(p->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int e = open(p->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int i = stdin_pipe ? pipefd[0] : open("/dev/null", O_RDONLY);
        dup2(o, 1);
        dup2(e, 2);
        dup2(i, 0);
        execv(prog, (char *const *)argv);
        _exit(127);
    }
    if (stdin_pipe)
        close(pipefd[0]);
    p->in = pipefd[1];
    p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
    assert_true(p->pidfd >= 0);
}

static void spawn(struct fx *f, struct proc *p, int stdin_pipe, const char *prog, ...)
{
    va_list ap;
    va_start(ap, prog);
    spawn_v(f, p, stdin_pipe, prog, ap);
    va_end(ap);
}

/* Wait (up to timeout_ms) for the child to exit; a child still running
 * then is killed and the result's status is -1. */
static struct res reap(struct proc *p, int timeout_ms)
{
    struct res r = {0};
    if (p->in >= 0) {
        close(p->in);
        p->in = -1;
    }
    struct pollfd pf = {p->pidfd, POLLIN, 0};
    int status;
    if (poll(&pf, 1, timeout_ms) != 1) {
        kill(p->pid, SIGKILL);
        waitpid(p->pid, &status, 0);
        r.status = -1;
    } else {
        waitpid(p->pid, &status, 0);
        r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    close(p->pidfd);
    r.out = slurp(p->out);
    r.err = slurp(p->err);
    if (r.out[0] == '{')
        r.j = json_loads(r.out, 0, NULL);
    if (r.status == -1)
        print_message("the adapter did not finish within %d ms; stderr:\n%s\n", timeout_ms, r.err);
    return r;
}

/* Run to completion (60 s at most). */
static struct res run(struct fx *f, const char *prog, ...)
{
    struct proc p;
    va_list ap;
    va_start(ap, prog);
    spawn_v(f, &p, 0, prog, ap);
    va_end(ap);
    return reap(&p, 60000);
}

static void res_free(struct res *r)
{
    free(r->out);
    free(r->err);
    json_decref(r->j);
    memset(r, 0, sizeof *r);
}

static int64_t jint(const struct res *r, const char *key)
{
    if (!r->j) {
        print_message("no JSON summary; stdout:\n%s\nstderr:\n%s\n", r->out, r->err);
        fail();
    }
    json_t *v = json_object_get(r->j, key);
    if (!json_is_integer(v))
        fail_msg("the summary has no integer '%s':\n%s", key, r->out);
    return json_integer_value(v);
}

static void expect_status(const struct res *r, int want)
{
    if (r->status != want)
        fail_msg("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r->status, want, r->out,
                 r->err);
}

/* The count of the summary's rejected_by_reason entry with this code and
 * field whose message contains `text`; 0 when there is none. */
static int64_t reason_count(const struct res *r, const char *code, const char *field,
                            const char *text)
{
    json_t *a = json_object_get(r->j, "rejected_by_reason"), *e;
    size_t i;
    json_array_foreach (a, i, e) {
        const char *c = json_string_value(json_object_get(e, "code"));
        const char *fl = json_string_value(json_object_get(e, "field"));
        const char *m = json_string_value(json_object_get(e, "message"));
        if (c && !strcmp(c, code) && fl && !strcmp(fl, field) && m && strstr(m, text))
            return json_integer_value(json_object_get(e, "count"));
    }
    return 0;
}

/* The first_rejected entry for a record number, or NULL. */
static json_t *rejected_row(const struct res *r, const char *unit, int64_t rec)
{
    json_t *a = json_object_get(r->j, "first_rejected"), *e;
    size_t i;
    json_array_foreach (a, i, e) {
        if (json_integer_value(json_object_get(e, unit)) == rec)
            return e;
    }
    return NULL;
}

/* ---- the state file --------------------------------------------------- */

/* How many records the state file says are acknowledged (0 when there is
 * no state file yet). */
static uint64_t state_acked(const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp)
        return 0;
    char *line = NULL;
    size_t cap = 0;
    uint64_t n = 0;
    while (getline(&line, &cap, fp) > 0) {
        if (!strncmp(line, "done ", 5)) {
            n += strtoull(line + 5, NULL, 10);
        } else if (!strncmp(line, "acked", 5)) {
            char *p = line + 5, *end;
            for (;;) {
                uint64_t a = strtoull(p, &end, 10), b;
                if (end == p)
                    break;
                p = end;
                b = a;
                if (*p == '-') {
                    b = strtoull(p + 1, &end, 10);
                    p = end;
                }
                n += b - a + 1;
            }
        }
    }
    free(line);
    fclose(fp);
    return n;
}

/* Wait until the state file at path (written by the child p by rename)
 * shows at least min acknowledged records; returns that count. Fails when
 * the child exits first or the deadline passes. */
static uint64_t wait_state(struct fx *f, struct proc *p, const char *path, uint64_t min,
                           int timeout_ms)
{
    int in = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    assert_true(in >= 0);
    assert_true(inotify_add_watch(in, f->lo.tmp, IN_MOVED_TO | IN_CLOSE_WRITE) >= 0);
    int64_t deadline = tu_now_ms() + timeout_ms;
    uint64_t n;
    while ((n = state_acked(path)) < min) {
        int64_t left = deadline - tu_now_ms();
        if (left <= 0)
            fail_msg("the state file %s showed %" PRIu64 " acknowledged rows, not %" PRIu64
                     ", within %d ms",
                     path, n, min, timeout_ms);
        struct pollfd pf[2] = {{in, POLLIN, 0}, {p->pidfd, POLLIN, 0}};
        poll(pf, 2, (int)left);
        if (pf[1].revents & POLLIN)
            fail_msg("the adapter exited before its state showed %" PRIu64 " rows", min);
        char buf[4096];
        while (read(in, buf, sizeof buf) > 0)
            ;
    }
    close(in);
    return n;
}

/* ---- the hub's side --------------------------------------------------- */

/* Replay the whole log; check that the ids <prefix>-1 .. <prefix>-n are
 * each there exactly once. Returns the number of events in the log. */
static uint64_t check_log_rows(struct fx *f, const char *prefix, uint64_t n)
{
    uint32_t *seen = calloc(n + 1, sizeof *seen);
    uint64_t after = 0, total = 0;
    size_t plen = strlen(prefix);
    for (;;) {
        msgpack_object r =
            tu_call(&f->lo.c, "{\"op\":\"replay\",\"after\":%" PRIu64 ",\"max\":5000}", after);
        assert_int_equal(tu_bool(&r, "ok"), 1);
        const msgpack_object *ev = tu_get(&r, "events");
        assert_non_null(ev);
        for (uint32_t i = 0; i < ev->via.array.size; i++) {
            const char *id = tu_str(&ev->via.array.ptr[i], "event.id");
            assert_non_null(id);
            total++;
            if (strncmp(id, prefix, plen) == 0 && id[plen] == '-') {
                uint64_t row = strtoull(id + plen + 1, NULL, 10);
                assert_true(row >= 1 && row <= n);
                seen[row]++;
            }
        }
        after = (uint64_t)tu_int(&r, "next");
        if (tu_bool(&r, "end") == 1)
            break;
    }
    for (uint64_t row = 1; row <= n; row++)
        if (seen[row] != 1)
            fail_msg("%s-%" PRIu64 " is in the log %u times, want once", prefix, row, seen[row]);
    free(seen);
    return total;
}

static int64_t last_seq(struct fx *f)
{
    msgpack_object r = tu_call(&f->lo.c, "{\"op\":\"ping\"}");
    return tu_int(&r, "last_seq");
}

/* The hub's kept rejections: how many, and how many have this source and
 * an error whose field ends in `field` and whose message contains text. */
static void count_rejects(struct fx *f, const char *source, const char *field, const char *text,
                          uint64_t *all, uint64_t *matching)
{
    uint64_t after = 0;
    *all = *matching = 0;
    for (;;) {
        msgpack_object r =
            tu_call(&f->lo.c, "{\"op\":\"rejects\",\"after\":%" PRIu64 ",\"max\":1000}", after);
        assert_int_equal(tu_bool(&r, "ok"), 1);
        const msgpack_object *a = tu_get(&r, "rejects");
        assert_non_null(a);
        for (uint32_t i = 0; i < a->via.array.size; i++) {
            const msgpack_object *e = &a->via.array.ptr[i];
            (*all)++;
            const char *src = tu_str(e, "source"), *fl = tu_str(e, "error.field"),
                       *msg = tu_str(e, "error.message");
            size_t fn = fl ? strlen(fl) : 0, wn = strlen(field);
            if (src && !strcmp(src, source) && fl && fn >= wn && !strcmp(fl + fn - wn, field) &&
                msg && strstr(msg, text))
                (*matching)++;
        }
        after = (uint64_t)tu_int(&r, "next");
        if (tu_bool(&r, "end") == 1 || a->via.array.size == 0)
            break;
    }
}

/* ---- the real police files ------------------------------------------ */

static void northumbria_twice(void **state)
{
    struct fx *f = *state;
    need_adapters();
    const char *tsv = police_file("northumbria-asb-2022.tsv");
    const char *map = shipped_mapping("northumbria-asb.yaml");

    struct res r = run(f, csv_bin(), "--mapping", map, "--hub", f->lo.hub.endpoint, "--window", "500",
                       "--batch", "100", "--json", tsv, NULL);
    expect_status(&r, 0);
    assert_int_equal(jint(&r, "read"), NORTHUMBRIA_ROWS);
    assert_int_equal(jint(&r, "sent"), NORTHUMBRIA_ROWS);
    assert_int_equal(jint(&r, "accepted"), NORTHUMBRIA_ROWS);
    assert_int_equal(jint(&r, "duplicate"), 0);
    assert_int_equal(jint(&r, "rejected"), 0);
    assert_int_equal(jint(&r, "skipped"), 0);
    print_message("northumbria import: %" PRId64 " rows in %.2f s (%.0f rows/s)\n",
                  jint(&r, "read"), json_real_value(json_object_get(r.j, "seconds")),
                  json_number_value(json_object_get(r.j, "per_second")));
    res_free(&r);
    assert_int_equal(last_seq(f), NORTHUMBRIA_ROWS);
    /* A complete import leaves no state behind. */
    char st[800];
    snprintf(st, sizeof st, "%s/northumbria-asb-2022.tsv.state", f->lo.tmp);
    assert_int_not_equal(access(st, F_OK), 0);

    /* The same file again: every row is recognised, nothing is appended. */
    r = run(f, csv_bin(), "--mapping", map, "--hub", f->lo.hub.endpoint, "--window", "500", "--batch",
            "100", "--json", tsv, NULL);
    expect_status(&r, 0);
    assert_int_equal(jint(&r, "accepted"), 0);
    assert_int_equal(jint(&r, "duplicate"), NORTHUMBRIA_ROWS);
    assert_int_equal(jint(&r, "rejected"), 0);
    res_free(&r);
    assert_int_equal(last_seq(f), NORTHUMBRIA_ROWS);
    check_log_rows(f, "northumbria-asb-2022", NORTHUMBRIA_ROWS);

    /* One event as the hub keeps it: the mapping's fields and no others. */
    msgpack_object e = tu_call(&f->lo.c, "{\"op\":\"replay\",\"max\":1}");
    assert_string_equal(tu_str(&e, "events.0.event.id"), "northumbria-asb-2022-1");
    assert_string_equal(tu_str(&e, "events.0.event.type"), "asb.report");
    assert_string_equal(tu_str(&e, "events.0.event.source"), "police-northumbria");
    assert_string_equal(tu_str(&e, "events.0.event.occurred_at"), "2022-01-01T00:00:00Z");
    assert_string_equal(tu_str(&e, "events.0.event.category"), "nuisance");
    assert_string_equal(tu_str(&e, "events.0.event.location.lsoa"), "E01027377");
    assert_string_equal(tu_str(&e, "events.0.event.location.description"), "Palace Green");
    const msgpack_object *lat = tu_get(&e, "events.0.event.location.lat");
    assert_non_null(lat);
    assert_int_equal(lat->type, MSGPACK_OBJECT_FLOAT64);
    assert_true(lat->via.f64 > 55.766 && lat->via.f64 < 55.767);
}

static void city_of_london_no_location(void **state)
{
    struct fx *f = *state;
    need_adapters();
    const char *csv = police_file("city-of-london-2023-street.csv");

    /* The shipped mapping: ASB and violence are sent, 12 crime types are
     * skipped and counted; the ASB rows with "No Location" are rejected by
     * the hub (asb.report requires a location), the violence ones without
     * a location are accepted (their schema makes it optional). */
    struct res r = run(f, csv_bin(), "--mapping", shipped_mapping("city-of-london-street.yaml"),
                       "--hub", f->lo.hub.endpoint, "--json", csv, NULL);
    expect_status(&r, 3);
    assert_int_equal(jint(&r, "read"), COL_ROWS);
    assert_int_equal(jint(&r, "skipped"), COL_ROWS - 377 - 1630);
    assert_int_equal(jint(&r, "sent"), 377 + 1630);
    assert_int_equal(jint(&r, "rejected"), 21);
    assert_int_equal(jint(&r, "accepted"), 377 + 1630 - 21);
    assert_int_equal(reason_count(&r, "bad_event", "location", "missing required field 'location'"),
                     21);
    /* skipped by crime type, with the counts */
    json_t *sk = json_object_get(r.j, "skipped_by_reason"), *e;
    size_t i;
    int found = 0;
    json_array_foreach (sk, i, e) {
        const char *why = json_string_value(json_object_get(e, "reason"));
        if (strstr(why, "'Other theft'")) {
            assert_int_equal(json_integer_value(json_object_get(e, "count")), 2206);
            found = 1;
        }
    }
    assert_true(found);
    res_free(&r);
    uint64_t all, matching;
    count_rejects(f, "police-city-of-london", "location", "missing required field 'location'", &all,
                  &matching);
    assert_int_equal(all, 21);
    assert_int_equal(matching, 21);

    /* Every row as an asb.report (a test mapping, not an honest one: it
     * exists to send all 797 "No Location" rows): each is rejected with the
     * same clear reason, and the hub keeps each rejection. */
    const char *all_map = write_text(f, "all-as-asb.yaml",
                                     "csv: {delimiter: ';', quote: '\"'}\n"
                                     "id: {scheme: row, prefix: col-all}\n"
                                     "constants: {type: asb.report, source: test-col-all, "
                                     "category: nuisance}\n"
                                     "fields:\n"
                                     "  occurred_at: {column: month, convert: month}\n"
                                     "  location.lat: {column: latitude, convert: number}\n"
                                     "  location.lon: {column: longitude, convert: number}\n"
                                     "  location.lsoa: lsoa_code\n"
                                     "  location.description: {column: location, empty: "
                                     "[No Location]}\n");
    r = run(f, csv_bin(), "--mapping", all_map, "--hub", f->lo.hub.endpoint, "--json", "--show", "3",
            csv, NULL);
    expect_status(&r, 3);
    assert_int_equal(jint(&r, "read"), COL_ROWS);
    assert_int_equal(jint(&r, "sent"), COL_ROWS);
    assert_int_equal(jint(&r, "rejected"), COL_NO_LOCATION);
    assert_int_equal(jint(&r, "accepted"), COL_ROWS - COL_NO_LOCATION);
    assert_int_equal(reason_count(&r, "bad_event", "location", "missing required field 'location'"),
                     COL_NO_LOCATION);
    assert_int_equal(json_array_size(json_object_get(r.j, "rejected_by_reason")), 1);
    /* The first "No Location" row is row 752 (its republisher id is 752). */
    assert_non_null(rejected_row(&r, "row", 752));
    res_free(&r);
    count_rejects(f, "test-col-all", "location", "missing required field 'location'", &all,
                  &matching);
    assert_int_equal(all, 21 + COL_NO_LOCATION);
    assert_int_equal(matching, COL_NO_LOCATION);

    /* The text summary says the same for a person. */
    r = run(f, csv_bin(), "--mapping", shipped_mapping("city-of-london-street.yaml"), "--hub",
            f->lo.hub.endpoint, csv, NULL);
    expect_status(&r, 3);
    assert_non_null(strstr(r.out, "rejected by reason:"));
    assert_non_null(strstr(r.out, "bad_event location: missing required field 'location'"));
    assert_non_null(strstr(r.out, "first rejected rows:"));
    assert_non_null(strstr(r.out, "crime_type 'Shoplifting' is not in the map for type"));
    res_free(&r);
}

/* SIGKILL mid-file, then resume: no row lost, none twice in the log, and
 * the rerun sends none of the rows the state has acknowledged. */
static void resume_after_kill(void **state)
{
    struct fx *f = *state;
    need_adapters();
    const char *tsv = police_file("northumbria-asb-2022.tsv");
    const char *map = shipped_mapping("northumbria-asb.yaml");
    char st[800];
    snprintf(st, sizeof st, "%s/import.state", f->lo.tmp);

    /* Slow on purpose (2 requests of 10 in flight), so that it is still
     * mid-file when killed. */
    struct proc p;
    spawn(f, &p, 0, csv_bin(), "--mapping", map, "--hub", f->lo.hub.endpoint, "--state", st,
          "--window", "2", "--batch", "10", "--save-every", "500", "--json", tsv, NULL);
    uint64_t seen = wait_state(f, &p, st, 2000, 30000);
    kill(p.pid, SIGKILL);
    struct res r = reap(&p, 10000);
    assert_int_equal(r.status, 128 + SIGKILL);
    res_free(&r);
    uint64_t acked = state_acked(st);
    assert_true(acked >= seen);
    assert_true(acked < NORTHUMBRIA_ROWS);
    /* The state lags the hub: what was answered after the last save (at
     * most 500 rows) and what was in flight (at most 20). The hub may still
     * be committing the killed adapter's last requests when this reads
     * last_seq (another client's read does not wait for them), so in_log
     * is a lower bound of what the first run left in the log. */
    int64_t in_log = last_seq(f);
    assert_true((uint64_t)in_log >= acked);
    assert_true((uint64_t)in_log <= acked + 500 + 20);

    r = run(f, csv_bin(), "--mapping", map, "--hub", f->lo.hub.endpoint, "--state", st, "--window",
            "500", "--batch", "100", "--json", tsv, NULL);
    expect_status(&r, 0);
    assert_int_equal(jint(&r, "read"), NORTHUMBRIA_ROWS);
    assert_int_equal(jint(&r, "already_done"), (int64_t)acked);
    /* Not one acknowledged row sent again: */
    assert_int_equal(jint(&r, "sent"), NORTHUMBRIA_ROWS - (int64_t)acked);
    /* the unacknowledged rows the hub already had come back duplicate: */
    int64_t dup = jint(&r, "duplicate");
    assert_true(dup >= in_log - (int64_t)acked);
    assert_true(dup <= 500 + 20);
    assert_int_equal(jint(&r, "accepted"), NORTHUMBRIA_ROWS - (int64_t)acked - dup);
    assert_int_equal(jint(&r, "rejected"), 0);
    json_t *earlier = json_object_get(r.j, "earlier_runs");
    assert_non_null(earlier);
    assert_int_equal(json_integer_value(json_object_get(earlier, "acknowledged")), acked);
    res_free(&r);
    assert_int_not_equal(access(st, F_OK), 0); /* complete: the state is gone */
    assert_int_equal(last_seq(f), NORTHUMBRIA_ROWS);
    assert_int_equal(check_log_rows(f, "northumbria-asb-2022", NORTHUMBRIA_ROWS), NORTHUMBRIA_ROWS);
}

/* ---- generated files (no shared data needed) ------------------------- */

static const char *gen_csv(struct fx *f, const char *name, int rows)
{
    size_t cap = (size_t)rows * 64 + 64, len = 0;
    char *b = malloc(cap);
    len += (size_t)sprintf(b, "month,lsoa,place\n");
    for (int i = 1; i <= rows; i++)
        len += (size_t)sprintf(b + len, "2023-%02d,E01000916,On or near Street %d\n", i % 12 + 1,
                               i % 7);
    const char *p = write_file(f, name, b, len);
    free(b);
    return p;
}

static const char *simple_mapping(struct fx *f, const char *extra)
{
    char buf[2048];
    snprintf(buf, sizeof buf,
             "# a test mapping\n"
             "csv: {delimiter: comma%s}\n"
             "constants:\n"
             "  type: asb.report\n"
             "  source: test-agency\n"
             "  category: nuisance\n"
             "fields:\n"
             "  occurred_at: {column: month, convert: month}\n"
             "  location.lsoa: lsoa\n"
             "  location.description: place\n",
             extra);
    return write_text(f, "simple.yaml", buf);
}

/* Ctrl-C: what is in flight is answered, the state saved, exit 130; the
 * rerun sends only what was never sent, so nothing comes back duplicate. */
static void sigint_flushes_and_resumes(void **state)
{
    struct fx *f = *state;
    need_adapters();
    const int rows = 30000;
    const char *csv = gen_csv(f, "gen.csv", rows);
    const char *map = simple_mapping(f, "");
    struct proc p;
    spawn(f, &p, 0, csv_bin(), "--mapping", map, "--hub", f->lo.hub.endpoint, "--window", "2",
          "--batch", "10", "--save-every", "500", "--json", csv, NULL);
    char st[800];
    snprintf(st, sizeof st, "%s/gen.csv.state", f->lo.tmp); /* the default: <basename>.state */
    wait_state(f, &p, st, 1000, 30000);
    kill(p.pid, SIGINT);
    struct res r = reap(&p, 30000);
    expect_status(&r, 130);
    json_t *status = json_object_get(r.j, "status");
    assert_string_equal(json_string_value(status), "interrupted");
    assert_int_equal(jint(&r, "unanswered"), 0);
    int64_t answered = jint(&r, "accepted");
    assert_int_equal(jint(&r, "sent"), answered);
    assert_true(answered < rows);
    res_free(&r);
    assert_int_equal(state_acked(st), (uint64_t)answered);
    assert_int_equal(last_seq(f), answered);

    r = run(f, csv_bin(), "--mapping", map, "--hub", f->lo.hub.endpoint, "--window", "500", "--batch",
            "100", "--json", csv, NULL);
    expect_status(&r, 0);
    assert_int_equal(jint(&r, "already_done"), answered);
    assert_int_equal(jint(&r, "sent"), rows - answered);
    assert_int_equal(jint(&r, "accepted"), rows - answered);
    assert_int_equal(jint(&r, "duplicate"), 0);
    res_free(&r);
    assert_int_equal(check_log_rows(f, "gen", rows), rows);
}

static void broken_csv(void **state)
{
    struct fx *f = *state;
    need_adapters();
    const char *map = simple_mapping(f, "");
    /* row 1 good; 2 ragged (short); 3 ragged (long); 4 a quote inside an
     * unquoted field; 5 text after a closing quote; 6 Latin-1 bytes; 7 a
     * month that is not one; 8 quoted, with the delimiter and a newline
     * inside (good); 9 no location at all (the hub rejects it); 10 good;
     * 11 a quote never closed (line 13), swallowing the rest. */
    static const char text[] = "month,lsoa,place\n"
                               "2023-01,E01000916,Good\n"
                               "2023-01,E01000916\n"
                               "2023-01,E01000916,a,b\n"
                               "2023-01,E01000916,On \"the\" corner\n"
                               "2023-01,E01000916,\"quoted\"tail\n"
                               "2023-01,E01000916,Caf\xe9 Royal\n"
                               "2023-13,E01000916,x\n"
                               "2023-02,E01000916,\"multi, with\nnewline\"\n"
                               "2023-02,,\n"
                               "2023-03,E01000916,last good\n"
                               "2023-03,E01000916,\"never closed\n"
                               "2023-03,E01000916,swallowed\n";
    const char *csv = write_file(f, "broken.csv", text, sizeof text - 1);
    struct res r =
        run(f, csv_bin(), "--mapping", map, "--hub", f->lo.hub.endpoint, "--json", csv, NULL);
    expect_status(&r, 3);
    assert_int_equal(jint(&r, "read"), 11);
    assert_int_equal(jint(&r, "sent"), 4);
    assert_int_equal(jint(&r, "accepted"), 3);
    assert_int_equal(jint(&r, "rejected"), 8);
    assert_int_equal(jint(&r, "rejected_here"), 7);
    assert_int_equal(reason_count(&r, "ragged_row", "", "the row has 2 fields, the header 3"), 1);
    assert_int_equal(reason_count(&r, "ragged_row", "", "the row has 4 fields, the header 3"), 1);
    assert_int_equal(reason_count(&r, "bad_quoting", "", "malformed quoting"), 2);
    assert_int_equal(reason_count(&r, "bad_quoting", "", "never closed"), 1);
    assert_int_equal(reason_count(&r, "bad_encoding", "location.description", "is not valid UTF-8"),
                     1);
    assert_int_equal(reason_count(&r, "bad_value", "occurred_at", "is not a month"), 1);
    assert_int_equal(reason_count(&r, "bad_event", "location", "missing required field"), 1);
    json_t *e = rejected_row(&r, "row", 6);
    assert_non_null(e);
    assert_int_equal(json_integer_value(json_object_get(e, "line")), 7);
    assert_string_equal(json_string_value(json_object_get(e, "detail")), "byte 4 is 0xE9");
    e = rejected_row(&r, "row", 11); /* the unclosed quote */
    assert_non_null(e);
    assert_int_equal(json_integer_value(json_object_get(e, "line")), 13);
    res_free(&r);
    /* The hub is fine and has the good rows, the multi-line one intact. */
    msgpack_object rp = tu_call(&f->lo.c, "{\"op\":\"replay\"}");
    assert_int_equal(tu_get(&rp, "events")->via.array.size, 3);
    assert_string_equal(tu_str(&rp, "events.1.event.location.description"), "multi, with\nnewline");
    assert_string_equal(tu_str(&rp, "events.1.event.id"), "broken-8");

    /* Latin-1 declared: the same row is converted and accepted. */
    const char *latin = simple_mapping(f, ", encoding: iso-8859-1");
    const char *csv2 = write_text(f, "latin1.csv", "month,lsoa,place\n2023-01,E01000916,Caf\xe9\n");
    r = run(f, csv_bin(), "--mapping", latin, "--hub", f->lo.hub.endpoint, "--json", csv2, NULL);
    expect_status(&r, 0);
    assert_int_equal(jint(&r, "accepted"), 1);
    res_free(&r);
    rp = tu_call(&f->lo.c, "{\"op\":\"replay\",\"after\":3}");
    assert_string_equal(tu_str(&rp, "events.0.event.location.description"), "Caf\xc3\xa9");
}

static void empty_and_header_only(void **state)
{
    struct fx *f = *state;
    need_adapters();
    const char *map = simple_mapping(f, "");
    const char *empty = write_text(f, "empty.csv", "");
    struct res r = run(f, csv_bin(), "--mapping", map, "--hub", f->lo.hub.endpoint, empty, NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "is empty: expected a header row"));
    res_free(&r);

    const char *hdr = write_text(f, "header.csv", "month,lsoa,place\r\n");
    r = run(f, csv_bin(), "--mapping", map, "--hub", f->lo.hub.endpoint, "--json", hdr, NULL);
    expect_status(&r, 0);
    assert_int_equal(jint(&r, "read"), 0);
    assert_int_equal(jint(&r, "sent"), 0);
    res_free(&r);

    /* A header without a mapped column: named, with the header's columns. */
    const char *other = write_text(f, "other.csv", "month;lsoa;place\n2023-01;E01000916;x\n");
    r = run(f, csv_bin(), "--mapping", map, "--hub", f->lo.hub.endpoint, other, NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "no column 'month' in the header"));
    assert_non_null(strstr(r.err, "is the delimiter right?"));
    res_free(&r);
    assert_int_equal(last_seq(f), 0);
}

static void mapping_errors_and_unreachable(void **state)
{
    struct fx *f = *state;
    need_adapters();
    const char *csv = gen_csv(f, "few.csv", 3);
    static const struct {
        const char *yaml, *want;
    } bad[] = {
        {"csv: {delimiter: comma}\nconstants: {source: x}\nfields:\n  occurred_at: month\n",
         "bad.yaml:1: no event type"},
        {"csv: {delimiter: ',,'}\nconstants: {type: asb.report}\n",
         "bad.yaml:1: csv.delimiter must be one character"},
        {"constants: {type: asb.report}\nfields:\n  occurred_at: {column: month, convert: "
         "monthly}\n",
         "bad.yaml:3: field 'occurred_at': convert must be one of"},
        {"constants:\n  type: asb.report\n  category: nuisance\nfields:\n  category: month\n",
         "bad.yaml:5: 'category' is set twice: here and at line 3"},
        {"constants: {type: asb.report}\nfeilds: {}\n", "bad.yaml:2: unknown section 'feilds'"},
        {"constants: {type: asb.report\n", "bad.yaml:2: not valid YAML"},
        {"constants: {type: asb.report}\nfields:\n  id: month\n",
         "bad.yaml:3: the event id is not mapped like other fields"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        const char *map = write_text(f, "bad.yaml", bad[i].yaml);
        struct res r = run(f, csv_bin(), "--mapping", map, "--hub", f->lo.hub.endpoint, csv, NULL);
        expect_status(&r, 2);
        if (!strstr(r.err, bad[i].want))
            fail_msg("mapping %zu: stderr lacks '%s':\n%s", i, bad[i].want, r.err);
        res_free(&r);
    }
    struct res r = run(f, csv_bin(), csv, NULL);
    expect_status(&r, 2);
    assert_non_null(strstr(r.err, "--mapping MAP.yaml is required"));
    res_free(&r);

    /* Nothing listening: exit 1, quickly, with the reason. */
    char dead[64];
    snprintf(dead, sizeof dead, "tcp://127.0.0.1:%d", tu_free_port());
    r = run(f, csv_bin(), "--mapping", simple_mapping(f, ""), "--hub", dead, "--timeout", "1s", csv,
            NULL);
    expect_status(&r, 1);
    assert_non_null(strstr(r.err, "did not answer within 1 s"));
    res_free(&r);
    r = run(f, jsonl_bin(), "--hub", dead, "--timeout", "1s", csv, NULL);
    expect_status(&r, 1);
    res_free(&r);
    assert_int_equal(last_seq(f), 0);
}

static void help(void **state)
{
    struct fx *f = *state;
    need_adapters();
    struct res r = run(f, csv_bin(), "--help", NULL);
    expect_status(&r, 0);
    assert_non_null(strstr(r.out, "usage: csphub-csv --mapping MAP.yaml"));
    assert_non_null(strstr(r.out, "exit status"));
    res_free(&r);
    r = run(f, jsonl_bin(), "--help", NULL);
    expect_status(&r, 0);
    assert_non_null(strstr(r.out, "usage: csphub-jsonl"));
    res_free(&r);
}

/* ---- JSON lines -------------------------------------------------------- */

#define JL_EVENT(id)                                                                               \
    "{\"id\":\"" id "\",\"type\":\"asb.report\",\"source\":\"council-asb\","                       \
    "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"location\":{\"lsoa\":\"E01000916\"},"              \
    "\"category\":\"nuisance\"}\n"

static void jsonl_file(void **state)
{
    struct fx *f = *state;
    need_adapters();
    const char *good =
        write_text(f, "good.jsonl", JL_EVENT("j-1") JL_EVENT("j-2") "\n" JL_EVENT("j-3"));
    struct res r = run(f, jsonl_bin(), "--hub", f->lo.hub.endpoint, "--json", good, NULL);
    expect_status(&r, 0);
    assert_int_equal(jint(&r, "read"), 4);
    assert_int_equal(jint(&r, "accepted"), 3);
    assert_int_equal(jint(&r, "rejected"), 0);
    res_free(&r);

    /* CSPHUB_HUB names the hub when --hub does not, as for the command: the
     * same lines again are the hub's duplicates. */
    setenv("CSPHUB_HUB", f->lo.hub.endpoint, 1);
    r = run(f, jsonl_bin(), "--json", good, NULL);
    unsetenv("CSPHUB_HUB");
    expect_status(&r, 0);
    assert_int_equal(jint(&r, "duplicate"), 3);
    res_free(&r);

    /* Line 2 is not JSON, line 3 is not an object, line 4 breaks its
     * schema: each reported with its line. */
    const char *bad = write_text(
        f, "bad.jsonl",
        JL_EVENT("j-1") "{\"id\": \"j-9\", oops}\n[1, 2]\n"
                        "{\"id\":\"j-4\",\"type\":\"asb.report\",\"source\":\"council-asb\","
                        "\"occurred_at\":\"2025-03-01\",\"location\":{\"lsoa\":"
                        "\"E01000916\"},\"category\":\"nuisance\"}\n" JL_EVENT("j-5"));
    r = run(f, jsonl_bin(), "--hub", f->lo.hub.endpoint, "--json", bad, NULL);
    expect_status(&r, 3);
    assert_int_equal(jint(&r, "read"), 5);
    assert_int_equal(jint(&r, "duplicate"), 1);
    assert_int_equal(jint(&r, "accepted"), 1);
    assert_int_equal(jint(&r, "rejected"), 3);
    json_t *e = rejected_row(&r, "line", 2);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "bad_json");
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "not valid JSON"));
    assert_string_equal(json_string_value(json_object_get(e, "detail")), "column 18");
    e = rejected_row(&r, "line", 3);
    assert_non_null(e);
    assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "not a JSON object"));
    e = rejected_row(&r, "line", 4);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "field")), "occurred_at");
    res_free(&r);

    /* The text summary names the line too. */
    r = run(f, jsonl_bin(), "--hub", f->lo.hub.endpoint, bad, NULL);
    expect_status(&r, 3);
    assert_non_null(strstr(r.out, "line 2: bad_json: not valid JSON"));
    res_free(&r);
    assert_int_equal(last_seq(f), 4);
}

/* Resume by line number after SIGKILL. */
static void jsonl_resume_after_kill(void **state)
{
    struct fx *f = *state;
    need_adapters();
    const int lines = 20000;
    char *b = malloc((size_t)lines * 200);
    size_t len = 0;
    for (int i = 1; i <= lines; i++)
        len += (size_t)sprintf(b + len,
                               "{\"id\":\"jr-%d\",\"type\":\"asb.report\",\"source\":\"council\","
                               "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"location\":{\"lsoa\":"
                               "\"E01000916\"},\"category\":\"nuisance\"}\n",
                               i);
    const char *path = write_file(f, "many.jsonl", b, len);
    free(b);
    char st[800];
    snprintf(st, sizeof st, "%s/many.jsonl.state", f->lo.tmp);
    struct proc p;
    spawn(f, &p, 0, jsonl_bin(), "--hub", f->lo.hub.endpoint, "--window", "2", "--batch", "10",
          "--save-every", "200", path, NULL);
    wait_state(f, &p, st, 1000, 30000);
    kill(p.pid, SIGKILL);
    struct res r = reap(&p, 10000);
    res_free(&r);
    uint64_t acked = state_acked(st);
    assert_true(acked < (uint64_t)lines);
    r = run(f, jsonl_bin(), "--hub", f->lo.hub.endpoint, "--json", path, NULL);
    expect_status(&r, 0);
    assert_int_equal(jint(&r, "already_done"), (int64_t)acked);
    assert_int_equal(jint(&r, "sent"), lines - (int64_t)acked);
    res_free(&r);
    assert_int_equal(check_log_rows(f, "jr", lines), lines);
}

/* From stdin, each line goes out as it is read (batch 1): the first event
 * is in the log while the writer still holds the pipe open. */
static void jsonl_stdin(void **state)
{
    struct fx *f = *state;
    need_adapters();
    struct proc p;
    spawn(f, &p, 1, jsonl_bin(), "--hub", f->lo.hub.endpoint, "--json", NULL);
    static const char first[] = JL_EVENT("s-1");
    assert_int_equal(write(p.in, first, sizeof first - 1), (ssize_t)(sizeof first - 1));
    int64_t deadline = tu_now_ms() + 20000;
    while (last_seq(f) < 1) {
        if (tu_now_ms() > deadline)
            fail_msg("the first line from stdin did not reach the hub within 20 s");
        /* each check is a round trip to the hub: no sleep needed */
    }
    static const char rest[] = JL_EVENT("s-2") "not json\n" JL_EVENT("s-3");
    assert_int_equal(write(p.in, rest, sizeof rest - 1), (ssize_t)(sizeof rest - 1));
    struct res r = reap(&p, 30000); /* closes stdin first */
    expect_status(&r, 3);
    assert_string_equal(json_string_value(json_object_get(r.j, "input")), "-");
    assert_int_equal(jint(&r, "read"), 4);
    assert_int_equal(jint(&r, "accepted"), 3);
    assert_int_equal(jint(&r, "rejected"), 1);
    assert_non_null(rejected_row(&r, "line", 3));
    res_free(&r);
    assert_int_equal(last_seq(f), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(help, setup, teardown),
        cmocka_unit_test_setup_teardown(northumbria_twice, setup, teardown),
        cmocka_unit_test_setup_teardown(city_of_london_no_location, setup, teardown),
        cmocka_unit_test_setup_teardown(resume_after_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(sigint_flushes_and_resumes, setup, teardown),
        cmocka_unit_test_setup_teardown(broken_csv, setup, teardown),
        cmocka_unit_test_setup_teardown(empty_and_header_only, setup, teardown),
        cmocka_unit_test_setup_teardown(mapping_errors_and_unreachable, setup, teardown),
        cmocka_unit_test_setup_teardown(jsonl_file, setup, teardown),
        cmocka_unit_test_setup_teardown(jsonl_resume_after_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(jsonl_stdin, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
