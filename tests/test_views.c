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
#include "testutil_inproc.h"
#include "views.h"

#include "clock.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "timefmt.h"

#define DAY CSPH_MS_PER_DAY

static int setup(void **state)
{
    *state = tu_inproc_new("views");
    return 0;
}

static int teardown(void **state)
{
    tu_inproc_free(*state);
    return 0;
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
    struct tu_inproc *f = *state;
    tu_inproc_raise_case_review(f, "V-1");
    tu_inproc_raise_case_review(f, "V-2");
    tu_inproc_raise_case_review(f, "V-3");
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":2,\"status\":\"accepted\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_inproc_call(f, Q "}");
    expect_ids(&r, "alerts", (int64_t[]){1, 2, 3}, 3);
    const char *prio = tu_str(&r, "alerts.0.priority");
    char json[256];
    snprintf(json, sizeof json, Q ",\"priority\":\"%s\"}", prio);
    r = tu_inproc_call(f, "%s", json);
    expect_ids(&r, "alerts", (int64_t[]){1, 2, 3}, 3);
    r = tu_inproc_call(f, Q ",\"priority\":\"%s\"}", strcmp(prio, "high") ? "high" : "standard");
    expect_ids(&r, "alerts", NULL, 0);
    assert_int_equal(tu_bool(&r, "end"), 1);
    r = tu_inproc_call(f, Q ",\"status\":\"open\"}");
    expect_ids(&r, "alerts", (int64_t[]){1, 3}, 2);
    r = tu_inproc_call(f, Q ",\"person\":\"V-3\"}");
    expect_ids(&r, "alerts", (int64_t[]){3}, 1);
    r = tu_inproc_call(f, Q ",\"person\":\"V-\"}"); /* a whole value, not a prefix */
    expect_ids(&r, "alerts", NULL, 0);
    r = tu_inproc_call(f, Q ",\"rule\":\"asb-case-review.victim\",\"status\":\"accepted\"}");
    expect_ids(&r, "alerts", (int64_t[]){2}, 1);
    r = tu_inproc_call(f, Q ",\"rule\":\"asb-case-review\"}");
    expect_ids(&r, "alerts", NULL, 0);
    /* paged on the hub: max 1, then after next */
    r = tu_inproc_call(f, Q ",\"status\":\"open\",\"max\":1}");
    expect_ids(&r, "alerts", (int64_t[]){1}, 1);
    assert_int_equal(tu_bool(&r, "end"), 0);
    r = tu_inproc_call(f, Q ",\"status\":\"open\",\"max\":1,\"after\":%lld}", (long long)tu_int(&r, "next"));
    expect_ids(&r, "alerts", (int64_t[]){3}, 1);
    /* nothing is overdue before the deadline (Mon 16 Jun 2025) */
    r = tu_inproc_call(f, Q ",\"overdue\":true}");
    expect_ids(&r, "alerts", NULL, 0);
    tu_inproc_set_clock(f, tu_inproc_t0() + 20 * DAY);
    /* the timers fire and escalate (rule overdue); the two open alerts are
     * overdue, the accepted one is not */
    int64_t deadline = tu_now_ms() + 10000;
    do {
        r = tu_inproc_call(f, Q ",\"overdue\":true,\"rule\":\"asb-case-review.victim\"}");
    } while (tu_get(&r, "alerts")->via.array.size != 2 && tu_now_ms() < deadline);
    expect_ids(&r, "alerts", (int64_t[]){1, 3}, 2);
    r = tu_inproc_call(f, Q ",\"overdue\":false,\"person\":\"V-2\"}");
    expect_ids(&r, "alerts", (int64_t[]){2}, 1);
    /* bad input, each naming its field */
    tu_inproc_expect_bad(f, "priority", Q ",\"priority\":\"urgent\"}");
    tu_inproc_expect_bad(f, "status", Q ",\"status\":\"done\"}");
    tu_inproc_expect_bad(f, "person", Q ",\"person\":\"V 1\"}");
    tu_inproc_expect_bad(f, "person", Q ",\"person\":\"<script>\"}");
    tu_inproc_expect_bad(f, "overdue", Q ",\"overdue\":\"yes\"}");
    tu_inproc_expect_bad(f, "rule", Q ",\"rule\":7}");
    tu_inproc_expect_bad(f, "max", Q ",\"max\":0}");
}

static void test_one_alert_with_its_decisions(void **state)
{
    struct tu_inproc *f = *state;
    tu_inproc_raise_case_review(f, "V-7");
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":1}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_int(&r, "alert.id"), 1);
    assert_string_equal(tu_str(&r, "alert.key.victim"), "V-7");
    assert_int_equal(tu_get(&r, "alert.evidence")->via.array.size, 3);
    assert_int_equal(tu_get(&r, "decisions")->via.array.size, 0);
    r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"acknowledged\",\"by\":\"ann\"}");
    int64_t s1 = tu_int(&r, "seq");
    tu_inproc_set_clock(f, tu_inproc_t0() + DAY);
    r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"declined\",\"by\":\"bob\","
                "\"note\":\"<i>below</i> threshold\"}");
    int64_t s2 = tu_int(&r, "seq");
    r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":1}");
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
    r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":99}");
    assert_string_equal(tu_str(&r, "error.code"), "not_found");
    assert_string_equal(tu_str(&r, "error.message"), "no alert with id 99");
    tu_inproc_expect_bad(f, "id", "{\"op\":\"alert\"}");
    tu_inproc_expect_bad(f, "id", "{\"op\":\"alert\",\"id\":\"1\"}");
    tu_inproc_expect_bad(f, "panel", "{\"op\":\"alert\",\"id\":1,\"panel\":\"marac\"}");
}

static void test_person_view(void **state)
{
    struct tu_inproc *f = *state;
    tu_inproc_raise_case_review(f, "V-1"); /* seqs 2-4, alert 1 */
    tu_inproc_raise_case_review(f, "V-2"); /* seqs 5-7, alert 2 */
    /* a fourth report of V-1 that is evidence of no alert */
    tu_inproc_asb(f, "V-1-late", "V-1", "2025-05-20T10:00:00Z");
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"person\",\"ref\":\"V-1\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_string_equal(tu_str(&r, "ref"), "V-1");
    expect_ids(&r, "alerts", (int64_t[]){1}, 1);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 3);
    assert_int_equal(tu_int(&r, "events.0.seq"), 2);
    assert_int_equal(tu_int(&r, "events.2.seq"), 4);
    assert_string_equal(tu_str(&r, "events.0.event.victim"), "V-1");
    assert_int_equal(tu_bool(&r, "end"), 1);
    /* paged: max 2, then after next */
    r = tu_inproc_call(f, "{\"op\":\"person\",\"ref\":\"V-1\",\"max\":2}");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 2);
    assert_int_equal(tu_bool(&r, "end"), 0);
    r = tu_inproc_call(f, "{\"op\":\"person\",\"ref\":\"V-1\",\"max\":2,\"after\":%lld}",
              (long long)tu_int(&r, "next"));
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    assert_int_equal(tu_int(&r, "events.0.seq"), 4);
    assert_int_equal(tu_bool(&r, "end"), 1);
    /* a person with no alert: nothing, not even their events */
    r = tu_inproc_call(f, "{\"op\":\"person\",\"ref\":\"V-9\"}");
    expect_ids(&r, "alerts", NULL, 0);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 0);
    /* the index survives a restart and is not built twice */
    tu_inproc_stop(f);
    tu_inproc_start(f);
    r = tu_inproc_call(f, "{\"op\":\"person\",\"ref\":\"V-2\"}");
    expect_ids(&r, "alerts", (int64_t[]){2}, 1);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 3);
    tu_inproc_expect_bad(f, "ref", "{\"op\":\"person\"}");
    tu_inproc_expect_bad(f, "ref", "{\"op\":\"person\",\"ref\":\"../etc\\/passwd\"}");
    tu_inproc_expect_bad(f, "max", "{\"op\":\"person\",\"ref\":\"V-1\",\"max\":10001}");
}

/* A person with more alerts than one reply lists (500): the alerts page on
 * (alerts_after, alerts_next, alerts_end) in id order across panels, and
 * the events are the evidence of every one of them, paged on their own. */
static void test_person_view_pages_alerts(void **state)
{
    struct tu_inproc *f = *state;
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
    msgpack_object r = tu_inproc_call(f, "%s", json);
    free(json);
    assert_int_equal(tu_get(&r, "results")->via.array.size, N);
    assert_string_equal(tu_str(&r, "results.0.status"), "accepted");
    r = tu_inproc_call(f, "{\"op\":\"person\",\"ref\":\"P-MANY\"}");
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
    r = tu_inproc_call(f, "{\"op\":\"person\",\"ref\":\"P-MANY\",\"alerts_after\":%lld}",
             (long long)prev);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, N - CSPH_VIEWS_PERSON_ALERTS_MAX);
    assert_true(tu_int(&r, "alerts.0.id") > prev);
    assert_int_equal(tu_bool(&r, "alerts_end"), 1);
    /* past the last: none, and the end */
    r = tu_inproc_call(f, "{\"op\":\"person\",\"ref\":\"P-MANY\",\"alerts_after\":%lld,\"max\":1}",
             (long long)tu_int(&r, "alerts_next"));
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 0);
    assert_int_equal(tu_bool(&r, "alerts_end"), 1);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    assert_int_equal(tu_bool(&r, "end"), 0);
    tu_inproc_expect_bad(f, "alerts_after", "{\"op\":\"person\",\"ref\":\"P-MANY\",\"alerts_after\":-1}");
}

int main(void)
{
    tu_warm_up_libuv_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_queue_filters_on_the_hub, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_alert_with_its_decisions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_person_view, setup, teardown),
        cmocka_unit_test_setup_teardown(test_person_view_pages_alerts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
