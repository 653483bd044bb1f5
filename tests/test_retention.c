/* test_retention: retention periods and the sweep (hub/retention.h,
 * hub/sweep.h, issue 17 points 1, 7 and 8).
 * Unit tests of periods (parse, calendar end, cutoff) and of the retention
 * file's every mistake (file:line naming the field); then an in-process hub
 * on the test clock: a sweep that removes expired bodies, keeps what is
 * within its period, after the last activity, and under legal hold, across
 * a restart; the log still verified by csphubd --verify and
 * scripts/check-chain.py; a resend of a removed event a duplicate; kept
 * rejections removed by age. Alerts expired by their panel's period
 * (sweepalerts.h): markers, cases, deadlines, holds, last activity,
 * re-derivation, and a stop in the middle of the alert walk. Then the
 * real csphubd killed with kill -9 in the middle of a sweep: the log
 * verifies, and the next start finishes it. */
#define _GNU_SOURCE
#include "testutil.h"
#include "testutil_inproc.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include "config.h"
#include "retention.h"
#include "rules.h"
#include "schema.h"
#include "sweep.h"
#include "sweepalerts.h"
#include "timefmt.h"

static int64_t at(const char *rfc3339)
{
    int64_t ms;
    assert_int_equal(csph_time_parse(rfc3339, strlen(rfc3339), &ms, NULL), 0);
    return ms;
}

/* ---- unit: periods --------------------------------------------------------- */

static void test_periods(void **state)
{
    (void)state;
    struct hub_period p;
    assert_int_equal(hub_period_parse("3y", &p), 0);
    assert_int_equal(p.kind, CSPH_PERIOD_SPAN);
    assert_int_equal(hub_period_end(&p, at("2025-03-01T21:14:00Z")), at("2028-03-01T21:14:00Z"));
    /* calendar years: 29 Feb plus a year rolls to 1 Mar */
    assert_int_equal(hub_period_parse("1y", &p), 0);
    assert_int_equal(hub_period_end(&p, at("2024-02-29T10:00:00.250Z")),
                     at("2025-03-01T10:00:00.250Z"));
    assert_int_equal(hub_period_parse("18m", &p), 0);
    assert_int_equal(hub_period_end(&p, at("2025-11-30T00:00:00Z")), at("2027-05-30T00:00:00Z"));
    assert_int_equal(hub_sweep_cutoff(&p, at("2027-05-30T00:00:00Z")), at("2025-11-30T00:00:00Z"));
    assert_int_equal(hub_period_parse("90d", &p), 0);
    assert_int_equal(hub_period_end(&p, 0), 90LL * 86400000);
    assert_int_equal(hub_sweep_cutoff(&p, 90LL * 86400000), 0);
    assert_int_equal(hub_period_parse("2w", &p), 0);
    assert_int_equal(hub_period_end(&p, 0), 14LL * 86400000);
    assert_int_equal(hub_period_parse("keep", &p), 0);
    assert_int_equal(p.kind, CSPH_PERIOD_KEEP);
    assert_int_equal(hub_period_end(&p, 0), INT64_MAX);
    assert_int_equal(hub_sweep_cutoff(&p, 0), INT64_MIN);
    assert_int_equal(hub_period_parse("none", &p), 0);
    assert_int_equal(p.kind, CSPH_PERIOD_NONE);
    static const char *const bad[] = {"3", "y", "3 years", "3Y", "0d", "-1y", "3yy", "1.5y",
                                      "999999y", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (hub_period_parse(bad[i], &p) == 0)
            fail_msg("period '%s' was accepted", bad[i]);
}

/* ---- unit: the retention file ---------------------------------------------- */

struct files {
    struct hub_config cfg;
    struct hub_schemas *schemas;
    struct hub_rules *rules;
    char *tmp;
    char path[600];
};

static int files_setup(void **state)
{
    struct files *f = calloc(1, sizeof *f);
    tu_load_defaults(&f->cfg, &f->schemas, &f->rules);
    f->tmp = tu_tmpdir("retention");
    snprintf(f->path, sizeof f->path, "%s/retention.yaml", f->tmp);
    *state = f;
    return 0;
}

static int files_teardown(void **state)
{
    struct files *f = *state;
    hub_schemas_destroy(&f->schemas);
    hub_rules_destroy(&f->rules);
    tu_rmrf(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

/* The shipped classes, then extra text: what every case below starts from. */
static const char classes[] =
    "classes:\n"
    "  asb: {period: 3y}\n"
    "  hate_crime: {period: 6y}\n"
    "  domestic_abuse: {period: 6y, after: last_activity}\n"
    "  violence: {period: 6y}\n"
    "  police: {period: 6y}\n"
    "  calls: {period: 2y}\n"
    "  safeguarding: {period: 6y, after: last_activity}\n"
    "  missing: {period: 6y, after: last_activity}\n"
    "  panel_work: {period: 6y, after: last_activity}\n"
    "  audit: {period: keep}\n"
    "  data_protection: {period: keep}\n"
    "  hub_config: {period: keep}\n"; /* 13 lines */

static enum hub_err load_text(struct files *f, const char *text, struct hub_retention **r,
                              struct hub_error *err)
{
    FILE *o = fopen(f->path, "w");
    assert_non_null(o);
    fputs(text, o);
    fclose(o);
    return hub_retention_load(r, f->path, f->schemas, &f->cfg, err);
}

static void test_shipped_file(void **state)
{
    struct files *f = *state;
    struct hub_retention *r = NULL;
    struct hub_error err;
    char path[600];
    snprintf(path, sizeof path, "%s/config/retention.yaml", tu_env("CSPH_SOURCE_DIR", "."));
    if (hub_retention_load(&r, path, f->schemas, &f->cfg, &err))
        fail_msg("shipped retention.yaml: %s", err.message);
    int asb = hub_schemas_find(f->schemas, "asb.report", 10),
        ref = hub_schemas_find(f->schemas, "referral", 8),
        aud = hub_schemas_find(f->schemas, "audit.access", 12);
    assert_string_equal(hub_retention_period(r, asb, -1)->text, "3y");
    assert_int_equal(hub_retention_period(r, aud, -1)->kind, CSPH_PERIOD_KEEP);
    int channel = -1, marac = -1;
    for (size_t i = 0; i < f->cfg.npanels; i++) {
        if (!strcmp(f->cfg.panels[i].name, "channel"))
            channel = (int)i;
        if (!strcmp(f->cfg.panels[i].name, "marac"))
            marac = (int)i;
    }
    /* Channel and MAPPA: no published period, none shipped (warned at start). */
    assert_int_equal(hub_retention_period(r, ref, channel)->kind, CSPH_PERIOD_NONE);
    assert_true(hub_retention_period(r, ref, marac)->after_activity);
    assert_string_equal(hub_retention_rejections(r)->text, "90d");
    assert_int_equal(hub_retention_every_ms(r), 86400000);
    assert_int_equal(hub_retention_step_ms(r), 20);
    assert_int_equal(strlen(hub_retention_digest(r)), 64);
    hub_retention_destroy(&r);
    assert_null(r);
}

/* An alert's period: its decisions' (alert.status) on its panel: the
 * panel's entry, else panel_work's; a panel no longer configured, none. */
static void test_alert_period(void **state)
{
    struct files *f = *state;
    struct hub_retention *r = NULL;
    struct hub_error err;
    char text[4096];
    snprintf(text, sizeof text, "%spanels:\n  marac: {period: 30d}\n  channel: {period: none}\n",
             classes);
    if (load_text(f, text, &r, &err))
        fail_msg("%s", err.message);
    int marac = hub_config_panel_find(&f->cfg, "marac", 5),
        channel = hub_config_panel_find(&f->cfg, "channel", 7),
        tasking = hub_config_panel_find(&f->cfg, "tasking", 7);
    assert_true(marac >= 0 && channel >= 0 && tasking >= 0);
    assert_string_equal(hub_retention_alert_period(r, marac)->text, "30d");
    assert_false(hub_retention_alert_period(r, marac)->after_activity);
    assert_int_equal(hub_retention_alert_period(r, channel)->kind, CSPH_PERIOD_NONE);
    assert_string_equal(hub_retention_alert_period(r, tasking)->text, "6y");
    assert_true(hub_retention_alert_period(r, tasking)->after_activity);
    assert_int_equal(hub_retention_alert_period(r, -1)->kind, CSPH_PERIOD_NONE);
    hub_retention_destroy(&r);
    /* a type override of alert.status applies where the panel has none */
    snprintf(text, sizeof text, "%stypes:\n  alert.status: {period: keep}\n", classes);
    if (load_text(f, text, &r, &err))
        fail_msg("%s", err.message);
    assert_int_equal(hub_retention_alert_period(r, tasking)->kind, CSPH_PERIOD_KEEP);
    hub_retention_destroy(&r);
}

/* The ids a dp.retention event lists, and what is left to remove. */
static void test_alert_ranges_and_personal(void **state)
{
    (void)state;
    char out[128];
    uint64_t ids[] = {3, 4, 5, 7, 9, 10};
    hub_sweepalerts_ranges(ids, 6, out, sizeof out);
    assert_string_equal(out, "3-5,7,9-10");
    hub_sweepalerts_ranges(ids, 1, out, sizeof out);
    assert_string_equal(out, "3");
    hub_sweepalerts_ranges(ids, 0, out, sizeof out);
    assert_string_equal(out, "");
    uint64_t big[100];
    for (int i = 0; i < 100; i++)
        big[i] = 9007199254740000ull + 2 * (uint64_t)i; /* no two adjacent: the longest */
    char room[100 * 22 + 1];
    hub_sweepalerts_ranges(big, 100, room, sizeof room);
    assert_true(strlen(room) < 2200); /* the schema's bound on alert_ids */

    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_str_with_body(&pk, "key", 3);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "victim", 6);
    msgpack_pack_str_with_body(&pk, "[erased by seq 4]", 17);
    msgpack_pack_str_with_body(&pk, "perpetrator", 11);
    msgpack_pack_str_with_body(&pk, "P-2", 3);
    msgpack_pack_str_with_body(&pk, "reason", 6);
    msgpack_pack_str_with_body(&pk, "[erased by seq 4]", 17);
    assert_true(hub_sweepalerts_personal(sb.data, sb.size, 2)); /* P-2 left */
    sb.size = 0;
    msgpack_pack_str_with_body(&pk, "key", 3);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, "victim", 6);
    msgpack_pack_str_with_body(&pk, "[erased by seq 4]", 17);
    msgpack_pack_str_with_body(&pk, "reason", 6);
    msgpack_pack_str_with_body(&pk, "[expired by seq 9]", 18);
    assert_false(hub_sweepalerts_personal(sb.data, sb.size, 2)); /* nothing left */
    msgpack_sbuffer_destroy(&sb);
}

static void count_unset(void *ctx, const char *what)
{
    (void)what;
    (*(int *)ctx)++;
}

static void test_unset_warned(void **state)
{
    struct files *f = *state;
    struct hub_retention *r = NULL;
    struct hub_error err;
    char text[4096];
    snprintf(text, sizeof text, "%s  # x\npanels:\n  channel: {period: none}\n"
                                "  mappa: {period: none}\n",
             classes);
    if (load_text(f, text, &r, &err))
        fail_msg("%s", err.message);
    int n = 0;
    assert_int_equal(hub_retention_unset(r, count_unset, &n), 2);
    assert_int_equal(n, 2);
    hub_retention_destroy(&r);
}

static void test_file_mistakes(void **state)
{
    struct files *f = *state;
    static const struct {
        const char *extra; /* after the classes (line 14 on), or the whole file when prefixed '!' */
        int line;
        const char *words;
    } cases[] = {
        {"types:\n  asb.report: {period: 3 years}\n", 15,
         "'period' of type 'asb.report' is '3 years'"},
        {"types:\n  asb.report: {period: 3q}\n", 15, "d (days), w (weeks), m (months) or y"},
        {"types:\n  asb.reprot: {period: 3y}\n", 15, "unknown event type 'asb.reprot'"},
        {"panels:\n  marak: {period: 6y}\n", 15, "unknown panel 'marak'"},
        {"panels:\n  marac: {period: keep, after: last_activity}\n", 15,
         "needs a period such as 6y"},
        {"panels:\n  marac: {period: 6y, after: yesterday}\n", 15, "'after' of panel 'marac'"},
        {"panels:\n  marac: 6y\n", 15, "must be a mapping"},
        {"panels:\n  marac: {after: event}\n", 15, "has no 'period'"},
        {"panels:\n  marac: {period: 6y, perod: 2y}\n", 15, "perod"},
        {"rejections: {period: 90 days}\n", 14, "'period' of 'rejections' is '90 days'"},
        {"sweep: {every: daily}\n", 14, "'every' of 'sweep' is 'daily'"},
        {"sweep: {step_ms: 500}\n", 14, "step_ms"},
        {"colour: blue\n", 14, "colour"},
        {"!classes:\n  asb: {period: 3y}\n", 2, "no period for class 'panel_work'"},
        {"!classes:\n  asb: {period: 3y}\n  asb: {period: 2y}\n", 3, "given twice"},
        {"!classes: [asb]\n", 1, "'classes' must map"},
        {"!sweep: {every: 1d\n", 0, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[4096];
        if (cases[i].extra[0] == '!')
            snprintf(text, sizeof text, "%s", cases[i].extra + 1);
        else
            snprintf(text, sizeof text, "%s%s", classes, cases[i].extra);
        struct hub_retention *r = NULL;
        struct hub_error err;
        enum hub_err rc = load_text(f, text, &r, &err);
        if (rc != CSPH_ERR_CONFIG || r)
            fail_msg("case %zu loaded (%d)", i, rc);
        char want[700];
        snprintf(want, sizeof want, "%s:%d: ", f->path, cases[i].line);
        if ((cases[i].line && strncmp(err.message, want, strlen(want)) != 0) ||
            (cases[i].words && !strstr(err.message, cases[i].words)))
            fail_msg("case %zu: want '%s...%s', got '%s'", i, want,
                     cases[i].words ? cases[i].words : "", err.message);
    }
}

/* ---- in process, on the test clock ------------------------------------------ */

static void publish_ok(struct tu_inproc *f, const char *event)
{
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"publish\",\"event\":%s}", event);
    if (!tu_str(&r, "status") || strcmp(tu_str(&r, "status"), "accepted") != 0)
        fail_msg("publish %s: %s", event, tu_dump(&r));
}

#define DA(id, victim, when)                                                             \
    "{\"id\":\"" id "\",\"type\":\"da.incident\",\"source\":\"police\",\"occurred_at\":\"" \
    when "\",\"victim\":\"" victim "\",\"risk\":\"medium\"}"

/* The dp.retention events after seq `after`, waiting (with a deadline) for
 * at least one. */
static msgpack_object wait_retention(struct tu_inproc *f, int64_t after)
{
    int64_t deadline = tu_now_ms() + 10000;
    while (tu_now_ms() < deadline) {
        msgpack_object r = tu_inproc_call(
            f, "{\"op\":\"replay\",\"after\":%lld,\"types\":[\"dp.retention\"]}", (long long)after);
        if (tu_get(&r, "events")->via.array.size > 0)
            return r;
    }
    fail_msg("no dp.retention event after seq %lld within 10 s", (long long)after);
    return (msgpack_object){0};
}

static int log_has(struct tu_inproc *f, const char *needle)
{
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"replay\",\"max\":1000,\"types\":"
                                         "[\"asb.report\",\"da.incident\"]}");
    return strstr(tu_dump(&r), needle) != NULL;
}

static void verify_both(const char *data, const char *want)
{
    char out[8192];
    int rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", data, NULL);
    if (rc != 0 || !strstr(out, want))
        fail_msg("csphubd --verify: %d %s", rc, out);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/scripts/check-chain.py %s 2>&1",
             tu_env("CSPH_SOURCE_DIR", "."), data);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, sizeof out - 1, p);
    out[got] = 0;
    int st = pclose(p);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !strstr(out, want))
        fail_msg("check-chain.py: %s", out);
}

static void test_sweep_on_the_clock(void **state)
{
    (void)state;
    struct tu_inproc *f = tu_inproc_new("sweep");
    /* At 2 June 2025: ASB reports (3 years), one by a person under legal
     * hold; domestic abuse (6 years after the last activity) for two people. */
    tu_inproc_asb(f, "asb-1", "V-1", "2025-01-10T10:00:00Z");
    tu_inproc_asb(f, "asb-2", "V-1", "2025-05-10T10:00:00Z");
    tu_inproc_asb(f, "asb-h", "V-H", "2025-01-11T10:00:00Z");
    publish_ok(f, DA("da-2", "P-2", "2025-02-01T20:00:00Z"));
    publish_ok(f, DA("da-3", "P-3", "2025-02-02T20:00:00Z"));
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"hold\",\"person\":\"V-H\",\"reason\":\"DHR "
                                         "2026/03\",\"requested_by\":\"dpo-jane\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    /* A rejection kept at t0 (its 90 days run out by 2028). */
    r = tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"bad\",\"type\":\"asb.report\","
                          "\"source\":\"council\",\"occurred_at\":\"2025-01-01T00:00:00Z\","
                          "\"victim\":\"V-9\",\"colour\":1}}");
    assert_int_equal(tu_bool(&r, "ok"), 0);

    /* 1 April 2028: asb-1 (Jan 2025 + 3y) is out of its period; asb-2 (May
     * 2025) is not yet; asb-h is held; domestic abuse keeps 6 years. */
    tu_inproc_set_clock(f, at("2028-04-01T09:00:00Z"));
    r = wait_retention(f, 0);
    const msgpack_object *ev = &tu_get(&r, "events")->via.array.ptr[0];
    assert_int_equal(tu_int(ev, "event.count"), 1);
    assert_int_equal(tu_int(ev, "event.held"), 1);
    assert_int_equal(tu_int(ev, "event.rejections"), 1);
    assert_string_equal(tu_str(ev, "event.as_of"), "2028-04-01T09:00:00.000Z");
    assert_non_null(strstr(tu_str(ev, "event.records"), " asb.report council\n"));
    int64_t first = tu_int(ev, "seq");
    assert_true(log_has(f, "\"V-H\""));
    assert_true(log_has(f, "2025-05-10T10:00:00Z"));
    r = tu_inproc_call(f, "{\"op\":\"rejects\"}");
    assert_null(strstr(tu_dump(&r), "V-9"));
    /* What stays of asb-1: its id, type, time and source. */
    r = tu_inproc_call(f, "{\"op\":\"replay\",\"after\":0,\"max\":1,\"types\":[\"asb.report\"]}");
    assert_string_equal(tu_str(&r, "events.0.event.id"), "asb-1");
    assert_null(tu_get(&r, "events.0.event.victim"));
    assert_null(tu_get(&r, "events.0.event.location"));
    /* A resend of the removed event is a duplicate and never re-enters. */
    r = tu_inproc_call(f, "{\"op\":\"publish\",\"event\":{\"id\":\"asb-1\",\"type\":"
                          "\"asb.report\",\"source\":\"council\",\"occurred_at\":"
                          "\"2025-01-10T10:00:00Z\",\"victim\":\"V-1\",\"location\":{\"lsoa\":"
                          "\"E01000916\"},\"category\":\"personal\"}}");
    assert_string_equal(tu_str(&r, "status"), "duplicate");
    /* New activity for P-2 in 2028 keeps its 2025 record. */
    publish_ok(f, DA("da-2b", "P-2", "2028-03-01T20:00:00Z"));

    /* A restart, then 1 March 2031: P-3's 2025 record (no activity since)
     * has run its 6 years; P-2's has not (activity in March 2028); asb-2 goes. */
    tu_inproc_stop(f);
    tu_inproc_start(f);
    tu_inproc_set_clock(f, at("2031-03-01T09:00:00Z"));
    r = wait_retention(f, first);
    ev = &tu_get(&r, "events")->via.array.ptr[0];
    assert_int_equal(tu_int(ev, "event.count"), 2);
    const char *recs = tu_str(ev, "event.records");
    assert_non_null(strstr(recs, " da.incident police\n"));
    assert_non_null(strstr(recs, " asb.report council\n"));
    assert_false(log_has(f, "\"P-3\""));
    assert_true(log_has(f, "\"P-2\""));
    assert_true(log_has(f, "\"V-H\"")); /* still held */
    /* The person index forgets the removed records: P-3 names nothing. */
    r = tu_inproc_call(f, "{\"op\":\"replay\",\"person\":\"P-3\"}");
    assert_int_equal(tu_get(&r, "events")->via.array.size, 0);

    /* The log verifies with both checkers. */
    char data[300];
    snprintf(data, sizeof data, "%s", f->data);
    tu_inproc_stop(f);
    verify_both(data, "hash chain intact");
    tu_inproc_start(f);
    tu_inproc_free(f);
}

/* SIGHUP reads the retention file again: a shorter period applies to the
 * next pass; a broken file keeps the periods in force. */
static void test_reload_on_sighup(void **state)
{
    (void)state;
    struct tu_inproc *f = tu_inproc_new("sweephup");
    char path[400];
    snprintf(path, sizeof path, "%s/retention.yaml", f->dir);
    FILE *o = fopen(path, "w");
    assert_non_null(o);
    fputs(classes, o);
    fclose(o);
    tu_inproc_stop(f);
    snprintf(f->cfg.retention_file, sizeof f->cfg.retention_file, "%s", path);
    tu_inproc_start(f);
    tu_inproc_asb(f, "asb-1", "V-1", "2025-01-10T10:00:00Z");
    /* A broken file on SIGHUP: refused, the 3 years stay. */
    o = fopen(path, "w");
    fprintf(o, "%s  extra: {period: 3 years}\n", classes);
    fclose(o);
    raise(SIGHUP);
    tu_inproc_set_clock(f, at("2026-06-01T09:00:00Z"));
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"ping\"}");
    assert_true(log_has(f, "\"V-1\""));
    /* ASB down to 1 year: asb-1 (January 2025) is past it in June 2026. */
    char text[4096];
    snprintf(text, sizeof text, "%s", classes);
    char *asb = strstr(text, "asb: {period: 3y}");
    memcpy(asb, "asb: {period: 1y}", 17);
    o = fopen(path, "w");
    fputs(text, o);
    fclose(o);
    raise(SIGHUP);
    /* The handler runs on the hub's loop: step it until the reload shows. */
    for (int i = 0; i < 20; i++)
        r = tu_inproc_call(f, "{\"op\":\"ping\"}");
    (void)r;
    tu_inproc_set_clock(f, at("2026-06-02T09:00:00Z"));
    r = wait_retention(f, 0);
    assert_int_equal(tu_int(&tu_get(&r, "events")->via.array.ptr[0], "event.count"), 1);
    assert_false(log_has(f, "\"V-1\""));
    tu_inproc_free(f);
}

/* ---- alerts by their panel's period ------------------------------------------ */

#define DAH(id, victim, when)                                                            \
    "{\"id\":\"" id "\",\"type\":\"da.incident\",\"source\":\"police\",\"occurred_at\":\"" \
    when "\",\"victim\":\"" victim "\",\"risk\":\"high\"}"

/* Restart f with a retention file of the shipped classes and extra. */
static void use_retention(struct tu_inproc *f, const char *extra)
{
    char path[400];
    snprintf(path, sizeof path, "%s/retention.yaml", f->dir);
    FILE *o = fopen(path, "w");
    assert_non_null(o);
    fprintf(o, "%s%s", classes, extra);
    fclose(o);
    tu_inproc_stop(f);
    snprintf(f->cfg.retention_file, sizeof f->cfg.retention_file, "%s", path);
    tu_inproc_start(f);
}

/* The id of the first alert of panel whose key holds value. */
static int64_t alert_of(struct tu_inproc *f, const char *panel, const char *value)
{
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"%s\",\"person\":\"%s\"}",
                                      panel, value);
    if (!tu_get(&r, "alerts.0.id"))
        fail_msg("no alert on %s for %s: %s", panel, value, tu_dump(&r));
    return tu_int(&r, "alerts.0.id");
}

/* The first dp.retention event after seq `after` that expired alerts. */
static msgpack_object wait_alert_expiry(struct tu_inproc *f, int64_t after)
{
    int64_t deadline = tu_now_ms() + 10000;
    while (tu_now_ms() < deadline) {
        msgpack_object r = tu_inproc_call(
            f, "{\"op\":\"replay\",\"after\":%lld,\"types\":[\"dp.retention\"]}", (long long)after);
        const msgpack_object *evs = tu_get(&r, "events");
        for (uint32_t i = 0; i < evs->via.array.size; i++)
            if (tu_get(&evs->via.array.ptr[i], "event.alerts"))
                return evs->via.array.ptr[i];
    }
    msgpack_object r = tu_inproc_call(
        f, "{\"op\":\"replay\",\"after\":%lld,\"types\":[\"dp.retention\"]}", (long long)after);
    fail_msg("no dp.retention event expiring alerts after seq %lld within 10 s: %s",
             (long long)after, tu_dump(&r));
    return (msgpack_object){0};
}

static void test_alerts_expire(void **state)
{
    (void)state;
    struct tu_inproc *f = tu_inproc_new("alertret");
    use_retention(f, "panels:\n"
                     "  marac: {period: 30d, after: last_activity}\n"
                     "  asb-case-review: {period: 10d}\n"
                     "  channel: {period: none}\n"
                     "  mappa: {period: none}\n");
    /* At 2 June 2025: three MARAC alerts (P-A stays active, P-B does not,
     * P-C is under legal hold), an ASB case review (10 working days to
     * act) and a MACE alert (84 days) that will fire. */
    publish_ok(f, DAH("da-a", "P-A", "2025-06-01T20:00:00Z"));
    publish_ok(f, DAH("da-b", "P-B", "2025-06-01T20:00:00Z"));
    publish_ok(f, DAH("da-c", "P-C", "2025-06-01T20:00:00Z"));
    tu_inproc_raise_case_review(f, "V-R");
    publish_ok(f, "{\"id\":\"c-1\",\"type\":\"concern\",\"source\":\"council\",\"occurred_at\":"
                  "\"2025-06-01T10:00:00Z\",\"subject\":\"C-1\",\"kind\":"
                  "\"criminal_exploitation\"}");
    int64_t a = alert_of(f, "marac", "P-A"), b = alert_of(f, "marac", "P-B"),
            c = alert_of(f, "marac", "P-C"), cr = alert_of(f, "asb-case-review", "V-R"),
            mace = alert_of(f, "mace", "C-1");
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"alert.update\",\"id\":%lld,\"status\":"
                                         "\"accepted\"}", (long long)b);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_inproc_call(f, "{\"op\":\"cases\",\"panel\":\"marac\"}");
    assert_string_equal(tu_str(&r, "cases.0.key"), "P-B");
    r = tu_inproc_call(f, "{\"op\":\"agenda\",\"panel\":\"marac\",\"meeting\":\"2025-06-04\"}");
    assert_int_equal(tu_int(&r, "agenda.accepted.0.alert"), b);
    assert_string_equal(tu_str(&r, "agenda.accepted.0.key"), "P-B");
    r = tu_inproc_call(f, "{\"op\":\"hold\",\"person\":\"P-C\",\"reason\":\"DHR 2026/03\","
                          "\"requested_by\":\"dpo-jane\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":%lld}", (long long)cr);
    assert_non_null(tu_str(&r, "alert.due_at"));
    /* P-A active again on 1 July */
    publish_ok(f, DA("da-a2", "P-A", "2025-07-01T20:00:00Z"));

    /* 13 June: the case review (raised 2 June, 10 days) has expired, before
     * its deadline (16 June); the MARAC alerts have 30 days. */
    tu_inproc_set_clock(f, at("2025-06-13T09:00:00Z"));
    msgpack_object ev = wait_alert_expiry(f, 0);
    int64_t s1 = tu_int(&ev, "seq");
    char m1[64], ids[32];
    snprintf(m1, sizeof m1, "[expired by seq %lld]", (long long)s1);
    snprintf(ids, sizeof ids, "%lld", (long long)cr);
    assert_int_equal(tu_int(&ev, "event.alerts"), 1);
    assert_string_equal(tu_str(&ev, "event.alert_ids"), ids);
    assert_int_equal(tu_int(&ev, "event.count"), 0);
    r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":%lld}", (long long)cr);
    assert_string_equal(tu_str(&r, "alert.reason"), m1);
    assert_string_equal(tu_str(&r, "alert.key.victim"), m1);
    assert_string_equal(tu_str(&r, "alert.rule"), "asb-case-review.victim");
    assert_non_null(tu_str(&r, "alert.raised_at"));
    assert_true(tu_get(&r, "alert.evidence")->via.array.size == 3);
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"asb-case-review\"}");
    assert_null(strstr(tu_dump(&r), "V-R"));
    r = tu_inproc_call(f, "{\"op\":\"person\",\"ref\":\"V-R\"}");
    assert_null(tu_get(&r, "alerts.0"));
    r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":%lld}", (long long)b);
    assert_string_equal(tu_str(&r, "alert.key.victim"), "P-B");

    /* 15 July: the review of P-B's case (opened by the acceptance, high:
     * 14 days) fell due, which the hub records as a timer.fired naming P-B:
     * activity, so P-B's alert stays another 30 days. */
    tu_inproc_set_clock(f, at("2025-07-15T09:00:00Z"));
    r = tu_inproc_wait_for_type(f, "timer.fired");
    assert_string_equal(tu_str(&r, "events.0.event.subject"), "P-B");
    r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":%lld}", (long long)b);
    assert_string_equal(tu_str(&r, "alert.key.victim"), "P-B");
    publish_ok(f, DA("da-a3", "P-A", "2025-08-10T20:00:00Z"));

    /* 20 August: P-B's alert (no activity since 15 July) has run its 30
     * days; P-A's has not (active on 10 August); P-C's is held. */
    tu_inproc_set_clock(f, at("2025-08-20T09:00:00Z"));
    ev = wait_alert_expiry(f, s1);
    int64_t s2 = tu_int(&ev, "seq");
    char m2[64];
    snprintf(m2, sizeof m2, "[expired by seq %lld]", (long long)s2);
    /* P-B's alert, and the review escalation the hub raised on P-B's case
     * on 15 July (raised then, the same 30 days) */
    snprintf(ids, sizeof ids, "%lld,", (long long)b);
    if (tu_int(&ev, "event.alerts") != 2 || strncmp(tu_str(&ev, "event.alert_ids"), ids,
                                                    strlen(ids)) != 0)
        fail_msg("%s", tu_dump(&ev));
    assert_int_equal(tu_int(&ev, "event.alerts_held"), 1);
    r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":%lld}", (long long)b);
    assert_string_equal(tu_str(&r, "alert.key.victim"), m2);
    assert_string_equal(tu_str(&r, "alert.reason"), m2);
    assert_string_equal(tu_str(&r, "alert.status"), "accepted");
    assert_string_equal(tu_str(&r, "alert.priority"), "high");
    r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":%lld}", (long long)a);
    assert_string_equal(tu_str(&r, "alert.key.victim"), "P-A");
    r = tu_inproc_call(f, "{\"op\":\"alert\",\"id\":%lld}", (long long)c);
    assert_string_equal(tu_str(&r, "alert.key.victim"), "P-C");
    /* its case, under the marker */
    r = tu_inproc_call(f, "{\"op\":\"cases\",\"panel\":\"marac\"}");
    assert_string_equal(tu_str(&r, "cases.0.key"), m2);
    assert_int_equal(tu_int(&r, "cases.0.alert"), b);
    r = tu_inproc_call(f, "{\"op\":\"person\",\"ref\":\"P-B\"}");
    assert_null(tu_get(&r, "alerts.0"));
    /* the meeting it was accepted for shows the marker */
    r = tu_inproc_call(f, "{\"op\":\"agenda\",\"panel\":\"marac\",\"meeting\":\"2025-06-04\"}");
    assert_int_equal(tu_int(&r, "agenda.accepted.0.alert"), b);
    assert_string_equal(tu_str(&r, "agenda.accepted.0.key"), m2);
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"marac\"}");
    assert_null(strstr(tu_dump(&r), "\"P-B\""));

    /* 1 September: the MACE deadline fires; the expired case review's
     * (16 June) never does. */
    tu_inproc_set_clock(f, at("2025-09-01T09:00:00Z"));
    r = tu_inproc_wait_for_type(f, "timer.fired");
    const msgpack_object *fired = tu_get(&r, "events");
    int mace_fired = 0;
    for (uint32_t i = 0; i < fired->via.array.size; i++) {
        int64_t id = tu_int(&fired->via.array.ptr[i], "event.alert");
        mace_fired |= id == mace;
        if (id == cr)
            fail_msg("the expired alert %lld fired: %s", (long long)cr, tu_dump(&r));
    }
    assert_true(mace_fired);

    /* The log verifies; re-derivation keeps the expired alerts. */
    char data[300], out[16384], fresh[400], want[128];
    snprintf(data, sizeof data, "%s", f->data);
    tu_inproc_stop(f);
    verify_both(data, "hash chain intact");
    snprintf(fresh, sizeof fresh, "%s/fresh", f->dir);
    int rc = tu_hub_run_ms(out, sizeof out, 60000, "--rederive", data, "--data", fresh, NULL);
    snprintf(want, sizeof want, "alert %lld kept, expired by retention seq %lld", (long long)cr,
             (long long)s1);
    if (rc != 0 || !strstr(out, want))
        fail_msg("rederive: %d %s", rc, out);
    snprintf(want, sizeof want, "alert %lld kept, expired by retention seq %lld", (long long)b,
             (long long)s2);
    if (!strstr(out, want) || !strstr(out, "kept, expired by retention seq"))
        fail_msg("rederive: %d %s", rc, out);
    /* what-if leaves them out of its comparison, as erased ones */
    char rules[600];
    snprintf(rules, sizeof rules, "%s/config/rules.yaml", tu_env("CSPH_SOURCE_DIR", "."));
    rc = tu_hub_run_ms(out, sizeof out, 60000, "--what-if", rules, "--data", data, NULL);
    if (rc != 0 || !strstr(out, "3 of the hub's alerts rest on redacted records"))
        fail_msg("what-if: %d %s", rc, out);
    tu_inproc_start(f);
    tu_inproc_free(f);
}

/* Sum the alerts expired by dp.retention events after seq 0, marking each
 * id in seen (ids 1..n); an id listed twice fails. */
static uint64_t expired_alerts(struct tu_inproc *f, unsigned char *seen, size_t n)
{
    memset(seen, 0, n + 1);
    uint64_t total = 0;
    int64_t after = 0;
    for (;;) {
        msgpack_object r = tu_inproc_call(
            f, "{\"op\":\"replay\",\"after\":%lld,\"max\":1000,\"types\":[\"dp.retention\"]}",
            (long long)after);
        const msgpack_object *evs = tu_get(&r, "events");
        if (evs->via.array.size == 0)
            return total;
        for (uint32_t i = 0; i < evs->via.array.size; i++) {
            const msgpack_object *ev = &evs->via.array.ptr[i];
            after = tu_int(ev, "seq");
            if (!tu_get(ev, "event.alerts"))
                continue;
            total += (uint64_t)tu_int(ev, "event.alerts");
            const char *p = tu_str(ev, "event.alert_ids");
            while (*p) {
                char *end;
                unsigned long long lo = strtoull(p, &end, 10), hi = lo;
                if (*end == '-')
                    hi = strtoull(end + 1, &end, 10);
                for (unsigned long long id = lo; id <= hi; id++) {
                    if (id < 1 || id > n || seen[id])
                        fail_msg("alert %llu listed twice or unknown", id);
                    seen[id] = 1;
                }
                p = *end == ',' ? end + 1 : end;
            }
        }
    }
}

/* A stop in the middle of the alert walk: the next start resumes it from
 * its saved position; every alert expires once, none is skipped. */
static void test_alert_walk_resumes(void **state)
{
    (void)state;
    enum { N = 1000 };
    struct tu_inproc *f = tu_inproc_new("alertwalk");
    use_retention(f, "sweep: {every: 1d, step_ms: 1}\n"
                     "panels:\n  marac: {period: 30d}\n"
                     "  channel: {period: none}\n  mappa: {period: none}\n");
    for (int b = 0; b < N / 100; b++) {
        static char batch[65536];
        size_t len = (size_t)snprintf(batch, sizeof batch, "{\"op\":\"publish\",\"events\":[");
        for (int i = 0; i < 100; i++)
            len += (size_t)snprintf(batch + len, sizeof batch - len,
                                    "%s{\"id\":\"w%d-%d\",\"type\":\"da.incident\",\"source\":"
                                    "\"police\",\"occurred_at\":\"2025-06-01T20:00:00Z\","
                                    "\"victim\":\"W-%d\",\"risk\":\"high\"}",
                                    i ? "," : "", b, i, b * 100 + i);
        snprintf(batch + len, sizeof batch - len, "]}");
        msgpack_object r = tu_inproc_call(f, "%s", batch);
        assert_int_equal(tu_bool(&r, "ok"), 1);
    }
    msgpack_object r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"marac\",\"after\":%d}",
                                      N - 1);
    assert_int_equal(tu_int(&r, "alerts.0.id"), N);
    /* 1 August: every one of them is past its 30 days; a step expires at
     * most 100 (CSPH_ERASE_PER_EVENT), so at least N/100 steps. Stopped as
     * soon as the first step's dp.retention event is in the log (pings:
     * cheap round trips, while steps are paced at least 1 ms apart). */
    r = tu_inproc_call(f, "{\"op\":\"ping\"}");
    int64_t base = tu_int(&r, "last_seq");
    tu_inproc_set_clock(f, at("2025-08-01T09:00:00Z"));
    int64_t deadline = tu_now_ms() + 10000;
    while (tu_int(&r, "last_seq") == base && tu_now_ms() < deadline)
        r = tu_inproc_call(f, "{\"op\":\"ping\"}");
    tu_inproc_stop(f);
    char out[8192];
    int rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    const char *v = strstr(out, "verified: ");
    if (rc != 0 || !v)
        fail_msg("verify after a stop mid-walk: %s", out);
    long long steps = strtoll(v + 10, NULL, 10) - base;
    if (steps < 1 || steps >= N / 100)
        fail_msg("the stop did not land in the alert walk (%lld steps): %s", steps, out);
    tu_inproc_start(f);
    static unsigned char seen[N + 1];
    /* The restarted hub goes on as of its pass's time (the clock is not
     * moved: a move begins a new pass) and expires the rest, each once. */
    deadline = tu_now_ms() + 30000;
    uint64_t total = 0;
    while (total < N && tu_now_ms() < deadline)
        total = expired_alerts(f, seen, N);
    assert_int_equal(total, N);
    for (int id = 1; id <= N; id++)
        if (!seen[id])
            fail_msg("alert %d was skipped", id);
    r = tu_inproc_call(f, "{\"op\":\"alerts\",\"panel\":\"marac\",\"max\":1000}");
    assert_null(strstr(tu_dump(&r), "\"W-"));
    tu_inproc_free(f);
}

/* ---- the real daemon, kill -9 in the middle of a sweep ----------------------- */

static void test_kill9_mid_sweep(void **state)
{
    (void)state;
    struct tu_hub hub;
    char data[600], config[600], path[700];
    char *tmp = tu_hub_fresh_log_only(&hub, "sweepkill", data, sizeof data, config, sizeof config);
    assert_non_null(tmp);
    struct tu_client c;
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    /* 3,000 ASB reports of 2015: long out of their 3 years by the wall
     * clock. The published ones are swept by the next pass (a second). */
    for (int b = 0; b < 30; b++) {
        char batch[65536];
        size_t len = (size_t)snprintf(batch, sizeof batch, "{\"op\":\"publish\",\"events\":[");
        for (int i = 0; i < 100; i++)
            len += (size_t)snprintf(batch + len, sizeof batch - len,
                                    "%s{\"id\":\"k%d-%d\",\"type\":\"asb.report\",\"source\":"
                                    "\"council\",\"occurred_at\":\"2015-03-01T21:14:00Z\","
                                    "\"victim\":\"Q-%d\",\"location\":{\"lsoa\":\"E01000916\"},"
                                    "\"category\":\"personal\"}",
                                    i ? "," : "", b, i, b * 100 + i);
        snprintf(batch + len, sizeof batch - len, "]}");
        msgpack_object r = tu_call(&c, "%s", batch);
        assert_int_equal(tu_bool(&r, "ok"), 1);
    }
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    /* Small steps, a pass every second. */
    snprintf(path, sizeof path, "%s/retention.yaml", tmp);
    FILE *o = fopen(path, "w");
    assert_non_null(o);
    fprintf(o, "sweep: {every: 1s, step_ms: 1}\n%s", classes);
    fclose(o);
    o = fopen(config, "a");
    fprintf(o, "retention_file: %s\n", path);
    fclose(o);
    assert_int_equal(tu_hub_start(&hub, data, "--config", config, NULL), 0);
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    int64_t deadline = tu_now_ms() + 20000;
    while (tu_now_ms() < deadline) {
        msgpack_object r =
            tu_call(&c, "{\"op\":\"replay\",\"after\":3000,\"types\":[\"dp.retention\"]}");
        if (tu_get(&r, "events")->via.array.size > 0)
            break;
    }
    tu_hub_kill9(&hub);
    tu_client_close(&c);
    /* Whatever the kill cut, the log verifies, and the sweep had not ended
     * (30 steps of at most 100 records, paced). */
    char out[8192];
    int rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", data, NULL);
    if (rc != 0)
        fail_msg("verify after kill -9 mid-sweep: %s", out);
    unsigned long long events = 0;
    const char *p = strstr(out, "verified: ");
    assert_non_null(p);
    events = strtoull(p + 10, NULL, 10);
    if (events <= 3000 || events >= 3000 + 30)
        fail_msg("kill -9 did not land mid-sweep (%llu events): %s", events, out);
    /* The next start resumes where the last committed step saved the
     * position, not from seq 1: every body goes, and both checkers pass. */
    size_t log_from = 0;
    free(tu_slurp(hub.log, &log_from));
    assert_int_equal(tu_hub_start(&hub, data, "--config", config, NULL), 0);
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    uint64_t removed = 0;
    deadline = tu_now_ms() + 30000;
    while (removed < 3000 && tu_now_ms() < deadline) {
        removed = 0;
        msgpack_object r = tu_call(&c, "{\"op\":\"replay\",\"after\":3000,\"max\":1000,"
                                       "\"types\":[\"dp.retention\"]}");
        const msgpack_object *evs = tu_get(&r, "events");
        for (uint32_t i = 0; i < evs->via.array.size; i++)
            removed += (uint64_t)tu_int(&evs->via.array.ptr[i], "event.count");
    }
    assert_int_equal(removed, 3000);
    /* The resumed pass looked only at what it had not: the hub's log says
     * where it resumed and, when the pass is done, how many events it
     * examined since the start, fewer than the log holds (a rescan from seq 1
     * would examine every one of them). */
    const char *done = NULL;
    char *text = NULL;
    deadline = tu_now_ms() + 20000;
    while (!done && tu_now_ms() < deadline) {
        free(text);
        text = tu_slurp(hub.log, NULL);
        done = strstr(text + log_from, "sweep pass done");
        if (!done) /* a ping: the hub's own round trip, no sleep */
            (void)tu_call(&c, "{\"op\":\"ping\"}");
    }
    if (!done)
        fail_msg("no pass done after the restart: %s", text + log_from);
    const char *at_seq = strstr(text + log_from, "resuming the sweep pass as of ");
    if (!at_seq || !(at_seq = strstr(at_seq, " at seq ")))
        fail_msg("did not resume: %s", text + log_from);
    unsigned long long resumed_at = strtoull(at_seq + 8, NULL, 10);
    const char *ex = strstr(done, " events examined since the hub started");
    assert_non_null(ex);
    while (ex > done && ex[-1] >= '0' && ex[-1] <= '9')
        ex--;
    unsigned long long examined = strtoull(ex, NULL, 10);
    /* The log's end now (the steps since appended their dp.retention
     * events, which the pass looked at too): a rescan would have examined
     * all of it, the resumed pass only what follows its saved position. */
    msgpack_object pr = tu_call(&c, "{\"op\":\"ping\"}");
    unsigned long long last = (unsigned long long)tu_int(&pr, "last_seq");
    if (resumed_at <= 1 || examined > last - resumed_at + 1 || examined < events - resumed_at)
        fail_msg("resumed at seq %llu, examined %llu of %llu events: %s", resumed_at, examined,
                 last, text + log_from);
    free(text);
    msgpack_object r = tu_call(&c, "{\"op\":\"replay\",\"max\":3000}");
    assert_null(strstr(tu_dump(&r), "\"victim\""));
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    verify_both(data, "hash chain intact");
    tu_rmrf(tmp);
    free(tmp);
}

int main(void)
{
    tu_warm_up_libuv_signals();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_periods),
        cmocka_unit_test_setup_teardown(test_shipped_file, files_setup, files_teardown),
        cmocka_unit_test_setup_teardown(test_unset_warned, files_setup, files_teardown),
        cmocka_unit_test_setup_teardown(test_alert_period, files_setup, files_teardown),
        cmocka_unit_test(test_alert_ranges_and_personal),
        cmocka_unit_test_setup_teardown(test_file_mistakes, files_setup, files_teardown),
        cmocka_unit_test(test_sweep_on_the_clock),
        cmocka_unit_test(test_reload_on_sighup),
        cmocka_unit_test(test_alerts_expire),
        cmocka_unit_test(test_alert_walk_resumes),
        cmocka_unit_test(test_kill9_mid_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
