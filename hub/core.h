/* core.h: one owner for the batch. The core opens the object graph of a
 * data directory (the log store, the panel queues, the ingest over them)
 * and owns the order of every write:
 *
 *   hub_core_batch_begin    the index brought level with the log when it
 *                            is behind, the log's write transaction, the
 *                            queues' numbering opened for the batch;
 *   (inside)                 hub_ingest_* on hub_core_ingest(), and the
 *                            queue writes below (ack, an alert's panel);
 *   hub_core_batch_commit   the batch made durable (today a synced LMDB
 *                            commit): once it returns OK, replies may go;
 *   hub_core_batch_abort    the batch dropped: the state is what the
 *                            committed log implies;
 *   hub_core_batch_settle   after the replies: what the commit made
 *                            durable put where reads find it for good
 *                            (today the index's commit, every so many
 *                            batches), and the panels whose new alerts are
 *                            readable handed out (hub_core_take_readable).
 *
 * Commit and settle are two steps on purpose: a journal ahead of LMDB
 * (issue 14) makes commit its append and flush (the acknowledgement point)
 * and moves the LMDB commit into settle, without a change for the callers.
 * A held fetch is woken only from hub_core_take_readable, after the
 * commit that acknowledged the alert (the server does so before settle:
 * hub_core_fetch reads what the journal acknowledged), so it never sees
 * an alert before it is readable.
 *
 * The live hub (server.c), re-derivation and --what-if (rederive.c,
 * whatif.c), recovery at start (hub_core_recover) and the bench's store
 * baseline all drive this object; none of them sees an MDB_txn.
 *
 * Caveats
 * - One batch at a time, on the thread that opened the core. begin with a
 *   batch open, commit or abort without one, and settle inside one are
 *   refused with CSPH_ERR_INTERNAL (a programmer's error, never input).
 * - After a failed commit the batch is gone as after an abort.
 * - The core borrows cfg, the schemas and the rules: they must outlive it
 *   (hub_core_set_rules swaps the rules between batches). */
#ifndef CSPH_CORE_H
#define CSPH_CORE_H

#include <stdint.h>

#include "config.h"
#include "err.h"
#include "ingest.h"
#include "queues.h"
#include "rules.h"
#include "schema.h"
#include "store.h"

struct hub_core;

struct hub_core_opts {
    const struct hub_config *cfg;  /* panels and limits; borrowed */
    const char *dir;               /* the data directory */
    uint64_t map_size;             /* the log's LMDB map (ignored read-only) */
    struct hub_schemas *schemas;   /* borrowed; NULL: raw appends only (the bench) */
    struct hub_rules *rules;       /* borrowed; NULL: no rules in force */
    int readonly;   /* an auditor's read of a running hub's log: no lock, no batch */
    int apply_limits; /* apply cfg's bounds on kept rejections and the index's write mode */
    int journal;    /* acknowledge through the journal (store.h): the live hub */
    int scratch;    /* a throw-away directory (what-if's): commits not synced */
};

/* Open the store in o->dir (creating it unless read-only), the queues
 * beside it and the ingest over both. Errors: those of hub_store_open and
 * hub_queues_open (CSPH_ERR_LOCKED, CSPH_ERR_IO, ...). Nothing is caught up
 * here: hub_core_recover does it before a hub serves. */
enum hub_err hub_core_open(struct hub_core **out, const struct hub_core_opts *o,
                           struct hub_error *err);
/* Close and NULL *c; accepts NULL. An open batch is aborted; held index
 * work is settled. */
void hub_core_close(struct hub_core **c);

/* Recovery before serving: bring the index level with the log (after a
 * kill, a crash or a power cut), rebuilding it in place when it turns out
 * damaged. *caught is how many events were applied. */
enum hub_err hub_core_recover(struct hub_core *c, uint64_t *caught, struct hub_error *err);

enum hub_err hub_core_batch_begin(struct hub_core *c, struct hub_error *err);
enum hub_err hub_core_batch_commit(struct hub_core *c, struct hub_error *err);
void hub_core_batch_abort(struct hub_core *c);
/* *held (unless NULL) is 1 while settled work is still held back (the
 * index holds batches): call hub_core_settle_all once the hub goes quiet. */
enum hub_err hub_core_batch_settle(struct hub_core *c, int *held, struct hub_error *err);
/* Settle everything held now (a quiet hub, a reload, the end of a
 * replay). Refused inside a batch like hub_core_batch_settle. */
enum hub_err hub_core_settle_all(struct hub_core *c, struct hub_error *err);
/* 1 between begin and commit or abort. */
int hub_core_batch_open(const struct hub_core *c);
/* What the journal acknowledged, into LMDB (synced), where reads with
 * their own transactions find it. hub_core_store and hub_core_queues do
 * it too outside a batch: a read through them sees every acknowledged
 * write. Refused inside a batch. */
enum hub_err hub_core_flush(struct hub_core *c, struct hub_error *err);
/* Bit i: panel i got alerts that have become readable by a fetch
 * (hub_core_fetch) since the last call: those of every batch committed
 * since, acknowledged through the journal or by LMDB. Cleared by the
 * call. */
uint64_t hub_core_take_readable(struct hub_core *c);
/* Alerts raised since the core opened: by committed batches and by the
 * open batch (whose alerts go again if it is aborted). In a fresh
 * directory they are alerts 1 to this number. */
uint64_t hub_core_alerts_raised(const struct hub_core *c);
/* Events one batch should hold at most: the index keeps a batch's work in
 * one transaction, and written with write() (a large index) LMDB holds
 * each page it dirties in memory until that commit, so the events of a
 * batch bound the hub's memory (store.h, hub_store_index_hold_events). */
uint64_t hub_core_batch_events_max(const struct hub_core *c);

/* Writes inside the batch that are not events. */
/* Move consumer's cursor (hub_queues_ack). */
enum hub_err hub_core_ack(struct hub_core *c, int panel_index, const char *consumer,
                          size_t consumer_len, uint64_t upto, const char *identity,
                          struct hub_error *err);
/* The panel of alert id as the batch sees it (hub_queues_panel_of). */
enum hub_err hub_core_alert_panel(struct hub_core *c, uint64_t id, int *panel,
                                  struct hub_error *err);
/* What the rules need of alert id as the batch sees it
 * (hub_queues_alert_brief; free it with hub_alert_brief_free). */
enum hub_err hub_core_alert_brief(struct hub_core *c, uint64_t id, struct hub_alert_brief *b,
                                  struct hub_error *err);
/* An event appended as it is, no schema, no rules (the bench's baseline of
 * the storage layer): hub_store_append in the batch. */
enum hub_err hub_core_append_raw(struct hub_core *c, const struct hub_append *ev,
                                 uint64_t *seq, int *duplicate, struct hub_error *err);

/* Faults healed between batches (store.h, "Faults"). */
int hub_core_needs_heal(const struct hub_core *c);
enum hub_err hub_core_heal(struct hub_core *c, int *more, struct hub_error *err);

/* The rules in force from the next batch (NULL: none). Refused inside a
 * batch. The caller keeps ownership of both sets. */
enum hub_err hub_core_set_rules(struct hub_core *c, struct hub_rules *rules,
                                struct hub_error *err);
struct hub_rules *hub_core_rules(const struct hub_core *c);

/* Borrowed parts, valid until hub_core_close: the ingest for the hub's
 * own events and the rule set's history (hub_ingest_* inside a batch, or
 * their own transactions outside one), the store and the queues for reads. */
struct hub_ingest *hub_core_ingest(struct hub_core *c);
struct hub_store *hub_core_store(struct hub_core *c);
struct hub_queues *hub_core_queues(struct hub_core *c);
/* A consumer's fetch (hub_queues_fetch) that sees every acknowledged
 * alert. Between batches it reads the store's held transaction, which
 * holds what the journal made durable and LMDB has not committed yet
 * (hub_store_held_txn), instead of committing it first: a fetch held for
 * an alert is answered after the one sync that acknowledged the alert's
 * event, not after a further LMDB commit with its own syncs. Inside a
 * batch it reads the batch's transaction: what was acknowledged and what
 * the batch's earlier requests wrote (an ack before it). That is safe
 * because a batch's replies go only after its commit, and a failed
 * batch answers every request, this fetch too, with the failure. */
enum hub_err hub_core_fetch(struct hub_core *c, int panel, const char *consumer, size_t clen,
                            uint32_t max, int view, size_t room, msgpack_packer *pk, uint32_t *count,
                            uint64_t *last, int *end, struct hub_error *err);
/* The queues as LMDB holds them, without putting the journal's held
 * batches into it first: for what may lag by the held batches (the next
 * deadline, re-read when they are put in). */
struct hub_queues *hub_core_queues_committed(struct hub_core *c);

#endif
