/* people: a gateway (the coordinators' console) acting for people listed
 * in the identity file, with real CURVE sockets against the real daemon:
 * the person's scope bounded by the gateway's panels, unknown and disabled
 * people refused, the person and the gateway in alert.status and
 * audit.access, `as` refused to anyone but a gateway, and a disabled
 * person refused at once after a reload. */
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

#define CLIENTS                                                                \
    "clients:\n"                                                               \
    "  - {name: police, role: agency, key_file: keys/police.pub,\n"            \
    "     types: [asb.report, da.incident, concern]}\n"                        \
    "  - {name: console, role: gateway, key_file: keys/console.pub,\n"         \
    "     panels: [marac, asb-case-review]}\n"                                 \
    "  - {name: scrutiny, role: auditor, key_file: keys/auditor.pub}\n"        \
    "  - {name: it-officer, role: admin, key_file: keys/admin.pub}\n"

static const char *IDS_PEOPLE = CLIENTS
    "people:\n"
    "  - {name: ann, role: panel, panels: [marac, channel]}\n"
    "  - {name: dan, role: panel, panels: [marac], disabled: true}\n"
    "  - {name: aud, role: auditor}\n"
    "  - {name: board, role: strategic}\n";

static const char *IDS_ANN_DISABLED = CLIENTS
    "people:\n"
    "  - {name: ann, role: panel, panels: [marac, channel], disabled: true}\n";

static int setup(void **state)
{
    static const char *const names[] = {"police", "console", "auditor", "admin", NULL};
    *state = tu_curve_new("people", names, IDS_PEOPLE);
    return 0;
}

static int teardown(void **state)
{
    tu_curve_free(*state);
    return 0;
}

#define DA "{\"id\":\"%s\",\"type\":\"da.incident\",\"occurred_at\":\"2025-05-01T22:00:00Z\"," \
           "\"victim\":\"V-1\",\"dash_score\":16}"

static void expect_refused(struct tu_client *c, const char *json, const char *code,
                           const char *field, const char *message)
{
    msgpack_object r;
    if (tu_try_call(c, 5000, &r, json))
        fail_msg("no reply to %s", json);
    if (tu_bool(&r, "ok") != 0 || strcmp(tu_str(&r, "error.code"), code) ||
        strcmp(tu_str(&r, "error.field"), field) ||
        (message && strcmp(tu_str(&r, "error.message"), message)))
        fail_msg("%s: want %s on %s (%s), got %s", json, code, field, message ? message : "",
                 tu_dump(&r));
}

static void test_gateway_acts_for_people(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    char json[600];
    tu_curve_connect(f, &c, "police");
    snprintf(json, sizeof json, "{\"op\":\"publish\",\"event\":" DA "}", "d1");
    assert_int_equal(tu_try_call(&c, 5000, &r, json), 0); /* alert 1: marac */
    assert_string_equal(tu_str(&r, "status"), "accepted");
    assert_int_equal(tu_try_call(&c, 5000, &r,
                              "{\"op\":\"publish\",\"event\":{\"id\":\"c1\",\"type\":\"concern\","
                              "\"occurred_at\":\"2025-05-01T10:00:00Z\",\"subject\":\"Y-7\","
                              "\"kind\":\"radicalisation\"}}"),
                     0); /* alert 2: channel */
    /* only a gateway may name a person */
    expect_refused(&c, "{\"op\":\"ping\",\"as\":\"ann\"}", "forbidden", "as",
                   "only a gateway identity may act for a person ('as')");
    tu_client_close(&c);

    tu_curve_connect(f, &c, "console");
    /* on its own, a gateway holds the fetches of its panels, nothing else */
    expect_refused(&c, "{\"op\":\"alerts\",\"panel\":\"marac\"}", "forbidden", "op", NULL);
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"fetch\",\"panel\":\"marac\","
                                            "\"consumer\":\"console\"}"), 0);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    expect_refused(&c, "{\"op\":\"fetch\",\"panel\":\"channel\",\"consumer\":\"console\"}",
                   "forbidden", "panel", NULL);
    /* as ann: her panels within the gateway's */
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alerts\",\"panel\":\"marac\","
                                            "\"as\":\"ann\"}"), 0);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    expect_refused(&c, "{\"op\":\"alerts\",\"panel\":\"channel\",\"as\":\"ann\"}", "forbidden",
                   "panel", "identity 'ann' may not read panel channel");
    expect_refused(&c, "{\"op\":\"alert\",\"id\":2,\"as\":\"ann\"}", "not_found", "id",
                   "no alert with id 2");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"person\",\"ref\":\"Y-7\",\"as\":\"ann\"}"),
                     0);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 0); /* channel's: not even existence */
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"person\",\"ref\":\"V-1\",\"as\":\"ann\"}"),
                     0);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    /* ann decides: the log says ann, through the console; `by` is hers */
    expect_refused(&c, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\",\"as\":\"ann\","
                       "\"by\":\"bob\"}", "forbidden", "by", NULL);
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alert.update\",\"id\":1,\"status\":"
                                            "\"accepted\",\"as\":\"ann\",\"expect\":\"open\"}"), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    /* an auditor person, bounded by the gateway's panels too */
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alerts\",\"panel\":\"marac\","
                                            "\"as\":\"aud\"}"), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    expect_refused(&c, "{\"op\":\"alerts\",\"panel\":\"channel\",\"as\":\"aud\"}", "forbidden",
                   "panel", NULL);
    expect_refused(&c, "{\"op\":\"replay\",\"as\":\"aud\"}", "forbidden", "as",
                   "a gateway acts for a person only on panels' queues and alerts and on "
                   "reports, not for op 'replay'");
    /* reports as a person: the board's (strategic) and an auditor's alike,
     * suppressed, never drilled down through a gateway; a panel member's
     * role has no report */
    assert_int_equal(tu_try_call(&c, 20000, &r, "{\"op\":\"report\",\"from\":\"2025-04\","
                                             "\"to\":\"2026-03\",\"as\":\"board\"}"), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_bool(&r, "suppressed"), 1);
    assert_true(tu_get(&r, "areas")->via.array.size >= 1); /* the choice offered */
    expect_refused(&c, "{\"op\":\"report\",\"from\":\"2025-04-02\",\"to\":\"2026-03\","
                       "\"as\":\"board\"}", "bad_request", "from", NULL); /* whole months */
    expect_refused(&c, "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\","
                       "\"suppress\":false,\"as\":\"aud\"}", "forbidden", "suppress",
                   "a report through gateway 'console' is suppressed: ask as yourself for the "
                   "figures unsuppressed");
    expect_refused(&c, "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\","
                       "\"explain\":\"marac.cases\",\"month\":\"2025-05\",\"as\":\"aud\"}",
                   "forbidden", "explain", NULL);
    expect_refused(&c, "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\","
                       "\"as\":\"ann\"}", "forbidden", "op", NULL);
    /* unknown and disabled people */
    expect_refused(&c, "{\"op\":\"alerts\",\"panel\":\"marac\",\"as\":\"zed\"}", "forbidden", "as",
                   "no person named 'zed' in the hub's identity file");
    expect_refused(&c, "{\"op\":\"alerts\",\"panel\":\"marac\",\"as\":\"dan\"}", "forbidden", "as",
                   "person 'dan' is disabled");
    expect_refused(&c, "{\"op\":\"alerts\",\"panel\":\"marac\",\"as\":\"\"}", "bad_request", "as",
                   NULL);
    tu_client_close(&c);

    /* the log: the person and the gateway, in the decision and the reads */
    tu_curve_connect(f, &c, "auditor");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"alert.status\"]}"),
                     0);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "events.0.event.by"), "ann");
    assert_string_equal(tu_str(&r, "events.0.event.gateway"), "console");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"audit.access\"],"
                                            "\"max\":100}"),
                     0);
    const msgpack_object *evs = tu_get(&r, "events");
    int ann_alerts = 0, gateway_alone = 0, board_reports = 0;
    for (uint32_t i = 0; i < evs->via.array.size; i++) {
        char p[64];
        snprintf(p, sizeof p, "events.%u.event.identity", i);
        const char *who = tu_str(&r, p);
        snprintf(p, sizeof p, "events.%u.event.gateway", i);
        const msgpack_object *gw = tu_get(&r, p);
        snprintf(p, sizeof p, "events.%u.event.op", i);
        if (!strcmp(who, "ann") && gw && !strcmp(tu_str(&r, p), "alerts")) {
            ann_alerts++;
            snprintf(p, sizeof p, "events.%u.event.gateway", i);
            assert_string_equal(tu_str(&r, p), "console");
            snprintf(p, sizeof p, "events.%u.event.role", i);
            assert_string_equal(tu_str(&r, p), "panel");
        }
        if (!strcmp(who, "board") && !strcmp(tu_str(&r, p), "report")) {
            board_reports++;
            snprintf(p, sizeof p, "events.%u.event.gateway", i);
            assert_string_equal(tu_str(&r, p), "console");
        }
        gateway_alone += !strcmp(who, "console");
    }
    assert_int_equal(ann_alerts, 2); /* marac, and the refused channel: attempts count too */
    assert_int_equal(gateway_alone, 0); /* the gateway's own fetches leave none */
    assert_int_equal(board_reports, 1); /* the report run, the person and the gateway named */
    tu_client_close(&c);

    /* ann disabled, reloaded on SIGHUP: refused from then on */
    tu_write_file(f->ids, IDS_ANN_DISABLED);
    chmod(f->ids, 0644);
    kill(f->hub.pid, SIGHUP);
    tu_curve_connect(f, &c, "console");
    int64_t deadline = tu_now_ms() + 10000;
    int refused = 0;
    while (!refused && tu_now_ms() < deadline) {
        assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alerts\",\"panel\":\"marac\","
                                                "\"as\":\"ann\"}"), 0);
        refused = tu_bool(&r, "ok") == 0;
    }
    assert_true(refused);
    assert_string_equal(tu_str(&r, "error.message"), "person 'ann' is disabled");
    tu_client_close(&c);

    /* the account changes are in the log: the list at start, then again
     * with ann disabled (and dan and aud gone) */
    tu_curve_connect(f, &c, "auditor");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"people.loaded\"]}"),
                     0);
    if (tu_get(&r, "events")->via.array.size != 2)
        fail_msg("want 2 people.loaded, got %s", tu_dump(&r));
    assert_string_equal(tu_str(&r, "events.0.event.source"), "hub");
    const char *first = tu_str(&r, "events.0.event.people");
    if (!strstr(first, "\"name\":\"aud\""))
        fail_msg("people.loaded: %s", first);
    assert_non_null(strstr(first,
                           "{\"name\":\"ann\",\"role\":\"panel\",\"panels\":[\"marac\",\"channel\"],"
                           "\"disabled\":false}"));
    assert_non_null(strstr(tu_str(&r, "events.0.event.people"), "\"name\":\"dan\""));
    assert_string_equal(tu_str(&r, "events.1.event.people"),
                        "[{\"name\":\"ann\",\"role\":\"panel\",\"panels\":[\"marac\",\"channel\"],"
                        "\"disabled\":true}]");
    tu_client_close(&c);
    /* a restart with the same list records nothing new */
    tu_curve_start(f);
    tu_curve_connect(f, &c, "auditor");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"people.loaded\"]}"),
                     0);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 2);
    tu_client_close(&c);
}

static void test_people_file_refusals(void **state)
{
    struct tu_curve *f = *state;
    static const struct {
        const char *people, *want;
    } cases[] = {
        {"  - {name: ann, role: gateway}\n",
         "person 'ann' needs a role: panel, auditor, admin, strategic or agency"},
        /* someone at an agency names it, and it is a client of role agency */
        {"  - {name: ann, role: agency}\n", "person 'ann' of role agency must name their agency"},
        {"  - {name: ann, role: agency, agency: console}\n",
         "agency: no client named 'console' of role agency"},
        {"  - {name: ann, role: auditor, agency: police}\n",
         "only a person of role agency names an agency"},
        {"  - {name: ann, role: panel}\n", "panel member 'ann' must list their panels"},
        {"  - {name: ann, role: panel, panels: [nope]}\n", "no panel named 'nope'"},
        {"  - {name: aud, role: auditor, panels: [marac]}\n", "only a panel member lists panels"},
        {"  - {name: ann, role: panel, panels: [marac]}\n  - {name: ann, role: auditor}\n",
         "person 'ann' is listed twice"},
        {"  - {name: console, role: auditor}\n", "person 'console' has the name of a client"},
        {"  - {name: ann, role: panel, panels: [marac], key: x}\n", "key"},
        {"  - {name: \"a b\", role: auditor}\n", "(no spaces)"},
        {"  - {name: \"a\\\"b\", role: auditor}\n", "a name is letters, digits"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[2048], out[4096];
        snprintf(text, sizeof text, CLIENTS "people:\n%s", cases[i].people);
        tu_write_file(f->ids, text);
        chmod(f->ids, 0644);
        int st = tu_hub_run(out, sizeof out, "--data", f->data, "--config", f->config,
                            "--check-config", NULL);
        if (st == 0 || !strstr(out, cases[i].want) || !strstr(out, "identities.yaml:"))
            fail_msg("people case %zu: status %d, want '%s' with file:line, got: %s", i, st,
                     cases[i].want, out);
    }
    /* a gateway must list its panels */
    tu_write_file(f->ids, "clients:\n  - {name: console, role: gateway, key_file: keys/console.pub}\n");
    char out[4096];
    int st = tu_hub_run(out, sizeof out, "--data", f->data, "--config", f->config,
                        "--check-config", NULL);
    if (st == 0 || !strstr(out, "gateway 'console' must list the panels"))
        fail_msg("gateway without panels: status %d: %s", st, out);
}

/* Someone at an agency (role agency, agency: police) reads, through the
 * console, the actions their agency owns and their own; nothing else: not
 * another agency's, not a case, not a queue. A case's page (the `case` op)
 * carries its history and the choices its forms offer. */
static const char *IDS_AGENCY = CLIENTS
    "  - {name: idva, role: agency, key_file: keys/idva.pub, types: [concern]}\n"
    "people:\n"
    "  - {name: ann, role: panel, panels: [marac]}\n"
    "  - {name: pc, role: agency, agency: police}\n";

static int setup_agency(void **state)
{
    static const char *const names[] = {"police", "console", "auditor", "admin", "idva", NULL};
    *state = tu_curve_new("agencyp", names, IDS_AGENCY);
    return 0;
}

static void test_agency_person_reads_its_actions(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client c;
    msgpack_object r;
    char json[600];
    tu_curve_connect(f, &c, "police");
    snprintf(json, sizeof json, "{\"op\":\"publish\",\"event\":" DA "}", "d1");
    assert_int_equal(tu_try_call(&c, 5000, &r, json), 0);
    tu_client_close(&c);
    tu_curve_connect(f, &c, "console");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"alert.update\",\"id\":1,\"status\":"
                                            "\"accepted\",\"as\":\"ann\"}"), 0);
    static const char *const owners[] = {"police", "idva", "pc", "ann"};
    for (int i = 0; i < 4; i++) {
        snprintf(json, sizeof json, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":"
                 "\"V-1\",\"what\":\"task %d\",\"owner\":\"%s\",\"due_days\":7,\"as\":\"ann\"}",
                 i, owners[i]);
        assert_int_equal(tu_try_call(&c, 5000, &r, json), 0);
        if (tu_bool(&r, "ok") != 1)
            fail_msg("%s: %s", json, tu_dump(&r));
    }
    /* pc: police's action and pc's own, in id order of each owner */
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"actions\",\"as\":\"pc\"}"), 0);
    if (tu_bool(&r, "ok") != 1 || tu_get(&r, "actions")->via.array.size != 2)
        fail_msg("pc's actions: %s", tu_dump(&r));
    assert_string_equal(tu_str(&r, "actions.0.owner"), "police");
    assert_string_equal(tu_str(&r, "actions.1.owner"), "pc");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"actions\",\"owner\":\"pc\",\"as\":\"pc\"}"), 0);
    assert_int_equal(tu_get(&r, "actions")->via.array.size, 1);
    expect_refused(&c, "{\"op\":\"actions\",\"owner\":\"idva\",\"as\":\"pc\"}", "forbidden",
                   "owner", "agency 'police' may read only its own actions");
    expect_refused(&c, "{\"op\":\"case\",\"panel\":\"marac\",\"key\":\"V-1\",\"as\":\"pc\"}",
                   "forbidden", "op", NULL);
    expect_refused(&c, "{\"op\":\"alerts\",\"panel\":\"marac\",\"as\":\"pc\"}", "forbidden",
                   "op", NULL);
    /* the case page's read: history (its opening) and the form's choices */
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"case\",\"panel\":\"marac\","
                                            "\"key\":\"V-1\",\"as\":\"ann\"}"), 0);
    if (tu_bool(&r, "ok") != 1 || tu_get(&r, "history")->via.array.size != 1 ||
        tu_get(&r, "actions")->via.array.size != 4)
        fail_msg("case: %s", tu_dump(&r));
    assert_string_equal(tu_str(&r, "history.0.event.type"), "case.opened");
    assert_string_equal(tu_str(&r, "choices.outcomes.0"), "risk-reduced");
    /* the owners: the identity file's agencies, then the panel's members */
    assert_int_equal(tu_get(&r, "choices.owners")->via.array.size, 3);
    assert_string_equal(tu_str(&r, "choices.owners.0.name"), "police");
    assert_string_equal(tu_str(&r, "choices.owners.1.name"), "idva");
    assert_string_equal(tu_str(&r, "choices.owners.2.name"), "ann");
    assert_string_equal(tu_str(&r, "choices.owners.2.kind"), "person");
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"case.hear\",\"panel\":\"marac\","
                                            "\"key\":\"V-1\",\"attendance\":[\"police\"],"
                                            "\"minutes\":\"agreed\",\"as\":\"ann\"}"), 0);
    assert_int_equal(tu_try_call(&c, 5000, &r, "{\"op\":\"case\",\"panel\":\"marac\","
                                            "\"key\":\"V-1\",\"as\":\"ann\"}"), 0);
    assert_int_equal(tu_get(&r, "history")->via.array.size, 2);
    assert_string_equal(tu_str(&r, "history.1.event.type"), "case.heard");
    assert_string_equal(tu_str(&r, "history.1.event.minutes"), "agreed");
    tu_client_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gateway_acts_for_people, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_file_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agency_person_reads_its_actions, setup_agency,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
