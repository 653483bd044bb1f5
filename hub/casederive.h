/* casederive.h: cases for a log written before panel work (issue 19).
 *
 * A data directory from before cases existed has accepted alerts and
 * referrals in its log but no case index. At the first start of this hub
 * on it, the panel-work indexes (cases, actions, hearings, the agenda's
 * accepted and look-back lists, each case's history) are derived from the
 * log: every event from seq 1 to the log's last, in seq order, applied as
 * a replay applies it (hub_panelwork_apply). So the cases are exactly
 * those a re-derivation of the same log makes (--rederive compares them),
 * and deriving again gives the same. It runs in batches of the core
 * (CSPH_CASEDERIVE_BATCH events each), recording how far it got in the
 * same transaction, so a hub stopped part-way goes on where it stopped.
 *
 * A marker in data.mdb (panelwork_meta: "derived" -> done seq, target seq,
 * through the journal's recorder) says it was done: written at the first
 * start of this hub on any directory (at once when there is nothing to
 * derive: an empty log, or a case index kept already). It is logged:
 * "cases derived from the log (N events read): C cases, O open". */
#ifndef CSPH_CASEDERIVE_H
#define CSPH_CASEDERIVE_H

#include <stdint.h>

#include "core.h"
#include "err.h"

#define CSPH_CASEDERIVE_BATCH 20000

/* Derive the panel-work indexes from the log when the directory needs it
 * (above). *read is how many events were read (0: nothing to do). Errors
 * of the store (the batch is then aborted; the next start goes on). */
enum hub_err hub_casederive_run(struct hub_core *core, uint64_t *read, struct hub_error *err);

#endif
