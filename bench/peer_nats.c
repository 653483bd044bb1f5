/* NATS JetStream as a peer of --peers: a file-store stream, each event
 * published with a reply subject and acknowledged by JetStream's PubAck
 * ({"stream":..,"seq":..}, or {"error":..}). Debian packages no NATS C
 * client, so this is the smallest client of the text protocol that does
 * this (docs.nats.io "Client Protocol"): INFO, CONNECT, PING/PONG, SUB, PUB
 * with a reply subject, MSG, +OK/-ERR. No headers, no TLS, no reconnect.
 *
 * nats-server 2.9's file store acknowledges once the message is in its
 * write buffer and syncs on a timer (sync_interval, 2 minutes): its ack
 * promises less than the hub's or Redis's with appendfsync always. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "bench.h"
#include "peer.h"

#define STREAM "CSPHBENCH"
#define SUBJECT "csphub-bench.events"
#define IN_MAX (1 << 16) /* one protocol line and its payload fit: acks are small */

struct peer_conn {
    int fd;
    char *out;
    size_t outn, outcap;
    char in[IN_MAX];
    size_t inlen, inpos;
    char inbox[64]; /* _INBOX.<nonce>.<client>. : a publish's reply subject is this + r */
    size_t inbox_len;
};

static void nats_argv(char **argv, char *buf, size_t bufsz, int port, const char *dir)
{
    int used = snprintf(buf, bufsz, "%d", port) + 1;
    char *port_s = buf, *log = buf + used;
    snprintf(log, bufsz - (size_t)used, "%s/nats.log", dir);
    const char *a[] = {"nats-server", "-a", "127.0.0.1", "-p", port_s, "-js", "-sd", dir,
                       "-l", log, NULL};
    for (int i = 0; i < (int)(sizeof a / sizeof *a); i++)
        argv[i] = (char *)a[i];
}

static void nats_close(struct peer_conn **c)
{
    if (!*c)
        return;
    if ((*c)->fd >= 0)
        close((*c)->fd);
    free((*c)->out);
    free(*c);
    *c = NULL;
}

static int nats_put(struct peer_conn *c, const char *p, size_t n, char *why, size_t whysz)
{
    if (c->outn + n > c->outcap) {
        size_t cap = c->outcap ? c->outcap : 1 << 16;
        while (cap < c->outn + n)
            cap *= 2;
        char *o = realloc(c->out, cap);
        if (!o) {
            snprintf(why, whysz, "nats: out of memory");
            return -1;
        }
        c->out = o;
        c->outcap = cap;
    }
    memcpy(c->out + c->outn, p, n);
    c->outn += n;
    return 0;
}

static int nats_flush(struct peer_conn *c, char *why, size_t whysz)
{
    size_t off = 0;
    while (off < c->outn) {
        ssize_t w = write(c->fd, c->out + off, c->outn - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            snprintf(why, whysz, "nats: write: %s",
                     errno == EAGAIN ? "timed out" : strerror(errno));
            return -1;
        }
        off += (size_t)w;
    }
    c->outn = 0;
    return 0;
}

/* Read more bytes into c->in (the socket's receive timeout bounds the wait). */
static int nats_fill(struct peer_conn *c, char *why, size_t whysz)
{
    if (c->inpos) {
        memmove(c->in, c->in + c->inpos, c->inlen - c->inpos);
        c->inlen -= c->inpos;
        c->inpos = 0;
    }
    if (c->inlen == sizeof c->in) {
        snprintf(why, whysz, "nats: a protocol message longer than %d bytes", IN_MAX);
        return -1;
    }
    for (;;) {
        ssize_t r = read(c->fd, c->in + c->inlen, sizeof c->in - c->inlen);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            snprintf(why, whysz, "nats: the server closed the connection");
            return -1;
        }
        if (r < 0) {
            snprintf(why, whysz, "nats: no reply in time (%s)",
                     errno == EAGAIN ? "receive timeout" : strerror(errno));
            return -1;
        }
        c->inlen += (size_t)r;
        return 0;
    }
}

/* The next message for us: its subject and payload point into c->in and
 * stay valid until the next call. Answers the server's PINGs; fails on
 * -ERR. */
static int nats_next_msg(struct peer_conn *c, const char **subj, size_t *subj_len,
                         const char **payload, size_t *len, char *why, size_t whysz)
{
    for (;;) {
        char *p = c->in + c->inpos;
        size_t avail = c->inlen - c->inpos;
        char *eol = memmem(p, avail, "\r\n", 2);
        if (!eol) {
            if (nats_fill(c, why, whysz))
                return -1;
            continue;
        }
        size_t line = (size_t)(eol - p);
        if (line >= 4 && !memcmp(p, "MSG ", 4)) {
            /* MSG <subject> <sid> [reply-to] <#bytes> */
            char *f[5];
            size_t fl[5];
            int nf = 0;
            for (char *q = p + 4; q < eol && nf < 5;) {
                while (q < eol && *q == ' ')
                    q++;
                if (q == eol)
                    break;
                f[nf] = q;
                while (q < eol && *q != ' ')
                    q++;
                fl[nf] = (size_t)(q - f[nf]);
                nf++;
            }
            if (nf < 3) {
                snprintf(why, whysz, "nats: a MSG line without its fields");
                return -1;
            }
            size_t n = strtoul(f[nf - 1], NULL, 10);
            if (avail < line + 2 + n + 2) {
                if (nats_fill(c, why, whysz))
                    return -1;
                continue;
            }
            *subj = f[0];
            *subj_len = fl[0];
            *payload = eol + 2;
            *len = n;
            c->inpos += line + 2 + n + 2;
            return 0;
        }
        if (line >= 4 && !memcmp(p, "-ERR", 4)) {
            snprintf(why, whysz, "nats: the server said %.*s", (int)(line < 300 ? line : 300), p);
            return -1;
        }
        int ping = line == 4 && !memcmp(p, "PING", 4);
        c->inpos += line + 2; /* +OK, PONG, INFO */
        if (ping && (nats_put(c, "PONG\r\n", 6, why, whysz) || nats_flush(c, why, whysz)))
            return -1;
    }
}

/* -1 with JetStream's description in why when the reply is an error, else 0. */
static int js_error(const char *payload, size_t len, char *why, size_t whysz)
{
    const char *e = memmem(payload, len, "\"error\"", 7);
    if (!e)
        return 0;
    const char *d = memmem(payload, len, "\"description\":\"", 15);
    size_t dl = 0;
    if (d) {
        d += 15;
        while (d + dl < payload + len && d[dl] != '"')
            dl++;
    }
    snprintf(why, whysz, "nats: JetStream refused: %.*s", d ? (int)dl : (int)(len < 300 ? len : 300),
             d ? d : payload);
    return -1;
}

static int nats_open(struct peer_conn **out, int port, const char *nonce, int client,
                     double timeout_s, char *why, size_t whysz)
{
    struct peer_conn *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(why, whysz, "nats: out of memory");
        return -1;
    }
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = (time_t)timeout_s,
                         .tv_usec = (suseconds_t)((timeout_s - (double)(time_t)timeout_s) * 1e6)};
    int one = 1;
    if (c->fd < 0 || setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) ||
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) ||
        setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ||
        connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(why, whysz, "nats: cannot connect to 127.0.0.1:%d: %s", port, strerror(errno));
        nats_close(&c);
        return -1;
    }
    c->inbox_len = (size_t)snprintf(c->inbox, sizeof c->inbox, "_INBOX.%s.%d.", nonce, client);
    char b[256];
    int n = snprintf(b, sizeof b,
                     "CONNECT {\"verbose\":false,\"pedantic\":false,\"name\":\"csphub-bench\","
                     "\"lang\":\"c\",\"version\":\"0\",\"protocol\":1,\"echo\":false,"
                     "\"headers\":false}\r\nSUB %s* 1\r\nPING\r\n",
                     c->inbox);
    if (nats_put(c, b, (size_t)n, why, whysz) || nats_flush(c, why, whysz))
        goto fail;
    /* INFO, then (-ERR or) PONG: the CONNECT and SUB were taken. */
    for (;;) {
        char *p = c->in + c->inpos, *eol = memmem(p, c->inlen - c->inpos, "\r\n", 2);
        if (!eol) {
            if (nats_fill(c, why, whysz))
                goto fail;
            continue;
        }
        size_t line = (size_t)(eol - p);
        c->inpos += line + 2;
        if (line >= 4 && !memcmp(p, "-ERR", 4)) {
            snprintf(why, whysz, "nats: the server refused CONNECT: %.*s", (int)line, p);
            goto fail;
        }
        if (line == 4 && !memcmp(p, "PONG", 4))
            break;
    }
    *out = c;
    return 0;
fail:
    nats_close(&c);
    return -1;
}

static int nats_send(struct peer_conn *c, uint64_t r, const char *ev, size_t len, char *why,
                     size_t whysz)
{
    char h[160];
    int n = snprintf(h, sizeof h, "PUB " SUBJECT " %s%" PRIu64 " %zu\r\n", c->inbox, r, len);
    if (nats_put(c, h, (size_t)n, why, whysz) || nats_put(c, ev, len, why, whysz) ||
        nats_put(c, "\r\n", 2, why, whysz))
        return -1;
    return 0;
}

static int nats_recv(struct peer_conn *c, uint64_t *r, char *why, size_t whysz)
{
    if (c->outn && nats_flush(c, why, whysz))
        return -1;
    for (;;) {
        const char *subj, *payload;
        size_t sl, len;
        if (nats_next_msg(c, &subj, &sl, &payload, &len, why, whysz))
            return -1;
        if (sl <= c->inbox_len || memcmp(subj, c->inbox, c->inbox_len))
            continue; /* not a reply to us */
        if (js_error(payload, len, why, whysz))
            return -1;
        if (!memmem(payload, len, "\"seq\"", 5)) {
            snprintf(why, whysz, "nats: a reply that is not a JetStream ack: %.*s",
                     (int)(len < 200 ? len : 200), payload);
            return -1;
        }
        *r = strtoull(subj + c->inbox_len, NULL, 10);
        return 0;
    }
}

/* The stream every publish goes into; JetStream may need a moment after the
 * server answers, so the request is repeated until the deadline. */
static int nats_prepare(int port, const char *nonce, double timeout_s, char *why, size_t whysz)
{
    static const char cfg[] =
        "{\"name\":\"" STREAM "\",\"subjects\":[\"" SUBJECT "\"],\"storage\":\"file\","
        "\"retention\":\"limits\",\"discard\":\"old\",\"num_replicas\":1}";
    int64_t until = now_ns() + (int64_t)(timeout_s * 1e9);
    for (int attempt = 0;; attempt++) {
        struct peer_conn *c;
        if (nats_open(&c, port, nonce, 1000000 + attempt, 1.0, why, whysz))
            return -1;
        char h[200];
        int n = snprintf(h, sizeof h, "PUB $JS.API.STREAM.CREATE." STREAM " %s0 %zu\r\n",
                         c->inbox, sizeof cfg - 1);
        int rc = nats_put(c, h, (size_t)n, why, whysz) ||
                 nats_put(c, cfg, sizeof cfg - 1, why, whysz) ||
                 nats_put(c, "\r\n", 2, why, whysz) || nats_flush(c, why, whysz);
        if (!rc) {
            const char *subj, *payload;
            size_t sl, len;
            rc = nats_next_msg(c, &subj, &sl, &payload, &len, why, whysz) ||
                 js_error(payload, len, why, whysz);
        }
        nats_close(&c);
        if (!rc)
            return 0;
        if (now_ns() > until)
            return -1;
        usleep(200000);
    }
}

static const struct peer_ops nats_ops = {
    .name = "nats",
    .server = "nats-server",
    .durability = "JetStream file store: acks before its timed fsync",
    .argv = nats_argv,
    .prepare = nats_prepare,
    .open = nats_open,
    .send = nats_send,
    .flush = nats_flush,
    .recv = nats_recv,
    .close = nats_close,
};
const struct peer_ops *const peer_nats = &nats_ops;
