/* storejournal.c: the store acknowledging through the journal (storepriv.h). */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bekey.h"
#include "journal.h"
#include "log.h"
#include "redo.h"
#include "storepriv.h"

/* ---- the journal --------------------------------------------------------- */

/* How big a journal file is: the first ones small (a hub that takes a few
 * events writes little), doubling up to this. */
#define JOURNAL_FILE_MAX (64ull << 20)
/* The held transaction is committed to LMDB (hub_store_flush_due) after so
 * many batches or so many bytes of their writes, whichever comes first:
 * the journal then holds at most that much, which recovery makes again in
 * well under a second. LMDB keeps the pages that transaction changes in
 * memory of the hub's own until it commits (and keeps the buffers after),
 * so the bytes bound the hub's memory too: 8 MiB left about 25 MiB of
 * them at 1.25 million events; 4 MiB took the hub's private memory from 74 to
 * 65 MiB at 750,000 (bench/README, ninth session). */
#define JOURNAL_HOLD_BATCHES 256
#define JOURNAL_HOLD_BYTES (4u << 20)

/* The held batches, made again from their writes in a new transaction
 * (after an abort or a failed LMDB commit lost the held one). */
enum hub_err hub_store_held_remake(struct hub_store *s, struct hub_error *err)
{
    int rc = mdb_txn_begin(s->env, NULL, 0, &s->txn);
    if (rc) {
        s->txn = NULL;
        hub_store_log_check(s, rc);
        return hub_store_lmdb_fail(err, rc, "starting a write transaction");
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
enum hub_err hub_store_journal_commit(struct hub_store *s, struct hub_error *err)
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
        e = hub_store_lmdb_fail(err, rc, "numbering the batch for the journal");
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
int hub_store_map_roomy(struct hub_store *s)
{
    MDB_envinfo info;
    MDB_stat st;
    if (mdb_env_info(s->env, &info) || mdb_env_stat(s->env, &st))
        return 0;
    uint64_t used = ((uint64_t)info.me_last_pgno + 1) * st.ms_psize;
    uint64_t map = (uint64_t)info.me_mapsize;
    return used <= map / 2 && map - used >= 8ull * JOURNAL_HOLD_BYTES;
}

/* The last flush's meta page to disk (a stop, an idle hub): then the
 * journal holds nothing LMDB has not synced, and retires its files. */
enum hub_err hub_store_flush_sync(struct hub_store *s, struct hub_error *err)
{
    if (!s->journal || s->jdurable == s->jmeta_unsynced)
        return CSPH_ERR_OK;
    int rc = mdb_env_sync(s->env, 1);
    if (rc) {
        hub_store_log_check(s, rc);
        return hub_store_lmdb_fail(err, rc, "syncing the log's last commit");
    }
    s->jdurable = s->jmeta_unsynced;
    return hub_journal_checkpoint(s->journal, s->jdurable, err);
}

enum hub_err hub_store_flush(struct hub_store *s, struct hub_error *err)
{
    if (!s->journaling || s->in_batch)
        return CSPH_ERR_OK;
    enum hub_err e;
    if (!s->txn && s->replay_due && (e = hub_store_held_remake(s, err)))
        return e;
    if (!s->txn)
        return CSPH_ERR_OK;
    /* One sync a flush, not two: LMDB syncs the pages, then writes its meta
     * page without syncing it (MDB_NOMETASYNC); the next commit's sync
     * takes it to disk. data.mdb stays consistent at every moment (a power
     * cut may undo this commit, never tear it: LMDB's own promise for the
     * flag), and the journal keeps this flush's batches until that next
     * sync, so an undone flush is made again from them. Only here: every
     * other commit on the log acknowledges by itself and syncs both. */
    mdb_env_set_flags(s->env, MDB_NOMETASYNC, 1);
    int rc = mdb_txn_commit(s->txn);
    mdb_env_set_flags(s->env, MDB_NOMETASYNC, 0);
    s->txn = NULL;
    if (rc) {
        hub_store_log_check(s, rc);
        s->replay_due = s->held > 0;
        return hub_store_lmdb_fail(err, rc, "writing the journal's batches into the log");
    }
    s->held = 0;
    s->replay_due = 0;
    /* This commit's sync made the previous flush's meta page durable. */
    s->jdurable = s->jmeta_unsynced;
    s->jmeta_unsynced = s->jbatch;
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

int *hub_store_restrict_hint(struct hub_store *s) { return &s->restrict_hint; }

MDB_txn *hub_store_held_txn(struct hub_store *s)
{
    return s->journaling && !s->in_batch && !s->replay_due && !s->log_panic ? s->txn : NULL;
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
enum hub_err hub_store_journal_recover(struct hub_store *s, struct hub_error *err)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/journal", s->dir);
    enum hub_err e = hub_journal_open(&s->journal, path, JOURNAL_FILE_MAX, 0, err);
    if (e)
        return e;
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return hub_store_lmdb_fail(err, rc, "starting the journal's recovery");
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
        return hub_store_lmdb_fail(err, rc, "committing the journal's recovery");
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
    s->jbatch = s->jdurable = s->jmeta_unsynced =
        durable > st.last_batch ? durable : st.last_batch;
    if ((e = hub_journal_checkpoint(s->journal, s->jdurable, err)))
        return e;
    return CSPH_ERR_OK;
}
