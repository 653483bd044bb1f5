/* decision.h: the decision workflow of alert.update (PROTOCOL.md 5).
 *
 * An alert's status moves open -> acknowledged -> accepted | declined ->
 * closed (acknowledging may be skipped), and closed -> open with a note
 * (a reopening). Anything else is refused with `conflict`, naming the
 * current status. A request that repeats the current status by the person
 * who recorded it is a resend after a lost reply: it is answered with the
 * original seq and nothing is written. `expect` (the status the person saw)
 * makes a concurrent change fail.
 *
 * The workflow is checked on requests only: replaying or re-deriving a log
 * applies its alert.status events whatever moves they make, so logs written
 * before the workflow keep replaying.
 *
 * Who recorded the current status (and at which seq) is kept in the
 * `decisions` database of the store's environment, written in the batch's
 * transaction each time an alert.status event is applied (live or
 * replayed), so it follows the log. An alert decided before that database
 * existed has no record: a repeat of its status is then refused as a
 * conflict rather than guessed to be a resend. */
#ifndef CSPH_DECISION_H
#define CSPH_DECISION_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "queues.h"
#include "store.h"
#include "wire.h"

#define CSPH_DECISION_BY_MAX 64

/* The last decision recorded on an alert. */
struct hub_decision {
    uint64_t seq; /* its alert.status event */
    int status;   /* enum hub_alert_status */
    char by[CSPH_DECISION_BY_MAX + 1]; /* "" when the event named nobody */
};

/* What an alert.update asks for. Strings borrowed for the call. */
struct hub_decision_request {
    uint64_t id;
    int status;    /* enum hub_alert_status, the one asked for */
    int expect;    /* the status the person saw; -1: not given */
    const char *by; /* who decides ("" when nobody is named) */
    size_t by_len;
    size_t note_len;
};

/* Whether the workflow allows from -> to. Pure. */
int hub_decision_allowed(enum hub_alert_status from, enum hub_alert_status to);

/* Check r against the alert's current status and its last recorded
 * decision (last NULL: none recorded). Pure. Returns CSPH_ERR_OK with
 * *repeat_seq 0 when the change may be recorded, CSPH_ERR_OK with
 * *repeat_seq the original seq when r repeats the last decision by the
 * same person (nothing to write), CSPH_ERR_CONFLICT (field `expect` or
 * `status`) naming the current status when it may not, and
 * CSPH_ERR_BAD_REQUEST (field `note`) for a reopening without a note. */
enum hub_err hub_decision_check(int current, const struct hub_decision *last,
                                const struct hub_decision_request *r, uint64_t *repeat_seq,
                                struct hub_error *err);

/* The last decision recorded on alert id in txn (a transaction of the
 * store's environment): *found 0 when none. */
enum hub_err hub_decision_get(struct hub_store *s, MDB_txn *txn, uint64_t id,
                              struct hub_decision *out, int *found, struct hub_error *err);
/* Visit every decision recorded on alert id, oldest first, in txn (any
 * transaction of the store's environment; a read transaction that opened
 * the database's handle must be committed, not aborted, to keep it). fn
 * returns nonzero to stop. */
typedef int (*hub_decision_fn)(void *ctx, const struct hub_decision *d);
enum hub_err hub_decision_each(MDB_txn *txn, uint64_t id, hub_decision_fn fn, void *ctx,
                               struct hub_error *err);
/* Record decision d on alert id in the batch's write transaction
 * (replacing the previous one). by longer than CSPH_DECISION_BY_MAX is
 * cut (the schema bounds it to that). */
enum hub_err hub_decision_record(struct hub_store *s, uint64_t id,
                                 const struct hub_decision *d, struct hub_error *err);

/* An alert.update's workflow fields into *out: `status` (required),
 * `expect` (optional), `by`. identity is the caller's identity name in
 * curve mode (NULL in none mode): there `by` is the identity, and a `by`
 * naming anyone else is FORBIDDEN; in none mode `by` is what the client
 * says, if anything. by_buf (CSPH_DECISION_BY_MAX + 1 bytes) receives who
 * decides and out->by points to it. BAD_REQUEST naming the field for a
 * value that is not a status or a name. */
enum hub_err hub_decision_parse(const struct hub_request *r, const char *identity,
                                struct hub_decision_request *out, char *by_buf,
                                struct hub_error *err);

/* Admit request r on alert id inside the batch's write transaction: the
 * alert's current status (queues) and last decision (this module's
 * database) through hub_decision_check. *panel_index gets the alert's
 * panel (-1: no longer configured), so the caller can check the panel
 * before answering anything else; NOT_FOUND when no such alert. */
enum hub_err hub_decision_admit(struct hub_queues *q, struct hub_store *s,
                                const struct hub_decision_request *r, int *panel_index,
                                uint64_t *repeat_seq, struct hub_error *err);

#endif
