/* refbuf.c: person-index entries waiting for the index's commit (refbuf.h). */
#include "refbuf.h"

#include "grow.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An entry in the arena: klen(2, host order) key val(vlen); with vlen 0
 * (values of their own length): klen(2) key len(1) val(len). */
struct hub_refbuf {
    size_t vlen;
    unsigned put_flags;
    unsigned char *arena;
    size_t used, cap;
    uint32_t *at; /* offsets of live entries */
    size_t n, ncap;
    struct item *items; /* the entries to sort at the write */
    size_t icap;
};

/* An entry to sort: its key's first 16 bytes as two big-endian numbers
 * (zeros past a shorter key), so that most comparisons are of integers and
 * only equal prefixes compare the bytes (sorting was a tenth of the hub's
 * instructions an event with the bytes compared every time; 8 bytes left
 * most places tied: "aE0100..." for an LSOA). */
struct item {
    uint64_t hi, lo;
    uint32_t off;
};

struct hub_refbuf *hub_refbuf_new(size_t vlen, unsigned put_flags)
{
    if (vlen > 64)
        return NULL;
    struct hub_refbuf *b = calloc(1, sizeof *b);
    if (b) {
        b->vlen = vlen;
        b->put_flags = put_flags;
    }
    return b;
}

void hub_refbuf_free(struct hub_refbuf **b)
{
    if (!b || !*b)
        return;
    free((*b)->arena);
    free((*b)->at);
    free((*b)->items);
    free(*b);
    *b = NULL;
}

static int grow(void **p, size_t *cap, size_t need, size_t unit)
{
    return hub_grow(p, cap, need, unit, 1024);
}

static int add(struct hub_refbuf *b, const void *key, size_t klen, const void *val, size_t vlen)
{
    if (klen == 0 || klen > 0xffff)
        return -1;
    size_t need = 2 + klen + (b->vlen ? 0 : 1) + vlen;
    if (b->used + need > UINT32_MAX || grow((void **)&b->arena, &b->cap, b->used + need, 1) ||
        grow((void **)&b->at, &b->ncap, b->n + 1, sizeof *b->at))
        return -1;
    unsigned char *p = b->arena + b->used;
    uint16_t l = (uint16_t)klen;
    memcpy(p, &l, 2);
    memcpy(p + 2, key, klen);
    if (!b->vlen)
        p[2 + klen++] = (unsigned char)vlen;
    if (vlen)
        memcpy(p + 2 + klen, val, vlen);
    b->at[b->n++] = (uint32_t)b->used;
    b->used += need;
    return 0;
}

int hub_refbuf_add(struct hub_refbuf *b, const void *key, size_t klen, const void *val)
{
    return b->vlen ? add(b, key, klen, val, b->vlen) : -1;
}

int hub_refbuf_add_len(struct hub_refbuf *b, const void *key, size_t klen, const void *val,
                       size_t vlen)
{
    return b->vlen || vlen > 64 ? -1 : add(b, key, klen, val, vlen);
}

size_t hub_refbuf_count(const struct hub_refbuf *b) { return b->n; }

void hub_refbuf_clear(struct hub_refbuf *b)
{
    if (hub_grow_oversized(b->cap, b->used)) { /* the room back (grow.h) */
        hub_grow_release((void **)&b->arena, &b->cap);
        hub_grow_release((void **)&b->at, &b->ncap);
        hub_grow_release((void **)&b->items, &b->icap);
    }
    b->used = 0;
    b->n = 0;
}

/* LMDB's default order: keys by memcmp, a shorter key before a longer one
 * with the same start; then the values by memcmp (the duplicates' order). */
static inline int cmp_entry(const struct item *x, const struct item *y,
                            const struct hub_refbuf *rb)
{
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    const unsigned char *p = rb->arena + x->off;
    const unsigned char *q = rb->arena + y->off;
    uint16_t lp, lq;
    memcpy(&lp, p, 2);
    memcpy(&lq, q, 2);
    int c = memcmp(p + 2, q + 2, lp < lq ? lp : lq);
    if (c)
        return c;
    if (lp != lq)
        return lp < lq ? -1 : 1;
    if (!rb->vlen) /* the same key given twice: in the order given (the later replaces) */
        return x->off < y->off ? -1 : x->off > y->off;
    return memcmp(p + 2 + lp, q + 2 + lq, rb->vlen);
}

/* A merge sort with the comparison inlined: glibc's qsort_r moved 24-byte
 * items through its generic copy and an indirect call each time, and that
 * was most of the sorting's cost. Runs of 16 by insertion, then merged
 * between a and tmp; the result is in a. */
#define RUN 16
static void sort_items(struct hub_refbuf *b, struct item *a, struct item *tmp, size_t n)
{
    for (size_t lo = 0; lo < n; lo += RUN) {
        size_t hi = lo + RUN < n ? lo + RUN : n;
        for (size_t i = lo + 1; i < hi; i++) {
            struct item x = a[i];
            size_t j = i;
            for (; j > lo && cmp_entry(&x, &a[j - 1], b) < 0; j--)
                a[j] = a[j - 1];
            a[j] = x;
        }
    }
    struct item *src = a, *dst = tmp;
    for (size_t w = RUN; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi)
                dst[k++] = cmp_entry(&src[j], &src[i], b) < 0 ? src[j++] : src[i++];
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        struct item *t = src;
        src = dst;
        dst = t;
    }
    if (src != a)
        memcpy(a, src, n * sizeof *a);
}

int hub_refbuf_write(struct hub_refbuf *b, MDB_txn *txn, MDB_dbi dbi)
{
    if (!b->n)
        return 0;
    if (grow((void **)&b->items, &b->icap, 2 * b->n, sizeof *b->items)) /* and the merge's room */
        return ENOMEM;
    for (size_t i = 0; i < b->n; i++) {
        const unsigned char *p = b->arena + b->at[i];
        uint16_t l;
        memcpy(&l, p, 2);
        uint64_t hi = 0, lo = 0;
        for (size_t j = 0; j < 8; j++) {
            hi = hi << 8 | (j < l ? p[2 + j] : 0);
            lo = lo << 8 | (j + 8 < l ? p[10 + j] : 0);
        }
        b->items[i] = (struct item){hi, lo, b->at[i]};
    }
    sort_items(b, b->items, b->items + b->n, b->n);
    MDB_cursor *c = NULL;
    int rc = mdb_cursor_open(txn, dbi, &c);
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        const unsigned char *p = b->arena + b->items[i].off;
        uint16_t l;
        memcpy(&l, p, 2);
        MDB_val k = {l, (void *)(p + 2)}, v = {b->vlen, (void *)(p + 2 + l)};
        if (!b->vlen)
            v = (MDB_val){p[2 + l], (void *)(p + 3 + l)};
        rc = mdb_cursor_put(c, &k, &v, b->put_flags);
        if (rc == MDB_KEYEXIST) /* the same event met again (a catch-up) */
            rc = 0;
    }
    if (c)
        mdb_cursor_close(c);
    hub_refbuf_clear(b);
    return rc;
}

size_t hub_refbuf_room(const struct hub_refbuf *b)
{
    return b->cap + b->ncap * sizeof *b->at + b->icap * sizeof *b->items;
}

void hub_refbuf_drop(struct hub_refbuf *b, const void *key, size_t klen)
{
    size_t w = 0;
    for (size_t i = 0; i < b->n; i++) {
        const unsigned char *p = b->arena + b->at[i];
        uint16_t l;
        memcpy(&l, p, 2);
        if (l == klen && memcmp(p + 2, key, klen) == 0)
            continue;
        b->at[w++] = b->at[i];
    }
    b->n = w;
}
