/* test_timefmt.c: RFC 3339 parsing and formatting (hub/timefmt.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "timefmt.h"

static int64_t parse_ok(const char *s)
{
    int64_t ms = 0;
    const char *why = NULL;
    int rc = csph_time_parse(s, strlen(s), &ms, &why);
    if (rc != 0)
        fail_msg("'%s' should parse, got: %s", s, why ? why : "(no reason)");
    return ms;
}

/* Asserts that s is refused, with a reason containing want (when not NULL). */
static void parse_bad(const char *s, const char *want)
{
    int64_t ms = 12345;
    const char *why = NULL;
    if (csph_time_parse(s, strlen(s), &ms, &why) == 0)
        fail_msg("'%s' should be refused, parsed as %lld", s, (long long)ms);
    assert_non_null(why);
    assert_true(strlen(why) > 0);
    if (want && !strstr(why, want))
        fail_msg("'%s': reason '%s' does not mention '%s'", s, why, want);
}

static void test_valid_utc(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2000-01-01T00:00:00Z"), 946684800000LL);
    assert_int_equal(parse_ok("2025-03-01T21:14:00Z"), 1740863640000LL);
    assert_int_equal(parse_ok("1969-07-20T20:17:40Z"), -14182940000LL);
    /* lower-case separators are allowed by RFC 3339 */
    assert_int_equal(parse_ok("2025-03-01t21:14:00z"), 1740863640000LL);
}

static void test_offsets(void **state)
{
    (void)state;
    const int64_t t = 1740863640000LL; /* 2025-03-01T21:14:00Z */
    assert_int_equal(parse_ok("2025-03-01T22:14:00+01:00"), t);
    assert_int_equal(parse_ok("2025-03-01T15:44:00-05:30"), t);
    assert_int_equal(parse_ok("2025-03-01T21:14:00+00:00"), t);
    assert_int_equal(parse_ok("2025-03-01T21:14:00-00:00"), t);
    /* an offset that crosses midnight and a month end */
    assert_int_equal(parse_ok("2025-03-02T08:14:00+11:00"), t);
    assert_int_equal(parse_ok("2025-02-28T23:14:00-22:00"), t);
}

static void test_fractions(void **state)
{
    (void)state;
    const int64_t t = 1740863640000LL;
    assert_int_equal(parse_ok("2025-03-01T21:14:00.5Z"), t + 500);
    assert_int_equal(parse_ok("2025-03-01T21:14:00.1Z"), t + 100);
    assert_int_equal(parse_ok("2025-03-01T21:14:00.123Z"), t + 123);
    assert_int_equal(parse_ok("2025-03-01T21:14:00.000Z"), t);
    /* digits past milliseconds are truncated, not rounded */
    assert_int_equal(parse_ok("2025-03-01T21:14:00.123999Z"), t + 123);
    assert_int_equal(parse_ok("2025-03-01T21:14:00.99999999999999999999Z"), t + 999);
    assert_int_equal(parse_ok("2025-03-01T22:14:00.250+01:00"), t + 250);
    parse_bad("2025-03-01T21:14:00.Z", "fraction");
    parse_bad("2025-03-01T21:14:00.x1Z", "fraction");
}

static void test_leap_years(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2024-02-29T12:00:00Z"), 1709208000000LL);
    parse_ok("2000-02-29T00:00:00Z"); /* divisible by 400: leap */
    parse_ok("1600-02-29T00:00:00Z");
    parse_bad("2023-02-29T00:00:00Z", "day");
    parse_bad("1900-02-29T00:00:00Z", "day"); /* divisible by 100: not leap */
    parse_bad("2100-02-29T00:00:00Z", "day");
    /* the day after 28 Feb in a common year is 1 Mar */
    assert_int_equal(parse_ok("2023-03-01T00:00:00Z") - parse_ok("2023-02-28T00:00:00Z"),
                     CSPH_MS_PER_DAY);
    assert_int_equal(parse_ok("2024-03-01T00:00:00Z") - parse_ok("2024-02-28T00:00:00Z"),
                     2 * CSPH_MS_PER_DAY);
}

static void test_bad_dates_and_times(void **state)
{
    (void)state;
    parse_bad("2025-02-30T00:00:00Z", "day");
    parse_bad("2024-02-30T00:00:00Z", "day");
    parse_bad("2025-04-31T00:00:00Z", "day");
    parse_bad("2025-01-00T00:00:00Z", "day");
    parse_bad("2025-01-32T00:00:00Z", "day");
    parse_bad("2025-00-10T00:00:00Z", "month");
    parse_bad("2025-13-10T00:00:00Z", "month");
    parse_bad("2025-03-01T24:00:00Z", "range");
    parse_bad("2025-03-01T23:60:00Z", "range");
    parse_bad("2025-03-01T23:59:61Z", "range");
    parse_bad("2025/03/01T21:14:00Z", "date");
    parse_bad("25-03-01T21:14:00Z+00", "date");
    parse_bad("2025-03-01 21:14:00Z", "'T'");
    parse_bad("2025-03-01T21-14-00Z", "time");
    parse_bad("2025-03-01T2a:14:00Z", "time");
    parse_bad("", "short");
    parse_bad("2025-03-01", "short");
    parse_bad("not a date at all!!", "short");
}

static void test_leap_second(void **state)
{
    (void)state;
    /* :60 is folded into the second before it */
    assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), 1483228799000LL);
    assert_int_equal(parse_ok("2016-12-31T23:59:60.5Z"), 1483228799500LL);
}

static void test_offset_required_and_well_formed(void **state)
{
    (void)state;
    parse_bad("2025-03-01T21:14:00", "short"); /* 19 chars: no room for an offset */
    parse_bad("2025-03-01T21:14:00.000", "offset");
    parse_bad("2025-03-01T21:14:00 ", "offset");
    parse_bad("2025-03-01T21:14:00+0100", "offset");
    parse_bad("2025-03-01T21:14:00+01", "offset");
    parse_bad("2025-03-01T21:14:00+01:0", "offset");
    parse_bad("2025-03-01T21:14:00+1:00", "offset");
    parse_bad("2025-03-01T21:14:00+24:00", "offset");
    parse_bad("2025-03-01T21:14:00+01:60", "offset");
    parse_bad("2025-03-01T21:14:00+01:00:00", "offset");
    parse_bad("2025-03-01T21:14:00ZZ", "after");
    parse_bad("2025-03-01T21:14:00Z ", "after");
}

static void test_not_nul_terminated_and_null_why(void **state)
{
    (void)state;
    const char buf[] = "2025-03-01T21:14:00Zjunk";
    int64_t ms = 0;
    assert_int_equal(csph_time_parse(buf, 20, &ms, NULL), 0);
    assert_int_equal(ms, 1740863640000LL);
    assert_int_equal(csph_time_parse(buf, sizeof buf - 1, &ms, NULL), -1);
    /* a length that cuts the offset off */
    assert_int_equal(csph_time_parse("2025-03-01T22:14:00+01:00", 22, &ms, NULL), -1);
}

static void test_format(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(csph_time_format(0, buf), 24);
    assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
    csph_time_format(1740863640123LL, buf);
    assert_string_equal(buf, "2025-03-01T21:14:00.123Z");
    csph_time_format(-1, buf);
    assert_string_equal(buf, "1969-12-31T23:59:59.999Z");
    csph_time_format(-CSPH_MS_PER_DAY, buf);
    assert_string_equal(buf, "1969-12-31T00:00:00.000Z");
    csph_time_format(1709208000000LL, buf);
    assert_string_equal(buf, "2024-02-29T12:00:00.000Z");
}

static void test_round_trip(void **state)
{
    (void)state;
    static const int64_t samples[] = {
        0,
        1,
        999,
        1000,
        -1,
        -999,
        -1000,
        -1001,
        -14182940000LL,
        946684800000LL,
        951782400000LL, /* 2000-02-29 */
        1740863640123LL,
        1709208000000LL - 1,
        4102444799999LL, /* 2099-12-31T23:59:59.999Z */
        253402300799999LL, /* 9999-12-31T23:59:59.999Z */
        -62135596800000LL, /* 0001-01-01 */
    };
    for (size_t i = 0; i < sizeof samples / sizeof *samples; i++) {
        char buf[32];
        int n = csph_time_format(samples[i], buf);
        assert_int_equal(n, (int)strlen(buf));
        int64_t back = 0;
        const char *why = NULL;
        if (csph_time_parse(buf, (size_t)n, &back, &why) != 0)
            fail_msg("format(%lld) = '%s' does not parse: %s", (long long)samples[i], buf, why);
        assert_int_equal(back, samples[i]);
    }
    /* every day across several leap cycles, at an odd time of day */
    for (int64_t day = -800; day < 800; day += 1) {
        int64_t ms = day * CSPH_MS_PER_DAY * 37 + 45296789; /* 12:34:56.789 */
        char buf[32];
        int n = csph_time_format(ms, buf);
        int64_t back = 0;
        assert_int_equal(csph_time_parse(buf, (size_t)n, &back, NULL), 0);
        assert_int_equal(back, ms);
        assert_memory_equal(buf + 10, "T12:34:56.789Z", 14);
    }
}

static void test_civil_days(void **state)
{
    (void)state;
    assert_int_equal(csph_days_from_civil(1970, 1, 1), 0);
    assert_int_equal(csph_days_from_civil(1969, 12, 31), -1);
    assert_int_equal(csph_days_from_civil(2000, 3, 1), 11017);
    for (int64_t z = -200000; z < 200000; z += 7) {
        int y;
        unsigned m, d;
        csph_civil_from_days(z, &y, &m, &d);
        assert_int_equal(csph_days_from_civil(y, m, d), z);
    }
}

static void test_format_date(void **state)
{
    (void)state;
    char buf[16];
    assert_int_equal(csph_time_format_date(1743638400000LL, buf), 10);
    assert_string_equal(buf, "3 Apr 2025");
    csph_time_format_date(1743638400000LL + CSPH_MS_PER_DAY - 1, buf);
    assert_string_equal(buf, "3 Apr 2025");
    csph_time_format_date(0, buf);
    assert_string_equal(buf, "1 Jan 1970");
    csph_time_format_date(-1, buf);
    assert_string_equal(buf, "31 Dec 1969");
    csph_time_format_date(1709208000000LL, buf);
    assert_string_equal(buf, "29 Feb 2024");
    csph_time_format_date(parse_ok("2025-12-25T23:59:59.999Z"), buf);
    assert_string_equal(buf, "25 Dec 2025");
}

/* Every program's --timeout: a number and its unit, nothing else. */
static void test_duration(void **state)
{
    (void)state;
    int64_t ms = -1;
    const char *why = NULL;
    assert_int_equal(csph_duration_parse("500ms", 1, 3600000, &ms, &why), 0);
    assert_int_equal(ms, 500);
    assert_int_equal(csph_duration_parse("30s", 1, 3600000, &ms, &why), 0);
    assert_int_equal(ms, 30000);
    assert_int_equal(csph_duration_parse("2m", 1, 3600000, &ms, &why), 0);
    assert_int_equal(ms, 120000);
    assert_int_equal(csph_duration_parse("1.5s", 1, 3600000, &ms, &why), 0);
    assert_int_equal(ms, 1500);
    assert_int_equal(csph_duration_parse("0.25m", 1, 3600000, &ms, &why), 0);
    assert_int_equal(ms, 15000);
    ms = -1;
    assert_int_equal(csph_duration_parse("2000", 1, 3600000, &ms, &why), -1);
    assert_string_equal(why, "has no unit: write it as 30s, 500ms or 2m");
    assert_int_equal(ms, -1);
    assert_int_equal(csph_duration_parse("2h", 1, 3600000, &ms, &why), -1);
    assert_string_equal(why, "has a unit other than ms, s or m");
    assert_int_equal(csph_duration_parse("61m", 1, 3600000, &ms, &why), -1);
    assert_string_equal(why, "is out of range");
    assert_int_equal(csph_duration_parse("0ms", 1, 3600000, &ms, &why), -1);
    assert_int_equal(csph_duration_parse("-1s", 1, 3600000, &ms, &why), -1);
    assert_int_equal(csph_duration_parse("s", 1, 3600000, &ms, &why), -1);
    assert_int_equal(csph_duration_parse("", 1, 3600000, &ms, &why), -1);
    assert_int_equal(csph_duration_parse("99999999999s", 1, 3600000, &ms, &why), -1);
    assert_int_equal(csph_duration_parse("10 s", 1, 3600000, &ms, &why), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_utc),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_fractions),
        cmocka_unit_test(test_leap_years),
        cmocka_unit_test(test_bad_dates_and_times),
        cmocka_unit_test(test_leap_second),
        cmocka_unit_test(test_offset_required_and_well_formed),
        cmocka_unit_test(test_not_nul_terminated_and_null_why),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_format_date),
        cmocka_unit_test(test_civil_days),
        cmocka_unit_test(test_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
