/* test_sweeppos.c: the retention sweep's saved position (hub/sweeppos.c)
 * and what a start makes of it (hub_sweep_resume, hub/sweep.c), over a
 * core in a private directory (testutil's core fixture) with the shipped
 * retention file: saved only by a committed batch, read back the same; a
 * pass resumed, a finished one waited for, and a new pass from seq 1 when
 * the retention file changed, the position is past the log's end, the
 * clock is before the saved pass, or the record is not one this version
 * wrote. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

#include "retention.h"
#include "sweep.h"
#include "sweeppos.h"
#include "testutil.h"

#define T0 1740000000000LL

struct fx {
    struct tu_corefx *c;
    struct hub_retention *r;
    struct hub_sweep *sw;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    void *cs;
    struct hub_error err;
    if (!f || tu_corefx_setup(&cs, "sweeppos", 0))
        return -1;
    f->c = cs;
    if (hub_retention_load(&f->r, f->c->cfg.retention_file, f->c->schemas, &f->c->cfg, &err))
        fail_msg("retention: %s", err.message);
    assert_int_equal(hub_sweep_new(&f->sw, &err), CSPH_ERR_OK);
    /* three events: seqs 1 to 3 */
    uint64_t seq;
    assert_int_equal(hub_core_batch_begin(f->c->core, &err), CSPH_ERR_OK);
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "%d", i);
        assert_int_equal(tu_corefx_referral(f->c, id, T0, &seq, &err), CSPH_ERR_OK);
    }
    assert_int_equal(hub_core_batch_commit(f->c->core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_settle_all(f->c->core, &err), CSPH_ERR_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hub_sweep_destroy(&f->sw);
    hub_retention_destroy(&f->r);
    void *cs = f->c;
    free(f);
    return tu_corefx_teardown(&cs);
}

static struct hub_store *store(struct fx *f)
{
    return hub_core_store(f->c->core);
}

/* Save p in a batch, committed (or aborted). */
static void save(struct fx *f, const struct hub_sweep_pos *p, int commit)
{
    struct hub_error err;
    assert_int_equal(hub_core_batch_begin(f->c->core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_sweeppos_save(hub_core_store(f->c->core), p, &err), CSPH_ERR_OK);
    if (commit)
        assert_int_equal(hub_core_batch_commit(f->c->core, &err), CSPH_ERR_OK);
    else
        hub_core_batch_abort(f->c->core);
}

static struct hub_sweep_pos pos_of(struct fx *f, uint64_t next, int active, int64_t began)
{
    struct hub_sweep_pos p = {.next = next, .as_of_ms = began, .began_ms = began,
                              .active = active};
    snprintf(p.policy, sizeof p.policy, "%s", hub_retention_digest(f->r));
    return p;
}

static void test_saved_by_commit_only(void **state)
{
    struct fx *f = *state;
    struct hub_sweep_pos got, p = pos_of(f, 3, 1, T0);
    assert_int_equal(hub_sweeppos_load(store(f), &got), 0);
    save(f, &p, 0);
    assert_int_equal(hub_sweeppos_load(store(f), &got), 0);
    save(f, &p, 1);
    assert_int_equal(hub_sweeppos_load(store(f), &got), 1);
    assert_int_equal(got.next, 3);
    assert_int_equal(got.as_of_ms, T0);
    assert_int_equal(got.began_ms, T0);
    assert_int_equal(got.active, 1);
    assert_string_equal(got.policy, p.policy);
    /* saved again: replaced */
    p.next = 4;
    p.active = 0;
    save(f, &p, 1);
    assert_int_equal(hub_sweeppos_load(store(f), &got), 1);
    assert_int_equal(got.next, 4);
    assert_int_equal(got.active, 0);
}

static void test_resume(void **state)
{
    struct fx *f = *state;
    struct hub_sweep_pos got, p = pos_of(f, 3, 1, T0);
    assert_int_equal(hub_sweep_resume(f->sw, store(f), f->r, T0, &got), CSPH_SWEEP_NONE_SAVED);
    assert_int_equal(hub_sweep_active(f->sw), 0);
    save(f, &p, 1);
    assert_int_equal(hub_sweep_resume(f->sw, store(f), f->r, T0 + 5, &got), CSPH_SWEEP_RESUMED);
    assert_int_equal(got.next, 3);
    assert_int_equal(hub_sweep_active(f->sw), 1);
    assert_int_equal(hub_sweep_pass_began(f->sw), T0);
    /* nothing to save until it moves */
    assert_int_equal(hub_sweep_save_due(f->sw, UINT64_MAX), 0);
    /* a finished pass: waited for */
    hub_sweep_destroy(&f->sw);
    struct hub_error err;
    assert_int_equal(hub_sweep_new(&f->sw, &err), CSPH_ERR_OK);
    p.active = 0;
    p.next = 4;
    save(f, &p, 1);
    assert_int_equal(hub_sweep_resume(f->sw, store(f), f->r, T0 + 5, &got), CSPH_SWEEP_WAITING);
    assert_int_equal(hub_sweep_active(f->sw), 0);
    assert_int_equal(hub_sweep_pass_began(f->sw), T0);
}

static void test_new_pass(void **state)
{
    struct fx *f = *state;
    struct hub_sweep_pos got, p = pos_of(f, 3, 1, T0);
    /* another retention file */
    memset(p.policy, 'a', 64);
    save(f, &p, 1);
    assert_int_equal(hub_sweep_resume(f->sw, store(f), f->r, T0, &got), CSPH_SWEEP_NEW_POLICY);
    assert_int_equal(hub_sweep_active(f->sw), 0);
    assert_int_equal(hub_sweep_pass_began(f->sw), 0); /* the first step begins a pass now */
    /* past the log's end (a restore from an older backup) */
    p = pos_of(f, 5, 1, T0);
    save(f, &p, 1);
    assert_int_equal(hub_sweep_resume(f->sw, store(f), f->r, T0, &got), CSPH_SWEEP_STALE);
    /* the log's end itself is a place to resume: nothing left but what comes */
    p = pos_of(f, 4, 1, T0);
    save(f, &p, 1);
    assert_int_equal(hub_sweep_resume(f->sw, store(f), f->r, T0, &got), CSPH_SWEEP_RESUMED);
    /* the clock before the saved pass began */
    hub_sweep_destroy(&f->sw);
    struct hub_error err;
    assert_int_equal(hub_sweep_new(&f->sw, &err), CSPH_ERR_OK);
    assert_int_equal(hub_sweep_resume(f->sw, store(f), f->r, T0 - 1, &got), CSPH_SWEEP_STALE);
    assert_int_equal(hub_sweep_active(f->sw), 0);
}

/* The alert walk's place (sweepalerts.h) is saved and taken up; a record
 * of version 1 (before alerts expired) is a pass in its event walk. */
static void test_alert_walk(void **state)
{
    struct fx *f = *state;
    struct hub_sweep_pos got, p = pos_of(f, 4, 1, T0);
    p.alerts = 1;
    p.next_alert = 57;
    save(f, &p, 1);
    assert_int_equal(hub_sweeppos_load(store(f), &got), 1);
    assert_int_equal(got.alerts, 1);
    assert_int_equal(got.next_alert, 57);
    assert_int_equal(hub_sweep_resume(f->sw, store(f), f->r, T0 + 5, &got), CSPH_SWEEP_RESUMED);
    assert_int_equal(hub_sweep_save_due(f->sw, UINT64_MAX), 0); /* as saved */
    /* version 1: version, next, as_of, began, active, policy */
    unsigned char v1[1 + 8 + 8 + 8 + 1 + 64];
    memset(v1, 0, sizeof v1);
    v1[0] = 1;
    v1[1] = 2; /* next 2 */
    for (int i = 0; i < 8; i++)
        v1[9 + i] = v1[17 + i] = (unsigned char)((uint64_t)T0 >> (8 * i));
    v1[25] = 1;
    memcpy(v1 + 26, hub_retention_digest(f->r), 64);
    struct hub_error err;
    assert_int_equal(hub_core_batch_begin(f->c->core, &err), CSPH_ERR_OK);
    struct hub_store *st = hub_core_store(f->c->core);
    MDB_dbi dbi;
    assert_int_equal(hub_store_dbi(st, CSPH_SWEEP_POS_DB, 0, &dbi, &err), CSPH_ERR_OK);
    MDB_val k = {8, "position"}, v = {sizeof v1, v1};
    assert_int_equal(mdb_put(hub_store_txn(st), dbi, &k, &v, 0), 0);
    assert_int_equal(hub_core_batch_commit(f->c->core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_sweeppos_load(store(f), &got), 1);
    assert_int_equal(got.next, 2);
    assert_int_equal(got.alerts, 0);
    assert_int_equal(got.next_alert, 1);
}

/* A record this version did not write (another length): a new pass. */
static void test_foreign_record(void **state)
{
    struct fx *f = *state;
    struct hub_error err;
    assert_int_equal(hub_core_batch_begin(f->c->core, &err), CSPH_ERR_OK);
    struct hub_store *st = hub_core_store(f->c->core);
    MDB_dbi dbi;
    assert_int_equal(hub_store_dbi(st, CSPH_SWEEP_POS_DB, 0, &dbi, &err), CSPH_ERR_OK);
    MDB_val k = {8, "position"}, v = {3, "abc"};
    assert_int_equal(mdb_put(hub_store_txn(st), dbi, &k, &v, 0), 0);
    assert_int_equal(hub_core_batch_commit(f->c->core, &err), CSPH_ERR_OK);
    struct hub_sweep_pos got;
    assert_int_equal(hub_sweeppos_load(store(f), &got), -1);
    assert_int_equal(hub_sweep_resume(f->sw, store(f), f->r, T0, &got), CSPH_SWEEP_STALE);
}

/* A sweep that moved saves when its pass ends, and otherwise not more than
 * once in CSPH_SWEEP_SAVE_MS; what a committed save saved is not due again. */
static void test_save_due(void **state)
{
    struct fx *f = *state;
    struct hub_error err;
    assert_int_equal(hub_sweep_save_due(f->sw, UINT64_MAX), 0); /* no pass yet */
    hub_sweep_begin_pass(f->sw, T0);
    assert_int_equal(hub_sweep_active(f->sw), 1);
    uint64_t ms = 1000000;
    assert_int_equal(hub_sweep_save_due(f->sw, 0), 0); /* within the second */
    assert_int_equal(hub_sweep_save_due(f->sw, CSPH_SWEEP_SAVE_MS * ms), 1);
    assert_int_equal(hub_core_batch_begin(f->c->core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_sweep_save(f->sw, hub_core_store(f->c->core), f->r,
                                    CSPH_SWEEP_SAVE_MS * ms, &err),
                     CSPH_ERR_OK);
    assert_int_equal(hub_core_batch_commit(f->c->core, &err), CSPH_ERR_OK);
    hub_sweep_step_done(f->sw, 1);
    assert_int_equal(hub_sweep_stats(f->sw)->saves, 1);
    assert_int_equal(hub_sweep_save_due(f->sw, UINT64_MAX), 0); /* saved as it is */
    struct hub_sweep_pos got;
    assert_int_equal(hub_sweeppos_load(store(f), &got), 1);
    assert_int_equal(got.next, 1);
    assert_int_equal(got.active, 1);
    /* the whole log in one step: the pass ends, due at once */
    int wrote = 0;
    uint64_t us;
    struct hub_ctx h = {.cfg = &f->c->cfg, .core = f->c->core, .schemas = f->c->schemas};
    assert_int_equal(hub_sweep_step(f->sw, &h, f->r, &wrote, &us, &err), CSPH_ERR_OK);
    assert_int_equal(hub_sweep_active(f->sw), 0);
    assert_int_equal(wrote, 1); /* the position, nothing expired in 2025's referrals */
    assert_int_equal(hub_sweep_stats(f->sw)->examined, 3);
    assert_int_equal(hub_sweeppos_load(store(f), &got), 1);
    assert_int_equal(got.next, 4);
    assert_int_equal(got.active, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_saved_by_commit_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_resume, setup, teardown),
        cmocka_unit_test_setup_teardown(test_new_pass, setup, teardown),
        cmocka_unit_test_setup_teardown(test_foreign_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_walk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_save_due, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
