/* rstate.c: the rule state store (rstate.h). */
#include "rstate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "bekey.h"
#include "idxwork.h"
#include "rsbuf.h"
#include "store.h"

static const char DB_STATE[] = "rules.state";
static const char DB_META[] = "rules.meta";

struct hub_rstate {
    MDB_txn *txn;
    MDB_dbi state, meta;
    MDB_cursor *cur; /* for range reads, from the first until hub_rstate_end */
    /* A Bloom filter of the series the state holds: a new person's first
     * event needs no read to know its series is empty. False positives only
     * cost a read, so an aborted transaction or a dropped series may leave
     * bits set; it is never missing a series that exists. */
    uint64_t *bloom;
    uint64_t bloom_mask; /* blocks - 1 */
    size_t bloom_size;   /* bytes mapped */
    int bloom_ready;
    /* The filter is filled from the state a step at a time (bloom_step):
     * the last key a step read, 0 bytes before the first step. */
    unsigned char built[1 + 8 + 2 + CSPH_RS_KEY_MAX + 16];
    size_t built_len;
    size_t step_txn; /* the transaction (mdb_txn_id) that took the last step */
    unsigned char kb[1 + 8 + 2 + CSPH_RS_KEY_MAX + 16];
    unsigned char kb2[1 + 8 + 2 + CSPH_RS_KEY_MAX + 16];
    /* The transaction's puts, held for its commit (rsbuf.h) when its
     * environment takes held work (idxwork.h: the store's index); NULL
     * otherwise, and every put goes to the tree at once. */
    struct hub_rsbuf *buf;
    struct hub_rsbuf *held; /* the buffer, kept between transactions */
    struct hub_idxwork work;
};

static int held_flush(void *ctx, MDB_txn *txn);
/* A series with more records held than this in one transaction is written
 * to the tree at once (rsbuf.h, hub_rsbuf_write_series). */
#define HELD_SERIES_MAX 16
static void held_drop(void *ctx);

static enum hub_err lmdb_fail(struct hub_error *err, int rc, const char *what)
{
    enum hub_err code =
        rc == MDB_MAP_FULL || rc == MDB_TXN_FULL ? CSPH_ERR_BUSY : CSPH_ERR_INTERNAL;
    hub_store_index_damaged(rc); /* the rule state lives in the index */
    return hub_error_set(err, code, NULL, "rule state: %s: %s", what, mdb_strerror(rc));
}

enum hub_err hub_rstate_new(struct hub_rstate **out, struct hub_error *err)
{
    struct hub_rstate *s = calloc(1, sizeof *s);
    if (!s || !(s->held = hub_rsbuf_new())) {
        free(s);
        *out = NULL;
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    }
    s->work = (struct hub_idxwork){.flush = held_flush, .drop = held_drop, .ctx = s};
    *out = s;
    return CSPH_ERR_OK;
}

static void bloom_free(struct hub_rstate *s)
{
    if (s->bloom)
        munmap(s->bloom, s->bloom_size);
    s->bloom = NULL;
    s->bloom_size = 0;
    s->bloom_mask = 0;
}

void hub_rstate_free(struct hub_rstate **s)
{
    if (s && *s) {
        /* Freed inside a transaction it holds puts for (a rule set
         * replaced between batches): they go into it now. The transaction
         * is still open while attached (idxwork.h). */
        if ((*s)->work.set && (*s)->txn && hub_rsbuf_count((*s)->held))
            (void)held_flush(*s, (*s)->txn);
        hub_idxwork_detach(&(*s)->work);
        hub_rsbuf_free(&(*s)->held);
        bloom_free(*s);
        free(*s);
        *s = NULL;
    }
}

#define BLOOM_K 4

/* A series' hashes, made once a call: its key's (the key values, the
 * prefix's start: the filter's block and the key's bit) and the whole
 * prefix's (the series' bits, and the write buffer's table), the latter
 * seeded with the former so that only the kind and id are hashed again.
 * XXH3 (libxxhash, as the journal uses). The filter lives in memory only,
 * so the hashes are free to change. */
struct shash {
    uint64_t key, full;
};

static struct shash series_hash(const unsigned char *p, size_t n)
{
    size_t kl = 2 + ((size_t)p[0] << 8 | p[1]); /* prefix(): key_len(2) key kind id */
    if (kl > n)
        kl = n;
    uint64_t hk = XXH3_64bits(p, kl);
    return (struct shash){hk, XXH3_64bits_withSeed(p + kl, n - kl, hk)};
}

/* A blocked filter: a series' BLOOM_K bits are in one 64-byte block (a CPU
 * cache line), so a test or an insert costs one miss, not BLOOM_K (at one
 * series or more an event, four misses a test were 6% of the hub's time).
 * The block is chosen by the key's values alone (the prefix's start), so
 * the series of one person, every rule's and kind's, share a block: the
 * tests an event makes for its key, a rule's window, its tiers fired, the
 * earlier alerts, cost one miss between them, not one each. The bits in
 * the block come from the whole prefix's hash (36 bits, 9 for each). A
 * block then holds the bits of a key's few series: at ten million events
 * (about three million series over 262,144 blocks) some 50 of its 512 bits
 * are set, a false positive (a read for nothing) about 1 in 10,000. */
#define BLOOM_BLOCK_WORDS 8

static uint64_t *bloom_block(const struct hub_rstate *s, const struct shash *h, uint64_t *bits,
                             uint64_t *key_bit)
{
    *bits = (h->full * 0x9E3779B97F4A7C15ull) >> 28; /* the product's top bits: all of h */
    *key_bit = (h->key * 0xC2B2AE3D27D4EB4Full) >> 55; /* 9 bits: one of the block's 512 */
    return s->bloom + (h->key & s->bloom_mask) * BLOOM_BLOCK_WORDS;
}

/* The series' BLOOM_K bits, and its key's one bit: whether the key has
 * anything in the state at all (bloom_key_has). */
static void bloom_add(struct hub_rstate *s, const struct shash *h)
{
    uint64_t b, kb, *blk = bloom_block(s, h, &b, &kb);
    for (int i = 0; i < BLOOM_K; i++, b >>= 9)
        blk[(b >> 6) & 7] |= 1ull << (b & 63);
    blk[kb >> 6] |= 1ull << (kb & 63);
}

static int bloom_has(const struct hub_rstate *s, const struct shash *h)
{
    uint64_t b, kb, *blk = bloom_block(s, h, &b, &kb);
    for (int i = 0; i < BLOOM_K; i++, b >>= 9)
        if (!(blk[(b >> 6) & 7] & (1ull << (b & 63))))
            return 0;
    return 1;
}

/* 0 when no series of the key is in the state (a new person). One bit,
 * not BLOOM_K: a key wrongly taken as known only has its puts go to the
 * tree at once, while every bit more would make the series' own test
 * wrong more often. */
static int bloom_key_has(const struct hub_rstate *s, const struct shash *h)
{
    uint64_t b, kb, *blk = bloom_block(s, h, &b, &kb);
    return (blk[kb >> 6] >> (kb & 63)) & 1;
}

enum hub_err hub_rstate_cache(struct hub_rstate *s, size_t bytes, struct hub_error *err)
{
    uint64_t blocks = 1u << 7; /* 8 KiB at least */
    while (blocks * 2 * BLOOM_BLOCK_WORDS * 8 <= (uint64_t)bytes)
        blocks *= 2;
    bloom_free(s);
    s->bloom_ready = 0;
    s->built_len = 0;
    if (!bytes)
        return CSPH_ERR_OK;
    /* Anonymous pages: page-aligned (a block is one cache line) and zero
     * already, so the hub's start does not write 16 MiB of zeros, and the
     * memory a small state never touches is never committed. */
    size_t size = (size_t)(blocks * BLOOM_BLOCK_WORDS * 8);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "rule state: no memory for its cache");
    s->bloom = p;
    s->bloom_size = size;
    s->bloom_mask = blocks - 1;
    return CSPH_ERR_OK;
}

void hub_rstate_take_cache(struct hub_rstate *dst, struct hub_rstate *src)
{
    if (dst == src || !src->bloom || !src->bloom_ready)
        return;
    bloom_free(dst);
    dst->bloom = src->bloom;
    dst->bloom_size = src->bloom_size;
    dst->bloom_mask = src->bloom_mask;
    dst->bloom_ready = 1;
    dst->built_len = 0;
    src->bloom = NULL; /* src answers "may exist" for every series from now on */
    src->bloom_size = 0;
    src->bloom_mask = 0;
    src->bloom_ready = 0;
}

/* Records read into the filter in one step: a step runs once in an index
 * transaction (at its first begin: an evaluation begins once per event),
 * so a large state (ten million events hold about 16
 * million records, 1.4 GB) is read over many batches instead of holding
 * the hub's start (it took 5 s there, cold). Until the last step the filter
 * is not consulted (every series "may exist": a read instead of a skip),
 * and writes meanwhile set their bits as always, so a series written after
 * the step that passed its place is in the filter too. */
#define BLOOM_STEP 50000

/* Series of the state into the filter, from after the last key the
 * previous step read; bloom_ready once the end is reached. */
static int bloom_step(struct hub_rstate *s)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc = mdb_cursor_open(s->txn, s->state, &c);
    if (rc)
        return rc;
    if (s->built_len) {
        k.mv_size = s->built_len;
        k.mv_data = s->built;
        rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && k.mv_size == s->built_len && !memcmp(k.mv_data, s->built, s->built_len))
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT); /* read by the last step */
    } else {
        rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    }
    for (size_t n = 0; rc == 0 && n < BLOOM_STEP; n++) {
        /* One hash a series: the key's point (its last 16 bytes) aside, a
         * record of the series just read adds nothing. */
        const unsigned char *kp = k.mv_data;
        if (k.mv_size >= 16 + 11 && k.mv_size <= sizeof s->built &&
            ((size_t)kp[0] << 8 | kp[1]) + 11 + 16 == k.mv_size && /* prefix() made it */
            !(s->built_len == k.mv_size && !memcmp(s->built, k.mv_data, k.mv_size - 16))) {
            struct shash h = series_hash(kp, k.mv_size - 16);
            bloom_add(s, &h);
        }
        if (k.mv_size <= sizeof s->built) {
            memcpy(s->built, k.mv_data, k.mv_size);
            s->built_len = k.mv_size;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    if (rc == MDB_NOTFOUND) {
        s->bloom_ready = 1;
        s->built_len = 0;
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

enum hub_err hub_rstate_begin(struct hub_rstate *s, MDB_txn *txn, struct hub_error *err)
{
    int rc;
    /* Opened in every transaction: LMDB reuses one txn object for write
     * transactions, and a handle first opened in one that aborted is gone.
     * A cursor left open by a call that failed went with its transaction
     * (LMDB frees a write transaction's cursors when it ends). */
    s->cur = NULL;
    s->txn = NULL;
    if ((rc = mdb_dbi_open(txn, DB_STATE, MDB_CREATE, &s->state)) ||
        (rc = mdb_dbi_open(txn, DB_META, MDB_CREATE, &s->meta)))
        return lmdb_fail(err, rc, "opening");
    s->txn = txn;
    s->buf = hub_idxwork_attach(txn, &s->work) ? s->held : NULL;
    if (s->bloom && !s->bloom_ready && mdb_txn_id(txn) != s->step_txn &&
        (s->step_txn = mdb_txn_id(txn), rc = bloom_step(s)))
        return lmdb_fail(err, rc, "reading its series");
    return CSPH_ERR_OK;
}

/* The series' prefix into kb; its length. The key values come first, so
 * that one person's series of every rule and kind sit side by side: an
 * event writes one leaf page for its key, not one per rule, and the reads
 * of its rules find that page in the CPU's cache. */
static size_t prefix(unsigned char *kb, const struct hub_rs_series *sr)
{
    kb[0] = (unsigned char)(sr->key_len >> 8);
    kb[1] = (unsigned char)sr->key_len;
    memcpy(kb + 2, sr->key, sr->key_len);
    kb[2 + sr->key_len] = sr->kind;
    memcpy(kb + 3 + sr->key_len, sr->id, 8);
    return 11 + sr->key_len;
}

/* Times sort as signed numbers (bekey.h). */
static size_t point(unsigned char *kb, size_t off, int64_t t, uint64_t seq)
{
    hub_put_point(kb + off, t, seq);
    return off + 16;
}

int hub_rstate_may_exist(struct hub_rstate *s, const struct hub_rs_series *sr)
{
    if (!s->bloom_ready || sr->key_len > CSPH_RS_KEY_MAX)
        return 1;
    struct shash h = series_hash(s->kb, prefix(s->kb, sr));
    return bloom_has(s, &h);
}

static enum hub_err too_long(const struct hub_rs_series *sr, struct hub_error *err)
{
    return sr->key_len > CSPH_RS_KEY_MAX
               ? hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "rule state: a key of %zu bytes",
                               sr->key_len)
               : CSPH_ERR_OK;
}

/* The cursor the range reads and the writes share, opened at the first use
 * in a transaction. Shared on purpose: an evaluation reads a key's series
 * and then writes beside what it read, and a write through a cursor that
 * already sits on the right leaf page skips the search from the root
 * (LMDB's mdb_cursor_set checks the current page first): an event's writes
 * for one key land on one leaf (the key values come first, see prefix). */
static int cursor(struct hub_rstate *s, MDB_cursor **c)
{
    int rc = s->cur ? 0 : mdb_cursor_open(s->txn, s->state, &s->cur);
    *c = s->cur;
    return rc;
}

/* The held puts into the tree (idxwork.h's flush, and before a delete). */
static int held_flush(void *ctx, MDB_txn *txn)
{
    struct hub_rstate *s = ctx;
    return hub_rsbuf_write(s->held, txn, s->state);
}

static void held_drop(void *ctx)
{
    hub_rsbuf_clear(((struct hub_rstate *)ctx)->held);
}

/* Deletes work on the tree: what is held goes there first (deletes are
 * an erasure's or the retention sweep's, not an event's). */
static int held_write(struct hub_rstate *s)
{
    return s->buf && hub_rsbuf_count(s->buf) ? hub_rsbuf_write(s->buf, s->txn, s->state) : 0;
}

/* The record in s->kb (prefix of pl bytes, then its point) held for the
 * commit; a series grown long in this transaction goes to the tree. */
static enum hub_err hold(struct hub_rstate *s, const struct shash *h, size_t pl, const void *val,
                         size_t len, struct hub_error *err)
{
    /* the mark first: a key marked with nothing held is allowed, a record
     * held with its key unmarked is not (held_here) */
    int n = -1;
    if (hub_rsbuf_mark(s->buf, h->key) == 0)
        n = hub_rsbuf_put(s->buf, h->full, s->kb, pl, s->kb + pl, val, len);
    if (n < 0)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "rule state: out of memory");
    int rc = n > HELD_SERIES_MAX
                 ? hub_rsbuf_write_series(s->buf, h->full, s->kb, pl, s->txn, s->state)
                 : 0;
    return rc ? lmdb_fail(err, rc, "writing") : CSPH_ERR_OK;
}

/* Where a write of the series in s->kb (prefix of pl bytes, hash h) goes:
 * 1 held for the commit, 0 to the tree now; *rc an LMDB error when a held
 * series could not go to the tree ahead of it. A key the filter says has
 * nothing in the state yet (a new person) is held: put now, its record
 * would land on a random leaf page that nothing else of the event touches.
 * It stays held for all its series in the transaction (rsbuf.h's marks):
 * the filter knows it from its first put, and the default pack puts two to
 * four series an event for a victim (with the marks, 18% less work in the
 * transaction on the alert feed). A held series stays held (a read merges
 * its records; a point is in one place only): hold() marks its key, so an
 * unmarked key has nothing held, and one probe of the marks answers for
 * it. Any other goes to the tree now: a known key's series sit side by
 * side (prefix()), and the evaluation's reads of them have just placed the
 * cursor on their leaf page (cursor()), where a put is cheaper than held
 * and found again from the root at the commit. */
static int held_here(struct hub_rstate *s, const struct shash *h, size_t pl, size_t len,
                     int *rc)
{
    *rc = 0;
    if (!s->buf)
        return 0;
    int marked = hub_rsbuf_marked(s->buf, h->key);
    if (len > CSPH_RSBUF_VALUE_MAX) { /* too long to hold: the series to the tree first */
        if (marked && hub_rsbuf_series_len(s->buf, h->full, s->kb, pl) > 0)
            *rc = hub_rsbuf_write_series(s->buf, h->full, s->kb, pl, s->txn, s->state);
        return 0;
    }
    return marked || (s->bloom_ready && !bloom_key_has(s, h));
}

enum hub_err hub_rstate_put(struct hub_rstate *s, const struct hub_rs_series *sr, int64_t t,
                            uint64_t seq, const void *val, size_t len, int *existed,
                            struct hub_error *err)
{
    enum hub_err e = too_long(sr, err);
    if (e)
        return e;
    size_t pl = prefix(s->kb, sr);
    MDB_val k = {point(s->kb, pl, t, seq), s->kb}, v = {len, (void *)val};
    struct shash h = series_hash(s->kb, pl);
    int rc, held = held_here(s, &h, pl, len, &rc);
    *existed = 0;
    if (rc)
        return lmdb_fail(err, rc, "writing");
    if (!held) {
        if (s->bloom)
            bloom_add(s, &h);
        MDB_cursor *c;
        if ((rc = cursor(s, &c)) == 0)
            rc = mdb_cursor_put(c, &k, &v, MDB_NOOVERWRITE);
        *existed = rc == MDB_KEYEXIST;
        if (rc && rc != MDB_KEYEXIST)
            return lmdb_fail(err, rc, "writing");
        return CSPH_ERR_OK;
    }
    struct hub_rsbuf_rec r;
    if (hub_rsbuf_get(s->buf, h.full, s->kb, pl, s->kb + pl, &r)) {
        *existed = 1;
        return CSPH_ERR_OK;
    }
    /* A held series may have records in the tree too (from an earlier
     * transaction): only one the filter may hold needs the read. */
    if (!s->bloom_ready || bloom_has(s, &h)) {
        MDB_val got;
        if ((rc = mdb_get(s->txn, s->state, &k, &got)) == 0) {
            *existed = 1;
            return CSPH_ERR_OK;
        }
        if (rc != MDB_NOTFOUND)
            return lmdb_fail(err, rc, "reading");
    }
    if (s->bloom)
        bloom_add(s, &h);
    return hold(s, &h, pl, val, len, err);
}

enum hub_err hub_rstate_set(struct hub_rstate *s, const struct hub_rs_series *sr, int64_t t,
                            uint64_t seq, const void *val, size_t len, struct hub_error *err)
{
    enum hub_err e = too_long(sr, err);
    if (e)
        return e;
    size_t pl = prefix(s->kb, sr);
    MDB_val k = {point(s->kb, pl, t, seq), s->kb}, v = {len, (void *)val};
    struct shash h = series_hash(s->kb, pl);
    int rc, held = held_here(s, &h, pl, len, &rc);
    if (rc)
        return lmdb_fail(err, rc, "writing");
    if (s->bloom)
        bloom_add(s, &h);
    if (held)
        return hold(s, &h, pl, val, len, err);
    MDB_cursor *c;
    rc = cursor(s, &c);
    if (rc == 0)
        rc = mdb_cursor_put(c, &k, &v, 0);
    return rc ? lmdb_fail(err, rc, "writing") : CSPH_ERR_OK;
}

enum hub_err hub_rstate_get(struct hub_rstate *s, const struct hub_rs_series *sr, int64_t t,
                            uint64_t seq, unsigned char *val, size_t *len, int *found,
                            struct hub_error *err)
{
    enum hub_err e = too_long(sr, err);
    if (e)
        return e;
    size_t pl = prefix(s->kb, sr);
    MDB_val k = {point(s->kb, pl, t, seq), s->kb}, v;
    struct hub_rsbuf_rec r;
    if (s->buf && hub_rsbuf_get(s->buf, series_hash(s->kb, pl).full, s->kb, pl, s->kb + pl, &r)) {
        *found = 1;
        *len = r.len < *len ? r.len : *len;
        memcpy(val, r.val, *len);
        return CSPH_ERR_OK;
    }
    int rc = mdb_get(s->txn, s->state, &k, &v);
    *found = rc == 0;
    if (rc && rc != MDB_NOTFOUND)
        return lmdb_fail(err, rc, "reading");
    if (*found) {
        *len = v.mv_size < *len ? v.mv_size : *len;
        memcpy(val, v.mv_data, *len);
    }
    return CSPH_ERR_OK;
}

enum hub_err hub_rstate_del(struct hub_rstate *s, const struct hub_rs_series *sr, int64_t t,
                            uint64_t seq, struct hub_error *err)
{
    enum hub_err e = too_long(sr, err);
    if (e)
        return e;
    int rc = held_write(s);
    if (rc)
        return lmdb_fail(err, rc, "writing");
    MDB_val k = {point(s->kb, prefix(s->kb, sr), t, seq), s->kb};
    rc = mdb_del(s->txn, s->state, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? lmdb_fail(err, rc, "deleting") : CSPH_ERR_OK;
}

void hub_rstate_end(struct hub_rstate *s)
{
    if (s->cur)
        mdb_cursor_close(s->cur);
    s->cur = NULL;
}

enum hub_err hub_rstate_range(struct hub_rstate *s, const struct hub_rs_series *sr,
                              int64_t from, int64_t to, hub_rs_fn fn, void *ctx,
                              struct hub_error *err)
{
    enum hub_err e = too_long(sr, err);
    if (e)
        return e;
    size_t pl = prefix(s->kb2, sr);
    MDB_val k = {point(s->kb2, pl, from, 0), s->kb2}, v;
    MDB_cursor *c;
    int rc = cursor(s, &c);
    if (rc)
        return lmdb_fail(err, rc, "reading");
    unsigned char hi[16];
    point(hi, 0, to, UINT64_MAX);
    /* The series' records held for the commit, merged in point order with
     * the tree's; a point in both is the held one (a value set since). */
    struct hub_rsbuf_it it;
    struct hub_rsbuf_rec h;
    int held = s->buf && hub_rsbuf_seek(s->buf, series_hash(s->kb2, pl).full, s->kb2, pl,
                                        s->kb2 + pl, &it, &h);
    rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
    for (;;) {
        const unsigned char *p = k.mv_data;
        int tree = rc == 0 && k.mv_size == pl + 16 && !memcmp(p, s->kb2, pl) &&
                   memcmp(p + pl, hi, 16) <= 0;
        if (held && memcmp(h.point, hi, 16) > 0)
            held = 0;
        if (!tree && !held)
            break;
        int order = !tree ? 1 : !held ? -1 : memcmp(p + pl, h.point, 16);
        struct hub_rs_rec r;
        if (order < 0) {
            r = (struct hub_rs_rec){.val = v.mv_data, .len = v.mv_size};
            hub_get_point(p + pl, &r.t, &r.seq);
        } else {
            r = (struct hub_rs_rec){.val = h.val, .len = h.len};
            hub_get_point(h.point, &r.t, &r.seq);
        }
        if (fn(ctx, &r))
            break;
        if (order <= 0)
            rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
        if (order >= 0)
            held = hub_rsbuf_next(&it, &h);
    }
    return rc && rc != MDB_NOTFOUND ? lmdb_fail(err, rc, "reading") : CSPH_ERR_OK;
}

enum hub_err hub_rstate_drop(struct hub_rstate *s, const struct hub_rs_series *sr, uint64_t *n,
                             struct hub_error *err)
{
    enum hub_err e = too_long(sr, err);
    if (e)
        return e;
    *n = 0;
    int rc = held_write(s);
    if (rc)
        return lmdb_fail(err, rc, "writing");
    size_t pl = prefix(s->kb2, sr);
    MDB_val k = {point(s->kb2, pl, INT64_MIN, 0), s->kb2}, v;
    MDB_cursor *c;
    rc = mdb_cursor_open(s->txn, s->state, &c);
    if (rc)
        return lmdb_fail(err, rc, "deleting");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT)) {
        if (k.mv_size != pl + 16 || memcmp(k.mv_data, s->kb2, pl))
            break;
        if ((rc = mdb_cursor_del(c, 0)))
            break;
        (*n)++;
    }
    mdb_cursor_close(c);
    /* EINVAL: the last record of the database went, the cursor points nowhere */
    return rc && rc != MDB_NOTFOUND && rc != EINVAL ? lmdb_fail(err, rc, "deleting")
                                                    : CSPH_ERR_OK;
}

/* Whether the encoded key values of a record's key hold (tag, value). */
static int key_names(const unsigned char *k, size_t n, char tag, const char *value, size_t len)
{
    if (n < 11 + 16)
        return 0;
    size_t kl = (size_t)k[0] << 8 | k[1], off = 2;
    if (11 + kl + 16 != n)
        return 0;
    while (off + 2 <= 2 + kl) {
        size_t vl = k[off + 1];
        if (off + 2 + vl > 2 + kl)
            return 0;
        if (k[off] == (unsigned char)tag && vl == len && !memcmp(k + off + 2, value, len))
            return 1;
        off += 2 + vl;
    }
    return 0;
}

enum hub_err hub_rstate_drop_value(struct hub_rstate *s, char tag, const char *value, size_t len,
                                   uint64_t *n, struct hub_error *err)
{
    MDB_cursor *c;
    MDB_val k, v;
    *n = 0;
    int rc = held_write(s);
    if (rc)
        return lmdb_fail(err, rc, "writing");
    if ((rc = mdb_cursor_open(s->txn, s->state, &c)))
        return lmdb_fail(err, rc, "deleting");
    rc = mdb_cursor_get(c, &k, &v, MDB_FIRST);
    while (rc == 0) {
        if (key_names(k.mv_data, k.mv_size, tag, value, len)) {
            if ((rc = mdb_cursor_del(c, 0)))
                break;
            (*n)++;
            rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
            if (rc == EINVAL || rc == MDB_NOTFOUND) /* deleted the last record */
                break;
            continue;
        }
        rc = mdb_cursor_get(c, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(c);
    return rc && rc != MDB_NOTFOUND && rc != EINVAL ? lmdb_fail(err, rc, "deleting") : CSPH_ERR_OK;
}

enum hub_err hub_rstate_meta_get(struct hub_rstate *s, const char *name, void *val, size_t cap,
                                 size_t *len, int *found, struct hub_error *err)
{
    MDB_val k = {strlen(name), (void *)name}, v;
    int rc = mdb_get(s->txn, s->meta, &k, &v);
    *found = rc == 0;
    if (rc && rc != MDB_NOTFOUND)
        return lmdb_fail(err, rc, "reading its record");
    if (*found) {
        *len = v.mv_size < cap ? v.mv_size : cap;
        memcpy(val, v.mv_data, *len);
    }
    return CSPH_ERR_OK;
}

enum hub_err hub_rstate_meta_put(struct hub_rstate *s, const char *name, const void *val,
                                 size_t len, struct hub_error *err)
{
    MDB_val k = {strlen(name), (void *)name}, v = {len, (void *)val};
    int rc = mdb_put(s->txn, s->meta, &k, &v, 0);
    return rc ? lmdb_fail(err, rc, "writing its record") : CSPH_ERR_OK;
}

enum hub_err hub_rstate_size(MDB_txn *txn, uint64_t *entries, uint64_t *bytes,
                             struct hub_error *err)
{
    static const char *const names[] = {DB_STATE, DB_META};
    *entries = *bytes = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        MDB_dbi dbi;
        MDB_stat st;
        int rc = mdb_dbi_open(txn, names[i], 0, &dbi);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc || (rc = mdb_stat(txn, dbi, &st)))
            return lmdb_fail(err, rc, "measuring");
        *entries += st.ms_entries;
        *bytes += (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) *
                  st.ms_psize;
    }
    return CSPH_ERR_OK;
}
