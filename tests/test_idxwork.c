/* test_idxwork.c: work held for an index transaction (hub/idxwork.c): a
 * module attaches through a transaction of an environment with a set, is
 * flushed in the order attached, dropped on an abort, detached at the end
 * either way; an environment without a set has nothing to attach to. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>
#include <lmdb.h>

#include "idxwork.h"
#include "testutil.h"

struct mod {
    int flushed, dropped, order, fail;
};
static int order;

static int mod_flush(void *ctx, MDB_txn *txn)
{
    struct mod *m = ctx;
    (void)txn;
    m->flushed++;
    m->order = ++order;
    return m->fail;
}

static void mod_drop(void *ctx) { ((struct mod *)ctx)->dropped++; }

static void test_attach_flush_drop(void **state)
{
    (void)state;
    char *dir = tu_tmpdir("idxwork");
    MDB_env *env;
    MDB_txn *txn;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_open(env, dir, MDB_NOSYNC, 0600), 0);
    struct mod a = {0}, b = {0};
    struct hub_idxwork wa = {mod_flush, mod_drop, &a, NULL, NULL};
    struct hub_idxwork wb = {mod_flush, mod_drop, &b, NULL, NULL};
    /* no set: write through */
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(hub_idxwork_attach(txn, &wa), 0);
    mdb_txn_abort(txn);
    struct hub_idxwork_set set = {0};
    hub_idxwork_install(env, &set);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(hub_idxwork_attach(txn, &wb), 1);
    assert_int_equal(hub_idxwork_attach(txn, &wa), 1);
    assert_int_equal(hub_idxwork_attach(txn, &wb), 1); /* once only */
    assert_int_equal(hub_idxwork_flush(&set, txn), 0);
    assert_int_equal(b.order, 1);
    assert_int_equal(a.order, 2);
    assert_int_equal(a.flushed + b.flushed, 2);
    assert_int_equal(mdb_txn_commit(txn), 0);
    hub_idxwork_end(&set, 0);
    assert_int_equal(a.dropped + b.dropped, 0);
    assert_null(wa.set);
    assert_null(set.head);
    /* an abort drops; a failing flush stops the rest */
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(hub_idxwork_attach(txn, &wa), 1);
    assert_int_equal(hub_idxwork_attach(txn, &wb), 1);
    a.fail = 22;
    assert_int_equal(hub_idxwork_flush(&set, txn), 22);
    assert_int_equal(b.flushed, 1);
    mdb_txn_abort(txn);
    hub_idxwork_end(&set, 1);
    assert_int_equal(a.dropped, 1);
    assert_int_equal(b.dropped, 1);
    /* a module detached (freed) is not called */
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(hub_idxwork_attach(txn, &wa), 1);
    assert_int_equal(hub_idxwork_attach(txn, &wb), 1);
    hub_idxwork_detach(&wa);
    a.fail = 0;
    assert_int_equal(hub_idxwork_flush(&set, txn), 0);
    assert_int_equal(a.flushed, 2);
    assert_int_equal(b.flushed, 2);
    mdb_txn_abort(txn);
    hub_idxwork_end(&set, 1);
    assert_int_equal(a.dropped, 1);
    assert_int_equal(b.dropped, 2);
    hub_idxwork_install(env, NULL);
    mdb_env_close(env);
    tu_rmrf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_attach_flush_drop)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
