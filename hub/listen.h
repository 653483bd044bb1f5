/* listen.h: the hub's listening side of ZeroMQ. One ROUTER socket with its
 * options taken from limits (high-water marks, the largest message, a
 * bounded linger, mandatory routing, IPv6), CURVE and the ZAP handler when
 * security is curve, and the binding of every configured endpoint
 * (tcp://localhost:P means 127.0.0.1 and, where the machine has it, ::1).
 * What comes over the socket is the transport's and the server's.
 *
 * Order (ZeroMQ's): open (the ZAP handler is bound before any CURVE socket
 * binds), then whatever must watch the socket before it binds (the
 * transport's monitor), then bind. Close after every user of the socket
 * (the transport) is gone: it terminates the context. */
#ifndef CSPH_LISTEN_H
#define CSPH_LISTEN_H

#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "err.h"
#include "security.h"
#include "zsock.h"

struct hub_listener {
    void *zctx;
    void *router;
    void *zap;                         /* REP socket answering ZAP requests (curve) */
    struct hub_zsock zap_zs;
    int zap_started;
    const struct hub_identities *ids;  /* borrowed: the keys ZAP admits */
    uint64_t *refused;                 /* counted here: handshakes refused */
};

/* Create the context and the ROUTER, set its options, and in curve mode
 * read the hub's key (server_key_file) and bind the ZAP handler. Errors:
 * CSPH_ERR_CONFIG naming "listen" or "server_key_file". On failure what
 * was made is left for hub_listen_close. ids and refused are borrowed and
 * must outlive the listener. */
enum hub_err hub_listen_open(struct hub_listener *l, const struct hub_config *cfg,
                             const struct hub_identities *ids, uint64_t *refused,
                             struct hub_error *err);
/* Bind every endpoint of cfg->listen. CSPH_ERR_CONFIG naming "listen" and
 * the endpoint when one cannot be bound. */
enum hub_err hub_listen_bind(struct hub_listener *l, const struct hub_config *cfg,
                             struct hub_error *err);
/* Answer ZAP requests from the loop (curve mode; no-op otherwise). */
void hub_listen_start(struct hub_listener *l, uv_loop_t *loop);
/* Stop answering them (the zsock's uv handles closed asynchronously). */
void hub_listen_stop(struct hub_listener *l);
/* Close the sockets and terminate the context; accepts a half-opened or
 * zeroed listener. */
void hub_listen_close(struct hub_listener *l);

#endif
