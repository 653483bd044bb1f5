/* test_listen.c: the hub's listening socket (hub/listen.c) without the
 * daemon: a private loop and ZeroMQ clients. In security none, a message
 * sent to tcp://localhost:P arrives; an endpoint that cannot be bound is
 * refused naming it. In security curve, a client whose key is listed gets
 * through with its identity's name as User-Id, one whose key is not is
 * refused by the ZAP handler and counted. No sleeps: the loop is stepped
 * until a condition holds, within a deadline. Teardown proves the loop
 * closed and no descriptor was left open. */
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

#include "csphub.h"
#include "listen.h"
#include "log.h"
#include "testutil.h"

struct fx {
    char *dir;
    int fds;
    uv_loop_t loop;
    struct hub_config cfg;
    struct hub_identities ids;
    struct hub_identity ident[1];
    struct hub_listener l;
    uint64_t refused;
    char client_pub[41], client_sec[41], other_pub[41], other_sec[41], server_pub[41];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    hub_log_min = CSPH_LOG_ERROR;
    f->fds = tu_open_fds();
    f->dir = tu_tmpdir("listen");
    assert_int_equal(uv_loop_init(&f->loop), 0);
    hub_config_defaults(&f->cfg);
    f->cfg.nlisten = 1;
    snprintf(f->cfg.listen[0], sizeof f->cfg.listen[0], "tcp://localhost:%d", tu_free_port());
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hub_listen_stop(&f->l);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* the ZAP zsock's handles close */
    hub_listen_close(&f->l);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    tu_rmrf(f->dir);
    free(f->dir);
    assert_int_equal(tu_open_fds(), f->fds);
    free(f);
    return 0;
}

/* A DEALER to the listener's port on 127.0.0.1; curve: with pub/sec
 * against the server's key. */
static void *client(void *ctx, struct fx *f, const char *pub, const char *sec)
{
    void *c = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(c, ZMQ_LINGER, &linger, sizeof linger);
    if (pub) {
        zmq_setsockopt(c, ZMQ_CURVE_SERVERKEY, f->server_pub, 40);
        zmq_setsockopt(c, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt(c, ZMQ_CURVE_SECRETKEY, sec, 40);
    }
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%s", f->cfg.listen[0] + 16);
    assert_int_equal(zmq_connect(c, ep), 0);
    assert_int_equal(zmq_send(c, "hello", 5, ZMQ_DONTWAIT), 5);
    return c;
}

/* Step the loop until the ROUTER has a message (1; *uid its User-Id, ""
 * when none) or until timeout_ms pass (0). */
static int router_got(struct fx *f, int timeout_ms, char *uid, size_t n)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        zmq_pollitem_t it = {f->l.router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 5) == 1) {
            zmq_msg_t m;
            int more = 1, got = 0;
            uid[0] = 0;
            while (more) {
                zmq_msg_init(&m);
                assert_true(zmq_msg_recv(&m, f->l.router, 0) >= 0);
                const char *u = zmq_msg_gets(&m, "User-Id");
                if (u)
                    snprintf(uid, n, "%s", u);
                more = zmq_msg_more(&m);
                got |= !more && zmq_msg_size(&m) == 5;
                zmq_msg_close(&m);
            }
            return got;
        }
    }
    return 0;
}

static void test_none_localhost(void **state)
{
    struct fx *f = *state;
    struct hub_error err;
    assert_int_equal(hub_listen_open(&f->l, &f->cfg, &f->ids, &f->refused, &err), CSPH_ERR_OK);
    assert_null(f->l.zap); /* security none: no ZAP handler */
    assert_int_equal(hub_listen_bind(&f->l, &f->cfg, &err), CSPH_ERR_OK);
    hub_listen_start(&f->l, &f->loop);
    void *ctx = zmq_ctx_new();
    void *c = client(ctx, f, NULL, NULL);
    char uid[80];
    assert_int_equal(router_got(f, 10000, uid, sizeof uid), 1);
    assert_string_equal(uid, "");
    zmq_close(c);
    zmq_ctx_term(ctx);
}

static void test_bind_refused(void **state)
{
    struct fx *f = *state;
    struct hub_error err;
    f->cfg.nlisten = 2;
    snprintf(f->cfg.listen[1], sizeof f->cfg.listen[1], "tcp://192.0.2.1:1");
    assert_int_equal(hub_listen_open(&f->l, &f->cfg, &f->ids, &f->refused, &err), CSPH_ERR_OK);
    assert_int_equal(hub_listen_bind(&f->l, &f->cfg, &err), CSPH_ERR_CONFIG);
    assert_string_equal(err.field, "listen");
    assert_non_null(strstr(err.message, "cannot listen on tcp://192.0.2.1:1"));
}

static void test_curve(void **state)
{
    struct fx *f = *state;
    struct hub_error err;
    char msg[256], path[700];
    assert_int_equal(csph_keygen(f->dir, "hub", f->server_pub, msg, sizeof msg), 0);
    assert_int_equal(csph_keygen(f->dir, "police", f->client_pub, msg, sizeof msg), 0);
    assert_int_equal(csph_keygen(f->dir, "stranger", f->other_pub, msg, sizeof msg), 0);
    snprintf(path, sizeof path, "%s/police.key", f->dir);
    assert_int_equal(csph_key_file_read(path, f->client_pub, f->client_sec, msg, sizeof msg), 0);
    snprintf(path, sizeof path, "%s/stranger.key", f->dir);
    assert_int_equal(csph_key_file_read(path, f->other_pub, f->other_sec, msg, sizeof msg), 0);
    f->cfg.security = CSPH_SECURITY_CURVE;
    snprintf(f->cfg.server_key_file, sizeof f->cfg.server_key_file, "%s/hub.pub", f->dir);
    /* The public half only: refused, naming the setting. */
    assert_int_equal(hub_listen_open(&f->l, &f->cfg, &f->ids, &f->refused, &err),
                     CSPH_ERR_CONFIG);
    assert_string_equal(err.field, "server_key_file");
    assert_non_null(strstr(err.message, "holds no secret key"));
    hub_listen_close(&f->l);
    snprintf(f->cfg.server_key_file, sizeof f->cfg.server_key_file, "%s/hub.key", f->dir);
    snprintf(f->ident[0].name, sizeof f->ident[0].name, "police");
    f->ident[0].role = CSPH_ROLE_AGENCY;
    assert_non_null(zmq_z85_decode(f->ident[0].public_key, f->client_pub));
    f->ids = (struct hub_identities){.v = f->ident, .n = 1};
    assert_int_equal(hub_listen_open(&f->l, &f->cfg, &f->ids, &f->refused, &err), CSPH_ERR_OK);
    assert_non_null(f->l.zap);
    assert_int_equal(hub_listen_bind(&f->l, &f->cfg, &err), CSPH_ERR_OK);
    hub_listen_start(&f->l, &f->loop);
    void *ctx = zmq_ctx_new();
    void *ok = client(ctx, f, f->client_pub, f->client_sec);
    char uid[80];
    assert_int_equal(router_got(f, 10000, uid, sizeof uid), 1);
    assert_string_equal(uid, "police");
    assert_int_equal(f->refused, 0);
    void *bad = client(ctx, f, f->other_pub, f->other_sec);
    int64_t deadline = tu_now_ms() + 10000;
    while (f->refused == 0 && tu_now_ms() < deadline)
        assert_int_equal(router_got(f, 20, uid, sizeof uid), 0); /* nothing gets through */
    assert_int_equal(f->refused, 1);
    zmq_close(ok);
    zmq_close(bad);
    zmq_ctx_term(ctx);
}

/* Warm up once (ZeroMQ's and libsodium's first use keep descriptors for
 * the process) so that each test's descriptor count sees only its own. */
static int group_setup(void **state)
{
    struct fx *f;
    if (setup((void **)&f))
        return -1;
    *state = f;
    test_none_localhost(state);
    char msg[256], pub[41];
    csph_keygen(f->dir, "warm", pub, msg, sizeof msg);
    hub_listen_stop(&f->l);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    hub_listen_close(&f->l);
    uv_loop_close(&f->loop);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    *state = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_none_localhost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bind_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_curve, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
