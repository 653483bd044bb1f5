/* The peers of --peers: other servers that store an event durably (or say
 * they do) and acknowledge it, driven with the same event bytes and the same
 * pipelining as the hub's publishers. Each peer is a table of operations on
 * one client connection; mode_peers.c starts the server, opens one connection
 * a client thread and keeps W publishes in flight on each.
 *
 * A connection is used by one thread. Every call that can fail returns -1
 * and writes a sentence into why (whysz bytes); the connection is then
 * unusable and must be closed. */
#ifndef CSPH_BENCH_PEER_H
#define CSPH_BENCH_PEER_H

#include <stddef.h>
#include <stdint.h>

struct peer_conn;

struct peer_ops {
    const char *name;   /* "redis", "nats" */
    const char *server; /* the program mode_peers.c runs: "redis-server", "nats-server" */
    /* What the peer promises at its ack, for the table. */
    const char *durability;
    /* The server's command line (NULL-terminated, at most 24 words) for a
     * loopback port and an empty directory of its own. */
    void (*argv)(char **argv, char *buf, size_t bufsz, int port, const char *dir);
    /* Once after the server answers, before any client: create what the
     * publishes go into (a stream). 0, or -1 with why. */
    int (*prepare)(int port, const char *nonce, double timeout_s, char *why, size_t whysz);
    /* Connect to the server on 127.0.0.1:port; client is this connection's
     * number among the run's (for reply subjects). Sets *c (owned by the
     * caller: close) or returns -1 with why. */
    int (*open)(struct peer_conn **c, int port, const char *nonce, int client,
                double timeout_s, char *why, size_t whysz);
    /* Queue publish number r of the event bytes; nothing is sent until
     * flush or recv. */
    int (*send)(struct peer_conn *c, uint64_t r, const char *ev, size_t len, char *why,
                size_t whysz);
    /* Send what is queued. */
    int (*flush)(struct peer_conn *c, char *why, size_t whysz);
    /* Wait for the next acknowledgement (at most the timeout given to open)
     * and set *r to the publish it acknowledges. A refusal is an error. */
    int (*recv)(struct peer_conn *c, uint64_t *r, char *why, size_t whysz);
    /* Close and free *c, set it to NULL; NULL is accepted. */
    void (*close)(struct peer_conn **c);
};

/* peer_redis is NULL when the bench was built without hiredis, and
 * peer_redis_missing then says so. */
extern const struct peer_ops *const peer_redis;
extern const char *const peer_redis_missing;
extern const struct peer_ops *const peer_nats;

#endif
