/* storereject.c: kept rejections (storepriv.h). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bekey.h"
#include "log.h"
#include "redo.h"
#include "storepriv.h"

/* Kept rejections per source. A usage record: count, bytes, dropped. */
struct reject_use {
    uint64_t count, bytes, dropped;
};

static size_t reject_src_key(unsigned char *kb, const char *source, size_t len, uint64_t id)
{
    kb[0] = (unsigned char)len;
    memcpy(kb + 1, source, len);
    hub_put_be64(kb + 1 + len, id);
    return 1 + len + 8;
}

/* Count rejection id (size bytes) against its source, then drop that
 * source's oldest kept rejections while it is over either bound (never the
 * one just kept). Inside the batch's transaction. */
static int reject_bound(struct hub_store *s, const char *source, size_t len, uint64_t id,
                        size_t size)
{
    unsigned char kb[1 + 255 + 8];
    struct reject_use u = {0};
    MDB_val uk = {1 + len, kb}, uv, k, v;
    MDB_cursor *c;
    int rc;
    size_t kl = reject_src_key(kb, source, len, id);
    uint32_t sz = (uint32_t)size;
    k.mv_size = kl;
    k.mv_data = kb;
    v.mv_size = 4;
    v.mv_data = &sz;
    if ((rc = hub_redo_put(s->redo, s->txn, s->reject_src, &k, &v, MDB_NOOVERWRITE)))
        return rc;
    rc = mdb_get(s->txn, s->reject_use, &uk, &uv);
    if (rc == 0 && uv.mv_size == sizeof u)
        memcpy(&u, uv.mv_data, sizeof u);
    else if (rc && rc != MDB_NOTFOUND)
        return rc;
    u.count++;
    u.bytes += size;
    if ((s->reject_max && u.count > s->reject_max) ||
        (s->reject_max_bytes && u.bytes > s->reject_max_bytes)) {
        if ((rc = mdb_cursor_open(s->txn, s->reject_src, &c)))
            return rc;
        while (u.count > 1 && ((s->reject_max && u.count > s->reject_max) ||
                               (s->reject_max_bytes && u.bytes > s->reject_max_bytes))) {
            unsigned char first[1 + 255 + 8];
            k.mv_size = reject_src_key(first, source, len, 0);
            k.mv_data = first;
            if ((rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)))
                break;
            if (k.mv_size != kl || memcmp(k.mv_data, kb, 1 + len) != 0 || v.mv_size != 4)
                break; /* cannot be: the one just kept is there */
            uint64_t old = hub_get_be64((const unsigned char *)k.mv_data + 1 + len);
            uint32_t old_size;
            memcpy(&old_size, v.mv_data, 4);
            if (old == id)
                break;
            MDB_val ok = {8, &old};
            if ((rc = hub_redo_del(s->redo, s->txn, s->rejects, &ok, NULL)) && rc != MDB_NOTFOUND)
                break;
            if ((rc = hub_redo_cursor_del(s->redo, c, s->reject_src)))
                break;
            u.count--;
            u.bytes -= old_size < u.bytes ? old_size : u.bytes;
            u.dropped++;
        }
        mdb_cursor_close(c);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
    }
    uk.mv_data = kb; /* the prefix: len(1) source */
    uv.mv_size = sizeof u;
    uv.mv_data = &u;
    return hub_redo_put(s->redo, s->txn, s->reject_use, &uk, &uv, 0);
}

/* The per-source databases; a log kept before them gets them built from
 * its rejections once. Read-only: used when present. */
int hub_store_reject_use_open(struct hub_store *s, MDB_txn *txn, int readonly)
{
    int rc = mdb_dbi_open(txn, "rejects.use", 0, &s->reject_use);
    if (rc == 0 && (rc = mdb_dbi_open(txn, "rejects.src", 0, &s->reject_src)) == 0) {
        s->has_reject_use = 1;
        return 0;
    }
    if (rc != MDB_NOTFOUND || readonly)
        return rc == MDB_NOTFOUND ? 0 : rc;
    if ((rc = mdb_dbi_open(txn, "rejects.use", MDB_CREATE, &s->reject_use)) ||
        (rc = mdb_dbi_open(txn, "rejects.src", MDB_CREATE, &s->reject_src)))
        return rc;
    s->has_reject_use = 1;
    MDB_cursor *c;
    MDB_val k, v;
    if ((rc = mdb_cursor_open(txn, s->rejects, &c)))
        return rc;
    MDB_txn *keep = s->txn;
    uint64_t max = s->reject_max, max_bytes = s->reject_max_bytes;
    s->txn = txn;
    s->reject_max = s->reject_max_bytes = 0; /* counted now, bounded at the next */
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const unsigned char *p = v.mv_data;
        uint64_t id;
        if (v.mv_size < 9 || k.mv_size != 8 || 9 + (size_t)p[8] > v.mv_size)
            continue;
        memcpy(&id, k.mv_data, 8);
        if ((rc = reject_bound(s, (const char *)p + 9, p[8], id, v.mv_size)))
            break;
    }
    mdb_cursor_close(c);
    s->txn = keep;
    s->reject_max = max;
    s->reject_max_bytes = max_bytes;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

void hub_store_reject_limits(struct hub_store *s, uint64_t max, uint64_t max_bytes)
{
    s->reject_max = max;
    s->reject_max_bytes = max_bytes;
}

enum hub_err hub_store_reject_usage(struct hub_store *s, hub_store_usage_fn fn, void *ctx,
                                    uint64_t *dropped, struct hub_error *err)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    *dropped = 0;
    if (!s->has_reject_use)
        return CSPH_ERR_OK;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hub_store_lmdb_fail(err, rc, "reading the rejections' usage");
    if ((rc = mdb_cursor_open(txn, s->reject_use, &c))) {
        mdb_txn_abort(txn);
        return hub_store_lmdb_fail(err, rc, "reading the rejections' usage");
    }
    int stop = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        struct reject_use u;
        const unsigned char *p = k.mv_data;
        if (v.mv_size != sizeof u || k.mv_size < 1 || (size_t)p[0] + 1 != k.mv_size)
            continue;
        memcpy(&u, v.mv_data, sizeof u);
        *dropped += u.dropped;
        if (fn && !stop)
            stop = fn(ctx, (const char *)p + 1, p[0], u.count, u.bytes, u.dropped);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return CSPH_ERR_OK;
}

enum hub_err hub_store_reject(struct hub_store *s, int64_t received_ms, const char *source,
                              size_t source_len, const struct hub_error *why, const void *bytes,
                              size_t len, uint64_t *id, struct hub_error *err)
{
    const char *code = hub_err_name(why->code);
    size_t cl = strlen(code), fl = strlen(why->field), ml = strlen(why->message);
    if (source_len > 255)
        source_len = 255;
    /* received(8) then length-prefixed source, code, field, message, bytes */
    size_t total = 8 + 1 + source_len + 1 + cl + 1 + fl + 2 + ml + 4 + len;
    uint64_t next = s->txn_last_reject + 1;
    MDB_val k = {8, &next}, v = {total, NULL};
    int rc = hub_redo_put(s->redo, s->txn, s->rejects, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return hub_store_lmdb_fail(err, rc, "keeping a rejection");
    unsigned char *p = v.mv_data;
    put_i64(p, received_ms);
    p += 8;
    *p++ = (unsigned char)source_len;
    memcpy(p, source, source_len);
    p += source_len;
    *p++ = (unsigned char)cl;
    memcpy(p, code, cl);
    p += cl;
    *p++ = (unsigned char)fl;
    memcpy(p, why->field, fl);
    p += fl;
    uint16_t ml16 = (uint16_t)ml;
    memcpy(p, &ml16, 2);
    p += 2;
    memcpy(p, why->message, ml);
    p += ml;
    uint32_t l32 = (uint32_t)len;
    memcpy(p, &l32, 4);
    p += 4;
    if (len)
        memcpy(p, bytes, len);
    hub_redo_filled(s->redo, s->rejects, &k, &v, MDB_APPEND);
    if (s->has_reject_use && (rc = reject_bound(s, source, source_len, next, total)))
        return hub_store_lmdb_fail(err, rc, "bounding the kept rejections");
    s->txn_last_reject = next;
    if (id)
        *id = next;
    return CSPH_ERR_OK;
}

static int decode_reject(const MDB_val *k, const MDB_val *v, struct hub_stored_reject *r,
                         char *code, char *field, char *msg)
{
    const unsigned char *p = v->mv_data, *end = p + v->mv_size;
    memcpy(&r->id, k->mv_data, 8);
    if (v->mv_size < 8 + 1 + 1 + 1 + 2 + 4)
        return -1;
    r->received_ms = get_i64(p);
    p += 8;
    r->source_len = *p++;
    r->source = (const char *)p;
    p += r->source_len;
    size_t cl = *p++;
    memcpy(code, p, cl);
    code[cl] = 0;
    p += cl;
    size_t fl = *p++;
    memcpy(field, p, fl);
    field[fl] = 0;
    p += fl;
    uint16_t ml;
    memcpy(&ml, p, 2);
    p += 2;
    memcpy(msg, p, ml);
    msg[ml] = 0;
    p += ml;
    uint32_t len;
    memcpy(&len, p, 4);
    p += 4;
    if (p + len > end)
        return -1;
    r->bytes = p;
    r->len = len;
    r->code = code;
    r->field = field;
    r->message = msg;
    return 0;
}

enum hub_err hub_store_rejects(struct hub_store *s, uint64_t after, uint64_t max,
                               hub_store_reject_fn fn, void *ctx, uint64_t *last, int *end,
                               struct hub_error *err)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    enum hub_err re = hub_store_read_begin(s, "reading the rejections", &txn, err);
    if (re)
        return re;
    int rc;
    mdb_cursor_open(txn, s->rejects, &cur);
    uint64_t start = after + 1, n = 0;
    MDB_val k = {8, &start}, v;
    char code[256], field[256], msg[65536];
    *last = after;
    *end = 1;
    rc = after == UINT64_MAX ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (n == max) {
            *end = 0;
            break;
        }
        struct hub_stored_reject r;
        if (decode_reject(&k, &v, &r, code, field, msg) == 0) {
            if (fn(ctx, &r)) {
                *end = 0; /* stopped before this one: it comes next */
                break;
            }
            *last = r.id;
            n++;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return CSPH_ERR_OK;
}

/* ---- data protection (hub/erase.h) ---- */

/* Whether the n bytes at p hold the len bytes at needle (memmem, which
 * needs _GNU_SOURCE for the whole file). */
static int holds(const void *p, size_t n, const void *needle, size_t len)
{
    const unsigned char *a = p, *first;
    if (!len)
        return 1;
    for (size_t at = 0; at + len <= n; at = (size_t)(first - a) + 1) {
        if (!(first = memchr(a + at, *(const unsigned char *)needle, n - len + 1 - at)))
            return 0;
        if (memcmp(first, needle, len) == 0)
            return 1;
    }
    return 0;
}

/* Delete the rejection under c (key k, value v) with its per-source entry
 * and usage (reject_bound's bookkeeping), through the batch's recorder.
 * 0 or an LMDB error. */
static int drop_at(struct hub_store *s, MDB_cursor *c, const MDB_val *k, const MDB_val *v)
{
    struct hub_stored_reject r;
    char code[256], field[256], *msg = malloc(65536);
    uint64_t id;
    memcpy(&id, k->mv_data, 8);
    int bad = !msg || decode_reject(k, v, &r, code, field, msg);
    unsigned char kb[1 + 255 + 8], src[256];
    size_t slen = bad ? 0 : r.source_len, size = v->mv_size;
    if (!bad)
        memcpy(src, r.source, slen);
    free(msg);
    int rc = hub_redo_cursor_del(s->redo, c, s->rejects);
    if (rc || bad || !s->has_reject_use)
        return rc;
    MDB_val sk = {reject_src_key(kb, (const char *)src, slen, id), kb}, uk = {1 + slen, kb}, uv;
    if ((rc = hub_redo_del(s->redo, s->txn, s->reject_src, &sk, NULL)) && rc != MDB_NOTFOUND)
        return rc;
    rc = mdb_get(s->txn, s->reject_use, &uk, &uv);
    if (rc == 0 && uv.mv_size == sizeof(struct reject_use)) {
        struct reject_use u;
        memcpy(&u, uv.mv_data, sizeof u);
        u.count -= u.count ? 1 : 0;
        u.bytes -= size < u.bytes ? size : u.bytes;
        uv.mv_size = sizeof u;
        uv.mv_data = &u;
        return hub_redo_put(s->redo, s->txn, s->reject_use, &uk, &uv, 0);
    }
    return rc == MDB_NOTFOUND ? 0 : rc;
}

enum hub_err hub_store_reject_drop_matching(struct hub_store *s, const void *needle, size_t len,
                                            int drop, uint64_t *dropped, struct hub_error *err)
{
    MDB_cursor *c;
    MDB_val k, v;
    *dropped = 0;
    if (!s->txn)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                             "dropping rejections outside a batch");
    int rc = mdb_cursor_open(s->txn, s->rejects, &c);
    if (rc)
        return hub_store_lmdb_fail(err, rc, "reading the rejections");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (!holds(v.mv_data, v.mv_size, needle, len))
            continue;
        if (drop && (rc = drop_at(s, c, &k, &v)))
            break;
        (*dropped)++;
    }
    mdb_cursor_close(c);
    return rc && rc != MDB_NOTFOUND ? hub_store_lmdb_fail(err, rc, "dropping rejections")
                                    : CSPH_ERR_OK;
}

enum hub_err hub_store_reject_drop_before(struct hub_store *s, int64_t before_ms, uint64_t max,
                                          uint64_t *dropped, int *more, struct hub_error *err)
{
    MDB_cursor *c;
    MDB_val k, v;
    *dropped = 0;
    *more = 0;
    if (!s->txn)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                             "dropping rejections outside a batch");
    int rc = mdb_cursor_open(s->txn, s->rejects, &c);
    if (rc)
        return hub_store_lmdb_fail(err, rc, "reading the rejections");
    /* Ids are handed out in arrival order: the oldest come first, and the
     * walk ends at the first one still within its period. */
    char *msg = malloc(65536);
    if (!msg) {
        mdb_cursor_close(c);
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory dropping rejections");
    }
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) {
        struct hub_stored_reject r;
        char code[256], field[256];
        if (!decode_reject(&k, &v, &r, code, field, msg) && r.received_ms >= before_ms)
            break;
        if (*dropped == max) {
            *more = 1;
            break;
        }
        if ((rc = drop_at(s, c, &k, &v)))
            break;
        (*dropped)++;
    }
    free(msg);
    mdb_cursor_close(c);
    return rc && rc != MDB_NOTFOUND ? hub_store_lmdb_fail(err, rc, "dropping rejections")
                                    : CSPH_ERR_OK;
}
