/* storeindex.c: the index part of the store (storepriv.h). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bekey.h"
#include "log.h"
#include "refbuf.h"
#include "storepriv.h"

/* Damage to the index seen at any time (MDB_CORRUPTED or MDB_PAGE_NOTFOUND
 * from LMDB, or a SIGSEGV or SIGBUS, which a torn page of index.mdb's map
 * can cause) is written at once to DIR/index.rebuild: the next start
 * rebuilds the index from the log instead of trusting it into the same
 * crash, and a clean stop does not mark it clean. Process-wide, as signal
 * handlers are; one store is open for writing per process (its lock). */
static char damage_path[4200];
static volatile sig_atomic_t damage_seen;
#if !defined(__SANITIZE_ADDRESS__) /* AddressSanitizer reports these itself */
static struct sigaction old_segv, old_bus;
#endif

/* Only async-signal-safe calls: the signal handler comes here. */
void hub_store_damage_mark(const char *why, size_t len)
{
    damage_seen = 1;
    if (!damage_path[0])
        return;
    int fd = open(damage_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd >= 0) {
        ssize_t n = write(fd, why, len);
        (void)n;
        fsync(fd);
        close(fd);
    }
}

#if !defined(__SANITIZE_ADDRESS__)
static void on_fatal_signal(int sig)
{
    static const char segv[] = "SIGSEGV\n", bus[] = "SIGBUS\n";
    if (sig == SIGBUS)
        hub_store_damage_mark(bus, sizeof bus - 1);
    else
        hub_store_damage_mark(segv, sizeof segv - 1);
    raise(sig); /* SA_RESETHAND: the default action (a core), as without us */
}
#endif

void hub_store_damage_watch(const char *dir)
{
    snprintf(damage_path, sizeof damage_path, "%s/index.rebuild", dir);
    damage_seen = 0;
#if !defined(__SANITIZE_ADDRESS__) /* AddressSanitizer reports these itself */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sa.sa_flags = SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
#endif
}

void hub_store_damage_unwatch(void)
{
#if !defined(__SANITIZE_ADDRESS__)
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGBUS, &old_bus, NULL);
#endif
    damage_path[0] = 0;
}

int hub_store_index_damaged(int rc)
{
    if (rc != MDB_CORRUPTED && rc != MDB_PAGE_NOTFOUND)
        return 0;
    if (!damage_seen)
        LOG_ERROR("store", "LMDB reports damage (%s): the index is rebuilt from the log (now, "
                  "or at the next start); if it repeats, run csphubd --verify on the log",
                  mdb_strerror(rc));
    char why[96];
    int n = snprintf(why, sizeof why, "%s\n", mdb_strerror(rc));
    hub_store_damage_mark(why, n > 0 && (size_t)n < sizeof why ? (size_t)n : 0);
    return 1;
}

static void read_boot_id(char out[BOOT_ID_LEN])
{
    memset(out, 0, BOOT_ID_LEN);
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f)
        return;
    if (fgets(out, BOOT_ID_LEN, f))
        out[strcspn(out, "\n")] = 0;
    fclose(f);
}

static int imeta_put(struct hub_store *s, MDB_txn *txn, uint64_t applied)
{
    struct imeta m = {INDEX_VERSION, 0, applied};
    MDB_val k = {5, (void *)"state"}, v = {sizeof m, &m};
    return mdb_put(txn, s->imeta, &k, &v, 0);
}

/* DIR/index.state: "boot BOOT_ID\nclean 0|1\nunclean N\n", replaced
 * atomically and synced (file and directory). unclean counts the starts in
 * a row that followed a stop that was not clean. Returns 0, or -1 with
 * errno. */
int hub_store_state_write(struct hub_store *s, int clean)
{
    char path[4200], tmp[4210];
    snprintf(path, sizeof path, "%s/index.state", s->dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    char text[128];
    int n = snprintf(text, sizeof text, "boot %s\nclean %d\nunclean %u\n",
                     s->boot[0] ? s->boot : "-", clean, s->unclean_starts);
    if (write(fd, text, (size_t)n) != n || fsync(fd) != 0) {
        close(fd);
        return -1;
    }
    close(fd);
    if (rename(tmp, path) != 0)
        return -1;
    int dfd = open(s->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
}

/* Whether index.mdb can be trusted: NULL, or why not. Reads two small
 * files, whatever the index's size: a start at 10 million events pays no
 * checksum. */
static const char *state_doubt(struct hub_store *s)
{
    char path[4200], boot[128] = "", line[128];
    int clean = -1;
    unsigned unclean = 0;
    snprintf(path, sizeof path, "%s/index.rebuild", s->dir);
    FILE *f = fopen(path, "r");
    if (f) {
        static char why[200];
        char mark[96] = "";
        if (!fgets(mark, sizeof mark, f))
            mark[0] = 0;
        fclose(f);
        mark[strcspn(mark, "\n")] = 0;
        snprintf(why, sizeof why, "the last run found it damaged (%s)",
                 mark[0] ? mark : "no detail");
        return why;
    }
    snprintf(path, sizeof path, "%s/index.state", s->dir);
    f = fopen(path, "r");
    if (!f)
        return "it was never marked usable (a hub of an earlier version, or a first start)";
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "boot ", 5)) {
            snprintf(boot, sizeof boot, "%s", line + 5);
            boot[strcspn(boot, "\n")] = 0;
        } else if (!strncmp(line, "clean ", 6)) {
            clean = atoi(line + 6);
        } else if (!strncmp(line, "unclean ", 8)) {
            unclean = (unsigned)strtoul(line + 8, NULL, 10);
        }
    }
    fclose(f);
    if (clean == 1)
        return NULL;
    if (clean != 0)
        return "its state file is unreadable";
    if (!s->boot[0] || strcmp(boot, s->boot) != 0)
        return "the machine restarted while the hub was running (its last pages were not on "
               "disk)";
    /* The hub stopped, the machine did not: its page cache kept every page.
     * Trusted once; a second start in a row without a clean stop between
     * (a crash loop, perhaps on a damaged index) rebuilds it. */
    if (unclean >= 1)
        return "the hub stopped without a clean stop twice in a row";
    s->unclean_starts = unclean + 1;
    return NULL;
}

/* Empty the index: every named database of index.mdb goes. */
static int index_clear(MDB_txn *txn)
{
    MDB_dbi main, dbi;
    MDB_cursor *c;
    MDB_val k, v;
    char name[256];
    int rc = mdb_dbi_open(txn, NULL, 0, &main);
    if (rc || (rc = mdb_cursor_open(txn, main, &c)))
        return rc;
    while ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)) == 0) {
        if (k.mv_size >= sizeof name) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(name, k.mv_data, k.mv_size);
        name[k.mv_size] = 0;
        if ((rc = mdb_dbi_open(txn, name, 0, &dbi)) || (rc = mdb_drop(txn, dbi, 1)))
            break;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

/* LMDB results that say index.mdb's pages are not what LMDB wrote. */
static int index_unreadable(int rc)
{
    return rc == MDB_CORRUPTED || rc == MDB_PAGE_NOTFOUND || rc == MDB_INVALID ||
           rc == MDB_VERSION_MISMATCH || rc == MDB_PANIC;
}

/* How index.mdb is written. Through its map (MDB_WRITEMAP) a commit
 * copies no page and calls no write(): the cheaper way while the pages the
 * index rewrites stay dirty in the page cache between commits. Once the
 * index is larger than the dirty memory the kernel lets build up before it
 * starts writing back (vm.dirty_background_*), it cleans the pages under
 * the hub, and every copy-on-write into a cleaned page is a write fault:
 * measured, 51 -> 119 us of hub CPU an event against 18 -> 27 with the
 * pages written by LMDB's pwrite(). So the index is written through its map
 * while its pages in use are below half that amount, and by pwrite() once
 * they pass it (the environment is reopened at the next settle). */
static uint64_t read_u64_file(const char *path)
{
    unsigned long long v = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%llu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v;
}

static uint64_t index_writemap_default(void)
{
    uint64_t bytes = read_u64_file("/proc/sys/vm/dirty_background_bytes");
    if (!bytes) {
        uint64_t ratio = read_u64_file("/proc/sys/vm/dirty_background_ratio");
        unsigned long long kb = 0;
        char line[256];
        FILE *f = fopen("/proc/meminfo", "r");
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
                break;
        if (f)
            fclose(f);
        bytes = (uint64_t)kb * 1024 / 100 * (ratio ? ratio : 10);
    }
    return bytes > (128ull << 20) ? bytes / 2 : (64ull << 20);
}

/* Where LMDB mapped index.mdb (its API does not say, unless the map is
 * fixed): the mapping of that file at offset 0 in /proc/self/maps. NULL
 * when it cannot be told (index_room then leaves the pages to fault). */
static char *index_map_base(struct hub_store *s)
{
    int fd;
    struct stat st;
    if (mdb_env_get_fd(s->ienv, &fd) || fstat(fd, &st))
        return NULL;
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return NULL;
    char line[4400];
    char *base = NULL;
    while (!base && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, off, ino;
        unsigned maj, mnr;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %lx %x:%x %lu", &lo, &hi, perms, &off, &maj, &mnr,
                   &ino) == 7 &&
            off == 0 && ino == (unsigned long)st.st_ino &&
            makedev(maj, mnr) == st.st_dev && hi - lo >= s->imap_size)
            base = (char *)lo;
    }
    fclose(f);
    return base;
}

static int index_env_open(struct hub_store *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/index.mdb", s->dir);
    int rc;
    if ((rc = mdb_env_create(&s->ienv)) || (rc = mdb_env_set_maxdbs(s->ienv, 64)) ||
        (rc = mdb_env_set_mapsize(s->ienv, (size_t)s->imap_size)) ||
        (rc = mdb_env_open(s->ienv, path,
                           MDB_NOSUBDIR | MDB_NOSYNC | MDB_NOTLS | MDB_NORDAHEAD |
                               (s->iwritemap ? MDB_WRITEMAP : 0),
                           0600))) {
        if (s->ienv)
            mdb_env_close(s->ienv);
        s->ienv = NULL;
    }
    s->imap_base = rc == 0 && s->iwritemap ? index_map_base(s) : NULL;
    if (rc == 0)
        hub_idxwork_install(s->ienv, &s->idxwork);
    return rc;
}

static uint64_t index_used(const struct hub_store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    if (!s->ienv || mdb_env_info(s->ienv, &info) || mdb_env_stat(s->ienv, &st))
        return 0; /* no environment open (a rebuild in place): nothing used */
    return ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
}

/* Between transactions (none open, none held): reopen the environment
 * written the other way. Handles of named databases belong to the
 * environment, so they are opened again. */
static int index_set_writemap(struct hub_store *s, int on)
{
    MDB_txn *txn;
    int rc;
    mdb_env_close(s->ienv);
    s->ienv = NULL;
    s->iwritemap = on;
    s->index_reserved = s->index_populated = 0;
    if ((rc = index_env_open(s)) || (rc = mdb_txn_begin(s->ienv, NULL, 0, &txn)))
        return rc;
    if ((rc = mdb_dbi_open(txn, "index.meta", 0, &s->imeta)) ||
        (rc = mdb_dbi_open(txn, "dedup", 0, &s->dedup)) ||
        (rc = mdb_dbi_open(txn, "people", 0, &s->people))) {
        mdb_txn_abort(txn);
        return rc;
    }
    return mdb_txn_commit(txn);
}

void hub_store_index_writemap_max(struct hub_store *s, uint64_t bytes)
{
    s->iwritemap_max = bytes;
}

int hub_store_index_writemap(const struct hub_store *s) { return s->iwritemap; }

/* Open DIR/index.mdb. It is committed without a sync, so after a crash of
 * the machine (not just of the hub: the page cache survives that) it may be
 * torn. index.state says whether it can be trusted; when not, the file is
 * removed before LMDB reads a page of it, and the index is rebuilt from
 * the log (hub_ingest_catch_up). One the log cannot have produced (ahead
 * of it, another version) is emptied the same way. */
enum hub_err hub_store_index_setup(struct hub_store *s, uint64_t map_size, const char *force,
                               struct hub_error *err)
{
    char path[4200], lock[4220], mark[4220];
    int rc;
    MDB_txn *txn = NULL;
    snprintf(path, sizeof path, "%s/index.mdb", s->dir);
    snprintf(lock, sizeof lock, "%s-lock", path);
    snprintf(mark, sizeof mark, "%s/index.rebuild", s->dir);
    read_boot_id(s->boot);
    const char *why = force ? force : state_doubt(s);
    if (why) {
        if (s->last_seq)
            LOG_WARN("store", "rebuilding the index from the log (%llu events): %s",
                     (unsigned long long)s->last_seq, why);
        if ((unlink(path) != 0 && errno != ENOENT) || (unlink(lock) != 0 && errno != ENOENT))
            return hub_error_set(err, hub_store_sys_err(errno), "data_dir", "cannot remove %s: %s", path,
                                 strerror(errno));
        s->unclean_starts = 0;
        /* The damage mark goes with the file it was about. */
        if (unlink(mark) != 0 && errno != ENOENT)
            return hub_error_set(err, hub_store_sys_err(errno), "data_dir", "cannot remove %s: %s", mark,
                                 strerror(errno));
        damage_seen = 0;
    }
    /* From here the index is in use: say so on disk before writing it. */
    if (hub_store_state_write(s, 0) != 0)
        return hub_error_set(err, hub_store_sys_err(errno), "data_dir", "cannot write %s/index.state: %s",
                             s->dir, strerror(errno));
    struct stat st;
    s->imap_size = map_size;
    if (!s->iwritemap_max)
        s->iwritemap_max = index_writemap_default();
    s->iwritemap = stat(path, &st) != 0 || (uint64_t)st.st_size * 3 / 4 < s->iwritemap_max;
    rc = index_env_open(s);
    if (rc && !force && index_unreadable(rc))
        goto damaged;
    if (rc)
        return hub_error_set(err, hub_store_sys_err(rc), "data_dir",
                             "cannot open the index %s: %s (it is rebuilt from the log when "
                             "removed)",
                             path, mdb_strerror(rc));
    if ((rc = mdb_txn_begin(s->ienv, NULL, 0, &txn)) ||
        (rc = mdb_dbi_open(txn, "index.meta", MDB_CREATE, &s->imeta)))
        goto lmdb;
    MDB_val k = {5, (void *)"state"}, v;
    struct imeta m = {0};
    rc = mdb_get(txn, s->imeta, &k, &v);
    if (rc && rc != MDB_NOTFOUND)
        goto lmdb;
    if (rc == 0 && v.mv_size == sizeof m)
        memcpy(&m, v.mv_data, sizeof m);
    uint64_t applied = m.applied;
    if (m.version != INDEX_VERSION || m.applied > s->last_seq) {
        if (m.version == INDEX_VERSION || (!why && s->last_seq))
            LOG_WARN("store", "rebuilding the index from the log (%llu events): %s",
                     (unsigned long long)s->last_seq,
                     m.version == INDEX_VERSION
                         ? "it is ahead of the log (was the log restored from a backup?)"
                         : "it is missing or from another version");
        if ((rc = index_clear(txn)) ||
            (rc = mdb_dbi_open(txn, "index.meta", MDB_CREATE, &s->imeta)))
            goto lmdb;
        applied = 0;
    }
    if ((rc = mdb_dbi_open(txn, "dedup", MDB_CREATE, &s->dedup)) ||
        (rc = mdb_dbi_open(txn, "people", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED, &s->people)) ||
        (rc = imeta_put(s, txn, applied)))
        goto lmdb;
    rc = mdb_txn_commit(txn);
    txn = NULL;
    if (rc)
        goto lmdb;
    s->applied = applied;
    return CSPH_ERR_OK;
lmdb:
    if (txn)
        mdb_txn_abort(txn);
    if (!force && index_unreadable(rc))
        goto damaged;
    return hub_store_lmdb_fail(err, rc, "opening the index");
damaged:
    /* A derived file that fails to open is rebuilt from the log, never
     * trusted into a crash. */
    mdb_env_close(s->ienv);
    s->ienv = NULL;
    {
        static char unreadable[120];
        snprintf(unreadable, sizeof unreadable, "it cannot be read (%s)", mdb_strerror(rc));
        return hub_store_index_setup(s, map_size, unreadable, err);
    }
}
static void index_failed(struct hub_store *s, int rc);
static enum hub_err index_reset(struct hub_store *s, struct hub_error *err);

/* index.mdb is written through its map (MDB_WRITEMAP: no copy of each
 * dirty page, no write() of it at commit; index bytes written and the
 * rules' cost per event about halved). LMDB makes the file as long as the
 * map, sparse, and a store into a hole on a full disk would kill the hub
 * with SIGBUS: so the blocks a transaction may take are allocated before it
 * begins, a quarter of the used size (at least 64 MiB) ahead. */
#define INDEX_ROOM_MIN (64ull << 20)
#ifdef MADV_POPULATE_WRITE
#define CSPH_MADV_POPULATE_WRITE MADV_POPULATE_WRITE
#else
#define CSPH_MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels answer EINVAL */
#endif
/* Map the room's pages ahead of the stores into them: each first store
 * into a page of the map is otherwise a page fault, and on a
 * paravirtualised machine a fault costs 10-20 us (15% of a rebuild's time
 * was those faults). A step at a time, from the pages in use on: the
 * whole room in one call stalled the loop for 170 to 460 ms once the index
 * passed 200 MB (3 ms a MiB here), every client's request waiting behind
 * it. A step is 2 MiB every batch, or what the index grew since the last
 * step when more: growth is seen as committed (mdb_env_info), so that is
 * at a transaction's begin after one of thousands of events (a rebuild's),
 * and the pages stay ahead of the stores. Best effort: a
 * kernel without MADV_POPULATE_WRITE (before 5.14) faults them in one at
 * a time. */
#define INDEX_POPULATE_STEP (2ull << 20)
static void index_populate(struct hub_store *s, uint64_t used)
{
    uint64_t grew = used > s->index_used_seen ? used - s->index_used_seen : 0;
    s->index_used_seen = used;
    if (!s->imap_base)
        return;
    size_t psz = (size_t)sysconf(_SC_PAGESIZE);
    uint64_t from = s->index_populated > used ? s->index_populated : used;
    from -= from % psz;
    uint64_t step = grew > INDEX_POPULATE_STEP ? grew : INDEX_POPULATE_STEP;
    uint64_t to = from + step < s->index_reserved ? from + step : s->index_reserved;
    if (to > from)
        (void)madvise(s->imap_base + from, (size_t)(to - from), CSPH_MADV_POPULATE_WRITE);
    if (to > s->index_populated)
        s->index_populated = to;
}

void hub_store_index_room(const struct hub_store *s, uint64_t *reserved, uint64_t *populated)
{
    *reserved = s->index_reserved;
    *populated = s->index_populated;
}

static int index_room(struct hub_store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    int fd, rc;
    if ((rc = mdb_env_info(s->ienv, &info)) || (rc = mdb_env_stat(s->ienv, &st)) ||
        (rc = mdb_env_get_fd(s->ienv, &fd)))
        return rc;
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    uint64_t ahead = used / 4 > INDEX_ROOM_MIN ? used / 4 : INDEX_ROOM_MIN;
    uint64_t want = used + ahead > info.me_mapsize ? info.me_mapsize : used + ahead;
    if (used + ahead / 2 > s->index_reserved && want > s->index_reserved) {
        if ((rc = posix_fallocate(fd, 0, (off_t)want)))
            return rc;
        s->index_reserved = want;
    }
    index_populate(s, used);
    return 0;
}

enum hub_err hub_store_index_begin(struct hub_store *s, struct hub_error *err)
{
    /* The next batch goes on in the held transaction, up to the limits
     * (callers other than the server, say a re-derivation, never settle). */
    hub_store_index_settle_due(s);
    if (s->itxn && s->index_batches) {
        if (s->iwritemap) /* a step of pages ahead every batch, not the room at once */
            index_populate(s, index_used(s));
        return CSPH_ERR_OK;
    }
    if (damage_seen && !s->index_rebuild_due && !s->index_rebuilding) {
        if (s->index_rebuilds) {
            LOG_ERROR("store", "damage reported again after the index was rebuilt: the log "
                      "itself may be damaged; run csphubd --verify --data %s", s->dir);
            damage_seen = 0; /* said once: the next report says it again, not every batch */
        } else {
            s->index_rebuild_due = 1;
        }
        if (!s->index_why[0])
            snprintf(s->index_why, sizeof s->index_why, "LMDB reported damage");
    }
    if (s->index_rebuild_due) {
        /* Emptied now: no batch may run against it until it is level again
         * (a resend would not be found a duplicate). */
        enum hub_err e = index_reset(s, err);
        if (e)
            return e;
        return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                             "the hub is rebuilding its index from the log (0 of %llu events); "
                             "nothing was done; retry in a few seconds",
                             (unsigned long long)s->last_seq);
    }
    int rc = 0;
    uint64_t used;
    if (!s->itxn && ((used = index_used(s)) > s->iwritemap_max) == s->iwritemap) {
        int on = !s->iwritemap;
        if ((rc = index_set_writemap(s, on))) {
            /* The environment is gone: open it afresh and rebuild it. */
            index_failed(s, rc);
            s->index_rebuild_due = 1;
            return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                                 "the hub's index cannot be reopened (%s); nothing was done; "
                                 "the hub is repairing it from the log: retry shortly",
                                 mdb_strerror(rc));
        }
        LOG_INFO("store", "the index holds %llu MiB, %s the %llu MiB the page cache keeps "
                 "dirty here: written %s from now on", (unsigned long long)(used >> 20),
                 on ? "within" : "more than", (unsigned long long)(s->iwritemap_max >> 20),
                 on ? "through its map" : "with write()");
    }
    if (s->iwritemap)
        rc = index_room(s);
    if (rc) {
        if (!s->index_failing && !s->index_rebuilding)
            LOG_ERROR("store", "cannot allocate room for the index in %s: %s; free space on "
                      "that disk: writes are answered busy until then (logged once)",
                      s->dir, strerror(rc));
        s->index_failures++;
        s->index_failing = 1;
        snprintf(s->index_why, sizeof s->index_why, "allocating room: %s", strerror(rc));
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "the disk holding the hub's index is "
                             "full (%s): try again once space is freed", strerror(rc));
    }
    rc = mdb_txn_begin(s->ienv, NULL, 0, &s->itxn);
    if (rc == 0) {
        /* LMDB swallows damage it meets while refreshing a named
         * database's record from the main tree (the transaction is only
         * flagged, and every put then answers MDB_BAD_TXN): reading
         * index.meta first meets it here, where it can be named. */
        MDB_val k = {5, (void *)"state"}, v;
        int grc = mdb_get(s->itxn, s->imeta, &k, &v);
        if (grc && grc != MDB_NOTFOUND) {
            mdb_txn_abort(s->itxn);
            hub_idxwork_end(&s->idxwork, 1);
            rc = grc == MDB_BAD_TXN ? MDB_CORRUPTED : grc;
        }
    }
    if (rc) {
        s->itxn = NULL;
        index_failed(s, rc);
        return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                             "the hub's index cannot be written (%s); nothing was done; the hub "
                             "is repairing it from the log: retry shortly",
                             mdb_strerror(rc));
    }
    s->index_behind = s->applied < s->last_seq;
    return CSPH_ERR_OK;
}

/* Commit the index transaction, recording that it holds the log up to
 * applied. After the log's own commit, a failure here leaves the index
 * behind the log, at its last commit: hub_core_batch_begin brings it level
 * from the log before the next write (a retry of the same work), and an
 * environment LMDB will no longer use is rebuilt in place. */
enum hub_err hub_store_index_commit(struct hub_store *s, uint64_t applied,
                                    struct hub_error *err)
{
    int rc = hub_idxwork_flush(&s->idxwork, s->itxn);
    if (rc == 0)
        rc = hub_refbuf_write(s->refs, s->itxn, s->people);
    if (rc == 0)
        rc = hub_refbuf_write(s->dedups, s->itxn, s->dedup);
    if (rc == 0)
        rc = imeta_put(s, s->itxn, applied);
    if (rc)
        mdb_txn_abort(s->itxn);
    else
        rc = mdb_txn_commit(s->itxn);
    hub_idxwork_end(&s->idxwork, rc != 0);
    s->itxn = NULL;
    s->index_batches = 0;
    s->index_events = 0;
    if (rc) {
        index_failed(s, rc);
        return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                             "the hub's index could not be written (%s); the log holds every "
                             "acknowledged event and the hub repairs the index from it: retry "
                             "shortly",
                             mdb_strerror(rc));
    }
    s->applied = applied;
    if ((s->index_failing || s->index_rebuilding) && applied >= s->last_seq) {
        LOG_WARN("store", "the index is written again and level with the log (seq %llu): "
                 "healed after %s; writes are accepted again",
                 (unsigned long long)applied,
                 s->index_rebuilding ? "a rebuild from the log" : "a failed commit");
        s->index_failing = s->index_rebuilding = 0;
        s->index_why[0] = 0;
    }
    return CSPH_ERR_OK;
}

/* An index transaction failed to begin or commit: say so once, and when
 * LMDB will use the environment no more (MDB_PANIC) or reports damage,
 * have it rebuilt in place from the log at the next begin. */
static void index_failed(struct hub_store *s, int rc)
{
    s->index_failures++;
    int rebuild = rc == MDB_PANIC || hub_store_index_damaged(rc) || !s->ienv;
    if (!rebuild) {
        MDB_txn *probe;
        if (mdb_txn_begin(s->ienv, NULL, MDB_RDONLY, &probe) == 0)
            mdb_txn_abort(probe);
        else
            rebuild = 1;
    }
    if (!s->index_failing && !s->index_rebuilding)
        LOG_ERROR("store", "the index (%s/index.mdb) could not be written: %s. Every "
                  "acknowledged event is in the log; writes are answered busy while the hub %s "
                  "from the log. If this repeats, check that disk (space, errors in the kernel "
                  "log).",
                  s->dir, mdb_strerror(rc),
                  rebuild ? "rebuilds the index" : "brings the index level");
    snprintf(s->index_why, sizeof s->index_why, "%s", mdb_strerror(rc));
    s->index_failing = 1;
    if (rebuild)
        s->index_rebuild_due = 1;
}

/* Rebuild the index in place: close its environment (no transaction of it
 * is open: itxn is the only write transaction and reads close theirs in
 * the call), remove the file and open an empty one. hub_ingest_heal then
 * fills it from the log a step at a time; writes are busy until it is
 * level. */
static enum hub_err index_reset(struct hub_store *s, struct hub_error *err)
{
    if (s->itxn)
        mdb_txn_abort(s->itxn);
    hub_idxwork_end(&s->idxwork, 1);
    s->itxn = NULL;
    hub_refbuf_clear(s->refs);
    hub_refbuf_clear(s->dedups);
    s->index_batches = 0;
    s->index_events = 0;
    if (s->ienv)
        mdb_env_close(s->ienv);
    s->ienv = NULL;
    s->index_reserved = s->index_populated = 0;
    s->applied = 0;
    enum hub_err e = hub_store_index_setup(s, s->map_size, s->index_why[0] ? s->index_why : "it is damaged",
                                err);
    if (e) {
        if (s->ienv)
            mdb_env_close(s->ienv);
        s->ienv = NULL;
        LOG_ERROR("store", "cannot recreate the index: %s; retrying at the next write",
                  err->message);
        return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                             "the hub's index is being rebuilt and cannot be recreated yet "
                             "(see the hub's log); nothing was done; retry shortly");
    }
    s->index_rebuild_due = 0;
    s->index_rebuilding = 1;
    s->index_failing = 1;
    s->index_rebuilds++;
    LOG_WARN("store", "rebuilding the index in place from the log (%llu events): writes are "
             "answered busy until it is done, reads go on",
             (unsigned long long)s->last_seq);
    return CSPH_ERR_OK;
}

void hub_store_health(const struct hub_store *s, struct hub_store_health *h)
{
    h->index = s->index_rebuilding || s->index_rebuild_due ? "rebuilding"
               : s->index_failing                          ? "retrying"
                                                           : "ok";
    h->index_why = s->index_why;
    h->index_applied = s->applied;
    h->log_last = s->last_seq;
    h->index_failures = s->index_failures;
    h->index_rebuilds = s->index_rebuilds;
    h->log = s->log_panic ? "reopening" : "ok";
    h->log_reopens = s->log_reopens;
}

int hub_store_needs_heal(const struct hub_store *s)
{
    return s->log_panic || s->index_rebuild_due || (damage_seen && !s->index_rebuilds) ||
           (!s->itxn && s->applied < s->last_seq);
}

void hub_store_index_abort(struct hub_store *s)
{
    /* Batches the transaction held are in the log but no longer in the
     * index: applied < last_seq says so, and hub_core_batch_begin catches up. */
    if (s->itxn)
        mdb_txn_abort(s->itxn);
    hub_idxwork_end(&s->idxwork, 1);
    s->itxn = NULL;
    hub_refbuf_clear(s->refs);
    hub_refbuf_clear(s->dedups);
    s->index_batches = 0;
    s->index_events = 0;
}

/* The idempotency entry of (source, id): key source \0 id, value the seq.
 * One descent: NOOVERWRITE inserts a new key, or leaves the tree untouched
 * and hands the existing entry back in *v. The value is the seq alone (no
 * content hash): a smaller entry is fewer index pages written per commit,
 * and a resend is told from a conflict by the original's bytes. */
int hub_store_dedup_put(struct hub_store *s, const char *source, size_t source_len, const char *id,
                     size_t id_len, uint64_t seq, MDB_val *v)
{
    unsigned char key[64 + 1 + 128];
    memcpy(key, source, source_len);
    key[source_len] = 0;
    memcpy(key + source_len + 1, id, id_len);
    MDB_val k = {source_len + 1 + id_len, key};
    v->mv_size = sizeof seq;
    v->mv_data = &seq;
    return mdb_put(s->itxn, s->dedup, &k, v, MDB_NOOVERWRITE);
}

enum hub_err hub_store_index_add(struct hub_store *s, const struct hub_stored_event *ev,
                                 const char *id, size_t id_len, struct hub_error *err)
{
    if (ev->source_len > 64 || id_len > 128)
        return CSPH_ERR_OK; /* never accepted so: nothing to find by it */
    unsigned char key[64 + 1 + 128];
    memcpy(key, ev->source, ev->source_len);
    key[ev->source_len] = 0;
    memcpy(key + ev->source_len + 1, id, id_len);
    uint64_t seq = ev->seq;
    if (!s->itxn)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "no index transaction to rebuild in");
    if (hub_refbuf_add(s->dedups, key, ev->source_len + 1 + id_len, &seq))
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                             "out of memory rebuilding the idempotency index");
    return CSPH_ERR_OK;
}

/* ---- the person index ---------------------------------------------------- */

/* kind(1) reference -> (occurred(8), seq(8)) as sorted duplicates of fixed
 * size: 16 bytes an entry. (One key an entry, the point in the key, wrote
 * no fewer pages at scale and took 106 bytes an entry against 32.) */
static int ref_key(unsigned char *kb, char kind, const char *ref, size_t len, MDB_val *k)
{
    if (len == 0 || len > CSPH_STORE_REF_MAX)
        return -1;
    kb[0] = (unsigned char)kind;
    memcpy(kb + 1, ref, len);
    k->mv_size = len + 1;
    k->mv_data = kb;
    return 0;
}

enum hub_err hub_store_index_ref(struct hub_store *s, char kind, const char *ref, size_t len,
                                 int64_t occurred_ms, uint64_t seq, struct hub_error *err)
{
    unsigned char kb[CSPH_STORE_REF_MAX + 1], vb[16];
    MDB_val k, v = {16, vb};
    if (!s->itxn || ref_key(kb, kind, ref, len, &k))
        return CSPH_ERR_OK; /* longer than any valid reference: nothing to find by it */
    hub_put_point(vb, occurred_ms, seq);
    (void)v;
    if (hub_refbuf_add(s->refs, k.mv_data, k.mv_size, vb))
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                             "out of memory keeping the person index's entries");
    return CSPH_ERR_OK;
}

enum hub_err hub_store_refs(struct hub_store *s, char kind, const char *ref, size_t len,
                            int64_t from_ms, int64_t to_ms, hub_store_ref_fn fn, void *ctx,
                            uint64_t *applied, struct hub_error *err)
{
    unsigned char kb[CSPH_STORE_REF_MAX + 1], lo[16], hi[16];
    MDB_val k, v = {16, lo};
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_dbi people;
    *applied = 0;
    if (!s->ienv)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "the person index is not open here");
    if (ref_key(kb, kind, ref, len, &k))
        return CSPH_ERR_OK;
    hub_put_point(lo, from_ms, 0);
    hub_put_point(hi, to_ms, UINT64_MAX);
    int rc = mdb_txn_begin(s->ienv, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hub_store_lmdb_fail(err, rc, "reading the person index");
    if ((rc = mdb_dbi_open(txn, "people", 0, &people)) || (rc = mdb_cursor_open(txn, people, &c))) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? CSPH_ERR_OK : hub_store_lmdb_fail(err, rc, "reading the person index");
    }
    MDB_val mk = {5, (void *)"state"}, mv;
    MDB_dbi meta;
    if (mdb_dbi_open(txn, "index.meta", 0, &meta) == 0 && mdb_get(txn, meta, &mk, &mv) == 0 &&
        mv.mv_size == sizeof(struct imeta)) {
        struct imeta m;
        memcpy(&m, mv.mv_data, sizeof m);
        *applied = m.applied;
    }
    for (rc = mdb_cursor_get(c, &k, &v, MDB_GET_BOTH_RANGE); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
        const unsigned char *p = v.mv_data;
        if (v.mv_size != 16 || memcmp(p, hi, 16) > 0)
            break;
        int64_t t;
        uint64_t seq;
        hub_get_point(p, &t, &seq);
        if (fn(ctx, t, seq))
            break;
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return rc && rc != MDB_NOTFOUND ? hub_store_lmdb_fail(err, rc, "reading the person index") : CSPH_ERR_OK;
}

enum hub_err hub_store_drop_ref(struct hub_store *s, char kind, const char *ref, size_t len,
                                struct hub_error *err)
{
    unsigned char kb[CSPH_STORE_REF_MAX + 1];
    MDB_val k;
    if (!s->itxn || ref_key(kb, kind, ref, len, &k))
        return CSPH_ERR_OK;
    hub_refbuf_drop(s->refs, k.mv_data, k.mv_size);
    int rc = mdb_del(s->itxn, s->people, &k, NULL);
    return rc && rc != MDB_NOTFOUND ? hub_store_lmdb_fail(err, rc, "dropping from the person index")
                                    : CSPH_ERR_OK;
}

enum hub_err hub_store_drop_ref_point(struct hub_store *s, char kind, const char *ref, size_t len,
                                      int64_t occurred_ms, uint64_t seq, struct hub_error *err)
{
    unsigned char kb[CSPH_STORE_REF_MAX + 1], vb[16];
    MDB_val k, v = {16, vb};
    if (!s->itxn || ref_key(kb, kind, ref, len, &k))
        return CSPH_ERR_OK;
    hub_put_point(vb, occurred_ms, seq);
    int rc = mdb_del(s->itxn, s->people, &k, &v);
    return rc && rc != MDB_NOTFOUND ? hub_store_lmdb_fail(err, rc, "dropping from the person index")
                                    : CSPH_ERR_OK;
}

void hub_store_index_settle(struct hub_store *s)
{
    struct hub_error ierr;
    if (!s->index_batches || s->in_batch)
        return; /* nothing held, or a batch in hand is in it too */
    /* An index that was behind the log when this transaction began stays
     * marked behind (hub_ingest_catch_up fills the gap; what it meets
     * again counts once). */
    /* A failure is logged there, once, and healed from the log before the
     * next write (hub_core_batch_begin). */
    (void)hub_store_index_commit(s, s->index_behind ? s->applied : s->last_seq, &ierr);
}

/* Written with write(), LMDB keeps each dirty page in memory of its own
 * until the commit (and keeps the buffers after): fewer events a
 * transaction bounds the hub's private memory (measured, some 7 pages an
 * event at 5 million events: 1,000 events held about 28 MiB of them; 500
 * since the ninth session: the 10M run's private memory ended at 78 MiB,
 * bench/README). */
uint64_t hub_store_index_hold_events(const struct hub_store *s)
{
    /* Once the index has outgrown its map, the next begin switches to
     * write(): batches are bounded from now, so that the first transaction
     * written that way is as small as the rest (LMDB keeps, for good, as
     * many page buffers as its largest transaction changed: a batch of
     * 4,000 events at the switch left 42 MiB of them, the 10M scale run). */
    return s->iwritemap && index_used(s) <= s->iwritemap_max ? CSPH_INDEX_HOLD_EVENTS
                                                              : CSPH_INDEX_HOLD_EVENTS_COPIED;
}

int hub_store_index_settle_due(struct hub_store *s)
{
    if (s->index_batches >= CSPH_INDEX_HOLD_BATCHES ||
        s->index_events >= hub_store_index_hold_events(s))
        hub_store_index_settle(s);
    return s->index_batches != 0;
}

int hub_store_damage_seen(void) { return damage_seen != 0; }

/* ---- data protection (hub/erase.h) ---- */

enum hub_err hub_store_batch_refs(struct hub_store *s, char kind, const char *ref, size_t len,
                                  hub_store_ref_fn fn, void *ctx, struct hub_error *err)
{
    unsigned char kb[CSPH_STORE_REF_MAX + 1];
    MDB_val k, v;
    MDB_cursor *c;
    if (!s->itxn)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                             "reading the person index outside a batch");
    if (ref_key(kb, kind, ref, len, &k))
        return CSPH_ERR_OK;
    /* The batch's entries wait in refbuf for the index's commit (refbuf.h):
     * put them in the tree now, in key order as the commit would, so this
     * read finds them (erasure is rare: no cost to the write path). */
    int rc = hub_refbuf_write(s->refs, s->itxn, s->people);
    if (rc == 0)
        rc = mdb_cursor_open(s->itxn, s->people, &c);
    if (rc)
        return hub_store_lmdb_fail(err, rc, "reading the person index");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT_DUP)) {
        int64_t t;
        uint64_t seq;
        if (v.mv_size != 16)
            break;
        hub_get_point(v.mv_data, &t, &seq);
        if (fn(ctx, t, seq))
            break;
    }
    mdb_cursor_close(c);
    return rc && rc != MDB_NOTFOUND ? hub_store_lmdb_fail(err, rc, "reading the person index")
                                    : CSPH_ERR_OK;
}
