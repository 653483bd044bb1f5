/* test_faults: faults heal without a restart, against the real csphubd
 * over TCP (issue 13). Faults come from tests/faultshim.c, loaded into the
 * hub with LD_PRELOAD and triggered through a file: a failed commit of
 * index.mdb, an index LMDB refuses from then on (MDB_PANIC), an EIO on
 * data.mdb's meta page (a real MDB_PANIC from LMDB). Also: a corrupted
 * index rebuilt at start, two unclean stops in a row, stats equal to the
 * log after failed commits, and the bound on kept rejections. No sleeps:
 * every wait is a condition polled over the wire with a deadline. */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

struct fx {
    char *tmp;
    char faults[700]; /* the shim's trigger file */
    struct tu_hub hub;
    struct tu_client c;
};

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_small(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "r");
    size_t got = f ? fread(buf, 1, n - 1, f) : 0;
    buf[got] = 0;
    if (f)
        fclose(f);
    return buf;
}

/* Start a hub on tmp/data with config text, the fault shim loaded when
 * shim is set (its trigger file idle until a test writes it). */
static void start(struct fx *f, const char *config, int shim)
{
    char cfg[700], data[700];
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", f->tmp);
    write_file(cfg, config);
    snprintf(data, sizeof data, "%s/data", f->tmp);
    snprintf(f->faults, sizeof f->faults, "%s/faults", f->tmp);
    write_file(f->faults, "none 0\n");
    if (shim) {
        const char *asan = getenv("ASAN_OPTIONS");
        char opts[512];
        snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "",
                 asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        setenv("LD_PRELOAD", tu_env("CSPH_FAULTSHIM", "libcsph_faultshim.so"), 1);
        setenv("CSPH_FAULTS", f->faults, 1);
    }
    int rc = tu_hub_start(&f->hub, data, "--config", cfg, NULL);
    unsetenv("LD_PRELOAD");
    unsetenv("CSPH_FAULTS");
    assert_int_equal(rc, 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->tmp = tu_tmpdir("faults");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc = 0;
    if (f->hub.pid > 0) {
        tu_client_close(&f->c);
        rc = tu_hub_stop(&f->hub);
    }
    if (getenv("CSPH_SHOW_LOG")) {
        char cmd[900];
        snprintf(cmd, sizeof cmd, "cat %s >&2", f->hub.log);
        if (system(cmd)) {}
    }
    tu_rmrf(f->tmp);
    free(f->tmp);
    free(f);
    return rc == 0 ? 0 : -1;
}

static msgpack_object publish(struct tu_client *c, const char *id)
{
    return tu_call(c,
                   "{\"op\":\"publish\",\"event\":{\"id\":\"%s\",\"type\":\"asb.report\","
                   "\"source\":\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
                   "\"victim\":\"V-%s\",\"location\":{\"lsoa\":\"E01000916\"},"
                   "\"category\":\"personal\"}}",
                   id, id);
}

static void expect_accepted(struct tu_client *c, const char *id, const char *status, int64_t seq)
{
    msgpack_object r = publish(c, id);
    const char *st = tu_str(&r, "status");
    if (!st || strcmp(st, status) != 0 || tu_int(&r, "seq") != seq)
        fail_msg("%s: want %s at seq %lld, got %s", id, status, (long long)seq, tu_dump(&r));
}

/* A field of stats' counters (a dotted path: "accepted", "health.index"). */
static int64_t stat_int(struct tu_client *c, const char *path)
{
    char full[128];
    snprintf(full, sizeof full, "counters.%s", path);
    msgpack_object r = tu_call(c, "{\"op\":\"stats\"}");
    return tu_int(&r, full);
}

static const char *stat_str(struct tu_client *c, const char *path)
{
    char full[128];
    snprintf(full, sizeof full, "counters.%s", path);
    msgpack_object r = tu_call(c, "{\"op\":\"stats\"}");
    return tu_str(&r, full);
}

/* Wait (10 s at most) until stats' path holds want. */
static void wait_stat(struct tu_client *c, const char *path, int64_t want)
{
    int64_t deadline = tu_now_ms() + 10000, got = -1;
    while (tu_now_ms() < deadline)
        if ((got = stat_int(c, path)) == want)
            return;
    fail_msg("stats %s stayed %lld, want %lld", path, (long long)got, (long long)want);
}

static void wait_stat_str(struct tu_client *c, const char *path, const char *want)
{
    int64_t deadline = tu_now_ms() + 10000;
    const char *got = NULL;
    while (tu_now_ms() < deadline)
        if ((got = stat_str(c, path)) && !strcmp(got, want))
            return;
    fail_msg("stats %s stayed '%s', want '%s'", path, got ? got : "(absent)", want);
}

/* Arm the shim: the next n occasions of what fail. */
static void arm(struct fx *f, const char *what, int n)
{
    char line[96];
    snprintf(line, sizeof line, "%s %d\n", what, n);
    write_file(f->faults, line);
}

static void publish_range(struct tu_client *c, int from, int to, int64_t first_seq)
{
    for (int i = from; i <= to; i++) {
        char id[32];
        snprintf(id, sizeof id, "e%d", i);
        expect_accepted(c, id, "accepted", first_seq + (i - from));
    }
}

static const char quick_index[] = "rules_file: none\nlimits:\n  index_hold_ms: 1\n";

/* One failed commit of index.mdb: before, every later write got `internal`
 * until a restart. Now the index is brought level from the log before the
 * next write, the failure is logged once, stats say so, and nothing
 * acknowledged is lost or stored twice. */
static void test_index_commit_failure_heals(void **state)
{
    struct fx *f = *state;
    start(f, quick_index, 1);
    publish_range(&f->c, 1, 20, 1);
    wait_stat(&f->c, "health.index_applied", 20);
    arm(f, "index-commit", 1);
    publish_range(&f->c, 21, 30, 21);
    wait_stat(&f->c, "health.index_failures", 1);
    char buf[64];
    assert_string_equal(read_small(f->faults, buf, sizeof buf), "index-commit 0\n");
    /* Writes go on: the next is accepted, a resend of an event whose index
     * commit failed is still a duplicate at its seq. */
    expect_accepted(&f->c, "e31", "accepted", 31);
    expect_accepted(&f->c, "e25", "duplicate", 25);
    expect_accepted(&f->c, "e3", "duplicate", 3);
    wait_stat_str(&f->c, "health.status", "ok");
    wait_stat(&f->c, "health.index_behind", 0);
    assert_int_equal(stat_int(&f->c, "accepted"), 31);
    assert_int_equal(stat_int(&f->c, "last_seq"), 31);
    assert_int_equal(stat_int(&f->c, "health.index_rebuilds"), 0);
    /* Once at ERROR, and the healing said. */
    assert_int_equal(tu_log_count(&f->hub, "could not be written"), 1);
    assert_int_equal(tu_log_count(&f->hub, "healed after a failed commit"), 1);
}

/* The same with a real EIO from the disk's side: the index written with
 * write() (limits.index_writemap_mb small), the shim fails LMDB's next
 * write to index.mdb inside a commit. */
static void test_index_write_eio_heals(void **state)
{
    struct fx *f = *state;
    start(f, "rules_file: none\nlimits:\n  index_hold_ms: 1\n  index_writemap_mb: 1\n", 1);
    /* Grow the index past 1 MiB: it is then written with write(). */
    int64_t seq = 1;
    for (int round = 0; round < 200 && !tu_log_count(&f->hub, "with write() from now on"); round++) {
        char b[120000];
        size_t len = (size_t)snprintf(b, sizeof b, "{\"op\":\"publish\",\"events\":[");
        for (int i = 0; i < 500; i++, seq++)
            len += (size_t)snprintf(b + len, sizeof b - len,
                                    "%s{\"id\":\"bulk-%lld-with-a-longer-id-to-fill-pages\","
                                    "\"type\":\"asb.report\",\"source\":\"police\","
                                    "\"occurred_at\":\"2025-03-01T21:14:00Z\","
                                    "\"location\":{\"lsoa\":\"E01000916\"},"
                                    "\"category\":\"personal\"}",
                                    i ? "," : "", (long long)seq);
        snprintf(b + len, sizeof b - len, "]}");
        msgpack_object r = tu_call(&f->c, "%s", b);
        assert_string_equal(tu_str(&r, "results.499.status"), "accepted");
        /* the switch happens at the begin after a settle: let it settle */
        wait_stat(&f->c, "health.index_behind", 0);
    }
    assert_true(tu_log_count(&f->hub, "with write() from now on"));
    int64_t last = stat_int(&f->c, "last_seq");
    arm(f, "index-write", 1);
    publish_range(&f->c, 1, 10, last + 1);
    wait_stat(&f->c, "health.index_failures", 1);
    char buf[64];
    assert_string_equal(read_small(f->faults, buf, sizeof buf), "index-write 0\n");
    expect_accepted(&f->c, "e11", "accepted", last + 11);
    expect_accepted(&f->c, "e5", "duplicate", last + 5);
    wait_stat_str(&f->c, "health.status", "ok");
    assert_int_equal(stat_int(&f->c, "accepted"), last + 11);
    assert_int_equal(tu_log_count(&f->hub, "could not be written: Input/output error"), 1);
}

/* An index environment LMDB refuses from then on (MDB_PANIC, as after an
 * EIO on its meta page) is rebuilt in place from the log: writes are busy
 * meanwhile with a message that says so, then accepted again. */
static void test_index_panic_rebuilt_in_place(void **state)
{
    struct fx *f = *state;
    start(f, quick_index, 1);
    publish_range(&f->c, 1, 40, 1);
    wait_stat(&f->c, "health.index_applied", 40);
    arm(f, "index-panic", 1);
    expect_accepted(&f->c, "e41", "accepted", 41);
    wait_stat(&f->c, "health.index_rebuilds", 1);
    /* Busy while rebuilding (if a write comes in time), never internal. */
    int64_t deadline = tu_now_ms() + 10000;
    for (;;) {
        msgpack_object r = publish(&f->c, "e42");
        const char *code = tu_str(&r, "error.code");
        if (!code) {
            assert_string_equal(tu_str(&r, "status"), "accepted");
            assert_int_equal(tu_int(&r, "seq"), 42);
            break;
        }
        if (strcmp(code, "busy") != 0)
            fail_msg("want busy while the index is rebuilt, got %s", tu_dump(&r));
        assert_non_null(strstr(tu_str(&r, "error.message"), "index"));
        if (tu_now_ms() > deadline)
            fail_msg("the index was not rebuilt within 10 s");
    }
    expect_accepted(&f->c, "e7", "duplicate", 7);
    expect_accepted(&f->c, "e41", "duplicate", 41);
    wait_stat_str(&f->c, "health.status", "ok");
    wait_stat_str(&f->c, "health.index", "ok");
    assert_int_equal(stat_int(&f->c, "accepted"), 42);
    assert_int_equal(tu_log_count(&f->hub, "rebuilding the index in place"), 1);
    assert_int_equal(tu_log_count(&f->hub, "healed after a rebuild"), 1);
}

/* An EIO on data.mdb's meta page: LMDB answers MDB_PANIC to every later
 * transaction. The hub reopens the log between batches, checks its tail,
 * and takes writes again; the failed batch was not acknowledged and is not
 * counted; the log verifies. */
static void test_log_meta_eio_reopens(void **state)
{
    struct fx *f = *state;
    start(f, quick_index, 1);
    publish_range(&f->c, 1, 10, 1);
    arm(f, "log-meta", 1);
    /* Acknowledged once the journal holds it; the log's own commit, after
     * the reply, fails on its header: the log is reopened and what the
     * journal acknowledged goes into it again, nothing lost. */
    expect_accepted(&f->c, "e11", "accepted", 11);
    char buf[64];
    wait_stat(&f->c, "health.log_reopens", 1);
    assert_string_equal(read_small(f->faults, buf, sizeof buf), "log-meta 0\n");
    wait_stat_str(&f->c, "health.log", "ok");
    expect_accepted(&f->c, "e12", "accepted", 12);
    expect_accepted(&f->c, "e4", "duplicate", 4);
    expect_accepted(&f->c, "e11", "duplicate", 11);
    /* Reads of the reopened log. */
    msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\",\"after\":0,\"max\":100}");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 12);
    assert_int_equal(stat_int(&f->c, "accepted"), 12);
    assert_int_equal(tu_log_count(&f->hub, "failed a write of its header"), 1);
    assert_int_equal(tu_log_count(&f->hub, "the log is open again"), 1);
    tu_client_close(&f->c);
    assert_int_equal(tu_hub_stop(&f->hub), 0);
    f->hub.pid = 0;
    char out[4096], data[700];
    snprintf(data, sizeof data, "%s/data", f->tmp);
    assert_int_equal(tu_hub_run(out, sizeof out, "--verify", "--data", data, NULL), 0);
}

/* A full log (map_size) refuses batches with busy; stats count those
 * refusals and never the events of a batch that did not commit. */
static void test_stats_equal_log_after_failed_commits(void **state)
{
    struct fx *f = *state;
    start(f, "rules_file: none\nlimits:\n  map_size_mb: 16\n", 0);
    static char summary[2001];
    memset(summary, 's', 2000);
    size_t cap = 400 * 2300 + 64;
    char *b = malloc(cap);
    int64_t accepted = 0, busy = 0;
    for (int round = 0; round < 40 && busy < 2; round++) {
        size_t len = (size_t)snprintf(b, cap, "{\"op\":\"publish\",\"events\":[");
        for (int i = 0; i < 400; i++)
            len += (size_t)snprintf(b + len, cap - len,
                                    "%s{\"id\":\"r%d-%d\",\"type\":\"concern\",\"source\":"
                                    "\"council\",\"occurred_at\":\"2025-03-01T10:00:00Z\","
                                    "\"subject\":\"P-%d\",\"kind\":\"other\",\"summary\":\"%s\"}",
                                    i ? "," : "", round, i, i, summary);
        snprintf(b + len, cap - len, "]}");
        msgpack_object r = tu_call(&f->c, "%s", b);
        const char *code = tu_str(&r, "error.code");
        if (code) {
            assert_string_equal(code, "busy");
            busy++;
        } else {
            accepted += 400;
        }
    }
    free(b);
    assert_int_equal(busy, 2);
    assert_int_equal(stat_int(&f->c, "accepted"), accepted);
    assert_int_equal(stat_int(&f->c, "last_seq"), accepted);
    assert_true(stat_int(&f->c, "busy") >= 2);
    assert_int_equal(stat_int(&f->c, "commit_failures"), 2);
    /* Logged once, not once per refused batch. */
    assert_int_equal(tu_log_count(&f->hub, "the log is full"), 1);
}

/* Overwrite index.mdb past its meta pages with zeros. */
static void damage_index(const char *tmp)
{
    char path[700];
    snprintf(path, sizeof path, "%s/data/index.mdb", tmp);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    static char zeros[1 << 20];
    assert_int_equal(pwrite(fd, zeros, sizeof zeros, 2 * 4096), (ssize_t)sizeof zeros);
    close(fd);
}

/* index.mdb damaged under the running hub (its pages overwritten: the
 * hub maps the file shared, so it reads the zeros at once): LMDB reports
 * MDB_CORRUPTED, the batch that met it fails, and the hub rebuilds the
 * index in place without a restart; nothing acknowledged is lost. */
static void test_index_damaged_while_running(void **state)
{
    struct fx *f = *state;
    start(f, quick_index, 0);
    publish_range(&f->c, 1, 50, 1);
    wait_stat(&f->c, "health.index_applied", 50);
    damage_index(f->tmp);
    int64_t deadline = tu_now_ms() + 10000;
    int refused = 0;
    for (;;) {
        msgpack_object r = publish(&f->c, "e51");
        const char *code = tu_str(&r, "error.code");
        if (!code) {
            assert_int_equal(tu_int(&r, "seq"), 51);
            break;
        }
        if (strcmp(code, "internal") != 0 && strcmp(code, "busy") != 0)
            fail_msg("want internal (the batch that met the damage) or busy, got %s",
                     tu_dump(&r));
        refused++;
        if (tu_now_ms() > deadline)
            fail_msg("writes were not accepted again within 10 s");
    }
    assert_true(refused >= 1);
    expect_accepted(&f->c, "e5", "duplicate", 5);
    expect_accepted(&f->c, "e50", "duplicate", 50);
    wait_stat_str(&f->c, "health.status", "ok");
    assert_int_equal(stat_int(&f->c, "health.index_rebuilds"), 1);
    assert_int_equal(stat_int(&f->c, "accepted"), 51);
    assert_int_equal(tu_log_count(&f->hub, "LMDB reports damage"), 1);
    assert_int_equal(tu_log_count(&f->hub, "healed after a rebuild"), 1);
    assert_int_equal(kill(f->hub.pid, 0), 0); /* the same process throughout */
}

/* Kill the hub (no clean stop) and start it again with the same config. */
static void kill_and_restart(struct fx *f)
{
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", f->tmp);
    tu_client_close(&f->c);
    tu_hub_kill9(&f->hub);
    assert_int_equal(tu_hub_restart(&f->hub, "--config", cfg, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
}

/* A corrupted index after an unclean stop: the start finds it unreadable
 * and rebuilds it from the log instead of crashing, and the hub answers as
 * before (resends are duplicates at their seqs, the next event follows). */
static void test_corrupt_index_rebuilt_at_start(void **state)
{
    struct fx *f = *state;
    start(f, quick_index, 0);
    publish_range(&f->c, 1, 50, 1);
    wait_stat(&f->c, "health.index_applied", 50);
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", f->tmp);
    tu_client_close(&f->c);
    tu_hub_kill9(&f->hub);
    damage_index(f->tmp);
    assert_int_equal(tu_hub_restart(&f->hub, "--config", cfg, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    expect_accepted(&f->c, "e5", "duplicate", 5);
    expect_accepted(&f->c, "e50", "duplicate", 50);
    expect_accepted(&f->c, "e51", "accepted", 51);
    wait_stat_str(&f->c, "health.status", "ok");
    assert_int_equal(tu_log_count(&f->hub, "rebuilding the index from the log (50 events)"), 1);
    /* A clean stop now marks the rebuilt index clean; the next start
     * trusts it (no rebuild). */
    tu_client_close(&f->c);
    assert_int_equal(tu_hub_stop(&f->hub), 0);
    char path[700], buf[256];
    snprintf(path, sizeof path, "%s/data/index.state", f->tmp);
    assert_non_null(strstr(read_small(path, buf, sizeof buf), "clean 1"));
    assert_int_equal(tu_hub_restart(&f->hub, "--config", cfg, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    expect_accepted(&f->c, "e51", "duplicate", 51);
    assert_int_equal(tu_log_count(&f->hub, "rebuilding the index"), 1);
}

/* An unclean stop on the same boot is trusted once (the page cache kept
 * the index's pages); a second in a row rebuilds, so an index that makes
 * the hub crash cannot make it crash forever. */
static void test_second_unclean_start_rebuilds(void **state)
{
    struct fx *f = *state;
    start(f, quick_index, 0);
    publish_range(&f->c, 1, 5, 1);
    wait_stat(&f->c, "health.index_applied", 5);
    kill_and_restart(f);
    assert_int_equal(tu_log_count(&f->hub, "rebuilding the index"), 0);
    expect_accepted(&f->c, "e3", "duplicate", 3);
    kill_and_restart(f);
    assert_int_equal(tu_log_count(&f->hub, "without a clean stop twice in a row"), 1);
    expect_accepted(&f->c, "e3", "duplicate", 3);
    expect_accepted(&f->c, "e6", "accepted", 6);
    /* A clean stop in between resets the count. */
    tu_client_close(&f->c);
    assert_int_equal(tu_hub_stop(&f->hub), 0);
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", f->tmp);
    assert_int_equal(tu_hub_restart(&f->hub, "--config", cfg, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    kill_and_restart(f);
    assert_int_equal(tu_log_count(&f->hub, "without a clean stop twice in a row"), 1);
    expect_accepted(&f->c, "e7", "accepted", 7);
}

/* Publish n rejected events of about size bytes from source (batches of
 * up to 100 under a message's 1 MiB: the events lack `victim`). */
static void flood(struct tu_client *c, const char *source, int n, int size, int tag)
{
    char *pad = malloc((size_t)size + 1);
    memset(pad, 'x', (size_t)size);
    pad[size] = 0;
    int per = 900000 / (size + 300);
    per = per < 1 ? 1 : per > 100 ? 100 : per;
    size_t cap = (size_t)per * ((size_t)size + 300) + 64;
    char *b = malloc(cap);
    for (int done = 0; done < n;) {
        int k = n - done < per ? n - done : per;
        size_t len = (size_t)snprintf(b, cap, "{\"op\":\"publish\",\"events\":[");
        for (int i = 0; i < k; i++)
            len += (size_t)snprintf(b + len, cap - len,
                                    "%s{\"id\":\"f%d-%d\",\"type\":\"asb.report\",\"source\":"
                                    "\"%s\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
                                    "\"category\":\"personal\",\"pad\":\"%s\"}",
                                    i ? "," : "", tag, done + i, source, pad);
        snprintf(b + len, cap - len, "]}");
        msgpack_object r = tu_call(c, "%s", b);
        if (!tu_get(&r, "results") || strcmp(tu_str(&r, "results.0.status"), "rejected") != 0)
            fail_msg("want rejections, got %s", tu_dump(&r));
        done += k;
    }
    free(b);
    free(pad);
}

/* Kept rejections of one source stay within its bound (count and bytes):
 * the oldest go, the rejects op says how many, another source's stay. */
static void test_rejection_flood_bounded(void **state)
{
    struct fx *f = *state;
    start(f,
          "rules_file: none\nlimits:\n  rejects_per_source_max: 100\n"
          "  rejects_per_source_mb: 1\n",
          0);
    flood(&f->c, "quiet", 3, 100, 0);
    flood(&f->c, "noisy", 300, 100, 1);
    /* Every kept rejection, paged: noisy's newest 100 and quiet's 3. */
    uint64_t after = 0;
    int noisy = 0, quiet = 0;
    int64_t first_noisy = -1, dropped = -1;
    for (;;) {
        msgpack_object r = tu_call(&f->c, "{\"op\":\"rejects\",\"after\":%llu,\"max\":1000}",
                                   (unsigned long long)after);
        const msgpack_object *list = tu_get(&r, "rejects");
        assert_non_null(list);
        for (uint32_t i = 0; i < list->via.array.size; i++) {
            char path[64];
            snprintf(path, sizeof path, "rejects.%u.source", i);
            const char *src = tu_str(&r, path);
            if (!strcmp(src, "noisy")) {
                snprintf(path, sizeof path, "rejects.%u.id", i);
                if (first_noisy < 0)
                    first_noisy = tu_int(&r, path);
                noisy++;
            } else {
                quiet++;
            }
        }
        dropped = tu_int(&r, "dropped");
        assert_int_equal(tu_int(&r, "dropped_by_source.noisy"), 200);
        assert_null(tu_get(&r, "dropped_by_source.quiet"));
        after = (uint64_t)tu_int(&r, "next");
        if (tu_bool(&r, "end") == 1)
            break;
    }
    assert_int_equal(noisy, 100);
    assert_int_equal(quiet, 3);
    assert_int_equal(first_noisy, 3 + 200 + 1); /* the oldest went */
    assert_int_equal(dropped, 200);
    /* Rejections are not events: the log holds none. */
    assert_int_equal(stat_int(&f->c, "last_seq"), 0);
    assert_int_equal(stat_int(&f->c, "rejected_total"), 303);

    /* The byte bound: 200 rejections of about 30 KB (6 MB sent) keep at
     * most 1 MiB, and data.mdb does not grow by what was sent. */
    flood(&f->c, "large", 200, 30000, 2);
    int64_t kept_bytes = 0, kept = 0;
    after = 0;
    for (;;) {
        msgpack_object r = tu_call(&f->c, "{\"op\":\"rejects\",\"after\":%llu,\"max\":1000}",
                                   (unsigned long long)after);
        const msgpack_object *list = tu_get(&r, "rejects");
        for (uint32_t i = 0; i < list->via.array.size; i++) {
            char path[64];
            snprintf(path, sizeof path, "rejects.%u.source", i);
            if (strcmp(tu_str(&r, path), "large") != 0)
                continue;
            snprintf(path, sizeof path, "rejects.%u.bytes", i);
            kept_bytes += (int64_t)tu_get(&r, path)->via.bin.size;
            kept++;
        }
        after = (uint64_t)tu_int(&r, "next");
        if (tu_bool(&r, "end") == 1) {
            assert_int_equal(tu_int(&r, "dropped_by_source.large"), 200 - kept);
            break;
        }
    }
    assert_true(kept >= 20 && kept < 100);
    assert_true(kept_bytes <= 1 << 20);
    char path[700];
    struct stat st;
    snprintf(path, sizeof path, "%s/data/data.mdb", f->tmp);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size < 4 << 20);
}

/* An EIO when the index is synced at a clean stop: the stop is clean for
 * the log, but the index is not marked clean (its pages may not be on
 * disk) and the next start rebuilds it. */
static void test_index_sync_failure_at_stop(void **state)
{
    struct fx *f = *state;
    start(f, quick_index, 1);
    publish_range(&f->c, 1, 5, 1);
    wait_stat(&f->c, "health.index_applied", 5);
    arm(f, "index-msync", 1);
    tu_client_close(&f->c);
    assert_int_equal(tu_hub_stop(&f->hub), 0);
    char path[700], buf[256], cfg[700];
    assert_string_equal(read_small(f->faults, buf, sizeof buf), "index-msync 0\n");
    assert_int_equal(tu_log_count(&f->hub, "could not write the index to disk at stop"), 1);
    snprintf(path, sizeof path, "%s/data/index.state", f->tmp);
    assert_non_null(strstr(read_small(path, buf, sizeof buf), "clean 0"));
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", f->tmp);
    assert_int_equal(tu_hub_restart(&f->hub, "--config", cfg, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    assert_int_equal(tu_log_count(&f->hub, "rebuilding the index from the log (5 events): the last "
                                     "run found it damaged (syncing it at stop"),
                     1);
    expect_accepted(&f->c, "e4", "duplicate", 4);
}

/* Whether the hub runs under AddressSanitizer (which reports SIGSEGV
 * itself: the hub's mark-and-re-raise handler is left out there). */
static int hub_has_asan(pid_t pid)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *fp = fopen(path, "r");
    int found = 0;
    while (fp && !found && fgets(line, sizeof line, fp))
        found = strstr(line, "libasan") != NULL;
    if (fp)
        fclose(fp);
    return found;
}

/* A hub that dies of SIGSEGV (as a torn page of index.mdb's map could
 * make it) marks the index first: the next start rebuilds it, whatever
 * index.state says, and the mark goes. */
static void test_segv_marks_index_for_rebuild(void **state)
{
    struct fx *f = *state;
    start(f, quick_index, 0);
    if (hub_has_asan(f->hub.pid))
        skip();
    publish_range(&f->c, 1, 5, 1);
    wait_stat(&f->c, "health.index_applied", 5);
    tu_client_close(&f->c);
    assert_int_equal(kill(f->hub.pid, SIGSEGV), 0);
    int status = 0;
    assert_int_equal(waitpid(f->hub.pid, &status, 0), f->hub.pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    char path[700], buf[64], cfg[700];
    snprintf(path, sizeof path, "%s/data/index.rebuild", f->tmp);
    assert_string_equal(read_small(path, buf, sizeof buf), "SIGSEGV\n");
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", f->tmp);
    assert_int_equal(tu_hub_restart(&f->hub, "--config", cfg, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    assert_int_equal(tu_log_count(&f->hub, "the last run found it damaged (SIGSEGV)"), 1);
    assert_int_equal(access(path, F_OK), -1);
    expect_accepted(&f->c, "e2", "duplicate", 2);
    expect_accepted(&f->c, "e6", "accepted", 6);
}

/* A start that fails says which kind of failure in its exit status: a
 * full disk 3, an I/O error 4 (README.md, operations), each with a line
 * that names the data directory. */
static void test_exit_status_says_why(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *fault;
        int status;
        const char *text;
    } cases[] = {{"log-meta-full", 3, "No space left"}, {"log-meta", 4, "Input/output error"}};
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char data[700], ep[64], out[8192];
        snprintf(data, sizeof data, "%s/data%zu", f->tmp, i);
        snprintf(f->faults, sizeof f->faults, "%s/faults", f->tmp);
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", tu_free_port());
        arm(f, cases[i].fault, 1);
        setenv("LD_PRELOAD", tu_env("CSPH_FAULTSHIM", "libcsph_faultshim.so"), 1);
        setenv("CSPH_FAULTS", f->faults, 1);
        const char *asan = getenv("ASAN_OPTIONS");
        char opts[512];
        snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "",
                 asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        int rc = tu_hub_run_ms(out, sizeof out, 10000, "--data", data, "--listen", ep, NULL);
        unsetenv("LD_PRELOAD");
        unsetenv("CSPH_FAULTS");
        if (rc != cases[i].status || !strstr(out, cases[i].text) || !strstr(out, data))
            fail_msg("%s: want exit %d with '%s', got %d: %s", cases[i].fault, cases[i].status,
                     cases[i].text, rc, out);
    }
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_index_commit_failure_heals, setup, teardown),
    cmocka_unit_test_setup_teardown(test_index_panic_rebuilt_in_place, setup, teardown),
    cmocka_unit_test_setup_teardown(test_index_write_eio_heals, setup, teardown),
    cmocka_unit_test_setup_teardown(test_log_meta_eio_reopens, setup, teardown),
    cmocka_unit_test_setup_teardown(test_stats_equal_log_after_failed_commits, setup, teardown),
    cmocka_unit_test_setup_teardown(test_corrupt_index_rebuilt_at_start, setup, teardown),
    cmocka_unit_test_setup_teardown(test_index_damaged_while_running, setup, teardown),
    cmocka_unit_test_setup_teardown(test_second_unclean_start_rebuilds, setup, teardown),
    cmocka_unit_test_setup_teardown(test_rejection_flood_bounded, setup, teardown),
    cmocka_unit_test_setup_teardown(test_exit_status_says_why, setup, teardown),
    cmocka_unit_test_setup_teardown(test_segv_marks_index_for_rebuild, setup, teardown),
    cmocka_unit_test_setup_teardown(test_index_sync_failure_at_stop, setup, teardown),
};

int main(void) { return cmocka_run_group_tests(tests, NULL, NULL); }
