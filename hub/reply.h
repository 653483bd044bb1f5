/* reply.h: the shapes of the hub's replies (PROTOCOL.md 2-7), each packed
 * here and nowhere else, so that a shape is read and changed in one place.
 * A reply map starts with the echoed `req` and `ok` (hub_reply_begin in
 * wire.h); error replies are hub_reply_error's. A list is packed into its
 * own buffer first (its length bounded by the reply's room) and framed
 * here. The alerts themselves are stored packed (queues.c) and copied.
 *
 * Knows no storage and no sockets: it packs what it is given. */
#ifndef CSPH_REPLY_H
#define CSPH_REPLY_H

#include <msgpack.h>
#include <stdint.h>

#include "ops.h"
#include "store.h"
#include "transport.h"
#include "wire.h"

/* {req, ok}: ack. */
void hub_reply_ok(msgpack_packer *pk, const struct hub_span *req);
/* {req, ok, seq}: alert.update. */
void hub_reply_seq(msgpack_packer *pk, const struct hub_span *req, uint64_t seq);

/* publish of one event: {req, ok, status: accepted|duplicate, seq}. */
void hub_reply_published(msgpack_packer *pk, const struct hub_span *req, int dup,
                         uint64_t seq);
/* publish of a batch: {req, ok, results: [n entries]}, then one entry
 * each: {status: accepted|duplicate, seq} or {status: rejected, error}. */
void hub_reply_results_begin(msgpack_packer *pk, const struct hub_span *req, uint32_t n);
void hub_reply_result(msgpack_packer *pk, int dup, uint64_t seq);
void hub_reply_result_rejected(msgpack_packer *pk, const struct hub_error *e);

/* ping: {req, ok, version, last_seq, protocol}. */
void hub_reply_ping(msgpack_packer *pk, const struct hub_span *req, uint64_t last_seq);

/* stats: {req, ok, counters: {...}} with everything below. */
struct hub_reply_stats {
    const struct hub_counters *c;
    const struct hub_transport_stats *ts;
    uint64_t last_seq, rejects_kept;
    const struct hub_config *cfg;  /* the panels */
    const uint64_t *alerts;        /* per panel */
    const struct hub_store_health *health;
    const char *rule_version;
    uint64_t uptime_s;
};
void hub_reply_stats(msgpack_packer *pk, const struct hub_span *req,
                     const struct hub_reply_stats *st);

/* A list: {req, ok, KEY: [count items, packed in items]} and, when paged,
 * next (the last examined) and end. */
void hub_reply_list(msgpack_packer *pk, const struct hub_span *req, const char *key,
                    const msgpack_sbuffer *items, uint32_t count, int paged, uint64_t last,
                    int end);

/* A replay entry, {seq, received_at, event}; when (wl bytes) is
 * received_at formatted; the event's stored bytes are copied as they are.
 * Its bytes besides the event's are at most CSPH_REPLY_EVENT_OVERHEAD. */
#define CSPH_REPLY_EVENT_OVERHEAD 96
void hub_reply_event_entry(msgpack_packer *pk, uint64_t seq, const char *when, size_t wl,
                           const void *bytes, size_t len);
/* A kept rejection, {id, received_at, source, error, bytes}. */
void hub_reply_reject_entry(msgpack_packer *pk, const struct hub_stored_reject *rj);
/* rejects: {req, ok, rejects: [count entries, the first list_len bytes of
 * items], next, end, dropped, dropped_by_source: {nsources pairs, the rest
 * of items]}}. */
void hub_reply_rejects(msgpack_packer *pk, const struct hub_span *req,
                       const msgpack_sbuffer *items, size_t list_len, uint32_t count,
                       uint64_t last, int end, uint64_t dropped, uint32_t nsources);
/* evidence: {req, ok, id, total, evidence: [count seqs in items], next,
 * end: next >= total}. */
void hub_reply_evidence(msgpack_packer *pk, const struct hub_span *req, uint64_t id,
                        uint64_t total, const msgpack_sbuffer *items, uint32_t count,
                        uint64_t next);

#endif
