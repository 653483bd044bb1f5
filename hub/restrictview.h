/* restrictview.h: what every role but dpo and auditor reads of a person
 * under a standing restriction (restrict.h; issue 17, point 2: "--restrict
 * keeps the records but stops every role but dpo and auditor from reading
 * them").
 *
 * The restricted person's events leave those readers' reads (erase.h,
 * hub_erase_hidden). Their alerts are not the person's records alone (a
 * victim's alert names the perpetrator too, and the panel still owns its
 * work), so an alert stays in its queue, at its id, with its panel, rule,
 * priority, dates, evidence seqs, status and decisions; each key value
 * naming a restricted person and the whole reason read
 * "[restricted by seq N]", N the dp.erasure event that restricted them. The
 * person's cases, actions and agenda entries, whose key is the person,
 * are left out, as their events are: a case is the person.
 *
 * Nothing is rewritten: the view is made at read time from dp.restricting,
 * so lifting a restriction gives everything back at once, and an alert
 * raised after the restriction is covered as well. The cost when no
 * restriction exists is one look-up of dp.restricting's name per read.
 *
 * Knows no sockets. */
#ifndef CSPH_RESTRICTVIEW_H
#define CSPH_RESTRICTVIEW_H

#include <lmdb.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "security.h"

#define CSPH_RESTRICTED_HEAD "[restricted by seq "
#define CSPH_RESTRICTED_MARKER_MAX 48

/* 1 when who's reads leave restricted persons out (a role other than dpo
 * and auditor); 0 for those two and in security none (who NULL), where
 * nobody has a role and nothing is hidden, as for events. */
int hub_restrictview_applies(const struct hub_identity *who);

/* The queues' view (queues.h, CSPH_QVIEW_*) of who's alert reads:
 * restricted panels in full for the auditor, restricted persons withheld
 * where hub_restrictview_applies. */
int hub_restrictview_qview(const struct hub_identity *who);

/* The restrictions of txn (a read transaction of the log's environment, or
 * the batch's), opened once for a read that checks many records. */
struct hub_restrictview {
    MDB_txn *txn;
    MDB_dbi dbi;
    int any; /* 0: no restriction stands: nothing to look up */
};
void hub_restrictview_open(struct hub_restrictview *rv, MDB_txn *txn);

/* The dp.erasure seq of the first restricted person text (n bytes) names
 * as a whole reference (the runs of reference bytes A-Z a-z 0-9 . _ : -,
 * each looked up), 0 when none. */
uint64_t hub_restrictview_names(const struct hub_restrictview *rv, const char *text, size_t n);

/* An alert's pairs (npairs, len bytes) as a restricted reader sees them:
 * 0 when they name no restricted person (out untouched); 1 when out holds
 * the pairs with each key value naming one and the reason replaced by the
 * marker (above); -1 when they do not parse or memory ran out. */
int hub_restrictview_alert(const struct hub_restrictview *rv, const void *pairs, size_t len,
                           int npairs, msgpack_sbuffer *out);

#endif
