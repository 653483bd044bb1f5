/* csphub.h — the CSPH/1 client library.
 *
 * What an agency's developer, the adapters and the `csphub` command use to
 * talk to a csphub hub: connect, publish events with a window of requests in
 * flight, resend what was not acknowledged after a reconnect or a hub
 * restart, and make any other request (replay, fetch, ack, alerts, evidence,
 * alert.update, stats, rejects, ping) synchronously, in MessagePack or in
 * JSON. Replies are at most 16 MiB (PROTOCOL.md 1): lists come in pages
 * with `next`/`end`, and the library hands each reply back as it came.
 *
 *     csph_client *c;
 *     char err[256];
 *     if (csph_client_open(&c, "tcp://127.0.0.1:7450", NULL, err, sizeof err))
 *         die(err);
 *     csph_client_on_result(c, on_result, &totals);  // accepted/duplicate/rejected
 *     for (each event)
 *         csph_client_publish_json(c, line, strlen(line), row_number);
 *     csph_client_flush(c, -1);                      // every event has its answer
 *     csph_client_close(&c);
 *
 * Build with `pkg-config --cflags --libs csphub`.
 *
 * Caveats
 * - A client is not thread-safe: use one per thread.
 * - Delivery: the library keeps every unanswered publish and resends it
 *   after `resend_ms` without a reply; the hub's idempotency key
 *   (source, id) makes a resend harmless, so an event's result may be
 *   `duplicate` where the first send was in fact accepted. `busy` and
 *   `internal` answers are retried too; only accepted, duplicate and
 *   rejected are final.
 * - Memory handed out (replies, result strings) belongs to the client and
 *   is valid until the next call on that client, unless said otherwise.
 * - Functions return 0 on success and -1 on failure; csph_client_error()
 *   then says why in one sentence.
 */
#ifndef CSPHUB_H
#define CSPHUB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CSPH_CLIENT_VERSION "0.1.0"

typedef struct csph_client csph_client;

/* Options; a zeroed struct (or NULL) means the defaults in brackets. */
struct csph_client_options {
    int window;            /* publish requests in flight [100] */
    int batch;             /* events per publish request, 1..1000 [1] */
    int resend_ms;         /* resend a request unanswered this long [5000] */
    int busy_backoff_ms;   /* wait before resending after `busy` [200] */
    /* CURVE (security = curve): the hub's public key and this client's key
     * pair, each 40 characters of Z85. NULL: no CURVE. */
    const char *server_public_key;
    const char *public_key;
    const char *secret_key;
    /* Give up (-1 from publish, flush or a request) when the hub has not
     * answered anything for this long while requests wait [0: never; an
     * adapter waits out a hub restart]. */
    int give_up_ms;
};

/* The final answer for one published event. Strings are valid during the
 * callback only. */
struct csph_result {
    uint64_t token;      /* what the caller passed to publish */
    const char *status;  /* "accepted", "duplicate" or "rejected" */
    uint64_t seq;        /* the log's seq (accepted, duplicate); 0 when rejected */
    const char *code;    /* rejected: the error code, e.g. "bad_event"; else NULL */
    const char *field;   /* rejected: the dotted field path, or "" */
    const char *message; /* rejected: one sentence */
};
typedef void (*csph_result_fn)(void *ctx, const struct csph_result *r);

/* Connect to endpoint (tcp://HOST:PORT or ipc://PATH). The options (keys
 * included) are read during the call only: the caller may wipe them after. Connecting never
 * waits for the hub: requests queue until it is reachable. On failure
 * returns -1 with a message in err (errlen bytes). */
int csph_client_open(csph_client **out, const char *endpoint,
                     const struct csph_client_options *opts, char *err, size_t errlen);
/* Close and NULL *c; accepts NULL. Unanswered publishes are dropped: call
 * csph_client_flush first. */
void csph_client_close(csph_client **c);
/* The last failure, one sentence. Never NULL. */
const char *csph_client_error(const csph_client *c);

/* Where final publish results go (may be set at any time; NULL: dropped). */
void csph_client_on_result(csph_client *c, csph_result_fn fn, void *ctx);

/* Queue one event for publishing: event is a MessagePack map (len bytes,
 * copied), token is the caller's (a row number, say) and comes back in its
 * result. Blocks, handling replies, while the window is full. */
int csph_client_publish(csph_client *c, const void *event, size_t len, uint64_t token);
/* The same with the event as one JSON object. A JSON error is -1 (nothing
 * queued) with the reason in csph_client_error. */
int csph_client_publish_json(csph_client *c, const char *json, size_t len, uint64_t token);
/* Send what is queued and wait until every published event has its final
 * result, resending as needed. timeout_ms < 0 waits for ever; 0 sends a
 * partly filled batch now and returns at once. Returns 0, or
 * -1 when the time ran out (csph_client_pending tells how many are left). */
int csph_client_flush(csph_client *c, int timeout_ms);
/* Handle whatever replies have arrived, waiting up to timeout_ms for one;
 * resends what is due. Returns 0 (also when nothing arrived) or -1. */
int csph_client_poll(csph_client *c, int timeout_ms);
/* Events queued or in flight without a final result. */
size_t csph_client_pending(const csph_client *c);

/* A synchronous request: req is a MessagePack map (the library adds its own
 * `req`); waits up to timeout_ms (< 0: for ever) for the reply, resending
 * every resend_ms only requests a repeat cannot change the outcome of
 * (publish, ack, and reads: ping, stats, replay, rejects, fetch, alerts,
 * evidence, alert, person, cases, case, actions, agenda). Any other op
 * (alert.update, action.create, case.*, agenda.issue, erase, hold, report,
 * ...) is sent once: on a time-out, find out whether it was done (read it
 * back) before sending it again. The reply is returned as MessagePack (*reply,
 * *reply_len; owned by the client). Publish results arriving meanwhile go
 * to the result callback. -1 on time-out, and after about a second when
 * the hub was never reached and its address keeps refusing the connection
 * (nothing listens there: csph_client_error says so). */
int csph_client_request(csph_client *c, const void *req, size_t len, int timeout_ms,
                        const void **reply, size_t *reply_len);
/* The same in JSON: req is a JSON object; *reply is the reply as a JSON
 * object (NUL-terminated, owned by the client). MessagePack binary values
 * (a rejection's bytes) come out as {"base64": "..."}. */
int csph_client_request_json(csph_client *c, const char *req, int timeout_ms, const char **reply);

/* JSON <-> MessagePack, as the library converts them: JSON integers become
 * MessagePack integers, other numbers floats; MessagePack binary becomes
 * {"base64": "..."}. *out is malloc'd; the caller frees it. */
int csph_json_to_msgpack(const char *json, size_t len, void **out, size_t *out_len, char *err,
                         size_t errlen);
int csph_msgpack_to_json(const void *mp, size_t len, int pretty, char **out);

/* CSPH/1's error codes (PROTOCOL.md 2), one X-macro: X(C name, wire code,
 * one sentence). A reply's `code` text maps to enum csph_code with
 * csph_code_parse, so a program compares numbers, never strings. */
#define CSPH_CODE_MAP(X)                                                       \
    X(OK, "ok", "success")                                                     \
    X(BAD_REQUEST, "bad_request", "the request is malformed")                  \
    X(BAD_OP, "bad_op", "unknown op")                                          \
    X(BAD_EVENT, "bad_event", "the event breaks its schema")                   \
    X(UNKNOWN_TYPE, "unknown_type", "no schema for the event's type")          \
    X(TOO_LARGE, "too_large", "over a size limit")                             \
    X(ID_CONFLICT, "id_conflict",                                              \
      "this source already sent this event id with different content")         \
    X(FORBIDDEN, "forbidden", "the client's identity may not do this")         \
    X(UNKNOWN_PANEL, "unknown_panel", "no such panel")                         \
    X(NOT_FOUND, "not_found", "no such alert or sequence number")              \
    X(BUSY, "busy", "the hub is at a configured limit; retry later")           \
    X(INTERNAL, "internal", "the hub failed; nothing was done")                \
    X(CONFLICT, "conflict",                                                    \
      "the alert's status does not allow this change")

enum csph_code {
#define CSPH_CODE_ENUM(name, code, msg) CSPH_CODE_##name,
    CSPH_CODE_MAP(CSPH_CODE_ENUM)
#undef CSPH_CODE_ENUM
    CSPH_CODE__COUNT,
    CSPH_CODE_UNKNOWN = -1 /* a code this library does not know (a newer hub's) */
};

/* The code's text ("busy"); "unknown" for CSPH_CODE_UNKNOWN. */
const char *csph_code_name(enum csph_code c);
/* The text of a reply's `code` (len bytes, not NUL-terminated) as a
 * number; CSPH_CODE_UNKNOWN for anything else. */
enum csph_code csph_code_parse(const char *s, size_t len);
/* Whether a request answered with this code may succeed if sent again
 * unchanged (busy, internal). */
int csph_code_retry(enum csph_code c);

/* 1 when the len bytes at ref are a person reference as PROTOCOL.md 3
 * defines it: 1-64 characters from [A-Za-z0-9._:-] (what the hub accepts
 * in a field of kind person, and what an alert's key value or a case's
 * subject is when nothing has withheld it). */
int csph_ref_valid(const char *ref, size_t len);

/* CURVE keys (security = curve). csph_keygen writes a new key pair for
 * name into dir: NAME.key (public and secret key, mode 0600: give it to
 * that client only) and NAME.pub (the public key: put it in the hub's
 * identity file). public_z85 (41 bytes) receives the public key. */
int csph_keygen(const char *dir, const char *name, char *public_z85, char *err, size_t errlen);
/* Read a key file: NAME.key gives both keys, NAME.pub the public key only
 * (secret_z85 then ""). A .key file that the group or others may read is
 * refused ("chmod 600 FILE"). The secret is never printed. */
int csph_key_file_read(const char *path, char *public_z85, char *secret_z85, char *err,
                       size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
