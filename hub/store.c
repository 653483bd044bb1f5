#include "store.h"
#include "refbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "bekey.h"
#include "journal.h"
#include "redo.h"
#include "log.h"

#define HASH_LEN 16
/* The log's hash chain comes in two versions, kept in the log itself
 * ("log.meta" / "chain", a little-endian u32; a log written before that
 * record existed is version 1). Both links are 16 bytes, over the previous
 * link (zeros before seq 1), the seq, the stored header (times, type,
 * source) and the event bytes:
 *   1  BLAKE2b-128(prev, seq, times, type and source, BLAKE2b-128(bytes))
 *   2  the first 16 bytes of SHA-256(prev, seq, times, type and source, bytes)
 * Version 2 is one pass, and SHA-256 runs on the CPU's SHA extensions
 * through OpenSSL: 0.27 us an event here against 0.66 us for version 1
 * (libsodium), the largest single cost of an append. New logs get 2; a log
 * keeps the version it was started with, so its links never change. */
#define CHAIN_BLAKE2B 1u
#define CHAIN_SHA256 2u
/* Event value: received_ms(8) occurred_ms(8) chain(16) type_len(1) type
 * source_len(1) source, then the event bytes. */
#define EV_FIXED 32

/* The index environment's own record ("index.meta" / "state"), committed
 * with what it describes. Whether the index can be trusted at all is kept
 * outside it, in DIR/index.state (a small text file written with a sync):
 * the boot id of the machine that ran the hub last, and whether it stopped
 * cleanly. */
#define INDEX_VERSION 6u /* 6: rule state version 4 (5: a person index layout not kept) */
#define BOOT_ID_LEN 40
struct imeta {
    uint32_t version, pad;
    uint64_t applied; /* the index holds every event up to this seq */
};

struct hub_store {
    MDB_env *env;    /* DIR/data.mdb: the log, synced at every commit */
    MDB_dbi events;  /* seq -> stored event */
    MDB_dbi rejects; /* reject id -> stored rejection */
    /* Kept rejections per source, for their bound (hub_store_reject):
     * len(1) source be64(id) -> u32 stored size, and source -> usage. */
    MDB_dbi reject_src, reject_use;
    int has_reject_use;
    uint64_t reject_max, reject_max_bytes; /* 0: no bound */
    MDB_txn *txn;    /* the batch's write transaction, or NULL */
    /* DIR/index.mdb: what is derived from the log (the idempotency index,
     * the rule state), committed after the log's commit without a sync. */
    MDB_env *ienv;
    MDB_dbi dedup;   /* source \0 id -> seq(8) */
    MDB_dbi people;  /* kind(1) reference -> occurred(8) seq(8), sorted duplicates */
    MDB_dbi imeta;
    MDB_txn *itxn;   /* the batch's index transaction, or NULL */
    /* itxn's person-index entries, put in key order at its commit
     * (refbuf.h: readers of the index see only what it committed). */
    struct hub_refbuf *refs;
    /* ... and the idempotency index's, while it is rebuilt from the log
     * (hub_store_index_add: nothing looks them up before that commit). */
    struct hub_refbuf *dedups;
    uint64_t applied;
    uint64_t index_reserved; /* bytes of index.mdb allocated on disk (index_room) */
    /* An index commit failed (retried from the log before the next write),
     * or the index environment is unusable and is being rebuilt in place
     * (see hub_store_health). Logged once per episode. */
    int index_failing, index_rebuild_due, index_rebuilding;
    char index_why[160];
    uint64_t index_failures, index_rebuilds;
    /* data.mdb refused every transaction (MDB_PANIC): reopened between
     * batches by hub_store_reopen_log. */
    int log_panic;
    uint64_t log_reopens;
    uint64_t map_size;
    uint64_t imap_size;
    int iwritemap;            /* index.mdb written through its map (index_writemap) */
    char *imap_base;          /* ... where that map is (NULL: not found) */
    uint64_t iwritemap_max;   /* ... while its pages in use stay below this many bytes */
    /* itxn holds the index of committed batches, not yet committed itself
     * (hub_store_index_settle): how many batches, and their events. */
    uint32_t index_batches;
    uint64_t index_events;
    int index_behind; /* itxn began with the index behind the log */
    unsigned unclean_starts; /* see state_write */
    char boot[BOOT_ID_LEN];
    int lock_fd;
    char dir[4096];
    /* Committed state, and the batch's tentative state. */
    uint64_t last_seq, txn_last_seq;
    uint64_t last_reject, txn_last_reject;
    unsigned char chain[HASH_LEN], txn_chain[HASH_LEN];
    uint32_t chain_version;
    EVP_MD *sha256;    /* fetched once: a lookup per event costs more than the hash */
    EVP_MD_CTX *md;
    /* The journal (journal.h): with it, a batch is acknowledged once its
     * writes (redo.h) are on disk in the journal, and the log's write
     * transaction is held open over many batches, committed (synced) by
     * hub_store_flush. held: batches in txn not yet committed to LMDB;
     * replay_due: the held transaction was lost (an abort, a failed LMDB
     * commit) and its batches are made again from redo before the next use. */
    struct hub_redo *redo;
    struct hub_journal *journal;
    int journal_wanted; /* hub_store_journal_use: the live hub */
    int journaling;     /* the held transaction (or the next batch) goes through it */
    MDB_dbi lmeta;         /* log.meta: the chain's version, the journal's batch */
    uint64_t jbatch;       /* the last batch acknowledged through the journal */
    uint64_t jdurable;     /* the last batch LMDB holds on disk */
    uint32_t held;         /* batches in the held transaction */
    int in_batch, replay_due;
    size_t batch_from;     /* redo length when the batch began */
    uint64_t durable_seq;  /* last seq LMDB holds on disk (readers see up to it) */
    uint64_t journal_flushes, journal_recovered;
};

/* A system error's kind, for the exit status (README.md, operations): a
 * full disk, a directory the hub may not use (a setup to fix), or I/O. */
static enum hub_err sys_err(int e)
{
    return e == ENOSPC || e == EDQUOT ? CSPH_ERR_DISK_FULL
           : e == EACCES || e == EPERM || e == ENOENT || e == ENOTDIR ? CSPH_ERR_CONFIG
                                       : CSPH_ERR_IO;
}

/* A full map is logged once until a batch commits again: every refused
 * batch is counted in stats' busy, not logged. */
static int map_full_logged;

static enum hub_err lmdb_fail(struct hub_error *err, int rc, const char *what)
{
    enum hub_err code = rc == MDB_MAP_FULL ? CSPH_ERR_BUSY : CSPH_ERR_INTERNAL;
    hub_store_index_damaged(rc);
    if (rc == MDB_MAP_FULL) {
        if (!map_full_logged)
            LOG_ERROR("store", "%s: the log is full (LMDB map_size reached); raise "
                      "limits.map_size_mb: writes are answered busy until then (logged once)",
                      what);
        map_full_logged = 1;
    } else
        LOG_ERROR("store", "%s: %s", what, mdb_strerror(rc));
    return hub_error_set(err, code, NULL, "%s: %s", what,
                         rc == MDB_MAP_FULL ? "the hub's storage limit is reached"
                                             : "storage failure (see the hub's log)");
}

/* Damage to the index seen at any time (MDB_CORRUPTED or MDB_PAGE_NOTFOUND
 * from LMDB, or a SIGSEGV or SIGBUS, which a torn page of index.mdb's map
 * can cause) is written at once to DIR/index.rebuild: the next start
 * rebuilds the index from the log instead of trusting it into the same
 * crash, and a clean stop does not mark it clean. Process-wide, as signal
 * handlers are; one store is open for writing per process (its lock). */
static char damage_path[4200];
static volatile sig_atomic_t damage_seen;
static struct sigaction old_segv, old_bus;

/* Only async-signal-safe calls: the signal handler comes here. */
static void damage_mark(const char *why, size_t len)
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

static void on_fatal_signal(int sig)
{
    static const char segv[] = "SIGSEGV\n", bus[] = "SIGBUS\n";
    if (sig == SIGBUS)
        damage_mark(bus, sizeof bus - 1);
    else
        damage_mark(segv, sizeof segv - 1);
    raise(sig); /* SA_RESETHAND: the default action (a core), as without us */
}

static void damage_watch(const char *dir)
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

static void damage_unwatch(void)
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
    damage_mark(why, n > 0 && (size_t)n < sizeof why ? (size_t)n : 0);
    return 1;
}

static void put_i64(unsigned char *p, int64_t v) { memcpy(p, &v, 8); }
static int64_t get_i64(const unsigned char *p) { int64_t v; memcpy(&v, p, 8); return v; }

/* The link of seq after prev (see CHAIN_* above), from the stored value
 * (value_len bytes, its own link not read): each covers the previous link,
 * the seq, the times, type and source and the event bytes, so editing any
 * stored event, or removing one, breaks every link after it. 0, or -1 when
 * OpenSSL fails. */
static int chain_next(struct hub_store *s, const unsigned char prev[HASH_LEN], uint64_t seq,
                      const unsigned char *value, size_t value_len, unsigned char out[HASH_LEN])
{
    const unsigned char *tail = value + EV_FIXED; /* type, source, then the event */
    size_t tail_len = value_len - EV_FIXED;
    if (s->chain_version == CHAIN_BLAKE2B) {
        size_t head_len = 2 + (size_t)tail[0] + tail[1 + tail[0]];
        unsigned char content[HASH_LEN];
        crypto_generichash_state st;
        crypto_generichash(content, HASH_LEN, tail + head_len, tail_len - head_len, NULL, 0);
        crypto_generichash_init(&st, NULL, 0, HASH_LEN);
        crypto_generichash_update(&st, prev, HASH_LEN);
        crypto_generichash_update(&st, (const unsigned char *)&seq, sizeof seq);
        crypto_generichash_update(&st, value, 16);
        crypto_generichash_update(&st, tail, head_len);
        crypto_generichash_update(&st, content, HASH_LEN);
        crypto_generichash_final(&st, out, HASH_LEN);
        return 0;
    }
    unsigned char head[HASH_LEN + 8 + 16], digest[EVP_MAX_MD_SIZE];
    memcpy(head, prev, HASH_LEN);
    for (int i = 0; i < 8; i++)
        head[HASH_LEN + i] = (unsigned char)(seq >> (8 * i));
    memcpy(head + HASH_LEN + 8, value, 16);
    if (!EVP_DigestInit_ex2(s->md, s->sha256, NULL) ||
        !EVP_DigestUpdate(s->md, head, sizeof head) ||
        !EVP_DigestUpdate(s->md, tail, tail_len) || !EVP_DigestFinal_ex(s->md, digest, NULL))
        return -1;
    memcpy(out, digest, HASH_LEN);
    return 0;
}

/* The chain version of the log (opened in txn): recorded, or for a log
 * without the record 1 when it holds events (it predates the record) and
 * 2 when it is new, which is then recorded. */
static int chain_open(struct hub_store *s, MDB_txn *txn, int readonly)
{
    MDB_dbi meta;
    MDB_val k = {5, "chain"}, v;
    int rc = mdb_dbi_open(txn, "log.meta", readonly ? 0 : MDB_CREATE, &meta);
    if (rc == 0) {
        s->lmeta = meta;
        hub_redo_name(s->redo, meta, "log.meta", 0);
        rc = mdb_get(txn, meta, &k, &v);
    }
    if (rc == 0) {
        if (v.mv_size != 4)
            return MDB_CORRUPTED;
        const unsigned char *p = v.mv_data;
        s->chain_version = p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
        return 0;
    }
    if (rc != MDB_NOTFOUND)
        return rc;
    MDB_stat st;
    if ((rc = mdb_stat(txn, s->events, &st)))
        return rc;
    s->chain_version = st.ms_entries ? CHAIN_BLAKE2B : CHAIN_SHA256;
    if (readonly)
        return 0;
    unsigned char rec[4] = {(unsigned char)s->chain_version, 0, 0, 0};
    v.mv_size = sizeof rec;
    v.mv_data = rec;
    return mdb_put(txn, meta, &k, &v, 0);
}

static enum hub_err take_lock(struct hub_store *s, struct hub_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/csphub.lock", s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (s->lock_fd < 0)
        return hub_error_set(err, sys_err(errno), "data_dir", "cannot create %s: %s", path,
                             strerror(errno));
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        char pid[32] = "";
        ssize_t n = pread(s->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = 0;
        pid[strcspn(pid, "\n")] = 0;
        close(s->lock_fd);
        s->lock_fd = -1;
        return hub_error_set(err, CSPH_ERR_LOCKED, "data_dir",
                             "another hub (pid %s) is using the data directory %s; stop it or "
                             "choose another --data",
                             pid[0] ? pid : "unknown", s->dir);
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) != 0 || pwrite(s->lock_fd, pid, (size_t)n, 0) != n)
        LOG_WARN("store", "cannot write the pid into %s: %s", path, strerror(errno));
    return CSPH_ERR_OK;
}

static enum hub_err load_tail(struct hub_store *s, struct hub_error *err)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_fail(err, rc, "reading the log's tail");
    mdb_cursor_open(txn, s->events, &cur);
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0) {
        memcpy(&s->last_seq, k.mv_data, 8);
        memcpy(s->chain, (const unsigned char *)v.mv_data + 16, HASH_LEN);
    }
    mdb_cursor_close(cur);
    mdb_cursor_open(txn, s->rejects, &cur);
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0)
        memcpy(&s->last_reject, k.mv_data, 8);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return CSPH_ERR_OK;
}

/* Databases that version 0.1 kept in data.mdb and that now live in
 * index.mdb (rebuilt there from the log): dropped to free their pages. */
static int drop_legacy(MDB_txn *txn)
{
    static const char *const names[] = {"dedup", "rules.log", "rules.meta", "rules.window",
                                        "rules.prior"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        MDB_dbi dbi;
        int rc = mdb_dbi_open(txn, names[i], 0, &dbi);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc || (rc = mdb_drop(txn, dbi, 1)))
            return rc;
    }
    return 0;
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
static int state_write(struct hub_store *s, int clean)
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
    if ((rc = mdb_env_create(&s->ienv)) || (rc = mdb_env_set_maxdbs(s->ienv, 32)) ||
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
    return rc;
}

static uint64_t index_used(struct hub_store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(s->ienv, &info) || mdb_env_stat(s->ienv, &st))
        return 0;
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
    s->index_reserved = 0;
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
static enum hub_err index_open(struct hub_store *s, uint64_t map_size, const char *force,
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
            return hub_error_set(err, sys_err(errno), "data_dir", "cannot remove %s: %s", path,
                                 strerror(errno));
        s->unclean_starts = 0;
        /* The damage mark goes with the file it was about. */
        if (unlink(mark) != 0 && errno != ENOENT)
            return hub_error_set(err, sys_err(errno), "data_dir", "cannot remove %s: %s", mark,
                                 strerror(errno));
        damage_seen = 0;
    }
    /* From here the index is in use: say so on disk before writing it. */
    if (state_write(s, 0) != 0)
        return hub_error_set(err, sys_err(errno), "data_dir", "cannot write %s/index.state: %s",
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
        return hub_error_set(err, sys_err(rc), "data_dir",
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
    return lmdb_fail(err, rc, "opening the index");
damaged:
    /* A derived file that fails to open is rebuilt from the log, never
     * trusted into a crash. */
    mdb_env_close(s->ienv);
    s->ienv = NULL;
    {
        static char unreadable[120];
        snprintf(unreadable, sizeof unreadable, "it cannot be read (%s)", mdb_strerror(rc));
        return index_open(s, map_size, unreadable, err);
    }
}

static int log_env_open(struct hub_store *s, const char *dir, uint64_t map_size, int readonly);
static int reject_use_open(struct hub_store *s, MDB_txn *txn, int readonly);
static enum hub_err journal_recover(struct hub_store *s, struct hub_error *err);

static enum hub_err store_open(struct hub_store **out, const char *dir, uint64_t map_size,
                               int readonly, struct hub_error *err)
{
    if (sodium_init() < 0)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "libsodium failed to initialise");
    struct hub_store *s = calloc(1, sizeof *s);
    if (!s)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory opening the store");
    s->lock_fd = -1;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    enum hub_err e = CSPH_ERR_OK;
    if (!(s->redo = hub_redo_new()) || !(s->refs = hub_refbuf_new(16, MDB_NODUPDATA)) ||
        !(s->dedups = hub_refbuf_new(8, MDB_NOOVERWRITE))) {
        hub_redo_free(&s->redo);
        hub_refbuf_free(&s->refs);
        free(s);
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory opening the store");
    }
    if (!(s->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL)) || !(s->md = EVP_MD_CTX_new())) {
        e = hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                          "OpenSSL cannot provide SHA-256 (the log's hash chain)");
        goto fail;
    }
    int rc;
    struct stat st;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        e = hub_error_set(err, sys_err(errno), "data_dir",
                          "cannot create the data directory %s: %s", dir, strerror(errno));
        goto fail;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        e = hub_error_set(err, CSPH_ERR_CONFIG, "data_dir",
                          "the data directory %s is not a directory", dir);
        goto fail;
    }
    if (access(dir, R_OK | W_OK | X_OK) != 0) {
        e = hub_error_set(err, CSPH_ERR_CONFIG, "data_dir",
                          "the data directory %s is not readable and writable by this user: %s",
                          dir, strerror(errno));
        goto fail;
    }
    if (!readonly && (e = take_lock(s, err)))
        goto fail;
    if ((rc = log_env_open(s, dir, map_size, readonly))) {
        e = rc == MDB_MAP_FULL
                ? lmdb_fail(err, rc, "opening the log's databases")
                : hub_error_set(err, sys_err(rc), "data_dir",
                                "cannot open the log in %s: %s", dir, mdb_strerror(rc));
        goto fail;
    }
    if (s->chain_version != CHAIN_BLAKE2B && s->chain_version != CHAIN_SHA256) {
        e = hub_error_set(err, CSPH_ERR_IO, "data_dir",
                          "the log in %s has a hash chain of version %u, which this csphubd "
                          "does not know: it was written by a newer hub; run that version",
                          dir, (unsigned)s->chain_version);
        goto fail;
    }
    if (!readonly && (e = journal_recover(s, err)))
        goto fail;
    if ((e = load_tail(s, err)))
        goto fail;
    s->durable_seq = s->last_seq;
    s->map_size = map_size;
    if (!readonly && (e = index_open(s, map_size, NULL, err)))
        goto fail;
    if (!readonly)
        damage_watch(s->dir);
    *out = s;
    return CSPH_ERR_OK;
fail:
    hub_store_close(&s);
    return e;
}

enum hub_err hub_store_open(struct hub_store **out, const char *dir, uint64_t map_size,
                            struct hub_error *err)
{
    return store_open(out, dir, map_size, 0, err);
}

enum hub_err hub_store_open_readonly(struct hub_store **out, const char *dir,
                                     struct hub_error *err)
{
    struct stat st;
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    if (stat(path, &st) != 0)
        return hub_error_set(err, CSPH_ERR_IO, "data_dir", "no hub log in %s (%s)", dir,
                             strerror(errno));
    /* A map well past the file: a running hub grows data.mdb while this
     * reader runs (its journal's batches go in after a reply, at any time),
     * and LMDB refuses a read past the reader's map (MDB_MAP_RESIZED). Only
     * address space: a read-only map takes pages as they are read. */
    uint64_t map = (uint64_t)st.st_size * 2;
    if (map < (256ull << 30))
        map = 256ull << 30;
    return store_open(out, dir, map, 1, err);
}

/* Open data.mdb's environment and its databases into s (env, events,
 * rejects, the chain's version). */
static int log_env_open(struct hub_store *s, const char *dir, uint64_t map_size, int readonly)
{
    int rc;
    MDB_txn *txn;
    if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_maxdbs(s->env, 32)) ||
        (rc = mdb_env_set_mapsize(s->env, (size_t)map_size)) ||
        (rc = mdb_env_set_maxreaders(s->env, 126)))
        return rc;
    /* Default sync mode: every commit is synced (data and meta page), which
     * is the durability promise of PROTOCOL.md 4. NOTLS because read
     * transactions are short and all on the loop thread. */
    if ((rc = mdb_env_open(s->env, dir, MDB_NOTLS | MDB_NORDAHEAD | (readonly ? MDB_RDONLY : 0),
                           0600)))
        return rc;
    unsigned create = readonly ? 0 : MDB_CREATE;
    if ((rc = mdb_txn_begin(s->env, NULL, readonly ? MDB_RDONLY : 0, &txn)))
        return rc;
    if ((rc = mdb_dbi_open(txn, "events", create | MDB_INTEGERKEY, &s->events)) ||
        (rc = mdb_dbi_open(txn, "rejects", create | MDB_INTEGERKEY, &s->rejects)) ||
        (!readonly && (rc = drop_legacy(txn))) || (rc = chain_open(s, txn, readonly)) ||
        (rc = reject_use_open(s, txn, readonly)) || (rc = mdb_txn_commit(txn))) {
        if (rc)
            mdb_txn_abort(txn);
        return rc;
    }
    hub_redo_name(s->redo, s->events, "events", MDB_INTEGERKEY);
    hub_redo_name(s->redo, s->rejects, "rejects", MDB_INTEGERKEY);
    if (s->has_reject_use) {
        hub_redo_name(s->redo, s->reject_use, "rejects.use", 0);
        hub_redo_name(s->redo, s->reject_src, "rejects.src", 0);
    }
    return 0;
}

enum hub_err hub_store_reopen_log(struct hub_store *s, struct hub_error *err)
{
    if (s->in_batch)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "reopening the log inside a batch");
    if (s->txn) { /* held over journaled batches: made again after the reopen */
        mdb_txn_abort(s->txn);
        s->txn = NULL;
        s->replay_due = s->held > 0;
    }
    /* LMDB's caveat: closing any descriptor of a file drops the process's
     * locks on it. So the old environment is closed first (every read
     * transaction of the hub ends inside its call, and the batch's is
     * gone), and no second one is ever open on data.mdb. */
    uint64_t had_seq = s->last_seq, had_reject = s->last_reject;
    unsigned char had_chain[HASH_LEN];
    memcpy(had_chain, s->chain, HASH_LEN);
    mdb_env_close(s->env);
    s->env = NULL;
    int rc = log_env_open(s, s->dir, s->map_size, 0);
    if (rc) {
        if (s->env)
            mdb_env_close(s->env);
        s->env = NULL;
        return hub_error_set(err, CSPH_ERR_IO, "data_dir",
                             "cannot reopen the log in %s: %s; the hub retries", s->dir,
                             mdb_strerror(rc));
    }
    if (s->journaling && s->replay_due) {
        /* The batches the journal acknowledged since the log's last
         * commit: into the reopened log first. */
        enum hub_err fe = hub_store_flush(s, err);
        if (fe)
            return fe;
    }
    s->last_seq = 0;
    memset(s->chain, 0, HASH_LEN);
    enum hub_err e = load_tail(s, err);
    if (e)
        return e;
    /* The tail as the hub knew it: every acknowledged event is there, its
     * link unchanged. A batch answered as failed may be there after all
     * (its header reached the disk before the error): its events then
     * answer a resend as duplicates. */
    if (s->last_seq < had_seq)
        return hub_error_set(err, CSPH_ERR_IO, "data_dir",
                             "the reopened log in %s ends at seq %llu, before the %llu the hub "
                             "acknowledged: stop the hub and run csphubd --verify",
                             s->dir, (unsigned long long)s->last_seq,
                             (unsigned long long)had_seq);
    if (s->last_seq == had_seq && memcmp(s->chain, had_chain, HASH_LEN) != 0)
        return hub_error_set(err, CSPH_ERR_IO, "data_dir",
                             "the reopened log's last link differs from the hub's: stop the "
                             "hub and run csphubd --verify --data %s",
                             s->dir);
    if (s->last_seq > had_seq)
        LOG_WARN("store", "events %llu to %llu of a batch answered as failed are in the log "
                 "after all: a resend of them is answered as a duplicate",
                 (unsigned long long)had_seq + 1, (unsigned long long)s->last_seq);
    if (s->last_reject < had_reject)
        s->last_reject = had_reject; /* never hand a kept rejection's number out twice */
    s->log_panic = 0;
    s->log_reopens++;
    LOG_WARN("store", "the log is open again and its tail checked (seq %llu): writes are "
             "accepted again",
             (unsigned long long)s->last_seq);
    return CSPH_ERR_OK;
}

void hub_store_close(struct hub_store **sp)
{
    if (!sp || !*sp)
        return;
    struct hub_store *s = *sp;
    if (s->in_batch) {
        /* A batch in hand: the index transaction holds it too, so it goes
         * with it; the batches it held are caught up at the next start. */
        hub_store_write_abort(s);
    }
    if (s->journaling) {
        /* What the journal acknowledged, into the log (synced): a clean
         * stop leaves no journal to replay. */
        struct hub_error ferr;
        if (hub_store_flush(s, &ferr))
            LOG_WARN("store", "could not write the journal's last batches into the log at "
                     "stop (%s): they are made again from the journal at the next start",
                     ferr.message);
    }
    hub_store_index_settle(s);
    if (s->itxn)
        mdb_txn_abort(s->itxn);
    if (s->ienv) {
        /* A clean stop: the index on disk, then the mark that says it is;
         * never for an index seen damaged or left unfinished. A sync that
         * fails may have lost pages the page cache no longer holds right
         * (Linux drops a page whose write-back failed): rebuilt next time. */
        int rc = 0;
        if (!damage_seen && !s->index_failing && !s->index_rebuild_due) {
            if ((rc = mdb_env_sync(s->ienv, 1)) != 0) {
                char why[96];
                int n = snprintf(why, sizeof why, "syncing it at stop: %s\n", mdb_strerror(rc));
                LOG_WARN("store", "could not write the index to disk at stop (%s): it is "
                         "rebuilt from the log at the next start",
                         mdb_strerror(rc));
                damage_mark(why, n > 0 && (size_t)n < sizeof why ? (size_t)n : 0);
            } else if ((s->unclean_starts = 0, state_write(s, 1) != 0)) {
                LOG_WARN("store", "could not mark the index as cleanly stopped (%s): it is "
                         "rebuilt at the next start if the machine restarts first",
                         strerror(errno));
            }
        }
        mdb_env_close(s->ienv);
    }
    if (s->env)
        mdb_env_close(s->env);
    if (s->lock_fd >= 0) {
        damage_unwatch();
        close(s->lock_fd); /* releases the flock */
    }
    EVP_MD_CTX_free(s->md);
    EVP_MD_free(s->sha256);
    hub_journal_close(&s->journal);
    hub_redo_free(&s->redo);
    hub_refbuf_free(&s->refs);
    hub_refbuf_free(&s->dedups);
    free(s);
    *sp = NULL;
}

uint64_t hub_store_last_seq(const struct hub_store *s) { return s->last_seq; }
uint64_t hub_store_last_reject(const struct hub_store *s) { return s->last_reject; }

uint64_t hub_store_last_seq_in(struct hub_store *s, MDB_txn *txn)
{
    MDB_cursor *cur;
    MDB_val k, v;
    uint64_t seq = 0;
    if (mdb_cursor_open(txn, s->events, &cur))
        return 0;
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
        memcpy(&seq, k.mv_data, 8);
    mdb_cursor_close(cur);
    return seq;
}
const char *hub_store_chain_name(const struct hub_store *s)
{
    return s->chain_version == CHAIN_BLAKE2B ? "BLAKE2b-128, version 1" : "SHA-256, version 2";
}
MDB_env *hub_store_env(struct hub_store *s) { return s->env; }
uint64_t hub_store_next_seq(const struct hub_store *s) { return s->txn_last_seq + 1; }
MDB_txn *hub_store_txn(struct hub_store *s) { return s->txn; }
struct hub_redo *hub_store_redo(struct hub_store *s) { return s->redo; }
MDB_txn *hub_store_index_txn(struct hub_store *s) { return s->itxn; }
uint64_t hub_store_index_applied(const struct hub_store *s) { return s->applied; }

int hub_store_index_open(const struct hub_store *s) { return s->itxn != NULL; }

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
    if (used + ahead / 2 <= s->index_reserved || want <= s->index_reserved)
        return 0;
    if ((rc = posix_fallocate(fd, 0, (off_t)want)))
        return rc;
    /* Map the new room's pages in one call: each first store into a page
     * of the map is otherwise a page fault, and on a paravirtualised
     * machine a fault costs 10-20 us (15% of a rebuild's time was those
     * faults). Best effort: a kernel without MADV_POPULATE_WRITE (before
     * 5.14) faults them in one at a time as before. */
    size_t psz = (size_t)sysconf(_SC_PAGESIZE);
    uint64_t from = s->index_reserved > used ? s->index_reserved : used;
    from -= from % psz;
    if (s->imap_base && want > from)
        (void)madvise(s->imap_base + from, (size_t)(want - from), CSPH_MADV_POPULATE_WRITE);
    s->index_reserved = want;
    return 0;
}

enum hub_err hub_store_index_begin(struct hub_store *s, struct hub_error *err)
{
    /* The next batch goes on in the held transaction, up to the limits
     * (callers other than the server, say a re-derivation, never settle). */
    hub_store_index_settle_due(s);
    if (s->itxn && s->index_batches)
        return CSPH_ERR_OK;
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
    int rc = hub_refbuf_write(s->refs, s->itxn, s->people);
    if (rc == 0)
        rc = hub_refbuf_write(s->dedups, s->itxn, s->dedup);
    if (rc == 0)
        rc = imeta_put(s, s->itxn, applied);
    if (rc)
        mdb_txn_abort(s->itxn);
    else
        rc = mdb_txn_commit(s->itxn);
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
    s->itxn = NULL;
    hub_refbuf_clear(s->refs);
    hub_refbuf_clear(s->dedups);
    s->index_batches = 0;
    s->index_events = 0;
    if (s->ienv)
        mdb_env_close(s->ienv);
    s->ienv = NULL;
    s->index_reserved = 0;
    s->applied = 0;
    enum hub_err e = index_open(s, s->map_size, s->index_why[0] ? s->index_why : "it is damaged",
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
    s->itxn = NULL;
    hub_refbuf_clear(s->refs);
    hub_refbuf_clear(s->dedups);
    s->index_batches = 0;
    s->index_events = 0;
}

/* After a failed commit of the log: whether LMDB will still use data.mdb.
 * An EIO on its meta page (MDB_FATAL_ERROR inside LMDB) makes it answer
 * MDB_PANIC to every later transaction of the environment; only closing
 * and opening it again heals that (hub_store_reopen_log). */
static void log_check(struct hub_store *s, int rc)
{
    MDB_txn *probe;
    int prc = rc == MDB_PANIC ? MDB_PANIC : mdb_txn_begin(s->env, NULL, MDB_RDONLY, &probe);
    if (prc == 0) {
        mdb_txn_abort(probe);
        return;
    }
    if (!s->log_panic)
        LOG_ERROR("store", "the log (%s/data.mdb) failed a write of its header (%s) and LMDB "
                  "refuses it until it is reopened: the hub reopens it and checks its tail; "
                  "writes are answered busy meanwhile",
                  s->dir, mdb_strerror(prc));
    s->log_panic = 1;
}

int hub_store_log_failed(const struct hub_store *s) { return s->log_panic; }

/* ---- the journal --------------------------------------------------------- */

/* How big a journal file is: the first ones small (a hub that takes a few
 * events writes little), doubling up to this. */
#define JOURNAL_FILE_MAX (64ull << 20)
/* The held transaction is committed to LMDB (hub_store_flush_due) after so
 * many batches or so many bytes of their writes, whichever comes first:
 * the journal then holds at most that much, which recovery makes again in
 * well under a second. */
#define JOURNAL_HOLD_BATCHES 256
#define JOURNAL_HOLD_BYTES (8u << 20)

/* The held batches, made again from their writes in a new transaction
 * (after an abort or a failed LMDB commit lost the held one). */
static enum hub_err held_remake(struct hub_store *s, struct hub_error *err)
{
    int rc = mdb_txn_begin(s->env, NULL, 0, &s->txn);
    if (rc) {
        s->txn = NULL;
        log_check(s, rc);
        return lmdb_fail(err, rc, "starting a write transaction");
    }
    size_t n;
    const void *p = hub_redo_bytes(s->redo, 0, &n);
    enum hub_err e = n ? hub_redo_apply(s->txn, p, n, err) : CSPH_ERR_OK;
    if (e) {
        mdb_txn_abort(s->txn);
        s->txn = NULL;
        return e;
    }
    s->replay_due = 0;
    return CSPH_ERR_OK;
}

/* The batch's writes, with the journal's batch number among them, appended
 * to the journal and synced: the acknowledgement point. The transaction
 * stays open for the next batch. On failure the batch is gone as after an
 * abort (the held batches before it are made again from their writes). */
static enum hub_err journal_commit(struct hub_store *s, struct hub_error *err)
{
    if (hub_redo_len(s->redo) == s->batch_from && !hub_redo_failed(s->redo)) {
        /* A batch that wrote nothing (a start's checks, a backfill with
         * nothing to fill): nothing to journal, no number taken. */
        if (!s->held) {
            mdb_txn_abort(s->txn);
            s->txn = NULL;
        }
        return CSPH_ERR_OK;
    }
    uint64_t batch = s->jbatch + 1;
    MDB_val k = {7, "journal"}, v = {sizeof batch, &batch};
    hub_redo_record(s->redo, 1);
    int rc = hub_redo_put(s->redo, s->txn, s->lmeta, &k, &v, 0);
    hub_redo_record(s->redo, 0);
    enum hub_err e = CSPH_ERR_OK;
    if (rc)
        e = lmdb_fail(err, rc, "numbering the batch for the journal");
    else if (hub_redo_failed(s->redo))
        e = hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                          "recording the batch's writes for the journal failed (%s)",
                          strerror(hub_redo_failed(s->redo)));
    if (!e) {
        size_t n;
        const void *p = hub_redo_bytes(s->redo, s->batch_from, &n);
        if (!(e = hub_journal_append(s->journal, batch, p, n, err)))
            e = hub_journal_sync(s->journal, err);
        if (e) {
            hub_journal_discard(s->journal);
            LOG_ERROR("store", "the journal refused a batch (%s): it is answered as failed",
                      err ? err->message : "no detail");
        }
    }
    if (e) {
        hub_store_write_abort(s);
        return e == CSPH_ERR_IO || e == CSPH_ERR_DISK_FULL
                   ? hub_error_set(err, CSPH_ERR_BUSY, NULL,
                                   "the hub cannot write its journal (%s); nothing was done; "
                                   "retry shortly",
                                   e == CSPH_ERR_DISK_FULL ? "its disk is full"
                                                            : "a disk error, see its log")
                   : e;
    }
    s->jbatch = batch;
    s->held++;
    return CSPH_ERR_OK;
}

/* Whether the log's map has room for held batches. A held transaction
 * cannot reuse the pages it frees itself, so it takes more of the map than
 * the same batches committed one by one; its LMDB commit must never meet a
 * full map, since its batches are acknowledged by then. So the journal is
 * used only while the map is at most half full with room for several held
 * transactions; otherwise a batch is acknowledged by its LMDB commit as
 * without a journal, and a full map refuses it before it is acknowledged. */
static int map_roomy(struct hub_store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &st))
        return 0;
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    uint64_t map = (uint64_t)info.me_mapsize;
    return used <= map / 2 && map - used >= 8ull * JOURNAL_HOLD_BYTES;
}

enum hub_err hub_store_flush(struct hub_store *s, struct hub_error *err)
{
    if (!s->journaling || s->in_batch)
        return CSPH_ERR_OK;
    enum hub_err e;
    if (!s->txn && s->replay_due && (e = held_remake(s, err)))
        return e;
    if (!s->txn)
        return CSPH_ERR_OK;
    int rc = mdb_txn_commit(s->txn);
    s->txn = NULL;
    if (rc) {
        log_check(s, rc);
        s->replay_due = s->held > 0;
        return lmdb_fail(err, rc, "writing the journal's batches into the log");
    }
    s->held = 0;
    s->replay_due = 0;
    s->jdurable = s->jbatch;
    s->durable_seq = s->last_seq;
    s->journal_flushes++;
    hub_redo_truncate(s->redo, 0);
    struct hub_error jerr;
    if (hub_journal_checkpoint(s->journal, s->jdurable, &jerr))
        LOG_WARN("store", "the journal could not retire files the log holds (%s): it keeps "
                 "them, and replays what the log already has at the next start (harmless)",
                 jerr.message);
    return CSPH_ERR_OK;
}

int hub_store_flush_due(const struct hub_store *s)
{
    return s->journaling && (s->txn || s->replay_due) && !s->in_batch &&
           (s->held >= JOURNAL_HOLD_BATCHES || hub_redo_len(s->redo) >= JOURNAL_HOLD_BYTES ||
            s->replay_due);
}

int hub_store_held(const struct hub_store *s)
{
    return s->journaling && !s->in_batch && (s->txn != NULL || s->replay_due);
}

void hub_store_journal_use(struct hub_store *s, int on)
{
    if (!on && s->journaling && !s->in_batch) {
        struct hub_error err;
        (void)hub_store_flush(s, &err);
    }
    s->journal_wanted = on && s->journal != NULL;
    s->journaling = s->journal_wanted;
}

struct recover_ctx {
    MDB_txn *txn;
    struct hub_error *err;
    uint64_t batches;
    size_t bytes;
};

static int recover_apply(void *ctx, uint64_t batch, const void *p, size_t n)
{
    struct recover_ctx *r = ctx;
    (void)batch;
    if (hub_redo_apply(r->txn, p, n, r->err))
        return -1;
    r->batches++;
    r->bytes += n;
    return 0;
}

/* At open: the journal's batches past what LMDB holds are made again and
 * committed (synced) before anything reads the log. */
static enum hub_err journal_recover(struct hub_store *s, struct hub_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/journal", s->dir);
    enum hub_err e = hub_journal_open(&s->journal, path, JOURNAL_FILE_MAX, 0, err);
    if (e)
        return e;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return lmdb_fail(err, rc, "starting the journal's recovery");
    MDB_val k = {7, "journal"}, v;
    uint64_t durable = 0;
    if (mdb_get(txn, s->lmeta, &k, &v) == 0 && v.mv_size == sizeof durable)
        memcpy(&durable, v.mv_data, sizeof durable);
    struct recover_ctx r = {txn, err, 0, 0};
    if ((e = hub_journal_replay(s->journal, durable, recover_apply, &r, err))) {
        mdb_txn_abort(txn);
        return e;
    }
    if (!r.batches) {
        mdb_txn_abort(txn);
    } else if ((rc = mdb_txn_commit(txn))) {
        return lmdb_fail(err, rc, "committing the journal's recovery");
    } else {
        LOG_INFO("store", "the journal held %llu batches (%zu bytes of writes) acknowledged "
                 "after the log's last commit: written into the log again",
                 (unsigned long long)r.batches, r.bytes);
    }
    struct hub_journal_stats st;
    hub_journal_stats(s->journal, &st);
    if (st.torn)
        LOG_INFO("store", "the journal ended in a record that was never completed (the hub "
                 "stopped while writing it; it was never acknowledged): ignored");
    s->journal_recovered = r.batches;
    s->jbatch = s->jdurable = durable > st.last_batch ? durable : st.last_batch;
    if ((e = hub_journal_checkpoint(s->journal, s->jdurable, err)))
        return e;
    return CSPH_ERR_OK;
}

enum hub_err hub_store_write_begin(struct hub_store *s, struct hub_error *err)
{
    if (s->log_panic)
        return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                             "the hub is reopening its log after a disk error; nothing was "
                             "done; retry shortly");
    enum hub_err e;
    if (s->journal_wanted && !s->txn && !s->replay_due)
        s->journaling = map_roomy(s);
    else if (s->journaling && !map_roomy(s) && (e = hub_store_flush(s, err)) == CSPH_ERR_OK)
        s->journaling = 0; /* the map fills: batches acknowledged by their LMDB commit */
    e = hub_store_index_begin(s, err);
    if (e)
        return e;
    if (s->journaling && (s->txn || s->replay_due)) {
        /* The held transaction, or the held batches made again. */
        if (!s->txn && (e = held_remake(s, err))) {
            hub_store_index_abort(s);
            return e;
        }
        s->txn_last_seq = s->last_seq;
        s->txn_last_reject = s->last_reject;
        memcpy(s->txn_chain, s->chain, HASH_LEN);
        s->batch_from = hub_redo_len(s->redo);
        hub_redo_record(s->redo, 1);
        s->in_batch = 1;
        return CSPH_ERR_OK;
    }
    int rc = mdb_txn_begin(s->env, NULL, 0, &s->txn);
    if (rc) {
        s->txn = NULL;
        hub_store_index_abort(s);
        log_check(s, rc);
        if (s->log_panic)
            return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                                 "the hub is reopening its log after a disk error; nothing "
                                 "was done; retry shortly");
        return lmdb_fail(err, rc, "starting a write transaction");
    }
    s->txn_last_seq = s->last_seq;
    s->txn_last_reject = s->last_reject;
    memcpy(s->txn_chain, s->chain, HASH_LEN);
    s->batch_from = hub_redo_len(s->redo);
    hub_redo_record(s->redo, s->journaling);
    s->in_batch = 1;
    return CSPH_ERR_OK;
}

enum hub_err hub_store_dbi(struct hub_store *s, const char *name, unsigned flags, MDB_dbi *dbi,
                           struct hub_error *err)
{
    int rc = mdb_dbi_open(s->txn, name, flags | MDB_CREATE, dbi);
    if (rc == 0)
        hub_redo_name(s->redo, *dbi, name, flags);
    return rc ? lmdb_fail(err, rc, "opening a database") : CSPH_ERR_OK;
}

static int decode_event(const MDB_val *k, const MDB_val *v, struct hub_stored_event *ev);

/* The idempotency entry of (source, id): key source \0 id, value the seq.
 * One descent: NOOVERWRITE inserts a new key, or leaves the tree untouched
 * and hands the existing entry back in *v. The value is the seq alone (no
 * content hash): a smaller entry is fewer index pages written per commit,
 * and a resend is told from a conflict by the original's bytes. */
static int dedup_put(struct hub_store *s, const char *source, size_t source_len, const char *id,
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
        return lmdb_fail(err, rc, "reading the person index");
    if ((rc = mdb_dbi_open(txn, "people", 0, &people)) || (rc = mdb_cursor_open(txn, people, &c))) {
        mdb_txn_abort(txn);
        return rc == MDB_NOTFOUND ? CSPH_ERR_OK : lmdb_fail(err, rc, "reading the person index");
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
    return rc && rc != MDB_NOTFOUND ? lmdb_fail(err, rc, "reading the person index") : CSPH_ERR_OK;
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
    return rc && rc != MDB_NOTFOUND ? lmdb_fail(err, rc, "dropping from the person index")
                                    : CSPH_ERR_OK;
}

static int erased_resend(struct hub_store *s, MDB_txn *txn, uint64_t seq, const void *bytes,
                         size_t len);

enum hub_err hub_store_append(struct hub_store *s, const struct hub_append *ev, uint64_t *seq,
                              int *duplicate, struct hub_error *err)
{
    MDB_val v;
    if (ev->source_len > 64 || ev->id_len > 128 || ev->type_len > 255)
        return hub_error_set(err, CSPH_ERR_BAD_EVENT, NULL, "source, id or type too long");
    uint64_t next = s->txn_last_seq + 1;
    int rc = dedup_put(s, ev->source, ev->source_len, ev->id, ev->id_len, next, &v);
    if (rc == MDB_KEYEXIST) {
        /* The original, in the log or earlier in this batch: the same
         * bytes make this a resend. */
        uint64_t first;
        MDB_val sk = {8, &first}, sv;
        struct hub_stored_event orig;
        if (v.mv_size != 8)
            return lmdb_fail(err, MDB_CORRUPTED, "reading the idempotency index");
        memcpy(&first, v.mv_data, 8);
        *seq = first;
        if ((rc = mdb_get(s->txn, s->events, &sk, &sv)) || decode_event(&sk, &sv, &orig))
            return lmdb_fail(err, rc ? rc : MDB_CORRUPTED, "reading a duplicate's original");
        if ((orig.len != ev->len || memcmp(orig.bytes, ev->bytes, ev->len) != 0) &&
            !erased_resend(s, s->txn, first, ev->bytes, ev->len))
            return hub_error_set(err, CSPH_ERR_ID_CONFLICT, "id",
                                 "source '%.*s' already sent event id '%.*s' (seq %llu) with "
                                 "different content; give a changed event a new id",
                                 (int)ev->source_len, ev->source, (int)ev->id_len, ev->id,
                                 (unsigned long long)*seq);
        *duplicate = 1;
        return CSPH_ERR_OK;
    }
    if (rc)
        return lmdb_fail(err, rc, "writing the idempotency index");

    size_t hdr_len = EV_FIXED + 1 + ev->type_len + 1 + ev->source_len;
    MDB_val sk = {8, &next};
    v.mv_size = hdr_len + ev->len;
    v.mv_data = NULL;
    /* MDB_RESERVE: LMDB hands us the space and we write into the map once. */
    if ((rc = hub_redo_put(s->redo, s->txn, s->events, &sk, &v, MDB_APPEND | MDB_RESERVE)))
        return lmdb_fail(err, rc, "appending to the log");
    unsigned char *p = v.mv_data;
    put_i64(p, ev->received_ms);
    put_i64(p + 8, ev->occurred_ms);
    unsigned char *q = p + EV_FIXED;
    *q++ = (unsigned char)ev->type_len;
    memcpy(q, ev->type, ev->type_len);
    q += ev->type_len;
    *q++ = (unsigned char)ev->source_len;
    memcpy(q, ev->source, ev->source_len);
    q += ev->source_len;
    memcpy(q, ev->bytes, ev->len);
    if (chain_next(s, s->txn_chain, next, p, v.mv_size, s->txn_chain))
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                             "hashing the event into the log's chain failed (OpenSSL)");
    memcpy(p + 16, s->txn_chain, HASH_LEN);
    hub_redo_filled(s->redo, s->events, &sk, &v, MDB_APPEND);
    s->txn_last_seq = next;
    *seq = next;
    *duplicate = 0;
    return CSPH_ERR_OK;
}

/* Kept rejections per source. A usage record: count, bytes, dropped. */
struct reject_use {
    uint64_t count, bytes, dropped;
};

static size_t reject_src_key(unsigned char *kb, const char *source, size_t len, uint64_t id)
{
    kb[0] = (unsigned char)len;
    memcpy(kb + 1, source, len);
    hub_put_be64(kb + 1 + len, id);
    return 1 + len + 8;
}

/* Count rejection id (size bytes) against its source, then drop that
 * source's oldest kept rejections while it is over either bound (never the
 * one just kept). Inside the batch's transaction. */
static int reject_bound(struct hub_store *s, const char *source, size_t len, uint64_t id,
                        size_t size)
{
    unsigned char kb[1 + 255 + 8];
    struct reject_use u = {0};
    MDB_val uk = {1 + len, kb}, uv, k, v;
    MDB_cursor *c;
    int rc;
    size_t kl = reject_src_key(kb, source, len, id);
    uint32_t sz = (uint32_t)size;
    k.mv_size = kl;
    k.mv_data = kb;
    v.mv_size = 4;
    v.mv_data = &sz;
    if ((rc = hub_redo_put(s->redo, s->txn, s->reject_src, &k, &v, MDB_NOOVERWRITE)))
        return rc;
    rc = mdb_get(s->txn, s->reject_use, &uk, &uv);
    if (rc == 0 && uv.mv_size == sizeof u)
        memcpy(&u, uv.mv_data, sizeof u);
    else if (rc && rc != MDB_NOTFOUND)
        return rc;
    u.count++;
    u.bytes += size;
    if ((s->reject_max && u.count > s->reject_max) ||
        (s->reject_max_bytes && u.bytes > s->reject_max_bytes)) {
        if ((rc = mdb_cursor_open(s->txn, s->reject_src, &c)))
            return rc;
        while (u.count > 1 && ((s->reject_max && u.count > s->reject_max) ||
                               (s->reject_max_bytes && u.bytes > s->reject_max_bytes))) {
            unsigned char first[1 + 255 + 8];
            k.mv_size = reject_src_key(first, source, len, 0);
            k.mv_data = first;
            if ((rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE)))
                break;
            if (k.mv_size != kl || memcmp(k.mv_data, kb, 1 + len) != 0 || v.mv_size != 4)
                break; /* cannot be: the one just kept is there */
            uint64_t old = hub_get_be64((const unsigned char *)k.mv_data + 1 + len);
            uint32_t old_size;
            memcpy(&old_size, v.mv_data, 4);
            if (old == id)
                break;
            MDB_val ok = {8, &old};
            if ((rc = hub_redo_del(s->redo, s->txn, s->rejects, &ok, NULL)) && rc != MDB_NOTFOUND)
                break;
            if ((rc = hub_redo_cursor_del(s->redo, c, s->reject_src)))
                break;
            u.count--;
            u.bytes -= old_size < u.bytes ? old_size : u.bytes;
            u.dropped++;
        }
        mdb_cursor_close(c);
        if (rc && rc != MDB_NOTFOUND)
            return rc;
    }
    uk.mv_data = kb; /* the prefix: len(1) source */
    uv.mv_size = sizeof u;
    uv.mv_data = &u;
    return hub_redo_put(s->redo, s->txn, s->reject_use, &uk, &uv, 0);
}

/* The per-source databases; a log kept before them gets them built from
 * its rejections once. Read-only: used when present. */
static int reject_use_open(struct hub_store *s, MDB_txn *txn, int readonly)
{
    int rc = mdb_dbi_open(txn, "rejects.use", 0, &s->reject_use);
    if (rc == 0 && (rc = mdb_dbi_open(txn, "rejects.src", 0, &s->reject_src)) == 0) {
        s->has_reject_use = 1;
        return 0;
    }
    if (rc != MDB_NOTFOUND || readonly)
        return rc == MDB_NOTFOUND ? 0 : rc;
    if ((rc = mdb_dbi_open(txn, "rejects.use", MDB_CREATE, &s->reject_use)) ||
        (rc = mdb_dbi_open(txn, "rejects.src", MDB_CREATE, &s->reject_src)))
        return rc;
    s->has_reject_use = 1;
    MDB_cursor *c;
    MDB_val k, v;
    if ((rc = mdb_cursor_open(txn, s->rejects, &c)))
        return rc;
    MDB_txn *keep = s->txn;
    uint64_t max = s->reject_max, max_bytes = s->reject_max_bytes;
    s->txn = txn;
    s->reject_max = s->reject_max_bytes = 0; /* counted now, bounded at the next */
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const unsigned char *p = v.mv_data;
        uint64_t id;
        if (v.mv_size < 9 || k.mv_size != 8 || 9 + (size_t)p[8] > v.mv_size)
            continue;
        memcpy(&id, k.mv_data, 8);
        if ((rc = reject_bound(s, (const char *)p + 9, p[8], id, v.mv_size)))
            break;
    }
    mdb_cursor_close(c);
    s->txn = keep;
    s->reject_max = max;
    s->reject_max_bytes = max_bytes;
    return rc == MDB_NOTFOUND ? 0 : rc;
}

void hub_store_reject_limits(struct hub_store *s, uint64_t max, uint64_t max_bytes)
{
    s->reject_max = max;
    s->reject_max_bytes = max_bytes;
}

enum hub_err hub_store_reject_usage(struct hub_store *s, hub_store_usage_fn fn, void *ctx,
                                    uint64_t *dropped, struct hub_error *err)
{
    MDB_txn *txn;
    MDB_cursor *c;
    MDB_val k, v;
    *dropped = 0;
    if (!s->has_reject_use)
        return CSPH_ERR_OK;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_fail(err, rc, "reading the rejections' usage");
    if ((rc = mdb_cursor_open(txn, s->reject_use, &c))) {
        mdb_txn_abort(txn);
        return lmdb_fail(err, rc, "reading the rejections' usage");
    }
    int stop = 0;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        struct reject_use u;
        const unsigned char *p = k.mv_data;
        if (v.mv_size != sizeof u || k.mv_size < 1 || (size_t)p[0] + 1 != k.mv_size)
            continue;
        memcpy(&u, v.mv_data, sizeof u);
        *dropped += u.dropped;
        if (fn && !stop)
            stop = fn(ctx, (const char *)p + 1, p[0], u.count, u.bytes, u.dropped);
    }
    mdb_cursor_close(c);
    mdb_txn_abort(txn);
    return CSPH_ERR_OK;
}

enum hub_err hub_store_reject(struct hub_store *s, int64_t received_ms, const char *source,
                              size_t source_len, const struct hub_error *why, const void *bytes,
                              size_t len, uint64_t *id, struct hub_error *err)
{
    const char *code = hub_err_name(why->code);
    size_t cl = strlen(code), fl = strlen(why->field), ml = strlen(why->message);
    if (source_len > 255)
        source_len = 255;
    /* received(8) then length-prefixed source, code, field, message, bytes */
    size_t total = 8 + 1 + source_len + 1 + cl + 1 + fl + 2 + ml + 4 + len;
    uint64_t next = s->txn_last_reject + 1;
    MDB_val k = {8, &next}, v = {total, NULL};
    int rc = hub_redo_put(s->redo, s->txn, s->rejects, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return lmdb_fail(err, rc, "keeping a rejection");
    unsigned char *p = v.mv_data;
    put_i64(p, received_ms);
    p += 8;
    *p++ = (unsigned char)source_len;
    memcpy(p, source, source_len);
    p += source_len;
    *p++ = (unsigned char)cl;
    memcpy(p, code, cl);
    p += cl;
    *p++ = (unsigned char)fl;
    memcpy(p, why->field, fl);
    p += fl;
    uint16_t ml16 = (uint16_t)ml;
    memcpy(p, &ml16, 2);
    p += 2;
    memcpy(p, why->message, ml);
    p += ml;
    uint32_t l32 = (uint32_t)len;
    memcpy(p, &l32, 4);
    p += 4;
    if (len)
        memcpy(p, bytes, len);
    hub_redo_filled(s->redo, s->rejects, &k, &v, MDB_APPEND);
    if (s->has_reject_use && (rc = reject_bound(s, source, source_len, next, total)))
        return lmdb_fail(err, rc, "bounding the kept rejections");
    s->txn_last_reject = next;
    if (id)
        *id = next;
    return CSPH_ERR_OK;
}

enum hub_err hub_store_write_commit(struct hub_store *s, struct hub_error *err)
{
    /* The log first, synced: what is acknowledged is there. The index is
     * committed later (hub_store_index_settle), after the replies and for
     * several batches at once: a crash in between leaves it behind the log,
     * to be caught up from it at the next start. */
    s->in_batch = 0;
    hub_redo_record(s->redo, 0);
    if (s->journaling) {
        enum hub_err e = journal_commit(s, err);
        if (e)
            return e;
    } else {
        int rc = mdb_txn_commit(s->txn);
        s->txn = NULL;
        if (rc) {
            hub_store_index_abort(s);
            log_check(s, rc);
            return lmdb_fail(err, rc, "committing the batch");
        }
        s->durable_seq = s->txn_last_seq;
    }
    map_full_logged = 0;
    s->index_events += s->txn_last_seq - s->last_seq;
    s->index_batches++;
    s->last_seq = s->txn_last_seq;
    s->last_reject = s->txn_last_reject;
    memcpy(s->chain, s->txn_chain, HASH_LEN);
    return CSPH_ERR_OK;
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
 * event at 5 million events: 1,000 events hold about 28 MiB of them). */
uint64_t hub_store_index_hold_events(const struct hub_store *s)
{
    return s->iwritemap ? CSPH_INDEX_HOLD_EVENTS : CSPH_INDEX_HOLD_EVENTS_COPIED;
}

int hub_store_index_settle_due(struct hub_store *s)
{
    if (s->index_batches >= CSPH_INDEX_HOLD_BATCHES ||
        s->index_events >= hub_store_index_hold_events(s))
        hub_store_index_settle(s);
    return s->index_batches != 0;
}

void hub_store_write_abort(struct hub_store *s)
{
    s->in_batch = 0;
    hub_redo_record(s->redo, 0);
    if (s->txn)
        mdb_txn_abort(s->txn);
    s->txn = NULL;
    hub_store_index_abort(s);
    /* The batch's writes go; the held batches before it, acknowledged
     * through the journal, are made again from their writes before the
     * log is used next. */
    hub_redo_truncate(s->redo, s->batch_from);
    if (s->held)
        s->replay_due = 1;
}

static int decode_event(const MDB_val *k, const MDB_val *v, struct hub_stored_event *ev)
{
    const unsigned char *p = v->mv_data, *end = p + v->mv_size;
    if (v->mv_size < EV_FIXED + 2)
        return -1;
    memcpy(&ev->seq, k->mv_data, 8);
    ev->received_ms = get_i64(p);
    ev->occurred_ms = get_i64(p + 8);
    const unsigned char *q = p + EV_FIXED;
    ev->type_len = *q++;
    ev->type = (const char *)q;
    q += ev->type_len;
    if (q >= end)
        return -1;
    ev->source_len = *q++;
    ev->source = (const char *)q;
    q += ev->source_len;
    if (q > end)
        return -1;
    ev->bytes = q;
    ev->len = (size_t)(end - q);
    return 0;
}

enum hub_err hub_store_scan(struct hub_store *s, uint64_t after, uint64_t until,
                            uint64_t scan_max, hub_store_event_fn fn, void *ctx, uint64_t *last,
                            int *end, struct hub_error *err)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    if (!s->env) /* reopening after a disk error (hub_store_reopen_log) */
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "the hub is reopening its log after a "
                             "disk error; retry shortly");
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_fail(err, rc, "reading the log");
    mdb_cursor_open(txn, s->events, &cur);
    uint64_t start = after + 1, examined = 0;
    MDB_val k = {8, &start}, v;
    *last = after;
    *end = 1;
    /* after = UINT64_MAX: nothing can follow (and after + 1 would wrap). */
    rc = after == UINT64_MAX ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        struct hub_stored_event ev;
        uint64_t seq;
        memcpy(&seq, k.mv_data, 8);
        if (until && seq > until)
            break;
        if (examined == scan_max) {
            *end = 0;
            break;
        }
        if (decode_event(&k, &v, &ev) != 0) {
            LOG_ERROR("store", "log entry %llu is malformed", (unsigned long long)seq);
            break;
        }
        examined++;
        *last = seq;
        if (fn(ctx, &ev)) {
            /* stopped by the visitor: is anything left within the bound? */
            rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
            if (rc == 0) {
                memcpy(&seq, k.mv_data, 8);
                *end = until && seq > until;
            }
            break;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return CSPH_ERR_OK;
}

enum hub_err hub_store_get(struct hub_store *s, uint64_t seq, hub_store_event_fn fn, void *ctx,
                           struct hub_error *err)
{
    MDB_txn *txn;
    if (!s->env) /* reopening after a disk error (hub_store_reopen_log) */
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "the hub is reopening its log after a "
                             "disk error; retry shortly");
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_fail(err, rc, "reading the log");
    MDB_val k = {8, &seq}, v;
    enum hub_err e = CSPH_ERR_OK;
    struct hub_stored_event ev;
    rc = mdb_get(txn, s->events, &k, &v);
    if (rc == 0 && decode_event(&k, &v, &ev) == 0)
        fn(ctx, &ev);
    else
        e = hub_error_set(err, CSPH_ERR_NOT_FOUND, "seq", "no event with seq %llu",
                          (unsigned long long)seq);
    mdb_txn_abort(txn);
    return e;
}

static int decode_reject(const MDB_val *k, const MDB_val *v, struct hub_stored_reject *r,
                         char *code, char *field, char *msg)
{
    const unsigned char *p = v->mv_data, *end = p + v->mv_size;
    memcpy(&r->id, k->mv_data, 8);
    if (v->mv_size < 8 + 1 + 1 + 1 + 2 + 4)
        return -1;
    r->received_ms = get_i64(p);
    p += 8;
    r->source_len = *p++;
    r->source = (const char *)p;
    p += r->source_len;
    size_t cl = *p++;
    memcpy(code, p, cl);
    code[cl] = 0;
    p += cl;
    size_t fl = *p++;
    memcpy(field, p, fl);
    field[fl] = 0;
    p += fl;
    uint16_t ml;
    memcpy(&ml, p, 2);
    p += 2;
    memcpy(msg, p, ml);
    msg[ml] = 0;
    p += ml;
    uint32_t len;
    memcpy(&len, p, 4);
    p += 4;
    if (p + len > end)
        return -1;
    r->bytes = p;
    r->len = len;
    r->code = code;
    r->field = field;
    r->message = msg;
    return 0;
}

enum hub_err hub_store_rejects(struct hub_store *s, uint64_t after, uint64_t max,
                               hub_store_reject_fn fn, void *ctx, uint64_t *last, int *end,
                               struct hub_error *err)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    if (!s->env) /* reopening after a disk error (hub_store_reopen_log) */
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "the hub is reopening its log after a "
                             "disk error; retry shortly");
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_fail(err, rc, "reading the rejections");
    mdb_cursor_open(txn, s->rejects, &cur);
    uint64_t start = after + 1, n = 0;
    MDB_val k = {8, &start}, v;
    char code[256], field[256], msg[65536];
    *last = after;
    *end = 1;
    rc = after == UINT64_MAX ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
    while (rc == 0) {
        if (n == max) {
            *end = 0;
            break;
        }
        struct hub_stored_reject r;
        if (decode_reject(&k, &v, &r, code, field, msg) == 0) {
            if (fn(ctx, &r)) {
                *end = 0; /* stopped before this one: it comes next */
                break;
            }
            *last = r.id;
            n++;
        }
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return CSPH_ERR_OK;
}

static int redaction_accepted(struct hub_store *s, MDB_txn *txn, const MDB_val *k,
                              const MDB_val *v, const struct hub_stored_event *ev,
                              hub_store_redacted_fn fn, void *ctx);

enum hub_err hub_store_verify(struct hub_store *s, uint64_t *checked, uint64_t *bad_seq,
                              unsigned char last_link[16], struct hub_error *err)
{
    return hub_store_verify_with(s, NULL, NULL, checked, bad_seq, last_link, err);
}

enum hub_err hub_store_verify_with(struct hub_store *s, hub_store_redacted_fn fn, void *ctx,
                                   uint64_t *checked, uint64_t *bad_seq,
                                   unsigned char last_link[16], struct hub_error *err)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_fail(err, rc, "reading the log");
    mdb_cursor_open(txn, s->events, &cur);
    unsigned char chain[HASH_LEN] = {0}, good[HASH_LEN] = {0};
    MDB_val k, v;
    uint64_t expect = 1;
    *checked = 0;
    *bad_seq = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct hub_stored_event ev;
        if (decode_event(&k, &v, &ev) != 0 || ev.seq != expect) {
            *bad_seq = expect;
            break;
        }
        const unsigned char *p = v.mv_data;
        if (chain_next(s, chain, ev.seq, p, v.mv_size, chain)) {
            mdb_cursor_close(cur);
            mdb_txn_abort(txn);
            return hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                                 "hashing the log's chain failed (OpenSSL)");
        }
        if (memcmp(chain, p + 16, HASH_LEN) != 0) {
            /* An erasure's redaction keeps its stored link: the chain goes
             * on from it once the erasure event accounts for the record. */
            if (!fn || !redaction_accepted(s, txn, &k, &v, &ev, fn, ctx)) {
                *bad_seq = ev.seq;
                break;
            }
            memcpy(chain, p + 16, HASH_LEN);
        }
        memcpy(good, chain, HASH_LEN);
        (*checked)++;
        expect++;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    if (last_link)
        memcpy(last_link, good, HASH_LEN);
    return CSPH_ERR_OK;
}

/* Report hook (hub/report.c): the chain link stored with seq, so a report
 * can name the exact log it was computed from. */
enum hub_err hub_store_link(struct hub_store *s, uint64_t seq, unsigned char link[16],
                            struct hub_error *err)
{
    memset(link, 0, HASH_LEN);
    if (seq == 0)
        return CSPH_ERR_OK;
    if (!s->env)
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "the hub is reopening its log after a "
                             "disk error; retry shortly");
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_fail(err, rc, "reading the log");
    MDB_val k = {8, &seq}, v;
    rc = mdb_get(txn, s->events, &k, &v);
    if (rc == 0 && v.mv_size >= EV_FIXED)
        memcpy(link, (const unsigned char *)v.mv_data + 16, HASH_LEN);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return hub_error_set(err, CSPH_ERR_NOT_FOUND, "as_of", "no event with seq %llu",
                             (unsigned long long)seq);
    return rc ? lmdb_fail(err, rc, "reading the log") : CSPH_ERR_OK;
}

/* ---- data protection hooks (hub/erase.h) ---------------------------------- */

/* SHA-256 of a stored value without its link: times, type, source, body. */
static int kept_hash(struct hub_store *s, const unsigned char *value, size_t len,
                     unsigned char out[32])
{
    return EVP_DigestInit_ex2(s->md, s->sha256, NULL) && EVP_DigestUpdate(s->md, value, 16) &&
                   EVP_DigestUpdate(s->md, value + EV_FIXED, len - EV_FIXED) &&
                   EVP_DigestFinal_ex(s->md, out, NULL)
               ? 0
               : -1;
}

/* The erasure record of seq in txn: 0 with rec filled, or -1 (none). */
static int erased_get(MDB_txn *txn, uint64_t seq, unsigned char rec[CSPH_STORE_ERASED_LEN])
{
    MDB_dbi dbi;
    MDB_val k = {8, &seq}, v;
    if (mdb_dbi_open(txn, CSPH_STORE_ERASED_DB, MDB_INTEGERKEY, &dbi) ||
        mdb_get(txn, dbi, &k, &v) || v.mv_size != CSPH_STORE_ERASED_LEN)
        return -1;
    memcpy(rec, v.mv_data, CSPH_STORE_ERASED_LEN);
    return 0;
}

/* A resend of an event an erasure rewrote: its bytes hash to what the
 * erasure removed (the bytes themselves are gone). */
static int erased_resend(struct hub_store *s, MDB_txn *txn, uint64_t seq, const void *bytes,
                         size_t len)
{
    unsigned char rec[CSPH_STORE_ERASED_LEN], h[EVP_MAX_MD_SIZE];
    if (erased_get(txn, seq, rec) ||
        !EVP_Digest(bytes, len, h, NULL, s->sha256, NULL))
        return 0;
    return memcmp(rec + 8, h, 32) == 0;
}

static int redaction_accepted(struct hub_store *s, MDB_txn *txn, const MDB_val *k,
                              const MDB_val *v, const struct hub_stored_event *ev,
                              hub_store_redacted_fn fn, void *ctx)
{
    (void)k;
    unsigned char rec[CSPH_STORE_ERASED_LEN], kept[32];
    uint64_t eseq;
    if (erased_get(txn, ev->seq, rec))
        return 0;
    memcpy(&eseq, rec, 8);
    MDB_val ek = {8, &eseq}, evv;
    struct hub_stored_event erasure;
    if (eseq <= ev->seq || mdb_get(txn, s->events, &ek, &evv) ||
        decode_event(&ek, &evv, &erasure) || kept_hash(s, v->mv_data, v->mv_size, kept))
        return 0;
    return fn(ctx, ev, (const unsigned char *)v->mv_data + 16, kept, &erasure);
}

enum hub_err hub_store_batch_get(struct hub_store *s, uint64_t seq, hub_store_event_fn fn,
                                 void *ctx, struct hub_error *err)
{
    if (!s->txn)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "reading the log outside a batch");
    MDB_val k = {8, &seq}, v;
    struct hub_stored_event ev;
    int rc = mdb_get(s->txn, s->events, &k, &v);
    if (rc == MDB_NOTFOUND)
        return hub_error_set(err, CSPH_ERR_NOT_FOUND, "seq", "no event with seq %llu",
                             (unsigned long long)seq);
    if (rc || decode_event(&k, &v, &ev))
        return lmdb_fail(err, rc ? rc : MDB_CORRUPTED, "reading the log");
    fn(ctx, &ev);
    return CSPH_ERR_OK;
}

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
        return lmdb_fail(err, rc, "reading the person index");
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
    return rc && rc != MDB_NOTFOUND ? lmdb_fail(err, rc, "reading the person index")
                                    : CSPH_ERR_OK;
}

enum hub_err hub_store_rewrite(struct hub_store *s, uint64_t seq, const void *body, size_t len,
                               unsigned char link[16], unsigned char kept[32],
                               struct hub_error *err)
{
    if (!s->txn)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "rewriting the log outside a batch");
    MDB_val k = {8, &seq}, v;
    struct hub_stored_event ev;
    int rc = mdb_get(s->txn, s->events, &k, &v);
    if (rc == MDB_NOTFOUND)
        return hub_error_set(err, CSPH_ERR_NOT_FOUND, "seq", "no event with seq %llu",
                             (unsigned long long)seq);
    if (rc || decode_event(&k, &v, &ev))
        return lmdb_fail(err, rc ? rc : MDB_CORRUPTED, "reading the log");
    size_t head = (size_t)((const unsigned char *)ev.bytes - (const unsigned char *)v.mv_data);
    unsigned char *value = malloc(head + len);
    if (!value)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory rewriting seq %llu",
                             (unsigned long long)seq);
    memcpy(value, v.mv_data, head);
    memcpy(value + head, body, len);
    memcpy(link, value + 16, HASH_LEN);
    enum hub_err e = CSPH_ERR_OK;
    MDB_val nv = {head + len, value};
    if (kept_hash(s, value, head + len, kept))
        e = hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "hashing a rewritten event failed "
                          "(OpenSSL)");
    else if ((rc = hub_redo_put(s->redo, s->txn, s->events, &k, &nv, 0)))
        e = lmdb_fail(err, rc, "rewriting an event in the log");
    free(value);
    return e;
}

/* Whether the n bytes at p hold the len bytes at needle (memmem, which
 * needs _GNU_SOURCE for the whole file). */
static int holds(const void *p, size_t n, const void *needle, size_t len)
{
    const unsigned char *a = p, *first;
    if (!len)
        return 1;
    for (size_t at = 0; at + len <= n; at = (size_t)(first - a) + 1) {
        if (!(first = memchr(a + at, *(const unsigned char *)needle, n - len + 1 - at)))
            return 0;
        if (memcmp(first, needle, len) == 0)
            return 1;
    }
    return 0;
}

enum hub_err hub_store_reject_drop_matching(struct hub_store *s, const void *needle, size_t len,
                                            int drop, uint64_t *dropped, struct hub_error *err)
{
    MDB_cursor *c;
    MDB_val k, v;
    *dropped = 0;
    if (!s->txn)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                             "dropping rejections outside a batch");
    int rc = mdb_cursor_open(s->txn, s->rejects, &c);
    if (rc)
        return lmdb_fail(err, rc, "reading the rejections");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (!holds(v.mv_data, v.mv_size, needle, len))
            continue;
        if (!drop) {
            (*dropped)++;
            continue;
        }
        struct hub_stored_reject r;
        char code[256], field[256], *msg = malloc(65536);
        uint64_t id;
        memcpy(&id, k.mv_data, 8);
        int bad = !msg || decode_reject(&k, &v, &r, code, field, msg);
        unsigned char kb[1 + 255 + 8], src[256];
        size_t slen = bad ? 0 : r.source_len, size = v.mv_size;
        if (!bad)
            memcpy(src, r.source, slen);
        free(msg);
        if ((rc = hub_redo_cursor_del(s->redo, c, s->rejects)))
            break;
        (*dropped)++;
        if (bad || !s->has_reject_use)
            continue;
        /* the per-source entry and usage (reject_bound's bookkeeping) */
        MDB_val sk = {reject_src_key(kb, (const char *)src, slen, id), kb}, uk = {1 + slen, kb},
                uv;
        if ((rc = hub_redo_del(s->redo, s->txn, s->reject_src, &sk, NULL)) && rc != MDB_NOTFOUND)
            break;
        rc = mdb_get(s->txn, s->reject_use, &uk, &uv);
        if (rc == 0 && uv.mv_size == sizeof(struct reject_use)) {
            struct reject_use u;
            memcpy(&u, uv.mv_data, sizeof u);
            u.count -= u.count ? 1 : 0;
            u.bytes -= size < u.bytes ? size : u.bytes;
            uv.mv_size = sizeof u;
            uv.mv_data = &u;
            if ((rc = hub_redo_put(s->redo, s->txn, s->reject_use, &uk, &uv, 0)))
                break;
        } else if (rc && rc != MDB_NOTFOUND) {
            break;
        }
        rc = 0;
    }
    mdb_cursor_close(c);
    return rc && rc != MDB_NOTFOUND ? lmdb_fail(err, rc, "dropping rejections") : CSPH_ERR_OK;
}
