/* test_zsock.c: a ZeroMQ socket inside the libuv loop (hub/zsock.c).
 *
 * ZMQ_FD is edge-triggered: a wake-up can be consumed by any zmq call, and a
 * readable fd does not mean a message is waiting. These tests push 10,000
 * messages through an inproc:// DEALER -> ROUTER pair whose ROUTER is
 * watched by a zsock and echoes, and require every message back, in order.
 * Each test has a private loop and ZeroMQ context, a watchdog timer that
 * fails it after 10 s instead of hanging, closes the zsock and waits for
 * its close callback before zmq_close, and ends with uv_loop_close == 0
 * (no handle left open). No sleeps. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>
#include <zmq.h>

#include "testutil.h"
#include "zsock.h"

#define NMSG 10000
#define BODY 16
#define WATCHDOG_MS 10000

struct pending {
    zmq_msg_t id, body;
};

struct fx {
    uv_loop_t loop;
    int loop_open;
    void *ctx, *router, *dealer;
    char ep[64];
    struct hub_zsock rz, dz;
    int rz_started, dz_started, rz_closed, dz_closed, finishing;
    uv_timer_t watchdog, sender;
    int watchdog_open, sender_open;
    int timed_out;
    /* the traffic */
    int n, burst, budget, deferred;
    int sent, echoed, received, errors, order_errors;
    int router_calls;
    struct pending *queue; /* deferred mode: echoes waiting to be sent */
    int qhead, qtail;
    /* the client thread (threaded variant) */
    pthread_t thread;
    int threaded, joined;
    int t_sent, t_received, t_errors;
    int fds;
};

static int counter;

static int group_setup(void **state)
{
    /* libuv opens process-wide descriptors once (the signal lock pipe):
     * warm up so each test's descriptor count sees only its own. */
    uv_loop_t l;
    if (uv_loop_init(&l) != 0)
        return -1;
    uv_run(&l, UV_RUN_NOWAIT);
    return uv_loop_close(&l);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    int zero = 0, one = 1;
    f->fds = tu_open_fds();
    if (uv_loop_init(&f->loop) != 0)
        return -1;
    f->loop_open = 1;
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    f->dealer = zmq_socket(f->ctx, ZMQ_DEALER);
    void *socks[] = {f->router, f->dealer};
    for (int i = 0; i < 2; i++) {
        /* no high-water mark: the echo never meets a full pipe, so any loss
         * is the watcher's fault, not flow control's */
        zmq_setsockopt(socks[i], ZMQ_SNDHWM, &zero, sizeof zero);
        zmq_setsockopt(socks[i], ZMQ_RCVHWM, &zero, sizeof zero);
        zmq_setsockopt(socks[i], ZMQ_LINGER, &zero, sizeof zero);
    }
    /* an unroutable echo is an error, not a silent drop */
    zmq_setsockopt(f->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    snprintf(f->ep, sizeof f->ep, "inproc://zsock-test-%d", counter++);
    if (zmq_bind(f->router, f->ep) != 0 || zmq_connect(f->dealer, f->ep) != 0)
        return -1;
    f->n = NMSG;
    *state = f;
    return 0;
}

static void on_zsock_closed(struct hub_zsock *z)
{
    struct fx *f = z->data;
    if (z == &f->rz)
        f->rz_closed++;
    else
        f->dz_closed++;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct fx *f = h->data;
    if (h == (uv_handle_t *)&f->watchdog)
        f->watchdog_open = 0;
    else
        f->sender_open = 0;
}

/* Close every uv handle of the test; the loop then ends by itself. */
static void finish(struct fx *f)
{
    if (f->finishing)
        return;
    f->finishing = 1;
    if (f->rz_started)
        hub_zsock_close(&f->rz, on_zsock_closed);
    if (f->dz_started)
        hub_zsock_close(&f->dz, on_zsock_closed);
    if (f->watchdog_open)
        uv_close((uv_handle_t *)&f->watchdog, on_timer_closed);
    if (f->sender_open)
        uv_close((uv_handle_t *)&f->sender, on_timer_closed);
}

static void on_watchdog(uv_timer_t *t)
{
    struct fx *f = t->data;
    f->timed_out = 1;
    finish(f);
}

static void start_watchdog(struct fx *f)
{
    uv_timer_init(&f->loop, &f->watchdog);
    f->watchdog.data = f;
    f->watchdog_open = 1;
    uv_timer_start(&f->watchdog, on_watchdog, WATCHDOG_MS, 0);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc = 0;
    if (f->threaded && !f->joined) /* a test that failed before joining */
        pthread_join(f->thread, NULL);
    if (f->loop_open) {
        finish(f);
        uv_run(&f->loop, UV_RUN_DEFAULT);
        if (uv_loop_close(&f->loop) != 0) {
            fprintf(stderr, "uv_loop_close: handles left open\n");
            rc = -1;
        }
    }
    if (f->queue) {
        for (int i = f->qhead; i < f->qtail; i++) {
            zmq_msg_close(&f->queue[i].id);
            zmq_msg_close(&f->queue[i].body);
        }
        free(f->queue);
    }
    if (f->router)
        zmq_close(f->router);
    if (f->dealer)
        zmq_close(f->dealer);
    zmq_ctx_term(f->ctx);
    if (tu_open_fds() != f->fds) {
        fprintf(stderr, "%d descriptors open before, %d after\n", f->fds, tu_open_fds());
        rc = -1;
    }
    free(f);
    return rc;
}

/* ---- the ROUTER side: echo what arrives ---- */

static int send_echo(struct fx *f, zmq_msg_t *id, zmq_msg_t *body)
{
    if (zmq_msg_send(id, f->router, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_msg_send(body, f->router, ZMQ_DONTWAIT) < 0) {
        f->errors++;
        zmq_msg_close(id);
        zmq_msg_close(body);
        return -1;
    }
    f->echoed++;
    return 0;
}

static void router_ready(struct hub_zsock *z)
{
    struct fx *f = z->data;
    f->router_calls++;
    for (int k = 0; !f->budget || k < f->budget; k++) {
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        if (zmq_msg_recv(&id, f->router, ZMQ_DONTWAIT) < 0) {
            if (zmq_errno() != EAGAIN)
                f->errors++;
            zmq_msg_close(&id);
            break;
        }
        zmq_msg_init(&body);
        if (!zmq_msg_more(&id) || zmq_msg_recv(&body, f->router, ZMQ_DONTWAIT) < 0) {
            f->errors++;
            zmq_msg_close(&id);
            zmq_msg_close(&body);
            break;
        }
        if (f->deferred) {
            struct pending *p = &f->queue[f->qtail++];
            zmq_msg_init(&p->id);
            zmq_msg_init(&p->body);
            zmq_msg_move(&p->id, &id);
            zmq_msg_move(&p->body, &body);
            zmq_msg_close(&id);
            zmq_msg_close(&body);
        } else {
            send_echo(f, &id, &body);
        }
    }
    /* deferred mode: one echo per call, so progress needs the zsock to call
     * again with no new input (through `wants`) */
    if (f->deferred && f->qhead < f->qtail) {
        struct pending *p = &f->queue[f->qhead++];
        send_echo(f, &p->id, &p->body);
    }
    /* threaded variant: the router side alone knows when it is done */
    if (f->threaded && f->echoed == f->n)
        finish(f);
}

static int router_wants(struct hub_zsock *z, int zmq_events)
{
    struct fx *f = z->data;
    return f->qhead < f->qtail;
}

/* ---- the DEALER side, in the loop: send in bursts, count echoes ---- */

static void fill_body(unsigned char *b, uint32_t i)
{
    memcpy(b, &i, 4);
    for (int k = 4; k < BODY; k++)
        b[k] = (unsigned char)(i * 31 + (uint32_t)k);
}

static int check_body(const unsigned char *b, size_t len, uint32_t want)
{
    unsigned char exp[BODY];
    fill_body(exp, want);
    return len == BODY && memcmp(b, exp, BODY) == 0;
}

static void on_send_tick(uv_timer_t *t)
{
    struct fx *f = t->data;
    for (int k = 0; k < f->burst && f->sent < f->n; k++) {
        unsigned char b[BODY];
        fill_body(b, (uint32_t)f->sent);
        if (zmq_send(f->dealer, b, BODY, ZMQ_DONTWAIT) < 0) {
            if (zmq_errno() != EAGAIN)
                f->errors++;
            break; /* retry on the next tick */
        }
        f->sent++;
    }
    if (f->sent == f->n)
        uv_timer_stop(t);
}

static void dealer_ready(struct hub_zsock *z)
{
    struct fx *f = z->data;
    for (;;) {
        unsigned char b[BODY + 8];
        int rc = zmq_recv(f->dealer, b, sizeof b, ZMQ_DONTWAIT);
        if (rc < 0) {
            if (zmq_errno() != EAGAIN)
                f->errors++;
            break;
        }
        if (!check_body(b, (size_t)rc, (uint32_t)f->received))
            f->order_errors++;
        f->received++;
    }
    if (f->received == f->n)
        finish(f);
}

/* Run the loop until finish(); then prove the close callbacks ran, close
 * the ZeroMQ sockets and the loop. */
static void run_and_close(struct fx *f)
{
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->rz_closed, f->rz_started);
    assert_int_equal(f->dz_closed, f->dz_started);
    assert_int_equal(f->watchdog_open, 0);
    assert_int_equal(f->sender_open, 0);
    /* only now may the sockets whose fds were polled be closed */
    zmq_close(f->router);
    f->router = NULL;
    if (!f->threaded) {
        zmq_close(f->dealer);
        f->dealer = NULL;
    }
    assert_int_equal(uv_loop_close(&f->loop), 0);
    f->loop_open = 0;
}

static void run_in_loop(struct fx *f)
{
    assert_int_equal(hub_zsock_start(&f->rz, &f->loop, f->router, router_ready,
                                     f->deferred ? router_wants : NULL, f),
                     0);
    f->rz_started = 1;
    assert_int_equal(hub_zsock_start(&f->dz, &f->loop, f->dealer, dealer_ready, NULL, f), 0);
    f->dz_started = 1;
    uv_timer_init(&f->loop, &f->sender);
    f->sender.data = f;
    f->sender_open = 1;
    uv_timer_start(&f->sender, on_send_tick, 0, 1);
    start_watchdog(f);
    run_and_close(f);
    if (f->timed_out)
        fail_msg("watchdog: after %d ms sent %d, echoed %d, received %d of %d (%d router calls)",
                 WATCHDOG_MS, f->sent, f->echoed, f->received, f->n, f->router_calls);
    assert_int_equal(f->errors, 0);
    assert_int_equal(f->sent, f->n);
    assert_int_equal(f->echoed, f->n);
    assert_int_equal(f->received, f->n);
    assert_int_equal(f->order_errors, 0);
}

static void test_echo_bursts(void **state)
{
    struct fx *f = *state;
    f->burst = 250;
    run_in_loop(f);
}

static void test_echo_one_burst(void **state)
{
    /* all 10,000 queued before the loop first polls: a single edge */
    struct fx *f = *state;
    f->burst = NMSG;
    run_in_loop(f);
}

static void test_echo_with_budget(void **state)
{
    /* the handler takes at most 7 messages a call: the rest must be picked
     * up without a new edge on ZMQ_FD */
    struct fx *f = *state;
    f->burst = 500;
    f->budget = 7;
    run_in_loop(f);
    assert_true(f->router_calls >= NMSG / 7);
}

static void test_wants_keeps_calling(void **state)
{
    /* echoes are held back and sent one per call: only `wants` can get the
     * handler called again while no input is pending */
    struct fx *f = *state;
    f->burst = 1000;
    f->deferred = 1;
    f->queue = calloc((size_t)f->n, sizeof *f->queue);
    run_in_loop(f);
    assert_int_equal(f->qhead, f->n);
}

/* ---- the DEALER in its own thread, the loop in this one ---- */

static void *client_thread(void *arg)
{
    struct fx *f = arg;
    for (int i = 0; i < f->n; i++) {
        unsigned char b[BODY];
        fill_body(b, (uint32_t)i);
        if (zmq_send(f->dealer, b, BODY, 0) != BODY)
            f->t_errors++;
        else
            f->t_sent++;
    }
    int64_t deadline = tu_now_ms() + WATCHDOG_MS;
    while (f->t_received < f->n) {
        int64_t left = deadline - tu_now_ms();
        if (left <= 0)
            break;
        zmq_pollitem_t it = {f->dealer, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, (long)left) <= 0)
            continue;
        unsigned char b[BODY + 8];
        int rc;
        while ((rc = zmq_recv(f->dealer, b, sizeof b, ZMQ_DONTWAIT)) >= 0) {
            if (!check_body(b, (size_t)rc, (uint32_t)f->t_received))
                f->t_errors++;
            f->t_received++;
        }
    }
    return NULL;
}

static void test_echo_from_thread(void **state)
{
    struct fx *f = *state;
    assert_int_equal(hub_zsock_start(&f->rz, &f->loop, f->router, router_ready, NULL, f), 0);
    f->rz_started = 1;
    start_watchdog(f);
    f->threaded = 1;
    assert_int_equal(pthread_create(&f->thread, NULL, client_thread, f), 0);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    /* the echoes are in the pipe: let the client read them all before the
     * ROUTER goes */
    pthread_join(f->thread, NULL);
    f->joined = 1;
    int timed_out = f->timed_out;
    run_and_close(f);
    zmq_close(f->dealer);
    f->dealer = NULL;
    if (timed_out)
        fail_msg("watchdog: echoed %d of %d (%d router calls)", f->echoed, f->n, f->router_calls);
    assert_int_equal(f->errors, 0);
    assert_int_equal(f->echoed, f->n);
    assert_int_equal(f->t_errors, 0);
    assert_int_equal(f->t_sent, f->n);
    assert_int_equal(f->t_received, f->n);
}

/* ---- lifecycle ---- */

static void test_close_idle(void **state)
{
    /* started and closed with no traffic: the close callback runs once,
     * after all four handles, and the loop closes */
    struct fx *f = *state;
    assert_int_equal(hub_zsock_start(&f->rz, &f->loop, f->router, router_ready, NULL, f), 0);
    f->rz_started = 1;
    assert_int_not_equal(uv_run(&f->loop, UV_RUN_NOWAIT), 0); /* its handles are active */
    hub_zsock_close(&f->rz, on_zsock_closed);
    f->finishing = 1;
    assert_int_equal(f->rz_closed, 0); /* not before the loop runs the callbacks */
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->rz_closed, 1);
    assert_int_equal(f->rz.open_handles, 0);
    zmq_close(f->router);
    f->router = NULL;
    assert_int_equal(uv_loop_close(&f->loop), 0);
    f->loop_open = 0;
}

static void test_close_with_unread_input(void **state)
{
    /* messages still waiting when the watcher closes: no handler call after
     * close, nothing left open */
    struct fx *f = *state;
    f->budget = 1;
    for (int i = 0; i < 100; i++) {
        unsigned char b[BODY];
        fill_body(b, (uint32_t)i);
        assert_int_equal(zmq_send(f->dealer, b, BODY, 0), BODY);
    }
    assert_int_equal(hub_zsock_start(&f->rz, &f->loop, f->router, router_ready, NULL, f), 0);
    f->rz_started = 1;
    uv_run(&f->loop, UV_RUN_NOWAIT);
    hub_zsock_close(&f->rz, on_zsock_closed);
    f->finishing = 1;
    int calls = f->router_calls;
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f->router_calls, calls);
    assert_int_equal(f->rz_closed, 1);
    zmq_close(f->router);
    f->router = NULL;
    assert_int_equal(uv_loop_close(&f->loop), 0);
    f->loop_open = 0;
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_close_idle),
        T(test_close_with_unread_input),
        T(test_echo_bursts),
        T(test_echo_one_burst),
        T(test_echo_with_budget),
        T(test_wants_keeps_calling),
        T(test_echo_from_thread),
    };
#undef T
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
