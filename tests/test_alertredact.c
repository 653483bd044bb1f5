/* test_alertredact: alerts after an erasure (hub/alertredact.h, issue 17
 * points 3 and 4). Unit tests of the marker, of a reference named in text
 * and of an alert's pairs redacted; then end to end against the real
 * csphubd over TCP: a person erased with an alert keyed on them and one
 * naming them in its reason (a victim's alert naming the perpetrator);
 * both stay in their queue with status and decisions, key values and
 * reason redacted, over fetch, alerts and person, after a kill -9 (the
 * journal) and across a restart;
 * --rederive reports them kept and exits 0; what-if and a report name the
 * records they could not evaluate; after --compact no file of the data
 * directory holds the reference. */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "alertredact.h"
#include "testutil_inproc.h"

/* ---- unit ------------------------------------------------------------------ */

static void test_marker(void **state)
{
    (void)state;
    char m[CSPH_ALERT_MARKER_MAX];
    int n = hub_alert_marker(17, m);
    assert_string_equal(m, "[erased by seq 17]");
    assert_int_equal(hub_alert_marker_seq(m, (size_t)n), 17);
    assert_int_equal(hub_alert_marker_seq("[erased by seq ]", 16), 0);
    assert_int_equal(hub_alert_marker_seq("[erased by seq 1x]", 18), 0);
    assert_int_equal(hub_alert_marker_seq("P-9", 3), 0);
}

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
    msgpack_pack_str_with_body(pk, v, strlen(v));
}

/* A retention sweep's marker (sweepalerts.h): read back as either kind,
 * told apart, and found inside a case's name. */
static void test_expired_marker(void **state)
{
    (void)state;
    char m[CSPH_ALERT_MARKER_MAX];
    int n = hub_alert_expired_marker(42, m);
    assert_string_equal(m, "[expired by seq 42]");
    assert_int_equal(hub_alert_marker_seq(m, (size_t)n), 42);
    assert_true(hub_alert_marker_expired(m, (size_t)n));
    assert_false(hub_alert_marker_expired("[erased by seq 42]", 18));
    assert_int_equal(hub_alert_marker_seq("[expired by seq ]", 17), 0);
    assert_int_equal(hub_alert_marker_seq("[expired by seq 4", 17), 0);
    assert_string_equal(hub_alert_marker_in("1 marac [expired by seq 42]"), m);
    assert_string_equal(hub_alert_marker_in("1 marac [erased by seq 7]"), "[erased by seq 7]");
    assert_null(hub_alert_marker_in("1 marac [erased by seq x]"));
    assert_null(hub_alert_marker_in("1 marac P-9"));
}

static int collect_value(void *ctx, const char *v, size_t n)
{
    char *out = ctx;
    strncat(out, v, n);
    strcat(out, "|");
    return 0;
}

/* Every key value as text, the reason borrowed; with no person, every key
 * value and the reason become the marker. */
static void test_key_each_and_redact_all(void **state)
{
    (void)state;
    msgpack_sbuffer in, out;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &in, msgpack_sbuffer_write);
    msgpack_pack_str_with_body(&pk, "key", 3);
    msgpack_pack_map(&pk, 2);
    pack_kv_str(&pk, "victim", "V-1");
    msgpack_pack_str_with_body(&pk, "n", 1);
    msgpack_pack_uint64(&pk, 7);
    pack_kv_str(&pk, "reason", "V-1 again");
    char vals[64] = "";
    const char *reason = NULL;
    size_t rl = 0;
    assert_int_equal(hub_alert_key_each(in.data, in.size, 2, collect_value, vals, &reason, &rl), 0);
    assert_string_equal(vals, "V-1|7|");
    assert_int_equal(rl, 9);
    assert_memory_equal(reason, "V-1 again", 9);
    assert_int_equal(hub_alert_key_each(in.data, in.size - 3, 2, collect_value, vals, NULL, NULL),
                     -1);
    assert_int_equal(hub_alert_redact_pairs(in.data, in.size, 2, NULL, 0, "[expired by seq 5]",
                                            &out), 0);
    vals[0] = 0;
    assert_int_equal(hub_alert_key_each(out.data, out.size, 2, collect_value, vals, &reason, &rl),
                     0);
    assert_string_equal(vals, "[expired by seq 5]|[expired by seq 5]|");
    assert_memory_equal(reason, "[expired by seq 5]", rl);
    msgpack_sbuffer_destroy(&in);
    msgpack_sbuffer_destroy(&out);
}

static void test_names(void **state)
{
    (void)state;
    assert_true(hub_alert_names("victim P-9 on", 13, "P-9", 3));
    assert_true(hub_alert_names("P-9", 3, "P-9", 3));
    assert_true(hub_alert_names("V-1, P-9", 8, "P-9", 3));
    assert_false(hub_alert_names("P-90", 4, "P-9", 3));
    assert_false(hub_alert_names("XP-9", 4, "P-9", 3));
    assert_true(hub_alert_names("XP-9 and P-9.", 13, "P-9", 3)); /* a sentence's full stop */
    assert_true(hub_alert_names("P-9: seen", 9, "P-9", 3));
    assert_false(hub_alert_names("P-9.x", 5, "P-9", 3));
    assert_true(hub_alert_names("P-90 and P-9)", 13, "P-9", 3));
    assert_false(hub_alert_names("", 0, "P-9", 3));
}

static void test_redact_pairs(void **state)
{
    (void)state;
    msgpack_sbuffer in, out;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&out);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &in, msgpack_sbuffer_write);
    pack_kv_str(&pk, "rule", "r");
    msgpack_pack_str_with_body(&pk, "key", 3);
    msgpack_pack_map(&pk, 2);
    pack_kv_str(&pk, "victim", "V-1");
    pack_kv_str(&pk, "perpetrator", "P-9");
    pack_kv_str(&pk, "reason", "V-1 hurt by P-9");
    msgpack_pack_str_with_body(&pk, "evidence", 8);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, 3);
    msgpack_pack_uint64(&pk, 400);
    assert_int_equal(hub_alert_redact_pairs(in.data, in.size, 4, "P-9", 3,
                                            "[erased by seq 9]", &out), 0);
    /* read back as a map */
    msgpack_sbuffer m;
    msgpack_sbuffer_init(&m);
    msgpack_packer mp;
    msgpack_packer_init(&mp, &m, msgpack_sbuffer_write);
    msgpack_pack_map(&mp, 4);
    msgpack_sbuffer_write(&m, out.data, out.size);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, m.data, m.size, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_string_equal(tu_str(&u.data, "key.victim"), "V-1");
    assert_string_equal(tu_str(&u.data, "key.perpetrator"), "[erased by seq 9]");
    assert_string_equal(tu_str(&u.data, "reason"), "[erased by seq 9]");
    assert_string_equal(tu_str(&u.data, "rule"), "r");
    assert_int_equal(tu_int(&u.data, "evidence.1"), 400);
    assert_null(memmem(out.data, out.size, "P-9", 3));
    msgpack_unpacked_destroy(&u);
    /* the evidence, read in place */
    uint64_t set[] = {5, 400, 9000};
    assert_true(hub_alert_evidence_in(in.data, in.size, 4, set, 3));
    assert_true(hub_alert_evidence_in(out.data, out.size, 4, set + 1, 1));
    assert_false(hub_alert_evidence_in(in.data, in.size, 4, set, 1));
    assert_false(hub_alert_evidence_in(in.data, in.size, 4, set + 2, 1));
    assert_false(hub_alert_evidence_in(in.data, in.size, 4, set, 0));
    assert_false(hub_alert_evidence_in(in.data, in.size, 3, set, 3)); /* evidence not reached */
    assert_false(hub_alert_evidence_in(in.data, 7, 4, set, 3));     /* truncated */
    /* pairs that do not parse */
    msgpack_sbuffer_clear(&out);
    assert_int_equal(hub_alert_redact_pairs(in.data, 5, 4, "P-9", 3, "m", &out), -1);
    msgpack_sbuffer_destroy(&m);
    msgpack_sbuffer_destroy(&in);
    msgpack_sbuffer_destroy(&out);
}

/* ---- end to end ------------------------------------------------------------ */

struct fx {
    char *tmp;
    char data[600], config[600], rules[600];
    struct tu_hub hub;
    struct tu_client c;
    int client_open;
};

/* Two rules on one high-risk incident: the victim's alert, whose reason
 * names the perpetrator, and the perpetrator's own. */
static const char rules_yaml[] =
    "rules:\n"
    "  - name: marac.high-risk\n"
    "    panel: marac\n"
    "    when: da.incident\n"
    "    match: [\"risk = high\"]\n"
    "    key: victim\n"
    "    priority: high\n"
    "    reason: \"High-risk incident for victim {key} on {date}, perpetrator "
    "{field:perpetrator}\"\n"
    "  - name: marac.perpetrator\n"
    "    panel: marac\n"
    "    when: da.incident\n"
    "    match: [\"risk = high\"]\n"
    "    key: perpetrator\n"
    "    priority: medium\n"
    "    reason: \"Perpetrator {key} in a high-risk incident on {date}\"\n";

/* Incidents by type and time only (a redacted one counts), and the
 * perpetrators (a field the erasure removed: it cannot be evaluated). */
static const char indicators_yaml[] =
    "suppress_below: 5\n"
    "indicators:\n"
    "  - {name: incidents, measure: events, count: [{type: da.incident}]}\n"
    "  - name: perpetrators\n"
    "    measure: people\n"
    "    count: [{type: da.incident, person: perpetrator}]\n"
    "    at_least: 1\n"
    "    within_days: 365\n";

static void start(struct fx *f)
{
    assert_int_equal(tu_hub_start(&f->hub, f->data, "--config", f->config, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    f->client_open = 1;
}

static void stop(struct fx *f)
{
    tu_client_close(&f->c);
    f->client_open = 0;
    assert_int_equal(tu_hub_stop(&f->hub), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->tmp = tu_tmpdir("alertredact");
    snprintf(f->data, sizeof f->data, "%s/data", f->tmp);
    snprintf(f->config, sizeof f->config, "%s/hub.yaml", f->tmp);
    snprintf(f->rules, sizeof f->rules, "%s/rules.yaml", f->tmp);
    FILE *o = fopen(f->rules, "w");
    assert_non_null(o);
    fputs(rules_yaml, o);
    fclose(o);
    o = fopen(f->config, "w");
    assert_non_null(o);
    fprintf(o, "rules_file: %s\nindicators_file: %s/indicators.yaml\nagencies: [police]\n",
            f->rules, f->tmp);
    fclose(o);
    char ind[700];
    snprintf(ind, sizeof ind, "%s/indicators.yaml", f->tmp);
    o = fopen(ind, "w");
    assert_non_null(o);
    fputs(indicators_yaml, o);
    fclose(o);
    start(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    if (f->client_open)
        tu_client_close(&f->c);
    int rc = f->hub.pid > 0 ? tu_hub_stop(&f->hub) : 0;
    tu_rmrf(f->tmp);
    free(f->tmp);
    free(f);
    return rc == 0 ? 0 : -1;
}

#define INC(id, victim, perp, day)                                                          \
    "{\"id\":\"" id "\",\"type\":\"da.incident\",\"source\":\"police\",\"occurred_at\":"    \
    "\"2026-09-0" day "T21:14:00Z\",\"victim\":\"" victim "\",\"perpetrator\":\"" perp "\"," \
    "\"risk\":\"high\"}"


/* Alerts 1 (victim V-1, reason naming P-9) and 2 (keyed on P-9) as every
 * read shows them after the erasure (seq erasure). */
static void check_alerts(struct fx *f, int64_t erasure, int64_t e1)
{
    char marker[64];
    snprintf(marker, sizeof marker, "[erased by seq %lld]", (long long)erasure);
    msgpack_object r = tu_call(&f->c, "{\"op\":\"alerts\",\"panel\":\"marac\"}");
    if (tu_bool(&r, "ok") != 1)
        fail_msg("alerts: %s", tu_dump(&r));
    assert_null(strstr(tu_dump(&r), "P-9"));
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    assert_string_equal(tu_str(&r, "alerts.0.rule"), "marac.high-risk");
    assert_string_equal(tu_str(&r, "alerts.0.key.victim"), "V-1");
    assert_string_equal(tu_str(&r, "alerts.0.reason"), marker);
    assert_string_equal(tu_str(&r, "alerts.0.status"), "acknowledged");
    assert_string_equal(tu_str(&r, "alerts.0.priority"), "high");
    assert_int_equal(tu_int(&r, "alerts.0.evidence.0"), e1);
    assert_int_equal(tu_int(&r, "alerts.1.id"), 2);
    assert_string_equal(tu_str(&r, "alerts.1.key.perpetrator"), marker);
    assert_string_equal(tu_str(&r, "alerts.1.reason"), marker);
    assert_string_equal(tu_str(&r, "alerts.1.status"), "accepted");
    assert_int_equal(tu_int(&r, "alerts.1.evidence.0"), e1);
    assert_non_null(tu_str(&r, "alerts.1.raised_at"));
    /* the other victim's alerts as raised */
    assert_string_equal(tu_str(&r, "alerts.2.key.victim"), "V-2");
    assert_non_null(strstr(tu_str(&r, "alerts.2.reason"), "perpetrator Z-1"));
    assert_string_equal(tu_str(&r, "alerts.3.key.perpetrator"), "Z-1");
    /* their case and its action, under the marker */
    r = tu_call(&f->c, "{\"op\":\"cases\",\"panel\":\"marac\"}");
    assert_string_equal(tu_str(&r, "cases.0.key"), marker);
    assert_int_equal(tu_int(&r, "cases.0.alert"), 2);
    r = tu_call(&f->c, "{\"op\":\"actions\",\"panel\":\"marac\"}");
    assert_string_equal(tu_str(&r, "actions.0.key"), marker);
    assert_string_equal(tu_str(&r, "actions.0.what"), "visit");
    /* the agenda keeps what it says of others */
    r = tu_call(&f->c, "{\"op\":\"replay\",\"types\":[\"meeting.agenda\"]}");
    assert_non_null(strstr(tu_str(&r, "events.0.event.agenda"), "\"what\":\"visit\""));
    assert_non_null(strstr(tu_str(&r, "events.0.event.agenda"), "\"key\":\"[erased]\""));
    /* a filter on the person finds nothing of theirs any more */
    r = tu_call(&f->c, "{\"op\":\"alerts\",\"panel\":\"marac\",\"person\":\"P-9\"}");
    assert_null(tu_get(&r, "alerts.0"));
    /* one alert with its decisions */
    r = tu_call(&f->c, "{\"op\":\"alert\",\"id\":2}");
    assert_string_equal(tu_str(&r, "alert.reason"), marker);
    assert_string_equal(tu_str(&r, "decisions.0.status"), "accepted");
    /* the victim's page: their alert, its reason redacted */
    r = tu_call(&f->c, "{\"op\":\"person\",\"ref\":\"V-1\"}");
    assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    assert_string_equal(tu_str(&r, "alerts.0.reason"), marker);
    assert_null(strstr(tu_dump(&r), "P-9"));
    /* the perpetrator's: nothing */
    r = tu_call(&f->c, "{\"op\":\"person\",\"ref\":\"P-9\"}");
    assert_null(tu_get(&r, "alerts.0"));
    /* a consumer that never fetched: every alert, redacted */
    r = tu_call(&f->c, "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"c%lld\"}",
                (long long)erasure);
    assert_int_equal(tu_int(&r, "alerts.1.id"), 2);
    assert_string_equal(tu_str(&r, "alerts.1.key.perpetrator"), marker);
    assert_string_equal(tu_str(&r, "alerts.0.reason"), marker);
    assert_null(strstr(tu_dump(&r), "P-9"));
    /* the log: alert.* and case.* events hold nothing of theirs */
    r = tu_call(&f->c, "{\"op\":\"replay\",\"max\":100}");
    assert_null(strstr(tu_dump(&r), "P-9"));
}

static void test_alerts_after_erasure(void **state)
{
    struct fx *f = *state;
    msgpack_object r = tu_call(&f->c, "{\"op\":\"publish\",\"events\":[%s,%s]}",
                               INC("e1", "V-1", "P-9", "1"), INC("e2", "V-2", "Z-1", "2"));
    if (tu_bool(&r, "ok") != 1)
        fail_msg("publish: %s", tu_dump(&r));
    int64_t e1 = tu_int(&r, "results.0.seq");
    r = tu_call(&f->c, "{\"op\":\"alerts\",\"panel\":\"marac\"}");
    assert_non_null(strstr(tu_str(&r, "alerts.0.reason"), "perpetrator P-9"));
    assert_string_equal(tu_str(&r, "alerts.1.key.perpetrator"), "P-9");
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"acknowledged\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":2,\"status\":\"accepted\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    /* The case the acceptance opened, and an action on it */
    r = tu_call(&f->c, "{\"op\":\"action.create\",\"panel\":\"marac\",\"key\":\"P-9\","
                       "\"what\":\"visit\",\"owner\":\"police\",\"due_days\":3}");
    if (tu_bool(&r, "ok") != 1)
        fail_msg("action.create: %s", tu_dump(&r));
    /* An agenda issued: meeting.agenda holds the cases' keys (and, when it
     * lists them, alerts' keys and reasons) */
    r = tu_call(&f->c, "{\"op\":\"agenda.issue\",\"panel\":\"marac\",\"meeting\":"
                       "\"2026-12-10\"}");
    if (tu_bool(&r, "ok") != 1)
        fail_msg("agenda.issue: %s", tu_dump(&r));
    r = tu_call(&f->c, "{\"op\":\"replay\",\"types\":[\"meeting.agenda\"]}");
    assert_non_null(strstr(tu_str(&r, "events.0.event.agenda"), "P-9"));

    /* The dry run counts the alerts, and changes nothing. */
    char cmd[2000], out[16384];
    snprintf(cmd, sizeof cmd, "%s --hub %s erase --person P-9 --reason 'DPO case 11' 2>&1",
             tu_env("CSPH_CLI", "csphub"), f->hub.endpoint);
    int rc = tu_run_cmd(out, sizeof out, cmd);
    if (rc != 0 || !strstr(out, "2 alerts keyed on the person or naming them: would stay"))
        fail_msg("erase dry run: %d %s", rc, out);
    /* A restriction's dry run says what other roles would read of them. */
    snprintf(cmd, sizeof cmd,
             "%s --hub %s erase --person P-9 --reason 'DPO case 11' --restrict 2>&1",
             tu_env("CSPH_CLI", "csphub"), f->hub.endpoint);
    rc = tu_run_cmd(out, sizeof out, cmd);
    if (rc != 0 || !strstr(out, "2 alerts keyed on the person or naming them: would stay") ||
        !strstr(out, "would read the key values naming them and their reason as "
                     "\"[restricted by seq N]\""))
        fail_msg("restriction dry run: %d %s", rc, out);
    r = tu_call(&f->c, "{\"op\":\"alerts\",\"panel\":\"marac\"}");
    assert_string_equal(tu_str(&r, "alerts.1.key.perpetrator"), "P-9");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"DPO case 11\","
                       "\"requested_by\":\"dpo-jane\",\"apply\":true}");
    if (tu_bool(&r, "ok") != 1 || tu_int(&r, "alerts") != 2)
        fail_msg("erase: %s", tu_dump(&r));
    int64_t erasure = tu_int(&r, "erasures.0");
    check_alerts(f, erasure, e1);
    /* Killed once acknowledged: the journal makes every redaction again. */
    tu_client_close(&f->c);
    f->client_open = 0;
    tu_hub_kill9(&f->hub);
    start(f);
    check_alerts(f, erasure, e1);

    /* The queue goes on: a later alert gets the next id. */
    r = tu_call(&f->c, "{\"op\":\"publish\",\"event\":" INC("e3", "V-3", "Z-2", "3") "}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_call(&f->c, "{\"op\":\"alerts\",\"panel\":\"marac\",\"after\":4}");
    assert_int_equal(tu_int(&r, "alerts.0.id"), 5);
    assert_string_equal(tu_str(&r, "alerts.0.key.victim"), "V-3");

    /* Across a restart. */
    stop(f);
    start(f);
    check_alerts(f, erasure, e1);

    /* The victim's subject access export: their alert, its reason the
     * marker, nothing of the perpetrator. */
    char sar[800], *pack;
    size_t plen;
    snprintf(sar, sizeof sar, "%s/sar-v1", f->tmp);
    snprintf(cmd, sizeof cmd, "%s --hub %s sar --person V-1 --reason 'SAR 4' --out %s 2>&1",
             tu_env("CSPH_CLI", "csphub"), f->hub.endpoint, sar);
    rc = tu_run_cmd(out, sizeof out, cmd);
    if (rc != 0)
        fail_msg("sar: %d %s", rc, out);
    snprintf(sar + strlen(sar), sizeof sar - strlen(sar), "/review.json");
    pack = tu_slurp(sar, &plen);
    assert_non_null(pack);
    char marker[64];
    snprintf(marker, sizeof marker, "[erased by seq %lld]", (long long)erasure);
    if (!strstr(pack, marker) || strstr(pack, "P-9"))
        fail_msg("the SAR of V-1: %s", pack);
    free(pack);

    /* The report counts the redacted incident by type and time, and says
     * it could not tell whose perpetrator it was. */
    snprintf(cmd, sizeof cmd, "%s --hub %s report --from 2026-09 --to 2026-09 --unsuppressed "
             "2>&1", tu_env("CSPH_CLI", "csphub"), f->hub.endpoint);
    rc = tu_run_cmd(out, sizeof out, cmd);
    if (rc != 0 || !strstr(out, "perpetrators                       1 redacted records could "
                                "not be evaluated") ||
        strstr(out, "incidents                          1 redacted"))
        fail_msg("report: %d %s", rc, out);
    r = tu_call(&f->c, "{\"op\":\"report\",\"from\":\"2026-09\",\"to\":\"2026-09\","
                       "\"suppress\":false}");
    if (tu_int(&r, "indicators.0.total") != 3 || tu_get(&r, "indicators.0.redacted_not_evaluated") ||
        tu_int(&r, "indicators.1.redacted_not_evaluated") != 1 ||
        tu_int(&r, "indicators.1.total") != 2)
        fail_msg("report op: %s", tu_dump(&r));
    stop(f);

    /* What-if with the same rules: the redacted incident named per rule;
     * the two kept alerts are not the candidate's to raise (exit 0). */
    rc = tu_hub_run_ms(out, sizeof out, 60000, "--what-if", f->rules, "--data", f->data,
                       "--config", f->config, NULL);
    if (rc != 0 || !strstr(out, "4 redacted records could not be evaluated") ||
        !strstr(out, "2 of the hub's alerts rest on redacted records") ||
        !strstr(out, "marac.perpetrator                        1 redacted records could not be "
                     "evaluated"))
        fail_msg("what-if: %d %s", rc, out);
    rc = tu_hub_run_ms(out, sizeof out, 60000, "--what-if", f->rules, "--data", f->data,
                       "--config", f->config, "--json", NULL);
    if (rc != 0 || !strstr(out, "\"not_evaluated\": 4") ||
        !strstr(out, "\"kept_alerts\": 2") ||
        !strstr(out, "\"marac.high-risk\": 1"))
        fail_msg("what-if --json: %d %s", rc, out);

    /* Re-derivation: the two kept, every other alert exact, exit 0. */
    char fresh[700];
    snprintf(fresh, sizeof fresh, "%s/fresh", f->tmp);
    rc = tu_hub_run_ms(out, sizeof out, 60000, "--rederive", f->data, "--data", fresh,
                           "--config", f->config, NULL);
    char want[128];
    snprintf(want, sizeof want, "alert 2 kept, evidence erased by erasure seq %lld",
             (long long)erasure);
    if (rc != 0 || !strstr(out, want) || !strstr(out, "alert 1 kept") ||
        !strstr(out, "6 alerts in the hub, 6 re-derived, 4 identical") ||
        !strstr(out, "2 alerts kept, evidence erased"))
        fail_msg("rederive: %d %s", rc, out);

    /* After --compact, no file of the directory holds the reference. */
    rc = tu_hub_run_ms(out, sizeof out, 60000, "--compact", "--data", f->data, NULL);
    if (rc != 0)
        fail_msg("compact: %d %s", rc, out);
    const char *hit = tu_byte_search(f->data, "P-9");
    if (hit) {
        char dump[8192];
        snprintf(cmd, sizeof cmd, "mdb_dump -a -p %s 2>&1 | grep -n -e database= -e P-9 | head -80", f->data);
        tu_run_cmd(dump, sizeof dump, cmd);
        fail_msg("P-9 is still in %s after --compact:\n%s", hit, dump);
    }
    rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    if (rc != 0 || !strstr(out, "intact"))
        fail_msg("verify: %d %s", rc, out);
    start(f);
    check_alerts(f, erasure, e1);
}

/* A deadline that passed: its timer.fired carries the alert's key (kind
 * key: the erasure takes it out) and the overdue alert's reason names the
 * victim (redacted), while its own key, the alert's number, stays. */
static void test_timer_after_erasure(void **state)
{
    (void)state;
    tu_warm_up_libuv_signals();
    struct tu_inproc *f = tu_inproc_new("alertredact-timer");
    tu_inproc_raise_case_review(f, "V-9");
    tu_inproc_set_clock(f, tu_inproc_t0() + 30 * 86400000LL);
    msgpack_object r = tu_inproc_wait_for_type(f, "timer.fired");
    assert_string_equal(tu_str(&r, "events.0.event.key"), "V-9");
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\"}");
    assert_string_equal(tu_str(&r, "alerts.1.rule"), "overdue");
    assert_non_null(strstr(tu_str(&r, "alerts.1.reason"), "V-9"));
    r = tu_inproc_call(f, "{\"op\":\"erase\",\"person\":\"V-9\",\"reason\":\"DPO case "
                          "12\",\"requested_by\":\"dpo-jane\",\"apply\":true}");
    if (tu_bool(&r, "ok") != 1)
        fail_msg("erase: %s", tu_dump(&r));
    assert_int_equal(tu_int(&r, "count"), 4); /* three reports and the timer */
    char marker[64];
    snprintf(marker, sizeof marker, "[erased by seq %lld]", (long long)tu_int(&r, "erasures.0"));
    for (int pass = 0; pass < 2; pass++) {
        r = tu_inproc_call(f, "{\"op\":\"replay\",\"max\":100}");
        if (strstr(tu_dump(&r), "V-9"))
            fail_msg("the log still names V-9: %s", tu_dump(&r));
        r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\"}");
        assert_null(strstr(tu_dump(&r), "V-9"));
        assert_string_equal(tu_str(&r, "alerts.0.key.victim"), marker);
        assert_string_equal(tu_str(&r, "alerts.0.reason"), marker);
        assert_non_null(tu_str(&r, "alerts.0.due_at"));
        assert_int_equal(tu_int(&r, "alerts.1.key.alert"), 1);
        assert_string_equal(tu_str(&r, "alerts.1.reason"), marker);
        assert_string_equal(tu_str(&r, "alerts.1.rule"), "overdue");
        tu_inproc_stop(f); /* and across a restart */
        tu_inproc_start(f);
    }
    tu_inproc_free(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_marker),
        cmocka_unit_test(test_expired_marker),
        cmocka_unit_test(test_key_each_and_redact_all),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_redact_pairs),
        cmocka_unit_test_setup_teardown(test_alerts_after_erasure, setup, teardown),
        cmocka_unit_test(test_timer_after_erasure),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
