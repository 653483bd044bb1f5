/* test_metrics.c: snapshots and their Prometheus text (hub/metrics.c), the
 * map's warning levels (hub/service.c): pure functions, no hub. The text
 * is also parsed by python3-prometheus-client in test_service. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "metrics.h"
#include "service.h"

static void test_histogram_buckets(void **state)
{
    (void)state;
    struct hub_hist h = {0};
    hub_hist_observe(&h, 500);      /* on the first bound: in it (le) */
    hub_hist_observe(&h, 501);      /* just over: the next */
    hub_hist_observe(&h, 3000000);  /* over 2.5 s: +Inf */
    assert_int_equal(h.counts[0], 1);
    assert_int_equal(h.counts[1], 1);
    assert_int_equal(h.counts[CSPH_HIST_BUCKETS], 1);
    assert_int_equal(h.count, 3);
    assert_int_equal(h.sum_us, 3001001);
    struct hub_snap s;
    hub_snap_init(&s);
    s.commit = h;
    s.has_commit = 1;
    char *text;
    size_t len;
    assert_int_equal(hub_snap_render(&s, &text, &len), 0);
    /* cumulative buckets, +Inf equal to the count, the sum in seconds */
    assert_non_null(strstr(text, "# TYPE csphub_commit_seconds histogram\n"));
    assert_non_null(strstr(text, "csphub_commit_seconds_bucket{le=\"0.0005\"} 1\n"));
    assert_non_null(strstr(text, "csphub_commit_seconds_bucket{le=\"0.001\"} 2\n"));
    assert_non_null(strstr(text, "csphub_commit_seconds_bucket{le=\"2.5\"} 2\n"));
    assert_non_null(strstr(text, "csphub_commit_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(text, "csphub_commit_seconds_sum 3.001001\n"));
    assert_non_null(strstr(text, "csphub_commit_seconds_count 3\n"));
    assert_int_equal(strlen(text), len);
    free(text);
    hub_snap_free(&s);
}

/* HELP and TYPE once per metric, labels escaped, integers exact. */
static void test_render(void **state)
{
    (void)state;
    struct hub_snap s;
    hub_snap_init(&s);
    hub_snap_add(&s, "csphub_a_total", "A counter.", CSPH_METRIC_COUNTER, 12345678901.0, NULL,
                 NULL, NULL, NULL);
    hub_snap_add(&s, "csphub_lag", "Lag.", CSPH_METRIC_GAUGE, 2, "panel", "marac", "consumer",
                 "we\"ird\\name\n");
    hub_snap_add(&s, "csphub_lag", "Lag.", CSPH_METRIC_GAUGE, 0.25, "panel", "iom", "consumer",
                 "x");
    char *text;
    size_t len;
    assert_int_equal(hub_snap_render(&s, &text, &len), 0);
    assert_string_equal(text, "# HELP csphub_a_total A counter.\n"
                              "# TYPE csphub_a_total counter\n"
                              "csphub_a_total 12345678901\n"
                              "# HELP csphub_lag Lag.\n"
                              "# TYPE csphub_lag gauge\n"
                              "csphub_lag{panel=\"marac\",consumer=\"we\\\"ird\\\\name\\n\"} 2\n"
                              "csphub_lag{panel=\"iom\",consumer=\"x\"} 0.25\n");
    free(text);
    hub_snap_free(&s);
    /* many samples: the buffer grows */
    hub_snap_init(&s);
    for (int i = 0; i < 5000; i++)
        hub_snap_add(&s, "csphub_many", "Many.", CSPH_METRIC_GAUGE, i, "i", "some label value",
                     NULL, NULL);
    assert_int_equal(hub_snap_render(&s, &text, &len), 0);
    assert_non_null(strstr(text, "csphub_many{i=\"some label value\"} 4999\n"));
    free(text);
    hub_snap_free(&s);
}

static void test_map_levels(void **state)
{
    (void)state;
    uint64_t map = 1000;
    assert_int_equal(hub_service_map_level(0, map), 0);
    assert_int_equal(hub_service_map_level(799, map), 0);
    assert_int_equal(hub_service_map_level(800, map), 80);
    assert_int_equal(hub_service_map_level(949, map), 90);
    assert_int_equal(hub_service_map_level(950, map), 95);
    assert_int_equal(hub_service_map_level(1000, map), 95);
    assert_int_equal(hub_service_map_level(10, 0), 0);
    /* 64 GiB maps do not overflow */
    assert_int_equal(hub_service_map_level(60ull << 30, 64ull << 30), 90);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_map_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
