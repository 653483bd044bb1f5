/* casefile.h: what a case's page needs beyond its record (cases.h): the
 * case's own history (its opening, reviews, risk changes, assessments,
 * hearings and closure, as the log holds them) and what a form may offer
 * (the panel's outcomes, the known action owners).
 *
 * The history is an index in data.mdb, written as events are applied
 * (panelwork.c calls hub_casefile_note), so a replay or a re-derivation
 * rebuilds it from the log alone:
 *   case_log   panel \0 key -> seq (8 bytes big-endian), DUPSORT, in seq order
 * Written through the journal's recorder (pwstore.h). A log written before
 * this index has none for its older events: the case page then shows what
 * the case record keeps (reviews counted, last hearing). */
#ifndef CSPH_CASEFILE_H
#define CSPH_CASEFILE_H

#include <lmdb.h>
#include <msgpack.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "schema.h"
#include "security.h"
#include "store.h"

/* The entries kept for a page: the latest, oldest first. */
#define CSPH_CASEFILE_MAX 200

/* Event info/obj (seq) in the batch: when it is one of a case's own events
 * (case.opened, case.update, case.heard, risk.assessment) naming a
 * configured panel and a subject, add it to that case's history. */
enum hub_err hub_casefile_note(struct hub_store *s, const struct hub_config *cfg,
                               const struct hub_event_info *info, const msgpack_object *obj,
                               uint64_t seq, struct hub_error *err);

/* Pack the history of (panel, key) as an array of replay entries
 * {seq, received_at, event} (the latest CSPH_CASEFILE_MAX, oldest first,
 * stopping before room bytes of sb are used: *truncated 1). The seqs come
 * from txn; the events from the log. */
enum hub_err hub_casefile_pack_history(struct hub_store *s, MDB_txn *txn, const char *panel,
                                       const char *key, msgpack_packer *pk, msgpack_sbuffer *sb,
                                       size_t room, uint32_t *n, int *truncated,
                                       struct hub_error *err);

/* Pack {outcomes: [...], owners: [{name, kind (agency|person)}...]}: the
 * panel's outcomes and who may own an action on it: the hub config's
 * agencies (security none) or the identity file's agencies and the
 * panel's members (ids, security curve). */
void hub_casefile_pack_choices(msgpack_packer *pk, const struct hub_config *cfg,
                               const struct hub_identities *ids, int panel);

/* Take panel's history of case key (len bytes) out, in the batch's
 * transaction (a retention sweep's expired alert: alertredact.h). */
enum hub_err hub_casefile_forget_panel(struct hub_store *s, const char *panel, const char *key,
                                       size_t len, struct hub_error *err);
/* Take every panel's history of case key (len bytes) out, in the batch's
 * transaction (an erasure: alertredact.h). */
enum hub_err hub_casefile_forget(struct hub_store *s, const struct hub_config *cfg,
                                 const char *key, size_t len, struct hub_error *err);

#endif
