/* test_rulelang.c: the rule language's parts (hub/rulelang.c): field
 * paths, tests and groups compiled from YAML and evaluated against events
 * (built from JSON), and reason templates rendered from values. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "rulelang.h"
#include "testutil.h"
#include "timefmt.h"

struct fx {
    struct hub_arena arena;
    struct hub_yaml y;
    msgpack_sbuffer sb;
    msgpack_zone zone;
    msgpack_object ev;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    msgpack_sbuffer_init(&f->sb);
    msgpack_zone_init(&f->zone, 4096);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hub_yaml_free(&f->y);
    hub_arena_free(&f->arena);
    msgpack_sbuffer_destroy(&f->sb);
    msgpack_zone_destroy(&f->zone);
    free(f);
    return 0;
}

static int64_t T(const char *rfc3339)
{
    int64_t ms;
    assert_int_equal(csph_time_parse(rfc3339, strlen(rfc3339), &ms, NULL), 0);
    return ms;
}

/* Load YAML text as the file "t.yaml": its value for key. */
static yaml_node_t *node_of(struct fx *f, const char *yaml, const char *key)
{
    struct hub_error err = {0};
    hub_yaml_free(&f->y);
    if (hub_yaml_load_text(&f->y, "t.yaml", (const unsigned char *)yaml, strlen(yaml), &err))
        fail_msg("yaml: %s", err.message);
    yaml_node_t *n = hub_yaml_get(&f->y, hub_yaml_root(&f->y), key);
    assert_non_null(n);
    return n;
}

/* Compile "match: <text>" into c (fails the test when refused). */
static void cond(struct fx *f, const char *match, struct hub_cond *c)
{
    char yaml[2048];
    struct hub_error err = {0};
    snprintf(yaml, sizeof yaml, "# a test\nmatch: %s\n", match);
    if (hub_cond_compile(&f->arena, &f->y, node_of(f, yaml, "match"), c, &err))
        fail_msg("compiling %s: %s", match, err.message);
}

/* "match: <text>" is refused with "t.yaml:2: ...says..." */
static void refused(struct fx *f, const char *match, const char *says)
{
    char yaml[2048];
    struct hub_cond c;
    struct hub_error err = {0};
    snprintf(yaml, sizeof yaml, "# a test\nmatch: %s\n", match);
    enum hub_err rc = hub_cond_compile(&f->arena, &f->y, node_of(f, yaml, "match"), &c, &err);
    if (rc == CSPH_ERR_OK)
        fail_msg("accepted: %s", match);
    assert_int_equal(rc, CSPH_ERR_CONFIG);
    if (strncmp(err.message, "t.yaml:2: ", 10) || !strstr(err.message, says))
        fail_msg("%s: expected 't.yaml:2: ...%s', got '%s'", match, says, err.message);
}

static const msgpack_object *event(struct fx *f, const char *json)
{
    size_t off = 0;
    tu_json_to_mp(&f->sb, json);
    msgpack_zone_clear(&f->zone);
    assert_int_equal(msgpack_unpack(f->sb.data, f->sb.size, &off, &f->zone, &f->ev),
                     MSGPACK_UNPACK_SUCCESS);
    return &f->ev;
}

/* Whether the test (or group) holds for the event. */
static int holds(struct fx *f, const char *match, const char *json)
{
    struct hub_cond c;
    cond(f, match, &c);
    return hub_cond_eval(&c, event(f, json));
}

/* =, != and a missing field (every test on it false, != included; missing true). */
static void test_equality_and_missing(void **state)
{
    struct fx *f = *state;
    assert_true(holds(f, "\"risk = high\"", "{\"risk\":\"high\"}"));
    assert_false(holds(f, "\"risk = high\"", "{\"risk\":\"medium\"}"));
    assert_false(holds(f, "\"risk = high\"", "{}"));
    assert_false(holds(f, "\"risk = high\"", "{\"risk\":\"highest\"}"));
    assert_true(holds(f, "\"risk != high\"", "{\"risk\":\"medium\"}"));
    assert_false(holds(f, "\"risk != high\"", "{\"risk\":\"high\"}"));
    assert_false(holds(f, "\"risk != high\"", "{}"));
    assert_false(holds(f, "\"risk != high\"", "{\"risk\":null}"));
    assert_true(holds(f, "\"risk missing\"", "{}"));
    assert_true(holds(f, "\"risk missing\"", "{\"risk\":null}"));
    assert_false(holds(f, "\"risk missing\"", "{\"risk\":\"x\"}"));
    assert_true(holds(f, "\"risk exists\"", "{\"risk\":\"x\"}"));
    assert_false(holds(f, "\"risk exists\"", "{}"));
    assert_false(holds(f, "\"risk exists\"", "{\"risk\":null}"));
    /* values of different kinds are never equal */
    assert_false(holds(f, "\"dash_score = high\"", "{\"dash_score\":14}"));
    assert_true(holds(f, "\"dash_score != high\"", "{\"dash_score\":14}"));
    assert_false(holds(f, "\"dash_score = '14'\"", "{\"dash_score\":14}")); /* quoted: text */
    assert_true(holds(f, "\"dash_score != '14'\"", "{\"dash_score\":14}"));
    assert_true(holds(f, "\"code = 14\"", "{\"code\":\"14\"}")); /* a text field: as text */
    /* yes/no */
    assert_true(holds(f, "\"hate = true\"", "{\"hate\":true}"));
    assert_false(holds(f, "\"hate = true\"", "{\"hate\":false}"));
    assert_true(holds(f, "\"hate = false\"", "{\"hate\":false}"));
    assert_false(holds(f, "\"hate = false\"", "{}"));
    assert_false(holds(f, "\"hate = true\"", "{\"hate\":1}"));
    /* nested fields; a dotted path through something that is not a map */
    assert_true(holds(f, "\"location.lsoa = E01000001\"", "{\"location\":{\"lsoa\":\"E01000001\"}}"));
    assert_false(holds(f, "\"location.lsoa = E01000001\"", "{\"location\":\"E01000001\"}"));
    assert_false(holds(f, "\"location.lsoa = E01000001\"", "{\"location\":{}}"));
    assert_true(holds(f, "\"location.lsoa missing\"", "{\"location\":\"E01000001\"}"));
    /* quoted values keep spaces */
    assert_true(holds(f, "\"ward = 'Old Town'\"", "{\"ward\":\"Old Town\"}"));
    assert_true(holds(f, "['ward = \"Old Town\"']", "{\"ward\":\"Old Town\"}"));
}

/* Ordered comparisons: numbers as numbers, text byte by byte. */
static void test_ordering(void **state)
{
    struct fx *f = *state;
    assert_true(holds(f, "\"dash_score >= 14\"", "{\"dash_score\":14}"));
    assert_false(holds(f, "\"dash_score >= 14\"", "{\"dash_score\":13}"));
    assert_true(holds(f, "\"dash_score >= 14\"", "{\"dash_score\":27}"));
    assert_true(holds(f, "\"dash_score >= 14\"", "{\"dash_score\":14.5}"));
    assert_false(holds(f, "\"dash_score >= 14\"", "{\"dash_score\":13.99}"));
    assert_false(holds(f, "\"dash_score >= 14\"", "{}"));
    assert_true(holds(f, "\"dash_score > 13\"", "{\"dash_score\":14}"));
    assert_false(holds(f, "\"dash_score > 14\"", "{\"dash_score\":14}"));
    assert_true(holds(f, "\"dash_score <= 14\"", "{\"dash_score\":14}"));
    assert_false(holds(f, "\"dash_score < 14\"", "{\"dash_score\":14}"));
    assert_true(holds(f, "\"x > -3\"", "{\"x\":-2}"));
    assert_false(holds(f, "\"x > -3\"", "{\"x\":-5}"));
    assert_true(holds(f, "\"x > -3\"", "{\"x\":0}"));
    assert_true(holds(f, "\"x < 2.5\"", "{\"x\":2}"));
    assert_false(holds(f, "\"x < 2.5\"", "{\"x\":3}"));
    assert_true(holds(f, "\"x < -2.5\"", "{\"x\":-3}"));
    assert_true(holds(f, "\"x >= -2.5\"", "{\"x\":-2.5}"));
    /* text: byte by byte ("9" after "14") */
    assert_true(holds(f, "\"code >= 14\"", "{\"code\":\"9\"}"));
    assert_true(holds(f, "\"name < b\"", "{\"name\":\"abc\"}"));
    assert_false(holds(f, "\"name < abc\"", "{\"name\":\"abc\"}"));
    assert_true(holds(f, "\"name > ab\"", "{\"name\":\"abc\"}"));
    /* a number against text: not comparable, false */
    assert_false(holds(f, "\"dash_score >= abc\"", "{\"dash_score\":14}"));
    assert_false(holds(f, "\"dash_score < abc\"", "{\"dash_score\":14}"));

    /* an unsigned value above INT64_MAX against negative and positive literals */
    struct hub_cond gt, lt, eq;
    cond(f, "\"n > -1\"", &gt);
    struct hub_cond big;
    cond(f, "\"n > 9223372036854775806\"", &big);
    cond(f, "\"n < 5\"", &lt);
    cond(f, "\"n = 5\"", &eq);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str(&pk, 1);
    msgpack_pack_str_body(&pk, "n", 1);
    msgpack_pack_uint64(&pk, UINT64_MAX - 5);
    msgpack_object o;
    size_t off = 0;
    msgpack_zone_clear(&f->zone);
    assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &f->zone, &o), MSGPACK_UNPACK_SUCCESS);
    assert_true(hub_cond_eval(&gt, &o));
    assert_true(hub_cond_eval(&big, &o));
    assert_false(hub_cond_eval(&lt, &o));
    assert_false(hub_cond_eval(&eq, &o));
    msgpack_sbuffer_destroy(&sb);
}

/* in [...] and between A and B (both ends included). */
static void test_in_between(void **state)
{
    struct fx *f = *state;
    const char *in = "\"weapon in [knife, firearm]\"";
    assert_true(holds(f, in, "{\"weapon\":\"knife\"}"));
    assert_true(holds(f, in, "{\"weapon\":\"firearm\"}"));
    assert_false(holds(f, in, "{\"weapon\":\"none\"}"));
    assert_false(holds(f, in, "{\"weapon\":\"knif\"}"));
    assert_false(holds(f, in, "{}"));
    assert_true(holds(f, "\"ward in ['Old Town', East]\"", "{\"ward\":\"Old Town\"}"));
    assert_true(holds(f, "\"ward in ['Old Town', East]\"", "{\"ward\":\"East\"}"));
    assert_false(holds(f, "\"ward in ['Old Town', East]\"", "{\"ward\":\"Old\"}"));
    assert_true(holds(f, "\"age in [10, 12, 14]\"", "{\"age\":12}"));
    assert_false(holds(f, "\"age in [10, 12, 14]\"", "{\"age\":11}"));
    assert_true(holds(f, "\"age in [10,12]\"", "{\"age\":12}"));
    assert_true(holds(f, "\"flag in [true]\"", "{\"flag\":true}"));
    assert_false(holds(f, "\"flag in [true]\"", "{\"flag\":false}"));

    const char *b = "\"age between 10 and 25\"";
    assert_true(holds(f, b, "{\"age\":10}"));
    assert_true(holds(f, b, "{\"age\":25}"));
    assert_true(holds(f, b, "{\"age\":17}"));
    assert_false(holds(f, b, "{\"age\":9}"));
    assert_false(holds(f, b, "{\"age\":26}"));
    assert_true(holds(f, b, "{\"age\":25.0}"));
    assert_false(holds(f, b, "{\"age\":25.5}"));
    assert_false(holds(f, b, "{\"age\":-10}"));
    assert_false(holds(f, b, "{}"));
    assert_true(holds(f, "\"t between -5 and -1\"", "{\"t\":-5}"));
    assert_false(holds(f, "\"t between -5 and -1\"", "{\"t\":0}"));
    assert_true(holds(f, "\"name between b and d\"", "{\"name\":\"c\"}"));
    assert_true(holds(f, "\"name between b and d\"", "{\"name\":\"d\"}"));
    assert_false(holds(f, "\"name between b and d\"", "{\"name\":\"da\"}"));
    assert_false(holds(f, "\"name between b and d\"", "{\"name\":\"a\"}"));
}

/* Lists (all), any and all groups, nesting; a zeroed condition holds. */
static void test_groups(void **state)
{
    struct fx *f = *state;
    const char *m = "[{any: [\"risk = high\", \"dash_score >= 14\"]}, "
                    "{all: [\"children_present = true\", {any: [\"risk missing\", \"risk != low\"]}]}]";
    assert_true(holds(f, m, "{\"risk\":\"high\",\"children_present\":true}"));
    assert_true(holds(f, m, "{\"dash_score\":20,\"children_present\":true}"));
    assert_false(holds(f, m, "{\"dash_score\":20,\"children_present\":false}"));
    assert_false(holds(f, m, "{\"dash_score\":2,\"children_present\":true}"));
    assert_false(holds(f, m, "{\"dash_score\":20,\"risk\":\"low\",\"children_present\":true}"));
    /* one test, not in a list */
    assert_true(holds(f, "\"risk = high\"", "{\"risk\":\"high\"}"));
    assert_true(holds(f, "{any: [\"a = 1\", \"b = 2\"]}", "{\"b\":2}"));
    assert_false(holds(f, "{all: [\"a = 1\", \"b = 2\"]}", "{\"b\":2}"));
    /* an empty list holds */
    assert_true(holds(f, "[]", "{}"));
    struct hub_cond zero;
    memset(&zero, 0, sizeof zero);
    assert_true(hub_cond_eval(&zero, event(f, "{}")));
    /* seven groups deep (the test 8 deep) is allowed */
    assert_true(holds(f, "[{all: [{all: [{all: [{all: [{all: [{all: [{all: [\"a = 1\"]}]}]}]}]}]}]}]",
                      "{\"a\":1}"));
}

static int count_test(void *ctx, const struct hub_cond *t)
{
    (void)t;
    (*(int *)ctx)++;
    return 0;
}

static int stop_at_b(void *ctx, const struct hub_cond *t)
{
    (*(int *)ctx)++;
    return !strcmp(t->field.text, "b") ? 7 : 0;
}

/* Every test of a condition is visited, depth first, until one stops it. */
static void test_each_test(void **state)
{
    struct fx *f = *state;
    struct hub_cond c;
    cond(f, "[\"a = 1\", {any: [\"b = 2\", {all: [\"c = 3\", \"d = 4\"]}]}, \"e exists\"]", &c);
    int n = 0;
    assert_int_equal(hub_cond_each_test(&c, count_test, &n), 0);
    assert_int_equal(n, 5);
    n = 0;
    assert_int_equal(hub_cond_each_test(&c, stop_at_b, &n), 7);
    assert_int_equal(n, 2);
    /* the line each test is written on */
    cond(f, "\n  - \"a = 1\"\n  - \"b = 2\"", &c);
    assert_int_equal(c.nkids, 2);
    assert_int_equal(c.kids[0].line, 3);
    assert_int_equal(c.kids[1].line, 4);
}

/* Tests that do not parse are refused with file:line. */
static void test_refused(void **state)
{
    struct fx *f = *state;
    refused(f, "\"risk == high\"", "unknown operator '=='");
    refused(f, "\"dash_score => 14\"", "unknown operator '=>'");
    refused(f, "\"risk like high\"", "unknown operator 'like'");
    refused(f, "\"age between 25 and 10\"", "the lower bound comes first");
    refused(f, "\"age between 10 25\"", "between LOW and HIGH");
    refused(f, "\"weapon in knife\"", "'in' takes a list");
    refused(f, "\"weapon in [knife, firearm\"", "closing ]");
    refused(f, "\"weapon in [knife, ]\"", "empty or unterminated");
    refused(f, "\"risk = 'high\"", "no value after the operator");
    refused(f, "\"risk =\"", "no value after the operator");
    refused(f, "\"= high\"", "must start with a field name");
    refused(f, "\"risk\"", "has no operator");
    refused(f, "\"risk = high now\"", "unexpected 'now'");
    refused(f, "\"a..b = 1\"", "is not a field name");
    refused(f, "[{either: [\"risk = high\"]}]", "unknown group 'either'");
    refused(f, "[{any: []}]", "must list at least one test");
    refused(f, "[{any: [\"a = 1\"], all: [\"b = 1\"]}]", "a group {any: [...]} / {all: [...]}");
    refused(f, "[{all: [{all: [{all: [{all: [{all: [{all: [{all: [{all: [\"a = 1\"]}]}]}]}]}]}]}]}]",
            "nested more than 8 deep");
}

/* Field paths: letters, digits, _ and -, dotted into maps, at most 6 deep. */
static void test_paths(void **state)
{
    struct fx *f = *state;
    struct hub_path p;
    assert_int_equal(hub_path_compile(&f->arena, "victim", 6, &p), 0);
    assert_int_equal(p.nseg, 1);
    assert_string_equal(p.text, "victim");
    assert_int_equal(hub_path_compile(&f->arena, "location.lsoa", 13, &p), 0);
    assert_int_equal(p.nseg, 2);
    assert_int_equal(p.seg[1].n, 4);
    assert_int_equal(hub_path_compile(&f->arena, "a.b.c.d.e.f", 11, &p), 0);
    assert_int_equal(p.nseg, 6);
    assert_int_equal(hub_path_compile(&f->arena, "a.b.c.d.e.f.g", 13, &p), -1);
    assert_int_equal(hub_path_compile(&f->arena, "", 0, &p), -1);
    assert_int_equal(hub_path_compile(&f->arena, ".a", 2, &p), -1);
    assert_int_equal(hub_path_compile(&f->arena, "a.", 2, &p), -1);
    assert_int_equal(hub_path_compile(&f->arena, "a..b", 4, &p), -1);
    assert_int_equal(hub_path_compile(&f->arena, "vic tim", 7, &p), -1);
    assert_int_equal(hub_path_compile(&f->arena, "dash-score_2", 12, &p), 0);
    char longname[CSPH_PATH_TEXT_MAX + 2];
    memset(longname, 'a', sizeof longname);
    assert_int_equal(hub_path_compile(&f->arena, longname, CSPH_PATH_TEXT_MAX, &p), 0);
    assert_int_equal(hub_path_compile(&f->arena, longname, CSPH_PATH_TEXT_MAX + 1, &p), -1);
    /* only the n bytes given count */
    assert_int_equal(hub_path_compile(&f->arena, "victim junk", 6, &p), 0);
    assert_string_equal(p.text, "victim");

    assert_int_equal(hub_path_compile(&f->arena, "location.lsoa", 13, &p), 0);
    const msgpack_object *o = event(f, "{\"location\":{\"lsoa\":\"E01\",\"id\":\"L\"},\"lsoa\":\"top\"}");
    const msgpack_object *v = hub_path_get(o, &p);
    assert_non_null(v);
    assert_int_equal(v->type, MSGPACK_OBJECT_STR);
    assert_memory_equal(v->via.str.ptr, "E01", 3);
    o = event(f, "{\"location\":[1,2]}");
    assert_null(hub_path_get(o, &p));
}

/* ---- reason templates ----------------------------------------------------- */

struct rendered {
    char buf[512];
};

static const char *render(struct fx *f, const char *s, const struct hub_tmpl_values *v,
                          struct rendered *out)
{
    struct hub_tmpl t;
    struct hub_error err = {0};
    if (hub_tmpl_compile(&f->arena, &f->y, node_of(f, "# a reason\nreason: r\n", "reason"), s, 0,
                         "marac", &t, &err))
        fail_msg("compiling '%s': %s", s, err.message);
    hub_tmpl_render(&t, v, out->buf, sizeof out->buf);
    return out->buf;
}

static void tmpl_refused(struct fx *f, const char *s, int restricted, const char *says)
{
    struct hub_tmpl t;
    struct hub_error err = {0};
    enum hub_err rc = hub_tmpl_compile(&f->arena, &f->y,
                                       node_of(f, "# a reason\nreason: r\n", "reason"), s,
                                       restricted, "channel", &t, &err);
    if (rc == CSPH_ERR_OK)
        fail_msg("accepted '%s'", s);
    assert_int_equal(rc, CSPH_ERR_CONFIG);
    if (strncmp(err.message, "t.yaml:2: ", 10) || !strstr(err.message, says))
        fail_msg("'%s': expected 't.yaml:2: ...%s', got '%s'", s, says, err.message);
}

/* {count} {key} {first} {last} {field:x} and the rest of the placeholders. */
static void test_templates(void **state)
{
    struct fx *f = *state;
    struct rendered r;
    const char *names[] = {"victim", "perpetrator"};
    const char *values[] = {"V-1xxxx", "P-22"}; /* key_lens: only the first 3 and 4 bytes */
    const uint8_t lens[] = {3, 4};
    const msgpack_object *ev = event(f, "{\"x\":7,\"neg\":-3,\"ratio\":2.5,\"flag\":true,"
                                        "\"location\":{\"lsoa\":\"E01000001\"},"
                                        "\"reported_at\":\"2025-04-04T10:00:00Z\",\"list\":[1]}");
    struct hub_tmpl_values v = {
        .count = 3, .distinct = 2, .nkey = 1, .key_names = names, .key_values = values,
        .key_lens = lens, .first_ms = T("2025-01-02T19:00:00Z"), .last_ms = T("2025-04-03T20:00:00Z"),
        .date_ms = T("2025-04-03T20:00:00Z"), .threshold = 3, .window = 183, .within = 365,
        .panel = "asb-case-review", .priority = "standard", .rule = "acr.victim", .has_due = 0,
        .event = ev,
    };
    assert_string_equal(render(f, "{count} ASB reports by {key_name} {key} between {first} and "
                                  "{last} (threshold {threshold} in {window} days)", &v, &r),
                        "3 ASB reports by victim V-1 between 2 Jan and 3 Apr 2025 (threshold 3 in "
                        "183 days)");
    /* {first} keeps its year when {last} is in another year, or absent */
    v.first_ms = T("2024-12-30T10:00:00Z");
    assert_string_equal(render(f, "{first} - {last}", &v, &r), "30 Dec 2024 - 3 Apr 2025");
    v.first_ms = T("2025-01-02T19:00:00Z");
    assert_string_equal(render(f, "since {first}", &v, &r), "since 2 Jan 2025");
    /* fields of the event */
    assert_string_equal(render(f, "{field:x} {field:neg} {field:ratio} {field:flag} "
                                  "{field:location.lsoa} {field:absent} {field:list} "
                                  "{date:reported_at} {field:reported_at}", &v, &r),
                        "7 -3 2.5 true E01000001 not given (several values) 4 Apr 2025 "
                        "2025-04-04T10:00:00Z");
    assert_string_equal(render(f, "{date:location.lsoa}", &v, &r), "E01000001");
    /* the rest */
    assert_string_equal(render(f, "{distinct}/{count} {date} {within} {panel} {priority} {rule} "
                                  "{due}", &v, &r),
                        "2/3 3 Apr 2025 365 asb-case-review standard acr.victim no deadline");
    v.has_due = 1;
    v.due_ms = T("2025-04-17T21:00:00Z");
    assert_string_equal(render(f, "due {due}", &v, &r), "due 17 Apr 2025");
    /* a compound key */
    v.nkey = 2;
    assert_string_equal(render(f, "{key_name}: {key}", &v, &r), "victim + perpetrator: V-1 / P-22");
    /* literal braces; text only */
    assert_string_equal(render(f, "{{{count}}} }} {{", &v, &r), "{3} } {");
    assert_string_equal(render(f, "plain text", &v, &r), "plain text");
    assert_string_equal(render(f, "", &v, &r), "");
    /* no event: fields not given */
    v.event = NULL;
    assert_string_equal(render(f, "[{field:x}]", &v, &r), "[not given]");
}

/* Rendering stops at the buffer's end, never cutting a UTF-8 character. */
static void test_template_truncation(void **state)
{
    struct fx *f = *state;
    struct hub_tmpl t;
    struct hub_error err = {0};
    struct hub_tmpl_values v = {.count = 12345};
    char buf[6];
    assert_int_equal(hub_tmpl_compile(&f->arena, &f->y, node_of(f, "reason: r\n", "reason"),
                                      "\xc3\xa9\xc3\xa9\xc3\xa9{count}", 0, "marac", &t, &err),
                     CSPH_ERR_OK);
    hub_tmpl_render(&t, &v, buf, sizeof buf);
    assert_string_equal(buf, "\xc3\xa9\xc3\xa9"); /* 4 bytes: the third would be cut */
    char big[16];
    hub_tmpl_render(&t, &v, big, sizeof big);
    assert_string_equal(big, "\xc3\xa9\xc3\xa9\xc3\xa9" "12345");
    char small[9];
    hub_tmpl_render(&t, &v, small, sizeof small);
    assert_string_equal(small, "\xc3\xa9\xc3\xa9\xc3\xa9" "12");
}

/* Unknown placeholders, unclosed braces, details on a restricted panel: refused, file:line. */
static void test_template_refused(void **state)
{
    struct fx *f = *state;
    tmpl_refused(f, "{cuont} incidents", 0, "unknown placeholder {cuont}");
    tmpl_refused(f, "{count incidents", 0, "without a closing '}'");
    tmpl_refused(f, "{field:} x", 0, "unknown placeholder {field:}");
    tmpl_refused(f, "{field:a b}", 0, "does not name a field");
    tmpl_refused(f, "{count} for {key}", 1, "restricted panel 'channel'");
    tmpl_refused(f, "{key} on {date}", 1, "{date}");
    tmpl_refused(f, "{key} {field:summary}", 1, "{field:summary}");
    /* what shows only that a case exists is allowed */
    struct hub_tmpl t;
    struct hub_error err = {0};
    assert_int_equal(hub_tmpl_compile(&f->arena, &f->y, node_of(f, "reason: r\n", "reason"),
                                      "{key_name} {key} {panel} {priority} {rule} {due}", 1,
                                      "channel", &t, &err), CSPH_ERR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_equality_and_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ordering, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_between, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_test, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_paths, setup, teardown),
        cmocka_unit_test_setup_teardown(test_templates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_template_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
