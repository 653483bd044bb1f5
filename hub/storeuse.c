/* storeuse.c: the log's map use (storeuse.h). */
#include "storeuse.h"

#include <errno.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

enum hub_err hub_store_usage_read(struct hub_store *s, struct hub_store_usage *u,
                                  struct hub_error *err)
{
    MDB_env *env = hub_store_env(s);
    MDB_envinfo info;
    MDB_stat st;
    const char *dir;
    memset(u, 0, sizeof *u);
    int rc = env ? mdb_env_info(env, &info) : EINVAL;
    if (!rc)
        rc = mdb_env_stat(env, &st);
    if (rc)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "reading the log's map size: %s",
                             mdb_strerror(rc));
    u->map_bytes = info.me_mapsize;
    u->used_bytes = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    char path[4200];
    struct stat fst;
    if (mdb_env_get_path(env, &dir) == 0) {
        snprintf(path, sizeof path, "%s/data.mdb", dir);
        if (stat(path, &fst) == 0)
            u->file_bytes = (uint64_t)fst.st_blocks * 512;
    }
    return CSPH_ERR_OK;
}
