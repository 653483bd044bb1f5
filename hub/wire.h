/* wire.h: CSPH/1 requests and replies <-> MessagePack (PROTOCOL.md 2).
 *
 * A request is one MessagePack map with string keys. hub_wire_decode walks
 * its top level itself only far enough to remember where each value's bytes
 * are, and lets msgpack-c parse every value: so an event is kept and
 * replayed as the exact bytes the client sent, and `req` is echoed verbatim.
 *
 * Knows no storage and no sockets. */
#ifndef CSPH_WIRE_H
#define CSPH_WIRE_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CSPH_PROTOCOL_VERSION "CSPH/1"

#define CSPH_OP_MAP(X)                                                         \
    X(PING, "ping")                                                            \
    X(STATS, "stats")                                                          \
    X(PUBLISH, "publish")                                                      \
    X(REPLAY, "replay")                                                        \
    X(REJECTS, "rejects")                                                      \
    X(FETCH, "fetch")                                                          \
    X(ACK, "ack")                                                              \
    X(ALERTS, "alerts")                                                        \
    X(ALERT_UPDATE, "alert.update")                                            \
    X(EVIDENCE, "evidence")                                                    \
    X(ALERT, "alert")                                                          \
    X(PERSON, "person")                                                        \
    X(REPORT, "report")                                                        \
    X(ERASE, "erase")                                                          \
    X(HOLD, "hold")                                                            \
    X(CASES, "cases")                                                          \
    X(CASE, "case")                                                            \
    X(CASE_CLOSE, "case.close")                                                \
    X(CASE_REVIEW, "case.review")                                              \
    X(CASE_RISK, "case.risk")                                                  \
    X(CASE_HEAR, "case.hear")                                                  \
    X(ACTIONS, "actions")                                                      \
    X(ACTION_CREATE, "action.create")                                          \
    X(ACTION_UPDATE, "action.update")                                          \
    X(AGENDA, "agenda")                                                        \
    X(AGENDA_ISSUE, "agenda.issue")                                            \
    X(SAR, "sar")

enum hub_op {
#define CSPH_OP_ENUM(name, str) CSPH_OP_##name,
    CSPH_OP_MAP(CSPH_OP_ENUM)
#undef CSPH_OP_ENUM
    CSPH_OP__COUNT
};

const char *hub_op_name(enum hub_op op);

/* Bytes inside the received message. Borrowed: valid while the message is. */
struct hub_span {
    const char *ptr;
    size_t len;
};

/* One decoded request. Objects live in the zone given to decode; spans point
 * into the message buffer. */
struct hub_request {
    enum hub_op op;
    msgpack_object root;  /* the whole request map */
    struct hub_span req;  /* `req` exactly as sent; len 0 when absent */
    /* publish: one event (`event`) or a batch (`events`) */
    int batch;
    uint32_t nevents;
    const msgpack_object *events;   /* nevents objects */
    const struct hub_span *spans;   /* nevents byte spans */
};

/* Decode buf. On failure returns CSPH_ERR_BAD_REQUEST (not MessagePack, not
 * a map, non-string key, missing/wrong op or field), CSPH_ERR_BAD_OP or
 * CSPH_ERR_TOO_LARGE (too many events) with err filled; req->req is set
 * whenever `req` could be found, so the error reply can still echo it.
 * events_max bounds a publish batch. */
enum hub_err hub_wire_decode(const void *buf, size_t len, msgpack_zone *zone,
                             uint32_t events_max, struct hub_request *req,
                             struct hub_error *err);

/* Typed, optional request fields. Absent: *present = 0 (when present is not
 * NULL) and the out value untouched. Wrong type or out of range:
 * CSPH_ERR_BAD_REQUEST naming the field. */
enum hub_err hub_wire_u64(const struct hub_request *r, const char *key, uint64_t min,
                          uint64_t max, uint64_t *out, int *present, struct hub_error *err);
enum hub_err hub_wire_str(const struct hub_request *r, const char *key, size_t min_len,
                          size_t max_len, int required, const char **ptr, size_t *len,
                          struct hub_error *err);

/* Replies. A reply map starts with `req` (when the request had one) and `ok`.
 * hub_reply_begin packs the map header for that many entries plus extra,
 * then req and ok; the caller packs the extra key/value pairs. */
void hub_reply_begin(msgpack_packer *pk, const struct hub_span *req, int ok, uint32_t extra);
/* {req, ok: false, error: {code, message, field?}} and, with status, also
 * status: "rejected" (a single publish). */
void hub_reply_error(msgpack_packer *pk, const struct hub_span *req, const struct hub_error *e,
                     int with_status);
/* The error map alone: {code, message, field?}. */
void hub_pack_error(msgpack_packer *pk, const struct hub_error *e);
/* Pack a C string / a length-delimited string. */
void hub_pack_str(msgpack_packer *pk, const char *s);
void hub_pack_strn(msgpack_packer *pk, const char *s, size_t len);
/* Pack text (len bytes, at most 320 used) as a string that is valid UTF-8
 * whatever it holds: bytes that break UTF-8 become U+FFFD. For text that
 * quotes a request (error messages and fields). */
void hub_pack_text(msgpack_packer *pk, const char *s, size_t len);
/* Append raw, already-encoded MessagePack (an event as stored). */
void hub_pack_raw(msgpack_packer *pk, const void *bytes, size_t len);

#endif
