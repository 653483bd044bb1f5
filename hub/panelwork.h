/* panelwork.h: a panel's work after the alert (issue 19), as the log
 * drives it: cases opened by accepted alerts and closed with an outcome,
 * actions and their escalation, reviews on a cadence by risk level,
 * hearings. Every change comes from an event; this module applies each
 * event to the case and action indexes (cases.h, actions.h) inside the
 * batch, live and when a log is replayed or re-derived, so the log alone
 * rebuilds them (hub_panelwork_compare proves it).
 *
 * What it applies (docs/panels.md):
 *   alert.status accepted   opens the case (panel, first key value) unless
 *                           one is open; its risk is the alert's priority
 *   case.update closed      closes it with `outcome`; its timers stop
 *   case.update risk        re-times the next review to the new cadence
 *   case.update reviewed    records a review, closes the open review.due
 *                           alert and sets the next review
 *   case.heard              the last hearing's date
 *   action.created/updated  the action index and its escalation timer
 *   timer.fired review      the review is pending (rule review.due alerts)
 *   timer.fired action      the action is escalated (rule action.overdue)
 *
 * Hooks into shared files: hub_ingest_event (apply), publish (check),
 * the server's deadline timer (next_due, fire_due), rederive (compare). */
#ifndef CSPH_PANELWORK_H
#define CSPH_PANELWORK_H

#include <lmdb.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "err.h"
#include "schema.h"
#include "store.h"

struct hub_ingest;

/* Apply event obj (seq, received at received_ms) to the indexes, in the
 * batch. Events of other types change nothing. BUSY or INTERNAL lose the
 * batch. */
enum hub_err hub_panelwork_apply(struct hub_ingest *g, const struct hub_event_info *info,
                                 const msgpack_object *obj, uint64_t seq, int64_t received_ms,
                                 struct hub_error *err);

/* What the schema cannot check of a published case.update: `outcome`
 * must be one of the panel's outcomes, and only on `closed`. BAD_EVENT
 * naming `outcome`; OK for every other event. */
enum hub_err hub_panelwork_check_event(const struct hub_config *cfg,
                                       const struct hub_event_info *info,
                                       const msgpack_object *obj, struct hub_error *err);

/* After a decision (alert.status seq on alert id) is written: when it
 * opened a case, record that as a case.opened event (by and gateway as
 * the decision's; NULL: none), what reports count as a cohort's entries.
 * Only events: replaying the log rebuilds the case from the alert.status. */
enum hub_err hub_panelwork_decided(struct hub_ingest *g, uint64_t id, uint64_t seq,
                                   const char *by, const char *gateway, int64_t now_ms,
                                   struct hub_error *err);

/* The earliest action or review timer in the committed indexes (own read
 * transaction): 1 and *due_ms, or 0. */
int hub_panelwork_next_due(struct hub_store *s, int64_t *due_ms);
/* Write a timer.fired for up to max action and review timers <= now_ms
 * (in the batch). *fired is how many. */
enum hub_err hub_panelwork_fire_due(struct hub_ingest *g, int64_t now_ms, size_t max,
                                    size_t *fired, struct hub_error *err);

/* The case and action records of a store as of txn (a read transaction:
 * re-derivation takes them in the snapshot it reads the hub's alerts in). */
struct hub_panelwork_snapshot;
enum hub_err hub_panelwork_snapshot_take(struct hub_store *s, MDB_txn *txn,
                                         struct hub_panelwork_snapshot **out,
                                         struct hub_error *err);
void hub_panelwork_snapshot_free(struct hub_panelwork_snapshot **snap);
/* Compare the hub's snapshot a with a re-derived store b (its own read
 * transaction), writing each difference to out (at most 20 lines) and a
 * summary line. Returns how many records differ, or -1 when b cannot be
 * read. A hub whose log has no case index at all (written before cases
 * existed) is not compared: the line says so and 0 is returned. */
long hub_panelwork_compare(const struct hub_panelwork_snapshot *a, struct hub_store *b,
                           FILE *out);

/* A hub event of type with the fields packed by fill (nfields pairs), its
 * id from id_prefix and the next seq, ingested in the batch: *seq. */
typedef void (*hub_panelwork_fill_fn)(void *ctx, msgpack_packer *pk);
enum hub_err hub_panelwork_emit(struct hub_ingest *g, const char *type, const char *id_prefix,
                                uint32_t nfields, hub_panelwork_fill_fn fill, void *ctx,
                                int64_t now_ms, uint64_t *seq, struct hub_error *err);

#endif
