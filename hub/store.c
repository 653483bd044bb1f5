/* store.c: the log part of the store: data.mdb, its hash chain, the
 * batch's write transaction (storepriv.h lists the other parts). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bekey.h"
#include "journal.h"
#include "redo.h"
#include "log.h"
#include "refbuf.h"
#include "storepriv.h"

/* A system error's kind, for the exit status (README.md, operations): a
 * full disk, a directory the hub may not use (a setup to fix), or I/O. */
enum hub_err hub_store_sys_err(int e)
{
    return e == ENOSPC || e == EDQUOT ? CSPH_ERR_DISK_FULL
           : e == EACCES || e == EPERM || e == ENOENT || e == ENOTDIR ? CSPH_ERR_CONFIG
                                       : CSPH_ERR_IO;
}

/* A full map is logged once until a batch commits again: every refused
 * batch is counted in stats' busy, not logged. */
static int map_full_logged;

enum hub_err hub_store_lmdb_fail(struct hub_error *err, int rc, const char *what)
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
        return hub_error_set(err, hub_store_sys_err(errno), "data_dir", "cannot create %s: %s", path,
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
        return hub_store_lmdb_fail(err, rc, "reading the log's tail");
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

static int log_env_open(struct hub_store *s, const char *dir, uint64_t map_size, int readonly);

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
        e = hub_error_set(err, hub_store_sys_err(errno), "data_dir",
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
                ? hub_store_lmdb_fail(err, rc, "opening the log's databases")
                : hub_error_set(err, hub_store_sys_err(rc), "data_dir",
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
    if (!readonly && (e = hub_store_journal_recover(s, err)))
        goto fail;
    if ((e = load_tail(s, err)))
        goto fail;
    s->durable_seq = s->last_seq;
    s->map_size = map_size;
    if (!readonly && (e = hub_store_index_setup(s, map_size, NULL, err)))
        goto fail;
    if (!readonly)
        hub_store_damage_watch(s->dir);
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
    if ((rc = mdb_env_create(&s->env)) || (rc = mdb_env_set_maxdbs(s->env, 64)) ||
        (rc = mdb_env_set_mapsize(s->env, (size_t)map_size)) ||
        (rc = mdb_env_set_maxreaders(s->env, 126)))
        return rc;
    /* Default sync mode: every commit is synced (data and meta page), which
     * is the durability promise of PROTOCOL.md 4. NOTLS because read
     * transactions are short and all on the loop thread. */
    if ((rc = mdb_env_open(s->env, dir,
                           MDB_NOTLS | MDB_NORDAHEAD | (readonly ? MDB_RDONLY : 0) |
                               (s->scratch ? MDB_NOSYNC : 0),
                           0600)))
        return rc;
    unsigned create = readonly ? 0 : MDB_CREATE;
    if ((rc = mdb_txn_begin(s->env, NULL, readonly ? MDB_RDONLY : 0, &txn)))
        return rc;
    if ((rc = mdb_dbi_open(txn, "events", create | MDB_INTEGERKEY, &s->events)) ||
        (rc = mdb_dbi_open(txn, "rejects", create | MDB_INTEGERKEY, &s->rejects)) ||
        (!readonly && (rc = drop_legacy(txn))) || (rc = chain_open(s, txn, readonly)) ||
        (rc = hub_store_reject_use_open(s, txn, readonly)) || (rc = mdb_txn_commit(txn))) {
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

void hub_store_scratch(struct hub_store *s)
{
    s->scratch = 1; /* and on a reopen (log_env_open) */
    if (mdb_env_set_flags(s->env, MDB_NOSYNC, 1))
        LOG_WARN("store", "the scratch log in %s is synced after all (its commits are "
                 "slower; nothing else changes)", s->dir);
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
        if (hub_store_flush(s, &ferr) || hub_store_flush_sync(s, &ferr))
            LOG_WARN("store", "could not write the journal's last batches into the log at "
                     "stop (%s): they are made again from the journal at the next start",
                     ferr.message);
    }
    hub_store_index_settle(s);
    if (s->itxn)
        mdb_txn_abort(s->itxn);
    hub_idxwork_end(&s->idxwork, 1);
    if (s->ienv) {
        /* A clean stop: the index on disk, then the mark that says it is;
         * never for an index seen damaged or left unfinished. A sync that
         * fails may have lost pages the page cache no longer holds right
         * (Linux drops a page whose write-back failed): rebuilt next time. */
        int rc = 0;
        if (!hub_store_damage_seen() && !s->index_failing && !s->index_rebuild_due) {
            if ((rc = mdb_env_sync(s->ienv, 1)) != 0) {
                char why[96];
                int n = snprintf(why, sizeof why, "syncing it at stop: %s\n", mdb_strerror(rc));
                LOG_WARN("store", "could not write the index to disk at stop (%s): it is "
                         "rebuilt from the log at the next start",
                         mdb_strerror(rc));
                hub_store_damage_mark(why, n > 0 && (size_t)n < sizeof why ? (size_t)n : 0);
            } else if ((s->unclean_starts = 0, hub_store_state_write(s, 1) != 0)) {
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
        hub_store_damage_unwatch();
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


/* After a failed commit of the log: whether LMDB will still use data.mdb.
 * An EIO on its meta page (MDB_FATAL_ERROR inside LMDB) makes it answer
 * MDB_PANIC to every later transaction of the environment; only closing
 * and opening it again heals that (hub_store_reopen_log). */
void hub_store_log_check(struct hub_store *s, int rc)
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



enum hub_err hub_store_write_begin(struct hub_store *s, struct hub_error *err)
{
    if (s->log_panic)
        return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                             "the hub is reopening its log after a disk error; nothing was "
                             "done; retry shortly");
    enum hub_err e;
    if (s->journal_wanted && !s->txn && !s->replay_due)
        s->journaling = hub_store_map_roomy(s);
    else if (s->journaling && !hub_store_map_roomy(s) && (e = hub_store_flush(s, err)) == CSPH_ERR_OK)
        s->journaling = 0; /* the map fills: batches acknowledged by their LMDB commit */
    e = hub_store_index_begin(s, err);
    if (e)
        return e;
    if (s->journaling && (s->txn || s->replay_due)) {
        /* The held transaction, or the held batches made again. */
        if (!s->txn && (e = hub_store_held_remake(s, err))) {
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
        hub_store_log_check(s, rc);
        if (s->log_panic)
            return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                                 "the hub is reopening its log after a disk error; nothing "
                                 "was done; retry shortly");
        return hub_store_lmdb_fail(err, rc, "starting a write transaction");
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
    return rc ? hub_store_lmdb_fail(err, rc, "opening a database") : CSPH_ERR_OK;
}

static int decode_event(const MDB_val *k, const MDB_val *v, struct hub_stored_event *ev);

static int erased_resend(struct hub_store *s, MDB_txn *txn, uint64_t seq, const void *bytes,
                         size_t len);

enum hub_err hub_store_append(struct hub_store *s, const struct hub_append *ev, uint64_t *seq,
                              int *duplicate, struct hub_error *err)
{
    MDB_val v;
    if (ev->source_len > 64 || ev->id_len > 128 || ev->type_len > 255)
        return hub_error_set(err, CSPH_ERR_BAD_EVENT, NULL, "source, id or type too long");
    uint64_t next = s->txn_last_seq + 1;
    int rc = hub_store_dedup_put(s, ev->source, ev->source_len, ev->id, ev->id_len, next, &v);
    if (rc == MDB_KEYEXIST) {
        /* The original, in the log or earlier in this batch: the same
         * bytes make this a resend. */
        uint64_t first;
        MDB_val sk = {8, &first}, sv;
        struct hub_stored_event orig;
        if (v.mv_size != 8)
            return hub_store_lmdb_fail(err, MDB_CORRUPTED, "reading the idempotency index");
        memcpy(&first, v.mv_data, 8);
        *seq = first;
        if ((rc = mdb_get(s->txn, s->events, &sk, &sv)) || decode_event(&sk, &sv, &orig))
            return hub_store_lmdb_fail(err, rc ? rc : MDB_CORRUPTED, "reading a duplicate's original");
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
        return hub_store_lmdb_fail(err, rc, "writing the idempotency index");

    size_t hdr_len = EV_FIXED + 1 + ev->type_len + 1 + ev->source_len;
    MDB_val sk = {8, &next};
    v.mv_size = hdr_len + ev->len;
    v.mv_data = NULL;
    /* MDB_RESERVE: LMDB hands us the space and we write into the map once. */
    if ((rc = hub_redo_put(s->redo, s->txn, s->events, &sk, &v, MDB_APPEND | MDB_RESERVE)))
        return hub_store_lmdb_fail(err, rc, "appending to the log");
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

enum hub_err hub_store_write_commit(struct hub_store *s, struct hub_error *err)
{
    /* The log first, synced: what is acknowledged is there. The index is
     * committed later (hub_store_index_settle), after the replies and for
     * several batches at once: a crash in between leaves it behind the log,
     * to be caught up from it at the next start. */
    s->in_batch = 0;
    hub_redo_record(s->redo, 0);
    if (s->journaling) {
        enum hub_err e = hub_store_journal_commit(s, err);
        if (e)
            return e;
    } else {
        int rc = mdb_txn_commit(s->txn);
        s->txn = NULL;
        if (rc) {
            hub_store_index_abort(s);
            hub_store_log_check(s, rc);
            return hub_store_lmdb_fail(err, rc, "committing the batch");
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

/* A read transaction on the log, or BUSY while it is being reopened after
 * a disk error (hub_store_reopen_log); what names the read in a failure. */
enum hub_err hub_store_read_begin(struct hub_store *s, const char *what, MDB_txn **txn,
                                  struct hub_error *err)
{
    if (!s->env)
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "the hub is reopening its log after a "
                             "disk error; retry shortly");
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    return rc ? hub_store_lmdb_fail(err, rc, what) : CSPH_ERR_OK;
}

enum hub_err hub_store_scan(struct hub_store *s, uint64_t after, uint64_t until,
                            uint64_t scan_max, hub_store_event_fn fn, void *ctx, uint64_t *last,
                            int *end, struct hub_error *err)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    enum hub_err re = hub_store_read_begin(s, "reading the log", &txn, err);
    if (re)
        return re;
    int rc;
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
    enum hub_err re = hub_store_read_begin(s, "reading the log", &txn, err);
    if (re)
        return re;
    int rc;
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
        return hub_store_lmdb_fail(err, rc, "reading the log");
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
    MDB_txn *txn;
    enum hub_err re = hub_store_read_begin(s, "reading the log", &txn, err);
    if (re)
        return re;
    int rc;
    MDB_val k = {8, &seq}, v;
    rc = mdb_get(txn, s->events, &k, &v);
    if (rc == 0 && v.mv_size >= EV_FIXED)
        memcpy(link, (const unsigned char *)v.mv_data + 16, HASH_LEN);
    mdb_txn_abort(txn);
    if (rc == MDB_NOTFOUND)
        return hub_error_set(err, CSPH_ERR_NOT_FOUND, "as_of", "no event with seq %llu",
                             (unsigned long long)seq);
    return rc ? hub_store_lmdb_fail(err, rc, "reading the log") : CSPH_ERR_OK;
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
        return hub_store_lmdb_fail(err, rc ? rc : MDB_CORRUPTED, "reading the log");
    fn(ctx, &ev);
    return CSPH_ERR_OK;
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
        return hub_store_lmdb_fail(err, rc ? rc : MDB_CORRUPTED, "reading the log");
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
        e = hub_store_lmdb_fail(err, rc, "rewriting an event in the log");
    free(value);
    return e;
}


