/* test_utf8.c: UTF-8 checks and repair (hub/utf8.c): what MessagePack's str
 * requires, and replies that stay valid whatever a request held. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

#define BAD_AT(lit) hub_utf8_bad_at(lit, sizeof lit - 1)

static void test_bad_at(void **state)
{
    (void)state;
    assert_int_equal(BAD_AT(""), 0);
    assert_int_equal(BAD_AT("plain ascii"), 11);
    assert_int_equal(BAD_AT("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"), 14);
    assert_int_equal(BAD_AT("a\xff"), 1);                 /* never a UTF-8 byte */
    assert_int_equal(BAD_AT("a\xc0\x80"), 1);             /* overlong NUL */
    assert_int_equal(BAD_AT("ab\xe0\x80\x80"), 2);        /* overlong, 3 bytes */
    assert_int_equal(BAD_AT("\xed\xa0\x80"), 0);          /* a UTF-16 surrogate */
    assert_int_equal(BAD_AT("\xf4\x90\x80\x80"), 0);      /* past U+10FFFF */
    assert_int_equal(BAD_AT("ok\xe2\x82"), 2);            /* cut inside a character */
    assert_int_equal(BAD_AT("\xc3\x28"), 0);              /* a lead without its tail */
}

static void test_repair(void **state)
{
    (void)state;
    char out[64];
    size_t n = hub_utf8_repair("a\xff" "b\xc3\xa9", 5, out, sizeof out);
    assert_int_equal(n, 7);
    assert_memory_equal(out, "a\xef\xbf\xbd" "b\xc3\xa9", 7);
    assert_int_equal(hub_utf8_bad_at(out, n), n);
    /* a character cut at the end of the text becomes one U+FFFD per byte */
    n = hub_utf8_repair("x\xe2\x82", 3, out, sizeof out);
    assert_int_equal(n, 7);
    assert_int_equal(hub_utf8_bad_at(out, n), n);
    /* out of room: whole characters only */
    n = hub_utf8_repair("ab\xc3\xa9", 4, out, 3);
    assert_int_equal(n, 2);
    n = hub_utf8_repair("a\xff", 2, out, 3);
    assert_int_equal(n, 1);
    /* valid text comes through unchanged */
    n = hub_utf8_repair("caf\xc3\xa9", 5, out, sizeof out);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "caf\xc3\xa9", 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_at),
        cmocka_unit_test(test_repair),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
