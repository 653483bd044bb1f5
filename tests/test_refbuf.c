/* test_refbuf.c: person-index entries held until the index's commit
 * (hub/refbuf.c): whatever order they were added in, what reaches the
 * tree is every entry once, as sorted duplicates, and nothing of a
 * cleared or dropped key. Each test opens a fresh LMDB environment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

#include "refbuf.h"
#include "testutil.h"

struct fx {
    char *dir;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    struct hub_refbuf *b;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir("refbuf");
    assert_int_equal(mdb_env_create(&f->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(f->env, 4), 0);
    assert_int_equal(mdb_env_set_mapsize(f->env, 64u << 20), 0);
    assert_int_equal(mdb_env_open(f->env, f->dir, MDB_NOSYNC, 0600), 0);
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &f->txn), 0);
    assert_int_equal(mdb_dbi_open(f->txn, "people", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED,
                                  &f->dbi),
                     0);
    assert_non_null(f->b = hub_refbuf_new(16, MDB_NODUPDATA));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->txn)
        mdb_txn_abort(f->txn);
    mdb_env_close(f->env);
    hub_refbuf_free(&f->b);
    assert_null(f->b);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void val_of(unsigned char v[16], uint64_t t, uint64_t seq)
{
    for (int i = 0; i < 8; i++) {
        v[i] = (unsigned char)(t >> (56 - 8 * i));
        v[8 + i] = (unsigned char)(seq >> (56 - 8 * i));
    }
}

static void add(struct fx *f, const char *key, uint64_t t, uint64_t seq)
{
    unsigned char v[16];
    val_of(v, t, seq);
    assert_int_equal(hub_refbuf_add(f->b, key, strlen(key), v), 0);
}

/* The seqs stored under key, in the tree's order. */
static size_t seqs(struct fx *f, const char *key, uint64_t *out, size_t cap)
{
    MDB_cursor *c;
    MDB_val k = {strlen(key), (void *)key}, v;
    size_t n = 0;
    assert_int_equal(mdb_cursor_open(f->txn, f->dbi, &c), 0);
    for (int rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
        assert_int_equal(v.mv_size, 16);
        uint64_t seq = 0;
        for (int i = 0; i < 8; i++)
            seq = seq << 8 | ((const unsigned char *)v.mv_data)[8 + i];
        if (n < cap)
            out[n] = seq;
        n++;
    }
    mdb_cursor_close(c);
    return n;
}

/* Entries added out of order (late events, several people interleaved)
 * are all in the tree after the write, each person's in time order, and
 * the buffer is empty for the next transaction. */
static void test_write_sorts_and_keeps_every_entry(void **state)
{
    struct fx *f = *state;
    add(f, "PP-2", 30, 3);
    add(f, "PP-1", 20, 2);
    add(f, "PP-2", 10, 1);
    add(f, "PP-10", 5, 9);
    add(f, "PP-1", 40, 4);
    add(f, "PP-1", 1, 7); /* a late event: earliest in time, newest seq */
    assert_int_equal(hub_refbuf_count(f->b), 6);
    assert_int_equal(hub_refbuf_write(f->b, f->txn, f->dbi), 0);
    assert_int_equal(hub_refbuf_count(f->b), 0);
    uint64_t s[8];
    assert_int_equal(seqs(f, "PP-1", s, 8), 3);
    assert_int_equal(s[0], 7);
    assert_int_equal(s[1], 2);
    assert_int_equal(s[2], 4);
    assert_int_equal(seqs(f, "PP-2", s, 8), 2);
    assert_int_equal(s[0], 1);
    assert_int_equal(s[1], 3);
    assert_int_equal(seqs(f, "PP-10", s, 8), 1);
}

/* An entry met twice (a catch-up going over events the index already
 * holds) is stored once, and an entry already in the tree is no error. */
static void test_repeats_stored_once(void **state)
{
    struct fx *f = *state;
    add(f, "PP-1", 20, 2);
    assert_int_equal(hub_refbuf_write(f->b, f->txn, f->dbi), 0);
    add(f, "PP-1", 20, 2);
    add(f, "PP-1", 20, 2);
    add(f, "PP-1", 30, 3);
    assert_int_equal(hub_refbuf_write(f->b, f->txn, f->dbi), 0);
    uint64_t s[4];
    assert_int_equal(seqs(f, "PP-1", s, 4), 2);
}

/* clear forgets everything (an aborted index transaction); drop forgets
 * one key (an erasure) and keeps the others. */
static void test_clear_and_drop(void **state)
{
    struct fx *f = *state;
    add(f, "PP-1", 20, 2);
    add(f, "PP-2", 20, 3);
    hub_refbuf_clear(f->b);
    assert_int_equal(hub_refbuf_count(f->b), 0);
    add(f, "PP-1", 20, 2);
    add(f, "PP-12", 25, 5);
    add(f, "PP-2", 20, 3);
    add(f, "PP-1", 21, 4);
    hub_refbuf_drop(f->b, "PP-1", 4);
    assert_int_equal(hub_refbuf_count(f->b), 2);
    assert_int_equal(hub_refbuf_write(f->b, f->txn, f->dbi), 0);
    uint64_t s[4];
    assert_int_equal(seqs(f, "PP-1", s, 4), 0);
    assert_int_equal(seqs(f, "PP-12", s, 4), 1);
    assert_int_equal(seqs(f, "PP-2", s, 4), 1);
}

/* Many entries across arena growth: every one arrives. */
static void test_many_entries(void **state)
{
    struct fx *f = *state;
    char key[32];
    for (uint64_t i = 0; i < 20000; i++) {
        snprintf(key, sizeof key, "PP-%05llu", (unsigned long long)((i * 7919) % 5000));
        add(f, key, i, i + 1);
    }
    assert_int_equal(hub_refbuf_write(f->b, f->txn, f->dbi), 0);
    MDB_stat st;
    assert_int_equal(mdb_stat(f->txn, f->dbi, &st), 0);
    assert_int_equal(st.ms_entries, 20000);
}

/* A key LMDB cannot hold is not kept (the store checks lengths first). */
static void test_bad_key_refused(void **state)
{
    struct fx *f = *state;
    unsigned char v[16] = {0};
    assert_int_equal(hub_refbuf_add(f->b, "", 0, v), -1);
    assert_int_equal(hub_refbuf_count(f->b), 0);
}

/* The idempotency index's mode: a plain key with an 8-byte seq. The first
 * seq a key got stays (a resend is never an overwrite), in any order. */
static void test_plain_keys_keep_first(void **state)
{
    struct fx *f = *state;
    MDB_dbi plain;
    struct hub_refbuf *b = hub_refbuf_new(8, MDB_NOOVERWRITE);
    assert_non_null(b);
    assert_int_equal(mdb_dbi_open(f->txn, "dedup", MDB_CREATE, &plain), 0);
    uint64_t one = 1, two = 2, three = 3;
    MDB_val k = {6, (void *)"src\0i1"}, v;
    assert_int_equal(mdb_put(f->txn, plain, &k, &(MDB_val){8, &one}, 0), 0);
    assert_int_equal(hub_refbuf_add(b, "src\0i2", 6, &three), 0);
    assert_int_equal(hub_refbuf_add(b, "src\0i1", 6, &two), 0); /* already there */
    assert_int_equal(hub_refbuf_add(b, "src\0i0", 6, &two), 0);
    assert_int_equal(hub_refbuf_write(b, f->txn, plain), 0);
    uint64_t got;
    assert_int_equal(mdb_get(f->txn, plain, &k, &v), 0);
    memcpy(&got, v.mv_data, 8);
    assert_int_equal(got, 1);
    k.mv_data = (void *)"src\0i2";
    assert_int_equal(mdb_get(f->txn, plain, &k, &v), 0);
    memcpy(&got, v.mv_data, 8);
    assert_int_equal(got, 3);
    k.mv_data = (void *)"src\0i0";
    assert_int_equal(mdb_get(f->txn, plain, &k, &v), 0);
    hub_refbuf_free(&b);
    assert_null(hub_refbuf_new(65, 0));
}

/* vlen 0 (the rule state's write buffer): each value of its own length,
 * written with put_flags 0 so that a key given again replaces its value,
 * the later one winning whatever the sort does. */
static void test_values_of_their_own_length(void **state)
{
    struct fx *f = *state;
    MDB_dbi plain;
    assert_int_equal(mdb_dbi_open(f->txn, "state", MDB_CREATE, &plain), 0);
    struct hub_refbuf *b = hub_refbuf_new(0, 0);
    assert_non_null(b);
    uint64_t eight = 8;
    assert_int_equal(hub_refbuf_add(b, "k", 1, &eight), -1); /* fixed-length add refused */
    assert_int_equal(hub_refbuf_add_len(b, "k2", 2, "abc", 3), 0);
    assert_int_equal(hub_refbuf_add_len(b, "k1", 2, NULL, 0), 0);
    assert_int_equal(hub_refbuf_add_len(b, "k2", 2, "replaced", 8), 0);
    assert_int_equal(hub_refbuf_add_len(b, "k3", 2, "x", 65), -1); /* too long */
    assert_int_equal(hub_refbuf_write(b, f->txn, plain), 0);
    MDB_val k = {2, (void *)"k2"}, v;
    assert_int_equal(mdb_get(f->txn, plain, &k, &v), 0);
    assert_int_equal(v.mv_size, 8);
    assert_memory_equal(v.mv_data, "replaced", 8);
    k.mv_data = (void *)"k1";
    assert_int_equal(mdb_get(f->txn, plain, &k, &v), 0);
    assert_int_equal(v.mv_size, 0);
    hub_refbuf_free(&b);
    struct hub_refbuf *fixed = hub_refbuf_new(8, 0);
    assert_int_equal(hub_refbuf_add_len(fixed, "k", 1, "12345678", 8), -1);
    hub_refbuf_free(&fixed);
}

/* A buffer keeps its room between rounds of about one size, and gives it
 * back after a round that needed far less (the index switched to smaller
 * transactions, a rebuild's catch-up ended): the hub's memory follows what
 * it holds now. What is written is the same either way. */
static void test_room_follows_the_round(void **state)
{
    struct fx *f = *state;
    unsigned char key[24], v[16];
    const size_t big = 40000;
    for (size_t i = 0; i < big; i++) {
        snprintf((char *)key, sizeof key, "aP%08zu", (i * 7919) % big);
        val_of(v, i, i + 1);
        assert_int_equal(hub_refbuf_add(f->b, key, 10, v), 0);
    }
    assert_int_equal(hub_refbuf_write(f->b, f->txn, f->dbi), 0);
    size_t room_big = hub_refbuf_room(f->b);
    assert_true(room_big > (1u << 20));
    for (size_t i = 0; i < big; i++) { /* a round of the same size keeps it */
        snprintf((char *)key, sizeof key, "bP%08zu", i);
        val_of(v, i, i + 1);
        assert_int_equal(hub_refbuf_add(f->b, key, 10, v), 0);
    }
    assert_int_equal(hub_refbuf_write(f->b, f->txn, f->dbi), 0);
    assert_int_equal(hub_refbuf_room(f->b), room_big);
    for (size_t i = 0; i < 100; i++) { /* a small one gives it back */
        snprintf((char *)key, sizeof key, "cP%08zu", 99 - i);
        val_of(v, i, i + 1);
        assert_int_equal(hub_refbuf_add(f->b, key, 10, v), 0);
    }
    assert_int_equal(hub_refbuf_write(f->b, f->txn, f->dbi), 0);
    assert_true(hub_refbuf_room(f->b) < room_big / 8);
    MDB_stat st;
    assert_int_equal(mdb_stat(f->txn, f->dbi, &st), 0);
    assert_int_equal(st.ms_entries, 2 * big + 100);
    for (size_t i = 0; i < 10; i++) { /* and it still holds and writes */
        snprintf((char *)key, sizeof key, "dP%08zu", i);
        val_of(v, i, i + 1);
        assert_int_equal(hub_refbuf_add(f->b, key, 10, v), 0);
    }
    hub_refbuf_clear(f->b);
    assert_int_equal(hub_refbuf_count(f->b), 0);
    assert_int_equal(hub_refbuf_write(f->b, f->txn, f->dbi), 0);
    assert_int_equal(mdb_stat(f->txn, f->dbi, &st), 0);
    assert_int_equal(st.ms_entries, 2 * big + 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_write_sorts_and_keeps_every_entry, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values_of_their_own_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeats_stored_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_clear_and_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_entries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_plain_keys_keep_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room_follows_the_round, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
