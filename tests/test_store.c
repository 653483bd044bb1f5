/* test_store.c: the event log, the idempotency index, the kept rejections
 * and the hash chain (hub/store.c). Each test gets a private temporary data
 * directory; teardown closes the store, proves the directory's lock was
 * released and that no file descriptor was left open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "store.h"
#include "testutil.h"

#define MAP_SIZE (64ull << 20)

struct fx {
    char *dir;
    struct hub_store *s;
    int fds;
    /* a second, test-made store (other map size), closed by teardown */
    char *dir2;
    struct hub_store *s2;
};



static int group_setup(void **state)
{
    /* Warm up once (libsodium, libc) so that the per-test descriptor count
     * sees only what a test itself opens. */
    char *dir = tu_tmpdir("store-warm");
    struct hub_store *s = NULL;
    struct hub_error err;
    if (hub_store_open(&s, dir, MAP_SIZE, &err) != CSPH_ERR_OK)
        return -1;
    hub_store_close(&s);
    tu_rmrf(dir);
    free(dir);
    return 0;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->fds = tu_open_fds();
    f->dir = tu_tmpdir("store");
    struct hub_error err;
    if (hub_store_open(&f->s, f->dir, MAP_SIZE, &err) != CSPH_ERR_OK) {
        fprintf(stderr, "open %s: %s\n", f->dir, err.message);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc = 0;
    hub_store_close(&f->s);
    if (f->s != NULL)
        rc = -1;
    hub_store_close(&f->s); /* NULL is accepted */
    hub_store_close(&f->s2);
    if (f->dir2) {
        tu_rmrf(f->dir2);
        free(f->dir2);
    }
    /* the lock is released: the directory opens again */
    struct hub_store *again = NULL;
    struct hub_error err;
    if (hub_store_open(&again, f->dir, MAP_SIZE, &err) != CSPH_ERR_OK) {
        fprintf(stderr, "reopen after close: %s\n", err.message);
        rc = -1;
    }
    hub_store_close(&again);
    int now = tu_open_fds();
    if (now != f->fds) {
        fprintf(stderr, "%d file descriptors before the test, %d after\n", f->fds, now);
        rc = -1;
    }
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return rc;
}

/* ---- helpers ---- */

static struct hub_append mk(const char *source, const char *id, const char *bytes)
{
    struct hub_append a = {
        .source = source,
        .source_len = strlen(source),
        .id = id,
        .id_len = strlen(id),
        .type = "asb.report",
        .type_len = 10,
        .occurred_ms = 1740863640000LL,
        .received_ms = 1740863650000LL,
        .bytes = bytes,
        .len = strlen(bytes),
    };
    return a;
}

/* Append and expect success: the seq; *dup when dup is not NULL. */
static uint64_t append_ok(struct hub_store *s, const char *source, const char *id,
                          const char *bytes, int *dup)
{
    struct hub_append a = mk(source, id, bytes);
    struct hub_error err = {0};
    uint64_t seq = 0;
    int d = -1;
    enum hub_err rc = hub_store_append(s, &a, &seq, &d, &err);
    if (rc != CSPH_ERR_OK)
        fail_msg("append %s/%s: %s: %s", source, id, hub_err_name(rc), err.message);
    assert_true(d == 0 || d == 1);
    if (dup)
        *dup = d;
    else
        assert_int_equal(d, 0);
    return seq;
}

static void begin(struct hub_store *s)
{
    struct hub_error err;
    enum hub_err rc = hub_store_write_begin(s, &err);
    if (rc)
        fail_msg("write_begin: %s", err.message);
    assert_non_null(hub_store_txn(s));
}

static void commit(struct hub_store *s)
{
    struct hub_error err;
    enum hub_err rc = hub_store_write_commit(s, &err);
    if (rc)
        fail_msg("commit: %s", err.message);
    assert_null(hub_store_txn(s));
}

static void reopen(struct fx *f)
{
    struct hub_error err;
    hub_store_close(&f->s);
    assert_null(f->s);
    if (hub_store_open(&f->s, f->dir, MAP_SIZE, &err) != CSPH_ERR_OK)
        fail_msg("reopen: %s", err.message);
}

/* The log verifies with checked events intact and the first broken one at
 * bad (0: none). */
static void expect_verify(struct hub_store *s, uint64_t want_checked, uint64_t want_bad)
{
    struct hub_error err;
    uint64_t checked = 99, bad = 99;
    assert_int_equal(hub_store_verify(s, &checked, &bad, NULL, &err), CSPH_ERR_OK);
    assert_int_equal(checked, want_checked);
    assert_int_equal(bad, want_bad);
}

/* A visitor that records what it sees and stops at seq stop_at. */
#define MAXSEEN 64
struct seen {
    uint64_t seq[MAXSEEN];
    char bytes[MAXSEEN][64];
    char source[MAXSEEN][16];
    char type[MAXSEEN][32];
    int64_t received_ms[MAXSEEN], occurred_ms[MAXSEEN];
    size_t n;
    uint64_t stop_at;
};

static int visit(void *ctx, const struct hub_stored_event *ev)
{
    struct seen *v = ctx;
    assert_true(v->n < MAXSEEN);
    v->seq[v->n] = ev->seq;
    assert_true(ev->len < sizeof v->bytes[0]);
    memcpy(v->bytes[v->n], ev->bytes, ev->len);
    v->bytes[v->n][ev->len] = 0;
    snprintf(v->source[v->n], sizeof v->source[0], "%.*s", (int)ev->source_len, ev->source);
    snprintf(v->type[v->n], sizeof v->type[0], "%.*s", (int)ev->type_len, ev->type);
    v->received_ms[v->n] = ev->received_ms;
    v->occurred_ms[v->n] = ev->occurred_ms;
    v->n++;
    return v->stop_at && ev->seq == v->stop_at;
}

/* Scan and check the seqs visited are first..first+count-1, then *last and
 * *end. */
static void scan_expect(struct hub_store *s, uint64_t after, uint64_t until, uint64_t scan_max,
                        uint64_t stop_at, uint64_t first, size_t count, uint64_t want_last,
                        int want_end)
{
    struct seen v = {.stop_at = stop_at};
    struct hub_error err;
    uint64_t last = 12345;
    int end = 7;
    enum hub_err rc = hub_store_scan(s, after, until, scan_max, visit, &v, &last, &end, &err);
    if (rc)
        fail_msg("scan: %s", err.message);
    if (v.n != count)
        fail_msg("scan(after %llu, until %llu, max %llu, stop %llu): visited %zu events, want %zu",
                 (unsigned long long)after, (unsigned long long)until,
                 (unsigned long long)scan_max, (unsigned long long)stop_at, v.n, count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(v.seq[i], first + i);
    if (last != want_last || end != want_end)
        fail_msg("scan(after %llu, until %llu, max %llu, stop %llu): last %llu end %d, want last "
                 "%llu end %d",
                 (unsigned long long)after, (unsigned long long)until,
                 (unsigned long long)scan_max, (unsigned long long)stop_at,
                 (unsigned long long)last, end, (unsigned long long)want_last, want_end);
}

static void fill(struct hub_store *s, int n)
{
    begin(s);
    for (int i = 1; i <= n; i++) {
        char id[32], bytes[64];
        snprintf(id, sizeof id, "ev-%d", i);
        snprintf(bytes, sizeof bytes, "payload-%d", i);
        assert_int_equal(append_ok(s, "police", id, bytes, NULL), hub_store_last_seq(s) + i);
    }
    commit(s);
}

static uint64_t reject(struct hub_store *s, const char *source, enum hub_err code,
                       const char *field, const char *msg, const void *bytes, size_t len)
{
    struct hub_error why, err;
    hub_error_set(&why, code, field, "%s", msg);
    uint64_t id = 0;
    enum hub_err rc = hub_store_reject(s, 1740863650123LL, source, strlen(source), &why, bytes,
                                       len, &id, &err);
    if (rc)
        fail_msg("reject: %s", err.message);
    return id;
}

/* ---- tests ---- */

static void test_open_empty(void **state)
{
    struct fx *f = *state;
    assert_int_equal(hub_store_last_seq(f->s), 0);
    assert_int_equal(hub_store_last_reject(f->s), 0);
    assert_null(hub_store_txn(f->s));
    scan_expect(f->s, 0, 0, 100, 0, 1, 0, 0, 1);
    expect_verify(f->s, 0, 0);
    /* an empty batch commits */
    begin(f->s);
    commit(f->s);
    assert_int_equal(hub_store_last_seq(f->s), 0);
    /* the lock file exists in the directory */
    char path[600];
    struct stat st;
    snprintf(path, sizeof path, "%s/csphub.lock", f->dir);
    assert_int_equal(stat(path, &st), 0);
}

static void test_seqs_gap_free(void **state)
{
    struct fx *f = *state;
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "a", "A", NULL), 1);
    assert_int_equal(append_ok(f->s, "police", "b", "B", NULL), 2);
    assert_int_equal(append_ok(f->s, "council", "a", "A", NULL), 3);
    assert_int_equal(append_ok(f->s, "police", "c", "C", NULL), 4);
    commit(f->s);
    assert_int_equal(hub_store_last_seq(f->s), 4);
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "d", "D", NULL), 5);
    commit(f->s);
    begin(f->s);
    for (uint64_t i = 6; i <= 30; i++) {
        char id[16];
        snprintf(id, sizeof id, "x%llu", (unsigned long long)i);
        assert_int_equal(append_ok(f->s, "housing", id, id, NULL), i);
    }
    commit(f->s);
    assert_int_equal(hub_store_last_seq(f->s), 30);
    scan_expect(f->s, 0, 0, 1000, 0, 1, 30, 30, 1);
}

static void test_duplicate(void **state)
{
    struct fx *f = *state;
    int dup = -1;
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "a", "A-content", NULL), 1);
    assert_int_equal(append_ok(f->s, "police", "b", "B-content", NULL), 2);
    /* within the same transaction */
    assert_int_equal(append_ok(f->s, "police", "a", "A-content", &dup), 1);
    assert_int_equal(dup, 1);
    commit(f->s);
    /* in a later transaction */
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "b", "B-content", &dup), 2);
    assert_int_equal(dup, 1);
    /* a duplicate takes no seq: the next new event is 3 */
    assert_int_equal(append_ok(f->s, "police", "c", "C-content", &dup), 3);
    assert_int_equal(dup, 0);
    commit(f->s);
    assert_int_equal(hub_store_last_seq(f->s), 3);
    scan_expect(f->s, 0, 0, 100, 0, 1, 3, 3, 1);
}

static void test_id_conflict(void **state)
{
    struct fx *f = *state;
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "ev-42", "original", NULL), 1);
    commit(f->s);
    begin(f->s);
    struct hub_append a = mk("police", "ev-42", "changed");
    struct hub_error err = {0};
    uint64_t seq = 0;
    int dup = -1;
    assert_int_equal(hub_store_append(f->s, &a, &seq, &dup, &err), CSPH_ERR_ID_CONFLICT);
    assert_int_equal(err.code, CSPH_ERR_ID_CONFLICT);
    assert_string_equal(err.field, "id");
    assert_non_null(strstr(err.message, "ev-42"));
    assert_non_null(strstr(err.message, "police"));
    /* also within the transaction that appended it */
    assert_int_equal(append_ok(f->s, "police", "ev-43", "one", NULL), 2);
    a = mk("police", "ev-43", "two");
    assert_int_equal(hub_store_append(f->s, &a, &seq, &dup, &err), CSPH_ERR_ID_CONFLICT);
    /* a prefix of the content is different content too, and so is more */
    a = mk("police", "ev-43", "on");
    assert_int_equal(hub_store_append(f->s, &a, &seq, &dup, &err), CSPH_ERR_ID_CONFLICT);
    a = mk("police", "ev-43", "one!");
    assert_int_equal(hub_store_append(f->s, &a, &seq, &dup, &err), CSPH_ERR_ID_CONFLICT);
    assert_non_null(strstr(err.message, "(seq 2)"));
    commit(f->s);
    assert_int_equal(hub_store_last_seq(f->s), 2);
    /* nothing was appended for the conflicts */
    struct seen v = {0};
    uint64_t last;
    int end;
    assert_int_equal(hub_store_scan(f->s, 0, 0, 100, visit, &v, &last, &end, &err), CSPH_ERR_OK);
    assert_int_equal(v.n, 2);
    assert_string_equal(v.bytes[0], "original");
    assert_string_equal(v.bytes[1], "one");
}

static void test_same_id_other_source(void **state)
{
    struct fx *f = *state;
    int dup = -1;
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "ev-1", "X", NULL), 1);
    assert_int_equal(append_ok(f->s, "council", "ev-1", "X", &dup), 2);
    assert_int_equal(dup, 0);
    assert_int_equal(append_ok(f->s, "council", "ev-1", "X", &dup), 2);
    assert_int_equal(dup, 1);
    /* the key keeps source and id apart: "polic"+"eev-1" is not
     * "police"+"ev-1" */
    assert_int_equal(append_ok(f->s, "polic", "eev-1", "X", &dup), 3);
    assert_int_equal(dup, 0);
    commit(f->s);
}

static void test_abort(void **state)
{
    struct fx *f = *state;
    int dup = -1;
    fill(f->s, 3);
    begin(f->s);
    assert_int_equal(reject(f->s, "police", CSPH_ERR_BAD_EVENT, "victim", "m", "r1", 2), 1);
    commit(f->s);
    assert_int_equal(hub_store_last_reject(f->s), 1);

    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "gone-1", "G1", NULL), 4);
    assert_int_equal(append_ok(f->s, "police", "gone-2", "G2", NULL), 5);
    assert_int_equal(reject(f->s, "police", CSPH_ERR_BAD_EVENT, "victim", "m", "r2", 2), 2);
    hub_store_write_abort(f->s);
    assert_null(hub_store_txn(f->s));
    hub_store_write_abort(f->s); /* a second abort is harmless */
    assert_int_equal(hub_store_last_seq(f->s), 3);
    assert_int_equal(hub_store_last_reject(f->s), 1);
    scan_expect(f->s, 0, 0, 100, 0, 1, 3, 3, 1);
    struct hub_error err;
    struct seen v = {0};
    assert_int_equal(hub_store_get(f->s, 4, visit, &v, &err), CSPH_ERR_NOT_FOUND);

    begin(f->s);
    /* the dedup entry went with the batch: gone-2 with other content is new,
     * not a conflict, and the numbers are reused */
    assert_int_equal(append_ok(f->s, "police", "gone-2", "other", &dup), 4);
    assert_int_equal(dup, 0);
    assert_int_equal(append_ok(f->s, "police", "gone-1", "G1", &dup), 5);
    assert_int_equal(dup, 0);
    assert_int_equal(reject(f->s, "police", CSPH_ERR_BAD_EVENT, "victim", "m", "r3", 2), 2);
    commit(f->s);
    assert_int_equal(hub_store_last_seq(f->s), 5);
    assert_int_equal(hub_store_last_reject(f->s), 2);
    memset(&v, 0, sizeof v);
    assert_int_equal(hub_store_get(f->s, 4, visit, &v, &err), CSPH_ERR_OK);
    assert_string_equal(v.bytes[0], "other");
    expect_verify(f->s, 5, 0);
}

/* The index of committed batches is held in one index transaction and
 * committed for several at once: hub_store_index_applied lags while they
 * are held, settle_due commits at CSPH_INDEX_HOLD_BATCHES, settle at once,
 * and an abort drops what was held (the log keeps it). */
static void test_index_holds_batches(void **state)
{
    struct fx *f = *state;
    int dup;
    for (int i = 1; i < CSPH_INDEX_HOLD_BATCHES; i++) {
        char id[16];
        snprintf(id, sizeof id, "h%d", i);
        begin(f->s);
        assert_int_equal(append_ok(f->s, "police", id, id, NULL), (uint64_t)i);
        commit(f->s);
        assert_int_equal(hub_store_index_settle_due(f->s), 1); /* still held */
        assert_true(hub_store_index_open(f->s));
        assert_int_equal(hub_store_index_applied(f->s), 0);
    }
    /* held entries are found by later batches */
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "h1", "h1", &dup), 1);
    assert_int_equal(dup, 1);
    assert_int_equal(append_ok(f->s, "police", "h8", "h8", NULL), CSPH_INDEX_HOLD_BATCHES);
    commit(f->s);
    assert_int_equal(hub_store_index_settle_due(f->s), 0); /* the 8th: committed */
    assert_false(hub_store_index_open(f->s));
    assert_int_equal(hub_store_index_applied(f->s), CSPH_INDEX_HOLD_BATCHES);

    /* two more held, then a failed batch: the log keeps them, the index not */
    for (int i = 9; i <= 10; i++) {
        char id[16];
        snprintf(id, sizeof id, "h%d", i);
        begin(f->s);
        assert_int_equal(append_ok(f->s, "police", id, id, NULL), (uint64_t)i);
        commit(f->s);
    }
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "lost", "lost", NULL), 11);
    hub_store_write_abort(f->s);
    assert_false(hub_store_index_open(f->s));
    assert_int_equal(hub_store_last_seq(f->s), 10);
    assert_int_equal(hub_store_index_applied(f->s), CSPH_INDEX_HOLD_BATCHES);
    struct seen v = {0};
    struct hub_error err;
    assert_int_equal(hub_store_get(f->s, 10, visit, &v, &err), CSPH_ERR_OK);
    assert_string_equal(v.bytes[0], "h10");

    /* settle commits what is held at once, and never a batch in hand */
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "h11", "h11", NULL), 11);
    hub_store_index_settle(f->s); /* the batch is in hand: nothing */
    assert_int_equal(hub_store_index_applied(f->s), CSPH_INDEX_HOLD_BATCHES);
    commit(f->s);
    hub_store_index_settle(f->s);
    assert_false(hub_store_index_open(f->s));
    /* ... and does not claim the events it lacks (9 and 10): still behind,
     * for hub_ingest_catch_up */
    assert_int_equal(hub_store_index_applied(f->s), CSPH_INDEX_HOLD_BATCHES);
    /* level again, the next one counts */
    assert_int_equal(hub_store_index_begin(f->s, &err), CSPH_ERR_OK);
    assert_int_equal(hub_store_index_commit(f->s, 11, &err), CSPH_ERR_OK);
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "h12", "h12", NULL), 12);
    commit(f->s);
    hub_store_index_settle(f->s);
    assert_int_equal(hub_store_index_applied(f->s), 12);
    /* a caller that never settles (a re-derivation) still gets a commit
     * every CSPH_INDEX_HOLD_BATCHES batches, when the next one begins */
    for (int i = 1; i <= CSPH_INDEX_HOLD_BATCHES; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        begin(f->s);
        append_ok(f->s, "police", id, id, NULL);
        commit(f->s);
    }
    assert_int_equal(hub_store_index_applied(f->s), 12);
    begin(f->s);
    assert_int_equal(hub_store_index_applied(f->s), 12 + CSPH_INDEX_HOLD_BATCHES);
    commit(f->s);
}

/* ---- the person index ---- */

struct refs_seen {
    int n;
    int64_t t[16];
    uint64_t seq[16];
};

static int ref_visit(void *ctx, int64_t t, uint64_t seq)
{
    struct refs_seen *r = ctx;
    if (r->n < 16) {
        r->t[r->n] = t;
        r->seq[r->n] = seq;
    }
    r->n++;
    return 0;
}

static struct refs_seen refs_of(struct hub_store *s, char kind, const char *ref, int64_t from,
                                int64_t to)
{
    struct refs_seen r = {0};
    struct hub_error err;
    uint64_t applied;
    if (hub_store_refs(s, kind, ref, strlen(ref), from, to, ref_visit, &r, &applied, &err))
        fail_msg("refs: %s", err.message);
    return r;
}

static void index_ref(struct hub_store *s, char kind, const char *ref, int64_t t, uint64_t seq)
{
    struct hub_error err;
    if (hub_store_index_ref(s, kind, ref, strlen(ref), t, seq, &err))
        fail_msg("index_ref: %s", err.message);
}

/* A person's entries come back in (time, seq) order within the range asked,
 * whoever else is indexed beside them (a reference that is a prefix of
 * another, another kind with the same text), and one person's entries can
 * be dropped leaving the others'. Then the same once the index is written
 * with write() instead of through its map: the switch keeps every entry. */
static void person_index_checks(struct fx *f)
{
    begin(f->s);
    index_ref(f->s, 'p', "V-1", 3000, 3);
    index_ref(f->s, 'p', "V-1", 1000, 1);
    index_ref(f->s, 'p', "V-10", 2000, 2);
    index_ref(f->s, 'l', "V-1", 2500, 4);
    index_ref(f->s, 'p', "V-1", 1000, 1); /* the same entry twice: once */
    index_ref(f->s, 'p', "V-1", -500, 5); /* before 1970 sorts first */
    commit(f->s);
    hub_store_index_settle(f->s);
    struct refs_seen r = refs_of(f->s, 'p', "V-1", INT64_MIN, INT64_MAX);
    assert_int_equal(r.n, 3);
    assert_int_equal(r.t[0], -500);
    assert_int_equal(r.seq[1], 1);
    assert_int_equal(r.seq[2], 3);
    r = refs_of(f->s, 'p', "V-1", 1000, 2999);
    assert_int_equal(r.n, 1);
    assert_int_equal(r.seq[0], 1);
    assert_int_equal(refs_of(f->s, 'l', "V-1", INT64_MIN, INT64_MAX).n, 1);
    assert_int_equal(refs_of(f->s, 'p', "V-10", INT64_MIN, INT64_MAX).n, 1);

    struct hub_error err;
    begin(f->s);
    assert_int_equal(hub_store_drop_ref(f->s, 'p', "V-1", 3, &err), CSPH_ERR_OK);
    commit(f->s);
    hub_store_index_settle(f->s);
    assert_int_equal(refs_of(f->s, 'p', "V-1", INT64_MIN, INT64_MAX).n, 0);
    assert_int_equal(refs_of(f->s, 'p', "V-10", INT64_MIN, INT64_MAX).n, 1);
    assert_int_equal(refs_of(f->s, 'l', "V-1", INT64_MIN, INT64_MAX).n, 1);
}

static void test_person_index(void **state)
{
    struct fx *f = *state;
    assert_true(hub_store_index_writemap(f->s));
    person_index_checks(f);
}

static void test_index_leaves_writemap(void **state)
{
    struct fx *f = *state;
    int dup;
    fill(f->s, 50);
    hub_store_index_settle(f->s);
    assert_true(hub_store_index_writemap(f->s));
    assert_int_equal(hub_store_index_hold_events(f->s), CSPH_INDEX_HOLD_EVENTS);
    hub_store_index_writemap_max(f->s, 1); /* any index is larger */
    /* Batches are bounded as soon as the index has outgrown its map, before
     * the next begin switches: the first transaction written with write()
     * is no larger than the rest (LMDB keeps as many page buffers as its
     * largest transaction changed). */
    assert_true(hub_store_index_writemap(f->s));
    assert_int_equal(hub_store_index_hold_events(f->s), CSPH_INDEX_HOLD_EVENTS_COPIED);
    begin(f->s);
    assert_false(hub_store_index_writemap(f->s));
    assert_int_equal(hub_store_index_hold_events(f->s), CSPH_INDEX_HOLD_EVENTS_COPIED);
    /* what was indexed before is still there: a resend is known */
    assert_int_equal(append_ok(f->s, "police", "ev-7", "payload-7", &dup), 7);
    assert_int_equal(dup, 1);
    commit(f->s);
    hub_store_index_settle(f->s);
    assert_int_equal(hub_store_index_applied(f->s), 50);
    person_index_checks(f);
    /* and back through the map when the limit allows it */
    hub_store_index_writemap_max(f->s, 1ull << 40);
    begin(f->s);
    assert_true(hub_store_index_writemap(f->s));
    assert_int_equal(append_ok(f->s, "police", "ev-8", "payload-8", &dup), 8);
    assert_int_equal(dup, 1);
    commit(f->s);
    hub_store_index_settle(f->s);
    assert_int_equal(refs_of(f->s, 'p', "V-10", INT64_MIN, INT64_MAX).n, 1);
    /* what it wrote either way is there after a restart */
    reopen(f);
    assert_int_equal(hub_store_index_applied(f->s), hub_store_last_seq(f->s));
    assert_int_equal(refs_of(f->s, 'p', "V-10", INT64_MIN, INT64_MAX).n, 1);
}

/* The index's room is allocated ahead (64 MiB at first) but mapped in a
 * step a batch, 2 MiB while the index grows by less: the whole room in one
 * call held the loop for 170 to 460 ms once the index passed 200 MB. The
 * steps stay within the room and reach its end. */
static void test_index_room_in_steps(void **state)
{
    struct fx *f = *state;
    const uint64_t step = 2ull << 20;
    uint64_t reserved, populated, before = 0;
    int reached = 0;
    for (int round = 0; round < 40; round++) {
        begin(f->s);
        for (int i = 0; i < 10; i++) {
            char id[32];
            snprintf(id, sizeof id, "room-%d-%d", round, i);
            append_ok(f->s, "police", id, "payload", NULL);
        }
        commit(f->s);
        hub_store_index_settle(f->s);
        hub_store_index_room(f->s, &reserved, &populated);
        assert_true(reserved >= 64ull << 20);
        assert_true(populated <= reserved);
        /* ten small events grow the index by far less than a step (the
         * first step starts at the pages in use) */
        if (round > 0)
            assert_true(populated - before <= step + 2 * 4096);
        else
            assert_true(populated < reserved);
        reached |= populated == reserved;
        before = populated;
    }
    assert_true(reached);
}

static void test_close_aborts_open_batch(void **state)
{
    struct fx *f = *state;
    fill(f->s, 2);
    begin(f->s);
    append_ok(f->s, "police", "uncommitted", "U", NULL);
    reopen(f); /* close with the batch open */
    assert_int_equal(hub_store_last_seq(f->s), 2);
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "uncommitted", "other", NULL), 3);
    commit(f->s);
}

struct rseen {
    uint64_t id[MAXSEEN];
    int64_t received_ms[MAXSEEN];
    char source[MAXSEEN][80];
    char code[MAXSEEN][32];
    char field[MAXSEEN][200];
    char message[MAXSEEN][400];
    unsigned char bytes[MAXSEEN][64];
    size_t len[MAXSEEN];
    size_t n;
};

static int rvisit(void *ctx, const struct hub_stored_reject *r)
{
    struct rseen *v = ctx;
    assert_true(v->n < MAXSEEN);
    size_t i = v->n++;
    v->id[i] = r->id;
    v->received_ms[i] = r->received_ms;
    snprintf(v->source[i], sizeof v->source[0], "%.*s", (int)r->source_len, r->source);
    snprintf(v->code[i], sizeof v->code[0], "%s", r->code);
    snprintf(v->field[i], sizeof v->field[0], "%s", r->field);
    snprintf(v->message[i], sizeof v->message[0], "%s", r->message);
    assert_true(r->len <= sizeof v->bytes[0]);
    if (r->len)
        memcpy(v->bytes[i], r->bytes, r->len);
    v->len[i] = r->len;
    return 0;
}

static void rejects_expect(struct hub_store *s, uint64_t after, uint64_t max, uint64_t first,
                           size_t count, uint64_t want_last, int want_end, struct rseen *out)
{
    struct hub_error err;
    uint64_t last = 999;
    int end = 7;
    memset(out, 0, sizeof *out);
    assert_int_equal(hub_store_rejects(s, after, max, rvisit, out, &last, &end, &err),
                     CSPH_ERR_OK);
    if (out->n != count)
        fail_msg("rejects(after %llu, max %llu): %zu, want %zu", (unsigned long long)after,
                 (unsigned long long)max, out->n, count);
    for (size_t i = 0; i < count; i++)
        assert_int_equal(out->id[i], first + i);
    if (last != want_last || end != want_end)
        fail_msg("rejects(after %llu, max %llu): last %llu end %d, want %llu %d",
                 (unsigned long long)after, (unsigned long long)max, (unsigned long long)last, end,
                 (unsigned long long)want_last, want_end);
}

static void test_rejects(void **state)
{
    struct fx *f = *state;
    static const unsigned char bin[] = {0x81, 0xa2, 'i', 'd', 0x00, 0xff, 0xc1};
    char longsrc[300];
    memset(longsrc, 's', 64);
    longsrc[64] = 0;
    begin(f->s);
    assert_int_equal(reject(f->s, "police", CSPH_ERR_BAD_EVENT, "location.lsoa",
                            "location.lsoa must be an ONS LSOA code", bin, sizeof bin),
                     1);
    assert_int_equal(reject(f->s, "", CSPH_ERR_BAD_REQUEST, NULL, "not a map", "", 0), 2);
    assert_int_equal(reject(f->s, longsrc, CSPH_ERR_ID_CONFLICT, "id", "changed", "x", 1), 3);
    commit(f->s);
    begin(f->s);
    assert_int_equal(reject(f->s, "council", CSPH_ERR_TOO_LARGE, NULL, "big", "y", 1), 4);
    assert_int_equal(reject(f->s, "health", CSPH_ERR_UNKNOWN_TYPE, "type", "no schema", "z", 1),
                     5);
    commit(f->s);
    assert_int_equal(hub_store_last_reject(f->s), 5);
    /* rejections never enter the log */
    assert_int_equal(hub_store_last_seq(f->s), 0);

    static struct rseen rs;
    struct rseen *v = &rs;
    rejects_expect(f->s, 0, 100, 1, 5, 5, 1, v);
    assert_int_equal(v->received_ms[0], 1740863650123LL);
    assert_string_equal(v->source[0], "police");
    assert_string_equal(v->code[0], "bad_event");
    assert_string_equal(v->field[0], "location.lsoa");
    assert_string_equal(v->message[0], "location.lsoa must be an ONS LSOA code");
    assert_int_equal(v->len[0], sizeof bin);
    assert_memory_equal(v->bytes[0], bin, sizeof bin);
    assert_string_equal(v->source[1], "");
    assert_string_equal(v->code[1], "bad_request");
    assert_string_equal(v->field[1], "");
    assert_int_equal(v->len[1], 0);
    assert_string_equal(v->source[2], longsrc);
    assert_string_equal(v->code[2], "id_conflict");
    assert_string_equal(v->code[3], "too_large");
    assert_string_equal(v->code[4], "unknown_type");
    assert_string_equal(v->field[4], "type");

    /* paging */
    rejects_expect(f->s, 0, 2, 1, 2, 2, 0, v);
    rejects_expect(f->s, 2, 2, 3, 2, 4, 0, v);
    rejects_expect(f->s, 4, 2, 5, 1, 5, 1, v);
    rejects_expect(f->s, 3, 2, 4, 2, 5, 1, v); /* exactly the rest */
    rejects_expect(f->s, 5, 2, 0, 0, 5, 1, v);
    rejects_expect(f->s, 50, 2, 0, 0, 50, 1, v);
    rejects_expect(f->s, 0, 0, 0, 0, 0, 0, v);

    /* kept across a reopen */
    reopen(f);
    assert_int_equal(hub_store_last_reject(f->s), 5);
    rejects_expect(f->s, 0, 100, 1, 5, 5, 1, v);
    assert_memory_equal(v->bytes[0], bin, sizeof bin);
    assert_string_equal(v->message[0], "location.lsoa must be an ONS LSOA code");
    begin(f->s);
    assert_int_equal(reject(f->s, "police", CSPH_ERR_BAD_EVENT, "a", "b", "c", 1), 6);
    commit(f->s);
}

static void test_rejects_after_max_u64(void **state)
{
    /* PROTOCOL.md 7: rejects with `after` past every id returns nothing.
     * The wire accepts after up to 2^64-1 (server.c reads it with
     * hub_wire_u64(..., 0, UINT64_MAX, ...)). */
    struct fx *f = *state;
    begin(f->s);
    reject(f->s, "police", CSPH_ERR_BAD_EVENT, "a", "b", "c", 1);
    commit(f->s);
    static struct rseen v;
    rejects_expect(f->s, UINT64_MAX, 10, 0, 0, UINT64_MAX, 1, &v);
}

static void test_reopen_keeps_everything(void **state)
{
    struct fx *f = *state;
    struct hub_error err;
    int dup = -1;
    fill(f->s, 7);
    begin(f->s);
    reject(f->s, "police", CSPH_ERR_BAD_EVENT, "victim", "bad victim", "rej", 3);
    reject(f->s, "police", CSPH_ERR_BAD_EVENT, "victim", "bad victim", "rej", 3);
    commit(f->s);
    reopen(f);
    assert_int_equal(hub_store_last_seq(f->s), 7);
    assert_int_equal(hub_store_last_reject(f->s), 2);
    struct seen v = {0};
    uint64_t last;
    int end;
    assert_int_equal(hub_store_scan(f->s, 0, 0, 100, visit, &v, &last, &end, &err), CSPH_ERR_OK);
    assert_int_equal(v.n, 7);
    for (size_t i = 0; i < 7; i++) {
        char want[64];
        snprintf(want, sizeof want, "payload-%zu", i + 1);
        assert_int_equal(v.seq[i], i + 1);
        assert_string_equal(v.bytes[i], want);
        assert_string_equal(v.source[i], "police");
        assert_string_equal(v.type[i], "asb.report");
        assert_int_equal(v.occurred_ms[i], 1740863640000LL);
        assert_int_equal(v.received_ms[i], 1740863650000LL);
    }
    /* the idempotency index survived */
    begin(f->s);
    assert_int_equal(append_ok(f->s, "police", "ev-3", "payload-3", &dup), 3);
    assert_int_equal(dup, 1);
    struct hub_append a = mk("police", "ev-3", "payload-changed");
    uint64_t seq;
    assert_int_equal(hub_store_append(f->s, &a, &seq, &dup, &err), CSPH_ERR_ID_CONFLICT);
    /* and the chain continues from the committed tail */
    assert_int_equal(append_ok(f->s, "police", "ev-8", "payload-8", &dup), 8);
    commit(f->s);
    expect_verify(f->s, 8, 0);
}

static void test_scan(void **state)
{
    struct fx *f = *state;
    fill(f->s, 10);
    /* everything */
    scan_expect(f->s, 0, 0, 100, 0, 1, 10, 10, 1);
    scan_expect(f->s, 0, 0, 10, 0, 1, 10, 10, 1); /* scan_max exactly the count */
    /* after / until */
    scan_expect(f->s, 3, 7, 100, 0, 4, 4, 7, 1);
    scan_expect(f->s, 3, 0, 100, 0, 4, 7, 10, 1);
    scan_expect(f->s, 0, 1, 100, 0, 1, 1, 1, 1);
    scan_expect(f->s, 5, 5, 100, 0, 0, 0, 5, 1);  /* empty range */
    scan_expect(f->s, 0, 50, 100, 0, 1, 10, 10, 1); /* until beyond the tail */
    /* scan_max cuts: more remain */
    scan_expect(f->s, 0, 0, 4, 0, 1, 4, 4, 0);
    scan_expect(f->s, 4, 0, 4, 0, 5, 4, 8, 0);
    scan_expect(f->s, 8, 0, 4, 0, 9, 2, 10, 1);
    /* scan_max reached exactly at until: nothing left within the bound */
    scan_expect(f->s, 0, 4, 4, 0, 1, 4, 4, 1);
    scan_expect(f->s, 0, 5, 4, 0, 1, 4, 4, 0);
    scan_expect(f->s, 0, 0, 0, 0, 0, 0, 0, 0);
    /* the visitor stops */
    scan_expect(f->s, 0, 0, 100, 5, 1, 5, 5, 0);
    scan_expect(f->s, 0, 0, 100, 10, 1, 10, 10, 1); /* at the last event */
    scan_expect(f->s, 0, 7, 100, 7, 1, 7, 7, 1);    /* at until */
    scan_expect(f->s, 0, 8, 100, 7, 1, 7, 7, 0);
    scan_expect(f->s, 6, 0, 1, 7, 7, 1, 7, 0); /* stop and scan_max together */
    /* after the tail */
    scan_expect(f->s, 10, 0, 100, 0, 0, 0, 10, 1);
    scan_expect(f->s, 20, 0, 100, 0, 0, 0, 20, 1);
}

static void test_scan_after_max_u64(void **state)
{
    /* replay {after: 2^64-1} (accepted by server.c) must find nothing. */
    struct fx *f = *state;
    fill(f->s, 3);
    scan_expect(f->s, UINT64_MAX, 0, 100, 0, 0, 0, UINT64_MAX, 1);
}

static void test_get(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    fill(f->s, 5);
    struct seen v = {0};
    assert_int_equal(hub_store_get(f->s, 3, visit, &v, &err), CSPH_ERR_OK);
    assert_int_equal(v.n, 1);
    assert_int_equal(v.seq[0], 3);
    assert_string_equal(v.bytes[0], "payload-3");
    assert_string_equal(v.source[0], "police");
    assert_string_equal(v.type[0], "asb.report");
    memset(&v, 0, sizeof v);
    assert_int_equal(hub_store_get(f->s, 0, visit, &v, &err), CSPH_ERR_NOT_FOUND);
    assert_int_equal(err.code, CSPH_ERR_NOT_FOUND);
    assert_int_equal(v.n, 0);
    assert_int_equal(hub_store_get(f->s, 6, visit, &v, &err), CSPH_ERR_NOT_FOUND);
    assert_string_equal(err.field, "seq");
    assert_non_null(strstr(err.message, "6"));
    assert_int_equal(hub_store_get(f->s, UINT64_MAX, visit, &v, &err), CSPH_ERR_NOT_FOUND);
    assert_int_equal(v.n, 0);
}

static void test_locked(void **state)
{
    struct fx *f = *state;
    struct hub_store *second = NULL;
    struct hub_error err = {0};
    int fds = tu_open_fds();
    assert_int_equal(hub_store_open(&second, f->dir, MAP_SIZE, &err), CSPH_ERR_LOCKED);
    assert_null(second);
    assert_int_equal(err.code, CSPH_ERR_LOCKED);
    if (!strstr(err.message, "another hub"))
        fail_msg("message does not say 'another hub': %s", err.message);
    assert_non_null(strstr(err.message, f->dir));
    /* the failed open left nothing open */
    assert_int_equal(tu_open_fds(), fds);
    /* the first store still works */
    fill(f->s, 1);
    assert_int_equal(hub_store_last_seq(f->s), 1);
}

static void test_dir_is_a_file(void **state)
{
    struct fx *f = *state;
    char path[600];
    snprintf(path, sizeof path, "%s/plain-file", f->dir);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("not a directory\n", fp);
    fclose(fp);
    struct hub_store *s = NULL;
    struct hub_error err = {0};
    int fds = tu_open_fds();
    /* a setup to fix (exit status 2), not an I/O error */
    assert_int_equal(hub_store_open(&s, path, MAP_SIZE, &err), CSPH_ERR_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err.message, path));
    assert_int_equal(tu_open_fds(), fds);
    /* a directory whose parent is missing */
    snprintf(path, sizeof path, "%s/no/such/parent", f->dir);
    assert_int_equal(hub_store_open(&s, path, MAP_SIZE, &err), CSPH_ERR_CONFIG);
    assert_null(s);
    assert_int_equal(tu_open_fds(), fds);
}

/* The log behind the store's back (the store closed): one write
 * transaction on data.mdb with its "events" and "log.meta" databases. */
struct raw {
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi events, meta;
};

static void raw_open(struct raw *r, const char *dir)
{
    assert_int_equal(mdb_env_create(&r->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(r->env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(r->env, MAP_SIZE), 0);
    assert_int_equal(mdb_env_open(r->env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(r->env, NULL, 0, &r->txn), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "events", MDB_INTEGERKEY, &r->events), 0);
    assert_int_equal(mdb_dbi_open(r->txn, "log.meta", MDB_CREATE, &r->meta), 0);
}

static void raw_close(struct raw *r)
{
    assert_int_equal(mdb_txn_commit(r->txn), 0);
    mdb_env_close(r->env);
}

/* A copy of seq's stored value: received(8) occurred(8) link(16) type_len
 * type source_len source bytes. */
static size_t raw_get(struct raw *r, uint64_t seq, unsigned char *out, size_t cap)
{
    MDB_val k = {8, &seq}, v;
    assert_int_equal(mdb_get(r->txn, r->events, &k, &v), 0);
    assert_true(v.mv_size <= cap);
    memcpy(out, v.mv_data, v.mv_size);
    return v.mv_size;
}

static void raw_put(struct raw *r, uint64_t seq, const unsigned char *val, size_t len)
{
    MDB_val k = {8, &seq}, v = {len, (void *)val};
    assert_int_equal(mdb_put(r->txn, r->events, &k, &v, 0), 0);
}

/* Change the last byte of seq's content, as someone editing the file would. */
static void tamper(const char *dir, uint64_t seq)
{
    struct raw r;
    unsigned char val[512];
    raw_open(&r, dir);
    size_t n = raw_get(&r, seq, val, sizeof val);
    val[n - 1] ^= 1; /* "payload-7" -> "payload-6" */
    raw_put(&r, seq, val, n);
    raw_close(&r);
}

static void test_verify_intact_and_tampered(void **state)
{
    struct fx *f = *state;
    fill(f->s, 12);
    expect_verify(f->s, 12, 0);

    hub_store_close(&f->s);
    tamper(f->dir, 7);
    reopen(f);
    expect_verify(f->s, 6, 7);
}

/* A new log records chain version 2, and each link is what an auditor
 * computes from the documented formula with any SHA-256: the first 16
 * bytes of SHA-256(previous link, seq as 8 little-endian bytes, the stored
 * value without its link). */
static void test_chain_sha256_formula(void **state)
{
    struct fx *f = *state;
    fill(f->s, 3);
    assert_string_equal(hub_store_chain_name(f->s), "SHA-256, version 2");
    hub_store_close(&f->s);

    struct raw r;
    raw_open(&r, f->dir);
    MDB_val k = {5, "chain"}, v;
    assert_int_equal(mdb_get(r.txn, r.meta, &k, &v), 0);
    assert_int_equal(v.mv_size, 4);
    assert_memory_equal(v.mv_data, "\x02\x00\x00\x00", 4);
    unsigned char prev[16] = {0};
    for (uint64_t seq = 1; seq <= 3; seq++) {
        unsigned char val[512], buf[600], digest[EVP_MAX_MD_SIZE];
        size_t n = raw_get(&r, seq, val, sizeof val), m = 0;
        memcpy(buf, prev, 16);
        m = 16;
        for (int i = 0; i < 8; i++)
            buf[m++] = (unsigned char)(seq >> (8 * i));
        memcpy(buf + m, val, 16);
        m += 16;
        memcpy(buf + m, val + 32, n - 32);
        m += n - 32;
        assert_non_null(EVP_Q_digest(NULL, "SHA256", NULL, buf, m, digest, NULL));
        assert_memory_equal(val + 16, digest, 16);
        memcpy(prev, val + 16, 16);
    }
    raw_close(&r);
    reopen(f);
}

/* A log started before chain version 2 (events, no "chain" record) keeps
 * version 1, BLAKE2b-128 over the content's own BLAKE2b-128: it verifies,
 * takes new events in the same version (its links never change), and an
 * edit still shows. A version this hub does not know is refused. */
static void test_chain_blake2b_log_kept(void **state)
{
    struct fx *f = *state;
    struct hub_error err;
    hub_store_close(&f->s);

    struct raw r;
    raw_open(&r, f->dir);
    MDB_val k = {5, "chain"};
    assert_int_equal(mdb_del(r.txn, r.meta, &k, NULL), 0);
    unsigned char prev[16] = {0};
    for (uint64_t seq = 1; seq <= 3; seq++) {
        unsigned char val[128], content[16];
        char bytes[32];
        size_t n = 32, blen = (size_t)snprintf(bytes, sizeof bytes, "old-payload-%d", (int)seq);
        int64_t received = 1700000000000LL + (int64_t)seq, occurred = received - 1000;
        memcpy(val, &received, 8);
        memcpy(val + 8, &occurred, 8);
        val[n++] = 10;
        memcpy(val + n, "asb.report", 10);
        n += 10;
        val[n++] = 6;
        memcpy(val + n, "police", 6);
        n += 6;
        memcpy(val + n, bytes, blen);
        n += blen;
        crypto_generichash(content, 16, (const unsigned char *)bytes, blen, NULL, 0);
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, 16);
        crypto_generichash_update(&st, prev, 16);
        crypto_generichash_update(&st, (const unsigned char *)&seq, 8);
        crypto_generichash_update(&st, val, 16);
        crypto_generichash_update(&st, val + 32, n - 32 - blen);
        crypto_generichash_update(&st, content, 16);
        crypto_generichash_final(&st, prev, 16);
        memcpy(val + 16, prev, 16);
        raw_put(&r, seq, val, n);
    }
    raw_close(&r);

    reopen(f);
    assert_string_equal(hub_store_chain_name(f->s), "BLAKE2b-128, version 1");
    expect_verify(f->s, 3, 0);
    fill(f->s, 2);
    reopen(f);
    assert_string_equal(hub_store_chain_name(f->s), "BLAKE2b-128, version 1");
    expect_verify(f->s, 5, 0);

    hub_store_close(&f->s);
    tamper(f->dir, 4);
    reopen(f);
    expect_verify(f->s, 3, 4);

    hub_store_close(&f->s);
    raw_open(&r, f->dir);
    MDB_val v = {4, "\x09\x00\x00\x00"};
    assert_int_equal(mdb_put(r.txn, r.meta, &k, &v, 0), 0);
    raw_close(&r);
    assert_int_equal(hub_store_open(&f->s, f->dir, MAP_SIZE, &err), CSPH_ERR_IO);
    assert_null(f->s);
    assert_string_equal(err.field, "data_dir");
    assert_non_null(strstr(err.message, "hash chain of version 9"));
    /* teardown reopens the directory: give it back a version it knows */
    raw_open(&r, f->dir);
    v.mv_data = "\x01\x00\x00\x00";
    assert_int_equal(mdb_put(r.txn, r.meta, &k, &v, 0), 0);
    raw_close(&r);
}

static void test_dbi_in_batch(void **state)
{
    struct fx *f = *state;
    struct hub_error err;
    MDB_dbi dbi;
    MDB_val k = {3, "key"}, v = {5, "value"}, got;
    begin(f->s);
    assert_int_equal(hub_store_dbi(f->s, "t.queue", 0, &dbi, &err), CSPH_ERR_OK);
    assert_int_equal(mdb_put(hub_store_txn(f->s), dbi, &k, &v, 0), 0);
    hub_store_write_abort(f->s);
    begin(f->s);
    assert_int_equal(hub_store_dbi(f->s, "t.queue", 0, &dbi, &err), CSPH_ERR_OK);
    assert_int_equal(mdb_get(hub_store_txn(f->s), dbi, &k, &got), MDB_NOTFOUND);
    assert_int_equal(mdb_put(hub_store_txn(f->s), dbi, &k, &v, 0), 0);
    append_ok(f->s, "police", "with-state", "S", NULL);
    commit(f->s);
    reopen(f);
    begin(f->s);
    assert_int_equal(hub_store_dbi(f->s, "t.queue", 0, &dbi, &err), CSPH_ERR_OK);
    assert_int_equal(mdb_get(hub_store_txn(f->s), dbi, &k, &got), 0);
    assert_int_equal(got.mv_size, 5);
    assert_memory_equal(got.mv_data, "value", 5);
    hub_store_write_abort(f->s);
}

static void test_next_seq(void **state)
{
    struct fx *f = *state;
    fill(f->s, 2);
    begin(f->s);
    assert_int_equal(hub_store_next_seq(f->s), 3);
    append_ok(f->s, "police", "n1", "N1", NULL);
    assert_int_equal(hub_store_next_seq(f->s), 4);
    int dup = -1;
    append_ok(f->s, "police", "n1", "N1", &dup);
    assert_int_equal(dup, 1);
    assert_int_equal(hub_store_next_seq(f->s), 4);
    hub_store_write_abort(f->s);
    begin(f->s);
    assert_int_equal(hub_store_next_seq(f->s), 3);
    hub_store_write_abort(f->s);
}

/* In a child process: open dir read-only and check what a reader sees.
 * The exit status says which check failed (0: all good). */
static int readonly_child(const char *dir, uint64_t want_seq, uint64_t want_rejects)
{
    struct hub_store *r = NULL;
    struct hub_error err;
    if (hub_store_open_readonly(&r, dir, &err) != CSPH_ERR_OK) {
        fprintf(stderr, "read-only open: %s\n", err.message);
        return 1;
    }
    int rc = 0;
    struct seen v = {0};
    uint64_t last = 0, checked = 0, bad = 1;
    int end = 0;
    if (hub_store_last_seq(r) != want_seq || hub_store_last_reject(r) != want_rejects)
        rc = 2;
    else if (hub_store_scan(r, 0, 0, 100, visit, &v, &last, &end, &err) != CSPH_ERR_OK ||
             v.n != want_seq || last != want_seq || end != 1)
        rc = 3;
    else if (hub_store_verify(r, &checked, &bad, NULL, &err) != CSPH_ERR_OK || checked != want_seq ||
             bad != 0)
        rc = 4;
    hub_store_close(&r);
    return rc;
}

static void test_readonly(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    fill(f->s, 4);
    begin(f->s);
    reject(f->s, "police", CSPH_ERR_BAD_EVENT, "a", "b", "c", 1);
    commit(f->s);
    /* an auditor's process reads the log while the hub holds it (LMDB
     * forbids one environment opened twice in one process) */
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(readonly_child(f->dir, 4, 1));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail_msg("read-only reader beside the open store: status %d", status);
    /* and in this process once the hub's store is closed */
    hub_store_close(&f->s);
    assert_int_equal(readonly_child(f->dir, 4, 1), 0);
    /* a directory with no log */
    f->dir2 = tu_tmpdir("store-empty");
    assert_int_equal(hub_store_open_readonly(&f->s2, f->dir2, &err), CSPH_ERR_IO);
    assert_null(f->s2);
    assert_non_null(strstr(err.message, f->dir2));
}

static void test_map_full(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    f->dir2 = tu_tmpdir("store-full");
    assert_int_equal(hub_store_open(&f->s2, f->dir2, 1ull << 20, &err), CSPH_ERR_OK);
    struct hub_store *s = f->s2;
    fill(s, 3);
    static char big[4097];
    memset(big, 'b', 4096);
    big[4096] = 0;
    begin(s);
    enum hub_err rc = CSPH_ERR_OK;
    int n = 0;
    for (; n < 10000 && rc == CSPH_ERR_OK; n++) {
        char id[32];
        snprintf(id, sizeof id, "big-%d", n);
        big[0] = (char)('a' + n % 26);
        struct hub_append a = mk("police", id, big);
        uint64_t seq;
        int dup;
        rc = hub_store_append(s, &a, &seq, &dup, &err);
        if (rc == CSPH_ERR_OK)
            assert_int_equal(seq, 4 + (uint64_t)n);
    }
    if (rc != CSPH_ERR_BUSY)
        fail_msg("after %d appends of 4 KiB into a 1 MiB map: %s (%s), want busy", n,
                 hub_err_name(rc), err.message);
    assert_int_equal(err.code, CSPH_ERR_BUSY);
    assert_true(n > 10); /* it did fill, it did not fail at once */
    hub_store_write_abort(s);
    assert_int_equal(hub_store_last_seq(s), 3);
    /* reads still work */
    struct seen v = {0};
    uint64_t last;
    int end;
    assert_int_equal(hub_store_scan(s, 0, 0, 100, visit, &v, &last, &end, &err), CSPH_ERR_OK);
    assert_int_equal(v.n, 3);
    assert_int_equal(last, 3);
    assert_int_equal(end, 1);
    memset(&v, 0, sizeof v);
    assert_int_equal(hub_store_get(s, 2, visit, &v, &err), CSPH_ERR_OK);
    assert_string_equal(v.bytes[0], "payload-2");
    expect_verify(s, 3, 0);
    /* and a small batch still commits */
    begin(s);
    assert_int_equal(append_ok(s, "police", "small", "S", NULL), 4);
    commit(s);
    assert_int_equal(hub_store_last_seq(s), 4);
}

struct usage_seen {
    char source[8][64];
    uint64_t count[8], bytes[8], dropped[8];
    int n;
};

static int usage_visit(void *ctx, const char *source, size_t len, uint64_t count, uint64_t bytes,
                       uint64_t dropped)
{
    struct usage_seen *u = ctx;
    snprintf(u->source[u->n], sizeof u->source[0], "%.*s", (int)len, source);
    u->count[u->n] = count;
    u->bytes[u->n] = bytes;
    u->dropped[u->n] = dropped;
    return ++u->n == 8;
}

static int count_rejects(void *ctx, const struct hub_stored_reject *r)
{
    (*(int *)ctx)++;
    (void)r;
    return 0;
}

/* The bound per source: beyond it that source's oldest go in the same
 * transaction, counted; other sources keep theirs; the ids left are the
 * newest; a rejection dropped is not listed. Counted across a reopen. */
static void test_rejects_bounded_per_source(void **state)
{
    struct fx *f = *state;
    hub_store_reject_limits(f->s, 3, 0);
    begin(f->s);
    for (int i = 0; i < 5; i++)
        reject(f->s, "noisy", CSPH_ERR_BAD_EVENT, "x", "bad", "abc", 3);
    reject(f->s, "quiet", CSPH_ERR_BAD_EVENT, "x", "bad", "abc", 3);
    commit(f->s);
    struct usage_seen u = {0};
    uint64_t dropped;
    struct hub_error err;
    assert_int_equal(hub_store_reject_usage(f->s, usage_visit, &u, &dropped, &err), 0);
    assert_int_equal(dropped, 2);
    assert_int_equal(u.n, 2);
    assert_string_equal(u.source[0], "noisy");
    assert_int_equal(u.count[0], 3);
    assert_int_equal(u.dropped[0], 2);
    assert_string_equal(u.source[1], "quiet");
    assert_int_equal(u.count[1], 1);
    assert_int_equal(u.dropped[1], 0);
    int listed = 0;
    uint64_t last;
    int end;
    assert_int_equal(hub_store_rejects(f->s, 0, 100, count_rejects, &listed, &last, &end, &err),
                     0);
    assert_int_equal(listed, 4); /* noisy 3, 4, 5 and quiet 6 */
    assert_int_equal(last, 6);
    /* The byte bound, and the count kept across a reopen. */
    reopen(f);
    uint64_t one = u.bytes[1]; /* a stored rejection's size */
    hub_store_reject_limits(f->s, 100, 2 * one);
    begin(f->s);
    reject(f->s, "quiet", CSPH_ERR_BAD_EVENT, "x", "bad", "abc", 3);
    reject(f->s, "quiet", CSPH_ERR_BAD_EVENT, "x", "bad", "abc", 3);
    commit(f->s);
    memset(&u, 0, sizeof u);
    assert_int_equal(hub_store_reject_usage(f->s, usage_visit, &u, &dropped, &err), 0);
    assert_int_equal(u.count[1], 2);
    assert_int_equal(u.bytes[1], 2 * one);
    assert_int_equal(u.dropped[1], 1);
    assert_int_equal(dropped, 3);
    assert_int_equal(hub_store_last_reject(f->s), 8);
}

/* index.state: an unclean stop is trusted once; the second in a row
 * rebuilds (the index emptied, caught up from the log later). A fork is
 * the hub that dies without closing. */
static void die_holding(struct fx *f)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct hub_store *s;
        struct hub_error err;
        hub_store_close(&f->s); /* the child's copy: releases nothing of the parent's */
        _exit(hub_store_open(&s, f->dir, MAP_SIZE, &err) == CSPH_ERR_OK ? 0 : 1);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_unclean_starts_counted(void **state)
{
    struct fx *f = *state;
    begin(f->s);
    append_ok(f->s, "police", "a", "\x80", NULL);
    commit(f->s);
    hub_store_index_settle(f->s);
    assert_int_equal(hub_store_index_applied(f->s), 1);
    hub_store_close(&f->s);
    /* A run that dies: the next start trusts the index (applied 1). */
    die_holding(f);
    struct hub_error err;
    assert_int_equal(hub_store_open(&f->s, f->dir, MAP_SIZE, &err), 0);
    assert_int_equal(hub_store_index_applied(f->s), 1);
    hub_store_close(&f->s);
    /* Two in a row: the start after the second rebuilds. */
    die_holding(f);
    die_holding(f);
    assert_int_equal(hub_store_open(&f->s, f->dir, MAP_SIZE, &err), 0);
    assert_int_equal(hub_store_index_applied(f->s), 0); /* rebuilt: empty */
    char path[600], buf[128];
    snprintf(path, sizeof path, "%s/index.state", f->dir);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf - 1, fp);
    buf[n] = 0;
    fclose(fp);
    assert_non_null(strstr(buf, "clean 0\nunclean 0\n"));
}

/* MDB_CORRUPTED seen at any time marks the index: a clean stop does not
 * mark it clean, and the next open rebuilds it and removes the mark. */
static void test_damage_marks_index(void **state)
{
    struct fx *f = *state;
    begin(f->s);
    append_ok(f->s, "police", "a", "\x80", NULL);
    commit(f->s);
    hub_store_index_settle(f->s);
    assert_int_equal(hub_store_index_damaged(MDB_NOTFOUND), 0);
    assert_int_equal(hub_store_index_damaged(MDB_CORRUPTED), 1);
    assert_int_equal(hub_store_needs_heal(f->s), 1);
    /* The next batch empties the index for its rebuild and is refused:
     * against an empty index a resend would not be a duplicate. */
    struct hub_error err;
    assert_int_equal(hub_store_write_begin(f->s, &err), CSPH_ERR_BUSY);
    assert_non_null(strstr(err.message, "rebuilding its index"));
    assert_null(hub_store_txn(f->s));
    struct hub_store_health h;
    hub_store_health(f->s, &h);
    assert_string_equal(h.index, "rebuilding");
    assert_int_equal(h.index_applied, 0);
    assert_int_equal(h.log_last, 1);
    hub_store_close(&f->s);
    /* Closed mid-rebuild: not marked clean, rebuilt again at the open. */
    char path[600];
    snprintf(path, sizeof path, "%s/index.state", f->dir);
    FILE *fp = fopen(path, "r");
    char buf[128] = "";
    assert_non_null(fp);
    assert_true(fread(buf, 1, sizeof buf - 1, fp) > 0);
    fclose(fp);
    assert_non_null(strstr(buf, "clean 0"));
    assert_int_equal(hub_store_open(&f->s, f->dir, MAP_SIZE, &err), 0);
    assert_int_equal(hub_store_index_applied(f->s), 0);
    assert_int_equal(hub_store_needs_heal(f->s), 1); /* behind: ingest catches up */
}

/* Reopening the log in place: the same tail, the same answers. */
static void test_reopen_log_in_place(void **state)
{
    struct fx *f = *state;
    begin(f->s);
    append_ok(f->s, "police", "a", "\x80", NULL);
    append_ok(f->s, "police", "b", "\x80", NULL);
    commit(f->s);
    struct hub_error err;
    int fds = tu_open_fds();
    assert_int_equal(hub_store_reopen_log(f->s, &err), 0);
    assert_int_equal(tu_open_fds(), fds); /* the old descriptors went first */
    assert_int_equal(hub_store_last_seq(f->s), 2);
    struct hub_store_health h;
    hub_store_health(f->s, &h);
    assert_int_equal(h.log_reopens, 1);
    assert_string_equal(h.log, "ok");
    begin(f->s);
    uint64_t seq;
    int dup;
    struct hub_append ev = mk("police", "a", "\x80");
    assert_int_equal(hub_store_append(f->s, &ev, &seq, &dup, &err), 0);
    assert_int_equal(dup, 1);
    assert_int_equal(seq, 1);
    append_ok(f->s, "police", "c", "\x80", NULL);
    commit(f->s);
    expect_verify(f->s, 3, 0);
}

/* A scratch log (what-if's temporary one) commits without a sync, and
 * stays so when the log is reopened in place; a hub's own log syncs. */
static void test_scratch_log(void **state)
{
    struct fx *f = *state;
    unsigned flags;
    assert_int_equal(mdb_env_get_flags(hub_store_env(f->s), &flags), 0);
    assert_false(flags & MDB_NOSYNC);
    hub_store_scratch(f->s);
    assert_int_equal(mdb_env_get_flags(hub_store_env(f->s), &flags), 0);
    assert_true(flags & MDB_NOSYNC);
    begin(f->s);
    append_ok(f->s, "police", "a", "\x80", NULL);
    commit(f->s);
    struct hub_error err;
    assert_int_equal(hub_store_reopen_log(f->s, &err), 0);
    assert_int_equal(mdb_env_get_flags(hub_store_env(f->s), &flags), 0);
    assert_true(flags & MDB_NOSYNC);
    assert_int_equal(hub_store_last_seq(f->s), 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_empty),
        T(test_seqs_gap_free),
        T(test_duplicate),
        T(test_index_holds_batches),
        T(test_id_conflict),
        T(test_same_id_other_source),
        T(test_abort),
        T(test_person_index),
    T(test_index_leaves_writemap),
    T(test_index_room_in_steps),
    T(test_close_aborts_open_batch),
        T(test_rejects),
        T(test_reopen_keeps_everything),
        T(test_scan),
        T(test_get),
        T(test_locked),
        T(test_dir_is_a_file),
        T(test_verify_intact_and_tampered),
        T(test_chain_sha256_formula),
        T(test_chain_blake2b_log_kept),
        T(test_dbi_in_batch),
        T(test_map_full),
        T(test_rejects_bounded_per_source),
        T(test_unclean_starts_counted),
        T(test_damage_marks_index),
        T(test_reopen_log_in_place),
        T(test_scratch_log),
        T(test_next_seq),
        T(test_readonly),
        T(test_scan_after_max_u64),
        T(test_rejects_after_max_u64),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
