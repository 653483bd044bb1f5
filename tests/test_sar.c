/* test_sar: the subject access export (hub/sar.h, hub/access.h,
 * common/sarpack.h; issue 17 point 5). Unit tests of what a read's reply
 * returned, the ranges text, and the review pack and disclosure copy made
 * of an export; then end to end against the real csphubd over CURVE: a
 * person with events on marac, Channel and MAPPA (restricted), reads by a
 * MARAC member and the Channel chair, the dpo's export (the hub's reply,
 * then `csphub sar` and its four files), every refusal, an export that
 * takes several pages; and an erasure that rewrites the reads' records
 * whose query named the person (issue 17 point 3: the reference replaced
 * by the erasure's id, the log still verified by the hub and by
 * scripts/check-chain.py). */
#define _GNU_SOURCE
#include "testutil.h"
#include "testutil_curve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zmq.h>

#include "access.h"
#include "sarpack.h"

/* ---- unit: what a reply returned ----------------------------------------- */

static void test_collect(void **state)
{
    (void)state;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, "{\"ok\":true,\"alert\":{\"id\":7,\"evidence\":[1,2]},"
                       "\"decisions\":[{\"seq\":30}],\"events\":[{\"seq\":5},{\"seq\":3},"
                       "{\"seq\":4},{\"seq\":5}],\"alerts\":[{\"id\":9},{\"id\":7}],"
                       "\"next\":12}");
    struct hub_u64set ev = {0}, al = {0};
    assert_int_equal(hub_access_collect(sb.data, sb.size, &ev, &al), 0);
    assert_int_equal(ev.n, 4); /* 3, 4, 5, 30: unique, sorted */
    assert_int_equal(ev.v[0], 3);
    assert_int_equal(ev.v[3], 30);
    assert_int_equal(al.n, 2);
    assert_int_equal(al.v[0], 7);
    assert_int_equal(al.v[1], 9);
    msgpack_sbuffer out;
    msgpack_sbuffer_init(&out);
    size_t from = 0;
    hub_access_ranges(&ev, &from, 1000, &out);
    assert_int_equal(from, 4);
    assert_int_equal(out.size, strlen("3-5,30"));
    assert_memory_equal(out.data, "3-5,30", out.size);
    /* a small room: one range at a time, never none */
    out.size = 0;
    from = 0;
    hub_access_ranges(&ev, &from, 2, &out);
    assert_int_equal(from, 3);
    assert_memory_equal(out.data, "3-5", 3);
    hub_u64set_free(&ev);
    hub_u64set_free(&al);
    /* not a map */
    assert_int_equal(hub_access_collect("\x01", 1, &ev, &al), -1);
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&out);
}

static int sum(void *ctx, uint64_t v)
{
    *(uint64_t *)ctx += v;
    return 0;
}

static void test_parse(void **state)
{
    (void)state;
    uint64_t s = 0;
    assert_int_equal(hub_access_parse("3-5,30", 6, sum, &s), 0);
    assert_int_equal(s, 3 + 4 + 5 + 30);
    static const char *const bad[] = {"", ",", "3-", "5-3", "1,,2", "1,", "x", "1-2-3", "7 8"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        s = 0;
        if (strlen(bad[i]) && hub_access_parse(bad[i], strlen(bad[i]), sum, &s) != -1)
            fail_msg("'%s' parsed", bad[i]);
    }
    /* a range too long to be a reply's */
    assert_int_equal(hub_access_parse("1-20000000", 10, sum, &s), -1);
}

static void test_redact_query(void **state)
{
    (void)state;
    msgpack_sbuffer in, out;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&out);
    tu_json_to_mp(&in, "{\"id\":\"access-7\",\"type\":\"audit.access\",\"identity\":\"S-1x\","
                       "\"query\":\"{\\\"op\\\":\\\"person\\\",\\\"ref\\\":\\\"S-1\\\",\\\"note\\\":"
                       "\\\"S-10 S-1,S-1\\\"}\",\"returned\":3}");
    int n = 0;
    assert_int_equal(hub_access_redact_query(in.data, in.size, "S-1", 3, "erasure-9", &out, &n),
                     0);
    assert_int_equal(n, 3);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(out.data, out.size, &off, &zone, &o), MSGPACK_UNPACK_SUCCESS);
    assert_string_equal(tu_str(&o, "query"),
                        "{\"op\":\"person\",\"ref\":\"erasure-9\",\"note\":\"S-10 erasure-9,"
                        "erasure-9\"}");
    assert_string_equal(tu_str(&o, "identity"), "S-1x"); /* only the query */
    assert_int_equal(tu_int(&o, "returned"), 3);
    assert_int_equal(hub_access_redact_query("\x01", 1, "S-1", 3, "e", &out, &n), -1);
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&in);
    msgpack_sbuffer_destroy(&out);
}

/* ---- unit: review pack and disclosure ------------------------------------ */

static const char *PAGE1 =
    "{\"ok\":true,\"request\":40,\"person\":\"S-1\",\"counts\":{\"events\":3,\"alerts\":2,"
    "\"reads\":2},\"restricted_panels\":[\"channel\",\"mappa\"],"
    "\"events\":[{\"seq\":2,\"received_at\":\"2026-01-01T10:00:00Z\",\"type\":\"da.incident\","
    "\"event\":{\"id\":\"e1\",\"victim\":\"S-1\",\"perpetrator\":\"T-2\",\"risk\":\"high\"},"
    "\"others\":[\"perpetrator\"],\"withhold\":[{\"code\":\"third_party\",\"reason\":\"r\"}]},"
    "{\"seq\":3,\"received_at\":\"2026-01-02T10:00:00Z\",\"type\":\"concern\",\"event\":{"
    "\"id\":\"e2\",\"subject\":\"S-1\",\"kind\":\"radicalisation\"},\"others\":[],"
    "\"withhold\":[{\"code\":\"restricted_panel\",\"reason\":\"r\"}]}],"
    "\"events_next\":3,\"events_end\":false,\"alerts\":[],\"alerts_next\":0,"
    "\"alerts_end\":false,\"reads\":[],\"reads_next\":0,\"reads_end\":false,\"end\":false}";
static const char *PAGE2 =
    "{\"ok\":true,\"request\":40,\"person\":\"S-1\",\"counts\":{},\"restricted_panels\":[],"
    "\"events\":[{\"seq\":9,\"received_at\":\"2026-01-03T10:00:00Z\",\"type\":\"call\","
    "\"event\":{\"id\":\"e3\",\"caller\":\"S-1\",\"note\":\"with T-2 and T-20\"},\"others\":[],"
    "\"withhold\":[]}],\"alerts\":[{\"id\":1,\"panel\":\"marac\",\"alert\":{\"id\":1,"
    "\"rule\":\"marac.high-risk\",\"key\":{\"victim\":\"S-1\",\"perpetrator\":\"T-3\"},"
    "\"reason\":\"high risk for S-1 and T-3\",\"evidence\":[2,3],\"status\":\"open\"},"
    "\"decisions\":[{\"seq\":20,\"received_at\":\"x\",\"event\":{\"status\":\"accepted\","
    "\"by\":\"ann.smith\",\"note\":\"T-2 is known\"}}],\"withhold\":[{\"code\":\"staff\","
    "\"reason\":\"r\"}]},{\"id\":2,\"panel\":\"channel\",\"alert\":{\"id\":2,\"key\":{"
    "\"subject\":\"S-1\"}},\"decisions\":[],\"withhold\":[{\"code\":\"restricted_panel\","
    "\"reason\":\"r\"}]}],\"reads\":[{\"access\":{\"seq\":30,\"received_at\":\"2026-02-01T09:00:00Z\","
    "\"event\":{\"identity\":\"marac-coord\",\"role\":\"panel\",\"op\":\"person\","
    "\"query\":\"{\\\"op\\\":\\\"person\\\",\\\"panel\\\":\\\"marac\\\",\\\"ref\\\":\\\"S-1\\\"}\"}},"
    "\"events\":[2,3],\"alerts\":[1],\"seq\":30,\"restricted\":false,\"withhold\":[]},"
    "{\"access\":{\"seq\":31,\"received_at\":\"y\",\"event\":{\"identity\":\"channel-chair\","
    "\"role\":\"panel\",\"op\":\"alerts\",\"query\":\"{}\"}},\"events\":[],\"alerts\":[2],"
    "\"seq\":31,\"restricted\":true,\"withhold\":[{\"code\":\"restricted_panel\","
    "\"reason\":\"r\"}]}],\"end\":true}";

static json_t *merged_pages(void)
{
    json_t *m = NULL, *p1 = json_loads(PAGE1, 0, NULL), *p2 = json_loads(PAGE2, 0, NULL);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_int_equal(csph_sar_merge(&m, p1), 0);
    assert_int_equal(csph_sar_merge(&m, p2), 0);
    json_t *bad = json_pack("{s:b}", "ok", 1);
    assert_int_equal(csph_sar_merge(&m, bad), -1);
    json_decref(bad);
    json_decref(p1);
    json_decref(p2);
    return m;
}

static char *html_of(const json_t *pack)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    csph_sar_html(f, pack);
    fclose(f);
    return buf;
}

static void test_pack(void **state)
{
    (void)state;
    json_t *m = merged_pages();
    assert_int_equal(json_array_size(json_object_get(m, "events")), 3);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m, "counts"), "events")),
                     3); /* the first page's */
    json_t *r = csph_sar_review(m, "2026-03-01T00:00:00Z");
    char *rj = json_dumps(r, JSON_COMPACT);
    /* the review keeps everything, and says who is who */
    assert_non_null(strstr(rj, "\"T-2\""));
    assert_non_null(strstr(rj, "radicalisation"));
    assert_non_null(strstr(rj, "channel-chair"));
    assert_non_null(strstr(rj, "{\"ref\":\"T-2\",\"placeholder\":\"third-party-1\"}"));
    assert_non_null(strstr(rj, "{\"ref\":\"T-3\",\"placeholder\":\"third-party-2\"}"));
    char *rh = html_of(r);
    assert_non_null(strstr(rh, "restricted_panel"));
    assert_non_null(strstr(rh, "marac-coord"));
    assert_null(strstr(rh, "<script"));
    assert_null(strstr(rh, "http"));
    json_t *d = csph_sar_disclosure(m, "2026-03-01T00:00:00Z");
    char *dj = json_dumps(d, JSON_COMPACT);
    /* third parties replaced, the same one the same way, whole words only */
    assert_null(strstr(dj, "T-2\""));
    assert_null(strstr(dj, "T-3"));
    assert_non_null(strstr(dj, "\"perpetrator\":\"third-party-1\""));
    assert_non_null(strstr(dj, "with third-party-1 and T-20"));
    if (!strstr(dj, "\"note\":\"third-party-1 is known\""))
        fail_msg("%s", dj);
    assert_non_null(strstr(dj, "high risk for S-1 and third-party-2"));
    /* restricted material: no trace, no count, no panel name */
    assert_null(strstr(dj, "radicalisation"));
    assert_null(strstr(dj, "channel"));
    assert_null(strstr(dj, "mappa"));
    assert_null(strstr(dj, "restricted"));
    assert_null(strstr(dj, "\"evidence\":[2,3]"));
    assert_non_null(strstr(dj, "\"evidence\":[2]"));
    /* readers by role and organisation; no staff name, no query */
    assert_null(strstr(dj, "marac-coord"));
    assert_null(strstr(dj, "ann.smith"));
    assert_null(strstr(dj, "query"));
    assert_non_null(strstr(dj, "\"role\":\"panel\",\"organisation\":\"marac panel\""));
    assert_int_equal(json_array_size(json_object_get(d, "reads")), 1);
    assert_non_null(strstr(dj, "\"events\":[2],\"alerts\":[1]"));
    char *dh = html_of(d);
    assert_null(strstr(dh, "channel"));
    assert_null(strstr(dh, "T-2<"));
    assert_non_null(strstr(dh, "third-party-1"));
    free(rj);
    free(rh);
    free(dj);
    free(dh);
    json_decref(r);
    json_decref(d);
    json_decref(m);
}

/* ---- end to end over CURVE ----------------------------------------------- */

static const char *IDS =
    "clients:\n"
    "  - {name: police, role: agency, key_file: keys/police.pub,\n"
    "     types: [da.incident, concern, referral]}\n"
    "  - {name: marac-coord, role: panel, key_file: keys/marac.pub, panels: [marac]}\n"
    "  - {name: channel-chair, role: panel, key_file: keys/channel.pub, panels: [channel]}\n"
    "  - {name: scrutiny, role: auditor, key_file: keys/auditor.pub}\n"
    "  - {name: it-officer, role: admin, key_file: keys/admin.pub}\n"
    "  - {name: dpo-office, role: dpo, key_file: keys/dpo.pub}\n";

static int curve_setup(void **state)
{
    static const char *const names[] = {"police", "marac", "channel", "auditor", "admin", "dpo",
                                        NULL};
    *state = tu_curve_new("sar", names, IDS);
    return 0;
}

static int curve_teardown(void **state)
{
    tu_curve_free(*state);
    return 0;
}

static void expect_error(const msgpack_object *r, const char *code, const char *field,
                         const char *words)
{
    if (tu_bool(r, "ok") != 0 || !tu_str(r, "error.code") ||
        strcmp(tu_str(r, "error.code"), code) != 0 ||
        (field && (!tu_str(r, "error.field") || strcmp(tu_str(r, "error.field"), field))) ||
        !strstr(tu_str(r, "error.message") ? tu_str(r, "error.message") : "", words))
        fail_msg("want %s (field %s, '%s'), got %s", code, field ? field : "-", words,
                 tu_dump(r));
}


/* `csphub sar --person S-1` as the DPO over CURVE, into f->dir/export
 * (its path into dir, 700 bytes): its exit status, its output in out. */
static int sar_export(struct tu_curve *f, const char *reason, char dir[700], char *out,
                      size_t n)
{
    char cmd[3000];
    snprintf(dir, 700, "%s/export", f->dir);
    snprintf(cmd, sizeof cmd,
             "%s --hub %s --key %s/dpo.key --server-key %s/hub.pub sar --person S-1 "
             "--reason '%s' --out %s 2>&1",
             tu_env("CSPH_CLI", "csphub"), f->hub.endpoint, f->keys, f->keys, reason, dir);
    return tu_run_cmd(out, n, cmd);
}

/* The item of list (an array in r) whose `seq` or `id` is v, or NULL. */
static const msgpack_object *item(const msgpack_object *r, const char *list, const char *key,
                                  uint64_t v)
{
    const msgpack_object *a = tu_get(r, list);
    assert_non_null(a);
    for (uint32_t i = 0; i < a->via.array.size; i++) {
        const msgpack_object *x = tu_get(&a->via.array.ptr[i], key);
        if (x && x->via.u64 == v)
            return &a->via.array.ptr[i];
    }
    return NULL;
}

static int withholds(const msgpack_object *it, const char *code)
{
    const msgpack_object *w = tu_get(it, "withhold");
    for (uint32_t i = 0; w && i < w->via.array.size; i++)
        if (!strcmp(tu_str(&w->via.array.ptr[i], "code"), code))
            return 1;
    return 0;
}

#define EV_DA                                                                                  \
    "{\"id\":\"d1\",\"type\":\"da.incident\",\"occurred_at\":\"2026-01-10T21:00:00Z\","        \
    "\"victim\":\"S-1\",\"perpetrator\":\"T-2\",\"risk\":\"high\"}"
#define EV_CONCERN                                                                             \
    "{\"id\":\"c1\",\"type\":\"concern\",\"occurred_at\":\"2026-01-11T10:00:00Z\","            \
    "\"subject\":\"S-1\",\"kind\":\"radicalisation\"}"
#define EV_MAPPA                                                                               \
    "{\"id\":\"r1\",\"type\":\"referral\",\"occurred_at\":\"2026-01-12T10:00:00Z\","           \
    "\"subject\":\"S-1\",\"panel\":\"mappa\",\"reason\":\"managed offender\"}"
#define EV_OTHER                                                                               \
    "{\"id\":\"d2\",\"type\":\"da.incident\",\"occurred_at\":\"2026-01-13T21:00:00Z\","        \
    "\"victim\":\"X-9\",\"risk\":\"standard\"}"

static void test_export_end_to_end(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client police, marac, channel, dpo, auditor;
    tu_curve_connect(f, &police, "police");
    msgpack_object r = tu_call(&police, "{\"op\":\"publish\",\"events\":[%s,%s,%s,%s]}", EV_DA,
                               EV_CONCERN, EV_MAPPA, EV_OTHER);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    uint64_t seq_da = (uint64_t)tu_int(&r, "results.0.seq"),
             seq_concern = (uint64_t)tu_int(&r, "results.1.seq"),
             seq_mappa = (uint64_t)tu_int(&r, "results.2.seq");
    tu_client_close(&police);
    /* a MARAC member opens the person; the Channel chair reads the queue */
    tu_curve_connect(f, &marac, "marac");
    r = tu_call(&marac, "{\"op\":\"person\",\"ref\":\"S-1\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    uint64_t marac_alert = (uint64_t)tu_int(&r, "alerts.0.id");
    assert_true(marac_alert > 0);
    r = tu_call(&marac, "{\"op\":\"sar\",\"person\":\"S-1\",\"reason\":\"SAR 1\"}");
    expect_error(&r, "forbidden", NULL, "");
    tu_client_close(&marac);
    tu_curve_connect(f, &channel, "channel");
    r = tu_call(&channel, "{\"op\":\"alerts\",\"panel\":\"channel\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
    tu_client_close(&channel);

    tu_curve_connect(f, &dpo, "dpo");
    /* refusals */
    r = tu_call(&dpo, "{\"op\":\"sar\",\"person\":\"S-1\"}");
    expect_error(&r, "bad_request", "reason", "reason");
    r = tu_call(&dpo, "{\"op\":\"sar\",\"person\":\"S-1\",\"reason\":\"request of S-1\"}");
    expect_error(&r, "bad_request", "reason", "names the person");
    r = tu_call(&dpo, "{\"op\":\"sar\",\"person\":\"no one\",\"reason\":\"SAR 1\"}");
    expect_error(&r, "bad_request", "person", "person reference");
    r = tu_call(&dpo, "{\"op\":\"sar\",\"person\":\"Z-404\",\"reason\":\"SAR 1\"}");
    expect_error(&r, "not_found", "person", "holds nothing about person 'Z-404'");
    r = tu_call(&dpo, "{\"op\":\"sar\",\"person\":\"S-1\",\"request\":1}");
    expect_error(&r, "bad_request", "request", "dp.sar");
    r = tu_call(&dpo, "{\"op\":\"sar\",\"person\":\"S-1\",\"reason\":\"SAR 1\",\"aftr\":1}");
    expect_error(&r, "bad_request", NULL, "aftr");

    r = tu_call(&dpo, "{\"op\":\"sar\",\"person\":\"S-1\",\"reason\":\"SAR 2026/114\"}");
    if (tu_bool(&r, "ok") != 1)
        fail_msg("%s", tu_dump(&r));
    uint64_t request = (uint64_t)tu_int(&r, "request");
    assert_int_equal(tu_bool(&r, "end"), 1);
    assert_int_equal(tu_int(&r, "counts.events"), 3);
    assert_int_equal(tu_int(&r, "counts.alerts"), 3); /* marac, channel, mappa */
    assert_int_equal(tu_int(&r, "counts.reads"), 2);
    const msgpack_object *e = item(&r, "events", "seq", seq_da);
    assert_non_null(e);
    assert_string_equal(tu_str(e, "others.0"), "perpetrator");
    assert_true(withholds(e, "third_party"));
    assert_false(withholds(e, "restricted_panel"));
    e = item(&r, "events", "seq", seq_concern);
    assert_true(withholds(e, "restricted_panel")); /* Channel's evidence */
    e = item(&r, "events", "seq", seq_mappa);
    assert_true(withholds(e, "restricted_panel")); /* a referral to MAPPA */
    /* alerts with reasons and their panel; Channel's and MAPPA's proposed */
    const msgpack_object *a = item(&r, "alerts", "id", marac_alert);
    assert_string_equal(tu_str(a, "panel"), "marac");
    assert_non_null(tu_str(a, "alert.reason"));
    assert_false(withholds(a, "restricted_panel"));
    const msgpack_object *al = tu_get(&r, "alerts");
    int restricted_alerts = 0;
    for (uint32_t i = 0; i < al->via.array.size; i++)
        restricted_alerts += withholds(&al->via.array.ptr[i], "restricted_panel");
    assert_int_equal(restricted_alerts, 2);
    /* the reads: the MARAC member's person view returned the da.incident
     * and the marac alert; the Channel chair's read is restricted */
    const msgpack_object *rd = tu_get(&r, "reads");
    assert_int_equal(rd->via.array.size, 2);
    assert_string_equal(tu_str(&rd->via.array.ptr[0], "access.event.identity"), "marac-coord");
    assert_string_equal(tu_str(&rd->via.array.ptr[0], "access.event.op"), "person");
    assert_int_equal(tu_int(&rd->via.array.ptr[0], "events.0"), (int64_t)seq_da);
    assert_int_equal(tu_int(&rd->via.array.ptr[0], "alerts.0"), (int64_t)marac_alert);
    assert_int_equal(tu_bool(&rd->via.array.ptr[0], "restricted"), 0);
    assert_string_equal(tu_str(&rd->via.array.ptr[1], "access.event.identity"), "channel-chair");
    assert_int_equal(tu_bool(&rd->via.array.ptr[1], "restricted"), 1);

    /* the request is in the log: who and why, never the person */
    tu_curve_connect(f, &auditor, "auditor");
    char q[200];
    snprintf(q, sizeof q, "{\"op\":\"replay\",\"after\":%llu,\"max\":1}",
             (unsigned long long)request - 1);
    r = tu_call(&auditor, "%s", q);
    assert_string_equal(tu_str(&r, "events.0.event.type"), "dp.sar");
    assert_string_equal(tu_str(&r, "events.0.event.by"), "dpo-office");
    assert_string_equal(tu_str(&r, "events.0.event.role"), "dpo");
    assert_string_equal(tu_str(&r, "events.0.event.reason"), "SAR 2026/114");
    assert_null(strstr(tu_dump(&r), "S-1"));
    tu_client_close(&auditor);
    tu_client_close(&dpo);

    /* the command: four files, the disclosure without a trace of Channel
     * or MAPPA, of the perpetrator or of staff names */
    char out[8192], dir[700];
    if (sar_export(f, "SAR 2026/115", dir, out, sizeof out) != 0 ||
        !strstr(out, "held: 3 events, 3 alerts") ||
        !strstr(out, "disclosure: 1 events, 1 alerts"))
        fail_msg("%s", out);
    struct stat st;
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    static const char *const files[] = {"review.json", "review.html", "disclosure.json",
                                        "disclosure.html"};
    char *text[4];
    for (int i = 0; i < 4; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        assert_int_equal(stat(p, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        text[i] = tu_slurp(p, NULL);
    }
    assert_non_null(strstr(text[0], "radicalisation"));
    assert_non_null(strstr(text[0], "\"T-2\""));
    assert_non_null(strstr(text[1], "channel-chair"));
    for (int i = 2; i < 4; i++) {
        static const char *const never[] = {"radicalisation", "channel", "mappa", "MAPPA",
                                            "T-2", "marac-coord", "dpo-office", "restricted"};
        for (size_t k = 0; k < sizeof never / sizeof *never; k++)
            if (strstr(text[i], never[k]))
                fail_msg("%s holds '%s'", files[i], never[k]);
        assert_non_null(strstr(text[i], "third-party-1"));
        assert_non_null(strstr(text[i], "S-1"));
    }
    assert_non_null(strstr(text[2], "\"organisation\": \"marac panel\""));
    for (int i = 0; i < 4; i++)
        free(text[i]);
    /* never over an earlier export */
    if (sar_export(f, "SAR 2026/115", dir, out, sizeof out) != 1 ||
        !strstr(out, "an earlier export is there"))
        fail_msg("%s", out);
}

/* ---- erasure reaches the reads' records (point 3) ------------------------ */

static void test_erasure_rewrites_queries(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client police, marac, dpo, auditor;
    tu_curve_connect(f, &police, "police");
    msgpack_object r = tu_call(&police, "{\"op\":\"publish\",\"events\":[%s,%s]}", EV_DA,
                               EV_OTHER);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    tu_client_close(&police);
    /* reads naming S-1 (and one naming S-10, which is not S-1) */
    tu_curve_connect(f, &marac, "marac");
    r = tu_call(&marac, "{\"op\":\"person\",\"ref\":\"S-1\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_call(&marac, "{\"op\":\"alerts\",\"panel\":\"marac\",\"person\":\"S-1\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_call(&marac, "{\"op\":\"person\",\"ref\":\"S-10\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    tu_client_close(&marac);
    tu_curve_connect(f, &dpo, "dpo");
    r = tu_call(&dpo, "{\"op\":\"erase\",\"person\":\"S-1\",\"reason\":\"DPO case 9\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    const msgpack_object *evs = tu_get(&r, "events");
    int queries = 0;
    for (uint32_t i = 0; i < evs->via.array.size; i++)
        if (!strcmp(tu_str(&evs->via.array.ptr[i], "action"), "query")) {
            assert_string_equal(tu_str(&evs->via.array.ptr[i], "type"), "audit.access");
            queries++;
        }
    assert_int_equal(queries, 2);
    r = tu_call(&dpo, "{\"op\":\"erase\",\"person\":\"S-1\",\"reason\":\"DPO case 9\","
                      "\"apply\":true}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    uint64_t erasure = (uint64_t)tu_int(&r, "erasures.0");
    tu_client_close(&dpo);
    /* the log: no audit.access names S-1; they name the erasure instead;
     * the read of S-10 is as it was */
    tu_curve_connect(f, &auditor, "auditor");
    r = tu_call(&auditor, "{\"op\":\"replay\",\"types\":[\"audit.access\"],\"max\":1000}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    const char *dump = tu_dump(&r);
    if (strstr(dump, "\\\"S-1\\\"") || strstr(dump, "\"S-1\""))
        fail_msg("S-1 still in a read's record: %s", dump);
    char want[64];
    snprintf(want, sizeof want, "erasure-%llu", (unsigned long long)erasure);
    assert_non_null(strstr(dump, want));
    assert_non_null(strstr(dump, "S-10"));
    /* the erasure event lists the rewritten reads like any record */
    char q[200];
    snprintf(q, sizeof q, "{\"op\":\"replay\",\"after\":%llu,\"max\":1}",
             (unsigned long long)erasure - 1);
    r = tu_call(&auditor, "%s", q);
    assert_string_equal(tu_str(&r, "events.0.event.type"), "dp.erasure");
    assert_non_null(strstr(tu_str(&r, "events.0.event.records"), "audit.access"));
    tu_client_close(&auditor);
    /* and the log still verifies, by the hub and by the independent check */
    assert_int_equal(tu_hub_stop(&f->hub), 0);
    char out[4096];
    int rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    if (rc != 0)
        fail_msg("verify: %s", out);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/scripts/check-chain.py %s 2>&1",
             tu_env("CSPH_SOURCE_DIR", "."), f->data);
    if (tu_run_cmd(out, sizeof out, cmd) != 0)
        fail_msg("check-chain: %s", out);
    /* after a restart the index holds no query entry for S-1: a second
     * erasure finds nothing of theirs left in the reads */
    tu_curve_start(f);
    tu_curve_connect(f, &dpo, "dpo");
    r = tu_call(&dpo, "{\"op\":\"erase\",\"person\":\"S-1\",\"reason\":\"DPO case 9\"}");
    expect_error(&r, "not_found", "person", "no event");
    tu_client_close(&dpo);
}

/* ---- a restriction stands for what arrives later (per role, CURVE) ------- */

#define EV_LATER(id, perp)                                                                     \
    "{\"id\":\"" id "\",\"type\":\"da.incident\",\"occurred_at\":\"2026-02-10T21:00:00Z\","    \
    "\"victim\":\"S-1\",\"perpetrator\":\"" perp "\",\"risk\":\"high\"}"

static int person_shows(struct tu_curve *f, const char *who, uint64_t seq)
{
    struct tu_client c;
    tu_curve_connect(f, &c, who);
    msgpack_object r = tu_call(&c, "{\"op\":\"person\",\"ref\":\"S-1\"}");
    if (tu_bool(&r, "ok") != 1)
        fail_msg("%s: %s", who, tu_dump(&r));
    int shown = item(&r, "events", "seq", seq) != NULL;
    tu_client_close(&c);
    return shown;
}

static void test_restriction_stands(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client police, dpo;
    tu_curve_connect(f, &police, "police");
    tu_curve_connect(f, &dpo, "dpo");
    msgpack_object r = tu_call(&police, "{\"op\":\"publish\",\"event\":%s}", EV_DA);
    uint64_t first = (uint64_t)tu_int(&r, "seq");
    assert_true(person_shows(f, "marac", first));
    r = tu_call(&dpo, "{\"op\":\"erase\",\"person\":\"S-1\",\"reason\":\"kept as evidence\","
                      "\"restrict\":true,\"basis\":\"s47\",\"apply\":true}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    /* a later event naming S-1 is restricted as it arrives */
    r = tu_call(&police, "{\"op\":\"publish\",\"event\":%s}", EV_LATER("d5", "T-5"));
    uint64_t later = (uint64_t)tu_int(&r, "seq");
    assert_true(later > first);
    assert_false(person_shows(f, "marac", first));
    assert_false(person_shows(f, "marac", later));
    assert_true(person_shows(f, "auditor", first));
    assert_true(person_shows(f, "auditor", later));
    /* one naming only someone else is not */
    r = tu_call(&police, "{\"op\":\"publish\",\"event\":%s}", EV_OTHER);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    /* bad input */
    r = tu_call(&dpo, "{\"op\":\"erase\",\"person\":\"S-1\",\"reason\":\"x\",\"lift\":true}");
    expect_error(&r, "bad_request", "lift", "restrict");
    r = tu_call(&dpo, "{\"op\":\"erase\",\"person\":\"X-9\",\"reason\":\"x\",\"restrict\":true,"
                      "\"lift\":true}");
    expect_error(&r, "not_found", "person", "is not restricted");
    /* the DPO lifts it: the old and the new are readable again */
    r = tu_call(&dpo, "{\"op\":\"erase\",\"person\":\"S-1\",\"reason\":\"review closed\","
                      "\"restrict\":true,\"lift\":true,\"apply\":true}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_string_equal(tu_str(&r, "request"), "lift");
    assert_int_equal(tu_int(&r, "count"), 2);
    assert_string_equal(tu_str(&r, "events.1.action"), "lift");
    assert_true(person_shows(f, "marac", first));
    assert_true(person_shows(f, "marac", later));
    /* and what arrives now is not restricted */
    r = tu_call(&police, "{\"op\":\"publish\",\"event\":%s}", EV_LATER("d6", "T-6"));
    assert_true(person_shows(f, "marac", (uint64_t)tu_int(&r, "seq")));
    /* the standing state survives a restart: restrict again, restart,
     * publish: restricted */
    r = tu_call(&dpo, "{\"op\":\"erase\",\"person\":\"S-1\",\"reason\":\"again\","
                      "\"restrict\":true,\"apply\":true}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    tu_client_close(&police);
    tu_client_close(&dpo);
    tu_curve_start(f); /* kill -9 and start: the journal makes it again */
    tu_curve_connect(f, &police, "police");
    r = tu_call(&police, "{\"op\":\"publish\",\"event\":%s}", EV_LATER("d7", "T-7"));
    uint64_t after_restart = (uint64_t)tu_int(&r, "seq");
    tu_client_close(&police);
    assert_false(person_shows(f, "marac", after_restart));
    assert_true(person_shows(f, "auditor", after_restart));
}

/* ---- an export in pages (security none) ---------------------------------- */

static void test_pages(void **state)
{
    (void)state;
    struct tu_hub hub;
    char data[600], config[600];
    char *tmp = tu_hub_fresh_log_only(&hub, "sarpages", data, sizeof data, config,
                                      sizeof config);
    assert_non_null(tmp);
    assert_int_equal(tu_hub_stop(&hub), 0);
    FILE *cf = fopen(config, "a");
    fputs("limits:\n  reply_max_bytes: 8192\n  event_max_bytes: 4096\n", cf);
    fclose(cf);
    assert_int_equal(tu_hub_restart(&hub, "--config", config, NULL), 0);
    struct tu_client c;
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    char pad[401];
    memset(pad, 'x', 400);
    pad[400] = 0;
    for (int i = 0; i < 60; i++) {
        msgpack_object r = tu_call(&c,
                                   "{\"op\":\"publish\",\"event\":{\"id\":\"p%d\",\"type\":"
                                   "\"concern\",\"source\":\"council\",\"occurred_at\":"
                                   "\"2026-01-01T10:00:00Z\",\"subject\":\"S-7\",\"kind\":"
                                   "\"other\",\"summary\":\"%s\"}}",
                                   i, pad);
        assert_int_equal(tu_bool(&r, "ok"), 1);
    }
    msgpack_object r = tu_call(&c, "{\"op\":\"sar\",\"person\":\"S-7\",\"reason\":\"SAR 9\","
                                   "\"requested_by\":\"jo\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_bool(&r, "end"), 0);
    uint64_t request = (uint64_t)tu_int(&r, "request");
    uint64_t n = tu_get(&r, "events")->via.array.size, pages = 1, next = tu_int(&r, "events_next");
    assert_true(n > 0 && n < 60);
    while (!tu_bool(&r, "end")) {
        r = tu_call(&c,
                    "{\"op\":\"sar\",\"person\":\"S-7\",\"requested_by\":\"jo\",\"request\":%llu,"
                    "\"events_after\":%llu}",
                    (unsigned long long)request, (unsigned long long)next);
        assert_int_equal(tu_bool(&r, "ok"), 1);
        assert_int_equal(tu_int(&r, "request"), (int64_t)request);
        n += tu_get(&r, "events")->via.array.size;
        next = tu_int(&r, "events_next");
        pages++;
    }
    assert_int_equal(n, 60);
    assert_true(pages >= 3);
    /* a later page names its own requester's dp.sar */
    r = tu_call(&c, "{\"op\":\"sar\",\"person\":\"S-7\",\"requested_by\":\"kim\","
                    "\"request\":%llu}", (unsigned long long)request);
    expect_error(&r, "bad_request", "request", "dp.sar");
    /* only the first call recorded the request */
    r = tu_call(&c, "{\"op\":\"replay\",\"after\":%llu}", (unsigned long long)request);
    assert_int_equal(tu_get(&r, "events")->via.array.size, 0);
    /* the command pages the same */
    char cmd[2000], out[4096];
    snprintf(cmd, sizeof cmd, "%s --hub %s --json sar --person S-7 --reason 'SAR 10' --out %s/x 2>&1",
             tu_env("CSPH_CLI", "csphub"), hub.endpoint, tmp);
    if (tu_run_cmd(out, sizeof out, cmd) != 0 || !strstr(out, "\"disclosed_events\":60"))
        fail_msg("%s", out);
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    tu_rmrf(tmp);
    free(tmp);
}

/* ---- a held fetch released by an alert is a read like any (point 5) ------ */

/* A coordinator's fetch waits (no alert yet); the alert a publish raises
 * releases it with the alert and its evidence. That read is recorded like
 * an immediate one (audit.access + audit.returned, committed before the
 * reply leaves), so the export lists it: the coordinator by name in the
 * review, by role and organisation in the disclosure copy. */
static void test_held_fetch_in_export(void **state)
{
    struct tu_curve *f = *state;
    tu_curve_start(f);
    struct tu_client police, marac, dpo;
    tu_curve_connect(f, &marac, "marac");
    assert_int_equal(tu_send(&marac, "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"m\","
                                     "\"wait_ms\":30000,\"req\":7}"),
                     0);
    /* the publish must come after the hold: wait on the hub's counter */
    tu_curve_connect(f, &police, "police");
    msgpack_object r, got;
    tu_curve_connect(f, &dpo, "admin");
    int64_t deadline = tu_now_ms() + 10000;
    for (;;) {
        r = tu_call(&dpo, "{\"op\":\"stats\"}");
        if (tu_int(&r, "counters.fetches_held") >= 1)
            break;
        assert_true(tu_now_ms() < deadline);
    }
    tu_client_close(&dpo);
    r = tu_call(&police, "{\"op\":\"publish\",\"event\":%s}", EV_DA);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    tu_client_close(&police);
    assert_int_equal(tu_recv(&marac, 10000, &got), 0);
    if (tu_bool(&got, "ok") != 1 || tu_int(&got, "req") != 7)
        fail_msg("%s", tu_dump(&got));
    assert_int_equal(tu_get(&got, "alerts")->via.array.size, 1);
    uint64_t alert = (uint64_t)tu_int(&got, "alerts.0.id");
    /* the same read answered at once, by another consumer: the reference */
    r = tu_call(&marac, "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"m2\"}");
    assert_int_equal(tu_int(&r, "alerts.0.id"), (int64_t)alert);
    tu_client_close(&marac);

    tu_curve_connect(f, &dpo, "dpo");
    r = tu_call(&dpo, "{\"op\":\"sar\",\"person\":\"S-1\",\"reason\":\"SAR 2026/120\"}");
    if (tu_bool(&r, "ok") != 1)
        fail_msg("%s", tu_dump(&r));
    /* both fetches, recorded alike; the hold's own record returned nothing
     * and names no record of S-1 */
    const msgpack_object *rd = tu_get(&r, "reads");
    if (!rd || rd->via.array.size != 2)
        fail_msg("want the released fetch and the immediate one: %s", tu_dump(&r));
    for (uint32_t i = 0; i < 2; i++) {
        const msgpack_object *x = &rd->via.array.ptr[i];
        assert_string_equal(tu_str(x, "access.event.identity"), "marac-coord");
        assert_string_equal(tu_str(x, "access.event.role"), "panel");
        assert_string_equal(tu_str(x, "access.event.op"), "fetch");
        assert_int_equal(tu_int(x, "access.event.returned"), 1);
        assert_int_equal(tu_get(x, "alerts")->via.array.size, 1);
        assert_int_equal(tu_int(x, "alerts.0"), (int64_t)alert);
        assert_int_equal(tu_bool(x, "restricted"), 0);
    }
    assert_non_null(strstr(tu_str(&rd->via.array.ptr[0], "access.event.query"), "\"wait_ms\""));
    assert_null(strstr(tu_str(&rd->via.array.ptr[1], "access.event.query"), "\"wait_ms\""));
    tu_client_close(&dpo);

    char out[8192], dir[700];
    if (sar_export(f, "SAR 2026/121", dir, out, sizeof out) != 0)
        fail_msg("%s", out);
    char p[800];
    snprintf(p, sizeof p, "%s/disclosure.json", dir);
    char *d = tu_slurp(p, NULL);
    if (!strstr(d, "\"role\": \"panel\"") || !strstr(d, "\"organisation\": \"marac panel\"") ||
        strstr(d, "marac-coord"))
        fail_msg("%s", d);
    free(d);
    snprintf(p, sizeof p, "%s/review.json", dir);
    char *rv = tu_slurp(p, NULL);
    assert_non_null(strstr(rv, "marac-coord"));
    free(rv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collect),
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_redact_query),
        cmocka_unit_test(test_pack),
        cmocka_unit_test_setup_teardown(test_export_end_to_end, curve_setup, curve_teardown),
        cmocka_unit_test_setup_teardown(test_erasure_rewrites_queries, curve_setup,
                                        curve_teardown),
        cmocka_unit_test_setup_teardown(test_restriction_stands, curve_setup, curve_teardown),
        cmocka_unit_test(test_pages),
        cmocka_unit_test_setup_teardown(test_held_fetch_in_export, curve_setup, curve_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
