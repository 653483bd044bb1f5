/* The CSPH/1 client library: a DEALER socket, a window of publish requests
 * in flight keyed by `req`, and resends for whatever goes unanswered. */
#include <errno.h>
#include <msgpack.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "csphub.h"

#define BATCH_BYTES_MAX (768u << 10) /* well under the hub's 1 MiB message limit */

/* A publish request in flight (or waiting to be sent). */
struct flight {
    uint64_t req;       /* 0: free slot */
    uint32_t nevents;
    uint64_t *tokens;
    char *body;         /* the encoded request, kept for resends */
    size_t body_len;
    int64_t sent_ms;    /* 0: not sent yet */
    int64_t not_before; /* backoff after busy */
};

struct csph_client {
    void *ctx, *sock;
    /* The DEALER's monitor: whether it ever reached the hub, and how often
     * its connection was refused since, so that a request to a hub that is
     * not running fails in about a second, not after the whole timeout. */
    void *mon;
    int connected;
    unsigned refused;
    char endpoint[256];
    struct csph_client_options o;
    char error[512];
    csph_result_fn fn;
    void *fn_ctx;
    uint64_t next_req;
    /* The batch being gathered: events packed one after another. */
    msgpack_sbuffer batch;
    uint64_t *batch_tokens;
    uint32_t batch_n;
    /* In flight: an open-addressed table keyed by req. */
    struct flight *slots;
    size_t nslots, inflight;
    size_t pending_events;
    int64_t last_reply_ms;
    /* Synchronous request in progress and its reply. */
    uint64_t sync_req;
    int sync_done;
    char *reply;
    size_t reply_len, reply_cap;
    char *reply_json;
    msgpack_zone zone;
    msgpack_sbuffer scratch;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(csph_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(csph_client *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->error, sizeof c->error, fmt, ap);
    va_end(ap);
    return -1;
}

const char *csph_client_error(const csph_client *c)
{
    return c ? c->error : "no client";
}

void csph_client_on_result(csph_client *c, csph_result_fn fn, void *ctx)
{
    c->fn = fn;
    c->fn_ctx = ctx;
}

size_t csph_client_pending(const csph_client *c)
{
    return c->pending_events;
}

int csph_client_open(csph_client **out, const char *endpoint,
                     const struct csph_client_options *opts, char *err, size_t errlen)
{
    csph_client *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (opts)
        c->o = *opts;
    if (c->o.window <= 0)
        c->o.window = 100;
    if (c->o.batch <= 0)
        c->o.batch = 1;
    if (c->o.batch > 1000)
        c->o.batch = 1000;
    if (c->o.resend_ms <= 0)
        c->o.resend_ms = 5000;
    if (c->o.busy_backoff_ms <= 0)
        c->o.busy_backoff_ms = 200;
    c->nslots = 16;
    while (c->nslots < (size_t)c->o.window * 2 + 2)
        c->nslots *= 2;
    c->slots = calloc(c->nslots, sizeof *c->slots);
    c->batch_tokens = calloc((size_t)c->o.batch, sizeof *c->batch_tokens);
    c->next_req = 1;
    msgpack_sbuffer_init(&c->batch);
    msgpack_sbuffer_init(&c->scratch);
    msgpack_zone_init(&c->zone, 8192);
    c->ctx = zmq_ctx_new();
    c->sock = c->ctx ? zmq_socket(c->ctx, ZMQ_DEALER) : NULL;
    if (!c->slots || !c->batch_tokens || !c->sock) {
        snprintf(err, errlen, "cannot create the client: %s", zmq_strerror(errno));
        csph_client_close(&c);
        return -1;
    }
    int hwm = 100000, linger = 1000, immediate = 1, ivl = 100, ivl_max = 2000;
    zmq_setsockopt(c->sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c->sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    /* IMMEDIATE: queue only to a live connection, so a request sent while
     * the hub is down waits with us (and is resent), not in a dead pipe. */
    zmq_setsockopt(c->sock, ZMQ_IMMEDIATE, &immediate, sizeof immediate);
    zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(c->sock, ZMQ_RECONNECT_IVL_MAX, &ivl_max, sizeof ivl_max);
    if (c->o.server_public_key) {
        if (!c->o.public_key || !c->o.secret_key ||
            zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, c->o.server_public_key, 40) ||
            zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, c->o.public_key, 40) ||
            zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, c->o.secret_key, 40)) {
            snprintf(err, errlen,
                     "CURVE keys must be 40-character Z85 strings: the hub's public key and "
                     "this client's public and secret keys");
            csph_client_close(&c);
            return -1;
        }
    }
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://csph-client-monitor-%p", (void *)c);
    if (zmq_socket_monitor(c->sock, mon_ep, ZMQ_EVENT_CONNECTED | ZMQ_EVENT_CONNECT_RETRIED) ==
            0 &&
        (c->mon = zmq_socket(c->ctx, ZMQ_PAIR)) && zmq_connect(c->mon, mon_ep) != 0) {
        zmq_close(c->mon);
        c->mon = NULL; /* no monitor: requests just wait their timeout */
    }
    snprintf(c->endpoint, sizeof c->endpoint, "%s", endpoint);
    if (zmq_connect(c->sock, endpoint) != 0) {
        snprintf(err, errlen, "cannot connect to '%s': %s (expected tcp://HOST:PORT or ipc://PATH)",
                 endpoint, zmq_strerror(errno));
        csph_client_close(&c);
        return -1;
    }
    c->last_reply_ms = now_ms();
    *out = c;
    return 0;
}

static void free_flight(struct flight *f)
{
    free(f->tokens);
    free(f->body);
    memset(f, 0, sizeof *f);
}

void csph_client_close(csph_client **cp)
{
    if (!cp || !*cp)
        return;
    csph_client *c = *cp;
    for (size_t i = 0; c->slots && i < c->nslots; i++)
        if (c->slots[i].req)
            free_flight(&c->slots[i]);
    free(c->slots);
    free(c->batch_tokens);
    free(c->reply);
    free(c->reply_json);
    msgpack_sbuffer_destroy(&c->batch);
    msgpack_sbuffer_destroy(&c->scratch);
    msgpack_zone_destroy(&c->zone);
    if (c->mon) {
        zmq_socket_monitor(c->sock, NULL, 0);
        zmq_close(c->mon);
    }
    if (c->sock)
        zmq_close(c->sock);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    free(c);
    *cp = NULL;
}

static struct flight *find(csph_client *c, uint64_t req)
{
    size_t mask = c->nslots - 1;
    for (size_t i = 0; i < c->nslots; i++) {
        struct flight *f = &c->slots[(req + i) & mask];
        if (f->req == req)
            return f;
        if (f->req == 0)
            return NULL;
    }
    return NULL;
}

/* Remove a slot from the open-addressed table, re-seating the run after
 * it so lookups still find every entry. */
static void remove_slot(csph_client *c, struct flight *f)
{
    size_t mask = c->nslots - 1, i = (size_t)(f - c->slots);
    free_flight(f);
    c->inflight--;
    for (size_t j = (i + 1) & mask; c->slots[j].req; j = (j + 1) & mask) {
        struct flight moved = c->slots[j];
        memset(&c->slots[j], 0, sizeof moved);
        size_t k = moved.req & mask;
        while (c->slots[k].req)
            k = (k + 1) & mask;
        c->slots[k] = moved;
    }
}

/* Try to send f now; 0 sent, 1 not now (no connection yet). */
static int send_flight(csph_client *c, struct flight *f)
{
    if (zmq_send(c->sock, f->body, f->body_len, ZMQ_DONTWAIT) < 0)
        return 1;
    f->sent_ms = now_ms();
    return 0;
}

/* Build a request map: req first, then the pairs of `extra` (a map). */
static void pack_with_req(msgpack_sbuffer *sb, uint64_t req, const unsigned char *map, size_t len)
{
    uint32_t n;
    size_t hdr;
    if ((map[0] & 0xf0) == 0x80) {
        n = map[0] & 0x0f;
        hdr = 1;
    } else if (map[0] == 0xde) {
        n = (uint32_t)map[1] << 8 | map[2];
        hdr = 3;
    } else {
        n = (uint32_t)map[1] << 24 | (uint32_t)map[2] << 16 | (uint32_t)map[3] << 8 | map[4];
        hdr = 5;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n + 1);
    msgpack_pack_str(&pk, 3);
    msgpack_pack_str_body(&pk, "req", 3);
    msgpack_pack_uint64(&pk, req);
    msgpack_sbuffer_write(sb, (const char *)map + hdr, len - hdr);
}

static int is_map(const void *p, size_t len)
{
    const unsigned char *b = p;
    return len >= 1 && ((b[0] & 0xf0) == 0x80 || (b[0] == 0xde && len >= 3) ||
                        (b[0] == 0xdf && len >= 5));
}

/* Turn the gathered batch into a request in flight. */
static int launch_batch(csph_client *c)
{
    if (!c->batch_n)
        return 0;
    size_t mask = c->nslots - 1;
    uint64_t req = c->next_req++;
    size_t k = req & mask;
    while (c->slots[k].req)
        k = (k + 1) & mask;
    struct flight *f = &c->slots[k];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "op", 2);
    msgpack_pack_str(&pk, 7);
    msgpack_pack_str_body(&pk, "publish", 7);
    msgpack_pack_str(&pk, 3);
    msgpack_pack_str_body(&pk, "req", 3);
    msgpack_pack_uint64(&pk, req);
    if (c->o.batch == 1) {
        msgpack_pack_str(&pk, 5);
        msgpack_pack_str_body(&pk, "event", 5);
    } else {
        msgpack_pack_str(&pk, 6);
        msgpack_pack_str_body(&pk, "events", 6);
        msgpack_pack_array(&pk, c->batch_n);
    }
    msgpack_sbuffer_write(&sb, c->batch.data, c->batch.size);
    f->req = req;
    f->nevents = c->batch_n;
    f->tokens = malloc(c->batch_n * sizeof *f->tokens);
    memcpy(f->tokens, c->batch_tokens, c->batch_n * sizeof *f->tokens);
    f->body = sb.data;
    f->body_len = sb.size;
    f->sent_ms = 0;
    f->not_before = 0;
    if (c->inflight == 0)
        c->last_reply_ms = now_ms(); /* idle time is not silence */
    c->inflight++;
    c->batch.size = 0;
    c->batch_n = 0;
    send_flight(c, f);
    return 0;
}

static void deliver(csph_client *c, uint64_t token, const char *status, uint64_t seq,
                    const char *code, const char *field, const char *message)
{
    c->pending_events--;
    if (!c->fn)
        return;
    struct csph_result r = {token, status, seq, code, field, message};
    c->fn(c->fn_ctx, &r);
}

static const msgpack_object *get(const msgpack_object *m, const char *key)
{
    if (!m || m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *k = &m->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
            memcmp(k->via.str.ptr, key, kl) == 0)
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

/* Copy a string object into buf (NUL-terminated). */
static const char *cstr(const msgpack_object *o, char *buf, size_t n)
{
    if (!o || o->type != MSGPACK_OBJECT_STR) {
        buf[0] = 0;
        return buf;
    }
    size_t l = o->via.str.size < n - 1 ? o->via.str.size : n - 1;
    memcpy(buf, o->via.str.ptr, l);
    buf[l] = 0;
    return buf;
}

static int str_is(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

/* One event's outcome from a reply element ({status, seq?, error?}). */
static void deliver_one(csph_client *c, uint64_t token, const msgpack_object *r)
{
    char status[32], code[64], field[200], message[600];
    const msgpack_object *seq = get(r, "seq"), *err = get(r, "error");
    cstr(get(r, "status"), status, sizeof status);
    /* A batch reply names fields "events.N.x"; a result is per event. */
    cstr(get(err, "field"), field, sizeof field);
    const char *fp = field;
    if (!strncmp(fp, "events.", 7)) {
        const char *dot = strchr(fp + 7, '.');
        fp = dot ? dot + 1 : "";
    }
    if (!strcmp(status, "accepted") || !strcmp(status, "duplicate"))
        deliver(c, token, status, seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? seq->via.u64 : 0,
                NULL, NULL, NULL);
    else
        deliver(c, token, "rejected", 0, cstr(get(err, "code"), code, sizeof code), fp,
                cstr(get(err, "message"), message, sizeof message));
}

static void handle_publish_reply(csph_client *c, struct flight *f, const msgpack_object *rep)
{
    const msgpack_object *ok = get(rep, "ok"), *results = get(rep, "results"),
                         *err = get(rep, "error");
    if (ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean && results &&
        results->type == MSGPACK_OBJECT_ARRAY) {
        for (uint32_t i = 0; i < f->nevents; i++) {
            if (i < results->via.array.size)
                deliver_one(c, f->tokens[i], &results->via.array.ptr[i]);
            else
                deliver(c, f->tokens[i], "rejected", 0, "internal", "",
                        "the hub's reply had fewer results than events");
        }
        remove_slot(c, f);
        return;
    }
    const msgpack_object *code = get(err, "code");
    if (code && code->type == MSGPACK_OBJECT_STR &&
        csph_code_retry(csph_code_parse(code->via.str.ptr, code->via.str.size))) {
        /* Nothing was done: try again after a pause. */
        f->sent_ms = 0;
        f->not_before = now_ms() + c->o.busy_backoff_ms;
        return;
    }
    if (f->nevents == 1 && (get(rep, "status") || ok)) {
        deliver_one(c, f->tokens[0], rep);
    } else {
        char cbuf[64], fbuf[200], mbuf[600];
        for (uint32_t i = 0; i < f->nevents; i++)
            deliver(c, f->tokens[i], "rejected", 0, cstr(code, cbuf, sizeof cbuf),
                    cstr(get(err, "field"), fbuf, sizeof fbuf),
                    cstr(get(err, "message"), mbuf, sizeof mbuf));
    }
    remove_slot(c, f);
}

/* What the monitor saw since the last call. */
static void monitor_drain(csph_client *c)
{
    for (int i = 0; c->mon && i < 64; i++) {
        zmq_msg_t a;
        zmq_msg_init(&a);
        if (zmq_msg_recv(&a, c->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&a);
            return;
        }
        uint16_t ev = 0;
        if (zmq_msg_size(&a) >= 6)
            memcpy(&ev, zmq_msg_data(&a), sizeof ev);
        int more = zmq_msg_more(&a);
        zmq_msg_close(&a);
        if (more) { /* the endpoint frame */
            zmq_msg_init(&a);
            zmq_msg_recv(&a, c->mon, 0);
            zmq_msg_close(&a);
        }
        if (ev == ZMQ_EVENT_CONNECTED) {
            c->connected = 1;
            c->refused = 0;
        } else if (ev == ZMQ_EVENT_CONNECT_RETRIED) {
            c->refused++;
        }
    }
}

/* Read every reply waiting; wait up to timeout_ms for the first. */
static int pump(csph_client *c, int timeout_ms)
{
    zmq_pollitem_t it = {c->sock, 0, ZMQ_POLLIN, 0};
    int rc = zmq_poll(&it, 1, timeout_ms);
    if (rc < 0)
        return errno == EINTR ? 0 : fail(c, "waiting for the hub: %s", zmq_strerror(errno));
    while (1) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            break;
        }
        c->last_reply_ms = now_ms();
        msgpack_object rep;
        size_t off = 0;
        msgpack_zone_clear(&c->zone);
        if (msgpack_unpack(zmq_msg_data(&m), zmq_msg_size(&m), &off, &c->zone, &rep) ==
            MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *req = get(&rep, "req");
            uint64_t id = req && req->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? req->via.u64 : 0;
            struct flight *f = id ? find(c, id) : NULL;
            if (f) {
                handle_publish_reply(c, f, &rep);
            } else if (id && id == c->sync_req && !c->sync_done) {
                size_t n = zmq_msg_size(&m);
                if (n > c->reply_cap) {
                    free(c->reply);
                    c->reply = malloc(n);
                    c->reply_cap = n;
                }
                memcpy(c->reply, zmq_msg_data(&m), n);
                c->reply_len = n;
                c->sync_done = 1;
            }
            /* anything else: a late answer to a request already answered */
        }
        zmq_msg_close(&m);
    }
    return 0;
}

/* Send what is unsent or due for a resend. */
static void resend_due(csph_client *c)
{
    int64_t now = now_ms();
    for (size_t i = 0; i < c->nslots; i++) {
        struct flight *f = &c->slots[i];
        if (!f->req)
            continue;
        if ((f->sent_ms == 0 && now >= f->not_before) ||
            (f->sent_ms && now - f->sent_ms >= c->o.resend_ms))
            send_flight(c, f);
    }
}

int csph_client_poll(csph_client *c, int timeout_ms)
{
    if (c->o.give_up_ms > 0 && c->inflight && now_ms() - c->last_reply_ms > c->o.give_up_ms)
        return fail(c, "the hub has not answered for %d ms (is it running and reachable?)",
                    c->o.give_up_ms);
    resend_due(c);
    int wait = timeout_ms;
    if (wait < 0 || wait > c->o.resend_ms)
        wait = c->o.resend_ms;
    if (c->inflight && wait > 50)
        wait = 50; /* come back for resends and backoffs */
    return pump(c, wait);
}

int csph_client_publish(csph_client *c, const void *event, size_t len, uint64_t token)
{
    if (!is_map(event, len))
        return fail(c, "an event must be a MessagePack map");
    if (len > BATCH_BYTES_MAX)
        return fail(c, "the event is %zu bytes; the hub takes at most 64 KiB per event and "
                       "1 MiB per message", len);
    /* Keep every request under the hub's 1 MiB message limit, which drops
     * the connection rather than answering. */
    if (c->batch_n && c->batch.size + len > BATCH_BYTES_MAX) {
        while (c->inflight >= (size_t)c->o.window)
            if (csph_client_poll(c, 50))
                return -1;
        launch_batch(c);
    }
    msgpack_sbuffer_write(&c->batch, event, len);
    c->batch_tokens[c->batch_n++] = token;
    c->pending_events++;
    if (c->batch_n < (uint32_t)c->o.batch)
        return 0;
    while (c->inflight >= (size_t)c->o.window)
        if (csph_client_poll(c, 50))
            return -1;
    return launch_batch(c);
}

int csph_client_publish_json(csph_client *c, const char *json, size_t len, uint64_t token)
{
    void *mp;
    size_t mlen;
    char err[256];
    if (csph_json_to_msgpack(json, len, &mp, &mlen, err, sizeof err))
        return fail(c, "%s", err);
    if (!is_map(mp, mlen)) {
        free(mp);
        return fail(c, "an event must be a JSON object");
    }
    int rc = csph_client_publish(c, mp, mlen, token);
    free(mp);
    return rc;
}

int csph_client_flush(csph_client *c, int timeout_ms)
{
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : now_ms() + timeout_ms;
    while (c->batch_n) {
        while (c->inflight >= (size_t)c->o.window) {
            if (now_ms() >= deadline)
                return fail(c, "the hub did not answer in time (%zu events unanswered)",
                            c->pending_events);
            if (csph_client_poll(c, 50))
                return -1;
        }
        launch_batch(c);
    }
    while (c->pending_events) {
        if (now_ms() >= deadline)
            return fail(c, "the hub did not answer in time (%zu events unanswered)",
                        c->pending_events);
        if (csph_client_poll(c, 50))
            return -1;
    }
    return 0;
}

/* The ops whose request may be sent again when no reply came (a reply or
 * the request lost with a connection): a second one leaves what a first
 * left. A publish is made harmless by (source, id), an ack moves a cursor
 * to a point, and reads change nothing. Every other op is sent once: a
 * write made twice would be two actions, two hearings, two erasure
 * requests, and a report is computed again from scratch (at a large log,
 * for longer than the resend interval). An op this library does not know
 * is sent once too. */
static int resend_safe(const msgpack_object *op)
{
    static const char *const safe[] = {"publish", "ack",      "ping",  "stats",    "replay",
                                       "rejects", "fetch",    "alerts", "evidence", "alert",
                                       "person",  "cases",    "case",   "actions",  "agenda"};
    for (size_t i = 0; i < sizeof safe / sizeof *safe; i++)
        if (str_is(op, safe[i]))
            return 1;
    return 0;
}

int csph_client_request(csph_client *c, const void *req, size_t len, int timeout_ms,
                        const void **reply, size_t *reply_len)
{
    if (!is_map(req, len))
        return fail(c, "a request must be a MessagePack map");
    msgpack_zone_clear(&c->zone);
    msgpack_object obj;
    size_t off = 0;
    int resend = msgpack_unpack(req, len, &off, &c->zone, &obj) == MSGPACK_UNPACK_SUCCESS &&
                 resend_safe(get(&obj, "op"));
    c->sync_req = c->next_req++;
    c->sync_done = 0;
    c->scratch.size = 0;
    pack_with_req(&c->scratch, c->sync_req, req, len);
    int64_t start = now_ms(), sent = 0;
    int64_t deadline = timeout_ms < 0 ? INT64_MAX : start + timeout_ms;
    while (!c->sync_done) {
        int64_t now = now_ms();
        if (now >= deadline) {
            c->sync_req = 0;
            return fail(c, "no reply from the hub within %d ms (is it running and reachable?)",
                        timeout_ms);
        }
        monitor_drain(c);
        if (!c->connected && c->refused >= 2 && now - start >= 1000) {
            /* Refused again and again, never reached: nothing listens there. */
            c->sync_req = 0;
            return fail(c, "no hub is listening at %s (the connection is refused)",
                        c->endpoint);
        }
        if (!sent || (resend && now - sent >= c->o.resend_ms)) {
            if (zmq_send(c->sock, c->scratch.data, c->scratch.size, ZMQ_DONTWAIT) >= 0)
                sent = now;
        }
        resend_due(c);
        int64_t wait = deadline - now;
        if (pump(c, wait > 50 ? 50 : (int)wait))
            return -1;
    }
    c->sync_req = 0;
    *reply = c->reply;
    *reply_len = c->reply_len;
    return 0;
}

int csph_client_request_json(csph_client *c, const char *req, int timeout_ms, const char **reply)
{
    void *mp;
    size_t mlen;
    char err[256];
    if (csph_json_to_msgpack(req, strlen(req), &mp, &mlen, err, sizeof err))
        return fail(c, "%s", err);
    const void *rep;
    size_t rlen;
    int rc = csph_client_request(c, mp, mlen, timeout_ms, &rep, &rlen);
    free(mp);
    if (rc)
        return rc;
    free(c->reply_json);
    c->reply_json = NULL;
    if (csph_msgpack_to_json(rep, rlen, 0, &c->reply_json))
        return fail(c, "the hub's reply is not MessagePack");
    *reply = c->reply_json;
    return 0;
}
