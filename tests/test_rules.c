/* test_rules.c: the escalation engine (hub/rules.c) with the default rule
 * pack (config/rules.yaml), or with rule files a test writes itself (the
 * setup_own tests at the end), and panels (config/panels.yaml). Each test opens
 * a fresh LMDB environment in a temporary directory, builds events from JSON,
 * evaluates them in write transactions and checks the drafts: which rule,
 * panel, priority, key, evidence, deadline and reason. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <cmocka.h>
#include <lmdb.h>
#include <msgpack.h>
#include <sodium.h>

#include "config.h"
#include "rules.h"
#include "schema.h"
#include "testutil.h"
#include "timefmt.h"

#ifndef CSPH_SOURCE_DIR
#define CSPH_SOURCE_DIR "."
#endif

#define DAY CSPH_MS_PER_DAY
#define HOUR 3600000LL
#define MINUTE 60000LL

/* ---- fixture ----------------------------------------------------------- */

struct dcopy {
    char rule[80];
    char panel[80];
    enum hub_priority prio;
    char key[300];   /* name=value,name=value */
    char reason[512];
    uint64_t ev[256];
    size_t nev;
    int has_due;
    int64_t due_ms;
    int64_t raised_ms;
    uint64_t seq;
};

struct got {
    size_t n;
    struct dcopy d[16];
};

struct fx {
    char *dir;
    MDB_env *env;
    MDB_txn *txn; /* an open batch, or NULL: each event in its own txn */
    struct hub_config cfg;
    struct hub_rules *rules;
    char rules_path[1024];
    uint64_t seq;
    int64_t recv_override; /* >0: the next event's received_at */
    const char *source;    /* non-NULL: the next event's source (else "test") */
    msgpack_sbuffer sb;
    msgpack_zone zone;
    struct got got;
    int64_t eval_ns; /* time spent in hub_rules_eval */
    int64_t put_ns;  /* time spent in the baseline put of the event bytes */
    int baseline;    /* also put each event's bytes into a "test.log" database */
};

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}


/* The project's schemas: the loader checks every type and field a rule
 * names against them. Loaded once for the whole program. */
static const struct hub_schemas *test_schemas(const void *unused)
{
    static struct hub_schemas *schemas;
    (void)unused;
    if (!schemas) {
        struct hub_config cfg;
        struct hub_error err = {0};
        const char *names[CSPH_MAX_PANELS];
        hub_config_defaults(&cfg);
        for (size_t i = 0; i < cfg.npanels; i++)
            names[i] = cfg.panels[i].name;
        if (hub_schemas_load(&schemas, cfg.schemas_dir, names, cfg.npanels, &err))
            fail_msg("loading the schemas: %s", err.message);
    }
    return schemas;
}

static const char *config_dir(void)
{
    return tu_env("CSPH_CONFIG_DIR", CSPH_SOURCE_DIR "/config");
}

static void env_open(struct fx *f)
{
    assert_int_equal(mdb_env_create(&f->env), 0);
    assert_int_equal(mdb_env_set_maxdbs(f->env, 32), 0);
    assert_int_equal(mdb_env_set_mapsize(f->env, 256u << 20), 0);
    assert_int_equal(mdb_env_open(f->env, f->dir, MDB_NOSYNC, 0600), 0);
}

static void env_close(struct fx *f)
{
    if (f->txn) {
        mdb_txn_abort(f->txn);
    }
    f->txn = NULL;
    if (f->env)
        mdb_env_close(f->env);
    f->env = NULL;
}

static void rules_load_path(struct fx *f, const char *path)
{
    struct hub_error err = {0};
    if (path != f->rules_path)
        snprintf(f->rules_path, sizeof f->rules_path, "%s", path);
    enum hub_err rc = hub_rules_load(&f->rules, path, f->cfg.panels, f->cfg.npanels, test_schemas(f), &err);
    if (rc)
        fail_msg("loading %s: %s", path, err.message);
}

/* Replace the engine's rules with text written to a file named name in
 * the fixture's directory. */
static void rules_use(struct fx *f, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    hub_rules_destroy(&f->rules);
    rules_load_path(f, path);
}

static int setup_with(void **state, int default_pack)
{
    struct fx *f = calloc(1, sizeof *f);
    struct hub_error err = {0};
    f->dir = tu_tmpdir("rules");
    hub_config_defaults(&f->cfg);
    snprintf(f->cfg.panels_file, sizeof f->cfg.panels_file, "%s/panels.yaml", config_dir());
    if (hub_config_load_panels(&f->cfg, &err))
        fail_msg("panels: %s", err.message);
    if (default_pack) {
        char path[1024];
        snprintf(path, sizeof path, "%s/rules.yaml", config_dir());
        rules_load_path(f, path);
    }
    env_open(f);
    msgpack_sbuffer_init(&f->sb);
    msgpack_zone_init(&f->zone, 4096);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_with(state, 1);
}

/* The fixture without the default pack: the test writes its own rule file
 * (rules_use), so it does not depend on config/rules.yaml. */
static int setup_own(void **state)
{
    return setup_with(state, 0);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    env_close(f);
    hub_rules_destroy(&f->rules);
    assert_null(f->rules);
    hub_rules_destroy(&f->rules); /* NULL is fine */
    msgpack_sbuffer_destroy(&f->sb);
    msgpack_zone_destroy(&f->zone);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void begin(struct fx *f)
{
    assert_null(f->txn);
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &f->txn), 0);
}

static void commit(struct fx *f)
{
    assert_non_null(f->txn);
    assert_int_equal(mdb_txn_commit(f->txn), 0);
    f->txn = NULL;
}

static int64_t T(const char *rfc3339)
{
    int64_t ms;
    assert_int_equal(csph_time_parse(rfc3339, strlen(rfc3339), &ms, NULL), 0);
    return ms;
}

static void copy_drafts(struct fx *f, const struct hub_alert_draft *d, size_t n)
{
    assert_true(n <= 16);
    f->got.n = n;
    for (size_t i = 0; i < n; i++) {
        struct dcopy *c = &f->got.d[i];
        memset(c, 0, sizeof *c);
        snprintf(c->rule, sizeof c->rule, "%s", d[i].rule);
        assert_true(d[i].panel_index >= 0 && (size_t)d[i].panel_index < f->cfg.npanels);
        snprintf(c->panel, sizeof c->panel, "%s", f->cfg.panels[d[i].panel_index].name);
        assert_string_equal(hub_rules_name(f->rules, (size_t)d[i].rule_index), d[i].rule);
        c->prio = d[i].priority;
        size_t off = 0;
        for (size_t k = 0; k < d[i].nkey; k++)
            off += (size_t)snprintf(c->key + off, sizeof c->key - off, "%s%s=%s", k ? "," : "",
                                    d[i].key_names[k], d[i].key_values[k]);
        snprintf(c->reason, sizeof c->reason, "%s", d[i].reason);
        c->nev = d[i].nevidence;
        for (size_t k = 0; k < d[i].nevidence; k++) {
            if (k)
                assert_true(d[i].evidence[k] > d[i].evidence[k - 1]); /* ascending, no repeats */
            if (k < 256)
                c->ev[k] = d[i].evidence[k];
        }
        c->has_due = d[i].has_due;
        c->due_ms = d[i].due_ms;
        c->raised_ms = d[i].raised_ms;
        c->seq = d[i].event_seq;
    }
}

/* Evaluate one event: type, occurred_at and extra JSON fields ("" or
 * "\"victim\":\"V-1\",..."). received_at is occurred_at + 1 minute unless
 * f->recv_override is set. Returns the drafts (copied). */
static struct got *pub(struct fx *f, const char *type, int64_t occ_ms, const char *fmt, ...)
{
    char fields[1024], when[32], json[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fields, sizeof fields, fmt, ap);
    va_end(ap);
    csph_time_format(occ_ms, when);
    uint64_t seq = ++f->seq;
    snprintf(json, sizeof json,
             "{\"id\":\"e%" PRIu64 "\",\"type\":\"%s\",\"source\":\"%s\",\"occurred_at\":\"%s\"%s%s}",
             seq, type, f->source ? f->source : "test", when, fields[0] ? "," : "", fields);
    f->source = NULL;
    tu_json_to_mp(&f->sb, json);
    msgpack_zone_clear(&f->zone);
    msgpack_object obj;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(f->sb.data, f->sb.size, &off, &f->zone, &obj),
                     MSGPACK_UNPACK_SUCCESS);
    struct hub_rule_event ev = {
        .seq = seq, .type = type, .type_len = strlen(type), .occurred_ms = occ_ms,
        .received_ms = f->recv_override > 0 ? f->recv_override : occ_ms + MINUTE, .obj = &obj,
    };
    f->recv_override = 0;
    int own = f->txn == NULL;
    if (own)
        begin(f);
    const struct hub_alert_draft *d;
    size_t n;
    struct hub_error err = {0};
    if (f->baseline) {
        /* what the log append costs at the least: one put of the bytes */
        int64_t s0 = now_ns();
        MDB_dbi log;
        MDB_val k = {sizeof seq, &seq}, v = {f->sb.size, f->sb.data};
        assert_int_equal(mdb_dbi_open(f->txn, "test.log", MDB_CREATE | MDB_INTEGERKEY, &log), 0);
        assert_int_equal(mdb_put(f->txn, log, &k, &v, MDB_APPEND), 0);
        f->put_ns += now_ns() - s0;
    }
    int64_t s1 = now_ns();
    enum hub_err rc = hub_rules_eval(f->rules, f->txn, &ev, &d, &n, &err);
    f->eval_ns += now_ns() - s1;
    if (rc)
        fail_msg("eval %s: %s", json, err.message);
    copy_drafts(f, d, n);
    if (own)
        commit(f);
    return &f->got;
}

/* The draft of rule (NULL when none); fails when it appears twice. */
static const struct dcopy *of(const struct got *g, const char *rule)
{
    const struct dcopy *found = NULL;
    for (size_t i = 0; i < g->n; i++)
        if (!strcmp(g->d[i].rule, rule)) {
            if (found)
                fail_msg("rule %s raised two alerts for one event", rule);
            found = &g->d[i];
        }
    return found;
}

static void expect_evidence(const struct dcopy *d, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    if (d->nev != n)
        fail_msg("%s: %zu evidence seqs, expected %zu", d->rule, d->nev, n);
    for (size_t i = 0; i < n; i++) {
        uint64_t want = va_arg(ap, uint64_t);
        if (d->ev[i] != want)
            fail_msg("%s: evidence[%zu] = %" PRIu64 ", expected %" PRIu64, d->rule, i, d->ev[i], want);
    }
    va_end(ap);
}

#define E(x) ((uint64_t)(x))

static struct got *da(struct fx *f, const char *victim, int64_t t, int dash)
{
    return pub(f, "da.incident", t, "\"victim\":\"%s\",\"dash_score\":%d", victim, dash);
}

static struct got *asb(struct fx *f, int64_t t, const char *victim, const char *loc_id,
                       const char *lsoa)
{
    char fields[512];
    int n = 0;
    if (victim)
        n += snprintf(fields + n, sizeof fields - (size_t)n, "\"victim\":\"%s\",", victim);
    n += snprintf(fields + n, sizeof fields - (size_t)n, "\"location\":{");
    if (loc_id)
        n += snprintf(fields + n, sizeof fields - (size_t)n, "\"id\":\"%s\"%s", loc_id, lsoa ? "," : "");
    if (lsoa)
        n += snprintf(fields + n, sizeof fields - (size_t)n, "\"lsoa\":\"%s\"", lsoa);
    snprintf(fields + n, sizeof fields - (size_t)n, "},\"category\":\"personal\"");
    return pub(f, "asb.report", t, "%s", fields);
}

/* A panel's decision on the alert anchored at anchor (its highest evidence
 * seq), keyed victim = key: hub_rules_decision's drafts (copied). */
static struct got *decide_ev(struct fx *f, const char *panel, const char *key,
                             const uint64_t *evidence, size_t nevidence, int accepted, int64_t at)
{
    struct hub_rule_decision dec = {0};
    uint64_t anchor = 0;
    for (size_t i = 0; i < nevidence; i++)
        anchor = evidence[i] > anchor ? evidence[i] : anchor;
    dec.evidence = evidence;
    dec.nevidence = nevidence;
    dec.seq = ++f->seq;
    dec.occurred_ms = at;
    dec.received_ms = at + MINUTE;
    dec.accepted = accepted;
    dec.panel_index = hub_config_panel_find(&f->cfg, panel, strlen(panel));
    assert_true(dec.panel_index >= 0);
    dec.nkey = 1;
    dec.key_values[0] = key;
    dec.key_tags[0] = 's';
    dec.anchor_seq = anchor;
    int own = f->txn == NULL;
    if (own)
        begin(f);
    const struct hub_alert_draft *d;
    size_t n;
    struct hub_error err = {0};
    if (hub_rules_decision(f->rules, f->txn, &dec, &d, &n, &err))
        fail_msg("decision: %s", err.message);
    copy_drafts(f, d, n);
    if (own)
        commit(f);
    return &f->got;
}

/* The same for an alert whose evidence is its anchor alone. */
static struct got *decide(struct fx *f, const char *panel, const char *key, uint64_t anchor,
                          int accepted, int64_t at)
{
    return decide_ev(f, panel, key, &anchor, 1, accepted, at);
}

/* ---- loading ------------------------------------------------------------- */

static void test_load_default_pack(void **state)
{
    struct fx *f = *state;
    static const char *const pack[] = {
        "marac.high-risk", "marac.escalation", "marac.repeat", "referral.direct",
        "community-marac.repeat-caller", "community-marac.vulnerable", "asb-case-review.victim",
        "asb-case-review.location", "asb-case-review.hate", "asb-case-review.request",
        "hate-crime.repeat", "hate-crime.household", "sgv.weapon", "sgv.possession",
        "iom.neighbourhood", "mace.missing", "mace.exploitation", "community-marac.mental-health",
        "sgv.index", "channel.radicalisation", "tasking.hotspot", "overdue",
        "action.overdue", "review.due",
    };
    assert_int_equal(hub_rules_count(f->rules), sizeof pack / sizeof *pack);
    for (size_t i = 0; i < sizeof pack / sizeof *pack; i++)
        assert_string_equal(hub_rules_name(f->rules, i), pack[i]);
    assert_null(hub_rules_name(f->rules, 99));

    const char *dg = hub_rules_digest(f->rules);
    assert_int_equal(strlen(dg), 32);
    for (const char *p = dg; *p; p++)
        assert_true((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'));
    /* Same inputs, same digest; a panel's restricted flag changes it. */
    struct hub_rules *again = NULL;
    struct hub_error err = {0};
    assert_int_equal(hub_rules_load(&again, f->rules_path, f->cfg.panels, f->cfg.npanels,
                                    test_schemas(f), &err), CSPH_ERR_OK);
    assert_string_equal(hub_rules_digest(again), dg);
    hub_rules_destroy(&again);
    struct hub_panel panels[CSPH_MAX_PANELS];
    memcpy(panels, f->cfg.panels, sizeof panels);
    int mappa = hub_config_panel_find(&f->cfg, "mappa", 5);
    assert_true(mappa >= 0);
    panels[mappa].restricted = !panels[mappa].restricted;
    assert_int_equal(hub_rules_load(&again, f->rules_path, panels, f->cfg.npanels, test_schemas(f), &err), CSPH_ERR_OK);
    assert_string_not_equal(hub_rules_digest(again), dg);
    hub_rules_destroy(&again);

    assert_string_equal(hub_priority_name(CSPH_PRIORITY_HIGH), "high");
    assert_int_equal(hub_priority_parse("medium", 6), CSPH_PRIORITY_MEDIUM);
    assert_int_equal(hub_priority_parse("urgent", 6), -1);
    /* nothing happens for a type no rule takes */
    assert_int_equal(pub(f, "case.update", T("2025-01-01T00:00:00Z"),
                         "\"subject\":\"S-1\",\"panel\":\"marac\",\"status\":\"open\"")->n, 0);
}

/* ---- MARAC --------------------------------------------------------------- */

static void test_marac_high_risk(void **state)
{
    struct fx *f = *state;
    struct got *g = da(f, "V-1", T("2025-04-03T20:00:00Z"), 15);
    assert_int_equal(g->n, 1);
    const struct dcopy *d = of(g, "marac.high-risk");
    assert_non_null(d);
    assert_string_equal(d->panel, "marac");
    assert_int_equal(d->prio, CSPH_PRIORITY_HIGH);
    assert_string_equal(d->key, "victim=V-1");
    assert_string_equal(d->reason, "High-risk domestic abuse incident for victim V-1 on 3 Apr 2025 "
                                   "(DASH score 15, risk not given)");
    expect_evidence(d, 1, E(1));
    assert_false(d->has_due);
    assert_int_equal(d->raised_ms, T("2025-04-03T20:01:00Z")); /* received_at, not the clock */
    assert_int_equal(d->seq, 1);

    /* 13 is below the line; 14 is on it; risk = high fires without a score */
    assert_int_equal(da(f, "V-2", T("2025-04-03T20:00:00Z"), 13)->n, 0);
    assert_non_null(of(da(f, "V-3", T("2025-04-03T20:00:00Z"), 14), "marac.high-risk"));
    g = pub(f, "da.incident", T("2025-04-04T20:00:00Z"), "\"victim\":\"V-4\",\"risk\":\"high\"");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].reason, "High-risk domestic abuse incident for victim V-4 on 4 Apr "
                                        "2025 (DASH score not given, risk high)");
    assert_int_equal(pub(f, "da.incident", T("2025-04-04T20:00:00Z"),
                         "\"victim\":\"V-5\",\"risk\":\"medium\"")->n, 0);
    /* no victim: the rule does not apply */
    assert_int_equal(pub(f, "da.incident", T("2025-04-04T20:00:00Z"), "\"dash_score\":20")->n, 0);
}

static void test_marac_escalation_window_edges(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-01-06T10:00:00Z");
    /* V-A: the third incident 364 days 23:59 after the first: inside */
    assert_int_equal(da(f, "V-A", t0, 2)->n, 0);
    assert_int_equal(da(f, "V-A", t0 + 100 * DAY, 2)->n, 0);
    struct got *g = da(f, "V-A", t0 + 365 * DAY - MINUTE, 2);
    assert_int_equal(g->n, 1);
    const struct dcopy *d = of(g, "marac.escalation");
    assert_non_null(d);
    assert_int_equal(d->prio, CSPH_PRIORITY_MEDIUM);
    assert_string_equal(d->panel, "marac");
    expect_evidence(d, 3, E(1), E(2), E(3));
    assert_string_equal(d->reason, "3 domestic abuse incidents for victim V-A between 6 Jan 2025 "
                                   "and 6 Jan 2026 (threshold 3 in 365 days)");
    /* V-B: exactly 365 days apart: outside */
    assert_int_equal(da(f, "V-B", t0, 2)->n, 0);
    assert_int_equal(da(f, "V-B", t0 + 100 * DAY, 2)->n, 0);
    assert_int_equal(da(f, "V-B", t0 + 365 * DAY, 2)->n, 0);
}

/* The default pack's repeat MARAC is SafeLives': only a referral the panel
 * accepted counts, and only incidents after it, within 12 months. */
static void test_marac_repeat_from_earlier_event_only(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-02-01T12:00:00Z");
    /* High-risk: one alert; the same event does not make it a repeat. */
    struct got *g = da(f, "V-R", t0, 20);
    assert_int_equal(g->n, 1);
    assert_non_null(of(g, "marac.high-risk"));
    /* Not yet accepted: a later incident is no repeat. */
    assert_int_equal(da(f, "V-R", t0 + 10 * DAY, 3)->n, 0);
    /* The panel accepts: the incident of day 10 is a repeat, raised now. */
    g = decide(f, "marac", "V-R", E(1), 1, t0 + 12 * DAY);
    assert_int_equal(g->n, 1);
    const struct dcopy *d = of(g, "marac.repeat");
    assert_non_null(d);
    assert_int_equal(d->prio, CSPH_PRIORITY_HIGH);
    expect_evidence(d, 2, E(1), E(2));
    assert_string_equal(d->reason, "Repeat MARAC: domestic abuse incident for victim V-R on 11 Feb "
                                   "2025, within 365 days of the MARAC referral of 1 Feb 2025");
    /* A further incident within 12 months of the referral: a repeat at once. */
    g = da(f, "V-R", t0 + 100 * DAY, 3);
    assert_int_equal(g->n, 2); /* and the third incident in 365 days */
    assert_non_null(of(g, "marac.escalation"));
    expect_evidence(of(g, "marac.repeat"), 2, E(1), E(4));
    /* 400 days after the referral: no repeat */
    assert_int_equal(da(f, "V-R", t0 + 400 * DAY, 3)->n, 0);

    /* An accepted referral keyed `subject` counts for a later `victim` */
    int64_t t1 = t0 + 420 * DAY;
    g = pub(f, "referral", t1, "\"subject\":\"P-9\",\"panel\":\"marac\",\"reason\":\"IDVA concern\"");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].rule, "referral.direct");
    assert_string_equal(g->d[0].panel, "marac");
    uint64_t ref = f->seq;
    assert_int_equal(decide(f, "marac", "P-9", ref, 1, t1 + HOUR)->n, 0);
    g = da(f, "P-9", t1 + DAY, 1);
    assert_non_null(of(g, "marac.repeat"));
    /* ... but a referral to another panel does not */
    pub(f, "referral", t1, "\"subject\":\"P-10\",\"panel\":\"iom\",\"reason\":\"x\"");
    decide(f, "iom", "P-10", f->seq, 1, t1 + HOUR);
    assert_int_equal(da(f, "P-10", t1 + DAY, 1)->n, 0);
}

static void test_escalation_suppression_and_repeat(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-03-01T09:00:00Z");
    da(f, "V-S", t0, 1);
    da(f, "V-S", t0 + 10 * DAY, 1);
    assert_non_null(of(da(f, "V-S", t0 + 20 * DAY, 1), "marac.escalation"));
    /* The panel takes the escalation (its anchor: the third incident). */
    assert_int_equal(decide(f, "marac", "V-S", E(3), 1, t0 + 21 * DAY)->n, 0);
    /* The 4th incident in the same window: no second escalation alert, but
     * it is a repeat MARAC (after the accepted escalation). */
    struct got *g = da(f, "V-S", t0 + 300 * DAY, 1);
    assert_null(of(g, "marac.escalation"));
    assert_non_null(of(g, "marac.repeat"));
    /* A new run of 3 incidents more than a window after the first alert fires again. */
    da(f, "V-S", t0 + 700 * DAY, 1);
    da(f, "V-S", t0 + 710 * DAY, 1);
    g = da(f, "V-S", t0 + 720 * DAY, 1);
    const struct dcopy *d = of(g, "marac.escalation");
    assert_non_null(d);
    expect_evidence(d, 3, E(6), E(7), E(8));
}

/* ---- referrals and restricted panels ---------------------------------------- */

static void test_referral_direct(void **state)
{
    struct fx *f = *state;
    int64_t t = T("2025-05-20T08:30:00Z");
    struct got *g = pub(f, "referral", t,
                        "\"subject\":\"S-1\",\"panel\":\"mace\",\"reason\":\"school exclusion\"");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].panel, "mace");
    assert_int_equal(g->d[0].prio, CSPH_PRIORITY_MEDIUM);
    assert_string_equal(g->d[0].key, "subject=S-1");
    assert_string_equal(g->d[0].reason,
                        "Direct referral of S-1 to the mace panel on 20 May 2025: school exclusion");
    expect_evidence(&g->d[0], 1, E(1));
    /* To a restricted panel the reason shows only that a case exists. */
    g = pub(f, "referral", t, "\"subject\":\"S-2\",\"panel\":\"mappa\",\"reason\":\"details\"");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].panel, "mappa");
    assert_string_equal(g->d[0].reason, "A case exists for subject S-2 under rule referral.direct; "
                                        "details are restricted to the mappa panel");
    /* An unknown panel: nothing to raise */
    assert_int_equal(pub(f, "referral", t, "\"subject\":\"S-3\",\"panel\":\"nope\",\"reason\":\"x\"")->n, 0);
}

static void test_channel_and_mace(void **state)
{
    struct fx *f = *state;
    int64_t t = T("2025-06-02T14:00:00Z");
    struct got *g = pub(f, "concern", t, "\"subject\":\"C-1\",\"kind\":\"radicalisation\","
                                         "\"summary\":\"secret details\"");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].rule, "channel.radicalisation");
    assert_string_equal(g->d[0].panel, "channel");
    assert_int_equal(g->d[0].prio, CSPH_PRIORITY_STANDARD);
    assert_string_equal(g->d[0].reason,
                        "A case exists for subject C-1: consider for Channel (channel.radicalisation)");
    assert_null(strstr(g->d[0].reason, "secret"));

    g = pub(f, "concern", t, "\"subject\":\"C-2\",\"kind\":\"criminal_exploitation\"");
    assert_int_equal(g->n, 1);
    const struct dcopy *d = of(g, "mace.exploitation");
    assert_non_null(d);
    assert_int_equal(d->prio, CSPH_PRIORITY_HIGH);
    assert_true(d->has_due);
    assert_int_equal(d->due_ms, t + MINUTE + 84 * DAY);
    assert_string_equal(d->reason, "Concern of criminal_exploitation for C-2 raised on 2 Jun 2025");
    assert_int_equal(pub(f, "concern", t, "\"subject\":\"C-3\",\"kind\":\"hoarding\"")->n, 0);

    /* mace.missing: 3 within 90 days, 84-day deadline */
    int64_t t0 = T("2025-07-10T22:00:00Z");
    assert_int_equal(pub(f, "missing.episode", t0, "\"subject\":\"K-1\",\"age\":14")->n, 0);
    assert_int_equal(pub(f, "missing.episode", t0 + 40 * DAY, "\"subject\":\"K-1\",\"age\":14")->n, 0);
    g = pub(f, "missing.episode", t0 + 89 * DAY, "\"subject\":\"K-1\",\"age\":14");
    d = of(g, "mace.missing");
    assert_non_null(d);
    assert_int_equal(d->due_ms, t0 + 89 * DAY + MINUTE + 84 * DAY);
    assert_string_equal(d->reason, "3 missing episodes for child K-1 between 10 Jul and 7 Oct 2025 "
                                   "(threshold 3 in 90 days)");
    /* K-2: 90 days apart is outside */
    pub(f, "missing.episode", t0, "\"subject\":\"K-2\",\"age\":15");
    pub(f, "missing.episode", t0 + 40 * DAY, "\"subject\":\"K-2\",\"age\":15");
    assert_int_equal(pub(f, "missing.episode", t0 + 90 * DAY, "\"subject\":\"K-2\",\"age\":15")->n, 0);
}

/* ---- community MARAC ---------------------------------------------------------- */

static struct got *call(struct fx *f, const char *caller, int64_t t, const char *category)
{
    return pub(f, "call", t, "\"caller\":\"%s\",\"category\":\"%s\"", caller, category);
}

static void test_repeat_caller_tiers(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-01-06T18:00:00Z");
    struct got *g;
    assert_int_equal(call(f, "C-1", t0, "asb")->n, 0);
    assert_int_equal(call(f, "C-1", t0 + DAY, "domestic")->n, 0); /* not ASB: not counted */
    assert_int_equal(call(f, "C-1", t0 + 2 * DAY, "asb")->n, 0);
    g = call(f, "C-1", t0 + 3 * DAY, "asb");
    assert_int_equal(g->n, 2); /* three complaints: the ASB Case Review too */
    assert_non_null(of(g, "asb-case-review.victim"));
    const struct dcopy *d = of(g, "community-marac.repeat-caller");
    assert_non_null(d);
    assert_int_equal(d->prio, CSPH_PRIORITY_MEDIUM);
    assert_string_equal(d->panel, "community-marac");
    assert_true(d->has_due);
    assert_int_equal(d->due_ms, t0 + 3 * DAY + MINUTE + 28 * DAY);
    expect_evidence(d, 3, E(1), E(3), E(4));
    assert_string_equal(d->reason, "3 ASB calls from caller C-1 between 6 Jan and 9 Jan 2025 "
                                   "(threshold 3 in 168 days)");
    /* 4th to 9th ASB call: the medium tier already fired in this window */
    for (int i = 4; i <= 9; i++)
        assert_int_equal(call(f, "C-1", t0 + (int64_t)(i + 1) * DAY, "asb")->n, 0);
    /* 10th: high, 14 days */
    g = call(f, "C-1", t0 + 11 * DAY, "asb");
    assert_int_equal(g->n, 1);
    d = of(g, "community-marac.repeat-caller");
    assert_int_equal(d->prio, CSPH_PRIORITY_HIGH);
    assert_int_equal(d->due_ms, t0 + 11 * DAY + MINUTE + 14 * DAY);
    assert_int_equal(d->nev, 10);
    assert_string_equal(d->reason, "10 ASB calls from caller C-1 between 6 Jan and 17 Jan 2025 "
                                   "(threshold 10 in 168 days)");
    assert_int_equal(call(f, "C-1", t0 + 12 * DAY, "asb")->n, 0);
}

/* When high fires, medium counts as fired with it: a medium run that later
 * outlives the first medium alert stays quiet while the high alert's event
 * is within the window. */
static void test_lower_tiers_count_as_fired(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-01-01T12:00:00Z");
    call(f, "C-2", t0, "asb");
    call(f, "C-2", t0 + DAY, "asb");
    assert_int_equal(call(f, "C-2", t0 + 2 * DAY, "asb")->d[0].prio, CSPH_PRIORITY_MEDIUM);
    for (int i = 0; i < 6; i++)
        assert_int_equal(call(f, "C-2", t0 + (100 + i) * DAY, "asb")->n, 0);
    struct got *g = call(f, "C-2", t0 + 106 * DAY, "asb"); /* the 10th within 168 days */
    assert_int_equal(g->n, 1);
    assert_int_equal(g->d[0].prio, CSPH_PRIORITY_HIGH);
    /* day 175: days 0-2 have left the window; 8 calls remain (medium reached).
     * The day-2 medium alert is 173 days away, but medium counted as fired
     * on day 106. */
    assert_int_equal(call(f, "C-2", t0 + 175 * DAY, "asb")->n, 0);
    assert_int_equal(call(f, "C-2", t0 + 176 * DAY, "asb")->n, 0);
}

static void test_community_marac_vulnerable(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-07-01T10:00:00Z");
    assert_int_equal(pub(f, "asb.report", t0, "\"victim\":\"W-1\",\"location\":{\"ward\":\"X\"},"
                         "\"category\":\"personal\",\"vulnerable\":true")->n, 0);
    /* not flagged vulnerable: not counted */
    pub(f, "asb.report", t0 + DAY, "\"victim\":\"W-1\",\"location\":{\"ward\":\"X\"},"
        "\"category\":\"personal\",\"vulnerable\":false");
    struct got *g = pub(f, "asb.report", t0 + 200 * DAY, "\"victim\":\"W-1\",\"location\":"
                        "{\"ward\":\"X\"},\"category\":\"nuisance\",\"vulnerable\":true");
    const struct dcopy *d = of(g, "community-marac.vulnerable");
    assert_non_null(d);
    assert_int_equal(d->prio, CSPH_PRIORITY_MEDIUM);
    expect_evidence(d, 2, E(1), E(3));
    assert_int_equal(d->due_ms, t0 + 200 * DAY + MINUTE + 28 * DAY);
    assert_string_equal(d->reason, "2 ASB reports by vulnerable victim W-1 between 1 Jul 2025 and "
                                   "17 Jan 2026 (threshold 2 in 365 days)");
}

/* ---- ASB case review -------------------------------------------------------------- */

static void test_asb_case_review_victim(void **state)
{
    struct fx *f = *state;
    assert_int_equal(asb(f, T("2025-01-02T19:00:00Z"), "V-1042", NULL, "E01000001")->n, 0);
    assert_int_equal(asb(f, T("2025-02-14T19:00:00Z"), "V-1042", NULL, "E01000002")->n, 0);
    f->recv_override = T("2025-04-03T21:00:00Z");
    struct got *g = asb(f, T("2025-04-03T20:00:00Z"), "V-1042", NULL, "E01000003");
    assert_int_equal(g->n, 1);
    const struct dcopy *d = of(g, "asb-case-review.victim");
    assert_non_null(d);
    assert_string_equal(d->panel, "asb-case-review");
    assert_int_equal(d->prio, CSPH_PRIORITY_STANDARD);
    assert_string_equal(d->reason, "3 ASB complaints by V-1042 between 2 Jan and 3 Apr 2025, each "
                                   "reported within a month (threshold 3 in 183 days)");
    expect_evidence(d, 3, E(1), E(2), E(3));
    /* 10 working days from Thu 3 Apr 2025 21:00 (received): two weekends */
    assert_true(d->has_due);
    assert_int_equal(d->raised_ms, T("2025-04-03T21:00:00Z"));
    char buf[32];
    csph_time_format(d->due_ms, buf);
    assert_string_equal(buf, "2025-04-17T21:00:00.000Z");
    /* A report without a victim does not count for the victim rule */
    assert_int_equal(asb(f, T("2025-04-04T20:00:00Z"), NULL, "L-9", NULL)->n, 0);
}

static void test_asb_case_review_location_distinct(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-03-03T09:00:00Z");
    /* 5 reports at L-2 by the same victim: one victim, no location alert */
    for (int i = 0; i < 5; i++)
        assert_null(of(asb(f, t0 + i * DAY, "V-same", "L-2", NULL), "asb-case-review.location"));
    /* 5 different victims at L-1 (one of them twice) */
    static const char *const victims[] = {"V-a", "V-b", "V-b", "V-c", "V-d"};
    for (int i = 0; i < 5; i++)
        assert_int_equal(asb(f, t0 + i * 10 * DAY, victims[i], "L-1", NULL)->n, 0);
    /* no victim given: not counted (and not a victim) */
    assert_int_equal(asb(f, t0 + 55 * DAY, NULL, "L-1", NULL)->n, 0);
    struct got *g = asb(f, t0 + 60 * DAY, "V-e", "L-1", NULL);
    assert_int_equal(g->n, 1);
    const struct dcopy *d = of(g, "asb-case-review.location");
    assert_non_null(d);
    assert_string_equal(d->key, "location.id=L-1");
    expect_evidence(d, 6, E(6), E(7), E(8), E(9), E(10), E(12));
    assert_string_equal(d->reason, "5 different victims reported ASB at location L-1 between 3 Mar "
                                   "and 2 May 2025 (6 reports; threshold 5 victims in 183 days)");
    assert_true(d->has_due);
    /* a sixth victim: suppressed */
    assert_int_equal(asb(f, t0 + 61 * DAY, "V-f", "L-1", NULL)->n, 0);
}

static void test_asb_hate_and_request(void **state)
{
    struct fx *f = *state;
    f->recv_override = T("2025-12-19T10:00:00Z"); /* a Friday */
    struct got *g = pub(f, "asb.report", T("2025-12-18T22:00:00Z"),
                        "\"victim\":\"H-1\",\"location\":{\"ward\":\"Y\"},\"category\":\"personal\","
                        "\"hate\":true");
    const struct dcopy *d = of(g, "asb-case-review.hate");
    assert_non_null(d);
    assert_int_equal(d->prio, CSPH_PRIORITY_MEDIUM);
    /* 10 working days from Fri 19 Dec 2025, skipping 25, 26 Dec and 1 Jan */
    assert_int_equal(d->due_ms, T("2026-01-07T10:00:00Z"));
    assert_string_equal(d->reason, "ASB report by victim H-1 on 18 Dec 2025 flagged as hate-motivated");
    assert_null(of(pub(f, "asb.report", T("2025-12-18T22:00:00Z"),
                       "\"victim\":\"H-2\",\"location\":{\"ward\":\"Y\"},\"category\":\"personal\","
                       "\"hate\":false"), "asb-case-review.hate"));

    g = pub(f, "case.review.request", T("2025-03-10T09:00:00Z"),
            "\"applicant\":\"A-1\",\"summary\":\"three reports, nothing done\"");
    assert_int_equal(g->n, 1);
    d = of(g, "asb-case-review.request");
    assert_non_null(d);
    assert_int_equal(d->prio, CSPH_PRIORITY_MEDIUM);
    assert_int_equal(d->due_ms, T("2025-03-24T09:01:00Z")); /* Mon + 10 working days */
    assert_string_equal(d->reason, "ASB case review application by A-1 on 10 Mar 2025");
}

/* ---- hate crime ------------------------------------------------------------------- */

static void test_hate_crime(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2024-11-11T11:00:00Z");
    assert_int_equal(pub(f, "hate.incident", t0, "\"victim\":\"H-1\",\"location\":{\"id\":\"U-1\"},"
                         "\"strand\":\"race\"")->n, 0);
    struct got *g = pub(f, "hate.incident", t0 + 364 * DAY, "\"victim\":\"H-1\",\"location\":"
                        "{\"id\":\"U-1\"},\"strand\":\"religion\"");
    assert_int_equal(g->n, 2);
    assert_string_equal(g->d[0].rule, "hate-crime.repeat");
    assert_string_equal(g->d[1].rule, "hate-crime.household");
    assert_string_equal(g->d[0].reason, "2 hate incidents against victim H-1 between 11 Nov 2024 and "
                                        "10 Nov 2025 (threshold 2 in 365 days)");
    assert_string_equal(g->d[1].reason, "2 hate incidents at address U-1 between 11 Nov 2024 and "
                                        "10 Nov 2025 (threshold 2 in 365 days)");
    expect_evidence(&g->d[1], 2, E(1), E(2));
    /* different victims at one household: household only */
    pub(f, "hate.incident", t0, "\"victim\":\"H-2\",\"location\":{\"id\":\"U-2\"},\"strand\":\"race\"");
    g = pub(f, "hate.incident", t0 + DAY, "\"victim\":\"H-3\",\"location\":{\"id\":\"U-2\"},"
            "\"strand\":\"race\"");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].rule, "hate-crime.household");
    /* 365 days apart: nothing */
    pub(f, "hate.incident", t0, "\"victim\":\"H-4\",\"location\":{\"id\":\"U-4\"},\"strand\":\"race\"");
    assert_int_equal(pub(f, "hate.incident", t0 + 365 * DAY, "\"victim\":\"H-4\",\"location\":"
                         "{\"id\":\"U-4\"},\"strand\":\"race\"")->n, 0);
}

/* ---- serious group violence, IOM -------------------------------------------------- */

static struct got *violence(struct fx *f, int64_t t, const char *extra)
{
    return pub(f, "violence.incident", t, "\"victim\":\"YV\",\"perpetrator\":\"YP\",%s", extra);
}

static void test_sgv_weapon_key_each(void **state)
{
    struct fx *f = *state;
    int64_t t = T("2025-08-08T23:30:00Z");
    struct got *g = violence(f, t, "\"victim_age\":17,\"perpetrator_age\":30,"
                                   "\"weapon\":\"knife\",\"injury\":\"minor\"");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].rule, "sgv.weapon");
    assert_string_equal(g->d[0].panel, "sgv");
    assert_string_equal(g->d[0].key, "victim=YV");
    assert_int_equal(g->d[0].prio, CSPH_PRIORITY_HIGH);
    assert_string_equal(g->d[0].reason, "Violence on 8 Aug 2025 with weapon knife and injury minor "
                                        "involving victim YV, aged 10-25");
    g = violence(f, t, "\"victim_age\":40,\"perpetrator_age\":19,\"weapon\":\"none\","
                       "\"injury\":\"serious\"");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].key, "perpetrator=YP");
    /* both 30: nobody aged 10-25 */
    assert_int_equal(violence(f, t, "\"victim_age\":30,\"perpetrator_age\":30,\"weapon\":\"firearm\","
                                    "\"injury\":\"fatal\"")->n, 0);
    /* young, but no weapon and a minor injury */
    assert_int_equal(violence(f, t, "\"victim_age\":17,\"perpetrator_age\":18,\"weapon\":\"other\","
                                    "\"injury\":\"minor\"")->n, 0);
    /* both young: one alert each, victim first */
    g = violence(f, t, "\"victim_age\":10,\"perpetrator_age\":25,\"weapon\":\"firearm\","
                       "\"injury\":\"none\"");
    assert_int_equal(g->n, 2);
    assert_string_equal(g->d[0].key, "victim=YV");
    assert_string_equal(g->d[1].key, "perpetrator=YP");
    /* ages unknown: no alternative applies */
    assert_int_equal(violence(f, t, "\"weapon\":\"knife\",\"injury\":\"none\"")->n, 0);
}

static void test_sgv_possession_and_iom(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-02-01T16:00:00Z");
    struct got *g = pub(f, "arrest", t0, "\"subject\":\"Y-1\",\"age\":19,\"offence\":\"weapon.possession\"");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].rule, "sgv.possession");
    assert_int_equal(g->d[0].prio, CSPH_PRIORITY_MEDIUM);
    assert_string_equal(g->d[0].reason, "Arrest of Y-1, aged 19, for weapon possession on 1 Feb 2025");
    assert_int_equal(pub(f, "arrest", t0, "\"subject\":\"Y-2\",\"age\":30,"
                         "\"offence\":\"weapon.possession\"")->n, 0);
    assert_int_equal(pub(f, "arrest", t0, "\"subject\":\"Y-3\",\"offence\":\"weapon.possession\"")->n, 0);

    assert_int_equal(pub(f, "arrest", t0, "\"subject\":\"O-1\",\"offence\":\"theft\"")->n, 0);
    assert_int_equal(pub(f, "arrest", t0 + 30 * DAY, "\"subject\":\"O-1\",\"offence\":\"drugs.supply\"")->n, 0);
    assert_int_equal(pub(f, "arrest", t0 + 60 * DAY, "\"subject\":\"O-1\",\"offence\":\"robbery\"")->n, 0);
    g = pub(f, "arrest", t0 + 90 * DAY, "\"subject\":\"O-1\",\"offence\":\"burglary.residential\"");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].rule, "iom.neighbourhood");
    expect_evidence(&g->d[0], 3, E(4), E(6), E(7));
    assert_string_equal(g->d[0].reason, "3 arrests of O-1 for neighbourhood crime between 1 Feb and "
                                        "2 May 2025 (threshold 3 in 365 days)");
}

/* ---- tasking ---------------------------------------------------------------------- */

static void test_tasking_hotspot(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-09-01T00:00:00Z");
    struct got *g;
    /* 19 reports in 30 days: below */
    for (int i = 0; i < 19; i++) {
        if (i % 3 == 0)
            g = pub(f, "violence.incident", t0 + i * 37 * HOUR,
                    "\"weapon\":\"none\",\"injury\":\"minor\",\"location\":{\"lsoa\":\"E01008000\"}");
        else
            g = asb(f, t0 + i * 37 * HOUR, NULL, NULL, "E01008000");
        assert_int_equal(g->n, 0);
    }
    /* 20th, inside 31 days of the first */
    g = asb(f, t0 + 31 * DAY - 1, NULL, NULL, "E01008000");
    assert_int_equal(g->n, 1);
    const struct dcopy *d = of(g, "tasking.hotspot");
    assert_non_null(d);
    assert_string_equal(d->panel, "tasking");
    assert_int_equal(d->prio, CSPH_PRIORITY_STANDARD);
    assert_string_equal(d->key, "location.lsoa=E01008000");
    assert_int_equal(d->nev, 20);
    assert_false(d->has_due);
    assert_string_equal(d->reason, "20 ASB and violence reports in LSOA E01008000 between 1 Sep and "
                                   "1 Oct 2025 (threshold 20 in 31 days)");
    /* another LSOA with 20 spread over exactly 31 days: never 20 in a window */
    for (int i = 0; i < 19; i++)
        asb(f, t0 + i * DAY, NULL, NULL, "E01009000");
    assert_int_equal(asb(f, t0 + 31 * DAY, NULL, NULL, "E01009000")->n, 0);
}

/* ---- overdue ------------------------------------------------------------------------ */

static struct got *timer(struct fx *f, uint64_t alert, const char *panel, const char *prio,
                         const char *due)
{
    return pub(f, "timer.fired", T(due), "\"alert\":%" PRIu64 ",\"panel\":\"%s\",\"rule\":\"r.x\","
               "\"priority\":\"%s\",\"key\":\"V-7\",\"due_at\":\"%s\"", alert, panel, prio, due);
}

static void test_overdue(void **state)
{
    struct fx *f = *state;
    struct got *g = timer(f, 17, "asb-case-review", "standard", "2025-04-17T21:00:00Z");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].rule, "overdue");
    assert_string_equal(g->d[0].panel, "asb-case-review");
    assert_int_equal(g->d[0].prio, CSPH_PRIORITY_MEDIUM);
    assert_string_equal(g->d[0].key, "alert=17");
    assert_false(g->d[0].has_due);
    assert_string_equal(g->d[0].reason, "Review overdue: alert 17 (r.x, V-7) was due on 17 Apr 2025 "
                                        "with no decision recorded");
    expect_evidence(&g->d[0], 1, E(1));
    assert_int_equal(timer(f, 18, "marac", "medium", "2025-04-17T21:00:00Z")->d[0].prio, CSPH_PRIORITY_HIGH);
    assert_int_equal(timer(f, 19, "marac", "high", "2025-04-17T21:00:00Z")->d[0].prio, CSPH_PRIORITY_HIGH);
    g = timer(f, 20, "channel", "standard", "2025-04-17T21:00:00Z");
    assert_string_equal(g->d[0].reason, "Review overdue: alert 20 was due with no decision recorded "
                                        "(channel)");
    /* an overdue escalation of alert 1042 on marac is not a MARAC alert for
     * a person whose reference happens to be "1042" */
    assert_int_equal(timer(f, 1042, "marac", "medium", "2025-04-18T21:00:00Z")->n, 1);
    assert_int_equal(da(f, "1042", T("2025-04-19T21:00:00Z"), 1)->n, 0);
    /* a panel no longer configured, or a priority we do not know: nothing */
    assert_int_equal(timer(f, 21, "gone", "high", "2025-04-17T21:00:00Z")->n, 0);
    assert_int_equal(timer(f, 22, "marac", "urgent", "2025-04-17T21:00:00Z")->n, 0);
}

/* ---- time: late events, horizon, restart, determinism ------------------------------------ */

static void test_late_event_completes_window(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-01-01T10:00:00Z");
    da(f, "V-L", t0, 1);
    da(f, "V-L", t0 + 300 * DAY, 1);
    /* a nightly extract brings an incident from day 150, received on day 302 */
    f->recv_override = t0 + 302 * DAY;
    struct got *g = da(f, "V-L", t0 + 150 * DAY, 1);
    const struct dcopy *d = of(g, "marac.escalation");
    assert_non_null(d);
    expect_evidence(d, 3, E(1), E(2), E(3));
    assert_int_equal(d->raised_ms, t0 + 302 * DAY);
    assert_string_equal(d->reason, "3 domestic abuse incidents for victim V-L between 1 Jan and "
                                   "28 Oct 2025 (threshold 3 in 365 days)");
    /* out of order in one batch: days 50, 10, 30 arrive newest first */
    begin(f);
    assert_int_equal(da(f, "V-O", t0 + 50 * DAY, 1)->n, 0);
    assert_int_equal(da(f, "V-O", t0 + 10 * DAY, 1)->n, 0);
    d = of(da(f, "V-O", t0 + 30 * DAY, 1), "marac.escalation");
    commit(f);
    assert_non_null(d);
    expect_evidence(d, 3, E(4), E(5), E(6));
}

static void test_late_event_counts(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-01-01T10:00:00Z");
    da(f, "V-H", t0, 1);
    da(f, "V-H", t0 + 10 * DAY, 1);
    da(f, "V-Z", t0 + 401 * DAY, 1); /* newer events elsewhere in the hub */
    /* From day 20, received on day 402: more than a window behind the
     * newest event, it still completes 3 within 365 days with days 0 and
     * 10 (no horizon). */
    f->recv_override = t0 + 402 * DAY;
    struct got *g = da(f, "V-H", t0 + 20 * DAY, 20);
    assert_non_null(of(g, "marac.high-risk"));
    const struct dcopy *d = of(g, "marac.escalation");
    assert_non_null(d);
    expect_evidence(d, 3, E(1), E(2), E(4));
}

/* Erasure's part: forgetting a person drops every record naming them, and
 * their next events count from nothing (another person's windows stay). */
static void test_forget_person(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-06-01T10:00:00Z");
    da(f, "V-GONE", t0, 1);
    da(f, "V-GONE", t0 + DAY, 1);
    da(f, "V-KEEP", t0, 1);
    da(f, "V-KEEP", t0 + DAY, 1);
    struct hub_error err = {0};
    uint64_t n = 0;
    begin(f);
    assert_int_equal(hub_rules_forget(f->rules, f->txn, "V-GONE", 6, &n, &err), CSPH_ERR_OK);
    commit(f);
    assert_true(n >= 2); /* at least the two incidents in marac.escalation's window */
    /* the third incident of V-GONE no longer completes a window ... */
    assert_null(of(da(f, "V-GONE", t0 + 2 * DAY, 1), "marac.escalation"));
    /* ... V-KEEP's does */
    assert_non_null(of(da(f, "V-KEEP", t0 + 2 * DAY, 1), "marac.escalation"));
}

static void test_restart_mid_window(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-05-05T05:00:00Z");
    begin(f);
    asb(f, t0, "V-RS", NULL, NULL);
    asb(f, t0 + DAY, "V-RS", NULL, NULL);
    commit(f);
    /* close everything and start again from the data directory */
    env_close(f);
    hub_rules_destroy(&f->rules);
    env_open(f);
    rules_load_path(f, f->rules_path);
    const struct dcopy *d = of(asb(f, t0 + 2 * DAY, "V-RS", NULL, NULL), "asb-case-review.victim");
    assert_non_null(d);
    expect_evidence(d, 3, E(1), E(2), E(3));
    env_close(f);
    hub_rules_destroy(&f->rules);
    env_open(f);
    rules_load_path(f, f->rules_path);
    assert_int_equal(asb(f, t0 + 3 * DAY, "V-RS", NULL, NULL)->n, 0); /* never twice */

    /* An aborted batch leaves no trace: the same event fires again after. */
    begin(f);
    d = of(asb(f, t0 + 4 * DAY, "V-AB", NULL, NULL), "asb-case-review.victim");
    assert_null(d);
    mdb_txn_abort(f->txn);
    f->txn = NULL;
    f->seq--;
    begin(f);
    asb(f, t0 + 4 * DAY, "V-AB", NULL, NULL);
    asb(f, t0 + 5 * DAY, "V-AB", NULL, NULL);
    assert_non_null(of(asb(f, t0 + 6 * DAY, "V-AB", NULL, NULL), "asb-case-review.victim"));
    commit(f);
}

/* A fresh environment with its state opened in an aborted first transaction. */
static void test_abort_first_transaction(void **state)
{
    struct fx *f = *state;
    int64_t t0 = T("2025-05-05T05:00:00Z");
    begin(f);
    da(f, "V-X", t0, 20);
    mdb_txn_abort(f->txn); /* the rule databases were created in this one */
    f->txn = NULL;
    f->seq = 0;
    /* another module opens a database in the slot ours had */
    MDB_txn *txn;
    MDB_dbi other;
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "someone.else", MDB_CREATE, &other), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    struct got *g = da(f, "V-X", t0, 20);
    assert_int_equal(g->n, 1);
    da(f, "V-X", t0 + DAY, 1);
    assert_non_null(of(da(f, "V-X", t0 + 2 * DAY, 1), "marac.escalation"));
    assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn), 0);
    MDB_stat st;
    assert_int_equal(mdb_stat(txn, other, &st), 0);
    assert_int_equal(st.ms_entries, 0); /* nothing of ours went there */
    mdb_txn_abort(txn);
}

/* A deterministic stream of mixed events, some late and out of order. */
struct gen {
    uint64_t x;
};

static uint32_t gen_next(struct gen *g)
{
    g->x ^= g->x << 13;
    g->x ^= g->x >> 7;
    g->x ^= g->x << 17;
    return (uint32_t)(g->x >> 11);
}

static void gen_event(struct fx *f, struct gen *g, int i, int64_t t0)
{
    int64_t t = t0 + (int64_t)i * 9 * HOUR;
    uint32_t r = gen_next(g);
    if (r % 10 == 0) {
        f->recv_override = t + MINUTE;
        t -= (int64_t)(gen_next(g) % 200) * DAY; /* late */
    }
    char who[16], loc[16], lsoa[16];
    snprintf(who, sizeof who, "P-%u", gen_next(g) % 23);
    snprintf(loc, sizeof loc, "L-%u", gen_next(g) % 7);
    snprintf(lsoa, sizeof lsoa, "E0100%04u", gen_next(g) % 3);
    switch (gen_next(g) % 8) {
    case 0: da(f, who, t, (int)(gen_next(g) % 28)); break;
    case 1: asb(f, t, who, loc, lsoa); break;
    case 2: call(f, who, t, gen_next(g) % 4 ? "asb" : "other"); break;
    case 3:
        pub(f, "violence.incident", t, "\"victim\":\"%s\",\"victim_age\":%u,\"weapon\":\"knife\","
            "\"injury\":\"minor\",\"location\":{\"lsoa\":\"%s\"}", who, gen_next(g) % 40, lsoa);
        break;
    case 4: pub(f, "hate.incident", t, "\"victim\":\"%s\",\"location\":{\"id\":\"%s\"},"
                "\"strand\":\"race\"", who, loc); break;
    case 5: pub(f, "arrest", t, "\"subject\":\"%s\",\"offence\":\"theft\"", who); break;
    case 6: pub(f, "referral", t, "\"subject\":\"%s\",\"panel\":\"marac\",\"reason\":\"r\"", who); break;
    default: pub(f, "missing.episode", t, "\"subject\":\"%s\",\"age\":15", who); break;
    }
}

static void log_drafts(const struct got *g, char **buf, size_t *len, size_t *cap)
{
    for (size_t i = 0; i < g->n; i++) {
        const struct dcopy *d = &g->d[i];
        char line[2048];
        int n = snprintf(line, sizeof line, "%" PRIu64 " %s %s %d %s due=%d:%" PRId64 " [%s] ev=",
                         d->seq, d->rule, d->panel, d->prio, d->key, d->has_due, d->due_ms, d->reason);
        for (size_t k = 0; k < d->nev && k < 256; k++)
            n += snprintf(line + n, sizeof line - (size_t)n, "%" PRIu64 ",", d->ev[k]);
        n += snprintf(line + n, sizeof line - (size_t)n, "\n");
        if (*len + (size_t)n + 1 > *cap) {
            *cap = (*cap + (size_t)n + 1) * 2;
            *buf = realloc(*buf, *cap);
        }
        memcpy(*buf + *len, line, (size_t)n + 1);
        *len += (size_t)n;
    }
}

static char *run_stream(struct fx *f, int batch, int nevents, size_t *ndrafts)
{
    struct gen g = {0x9E3779B97F4A7C15ull};
    char *buf = calloc(1, 1);
    size_t len = 0, cap = 1;
    int64_t t0 = T("2024-01-01T00:00:00Z");
    *ndrafts = 0;
    for (int i = 0; i < nevents; i++) {
        if (batch > 1 && i % batch == 0)
            begin(f);
        gen_event(f, &g, i, t0);
        *ndrafts += f->got.n;
        log_drafts(&f->got, &buf, &len, &cap);
        if (batch > 1 && (i % batch == batch - 1 || i == nevents - 1))
            commit(f);
    }
    return buf;
}

static void fresh_env(struct fx *f)
{
    env_close(f);
    tu_rmrf(f->dir);
    mkdir(f->dir, 0700);
    env_open(f);
    f->seq = 0;
}

static void test_determinism_across_batches(void **state)
{
    struct fx *f = *state;
    size_t n1, n2, n3;
    char *one = run_stream(f, 1, 1500, &n1);
    fresh_env(f);
    char *all = run_stream(f, 1500, 1500, &n2);
    fresh_env(f);
    char *sevens = run_stream(f, 7, 1500, &n3);
    assert_true(n1 > 50); /* the stream exercises the rules */
    assert_int_equal(n1, n2);
    assert_int_equal(n1, n3);
    assert_string_equal(one, all);
    assert_string_equal(one, sevens);
    printf("determinism: 1500 events, %zu drafts, identical in batches of 1, 7 and 1500\n", n1);
    free(one);
    free(all);
    free(sevens);
}

static void state_size(struct fx *f, uint64_t *entries, uint64_t *bytes)
{
    MDB_txn *txn;
    struct hub_error err = {0};
    assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn), 0);
    assert_int_equal(hub_rules_state_size(f->rules, txn, entries, bytes, &err), CSPH_ERR_OK);
    mdb_txn_abort(txn);
}


/* ---- deadlines ---------------------------------------------------------------------- */

static void test_working_days(void **state)
{
    struct fx *f = *state;
    const struct hub_rules *r = f->rules;
    /* Fri 19 Dec 2025 + 10: skips 25, 26 Dec and 1 Jan: Wed 7 Jan 2026 */
    assert_int_equal(hub_rules_add_working_days(r, T("2025-12-19T15:30:00Z"), 10),
                     T("2026-01-07T15:30:00Z"));
    /* Thu 17 Apr 2025 + 1: Good Friday, the weekend, Easter Monday */
    assert_int_equal(hub_rules_add_working_days(r, T("2025-04-17T09:00:00Z"), 1),
                     T("2025-04-22T09:00:00Z"));
    /* from a Saturday, + 1: Monday */
    assert_int_equal(hub_rules_add_working_days(r, T("2025-03-08T09:00:00Z"), 1),
                     T("2025-03-10T09:00:00Z"));
    assert_int_equal(hub_rules_add_working_days(r, T("2025-03-08T09:00:00Z"), 0),
                     T("2025-03-08T09:00:00Z"));
    /* 2028: Good Friday 14 Apr, Easter Monday 17 Apr */
    assert_int_equal(hub_rules_add_working_days(r, T("2028-04-13T12:00:00Z"), 1),
                     T("2028-04-18T12:00:00Z"));
    /* 2022: Jubilee 2-3 Jun, state funeral 19 Sep */
    assert_int_equal(hub_rules_add_working_days(r, T("2022-06-01T12:00:00Z"), 1),
                     T("2022-06-06T12:00:00Z"));
    assert_int_equal(hub_rules_add_working_days(r, T("2022-09-16T12:00:00Z"), 1),
                     T("2022-09-20T12:00:00Z"));

    /* hub_rules_due: the cadence the rule gives a priority */
    int rc_i = -1, acr_i = -1, hr_i = -1, ov_i = -1;
    for (size_t i = 0; i < hub_rules_count(r); i++) {
        const char *n = hub_rules_name(r, i);
        if (!strcmp(n, "community-marac.repeat-caller"))
            rc_i = (int)i;
        if (!strcmp(n, "asb-case-review.victim"))
            acr_i = (int)i;
        if (!strcmp(n, "marac.high-risk"))
            hr_i = (int)i;
        if (!strcmp(n, "overdue"))
            ov_i = (int)i;
    }
    int64_t raised = T("2025-12-19T10:00:00Z"), due = 0;
    assert_int_equal(hub_rules_due(r, rc_i, CSPH_PRIORITY_HIGH, raised, &due), 1);
    assert_int_equal(due, raised + 14 * DAY);
    assert_int_equal(hub_rules_due(r, rc_i, CSPH_PRIORITY_MEDIUM, raised, &due), 1);
    assert_int_equal(due, raised + 28 * DAY);
    assert_int_equal(hub_rules_due(r, rc_i, CSPH_PRIORITY_STANDARD, raised, &due), 0);
    assert_int_equal(hub_rules_due(r, acr_i, CSPH_PRIORITY_STANDARD, raised, &due), 1);
    assert_int_equal(due, T("2026-01-07T10:00:00Z"));
    assert_int_equal(hub_rules_due(r, hr_i, CSPH_PRIORITY_HIGH, raised, &due), 0);
    assert_int_equal(hub_rules_due(r, ov_i, CSPH_PRIORITY_HIGH, raised, &due), 0);
    assert_int_equal(hub_rules_due(r, 999, CSPH_PRIORITY_HIGH, raised, &due), 0);
    assert_int_equal(hub_rules_due(r, -1, CSPH_PRIORITY_HIGH, raised, &due), 0);
}

/* ---- broken rule files --------------------------------------------------------------- */

/* Write text (with a calendar beside it) and load it: the error message. */
static void expect_refused(struct fx *f, const char *text, int line, const char *says)
{
    char path[1024], cal[1024], want[1200];
    snprintf(path, sizeof path, "%s/broken.yaml", f->dir);
    snprintf(cal, sizeof cal, "%s/cal.yaml", f->dir);
    FILE *fp = fopen(cal, "w");
    fputs("weekend: [saturday, sunday]\nbank_holidays:\n  - 2025-12-25\n", fp);
    fclose(fp);
    fp = fopen(path, "w");
    fputs(text, fp);
    fclose(fp);
    struct hub_rules *r = NULL;
    struct hub_error err = {0};
    enum hub_err rc = hub_rules_load(&r, path, f->cfg.panels, f->cfg.npanels, test_schemas(f), &err);
    if (rc == CSPH_ERR_OK) {
        hub_rules_destroy(&r);
        fail_msg("accepted:\n%s", text);
    }
    assert_null(r);
    assert_int_equal(rc, CSPH_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:%d: ", path, line);
    if (strncmp(err.message, want, strlen(want)) != 0 || !strstr(err.message, says))
        fail_msg("expected '%s...%s', got '%s'", want, says, err.message);
}

#define RULE_HEAD "calendar: cal.yaml\nrules:\n  - name: a\n    panel: marac\n    when: da.incident\n"

static void test_broken_rule_files(void **state)
{
    struct fx *f = *state;
    /* YAML syntax */
    expect_refused(f, RULE_HEAD "    key: victim\n    priority: high: now\n", 7,
                   "mapping values are not allowed");
    expect_refused(f, "rules:\n  - name: a\n   panel: marac\n", 3, "");
    /* unknown panel */
    expect_refused(f, RULE_HEAD "    key: victim\n    priority: high\n  - name: b\n    panel: marak\n"
                      "    when: da.incident\n    key: victim\n    priority: high\n", 9,
                   "unknown panel 'marak'");
    /* unknown operator */
    expect_refused(f, RULE_HEAD "    match:\n      - any: [\"risk = high\", \"dash_score => 14\"]\n"
                      "    key: victim\n    priority: high\n", 7, "unknown operator '=>'");
    expect_refused(f, RULE_HEAD "    match: [\"risk == high\"]\n    key: victim\n    priority: high\n", 6,
                   "unknown operator '=='");
    expect_refused(f, RULE_HEAD "    match: [\"risk like high\"]\n    key: victim\n    priority: high\n", 6,
                   "unknown operator 'like'");
    /* unknown setting */
    expect_refused(f, RULE_HEAD "    key: victim\n    windw_days: 365\n    priority: high\n", 7,
                   "unknown setting 'windw_days' in rule 'a'");
    expect_refused(f, "calendar: cal.yaml\nrulez: []\n", 2, "unknown setting 'rulez'");
    /* duplicate name */
    expect_refused(f, RULE_HEAD "    key: victim\n    priority: high\n  - name: a\n    panel: marac\n"
                      "    when: da.incident\n    key: victim\n    priority: high\n", 8,
                   "rule name 'a' is used twice");
    /* unknown type, priority, bad numbers, tiers that do not rise */
    expect_refused(f, "rules:\n  - name: a\n    panel: marac\n    when: [da.incident, da.incidnet]\n"
                      "    key: victim\n    priority: high\n", 4, "unknown event type 'da.incidnet'");
    expect_refused(f, RULE_HEAD "    key: victim\n    priority: urgent\n", 7, "unknown priority 'urgent'");
    expect_refused(f, RULE_HEAD "    key: victim\n    window_days: a year\n    tiers: [{at_least: 3, "
                      "priority: medium}]\n", 7, "window_days must be a whole number");
    expect_refused(f, RULE_HEAD "    key: victim\n    window_days: 0\n    tiers: [{at_least: 3, "
                      "priority: medium}]\n", 7, "window_days must be between 1 and 3650");
    expect_refused(f, RULE_HEAD "    key: victim\n    window_days: 30\n    tiers:\n"
                      "      - {at_least: 10, priority: medium}\n      - {at_least: 3, priority: high}\n",
                   10, "tiers must rise");
    expect_refused(f, RULE_HEAD "    key: victim\n    window_days: 30\n    tiers:\n"
                      "      - {at_least: 3, priority: high}\n      - {at_least: 10, priority: medium}\n",
                   10, "tiers must rise");
    expect_refused(f, RULE_HEAD "    key: victim\n    window_days: 30\n    priority: high\n"
                      "    tiers: [{at_least: 3, priority: medium}]\n", 8, "priority in each tier");
    /* tests and keys */
    expect_refused(f, RULE_HEAD "    match: [\"age between 25 and 10\"]\n    key: victim\n"
                      "    priority: high\n", 6, "lower bound comes first");
    expect_refused(f, RULE_HEAD "    match: [\"weapon in knife\"]\n    key: victim\n"
                      "    priority: high\n", 6, "'in' takes a list");
    expect_refused(f, RULE_HEAD "    match: [{either: [\"risk = high\"]}]\n    key: victim\n"
                      "    priority: high\n", 6, "unknown group 'either'");
    expect_refused(f, RULE_HEAD "    match: [\"risk = high now\"]\n    key: victim\n"
                      "    priority: high\n", 6, "unexpected 'now'");
    expect_refused(f, RULE_HEAD "    key: vic tim\n    priority: high\n", 6, "is not a field name");
    expect_refused(f, RULE_HEAD "    priority: high\n", 3, "needs a key");
    /* reasons */
    expect_refused(f, RULE_HEAD "    key: victim\n    priority: high\n    reason: \"{cuont} incidents\"\n",
                   8, "unknown placeholder {cuont}");
    expect_refused(f, "rules:\n  - name: c\n    panel: channel\n    when: concern\n    key: subject\n"
                      "    priority: high\n    reason: \"{field:summary}\"\n", 7,
                   "restricted panel 'channel'");
    /* deadlines and prior alerts */
    expect_refused(f, "rules:\n  - name: a\n    panel: marac\n    when: da.incident\n    key: victim\n"
                      "    priority: high\n    due_working_days: 10\n", 7, "needs a calendar");
    expect_refused(f, RULE_HEAD "    key: victim\n    priority: high\n    prior_alert: {panel: marak, "
                      "within_days: 365}\n", 8, "unknown panel 'marak'");
    expect_refused(f, RULE_HEAD "    key: victim\n    priority: high\n    due_days: 5\n"
                      "    due_working_days: 5\n", 9, "not both");

    /* a broken calendar names the calendar's own file and line */
    char cal[1024], path[1024], want[1100];
    snprintf(cal, sizeof cal, "%s/cal2.yaml", f->dir);
    snprintf(path, sizeof path, "%s/ok.yaml", f->dir);
    FILE *fp = fopen(cal, "w");
    fputs("weekend: [saturday, sunday]\nbank_holidays:\n  - 2025-12-25\n  - 2025-02-30\n", fp);
    fclose(fp);
    fp = fopen(path, "w");
    fputs("calendar: cal2.yaml\nrules: []\n", fp);
    fclose(fp);
    struct hub_rules *r = NULL;
    struct hub_error err = {0};
    assert_int_equal(hub_rules_load(&r, path, f->cfg.panels, f->cfg.npanels, test_schemas(f), &err),
                     CSPH_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:4: '2025-02-30' is not a date", cal);
    if (strncmp(err.message, want, strlen(want)))
        fail_msg("got '%s'", err.message);
    /* a missing rule file is an I/O error */
    snprintf(path, sizeof path, "%s/absent.yaml", f->dir);
    assert_int_equal(hub_rules_load(&r, path, f->cfg.panels, f->cfg.npanels, test_schemas(f), &err),
                     CSPH_ERR_IO);
    assert_null(r);
}

/* Language corners not in the default pack: compound keys, !=, missing,
 * quoted values, nested groups, number vs text, {{ }}. */
static void test_language_corners(void **state)
{
    struct fx *f = *state;
    rules_use(f, "corners.yaml", "rules:\n"
          "  - name: pair\n"
          "    panel: marac\n"
          "    when: da.incident\n"
          "    match:\n"
          "      - \"risk != high\"\n"
          "      - all: [\"dash_score > 2\", {any: [\"dash_score < 5\", \"dash_score = 9\"]}]\n"
          "    key: [victim, perpetrator]\n"
          "    window_days: 10\n"
          "    tiers: [{at_least: 2, priority: standard, due_days: 1}]\n"
          "    reason: \"{{{count}}} for {key_name} {key} ({window} days)\"\n"
          "  - name: quiet\n"
          "    panel: marac\n"
          "    when: da.incident\n"
          "    match: [{any: [\"risk missing\", \"risk = 'high'\"]}, \"location.ward in ['Old Town', East]\"]\n"
          "    key: location.ward\n"
          "    priority: standard\n"
          "    reason: \"{rule} {field:location.ward} {field:dash_score} {priority} {due}\"\n");
    int64_t t0 = T("2025-01-01T00:00:00Z");
    const char *ev = "\"victim\":\"V\",\"perpetrator\":\"P\",\"risk\":\"medium\",\"dash_score\":%d";
    assert_int_equal(pub(f, "da.incident", t0, ev, 3)->n, 0);
    assert_int_equal(pub(f, "da.incident", t0 + DAY, ev, 6)->n, 0); /* 6: no group holds */
    struct got *g = pub(f, "da.incident", t0 + 2 * DAY, ev, 9);
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].key, "victim=V,perpetrator=P");
    assert_string_equal(g->d[0].reason, "{2} for victim + perpetrator V / P (10 days)");
    expect_evidence(&g->d[0], 2, E(1), E(3));
    assert_int_equal(g->d[0].due_ms, t0 + 2 * DAY + MINUTE + DAY);
    /* another perpetrator: another key */
    assert_int_equal(pub(f, "da.incident", t0 + 3 * DAY, "\"victim\":\"V\",\"perpetrator\":\"Q\","
                         "\"risk\":\"medium\",\"dash_score\":3")->n, 0);
    /* != is false when the field is missing: no risk, no alert for 'pair' */
    assert_int_equal(pub(f, "da.incident", t0 + 4 * DAY, "\"victim\":\"V\",\"perpetrator\":\"P\","
                         "\"dash_score\":3")->n, 0);
    /* 'quiet': a missing risk and a quoted ward with a space */
    g = pub(f, "da.incident", t0, "\"victim\":\"V\",\"location\":{\"ward\":\"Old Town\"}");
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].reason, "quiet Old Town not given standard no deadline");
    assert_int_equal(pub(f, "da.incident", t0, "\"victim\":\"V\",\"risk\":\"low\","
                         "\"location\":{\"ward\":\"East\"}")->n, 0);
    assert_int_equal(pub(f, "da.incident", t0, "\"victim\":\"V\",\"risk\":\"high\","
                         "\"location\":{\"ward\":\"East\"}")->n, 1);
}

/* Large window records (LMDB overflow pages, rewritten in place and
 * resized) across batches: counts stay exact. */
static void test_large_windows(void **state)
{
    struct fx *f = *state;
    rules_use(f, "big.yaml", "rules:\n"
          "  - name: big\n"
          "    panel: tasking\n"
          "    when: asb.report\n"
          "    key: location.lsoa\n"
          "    window_days: 30\n"
          "    tiers: [{at_least: 250, priority: standard}, {at_least: 400, priority: high}]\n");
    int64_t t0 = T("2025-01-01T00:00:00Z");
    size_t fired = 0;
    for (int i = 0; i < 450; i++) {
        if (i % 100 == 0)
            begin(f);
        /* two LSOAs interleaved; the second one's events arrive newest first */
        struct got *g = asb(f, t0 + (int64_t)i * HOUR, NULL, NULL, "E01000001");
        if (g->n) {
            fired++;
            assert_int_equal(i + 1, g->d[0].prio == CSPH_PRIORITY_STANDARD ? 250 : 400);
            assert_int_equal(g->d[0].nev, (size_t)(i + 1));
        }
        g = asb(f, t0 + (int64_t)(450 - i) * HOUR, NULL, NULL, "E01000002");
        if (g->n) {
            fired++;
            assert_int_equal(i + 1, g->d[0].prio == CSPH_PRIORITY_STANDARD ? 250 : 400);
        }
        if (i % 100 == 99 || i == 449)
            commit(f);
    }
    assert_int_equal(fired, 4);
}

/* A window at its 4,096-entry cap, held decoded across a transaction: an
 * event older than everything it keeps changes nothing, and the window is
 * still whole afterwards. 4,096 reports by one victim fill it; a report
 * by another victim, dated before all of them, is not counted; one dated
 * after them makes two different victims, with every earlier report still
 * in the window. The same in one transaction as in one per event. */
static char *cap_stream(struct fx *f, int one_txn, size_t *nd)
{
    char *buf = calloc(1, 1);
    size_t len = 0, cap = 1;
    int64_t t0 = T("2025-01-01T00:00:00Z");
    *nd = 0;
    if (one_txn)
        begin(f);
    for (int i = 0; i < 4098; i++) {
        int64_t t = i < 4096 ? t0 + (int64_t)i * MINUTE : i == 4096 ? t0 - HOUR : t0 + 5 * DAY;
        struct got *g = asb(f, t, i < 4096 ? "V-A" : "V-B", NULL, "E01000001");
        *nd += g->n;
        log_drafts(g, &buf, &len, &cap);
        if (i == 4097 && g->n) {
            assert_int_equal(g->d[0].nev, 4096);
            assert_int_equal(g->d[0].ev[0], f->seq - 4096); /* the oldest report made room */
        }
    }
    if (one_txn)
        commit(f);
    return buf;
}

static void test_window_cap_held(void **state)
{
    struct fx *f = *state;
    rules_use(f, "cap.yaml", "rules:\n"
          "  - name: cap\n"
          "    panel: tasking\n"
          "    when: asb.report\n"
          "    key: location.lsoa\n"
          "    distinct: victim\n"
          "    window_days: 30\n"
          "    tiers: [{at_least: 2, priority: standard}]\n");
    size_t n1, n2;
    char *each = cap_stream(f, 0, &n1);
    fresh_env(f);
    char *one = cap_stream(f, 1, &n2);
    assert_int_equal(n1, 1);
    assert_int_equal(n2, 1);
    assert_string_equal(each, one);
    free(each);
    free(one);
}

/* ---- the state across upgrades, aborts, restarts -------------------------------------- */


/* State left by a version 1 engine (a record per rule and key in
 * rules.window, per panel and key in rules.prior, the high-water mark in
 * rules.meta) is converted on first use: a half-filled window completes,
 * an earlier alert still counts, the horizon still holds. */

/* The engine keeps an index of its state in memory: aborted batches,
 * restarts and reloads (a new engine on the same data) in the middle of a
 * stream change no outcome. */
static void test_aborts_restarts_reloads(void **state)
{
    struct fx *f = *state;
    size_t nref, nd = 0, len = 0, cap = 1;
    char *ref = run_stream(f, 1, 1500, &nref);
    fresh_env(f);
    struct gen g = {0x9E3779B97F4A7C15ull};
    char *buf = calloc(1, 1);
    int64_t t0 = T("2024-01-01T00:00:00Z");
    int aborts = 0, restarts = 0, reloads = 0;
    for (int i = 0, batch = 0; i < 1500; batch++) {
        int n = 1 + batch % 13;
        if (n > 1500 - i)
            n = 1500 - i;
        if (batch % 3 == 1) { /* evaluated, then aborted: as if never seen */
            struct gen saved = g;
            uint64_t seq0 = f->seq;
            begin(f);
            for (int j = 0; j < n; j++)
                gen_event(f, &g, i + j, t0);
            mdb_txn_abort(f->txn);
            f->txn = NULL;
            g = saved;
            f->seq = seq0;
            aborts++;
        }
        begin(f);
        for (int j = 0; j < n; j++) {
            gen_event(f, &g, i + j, t0);
            nd += f->got.n;
            log_drafts(&f->got, &buf, &len, &cap);
        }
        commit(f);
        i += n;
        if (batch % 7 == 6) {
            env_close(f);
            hub_rules_destroy(&f->rules);
            env_open(f);
            rules_load_path(f, f->rules_path);
            restarts++;
        } else if (batch % 5 == 4) {
            hub_rules_destroy(&f->rules);
            rules_load_path(f, f->rules_path);
            reloads++;
        }
    }
    printf("aborts, restarts, reloads: %zu drafts with %d aborted batches, %d restarts, %d reloads\n",
           nd, aborts, restarts, reloads);
    assert_int_equal(nd, nref);
    assert_string_equal(ref, buf);
    free(ref);
    free(buf);
}

/* A few keys rewritten in transaction after transaction: what their
 * rewrites leave behind is cleaned up, so the state stays near its live
 * size (6 records here). */

/* ---- cost ------------------------------------------------------------------------------- */

static void test_eval_cost(void **state)
{
    struct fx *f = *state;
    struct gen g = {12345};
    int64_t t0 = T("2024-01-01T00:00:00Z");
    const int n = 20000, batch = 1000;
    size_t drafts = 0;
    f->baseline = 1;
    for (int i = 0; i < n; i++) {
        if (i % batch == 0)
            begin(f);
        gen_event(f, &g, i, t0);
        drafts += f->got.n;
        if (i % batch == batch - 1)
            commit(f);
    }
    printf("eval cost: %d mixed events in batches of %d, %zu drafts: %.2f us/event in "
           "hub_rules_eval; baseline one put of the event bytes: %.2f us/event\n",
           n, batch, drafts, (double)f->eval_ns / n / 1000.0, (double)f->put_ns / n / 1000.0);
    uint64_t entries, bytes;
    state_size(f, &entries, &bytes);
    printf("state after the run: %" PRIu64 " records, %" PRIu64 " bytes\n", entries, bytes);
}

/* ==== The rewritten engine (76014c4), with rule files the tests write ====
 * These tests never read config/rules.yaml: each writes its own rule file
 * (rules_use) on the setup_own fixture. */

static struct got *pcall(struct fx *f, const char *caller, int64_t t, const char *category)
{
    return pub(f, "call", t, "\"caller\":\"%s\",\"category\":\"%s\"", caller, category);
}

/* "P-<k>" (a static buffer: used at once). */
static const char *pkey(int k)
{
    static char b[16];
    snprintf(b, sizeof b, "P-%d", k);
    return b;
}

static int cmp_seq(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* fresh_env, keeping the rule file in use (it lives in the directory
 * fresh_env empties, and a restart loads it again). */
static void fresh_env_keep_rules(struct fx *f)
{
    char buf[8192];
    FILE *fp = fopen(f->rules_path, "rb");
    assert_non_null(fp);
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    assert_true(n < sizeof buf);
    fresh_env(f);
    fp = fopen(f->rules_path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, n, fp), n);
    fclose(fp);
}

/* ---- a reference model of windowed rules (the comment atop rules.c), O(n^2) ---- */

#define MODEL_MAX 512

struct mev {
    int key;      /* the caller P-<key> */
    int64_t t;    /* occurred_at: the window time */
    int cat;      /* index into prop_cats */
    uint64_t seq; /* given when it arrives */
};

struct mrule {
    const char *name;
    int64_t W;
    size_t ntiers;
    int64_t at_least[4];
    enum hub_priority prio[4];  /* distinct per tier: a draft's priority gives its tier */
    int distinct;               /* count distinct categories instead of events */
};

struct mfired {
    int key;
    int64_t t;
    int tier;
};

struct model {
    const struct mrule *R;
    struct mev ev[MODEL_MAX]; /* what has arrived */
    size_t n;
    struct mfired fired[MODEL_MAX];
    size_t nfired;
};

struct mdraft {
    int fired, tier;
    uint64_t ev[256];
    size_t nev;
};

static const char *const prop_cats[] = {"asb", "domestic", "crime", "welfare", "other"};

static uint64_t model_value(const struct mrule *R, const struct mev *ev, size_t n, int key,
                            int64_t s)
{
    unsigned cats = 0;
    uint64_t cnt = 0;
    for (size_t i = 0; i < n; i++)
        if (ev[i].key == key && ev[i].t >= s && ev[i].t - s < R->W) {
            cnt++;
            cats |= 1u << ev[i].cat;
        }
    return R->distinct ? (uint64_t)__builtin_popcount(cats) : cnt;
}

/* e arrives: the alert the semantics give (out->fired 0: none). */
static void model_arrive(struct model *m, const struct mev *e, struct mdraft *out)
{
    const struct mrule *R = m->R;
    assert_true(m->n < MODEL_MAX);
    m->ev[m->n++] = *e;
    out->fired = 0;
    out->nev = 0;
    /* every window of W containing e->t, over every event however late:
     * the highest value wins, the earliest on a tie */
    uint64_t best = 0;
    int64_t bs = 0;
    for (size_t i = 0; i < m->n; i++) {
        const struct mev *x = &m->ev[i];
        if (x->key != e->key || x->t > e->t || e->t - x->t >= R->W)
            continue;
        uint64_t v = model_value(R, m->ev, m->n, e->key, x->t);
        if (v > best || (v == best && x->t < bs)) {
            best = v;
            bs = x->t;
        }
    }
    int reached = -1;
    for (size_t k = 0; k < R->ntiers; k++)
        if (best >= (uint64_t)R->at_least[k])
            reached = (int)k;
    if (reached < 0)
        return;
    for (size_t i = 0; i < m->nfired; i++) { /* quiet */
        const struct mfired *q = &m->fired[i];
        int64_t d = q->t > e->t ? q->t - e->t : e->t - q->t;
        if (q->key == e->key && q->tier >= reached && d < R->W)
            return;
    }
    assert_true(m->nfired < MODEL_MAX);
    m->fired[m->nfired++] = (struct mfired){e->key, e->t, reached};
    out->fired = 1;
    out->tier = reached;
    for (size_t i = 0; i < m->n; i++)
        if (m->ev[i].key == e->key && m->ev[i].t >= bs && m->ev[i].t - bs < R->W) {
            assert_true(out->nev < 256);
            out->ev[out->nev++] = m->ev[i].seq;
        }
    qsort(out->ev, out->nev, sizeof *out->ev, cmp_seq);
}

/* An alert as the guarantee needs it: its key, tier and trigger's window time. */
struct alog {
    int key, tier;
    int64_t t;
};

/* The engine's drafts for e against the model's for rule R; the alert is
 * logged into a (when fired). */
static void expect_model(const struct got *g, const struct mrule *R, const struct mdraft *md,
                         const struct mev *e, struct alog *a, size_t *na, const char *ctx)
{
    const struct dcopy *d = of(g, R->name);
    if (!md->fired) {
        if (d)
            fail_msg("%s: %s raised %s for P-%d at seq %" PRIu64 "; the model raises nothing", ctx,
                     R->name, hub_priority_name(d->prio), e->key, e->seq);
        return;
    }
    if (!d)
        fail_msg("%s: %s raised nothing for P-%d at seq %" PRIu64 "; the model raises %s with %zu "
                 "events", ctx, R->name, e->key, e->seq, hub_priority_name(R->prio[md->tier]),
                 md->nev);
    char key[32];
    snprintf(key, sizeof key, "caller=P-%d", e->key);
    assert_string_equal(d->key, key);
    assert_int_equal(d->seq, e->seq);
    if (d->prio != R->prio[md->tier])
        fail_msg("%s: %s at seq %" PRIu64 ": priority %s, the model says %s", ctx, R->name, e->seq,
                 hub_priority_name(d->prio), hub_priority_name(R->prio[md->tier]));
    int same = d->nev == md->nev;
    for (size_t i = 0; same && i < md->nev; i++)
        same = d->ev[i] == md->ev[i];
    if (!same) {
        char got[1024] = "", want[1024] = "";
        size_t o1 = 0, o2 = 0;
        for (size_t i = 0; i < d->nev && o1 < 1000; i++)
            o1 += (size_t)snprintf(got + o1, sizeof got - o1, "%" PRIu64 " ", d->ev[i]);
        for (size_t i = 0; i < md->nev && o2 < 1000; i++)
            o2 += (size_t)snprintf(want + o2, sizeof want - o2, "%" PRIu64 " ", md->ev[i]);
        fail_msg("%s: %s at seq %" PRIu64 ": evidence [%s], the model says [%s]", ctx, R->name,
                 e->seq, got, want);
    }
    a[(*na)++] = (struct alog){e->key, md->tier, e->t};
}

/* The guarantee (rules.h): every window that reaches a tier when the
 * events are taken in occurred_at order has an alert of that key at that
 * tier or higher whose trigger is less than W from an event of the window. */
static void check_guarantee(const struct mrule *R, const struct mev *ev, size_t n,
                            const struct alog *a, size_t na, const char *ctx)
{
    for (size_t i = 0; i < n; i++) {
        int key = ev[i].key;
        int64_t s = ev[i].t;
        uint64_t v = model_value(R, ev, n, key, s);
        for (size_t k = 0; k < R->ntiers; k++) {
            if (v < (uint64_t)R->at_least[k])
                continue;
            int found = 0;
            for (size_t q = 0; q < na && !found; q++) {
                if (a[q].key != key || a[q].tier < (int)k)
                    continue;
                for (size_t y = 0; y < n && !found; y++) {
                    int64_t d = a[q].t > ev[y].t ? a[q].t - ev[y].t : ev[y].t - a[q].t;
                    found = ev[y].key == key && ev[y].t >= s && ev[y].t - s < R->W && d < R->W;
                }
            }
            if (!found) {
                char when[32];
                csph_time_format(s, when);
                fail_msg("%s: %s: the window of P-%d from %s reaches tier %zu (%" PRIu64
                         ") in occurred_at order, but no alert at that tier or higher is near it",
                         ctx, R->name, key, when, k, v);
            }
        }
    }
}

static const char prop_rules[] =
    "rules:\n"
    "  - name: prop.count\n"
    "    panel: community-marac\n"
    "    when: call\n"
    "    key: caller\n"
    "    window_days: 10\n"
    "    tiers: [{at_least: 3, priority: medium}, {at_least: 5, priority: high}]\n"
    "  - name: prop.distinct\n"
    "    panel: community-marac\n"
    "    when: call\n"
    "    key: caller\n"
    "    distinct: category\n"
    "    window_days: 10\n"
    "    tiers: [{at_least: 3, priority: medium}, {at_least: 4, priority: high}]\n";

static const struct mrule prop_count = {"prop.count", 10 * DAY, 2, {3, 5},
                                        {CSPH_PRIORITY_MEDIUM, CSPH_PRIORITY_HIGH}, 0};
static const struct mrule prop_distinct = {"prop.distinct", 10 * DAY, 2, {3, 4},
                                           {CSPH_PRIORITY_MEDIUM, CSPH_PRIORITY_HIGH}, 1};

/* A feed of calls over a few callers, on a 12-hour grid (so many pairs are
 * exactly 10 days apart) with some 1 ms before a grid point. */
static size_t prop_feed(struct mev *ev, size_t n, uint64_t seed, int64_t t0, int steps, int nkeys)
{
    struct gen g = {seed};
    for (size_t i = 0; i < n; i++) {
        uint32_t r = gen_next(&g) % 10;
        ev[i].key = nkeys == 4 ? (r < 4 ? 0 : r < 7 ? 1 : r < 9 ? 2 : 3) : (int)(gen_next(&g) % (uint32_t)nkeys);
        if (nkeys != 4 && r < 4)
            ev[i].key = 0; /* one busy caller */
        ev[i].t = t0 + (int64_t)(gen_next(&g) % (uint32_t)steps) * 12 * HOUR;
        if (gen_next(&g) % 9 == 0)
            ev[i].t -= 1;
        ev[i].cat = (int)(gen_next(&g) % 5);
        ev[i].seq = 0;
    }
    return n;
}

static void sort_by_time(const struct mev *ev, size_t *perm, size_t n)
{
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = 1; i < n; i++) /* insertion sort: stable, (t, index) */
        for (size_t j = i; j > 0 && ev[perm[j - 1]].t > ev[perm[j]].t; j--) {
            size_t x = perm[j];
            perm[j] = perm[j - 1];
            perm[j - 1] = x;
        }
}

struct prop_run {
    struct model m[2];
    struct alog a[2][MODEL_MAX];
    size_t na[2];
    struct mev arrived[MODEL_MAX]; /* in arrival order, with their seqs */
    size_t n;
    size_t drafts;
};

/* Send feed[perm[i]] in that order: mode 0 each in its own transaction;
 * 1 batches committed; 2 batches with the environment closed and reopened
 * (and the rules loaded afresh) after each; 3 batches, some first
 * evaluated and aborted, then sent again. Every draft is compared with the
 * model as it comes. */
static void prop_send(struct fx *f, struct prop_run *run, const struct mrule *const *rules,
                      size_t nrules, const struct mev *feed, const size_t *perm, size_t n, int mode,
                      uint64_t seed, const char *ctx)
{
    struct gen g = {seed | 1};
    for (size_t k = 0; k < nrules; k++) {
        run->m[k].R = rules[k];
        run->m[k].n = run->m[k].nfired = 0;
        run->na[k] = 0;
    }
    run->n = 0;
    for (size_t i = 0, batch = 0; i < n; batch++) {
        size_t len = mode == 0 ? 1 : 1 + gen_next(&g) % 17;
        if (len > n - i)
            len = n - i;
        if (mode == 3 && batch % 3 == 1) { /* evaluated, then aborted: as if never sent */
            uint64_t seq0 = f->seq;
            begin(f);
            for (size_t j = 0; j < len; j++) {
                const struct mev *e = &feed[perm[i + j]];
                pcall(f, pkey(e->key), e->t, prop_cats[e->cat]);
            }
            mdb_txn_abort(f->txn);
            f->txn = NULL;
            f->seq = seq0;
        }
        if (mode != 0)
            begin(f);
        for (size_t j = 0; j < len; j++) {
            struct mev e = feed[perm[i + j]];
            struct got *gd = pcall(f, pkey(e.key), e.t, prop_cats[e.cat]);
            e.seq = f->seq;
            assert_int_equal(e.seq, run->n + 1);
            run->arrived[run->n++] = e;
            run->drafts += gd->n;
            for (size_t k = 0; k < nrules; k++) {
                struct mdraft md;
                model_arrive(&run->m[k], &e, &md);
                expect_model(gd, rules[k], &md, &e, run->a[k], &run->na[k], ctx);
            }
            assert_int_equal(gd->n, (size_t)(of(gd, rules[0]->name) != NULL) +
                                        (nrules > 1 ? (of(gd, rules[1]->name) != NULL) : 0));
        }
        if (mode != 0)
            commit(f);
        if (mode == 2) {
            env_close(f);
            hub_rules_destroy(&f->rules);
            env_open(f);
            rules_load_path(f, f->rules_path);
        }
        i += len;
    }
    for (size_t k = 0; k < nrules; k++)
        check_guarantee(rules[k], run->arrived, run->n, run->a[k], run->na[k], ctx);
}

/* Drafts equal the reference model's in 24 arrival orders and batchings; the guarantee holds. */
static void test_property_arrival_orders(void **state)
{
    struct fx *f = *state;
    /* 24 orders: occurred_at order, reversed, as generated, shuffled, nearly
     * sorted; mode o % 4: each event its own transaction, batches, batches
     * with restarts, batches first aborted then resent */
    rules_use(f, "prop.yaml", prop_rules);
    static struct mev feed[96];
    static size_t perm[96];
    static struct prop_run run;
    const struct mrule *rules[] = {&prop_count, &prop_distinct};
    size_t n = prop_feed(feed, 96, 0x5DEECE66Dull, T("2025-03-01T00:00:00Z"), 160, 4);
    size_t per_tier[2][2] = {{0}};
    for (int o = 0; o < 24; o++) {
        struct gen g = {0xA5A5A5A5ull + (uint64_t)o * 7919};
        if (o == 0 || o == 1 || o % 5 == 3) {
            sort_by_time(feed, perm, n);
            if (o == 1)
                for (size_t i = 0; i < n / 2; i++) {
                    size_t x = perm[i];
                    perm[i] = perm[n - 1 - i];
                    perm[n - 1 - i] = x;
                }
            if (o % 5 == 3) /* nearly sorted: a few late */
                for (int s = 0; s < 8; s++) {
                    size_t a = gen_next(&g) % n, b = gen_next(&g) % n, x = perm[a];
                    perm[a] = perm[b];
                    perm[b] = x;
                }
        } else {
            for (size_t i = 0; i < n; i++)
                perm[i] = i;
            if (o != 2)
                for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
                    size_t j = gen_next(&g) % (i + 1), x = perm[i];
                    perm[i] = perm[j];
                    perm[j] = x;
                }
        }
        char ctx[64];
        snprintf(ctx, sizeof ctx, "order %d (mode %d)", o, o % 4);
        fresh_env_keep_rules(f);
        run.drafts = 0;
        prop_send(f, &run, rules, 2, feed, perm, n, o % 4, (uint64_t)o + 77, ctx);
        for (int k = 0; k < 2; k++)
            for (size_t q = 0; q < run.na[k]; q++)
                per_tier[k][run.a[k][q].tier]++;
    }
    printf("property: 24 orders of %zu calls; alerts count medium %zu high %zu, distinct medium "
           "%zu high %zu\n", n, per_tier[0][0], per_tier[0][1], per_tier[1][0], per_tier[1][1]);
    for (int k = 0; k < 2; k++) /* the feed exercises both tiers of both rules */
        for (int t = 0; t < 2; t++)
            assert_true(per_tier[k][t] >= 24);
}

/* Late events at a window's edge: D apart is outside, D - 1 ms inside; quiet likewise. */
static void test_window_edge_late(void **state)
{
    struct fx *f = *state;
    rules_use(f, "edge.yaml", "rules:\n"
          "  - name: two\n"
          "    panel: community-marac\n"
          "    when: call\n"
          "    key: caller\n"
          "    window_days: 30\n"
          "    tiers: [{at_least: 2, priority: medium}, {at_least: 3, priority: high}]\n"
          "  - name: one\n"
          "    panel: community-marac\n"
          "    when: call\n"
          "    key: caller\n"
          "    window_days: 30\n"
          "    tiers: [{at_least: 2, priority: medium}]\n");
    int64_t t0 = T("2025-02-01T08:00:00Z"), X = t0;
    const struct dcopy *d;
    /* exactly 30 days apart, the earlier arriving late: no window holds both */
    assert_int_equal(pcall(f, "K-A", t0 + 30 * DAY, "asb")->n, 0);
    assert_int_equal(pcall(f, "K-A", t0, "asb")->n, 0);
    /* 30 days less 1 ms: one window */
    assert_int_equal(pcall(f, "K-B", t0 + 30 * DAY - 1, "asb")->n, 0);
    d = of(pcall(f, "K-B", t0, "asb"), "two");
    assert_non_null(d);
    assert_int_equal(d->prio, CSPH_PRIORITY_MEDIUM);
    expect_evidence(d, 2, E(3), E(4));
    /* K-C: medium fires at day 30 (days 15, 30); a late day 0 makes
     * [0, 30) with day 15: medium again, as the day-30 alert is exactly a
     * window away; a late 0 + 1 ms then makes three: high */
    assert_int_equal(pcall(f, "K-C", t0 + 15 * DAY, "asb")->n, 0);
    d = of(pcall(f, "K-C", t0 + 30 * DAY, "asb"), "two");
    assert_non_null(d);
    expect_evidence(d, 2, E(5), E(6));
    d = of(pcall(f, "K-C", t0, "asb"), "two");
    assert_non_null(d);
    assert_int_equal(d->prio, CSPH_PRIORITY_MEDIUM);
    expect_evidence(d, 2, E(5), E(7));
    d = of(pcall(f, "K-C", t0 + 1, "asb"), "two");
    assert_non_null(d);
    assert_int_equal(d->prio, CSPH_PRIORITY_HIGH);
    expect_evidence(d, 3, E(5), E(7), E(8));
    /* K-D (rule one): day 29, then day 0 late: medium, triggered at day 0.
     * Day 30 with day 29 makes 2, exactly a window from the trigger: fires. */
    assert_null(of(pcall(f, "K-D", X + 29 * DAY, "asb"), "one"));
    d = of(pcall(f, "K-D", X, "asb"), "one");
    assert_non_null(d);
    expect_evidence(d, 2, E(9), E(10));
    d = of(pcall(f, "K-D", X + 30 * DAY, "asb"), "one");
    assert_non_null(d);
    expect_evidence(d, 2, E(9), E(11));
    /* K-E: the same with day 30 less 1 ms: quiet */
    assert_null(of(pcall(f, "K-E", X + 29 * DAY, "asb"), "one"));
    assert_non_null(of(pcall(f, "K-E", X, "asb"), "one"));
    assert_null(of(pcall(f, "K-E", X + 30 * DAY - 1, "asb"), "one"));
}

/* A rebuild marks whole the windows of the rules that counted every event
 * (hub/ingest.c): a rule of an older rule set counts into the same series
 * when what decides what it counts is the same (its tiers and reason
 * aside), and not when a test differs. */
static void test_counts_alike_across_rule_sets(void **state)
{
    struct fx *f = *state;
    rules_use(f, "old.yaml", "rules:\n"
          "  - name: place\n"
          "    panel: tasking\n"
          "    when: asb.report\n"
          "    key: location.lsoa\n"
          "    window_days: 30\n"
          "    tiers: [{at_least: 5, priority: standard}]\n"
          "  - name: victim\n"
          "    panel: asb-case-review\n"
          "    when: asb.report\n"
          "    key: victim\n"
          "    window_days: 183\n"
          "    tiers: [{at_least: 3, priority: standard}]\n");
    struct hub_rules *old = f->rules;
    f->rules = NULL;
    rules_use(f, "new.yaml", "rules:\n"
          "  - name: place\n"
          "    panel: tasking\n"
          "    when: asb.report\n"
          "    key: location.lsoa\n"
          "    window_days: 30\n"
          "    tiers: [{at_least: 8, priority: medium}]\n"
          "    reason: \"{count} at {key}\"\n"
          "  - name: victim\n"
          "    panel: asb-case-review\n"
          "    when: asb.report\n"
          "    match: [\"hate = true\"]\n"
          "    key: victim\n"
          "    window_days: 183\n"
          "    tiers: [{at_least: 3, priority: standard}]\n");
    assert_true(hub_rules_counts_alike(f->rules, 0, old));   /* tiers, reason changed */
    assert_false(hub_rules_counts_alike(f->rules, 1, old));  /* a test added: other events */
    assert_true(hub_rules_counts_alike(f->rules, 1, f->rules));
    assert_false(hub_rules_counts_alike(f->rules, 7, old));  /* no such rule */
    assert_false(hub_rules_counts_alike(f->rules, 0, NULL));
    hub_rules_destroy(&old);
}

/* A year's backfill after a live month: the model's drafts, every in-order tier reached. */
static void test_backfill_year_after_live_month(void **state)
{
    struct fx *f = *state;
    /* the import runs in batches with a restart after each; drafts are
     * compared with the model and the guarantee checked as well */
    rules_use(f, "prop.yaml", prop_rules);
    static struct mev feed[420];
    static size_t perm[420];
    static struct prop_run run, inorder;
    const struct mrule *rules[] = {&prop_count, &prop_distinct};
    /* 360 events in 2024 (the history), 60 in January 2025 (live) */
    prop_feed(feed, 360, 0xB0B0ull, T("2024-01-01T00:00:00Z"), 732, 6);
    prop_feed(feed + 360, 60, 0xC0C0ull, T("2025-01-01T00:00:00Z"), 62, 6);
    size_t n = 420;
    /* in occurred_at order first */
    sort_by_time(feed, perm, n);
    inorder.drafts = 0;
    prop_send(f, &inorder, rules, 2, feed, perm, n, 1, 5, "in order");
    /* then live first (in order, one at a time), the history after it */
    fresh_env_keep_rules(f);
    size_t live[60], hist[360];
    sort_by_time(feed + 360, live, 60);
    sort_by_time(feed, hist, 360);
    for (size_t i = 0; i < 60; i++)
        perm[i] = 360 + live[i];
    for (size_t i = 0; i < 360; i++)
        perm[60 + i] = hist[i];
    run.drafts = 0;
    prop_send(f, &run, rules, 2, feed, perm, n, 2, 11, "backfill");
    size_t reached = 0;
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < inorder.na[k]; i++) {
            int found = 0;
            for (size_t j = 0; j < run.na[k] && !found; j++)
                found = run.a[k][j].key == inorder.a[k][i].key &&
                        run.a[k][j].tier >= inorder.a[k][i].tier;
            if (!found)
                fail_msg("%s: P-%d reached tier %d in order, never after the backfill",
                         rules[k]->name, inorder.a[k][i].key, inorder.a[k][i].tier);
            reached++;
        }
    printf("backfill: %zu alerts in order, %zu after live + backfill\n", reached,
           run.na[0] + run.na[1]);
    assert_true(inorder.na[0] > 10 && inorder.na[1] > 10);
}

/* A batch aborted mid-window, then resent after a restart: the drafts of a run without it. */
static void test_abort_mid_window_resend(void **state)
{
    struct fx *f = *state;
    rules_use(f, "prop.yaml", prop_rules);
    int64_t t0 = T("2025-06-01T10:00:00Z");
    static const int day[] = {0, 2, 9, 4, 12, 5, 6, 1, 3};
    static const char *const cat[] = {"asb", "crime", "asb", "welfare", "other", "asb",
                                      "domestic", "asb", "crime"};
    size_t len = 0, cap = 1, len2 = 0, cap2 = 1;
    char *ref = calloc(1, 1), *got = calloc(1, 1);
    for (int i = 0; i < 9; i++)
        log_drafts(pcall(f, "P-AB", t0 + day[i] * DAY, cat[i]), &ref, &len, &cap);
    assert_true(len > 0);
    fresh_env_keep_rules(f);
    begin(f);
    for (int i = 0; i < 2; i++)
        log_drafts(pcall(f, "P-AB", t0 + day[i] * DAY, cat[i]), &got, &len2, &cap2);
    commit(f);
    begin(f); /* days 9, 4 (3 calls: medium), 12: then aborted */
    size_t raised = 0;
    for (int i = 2; i < 5; i++)
        raised += pcall(f, "P-AB", t0 + day[i] * DAY, cat[i])->n;
    assert_true(raised > 0);
    mdb_txn_abort(f->txn);
    f->txn = NULL;
    f->seq = 2;
    env_close(f); /* and a restart after the abort */
    hub_rules_destroy(&f->rules);
    env_open(f);
    rules_load_path(f, f->rules_path);
    begin(f);
    for (int i = 2; i < 6; i++)
        log_drafts(pcall(f, "P-AB", t0 + day[i] * DAY, cat[i]), &got, &len2, &cap2);
    commit(f);
    for (int i = 6; i < 9; i++)
        log_drafts(pcall(f, "P-AB", t0 + day[i] * DAY, cat[i]), &got, &len2, &cap2);
    assert_string_equal(ref, got);
    free(ref);
    free(got);
}

/* ---- cross-type keys, incidents ------------------------------------------------ */

/* key_each with when: a call by its caller and an ASB report by its victim share a window. */
static void test_cross_type_person(void **state)
{
    struct fx *f = *state;
    rules_use(f, "person.yaml", "rules:\n"
          "  - name: person\n"
          "    panel: community-marac\n"
          "    when: [call, asb.report]\n"
          "    key_each:\n"
          "      - {key: caller, when: call, match: [\"category = asb\"]}\n"
          "      - {key: victim, when: asb.report}\n"
          "    window_days: 30\n"
          "    tiers: [{at_least: 3, priority: medium}]\n"
          "    reason: \"{count} for {key_name} {key}\"\n");
    int64_t t0 = T("2025-04-01T12:00:00Z");
    assert_int_equal(pcall(f, "X-1", t0, "asb")->n, 0);                  /* 1 */
    assert_int_equal(asb(f, t0 + DAY, "X-1", "L-1", NULL)->n, 0);        /* 2 */
    assert_int_equal(pcall(f, "X-1", t0 + 2 * DAY, "crime")->n, 0);      /* 3: not asb */
    assert_int_equal(asb(f, t0 + 2 * DAY, NULL, "L-1", NULL)->n, 0);     /* 4: no victim */
    assert_int_equal(pcall(f, "X-2", t0 + 2 * DAY, "asb")->n, 0);        /* 5: someone else */
    assert_int_equal(asb(f, t0 + 3 * DAY, "X-2", "L-1", NULL)->n, 0);    /* 6 */
    struct got *g = asb(f, t0 + 4 * DAY, "X-1", "L-2", NULL);             /* 7 */
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].key, "victim=X-1");
    assert_string_equal(g->d[0].reason, "3 for victim X-1");
    expect_evidence(&g->d[0], 3, E(1), E(2), E(7));
    /* the other way round: a call completes X-2's window */
    g = pcall(f, "X-2", t0 + 5 * DAY, "asb");                             /* 8 */
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].key, "caller=X-2");
    expect_evidence(&g->d[0], 3, E(5), E(6), E(8));
}

static const char incident_rules[] =
    "rules:\n"
    "  - name: inc\n"
    "    panel: community-marac\n"
    "    when: [call, asb.report, da.incident]\n"
    "    key_each:\n"
    "      - {key: caller, when: call}\n"
    "      - {key: victim, when: [asb.report, da.incident]}\n"
    "    incidents: {tolerance_minutes: 60, reported_within_days: 31, merge: [call, asb.report]}\n"
    "    window_days: 30\n"
    "    tiers: [{at_least: 2, priority: medium}]\n"
    "    reason: \"{count} incidents for {key}\"\n";

/* A report of type (call: caller, else victim) by who, from source src,
 * with incident_ref ref (NULL: none) and reported_at rep (0: none). */
static struct got *rep(struct fx *f, const char *type, const char *who, int64_t occ,
                       const char *src, const char *ref, int64_t rep_ms)
{
    char extra[256] = "", when[40];
    size_t n = 0;
    if (ref)
        n += (size_t)snprintf(extra + n, sizeof extra - n, ",\"incident_ref\":\"%s\"", ref);
    if (rep_ms) {
        csph_time_format(rep_ms, when);
        n += (size_t)snprintf(extra + n, sizeof extra - n, ",\"reported_at\":\"%s\"", when);
    }
    f->source = src;
    if (!strcmp(type, "call"))
        return pub(f, type, occ, "\"caller\":\"%s\",\"category\":\"asb\"%s", who, extra);
    if (!strcmp(type, "asb.report"))
        return pub(f, type, occ, "\"victim\":\"%s\",\"location\":{\"id\":\"L-1\"},"
                   "\"category\":\"personal\"%s", who, extra);
    return pub(f, type, occ, "\"victim\":\"%s\"%s", who, extra);
}

/* Incidents: sources within tolerance merge, one source never, refs decide, merge types only. */
static void test_incident_dedup(void **state)
{
    struct fx *f = *state;
    rules_use(f, "inc.yaml", incident_rules);
    int64_t T0 = T("2025-05-05T20:00:00Z");
    struct got *g;
    /* A: police's call and the council's report 59 minutes later: one */
    assert_int_equal(rep(f, "call", "A", T0, "police", NULL, 0)->n, 0);                  /* 1 */
    assert_int_equal(rep(f, "asb.report", "A", T0 + 59 * MINUTE, "council", NULL, 0)->n, 0); /* 2 */
    assert_int_equal(rep(f, "asb.report", "A", T0 + 50 * MINUTE, "housing", NULL, 0)->n, 0); /* 3: a third source */
    g = rep(f, "asb.report", "A", T0 + 5 * HOUR, "council", NULL, 0);                     /* 4 */
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].reason, "2 incidents for A");
    expect_evidence(&g->d[0], 4, E(1), E(2), E(3), E(4));
    /* B: one source twice, 5 minutes apart: two (also across types) */
    assert_int_equal(rep(f, "call", "B", T0, "police", NULL, 0)->n, 0);                   /* 5 */
    g = rep(f, "call", "B", T0 + 5 * MINUTE, "police", NULL, 0);                          /* 6 */
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].reason, "2 incidents for B");
    assert_int_equal(rep(f, "call", "B2", T0, "police", NULL, 0)->n, 0);                  /* 7 */
    assert_int_equal(rep(f, "asb.report", "B2", T0 + MINUTE, "police", NULL, 0)->n, 1);  /* 8 */
    /* C: two sources 61 minutes apart: two */
    assert_int_equal(rep(f, "call", "C", T0, "police", NULL, 0)->n, 0);                   /* 9 */
    assert_int_equal(rep(f, "asb.report", "C", T0 + 61 * MINUTE, "council", NULL, 0)->n, 1); /* 10 */
    /* D: one ref from one source 3 hours apart: one; a different ref 10
     * minutes later from another source: two */
    assert_int_equal(rep(f, "asb.report", "D", T0, "council", "R-1", 0)->n, 0);           /* 11 */
    assert_int_equal(rep(f, "asb.report", "D", T0 + 3 * HOUR, "council", "R-1", 0)->n, 0); /* 12 */
    g = rep(f, "call", "D", T0 + 10 * MINUTE, "police", "R-2", 0);                        /* 13 */
    assert_int_equal(g->n, 1);
    expect_evidence(&g->d[0], 3, E(11), E(12), E(13));
    /* E: one ref from two sources 2 hours apart: one; a report without a
     * ref 10 minutes after the second, from a third source, joins it */
    assert_int_equal(rep(f, "call", "E", T0, "police", "R-3", 0)->n, 0);                  /* 14 */
    assert_int_equal(rep(f, "asb.report", "E", T0 + 2 * HOUR, "council", "R-3", 0)->n, 0); /* 15 */
    assert_int_equal(rep(f, "asb.report", "E", T0 + 130 * MINUTE, "housing", NULL, 0)->n, 0); /* 16 */
    /* F: da.incident is not a merge type: with a report 5 minutes later, two */
    assert_int_equal(rep(f, "da.incident", "F", T0, "police", NULL, 0)->n, 0);            /* 17 */
    assert_int_equal(rep(f, "asb.report", "F", T0 + 5 * MINUTE, "council", NULL, 0)->n, 1); /* 18 */
    /* the same events in reverse order: the same counts */
    assert_int_equal(rep(f, "asb.report", "A'", T0 + 5 * HOUR, "council", NULL, 0)->n, 0);
    assert_int_equal(rep(f, "asb.report", "A'", T0 + 50 * MINUTE, "housing", NULL, 0)->n, 1);
    assert_int_equal(rep(f, "asb.report", "E'", T0 + 130 * MINUTE, "housing", NULL, 0)->n, 0);
    assert_int_equal(rep(f, "asb.report", "E'", T0 + 2 * HOUR, "council", "R-3", 0)->n, 0);
    assert_int_equal(rep(f, "call", "E'", T0, "police", "R-3", 0)->n, 0);
}

/* One incident linked through its first report is not split by a window starting after it. */
static void test_incident_not_split_by_window_start(void **state)
{
    struct fx *f = *state;
    /* report 3 shares report 1's incident_ref; report 2 is within the
     * tolerance of report 1, from another source: one incident. The window
     * starting at report 2 holds reports 2 and 3 only. */
    rules_use(f, "inc.yaml", incident_rules);
    int64_t T0 = T("2025-05-05T20:00:00Z");
    assert_int_equal(rep(f, "call", "S", T0, "police", "R-1", 0)->n, 0);
    assert_int_equal(rep(f, "asb.report", "S", T0 + 10 * MINUTE, "council", NULL, 0)->n, 0);
    struct got *g = rep(f, "asb.report", "S", T0 + 2 * HOUR, "housing", "R-1", 0);
    if (g->n)
        fail_msg("one incident (reports 1 ~ 2 by the tolerance, 1 ~ 3 by incident_ref) raised "
                 "'%s' with evidence %zu seqs from %" PRIu64, g->d[0].reason, g->d[0].nev,
                 g->d[0].ev[0]);
}

/* A report made over 31 days after the incident does not count; windows run on reported_at. */
static void test_incident_reporting_limit(void **state)
{
    struct fx *f = *state;
    rules_use(f, "inc.yaml", incident_rules);
    int64_t T0 = T("2025-01-10T09:00:00Z");
    const struct dcopy *d;
    /* G: reported exactly 31 days after: counts, with another reported then */
    assert_int_equal(rep(f, "asb.report", "G", T0, "council", NULL, T0 + 31 * DAY)->n, 0); /* 1 */
    d = of(rep(f, "call", "G", T0 + 31 * DAY, "police", NULL, 0), "inc");                 /* 2 */
    assert_non_null(d);
    expect_evidence(d, 2, E(1), E(2));
    /* G2: reported 31 days and 1 ms after: not counted at all */
    assert_int_equal(rep(f, "asb.report", "G2", T0, "council", NULL, T0 + 31 * DAY + 1)->n, 0); /* 3 */
    assert_int_equal(rep(f, "call", "G2", T0 + 31 * DAY, "police", NULL, 0)->n, 0);        /* 4 */
    assert_int_equal(rep(f, "call", "G2", T0 + 20 * DAY, "police", NULL, 0)->n, 1); /* 5: counts 4, 5 */
    /* H: occurred 35 days apart, reported 5 days apart: one window */
    assert_int_equal(rep(f, "asb.report", "H", T0, "council", NULL, T0 + 30 * DAY)->n, 0);  /* 6 */
    d = of(rep(f, "call", "H", T0 + 35 * DAY, "police", NULL, 0), "inc");                  /* 7 */
    assert_non_null(d);
    expect_evidence(d, 2, E(6), E(7));
    /* H2: occurred 29 days apart, reported 35 days apart: none */
    assert_int_equal(rep(f, "asb.report", "H2", T0, "council", NULL, 0)->n, 0);
    assert_int_equal(rep(f, "call", "H2", T0 + 29 * DAY, "police", NULL, T0 + 35 * DAY)->n, 0);
    /* a reported_at before occurred_at is taken as occurred_at */
    assert_int_equal(rep(f, "asb.report", "H3", T0, "council", NULL, T0 - 40 * DAY)->n, 0);
    assert_int_equal(rep(f, "call", "H3", T0 + 29 * DAY, "police", NULL, 0)->n, 1);
}

/* ---- SafeLives repeats ------------------------------------------------------------- */

static const char safelives_rules[] =
    "rules:\n"
    "  - name: hr\n"
    "    panel: marac\n"
    "    when: da.incident\n"
    "    match: [\"dash_score >= 14\"]\n"
    "    key: victim\n"
    "    priority: high\n"
    "  - name: sl.repeat\n"
    "    panel: marac\n"
    "    when: da.incident\n"
    "    key: victim\n"
    "    prior_alert: {panel: marac, within_days: 365, status: accepted, same: perpetrator}\n"
    "    priority: high\n";

static struct got *dap(struct fx *f, const char *victim, int64_t t, int dash, const char *perp)
{
    if (perp)
        return pub(f, "da.incident", t, "\"victim\":\"%s\",\"dash_score\":%d,\"perpetrator\":\"%s\"",
                   victim, dash, perp);
    return da(f, victim, t, dash);
}

/* SafeLives repeat: only accepted referrals count, for [r, r + 365 days) from the anchor. */
static void test_safelives_accepted_declined_undecided(void **state)
{
    struct fx *f = *state;
    rules_use(f, "sl.yaml", safelives_rules);
    int64_t T0 = T("2025-02-03T21:00:00Z");
    struct got *g = dap(f, "V-ACC", T0, 20, NULL);                    /* 1 */
    assert_int_equal(g->n, 1);
    assert_non_null(of(g, "hr"));
    assert_int_equal(decide(f, "marac", "V-ACC", 1, 1, T0 + DAY)->n, 0); /* 2: nothing yet */
    g = dap(f, "V-ACC", T0 + 100 * DAY, 3, NULL);                     /* 3 */
    const struct dcopy *d = of(g, "sl.repeat");
    assert_non_null(d);
    assert_int_equal(g->n, 1);
    assert_string_equal(d->panel, "marac");
    assert_int_equal(d->prio, CSPH_PRIORITY_HIGH);
    assert_string_equal(d->key, "victim=V-ACC");
    expect_evidence(d, 2, E(1), E(3));
    assert_int_equal(d->seq, 3);
    assert_int_equal(dap(f, "V-ACC", T0 - 1, 3, NULL)->n, 0);          /* 4: before r */
    d = of(dap(f, "V-ACC", T0 + 365 * DAY - 1, 3, NULL), "sl.repeat"); /* 5: last ms */
    assert_non_null(d);
    expect_evidence(d, 2, E(1), E(5));
    assert_int_equal(dap(f, "V-ACC", T0 + 365 * DAY, 3, NULL)->n, 0);  /* 6: r + 365 days */
    /* declined */
    assert_non_null(of(dap(f, "V-DEC", T0, 15, NULL), "hr"));          /* 7 */
    assert_int_equal(decide(f, "marac", "V-DEC", 7, 0, T0 + DAY)->n, 0);
    assert_int_equal(dap(f, "V-DEC", T0 + 10 * DAY, 3, NULL)->n, 0);
    /* undecided */
    assert_non_null(of(dap(f, "V-UND", T0, 15, NULL), "hr"));          /* 10 */
    assert_int_equal(dap(f, "V-UND", T0 + 10 * DAY, 3, NULL)->n, 0);
    /* an acceptance naming another victim, or an alert never raised: nothing */
    assert_int_equal(decide(f, "marac", "V-OTHER", 10, 1, T0 + 11 * DAY)->n, 0);
    assert_int_equal(decide(f, "marac", "V-UND", 9999, 1, T0 + 11 * DAY)->n, 0);
    assert_int_equal(dap(f, "V-UND", T0 + 12 * DAY, 3, NULL)->n, 0);
    /* an acceptance on another panel: nothing */
    assert_int_equal(decide(f, "community-marac", "V-UND", 10, 1, T0 + 13 * DAY)->n, 0);
    assert_int_equal(dap(f, "V-UND", T0 + 14 * DAY, 3, NULL)->n, 0);
}

/* Acceptance after incidents raises the repeat at the decision; no undoing, no citing twice. */
static void test_safelives_acceptance_after_incidents(void **state)
{
    struct fx *f = *state;
    rules_use(f, "sl.yaml", safelives_rules);
    int64_t T0 = T("2025-03-03T10:00:00Z");
    assert_non_null(of(dap(f, "V-L", T0, 20, NULL), "hr"));             /* 1 */
    assert_int_equal(dap(f, "V-L", T0 + 10 * DAY, 3, NULL)->n, 0);       /* 2 */
    assert_int_equal(dap(f, "V-L", T0 + 20 * DAY, 3, NULL)->n, 0);       /* 3 */
    assert_int_equal(dap(f, "V-L", T0 + 400 * DAY, 3, NULL)->n, 0);      /* 4: beyond 365 days */
    struct got *g = decide(f, "marac", "V-L", 1, 1, T0 + 401 * DAY);     /* 5 */
    assert_int_equal(g->n, 1);
    const struct dcopy *d = of(g, "sl.repeat");
    assert_non_null(d);
    assert_string_equal(d->panel, "marac");
    assert_string_equal(d->key, "victim=V-L");
    assert_int_equal(d->prio, CSPH_PRIORITY_HIGH);
    expect_evidence(d, 3, E(1), E(2), E(3));
    assert_int_equal(d->seq, 5);
    assert_int_equal(d->raised_ms, T0 + 401 * DAY + MINUTE);
    /* declined later: still a referral */
    assert_int_equal(decide(f, "marac", "V-L", 1, 0, T0 + 402 * DAY)->n, 0); /* 6 */
    d = of(dap(f, "V-L", T0 + 30 * DAY, 3, NULL), "sl.repeat");          /* 7 */
    assert_non_null(d);
    expect_evidence(d, 2, E(1), E(7));
    /* accepted again: nothing new */
    assert_int_equal(decide(f, "marac", "V-L", 1, 1, T0 + 403 * DAY)->n, 0); /* 8 */
    /* a second high-risk incident on day 15: itself a repeat of the first referral */
    g = dap(f, "V-L", T0 + 15 * DAY, 20, NULL);                          /* 9 */
    assert_int_equal(g->n, 2);
    assert_non_null(of(g, "hr"));
    d = of(g, "sl.repeat");
    assert_non_null(d);
    expect_evidence(d, 2, E(1), E(9));
    assert_int_equal(dap(f, "V-L", T0 + 379 * DAY, 3, NULL)->n, 0);      /* 10: after day 365 */
    /* accepting it cites only what no repeat cited yet: day 379, not 20 or 30 */
    g = decide(f, "marac", "V-L", 9, 1, T0 + 404 * DAY);                 /* 11 */
    assert_int_equal(g->n, 1);
    expect_evidence(&g->d[0], 2, E(9), E(10));
}

/* SafeLives repeat: when both events name a perpetrator, it must be the same one. */
static void test_safelives_perpetrator(void **state)
{
    struct fx *f = *state;
    rules_use(f, "sl.yaml", safelives_rules);
    int64_t T0 = T("2025-04-01T22:00:00Z");
    assert_non_null(of(dap(f, "V-P", T0, 20, "P-1"), "hr"));            /* 1 */
    decide(f, "marac", "V-P", 1, 1, T0 + DAY);                          /* 2 */
    assert_int_equal(dap(f, "V-P", T0 + 5 * DAY, 3, "P-2")->n, 0);       /* 3: another perpetrator */
    const struct dcopy *d = of(dap(f, "V-P", T0 + 6 * DAY, 3, NULL), "sl.repeat"); /* 4: none named */
    assert_non_null(d);
    expect_evidence(d, 2, E(1), E(4));
    d = of(dap(f, "V-P", T0 + 7 * DAY, 3, "P-1"), "sl.repeat");          /* 5 */
    assert_non_null(d);
    expect_evidence(d, 2, E(1), E(5));
    /* at an acceptance recorded later, the mismatch is not cited either */
    assert_non_null(of(dap(f, "V-Q", T0, 20, "P-1"), "hr"));            /* 6 */
    assert_int_equal(dap(f, "V-Q", T0 + 5 * DAY, 3, "P-2")->n, 0);       /* 7 */
    assert_int_equal(dap(f, "V-Q", T0 + 6 * DAY, 3, "P-1")->n, 0);       /* 8 */
    struct got *g = decide(f, "marac", "V-Q", 6, 1, T0 + 7 * DAY);       /* 9 */
    assert_int_equal(g->n, 1);
    expect_evidence(&g->d[0], 2, E(6), E(8));
    /* an alert whose anchor names no perpetrator: any perpetrator counts */
    assert_non_null(of(dap(f, "V-N", T0, 20, NULL), "hr"));             /* 10 */
    decide(f, "marac", "V-N", 10, 1, T0 + DAY);                         /* 11 */
    assert_non_null(of(dap(f, "V-N", T0 + 5 * DAY, 3, "P-9"), "sl.repeat"));
}

/* A repeat raised at a decision, accepted by its highest evidence seq, is a referral. */
static void test_safelives_repeat_raised_at_decision_accepted(void **state)
{
    struct fx *f = *state;
    /* anchor_seq = the highest seq of the evidence, as the queues module
     * gives it; V-R's cited incidents arrive out of order, so that seq is
     * not the latest-occurring incident's */
    rules_use(f, "sl.yaml", safelives_rules);
    int64_t T0 = T("2025-01-06T09:00:00Z");
    struct got *g;
    /* in arrival order: its highest seq is its latest event */
    assert_non_null(of(dap(f, "V-S", T0, 20, NULL), "hr"));             /* 1 */
    assert_int_equal(dap(f, "V-S", T0 + 5 * DAY, 3, NULL)->n, 0);        /* 2 */
    assert_int_equal(dap(f, "V-S", T0 + 10 * DAY, 3, NULL)->n, 0);       /* 3 */
    g = decide(f, "marac", "V-S", 1, 1, T0 + 11 * DAY);                  /* 4 */
    assert_int_equal(g->n, 1);
    expect_evidence(&g->d[0], 3, E(1), E(2), E(3));
    decide(f, "marac", "V-S", g->d[0].ev[g->d[0].nev - 1], 1, T0 + 12 * DAY); /* 5 */
    assert_non_null(of(dap(f, "V-S", T0 + 368 * DAY, 3, NULL), "sl.repeat")); /* 6 */
    /* out of arrival order */
    assert_non_null(of(dap(f, "V-R", T0, 20, NULL), "hr"));             /* 7 */
    assert_int_equal(dap(f, "V-R", T0 + 10 * DAY, 3, NULL)->n, 0);       /* 8 */
    assert_int_equal(dap(f, "V-R", T0 + 5 * DAY, 3, NULL)->n, 0);        /* 9: late */
    g = decide(f, "marac", "V-R", 7, 1, T0 + 11 * DAY);                  /* 10 */
    assert_int_equal(g->n, 1);
    expect_evidence(&g->d[0], 3, E(7), E(8), E(9));
    uint64_t anchor = g->d[0].ev[g->d[0].nev - 1];
    assert_int_equal(anchor, 9);
    assert_int_equal(decide(f, "marac", "V-R", anchor, 1, T0 + 12 * DAY)->n, 0); /* 11 */
    /* day 368: beyond the first referral (day 0 + 365), within the second
     * (from day 5 or day 10) */
    g = dap(f, "V-R", T0 + 368 * DAY, 3, NULL);                          /* 12 */
    const struct dcopy *d = of(g, "sl.repeat");
    if (!d)
        fail_msg("the repeat raised at the decision (evidence 7, 8, 9), accepted with anchor_seq 9, "
                 "is no referral: day 368 raises no repeat");
}

/* prior_alert without status: any earlier-seq alert on the panel within the days, either side. */
static void test_prior_alert_any_status(void **state)
{
    struct fx *f = *state;
    rules_use(f, "any.yaml", "rules:\n"
          "  - name: hr\n"
          "    panel: marac\n"
          "    when: da.incident\n"
          "    match: [\"dash_score >= 14\"]\n"
          "    key: victim\n"
          "    priority: high\n"
          "  - name: any.repeat\n"
          "    panel: marac\n"
          "    when: da.incident\n"
          "    key: victim\n"
          "    prior_alert: {panel: marac, within_days: 30}\n"
          "    priority: high\n");
    int64_t T0 = T("2025-07-07T07:00:00Z");
    struct got *g = dap(f, "V-1", T0, 20, NULL);                         /* 1 */
    assert_int_equal(g->n, 1);
    const struct dcopy *d = of(dap(f, "V-1", T0 + 30 * DAY - 1, 3, NULL), "any.repeat"); /* 2 */
    assert_non_null(d);
    expect_evidence(d, 2, E(1), E(2));
    assert_non_null(of(dap(f, "V-2", T0, 20, NULL), "hr"));             /* 3 */
    assert_int_equal(dap(f, "V-2", T0 + 30 * DAY, 3, NULL)->n, 0);       /* 4 */
    /* an earlier-seq alert whose event occurred later counts too */
    assert_non_null(of(dap(f, "V-3", T0, 20, NULL), "hr"));             /* 5 */
    d = of(dap(f, "V-3", T0 - 29 * DAY, 3, NULL), "any.repeat");        /* 6 */
    assert_non_null(d);
    expect_evidence(d, 2, E(5), E(6));
}

/* ---- multi-criteria ------------------------------------------------------------------ */

/* Multi-criteria: one criterion is medium; a second arriving (even late) raises high. */
/* An accepted alert's own evidence is the referral, never a repeat of it,
 * even when its anchor (the newest arrival) occurred before the rest. */
static void test_safelives_own_evidence_is_no_repeat(void **state)
{
    struct fx *f = *state;
    rules_use(f, "sl2.yaml", "rules:\n"
          "  - name: esc\n"
          "    panel: marac\n"
          "    when: da.incident\n"
          "    key: victim\n"
          "    window_days: 365\n"
          "    tiers: [{at_least: 3, priority: medium}]\n"
          "  - name: sl.repeat\n"
          "    panel: marac\n"
          "    when: da.incident\n"
          "    key: victim\n"
          "    prior_alert: {panel: marac, within_days: 365, status: accepted}\n"
          "    priority: high\n");
    da(f, "V-E", T("2025-03-01T10:00:00Z"), 1);
    da(f, "V-E", T("2025-03-05T10:00:00Z"), 1);
    struct got *g = da(f, "V-E", T("2025-02-01T10:00:00Z"), 1); /* late: 1 Feb */
    const struct dcopy *d = of(g, "esc");
    assert_non_null(d);
    expect_evidence(d, 3, E(1), E(2), E(3));
    uint64_t ev[3] = {E(1), E(2), E(3)};
    assert_int_equal(decide_ev(f, "marac", "V-E", ev, 3, 1, T("2025-03-10T10:00:00Z"))->n, 0);
    /* a further incident is a repeat */
    g = da(f, "V-E", T("2025-04-01T10:00:00Z"), 1);
    d = of(g, "sl.repeat");
    assert_non_null(d);
    expect_evidence(d, 2, E(3), E(5));
}

/* Tiers fired are kept by threshold: a tier inserted below does not make
 * an alert already raised look like a lower one. */
static void test_tier_inserted_keeps_suppression(void **state)
{
    struct fx *f = *state;
    static const char one[] = "rules:\n"
          "  - name: t\n"
          "    panel: community-marac\n"
          "    when: call\n"
          "    key: caller\n"
          "    window_days: 100\n"
          "    tiers: [{at_least: 3, priority: medium}]\n";
    static const char two[] = "rules:\n"
          "  - name: t\n"
          "    panel: community-marac\n"
          "    when: call\n"
          "    key: caller\n"
          "    window_days: 100\n"
          "    tiers: [{at_least: 2, priority: standard}, {at_least: 3, priority: medium}]\n";
    int64_t t0 = T("2025-01-01T10:00:00Z");
    rules_use(f, "t1.yaml", one);
    pub(f, "call", t0, "\"caller\":\"C-T\",\"category\":\"asb\"");
    pub(f, "call", t0 + DAY, "\"caller\":\"C-T\",\"category\":\"asb\"");
    assert_int_equal(pub(f, "call", t0 + 2 * DAY, "\"caller\":\"C-T\",\"category\":\"asb\"")->n, 1);
    rules_use(f, "t2.yaml", two);
    assert_int_equal(pub(f, "call", t0 + 3 * DAY, "\"caller\":\"C-T\",\"category\":\"asb\"")->n, 0);
}

/* Reports without a reference never chain further than the tolerance:
 * four sources at 0, 50, 100 and 150 minutes are two incidents. */
static void test_incident_no_chain(void **state)
{
    struct fx *f = *state;
    rules_use(f, "inc.yaml", incident_rules);
    int64_t T0 = T("2025-05-05T20:00:00Z");
    assert_int_equal(rep(f, "call", "CH", T0, "police", NULL, 0)->n, 0);
    assert_int_equal(rep(f, "asb.report", "CH", T0 + 50 * MINUTE, "council", NULL, 0)->n, 0);
    struct got *g = rep(f, "asb.report", "CH", T0 + 100 * MINUTE, "housing", NULL, 0);
    assert_int_equal(g->n, 1);
    assert_string_equal(g->d[0].reason, "2 incidents for CH");
}

/* The cache turned off (limits.rules_cache_mb: 0): every read is made, the
 * same alerts come out (AddressSanitizer checks nothing is left of it). */
static void test_cache_off(void **state)
{
    struct fx *f = *state;
    struct hub_error err = {0};
    assert_int_equal(hub_rules_cache(f->rules, 0, &err), CSPH_ERR_OK);
    int64_t t0 = T("2025-01-01T10:00:00Z");
    da(f, "V-C", t0, 1);
    da(f, "V-C", t0 + DAY, 1);
    assert_non_null(of(da(f, "V-C", t0 + 2 * DAY, 1), "marac.escalation"));
    assert_int_equal(hub_rules_cache(f->rules, 1u << 20, &err), CSPH_ERR_OK);
    assert_null(of(da(f, "V-C", t0 + 3 * DAY, 1), "marac.escalation")); /* rebuilt: still quiet */
}

static void test_multi_criteria(void **state)
{
    struct fx *f = *state;
    rules_use(f, "mc.yaml", "rules:\n"
          "  - name: mc\n"
          "    panel: marac\n"
          "    when: [da.incident, call]\n"
          "    key_each:\n"
          "      - {key: victim, when: da.incident, match: [\"dash_score >= 14\"], criterion: high-dash}\n"
          "      - {key: victim, when: da.incident, match: [\"children_present = true\"], criterion: children}\n"
          "      - {key: caller, when: call, criterion: calls}\n"
          "    distinct: criterion\n"
          "    window_days: 90\n"
          "    tiers: [{at_least: 1, priority: medium}, {at_least: 2, priority: high}]\n"
          "    reason: \"{distinct} criteria in {count} events for {key}\"\n");
    int64_t T0 = T("2025-08-01T12:00:00Z");
    struct got *g = da(f, "M-1", T0, 15);                                /* 1 */
    assert_int_equal(g->n, 1);
    assert_int_equal(g->d[0].prio, CSPH_PRIORITY_MEDIUM);
    assert_string_equal(g->d[0].reason, "1 criteria in 1 events for M-1");
    assert_int_equal(da(f, "M-1", T0 + DAY, 16)->n, 0);                  /* 2: same criterion */
    assert_int_equal(da(f, "M-1", T0 + 2 * DAY, 2)->n, 0);               /* 3: no criterion */
    g = pcall(f, "M-1", T0 + 3 * DAY, "asb");                            /* 4 */
    assert_int_equal(g->n, 1);
    assert_int_equal(g->d[0].prio, CSPH_PRIORITY_HIGH);
    assert_string_equal(g->d[0].key, "caller=M-1");
    assert_string_equal(g->d[0].reason, "2 criteria in 3 events for M-1");
    expect_evidence(&g->d[0], 3, E(1), E(2), E(4));
    assert_int_equal(pcall(f, "M-1", T0 + 4 * DAY, "asb")->n, 0);        /* 5: high is quiet */
    /* exactly a window later: a new run, medium */
    g = pcall(f, "M-3", T0, "asb");                                      /* 6 */
    assert_int_equal(g->d[0].prio, CSPH_PRIORITY_MEDIUM);
    g = pub(f, "da.incident", T0 + 90 * DAY, "\"victim\":\"M-3\",\"children_present\":true"); /* 7 */
    assert_int_equal(g->n, 1);
    assert_int_equal(g->d[0].prio, CSPH_PRIORITY_MEDIUM);
    expect_evidence(&g->d[0], 1, E(7));
    /* a late second criterion completes the window: high */
    assert_int_equal(pcall(f, "M-4", T0 + 50 * DAY, "asb")->d[0].prio, CSPH_PRIORITY_MEDIUM); /* 8 */
    g = da(f, "M-4", T0 + 10 * DAY, 15);                                 /* 9 */
    assert_int_equal(g->n, 1);
    assert_int_equal(g->d[0].prio, CSPH_PRIORITY_HIGH);
    expect_evidence(&g->d[0], 2, E(8), E(9));
}

/* One event meeting two criteria for one person counts both: high at once, then quiet. */
static void test_multi_criteria_one_event(void **state)
{
    struct fx *f = *state;
    rules_use(f, "mc.yaml", "rules:\n"
          "  - name: mc\n"
          "    panel: marac\n"
          "    when: da.incident\n"
          "    key_each:\n"
          "      - {key: victim, match: [\"dash_score >= 14\"], criterion: high-dash}\n"
          "      - {key: victim, match: [\"children_present = true\"], criterion: children}\n"
          "    distinct: criterion\n"
          "    window_days: 90\n"
          "    tiers: [{at_least: 1, priority: medium}, {at_least: 2, priority: high}]\n");
    int64_t T0 = T("2025-08-01T12:00:00Z");
    struct got *g = pub(f, "da.incident", T0, "\"victim\":\"M-2\",\"dash_score\":20,"
                        "\"children_present\":true");
    int high = 0;
    for (size_t i = 0; i < g->n; i++)
        high |= g->d[i].prio == CSPH_PRIORITY_HIGH;
    if (!high)
        fail_msg("an event meeting both criteria raised %zu draft(s), none high", g->n);
    /* and the next incident, one criterion, within the window: quiet */
    assert_int_equal(da(f, "M-2", T0 + DAY, 20)->n, 0);
}

/* ---- the loader ------------------------------------------------------------------------ */

/* Loader: a field a taken type lacks, an alternative's when outside the rule's: file:line. */
static void test_loader_fields_and_when(void **state)
{
    struct fx *f = *state;
    expect_refused(f, RULE_HEAD "    key: vicitm\n    priority: high\n", 6,
                   "names field 'vicitm', which events of type da.incident do not have");
    expect_refused(f, RULE_HEAD "    match: [\"dash_scor >= 14\"]\n    key: victim\n    priority: high\n",
                   6, "names field 'dash_scor'");
    expect_refused(f, "rules:\n  - name: a\n    panel: community-marac\n    when: [call, asb.report]\n"
                      "    key: victim\n    window_days: 30\n    tiers: [{at_least: 3, priority: medium}]\n",
                   5, "names field 'victim', which events of type call do not have");
    expect_refused(f, "rules:\n  - name: a\n    panel: community-marac\n    when: [call, asb.report]\n"
                      "    key_each:\n      - {key: caller, when: call}\n      - {key: subject, when: arrest}\n"
                      "    window_days: 30\n    tiers: [{at_least: 3, priority: medium}]\n",
                   7, "type 'arrest' of this alternative is not in the rule's when");
    expect_refused(f, "rules:\n  - name: a\n    panel: community-marac\n    when: [call, asb.report]\n"
                      "    key_each:\n      - {key: caller, when: asb.report}\n"
                      "    window_days: 30\n    tiers: [{at_least: 3, priority: medium}]\n",
                   6, "names field 'caller', which events of type asb.report do not have");
    expect_refused(f, "rules:\n  - name: a\n    panel: community-marac\n    when: [call, asb.report]\n"
                      "    key_each:\n      - {key: caller, when: call}\n"
                      "      - {key: victim, when: asb.report, match: [\"vulnerble = true\"]}\n"
                      "    window_days: 30\n    tiers: [{at_least: 3, priority: medium}]\n",
                   7, "names field 'vulnerble'");
    expect_refused(f, "rules:\n  - name: a\n    panel: community-marac\n    when: call\n    key: caller\n"
                      "    distinct: categry\n    window_days: 30\n"
                      "    tiers: [{at_least: 3, priority: medium}]\n",
                   6, "names field 'categry'");
    expect_refused(f, "rules:\n  - name: a\n    panel: community-marac\n    when: [call, asb.report]\n"
                      "    key_each:\n      - {key: caller, when: call}\n      - {key: victim, when: asb.report}\n"
                      "    incidents: {merge: [call, da.incident]}\n"
                      "    window_days: 30\n    tiers: [{at_least: 3, priority: medium}]\n",
                   8, "merge type 'da.incident' is not in the rule's when");
    expect_refused(f, "rules:\n  - name: a\n    panel: marac\n    when: [da.incident, call]\n"
                      "    key_each:\n      - {key: victim, when: da.incident, criterion: x}\n"
                      "      - {key: caller, when: call}\n"
                      "    distinct: criterion\n    window_days: 30\n"
                      "    tiers: [{at_least: 2, priority: medium}]\n",
                   6, "give every key_each alternative a criterion, or none");
    /* a misspelt "same" field, a repeat on a panel from the event, a tier
     * no count of criteria can reach, text bounds the wrong way round */
    expect_refused(f, RULE_HEAD "    key: victim\n    priority: high\n"
                      "    prior_alert: {panel: marac, within_days: 365, status: accepted, same: perpetratr}\n",
                   8, "names field 'perpetratr'");
    expect_refused(f, "rules:\n  - name: a\n    panel: {from_field: panel}\n    when: referral\n"
                      "    key: subject\n    priority: high\n"
                      "    prior_alert: {panel: marac, within_days: 365, status: accepted}\n",
                   7, "needs a fixed panel");
    expect_refused(f, "rules:\n  - name: a\n    panel: sgv\n    when: [arrest, missing.episode]\n"
                      "    key_each:\n      - {key: subject, when: arrest, criterion: x}\n"
                      "      - {key: subject, when: missing.episode, criterion: y}\n"
                      "    distinct: criterion\n    window_days: 30\n"
                      "    tiers: [{at_least: 3, priority: medium}]\n",
                   10, "a tier needs 3 different criteria but the rule names 2");
    expect_refused(f, RULE_HEAD "    match: [\"risk between standard and high\"]\n    key: victim\n"
                      "    priority: high\n",
                   6, "the lower bound comes first");
    /* the same rules, spelt right, load */
    rules_use(f, "ok.yaml", "rules:\n  - name: a\n    panel: community-marac\n    when: [call, asb.report]\n"
                            "    key_each:\n      - {key: caller, when: call}\n"
                            "      - {key: victim, when: asb.report, match: [\"vulnerable = true\"]}\n"
                            "    window_days: 30\n    tiers: [{at_least: 3, priority: medium}]\n");
    assert_int_equal(hub_rules_count(f->rules), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_load_default_pack, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marac_high_risk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marac_escalation_window_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_marac_repeat_from_earlier_event_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_escalation_suppression_and_repeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_referral_direct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_channel_and_mace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeat_caller_tiers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lower_tiers_count_as_fired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_community_marac_vulnerable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asb_case_review_victim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asb_case_review_location_distinct, setup, teardown),
        cmocka_unit_test_setup_teardown(test_asb_hate_and_request, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hate_crime, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sgv_weapon_key_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sgv_possession_and_iom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tasking_hotspot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overdue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_event_completes_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_event_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forget_person, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_off, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_mid_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_first_transaction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_determinism_across_batches, setup, teardown),
        cmocka_unit_test_setup_teardown(test_working_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broken_rule_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_language_corners, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_window_cap_held, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aborts_restarts_reloads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eval_cost, setup, teardown),
        cmocka_unit_test_setup_teardown(test_property_arrival_orders, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_window_edge_late, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_backfill_year_after_live_month, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_counts_alike_across_rule_sets, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_abort_mid_window_resend, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_cross_type_person, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_incident_dedup, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_incident_not_split_by_window_start, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_incident_reporting_limit, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_safelives_accepted_declined_undecided, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_safelives_acceptance_after_incidents, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_safelives_perpetrator, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_safelives_repeat_raised_at_decision_accepted, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_prior_alert_any_status, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_safelives_own_evidence_is_no_repeat, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_tier_inserted_keeps_suppression, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_incident_no_chain, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_multi_criteria, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_multi_criteria_one_event, setup_own, teardown),
        cmocka_unit_test_setup_teardown(test_loader_fields_and_when, setup_own, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
