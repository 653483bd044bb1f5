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

#include "csphub.h"

struct fx {
    char *dir;
    char data[600], config[600], ids[600], keys[600];
    struct tu_hub hub;
    char hub_pub[41];
};

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

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir("people");
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->keys, sizeof f->keys, "%s/keys", f->dir);
    snprintf(f->ids, sizeof f->ids, "%s/identities.yaml", f->dir);
    snprintf(f->config, sizeof f->config, "%s/hub.yaml", f->dir);
    mkdir(f->keys, 0700);
    char err[256], pub[41];
    const char *names[] = {"hub", "police", "console", "auditor", "admin"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (csph_keygen(f->keys, names[i], i ? pub : f->hub_pub, err, sizeof err))
            fail_msg("keygen: %s", err);
    write_file(f->ids, IDS_PEOPLE);
    chmod(f->ids, 0644); /* whatever the umask: the hub refuses one others can write */
    write_file(f->config, "security: curve\n"
                          "identities_file: identities.yaml\n"
                          "server_key_file: keys/hub.key\n");
    f->hub.port = tu_free_port();
    snprintf(f->hub.endpoint, sizeof f->hub.endpoint, "tcp://127.0.0.1:%d", f->hub.port);
    snprintf(f->hub.data, sizeof f->hub.data, "%.500s", f->data);
    snprintf(f->hub.log, sizeof f->hub.log, "%.500s.log", f->data);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->hub.pid > 0)
        assert_int_equal(tu_hub_stop(&f->hub), 0);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* tu_hub_start waits for a plain ping, which CURVE refuses: start the hub
 * here and wait for an answer over CURVE instead. */
static void connect_as(struct fx *f, struct tu_client *c, const char *who);

static void start(struct fx *f)
{
    if (f->hub.pid > 0)
        tu_hub_kill9(&f->hub);
    char log[700];
    snprintf(log, sizeof log, "%s", f->hub.log);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        FILE *lf = freopen(log, "a", stderr);
        (void)lf;
        execl(tu_env("CSPH_HUBD", "csphubd"), "csphubd", "--data", f->data, "--listen",
              f->hub.endpoint, "--config", f->config, (char *)NULL);
        _exit(127);
    }
    f->hub.pid = pid;
    struct tu_client c;
    connect_as(f, &c, "admin");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, "{\"op\":\"ping\"}");
    int64_t deadline = tu_now_ms() + 20000;
    msgpack_object r;
    int ok = 0;
    while (!ok && tu_now_ms() < deadline) {
        tu_send_raw(&c, sb.data, sb.size);
        ok = tu_recv(&c, 200, &r) == 0;
    }
    msgpack_sbuffer_destroy(&sb);
    tu_client_close(&c);
    if (!ok)
        fail_msg("the hub did not answer over CURVE (log: %s)", log);
}

static void connect_as(struct fx *f, struct tu_client *c, const char *who)
{
    int linger = 0;
    c->ctx = zmq_ctx_new();
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    msgpack_zone_init(&c->zone, 4096);
    if (who) {
        char path[700], pub[41], sec[41], err[256];
        snprintf(path, sizeof path, "%s/%s.key", f->keys, who);
        if (csph_key_file_read(path, pub, sec, err, sizeof err))
            fail_msg("%s", err);
        zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, f->hub_pub, 40);
        zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, sec, 40);
    }
    zmq_connect(c->sock, f->hub.endpoint);
}

/* Send and wait up to ms; -1 when no reply came. */
static int try_call(struct tu_client *c, int ms, msgpack_object *r, const char *json)
{
    (void)tu_send(c, "%s", json);
    return tu_recv(c, ms, r);
}


#define DA "{\"id\":\"%s\",\"type\":\"da.incident\",\"occurred_at\":\"2025-05-01T22:00:00Z\"," \
           "\"victim\":\"V-1\",\"dash_score\":16}"

static void expect_refused(struct tu_client *c, const char *json, const char *code,
                           const char *field, const char *message)
{
    msgpack_object r;
    if (try_call(c, 5000, &r, json))
        fail_msg("no reply to %s", json);
    if (tu_bool(&r, "ok") != 0 || strcmp(tu_str(&r, "error.code"), code) ||
        strcmp(tu_str(&r, "error.field"), field) ||
        (message && strcmp(tu_str(&r, "error.message"), message)))
        fail_msg("%s: want %s on %s (%s), got %s", json, code, field, message ? message : "",
                 tu_dump(&r));
}

static void test_gateway_acts_for_people(void **state)
{
    struct fx *f = *state;
    start(f);
    struct tu_client c;
    msgpack_object r;
    char json[600];
    connect_as(f, &c, "police");
    snprintf(json, sizeof json, "{\"op\":\"publish\",\"event\":" DA "}", "d1");
    assert_int_equal(try_call(&c, 5000, &r, json), 0); /* alert 1: marac */
    assert_string_equal(tu_str(&r, "status"), "accepted");
    assert_int_equal(try_call(&c, 5000, &r,
                              "{\"op\":\"publish\",\"event\":{\"id\":\"c1\",\"type\":\"concern\","
                              "\"occurred_at\":\"2025-05-01T10:00:00Z\",\"subject\":\"Y-7\","
                              "\"kind\":\"radicalisation\"}}"),
                     0); /* alert 2: channel */
    /* only a gateway may name a person */
    expect_refused(&c, "{\"op\":\"ping\",\"as\":\"ann\"}", "forbidden", "as",
                   "only a gateway identity may act for a person ('as')");
    tu_client_close(&c);

    connect_as(f, &c, "console");
    /* on its own, a gateway holds the fetches of its panels, nothing else */
    expect_refused(&c, "{\"op\":\"alerts\",\"panel\":\"marac\"}", "forbidden", "op", NULL);
    assert_int_equal(try_call(&c, 5000, &r, "{\"op\":\"fetch\",\"panel\":\"marac\","
                                            "\"consumer\":\"console\"}"), 0);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    expect_refused(&c, "{\"op\":\"fetch\",\"panel\":\"channel\",\"consumer\":\"console\"}",
                   "forbidden", "panel", NULL);
    /* as ann: her panels within the gateway's */
    assert_int_equal(try_call(&c, 5000, &r, "{\"op\":\"alerts\",\"panel\":\"marac\","
                                            "\"as\":\"ann\"}"), 0);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    expect_refused(&c, "{\"op\":\"alerts\",\"panel\":\"channel\",\"as\":\"ann\"}", "forbidden",
                   "panel", "identity 'ann' may not read panel channel");
    expect_refused(&c, "{\"op\":\"alert\",\"id\":2,\"as\":\"ann\"}", "not_found", "id",
                   "no alert with id 2");
    assert_int_equal(try_call(&c, 5000, &r, "{\"op\":\"person\",\"ref\":\"Y-7\",\"as\":\"ann\"}"),
                     0);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 0); /* channel's: not even existence */
    assert_int_equal(try_call(&c, 5000, &r, "{\"op\":\"person\",\"ref\":\"V-1\",\"as\":\"ann\"}"),
                     0);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    /* ann decides: the log says ann, through the console; `by` is hers */
    expect_refused(&c, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\",\"as\":\"ann\","
                       "\"by\":\"bob\"}", "forbidden", "by", NULL);
    assert_int_equal(try_call(&c, 5000, &r, "{\"op\":\"alert.update\",\"id\":1,\"status\":"
                                            "\"accepted\",\"as\":\"ann\",\"expect\":\"open\"}"), 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    /* an auditor person, bounded by the gateway's panels too */
    assert_int_equal(try_call(&c, 5000, &r, "{\"op\":\"alerts\",\"panel\":\"marac\","
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
    assert_int_equal(try_call(&c, 20000, &r, "{\"op\":\"report\",\"from\":\"2025-04\","
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
    connect_as(f, &c, "auditor");
    assert_int_equal(try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"alert.status\"]}"),
                     0);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "events.0.event.by"), "ann");
    assert_string_equal(tu_str(&r, "events.0.event.gateway"), "console");
    assert_int_equal(try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"audit.access\"],"
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
    write_file(f->ids, IDS_ANN_DISABLED);
    chmod(f->ids, 0644);
    kill(f->hub.pid, SIGHUP);
    connect_as(f, &c, "console");
    int64_t deadline = tu_now_ms() + 10000;
    int refused = 0;
    while (!refused && tu_now_ms() < deadline) {
        assert_int_equal(try_call(&c, 5000, &r, "{\"op\":\"alerts\",\"panel\":\"marac\","
                                                "\"as\":\"ann\"}"), 0);
        refused = tu_bool(&r, "ok") == 0;
    }
    assert_true(refused);
    assert_string_equal(tu_str(&r, "error.message"), "person 'ann' is disabled");
    tu_client_close(&c);

    /* the account changes are in the log: the list at start, then again
     * with ann disabled (and dan and aud gone) */
    connect_as(f, &c, "auditor");
    assert_int_equal(try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"people.loaded\"]}"),
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
    start(f);
    connect_as(f, &c, "auditor");
    assert_int_equal(try_call(&c, 5000, &r, "{\"op\":\"replay\",\"types\":[\"people.loaded\"]}"),
                     0);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 2);
    tu_client_close(&c);
}

static void test_people_file_refusals(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *people, *want;
    } cases[] = {
        {"  - {name: ann, role: agency}\n", "person 'ann' needs a role: panel, auditor, admin or strategic"},
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
        write_file(f->ids, text);
        chmod(f->ids, 0644);
        int st = tu_hub_run(out, sizeof out, "--data", f->data, "--config", f->config,
                            "--check-config", NULL);
        if (st == 0 || !strstr(out, cases[i].want) || !strstr(out, "identities.yaml:"))
            fail_msg("people case %zu: status %d, want '%s' with file:line, got: %s", i, st,
                     cases[i].want, out);
    }
    /* a gateway must list its panels */
    write_file(f->ids, "clients:\n  - {name: console, role: gateway, key_file: keys/console.pub}\n");
    char out[4096];
    int st = tu_hub_run(out, sizeof out, "--data", f->data, "--config", f->config,
                        "--check-config", NULL);
    if (st == 0 || !strstr(out, "gateway 'console' must list the panels"))
        fail_msg("gateway without panels: status %d: %s", st, out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gateway_acts_for_people, setup, teardown),
        cmocka_unit_test_setup_teardown(test_people_file_refusals, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
