/* store.h: the event log, the idempotency index and the kept rejections, in
 * one LMDB environment in the data directory.
 *
 * One writer: the loop thread opens a write transaction per batch
 * (hub_store_write_begin), appends and rejects into it, and commits it with
 * a disk sync (hub_store_write_commit) before any reply is sent. The rule
 * engine and the queues write into the same transaction through
 * hub_store_txn, so an event and what it raises commit together.
 * Reads (scan, rejects) use their own read transactions and never block the
 * writer.
 *
 * Caveats
 * - One hub per directory: hub_store_open takes an exclusive lock on
 *   DIR/csphub.lock and fails with CSPH_ERR_LOCKED while another holds it.
 * - Memory handed to a visitor (struct hub_stored_event) points into the
 *   LMDB map and is valid only during that call.
 * - When an append fails with CSPH_ERR_BUSY (map full) or CSPH_ERR_INTERNAL,
 *   the whole transaction is unusable: abort it and answer every request of
 *   the batch.
 *
 * Two LMDB environments. DIR/data.mdb holds the log (events, rejections)
 * and what other modules keep beside it (queues, cursors); every commit is
 * synced before any reply. DIR/index.mdb holds what is derived from the
 * log alone (the idempotency index here, the rule state through
 * hub_store_index_txn): committed after the log (once the batch's replies
 * are out, hub_store_index_settle), without a sync, so a commit writes its
 * scattered index pages to the page cache only; and one index transaction
 * holds up to CSPH_INDEX_HOLD_BATCHES batches, so a leaf page that every
 * batch touches is written once for them all. A crash of the hub leaves
 * the index at most that many batches behind the log; a crash of the
 * machine may tear it, and the next start (boot id changed, no clean-stop
 * mark) empties it. Either way hub_ingest_catch_up brings it level from
 * the log before the hub serves.
 *
 * Knows no sockets and no wire format beyond the bytes it keeps. */
#ifndef CSPH_STORE_H
#define CSPH_STORE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

/* An index transaction is committed once it holds this many batches or
 * events (hub_store_index_settle_due). Measured with 1,000 requests in
 * flight: index bytes written -36 to -44% against a commit per batch. */
#define CSPH_INDEX_HOLD_BATCHES 8
#define CSPH_INDEX_HOLD_EVENTS 20000
#define CSPH_INDEX_HOLD_EVENTS_COPIED 500 /* index not written through its map */

#include "err.h"

struct hub_store;

/* Where one appended event came from and what it is. */
struct hub_append {
    const char *source;
    size_t source_len;
    const char *id;
    size_t id_len;
    const char *type;
    size_t type_len;
    int64_t occurred_ms;
    int64_t received_ms;
    const void *bytes; /* the event exactly as accepted (MessagePack map) */
    size_t len;
};

/* An event as stored. Borrowed: valid only during the visitor call. */
struct hub_stored_event {
    uint64_t seq;
    int64_t received_ms;
    int64_t occurred_ms;
    const char *type;
    size_t type_len;
    const char *source;
    size_t source_len;
    const void *bytes;
    size_t len;
};

/* A kept rejection. Borrowed like hub_stored_event. */
struct hub_stored_reject {
    uint64_t id;
    int64_t received_ms;
    const char *source; /* "" when unknown */
    size_t source_len;
    const char *code;
    const char *field;
    const char *message;
    const void *bytes;
    size_t len;
};

/* Open (creating when needed) the store in dir with a map of map_size bytes.
 * Errors: CSPH_ERR_LOCKED (another hub), CSPH_ERR_IO (directory unusable:
 * the message names the path and the system's reason). */
enum hub_err hub_store_open(struct hub_store **out, const char *dir, uint64_t map_size,
                            struct hub_error *err);
/* Open an existing store read-only without taking the hub's lock, so an
 * auditor's tool can read the log of a running hub (LMDB readers never
 * block the writer). Only the read functions may be used. */
enum hub_err hub_store_open_readonly(struct hub_store **out, const char *dir,
                                     struct hub_error *err);
/* Close and NULL *s; accepts NULL. Aborts an open write transaction. */
void hub_store_close(struct hub_store **s);
/* A scratch log (what-if's temporary directory, removed when it ends):
 * commits are not synced to the disk, since nothing in it is kept and a
 * crash only ends the what-if. Never for a hub's own log. */
void hub_store_scratch(struct hub_store *s);

uint64_t hub_store_last_seq(const struct hub_store *s);
/* The last seq in txn, a read transaction of hub_store_env (a snapshot
 * shared with other reads, say the alerts'); 0 when the log is empty. */
uint64_t hub_store_last_seq_in(struct hub_store *s, MDB_txn *txn);
/* The LMDB environment, for modules keeping their databases beside the log
 * (queues, rules). Borrowed; valid until hub_store_close. */
MDB_env *hub_store_env(struct hub_store *s);
uint64_t hub_store_last_reject(const struct hub_store *s);
/* The log's hash chain, for people: "SHA-256, version 2" (new logs) or
 * "BLAKE2b-128, version 1" (logs started before version 2). */
const char *hub_store_chain_name(const struct hub_store *s);

/* The seq the next append of the open batch would get. */
uint64_t hub_store_next_seq(const struct hub_store *s);

/* The batch's index transaction (index.mdb), for the rule state. */
MDB_txn *hub_store_index_txn(struct hub_store *s);
/* The index's last commit holds every event up to this seq (below
 * hub_store_last_seq while batches are held, after a crash or after an
 * abort dropped held batches; 0 after a rebuild). */
uint64_t hub_store_index_applied(const struct hub_store *s);
/* Whether an index transaction is open (holding batches, or in a batch). */
int hub_store_index_open(const struct hub_store *s);
/* Catching the index up outside a batch: an index-only transaction, the
 * idempotency entry of an event already in the log, and the commit that
 * records how far it got. */
struct hub_stored_event;
enum hub_err hub_store_index_begin(struct hub_store *s, struct hub_error *err);
enum hub_err hub_store_index_add(struct hub_store *s, const struct hub_stored_event *ev,
                                 const char *id, size_t id_len, struct hub_error *err);
enum hub_err hub_store_index_commit(struct hub_store *s, uint64_t applied,
                                    struct hub_error *err);
void hub_store_index_abort(struct hub_store *s);

/* The person index (index.mdb): a reference -> (occurred_at, seq) of every
 * event naming it, for every field of kind person and every location's id
 * and lsoa (kind: CSPH_REF_PERSON, CSPH_REF_PLACE, CSPH_REF_LSOA of
 * schema.h). Written in the batch's index transaction by ingest. */
#define CSPH_STORE_REF_MAX 200
enum hub_err hub_store_index_ref(struct hub_store *s, char kind, const char *ref, size_t len,
                                 int64_t occurred_ms, uint64_t seq, struct hub_error *err);
/* Visit the events naming ref with from_ms <= occurred_at <= to_ms, in
 * (occurred_at, seq) order, from the index's last commit (its own read
 * transaction); fn returns nonzero to stop. *applied is how far that commit
 * holds the log: events after it are not in the index yet (read them from
 * the log). */
typedef int (*hub_store_ref_fn)(void *ctx, int64_t occurred_ms, uint64_t seq);
enum hub_err hub_store_refs(struct hub_store *s, char kind, const char *ref, size_t len,
                            int64_t from_ms, int64_t to_ms, hub_store_ref_fn fn, void *ctx,
                            uint64_t *applied, struct hub_error *err);
/* Drop every entry of ref (in the batch's index transaction). */
enum hub_err hub_store_drop_ref(struct hub_store *s, char kind, const char *ref, size_t len,
                                struct hub_error *err);

/* Drop the one entry of ref for the event (occurred_ms, seq) (retention:
 * hub/sweep.h), in the batch's index transaction. An entry still waiting
 * in the index's buffer (an event of the index's held batches) is not
 * reached. */
enum hub_err hub_store_drop_ref_point(struct hub_store *s, char kind, const char *ref, size_t len,
                                      int64_t occurred_ms, uint64_t seq, struct hub_error *err);

/* Begin the batch's write transaction. */
enum hub_err hub_store_write_begin(struct hub_store *s, struct hub_error *err);
/* The open write transaction, for modules writing in the same batch. */
MDB_txn *hub_store_txn(struct hub_store *s);
/* Open (creating) a named database in the store's environment; only during
 * a write transaction. Used by the rules and the queues. */
enum hub_err hub_store_dbi(struct hub_store *s, const char *name, unsigned flags, MDB_dbi *dbi,
                           struct hub_error *err);

/* Append ev unless (source, id) is known. On success *seq is the new seq and
 * *duplicate 0, or the original's seq and *duplicate 1 when the content is
 * identical. CSPH_ERR_ID_CONFLICT when the content differs;
 * CSPH_ERR_BUSY when the map is full; CSPH_ERR_INTERNAL otherwise. */
enum hub_err hub_store_append(struct hub_store *s, const struct hub_append *ev, uint64_t *seq,
                              int *duplicate, struct hub_error *err);
/* Keep a rejection (outside the log). *id is its gap-free number. */
enum hub_err hub_store_reject(struct hub_store *s, int64_t received_ms, const char *source,
                              size_t source_len, const struct hub_error *why, const void *bytes,
                              size_t len, uint64_t *id, struct hub_error *err);
/* The bound on kept rejections per source (limits.rejects_per_source_*;
 * 0: none): hub_store_reject drops that source's oldest kept rejections
 * beyond it, in the same transaction, and counts them. Their ids are not
 * handed out again; hub_store_rejects skips them. */
void hub_store_reject_limits(struct hub_store *s, uint64_t max, uint64_t max_bytes);
/* Visit each source's kept rejections (count, bytes) and how many of its
 * oldest were dropped; fn returns nonzero to stop visiting (the total goes
 * on). *dropped is the total over every source. Own read transaction. */
typedef int (*hub_store_usage_fn)(void *ctx, const char *source, size_t len, uint64_t count,
                                  uint64_t bytes, uint64_t dropped);
enum hub_err hub_store_reject_usage(struct hub_store *s, hub_store_usage_fn fn, void *ctx,
                                    uint64_t *dropped, struct hub_error *err);
/* Commit and sync. After CSPH_ERR_OK every append of the batch is durable.
 * On failure the batch is gone (as if aborted), and so are the batches the
 * index transaction held (see hub_store_write_abort). The index
 * transaction stays open, holding the batch, until hub_store_index_settle;
 * the next batch goes on in it. */
enum hub_err hub_store_write_commit(struct hub_store *s, struct hub_error *err);
/* Commit the index of the committed batches it holds, if any. A failure is
 * logged (once) and healed from the log before the next write (see
 * hub_store_needs_heal). hub_store_close calls it. */
void hub_store_index_settle(struct hub_store *s);
/* The same once the held batches reach CSPH_INDEX_HOLD_BATCHES or
 * CSPH_INDEX_HOLD_EVENTS. The server calls it after each batch's replies.
 * Returns 1 while batches are still held (commit them when the hub goes
 * quiet). */
int hub_store_index_settle_due(struct hub_store *s);
/* index.mdb is written through its map while its pages in use stay below
 * bytes (default: half of what the kernel lets stay dirty before it writes
 * back, vm.dirty_background_*), and with write() beyond (store.c says why).
 * The switch, either way, happens when the next index transaction begins. */
void hub_store_index_writemap_max(struct hub_store *s, uint64_t bytes);
int hub_store_index_writemap(const struct hub_store *s);
/* The most events one index transaction should hold in the current mode
 * (a catch-up commits its index every so many). */
uint64_t hub_store_index_hold_events(const struct hub_store *s);
/* Bytes of index.mdb allocated ahead on disk, and of those mapped in ahead
 * of the stores (a step a batch: storeindex.c's index_populate). */
void hub_store_index_room(const struct hub_store *s, uint64_t *reserved, uint64_t *populated);
/* Drop the batch. The index transaction goes with it, and with it the
 * index of the batches it held: they are in the log, and
 * hub_store_index_applied is behind hub_store_last_seq until
 * hub_ingest_catch_up (hub_core_batch_begin does it) brings it level. */
void hub_store_write_abort(struct hub_store *s);

/* The journal (journal.h, redo.h). Every store opened for writing makes
 * the batches its journal acknowledged after the log's last commit again at
 * open. hub_store_journal_use(s, 1) (the live hub) then acknowledges a
 * batch once its writes are synced in the journal (hub_store_write_commit)
 * and holds the log's transaction over the next batches; hub_store_flush
 * commits it to LMDB (synced) and retires the journal's files: call it
 * before anything reads the log with its own transaction (readers see what
 * LMDB committed), when hub_store_flush_due says so, and when the hub goes
 * quiet. hub_store_held: batches are held (a flush has work). */
void hub_store_journal_use(struct hub_store *s, int on);
enum hub_err hub_store_flush(struct hub_store *s, struct hub_error *err);
/* A flush syncs LMDB's pages but not its meta page (the next commit's sync
 * does): this syncs it now and retires the journal's files it held. */
enum hub_err hub_store_flush_sync(struct hub_store *s, struct hub_error *err);
int hub_store_flush_due(const struct hub_store *s);
int hub_store_held(const struct hub_store *s);
/* Between batches, the transaction holding what the journal acknowledged
 * since LMDB's last commit (hub_store_held), for reads that must see it
 * without a flush; NULL when there is none (nothing held, or held batches
 * waiting to be made again after an abort: flush first). Valid until the
 * next begin, flush or abort. */
MDB_txn *hub_store_held_txn(struct hub_store *s);
/* restrict.c's note of whether a standing restriction can exist in this
 * log (HUB_RESTRICT_*): unknown at open, so that nothing arriving has to
 * look for one when none was ever made. */
enum { HUB_RESTRICT_UNKNOWN = 0, HUB_RESTRICT_NONE, HUB_RESTRICT_MAYBE };
int *hub_store_restrict_hint(struct hub_store *s);
/* The batch's write recorder, for the writes other modules make in the
 * batch's transaction (queues.c, ingest.c): hub_redo_put and the like. */
struct hub_redo *hub_store_redo(struct hub_store *s);

/* Faults and how they heal, without a restart.
 * - A failed index commit (EIO, ENOSPC, ...) leaves the index at its last
 *   commit, behind the log: hub_core_batch_begin brings it level from the log
 *   before the next write; until that succeeds writes get CSPH_ERR_BUSY.
 * - An index environment LMDB will no longer use (MDB_PANIC) or that
 *   reports damage (MDB_CORRUPTED, MDB_PAGE_NOTFOUND) is rebuilt in place:
 *   closed, removed, opened empty, and filled from the log a step at a time
 *   (hub_ingest_heal); reads go on, writes get CSPH_ERR_BUSY.
 * - data.mdb answering MDB_PANIC (an EIO on its meta page) is closed and
 *   opened again between batches (hub_store_reopen_log), its tail checked
 *   against what the hub acknowledged. */
struct hub_store_health {
    const char *index;     /* "ok", "retrying" (a commit failed) or "rebuilding" */
    const char *index_why; /* the last failure, "" when none; borrowed from s */
    uint64_t index_applied, log_last;
    uint64_t index_failures, index_rebuilds; /* since the hub started */
    const char *log;       /* "ok" or "reopening" */
    uint64_t log_reopens;
};
void hub_store_health(const struct hub_store *s, struct hub_store_health *h);
/* 1 while something above waits to be healed outside a batch (the index
 * behind the log with no transaction of it open counts: a failed batch
 * took the index of the batches it held). */
int hub_store_needs_heal(const struct hub_store *s);
/* 1 after data.mdb answered MDB_PANIC: call hub_store_reopen_log (and
 * hub_queues_reopen) outside a batch. */
int hub_store_log_failed(const struct hub_store *s);
/* Close data.mdb's environment and open it again, checking that its tail
 * holds every event the hub acknowledged with the same last link.
 * CSPH_ERR_IO when it cannot (the message says what to run). Every
 * transaction of the old environment must be closed; hub_store_env
 * changes. */
enum hub_err hub_store_reopen_log(struct hub_store *s, struct hub_error *err);
/* Note an LMDB result: MDB_CORRUPTED or MDB_PAGE_NOTFOUND mark the index
 * for a rebuild (now, in the running hub, and at the next start whatever
 * happens first) and return 1; anything else returns 0. For modules that
 * read the index themselves (the rule state). */
int hub_store_index_damaged(int rc);

/* Visit events with after < seq <= until (until 0: no bound), in seq order.
 * The visitor returns 0 to go on, 1 to stop after this event. At most
 * scan_max events are examined. *last is the last seq examined (after when
 * none), *end is 1 when no event beyond *last exists within the bound. */
typedef int (*hub_store_event_fn)(void *ctx, const struct hub_stored_event *ev);
enum hub_err hub_store_scan(struct hub_store *s, uint64_t after, uint64_t until,
                            uint64_t scan_max, hub_store_event_fn fn, void *ctx, uint64_t *last,
                            int *end, struct hub_error *err);
/* One event by seq: CSPH_ERR_NOT_FOUND when absent. */
enum hub_err hub_store_get(struct hub_store *s, uint64_t seq, hub_store_event_fn fn, void *ctx,
                           struct hub_error *err);

/* Visit kept rejections with id > after, at most max, in id order. The
 * visitor returns 0 to go on, nonzero to stop BEFORE this rejection (it is
 * not counted and *last stays on the one before; *end is 0). */
typedef int (*hub_store_reject_fn)(void *ctx, const struct hub_stored_reject *r);
enum hub_err hub_store_rejects(struct hub_store *s, uint64_t after, uint64_t max,
                               hub_store_reject_fn fn, void *ctx, uint64_t *last, int *end,
                               struct hub_error *err);

/* Walk the whole log (one read snapshot) checking each entry's hash chain;
 * *bad_seq is the first seq whose chain does not match (0 when the log is
 * intact). last_link (unless NULL) gets the link of the last event that
 * verified, 16 zero bytes when none did: kept elsewhere, it shows later
 * that the log was not rebuilt since. */
enum hub_err hub_store_verify(struct hub_store *s, uint64_t *checked, uint64_t *bad_seq,
                              unsigned char last_link[16], struct hub_error *err);

/* The chain link stored with seq (16 zero bytes for seq 0), for reports
 * (hub/report.c). CSPH_ERR_NOT_FOUND when no such seq. Own read
 * transaction; any thread. */
enum hub_err hub_store_link(struct hub_store *s, uint64_t seq, unsigned char link[16],
                            struct hub_error *err);

/* Data protection (hub/erase.h). Hooks for erasure and restriction, kept
 * apart from the write path: the erase module owns its databases in
 * data.mdb (opened with hub_store_dbi, written through the batch's redo
 * recorder); the store only reads the one below where an erased event
 * must still dedup and verify.
 *
 * CSPH_STORE_ERASED_DB: seq -> erasure seq (8 bytes, little-endian) and
 * the SHA-256 of the event bytes the erasure removed (32 bytes). A resend
 * of an erased event (same source and id) is a duplicate when its bytes
 * hash to that; verify accepts a redacted event only as its erasure event
 * lists it (hub_store_verify_with). */
#define CSPH_STORE_ERASED_DB "dp.erased"
#define CSPH_STORE_ERASED_LEN 40

/* One event by seq as the open batch sees it (its own earlier writes
 * included); CSPH_ERR_NOT_FOUND when absent. Only inside a batch. */
enum hub_err hub_store_batch_get(struct hub_store *s, uint64_t seq, hub_store_event_fn fn,
                                 void *ctx, struct hub_error *err);
/* Visit the seqs of the events naming ref (kind as hub_store_index_ref)
 * as the open batch's index transaction sees them, in (occurred_at, seq)
 * order. Only inside a batch. */
enum hub_err hub_store_batch_refs(struct hub_store *s, char kind, const char *ref, size_t len,
                                  hub_store_ref_fn fn, void *ctx, struct hub_error *err);
/* Replace the event bytes of seq with body (len bytes), keeping its times,
 * type, source and stored link, through the batch's recorder. link gets
 * the stored link and kept the SHA-256 of the new value without its link
 * (times, type, source, body: what verify then checks it against). The
 * chain no longer covers the event: only an erasure event listing it
 * makes the log verify. Only inside a batch. */
enum hub_err hub_store_rewrite(struct hub_store *s, uint64_t seq, const void *body, size_t len,
                               unsigned char link[16], unsigned char kept[32],
                               struct hub_error *err);
/* Drop (drop 1) or count (drop 0) every kept rejection whose stored
 * record holds the len bytes at needle anywhere (its bytes, which may not
 * parse, its message, its source), through the batch's recorder, keeping
 * each source's usage right. *n is how many. Only inside a batch. */
enum hub_err hub_store_reject_drop_matching(struct hub_store *s, const void *needle, size_t len,
                                            int drop, uint64_t *n, struct hub_error *err);
/* Retention (hub/sweep.h): drop the kept rejections received before
 * before_ms, oldest first, at most max (*more 1 when more are due), like
 * hub_store_reject_drop_matching. Only inside a batch. */
enum hub_err hub_store_reject_drop_before(struct hub_store *s, int64_t before_ms, uint64_t max,
                                          uint64_t *dropped, int *more, struct hub_error *err);
/* Whether a stored event whose link does not match is an erasure's
 * redaction: ev as stored, link its stored link, kept the SHA-256 of its
 * value without the link, erasure the event CSPH_STORE_ERASED_DB names
 * for it (after it in the log). Returns 1 to accept it (the chain goes on
 * from its stored link), 0 to report it altered. */
typedef int (*hub_store_redacted_fn)(void *ctx, const struct hub_stored_event *ev,
                                     const unsigned char link[16], const unsigned char kept[32],
                                     const struct hub_stored_event *erasure);
/* hub_store_verify, accepting redacted events that fn accepts (NULL: none). */
enum hub_err hub_store_verify_with(struct hub_store *s, hub_store_redacted_fn fn, void *ctx,
                                   uint64_t *checked, uint64_t *bad_seq,
                                   unsigned char last_link[16], struct hub_error *err);

#endif
