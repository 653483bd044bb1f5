/* refbuf.c: person-index entries waiting for the index's commit (refbuf.h). */
#define _GNU_SOURCE /* qsort_r */
#include "refbuf.h"

#include <stdlib.h>
#include <string.h>

/* An entry in the arena: klen(2, host order) key val(vlen). */
struct hub_refbuf {
    size_t vlen;
    unsigned put_flags;
    unsigned char *arena;
    size_t used, cap;
    uint32_t *at; /* offsets of live entries */
    size_t n, ncap;
};

struct hub_refbuf *hub_refbuf_new(size_t vlen, unsigned put_flags)
{
    if (vlen == 0 || vlen > 64)
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
    free(*b);
    *b = NULL;
}

static int grow(void **p, size_t *cap, size_t need, size_t unit)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 1024;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * unit);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

int hub_refbuf_add(struct hub_refbuf *b, const void *key, size_t klen, const void *val)
{
    if (klen == 0 || klen > 0xffff)
        return -1;
    size_t need = 2 + klen + b->vlen;
    if (b->used + need > UINT32_MAX || grow((void **)&b->arena, &b->cap, b->used + need, 1) ||
        grow((void **)&b->at, &b->ncap, b->n + 1, sizeof *b->at))
        return -1;
    unsigned char *p = b->arena + b->used;
    uint16_t l = (uint16_t)klen;
    memcpy(p, &l, 2);
    memcpy(p + 2, key, klen);
    memcpy(p + 2 + klen, val, b->vlen);
    b->at[b->n++] = (uint32_t)b->used;
    b->used += need;
    return 0;
}

size_t hub_refbuf_count(const struct hub_refbuf *b) { return b->n; }

void hub_refbuf_clear(struct hub_refbuf *b)
{
    b->used = 0;
    b->n = 0;
}

/* LMDB's default order: keys by memcmp, a shorter key before a longer one
 * with the same start; then the values by memcmp (the duplicates' order). */
static int cmp_entry(const void *a, const void *b, void *ctx)
{
    const struct hub_refbuf *rb = ctx;
    const unsigned char *p = rb->arena + *(const uint32_t *)a;
    const unsigned char *q = rb->arena + *(const uint32_t *)b;
    uint16_t lp, lq;
    memcpy(&lp, p, 2);
    memcpy(&lq, q, 2);
    int c = memcmp(p + 2, q + 2, lp < lq ? lp : lq);
    if (c)
        return c;
    if (lp != lq)
        return lp < lq ? -1 : 1;
    return memcmp(p + 2 + lp, q + 2 + lq, rb->vlen);
}

int hub_refbuf_write(struct hub_refbuf *b, MDB_txn *txn, MDB_dbi dbi)
{
    if (!b->n)
        return 0;
    qsort_r(b->at, b->n, sizeof *b->at, cmp_entry, b);
    MDB_cursor *c = NULL;
    int rc = mdb_cursor_open(txn, dbi, &c);
    for (size_t i = 0; rc == 0 && i < b->n; i++) {
        const unsigned char *p = b->arena + b->at[i];
        uint16_t l;
        memcpy(&l, p, 2);
        MDB_val k = {l, (void *)(p + 2)}, v = {b->vlen, (void *)(p + 2 + l)};
        rc = mdb_cursor_put(c, &k, &v, b->put_flags);
        if (rc == MDB_KEYEXIST) /* the same event met again (a catch-up) */
            rc = 0;
    }
    if (c)
        mdb_cursor_close(c);
    hub_refbuf_clear(b);
    return rc;
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
