#include "pwstore.h"

#include <string.h>

#include "redo.h"

enum hub_err hub_pw_fail(struct hub_error *err, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "the hub's storage limit is reached");
    return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "%s: %s", what, mdb_strerror(rc));
}

enum hub_err hub_pw_dbi(struct hub_store *s, MDB_txn *txn, const char *name, unsigned flags,
                        MDB_dbi *dbi, int *absent, struct hub_error *err)
{
    *absent = 0;
    int rc = mdb_dbi_open(txn, name, flags, dbi);
    if (rc == MDB_NOTFOUND) {
        *absent = 1;
        return CSPH_ERR_OK;
    }
    if (rc)
        return hub_pw_fail(err, rc, name);
    /* In the batch: the store's handle, named for the journal's recorder
     * (it exists: nothing is created). */
    return txn == hub_store_txn(s) ? hub_store_dbi(s, name, flags, dbi, err) : CSPH_ERR_OK;
}

enum hub_err hub_pw_dbi_create(struct hub_store *s, const char *name, unsigned flags,
                               MDB_dbi *dbi, struct hub_error *err)
{
    return hub_store_dbi(s, name, flags, dbi, err);
}

enum hub_err hub_pw_read_begin(struct hub_store *s, MDB_txn **txn, struct hub_error *err)
{
    int rc = mdb_txn_begin(hub_store_env(s), NULL, MDB_RDONLY, txn);
    return rc ? hub_pw_fail(err, rc, "reading the case indexes") : CSPH_ERR_OK;
}

void hub_pw_read_end(MDB_txn *txn)
{
    if (txn)
        mdb_txn_commit(txn); /* a read transaction: commit keeps the handles it opened */
}

enum hub_err hub_pw_put(struct hub_store *s, MDB_dbi dbi, const void *k, size_t klen,
                        const void *v, size_t vlen, struct hub_error *err)
{
    MDB_val kv = {klen, (void *)k}, vv = {vlen, (void *)v};
    int rc = hub_redo_put(hub_store_redo(s), hub_store_txn(s), dbi, &kv, &vv, 0);
    return rc ? hub_pw_fail(err, rc, "writing a case index") : CSPH_ERR_OK;
}

enum hub_err hub_pw_del(struct hub_store *s, MDB_dbi dbi, const void *k, size_t klen,
                        const void *v, size_t vlen, struct hub_error *err)
{
    MDB_val kv = {klen, (void *)k}, vv = {vlen, (void *)v};
    int rc = hub_redo_del(hub_store_redo(s), hub_store_txn(s), dbi, &kv, v ? &vv : NULL);
    if (rc == MDB_NOTFOUND)
        return CSPH_ERR_OK;
    return rc ? hub_pw_fail(err, rc, "writing a case index") : CSPH_ERR_OK;
}

size_t hub_pw_case_key(unsigned char *out, const char *panel, const char *key, size_t key_len)
{
    size_t pl = strlen(panel);
    if (pl > 64)
        pl = 64;
    if (key_len > 100)
        key_len = 100;
    memcpy(out, panel, pl);
    out[pl] = 0;
    memcpy(out + pl + 1, key, key_len);
    return pl + 1 + key_len;
}
