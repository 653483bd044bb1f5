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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_default_weekend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_christmas, setup, teardown),
        cmocka_unit_test_setup_teardown(test_other_weekend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_text, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
