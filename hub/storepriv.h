/* storepriv.h: what the parts of the store share, and nothing else may
 * see: the layout of the stored records, the store's own struct, and the
 * functions one part calls in another. The parts, each a concern of the
 * store (store.h says what they do together):
 *
 *   store.c         the log: data.mdb, its hash chain, the batch's write
 *                   transaction, appends, scans, verify;
 *   storeindex.c    the index: index.mdb (idempotency and person indexes)
 *                   and whether it can be trusted, its transaction held
 *                   over batches, damage seen, the rebuild in place;
 *   storejournal.c  acknowledgement through the journal (journal.h), the
 *                   held LMDB transaction, recovery at open;
 *   storereject.c   kept rejections and their bounds per source.
 *
 * Not a public header: nothing outside these four files includes it. */
#ifndef CSPH_STOREPRIV_H
#define CSPH_STOREPRIV_H

#include <lmdb.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "err.h"
#include "idxwork.h"
#include "store.h"

struct hub_redo;
struct hub_journal;
struct hub_refbuf;

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
    /* What modules above hold for itxn (the rule state's write buffer):
     * put into it before its commit, dropped with it (idxwork.h). */
    struct hub_idxwork_set idxwork;
    uint64_t applied;
    int scratch;             /* a throw-away log: commits not synced (hub_store_scratch) */
    uint64_t index_reserved; /* bytes of index.mdb allocated on disk (index_room) */
    uint64_t index_populated; /* ... of those, mapped in ahead (index_populate) */
    uint64_t index_used_seen; /* pages in use at the last index_room, in bytes */
    /* An index commit failed (retried from the log before the next write),
     * or the index environment is unusable and is being rebuilt in place
     * (see hub_store_health). Logged once per episode. */
    int index_failing, index_rebuild_due, index_rebuilding;
    char index_why[160];
    uint64_t index_failures, index_rebuilds;
    /* data.mdb refused every transaction (MDB_PANIC): reopened between
     * batches by hub_store_reopen_log. */
    int log_panic;
    int restrict_hint; /* HUB_RESTRICT_*: restrict.c's */
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
    uint64_t jmeta_unsynced; /* the last batch of the last flush, whose meta page
                              * the next sync takes to disk (hub_store_flush) */
    uint32_t held;         /* batches in the held transaction */
    int in_batch, replay_due;
    size_t batch_from;     /* redo length when the batch began */
    uint64_t durable_seq;  /* last seq LMDB holds on disk (readers see up to it) */
    uint64_t journal_flushes, journal_recovered;
};

/* The stored records' times, in host order. */
static inline void put_i64(unsigned char *p, int64_t v) { memcpy(p, &v, 8); }
static inline int64_t get_i64(const unsigned char *p)
{
    int64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* store.c */
/* A system error's kind, for the exit status (README.md, operations). */
enum hub_err hub_store_sys_err(int e);
/* An LMDB failure logged and set in err (a full map logged once). */
enum hub_err hub_store_lmdb_fail(struct hub_error *err, int rc, const char *what);
/* A read transaction on the log (BUSY while the log is reopened). */
enum hub_err hub_store_read_begin(struct hub_store *s, const char *what, MDB_txn **txn,
                                  struct hub_error *err);
/* After a failed commit of the log: whether LMDB still uses data.mdb. */
void hub_store_log_check(struct hub_store *s, int rc);

/* storeindex.c */
enum hub_err hub_store_index_setup(struct hub_store *s, uint64_t map_size, const char *force,
                                   struct hub_error *err);
int hub_store_state_write(struct hub_store *s, int clean);
int hub_store_dedup_put(struct hub_store *s, const char *source, size_t source_len,
                        const char *id, size_t id_len, uint64_t seq, MDB_val *v);
void hub_store_damage_watch(const char *dir);
void hub_store_damage_unwatch(void);
void hub_store_damage_mark(const char *why, size_t len);
int hub_store_damage_seen(void);

/* storejournal.c */
enum hub_err hub_store_journal_recover(struct hub_store *s, struct hub_error *err);
enum hub_err hub_store_journal_commit(struct hub_store *s, struct hub_error *err);
enum hub_err hub_store_held_remake(struct hub_store *s, struct hub_error *err);
int hub_store_map_roomy(struct hub_store *s);

/* storereject.c */
int hub_store_reject_use_open(struct hub_store *s, MDB_txn *txn, int readonly);

#endif
