/* decision: the workflow of alert.update, as a pure function and over real
 * sockets against the real daemon: the allowed moves, refusals naming the
 * current status, reopening with a note, a resend answered with the
 * original seq (after a restart too), `expect`, and `by` in the log. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "testutil.h"

#include "decision.h"

static struct hub_decision_request req(int status, int expect, const char *by, size_t note_len)
{
    struct hub_decision_request r = {.id = 7, .status = status, .expect = expect, .by = by,
                                     .by_len = strlen(by), .note_len = note_len};
    return r;
}

static void test_allowed_moves(void **state)
{
    (void)state;
    static const char *want[CSPH_ALERT__COUNT] = {
        [CSPH_ALERT_OPEN] = "ACD",      /* acknowledged, accepted, declined */
        [CSPH_ALERT_ACKNOWLEDGED] = "CD",
        [CSPH_ALERT_ACCEPTED] = "L",
        [CSPH_ALERT_DECLINED] = "L",
        [CSPH_ALERT_CLOSED] = "O",
    };
    const char letters[CSPH_ALERT__COUNT] = {'O', 'A', 'C', 'D', 'L'};
    for (int from = 0; from < CSPH_ALERT__COUNT; from++)
        for (int to = 0; to < CSPH_ALERT__COUNT; to++) {
            int expect = strchr(want[from], letters[to]) != NULL;
            if (hub_decision_allowed(from, to) != expect)
                fail_msg("%s -> %s: allowed %d", hub_alert_status_name(from),
                         hub_alert_status_name(to), !expect);
        }
}

static void test_check_refusals(void **state)
{
    (void)state;
    struct hub_error e;
    uint64_t seq;
    struct hub_decision_request r = req(CSPH_ALERT_CLOSED, -1, "ann", 0);
    assert_int_equal(hub_decision_check(CSPH_ALERT_OPEN, NULL, &r, &seq, &e), CSPH_ERR_CONFLICT);
    assert_string_equal(e.field, "status");
    assert_string_equal(e.message, "alert 7 is open: it can move to acknowledged, accepted or "
                                   "declined, not closed");
    struct hub_decision last = {.seq = 40, .status = CSPH_ALERT_ACCEPTED, .by = "bob"};
    r = req(CSPH_ALERT_DECLINED, -1, "ann", 0);
    assert_int_equal(hub_decision_check(CSPH_ALERT_ACCEPTED, &last, &r, &seq, &e),
                     CSPH_ERR_CONFLICT);
    assert_string_equal(e.message,
                        "alert 7 is accepted (by bob): it can move to closed, not declined");
    /* the same status by someone else: not a resend */
    r = req(CSPH_ALERT_ACCEPTED, -1, "ann", 0);
    assert_int_equal(hub_decision_check(CSPH_ALERT_ACCEPTED, &last, &r, &seq, &e),
                     CSPH_ERR_CONFLICT);
    assert_string_equal(e.message, "alert 7 is already accepted (by bob)");
    /* a resend by the same person, still carrying the expect it was sent with */
    r = req(CSPH_ALERT_ACCEPTED, CSPH_ALERT_OPEN, "bob", 0);
    assert_int_equal(hub_decision_check(CSPH_ALERT_ACCEPTED, &last, &r, &seq, &e), CSPH_ERR_OK);
    assert_int_equal(seq, 40);
    /* a concurrent change */
    r = req(CSPH_ALERT_CLOSED, CSPH_ALERT_DECLINED, "ann", 0);
    assert_int_equal(hub_decision_check(CSPH_ALERT_ACCEPTED, &last, &r, &seq, &e),
                     CSPH_ERR_CONFLICT);
    assert_string_equal(e.field, "expect");
    assert_string_equal(e.message, "alert 7 is accepted (by bob), not declined: someone changed "
                                   "it since it was read");
    /* reopening needs a note */
    r = req(CSPH_ALERT_OPEN, -1, "ann", 0);
    assert_int_equal(hub_decision_check(CSPH_ALERT_CLOSED, NULL, &r, &seq, &e),
                     CSPH_ERR_BAD_REQUEST);
    assert_string_equal(e.field, "note");
    r = req(CSPH_ALERT_OPEN, -1, "ann", 12);
    assert_int_equal(hub_decision_check(CSPH_ALERT_CLOSED, NULL, &r, &seq, &e), CSPH_ERR_OK);
    assert_int_equal(seq, 0);
    /* a decision recorded before the workflow (no record): a repeat is a conflict */
    r = req(CSPH_ALERT_ACCEPTED, -1, "", 0);
    assert_int_equal(hub_decision_check(CSPH_ALERT_ACCEPTED, NULL, &r, &seq, &e),
                     CSPH_ERR_CONFLICT);
}

/* ---- over real sockets --------------------------------------------------- */

struct fx {
    struct tu_hub hub;
    char *tmp;
    char data[600];
    struct tu_client c;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->tmp = tu_hub_fresh(&f->hub, "decision", f->data, sizeof f->data);
    assert_non_null(f->tmp);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tu_client_close(&f->c);
    assert_int_equal(tu_hub_stop(&f->hub), 0);
    tu_rmrf(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

/* Three ASB reports of one victim: an ASB Case Review alert on
 * asb-case-review. Returns its id. */
static int64_t raise_alert(struct fx *f, const char *victim)
{
    for (int i = 0; i < 3; i++) {
        msgpack_object r = tu_call(&f->c,
                                   "{\"op\":\"publish\",\"event\":{\"id\":\"%s-%d\",\"type\":"
                                   "\"asb.report\",\"source\":\"police\",\"occurred_at\":"
                                   "\"2025-03-0%dT21:14:00Z\",\"victim\":\"%s\",\"location\":"
                                   "{\"lsoa\":\"E01000916\"},\"category\":\"personal\"}}",
                                   victim, i, i + 1, victim);
        assert_string_equal(tu_str(&r, "status"), "accepted");
    }
    msgpack_object r = tu_call(&f->c, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\"}");
    const msgpack_object *a = tu_get(&r, "alerts");
    assert_non_null(a);
    assert_true(a->via.array.size > 0);
    char path[32];
    snprintf(path, sizeof path, "alerts.%u.id", a->via.array.size - 1);
    return tu_int(&r, path);
}

static void expect_refused(msgpack_object *r, const char *code, const char *field,
                           const char *message)
{
    if (tu_bool(r, "ok") != 0 || strcmp(tu_str(r, "error.code"), code) != 0 ||
        strcmp(tu_str(r, "error.field"), field) != 0 ||
        (message && strcmp(tu_str(r, "error.message"), message) != 0))
        fail_msg("expected %s on %s (%s), got %s", code, field, message ? message : "",
                 tu_dump(r));
}

static void test_workflow_over_the_wire(void **state)
{
    struct fx *f = *state;
    int64_t id = raise_alert(f, "V-31");
    char msg[256];
    /* open -> closed is not a move */
    msgpack_object r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"closed\","
                                      "\"by\":\"ann\"}", (long long)id);
    snprintf(msg, sizeof msg,
             "alert %lld is open: it can move to acknowledged, accepted or declined, not closed",
             (long long)id);
    expect_refused(&r, "conflict", "status", msg);
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"acknowledged\","
                       "\"by\":\"ann\",\"expect\":\"open\"}", (long long)id);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    int64_t ack_seq = tu_int(&r, "seq");
    /* the resend of that request (its reply lost): the same seq, nothing written */
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"acknowledged\","
                       "\"by\":\"ann\",\"expect\":\"open\"}", (long long)id);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_int(&r, "seq"), ack_seq);
    r = tu_call(&f->c, "{\"op\":\"ping\"}");
    assert_int_equal(tu_int(&r, "last_seq"), ack_seq);
    /* someone else acknowledging again: already acknowledged, by ann */
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"acknowledged\","
                       "\"by\":\"bob\"}", (long long)id);
    snprintf(msg, sizeof msg, "alert %lld is already acknowledged (by ann)", (long long)id);
    expect_refused(&r, "conflict", "status", msg);
    /* bob decides on what he saw as open: a concurrent change */
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"accepted\","
                       "\"by\":\"bob\",\"expect\":\"open\"}", (long long)id);
    snprintf(msg, sizeof msg,
             "alert %lld is acknowledged (by ann), not open: someone changed it since it was read",
             (long long)id);
    expect_refused(&r, "conflict", "expect", msg);
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"accepted\","
                       "\"by\":\"bob\",\"expect\":\"acknowledged\",\"note\":\"<b>MARAC</b>\"}",
                (long long)id);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    int64_t accept_seq = tu_int(&r, "seq");
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"acknowledged\"}",
                (long long)id);
    expect_refused(&r, "conflict", "status", NULL);
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"closed\","
                       "\"by\":\"bob\"}", (long long)id);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    /* reopening: only with a note */
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"open\","
                       "\"by\":\"ann\"}", (long long)id);
    snprintf(msg, sizeof msg, "reopening alert %lld needs a note saying why", (long long)id);
    expect_refused(&r, "bad_request", "note", msg);
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"open\","
                       "\"by\":\"ann\",\"note\":\"new incident\"}", (long long)id);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_call(&f->c, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\",\"status\":\"open\"}");
    assert_int_equal(tu_int(&r, "alerts.0.id"), id);
    /* bad input: each names its field */
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"done\"}", (long long)id);
    expect_refused(&r, "bad_request", "status", NULL);
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"closed\","
                       "\"expect\":\"maybe\"}", (long long)id);
    expect_refused(&r, "bad_request", "expect", NULL);
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"closed\","
                       "\"by\":\"a\\nb\"}", (long long)id);
    expect_refused(&r, "bad_request", "by", NULL);
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":999,\"status\":\"closed\"}");
    expect_refused(&r, "not_found", "id", "no alert with id 999");
    /* the log says who decided, and the note as written */
    r = tu_call(&f->c, "{\"op\":\"replay\",\"after\":%lld,\"types\":[\"alert.status\"]}",
                (long long)ack_seq - 1);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 4);
    assert_string_equal(tu_str(&r, "events.0.event.by"), "ann");
    assert_string_equal(tu_str(&r, "events.0.event.status"), "acknowledged");
    assert_int_equal(tu_int(&r, "events.1.seq"), accept_seq);
    assert_string_equal(tu_str(&r, "events.1.event.by"), "bob");
    assert_string_equal(tu_str(&r, "events.1.event.note"), "<b>MARAC</b>");
    assert_string_equal(tu_str(&r, "events.3.event.status"), "open");
    /* the resend still works after a restart: the record follows the log */
    assert_int_equal(tu_hub_stop(&f->hub), 0);
    tu_client_close(&f->c);
    assert_int_equal(tu_hub_restart(&f->hub, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":\"open\","
                       "\"by\":\"ann\",\"note\":\"new incident\"}", (long long)id);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    int64_t reopen_seq = tu_int(&r, "seq");
    r = tu_call(&f->c, "{\"op\":\"ping\"}");
    assert_int_equal(tu_int(&r, "last_seq"), reopen_seq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_allowed_moves),
        cmocka_unit_test(test_check_refusals),
        cmocka_unit_test_setup_teardown(test_workflow_over_the_wire, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
