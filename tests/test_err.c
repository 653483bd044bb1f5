/* test_err.c: the error codes, their names and messages, and the error
 * record helpers (hub/err.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "err.h"

/* PROTOCOL.md section 2, in the table's order. */
static const char *const wire_codes[] = {
    "bad_request", "bad_op",    "bad_event",     "unknown_type", "too_large", "id_conflict",
    "forbidden",   "not_found", "unknown_panel", "busy",         "internal",  "conflict",
};
#define NWIRE (sizeof wire_codes / sizeof wire_codes[0])

static void test_names_and_messages_distinct(void **state)
{
    (void)state;
    for (int i = 0; i < CSPH_ERR__COUNT; i++) {
        const char *n = hub_err_name((enum hub_err)i), *m = hub_err_message((enum hub_err)i);
        assert_non_null(n);
        assert_non_null(m);
        assert_true(strlen(n) > 0);
        assert_true(strlen(m) > 0);
        for (int j = 0; j < i; j++) {
            if (!strcmp(n, hub_err_name((enum hub_err)j)))
                fail_msg("codes %d and %d share the name '%s'", i, j, n);
            if (!strcmp(m, hub_err_message((enum hub_err)j)))
                fail_msg("codes %d and %d share the message '%s'", i, j, m);
        }
        /* a wire name is lower-case letters and underscores */
        for (const char *p = n; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
    }
    assert_string_equal(hub_err_name(CSPH_ERR_OK), "ok");
    assert_string_equal(hub_err_name(CSPH_ERR_BAD_EVENT), "bad_event");
    assert_string_equal(hub_err_name(CSPH_ERR_LOCKED), "locked");
}

static void test_out_of_range_codes(void **state)
{
    (void)state;
    assert_string_equal(hub_err_name(CSPH_ERR__COUNT), "internal");
    assert_string_equal(hub_err_name((enum hub_err)-1), "internal");
    assert_non_null(hub_err_message(CSPH_ERR__COUNT));
    assert_false(hub_err_is_wire(CSPH_ERR__COUNT));
    assert_false(hub_err_is_wire((enum hub_err)-1));
}

static void test_wire_codes_are_protocol_table(void **state)
{
    (void)state;
    size_t nwire = 0;
    for (int i = 0; i < CSPH_ERR__COUNT; i++) {
        enum hub_err e = (enum hub_err)i;
        int in_table = 0;
        for (size_t j = 0; j < NWIRE; j++)
            in_table |= !strcmp(hub_err_name(e), wire_codes[j]);
        if (hub_err_is_wire(e) != in_table)
            fail_msg("code '%s': is_wire %d but in PROTOCOL.md 2's table: %d", hub_err_name(e),
                     hub_err_is_wire(e), in_table);
        nwire += hub_err_is_wire(e) ? 1 : 0;
    }
    assert_int_equal(nwire, 12);
    /* every code in the table exists */
    for (size_t j = 0; j < NWIRE; j++) {
        int found = 0;
        for (int i = 0; i < CSPH_ERR__COUNT; i++)
            found |= !strcmp(hub_err_name((enum hub_err)i), wire_codes[j]);
        if (!found)
            fail_msg("wire code '%s' has no enum value", wire_codes[j]);
    }
    assert_false(hub_err_is_wire(CSPH_ERR_OK));
    assert_false(hub_err_is_wire(CSPH_ERR_CONFIG));
    assert_false(hub_err_is_wire(CSPH_ERR_IO));
    assert_false(hub_err_is_wire(CSPH_ERR_NOMEM));
    assert_false(hub_err_is_wire(CSPH_ERR_LOCKED));
}

/* The public table (include/csphub.h) a client compares by: every wire code
 * parses to the number the hub uses for it, and back; anything else,
 * including a prefix or another case, is unknown. */
static void test_public_codes(void **state)
{
    (void)state;
    for (size_t j = 0; j < NWIRE; j++) {
        enum csph_code c = csph_code_parse(wire_codes[j], strlen(wire_codes[j]));
        if (c == CSPH_CODE_UNKNOWN)
            fail_msg("wire code '%s' is not in csphub.h", wire_codes[j]);
        assert_string_equal(csph_code_name(c), wire_codes[j]);
        assert_string_equal(hub_err_name((enum hub_err)c), wire_codes[j]);
    }
    assert_int_equal(csph_code_parse("busy", 4), CSPH_CODE_BUSY);
    assert_int_equal(csph_code_parse("busyx", 4), CSPH_CODE_BUSY); /* len counts, not NUL */
    assert_int_equal(csph_code_parse("bus", 3), CSPH_CODE_UNKNOWN);
    assert_int_equal(csph_code_parse("BUSY", 4), CSPH_CODE_UNKNOWN);
    assert_int_equal(csph_code_parse("config", 6), CSPH_CODE_UNKNOWN); /* never on the wire */
    assert_int_equal(csph_code_parse(NULL, 0), CSPH_CODE_UNKNOWN);
    assert_string_equal(csph_code_name(CSPH_CODE_UNKNOWN), "unknown");
    assert_true(csph_code_retry(CSPH_CODE_BUSY));
    assert_true(csph_code_retry(CSPH_CODE_INTERNAL));
    assert_false(csph_code_retry(CSPH_CODE_BAD_EVENT));
    assert_false(csph_code_retry(CSPH_CODE_UNKNOWN));
}

static void test_error_set(void **state)
{
    (void)state;
    struct hub_error e;
    memset(&e, 'x', sizeof e);
    assert_int_equal(hub_error_set(&e, CSPH_ERR_BAD_EVENT, "victim", "bad %s %d", "thing", 7),
                     CSPH_ERR_BAD_EVENT);
    assert_int_equal(e.code, CSPH_ERR_BAD_EVENT);
    assert_string_equal(e.field, "victim");
    assert_string_equal(e.message, "bad thing 7");
    assert_int_equal(hub_error_set(&e, CSPH_ERR_BUSY, NULL, "full"), CSPH_ERR_BUSY);
    assert_string_equal(e.field, "");
    assert_string_equal(e.message, "full");
    /* NULL record: only the code comes back */
    assert_int_equal(hub_error_set(NULL, CSPH_ERR_IO, "f", "m"), CSPH_ERR_IO);
    /* overlong message and field are cut at the buffer, NUL-terminated */
    char big[1000];
    memset(big, 'm', sizeof big - 1);
    big[sizeof big - 1] = 0;
    hub_error_set(&e, CSPH_ERR_INTERNAL, big, "%s", big);
    assert_int_equal(strlen(e.message), sizeof e.message - 1);
    assert_int_equal(strlen(e.field), sizeof e.field - 1);
}

static void test_prefix_field(void **state)
{
    (void)state;
    struct hub_error e;
    hub_error_set(&e, CSPH_ERR_BAD_EVENT, "lsoa", "x");
    hub_error_prefix_field(&e, "location");
    assert_string_equal(e.field, "location.lsoa");
    hub_error_prefix_field(&e, "events.3");
    assert_string_equal(e.field, "events.3.location.lsoa");
    /* an empty field becomes the prefix alone */
    hub_error_set(&e, CSPH_ERR_BAD_EVENT, NULL, "x");
    hub_error_prefix_field(&e, "events.7");
    assert_string_equal(e.field, "events.7");
    assert_string_equal(e.message, "x");
}

static void test_prefix_field_truncates(void **state)
{
    (void)state;
    struct hub_error e;
    const size_t cap = sizeof e.field;
    char pre[400], full[800];
    for (size_t plen = 1; plen < 300; plen += 7) {
        for (size_t flen = 0; flen < 300; flen += 13) {
            memset(pre, 'p', plen);
            pre[plen] = 0;
            char fld[300];
            memset(fld, 'f', flen);
            fld[flen] = 0;
            hub_error_set(&e, CSPH_ERR_BAD_EVENT, fld, "msg");
            /* e.field itself is already cut to cap - 1 */
            size_t kept = flen < cap ? flen : cap - 1;
            snprintf(full, sizeof full, "%s%s%.*s", pre, kept ? "." : "", (int)kept, fld);
            /* ASan catches a write past e.field */
            hub_error_prefix_field(&e, pre);
            size_t got = strnlen(e.field, cap);
            if (got >= cap)
                fail_msg("field not NUL-terminated within %zu bytes (prefix %zu, field %zu)", cap,
                         plen, flen);
            if (strncmp(e.field, full, got) != 0)
                fail_msg("prefix %zu + field %zu: '%s' is not a prefix of the full path", plen,
                         flen, e.field);
            size_t want = strlen(full) < cap - 1 ? strlen(full) : cap - 1;
            /* when the whole path fits it is kept whole */
            if (strlen(full) < cap)
                assert_int_equal(got, want);
            assert_string_equal(e.message, "msg");
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_and_messages_distinct),
        cmocka_unit_test(test_out_of_range_codes),
        cmocka_unit_test(test_wire_codes_are_protocol_table),
        cmocka_unit_test(test_public_codes),
        cmocka_unit_test(test_error_set),
        cmocka_unit_test(test_prefix_field),
        cmocka_unit_test(test_prefix_field_truncates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
