/* rsbuf.c: the rule state's write buffer (rsbuf.h). */
#include "rsbuf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "grow.h"
#include "refbuf.h"

#define NONE UINT32_MAX
#define PREFIX_MAX 480 /* rstate.c's longest prefix is 451 bytes */

/* A series held: its prefix (in bytes) and its first record. */
struct series {
    uint64_t hash;
    uint32_t off;   /* the prefix in bytes */
    uint16_t plen;
    uint32_t head;  /* first record in point order, NONE when none */
    uint32_t n;     /* records in the list */
};

struct rec {
    uint32_t next; /* the series' next record in point order */
    uint8_t len;
    unsigned char point[CSPH_RSBUF_POINT];
    unsigned char val[CSPH_RSBUF_VALUE_MAX];
};

struct hub_rsbuf {
    struct series *sers;
    uint32_t nsers;
    size_t capsers;
    uint32_t *tab; /* open addressing: series index + 1, 0 empty */
    uint32_t tabmask;
    struct rec *recs;
    uint32_t nrecs;
    size_t caprecs;
    uint32_t live; /* records in lists (a series written out leaves its records unlinked) */
    unsigned char *bytes;
    size_t nbytes, capbytes;
    struct hub_refbuf *out; /* the sort at the write */
    uint64_t *marks;        /* open addressing, 0 empty (a tag of 0 is kept as 1) */
    uint32_t markmask, nmarks;
};

struct hub_rsbuf *hub_rsbuf_new(void)
{
    struct hub_rsbuf *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->tabmask = 1023;
    b->markmask = 1023;
    if (!(b->tab = calloc(b->tabmask + 1, sizeof *b->tab)) ||
        !(b->marks = calloc(b->markmask + 1, sizeof *b->marks)) ||
        !(b->out = hub_refbuf_new(0, 0))) {
        hub_rsbuf_free(&b);
        return NULL;
    }
    return b;
}

void hub_rsbuf_free(struct hub_rsbuf **bp)
{
    if (!bp || !*bp)
        return;
    struct hub_rsbuf *b = *bp;
    free(b->sers);
    free(b->tab);
    free(b->recs);
    free(b->bytes);
    free(b->marks);
    hub_refbuf_free(&b->out);
    free(b);
    *bp = NULL;
}

size_t hub_rsbuf_count(const struct hub_rsbuf *b) { return b->live; }

size_t hub_rsbuf_room(const struct hub_rsbuf *b)
{
    return b->capsers * sizeof *b->sers + ((size_t)b->tabmask + 1) * sizeof *b->tab +
           b->caprecs * sizeof *b->recs + b->capbytes + hub_refbuf_room(b->out) +
           ((size_t)b->markmask + 1) * sizeof *b->marks;
}

static int grow(void **p, size_t *cap, size_t need, size_t unit)
{
    return need > UINT32_MAX - 1 ? -1 : hub_grow(p, cap, need, unit, 256);
}

/* The table's slot for (hash, prefix): the series' or the empty one where
 * it would go. */
static uint32_t *slot(const struct hub_rsbuf *b, uint64_t hash, const unsigned char *prefix,
                      size_t plen)
{
    for (uint32_t i = (uint32_t)(hash >> 32) & b->tabmask;; i = (i + 1) & b->tabmask) {
        uint32_t *t = &b->tab[i];
        if (!*t)
            return t;
        const struct series *s = &b->sers[*t - 1];
        if (s->hash == hash && s->plen == plen && !memcmp(b->bytes + s->off, prefix, plen))
            return t;
    }
}

static int rehash(struct hub_rsbuf *b)
{
    uint32_t cap = (b->tabmask + 1) * 2;
    uint32_t *tab = calloc(cap, sizeof *tab);
    if (!tab)
        return -1;
    free(b->tab);
    b->tab = tab;
    b->tabmask = cap - 1;
    for (uint32_t n = 0; n < b->nsers; n++) {
        uint32_t i = (uint32_t)(b->sers[n].hash >> 32) & b->tabmask;
        while (b->tab[i])
            i = (i + 1) & b->tabmask;
        b->tab[i] = n + 1;
    }
    return 0;
}

static void rec_out(const struct rec *r, struct hub_rsbuf_rec *out)
{
    out->point = r->point;
    out->val = r->val;
    out->len = r->len;
}

int hub_rsbuf_put(struct hub_rsbuf *b, uint64_t hash, const unsigned char *prefix, size_t plen,
                  const unsigned char *point, const void *val, size_t len)
{
    if (!plen || plen > PREFIX_MAX || len > CSPH_RSBUF_VALUE_MAX)
        return -1;
    uint32_t *t = slot(b, hash, prefix, plen);
    if (!*t) {
        if ((b->nsers + 1) * 2 > b->tabmask + 1) { /* at most half full */
            if (rehash(b))
                return -1;
            t = slot(b, hash, prefix, plen);
        }
        if (grow((void **)&b->sers, &b->capsers, b->nsers + 1, sizeof *b->sers) ||
            grow((void **)&b->bytes, &b->capbytes, b->nbytes + plen, 1))
            return -1;
        memcpy(b->bytes + b->nbytes, prefix, plen);
        b->sers[b->nsers] = (struct series){hash, (uint32_t)b->nbytes, (uint16_t)plen, NONE, 0};
        b->nbytes += plen;
        *t = ++b->nsers;
    }
    struct series *s = &b->sers[*t - 1];
    /* The place in point order: a series holds few records in one
     * transaction (an event or a few a person), so a list will do. */
    uint32_t *at = &s->head;
    int c = 1;
    while (*at != NONE && (c = memcmp(b->recs[*at].point, point, CSPH_RSBUF_POINT)) < 0)
        at = &b->recs[*at].next;
    if (*at != NONE && c == 0) {
        struct rec *r = &b->recs[*at];
        r->len = (uint8_t)len;
        if (len)
            memcpy(r->val, val, len);
        return (int)s->n;
    }
    uint32_t next = *at; /* before recs moves */
    size_t at_off = (size_t)((char *)at - (char *)b->recs);
    int in_recs = (char *)at >= (char *)b->recs &&
                  (char *)at < (char *)(b->recs + b->nrecs);
    if (grow((void **)&b->recs, &b->caprecs, b->nrecs + 1, sizeof *b->recs))
        return -1;
    if (in_recs)
        at = (uint32_t *)((char *)b->recs + at_off);
    struct rec *r = &b->recs[b->nrecs];
    r->next = next;
    r->len = (uint8_t)len;
    memcpy(r->point, point, CSPH_RSBUF_POINT);
    if (len)
        memcpy(r->val, val, len);
    *at = b->nrecs++;
    b->live++;
    return (int)++s->n; /* s still valid: sers grows only for a new series, before s */
}

int hub_rsbuf_write_series(struct hub_rsbuf *b, uint64_t hash, const unsigned char *prefix,
                           size_t plen, MDB_txn *txn, MDB_dbi dbi)
{
    if (!plen || plen > PREFIX_MAX)
        return 0;
    uint32_t *t = slot(b, hash, prefix, plen);
    if (!*t)
        return 0;
    struct series *s = &b->sers[*t - 1];
    unsigned char key[PREFIX_MAX + CSPH_RSBUF_POINT];
    memcpy(key, prefix, plen);
    MDB_cursor *c = NULL;
    int rc = mdb_cursor_open(txn, dbi, &c);
    /* The list is in point order, so the keys go in ascending. */
    for (uint32_t at = s->head; at != NONE && rc == 0; at = b->recs[at].next) {
        const struct rec *r = &b->recs[at];
        memcpy(key + plen, r->point, CSPH_RSBUF_POINT);
        MDB_val k = {plen + CSPH_RSBUF_POINT, key}, v = {r->len, (void *)r->val};
        rc = mdb_cursor_put(c, &k, &v, 0);
    }
    if (c)
        mdb_cursor_close(c);
    b->live -= s->n;
    s->head = NONE;
    s->n = 0;
    return rc;
}

uint32_t hub_rsbuf_series_len(const struct hub_rsbuf *b, uint64_t hash,
                              const unsigned char *prefix, size_t plen)
{
    if (!b->live || !plen || plen > PREFIX_MAX)
        return 0;
    const uint32_t *t = slot(b, hash, prefix, plen);
    return *t ? b->sers[*t - 1].n : 0;
}

int hub_rsbuf_get(const struct hub_rsbuf *b, uint64_t hash, const unsigned char *prefix,
                  size_t plen, const unsigned char *point, struct hub_rsbuf_rec *r)
{
    struct hub_rsbuf_it it;
    return hub_rsbuf_seek(b, hash, prefix, plen, point, &it, r) &&
           !memcmp(r->point, point, CSPH_RSBUF_POINT);
}

int hub_rsbuf_seek(const struct hub_rsbuf *b, uint64_t hash, const unsigned char *prefix,
                   size_t plen, const unsigned char *from, struct hub_rsbuf_it *it,
                   struct hub_rsbuf_rec *r)
{
    it->b = b;
    it->at = NONE;
    if (!b->nrecs || !plen || plen > PREFIX_MAX)
        return 0;
    const uint32_t *t = slot(b, hash, prefix, plen);
    if (!*t)
        return 0;
    uint32_t at = b->sers[*t - 1].head;
    while (at != NONE && memcmp(b->recs[at].point, from, CSPH_RSBUF_POINT) < 0)
        at = b->recs[at].next;
    if (at == NONE)
        return 0;
    it->at = at;
    rec_out(&b->recs[at], r);
    return 1;
}

int hub_rsbuf_next(struct hub_rsbuf_it *it, struct hub_rsbuf_rec *r)
{
    if (it->at == NONE || (it->at = it->b->recs[it->at].next) == NONE)
        return 0;
    rec_out(&it->b->recs[it->at], r);
    return 1;
}

static uint64_t *mark_slot(uint64_t *marks, uint32_t mask, uint64_t tag)
{
    uint32_t i = (uint32_t)(tag >> 32) & mask;
    while (marks[i] && marks[i] != tag)
        i = (i + 1) & mask;
    return &marks[i];
}

int hub_rsbuf_mark(struct hub_rsbuf *b, uint64_t tag)
{
    tag = tag ? tag : 1;
    uint64_t *m = mark_slot(b->marks, b->markmask, tag);
    if (*m)
        return 0;
    if ((b->nmarks + 1) * 2 > b->markmask + 1) { /* at most half full */
        uint32_t mask = b->markmask * 2 + 1;
        uint64_t *marks = calloc((size_t)mask + 1, sizeof *marks);
        if (!marks)
            return -1;
        for (uint32_t i = 0; i <= b->markmask; i++)
            if (b->marks[i])
                *mark_slot(marks, mask, b->marks[i]) = b->marks[i];
        free(b->marks);
        b->marks = marks;
        b->markmask = mask;
        m = mark_slot(marks, mask, tag);
    }
    *m = tag;
    b->nmarks++;
    return 0;
}

int hub_rsbuf_marked(const struct hub_rsbuf *b, uint64_t tag)
{
    return b->nmarks && *mark_slot(b->marks, b->markmask, tag ? tag : 1);
}

/* The room back after a transaction that held far less (grow.h). */
static void fit(struct hub_rsbuf *b)
{
    uint32_t *tab;
    if (!hub_grow_oversized(b->caprecs * sizeof *b->recs, b->nrecs * sizeof *b->recs) ||
        !(tab = calloc(1024, sizeof *tab)))
        return;
    free(b->tab);
    b->tab = tab;
    b->tabmask = 1023;
    b->nsers = 0;
    hub_grow_release((void **)&b->sers, &b->capsers);
    hub_grow_release((void **)&b->recs, &b->caprecs);
    hub_grow_release((void **)&b->bytes, &b->capbytes);
}

void hub_rsbuf_clear(struct hub_rsbuf *b)
{
    fit(b);
    uint64_t *marks;
    if (hub_grow_oversized(((size_t)b->markmask + 1) * sizeof *b->marks,
                           (size_t)b->nmarks * 2 * sizeof *b->marks) &&
        (marks = calloc(1024, sizeof *marks))) {
        free(b->marks);
        b->marks = marks;
        b->markmask = 1023;
    } else if (b->nmarks) {
        memset(b->marks, 0, ((size_t)b->markmask + 1) * sizeof *b->marks);
    }
    b->nmarks = 0;
    if (b->nsers)
        memset(b->tab, 0, ((size_t)b->tabmask + 1) * sizeof *b->tab);
    b->nsers = 0;
    b->nrecs = 0;
    b->live = 0;
    b->nbytes = 0;
    hub_refbuf_clear(b->out);
}

int hub_rsbuf_write(struct hub_rsbuf *b, MDB_txn *txn, MDB_dbi dbi)
{
    unsigned char key[PREFIX_MAX + CSPH_RSBUF_POINT];
    int rc = 0;
    for (uint32_t n = 0; n < b->nsers && rc == 0; n++) {
        const struct series *s = &b->sers[n];
        memcpy(key, b->bytes + s->off, s->plen);
        for (uint32_t at = s->head; at != NONE && rc == 0; at = b->recs[at].next) {
            const struct rec *r = &b->recs[at];
            memcpy(key + s->plen, r->point, CSPH_RSBUF_POINT);
            if (hub_refbuf_add_len(b->out, key, s->plen + CSPH_RSBUF_POINT, r->val, r->len))
                rc = ENOMEM;
        }
    }
    if (rc == 0)
        rc = hub_refbuf_write(b->out, txn, dbi);
    hub_rsbuf_clear(b);
    return rc;
}
