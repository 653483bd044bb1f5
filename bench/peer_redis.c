/* Redis Streams as a peer of --peers: XADD of the event bytes as one field
 * into one stream, on a redis-server with appendonly yes and appendfsync
 * always (Redis replies after the write and fsync of the append-only file
 * its event loop does before it next waits for clients: the same promise as
 * the hub's ack after a synced commit). The client is hiredis (Debian's
 * libhiredis-dev); pipelined: commands are appended to the connection's
 * buffer and their replies read in order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "peer.h"

#ifdef CSPH_BENCH_HIREDIS
#include <hiredis/hiredis.h>

#define STREAM_KEY "csphub-bench"

struct peer_conn {
    redisContext *rc;
    uint64_t *fifo; /* the publishes in flight, in the order their replies come */
    size_t cap, head, n;
};

static void redis_argv(char **argv, char *buf, size_t bufsz, int port, const char *dir)
{
    int used = snprintf(buf, bufsz, "%d", port) + 1;
    char *port_s = buf, *log = buf + used;
    snprintf(log, bufsz - (size_t)used, "%s/redis.log", dir);
    const char *a[] = {"redis-server", "--port", port_s, "--bind", "127.0.0.1", "--dir", dir,
                       "--appendonly", "yes", "--appendfsync", "always", "--save", "",
                       "--daemonize", "no", "--protected-mode", "no", "--logfile", log, NULL};
    for (int i = 0; i < (int)(sizeof a / sizeof *a); i++)
        argv[i] = (char *)a[i];
}

static int redis_fail(struct peer_conn *c, const char *what, char *why, size_t whysz)
{
    snprintf(why, whysz, "redis: %s: %s", what, c->rc->errstr[0] ? c->rc->errstr : "failed");
    return -1;
}

static void redis_close(struct peer_conn **c)
{
    if (!*c)
        return;
    if ((*c)->rc)
        redisFree((*c)->rc);
    free((*c)->fifo);
    free(*c);
    *c = NULL;
}

static int redis_open(struct peer_conn **out, int port, const char *nonce, int client,
                      double timeout_s, char *why, size_t whysz)
{
    (void)nonce;
    (void)client;
    struct timeval tv = {.tv_sec = (time_t)timeout_s,
                         .tv_usec = (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)};
    struct peer_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(why, whysz, "redis: out of memory");
        return -1;
    }
    c->rc = redisConnectWithTimeout("127.0.0.1", port, tv);
    if (!c->rc || c->rc->err) {
        snprintf(why, whysz, "redis: cannot connect to 127.0.0.1:%d: %s", port,
                 c->rc ? c->rc->errstr : "out of memory");
        redis_close(&c);
        return -1;
    }
    if (redisSetTimeout(c->rc, tv) != REDIS_OK) { /* a reply later than this is a hang */
        redis_fail(c, "set timeout", why, whysz);
        redis_close(&c);
        return -1;
    }
    *out = c;
    return 0;
}

static int redis_send(struct peer_conn *c, uint64_t r, const char *ev, size_t len, char *why,
                      size_t whysz)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        uint64_t *f = malloc(cap * sizeof *f);
        if (!f) {
            snprintf(why, whysz, "redis: out of memory");
            return -1;
        }
        for (size_t i = 0; i < c->n; i++)
            f[i] = c->fifo[(c->head + i) % c->cap];
        free(c->fifo);
        c->fifo = f;
        c->cap = cap;
        c->head = 0;
    }
    c->fifo[(c->head + c->n++) % c->cap] = r;
    const char *argv[] = {"XADD", STREAM_KEY, "*", "e", ev};
    size_t argl[] = {4, sizeof STREAM_KEY - 1, 1, 1, len};
    if (redisAppendCommandArgv(c->rc, 5, argv, argl) != REDIS_OK)
        return redis_fail(c, "XADD", why, whysz);
    return 0;
}

static int redis_flush(struct peer_conn *c, char *why, size_t whysz)
{
    int done = 0;
    while (!done)
        if (redisBufferWrite(c->rc, &done) != REDIS_OK)
            return redis_fail(c, "write", why, whysz);
    return 0;
}

static int redis_recv(struct peer_conn *c, uint64_t *r, char *why, size_t whysz)
{
    redisReply *rep = NULL;
    if (!c->n) {
        snprintf(why, whysz, "redis: no command in flight");
        return -1;
    }
    if (redisGetReply(c->rc, (void **)&rep) != REDIS_OK || !rep)
        return redis_fail(c, "reading a reply", why, whysz);
    int ok = rep->type == REDIS_REPLY_STRING;
    if (!ok)
        snprintf(why, whysz, "redis: XADD refused: %s",
                 rep->type == REDIS_REPLY_ERROR ? rep->str : "not a stream id");
    freeReplyObject(rep);
    if (!ok)
        return -1;
    *r = c->fifo[c->head];
    c->head = (c->head + 1) % c->cap;
    c->n--;
    return 0;
}

/* A server that does not sync every write would make the comparison
 * meaningless: check what it runs with. */
static int redis_prepare(int port, const char *nonce, double timeout_s, char *why, size_t whysz)
{
    struct peer_conn *c;
    if (redis_open(&c, port, nonce, 0, timeout_s, why, whysz))
        return -1;
    redisReply *rep = redisCommand(c->rc, "CONFIG GET appendfsync");
    int ok = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
             rep->element[1]->type == REDIS_REPLY_STRING && !strcmp(rep->element[1]->str, "always");
    if (!rep)
        redis_fail(c, "CONFIG GET appendfsync", why, whysz);
    else if (!ok)
        snprintf(why, whysz, "redis: the server does not run with appendfsync always");
    if (rep)
        freeReplyObject(rep);
    redis_close(&c);
    return ok ? 0 : -1;
}

static const struct peer_ops redis_ops = {
    .name = "redis",
    .server = "redis-server",
    .durability = "appendfsync always: acks after the AOF write and its fsync",
    .argv = redis_argv,
    .prepare = redis_prepare,
    .open = redis_open,
    .send = redis_send,
    .flush = redis_flush,
    .recv = redis_recv,
    .close = redis_close,
};
const struct peer_ops *const peer_redis = &redis_ops;
const char *const peer_redis_missing = NULL;
#else
const struct peer_ops *const peer_redis = NULL;
const char *const peer_redis_missing =
    "this csphub-bench was built without hiredis (Debian: libhiredis-dev, then rebuild)";
#endif
