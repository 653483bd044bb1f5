/* security: curve, with real CURVE sockets against the real daemon:
 * handshakes, roles, scoping, restricted panels, the access trail,
 * revocation by reload, and refusals at start. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "testutil.h"
#include "testutil_curve.h"

#include "csphub.h"

static const char *IDS_ALL =
    "clients:\n"
    "  - {name: police, role: agency, key_file: keys/police.pub,\n"
    "     types: [asb.report, da.incident, concern, call]}\n"
    "  - {name: marac-coord, role: panel, key_file: keys/marac.pub, panels: [marac]}\n"
    "  - {name: channel-chair, role: panel, key_file: keys/channel.pub, panels: [channel]}\n"
    "  - {name: scrutiny, role: auditor, key_file: keys/auditor.pub}\n"
    "  - {name: it-officer, role: admin, key_file: keys/admin.pub}\n"
    "  - {name: board, role: strategic, key_file: keys/strategic.pub}\n"
    "  - {name: dpo-office, role: dpo, key_file: keys/dpo.pub}\n";

static int setup(void **state)
{
    static const char *const names[] = {"police", "marac", "channel", "auditor", "admin", "stranger", "strategic", "dpo", NULL};
    *state = tu_curve_new("security", names, IDS_ALL);
    return 0;
}

static int teardown(void **state)
{
    tu_curve_free(*state);
    return 0;
}

static void expect_forbidden(struct tu_client *c, const char *json)
{
    msgpack_object r;
    if (tu_try_call(c, 5000, &r, json))
        fail_msg("no reply to %s", json);
    if (!tu_str(&r, "error.code") || strcmp(tu_str(&r, "error.code"), "forbidden"))
        fail_msg("%s: want forbidden, got %s", json, tu_dump(&r));
}

#define DA "{\"id\":\"%s\",\"type\":\"da.incident\",\"occurred_at\":\"2025-05-01T22:00:00Z\"," \
           "\"victim\":\"V-1\",\"dash_score\":16}"

static void test_handshakes(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    tu_curve_connect(f, &c, NULL); /* no key at all */
    assert_int_equal(tu_try_call(&c, 500, &r, "{\"op\":\"ping\"}"), -1);
    tu_client_close(&c);
    tu_curve_connect(f, &c, "stranger"); /* a key the hub does not list */
    assert_int_equal(tu_try_call(&c, 500, &r, "{\"op\":\"ping\"}"), -1);
    tu_client_close(&c);
    tu_curve_connect(f, &c, "police");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"ping\"}"), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    tu_client_close(&c);
    tu_curve_connect(f, &c, "auditor");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"stats\"}"), 0);
    assert_true(tu_int(&r, "counters.handshakes_refused") >= 1);
    tu_client_close(&c);
}

#define REPORT "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\"}"

static void test_roles_may_not(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client c;
    static const char *const agency_no[] = {
        "{\"op\":\"replay\"}", "{\"op\":\"rejects\"}", "{\"op\":\"stats\"}",
        "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"x\"}",
        "{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"x\",\"upto\":1}",
        "{\"op\":\"alerts\",\"panel\":\"marac\"}", "{\"op\":\"evidence\",\"id\":1}",
        "{\"op\":\"alert.update\",\"id\":1,\"status\":\"closed\"}", REPORT, NULL};
    static const char *const panel_no[] = {
        "{\"op\":\"replay\"}", "{\"op\":\"rejects\"}", "{\"op\":\"stats\"}", REPORT,
        "{\"op\":\"publish\",\"event\":" TU_ASB_EVENT("p1", "V-2") "}", NULL};
    static const char *const auditor_no[] = {
        "{\"op\":\"publish\",\"event\":" TU_ASB_EVENT("p1", "V-2") "}",
        "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"x\"}",
        "{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"x\",\"upto\":1}",
        "{\"op\":\"alert.update\",\"id\":1,\"status\":\"closed\"}", NULL};
    static const char *const admin_no[] = {
        "{\"op\":\"publish\",\"event\":" TU_ASB_EVENT("p1", "V-2") "}", "{\"op\":\"replay\"}",
        "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"x\"}",
        "{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"x\",\"upto\":1}",
        "{\"op\":\"alerts\",\"panel\":\"marac\"}", "{\"op\":\"evidence\",\"id\":1}",
        "{\"op\":\"alert.update\",\"id\":1,\"status\":\"closed\"}", REPORT, NULL};
    struct {
        const char *who;
        const char *const *no;
    } roles[] = {{"police", agency_no}, {"marac", panel_no}, {"auditor", auditor_no},
                 {"admin", admin_no}};
    for (size_t i = 0; i < 4; i++) {
        tu_curve_connect(f, &c, roles[i].who);
        for (const char *const *q = roles[i].no; *q; q++)
            expect_forbidden(&c, *q);
        tu_client_close(&c);
    }
}

/* The strategic role (scrutiny committee, CSP board): report and ping,
 * nothing else; whole months, configured areas, suppressed figures, no
 * drill-down; every run in the access trail. */
static void test_strategic_role(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    tu_curve_connect(f, &c, "police");
    r = tu_call(&c, "{\"op\":\"publish\",\"event\":" DA "}", "d1");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    tu_client_close(&c);
    tu_curve_connect(f, &c, "strategic");
    static const char *const no[] = {
        "{\"op\":\"publish\",\"event\":" TU_ASB_EVENT("p1", "V-2") "}", "{\"op\":\"replay\"}",
        "{\"op\":\"replay\",\"person\":\"V-1\"}", "{\"op\":\"rejects\"}",
        "{\"op\":\"stats\"}", "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"x\"}",
        "{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"x\",\"upto\":1}",
        "{\"op\":\"alerts\",\"panel\":\"marac\"}", "{\"op\":\"evidence\",\"id\":1}",
        "{\"op\":\"alert.update\",\"id\":1,\"status\":\"closed\"}",
        /* no drill-down, no unsuppressed figures */
        "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\",\"explain\":"
        "\"marac.cases\",\"month\":\"2025-05\"}",
        "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\",\"suppress\":false}",
        NULL};
    for (const char *const *q = no; *q; q++)
        expect_forbidden(&c, *q);
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"ping\"}"), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_try_call(&c, 20000, &r, REPORT), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_bool(&r, "suppressed"), 1);
    assert_string_equal(tu_str(&r, "indicators.0.name"), "marac.cases");
    /* one victim with a MARAC alert in May 2025: shown as <5 */
    assert_string_equal(tu_str(&r, "indicators.0.values.1"), "<5");
    assert_int_equal(tu_try_call(&c, 20000, &r, "{\"op\":\"report\",\"from\":\"2025-04\","
                                              "\"to\":\"2026-03\",\"area\":\"north\"}"),
                     0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    /* only whole months and configured areas: two reports cannot be subtracted */
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"report\",\"from\":\"2025-04-02\","
                                             "\"to\":\"2026-03-31\"}"),
                     0);
    assert_string_equal(tu_str(&r, "error.code"), "bad_request");
    assert_non_null(strstr(tu_str(&r, "error.message"), "whole calendar months"));
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"report\",\"from\":\"2025-04-01\","
                                             "\"to\":\"2026-03-30\"}"),
                     0);
    assert_string_equal(tu_str(&r, "error.field"), "to");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"report\",\"from\":\"2025-04\","
                                             "\"to\":\"2026-03\",\"area\":\"E01000916\"}"),
                     0);
    assert_string_equal(tu_str(&r, "error.field"), "area");
    tu_client_close(&c);
    /* The auditor may drill down, and sees each strategic run in the trail. */
    tu_curve_connect(f, &c, "auditor");
    assert_int_equal(tu_try_call(&c, 20000, &r, "{\"op\":\"report\",\"from\":\"2025-04\","
                                              "\"to\":\"2026-03\",\"explain\":\"marac.cases\","
                                              "\"month\":\"2025-05\"}"),
                     0);
    assert_int_equal(tu_int(&r, "value"), 1);
    assert_string_equal(tu_str(&r, "items.0.key"), "V-1");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"audit.access\"]}"),
                     0);
    const msgpack_object *evs = tu_get(&r, "events");
    int strategic_runs = 0, auditor_runs = 0;
    for (uint32_t i = 0; i < evs->via.array.size; i++) {
        const msgpack_object *e = &evs->via.array.ptr[i];
        if (strcmp(tu_str(e, "event.op"), "report"))
            continue;
        if (!strcmp(tu_str(e, "event.identity"), "board")) {
            assert_string_equal(tu_str(e, "event.role"), "strategic");
            strategic_runs++;
        } else if (!strcmp(tu_str(e, "event.identity"), "scrutiny")) {
            auditor_runs++;
        }
    }
    /* the two that ran; a refused request computed nothing and is not a run */
    assert_int_equal(strategic_runs, 2);
    assert_int_equal(auditor_runs, 1);
    tu_client_close(&c);
}

static void test_source_and_type_scoping(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    tu_curve_connect(f, &c, "police");
    char json[600];
    /* no source: stamped from the identity */
    snprintf(json, sizeof json, "{\"op\":\"publish\",\"event\":" DA "}", "d1");
    assert_int_equal(tu_try_call(&c, 5000, &r, json), 0);
    assert_string_equal(tu_str(&r, "status"), "accepted");
    /* a different source: spoofing */
    expect_forbidden(&c, "{\"op\":\"publish\",\"event\":{\"id\":\"d2\",\"type\":\"da.incident\","
                         "\"source\":\"council\",\"occurred_at\":\"2025-05-01T22:00:00Z\","
                         "\"victim\":\"V-1\"}}");
    /* its own name is fine */
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"publish\",\"event\":{\"id\":\"d3\",\"type\":"
                              "\"da.incident\",\"source\":\"police\",\"occurred_at\":"
                              "\"2025-05-02T22:00:00Z\",\"victim\":\"V-1\"}}"),
                     0);
    assert_string_equal(tu_str(&r, "status"), "accepted");
    /* a type it is not listed for */
    expect_forbidden(&c, "{\"op\":\"publish\",\"event\":{\"id\":\"m1\",\"type\":"
                         "\"missing.episode\",\"occurred_at\":\"2025-05-01T22:00:00Z\","
                         "\"subject\":\"C-1\",\"age\":14}}");
    tu_client_close(&c);
    tu_curve_connect(f, &c, "auditor");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"da.incident\"]}"), 0);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 2);
    assert_string_equal(tu_str(&r, "events.0.event.source"), "police");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"rejects\"}"), 0);
    assert_string_equal(tu_str(&r, "rejects.0.error.code"), "forbidden");
    assert_string_equal(tu_str(&r, "rejects.0.source"), "police");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"stats\"}"), 0);
    assert_int_equal(tu_int(&r, "counters.rejected.forbidden"), 2);
    tu_client_close(&c);
}

static void test_panels_and_restricted(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    tu_curve_connect(f, &c, "police");
    char json[600];
    snprintf(json, sizeof json, "{\"op\":\"publish\",\"event\":" DA "}", "d1");
    tu_try_call(&c, 5000, &r, json); /* alert 1: marac */
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"publish\",\"event\":{\"id\":\"c1\",\"type\":\"concern\","
                              "\"occurred_at\":\"2025-05-01T10:00:00Z\",\"subject\":\"Y-7\","
                              "\"kind\":\"radicalisation\",\"summary\":\"sensitive detail\"}}"),
                     0); /* alert 2: channel */
    assert_string_equal(tu_str(&r, "status"), "accepted");
    tu_client_close(&c);

    tu_curve_connect(f, &c, "marac");
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"m\"}"),
                     0);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    /* Sent together, an ack and a fetch (an audited read here): the fetch
     * waits for the ack's commit, starts past alert 1, and its reply comes
     * second. */
    (void)tu_send(&c, "{\"op\":\"ack\",\"req\":1,\"panel\":\"marac\",\"consumer\":\"m\",\"upto\":1}");
    (void)tu_send(&c, "{\"op\":\"fetch\",\"req\":2,\"panel\":\"marac\",\"consumer\":\"m\"}");
    assert_int_equal(tu_recv(&c, 5000, &r), 0);
    assert_int_equal(tu_int(&r, "req"), 1);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_recv(&c, 5000, &r), 0);
    assert_int_equal(tu_int(&r, "req"), 2);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 0);
    /* The same with a read small enough for ZeroMQ to keep inside its
     * message object (under 34 bytes), which the hub moves between slots. */
    (void)tu_send(&c, "{\"op\":\"ack\",\"req\":3,\"panel\":\"marac\",\"consumer\":\"m\",\"upto\":1}");
    (void)tu_send(&c, "{\"op\":\"alerts\",\"panel\":\"marac\"}");
    assert_int_equal(tu_recv(&c, 5000, &r), 0);
    assert_int_equal(tu_int(&r, "req"), 3);
    assert_int_equal(tu_recv(&c, 5000, &r), 0);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    expect_forbidden(&c, "{\"op\":\"alerts\",\"panel\":\"channel\"}");
    expect_forbidden(&c, "{\"op\":\"fetch\",\"panel\":\"channel\",\"consumer\":\"m\"}");
    expect_forbidden(&c, "{\"op\":\"ack\",\"panel\":\"channel\",\"consumer\":\"m\",\"upto\":2}");
    /* Another panel's alert by id: answered exactly as an alert that does
     * not exist, so a member cannot learn which Channel alerts exist. */
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alert.update\",\"id\":2,"
                                             "\"status\":\"closed\"}"), 0);
    char other[512];
    snprintf(other, sizeof other, "%s", tu_dump(&r));
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alert.update\",\"id\":999,"
                                             "\"status\":\"closed\"}"), 0);
    char missing[512];
    snprintf(missing, sizeof missing, "%s", tu_dump(&r));
    char *at = strstr(missing, "999");
    assert_non_null(at);
    memmove(at + 1, at + 3, strlen(at + 3) + 1);
    at[0] = '2';
    assert_string_equal(other, missing);
    assert_string_equal(tu_str(&r, "error.code"), "not_found");
    /* ... and so is its evidence */
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"evidence\",\"id\":2}"), 0);
    snprintf(other, sizeof other, "%s", tu_dump(&r));
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"evidence\",\"id\":999}"), 0);
    snprintf(missing, sizeof missing, "%s", tu_dump(&r));
    at = strstr(missing, "999");
    assert_non_null(at);
    memmove(at + 1, at + 3, strlen(at + 3) + 1);
    at[0] = '2';
    assert_string_equal(other, missing);
    assert_string_equal(tu_str(&r, "error.code"), "not_found");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"evidence\",\"id\":1}"), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_int(&r, "total"), 1);
    assert_int_equal(tu_get(&r, "evidence")->via.array.size, 1);
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\"}"),
                     0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    tu_client_close(&c);

    /* the channel panel sees that a case exists, not its details */
    tu_curve_connect(f, &c, "channel");
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"fetch\",\"panel\":\"channel\",\"consumer\":\"c\"}"),
                     0);
    assert_string_equal(tu_str(&r, "alerts.0.key.subject"), "Y-7");
    assert_int_equal(tu_get(&r, "alerts.0.evidence")->via.array.size, 0);
    /* nor through evidence */
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"evidence\",\"id\":2}"), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_int(&r, "total"), 0);
    assert_int_equal(tu_get(&r, "evidence")->via.array.size, 0);
    tu_client_close(&c);
    /* the auditor reads it in full */
    tu_curve_connect(f, &c, "auditor");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alerts\",\"panel\":\"channel\"}"), 0);
    assert_int_equal(tu_get(&r, "alerts.0.evidence")->via.array.size, 1);
    assert_non_null(strstr(tu_str(&r, "alerts.0.reason"), "Y-7"));
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"evidence\",\"id\":2}"), 0);
    assert_int_equal(tu_int(&r, "total"), 1);
    assert_int_equal(tu_bool(&r, "end"), 1);
    tu_client_close(&c);
}

/* Erasure and restriction (hub/erase.h): only the dpo may ask; a
 * restricted record leaves every panel's reads, the auditor's stay; the
 * request is recorded under the dpo's name. */
static void test_dpo_erase_and_restriction(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    char json[600];
    tu_curve_connect(f, &c, "police");
    snprintf(json, sizeof json, "{\"op\":\"publish\",\"event\":" DA "}", "d1");
    assert_int_equal(tu_try_call(&c, 5000, &r, json), 0); /* an alert on marac */
    uint64_t seq = (uint64_t)tu_int(&r, "seq");
    expect_forbidden(&c, "{\"op\":\"erase\",\"person\":\"V-1\",\"reason\":\"r\"}");
    tu_client_close(&c);
    static const char *const may_not[] = {"marac", "auditor", "admin", "strategic", NULL};
    for (int i = 0; may_not[i]; i++) {
        tu_curve_connect(f, &c, may_not[i]);
        expect_forbidden(&c, "{\"op\":\"erase\",\"person\":\"V-1\",\"reason\":\"r\"}");
        tu_client_close(&c);
    }
    const char *person = "{\"op\":\"person\",\"ref\":\"V-1\"}";
    tu_curve_connect(f, &c, "marac");
    assert_int_equal(tu_try_call(&c, 5000, &r, person), 0);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    tu_client_close(&c);

    tu_curve_connect(f, &c, "dpo");
    expect_forbidden(&c, "{\"op\":\"replay\"}"); /* erasure, not reading */
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"erase\",\"person\":\"V-1\",\"reason\":\"kept for "
                              "court\",\"restrict\":true,\"basis\":\"s47\",\"apply\":true}"),
                     0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_int(&r, "events.0.seq"), (int64_t)seq);
    uint64_t eseq = (uint64_t)tu_int(&r, "erasures.0");
    tu_client_close(&c);

    /* The panel no longer sees the record; the auditor does, and sees who
     * restricted it and why. */
    tu_curve_connect(f, &c, "marac");
    assert_int_equal(tu_try_call(&c, 5000, &r, person), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 0);
    tu_client_close(&c);
    tu_curve_connect(f, &c, "auditor");
    assert_int_equal(tu_try_call(&c, 5000, &r, person), 0);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    snprintf(json, sizeof json, "{\"op\":\"replay\",\"after\":%llu,\"max\":1}",
             (unsigned long long)(eseq - 1));
    assert_int_equal(tu_try_call(&c, 5000, &r, json), 0);
    assert_string_equal(tu_str(&r, "events.0.event.type"), "dp.erasure");
    assert_string_equal(tu_str(&r, "events.0.event.by"), "dpo-office");
    assert_string_equal(tu_str(&r, "events.0.event.role"), "dpo");
    assert_string_equal(tu_str(&r, "events.0.event.request"), "restrict");
    tu_client_close(&c);

    /* Erased: gone from the auditor's replay too. */
    tu_curve_connect(f, &c, "dpo");
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"erase\",\"person\":\"V-1\",\"reason\":\"DPO case "
                              "9\",\"apply\":true}"),
                     0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    tu_client_close(&c);
    tu_curve_connect(f, &c, "auditor");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"replay\",\"max\":100}"), 0);
    /* (audit.access queries that named V-1 keep it: not covered yet) */
    assert_null(strstr(tu_dump(&r), "\"victim\":\"V-1\""));
    snprintf(json, sizeof json, "{\"op\":\"replay\",\"after\":%llu,\"max\":1}",
             (unsigned long long)(seq - 1));
    assert_int_equal(tu_try_call(&c, 5000, &r, json), 0); /* named nobody else: its envelope */
    assert_string_equal(tu_str(&r, "events.0.event.type"), "da.incident");
    assert_null(tu_get(&r, "events.0.event.victim"));
    assert_null(tu_get(&r, "events.0.event.dash_score"));
    tu_client_close(&c);
}

/* One request as role, which must succeed: the integer at path `want` of
 * the reply (0 when want is NULL). */
static int64_t ok_as(struct tu_curve *f, const char *role, const char *json, const char *want)
{
    struct tu_client c;
    msgpack_object r;
    tu_curve_connect(f, &c, role);
    assert_int_equal(tu_try_call(&c, 5000, &r, json), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    int64_t v = want ? tu_int(&r, want) : 0;
    tu_client_close(&c);
    return v;
}

/* A person under a standing restriction (restrictview.h): their alerts
 * stay in the panel's queue with the key value and the reason withheld,
 * their case and the reference itself lead nowhere, for every role but
 * dpo and auditor; lifting gives it all back. */
static void test_restricted_person_alerts(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    char json[600], marker[64];
    snprintf(json, sizeof json, "{\"op\":\"publish\",\"event\":" DA "}", "d1");
    ok_as(f, "police", json, NULL); /* alert 1 on marac */
    ok_as(f, "marac", "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\"}",
          NULL); /* the case V-1 opens */
    tu_curve_connect(f, &c, "police"); /* a rejection naming V-1, kept */
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"publish\",\"event\":{\"id\":\"bad1\",\"type\":"
                              "\"da.incident\",\"occurred_at\":\"2025-05-01T22:00:00Z\","
                              "\"victim\":\"V-1\",\"dash_score\":99}}"),
                     0);
    assert_string_equal(tu_str(&r, "error.code"), "bad_event");
    tu_client_close(&c);
    /* the dry run says which alerts the panel will read withheld */
    assert_int_equal(ok_as(f, "dpo",
                           "{\"op\":\"erase\",\"person\":\"V-1\",\"reason\":\"kept for "
                           "court\",\"restrict\":true,\"basis\":\"s47\"}",
                           "alerts"),
                     1);
    int64_t eseq = ok_as(f, "dpo",
                         "{\"op\":\"erase\",\"person\":\"V-1\",\"reason\":\"kept for court\","
                         "\"restrict\":true,\"basis\":\"s47\",\"apply\":true}",
                         "erasures.0");
    snprintf(marker, sizeof marker, "[restricted by seq %lld]", (long long)eseq);

    tu_curve_connect(f, &c, "marac");
    /* the queue still holds the alert, its work visible, the person not */
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alerts\",\"panel\":\"marac\"}"), 0);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    assert_string_equal(tu_str(&r, "alerts.0.status"), "accepted");
    assert_string_equal(tu_str(&r, "alerts.0.key.victim"), marker);
    assert_string_equal(tu_str(&r, "alerts.0.reason"), marker);
    assert_null(strstr(tu_dump(&r), "V-1"));
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alert\",\"id\":1}"), 0);
    assert_string_equal(tu_str(&r, "alert.key.victim"), marker);
    assert_null(strstr(tu_dump(&r), "V-1"));
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"c\"}"),
                     0);
    assert_string_equal(tu_str(&r, "alerts.0.key.victim"), marker);
    assert_null(strstr(tu_dump(&r), "V-1"));
    /* the reference finds nothing */
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"alerts\",\"panel\":\"marac\",\"person\":\"V-1\"}"),
                     0);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 0);
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"person\",\"ref\":\"V-1\"}"), 0);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 0);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 0);
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"cases\",\"panel\":\"marac\"}"), 0);
    assert_int_equal(tu_get(&r, "cases")->via.array.size, 0);
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"case\",\"panel\":\"marac\",\"key\":\"V-1\"}"),
                     0);
    assert_string_equal(tu_str(&r, "error.code"), "not_found");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"agenda\",\"panel\":\"marac\"}"), 0);
    assert_null(strstr(tu_dump(&r), "V-1"));
    tu_client_close(&c);
    /* nor the admin's kept rejections */
    tu_curve_connect(f, &c, "admin");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"rejects\"}"), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_get(&r, "rejects")->via.array.size, 0);
    tu_client_close(&c);

    /* the auditor reads it all */
    tu_curve_connect(f, &c, "auditor");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alert\",\"id\":1}"), 0);
    assert_string_equal(tu_str(&r, "alert.key.victim"), "V-1");
    assert_null(strstr(tu_dump(&r), "[restricted"));
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"rejects\"}"), 0);
    assert_int_equal(tu_get(&r, "rejects")->via.array.size, 1);
    tu_client_close(&c);

    assert_int_equal(ok_as(f, "dpo",
                           "{\"op\":\"erase\",\"person\":\"V-1\",\"reason\":\"case "
                           "closed\",\"restrict\":true,\"lift\":true}",
                           "alerts"),
                     1);
    /* lifted: the panel reads it again */
    ok_as(f, "dpo",
          "{\"op\":\"erase\",\"person\":\"V-1\",\"reason\":\"case closed\","
          "\"restrict\":true,\"lift\":true,\"apply\":true}",
          NULL);
    tu_curve_connect(f, &c, "marac");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alerts\",\"panel\":\"marac\"}"), 0);
    assert_string_equal(tu_str(&r, "alerts.0.key.victim"), "V-1");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"cases\",\"panel\":\"marac\"}"), 0);
    assert_int_equal(tu_get(&r, "cases")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "cases.0.key"), "V-1");
    tu_client_close(&c);
    tu_curve_connect(f, &c, "admin");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"rejects\"}"), 0);
    assert_int_equal(tu_get(&r, "rejects")->via.array.size, 1);
    tu_client_close(&c);
}

static void test_access_trail(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    tu_curve_connect(f, &c, "marac");
    tu_try_call(&c, 5000, &r, "{\"op\":\"alerts\",\"panel\":\"marac\"}");
    tu_client_close(&c);
    tu_curve_connect(f, &c, "auditor");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"replay\",\"person\":\"V-1\"}"), 0);
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"audit.access\"]}"),
                     0);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 2);
    assert_string_equal(tu_str(&r, "events.0.event.identity"), "marac-coord");
    assert_string_equal(tu_str(&r, "events.0.event.op"), "alerts");
    assert_string_equal(tu_str(&r, "events.1.event.identity"), "scrutiny");
    assert_string_equal(tu_str(&r, "events.1.event.role"), "auditor");
    assert_string_equal(tu_str(&r, "events.1.event.op"), "replay");
    assert_non_null(strstr(tu_str(&r, "events.1.event.query"), "V-1"));
    assert_int_equal(tu_int(&r, "events.1.event.returned"), 0);
    tu_client_close(&c);
}

/* An ack under a consumer name, as marac-coord: the reply's error code,
 * or "ok". */
static const char *ack_as(struct tu_client *c, const char *consumer, char *msg, size_t n)
{
    msgpack_object r;
    char json[200];
    snprintf(json, sizeof json,
             "{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"%s\",\"upto\":1}",
             consumer);
    assert_int_equal(tu_try_call(c, 5000, &r, json), 0);
    const char *code = tu_str(&r, "error.code");
    snprintf(msg, n, "%s", code ? tu_str(&r, "error.message") : "");
    if (code)
        assert_string_equal(tu_str(&r, "error.field"), "consumer");
    return code ? code : "ok";
}

/* An audited fetch that would wait, in a batch that cannot commit (the log
 * is full): answered busy at once like the rest of the batch, never held
 * and answered later with no audit.access record of the read. */
static void test_held_fetch_of_failed_batch(void **state)
{
    struct tu_curve *f = *state;
    tu_write_file(f->config, "security: curve\n"
                          "identities_file: identities.yaml\n"
                          "server_key_file: keys/hub.key\n"
                          "rules_file: none\n"
                          "limits:\n  map_size_mb: 16\n");
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    tu_curve_connect(f, &c, "police");
    static char summary[2001];
    memset(summary, 's', 2000);
    size_t cap = 400 * 2300 + 64;
    char *b = malloc(cap);
    int busy = 0;
    for (int round = 0; round < 40 && !busy; round++) {
        size_t len = (size_t)snprintf(b, cap, "{\"op\":\"publish\",\"events\":[");
        for (int i = 0; i < 400; i++)
            len += (size_t)snprintf(b + len, cap - len,
                                    "%s{\"id\":\"r%d-%d\",\"type\":\"concern\","
                                    "\"occurred_at\":\"2025-03-01T10:00:00Z\","
                                    "\"subject\":\"P-%d\",\"kind\":\"other\",\"summary\":\"%s\"}",
                                    i ? "," : "", round, i, i, summary);
        snprintf(b + len, cap - len, "]}");
        assert_int_equal(tu_try_call(&c, 10000, &r, b), 0);
        const char *code = tu_str(&r, "error.code");
        busy = code && strcmp(code, "busy") == 0;
    }
    free(b);
    assert_true(busy); /* the log is full for a batch that size */
    /* ... and then for one small event, as for an audit record */
    busy = 0;
    for (int i = 0; i < 100000 && !busy; i++) {
        char one[400];
        snprintf(one, sizeof one,
                 "{\"op\":\"publish\",\"event\":{\"id\":\"s%d\",\"type\":\"concern\","
                 "\"occurred_at\":\"2025-03-01T10:00:00Z\",\"subject\":\"P-1\",\"kind\":"
                 "\"other\",\"summary\":\"a small one\"}}",
                 i);
        assert_int_equal(tu_try_call(&c, 10000, &r, one), 0);
        const char *code = tu_str(&r, "error.code");
        busy = code && strcmp(code, "busy") == 0;
    }
    assert_true(busy);
    tu_client_close(&c);
    tu_curve_connect(f, &c, "marac");
    /* The queue is empty: the fetch would wait half a minute. */
    assert_int_equal(tu_try_call(&c, 15000, &r,
                              "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"m\","
                              "\"wait_ms\":30000}"),
                     0);
    assert_string_equal(tu_str(&r, "error.code"), "busy");
    tu_client_close(&c);
}

/* Durable consumers are bounded per panel and per identity; the admin's
 * reads of rejected events are recorded; one access record keeps at most
 * 4 KiB of the query and says when it was cut. */
static void test_consumer_limits_and_records(void **state)
{
    struct tu_curve *f = *state;
    tu_write_file(f->config, "security: curve\n"
                          "identities_file: identities.yaml\n"
                          "server_key_file: keys/hub.key\n"
                          "limits:\n  consumers_per_panel_max: 2\n"
                          "  consumers_per_identity_max: 3\n");
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    char msg[400];
    tu_curve_connect(f, &c, "police");
    char json[600];
    snprintf(json, sizeof json, "{\"op\":\"publish\",\"event\":" DA "}", "d1");
    assert_int_equal(tu_try_call(&c, 5000, &r, json), 0); /* alert 1: marac */
    /* and one rejected event (no victim) for the admin to read */
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"publish\",\"event\":{\"id\":\"bad\",\"type\":"
                              "\"da.incident\",\"occurred_at\":\"2025-05-01T22:00:00Z\"}}"),
                     0);
    assert_string_equal(tu_str(&r, "status"), "rejected");
    tu_client_close(&c);

    tu_curve_connect(f, &c, "marac");
    assert_string_equal(ack_as(&c, "c1", msg, sizeof msg), "ok");
    assert_string_equal(ack_as(&c, "c2", msg, sizeof msg), "ok");
    assert_string_equal(ack_as(&c, "c3", msg, sizeof msg), "too_large");
    assert_non_null(strstr(msg, "consumers_per_panel_max"));
    assert_string_equal(ack_as(&c, "c1", msg, sizeof msg), "ok"); /* one in use: fine */
    tu_client_close(&c);

    /* The identity's own bound: c1, c2 and c3 would be its fourth. */
    tu_write_file(f->config, "security: curve\n"
                          "identities_file: identities.yaml\n"
                          "server_key_file: keys/hub.key\n"
                          "limits:\n  consumers_per_panel_max: 10\n"
                          "  consumers_per_identity_max: 3\n");
    tu_curve_start(f);
    tu_curve_connect(f, &c, "marac");
    assert_string_equal(ack_as(&c, "c3", msg, sizeof msg), "ok");
    assert_string_equal(ack_as(&c, "c4", msg, sizeof msg), "too_large");
    assert_non_null(strstr(msg, "consumers_per_identity_max"));
    assert_non_null(strstr(msg, "marac-coord"));
    tu_client_close(&c);

    tu_curve_connect(f, &c, "admin");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"rejects\"}"), 0);
    assert_int_equal(tu_get(&r, "rejects")->via.array.size, 1);
    tu_client_close(&c);

    /* A query of about 6 KB: kept cut at 4 KiB. */
    tu_curve_connect(f, &c, "auditor");
    char big[7000];
    int n = snprintf(big, sizeof big, "{\"op\":\"replay\",\"types\":[");
    for (int i = 0; i < 60; i++)
        n += snprintf(big + n, sizeof big - (size_t)n, "%s\"t%03d%s\"", i ? "," : "", i,
                      "-a-type-name-long-enough-to-make-the-query-large-xxxxxxxxxxxxxxxxxxxxx");
    snprintf(big + n, sizeof big - (size_t)n, "]}");
    assert_true(strlen(big) > 4096);
    assert_int_equal(tu_try_call(&c, 5000, &r, big), 0);
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"audit.access\"]}"),
                     0);
    const msgpack_object *evs = tu_get(&r, "events");
    assert_non_null(evs);
    int admin_read = 0, cut = 0;
    for (uint32_t i = 0; i < evs->via.array.size; i++) {
        char path[96];
        snprintf(path, sizeof path, "events.%u.event.identity", i);
        const char *who = tu_str(&r, path);
        snprintf(path, sizeof path, "events.%u.event.op", i);
        const char *op = tu_str(&r, path);
        if (!strcmp(who, "it-officer") && !strcmp(op, "rejects")) {
            snprintf(path, sizeof path, "events.%u.event.returned", i);
            assert_int_equal(tu_int(&r, path), 1);
            snprintf(path, sizeof path, "events.%u.event.role", i);
            assert_string_equal(tu_str(&r, path), "admin");
            admin_read++;
        }
        snprintf(path, sizeof path, "events.%u.event.query_truncated", i);
        if (tu_bool(&r, path) == 1) {
            snprintf(path, sizeof path, "events.%u.event.query", i);
            const msgpack_object *q = tu_get(&r, path);
            assert_true(q->via.str.size <= 4096 && q->via.str.size > 4000);
            cut++;
        }
    }
    assert_int_equal(admin_read, 1);
    assert_int_equal(cut, 1);
    tu_client_close(&c);
}

/* Run csphubd with f's config and one more flag (or none): its exit
 * status, its output in out. */
static int run_hub(struct tu_curve *f, const char *flag, char *out, size_t n)
{
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", tu_free_port());
    if (flag)
        return tu_hub_run_ms(out, n, 10000, "--config", f->config, "--data", f->data, "--listen",
                             ep, flag, NULL);
    return tu_hub_run_ms(out, n, 10000, "--config", f->config, "--data", f->data, "--listen", ep,
                         NULL);
}

/* Both --check-config and a start refuse (exit 2, naming the cause) a
 * secret key file others can read, an identity file or public key file
 * others can change, and a broken rule file; a good config passes the
 * check. csphub keygen writes the public key 0644 whatever the umask. */
static void test_check_config_as_start(void **state)
{
    struct tu_curve *f = *state;
    char out[8192], path[700];
    static const struct {
        const char *file; /* under f->dir */
        mode_t bad, good;
        const char *says;
    } cases[] = {
        {"keys/hub.key", 0640, 0600, "can be read by other users"},
        {"identities.yaml", 0664, 0644, "can be changed by other users"},
        {"keys/police.pub", 0646, 0644, "can be changed by other users"},
    };
    assert_int_equal(run_hub(f, "--check-config", out, sizeof out), 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, cases[i].file);
        assert_int_equal(chmod(path, cases[i].bad), 0);
        for (int start = 0; start < 2; start++) {
            int rc = run_hub(f, start ? NULL : "--check-config", out, sizeof out);
            if (rc != 2 || !strstr(out, cases[i].says) || !strstr(out, path))
                fail_msg("%s mode %03o, %s: want exit 2 saying '%s', got %d: %s",
                         cases[i].file, (unsigned)cases[i].bad,
                         start ? "start" : "--check-config", cases[i].says, rc, out);
        }
        assert_int_equal(chmod(path, cases[i].good), 0);
    }
    assert_int_equal(run_hub(f, "--check-config", out, sizeof out), 0);
    /* A rule file the start would refuse. */
    snprintf(path, sizeof path, "%s/rules.yaml", f->dir);
    tu_write_file(path, "rules:\n  - {name: broken, when: nonsense}\n");
    tu_write_file(f->config, "security: curve\n"
                          "identities_file: identities.yaml\n"
                          "server_key_file: keys/hub.key\n"
                          "rules_file: rules.yaml\n");
    int rc = run_hub(f, "--check-config", out, sizeof out);
    if (rc != 2 || !strstr(out, "rules.yaml"))
        fail_msg("a broken rule file: want exit 2 naming rules.yaml, got %d: %s", rc, out);

    /* keygen under umask 077 */
    mode_t old = umask(077);
    char err[256], pub[41];
    int krc = csph_keygen(f->keys, "tight", pub, err, sizeof err);
    umask(old);
    assert_int_equal(krc, 0);
    struct stat st;
    snprintf(path, sizeof path, "%s/tight.pub", f->keys);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    snprintf(path, sizeof path, "%s/tight.key", f->keys);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_revocation_by_reload(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    tu_curve_connect(f, &c, "police");
    char json[600];
    snprintf(json, sizeof json, "{\"op\":\"publish\",\"event\":" DA "}", "d1");
    assert_int_equal(tu_try_call(&c, 5000, &r, json), 0);
    assert_string_equal(tu_str(&r, "status"), "accepted");
    /* drop police from the identity file and reload */
    const char *without = strstr(IDS_ALL, "  - {name: marac-coord");
    char text[2048];
    snprintf(text, sizeof text, "clients:\n%s", without);
    tu_write_file(f->ids, text);
    kill(f->hub.pid, SIGHUP);
    /* the open connection is refused from the reload on */
    snprintf(json, sizeof json, "{\"op\":\"publish\",\"event\":" DA "}", "d2");
    int64_t deadline = tu_now_ms() + 10000;
    int refused = 0;
    while (!refused && tu_now_ms() < deadline) {
        assert_int_equal(tu_try_call(&c, 5000, &r, json), 0);
        refused = tu_str(&r, "error.code") && !strcmp(tu_str(&r, "error.code"), "forbidden");
    }
    assert_true(refused);
    tu_client_close(&c);
    /* and a new connection fails the handshake */
    tu_curve_connect(f, &c, "police");
    assert_int_equal(tu_try_call(&c, 500, &r, "{\"op\":\"ping\"}"), -1);
    tu_client_close(&c);
    /* a broken identity file is refused; the running identities stay */
    tu_write_file(f->ids, "clients:\n  - {name: x, role: wizard, key_file: keys/admin.pub}\n");
    kill(f->hub.pid, SIGHUP);
    tu_curve_connect(f, &c, "marac");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alerts\",\"panel\":\"marac\"}"), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    tu_client_close(&c);
}

static void test_startup_refusals(void **state)
{
    struct tu_curve *f = *state;
    char out[4096], key[700];
    /* a secret key others can read */
    snprintf(key, sizeof key, "%s/hub.key", f->keys);
    chmod(key, 0644);
    assert_int_equal(tu_hub_run_ms(out, sizeof out, 20000, "--data", f->data, "--config",
                                   f->config, NULL),
                     2);
    assert_non_null(strstr(out, "chmod 600"));
    assert_null(strstr(out, "secret:")); /* the secret is never printed */
    chmod(key, 0600);
    /* curve without an identity file */
    char cfg[700];
    snprintf(cfg, sizeof cfg, "%s/bad.yaml", f->dir);
    tu_write_file(cfg, "security: curve\nserver_key_file: keys/hub.key\n");
    assert_int_equal(tu_hub_run_ms(out, sizeof out, 20000, "--data", f->data, "--config", cfg,
                                   NULL),
                     2);
    assert_non_null(strstr(out, "identities_file"));
    /* an identity naming an unknown panel: file:line */
    tu_write_file(f->ids, "clients:\n  - {name: x, role: panel, key_file: keys/admin.pub,\n"
                       "     panels: [nope]}\n");
    assert_int_equal(tu_hub_run_ms(out, sizeof out, 20000, "--data", f->data, "--config",
                                   f->config, NULL),
                     2);
    assert_non_null(strstr(out, "identities.yaml:3: no panel named 'nope'"));
    /* none on a public address */
    assert_int_equal(tu_hub_run_ms(out, sizeof out, 20000, "--data", f->data, "--listen",
                                   "tcp://0.0.0.0:7999", NULL),
                     2);
    assert_non_null(strstr(out, "loopback"));
}

/* An identity's connections share one bound of unread replies (curve
 * mode): an admin key that opens several connections and reads none of its
 * replies is answered busy as one client, even on a fresh connection, while
 * an agency beside it publishes without a single busy. */
static void test_identity_backlog(void **state)
{
    struct tu_curve *f = *state;
    tu_write_file(f->config, "security: curve\n"
                          "identities_file: identities.yaml\n"
                          "server_key_file: keys/hub.key\n"
                          "rules_file: none\n"
                          "limits:\n"
                          "  sndhwm: 100\n"
                          "  reply_backlog_per_connection: 64\n"
                          "  reply_backlog_per_identity: 96\n");
    tu_curve_start(f);
    struct tu_client bad[3], police, probe;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, "{\"op\":\"stats\"}");
    for (int i = 0; i < 3; i++) {
        int hwm = 100, small = 4096;
        tu_curve_connect(f, &bad[i], NULL); /* a socket only: keys and buffers first */
        zmq_close(bad[i].sock);
        bad[i].sock = zmq_socket(bad[i].ctx, ZMQ_DEALER);
        int linger = 0;
        char path[700], pub[41], sec[41], err[256];
        snprintf(path, sizeof path, "%s/admin.key", f->keys);
        if (csph_key_file_read(path, pub, sec, err, sizeof err))
            fail_msg("%s", err);
        zmq_setsockopt(bad[i].sock, ZMQ_LINGER, &linger, sizeof linger);
        zmq_setsockopt(bad[i].sock, ZMQ_RCVHWM, &hwm, sizeof hwm);
        zmq_setsockopt(bad[i].sock, ZMQ_RCVBUF, &small, sizeof small);
        zmq_setsockopt(bad[i].sock, ZMQ_CURVE_SERVERKEY, f->hub_pub, 40);
        zmq_setsockopt(bad[i].sock, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt(bad[i].sock, ZMQ_CURVE_SECRETKEY, sec, 40);
        zmq_connect(bad[i].sock, f->hub.endpoint);
    }
    tu_curve_connect(f, &probe, "auditor");
    /* Each admin connection floods until the identity is at its bound. */
    int64_t until = tu_now_ms() + 60000;
    /* Until the kernel's buffers are full too and the hub holds the
     * identity's bound round after round (before that, held replies still
     * drain into the socket). */
    int64_t waiting = 0;
    int steady = 0;
    while (steady < 5 && tu_now_ms() < until) {
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 500; k++)
                zmq_send(bad[i].sock, sb.data, sb.size, ZMQ_DONTWAIT);
        msgpack_object r = tu_call(&probe, "{\"op\":\"stats\"}");
        waiting = tu_int(&r, "counters.replies_waiting");
        steady = waiting >= 96 ? steady + 1 : 0;
    }
    /* The identity's 96, and at most 16 busy answers a connection: not the
     * connections' 3 x 64. */
    if (waiting < 96 || waiting > 96 + 3 * 16)
        fail_msg("the hub holds %lld replies for the admin identity", (long long)waiting);
    /* A fresh admin connection holds nothing, yet its identity is at its
     * bound: busy (asked while the others keep it there). */
    struct tu_client fresh;
    tu_curve_connect(f, &fresh, "admin");
    msgpack_object r;
    int fresh_busy = 0;
    while (!fresh_busy && tu_now_ms() < until) {
        for (int i = 0; i < 3; i++)
            for (int k = 0; k < 100; k++)
                zmq_send(bad[i].sock, sb.data, sb.size, ZMQ_DONTWAIT);
        r = tu_call(&fresh, "{\"op\":\"ping\"}");
        const char *code = tu_str(&r, "error.code");
        fresh_busy = code && !strcmp(code, "busy") &&
                     strstr(tu_str(&r, "error.message"), "it-officer");
    }
    if (!fresh_busy)
        fail_msg("a fresh connection of the same identity: %s", tu_dump(&r));
    /* The agency beside it is not held back at all. */
    tu_curve_connect(f, &police, "police");
    for (int i = 0; i < 50; i++) {
        char ev[400];
        snprintf(ev, sizeof ev,
                 "{\"op\":\"publish\",\"event\":{\"id\":\"ib-%d\",\"type\":\"asb.report\","
                 "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"victim\":\"V-%d\","
                 "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"personal\"}}",
                 i, i);
        r = tu_call(&police, "%s", ev);
        if (tu_bool(&r, "ok") != 1)
            fail_msg("publish %d beside the admin's backlog: %s", i, tu_dump(&r));
    }
    msgpack_sbuffer_destroy(&sb);
    for (int i = 0; i < 3; i++)
        tu_client_close(&bad[i]);
    tu_client_close(&fresh);
    tu_client_close(&police);
    tu_client_close(&probe);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshakes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_roles_may_not, setup, teardown),
        cmocka_unit_test_setup_teardown(test_strategic_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_source_and_type_scoping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_panels_and_restricted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumer_limits_and_records, setup, teardown),
        cmocka_unit_test_setup_teardown(test_held_fetch_of_failed_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_config_as_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_trail, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dpo_erase_and_restriction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restricted_person_alerts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_revocation_by_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_startup_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identity_backlog, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
