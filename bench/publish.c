/* Publish phases and the ZeroMQ echo baseline: see publish.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <zmq.h>

#include "csphub.h"
#include "publish.h"
#include "bench.h"
#include "msg.h"
#include "corpus.h"
#include "figures.h"
#include "hubctl.h"

/* Answer every request with a reply of the hub's shape and size, using no
 * hub logic: req is copied from its fixed place. */
static void *echo_main(void *arg)
{
    struct echo *e = arg;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    while (!atomic_load(&e->stop)) {
        zmq_pollitem_t it = {e->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 50) < 0 && errno != EINTR)
            die("echo: zmq_poll: %s", zmq_strerror(errno));
        for (;;) {
            zmq_msg_t id, body;
            zmq_msg_init(&id);
            if (zmq_msg_recv(&id, e->router, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&id);
                break;
            }
            if (!zmq_msg_more(&id)) {
                zmq_msg_close(&id);
                continue;
            }
            zmq_msg_init(&body);
            zmq_msg_recv(&body, e->router, 0);
            while (zmq_msg_more(&body)) { /* not ours: keep the last frame */
                zmq_msg_close(&body);
                zmq_msg_init(&body);
                zmq_msg_recv(&body, e->router, 0);
            }
            const unsigned char *b = zmq_msg_data(&body);
            uint64_t r = 0;
            if (zmq_msg_size(&body) >= REQ_HDR_LEN && b[0] == 0x83 && b[1] == 0xa3 &&
                memcmp(b + 2, "req", 3) == 0 && b[5] == 0xcf)
                for (int i = 0; i < 8; i++)
                    r = r << 8 | b[6 + i];
            uint64_t n = 1;
            if (e->batch > 1) {
                uint64_t e0 = r * (uint64_t)e->batch;
                n = e0 < e->nevents ? e->nevents - e0 : 1;
                if (n > (uint64_t)e->batch)
                    n = (uint64_t)e->batch;
            }
            sb.size = 0;
            if (e->batch == 1) {
                msgpack_pack_map(&pk, 4);
                pk_str(&pk, "req");
                msgpack_pack_fix_uint64(&pk, r);
                pk_str(&pk, "ok");
                msgpack_pack_true(&pk);
                pk_str(&pk, "status");
                pk_str(&pk, "accepted");
                pk_str(&pk, "seq");
                msgpack_pack_uint64(&pk, ++e->seq);
            } else {
                msgpack_pack_map(&pk, 3);
                pk_str(&pk, "req");
                msgpack_pack_fix_uint64(&pk, r);
                pk_str(&pk, "ok");
                msgpack_pack_true(&pk);
                pk_str(&pk, "results");
                msgpack_pack_array(&pk, (size_t)n);
                for (uint64_t i = 0; i < n; i++) {
                    msgpack_pack_map(&pk, 2);
                    pk_str(&pk, "status");
                    pk_str(&pk, "accepted");
                    pk_str(&pk, "seq");
                    msgpack_pack_uint64(&pk, ++e->seq);
                }
            }
            if (zmq_msg_send(&id, e->router, ZMQ_SNDMORE) < 0 ||
                zmq_send(e->router, sb.data, sb.size, 0) < 0) {
                zmq_msg_close(&id);
                if (errno == EHOSTUNREACH) { /* the client went away */
                    zmq_msg_close(&body);
                    continue;
                }
                die("echo: send: %s", zmq_strerror(errno));
            }
            e->replies++;
            zmq_msg_close(&body);
        }
    }
    msgpack_sbuffer_destroy(&sb);
    return NULL;
}

void echo_start(struct echo *e, const char *like_endpoint, uint64_t nevents)
{
    memset(e, 0, sizeof *e);
    e->nevents = nevents;
    e->batch = opt.batch;
    e->ctx = zmq_ctx_new();
    e->router = zmq_socket(e->ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    int64_t maxmsg = 1 << 20;
    if (!e->router || zmq_setsockopt(e->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) ||
        zmq_setsockopt(e->router, ZMQ_SNDHWM, &opt.hwm, sizeof opt.hwm) ||
        zmq_setsockopt(e->router, ZMQ_RCVHWM, &opt.hwm, sizeof opt.hwm) ||
        zmq_setsockopt(e->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        zmq_setsockopt(e->router, ZMQ_LINGER, &linger, sizeof linger))
        die("echo: cannot create the ROUTER: %s", zmq_strerror(errno));
    /* The hub's transport: ipc:// when the hub is on ipc://, else loopback TCP. */
    char bind_ep[PATH_MAX + 16];
    if (strncmp(like_endpoint, "ipc://", 6) == 0) {
        char dir[PATH_MAX];
        make_tmpdir("echo", dir, sizeof dir);
        snprintf(bind_ep, sizeof bind_ep, "ipc://%s/echo.sock", dir);
    } else {
        snprintf(bind_ep, sizeof bind_ep, "tcp://127.0.0.1:*");
    }
    if (zmq_bind(e->router, bind_ep) != 0)
        die("echo: cannot bind %s: %s", bind_ep, zmq_strerror(errno));
    size_t len = sizeof e->endpoint;
    zmq_getsockopt(e->router, ZMQ_LAST_ENDPOINT, e->endpoint, &len);
    if (pthread_create(&e->thread, NULL, echo_main, e) != 0)
        die("cannot start the echo thread");
}

void echo_stop(struct echo *e)
{
    atomic_store(&e->stop, 1);
    pthread_join(e->thread, NULL);
    zmq_close(e->router);
    zmq_ctx_term(e->ctx);
}

struct publisher {
    struct phase *ph;
    int idx;
    pthread_t thread;
    uint64_t r0, r1;
    uint64_t sent, replied, accepted, duplicate, failed;
    int64_t first_ns, last_ns;
};

static void rejection(struct publisher *p, uint64_t r, int64_t ev, const msgpack_object *err,
                      uint64_t nreplied)
{
    struct phase *ph = p->ph;
    const msgpack_object *code = mp_get(err, "code");
    char why[600];
    describe_error(err, why, sizeof why);
    if (code && code->type == MSGPACK_OBJECT_STR &&
        csph_code_retry(csph_code_parse(code->via.str.ptr, code->via.str.size))) {
        /* The hub is at a limit or failed a commit: nothing was done. Counted
         * and shown; the events are not resent. */
        pthread_mutex_lock(&ph->mu);
        if (!ph->res.first_failure[0])
            snprintf(ph->res.first_failure, sizeof ph->res.first_failure,
                     "request %" PRIu64 ": %s", r, why);
        pthread_mutex_unlock(&ph->mu);
        p->failed++;
        return;
    }
    /* Any other rejection: our events should all be valid, so the figures
     * would be meaningless. Show the first one and stop. */
    pthread_mutex_lock(&g.dying);
    fflush(stdout);
    fprintf(stderr,
            "csphub-bench: the hub REJECTED an event (publisher %d, request %" PRIu64
            ", reply %" PRIu64 " of this publisher): %s\n",
            p->idx, r, nreplied, why);
    if (ev >= 0) {
        fprintf(stderr, "csphub-bench: the rejected event (#%" PRId64 "): ", ev);
        print_event(stderr, ph->corpus, (uint64_t)ev);
    }
    fprintf(stderr, "csphub-bench: every generated event should be valid against schemas/: "
                    "either the generator or the hub's schemas changed. No figures.\n");
    cleanup_all();
    _exit(1);
}

static void note_seq(struct phase *ph, const msgpack_object *seq, uint64_t r, int64_t t)
{
    if (!ph->seq_sent_ns || !seq || seq->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return;
    uint64_t sq = seq->via.u64;
    if (sq <= ph->seq_base || sq - ph->seq_base > ph->seq_cap)
        return;
    ph->seq_sent_ns[sq - ph->seq_base - 1] = ph->sent_ns[r];
    ph->seq_ack_ns[sq - ph->seq_base - 1] = t;
}

static void note_ev_seq(struct phase *ph, const msgpack_object *seq, uint64_t ev)
{
    if (ph->ev_seq && seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER && ev < ph->corpus->n)
        ph->ev_seq[ev] = seq->via.u64;
}

static void handle_reply(struct publisher *p, msgpack_unpacked *up, const char *data, size_t len,
                         int64_t t)
{
    struct phase *ph = p->ph;
    size_t off = 0;
    if (msgpack_unpack_next(up, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        up->data.type != MSGPACK_OBJECT_MAP)
        die("%s: publisher %d got a reply that is not a MessagePack map (%zu bytes)", ph->name,
            p->idx, len);
    const msgpack_object *root = &up->data;
    const msgpack_object *req = mp_get(root, "req"), *ok = mp_get(root, "ok");
    if (!req || req->type != MSGPACK_OBJECT_POSITIVE_INTEGER || req->via.u64 < p->r0 ||
        req->via.u64 >= p->r1 || ph->lat_ns[req->via.u64]) {
        char why[700] = "";
        if (mp_get(root, "error"))
            describe_error(mp_get(root, "error"), why, sizeof why);
        die("%s: publisher %d got a reply to no request of its own in flight (req %s%" PRIu64
            ")%s%s",
            ph->name, p->idx, req && req->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? "" : "absent ",
            req && req->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? req->via.u64 : 0,
            why[0] ? ": " : "", why);
    }
    uint64_t r = req->via.u64;
    int64_t lat = t - ph->sent_ns[r];
    ph->lat_ns[r] = lat > 0 ? lat : 1;
    p->replied++;
    p->last_ns = t;
    uint64_t e0 = r * (uint64_t)opt.batch;
    if (ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean) {
        const msgpack_object *results = mp_get(root, "results");
        if (results && results->type == MSGPACK_OBJECT_ARRAY) {
            for (uint32_t i = 0; i < results->via.array.size; i++) {
                const msgpack_object *el = &results->via.array.ptr[i];
                const msgpack_object *st = mp_get(el, "status");
                if (mp_str_is(st, "accepted")) {
                    p->accepted++;
                    note_seq(ph, mp_get(el, "seq"), r, t);
                    note_ev_seq(ph, mp_get(el, "seq"), e0 + i);
                } else if (mp_str_is(st, "duplicate"))
                    p->duplicate++;
                else if (ph->hub)
                    rejection(p, r, (int64_t)(e0 + i), mp_get(el, "error"), p->replied);
            }
        } else {
            const msgpack_object *st = mp_get(root, "status");
            if (mp_str_is(st, "accepted")) {
                p->accepted++;
                note_seq(ph, mp_get(root, "seq"), r, t);
                note_ev_seq(ph, mp_get(root, "seq"), e0);
            } else if (mp_str_is(st, "duplicate"))
                p->duplicate++;
            else
                die("%s: an ok reply to request %" PRIu64 " has neither status nor results",
                    ph->name, r);
        }
        return;
    }
    rejection(p, r, opt.batch == 1 ? (int64_t)e0 : -1, mp_get(root, "error"), p->replied);
    if (opt.batch > 1) { /* a whole batch refused (busy/internal): count its events */
        uint64_t n = ph->corpus->n - e0 < (uint64_t)opt.batch ? ph->corpus->n - e0
                                                              : (uint64_t)opt.batch;
        p->failed += n - 1;
    }
}

static void *publisher_main(void *arg)
{
    struct publisher *p = arg;
    struct phase *ph = p->ph;
    const struct requests *q = ph->reqs;
    void *s = dealer_new(ph->ctx, ph->endpoint);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    const int64_t timeout_ns = (int64_t)(opt.reply_timeout_s * 1e9);
    pthread_barrier_wait(&ph->ready);

    /* Paced (--rate): request k of this publisher is due at sched0 + k x
     * interval; a timerfd wakes the poll below at that instant, so sends
     * keep to the schedule without spinning. A late send (window full, HWM)
     * goes as soon as it can and its lateness is recorded. */
    const int paced = opt.rate > 0;
    const int64_t tick_ns = (int64_t)(opt.pace_tick_us * 1000.0);
    int tfd = -1;
    int64_t interval_ns = 0, sched0 = 0, tick0 = 0;
    if (paced) {
        interval_ns = (int64_t)(1e9 * (double)opt.batch * (double)ph->publishers / opt.rate);
        sched0 = ph->start_ns + interval_ns * p->idx / ph->publishers;
        /* ticks staggered too; the grid starts a tick early so sched - tick0 >= 0 */
        tick0 = ph->start_ns - tick_ns + tick_ns * p->idx / ph->publishers;
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (tfd < 0)
            die("timerfd_create: %s", strerror(errno));
        while (now_ns() < sched0 - 1000000) /* the first send is on schedule too */
            usleep(500);
    }
    p->first_ns = p->last_ns = now_ns();
    const int64_t stop_ns =
        opt.duration_limit_s > 0 ? p->first_ns + (int64_t)(opt.duration_limit_s * 1e9) : INT64_MAX;
    uint64_t next = p->r0, low = p->r0, end = p->r1;
    int inflight = 0;
    while (low < end) {
        int64_t now = now_ns();
        if (next < end && (g.interrupted || now >= stop_ns)) {
            end = next; /* stop sending; drain what is in flight */
            if (low >= end)
                break;
        }
        int blocked = 0;
        int64_t due = 0; /* paced: when the next request is due, if not yet */
        while (inflight < ph->window && next < end) {
            if (paced) {
                int64_t sched = sched0 + (int64_t)(next - p->r0) * interval_ns, t = now_ns();
                if (tick_ns) /* --pace-tick: wake once a tick, send what is due */
                    sched = tick0 + (sched - tick0 + tick_ns - 1) / tick_ns * tick_ns;
                if (t < sched) {
                    due = sched;
                    break;
                }
                ph->lag_ns[next] = t - sched;
            }
            ph->sent_ns[next] = now_ns();
            if (zmq_send(s, q->buf.data + q->off[next], q->off[next + 1] - q->off[next],
                         ZMQ_DONTWAIT) < 0) {
                if (errno == EAGAIN) {
                    blocked = 1; /* HWM reached: read replies first */
                    break;
                }
                if (errno == EINTR)
                    continue;
                die("%s: publisher %d cannot send: %s", ph->name, p->idx, zmq_strerror(errno));
            }
            next++;
            inflight++;
            p->sent++;
        }
        now = now_ns();
        int64_t deadline = inflight ? ph->sent_ns[low] + timeout_ns : now + 10000000;
        if (now >= deadline) {
            fflush(stdout);
            die("%s: NO REPLY to publish request %" PRIu64 " (publisher %d) within %.0f s; "
                "%d requests of this publisher in flight, %" PRIu64 " replies received so far. "
                "The hub hung or dropped replies.",
                ph->name, low, p->idx, opt.reply_timeout_s, inflight, p->replied);
        }
        long wait_ms = (long)((deadline - now) / 1000000) + 1;
        if (wait_ms > 100)
            wait_ms = 100; /* notice an interrupt or the duration limit */
        if (blocked && wait_ms > 1)
            wait_ms = 1;
        zmq_pollitem_t it[2] = {{s, 0, ZMQ_POLLIN, 0}, {NULL, tfd, ZMQ_POLLIN, 0}};
        if (due) {
            struct itimerspec its = {.it_value = {.tv_sec = due / 1000000000,
                                                  .tv_nsec = due % 1000000000}};
            if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
                die("timerfd_settime: %s", strerror(errno));
        }
        int rc = zmq_poll(it, due ? 2 : 1, wait_ms);
        if (rc < 0 && errno != EINTR)
            die("%s: zmq_poll: %s", ph->name, zmq_strerror(errno));
        if (due && (it[1].revents & ZMQ_POLLIN)) {
            uint64_t expirations;
            if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
                die("timerfd read: %s", strerror(errno));
        }
        if (rc <= 0 || !(it[0].revents & ZMQ_POLLIN))
            continue;
        for (;;) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            handle_reply(p, &up, zmq_msg_data(&m), zmq_msg_size(&m), now_ns());
            zmq_msg_close(&m);
            inflight--;
        }
        while (low < next && ph->lat_ns[low])
            low++;
    }
    if (tfd >= 0)
        close(tfd);
    msgpack_unpacked_destroy(&up);
    zmq_close(s);
    return NULL;
}

void run_phase(struct phase *ph)
{
    const struct requests *q = ph->reqs;
    if (!ph->publishers)
        ph->publishers = opt.publishers;
    if (!ph->window)
        ph->window = opt.window;
    int np = ph->publishers;
    ph->sent_ns = calloc(q->n ? q->n : 1, sizeof *ph->sent_ns);
    ph->lat_ns = calloc(q->n ? q->n : 1, sizeof *ph->lat_ns);
    ph->lag_ns = calloc(q->n ? q->n : 1, sizeof *ph->lag_ns);
    struct publisher *pubs = calloc((size_t)np, sizeof *pubs);
    if (!ph->sent_ns || !ph->lat_ns || !ph->lag_ns || !pubs)
        die("out of memory for %" PRIu64 " requests", q->n);
    pthread_mutex_init(&ph->mu, NULL);
    pthread_barrier_init(&ph->ready, NULL, (unsigned)np + 1);
    for (int i = 0; i < np; i++) {
        pubs[i] = (struct publisher){.ph = ph, .idx = i,
                                     .r0 = q->n * (uint64_t)i / (uint64_t)np,
                                     .r1 = q->n * (uint64_t)(i + 1) / (uint64_t)np};
        if (pthread_create(&pubs[i].thread, NULL, publisher_main, &pubs[i]) != 0)
            die("cannot start publisher thread %d", i);
    }
    usleep(200000); /* let every DEALER finish its TCP handshake */
    ph->start_ns = now_ns() + 20000000; /* paced: the schedule starts in 20 ms */
    pthread_barrier_wait(&ph->ready);
    for (int i = 0; i < np; i++)
        pthread_join(pubs[i].thread, NULL);

    struct phase_result *res = &ph->res;
    int64_t t0 = INT64_MAX, t1 = 0;
    for (int i = 0; i < np; i++) {
        struct publisher *p = &pubs[i];
        if (p->r0 == p->r1)
            continue;
        if (p->first_ns < t0)
            t0 = p->first_ns;
        if (p->last_ns > t1)
            t1 = p->last_ns;
        res->requests += p->replied;
        res->requests_sent += p->sent;
        res->accepted += p->accepted;
        res->duplicate += p->duplicate;
        res->failed += p->failed;
    }
    res->elapsed_s = t1 > t0 ? secs(t1 - t0) : 0;
    uint64_t nlat = res->requests > res->requests_sent ? res->requests : res->requests_sent;
    int64_t *lat = malloc((nlat ? nlat : 1) * sizeof *lat);
    uint64_t n = 0;
    double sum = 0;
    for (uint64_t r = 0; r < q->n; r++)
        if (ph->lat_ns[r]) {
            lat[n++] = ph->lat_ns[r];
            sum += (double)ph->lat_ns[r];
        }
    qsort(lat, n, sizeof *lat, cmp_i64);
    res->p50_ms = pct_ms(lat, n, 0.50);
    res->p90_ms = pct_ms(lat, n, 0.90);
    res->p99_ms = pct_ms(lat, n, 0.99);
    res->p999_ms = pct_ms(lat, n, 0.999);
    res->max_ms = n ? (double)lat[n - 1] / 1e6 : 0;
    res->mean_ms = n ? sum / (double)n / 1e6 : 0;
    if (res->elapsed_s > 0) {
        res->events_per_s = (double)res->accepted / res->elapsed_s;
        res->requests_per_s = (double)res->requests / res->elapsed_s;
    }
    if (opt.rate > 0) {
        res->paced = 1;
        n = 0;
        for (uint64_t r = 0; r < q->n; r++)
            if (ph->sent_ns[r])
                lat[n++] = ph->lag_ns[r];
        qsort(lat, n, sizeof *lat, cmp_i64);
        res->lag_p99_ms = pct_ms(lat, n, 0.99);
        res->lag_max_ms = n ? (double)lat[n - 1] / 1e6 : 0;
    }
    free(lat);
    free(ph->lag_ns);
    free(pubs);
    free(ph->sent_ns);
    free(ph->lat_ns);
    pthread_barrier_destroy(&ph->ready);
    pthread_mutex_destroy(&ph->mu);
}
