#define _GNU_SOURCE /* memmem */
#include "hold.h"

#include <stdio.h>
#include <string.h>

#include "erase.h"
#include "ingest.h"
#include "log.h"
#include "mpx.h"
#include "redo.h"
#include "reply.h"
#include "timefmt.h"

uint64_t hub_hold_seq(MDB_txn *txn, const char *person, size_t len)
{
    MDB_dbi dbi;
    MDB_val k = {len, (void *)person}, v;
    uint64_t seq = 0;
    if (txn && len && mdb_dbi_open(txn, CSPH_HOLD_DB, 0, &dbi) == 0 &&
        mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 8)
        memcpy(&seq, v.mv_data, 8);
    return seq;
}

static void kv_str(msgpack_packer *pk, const char *k, const char *v, size_t n)
{
    hub_pack_str(pk, k);
    hub_pack_strn(pk, v, n);
}

enum hub_err hub_op_hold(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_error *e = &q->e;
    struct hub_store *st = hub_core_store(h->core);
    const char *person = NULL, *reason = NULL;
    size_t plen = 0, rlen = 0;
    int release = 0;
    char by[81] = "";
    enum hub_err rc = hub_erase_person_arg(q->r, &person, &plen, e);
    if (!rc)
        rc = hub_wire_str(q->r, "reason", 1, CSPH_ERASE_REASON_MAX, 1, &reason, &rlen, e);
    if (!rc && memmem(reason, rlen, person, plen))
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "reason",
                           "'reason' names the person; the reason is kept in the log for "
                           "good (an erasure removes only the person's own fields): name the "
                           "review, not the person");
    const msgpack_object *rel = rc ? NULL : hub_mp_get(&q->r->root, "release");
    if (rel && rel->type != MSGPACK_OBJECT_BOOLEAN)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "release", "'release' must be true or false");
    else if (rel)
        release = rel->via.boolean;
    if (!rc)
        rc = hub_dp_requester(q, by, e);
    MDB_txn *txn = hub_store_txn(st);
    uint64_t held = rc ? 0 : hub_hold_seq(txn, person, plen);
    if (!rc && release && !held)
        rc = hub_error_set(e, CSPH_ERR_NOT_FOUND, "person",
                           "person '%.*s' is not under legal hold", (int)plen, person);
    else if (!rc && !release && held)
        rc = hub_error_set(e, CSPH_ERR_CONFLICT, "person",
                           "person '%.*s' is under legal hold already (dp.hold seq %llu)",
                           (int)plen, person, (unsigned long long)held);
    uint64_t seq = 0;
    if (!rc) {
        char id[48], when[40];
        snprintf(id, sizeof id, "hold-%llu", (unsigned long long)hub_store_next_seq(st));
        int wl = csph_time_format(q->now_ms, when);
        const char *role = q->who ? hub_role_name(q->who->role) : "none";
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 9);
        kv_str(&pk, "id", id, strlen(id));
        kv_str(&pk, "type", CSPH_HOLD_TYPE, strlen(CSPH_HOLD_TYPE));
        kv_str(&pk, "occurred_at", when, (size_t)wl);
        kv_str(&pk, "source", CSPH_HUB_SOURCE, strlen(CSPH_HUB_SOURCE));
        kv_str(&pk, "action", release ? "release" : "hold", release ? 7 : 4);
        kv_str(&pk, "person", person, plen);
        kv_str(&pk, "by", by, strlen(by));
        kv_str(&pk, "role", role, strlen(role));
        kv_str(&pk, "reason", reason, rlen);
        rc = hub_dp_append(h, q->now_ms, &sb, &seq, e);
        msgpack_sbuffer_destroy(&sb);
        MDB_dbi dbi;
        if (!rc && (rc = hub_store_dbi(st, CSPH_HOLD_DB, 0, &dbi, e)))
            rc = CSPH_ERR_INTERNAL;
        if (!rc) {
            MDB_val k = {plen, (void *)person}, v = {8, &seq};
            int mrc = release ? hub_redo_del(hub_store_redo(st), txn, dbi, &k, NULL)
                              : hub_redo_put(hub_store_redo(st), txn, dbi, &k, &v, 0);
            if (mrc)
                rc = hub_error_set(e, mrc == MDB_MAP_FULL ? CSPH_ERR_BUSY : CSPH_ERR_INTERNAL,
                                   NULL, "recording the legal hold: %s", mdb_strerror(mrc));
        }
        if (!rc)
            LOG_INFO("hold", "legal hold %s by %s, recorded in seq %llu",
                     release ? "released" : "put", by, (unsigned long long)seq);
    }
    if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL)
        return rc;
    if (rc)
        hub_reply_error(q->pk, &q->r->req, e, 0);
    else
        hub_reply_seq(q->pk, &q->r->req, seq);
    return CSPH_ERR_OK;
}
