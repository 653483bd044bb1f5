/* test_wire.c: CSPH/1 request decoding and reply packing (hub/wire.c).
 * Requests are built byte by byte where the encoding matters (a request's
 * `req` and events must come back exactly as sent). Each test has its own
 * zone and buffer, destroyed in teardown (LeakSanitizer checks the rest). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "mpx.h"
#include "testutil.h"
#include "utf8.h"
#include "wire.h"

#define EVENTS_MAX 1000

struct fx {
    msgpack_zone zone;
    msgpack_sbuffer sb;  /* the request being built */
    msgpack_packer pk;
    msgpack_sbuffer out; /* a reply */
    msgpack_packer opk;
    msgpack_zone rzone;  /* the unpacked reply */
    struct hub_request r;
    struct hub_error err;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    msgpack_zone_init(&f->zone, 4096);
    msgpack_zone_init(&f->rzone, 4096);
    msgpack_sbuffer_init(&f->sb);
    msgpack_packer_init(&f->pk, &f->sb, msgpack_sbuffer_write);
    msgpack_sbuffer_init(&f->out);
    msgpack_packer_init(&f->opk, &f->out, msgpack_sbuffer_write);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    msgpack_zone_destroy(&f->zone);
    msgpack_zone_destroy(&f->rzone);
    msgpack_sbuffer_destroy(&f->sb);
    msgpack_sbuffer_destroy(&f->out);
    free(f);
    return 0;
}

/* ---- building requests ---- */

static void raw(struct fx *f, const void *b, size_t n)
{
    if (n)
        msgpack_sbuffer_write(&f->sb, b, n);
}
static void rawb(struct fx *f, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        unsigned char c = (unsigned char)va_arg(ap, int);
        raw(f, &c, 1);
    }
    va_end(ap);
}
static void str(struct fx *f, const char *s)
{
    msgpack_pack_str(&f->pk, strlen(s));
    msgpack_pack_str_body(&f->pk, s, strlen(s));
}
static void reset(struct fx *f)
{
    msgpack_sbuffer_clear(&f->sb);
    msgpack_zone_clear(&f->zone);
}

static enum hub_err decode(struct fx *f)
{
    memset(&f->err, 0, sizeof f->err);
    return hub_wire_decode(f->sb.data, f->sb.size, &f->zone, EVENTS_MAX, &f->r, &f->err);
}

static enum hub_err decode_json(struct fx *f, const char *json)
{
    reset(f);
    tu_json_to_mp(&f->sb, json);
    return decode(f);
}

/* Decode and expect the error code; the message must name want (when not
 * NULL) and field must be want_field (when not NULL; "" for none). */
static void expect_err(struct fx *f, enum hub_err code, const char *want, const char *want_field)
{
    enum hub_err rc = decode(f);
    if (rc != code)
        fail_msg("decode: %s (%s), want %s", hub_err_name(rc), f->err.message,
                 hub_err_name(code));
    assert_int_equal(f->err.code, code);
    assert_true(strlen(f->err.message) > 0);
    if (want && !strstr(f->err.message, want))
        fail_msg("message '%s' does not name '%s'", f->err.message, want);
    if (want_field && strcmp(f->err.field, want_field) != 0)
        fail_msg("field '%s', want '%s' (message: %s)", f->err.field, want_field, f->err.message);
}

static void expect_json_err(struct fx *f, const char *json, enum hub_err code, const char *want,
                            const char *want_field)
{
    reset(f);
    tu_json_to_mp(&f->sb, json);
    expect_err(f, code, want, want_field);
}

/* Unpack the reply in f->out, which must be exactly one object. */
static msgpack_object reply(struct fx *f)
{
    msgpack_object o;
    size_t off = 0;
    msgpack_zone_clear(&f->rzone);
    msgpack_unpack_return r = msgpack_unpack(f->out.data, f->out.size, &off, &f->rzone, &o);
    if (r != MSGPACK_UNPACK_SUCCESS)
        fail_msg("the reply is not exactly one MessagePack object (%d, %zu of %zu bytes)", r, off,
                 f->out.size);
    assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
    return o;
}

/* ---- valid requests ---- */

static void test_each_op(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *json;
        enum hub_op op;
    } cases[] = {
        {"{\"op\":\"ping\"}", CSPH_OP_PING},
        {"{\"op\":\"stats\",\"req\":1}", CSPH_OP_STATS},
        {"{\"op\":\"publish\",\"event\":" TU_ASB_EVENT("e1", "P-1") "}", CSPH_OP_PUBLISH},
        {"{\"op\":\"publish\",\"req\":\"x\",\"events\":[" TU_ASB_EVENT("e1", "P-1") "]}",
         CSPH_OP_PUBLISH},
        {"{\"op\":\"replay\",\"after\":1,\"until\":9,\"since\":\"2025-01-01T00:00:00Z\","
         "\"till\":\"2026-01-01T00:00:00Z\",\"types\":[\"call\"],\"person\":\"P-1\",\"max\":5}",
         CSPH_OP_REPLAY},
        {"{\"op\":\"rejects\",\"after\":0,\"max\":10}", CSPH_OP_REJECTS},
        {"{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"c1\",\"max\":10,\"wait_ms\":100}",
         CSPH_OP_FETCH},
        {"{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"c1\",\"upto\":3}", CSPH_OP_ACK},
        {"{\"op\":\"alerts\",\"panel\":\"marac\",\"status\":\"open\",\"after\":0,\"max\":5}",
         CSPH_OP_ALERTS},
        {"{\"op\":\"alert.update\",\"id\":3,\"status\":\"closed\",\"note\":\"done\"}",
         CSPH_OP_ALERT_UPDATE},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum hub_err rc = decode_json(f, cases[i].json);
        if (rc != CSPH_ERR_OK)
            fail_msg("%s: %s", cases[i].json, f->err.message);
        assert_int_equal(f->r.op, cases[i].op);
        assert_int_equal(f->r.root.type, MSGPACK_OBJECT_MAP);
        assert_non_null(hub_mp_get(&f->r.root, "op"));
    }
    for (int op = 0; op < CSPH_OP__COUNT; op++) {
        char json[128];
        snprintf(json, sizeof json, "{\"op\":\"%s\"%s}", hub_op_name((enum hub_op)op),
                 op == CSPH_OP_PUBLISH ? ",\"event\":{}" : "");
        assert_int_equal(decode_json(f, json), CSPH_ERR_OK);
        assert_int_equal(f->r.op, op);
    }
    assert_string_equal(hub_op_name(CSPH_OP_ALERT_UPDATE), "alert.update");
    assert_string_equal(hub_op_name(CSPH_OP__COUNT), "?");
    /* ping: no req, no events */
    assert_int_equal(decode_json(f, "{\"op\":\"ping\"}"), CSPH_ERR_OK);
    assert_int_equal(f->r.req.len, 0);
    assert_int_equal(f->r.nevents, 0);
    assert_int_equal(f->r.batch, 0);
}

static void test_req_echoed_verbatim(void **state)
{
    struct fx *f = *state;
    /* {req: 7 as uint32 (non-minimal), op: "ping"} */
    reset(f);
    rawb(f, 1, 0x82);
    str(f, "req");
    rawb(f, 5, 0xce, 0, 0, 0, 7);
    str(f, "op");
    str(f, "ping");
    assert_int_equal(decode(f), CSPH_ERR_OK);
    assert_int_equal(f->r.req.len, 5);
    static const unsigned char want_req[] = {0xce, 0, 0, 0, 7};
    assert_memory_equal(f->r.req.ptr, want_req, 5);
    assert_ptr_equal(f->r.req.ptr, f->sb.data + 5); /* into the message */

    hub_reply_begin(&f->opk, &f->r.req, 1, 0);
    static const unsigned char want[] = {0x82, 0xa3, 'r', 'e', 'q', 0xce, 0, 0, 0, 7,
                                         0xa2, 'o',  'k', 0xc3};
    assert_int_equal(f->out.size, sizeof want);
    assert_memory_equal(f->out.data, want, sizeof want);

    /* other scalars, each with a non-minimal or unusual encoding */
    static const unsigned char reqs[][10] = {
        {1, 0xc0},                               /* nil */
        {1, 0xc2},                               /* false */
        {3, 0xd1, 0xff, 0xfe},                   /* int16 -2 */
        {9, 0xcf, 0, 0, 0, 0, 0, 0, 0, 1},       /* uint64 1 */
        {5, 0xca, 0x3f, 0x80, 0, 0},             /* float32 1.0 */
        {4, 0xd9, 2, 'a', 'b'},                  /* str8 "ab" */
        {4, 0xc4, 2, 0x00, 0xff},                /* bin8 */
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        reset(f);
        msgpack_sbuffer_clear(&f->out);
        rawb(f, 1, 0x82);
        str(f, "op");
        str(f, "stats");
        str(f, "req");
        raw(f, reqs[i] + 1, reqs[i][0]);
        if (decode(f) != CSPH_ERR_OK)
            fail_msg("req case %zu: %s", i, f->err.message);
        assert_int_equal(f->r.req.len, reqs[i][0]);
        assert_memory_equal(f->r.req.ptr, reqs[i] + 1, reqs[i][0]);
        hub_reply_begin(&f->opk, &f->r.req, 1, 0);
        assert_int_equal(f->out.size, 1 + 4 + reqs[i][0] + 3 + 1);
        assert_memory_equal(f->out.data + 5, reqs[i] + 1, reqs[i][0]);
    }
    /* no req: the reply has none */
    assert_int_equal(decode_json(f, "{\"op\":\"ping\"}"), CSPH_ERR_OK);
    msgpack_sbuffer_clear(&f->out);
    hub_reply_begin(&f->opk, &f->r.req, 1, 0);
    static const unsigned char bare[] = {0x81, 0xa2, 'o', 'k', 0xc3};
    assert_int_equal(f->out.size, sizeof bare);
    assert_memory_equal(f->out.data, bare, sizeof bare);
    msgpack_sbuffer_clear(&f->out);
    hub_reply_begin(&f->opk, NULL, 0, 0);
    static const unsigned char bare_false[] = {0x81, 0xa2, 'o', 'k', 0xc2};
    assert_memory_equal(f->out.data, bare_false, sizeof bare_false);
}

/* What the notes do not promise to echo (a map, an array, an ext, a string
 * that is not UTF-8) is refused and never echoed, whatever error comes
 * first: a reply must stay MessagePack a strict decoder accepts. */
static void test_req_not_echoed(void **state)
{
    struct fx *f = *state;
    static const unsigned char reqs[][8] = {
        {3, 0xd4, 1, 0x2a},             /* fixext1 */
        {2, 0x81, 0xc0},                /* truncated map: refused as MessagePack */
        {3, 0x81, 0xa1, 'a'},           /* likewise */
        {4, 0x81, 0xa1, 'a', 0x01},     /* {a: 1} */
        {3, 0x92, 0x01, 0x02},          /* [1, 2] */
        {3, 0xa2, 0xff, 0xfe},          /* str, not UTF-8 */
        {4, 0xa3, 0xed, 0xa0, 0x80},    /* a UTF-16 surrogate */
    };
    for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++) {
        for (int dup = 0; dup < 2; dup++) {
            reset(f);
            rawb(f, 1, dup ? 0x83 : 0x82);
            str(f, "req");
            raw(f, reqs[i] + 1, reqs[i][0]);
            str(f, "op");
            str(f, "ping");
            if (dup) { /* a later error must not echo it either */
                str(f, "op");
                str(f, "ping");
            }
            assert_int_not_equal(decode(f), CSPH_ERR_OK);
            assert_int_equal(f->err.code, CSPH_ERR_BAD_REQUEST);
            if (f->r.req.len)
                fail_msg("req case %zu (dup %d) would be echoed: %s", i, dup, f->err.message);
        }
    }
}

/* Duplicate keys are found in time linear in the map: 100,000 distinct
 * unknown keys and 100,000 copies of one known key are both refused
 * (before: every pair compared, 17 s). The bound itself is a benchmark's
 * business; this checks the answers. */
static void test_many_keys(void **state)
{
    struct fx *f = *state;
    for (int dup = 0; dup < 2; dup++) {
        reset(f);
        msgpack_pack_map(&f->pk, 100001);
        str(f, "op");
        str(f, "ping");
        for (int i = 0; i < 100000; i++) {
            char k[16];
            int n = dup ? snprintf(k, sizeof k, "max") : snprintf(k, sizeof k, "k%d", i);
            msgpack_pack_str(&f->pk, (size_t)n);
            msgpack_pack_str_body(&f->pk, k, (size_t)n);
            msgpack_pack_uint8(&f->pk, 1);
        }
        assert_int_equal(decode(f), CSPH_ERR_BAD_REQUEST);
        if (dup)
            assert_string_equal(f->err.field, "max");
        else
            assert_string_equal(f->err.field, "k0");
    }
}

/* Error texts that quote invalid UTF-8, or are cut inside a character,
 * are packed as valid UTF-8. */
static void test_error_text_repaired(void **state)
{
    struct fx *f = *state;
    struct hub_error e;
    hub_error_set(&e, CSPH_ERR_BAD_OP, "op\xff", "unknown op '\xc3\x28\xed\xa0\x80 x'");
    memcpy(e.field, "op\xff", 4);
    msgpack_sbuffer_clear(&f->out);
    hub_pack_error(&f->opk, &e);
    msgpack_object o = reply(f);
    const msgpack_object *m = tu_get(&o, "message"), *fl = tu_get(&o, "field");
    assert_non_null(m);
    assert_non_null(fl);
    assert_int_equal(hub_utf8_bad_at(m->via.str.ptr, m->via.str.size), m->via.str.size);
    assert_int_equal(hub_utf8_bad_at(fl->via.str.ptr, fl->via.str.size), fl->via.str.size);
    assert_string_equal(tu_str(&o, "field"), "op\xef\xbf\xbd");
    /* a valid text is passed unchanged */
    assert_int_equal(hub_utf8_bad_at("caf\xc3\xa9", 5), 5);
    char out[16];
    assert_int_equal(hub_utf8_repair("a\xff" "b", 3, out, sizeof out), 5);
    assert_memory_equal(out, "a\xef\xbf\xbd" "b", 5);
}

static void test_reply_begin_extra(void **state)
{
    struct fx *f = *state;
    assert_int_equal(decode_json(f, "{\"op\":\"ping\",\"req\":\"abc\"}"), CSPH_ERR_OK);
    hub_reply_begin(&f->opk, &f->r.req, 1, 2);
    hub_pack_str(&f->opk, "version");
    hub_pack_str(&f->opk, "0.1.0");
    hub_pack_strn(&f->opk, "last_seqXXX", 8);
    msgpack_pack_uint64(&f->opk, 42);
    msgpack_object o = reply(f);
    assert_int_equal(o.via.map.size, 4);
    assert_string_equal(tu_str(&o, "req"), "abc");
    assert_int_equal(tu_bool(&o, "ok"), 1);
    assert_string_equal(tu_str(&o, "version"), "0.1.0");
    assert_int_equal(tu_int(&o, "last_seq"), 42);
    /* pack_raw appends bytes as they are */
    msgpack_sbuffer_clear(&f->out);
    hub_pack_raw(&f->opk, "\x92\x01\x02", 3);
    assert_int_equal(f->out.size, 3);
    assert_memory_equal(f->out.data, "\x92\x01\x02", 3);
}

static void test_event_spans(void **state)
{
    struct fx *f = *state;
    /* one event with a map16 header and a str8 value: not what a packer
     * would choose, so a re-encode would show */
    static const unsigned char ev[] = {0xde, 0, 2, 0xa2, 'i', 'd', 0xd9, 2, 'e', '1',
                                       0xa4, 't', 'y', 'p', 'e', 0xa4, 'c', 'a', 'l', 'l'};
    reset(f);
    rawb(f, 1, 0x83);
    str(f, "req");
    rawb(f, 1, 0x01);
    str(f, "event");
    raw(f, ev, sizeof ev);
    str(f, "op");
    str(f, "publish");
    assert_int_equal(decode(f), CSPH_ERR_OK);
    assert_int_equal(f->r.op, CSPH_OP_PUBLISH);
    assert_int_equal(f->r.batch, 0);
    assert_int_equal(f->r.nevents, 1);
    assert_non_null(f->r.spans);
    assert_non_null(f->r.events);
    assert_int_equal(f->r.spans[0].len, sizeof ev);
    assert_memory_equal(f->r.spans[0].ptr, ev, sizeof ev);
    assert_int_equal(f->r.events[0].type, MSGPACK_OBJECT_MAP);
    assert_string_equal(tu_str(&f->r.events[0], "id"), "e1");
    assert_string_equal(tu_str(&f->r.events[0], "type"), "call");

    /* a batch of three differently encoded events */
    static const unsigned char e0[] = {0x80};
    static const unsigned char e1[] = {0xdf, 0, 0, 0, 1, 0xa1, 'a', 0xcd, 0, 5};
    static const unsigned char e2[] = {0x81, 0xa1, 'b', 0x92, 0xc3, 0xcb, 0x3f, 0xf0, 0, 0,
                                       0,    0,    0,   0};
    const unsigned char *evs[] = {e0, e1, e2};
    size_t lens[] = {sizeof e0, sizeof e1, sizeof e2};
    reset(f);
    rawb(f, 1, 0x82);
    str(f, "op");
    str(f, "publish");
    str(f, "events");
    rawb(f, 3, 0xdc, 0, 3); /* array16 */
    for (int i = 0; i < 3; i++)
        raw(f, evs[i], lens[i]);
    assert_int_equal(decode(f), CSPH_ERR_OK);
    assert_int_equal(f->r.batch, 1);
    assert_int_equal(f->r.nevents, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(f->r.spans[i].len, lens[i]);
        assert_memory_equal(f->r.spans[i].ptr, evs[i], lens[i]);
        assert_int_equal(f->r.events[i].type, MSGPACK_OBJECT_MAP);
    }
    assert_int_equal(tu_int(&f->r.events[1], "a"), 5);
    /* spans are inside the message */
    assert_true(f->r.spans[0].ptr > f->sb.data);
    assert_true(f->r.spans[2].ptr + lens[2] == f->sb.data + f->sb.size);
}

static void test_batch_limits(void **state)
{
    struct fx *f = *state;
    for (int n = 999; n <= 1001; n++) {
        reset(f);
        rawb(f, 1, 0x82);
        str(f, "op");
        str(f, "publish");
        str(f, "events");
        msgpack_pack_array(&f->pk, (size_t)n);
        for (int i = 0; i < n; i++)
            rawb(f, 1, 0x80);
        if (n <= EVENTS_MAX) {
            assert_int_equal(decode(f), CSPH_ERR_OK);
            assert_int_equal(f->r.nevents, n);
            assert_int_equal(f->r.spans[n - 1].len, 1);
        } else {
            expect_err(f, CSPH_ERR_TOO_LARGE, "1000", "events");
        }
    }
}

/* ---- malformed requests ---- */

static void test_not_msgpack(void **state)
{
    struct fx *f = *state;
    reset(f);
    rawb(f, 1, 0xc1); /* never used */
    expect_err(f, CSPH_ERR_BAD_REQUEST, "not MessagePack", "");
    reset(f);
    expect_err(f, CSPH_ERR_BAD_REQUEST, NULL, ""); /* zero bytes */
    reset(f);
    raw(f, "{\"op\":\"ping\"}", 13); /* JSON is not MessagePack */
    expect_err(f, CSPH_ERR_BAD_REQUEST, NULL, "");
}

static void test_not_a_map(void **state)
{
    struct fx *f = *state;
    expect_json_err(f, "[1,2]", CSPH_ERR_BAD_REQUEST, "array", "");
    expect_json_err(f, "\"ping\"", CSPH_ERR_BAD_REQUEST, "string", "");
    expect_json_err(f, "42", CSPH_ERR_BAD_REQUEST, "integer", "");
    expect_json_err(f, "null", CSPH_ERR_BAD_REQUEST, "nil", "");
    reset(f);
    rawb(f, 3, 0xc4, 1, 0); /* bin */
    expect_err(f, CSPH_ERR_BAD_REQUEST, "binary", "");
}

static void test_bad_keys(void **state)
{
    struct fx *f = *state;
    /* binary key */
    reset(f);
    rawb(f, 1, 0x81);
    rawb(f, 4, 0xc4, 2, 'o', 'p');
    str(f, "ping");
    expect_err(f, CSPH_ERR_BAD_REQUEST, "binary", NULL);
    /* integer key */
    reset(f);
    rawb(f, 1, 0x82);
    str(f, "op");
    str(f, "ping");
    rawb(f, 2, 0x01, 0x01);
    expect_err(f, CSPH_ERR_BAD_REQUEST, "integer", NULL);
    /* duplicate key, same and different values */
    reset(f);
    rawb(f, 1, 0x82);
    str(f, "op");
    str(f, "ping");
    str(f, "op");
    str(f, "ping");
    expect_err(f, CSPH_ERR_BAD_REQUEST, "twice", NULL);
    reset(f);
    rawb(f, 1, 0x83);
    str(f, "op");
    str(f, "replay");
    str(f, "after");
    rawb(f, 1, 0x01);
    str(f, "after");
    rawb(f, 1, 0x05);
    expect_err(f, CSPH_ERR_BAD_REQUEST, "after", NULL);
    /* a key that is a prefix of another is not a duplicate */
    reset(f);
    rawb(f, 1, 0x82);
    str(f, "op");
    str(f, "publish");
    str(f, "event");
    rawb(f, 1, 0x80);
    assert_int_equal(decode(f), CSPH_ERR_OK);
}

static void test_truncated_and_trailing(void **state)
{
    struct fx *f = *state;
    msgpack_sbuffer whole;
    msgpack_sbuffer_init(&whole);
    tu_json_to_mp(&whole, "{\"op\":\"publish\",\"req\":12345,\"events\":[" TU_ASB_EVENT(
                              "e1", "P-1") "," TU_ASB_EVENT("e2", "P-2") "]}");
    /* every proper prefix is refused, none crashes */
    for (size_t n = 0; n < whole.size; n++) {
        reset(f);
        raw(f, whole.data, n);
        enum hub_err rc = decode(f);
        if (rc != CSPH_ERR_BAD_REQUEST) {
            msgpack_sbuffer_destroy(&whole);
            fail_msg("a request cut to %zu of %zu bytes: %s, want bad_request", n, whole.size,
                     hub_err_name(rc));
        }
    }
    reset(f);
    raw(f, whole.data, whole.size);
    assert_int_equal(decode(f), CSPH_ERR_OK);
    /* trailing bytes */
    rawb(f, 1, 0xc0);
    expect_err(f, CSPH_ERR_BAD_REQUEST, "1 unexpected byte", NULL);
    /* the req is still found for the error reply */
    assert_int_equal(f->r.req.len, 3);
    reset(f);
    raw(f, whole.data, whole.size);
    raw(f, whole.data, whole.size); /* two requests in one message */
    expect_err(f, CSPH_ERR_BAD_REQUEST, "unexpected", NULL);
    msgpack_sbuffer_destroy(&whole);
    /* truncated inside a value */
    reset(f);
    rawb(f, 1, 0x81);
    str(f, "op");
    rawb(f, 3, 0xa4, 'p', 'i'); /* "pi" of a 4-byte string */
    expect_err(f, CSPH_ERR_BAD_REQUEST, NULL, NULL);
}

static void test_op_errors(void **state)
{
    struct fx *f = *state;
    expect_json_err(f, "{\"req\":1}", CSPH_ERR_BAD_REQUEST, "op", "op");
    assert_int_equal(f->r.req.len, 1); /* echo even so */
    expect_json_err(f, "{}", CSPH_ERR_BAD_REQUEST, "op", "op");
    expect_json_err(f, "{\"op\":1}", CSPH_ERR_BAD_REQUEST, "integer", "op");
    expect_json_err(f, "{\"op\":[\"ping\"]}", CSPH_ERR_BAD_REQUEST, "array", "op");
    expect_json_err(f, "{\"op\":null}", CSPH_ERR_BAD_REQUEST, "nil", "op");
    expect_json_err(f, "{\"op\":\"pong\",\"req\":\"r1\"}", CSPH_ERR_BAD_OP, "pong", "op");
    assert_int_equal(f->r.req.len, 3);
    assert_memory_equal(f->r.req.ptr, "\xa2r1", 3);
    expect_json_err(f, "{\"op\":\"PING\"}", CSPH_ERR_BAD_OP, NULL, "op");
    expect_json_err(f, "{\"op\":\"\"}", CSPH_ERR_BAD_OP, NULL, "op");
    /* an op that is a prefix or an extension of a real one */
    expect_json_err(f, "{\"op\":\"pin\"}", CSPH_ERR_BAD_OP, NULL, "op");
    expect_json_err(f, "{\"op\":\"alert.upd\"}", CSPH_ERR_BAD_OP, NULL, "op");
    expect_json_err(f, "{\"op\":\"pings\"}", CSPH_ERR_BAD_OP, NULL, "op");
    /* an op string with a NUL inside */
    reset(f);
    rawb(f, 1, 0x81);
    str(f, "op");
    rawb(f, 6, 0xa5, 'p', 'i', 'n', 'g', 0);
    expect_err(f, CSPH_ERR_BAD_OP, NULL, "op");
    /* a very long unknown op: the message stays bounded */
    char json[5000];
    int n = snprintf(json, sizeof json, "{\"op\":\"");
    memset(json + n, 'x', 4000);
    snprintf(json + n + 4000, sizeof json - (size_t)n - 4000, "\"}");
    expect_json_err(f, json, CSPH_ERR_BAD_OP, NULL, "op");
}

static void test_unknown_field(void **state)
{
    struct fx *f = *state;
    expect_json_err(f, "{\"op\":\"ping\",\"colour\":1}", CSPH_ERR_BAD_REQUEST, "colour", NULL);
    expect_json_err(f, "{\"op\":\"replay\",\"afterr\":1}", CSPH_ERR_BAD_REQUEST, "afterr", NULL);
    expect_json_err(f, "{\"op\":\"replay\",\"event\":{}}", CSPH_ERR_BAD_REQUEST, "event", NULL);
    expect_json_err(f, "{\"op\":\"fetch\",\"upto\":1}", CSPH_ERR_BAD_REQUEST, "upto", NULL);
    expect_json_err(f, "{\"op\":\"ack\",\"status\":\"x\"}", CSPH_ERR_BAD_REQUEST, "status", NULL);
    expect_json_err(f, "{\"op\":\"publish\",\"event\":{},\"source\":\"p\"}",
                    CSPH_ERR_BAD_REQUEST, "source", NULL);
    /* each op's own keys are fine */
    assert_int_equal(decode_json(f, "{\"op\":\"ack\",\"panel\":\"p\",\"consumer\":\"c\","
                                    "\"upto\":1,\"req\":null}"),
                     CSPH_ERR_OK);
}

static void test_publish_shape(void **state)
{
    struct fx *f = *state;
    expect_json_err(f, "{\"op\":\"publish\",\"events\":{}}", CSPH_ERR_BAD_REQUEST, "array",
                    "events");
    expect_json_err(f, "{\"op\":\"publish\",\"events\":\"x\"}", CSPH_ERR_BAD_REQUEST, NULL,
                    "events");
    expect_json_err(f, "{\"op\":\"publish\",\"events\":[]}", CSPH_ERR_BAD_REQUEST, "empty",
                    "events");
    expect_json_err(f, "{\"op\":\"publish\",\"event\":{},\"events\":[{}]}", CSPH_ERR_BAD_REQUEST,
                    "not both", NULL);
    expect_json_err(f, "{\"op\":\"publish\",\"events\":[{}],\"event\":{}}", CSPH_ERR_BAD_REQUEST,
                    "not both", NULL);
    expect_json_err(f, "{\"op\":\"publish\"}", CSPH_ERR_BAD_REQUEST, "event", "event");
    expect_json_err(f, "{\"op\":\"publish\",\"req\":5}", CSPH_ERR_BAD_REQUEST, NULL, "event");
}

static void test_deep_nesting(void **state)
{
    struct fx *f = *state;
    const char *where[] = {"event", "req", "events", "after"};
    for (size_t w = 0; w < 4; w++) {
        reset(f);
        rawb(f, 1, 0x82);
        str(f, "op");
        str(f, w == 3 ? "replay" : "publish");
        str(f, where[w]);
        if (w == 2)
            rawb(f, 1, 0x91);
        for (int i = 0; i < 200; i++)
            rawb(f, 1, 0x91); /* [[[[...]]]] */
        rawb(f, 1, 0x01);
        expect_err(f, CSPH_ERR_BAD_REQUEST, NULL, NULL);
    }
    /* 20 levels are fine */
    reset(f);
    rawb(f, 1, 0x82);
    str(f, "op");
    str(f, "publish");
    str(f, "event");
    for (int i = 0; i < 20; i++) {
        rawb(f, 1, 0x81);
        str(f, "k");
    }
    rawb(f, 1, 0x01);
    assert_int_equal(decode(f), CSPH_ERR_OK);
}

static void test_huge_top_map_header(void **state)
{
    struct fx *f = *state;
    reset(f);
    rawb(f, 5, 0xdf, 0xff, 0xff, 0xff, 0xff);
    str(f, "op");
    str(f, "ping");
    expect_err(f, CSPH_ERR_BAD_REQUEST, NULL, NULL);
    reset(f);
    rawb(f, 3, 0xde, 0xff, 0xff);
    str(f, "op");
    str(f, "ping");
    expect_err(f, CSPH_ERR_BAD_REQUEST, NULL, NULL);
    /* a count just one more than the pairs present */
    reset(f);
    rawb(f, 1, 0x82);
    str(f, "op");
    str(f, "ping");
    expect_err(f, CSPH_ERR_BAD_REQUEST, NULL, NULL);
}

/* Decode buf in a child process and report its outcome: the error code, or
 * -1 when the child did not return (a sanitizer abort on a huge allocation,
 * a crash). The child never returns into cmocka. */
static int decode_in_child(const void *buf, size_t len, enum hub_err *code)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        msgpack_zone z;
        struct hub_request r;
        struct hub_error e;
        msgpack_zone_init(&z, 4096);
        enum hub_err rc = hub_wire_decode(buf, len, &z, EVENTS_MAX, &r, &e);
        msgpack_zone_destroy(&z);
        _exit(64 + (int)rc);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFEXITED(status) && WEXITSTATUS(status) >= 64) {
        *code = (enum hub_err)(WEXITSTATUS(status) - 64);
        return 0;
    }
    fprintf(stderr, "decode in a child: %s %d\n", WIFEXITED(status) ? "exit" : "signal",
            WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return -1;
}

static void test_huge_nested_header(void **state)
{
    /* A 2^32-1 count inside a value, in a message of a few bytes: the
     * decoder must refuse it without trying to allocate for 4 billion
     * elements (with ASan that allocation aborts; without, it is a multi-GB
     * malloc per request). */
    struct fx *f = *state;
    static const struct {
        const char *key, *op;
        unsigned char hdr[6];
    } cases[] = {
        {"event", "publish", {5, 0xdf, 0xff, 0xff, 0xff, 0xff}},
        {"events", "publish", {5, 0xdd, 0xff, 0xff, 0xff, 0xff}},
        {"req", "ping", {5, 0xdd, 0xff, 0xff, 0xff, 0xff}},
        {"types", "replay", {5, 0xdd, 0xff, 0xff, 0xff, 0xff}},
    };
    int crashed = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reset(f);
        rawb(f, 1, 0x82);
        str(f, "op");
        str(f, cases[i].op);
        str(f, cases[i].key);
        raw(f, cases[i].hdr + 1, cases[i].hdr[0]);
        rawb(f, 2, 0xa1, 'x');
        enum hub_err rc = CSPH_ERR_OK;
        if (decode_in_child(f->sb.data, f->sb.size, &rc) != 0) {
            fprintf(stderr, "'%s' with a %s header claiming 2^32-1 entries: the decoder did not "
                            "return\n",
                    cases[i].key, cases[i].hdr[1] == 0xdf ? "map32" : "array32");
            crashed++;
            continue;
        }
        if (rc != CSPH_ERR_BAD_REQUEST && rc != CSPH_ERR_TOO_LARGE)
            fail_msg("'%s': %s, want bad_request or too_large", cases[i].key, hub_err_name(rc));
    }
    if (crashed)
        fail_msg("%d of 4 requests with a huge nested container header made the decoder allocate "
                 "for the declared count",
                 crashed);
}

static void test_req_not_scalar(void **state)
{
    struct fx *f = *state;
    expect_json_err(f, "{\"op\":\"ping\",\"req\":[1,2]}", CSPH_ERR_BAD_REQUEST, "array", "req");
    assert_int_equal(f->r.req.len, 0); /* not echoed */
    expect_json_err(f, "{\"req\":{\"a\":1},\"op\":\"ping\"}", CSPH_ERR_BAD_REQUEST, "map", "req");
    assert_int_equal(f->r.req.len, 0);
}

/* ---- typed fields ---- */

static void test_wire_u64(void **state)
{
    struct fx *f = *state;
    uint64_t v;
    int present;
    struct hub_error err;
    reset(f);
    rawb(f, 1, 0x86);
    str(f, "op");
    str(f, "replay");
    str(f, "after");
    rawb(f, 9, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff);
    str(f, "until");
    rawb(f, 1, 0xff); /* -1 */
    str(f, "max");
    rawb(f, 1, 0x00);
    str(f, "since");
    str(f, "5");
    str(f, "till");
    rawb(f, 9, 0xcb, 0x40, 0x14, 0, 0, 0, 0, 0, 0); /* 5.0 */
    assert_int_equal(decode(f), CSPH_ERR_OK);

    v = 7;
    present = -1;
    assert_int_equal(hub_wire_u64(&f->r, "after", 0, UINT64_MAX, &v, &present, &err),
                     CSPH_ERR_OK);
    assert_int_equal(present, 1);
    assert_true(v == UINT64_MAX);
    assert_int_equal(hub_wire_u64(&f->r, "after", 0, 100, &v, NULL, &err), CSPH_ERR_BAD_REQUEST);
    assert_string_equal(err.field, "after");
    assert_non_null(strstr(err.message, "100"));

    assert_int_equal(hub_wire_u64(&f->r, "until", 0, UINT64_MAX, &v, &present, &err),
                     CSPH_ERR_BAD_REQUEST);
    assert_string_equal(err.field, "until");
    assert_int_equal(hub_wire_u64(&f->r, "max", 1, 10, &v, &present, &err),
                     CSPH_ERR_BAD_REQUEST);
    assert_string_equal(err.field, "max");
    v = 9;
    assert_int_equal(hub_wire_u64(&f->r, "max", 0, 10, &v, &present, &err), CSPH_ERR_OK);
    assert_int_equal(v, 0);
    assert_int_equal(hub_wire_u64(&f->r, "since", 0, 10, &v, &present, &err),
                     CSPH_ERR_BAD_REQUEST);
    assert_int_equal(hub_wire_u64(&f->r, "till", 0, 10, &v, &present, &err),
                     CSPH_ERR_BAD_REQUEST);
    /* absent: untouched */
    v = 1234;
    present = -1;
    assert_int_equal(hub_wire_u64(&f->r, "types", 0, 10, &v, &present, &err), CSPH_ERR_OK);
    assert_int_equal(present, 0);
    assert_int_equal(v, 1234);
    assert_int_equal(hub_wire_u64(&f->r, "types", 0, 10, &v, NULL, &err), CSPH_ERR_OK);
    /* the bounds are inclusive */
    assert_int_equal(decode_json(f, "{\"op\":\"fetch\",\"max\":1000,\"wait_ms\":1}"), CSPH_ERR_OK);
    assert_int_equal(hub_wire_u64(&f->r, "max", 1, 1000, &v, NULL, &err), CSPH_ERR_OK);
    assert_int_equal(v, 1000);
    assert_int_equal(hub_wire_u64(&f->r, "wait_ms", 1, 30000, &v, NULL, &err), CSPH_ERR_OK);
    assert_int_equal(v, 1);
    assert_int_equal(hub_wire_u64(&f->r, "max", 1, 999, &v, NULL, &err), CSPH_ERR_BAD_REQUEST);
    assert_int_equal(hub_wire_u64(&f->r, "wait_ms", 2, 30000, &v, NULL, &err),
                     CSPH_ERR_BAD_REQUEST);
}

static void test_wire_str(void **state)
{
    struct fx *f = *state;
    const char *p = "untouched";
    size_t n = 99;
    struct hub_error err;
    assert_int_equal(decode_json(f, "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"\","
                                    "\"max\":3}"),
                     CSPH_ERR_OK);
    assert_int_equal(hub_wire_str(&f->r, "panel", 1, 64, 1, &p, &n, &err), CSPH_ERR_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(p, "marac", 5);
    assert_int_equal(hub_wire_str(&f->r, "panel", 1, 5, 1, &p, &n, &err), CSPH_ERR_OK);
    assert_int_equal(hub_wire_str(&f->r, "panel", 1, 4, 1, &p, &n, &err), CSPH_ERR_BAD_REQUEST);
    assert_string_equal(err.field, "panel");
    assert_int_equal(hub_wire_str(&f->r, "panel", 6, 64, 1, &p, &n, &err), CSPH_ERR_BAD_REQUEST);
    assert_int_equal(hub_wire_str(&f->r, "consumer", 1, 64, 1, &p, &n, &err),
                     CSPH_ERR_BAD_REQUEST);
    assert_string_equal(err.field, "consumer");
    assert_int_equal(hub_wire_str(&f->r, "consumer", 0, 64, 1, &p, &n, &err), CSPH_ERR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(hub_wire_str(&f->r, "max", 0, 64, 0, &p, &n, &err), CSPH_ERR_BAD_REQUEST);
    assert_string_equal(err.field, "max");
    assert_non_null(strstr(err.message, "string"));
    /* absent */
    p = "untouched";
    n = 99;
    assert_int_equal(hub_wire_str(&f->r, "wait_ms", 1, 64, 0, &p, &n, &err), CSPH_ERR_OK);
    assert_string_equal(p, "untouched");
    assert_int_equal(n, 99);
    assert_int_equal(hub_wire_str(&f->r, "wait_ms", 1, 64, 1, &p, &n, &err),
                     CSPH_ERR_BAD_REQUEST);
    assert_string_equal(err.field, "wait_ms");
    assert_non_null(strstr(err.message, "required"));
    /* binary is not a string */
    reset(f);
    rawb(f, 1, 0x82);
    str(f, "op");
    str(f, "fetch");
    str(f, "panel");
    rawb(f, 4, 0xc4, 2, 'p', 'q');
    assert_int_equal(decode(f), CSPH_ERR_OK);
    assert_int_equal(hub_wire_str(&f->r, "panel", 1, 64, 1, &p, &n, &err), CSPH_ERR_BAD_REQUEST);
}

/* ---- error replies ---- */

static void test_reply_error(void **state)
{
    struct fx *f = *state;
    struct hub_error e;
    assert_int_equal(decode_json(f, "{\"op\":\"publish\",\"req\":\"r-9\",\"event\":{}}"),
                     CSPH_ERR_OK);
    hub_error_set(&e, CSPH_ERR_BAD_EVENT, "location.lsoa", "location.lsoa is not an LSOA code");
    hub_reply_error(&f->opk, &f->r.req, &e, 1);
    msgpack_object o = reply(f);
    assert_int_equal(o.via.map.size, 4);
    assert_string_equal(tu_str(&o, "req"), "r-9");
    assert_int_equal(tu_bool(&o, "ok"), 0);
    assert_string_equal(tu_str(&o, "status"), "rejected");
    const msgpack_object *er = tu_get(&o, "error");
    assert_non_null(er);
    assert_int_equal(er->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(er->via.map.size, 3);
    assert_string_equal(tu_str(&o, "error.code"), "bad_event");
    assert_string_equal(tu_str(&o, "error.message"), "location.lsoa is not an LSOA code");
    assert_string_equal(tu_str(&o, "error.field"), "location.lsoa");

    /* no req, no status, no field */
    msgpack_sbuffer_clear(&f->out);
    hub_error_set(&e, CSPH_ERR_BAD_OP, NULL, "unknown op 'x'");
    hub_reply_error(&f->opk, NULL, &e, 0);
    o = reply(f);
    assert_int_equal(o.via.map.size, 2);
    assert_null(tu_get(&o, "req"));
    assert_null(tu_get(&o, "status"));
    assert_int_equal(tu_bool(&o, "ok"), 0);
    assert_int_equal(tu_get(&o, "error")->via.map.size, 2);
    assert_string_equal(tu_str(&o, "error.code"), "bad_op");
    assert_null(tu_get(&o, "error.field"));

    /* a code that never crosses the wire goes out as internal; an empty
     * message gets the code's sentence */
    msgpack_sbuffer_clear(&f->out);
    e.code = CSPH_ERR_IO;
    e.field[0] = 0;
    e.message[0] = 0;
    struct hub_span req = {"\x05", 1};
    hub_reply_error(&f->opk, &req, &e, 0);
    o = reply(f);
    assert_int_equal(o.via.map.size, 3);
    assert_int_equal(tu_int(&o, "req"), 5);
    assert_string_equal(tu_str(&o, "error.code"), "internal");
    assert_string_equal(tu_str(&o, "error.message"), hub_err_message(CSPH_ERR_IO));

    /* pack_error alone */
    msgpack_sbuffer_clear(&f->out);
    hub_error_set(&e, CSPH_ERR_BUSY, "", "the hub is busy");
    hub_pack_error(&f->opk, &e);
    o = reply(f);
    assert_int_equal(o.via.map.size, 2);
    assert_string_equal(tu_str(&o, "code"), "busy");
    assert_string_equal(tu_str(&o, "message"), "the hub is busy");
}

static void test_error_reply_for_decode_failure(void **state)
{
    /* What the server does with a malformed request: decode fails, the
     * error reply echoes the req that was found. */
    struct fx *f = *state;
    expect_json_err(f, "{\"req\":77,\"op\":\"nope\"}", CSPH_ERR_BAD_OP, NULL, "op");
    hub_reply_error(&f->opk, &f->r.req, &f->err, 0);
    msgpack_object o = reply(f);
    assert_int_equal(tu_int(&o, "req"), 77);
    assert_string_equal(tu_str(&o, "error.code"), "bad_op");
    assert_string_equal(tu_str(&o, "error.field"), "op");
    assert_non_null(strstr(tu_str(&o, "error.message"), "nope"));
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_each_op),
        T(test_req_echoed_verbatim),
        T(test_req_not_echoed),
        T(test_many_keys),
        T(test_error_text_repaired),
        T(test_reply_begin_extra),
        T(test_event_spans),
        T(test_batch_limits),
        T(test_not_msgpack),
        T(test_not_a_map),
        T(test_bad_keys),
        T(test_truncated_and_trailing),
        T(test_op_errors),
        T(test_unknown_field),
        T(test_publish_shape),
        T(test_deep_nesting),
        T(test_huge_top_map_header),
        T(test_req_not_scalar),
        T(test_wire_u64),
        T(test_wire_str),
        T(test_reply_error),
        T(test_error_reply_for_decode_failure),
        T(test_huge_nested_header),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
