/* test_reply.c: the reply shapes of hub/reply.c, each packed and decoded
 * again: the keys PROTOCOL.md names, in a map whose declared size matches
 * what follows (a wrong count would break the decoding or leave bytes). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reply.h"
#include "testutil.h"

struct fx {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_zone zone;
    msgpack_object o;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    msgpack_sbuffer_init(&f->sb);
    msgpack_packer_init(&f->pk, &f->sb, msgpack_sbuffer_write);
    msgpack_zone_init(&f->zone, 4096);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    msgpack_sbuffer_destroy(&f->sb);
    msgpack_zone_destroy(&f->zone);
    free(f);
    return 0;
}

/* Decode what was packed: exactly one object, every byte used. */
static const msgpack_object *decoded(struct fx *f)
{
    size_t off = 0;
    msgpack_zone_clear(&f->zone);
    assert_int_equal(msgpack_unpack(f->sb.data, f->sb.size, &off, &f->zone, &f->o),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, f->sb.size);
    msgpack_sbuffer_clear(&f->sb);
    return &f->o;
}

static const char req_bytes[] = {0x2a}; /* req: 42 */
static const struct hub_span req = {req_bytes, 1};

static void test_small_replies(void **state)
{
    struct fx *f = *state;
    hub_reply_ok(&f->pk, &req);
    const msgpack_object *o = decoded(f);
    assert_int_equal(o->via.map.size, 2);
    assert_int_equal(tu_int(o, "req"), 42);
    assert_int_equal(tu_bool(o, "ok"), 1);
    hub_reply_seq(&f->pk, NULL, 9);
    o = decoded(f);
    assert_int_equal(o->via.map.size, 2); /* no req: none echoed */
    assert_int_equal(tu_int(o, "seq"), 9);
    hub_reply_published(&f->pk, &req, 1, 5);
    o = decoded(f);
    assert_string_equal(tu_str(o, "status"), "duplicate");
    assert_int_equal(tu_int(o, "seq"), 5);
    hub_reply_ping(&f->pk, &req, 77);
    o = decoded(f);
    assert_int_equal(tu_int(o, "last_seq"), 77);
    assert_string_equal(tu_str(o, "protocol"), CSPH_PROTOCOL_VERSION);
    assert_non_null(strstr(tu_str(o, "version"), "csphub"));
}

static void test_results(void **state)
{
    struct fx *f = *state;
    struct hub_error e;
    hub_error_set(&e, CSPH_ERR_BAD_EVENT, "events.1.type", "no such type");
    hub_reply_results_begin(&f->pk, &req, 2);
    hub_reply_result(&f->pk, 0, 3);
    hub_reply_result_rejected(&f->pk, &e);
    const msgpack_object *o = decoded(f);
    assert_string_equal(tu_str(o, "results.0.status"), "accepted");
    assert_int_equal(tu_int(o, "results.0.seq"), 3);
    assert_string_equal(tu_str(o, "results.1.status"), "rejected");
    assert_string_equal(tu_str(o, "results.1.error.code"), "bad_event");
    assert_string_equal(tu_str(o, "results.1.error.field"), "events.1.type");
}

static void test_lists(void **state)
{
    struct fx *f = *state;
    msgpack_sbuffer items;
    msgpack_sbuffer_init(&items);
    msgpack_packer ipk;
    msgpack_packer_init(&ipk, &items, msgpack_sbuffer_write);
    const char ev[] = {(char)0x81, (char)0xa2, 'i', 'd', (char)0xa1, 'x'}; /* {id: x} */
    hub_reply_event_entry(&ipk, 4, "2025-03-01T21:14:00.000Z", 24, ev, sizeof ev);
    assert_true(items.size <= sizeof ev + CSPH_REPLY_EVENT_OVERHEAD);
    hub_reply_list(&f->pk, &req, "events", &items, 1, 1, 4, 0);
    const msgpack_object *o = decoded(f);
    assert_int_equal(tu_int(o, "events.0.seq"), 4);
    assert_string_equal(tu_str(o, "events.0.received_at"), "2025-03-01T21:14:00.000Z");
    assert_string_equal(tu_str(o, "events.0.event.id"), "x");
    assert_int_equal(tu_int(o, "next"), 4);
    assert_int_equal(tu_bool(o, "end"), 0);
    hub_reply_list(&f->pk, NULL, "alerts", &items, 1, 0, 0, 1);
    o = decoded(f);
    assert_int_equal(o->via.map.size, 2); /* ok and the list: not paged */
    msgpack_sbuffer_clear(&items);
    msgpack_pack_uint64(&ipk, 10);
    msgpack_pack_uint64(&ipk, 11);
    hub_reply_evidence(&f->pk, &req, 3, 2, &items, 2, 2);
    o = decoded(f);
    assert_int_equal(tu_int(o, "id"), 3);
    assert_int_equal(tu_int(o, "total"), 2);
    assert_int_equal(tu_int(o, "evidence.1"), 11);
    assert_int_equal(tu_bool(o, "end"), 1);
    hub_reply_evidence(&f->pk, &req, 3, 5, &items, 2, 2);
    assert_int_equal(tu_bool(decoded(f), "end"), 0);
    msgpack_sbuffer_destroy(&items);
}

static void test_rejects(void **state)
{
    struct fx *f = *state;
    msgpack_sbuffer items;
    msgpack_sbuffer_init(&items);
    msgpack_packer ipk;
    msgpack_packer_init(&ipk, &items, msgpack_sbuffer_write);
    const char bad_utf8[] = "caf\xe9";
    struct hub_stored_reject rj = {.id = 8, .received_ms = 0, .source = "police",
                                   .source_len = 6, .code = "bad_event", .field = "",
                                   .message = bad_utf8, .bytes = "\xc1", .len = 1};
    hub_reply_reject_entry(&ipk, &rj);
    size_t list_len = items.size;
    hub_pack_str(&ipk, "police"); /* dropped_by_source: one pair */
    msgpack_pack_uint64(&ipk, 3);
    hub_reply_rejects(&f->pk, &req, &items, list_len, 1, 8, 1, 3, 1);
    const msgpack_object *o = decoded(f);
    assert_int_equal(tu_int(o, "rejects.0.id"), 8);
    assert_string_equal(tu_str(o, "rejects.0.received_at"), "1970-01-01T00:00:00.000Z");
    assert_string_equal(tu_str(o, "rejects.0.error.message"), "caf\xef\xbf\xbd"); /* U+FFFD */
    assert_null(tu_get(o, "rejects.0.error.field"));
    assert_int_equal(tu_get(o, "rejects.0.bytes")->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(tu_int(o, "dropped"), 3);
    assert_int_equal(tu_int(o, "dropped_by_source.police"), 3);
    msgpack_sbuffer_destroy(&items);
}

static void test_stats(void **state)
{
    struct fx *f = *state;
    struct hub_counters c = {0};
    c.accepted = 12;
    c.rejected[CSPH_ERR_BAD_EVENT] = 2;
    struct hub_transport_stats ts = {0};
    ts.connections = 3;
    struct hub_config cfg;
    hub_config_defaults(&cfg);
    cfg.npanels = 1;
    snprintf(cfg.panels[0].name, sizeof cfg.panels[0].name, "marac");
    uint64_t alerts[1] = {5};
    struct hub_store_health h = {.index = "retrying", .index_why = "EIO", .index_applied = 7,
                                 .log_last = 10, .log = "ok"};
    struct hub_reply_stats st = {.c = &c, .ts = &ts, .last_seq = 10, .rejects_kept = 2,
                                 .cfg = &cfg, .alerts = alerts, .health = &h,
                                 .rule_version = "abc", .uptime_s = 60};
    hub_reply_stats(&f->pk, &req, &st);
    const msgpack_object *o = decoded(f);
    assert_int_equal(tu_int(o, "counters.accepted"), 12);
    assert_int_equal(tu_int(o, "counters.audit_records"), 0);
    assert_int_equal(tu_int(o, "counters.rejected.bad_event"), 2);
    assert_int_equal(tu_int(o, "counters.connections"), 3);
    assert_int_equal(tu_int(o, "counters.last_seq"), 10);
    assert_int_equal(tu_int(o, "counters.alerts.marac"), 5);
    assert_string_equal(tu_str(o, "counters.health.status"), "degraded");
    assert_int_equal(tu_int(o, "counters.health.index_behind"), 3);
    assert_string_equal(tu_str(o, "counters.rule_version"), "abc");
    assert_int_equal(tu_int(o, "counters.uptime_s"), 60);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_small_replies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_results, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lists, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
