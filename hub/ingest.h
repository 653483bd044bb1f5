/* ingest.h: what happens to an event inside the batch's transaction, in
 * one place for the live hub and for re-derivation: dedup and append, the
 * event's effects on the queues (alert.status, case.update), the rules, and
 * the alerts they raise. So the same log through the same rules reaches the
 * same state whether it arrives over the wire or is re-derived.
 *
 * The hub's own events (alert.status, timer.fired, audit.access,
 * rules.loaded) are built here too. */
#ifndef CSPH_INGEST_H
#define CSPH_INGEST_H

#include <msgpack.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "queues.h"
#include "rules.h"
#include "schema.h"
#include "store.h"

struct hub_ingest {
    const struct hub_config *cfg;
    struct hub_store *store;      /* borrowed */
    struct hub_schemas *schemas;  /* borrowed */
    struct hub_rules *rules;      /* borrowed; NULL: no rules in force */
    struct hub_queues *queues;    /* borrowed */
    msgpack_sbuffer hub_event;    /* the hub event being built */
    msgpack_zone zone;            /* its unpacked form */
    uint64_t alerts_raised;
};

void hub_ingest_init(struct hub_ingest *g, const struct hub_config *cfg,
                     struct hub_store *store, struct hub_schemas *schemas,
                     struct hub_rules *rules, struct hub_queues *queues);
void hub_ingest_fini(struct hub_ingest *g);

/* Before a batch (the core's hub_core_batch_begin, which owns the order
 * of a batch): refuse while the log is being reopened, and bring the index
 * level with the log when a failed batch or a crash left it behind (a
 * step of the rebuild, and busy, when it is far behind). */
enum hub_err hub_ingest_level(struct hub_ingest *g, struct hub_error *err);

/* Append a validated event (info from hub_schema_check, obj its map, bytes
 * its exact encoding) and, when it is new, apply its effects and run the
 * rules. CSPH_ERR_ID_CONFLICT is an event-level error; CSPH_ERR_BUSY and
 * CSPH_ERR_INTERNAL mean the transaction is lost. */
enum hub_err hub_ingest_event(struct hub_ingest *g, const struct hub_event_info *info,
                              const msgpack_object *obj, const void *bytes, size_t len,
                              int64_t received_ms, uint64_t *seq, int *dup,
                              struct hub_error *err);

/* A panel's decision: record alert id's status and append the alert.status
 * event. NOT_FOUND when no such alert (nothing appended). *seq is the
 * event's seq. by (who decided: an identity or a person) and gateway (the
 * gateway that acted for that person) are written when not NULL. The
 * workflow (decision.h) is the caller's to check first. */
enum hub_err hub_ingest_alert_update(struct hub_ingest *g, uint64_t id,
                                     enum hub_alert_status status, const char *note,
                                     size_t note_len, const char *by, const char *gateway,
                                     int64_t now_ms, uint64_t *seq, struct hub_error *err);

/* Append a timer.fired event for every deadline <= now_ms (at most max);
 * the rules (overdue) escalate from them. *fired is how many. */
enum hub_err hub_ingest_fire_due(struct hub_ingest *g, int64_t now_ms, size_t max,
                                 size_t *fired, struct hub_error *err);

/* A hub event another module packed (len bytes, a map with id, type,
 * source "hub", occurred_at and its fields), validated and ingested in the
 * batch like the hub's own: panelwork.h's events. *seq is its seq. */
enum hub_err hub_ingest_own_event(struct hub_ingest *g, const void *bytes, size_t len,
                                  int64_t now_ms, uint64_t *seq, struct hub_error *err);

/* Record a read: an audit.access event (who, role, the gateway that acted
 * for them when not NULL, op, the query as text, how many records were
 * returned). A query over CSPH_AUDIT_QUERY_MAX bytes
 * is cut there (at a character's edge) and the record says
 * query_truncated: true. */
#define CSPH_AUDIT_QUERY_MAX 4096
enum hub_err hub_ingest_audit(struct hub_ingest *g, const char *identity, const char *role,
                              const char *gateway, const char *op, const char *query, size_t query_len,
                              uint64_t returned, int64_t now_ms, struct hub_error *err);

/* Append a people.loaded event (PROTOCOL.md 8.1): the digest and the
 * JSON text of the people list in force (hub/people.h). */
enum hub_err hub_ingest_people_loaded(struct hub_ingest *g, const char *digest,
                                      const char *text, size_t len, int64_t now_ms,
                                      uint64_t *seq, struct hub_error *err);

/* Bring the index (idempotency entries and rule state, in index.mdb) level
 * with the log: every event after hub_store_index_applied goes through
 * the rules again, in batches of its own, its alerts not raised twice.
 * Called at start, before anything is served, and by hub_ingest_level
 * after a failed batch dropped held index work. *caught is how many events
 * it applied. */
enum hub_err hub_ingest_catch_up(struct hub_ingest *g, uint64_t *caught,
                                 struct hub_error *err);

/* Heal what a fault left outside a batch (store.h, "Faults"): reopen the
 * log after MDB_PANIC (and the queues with it), or take one step of
 * bringing the index level with the log (a rebuild in place ends with the
 * backfill a start does). *more is 1 while work is left: call again from
 * the loop (writes are answered busy meanwhile, reads go on). */
enum hub_err hub_ingest_heal(struct hub_ingest *g, int *more, struct hub_error *err);

/* rules.loaded: the rule set in force, kept in the log (its files' texts)
 * so that re-derivation uses at every seq the rules the hub used
 * (schemas/rules.loaded.yaml, docs/rules.md). The texts' limits keep the
 * event within an event's 64 KiB (PROTOCOL.md 1): a rule file or calendar
 * over them is refused when loaded. A hub without rules records digest
 * "none" (only when the log holds an earlier rule set). */
#define CSPH_RULES_TEXT_MAX 49152
#define CSPH_CALENDAR_TEXT_MAX 12288
#define CSPH_RULES_NONE "none"

/* CSPH_ERR_CONFIG (naming the file) when rules (may be NULL) cannot be
 * kept in a rules.loaded event. */
enum hub_err hub_ingest_rules_fit(const struct hub_rules *rules, struct hub_error *err);
/* The digest of the last rules.loaded in the log into out (n >= 33), ""
 * when the log holds none, and its seq (unless seq is NULL; 0: none). Its
 * own read transaction. */
enum hub_err hub_ingest_rules_recorded(struct hub_ingest *g, char *out, size_t n,
                                       uint64_t *seq, struct hub_error *err);
/* The rule set in force at seq at (the last rules.loaded at or before it),
 * compiled: *out (NULL for "none"; the caller destroys it); *found 0 when
 * the log holds none by then. */
enum hub_err hub_ingest_rules_in_force(struct hub_ingest *g, uint64_t at,
                                       struct hub_rules **out, int *found,
                                       struct hub_error *err);
/* Append a rules.loaded event for g->rules (digest "none" when NULL)
 * inside the batch. *seq is its seq. */
enum hub_err hub_ingest_rules_loaded(struct hub_ingest *g, int64_t now_ms, uint64_t *seq,
                                     struct hub_error *err);
/* The rule set a rules.loaded event (obj, its map) records, compiled with
 * the config's panels and g's schemas: *out is NULL for "none". */
enum hub_err hub_ingest_rules_from_event(struct hub_ingest *g, const msgpack_object *obj,
                                         struct hub_rules **out, struct hub_error *err);

/* Rules that count events in a way the state has not seen (added, or their
 * tests or keys edited) get their windows filled from the whole log,
 * raising nothing, before they evaluate new events (hub_rules_unbuilt).
 * Call after hub_ingest_catch_up, at start and after a reload; outside a
 * batch. *events is how many it read (0 when nothing was needed). */
enum hub_err hub_ingest_backfill(struct hub_ingest *g, uint64_t *events, struct hub_error *err);

/* The source of the hub's own events, reserved to the hub. */
#define CSPH_HUB_SOURCE "hub"
/* 1 when type names an event only the hub may write. */
int hub_ingest_hub_type(const char *type, size_t len);

#endif
