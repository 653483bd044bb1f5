/* faultshim: faults on demand for tests/test_faults.c, loaded into the
 * real csphubd with LD_PRELOAD. The file named by $CSPH_FAULTS holds one
 * line "WHAT N": the next N occasions of WHAT fail, and the line is
 * rewritten with the count left, so a test waits for "WHAT 0" to know the
 * fault happened. WHAT is one of
 *   log-meta      a pwrite of data.mdb's meta pages (offset below two
 *                 pages) fails with EIO: LMDB then answers MDB_PANIC to
 *                 every transaction of that environment, as a disk would
 *                 make it;
 *   log-meta-full the same with ENOSPC (a full disk);
 *   index-write   a pwrite or writev of index.mdb fails with EIO (the
 *                 index written with write(), limits.index_writemap_mb: the
 *                 pages of a commit, then its meta page);
 *   index-commit  an mdb_txn_commit of index.mdb fails with EIO, the
 *                 transaction gone. (index.mdb is written through its map
 *                 without a sync: its commit makes no write, msync or
 *                 fdatasync call that could be failed instead);
 *   index-msync   an msync of index.mdb's map fails with EIO (the hub
 *                 syncs the index so only at a clean stop);
 *   index-panic   the same as index-commit, and after it every transaction of that
 *                 environment is refused with MDB_PANIC until it is closed,
 *                 as LMDB does after an EIO on a meta page.
 * Without $CSPH_FAULTS nothing changes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static MDB_env *panicked; /* index-panic: the environment refused */

/* 1 when the trigger file says what is due (and counts it down). */
static int due(const char *what)
{
    const char *path = getenv("CSPH_FAULTS");
    char line[128], name[64];
    int n = 0;
    if (!path)
        return 0;
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t got = pread(fd, line, sizeof line - 1, 0);
    line[got > 0 ? got : 0] = 0;
    int hit = sscanf(line, "%63s %d", name, &n) == 2 && !strcmp(name, what) && n > 0;
    if (hit) {
        int len = snprintf(line, sizeof line, "%s %d\n", what, n - 1);
        if (ftruncate(fd, 0) != 0 || pwrite(fd, line, (size_t)len, 0) != len)
            hit = 0;
    }
    close(fd);
    return hit;
}

/* Whether fd is the file named base (its last path component). */
static int fd_is(int fd, const char *base)
{
    char link[64], path[4096];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, sizeof path - 1);
    if (n <= 0)
        return 0;
    path[n] = 0;
    const char *slash = strrchr(path, '/');
    return !strcmp(slash ? slash + 1 : path, base);
}

static int env_is_index(MDB_env *env)
{
    static int (*real_path)(MDB_env *, const char **);
    const char *path = NULL;
    if (!real_path)
        real_path = (int (*)(MDB_env *, const char **))dlsym(RTLD_NEXT, "mdb_env_get_path");
    if (!env || real_path(env, &path) || !path)
        return 0;
    size_t n = strlen(path);
    return n >= 9 && !strcmp(path + n - 9, "index.mdb");
}

/* 0, or the errno a write at off of fd is to fail with. */
static int meta_write(int fd, off_t off)
{
    if (!getenv("CSPH_FAULTS"))
        return 0;
    if (fd_is(fd, "index.mdb"))
        return due("index-write") ? EIO : 0;
    if (off >= 2 * 4096 || !fd_is(fd, "data.mdb"))
        return 0;
    return due("log-meta") ? EIO : due("log-meta-full") ? ENOSPC : 0;
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    static ssize_t (*real)(int, const struct iovec *, int);
    if (!real)
        real = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    if (getenv("CSPH_FAULTS") && fd_is(fd, "index.mdb") && due("index-write")) {
        errno = EIO;
        return -1;
    }
    return real(fd, iov, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real)
        real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    int fail = meta_write(fd, off);
    if (fail) {
        errno = fail;
        return -1;
    }
    return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off)
{
    static ssize_t (*real)(int, const void *, size_t, off_t);
    if (!real)
        real = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite64");
    int fail = meta_write(fd, off);
    if (fail) {
        errno = fail;
        return -1;
    }
    return real(fd, buf, n, off);
}

/* Whether addr lies in a mapping of a file named base (/proc/self/maps). */
static int addr_in(const void *addr, const char *base)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4608];
    int found = 0;
    uintptr_t a = (uintptr_t)addr;
    while (f && !found && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char *path = strchr(line, '/');
        if (!path || sscanf(line, "%lx-%lx", &lo, &hi) != 2 || a < lo || a >= hi)
            continue;
        path[strcspn(path, "\n")] = 0;
        const char *slash = strrchr(path, '/');
        found = !strcmp(slash ? slash + 1 : path, base);
    }
    if (f)
        fclose(f);
    return found;
}

int msync(void *addr, size_t len, int flags)
{
    static int (*real)(void *, size_t, int);
    if (!real)
        real = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
    if (getenv("CSPH_FAULTS") && addr_in(addr, "index.mdb") && due("index-msync")) {
        errno = EIO;
        return -1;
    }
    return real(addr, len, flags);
}

int mdb_txn_commit(MDB_txn *txn)
{
    static int (*real)(MDB_txn *);
    static MDB_env *(*real_env)(MDB_txn *);
    static void (*real_abort)(MDB_txn *);
    if (!real) {
        real = (int (*)(MDB_txn *))dlsym(RTLD_NEXT, "mdb_txn_commit");
        real_env = (MDB_env * (*)(MDB_txn *)) dlsym(RTLD_NEXT, "mdb_txn_env");
        real_abort = (void (*)(MDB_txn *))dlsym(RTLD_NEXT, "mdb_txn_abort");
    }
    MDB_env *env = real_env(txn);
    if (getenv("CSPH_FAULTS") && env_is_index(env)) {
        int panic = due("index-panic");
        if (panic || due("index-commit")) {
            real_abort(txn);
            if (panic)
                panicked = env;
            return EIO;
        }
    }
    return real(txn);
}

int mdb_txn_begin(MDB_env *env, MDB_txn *parent, unsigned int flags, MDB_txn **txn)
{
    static int (*real)(MDB_env *, MDB_txn *, unsigned int, MDB_txn **);
    if (!real)
        real = (int (*)(MDB_env *, MDB_txn *, unsigned int, MDB_txn **))dlsym(RTLD_NEXT,
                                                                               "mdb_txn_begin");
    if (env && env == panicked)
        return MDB_PANIC;
    return real(env, parent, flags, txn);
}

void mdb_env_close(MDB_env *env)
{
    static void (*real)(MDB_env *);
    if (!real)
        real = (void (*)(MDB_env *))dlsym(RTLD_NEXT, "mdb_env_close");
    if (env == panicked)
        panicked = NULL;
    real(env);
}
