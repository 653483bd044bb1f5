/* test_e2e: CSPH/1 end to end against the real csphubd over TCP
 * (PROTOCOL.md sections 1-4, 6, 7): publish, idempotency, rejections,
 * batches, replay and its filters byte-exact, rejects, stats, req echo,
 * REQ clients, restart, startup refusals and --verify. Each test starts its
 * own hub on a fresh data directory and stops it with SIGTERM (exit 0). */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <regex.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define NOFIELD ((const char *)1) /* expect no `field` in the error */


/* ---- fixtures --------------------------------------------------------- */

static int setup(void **state) { return tu_logonly_setup(state, "e2e"); }
static int teardown(void **state) { return tu_logonly_teardown(state); }

/* Stop the fixture's hub now (asserting a clean exit) and start a new one on
 * the same data directory. */
static void restart(struct tu_logonly_fx *f)
{
    tu_client_close(&f->c);
    f->client_open = 0;
    assert_int_equal(tu_hub_stop(&f->hub), 0);
    char data[600];
    snprintf(data, sizeof data, "%s", f->data);
    assert_int_equal(tu_hub_start(&f->hub, data, "--config", f->config, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    f->client_open = 1;
}

/* ---- helpers ---------------------------------------------------------- */

static void expect_str(const msgpack_object *r, const char *path, const char *want)
{
    const char *got = tu_str(r, path);
    if (!got || strcmp(got, want) != 0)
        fail_msg("%s: want '%s', got '%s' in %s", path, want, got ? got : "(absent)", tu_dump(r));
}

static void expect_int(const msgpack_object *r, const char *path, int64_t want)
{
    int64_t got = tu_int(r, path);
    if (got != want)
        fail_msg("%s: want %lld, got %lld in %s", path, (long long)want, (long long)got,
                 tu_dump(r));
}

static void expect_ok(const msgpack_object *r)
{
    if (tu_bool(r, "ok") != 1)
        fail_msg("want ok: true, got %s", tu_dump(r));
}

/* An error reply (or a batch result's error at prefix "results.N"):
 * code, a non-empty message and the field (NOFIELD: none; NULL: any). */
static void expect_error_at(const msgpack_object *r, const char *prefix, const char *code,
                            const char *field)
{
    char p[128];
    snprintf(p, sizeof p, "%s%serror.code", prefix, *prefix ? "." : "");
    expect_str(r, p, code);
    snprintf(p, sizeof p, "%s%serror.message", prefix, *prefix ? "." : "");
    const char *m = tu_str(r, p);
    if (!m || !*m)
        fail_msg("%s: want a message, got %s", p, tu_dump(r));
    snprintf(p, sizeof p, "%s%serror.field", prefix, *prefix ? "." : "");
    if (field == NOFIELD) {
        if (tu_get(r, p))
            fail_msg("%s: want none, got %s", p, tu_dump(r));
    } else if (field) {
        expect_str(r, p, field);
    }
}

static void expect_error(const msgpack_object *r, const char *code, const char *field)
{
    if (tu_bool(r, "ok") != 0)
        fail_msg("want ok: false, got %s", tu_dump(r));
    expect_error_at(r, "", code, field);
}

/* A single publish rejected: ok false, status rejected, error. */
static void expect_rejected(const msgpack_object *r, const char *code, const char *field)
{
    expect_error(r, code, field);
    expect_str(r, "status", "rejected");
}

static void expect_accepted(const msgpack_object *r, const char *status, int64_t seq)
{
    expect_ok(r);
    expect_str(r, "status", status);
    expect_int(r, "seq", seq);
}

/* An asb.report as JSON into a static ring buffer. */
static const char *asb(const char *id, const char *victim, const char *category)
{
    static char ring[8][512];
    static int next;
    char *b = ring[next++ % 8];
    snprintf(b, sizeof ring[0],
             "{\"id\":\"%s\",\"type\":\"asb.report\",\"source\":\"police\","
             "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"victim\":\"%s\","
             "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"%s\"}",
             id, victim, category);
    return b;
}

static msgpack_object publish(struct tu_client *c, const char *event_json)
{
    return tu_call(c, "{\"op\":\"publish\",\"event\":%s}", event_json);
}

/* Pack event_json into sb and publish exactly those bytes. */
static msgpack_object publish_bytes(struct tu_client *c, msgpack_sbuffer *sb,
                                    const char *event_json)
{
    tu_json_to_mp(sb, event_json);
    return tu_publish_raw(c, sb->data, sb->size, -1);
}

static uint64_t last_seq(struct tu_client *c)
{
    msgpack_object r = tu_call(c, "{\"op\":\"ping\"}");
    expect_ok(&r);
    int64_t v = tu_int(&r, "last_seq");
    if (v < 0)
        fail_msg("ping has no last_seq: %s", tu_dump(&r));
    return (uint64_t)v;
}

struct got {
    uint64_t seq;
    char id[136];
    char type[64];
};

/* Replay everything matching the JSON fragment filters (",\"types\":[...]"
 * or "") paging by `max` per reply; fills out (up to cap) and returns the
 * count. Checks that next and end behave. */
static size_t replay_all(struct tu_client *c, const char *filters, unsigned max, struct got *out,
                         size_t cap)
{
    uint64_t after = 0;
    size_t n = 0;
    for (int pages = 0;; pages++) {
        if (pages > 100000)
            fail_msg("replay never reported end");
        msgpack_object r = tu_call(c, "{\"op\":\"replay\",\"after\":%llu,\"max\":%u%s}",
                                   (unsigned long long)after, max, filters);
        expect_ok(&r);
        const msgpack_object *evs = tu_get(&r, "events");
        if (!evs || evs->type != MSGPACK_OBJECT_ARRAY)
            fail_msg("replay has no events array: %s", tu_dump(&r));
        if (evs->via.array.size > max)
            fail_msg("replay returned %u events, max was %u", evs->via.array.size, max);
        for (uint32_t i = 0; i < evs->via.array.size; i++) {
            const msgpack_object *e = &evs->via.array.ptr[i];
            if (n >= cap)
                fail_msg("replay returned more than %zu events", cap);
            int64_t seq = tu_int(e, "seq");
            const char *id = tu_str(e, "event.id");
            const char *type = tu_str(e, "event.type");
            if (seq <= 0 || !id || !type)
                fail_msg("malformed replayed entry %s", tu_dump(e));
            if ((uint64_t)seq <= after)
                fail_msg("replay after %llu returned seq %lld", (unsigned long long)after,
                         (long long)seq);
            out[n].seq = (uint64_t)seq;
            snprintf(out[n].id, sizeof out[n].id, "%s", id);
            snprintf(out[n].type, sizeof out[n].type, "%s", type);
            n++;
        }
        int64_t next = tu_int(&r, "next");
        int end = tu_bool(&r, "end");
        if (next < 0 || end < 0)
            fail_msg("replay without next/end: %s", tu_dump(&r));
        if (evs->via.array.size && (uint64_t)next < out[n - 1].seq)
            fail_msg("next %lld is before the last returned seq %llu", (long long)next,
                     (unsigned long long)out[n - 1].seq);
        if (end)
            return n;
        if ((uint64_t)next <= after && evs->via.array.size == 0)
            fail_msg("replay made no progress (after %llu, next %lld) but end is false",
                     (unsigned long long)after, (long long)next);
        after = (uint64_t)next;
    }
}

/* RFC 3339 with offset, and within 10 minutes of now. */
static void expect_rfc3339_now(const char *s)
{
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}"
                             "(\\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    int m = s ? regexec(&re, s, 0, NULL, 0) : 1;
    regfree(&re);
    if (m != 0)
        fail_msg("received_at '%s' is not RFC 3339", s ? s : "(absent)");
    struct tm tm = {0};
    int off_h = 0, off_m = 0;
    char sign = 'Z';
    sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
           &tm.tm_min, &tm.tm_sec);
    const char *z = s + 19;
    while (*z == '.' || (*z >= '0' && *z <= '9'))
        z++;
    if (*z == '+' || *z == '-') {
        sign = *z;
        sscanf(z + 1, "%d:%d", &off_h, &off_m);
    }
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    int off = (off_h * 60 + off_m) * 60;
    if (sign == '+')
        t -= off;
    else if (sign == '-')
        t += off;
    time_t now = time(NULL);
    if (t < now - 600 || t > now + 600)
        fail_msg("received_at '%s' is not the hub's current time", s);
}

/* ---- raw MessagePack builder, for encodings msgpack-c would not choose -- */

struct rb {
    unsigned char b[8192];
    size_t n;
};

static void rb_put(struct rb *r, const void *p, size_t n)
{
    assert_true(r->n + n <= sizeof r->b);
    memcpy(r->b + r->n, p, n);
    r->n += n;
}
static void rb_byte(struct rb *r, unsigned char c) { rb_put(r, &c, 1); }
static void rb_be(struct rb *r, uint64_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        rb_byte(r, (unsigned char)(v >> (8 * i)));
}
static void rb_fixstr(struct rb *r, const char *s)
{
    rb_byte(r, (unsigned char)(0xa0 | strlen(s)));
    rb_put(r, s, strlen(s));
}
static void rb_str8(struct rb *r, const char *s)
{
    rb_byte(r, 0xd9);
    rb_byte(r, (unsigned char)strlen(s));
    rb_put(r, s, strlen(s));
}
static void rb_str16(struct rb *r, const char *s)
{
    rb_byte(r, 0xda);
    rb_be(r, strlen(s), 2);
    rb_put(r, s, strlen(s));
}
static void rb_str32(struct rb *r, const char *s)
{
    rb_byte(r, 0xdb);
    rb_be(r, strlen(s), 4);
    rb_put(r, s, strlen(s));
}
static void rb_f32(struct rb *r, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    rb_byte(r, 0xca);
    rb_be(r, u, 4);
}
static void rb_f64(struct rb *r, double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    rb_byte(r, 0xcb);
    rb_be(r, u, 8);
}

/* ---- tests: ping and publish ------------------------------------------ */

static void test_ping(void **state)
{
    struct tu_logonly_fx *f = *state;
    msgpack_object r = tu_call(&f->c, "{\"op\":\"ping\"}");
    expect_ok(&r);
    const char *v = tu_str(&r, "version");
    if (!v || !strstr(v, "CSPH/1"))
        fail_msg("ping version '%s' does not name CSPH/1", v ? v : "(absent)");
    expect_int(&r, "last_seq", 0);
    r = publish(&f->c, asb("p-1", "P-1", "personal"));
    expect_accepted(&r, "accepted", 1);
    assert_int_equal(last_seq(&f->c), 1);
}

static void test_publish_gap_free(void **state)
{
    struct tu_logonly_fx *f = *state;
    for (int i = 1; i <= 3; i++) {
        char id[32];
        snprintf(id, sizeof id, "gf-%d", i);
        msgpack_object r = publish(&f->c, asb(id, "P-7", "nuisance"));
        expect_accepted(&r, "accepted", i);
    }
    assert_int_equal(last_seq(&f->c), 3);
}

static void test_duplicate_returns_original_seq(void **state)
{
    struct tu_logonly_fx *f = *state;
    msgpack_object r = publish(&f->c, asb("d-1", "P-1", "personal"));
    expect_accepted(&r, "accepted", 1);
    r = publish(&f->c, asb("d-2", "P-1", "personal"));
    expect_accepted(&r, "accepted", 2);
    for (int i = 0; i < 3; i++) {
        r = publish(&f->c, asb("d-1", "P-1", "personal"));
        expect_accepted(&r, "duplicate", 1);
    }
    r = publish(&f->c, asb("d-2", "P-1", "personal"));
    expect_accepted(&r, "duplicate", 2);
    assert_int_equal(last_seq(&f->c), 2);
    struct got g[8];
    assert_int_equal(replay_all(&f->c, "", 1000, g, 8), 2);
}

static void test_id_conflict(void **state)
{
    struct tu_logonly_fx *f = *state;
    msgpack_object r = publish(&f->c, asb("c-1", "P-1", "personal"));
    expect_accepted(&r, "accepted", 1);
    r = publish(&f->c, asb("c-1", "P-1", "nuisance"));
    expect_rejected(&r, "id_conflict", "id");
    r = publish(&f->c, asb("c-1", "P-2", "personal"));
    expect_rejected(&r, "id_conflict", "id");
    /* The key is (source, id): the same id from another source is new. */
    r = publish(&f->c, "{\"id\":\"c-1\",\"type\":\"asb.report\",\"source\":\"housing\","
                       "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"victim\":\"P-1\","
                       "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"nuisance\"}");
    expect_accepted(&r, "accepted", 2);
    /* The original is still the original. */
    r = publish(&f->c, asb("c-1", "P-1", "personal"));
    expect_accepted(&r, "duplicate", 1);
    assert_int_equal(last_seq(&f->c), 2);
}

static void test_rejections_name_code_and_field(void **state)
{
    struct tu_logonly_fx *f = *state;
    msgpack_object r = publish(&f->c, asb("r-1", "P-1", "loud"));
    expect_rejected(&r, "bad_event", "category");
    r = publish(&f->c, "{\"id\":\"r-2\",\"type\":\"noise.complaint\",\"source\":\"police\","
                       "\"occurred_at\":\"2025-03-01T21:14:00Z\"}");
    expect_rejected(&r, "unknown_type", "type");
    r = publish(&f->c, "{\"id\":\"r-3\",\"type\":\"referral\",\"source\":\"council\","
                       "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"subject\":\"S-1\","
                       "\"panel\":\"nope\",\"reason\":\"repeat victim\"}");
    expect_rejected(&r, "unknown_panel", "panel");
    r = publish(&f->c, "{\"id\":\"r-4\",\"type\":\"asb.report\",\"source\":\"police\","
                       "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"category\":\"personal\"}");
    expect_rejected(&r, "bad_event", "location");
    r = publish(&f->c, "{\"id\":\"r-5\",\"type\":\"asb.report\",\"source\":\"police\","
                       "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"category\":\"personal\","
                       "\"location\":{\"lsoa\":\"E0100091\"}}");
    expect_rejected(&r, "bad_event", "location.lsoa");
    /* The same referral to a real panel is accepted. */
    r = publish(&f->c, "{\"id\":\"r-3\",\"type\":\"referral\",\"source\":\"council\","
                       "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"subject\":\"S-1\","
                       "\"panel\":\"marac\",\"reason\":\"repeat victim\"}");
    expect_accepted(&r, "accepted", 1);
    assert_int_equal(last_seq(&f->c), 1);
}

/* PROTOCOL.md 7: alert.status, audit.access and timer.fired events, and
 * events with source `hub`, are the hub's own: a client may not write them. */
static void test_hub_events_forbidden(void **state)
{
    struct tu_logonly_fx *f = *state;
    msgpack_object r = publish(
        &f->c, "{\"id\":\"hf-1\",\"type\":\"timer.fired\",\"source\":\"police\","
               "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"alert\":1,\"panel\":\"marac\","
               "\"rule\":\"r\",\"priority\":\"high\",\"key\":\"k\","
               "\"due_at\":\"2025-03-02T21:14:00Z\"}");
    expect_rejected(&r, "forbidden", "type");
    r = publish(&f->c, "{\"id\":\"hf-2\",\"type\":\"alert.status\",\"source\":\"council\","
                       "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"alert\":1,"
                       "\"panel\":\"marac\",\"status\":\"closed\"}");
    expect_rejected(&r, "forbidden", "type");
    r = publish(&f->c, "{\"id\":\"hf-3\",\"type\":\"asb.report\",\"source\":\"hub\","
                       "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"location\":{\"ward\":\"A\"},"
                       "\"category\":\"personal\"}");
    expect_rejected(&r, "forbidden", "source");
    assert_int_equal(last_seq(&f->c), 0);
    r = tu_call(&f->c, "{\"op\":\"rejects\"}");
    expect_ok(&r);
    assert_int_equal(tu_get(&r, "rejects")->via.array.size, 3);
    expect_str(&r, "rejects.2.error.code", "forbidden");
}

static void test_batch_mixed_results(void **state)
{
    struct tu_logonly_fx *f = *state;
    msgpack_object r = tu_call(
        &f->c, "{\"op\":\"publish\",\"req\":\"b1\",\"events\":[%s,%s,"
               "{\"id\":\"b-3\",\"type\":\"asb.report\",\"source\":\"police\","
               "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"location\":{\"ward\":\"Abbey\"},"
               "\"category\":\"personal\",\"colour\":\"red\"},"
               "%s,"
               "{\"id\":\"b-5\",\"type\":\"nope\",\"source\":\"police\","
               "\"occurred_at\":\"2025-03-01T21:14:00Z\"},"
               "%s,%s,%s,"
               "{\"id\":\"b-9\",\"type\":\"asb.report\",\"source\":\"police\","
               "\"occurred_at\":\"2025-03-01T21:14:00\",\"location\":{\"ward\":\"Abbey\"},"
               "\"category\":\"personal\"}]}",
        asb("b-1", "P-1", "personal"), asb("b-2", "P-2", "nuisance"),
        asb("b-1", "P-1", "personal"), asb("b-6", "P-6", "environmental"),
        asb("b-6", "P-6", "environmental"), asb("b-2", "P-2", "personal"));
    expect_ok(&r);
    expect_str(&r, "req", "b1");
    const msgpack_object *res = tu_get(&r, "results");
    if (!res || res->type != MSGPACK_OBJECT_ARRAY || res->via.array.size != 9)
        fail_msg("want 9 results, got %s", tu_dump(&r));
    expect_str(&r, "results.0.status", "accepted");
    expect_int(&r, "results.0.seq", 1);
    expect_str(&r, "results.1.status", "accepted");
    expect_int(&r, "results.1.seq", 2);
    expect_str(&r, "results.2.status", "rejected");
    expect_error_at(&r, "results.2", "bad_event", "events.2.colour");
    expect_str(&r, "results.3.status", "duplicate");
    expect_int(&r, "results.3.seq", 1);
    expect_str(&r, "results.4.status", "rejected");
    expect_error_at(&r, "results.4", "unknown_type", "events.4.type");
    expect_str(&r, "results.5.status", "accepted");
    expect_int(&r, "results.5.seq", 3);
    /* Within one batch too, a repeat is a duplicate of the first. */
    expect_str(&r, "results.6.status", "duplicate");
    expect_int(&r, "results.6.seq", 3);
    expect_str(&r, "results.7.status", "rejected");
    expect_error_at(&r, "results.7", "id_conflict", "events.7.id");
    expect_str(&r, "results.8.status", "rejected");
    expect_error_at(&r, "results.8", "bad_event", "events.8.occurred_at");
    assert_int_equal(last_seq(&f->c), 3);
}

/* A batch of events "<prefix>-<i>" for i in [0, n). */
static char *batch_json(const char *prefix, int n)
{
    size_t cap = (size_t)n * 300 + 64, len = 0;
    char *b = malloc(cap);
    len += (size_t)snprintf(b + len, cap - len, "{\"op\":\"publish\",\"events\":[");
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%d", prefix, i);
        len += (size_t)snprintf(b + len, cap - len, "%s%s", i ? "," : "",
                                asb(id, "P-9", "nuisance"));
    }
    snprintf(b + len, cap - len, "]}");
    return b;
}

static void test_batch_limits(void **state)
{
    struct tu_logonly_fx *f = *state;
    char *big = batch_json("big", 1001);
    msgpack_object r = tu_call(&f->c, "%s", big);
    free(big);
    expect_error(&r, "too_large", NULL);
    assert_int_equal(last_seq(&f->c), 0);
    /* 1,000 is allowed, and every one is accepted in order. */
    char *ok = batch_json("max", 1000);
    r = tu_call(&f->c, "%s", ok);
    free(ok);
    expect_ok(&r);
    const msgpack_object *res = tu_get(&r, "results");
    if (!res || res->type != MSGPACK_OBJECT_ARRAY || res->via.array.size != 1000)
        fail_msg("want 1000 results");
    for (int i = 0; i < 1000; i++) {
        char p[64];
        snprintf(p, sizeof p, "results.%d.status", i);
        expect_str(&r, p, "accepted");
        snprintf(p, sizeof p, "results.%d.seq", i);
        expect_int(&r, p, i + 1);
    }
    r = tu_call(&f->c, "{\"op\":\"publish\",\"events\":[]}");
    expect_error(&r, "bad_request", "events");
    assert_int_equal(last_seq(&f->c), 1000);
}

/* ---- replay ------------------------------------------------------------ */

/* Events in unusual but valid encodings: map16/map32 headers, str8/16/32
 * for short strings, uint64/uint16/int8 for small integers, float32 and
 * float64, keys in an odd order. The hub must hand back these very bytes. */
static void odd_events(struct rb *ev, int *n)
{
    struct rb *r = &ev[0];
    r->n = 0;
    rb_byte(r, 0xde);
    rb_be(r, 10, 2); /* map16 of 10 */
    rb_str8(r, "type");
    rb_str16(r, "da.incident");
    rb_str8(r, "id");
    rb_str8(r, "odd-1");
    rb_fixstr(r, "source");
    rb_str32(r, "police");
    rb_str16(r, "occurred_at");
    rb_str8(r, "2025-03-01T21:14:00.250+01:00");
    rb_fixstr(r, "victim");
    rb_str16(r, "P-100");
    rb_str8(r, "perpetrator");
    rb_str8(r, "P-200");
    rb_fixstr(r, "dash_score");
    rb_byte(r, 0xcf);
    rb_be(r, 14, 8); /* uint64 14 */
    rb_fixstr(r, "risk");
    rb_str8(r, "high");
    rb_fixstr(r, "children_present");
    rb_byte(r, 0xc3);
    rb_fixstr(r, "location");
    rb_byte(r, 0xdf);
    rb_be(r, 2, 4); /* map32 of 2 */
    rb_fixstr(r, "lat");
    rb_f32(r, 51.5f);
    rb_str8(r, "lon");
    rb_f64(r, -0.125);

    r = &ev[1];
    r->n = 0;
    rb_byte(r, 0x86);
    rb_fixstr(r, "id");
    rb_fixstr(r, "odd-2");
    rb_fixstr(r, "type");
    rb_fixstr(r, "missing.episode");
    rb_fixstr(r, "source");
    rb_fixstr(r, "police");
    rb_fixstr(r, "occurred_at");
    rb_fixstr(r, "2025-03-02T08:00:00Z");
    rb_fixstr(r, "subject");
    rb_fixstr(r, "P-300");
    rb_fixstr(r, "age");
    rb_byte(r, 0xd0);
    rb_byte(r, 15); /* int8 15 */

    r = &ev[2];
    r->n = 0;
    rb_byte(r, 0x88);
    rb_fixstr(r, "id");
    rb_fixstr(r, "odd-3");
    rb_fixstr(r, "type");
    rb_fixstr(r, "arrest");
    rb_fixstr(r, "source");
    rb_fixstr(r, "police");
    rb_fixstr(r, "occurred_at");
    rb_fixstr(r, "2025-03-03T10:00:00Z");
    rb_fixstr(r, "subject");
    rb_fixstr(r, "P-400");
    rb_fixstr(r, "age");
    rb_byte(r, 0xcd);
    rb_be(r, 25, 2); /* uint16 25 */
    rb_fixstr(r, "offence");
    rb_str16(r, "public.order");
    rb_fixstr(r, "location");
    rb_byte(r, 0x82);
    rb_fixstr(r, "id");
    rb_str8(r, "100023336956");
    rb_fixstr(r, "description");
    rb_str32(r, "outside the caf\xc3\xa9 \xe2\x80\x94 Market St");

    r = &ev[3];
    r->n = 0;
    rb_byte(r, 0x88);
    rb_fixstr(r, "summary");
    rb_str32(r, "Noise \xe2\x80\x98"
                  "every night\xe2\x80\x99 \xf0\x9f\x94\x8a");
    rb_fixstr(r, "hate");
    rb_byte(r, 0xc2);
    rb_fixstr(r, "category");
    rb_fixstr(r, "nuisance");
    rb_fixstr(r, "location");
    rb_byte(r, 0x81);
    rb_fixstr(r, "lsoa");
    rb_fixstr(r, "W01000001");
    rb_fixstr(r, "occurred_at");
    rb_fixstr(r, "2025-03-04T23:59:59.999Z");
    rb_fixstr(r, "source");
    rb_fixstr(r, "housing");
    rb_fixstr(r, "type");
    rb_fixstr(r, "asb.report");
    rb_fixstr(r, "id");
    rb_fixstr(r, "odd-4");
    *n = 4;
}

static void test_replay_byte_exact(void **state)
{
    struct tu_logonly_fx *f = *state;
    struct rb ev[8];
    int n = 0;
    odd_events(ev, &n);
    /* Plus ordinary events packed by msgpack-c. */
    msgpack_sbuffer sb[3];
    const char *plain[3] = {asb("plain-1", "P-1", "personal"),
                            "{\"id\":\"plain-2\",\"type\":\"call\",\"source\":\"council\","
                            "\"occurred_at\":\"2025-03-05T12:00:00+00:00\",\"caller\":\"P-5\","
                            "\"category\":\"welfare\"}",
                            "{\"id\":\"plain-3\",\"type\":\"concern\",\"source\":\"school\","
                            "\"occurred_at\":\"2025-03-06T12:00:00Z\",\"subject\":\"P-6\","
                            "\"kind\":\"mental_health\",\"summary\":\"\"}"};
    for (int i = 0; i < 3; i++) {
        msgpack_sbuffer_init(&sb[i]);
        tu_json_to_mp(&sb[i], plain[i]);
        assert_true(sb[i].size < sizeof ev[0].b);
        memcpy(ev[n].b, sb[i].data, sb[i].size);
        ev[n].n = sb[i].size;
        n++;
        msgpack_sbuffer_destroy(&sb[i]);
    }
    for (int i = 0; i < n; i++) {
        msgpack_object r = tu_publish_raw(&f->c, ev[i].b, ev[i].n, i);
        expect_accepted(&r, "accepted", i + 1);
        expect_int(&r, "req", i);
        /* Resending the very bytes is a duplicate. */
        r = tu_publish_raw(&f->c, ev[i].b, ev[i].n, -1);
        expect_accepted(&r, "duplicate", i + 1);
    }
    msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\"}");
    expect_ok(&r);
    assert_int_equal(tu_bool(&r, "end"), 1);
    expect_int(&r, "next", n);
    const msgpack_object *evs = tu_get(&r, "events");
    assert_non_null(evs);
    assert_int_equal(evs->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(evs->via.array.size, n);
    char prev[64] = "";
    for (int i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "events.%d.seq", i);
        expect_int(&r, path, i + 1);
        snprintf(path, sizeof path, "events.%d.received_at", i);
        const char *when = tu_str(&r, path);
        expect_rfc3339_now(when);
        if (strcmp(when, prev) < 0)
            fail_msg("received_at goes back: %s after %s", when, prev);
        snprintf(prev, sizeof prev, "%s", when);
        snprintf(path, sizeof path, "events.%d.event", i);
        const char *p;
        size_t len;
        if (tu_mp_span(f->c.raw, f->c.raw_len, path, &p, &len) != 0)
            fail_msg("no %s in the replay reply", path);
        if (len != ev[i].n || memcmp(p, ev[i].b, len) != 0)
            fail_msg("event %d comes back as %zu bytes that differ from the %zu bytes sent", i,
                     len, ev[i].n);
    }
}

static void test_replay_paging(void **state)
{
    struct tu_logonly_fx *f = *state;
    for (int i = 1; i <= 10; i++) {
        char id[32];
        snprintf(id, sizeof id, "pg-%d", i);
        msgpack_object r = publish(&f->c, asb(id, "P-1", "personal"));
        expect_accepted(&r, "accepted", i);
    }
    /* Page by hand: 3, 3, 3, 1, next = last seq of the page. */
    uint64_t after = 0;
    int pages = 0, total = 0;
    for (;;) {
        msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\",\"after\":%llu,\"max\":3}",
                                   (unsigned long long)after);
        expect_ok(&r);
        const msgpack_object *evs = tu_get(&r, "events");
        assert_non_null(evs);
        uint32_t k = evs->via.array.size;
        for (uint32_t i = 0; i < k; i++) {
            char p[32];
            snprintf(p, sizeof p, "events.%u.seq", i);
            expect_int(&r, p, (int64_t)after + i + 1);
        }
        total += (int)k;
        pages++;
        int end = tu_bool(&r, "end");
        if (total < 10) {
            assert_int_equal(k, 3);
            assert_int_equal(end, 0);
        }
        if (k)
            expect_int(&r, "next", (int64_t)after + k);
        if (end == 1)
            break;
        assert_true(pages < 10);
        after = (uint64_t)tu_int(&r, "next");
    }
    assert_int_equal(total, 10);
    assert_true(pages == 4 || pages == 5);
    /* With the helper, max 1 and max 10000 agree. */
    struct got g[16];
    assert_int_equal(replay_all(&f->c, "", 1, g, 16), 10);
    for (int i = 0; i < 10; i++)
        assert_int_equal(g[i].seq, i + 1);
    assert_int_equal(replay_all(&f->c, "", 10000, g, 16), 10);
    /* After the end: nothing, end true. */
    msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\",\"after\":10}");
    expect_ok(&r);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 0);
    assert_int_equal(tu_bool(&r, "end"), 1);
    r = tu_call(&f->c, "{\"op\":\"replay\",\"max\":0}");
    expect_error(&r, "bad_request", "max");
    r = tu_call(&f->c, "{\"op\":\"replay\",\"max\":10001}");
    expect_error(&r, "bad_request", "max");
}

static void test_replay_after_until(void **state)
{
    struct tu_logonly_fx *f = *state;
    for (int i = 1; i <= 8; i++) {
        char id[32];
        snprintf(id, sizeof id, "au-%d", i);
        msgpack_object r = publish(&f->c, asb(id, "P-1", "personal"));
        expect_accepted(&r, "accepted", i);
    }
    struct got g[16];
    size_t n = replay_all(&f->c, ",\"until\":6", 1000, g, 16);
    assert_int_equal(n, 6);
    msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\",\"after\":3,\"until\":6}");
    expect_ok(&r);
    const msgpack_object *evs = tu_get(&r, "events");
    assert_int_equal(evs->via.array.size, 3);
    expect_int(&r, "events.0.seq", 4);
    expect_str(&r, "events.0.event.id", "au-4");
    expect_int(&r, "events.2.seq", 6);
    expect_str(&r, "events.2.event.id", "au-6");
    assert_int_equal(tu_bool(&r, "end"), 1);
    /* Paged within the bound. */
    n = replay_all(&f->c, ",\"until\":7", 2, g, 16);
    assert_int_equal(n, 7);
    assert_int_equal(g[6].seq, 7);
    /* until past the end: everything after `after`. */
    r = tu_call(&f->c, "{\"op\":\"replay\",\"after\":5,\"until\":100}");
    expect_ok(&r);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 3);
    assert_int_equal(tu_bool(&r, "end"), 1);
    r = tu_call(&f->c, "{\"op\":\"replay\",\"after\":\"3\"}");
    expect_error(&r, "bad_request", "after");
}

/* `after` at the top of the u64 range: nothing is after it. (The scan must
 * not wrap after + 1 to 0 and start again from seq 1.) */
static void test_replay_after_max(void **state)
{
    struct tu_logonly_fx *f = *state;
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "am-%d", i);
        msgpack_object r = publish(&f->c, asb(id, "P-1", "personal"));
        expect_accepted(&r, "accepted", i);
    }
    msgpack_object r = publish(&f->c, asb("am-bad", "P-1", "loud"));
    expect_rejected(&r, "bad_event", "category");
    /* 2^64-2 and 2^64-1 do not fit JSON's int64: MessagePack uint64. */
    static const char max2[] = "\x82\xa2op\xa6replay\xa5" "after"
                               "\xcf\xff\xff\xff\xff\xff\xff\xff\xfe";
    static const char max1[] = "\x82\xa2op\xa6replay\xa5" "after"
                               "\xcf\xff\xff\xff\xff\xff\xff\xff\xff";
    static const char rmax1[] = "\x82\xa2op\xa7rejects\xa5" "after"
                                "\xcf\xff\xff\xff\xff\xff\xff\xff\xff";
    r = tu_call_raw(&f->c, max2, sizeof max2 - 1);
    expect_ok(&r);
    if (tu_get(&r, "events")->via.array.size != 0)
        fail_msg("replay after 2^64-2 returned events: %s", tu_dump(&r));
    r = tu_call_raw(&f->c, max1, sizeof max1 - 1);
    expect_ok(&r);
    if (tu_get(&r, "events")->via.array.size != 0)
        fail_msg("replay after 2^64-1 returned events: %s", tu_dump(&r));
    assert_int_equal(tu_bool(&r, "end"), 1);
    r = tu_call_raw(&f->c, rmax1, sizeof rmax1 - 1);
    expect_ok(&r);
    if (tu_get(&r, "rejects")->via.array.size != 0)
        fail_msg("rejects after 2^64-1 returned rejects: %s", tu_dump(&r));
}

static void test_replay_since_till(void **state)
{
    struct tu_logonly_fx *f = *state;
    /* occurred_at values; offsets are honoured (+02:00 is two hours ahead). */
    static const char *when[] = {
        "2025-03-01T20:59:59Z",      /* 1: before since */
        "2025-03-01T21:00:00Z",      /* 2: == since: in */
        "2025-03-01T23:30:00+02:00", /* 3: 21:30Z: in */
        "2025-03-01T21:59:59.999Z",  /* 4: in */
        "2025-03-01T22:00:00Z",      /* 5: == till: out */
        "2025-03-01T17:30:00-04:00", /* 6: 21:30Z: in */
        "2025-03-02T21:30:00Z",      /* 7: out */
    };
    for (int i = 0; i < 7; i++) {
        char ev[512], id[16];
        snprintf(id, sizeof id, "st-%d", i + 1);
        snprintf(ev, sizeof ev,
                 "{\"id\":\"%s\",\"type\":\"call\",\"source\":\"police\",\"occurred_at\":\"%s\","
                 "\"caller\":\"P-1\",\"category\":\"asb\"}",
                 id, when[i]);
        msgpack_object r = publish(&f->c, ev);
        expect_accepted(&r, "accepted", i + 1);
    }
    struct got g[16];
    size_t n = replay_all(&f->c,
                          ",\"since\":\"2025-03-01T21:00:00Z\",\"till\":\"2025-03-01T22:00:00Z\"",
                          1000, g, 16);
    assert_int_equal(n, 4);
    assert_int_equal(g[0].seq, 2);
    assert_int_equal(g[1].seq, 3);
    assert_int_equal(g[2].seq, 4);
    assert_int_equal(g[3].seq, 6);
    /* since alone, till alone, and an offset in the filter itself. */
    n = replay_all(&f->c, ",\"since\":\"2025-03-02T00:00:00+01:00\"", 1000, g, 16);
    assert_int_equal(n, 1);
    assert_int_equal(g[0].seq, 7);
    n = replay_all(&f->c, ",\"till\":\"2025-03-01T21:00:00Z\"", 1000, g, 16);
    assert_int_equal(n, 1);
    assert_int_equal(g[0].seq, 1);
    /* Paged one at a time, the filter still finds them all. */
    n = replay_all(&f->c,
                   ",\"since\":\"2025-03-01T21:00:00Z\",\"till\":\"2025-03-01T22:00:00Z\"", 1, g,
                   16);
    assert_int_equal(n, 4);
    msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\",\"since\":\"last tuesday\"}");
    expect_error(&r, "bad_request", "since");
    r = tu_call(&f->c, "{\"op\":\"replay\",\"till\":20250301}");
    expect_error(&r, "bad_request", "till");
}

static void test_replay_types(void **state)
{
    struct tu_logonly_fx *f = *state;
    static const char *evs[] = {
        "{\"id\":\"ty-1\",\"type\":\"call\",\"source\":\"police\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"caller\":\"P-1\",\"category\":\"asb\"}",
        "{\"id\":\"ty-2\",\"type\":\"arrest\",\"source\":\"police\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"subject\":\"P-2\",\"offence\":\"theft\"}",
        "{\"id\":\"ty-3\",\"type\":\"asb.report\",\"source\":\"police\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"location\":{\"ward\":\"Abbey\"},"
        "\"category\":\"nuisance\"}",
        "{\"id\":\"ty-4\",\"type\":\"call\",\"source\":\"council\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"caller\":\"P-4\",\"category\":\"other\"}",
        "{\"id\":\"ty-5\",\"type\":\"concern\",\"source\":\"school\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"subject\":\"P-5\",\"kind\":\"hoarding\"}",
    };
    for (int i = 0; i < 5; i++) {
        msgpack_object r = publish(&f->c, evs[i]);
        expect_accepted(&r, "accepted", i + 1);
    }
    struct got g[16];
    size_t n = replay_all(&f->c, ",\"types\":[\"call\"]", 1000, g, 16);
    assert_int_equal(n, 2);
    assert_string_equal(g[0].id, "ty-1");
    assert_string_equal(g[1].id, "ty-4");
    n = replay_all(&f->c, ",\"types\":[\"arrest\",\"concern\"]", 1, g, 16);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].seq, 2);
    assert_int_equal(g[1].seq, 5);
    n = replay_all(&f->c, ",\"types\":[\"da.incident\"]", 1000, g, 16);
    assert_int_equal(n, 0);
    msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\",\"types\":\"call\"}");
    expect_error(&r, "bad_request", "types");
}

static void test_replay_person(void **state)
{
    struct tu_logonly_fx *f = *state;
    static const char *evs[] = {
        /* 1 victim */
        "{\"id\":\"pe-1\",\"type\":\"asb.report\",\"source\":\"police\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"victim\":\"P-1\","
        "\"location\":{\"ward\":\"Abbey\"},\"category\":\"personal\"}",
        /* 2 caller */
        "{\"id\":\"pe-2\",\"type\":\"call\",\"source\":\"police\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"caller\":\"P-1\",\"category\":\"asb\"}",
        /* 3 someone else */
        "{\"id\":\"pe-3\",\"type\":\"call\",\"source\":\"police\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"caller\":\"P-10\",\"category\":\"asb\"}",
        /* 4 subject */
        "{\"id\":\"pe-4\",\"type\":\"arrest\",\"source\":\"police\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"subject\":\"P-1\",\"offence\":\"robbery\"}",
        /* 5 perpetrator */
        "{\"id\":\"pe-5\",\"type\":\"da.incident\",\"source\":\"police\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"victim\":\"P-2\",\"perpetrator\":\"P-1\"}",
        /* 6 P-1 only as free text and a location id: not a person field */
        "{\"id\":\"pe-6\",\"type\":\"concern\",\"source\":\"school\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"subject\":\"P-3\",\"kind\":\"other\","
        "\"summary\":\"P-1\"}",
        /* 7 the id itself is P-1: not a person field either */
        "{\"id\":\"P-1\",\"type\":\"asb.report\",\"source\":\"police\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"location\":{\"id\":\"P-1\"},"
        "\"category\":\"environmental\"}",
        /* 8 subject of a missing episode */
        "{\"id\":\"pe-8\",\"type\":\"missing.episode\",\"source\":\"police\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"subject\":\"P-1\",\"age\":14}",
        /* 9 applicant */
        "{\"id\":\"pe-9\",\"type\":\"case.review.request\",\"source\":\"council\","
        "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"applicant\":\"P-1\",\"summary\":\"x\"}",
    };
    for (int i = 0; i < 9; i++) {
        msgpack_object r = publish(&f->c, evs[i]);
        expect_accepted(&r, "accepted", i + 1);
    }
    static const uint64_t want[] = {1, 2, 4, 5, 8, 9};
    struct got g[16];
    size_t n = replay_all(&f->c, ",\"person\":\"P-1\"", 1000, g, 16);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(g[i].seq, want[i]);
    n = replay_all(&f->c, ",\"person\":\"P-1\"", 2, g, 16);
    assert_int_equal(n, 6);
    n = replay_all(&f->c, ",\"person\":\"P-2\"", 1000, g, 16);
    assert_int_equal(n, 1);
    assert_int_equal(g[0].seq, 5);
    n = replay_all(&f->c, ",\"person\":\"P-1\",\"types\":[\"call\",\"arrest\"]", 1000, g, 16);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].seq, 2);
    assert_int_equal(g[1].seq, 4);
    n = replay_all(&f->c, ",\"person\":\"P-99\"", 1000, g, 16);
    assert_int_equal(n, 0);
    msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\",\"person\":\"Jane Doe\"}");
    expect_error(&r, "bad_request", "person");
}

/* ---- rejects, stats, req ------------------------------------------------ */

static void test_rejects_listing(void **state)
{
    struct tu_logonly_fx *f = *state;
    struct {
        const char *json, *source, *code, *field;
    } bad[] = {
        {"{\"id\":\"rj-1\",\"type\":\"asb.report\",\"source\":\"police\","
         "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"location\":{\"ward\":\"A\"},"
         "\"category\":\"loud\"}",
         "police", "bad_event", "category"},
        {"{\"id\":\"rj-2\",\"type\":\"graffiti\",\"source\":\"council\","
         "\"occurred_at\":\"2025-03-01T21:00:00Z\"}",
         "council", "unknown_type", "type"},
        {"{\"id\":\"rj-3\",\"type\":\"referral\",\"source\":\"housing\","
         "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"subject\":\"S\",\"panel\":\"nope\","
         "\"reason\":\"r\"}",
         "housing", "unknown_panel", "panel"},
        {"{\"id\":\"rj-4\",\"type\":\"call\",\"source\":\"police\","
         "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"caller\":\"John Smith\","
         "\"category\":\"asb\"}",
         "police", "bad_event", "caller"},
        {"{\"id\":\"ok-1\",\"type\":\"call\",\"source\":\"police\","
         "\"occurred_at\":\"2025-03-01T21:00:00Z\",\"caller\":\"P-1\","
         "\"category\":\"crime\"}",
         "police", "id_conflict", "id"},
    };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_object r = publish(&f->c, "{\"id\":\"ok-1\",\"type\":\"call\",\"source\":\"police\","
                                      "\"occurred_at\":\"2025-03-01T21:00:00Z\","
                                      "\"caller\":\"P-1\",\"category\":\"asb\"}");
    expect_accepted(&r, "accepted", 1);
    unsigned char *sent[5];
    size_t sent_len[5];
    for (int i = 0; i < 5; i++) {
        r = publish_bytes(&f->c, &sb, bad[i].json);
        expect_rejected(&r, bad[i].code, bad[i].field);
        sent[i] = malloc(sb.size);
        memcpy(sent[i], sb.data, sb.size);
        sent_len[i] = sb.size;
    }
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(last_seq(&f->c), 1);
    /* All at once. */
    r = tu_call(&f->c, "{\"op\":\"rejects\"}");
    expect_ok(&r);
    assert_int_equal(tu_bool(&r, "end"), 1);
    expect_int(&r, "next", 5);
    const msgpack_object *rj = tu_get(&r, "rejects");
    assert_non_null(rj);
    assert_int_equal(rj->via.array.size, 5);
    for (int i = 0; i < 5; i++) {
        char p[64];
        snprintf(p, sizeof p, "rejects.%d.id", i);
        expect_int(&r, p, i + 1);
        snprintf(p, sizeof p, "rejects.%d.source", i);
        expect_str(&r, p, bad[i].source);
        snprintf(p, sizeof p, "rejects.%d", i);
        expect_error_at(&r, p, bad[i].code, bad[i].field);
        snprintf(p, sizeof p, "rejects.%d.received_at", i);
        expect_rfc3339_now(tu_str(&r, p));
        snprintf(p, sizeof p, "rejects.%d.bytes", i);
        const msgpack_object *b = tu_get(&r, p);
        if (!b || b->type != MSGPACK_OBJECT_BIN)
            fail_msg("%s must be bin: %s", p, tu_dump(&r));
        if (b->via.bin.size != sent_len[i] || memcmp(b->via.bin.ptr, sent[i], sent_len[i]) != 0)
            fail_msg("%s differ from the event bytes sent", p);
    }
    /* Paged by two. */
    uint64_t after = 0;
    int seen = 0;
    for (int pages = 0; pages < 10; pages++) {
        r = tu_call(&f->c, "{\"op\":\"rejects\",\"after\":%llu,\"max\":2}",
                    (unsigned long long)after);
        expect_ok(&r);
        rj = tu_get(&r, "rejects");
        assert_true(rj->via.array.size <= 2);
        for (uint32_t i = 0; i < rj->via.array.size; i++) {
            char p[64];
            snprintf(p, sizeof p, "rejects.%u.id", i);
            expect_int(&r, p, ++seen);
        }
        if (tu_bool(&r, "end") == 1)
            break;
        assert_int_equal(tu_bool(&r, "end"), 0);
        after = (uint64_t)tu_int(&r, "next");
    }
    assert_int_equal(seen, 5);
    r = tu_call(&f->c, "{\"op\":\"rejects\",\"after\":3}");
    expect_ok(&r);
    assert_int_equal(tu_get(&r, "rejects")->via.array.size, 2);
    expect_int(&r, "rejects.0.id", 4);
    for (int i = 0; i < 5; i++)
        free(sent[i]);
}

static void test_stats_counters(void **state)
{
    struct tu_logonly_fx *f = *state;
    msgpack_object r;
    for (int i = 0; i < 4; i++) {
        char id[16];
        snprintf(id, sizeof id, "s-%d", i);
        r = publish(&f->c, asb(id, "P-1", "personal"));
        expect_accepted(&r, "accepted", i + 1);
    }
    for (int i = 0; i < 3; i++) {
        r = publish(&f->c, asb("s-0", "P-1", "personal"));
        expect_accepted(&r, "duplicate", 1);
    }
    r = publish(&f->c, asb("s-1", "P-1", "nuisance"));
    expect_rejected(&r, "id_conflict", "id");
    r = publish(&f->c, asb("s-9", "P-1", "loud"));
    expect_rejected(&r, "bad_event", "category");
    r = publish(&f->c, asb("s-10", "P 1", "personal"));
    expect_rejected(&r, "bad_event", "victim");
    r = publish(&f->c, "{\"id\":\"s-11\",\"type\":\"x\",\"source\":\"police\","
                       "\"occurred_at\":\"2025-03-01T21:00:00Z\"}");
    expect_rejected(&r, "unknown_type", "type");
    /* A batch counts per event. */
    r = tu_call(&f->c, "{\"op\":\"publish\",\"events\":[%s,%s,%s]}",
                asb("s-20", "P-1", "personal"), asb("s-0", "P-1", "personal"),
                asb("s-21", "P-1", "bad"));
    expect_ok(&r);
    r = tu_call(&f->c, "{\"op\":\"stats\"}");
    expect_ok(&r);
    expect_int(&r, "counters.accepted", 5);
    expect_int(&r, "counters.duplicate", 4);
    expect_int(&r, "counters.rejected.bad_event", 3);
    expect_int(&r, "counters.rejected.id_conflict", 1);
    expect_int(&r, "counters.rejected.unknown_type", 1);
    /* Where the batches' time went: both counters exist, and committing
     * (a synced write) took some of it. */
    const msgpack_object *work = tu_get(&r, "counters.batch_work_us"),
                         *commit = tu_get(&r, "counters.commit_us");
    assert_non_null(work);
    assert_non_null(commit);
    assert_int_equal(work->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(commit->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_true(commit->via.u64 > 0);
    assert_int_equal(last_seq(&f->c), 5);
}

static void test_req_echo(void **state)
{
    struct tu_logonly_fx *f = *state;
    msgpack_object r = tu_call(&f->c, "{\"op\":\"ping\",\"req\":\"abc-123\"}");
    expect_ok(&r);
    expect_str(&r, "req", "abc-123");
    r = tu_call(&f->c, "{\"op\":\"ping\",\"req\":42}");
    expect_int(&r, "req", 42);
    r = tu_call(&f->c, "{\"op\":\"ping\",\"req\":-7}");
    expect_int(&r, "req", -7);
    r = tu_call(&f->c, "{\"op\":\"ping\"}");
    expect_ok(&r);
    if (tu_get(&r, "req"))
        fail_msg("req must be absent when not sent: %s", tu_dump(&r));
    /* Verbatim: bin, a uint64-encoded 5 and a str16-encoded string come back
     * as the same bytes. */
    static const struct {
        const char *bytes;
        size_t len;
    } reqs[] = {
        {"\xc4\x04\x00\xff\x10\x20", 6},
        {"\xcf\x00\x00\x00\x00\x00\x00\x00\x05", 9},
        {"\xda\x00\x03xyz", 6},
        {"\xcb\x40\x09\x21\xfb\x54\x44\x2d\x18", 9},
        {"\xc0", 1},
        {"\xc3", 1},
    };
    static const char *ops[] = {"\xa4ping", "\xa5stats", "\xa7nope.op"};
    for (size_t o = 0; o < 3; o++) {
        for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
            unsigned char msg[64];
            size_t n = 0;
            memcpy(msg + n, "\x82\xa3req", 5);
            n += 5;
            memcpy(msg + n, reqs[i].bytes, reqs[i].len);
            n += reqs[i].len;
            memcpy(msg + n, "\xa2op", 3);
            n += 3;
            memcpy(msg + n, ops[o], strlen(ops[o]));
            n += strlen(ops[o]);
            r = tu_call_raw(&f->c, msg, n);
            if (o == 2)
                expect_error(&r, "bad_op", NULL);
            else
                expect_ok(&r);
            const char *p;
            size_t len;
            if (tu_mp_span(f->c.raw, f->c.raw_len, "req", &p, &len) != 0)
                fail_msg("req %zu not echoed: %s", i, tu_dump(&r));
            if (len != reqs[i].len || memcmp(p, reqs[i].bytes, len) != 0)
                fail_msg("req %zu not echoed verbatim", i);
        }
    }
    /* Echoed on every kind of reply: publish (single, batch, rejected),
     * replay, rejects, bad_request. */
    r = tu_call(&f->c, "{\"op\":\"publish\",\"req\":\"q1\",\"event\":%s}",
                asb("q-1", "P-1", "personal"));
    expect_accepted(&r, "accepted", 1);
    expect_str(&r, "req", "q1");
    r = tu_call(&f->c, "{\"op\":\"publish\",\"req\":2,\"event\":%s}",
                asb("q-2", "P-1", "loud"));
    expect_rejected(&r, "bad_event", "category");
    expect_int(&r, "req", 2);
    r = tu_call(&f->c, "{\"op\":\"publish\",\"req\":3,\"events\":[%s]}",
                asb("q-1", "P-1", "personal"));
    expect_ok(&r);
    expect_int(&r, "req", 3);
    r = tu_call(&f->c, "{\"op\":\"replay\",\"req\":4}");
    expect_ok(&r);
    expect_int(&r, "req", 4);
    r = tu_call(&f->c, "{\"op\":\"rejects\",\"req\":5}");
    expect_ok(&r);
    expect_int(&r, "req", 5);
    r = tu_call(&f->c, "{\"op\":\"replay\",\"req\":6,\"max\":-1}");
    expect_error(&r, "bad_request", "max");
    expect_int(&r, "req", 6);
    r = tu_call(&f->c, "{\"req\":7}");
    expect_error(&r, "bad_request", "op");
    expect_int(&r, "req", 7);
}

/* Many requests in flight on one DEALER: every reply matched by req. */
static void test_req_pipelined(void **state)
{
    struct tu_logonly_fx *f = *state;
    enum { N = 300 };
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "pipe-%d", i);
        assert_int_equal(tu_send(&f->c, "{\"op\":\"publish\",\"req\":%d,\"event\":%s}", i,
                                 asb(id, "P-1", i % 7 ? "personal" : "loud")),
                         0);
    }
    static char seen[N];
    memset(seen, 0, sizeof seen);
    int64_t deadline = tu_now_ms() + 20000;
    for (int got = 0; got < N; got++) {
        msgpack_object r;
        int64_t left = deadline - tu_now_ms();
        if (left <= 0 || tu_recv(&f->c, (int)left, &r) != 0)
            fail_msg("only %d of %d replies arrived", got, N);
        int64_t req = tu_int(&r, "req");
        if (req < 0 || req >= N || seen[req])
            fail_msg("reply with unexpected req: %s", tu_dump(&r));
        seen[req] = 1;
        if (req % 7)
            expect_str(&r, "status", "accepted");
        else
            expect_rejected(&r, "bad_event", "category");
    }
    assert_int_equal(last_seq(&f->c), N - (N + 6) / 7);
}

/* Publishes and pings sent without waiting, interleaved, on one DEALER:
 * replies come back in the order sent, and each ping's last_seq already
 * holds the publish sent just before it (a read after a write of the same
 * client waits for that write's commit). */
static void test_read_after_write_pipelined(void **state)
{
    struct tu_logonly_fx *f = *state;
    enum { N = 200 };
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "rw-%d", i);
        assert_int_equal(tu_send(&f->c, "{\"op\":\"publish\",\"req\":%d,\"event\":%s}", 2 * i,
                                 asb(id, "P-2", "personal")),
                         0);
        assert_int_equal(tu_send(&f->c, "{\"op\":\"ping\",\"req\":%d}", 2 * i + 1), 0);
    }
    int64_t deadline = tu_now_ms() + 20000, seq = 0;
    for (int got = 0; got < 2 * N; got++) {
        msgpack_object r;
        int64_t left = deadline - tu_now_ms();
        if (left <= 0 || tu_recv(&f->c, (int)left, &r) != 0)
            fail_msg("only %d of %d replies arrived", got, 2 * N);
        if (tu_int(&r, "req") != got)
            fail_msg("reply %d out of order: %s", got, tu_dump(&r));
        if (got % 2 == 0) {
            expect_str(&r, "status", "accepted");
            seq = tu_int(&r, "seq");
        } else if (tu_int(&r, "last_seq") < seq) {
            fail_msg("a ping sent after the publish of seq %lld says last_seq %lld",
                     (long long)seq, (long long)tu_int(&r, "last_seq"));
        }
    }
}

/* Several clients at once: their requests share group commits, and the
 * log stays gap-free with each reply's seq unique. */
static void test_many_clients(void **state)
{
    struct tu_logonly_fx *f = *state;
    enum { NC = 8, PER = 250 };
    struct tu_client cl[NC];
    for (int k = 0; k < NC; k++) {
        tu_client_open(&cl[k], f->hub.endpoint, ZMQ_DEALER);
        msgpack_object r = tu_call(&cl[k], "{\"op\":\"ping\"}"); /* connected */
        expect_ok(&r);
    }
    for (int i = 0; i < PER; i++)
        for (int k = 0; k < NC; k++) {
            char id[32];
            snprintf(id, sizeof id, "mc-%d-%d", k, i);
            assert_int_equal(tu_send(&cl[k], "{\"op\":\"publish\",\"req\":%d,\"event\":%s}", i,
                                     asb(id, "P-1", "nuisance")),
                             0);
        }
    static char seen[NC * PER + 1];
    memset(seen, 0, sizeof seen);
    int64_t deadline = tu_now_ms() + 30000;
    for (int k = 0; k < NC; k++)
        for (int i = 0; i < PER; i++) {
            msgpack_object r;
            int64_t left = deadline - tu_now_ms();
            if (left <= 0 || tu_recv(&cl[k], (int)left, &r) != 0)
                fail_msg("client %d: only %d of %d replies", k, i, PER);
            expect_str(&r, "status", "accepted");
            int64_t seq = tu_int(&r, "seq");
            if (seq < 1 || seq > NC * PER || seen[seq])
                fail_msg("seq %lld out of range or given twice", (long long)seq);
            seen[seq] = 1;
        }
    for (int k = 0; k < NC; k++)
        tu_client_close(&cl[k]);
    assert_int_equal(last_seq(&f->c), NC * PER);
}

/* The same events from several clients at once: exactly one accepted per
 * event, every other answer a duplicate naming the same seq. */
static void test_concurrent_duplicates(void **state)
{
    struct tu_logonly_fx *f = *state;
    enum { NC = 4, NE = 300 };
    struct tu_client cl[NC];
    msgpack_sbuffer ev[NE];
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (int i = 0; i < NE; i++) {
        char id[32];
        snprintf(id, sizeof id, "cd-%d", i);
        msgpack_sbuffer_init(&ev[i]);
        tu_json_to_mp(&ev[i], asb(id, "P-1", "personal"));
    }
    for (int k = 0; k < NC; k++) {
        tu_client_open(&cl[k], f->hub.endpoint, ZMQ_DEALER);
        msgpack_object r = tu_call(&cl[k], "{\"op\":\"ping\"}");
        expect_ok(&r);
    }
    for (int i = 0; i < NE; i++)
        for (int k = 0; k < NC; k++) {
            tu_publish_request(&sb, ev[i].data, ev[i].size, i);
            assert_int_equal(tu_send_raw(&cl[k], sb.data, sb.size), 0);
        }
    static int64_t seq_of[NE];
    static int accepted[NE];
    memset(seq_of, 0, sizeof seq_of);
    memset(accepted, 0, sizeof accepted);
    int64_t deadline = tu_now_ms() + 30000;
    for (int k = 0; k < NC; k++)
        for (int n = 0; n < NE; n++) {
            msgpack_object r;
            int64_t left = deadline - tu_now_ms();
            if (left <= 0 || tu_recv(&cl[k], (int)left, &r) != 0)
                fail_msg("client %d: only %d of %d replies", k, n, NE);
            int64_t i = tu_int(&r, "req"), seq = tu_int(&r, "seq");
            const char *st = tu_str(&r, "status");
            if (i < 0 || i >= NE || seq < 1 || !st)
                fail_msg("unexpected reply %s", tu_dump(&r));
            if (seq_of[i] && seq_of[i] != seq)
                fail_msg("event cd-%lld answered with seq %lld and %lld", (long long)i,
                         (long long)seq_of[i], (long long)seq);
            seq_of[i] = seq;
            if (!strcmp(st, "accepted"))
                accepted[i]++;
            else if (strcmp(st, "duplicate"))
                fail_msg("unexpected reply %s", tu_dump(&r));
        }
    for (int i = 0; i < NE; i++)
        if (accepted[i] != 1)
            fail_msg("event cd-%d accepted %d times", i, accepted[i]);
    for (int k = 0; k < NC; k++)
        tu_client_close(&cl[k]);
    for (int i = 0; i < NE; i++)
        msgpack_sbuffer_destroy(&ev[i]);
    msgpack_sbuffer_destroy(&sb);
    assert_int_equal(last_seq(&f->c), NE);
    struct got g[NE + 1];
    assert_int_equal(replay_all(&f->c, "", 1000, g, NE + 1), NE);
}

static void test_req_socket(void **state)
{
    struct tu_logonly_fx *f = *state;
    struct tu_client q;
    tu_client_open(&q, f->hub.endpoint, ZMQ_REQ);
    msgpack_object r = tu_call(&q, "{\"op\":\"ping\",\"req\":1}");
    expect_ok(&r);
    expect_int(&r, "req", 1);
    expect_int(&r, "last_seq", 0);
    r = tu_call(&q, "{\"op\":\"publish\",\"event\":%s}", asb("rq-1", "P-1", "personal"));
    expect_accepted(&r, "accepted", 1);
    r = tu_call(&q, "{\"op\":\"publish\",\"event\":%s}", asb("rq-1", "P-1", "personal"));
    expect_accepted(&r, "duplicate", 1);
    r = tu_call(&q, "{\"op\":\"publish\",\"event\":%s}", asb("rq-2", "P-1", "loud"));
    expect_rejected(&r, "bad_event", "category");
    r = tu_call(&q, "{\"op\":\"replay\"}");
    expect_ok(&r);
    expect_str(&r, "events.0.event.id", "rq-1");
    r = tu_call_raw(&q, "\xc1", 1);
    expect_error(&r, "bad_request", NULL);
    r = tu_call(&q, "{\"op\":\"stats\"}");
    expect_ok(&r);
    /* The DEALER client sees the same log. */
    assert_int_equal(last_seq(&f->c), 1);
    tu_client_close(&q);
}

static void test_bad_op(void **state)
{
    struct tu_logonly_fx *f = *state;
    msgpack_object r = tu_call(&f->c, "{\"op\":\"frobnicate\",\"req\":9}");
    expect_error(&r, "bad_op", NULL);
    expect_int(&r, "req", 9);
    r = tu_call(&f->c, "{\"op\":\"PING\"}");
    expect_error(&r, "bad_op", NULL);
    r = tu_call(&f->c, "{\"op\":\"\"}");
    expect_error(&r, "bad_op", NULL);
}

static void test_unknown_request_field(void **state)
{
    struct tu_logonly_fx *f = *state;
    static const char *reqs[][2] = {
        {"{\"op\":\"ping\",\"colour\":1}", "colour"},
        {"{\"op\":\"replay\",\"tpyes\":[\"call\"]}", "tpyes"},
        {"{\"op\":\"rejects\",\"person\":\"P-1\"}", "person"},
        {"{\"op\":\"publish\",\"event\":{},\"evnets\":[]}", "evnets"},
    };
    for (size_t i = 0; i < sizeof reqs / sizeof *reqs; i++) {
        msgpack_object r = tu_call(&f->c, "%s", reqs[i][0]);
        expect_error(&r, "bad_request", NULL);
        const char *m = tu_str(&r, "error.message");
        if (!m || !strstr(m, reqs[i][1]))
            fail_msg("the message does not name '%s': %s", reqs[i][1], tu_dump(&r));
    }
    assert_int_equal(last_seq(&f->c), 0);
}

/* PROTOCOL.md 2: `field` is the dotted path of the offending field "when
 * there is one"; an unknown request field is one (as an unknown event field
 * is, where the hub does set it). */
static void test_unknown_request_field_sets_field(void **state)
{
    struct tu_logonly_fx *f = *state;
    msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\",\"tpyes\":[\"call\"]}");
    expect_error(&r, "bad_request", "tpyes");
}

/* ---- restart -------------------------------------------------------------- */

/* Copy src to dst, replacing the first `from` with `to` (when from). */
static void copy_edit(const char *src, const char *dst, const char *from, const char *to)
{
    FILE *in = fopen(src, "r"), *out = fopen(dst, "w");
    assert_non_null(in);
    assert_non_null(out);
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, in);
    text[n] = 0;
    char *hit = from ? strstr(text, from) : NULL;
    if (from)
        assert_non_null(hit);
    if (hit) {
        fwrite(text, 1, (size_t)(hit - text), out);
        fputs(to, out);
        fputs(hit + strlen(from), out);
    } else {
        fputs(text, out);
    }
    fclose(in);
    fclose(out);
}

static int64_t counter(struct tu_client *c, const char *name)
{
    msgpack_object r = tu_call(c, "{\"op\":\"stats\"}");
    char path[128];
    snprintf(path, sizeof path, "counters.%s", name);
    return tu_int(&r, path);
}

/* A hub on tmp/data run with tmp/hub.yaml holding config, and a DEALER to it. */
static void start_configured(const char *tmp, const char *config, struct tu_hub *hub,
                             struct tu_client *c)
{
    char cfg[700], data[700];
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", tmp);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fputs(config, f);
    fclose(f);
    snprintf(data, sizeof data, "%s/data", tmp);
    assert_int_equal(tu_hub_start(hub, data, "--config", cfg, NULL), 0);
    tu_client_open(c, hub->endpoint, ZMQ_DEALER);
}

/* SIGHUP with a broken rules file leaves the running rules in force; a good
 * one replaces them (and the alerts' rule_version changes). */
static void test_rules_reload(void **state)
{
    char *tmp = tu_tmpdir("reload"), path[700], rules[700];
    const char *conf = tu_env("CSPH_CONFIG_DIR", CSPH_SOURCE_DIR "/config");
    snprintf(rules, sizeof rules, "%s/rules.yaml", tmp);
    snprintf(path, sizeof path, "%s/rules.yaml", conf);
    copy_edit(path, rules, NULL, NULL);
    snprintf(path, sizeof path, "%s/calendar.yaml", conf);
    char cal[700];
    snprintf(cal, sizeof cal, "%s/calendar.yaml", tmp);
    copy_edit(path, cal, NULL, NULL);
    struct tu_hub hub;
    struct tu_client c;
    start_configured(tmp, "rules_file: rules.yaml\n", &hub, &c);
    const char *da = "{\"op\":\"publish\",\"event\":{\"id\":\"%s\",\"type\":\"da.incident\","
                     "\"source\":\"police\",\"occurred_at\":\"2025-04-01T22:00:00Z\","
                     "\"victim\":\"%s\",\"dash_score\":16}}";
    /* seq 1 is the hub's record of the rules it put in force (rules.loaded) */
    msgpack_object r = tu_call(&c, da, "da-1", "V-1");
    expect_accepted(&r, "accepted", 2);
    assert_int_equal(counter(&c, "alerts.marac"), 1);
    r = tu_call(&c, "{\"op\":\"stats\"}");
    char version[64];
    snprintf(version, sizeof version, "%s", tu_str(&r, "counters.rule_version"));

    /* a broken file: refused, the running rules stay */
    copy_edit(path, rules, NULL, NULL); /* path is the calendar: not a rule file */
    kill(hub.pid, SIGHUP);
    int64_t deadline = tu_now_ms() + 10000;
    while (counter(&c, "rule_reload_failures") < 1 && tu_now_ms() < deadline)
        ;
    assert_int_equal(counter(&c, "rule_reload_failures"), 1);
    r = tu_call(&c, da, "da-2", "V-2");
    expect_accepted(&r, "accepted", 3);
    assert_int_equal(counter(&c, "alerts.marac"), 2);
    r = tu_call(&c, "{\"op\":\"stats\"}");
    assert_string_equal(tu_str(&r, "counters.rule_version"), version);

    /* a good file with a higher DASH threshold: in force from the reload */
    snprintf(path, sizeof path, "%s/rules.yaml", conf);
    copy_edit(path, rules, "- any: [\"dash_score >= 14\", \"risk = high\"]",
              "- any: [\"dash_score >= 20\", \"risk = high\"]");
    kill(hub.pid, SIGHUP);
    deadline = tu_now_ms() + 10000;
    while (counter(&c, "rule_reloads") < 1 && tu_now_ms() < deadline)
        ;
    assert_int_equal(counter(&c, "rule_reloads"), 1);
    r = tu_call(&c, da, "da-3", "V-3"); /* seq 4: the new rules, recorded */
    expect_accepted(&r, "accepted", 5);
    assert_int_equal(counter(&c, "alerts.marac"), 2);
    r = tu_call(&c, "{\"op\":\"stats\"}");
    assert_string_not_equal(tu_str(&r, "counters.rule_version"), version);
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    tu_rmrf(tmp);
    free(tmp);
}

/* Whether the hub's log (its stderr) has a line containing what. */
static int hub_logged(const struct tu_hub *h, const char *what)
{
    FILE *fp = fopen(h->log, "r");
    char line[2048];
    int found = 0;
    while (fp && !found && fgets(line, sizeof line, fp))
        found = strstr(line, what) != NULL;
    if (fp)
        fclose(fp);
    return found;
}

/* A publish of n concern events of about 2 KB each (ids prefix-0...). */
static char *big_batch(const char *prefix, int n)
{
    static char summary[2001];
    memset(summary, 's', 2000);
    size_t cap = (size_t)n * 2300 + 64, len = 0;
    char *b = malloc(cap);
    len += (size_t)snprintf(b, cap, "{\"op\":\"publish\",\"events\":[");
    for (int i = 0; i < n; i++)
        len += (size_t)snprintf(b + len, cap - len,
                                "%s{\"id\":\"%s-%d\",\"type\":\"concern\",\"source\":\"council\","
                                "\"occurred_at\":\"2025-03-01T10:00:00Z\",\"subject\":\"P-%d\","
                                "\"kind\":\"other\",\"summary\":\"%s\"}",
                                i ? "," : "", prefix, i, i, summary);
    snprintf(b + len, cap - len, "]}");
    return b;
}

/* The index (idempotency entries, rule state) of a few batches is committed
 * together, after theirs in the log. A batch that then fails (here: the
 * log is full) takes the index of the batches held with it; they are in the
 * log, so the next batch brings the index level first. A resend of a held
 * batch's event is still a duplicate at its seq, and the rules still count
 * its events. */
static void test_failed_batch_keeps_index(void **state)
{
    char *tmp = tu_tmpdir("fullmap");
    struct tu_hub hub;
    struct tu_client c;
    /* index_hold_ms: the two small batches are still held when the big one
     * fails, however slow this machine is. */
    start_configured(tmp, "limits:\n  map_size_mb: 16\n  index_hold_ms: 60000\n", &hub, &c);
    msgpack_object r;
    /* Fill the log until a batch of 400 (about 900 KB) no longer fits. */
    int busy = 0;
    for (int i = 0; i < 40 && !busy; i++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "fill%d", i);
        char *b = big_batch(prefix, 400);
        r = tu_call(&c, "%s", b);
        free(b);
        const msgpack_object *e = tu_get(&r, "error.code");
        busy = e && !strcmp(tu_str(&r, "error.code"), "busy");
    }
    assert_true(busy);
    /* Two small batches still fit: two of the three ASB reports that bring
     * victim V-7 to the ASB Case Review. */
    r = tu_call(&c, "{\"op\":\"publish\",\"event\":%s}", asb("v7-a", "V-7", "personal"));
    expect_str(&r, "status", "accepted");
    int64_t seq_a = tu_int(&r, "seq");
    r = tu_call(&c, "{\"op\":\"publish\",\"event\":%s}", asb("v7-b", "V-7", "personal"));
    expect_str(&r, "status", "accepted");
    int64_t seq_b = tu_int(&r, "seq");
    assert_int_equal(seq_b, seq_a + 1);
    /* The big batch again: busy, nothing done. */
    char *b = big_batch("again", 400);
    r = tu_call(&c, "%s", b);
    free(b);
    expect_error(&r, "busy", NULL);
    /* v7-a again: a duplicate at its seq, not a new event. */
    r = tu_call(&c, "{\"op\":\"publish\",\"event\":%s}", asb("v7-a", "V-7", "personal"));
    expect_accepted(&r, "duplicate", seq_a);
    char line[96];
    snprintf(line, sizeof line, "bringing the index level with the log: events %lld to %lld",
             (long long)seq_a, (long long)seq_b);
    if (!hub_logged(&hub, line))
        fail_msg("the hub's log has no '%s' (see %s)", line, hub.log);
    /* The third report: the window counts all three, each once. */
    r = tu_call(&c, "{\"op\":\"publish\",\"event\":%s}", asb("v7-c", "V-7", "personal"));
    expect_accepted(&r, "accepted", seq_b + 1);
    r = tu_call(&c, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\"}");
    const msgpack_object *a = tu_get(&r, "alerts");
    assert_non_null(a);
    assert_int_equal(a->via.array.size, 1);
    assert_string_equal(tu_str(&r, "alerts.0.key.victim"), "V-7");
    assert_int_equal(tu_get(&r, "alerts.0.evidence")->via.array.size, 3);
    assert_int_equal(tu_int(&r, "alerts.0.evidence.0"), seq_a);
    assert_int_equal(tu_int(&r, "alerts.0.evidence.2"), seq_b + 1);
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    tu_rmrf(tmp);
    free(tmp);
}

/* ---- bounded replies: fetch, alerts, evidence, replay, rejects --------- */

/* Write text to dir/name. */
static void write_file(const char *dir, const char *name, const char *text)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* A panels file of our own: what config/ holds may change under us. */
static const char test_panels[] = "panels:\n"
                                  "  tasking: {title: \"Tasking\"}\n"
                                  "  marac: {title: \"MARAC\"}\n"
                                  "  channel: {title: \"Channel\", restricted: true}\n";

#define PG_REPLY_MAX 8192
#define PG_KEYS 30     /* places with PG_PER_KEY reports each */
#define PG_PER_KEY 200 /* the first tier */
#define PG_BIG 3000    /* one more place: both tiers, the second alone > PG_REPLY_MAX */
#define PG_EVENTS (PG_KEYS * PG_PER_KEY + PG_BIG)

/* Every place's reports, by seq in the order published. */
struct pg {
    uint64_t seqs[PG_KEYS + 1][PG_BIG];
    size_t n[PG_KEYS + 1];
};

/* An alert as read from a reply, its evidence copied out. */
struct galert {
    uint64_t id;
    int key;       /* the place index, from key["location.lsoa"] */
    uint64_t *ev;
    size_t nev;
    int cut;       /* it came with evidence_total and evidence_next */
    uint64_t total, next;
};

static void pg_reply_bounded(const struct tu_client *c, const msgpack_object *r)
{
    if (c->raw_len > PG_REPLY_MAX)
        fail_msg("a reply of %zu bytes, over reply_max_bytes %d: %.300s", c->raw_len,
                 PG_REPLY_MAX, tu_dump(r));
}

/* Copy the alerts of a reply's `alerts` array into out[*n...]. */
static void take_alerts(const msgpack_object *r, struct galert *out, size_t *n, size_t cap)
{
    const msgpack_object *arr = tu_get(r, "alerts");
    if (!arr || arr->type != MSGPACK_OBJECT_ARRAY)
        fail_msg("no alerts array: %.300s", tu_dump(r));
    for (uint32_t i = 0; i < arr->via.array.size; i++) {
        const msgpack_object *a = &arr->via.array.ptr[i];
        if (*n >= cap)
            fail_msg("more than %zu alerts", cap);
        struct galert *g = &out[(*n)++];
        memset(g, 0, sizeof *g);
        g->id = (uint64_t)tu_int(a, "id");
        const msgpack_object *key = tu_get(a, "key"), *ev = tu_get(a, "evidence");
        if (!key || key->type != MSGPACK_OBJECT_MAP || key->via.map.size != 1 ||
            key->via.map.ptr[0].val.type != MSGPACK_OBJECT_STR || !ev ||
            ev->type != MSGPACK_OBJECT_ARRAY)
            fail_msg("alert without a one-field key or evidence: %.300s", tu_dump(a));
        const msgpack_object_str *lsoa = &key->via.map.ptr[0].val.via.str;
        char text[16];
        snprintf(text, sizeof text, "%.*s", (int)lsoa->size, lsoa->ptr);
        g->key = atoi(text + 3) - 100000;
        if (g->key < 0 || g->key > PG_KEYS)
            fail_msg("alert for an unknown place %s", text);
        g->nev = ev->via.array.size;
        g->ev = malloc((g->nev ? g->nev : 1) * sizeof *g->ev);
        for (uint32_t j = 0; j < g->nev; j++)
            g->ev[j] = ev->via.array.ptr[j].via.u64;
        const msgpack_object *tot = tu_get(a, "evidence_total"), *nx = tu_get(a, "evidence_next");
        if (!tot != !nx)
            fail_msg("evidence_total and evidence_next come together: %.300s", tu_dump(a));
        if (tot) {
            g->cut = 1;
            g->total = tot->via.u64;
            g->next = nx->via.u64;
            if (g->next != g->nev || g->total <= g->nev)
                fail_msg("a cut alert gives %zu of %llu with evidence_next %llu", g->nev,
                         (unsigned long long)g->total, (unsigned long long)g->next);
        }
    }
}

/* The rest of a cut alert's evidence from the `evidence` op, max per
 * reply (0: as many as fit). */
static void complete_evidence(struct tu_client *c, struct galert *g, unsigned max)
{
    g->ev = realloc(g->ev, g->total * sizeof *g->ev);
    int pages = 0;
    for (;;) {
        char mx[32] = "";
        if (max)
            snprintf(mx, sizeof mx, ",\"max\":%u", max);
        msgpack_object r = tu_call(c, "{\"op\":\"evidence\",\"id\":%llu,\"after\":%zu%s}",
                                   (unsigned long long)g->id, g->nev, mx);
        expect_ok(&r);
        pg_reply_bounded(c, &r);
        expect_int(&r, "id", (int64_t)g->id);
        expect_int(&r, "total", (int64_t)g->total);
        const msgpack_object *ev = tu_get(&r, "evidence");
        assert_non_null(ev);
        if (max && ev->via.array.size > max)
            fail_msg("evidence with max %u gave %u", max, ev->via.array.size);
        if (g->nev + ev->via.array.size > g->total)
            fail_msg("evidence gave more than its total %llu", (unsigned long long)g->total);
        for (uint32_t j = 0; j < ev->via.array.size; j++)
            g->ev[g->nev++] = ev->via.array.ptr[j].via.u64;
        expect_int(&r, "next", (int64_t)g->nev);
        int end = tu_bool(&r, "end");
        assert_int_equal(end, g->nev == g->total);
        pages++;
        if (end)
            break;
        if (!ev->via.array.size)
            fail_msg("evidence made no progress at %zu", g->nev);
        assert_true(pages < 10000);
    }
}

/* Each alert once, ids 1..n, and each one's evidence exactly the reports of
 * its place that the tier counted. Frees the evidence. */
static void check_alerts(const struct pg *p, struct galert *a, size_t n, size_t want)
{
    if (n != want)
        fail_msg("%zu alerts read, %zu raised", n, want);
    int seen[PG_KEYS + 1][2] = {{0}};
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < i; j++)
            if (a[j].id == a[i].id)
                fail_msg("alert %llu came twice", (unsigned long long)a[i].id);
        if (i && a[i].id <= a[i - 1].id)
            fail_msg("alert %llu after %llu: not oldest first", (unsigned long long)a[i].id,
                     (unsigned long long)a[i - 1].id);
        size_t want_n = a[i].nev == PG_BIG ? PG_BIG : PG_PER_KEY;
        if (a[i].nev != want_n)
            fail_msg("alert %llu has %zu evidence seqs", (unsigned long long)a[i].id, a[i].nev);
        for (size_t j = 0; j < want_n; j++)
            if (a[i].ev[j] != p->seqs[a[i].key][j])
                fail_msg("alert %llu evidence %zu: %llu, want %llu",
                         (unsigned long long)a[i].id, j, (unsigned long long)a[i].ev[j],
                         (unsigned long long)p->seqs[a[i].key][j]);
        seen[a[i].key][want_n == PG_BIG]++;
        free(a[i].ev);
        a[i].ev = NULL;
    }
    for (int k = 0; k <= PG_KEYS; k++) {
        assert_int_equal(seen[k][0], 1);
        assert_int_equal(seen[k][1], k == PG_KEYS);
    }
}

/* One place's hotspot alert can cite thousands of reports. fetch, alerts,
 * evidence, replay and rejects replies all stay within the hub's reply
 * limit (here lowered to 8 KiB), paged with next/end, nothing lost or
 * given twice; the alert whose evidence alone is over the limit still
 * comes, its evidence cut, and the `evidence` op gives the rest. */
static void test_bounded_alert_pages(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir("pages");
    write_file(tmp, "panels.yaml", test_panels);
    char rules[512];
    snprintf(rules, sizeof rules,
             "rules:\n"
             "  - name: test.hotspot\n"
             "    panel: tasking\n"
             "    when: asb.report\n"
             "    key: location.lsoa\n"
             "    window_days: 3650\n"
             "    tiers:\n"
             "      - {at_least: %d, priority: medium}\n"
             "      - {at_least: %d, priority: high}\n"
             "    reason: \"{count} reports in {key}\"\n",
             PG_PER_KEY, PG_BIG);
    write_file(tmp, "rules.yaml", rules);
    struct tu_hub hub;
    struct tu_client c;
    char conf[512];
    snprintf(conf, sizeof conf,
             "rules_file: rules.yaml\npanels_file: panels.yaml\n"
             "retention_file: none\n" /* its panels lack the shipped file's */
             "limits:\n  reply_max_bytes: %d\n  event_max_bytes: 2048\n",
             PG_REPLY_MAX);
    start_configured(tmp, conf, &hub, &c);

    struct pg *p = calloc(1, sizeof *p);
    const int per = 500;
    char *batch = malloc((size_t)per * 256 + 64);
    for (int base = 0; base < PG_EVENTS; base += per) {
        size_t len = (size_t)sprintf(batch, "{\"op\":\"publish\",\"events\":[");
        for (int i = base; i < base + per; i++) {
            int key = i < PG_KEYS * PG_PER_KEY ? i % PG_KEYS : PG_KEYS;
            len += (size_t)sprintf(batch + len,
                                   "%s{\"id\":\"pg-%d\",\"type\":\"asb.report\",\"source\":"
                                   "\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
                                   "\"location\":{\"lsoa\":\"E01%06d\"},\"category\":\"nuisance\"}",
                                   i > base ? "," : "", i, 100000 + key);
        }
        sprintf(batch + len, "]}");
        msgpack_object r = tu_call(&c, "%s", batch);
        expect_ok(&r);
        for (int i = base; i < base + per; i++) {
            char path[64];
            snprintf(path, sizeof path, "results.%d.status", i - base);
            expect_str(&r, path, "accepted");
            snprintf(path, sizeof path, "results.%d.seq", i - base);
            int key = i < PG_KEYS * PG_PER_KEY ? i % PG_KEYS : PG_KEYS;
            p->seqs[key][p->n[key]++] = (uint64_t)tu_int(&r, path);
        }
    }
    free(batch);
    size_t raised = (size_t)counter(&c, "alerts.tasking");
    assert_int_equal(raised, PG_KEYS + 2);
    struct galert a[PG_KEYS + 8];
    size_t n;

    /* alerts: paged by bytes, next/end, one cut alert completed by
     * `evidence` as many as fit per reply */
    n = 0;
    uint64_t after = 0;
    int pages = 0, cut = 0;
    for (;;) {
        msgpack_object r = tu_call(&c, "{\"op\":\"alerts\",\"panel\":\"tasking\",\"after\":%llu,"
                                       "\"max\":1000}",
                                   (unsigned long long)after);
        expect_ok(&r);
        pg_reply_bounded(&c, &r);
        size_t before = n;
        take_alerts(&r, a, &n, PG_KEYS + 8);
        int64_t next = tu_int(&r, "next");
        int end = tu_bool(&r, "end");
        assert_true(next >= 0 && end >= 0);
        pages++;
        if (n > before)
            assert_int_equal(next, (int64_t)a[n - 1].id);
        if (end)
            break;
        /* Stopped on bytes, not on max: never an empty page. */
        if (n == before || (uint64_t)next <= after)
            fail_msg("alerts made no progress after %llu: %.300s", (unsigned long long)after,
                     tu_dump(&r));
        after = (uint64_t)next;
        assert_true(pages < 100);
    }
    for (size_t i = 0; i < n; i++)
        if (a[i].cut) {
            cut++;
            assert_int_equal(a[i].total, PG_BIG);
            complete_evidence(&c, &a[i], 0);
        }
    assert_int_equal(cut, 1);
    /* 31 alerts of 200 seqs (3 bytes each past seq 255) and one of 3000
     * cannot go in fewer than 3 replies of 8 KiB. */
    if (pages < 3)
        fail_msg("alerts came in %d replies of at most %d bytes", pages, PG_REPLY_MAX);
    check_alerts(p, a, n, raised);

    /* max still bounds a page: one alert, end false */
    msgpack_object r = tu_call(&c, "{\"op\":\"alerts\",\"panel\":\"tasking\",\"max\":1}");
    expect_ok(&r);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
    expect_int(&r, "next", tu_int(&r, "alerts.0.id"));
    assert_int_equal(tu_bool(&r, "end"), 0);

    /* fetch: the same alerts, whatever fits per reply; the cursor moves
     * only on ack, so a fetch again before the ack gives the same page */
    n = 0;
    pages = 0;
    cut = 0;
    for (;;) {
        r = tu_call(&c, "{\"op\":\"fetch\",\"panel\":\"tasking\",\"consumer\":\"pager\","
                        "\"max\":1000}");
        expect_ok(&r);
        pg_reply_bounded(&c, &r);
        size_t before = n;
        take_alerts(&r, a, &n, PG_KEYS + 8);
        int64_t next = tu_int(&r, "next");
        int end = tu_bool(&r, "end");
        assert_true(next >= 0 && end >= 0);
        if (n == before) {
            assert_int_equal(end, 1);
            break;
        }
        assert_int_equal(next, (int64_t)a[n - 1].id);
        if (pages == 0) {
            /* not acked yet: the same page again */
            size_t again = n;
            r = tu_call(&c, "{\"op\":\"fetch\",\"panel\":\"tasking\",\"consumer\":\"pager\","
                            "\"max\":1000}");
            pg_reply_bounded(&c, &r);
            take_alerts(&r, a, &again, PG_KEYS + 8);
            assert_int_equal(again - n, n - before);
            assert_int_equal(a[n].id, a[before].id);
            expect_int(&r, "next", next);
            for (size_t i = n; i < again; i++)
                free(a[i].ev);
        }
        pages++;
        r = tu_call(&c, "{\"op\":\"ack\",\"panel\":\"tasking\",\"consumer\":\"pager\","
                        "\"upto\":%lld}",
                    (long long)next);
        expect_ok(&r);
        if (end)
            break;
        assert_true(pages < 100);
    }
    for (size_t i = 0; i < n; i++)
        if (a[i].cut) {
            cut++;
            complete_evidence(&c, &a[i], 7); /* small pages of evidence */
        }
    assert_int_equal(cut, 1);
    if (pages < 3)
        fail_msg("fetch came in %d replies", pages);
    check_alerts(p, a, n, raised);
    r = tu_call(&c, "{\"op\":\"fetch\",\"panel\":\"tasking\",\"consumer\":\"pager\"}");
    expect_ok(&r);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 0);
    assert_int_equal(tu_bool(&r, "end"), 1);

    /* evidence: errors */
    r = tu_call(&c, "{\"op\":\"evidence\",\"id\":999999}");
    expect_error(&r, "not_found", "id");
    r = tu_call(&c, "{\"op\":\"evidence\"}");
    expect_error(&r, "bad_request", "id");
    /* past the end: nothing, end */
    r = tu_call(&c, "{\"op\":\"evidence\",\"id\":1,\"after\":100000}");
    expect_ok(&r);
    assert_int_equal(tu_get(&r, "evidence")->via.array.size, 0);
    assert_int_equal(tu_bool(&r, "end"), 1);

    /* replay: every event once, in seq order, within the limit */
    uint64_t last = last_seq(&c), want = 1;
    after = 0;
    pages = 0;
    for (;;) {
        r = tu_call(&c, "{\"op\":\"replay\",\"after\":%llu,\"max\":10000}",
                    (unsigned long long)after);
        expect_ok(&r);
        pg_reply_bounded(&c, &r);
        const msgpack_object *evs = tu_get(&r, "events");
        for (uint32_t i = 0; i < evs->via.array.size; i++) {
            uint64_t seq = (uint64_t)tu_int(&evs->via.array.ptr[i], "seq");
            if (seq != want)
                fail_msg("replay gave seq %llu, want %llu", (unsigned long long)seq,
                         (unsigned long long)want);
            want++;
        }
        pages++;
        if (tu_bool(&r, "end") == 1)
            break;
        uint64_t next = (uint64_t)tu_int(&r, "next");
        if (next <= after)
            fail_msg("replay made no progress after %llu", (unsigned long long)after);
        after = next;
    }
    assert_int_equal(want - 1, last);
    assert_true(pages > 1);

    /* rejects: too_large events of ~2.2 KB each, a few per reply */
    static char summary[2001];
    memset(summary, 'x', 2000);
    for (int i = 0; i < 9; i++) {
        r = tu_call(&c, "{\"op\":\"publish\",\"event\":{\"id\":\"big-%d\",\"type\":\"asb.report\","
                        "\"source\":\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
                        "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"nuisance\","
                        "\"summary\":\"%s\"}}",
                    i, summary);
        expect_rejected(&r, "too_large", NOFIELD);
    }
    after = 0;
    pages = 0;
    int got = 0;
    for (;;) {
        r = tu_call(&c, "{\"op\":\"rejects\",\"after\":%llu}", (unsigned long long)after);
        expect_ok(&r);
        pg_reply_bounded(&c, &r);
        const msgpack_object *rj = tu_get(&r, "rejects");
        for (uint32_t i = 0; i < rj->via.array.size; i++)
            assert_int_equal(tu_int(&rj->via.array.ptr[i], "id"), ++got);
        pages++;
        if (tu_bool(&r, "end") == 1)
            break;
        after = (uint64_t)tu_int(&r, "next");
        assert_int_equal(after, got);
    }
    assert_int_equal(got, 9);
    assert_true(pages >= 3);

    free(p);
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    tu_rmrf(tmp);
    free(tmp);
}

/* replay with person reads the person index, then the log past what the
 * index holds: events published moments ago (their index not committed:
 * index_hold_ms is long and fewer than 8 batches followed the last commit)
 * come too, in seq order, and no event that does not name the person. */
struct pe_ev {
    const char *json; /* %s: the id */
    int p1;           /* names P-1 in a person field */
    int p2;           /* names P-2 */
    int p10;          /* names P-10 */
    int call_or_arrest;
    int in_march;     /* occurred in [2025-03-01, 2025-04-01) */
};

static const struct pe_ev pe_events[] = {
    {"{\"id\":\"%s\",\"type\":\"da.incident\",\"source\":\"police\",\"occurred_at\":"
     "\"2025-03-01T21:00:00Z\",\"victim\":\"P-1\",\"perpetrator\":\"P-1\"}",
     1, 0, 0, 0, 1},
    {"{\"id\":\"%s\",\"type\":\"asb.report\",\"source\":\"police\",\"occurred_at\":"
     "\"2025-02-01T21:00:00Z\",\"victim\":\"P-1\",\"location\":{\"ward\":\"Abbey\"},"
     "\"category\":\"personal\"}",
     1, 0, 0, 0, 0},
    {"{\"id\":\"%s\",\"type\":\"call\",\"source\":\"police\",\"occurred_at\":"
     "\"2025-03-02T21:00:00Z\",\"caller\":\"P-10\",\"category\":\"asb\"}",
     0, 0, 1, 1, 1},
    {"{\"id\":\"%s\",\"type\":\"call\",\"source\":\"police\",\"occurred_at\":"
     "\"2025-03-31T23:59:59Z\",\"caller\":\"P-1\",\"category\":\"asb\"}",
     1, 0, 0, 1, 1},
    /* P-1 as a place reference and as free text: not a person field */
    {"{\"id\":\"%s\",\"type\":\"asb.report\",\"source\":\"police\",\"occurred_at\":"
     "\"2025-03-01T21:00:00Z\",\"victim\":\"P-2\",\"location\":{\"id\":\"P-1\"},"
     "\"category\":\"environmental\"}",
     0, 1, 0, 0, 1},
    {"{\"id\":\"%s\",\"type\":\"concern\",\"source\":\"school\",\"occurred_at\":"
     "\"2025-03-01T21:00:00Z\",\"subject\":\"P-2\",\"kind\":\"other\",\"summary\":\"P-1\"}",
     0, 1, 0, 0, 1},
    {"{\"id\":\"%s\",\"type\":\"arrest\",\"source\":\"police\",\"occurred_at\":"
     "\"2025-04-01T00:00:00Z\",\"subject\":\"P-1\",\"offence\":\"robbery\"}",
     1, 0, 0, 1, 0},
    {"{\"id\":\"%s\",\"type\":\"da.incident\",\"source\":\"police\",\"occurred_at\":"
     "\"2025-03-05T21:00:00Z\",\"victim\":\"P-2\",\"perpetrator\":\"P-1\"}",
     1, 1, 0, 0, 1},
    {"{\"id\":\"%s\",\"type\":\"missing.episode\",\"source\":\"police\",\"occurred_at\":"
     "\"2025-03-06T21:00:00Z\",\"subject\":\"P-1\",\"age\":14}",
     1, 0, 0, 0, 1},
    {"{\"id\":\"%s\",\"type\":\"case.review.request\",\"source\":\"council\",\"occurred_at\":"
     "\"2025-03-07T21:00:00Z\",\"applicant\":\"P-1\",\"summary\":\"x\"}",
     1, 0, 0, 0, 1},
};
#define PE_N (sizeof pe_events / sizeof pe_events[0])
#define PE_MAX 512

struct pe_log {
    uint64_t seq[PE_MAX];
    int kind[PE_MAX]; /* index into pe_events, or -1: filler naming P-3 */
    size_t n;
};

/* Publish rounds x every event (fillers between) as `requests` requests. */
static void pe_publish(struct tu_client *c, struct pe_log *log, const char *tag, int rounds,
                       int fillers, int requests)
{
    int total = rounds * (int)(PE_N + (size_t)fillers), per = (total + requests - 1) / requests;
    char *b = malloc((size_t)per * 400 + 64);
    int k = 0;
    for (int req = 0; req < requests && k < total; req++) {
        size_t len = (size_t)sprintf(b, "{\"op\":\"publish\",\"events\":[");
        int first = k, kinds[PE_MAX];
        for (int j = 0; j < per && k < total; j++, k++) {
            int kind = k % (int)(PE_N + (size_t)fillers);
            kind = kind < (int)PE_N ? kind : -1;
            char id[64], ev[512];
            snprintf(id, sizeof id, "%s-%d", tag, k);
            if (kind >= 0)
                snprintf(ev, sizeof ev, pe_events[kind].json, id);
            else
                snprintf(ev, sizeof ev,
                         "{\"id\":\"%s\",\"type\":\"call\",\"source\":\"council\",\"occurred_at\":"
                         "\"2025-03-03T10:00:00Z\",\"caller\":\"P-3\",\"category\":\"other\"}",
                         id);
            len += (size_t)sprintf(b + len, "%s%s", j ? "," : "", ev);
            kinds[j] = kind;
        }
        sprintf(b + len, "]}");
        msgpack_object r = tu_call(c, "%s", b);
        expect_ok(&r);
        for (int j = 0; j < k - first; j++) {
            char path[48];
            snprintf(path, sizeof path, "results.%d.status", j);
            expect_str(&r, path, "accepted");
            snprintf(path, sizeof path, "results.%d.seq", j);
            assert_true(log->n < PE_MAX);
            log->seq[log->n] = (uint64_t)tu_int(&r, path);
            log->kind[log->n++] = kinds[j];
        }
    }
    free(b);
}

/* The seqs of log's events that `want` selects, in seq order. */
static size_t pe_expect(const struct pe_log *log, int (*want)(const struct pe_ev *), uint64_t *out)
{
    size_t n = 0;
    for (size_t i = 0; i < log->n; i++)
        if (log->kind[i] >= 0 && want(&pe_events[log->kind[i]]))
            out[n++] = log->seq[i];
    return n; /* published in seq order */
}

static int pe_p1(const struct pe_ev *e) { return e->p1; }
static int pe_p2(const struct pe_ev *e) { return e->p2; }
static int pe_p10(const struct pe_ev *e) { return e->p10; }
static int pe_p1_types(const struct pe_ev *e) { return e->p1 && e->call_or_arrest; }
static int pe_p1_march(const struct pe_ev *e) { return e->p1 && e->in_march; }

static void pe_check(struct tu_client *c, const char *filters, unsigned max, const uint64_t *want,
                     size_t nwant)
{
    static struct got g[PE_MAX];
    size_t n = replay_all(c, filters, max, g, PE_MAX);
    if (n != nwant)
        fail_msg("replay%s (max %u): %zu events, want %zu", filters, max, n, nwant);
    for (size_t i = 0; i < n; i++)
        if (g[i].seq != want[i])
            fail_msg("replay%s (max %u): event %zu is seq %llu, want %llu", filters, max, i,
                     (unsigned long long)g[i].seq, (unsigned long long)want[i]);
}

/* Wait (10 s at most) for a SIGHUP's reload: it commits the index. */
static void reload_and_wait(struct tu_client *c, struct tu_hub *hub)
{
    int64_t before = counter(c, "rule_reloads");
    kill(hub->pid, SIGHUP);
    int64_t deadline = tu_now_ms() + 10000;
    while (counter(c, "rule_reloads") <= before && tu_now_ms() < deadline)
        ;
    assert_int_equal(counter(c, "rule_reloads"), before + 1);
}

static void test_replay_person_index(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir("personidx");
    write_file(tmp, "panels.yaml", test_panels);
    write_file(tmp, "rules.yaml", "rules:\n"
                                  "  - name: test.arrest\n"
                                  "    panel: tasking\n"
                                  "    when: arrest\n"
                                  "    key: subject\n"
                                  "    priority: standard\n"
                                  "    reason: \"arrest of {key}\"\n");
    struct tu_hub hub;
    struct tu_client c;
    start_configured(tmp,
                     "rules_file: rules.yaml\npanels_file: panels.yaml\n"
                     "retention_file: none\n" /* its panels lack the shipped file's */
                     "limits:\n  index_hold_ms: 60000\n",
                     &hub, &c);
    static struct pe_log log;
    memset(&log, 0, sizeof log);
    /* Indexed: 12 rounds with fillers, in 20 requests; the reload commits
     * whatever index work is still held. */
    pe_publish(&c, &log, "old", 12, 20, 20);
    reload_and_wait(&c, &hub);
    size_t indexed_events = log.n;
    /* Moments ago: 2 rounds in 2 requests, then one more round in one. */
    pe_publish(&c, &log, "new", 2, 3, 2);
    pe_publish(&c, &log, "newest", 1, 0, 1);

    static uint64_t want[PE_MAX];
    size_t nwant = pe_expect(&log, pe_p1, want), nold = 0;
    for (size_t i = 0; i < nwant; i++)
        nold += want[i] <= log.seq[indexed_events - 1];
    assert_true(nold > 0 && nold < nwant);
    int64_t idx0 = counter(&c, "replay_person_indexed"), scan0 = counter(&c, "replay_person_scanned");
    pe_check(&c, ",\"person\":\"P-1\"", 1000, want, nwant);
    /* The index gave the old ones (each read once, by seq); the log's tail
     * the new ones: far fewer examined than the log holds. */
    int64_t idx = counter(&c, "replay_person_indexed") - idx0,
            scanned = counter(&c, "replay_person_scanned") - scan0;
    if (idx != (int64_t)nold)
        fail_msg("%lld events read through the person index, want %zu", (long long)idx, nold);
    size_t recent = log.n - indexed_events;
    if (scanned < (int64_t)recent || scanned >= (int64_t)log.n)
        fail_msg("%lld events of the log's tail examined, want at least %zu and fewer than %zu",
                 (long long)scanned, recent, log.n);
    /* Paged, across the index/tail boundary. */
    pe_check(&c, ",\"person\":\"P-1\"", 1, want, nwant);
    pe_check(&c, ",\"person\":\"P-1\"", 3, want, nwant);
    /* With the other filters. */
    nwant = pe_expect(&log, pe_p1_types, want);
    pe_check(&c, ",\"person\":\"P-1\",\"types\":[\"call\",\"arrest\"]", 2, want, nwant);
    nwant = pe_expect(&log, pe_p1_march, want);
    pe_check(&c,
             ",\"person\":\"P-1\",\"since\":\"2025-03-01T00:00:00Z\","
             "\"till\":\"2025-04-01T00:00:00Z\"",
             4, want, nwant);
    /* until inside the indexed part, and after inside the new part. */
    nwant = pe_expect(&log, pe_p1, want);
    uint64_t mid = want[nold / 2];
    msgpack_object r = tu_call(&c, "{\"op\":\"replay\",\"person\":\"P-1\",\"until\":%llu}",
                               (unsigned long long)mid);
    expect_ok(&r);
    assert_int_equal(tu_get(&r, "events")->via.array.size, nold / 2 + 1);
    expect_int(&r, "events.0.seq", (int64_t)want[0]);
    assert_int_equal(tu_bool(&r, "end"), 1);
    r = tu_call(&c, "{\"op\":\"replay\",\"person\":\"P-1\",\"after\":%llu}",
                (unsigned long long)want[nwant - 2]);
    expect_ok(&r);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    expect_int(&r, "events.0.seq", (int64_t)want[nwant - 1]);
    assert_int_equal(tu_bool(&r, "end"), 1);
    /* Nobody else's events. */
    nwant = pe_expect(&log, pe_p2, want);
    pe_check(&c, ",\"person\":\"P-2\"", 1000, want, nwant);
    nwant = pe_expect(&log, pe_p10, want);
    pe_check(&c, ",\"person\":\"P-10\"", 1000, want, nwant);
    pe_check(&c, ",\"person\":\"P-99\"", 1000, want, 0);
    nwant = pe_expect(&log, pe_p1, want);

    /* Once the index holds the new ones too, the same answer from it. */
    reload_and_wait(&c, &hub);
    idx0 = counter(&c, "replay_person_indexed");
    pe_check(&c, ",\"person\":\"P-1\"", 1000, want, nwant);
    assert_int_equal(counter(&c, "replay_person_indexed") - idx0, (int64_t)nwant);

    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    tu_rmrf(tmp);
    free(tmp);
}

static void test_restart_same_data(void **state)
{
    struct tu_logonly_fx *f = *state;
    for (int i = 1; i <= 3; i++) {
        char id[16];
        snprintf(id, sizeof id, "rs-%d", i);
        msgpack_object r = publish(&f->c, asb(id, "P-1", "personal"));
        expect_accepted(&r, "accepted", i);
    }
    msgpack_object r = publish(&f->c, asb("rs-bad", "P-1", "loud"));
    expect_rejected(&r, "bad_event", "category");
    restart(f);
    assert_int_equal(last_seq(&f->c), 3);
    r = publish(&f->c, asb("rs-2", "P-1", "personal"));
    expect_accepted(&r, "duplicate", 2);
    r = publish(&f->c, asb("rs-2", "P-1", "nuisance"));
    expect_rejected(&r, "id_conflict", "id");
    r = publish(&f->c, asb("rs-4", "P-1", "personal"));
    expect_accepted(&r, "accepted", 4);
    struct got g[8];
    assert_int_equal(replay_all(&f->c, "", 1000, g, 8), 4);
    r = tu_call(&f->c, "{\"op\":\"rejects\"}");
    expect_ok(&r);
    assert_int_equal(tu_get(&r, "rejects")->via.array.size, 2);
    expect_int(&r, "rejects.1.id", 2);
    /* And once more, with nothing new in between. */
    restart(f);
    assert_int_equal(last_seq(&f->c), 4);
    r = publish(&f->c, asb("rs-1", "P-1", "personal"));
    expect_accepted(&r, "duplicate", 1);
}

/* ---- startup refusals ----------------------------------------------------- */

static void expect_run(int rc, const char *out, int want_rc, const char *want_text)
{
    if (rc != want_rc)
        fail_msg("csphubd exited %d, want %d; output:\n%s", rc, want_rc, out);
    if (want_text && !strcasestr(out, want_text))
        fail_msg("csphubd output does not mention '%s':\n%s", want_text, out);
}

static void test_refuse_nonloopback(void **state)
{
    struct tu_logonly_fx *f = *state;
    char out[8192], data[700];
    snprintf(data, sizeof data, "%s/other", f->tmp);
    int rc = tu_hub_run_ms(out, sizeof out, 10000, "--data", data, "--listen",
                           "tcp://0.0.0.0:7999", NULL);
    expect_run(rc, out, 2, "loopback");
    rc = tu_hub_run_ms(out, sizeof out, 10000, "--data", data, "--listen", "tcp://127.0.0.1:7999",
                       "--listen", "tcp://*:7998", NULL);
    expect_run(rc, out, 2, "loopback");
}

static void test_refuse_config_unknown_key(void **state)
{
    struct tu_logonly_fx *f = *state;
    char path[700], out[8192], want[800];
    snprintf(path, sizeof path, "%s/csphub.yaml", f->tmp);
    FILE *cf = fopen(path, "w");
    assert_non_null(cf);
    fprintf(cf, "# a config with a misspelt key\ndata_dir: %s/cfgdata\nlisten:\n"
                "  - tcp://127.0.0.1:%d\nsecurity: none\nlog_levle: debug\n",
            f->tmp, tu_free_port());
    fclose(cf);
    int rc = tu_hub_run_ms(out, sizeof out, 10000, "--config", path, NULL);
    snprintf(want, sizeof want, "%s:6:", path);
    expect_run(rc, out, 2, want);
    expect_run(rc, out, 2, "log_levle");
    /* A misspelt key under limits too. */
    cf = fopen(path, "w");
    fprintf(cf, "data_dir: %s/cfgdata\nlimits:\n  batch_max: 10\n  replay_maxx: 5\n", f->tmp);
    fclose(cf);
    rc = tu_hub_run_ms(out, sizeof out, 10000, "--config", path, NULL);
    snprintf(want, sizeof want, "%s:4:", path);
    expect_run(rc, out, 2, want);
}

static void test_refuse_data_is_file(void **state)
{
    struct tu_logonly_fx *f = *state;
    char path[700], out[8192];
    snprintf(path, sizeof path, "%s/plain-file", f->tmp);
    FILE *pf = fopen(path, "w");
    assert_non_null(pf);
    fputs("not a directory\n", pf);
    fclose(pf);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", tu_free_port());
    int rc = tu_hub_run_ms(out, sizeof out, 10000, "--data", path, "--listen", ep, NULL);
    expect_run(rc, out, 2, path);
}

static void test_refuse_second_hub(void **state)
{
    struct tu_logonly_fx *f = *state;
    char out[8192], ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", tu_free_port());
    int rc = tu_hub_run_ms(out, sizeof out, 10000, "--data", f->data, "--listen", ep, NULL);
    expect_run(rc, out, 2, "another hub");
    /* The first one is unharmed. */
    msgpack_object r = publish(&f->c, asb("sh-1", "P-1", "personal"));
    expect_accepted(&r, "accepted", 1);
}

static void test_help(void **state)
{
    char out[16384];
    int rc = tu_hub_run_ms(out, sizeof out, 10000, "--help", NULL);
    expect_run(rc, out, 0, "usage");
    expect_run(rc, out, 0, "--verify");
    rc = tu_hub_run_ms(out, sizeof out, 10000, "--no-such-flag", NULL);
    expect_run(rc, out, 2, NULL);
}

/* ---- verify ------------------------------------------------------------ */

/* Flip one bit inside every copy of needle in file (LMDB may keep stale
 * copies of a page too). Returns the number of copies changed. */
static int flip_in_file(const char *file, const char *needle, size_t nlen)
{
    int fd = open(file, O_RDWR);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    unsigned char *buf = malloc((size_t)st.st_size);
    assert_int_equal(pread(fd, buf, (size_t)st.st_size, 0), st.st_size);
    int flipped = 0;
    for (size_t i = 0; i + nlen <= (size_t)st.st_size; i++) {
        if (memcmp(buf + i, needle, nlen) == 0) {
            unsigned char c = buf[i + nlen - 1] ^ 0x01; /* last byte of the id */
            assert_int_equal(pwrite(fd, &c, 1, (off_t)(i + nlen - 1)), 1);
            flipped++;
        }
    }
    assert_int_equal(fsync(fd), 0);
    close(fd);
    free(buf);
    return flipped;
}

static void test_verify(void **state)
{
    struct tu_logonly_fx *f = *state;
    msgpack_object r = publish(&f->c, asb("v-1", "P-1", "personal"));
    expect_accepted(&r, "accepted", 1);
    r = publish(&f->c, asb("tamper-canary-4f1c9e", "P-1", "personal"));
    expect_accepted(&r, "accepted", 2);
    r = tu_call(&f->c, "{\"op\":\"publish\",\"events\":[%s,%s]}", asb("v-3", "P-1", "nuisance"),
                asb("v-4", "P-2", "nuisance"));
    expect_ok(&r);

    /* An auditor checks the log of the running hub: a read-only snapshot,
     * no need to stop it (the directory's lock is the hub's). The snapshot
     * is what data.mdb holds: batches acknowledged through the journal go
     * into it when the hub reads (here), goes quiet, or has held enough. */
    r = tu_call(&f->c, "{\"op\":\"replay\",\"max\":1}");
    expect_ok(&r);
    char out[8192];
    int rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    expect_run(rc, out, 0, "4 events, hash chain intact");
    char live[8192];
    snprintf(live, sizeof live, "%s", out);

    tu_client_close(&f->c);
    f->client_open = 0;
    assert_int_equal(tu_hub_stop(&f->hub), 0);

    rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    expect_run(rc, out, 0, "intact");
    assert_string_equal(out, live); /* the same log, the same last link */
    expect_run(rc, out, 0, "4 events");
    expect_run(rc, out, 0, "(SHA-256, version 2); last link ");

    /* The event's id as MessagePack (fixstr header, then the text): only
     * the event bytes hold it so, not the idempotency key. */
    char mdb[700];
    snprintf(mdb, sizeof mdb, "%s/data.mdb", f->data);
    const char needle[] = "\xb4tamper-canary-4f1c9e";
    int flipped = flip_in_file(mdb, needle, sizeof needle - 1);
    if (flipped < 1)
        fail_msg("the event id was not found in %s", mdb);
    rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    expect_run(rc, out, 1, "altered");
    expect_run(rc, out, 1, "seq 2");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_gap_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_duplicate_returns_original_seq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_conflict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejections_name_code_and_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_events_forbidden, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_mixed_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_limits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_byte_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_paging, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_after_until, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_after_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_since_till, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_types, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replay_person, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects_listing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_req_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_req_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_after_write_pipelined, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_clients, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concurrent_duplicates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_req_socket, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_op, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_request_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_request_field_sets_field, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_same_data, setup, teardown),
        cmocka_unit_test(test_rules_reload),
        cmocka_unit_test(test_failed_batch_keeps_index),
        cmocka_unit_test(test_bounded_alert_pages),
        cmocka_unit_test(test_replay_person_index),
        cmocka_unit_test_setup_teardown(test_refuse_nonloopback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_config_unknown_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_data_is_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refuse_second_hub, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_verify, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
