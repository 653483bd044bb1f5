/* test_indicators.c: the indicator and area files (hub/indicators.c): the
 * shipped ones load against the shipped schemas and panels, and every
 * mistake is refused with file:line and what is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "indicators.h"
#include "rules.h"
#include "schema.h"
#include "testutil.h"

struct fx {
    char *dir;
    char ind[600], areas[600];
    struct hub_config c;
    struct hub_schemas *schemas;
    struct hub_rules *rules;
    struct hub_indicators ind_out;
    struct hub_error err;
    int fds;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->fds = tu_open_fds();
    f->dir = tu_tmpdir("indicators");
    hub_config_defaults(&f->c);
    struct hub_error e;
    assert_int_equal(hub_config_load_panels(&f->c, &e), CSPH_ERR_OK);
    const char *names[CSPH_MAX_PANELS];
    for (size_t i = 0; i < f->c.npanels; i++)
        names[i] = f->c.panels[i].name;
    assert_int_equal(hub_schemas_load(&f->schemas, f->c.schemas_dir, names, f->c.npanels, &e),
                     CSPH_ERR_OK);
    if (hub_rules_load(&f->rules, f->c.rules_file, f->c.panels, f->c.npanels, f->schemas, &e))
        fail_msg("%s", e.message);
    f->c.indicators_shipped = 0; /* the files written here are the operator's own */
    snprintf(f->ind, sizeof f->ind, "%s/indicators.yaml", f->dir);
    snprintf(f->areas, sizeof f->areas, "%s/areas.yaml", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hub_indicators_free(&f->ind_out);
    hub_rules_destroy(&f->rules);
    hub_schemas_destroy(&f->schemas);
    int rc = tu_open_fds() == f->fds ? 0 : -1;
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return rc;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static enum hub_err load(struct fx *f, const char *ind, const char *areas)
{
    write_file(f->ind, ind);
    if (areas)
        write_file(f->areas, areas);
    hub_indicators_free(&f->ind_out);
    return hub_indicators_load(&f->ind_out, f->ind, areas ? f->areas : "", &f->c, f->schemas,
                               f->rules, &f->err);
}

/* The file is refused with a message that starts "FILE:LINE: " and holds
 * what. */
static void refused(struct fx *f, const char *ind, const char *areas, int line, const char *what)
{
    assert_int_equal(load(f, ind, areas), CSPH_ERR_CONFIG);
    char want[700];
    snprintf(want, sizeof want, "%s:%d: ", areas ? f->areas : f->ind, line);
    if (strncmp(f->err.message, want, strlen(want)) || !strstr(f->err.message, what))
        fail_msg("got '%s', want '%s...%s'", f->err.message, want, what);
}

static void test_shipped_files_load(void **state)
{
    struct fx *f = *state;
    char ind[600], areas[600];
    snprintf(ind, sizeof ind, "%s/indicators.yaml", tu_env("CSPH_CONFIG_DIR", "config"));
    snprintf(areas, sizeof areas, "%s/areas.yaml", tu_env("CSPH_CONFIG_DIR", "config"));
    if (hub_indicators_load(&f->ind_out, ind, areas, &f->c, f->schemas, f->rules, &f->err))
        fail_msg("%s", f->err.message);
    const struct hub_indicators *I = &f->ind_out;
    assert_int_equal(I->suppress_below, 5);
    int rate = hub_indicators_find(I, "marac.repeat-rate", strlen("marac.repeat-rate"));
    assert_true(rate >= 0);
    assert_int_equal(I->v[rate].measure, CSPH_IND_RATIO);
    assert_true(I->v[rate].has_band);
    assert_true(I->v[rate].band_lo == 24 && I->v[rate].band_hi == 40);
    assert_string_equal(I->v[I->v[rate].num].name, "marac.repeat-cases");
    assert_string_equal(I->v[I->v[rate].den].name, "marac.cases");
    int rc = hub_indicators_find(I, "asb.repeat-callers", strlen("asb.repeat-callers"));
    assert_true(rc >= 0);
    assert_int_equal(I->v[rc].at_least, 3);
    assert_int_equal(I->v[rc].within_days, 168);
    assert_true(I->v[rc].baseline == 690 && I->v[rc].target == 621);
    assert_int_equal(I->v[rc].good, -1);
    int north = hub_areas_find(I, "north", 5);
    assert_true(north >= 0);
    assert_true(hub_area_has(&I->areas[north], "E01000916", 9, NULL, 0));
    assert_true(hub_area_has(&I->areas[north], NULL, 0, "Abbey", 5));
    assert_false(hub_area_has(&I->areas[north], "E01000001", 9, "Castle", 6));
    assert_int_equal(strlen(I->digest), 16);
}

static void test_mistakes(void **state)
{
    struct fx *f = *state;
    refused(f, "indicators:\n  - name: x\n    measure: sum\n", NULL, 3, "unknown measure 'sum'");
    refused(f, "indicators:\n  - name: x\n    measure: events\n", NULL, 2, "needs count");
    refused(f,
            "indicators:\n  - name: x\n    measure: events\n    count:\n"
            "      - {type: call, where: {colour: red}}\n",
            NULL, 5, "events of type 'call' have no field 'colour'");
    refused(f, "indicators:\n  - name: x\n    measure: events\n    count: [{type: parade}]\n",
            NULL, 4, "no event type 'parade'");
    refused(f, "indicators:\n  - name: x\n    measure: alerts\n    panel: bingo\n", NULL, 4,
            "no panel 'bingo'");
    refused(f,
            "indicators:\n  - name: x\n    measure: ratio\n    numerator: a\n"
            "    denominator: b\n",
            NULL, 4, "no indicator 'a'");
    refused(f,
            "indicators:\n  - name: x\n    measure: alerts\n    panel: marac\n    target: 3\n",
            NULL, 5, "needs good: up or down");
    refused(f,
            "indicators:\n  - name: x\n    measure: people\n    count: [{type: call}]\n"
            "    at_least: 3\n    within_days: 168\n",
            NULL, 4, "needs person");
    refused(f,
            "indicators:\n  - name: x\n    measure: alerts\n    panel: marac\n"
            "  - name: x\n    measure: alerts\n    panel: sgv\n",
            NULL, 5, "defined twice");
    refused(f, "indicators:\n  - name: x\n    measure: alerts\n    panel: marac\n    colour: 1\n",
            NULL, 5, "unknown setting 'colour'");
    refused(f,
            "indicators:\n  - name: x\n    measure: decisions\n    panel: marac\n"
            "    status: [maybe]\n",
            NULL, 5, "unknown decision 'maybe'");
    refused(f,
            "indicators:\n  - name: x\n    measure: alerts\n    panel: marac\n"
            "    band: [40, 24]\n",
            NULL, 5, "band low 40 is above band high 24");
    /* a ratio of something that is not a count */
    refused(f,
            "indicators:\n  - name: d\n    measure: days_to_decision\n    panel: marac\n"
            "  - name: c\n    measure: alerts\n    panel: marac\n"
            "  - name: r\n    measure: ratio\n    numerator: d\n    denominator: c\n",
            NULL, 10, "numerator must be a count");
    refused(f,
            "indicators:\n  - name: x\n    measure: alerts\n    rules: [marac.high-risk,\n"
            "      marac.repeet]\n",
            NULL, 5, "no rule 'marac.repeet' in the rules file");
    /* the case measures: outcomes only for case_exits, each one a panel's */
    refused(f,
            "indicators:\n  - name: x\n    measure: case_exits\n    panel: iom\n"
            "    outcomes: [risk-reduced]\n",
            NULL, 5, "no outcome 'risk-reduced' in panel iom's outcomes");
    refused(f, "indicators:\n  - name: x\n    measure: case_exits\n    outcomes: [gone]\n",
            NULL, 4, "no outcome 'gone' in any panel's outcomes");
    refused(f,
            "indicators:\n  - name: x\n    measure: case_entries\n    outcomes: [completed]\n",
            NULL, 4, "outcomes is for the case_exits measure");
    refused(f, "indicators:\n  - name: x\n    measure: reviews_on_time\n    rules: [overdue]\n",
            NULL, 4, "rules are for the alert measures");
    refused(f, "indicators:\n  - name: x\n    measure: actions_on_time\n    panel: bingo\n",
            NULL, 4, "no panel 'bingo'");
    assert_int_equal(load(f,
                          "indicators:\n  - name: x\n    measure: case_exits\n    panel: iom\n"
                          "    outcomes: [completed, deselected]\n"
                          "  - name: y\n    measure: actions_on_time\n",
                          NULL),
                     CSPH_ERR_OK);
    assert_int_equal(f->ind_out.v[0].noutcomes, 2);
    assert_int_equal(f->ind_out.v[1].panel, -1);
    assert_int_equal(f->ind_out.v[1].unit, CSPH_UNIT_PERCENT);
    const char *ok = "indicators:\n  - name: x\n    measure: alerts\n    panel: marac\n";
    refused(f, ok, "areas:\n  - name: n\n    lsoa: [E0100091]\n", 3, "'E0100091' is not an LSOA");
    refused(f, ok, "areas:\n  - name: n\n", 2, "needs lsoa");
    refused(f, ok, "areas:\n  - {name: n, wards: [A]}\n  - {name: n, wards: [B]}\n", 3,
            "defined twice");
    assert_int_equal(load(f, ok, "areas:\n  - {name: n, wards: [A]}\n"), CSPH_ERR_OK);
    assert_int_equal(f->ind_out.nareas, 1);
    write_file(f->ind, ok);
    hub_indicators_free(&f->ind_out);
    assert_int_equal(hub_indicators_load(&f->ind_out, f->ind, "/nonexistent/areas.yaml", &f->c,
                                         f->schemas, f->rules, &f->err),
                     CSPH_ERR_IO);
    assert_non_null(strstr(f->err.message, "/nonexistent/areas.yaml"));
}

/* The shipped file on a hub with its own panels: what names a panel the
 * hub lacks is left out (with a warning), the rest stays; an operator's own
 * file is refused for the same. */
static void test_shipped_file_other_panels(void **state)
{
    struct fx *f = *state;
    f->c.npanels = 1; /* marac only */
    snprintf(f->c.panels[0].name, sizeof f->c.panels[0].name, "marac");
    f->c.indicators_shipped = 1;
    char ind[600];
    snprintf(ind, sizeof ind, "%s/indicators.yaml", tu_env("CSPH_CONFIG_DIR", "config"));
    if (hub_indicators_load(&f->ind_out, ind, "", &f->c, f->schemas, NULL, &f->err))
        fail_msg("%s", f->err.message);
    const struct hub_indicators *I = &f->ind_out;
    assert_true(hub_indicators_find(I, "marac.cases", 11) >= 0);
    assert_true(hub_indicators_find(I, "hate.incidents", 14) >= 0);
    assert_int_equal(hub_indicators_find(I, "community-marac.alerts", 22), -1);
    int rate = hub_indicators_find(I, "marac.repeat-rate", 17);
    assert_true(rate >= 0);
    assert_string_equal(I->v[I->v[rate].den].name, "marac.cases");
    hub_indicators_free(&f->ind_out);
    f->c.indicators_shipped = 0;
    assert_int_equal(hub_indicators_load(&f->ind_out, ind, "", &f->c, f->schemas, NULL, &f->err),
                     CSPH_ERR_CONFIG);
    assert_non_null(strstr(f->err.message, "no panel 'community-marac'"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_shipped_files_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mistakes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shipped_file_other_panels, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
