/* actions.h: the action index. An action is something a panel asked an
 * agency or a person to do for a case, by a due date: created with a
 * decision or on a case (action.created), then done, not done (with a
 * reason) or re-timed (action.updated). An action past its due date with
 * no update is escalated once: the hub writes a timer.fired {timer:
 * action} and the rule `action.overdue` puts it on the panel's queue.
 *
 * In data.mdb, written by panelwork.c as events are applied (live or
 * replayed), every write through the journal's recorder (pwstore.h):
 *   actions          id (be64) -> the action record (msgpack array)
 *   actions_due      point(due, id) -> "" : the pending escalation timers
 *   actions_owner    owner -> id (dupsort): an agency's own actions
 *   actions_open     panel -> id (dupsort): a panel's incomplete actions
 *   case_actions     panel \0 key -> id (dupsort): a case's actions */
#ifndef CSPH_ACTIONS_H
#define CSPH_ACTIONS_H

#include <lmdb.h>
#include <msgpack.h>
#include <stdint.h>

#include "cases.h"
#include "err.h"
#include "store.h"

#define CSPH_ACTION_WHAT_MAX 500
#define CSPH_ACTION_REASON_MAX 500

enum hub_action_status { CSPH_ACTION_OPEN, CSPH_ACTION_DONE, CSPH_ACTION_NOT_DONE };
const char *hub_action_status_name(int status);

struct hub_action {
    uint64_t id;
    char panel[65];
    char key[CSPH_CASE_KEY_MAX + 1];
    char what[CSPH_ACTION_WHAT_MAX + 1];
    char owner[65];
    char owner_kind;       /* 'a' an agency, 'p' a person (a console account) */
    int64_t due_ms;
    int status;            /* enum hub_action_status */
    char reason[CSPH_ACTION_REASON_MAX + 1]; /* not done: why; re-timed: why */
    uint64_t created_seq;
    int64_t created_ms;
    int64_t updated_ms;    /* the last update's received_at, 0: none */
    uint64_t alert;        /* the decision it came with, 0: made on the case */
    int escalated;         /* its timer fired with no update */
    int on_time;           /* done by its due time */
    uint32_t retimed;      /* times re-timed */
};

/* The next action id in the batch's transaction (1 + the highest). */
enum hub_err hub_actions_next_id(struct hub_store *s, uint64_t *id, struct hub_error *err);
/* Action id in txn: *found 0 when none. */
enum hub_err hub_actions_get(struct hub_store *s, MDB_txn *txn, uint64_t id,
                             struct hub_action *a, int *found, struct hub_error *err);
/* Write a in the batch's transaction and keep its indexes: old (NULL for
 * a new action) is the record it replaces. */
enum hub_err hub_actions_put(struct hub_store *s, const struct hub_action *a,
                             const struct hub_action *old, struct hub_error *err);

/* Visit actions in txn: by owner (owner != NULL), a panel's incomplete
 * ones (panel != NULL, key NULL), or a case's (panel and key). fn returns
 * nonzero to stop. */
typedef int (*hub_actions_fn)(void *ctx, const struct hub_action *a);
enum hub_err hub_actions_each(struct hub_store *s, MDB_txn *txn, const char *owner,
                              const char *panel, const char *key, hub_actions_fn fn, void *ctx,
                              struct hub_error *err);

/* The earliest pending escalation in txn: 1 and *due_ms, or 0. */
int hub_actions_next_due(struct hub_store *s, MDB_txn *txn, int64_t *due_ms);
/* Take up to max escalations <= now_ms out of the index (batch's
 * transaction) into ids/dues; *n how many. */
enum hub_err hub_actions_take_due(struct hub_store *s, int64_t now_ms, uint64_t *ids,
                                  int64_t *dues, size_t max, size_t *n, struct hub_error *err);

/* The record's encoding (exposed for the unit test). */
void hub_actions_pack(msgpack_sbuffer *sb, const struct hub_action *a);
int hub_actions_unpack(const void *p, size_t n, struct hub_action *a);
/* a as a reply map: {id, panel, key, what, owner, owner_kind, due_at,
 * status, reason?, created_at, updated_at?, alert?, escalated, on_time}.
 * restricted: a restricted panel's action seen by someone who may only
 * learn it exists: {id, panel, key, due_at, status}. */
void hub_actions_pack_reply(msgpack_packer *pk, const struct hub_action *a, int restricted);

/* The actions of case (panel, key) moved to case (panel, to): their
 * records' key and the case index, in the batch's transaction (an
 * erasure: alertredact.h). *n is how many. */
enum hub_err hub_actions_rename_case(struct hub_store *s, const char *panel, const char *key,
                                     size_t key_len, const char *to, uint64_t *n,
                                     struct hub_error *err);

#endif
