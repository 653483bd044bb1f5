/* Sizes of a stopped hub's LMDB databases: see dbsize.h. */
#define _GNU_SOURCE
#include <limits.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dbsize.h"
#include "bench.h"

/* Open one LMDB environment of the stopped hub read-only (path: a
 * directory, or a file with MDB_NOSUBDIR) and mdb_stat every named
 * database into sr; add its pages in use and its file size. */
static void lmdb_env_state(const char *path, const char *file, unsigned flags,
                           struct staterun *sr)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi main_dbi;
    int rc;
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 64)) ||
        (rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS | flags, 0600)))
        die("state size: cannot open %s read-only: %s", path, mdb_strerror(rc));
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) ||
        (rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)))
        die("state size: %s: %s", path, mdb_strerror(rc));
    MDB_envinfo info;
    MDB_stat est;
    mdb_env_info(env, &info);
    mdb_env_stat(env, &est);
    sr->used_bytes += (uint64_t)(info.me_last_pgno + 1) * est.ms_psize;
    struct stat sb;
    sr->file_bytes += stat(file, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    /* The main database's keys are the named databases' names. */
    MDB_cursor *cur;
    MDB_val k, v;
    if ((rc = mdb_cursor_open(txn, main_dbi, &cur)))
        die("state size: %s", mdb_strerror(rc));
    while (sr->ndb < MAX_DBSTAT && mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        struct dbstat *d = &sr->db[sr->ndb];
        snprintf(d->name, sizeof d->name, "%.*s", (int)k.mv_size, (const char *)k.mv_data);
        MDB_dbi dbi;
        MDB_stat st;
        if (mdb_dbi_open(txn, d->name, 0, &dbi) != 0 || mdb_stat(txn, dbi, &st) != 0)
            continue; /* not a database */
        d->entries = st.ms_entries;
        d->pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
        d->bytes = (uint64_t)st.ms_psize * d->pages;
        d->depth = st.ms_depth;
        sr->ndb++;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

void lmdb_state(const char *dir, struct staterun *sr)
{
    char path[PATH_MAX + 48], index[PATH_MAX + 48];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    snprintf(index, sizeof index, "%s/index.mdb", dir);
    sr->ndb = 0;
    sr->used_bytes = sr->file_bytes = 0;
    lmdb_env_state(dir, path, 0, sr);
    lmdb_env_state(index, index, MDB_NOSUBDIR, sr);
}

const struct dbstat *find_db(const struct staterun *sr, const char *name)
{
    for (int i = 0; i < sr->ndb; i++)
        if (!strcmp(sr->db[i].name, name))
            return &sr->db[i];
    return NULL;
}
