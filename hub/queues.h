/* queues.h: panel queues. Alerts (numbered gap-free across panels),
 * each panel's queue, consumers' durable cursors, deadlines, and the
 * per-case index that `case.update` uses. All in the store's LMDB
 * environment, written in the batch's transaction.
 *
 * An alert as it crosses the wire (PROTOCOL.md 5):
 *   {id, panel, rule, rule_version, priority, key, reason, evidence,
 *    raised_at, due_at?, status}
 * For a restricted panel the queue shows only that a case exists: panel,
 * rule, priority, due date and the key's pseudonymous reference; reason is
 * a fixed sentence and evidence is empty. The full alert is kept for the
 * auditor (full = 1 below).
 *
 * Knows no sockets. */
#ifndef CSPH_QUEUES_H
#define CSPH_QUEUES_H

#include <lmdb.h>
#include <msgpack.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "rules.h"

struct hub_queues;

#define CSPH_ALERT_STATUS_MAP(X)                                               \
    X(OPEN, "open")                                                            \
    X(ACKNOWLEDGED, "acknowledged")                                            \
    X(ACCEPTED, "accepted")                                                    \
    X(DECLINED, "declined")                                                    \
    X(CLOSED, "closed")

enum hub_alert_status {
#define CSPH_AS_ENUM(name, str) CSPH_ALERT_##name,
    CSPH_ALERT_STATUS_MAP(CSPH_AS_ENUM)
#undef CSPH_AS_ENUM
    CSPH_ALERT__COUNT
};
const char *hub_alert_status_name(enum hub_alert_status s);
int hub_alert_status_parse(const char *s, size_t len);

/* What a deadline that passed needs to become a timer.fired event. */
struct hub_due_alert {
    uint64_t id;
    int64_t due_ms;
    int panel_index;
    enum hub_priority priority;
    char rule[128];
    char key[256]; /* the key's values, joined by ", " */
};

/* env is the store's environment; cfg gives the panels (borrowed, must
 * outlive the queues). Opens its databases in a write transaction of its
 * own. */
enum hub_err hub_queues_open(struct hub_queues **out, MDB_env *env,
                             const struct hub_config *cfg, struct hub_error *err);
void hub_queues_close(struct hub_queues **q);
/* After the store reopened its environment (hub_store_reopen_log): use
 * env from now on, its databases opened again. No transaction of the old
 * one may be open. */
enum hub_err hub_queues_reopen(struct hub_queues *q, MDB_env *env, struct hub_error *err);

/* Batch bracketing: call begin after the store's write_begin, and end with
 * committed = 1 after a successful commit (0 after an abort) so numbering
 * and the set of panels with new alerts stay exact. */
void hub_queues_txn_begin(struct hub_queues *q);
void hub_queues_txn_end(struct hub_queues *q, int committed);
/* Bit i set: panel i got an alert in the last committed batch. */
uint64_t hub_queues_touched(const struct hub_queues *q);

/* Number and store a draft inside txn. *id is the new alert's id. */
enum hub_err hub_queues_insert(struct hub_queues *q, MDB_txn *txn,
                               const struct hub_alert_draft *d, const char *rule_version,
                               uint64_t *id, struct hub_error *err);
/* Record a decision: status of alert id. Ends its deadline; `open` (a
 * reopening) arms it again under the due date on record. NOT_FOUND when no
 * such alert. *panel_index gets the alert's panel. */
enum hub_err hub_queues_set_status(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                   enum hub_alert_status status, int *panel_index,
                                   struct hub_error *err);
/* case.update for value on panel: closed ends that case's open deadlines;
 * otherwise, when risk is given (has_risk), the deadline moves to the
 * cadence rules give that priority, from each alert's raised_at. */
enum hub_err hub_queues_case_update(struct hub_queues *q, MDB_txn *txn,
                                    const struct hub_rules *rules, int panel_index,
                                    const char *value, size_t value_len, int closed,
                                    int has_risk, enum hub_priority risk,
                                    struct hub_error *err);
/* The earliest pending deadline (1 and *due_ms), or 0 when none. */
int hub_queues_next_due(struct hub_queues *q, int64_t *due_ms);
/* Take the alerts whose deadline is <= now_ms (at most max) out of the
 * deadline index inside txn, into out. *n is how many. */
enum hub_err hub_queues_take_due(struct hub_queues *q, MDB_txn *txn, int64_t now_ms,
                                 struct hub_due_alert *out, size_t max, size_t *n,
                                 struct hub_error *err);

/* The panel index of alert id (NOT_FOUND when no such alert). */
enum hub_err hub_queues_panel_of(struct hub_queues *q, MDB_txn *txn, uint64_t id, int *panel,
                                 struct hub_error *err);

/* What the rules need of an alert to follow a decision on it. */
struct hub_alert_brief {
    int panel_index; /* -1: a panel no longer configured */
    int status;
    int priority; /* enum hub_priority */
    char rule[65];
    size_t nkey;
    char key_values[CSPH_KEY_MAX_FIELDS][104];
    char key_tags[CSPH_KEY_MAX_FIELDS];
    uint64_t anchor_seq; /* the highest seq in its evidence */
    uint64_t *evidence;  /* its evidence (hub_alert_brief_free) */
    size_t nevidence;
};
/* In txn, or in a read transaction of its own when txn is NULL. On
 * success the caller frees it with hub_alert_brief_free. */
void hub_alert_brief_free(struct hub_alert_brief *b);
enum hub_err hub_queues_alert_brief(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                    struct hub_alert_brief *b, struct hub_error *err);

/* Alert id's status and panel (config index, -1 for a panel no longer
 * configured) in txn, reading nothing else (an alert's evidence may be
 * long: a decision needs only where it stands). NOT_FOUND when no such
 * alert. */
enum hub_err hub_queues_status_of(struct hub_queues *q, MDB_txn *txn, uint64_t id, int *status,
                                  int *panel_index, struct hub_error *err);

/* A timer.fired for alert id: its deadline no longer runs (the due date
 * stays on record). No-op when already spent or no such alert. */
enum hub_err hub_queues_timer_spent(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                    struct hub_error *err);

/* Move consumer's cursor on panel to upto (only forward). NOT_FOUND when
 * upto is not an alert of that panel. A new consumer's cursor is made only
 * within limits.consumers_per_panel_max and, for identity (NULL in
 * security none), limits.consumers_per_identity_max: TOO_LARGE (field
 * "consumer") beyond them. */
enum hub_err hub_queues_ack(struct hub_queues *q, MDB_txn *txn, int panel_index,
                            const char *consumer, size_t consumer_len, uint64_t upto,
                            const char *identity, struct hub_error *err);

/* How a read shows alerts (`view`, the bits below; 0: as the panel's
 * queue shows them to its own members, in security none to everyone). */
#define CSPH_QVIEW_FULL 1     /* restricted panels' alerts in full: the auditor */
#define CSPH_QVIEW_RESTRICT 2 /* persons under a standing restriction withheld
                               * (restrictview.h): every role but dpo and auditor */

/* Read side (own read transaction). Pack up to max alerts of panel into pk
 * as array items (the caller packs the array header): fetch = after the
 * consumer's cursor; list = after `after`, with status filter (status < 0:
 * any). *count is how many were packed, *last the last id examined (for
 * fetch: the last alert packed, or the cursor when none), *end whether
 * nothing is left. view: CSPH_QVIEW_* above. With CSPH_QVIEW_RESTRICT a
 * filter on a restricted person's reference matches nothing.
 *
 * room bounds the bytes packed (a reply's size limit less its envelope):
 * the walk stops before an alert that would not fit, so a reply carries
 * fewer than max and *end is 0. An alert that does not fit in room on its
 * own (only possible as the first of a reply) is packed with its evidence
 * cut to the first K seqs that fit, plus `evidence_total` (the whole
 * evidence's length) and `evidence_next` (K): hub_queues_evidence gives
 * the rest.
 *
 * fetch reads in `in` when given (the store's held transaction, between
 * batches: hub_core_fetch), else in a read transaction of its own. */
enum hub_err hub_queues_fetch(struct hub_queues *q, MDB_txn *in, int panel_index,
                              const char *consumer, size_t consumer_len, uint32_t max,
                              int view, size_t room, msgpack_packer *pk, uint32_t *count, uint64_t *last,
                              int *end, struct hub_error *err);
enum hub_err hub_queues_list(struct hub_queues *q, int panel_index, int status, uint64_t after,
                             uint32_t max, int view, size_t room, msgpack_packer *pk,
                             uint32_t *count, uint64_t *last, int *end, struct hub_error *err);
/* What a coordinator filters a queue by (the `alerts` op). Every field
 * set narrows the list; strings are borrowed for the call. */
struct hub_queue_filter {
    int status;           /* enum hub_alert_status; -1: any */
    int priority;         /* enum hub_priority; -1: any */
    const char *rule;     /* the rule's name exactly; NULL: any */
    size_t rule_len;
    const char *person;   /* one of the key's values exactly; NULL: any */
    size_t person_len;
    int overdue;          /* 1: open, with a due date <= now_ms */
    int64_t now_ms;
    uint64_t scan_max;    /* alerts examined at most (0: no bound); beyond, *end is 0 */
};
/* hub_queues_list with a filter: the walk examines at most
 * flt->scan_max alerts, so a filter that matches little still answers
 * promptly; *last is the last alert examined (pass it as `after`). */
enum hub_err hub_queues_list_filtered(struct hub_queues *q, int panel_index,
                                      const struct hub_queue_filter *flt, uint64_t after,
                                      uint32_t max, int view, size_t room, msgpack_packer *pk,
                                      uint32_t *count, uint64_t *last, int *end,
                                      struct hub_error *err);
/* Pack alert id as its panel's queue shows it to view (CSPH_QVIEW_*) into
 * pk. *panel_index gets its panel (-1: no longer configured), so the
 * caller can check who may see it: the caller must then discard what was
 * packed. NOT_FOUND when no such alert. Own read transaction. */
enum hub_err hub_queues_pack_one(struct hub_queues *q, uint64_t id, int view,
                                 msgpack_packer *pk, int *panel_index, struct hub_error *err);

/* The evidence of alert id as its panel's queue shows it to view
 * (CSPH_QVIEW_FULL: in full, for the auditor; a restricted panel's queue
 * shows none) from
 * position `after` (0: the first seq), at most max seqs and as many as fit
 * in room bytes (but at least one while any is left), packed into pk as
 * array items. *count is how many, *total the evidence's length,
 * *panel_index the alert's panel (-1: no longer configured), so that the
 * caller can check who may see it before sending anything. NOT_FOUND when
 * no such alert. */
enum hub_err hub_queues_evidence(struct hub_queues *q, uint64_t id, int view, uint64_t after,
                                 uint64_t max, size_t room, msgpack_packer *pk,
                                 int *panel_index, uint32_t *count, uint64_t *total,
                                 struct hub_error *err);
/* Alerts raised per panel (counts), for stats: counts[i] for panel i. */
void hub_queues_counts(const struct hub_queues *q, uint64_t *counts);

/* What the metrics endpoint shows of the queues (service hook, issue 18):
 * per panel the open alerts and those open past their due_at; per durable
 * consumer its cursor and how many alerts of its panel lie after it (at
 * most CSPH_QUEUES_LAG_MAX: a walk that long, then it stops counting).
 * Fills at most max_consumers entries of consumers (the first in key
 * order); *nconsumers_total counts them all. One read transaction of its
 * own; a walk of the panel queues, so call it every few seconds, not per
 * request. */
#define CSPH_QUEUES_LAG_MAX 10000
struct hub_queue_consumer {
    int panel;
    char name[96];
    uint64_t cursor, lag;
};
struct hub_queue_gauges {
    uint64_t open[CSPH_MAX_PANELS], overdue[CSPH_MAX_PANELS];
    struct hub_queue_consumer *consumers; /* the caller's array */
    size_t max_consumers, nconsumers, nconsumers_total;
};
enum hub_err hub_queues_gauges(struct hub_queues *q, int64_t now_ms,
                               struct hub_queue_gauges *g, struct hub_error *err);

/* Walk every alert in id order, packing each in full (for re-derivation
 * comparisons). */
typedef int (*hub_queues_alert_fn)(void *ctx, uint64_t id, const void *bytes, size_t len);
enum hub_err hub_queues_each(struct hub_queues *q, hub_queues_alert_fn fn, void *ctx,
                             struct hub_error *err);
/* The same in txn, a read transaction of the queues' environment (so the
 * alerts and the log are read in one snapshot). */
enum hub_err hub_queues_each_in(struct hub_queues *q, MDB_txn *txn, hub_queues_alert_fn fn,
                                void *ctx, struct hub_error *err);

/* Alert id packed as hub_queues_each packs it, into fn, in a read
 * transaction of its own: an example shown again after a comparison that
 * kept only a digest of each alert (alertdiff.h). NOT_FOUND when there is
 * no such alert. */
enum hub_err hub_queues_one(struct hub_queues *q, uint64_t id, hub_queues_alert_fn fn, void *ctx,
                            struct hub_error *err);

/* One alert as stored, without packing it: what a reader that wants only
 * a few fields of many alerts (the report, over millions) needs, so that it
 * can pass over the alerts it does not count on their panel and rule alone.
 * Borrowed from the read transaction; valid during the call. pairs is the
 * alert's full map's pairs (npairs of them: id, panel, rule, rule_version,
 * priority, key, reason, evidence, raised_at, as hub_queues_each packs them
 * before due_at and status). due_ms is INT64_MIN when it has no deadline. */
struct hub_alert_raw {
    uint64_t id;
    const char *panel, *rule;
    size_t panel_len, rule_len;
    int64_t due_ms, raised_ms;
    const char *pairs;
    size_t pairs_len;
    uint32_t npairs;
};
typedef int (*hub_queues_raw_fn)(void *ctx, const struct hub_alert_raw *a);
/* The alerts with after < id <= until (until 0: no bound) in id order, in
 * txn (a read transaction of the queues' environment); fn returns nonzero
 * to stop. */
enum hub_err hub_queues_each_raw_in(struct hub_queues *q, MDB_txn *txn, uint64_t after,
                                    uint64_t until, hub_queues_raw_fn fn, void *ctx,
                                    struct hub_error *err);
/* The highest alert id in txn (0: none). */
enum hub_err hub_queues_last_id_in(struct hub_queues *q, MDB_txn *txn, uint64_t *last,
                                   struct hub_error *err);

/* Redaction after an erasure and re-derivation's kept alerts
 * (alertredact.h). An alert's record as stored, borrowed from txn for the
 * call: its key text (values joined by ", "), its full pairs and its
 * restricted panel's pairs (red_len 0: none), rec the whole record. */
struct hub_alert_stored {
    uint64_t id;
    const char *panel, *rule, *key;
    size_t panel_len, rule_len, key_len;
    const void *full, *red;
    size_t full_len, red_len;
    int npairs;
    const void *rec;
    size_t rec_len;
    int64_t raised_ms;
};
typedef int (*hub_queues_stored_fn)(void *ctx, const struct hub_alert_stored *a);
/* Alert id as stored, into fn, in txn (a retention sweep's expiry:
 * alertredact.h). NOT_FOUND when no such alert. */
enum hub_err hub_queues_stored_one(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                   hub_queues_stored_fn fn, void *ctx, struct hub_error *err);
/* Every alert in id order in txn (the batch's, or a read transaction);
 * fn's nonzero stops. Do not write the alerts from fn. */
enum hub_err hub_queues_each_stored_in(struct hub_queues *q, MDB_txn *txn,
                                       hub_queues_stored_fn fn, void *ctx,
                                       struct hub_error *err);
/* Replace alert id's key text, full and restricted pairs (same number of
 * pairs) in the batch's txn, through the recorder; status, priority,
 * dates, panel and rule stay. A pending deadline's case-index entries
 * move to the new key's values. NOT_FOUND when no such alert. */
enum hub_err hub_queues_rewrite(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                const char *key, size_t key_len, const void *full,
                                size_t full_len, const void *red, size_t red_len,
                                struct hub_error *err);
/* A malloc'd copy of alert id's whole record (free it), from txn. */
enum hub_err hub_queues_record_copy(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                    void **rec, size_t *len, struct hub_error *err);
/* Store a record copied by hub_queues_record_copy as the next alert
 * (*id), with its recorded status and no deadline armed: re-derivation's alert kept from the
 * hub where its evidence was erased. */
enum hub_err hub_queues_insert_record(struct hub_queues *q, MDB_txn *txn, const void *rec,
                                      size_t len, uint64_t *id, struct hub_error *err);
/* The id the next alert of the open batch gets. */
uint64_t hub_queues_next_id(const struct hub_queues *q);
/* Called by hub_queues_insert before it numbers draft d (re-derivation:
 * it may store kept alerts first with hub_queues_insert_record). NULL: none. */
typedef enum hub_err (*hub_queues_keep_fn)(void *ctx, struct hub_queues *q, MDB_txn *txn,
                                           const struct hub_alert_draft *d,
                                           struct hub_error *err);
void hub_queues_set_keep(struct hub_queues *q, hub_queues_keep_fn fn, void *ctx);

/* The store's write recorder (redo.h): the queues' writes in a batch go
 * through it, so the journal holds them. NULL: not recorded. */
struct hub_redo;
void hub_queues_set_redo(struct hub_queues *q, struct hub_redo *redo);

#endif
