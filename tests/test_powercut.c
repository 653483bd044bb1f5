/* test_powercut: the durability promise of PROTOCOL.md 4 against a power
 * cut at every step of the write path.
 *
 * kill -9 (test_crash) keeps the page cache. Here the real csphubd runs
 * with tests/powercut.c preloaded, which keeps beside the data directory
 * the disk as a power cut would leave it: only what a completed fsync,
 * fdatasync, msync or O_DSYNC write covered. One run without a cut counts
 * the sync points of a fixed workload (the start, publishes that raise an
 * alert, a consumer's ack, a decision, more publishes, a clean stop); then
 * for every point N the workload runs again with the power going at N,
 * before that sync. The hub is started on the disk the cut left (its
 * index.state saying another boot, as after a real cut) and must:
 *   - start;
 *   - hold every acknowledged event at its acknowledged seq, with seqs
 *     gap-free from 1, and the decision if it was acknowledged;
 *   - have the acknowledged consumer cursor, and the alert it fetched;
 *   - pass csphubd --verify (the hash chain end to end);
 *   - accept a new event at the next seq. */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define PANEL "asb-case-review"

static const char *const events[] = {
    "{\"id\":\"pc-1\",\"type\":\"call\",\"source\":\"police\",\"occurred_at\":"
    "\"2026-09-02T21:14:00Z\",\"caller\":\"V-1042\",\"location\":{\"lsoa\":\"E01000916\"},"
    "\"category\":\"asb\"}",
    "{\"id\":\"pc-2\",\"type\":\"asb.report\",\"source\":\"council-asb\",\"occurred_at\":"
    "\"2026-10-02T20:00:00Z\",\"victim\":\"V-1042\",\"location\":{\"lsoa\":\"E01000916\"},"
    "\"category\":\"personal\"}",
    "{\"id\":\"pc-3\",\"type\":\"call\",\"source\":\"police\",\"occurred_at\":"
    "\"2026-11-02T22:30:00Z\",\"caller\":\"V-1042\",\"location\":{\"lsoa\":\"E01000916\"},"
    "\"category\":\"asb\"}",
};
static const char *const later[] = {
    "{\"id\":\"pc-4\",\"type\":\"asb.report\",\"source\":\"police\",\"occurred_at\":"
    "\"2026-11-20T20:00:00Z\",\"victim\":\"V-7\",\"location\":{\"lsoa\":\"E01000917\"},"
    "\"category\":\"nuisance\"}",
    "{\"id\":\"pc-5\",\"type\":\"call\",\"source\":\"police\",\"occurred_at\":"
    "\"2026-11-21T20:00:00Z\",\"caller\":\"V-8\",\"category\":\"welfare\"}",
};
#define NEV 5

/* What the hub acknowledged before the power went. */
struct acked {
    uint64_t seq[NEV]; /* per event (events then later); 0: never acknowledged */
    uint64_t alert;    /* the alert fetched (0: none seen) */
    char reason[512];
    uint64_t cursor;      /* the ack acknowledged (0: none) */
    uint64_t status_seq;  /* the alert.update's alert.status (0: none) */
};

struct fx {
    char *tmp;
    const char *shim;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->tmp = tu_tmpdir("powercut");
    f->shim = tu_env("CSPH_POWERCUT_SHIM", "libcsph_powercut.so");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tu_rmrf(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

/* Whether the hub has died (reaped then, pid cleared). */
static int hub_dead(struct tu_hub *h)
{
    int status;
    if (h->pid > 0 && waitpid(h->pid, &status, WNOHANG) == h->pid)
        h->pid = 0;
    return h->pid <= 0;
}

/* Send a request and wait for its reply, or until the hub is dead: 0 with
 * the reply, -1 when the hub died first (a reply that reached the client
 * before it died is still taken). */
static int call(struct tu_hub *h, struct tu_client *c, msgpack_object *r, const char *json)
{
    if (hub_dead(h))
        return -1;
    if (tu_send(c, "%s", json) != 0)
        return -1;
    int64_t deadline = tu_now_ms() + 20000;
    while (tu_now_ms() < deadline) {
        if (tu_recv(c, 50, r) == 0)
            return 0;
        if (hub_dead(h))
            return tu_recv(c, 0, r) == 0 ? 0 : -1;
    }
    fail_msg("no reply and the hub still runs after 20 s: %s", json);
    return -1;
}

static void publish(struct tu_hub *h, struct tu_client *c, const char *ev, uint64_t *seq)
{
    char req[1024];
    msgpack_object r;
    snprintf(req, sizeof req, "{\"op\":\"publish\",\"event\":%s}", ev);
    if (call(h, c, &r, req) != 0)
        return;
    const char *status = tu_str(&r, "status");
    if (tu_bool(&r, "ok") != 1 || !status || strcmp(status, "accepted"))
        fail_msg("publish %s: %s", ev, tu_dump(&r));
    *seq = (uint64_t)tu_int(&r, "seq");
}

/* The workload; stops where the hub dies. */
static void workload(struct tu_hub *h, struct acked *a)
{
    struct tu_client c;
    tu_client_open(&c, h->endpoint, ZMQ_DEALER);
    msgpack_object r;
    char req[512];
    for (int i = 0; i < 3 && !hub_dead(h); i++)
        publish(h, &c, events[i], &a->seq[i]);
    if (a->seq[2] &&
        call(h, &c, &r, "{\"op\":\"fetch\",\"panel\":\"" PANEL "\",\"consumer\":\"pc\"}") == 0) {
        const msgpack_object *alerts = tu_get(&r, "alerts");
        if (tu_bool(&r, "ok") != 1 || !alerts || alerts->type != MSGPACK_OBJECT_ARRAY ||
            alerts->via.array.size != 1)
            fail_msg("fetch after three complaints: %s", tu_dump(&r));
        const msgpack_object *al = &alerts->via.array.ptr[0];
        a->alert = (uint64_t)tu_int(al, "id");
        snprintf(a->reason, sizeof a->reason, "%s", tu_str(al, "reason"));
        snprintf(req, sizeof req,
                 "{\"op\":\"ack\",\"panel\":\"" PANEL "\",\"consumer\":\"pc\",\"upto\":%llu}",
                 (unsigned long long)a->alert);
        if (call(h, &c, &r, req) == 0) {
            if (tu_bool(&r, "ok") != 1)
                fail_msg("ack: %s", tu_dump(&r));
            a->cursor = a->alert;
        }
        snprintf(req, sizeof req,
                 "{\"op\":\"alert.update\",\"id\":%llu,\"status\":\"acknowledged\","
                 "\"note\":\"seen\"}",
                 (unsigned long long)a->alert);
        if (a->cursor && call(h, &c, &r, req) == 0) {
            if (tu_bool(&r, "ok") != 1)
                fail_msg("alert.update: %s", tu_dump(&r));
            a->status_seq = (uint64_t)tu_int(&r, "seq");
        }
    }
    for (int i = 0; i < 2 && a->status_seq; i++)
        publish(h, &c, later[i], &a->seq[3 + i]);
    tu_client_close(&c);
}

/* The disk the cut left, as a data directory; its index.state says the
 * machine restarted (another boot). */
static void disk_to_data(const char *disk, const char *data)
{
    /* The files are taken as they are (a copy would read index.mdb's map,
     * gigabytes of holes); the shim's own inode store goes. */
    char ino[1300];
    snprintf(ino, sizeof ino, "%s/.ino", disk);
    tu_rmrf(ino);
    if (rename(disk, data) != 0) /* no sync happened: the disk is the empty directory */
        assert_int_equal(mkdir(data, 0700), 0);
    char state[1200];
    snprintf(state, sizeof state, "%s/index.state", data);
    FILE *f = fopen(state, "r");
    if (!f)
        return;
    char text[512] = "", line[256];
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "boot ", 5) != 0)
            strncat(text, line, sizeof text - strlen(text) - 1);
    fclose(f);
    f = fopen(state, "w");
    assert_non_null(f);
    fprintf(f, "boot before-the-power-cut\n%s", text);
    fclose(f);
}

static void read_text(const char *path, char *out, size_t n)
{
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t got = fread(out, 1, n - 1, f);
    out[got] = 0;
    fclose(f);
    out[strcspn(out, "\n")] = 0;
}

/* One run with the power going at point `at` (0: never; the hub is then
 * stopped cleanly). Returns the number of sync points reached. */
static long run(struct fx *f, long at, struct acked *a, char *run_dir, size_t run_n)
{
    snprintf(run_dir, run_n, "%s/run-%ld", f->tmp, at);
    char data[1100], keep[1100];
    mkdir(run_dir, 0700);
    snprintf(data, sizeof data, "%s/data", run_dir);
    snprintf(keep, sizeof keep, "%s/kept", run_dir);
    mkdir(data, 0700);
    mkdir(keep, 0700);
    char at_s[32];
    snprintf(at_s, sizeof at_s, "%ld", at);
    const char *asan = getenv("ASAN_OPTIONS");
    char asan_saved[512] = "", opts[600];
    if (asan)
        snprintf(asan_saved, sizeof asan_saved, "%s", asan);
    snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan_saved,
             asan_saved[0] ? ":" : "");
    setenv("ASAN_OPTIONS", opts, 1);
    setenv("LD_PRELOAD", f->shim, 1);
    setenv("CSPH_POWERCUT_WATCH", data, 1);
    setenv("CSPH_POWERCUT_DIR", keep, 1);
    if (at)
        setenv("CSPH_POWERCUT_AT", at_s, 1);
    struct tu_hub h;
    int rc = tu_hub_start(&h, data, NULL);
    unsetenv("LD_PRELOAD");
    unsetenv("CSPH_POWERCUT_WATCH");
    unsetenv("CSPH_POWERCUT_DIR");
    unsetenv("CSPH_POWERCUT_AT");
    if (asan)
        setenv("ASAN_OPTIONS", asan_saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    memset(a, 0, sizeof *a);
    if (rc == 0)
        workload(&h, a);
    else if (!at)
        fail_msg("the hub did not start under the power-cut shim");
    if (!at) {
        assert_int_equal(tu_hub_stop(&h), 0);
    } else if (!hub_dead(&h)) {
        /* The workload finished before point `at` came: the stop's syncs
         * come next; the power goes at one of them. */
        kill(h.pid, SIGTERM);
        int status;
        waitpid(h.pid, &status, 0);
    }
    char path[1200], text[64];
    snprintf(path, sizeof path, "%s/count", keep);
    read_text(path, text, sizeof text);
    return atol(text);
}

static void check_after(struct fx *f, long at, const struct acked *a, const char *run_dir)
{
    char disk[1200], data[1100], cut[1200], where[256];
    snprintf(disk, sizeof disk, "%s/kept/disk", run_dir);
    snprintf(data, sizeof data, "%s/after", run_dir);
    snprintf(cut, sizeof cut, "%s/kept/cut", run_dir);
    read_text(cut, where, sizeof where);
    if (!where[0])
        snprintf(where, sizeof where, "%ld (not reached: after a clean stop)", at);
    disk_to_data(disk, data);
    struct tu_hub h;
    if (tu_hub_start(&h, data, NULL) != 0)
        fail_msg("power cut at sync point %s: the hub does not start on what the disk kept",
                 where);
    struct tu_client c;
    tu_client_open(&c, h.endpoint, ZMQ_DEALER);

    /* Every acknowledged event at its seq; seqs gap-free from 1. */
    msgpack_object r = tu_call(&c, "{\"op\":\"replay\",\"max\":1000}");
    const msgpack_object *evs = tu_get(&r, "events");
    if (tu_bool(&r, "ok") != 1 || !evs || evs->type != MSGPACK_OBJECT_ARRAY)
        fail_msg("cut at %s: replay: %s", where, tu_dump(&r));
    uint64_t last = 0;
    char ids[64][40];
    uint64_t at_seq[64] = {0};
    int nlog = 0;
    for (uint32_t i = 0; i < evs->via.array.size; i++) {
        const msgpack_object *e = &evs->via.array.ptr[i];
        uint64_t seq = (uint64_t)tu_int(e, "seq");
        if (seq != last + 1)
            fail_msg("cut at %s: the log jumps from seq %llu to %llu", where,
                     (unsigned long long)last, (unsigned long long)seq);
        last = seq;
        if (nlog < 64) {
            const char *id = tu_str(e, "event.id");
            snprintf(ids[nlog], sizeof ids[nlog], "%s", id ? id : "");
            at_seq[nlog++] = seq;
        }
    }
    for (int i = 0; i < NEV; i++) {
        if (!a->seq[i])
            continue;
        char want[16];
        snprintf(want, sizeof want, "pc-%d", i + 1);
        int found = 0;
        for (int j = 0; j < nlog; j++)
            if (!strcmp(ids[j], want)) {
                if (at_seq[j] != a->seq[i])
                    fail_msg("cut at %s: %s acknowledged at seq %llu is at %llu", where, want,
                             (unsigned long long)a->seq[i], (unsigned long long)at_seq[j]);
                found = 1;
            }
        if (!found)
            fail_msg("cut at %s: %s was acknowledged at seq %llu and is not in the log", where,
                     want, (unsigned long long)a->seq[i]);
    }
    if (a->status_seq) {
        if (a->status_seq > last)
            fail_msg("cut at %s: the decision acknowledged at seq %llu is not in the log (it "
                     "ends at %llu)",
                     where, (unsigned long long)a->status_seq, (unsigned long long)last);
    }

    /* The alert the consumer fetched is there, the same; the acknowledged
     * cursor is past it. */
    if (a->alert) {
        r = tu_call(&c, "{\"op\":\"fetch\",\"panel\":\"" PANEL "\",\"consumer\":\"fresh\"}");
        const msgpack_object *al = tu_get(&r, "alerts");
        if (!al || al->type != MSGPACK_OBJECT_ARRAY || al->via.array.size < 1 ||
            (uint64_t)tu_int(&al->via.array.ptr[0], "id") != a->alert)
            fail_msg("cut at %s: alert %llu (fetched before the cut) is not on the queue: %s",
                     where, (unsigned long long)a->alert, tu_dump(&r));
        const char *reason = tu_str(&al->via.array.ptr[0], "reason");
        if (!reason || strcmp(reason, a->reason))
            fail_msg("cut at %s: alert %llu's reason changed: '%s' then '%s'", where,
                     (unsigned long long)a->alert, a->reason, reason ? reason : "(none)");
    }
    if (a->cursor) {
        r = tu_call(&c, "{\"op\":\"fetch\",\"panel\":\"" PANEL "\",\"consumer\":\"pc\"}");
        const msgpack_object *al = tu_get(&r, "alerts");
        if (!al || al->type != MSGPACK_OBJECT_ARRAY)
            fail_msg("cut at %s: fetch: %s", where, tu_dump(&r));
        for (uint32_t i = 0; i < al->via.array.size; i++)
            if ((uint64_t)tu_int(&al->via.array.ptr[i], "id") <= a->cursor)
                fail_msg("cut at %s: consumer pc acknowledged alert %llu, which comes again",
                         where, (unsigned long long)a->cursor);
    }

    /* A new event takes the next seq. */
    r = tu_call(&c, "{\"op\":\"publish\",\"event\":{\"id\":\"pc-after\",\"type\":\"call\","
                    "\"source\":\"police\",\"occurred_at\":\"2026-11-22T20:00:00Z\","
                    "\"caller\":\"V-9\",\"category\":\"welfare\"}}");
    if (tu_bool(&r, "ok") != 1 || (uint64_t)tu_int(&r, "seq") != last + 1)
        fail_msg("cut at %s: a new event after the restart (log ends at %llu): %s", where,
                 (unsigned long long)last, tu_dump(&r));
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&h), 0);

    /* The chain verifies end to end. */
    char out[4096];
    int rc = tu_hub_run(out, sizeof out, "--verify", "--data", data, NULL);
    if (rc != 0)
        fail_msg("cut at %s: csphubd --verify exits %d: %s", where, rc, out);
    (void)f;
}

static void test_power_cut_at_every_sync_point(void **state)
{
    struct fx *f = *state;
    struct acked a;
    char dir[1100];
    long points = run(f, 0, &a, dir, sizeof dir);
    if (points < 4)
        fail_msg("only %ld sync points in the workload: is the shim loaded (%s)?", points,
                 f->shim);
    if (!a.status_seq || !a.seq[NEV - 1])
        fail_msg("the workload did not complete without a cut");
    print_message("%ld sync points in the workload; a power cut at each\n", points);
    check_after(f, 0, &a, dir);
    tu_rmrf(dir);
    /* One beyond the last: the power goes after everything. */
    for (long at = 1; at <= points + 1; at++) {
        run(f, at, &a, dir, sizeof dir);
        check_after(f, at, &a, dir);
        tu_rmrf(dir);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_power_cut_at_every_sync_point, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
