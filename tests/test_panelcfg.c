/* panelcfg: a panel's work settings read from the panels file (every
 * mistake refused with file:line), and the meeting calendar's dates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "config.h"
#include "panelcfg.h"
#include "timefmt.h"

static int setup(void **state) { return tu_tmpfx_setup(state, "panelcfg"); }
static int teardown(void **state) { return tu_tmpfx_teardown(state); }

/* Load a panels file holding text; CSPH_ERR_OK or the error in err. */
static enum hub_err load(void **state, const char *text, struct hub_config *cfg,
                         struct hub_error *err)
{
    struct tu_tmpfx *fx = *state;
    hub_config_defaults(cfg);
    snprintf(cfg->panels_file, sizeof cfg->panels_file, "%s/panels.yaml", fx->tmp);
    FILE *f = fopen(cfg->panels_file, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return hub_config_load_panels(cfg, err);
}

static int64_t day(const char *s)
{
    int64_t d;
    assert_int_equal(hub_panelcfg_day_parse(s, strlen(s), &d), 0);
    return d;
}

static void test_shipped_panels(void **state)
{
    (void)state;
    struct hub_config cfg;
    struct hub_error err;
    hub_config_defaults(&cfg);
    snprintf(cfg.panels_file, sizeof cfg.panels_file, "%s/config/panels.yaml", CSPH_SOURCE_DIR);
    assert_int_equal(hub_config_load_panels(&cfg, &err), CSPH_ERR_OK);
    int sgv = hub_config_panel_find(&cfg, "sgv", 3), marac = hub_config_panel_find(&cfg, "marac", 5);
    const struct hub_panel_work *w = &cfg.panels[sgv].work;
    assert_int_equal(w->meeting, CSPH_MEETING_MONTHLY);
    assert_int_equal(w->nth, 3);
    assert_int_equal(w->weekday, 3); /* Thursday */
    assert_int_equal(w->lookback_days, 28);
    assert_string_equal(w->lookback_types[0], "violence.incident");
    assert_int_equal(w->lookback_by_age, 1); /* SGV: young people aged 10-25 */
    assert_int_equal(w->lookback_age_min, 10);
    assert_int_equal(w->lookback_age_max, 25);
    assert_int_equal(cfg.panels[marac].work.meeting, CSPH_MEETING_WEEKLY);
    assert_int_equal(cfg.panels[marac].work.review_days[2], 14);
    assert_true(hub_panelcfg_outcome_ok(&cfg.panels[marac].work, "risk-reduced", 12));
    assert_false(hub_panelcfg_outcome_ok(&cfg.panels[marac].work, "risk", 4));
    /* DASH on MARAC: 14 or more ticks high, 10 or more medium */
    const struct hub_panel_work *mw = &cfg.panels[marac].work;
    assert_int_equal(hub_panelcfg_risk_of_score(mw, "dash", 4, 16), 2);
    assert_int_equal(hub_panelcfg_risk_of_score(mw, "dash", 4, 14), 2);
    assert_int_equal(hub_panelcfg_risk_of_score(mw, "dash", 4, 13), 1);
    assert_int_equal(hub_panelcfg_risk_of_score(mw, "dash", 4, 3), 0);
    assert_int_equal(hub_panelcfg_risk_of_score(mw, "safety-net", 10, 3), -1);
}

static void test_mistakes_named_with_file_and_line(void **state)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"panels:\n  a:\n    meetings: {weekly: funday}\n", ":3: meetings.weekly: 'funday' is not a day"},
        {"panels:\n  a:\n    meetings: fortnightly\n", ":3: meetings: 'fortnightly' is not a calendar"},
        {"panels:\n  a:\n    meetings: {monthly: {nth: 5, weekday: monday}}\n", ":3: "},
        {"panels:\n  a:\n    meetings: {monthly: {weekday: monday}}\n", "both nth"},
        {"panels:\n  a:\n    meetings: {weekly: monday, monthly: {nth: 1, weekday: monday}}\n",
         "expected one of"},
        {"panels:\n  a:\n    outcomes: [done, done]\n", ":3: outcomes: 'done' is listed twice"},
        {"panels:\n  a:\n    outcomes: [Risk Reduced]\n", "must be 1-32 lower-case"},
        {"panels:\n  a:\n    outcomes: []\n", "outcomes: expected a list"},
        {"panels:\n  a:\n    reviews: {urgent: 3}\n", "urgent"},
        {"panels:\n  a:\n    reviews: {high: 0}\n", "reviews.high (days)"},
        {"panels:\n  a:\n    lookback: {types: [violence.incident]}\n", "both types and days"},
        {"panels:\n  a:\n    lookback: {types: [violence.incident], days: 1000}\n", "lookback.days"},
        {"panels:\n  a:\n    lookback: {types: [violence.incident], days: 28, ages: [25, 10]}\n",
         "lookback.ages: the youngest age 25 is above the oldest 10"},
        {"panels:\n  a:\n    lookback: {types: [violence.incident], days: 28, ages: 10}\n",
         "lookback.ages: expected [MIN, MAX]"},
        {"panels:\n  a:\n    lookback: {types: [violence.incident], days: 28, ages: [10, 200]}\n",
         "lookback.ages"},
        {"panels:\n  a:\n    meeting: adhoc\n", "meeting"},
        {"panels:\n  a:\n    risk_scores: {dash: {medium: 14, high: 10}}\n",
         ":3: risk_scores.dash: high (10) must be above medium (14)"},
        {"panels:\n  a:\n    risk_scores: {dash: {severe: 20}}\n", "severe"},
        {"panels:\n  a:\n    risk_scores: {dash: {}}\n", "give medium, high or both"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct hub_config cfg;
        struct hub_error err;
        enum hub_err rc = load(state, cases[i].text, &cfg, &err);
        if (rc != CSPH_ERR_CONFIG || !strstr(err.message, cases[i].want) ||
            !strstr(err.message, "panels.yaml:"))
            fail_msg("case %zu: got %d '%s', want '%s'", i, rc, err.message, cases[i].want);
    }
}

static void test_agencies_list(void **state)
{
    struct tu_tmpfx *fx = *state;
    char path[600];
    snprintf(path, sizeof path, "%s/csphub.yaml", fx->tmp);
    FILE *f = fopen(path, "w");
    fputs("agencies: [police, council, police]\n", f);
    fclose(f);
    struct hub_config cfg;
    struct hub_error err;
    hub_config_defaults(&cfg);
    assert_int_equal(hub_config_load(&cfg, path, &err), CSPH_ERR_CONFIG);
    assert_non_null(strstr(err.message, "csphub.yaml:1: agencies: 'police' is listed twice"));
    f = fopen(path, "w");
    fputs("agencies: [police, council]\n", f);
    fclose(f);
    hub_config_defaults(&cfg);
    assert_int_equal(hub_config_load(&cfg, path, &err), CSPH_ERR_OK);
    assert_int_equal(cfg.nagencies, 2);
    assert_string_equal(cfg.agencies[1], "council");
}

static void test_meeting_dates(void **state)
{
    (void)state;
    struct hub_panel_work w = {.meeting = CSPH_MEETING_MONTHLY, .nth = 3, .weekday = 3};
    /* SGV: the third Thursday */
    assert_int_equal(hub_panelcfg_next_meeting(&w, day("2025-06-02")), day("2025-06-19"));
    assert_int_equal(hub_panelcfg_next_meeting(&w, day("2025-06-19")), day("2025-06-19"));
    assert_int_equal(hub_panelcfg_next_meeting(&w, day("2025-06-20")), day("2025-07-17"));
    assert_int_equal(hub_panelcfg_next_meeting(&w, day("2025-12-19")), day("2026-01-15"));
    assert_int_equal(hub_panelcfg_prev_meeting(&w, day("2025-06-19")), day("2025-05-15"));
    assert_int_equal(hub_panelcfg_prev_meeting(&w, day("2025-06-20")), day("2025-06-19"));
    assert_int_equal(hub_panelcfg_prev_meeting(&w, day("2025-01-10")), day("2024-12-19"));
    /* the last Friday */
    w.nth = -1;
    w.weekday = 4;
    assert_int_equal(hub_panelcfg_next_meeting(&w, day("2025-02-01")), day("2025-02-28"));
    assert_int_equal(hub_panelcfg_next_meeting(&w, day("2025-05-31")), day("2025-06-27"));
    /* weekly on Wednesday */
    w.meeting = CSPH_MEETING_WEEKLY;
    w.weekday = 2;
    assert_int_equal(hub_panelcfg_next_meeting(&w, day("2025-06-02")), day("2025-06-04"));
    assert_int_equal(hub_panelcfg_next_meeting(&w, day("2025-06-04")), day("2025-06-04"));
    assert_int_equal(hub_panelcfg_prev_meeting(&w, day("2025-06-04")), day("2025-05-28"));
    assert_int_equal(hub_panelcfg_prev_meeting(&w, day("2025-06-05")), day("2025-06-04"));
    /* ad hoc: no calendar */
    w.meeting = CSPH_MEETING_ADHOC;
    assert_int_equal(hub_panelcfg_next_meeting(&w, day("2025-06-02")), -1);
    assert_int_equal(hub_panelcfg_weekday(day("2025-06-02")), 0);
    assert_int_equal(hub_panelcfg_weekday(0), 3); /* 1 January 1970 was a Thursday */
}

static void test_london_days(void **state)
{
    (void)state;
    int64_t ms, d;
    /* 23:30 UTC on 20 June is 00:30 on 21 June in London (BST) */
    csph_time_parse("2025-06-20T23:30:00Z", 20, &ms, NULL);
    assert_int_equal(hub_panelcfg_london_day(ms), day("2025-06-21"));
    /* ...but the same day in winter (GMT) */
    csph_time_parse("2025-12-20T23:30:00Z", 20, &ms, NULL);
    assert_int_equal(hub_panelcfg_london_day(ms), day("2025-12-20"));
    char buf[16];
    assert_int_equal(hub_panelcfg_day_format(day("2024-02-29"), buf), 10);
    assert_string_equal(buf, "2024-02-29");
    assert_int_equal(hub_panelcfg_day_parse("2025-02-29", 10, &d), -1);
    assert_int_equal(hub_panelcfg_day_parse("2025-13-01", 10, &d), -1);
    assert_int_equal(hub_panelcfg_day_parse("2025-1-01", 9, &d), -1);
    assert_int_equal(hub_panelcfg_day_parse("tomorrow!!", 10, &d), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shipped_panels),
        cmocka_unit_test_setup_teardown(test_mistakes_named_with_file_and_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_agencies_list, setup, teardown),
        cmocka_unit_test(test_meeting_dates),
        cmocka_unit_test(test_london_days),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
