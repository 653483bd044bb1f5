/* wire.h: CSPH/1 requests and replies <-> MessagePack (PROTOCOL.md 2).
 *
 * A request is one MessagePack map with string keys. csph_wire_decode walks
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
    X(PERSON, "person")

enum csph_op {
#define CSPH_OP_ENUM(name, str) CSPH_OP_##name,
    CSPH_OP_MAP(CSPH_OP_ENUM)
#undef CSPH_OP_ENUM
    CSPH_OP__COUNT
};

const char *csph_op_name(enum csph_op op);

/* Bytes inside the received message. Borrowed: valid while the message is. */
struct csph_span {
    const char *ptr;
    size_t len;
};

/* One decoded request. Objects live in the zone given to decode; spans point
 * into the message buffer. */
struct csph_request {
    enum csph_op op;
    msgpack_object root;  /* the whole request map */
    struct csph_span req; /* `req` exactly as sent; len 0 when absent */
    /* publish: one event (`event`) or a batch (`events`) */
    int batch;
    uint32_t nevents;
    const msgpack_object *events;   /* nevents objects */
    const struct csph_span *spans;  /* nevents byte spans */
};

/* Decode buf. On failure returns CSPH_ERR_BAD_REQUEST (not MessagePack, not
 * a map, non-string key, missing/wrong op or field), CSPH_ERR_BAD_OP or
 * CSPH_ERR_TOO_LARGE (too many events) with err filled; req->req is set
 * whenever `req` could be found, so the error reply can still echo it.
 * events_max bounds a publish batch. */
enum csph_err csph_wire_decode(const void *buf, size_t len, msgpack_zone *zone,
                               uint32_t events_max, struct csph_request *req,
                               struct csph_error *err);

/* Typed, optional request fields. Absent: *present = 0 (when present is not
 * NULL) and the out value untouched. Wrong type or out of range:
 * CSPH_ERR_BAD_REQUEST naming the field. */
enum csph_err csph_wire_u64(const struct csph_request *r, const char *key, uint64_t min,
                            uint64_t max, uint64_t *out, int *present, struct csph_error *err);
enum csph_err csph_wire_str(const struct csph_request *r, const char *key, size_t min_len,
                            size_t max_len, int required, const char **ptr, size_t *len,
                            struct csph_error *err);

/* Replies. A reply map starts with `req` (when the request had one) and `ok`.
 * csph_reply_begin packs the map header for that many entries plus extra,
 * then req and ok; the caller packs the extra key/value pairs. */
void csph_reply_begin(msgpack_packer *pk, const struct csph_span *req, int ok, uint32_t extra);
/* {req, ok: false, error: {code, message, field?}} and, with status, also
 * status: "rejected" (a single publish). */
void csph_reply_error(msgpack_packer *pk, const struct csph_span *req, const struct csph_error *e,
                      int with_status);
/* The error map alone: {code, message, field?}. */
void csph_pack_error(msgpack_packer *pk, const struct csph_error *e);
/* Pack a C string / a length-delimited string. */
void csph_pack_str(msgpack_packer *pk, const char *s);
void csph_pack_strn(msgpack_packer *pk, const char *s, size_t len);
/* Pack text (len bytes, at most 320 used) as a string that is valid UTF-8
 * whatever it holds: bytes that break UTF-8 become U+FFFD. For text that
 * quotes a request (error messages and fields). */
void csph_pack_text(msgpack_packer *pk, const char *s, size_t len);
/* Append raw, already-encoded MessagePack (an event as stored). */
void csph_pack_raw(msgpack_packer *pk, const void *bytes, size_t len);

#endif
