#include "sweeppos.h"

#include <string.h>

#include "redo.h"

#define KEY "position"
#define VERSION 2
/* version, next, as_of, began (8 bytes each, little-endian), active,
 * policy (64 hex); version 2 adds the walk (1: alerts) and the next
 * alert id (8). A version 1 record (before alerts expired) is a pass
 * still in its event walk. */
#define LEN1 (1 + 8 + 8 + 8 + 1 + 64)
#define LEN (LEN1 + 1 + 8)

static void put64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

int hub_sweeppos_load(struct hub_store *st, struct hub_sweep_pos *p)
{
    MDB_env *env = hub_store_env(st);
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {sizeof KEY - 1, KEY}, v;
    int found = 0;
    memset(p, 0, sizeof *p);
    if (!env || mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))
        return -1;
    int rc = mdb_dbi_open(txn, CSPH_SWEEP_POS_DB, 0, &dbi);
    if (rc == 0)
        rc = mdb_get(txn, dbi, &k, &v);
    if (rc == MDB_NOTFOUND) {
        found = 0;
    } else if (rc || !((v.mv_size == LEN1 && ((const unsigned char *)v.mv_data)[0] == 1) ||
                         (v.mv_size == LEN && ((const unsigned char *)v.mv_data)[0] == VERSION))) {
        found = -1;
    } else {
        const unsigned char *b = v.mv_data;
        p->next = get64(b + 1);
        p->as_of_ms = (int64_t)get64(b + 9);
        p->began_ms = (int64_t)get64(b + 17);
        p->active = b[25] != 0;
        memcpy(p->policy, b + 26, 64);
        p->policy[64] = 0;
        p->alerts = v.mv_size == LEN && b[LEN1] != 0;
        p->next_alert = v.mv_size == LEN ? get64(b + LEN1 + 1) : 0;
        if (!p->next_alert)
            p->next_alert = 1; /* the alert walk begins at the first */
        found = p->next ? 1 : -1;
    }
    mdb_txn_abort(txn);
    return found;
}

enum hub_err hub_sweeppos_save(struct hub_store *st, const struct hub_sweep_pos *p,
                               struct hub_error *err)
{
    MDB_dbi dbi;
    enum hub_err rc = hub_store_dbi(st, CSPH_SWEEP_POS_DB, 0, &dbi, err);
    if (rc)
        return rc == CSPH_ERR_BUSY ? rc : CSPH_ERR_INTERNAL;
    unsigned char b[LEN];
    b[0] = VERSION;
    put64(b + 1, p->next);
    put64(b + 9, (uint64_t)p->as_of_ms);
    put64(b + 17, (uint64_t)p->began_ms);
    b[25] = p->active ? 1 : 0;
    memset(b + 26, '0', 64);
    memcpy(b + 26, p->policy, strnlen(p->policy, 64));
    b[LEN1] = p->alerts ? 1 : 0;
    put64(b + LEN1 + 1, p->next_alert);
    MDB_val k = {sizeof KEY - 1, KEY}, v = {LEN, b};
    int mrc = hub_redo_put(hub_store_redo(st), hub_store_txn(st), dbi, &k, &v, 0);
    if (mrc)
        return hub_error_set(err, mrc == MDB_MAP_FULL ? CSPH_ERR_BUSY : CSPH_ERR_INTERNAL, NULL,
                             "saving the retention sweep's position: %s", mdb_strerror(mrc));
    return CSPH_ERR_OK;
}
