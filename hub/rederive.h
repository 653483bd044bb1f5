/* rederive.h: the auditor's proof that alerts follow from the log. Replays
 * a hub's log from seq 1 into a fresh data directory and compares every
 * alert (id, panel, rule, version, priority, key, reason, evidence,
 * raised_at, due_at, status) with the hub's. At every seq the rules are
 * the ones the hub had in force: a rules.loaded event in the log switches
 * to the rule set it records; before the first (a log older than those
 * events) the configured rules apply.
 *
 * The replay itself (hub_replay_*) is shared with --what-if (whatif.h),
 * which runs a candidate rule file over the same log. */
#ifndef CSPH_REDERIVE_H
#define CSPH_REDERIVE_H

#include <msgpack.h>
#include <stdio.h>

#include "alertdiff.h"
#include "alertredact.h"
#include "redacted.h"
#include "panelwork.h"
#include "config.h"
#include "core.h"
#include "ingest.h"
#include "queues.h"
#include "schema.h"
#include "store.h"

/* Re-derive from_dir's log into cfg->data_dir (which must hold no events)
 * with cfg's schemas, panels and rules; report on out. Returns 0 when
 * every alert is identical, 1 when they differ (with the differences per
 * rule and panel), 2 when it could not run. */
int hub_rederive(const struct hub_config *cfg, const char *from_dir, FILE *out);

/* ---- the replay --------------------------------------------------------- */

/* A hub's data directory opened read-only (no lock: the hub may be
 * running), with its last seq and its alerts read in one snapshot. */
struct hub_replay_source {
    struct hub_core *core; /* read-only */
    struct hub_store *store; /* borrowed from core */
    uint64_t last_seq;
    struct hub_alert_set alerts;
    /* hook: its cases and actions in the same snapshot (panelwork.h) */
    struct hub_panelwork_snapshot *work;
    /* hook: its alerts kept where an erasure took their evidence or
     * redacted them (alertredact.h); NULL when none */
    struct hub_alert_keep *keep;
};
enum hub_err hub_replay_source_open(struct hub_replay_source *s, const struct hub_config *cfg,
                                    const char *dir, struct hub_error *err);
void hub_replay_source_close(struct hub_replay_source *s);

struct hub_replay;
/* Called for every event before it is ingested, after its schema check:
 * it may commit the batch in hand (hub_replay_commit, say before changing
 * the core's rules) and may point r->bytes and r->len at other bytes for the same
 * event, obj changed to match. A failure stops the replay. */
typedef enum hub_err (*hub_replay_hook_fn)(struct hub_replay *r,
                                           const struct hub_stored_event *ev,
                                           msgpack_object *obj, struct hub_error *err);

struct hub_replay {
    struct hub_core *core; /* into the fresh directory */
    FILE *out;             /* where an event that cannot be replayed is explained */
    hub_replay_hook_fn hook;
    void *ctx;
    const void *bytes; /* the event to ingest (the hook may replace them) */
    size_t len;
    uint64_t events; /* replayed so far */
    /* events an erasure left without the fields their schema requires:
     * appended as they are, not evaluated (erase.h); the last one's
     * erasure seq */
    uint64_t erased, erased_by;
    /* the source's kept alerts, placed at their ids in the fresh queues as
     * the replay reaches them (alertredact.h); NULL: none */
    struct hub_alert_keep *keep;
    /* the redacted records replayed, by type (redacted.h): an erasure or
     * a retention sweep took fields of theirs, so a rule testing one of
     * those could not evaluate them. The caller frees it
     * (hub_redacted_count_free). */
    struct hub_redacted_count redacted;
    /* private */
    struct hub_erased_set erased_set;
    struct hub_store *src;
    msgpack_zone zone;
    uint64_t in_txn;
    enum hub_err rc;
    struct hub_error err;
};

/* Replay src's events with seq <= until, in order, each through
 * hub_ingest_event (in batches of 1,000), checking that each gets its
 * original seq. */
enum hub_err hub_replay_run(struct hub_replay *r, struct hub_store *src, uint64_t until,
                            struct hub_error *err);
/* Commit the batch in hand (if any) and settle everything it holds. */
enum hub_err hub_replay_commit(struct hub_replay *r, struct hub_error *err);

#endif
