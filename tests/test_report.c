/* test_report.c: the `report` op and `csphub report` against the real
 * daemon over real sockets (docs/reports.md).
 *
 * A hand-built feed, dated relative to the current Europe/London month
 * (decisions count by received_at, which is the hub's real clock): the
 * period is the month M0 two months back to this month, M0+2. Every figure
 * the test expects is worked out by hand in the comments beside the feed.
 * Then: suppression (primary and secondary), areas, the auditor's
 * drill-down, byte-identical CSV and JSON as of one seq, bad input, the
 * access records, and the HTML page opened in headless Chromium. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <zmq.h>

#include "londontime.h"
#include "testutil.h"

struct fx {
    char *dir;
    char data[600], config[600], ind[600], areas[600];
    struct tu_hub hub;
    struct tu_client c;
    int y0, m0; /* M0 */
    uint64_t seq[64];
};

/* The indicators under test: one of each measure. */
static const char *INDICATORS =
    "suppress_below: 5\n"
    "indicators:\n"
    "  - {name: calls, measure: events, count: [{type: call, where: {category: asb}}],\n"
    "     good: down, target: 10, amber: 2}\n"
    "  - name: repeat-callers\n"
    "    measure: people\n"
    "    count: [{type: call, person: caller, where: {category: asb}}]\n"
    "    at_least: 3\n"
    "    within_days: 168\n"
    "    good: down\n"
    "  - name: persistent-callers\n"
    "    measure: people\n"
    "    count: [{type: call, person: caller, where: {category: asb}}]\n"
    "    at_least: 10\n"
    "    within_days: 168\n"
    "  - {name: hate, measure: events, count: [{type: hate.incident}]}\n"
    "  - {name: marac.cases, measure: alert_keys, panel: marac, good: up}\n"
    "  - {name: marac.repeats, measure: alert_keys, rules: [marac.repeat]}\n"
    "  - {name: marac.rate, measure: ratio, numerator: marac.repeats,\n"
    "     denominator: marac.cases, band: [24, 40], amber: 4}\n"
    "  - {name: marac.accepted, measure: decisions, panel: marac, status: [accepted]}\n"
    "  - {name: cm.alerts, measure: alerts, panel: community-marac}\n"
    "  - {name: cm.in-time, measure: decided_in_time, panel: community-marac, good: up,\n"
    "     target: 100, amber: 10}\n"
    "  - {name: cm.days, measure: days_to_decision, panel: community-marac, good: down}\n";

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* Month M0 + k as YYYY-MM, and a noon (UTC) on day d of it: always that
 * London day, summer or winter. */
static void month_of(const struct fx *f, int k, int *y, int *m)
{
    int64_t o = csph_month_ordinal(f->y0, (unsigned)f->m0) + k;
    *y = (int)(o / 12);
    *m = (int)(o % 12) + 1;
}

static const char *mon(const struct fx *f, int k)
{
    static char ring[8][16];
    static int next;
    int y, m;
    month_of(f, k, &y, &m);
    char *b = ring[next++ % 8];
    snprintf(b, 16, "%04d-%02d", y, m);
    return b;
}

static const char *day(const struct fx *f, int k, int d)
{
    static char ring[16][32];
    static int next;
    int y, m;
    month_of(f, k, &y, &m);
    char *b = ring[next++ % 16];
    snprintf(b, 32, "%04d-%02d-%02dT12:00:00Z", y, m, d);
    return b;
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir("report");
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->config, sizeof f->config, "%s/hub.yaml", f->dir);
    snprintf(f->ind, sizeof f->ind, "%s/indicators.yaml", f->dir);
    write_file(f->ind, INDICATORS);
    /* A copy of the shipped areas, which a test may change (reload). */
    char shipped[700], *areas = NULL;
    size_t alen = 0;
    snprintf(shipped, sizeof shipped, "%s/areas.yaml", tu_env("CSPH_CONFIG_DIR", "config"));
    FILE *in = fopen(shipped, "r"), *mem = open_memstream(&areas, &alen);
    assert_non_null(in);
    for (int ch; (ch = fgetc(in)) != EOF;)
        fputc(ch, mem);
    fclose(in);
    fclose(mem);
    snprintf(f->areas, sizeof f->areas, "%s/areas.yaml", f->dir);
    write_file(f->areas, areas);
    free(areas);
    write_file(f->config, "indicators_file: indicators.yaml\nareas_file: areas.yaml\n");
    unsigned m;
    csph_london_month_of((int64_t)time(NULL) * 1000, &f->y0, &m);
    int64_t o = csph_month_ordinal(f->y0, m) - 2;
    f->y0 = (int)(o / 12);
    f->m0 = (int)(o % 12) + 1;
    if (tu_hub_start(&f->hub, f->data, "--config", f->config, NULL))
        fail_msg("the hub did not start");
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tu_client_close(&f->c);
    if (f->hub.pid > 0)
        assert_int_equal(tu_hub_stop(&f->hub), 0);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* ---- reading a report ------------------------------------------------- */

static const msgpack_object *indicator(const msgpack_object *rep, const char *name)
{
    const msgpack_object *a = tu_get(rep, "indicators");
    if (!a || a->type != MSGPACK_OBJECT_ARRAY)
        fail_msg("no indicators in %s", tu_dump(rep));
    for (uint32_t i = 0; i < a->via.array.size; i++)
        if (tu_str(&a->via.array.ptr[i], "name") && !strcmp(tu_str(&a->via.array.ptr[i], "name"), name))
            return &a->via.array.ptr[i];
    fail_msg("no indicator %s", name);
    return NULL;
}

static void cell(const msgpack_object *v, char *buf, size_t n)
{
    if (!v)
        snprintf(buf, n, "absent");
    else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        snprintf(buf, n, "%llu", (unsigned long long)v->via.u64);
    else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        snprintf(buf, n, "%lld", (long long)v->via.i64);
    else if (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32)
        snprintf(buf, n, "%.1f", v->via.f64);
    else if (v->type == MSGPACK_OBJECT_STR)
        snprintf(buf, n, "%.*s", (int)v->via.str.size, v->via.str.ptr);
    else if (v->type == MSGPACK_OBJECT_NIL)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "?");
}

/* One indicator as "v1 v2 v3 | total ; ly1 ly2 ly3 | lytotal ; change rag direction" */
static const char *row(const msgpack_object *rep, const char *name)
{
    static char out[8][512];
    static int next;
    char *b = out[next++ % 8], c[64];
    const msgpack_object *ind = indicator(rep, name);
    size_t len = 0;
    const char *lists[2] = {"values", "last_year"}, *totals[2] = {"total", "last_year_total"};
    for (int k = 0; k < 2; k++) {
        const msgpack_object *a = tu_get(ind, lists[k]);
        for (uint32_t i = 0; a && i < a->via.array.size; i++) {
            cell(&a->via.array.ptr[i], c, sizeof c);
            len += (size_t)snprintf(b + len, 512 - len, "%s%s", i ? " " : "", c);
        }
        cell(tu_get(ind, totals[k]), c, sizeof c);
        len += (size_t)snprintf(b + len, 512 - len, " | %s ; ", c);
    }
    const char *tail[] = {"change", "rag", "direction"};
    for (int k = 0; k < 3; k++) {
        cell(tu_get(ind, tail[k]), c, sizeof c);
        len += (size_t)snprintf(b + len, 512 - len, "%s%s", k ? " " : "", c);
    }
    return b;
}

#define ROW(rep, name, want)                                                                       \
    do {                                                                                           \
        const char *got_ = row(rep, name);                                                         \
        if (strcmp(got_, want))                                                                    \
            fail_msg("%s:\n  got  %s\n  want %s", name, got_, want);                               \
    } while (0)

static msgpack_object report(struct fx *f, const char *extra)
{
    msgpack_object r = tu_call(&f->c, "{\"op\":\"report\",\"from\":\"%s\",\"to\":\"%s\"%s}",
                               mon(f, 0), mon(f, 2), extra);
    if (tu_bool(&r, "ok") != 1)
        fail_msg("report%s: %s", extra, tu_dump(&r));
    return r;
}

/* ---- the feed ----------------------------------------------------------- */

static void publish(struct fx *f, const char *events, size_t first)
{
    msgpack_object r = tu_call(&f->c, "{\"op\":\"publish\",\"events\":[%s]}", events);
    const msgpack_object *res = tu_get(&r, "results");
    assert_non_null(res);
    for (uint32_t i = 0; i < res->via.array.size; i++) {
        if (strcmp(tu_str(&res->via.array.ptr[i], "status"), "accepted"))
            fail_msg("event %u: %s", i, tu_dump(&res->via.array.ptr[i]));
        f->seq[first + i] = (uint64_t)tu_int(&res->via.array.ptr[i], "seq");
    }
}

static char *ev_call(const char *id, const char *who, const char *when, const char *category,
                     const char *loc)
{
    char *s;
    if (asprintf(&s, "{\"id\":\"%s\",\"type\":\"call\",\"source\":\"police\",\"occurred_at\":"
                     "\"%s\",\"caller\":\"%s\",\"category\":\"%s\"%s%s}",
                 id, when, who, category, loc ? ",\"location\":" : "", loc ? loc : "") < 0)
        abort();
    return s;
}

/* The alert of panel whose key holds value. */
static uint64_t alert_of(struct fx *f, const char *panel, const char *value)
{
    msgpack_object r = tu_call(&f->c, "{\"op\":\"alerts\",\"panel\":\"%s\"}", panel);
    const msgpack_object *a = tu_get(&r, "alerts");
    for (uint32_t i = 0; a && i < a->via.array.size; i++) {
        const msgpack_object *key = tu_get(&a->via.array.ptr[i], "key");
        for (uint32_t k = 0; key && k < key->via.map.size; k++)
            if (key->via.map.ptr[k].val.type == MSGPACK_OBJECT_STR &&
                key->via.map.ptr[k].val.via.str.size == strlen(value) &&
                !memcmp(key->via.map.ptr[k].val.via.str.ptr, value, strlen(value)))
                return (uint64_t)tu_int(&a->via.array.ptr[i], "id");
    }
    fail_msg("no %s alert for %s: %s", panel, value, tu_dump(&r));
    return 0;
}

#define NORTH "{\"lsoa\":\"E01000916\"}"
#define CASTLE "{\"ward\":\"Castle\"}"

/* Calls (ASB unless said), by caller:
 *   C1  M0 days 2, 9, 16, in the north           -> a repeat caller in M0 (3rd call)
 *   C4  M0-1 days 5, 10, 15; M0 day 20           -> in M0: 4 calls within 168 days
 *   C2  M0+1 days 1..10                          -> repeat in M0+1 (day 3), persistent (day 10)
 *   C3  M0-12 days 1, 2, 3                       -> last year's repeat caller in M0-12
 *   C5  M0 day 3, category crime                 -> counts nowhere
 * calls:          M0 3+1 = 4, M0+1 10, M0+2 0: total 14; last year 3, 0, 0: 3; change 11;
 *                 target 10 (down, amber 2): 14 > 12 red; 14 against 3: worse.
 * repeat callers: M0 2 (C1, C4), M0+1 1 (C2): 3; last year 1 (C3) 0 0: 1; change 2; worse.
 * persistent:     0 1 0: 1; last year 0.
 * Hate incidents: H1 M0 north, H2 M0 ward Castle (south), H3 M0+1 a place id only (area not
 * recorded), H4 M0+1 north, H5 M0-11 Castle:
 *   partnership 2 2 0 | 4 ; 0 1 0 | 1 ; change 3; north 1 1 0 | 2; south 1 0 0 | 1 ; 0 1 0 | 1.
 * MARAC: D1 V1 high risk M0 day 5 (marac.high-risk), accepted; then D2 V1 standard M0+1 day 3
 * (marac.repeat: within 12 months of the accepted referral); D3 V2 high M0+1 day 12.
 *   cases (distinct victims) 1 2 0, total 2 (V1 counted once); repeats 0 1 0 | 1;
 *   rate 0.0 50.0 - | 50.0: outside 24-40 by more than 4: red.
 *   accepted: the decision is recorded now, in M0+2: 0 0 1 | 1.
 * Community MARAC (rule community-marac.repeat-caller, 3 and 10 calls in 168 days): C1's
 * alert (M0), C2's two (3rd and 10th call, M0+1); C4's came in M0-1, C3's last year.
 *   alerts 1 2 0 | 3 ; last year 1 0 0 | 1. C1's accepted now, long before its 28-day
 *   deadline; C2's undecided and not due: in time 100.0 - - | 100.0 (green); days to
 *   decision 0.0 - - | 0.0. */
static void feed(struct fx *f)
{
    char *e[40];
    size_t n = 0;
    e[n++] = ev_call("c1a", "C1", day(f, 0, 2), "asb", NORTH);
    e[n++] = ev_call("c1b", "C1", day(f, 0, 9), "asb", NORTH);
    e[n++] = ev_call("c1c", "C1", day(f, 0, 16), "asb", NORTH);
    e[n++] = ev_call("c4a", "C4", day(f, -1, 5), "asb", NULL);
    e[n++] = ev_call("c4b", "C4", day(f, -1, 10), "asb", NULL);
    e[n++] = ev_call("c4c", "C4", day(f, -1, 15), "asb", NULL);
    e[n++] = ev_call("c4d", "C4", day(f, 0, 20), "asb", NULL);
    for (int d = 1; d <= 10; d++) {
        char id[8];
        snprintf(id, sizeof id, "c2-%d", d);
        e[n++] = ev_call(id, "C2", day(f, 1, d), "asb", NULL);
    }
    e[n++] = ev_call("c3a", "C3", day(f, -12, 1), "asb", NULL);
    e[n++] = ev_call("c3b", "C3", day(f, -12, 2), "asb", NULL);
    e[n++] = ev_call("c3c", "C3", day(f, -12, 3), "asb", NULL);
    e[n++] = ev_call("c5", "C5", day(f, 0, 3), "crime", NULL);
    const char *hate[][3] = {{"h1", "0", NORTH}, {"h2", "0", CASTLE},
                             {"h3", "1", "{\"id\":\"UPRN-1\"}"}, {"h4", "1", NORTH},
                             {"h5", "-11", CASTLE}};
    for (size_t i = 0; i < 5; i++)
        if (asprintf(&e[n++], "{\"id\":\"%s\",\"type\":\"hate.incident\",\"source\":\"police\","
                              "\"occurred_at\":\"%s\",\"strand\":\"race\",\"location\":%s}",
                     hate[i][0], day(f, atoi(hate[i][1]), 4 + (int)i), hate[i][2]) < 0)
            abort();
    if (asprintf(&e[n++], "{\"id\":\"d1\",\"type\":\"da.incident\",\"source\":\"police\","
                          "\"occurred_at\":\"%s\",\"victim\":\"V1\",\"risk\":\"high\"}",
                 day(f, 0, 5)) < 0)
        abort();
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += strlen(e[i]) + 1;
    char *all = calloc(1, len + 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            strcat(all, ",");
        strcat(all, e[i]);
        free(e[i]);
    }
    publish(f, all, 0);
    free(all);
    /* The panels decide: V1's MARAC referral accepted; C1's community MARAC alert. */
    msgpack_object r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%llu,\"status\":\"accepted\"}",
                               (unsigned long long)alert_of(f, "marac", "V1"));
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":%llu,\"status\":\"accepted\"}",
                (unsigned long long)alert_of(f, "community-marac", "C1"));
    assert_int_equal(tu_bool(&r, "ok"), 1);
    char *b;
    if (asprintf(&b, "{\"id\":\"d2\",\"type\":\"da.incident\",\"source\":\"police\","
                     "\"occurred_at\":\"%s\",\"victim\":\"V1\",\"risk\":\"standard\"},"
                     "{\"id\":\"d3\",\"type\":\"da.incident\",\"source\":\"police\","
                     "\"occurred_at\":\"%s\",\"victim\":\"V2\",\"risk\":\"high\"}",
                 day(f, 1, 3), day(f, 1, 12)) < 0)
        abort();
    publish(f, b, 40);
    free(b);
}

/* ---- tests -------------------------------------------------------------- */

static void test_figures_by_hand(void **state)
{
    struct fx *f = *state;
    /* A log with nothing counted yet: zeros, not an error. */
    msgpack_object r = report(f, ",\"suppress\":false");
    ROW(&r, "calls", "0 0 0 | 0 ; 0 0 0 | 0 ; 0 green same");
    ROW(&r, "marac.rate", "- - - | - ; - - - | - ; - - -");
    ROW(&r, "cm.in-time", "- - - | - ; - - - | - ; - - -");
    feed(f);
    r = report(f, ",\"suppress\":false");
    /* Decisions count in the month they are recorded: a run that crossed a
     * London month boundary since setup cannot be checked against M0+2. */
    int y;
    unsigned m;
    csph_london_month_of((int64_t)time(NULL) * 1000, &y, &m);
    if (csph_month_ordinal(y, m) != csph_month_ordinal(f->y0, (unsigned)f->m0) + 2)
        skip();
    assert_int_equal(tu_bool(&r, "suppressed"), 0);
    assert_string_equal(tu_str(&r, "months.0"), mon(f, 0));
    assert_string_equal(tu_str(&r, "last_year_months.2"), mon(f, -10));
    ROW(&r, "calls", "4 10 0 | 14 ; 3 0 0 | 3 ; 11 red worse");
    assert_int_equal(tu_int(indicator(&r, "calls"), "area_not_recorded"), 11);
    ROW(&r, "repeat-callers", "2 1 0 | 3 ; 1 0 0 | 1 ; 2 - worse");
    ROW(&r, "persistent-callers", "0 1 0 | 1 ; 0 0 0 | 0 ; 1 - up");
    ROW(&r, "hate", "2 2 0 | 4 ; 0 1 0 | 1 ; 3 - up");
    assert_int_equal(tu_int(indicator(&r, "hate"), "area_not_recorded"), 1);
    ROW(&r, "marac.cases", "1 2 0 | 2 ; 0 0 0 | 0 ; 2 - better");
    ROW(&r, "marac.repeats", "0 1 0 | 1 ; 0 0 0 | 0 ; 1 - up");
    ROW(&r, "marac.rate", "0.0 50.0 - | 50.0 ; - - - | - ; - red -");
    ROW(&r, "marac.accepted", "0 0 1 | 1 ; 0 0 0 | 0 ; 1 - up");
    ROW(&r, "cm.alerts", "1 2 0 | 3 ; 1 0 0 | 1 ; 2 - up");
    ROW(&r, "cm.in-time", "100.0 - - | 100.0 ; - - - | - ; - green -");
    ROW(&r, "cm.days", "0.0 - - | 0.0 ; - - - | - ; - - -");
}

static void test_suppression(void **state)
{
    struct fx *f = *state;
    feed(f);
    msgpack_object r = report(f, "");
    assert_int_equal(tu_bool(&r, "suppressed"), 1);
    assert_int_equal(tu_int(&r, "suppress_below"), 5);
    /* 4 is primary; the total 14 would give it away, so the smallest
     * shown month (0) goes too; 4 + 0 is still under 5: then 10. */
    ROW(&r, "calls", "<5 * * | 14 ; <5 0 0 | <5 ; * red *");
    /* every month under 5, the total too: nothing to work out */
    ROW(&r, "repeat-callers", "<5 <5 0 | <5 ; <5 0 0 | <5 ; * - *");
    ROW(&r, "hate", "<5 <5 0 | <5 ; 0 <5 0 | <5 ; * - *");
    assert_string_equal(tu_str(indicator(&r, "hate"), "area_not_recorded"), "<5");
    /* a rate on a hidden count is hidden; on a shown zero denominator, none */
    ROW(&r, "marac.cases", "<5 <5 0 | <5 ; 0 0 0 | 0 ; * - *");
    ROW(&r, "marac.rate", "* * - | * ; - - - | - ; * * *");
    /* a share on fewer than 5 alerts is hidden, and so is a median: "*"
     * ("<5" beside a percentage or a number of days would mislead) */
    ROW(&r, "cm.in-time", "* - - | * ; - - - | - ; * * *");
    ROW(&r, "cm.days", "* - - | * ; - - - | - ; * - *");
}

static void test_areas(void **state)
{
    struct fx *f = *state;
    feed(f);
    msgpack_object r = report(f, ",\"area\":\"north\",\"suppress\":false");
    assert_string_equal(tu_str(&r, "area.name"), "north");
    ROW(&r, "calls", "3 0 0 | 3 ; 0 0 0 | 0 ; 3 green worse");
    ROW(&r, "repeat-callers", "1 0 0 | 1 ; 0 0 0 | 0 ; 1 - worse");
    ROW(&r, "hate", "1 1 0 | 2 ; 0 0 0 | 0 ; 2 - up");
    /* an area report has no "area not recorded": those are partnership-wide only */
    assert_null(tu_get(indicator(&r, "hate"), "area_not_recorded"));
    r = report(f, ",\"area\":\"south\",\"suppress\":false");
    ROW(&r, "hate", "1 0 0 | 1 ; 0 1 0 | 1 ; 0 - same");
    ROW(&r, "calls", "0 0 0 | 0 ; 0 0 0 | 0 ; 0 green same");
}

static void test_explain(void **state)
{
    struct fx *f = *state;
    feed(f);
    char extra[128];
    snprintf(extra, sizeof extra, ",\"explain\":\"repeat-callers\",\"month\":\"%s\"", mon(f, 0));
    msgpack_object r = report(f, extra);
    assert_int_equal(tu_int(&r, "value"), 2);
    /* C1 with calls 1-3 (the feed's events 0-2), C4 with its four (3-6), in person order */
    assert_string_equal(tu_str(&r, "items.0.person"), "C1");
    assert_int_equal(tu_get(&r, "items.0.events")->via.array.size, 3);
    assert_int_equal(tu_int(&r, "items.0.events.2"), (int64_t)f->seq[2]);
    assert_string_equal(tu_str(&r, "items.1.person"), "C4");
    assert_int_equal(tu_get(&r, "items.1.events")->via.array.size, 4);
    assert_int_equal(tu_int(&r, "items.1.events.0"), (int64_t)f->seq[3]);
    snprintf(extra, sizeof extra, ",\"explain\":\"hate\",\"month\":\"%s\"", mon(f, 1));
    r = report(f, extra);
    assert_int_equal(tu_get(&r, "items")->via.array.size, 2);
    assert_string_equal(tu_str(&r, "items.0.type"), "hate.incident");
    snprintf(extra, sizeof extra, ",\"explain\":\"marac.cases\",\"month\":\"%s\"", mon(f, 1));
    r = report(f, extra);
    assert_int_equal(tu_int(&r, "value"), 2);
    assert_string_equal(tu_str(&r, "items.0.rule"), "marac.repeat");
    assert_int_equal(tu_int(&r, "items.0.raised_by"), (int64_t)f->seq[40]);
    /* A ratio is explained by its parts. */
    r = tu_call(&f->c, "{\"op\":\"report\",\"from\":\"%s\",\"to\":\"%s\",\"explain\":"
                       "\"marac.rate\",\"month\":\"%s\"}",
                mon(f, 0), mon(f, 2), mon(f, 1));
    assert_string_equal(tu_str(&r, "error.code"), "bad_request");
    assert_non_null(strstr(tu_str(&r, "error.message"), "marac.repeats"));
    /* Every run is in the log. */
    r = tu_call(&f->c, "{\"op\":\"replay\",\"types\":[\"audit.access\"]}");
    const msgpack_object *evs = tu_get(&r, "events");
    assert_true(evs->via.array.size >= 4);
    assert_string_equal(tu_str(&evs->via.array.ptr[0], "event.op"), "report");
    assert_string_equal(tu_str(&evs->via.array.ptr[0], "event.role"), "none");
    assert_non_null(strstr(tu_str(&evs->via.array.ptr[0], "event.query"), "repeat-callers"));
}

static void expect_error(struct fx *f, const char *req, const char *code, const char *field,
                         const char *words)
{
    msgpack_object r = tu_call(&f->c, "%s", req);
    if (tu_bool(&r, "ok") != 0 || strcmp(tu_str(&r, "error.code"), code) ||
        (field && (!tu_str(&r, "error.field") || strcmp(tu_str(&r, "error.field"), field))) ||
        !strstr(tu_str(&r, "error.message"), words))
        fail_msg("%s: want %s (%s) '%s', got %s", req, code, field ? field : "-", words,
                 tu_dump(&r));
}

static void test_bad_input(void **state)
{
    struct fx *f = *state;
    expect_error(f, "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2025-03\"}", "bad_request",
                 "to", "before it starts");
    expect_error(f, "{\"op\":\"report\",\"from\":\"2025-13-01\",\"to\":\"2026-03-31\"}",
                 "bad_request", "from", "YYYY-MM-DD");
    expect_error(f, "{\"op\":\"report\",\"from\":\"2025-02-30\",\"to\":\"2026-03-31\"}",
                 "bad_request", "from", "2025-02-30");
    expect_error(f, "{\"op\":\"report\",\"to\":\"2026-03-31\"}", "bad_request", "from", "from");
    expect_error(f, "{\"op\":\"report\",\"from\":\"2020-01\",\"to\":\"2026-03\"}", "bad_request",
                 "to", "at most 36 months");
    expect_error(f, "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\",\"area\":\"mars\"}",
                 "bad_request", "area", "no area 'mars'");
    expect_error(f,
                 "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\",\"explain\":\"nope\","
                 "\"month\":\"2025-05\"}",
                 "bad_request", "explain", "no indicator 'nope'");
    expect_error(f,
                 "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\",\"explain\":\"hate\","
                 "\"month\":\"2027-05\"}",
                 "bad_request", "month", "within the period");
    expect_error(f, "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\",\"explain\":\"hate\"}",
                 "bad_request", "month", "needs both");
    expect_error(f, "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\",\"as_of\":99999}",
                 "not_found", "as_of", "beyond the log's last seq");
    expect_error(f, "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\",\"colour\":1}",
                 "bad_request", "colour", "takes no field 'colour'");
    expect_error(f, "{\"op\":\"report\",\"from\":\"2025-04\",\"to\":\"2026-03\",\"suppress\":1}",
                 "bad_request", "suppress", "true or false");
}

/* Whether the hub's log holds words (read whole). */
static int log_has(const struct fx *f, const char *words)
{
    FILE *fp = fopen(f->hub.log, "r");
    if (!fp)
        return 0;
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, fp);
    fclose(fp);
    text[n] = 0;
    int has = strstr(text, words) != NULL;
    free(text);
    return has;
}

/* SIGHUP reads the indicator and area files again: new ones are in force
 * (a new digest, a new indicator, a new area); a bad file is refused with
 * file:line in the log and the ones in force stay. */
static void test_reload_on_sighup(void **state)
{
    struct fx *f = *state;
    msgpack_object r = report(f, "");
    char d1[32];
    snprintf(d1, sizeof d1, "%s", tu_str(&r, "indicators_digest"));
    size_t n1 = tu_get(&r, "indicators")->via.array.size;
    char *more = NULL;
    if (asprintf(&more, "%s  - {name: hate.again, measure: events, count: [{type: "
                        "hate.incident}]}\n", INDICATORS) < 0)
        abort();
    write_file(f->ind, more);
    free(more);
    FILE *fp = fopen(f->areas, "a");
    fputs("  - name: east\n    title: East locality\n    lsoa: [E01000003]\n", fp);
    fclose(fp);
    kill(f->hub.pid, SIGHUP);
    int64_t deadline = tu_now_ms() + 10000;
    do
        r = report(f, "");
    while (!strcmp(tu_str(&r, "indicators_digest"), d1) && tu_now_ms() < deadline);
    assert_string_not_equal(tu_str(&r, "indicators_digest"), d1);
    assert_int_equal(tu_get(&r, "indicators")->via.array.size, n1 + 1);
    assert_non_null(indicator(&r, "hate.again"));
    r = report(f, ",\"area\":\"east\"");
    assert_string_equal(tu_str(&r, "area.title"), "East locality");
    char d2[32];
    snprintf(d2, sizeof d2, "%s", tu_str(&r, "indicators_digest"));

    /* a bad indicator file: refused, file:line logged, the ones in force stay */
    write_file(f->ind, "indicators:\n  - {name: x, measure: nonsense}\n");
    kill(f->hub.pid, SIGHUP);
    deadline = tu_now_ms() + 10000;
    while (!log_has(f, "indicator and area reload refused") && tu_now_ms() < deadline)
        (void)tu_call(&f->c, "{\"op\":\"ping\"}"); /* a round trip: the hub's pace */
    assert_true(log_has(f, "indicator and area reload refused"));
    char where[700];
    snprintf(where, sizeof where, "%s:2:", f->ind);
    assert_true(log_has(f, where));
    r = report(f, ",\"area\":\"east\"");
    assert_string_equal(tu_str(&r, "indicators_digest"), d2);
    assert_non_null(indicator(&r, "hate.again"));

    /* a bad area file likewise */
    write_file(f->ind, INDICATORS);
    fp = fopen(f->areas, "a");
    fputs("  - name: west\n    colour: blue\n", fp);
    fclose(fp);
    kill(f->hub.pid, SIGHUP);
    deadline = tu_now_ms() + 10000;
    snprintf(where, sizeof where, "%s:", f->areas);
    while (!log_has(f, where) && tu_now_ms() < deadline)
        (void)tu_call(&f->c, "{\"op\":\"ping\"}");
    assert_true(log_has(f, where));
    r = report(f, "");
    assert_string_equal(tu_str(&r, "indicators_digest"), d2); /* neither file taken */
}

/* Run csphub with args (NULL-terminated) and capture stdout into *out. */
static int cli(struct fx *f, char **out, size_t *len, ...)
{
    char cmd[4096];
    size_t n = (size_t)snprintf(cmd, sizeof cmd, "%s --hub %s", tu_env("CSPH_CLI", "csphub"),
                                f->hub.endpoint);
    va_list ap;
    va_start(ap, len);
    const char *a;
    while ((a = va_arg(ap, const char *)))
        n += (size_t)snprintf(cmd + n, sizeof cmd - n, " '%s'", a);
    va_end(ap);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    *out = NULL;
    *len = 0;
    size_t cap = 0;
    char buf[8192];
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, p)) > 0) {
        if (*len + got + 1 > cap) {
            cap = (*len + got + 1) * 2;
            *out = realloc(*out, cap);
        }
        memcpy(*out + *len, buf, got);
        *len += got;
    }
    if (*out)
        (*out)[*len] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_deterministic_and_html(void **state)
{
    struct fx *f = *state;
    feed(f);
    char asof[32];
    msgpack_object r = tu_call(&f->c, "{\"op\":\"ping\"}");
    snprintf(asof, sizeof asof, "%lld", (long long)tu_int(&r, "last_seq"));
    char *csv1, *csv2, *json1, *json2, *html;
    size_t l1, l2, j1, j2, hl;
    assert_int_equal(cli(f, &csv1, &l1, "report", "--from", mon(f, 0), "--to", mon(f, 2),
                         "--as-of", asof, "--format", "csv", NULL), 0);
    assert_int_equal(cli(f, &json1, &j1, "report", "--from", mon(f, 0), "--to", mon(f, 2),
                         "--as-of", asof, "--format", "json", NULL), 0);
    /* More events, more access records: the same seq gives the same bytes. */
    char *late = ev_call("late", "C9", day(f, 0, 1), "asb", NULL);
    publish(f, late, 50);
    free(late);
    assert_int_equal(cli(f, &csv2, &l2, "report", "--from", mon(f, 0), "--to", mon(f, 2),
                         "--as-of", asof, "--format", "csv", NULL), 0);
    assert_int_equal(cli(f, &json2, &j2, "report", "--from", mon(f, 0), "--to", mon(f, 2),
                         "--as-of", asof, "--format", "json", NULL), 0);
    assert_true(l1 > 200 && l1 == l2 && !memcmp(csv1, csv2, l1));
    assert_true(j1 > 200 && j1 == j2 && !memcmp(json1, json2, j1));
    assert_non_null(strstr(csv1, "\r\ncalls,calls,count,<5,*,*,"));
    /* ... and the report as of now counts the late call (5 in M0). */
    char *now;
    size_t nl;
    assert_int_equal(cli(f, &now, &nl, "report", "--from", mon(f, 0), "--to", mon(f, 2),
                         "--format", "csv", "--unsuppressed", NULL), 0);
    assert_non_null(strstr(now, "\r\ncalls,calls,count,5,10,0,"));
    /* The HTML page, opened in a real browser. */
    assert_int_equal(cli(f, &html, &hl, "report", "--from", mon(f, 0), "--to", mon(f, 2),
                         "--as-of", asof, "--format", "html", NULL), 0);
    char page[700], link[64] = "";
    snprintf(page, sizeof page, "%s/report.html", f->dir);
    FILE *fp = fopen(page, "w");
    assert_non_null(fp);
    fwrite(html, 1, hl, fp);
    fclose(fp);
    const char *lk = strstr(json1, "\"link\":\"");
    assert_non_null(lk);
    snprintf(link, sizeof link, "%.32s", lk + 8);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/report_html.py %s report-screenshot.png "
                              "%s %s 11",
             tu_env("CSPH_SOURCE_DIR", "."), page, asof, link);
    int st = system(cmd);
    if (!WIFEXITED(st) || WEXITSTATUS(st))
        fail_msg("the HTML report failed in Chromium (%s)", cmd);
    struct stat sb;
    assert_int_equal(stat("report-screenshot.png", &sb), 0);
    assert_true(sb.st_size > 10000);
    free(csv1);
    free(csv2);
    free(json1);
    free(json2);
    free(now);
    free(html);
}

/* A client that leaves while its report is computed: the hub lets go of
 * it (its connection is freed before the worker is done) and goes on. */
static void test_client_leaves_mid_report(void **state)
{
    struct fx *f = *state;
    for (int b = 0; b < 20; b++) {
        char *batch = calloc(1, 1000 * 220 + 16);
        size_t len = 0;
        for (int i = 0; i < 1000; i++)
            len += (size_t)sprintf(batch + len, "%s{\"id\":\"x%d-%d\",\"type\":\"call\","
                                   "\"source\":\"police\",\"occurred_at\":\"%s\","
                                   "\"caller\":\"P-%d\",\"category\":\"asb\"}",
                                   i ? "," : "", b, i, day(f, 0, 1 + i % 28), i % 300);
        msgpack_object r = tu_call(&f->c, "{\"op\":\"publish\",\"events\":[%s]}", batch);
        assert_int_equal(tu_bool(&r, "ok"), 1);
        free(batch);
    }
    for (int k = 0; k < 4; k++) {
        struct tu_client gone;
        tu_client_open(&gone, f->hub.endpoint, ZMQ_DEALER);
        assert_int_equal(tu_send(&gone, "{\"op\":\"report\",\"from\":\"%s\",\"to\":\"%s\"}",
                                 mon(f, 0), mon(f, 2)),
                         0);
        tu_client_close(&gone);
    }
    /* Still serving, and a report for someone who stayed. The abandoned
     * reports may still hold the hub's report slots: until they end, the
     * answer is busy (retryable), never anything else. */
    int64_t deadline = tu_now_ms() + 60000;
    msgpack_object r;
    for (;;) {
        r = tu_call(&f->c, "{\"op\":\"report\",\"from\":\"%s\",\"to\":\"%s\","
                           "\"suppress\":false}",
                    mon(f, 0), mon(f, 2));
        if (tu_bool(&r, "ok") == 1)
            break;
        assert_string_equal(tu_str(&r, "error.code"), "busy");
        if (tu_now_ms() > deadline)
            fail_msg("the abandoned reports still hold the hub after 60 s");
    }
    ROW(&r, "calls", "20000 0 0 | 20000 ; 0 0 0 | 0 ; 20000 red worse");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_figures_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_suppression, setup, teardown),
        cmocka_unit_test_setup_teardown(test_areas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deterministic_and_html, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client_leaves_mid_report, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_on_sighup, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
