#define _GNU_SOURCE
/* Panel queues, deadlines and re-derivation, against the hub running in
 * this process on a private loop, with the hub's clock in the test's hand:
 * time-based behaviour is tested by moving the clock, never by sleeping. */
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
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

static int setup(void **state)
{
    *state = tu_inproc_new("queues");
    return 0;
}

static int teardown(void **state)
{
    tu_inproc_free(*state);
    return 0;
}

static void test_alert_on_queue_with_evidence_and_deadline(void **state)
{
    struct tu_inproc *f = *state;
    tu_inproc_raise_case_review(f, "V-1042");
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\"}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "alerts.0.rule"), "asb-case-review.victim");
    assert_string_equal(tu_str(&r, "alerts.0.key.victim"), "V-1042");
    assert_string_equal(tu_str(&r, "alerts.0.reason"),
                        "3 ASB complaints by V-1042 between 2 Jan and 2 Mar 2025, each reported "
                        "within a month (threshold 3 in 183 days)");
    /* seq 1 is the hub's rules.loaded: the reports are seqs 2-4 */
    assert_int_equal(tu_int(&r, "alerts.0.evidence.0"), 2);
    assert_int_equal(tu_int(&r, "alerts.0.evidence.2"), 4);
    assert_string_equal(tu_str(&r, "alerts.0.status"), "open");
    assert_string_equal(tu_str(&r, "alerts.0.raised_at"), "2025-06-02T09:00:00.000Z");
    /* 10 working days from Mon 2 Jun 2025: Mon 16 Jun */
    assert_string_equal(tu_str(&r, "alerts.0.due_at"), "2025-06-16T09:00:00.000Z");
    assert_int_equal(strlen(tu_str(&r, "alerts.0.rule_version")), 32);
    r = tu_inproc_call(f, "{\"op\":\"stats\"}");
    assert_int_equal(tu_int(&r, "counters.alerts.asb-case-review"), 1);
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"nope\"}");
    assert_string_equal(tu_str(&r, "error.code"), "unknown_panel");
}

static void test_held_fetch_answered_by_new_alert(void **state)
{
    struct tu_inproc *f = *state;
    assert_int_equal(tu_send(&f->c, "{\"op\":\"fetch\",\"req\":\"w\",\"panel\":\"marac\","
                                    "\"consumer\":\"idva\",\"wait_ms\":30000}"),
                     0);
    msgpack_object r;
    /* Nothing yet: the fetch is held, not answered. */
    for (int i = 0; i < 20; i++)
        uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_int_not_equal(tu_recv(&f->c, 0, &r), 0);
    /* Another agency publishes a high-risk incident: the held fetch answers. */
    struct tu_client other;
    tu_client_open(&other, f->endpoint, ZMQ_DEALER);
    assert_int_equal(tu_send(&other, "{\"op\":\"publish\",\"req\":\"p\",\"event\":{\"id\":\"da-1\","
                                    "\"type\":\"da.incident\",\"source\":\"police\",\"occurred_"
                                    "at\":\"2025-05-01T22:00:00Z\",\"victim\":\"V-7\",\"dash_"
                                    "score\":16}}"),
                     0);
    assert_int_equal(tu_inproc_step_recv(f, 10000, &r), 0);
    assert_string_equal(tu_str(&r, "req"), "w");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
    assert_string_equal(tu_str(&r, "alerts.0.rule"), "marac.high-risk");
    assert_string_equal(tu_str(&r, "alerts.0.priority"), "high");
    /* the publisher got its acknowledgement too */
    int64_t deadline = tu_now_ms() + 10000;
    int got = -1;
    while (got != 0 && tu_now_ms() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        got = tu_recv(&other, 2, &r);
    }
    assert_int_equal(got, 0);
    assert_string_equal(tu_str(&r, "status"), "accepted");
    tu_client_close(&other);
}

static void test_fetch_ack_redelivery_and_cursor_across_restart(void **state)
{
    struct tu_inproc *f = *state;
    tu_inproc_raise_case_review(f, "V-1");
    tu_inproc_raise_case_review(f, "V-2");
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"fetch\",\"panel\":\"asb-case-review\",\"consumer\":\"a\"}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 2);
    /* not acknowledged: delivered again (at least once) */
    r = tu_inproc_call(f, "{\"op\":\"fetch\",\"panel\":\"asb-case-review\",\"consumer\":\"a\",\"max\":1}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    r = tu_inproc_call(f, "{\"op\":\"ack\",\"panel\":\"asb-case-review\",\"consumer\":\"a\",\"upto\":1}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    /* another consumer of the panel has its own cursor */
    r = tu_inproc_call(f, "{\"op\":\"fetch\",\"panel\":\"asb-case-review\",\"consumer\":\"b\"}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 2);
    /* the cursor survives a restart */
    tu_inproc_stop(f);
    tu_inproc_start(f);
    r = tu_inproc_call(f, "{\"op\":\"fetch\",\"panel\":\"asb-case-review\",\"consumer\":\"a\"}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 2);
    /* an ack never moves a cursor back; an ack of another panel's alert is not_found */
    r = tu_inproc_call(f, "{\"op\":\"ack\",\"panel\":\"asb-case-review\",\"consumer\":\"a\",\"upto\":2}");
    r = tu_inproc_call(f, "{\"op\":\"ack\",\"panel\":\"asb-case-review\",\"consumer\":\"a\",\"upto\":1}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_inproc_call(f, "{\"op\":\"fetch\",\"panel\":\"asb-case-review\",\"consumer\":\"a\"}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 0);
    r = tu_inproc_call(f, "{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"a\",\"upto\":2}");
    assert_string_equal(tu_str(&r, "error.code"), "not_found");
    r = tu_inproc_call(f, "{\"op\":\"fetch\",\"panel\":\"asb-case-review\"}");
    assert_string_equal(tu_str(&r, "error.code"), "bad_request");
    assert_string_equal(tu_str(&r, "error.field"), "consumer");
}

static void test_alert_update_is_logged_and_filters(void **state)
{
    struct tu_inproc *f = *state;
    tu_inproc_raise_case_review(f, "V-1");
    tu_inproc_raise_case_review(f, "V-2");
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":2,\"status\":\"declined\","
                               "\"note\":\"Below threshold after review\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    int64_t seq = tu_int(&r, "seq");
    assert_int_equal(seq, 8); /* after rules.loaded and 6 reports */
    r = tu_inproc_call(f, "{\"op\":\"replay\",\"after\":7}");
    assert_string_equal(tu_str(&r, "events.0.event.type"), "alert.status");
    assert_string_equal(tu_str(&r, "events.0.event.source"), "hub");
    assert_int_equal(tu_int(&r, "events.0.event.alert"), 2);
    assert_string_equal(tu_str(&r, "events.0.event.status"), "declined");
    assert_string_equal(tu_str(&r, "events.0.event.note"), "Below threshold after review");
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\",\"status\":\"open\"}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\",\"status\":\"declined\"}");
    assert_int_equal(tu_int(&r, "alerts.0.id"), 2);
    r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":99,\"status\":\"closed\"}");
    assert_string_equal(tu_str(&r, "error.code"), "not_found");
    r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"open\"}");
    assert_string_equal(tu_str(&r, "error.field"), "status");
    /* clients may not write the hub's own events */
    r = tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"x\",\"type\":\"alert.status\",\"source\":"
                "\"police\",\"occurred_at\":\"2025-01-01T00:00:00Z\",\"alert\":1,\"panel\":"
                "\"marac\",\"status\":\"closed\"}}");
    assert_string_equal(tu_str(&r, "error.code"), "forbidden");
}

static void test_overdue_after_deadline_and_restart(void **state)
{
    struct tu_inproc *f = *state;
    tu_inproc_raise_case_review(f, "V-9"); /* due Mon 16 Jun 2025 09:00 */
    /* the hub goes down before the deadline and comes back after it */
    tu_inproc_stop(f);
    hub_clock_set(&f->clock, tu_inproc_t0() + 20 * DAY);
    tu_inproc_start(f);
    msgpack_object r = tu_inproc_wait_for_type(f, "timer.fired");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    assert_int_equal(tu_int(&r, "events.0.event.alert"), 1);
    assert_string_equal(tu_str(&r, "events.0.event.due_at"), "2025-06-16T09:00:00.000Z");
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\"}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 2);
    assert_string_equal(tu_str(&r, "alerts.1.rule"), "overdue");
    assert_string_equal(tu_str(&r, "alerts.1.priority"), "medium"); /* one step up */
    /* a second restart does not fire it again */
    tu_inproc_stop(f);
    tu_inproc_start(f);
    r = tu_inproc_call(f, "{\"op\":\"replay\",\"types\":[\"timer.fired\"]}");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
}

static void test_decision_or_closed_case_stops_the_timer(void **state)
{
    struct tu_inproc *f = *state;
    tu_inproc_raise_case_review(f, "V-1");                     /* alert 1 */
    tu_inproc_raise_case_review(f, "V-2");                     /* alert 2 */
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"acknowledged\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"cu-1\",\"type\":\"case.update\",\"source\":"
                "\"council\",\"occurred_at\":\"2025-06-03T10:00:00Z\",\"subject\":\"V-2\","
                "\"panel\":\"asb-case-review\",\"status\":\"closed\"}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    tu_inproc_raise_case_review(f, "V-3"); /* alert 3: the only one left to fire */
    tu_inproc_set_clock(f, tu_inproc_t0() + 30 * DAY);
    r = tu_inproc_wait_for_type(f, "timer.fired");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    assert_int_equal(tu_int(&r, "events.0.event.alert"), 3);
}

/* A decision stops the timer; reopening runs it again under the due date
 * on record: an alert reopened past it is overdue at once, and escalates
 * as an open alert does. */
static void test_reopening_rearms_the_deadline(void **state)
{
    struct tu_inproc *f = *state;
    tu_inproc_raise_case_review(f, "V-1"); /* alert 1, due Mon 16 Jun 2025 09:00 */
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"closed\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    tu_inproc_set_clock(f, tu_inproc_t0() + 30 * DAY); /* past the due date: closed, nothing runs */
    r = tu_inproc_call(f, "{\"op\":\"replay\",\"types\":[\"timer.fired\"]}");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 0);
    r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"open\","
                "\"note\":\"Closed in error: the victim called again\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_inproc_wait_for_type(f, "timer.fired");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
    assert_int_equal(tu_int(&r, "events.0.event.alert"), 1);
    assert_string_equal(tu_str(&r, "events.0.event.due_at"), "2025-06-16T09:00:00.000Z");
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\"}");
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 2);
    assert_string_equal(tu_str(&r, "alerts.0.status"), "open");
    assert_string_equal(tu_str(&r, "alerts.1.rule"), "overdue");
    /* fired once: a restart does not fire it again */
    tu_inproc_stop(f);
    tu_inproc_start(f);
    r = tu_inproc_call(f, "{\"op\":\"replay\",\"types\":[\"timer.fired\"]}");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 1);
}

static void test_case_update_risk_retimes_deadline(void **state)
{
    struct tu_inproc *f = *state;
    for (int i = 0; i < 3; i++) {
        msgpack_object r = tu_inproc_call(f,
                                "{\"op\":\"publish\",\"event\":{\"id\":\"call-%d\",\"type\":\"call\","
                                "\"source\":\"police\",\"occurred_at\":\"2025-05-0%dT20:00:00Z\","
                                "\"caller\":\"C-5\",\"category\":\"asb\"}}",
                                i, i + 1);
        assert_string_equal(tu_str(&r, "status"), "accepted");
    }
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"community-marac\"}");
    assert_string_equal(tu_str(&r, "alerts.0.priority"), "medium");
    assert_string_equal(tu_str(&r, "alerts.0.due_at"), "2025-06-30T09:00:00.000Z"); /* 28 days */
    r = tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"cu-1\",\"type\":\"case.update\",\"source\":"
                "\"council\",\"occurred_at\":\"2025-06-02T10:00:00Z\",\"subject\":\"C-5\","
                "\"panel\":\"community-marac\",\"risk\":\"high\",\"status\":\"open\"}}");
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"community-marac\"}");
    assert_string_equal(tu_str(&r, "alerts.0.due_at"), "2025-06-16T09:00:00.000Z"); /* 14 days */
}

static void test_restricted_panel_shows_only_that_a_case_exists(void **state)
{
    struct tu_inproc *f = *state;
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"c-1\",\"type\":\"concern\","
                               "\"source\":\"school\",\"occurred_at\":\"2025-05-01T10:00:00Z\","
                               "\"subject\":\"Y-77\",\"kind\":\"radicalisation\","
                               "\"summary\":\"details that must not leave the panel\"}}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    r = tu_inproc_call(f, "{\"op\":\"fetch\",\"panel\":\"channel\",\"consumer\":\"chair\"}");
    assert_string_equal(tu_str(&r, "alerts.0.rule"), "channel.radicalisation");
    assert_string_equal(tu_str(&r, "alerts.0.key.subject"), "Y-77");
    assert_int_equal(tu_get(&r, "alerts.0.evidence")->via.array.size, 0);
    assert_null(strstr(tu_str(&r, "alerts.0.reason"), "Y-77"));
}

/* The index (idempotency entries and rule state, in DATA/index.mdb) is
 * derived from the log: rebuilt at start when it is missing, or when the
 * hub did not stop cleanly and the machine has restarted since (its pages
 * were never synced). Afterwards the same events are duplicates at their
 * old seqs, a half-filled window completes, and no alert is raised twice. */
/* A database of the test's own in DATA/index.mdb: put (put = 1), or
 * whether it is there. */
static int index_marker(struct tu_inproc *f, int put)
{
    char path[512];
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    snprintf(path, sizeof path, "%s/index.mdb", f->data);
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
    assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    int rc = mdb_dbi_open(txn, "test.marker", put ? MDB_CREATE : 0, &dbi);
    if (put)
        assert_int_equal(rc, 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    return rc == 0;
}

static void index_rebuild_case(struct tu_inproc *f, int how)
{
    tu_inproc_raise_case_review(f, "V-1");
    tu_inproc_asb(f, "V-9-asb-0", "V-9", "2025-05-01T10:00:00Z");
    tu_inproc_asb(f, "V-9-asb-1", "V-9", "2025-05-02T10:00:00Z"); /* two of three */
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"stats\"}");
    int64_t last = tu_int(&r, "counters.last_seq");
    assert_int_equal(last, 6); /* rules.loaded and 5 reports */
    tu_inproc_stop(f);
    char path[512];
    if (how == 0) { /* the index is gone (say, a backup of data.mdb alone) */
        snprintf(path, sizeof path, "%s/index.mdb", f->data);
        assert_int_equal(unlink(path), 0);
        snprintf(path, sizeof path, "%s/index.mdb-lock", f->data);
        unlink(path);
    } else if (how == 1) { /* not stopped cleanly, and since then another boot */
        snprintf(path, sizeof path, "%s/index.state", f->data);
        char text[256] = "";
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        size_t n = fread(text, 1, sizeof text - 1, fp);
        fclose(fp);
        text[n] = 0;
        assert_non_null(strstr(text, "clean 1")); /* the stop above was clean */
        fp = fopen(path, "w");
        assert_non_null(fp);
        fputs("boot another-boot\nclean 0\n", fp);
        fclose(fp);
        index_marker(f, 1); /* gone if the hub does not trust the file */
    } else { /* 2: behind the log: events 5 and 6 applied again, counted once all the same;
              * 3: written by an older hub (index version 2, whose idempotency entries
              * also held a content hash): rebuilt from the log at start */
        struct {
            uint32_t version, pad;
            uint64_t applied;
        } m;
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        MDB_val k = {5, (void *)"state"}, v;
        snprintf(path, sizeof path, "%s/index.mdb", f->data);
        assert_int_equal(mdb_env_create(&env), 0);
        assert_int_equal(mdb_env_set_maxdbs(env, 32), 0);
        assert_int_equal(mdb_env_open(env, path, MDB_NOSUBDIR, 0600), 0);
        assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
        assert_int_equal(mdb_dbi_open(txn, "index.meta", 0, &dbi), 0);
        assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
        assert_int_equal(v.mv_size, sizeof m);
        memcpy(&m, v.mv_data, sizeof m);
        assert_int_equal(m.applied, 6);
        if (how == 2)
            m.applied = 4;
        else
            m.version = 2;
        v.mv_data = &m;
        assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
        if (how == 3)
            index_marker(f, 1);
    }
    tu_inproc_start(f);
    if (how == 1 || how == 3) {
        tu_inproc_stop(f);
        assert_false(index_marker(f, 0));
        tu_inproc_start(f);
    }
    r = tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"V-1-asb-1\",\"type\":\"asb.report\","
                "\"source\":\"council\",\"occurred_at\":\"2025-02-02T21:14:00Z\",\"victim\":"
                "\"V-1\",\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"personal\"}}");
    assert_string_equal(tu_str(&r, "status"), "duplicate");
    assert_int_equal(tu_int(&r, "seq"), 3);
    tu_inproc_asb(f, "V-9-asb-2", "V-9", "2025-05-03T10:00:00Z"); /* completes V-9's window */
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\"}");
    const msgpack_object *a = tu_get(&r, "alerts");
    assert_int_equal(a->via.array.size, 2); /* V-1's, once, and V-9's */
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    assert_int_equal(tu_int(&r, "alerts.1.id"), 2);
    assert_string_equal(tu_str(&r, "alerts.1.key.victim"), "V-9");
    assert_int_equal(tu_get(&r, "alerts.1.evidence")->via.array.size, 3);
    assert_int_equal(tu_int(&r, "alerts.1.evidence.0"), 5);
    assert_int_equal(tu_int(&r, "alerts.1.evidence.2"), 7);
}

static void test_index_rebuilt_when_missing(void **state)
{
    index_rebuild_case(*state, 0);
}

static void test_index_rebuilt_after_unclean_stop_and_reboot(void **state)
{
    index_rebuild_case(*state, 1);
}

static void test_index_behind_the_log_caught_up(void **state)
{
    index_rebuild_case(*state, 2);
}

static void test_index_of_an_older_version_rebuilt(void **state)
{
    index_rebuild_case(*state, 3);
}

static void test_rederive_reproduces_every_alert(void **state)
{
    struct tu_inproc *f = *state;
    tu_inproc_raise_case_review(f, "V-1");
    tu_inproc_raise_case_review(f, "V-2");
    tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"da-1\",\"type\":\"da.incident\",\"source\":"
            "\"police\",\"occurred_at\":\"2025-05-01T22:00:00Z\",\"victim\":\"V-1\","
            "\"risk\":\"high\"}}");
    tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\"}");
    tu_inproc_set_clock(f, tu_inproc_t0() + 30 * DAY);
    tu_inproc_wait_for_type(f, "timer.fired"); /* alert 2's deadline: an overdue alert */
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"stats\"}");
    assert_int_equal(tu_int(&r, "counters.alerts.asb-case-review"), 3);

    struct hub_config cfg = f->cfg;
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s/fresh", f->dir);
    char *out = NULL;
    size_t outlen = 0;
    FILE *mem = open_memstream(&out, &outlen);
    int rc = hub_rederive(&cfg, f->data, mem);
    fclose(mem);
    if (rc != 0)
        fail_msg("re-derivation differs: %s", out);
    assert_non_null(strstr(out, "4 alerts in the hub, 4 re-derived, 4 identical"));
    free(out);
    /* into a directory that already holds a log: refused */
    mem = open_memstream(&out, &outlen);
    assert_int_equal(hub_rederive(&cfg, f->data, mem), 2);
    fclose(mem);
    free(out);
}

int main(void)
{
    tu_warm_up_libuv_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alert_on_queue_with_evidence_and_deadline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_held_fetch_answered_by_new_alert, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_ack_redelivery_and_cursor_across_restart, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_update_is_logged_and_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overdue_after_deadline_and_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopening_rearms_the_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decision_or_closed_case_stops_the_timer, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_case_update_risk_retimes_deadline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restricted_panel_shows_only_that_a_case_exists, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_index_rebuilt_when_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_of_an_older_version_rebuilt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_rebuilt_after_unclean_stop_and_reboot, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_index_behind_the_log_caught_up, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rederive_reproduces_every_alert, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
