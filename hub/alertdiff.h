/* alertdiff.h: two hubs' alerts side by side, for --rederive and --what-if.
 *
 * An alert is matched by what it is about, not by its id (ids differ as
 * soon as one run raises an alert the other does not): its rule, its panel,
 * its key and its anchor (the highest seq in its evidence: the event that
 * completed the case). Matched alerts whose priority or evidence differ are
 * "changed" (with strict, any difference in the alert as packed, id
 * included, by a 128-bit digest of it); an alert only in the second set is
 * "added", only in the first
 * "removed". The counts are kept per rule and panel with up to
 * CSPH_DIFF_EXAMPLES examples each (the earliest raised, in id order). */
#ifndef CSPH_ALERTDIFF_H
#define CSPH_ALERTDIFF_H

#include <jansson.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "queues.h"
#include "rules.h"

#define CSPH_DIFF_EXAMPLES 3

/* One alert as the comparison needs it: a fixed size and no copy of the
 * alert, because a log's every alert is held twice (2 million a side at 10
 * million events: a copy of each was 2.4 GiB). What an example shows (its
 * key, its reason) is read again from the set's queues by id when it is
 * shown. Matching by a 128-bit hash of the match string, and "strict" by a
 * 128-bit hash of the alert as packed: two different strings share one
 * with a chance of about n^2 / 2^129, nil for any log. */
struct hub_alert_row {
    uint64_t id;
    uint64_t match[2];  /* XXH3-128 of the match string (hub_alert_match_hash) */
    uint64_t digest[2]; /* XXH3-128 of the alert as packed (hub_queues_each) */
    uint64_t anchor;    /* the highest seq in its evidence */
    uint64_t ev_hash;   /* of the evidence seqs */
    uint32_t nevidence;
    uint16_t group;     /* its "rule \x1f panel": the set's groups[group] */
    uint8_t priority;   /* the set's priorities[priority] */
};

#define CSPH_DIFF_PRIORITIES 32

/* Alerts in id order, and where they are read again (q). */
struct hub_alert_set {
    struct hub_alert_row *v;
    size_t n, cap;
    char **groups; /* "rule \x1f panel", in the order met */
    size_t ngroups, capgroups;
    char priorities[CSPH_DIFF_PRIORITIES][16];
    size_t npriorities;
    struct hub_queues *q;
};

/* Every alert of q (txn: a read transaction of its environment, or NULL
 * for one of its own). q must stay open while the set is used. */
enum hub_err hub_alert_set_collect(struct hub_alert_set *s, struct hub_queues *q,
                                   MDB_txn *txn, struct hub_error *err);
void hub_alert_set_free(struct hub_alert_set *s);
/* The alert with that id, or NULL. */
const struct hub_alert_row *hub_alert_set_find(const struct hub_alert_set *s, uint64_t id);
/* A row's "rule \x1f panel" and priority. */
const char *hub_alert_set_group(const struct hub_alert_set *s, const struct hub_alert_row *r);
const char *hub_alert_set_priority(const struct hub_alert_set *s, const struct hub_alert_row *r);
/* The alert of row r packed again from the set's queues (malloc'd: free
 * it). It is read now: on a running hub's queues, an alert changed since
 * the set was collected (a decision, an erasure's redaction) reads as it
 * is now. */
enum hub_err hub_alert_set_read(const struct hub_alert_set *s, const struct hub_alert_row *r,
                                void **bytes, size_t *len, struct hub_error *err);

/* The match hash of an alert: the same for a row and for a
 * hub_alert_brief of the same alert. Over "rule \x1f panel \x1f" each
 * key value's tag and text "\x1e", then "\x1f" and the anchor in 20
 * digits. */
void hub_alert_match_hash(const char *rule, const char *panel, size_t nkey, const char *tags,
                          const char (*values)[104], uint64_t anchor, uint64_t out[2]);

struct hub_diff_group {
    char rule[72], panel[72];
    size_t added, removed, changed;
    const struct hub_alert_row *added_ex[CSPH_DIFF_EXAMPLES], *removed_ex[CSPH_DIFF_EXAMPLES];
    /* a changed alert: changed_a[k] in the first set, changed_b[k] in the second */
    const struct hub_alert_row *changed_a[CSPH_DIFF_EXAMPLES], *changed_b[CSPH_DIFF_EXAMPLES];
};

struct hub_alert_diff {
    const struct hub_alert_set *a, *b; /* where examples are read again */
    struct hub_diff_group *g; /* sorted by rule, then panel; only groups with a difference */
    size_t n;
    size_t added, removed, changed, same;
    size_t a_total, b_total;
};

/* Compare a (the hub's) with b (re-derived). The sets must outlive d. */
enum hub_err hub_alert_diff(struct hub_alert_diff *d, const struct hub_alert_set *a,
                            const struct hub_alert_set *b, int strict,
                            struct hub_error *err);
void hub_alert_diff_free(struct hub_alert_diff *d);
/* 1 when the sets differ. */
int hub_alert_diff_any(const struct hub_alert_diff *d);

/* The per rule and panel table, with examples, for people. a_name and
 * b_name say what the sets are ("hub", "candidate"). */
void hub_alert_diff_print(FILE *out, const struct hub_alert_diff *d, const char *a_name,
                          const char *b_name);
/* The same as JSON: {added, removed, changed, same, alerts: {<a_name>: n,
 * <b_name>: n}, groups: [{rule, panel,
 * added, removed, changed, examples: {added: [...], removed: [...],
 * changed: [{<a_name>: alert, <b_name>: alert}]}}]}, an alert being {id,
 * key, priority, evidence (its size), reason}. */
json_t *hub_alert_diff_json(const struct hub_alert_diff *d, const char *a_name,
                            const char *b_name);

#endif
