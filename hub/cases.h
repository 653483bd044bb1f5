/* cases.h: the case index. A case is (panel, key): opened by the first
 * accepted alert for that key on that panel (a referral is accepted as
 * its alert is), closed by a case.update of `closed` with an outcome
 * (docs/PROTOCOL.md 5.1). The key is the text of the alert key's first
 * value (the victim of a victim + perpetrator key).
 *
 * Kept in data.mdb beside the queues, written by panelwork.c as events
 * are applied (live or replayed), so the log alone rebuilds it:
 *   cases      panel \0 key -> the case record (msgpack array)
 *   cases_due  point(next review, 0) panel \0 key -> "" : one pending
 *              review timer per open case with a cadence (panelcfg.h)
 * Every write goes through the journal's recorder (pwstore.h). */
#ifndef CSPH_CASES_H
#define CSPH_CASES_H

#include <lmdb.h>
#include <msgpack.h>
#include <stdint.h>

#include "err.h"
#include "panelcfg.h"
#include "store.h"

#define CSPH_CASE_KEY_MAX 100

struct hub_case {
    char panel[65];
    char key[CSPH_CASE_KEY_MAX + 1];
    int open;              /* 1 open, 0 closed */
    uint64_t opened_seq;   /* the alert.status (accepted) that opened it */
    int64_t opened_ms;     /* its received_at */
    uint64_t alert;        /* the alert accepted */
    int risk;              /* enum hub_priority; the opening alert's priority until re-risked */
    char outcome[CSPH_OUTCOME_LEN + 1]; /* "" while open, or closed with none */
    uint64_t closed_seq;
    int64_t closed_ms;
    int64_t heard_day;     /* the last hearing's meeting day (panelcfg.h days), 0: never */
    int64_t review_due_ms; /* the next (or pending) review, 0: none */
    int review_pending;    /* its timer fired and no review recorded since */
    uint32_t reviews;      /* reviews recorded */
    uint32_t reviews_on_time; /* ... recorded by their due time */
};

/* The case (panel, key) in txn: *found 0 when none. */
enum hub_err hub_cases_get(struct hub_store *s, MDB_txn *txn, const char *panel, const char *key,
                           size_t key_len, struct hub_case *c, int *found,
                           struct hub_error *err);
/* Write c (in the batch's transaction). The review timer follows
 * c->review_due_ms: old_due_ms is the timer it had (0: none). */
enum hub_err hub_cases_put(struct hub_store *s, const struct hub_case *c, int64_t old_due_ms,
                           struct hub_error *err);

/* Visit the cases of panel (every one when panel is NULL) in key order in
 * txn; fn returns nonzero to stop. */
typedef int (*hub_cases_fn)(void *ctx, const struct hub_case *c);
enum hub_err hub_cases_each(struct hub_store *s, MDB_txn *txn, const char *panel,
                            hub_cases_fn fn, void *ctx, struct hub_error *err);

/* The earliest pending review timer in txn: 1 and *due_ms, or 0. */
int hub_cases_next_due(struct hub_store *s, MDB_txn *txn, int64_t *due_ms);
/* Take up to max review timers <= now_ms out of the index (batch's
 * transaction) into out; *n how many. Their cases keep review_due_ms. */
struct hub_case_due {
    char panel[65];
    char key[CSPH_CASE_KEY_MAX + 1];
    int64_t due_ms;
};
enum hub_err hub_cases_take_due(struct hub_store *s, int64_t now_ms, struct hub_case_due *out,
                                size_t max, size_t *n, struct hub_error *err);

/* The record's encoding (exposed for the unit test and the comparison of
 * re-derivation). pack writes into sb; unpack fails (-1) on bytes it did
 * not write. */
void hub_cases_pack(msgpack_sbuffer *sb, const struct hub_case *c);
int hub_cases_unpack(const void *p, size_t n, struct hub_case *c);

/* Pack c as a reply map: {panel, key, status, opened_at, alert, risk,
 * outcome?, closed_at?, last_heard?, review_due?, review_pending}. */
void hub_cases_pack_reply(msgpack_packer *pk, const struct hub_case *c);

/* The case (panel, key) renamed to (panel, to) with its review timer, in
 * the batch's transaction (an erasure: alertredact.h); *renamed 0 when
 * there is no such case. */
enum hub_err hub_cases_rename(struct hub_store *s, const char *panel, const char *key,
                              size_t key_len, const char *to, int *renamed,
                              struct hub_error *err);

#endif
