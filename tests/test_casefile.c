/* casefile: a case's history for its page (the case_log index over the
 * log) and the choices its forms offer, in a store of its own: only a
 * case's own events are noted, under their panel and subject; the history
 * is read back from the log oldest first, the latest CSPH_CASEFILE_MAX,
 * within the room given; owners by security mode. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "casefile.h"
#include "config.h"
#include "people.h"
#include "pwstore.h"
#include "store.h"

#define MAP_SIZE (64u << 20)

struct fx {
    struct tu_tmpfx tmp;
    struct hub_store *s;
    struct hub_config cfg;
    msgpack_zone zone;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    void *t = NULL;
    tu_tmpfx_setup(&t, "casefile");
    f->tmp = *(struct tu_tmpfx *)t;
    free(t);
    struct hub_error err;
    if (hub_store_open(&f->s, f->tmp.tmp, MAP_SIZE, &err))
        fail_msg("store: %s", err.message);
    hub_config_defaults(&f->cfg);
    assert_int_equal(hub_config_load_panels(&f->cfg, &err), CSPH_ERR_OK);
    msgpack_zone_init(&f->zone, 4096);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    msgpack_zone_destroy(&f->zone);
    hub_store_close(&f->s);
    struct tu_tmpfx *t = malloc(sizeof *t);
    *t = f->tmp;
    void *tv = t;
    free(f);
    return tu_tmpfx_teardown(&tv);
}

/* Append event json of type to the log and note it, in one batch: its seq. */
static uint64_t add(struct fx *f, const char *type, const char *id, const char *json)
{
    struct hub_error err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, json);
    struct hub_append a = {.source = "hub", .source_len = 3, .id = id, .id_len = strlen(id),
                           .type = type, .type_len = strlen(type), .occurred_ms = 1000,
                           .received_ms = 2000, .bytes = sb.data, .len = sb.size};
    uint64_t seq;
    int dup;
    if (hub_store_write_begin(f->s, &err) || hub_store_append(f->s, &a, &seq, &dup, &err))
        fail_msg("append: %s", err.message);
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &f->zone, &o), MSGPACK_UNPACK_SUCCESS);
    struct hub_event_info info = {.type = type, .type_len = (uint32_t)strlen(type)};
    if (hub_casefile_note(f->s, &f->cfg, &info, &o, seq, &err))
        fail_msg("note: %s", err.message);
    if (hub_store_write_commit(f->s, &err))
        fail_msg("commit: %s", err.message);
    msgpack_sbuffer_destroy(&sb);
    return seq;
}

/* The history of (panel, key), unpacked into *out as {h: [entries]}. */
static uint32_t history(struct fx *f, const char *panel, const char *key, size_t room,
                        msgpack_object *out, int *truncated, msgpack_sbuffer *sb)
{
    struct hub_error err;
    MDB_txn *txn;
    msgpack_packer pk;
    msgpack_sbuffer_clear(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    uint32_t n = 0;
    assert_int_equal(hub_pw_read_begin(f->s, &txn, &err), CSPH_ERR_OK);
    if (hub_casefile_pack_history(f->s, txn, panel, key, &pk, sb, room, &n, truncated, &err))
        fail_msg("history: %s", err.message);
    hub_pw_read_end(txn);
    /* the entries packed, as one array */
    msgpack_sbuffer whole;
    msgpack_sbuffer_init(&whole);
    msgpack_packer wp;
    msgpack_packer_init(&wp, &whole, msgpack_sbuffer_write);
    msgpack_pack_map(&wp, 1);
    msgpack_pack_str(&wp, 1);
    msgpack_pack_str_body(&wp, "h", 1);
    msgpack_pack_array(&wp, n);
    msgpack_sbuffer_write(&whole, sb->data, sb->size);
    /* the unpacked object points into its bytes: keep them in the zone */
    char *bytes = msgpack_zone_malloc(&f->zone, whole.size);
    memcpy(bytes, whole.data, whole.size);
    size_t off = 0;
    assert_int_equal(msgpack_unpack(bytes, whole.size, &off, &f->zone, out),
                     MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer_destroy(&whole);
    return n;
}

static void test_history_of_a_case(void **state)
{
    struct fx *f = *state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_object h;
    int trunc;
    /* nothing noted yet: an empty history, not an error */
    assert_int_equal(history(f, "marac", "V-1", 1 << 20, &h, &trunc, &sb), 0);
    uint64_t s1 = add(f, "case.opened", "o1", "{\"panel\":\"marac\",\"subject\":\"V-1\",\"alert\":1}");
    add(f, "case.opened", "o2", "{\"panel\":\"marac\",\"subject\":\"V-2\",\"alert\":2}");
    add(f, "case.opened", "o3", "{\"panel\":\"sgv\",\"subject\":\"V-1\",\"alert\":3}");
    add(f, "da.incident", "d1", "{\"panel\":\"marac\",\"subject\":\"V-1\"}"); /* not a case's */
    add(f, "case.heard", "h0", "{\"panel\":\"nope\",\"subject\":\"V-1\"}");   /* no such panel */
    uint64_t s2 = add(f, "case.heard", "h1",
                      "{\"panel\":\"marac\",\"subject\":\"V-1\",\"meeting\":\"2025-06-04\","
                      "\"attendance\":\"police\",\"minutes\":\"agreed\"}");
    uint64_t s3 = add(f, "risk.assessment", "r1",
                      "{\"panel\":\"marac\",\"subject\":\"V-1\",\"tool\":\"dash\",\"score\":15}");
    uint64_t s4 = add(f, "case.update", "u1",
                      "{\"panel\":\"marac\",\"subject\":\"V-1\",\"status\":\"closed\","
                      "\"outcome\":\"risk-reduced\"}");
    assert_int_equal(history(f, "marac", "V-1", 1 << 20, &h, &trunc, &sb), 4);
    assert_int_equal(trunc, 0);
    assert_int_equal(tu_int(&h, "h.0.seq"), (int64_t)s1);
    assert_int_equal(tu_int(&h, "h.1.seq"), (int64_t)s2);
    assert_int_equal(tu_int(&h, "h.2.seq"), (int64_t)s3);
    assert_int_equal(tu_int(&h, "h.3.seq"), (int64_t)s4);
    assert_string_equal(tu_str(&h, "h.1.event.minutes"), "agreed");
    assert_string_equal(tu_str(&h, "h.3.event.outcome"), "risk-reduced");
    assert_non_null(tu_str(&h, "h.0.received_at"));
    assert_int_equal(history(f, "sgv", "V-1", 1 << 20, &h, &trunc, &sb), 1);
    /* no room for more than the first entries: truncated, oldest kept */
    uint32_t n = history(f, "marac", "V-1", 150, &h, &trunc, &sb);
    assert_true(n < 4);
    assert_int_equal(trunc, 1);
    msgpack_sbuffer_destroy(&sb);
}

static void test_history_keeps_the_latest(void **state)
{
    struct fx *f = *state;
    char id[32];
    for (int i = 0; i < CSPH_CASEFILE_MAX + 5; i++) {
        snprintf(id, sizeof id, "u%d", i);
        add(f, "case.update", id,
            "{\"panel\":\"iom\",\"subject\":\"N-1\",\"status\":\"open\",\"risk\":\"high\"}");
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_object h;
    int trunc;
    assert_int_equal(history(f, "iom", "N-1", 1 << 20, &h, &trunc, &sb), CSPH_CASEFILE_MAX);
    assert_int_equal(trunc, 1);
    assert_int_equal(tu_int(&h, "h.0.seq"), 6); /* the first five left out */
    char path[32];
    snprintf(path, sizeof path, "h.%d.seq", CSPH_CASEFILE_MAX - 1);
    assert_int_equal(tu_int(&h, path), CSPH_CASEFILE_MAX + 5);
    msgpack_sbuffer_destroy(&sb);
}

static void test_choices(void **state)
{
    struct fx *f = *state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    int marac = hub_config_panel_find(&f->cfg, "marac", 5);
    /* security none: the hub config's agencies */
    snprintf(f->cfg.agencies[0], 65, "police");
    snprintf(f->cfg.agencies[1], 65, "idva");
    f->cfg.nagencies = 2;
    hub_casefile_pack_choices(&pk, &f->cfg, NULL, marac);
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &f->zone, &o), MSGPACK_UNPACK_SUCCESS);
    assert_string_equal(tu_str(&o, "outcomes.0"), "risk-reduced");
    assert_int_equal(tu_get(&o, "owners")->via.array.size, 2);
    assert_string_equal(tu_str(&o, "owners.1.name"), "idva");
    assert_string_equal(tu_str(&o, "owners.1.kind"), "agency");
    /* security curve: the identity file's agencies, then the panel's enabled members */
    struct hub_identity v[2] = {0};
    snprintf(v[0].name, sizeof v[0].name, "police");
    v[0].role = CSPH_ROLE_AGENCY;
    snprintf(v[1].name, sizeof v[1].name, "console");
    v[1].role = CSPH_ROLE_GATEWAY;
    struct hub_person people[3] = {0};
    snprintf(people[0].name, sizeof people[0].name, "ann");
    people[0].role = CSPH_ROLE_PANEL;
    people[0].panels = 1ull << marac;
    snprintf(people[1].name, sizeof people[1].name, "dan");
    people[1].role = CSPH_ROLE_PANEL;
    people[1].panels = 1ull << marac;
    people[1].disabled = 1;
    snprintf(people[2].name, sizeof people[2].name, "raj");
    people[2].role = CSPH_ROLE_PANEL;
    people[2].panels = 0;
    struct hub_identities ids = {.v = v, .n = 2, .people = people, .npeople = 3};
    f->cfg.security = CSPH_SECURITY_CURVE;
    msgpack_sbuffer_clear(&sb);
    hub_casefile_pack_choices(&pk, &f->cfg, &ids, marac);
    off = 0;
    assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &f->zone, &o), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(tu_get(&o, "owners")->via.array.size, 2);
    assert_string_equal(tu_str(&o, "owners.0.name"), "police");
    assert_string_equal(tu_str(&o, "owners.1.name"), "ann");
    assert_string_equal(tu_str(&o, "owners.1.kind"), "person");
    msgpack_sbuffer_destroy(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_history_of_a_case, setup, teardown),
        cmocka_unit_test_setup_teardown(test_history_keeps_the_latest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_choices, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
