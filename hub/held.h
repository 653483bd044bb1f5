/* held.h: fetches waiting for alerts (PROTOCOL.md 5, wait_ms). A fetch
 * that found nothing is held here with its reply envelope until an alert
 * for its panel becomes readable (hub_core_take_readable), its wait ends,
 * its client goes, or the hub stops; then it is taken out and answered
 * with what its query finds at that moment (reads.h,
 * hub_reads_fetch_reply). Bounded: at most max at once (limits.
 * fetch_held_max); the per-client bounds are the transport's.
 *
 * Knows no loop and no storage: times are the caller's (uv_now). */
#ifndef CSPH_HELD_H
#define CSPH_HELD_H

#include <stddef.h>
#include <stdint.h>
#include <zmq.h>

#include "err.h"
#include "security.h"
#include "transport.h"
#include "wire.h"

#define CSPH_HELD_ENV_MAX 8 /* routing envelope frames kept */

/* What an audited fetch (ops.h: a panel member's or an auditor's, in
 * security curve) needs to be recorded again when it is answered with
 * records (heldrel.h): who asked, and the request body as sent. */
struct hub_held_audit {
    struct hub_identity who; /* a copy: the identity file may be reloaded meanwhile */
    void *body;
    size_t body_len;
};
/* A copy of who and body; NULL when out of memory. */
struct hub_held_audit *hub_held_audit_new(const struct hub_identity *who, const void *body,
                                          size_t body_len);
void hub_held_audit_free(struct hub_held_audit *a);

/* One held fetch. Owned by the set while held; taken out, the caller's,
 * freed with hub_held_fetch_free. */
struct hub_held_fetch {
    zmq_msg_t env[CSPH_HELD_ENV_MAX]; /* the reply's envelope */
    int nenv;
    struct hub_ticket tk;  /* the client the reply is charged to */
    void *req;             /* a copy of `req` as sent (echoed) */
    size_t req_len;
    int panel;
    char consumer[65];
    size_t consumer_len;
    uint32_t max;
    int view;         /* what the fetcher may read: CSPH_QVIEW_* (queues.h) */
    uint64_t expires; /* the caller's clock, ms */
    struct hub_held_audit *audit; /* NULL: a read that is not audited */
};

struct hub_held;

enum hub_err hub_held_new(struct hub_held **out, size_t max, struct hub_error *err);
/* Free the set and every fetch still held (frames closed); accepts NULL. */
void hub_held_destroy(struct hub_held **h);
size_t hub_held_count(const struct hub_held *h);
/* BUSY (naming limits.fetch_held_max) when no fetch can be held now. */
enum hub_err hub_held_room(const struct hub_held *h, struct hub_error *err);
/* Hold a fetch (view: what its sender may read, CSPH_QVIEW_*): the first nenv frames of env are moved in (their
 * messages emptied), req copied, audit (NULL: not audited) owned by the
 * set from then. BUSY when full or out of memory; nothing is moved then
 * (audit stays the caller's). */
enum hub_err hub_held_add(struct hub_held *h, const struct hub_ticket *tk, zmq_msg_t *env,
                          int nenv, const struct hub_span *req, int panel,
                          const char *consumer, size_t consumer_len, uint32_t max, int view,
                          uint64_t expires, struct hub_held_audit *audit,
                          struct hub_error *err);
void hub_held_fetch_free(struct hub_held_fetch *f);

/* Take one held fetch out into *out (1), or 0 when none matches:
 * one whose wait ended by now; one on a panel of the set panels (bit i:
 * panel i); one of connection c; the newest one (to undo a hold); any. */
int hub_held_take_expired(struct hub_held *h, uint64_t now, struct hub_held_fetch *out);
int hub_held_take_panels(struct hub_held *h, uint64_t panels, struct hub_held_fetch *out);
int hub_held_take_conn(struct hub_held *h, const struct hub_conn *c,
                       struct hub_held_fetch *out);
int hub_held_take_newest(struct hub_held *h, struct hub_held_fetch *out);
/* When the first wait ends (UINT64_MAX: nothing held). */
uint64_t hub_held_next_expiry(const struct hub_held *h);

#endif
