/* test_suppress: small-number suppression of one row (hub/suppress.c):
 * primary, then secondary until no hidden month can be worked out from the
 * total. Each case's answer is worked out in its comment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "suppress.h"

/* The row after suppression as text: numbers, "<" or "*" a cell, "|" then
 * the total. */
static const char *run(const double *v, int n, double total, int64_t T)
{
    static char out[256];
    struct hub_cell c[16], t = {CSPH_CELL_INT, total};
    for (int i = 0; i < n; i++)
        c[i] = (struct hub_cell){CSPH_CELL_INT, v[i]};
    hub_suppress_counts(c, n, &t, T);
    size_t len = 0;
    for (int i = 0; i <= n; i++) {
        const struct hub_cell *x = i < n ? &c[i] : &t;
        if (i == n)
            len += (size_t)snprintf(out + len, sizeof out - len, "|");
        if (x->kind == CSPH_CELL_SUPPRESSED)
            len += (size_t)snprintf(out + len, sizeof out - len, "<%s", i < n - 1 ? " " : "");
        else if (x->kind == CSPH_CELL_HIDDEN)
            len += (size_t)snprintf(out + len, sizeof out - len, "*%s", i < n - 1 ? " " : "");
        else
            len += (size_t)snprintf(out + len, sizeof out - len, "%g%s", x->v,
                                    i < n - 1 ? " " : "");
    }
    return out;
}

#define CASE(want, T, total, ...)                                                                  \
    do {                                                                                           \
        const double v_[] = {__VA_ARGS__};                                                         \
        const char *got_ = run(v_, (int)(sizeof v_ / sizeof *v_), total, T);                       \
        if (strcmp(got_, want))                                                                    \
            fail_msg("got %s, want %s", got_, want);                                               \
    } while (0)

static void test_nothing_small(void **state)
{
    (void)state;
    CASE("5 9 0 12|26", 5, 26, 5, 9, 0, 12); /* zeros are shown: they say nothing of anyone */
    CASE("0 0 0|0", 5, 0, 0, 0, 0);
}

static void test_primary_and_secondary(void **state)
{
    (void)state;
    /* 3 is small; 30 - 9 - 18 would give it back: hide the smallest shown, 9;
     * 3 + 9 = 12 >= 5 over two cells: done. */
    CASE("< * 18|30", 5, 30, 3, 9, 18);
    /* 4 small, then 0 (the smallest shown) hidden: 4 + 0 < 5 still gives
     * 4 away (the zero is known to be >= 0 and the other < 5): hide 10 too. */
    CASE("< * *|14", 5, 14, 4, 10, 0);
    /* two small ones summing to 5 or more: nothing more to hide */
    CASE("< < 20|27", 5, 27, 3, 4, 20);
    /* two small ones summing under 5 (1 + 2 = 3): each is pinned to a few
     * values; hide the smallest shown month as well */
    CASE("< < * 50|61", 5, 61, 1, 2, 8, 50);
    /* equals: the earliest goes */
    CASE("< * 7|17", 5, 17, 3, 7, 7);
}

static void test_total_small_or_alone(void **state)
{
    (void)state;
    /* the total is small itself: hidden, nothing can be worked out */
    CASE("< 0 0|<", 5, 3, 3, 0, 0);
    /* one month only: its total would repeat it; both hidden */
    CASE("<|<", 5, 2, 2);
    /* one month, not small: nothing hidden */
    CASE("12|12", 5, 12, 12);
    /* every month small, the total not: the total stays (it is a sum of at
     * least two hidden cells of 5 or more) */
    CASE("< < <|9", 5, 9, 3, 3, 3);
    /* a total that is not the months' sum (distinct people over the period):
     * one hidden month and no other to hide: the total goes */
    CASE("<|*", 5, 7, 3);
}

static void test_threshold(void **state)
{
    (void)state;
    /* T = 10: every month under 10, the total not: the total stays */
    CASE("< < <|19", 10, 19, 9, 1, 9);
    CASE("< 12 < 30|51", 10, 51, 9, 12, 0 + 1, 29 + 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nothing_small),
        cmocka_unit_test(test_primary_and_secondary),
        cmocka_unit_test(test_total_small_or_alone),
        cmocka_unit_test(test_threshold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
