/* londontime: Europe/London months without a time zone database (common/).
 * Every instant below was checked against the UK's published clock
 * changes (gov.uk/when-do-the-clocks-change): 2024 on 31 March and 27
 * October, 2025 on 30 March and 26 October, at 01:00 UTC. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "londontime.h"
#include "timefmt.h"

static int64_t at(const char *s)
{
    int64_t ms;
    assert_int_equal(csph_time_parse(s, __builtin_strlen(s), &ms, NULL), 0);
    return ms;
}

static void test_offset(void **state)
{
    (void)state;
    assert_int_equal(csph_london_offset_ms(at("2025-03-30T00:59:59Z")), 0);
    assert_int_equal(csph_london_offset_ms(at("2025-03-30T01:00:00Z")), 3600000);
    assert_int_equal(csph_london_offset_ms(at("2025-10-26T00:59:59Z")), 3600000);
    assert_int_equal(csph_london_offset_ms(at("2025-10-26T01:00:00Z")), 0);
    assert_int_equal(csph_london_offset_ms(at("2024-03-31T01:00:00Z")), 3600000);
    assert_int_equal(csph_london_offset_ms(at("2024-10-27T00:30:00Z")), 3600000);
    assert_int_equal(csph_london_offset_ms(at("2024-10-27T01:30:00Z")), 0);
    assert_int_equal(csph_london_offset_ms(at("2025-01-15T12:00:00Z")), 0);
    assert_int_equal(csph_london_offset_ms(at("2025-07-15T12:00:00Z")), 3600000);
}

static void test_day_start(void **state)
{
    (void)state;
    assert_int_equal(csph_london_day_start(2025, 4, 1), at("2025-03-31T23:00:00Z"));
    assert_int_equal(csph_london_day_start(2025, 1, 1), at("2025-01-01T00:00:00Z"));
    assert_int_equal(csph_london_day_start(2025, 11, 1), at("2025-11-01T00:00:00Z"));
    /* the day the clocks go back starts in BST */
    assert_int_equal(csph_london_day_start(2025, 10, 26), at("2025-10-25T23:00:00Z"));
    /* the day they go forward starts in GMT */
    assert_int_equal(csph_london_day_start(2025, 3, 30), at("2025-03-30T00:00:00Z"));
}

static void month_is(const char *when, int y, unsigned m)
{
    int gy;
    unsigned gm;
    csph_london_month_of(at(when), &gy, &gm);
    if (gy != y || gm != m)
        fail_msg("%s: London month %d-%02u, want %d-%02u", when, gy, gm, y, m);
}

static void test_month_of(void **state)
{
    (void)state;
    month_is("2025-04-30T23:30:00Z", 2025, 5); /* 00:30 BST on 1 May */
    month_is("2025-04-30T22:59:59Z", 2025, 4);
    month_is("2025-03-31T23:00:00Z", 2025, 4);
    month_is("2025-10-31T23:30:00Z", 2025, 10); /* GMT again */
    month_is("2024-12-31T23:59:59Z", 2024, 12);
    month_is("2025-01-01T00:00:00Z", 2025, 1);
    month_is("2025-06-30T23:00:00Z", 2025, 7);
    assert_int_equal(csph_month_ordinal(2025, 4) - csph_month_ordinal(2024, 4), 12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_offset),
        cmocka_unit_test(test_day_start),
        cmocka_unit_test(test_month_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
