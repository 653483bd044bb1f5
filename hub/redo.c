/* redo.c: a batch's writes to data.mdb, recorded (redo.h).
 *
 * An operation: u8 op (PUT, DEL, DEL_KV), u8 name length, the name, u32
 * database flags, u32 put flags, u32 key length, the key, u32 value length,
 * the value (DEL: no value). Lengths little-endian as the machine's. */
#include "redo.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { OP_PUT = 1, OP_DEL = 2, OP_DEL_KV = 3 };
#define MAX_DBI 256

struct hub_redo {
    int on;
    int failed;
    unsigned char *buf;
    size_t len, cap;
    struct {
        char name[64];
        unsigned flags;
    } names[MAX_DBI];
};

struct hub_redo *hub_redo_new(void) { return calloc(1, sizeof(struct hub_redo)); }

void hub_redo_free(struct hub_redo **r)
{
    if (!r || !*r)
        return;
    free((*r)->buf);
    free(*r);
    *r = NULL;
}

void hub_redo_record(struct hub_redo *r, int on) { r->on = on; }
int hub_redo_recording(const struct hub_redo *r) { return r && r->on; }

void hub_redo_name(struct hub_redo *r, MDB_dbi dbi, const char *name, unsigned flags)
{
    if (!r || dbi >= MAX_DBI)
        return;
    size_t n = strlen(name);
    if (n >= sizeof r->names[dbi].name)
        n = sizeof r->names[dbi].name - 1;
    memcpy(r->names[dbi].name, name, n);
    r->names[dbi].name[n] = 0;
    r->names[dbi].flags = flags & (MDB_REVERSEKEY | MDB_DUPSORT | MDB_INTEGERKEY | MDB_DUPFIXED |
                                   MDB_INTEGERDUP | MDB_REVERSEDUP);
}

static int grow(struct hub_redo *r, size_t more)
{
    if (r->len + more <= r->cap)
        return 0;
    size_t cap = r->cap ? r->cap : 64 * 1024;
    while (cap < r->len + more)
        cap *= 2;
    unsigned char *p = realloc(r->buf, cap);
    if (!p)
        return -1;
    r->buf = p;
    r->cap = cap;
    return 0;
}

static void put32(struct hub_redo *r, uint32_t v)
{
    memcpy(r->buf + r->len, &v, 4);
    r->len += 4;
}

static void put_bytes(struct hub_redo *r, const void *p, size_t n)
{
    if (n)
        memcpy(r->buf + r->len, p, n);
    r->len += n;
}

static void record(struct hub_redo *r, int op, MDB_dbi dbi, unsigned flags, const MDB_val *k,
                   const MDB_val *v)
{
    if (!r || !r->on)
        return;
    if (dbi >= MAX_DBI || !r->names[dbi].name[0]) {
        r->failed = EINVAL; /* a database nobody named: its writes would be lost */
        return;
    }
    size_t nl = strlen(r->names[dbi].name);
    size_t need = 2 + nl + 12 + k->mv_size + (v ? 4 + v->mv_size : 0);
    if (k->mv_size > UINT32_MAX || (v && v->mv_size > UINT32_MAX) || grow(r, need) != 0) {
        r->failed = ENOMEM;
        return;
    }
    r->buf[r->len++] = (unsigned char)op;
    r->buf[r->len++] = (unsigned char)nl;
    put_bytes(r, r->names[dbi].name, nl);
    put32(r, r->names[dbi].flags);
    put32(r, flags & ~(unsigned)MDB_RESERVE);
    put32(r, (uint32_t)k->mv_size);
    put_bytes(r, k->mv_data, k->mv_size);
    if (v) {
        put32(r, (uint32_t)v->mv_size);
        put_bytes(r, v->mv_data, v->mv_size);
    }
}

int hub_redo_put(struct hub_redo *r, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v,
                 unsigned flags)
{
    MDB_val in = *v;
    int rc = mdb_put(txn, dbi, k, v, flags);
    if (rc == 0 && !(flags & MDB_RESERVE))
        record(r, OP_PUT, dbi, flags, k, &in);
    return rc;
}

void hub_redo_filled(struct hub_redo *r, MDB_dbi dbi, const MDB_val *k, const MDB_val *v,
                     unsigned flags)
{
    record(r, OP_PUT, dbi, flags, k, v);
}

int hub_redo_del(struct hub_redo *r, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v)
{
    int rc = mdb_del(txn, dbi, k, v);
    if (rc == 0)
        record(r, v ? OP_DEL_KV : OP_DEL, dbi, 0, k, v);
    return rc;
}

int hub_redo_cursor_del(struct hub_redo *r, MDB_cursor *c, MDB_dbi dbi)
{
    if (!r || !r->on)
        return mdb_cursor_del(c, 0);
    MDB_val k, v;
    int rc = mdb_cursor_get(c, &k, &v, MDB_GET_CURRENT);
    if (rc)
        return rc;
    /* Copied first: the delete may reuse the page they sit on. */
    unsigned char *scratch = malloc(k.mv_size + v.mv_size + 1);
    if (!scratch) {
        r->failed = ENOMEM;
        return mdb_cursor_del(c, 0);
    }
    memcpy(scratch, k.mv_data, k.mv_size);
    memcpy(scratch + k.mv_size, v.mv_data, v.mv_size);
    MDB_val kc = {k.mv_size, scratch}, vc = {v.mv_size, scratch + k.mv_size};
    if ((rc = mdb_cursor_del(c, 0)) == 0) {
        unsigned dflags = 0;
        mdb_dbi_flags(mdb_cursor_txn(c), dbi, &dflags);
        record(r, (dflags & MDB_DUPSORT) ? OP_DEL_KV : OP_DEL, dbi, 0, &kc, &vc);
    }
    free(scratch);
    return rc;
}

size_t hub_redo_len(const struct hub_redo *r) { return r ? r->len : 0; }

const void *hub_redo_bytes(const struct hub_redo *r, size_t from, size_t *n)
{
    *n = r->len > from ? r->len - from : 0;
    return r->buf ? r->buf + from : NULL;
}

void hub_redo_truncate(struct hub_redo *r, size_t to)
{
    if (!r)
        return;
    if (to < r->len)
        r->len = to;
    r->failed = 0;
}

int hub_redo_failed(const struct hub_redo *r) { return r ? r->failed : 0; }

/* ---- applying ------------------------------------------------------------ */

static int take(const unsigned char **p, const unsigned char *end, size_t n)
{
    return (size_t)(end - *p) >= n ? 0 : -1;
}

static int get32(const unsigned char **p, const unsigned char *end, uint32_t *v)
{
    if (take(p, end, 4))
        return -1;
    memcpy(v, *p, 4);
    *p += 4;
    return 0;
}

enum hub_err hub_redo_apply(MDB_txn *txn, const void *buf, size_t n, struct hub_error *err)
{
    const unsigned char *p = buf, *end = p + n;
    char name[256];
    unsigned long count = 0;
    while (p < end) {
        count++;
        if (take(&p, end, 2))
            goto bad;
        int op = *p++;
        size_t nl = *p++;
        if (take(&p, end, nl))
            goto bad;
        memcpy(name, p, nl);
        name[nl] = 0;
        p += nl;
        uint32_t dflags, flags, kl, vl = 0;
        if (get32(&p, end, &dflags) || get32(&p, end, &flags) || get32(&p, end, &kl) ||
            take(&p, end, kl))
            goto bad;
        MDB_val k = {kl, (void *)p}, v = {0, NULL};
        p += kl;
        if (op == OP_PUT || op == OP_DEL_KV) {
            if (get32(&p, end, &vl) || take(&p, end, vl))
                goto bad;
            v = (MDB_val){vl, (void *)p};
            p += vl;
        } else if (op != OP_DEL) {
            goto bad;
        }
        MDB_dbi dbi;
        int rc = mdb_dbi_open(txn, name, dflags | MDB_CREATE, &dbi);
        if (!rc) {
            if (op == OP_PUT)
                rc = mdb_put(txn, dbi, &k, &v, flags);
            else
                rc = mdb_del(txn, dbi, &k, op == OP_DEL_KV ? &v : NULL);
        }
        if (rc)
            return hub_error_set(err, rc == MDB_MAP_FULL ? CSPH_ERR_BUSY : CSPH_ERR_IO, "journal",
                                 "making write %lu of a journal record again (database %s): %s",
                                 count, name, mdb_strerror(rc));
    }
    return CSPH_ERR_OK;
bad:
    return hub_error_set(err, CSPH_ERR_IO, "journal",
                         "a journal record's write %lu is malformed (the record checked: a "
                         "hub of another version wrote it?)",
                         count);
}
