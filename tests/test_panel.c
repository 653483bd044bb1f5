#define _GNU_SOURCE
/* Panel work after the alert (issue 19), end to end against the hub
 * running in this process on a private loop over a real socket, with the
 * hub's clock in the test's hand: cases and outcomes, actions and their
 * escalation across a restart, reviews on a cadence by risk, a panel's
 * month of meetings and their agendas, re-derivation of all of it from
 * the log, and every bad input refused with the field it names. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include <zmq.h>

#include "testutil.h"
#include "testutil_inproc.h"

#include "clock.h"
#include "config.h"
#include "log.h"
#include "rederive.h"
#include "server.h"
#include "timefmt.h"

#define DAY CSPH_MS_PER_DAY

/* The fixture is testutil_inproc's: the hub in this process on its own
 * loop, its clock in the test's hand. */
static int setup(void **state)
{
    *state = tu_inproc_new("panel");
    return 0;
}

static int teardown(void **state)
{
    tu_inproc_free(*state);
    return 0;
}

static void ok(const msgpack_object *r)
{
    if (tu_bool(r, "ok") != 1)
        fail_msg("refused: %s", tu_dump(r));
}

/* A refusal with this code and field. */
static void refused(const msgpack_object *r, const char *code, const char *field)
{
    if (tu_bool(r, "ok") != 0)
        fail_msg("accepted, expected %s on %s: %s", code, field, tu_dump(r));
    assert_string_equal(tu_str(r, "error.code"), code);
    assert_string_equal(tu_str(r, "error.field"), field);
}

static uint32_t count_events(struct tu_inproc *f, const char *type)
{
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"replay\",\"types\":[\"%s\"]}", type);
    return tu_get(&r, "events")->via.array.size;
}

/* Step the loop until the log holds n events of type, or fail. */
static void wait_for_count(struct tu_inproc *f, const char *type, uint32_t n)
{
    int64_t deadline = tu_now_ms() + 10000;
    while (tu_now_ms() < deadline)
        if (count_events(f, type) >= n)
            return;
    fail_msg("fewer than %u %s events appeared within 10 s", n, type);
}

/* A high-risk domestic abuse incident: a marac.high-risk alert for victim,
 * accepted: the case opens. Returns the alert's id. */
static int64_t open_marac_case(struct tu_inproc *f, const char *victim, const char *id)
{
    msgpack_object r =
        tu_inproc_call(f,
                       "{\"op\":\"publish\",\"event\":{\"id\":\"%s\",\"type\":\"da.incident\","
                       "\"source\":\"police\",\"occurred_at\":\"2025-05-30T22:00:00Z\","
                       "\"victim\":\"%s\",\"risk\":\"high\"}}",
                       id, victim);
    assert_string_equal(tu_str(&r, "status"), "accepted");
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"marac\",\"person\":\"%s\"}", victim);
    uint32_t n = tu_get(&r, "alerts")->via.array.size;
    assert_true(n > 0);
    char path[32];
    snprintf(path, sizeof path, "alerts.%u.id", n - 1);
    int64_t alert = tu_int(&r, path);
    r = tu_inproc_call(
        f, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"accepted\",\"by\":\"coord\"}",
        (long long)alert);
    ok(&r);
    return alert;
}

static void test_case_opens_on_acceptance_and_closes_with_an_outcome(void **state)
{
    struct tu_inproc *f = *state;
    msgpack_object r =
        tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"da-1\",\"type\":"
                          "\"da.incident\",\"source\":\"police\",\"occurred_at\":"
                          "\"2025-05-30T22:00:00Z\",\"victim\":\"V-1\",\"risk\":\"high\"}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    /* An alert is not a case until the panel accepts it. */
    r = tu_inproc_call(f, "{\"op\":\"cases\",\"panel\":\"marac\"}");
    assert_int_equal(tu_get(&r, "cases")->via.array.size, 0);
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\"}");
    ok(&r);
    assert_int_equal(count_events(f, "case.opened"), 1);
    r = tu_inproc_call(f, "{\"op\":\"replay\",\"types\":[\"case.opened\"]}");
    assert_string_equal(tu_str(&r, "events.0.event.subject"), "V-1");
    assert_string_equal(tu_str(&r, "events.0.event.risk"), "high");
    r = tu_inproc_call(f, "{\"op\":\"cases\",\"panel\":\"marac\"}");
    assert_int_equal(tu_get(&r, "cases")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "cases.0.key"), "V-1");
    assert_string_equal(tu_str(&r, "cases.0.status"), "open");
    assert_string_equal(tu_str(&r, "cases.0.risk"), "high");
    assert_int_equal(tu_int(&r, "cases.0.alert"), 1);
    /* marac reviews high risk every 14 days */
    assert_string_equal(tu_str(&r, "cases.0.review_due"), "2025-06-16T09:00:00.000Z");
    /* A second accepted alert for the same person belongs to the open case. */
    open_marac_case(f, "V-1", "da-2");
    r = tu_inproc_call(f, "{\"op\":\"cases\",\"panel\":\"marac\",\"status\":\"all\"}");
    assert_int_equal(tu_get(&r, "cases")->via.array.size, 1);
    assert_int_equal(tu_int(&r, "cases.0.alert"), 1);
    assert_int_equal(count_events(f, "case.opened"), 1);

    /* Bad outcomes, over the wire and through the op: refused, nothing changed. */
    r = tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"cu-1\",\"type\":\"case.update\","
                          "\"source\":\"council\",\"occurred_at\":\"2025-06-02T08:00:00Z\","
                          "\"subject\":\"V-1\",\"panel\":\"marac\",\"status\":\"closed\","
                          "\"outcome\":\"vanished\"}}");
    refused(&r, "bad_event", "outcome");
    assert_non_null(strstr(tu_str(&r, "error.message"), "risk-reduced"));
    r = tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"cu-2\",\"type\":\"case.update\","
                          "\"source\":\"council\",\"occurred_at\":\"2025-06-02T08:00:00Z\","
                          "\"subject\":\"V-1\",\"panel\":\"marac\",\"status\":\"open\","
                          "\"outcome\":\"risk-reduced\"}}");
    refused(&r, "bad_event", "outcome");
    r = tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"cu-3\",\"type\":\"case.update\","
                          "\"source\":\"council\",\"occurred_at\":\"2025-06-02T08:00:00Z\","
                          "\"subject\":\"V-1\",\"panel\":\"marac\",\"status\":\"reviewed\","
                          "\"on_time\":true}}");
    refused(&r, "bad_event", "on_time");
    r = tu_inproc_call(
        f, "{\"op\":\"case.close\",\"panel\":\"marac\",\"key\":\"V-1\",\"outcome\":\"gone\"}");
    refused(&r, "bad_request", "outcome");
    r = tu_inproc_call(f, "{\"op\":\"case.close\",\"panel\":\"marac\",\"key\":\"V-404\","
                          "\"outcome\":\"risk-reduced\"}");
    refused(&r, "not_found", "key");
    r = tu_inproc_call(f, "{\"op\":\"case.close\",\"panel\":\"marac\",\"key\":\"not a key\","
                          "\"outcome\":\"risk-reduced\"}");
    refused(&r, "bad_request", "key");
    r = tu_inproc_call(f, "{\"op\":\"case\",\"panel\":\"marac\",\"key\":\"V-1\"}");
    assert_string_equal(tu_str(&r, "case.status"), "open");

    /* Closing the case records the outcome; its alert is not touched. */
    r = tu_inproc_call(f, "{\"op\":\"case.close\",\"panel\":\"marac\",\"key\":\"V-1\","
                          "\"outcome\":\"risk-reduced\",\"by\":\"ann\"}");
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"replay\",\"types\":[\"case.update\"]}");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "events.0.event.outcome"), "risk-reduced");
    assert_string_equal(tu_str(&r, "events.0.event.by"), "ann");
    assert_string_equal(tu_str(&r, "events.0.event.source"), "hub");
    r = tu_inproc_call(f, "{\"op\":\"case\",\"panel\":\"marac\",\"key\":\"V-1\"}");
    assert_string_equal(tu_str(&r, "case.status"), "closed");
    assert_string_equal(tu_str(&r, "case.outcome"), "risk-reduced");
    r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":1}");
    assert_string_equal(tu_str(&r, "alert.status"), "accepted");
    /* Nothing is recorded on a closed case. */
    r = tu_inproc_call(f, "{\"op\":\"case.review\",\"panel\":\"marac\",\"key\":\"V-1\"}");
    refused(&r, "conflict", "key");
    r = tu_inproc_call(
        f, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-1\",\"what\":\"visit\","
           "\"owner\":\"police\",\"due_days\":3}");
    refused(&r, "conflict", "key");
    r = tu_inproc_call(f, "{\"op\":\"cases\",\"panel\":\"marac\"}");
    assert_int_equal(tu_get(&r, "cases")->via.array.size, 0);
    r = tu_inproc_call(f, "{\"op\":\"cases\",\"panel\":\"marac\",\"status\":\"closed\"}");
    assert_int_equal(tu_get(&r, "cases")->via.array.size, 1);
    /* Clients may not write the hub's panel-work events. */
    r = tu_inproc_call(
        f, "{\"op\":\"publish\",\"event\":{\"id\":\"x\",\"type\":\"action.created\","
           "\"source\":\"police\",\"occurred_at\":\"2025-06-01T00:00:00Z\",\"action\":1,"
           "\"panel\":\"marac\",\"subject\":\"V-1\",\"what\":\"w\",\"owner\":\"police\","
           "\"owner_kind\":\"agency\",\"due_at\":\"2025-07-01T00:00:00Z\"}}");
    assert_string_equal(tu_str(&r, "error.code"), "forbidden");
    /* A new accepted alert after closure opens the case again. */
    open_marac_case(f, "V-1", "da-3");
    r = tu_inproc_call(f, "{\"op\":\"case\",\"panel\":\"marac\",\"key\":\"V-1\"}");
    assert_string_equal(tu_str(&r, "case.status"), "open");
    assert_null(tu_get(&r, "case.outcome"));
    assert_int_equal(count_events(f, "case.opened"), 2);
}

static void test_action_lifecycle_and_escalation_across_restart(void **state)
{
    struct tu_inproc *f = *state;
    open_marac_case(f, "V-2", "da-1");
    /* Bad input: each names its field; nothing is written. */
    uint32_t before = count_events(f, "action.created");
    msgpack_object r =
        tu_inproc_call(f, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-2\","
                          "\"what\":\"safety plan\",\"owner\":\"nobody\",\"due_days\":7}");
    refused(&r, "bad_request", "owner");
    r = tu_inproc_call(f, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-2\","
                          "\"what\":\"safety plan\",\"owner\":\"idva\",\"due\":\"2025-01-01\"}");
    refused(&r, "bad_request", "due");
    r = tu_inproc_call(f, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-2\","
                          "\"what\":\"safety plan\",\"owner\":\"idva\"}");
    refused(&r, "bad_request", "due_days");
    r = tu_inproc_call(
        f, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-2\","
           "\"what\":\"safety plan\",\"owner\":\"idva\",\"due_days\":3,\"due\":\"2025-09-01\"}");
    refused(&r, "bad_request", "due_days");
    r = tu_inproc_call(
        f, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-2\",\"what\":\"x\","
           "\"owner\":\"idva\",\"due_days\":3,\"alert\":999}");
    refused(&r, "not_found", "alert");
    assert_int_equal(count_events(f, "action.created"), before);

    r = tu_inproc_call(
        f, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-2\","
           "\"what\":\"Home visit and safety plan\",\"owner\":\"police\",\"due_days\":7,"
           "\"alert\":1}");
    ok(&r);
    assert_int_equal(tu_int(&r, "id"), 1);
    r = tu_inproc_call(f,
                       "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-2\","
                       "\"what\":\"Refer to IDVA\",\"owner\":\"housing\",\"due_working_days\":5}");
    ok(&r);
    assert_int_equal(tu_int(&r, "id"), 2);
    r = tu_inproc_call(f,
                       "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-2\","
                       "\"what\":\"Check school\",\"owner\":\"education\",\"due\":\"2025-06-20\"}");
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"actions\",\"panel\":\"marac\",\"key\":\"V-2\"}");
    assert_int_equal(tu_get(&r, "actions")->via.array.size, 3);
    assert_string_equal(tu_str(&r, "actions.0.due_at"), "2025-06-09T09:00:00.000Z");
    /* 5 working days from Monday 2 June: Monday 9 June */
    assert_string_equal(tu_str(&r, "actions.1.due_at"), "2025-06-09T09:00:00.000Z");
    /* by the end of 20 June, London time (BST) */
    assert_string_equal(tu_str(&r, "actions.2.due_at"), "2025-06-20T22:59:59.999Z");
    assert_string_equal(tu_str(&r, "actions.0.owner"), "police");
    assert_string_equal(tu_str(&r, "actions.0.owner_kind"), "agency");

    /* Updates: done, not done needs a reason, another panel's refused. */
    r = tu_inproc_call(
        f, "{\"op\":\"action.update\",\"id\":2,\"panel\":\"marac\",\"status\":\"done\"}");
    ok(&r);
    r = tu_inproc_call(
        f, "{\"op\":\"action.update\",\"id\":3,\"panel\":\"marac\",\"status\":\"not_done\"}");
    refused(&r, "bad_request", "reason");
    r = tu_inproc_call(f,
                       "{\"op\":\"action.update\",\"id\":3,\"panel\":\"sgv\",\"status\":\"done\"}");
    refused(&r, "bad_request", "panel");
    r = tu_inproc_call(
        f, "{\"op\":\"action.update\",\"id\":2,\"panel\":\"marac\",\"status\":\"done\"}");
    refused(&r, "conflict", "status");
    r = tu_inproc_call(
        f, "{\"op\":\"action.update\",\"id\":77,\"panel\":\"marac\",\"status\":\"done\"}");
    refused(&r, "not_found", "id");
    r = tu_inproc_call(
        f, "{\"op\":\"action.update\",\"id\":3,\"panel\":\"marac\",\"status\":\"retimed\"}");
    refused(&r, "bad_request", "due_days");
    r = tu_inproc_call(
        f, "{\"op\":\"action.update\",\"id\":3,\"panel\":\"marac\",\"status\":\"retimed\","
           "\"due\":\"2025-07-04\",\"reason\":\"school closed\"}");
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"actions\",\"panel\":\"marac\"}"); /* the incomplete ones */
    assert_int_equal(tu_get(&r, "actions")->via.array.size, 2);
    assert_string_equal(tu_str(&r, "actions.1.due_at"), "2025-07-04T22:59:59.999Z");
    assert_string_equal(tu_str(&r, "actions.1.reason"), "school closed");

    /* The hub goes down before action 1 is due and comes back after. */
    tu_inproc_stop(f);
    hub_clock_set(&f->clock, tu_inproc_t0() + 10 * DAY);
    tu_inproc_start(f);
    wait_for_count(f, "timer.fired", 1);
    r = tu_inproc_call(f, "{\"op\":\"replay\",\"types\":[\"timer.fired\"]}");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "events.0.event.timer"), "action");
    assert_int_equal(tu_int(&r, "events.0.event.action"), 1);
    assert_string_equal(tu_str(&r, "events.0.event.subject"), "V-2");
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"marac\",\"rule\":\"action.overdue\"}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "alerts.0.priority"), "high");
    assert_int_equal(tu_int(&r, "alerts.0.key.action"), 1);
    r = tu_inproc_call(f, "{\"op\":\"actions\",\"panel\":\"marac\",\"key\":\"V-2\"}");
    assert_int_equal(tu_bool(&r, "actions.0.escalated"), 1);
    assert_string_equal(tu_str(&r, "actions.1.status"), "done");
    assert_int_equal(tu_bool(&r, "actions.1.on_time"), 1);
    /* A second restart does not escalate it again. */
    tu_inproc_stop(f);
    tu_inproc_start(f);
    assert_int_equal(count_events(f, "timer.fired"), 1);
    /* Done late: recorded, not on time. */
    r = tu_inproc_call(
        f, "{\"op\":\"action.update\",\"id\":1,\"panel\":\"marac\",\"status\":\"done\"}");
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"actions\",\"panel\":\"marac\",\"key\":\"V-2\"}");
    assert_string_equal(tu_str(&r, "actions.0.status"), "done");
    assert_int_equal(tu_bool(&r, "actions.0.on_time"), 0);
    r = tu_inproc_call(f, "{\"op\":\"replay\",\"types\":[\"action.updated\"]}");
    assert_int_equal(tu_bool(&r, "events.0.event.on_time"), 1); /* action 2 */
    assert_int_equal(tu_bool(&r, "events.2.event.on_time"), 0); /* action 1, late */

    /* The report counts the actions themselves: of those due in June (1
     * and 2; 3 was re-timed to July), 2 done on time, 1 late: 50 %. In
     * July action 3 is still open, not yet due at the report's seq:
     * nothing. */
    r = tu_inproc_call(
        f, "{\"op\":\"report\",\"from\":\"2025-06\",\"to\":\"2025-07\",\"suppress\":false}");
    ok(&r);
    const msgpack_object *ind = tu_get(&r, "indicators");
    int seen = 0;
    for (uint32_t i = 0; i < ind->via.array.size; i++) {
        const msgpack_object *it = &ind->via.array.ptr[i];
        const char *name = tu_str(it, "name");
        if (!strcmp(name, "actions.on-time") || !strcmp(name, "marac.actions-on-time")) {
            assert_string_equal(tu_str(it, "unit"), "percent");
            assert_true(tu_get(it, "values.0")->via.f64 == 50.0);
            assert_int_equal(tu_get(it, "values.1")->type, MSGPACK_OBJECT_NIL);
            assert_true(tu_get(it, "total")->via.f64 == 50.0);
            seen++;
        } else if (!strcmp(name, "cases.opened")) {
            assert_int_equal(tu_int(it, "total"), 1);
            seen++;
        }
    }
    assert_int_equal(seen, 3);
    /* The drill-down lists the actions counted: their action.created. */
    r = tu_inproc_call(f, "{\"op\":\"report\",\"from\":\"2025-06\",\"to\":\"2025-06\","
                          "\"suppress\":false,\"explain\":\"marac.actions-on-time\","
                          "\"month\":\"2025-06\"}");
    ok(&r);
    assert_int_equal(tu_get(&r, "items")->via.array.size, 2);
    assert_string_equal(tu_str(&r, "items.0.type"), "action.created");
}

/* A report's value of indicator name in month b (-1: the total). */
static const msgpack_object *indicator_value(const msgpack_object *r, const char *name, int b)
{
    const msgpack_object *ind = tu_get(r, "indicators");
    for (uint32_t i = 0; i < ind->via.array.size; i++) {
        const msgpack_object *it = &ind->via.array.ptr[i];
        if (strcmp(tu_str(it, "name"), name))
            continue;
        char path[32];
        snprintf(path, sizeof path, "values.%d", b);
        return b < 0 ? tu_get(it, "total") : tu_get(it, path);
    }
    fail_msg("no indicator %s in the report", name);
    return NULL;
}

static uint32_t review_timers(struct tu_inproc *f)
{
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"replay\",\"types\":[\"timer.fired\"]}");
    uint32_t n = 0, all = tu_get(&r, "events")->via.array.size;
    for (uint32_t i = 0; i < all; i++) {
        char path[64];
        snprintf(path, sizeof path, "events.%u.event.timer", i);
        const char *t = tu_str(&r, path);
        n += t && !strcmp(t, "review");
    }
    return n;
}

/* Run the loop a while so that a timer due now would have fired. */
static void settle(struct tu_inproc *f)
{
    for (int i = 0; i < 50; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    (void)tu_inproc_call(f, "{\"op\":\"ping\"}");
}

static void test_review_cadence_retimed_by_risk_and_stopped_by_closure(void **state)
{
    struct tu_inproc *f = *state;
    open_marac_case(f, "V-3", "da-1"); /* high: reviewed every 14 days */
    /* A day later the risk drops to medium: the next review moves to 28 days from then. */
    tu_inproc_set_clock(f, tu_inproc_t0() + 1 * DAY);
    msgpack_object r =
        tu_inproc_call(f, "{\"op\":\"case.risk\",\"panel\":\"marac\",\"key\":\"V-3\","
                          "\"risk\":\"extreme\"}");
    refused(&r, "bad_request", "risk");
    r = tu_inproc_call(
        f, "{\"op\":\"case.risk\",\"panel\":\"marac\",\"key\":\"V-3\",\"risk\":\"medium\"}");
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"case\",\"panel\":\"marac\",\"key\":\"V-3\"}");
    assert_string_equal(tu_str(&r, "case.risk"), "medium");
    assert_string_equal(tu_str(&r, "case.review_due"), "2025-07-01T09:00:00.000Z");
    /* Day 20: the old 14-day review would have passed; nothing fires. */
    tu_inproc_set_clock(f, tu_inproc_t0() + 20 * DAY);
    settle(f);
    assert_int_equal(review_timers(f), 0);
    /* Day 30: the review falls due: one timer, one review.due alert. */
    tu_inproc_set_clock(f, tu_inproc_t0() + 30 * DAY);
    wait_for_count(f, "timer.fired", 1);
    assert_int_equal(review_timers(f), 1);
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"marac\",\"rule\":\"review.due\"}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "alerts.0.key.subject"), "V-3");
    assert_string_equal(tu_str(&r, "alerts.0.priority"), "medium");
    assert_string_equal(tu_str(&r, "alerts.0.status"), "open");
    int64_t review_alert = tu_int(&r, "alerts.0.id");
    r = tu_inproc_call(f, "{\"op\":\"case\",\"panel\":\"marac\",\"key\":\"V-3\"}");
    assert_int_equal(tu_bool(&r, "case.review_pending"), 1);
    /* At most one open per case: nothing more while it waits. */
    tu_inproc_set_clock(f, tu_inproc_t0() + 90 * DAY);
    settle(f);
    assert_int_equal(review_timers(f), 1);
    /* Recording the review closes the alert and sets the next one. */
    r = tu_inproc_call(f, "{\"op\":\"case.review\",\"panel\":\"marac\",\"key\":\"V-3\"}");
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":%lld}", (long long)review_alert);
    assert_string_equal(tu_str(&r, "alert.status"), "closed");
    r = tu_inproc_call(f, "{\"op\":\"case\",\"panel\":\"marac\",\"key\":\"V-3\"}");
    assert_int_equal(tu_bool(&r, "case.review_pending"), 0);
    assert_string_equal(tu_str(&r, "case.review_due"), "2025-09-28T09:00:00.000Z");
    /* An agency's case.update with a new risk moves it too. */
    r = tu_inproc_call(
        f, "{\"op\":\"publish\",\"event\":{\"id\":\"cu-1\",\"type\":\"case.update\","
           "\"source\":\"police\",\"occurred_at\":\"2025-08-31T08:00:00Z\","
           "\"subject\":\"V-3\",\"panel\":\"marac\",\"status\":\"open\",\"risk\":\"high\"}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    r = tu_inproc_call(f, "{\"op\":\"case\",\"panel\":\"marac\",\"key\":\"V-3\"}");
    assert_string_equal(tu_str(&r, "case.review_due"), "2025-09-14T09:00:00.000Z");
    /* A risk assessment's score sets the level: DASH 11 is medium on MARAC. */
    r = tu_inproc_call(
        f, "{\"op\":\"publish\",\"event\":{\"id\":\"ra-1\",\"type\":\"risk.assessment\","
           "\"source\":\"idva\",\"occurred_at\":\"2025-08-31T09:00:00Z\","
           "\"subject\":\"V-3\",\"panel\":\"marac\",\"tool\":\"dash\",\"score\":11}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    r = tu_inproc_call(f, "{\"op\":\"case\",\"panel\":\"marac\",\"key\":\"V-3\"}");
    assert_string_equal(tu_str(&r, "case.risk"), "medium");
    assert_string_equal(tu_str(&r, "case.review_due"), "2025-09-28T09:00:00.000Z");
    r = tu_inproc_call(
        f, "{\"op\":\"publish\",\"event\":{\"id\":\"ra-2\",\"type\":\"risk.assessment\","
           "\"source\":\"idva\",\"occurred_at\":\"2025-08-31T09:00:00Z\","
           "\"subject\":\"V-3\",\"panel\":\"marac\",\"tool\":\"safety-net\",\"score\":30}}");
    refused(&r, "bad_event", "tool");
    /* Closing the case stops the cadence. */
    r = tu_inproc_call(f, "{\"op\":\"case.close\",\"panel\":\"marac\",\"key\":\"V-3\","
                          "\"outcome\":\"moved-away\"}");
    ok(&r);
    tu_inproc_set_clock(f, tu_inproc_t0() + 400 * DAY);
    settle(f);
    assert_int_equal(review_timers(f), 1);

    /* The report counts the case itself (reportcase.h): the review that
     * fell due on 1 July was recorded on 31 August, late: July 0 %; the
     * case opened in June and closed (moved away) in August. */
    r = tu_inproc_call(f, "{\"op\":\"report\",\"from\":\"2025-06\",\"to\":\"2025-09\","
                          "\"suppress\":false}");
    ok(&r);
    assert_true(indicator_value(&r, "reviews.on-time", 1)->via.f64 == 0.0);
    assert_int_equal(indicator_value(&r, "reviews.on-time", 0)->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(indicator_value(&r, "cases.opened", 0)->via.i64, 1);
    assert_int_equal(indicator_value(&r, "cases.closed", 2)->via.i64, 1);
    assert_int_equal(indicator_value(&r, "cases.closed-risk-reduced", 2)->via.i64, 0);
    assert_true(indicator_value(&r, "cases.risk-reduced-rate", 2)->via.f64 == 0.0);
    /* A review recorded before it falls due is on time, in its month. */
    open_marac_case(f, "V-5", "da-9");
    r = tu_inproc_call(f, "{\"op\":\"case.review\",\"panel\":\"marac\",\"key\":\"V-5\"}");
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"report\",\"from\":\"2026-07\",\"to\":\"2026-07\","
                          "\"suppress\":false}");
    ok(&r);
    assert_true(indicator_value(&r, "reviews.on-time", 0)->via.f64 == 100.0);
    assert_int_equal(indicator_value(&r, "cases.opened", 0)->via.i64, 1);
}

/* A month of SGV meetings (the third Thursday: 19 June and 17 July 2025). */
static void test_a_month_of_meetings_and_their_agendas(void **state)
{
    struct tu_inproc *f = *state;
    /* A knife incident with a 17-year-old: an sgv.weapon alert, accepted. */
    msgpack_object r =
        tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"v-1\",\"type\":"
                          "\"violence.incident\",\"source\":\"police\",\"occurred_at\":"
                          "\"2025-05-29T20:00:00Z\",\"perpetrator\":\"Y-1\","
                          "\"perpetrator_age\":17,\"weapon\":\"knife\",\"injury\":\"minor\"}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    /* Youth violence of the weeks before the meeting (no alert: no weapon). */
    r = tu_inproc_call(
        f, "{\"op\":\"publish\",\"event\":{\"id\":\"v-2\",\"type\":\"violence.incident\","
           "\"source\":\"police\",\"occurred_at\":\"2025-06-10T20:00:00Z\","
           "\"victim\":\"Y-2\",\"victim_age\":15,\"weapon\":\"none\",\"injury\":\"minor\"}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    /* Not youth violence: adults only (30 and 41), and one naming no age. */
    r = tu_inproc_call(
        f, "{\"op\":\"publish\",\"event\":{\"id\":\"v-adult\",\"type\":\"violence.incident\","
           "\"source\":\"police\",\"occurred_at\":\"2025-06-11T20:00:00Z\",\"victim\":\"A-1\","
           "\"victim_age\":30,\"perpetrator\":\"A-2\",\"perpetrator_age\":41,"
           "\"weapon\":\"none\",\"injury\":\"minor\"}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    r = tu_inproc_call(
        f, "{\"op\":\"publish\",\"event\":{\"id\":\"v-noage\",\"type\":\"violence.incident\","
           "\"source\":\"police\",\"occurred_at\":\"2025-06-12T20:00:00Z\",\"victim\":\"A-3\","
           "\"weapon\":\"none\",\"injury\":\"minor\"}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    /* An adult victim of a 24-year-old: youth violence by the perpetrator's age. */
    r = tu_inproc_call(
        f, "{\"op\":\"publish\",\"event\":{\"id\":\"v-mixed\",\"type\":\"violence.incident\","
           "\"source\":\"police\",\"occurred_at\":\"2025-06-13T20:00:00Z\",\"victim\":\"A-4\","
           "\"victim_age\":52,\"perpetrator\":\"Y-4\",\"perpetrator_age\":24,"
           "\"weapon\":\"none\",\"injury\":\"minor\"}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    r = tu_inproc_call(
        f, "{\"op\":\"publish\",\"event\":{\"id\":\"v-old\",\"type\":\"violence.incident\","
           "\"source\":\"police\",\"occurred_at\":\"2025-04-01T20:00:00Z\","
           "\"victim\":\"Y-3\",\"victim_age\":19,\"weapon\":\"none\",\"injury\":\"minor\"}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"sgv\"}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
    int64_t alert = tu_int(&r, "alerts.0.id");
    r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"accepted\"}",
                       (long long)alert);
    ok(&r);
    r = tu_inproc_call(
        f, "{\"op\":\"action.create\",\"panel\":\"sgv\",\"key\":\"Y-1\","
           "\"what\":\"Youth worker visit\",\"owner\":\"youth-justice\",\"due_days\":10}");
    ok(&r);

    /* The agenda of the next meeting (no date: the calendar's). */
    r = tu_inproc_call(f, "{\"op\":\"agenda\",\"panel\":\"sgv\"}");
    ok(&r);
    assert_string_equal(tu_str(&r, "agenda.meeting"), "2025-06-19");
    assert_string_equal(tu_str(&r, "agenda.previous"), "2025-05-15");
    assert_int_equal(tu_get(&r, "agenda.accepted")->via.array.size, 1);
    assert_int_equal(tu_int(&r, "agenda.accepted.0.alert"), alert);
    assert_string_equal(tu_str(&r, "agenda.accepted.0.key"), "Y-1");
    assert_int_equal(tu_get(&r, "agenda.new_cases")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "agenda.new_cases.0.key"), "Y-1");
    assert_int_equal(tu_get(&r, "agenda.actions")->via.array.size, 1);
    assert_int_equal(tu_get(&r, "agenda.reviews_due")->via.array.size, 0);
    assert_int_equal(tu_get(&r, "agenda.anniversaries")->via.array.size, 0);
    /* the look-back: violence naming someone aged 10-25 (SGV's lookback.ages)
     * of the 28 days before 19 June (not 1 April; not the adults' nor the
     * one naming no age), with the ages recorded */
    assert_int_equal(tu_get(&r, "agenda.lookback")->via.array.size, 3);
    assert_string_equal(tu_str(&r, "agenda.lookback.0.occurred_at"), "2025-05-29T20:00:00.000Z");
    assert_int_equal(tu_int(&r, "agenda.lookback.0.ages.0"), 17);
    assert_string_equal(tu_str(&r, "agenda.lookback.1.occurred_at"), "2025-06-10T20:00:00.000Z");
    assert_string_equal(tu_str(&r, "agenda.lookback.2.occurred_at"), "2025-06-13T20:00:00.000Z");
    assert_int_equal(tu_get(&r, "agenda.lookback.2.ages")->via.array.size, 2);

    /* A hearing is recorded after the meeting, with attendance by agency. */
    r = tu_inproc_call(
        f, "{\"op\":\"case.hear\",\"panel\":\"sgv\",\"key\":\"Y-1\",\"meeting\":\"2025-06-19\","
           "\"attendance\":[\"police\",\"youth-justice\"]}");
    refused(&r, "bad_request", "meeting");
    tu_inproc_set_clock(f, tu_inproc_t0() + 17 * DAY); /* Thursday 19 June */
    r = tu_inproc_call(f, "{\"op\":\"agenda.issue\",\"panel\":\"sgv\",\"by\":\"sgv.coord\"}");
    ok(&r);
    assert_string_equal(tu_str(&r, "agenda.meeting"), "2025-06-19");
    r = tu_inproc_call(f, "{\"op\":\"case.hear\",\"panel\":\"sgv\",\"key\":\"Y-1\","
                          "\"attendance\":[\"police\",\"martians\"]}");
    refused(&r, "bad_request", "attendance.1");
    r = tu_inproc_call(f, "{\"op\":\"case.hear\",\"panel\":\"sgv\",\"key\":\"Y-1\","
                          "\"attendance\":[\"police\",\"youth-justice\",\"education\"],"
                          "\"minutes\":\"Agreed: youth worker to visit weekly\"}");
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"replay\",\"types\":[\"case.heard\",\"meeting.agenda\"]}");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 2);
    assert_string_equal(tu_str(&r, "events.0.event.type"), "meeting.agenda");
    assert_non_null(strstr(tu_str(&r, "events.0.event.agenda"), "\"Y-1\""));
    assert_string_equal(tu_str(&r, "events.1.event.meeting"), "2025-06-19");
    assert_string_equal(tu_str(&r, "events.1.event.attendance"), "police,youth-justice,education");
    r = tu_inproc_call(f, "{\"op\":\"case\",\"panel\":\"sgv\",\"key\":\"Y-1\"}");
    assert_string_equal(tu_str(&r, "case.last_heard"), "2025-06-19");

    /* The July meeting: Y-1 is no longer new; its action is still open. */
    r = tu_inproc_call(f, "{\"op\":\"agenda\",\"panel\":\"sgv\",\"meeting\":\"2025-07-17\"}");
    assert_string_equal(tu_str(&r, "agenda.previous"), "2025-06-19");
    assert_int_equal(tu_get(&r, "agenda.accepted")->via.array.size, 0);
    assert_int_equal(tu_get(&r, "agenda.new_cases")->via.array.size, 0);
    assert_int_equal(tu_get(&r, "agenda.actions")->via.array.size, 1);
    /* 19 June - 16 July: no youth violence then (10 June is before it) */
    assert_int_equal(tu_get(&r, "agenda.lookback")->via.array.size, 0);
    /* A year on: 12 months since its last hearing. */
    r = tu_inproc_call(f, "{\"op\":\"agenda\",\"panel\":\"sgv\",\"meeting\":\"2026-07-16\"}");
    assert_int_equal(tu_get(&r, "agenda.anniversaries")->via.array.size, 1);
    r = tu_inproc_call(f, "{\"op\":\"agenda\",\"panel\":\"sgv\",\"meeting\":\"2026-06-18\"}");
    assert_int_equal(tu_get(&r, "agenda.anniversaries")->via.array.size, 0);
    /* Bad dates; a panel meeting ad hoc needs one. */
    r = tu_inproc_call(f, "{\"op\":\"agenda\",\"panel\":\"sgv\",\"meeting\":\"2025-02-30\"}");
    refused(&r, "bad_request", "meeting");
    r = tu_inproc_call(f, "{\"op\":\"agenda\",\"panel\":\"asb-case-review\"}");
    refused(&r, "bad_request", "meeting");
    r = tu_inproc_call(f, "{\"op\":\"agenda\",\"panel\":\"nope\"}");
    refused(&r, "unknown_panel", "panel");
}

static void test_rederive_rebuilds_cases_actions_and_reviews(void **state)
{
    struct tu_inproc *f = *state;
    open_marac_case(f, "V-1", "da-1");
    open_marac_case(f, "V-2", "da-2");
    msgpack_object r =
        tu_inproc_call(f, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-1\","
                          "\"what\":\"visit\",\"owner\":\"police\",\"due_days\":2}");
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"V-2\","
                          "\"what\":\"plan\",\"owner\":\"idva\",\"due_days\":30}");
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"case.hear\",\"panel\":\"marac\",\"key\":\"V-2\","
                          "\"attendance\":[\"police\",\"idva\"]}");
    ok(&r);
    tu_inproc_set_clock(f,
                        tu_inproc_t0() + 15 * DAY); /* action 1 escalates; both reviews fall due */
    wait_for_count(f, "timer.fired", 3);
    r = tu_inproc_call(f, "{\"op\":\"case.review\",\"panel\":\"marac\",\"key\":\"V-2\"}");
    ok(&r);
    r = tu_inproc_call(
        f, "{\"op\":\"action.update\",\"id\":2,\"panel\":\"marac\",\"status\":\"not_done\","
           "\"reason\":\"declined\"}");
    ok(&r);
    r = tu_inproc_call(f, "{\"op\":\"case.close\",\"panel\":\"marac\",\"key\":\"V-1\","
                          "\"outcome\":\"referred-on\"}");
    ok(&r);
    /* An action outlives its case's closure: still reported done. */
    r = tu_inproc_call(
        f, "{\"op\":\"action.update\",\"id\":1,\"panel\":\"marac\",\"status\":\"done\"}");
    ok(&r);

    struct hub_config cfg = f->cfg;
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s/fresh", f->dir);
    char *out = NULL;
    size_t outlen = 0;
    FILE *mem = open_memstream(&out, &outlen);
    int rc = hub_rederive(&cfg, f->data, mem);
    fclose(mem);
    if (rc != 0)
        fail_msg("re-derivation differs: %s", out);
    assert_non_null(strstr(out, "cases and actions: 4 in the hub, 4 re-derived, 0 differ"));
    free(out);
}

/* libuv opens one signal pipe per process, on first use, for good. */
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
        cmocka_unit_test_setup_teardown(test_case_opens_on_acceptance_and_closes_with_an_outcome,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_action_lifecycle_and_escalation_across_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_review_cadence_retimed_by_risk_and_stopped_by_closure,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_month_of_meetings_and_their_agendas, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rederive_rebuilds_cases_actions_and_reviews, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
