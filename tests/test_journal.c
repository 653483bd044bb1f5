/* test_journal: the write-ahead journal (hub/journal.[ch]).
 *
 * Records come back byte-exact and in order after a reopen; a torn record
 * ends what is read; files roll over and a checkpoint retires the ones LMDB
 * holds; a gap between what LMDB holds and the journal is refused; a failed
 * fdatasync is never trusted on retry: the pending records are written
 * again into a fresh file (or the sync is refused and the batch discarded);
 * and a power cut at every sync point, through tests/powercut.c, keeps
 * every record whose sync returned. */
#define _GNU_SOURCE
#include "testutil.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "journal.h"

/* fdatasync failing on demand: the journal is linked into this program,
 * so this definition is the one it calls. */
static int fail_syncs;
int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    if (fail_syncs > 0) {
        fail_syncs--;
        errno = EIO;
        return -1;
    }
    return real(fd);
}

/* Record i's bytes: its number, repeated to a length that varies. */
static size_t record(uint64_t i, unsigned char *buf, size_t cap)
{
    size_t n = 1 + (size_t)(i * 7919 % 3000);
    if (n > cap)
        n = cap;
    for (size_t k = 0; k < n; k++)
        buf[k] = (unsigned char)(i * 31 + k);
    return n;
}

struct seen {
    uint64_t first, last, count;
    int bad;
    uint64_t variant; /* record bytes of batch `variant_batch` come from variant */
    uint64_t variant_batch;
};

static int check_record(void *ctx, uint64_t batch, const void *p, size_t n)
{
    struct seen *s = ctx;
    unsigned char want[4096];
    size_t wn = record(s->variant_batch == batch ? s->variant : batch, want, sizeof want);
    if (n != wn || memcmp(p, want, n) != 0)
        s->bad = 1;
    if (!s->count)
        s->first = batch;
    else if (batch != s->last + 1)
        s->bad = 1;
    s->last = batch;
    s->count++;
    return 0;
}

static void append(struct hub_journal *j, uint64_t batch, uint64_t variant)
{
    unsigned char buf[4096];
    size_t n = record(variant, buf, sizeof buf);
    struct hub_error err;
    if (hub_journal_append(j, batch, buf, n, &err))
        fail_msg("append %llu: %s", (unsigned long long)batch, err.message);
}

static void sync_ok(struct hub_journal *j)
{
    struct hub_error err;
    if (hub_journal_sync(j, &err))
        fail_msg("sync: %s", err.message);
}

static struct hub_journal *open_j(const char *dir, uint64_t bytes)
{
    struct hub_journal *j;
    struct hub_error err;
    if (hub_journal_open(&j, dir, bytes, 0, &err))
        fail_msg("open %s: %s", dir, err.message);
    return j;
}

static struct seen replay(struct hub_journal *j, uint64_t after)
{
    struct seen s = {0};
    struct hub_error err;
    if (hub_journal_replay(j, after, check_record, &s, &err))
        fail_msg("replay: %s", err.message);
    assert_false(s.bad);
    return s;
}

static int setup(void **state) { return tu_tmpfx_setup(state, "journal"); }
static int teardown(void **state) { return tu_tmpfx_teardown(state); }
static const char *dir_of(void **state, const char *sub)
{
    static char path[1024];
    struct tu_tmpfx *fx = *state;
    snprintf(path, sizeof path, "%s/%s", fx->tmp, sub);
    return path;
}

static void test_records_come_back_in_order(void **state)
{
    const char *dir = dir_of(state, "j");
    struct hub_journal *j = open_j(dir, 0);
    for (uint64_t b = 1; b <= 100; b++) {
        append(j, b, b);
        if (b % 7 == 0)
            sync_ok(j);
    }
    sync_ok(j);
    struct hub_error err;
    assert_int_equal(hub_journal_append(j, 102, "x", 1, &err), CSPH_ERR_INTERNAL);
    hub_journal_close(&j);
    j = open_j(dir, 0);
    struct seen s = replay(j, 0);
    assert_int_equal(s.first, 1);
    assert_int_equal(s.last, 100);
    s = replay(j, 60);
    assert_int_equal(s.first, 61);
    assert_int_equal(s.count, 40);
    struct hub_journal_stats st;
    hub_journal_stats(j, &st);
    assert_int_equal(st.torn, 0);
    assert_int_equal(st.last_batch, 100);
    /* Appending goes on from the last record found. */
    append(j, 101, 101);
    sync_ok(j);
    hub_journal_close(&j);
    j = open_j(dir, 0);
    s = replay(j, 0);
    assert_int_equal(s.last, 101);
    hub_journal_close(&j);
}

static void test_unsynced_records_are_not_there(void **state)
{
    const char *dir = dir_of(state, "j");
    struct hub_journal *j = open_j(dir, 0);
    append(j, 1, 1);
    sync_ok(j);
    append(j, 2, 2); /* never synced: never written */
    hub_journal_close(&j);
    j = open_j(dir, 0);
    struct seen s = replay(j, 0);
    assert_int_equal(s.count, 1);
    hub_journal_close(&j);
}

/* The file's bytes at the third record flipped: two records are read. */
static void test_torn_record_ends_the_journal(void **state)
{
    const char *dir = dir_of(state, "j");
    struct hub_journal *j = open_j(dir, 0);
    uint64_t off = 4096;
    for (uint64_t b = 1; b <= 5; b++) {
        append(j, b, b);
        sync_ok(j);
    }
    hub_journal_close(&j);
    for (uint64_t b = 1; b <= 2; b++) {
        unsigned char buf[4096];
        off += 24 + ((record(b, buf, sizeof buf) + 7) & ~(size_t)7);
    }
    char path[1100];
    snprintf(path, sizeof path, "%s/0000000000000001.csj", dir);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char byte;
    assert_int_equal(pread(fd, &byte, 1, (off_t)off + 30), 1);
    byte ^= 0x40;
    assert_int_equal(pwrite(fd, &byte, 1, (off_t)off + 30), 1);
    close(fd);
    j = open_j(dir, 0);
    struct seen s = replay(j, 0);
    assert_int_equal(s.count, 2);
    struct hub_journal_stats st;
    hub_journal_stats(j, &st);
    assert_int_equal(st.torn, 1);
    /* Replayed after what LMDB holds (batch 1): batch 2 alone. */
    struct hub_error err;
    struct seen s2 = {0};
    assert_int_equal(hub_journal_replay(j, 1, check_record, &s2, &err), CSPH_ERR_OK);
    assert_int_equal(s2.count, 1);
    hub_journal_close(&j);
}

/* 1 MiB files, records of ~2.9 KB: several files; a checkpoint retires
 * those LMDB holds, keeps two for reuse, and a replay from before them is
 * refused as a gap. */
static void test_files_roll_over_and_checkpoint_retires_them(void **state)
{
    const char *dir = dir_of(state, "j");
    struct hub_journal *j = open_j(dir, 1);
    for (uint64_t b = 1; b <= 1200; b++) {
        append(j, b, b);
        sync_ok(j);
    }
    struct hub_journal_stats st;
    hub_journal_stats(j, &st);
    assert_true(st.files >= 2);
    uint64_t files_before = st.files;
    struct hub_error err;
    assert_int_equal(hub_journal_checkpoint(j, 1000, &err), CSPH_ERR_OK);
    hub_journal_stats(j, &st);
    assert_true(st.files < files_before);
    hub_journal_close(&j);
    j = open_j(dir, 1);
    struct seen s = {0};
    assert_int_equal(hub_journal_replay(j, 0, check_record, &s, &err), CSPH_ERR_IO);
    assert_non_null(strstr(err.message, "missing"));
    s = replay(j, 1000);
    assert_int_equal(s.first, 1001);
    assert_int_equal(s.last, 1200);
    /* Recycled files are used again and their old records never read as
     * new ones. */
    for (uint64_t b = 1201; b <= 2500; b++) {
        append(j, b, b);
        sync_ok(j);
        if (b % 300 == 0)
            assert_int_equal(hub_journal_checkpoint(j, b - 100, &err), CSPH_ERR_OK);
    }
    hub_journal_close(&j);
    j = open_j(dir, 1);
    s = replay(j, 2400);
    assert_int_equal(s.first, 2401);
    assert_int_equal(s.last, 2500);
    hub_journal_close(&j);
}

/* A failed fdatasync: the pending records go again into a fresh file,
 * which is what a reopen reads. */
static void test_failed_sync_is_written_again(void **state)
{
    const char *dir = dir_of(state, "j");
    struct hub_journal *j = open_j(dir, 0);
    append(j, 1, 1);
    append(j, 2, 2);
    sync_ok(j);
    append(j, 3, 3);
    append(j, 4, 4);
    fail_syncs = 1;
    sync_ok(j);
    struct hub_journal_stats st;
    hub_journal_stats(j, &st);
    assert_int_equal(st.sync_failures, 1);
    assert_int_equal(st.rewrites, 1);
    append(j, 5, 5);
    sync_ok(j);
    hub_journal_close(&j);
    j = open_j(dir, 0);
    struct seen s = replay(j, 0);
    assert_int_equal(s.first, 1);
    assert_int_equal(s.last, 5);
    assert_int_equal(s.count, 5);
    hub_journal_close(&j);
}

/* Both the sync and the rewrite fail: refused; the batch is discarded and
 * its number taken by another batch, which is what a reopen reads. */
static void test_refused_sync_then_discard(void **state)
{
    const char *dir = dir_of(state, "j");
    struct hub_journal *j = open_j(dir, 0);
    append(j, 1, 1);
    sync_ok(j);
    append(j, 2, 2);
    fail_syncs = 2;
    struct hub_error err;
    assert_int_not_equal(hub_journal_sync(j, &err), CSPH_ERR_OK);
    assert_non_null(strstr(err.message, "fresh file"));
    hub_journal_discard(j);
    append(j, 2, 77);
    sync_ok(j);
    hub_journal_close(&j);
    j = open_j(dir, 0);
    struct seen s = {.variant = 77, .variant_batch = 2};
    assert_int_equal(hub_journal_replay(j, 0, check_record, &s, &err), CSPH_ERR_OK);
    assert_false(s.bad);
    assert_int_equal(s.count, 2);
    hub_journal_close(&j);
}

/* ---- a power cut at every sync point ----------------------------------- */

/* The child: append and sync records (1 MiB files: rollovers), write the
 * last synced batch to `acked` after each sync returns, checkpoint now and
 * then. Runs under the power-cut shim. */
static int child(const char *dir, const char *acked)
{
    struct hub_journal *j;
    struct hub_error err;
    if (hub_journal_open(&j, dir, 1, 0, &err))
        return 2;
    unsigned char buf[4096];
    for (uint64_t b = 1; b <= 900; b++) {
        size_t n = record(b, buf, sizeof buf);
        if (hub_journal_append(j, b, buf, n, &err))
            return 3;
        if (b % 50 && b != 900)
            continue;
        if (hub_journal_sync(j, &err))
            return 4;
        int fd = open(acked, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dprintf(fd, "%llu\n", (unsigned long long)b);
        close(fd);
        if (b % 300 == 0 && hub_journal_checkpoint(j, b - 200, &err))
            return 5;
    }
    hub_journal_close(&j);
    return 0;
}

static long run_child(const char *self, const char *tmp, long at, char *disk, size_t n,
                      uint64_t *acked)
{
    char dir[1100], keep[1100], ackf[1100], at_s[32];
    snprintf(dir, sizeof dir, "%s/cut-%ld", tmp, at);
    snprintf(keep, sizeof keep, "%s/kept-%ld", tmp, at);
    snprintf(ackf, sizeof ackf, "%s/acked-%ld", tmp, at);
    snprintf(at_s, sizeof at_s, "%ld", at);
    mkdir(dir, 0700);
    mkdir(keep, 0700);
    pid_t pid = fork();
    if (pid == 0) {
        setenv("LD_PRELOAD", tu_env("CSPH_POWERCUT_SHIM", "libcsph_powercut.so"), 1);
        setenv("CSPH_POWERCUT_WATCH", dir, 1);
        setenv("CSPH_POWERCUT_DIR", keep, 1);
        if (at)
            setenv("CSPH_POWERCUT_AT", at_s, 1);
        const char *asan = getenv("ASAN_OPTIONS");
        char opts[600];
        snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "",
                 asan ? ":" : "");
        setenv("ASAN_OPTIONS", opts, 1);
        execl(self, self, "--child", dir, ackf, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    if (!at && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        fail_msg("the journal's writer under the shim exited with status %d", status);
    *acked = 0;
    FILE *f = fopen(ackf, "r");
    if (f) {
        unsigned long long v;
        if (fscanf(f, "%llu", &v) == 1)
            *acked = v;
        fclose(f);
    }
    snprintf(disk, n, "%s/disk", keep);
    char count[1200], text[32] = "";
    snprintf(count, sizeof count, "%s/count", keep);
    f = fopen(count, "r");
    if (f) {
        if (!fgets(text, sizeof text, f))
            text[0] = 0;
        fclose(f);
    }
    return atol(text);
}

static void test_power_cut_at_every_sync_point(void **state)
{
    struct tu_tmpfx *fx = *state;
    if (getenv("CSPH_NO_POWERCUT")) {
        print_message("skipped: a sanitized build (the power-cut shim sees no sync there; "
                      "the plain build runs this)\n");
        skip();
    }
    char self[1024], disk[1200];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    assert_true(len > 0);
    self[len] = 0;
    uint64_t acked;
    long points = run_child(self, fx->tmp, 0, disk, sizeof disk, &acked);
    assert_int_equal(acked, 900);
    assert_true(points > 3);
    print_message("%ld sync points; a power cut at each\n", points);
    for (long at = 1; at <= points; at++) {
        run_child(self, fx->tmp, at, disk, sizeof disk, &acked);
        char ino[1300];
        snprintf(ino, sizeof ino, "%s/.ino", disk);
        tu_rmrf(ino);
        struct hub_journal *j;
        struct hub_error err;
        if (hub_journal_open(&j, disk, 1, HUB_JOURNAL_READONLY, &err) != CSPH_ERR_OK) {
            if (acked)
                fail_msg("cut at %ld: the journal does not open: %s", at, err.message);
            continue; /* cut before its directory was made */
        }
        /* What the child checkpointed is what "LMDB" held: replay from the
         * last checkpoint it made before the acked batch. */
        uint64_t after = acked >= 300 ? (acked / 300) * 300 - 200 : 0;
        struct seen s = {0};
        if (hub_journal_replay(j, after, check_record, &s, &err) != CSPH_ERR_OK)
            fail_msg("cut at %ld (acked %llu): %s", at, (unsigned long long)acked, err.message);
        if (s.bad)
            fail_msg("cut at %ld: a record read back differs", at);
        if (acked > after && s.last < acked)
            fail_msg("cut at %ld: batch %llu was synced, the journal ends at %llu", at,
                     (unsigned long long)acked, (unsigned long long)s.last);
        hub_journal_close(&j);
    }
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--child"))
        return child(argv[2], argv[3]);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_records_come_back_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unsynced_records_are_not_there, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_record_ends_the_journal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files_roll_over_and_checkpoint_retires_them, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_failed_sync_is_written_again, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused_sync_then_discard, setup, teardown),
        cmocka_unit_test_setup_teardown(test_power_cut_at_every_sync_point, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
