/* The client library (include/csphub.h) against the real daemon: publish
 * with a window, results, resends across a hub restart in the middle of a
 * window, synchronous requests in MessagePack and JSON. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "csphub.h"

#include <msgpack.h>
#include <zmq.h>

#define N 3000

struct fx {
    char *dir;
    char data[600];
    char config[600]; /* no rules: the log holds only what the tests send */
    struct tu_hub hub;
    /* per token: 0 no result yet, 1 accepted, 2 duplicate, 3 rejected */
    int result[N + 10];
    uint64_t seq[N + 10];
    int results;
    char last_code[64], last_field[160];
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir("client");
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->config, sizeof f->config, "%s/log-only.yaml", f->dir);
    FILE *cf = fopen(f->config, "w");
    assert_non_null(cf);
    fputs("rules_file: none\n", cf);
    fclose(cf);
    assert_int_equal(tu_hub_start(&f->hub, f->data, "--config", f->config, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->hub.pid > 0)
        assert_int_equal(tu_hub_stop(&f->hub), 0);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void on_result(void *ctx, const struct csph_result *r)
{
    struct fx *f = ctx;
    if (r->token >= N + 10)
        fail_msg("result for an unknown token %llu", (unsigned long long)r->token);
    if (f->result[r->token])
        fail_msg("two results for token %llu", (unsigned long long)r->token);
    f->results++;
    f->seq[r->token] = r->seq;
    if (!strcmp(r->status, "accepted"))
        f->result[r->token] = 1;
    else if (!strcmp(r->status, "duplicate"))
        f->result[r->token] = 2;
    else {
        f->result[r->token] = 3;
        snprintf(f->last_code, sizeof f->last_code, "%s", r->code);
        snprintf(f->last_field, sizeof f->last_field, "%s", r->field);
    }
}

static void event_json(char *buf, size_t n, int i)
{
    snprintf(buf, n,
             "{\"id\":\"cl-%d\",\"type\":\"call\",\"source\":\"contact-centre\","
             "\"occurred_at\":\"2025-04-%02dT10:%02d:00Z\",\"caller\":\"P-%05d\","
             "\"category\":\"%s\"}",
             i, 1 + i % 28, i % 60, i % 700, i % 3 ? "welfare" : "other");
}

static csph_client *open_client(struct fx *f, int window, int batch)
{
    csph_client *c;
    char err[256];
    struct csph_client_options o = {.window = window, .batch = batch, .resend_ms = 1000};
    if (csph_client_open(&c, f->hub.endpoint, &o, err, sizeof err))
        fail_msg("open: %s", err);
    csph_client_on_result(c, on_result, f);
    return c;
}

static void publish_all(struct fx *f, csph_client *c, int from, int to)
{
    char ev[512];
    for (int i = from; i < to; i++) {
        event_json(ev, sizeof ev, i);
        if (csph_client_publish_json(c, ev, strlen(ev), (uint64_t)i))
            fail_msg("publish %d: %s", i, csph_client_error(c));
    }
}

static void test_window_then_duplicates(void **state)
{
    struct fx *f = *state;
    csph_client *c = open_client(f, 200, 1);
    publish_all(f, c, 0, N);
    assert_int_equal(csph_client_flush(c, 60000), 0);
    assert_int_equal(csph_client_pending(c), 0);
    for (int i = 0; i < N; i++)
        assert_int_equal(f->result[i], 1);
    csph_client_close(&c);
    /* the same events again, batched 50 a request: all duplicates, same seqs */
    uint64_t seqs[N];
    memcpy(seqs, f->seq, sizeof seqs);
    memset(f->result, 0, sizeof f->result);
    c = open_client(f, 20, 50);
    publish_all(f, c, 0, N);
    assert_int_equal(csph_client_flush(c, 60000), 0);
    for (int i = 0; i < N; i++) {
        assert_int_equal(f->result[i], 2);
        assert_int_equal(f->seq[i], seqs[i]);
    }
    csph_client_close(&c);
    assert_null(c);
}

static void test_rejection_and_bad_json(void **state)
{
    struct fx *f = *state;
    csph_client *c = open_client(f, 10, 1);
    const char *bad = "{\"id\":\"b1\",\"type\":\"call\",\"source\":\"x\",\"occurred_at\":"
                      "\"2025-04-01T10:00:00Z\",\"caller\":\"P 1\",\"category\":\"asb\"}";
    assert_int_equal(csph_client_publish_json(c, bad, strlen(bad), 7), 0);
    assert_int_equal(csph_client_flush(c, 10000), 0);
    assert_int_equal(f->result[7], 3);
    assert_string_equal(f->last_code, "bad_event");
    assert_string_equal(f->last_field, "caller");
    assert_int_equal(csph_client_publish_json(c, "{not json", 9, 8), -1);
    assert_non_null(strstr(csph_client_error(c), "JSON"));
    assert_int_equal(csph_client_publish_json(c, "[1,2]", 5, 8), -1);
    csph_client_close(&c);
}

static void test_requests_json_and_msgpack(void **state)
{
    struct fx *f = *state;
    csph_client *c = open_client(f, 10, 1);
    const char *reply;
    assert_int_equal(csph_client_request_json(c, "{\"op\":\"ping\"}", 5000, &reply), 0);
    assert_non_null(strstr(reply, "\"ok\": true") ? reply : strstr(reply, "\"ok\":true"));
    assert_non_null(strstr(reply, "CSPH/1"));
    publish_all(f, c, 0, 5);
    assert_int_equal(csph_client_flush(c, 10000), 0);
    assert_int_equal(csph_client_request_json(c, "{\"op\":\"replay\",\"max\":2}", 5000, &reply), 0);
    assert_non_null(strstr(reply, "\"cl-1\""));
    assert_null(strstr(reply, "\"cl-2\""));
    /* a rejection's bytes come back as base64 */
    const char *bad = "{\"id\":\"b1\",\"type\":\"call\",\"source\":\"x\",\"occurred_at\":\"2025\","
                      "\"caller\":\"P1\",\"category\":\"asb\"}";
    csph_client_publish_json(c, bad, strlen(bad), 9);
    csph_client_flush(c, 10000);
    assert_int_equal(csph_client_request_json(c, "{\"op\":\"rejects\"}", 5000, &reply), 0);
    assert_non_null(strstr(reply, "\"base64\""));
    /* MessagePack request */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, "{\"op\":\"stats\"}");
    const void *rep;
    size_t len;
    assert_int_equal(csph_client_request(c, sb.data, sb.size, 5000, &rep, &len), 0);
    msgpack_sbuffer_destroy(&sb);
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    msgpack_zone_init(&z, 1024);
    assert_int_equal(msgpack_unpack(rep, len, &off, &z, &o), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(tu_int(&o, "counters.accepted"), 5);
    msgpack_zone_destroy(&z);
    csph_client_close(&c);
}

static void test_hub_restart_mid_window(void **state)
{
    struct fx *f = *state;
    csph_client *c = open_client(f, 300, 1);
    publish_all(f, c, 0, N / 2);
    /* kill the hub with a window in flight, then bring it back: what was
     * in flight is resent, and the rest goes on */
    assert_true(csph_client_pending(c) > 0);
    tu_hub_kill9(&f->hub);
    assert_int_equal(tu_hub_restart(&f->hub, "--config", f->config, NULL), 0);
    publish_all(f, c, N / 2, N);
    assert_int_equal(csph_client_flush(c, 60000), 0);
    for (int i = 0; i < N; i++)
        if (f->result[i] != 1 && f->result[i] != 2)
            fail_msg("event %d has result %d", i, f->result[i]);
    /* the log holds every event exactly once */
    const char *reply;
    assert_int_equal(csph_client_request_json(c, "{\"op\":\"ping\"}", 5000, &reply), 0);
    char want[64];
    snprintf(want, sizeof want, "\"last_seq\": %d", N);
    if (!strstr(reply, want)) {
        snprintf(want, sizeof want, "\"last_seq\":%d", N);
        if (!strstr(reply, want))
            fail_msg("after the restart the log should hold %d events: %s", N, reply);
    }
    csph_client_close(&c);
}

static void test_unreachable_hub_gives_up(void **state)
{
    struct fx *f = *state;
    tu_hub_stop(&f->hub);
    csph_client *c;
    char err[256];
    struct csph_client_options o = {.window = 2, .give_up_ms = 500};
    assert_int_equal(csph_client_open(&c, f->hub.endpoint, &o, err, sizeof err), 0);
    const char *reply;
    assert_int_equal(csph_client_request_json(c, "{\"op\":\"ping\"}", 300, &reply), -1);
    assert_non_null(strstr(csph_client_error(c), "no reply"));
    csph_client_close(&c);
    assert_int_equal(csph_client_open(&c, "nonsense://x", &o, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot connect"));
}

/* A hub that answers only ping, on a thread: it counts the requests of
 * each op it receives and never answers the others. */
struct silent_hub {
    void *ctx, *sock;
    char endpoint[128];
    int pings, creates, alerts;
    int stop;
};

static const msgpack_object *map_get(const msgpack_object *m, const char *k)
{
    if (m->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t i = 0; i < m->via.map.size; i++) {
        const msgpack_object *key = &m->via.map.ptr[i].key;
        if (key->type == MSGPACK_OBJECT_STR && key->via.str.size == strlen(k) &&
            !memcmp(key->via.str.ptr, k, key->via.str.size))
            return &m->via.map.ptr[i].val;
    }
    return NULL;
}

static void *silent_hub_run(void *arg)
{
    struct silent_hub *h = arg;
    while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
        zmq_pollitem_t it = {h->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 20) <= 0)
            continue;
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        zmq_msg_recv(&id, h->sock, 0);
        zmq_msg_recv(&body, h->sock, 0);
        while (zmq_msg_more(&body)) { /* the last frame is the request */
            zmq_msg_close(&body);
            zmq_msg_init(&body);
            zmq_msg_recv(&body, h->sock, 0);
        }
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        if (msgpack_unpack_next(&u, zmq_msg_data(&body), zmq_msg_size(&body), NULL) ==
            MSGPACK_UNPACK_SUCCESS) {
            const msgpack_object *op = map_get(&u.data, "op"), *req = map_get(&u.data, "req");
            size_t n = op && op->type == MSGPACK_OBJECT_STR ? op->via.str.size : 0;
            const char *s = n ? op->via.str.ptr : "";
            if (n == 4 && !memcmp(s, "ping", 4) && req) {
                __atomic_add_fetch(&h->pings, 1, __ATOMIC_RELEASE);
                msgpack_sbuffer sb;
                msgpack_sbuffer_init(&sb);
                msgpack_packer pk;
                msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
                msgpack_pack_map(&pk, 2);
                msgpack_pack_str_with_body(&pk, "req", 3);
                msgpack_pack_uint64(&pk, req->via.u64);
                msgpack_pack_str_with_body(&pk, "ok", 2);
                msgpack_pack_true(&pk);
                zmq_send(h->sock, zmq_msg_data(&id), zmq_msg_size(&id), ZMQ_SNDMORE);
                zmq_send(h->sock, sb.data, sb.size, 0);
                msgpack_sbuffer_destroy(&sb);
            } else if (n == 13 && !memcmp(s, "action.create", 13)) {
                __atomic_add_fetch(&h->creates, 1, __ATOMIC_RELEASE);
            } else if (n == 6 && !memcmp(s, "alerts", 6)) {
                __atomic_add_fetch(&h->alerts, 1, __ATOMIC_RELEASE);
            }
        }
        msgpack_unpacked_destroy(&u);
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
    return NULL;
}

/* An unanswered request is sent again only when a repeat cannot change
 * what it does: a read is, a write such as action.create never is (two
 * requests would be two actions). The ping after each proves, by ZeroMQ's
 * order on one connection, that every earlier send has arrived. */
static void test_only_safe_requests_are_resent(void **state)
{
    (void)state;
    struct silent_hub h = {0};
    h.ctx = zmq_ctx_new();
    h.sock = zmq_socket(h.ctx, ZMQ_ROUTER);
    assert_int_equal(zmq_bind(h.sock, "tcp://127.0.0.1:*"), 0);
    size_t len = sizeof h.endpoint;
    assert_int_equal(zmq_getsockopt(h.sock, ZMQ_LAST_ENDPOINT, h.endpoint, &len), 0);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, silent_hub_run, &h), 0);

    csph_client *c;
    char err[256];
    struct csph_client_options o = {.window = 2, .resend_ms = 100};
    assert_int_equal(csph_client_open(&c, h.endpoint, &o, err, sizeof err), 0);
    const char *reply;
    if (csph_client_request_json(c, "{\"op\":\"ping\"}", 5000, &reply))
        fail_msg("ping: %s", csph_client_error(c));
    assert_int_equal(csph_client_request_json(
                         c, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-1\"}", 700,
                         &reply),
                     -1);
    assert_non_null(strstr(csph_client_error(c), "no reply"));
    assert_int_equal(csph_client_request_json(c, "{\"op\":\"ping\"}", 5000, &reply), 0);
    assert_int_equal(__atomic_load_n(&h.creates, __ATOMIC_ACQUIRE), 1); /* sent once */
    assert_int_equal(csph_client_request_json(c, "{\"op\":\"alerts\",\"panel\":\"marac\"}", 700,
                                              &reply),
                     -1);
    assert_int_equal(csph_client_request_json(c, "{\"op\":\"ping\"}", 5000, &reply), 0);
    assert_true(__atomic_load_n(&h.alerts, __ATOMIC_ACQUIRE) >= 2); /* a read: resent */
    csph_client_close(&c);

    __atomic_store_n(&h.stop, 1, __ATOMIC_RELEASE);
    pthread_join(th, NULL);
    zmq_close(h.sock);
    zmq_ctx_term(h.ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_window_then_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejection_and_bad_json, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests_json_and_msgpack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_restart_mid_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_hub_gives_up, setup, teardown),
        cmocka_unit_test(test_only_safe_requests_are_resent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
