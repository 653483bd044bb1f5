/* powercut: a power cut at any step of the write path, for
 * tests/test_powercut.c, loaded into the real csphubd with LD_PRELOAD.
 *
 * kill -9 keeps the page cache: every write the hub made survives it. A
 * power cut keeps only what a completed sync put on the disk. This shim
 * keeps, beside the data directory, the disk as a power cut would leave it:
 *
 *   - a file's content becomes durable when an fsync or fdatasync of it
 *     completes (all of it: the sync covers every write before it), when an
 *     msync(MS_SYNC) of a shared mapping of it completes (all of it), or,
 *     for a descriptor opened with O_DSYNC or O_SYNC, for the range each
 *     write covered (LMDB writes its meta pages so);
 *   - a name: a file that was synced keeps its current name (ext4 commits a
 *     new file's directory entry with the file's own sync); otherwise
 *     creating, renaming or removing a name is durable once an fsync of the
 *     directory completes;
 *   - nothing else: a write that no completed sync covered is lost, as it
 *     may be (the strictest case; real disks may also keep some of them).
 *
 * Environment:
 *   CSPH_POWERCUT_WATCH  the data directory (absolute); its files and those
 *                        of its subdirectories (one level: the journal) are
 *                        followed; a subdirectory itself is taken as on disk
 *                        once anything in it is;
 *   CSPH_POWERCUT_DIR    where the disk is kept: DIR/disk/ holds the files
 *                        as they would be after a cut, DIR/points one line
 *                        per sync point ("N op file"), DIR/count the number
 *                        of sync points reached;
 *   CSPH_POWERCUT_AT     N: the power goes at the N-th sync point, before
 *                        that sync happens (the process is killed with
 *                        SIGKILL; DIR/cut then says where). Without it the
 *                        process runs on and the points are counted.
 * At the first sync point DIR/disk/ starts as a copy of the directory as it
 * is then (what the test put there is taken as on disk). */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_FDS 65536
#define MAX_MAPS 64
#define MAX_NAMES 256

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static __thread int inside; /* the shim's own calls are not followed */

static unsigned char dsync_fd[MAX_FDS]; /* fds opened with O_DSYNC/O_SYNC */

struct map {
    char *addr;
    size_t len;
    char name[NAME_MAX * 2 + 2];
};
static struct map maps[MAX_MAPS];

/* The durable names: name -> the inode whose durable content it holds.
 * Contents live in DIR/disk/.ino/INODE; DIR/disk/NAME is materialised
 * from them at every change, so DIR/disk is always the disk after a cut. */
struct name {
    char name[NAME_MAX * 2 + 2];
    ino_t ino;
};
static struct name names[MAX_NAMES];
static int nnames;

static int started;
static long points;
static char watch[PATH_MAX], store[PATH_MAX];

static int (*real_open)(const char *, int, ...);
static int (*real_openat)(int, const char *, int, ...);
static int (*real_close)(int);
static ssize_t (*real_write)(int, const void *, size_t);
static ssize_t (*real_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*real_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*real_writev)(int, const struct iovec *, int);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_msync)(void *, size_t, int);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);

static void resolve(void)
{
    if (real_open)
        return;
    real_open = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    real_openat = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
    real_close = (int (*)(int))dlsym(RTLD_NEXT, "close");
    real_write = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    real_pwrite = (ssize_t(*)(int, const void *, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
    real_pwritev = (ssize_t(*)(int, const struct iovec *, int, off_t))dlsym(RTLD_NEXT, "pwritev");
    real_writev = (ssize_t(*)(int, const struct iovec *, int))dlsym(RTLD_NEXT, "writev");
    real_fsync = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    real_msync = (int (*)(void *, size_t, int))dlsym(RTLD_NEXT, "msync");
    real_mmap = (void *(*)(void *, size_t, int, int, int, off_t))dlsym(RTLD_NEXT, "mmap");
    real_munmap = (int (*)(void *, size_t))dlsym(RTLD_NEXT, "munmap");
    const char *w = getenv("CSPH_POWERCUT_WATCH"), *d = getenv("CSPH_POWERCUT_DIR");
    if (w && d && !realpath(w, watch))
        snprintf(watch, sizeof watch, "%s", w);
    if (d)
        snprintf(store, sizeof store, "%s", d);
}

static int active(void) { return watch[0] && store[0]; }

static void die(const char *what)
{
    /* The shim cannot keep its promise: say so loudly and stop the process,
     * so the test fails instead of checking a wrong disk. */
    char msg[512];
    int n = snprintf(msg, sizeof msg, "powercut shim: %s: %s\n", what, strerror(errno));
    if (n > 0)
        (void)!real_write(2, msg, (size_t)n);
    abort();
}

/* The name of fd relative to the watched directory (a file in it or in one
 * of its subdirectories, "dir/file"; "." for the directory itself, "dir"
 * for a subdirectory); "" otherwise. */
static void fd_name(int fd, char *out, size_t n)
{
    char link[64], path[PATH_MAX];
    out[0] = 0;
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t len = readlink(link, path, sizeof path - 1);
    if (len <= 0)
        return;
    path[len] = 0;
    size_t wl = strlen(watch);
    if (!strcmp(path, watch)) {
        snprintf(out, n, ".");
        return;
    }
    const char *slash;
    if (strncmp(path, watch, wl) != 0 || path[wl] != '/' ||
        ((slash = strchr(path + wl + 1, '/')) && strchr(slash + 1, '/')))
        return;
    snprintf(out, n, "%s", path + wl + 1);
}

static void spath(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void spath(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = snprintf(out, n, "%s/", store);
    vsnprintf(out + len, n - (size_t)len, fmt, ap);
    va_end(ap);
}

/* Copy [off, off+len) of src into dst (len < 0: all of src, holes kept,
 * dst cut to src's size). */
static void copy_range(int src, int dst, off_t off, off_t len)
{
    struct stat st;
    if (fstat(src, &st) != 0)
        die("fstat");
    off_t end = len < 0 ? st.st_size : off + len;
    if (len < 0 && ftruncate(dst, st.st_size) != 0)
        die("ftruncate");
    if (len >= 0) {
        struct stat dt;
        if (fstat(dst, &dt) != 0)
            die("fstat");
        if (dt.st_size < end && ftruncate(dst, end) != 0)
            die("ftruncate");
    }
    static char buf[1 << 16];
    off_t at = off;
    while (at < end) {
        off_t data = lseek(src, at, SEEK_DATA);
        if (data < 0 || data >= end)
            break;
        off_t hole = lseek(src, data, SEEK_HOLE);
        if (hole < 0 || hole > end)
            hole = end;
        for (off_t p = data; p < hole;) {
            size_t want = (size_t)(hole - p) < sizeof buf ? (size_t)(hole - p) : sizeof buf;
            ssize_t got = pread(src, buf, want, p);
            if (got <= 0)
                die("pread");
            if (real_pwrite(dst, buf, (size_t)got, p) != got)
                die("pwrite to the kept disk");
            p += got;
        }
        at = hole;
    }
}

static int find_name(const char *name)
{
    for (int i = 0; i < nnames; i++)
        if (!strcmp(names[i].name, name))
            return i;
    return -1;
}

/* DIR/disk/NAME made from its inode's durable content. */
static void materialise(const char *name, ino_t ino)
{
    char from[PATH_MAX + 64], to[PATH_MAX + 64], tmp[PATH_MAX + 80];
    spath(from, sizeof from, "disk/.ino/%lu", (unsigned long)ino);
    spath(to, sizeof to, "disk/%s", name);
    const char *slash = strchr(name, '/');
    if (slash) { /* its directory, lenient: as ext4 commits it with the file */
        char sub[PATH_MAX + 64];
        spath(sub, sizeof sub, "disk/%.*s", (int)(slash - name), name);
        mkdir(sub, 0700);
    }
    spath(tmp, sizeof tmp, "disk/.tmp");
    int src = real_open(from, O_RDONLY | O_CLOEXEC);
    int dst = real_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (dst < 0)
        die("creating a kept file");
    if (src >= 0) {
        copy_range(src, dst, 0, -1);
        real_close(src);
    }
    real_close(dst);
    if (rename(tmp, to) != 0)
        die("rename in the kept disk");
}

static void add_name(const char *name, ino_t ino)
{
    int i = find_name(name);
    if (i < 0) {
        if (nnames == MAX_NAMES) {
            errno = ENOSPC;
            die("too many names");
        }
        i = nnames++;
        snprintf(names[i].name, sizeof names[i].name, "%s", name);
    }
    names[i].ino = ino;
    materialise(name, ino);
}

/* Copy the regular files of watch/rel (rel "" or a subdirectory) as on disk. */
static void take_dir(const char *rel)
{
    char dir[PATH_MAX * 2];
    snprintf(dir, sizeof dir, rel[0] ? "%s/%s" : "%s%s", watch, rel);
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT)
        return; /* the hub makes the directory: nothing of it is on disk yet */
    if (!d)
        die("opendir");
    struct dirent *e;
    while ((e = readdir(d))) {
        char full[PATH_MAX * 3], name[NAME_MAX * 2 + 2];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        snprintf(name, sizeof name, rel[0] ? "%s/%s" : "%s%s", rel, e->d_name);
        if (e->d_name[0] == '.' || stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && !rel[0]) {
            take_dir(e->d_name);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        char to[PATH_MAX + 64];
        spath(to, sizeof to, "disk/.ino/%lu", (unsigned long)st.st_ino);
        int src = real_open(full, O_RDONLY | O_CLOEXEC);
        int dst = real_open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (src < 0 || dst < 0)
            die("copying the directory at start");
        copy_range(src, dst, 0, -1);
        real_close(src);
        real_close(dst);
        add_name(name, st.st_ino);
    }
    closedir(d);
}

/* The first sync point: the directory as it is now is taken as on disk. */
static void start(void)
{
    if (started)
        return;
    started = 1;
    char p[PATH_MAX + 64];
    spath(p, sizeof p, "disk");
    mkdir(p, 0700);
    spath(p, sizeof p, "disk/.ino");
    mkdir(p, 0700);
    take_dir("");
}

/* A sync point: counted, logged, and the cut when it is the one. Called
 * with the lock held, before the sync. */
static void point(const char *op, const char *name)
{
    start();
    points++;
    char p[PATH_MAX + 64], line[PATH_MAX + 64];
    spath(p, sizeof p, "points");
    int fd = real_open(p, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int n = snprintf(line, sizeof line, "%ld %s %s\n", points, op, name);
    if (fd < 0 || real_write(fd, line, (size_t)n) != n)
        die("writing the points");
    real_close(fd);
    spath(p, sizeof p, "count");
    fd = real_open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    n = snprintf(line, sizeof line, "%ld\n", points);
    if (fd < 0 || real_write(fd, line, (size_t)n) != n)
        die("writing the count");
    real_close(fd);
    const char *at = getenv("CSPH_POWERCUT_AT");
    if (at && atol(at) == points) {
        spath(p, sizeof p, "cut");
        fd = real_open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        n = snprintf(line, sizeof line, "%ld %s %s\n", points, op, name);
        if (fd >= 0) {
            (void)!real_write(fd, line, (size_t)n);
            real_close(fd);
        }
        kill(getpid(), SIGKILL);
        for (;;)
            pause();
    }
}

/* After a completed sync of a whole file. */
static void file_synced(int fd, const char *name)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("fstat");
    char to[PATH_MAX + 64], full[PATH_MAX * 2];
    spath(to, sizeof to, "disk/.ino/%lu", (unsigned long)st.st_ino);
    snprintf(full, sizeof full, "%s/%s", watch, name);
    int src = real_open(full, O_RDONLY | O_CLOEXEC);
    int dst = real_open(to, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (src < 0 || dst < 0)
        die("keeping a synced file");
    copy_range(src, dst, 0, -1);
    real_close(src);
    real_close(dst);
    /* Every name that holds this inode shows the new content; a file not
     * yet named on the disk gets its name with its first sync. */
    int named = 0;
    for (int i = 0; i < nnames; i++)
        if (names[i].ino == st.st_ino) {
            materialise(names[i].name, st.st_ino);
            named = 1;
        }
    if (!named)
        add_name(name, st.st_ino);
}

/* The directory part of a name ("" for a file of the watched directory). */
static void dir_part(const char *name, char *out, size_t n)
{
    const char *slash = strchr(name, '/');
    snprintf(out, n, "%.*s", slash ? (int)(slash - name) : 0, name);
}

/* After a completed fsync of directory rel ("." or a subdirectory): its
 * names as they are now. */
static void dir_synced(const char *rel)
{
    const char *r = strcmp(rel, ".") ? rel : "";
    char dir[PATH_MAX * 2];
    snprintf(dir, sizeof dir, r[0] ? "%s/%s" : "%s%s", watch, r);
    DIR *d = opendir(dir);
    if (!d)
        die("opendir");
    char (*seen)[NAME_MAX * 2 + 2] = calloc(MAX_NAMES, NAME_MAX * 2 + 2);
    int nseen = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char full[PATH_MAX * 3], name[NAME_MAX * 2 + 2];
        struct stat st;
        snprintf(full, sizeof full, "%s/%s", dir, e->d_name);
        snprintf(name, sizeof name, r[0] ? "%s/%s" : "%s%s", r, e->d_name);
        if (e->d_name[0] == '.' || stat(full, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && !r[0]) { /* a subdirectory's entry */
            char sub[PATH_MAX + 64];
            spath(sub, sizeof sub, "disk/%s", e->d_name);
            mkdir(sub, 0700);
            continue;
        }
        if (!S_ISREG(st.st_mode))
            continue;
        if (nseen < MAX_NAMES)
            snprintf(seen[nseen++], NAME_MAX * 2 + 2, "%s", name);
        int i = find_name(name);
        if (i < 0 || names[i].ino != st.st_ino)
            add_name(name, st.st_ino); /* content: what of it was synced, maybe none */
    }
    closedir(d);
    for (int i = 0; i < nnames; i++) {
        char part[NAME_MAX + 1];
        dir_part(names[i].name, part, sizeof part);
        if (strcmp(part, r) != 0)
            continue;
        int keep = 0;
        for (int j = 0; j < nseen && !keep; j++)
            keep = !strcmp(seen[j], names[i].name);
        if (!keep) {
            char p[PATH_MAX + 64];
            spath(p, sizeof p, "disk/%s", names[i].name);
            unlink(p);
            names[i] = names[--nnames];
            i--;
        }
    }
    free(seen);
}

/* After a completed O_DSYNC write of [off, off+len) through fd. */
static void range_synced(int fd, const char *name, off_t off, off_t len)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        die("fstat");
    char to[PATH_MAX + 64], full[PATH_MAX * 2];
    spath(to, sizeof to, "disk/.ino/%lu", (unsigned long)st.st_ino);
    snprintf(full, sizeof full, "%s/%s", watch, name);
    int src = real_open(full, O_RDONLY | O_CLOEXEC);
    int dst = real_open(to, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (src < 0 || dst < 0)
        die("keeping a synced range");
    copy_range(src, dst, off, len);
    real_close(src);
    real_close(dst);
    int named = 0;
    for (int i = 0; i < nnames; i++)
        if (names[i].ino == st.st_ino) {
            materialise(names[i].name, st.st_ino);
            named = 1;
        }
    if (!named)
        add_name(name, st.st_ino);
}

/* The directory as it is when the process starts is on disk (the test
 * made it so: empty, or left by a clean stop). */
__attribute__((constructor)) static void at_load(void)
{
    resolve();
    if (!active())
        return;
    pthread_mutex_lock(&lock);
    inside = 1;
    start();
    inside = 0;
    pthread_mutex_unlock(&lock);
}

static int do_sync(int fd, int data_only)
{
    resolve();
    if (inside || !active())
        return data_only ? real_fdatasync(fd) : real_fsync(fd);
    char name[NAME_MAX * 2 + 2];
    fd_name(fd, name, sizeof name);
    if (!name[0])
        return data_only ? real_fdatasync(fd) : real_fsync(fd);
    pthread_mutex_lock(&lock);
    inside = 1;
    point(data_only ? "fdatasync" : "fsync", name);
    int rc = data_only ? real_fdatasync(fd) : real_fsync(fd);
    if (rc == 0) {
        int saved = errno;
        struct stat st;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
            dir_synced(name);
        else
            file_synced(fd, name);
        errno = saved;
    }
    inside = 0;
    pthread_mutex_unlock(&lock);
    return rc;
}

int fsync(int fd) { return do_sync(fd, 0); }
int fdatasync(int fd) { return do_sync(fd, 1); }

static void opened(int fd, int flags)
{
    if (fd >= 0 && fd < MAX_FDS)
        dsync_fd[fd] = (flags & (O_DSYNC | O_SYNC)) != 0;
}

int open(const char *path, int flags, ...)
{
    resolve();
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    int fd = real_open(path, flags, mode);
    if (!inside)
        opened(fd, flags);
    return fd;
}
int open64(const char *path, int flags, ...) __attribute__((alias("open")));

int openat(int dirfd, const char *path, int flags, ...)
{
    resolve();
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    int fd = real_openat(dirfd, path, flags, mode);
    if (!inside)
        opened(fd, flags);
    return fd;
}
int openat64(int dirfd, const char *path, int flags, ...) __attribute__((alias("openat")));

int close(int fd)
{
    resolve();
    if (fd >= 0 && fd < MAX_FDS)
        dsync_fd[fd] = 0;
    return real_close(fd);
}

/* A write through an O_DSYNC descriptor in the watched directory: a sync
 * point, and its range durable once it returns. */
static int dsync_target(int fd, char *name, size_t n)
{
    if (inside || !active() || fd < 0 || fd >= MAX_FDS || !dsync_fd[fd])
        return 0;
    fd_name(fd, name, n);
    return name[0] && strcmp(name, ".");
}

/* The four writes the shim follows, as one: buf is an iovec array for the
 * vector kinds (len its count), off is used by the positioned ones. */
enum wkind { W_WRITE, W_WRITEV, W_PWRITE, W_PWRITEV };

static ssize_t real_call(enum wkind k, int fd, const void *buf, size_t len, off_t off)
{
    switch (k) {
    case W_WRITE: return real_write(fd, buf, len);
    case W_WRITEV: return real_writev(fd, buf, (int)len);
    case W_PWRITE: return real_pwrite(fd, buf, len, off);
    default: return real_pwritev(fd, buf, (int)len, off);
    }
}

/* A write: through an O_DSYNC descriptor in the watched directory it is a
 * sync point (op names it), and the range it wrote is durable once it
 * returns. */
static ssize_t dsync_write(enum wkind k, const char *op, int fd, const void *buf, size_t len,
                           off_t off)
{
    resolve();
    char name[NAME_MAX * 2 + 2];
    if (!dsync_target(fd, name, sizeof name))
        return real_call(k, fd, buf, len, off);
    pthread_mutex_lock(&lock);
    inside = 1;
    point(op, name);
    int positioned = k == W_PWRITE || k == W_PWRITEV;
    if (!positioned)
        off = lseek(fd, 0, SEEK_CUR);
    ssize_t rc = real_call(k, fd, buf, len, off);
    if (rc > 0) {
        int saved = errno;
        /* An appending descriptor wrote at the end, wherever it stood. */
        if (!positioned && (fcntl(fd, F_GETFL) & O_APPEND))
            off = lseek(fd, 0, SEEK_CUR) - rc;
        range_synced(fd, name, off, rc);
        errno = saved;
    }
    inside = 0;
    pthread_mutex_unlock(&lock);
    return rc;
}

ssize_t pwrite(int fd, const void *buf, size_t len, off_t off)
{
    return dsync_write(W_PWRITE, "pwrite-dsync", fd, buf, len, off);
}
ssize_t pwrite64(int fd, const void *buf, size_t len, off_t off) __attribute__((alias("pwrite")));

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
    return dsync_write(W_PWRITEV, "pwritev-dsync", fd, iov, (size_t)n, off);
}
ssize_t pwritev64(int fd, const struct iovec *iov, int n, off_t off) __attribute__((alias("pwritev")));

ssize_t write(int fd, const void *buf, size_t len)
{
    return dsync_write(W_WRITE, "write-dsync", fd, buf, len, 0);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
    return dsync_write(W_WRITEV, "writev-dsync", fd, iov, (size_t)n, 0);
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    resolve();
    void *p = real_mmap(addr, len, prot, flags, fd, off);
    if (p == MAP_FAILED || inside || !active() || fd < 0 || !(flags & MAP_SHARED) ||
        !(prot & PROT_WRITE))
        return p;
    char name[NAME_MAX * 2 + 2];
    fd_name(fd, name, sizeof name);
    if (!name[0] || !strcmp(name, "."))
        return p;
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_MAPS; i++)
        if (!maps[i].addr) {
            maps[i].addr = p;
            maps[i].len = len;
            snprintf(maps[i].name, sizeof maps[i].name, "%s", name);
            break;
        }
    pthread_mutex_unlock(&lock);
    return p;
}
void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
    __attribute__((alias("mmap")));

int munmap(void *addr, size_t len)
{
    resolve();
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_MAPS; i++)
        if (maps[i].addr == addr)
            maps[i].addr = NULL;
    pthread_mutex_unlock(&lock);
    return real_munmap(addr, len);
}

int msync(void *addr, size_t len, int flags)
{
    resolve();
    if (inside || !active() || !(flags & MS_SYNC))
        return real_msync(addr, len, flags);
    char name[NAME_MAX * 2 + 2] = "";
    pthread_mutex_lock(&lock);
    for (int i = 0; i < MAX_MAPS; i++)
        if (maps[i].addr && (char *)addr >= maps[i].addr &&
            (char *)addr < maps[i].addr + maps[i].len)
            snprintf(name, sizeof name, "%s", maps[i].name);
    if (!name[0]) {
        pthread_mutex_unlock(&lock);
        return real_msync(addr, len, flags);
    }
    inside = 1;
    point("msync", name);
    int rc = real_msync(addr, len, flags);
    if (rc == 0) {
        int saved = errno;
        char full[PATH_MAX * 2];
        snprintf(full, sizeof full, "%s/%s", watch, name);
        int fd = real_open(full, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            die("opening a synced mapping's file");
        file_synced(fd, name);
        real_close(fd);
        errno = saved;
    }
    inside = 0;
    pthread_mutex_unlock(&lock);
    return rc;
}
