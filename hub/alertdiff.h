/* alertdiff.h: two hubs' alerts side by side, for --rederive and --what-if.
 *
 * An alert is matched by what it is about, not by its id (ids differ as
 * soon as one run raises an alert the other does not): its rule, its panel,
 * its key and its anchor (the highest seq in its evidence: the event that
 * completed the case). Matched alerts whose priority or evidence differ are
 * "changed" (with strict, any difference in the alert as packed, id
 * included); an alert only in the second set is "added", only in the first
 * "removed". The counts are kept per rule and panel with up to
 * CSPH_DIFF_EXAMPLES examples each. */
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

/* One alert as the comparison needs it (owned copies; compact: a log's
 * every alert is held twice). The rest (key, reason) is read from bytes
 * when an example is shown. */
struct hub_alert_row {
    uint64_t id;
    char *match;        /* rule \x1f panel \x1f key \x1f anchor (hub_alert_match) */
    size_t group_len;   /* match's "rule \x1f panel" prefix */
    uint64_t anchor;    /* the highest seq in its evidence */
    uint64_t ev_hash;   /* of the evidence seqs */
    uint32_t nevidence;
    char priority[16];
    void *bytes; /* the alert as packed (hub_queues_each) */
    size_t len;
};

/* Alerts in id order. */
struct hub_alert_set {
    struct hub_alert_row *v;
    size_t n, cap;
};

/* Every alert of q (txn: a read transaction of its environment, or NULL
 * for one of its own). */
enum hub_err hub_alert_set_collect(struct hub_alert_set *s, struct hub_queues *q,
                                   MDB_txn *txn, struct hub_error *err);
void hub_alert_set_free(struct hub_alert_set *s);
/* The alert with that id, or NULL. */
const struct hub_alert_row *hub_alert_set_find(const struct hub_alert_set *s, uint64_t id);

/* The match string of an alert (malloc'd; NULL when out of memory): the
 * same for a row and for a hub_alert_brief of the same alert. */
char *hub_alert_match(const char *rule, const char *panel, size_t nkey, const char *tags,
                      const char (*values)[104], uint64_t anchor);

struct hub_diff_change {
    const struct hub_alert_row *a, *b;
};

struct hub_diff_group {
    char rule[72], panel[72];
    size_t added, removed, changed;
    const struct hub_alert_row *added_ex[CSPH_DIFF_EXAMPLES], *removed_ex[CSPH_DIFF_EXAMPLES];
    struct hub_diff_change changed_ex[CSPH_DIFF_EXAMPLES];
};

struct hub_alert_diff {
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
