/* test_badinput: hostile and broken input against the real csphubd
 * (PROTOCOL.md 2-4): a table of bad requests and bad events, each with the
 * error code (and field) it must get; an over-size message that ZeroMQ
 * drops; a burst of 10,000 junk messages. Afterwards the hub still answers,
 * nothing accepted before was lost, every event-level rejection was kept
 * byte-exact, and the junk was counted.
 *
 * The tests of this file share one hub and run in order. */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define NOFIELD ((const char *)1) /* the error must have no `field` */
#define LIT(s) s, sizeof(s) - 1  /* a string literal as bytes and length */
#define SEEDED 5                  /* events accepted before the table */

enum entry_kind {
    E_REQUEST, /* the whole request is given: a request-level error */
    E_EVENT,   /* an event, sent as {op: publish, event: <bytes>}: kept as a reject */
};

struct entry {
    char *name;
    enum entry_kind kind;
    unsigned char *bytes;
    size_t len;
    const char *code;
    const char *field;
    int malformed; /* certainly counted in stats.malformed (undecodable) */
};

struct gstate {
    char *tmp;
    char data[600];
    struct tu_hub hub;
    struct tu_client c;
    struct entry *t;
    size_t n, cap;
    /* What the later tests check. */
    uint64_t rejects_expected;     /* rejects kept by the table */
    uint64_t malformed_min;        /* stats.malformed at least this */
    uint64_t request_errors;       /* request-level errors sent in all */
    unsigned char **reject_bytes;  /* expected reject bytes, in order */
    size_t *reject_len;
    const char **reject_code;
    size_t nrejects;
};

/* ---- building the table --------------------------------------------- */

static void add(struct gstate *g, enum entry_kind kind, const char *code, const char *field,
                int malformed, const void *bytes, size_t len, const char *name)
{
    if (g->n == g->cap) {
        g->cap = g->cap ? g->cap * 2 : 64;
        g->t = realloc(g->t, g->cap * sizeof *g->t);
    }
    struct entry *e = &g->t[g->n++];
    e->name = strdup(name);
    e->kind = kind;
    e->bytes = malloc(len ? len : 1);
    memcpy(e->bytes, bytes, len);
    e->len = len;
    e->code = code;
    e->field = field;
    e->malformed = malformed;
}

/* A request given as raw bytes (len explicit: they may hold NULs). */
static void add_raw(struct gstate *g, const char *code, const char *field, int malformed,
                    const char *bytes, size_t len, const char *name)
{
    add(g, E_REQUEST, code, field, malformed, bytes, len, name);
}

/* A request given as JSON (printf format). */
static void add_req(struct gstate *g, const char *code, const char *field, int malformed,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void add_req(struct gstate *g, const char *code, const char *field, int malformed,
                    const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *json = NULL;
    assert_true(vasprintf(&json, fmt, ap) > 0);
    va_end(ap);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, json);
    add(g, E_REQUEST, code, field, malformed, sb.data, sb.size, json);
    msgpack_sbuffer_destroy(&sb);
    free(json);
}

/* An event given as JSON (printf format). */
static void add_ev(struct gstate *g, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_ev(struct gstate *g, const char *code, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *json = NULL;
    assert_true(vasprintf(&json, fmt, ap) > 0);
    va_end(ap);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, json);
    add(g, E_EVENT, code, field, 0, sb.data, sb.size, json);
    msgpack_sbuffer_destroy(&sb);
    free(json);
}

/* An event given as raw MessagePack bytes. */
static void add_ev_raw(struct gstate *g, const char *code, const char *field, const void *bytes,
                       size_t len, const char *name)
{
    add(g, E_EVENT, code, field, 0, bytes, len, name);
}

static char *repeat(char c, size_t n)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = 0;
    return s;
}

/* The common fields, then the type's. */
#define COMMON(id) "\"id\":\"" id "\",\"source\":\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\""
#define ASB(id, rest) "{" COMMON(id) ",\"type\":\"asb.report\"," rest "}"
#define ASB_OK_BODY "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"personal\""
#define ASB_LOC(id, loc) ASB(id, "\"category\":\"personal\",\"location\":" loc)
#define TYPED(id, type, rest) "{" COMMON(id) ",\"type\":\"" type "\"," rest "}"

/* Raw MessagePack helpers. */
struct rb {
    unsigned char b[4096];
    size_t n;
};
static void rb_put(struct rb *r, const void *p, size_t n)
{
    assert_true(r->n + n <= sizeof r->b);
    memcpy(r->b + r->n, p, n);
    r->n += n;
}
static void rb_str(struct rb *r, const char *s)
{
    size_t n = strlen(s);
    assert_true(n < 32);
    unsigned char h = (unsigned char)(0xa0 | n);
    rb_put(r, &h, 1);
    rb_put(r, s, n);
}
/* The seven entries of a valid asb.report minus what `skip` names: the map
 * header is the caller's. */
static void rb_asb_fields(struct rb *r, const char *id, const char *skip)
{
    rb_str(r, "id");
    rb_str(r, id);
    rb_str(r, "type");
    rb_str(r, "asb.report");
    rb_str(r, "source");
    rb_str(r, "police");
    rb_str(r, "occurred_at");
    rb_str(r, "2025-03-01T21:14:00Z");
    rb_str(r, "location");
    rb_put(r, "\x81", 1);
    rb_str(r, "lsoa");
    rb_str(r, "E01000916");
    if (!skip || strcmp(skip, "category")) {
        rb_str(r, "category");
        rb_str(r, "personal");
    }
}

static void build_table(struct gstate *g)
{
    char *s;

    /* ---- not a CSPH/1 request at all ---- */
    add_raw(g, "bad_request", NULL, 1, LIT("\xc1"), "0xc1: never used in MessagePack");
    add_raw(g, "bad_request", NULL, 1, LIT(""), "an empty message");
    {
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        tu_json_to_mp(&sb, "{\"op\":\"publish\",\"event\":" ASB("trunc-1", ASB_OK_BODY) "}");
        add_raw(g, "bad_request", NULL, 1, sb.data, sb.size / 2, "truncated MessagePack");
        add_raw(g, "bad_request", NULL, 1, sb.data, sb.size - 1, "last byte missing");
        msgpack_sbuffer_destroy(&sb);
    }
    add_raw(g, "bad_request", NULL, 1, LIT("\x92\xa2op\xa4ping"), "a msgpack array");
    add_raw(g, "bad_request", NULL, 1, LIT("\xa4ping"), "a string");
    add_raw(g, "bad_request", NULL, 1, LIT("\x2a"), "an integer");
    add_raw(g, "bad_request", NULL, 1, LIT("\xcd\x01\x00"), "a uint16");
    add_raw(g, "bad_request", NULL, 1, LIT("\xc0"), "nil");
    add_raw(g, "bad_request", NULL, 1, LIT("\xc3"), "true");
    add_raw(g, "bad_request", NULL, 1, LIT("\xcb\x3f\xf0\0\0\0\0\0\0"), "a float");
    add_raw(g, "bad_request", NULL, 1, LIT("\xc4\x02op"), "binary");
    add_raw(g, "bad_request", NULL, 1, LIT("\x81\xc4\x02op\xa4ping"), "a map with a binary key");
    add_raw(g, "bad_request", NULL, 1, LIT("\x81\x01\xa4ping"), "a map with an integer key");
    add_raw(g, "bad_request", NULL, 1, LIT("\x82\xa2op\xa4ping\x07\x01"),
            "a map with an integer second key");
    add_raw(g, "bad_request", NULL, 1, LIT("\x81\xc0\xa4ping"), "a map with a nil key");
    add_raw(g, "bad_request", NULL, 1, LIT("\x81\x80\xa4ping"), "a map with a map key");
    add_raw(g, "bad_request", NULL, 1, LIT("\x8f\xa2op\xa4ping"),
            "a map declaring 15 entries holding 1");
    add_raw(g, "bad_request", NULL, 1, LIT("\xdf\xff\xff\xff\xff\xa2op"),
            "a map32 declaring 2^32-1 entries");
    add_raw(g, "bad_request", NULL, 1, LIT("\x81\xa2op\xdb\xff\xff\xff\xff"),
            "a str32 declaring 4 GiB");
    add_raw(g, "bad_request", NULL, 1, LIT("\x81\xa2op\xa4ping\xc0"),
            "a byte after the request map");
    add_raw(g, "bad_request", NULL, 1, LIT("\x81\xa2op\xa4ping\x81\xa2op\xa4ping"),
            "two request maps in one message");
    add_raw(g, "bad_request", NULL, 1, LIT("\x82\xa2op\xa4ping\xa2op\xa5stats"),
            "the key op twice");
    /* Containers that declare far more elements than the message holds: a
     * decoder that reserves space up front must not be made to (a few bytes
     * asking for gigabytes). */
    add_raw(g, "bad_request", NULL, 1,
            LIT("\x82\xa2op\xa4ping\xa3req\xdd\xff\xff\xff\xff"), "req: array32 of 2^32-1");
    add_raw(g, "bad_request", NULL, 1,
            LIT("\x82\xa2op\xa7publish\xa5" "event\xdf\xff\xff\xff\xff"),
            "event: map32 of 2^32-1");
    add_raw(g, "bad_request", NULL, 1,
            LIT("\x82\xa2op\xa7publish\xa6" "events\x91\xdf\xff\xff\xff\xff"),
            "a batch event: map32 of 2^32-1");
    add_raw(g, "bad_request", NULL, 1,
            LIT("\x82\xa2op\xa7publish\xa5" "event\x81\xa1x"
                "\xdd\x0f\xff\xff\xff\xdd\x0f\xff\xff\xff\xdd\x0f\xff\xff\xff"),
            "nested array32s each of 2^28-1");
    add_raw(g, "bad_request", NULL, 1,
            LIT("\x82\xa2op\xa7publish\xa5" "event\xde\xff\xff"), "event: map16 of 65535");
    {
        /* 200-deep nesting: in req, in an event field, in a batch. */
        struct rb r = {.n = 0};
        rb_put(&r, LIT("\x82\xa2op\xa4ping\xa3req"));
        for (int i = 0; i < 200; i++)
            rb_put(&r, "\x91", 1);
        rb_put(&r, "\x01", 1);
        add_raw(g, "bad_request", NULL, 1, (const char *)r.b, r.n, "req nested 200 deep");

        r.n = 0;
        rb_put(&r, LIT("\x82\xa2op\xa7publish\xa5" "event\x87"));
        rb_asb_fields(&r, "deep-1", NULL);
        rb_str(&r, "summary");
        for (int i = 0; i < 200; i++)
            rb_put(&r, "\x81\xa1x", 3);
        rb_put(&r, "\x01", 1);
        add_raw(g, "bad_request", NULL, 1, (const char *)r.b, r.n,
                "an event field of maps nested 200 deep");

        r.n = 0;
        rb_put(&r, LIT("\x82\xa2op\xa7publish\xa6" "events\x91"));
        for (int i = 0; i < 200; i++)
            rb_put(&r, "\x91", 1);
        rb_put(&r, "\x01", 1);
        add_raw(g, "bad_request", NULL, 1, (const char *)r.b, r.n,
                "a batch of arrays nested 200 deep");
    }

    /* ---- op ---- */
    add_req(g, "bad_request", "op", 1, "{\"req\":1}");
    add_req(g, "bad_request", "op", 1, "{}");
    add_req(g, "bad_request", "op", 1, "{\"op\":7}");
    add_req(g, "bad_request", "op", 1, "{\"op\":null}");
    add_req(g, "bad_request", "op", 1, "{\"op\":[\"ping\"]}");
    add_raw(g, "bad_request", "op", 1, LIT("\x81\xa2op\xc4\x04ping"), "op as binary");
    add_raw(g, "bad_request", "op", 1, LIT("\x81\xa2op\xd4\x01\x02"), "op as an extension");
    add_req(g, "bad_op", "op", 0, "{\"op\":\"delete\"}");
    add_req(g, "bad_op", "op", 0, "{\"op\":\"Ping\"}");
    add_req(g, "bad_op", "op", 0, "{\"op\":\"ping \"}");

    /* ---- request fields ---- */
    add_req(g, "bad_request", "req", 1, "{\"op\":\"ping\",\"req\":{\"a\":1}}");
    add_req(g, "bad_request", "req", 1, "{\"op\":\"ping\",\"req\":[1,2]}");
    add_req(g, "bad_request", NULL, 1, "{\"op\":\"ping\",\"colour\":1}");
    add_req(g, "bad_request", NULL, 1, "{\"op\":\"stats\",\"max\":1}");
    add_req(g, "bad_request", "event", 1, "{\"op\":\"publish\"}");
    add_req(g, "bad_request", NULL, 1,
            "{\"op\":\"publish\",\"event\":" ASB("both-1", ASB_OK_BODY) ",\"events\":[]}");
    add_req(g, "bad_request", "events", 1, "{\"op\":\"publish\",\"events\":[]}");
    add_req(g, "bad_request", "events", 1,
            "{\"op\":\"publish\",\"events\":" ASB("ev-map", ASB_OK_BODY) "}");
    add_req(g, "bad_request", "events", 1, "{\"op\":\"publish\",\"events\":\"x\"}");
    {
        /* 1,001 events: too many for one publish. */
        size_t cap = 1001 * 200 + 64, len = 0;
        char *b = malloc(cap);
        len += (size_t)snprintf(b, cap, "{\"op\":\"publish\",\"events\":[");
        for (int i = 0; i < 1001; i++)
            len += (size_t)snprintf(b + len, cap - len,
                                    "%s{\"id\":\"many-%d\",\"type\":\"call\",\"source\":\"police\","
                                    "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"caller\":\"P-1\","
                                    "\"category\":\"asb\"}",
                                    i ? "," : "", i);
        snprintf(b + len, cap - len, "]}");
        add_req(g, "too_large", NULL, 0, "%s", b);
        free(b);
    }
    /* replay and rejects arguments: well-formed requests, bad values. */
    add_req(g, "bad_request", "max", 0, "{\"op\":\"replay\",\"max\":0}");
    add_req(g, "bad_request", "max", 0, "{\"op\":\"replay\",\"max\":10001}");
    add_req(g, "bad_request", "max", 0, "{\"op\":\"replay\",\"max\":\"10\"}");
    add_req(g, "bad_request", "after", 0, "{\"op\":\"replay\",\"after\":-1}");
    add_req(g, "bad_request", "after", 0, "{\"op\":\"replay\",\"after\":1.5}");
    add_req(g, "bad_request", "until", 0, "{\"op\":\"replay\",\"until\":\"x\"}");
    add_req(g, "bad_request", "since", 0, "{\"op\":\"replay\",\"since\":\"2025-03-01\"}");
    add_req(g, "bad_request", "till", 0, "{\"op\":\"replay\",\"till\":1740863640}");
    add_req(g, "bad_request", "types", 0, "{\"op\":\"replay\",\"types\":\"call\"}");
    add_req(g, "bad_request", "types", 0, "{\"op\":\"replay\",\"types\":[1]}");
    add_req(g, "bad_request", "person", 0, "{\"op\":\"replay\",\"person\":\"Jane Doe\"}");
    add_req(g, "bad_request", "person", 0, "{\"op\":\"replay\",\"person\":\"\"}");
    add_req(g, "bad_request", "max", 0, "{\"op\":\"rejects\",\"max\":20000}");
    add_req(g, "bad_request", "after", 0, "{\"op\":\"rejects\",\"after\":\"0\"}");

    /* ---- the common fields of an event ---- */
    add_ev(g, "bad_event", "id",
           "{\"type\":\"asb.report\",\"source\":\"police\","
           "\"occurred_at\":\"2025-03-01T21:14:00Z\"," ASB_OK_BODY "}");
    add_ev(g, "bad_event", "type",
           "{\"id\":\"nt-1\",\"source\":\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
           ASB_OK_BODY "}");
    add_ev(g, "bad_event", "occurred_at",
           "{\"id\":\"no-1\",\"type\":\"asb.report\",\"source\":\"police\"," ASB_OK_BODY "}");
    add_ev(g, "bad_event", "source",
           "{\"id\":\"ns-1\",\"type\":\"asb.report\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
           ASB_OK_BODY "}");
    add_ev(g, "bad_event", "id", ASB("", ASB_OK_BODY));
    s = repeat('i', 129);
    add_ev(g, "bad_event", "id", "{\"id\":\"%s\",\"type\":\"asb.report\",\"source\":\"police\","
                                 "\"occurred_at\":\"2025-03-01T21:14:00Z\"," ASB_OK_BODY "}",
           s);
    free(s);
    add_ev(g, "bad_event", "id",
           "{\"id\":5,\"type\":\"asb.report\",\"source\":\"police\","
           "\"occurred_at\":\"2025-03-01T21:14:00Z\"," ASB_OK_BODY "}");
    add_ev(g, "bad_event", "id",
           "{\"id\":null,\"type\":\"asb.report\",\"source\":\"police\","
           "\"occurred_at\":\"2025-03-01T21:14:00Z\"," ASB_OK_BODY "}");
    add_ev(g, "bad_event", "type", "{" COMMON("ty-1") ",\"type\":7," ASB_OK_BODY "}");
    add_ev(g, "bad_event", "type", "{" COMMON("ty-2") ",\"type\":[\"asb.report\"]," ASB_OK_BODY "}");
    add_ev(g, "unknown_type", "type", "{" COMMON("ty-3") ",\"type\":\"noise\"," ASB_OK_BODY "}");
    add_ev(g, "unknown_type", "type", "{" COMMON("ty-4") ",\"type\":\"ASB.REPORT\"," ASB_OK_BODY "}");
    s = repeat('s', 65);
    add_ev(g, "bad_event", "source",
           "{\"id\":\"so-1\",\"type\":\"asb.report\",\"source\":\"%s\","
           "\"occurred_at\":\"2025-03-01T21:14:00Z\"," ASB_OK_BODY "}",
           s);
    free(s);
    add_ev(g, "bad_event", "source",
           "{\"id\":\"so-2\",\"type\":\"asb.report\",\"source\":\"\","
           "\"occurred_at\":\"2025-03-01T21:14:00Z\"," ASB_OK_BODY "}");
    add_ev(g, "bad_event", "source",
           "{\"id\":\"so-3\",\"type\":\"asb.report\",\"source\":true,"
           "\"occurred_at\":\"2025-03-01T21:14:00Z\"," ASB_OK_BODY "}");
    static const char *bad_times[] = {
        "yesterday",
        "2025-13-01T00:00:00Z",
        "2025-00-10T00:00:00Z",
        "2025-02-29T00:00:00Z",
        "2025-04-31T00:00:00Z",
        "2025-03-01T21:14:00",
        "2025-03-01T24:00:00Z",
        "2025-03-01T21:61:00Z",
        "2025-03-01T21:14:00+24:00",
        "2025-03-01T21:14:00+0100",
        "2025-03-01T21:14:00.Z",
        "2025-03-01",
        "2025-03-01 21:14:00Z",
        "2025-3-1T21:14:00Z",
        "2025-03-01T21:14:00Z trailing",
        "",
    };
    for (size_t i = 0; i < sizeof bad_times / sizeof *bad_times; i++)
        add_ev(g, "bad_event", "occurred_at",
               "{\"id\":\"tm-%zu\",\"type\":\"asb.report\",\"source\":\"police\","
               "\"occurred_at\":\"%s\"," ASB_OK_BODY "}",
               i, bad_times[i]);
    add_ev(g, "bad_event", "occurred_at",
           "{\"id\":\"tm-int\",\"type\":\"asb.report\",\"source\":\"police\","
           "\"occurred_at\":1740863640," ASB_OK_BODY "}");

    /* ---- required fields of a type ---- */
    add_ev(g, "bad_event", "category", ASB("rq-1", "\"location\":{\"lsoa\":\"E01000916\"}"));
    add_ev(g, "bad_event", "location", ASB("rq-2", "\"category\":\"personal\""));
    add_ev(g, "bad_event", "caller", TYPED("rq-3", "call", "\"category\":\"asb\""));
    add_ev(g, "bad_event", "age", TYPED("rq-4", "missing.episode", "\"subject\":\"P-1\""));
    add_ev(g, "bad_event", "weapon",
           TYPED("rq-5", "violence.incident", "\"injury\":\"minor\""));
    add_ev(g, "bad_event", "reason",
           TYPED("rq-6", "referral", "\"subject\":\"P-1\",\"panel\":\"marac\""));
    add_ev(g, "bad_event", "offence", TYPED("rq-7", "arrest", "\"subject\":\"P-1\""));
    add_ev(g, "bad_event", "strand",
           TYPED("rq-8", "hate.incident", "\"location\":{\"ward\":\"Abbey\"}"));

    /* ---- wrong types ---- */
    add_ev(g, "bad_event", "hate", ASB("wt-1", ASB_OK_BODY ",\"hate\":\"yes\""));
    add_ev(g, "bad_event", "vulnerable", ASB("wt-2", ASB_OK_BODY ",\"vulnerable\":1"));
    add_ev(g, "bad_event", "category", ASB("wt-3", "\"location\":{\"ward\":\"A\"},\"category\":3"));
    add_ev(g, "bad_event", "summary", ASB("wt-4", ASB_OK_BODY ",\"summary\":5"));
    add_ev(g, "bad_event", "location", ASB("wt-5", "\"category\":\"personal\",\"location\":\"E01000916\""));
    add_ev(g, "bad_event", "location", ASB("wt-6", "\"category\":\"personal\",\"location\":[]"));
    add_ev(g, "bad_event", "dash_score",
           TYPED("wt-7", "da.incident", "\"victim\":\"P-1\",\"dash_score\":\"12\""));
    add_ev(g, "bad_event", "dash_score",
           TYPED("wt-8", "da.incident", "\"victim\":\"P-1\",\"dash_score\":12.0"));
    add_ev(g, "bad_event", "dash_score",
           TYPED("wt-9", "da.incident", "\"victim\":\"P-1\",\"dash_score\":true"));
    add_ev(g, "bad_event", "children_present",
           TYPED("wt-10", "da.incident", "\"victim\":\"P-1\",\"children_present\":\"no\""));
    add_ev(g, "bad_event", "group",
           TYPED("wt-11", "violence.incident",
                 "\"weapon\":\"none\",\"injury\":\"none\",\"group\":null"));

    /* ---- ranges and lengths ---- */
    add_ev(g, "bad_event", "dash_score",
           TYPED("rg-1", "da.incident", "\"victim\":\"P-1\",\"dash_score\":28"));
    add_ev(g, "bad_event", "dash_score",
           TYPED("rg-2", "da.incident", "\"victim\":\"P-1\",\"dash_score\":-1"));
    add_ev(g, "bad_event", "age", TYPED("rg-3", "missing.episode", "\"subject\":\"P-1\",\"age\":18"));
    add_ev(g, "bad_event", "age", TYPED("rg-4", "missing.episode", "\"subject\":\"P-1\",\"age\":-1"));
    add_ev(g, "bad_event", "age",
           TYPED("rg-5", "arrest", "\"subject\":\"P-1\",\"offence\":\"theft\",\"age\":9"));
    add_ev(g, "bad_event", "age",
           TYPED("rg-6", "arrest", "\"subject\":\"P-1\",\"offence\":\"theft\",\"age\":121"));
    add_ev(g, "bad_event", "victim_age",
           TYPED("rg-7", "violence.incident",
                 "\"weapon\":\"knife\",\"injury\":\"serious\",\"victim_age\":121"));
    add_ev(g, "bad_event", "perpetrator_age",
           TYPED("rg-8", "violence.incident",
                 "\"weapon\":\"knife\",\"injury\":\"serious\",\"perpetrator_age\":-3"));
    add_ev(g, "bad_event", "age",
           TYPED("rg-9", "missing.episode", "\"subject\":\"P-1\",\"age\":9007199254740993"));
    s = repeat('a', 2001);
    add_ev(g, "bad_event", "summary", ASB("rg-10", ASB_OK_BODY ",\"summary\":\"%s\""), s);
    add_ev(g, "bad_event", "reason",
           TYPED("rg-11", "referral", "\"subject\":\"P-1\",\"panel\":\"marac\",\"reason\":\"%s\""),
           s);
    add_ev(g, "bad_event", "summary",
           TYPED("rg-12", "case.review.request", "\"applicant\":\"P-1\",\"summary\":\"%s\""), s);
    free(s);

    /* ---- enums ---- */
    add_ev(g, "bad_event", "category", ASB("en-1", "\"location\":{\"ward\":\"A\"},\"category\":\"loud\""));
    add_ev(g, "bad_event", "category", ASB("en-2", "\"location\":{\"ward\":\"A\"},\"category\":\"Personal\""));
    add_ev(g, "bad_event", "risk", TYPED("en-3", "da.incident", "\"victim\":\"P-1\",\"risk\":\"extreme\""));
    add_ev(g, "bad_event", "offence",
           TYPED("en-4", "arrest", "\"subject\":\"P-1\",\"offence\":\"jaywalking\""));
    add_ev(g, "bad_event", "weapon",
           TYPED("en-5", "violence.incident", "\"weapon\":\"Knife\",\"injury\":\"none\""));
    add_ev(g, "bad_event", "injury",
           TYPED("en-6", "violence.incident", "\"weapon\":\"none\",\"injury\":\"\""));
    add_ev(g, "bad_event", "status",
           TYPED("en-7", "case.update", "\"subject\":\"P-1\",\"panel\":\"marac\",\"status\":\"pending\""));
    add_ev(g, "bad_event", "strand",
           TYPED("en-8", "hate.incident", "\"location\":{\"ward\":\"A\"},\"strand\":\"age\""));
    add_ev(g, "bad_event", "kind", TYPED("en-9", "concern", "\"subject\":\"P-1\",\"kind\":\"truancy\""));
    add_ev(g, "bad_event", "category", TYPED("en-10", "call", "\"caller\":\"P-1\",\"category\":\"noise\""));

    /* ---- person references ---- */
    add_ev(g, "bad_event", "victim", ASB("pr-1", ASB_OK_BODY ",\"victim\":\"John Smith\""));
    add_ev(g, "bad_event", "victim", ASB("pr-2", ASB_OK_BODY ",\"victim\":\"\""));
    s = repeat('P', 65);
    add_ev(g, "bad_event", "victim", ASB("pr-3", ASB_OK_BODY ",\"victim\":\"%s\""), s);
    free(s);
    add_ev(g, "bad_event", "caller", TYPED("pr-4", "call", "\"caller\":\"P/1\",\"category\":\"asb\""));
    add_ev(g, "bad_event", "subject",
           TYPED("pr-5", "concern", "\"subject\":\"Zo\xc3\xab\",\"kind\":\"other\""));
    add_ev(g, "bad_event", "victim", ASB("pr-6", ASB_OK_BODY ",\"victim\":42"));
    add_ev(g, "bad_event", "perpetrator",
           TYPED("pr-7", "da.incident", "\"victim\":\"P-1\",\"perpetrator\":\"j.smith@example\""));
    add_ev(g, "bad_event", "applicant",
           TYPED("pr-8", "case.review.request", "\"applicant\":\"P 1\",\"summary\":\"s\""));
    add_ev(g, "bad_event", "subject",
           TYPED("pr-9", "arrest", "\"subject\":[\"P-1\"],\"offence\":\"theft\""));

    /* ---- locations ---- */
    add_ev(g, "bad_event", "location", ASB_LOC("lo-1", "{}"));
    add_ev(g, "bad_event", "location.lon", ASB_LOC("lo-2", "{\"lat\":51.5}"));
    add_ev(g, "bad_event", "location.lat", ASB_LOC("lo-3", "{\"lon\":-0.1}"));
    add_ev(g, "bad_event", "location.lat", ASB_LOC("lo-4", "{\"lat\":91.0,\"lon\":0.0}"));
    add_ev(g, "bad_event", "location.lat", ASB_LOC("lo-5", "{\"lat\":-90.5,\"lon\":0.0}"));
    add_ev(g, "bad_event", "location.lon", ASB_LOC("lo-6", "{\"lat\":0.0,\"lon\":181}"));
    add_ev(g, "bad_event", "location.lat", ASB_LOC("lo-7", "{\"lat\":\"51.5\",\"lon\":\"0\"}"));
    add_ev(g, "bad_event", "location.lsoa", ASB_LOC("lo-8", "{\"lsoa\":\"E0100091\"}"));
    add_ev(g, "bad_event", "location.lsoa", ASB_LOC("lo-9", "{\"lsoa\":\"X01000916\"}"));
    add_ev(g, "bad_event", "location.lsoa", ASB_LOC("lo-10", "{\"lsoa\":\"E0100091A\"}"));
    add_ev(g, "bad_event", "location.lsoa", ASB_LOC("lo-11", "{\"lsoa\":916}"));
    add_ev(g, "bad_event", "location.postcode",
           ASB_LOC("lo-12", "{\"lsoa\":\"E01000916\",\"postcode\":\"SW1A 1AA\"}"));
    add_ev(g, "bad_event", "location", ASB_LOC("lo-13", "{\"description\":\"behind the shops\"}"));
    s = repeat('d', 201);
    add_ev(g, "bad_event", "location.description",
           ASB_LOC("lo-14", "{\"ward\":\"Abbey\",\"description\":\"%s\"}"), s);
    free(s);
    s = repeat('u', 65);
    add_ev(g, "bad_event", "location.id", ASB_LOC("lo-15", "{\"id\":\"%s\"}"), s);
    free(s);
    add_ev(g, "bad_event", "location.ward", ASB_LOC("lo-16", "{\"ward\":\"\"}"));
    add_ev(g, "bad_event", "location.ward", ASB_LOC("lo-17", "{\"ward\":17}"));

    /* ---- unknown fields (data minimisation) ---- */
    add_ev(g, "bad_event", "colour", ASB("uf-1", ASB_OK_BODY ",\"colour\":\"red\""));
    add_ev(g, "bad_event", "name", ASB("uf-2", ASB_OK_BODY ",\"name\":\"John Smith\""));
    add_ev(g, "bad_event", "seq", ASB("uf-3", ASB_OK_BODY ",\"seq\":5"));
    add_ev(g, "bad_event", "received_at",
           ASB("uf-4", ASB_OK_BODY ",\"received_at\":\"2025-03-01T21:14:00Z\""));
    add_ev(g, "bad_event", "dash_score", ASB("uf-5", ASB_OK_BODY ",\"dash_score\":3"));

    /* ---- panels ---- */
    add_ev(g, "unknown_panel", "panel",
           TYPED("pa-1", "referral", "\"subject\":\"P-1\",\"panel\":\"nope\",\"reason\":\"r\""));
    add_ev(g, "unknown_panel", "panel",
           TYPED("pa-2", "case.update", "\"subject\":\"P-1\",\"panel\":\"MARAC\",\"status\":\"open\""));
    add_ev(g, "bad_event", "panel",
           TYPED("pa-3", "referral", "\"subject\":\"P-1\",\"panel\":1,\"reason\":\"r\""));

    /* ---- events that JSON cannot say ---- */
    {
        struct rb r = {.n = 0};
        rb_put(&r, "\x87", 1);
        rb_asb_fields(&r, "raw-1", NULL);
        rb_str(&r, "category");
        rb_str(&r, "nuisance");
        add_ev_raw(g, "bad_event", "category", r.b, r.n, "the field category twice");

        r.n = 0;
        rb_put(&r, "\x87", 1);
        rb_asb_fields(&r, "raw-2", NULL);
        rb_str(&r, "summary");
        rb_put(&r, LIT("\xa4" "ab\xff" "c"));
        add_ev_raw(g, "bad_event", "summary", r.b, r.n, "a summary that is not UTF-8");

        r.n = 0;
        rb_put(&r, "\x87", 1);
        rb_asb_fields(&r, "raw-3", NULL);
        rb_str(&r, "summary");
        rb_put(&r, LIT("\xa3" "\xed\xa0\x80"));
        add_ev_raw(g, "bad_event", "summary", r.b, r.n, "a summary with a UTF-16 surrogate");

        r.n = 0;
        rb_put(&r, "\x87", 1);
        rb_asb_fields(&r, "raw-4", NULL);
        rb_put(&r, LIT("\x07\xc3"));
        add_ev_raw(g, "bad_event", NULL, r.b, r.n, "an event with an integer key");

        r.n = 0;
        rb_put(&r, "\x86", 1);
        rb_asb_fields(&r, "raw-5", "category");
        rb_str(&r, "category");
        rb_put(&r, LIT("\xc4\x08personal"));
        add_ev_raw(g, "bad_event", "category", r.b, r.n, "an enum sent as binary");

        /* lat NaN (JSON cannot say it) */
        r.n = 0;
        rb_put(&r, "\x86", 1);
        rb_str(&r, "id");
        rb_str(&r, "raw-6");
        rb_str(&r, "type");
        rb_str(&r, "asb.report");
        rb_str(&r, "source");
        rb_str(&r, "police");
        rb_str(&r, "occurred_at");
        rb_str(&r, "2025-03-01T21:14:00Z");
        rb_str(&r, "category");
        rb_str(&r, "personal");
        rb_str(&r, "location");
        rb_put(&r, LIT("\x82\xa3lat\xcb\x7f\xf8\0\0\0\0\0\0\xa3lon\xcb\0\0\0\0\0\0\0\0"));
        add_ev_raw(g, "bad_event", "location.lat", r.b, r.n, "lat NaN");

        add_ev_raw(g, "bad_event", NULL, LIT("\x92\x01\x02"), "an event that is an array");
        add_ev_raw(g, "bad_event", NULL, LIT("\xa5""event"), "an event that is a string");
        add_ev_raw(g, "bad_event", NULL, LIT("\xc0"), "an event that is nil");
        add_ev_raw(g, "bad_event", NULL, LIT("\x80"), "an empty event map");
    }

    /* ---- id conflict with a seeded event ---- */
    add_ev(g, "id_conflict", "id", ASB("seed-1", "\"location\":{\"lsoa\":\"E01000916\"},"
                                                 "\"category\":\"nuisance\""));

    /* ---- one event over 64 KiB ---- */
    s = repeat('z', 70 * 1024);
    add_ev(g, "too_large", NULL, ASB("big-1", ASB_OK_BODY ",\"summary\":\"%s\""), s);
    free(s);
}

/* ---- fixtures --------------------------------------------------------- */

static const char *seed_event(int i)
{
    static char b[512];
    snprintf(b, sizeof b, ASB("seed-%d", ASB_OK_BODY), i);
    return b;
}

static int group_setup(void **state)
{
    struct gstate *g = calloc(1, sizeof *g);
    char config[600]; /* no rules: seq 1 is the first seeded event */
    if (!(g->tmp = tu_hub_fresh_log_only(&g->hub, "badinput", g->data, sizeof g->data, config,
                                         sizeof config))) {
        free(g);
        return -1;
    }
    tu_client_open(&g->c, g->hub.endpoint, ZMQ_DEALER);
    for (int i = 1; i <= SEEDED; i++) {
        msgpack_object r = tu_call(&g->c, "{\"op\":\"publish\",\"event\":%s}", seed_event(i));
        if (tu_int(&r, "seq") != i) {
            fprintf(stderr, "seeding failed: %s\n", tu_dump(&r));
            return -1;
        }
    }
    *state = g;
    return 0;
}

static int group_teardown(void **state)
{
    struct gstate *g = *state;
    tu_client_close(&g->c);
    int rc = tu_hub_stop(&g->hub);
    tu_rmrf(g->tmp);
    free(g->tmp);
    for (size_t i = 0; i < g->n; i++) {
        free(g->t[i].name);
        free(g->t[i].bytes);
    }
    free(g->t);
    for (size_t i = 0; i < g->nrejects; i++)
        free(g->reject_bytes[i]);
    free(g->reject_bytes);
    free(g->reject_len);
    free(g->reject_code);
    free(g);
    if (rc != 0) {
        fprintf(stderr, "csphubd exited %d on SIGTERM (want 0)\n", rc);
        return -1;
    }
    return 0;
}

static void expect_reject(struct gstate *g, const void *bytes, size_t len, const char *code)
{
    size_t i = g->nrejects++;
    g->reject_bytes = realloc(g->reject_bytes, g->nrejects * sizeof *g->reject_bytes);
    g->reject_len = realloc(g->reject_len, g->nrejects * sizeof *g->reject_len);
    g->reject_code = realloc(g->reject_code, g->nrejects * sizeof *g->reject_code);
    g->reject_bytes[i] = malloc(len ? len : 1);
    memcpy(g->reject_bytes[i], bytes, len);
    g->reject_len[i] = len;
    g->reject_code[i] = code;
}

/* Checks one error; returns a failure description or NULL. */
static const char *check_error(const msgpack_object *r, const char *prefix, const char *code,
                               const char *field)
{
    static char why[1024];
    char p[96];
    snprintf(p, sizeof p, "%s%serror.code", prefix, *prefix ? "." : "");
    const char *got = tu_str(r, p);
    if (!got || strcmp(got, code)) {
        snprintf(why, sizeof why, "want code %s, got %s", code, got ? got : "(none)");
        return why;
    }
    snprintf(p, sizeof p, "%s%serror.message", prefix, *prefix ? "." : "");
    const char *m = tu_str(r, p);
    if (!m || !*m)
        return "no error message";
    snprintf(p, sizeof p, "%s%serror.field", prefix, *prefix ? "." : "");
    got = tu_str(r, p);
    if (field == NOFIELD && tu_get(r, p)) {
        snprintf(why, sizeof why, "want no field, got '%s'", got ? got : "?");
        return why;
    }
    if (field && field != NOFIELD && (!got || strcmp(got, field))) {
        snprintf(why, sizeof why, "want field '%s', got '%s'", field, got ? got : "(none)");
        return why;
    }
    return NULL;
}

/* ---- tests ------------------------------------------------------------ */

static void test_table(void **state)
{
    struct gstate *g = *state;
    build_table(g);
    int failures = 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (size_t i = 0; i < g->n; i++) {
        struct entry *e = &g->t[i];
        msgpack_object r;
        if (e->kind == E_REQUEST) {
            r = tu_call_raw(&g->c, e->bytes, e->len);
            g->request_errors++;
            if (e->malformed)
                g->malformed_min++;
        } else {
            tu_publish_request(&sb, e->bytes, e->len, (int64_t)i);
            r = tu_call_raw(&g->c, sb.data, sb.size);
            expect_reject(g, e->bytes, e->len, e->code);
        }
        const char *why = NULL;
        if (tu_bool(&r, "ok") != 0)
            why = "want ok: false";
        else if (e->kind == E_EVENT && (!tu_str(&r, "status") ||
                                        strcmp(tu_str(&r, "status"), "rejected")))
            why = "want status: rejected";
        else if (e->kind == E_EVENT && tu_int(&r, "req") != (int64_t)i)
            why = "req not echoed";
        else
            why = check_error(&r, "", e->code, e->field);
        if (why) {
            failures++;
            char shown[121];
            snprintf(shown, sizeof shown, "%s", e->name);
            print_error("table entry %zu (%s): %s\n    reply: %s\n", i, shown, why, tu_dump(&r));
        }
    }
    /* A batch of bad events: ok, one rejected result each, with the event's
     * index in the field path; every one kept. */
    static const char *const batch_events[] = {
        ASB("bb-1", "\"location\":{\"ward\":\"A\"},\"category\":\"loud\""),
        "{" COMMON("bb-2") ",\"type\":\"nope\"}",
        "[1,2,3]",
        ASB("bb-4", ASB_OK_BODY ",\"victim\":\"J Smith\""),
    };
    static const char *const batch_codes[] = {"bad_event", "unknown_type", "bad_event",
                                              "bad_event"};
    static const char *const batch_fields[] = {"events.0.category", "events.1.type", NULL,
                                               "events.3.victim"};
    char *json = NULL;
    assert_true(asprintf(&json, "{\"op\":\"publish\",\"req\":\"batch\",\"events\":[%s,%s,%s,%s]}",
                         batch_events[0], batch_events[1], batch_events[2], batch_events[3]) > 0);
    msgpack_object r = tu_call(&g->c, "%s", json);
    free(json);
    if (tu_bool(&r, "ok") != 1)
        fail_msg("a batch of bad events is still ok: true; got %s", tu_dump(&r));
    for (int i = 0; i < 4; i++) {
        char p[32];
        snprintf(p, sizeof p, "results.%d.status", i);
        const char *st = tu_str(&r, p);
        snprintf(p, sizeof p, "results.%d", i);
        const char *why = st && !strcmp(st, "rejected")
                              ? check_error(&r, p, batch_codes[i], batch_fields[i])
                              : "want status rejected";
        if (why) {
            failures++;
            print_error("batch event %d: %s\n    reply: %s\n", i, why, tu_dump(&r));
        }
        tu_json_to_mp(&sb, batch_events[i]);
        expect_reject(g, sb.data, sb.size, batch_codes[i]);
    }
    msgpack_sbuffer_destroy(&sb);
    if (failures)
        fail_msg("%d of %zu bad inputs got the wrong answer", failures, g->n + 4);
    print_message("%zu bad inputs answered as expected; %zu should be kept as rejects\n",
                  g->n + 4, g->nrejects);
}

/* Over ZMQ_MAXMSGSIZE (1 MiB): ZeroMQ drops the connection, so no reply;
 * the hub goes on serving. */
static void test_oversize_message(void **state)
{
    struct gstate *g = *state;
    size_t len = 2u << 20;
    unsigned char *big = malloc(len);
    /* {op: ping, req: <bin32 of the rest>}: valid MessagePack, 2 MiB. */
    static const char head[] = "\x82\xa2op\xa4ping\xa3req\xc6";
    size_t h = sizeof head - 1;
    memcpy(big, head, h);
    uint32_t n = (uint32_t)(len - h - 4);
    big[h] = (unsigned char)(n >> 24);
    big[h + 1] = (unsigned char)(n >> 16);
    big[h + 2] = (unsigned char)(n >> 8);
    big[h + 3] = (unsigned char)n;
    memset(big + h + 4, 'x', n);
    struct tu_client b;
    tu_client_open(&b, g->hub.endpoint, ZMQ_DEALER);
    assert_int_equal(tu_send_raw(&b, big, len), 0);
    free(big);
    msgpack_object r;
    if (tu_recv(&b, 1500, &r) == 0)
        fail_msg("a 2 MiB message got a reply: %s", tu_dump(&r));
    tu_client_close(&b);
    struct tu_client fresh;
    tu_client_open(&fresh, g->hub.endpoint, ZMQ_DEALER);
    r = tu_call(&fresh, "{\"op\":\"ping\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_int(&r, "last_seq"), SEEDED);
    tu_client_close(&fresh);
    /* And the table's client is unaffected. */
    r = tu_call(&g->c, "{\"op\":\"ping\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
}

/* 10,000 junk messages sent at once, then 10,000 error replies. */
static void test_junk_burst(void **state)
{
    struct gstate *g = *state;
    enum { N = 10000 };
    static const struct {
        const char *bytes;
        size_t len;
        const char *code;
    } junk[] = {
        {LIT("\xc1"), "bad_request"},
        {LIT("\x82\xa2op\xa7pub"), "bad_request"},
        {LIT("\x93\x01\x02\x03"), "bad_request"},
        {LIT("\xa5hello"), "bad_request"},
        {LIT("\x81\x01\x02"), "bad_request"},
        {LIT("\x81\xa2op\xc3"), "bad_request"},
        {LIT("\x81\xa2op\xa4zzzz"), "bad_op"},
        {LIT(""), "bad_request"},
    };
    const size_t kinds = sizeof junk / sizeof *junk;
    struct tu_client j;
    tu_client_open(&j, g->hub.endpoint, ZMQ_DEALER);
    int hwm = 0; /* no limit: all 10,000 queue at once */
    zmq_setsockopt(j.sock, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(j.sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
    /* Wait until connected, so that the burst is one burst. */
    msgpack_object r = tu_call(&j, "{\"op\":\"ping\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    for (int i = 0; i < N; i++)
        assert_int_equal(tu_send_raw(&j, junk[i % kinds].bytes, junk[i % kinds].len), 0);
    int64_t deadline = tu_now_ms() + 30000;
    size_t per_code[2] = {0, 0};
    for (int got = 0; got < N; got++) {
        int64_t left = deadline - tu_now_ms();
        if (left <= 0 || tu_recv(&j, (int)left, &r) != 0)
            fail_msg("only %d of %d junk messages were answered in 30 s", got, N);
        if (tu_bool(&r, "ok") != 0)
            fail_msg("junk reply %d is not an error: %s", got, tu_dump(&r));
        const char *code = tu_str(&r, "error.code");
        if (code && !strcmp(code, "bad_request"))
            per_code[0]++;
        else if (code && !strcmp(code, "bad_op"))
            per_code[1]++;
        else
            fail_msg("junk reply %d: %s", got, tu_dump(&r));
    }
    /* Replies come in order on one connection: the counts match the mix. */
    assert_int_equal(per_code[1], N / kinds);
    assert_int_equal(per_code[0], N - N / kinds);
    g->malformed_min += N - N / kinds; /* an unknown op may or may not count */
    g->request_errors += N;
    tu_client_close(&j);
}

static void test_after_everything(void **state)
{
    struct gstate *g = *state;
    msgpack_object r = tu_call(&g->c, "{\"op\":\"ping\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_int(&r, "last_seq"), SEEDED);
    /* Nothing lost, nothing added. */
    r = tu_call(&g->c, "{\"op\":\"replay\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    const msgpack_object *evs = tu_get(&r, "events");
    assert_non_null(evs);
    assert_int_equal(evs->via.array.size, SEEDED);
    for (int i = 0; i < SEEDED; i++) {
        char p[32], id[32];
        snprintf(p, sizeof p, "events.%d.event.id", i);
        snprintf(id, sizeof id, "seed-%d", i + 1);
        const char *got = tu_str(&r, p);
        if (!got || strcmp(got, id))
            fail_msg("%s: want %s, got %s", p, id, got ? got : "(none)");
    }
    /* Every event-level rejection kept, in order, byte-exact. */
    uint64_t after = 0;
    size_t seen = 0;
    for (int pages = 0; pages < 1000; pages++) {
        r = tu_call(&g->c, "{\"op\":\"rejects\",\"after\":%llu,\"max\":50}",
                    (unsigned long long)after);
        assert_int_equal(tu_bool(&r, "ok"), 1);
        const msgpack_object *rj = tu_get(&r, "rejects");
        assert_non_null(rj);
        for (uint32_t i = 0; i < rj->via.array.size; i++, seen++) {
            if (seen >= g->nrejects)
                fail_msg("more rejects kept than event-level errors sent (%zu)", g->nrejects);
            char p[64];
            snprintf(p, sizeof p, "rejects.%u.id", i);
            if (tu_int(&r, p) != (int64_t)seen + 1)
                fail_msg("%s: want %zu, got %lld", p, seen + 1, (long long)tu_int(&r, p));
            snprintf(p, sizeof p, "rejects.%u.error.code", i);
            const char *code = tu_str(&r, p);
            if (!code || strcmp(code, g->reject_code[seen]))
                fail_msg("reject %zu: want code %s, got %s", seen + 1, g->reject_code[seen],
                         code ? code : "(none)");
            snprintf(p, sizeof p, "rejects.%u.bytes", i);
            const msgpack_object *b = tu_get(&r, p);
            if (!b || b->type != MSGPACK_OBJECT_BIN || b->via.bin.size != g->reject_len[seen] ||
                memcmp(b->via.bin.ptr, g->reject_bytes[seen], g->reject_len[seen]) != 0)
                fail_msg("reject %zu: bytes differ from the event sent", seen + 1);
        }
        if (tu_bool(&r, "end") == 1)
            break;
        after = (uint64_t)tu_int(&r, "next");
    }
    if (seen != g->nrejects)
        fail_msg("%zu rejects kept, want %zu (one per event-level error)", seen, g->nrejects);
    /* The junk and the undecodable requests were counted. */
    r = tu_call(&g->c, "{\"op\":\"stats\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    int64_t malformed = tu_int(&r, "counters.malformed");
    if (malformed < (int64_t)g->malformed_min || malformed > (int64_t)g->request_errors)
        fail_msg("stats.malformed is %lld; want %llu to %llu", (long long)malformed,
                 (unsigned long long)g->malformed_min, (unsigned long long)g->request_errors);
    assert_int_equal(tu_int(&r, "counters.accepted"), SEEDED);
    int64_t rejected = tu_int(&r, "counters.rejected_total");
    if (rejected >= 0 && rejected != (int64_t)g->nrejects)
        fail_msg("stats.rejected_total is %lld, want %zu", (long long)rejected, g->nrejects);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_oversize_message),
        cmocka_unit_test(test_junk_burst),
        cmocka_unit_test(test_after_everything),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
