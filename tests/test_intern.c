/* test_intern: the string set the report counts people and keys with
 * (hub/intern.c): dense ids in order of first sight, the same id for the
 * same bytes however the table has grown, lengths kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "intern.h"

static void test_ids(void **state)
{
    (void)state;
    struct hub_intern t = {0};
    assert_int_equal(hub_intern_get(&t, "P-1", 3), 0);
    assert_int_equal(hub_intern_get(&t, "P-2", 3), 1);
    assert_int_equal(hub_intern_get(&t, "P-1", 3), 0);
    /* a prefix is another string; so is the empty one */
    assert_int_equal(hub_intern_get(&t, "P-", 2), 2);
    assert_int_equal(hub_intern_get(&t, "", 0), 3);
    assert_int_equal(hub_intern_get(&t, "P-1x", 3), 0); /* len bytes only */
    assert_string_equal(hub_intern_str(&t, 2), "P-");
    assert_int_equal(hub_intern_len(&t, 3), 0);
    assert_int_equal(t.n, 4);
    hub_intern_free(&t);
    assert_int_equal(t.n, 0);
    assert_null(t.arena);
}

static void test_growth(void **state)
{
    (void)state;
    struct hub_intern t = {0};
    char buf[32];
    for (uint32_t i = 0; i < 200000; i++) {
        int n = snprintf(buf, sizeof buf, "person-%u", i);
        assert_int_equal(hub_intern_get(&t, buf, (size_t)n), i);
    }
    for (uint32_t i = 0; i < 200000; i += 997) {
        int n = snprintf(buf, sizeof buf, "person-%u", i);
        assert_int_equal(hub_intern_get(&t, buf, (size_t)n), i);
        assert_string_equal(hub_intern_str(&t, i), buf);
        assert_int_equal(hub_intern_len(&t, i), n);
    }
    assert_int_equal(t.n, 200000);
    hub_intern_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
