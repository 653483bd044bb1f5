#define _GNU_SOURCE /* accept4 */
#include "transport.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

/* Replies answered without admission (busy, malformed, forbidden) may wait
 * this many beyond a connection's bound, so a client that stops reading
 * still finds a `busy` among its replies; past it they are dropped. */
#define UNADMITTED_SLACK 16
#define BACKOFF_MIN_MS 1
#define BACKOFF_MAX_MS 64
/* Descriptors kept back from clients, beyond those open at start: for
 * files the hub opens later and ZeroMQ's own (16, and 1/64 of the limit). */
#define FD_RESERVE_MIN 16
#define REFUSAL_LOG_MS 10000
#define MAX_LISTENERS 16

struct held {
    struct held *next;
    zmq_msg_t frames[CSPH_TRANSPORT_MAX_FRAMES];
    int nframes;
    size_t bytes;
    struct hub_account *acct[2];
    int admitted;
};

struct hub_account {
    struct hub_account *hnext;
    uint32_t refs; /* connections, tickets and held replies naming it */
    uint32_t held, inflight, fetches;
    size_t len;
    unsigned char key[];
};

struct hub_conn {
    struct hub_conn *hnext;          /* hash chain, or the gone list */
    struct hub_conn *bnext, *bprev;  /* blocked list: replies waiting */
    struct hub_account *acct;
    int fd;
    uint64_t gen; /* the fd's accept count when bound */
    uint32_t held, inflight, fetches;
    uint32_t held_unadmitted; /* of held: answers to requests refused on receipt */
    uint64_t held_bytes;
    struct held *head, *tail;
    uint64_t next_try_ms;
    uint32_t backoff_ms;
    int gone, blocked;
    uint64_t tag;
    size_t rid_len;
    unsigned char rid[];
};

struct fd_slot {
    uint64_t accepts;
    struct hub_conn *owner;
    /* Counted in stats.connections. Per fd, so that a close libzmq does
     * not report (it reports none for connections it ends itself, such as
     * a second one with the same routing id) is undone when the fd is
     * accepted again, and the count cannot creep up to the bound. */
    int open;
};

struct hub_transport {
    uv_loop_t *loop;
    void *router;
    void *monitor;
    struct hub_zsock mz;
    int mz_started;
    uv_timer_t retry;
    int retry_started;
    int open_handles;
    void (*on_closed)(void *data);
    const struct hub_transport_limits *lim;
    hub_transport_gone_fn on_gone;
    void *data;
    struct hub_conn **conns;
    size_t nbuckets, nconns;
    struct hub_account **accts;
    size_t nabuckets;
    struct fd_slot *fds;
    size_t nfds;
    struct hub_conn *blocked;
    struct hub_conn *gone;
    uint64_t held_total, held_bytes_total;
    int listeners[MAX_LISTENERS];
    int nlisteners;
    int reserve_fd;
    uint64_t conns_max;
    uint64_t conns_max_cfg; /* conns_max as configured; lowered while no descriptor is left */
    uint64_t refused_unlogged, last_refusal_log_ms;
    struct hub_transport_stats st;
};

static uint64_t hash_bytes(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* ---- accounts ---------------------------------------------------------- */

static struct hub_account *account_get(struct hub_transport *t, const void *key, size_t len)
{
    size_t b = hash_bytes(key, len) & (t->nabuckets - 1);
    for (struct hub_account *a = t->accts[b]; a; a = a->hnext)
        if (a->len == len && !memcmp(a->key, key, len)) {
            a->refs++;
            return a;
        }
    struct hub_account *a = calloc(1, sizeof *a + len);
    if (!a)
        return NULL;
    memcpy(a->key, key, len);
    a->len = len;
    a->refs = 1;
    a->hnext = t->accts[b];
    t->accts[b] = a;
    return a;
}

static void account_put(struct hub_transport *t, struct hub_account *a)
{
    if (!a || --a->refs)
        return;
    struct hub_account **pp = &t->accts[hash_bytes(a->key, a->len) & (t->nabuckets - 1)];
    while (*pp != a)
        pp = &(*pp)->hnext;
    *pp = a->hnext;
    free(a);
}

/* ---- connections ------------------------------------------------------- */

static struct hub_conn **conn_slot(struct hub_transport *t, const void *rid, size_t len)
{
    struct hub_conn **pp = &t->conns[hash_bytes(rid, len) & (t->nbuckets - 1)];
    while (*pp && !((*pp)->rid_len == len && !memcmp((*pp)->rid, rid, len)))
        pp = &(*pp)->hnext;
    return pp;
}

static void conns_grow(struct hub_transport *t)
{
    size_t n = t->nbuckets * 2;
    struct hub_conn **v = calloc(n, sizeof *v);
    if (!v)
        return; /* longer chains, still correct */
    for (size_t i = 0; i < t->nbuckets; i++)
        for (struct hub_conn *c = t->conns[i], *next; c; c = next) {
            next = c->hnext;
            size_t b = hash_bytes(c->rid, c->rid_len) & (n - 1);
            c->hnext = v[b];
            v[b] = c;
        }
    free(t->conns);
    t->conns = v;
    t->nbuckets = n;
}

static struct fd_slot *fd_slot(struct hub_transport *t, int fd)
{
    if (fd < 0)
        return NULL;
    if ((size_t)fd >= t->nfds) {
        size_t n = t->nfds ? t->nfds : 256;
        while (n <= (size_t)fd)
            n *= 2;
        struct fd_slot *v = realloc(t->fds, n * sizeof *v);
        if (!v)
            return NULL;
        memset(v + t->nfds, 0, (n - t->nfds) * sizeof *v);
        t->fds = v;
        t->nfds = n;
    }
    return &t->fds[fd];
}

static void unblock(struct hub_transport *t, struct hub_conn *c)
{
    if (!c->blocked)
        return;
    if (c->bprev)
        c->bprev->bnext = c->bnext;
    else
        t->blocked = c->bnext;
    if (c->bnext)
        c->bnext->bprev = c->bprev;
    c->bnext = c->bprev = NULL;
    c->blocked = 0;
}

/* Take c out of the table (its routing id may come back as a new
 * connection) and queue it for the sweep. */
static void mark_gone(struct hub_transport *t, struct hub_conn *c)
{
    if (c->gone)
        return;
    struct hub_conn **pp = conn_slot(t, c->rid, c->rid_len);
    if (*pp == c)
        *pp = c->hnext;
    t->nconns--;
    struct fd_slot *s = c->fd >= 0 && (size_t)c->fd < t->nfds ? &t->fds[c->fd] : NULL;
    if (s && s->owner == c)
        s->owner = NULL;
    unblock(t, c);
    c->gone = 1;
    c->hnext = t->gone;
    t->gone = c;
}

static void held_free(struct hub_transport *t, struct hub_conn *c, struct held *h)
{
    for (int i = 0; i < h->nframes; i++)
        zmq_msg_close(&h->frames[i]);
    c->held--;
    c->held_unadmitted -= !h->admitted;
    c->held_bytes -= h->bytes;
    t->held_total--;
    t->held_bytes_total -= h->bytes;
    for (int i = 0; i < 2; i++)
        if (h->acct[i]) {
            h->acct[i]->held--;
            account_put(t, h->acct[i]);
        }
    free(h);
}

static void conn_drop_held(struct hub_transport *t, struct hub_conn *c)
{
    while (c->head) {
        struct held *h = c->head;
        c->head = h->next;
        held_free(t, c, h);
        t->st.replies_dropped++;
    }
    c->tail = NULL;
}

void hub_transport_sweep(struct hub_transport *t)
{
    while (t->gone) {
        struct hub_conn *c = t->gone;
        t->gone = c->hnext;
        if (t->on_gone)
            t->on_gone(t->data, c);
        conn_drop_held(t, c);
        account_put(t, c->acct);
        free(c);
    }
}

/* A connection the monitor cannot follow (no fd) is freed once it holds
 * nothing, so the table does not grow with such clients. */
static void maybe_forget(struct hub_transport *t, struct hub_conn *c)
{
    if (c && !c->gone && c->fd < 0 && !c->held && !c->inflight && !c->fetches)
        mark_gone(t, c);
}

/* ---- the monitor ------------------------------------------------------- */

static void log_refusal(struct hub_transport *t, const char *why)
{
    uint64_t now = uv_now(t->loop);
    t->refused_unlogged++;
    if (t->last_refusal_log_ms && now - t->last_refusal_log_ms < REFUSAL_LOG_MS)
        return;
    LOG_WARN("transport",
             "refused %llu new connection(s) since the last report: %s; the hub holds %llu "
             "connections (limit %llu). Raise the file-descriptor limit (systemd LimitNOFILE=, "
             "ulimit -n) or find the clients that open connections without closing them",
             (unsigned long long)t->refused_unlogged, why,
             (unsigned long long)t->st.connections, (unsigned long long)t->conns_max);
    t->refused_unlogged = 0;
    t->last_refusal_log_ms = now ? now : 1;
}

/* At EMFILE libzmq's listener fails accept() and, the listening fd staying
 * readable, tries again at once: it spins and the client waits unanswered.
 * Take the connection off the backlog ourselves with a descriptor kept in
 * reserve for this, and close it: the client sees a refusal. */
/* The reserve descriptor back after it was lost: the configured bound
 * holds again. */
static void reserve_back(struct hub_transport *t)
{
    if (t->reserve_fd < 0 && (t->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        t->conns_max = t->st.connections_max = t->conns_max_cfg;
}

static void shed_pending(struct hub_transport *t)
{
    reserve_back(t); /* lost to a race last time: take one back */
    if (t->reserve_fd < 0) {
        /* libzmq's I/O thread took the descriptor freed last time (it
         * retries accept() as we do): the process holds all the connections
         * it can. Bound them there, so that the next ones are ended at once
         * when they arrive (ZMQ_EVENT_ACCEPTED) and counted, until enough
         * close for the reserve to come back. */
        if (t->conns_max > t->st.connections) {
            /* Entering this state: the connection waiting now is one the hub
             * could not take (it waits in the backlog until a descriptor
             * frees), so it is counted here, once. */
            t->conns_max = t->st.connections_max = t->st.connections;
            t->st.connections_refused++;
        }
        log_refusal(t, "no file descriptor left for it");
        return;
    }
    if (t->reserve_fd >= 0) {
        close(t->reserve_fd);
        t->reserve_fd = -1;
    }
    for (int i = 0; i < t->nlisteners; i++) {
        int fd = accept4(t->listeners[i], NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            close(fd);
            t->st.connections_refused++;
            log_refusal(t, "no file descriptor left for it");
        }
    }
    reserve_back(t);
}

static void on_event(struct hub_transport *t, uint16_t ev, uint32_t value)
{
    int fd = (int)value;
    struct fd_slot *s;
    switch (ev) {
    case ZMQ_EVENT_LISTENING:
        /* Non-blocking, so that shed_pending never waits when libzmq took
         * the connection first (libzmq treats EAGAIN from accept() as
         * nothing pending). */
        if (t->nlisteners < MAX_LISTENERS) {
            int fl = fcntl(fd, F_GETFL);
            if (fl >= 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) == 0)
                t->listeners[t->nlisteners++] = fd;
        }
        break;
    case ZMQ_EVENT_ACCEPTED:
        t->st.connections_accepted++;
        if ((s = fd_slot(t, fd))) {
            s->accepts++;
            if (s->owner) /* its disconnection was not reported */
                mark_gone(t, s->owner);
            if (s->open) { /* nor was its close */
                s->open = 0;
                t->st.connections--;
            }
        }
        if (t->st.connections >= t->conns_max) {
            /* Over the bound: end it at once and visibly. shutdown(), not
             * close(): the fd stays libzmq's, which sees the end of the
             * stream, closes it and reports DISCONNECTED. */
            shutdown(fd, SHUT_RDWR);
            t->st.connections_refused++;
            log_refusal(t, "the hub is at its connection limit");
            break;
        }
        if (s) {
            s->open = 1;
            t->st.connections++;
        }
        break;
    case ZMQ_EVENT_DISCONNECTED:
        reserve_back(t); /* a descriptor may have come free */
        if (!(s = fd_slot(t, fd)))
            break;
        if (s->owner && s->owner->gen == s->accepts)
            mark_gone(t, s->owner);
        if (s->open) { /* a refused one was never counted */
            s->open = 0;
            t->st.connections--;
            t->st.connections_closed++;
        }
        break;
    case ZMQ_EVENT_ACCEPT_FAILED:
        if (fd == EMFILE || fd == ENFILE)
            shed_pending(t);
        break;
    default:
        break;
    }
}

void hub_transport_poll_monitor(struct hub_transport *t)
{
    if (!t->monitor)
        return;
    /* Bounded: at EMFILE libzmq posts ACCEPT_FAILED as fast as it retries,
     * and the loop must go on serving; the watcher calls again. */
    for (int i = 0; i < 4096; i++) {
        zmq_msg_t a, b;
        zmq_msg_init(&a);
        if (zmq_msg_recv(&a, t->monitor, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&a);
            return;
        }
        /* Two frames: 6 bytes (uint16 event, uint32 value, host order),
         * then the endpoint. */
        zmq_msg_init(&b);
        int more = zmq_msg_more(&a);
        if (more)
            zmq_msg_recv(&b, t->monitor, 0);
        if (zmq_msg_size(&a) >= 6) {
            const unsigned char *d = zmq_msg_data(&a);
            uint16_t ev;
            uint32_t value;
            memcpy(&ev, d, 2);
            memcpy(&value, d + 2, 4);
            on_event(t, ev, value);
        }
        zmq_msg_close(&a);
        zmq_msg_close(&b);
    }
}

static void on_monitor(struct hub_zsock *z)
{
    struct hub_transport *t = z->data;
    hub_transport_poll_monitor(t);
    hub_transport_sweep(t);
}

/* ---- sending ----------------------------------------------------------- */

static int send_frames(struct hub_transport *t, zmq_msg_t *env, int nenv, zmq_msg_t *body)
{
    for (int i = 0; i < nenv; i++)
        if (zmq_msg_send(&env[i], t->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
            return errno; /* with ROUTER_MANDATORY only the routing frame can fail */
    if (zmq_msg_send(body, t->router, ZMQ_DONTWAIT) < 0)
        return errno;
    return 0;
}

static void on_retry(uv_timer_t *h);

static void arm_retry(struct hub_transport *t)
{
    if (!t->retry_started)
        return;
    if (!t->blocked) {
        uv_timer_stop(&t->retry);
        return;
    }
    uint64_t first = UINT64_MAX, now = uv_now(t->loop);
    for (struct hub_conn *c = t->blocked; c; c = c->bnext)
        if (c->next_try_ms < first)
            first = c->next_try_ms;
    uv_timer_start(&t->retry, on_retry, first > now ? first - now : 0, 0);
}

static void block(struct hub_transport *t, struct hub_conn *c)
{
    if (!c->blocked) {
        c->blocked = 1;
        c->bprev = NULL;
        c->bnext = t->blocked;
        if (t->blocked)
            t->blocked->bprev = c;
        t->blocked = c;
        c->backoff_ms = BACKOFF_MIN_MS;
    } else if (c->backoff_ms < BACKOFF_MAX_MS) {
        c->backoff_ms *= 2;
    }
    c->next_try_ms = uv_now(t->loop) + c->backoff_ms;
}

/* Send c's waiting replies, in order, until its pipe is full again. */
static void flush_conn(struct hub_transport *t, struct hub_conn *c)
{
    while (c->head) {
        struct held *h = c->head;
        int rc = send_frames(t, h->frames, h->nframes - 1, &h->frames[h->nframes - 1]);
        if (rc == EAGAIN) {
            block(t, c);
            return;
        }
        c->head = h->next;
        if (!c->head)
            c->tail = NULL;
        if (rc) {
            /* EHOSTUNREACH: the client has gone; so has the rest. */
            t->st.replies_dropped++;
            held_free(t, c, h);
            conn_drop_held(t, c);
            break;
        }
        h->nframes = 0; /* sent: ZeroMQ owns the frames */
        held_free(t, c, h);
    }
    unblock(t, c);
    maybe_forget(t, c);
}

static void on_retry(uv_timer_t *h)
{
    struct hub_transport *t = h->data;
    uint64_t now = uv_now(t->loop);
    for (struct hub_conn *c = t->blocked, *next; c; c = next) {
        next = c->bnext;
        if (c->next_try_ms <= now)
            flush_conn(t, c);
    }
    arm_retry(t);
}

static int may_hold(const struct hub_transport *t, const struct hub_conn *c, int admitted)
{
    if (admitted)
        return 1; /* admission bounded these already */
    return c->held_unadmitted < UNADMITTED_SLACK && t->held_total < t->lim->replies_max;
}

static void settle(struct hub_transport *t, struct hub_ticket *tk)
{
    if (!tk->admitted)
        return;
    tk->admitted = 0;
    if (tk->conn && tk->conn->inflight)
        tk->conn->inflight--;
    for (int i = 0; i < 2; i++)
        if (tk->acct[i]) {
            tk->acct[i]->inflight--;
            account_put(t, tk->acct[i]);
            tk->acct[i] = NULL;
        }
}

void hub_transport_settle(struct hub_transport *t, struct hub_ticket *tk)
{
    settle(t, tk);
    maybe_forget(t, tk->conn);
}

void hub_transport_reply(struct hub_transport *t, struct hub_ticket *tk, zmq_msg_t *env,
                         int nenv, const void *body, size_t len)
{
    struct hub_conn *c = tk->conn;
    zmq_msg_t msg;
    if (zmq_msg_init_size(&msg, len) != 0) {
        t->st.replies_dropped++;
        goto done;
    }
    memcpy(zmq_msg_data(&msg), body, len);
    int rc = EAGAIN;
    /* Behind replies already waiting, in order. */
    if (!c || c->gone || !c->head)
        rc = send_frames(t, env, nenv, &msg);
    if (rc == 0)
        goto done;
    if (rc != EAGAIN || !c || c->gone || !may_hold(t, c, tk->admitted) ||
        nenv + 1 > CSPH_TRANSPORT_MAX_FRAMES) {
        t->st.replies_dropped++; /* gone, or past its bound: it resends */
        zmq_msg_close(&msg);
        goto done;
    }
    struct held *h = calloc(1, sizeof *h);
    if (!h) {
        t->st.replies_dropped++;
        zmq_msg_close(&msg);
        goto done;
    }
    for (int i = 0; i < nenv; i++) {
        zmq_msg_init(&h->frames[i]);
        zmq_msg_move(&h->frames[i], &env[i]);
    }
    zmq_msg_init(&h->frames[nenv]);
    zmq_msg_move(&h->frames[nenv], &msg);
    h->nframes = nenv + 1;
    h->bytes = len;
    h->admitted = tk->admitted;
    /* Charged to the accounts of the request it answers. */
    for (int i = 0; i < 2; i++) {
        struct hub_account *a = tk->admitted ? tk->acct[i] : (i == 0 ? c->acct : NULL);
        if (a) {
            a->refs++;
            a->held++;
            h->acct[i] = a;
        }
    }
    if (c->tail)
        c->tail->next = h;
    else
        c->head = h;
    c->tail = h;
    c->held++;
    c->held_unadmitted += !h->admitted;
    c->held_bytes += len;
    t->held_total++;
    t->held_bytes_total += len;
    t->st.replies_held++;
    if (!c->blocked) {
        block(t, c);
        arm_retry(t);
    }
done:
    settle(t, tk);
    maybe_forget(t, c);
}

/* ---- requests ---------------------------------------------------------- */

struct hub_conn *hub_transport_sender(struct hub_transport *t, zmq_msg_t *frames, int n)
{
    const void *rid = zmq_msg_data(&frames[0]);
    size_t len = zmq_msg_size(&frames[0]);
    /* The body's fd: the routing-id frame has none when the ROUTER made
     * it while prefetching (after a ZMQ_EVENTS query or a poll). */
    int fd = zmq_msg_get(&frames[n - 1], ZMQ_SRCFD);
    struct hub_conn *c = *conn_slot(t, rid, len);
    if (c && (fd < 0 || c->fd == fd))
        return c;
    /* First sight of this routing id, or of it on another fd: apply the
     * events that accepted its connection (and closed any previous one on
     * the fd) first, so the binding below is to the fd's latest accept. */
    hub_transport_poll_monitor(t);
    c = *conn_slot(t, rid, len);
    struct fd_slot *s = fd_slot(t, fd);
    if (!c) {
        if (!(c = calloc(1, sizeof *c + len)))
            return NULL;
        memcpy(c->rid, rid, len);
        c->rid_len = len;
        c->fd = -1;
        if (t->nconns >= t->nbuckets)
            conns_grow(t);
        struct hub_conn **pp = conn_slot(t, rid, len);
        c->hnext = *pp;
        *pp = c;
        t->nconns++;
    } else if (c->fd >= 0 && (size_t)c->fd < t->nfds && t->fds[c->fd].owner == c) {
        t->fds[c->fd].owner = NULL;
    }
    c->fd = s ? fd : -1;
    if (s) {
        if (s->owner && s->owner != c)
            mark_gone(t, s->owner); /* the fd is this connection's now */
        s->owner = c;
        c->gen = s->accepts;
    }
    return c;
}

enum hub_err hub_transport_set_account(struct hub_transport *t, struct hub_conn *c,
                                       const void *key, size_t len)
{
    if (c->acct && key && c->acct->len == len && !memcmp(c->acct->key, key, len))
        return CSPH_ERR_OK;
    struct hub_account *a = NULL;
    if (key && !(a = account_get(t, key, len)))
        return CSPH_ERR_NOMEM;
    account_put(t, c->acct);
    c->acct = a;
    return CSPH_ERR_OK;
}

void hub_transport_unadmitted(struct hub_conn *c, struct hub_ticket *tk)
{
    memset(tk, 0, sizeof *tk);
    tk->conn = c;
}

static enum hub_err busy(struct hub_transport *t, struct hub_error *err, const char *fmt,
                         unsigned long long n, const struct hub_account *a)
{
    t->st.busy_client++;
    char who[80] = "";
    if (a)
        snprintf(who, sizeof who, " ('%.*s')", (int)(a->len < 64 ? a->len : 64),
                 (const char *)a->key);
    return hub_error_set(err, CSPH_ERR_BUSY, NULL, fmt, n, who);
}

enum hub_err hub_transport_admit(struct hub_transport *t, struct hub_conn *c,
                                 const void *extra, size_t extra_len, struct hub_ticket *tk,
                                 struct hub_error *err)
{
    const struct hub_transport_limits *l = t->lim;
    memset(tk, 0, sizeof *tk);
    tk->conn = c;
    if (!c)
        return CSPH_ERR_OK; /* out of memory for its record: unbounded, as before */
    if (c->held + c->inflight >= l->conn_replies_max || c->held_bytes >= l->conn_reply_bytes_max)
        return busy(t, err,
                    "this connection has %llu replies it has not read%s "
                    "(limits.reply_backlog_per_connection); nothing was done; read your "
                    "replies and retry",
                    (unsigned long long)c->held + c->inflight, NULL);
    if (c->acct && c->acct->held + c->acct->inflight >= l->account_replies_max)
        return busy(t, err,
                    "this identity's connections hold %llu replies they have not read%s "
                    "(limits.reply_backlog_per_identity); nothing was done; read your replies "
                    "and retry",
                    (unsigned long long)c->acct->held + c->acct->inflight, c->acct);
    if (c->held && (t->held_total >= l->replies_max || t->held_bytes_total >= l->reply_bytes_max))
        return busy(t, err,
                    "the hub is holding %llu unread replies%s (limits.reply_backlog_max), some "
                    "of them this connection's; nothing was done; read your replies and retry",
                    (unsigned long long)t->held_total, NULL);
    struct hub_account *x = NULL;
    if (extra) {
        if (!(x = account_get(t, extra, extra_len)))
            return hub_error_set(err, CSPH_ERR_BUSY, NULL, "out of memory; retry");
        if (x->held + x->inflight >= l->account_replies_max) {
            account_put(t, x);
            return busy(t, err,
                        "%llu replies are waiting for the account%s; nothing was done; read "
                        "your replies and retry",
                        (unsigned long long)x->held + x->inflight, x);
        }
    }
    tk->admitted = 1;
    c->inflight++;
    if (c->acct) {
        c->acct->refs++;
        c->acct->inflight++;
        tk->acct[0] = c->acct;
    }
    if (x) {
        x->inflight++;
        tk->acct[1] = x;
    }
    return CSPH_ERR_OK;
}

enum hub_err hub_transport_fetch_hold(struct hub_transport *t, struct hub_ticket *tk,
                                      struct hub_error *err)
{
    const struct hub_transport_limits *l = t->lim;
    struct hub_conn *c = tk->conn;
    if (c && c->fetches >= l->conn_fetches_max) {
        t->st.busy_client++;
        return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                             "this connection already holds %u waiting fetches "
                             "(limits.fetch_held_per_connection); retry later or fetch without "
                             "wait_ms",
                             c->fetches);
    }
    for (int i = 0; i < 2; i++)
        if (tk->acct[i] && tk->acct[i]->fetches >= l->account_fetches_max) {
            t->st.busy_client++;
            return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                                 "this identity already holds %u waiting fetches "
                                 "(limits.fetch_held_per_identity); retry later or fetch "
                                 "without wait_ms",
                                 tk->acct[i]->fetches);
        }
    if (c)
        c->fetches++;
    for (int i = 0; i < 2; i++)
        if (tk->acct[i])
            tk->acct[i]->fetches++;
    return CSPH_ERR_OK;
}

void hub_transport_fetch_done(struct hub_transport *t, struct hub_ticket *tk)
{
    (void)t;
    if (tk->conn && tk->conn->fetches)
        tk->conn->fetches--;
    for (int i = 0; i < 2; i++)
        if (tk->acct[i] && tk->acct[i]->fetches)
            tk->acct[i]->fetches--;
}

void hub_transport_fetches_released(struct hub_transport *t, uint64_t n)
{
    t->st.fetches_released += n;
}

const struct hub_transport_stats *hub_transport_stats(const struct hub_transport *t)
{
    ((struct hub_transport *)t)->st.replies_waiting = t->held_total;
    return &t->st;
}

uint64_t hub_transport_conn_tag(const struct hub_conn *c)
{
    return c ? c->tag : 0;
}

void hub_transport_conn_set_tag(struct hub_conn *c, uint64_t tag)
{
    c->tag = tag;
}

uint32_t hub_transport_conn_held(const struct hub_conn *c)
{
    return c ? c->held : 0;
}

/* ---- lifecycle --------------------------------------------------------- */

int hub_transport_raise_fd_limit(uint64_t *soft_before, uint64_t *soft)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    *soft_before = *soft = rl.rlim_cur;
    if (rl.rlim_cur == rl.rlim_max)
        return 0;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    *soft = rl.rlim_cur;
    return 0;
}

static uint64_t fds_open(void)
{
    uint64_t n = 0;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 32;
    while (readdir(d))
        n++;
    closedir(d);
    return n > 2 ? n - 2 : n;
}

enum hub_err hub_transport_new(struct hub_transport **out, uv_loop_t *loop, void *zctx,
                               void *router, const struct hub_transport_limits *lim,
                               hub_transport_gone_fn on_gone, void *data,
                               struct hub_error *err)
{
    struct hub_transport *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    t->loop = loop;
    t->router = router;
    t->lim = lim;
    t->on_gone = on_gone;
    t->data = data;
    t->reserve_fd = -1;
    t->nbuckets = 1024;
    t->nabuckets = 256;
    t->conns = calloc(t->nbuckets, sizeof *t->conns);
    t->accts = calloc(t->nabuckets, sizeof *t->accts);
    if (!t->conns || !t->accts) {
        hub_transport_destroy(&t);
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    }
    /* Each TCP connection takes one descriptor in libzmq. */
    struct rlimit rl;
    uint64_t nofile = getrlimit(RLIMIT_NOFILE, &rl) == 0 ? rl.rlim_cur : 1024;
    if (nofile == RLIM_INFINITY || nofile > (1u << 30))
        nofile = 1u << 30;
    uint64_t used = fds_open() + FD_RESERVE_MIN + nofile / 64;
    t->conns_max = lim->conns_max ? lim->conns_max : nofile > used ? nofile - used : 1;
    t->conns_max_cfg = t->st.connections_max = t->conns_max;
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://csph-monitor-%p", (void *)t);
    int zero = 0;
    int events = ZMQ_EVENT_LISTENING | ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED |
                 ZMQ_EVENT_ACCEPT_FAILED;
    if (zmq_socket_monitor(router, ep, events) != 0 ||
        !(t->monitor = zmq_socket(zctx, ZMQ_PAIR)) ||
        zmq_setsockopt(t->monitor, ZMQ_LINGER, &zero, sizeof zero) ||
        /* Unbounded: a lost DISCONNECTED would leave a client's held
         * fetches held. The loop drains it every iteration. */
        zmq_setsockopt(t->monitor, ZMQ_RCVHWM, &zero, sizeof zero) ||
        zmq_connect(t->monitor, ep) != 0) {
        enum hub_err rc = hub_error_set(err, CSPH_ERR_CONFIG, NULL,
                                        "cannot start the ROUTER socket's monitor: %s",
                                        zmq_strerror(errno));
        hub_transport_destroy(&t);
        return rc;
    }
    t->reserve_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    *out = t;
    return CSPH_ERR_OK;
}

void hub_transport_start(struct hub_transport *t)
{
    if (t->open_handles)
        return;
    if (hub_zsock_start(&t->mz, t->loop, t->monitor, on_monitor, NULL, t) == 0) {
        t->mz_started = 1;
        t->open_handles++;
    }
    uv_timer_init(t->loop, &t->retry);
    t->retry.data = t;
    t->retry_started = 1;
    t->open_handles++;
}

static void handle_closed(struct hub_transport *t)
{
    if (--t->open_handles == 0 && t->on_closed)
        t->on_closed(t->data);
}

static void on_retry_closed(uv_handle_t *h)
{
    handle_closed(h->data);
}

static void on_mz_closed(struct hub_zsock *z)
{
    handle_closed(z->data);
}

void hub_transport_close(struct hub_transport *t, void (*on_closed)(void *data))
{
    t->on_closed = on_closed;
    /* Last chance for held replies: the ROUTER's linger then has them. */
    for (struct hub_conn *c = t->blocked, *next; c; c = next) {
        next = c->bnext;
        flush_conn(t, c);
    }
    if (!t->open_handles) {
        if (on_closed)
            on_closed(t->data);
        return;
    }
    if (t->mz_started)
        hub_zsock_close(&t->mz, on_mz_closed);
    if (t->retry_started)
        uv_close((uv_handle_t *)&t->retry, on_retry_closed);
}

void hub_transport_destroy(struct hub_transport **tp)
{
    if (!tp || !*tp)
        return;
    struct hub_transport *t = *tp;
    for (size_t i = 0; t->conns && i < t->nbuckets; i++)
        while (t->conns[i])
            mark_gone(t, t->conns[i]);
    t->on_gone = NULL; /* the owner has dropped what it held */
    hub_transport_sweep(t);
    if (t->monitor) {
        zmq_socket_monitor(t->router, NULL, 0);
        zmq_close(t->monitor);
    }
    if (t->reserve_fd >= 0)
        close(t->reserve_fd);
    for (size_t i = 0; t->accts && i < t->nabuckets; i++)
        while (t->accts[i]) {
            struct hub_account *a = t->accts[i];
            t->accts[i] = a->hnext;
            free(a);
        }
    free(t->accts);
    free(t->conns);
    free(t->fds);
    free(t);
    *tp = NULL;
}
