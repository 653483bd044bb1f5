/* test_hostile.c: clients that misbehave beside clients that do not, against
 * the real daemon over real sockets (issue 13). Each test starts its own hub
 * with limits small enough to reach quickly, runs a hostile client and a
 * normal one, and checks what the normal one's user cares about: answered,
 * never `busy`, every event acknowledged. No sleeps: every wait is for a
 * condition (a counter in `stats`, a reply) with a deadline. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <zmq.h>

#include "testutil.h"
#include "utf8.h"

struct fx {
    struct tu_hub hub;
    char *tmp;
    char data[512];
    char config[600];
};

/* Start a hub with no rules and the given `limits:` lines. */
static void start_hub(struct fx *f, const char *tag, const char *limits, ...)
{
    f->tmp = tu_tmpdir(tag);
    snprintf(f->data, sizeof f->data, "%s/data", f->tmp);
    snprintf(f->config, sizeof f->config, "%s/hub.yaml", f->tmp);
    FILE *c = fopen(f->config, "w");
    assert_non_null(c);
    fprintf(c, "rules_file: none\nlimits:\n%s", limits);
    fclose(c);
    const char *extra[4] = {NULL, NULL, NULL, NULL};
    va_list ap;
    va_start(ap, limits);
    for (int i = 0; i < 4; i++)
        if (!(extra[i] = va_arg(ap, const char *)))
            break;
    va_end(ap);
    if (tu_hub_start(&f->hub, f->data, "--config", f->config, extra[0], extra[1], extra[2],
                     extra[3], NULL) != 0)
        fail_msg("the hub did not start");
}

static void stop_hub(struct fx *f)
{
    assert_int_equal(tu_hub_stop(&f->hub), 0);
    tu_rmrf(f->tmp);
    free(f->tmp);
}

static int64_t stat_of(struct tu_client *c, const char *name)
{
    char path[96];
    snprintf(path, sizeof path, "counters.%s", name);
    msgpack_object r = tu_call(c, "{\"op\":\"stats\"}");
    return tu_int(&r, path);
}

/* Ask `stats` until counter name reaches at least min, for up to
 * deadline_ms. Returns its last value. */
static int64_t wait_stat(struct tu_client *c, const char *name, int64_t min, int deadline_ms)
{
    int64_t until = tu_now_ms() + deadline_ms, v;
    while ((v = stat_of(c, name)) < min && tu_now_ms() < until)
        ;
    return v;
}

/* Whether every string in o (keys included) is valid UTF-8: what a strict
 * decoder demands. */
static int strict_utf8(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        return hub_utf8_bad_at(o->via.str.ptr, o->via.str.size) == o->via.str.size;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < o->via.array.size; i++)
            if (!strict_utf8(&o->via.array.ptr[i]))
                return 0;
        return 1;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (!strict_utf8(&o->via.map.ptr[i].key) || !strict_utf8(&o->via.map.ptr[i].val))
                return 0;
        return 1;
    default:
        return 1;
    }
}

/* A DEALER that sends and never reads, with small buffers so that the
 * hub's pipe to it fills after a few MB. */
static void *non_reader(void *ctx, const char *endpoint)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0, small = 4096, hwm = 100;
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_RCVBUF, &small, sizeof small);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    assert_int_equal(zmq_connect(s, endpoint), 0);
    return s;
}

/* One client stops reading its replies and keeps sending; a normal
 * publisher beside it is never answered busy and every one of its events
 * is acknowledged; the non-reader, when it reads at last, finds `busy`
 * among its replies. (Before: the backlog was one count for the hub, so
 * the publisher was answered busy as long as the non-reader stayed.) */
static void test_non_reader_beside_publisher(void **state)
{
    struct fx f;
    start_hub(&f, "nonreader",
              "  sndhwm: 100\n  rcvhwm: 1000\n  reply_backlog_max: 64\n"
              "  reply_backlog_per_connection: 32\n",
              NULL);
    struct tu_client pub;
    tu_client_open(&pub, f.hub.endpoint, ZMQ_DEALER);
    void *ctx = zmq_ctx_new();
    void *bad = non_reader(ctx, f.hub.endpoint);
    /* stats replies are about 1 KB: the hub's pipe, the kernel's buffers
     * and then its own backlog fill long before this many. */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, "{\"op\":\"stats\"}");
    int64_t until = tu_now_ms() + 30000;
    int sent = 0;
    while (stat_of(&pub, "busy_client") < 1 && tu_now_ms() < until)
        for (int i = 0; i < 2000; i++)
            if (zmq_send(bad, sb.data, sb.size, ZMQ_DONTWAIT) >= 0)
                sent++;
    assert_true(stat_of(&pub, "busy_client") >= 1);
    /* The hub holds the non-reader's backlog now: the publisher goes on. */
    int accepted = 0, busy = 0;
    for (int i = 0; i < 200; i++) {
        char ev[512];
        snprintf(ev, sizeof ev,
                 "{\"op\":\"publish\",\"event\":{\"id\":\"n-%d\",\"type\":\"asb.report\","
                 "\"source\":\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
                 "\"victim\":\"V-%d\",\"location\":{\"lsoa\":\"E01000916\"},"
                 "\"category\":\"personal\"}}",
                 i, i);
        msgpack_object r = tu_call(&pub, "%s", ev);
        if (tu_str(&r, "error.code") && !strcmp(tu_str(&r, "error.code"), "busy"))
            busy++;
        else if (tu_bool(&r, "ok") == 1 && !strcmp(tu_str(&r, "status"), "accepted"))
            accepted++;
        else
            fail_msg("publish %d: %s", i, tu_dump(&r));
        /* Keep the non-reader at its bound meanwhile. */
        for (int k = 0; k < 20; k++)
            zmq_send(bad, sb.data, sb.size, ZMQ_DONTWAIT);
    }
    assert_int_equal(busy, 0);
    assert_int_equal(accepted, 200);
    /* The non-reader reads at last: its replies, `busy` among them. */
    struct tu_client nr = {.ctx = NULL, .sock = bad};
    msgpack_zone_init(&nr.zone, 4096);
    int got = 0, got_busy = 0;
    msgpack_object r;
    while (!got_busy && tu_recv(&nr, 5000, &r) == 0) {
        got++;
        const char *code = tu_str(&r, "error.code");
        got_busy = code && !strcmp(code, "busy");
    }
    msgpack_zone_destroy(&nr.zone);
    if (!got_busy)
        fail_msg("the non-reader read %d of its %d replies and none was busy", got, sent);
    zmq_close(bad);
    zmq_ctx_term(ctx);
    msgpack_sbuffer_destroy(&sb);
    /* Its held replies cost no CPU: the hub answers at once. */
    msgpack_object p = tu_call(&pub, "{\"op\":\"ping\"}");
    assert_int_equal(tu_bool(&p, "ok"), 1);
    tu_client_close(&pub);
    stop_hub(&f);
}

/* A request map with 100,000 keys (900 KB) beside a normal client: the
 * normal client is answered within the harness's 10 s (before, the hub was
 * frozen 17 s checking duplicate keys) and the map gets a precise error. */
static void test_huge_map_beside_client(void **state)
{
    struct fx f;
    start_hub(&f, "hugemap", "  batch_max: 64\n", NULL);
    struct tu_client big, normal;
    tu_client_open(&big, f.hub.endpoint, ZMQ_DEALER);
    tu_client_open(&normal, f.hub.endpoint, ZMQ_DEALER);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 100001);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "op", 2);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "ping", 4);
    for (int i = 0; i < 100000; i++) {
        char k[16];
        int n = snprintf(k, sizeof k, "k%05d", i);
        msgpack_pack_str(&pk, (size_t)n);
        msgpack_pack_str_body(&pk, k, (size_t)n);
        msgpack_pack_uint8(&pk, 1);
    }
    assert_true(sb.size < (1u << 20));
    for (int round = 0; round < 3; round++)
        assert_int_equal(tu_send_raw(&big, sb.data, sb.size), 0);
    msgpack_object r = tu_call(&normal, "{\"op\":\"ping\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    for (int round = 0; round < 3; round++) {
        assert_int_equal(tu_recv(&big, 10000, &r), 0);
        assert_string_equal(tu_str(&r, "error.code"), "bad_request");
        assert_string_equal(tu_str(&r, "error.field"), "k00000");
    }
    /* The same map with one key 100,000 times: the duplicate, named. */
    sb.size = 0;
    msgpack_pack_map(&pk, 100001);
    msgpack_pack_str(&pk, 2);
    msgpack_pack_str_body(&pk, "op", 2);
    msgpack_pack_str(&pk, 4);
    msgpack_pack_str_body(&pk, "ping", 4);
    for (int i = 0; i < 100000; i++) {
        msgpack_pack_str(&pk, 3);
        msgpack_pack_str_body(&pk, "max", 3);
        msgpack_pack_uint8(&pk, 1);
    }
    r = tu_call_raw(&big, sb.data, sb.size);
    assert_string_equal(tu_str(&r, "error.code"), "bad_request");
    assert_string_equal(tu_str(&r, "error.field"), "max");
    assert_non_null(strstr(tu_str(&r, "error.message"), "twice"));
    msgpack_sbuffer_destroy(&sb);
    tu_client_close(&big);
    tu_client_close(&normal);
    stop_hub(&f);
}

/* A client holds every fetch slot and disconnects: its slots are released
 * (stats.fetches_released) and another client's held fetch is then held,
 * not answered busy. (Before: busy for the 30 s the fetches waited.) */
static void test_disconnected_fetches_released(void **state)
{
    struct fx f;
    start_hub(&f, "fetchgone", "  fetch_held_max: 8\n  fetch_held_per_connection: 8\n", NULL);
    struct tu_client holder, other;
    tu_client_open(&holder, f.hub.endpoint, ZMQ_DEALER);
    tu_client_open(&other, f.hub.endpoint, ZMQ_DEALER);
    for (int i = 0; i < 8; i++)
        assert_int_equal(tu_send(&holder,
                                 "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"c%d\","
                                 "\"wait_ms\":30000}",
                                 i),
                         0);
    assert_int_equal(wait_stat(&other, "fetches_held", 8, 10000), 8);
    /* Every slot taken: the other client is refused... */
    msgpack_object r = tu_call(&other, "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"o\","
                                       "\"wait_ms\":100}");
    assert_string_equal(tu_str(&r, "error.code"), "busy");
    /* ...until the holder goes. */
    tu_client_close(&holder);
    assert_int_equal(wait_stat(&other, "fetches_released", 8, 10000), 8);
    int64_t t0 = tu_now_ms();
    r = tu_call(&other, "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"o\","
                        "\"wait_ms\":200}");
    if (tu_bool(&r, "ok") != 1)
        fail_msg("the fetch after the holder left: %s", tu_dump(&r));
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 0);
    assert_true(tu_now_ms() - t0 >= 150); /* it was held, then answered empty */
    tu_client_close(&other);
    stop_hub(&f);
}

/* Requests carrying invalid UTF-8 where the hub quotes them in its error
 * (op, a field name, an event's fields, req): every reply is valid
 * MessagePack whose strings are all valid UTF-8. */
static void test_invalid_utf8_replies(void **state)
{
    struct fx f;
    start_hub(&f, "utf8", "  batch_max: 64\n", NULL);
    struct tu_client c;
    tu_client_open(&c, f.hub.endpoint, ZMQ_DEALER);
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } cases[] = {
#define C(what, lit) {what, lit, sizeof lit - 1}
        /* {op: "\xff\xfe"} */
        C("op", "\x81\xa2op\xa2\xff\xfe"),
        /* {op: "ping", "\xc3(": 1} */
        C("field name", "\x82\xa2op\xa4ping\xa2\xc3\x28\x01"),
        /* {op: "ping", req: "\xff"} */
        C("req", "\x82\xa2op\xa4ping\xa3req\xa1\xff"),
        /* {op: "ping", req: {a: 1}} */
        C("map req", "\x82\xa2op\xa4ping\xa3req\x81\xa1\x61\x01"),
        /* {op: "ping", req: ext} */
        C("ext req", "\x82\xa2op\xa4ping\xa3req\xd4\x01\x2a"),
        /* {op: "publish", event: {type: "\xed\xa0\x80"}} (a surrogate) */
        C("event type", "\x82\xa2op\xa7publish\xa5\x65vent\x81\xa4type\xa3\xed\xa0\x80"),
        /* {op: "publish", event: {type: "asb.report", "\xf8x": 1}} */
        C("event field", "\x82\xa2op\xa7publish\xa5\x65vent\x82\xa4type\xaa\x61sb.report"
                         "\xa2\xf8x\x01"),
        /* {op: "replay", person: "\xe2\x82"} (cut inside a character) */
        C("person", "\x82\xa2op\xa6replay\xa6person\xa2\xe2\x82"),
#undef C
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        msgpack_object r = tu_call_raw(&c, cases[i].bytes, cases[i].len);
        if (tu_bool(&r, "ok") != 0)
            fail_msg("%s: not refused: %s", cases[i].what, tu_dump(&r));
        if (!strict_utf8(&r))
            fail_msg("%s: the reply has a string that is not UTF-8", cases[i].what);
        if (i >= 2 && i <= 4 && tu_get(&r, "req"))
            fail_msg("%s: echoed although the notes promise no echo", cases[i].what);
    }
    /* The kept rejection is listed by `rejects` as valid UTF-8 too. */
    msgpack_object r = tu_call(&c, "{\"op\":\"rejects\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_true(tu_get(&r, "rejects")->via.array.size >= 1);
    assert_true(strict_utf8(&r));
    tu_client_close(&c);
    stop_hub(&f);
}

/* tcp://[::1]:PORT and tcp://localhost:PORT bind in `none` mode (loopback)
 * and answer; localhost on both 127.0.0.1 and ::1. */
static void test_ipv6_and_localhost(void **state)
{
    struct fx f;
    char v6[64], lh[64], lh4[64], lh6[64];
    int p6 = tu_free_port(), plh = tu_free_port();
    while (plh == p6)
        plh = tu_free_port();
    snprintf(v6, sizeof v6, "tcp://[::1]:%d", p6);
    snprintf(lh, sizeof lh, "tcp://localhost:%d", plh);
    snprintf(lh4, sizeof lh4, "tcp://127.0.0.1:%d", plh);
    snprintf(lh6, sizeof lh6, "tcp://[::1]:%d", plh);
    start_hub(&f, "ipv6", "  batch_max: 64\n", "--listen", v6, "--listen", lh, NULL);
    const char *eps[] = {v6, lh4, lh6, lh};
    for (size_t i = 0; i < 4; i++) {
        struct tu_client c;
        tu_client_open(&c, eps[i], ZMQ_DEALER);
        msgpack_object r = tu_call(&c, "{\"op\":\"ping\"}");
        if (tu_bool(&r, "ok") != 1)
            fail_msg("%s: %s", eps[i], tu_dump(&r));
        tu_client_close(&c);
    }
    stop_hub(&f);
    /* Loopback only: the same in curve mode is another test's; `none` on
     * an IPv6 address that is not loopback is still refused. */
    char out[4096];
    int rc = tu_hub_run_ms(out, sizeof out, 10000, "--check-config", "--listen",
                           "tcp://[::2]:7450", NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "refusing security 'none'"));
}

/* The hub runs with a low descriptor limit. Clients beyond what it can
 * hold are refused visibly (a log line, stats.connections_refused) and
 * the clients it holds are still served. */
static void low_fd_limit(const char *limits)
{
    struct fx f;
    tu_hub_nofile = 96;
    start_hub(&f, "nofile", limits, NULL);
    tu_hub_nofile = 0;
    struct tu_client first;
    tu_client_open(&first, f.hub.endpoint, ZMQ_DEALER);
    msgpack_object r = tu_call(&first, "{\"op\":\"stats\"}");
    int64_t room = tu_int(&r, "counters.connections_max");
    assert_true(room > 0);
    if (!strstr(limits, "connections_max"))
        assert_true(room < 96); /* from the descriptor limit */
    /* More clients than it can hold, on one context. */
    void *ctx = zmq_ctx_new();
    int n = 120;
    void **s = calloc((size_t)n, sizeof *s);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, "{\"op\":\"ping\"}");
    for (int i = 0; i < n; i++) {
        int zero = 0;
        s[i] = zmq_socket(ctx, ZMQ_DEALER);
        zmq_setsockopt(s[i], ZMQ_LINGER, &zero, sizeof zero);
        zmq_connect(s[i], f.hub.endpoint);
        zmq_send(s[i], sb.data, sb.size, ZMQ_DONTWAIT);
    }
    int64_t refused = wait_stat(&first, "connections_refused", 1, 15000);
    assert_true(refused >= 1);
    /* The clients it holds are served: the first, and a ping through each
     * socket that got its answer. */
    r = tu_call(&first, "{\"op\":\"ping\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    zmq_pollitem_t *items = calloc((size_t)n, sizeof *items);
    for (int i = 0; i < n; i++)
        items[i] = (zmq_pollitem_t){s[i], 0, ZMQ_POLLIN, 0};
    int answered = zmq_poll(items, n, 10000);
    free(items);
    assert_true(answered >= 1);
    r = tu_call(&first, "{\"op\":\"stats\"}");
    assert_true(tu_int(&r, "counters.connections") <= tu_int(&r, "counters.connections_max"));
    for (int i = 0; i < n; i++)
        zmq_close(s[i]);
    free(s);
    zmq_ctx_term(ctx);
    msgpack_sbuffer_destroy(&sb);
    tu_client_close(&first);
    /* The refusal is in the log, with what to do. */
    FILE *lf = fopen(f.hub.log, "r");
    if (!lf)
        fail_msg("%s: %s (%d descriptors open)", f.hub.log, strerror(errno), tu_open_fds());
    char line[2048];
    int logged = 0, room_logged = 0;
    while (fgets(line, sizeof line, lf)) {
        logged |= strstr(line, "refused") && strstr(line, "new connection") &&
                  strstr(line, "file-descriptor limit");
        room_logged |= strstr(line, "room for") && strstr(line, "client connections");
    }
    fclose(lf);
    assert_true(logged);
    assert_true(room_logged);
    stop_hub(&f);
}

static void test_low_fd_limit(void **state)
{
    low_fd_limit("  batch_max: 64\n");
}

/* With the connection bound set past what the descriptors allow, the
 * hub meets EMFILE itself (where libzmq's listener would retry accept()
 * for ever): it still refuses visibly and serves the others. */
static void test_low_fd_limit_emfile(void **state)
{
    low_fd_limit("  batch_max: 64\n  connections_max: 100000\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_non_reader_beside_publisher),
        cmocka_unit_test(test_huge_map_beside_client),
        cmocka_unit_test(test_disconnected_fetches_released),
        cmocka_unit_test(test_invalid_utf8_replies),
        cmocka_unit_test(test_ipv6_and_localhost),
        cmocka_unit_test(test_low_fd_limit),
        cmocka_unit_test(test_low_fd_limit_emfile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
