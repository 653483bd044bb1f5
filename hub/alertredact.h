/* alertredact.h: alerts after an erasure (issue 17, points 3 and 4).
 *
 * An erasure (erase.h) makes the person's alerts unreadable where they
 * name them, in the same batch, through the journal's recorder: every
 * alert whose key holds the person's reference, whose reason (full, or its
 * restricted panel's) names them, or whose evidence holds an event the
 * erasure removed whole keeps its id, panel, rule, priority, dates,
 * evidence seqs, status and decisions; each key value equal to the person
 * and the reason become the marker "[erased by seq N]" (N the erasure's
 * first dp.erasure event). Other key values stay (a victim's alert stays
 * theirs when the perpetrator's request erases the perpetrator). The
 * person's entries leave the person view's index and the queues' case
 * index; their case on each panel is renamed to the marker and its
 * history (casefile.h) dropped; the meetings' accepted-alert index shows
 * the marker. Held fetches keep no alert bytes (held.h: answered from the
 * queues when released), the rule state forgets the person in erase.c
 * (hub_rules_forget), and the hub's timer.fired names an alert's key in a
 * field of schema kind key, which the erasure itself removes, as it
 * rewrites an issued agenda's JSON (schema kind json).
 *
 * Re-derivation (rederive.c) keeps such alerts at their ids: an alert of
 * the hub that is redacted, or whose evidence holds an erased event, is a
 * kept alert; where the replay does not raise it again its recorded copy
 * takes its id (hub_alert_keep_*), so every other alert keeps its id and
 * re-derives exactly, and the kept one is checked against the recorded
 * alert (panel, rule, version, priority, dates, evidence, status).
 *
 * A retention sweep expires alerts by their panel's period (sweep.h,
 * docs/retention.md) with hub_alert_expire_one: every key value and the
 * reason become "[expired by seq N]" (N the sweep step's dp.retention
 * event), and the rest follows as for an erasure, with its deadline
 * ended. Re-derivation, what-if and the reports keep such alerts as they
 * keep erased ones (hub_alert_marker_seq knows both markers).
 * Knows no sockets. */
#ifndef CSPH_ALERTREDACT_H
#define CSPH_ALERTREDACT_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "alertdiff.h"
#include "config.h"
#include "err.h"
#include "queues.h"
#include "store.h"

/* The marker of erasure seq into out: its length. */
#define CSPH_ALERT_MARKER_MAX 48
int hub_alert_marker(uint64_t seq, char out[CSPH_ALERT_MARKER_MAX]);
/* The marker of a retention sweep's dp.retention event seq:
 * "[expired by seq N]". Its length. */
int hub_alert_expired_marker(uint64_t seq, char out[CSPH_ALERT_MARKER_MAX]);
/* The erasure or dp.retention seq a marker (either kind) names, 0 when s
 * (n bytes) is not one. */
uint64_t hub_alert_marker_seq(const char *s, size_t n);
/* 1 when s (n bytes) is an expiry's marker. */
int hub_alert_marker_expired(const char *s, size_t n);
/* The first marker (either kind) inside text s (NUL-terminated), or NULL. */
const char *hub_alert_marker_in(const char *s);

/* 1 when text (n bytes) holds ref (len bytes) as a whole reference: not
 * inside a longer one (the bytes either side are not reference bytes; the
 * full stops and colons that end a sentence or a label may follow it). */
int hub_alert_names(const void *text, size_t n, const char *ref, size_t len);
/* The offset of the first whole reference ref in text from `from` on (as
 * hub_alert_names finds it), or n when none. */
size_t hub_alert_names_at(const void *text, size_t n, size_t from, const char *ref, size_t len);
/* A byte a person reference may hold (PROTOCOL.md 3): A-Z a-z 0-9 . _ : - */
int hub_ref_byte(unsigned char c);

/* An alert's pairs (npairs MessagePack key/value pairs, len bytes) with
 * each value of its key map equal to person (as text) and its reason
 * replaced by marker; every other pair keeps its bytes. Appended to out.
 * 0, or -1 when the pairs do not parse. */
int hub_alert_redact_pairs(const void *pairs, size_t len, int npairs, const char *person,
                           size_t plen, const char *marker, msgpack_sbuffer *out);

/* 1 when the evidence of an alert's pairs (npairs, len bytes) holds one of
 * the n seqs of set (ascending); 0 otherwise, or when it does not parse. */
int hub_alert_evidence_in(const void *pairs, size_t len, int npairs, const uint64_t *set,
                          size_t n);

/* Each value of the key map of an alert's pairs (npairs, len bytes), as
 * text (strings as they are, numbers and booleans written out), into fn
 * (nonzero stops); *reason (may be NULL) borrows its reason from pairs.
 * 0, or -1 when the pairs do not parse. */
int hub_alert_key_each(const void *pairs, size_t len, int npairs,
                       int (*fn)(void *ctx, const char *v, size_t n), void *ctx,
                       const char **reason, size_t *reason_len);
/* The key values hub_alert_key_each gives, collected by passing
 * hub_alert_key_values_add as fn and one of these as ctx: at most
 * CSPH_KEY_MAX_FIELDS, each shorter than 128 bytes (a longer one is left
 * out), NUL-terminated. */
struct hub_alert_key_values {
    size_t n;
    char v[CSPH_KEY_MAX_FIELDS][128];
    size_t len[CSPH_KEY_MAX_FIELDS];
};
int hub_alert_key_values_add(void *ctx, const char *v, size_t len);

/* One alert's record (a, as stored) rewritten in the batch's txn: each key
 * value equal to person (plen bytes; person NULL: every value) and the
 * reason become marker (hub_queues_rewrite). */
enum hub_err hub_alert_redact_one(struct hub_queues *q, MDB_txn *txn,
                                  const struct hub_alert_stored *a, const char *person,
                                  size_t plen, const char *marker, struct hub_error *err);

/* A retention sweep's hook (sweep.c), inside its batch: alert id expires
 * with marker (hub_alert_expired_marker): its pending deadline ends,
 * every key value and its reason become the marker, it leaves the person
 * view's index, the case its acceptance opened on its panel (when no later
 * alert opened it again) is renamed to the marker with its actions and
 * its history dropped (*case_renamed 1), and its acceptances in the
 * meetings' index show the marker. id, panel, rule, version, priority,
 * dates, evidence, status and decisions stay. */
enum hub_err hub_alert_expire_one(struct hub_queues *q, struct hub_store *s, uint64_t id,
                                  const char *marker, int *case_renamed, struct hub_error *err);

/* The erasure's hook (erase.c), inside its batch: redact every alert of q
 * naming person (plen bytes) or with evidence among removed (n seqs in
 * ascending order: events the erasure left naming nobody), as above, with
 * the marker of erasure_seq. *redacted is how many alerts, *cases how
 * many cases were renamed. apply 0 (a dry run) only counts the alerts
 * and writes nothing. */
enum hub_err hub_alert_redact_person(struct hub_queues *q, struct hub_store *s,
                                     const struct hub_config *cfg, const char *person,
                                     size_t plen, const uint64_t *removed, size_t n,
                                     uint64_t erasure_seq, int apply, uint64_t *redacted,
                                     uint64_t *cases, struct hub_error *err);

/* ---- re-derivation's kept alerts ----------------------------------------- */

struct hub_alert_keep;
/* The kept alerts of a hub: those of alerts (its alert set, collected in
 * txn, a read transaction of store's environment) that are redacted or
 * whose evidence holds an erased event, with their records copied from q.
 * *out is NULL when there are none. */
enum hub_err hub_alert_keep_collect(struct hub_alert_keep **out, struct hub_queues *q,
                                    struct hub_store *store, MDB_txn *txn,
                                    const struct hub_alert_set *alerts, struct hub_error *err);
void hub_alert_keep_free(struct hub_alert_keep **k);
/* Install k on the fresh hub's queues (hub_queues_set_keep): a kept alert
 * the replay does not raise again at its id gets its recorded copy. */
void hub_alert_keep_install(struct hub_alert_keep *k, struct hub_queues *fresh,
                            const struct hub_config *cfg);
/* Before the event seq is replayed, in the open batch (txn): the kept
 * alerts whose anchor came before it and that were not raised again take
 * their ids (UINT64_MAX: all that are left, at the end). */
enum hub_err hub_alert_keep_fill(struct hub_alert_keep *k, struct hub_queues *fresh,
                                 MDB_txn *txn, uint64_t seq, struct hub_error *err);
/* Whether alert id is kept: 1 and *erasure (the erasure seq that took its
 * evidence or redacted it), or 0. */
int hub_alert_keep_is(const struct hub_alert_keep *k, uint64_t id, uint64_t *erasure);
/* Kept alert id as packed in the hub's snapshot (hub_queues_each's form):
 * 1 and *bytes (borrowed from k), or 0 when id is not kept. */
int hub_alert_keep_packed(const struct hub_alert_keep *k, uint64_t id, const void **bytes,
                          size_t *len);
/* 1 when kept alert id was expired by a retention sweep (its seq, from
 * hub_alert_keep_is, is then the sweep's dp.retention event). */
int hub_alert_keep_expired(const struct hub_alert_keep *k, uint64_t id);
/* 1 when a (the hub's, packed) and b (re-derived) agree on what a kept
 * alert keeps: id, panel, rule, rule_version, priority, evidence,
 * raised_at, due_at and status (not status when expired: a retention
 * sweep may have taken its decisions' bodies); key and reason are not
 * compared. */
int hub_alert_keep_agrees(const void *a, size_t alen, const void *b, size_t blen, int expired);

#endif
