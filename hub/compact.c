#define _GNU_SOURCE /* SEEK_DATA, SEEK_HOLE */
#include "compact.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "store.h"

/* Records a copying transaction holds before it commits: bounded memory. */
#define COPY_TXN_RECORDS 50000

int hub_compact_shred(const char *path)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    static const char zeros[1 << 16];
    int rc = 0;
    /* Only the extents that hold data: index.mdb is a sparse file of the
     * map's size (64 GiB and more), its holes have nothing to erase. */
    off_t off = lseek(fd, 0, SEEK_DATA);
    while (rc == 0 && off >= 0) {
        off_t end = lseek(fd, off, SEEK_HOLE);
        if (end < 0) {
            rc = -1;
            break;
        }
        while (rc == 0 && off < end) {
            size_t n = (size_t)(end - off) < sizeof zeros ? (size_t)(end - off) : sizeof zeros;
            ssize_t w = pwrite(fd, zeros, n, off);
            if (w <= 0)
                rc = -1;
            else
                off += w;
        }
        off = lseek(fd, end, SEEK_DATA);
    }
    if (rc == 0 && errno != ENXIO && off < 0)
        rc = -1; /* ENXIO: no data past end: done */
    if (rc == 0)
        rc = fdatasync(fd);
    int e = errno;
    close(fd);
    if (rc == 0)
        rc = unlink(path);
    else
        errno = e;
    return rc;
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static enum hub_err lmdb_err(struct hub_error *err, int rc, const char *what, const char *dir)
{
    return hub_error_set(err, rc == ENOSPC || rc == MDB_MAP_FULL ? CSPH_ERR_DISK_FULL
                                                                 : CSPH_ERR_IO,
                         "data_dir", "compacting %s: %s: %s", dir, what, mdb_strerror(rc));
}

/* Copy one named database (or the main one's plain records) from src to
 * dst, committing every COPY_TXN_RECORDS records. */
static int copy_db(MDB_env *src, MDB_txn *rtxn, MDB_env *dst, const char *name,
                   uint64_t *records)
{
    MDB_dbi sdbi, ddbi;
    unsigned flags;
    MDB_txn *w;
    MDB_cursor *c;
    int rc;
    (void)src;
    if ((rc = mdb_dbi_open(rtxn, name, 0, &sdbi)) || (rc = mdb_dbi_flags(rtxn, sdbi, &flags)))
        return rc;
    if ((rc = mdb_txn_begin(dst, NULL, 0, &w)))
        return rc;
    if ((rc = mdb_dbi_open(w, name, flags | MDB_CREATE, &ddbi))) {
        mdb_txn_abort(w);
        return rc;
    }
    if ((rc = mdb_cursor_open(rtxn, sdbi, &c))) {
        mdb_txn_abort(w);
        return rc;
    }
    MDB_val k, v;
    uint64_t in_txn = 0;
    /* In the source's order, so every put appends: pages fill once, and no
     * node is ever deleted from one (no gap keeps old bytes). */
    unsigned put = (flags & MDB_DUPSORT) ? MDB_APPENDDUP : MDB_APPEND;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if ((rc = mdb_put(w, ddbi, &k, &v, put)))
            break;
        (*records)++;
        if (++in_txn == COPY_TXN_RECORDS) {
            in_txn = 0;
            if ((rc = mdb_txn_commit(w)) || (rc = mdb_txn_begin(dst, NULL, 0, &w))) {
                w = NULL;
                break;
            }
        }
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND) {
        if (w)
            mdb_txn_abort(w);
        return rc;
    }
    return mdb_txn_commit(w);
}

/* Every named database of src into dst. */
static int copy_all(MDB_env *src, MDB_env *dst, struct hub_compact_stats *st)
{
    MDB_txn *rtxn;
    MDB_cursor *c;
    MDB_dbi main;
    int rc = mdb_txn_begin(src, NULL, MDB_RDONLY, &rtxn);
    if (rc)
        return rc;
    if ((rc = mdb_dbi_open(rtxn, NULL, 0, &main)) || (rc = mdb_cursor_open(rtxn, main, &c))) {
        mdb_txn_abort(rtxn);
        return rc;
    }
    /* The main database's keys name the others. */
    MDB_val k, v;
    char names[64][256];
    size_t n = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0 && n < 64;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size >= sizeof names[0] || memchr(k.mv_data, 0, k.mv_size))
            continue;
        memcpy(names[n], k.mv_data, k.mv_size);
        names[n++][k.mv_size] = 0;
    }
    mdb_cursor_close(c);
    rc = rc == MDB_NOTFOUND || rc == 0 ? 0 : rc;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = copy_db(src, rtxn, dst, names[i], &st->records);
        if (rc == MDB_INCOMPATIBLE) /* a plain record of the main database */
            rc = 0;
        else if (rc == 0)
            st->databases++;
    }
    mdb_txn_abort(rtxn);
    return rc;
}

static enum hub_err lock_dir(const char *dir, int *fd, struct hub_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/csphub.lock", dir);
    *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0)
        return hub_error_set(err, CSPH_ERR_IO, "data_dir", "cannot open %s: %s", path,
                             strerror(errno));
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(*fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(*fd);
        *fd = -1;
        return hub_error_set(err, CSPH_ERR_LOCKED, "data_dir",
                             "a hub (pid %s) is using %s: stop it, then compact",
                             pid[0] ? pid : "unknown", dir);
    }
    return CSPH_ERR_OK;
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* The journal's files (all of them: once its batches are in data.mdb it
 * holds nothing needed, and recycled spares keep old batches' bytes). */
static int shred_journal(const char *dir, uint64_t *files)
{
    char jdir[4200], path[4600];
    snprintf(jdir, sizeof jdir, "%s/journal", dir);
    DIR *d = opendir(jdir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    int rc = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", jdir, e->d_name);
        rc = hub_compact_shred(path);
        if (rc == 0)
            (*files)++;
    }
    closedir(d);
    return rc ? rc : sync_dir(jdir);
}

enum hub_err hub_compact(const char *dir, uint64_t map_size, struct hub_compact_stats *st,
                         struct hub_error *err)
{
    memset(st, 0, sizeof *st);
    /* Open the store once as the hub would: the journal's batches go into
     * data.mdb (synced), so its files hold nothing data.mdb lacks. */
    struct hub_store *s;
    enum hub_err e = hub_store_open(&s, dir, map_size, err);
    if (e)
        return e;
    hub_store_close(&s);
    int lock = -1;
    if ((e = lock_dir(dir, &lock, err)))
        return e;
    char data[4200], tmp[4200], moved[4300], old[4300];
    snprintf(data, sizeof data, "%s/data.mdb", dir);
    snprintf(tmp, sizeof tmp, "%s/compact.tmp", dir);
    snprintf(moved, sizeof moved, "%s/data.mdb", tmp);
    snprintf(old, sizeof old, "%s/data.mdb.old", dir);
    st->bytes_before = file_size(data);
    /* Leftovers of a compaction that died: never the live file. */
    hub_compact_shred(moved);
    char tlock[4300];
    snprintf(tlock, sizeof tlock, "%s/lock.mdb", tmp);
    unlink(tlock);
    rmdir(tmp);
    hub_compact_shred(old);
    MDB_env *src = NULL, *dst = NULL;
    int rc;
    if (mkdir(tmp, 0700) != 0) {
        e = hub_error_set(err, CSPH_ERR_IO, "data_dir", "cannot create %s: %s", tmp,
                          strerror(errno));
        goto out;
    }
    MDB_envinfo info;
    if ((rc = mdb_env_create(&src)) || (rc = mdb_env_set_maxdbs(src, 64)) ||
        (rc = mdb_env_set_mapsize(src, (size_t)map_size)) ||
        (rc = mdb_env_open(src, dir, MDB_RDONLY | MDB_NOTLS, 0600)) ||
        (rc = mdb_env_info(src, &info)) || (rc = mdb_env_create(&dst)) ||
        (rc = mdb_env_set_maxdbs(dst, 64)) ||
        (rc = mdb_env_set_mapsize(dst, info.me_mapsize > map_size ? info.me_mapsize : map_size)) ||
        (rc = mdb_env_open(dst, tmp, MDB_NOSYNC, 0600))) {
        e = lmdb_err(err, rc, "opening", dir);
        goto out;
    }
    if ((rc = copy_all(src, dst, st)) || (rc = mdb_env_sync(dst, 1))) {
        e = lmdb_err(err, rc, "copying the records", dir);
        goto out;
    }
    mdb_env_close(dst);
    dst = NULL;
    mdb_env_close(src);
    src = NULL;
    /* The swap: data.mdb is the old file or the new one, whole, at every
     * moment; the old one is kept by a second name until it is zeroed. */
    if (link(data, old) != 0 || rename(moved, data) != 0 || sync_dir(dir) != 0) {
        e = hub_error_set(err, CSPH_ERR_IO, "data_dir", "replacing %s: %s", data,
                          strerror(errno));
        goto out;
    }
    st->bytes_after = file_size(data);
    if (hub_compact_shred(old) != 0) {
        e = hub_error_set(err, CSPH_ERR_IO, "data_dir", "zeroing the old log %s: %s", old,
                          strerror(errno));
        goto out;
    }
    /* The index is derived: the next start rebuilds it from the log. */
    char path[4300];
    snprintf(path, sizeof path, "%s/index.mdb", dir);
    st->index_removed = file_size(path) > 0;
    static const char *const derived[] = {"index.mdb", "index.mdb-lock", "index.state"};
    for (size_t i = 0; i < sizeof derived / sizeof *derived; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, derived[i]);
        if (hub_compact_shred(path) != 0) {
            e = hub_error_set(err, CSPH_ERR_IO, "data_dir", "removing %s: %s", path,
                              strerror(errno));
            goto out;
        }
    }
    if (shred_journal(dir, &st->journal_files) != 0 || sync_dir(dir) != 0)
        e = hub_error_set(err, CSPH_ERR_IO, "data_dir", "removing the journal's files in "
                          "%s/journal: %s", dir, strerror(errno));
out:
    if (dst)
        mdb_env_close(dst);
    if (src)
        mdb_env_close(src);
    hub_compact_shred(moved);
    unlink(tlock);
    rmdir(tmp);
    close(lock);
    return e;
}
