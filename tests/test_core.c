/* test_core.c: the batch's owner (hub/core.c). A core over a private
 * temporary data directory with the shipped schemas, panels and rules;
 * referrals raise one alert each (rule referral.direct), so what a batch
 * leaves is visible in the log, the queues and the index. The log's commit
 * is failed on demand by wrapping mdb_txn_commit at link time
 * (tests/CMakeLists.txt). Teardown proves the core closed everything. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

#include "config.h"
#include "core.h"
#include "log.h"
#include "testutil.h"
#include "testutil_failcommit.h"

#define T0 1740000000000LL /* received_at of every batch */

static int setup(void **state)
{
    return tu_corefx_setup(state, "core", 0);
}

static int teardown(void **state)
{
    struct tu_corefx *f = *state;
    hub_core_close(&f->core);
    assert_null(f->core);
    hub_core_close(&f->core); /* NULL is accepted */
    tu_fail_commits = 0;
    return tu_corefx_teardown(state);
}

/* One batch of referrals ids[0..n), committed and settled. */
static void batch(struct tu_corefx *f, const char *const *ids, size_t n)
{
    struct hub_error err;
    uint64_t seq;
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tu_corefx_referral(f, ids[i], T0, &seq, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_batch_commit(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_batch_settle(f->core, NULL, &err), CSPH_ERR_OK);
}

static uint64_t last_seq(struct tu_corefx *f)
{
    return hub_store_last_seq(hub_core_store(f->core));
}

static uint64_t marac_alerts(struct tu_corefx *f)
{
    uint64_t counts[CSPH_MAX_PANELS] = {0};
    hub_queues_counts(hub_core_queues(f->core), counts);
    return counts[hub_config_panel_find(&f->cfg, "marac", 5)];
}

/* Every alert in id order, for comparing two directories. */
struct alerts {
    msgpack_sbuffer sb;
    uint64_t n;
};
static int collect(void *ctx, uint64_t id, const void *bytes, size_t len)
{
    struct alerts *a = ctx;
    msgpack_sbuffer_write(&a->sb, (const char *)&id, sizeof id);
    msgpack_sbuffer_write(&a->sb, bytes, len);
    a->n++;
    return 0;
}

static void alerts_of(struct tu_corefx *f, struct alerts *a)
{
    struct hub_error err;
    msgpack_sbuffer_init(&a->sb);
    a->n = 0;
    assert_int_equal(hub_queues_each(hub_core_queues(f->core), collect, a, &err), CSPH_ERR_OK);
}

static void test_commit(void **state)
{
    struct tu_corefx *f = *state;
    const char *ids[] = {"a1", "a2", "a3"};
    struct hub_error err;
    assert_false(hub_core_batch_open(f->core));
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    assert_true(hub_core_batch_open(f->core));
    uint64_t seq = 0;
    for (size_t i = 0; i < 3; i++) {
        assert_int_equal(tu_corefx_referral(f, ids[i], T0, &seq, &err), CSPH_ERR_OK);
        assert_int_equal(seq, i + 1);
    }
    assert_int_equal(hub_core_alerts_raised(f->core), 3); /* the open batch's count */
    assert_int_equal(last_seq(f), 0);                     /* not committed yet */
    assert_int_equal(hub_core_batch_commit(f->core, &err), CSPH_ERR_OK);
    assert_false(hub_core_batch_open(f->core));
    assert_int_equal(last_seq(f), 3);
    assert_int_equal(marac_alerts(f), 3);
    assert_int_equal(hub_core_alerts_raised(f->core), 3);
    /* Durable: a fresh core over the directory finds the batch. */
    hub_core_close(&f->core);
    tu_corefx_open(f, 0);
    assert_int_equal(last_seq(f), 3);
    assert_int_equal(marac_alerts(f), 3);
    uint64_t caught = 0;
    assert_int_equal(hub_core_recover(f->core, &caught, &err), CSPH_ERR_OK);
    /* A resend after the restart is a duplicate of the committed event. */
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(tu_corefx_referral(f, "a2", T0, &seq, &err), CSPH_ERR_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(hub_core_batch_commit(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(last_seq(f), 3);
    assert_int_equal(marac_alerts(f), 3);
}

/* An aborted batch leaves what the committed log implies: the same seqs,
 * alert ids and alerts as a directory that never saw it. */
static void test_abort_leaves_committed_state(void **state)
{
    struct tu_corefx *f = *state;
    const char *first[] = {"b1", "b2"}, *dropped[] = {"x1", "x2", "x3"}, *then[] = {"b3"};
    struct hub_error err;
    uint64_t seq;
    batch(f, first, 2);
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(tu_corefx_referral(f, dropped[i], T0, &seq, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_alerts_raised(f->core), 5);
    hub_core_batch_abort(f->core);
    hub_core_batch_abort(f->core); /* a second abort is harmless */
    assert_false(hub_core_batch_open(f->core));
    assert_int_equal(last_seq(f), 2);
    assert_int_equal(marac_alerts(f), 2);
    assert_int_equal(hub_core_alerts_raised(f->core), 2);
    assert_int_equal(hub_core_take_readable(f->core) != 0, 1); /* the first batch's */
    batch(f, then, 1);
    assert_int_equal(last_seq(f), 3);
    struct alerts got;
    alerts_of(f, &got);
    assert_int_equal(got.n, 3);

    /* The same committed batches into a second directory. */
    hub_core_close(&f->core);
    snprintf(f->data, sizeof f->data, "%s/again", f->dir);
    tu_corefx_open(f, 0);
    batch(f, first, 2);
    batch(f, then, 1);
    struct alerts want;
    alerts_of(f, &want);
    assert_int_equal(want.n, 3);
    assert_int_equal(got.sb.size, want.sb.size);
    assert_memory_equal(got.sb.data, want.sb.data, want.sb.size);
    msgpack_sbuffer_destroy(&got.sb);
    msgpack_sbuffer_destroy(&want.sb);
}

/* A commit that fails is a batch aborted: nothing of it stays, the next
 * batch gets its seqs and alert ids, and the index is brought level. */
static void test_failed_commit(void **state)
{
    struct tu_corefx *f = *state;
    const char *first[] = {"c1"}, *lost[] = {"c2", "c3"};
    struct hub_error err;
    uint64_t seq;
    batch(f, first, 1);
    (void)hub_core_take_readable(f->core);
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(tu_corefx_referral(f, lost[i], T0, &seq, &err), CSPH_ERR_OK);
    tu_fail_env = hub_store_env(hub_core_store(f->core));
    tu_fail_commits = 1;
    assert_int_not_equal(hub_core_batch_commit(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(tu_fail_commits, 0); /* it was the log's commit that failed */
    assert_false(hub_core_batch_open(f->core));
    assert_int_equal(last_seq(f), 1);
    assert_int_equal(marac_alerts(f), 1);
    assert_int_equal(hub_core_alerts_raised(f->core), 1);
    assert_int_equal(hub_core_take_readable(f->core), 0); /* nothing readable came of it */
    /* The same events again: new to the log, with the seqs they would
     * have had. */
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(tu_corefx_referral(f, "c2", T0, &seq, &err), CSPH_ERR_OK);
    assert_int_equal(seq, 2);
    assert_int_equal(tu_corefx_referral(f, "c3", T0, &seq, &err), CSPH_ERR_OK);
    assert_int_equal(seq, 3);
    assert_int_equal(hub_core_batch_commit(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_settle_all(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(marac_alerts(f), 3);
    assert_int_equal(hub_store_index_applied(hub_core_store(f->core)), 3);
}

/* The order of a batch: settle only between batches, commit and abort only
 * of an open batch, one batch at a time; held work settles when due or
 * when asked; alerts are readable once their batch is committed. */
static void test_settle_order(void **state)
{
    struct tu_corefx *f = *state;
    struct hub_error err;
    uint64_t seq;
    assert_int_equal(hub_core_batch_commit(f->core, &err), CSPH_ERR_INTERNAL);
    assert_non_null(strstr(err.message, "no batch open"));
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_INTERNAL);
    assert_non_null(strstr(err.message, "inside a batch"));
    assert_int_equal(hub_core_batch_settle(f->core, NULL, &err), CSPH_ERR_INTERNAL);
    assert_non_null(strstr(err.message, "settle inside an open batch"));
    assert_int_equal(hub_core_settle_all(f->core, &err), CSPH_ERR_INTERNAL);
    assert_int_equal(hub_core_set_rules(f->core, NULL, &err), CSPH_ERR_INTERNAL);
    assert_int_equal(tu_corefx_referral(f, "d0", T0, &seq, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_take_readable(f->core), 0); /* not before the commit */
    assert_int_equal(hub_core_batch_commit(f->core, &err), CSPH_ERR_OK);
    uint64_t marac = 1ull << hub_config_panel_find(&f->cfg, "marac", 5);
    assert_int_equal(hub_core_take_readable(f->core), marac);
    assert_int_equal(hub_core_take_readable(f->core), 0); /* taken */
    /* The index holds committed batches until CSPH_INDEX_HOLD_BATCHES. */
    struct hub_store *st = hub_core_store(f->core);
    int held = 0;
    assert_int_equal(hub_core_batch_settle(f->core, &held, &err), CSPH_ERR_OK);
    assert_true(held);
    assert_int_equal(hub_store_index_applied(st), 0);
    for (int b = 1; b < CSPH_INDEX_HOLD_BATCHES; b++) {
        char id[16];
        const char *ids[] = {id};
        snprintf(id, sizeof id, "d%d", b);
        assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
        assert_int_equal(tu_corefx_referral(f, ids[0], T0, &seq, &err), CSPH_ERR_OK);
        assert_int_equal(hub_core_batch_commit(f->core, &err), CSPH_ERR_OK);
        assert_int_equal(hub_core_batch_settle(f->core, &held, &err), CSPH_ERR_OK);
    }
    assert_false(held); /* the eighth batch settled them all */
    assert_int_equal(hub_store_index_applied(st), CSPH_INDEX_HOLD_BATCHES);
    const char *one[] = {"d-last"};
    batch(f, one, 1);
    assert_int_equal(hub_store_index_applied(st), CSPH_INDEX_HOLD_BATCHES);
    assert_int_equal(hub_core_settle_all(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_store_index_applied(st), CSPH_INDEX_HOLD_BATCHES + 1);
    assert_int_equal(last_seq(f), CSPH_INDEX_HOLD_BATCHES + 1);
    /* Ack and an alert's panel belong inside a batch. */
    int panel;
    assert_int_equal(hub_core_alert_panel(f->core, 1, &panel, &err), CSPH_ERR_INTERNAL);
    assert_int_equal(hub_core_ack(f->core, 0, "c", 1, 1, NULL, &err), CSPH_ERR_INTERNAL);
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_alert_panel(f->core, 1, &panel, &err), CSPH_ERR_OK);
    assert_int_equal(1ull << panel, marac);
    assert_int_equal(hub_core_ack(f->core, panel, "c", 1, 1, NULL, &err), CSPH_ERR_OK);
    hub_core_batch_abort(f->core);
}

/* The last seq and marac alerts a reader with its own transaction finds:
 * what LMDB holds, not what the journal acknowledged. */
static void lmdb_holds(struct tu_corefx *f, uint64_t seq, uint64_t alerts)
{
    struct hub_error err;
    struct hub_core *ro = NULL;
    struct hub_core_opts o = {.cfg = &f->cfg, .dir = f->data, .readonly = 1};
    assert_int_equal(hub_core_open(&ro, &o, &err), CSPH_ERR_OK);
    assert_int_equal(hub_store_last_seq(hub_core_store(ro)), seq);
    uint64_t counts[CSPH_MAX_PANELS] = {0};
    hub_queues_counts(hub_core_queues(ro), counts);
    assert_int_equal(counts[hub_config_panel_find(&f->cfg, "marac", 5)], alerts);
    hub_core_close(&ro);
}

/* Alerts consumer "team" would get from marac now. */
static uint32_t fetched(struct tu_corefx *f)
{
    struct hub_error err;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    uint32_t count = 0;
    uint64_t last = 0;
    int end = 0;
    assert_int_equal(hub_core_fetch(f->core, hub_config_panel_find(&f->cfg, "marac", 5), "team",
                                    4, 100, 0, 1 << 20, &pk, &count, &last, &end, &err),
                     CSPH_ERR_OK);
    msgpack_sbuffer_destroy(&sb);
    return count;
}

/* With the journal, an alert is readable by a fetch as soon as its batch
 * is acknowledged (one journal sync), before LMDB commits it and without
 * making LMDB commit it; inside a batch a fetch sees the batch's own
 * earlier writes (an ack), and an aborted batch's are gone. */
static void test_fetch_sees_what_the_journal_acknowledged(void **state)
{
    struct tu_corefx *f = *state;
    struct hub_error err;
    uint64_t seq;
    hub_core_close(&f->core);
    /* The journal is used only while the map has room for held batches. */
    struct hub_core_opts o = {.cfg = &f->cfg, .dir = f->data, .map_size = 1ull << 30,
                              .schemas = f->schemas, .rules = f->rules, .apply_limits = 1,
                              .journal = 1};
    assert_int_equal(hub_core_open(&f->core, &o, &err), CSPH_ERR_OK);
    struct hub_store *st = hub_core_store(f->core);
    int marac_i = hub_config_panel_find(&f->cfg, "marac", 5);

    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(tu_corefx_referral(f, "j1", T0, &seq, &err), CSPH_ERR_OK);
    assert_int_equal(fetched(f), 1); /* inside the batch: its own write */
    assert_int_equal(hub_core_batch_commit(f->core, &err), CSPH_ERR_OK);
    assert_true(hub_store_held(st)); /* acknowledged through the journal only */
    assert_int_equal(hub_core_take_readable(f->core), 1ull << marac_i);
    assert_int_equal(fetched(f), 1);
    assert_true(hub_store_held(st)); /* the fetch did not commit it */
    lmdb_holds(f, 0, 0);

    /* An ack, then a fetch in the same batch: nothing left. Aborted: back. */
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_ack(f->core, marac_i, "team", 4, 1, NULL, &err), CSPH_ERR_OK);
    assert_int_equal(fetched(f), 0);
    hub_core_batch_abort(f->core);
    assert_int_equal(fetched(f), 1); /* made again from the journal's writes first */

    assert_int_equal(hub_core_settle_all(f->core, &err), CSPH_ERR_OK);
    lmdb_holds(f, 1, 1);
    assert_int_equal(fetched(f), 1);
}

/* A log opened read-only (an auditor's tool beside a running hub) reads
 * and refuses every write. */
static void test_readonly(void **state)
{
    struct tu_corefx *f = *state;
    const char *ids[] = {"e1", "e2"};
    struct hub_error err;
    batch(f, ids, 2);
    struct hub_core *ro = NULL;
    struct hub_core_opts o = {.cfg = &f->cfg, .dir = f->data, .readonly = 1};
    assert_int_equal(hub_core_open(&ro, &o, &err), CSPH_ERR_OK); /* beside the writer */
    assert_int_equal(hub_store_last_seq(hub_core_store(ro)), 2);
    assert_int_equal(hub_core_batch_begin(ro, &err), CSPH_ERR_INTERNAL);
    assert_non_null(strstr(err.message, "read-only"));
    assert_int_equal(hub_core_settle_all(ro, &err), CSPH_ERR_OK);
    hub_core_close(&ro);
    assert_null(ro);
}

/* A directory that cannot be a data directory is refused with its path. */
static void test_open_fails(void **state)
{
    struct tu_corefx *f = *state;
    struct hub_error err;
    struct hub_core *c = (struct hub_core *)1;
    /* A second core over the same directory: the hub's lock. */
    struct hub_core_opts o = {.cfg = &f->cfg, .dir = f->data, .map_size = TU_CORE_MAP_SIZE};
    assert_int_equal(hub_core_open(&c, &o, &err), CSPH_ERR_LOCKED);
    assert_null(c);
    char file[700];
    snprintf(file, sizeof file, "%s/plain-file", f->dir);
    FILE *fp = fopen(file, "w");
    assert_non_null(fp);
    fclose(fp);
    o.dir = file;
    assert_int_not_equal(hub_core_open(&c, &o, &err), CSPH_ERR_OK);
    assert_null(c);
    assert_non_null(strstr(err.message, "plain-file"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_abort_leaves_committed_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settle_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fetch_sees_what_the_journal_acknowledged, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_readonly, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_fails, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
