/* test_progress: the progress line a long start-up step writes to the log. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "progress.h"

/* What an IT officer reads while a rebuild runs: how far, how fast, how long. */
static void test_line_says_how_far_how_fast_how_long(void **state)
{
    (void)state;
    char line[300];
    hub_progress_format(line, sizeof line, "bringing the index level with the log", 2500000,
                        10000000, 50.0);
    assert_string_equal(line, "bringing the index level with the log: 2500000 of 10000000 "
                              "events (25%), 50000 events/s, about 150 s left");
}

/* No rate yet (the first instant) or nothing left: no made-up time. */
static void test_no_rate_no_estimate(void **state)
{
    (void)state;
    char line[300];
    hub_progress_format(line, sizeof line, "w", 0, 100, 0.0);
    assert_string_equal(line, "w: 0 of 100 events (0%)");
    hub_progress_format(line, sizeof line, "w", 100, 100, 2.0);
    assert_string_equal(line, "w: 100 of 100 events (100%)");
    hub_progress_format(line, sizeof line, "w", 0, 0, 1.0);
    assert_string_equal(line, "w: 0 of 0 events (100%)");
}

/* A step never logs before its interval (the start line says it began),
 * and the final step leaves the end to the caller's own line. */
static void test_step_is_quiet_within_the_interval(void **state)
{
    (void)state;
    struct hub_progress p;
    hub_progress_start(&p, "ingest", "w", 10, 1000, 0);
    int64_t before = p.last_log_ms;
    hub_progress_step(&p, 500);
    assert_int_equal(p.last_log_ms, before);
    p.last_log_ms -= CSPH_PROGRESS_LOG_S * 1000; /* as if the interval passed */
    int64_t moved = p.last_log_ms;
    hub_progress_step(&p, 1000); /* the end: no line, the caller says it */
    assert_int_equal(p.last_log_ms, moved);
    hub_progress_step(&p, 600);
    assert_true(p.last_log_ms > moved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_says_how_far_how_fast_how_long),
        cmocka_unit_test(test_no_rate_no_estimate),
        cmocka_unit_test(test_step_is_quiet_within_the_interval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
