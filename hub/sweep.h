/* sweep.h: the retention sweep (issue 17, points 1 and 7; docs/retention.md).
 *
 * A pass walks the log in seq order, measuring every event against its
 * period (retention.h) as of the hub's clock when the pass began, and
 * removes the bodies of expired events exactly as an erasure redacts a
 * record (erase.h, hub_erase_redact with no person: only id, type,
 * occurred_at and source stay; the stored times, type, source and link
 * too). A person under legal hold (hold.h) keeps every event naming them.
 * Expired kept rejections go whole.
 *
 * A pass goes in steps, each in two parts:
 * - hub_sweep_scan, between batches with a read transaction: finds up to
 *   CSPH_ERASE_PER_EVENT candidates within the step's time budget (no
 *   write transaction is open while it looks);
 * - hub_sweep_apply, inside a batch the caller owns (hub_core_batch_begin
 *   ... commit), for at most the same budget (candidates left over wait
 *   for the next step): checks each candidate again as the batch sees it (held,
 *   removed already, the last activity of the people it names), rewrites
 *   it through hub_store_rewrite, drops its person-index entries, and
 *   appends one dp.retention event (source hub, chained) listing each
 *   rewritten seq in dp.erasure's record format, with dp.erased mapping
 *   each seq to it (a resend of the event is a duplicate; --verify and
 *   check-chain.py accept the record).
 * A step is one batch: a kill -9 leaves it whole or absent, never a
 * rewritten event without its listing.
 *
 * After the event walk the pass walks the alerts in id order
 * (sweepalerts.h): an alert past its panel's period is expired in a step
 * of its own the same way, in the step's batch, its id listed in the
 * step's dp.retention event (alerts, alert_ids, alerts_held).
 *
 * Where the pass is is saved (sweeppos.h) in the step's own batch, and, for
 * steps that found nothing to remove, in a batch of its own at most once a
 * second (CSPH_SWEEP_SAVE_MS) and when the pass reaches the log's end. A
 * start resumes from it (hub_sweep_resume): an unfinished pass goes on
 * where it was saved, measured as of its own time still (which keeps more,
 * never less; the next pass catches up); a finished one waits for the
 * next pass (began + every) instead of walking the log again. A new pass
 * begins from seq 1 instead when the retention file is not the one the
 * saved pass ran under (a period or the sweep's settings changed), when
 * the saved position is past the log's end (a restore from an older
 * backup), or when the hub clock is before the saved pass began.
 *
 * Knows no sockets. */
#ifndef CSPH_SWEEP_H
#define CSPH_SWEEP_H

#include <stdint.h>

#include "err.h"
#include "ops.h"
#include "retention.h"
#include "sweeppos.h"

struct hub_sweep;

/* What one step did (apply), and the totals since the sweep was made. */
struct hub_sweep_stats {
    uint64_t examined;   /* events the scans looked at (each once a pass) */
    uint64_t removed;    /* event bodies removed */
    uint64_t held;       /* expired events kept for a legal hold */
    uint64_t rejections; /* kept rejections removed */
    uint64_t steps;      /* steps that wrote (a dp.retention event each) */
    uint64_t passes;     /* passes finished */
    uint64_t last_seq;   /* the last dp.retention event written, 0 none */
    uint64_t saves;      /* batches that saved only the position */
    uint64_t alerts;     /* alerts expired (sweepalerts.h) */
    uint64_t alerts_held; /* expired alerts kept for a legal hold */
    uint64_t alerts_examined; /* alerts the scans looked at (each once a pass) */
};

/* How often at most a step that removed nothing saves the position. */
#define CSPH_SWEEP_SAVE_MS 1000

enum hub_err hub_sweep_new(struct hub_sweep **out, struct hub_error *err);
void hub_sweep_destroy(struct hub_sweep **sw);

/* Begin a pass measured as of now_ms (one running goes on from where it
 * is, with the new time). */
void hub_sweep_begin_pass(struct hub_sweep *sw, int64_t now_ms);
/* Begin a new pass from seq 1 as of now_ms, whatever is running (the
 * retention file changed). */
void hub_sweep_restart(struct hub_sweep *sw, int64_t now_ms);

/* At start, before the first step (no batch open): take up the saved
 * position (above) if it may be. What happened, for the hub's log. */
enum hub_sweep_resumed {
    CSPH_SWEEP_NONE_SAVED, /* nothing saved: the first pass begins at seq 1 */
    CSPH_SWEEP_RESUMED,    /* an unfinished pass goes on from *pos */
    CSPH_SWEEP_WAITING,    /* the saved pass had finished: the next is due at began + every */
    CSPH_SWEEP_NEW_POLICY, /* saved under another retention file: a new pass */
    CSPH_SWEEP_STALE       /* unreadable, past the log's end or ahead of the clock: a new pass */
};
enum hub_sweep_resumed hub_sweep_resume(struct hub_sweep *sw, struct hub_store *st,
                                        const struct hub_retention *r, int64_t now_ms,
                                        struct hub_sweep_pos *pos);
/* 1 while a pass has events left to look at. */
int hub_sweep_active(const struct hub_sweep *sw);
/* The hub clock reading the last pass began at (0: none yet). */
int64_t hub_sweep_pass_began(const struct hub_sweep *sw);

/* Part one of a step, outside a batch: look for expired events from where
 * the pass is, for at most budget_us. *work is 1 when apply has something
 * to do (candidates or expired rejections). r, s and cfg are borrowed. */
enum hub_err hub_sweep_scan(struct hub_sweep *sw, struct hub_core *core,
                            const struct hub_schemas *s, const struct hub_config *cfg,
                            const struct hub_retention *r, uint64_t budget_us, int *work,
                            struct hub_error *err);
/* Part two, inside the caller's batch (h->core's). CSPH_ERR_BUSY or
 * CSPH_ERR_INTERNAL: abort the batch (the step is tried again). */
enum hub_err hub_sweep_apply(struct hub_sweep *sw, struct hub_ctx *h,
                             const struct hub_retention *r, struct hub_error *err);
/* The step's writes are durable (its batch committed) or gone (aborted):
 * counted or forgotten. */
void hub_sweep_step_done(struct hub_sweep *sw, int committed);

/* Inside the caller's batch: save where the pass is. hub_sweep_apply does
 * it itself; a step with nothing to apply does it alone when
 * hub_sweep_save_due says so (now_ns: a monotonic clock, uv_hrtime). */
enum hub_err hub_sweep_save(struct hub_sweep *sw, struct hub_store *st,
                            const struct hub_retention *r, uint64_t now_ns,
                            struct hub_error *err);
int hub_sweep_save_due(const struct hub_sweep *sw, uint64_t now_ns);

/* A whole step through h->core, as the hub runs it: the scan, then, when
 * it found something to remove or the position is due to be saved, one
 * batch (begin, apply and/or save, commit); then hub_sweep_step_done.
 * *wrote is 1 when a batch committed (the caller settles it), *txn_us its
 * begin-to-commit time. An error leaves the step to be tried again. */
enum hub_err hub_sweep_step(struct hub_sweep *sw, struct hub_ctx *h,
                            const struct hub_retention *r, int *wrote, uint64_t *txn_us,
                            struct hub_error *err);

const struct hub_sweep_stats *hub_sweep_stats(const struct hub_sweep *sw);

/* 1 when person ref (len bytes) has an event since from_ms in the
 * committed person index (a scan, outside a batch). */
int hub_sweep_person_active(struct hub_store *st, const char *ref, size_t len, int64_t from_ms);
/* The last activity of person ref: the latest occurred_at of the events
 * naming them as the open batch's index sees it (INT64_MIN: none), cached
 * for the pass. Inside a batch. */
enum hub_err hub_sweep_last_activity(struct hub_sweep *sw, struct hub_store *st, const char *ref,
                                     size_t len, int64_t *out, struct hub_error *err);

/* as_of_ms less p (calendar arithmetic as hub_period_end): a record dated
 * before it has expired. INT64_MIN when p is no span. */
int64_t hub_sweep_cutoff(const struct hub_period *p, int64_t as_of_ms);

#endif
