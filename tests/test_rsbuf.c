/* test_rsbuf.c: the rule state's write buffer (hub/rsbuf.c): records held
 * per series in point order, found by (prefix, point), replaced in place,
 * walked from a point, written into an LMDB database in key order. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

#include "rsbuf.h"
#include "testutil.h"

static uint64_t hash_of(const char *p) /* any hash: collisions are the table's business */
{
    uint64_t h = 1469598103934665603ull;
    for (; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}

static void pt(unsigned char out[16], uint64_t hi, uint64_t lo)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(hi >> (56 - 8 * i));
        out[8 + i] = (unsigned char)(lo >> (56 - 8 * i));
    }
}

static int put(struct hub_rsbuf *b, const char *prefix, uint64_t hi, uint64_t lo, const char *v)
{
    unsigned char p[16];
    pt(p, hi, lo);
    return hub_rsbuf_put(b, hash_of(prefix), (const unsigned char *)prefix, strlen(prefix), p, v,
                         strlen(v));
}

static const char *get(struct hub_rsbuf *b, const char *prefix, uint64_t hi, uint64_t lo)
{
    static char out[CSPH_RSBUF_VALUE_MAX + 1];
    unsigned char p[16];
    struct hub_rsbuf_rec r;
    pt(p, hi, lo);
    if (!hub_rsbuf_get(b, hash_of(prefix), (const unsigned char *)prefix, strlen(prefix), p, &r))
        return NULL;
    memcpy(out, r.val, r.len);
    out[r.len] = 0;
    return out;
}

/* Records come back by (prefix, point), a later put replacing the value;
 * a walk visits one series in point order from the first at or after a
 * point, whatever order the puts came in. */
static void test_put_get_walk(void **state)
{
    (void)state;
    struct hub_rsbuf *b = hub_rsbuf_new();
    assert_non_null(b);
    /* put answers how many records the series holds now */
    assert_int_equal(put(b, "alice", 5, 0, "a5"), 1);
    assert_int_equal(put(b, "alice", 1, 9, "a1"), 2);
    assert_int_equal(put(b, "alice", 3, 0, "a3"), 3);
    assert_int_equal(put(b, "bob", 3, 0, "b3"), 1);
    assert_int_equal(put(b, "alice", 3, 0, "a3 again"), 3); /* replaced */
    assert_int_equal(put(b, "alice", 1, 10, ""), 4);
    assert_int_equal(hub_rsbuf_count(b), 5);
    assert_string_equal(get(b, "alice", 3, 0), "a3 again");
    assert_string_equal(get(b, "bob", 3, 0), "b3");
    assert_string_equal(get(b, "alice", 1, 10), "");
    assert_null(get(b, "alice", 4, 0));
    assert_null(get(b, "alic", 3, 0)); /* a prefix of a prefix is another series */
    assert_null(get(b, "carol", 3, 0));
    unsigned char from[16];
    pt(from, 1, 10);
    struct hub_rsbuf_it it;
    struct hub_rsbuf_rec r;
    const char *want[] = {"", "a3 again", "a5"};
    size_t n = 0;
    for (int ok = hub_rsbuf_seek(b, hash_of("alice"), (const unsigned char *)"alice", 5, from, &it,
                                 &r);
         ok; ok = hub_rsbuf_next(&it, &r)) {
        assert_true(n < 3);
        assert_int_equal(r.len, strlen(want[n]));
        assert_memory_equal(r.val, want[n], r.len);
        n++;
    }
    assert_int_equal(n, 3);
    pt(from, 6, 0);
    assert_int_equal(hub_rsbuf_seek(b, hash_of("alice"), (const unsigned char *)"alice", 5, from,
                                    &it, &r),
                     0);
    hub_rsbuf_clear(b);
    assert_int_equal(hub_rsbuf_count(b), 0);
    assert_null(get(b, "alice", 3, 0));
    assert_int_equal(put(b, "alice", 3, 0, "after clear"), 1);
    assert_string_equal(get(b, "alice", 3, 0), "after clear");
    hub_rsbuf_free(&b);
    assert_null(b);
    hub_rsbuf_free(&b);
}

/* Out-of-range sizes are refused and hold nothing. */
static void test_refuses(void **state)
{
    (void)state;
    struct hub_rsbuf *b = hub_rsbuf_new();
    unsigned char p[16] = {0};
    char big[CSPH_RSBUF_VALUE_MAX + 1];
    memset(big, 'v', sizeof big);
    assert_int_equal(hub_rsbuf_put(b, 1, (const unsigned char *)"k", 1, p, big, sizeof big), -1);
    assert_int_equal(hub_rsbuf_put(b, 1, (const unsigned char *)"k", 0, p, "v", 1), -1);
    assert_int_equal(hub_rsbuf_count(b), 0);
    hub_rsbuf_free(&b);
}

/* Many series (the table grows, colliding hashes included) and many
 * records a series; the write puts each record once, under prefix ||
 * point, in key order, and empties the buffer. */
static void test_many_and_write(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("rsbuf");
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 4), 0);
    assert_int_equal(mdb_env_set_mapsize(env, 64u << 20), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_NOSYNC, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "state", MDB_CREATE, &dbi), 0);
    struct hub_rsbuf *b = hub_rsbuf_new();
    char prefix[32], val[32];
    unsigned char p[16];
    for (int i = 0; i < 5000; i++) {
        snprintf(prefix, sizeof prefix, "person-%d", i % 1000);
        snprintf(val, sizeof val, "v%d", i);
        pt(p, (uint64_t)(7919 * i % 5000), (uint64_t)i);
        /* hash: only 16 distinct values, so that the table must compare prefixes */
        assert_true(hub_rsbuf_put(b, hash_of(prefix) & 15, (const unsigned char *)prefix,
                                  strlen(prefix), p, val, strlen(val)) >= 1);
    }
    assert_int_equal(hub_rsbuf_count(b), 5000);
    snprintf(prefix, sizeof prefix, "person-%d", 4321 % 1000);
    pt(p, (uint64_t)(7919 * 4321 % 5000), 4321);
    struct hub_rsbuf_rec r;
    assert_int_equal(hub_rsbuf_get(b, hash_of(prefix) & 15, (const unsigned char *)prefix,
                                   strlen(prefix), p, &r),
                     1);
    assert_memory_equal(r.val, "v4321", 5);
    /* one series written ahead (a busy key): held no more, in the tree */
    const char *busy = "person-7";
    assert_int_equal(hub_rsbuf_write_series(b, hash_of(busy) & 15, (const unsigned char *)busy,
                                            strlen(busy), txn, dbi),
                     0);
    assert_int_equal(hub_rsbuf_count(b), 4995);
    struct hub_rsbuf_it it;
    unsigned char zero[16] = {0};
    assert_int_equal(hub_rsbuf_seek(b, hash_of(busy) & 15, (const unsigned char *)busy,
                                    strlen(busy), zero, &it, &r),
                     0);
    MDB_stat st0;
    assert_int_equal(mdb_stat(txn, dbi, &st0), 0);
    assert_int_equal(st0.ms_entries, 5);
    assert_int_equal(hub_rsbuf_put(b, hash_of(busy) & 15, (const unsigned char *)busy,
                                   strlen(busy), zero, "again", 5),
                     1); /* a new list for it */
    assert_int_equal(hub_rsbuf_write(b, txn, dbi), 0);
    assert_int_equal(hub_rsbuf_count(b), 0);
    MDB_stat st;
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    assert_int_equal(st.ms_entries, 5001);
    /* the tree's order is prefix then point */
    MDB_cursor *c;
    MDB_val k, v, prev = {0, NULL};
    assert_int_equal(mdb_cursor_open(txn, dbi, &c), 0);
    size_t n = 0;
    unsigned char last[64];
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT), n++) {
        if (prev.mv_data) {
            size_t m = prev.mv_size < k.mv_size ? prev.mv_size : k.mv_size;
            int cmp = memcmp(last, k.mv_data, m);
            assert_true(cmp < 0 || (cmp == 0 && prev.mv_size < k.mv_size));
        }
        memcpy(last, k.mv_data, k.mv_size);
        prev = (MDB_val){k.mv_size, last};
    }
    assert_int_equal(n, 5001);
    mdb_cursor_close(c);
    k = (MDB_val){0, NULL};
    unsigned char key[64];
    size_t pl = strlen(prefix);
    memcpy(key, prefix, pl);
    memcpy(key + pl, p, 16);
    k = (MDB_val){pl + 16, key};
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    assert_int_equal(v.mv_size, 5);
    assert_memory_equal(v.mv_data, "v4321", 5);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    hub_rsbuf_free(&b);
    tu_rmrf(dir);
    free(dir);
}

/* A buffer keeps its room between transactions of about one size and gives
 * it back after one that held far less (the index switched to smaller
 * transactions); it holds and finds records as before afterwards. */
static void test_room_follows_the_transaction(void **state)
{
    (void)state;
    struct hub_rsbuf *b = hub_rsbuf_new();
    assert_non_null(b);
    char prefix[32];
    for (int round = 0; round < 2; round++) {
        for (uint64_t i = 0; i < 30000; i++) {
            snprintf(prefix, sizeof prefix, "p%llu", (unsigned long long)(i % 7000));
            assert_true(put(b, prefix, i, round, "v") > 0);
        }
        assert_int_equal(hub_rsbuf_count(b), 30000);
        hub_rsbuf_clear(b);
    }
    size_t big = hub_rsbuf_room(b);
    assert_true(big > (1u << 20)); /* kept: the second round was as large */
    assert_int_equal(put(b, "alice", 1, 0, "a1"), 1);
    hub_rsbuf_clear(b);
    assert_true(hub_rsbuf_room(b) < big / 8);
    assert_int_equal(hub_rsbuf_count(b), 0);
    assert_null(get(b, "p1", 1, 0));
    assert_int_equal(put(b, "alice", 2, 0, "a2"), 1);
    assert_int_equal(put(b, "bob", 2, 0, "b2"), 1);
    assert_string_equal(get(b, "alice", 2, 0), "a2");
    assert_string_equal(get(b, "bob", 2, 0), "b2");
    assert_null(get(b, "alice", 1, 0));
    hub_rsbuf_free(&b);
}

/* Marks: set while records are held, found again (tag 0 too, and past the
 * table's first size), gone after a clear; a large set's room kept for a
 * round as large and given back after a small one. */
static void test_marks(void **state)
{
    (void)state;
    struct hub_rsbuf *b = hub_rsbuf_new();
    assert_non_null(b);
    assert_false(hub_rsbuf_marked(b, 42));
    assert_int_equal(hub_rsbuf_mark(b, 42), 0);
    assert_int_equal(hub_rsbuf_mark(b, 42), 0); /* twice is once */
    assert_int_equal(hub_rsbuf_mark(b, 0), 0);
    assert_true(hub_rsbuf_marked(b, 42));
    assert_true(hub_rsbuf_marked(b, 0));
    assert_false(hub_rsbuf_marked(b, 43));
    for (uint64_t i = 1; i <= 100000; i++)
        assert_int_equal(hub_rsbuf_mark(b, hash_of("k") * i), 0);
    for (uint64_t i = 1; i <= 100000; i++)
        assert_true(hub_rsbuf_marked(b, hash_of("k") * i));
    assert_true(hub_rsbuf_marked(b, 42));
    size_t big = hub_rsbuf_room(b);
    assert_true(big > (1u << 20));
    hub_rsbuf_clear(b); /* kept: this round used it */
    assert_int_equal(hub_rsbuf_room(b), big);
    assert_false(hub_rsbuf_marked(b, 42));
    assert_int_equal(hub_rsbuf_mark(b, 42), 0);
    hub_rsbuf_clear(b); /* given back after a small round */
    assert_true(hub_rsbuf_room(b) < big / 8);
    assert_false(hub_rsbuf_marked(b, 42));
    assert_false(hub_rsbuf_marked(b, hash_of("k") * 7));
    assert_int_equal(hub_rsbuf_mark(b, 7), 0);
    assert_true(hub_rsbuf_marked(b, 7));
    hub_rsbuf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_get_walk),
        cmocka_unit_test(test_refuses),
        cmocka_unit_test(test_many_and_write),
        cmocka_unit_test(test_room_follows_the_transaction),
        cmocka_unit_test(test_marks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
