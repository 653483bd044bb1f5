/* panelops: who sees what of a panel's work, with real CURVE sockets
 * against the real daemon: a panel member only their panels' cases,
 * agendas and actions; an agency only its own actions (a restricted
 * panel's as existence only) and nobody else's; only a restricted panel's
 * own members see its agenda, without its look-back (evidence); the
 * auditor everything; every read by a member or the auditor audited. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "testutil.h"

#include "csphub.h"

struct fx {
    char *dir;
    char data[600], config[600], ids[600], keys[600];
    struct tu_hub hub;
    char hub_pub[41];
    struct tu_client police, idva, marac, channel, auditor, console;
};

static const char *IDS =
    "clients:\n"
    "  - {name: police, role: agency, key_file: keys/police.pub,\n"
    "     types: [da.incident, concern, violence.incident]}\n"
    "  - {name: idva, role: agency, key_file: keys/idva.pub, types: [da.incident]}\n"
    "  - {name: marac-coord, role: panel, key_file: keys/marac.pub, panels: [marac, sgv]}\n"
    "  - {name: channel-coord, role: panel, key_file: keys/channel.pub, panels: [channel]}\n"
    "  - {name: scrutiny, role: auditor, key_file: keys/auditor.pub}\n"
    "  - {name: console, role: gateway, key_file: keys/console.pub, panels: [marac]}\n"
    "people:\n"
    "  - {name: ann, role: panel, panels: [marac, channel]}\n";

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void connect_as(struct fx *f, struct tu_client *c, const char *who)
{
    int linger = 0;
    c->ctx = zmq_ctx_new();
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    msgpack_zone_init(&c->zone, 4096);
    char path[700], pub[41], sec[41], err[256];
    snprintf(path, sizeof path, "%s/%s.key", f->keys, who);
    if (csph_key_file_read(path, pub, sec, err, sizeof err))
        fail_msg("%s", err);
    zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, f->hub_pub, 40);
    zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, pub, 40);
    zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, sec, 40);
    zmq_connect(c->sock, f->hub.endpoint);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir("panelops");
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->keys, sizeof f->keys, "%s/keys", f->dir);
    snprintf(f->ids, sizeof f->ids, "%s/identities.yaml", f->dir);
    snprintf(f->config, sizeof f->config, "%s/hub.yaml", f->dir);
    mkdir(f->keys, 0700);
    char err[256], pub[41];
    const char *names[] = {"hub", "police", "idva", "marac", "channel", "auditor", "console"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (csph_keygen(f->keys, names[i], i ? pub : f->hub_pub, err, sizeof err))
            fail_msg("keygen: %s", err);
    write_file(f->ids, IDS);
    chmod(f->ids, 0644);
    write_file(f->config, "security: curve\n"
                          "identities_file: identities.yaml\n"
                          "server_key_file: keys/hub.key\n");
    f->hub.port = tu_free_port();
    snprintf(f->hub.endpoint, sizeof f->hub.endpoint, "tcp://127.0.0.1:%d", f->hub.port);
    snprintf(f->hub.data, sizeof f->hub.data, "%.500s", f->data);
    snprintf(f->hub.log, sizeof f->hub.log, "%.500s.log", f->data);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        FILE *lf = freopen(f->hub.log, "a", stderr);
        (void)lf;
        execl(tu_env("CSPH_HUBD", "csphubd"), "csphubd", "--data", f->data, "--listen",
              f->hub.endpoint, "--config", f->config, (char *)NULL);
        _exit(127);
    }
    f->hub.pid = pid;
    connect_as(f, &f->police, "police");
    connect_as(f, &f->idva, "idva");
    connect_as(f, &f->marac, "marac");
    connect_as(f, &f->channel, "channel");
    connect_as(f, &f->auditor, "auditor");
    connect_as(f, &f->console, "console");
    /* The hub answers over CURVE once it is up: ping until it does, on a
     * client of its own (late replies to earlier pings go with it). */
    struct tu_client probe;
    connect_as(f, &probe, "auditor");
    int64_t deadline = tu_now_ms() + 20000;
    msgpack_object r;
    int ok = 0;
    while (!ok && tu_now_ms() < deadline) {
        tu_send(&probe, "{\"op\":\"ping\"}");
        ok = tu_recv(&probe, 200, &r) == 0;
    }
    tu_client_close(&probe);
    if (!ok)
        fail_msg("the hub did not answer over CURVE (log: %s)", f->hub.log);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tu_client_close(&f->police);
    tu_client_close(&f->idva);
    tu_client_close(&f->marac);
    tu_client_close(&f->channel);
    tu_client_close(&f->auditor);
    tu_client_close(&f->console);
    if (f->hub.pid > 0)
        assert_int_equal(tu_hub_stop(&f->hub), 0);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void ok(const msgpack_object *r)
{
    if (tu_bool(r, "ok") != 1)
        fail_msg("refused: %s", tu_dump(r));
}

static void refused(const msgpack_object *r, const char *code, const char *field)
{
    if (tu_bool(r, "ok") != 0 || strcmp(tu_str(r, "error.code"), code) ||
        strcmp(tu_str(r, "error.field"), field))
        fail_msg("want %s on %s, got %s", code, field, tu_dump(r));
}

static void test_who_sees_what(void **state)
{
    struct fx *f = *state;
    msgpack_object r = tu_call(&f->police, "{\"op\":\"publish\",\"event\":{\"id\":\"da-1\","
                                           "\"type\":\"da.incident\",\"occurred_at\":"
                                           "\"2025-05-01T22:00:00Z\",\"victim\":\"V-1\","
                                           "\"dash_score\":16}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    r = tu_call(&f->police, "{\"op\":\"publish\",\"event\":{\"id\":\"c-1\",\"type\":\"concern\","
                            "\"occurred_at\":\"2025-05-02T10:00:00Z\",\"subject\":\"C-1\","
                            "\"kind\":\"radicalisation\"}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    r = tu_call(&f->marac, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\"}");
    ok(&r);
    r = tu_call(&f->channel, "{\"op\":\"alert.update\",\"id\":2,\"status\":\"accepted\"}");
    ok(&r);
    /* Owners must be known: an agency or a person of the identity file. */
    r = tu_call(&f->marac, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-1\","
                           "\"what\":\"x\",\"owner\":\"housing\",\"due_days\":3}");
    refused(&r, "bad_request", "owner");
    r = tu_call(&f->marac, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-1\","
                           "\"what\":\"Safety visit\",\"owner\":\"police\",\"due_days\":3}");
    ok(&r);
    r = tu_call(&f->marac, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-1\","
                           "\"what\":\"Safety plan\",\"owner\":\"idva\",\"due_days\":3,"
                           "\"by\":\"someone-else\"}");
    refused(&r, "forbidden", "by");
    r = tu_call(&f->marac, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-1\","
                           "\"what\":\"Safety plan\",\"owner\":\"idva\",\"due_days\":3}");
    ok(&r);
    r = tu_call(&f->channel, "{\"op\":\"action.create\",\"panel\":\"channel\",\"key\":\"C-1\","
                             "\"what\":\"Intervention provider\",\"owner\":\"police\","
                             "\"due_days\":5}");
    ok(&r);
    assert_int_equal(tu_int(&r, "id"), 3);
    r = tu_call(&f->marac, "{\"op\":\"replay\",\"types\":[\"action.created\"]}");
    refused(&r, "forbidden", "op");

    /* A panel member: only their panels. */
    r = tu_call(&f->marac, "{\"op\":\"cases\",\"panel\":\"channel\"}");
    refused(&r, "forbidden", "panel");
    r = tu_call(&f->marac, "{\"op\":\"agenda\",\"panel\":\"channel\",\"meeting\":\"2025-06-04\"}");
    refused(&r, "forbidden", "panel");
    r = tu_call(&f->marac, "{\"op\":\"actions\",\"panel\":\"channel\"}");
    refused(&r, "forbidden", "panel");
    /* Another panel's action: whether it exists is not theirs to learn. */
    r = tu_call(&f->marac, "{\"op\":\"action.update\",\"id\":3,\"panel\":\"marac\","
                           "\"status\":\"done\"}");
    refused(&r, "not_found", "id");
    r = tu_call(&f->marac, "{\"op\":\"cases\",\"panel\":\"marac\"}");
    ok(&r);
    assert_int_equal(tu_get(&r, "cases")->via.array.size, 1);

    /* An agency: its own actions, every panel, a restricted one as existence. */
    r = tu_call(&f->police, "{\"op\":\"actions\"}");
    ok(&r);
    assert_int_equal(tu_get(&r, "actions")->via.array.size, 2);
    assert_int_equal(tu_int(&r, "actions.0.id"), 1);
    assert_string_equal(tu_str(&r, "actions.0.what"), "Safety visit");
    assert_int_equal(tu_int(&r, "actions.1.id"), 3);
    assert_string_equal(tu_str(&r, "actions.1.panel"), "channel");
    assert_null(tu_get(&r, "actions.1.what"));
    r = tu_call(&f->idva, "{\"op\":\"actions\"}");
    assert_int_equal(tu_get(&r, "actions")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "actions.0.owner"), "idva");
    r = tu_call(&f->idva, "{\"op\":\"actions\",\"owner\":\"police\"}");
    refused(&r, "forbidden", "owner");
    r = tu_call(&f->idva, "{\"op\":\"actions\",\"panel\":\"marac\"}");
    refused(&r, "bad_request", "panel");
    r = tu_call(&f->police, "{\"op\":\"cases\",\"panel\":\"marac\"}");
    assert_string_equal(tu_str(&r, "error.code"), "forbidden");
    r = tu_call(&f->police, "{\"op\":\"action.update\",\"id\":1,\"panel\":\"marac\","
                            "\"status\":\"done\"}");
    assert_string_equal(tu_str(&r, "error.code"), "forbidden");

    /* A restricted panel's own members see its agenda, without look-back
     * (the hub runs on the wall clock: a meeting a week ahead). */
    char next_week[16];
    time_t t = time(NULL) + 7 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(next_week, sizeof next_week, "%Y-%m-%d", &tm);
    r = tu_call(&f->channel, "{\"op\":\"agenda\",\"panel\":\"channel\",\"meeting\":\"%s\"}",
                next_week);
    ok(&r);
    assert_int_equal(tu_get(&r, "agenda.new_cases")->via.array.size, 1);
    assert_int_equal(tu_get(&r, "agenda.actions")->via.array.size, 1);
    assert_int_equal(tu_get(&r, "agenda.lookback")->via.array.size, 0);

    /* The auditor reads every panel; members' and the auditor's reads are audited. */
    r = tu_call(&f->auditor, "{\"op\":\"cases\",\"panel\":\"channel\"}");
    ok(&r);
    assert_int_equal(tu_get(&r, "cases")->via.array.size, 1);
    r = tu_call(&f->auditor, "{\"op\":\"replay\",\"types\":[\"audit.access\"]}");
    const msgpack_object *ev = tu_get(&r, "events");
    int cases_by_marac = 0, actions_by_police = 0;
    for (uint32_t i = 0; i < ev->via.array.size; i++) {
        const msgpack_object *e = tu_get(&ev->via.array.ptr[i], "event");
        const char *op = e ? tu_str(e, "op") : NULL, *who = e ? tu_str(e, "identity") : NULL;
        if (!op || !who)
            continue;
        cases_by_marac += !strcmp(op, "cases") && !strcmp(who, "marac-coord");
        actions_by_police += !strcmp(who, "police");
    }
    if (cases_by_marac < 1)
        fail_msg("no audit.access for marac-coord's cases: %s", tu_dump(&r));
    assert_int_equal(actions_by_police, 0); /* an agency's own actions: not a person read */
    /* The console acts for a person, within its own panels (PROTOCOL.md 8.1). */
    r = tu_call(&f->console, "{\"op\":\"case\",\"panel\":\"marac\",\"key\":\"V-1\",\"as\":\"ann\"}");
    ok(&r);
    assert_int_equal(tu_get(&r, "actions")->via.array.size, 2);
    r = tu_call(&f->console, "{\"op\":\"cases\",\"panel\":\"channel\",\"as\":\"ann\"}");
    refused(&r, "forbidden", "panel");
    r = tu_call(&f->console, "{\"op\":\"action.update\",\"id\":1,\"panel\":\"marac\","
                             "\"status\":\"done\",\"as\":\"ann\"}");
    ok(&r);
    /* The events name who did it: the identity, set by the hub. */
    r = tu_call(&f->auditor, "{\"op\":\"replay\",\"types\":[\"action.created\"]}");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 3);
    assert_string_equal(tu_str(&r, "events.0.event.by"), "marac-coord");
    assert_string_equal(tu_str(&r, "events.2.event.by"), "channel-coord");
    r = tu_call(&f->auditor, "{\"op\":\"replay\",\"types\":[\"action.updated\"]}");
    assert_string_equal(tu_str(&r, "events.0.event.by"), "ann");
    assert_string_equal(tu_str(&r, "events.0.event.gateway"), "console");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_who_sees_what, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
