/* test_alertdiff.c: two alert sets side by side (hub/alertdiff.c), the
 * comparison behind --what-if and --rederive: alerts paired by rule,
 * panel, key and anchor whatever order each set met its rules in; added,
 * removed and changed counted per rule and panel; the examples the
 * earliest raised; "strict" comparing the whole alert. The sets are built
 * by hand here (the end-to-end path, with alerts read again from real
 * queues, is test_whatif's). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alertdiff.h"

static void add_group(struct hub_alert_set *s, const char *rule, const char *panel)
{
    char name[160];
    snprintf(name, sizeof name, "%s\x1f%s", rule, panel);
    s->groups = realloc(s->groups, (s->ngroups + 1) * sizeof *s->groups);
    assert_non_null(s->groups);
    s->groups[s->ngroups++] = strdup(name);
    s->capgroups = s->ngroups;
}

/* An alert of group g (the set's index) on victim key with that anchor. */
static void add_row(struct hub_alert_set *s, uint64_t id, uint16_t g, const char *key,
                    uint64_t anchor, uint32_t nevidence, uint64_t digest)
{
    char rule[72], values[1][104], tags[1] = {'s'};
    const char *sep = strchr(s->groups[g], '\x1f');
    snprintf(rule, sizeof rule, "%.*s", (int)(sep - s->groups[g]), s->groups[g]);
    snprintf(values[0], sizeof values[0], "%s", key);
    s->v = realloc(s->v, (s->n + 1) * sizeof *s->v);
    assert_non_null(s->v);
    struct hub_alert_row *r = &s->v[s->n++];
    memset(r, 0, sizeof *r);
    r->id = id;
    hub_alert_match_hash(rule, sep + 1, 1, tags, (const char(*)[104])values, anchor, r->match);
    r->anchor = anchor;
    r->ev_hash = anchor * 31;
    r->nevidence = nevidence;
    r->group = g;
    r->priority = 0;
    r->digest[0] = digest;
    r->digest[1] = ~digest;
    s->cap = s->n;
}

static void prio(struct hub_alert_set *s, const char *p)
{
    snprintf(s->priorities[0], sizeof s->priorities[0], "%s", p);
    s->npriorities = 1;
}

static const struct hub_diff_group *group(const struct hub_alert_diff *d, const char *rule)
{
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->g[i].rule, rule))
            return &d->g[i];
    return NULL;
}

/* Pairs by rule, panel, key and anchor though the two sets met their
 * rules in opposite orders; a difference of evidence is "changed". */
static void test_pairs_across_group_orders(void **state)
{
    (void)state;
    struct hub_alert_set a = {0}, b = {0};
    prio(&a, "medium");
    prio(&b, "medium");
    add_group(&a, "r2", "marac");
    add_group(&a, "r1", "marac");
    add_group(&b, "r1", "marac");
    add_group(&b, "r2", "marac");
    add_row(&a, 1, 1, "V-1", 10, 2, 1);  /* r1 V-1 @10: the same in b */
    add_row(&a, 2, 0, "V-2", 20, 2, 2);  /* r2 V-2 @20: the same */
    add_row(&a, 3, 0, "V-3", 30, 2, 3);  /* r2 V-3 @30: only in a */
    add_row(&a, 4, 1, "V-4", 40, 2, 4);  /* r1 V-4 @40: b's has 3 events */
    add_row(&b, 7, 0, "V-1", 10, 2, 11); /* r1 V-1 @10 (ids and digests differ) */
    add_row(&b, 8, 1, "V-2", 20, 2, 12); /* r2 V-2 @20 */
    add_row(&b, 9, 0, "V-4", 40, 3, 14); /* r1 V-4 @40, changed */
    add_row(&b, 10, 1, "V-2", 21, 2, 15); /* r2 V-2 @21: another anchor, added */
    struct hub_alert_diff d;
    struct hub_error err = {0};
    assert_int_equal(hub_alert_diff(&d, &a, &b, 0, &err), CSPH_ERR_OK);
    assert_int_equal(d.same, 2);
    assert_int_equal(d.added, 1);
    assert_int_equal(d.removed, 1);
    assert_int_equal(d.changed, 1);
    assert_int_equal(d.a_total, 4);
    assert_int_equal(d.b_total, 4);
    assert_true(hub_alert_diff_any(&d));
    assert_int_equal(d.n, 2);
    assert_string_equal(d.g[0].rule, "r1"); /* sorted by rule */
    assert_string_equal(d.g[0].panel, "marac");
    const struct hub_diff_group *r1 = group(&d, "r1"), *r2 = group(&d, "r2");
    assert_int_equal(r1->changed, 1);
    assert_int_equal(r1->changed_a[0]->id, 4);
    assert_int_equal(r1->changed_b[0]->id, 9);
    assert_int_equal(r2->added, 1);
    assert_int_equal(r2->added_ex[0]->id, 10);
    assert_int_equal(r2->removed, 1);
    assert_int_equal(r2->removed_ex[0]->id, 3);
    hub_alert_diff_free(&d);
    /* strict: every pair differs (their digests do) */
    assert_int_equal(hub_alert_diff(&d, &a, &b, 1, &err), CSPH_ERR_OK);
    assert_int_equal(d.same, 0);
    assert_int_equal(d.changed, 3);
    hub_alert_diff_free(&d);
    /* a set against itself: the same, strictly too */
    assert_int_equal(hub_alert_diff(&d, &a, &a, 1, &err), CSPH_ERR_OK);
    assert_int_equal(d.same, 4);
    assert_false(hub_alert_diff_any(&d));
    hub_alert_diff_free(&d);
    hub_alert_set_free(&a);
    hub_alert_set_free(&b);
}

/* Of many differences, the examples are the three earliest raised, in id
 * order, for added, removed and changed alike (a changed pair keeps its
 * two sides together). */
static void test_examples_are_the_earliest(void **state)
{
    (void)state;
    struct hub_alert_set a = {0}, b = {0};
    prio(&a, "high");
    prio(&b, "high");
    add_group(&a, "r", "p");
    add_group(&b, "r", "p");
    const uint64_t ids[] = {50, 10, 40, 20, 30, 60};
    char key[16];
    for (size_t i = 0; i < 6; i++) {
        snprintf(key, sizeof key, "A-%zu", i); /* only in b: added */
        add_row(&b, ids[i], 0, key, 100 + i, 1, i);
        snprintf(key, sizeof key, "R-%zu", i); /* only in a: removed */
        add_row(&a, ids[i], 0, key, 200 + i, 1, i);
        snprintf(key, sizeof key, "C-%zu", i); /* in both, one more event in b: changed */
        add_row(&a, ids[i] + 1000, 0, key, 300 + i, 1, i);
        add_row(&b, ids[i] + 2000, 0, key, 300 + i, 2, i);
    }
    struct hub_alert_diff d;
    struct hub_error err = {0};
    assert_int_equal(hub_alert_diff(&d, &a, &b, 0, &err), CSPH_ERR_OK);
    assert_int_equal(d.n, 1);
    const struct hub_diff_group *g = &d.g[0];
    assert_int_equal(g->added, 6);
    assert_int_equal(g->removed, 6);
    assert_int_equal(g->changed, 6);
    for (size_t k = 0; k < CSPH_DIFF_EXAMPLES; k++) {
        assert_int_equal(g->added_ex[k]->id, 10 * (k + 1));
        assert_int_equal(g->removed_ex[k]->id, 10 * (k + 1));
        assert_int_equal(g->changed_a[k]->id, 1000 + 10 * (k + 1));
        assert_int_equal(g->changed_b[k]->id, 2000 + 10 * (k + 1));
    }
    hub_alert_diff_free(&d);
    hub_alert_set_free(&a);
    hub_alert_set_free(&b);
}

/* The match hash is the alert's rule, panel, key (its values and their
 * kinds) and anchor, and nothing else. */
static void test_match_hash(void **state)
{
    (void)state;
    char v1[2][104] = {"V-1", "P-1"}, v2[2][104] = {"V-1", "P-2"};
    uint64_t h[8][2];
    hub_alert_match_hash("r", "p", 2, "ss", (const char(*)[104])v1, 5, h[0]);
    hub_alert_match_hash("r", "p", 2, "ss", (const char(*)[104])v1, 5, h[1]);
    hub_alert_match_hash("r", "p", 2, "ss", (const char(*)[104])v2, 5, h[2]);
    hub_alert_match_hash("r", "p", 2, "ss", (const char(*)[104])v1, 6, h[3]);
    hub_alert_match_hash("r", "q", 2, "ss", (const char(*)[104])v1, 5, h[4]);
    hub_alert_match_hash("s", "p", 2, "ss", (const char(*)[104])v1, 5, h[5]);
    hub_alert_match_hash("r", "p", 2, "sn", (const char(*)[104])v1, 5, h[6]);
    hub_alert_match_hash("r", "p", 1, "ss", (const char(*)[104])v1, 5, h[7]);
    assert_memory_equal(h[0], h[1], sizeof h[0]);
    for (int i = 2; i < 8; i++)
        assert_memory_not_equal(h[0], h[i], sizeof h[0]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pairs_across_group_orders),
        cmocka_unit_test(test_examples_are_the_earliest),
        cmocka_unit_test(test_match_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
