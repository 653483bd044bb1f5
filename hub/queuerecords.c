/* queuerecords.c: alert records read and written whole (queues.h):
 * redaction after an erasure, and re-derivation's kept alerts
 * (alertredact.h), in the batch, through the journal's recorder; every
 * alert, or one, packed in full for --rederive and --what-if
 * (alertdiff.h). */
#include "queues.h"
#include "queuespriv.h"

#include <stdlib.h>
#include <string.h>

#include "bekey.h"
#include "redo.h"

/* The stored view of an alert's record (borrowing v): 0, or -1 when it
 * is damaged. */
static int stored_of(const MDB_val *k, const MDB_val *v, struct hub_alert_stored *a)
{
    struct hub_queue_rec r;
    if (k->mv_size != 8 || hub_queues_rec_parse(v, &r))
        return -1;
    *a = (struct hub_alert_stored){
        .panel = r.panel, .rule = r.rule, .key = r.key, .panel_len = r.panel_len,
        .rule_len = r.rule_len, .key_len = r.key_len, .full = r.full, .red = r.red,
        .full_len = r.full_len, .red_len = r.red_len, .npairs = r.npairs,
        .rec = v->mv_data, .rec_len = v->mv_size, .raised_ms = r.raised_ms};
    memcpy(&a->id, k->mv_data, 8);
    return 0;
}

enum hub_err hub_queues_stored_one(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                   hub_queues_stored_fn fn, void *ctx, struct hub_error *err)
{
    MDB_val k = {8, &id}, v;
    struct hub_alert_stored a;
    int rc = mdb_get(txn, q->alerts, &k, &v);
    if (rc == MDB_NOTFOUND || (rc == 0 && stored_of(&k, &v, &a)))
        return hub_error_set(err, CSPH_ERR_NOT_FOUND, "id", "no alert with id %llu",
                             (unsigned long long)id);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading an alert");
    fn(ctx, &a);
    return CSPH_ERR_OK;
}

enum hub_err hub_queues_each_stored_in(struct hub_queues *q, MDB_txn *txn,
                                       hub_queues_stored_fn fn, void *ctx,
                                       struct hub_error *err)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_cursor_open(txn, q->alerts, &cur);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading alerts");
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct hub_alert_stored a;
        if (stored_of(&k, &v, &a) == 0 && fn(ctx, &a))
            break;
    }
    mdb_cursor_close(cur);
    return rc && rc != MDB_NOTFOUND ? hub_queues_lmdb_fail(err, rc, "reading alerts") : CSPH_ERR_OK;
}

enum hub_err hub_queues_rewrite(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                const char *key, size_t key_len, const void *full,
                                size_t full_len, const void *red, size_t red_len,
                                struct hub_error *err)
{
    struct hub_queue_rec r;
    enum hub_err e = hub_queues_read_rec(q, txn, id, &r, err);
    if (e)
        return e;
    if (key_len > 255)
        key_len = 255;
    /* A pending deadline's case-index entries follow the key: out under
     * the old values, in under the new (hub_queues_deadline_entries reads the key). */
    unsigned char dk[16];
    hub_queues_deadline_key(dk, r.due_ms, id);
    MDB_val dkv = {16, dk}, dv;
    int pending = r.due_ms != NO_DUE && mdb_get(txn, q->deadlines, &dkv, &dv) == 0;
    size_t head = REC_FIXED + 1 + r.panel_len + 1 + r.rule_len;
    size_t total = head + 1 + key_len + 4 + full_len + 4 + red_len;
    unsigned char *rec = malloc(total);
    if (!rec)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    memcpy(rec, r.base, head);
    unsigned char *p = rec + head;
    *p++ = (unsigned char)key_len;
    memcpy(p, key, key_len);
    p += key_len;
    uint32_t l = (uint32_t)full_len;
    memcpy(p, &l, 4);
    memcpy(p + 4, full, full_len);
    p += 4 + full_len;
    l = (uint32_t)red_len;
    memcpy(p, &l, 4);
    if (red_len)
        memcpy(p + 4, red, red_len);
    if (pending && (e = hub_queues_deadline_entries(q, txn, id, &r, 0, err))) {
        free(rec);
        return e;
    }
    MDB_val k = {8, &id}, v = {total, rec};
    int rc = hub_redo_put(q->redo, txn, q->alerts, &k, &v, 0);
    if (rc == 0 && pending) {
        MDB_val nv = {total, rec};
        struct hub_queue_rec nr;
        if (hub_queues_rec_parse(&nv, &nr) == 0)
            e = hub_queues_deadline_entries(q, txn, id, &nr, 1, err);
    }
    free(rec);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "redacting an alert");
    return e;
}

enum hub_err hub_queues_record_copy(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                    void **rec, size_t *len, struct hub_error *err)
{
    MDB_val k = {8, &id}, v;
    int rc = mdb_get(txn, q->alerts, &k, &v);
    if (rc == MDB_NOTFOUND)
        return hub_error_set(err, CSPH_ERR_NOT_FOUND, "id", "no alert with id %llu",
                             (unsigned long long)id);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading an alert");
    if (!(*rec = malloc(v.mv_size)))
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    memcpy(*rec, v.mv_data, v.mv_size);
    *len = v.mv_size;
    return CSPH_ERR_OK;
}

enum hub_err hub_queues_insert_record(struct hub_queues *q, MDB_txn *txn, const void *rec,
                                      size_t len, uint64_t *idp, struct hub_error *err)
{
    MDB_val v = {len, (void *)rec};
    struct hub_queue_rec r;
    if (hub_queues_rec_parse(&v, &r))
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "a kept alert's record is damaged");
    int pi = hub_config_panel_find(q->cfg, r.panel, r.panel_len);
    if (pi < 0)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "a kept alert's panel %.*s is not "
                             "configured", (int)r.panel_len, r.panel);
    uint64_t id = q->txn_last_id + 1;
    /* With its recorded status: its decisions replayed from the log after
     * it end at the same one, and a retention sweep may have taken their
     * bodies (alert.status goes by the panel's period, as the alert does),
     * leaving nothing to replay. The id inside its pairs is the recorded
     * one, which is this one when the numbering kept step. */
    unsigned char *copy = malloc(len);
    if (!copy)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    memcpy(copy, rec, len);
    if (copy[0] >= CSPH_ALERT__COUNT)
        copy[0] = CSPH_ALERT_OPEN;
    unsigned char st = copy[0];
    MDB_val k = {8, &id}, nv = {len, copy};
    int rc = hub_redo_put(q->redo, txn, q->alerts, &k, &nv, MDB_APPEND);
    free(copy);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "storing a kept alert");
    unsigned char kb[80], idb[8];
    hub_put_be64(idb, id);
    MDB_val pk = {hub_queues_panel_key(kb, q->cfg->panels[pi].name, idb, 8), kb}, pv = {1, &st};
    if ((rc = hub_redo_put(q->redo, txn, q->panel_alerts, &pk, &pv, 0)))
        return hub_queues_lmdb_fail(err, rc, "queueing a kept alert");
    q->txn_counts[pi]++;
    char name[80];
    int n = snprintf(name, sizeof name, "count:%s", q->cfg->panels[pi].name);
    MDB_val mk = {(size_t)n, name}, mv = {8, &q->txn_counts[pi]};
    if ((rc = hub_redo_put(q->redo, txn, q->meta, &mk, &mv, 0)))
        return hub_queues_lmdb_fail(err, rc, "counting a kept alert");
    q->txn_last_id = id;
    q->txn_touched |= 1ull << pi;
    *idp = id;
    return CSPH_ERR_OK;
}

uint64_t hub_queues_next_id(const struct hub_queues *q) { return q->txn_last_id + 1; }

void hub_queues_set_keep(struct hub_queues *q, hub_queues_keep_fn fn, void *ctx)
{
    q->keep = fn;
    q->keep_ctx = ctx;
}

enum hub_err hub_queues_each(struct hub_queues *q, hub_queues_alert_fn fn, void *ctx,
                             struct hub_error *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading alerts");
    enum hub_err e = hub_queues_each_in(q, txn, fn, ctx, err);
    mdb_txn_abort(txn);
    return e;
}

enum hub_err hub_queues_each_in(struct hub_queues *q, MDB_txn *txn, hub_queues_alert_fn fn,
                                void *ctx, struct hub_error *err)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;
    if ((rc = mdb_cursor_open(txn, q->alerts, &cur)))
        return hub_queues_lmdb_fail(err, rc, "reading alerts");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct hub_queue_rec r;
        uint64_t id;
        memcpy(&id, k.mv_data, 8);
        if (hub_queues_rec_parse(&v, &r) != 0)
            continue;
        msgpack_packer pk;
        sb.size = 0;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        hub_queues_pack_rec(&pk, &r, 1);
        if (fn(ctx, id, sb.data, sb.size))
            break;
    }
    msgpack_sbuffer_destroy(&sb);
    mdb_cursor_close(cur);
    return CSPH_ERR_OK;
}

enum hub_err hub_queues_one(struct hub_queues *q, uint64_t id, hub_queues_alert_fn fn, void *ctx,
                            struct hub_error *err)
{
    MDB_txn *txn;
    struct hub_queue_rec r;
    enum hub_err e = hub_queues_read_own(q, id, &txn, &r, err);
    if (e)
        return e;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    hub_queues_pack_rec(&pk, &r, 1);
    fn(ctx, id, sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    mdb_txn_abort(txn);
    return CSPH_ERR_OK;
}
