/* test_schema.c: loading schemas/ and checking events against it
 * (hub/schema.c). Loads the real schema files from $CSPH_SCHEMAS; builds
 * events with msgpack_packer and unpacks them into a zone, as the hub does. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <msgpack.h>

#include "err.h"
#include "mpx.h"
#include "schema.h"

static const char *const panels[] = {"marac", "community-marac", "asb-case-review", "hate-crime",
                                     "iom", "sgv", "mace", "tasking", "channel", "mappa"};
#define NPANELS (sizeof panels / sizeof *panels)

static const char *const all_types[] = {
    "asb.report",      "call",    "da.incident", "arrest",      "violence.incident",
    "hate.incident",   "missing.episode", "concern", "referral", "case.update",
    "case.review.request", "risk.assessment",
};

/* ---- building events ------------------------------------------------- */

/* Fields are packed into body and counted; ev_done prefixes the map header
 * and unpacks into a zone. The zone's strings point into whole, so both live
 * until ev_free. */
struct ev {
    msgpack_sbuffer body;
    msgpack_packer pk;
    uint32_t n;
    msgpack_sbuffer whole;
    msgpack_zone zone;
    msgpack_object obj;
    int done;
};

static void pstr(msgpack_packer *pk, const char *s)
{
    size_t len = strlen(s);
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

static void ev_init(struct ev *e)
{
    memset(e, 0, sizeof *e);
    msgpack_sbuffer_init(&e->body);
    msgpack_packer_init(&e->pk, &e->body, msgpack_sbuffer_write);
}

/* Start a field: the caller packs its value next. */
static msgpack_packer *key(struct ev *e, const char *k)
{
    e->n++;
    pstr(&e->pk, k);
    return &e->pk;
}

static void kv_str(struct ev *e, const char *k, const char *v)
{
    pstr(key(e, k), v);
}

static void kv_int(struct ev *e, const char *k, int64_t v)
{
    msgpack_pack_int64(key(e, k), v);
}

static void kv_bool(struct ev *e, const char *k, int v)
{
    if (v)
        msgpack_pack_true(key(e, k));
    else
        msgpack_pack_false(key(e, k));
}

static void kv_lsoa(struct ev *e, const char *k, const char *lsoa)
{
    msgpack_packer *pk = key(e, k);
    msgpack_pack_map(pk, 1);
    pstr(pk, "lsoa");
    pstr(pk, lsoa);
}

/* id, type, occurred_at and source. */
static void ev_common(struct ev *e, const char *type)
{
    kv_str(e, "id", "evt-0001");
    kv_str(e, "type", type);
    kv_str(e, "occurred_at", "2025-03-01T21:14:00Z");
    kv_str(e, "source", "police");
}

static const msgpack_object *ev_done(struct ev *e)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(&e->whole);
    msgpack_packer_init(&pk, &e->whole, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, e->n);
    msgpack_sbuffer_write(&e->whole, e->body.data, e->body.size);
    msgpack_zone_init(&e->zone, 2048);
    e->done = 1;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(e->whole.data, e->whole.size, &off, &e->zone, &e->obj),
                     MSGPACK_UNPACK_SUCCESS);
    return &e->obj;
}

static void ev_free(struct ev *e)
{
    msgpack_sbuffer_destroy(&e->body);
    if (e->done) {
        msgpack_sbuffer_destroy(&e->whole);
        msgpack_zone_destroy(&e->zone);
    }
}

/* A valid event of each type, with common fields and every field required. */
static void ev_valid_fields(struct ev *e, const char *type)
{
    if (!strcmp(type, "asb.report")) {
        kv_str(e, "victim", "P-1042");
        kv_lsoa(e, "location", "E01000916");
        kv_str(e, "category", "personal");
        kv_bool(e, "hate", 0);
        kv_bool(e, "vulnerable", 1);
        kv_str(e, "summary", "Repeated noise and threats from a group outside the flats.");
    } else if (!strcmp(type, "call")) {
        kv_str(e, "caller", "P-7");
        kv_str(e, "category", "welfare");
    } else if (!strcmp(type, "da.incident")) {
        kv_str(e, "victim", "P-1042");
        kv_str(e, "perpetrator", "P-2001");
        kv_int(e, "dash_score", 14);
        kv_str(e, "risk", "high");
        kv_bool(e, "children_present", 1);
        msgpack_packer *pk = key(e, "location");
        msgpack_pack_map(pk, 2);
        pstr(pk, "lat");
        msgpack_pack_double(pk, 51.5072);
        pstr(pk, "lon");
        msgpack_pack_double(pk, -0.1276);
    } else if (!strcmp(type, "arrest")) {
        kv_str(e, "subject", "nd:2025:000123");
        kv_int(e, "age", 19);
        kv_str(e, "offence", "drugs.supply");
    } else if (!strcmp(type, "violence.incident")) {
        kv_str(e, "weapon", "knife");
        kv_str(e, "injury", "serious");
        kv_int(e, "victim_age", 16);
        kv_bool(e, "group", 1);
    } else if (!strcmp(type, "hate.incident")) {
        msgpack_packer *pk = key(e, "location");
        msgpack_pack_map(pk, 2);
        pstr(pk, "ward");
        pstr(pk, "Castle");
        pstr(pk, "description");
        pstr(pk, "bus stop by the library");
        kv_str(e, "strand", "religion");
    } else if (!strcmp(type, "missing.episode")) {
        kv_str(e, "subject", "C-88");
        kv_int(e, "age", 14);
    } else if (!strcmp(type, "concern")) {
        kv_str(e, "subject", "P-3");
        kv_str(e, "kind", "hoarding");
    } else if (!strcmp(type, "referral")) {
        kv_str(e, "subject", "P-3");
        kv_str(e, "panel", "channel");
        kv_str(e, "reason", "Expressed support for an extremist group online.");
    } else if (!strcmp(type, "case.update")) {
        kv_str(e, "subject", "P-3");
        kv_str(e, "panel", "marac");
        kv_str(e, "risk", "medium");
        kv_str(e, "status", "reviewed");
    } else if (!strcmp(type, "case.review.request")) {
        kv_str(e, "applicant", "P-55");
        kv_str(e, "summary", "Four reports in six months with no action taken.");
    } else if (!strcmp(type, "risk.assessment")) {
        kv_str(e, "subject", "P-3");
        kv_str(e, "panel", "marac");
        kv_str(e, "tool", "dash");
        kv_int(e, "score", 15);
    } else {
        fail_msg("no valid event for %s", type);
    }
}

/* ---- fixture --------------------------------------------------------- */

static char schema_dir[1024];

static const char *schemas_path(void)
{
    const char *env = getenv("CSPH_SCHEMAS");
    if (env && *env)
        return env;
    const char *src = getenv("CSPH_SOURCE_DIR");
#ifdef CSPH_SOURCE_DIR
    if (!src || !*src)
        src = CSPH_SOURCE_DIR;
#endif
    if (src && *src) {
        snprintf(schema_dir, sizeof schema_dir, "%s/schemas", src);
        return schema_dir;
    }
    return "../schemas";
}

static int setup(void **state)
{
    struct hub_schemas *s = NULL;
    struct hub_error err = {0};
    enum hub_err rc = hub_schemas_load(&s, schemas_path(), panels, NPANELS, &err);
    if (rc) {
        fprintf(stderr, "cannot load schemas from %s: %s\n", schemas_path(), err.message);
        return -1;
    }
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    struct hub_schemas *s = *state;
    hub_schemas_destroy(&s);
    assert_null(s);
    return 0;
}

/* Check e and assert the outcome: code, field path, and a message that
 * names the field. */
static void check_event(const struct hub_schemas *s, struct ev *e, int require_source,
                         enum hub_err code, const char *field, const char *message_part)
{
    const msgpack_object *obj = ev_done(e);
    struct hub_event_info info;
    struct hub_error err = {0};
    memset(&info, 0xAB, sizeof info);
    struct hub_event_info before = info;
    enum hub_err rc = hub_schema_check(s, obj, require_source, &info, &err);
    if (rc != code)
        fail_msg("expected %s, got %s (field '%s': %s)", hub_err_name(code), hub_err_name(rc),
                 err.field, err.message);
    if (code == CSPH_ERR_OK) {
        ev_free(e);
        return;
    }
    assert_int_equal(err.code, code);
    if (strcmp(err.field, field) != 0)
        fail_msg("expected field '%s', got '%s' (%s)", field, err.field, err.message);
    assert_true(strlen(err.message) > 10);
    if (field[0]) {
        char quoted[200];
        snprintf(quoted, sizeof quoted, "'%s'", field);
        if (!strstr(err.message, quoted))
            fail_msg("message does not name field %s: %s", quoted, err.message);
    }
    if (message_part && !strstr(err.message, message_part))
        fail_msg("message '%s' lacks '%s'", err.message, message_part);
    /* a failed check leaves info alone */
    assert_memory_equal(&info, &before, sizeof info);
    ev_free(e);
}

#define EXPECT_BAD(s, e, field, part)                                                          \
    check_event((s), (e), 1, CSPH_ERR_BAD_EVENT, (field), (part))

/* ---- loading --------------------------------------------------------- */

static void test_load_real_schemas(void **state)
{
    const struct hub_schemas *s = *state;
    size_t n = sizeof all_types / sizeof *all_types;
    /* The 12 types agencies publish, plus the 15 the hub writes itself
     * (5 of them the panels' work after the alert: panelwork.h; 5 data
     * protection's: erase.h, hold.h, sar.h, access.h, sweep.h). */
    static const char *const hub_types[] = {"alert.status", "audit.access", "rules.loaded",
                                            "timer.fired", "people.loaded", "dp.erasure",
                                            "dp.hold", "action.created", "action.updated",
                                            "case.heard", "meeting.agenda", "case.opened",
                                            "dp.sar", "audit.returned", "dp.retention"};
    assert_int_equal(hub_schemas_count(s), n + 15);
    for (size_t i = 0; i < 15; i++)
        assert_true(hub_schemas_find(s, hub_types[i], strlen(hub_types[i])) >= 0);
    for (size_t i = 0; i < n; i++) {
        int idx = hub_schemas_find(s, all_types[i], strlen(all_types[i]));
        if (idx < 0)
            fail_msg("type %s not loaded", all_types[i]);
        assert_string_equal(hub_schemas_name(s, (size_t)idx), all_types[i]);
    }
    /* sorted by file name */
    for (size_t i = 1; i < n + 13; i++)
        assert_true(strcmp(hub_schemas_name(s, i - 1), hub_schemas_name(s, i)) < 0);
    assert_null(hub_schemas_name(s, n + 15));
    /* Issue 17, point 8: every shipped type declares its retention class,
     * and those naming a panel say which field. */
    for (size_t i = 0; i < n + 15; i++)
        assert_non_null(hub_schemas_retention(s, i));
    int asb = hub_schemas_find(s, "asb.report", 10), ref = hub_schemas_find(s, "referral", 8);
    assert_string_equal(hub_schemas_retention(s, (size_t)asb), "asb");
    assert_null(hub_schemas_panel_field(s, (size_t)asb));
    assert_string_equal(hub_schemas_panel_field(s, (size_t)ref), "panel");
    assert_int_equal(hub_schemas_find(s, "asb", 3), -1);
    assert_int_equal(hub_schemas_find(s, "asb.report.x", 12), -1);
    /* length-bounded: "call" inside a longer buffer */
    assert_true(hub_schemas_find(s, "callx", 4) >= 0);
}

static void test_destroy_accepts_null(void **state)
{
    (void)state;
    struct hub_schemas *s = NULL;
    hub_schemas_destroy(&s);
    hub_schemas_destroy(NULL);
    assert_int_equal(hub_schemas_count(NULL), 0);
}

/* ---- valid events ---------------------------------------------------- */

static void test_valid_each_type(void **state)
{
    const struct hub_schemas *s = *state;
    for (size_t i = 0; i < sizeof all_types / sizeof *all_types; i++) {
        struct ev e;
        ev_init(&e);
        ev_common(&e, all_types[i]);
        ev_valid_fields(&e, all_types[i]);
        const msgpack_object *obj = ev_done(&e);
        struct hub_event_info info;
        struct hub_error err = {0};
        enum hub_err rc = hub_schema_check(s, obj, 1, &info, &err);
        if (rc)
            fail_msg("valid %s refused: %s: %s (field %s)", all_types[i], hub_err_name(rc),
                     err.message, err.field);
        assert_int_equal(info.id_len, 8);
        assert_memory_equal(info.id, "evt-0001", 8);
        assert_int_equal(info.type_len, strlen(all_types[i]));
        assert_memory_equal(info.type, all_types[i], info.type_len);
        assert_non_null(info.source);
        assert_int_equal(info.source_len, 6);
        assert_memory_equal(info.source, "police", 6);
        assert_int_equal(info.occurred_at_ms, 1740863640000LL);
        assert_int_equal(info.type_index, hub_schemas_find(s, all_types[i], info.type_len));
        ev_free(&e);
    }
}

static void test_valid_minimal_and_field_order(void **state)
{
    const struct hub_schemas *s = *state;
    /* fields in any order, optional ones absent, offset time */
    struct ev e;
    ev_init(&e);
    kv_str(&e, "category", "nuisance");
    kv_lsoa(&e, "location", "W01001234");
    kv_str(&e, "occurred_at", "2025-03-01T22:14:00.250+01:00");
    kv_str(&e, "type", "asb.report");
    kv_str(&e, "source", "housing");
    kv_str(&e, "id", "x");
    const msgpack_object *obj = ev_done(&e);
    struct hub_event_info info;
    struct hub_error err = {0};
    assert_int_equal(hub_schema_check(s, obj, 1, &info, &err), CSPH_ERR_OK);
    assert_int_equal(info.occurred_at_ms, 1740863640250LL);
    /* info may be NULL */
    assert_int_equal(hub_schema_check(s, obj, 1, NULL, NULL), CSPH_ERR_OK);
    ev_free(&e);
}

static void test_valid_boundaries(void **state)
{
    const struct hub_schemas *s = *state;
    char id128[129], ref64[65], summary2000[2001];
    memset(id128, 'i', 128);
    id128[128] = '\0';
    memset(ref64, 'a', 64);
    ref64[64] = '\0';
    memset(summary2000, 's', 2000);
    summary2000[2000] = '\0';

    struct ev e;
    ev_init(&e);
    kv_str(&e, "id", id128);
    kv_str(&e, "type", "da.incident");
    kv_str(&e, "occurred_at", "2024-02-29T23:59:60Z");
    kv_str(&e, "source", "idva");
    kv_str(&e, "victim", ref64);
    kv_str(&e, "perpetrator", "Aa0._:-");
    kv_int(&e, "dash_score", 27);
    check_event(s, &e, 1, CSPH_ERR_OK, NULL, NULL);

    ev_init(&e);
    ev_common(&e, "da.incident");
    kv_str(&e, "victim", "P-1");
    kv_int(&e, "dash_score", 0);
    msgpack_packer *pk = key(&e, "location");
    msgpack_pack_map(pk, 6);
    pstr(pk, "id");
    pstr(pk, "100023336956");
    pstr(pk, "lsoa");
    pstr(pk, "E01000916");
    pstr(pk, "ward");
    pstr(pk, "Castle");
    pstr(pk, "lat");
    msgpack_pack_int(pk, -90);
    pstr(pk, "lon");
    msgpack_pack_int(pk, 180);
    pstr(pk, "description");
    pstr(pk, "");
    check_event(s, &e, 1, CSPH_ERR_OK, NULL, NULL);

    ev_init(&e);
    ev_common(&e, "asb.report");
    kv_str(&e, "summary", summary2000);
    kv_str(&e, "category", "environmental");
    kv_lsoa(&e, "location", "E01000001");
    check_event(s, &e, 1, CSPH_ERR_OK, NULL, NULL);

    /* multi-byte UTF-8 text is fine */
    ev_init(&e);
    ev_common(&e, "concern");
    kv_str(&e, "subject", "P-1");
    kv_str(&e, "kind", "other");
    kv_str(&e, "summary", "Caf\xc3\xa9 owner reports \xe2\x82\xac" "50 damage \xf0\x9f\x98\x80");
    check_event(s, &e, 1, CSPH_ERR_OK, NULL, NULL);

    /* ages at both ends */
    ev_init(&e);
    ev_common(&e, "arrest");
    kv_str(&e, "subject", "P-1");
    kv_int(&e, "age", 10);
    kv_str(&e, "offence", "other");
    check_event(s, &e, 1, CSPH_ERR_OK, NULL, NULL);
    ev_init(&e);
    ev_common(&e, "missing.episode");
    kv_str(&e, "subject", "P-1");
    kv_int(&e, "age", 0);
    check_event(s, &e, 1, CSPH_ERR_OK, NULL, NULL);
}

/* ---- the event as a whole -------------------------------------------- */

static void test_not_a_map(void **state)
{
    const struct hub_schemas *s = *state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, 2);
    pstr(&pk, "type");
    pstr(&pk, "call");
    msgpack_zone zone;
    msgpack_zone_init(&zone, 256);
    msgpack_object obj;
    assert_int_equal(msgpack_unpack(sb.data, sb.size, NULL, &zone, &obj), MSGPACK_UNPACK_SUCCESS);
    struct hub_error err = {0};
    assert_int_equal(hub_schema_check(s, &obj, 1, NULL, &err), CSPH_ERR_BAD_EVENT);
    assert_int_equal(err.code, CSPH_ERR_BAD_EVENT);
    assert_string_equal(err.field, "");
    assert_non_null(strstr(err.message, "map"));
    assert_non_null(strstr(err.message, "array"));
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&sb);
}

static void test_non_string_key(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;
    ev_init(&e);
    ev_common(&e, "call");
    kv_str(&e, "caller", "P-1");
    kv_str(&e, "category", "asb");
    e.n++;
    msgpack_pack_int(&e.pk, 7);
    pstr(&e.pk, "seven");
    EXPECT_BAD(s, &e, "", "integer");
}

static void test_type_errors(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;

    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00Z");
    kv_str(&e, "source", "police");
    EXPECT_BAD(s, &e, "type", "missing required field 'type'");

    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_int(&e, "type", 3);
    EXPECT_BAD(s, &e, "type", "not an integer");

    /* unknown type wins over every field error, even ones before it */
    ev_init(&e);
    kv_int(&e, "id", 1);
    kv_str(&e, "colour", "red");
    kv_str(&e, "type", "asb.reports");
    check_event(s, &e, 1, CSPH_ERR_UNKNOWN_TYPE, "type", "asb.reports");

    ev_init(&e);
    ev_common(&e, "");
    check_event(s, &e, 1, CSPH_ERR_UNKNOWN_TYPE, "type", "known types: ");

    /* a duplicated type key is a duplicate, whatever its values */
    ev_init(&e);
    ev_common(&e, "call");
    kv_str(&e, "caller", "P-1");
    kv_str(&e, "type", "call");
    EXPECT_BAD(s, &e, "type", "more than once");
}

static void test_common_fields(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;
    char id129[130];
    memset(id129, 'i', 129);
    id129[129] = '\0';

#define CALL_FIELDS(e)                                                                         \
    do {                                                                                       \
        kv_str((e), "caller", "P-1");                                                          \
        kv_str((e), "category", "crime");                                                      \
    } while (0)

    /* id */
    ev_init(&e);
    kv_str(&e, "id", id129);
    kv_str(&e, "type", "call");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00Z");
    kv_str(&e, "source", "police");
    CALL_FIELDS(&e);
    EXPECT_BAD(s, &e, "id", "129 bytes");

    ev_init(&e);
    kv_str(&e, "id", "");
    kv_str(&e, "type", "call");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00Z");
    kv_str(&e, "source", "police");
    CALL_FIELDS(&e);
    EXPECT_BAD(s, &e, "id", "empty");

    ev_init(&e);
    kv_int(&e, "id", 42);
    kv_str(&e, "type", "call");
    CALL_FIELDS(&e);
    EXPECT_BAD(s, &e, "id", "not an integer");

    ev_init(&e);
    kv_str(&e, "type", "call");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00Z");
    kv_str(&e, "source", "police");
    CALL_FIELDS(&e);
    EXPECT_BAD(s, &e, "id", "missing required field 'id'");

    ev_init(&e);
    ev_common(&e, "call");
    kv_str(&e, "id", "again");
    CALL_FIELDS(&e);
    EXPECT_BAD(s, &e, "id", "more than once");

    /* occurred_at */
    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "type", "call");
    kv_str(&e, "source", "police");
    CALL_FIELDS(&e);
    EXPECT_BAD(s, &e, "occurred_at", "missing required field 'occurred_at'");

    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "type", "call");
    kv_str(&e, "occurred_at", "2025-02-30T10:00:00Z");
    kv_str(&e, "source", "police");
    CALL_FIELDS(&e);
    EXPECT_BAD(s, &e, "occurred_at", "day that does not exist");

    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "type", "call");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00");
    kv_str(&e, "source", "police");
    CALL_FIELDS(&e);
    EXPECT_BAD(s, &e, "occurred_at", "RFC 3339");

    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "type", "call");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00.000");
    kv_str(&e, "source", "police");
    CALL_FIELDS(&e);
    EXPECT_BAD(s, &e, "occurred_at", "no UTC offset");

    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "type", "call");
    kv_int(&e, "occurred_at", 1740863640);
    kv_str(&e, "source", "police");
    CALL_FIELDS(&e);
    EXPECT_BAD(s, &e, "occurred_at", "not an integer");
}

static void test_source(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;
    char src65[66];
    memset(src65, 's', 65);
    src65[65] = '\0';

    /* required in `none` mode */
    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "type", "call");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00Z");
    CALL_FIELDS(&e);
    check_event(s, &e, 1, CSPH_ERR_BAD_EVENT, "source", "missing required field 'source'");

    /* optional when the hub stamps it (curve) */
    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "type", "call");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00Z");
    CALL_FIELDS(&e);
    const msgpack_object *obj = ev_done(&e);
    struct hub_event_info info;
    struct hub_error err = {0};
    assert_int_equal(hub_schema_check(s, obj, 0, &info, &err), CSPH_ERR_OK);
    assert_null(info.source);
    assert_int_equal(info.source_len, 0);
    ev_free(&e);

    /* but still checked when present */
    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "type", "call");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00Z");
    kv_str(&e, "source", "");
    CALL_FIELDS(&e);
    check_event(s, &e, 0, CSPH_ERR_BAD_EVENT, "source", "empty");

    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "type", "call");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00Z");
    kv_str(&e, "source", src65);
    CALL_FIELDS(&e);
    check_event(s, &e, 0, CSPH_ERR_BAD_EVENT, "source", "65 bytes");

    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "type", "call");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00Z");
    kv_bool(&e, "source", 1);
    CALL_FIELDS(&e);
    check_event(s, &e, 0, CSPH_ERR_BAD_EVENT, "source", "not a boolean");
}

/* ---- the type's fields ----------------------------------------------- */

static void test_missing_and_unknown(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;

    ev_init(&e);
    ev_common(&e, "asb.report");
    kv_str(&e, "category", "personal");
    const msgpack_object *obj = ev_done(&e);
    struct hub_error err = {0};
    assert_int_equal(hub_schema_check(s, obj, 1, NULL, &err), CSPH_ERR_BAD_EVENT);
    assert_string_equal(err.field, "location");
    assert_string_equal(err.message, "missing required field 'location' (a location map)");
    ev_free(&e);

    ev_init(&e);
    ev_common(&e, "da.incident");
    EXPECT_BAD(s, &e, "victim", "missing required field 'victim' (a person reference");

    ev_init(&e);
    ev_common(&e, "asb.report");
    kv_lsoa(&e, "location", "E01000916");
    EXPECT_BAD(s, &e, "category",
               "missing required field 'category' (one of personal, nuisance, environmental)");

    ev_init(&e);
    ev_common(&e, "asb.report");
    kv_str(&e, "colour", "red");
    kv_lsoa(&e, "location", "E01000916");
    kv_str(&e, "category", "personal");
    obj = ev_done(&e);
    assert_int_equal(hub_schema_check(s, obj, 1, NULL, &err), CSPH_ERR_BAD_EVENT);
    assert_string_equal(err.field, "colour");
    assert_string_equal(err.message,
                        "unknown field 'colour' for type asb.report; allowed: victim, location, "
                        "category, hate, vulnerable, summary, incident_ref, reported_at, plus "
                        "id, type, occurred_at and source");
    ev_free(&e);

    /* fields the store adds are not the client's to send */
    ev_init(&e);
    ev_common(&e, "call");
    kv_int(&e, "seq", 5);
    CALL_FIELDS(&e);
    EXPECT_BAD(s, &e, "seq", "unknown field 'seq' for type call");

    /* a field of another type */
    ev_init(&e);
    ev_common(&e, "call");
    CALL_FIELDS(&e);
    kv_int(&e, "dash_score", 3);
    EXPECT_BAD(s, &e, "dash_score", "unknown field");

    /* fields are checked in map order: the first bad one is named */
    ev_init(&e);
    ev_common(&e, "da.incident");
    kv_str(&e, "victim", "Jane Smith");
    kv_int(&e, "dash_score", 99);
    EXPECT_BAD(s, &e, "victim", NULL);

    ev_init(&e);
    ev_common(&e, "da.incident");
    kv_str(&e, "victim", "P-1");
    kv_str(&e, "victim", "P-2");
    EXPECT_BAD(s, &e, "victim", "more than once");

    /* nil is not a way to leave out an optional field */
    ev_init(&e);
    ev_common(&e, "da.incident");
    kv_str(&e, "victim", "P-1");
    msgpack_pack_nil(key(&e, "perpetrator"));
    EXPECT_BAD(s, &e, "perpetrator", "not nil");
}

static void test_int_fields(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;

    ev_init(&e);
    ev_common(&e, "da.incident");
    kv_str(&e, "victim", "P-1");
    kv_str(&e, "dash_score", "12");
    const msgpack_object *obj = ev_done(&e);
    struct hub_error err = {0};
    assert_int_equal(hub_schema_check(s, obj, 1, NULL, &err), CSPH_ERR_BAD_EVENT);
    assert_string_equal(err.field, "dash_score");
    assert_string_equal(err.message, "field 'dash_score' must be an integer 0-27, not a string");
    ev_free(&e);

    ev_init(&e);
    ev_common(&e, "da.incident");
    kv_str(&e, "victim", "P-1");
    kv_int(&e, "dash_score", 28);
    EXPECT_BAD(s, &e, "dash_score", "must be an integer 0-27, not 28");

    ev_init(&e);
    ev_common(&e, "da.incident");
    kv_str(&e, "victim", "P-1");
    kv_int(&e, "dash_score", -1);
    EXPECT_BAD(s, &e, "dash_score", "not -1");

    ev_init(&e);
    ev_common(&e, "da.incident");
    kv_str(&e, "victim", "P-1");
    msgpack_pack_uint64(key(&e, "dash_score"), UINT64_MAX);
    EXPECT_BAD(s, &e, "dash_score", "not 18446744073709551615");

    ev_init(&e);
    ev_common(&e, "da.incident");
    kv_str(&e, "victim", "P-1");
    msgpack_pack_double(key(&e, "dash_score"), 12.0);
    EXPECT_BAD(s, &e, "dash_score", "not a float");

    ev_init(&e);
    ev_common(&e, "arrest");
    kv_str(&e, "subject", "P-1");
    kv_int(&e, "age", 9);
    kv_str(&e, "offence", "theft");
    EXPECT_BAD(s, &e, "age", "integer 10-120");

    ev_init(&e);
    ev_common(&e, "missing.episode");
    kv_str(&e, "subject", "P-1");
    kv_int(&e, "age", 18);
    EXPECT_BAD(s, &e, "age", "integer 0-17, not 18");
}

static void test_enum_and_bool_fields(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;

    ev_init(&e);
    ev_common(&e, "asb.report");
    kv_lsoa(&e, "location", "E01000916");
    kv_str(&e, "category", "loud");
    EXPECT_BAD(s, &e, "category", "must be one of personal, nuisance, environmental, not 'loud'");

    ev_init(&e);
    ev_common(&e, "asb.report");
    kv_lsoa(&e, "location", "E01000916");
    kv_str(&e, "category", "Personal"); /* case matters */
    EXPECT_BAD(s, &e, "category", NULL);

    ev_init(&e);
    ev_common(&e, "arrest");
    kv_str(&e, "subject", "P-1");
    kv_str(&e, "offence", "burglary");
    EXPECT_BAD(s, &e, "offence", "burglary.residential");

    ev_init(&e);
    ev_common(&e, "case.update");
    kv_str(&e, "subject", "P-1");
    kv_str(&e, "panel", "marac");
    kv_int(&e, "status", 1);
    EXPECT_BAD(s, &e, "status", "not an integer");

    ev_init(&e);
    ev_common(&e, "asb.report");
    kv_lsoa(&e, "location", "E01000916");
    kv_str(&e, "category", "personal");
    kv_str(&e, "hate", "yes");
    EXPECT_BAD(s, &e, "hate", "must be true or false, not a string");

    ev_init(&e);
    ev_common(&e, "violence.incident");
    kv_str(&e, "weapon", "none");
    kv_str(&e, "injury", "none");
    kv_int(&e, "group", 1);
    EXPECT_BAD(s, &e, "group", "true or false");
}

static void test_string_fields(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;
    char long_text[2002];
    memset(long_text, 'x', 2001);
    long_text[2001] = '\0';

    ev_init(&e);
    ev_common(&e, "asb.report");
    kv_lsoa(&e, "location", "E01000916");
    kv_str(&e, "category", "personal");
    kv_str(&e, "summary", long_text);
    EXPECT_BAD(s, &e, "summary", "at most 2000 bytes, not 2001 bytes");

    ev_init(&e);
    ev_common(&e, "referral");
    kv_str(&e, "subject", "P-1");
    kv_str(&e, "panel", "iom");
    kv_str(&e, "reason", long_text);
    EXPECT_BAD(s, &e, "reason", "2001 bytes");

    ev_init(&e);
    ev_common(&e, "concern");
    kv_str(&e, "subject", "P-1");
    kv_str(&e, "kind", "other");
    kv_str(&e, "summary", "bad \xff byte");
    EXPECT_BAD(s, &e, "summary", "UTF-8");

    ev_init(&e);
    ev_common(&e, "concern");
    kv_str(&e, "subject", "P-1");
    kv_str(&e, "kind", "other");
    kv_str(&e, "summary", "overlong \xc0\xaf slash");
    EXPECT_BAD(s, &e, "summary", "UTF-8");

    ev_init(&e);
    ev_common(&e, "concern");
    kv_str(&e, "subject", "P-1");
    kv_str(&e, "kind", "other");
    kv_str(&e, "summary", "cut \xe2\x82");
    EXPECT_BAD(s, &e, "summary", "UTF-8");

    ev_init(&e);
    ev_common(&e, "concern");
    kv_str(&e, "subject", "P-1");
    kv_str(&e, "kind", "other");
    msgpack_packer *pk = key(&e, "summary");
    msgpack_pack_bin(pk, 3);
    msgpack_pack_bin_body(pk, "abc", 3);
    EXPECT_BAD(s, &e, "summary", "not binary data");
}

static void test_person_fields(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;
    char ref65[66];
    memset(ref65, 'a', 65);
    ref65[65] = '\0';

    ev_init(&e);
    ev_common(&e, "asb.report");
    kv_str(&e, "victim", "Jane Smith");
    kv_lsoa(&e, "location", "E01000916");
    kv_str(&e, "category", "personal");
    EXPECT_BAD(s, &e, "victim", "character 5 is not allowed");

    ev_init(&e);
    ev_common(&e, "call");
    kv_str(&e, "caller", ref65);
    kv_str(&e, "category", "other");
    EXPECT_BAD(s, &e, "caller", "65 characters");

    ev_init(&e);
    ev_common(&e, "call");
    kv_str(&e, "caller", "");
    kv_str(&e, "category", "other");
    EXPECT_BAD(s, &e, "caller", "empty");

    ev_init(&e);
    ev_common(&e, "call");
    kv_str(&e, "caller", "P/1");
    kv_str(&e, "category", "other");
    EXPECT_BAD(s, &e, "caller", "character 2");

    ev_init(&e);
    ev_common(&e, "call");
    kv_int(&e, "caller", 1042);
    kv_str(&e, "category", "other");
    EXPECT_BAD(s, &e, "caller", "not an integer");

    assert_true(csph_ref_valid("P-1042", 6));
    assert_true(csph_ref_valid("a.b_c:d-E9", 10));
    assert_true(csph_ref_valid(ref65, 64));
    assert_false(csph_ref_valid(ref65, 65));
    assert_false(csph_ref_valid("", 0));
    assert_false(csph_ref_valid(NULL, 3));
    assert_false(csph_ref_valid("a b", 3));
    assert_false(csph_ref_valid("a\0b", 3));
    assert_false(csph_ref_valid("caf\xc3\xa9", 5));
    assert_false(csph_ref_valid("x@y", 3));
}

static void pack_location(struct ev *e, int npairs, ...)
{
    /* pairs of (key, kind 's' string / 'd' double / 'i' int, value) */
    msgpack_packer *pk = key(e, "location");
    msgpack_pack_map(pk, (size_t)npairs);
    va_list ap;
    va_start(ap, npairs);
    for (int i = 0; i < npairs; i++) {
        pstr(pk, va_arg(ap, const char *));
        int kind = va_arg(ap, int);
        if (kind == 's')
            pstr(pk, va_arg(ap, const char *));
        else if (kind == 'd')
            msgpack_pack_double(pk, va_arg(ap, double));
        else
            msgpack_pack_int64(pk, va_arg(ap, int64_t));
    }
    va_end(ap);
}

/* An asb.report (location required) with everything else valid. */
static void asb_with(struct ev *e)
{
    ev_init(e);
    ev_common(e, "asb.report");
    kv_str(e, "category", "nuisance");
}

static void test_location_fields(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;

    asb_with(&e);
    pack_location(&e, 1, "description", 's', "near the shops");
    EXPECT_BAD(s, &e, "location", "at least one of id, lsoa, ward, or lat and lon");

    asb_with(&e);
    pack_location(&e, 0);
    EXPECT_BAD(s, &e, "location", "identify a place");

    asb_with(&e);
    pack_location(&e, 1, "lat", 'd', 51.5);
    EXPECT_BAD(s, &e, "location.lon", "together");

    asb_with(&e);
    pack_location(&e, 2, "ward", 's', "Castle", "lon", 'd', -0.12);
    EXPECT_BAD(s, &e, "location.lat", "together");

    asb_with(&e);
    pack_location(&e, 1, "lsoa", 's', "E0100091");
    EXPECT_BAD(s, &e, "location.lsoa", "ONS LSOA code");

    asb_with(&e);
    pack_location(&e, 1, "lsoa", 's', "S01000916"); /* Scotland uses data zones */
    EXPECT_BAD(s, &e, "location.lsoa", "not 'S01000916'");

    asb_with(&e);
    pack_location(&e, 1, "lsoa", 's', "E02000916"); /* an MSOA */
    EXPECT_BAD(s, &e, "location.lsoa", NULL);

    asb_with(&e);
    pack_location(&e, 1, "lsoa", 's', "E01000916 ");
    EXPECT_BAD(s, &e, "location.lsoa", NULL);

    asb_with(&e);
    pack_location(&e, 1, "lsoa", 'i', (int64_t)1000916);
    EXPECT_BAD(s, &e, "location.lsoa", "not an integer");

    asb_with(&e);
    pack_location(&e, 2, "lat", 'd', 90.5, "lon", 'd', 0.0);
    EXPECT_BAD(s, &e, "location.lat", "-90 to 90");

    asb_with(&e);
    pack_location(&e, 2, "lat", 'd', 0.0, "lon", 'i', (int64_t)-181);
    EXPECT_BAD(s, &e, "location.lon", "-180 to 180");

    asb_with(&e);
    pack_location(&e, 2, "lat", 'd', (double)NAN, "lon", 'd', 0.0);
    EXPECT_BAD(s, &e, "location.lat", NULL);

    asb_with(&e);
    pack_location(&e, 2, "lat", 's', "51.5", "lon", 'd', 0.0);
    EXPECT_BAD(s, &e, "location.lat", "not a string");

    asb_with(&e);
    pack_location(&e, 2, "ward", 's', "Castle", "colour", 's', "red");
    EXPECT_BAD(s, &e, "location.colour", "unknown field 'location.colour'");

    asb_with(&e);
    pack_location(&e, 2, "lsoa", 's', "E01000916", "lsoa", 's', "E01000917");
    EXPECT_BAD(s, &e, "location.lsoa", "more than once");

    char s65[66];
    memset(s65, 'w', 65);
    s65[65] = '\0';
    asb_with(&e);
    pack_location(&e, 1, "ward", 's', s65);
    EXPECT_BAD(s, &e, "location.ward", "65 bytes");

    asb_with(&e);
    pack_location(&e, 1, "id", 's', "");
    EXPECT_BAD(s, &e, "location.id", "empty");

    char s201[202];
    memset(s201, 'd', 201);
    s201[201] = '\0';
    asb_with(&e);
    pack_location(&e, 2, "ward", 's', "Castle", "description", 's', s201);
    EXPECT_BAD(s, &e, "location.description", "201 bytes");

    asb_with(&e);
    kv_str(&e, "location", "E01000916");
    EXPECT_BAD(s, &e, "location", "must be a location map, not a string");

    asb_with(&e);
    msgpack_packer *pk = key(&e, "location");
    msgpack_pack_map(pk, 2);
    pstr(pk, "ward");
    pstr(pk, "Castle");
    msgpack_pack_int(pk, 1);
    pstr(pk, "x");
    EXPECT_BAD(s, &e, "location", "key");

    /* an optional location is still checked */
    ev_init(&e);
    ev_common(&e, "call");
    CALL_FIELDS(&e);
    pack_location(&e, 1, "lsoa", 's', "X");
    EXPECT_BAD(s, &e, "location.lsoa", NULL);
}

static void test_panel_fields(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;

    ev_init(&e);
    ev_common(&e, "referral");
    kv_str(&e, "subject", "P-1");
    kv_str(&e, "panel", "marac2");
    kv_str(&e, "reason", "r");
    check_event(s, &e, 1, CSPH_ERR_UNKNOWN_PANEL, "panel", "marac2");

    ev_init(&e);
    ev_common(&e, "case.update");
    kv_str(&e, "subject", "P-1");
    kv_str(&e, "panel", "MARAC");
    kv_str(&e, "status", "open");
    check_event(s, &e, 1, CSPH_ERR_UNKNOWN_PANEL, "panel", "community-marac");

    ev_init(&e);
    ev_common(&e, "referral");
    kv_str(&e, "subject", "P-1");
    kv_int(&e, "panel", 1);
    kv_str(&e, "reason", "r");
    EXPECT_BAD(s, &e, "panel", "not an integer");

    /* every configured panel is accepted */
    for (size_t i = 0; i < NPANELS; i++) {
        ev_init(&e);
        ev_common(&e, "referral");
        kv_str(&e, "subject", "P-1");
        kv_str(&e, "panel", panels[i]);
        kv_str(&e, "reason", "r");
        check_event(s, &e, 1, CSPH_ERR_OK, NULL, NULL);
    }
}

static void test_mentions_person(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;
    ev_init(&e);
    ev_common(&e, "da.incident");
    kv_str(&e, "victim", "P-1042");
    kv_str(&e, "perpetrator", "P-2001");
    kv_str(&e, "risk", "high");
    pack_location(&e, 1, "id", 's', "P-777");
    const msgpack_object *obj = ev_done(&e);
    struct hub_event_info info;
    assert_int_equal(hub_schema_check(s, obj, 1, &info, NULL), CSPH_ERR_OK);
    assert_true(hub_schema_mentions_person(s, &info, obj, "P-1042", 6));
    assert_true(hub_schema_mentions_person(s, &info, obj, "P-2001", 6));
    assert_false(hub_schema_mentions_person(s, &info, obj, "P-104", 5));
    assert_false(hub_schema_mentions_person(s, &info, obj, "P-10420", 7));
    /* only person fields count: not the id, not a location, not an enum */
    assert_false(hub_schema_mentions_person(s, &info, obj, "evt-0001", 8));
    assert_false(hub_schema_mentions_person(s, &info, obj, "P-777", 5));
    assert_false(hub_schema_mentions_person(s, &info, obj, "high", 4));
    assert_false(hub_schema_mentions_person(s, &info, obj, "police", 6));
    ev_free(&e);

    ev_init(&e);
    ev_common(&e, "case.review.request");
    kv_str(&e, "applicant", "A-9");
    kv_str(&e, "summary", "A-9");
    obj = ev_done(&e);
    assert_int_equal(hub_schema_check(s, obj, 1, &info, NULL), CSPH_ERR_OK);
    assert_true(hub_schema_mentions_person(s, &info, obj, "A-9", 3));
    ev_free(&e);

    ev_init(&e);
    ev_common(&e, "violence.incident");
    kv_str(&e, "weapon", "none");
    kv_str(&e, "injury", "minor");
    obj = ev_done(&e);
    assert_int_equal(hub_schema_check(s, obj, 1, &info, NULL), CSPH_ERR_OK);
    assert_false(hub_schema_mentions_person(s, &info, obj, "none", 4));
    ev_free(&e);
}

static int collect_ref(void *ctx, char kind, const char *ref, size_t len)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 200 - n, "%c:%.*s ", kind, (int)len, ref);
    return 0;
}

/* A field of kind key (timer.fired's key: an alert's key values joined by
 * ", ") names each person among its values: the person index holds them
 * and an erasure finds and removes the field (issue 17). */
static void test_key_fields(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;
    ev_init(&e);
    ev_common(&e, "timer.fired");
    kv_int(&e, "alert", 17);
    kv_str(&e, "panel", "marac");
    kv_str(&e, "rule", "marac.high-risk");
    kv_str(&e, "priority", "high");
    kv_str(&e, "key", "V-1, P-9");
    kv_str(&e, "due_at", "2026-09-01T00:00:00Z");
    const msgpack_object *obj = ev_done(&e);
    struct hub_event_info info;
    struct hub_error err = {0};
    if (hub_schema_check(s, obj, 1, &info, &err) != CSPH_ERR_OK)
        fail_msg("timer.fired: %s", err.message);
    assert_true(hub_schema_mentions_person(s, &info, obj, "P-9", 3));
    assert_true(hub_schema_mentions_person(s, &info, obj, "V-1", 3));
    assert_false(hub_schema_mentions_person(s, &info, obj, "P-", 2));
    assert_false(hub_schema_mentions_person(s, &info, obj, "V-1, P-9", 8));
    assert_true(hub_schema_person_field(s, info.type_index, "key", 3));
    const msgpack_object *key = hub_mp_get(obj, "key");
    assert_true(hub_schema_field_names(s, info.type_index, "key", 3, key, "P-9", 3));
    assert_false(hub_schema_field_names(s, info.type_index, "key", 3, key, "P-90", 4));
    assert_false(hub_schema_field_names(s, info.type_index, "rule", 4, key, "P-9", 3));
    char refs[200] = "";
    hub_schema_each_ref(s, info.type_index, obj, collect_ref, refs);
    assert_string_equal(refs, "p:V-1 p:P-9 ");
    ev_free(&e);
}

/* A field of kind json (meeting.agenda's agenda): each string value that is
 * a person reference goes to the person index; an erasure rewrites the
 * strings naming the person and keeps the rest. */
static void test_json_fields(void **state)
{
    const struct hub_schemas *s = *state;
    struct ev e;
    ev_init(&e);
    ev_common(&e, "meeting.agenda");
    kv_str(&e, "panel", "marac");
    kv_str(&e, "meeting", "2026-12-10");
    kv_str(&e, "agenda", "{\"cases\":[{\"key\":\"P-9\",\"what\":\"a visit for P-9\"},"
                         "{\"key\":\"V-1\",\"n\":3}]}");
    const msgpack_object *obj = ev_done(&e);
    struct hub_event_info info;
    struct hub_error err = {0};
    if (hub_schema_check(s, obj, 1, &info, &err) != CSPH_ERR_OK)
        fail_msg("meeting.agenda: %s", err.message);
    assert_true(hub_schema_mentions_person(s, &info, obj, "P-9", 3));
    assert_false(hub_schema_mentions_person(s, &info, obj, "P-90", 4));
    assert_true(hub_schema_json_field(s, info.type_index, "agenda", 6));
    assert_false(hub_schema_json_field(s, info.type_index, "panel", 5));
    char refs[200] = "";
    hub_schema_each_ref(s, info.type_index, obj, collect_ref, refs);
    assert_string_equal(refs, "p:P-9 p:V-1 ");
    const msgpack_object *a = hub_mp_get(obj, "agenda");
    size_t n = 0;
    char *out = hub_schema_json_redact(a->via.str.ptr, a->via.str.size, "P-9", 3, "[erased]", &n);
    assert_non_null(out);
    assert_string_equal(out, "{\"cases\":[{\"key\":\"[erased]\",\"what\":\"[erased]\"},"
                             "{\"key\":\"V-1\",\"n\":3}]}");
    assert_int_equal(n, strlen(out));
    free(out);
    assert_null(hub_schema_json_redact("{not json", 9, "P-9", 3, "[erased]", &n));
    ev_free(&e);
}

/* ---- broken schema directories --------------------------------------- */

struct tmpdir {
    char path[64];
    char files[8][128];
    int nfiles;
};

static void tmp_make(struct tmpdir *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->path, sizeof t->path, "/tmp/csph-schema-XXXXXX");
    assert_non_null(mkdtemp(t->path));
}

static void tmp_write(struct tmpdir *t, const char *name, const char *text)
{
    assert_true(t->nfiles < 8);
    char p[sizeof t->files[0]];
    snprintf(p, sizeof p, "%s/%s", t->path, name);
    memcpy(t->files[t->nfiles++], p, sizeof p);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void tmp_remove(struct tmpdir *t)
{
    for (int i = 0; i < t->nfiles; i++)
        unlink(t->files[i]);
    rmdir(t->path);
}

/* Load t's directory, expect failure with "<path of file>:<line>: ..." and
 * a reason containing part. */
static void expect_load_fails(struct tmpdir *t, const char *file, int line, const char *part)
{
    struct hub_schemas *s = (struct hub_schemas *)0x1;
    struct hub_error err = {0};
    enum hub_err rc = hub_schemas_load(&s, t->path, panels, NPANELS, &err);
    assert_int_equal(rc, CSPH_ERR_CONFIG);
    assert_int_equal(err.code, CSPH_ERR_CONFIG);
    assert_ptr_equal(s, (struct hub_schemas *)0x1); /* *out untouched */
    char want[256];
    snprintf(want, sizeof want, "%s/%s:%d: ", t->path, file, line);
    if (strncmp(err.message, want, strlen(want)) != 0)
        fail_msg("expected a message starting '%s', got '%s'", want, err.message);
    if (part && !strstr(err.message, part))
        fail_msg("message '%s' lacks '%s'", err.message, part);
}

static const char good_schema[] = "# a fine schema\n"
                                  "type: aaa.fine\n"
                                  "description: loads\n"
                                  "persons: [who]\n"
                                  "retention: asb\n"
                                  "fields:\n"
                                  "  who: {kind: person}\n";

static void test_load_bad_yaml(void **state)
{
    (void)state;
    struct tmpdir t;
    tmp_make(&t);
    tmp_write(&t, "aaa.fine.yaml", good_schema);
    tmp_write(&t, "bad.yaml", "type: bad\nfields:\n  who: {kind: person\n  what: [1, 2\n");
    expect_load_fails(&t, "bad.yaml", 4, NULL);
    tmp_remove(&t);

    /* Issue 17, point 8: a type that does not declare its person fields
     * and retention class refuses to load, naming the file and line. */
    static const struct {
        const char *text;
        int line;
        const char *part;
    } dp[] = {
        {"type: dp.t\nretention: asb\nfields:\n  who: {kind: person}\n", 1,
         "missing 'persons'"},
        {"type: dp.t\npersons: [who]\nfields:\n  who: {kind: person}\n", 1,
         "missing 'retention'"},
        {"type: dp.t\npersons: []\nretention: asb\nfields:\n  who: {kind: person}\n", 2,
         "leaves out 'who'"},
        {"type: dp.t\npersons: [what]\nretention: asb\nfields:\n  what: {kind: string, max: 9}\n",
         2, "a field of kind string"},
        {"type: dp.t\npersons: [nobody]\nretention: asb\nfields: {}\n", 2,
         "'nobody', which is not a field"},
        {"type: dp.t\npersons: [who, who]\nretention: asb\nfields:\n  who: {kind: person}\n",
         2, "twice"},
        {"type: dp.t\npersons: who\nretention: asb\nfields:\n  who: {kind: person}\n", 2,
         "must be a list"},
        {"type: dp.t\npersons: []\nretention: Three Years\nfields: {}\n", 3,
         "retention class 'Three Years'"},
    };
    for (size_t i = 0; i < sizeof dp / sizeof *dp; i++) {
        tmp_make(&t);
        tmp_write(&t, "dp.t.yaml", dp[i].text);
        expect_load_fails(&t, "dp.t.yaml", dp[i].line, dp[i].part);
        tmp_remove(&t);
    }

    tmp_make(&t);
    tmp_write(&t, "tabs.yaml", "type: tabs\nfields:\n\twho: {kind: person}\n");
    expect_load_fails(&t, "tabs.yaml", 3, NULL);
    tmp_remove(&t);
}

static void test_load_unknown_kind(void **state)
{
    (void)state;
    struct tmpdir t;
    tmp_make(&t);
    tmp_write(&t, "aaa.fine.yaml", good_schema);
    tmp_write(&t, "odd.yaml", "# comment\ntype: odd\nfields:\n  who: {kind: person}\n"
                              "  colour: {kind: colour}\n");
    expect_load_fails(&t, "odd.yaml", 5, "unknown kind 'colour'");
    tmp_remove(&t);
}

static void test_load_type_file_mismatch(void **state)
{
    (void)state;
    struct tmpdir t;
    tmp_make(&t);
    tmp_write(&t, "asb.report.yaml", "# copied and not renamed\n\ntype: call\nfields: {}\n");
    expect_load_fails(&t, "asb.report.yaml", 3, "does not match the file name");
    tmp_remove(&t);
}

static void test_load_other_mistakes(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int line;
        const char *part;
    } cases[] = {
        {"type: x\nfields:\n  note: {kind: string}\n", 3, "needs 'max'"},
        {"type: x\nfields:\n  note: {kind: string, max: 10, maxlen: 3}\n", 3,
         "unknown setting 'maxlen'"},
        {"type: x\nfields:\n  who: {kind: person, max: 10}\n", 3, "unknown setting 'max'"},
        {"type: x\nfields:\n  n: {kind: int, min: 0}\n", 3, "needs both 'min' and 'max'"},
        {"type: x\nfields:\n  n: {kind: int, min: 5, max: 2}\n", 3, "'max' of field 'n'"},
        {"type: x\nfields:\n  n: {kind: int, min: zero, max: 2}\n", 3,
         "'min' of field 'n' must be a whole number"},
        {"type: x\nfields:\n  n: {kind: number, min: 0, max: lots}\n", 3, "number"},
        {"type: x\nfields:\n  e: {kind: enum}\n", 3, "needs 'values'"},
        {"type: x\nfields:\n  e: {kind: enum, values: []}\n", 3, "non-empty list"},
        {"type: x\nfields:\n  e: {kind: enum, values: [a, b, a]}\n", 3, "listed twice"},
        {"type: x\nfields:\n  who: {kind: person, optional: maybe}\n", 3, "true or false"},
        {"type: x\nfields:\n  who: person\n", 3, "mapping of settings"},
        {"type: x\nfields:\n  who: {optional: true}\n", 3, "has no kind"},
        {"type: x\nfields:\n  source: {kind: string, max: 64}\n", 3, "reserved"},
        {"type: x\nfields:\n  seq: {kind: int, min: 0, max: 9}\n", 3, "reserved"},
        {"type: x\nfields:\n  Who: {kind: person}\n", 3, "field name 'Who'"},
        {"type: x\nfields:\n  who: {kind: person}\n  who: {kind: person}\n", 4, "twice"},
        {"type: x\nfields:\n  who: {kind: person, kind: string}\n", 3, "twice"},
        {"type: x\nfields:\n", 2, "'fields' must be a mapping"},
        {"type: x\n", 1, "'fields'"},
        {"description: no type\nfields: {}\n", 1, "missing 'type'"},
        {"type: x\nfields: {}\nversion: 2\n", 3, "unknown setting 'version'"},
        {"- just\n- a list\n", 1, "mapping"},
        {"type: [x]\nfields: {}\n", 1, "'type'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct tmpdir t;
        tmp_make(&t);
        tmp_write(&t, "x.yaml", cases[i].text);
        expect_load_fails(&t, "x.yaml", cases[i].line, cases[i].part);
        tmp_remove(&t);
    }
}

static void test_load_empty_or_missing_dir(void **state)
{
    (void)state;
    struct tmpdir t;
    tmp_make(&t);
    tmp_write(&t, "README.txt", "not a schema\n");
    struct hub_schemas *s = NULL;
    struct hub_error err = {0};
    assert_int_equal(hub_schemas_load(&s, t.path, panels, NPANELS, &err), CSPH_ERR_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err.message, t.path));
    assert_non_null(strstr(err.message, "no schema files"));
    tmp_remove(&t);

    assert_int_equal(hub_schemas_load(&s, "/nonexistent/csph-schemas", panels, NPANELS, &err),
                     CSPH_ERR_CONFIG);
    assert_null(s);
    assert_non_null(strstr(err.message, "/nonexistent/csph-schemas"));
}

/* A schema using the kinds the real ones do not (number, datetime, string
 * min), and a directory with files that are not schemas. */
static void test_load_and_check_other_kinds(void **state)
{
    (void)state;
    struct tmpdir t;
    tmp_make(&t);
    tmp_write(&t, "zz.test.yaml", "type: zz.test\n"
                                  "description: every kind\n"
                                  "fields:\n"
                                  "  score: {kind: number, min: -1.5, max: 2.5}\n"
                                  "  seen_at: {kind: datetime, optional: true}\n"
                                  "  code: {kind: string, min: 2, max: 4}\n"
                                  "  panel: {kind: panel, optional: true}\n"
                                  "persons: []\n"
                                  "retention: asb\n");
    tmp_write(&t, "aa.empty.yaml", "type: aa.empty\npersons: []\nretention: asb\nfields: {}\n");
    tmp_write(&t, "notes.txt", "ignored\n");
    tmp_write(&t, ".hidden.yaml", "not: [valid\n");
    struct hub_schemas *s = NULL;
    struct hub_error err = {0};
    static const char *const one_panel[] = {"iom"};
    enum hub_err rc = hub_schemas_load(&s, t.path, one_panel, 1, &err);
    if (rc)
        fail_msg("load failed: %s", err.message);
    assert_int_equal(hub_schemas_count(s), 2);
    assert_string_equal(hub_schemas_name(s, 0), "aa.empty");
    assert_string_equal(hub_schemas_name(s, 1), "zz.test");

    struct ev e;
    ev_init(&e);
    ev_common(&e, "zz.test");
    msgpack_pack_double(key(&e, "score"), 2.5);
    kv_str(&e, "seen_at", "2025-03-01T21:14:00+01:00");
    kv_str(&e, "code", "ab");
    kv_str(&e, "panel", "iom");
    check_event(s, &e, 1, CSPH_ERR_OK, NULL, NULL);

    /* a datetime field does not change occurred_at */
    ev_init(&e);
    kv_str(&e, "id", "1");
    kv_str(&e, "type", "zz.test");
    kv_str(&e, "occurred_at", "2025-03-01T21:14:00Z");
    kv_str(&e, "source", "x");
    kv_str(&e, "seen_at", "2000-01-01T00:00:00Z");
    kv_int(&e, "score", -1);
    kv_str(&e, "code", "abcd");
    const msgpack_object *obj = ev_done(&e);
    struct hub_event_info info;
    assert_int_equal(hub_schema_check(s, obj, 1, &info, &err), CSPH_ERR_OK);
    assert_int_equal(info.occurred_at_ms, 1740863640000LL);
    assert_int_equal(info.type_index, 1);
    assert_false(hub_schema_mentions_person(s, &info, obj, "abcd", 4));
    ev_free(&e);

    ev_init(&e);
    ev_common(&e, "zz.test");
    msgpack_pack_double(key(&e, "score"), 2.6);
    kv_str(&e, "code", "ab");
    EXPECT_BAD(s, &e, "score", "a number from -1.5 to 2.5, not 2.6");

    ev_init(&e);
    ev_common(&e, "zz.test");
    kv_int(&e, "score", -2);
    kv_str(&e, "code", "ab");
    EXPECT_BAD(s, &e, "score", "not -2");

    ev_init(&e);
    ev_common(&e, "zz.test");
    kv_bool(&e, "score", 1);
    kv_str(&e, "code", "ab");
    EXPECT_BAD(s, &e, "score", "not a boolean");

    ev_init(&e);
    ev_common(&e, "zz.test");
    kv_int(&e, "score", 0);
    kv_str(&e, "seen_at", "2025-03-01T21:14:00+0100");
    kv_str(&e, "code", "ab");
    EXPECT_BAD(s, &e, "seen_at", "malformed UTC offset");

    ev_init(&e);
    ev_common(&e, "zz.test");
    kv_int(&e, "score", 0);
    kv_str(&e, "code", "a");
    EXPECT_BAD(s, &e, "code", "a string of 2-4 bytes, not 1 byte");

    ev_init(&e);
    ev_common(&e, "zz.test");
    kv_int(&e, "score", 0);
    kv_str(&e, "code", "ab");
    kv_str(&e, "panel", "marac");
    check_event(s, &e, 1, CSPH_ERR_UNKNOWN_PANEL, "panel", "panels: iom");

    ev_init(&e);
    ev_common(&e, "zz.test");
    kv_int(&e, "score", 0);
    EXPECT_BAD(s, &e, "code", "missing required field 'code'");

    ev_init(&e);
    ev_common(&e, "aa.empty");
    check_event(s, &e, 1, CSPH_ERR_OK, NULL, NULL);

    ev_init(&e);
    ev_common(&e, "aa.empty");
    kv_int(&e, "x", 1);
    EXPECT_BAD(s, &e, "x", "allowed: only id, type, occurred_at and source");

    hub_schemas_destroy(&s);
    assert_null(s);
    tmp_remove(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_real_schemas),
        cmocka_unit_test(test_destroy_accepts_null),
        cmocka_unit_test(test_valid_each_type),
        cmocka_unit_test(test_valid_minimal_and_field_order),
        cmocka_unit_test(test_valid_boundaries),
        cmocka_unit_test(test_not_a_map),
        cmocka_unit_test(test_non_string_key),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_common_fields),
        cmocka_unit_test(test_source),
        cmocka_unit_test(test_missing_and_unknown),
        cmocka_unit_test(test_int_fields),
        cmocka_unit_test(test_enum_and_bool_fields),
        cmocka_unit_test(test_string_fields),
        cmocka_unit_test(test_person_fields),
        cmocka_unit_test(test_location_fields),
        cmocka_unit_test(test_panel_fields),
        cmocka_unit_test(test_mentions_person),
        cmocka_unit_test(test_key_fields),
        cmocka_unit_test(test_json_fields),
        cmocka_unit_test(test_load_bad_yaml),
        cmocka_unit_test(test_load_unknown_kind),
        cmocka_unit_test(test_load_type_file_mismatch),
        cmocka_unit_test(test_load_other_mistakes),
        cmocka_unit_test(test_load_empty_or_missing_dir),
        cmocka_unit_test(test_load_and_check_other_kinds),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
