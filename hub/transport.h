/* transport.h: the hub's clients as connections, and what each may hold.
 *
 * The ROUTER socket knows a client only by its routing id. This module
 * keeps one record per connection (found from a request's routing-id
 * frame) and charges it, and the accounts it belongs to, for the replies
 * the hub holds for it and the fetches it keeps waiting, so that a client
 * that stops reading, or holds fetches, is answered `busy` itself and never
 * takes the hub's capacity from the others (docs/protocol-notes.md).
 *
 * It also owns the send path: a reply goes out at once, or waits in its
 * connection's queue (in order) when the client's pipe is full; queues are
 * retried with a per-connection backoff (1 ms doubling to 64 ms), so a
 * client that never reads costs one failed send every 64 ms, not a CPU.
 *
 * Disconnections come from the socket monitor (libzmq 4.3.4 has no
 * ZMQ_ROUTER_NOTIFY): ZMQ_EVENT_ACCEPTED and ZMQ_EVENT_DISCONNECTED carry the
 * connection's fd, and every request carries the fd it came on
 * (zmq_msg_get(ZMQ_SRCFD) on its body: the routing-id frame has none when
 * the ROUTER prefetched the message). A routing id first seen on fd F is bound to F
 * only after the monitor is drained, so the events that closed F's previous
 * connection and accepted this one have been applied; each fd keeps a count
 * of its accepts, and a DISCONNECTED releases the connection only when it
 * was bound under the fd's latest accept. That guards against fd reuse.
 *
 * Caveats:
 * - A struct hub_conn stays valid until the on_gone callback has run for
 *   it. Connections found gone while requests are being read are only
 *   marked; hub_transport_sweep (called by the owner between batches)
 *   runs on_gone and frees them.
 * - Connections whose fd is unknown (inproc://) are never released by the
 *   monitor; they are freed when they hold nothing.
 * - Accounts are keyed by any bytes (an identity's name today). A gateway
 *   that acts for people can charge each request to a second account, say
 *   "console/P-1042", with hub_transport_admit's `extra` key, to limit
 *   each person as well as the gateway in total.
 *
 * Everything runs on the loop thread. */
#ifndef CSPH_TRANSPORT_H
#define CSPH_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <zmq.h>

#include "err.h"
#include "zsock.h"

#define CSPH_TRANSPORT_MAX_FRAMES 8

struct hub_transport_limits {
    uint32_t replies_max;          /* held replies, whole hub */
    uint64_t reply_bytes_max;      /* bytes of held replies, whole hub */
    uint32_t conn_replies_max;     /* held replies and requests in hand, one connection */
    uint64_t conn_reply_bytes_max; /* bytes of held replies, one connection */
    uint32_t account_replies_max;  /* held replies and requests in hand, one account */
    uint32_t conn_fetches_max;     /* held fetches, one connection */
    uint32_t account_fetches_max;  /* held fetches, one account */
    uint32_t conns_max;            /* open connections; 0: from the fd limit */
};

struct hub_transport_stats {
    uint64_t replies_held;       /* replies that had to wait (ever) */
    uint64_t replies_dropped;    /* replies never delivered: client gone or past its bound */
    uint64_t replies_waiting;    /* held now */
    uint64_t busy_client;        /* requests answered busy for their own client's backlog */
    uint64_t connections;        /* open now (seen by the monitor) */
    uint64_t connections_accepted;
    uint64_t connections_closed;
    uint64_t connections_refused; /* at conns_max or the fd limit */
    uint64_t connections_max;     /* what the hub can hold */
    uint64_t fetches_released;    /* held fetches dropped because their client left */
};

/* The counters of hub_transport_stats that `stats` and the metrics report
 * beside the hub's (one list, so the two never differ). */
#define CSPH_TRANSPORT_COUNTERS(X)                                             \
    X(replies_held)                                                            \
    X(replies_dropped)                                                         \
    X(busy_client)                                                             \
    X(connections)                                                             \
    X(connections_accepted)                                                    \
    X(connections_closed)                                                      \
    X(connections_refused)                                                     \
    X(connections_max)                                                         \
    X(fetches_released)

struct hub_transport;
struct hub_conn;
struct hub_account;

/* Who a request is charged to: its connection and up to two accounts.
 * Filled by hub_transport_admit; hand it back with the reply. Plain data;
 * the transport keeps what it points to alive until the reply. */
struct hub_ticket {
    struct hub_conn *conn;
    struct hub_account *acct[2];
    int admitted;
};

/* Called for each connection that has gone, before it is freed: drop
 * anything that refers to it (held fetches). */
typedef void (*hub_transport_gone_fn)(void *data, struct hub_conn *c);

/* Watch router (bound or not yet bound) on loop: starts its monitor. zctx,
 * router and lim are borrowed and must outlive the transport. Returns
 * CSPH_ERR_OK, or CSPH_ERR_CONFIG with a message naming what failed. */
enum hub_err hub_transport_new(struct hub_transport **out, uv_loop_t *loop, void *zctx,
                               void *router, const struct hub_transport_limits *lim,
                               hub_transport_gone_fn on_gone, void *data,
                               struct hub_error *err);
/* Start the uv handles (the monitor's watcher, the retry timer): once the
 * owner has started too, so a failed start leaves no handle open. */
void hub_transport_start(struct hub_transport *t);
/* Try once more to send what is held, close the uv handles and the monitor
 * socket (before the ROUTER closes). on_closed runs when all are closed. */
void hub_transport_close(struct hub_transport *t, void (*on_closed)(void *data));
/* Free and NULL *t (after close's callback, or if never started); accepts
 * NULL. Held replies are dropped. */
void hub_transport_destroy(struct hub_transport **t);

/* The sender of a received message of n frames (frames[0] its routing id,
 * frames[n - 1] its body), created on first sight. NULL only when out of
 * memory. */
struct hub_conn *hub_transport_sender(struct hub_transport *t, zmq_msg_t *frames, int n);
/* Charge the connection's requests to the account named key (len bytes),
 * e.g. its identity; NULL key: none. Returns CSPH_ERR_NOMEM on failure. */
enum hub_err hub_transport_set_account(struct hub_transport *t, struct hub_conn *c,
                                       const void *key, size_t len);
/* Admit one request of c, charged also to the account `extra` (may be
 * NULL): CSPH_ERR_OK and *tk filled, or CSPH_ERR_BUSY with a message for
 * the client when c, its account or extra hold their bound of unread
 * replies, or the hub its global bound and c holds any (a client that
 * reads is not refused for the others' backlog). */
enum hub_err hub_transport_admit(struct hub_transport *t, struct hub_conn *c,
                                 const void *extra, size_t extra_len, struct hub_ticket *tk,
                                 struct hub_error *err);
/* A ticket for a reply to a request that was not admitted (an error
 * answered on receipt). */
void hub_transport_unadmitted(struct hub_conn *c, struct hub_ticket *tk);

/* Send body (len bytes, copied) to the client of the request whose
 * envelope is env[0..nenv): at once, or held in order behind what its
 * connection already waits for; dropped (stats.replies_dropped) when the
 * client has gone or is past its bound. The envelope's contents pass to
 * ZeroMQ or the held reply; the caller still closes env (then empty).
 * Settles the ticket. */
void hub_transport_reply(struct hub_transport *t, struct hub_ticket *tk, zmq_msg_t *env,
                         int nenv, const void *body, size_t len);
/* Settle a ticket without a reply (the request was dropped). */
void hub_transport_settle(struct hub_transport *t, struct hub_ticket *tk);

/* A fetch of tk's request is to be held: CSPH_ERR_OK (counted until
 * hub_transport_fetch_done), or CSPH_ERR_BUSY when its connection or
 * accounts hold their bound of fetches. */
enum hub_err hub_transport_fetch_hold(struct hub_transport *t, struct hub_ticket *tk,
                                      struct hub_error *err);
void hub_transport_fetch_done(struct hub_transport *t, struct hub_ticket *tk);
/* Count held fetches dropped for a client that left (stats). */
void hub_transport_fetches_released(struct hub_transport *t, uint64_t n);

/* Run on_gone for, and free, the connections found gone while requests
 * were read. Call between batches. */
void hub_transport_sweep(struct hub_transport *t);
/* Apply the monitor's pending events now (also done on its own wake-ups). */
void hub_transport_poll_monitor(struct hub_transport *t);

const struct hub_transport_stats *hub_transport_stats(const struct hub_transport *t);
/* A word the owner may keep on a connection (the server tags the
 * connections that have a write in the batch in hand); 0 at first. */
uint64_t hub_transport_conn_tag(const struct hub_conn *c);
void hub_transport_conn_set_tag(struct hub_conn *c, uint64_t tag);
/* Replies held for c now (tests, logs). */
uint32_t hub_transport_conn_held(const struct hub_conn *c);

/* Raise the soft RLIMIT_NOFILE to the hard limit. *soft_before and *soft
 * are the limits before and after. Returns 0, or -1 with errno when it
 * could not be read or raised (the old limit stays). */
int hub_transport_raise_fd_limit(uint64_t *soft_before, uint64_t *soft);

#endif
