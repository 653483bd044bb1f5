/* test_transport.c: connections, their backlogs and the send path
 * (hub/transport.c), over a real ROUTER socket on loopback TCP (the monitor
 * needs descriptors). Each test has a private loop and ZeroMQ context and
 * a watchdog deadline; teardown closes the transport, waits for its close
 * callback, and proves uv_loop_close == 0 and no descriptor left open. No
 * sleeps: the loop is stepped until a condition holds. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <cmocka.h>
#include <uv.h>
#include <zmq.h>

#include "testutil.h"
#include "transport.h"

#define DEADLINE_MS 10000

struct fx {
    uv_loop_t loop;
    void *ctx, *router;
    char ep[64];
    struct hub_transport_limits lim;
    struct hub_transport *t;
    struct hub_conn *gone[16];
    int ngone, closed;
    void *clients[8]; /* closed by teardown, whatever a test left */
    int nclients;
    int fds;
};

static void on_gone(void *data, struct hub_conn *c)
{
    struct fx *f = data;
    if (f->ngone < 16)
        f->gone[f->ngone++] = c;
}

static void on_closed(void *data)
{
    ((struct fx *)data)->closed = 1;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    int one = 1, zero = 0, hwm = 10;
    f->fds = tu_open_fds();
    uv_loop_init(&f->loop);
    f->ctx = zmq_ctx_new();
    f->router = zmq_socket(f->ctx, ZMQ_ROUTER);
    zmq_setsockopt(f->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(f->router, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(f->router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    int small = 4096; /* so that a client that does not read fills it soon */
    zmq_setsockopt(f->router, ZMQ_SNDBUF, &small, sizeof small);
    f->lim = (struct hub_transport_limits){
        .replies_max = 1000,
        .reply_bytes_max = 1u << 30,
        .conn_replies_max = 4,
        .conn_reply_bytes_max = 1u << 30,
        .account_replies_max = 6,
        .conn_fetches_max = 2,
        .account_fetches_max = 3,
    };
    struct hub_error err;
    if (hub_transport_new(&f->t, &f->loop, f->ctx, f->router, &f->lim, on_gone, f, &err))
        return -1;
    hub_transport_start(f->t);
    if (zmq_bind(f->router, "tcp://127.0.0.1:*") != 0)
        return -1;
    size_t len = sizeof f->ep;
    zmq_getsockopt(f->router, ZMQ_LAST_ENDPOINT, f->ep, &len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hub_transport_close(f->t, on_closed);
    int64_t until = tu_now_ms() + DEADLINE_MS;
    while (!f->closed && tu_now_ms() < until)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_true(f->closed);
    hub_transport_destroy(&f->t);
    assert_null(f->t);
    for (int i = 0; i < f->nclients; i++)
        zmq_close(f->clients[i]);
    zmq_close(f->router);
    zmq_ctx_term(f->ctx);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    assert_int_equal(tu_open_fds(), f->fds);
    free(f);
    return 0;
}

static void *client(struct fx *f, int rcvhwm)
{
    void *s = zmq_socket(f->ctx, ZMQ_DEALER);
    int zero = 0, small = 2048;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    if (rcvhwm) {
        zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm);
        zmq_setsockopt(s, ZMQ_RCVBUF, &small, sizeof small);
    }
    assert_int_equal(zmq_connect(s, f->ep), 0);
    f->clients[f->nclients++] = s;
    return s;
}

/* Send "hi" from s and receive it on the router: the sender's connection.
 * env gets the routing frame (the caller closes it). */
static struct hub_conn *arrive(struct fx *f, void *s, zmq_msg_t *env)
{
    assert_int_equal(zmq_send(s, "hi", 2, 0), 2);
    zmq_pollitem_t it = {f->router, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&it, 1, DEADLINE_MS), 1);
    zmq_msg_t m[2];
    zmq_msg_init(&m[0]);
    zmq_msg_init(&m[1]);
    assert_true(zmq_msg_recv(&m[0], f->router, 0) >= 0);
    assert_true(zmq_msg_recv(&m[1], f->router, 0) >= 0);
    struct hub_conn *c = hub_transport_sender(f->t, m, 2);
    assert_non_null(c);
    zmq_msg_init(env);
    zmq_msg_move(env, &m[0]);
    zmq_msg_close(&m[0]);
    zmq_msg_close(&m[1]);
    return c;
}

/* The connection of routing frame env, found again (fd unknown: -1). */
static struct hub_conn *again(struct fx *f, zmq_msg_t *env)
{
    zmq_msg_t m[2];
    zmq_msg_init(&m[0]);
    zmq_msg_copy(&m[0], env);
    zmq_msg_init_size(&m[1], 0);
    struct hub_conn *c = hub_transport_sender(f->t, m, 2);
    zmq_msg_close(&m[0]);
    zmq_msg_close(&m[1]);
    return c;
}

static void reply(struct fx *f, struct hub_ticket *tk, zmq_msg_t *env, const char *body,
                  size_t len)
{
    zmq_msg_t copy;
    zmq_msg_init(&copy);
    zmq_msg_copy(&copy, env);
    hub_transport_reply(f->t, tk, &copy, 1, body, len);
    zmq_msg_close(&copy);
}

/* A connection at its bound is busy; another connection is not. Settling
 * (the reply) admits it again. */
static void test_per_connection_bound(void **state)
{
    struct fx *f = *state;
    void *a = client(f, 0), *b = client(f, 0);
    zmq_msg_t ea, eb;
    struct hub_conn *ca = arrive(f, a, &ea), *cb = arrive(f, b, &eb);
    assert_ptr_not_equal(ca, cb);
    assert_ptr_equal(again(f, &ea), ca); /* found again */
    struct hub_ticket tk[5], tb;
    struct hub_error e;
    for (int i = 0; i < 4; i++)
        assert_int_equal(hub_transport_admit(f->t, ca, NULL, 0, &tk[i], &e), CSPH_ERR_OK);
    assert_int_equal(hub_transport_admit(f->t, ca, NULL, 0, &tk[4], &e), CSPH_ERR_BUSY);
    assert_non_null(strstr(e.message, "this connection"));
    assert_int_equal(hub_transport_admit(f->t, cb, NULL, 0, &tb, &e), CSPH_ERR_OK);
    reply(f, &tk[0], &ea, "r0", 2);
    assert_int_equal(hub_transport_admit(f->t, ca, NULL, 0, &tk[4], &e), CSPH_ERR_OK);
    for (int i = 1; i < 5; i++)
        hub_transport_settle(f->t, &tk[i]);
    hub_transport_settle(f->t, &tb);
    assert_int_equal(hub_transport_stats(f->t)->busy_client, 1);
    zmq_msg_close(&ea);
    zmq_msg_close(&eb);
}

/* Connections of one account share its bound; an extra key (a person a
 * gateway acts for) has its own; fetches are bounded per connection and
 * per account. */
static void test_accounts(void **state)
{
    struct fx *f = *state;
    void *a = client(f, 0), *b = client(f, 0), *c = client(f, 0);
    zmq_msg_t ea, eb, ec;
    struct hub_conn *ca = arrive(f, a, &ea), *cb = arrive(f, b, &eb), *cc = arrive(f, c, &ec);
    assert_int_equal(hub_transport_set_account(f->t, ca, "police", 6), CSPH_ERR_OK);
    assert_int_equal(hub_transport_set_account(f->t, cb, "police", 6), CSPH_ERR_OK);
    assert_int_equal(hub_transport_set_account(f->t, cc, "council", 7), CSPH_ERR_OK);
    struct hub_ticket tk[8];
    struct hub_error e;
    int n = 0;
    for (int i = 0; i < 3; i++)
        assert_int_equal(hub_transport_admit(f->t, ca, NULL, 0, &tk[n++], &e), CSPH_ERR_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(hub_transport_admit(f->t, cb, NULL, 0, &tk[n++], &e), CSPH_ERR_OK);
    /* police: 6 in hand, its bound; council is not held back by it */
    struct hub_ticket x;
    assert_int_equal(hub_transport_admit(f->t, cb, NULL, 0, &x, &e), CSPH_ERR_BUSY);
    assert_non_null(strstr(e.message, "'police'"));
    assert_int_equal(hub_transport_admit(f->t, cc, "council/P-1", 11, &tk[n++], &e),
                     CSPH_ERR_OK);
    /* fetches: two on one connection, three on one account */
    assert_int_equal(hub_transport_fetch_hold(f->t, &tk[6], &e), CSPH_ERR_OK);
    assert_int_equal(hub_transport_fetch_hold(f->t, &tk[6], &e), CSPH_ERR_OK);
    assert_int_equal(hub_transport_fetch_hold(f->t, &tk[6], &e), CSPH_ERR_BUSY);
    assert_int_equal(hub_transport_fetch_hold(f->t, &tk[0], &e), CSPH_ERR_OK);
    assert_int_equal(hub_transport_fetch_hold(f->t, &tk[1], &e), CSPH_ERR_OK);
    assert_int_equal(hub_transport_fetch_hold(f->t, &tk[3], &e), CSPH_ERR_OK);
    assert_int_equal(hub_transport_fetch_hold(f->t, &tk[4], &e), CSPH_ERR_BUSY);
    hub_transport_fetch_done(f->t, &tk[0]);
    assert_int_equal(hub_transport_fetch_hold(f->t, &tk[4], &e), CSPH_ERR_OK);
    for (int i = 0; i < 7; i++)
        hub_transport_settle(f->t, &tk[i]);
    zmq_msg_close(&ea);
    zmq_msg_close(&eb);
    zmq_msg_close(&ec);
}

/* A client that does not read: its replies wait in order behind a full
 * pipe, retried with a backoff, and all arrive in order once it reads. */
static void test_held_replies_in_order(void **state)
{
    struct fx *f = *state;
    f->lim.conn_replies_max = 100000;
    void *a = client(f, 10);
    zmq_msg_t ea;
    struct hub_conn *ca = arrive(f, a, &ea);
    static char body[4096];
    int n = 400;
    for (int i = 0; i < n; i++) {
        struct hub_ticket tk;
        struct hub_error e;
        assert_int_equal(hub_transport_admit(f->t, ca, NULL, 0, &tk, &e), CSPH_ERR_OK);
        snprintf(body, sizeof body, "%06d", i);
        reply(f, &tk, &ea, body, sizeof body);
    }
    assert_true(hub_transport_conn_held(ca) > 0);
    assert_true(hub_transport_stats(f->t)->replies_held > 0);
    int got = 0;
    int64_t until = tu_now_ms() + DEADLINE_MS;
    while (got < n && tu_now_ms() < until) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        char buf[4096];
        int r;
        while ((r = zmq_recv(a, buf, sizeof buf, ZMQ_DONTWAIT)) >= 0) {
            char want[16];
            snprintf(want, sizeof want, "%06d", got);
            assert_memory_equal(buf, want, 6);
            got++;
        }
    }
    assert_int_equal(got, n);
    assert_int_equal(hub_transport_conn_held(ca), 0);
    assert_int_equal(hub_transport_stats(f->t)->replies_waiting, 0);
    assert_int_equal(hub_transport_stats(f->t)->replies_dropped, 0);
    zmq_msg_close(&ea);
}

/* A connection that closes is reported gone (once) by the monitor; the
 * others are not; a new connection, on whatever fd, is a new record. */
static void test_disconnect_reported(void **state)
{
    struct fx *f = *state;
    void *a = client(f, 0), *b = client(f, 0);
    zmq_msg_t ea, eb, ec;
    struct hub_conn *ca = arrive(f, a, &ea), *cb = arrive(f, b, &eb);
    zmq_close(a);
    f->clients[0] = f->clients[--f->nclients];
    int64_t until = tu_now_ms() + DEADLINE_MS;
    while (!f->ngone && tu_now_ms() < until)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    if (f->ngone != 1)
        fail_msg("gone %d; closed %d accepted %d", f->ngone,
                 (int)hub_transport_stats(f->t)->connections_closed,
                 (int)hub_transport_stats(f->t)->connections_accepted);
    assert_ptr_equal(f->gone[0], ca);
    /* A new client, probably on a's fd: its own record, not gone. */
    void *c = client(f, 0);
    struct hub_conn *cc = arrive(f, c, &ec);
    assert_ptr_equal(again(f, &eb), cb);
    for (int i = 0; i < 50; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    hub_transport_sweep(f->t);
    assert_int_equal(f->ngone, 1);
    assert_ptr_equal(again(f, &ec), cc);
    const struct hub_transport_stats *st = hub_transport_stats(f->t);
    assert_int_equal(st->connections_accepted, 3);
    assert_int_equal(st->connections_closed, 1);
    assert_int_equal(st->connections, 2);
    zmq_msg_close(&ea);
    zmq_msg_close(&eb);
    zmq_msg_close(&ec);
}

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

static void test_raise_fd_limit(void **state)
{
    (void)state;
    uint64_t before, after;
    assert_int_equal(hub_transport_raise_fd_limit(&before, &after), 0);
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    assert_true(after == rl.rlim_max && after >= before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_per_connection_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_accounts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_replies_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disconnect_reported, setup, teardown),
        cmocka_unit_test(test_raise_fd_limit),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
