/* rules.h: the escalation engine. Given one event and the index
 * environment's write transaction, decide which alerts it raises
 * (RULES.md, docs/rules.md). The rule set is compiled by the loader
 * (ruleset.h), the state kept by the rule state store (rstate.h) in the
 * same transaction: an aborted batch leaves exactly what the committed log
 * implies, and a restart neither forgets a half-filled window nor fires
 * twice.
 *
 * The engine knows no sockets and no alert queues: it returns alert drafts;
 * the queues module numbers, stores and delivers them.
 *
 * Determinism: the outcome depends only on the rule set and the sequence of
 * events (their bytes, seq, occurred_at and received_at), never on the wall
 * clock or on how events were grouped into batches.
 *
 * Late events: windows are exact over every event the state holds, however
 * late each arrived (no horizon). If a key reaches a tier within a window
 * when the events are taken in occurred_at order, then after the same
 * events arrive in any order the key has an alert at that tier or higher
 * whose triggering event occurred less than a window from an event of that
 * window (docs/rules.md, "Late events").
 *
 * Memory handed out (drafts, evidence arrays, strings) is owned by the
 * engine and valid until the next call or hub_rules_destroy. */
#ifndef CSPH_RULES_H
#define CSPH_RULES_H

#include <lmdb.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

struct hub_rules;

enum hub_priority { CSPH_PRIORITY_STANDARD, CSPH_PRIORITY_MEDIUM, CSPH_PRIORITY_HIGH };
/* "standard", "medium", "high"; and back (-1 when unknown). */
const char *hub_priority_name(enum hub_priority p);
int hub_priority_parse(const char *s, size_t len);

#define CSPH_KEY_MAX_FIELDS 4

/* One event as the engine sees it. obj is the event map (borrowed). */
struct hub_rule_event {
    uint64_t seq;
    const char *type;
    size_t type_len;
    int64_t occurred_ms;
    int64_t received_ms;
    const msgpack_object *obj;
};

/* An alert the engine decided to raise. */
struct hub_alert_draft {
    int rule_index;
    const char *rule;          /* the rule's name */
    int panel_index;           /* index into the config's panels */
    enum hub_priority priority;
    size_t nkey;               /* the key: nkey (name, value) pairs */
    const char *key_names[CSPH_KEY_MAX_FIELDS];
    const char *key_values[CSPH_KEY_MAX_FIELDS];
    char key_tags[CSPH_KEY_MAX_FIELDS]; /* 's' text, 'n' number, 'b' yes/no */
    char reason[512];          /* one sentence a coordinator understands */
    const uint64_t *evidence;  /* seqs of every event that made it fire, ascending */
    size_t nevidence;
    int has_due;
    int64_t due_ms;            /* deadline on the hub's clock: raised_at + days */
    int64_t raised_ms;         /* = the triggering event's received_at */
    uint64_t event_seq;        /* the triggering event */
};

/* Load the rule file at path (YAML; see config/rules.yaml for the language)
 * and the calendar file it names. panels are the configured panels (every
 * panel a rule names must be among them); schemas (may be NULL) are the
 * event types: a rule naming an unknown type, or a field one of its types
 * does not have, is refused. On failure returns CSPH_ERR_CONFIG
 * (CSPH_ERR_IO when a file cannot be read) with "file:line: what is wrong"
 * in err->message. */
struct hub_schemas;
struct hub_ruleset;
enum hub_err hub_rules_load(struct hub_rules **out, const char *path,
                            const struct hub_panel *panels, size_t npanels,
                            const struct hub_schemas *schemas, struct hub_error *err);
/* An engine over a compiled rule set (it takes the set: freed with it). */
enum hub_err hub_rules_from_set(struct hub_rules **out, struct hub_ruleset *set,
                                struct hub_error *err);
const struct hub_ruleset *hub_rules_set(const struct hub_rules *r);
/* The memory the engine may keep between events: a filter of the series
 * its state holds (a new person's first event then needs no read). Bounded
 * by this, whatever the number of people or events; 0 turns it off. Built
 * from the state at the next evaluation. */
#define CSPH_RULES_CACHE_DEFAULT (16u << 20)
enum hub_err hub_rules_cache(struct hub_rules *r, size_t bytes, struct hub_error *err);
/* A reload: dst (the new rule set) takes src's cache, built already, so the
 * state is not read through again (src goes on without one). */
void hub_rules_take_cache(struct hub_rules *dst, struct hub_rules *src);
void hub_rules_destroy(struct hub_rules **r);

/* Hex digest (BLAKE2b-128, 32 hex characters) of the rule set: the rule
 * file, the calendar and the panels. Recorded in every alert. */
const char *hub_rules_digest(const struct hub_rules *r);
size_t hub_rules_count(const struct hub_rules *r);
const char *hub_rules_name(const struct hub_rules *r, size_t i);

/* Evaluate ev inside txn (a write transaction of the index environment;
 * the engine opens its own named databases in it). Returns CSPH_ERR_OK with
 * *drafts (n = *ndrafts, possibly 0) in rule-file order, or CSPH_ERR_BUSY
 * (map full) / CSPH_ERR_INTERNAL, after which the caller aborts the
 * transaction. Every change is written to txn as it is made: nothing is
 * held in memory between calls. Evaluating an event twice (its seq already
 * counted) changes nothing. */
enum hub_err hub_rules_eval(struct hub_rules *r, MDB_txn *txn, const struct hub_rule_event *ev,
                            const struct hub_alert_draft **drafts, size_t *ndrafts,
                            struct hub_error *err);

/* A panel's decision on an alert (an alert.status event): when a
 * prior_alert with status accepted names the panel, an acceptance makes the
 * alert a referral (SafeLives: the 12 months of a repeat run from the
 * occurred_at of its anchor, the newest event of its evidence; its own
 * evidence is the referral, never a repeat of it), and
 * incidents that already arrived within them raise the repeat now, citing
 * them. A later decline or close does not undo a referral. */
struct hub_rule_decision {
    uint64_t seq; /* the alert.status event */
    int64_t occurred_ms, received_ms;
    const msgpack_object *obj; /* its map (may be NULL) */
    int accepted;
    int panel_index;
    size_t nkey; /* the alert's key */
    const char *key_values[CSPH_KEY_MAX_FIELDS];
    char key_tags[CSPH_KEY_MAX_FIELDS];
    uint64_t anchor_seq; /* the highest seq in the alert's evidence */
    const uint64_t *evidence; /* the alert's evidence: the referral's own incidents */
    size_t nevidence;
};
enum hub_err hub_rules_decision(struct hub_rules *r, MDB_txn *txn,
                                const struct hub_rule_decision *dec,
                                const struct hub_alert_draft **drafts, size_t *ndrafts,
                                struct hub_error *err);
/* Series built from the whole log. A windowed rule's series belong to
 * what decides which events it counts (its types, tests, keys, distinct,
 * incidents, window): a rule added or edited that way starts with series
 * holding nothing before it, so the ingest fills them from the log.
 * hub_rules_unbuilt: how many rules of r lack a mark that their series
 * were built (r remembers which); hub_rules_backfill: put what those
 * rules count of ev, raising nothing and touching no other rule (the
 * events from seq 1, evaluating twice is a no-op); hub_rules_mark_built:
 * mark every rule of r built. */
enum hub_err hub_rules_unbuilt(struct hub_rules *r, MDB_txn *txn, size_t *n,
                               struct hub_error *err);
enum hub_err hub_rules_backfill(struct hub_rules *r, MDB_txn *txn,
                                const struct hub_rule_event *ev, struct hub_error *err);
enum hub_err hub_rules_mark_built(struct hub_rules *r, MDB_txn *txn, struct hub_error *err);
/* The same for the rules i of r with whole[i] set (a rebuild from the log
 * knows which of them saw every event: hub/ingest.c). */
enum hub_err hub_rules_mark_built_only(struct hub_rules *r, MDB_txn *txn,
                                       const unsigned char *whole, struct hub_error *err);
/* Whether other has a rule that counts events into the same series as r's
 * rule i (the same sid: types, tests, keys, distinct, incidents). */
int hub_rules_counts_alike(const struct hub_rules *r, size_t i, const struct hub_rules *other);

/* Drop every record of the rule state that names value (a person or place
 * reference, as text) in its key: its windows, tiers fired, alerts
 * remembered, in every rule in force, so that nothing of theirs counts any
 * more. Erasure calls it (hub/erase.c); the person index is dropped by
 * hub_store_drop_ref. *records is how many went. Series of rules no longer
 * in force count for nothing; compaction removes their bytes. */
enum hub_err hub_rules_forget(struct hub_rules *r, MDB_txn *txn, const char *value, size_t len,
                              uint64_t *records, struct hub_error *err);

/* Deadline for an alert of rule_index at priority, raised at raised_ms:
 * the cadence the rule gives that priority (days or working days, skipping
 * weekends and the calendar's bank holidays). Returns 1 and sets *due_ms,
 * or 0 when the rule sets no deadline for that priority. Used when a
 * case.update moves a case to a new risk. */
int hub_rules_due(const struct hub_rules *r, int rule_index, enum hub_priority priority,
                  int64_t raised_ms, int64_t *due_ms);

/* Working-day arithmetic, exposed for tests: the date ms falls on plus n
 * working days (Mon-Fri, not a bank holiday), same time of day, UTC. */
int64_t hub_rules_add_working_days(const struct hub_rules *r, int64_t ms, int n);

/* Size of the engine's state in the transaction's databases: entries and
 * bytes (for the benchmark and stats). */
enum hub_err hub_rules_state_size(struct hub_rules *r, MDB_txn *txn, uint64_t *entries,
                                  uint64_t *bytes, struct hub_error *err);

#endif
