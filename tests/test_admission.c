/* test_admission.c: admission as hub/security.c decides it, as pure
 * functions (no socket, no daemon): a request's sender and op, the hub's
 * reserved source and types, an agency's types and source stamping (with
 * hub_mp_map_prepend of hub/mpx.c), and the ZAP decision. The same rules
 * end to end, over CURVE, are in test_security.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <msgpack.h>

#include "ingest.h"
#include "mpx.h"
#include "schema.h"
#include "security.h"
#include "testutil.h"

static struct hub_identity ident[3];
static struct hub_identities ids = {.v = ident, .n = 3};

static int setup(void **state)
{
    (void)state;
    memset(ident, 0, sizeof ident);
    snprintf(ident[0].name, sizeof ident[0].name, "police");
    ident[0].role = CSPH_ROLE_AGENCY;
    snprintf(ident[0].types[0], sizeof ident[0].types[0], "asb.report");
    ident[0].ntypes = 1;
    memset(ident[0].public_key, 0x11, 32);
    snprintf(ident[1].name, sizeof ident[1].name, "coordinator");
    ident[1].role = CSPH_ROLE_PANEL;
    ident[1].panels = 1;
    memset(ident[1].public_key, 0x22, 32);
    snprintf(ident[2].name, sizeof ident[2].name, "auditor");
    ident[2].role = CSPH_ROLE_AUDITOR;
    memset(ident[2].public_key, 0x33, 32);
    return 0;
}

/* hub_admit_request for a request of op alone (no `as`). */
static enum hub_err admit(const struct hub_identities *list, const char *uid, enum hub_op op,
                          const struct hub_identity **who, struct hub_error *e)
{
    struct hub_request r = {.op = op};
    struct hub_identity as;
    return hub_admit_request(list, uid, &r, who, &as, e);
}

static void test_request(void **state)
{
    (void)state;
    const struct hub_identity *who = NULL;
    struct hub_error e;
    assert_int_equal(admit(&ids, "police", CSPH_OP_PUBLISH, &who, &e), CSPH_ERR_OK);
    assert_ptr_equal(who, &ident[0]);
    assert_int_equal(admit(&ids, "police", CSPH_OP_FETCH, &who, &e),
                     CSPH_ERR_FORBIDDEN);
    assert_string_equal(e.field, "op");
    assert_string_equal(e.message, "identity 'police' (role agency) may not use op 'fetch'");
    assert_int_equal(admit(&ids, "auditor", CSPH_OP_REPLAY, &who, &e), CSPH_ERR_OK);
    assert_int_equal(admit(&ids, "coordinator", CSPH_OP_PING, &who, &e),
                     CSPH_ERR_OK);
    /* Revoked since it connected, or no User-Id at all. */
    assert_int_equal(admit(&ids, "gone", CSPH_OP_PING, &who, &e),
                     CSPH_ERR_FORBIDDEN);
    assert_null(who);
    assert_string_equal(e.field, "");
    assert_non_null(strstr(e.message, "no longer in the hub's identity file"));
    assert_int_equal(admit(&ids, NULL, CSPH_OP_PING, &who, &e), CSPH_ERR_FORBIDDEN);
}

static struct hub_event_info info_of(const char *type, const char *source)
{
    struct hub_event_info i = {0};
    i.type = type;
    i.type_len = (uint32_t)strlen(type);
    i.source = source;
    i.source_len = source ? (uint32_t)strlen(source) : 0;
    return i;
}

static void test_reserved(void **state)
{
    (void)state;
    struct hub_error e;
    struct hub_event_info i = info_of("asb.report", "police");
    assert_int_equal(hub_admit_reserved(&i, &e), CSPH_ERR_OK);
    i = info_of("asb.report", NULL);
    assert_int_equal(hub_admit_reserved(&i, &e), CSPH_ERR_OK);
    i = info_of("asb.report", CSPH_HUB_SOURCE);
    assert_int_equal(hub_admit_reserved(&i, &e), CSPH_ERR_FORBIDDEN);
    assert_string_equal(e.field, "source");
    assert_non_null(strstr(e.message, "source 'hub' is reserved"));
    const char *hub_types[] = {"alert.status", "timer.fired", "audit.access", "rules.loaded"};
    for (size_t k = 0; k < 4; k++) {
        i = info_of(hub_types[k], "police");
        assert_int_equal(hub_admit_reserved(&i, &e), CSPH_ERR_FORBIDDEN);
        assert_string_equal(e.field, "type");
        assert_non_null(strstr(e.message, hub_types[k]));
    }
    /* A prefix of a reserved type is not one. */
    i = info_of("alert.stat", "police");
    assert_int_equal(hub_admit_reserved(&i, &e), CSPH_ERR_OK);
}

static void pack_event(msgpack_sbuffer *sb, const char *json)
{
    msgpack_sbuffer_init(sb);
    tu_json_to_mp(sb, json);
}

static void test_publisher_and_stamp(void **state)
{
    (void)state;
    struct hub_error e;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_sbuffer sb;
    pack_event(&sb, "{\"id\":\"e-1\",\"type\":\"asb.report\"}");
    const void *stored = sb.data;
    size_t len = sb.size;
    struct hub_event_info i = info_of("asb.report", NULL);
    assert_int_equal(hub_admit_publisher(&ident[0], &i, &stored, &len, &zone, &e), CSPH_ERR_OK);
    assert_ptr_not_equal(stored, sb.data);
    assert_int_equal(i.source_len, 6);
    assert_memory_equal(i.source, "police", 6);
    msgpack_object o;
    size_t off = 0;
    msgpack_zone uz;
    msgpack_zone_init(&uz, 1024);
    assert_int_equal(msgpack_unpack(stored, len, &off, &uz, &o), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, len);
    assert_int_equal(o.via.map.size, 3);
    assert_true(hub_mp_str_eq(&o.via.map.ptr[0].key, "source")); /* first */
    assert_true(hub_mp_str_eq(&o.via.map.ptr[0].val, "police"));
    assert_true(hub_mp_str_eq(hub_mp_get(&o, "id"), "e-1"));
    msgpack_zone_destroy(&uz);
    /* Its own name: kept as sent. */
    stored = sb.data;
    len = sb.size;
    i = info_of("asb.report", "police");
    assert_int_equal(hub_admit_publisher(&ident[0], &i, &stored, &len, &zone, &e), CSPH_ERR_OK);
    assert_ptr_equal(stored, sb.data);
    /* Another's name, a type not listed, a role that publishes nothing. */
    i = info_of("asb.report", "council");
    assert_int_equal(hub_admit_publisher(&ident[0], &i, &stored, &len, &zone, &e),
                     CSPH_ERR_FORBIDDEN);
    assert_string_equal(e.field, "source");
    assert_non_null(strstr(e.message, "'council' is not this client's identity 'police'"));
    i = info_of("da.incident", NULL);
    assert_int_equal(hub_admit_publisher(&ident[0], &i, &stored, &len, &zone, &e),
                     CSPH_ERR_FORBIDDEN);
    assert_string_equal(e.field, "type");
    assert_non_null(strstr(e.message, "may not publish events of type da.incident"));
    i = info_of("asb.report", NULL);
    assert_int_equal(hub_admit_publisher(&ident[1], &i, &stored, &len, &zone, &e),
                     CSPH_ERR_FORBIDDEN);
    /* Bytes that are no map cannot be stamped. */
    const char notmap[] = {(char)0x91, 0x01};
    stored = notmap;
    len = sizeof notmap;
    i = info_of("asb.report", NULL);
    assert_int_equal(hub_admit_publisher(&ident[0], &i, &stored, &len, &zone, &e),
                     CSPH_ERR_BAD_EVENT);
    assert_ptr_equal(stored, notmap);
    msgpack_sbuffer_destroy(&sb);
    msgpack_zone_destroy(&zone);
}

/* Every map header width, and headers that are cut or are no map. */
static void test_map_prepend(void **state)
{
    (void)state;
    for (uint32_t n = 0; n < 70000; n = n ? n * 4 : 1) {
        msgpack_sbuffer in, out;
        msgpack_sbuffer_init(&in);
        msgpack_sbuffer_init(&out);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &in, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, n);
        for (uint32_t k = 0; k < n; k++) {
            msgpack_pack_uint32(&pk, k);
            msgpack_pack_nil(&pk);
        }
        assert_int_equal(hub_mp_map_prepend(in.data, in.size, "source", "x", &out), 0);
        msgpack_zone z;
        msgpack_zone_init(&z, 4096);
        msgpack_object o;
        size_t off = 0;
        assert_int_equal(msgpack_unpack(out.data, out.size, &off, &z, &o),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, out.size);
        assert_int_equal(o.type, MSGPACK_OBJECT_MAP);
        assert_int_equal(o.via.map.size, n + 1);
        assert_true(hub_mp_str_eq(&o.via.map.ptr[0].val, "x"));
        if (n)
            assert_int_equal(o.via.map.ptr[n].key.via.u64, n - 1);
        msgpack_zone_destroy(&z);
        msgpack_sbuffer_destroy(&in);
        msgpack_sbuffer_destroy(&out);
    }
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    const char cut16[] = {(char)0xde, 0x01}, cut32[] = {(char)0xdf, 0, 0, 1}, arr[] = {(char)0x90};
    const char full[] = {(char)0xdf, (char)0xff, (char)0xff, (char)0xff, (char)0xff};
    assert_int_equal(hub_mp_map_prepend(cut16, sizeof cut16, "k", "v", &out), -1);
    assert_int_equal(hub_mp_map_prepend(cut32, sizeof cut32, "k", "v", &out), -1);
    assert_int_equal(hub_mp_map_prepend(arr, sizeof arr, "k", "v", &out), -1);
    assert_int_equal(hub_mp_map_prepend(full, sizeof full, "k", "v", &out), -1);
    assert_int_equal(hub_mp_map_prepend(arr, 0, "k", "v", &out), -1);
    assert_int_equal(out.size, 0); /* nothing written on a refusal */
    msgpack_sbuffer_destroy(&out);
}

static void zap_frames(struct hub_span *f, const char *mech, const uint8_t *key, size_t keylen)
{
    static const char *fixed[] = {"1.0", "7", "csphub", "127.0.0.1", ""};
    for (int i = 0; i < 5; i++)
        f[i] = (struct hub_span){fixed[i], strlen(fixed[i])};
    f[5] = (struct hub_span){mech, strlen(mech)};
    f[6] = (struct hub_span){(const char *)key, keylen};
}

static void test_zap(void **state)
{
    (void)state;
    struct hub_span f[7];
    struct hub_zap_decision d;
    uint8_t key[32];
    memset(key, 0x22, 32);
    zap_frames(f, "CURVE", key, 32);
    hub_zap_decide(&ids, f, 7, &d);
    assert_ptr_equal(d.id, &ident[1]);
    assert_string_equal(d.status, "200");
    assert_string_equal(d.text, "OK");
    assert_string_equal(d.user, "coordinator");
    assert_string_equal(d.addr, "127.0.0.1");
    memset(key, 0x44, 32);
    hub_zap_decide(&ids, f, 7, &d);
    assert_null(d.id);
    assert_string_equal(d.status, "400");
    assert_string_equal(d.user, "");
    assert_string_equal(d.why, "unknown key");
    assert_int_equal(strlen(d.key_z85), 40); /* named for the IT officer */
    zap_frames(f, "PLAIN", key, 32);
    hub_zap_decide(&ids, f, 7, &d);
    assert_null(d.id);
    assert_string_equal(d.why, "not a CURVE handshake");
    hub_zap_decide(&ids, f, 2, &d); /* cut short */
    assert_null(d.id);
    assert_string_equal(d.addr, "?");
    assert_string_equal(d.key_z85, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_request, setup),
        cmocka_unit_test_setup(test_reserved, setup),
        cmocka_unit_test_setup(test_publisher_and_stamp, setup),
        cmocka_unit_test(test_map_prepend),
        cmocka_unit_test_setup(test_zap, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
