#include "restrict.h"

#include <string.h>

#include "erase.h"
#include "redo.h"

uint64_t hub_restrict_standing(MDB_txn *txn, const char *person, size_t len)
{
    MDB_dbi dbi;
    MDB_val k = {len, (void *)person}, v;
    uint64_t seq = 0;
    if (len && mdb_dbi_open(txn, CSPH_RESTRICT_STANDING_DB, 0, &dbi) == 0 &&
        mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == 8)
        memcpy(&seq, v.mv_data, 8);
    return seq;
}

static enum hub_err lmdb_fail(struct hub_error *err, int rc, const char *what)
{
    return hub_error_set(err, rc == MDB_MAP_FULL ? CSPH_ERR_BUSY : CSPH_ERR_INTERNAL, NULL,
                         "%s: %s", what, mdb_strerror(rc));
}

enum hub_err hub_restrict_stand(struct hub_store *st, const char *person, size_t len,
                                uint64_t eseq, struct hub_error *err)
{
    MDB_dbi dbi;
    *hub_store_restrict_hint(st) = HUB_RESTRICT_MAYBE; /* even if this batch is aborted */
    if (hub_store_dbi(st, CSPH_RESTRICT_STANDING_DB, 0, &dbi, err))
        return CSPH_ERR_INTERNAL;
    unsigned char val[8];
    for (int b = 0; b < 8; b++)
        val[b] = (unsigned char)(eseq >> (8 * b));
    MDB_val k = {len, (void *)person}, v = {8, val};
    int rc = hub_redo_put(hub_store_redo(st), hub_store_txn(st), dbi, &k, &v, 0);
    return rc ? lmdb_fail(err, rc, "recording a standing restriction") : CSPH_ERR_OK;
}

enum hub_err hub_restrict_lift(struct hub_store *st, const char *person, size_t len,
                               struct hub_error *err)
{
    if (!hub_restrict_standing(hub_store_txn(st), person, len))
        return CSPH_ERR_OK;
    MDB_dbi dbi;
    if (hub_store_dbi(st, CSPH_RESTRICT_STANDING_DB, 0, &dbi, err))
        return CSPH_ERR_INTERNAL;
    MDB_val k = {len, (void *)person};
    int rc = hub_redo_del(hub_store_redo(st), hub_store_txn(st), dbi, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? lmdb_fail(err, rc, "lifting a standing restriction")
                                    : CSPH_ERR_OK;
}

struct arrival {
    MDB_txn *txn;
    MDB_dbi dbi;
    uint64_t eseq;
};

static int check_ref(void *ctx, char kind, const char *ref, size_t len)
{
    struct arrival *a = ctx;
    MDB_val k = {len, (void *)ref}, v;
    if (kind == CSPH_REF_PERSON && mdb_get(a->txn, a->dbi, &k, &v) == 0 && v.mv_size == 8) {
        memcpy(&a->eseq, v.mv_data, 8);
        return 1;
    }
    return 0;
}

enum hub_err hub_restrict_on_ingest(struct hub_store *st, const struct hub_schemas *s,
                                    int type_index, const msgpack_object *obj, uint64_t seq,
                                    struct hub_error *err)
{
    struct arrival a = {hub_store_txn(st), 0, 0};
    /* No restriction was ever made (nearly every hub, nearly always): known
     * from one look-up in the main database after the store opened, not
     * one an event (about 1,000 instructions). */
    int *hint = hub_store_restrict_hint(st);
    if (!a.txn || type_index < 0 || *hint == HUB_RESTRICT_NONE)
        return CSPH_ERR_OK;
    if (mdb_dbi_open(a.txn, CSPH_RESTRICT_STANDING_DB, 0, &a.dbi) != 0) {
        *hint = HUB_RESTRICT_NONE;
        return CSPH_ERR_OK;
    }
    *hint = HUB_RESTRICT_MAYBE;
    hub_schema_each_ref(s, type_index, obj, check_ref, &a);
    if (!a.eseq)
        return CSPH_ERR_OK;
    MDB_dbi dbi;
    if (hub_store_dbi(st, CSPH_ERASE_RESTRICTED_DB, MDB_INTEGERKEY, &dbi, err))
        return CSPH_ERR_INTERNAL;
    unsigned char val[8];
    for (int b = 0; b < 8; b++)
        val[b] = (unsigned char)(a.eseq >> (8 * b));
    MDB_val k = {8, &seq}, v = {8, val};
    int rc = hub_redo_put(hub_store_redo(st), a.txn, dbi, &k, &v, 0);
    return rc ? lmdb_fail(err, rc, "restricting an event that names a restricted person")
              : CSPH_ERR_OK;
}
