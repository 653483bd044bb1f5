/* test_rstate.c: the rule state store (hub/rstate.c): series of small
 * records kept in (time, seq) order in named databases of an LMDB
 * environment, written in the caller's transaction. Each test opens a
 * fresh environment in a temporary directory, and runs twice: writing
 * through, and holding its puts for the commit as in the hub's index
 * (idxwork.h, rsbuf.h), where every read must see them all the same. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

#include "idxwork.h"
#include "rstate.h"
#include "testutil.h"

#define DAY 86400000LL

struct fx {
    char *dir;
    MDB_env *env;
    MDB_txn *txn;
    struct hub_rstate *s;
    int held;                   /* puts held for the commit, as in the hub */
    struct hub_idxwork_set set; /* ... the store's part: flushed, then ended */
};

static void env_open(struct fx *f)
{
    assert_int_equal(mdb_env_create(&f->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(f->env, 8), 0);
    assert_int_equal(mdb_env_set_mapsize(f->env, 64u << 20), 0);
    assert_int_equal(mdb_env_open(f->env, f->dir, MDB_NOSYNC, 0600), 0);
    if (f->held)
        hub_idxwork_install(f->env, &f->set);
}

static void begin(struct fx *f)
{
    struct hub_error err = {0};
    assert_null(f->txn);
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &f->txn), 0);
    if (hub_rstate_begin(f->s, f->txn, &err))
        fail_msg("begin: %s", err.message);
}

/* End the transaction (commit or abort). The store is begun again on the
 * same transaction first: that lets go of anything its range reads keep
 * open in it. */
static void end(struct fx *f, int commit)
{
    struct hub_error err = {0};
    assert_non_null(f->txn);
    assert_int_equal(hub_rstate_begin(f->s, f->txn, &err), CSPH_ERR_OK);
    if (commit && f->held)
        assert_int_equal(hub_idxwork_flush(&f->set, f->txn), 0);
    if (commit)
        assert_int_equal(mdb_txn_commit(f->txn), 0);
    else
        mdb_txn_abort(f->txn);
    if (f->held)
        hub_idxwork_end(&f->set, !commit);
    f->txn = NULL;
}

static int setup_mode(void **state, int held)
{
    struct fx *f = calloc(1, sizeof *f);
    struct hub_error err = {0};
    f->held = held;
    f->dir = tu_tmpdir("rstate");
    env_open(f);
    assert_int_equal(hub_rstate_new(&f->s, &err), CSPH_ERR_OK);
    *state = f;
    return 0;
}

static int setup(void **state) { return setup_mode(state, 0); }
/* As in the hub: the store's set installed, and the state's filter (which
 * tells a new series, whose puts are held). */
static int setup_held(void **state)
{
    int rc = setup_mode(state, 1);
    struct fx *f = *state;
    struct hub_error err = {0};
    assert_int_equal(hub_rstate_cache(f->s, 1u << 20, &err), CSPH_ERR_OK);
    return rc;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->txn)
        end(f, 0);
    mdb_env_close(f->env);
    hub_rstate_free(&f->s);
    assert_null(f->s);
    hub_rstate_free(&f->s); /* NULL is fine */
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static struct hub_rs_series ser(unsigned char kind, unsigned char id0, const void *key,
                                size_t key_len)
{
    struct hub_rs_series s = {.kind = kind, .key = key, .key_len = key_len};
    memset(s.id, 0xA0, sizeof s.id);
    s.id[0] = id0;
    return s;
}

static void put(struct fx *f, const struct hub_rs_series *s, int64_t t, uint64_t seq,
                const char *val, int want_existed)
{
    struct hub_error err = {0};
    int existed = -1;
    if (hub_rstate_put(f->s, s, t, seq, val, strlen(val), &existed, &err))
        fail_msg("put: %s", err.message);
    assert_int_equal(existed, want_existed);
}

struct visit {
    size_t n, stop_at;
    int64_t t[4096];
    uint64_t seq[4096];
    char val[4096][24];
};

static int visit_one(void *ctx, const struct hub_rs_rec *r)
{
    struct visit *v = ctx;
    assert_true(v->n < 4096);
    v->t[v->n] = r->t;
    v->seq[v->n] = r->seq;
    size_t n = r->len < 23 ? r->len : 23;
    memcpy(v->val[v->n], r->val, n);
    v->val[v->n][n] = 0;
    v->n++;
    return v->stop_at && v->n >= v->stop_at;
}

static struct visit *range(struct fx *f, const struct hub_rs_series *s, int64_t from, int64_t to,
                           size_t stop_at)
{
    static struct visit v;
    struct hub_error err = {0};
    v.n = 0;
    v.stop_at = stop_at;
    if (hub_rstate_range(f->s, s, from, to, visit_one, &v, &err))
        fail_msg("range: %s", err.message);
    return &v;
}

static const char *get(struct fx *f, const struct hub_rs_series *s, int64_t t, uint64_t seq)
{
    static char buf[CSPH_RS_VALUE_MAX + 1];
    unsigned char v[CSPH_RS_VALUE_MAX];
    size_t len = sizeof v;
    int found = -1;
    struct hub_error err = {0};
    if (hub_rstate_get(f->s, s, t, seq, v, &len, &found, &err))
        fail_msg("get: %s", err.message);
    if (!found)
        return NULL;
    memcpy(buf, v, len);
    buf[len] = 0;
    return buf;
}

static uint64_t state_entries(struct fx *f)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "rules.state", 0, &dbi), 0);
    assert_int_equal(mdb_stat(txn, dbi, &st), 0);
    mdb_txn_abort(txn);
    return st.ms_entries;
}

/* put reports an existing point (and writes nothing); get finds a record by (time, seq). */
static void test_put_existed_get(void **state)
{
    struct fx *f = *state;
    struct hub_rs_series s = ser('W', 1, "V-1", 3);
    begin(f);
    put(f, &s, 5, 1, "first", 0);
    put(f, &s, 5, 1, "second", 1);
    assert_string_equal(get(f, &s, 5, 1), "first");
    assert_null(get(f, &s, 5, 2));
    assert_null(get(f, &s, 6, 1));
    put(f, &s, 5, 2, "other seq", 0);
    put(f, &s, -5, 1, "negative", 0);
    assert_string_equal(get(f, &s, -5, 1), "negative");
    assert_string_equal(get(f, &s, 5, 1), "first");
    /* an empty value is a record too */
    put(f, &s, 7, 7, "", 0);
    assert_string_equal(get(f, &s, 7, 7), "");
    put(f, &s, 7, 7, "", 1);
    /* the same point in another series, kind or id is another record */
    struct hub_rs_series k2 = ser('F', 1, "V-1", 3), i2 = ser('W', 2, "V-1", 3),
                          v2 = ser('W', 1, "V-2", 3);
    assert_null(get(f, &k2, 5, 1));
    assert_null(get(f, &i2, 5, 1));
    assert_null(get(f, &v2, 5, 1));
    put(f, &k2, 5, 1, "k2", 0);
    put(f, &i2, 5, 1, "i2", 0);
    put(f, &v2, 5, 1, "v2", 0);
    assert_string_equal(get(f, &s, 5, 1), "first");
    end(f, 1);
    /* committed: still there in the next transaction */
    begin(f);
    assert_string_equal(get(f, &s, 5, 1), "first");
    assert_string_equal(get(f, &k2, 5, 1), "k2");
    put(f, &s, 5, 1, "again", 1);
    end(f, 1);
}

/* range: (time, seq) order, negative before positive, bounds included, only its series. */
static void test_range_order(void **state)
{
    struct fx *f = *state;
    static const int64_t times[] = {INT64_MAX, 1, -1, 0, INT64_MIN, -DAY, DAY, INT64_MIN + 1,
                                    INT64_MAX - 1, -(DAY * 365 * 60), DAY * 365 * 60};
    static const uint64_t seqs[] = {7, 0, UINT64_MAX, 3};
    const size_t nt = sizeof times / sizeof *times, ns = sizeof seqs / sizeof *seqs;
    struct hub_rs_series s = ser('W', 1, "a", 1), ab = ser('W', 1, "ab", 2),
                          b = ser('W', 1, "b", 1), e = ser('W', 1, "", 0), o = ser('F', 1, "a", 1);
    begin(f);
    /* neighbours on every side of s */
    for (size_t i = 0; i < nt; i++) {
        put(f, &ab, times[i], 5, "ab", 0);
        put(f, &b, times[i], 5, "b", 0);
        put(f, &e, times[i], 5, "e", 0);
        put(f, &o, times[i], 5, "o", 0);
    }
    for (size_t j = 0; j < ns; j++) /* seqs in an order that is not sorted */
        for (size_t i = 0; i < nt; i++) {
            char v[24];
            snprintf(v, sizeof v, "%zu.%zu", i, j);
            put(f, &s, times[i], seqs[j], v, 0);
        }
    end(f, 1);
    begin(f);
    struct visit *v = range(f, &s, INT64_MIN, INT64_MAX, 0);
    assert_int_equal(v->n, nt * ns);
    for (size_t k = 1; k < v->n; k++) {
        int ordered = v->t[k - 1] < v->t[k] || (v->t[k - 1] == v->t[k] && v->seq[k - 1] < v->seq[k]);
        if (!ordered)
            fail_msg("record %zu (%" PRId64 ", %" PRIu64 ") after (%" PRId64 ", %" PRIu64 ")", k,
                     v->t[k], v->seq[k], v->t[k - 1], v->seq[k - 1]);
    }
    assert_true(v->t[0] == INT64_MIN && v->seq[0] == 0);
    assert_true(v->t[v->n - 1] == INT64_MAX && v->seq[v->n - 1] == UINT64_MAX);
    for (size_t k = 0; k < v->n; k++) /* nothing of the neighbours */
        assert_true(strchr(v->val[k], '.') != NULL);
    /* both bounds included, whatever the seq */
    v = range(f, &s, -1, 1, 0);
    assert_int_equal(v->n, 3 * ns);
    assert_int_equal(v->t[0], -1);
    assert_int_equal(v->seq[0], 0);
    assert_int_equal(v->t[v->n - 1], 1);
    assert_int_equal(v->seq[v->n - 1], UINT64_MAX);
    v = range(f, &s, -DAY, -DAY, 0);
    assert_int_equal(v->n, ns);
    v = range(f, &s, -DAY + 1, DAY - 1, 0);
    assert_int_equal(v->n, 3 * ns);
    v = range(f, &s, 1, -1, 0); /* empty */
    assert_int_equal(v->n, 0);
    v = range(f, &s, 2, DAY - 1, 0);
    assert_int_equal(v->n, 0);
    /* the visitor stops the visit */
    v = range(f, &s, INT64_MIN, INT64_MAX, 3);
    assert_int_equal(v->n, 3);
    /* the neighbours are whole */
    assert_int_equal(range(f, &ab, INT64_MIN, INT64_MAX, 0)->n, nt);
    assert_int_equal(range(f, &e, INT64_MIN, INT64_MAX, 0)->n, nt);
    assert_int_equal(range(f, &o, INT64_MIN, INT64_MAX, 0)->n, nt);
    v = range(f, &b, INT64_MIN, INT64_MAX, 0);
    assert_int_equal(v->n, nt);
    assert_string_equal(v->val[0], "b");
    /* a series with nothing in it */
    struct hub_rs_series none = ser('W', 1, "zz", 2);
    assert_int_equal(range(f, &none, INT64_MIN, INT64_MAX, 0)->n, 0);
    end(f, 0);
}

/* set replaces a value (or puts it), del removes one record. */
static void test_set_del(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    struct hub_rs_series s = ser('P', 3, "V-9", 3);
    begin(f);
    assert_int_equal(hub_rstate_set(f->s, &s, 10, 1, "abc", 3, &err), CSPH_ERR_OK);
    assert_string_equal(get(f, &s, 10, 1), "abc");
    assert_int_equal(hub_rstate_set(f->s, &s, 10, 1, "a much longer value", 19, &err), CSPH_ERR_OK);
    assert_string_equal(get(f, &s, 10, 1), "a much longer value");
    assert_int_equal(hub_rstate_set(f->s, &s, 10, 1, "x", 1, &err), CSPH_ERR_OK);
    assert_string_equal(get(f, &s, 10, 1), "x");
    put(f, &s, 11, 1, "y", 0);
    assert_int_equal(range(f, &s, INT64_MIN, INT64_MAX, 0)->n, 2);
    assert_int_equal(hub_rstate_del(f->s, &s, 10, 1, &err), CSPH_ERR_OK);
    assert_null(get(f, &s, 10, 1));
    assert_int_equal(hub_rstate_del(f->s, &s, 10, 1, &err), CSPH_ERR_OK); /* absent: fine */
    assert_int_equal(hub_rstate_del(f->s, &s, 10, 2, &err), CSPH_ERR_OK);
    struct visit *v = range(f, &s, INT64_MIN, INT64_MAX, 0);
    assert_int_equal(v->n, 1);
    assert_int_equal(v->t[0], 11);
    put(f, &s, 10, 1, "back", 0); /* deleted: a put writes again */
    assert_string_equal(get(f, &s, 10, 1), "back");
    end(f, 1);
    /* a value longer than CSPH_RS_VALUE_MAX is cut to it by get */
    char big[200];
    memset(big, 'v', sizeof big);
    begin(f);
    assert_int_equal(hub_rstate_set(f->s, &s, 12, 1, big, sizeof big, &err), CSPH_ERR_OK);
    assert_int_equal(strlen(get(f, &s, 12, 1)), CSPH_RS_VALUE_MAX);
    end(f, 1);
}

/* drop empties one series across many pages, not its neighbours; mdb_stat entries shrink. */
static void test_drop(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    struct hub_rs_series lo = ser('W', 1, "A", 1), s = ser('W', 1, "B", 1),
                          hi = ser('W', 1, "C", 1), pre = ser('W', 1, "BB", 2);
    char val[41];
    memset(val, 'x', 40);
    val[40] = 0;
    begin(f);
    for (int i = 0; i < 10; i++) {
        put(f, &lo, i, 1, "lo", 0);
        put(f, &hi, i, 1, "hi", 0);
        put(f, &pre, i, 1, "pre", 0);
    }
    for (int i = 0; i < 3000; i++) /* some times negative, many pages */
        put(f, &s, (int64_t)(i - 1500) * 1000, (uint64_t)i, val, 0);
    end(f, 1);
    uint64_t before = state_entries(f), entries0, bytes0, entries1, bytes1;
    assert_int_equal(before, 3030);
    MDB_txn *rt;
    assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &rt), 0);
    assert_int_equal(hub_rstate_size(rt, &entries0, &bytes0, &err), CSPH_ERR_OK);
    mdb_txn_abort(rt);
    /* dropped in a transaction that aborts: still there */
    begin(f);
    uint64_t n = 0;
    assert_int_equal(hub_rstate_drop(f->s, &s, &n, &err), CSPH_ERR_OK);
    assert_int_equal(n, 3000);
    assert_int_equal(range(f, &s, INT64_MIN, INT64_MAX, 0)->n, 0);
    end(f, 0);
    assert_int_equal(state_entries(f), before);
    begin(f);
    assert_int_equal(range(f, &s, INT64_MIN, INT64_MAX, 0)->n, 3000);
    assert_int_equal(hub_rstate_drop(f->s, &s, &n, &err), CSPH_ERR_OK);
    assert_int_equal(n, 3000);
    end(f, 1);
    assert_int_equal(state_entries(f), before - 3000);
    assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &rt), 0);
    assert_int_equal(hub_rstate_size(rt, &entries1, &bytes1, &err), CSPH_ERR_OK);
    mdb_txn_abort(rt);
    assert_int_equal(entries1, entries0 - 3000);
    assert_true(bytes1 < bytes0);
    begin(f);
    assert_int_equal(range(f, &s, INT64_MIN, INT64_MAX, 0)->n, 0);
    assert_int_equal(range(f, &lo, INT64_MIN, INT64_MAX, 0)->n, 10);
    assert_int_equal(range(f, &hi, INT64_MIN, INT64_MAX, 0)->n, 10);
    assert_int_equal(range(f, &pre, INT64_MIN, INT64_MAX, 0)->n, 10);
    assert_int_equal(hub_rstate_drop(f->s, &s, &n, &err), CSPH_ERR_OK); /* again: nothing */
    assert_int_equal(n, 0);
    /* another series between two others (C sorts before BB: the key's length first) */
    assert_int_equal(hub_rstate_drop(f->s, &hi, &n, &err), CSPH_ERR_OK);
    assert_int_equal(n, 10);
    assert_int_equal(range(f, &pre, INT64_MIN, INT64_MAX, 0)->n, 10);
    assert_int_equal(range(f, &lo, INT64_MIN, INT64_MAX, 0)->n, 10);
    end(f, 1);
    assert_int_equal(state_entries(f), 20);
}

/* Named records of rules.meta. */
static void test_meta(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    char buf[16];
    size_t len = 0;
    int found = -1;
    begin(f);
    assert_int_equal(hub_rstate_meta_get(f->s, "version", buf, sizeof buf, &len, &found, &err),
                     CSPH_ERR_OK);
    assert_int_equal(found, 0);
    assert_int_equal(hub_rstate_meta_put(f->s, "version", "v3", 2, &err), CSPH_ERR_OK);
    assert_int_equal(hub_rstate_meta_put(f->s, "other", "0123456789abcdef", 16, &err), CSPH_ERR_OK);
    end(f, 1);
    begin(f);
    assert_int_equal(hub_rstate_meta_get(f->s, "version", buf, sizeof buf, &len, &found, &err),
                     CSPH_ERR_OK);
    assert_int_equal(found, 1);
    assert_int_equal(len, 2);
    assert_memory_equal(buf, "v3", 2);
    /* a value longer than the buffer: cut to it */
    assert_int_equal(hub_rstate_meta_get(f->s, "other", buf, 4, &len, &found, &err), CSPH_ERR_OK);
    assert_int_equal(len, 4);
    assert_memory_equal(buf, "0123", 4);
    assert_int_equal(hub_rstate_meta_put(f->s, "version", "v4", 2, &err), CSPH_ERR_OK);
    assert_int_equal(hub_rstate_meta_get(f->s, "version", buf, sizeof buf, &len, &found, &err),
                     CSPH_ERR_OK);
    assert_memory_equal(buf, "v4", 2);
    end(f, 0);
}

/* An aborted transaction leaves nothing; what was committed survives a reopen. */
static void test_abort_and_reopen(void **state)
{
    struct fx *f = *state;
    struct hub_rs_series s = ser('W', 9, "K", 1);
    begin(f); /* the databases are created in this one, which aborts */
    put(f, &s, 1, 1, "gone", 0);
    end(f, 0);
    begin(f);
    assert_null(get(f, &s, 1, 1));
    assert_int_equal(range(f, &s, INT64_MIN, INT64_MAX, 0)->n, 0);
    put(f, &s, 2, 2, "kept", 0);
    end(f, 1);
    begin(f);
    put(f, &s, 3, 3, "aborted", 0);
    assert_int_equal(range(f, &s, INT64_MIN, INT64_MAX, 0)->n, 2);
    end(f, 0);
    mdb_env_close(f->env);
    hub_rstate_free(&f->s);
    struct hub_error err = {0};
    assert_int_equal(hub_rstate_new(&f->s, &err), CSPH_ERR_OK);
    env_open(f);
    begin(f);
    struct visit *v = range(f, &s, INT64_MIN, INT64_MAX, 0);
    assert_int_equal(v->n, 1);
    assert_string_equal(v->val[0], "kept");
    end(f, 0);
}

/* Keys up to CSPH_RS_KEY_MAX bytes are kept; a longer one is refused. */
static void test_key_lengths(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    unsigned char key[CSPH_RS_KEY_MAX + 1];
    memset(key, 'k', sizeof key);
    struct hub_rs_series ok = ser('W', 1, key, CSPH_RS_KEY_MAX),
                          bad = ser('W', 1, key, CSPH_RS_KEY_MAX + 1);
    int existed;
    uint64_t n;
    begin(f);
    put(f, &ok, 1, 1, "max", 0);
    assert_string_equal(get(f, &ok, 1, 1), "max");
    assert_int_equal(range(f, &ok, INT64_MIN, INT64_MAX, 0)->n, 1);
    assert_int_not_equal(hub_rstate_put(f->s, &bad, 1, 1, "x", 1, &existed, &err), CSPH_ERR_OK);
    assert_int_not_equal(hub_rstate_set(f->s, &bad, 1, 1, "x", 1, &err), CSPH_ERR_OK);
    assert_int_not_equal(hub_rstate_drop(f->s, &bad, &n, &err), CSPH_ERR_OK);
    assert_int_not_equal(hub_rstate_del(f->s, &bad, 1, 1, &err), CSPH_ERR_OK);
    end(f, 0);
}

/* A key over 255 bytes does not cut short the range of a series keyed by its first bytes. */
static void test_long_key_beside_short_key(void **state)
{
    /* keys of up to CSPH_RS_KEY_MAX = 440 bytes are allowed (the engine's
     * compound keys reach 408): a 300-byte key and the 44-byte key that is
     * its start (300 = 256 + 44) */
    struct fx *f = *state;
    struct hub_error err = {0};
    unsigned char longkey[300];
    memset(longkey, 'p', sizeof longkey);
    /* the bytes after the shorter key's end sort between the shorter
     * series' times 1 and 2^62 */
    longkey[44] = 0x80;
    struct hub_rs_series shrt = ser('W', 1, longkey, 44), lng = ser('W', 1, longkey, 300);
    begin(f);
    put(f, &shrt, 1, 1, "short-1", 0);
    put(f, &shrt, (int64_t)1 << 62, 2, "short-2", 0);
    put(f, &lng, 5, 3, "long", 0);
    end(f, 1);
    begin(f);
    assert_string_equal(get(f, &shrt, (int64_t)1 << 62, 2), "short-2");
    struct visit *v = range(f, &lng, INT64_MIN, INT64_MAX, 0);
    assert_int_equal(v->n, 1);
    assert_string_equal(v->val[0], "long");
    v = range(f, &shrt, INT64_MIN, INT64_MAX, 0);
    if (v->n != 2)
        fail_msg("the 44-byte key's series shows %zu of its 2 records beside a 300-byte key that "
                 "starts with it", v->n);
    uint64_t n = 0;
    assert_int_equal(hub_rstate_drop(f->s, &shrt, &n, &err), CSPH_ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(range(f, &lng, INT64_MIN, INT64_MAX, 0)->n, 1);
    end(f, 0);
}

/* The filter of series (limits.rules_cache_mb): never says "surely empty"
 * of a series that holds a record, whether it was written before the
 * filter was built (read from the state) or after (noted on write), and
 * says it of most series that hold nothing: at 40,000 series in 64 KiB
 * (13 bits a series) a filter setting 4 bits a series is wrong about some
 * 0.5% of absent ones; over 2% would mean its bits are badly spread. */
static void test_filter(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    char key[32];
    enum { N = 40000 };
    begin(f); /* half before the filter exists */
    for (int i = 0; i < N / 2; i++) {
        int n = snprintf(key, sizeof key, "P-%06d", i);
        struct hub_rs_series sr = ser('W', 1, key, (size_t)n);
        put(f, &sr, DAY, (uint64_t)i + 1, "", 0);
    }
    end(f, 1);
    assert_int_equal(hub_rstate_cache(f->s, 64 << 10, &err), CSPH_ERR_OK);
    begin(f); /* the filter is built from the state here */
    for (int i = N / 2; i < N; i++) {
        int n = snprintf(key, sizeof key, "P-%06d", i);
        struct hub_rs_series sr = ser('W', 1, key, (size_t)n);
        put(f, &sr, DAY, (uint64_t)i + 1, "", 0);
    }
    int absent_maybe = 0;
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "P-%06d", i);
        struct hub_rs_series sr = ser('W', 1, key, (size_t)n);
        if (!hub_rstate_may_exist(f->s, &sr))
            fail_msg("series %s holds a record but the filter says it is empty", key);
        struct hub_rs_series other = ser('W', 2, key, (size_t)n); /* another rule's */
        absent_maybe += hub_rstate_may_exist(f->s, &other);
    }
    end(f, 1);
    print_message("filter: %d of %d empty series may exist\n", absent_maybe, N);
    if (absent_maybe > N / 50)
        fail_msg("the filter says 'may exist' of %d of %d empty series", absent_maybe, N);
}

/* A large state fills the filter a step at a time (50,000 records at the
 * start of each transaction), so that a hub's start is not held by it:
 * until the last step every series "may exist"; afterwards the filter
 * knows every series, read from the state or written while it filled. */
static void test_filter_in_steps(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    char key[32];
    enum { N = 65000 }; /* two records each: 130,000, three steps */
    begin(f);
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "P-%06d", i);
        struct hub_rs_series sr = ser('W', 1, key, (size_t)n);
        put(f, &sr, DAY, (uint64_t)i + 1, "", 0);
        put(f, &sr, 2 * DAY, (uint64_t)(N + i) + 1, "", 0);
    }
    end(f, 1);
    assert_int_equal(hub_rstate_cache(f->s, 256 << 10, &err), CSPH_ERR_OK);
    begin(f); /* the first step */
    struct hub_rs_series nobody = ser('W', 9, "nobody", 6);
    assert_int_equal(hub_rstate_may_exist(f->s, &nobody), 1); /* not filled yet */
    /* Written while the filter fills: before and after the steps' place. */
    struct hub_rs_series early = ser('W', 1, "A-late", 6), late = ser('W', 1, "Z-late", 6);
    put(f, &early, DAY, 2 * N + 1, "", 0);
    put(f, &late, DAY, 2 * N + 2, "", 0);
    end(f, 1);
    /* One step a transaction (an evaluation begins once per event): the
     * hub's index transactions each write something, as these do. */
    for (int i = 0; i < 3; i++) {
        begin(f);
        struct hub_rs_series busy = ser('W', 3, "busy", 4);
        put(f, &busy, DAY, 3 * N + (uint64_t)i, "", 0);
        end(f, 1);
    }
    begin(f);
    assert_int_equal(hub_rstate_may_exist(f->s, &early), 1);
    assert_int_equal(hub_rstate_may_exist(f->s, &late), 1);
    int absent_maybe = 0;
    for (int i = 0; i < N; i++) {
        int n = snprintf(key, sizeof key, "P-%06d", i);
        struct hub_rs_series sr = ser('W', 1, key, (size_t)n);
        if (!hub_rstate_may_exist(f->s, &sr))
            fail_msg("series %s holds records but the filled filter says it is empty", key);
        struct hub_rs_series other = ser('W', 2, key, (size_t)n);
        absent_maybe += hub_rstate_may_exist(f->s, &other);
    }
    end(f, 1);
    /* 256 KiB for 65,000 series: 32 bits a series, few false positives. */
    if (absent_maybe > N / 50)
        fail_msg("the filter is not in use after its last step: %d of %d empty series may "
                 "exist", absent_maybe, N);
}

/* Held puts (the hub's index): a new series' records (the filter says it
 * holds nothing yet) reach the tree only at the commit's flush, yet every
 * read sees them, in (time, seq) order, a value set since read in place;
 * a series grown long in one transaction goes to the tree at once and
 * reads still see all of it; an abort forgets what was held. Written
 * through (no set installed), the same reads give the same answers. */
static void test_held_until_commit(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    struct hub_rs_series old = ser('W', 1, "P-1", 3), s = ser('W', 1, "P-2", 3),
                          busy = ser('W', 1, "P-3", 3);
    begin(f);
    put(f, &old, 10, 1, "t10", 0);
    end(f, 1);
    assert_int_equal(state_entries(f), 1);
    begin(f);
    put(f, &s, 20, 2, "t20", 0);
    put(f, &s, 40, 4, "t40", 0);
    put(f, &s, 5, 9, "t5", 0);
    put(f, &s, 20, 2, "again", 1); /* found where it is */
    put(f, &old, 10, 1, "again", 1);
    put(f, &old, 11, 1, "t11", 0);
    /* the new person's other series (another rule's, a tier fired): held
     * too, though the filter knows the person from its first put */
    struct hub_rs_series other = ser('F', 7, "P-2", 3), old_other = ser('F', 7, "P-1", 3);
    put(f, &other, 20, 2, "f20", 0);
    put(f, &old_other, 10, 1, "f10", 0);
    MDB_dbi dbi;
    MDB_stat st;
    assert_int_equal(mdb_dbi_open(f->txn, "rules.state", 0, &dbi), 0);
    assert_int_equal(mdb_stat(f->txn, dbi, &st), 0);
    /* held: the new person's series are not in the tree yet; the known
     * person's puts went there */
    assert_int_equal(st.ms_entries, f->held ? 3 : 7);
    assert_string_equal(get(f, &other, 20, 2), "f20");
    assert_int_equal(range(f, &other, INT64_MIN, INT64_MAX, 0)->n, 1);
    assert_int_equal(hub_rstate_set(f->s, &s, 40, 4, "set-40", 6, &err), CSPH_ERR_OK);
    struct visit *v = range(f, &s, INT64_MIN, INT64_MAX, 0);
    assert_int_equal(v->n, 3);
    assert_string_equal(v->val[0], "t5");
    assert_string_equal(v->val[1], "t20");
    assert_string_equal(v->val[2], "set-40");
    v = range(f, &s, 6, 40, 0);
    assert_int_equal(v->n, 2);
    v = range(f, &s, INT64_MIN, INT64_MAX, 1); /* a visitor that stops */
    assert_int_equal(v->n, 1);
    assert_string_equal(get(f, &s, 40, 4), "set-40");
    assert_null(get(f, &s, 40, 5));
    /* a busy key: past HELD_SERIES_MAX records it goes to the tree, and
     * its later records are merged with those in reads */
    for (int i = 0; i < 40; i++) {
        char val[16];
        snprintf(val, sizeof val, "b%d", i);
        put(f, &busy, 1000 - i, (uint64_t)i, val, 0);
    }
    assert_int_equal(mdb_stat(f->txn, dbi, &st), 0);
    /* held: each time 17 were held they went to the tree together (the
     * key was new at the transaction's start, so its series stay held),
     * 6 are held still; the new series' 3 still held */
    assert_int_equal(st.ms_entries, f->held ? 3 + 34 : 7 + 40);
    v = range(f, &busy, INT64_MIN, INT64_MAX, 0);
    assert_int_equal(v->n, 40);
    for (size_t i = 0; i < 40; i++) {
        char val[16];
        snprintf(val, sizeof val, "b%zu", 39 - i);
        assert_string_equal(v->val[i], val);
        assert_int_equal(v->t[i], 961 + (int64_t)i);
    }
    end(f, 0); /* aborted: everything of it goes */
    assert_int_equal(state_entries(f), 1);
    begin(f);
    assert_null(get(f, &s, 20, 2));
    assert_int_equal(range(f, &s, INT64_MIN, INT64_MAX, 0)->n, 0);
    assert_int_equal(range(f, &busy, INT64_MIN, INT64_MAX, 0)->n, 0);
    put(f, &s, 20, 2, "t20", 0);
    assert_int_equal(hub_rstate_set(f->s, &s, 30, 3, "set-30", 6, &err), CSPH_ERR_OK);
    /* deletes and drops see what is held */
    put(f, &s, 50, 5, "t50", 0);
    assert_int_equal(hub_rstate_del(f->s, &s, 50, 5, &err), CSPH_ERR_OK);
    assert_null(get(f, &s, 50, 5));
    uint64_t n = 0;
    put(f, &busy, 60, 6, "b60", 0);
    assert_int_equal(hub_rstate_drop(f->s, &busy, &n, &err), CSPH_ERR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(range(f, &busy, INT64_MIN, INT64_MAX, 0)->n, 0);
    end(f, 1);
    assert_int_equal(state_entries(f), 3);
    begin(f);
    v = range(f, &s, INT64_MIN, INT64_MAX, 0);
    assert_int_equal(v->n, 2);
    assert_string_equal(v->val[0], "t20");
    assert_string_equal(v->val[1], "set-30");
    end(f, 0);
}

/* A rule set replaced inside a transaction that holds its puts: they go
 * into the transaction when it is freed, so the next set reads them. */
static void test_freed_while_holding(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    struct hub_rs_series s = ser('W', 1, "P-2", 3);
    begin(f);
    put(f, &s, 1, 1, "one", 0);
    hub_rstate_free(&f->s);
    assert_int_equal(hub_rstate_new(&f->s, &err), CSPH_ERR_OK);
    assert_int_equal(hub_rstate_begin(f->s, f->txn, &err), CSPH_ERR_OK);
    assert_string_equal(get(f, &s, 1, 1), "one");
    put(f, &s, 2, 2, "two", 0);
    end(f, 1);
    assert_int_equal(state_entries(f), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_put_existed_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_range_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_del, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_lengths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_key_beside_short_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filter_in_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_until_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_until_commit, setup_held, teardown),
        cmocka_unit_test_setup_teardown(test_freed_while_holding, setup, teardown),
        cmocka_unit_test_setup_teardown(test_freed_while_holding, setup_held, teardown),
        cmocka_unit_test_setup_teardown(test_put_existed_get, setup_held, teardown),
        cmocka_unit_test_setup_teardown(test_range_order, setup_held, teardown),
        cmocka_unit_test_setup_teardown(test_set_del, setup_held, teardown),
        cmocka_unit_test_setup_teardown(test_drop, setup_held, teardown),
        cmocka_unit_test_setup_teardown(test_meta, setup_held, teardown),
        cmocka_unit_test_setup_teardown(test_abort_and_reopen, setup_held, teardown),
        cmocka_unit_test_setup_teardown(test_key_lengths, setup_held, teardown),
        cmocka_unit_test_setup_teardown(test_long_key_beside_short_key, setup_held, teardown),
        cmocka_unit_test_setup_teardown(test_filter, setup_held, teardown),
        cmocka_unit_test_setup_teardown(test_filter_in_steps, setup_held, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
