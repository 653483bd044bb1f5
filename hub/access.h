/* access.h: which records each audited read returned, kept so that a
 * subject access request (sar.h) finds every read that returned a person's
 * records without re-running a year of queries (issue 17, point 5).
 *
 * Decision: record at read time, not re-run. An audit.access event keeps
 * the query; re-running it "against the log as it stood" would need the
 * log, the queues and the rules of that moment, and costs a query a record
 * (a year of access records read and re-run at every SAR). Instead, after
 * each audit.access the hub appends audit.returned events (source hub)
 * listing, as ranges, the event seqs and the alert ids the reply held
 * (hub_access_collect reads them from the reply itself, so no view has to
 * report them). The index (index.mdb, derived from the log alone, so a
 * rebuild makes it again) maps each returned seq and alert id to the
 * audit.access seq: a SAR costs one index look-up per record of the
 * person, whatever the number of access records.
 *
 * Knows no sockets. */
#ifndef CSPH_ACCESS_H
#define CSPH_ACCESS_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ingest.h"
#include "security.h"
#include "store.h"

#define CSPH_ACCESS_TYPE "audit.returned"
/* The index's kinds (store.h's person index, beside schema.h's p, l, a):
 * the decimal text of a returned event seq, or of a returned alert id. */
#define CSPH_REF_READ_EVENT 'e'
#define CSPH_REF_READ_ALERT 'k'
/* A person reference an audit.access query named (its `ref`, `person` or
 * `key`): what an erasure rewrites in those records (erase.h). */
#define CSPH_REF_QUERY 'q'
/* The ranges text of one audit.returned event, at most (its schema's max:
 * the event stays within an event's 64 KiB). */
#define CSPH_ACCESS_TEXT_MAX 49152

/* A set of u64 (seqs or alert ids), sorted and unique once finished. */
struct hub_u64set {
    uint64_t *v;
    size_t n, cap;
    int nomem;
};
void hub_u64set_add(struct hub_u64set *s, uint64_t x);
/* Sort and drop repeats. */
void hub_u64set_finish(struct hub_u64set *s);
void hub_u64set_free(struct hub_u64set *s);

/* What a read's reply returned: events[].seq and decisions[].seq (event
 * seqs), alerts[].id and alert.id (alert ids), at any depth of the reply
 * map's top-level keys. 0, or -1 when reply is not a MessagePack map. */
int hub_access_collect(const void *reply, size_t len, struct hub_u64set *events,
                       struct hub_u64set *alerts);

/* Ranges text of a finished set from position *from: "1-5,9,12-13",
 * at most max bytes (at least one range); *from moves past what was
 * written. */
void hub_access_ranges(const struct hub_u64set *s, size_t *from, size_t max, msgpack_sbuffer *out);
/* Parse ranges text; fn is called for each value (nonzero stops: returned).
 * -1 when the text is malformed. A range is at most 10,000,000 values. */
int hub_access_parse(const char *text, size_t len, int (*fn)(void *ctx, uint64_t v), void *ctx);

/* After audit.access seq access (in the batch): append the audit.returned
 * events of what reply (len bytes, the read's reply) returned; none when it
 * returned no event and no alert. */
enum hub_err hub_access_record(struct hub_ingest *g, uint64_t access, const void *reply,
                               size_t len, int64_t now_ms, struct hub_error *err);

/* Record one audited read in the batch: an audit.access event (who, their
 * role and gateway, op, the request body as JSON text, count records
 * returned; 0 when failed) and, unless failed, the audit.returned events
 * of what reply (len bytes) returned. The one way a read is recorded, for
 * a read answered in its batch (writes.c) and for a held fetch answered
 * later (heldrel.h). */
enum hub_err hub_access_audit(struct hub_ingest *g, const struct hub_identity *who,
                              const char *op, const void *body, size_t body_len, int failed,
                              uint32_t count, const void *reply, size_t len, int64_t now_ms,
                              struct hub_error *err);

/* Index hook (ingest.c's index_refs, live and when the index is rebuilt):
 * for an audit.returned event (obj its map), index each listed seq and
 * alert id to its access seq; for an audit.access event, the person
 * references its query names (CSPH_REF_QUERY) to its own seq. Other
 * types (type: the event's type name, NULL when unknown): nothing, at the
 * cost of a string comparison. seq is the event's seq. */
enum hub_err hub_access_index(struct hub_store *s, const char *type, const msgpack_object *obj,
                              int64_t occurred_ms, uint64_t seq, struct hub_error *err);

/* An audit.access event (n bytes) with every whole occurrence of person
 * (len bytes) in its `query` replaced by with (NUL-terminated), packed
 * into out; every other pair keeps its exact bytes. *replaced is how many.
 * 0, or -1 when bytes is not a map. For erasure (erase.c). */
int hub_access_redact_query(const void *bytes, size_t n, const char *person, size_t len,
                            const char *with, msgpack_sbuffer *out, int *replaced);

#endif
