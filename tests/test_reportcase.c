/* test_reportcase.c: the report's case measures (hub/reportcase.c) on their
 * own: panel-work events collected into records, then replayed for an
 * indicator as of a time. Pure functions of the records: no store, no
 * clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "reportcase.h"
#include "testutil.h"
#include "timefmt.h"

#define DAY 86400000LL

struct fx {
    struct hub_config c;
    struct hub_rcase rc;
    msgpack_zone zone;
    uint64_t seq;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    hub_config_defaults(&f->c);
    struct hub_error e;
    assert_int_equal(hub_config_load_panels(&f->c, &e), CSPH_ERR_OK);
    msgpack_zone_init(&f->zone, 4096);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hub_rcase_free(&f->rc);
    msgpack_zone_destroy(&f->zone);
    free(f);
    return 0;
}

static int64_t at(const char *rfc)
{
    int64_t ms;
    const char *why;
    assert_int_equal(csph_time_parse(rfc, strlen(rfc), &ms, &why), 0);
    return ms;
}

/* Collect one event (JSON) of type, received at when. */
static void ev(struct fx *f, const char *type, const char *when, const char *json)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, json);
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &f->zone, &o), MSGPACK_UNPACK_SUCCESS);
    if (hub_rcase_type(type, strlen(type)))
        assert_int_equal(hub_rcase_collect(&f->rc, &f->c, ++f->seq, at(when), type, strlen(type),
                                           &o),
                         0);
    msgpack_sbuffer_destroy(&sb);
}

/* What a figure adds up to: by month of 2025 (index 0: January). */
struct sums {
    int num[12], den[12], calls;
    uint64_t seqs[32];
};

static void add(void *ctx, int64_t ms, int num, int den, uint64_t seq)
{
    struct sums *s = ctx;
    char buf[32];
    csph_time_format(ms, buf);
    int m = atoi(buf + 5) - 1;
    s->num[m] += num;
    s->den[m] += den;
    if (s->calls < 32)
        s->seqs[s->calls] = seq;
    s->calls++;
}

static void figure(struct fx *f, enum hub_ind_measure m, const char *panel, const char *outcome,
                   const char *asof, struct sums *s)
{
    struct hub_indicator I;
    memset(&I, 0, sizeof I);
    I.measure = m;
    I.panel = panel ? hub_config_panel_find(&f->c, panel, strlen(panel)) : -1;
    if (outcome) {
        snprintf(I.outcomes[0], sizeof I.outcomes[0], "%s", outcome);
        I.noutcomes = 1;
    }
    memset(s, 0, sizeof *s);
    assert_int_equal(hub_rcase_figure(&f->rc, &f->c, &I, at(asof), add, s), 0);
}

static void test_entries_and_exits(void **state)
{
    struct fx *f = *state;
    ev(f, "case.opened", "2025-03-03T10:00:00Z", "{\"panel\":\"iom\",\"subject\":\"N-1\"}");
    ev(f, "case.opened", "2025-03-04T10:00:00Z", "{\"panel\":\"iom\",\"subject\":\"N-2\"}");
    ev(f, "case.opened", "2025-03-05T10:00:00Z", "{\"panel\":\"marac\",\"subject\":\"N-1\"}");
    /* events of no configured panel, or no subject, are not collected */
    ev(f, "case.opened", "2025-03-05T10:00:00Z", "{\"panel\":\"nope\",\"subject\":\"N-9\"}");
    ev(f, "case.opened", "2025-03-05T10:00:00Z", "{\"panel\":\"iom\"}");
    ev(f, "da.incident", "2025-03-05T10:00:00Z", "{\"panel\":\"iom\",\"subject\":\"N-9\"}");
    assert_int_equal(f->rc.n, 3);
    ev(f, "case.update", "2025-04-10T10:00:00Z",
       "{\"panel\":\"iom\",\"subject\":\"N-1\",\"status\":\"closed\",\"outcome\":\"completed\"}");
    /* closing a closed case again is no second exit */
    ev(f, "case.update", "2025-04-11T10:00:00Z",
       "{\"panel\":\"iom\",\"subject\":\"N-1\",\"status\":\"closed\",\"outcome\":\"completed\"}");
    ev(f, "case.update", "2025-05-10T10:00:00Z",
       "{\"panel\":\"iom\",\"subject\":\"N-2\",\"status\":\"closed\",\"outcome\":\"deselected\"}");
    /* a risk change is neither */
    ev(f, "case.update", "2025-05-11T10:00:00Z",
       "{\"panel\":\"marac\",\"subject\":\"N-1\",\"status\":\"open\",\"risk\":\"medium\"}");
    /* reopened: a second entry */
    ev(f, "case.opened", "2025-06-01T10:00:00Z", "{\"panel\":\"iom\",\"subject\":\"N-1\"}");
    struct sums s;
    figure(f, CSPH_IND_CASE_ENTRIES, "iom", NULL, "2025-12-31T00:00:00Z", &s);
    assert_int_equal(s.num[2], 2);
    assert_int_equal(s.num[5], 1);
    assert_int_equal(s.calls, 3);
    figure(f, CSPH_IND_CASE_ENTRIES, NULL, NULL, "2025-12-31T00:00:00Z", &s);
    assert_int_equal(s.num[2], 3);
    figure(f, CSPH_IND_CASE_EXITS, "iom", NULL, "2025-12-31T00:00:00Z", &s);
    assert_int_equal(s.num[3], 1);
    assert_int_equal(s.num[4], 1);
    assert_int_equal(s.den[3], 0);
    figure(f, CSPH_IND_CASE_EXITS, "iom", "completed", "2025-12-31T00:00:00Z", &s);
    assert_int_equal(s.num[3], 1);
    assert_int_equal(s.num[4], 0);
    assert_int_equal(s.seqs[0], 6); /* the close that counted (seqs 4, 5: not collected) */
    figure(f, CSPH_IND_CASE_EXITS, "marac", NULL, "2025-12-31T00:00:00Z", &s);
    assert_int_equal(s.calls, 0);
}

static void test_actions_on_time(void **state)
{
    struct fx *f = *state;
    /* 1: done on time; 2: done late; 3: not done; 4: re-timed to July, done
     * in June (on time); 5: open, due in May (late at the report's time);
     * 6: open, due after it (counts nowhere). */
    static const char *const due[] = {"2025-05-09T22:59:59.999Z", "2025-05-09T22:59:59.999Z",
                                      "2025-05-20T22:59:59.999Z", "2025-05-30T22:59:59.999Z",
                                      "2025-05-31T22:59:59.999Z", "2025-08-30T22:59:59.999Z"};
    char json[300];
    for (int i = 0; i < 6; i++) {
        snprintf(json, sizeof json, "{\"action\":%d,\"panel\":\"marac\",\"subject\":\"V-1\","
                 "\"due_at\":\"%s\"}", i + 1, due[i]);
        ev(f, "action.created", "2025-05-02T09:00:00Z", json);
    }
    ev(f, "action.updated", "2025-05-08T09:00:00Z",
       "{\"action\":1,\"panel\":\"marac\",\"status\":\"done\"}");
    ev(f, "action.updated", "2025-05-12T09:00:00Z",
       "{\"action\":2,\"panel\":\"marac\",\"status\":\"done\"}");
    ev(f, "action.updated", "2025-05-12T09:00:00Z",
       "{\"action\":3,\"panel\":\"marac\",\"status\":\"not_done\",\"reason\":\"moved\"}");
    ev(f, "action.updated", "2025-05-12T09:00:00Z",
       "{\"action\":4,\"panel\":\"marac\",\"status\":\"retimed\","
       "\"due_at\":\"2025-07-04T22:59:59.999Z\"}");
    ev(f, "action.updated", "2025-06-12T09:00:00Z",
       "{\"action\":4,\"panel\":\"marac\",\"status\":\"done\"}");
    /* an update of a closed action changes nothing */
    ev(f, "action.updated", "2025-06-13T09:00:00Z",
       "{\"action\":3,\"panel\":\"marac\",\"status\":\"done\"}");
    struct sums s;
    figure(f, CSPH_IND_ACTIONS_ON_TIME, "marac", NULL, "2025-07-01T00:00:00Z", &s);
    assert_int_equal(s.den[4], 4); /* May: 1, 2, 3, 5 */
    assert_int_equal(s.num[4], 1);
    assert_int_equal(s.den[6], 1); /* July: 4, re-timed */
    assert_int_equal(s.num[6], 1);
    assert_int_equal(s.den[7], 0); /* 6 not due yet */
    figure(f, CSPH_IND_ACTIONS_ON_TIME, "iom", NULL, "2025-07-01T00:00:00Z", &s);
    assert_int_equal(s.calls, 0);
    /* as of before 5 fell due, it counts nowhere */
    figure(f, CSPH_IND_ACTIONS_ON_TIME, "marac", NULL, "2025-05-25T00:00:00Z", &s);
    assert_int_equal(s.den[4], 3);
}

static void test_reviews_on_time(void **state)
{
    struct fx *f = *state;
    ev(f, "case.opened", "2025-03-01T09:00:00Z", "{\"panel\":\"iom\",\"subject\":\"N-1\"}");
    ev(f, "case.opened", "2025-03-01T09:00:00Z", "{\"panel\":\"iom\",\"subject\":\"N-2\"}");
    ev(f, "case.opened", "2025-03-01T09:00:00Z", "{\"panel\":\"iom\",\"subject\":\"N-3\"}");
    ev(f, "case.opened", "2025-03-01T09:00:00Z", "{\"panel\":\"iom\",\"subject\":\"N-4\"}");
    /* N-1: recorded before it fell due: on time, in March */
    ev(f, "case.update", "2025-03-20T09:00:00Z",
       "{\"panel\":\"iom\",\"subject\":\"N-1\",\"status\":\"reviewed\"}");
    /* N-2: fell due 12 April, recorded that day after the alert: on time */
    ev(f, "timer.fired", "2025-04-12T09:00:00Z",
       "{\"timer\":\"review\",\"panel\":\"iom\",\"subject\":\"N-2\","
       "\"due_at\":\"2025-04-12T09:00:00.000Z\"}");
    ev(f, "case.update", "2025-04-12T21:00:00Z",
       "{\"panel\":\"iom\",\"subject\":\"N-2\",\"status\":\"reviewed\"}");
    /* N-3: fell due 12 April, recorded in May: late, in April */
    ev(f, "timer.fired", "2025-04-12T09:00:00Z",
       "{\"timer\":\"review\",\"panel\":\"iom\",\"subject\":\"N-3\","
       "\"due_at\":\"2025-04-12T09:00:00.000Z\"}");
    ev(f, "case.update", "2025-05-02T09:00:00Z",
       "{\"panel\":\"iom\",\"subject\":\"N-3\",\"status\":\"reviewed\"}");
    /* N-4: fell due in April, the case closed unreviewed: late; an action
     * timer is no review */
    ev(f, "timer.fired", "2025-04-20T09:00:00Z",
       "{\"timer\":\"review\",\"panel\":\"iom\",\"subject\":\"N-4\","
       "\"due_at\":\"2025-04-20T09:00:00.000Z\"}");
    ev(f, "timer.fired", "2025-04-20T09:00:00Z",
       "{\"timer\":\"action\",\"action\":1,\"panel\":\"iom\",\"subject\":\"N-4\","
       "\"due_at\":\"2025-04-20T09:00:00.000Z\"}");
    ev(f, "case.update", "2025-05-20T09:00:00Z",
       "{\"panel\":\"iom\",\"subject\":\"N-4\",\"status\":\"closed\",\"outcome\":\"completed\"}");
    /* N-1 again: fell due in June, still pending at the report's time */
    ev(f, "timer.fired", "2025-06-03T09:00:00Z",
       "{\"timer\":\"review\",\"panel\":\"iom\",\"subject\":\"N-1\","
       "\"due_at\":\"2025-06-03T09:00:00.000Z\"}");
    struct sums s;
    figure(f, CSPH_IND_REVIEWS_ON_TIME, "iom", NULL, "2025-07-01T00:00:00Z", &s);
    assert_int_equal(s.num[2], 1);
    assert_int_equal(s.den[2], 1);
    assert_int_equal(s.num[3], 1);
    assert_int_equal(s.den[3], 3);
    assert_int_equal(s.num[5], 0);
    assert_int_equal(s.den[5], 1);
    figure(f, CSPH_IND_REVIEWS_ON_TIME, "marac", NULL, "2025-07-01T00:00:00Z", &s);
    assert_int_equal(s.calls, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_entries_and_exits, setup, teardown),
        cmocka_unit_test_setup_teardown(test_actions_on_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reviews_on_time, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
