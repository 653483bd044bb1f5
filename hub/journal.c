/* journal.c: the write-ahead journal in front of the log (journal.h). */
#define _GNU_SOURCE
#include "journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#define HEADER_BYTES 4096u
#define FILE_MAGIC "CSPHJNL1"
#define FILE_VERSION 1u
#define REC_MAGIC 0x4a485343u /* "CSHJ" little-endian */
#define REC_HEAD 24u          /* magic u32, len u32, sum u64, batch u64 */
#define MAX_SPARES 2
#define MIB (1024u * 1024u)

struct jfile {
    uint64_t first; /* the first batch it holds (from its header) */
    uint64_t last;  /* the last valid batch in it, 0 when none */
    uint64_t bytes; /* bytes of valid records in it */
    char name[64];
};

struct hub_journal {
    char dir[4096];
    uint64_t file_bytes;
    uint64_t next_bytes; /* a new file's size: doubling from 1 MiB up to file_bytes */
    unsigned flags;
    struct jfile *files; /* by first batch */
    size_t nfiles, capfiles;
    int fd;          /* the file appended to (files[nfiles-1]), -1: a fresh one next */
    uint64_t cur_bytes; /* its size */
    uint64_t off;    /* where the next record goes in it */
    uint64_t synced; /* the last batch on disk (0: none since the journal was empty) */
    int empty;       /* nothing synced or pending: any first number is taken */
    unsigned char *pend;
    size_t pend_len, pend_cap;
    uint64_t pend_first, pend_last;
    unsigned char *found; /* the records read at open, encoded */
    size_t found_len;
    char spares[MAX_SPARES][64];
    int nspares;
    struct hub_journal_stats st;
};

static inline void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static inline void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}
static inline size_t padded(size_t n) { return (n + 7u) & ~(size_t)7u; }

static enum hub_err io_error(struct hub_error *err, const char *what, const char *path)
{
    int e = errno;
    return hub_error_set(err, e == ENOSPC ? CSPH_ERR_DISK_FULL : CSPH_ERR_IO, "journal",
                         "%s %s: %s", what, path, strerror(e));
}

static void path_of(const struct hub_journal *j, const char *name, char *out, size_t n)
{
    /* dir is at most 4095 bytes and names are short: out is 4200 */
    int len = snprintf(out, n, "%s/", j->dir);
    if (len > 0 && (size_t)len < n)
        snprintf(out + len, n - (size_t)len, "%.*s", (int)(n - (size_t)len - 1), name);
}

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* The checksum covers the batch number and the bytes; the length seeds it. */
static uint64_t rec_sum(const unsigned char *rec, uint32_t len)
{
    return XXH3_64bits_withSeed(rec + 16, 8 + (size_t)len, len);
}

static void header_encode(unsigned char *h, uint64_t first)
{
    memset(h, 0, HEADER_BYTES);
    memcpy(h, FILE_MAGIC, 8);
    put32(h + 8, FILE_VERSION);
    put64(h + 16, first);
    put64(h + 24, XXH3_64bits(h, 24));
}

/* The first batch of a file's header, or -1 when the header does not check
 * (a file being made when the power went: it holds no record). */
static int header_decode(const unsigned char *h, uint64_t *first)
{
    if (memcmp(h, FILE_MAGIC, 8) != 0 || get32(h + 8) != FILE_VERSION ||
        get64(h + 24) != XXH3_64bits(h, 24))
        return -1;
    *first = get64(h + 16);
    return 0;
}

/* ---- making a file ---------------------------------------------------- */

/* A file for records from `first` on, at least `need` bytes of records:
 * a recycled one (renamed) or a new one whose every block is written with
 * zeros and synced, so an fdatasync of records in it has no block
 * allocation to write. The directory is synced before any record is
 * written into it. */
static enum hub_err make_file(struct hub_journal *j, uint64_t first, size_t need,
                              struct hub_error *err)
{
    char name[64], path[4200], from[4200];
    snprintf(name, sizeof name, "%016llx.csj", (unsigned long long)first);
    path_of(j, name, path, sizeof path);
    uint64_t size = j->next_bytes;
    j->next_bytes = size * 2 < j->file_bytes ? size * 2 : j->file_bytes;
    if (HEADER_BYTES + need > size)
        size = (HEADER_BYTES + need + MIB - 1) / MIB * MIB;
    int fd = -1;
    /* Two files may share a name: a rewrite after a failed sync starts
     * where the failed file did. The failed one goes: the new one holds
     * all it held that was ever trusted from `first` on. */
    for (size_t i = 0; i < j->nfiles; i++)
        if (!strcmp(j->files[i].name, name)) {
            if (unlink(path) != 0 && errno != ENOENT)
                return io_error(err, "cannot remove the journal file", path);
            j->files[i] = j->files[--j->nfiles];
            break;
        }
    while (j->nspares > 0 && fd < 0) {
        path_of(j, j->spares[--j->nspares], from, sizeof from);
        struct stat st;
        if (stat(from, &st) == 0 && (uint64_t)st.st_size >= HEADER_BYTES + need &&
            rename(from, path) == 0)
            fd = open(path, O_RDWR | O_CLOEXEC);
        else
            unlink(from);
        if (fd >= 0)
            size = (uint64_t)st.st_size;
    }
    unsigned char *h = calloc(1, HEADER_BYTES > MIB ? HEADER_BYTES : MIB);
    if (!h)
        return hub_error_set(err, CSPH_ERR_NOMEM, "journal", "out of memory");
    enum hub_err rc = CSPH_ERR_OK;
    if (fd < 0) {
        fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) {
            rc = io_error(err, "cannot create the journal file", path);
            goto out;
        }
        for (uint64_t at = 0; at < size; at += MIB)
            if (pwrite(fd, h, MIB, (off_t)at) != (ssize_t)MIB) {
                rc = io_error(err, "cannot preallocate the journal file", path);
                goto out;
            }
    }
    header_encode(h, first);
    if (pwrite(fd, h, HEADER_BYTES, 0) != (ssize_t)HEADER_BYTES || fdatasync(fd) != 0) {
        rc = io_error(err, "cannot write the journal file's header", path);
        goto out;
    }
    if (sync_dir(j->dir) != 0) {
        rc = io_error(err, "cannot sync the journal's directory", j->dir);
        goto out;
    }
    if (j->nfiles == j->capfiles) {
        size_t cap = j->capfiles ? j->capfiles * 2 : 8;
        struct jfile *nf = realloc(j->files, cap * sizeof *nf);
        if (!nf) {
            rc = hub_error_set(err, CSPH_ERR_NOMEM, "journal", "out of memory");
            goto out;
        }
        j->files = nf;
        j->capfiles = cap;
    }
    struct jfile *f = &j->files[j->nfiles++];
    memset(f, 0, sizeof *f);
    f->first = first;
    snprintf(f->name, sizeof f->name, "%s", name);
    j->fd = fd;
    j->cur_bytes = size;
    j->off = HEADER_BYTES;
    fd = -1;
    j->st.files = j->nfiles;
out:
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    free(h);
    return rc;
}

/* ---- reading what is there -------------------------------------------- */

static int by_first(const void *a, const void *b)
{
    const struct jfile *x = a, *y = b;
    return x->first < y->first ? -1 : x->first > y->first;
}

static enum hub_err found_append(struct hub_journal *j, const unsigned char *rec, size_t n,
                                 struct hub_error *err)
{
    unsigned char *p = realloc(j->found, j->found_len + n);
    if (!p)
        return hub_error_set(err, CSPH_ERR_NOMEM, "journal", "out of memory");
    memcpy(p + j->found_len, rec, n);
    j->found = p;
    j->found_len += n;
    return CSPH_ERR_OK;
}

/* Drop the records found so far from batch `from` on: a later file holds
 * them as they were acknowledged. */
static void found_cut(struct hub_journal *j, uint64_t from)
{
    size_t at = 0;
    while (at < j->found_len) {
        uint32_t len = get32(j->found + at + 4);
        if (get64(j->found + at + 16) >= from) {
            j->found_len = at;
            return;
        }
        at += REC_HEAD + padded(len);
    }
}

/* Read file f's records into found; stops at the first that does not
 * check. */
static enum hub_err read_file(struct hub_journal *j, struct jfile *f, struct hub_error *err)
{
    char path[4200];
    path_of(j, f->name, path, sizeof path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return io_error(err, "cannot open the journal file", path);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        enum hub_err rc = io_error(err, "cannot stat the journal file", path);
        close(fd);
        return rc;
    }
    uint64_t size = (uint64_t)st.st_size, off = HEADER_BYTES, want = f->first;
    unsigned char head[REC_HEAD];
    enum hub_err rc = CSPH_ERR_OK;
    unsigned char *buf = NULL;
    found_cut(j, f->first);
    while (off + REC_HEAD <= size) {
        if (pread(fd, head, REC_HEAD, (off_t)off) != (ssize_t)REC_HEAD) {
            rc = io_error(err, "cannot read the journal file", path);
            break;
        }
        uint32_t len = get32(head + 4);
        if (get32(head) != REC_MAGIC || get64(head + 16) != want ||
            off + REC_HEAD + padded(len) > size) {
            /* Zeros after the last record are the clean end; anything else
             * is a record torn by the cut, or a recycled file's old one. */
            static const unsigned char zero[REC_HEAD];
            if (memcmp(head, zero, REC_HEAD) != 0)
                j->st.torn = 1;
            break;
        }
        size_t n = REC_HEAD + padded(len);
        unsigned char *nb = realloc(buf, n);
        if (!nb) {
            rc = hub_error_set(err, CSPH_ERR_NOMEM, "journal", "out of memory");
            break;
        }
        buf = nb;
        if (pread(fd, buf, n, (off_t)off) != (ssize_t)n) {
            rc = io_error(err, "cannot read the journal file", path);
            break;
        }
        if (get64(buf + 8) != rec_sum(buf, len)) {
            j->st.torn = 1;
            break;
        }
        if ((rc = found_append(j, buf, n, err)))
            break;
        f->last = want++;
        f->bytes += n;
        off += n;
    }
    free(buf);
    close(fd);
    return rc;
}

static enum hub_err scan(struct hub_journal *j, struct hub_error *err)
{
    DIR *d = opendir(j->dir);
    if (!d)
        return io_error(err, "cannot read the journal's directory", j->dir);
    struct dirent *e;
    enum hub_err rc = CSPH_ERR_OK;
    unsigned char h[HEADER_BYTES];
    while ((e = readdir(d)) && !rc) {
        size_t n = strlen(e->d_name);
        char path[4200];
        path_of(j, e->d_name, path, sizeof path);
        if (n > 6 && !strcmp(e->d_name + n - 6, ".spare")) {
            if (j->nspares < MAX_SPARES && n < 64)
                memcpy(j->spares[j->nspares++], e->d_name, n + 1);
            else if (!(j->flags & HUB_JOURNAL_READONLY))
                unlink(path);
            continue;
        }
        if (n != 20 || strcmp(e->d_name + 16, ".csj") != 0)
            continue;
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint64_t first = 0;
        int ok = fd >= 0 && pread(fd, h, HEADER_BYTES, 0) == (ssize_t)HEADER_BYTES &&
                 header_decode(h, &first) == 0;
        if (fd >= 0)
            close(fd);
        if (!ok) {
            /* Made when the power went, before its header was synced: no
             * record in it was ever acknowledged. */
            if (!(j->flags & HUB_JOURNAL_READONLY))
                unlink(path);
            continue;
        }
        if (j->nfiles == j->capfiles) {
            size_t cap = j->capfiles ? j->capfiles * 2 : 8;
            struct jfile *nf = realloc(j->files, cap * sizeof *nf);
            if (!nf) {
                rc = hub_error_set(err, CSPH_ERR_NOMEM, "journal", "out of memory");
                break;
            }
            j->files = nf;
            j->capfiles = cap;
        }
        struct jfile *f = &j->files[j->nfiles++];
        memset(f, 0, sizeof *f);
        f->first = first;
        /* A journal file's name is 16 hex digits and .csj (header_decode
         * checked it is one): it fits. */
        size_t fl = n < sizeof f->name ? n : sizeof f->name - 1;
        memcpy(f->name, e->d_name, fl);
        f->name[fl] = 0;
    }
    closedir(d);
    if (rc)
        return rc;
    if (j->nfiles > 1)
        qsort(j->files, j->nfiles, sizeof *j->files, by_first);
    for (size_t i = 0; i < j->nfiles && !rc; i++)
        rc = read_file(j, &j->files[i], err);
    j->st.files = j->nfiles;
    return rc;
}

/* ---- the API ---------------------------------------------------------- */

enum hub_err hub_journal_open(struct hub_journal **out, const char *dir, uint64_t file_bytes,
                              unsigned flags, struct hub_error *err)
{
    *out = NULL;
    struct hub_journal *j = calloc(1, sizeof *j);
    if (!j)
        return hub_error_set(err, CSPH_ERR_NOMEM, "journal", "out of memory");
    snprintf(j->dir, sizeof j->dir, "%s", dir);
    j->file_bytes = file_bytes < MIB ? MIB : (file_bytes + MIB - 1) / MIB * MIB;
    j->next_bytes = MIB;
    j->flags = flags;
    j->fd = -1;
    j->empty = 1;
    enum hub_err rc = CSPH_ERR_OK;
    if (!(flags & HUB_JOURNAL_READONLY)) {
        if (mkdir(dir, 0700) == 0) {
            char parent[4096];
            snprintf(parent, sizeof parent, "%s", dir);
            char *slash = strrchr(parent, '/');
            if (slash)
                *slash = 0;
            if (sync_dir(slash ? (parent[0] ? parent : "/") : ".") != 0)
                rc = io_error(err, "cannot sync the directory holding", dir);
        } else if (errno != EEXIST) {
            rc = io_error(err, "cannot create the journal's directory", dir);
        }
    }
    if (!rc)
        rc = scan(j, err);
    if (rc) {
        hub_journal_close(&j);
        return rc;
    }
    for (size_t at = 0; at < j->found_len;) {
        uint32_t len = get32(j->found + at + 4);
        j->synced = get64(j->found + at + 16);
        j->empty = 0;
        j->st.recovered++;
        at += REC_HEAD + padded(len);
    }
    j->st.last_batch = j->synced;
    *out = j;
    return CSPH_ERR_OK;
}

void hub_journal_close(struct hub_journal **jp)
{
    if (!jp || !*jp)
        return;
    struct hub_journal *j = *jp;
    if (j->fd >= 0)
        close(j->fd);
    free(j->files);
    free(j->pend);
    free(j->found);
    free(j);
    *jp = NULL;
}

enum hub_err hub_journal_replay(struct hub_journal *j, uint64_t after, hub_journal_record_fn fn,
                                void *ctx, struct hub_error *err)
{
    uint64_t want = after + 1;
    int any = 0;
    j->st.recovered = 0;
    for (size_t at = 0; at < j->found_len;) {
        uint32_t len = get32(j->found + at + 4);
        uint64_t batch = get64(j->found + at + 16);
        const unsigned char *p = j->found + at + REC_HEAD;
        at += REC_HEAD + padded(len);
        if (batch <= after)
            continue;
        if (batch != want)
            return hub_error_set(err, CSPH_ERR_IO, "journal",
                                 "the journal in %s holds batch %llu next, but the log needs "
                                 "batch %llu: a journal file is missing; restore the data "
                                 "directory from its backup",
                                 j->dir, (unsigned long long)batch, (unsigned long long)want);
        any = 1;
        j->st.recovered++;
        if (fn(ctx, batch, p, len) != 0)
            return hub_error_set(err, CSPH_ERR_IO, "journal",
                                 "applying batch %llu of the journal failed",
                                 (unsigned long long)batch);
        want++;
    }
    (void)any;
    return CSPH_ERR_OK;
}

enum hub_err hub_journal_append(struct hub_journal *j, uint64_t batch, const void *p, size_t n,
                                struct hub_error *err)
{
    if (j->flags & HUB_JOURNAL_READONLY)
        return hub_error_set(err, CSPH_ERR_INTERNAL, "journal", "the journal is open read-only");
    uint64_t last = j->pend_len ? j->pend_last : j->synced;
    int first_ever = j->empty && !j->pend_len;
    if (!first_ever && batch != last + 1)
        return hub_error_set(err, CSPH_ERR_INTERNAL, "journal",
                             "journal batch %llu appended after %llu",
                             (unsigned long long)batch, (unsigned long long)last);
    if (n > UINT32_MAX - 64)
        return hub_error_set(err, CSPH_ERR_TOO_LARGE, "journal", "a batch of %zu bytes", n);
    size_t need = REC_HEAD + padded(n);
    if (j->pend_len + need > j->pend_cap) {
        size_t cap = j->pend_cap ? j->pend_cap : 64 * 1024;
        while (cap < j->pend_len + need)
            cap *= 2;
        unsigned char *np = realloc(j->pend, cap);
        if (!np)
            return hub_error_set(err, CSPH_ERR_NOMEM, "journal", "out of memory");
        j->pend = np;
        j->pend_cap = cap;
    }
    unsigned char *rec = j->pend + j->pend_len;
    memset(rec, 0, need);
    put32(rec, REC_MAGIC);
    put32(rec + 4, (uint32_t)n);
    put64(rec + 16, batch);
    memcpy(rec + REC_HEAD, p, n);
    put64(rec + 8, rec_sum(rec, (uint32_t)n));
    if (!j->pend_len)
        j->pend_first = batch;
    j->pend_last = batch;
    j->pend_len += need;
    j->st.records++;
    j->st.pending_bytes = j->pend_len;
    return CSPH_ERR_OK;
}

/* Write the pending records at the end of the current file (made first
 * when there is none or no room) and fdatasync it. */
static int write_pending(struct hub_journal *j, struct hub_error *err)
{
    if (j->fd >= 0 && j->off + j->pend_len > j->cur_bytes) {
        close(j->fd); /* full: its records stay until a checkpoint passes them */
        j->fd = -1;
    }
    if (j->fd < 0 && make_file(j, j->pend_first, j->pend_len, err))
        return -1;
    size_t done = 0;
    while (done < j->pend_len) {
        ssize_t w = pwrite(j->fd, j->pend + done, j->pend_len - done, (off_t)(j->off + done));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = EIO;
            io_error(err, "cannot write to the journal in", j->dir);
            return -1;
        }
        done += (size_t)w;
    }
    if (fdatasync(j->fd) != 0) {
        io_error(err, "cannot sync the journal in", j->dir);
        return -1;
    }
    return 0;
}

enum hub_err hub_journal_sync(struct hub_journal *j, struct hub_error *err)
{
    if (!j->pend_len)
        return CSPH_ERR_OK;
    if (write_pending(j, err) != 0) {
        /* Nothing written since the last good sync is trusted now, not even
         * after a retry that succeeds: the pending records go again into a
         * fresh file, which supersedes this one from their first batch. */
        j->st.sync_failures++;
        if (j->fd >= 0)
            close(j->fd);
        j->fd = -1;
        struct hub_error again;
        if (write_pending(j, &again) != 0) {
            if (j->fd >= 0)
                close(j->fd);
            j->fd = -1;
            return hub_error_set(err, err ? err->code : CSPH_ERR_IO, "journal",
                                 "%s; written again into a fresh file: %s",
                                 err ? err->message : "the journal's sync failed",
                                 again.message);
        }
        j->st.rewrites++;
    }
    struct jfile *f = &j->files[j->nfiles - 1];
    f->last = j->pend_last;
    f->bytes += j->pend_len;
    j->off += j->pend_len;
    j->synced = j->pend_last;
    j->empty = 0;
    j->st.syncs++;
    j->st.last_batch = j->synced;
    j->pend_len = 0;
    j->st.pending_bytes = 0;
    return CSPH_ERR_OK;
}

void hub_journal_discard(struct hub_journal *j)
{
    j->pend_len = 0;
    j->st.pending_bytes = 0;
    /* The numbers may come again: in a fresh file, never after records a
     * failed write may have half left in this one. */
    if (j->fd >= 0) {
        close(j->fd);
        j->fd = -1;
    }
}

enum hub_err hub_journal_checkpoint(struct hub_journal *j, uint64_t durable,
                                    struct hub_error *err)
{
    if (j->flags & HUB_JOURNAL_READONLY)
        return CSPH_ERR_OK;
    int changed = 0;
    for (size_t i = 0; i < j->nfiles;) {
        struct jfile *f = &j->files[i];
        int current = j->fd >= 0 && i == j->nfiles - 1;
        /* A file with no record (made, then its records discarded) holds
         * nothing either. */
        if (current || (f->last && f->last > durable)) {
            i++;
            continue;
        }
        char path[4200], to[4200];
        path_of(j, f->name, path, sizeof path);
        if (j->nspares < MAX_SPARES) {
            char spare[64];
            snprintf(spare, sizeof spare, "%.16s.spare", f->name);
            path_of(j, spare, to, sizeof to);
            if (rename(path, to) != 0)
                return io_error(err, "cannot recycle the journal file", path);
            snprintf(j->spares[j->nspares++], 64, "%s", spare);
        } else if (unlink(path) != 0 && errno != ENOENT) {
            return io_error(err, "cannot remove the journal file", path);
        }
        memmove(f, f + 1, (j->nfiles - i - 1) * sizeof *f);
        j->nfiles--;
        changed = 1;
    }
    free(j->found); /* what was found at open is in LMDB now, or not needed */
    j->found = NULL;
    j->found_len = 0;
    j->st.files = j->nfiles;
    if (changed && sync_dir(j->dir) != 0)
        return io_error(err, "cannot sync the journal's directory", j->dir);
    return CSPH_ERR_OK;
}

void hub_journal_stats(const struct hub_journal *j, struct hub_journal_stats *st)
{
    *st = j->st;
    st->bytes = 0;
    for (size_t i = 0; i < j->nfiles; i++)
        st->bytes += j->files[i].bytes;
}
