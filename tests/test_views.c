#define _GNU_SOURCE
/* The coordinator's views over real sockets, against the hub running in
 * this process with its clock in the test's hand: the queue filtered and
 * paged on the hub (status, priority, rule, person, overdue), one alert
 * with its decisions, and the person view (the alerts keyed on a person
 * and their evidence, nothing else), with every bad input refused naming
 * its field. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#include <zmq.h>

#include "testutil.h"
#include "views.h"

#include "clock.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "timefmt.h"

#define DAY CSPH_MS_PER_DAY

struct fixture {
    char *dir;
    char data[200];
    char endpoint[256];
    struct hub_config cfg;
    struct hub_clock clock;
    uv_loop_t loop;
    struct hub_server *srv;
    struct tu_client c;
    int fds_before;
};

static int64_t t0(void)
{
    int64_t ms;
    csph_time_parse("2025-06-02T09:00:00Z", 20, &ms, NULL); /* a Monday */
    return ms;
}

static void start_hub(struct fixture *f)
{
    struct hub_error err;
    uv_loop_init(&f->loop);
    if (hub_server_new(&f->srv, &f->loop, &f->cfg, &f->clock, &err))
        fail_msg("hub did not start: %s", err.message);
    tu_client_open(&f->c, f->endpoint, ZMQ_DEALER);
}

static void stop_hub(struct fixture *f)
{
    tu_client_close(&f->c);
    hub_server_stop(f->srv);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* returns once every handle is closed */
    hub_server_destroy(&f->srv);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    f->fds_before = tu_open_fds();
    f->dir = tu_tmpdir("views");
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->endpoint, sizeof f->endpoint, "ipc://%s/hub.sock", f->dir);
    hub_config_defaults(&f->cfg);
    struct hub_error err;
    char path[600];
    snprintf(path, sizeof path, "%s/csphub.yaml",
             tu_env("CSPH_CONFIG_DIR", CSPH_SOURCE_DIR "/config"));
    assert_int_equal(hub_config_load(&f->cfg, path, &err), CSPH_ERR_OK);
    snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", f->data);
    snprintf(f->cfg.listen[0], sizeof f->cfg.listen[0], "%s", f->endpoint);
    f->cfg.nlisten = 1;
    f->cfg.log_level = CSPH_LOG_WARN;
    hub_log_min = CSPH_LOG_WARN;
    assert_int_equal(hub_config_load_panels(&f->cfg, &err), CSPH_ERR_OK);
    hub_clock_init_fixed(&f->clock, t0());
    start_hub(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (f->srv)
        stop_hub(f);
    tu_rmrf(f->dir);
    free(f->dir);
    assert_int_equal(tu_open_fds(), f->fds_before); /* nothing left open */
    free(f);
    return 0;
}

/* Step the hub's loop until the client has a reply (deadline 10 s). */
static int step_recv(struct fixture *f, int timeout_ms, msgpack_object *reply)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        if (tu_recv(&f->c, 2, reply) == 0)
            return 0;
    }
    return -1;
}

static msgpack_object call(struct fixture *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static msgpack_object call(struct fixture *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *json;
    if (vasprintf(&json, fmt, ap) < 0)
        abort();
    va_end(ap);
    assert_int_equal(tu_send(&f->c, "%s", json), 0);
    free(json);
    msgpack_object r;
    if (step_recv(f, 10000, &r) != 0)
        fail_msg("no reply from the hub within 10 s");
    return r;
}

static void asb(struct fixture *f, const char *id, const char *victim, const char *when)
{
    msgpack_object r = call(f,
                            "{\"op\":\"publish\",\"event\":{\"id\":\"%s\",\"type\":\"asb.report\","
                            "\"source\":\"council\",\"occurred_at\":\"%s\",\"victim\":\"%s\","
                            "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"personal\"}}",
                            id, when, victim);
    assert_string_equal(tu_str(&r, "status"), "accepted");
}

/* Three ASB reports by one victim: one asb-case-review alert, 10 working
 * days to act. */
static void raise_case_review(struct fixture *f, const char *victim)
{
    char id[64];
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "%s-asb-%d", victim, i);
        char when[32];
        snprintf(when, sizeof when, "2025-0%d-02T21:14:00Z", i + 1);
        asb(f, id, victim, when);
    }
}

static void set_clock(struct fixture *f, int64_t ms)
{
    hub_clock_set(&f->clock, ms);
    hub_server_clock_changed(f->srv);
}


static void expect_bad(struct fixture *f, const char *field, const char *json)
{
    msgpack_object r = call(f, "%s", json);
    if (tu_bool(&r, "ok") != 0 || strcmp(tu_str(&r, "error.code"), "bad_request") != 0 ||
        strcmp(tu_str(&r, "error.field"), field) != 0)
        fail_msg("%s: expected bad_request on %s, got %s", json, field, tu_dump(&r));
}

static void expect_ids(msgpack_object *r, const char *list, const int64_t *ids, size_t n)
{
    const msgpack_object *a = tu_get(r, list);
    if (!a || a->type != MSGPACK_OBJECT_ARRAY || a->via.array.size != n)
        fail_msg("expected %zu %s, got %s", n, list, tu_dump(r));
    for (size_t i = 0; i < n; i++) {
        char path[64];
        snprintf(path, sizeof path, "%s.%zu.id", list, i);
        if (tu_int(r, path) != ids[i])
            fail_msg("%s: expected id %lld, got %s", path, (long long)ids[i], tu_dump(r));
    }
}

#define Q "{\"op\":\"alerts\",\"panel\":\"asb-case-review\""

static void test_queue_filters_on_the_hub(void **state)
{
    struct fixture *f = *state;
    raise_case_review(f, "V-1");
    raise_case_review(f, "V-2");
    raise_case_review(f, "V-3");
    msgpack_object r = call(f, "{\"op\":\"alert.update\",\"id\":2,\"status\":\"accepted\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = call(f, Q "}");
    expect_ids(&r, "alerts", (int64_t[]){1, 2, 3}, 3);
    const char *prio = tu_str(&r, "alerts.0.priority");
    char json[256];
    snprintf(json, sizeof json, Q ",\"priority\":\"%s\"}", prio);
    r = call(f, "%s", json);
    expect_ids(&r, "alerts", (int64_t[]){1, 2, 3}, 3);
    r = call(f, Q ",\"priority\":\"%s\"}", strcmp(prio, "high") ? "high" : "standard");
    expect_ids(&r, "alerts", NULL, 0);
    assert_int_equal(tu_bool(&r, "end"), 1);
    r = call(f, Q ",\"status\":\"open\"}");
    expect_ids(&r, "alerts", (int64_t[]){1, 3}, 2);
    r = call(f, Q ",\"person\":\"V-3\"}");
    expect_ids(&r, "alerts", (int64_t[]){3}, 1);
    r = call(f, Q ",\"person\":\"V-\"}"); /* a whole value, not a prefix */
    expect_ids(&r, "alerts", NULL, 0);
    r = call(f, Q ",\"rule\":\"asb-case-review.victim\",\"status\":\"accepted\"}");
    expect_ids(&r, "alerts", (int64_t[]){2}, 1);
    r = call(f, Q ",\"rule\":\"asb-case-review\"}");
    expect_ids(&r, "alerts", NULL, 0);
    /* paged on the hub: max 1, then after next */
    r = call(f, Q ",\"status\":\"open\",\"max\":1}");
    expect_ids(&r, "alerts", (int64_t[]){1}, 1);
    assert_int_equal(tu_bool(&r, "end"), 0);
    r = call(f, Q ",\"status\":\"open\",\"max\":1,\"after\":%lld}", (long long)tu_int(&r, "next"));
    expect_ids(&r, "alerts", (int64_t[]){3}, 1);
    /* nothing is overdue before the deadline (Mon 16 Jun 2025) */
    r = call(f, Q ",\"overdue\":true}");
    expect_ids(&r, "alerts", NULL, 0);
    set_clock(f, t0() + 20 * DAY);
    /* the timers fire and escalate (rule overdue); the two open alerts are
     * overdue, the accepted one is not */
    int64_t deadline = tu_now_ms() + 10000;
    do {
        r = call(f, Q ",\"overdue\":true,\"rule\":\"asb-case-review.victim\"}");
    } while (tu_get(&r, "alerts")->via.array.size != 2 && tu_now_ms() < deadline);
    expect_ids(&r, "alerts", (int64_t[]){1, 3}, 2);
    r = call(f, Q ",\"overdue\":false,\"person\":\"V-2\"}");
    expect_ids(&r, "alerts", (int64_t[]){2}, 1);
    /* bad input, each naming its field */
    expect_bad(f, "priority", Q ",\"priority\":\"urgent\"}");
    expect_bad(f, "status", Q ",\"status\":\"done\"}");
    expect_bad(f, "person", Q ",\"person\":\"V 1\"}");
    expect_bad(f, "person", Q ",\"person\":\"<script>\"}");
    expect_bad(f, "overdue", Q ",\"overdue\":\"yes\"}");
    expect_bad(f, "rule", Q ",\"rule\":7}");
    expect_bad(f, "max", Q ",\"max\":0}");
}

static void test_one_alert_with_its_decisions(void **state)
{
    struct fixture *f = *state;
    raise_case_review(f, "V-7");
    msgpack_object r = call(f, "{\"op\":\"alert\",\"id\":1}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_int(&r, "alert.id"), 1);
    assert_string_equal(tu_str(&r, "alert.key.victim"), "V-7");
    assert_int_equal(tu_get(&r, "alert.evidence")->via.array.size, 3);
    assert_int_equal(tu_get(&r, "decisions")->via.array.size, 0);
    r = call(f, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"acknowledged\",\"by\":\"ann\"}");
    int64_t s1 = tu_int(&r, "seq");
    set_clock(f, t0() + DAY);
    r = call(f, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"declined\",\"by\":\"bob\","
                "\"note\":\"<i>below</i> threshold\"}");
    int64_t s2 = tu_int(&r, "seq");
    r = call(f, "{\"op\":\"alert\",\"id\":1}");
    assert_string_equal(tu_str(&r, "alert.status"), "declined");
    assert_int_equal(tu_get(&r, "decisions")->via.array.size, 2);
    assert_int_equal(tu_int(&r, "decisions.0.seq"), s1);
    assert_string_equal(tu_str(&r, "decisions.0.status"), "acknowledged");
    assert_string_equal(tu_str(&r, "decisions.0.by"), "ann");
    assert_string_equal(tu_str(&r, "decisions.0.at"), "2025-06-02T09:00:00.000Z");
    assert_null(tu_get(&r, "decisions.0.note"));
    assert_int_equal(tu_int(&r, "decisions.1.seq"), s2);
    assert_string_equal(tu_str(&r, "decisions.1.by"), "bob");
    assert_string_equal(tu_str(&r, "decisions.1.at"), "2025-06-03T09:00:00.000Z");
    assert_string_equal(tu_str(&r, "decisions.1.note"), "<i>below</i> threshold");
    r = call(f, "{\"op\":\"alert\",\"id\":99}");
    assert_string_equal(tu_str(&r, "error.code"), "not_found");
    assert_string_equal(tu_str(&r, "error.message"), "no alert with id 99");
    expect_bad(f, "id", "{\"op\":\"alert\"}");
    expect_bad(f, "id", "{\"op\":\"alert\",\"id\":\"1\"}");
    expect_bad(f, "panel", "{\"op\":\"alert\",\"id\":1,\"panel\":\"marac\"}");
}

static void test_person_view(void **state)
{
    struct fixture *f = *state;
    raise_case_review(f, "V-1"); /* seqs 2-4, alert 1 */
    raise_case_review(f, "V-2"); /* seqs 5-7, alert 2 */
    /* a fourth report of V-1 that is evidence of no alert */
    asb(f, "V-1-late", "V-1", "2025-05-20T10:00:00Z");
    msgpack_object r = call(f, "{\"op\":\"person\",\"ref\":\"V-1\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_string_equal(tu_str(&r, "ref"), "V-1");
    expect_ids(&r, "alerts", (int64_t[]){1}, 1);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 3);
    assert_int_equal(tu_int(&r, "events.0.seq"), 2);
    assert_int_equal(tu_int(&r, "events.2.seq"), 4);
    assert_string_equal(tu_str(&r, "events.0.event.victim"), "V-1");
    assert_int_equal(tu_bool(&r, "end"), 1);
    /* paged: max 2, then after next */
    r = call(f, "{\"op\":\"person\",\"ref\":\"V-1\",\"max\":2}");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 2);
    assert_int_equal(tu_bool(&r, "end"), 0);
    r = call(f, "{\"op\":\"person\",\"ref\":\"V-1\",\"max\":2,\"after\":%lld}",
              (long long)tu_int(&r, "next"));
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    assert_int_equal(tu_int(&r, "events.0.seq"), 4);
    assert_int_equal(tu_bool(&r, "end"), 1);
    /* a person with no alert: nothing, not even their events */
    r = call(f, "{\"op\":\"person\",\"ref\":\"V-9\"}");
    expect_ids(&r, "alerts", NULL, 0);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 0);
    /* the index survives a restart and is not built twice */
    stop_hub(f);
    start_hub(f);
    r = call(f, "{\"op\":\"person\",\"ref\":\"V-2\"}");
    expect_ids(&r, "alerts", (int64_t[]){2}, 1);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 3);
    expect_bad(f, "ref", "{\"op\":\"person\"}");
    expect_bad(f, "ref", "{\"op\":\"person\",\"ref\":\"../etc\\/passwd\"}");
    expect_bad(f, "max", "{\"op\":\"person\",\"ref\":\"V-1\",\"max\":10001}");
}

/* A person with more alerts than one reply lists (500): the alerts page on
 * (alerts_after, alerts_next, alerts_end) in id order across panels, and
 * the events are the evidence of every one of them, paged on their own. */
static void test_person_view_pages_alerts(void **state)
{
    struct fixture *f = *state;
    const int N = CSPH_VIEWS_PERSON_ALERTS_MAX + 7;
    char *json = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&json, &len);
    fputs("{\"op\":\"publish\",\"events\":[", m);
    for (int i = 0; i < N; i++)
        fprintf(m, "%s{\"id\":\"ref-%d\",\"type\":\"referral\",\"source\":\"council\","
                   "\"occurred_at\":\"2025-03-01T10:00:00Z\",\"subject\":\"P-MANY\","
                   "\"panel\":\"%s\",\"reason\":\"referral %d\"}",
                i ? "," : "", i, i % 2 ? "iom" : "mace", i);
    fputs("]}", m);
    fclose(m);
    msgpack_object r = call(f, "%s", json);
    free(json);
    assert_int_equal(tu_get(&r, "results")->via.array.size, N);
    assert_string_equal(tu_str(&r, "results.0.status"), "accepted");
    r = call(f, "{\"op\":\"person\",\"ref\":\"P-MANY\"}");
    const msgpack_object *alerts = tu_get(&r, "alerts");
    assert_int_equal(alerts->via.array.size, CSPH_VIEWS_PERSON_ALERTS_MAX);
    assert_int_equal(tu_bool(&r, "alerts_end"), 0);
    int64_t prev = 0;
    for (uint32_t i = 0; i < alerts->via.array.size; i++) {
        char path[32];
        snprintf(path, sizeof path, "alerts.%u.id", i);
        assert_true(tu_int(&r, path) > prev); /* id order, both panels mixed */
        prev = tu_int(&r, path);
    }
    assert_int_equal(tu_int(&r, "alerts_next"), prev);
    /* the events: every alert's evidence, not only this page's */
    assert_int_equal(tu_get(&r, "events")->via.array.size, N);
    assert_int_equal(tu_bool(&r, "end"), 1);
    r = call(f, "{\"op\":\"person\",\"ref\":\"P-MANY\",\"alerts_after\":%lld}",
             (long long)prev);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, N - CSPH_VIEWS_PERSON_ALERTS_MAX);
    assert_true(tu_int(&r, "alerts.0.id") > prev);
    assert_int_equal(tu_bool(&r, "alerts_end"), 1);
    /* past the last: none, and the end */
    r = call(f, "{\"op\":\"person\",\"ref\":\"P-MANY\",\"alerts_after\":%lld,\"max\":1}",
             (long long)tu_int(&r, "alerts_next"));
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 0);
    assert_int_equal(tu_bool(&r, "alerts_end"), 1);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    assert_int_equal(tu_bool(&r, "end"), 0);
    expect_bad(f, "alerts_after", "{\"op\":\"person\",\"ref\":\"P-MANY\",\"alerts_after\":-1}");
}

static void warm_up_libuv_signals(void)
{
    uv_loop_t loop;
    uv_signal_t sig;
    uv_loop_init(&loop);
    uv_signal_init(&loop, &sig);
    uv_close((uv_handle_t *)&sig, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

int main(void)
{
    warm_up_libuv_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_filters_on_the_hub, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_alert_with_its_decisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_person_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_person_view_pages_alerts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
