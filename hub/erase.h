/* erase.h: erasure and restriction of a person's records on request (UK
 * GDPR Art. 17 and 18, DPA 2018 s.47), issue 17; docs/log-format.md
 * ("Erasure") says what a checker accepts.
 *
 * The op `erase` (role dpo; any caller in security none, which records the
 * OS user the command sends) finds the events naming a person through the
 * person index, and:
 * - without apply: answers what it would change, and writes nothing;
 * - erase: rewrites each event without the person: the fields of kind
 *   person naming them are removed; an event naming nobody else keeps only
 *   id, type, occurred_at and source. The stored times, type, source and
 *   link stay. Then one or more dp.erasure events (source hub, chained
 *   like any event) list, a line per rewritten seq, what a checker needs to
 *   accept the record (CSPH_ERASE_RECORD_FMT), and dp.erased (store.h)
 *   maps each seq to its erasure and the hash of the removed bytes, so a
 *   resend is a duplicate. The person's entries leave the person index.
 * - restrict: nothing is rewritten; dp.restricted maps each seq to its
 *   dp.erasure event, and reads by every role but dpo and auditor leave
 *   those events out (hub_erase_restricted).
 * Every write is in the batch through the redo recorder, so the journal
 * makes an erasure again after a power cut exactly as it was committed.
 *
 * Knows no sockets: the handler is a row of the op table (ops.c). */
#ifndef CSPH_ERASE_H
#define CSPH_ERASE_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ops.h"
#include "schema.h"
#include "store.h"

#define CSPH_ERASE_TYPE "dp.erasure"
#define CSPH_RETENTION_TYPE "dp.retention" /* a retention sweep's step (sweep.h) */
#define CSPH_ERASE_RESTRICTED_DB "dp.restricted"
/* Records a dp.erasure event lists (its `records` text stays under 60,000
 * bytes: a line is at most 8 + 3*20 + 32 + 2*64 + 3*64 + 3*128 bytes with
 * type and source escaped, and in practice near 300). */
#define CSPH_ERASE_PER_EVENT 100
#define CSPH_ERASE_REASON_MAX 1000

/* The op handler (ops.c): a write, run in the batch. */
enum hub_err hub_op_erase(struct hub_ctx *h, struct hub_req *q);

/* Shared with hold.c. The hub's own event packed in sb (a map with id,
 * type, occurred_at and source "hub"), checked against its schema and
 * appended in the batch; CSPH_ERR_BUSY or CSPH_ERR_INTERNAL (the batch is
 * lost) otherwise. */
enum hub_err hub_dp_append(struct hub_ctx *h, int64_t now_ms, const msgpack_sbuffer *sb,
                           uint64_t *seq, struct hub_error *e);
/* Who asks, as the log records it: the identity's name (security curve),
 * or "os:" and the request's requested_by (security none: required). by
 * gets at most 80 bytes and a NUL. */
enum hub_err hub_dp_requester(const struct hub_req *q, char by[81], struct hub_error *e);

/* One line of a dp.erasure event's `records`, per redacted seq:
 *   SEQ RECEIVED_MS OCCURRED_MS LINK REMOVED KEPT TYPE SOURCE
 * LINK the stored link (32 hex), REMOVED the SHA-256 of the event bytes
 * the erasure replaced, KEPT the SHA-256 of the stored value without its
 * link after the rewrite (both 64 hex), TYPE and SOURCE with '%', space,
 * newline and bytes below 0x21 written %XX. */
struct hub_erase_record {
    uint64_t seq;
    int64_t received_ms, occurred_ms;
    unsigned char link[16], removed[32], kept[32];
    char type[3 * 64 + 1], source[3 * 64 + 1]; /* decoded, NUL-terminated */
};
/* Append r's line (with its newline) to sb. */
void hub_erase_record_format(msgpack_sbuffer *sb, const struct hub_erase_record *r);
/* Find seq's line in the records text (len bytes): 0 and *r, or -1 when
 * it is not listed or its line is malformed. */
int hub_erase_record_find(const char *text, size_t len, uint64_t seq,
                          struct hub_erase_record *r);

/* The event bytes (a valid event of type type_index, obj unpacked from
 * bytes) without person (len bytes), packed into out: every field of kind
 * person equal to person (every one when person is NULL: retention) is
 * left out; when no field names anyone else,
 * only id, type, occurred_at and source stay. Kept pairs keep their exact
 * bytes. *others is how many person fields naming someone else stay.
 * 0, or -1 when bytes is not a map. */
int hub_erase_redact(const struct hub_schemas *s, int type_index, const void *bytes, size_t n,
                     const char *person, size_t len, msgpack_sbuffer *out, int *others);

/* The verify oracle (hub_store_verify_with): accepts a redacted event when
 * the dp.erasure (request erase) or dp.retention event CSPH_STORE_ERASED_DB
 * names lists it with the same
 * link, times, type, source and kept hash. ctx is unused (NULL). */
int hub_erase_verify_redacted(void *ctx, const struct hub_stored_event *ev,
                              const unsigned char link[16], const unsigned char kept[32],
                              const struct hub_stored_event *erasure);

/* 1 when seq is restricted (dp.restricted) in txn, a read transaction of
 * the log's environment; for reads by roles other than dpo and auditor. */
int hub_erase_restricted(MDB_txn *txn, uint64_t seq);
/* The seq of the dp.erasure event that rewrote event seq, 0 when none.
 * Its own read transaction of s's log. */
uint64_t hub_erase_erased_by(struct hub_store *s, uint64_t seq);
/* 1 when who (security curve; NULL in none, where nobody has a role and
 * nothing is hidden) may not read event seq: restricted, and who is
 * neither dpo nor auditor. Its own read transaction. Reads leave such an
 * event out without a word, as if it were not evidence (views.c). */
int hub_erase_hidden(struct hub_store *s, const struct hub_identity *who, uint64_t seq);

/* An event copied out of the map, for a redaction (the store's visitor
 * lends its memory only for the call): hub_erase_copy_event is a
 * hub_store_batch_get visitor filling one; free(bytes) after. Used by
 * erasure and by the retention sweep. */
struct hub_erase_copied {
    int64_t received_ms, occurred_ms;
    char type[65], source[65];
    unsigned char *bytes;
    size_t len;
};
int hub_erase_copy_event(void *ctx, const struct hub_stored_event *ev);

/* The `person` of a data-protection request (erase, hold, sar): required,
 * a valid person reference, or BAD_REQUEST naming the field. */
enum hub_err hub_erase_person_arg(const struct hub_request *r, const char **person,
                                  size_t *len, struct hub_error *e);

#endif
