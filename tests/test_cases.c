/* cases, actions and pwstore: the case and action indexes in a store of
 * their own: records kept exactly, one review timer per case that follows
 * its record, the action indexes (owner, a panel's open ones, a case's)
 * and escalation timers kept in step, and everything recorded for the
 * journal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "actions.h"
#include "cases.h"
#include "pwstore.h"
#include "redo.h"
#include "store.h"

#define MAP_SIZE (64u << 20)
#define DAY 86400000LL

struct fx {
    struct tu_tmpfx tmp;
    struct hub_store *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    void *t = NULL;
    tu_tmpfx_setup(&t, "cases");
    f->tmp = *(struct tu_tmpfx *)t;
    free(t);
    struct hub_error err;
    if (hub_store_open(&f->s, f->tmp.tmp, MAP_SIZE, &err))
        fail_msg("store: %s", err.message);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hub_store_close(&f->s);
    struct tu_tmpfx *t = malloc(sizeof *t);
    *t = f->tmp;
    void *tv = t;
    free(f);
    return tu_tmpfx_teardown(&tv);
}

static void begin(struct hub_store *s)
{
    struct hub_error err;
    if (hub_store_write_begin(s, &err))
        fail_msg("begin: %s", err.message);
}

static void commit(struct hub_store *s)
{
    struct hub_error err;
    if (hub_store_write_commit(s, &err))
        fail_msg("commit: %s", err.message);
}

static struct hub_case a_case(const char *panel, const char *key, int64_t due)
{
    struct hub_case c = {.open = 1, .opened_seq = 7, .opened_ms = 1000, .alert = 3, .risk = 2,
                         .review_due_ms = due};
    snprintf(c.panel, sizeof c.panel, "%s", panel);
    snprintf(c.key, sizeof c.key, "%s", key);
    return c;
}

static void test_case_record_round_trip(void **state)
{
    (void)state;
    struct hub_case c = a_case("marac", "V-1", 5 * DAY), back;
    snprintf(c.outcome, sizeof c.outcome, "risk-reduced");
    c.heard_day = 20000;
    c.reviews = 4;
    c.reviews_on_time = 3;
    c.closed_ms = -5; /* signed fields stay signed */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    hub_cases_pack(&sb, &c);
    memset(&back, 0, sizeof back);
    assert_int_equal(hub_cases_unpack(sb.data, sb.size, &back), 0);
    assert_string_equal(back.outcome, "risk-reduced");
    assert_int_equal(back.heard_day, 20000);
    assert_int_equal(back.reviews_on_time, 3);
    assert_int_equal(back.closed_ms, -5);
    assert_int_equal(back.review_due_ms, 5 * DAY);
    assert_int_equal(hub_cases_unpack(sb.data, sb.size - 1, &back), -1);
    assert_int_equal(hub_cases_unpack("\x91\x01", 2, &back), -1);
    msgpack_sbuffer_destroy(&sb);
}

static int count_case(void *ctx, const struct hub_case *c)
{
    (void)c;
    (*(int *)ctx)++;
    return 0;
}

static void test_cases_and_their_review_timer(void **state)
{
    struct fx *f = *state;
    struct hub_error err;
    struct hub_case c = a_case("marac", "V-1", 10 * DAY), d = a_case("marac", "V-2", 4 * DAY),
                    e = a_case("marac-x", "V-0", 1 * DAY), got;
    int found;
    int64_t due;
    begin(f->s);
    assert_int_equal(hub_cases_put(f->s, &c, 0, &err), CSPH_ERR_OK);
    assert_int_equal(hub_cases_put(f->s, &d, 0, &err), CSPH_ERR_OK);
    assert_int_equal(hub_cases_put(f->s, &e, 0, &err), CSPH_ERR_OK);
    commit(f->s);
    MDB_txn *txn;
    assert_int_equal(hub_pw_read_begin(f->s, &txn, &err), CSPH_ERR_OK);
    assert_int_equal(hub_cases_get(f->s, txn, "marac", "V-1", 3, &got, &found, &err), CSPH_ERR_OK);
    assert_int_equal(found, 1);
    assert_string_equal(got.panel, "marac");
    assert_string_equal(got.key, "V-1");
    assert_int_equal(hub_cases_get(f->s, txn, "marac", "V-9", 3, &got, &found, &err), CSPH_ERR_OK);
    assert_int_equal(found, 0);
    /* A panel's cases only, not those of a panel whose name it begins. */
    int n = 0;
    assert_int_equal(hub_cases_each(f->s, txn, "marac", count_case, &n, &err), CSPH_ERR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(hub_cases_next_due(f->s, txn, &due), 1);
    assert_int_equal(due, 1 * DAY);
    hub_pw_read_end(txn);

    /* Re-timed: the old timer goes; closed: none; pending: none. */
    begin(f->s);
    d.review_due_ms = 20 * DAY;
    assert_int_equal(hub_cases_put(f->s, &d, 4 * DAY, &err), CSPH_ERR_OK);
    e.open = 0;
    assert_int_equal(hub_cases_put(f->s, &e, 1 * DAY, &err), CSPH_ERR_OK);
    c.review_pending = 1;
    assert_int_equal(hub_cases_put(f->s, &c, 10 * DAY, &err), CSPH_ERR_OK);
    struct hub_case_due out[4];
    size_t k;
    assert_int_equal(hub_cases_take_due(f->s, 19 * DAY, out, 4, &k, &err), CSPH_ERR_OK);
    assert_int_equal(k, 0);
    assert_int_equal(hub_cases_take_due(f->s, 20 * DAY, out, 4, &k, &err), CSPH_ERR_OK);
    assert_int_equal(k, 1);
    assert_string_equal(out[0].key, "V-2");
    assert_int_equal(out[0].due_ms, 20 * DAY);
    commit(f->s);
    assert_int_equal(hub_pw_read_begin(f->s, &txn, &err), CSPH_ERR_OK);
    assert_int_equal(hub_cases_next_due(f->s, txn, &due), 0); /* taken: none left */
    hub_pw_read_end(txn);
}

static struct hub_action an_action(uint64_t id, const char *owner, int64_t due)
{
    struct hub_action a = {.id = id, .owner_kind = 'a', .due_ms = due, .created_seq = id * 10};
    snprintf(a.panel, sizeof a.panel, "marac");
    snprintf(a.key, sizeof a.key, "V-1");
    snprintf(a.what, sizeof a.what, "visit %llu", (unsigned long long)id);
    snprintf(a.owner, sizeof a.owner, "%s", owner);
    return a;
}

struct ids {
    uint64_t v[8];
    size_t n;
};

static int collect(void *ctx, const struct hub_action *a)
{
    struct ids *i = ctx;
    i->v[i->n++] = a->id;
    return 0;
}

static void test_actions_indexes_and_timers(void **state)
{
    struct fx *f = *state;
    struct hub_error err;
    uint64_t id;
    begin(f->s);
    assert_int_equal(hub_actions_next_id(f->s, &id, &err), CSPH_ERR_OK);
    assert_int_equal(id, 1);
    struct hub_action a1 = an_action(1, "police", 5 * DAY), a2 = an_action(2, "idva", 3 * DAY),
                      a3 = an_action(3, "police", 9 * DAY);
    assert_int_equal(hub_actions_put(f->s, &a1, NULL, &err), CSPH_ERR_OK);
    assert_int_equal(hub_actions_put(f->s, &a2, NULL, &err), CSPH_ERR_OK);
    assert_int_equal(hub_actions_put(f->s, &a3, NULL, &err), CSPH_ERR_OK);
    assert_int_equal(hub_actions_next_id(f->s, &id, &err), CSPH_ERR_OK);
    assert_int_equal(id, 4);
    /* action 2 done; action 3 re-timed to day 2 */
    struct hub_action n2 = a2, n3 = a3;
    n2.status = CSPH_ACTION_DONE;
    assert_int_equal(hub_actions_put(f->s, &n2, &a2, &err), CSPH_ERR_OK);
    n3.due_ms = 2 * DAY;
    assert_int_equal(hub_actions_put(f->s, &n3, &a3, &err), CSPH_ERR_OK);
    commit(f->s);

    MDB_txn *txn;
    struct ids by_owner = {0}, open = {0}, of_case = {0};
    assert_int_equal(hub_pw_read_begin(f->s, &txn, &err), CSPH_ERR_OK);
    assert_int_equal(hub_actions_each(f->s, txn, "police", NULL, NULL, collect, &by_owner, &err), 0);
    assert_int_equal(hub_actions_each(f->s, txn, NULL, "marac", NULL, collect, &open, &err), 0);
    assert_int_equal(hub_actions_each(f->s, txn, NULL, "marac", "V-1", collect, &of_case, &err), 0);
    int64_t due;
    assert_int_equal(hub_actions_next_due(f->s, txn, &due), 1);
    hub_pw_read_end(txn);
    assert_int_equal(by_owner.n, 2);
    assert_int_equal(open.n, 2); /* 1 and 3: 2 is done */
    assert_int_equal(open.v[0], 1);
    assert_int_equal(open.v[1], 3);
    assert_int_equal(of_case.n, 3);
    assert_int_equal(due, 2 * DAY); /* action 3's new date, not its old one */

    begin(f->s);
    uint64_t ids[4];
    int64_t dues[4];
    size_t k;
    assert_int_equal(hub_actions_take_due(f->s, 6 * DAY, ids, dues, 4, &k, &err), CSPH_ERR_OK);
    assert_int_equal(k, 2);
    assert_int_equal(ids[0], 3);
    assert_int_equal(ids[1], 1);
    commit(f->s);
    assert_int_equal(hub_pw_read_begin(f->s, &txn, &err), CSPH_ERR_OK);
    assert_int_equal(hub_actions_next_due(f->s, txn, &due), 0);
    struct hub_action back;
    int found;
    assert_int_equal(hub_actions_get(f->s, txn, 3, &back, &found, &err), CSPH_ERR_OK);
    assert_int_equal(found, 1);
    assert_string_equal(back.what, "visit 3");
    assert_int_equal(back.due_ms, 2 * DAY);
    assert_int_equal(hub_actions_get(f->s, txn, 9, &back, &found, &err), CSPH_ERR_OK);
    assert_int_equal(found, 0);
    hub_pw_read_end(txn);
}

static void test_writes_are_recorded_for_the_journal(void **state)
{
    struct fx *f = *state;
    struct hub_error err;
    struct hub_redo *r = hub_store_redo(f->s);
    if (!r)
        skip(); /* a store opened without a recorder */
    begin(f->s);
    hub_redo_record(r, 1); /* as a hub with its journal does (write_begin sets it) */
    size_t before = hub_redo_len(r);
    struct hub_case c = a_case("marac", "V-5", 3 * DAY);
    assert_int_equal(hub_cases_put(f->s, &c, 0, &err), CSPH_ERR_OK);
    struct hub_action a = an_action(1, "police", DAY);
    assert_int_equal(hub_actions_put(f->s, &a, NULL, &err), CSPH_ERR_OK);
    assert_true(hub_redo_len(r) > before);
    assert_int_equal(hub_redo_failed(r), 0);
    commit(f->s);
    hub_redo_truncate(r, 0);
    hub_redo_record(r, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_case_record_round_trip),
        cmocka_unit_test_setup_teardown(test_cases_and_their_review_timer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_actions_indexes_and_timers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_writes_are_recorded_for_the_journal, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
