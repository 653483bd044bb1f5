/* test_calendar.c: working days (hub/calendar.c): weekends and bank
 * holidays read from a calendar file, the Nth working day after a date,
 * and the file:line of every mistake in the file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "calendar.h"
#include "testutil.h"
#include "timefmt.h"

#define DAY CSPH_MS_PER_DAY

static int64_t T(const char *rfc3339)
{
    int64_t ms;
    assert_int_equal(csph_time_parse(rfc3339, strlen(rfc3339), &ms, NULL), 0);
    return ms;
}

static int64_t D(int y, unsigned m, unsigned d)
{
    return csph_days_from_civil(y, m, d);
}

struct fx {
    char *dir;
    char path[1024];
    struct hub_calendar cal;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir("calendar");
    snprintf(f->path, sizeof f->path, "%s/calendar.yaml", f->dir);
    hub_calendar_init(&f->cal);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hub_calendar_free(&f->cal);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static void load_ok(struct fx *f, const char *text)
{
    struct hub_error err = {0};
    write_file(f->path, text);
    hub_calendar_free(&f->cal);
    if (hub_calendar_load(&f->cal, f->path, &err))
        fail_msg("loading:\n%s\n%s", text, err.message);
}

/* text is refused with "path:line: ...says..." */
static void expect_refused(struct fx *f, const char *text, int line, const char *says)
{
    struct hub_calendar c;
    struct hub_error err = {0};
    char want[1100];
    write_file(f->path, text);
    hub_calendar_init(&c);
    enum hub_err rc = hub_calendar_load(&c, f->path, &err);
    hub_calendar_free(&c);
    if (rc == CSPH_ERR_OK)
        fail_msg("accepted:\n%s", text);
    assert_int_equal(rc, CSPH_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:%d: ", f->path, line);
    if (strncmp(err.message, want, strlen(want)) || !strstr(err.message, says))
        fail_msg("expected '%s...%s', got '%s'", want, says, err.message);
}

static const char christmas[] = "weekend: [saturday, sunday]\n"
                                "bank_holidays:\n"
                                "  - 2026-01-01   # listed out of order\n"
                                "  - 2025-12-25\n"
                                "  - 2025-12-26\n"
                                "  - 2026-12-25\n"
                                "  - 2026-12-28   # Boxing Day on a Saturday: the Monday\n";

/* Without a file: Saturday and Sunday off, no bank holidays. */
static void test_default_weekend(void **state)
{
    struct fx *f = *state;
    const struct hub_calendar *c = &f->cal;
    assert_true(hub_calendar_is_working_day(c, D(2025, 12, 24)));   /* Wednesday */
    assert_true(hub_calendar_is_working_day(c, D(2025, 12, 25)));   /* no holidays */
    assert_false(hub_calendar_is_working_day(c, D(2025, 12, 27)));  /* Saturday */
    assert_false(hub_calendar_is_working_day(c, D(2025, 12, 28)));  /* Sunday */
    assert_true(hub_calendar_is_working_day(c, 0));                 /* Thu 1 Jan 1970 */
    assert_false(hub_calendar_is_working_day(c, -5));               /* Sat 27 Dec 1969 */
    assert_true(hub_calendar_is_working_day(c, -1));                /* Wed 31 Dec 1969 */
    assert_int_equal(hub_calendar_add_working_days(c, T("2025-12-24T09:00:00Z"), 1),
                     T("2025-12-25T09:00:00Z"));
    /* Friday + 1: Monday, same time of day */
    assert_int_equal(hub_calendar_add_working_days(c, T("2025-03-07T17:45:30.250Z"), 1),
                     T("2025-03-10T17:45:30.250Z"));
    /* + 0: the same moment, even on a Sunday */
    assert_int_equal(hub_calendar_add_working_days(c, T("2025-03-09T08:00:00Z"), 0),
                     T("2025-03-09T08:00:00Z"));
    /* before 1970: Wed 24 Dec 1969 + 3 = Mon 29 Dec 1969 */
    assert_int_equal(hub_calendar_add_working_days(c, T("1969-12-24T12:00:00Z"), 3),
                     T("1969-12-29T12:00:00Z"));
    /* the last millisecond of 1969 (a Wednesday) + 1 */
    assert_int_equal(hub_calendar_add_working_days(c, -1, 1), DAY - 1);
}

/* Working days across Christmas and New Year with a calendar file. */
static void test_christmas(void **state)
{
    struct fx *f = *state;
    load_ok(f, christmas);
    const struct hub_calendar *c = &f->cal;
    assert_int_equal(c->nholidays, 5);
    for (size_t i = 1; i < c->nholidays; i++)
        assert_true(c->holidays[i - 1] < c->holidays[i]); /* sorted */
    assert_false(hub_calendar_is_working_day(c, D(2025, 12, 25)));
    assert_false(hub_calendar_is_working_day(c, D(2025, 12, 26)));
    assert_true(hub_calendar_is_working_day(c, D(2025, 12, 29)));
    assert_false(hub_calendar_is_working_day(c, D(2026, 1, 1)));
    assert_true(hub_calendar_is_working_day(c, D(2026, 1, 2)));
    /* Fri 19 Dec 2025 + 10: 22, 23, 24, 29, 30, 31 Dec, 2, 5, 6, 7 Jan */
    assert_int_equal(hub_calendar_add_working_days(c, T("2025-12-19T15:30:00Z"), 10),
                     T("2026-01-07T15:30:00Z"));
    /* Wed 24 Dec + 1: Mon 29 Dec */
    assert_int_equal(hub_calendar_add_working_days(c, T("2025-12-24T23:59:59.999Z"), 1),
                     T("2025-12-29T23:59:59.999Z"));
    /* from the holiday itself + 1: Mon 29 Dec */
    assert_int_equal(hub_calendar_add_working_days(c, T("2025-12-25T00:00:00Z"), 1),
                     T("2025-12-29T00:00:00Z"));
    /* Wed 31 Dec + 1: Fri 2 Jan 2026 */
    assert_int_equal(hub_calendar_add_working_days(c, T("2025-12-31T10:00:00Z"), 1),
                     T("2026-01-02T10:00:00Z"));
    /* Thu 24 Dec 2026 + 1: Fri 25 and Mon 28 (substitute) are off: Tue 29 */
    assert_int_equal(hub_calendar_add_working_days(c, T("2026-12-24T10:00:00Z"), 1),
                     T("2026-12-29T10:00:00Z"));
    /* Thu 18 Dec 2025 + 5: Fri 19, Mon 22, Tue 23, Wed 24, Mon 29 */
    assert_int_equal(hub_calendar_add_working_days(c, T("2025-12-18T08:00:00Z"), 5),
                     T("2025-12-29T08:00:00Z"));
}

/* Another weekend: Friday and Saturday off. */
static void test_other_weekend(void **state)
{
    struct fx *f = *state;
    load_ok(f, "weekend: [friday, saturday]\n");
    const struct hub_calendar *c = &f->cal;
    assert_false(hub_calendar_is_working_day(c, D(2025, 3, 7)));  /* Friday */
    assert_true(hub_calendar_is_working_day(c, D(2025, 3, 9)));   /* Sunday */
    assert_int_equal(hub_calendar_add_working_days(c, T("2025-03-06T09:00:00Z"), 1),
                     T("2025-03-09T09:00:00Z"));
    /* an empty weekend: every day works */
    load_ok(f, "weekend: []\nbank_holidays: []\n");
    assert_int_equal(hub_calendar_add_working_days(&f->cal, T("2025-03-07T09:00:00Z"), 2),
                     T("2025-03-09T09:00:00Z"));
    /* six days off: only Wednesday works */
    load_ok(f, "weekend: [monday, tuesday, thursday, friday, saturday, sunday]\n");
    assert_int_equal(hub_calendar_add_working_days(&f->cal, T("2025-03-05T09:00:00Z"), 2),
                     T("2025-03-19T09:00:00Z"));
}

/* Mistakes in the file, each with file:line. */
static void test_load_errors(void **state)
{
    struct fx *f = *state;
    expect_refused(f, "weekend: [saturday, sunday]\nbank_holidays:\n  - 2025-12-25\n  - 2025-02-30\n",
                   4, "'2025-02-30' is not a date");
    expect_refused(f, "bank_holidays:\n  - 2025-13-01\n", 2, "'2025-13-01' is not a date");
    expect_refused(f, "bank_holidays:\n  - 2025-02-29\n", 2, "'2025-02-29' is not a date");
    expect_refused(f, "bank_holidays:\n  - 2025-12-25x\n", 2, "is not a date");
    expect_refused(f, "bank_holidays:\n  - 25/12/2025\n", 2, "is not a date");
    expect_refused(f, "bank_holidays:\n  - 2025-12-25\n  - 2025-12-26\n  - 2025-12-25\n", 4,
                   "2025-12-25 is listed twice");
    expect_refused(f, "# a comment\nweekend: [saturday, caturday]\n", 2,
                   "'caturday' is not a day name");
    expect_refused(f, "weekend: [monday, tuesday, wednesday, thursday, friday, saturday, sunday]\n",
                   1, "at least one day of the week must be a working day");
    expect_refused(f, "weekend: saturday\n", 1, "weekend must list day names");
    expect_refused(f, "weekend: [saturday]\nbank_holidays: 2025-12-25\n", 2,
                   "bank_holidays must list dates");
    expect_refused(f, "weekend: [saturday, sunday]\nholidays:\n  - 2025-12-25\n", 2, "holidays");
    expect_refused(f, "", 1, "the calendar is empty");
    expect_refused(f, "weekend: [saturday, sunday\n", 2, "");
    /* a leap day is a date */
    load_ok(f, "bank_holidays:\n  - 2024-02-29\n");
    assert_false(hub_calendar_is_working_day(&f->cal, D(2024, 2, 29)));
    /* no file: an I/O error */
    struct hub_calendar c;
    struct hub_error err = {0};
    char path[1100];
    snprintf(path, sizeof path, "%s/absent.yaml", f->dir);
    hub_calendar_init(&c);
    assert_int_equal(hub_calendar_load(&c, path, &err), CSPH_ERR_IO);
    hub_calendar_free(&c);
}

/* The same from a file's text kept elsewhere: the name stands for the file. */
static void test_load_text(void **state)
{
    (void)state;
    struct hub_calendar c;
    struct hub_error err = {0};
    hub_calendar_init(&c);
    assert_int_equal(hub_calendar_load_text(&c, "kept-calendar.yaml", (const unsigned char *)christmas,
                                            strlen(christmas), &err), CSPH_ERR_OK);
    assert_int_equal(hub_calendar_add_working_days(&c, T("2025-12-19T15:30:00Z"), 10),
                     T("2026-01-07T15:30:00Z"));
    hub_calendar_free(&c);
    assert_int_equal(c.nholidays, 0);
    const char *bad = "bank_holidays:\n  - 2025-12-25\n  - 2025-04-31\n";
    hub_calendar_init(&c);
    assert_int_equal(hub_calendar_load_text(&c, "kept-calendar.yaml", (const unsigned char *)bad,
                                            strlen(bad), &err), CSPH_ERR_CONFIG);
    hub_calendar_free(&c);
    if (strncmp(err.message, "kept-calendar.yaml:3: ", 22) || !strstr(err.message, "2025-04-31"))
        fail_msg("got '%s'", err.message);
}

/* The regular days of year as "YYYY-MM-DD ..." */
static void regular_days(int year, char *out, size_t n)
{
    int64_t days[CSPH_CALENDAR_REGULAR_MAX];
    size_t k = hub_calendar_england_wales(year, days);
    out[0] = 0;
    for (size_t i = 0; i < k; i++) {
        int y;
        unsigned m, d;
        csph_civil_from_days(days[i], &y, &m, &d);
        snprintf(out + strlen(out), n - strlen(out), "%s%04d-%02u-%02u", i ? " " : "", y, m, d);
    }
}

/* Easter Sunday against published dates, earliest and latest included. */
static void test_easter(void **state)
{
    (void)state;
    static const struct { int y; unsigned m, d; } known[] = {
        {1818, 3, 22}, {1943, 4, 25}, {2000, 4, 23}, {2008, 3, 23}, {2011, 4, 24},
        {2019, 4, 21}, {2020, 4, 12}, {2024, 3, 31}, {2025, 4, 20}, {2026, 4, 5},
        {2038, 4, 25}, {2049, 4, 18}, {2285, 3, 22}, {2100, 3, 28},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        assert_int_equal(hub_calendar_easter(known[i].y), D(known[i].y, known[i].m, known[i].d));
}

/* England and Wales' regular holidays for any year, checked against GOV.UK's
 * lists (one-off days left out), substitutes for every way Christmas and
 * New Year fall on a weekend. */
static void test_england_wales(void **state)
{
    (void)state;
    static const struct { int y; const char *days; } known[] = {
        /* Christmas on a Friday: Boxing Day's substitute the Monday */
        {2020, "2020-01-01 2020-04-10 2020-04-13 2020-05-04 2020-05-25 2020-08-31 2020-12-25 "
               "2020-12-28"},
        /* Christmas on a Saturday: both substitutes, Monday and Tuesday */
        {2021, "2021-01-01 2021-04-02 2021-04-05 2021-05-03 2021-05-31 2021-08-30 2021-12-27 "
               "2021-12-28"},
        /* New Year on a Saturday; Christmas on a Sunday: Boxing Day Monday,
         * Christmas's substitute Tuesday */
        {2022, "2022-01-03 2022-04-15 2022-04-18 2022-05-02 2022-05-30 2022-08-29 2022-12-26 "
               "2022-12-27"},
        /* New Year on a Sunday */
        {2023, "2023-01-02 2023-04-07 2023-04-10 2023-05-01 2023-05-29 2023-08-28 2023-12-25 "
               "2023-12-26"},
        {2026, "2026-01-01 2026-04-03 2026-04-06 2026-05-04 2026-05-25 2026-08-31 2026-12-25 "
               "2026-12-28"},
        {2028, "2028-01-03 2028-04-14 2028-04-17 2028-05-01 2028-05-29 2028-08-28 2028-12-25 "
               "2028-12-26"},
        /* beyond any list the project ever carried */
        {2033, "2033-01-03 2033-04-15 2033-04-18 2033-05-02 2033-05-30 2033-08-29 2033-12-26 "
               "2033-12-27"},
        {2040, "2040-01-02 2040-03-30 2040-04-02 2040-05-07 2040-05-28 2040-08-27 2040-12-25 "
               "2040-12-26"},
    };
    char got[200];
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        regular_days(known[i].y, got, sizeof got);
        assert_string_equal(got, known[i].days);
    }
}

/* regular: england-and-wales in a file, with 2020's early May holiday moved
 * to VE day and 2022's one-off and moved days. */
static void test_regular_file(void **state)
{
    struct fx *f = *state;
    load_ok(f, "weekend: [saturday, sunday]\n"
               "regular: england-and-wales\n"
               "moved:\n"
               "  - {from: 2020-05-04, to: 2020-05-08}   # VE day, 75th anniversary\n"
               "  - from: 2022-05-30\n"
               "    to: 2022-06-02\n"
               "bank_holidays:\n"
               "  - 2022-06-03   # Platinum Jubilee\n"
               "  - 2022-09-19   # State funeral\n");
    assert_true(hub_calendar_is_working_day(&f->cal, D(2020, 5, 4)));
    assert_false(hub_calendar_is_working_day(&f->cal, D(2020, 5, 8)));
    assert_true(hub_calendar_is_working_day(&f->cal, D(2022, 5, 30)));
    assert_false(hub_calendar_is_working_day(&f->cal, D(2022, 6, 2)));
    assert_false(hub_calendar_is_working_day(&f->cal, D(2022, 6, 3)));
    assert_false(hub_calendar_is_working_day(&f->cal, D(2022, 9, 19)));
    /* regular days of a year nobody listed */
    assert_false(hub_calendar_is_working_day(&f->cal, D(2047, 12, 25)));
    assert_false(hub_calendar_is_working_day(&f->cal, D(2051, 4, 3))); /* Easter Monday */
    /* a deadline over Christmas 2031 (Thursday 25, Friday 26; 1 January a
     * Thursday too): 10 working days from Friday 19 December end on
     * Wednesday 7 January */
    assert_int_equal(hub_calendar_add_working_days(&f->cal, T("2031-12-19T09:00:00Z"), 10),
                     T("2032-01-07T09:00:00Z"));
    /* 2020: 4 May worked, 8 May off: ten working days from 1 May */
    assert_int_equal(hub_calendar_add_working_days(&f->cal, T("2020-05-01T12:00:00Z"), 10),
                     T("2020-05-18T12:00:00Z"));
    /* the old way (every day listed, no regular:) reads as it always did */
    load_ok(f, "bank_holidays:\n  - 2025-12-25\n");
    assert_false(f->cal.regular);
    assert_true(hub_calendar_is_working_day(&f->cal, D(2025, 12, 26)));
    assert_true(hub_calendar_is_working_day(&f->cal, D(2030, 12, 25)));
}

static void test_regular_errors(void **state)
{
    struct fx *f = *state;
    expect_refused(f, "regular: scotland\n", 1, "regular must be england-and-wales");
    expect_refused(f, "moved:\n  - {from: 2020-05-04, to: 2020-05-08}\n", 2,
                   "it needs 'regular: england-and-wales'");
    expect_refused(f, "regular: england-and-wales\nmoved:\n  - {from: 2020-05-05, to: 2020-05-08}\n",
                   3, "2020-05-05 is not a regular England and Wales bank holiday");
    expect_refused(f, "regular: england-and-wales\nmoved:\n  - {from: 2020-05-04, to: 2020-05-25}\n",
                   3, "2020-05-25 is already a bank holiday");
    expect_refused(f, "regular: england-and-wales\nmoved:\n  - {from: 2020-05-04, to: 2020-05-08}\n"
                      "  - {from: 2020-05-04, to: 2020-05-11}\n",
                   4, "2020-05-04 is moved twice");
    expect_refused(f, "regular: england-and-wales\nmoved:\n  - {from: 2020-05-04}\n", 3,
                   "needs both from: and to:");
    expect_refused(f, "regular: england-and-wales\nmoved:\n  - {from: 2020-05-04, to: 2020-05-08, "
                      "why: ve}\n", 3, "why");
    expect_refused(f, "regular: england-and-wales\nmoved:\n  - {from: 2020-05-04, to: 2020-05-32}\n",
                   3, "'2020-05-32' is not a date");
    expect_refused(f, "regular: england-and-wales\nmoved: 2020-05-04\n", 2, "moved must list days");
    expect_refused(f, "regular: england-and-wales\nbank_holidays:\n  - 2020-05-08\n"
                      "moved:\n  - {from: 2020-05-04, to: 2020-05-08}\n",
                   5, "2020-05-08 is already a bank holiday");
}

/* add_working_days works a year's regular holidays out once per year it
 * walks through: it must agree, from every start, with counting day by day
 * through hub_calendar_is_working_day, across year ends (substitute days in
 * both years), moved and one-off days, and long deadlines spanning years. */
static int64_t add_by_day(const struct hub_calendar *c, int64_t ms, int n)
{
    int64_t day = ms >= 0 ? ms / DAY : -((-ms + DAY - 1) / DAY), tod = ms - day * DAY;
    while (n > 0)
        if (hub_calendar_is_working_day(c, ++day))
            n--;
    return day * DAY + tod;
}

static void test_add_agrees_day_by_day(void **state)
{
    struct fx *f = *state;
    load_ok(f, "regular: england-and-wales\n"
               "moved:\n  - {from: 2020-05-04, to: 2020-05-08}\n"
               "  - {from: 2022-05-30, to: 2022-06-02}\n"
               "bank_holidays:\n  - 2022-06-03\n  - 2022-09-19\n  - 2021-12-31\n");
    static const int ns[] = {0, 1, 2, 5, 10, 20, 300};
    for (int64_t day = D(2019, 12, 1); day <= D(2023, 1, 15); day++)
        for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
            int64_t ms = day * DAY + 9 * 3600000;
            assert_int_equal(hub_calendar_add_working_days(&f->cal, ms, ns[i]),
                             add_by_day(&f->cal, ms, ns[i]));
        }
    /* before 1970 (negative days) too */
    for (int64_t day = D(1968, 12, 20); day <= D(1969, 1, 5); day++)
        assert_int_equal(hub_calendar_add_working_days(&f->cal, day * DAY + 1, 10),
                         add_by_day(&f->cal, day * DAY + 1, 10));
}

/* The calendar the project ships: regular days for any year, and the
 * one-off days of recent years. */
static void test_shipped(void **state)
{
    (void)state;
    char path[1100];
    struct hub_calendar c;
    struct hub_error err = {0};
    snprintf(path, sizeof path, "%s/calendar.yaml", tu_env("CSPH_CONFIG_DIR", "config"));
    hub_calendar_init(&c);
    if (hub_calendar_load(&c, path, &err))
        fail_msg("%s", err.message);
    assert_true(c.regular);
    assert_false(hub_calendar_is_working_day(&c, D(2020, 5, 8)));
    assert_true(hub_calendar_is_working_day(&c, D(2020, 5, 4)));
    assert_false(hub_calendar_is_working_day(&c, D(2023, 5, 8)));
    assert_false(hub_calendar_is_working_day(&c, D(2039, 8, 29)));
    hub_calendar_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_weekend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_christmas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_weekend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_text, setup, teardown),
        cmocka_unit_test(test_easter),
        cmocka_unit_test(test_england_wales),
        cmocka_unit_test_setup_teardown(test_regular_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_regular_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_add_agrees_day_by_day, setup, teardown),
        cmocka_unit_test(test_shipped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
