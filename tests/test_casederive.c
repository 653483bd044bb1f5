/* test_casederive.c: cases for a log written before panel work
 * (hub/casederive.c). A core over a private data directory: referrals
 * raise marac alerts, one is accepted (a case opens); then the directory
 * is made to look like one from before cases (the panel-work databases
 * dropped with LMDB itself) and the derivation rebuilds the case from the
 * log, once. A fresh directory is marked at once and never derived. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

#include "casederive.h"
#include "cases.h"
#include "config.h"
#include "core.h"
#include "log.h"
#include "pwstore.h"
#include "testutil.h"

#define T0 1740000000000LL

static int setup(void **state)
{
    return tu_corefx_setup(state, "casederive", 1); /* as a hub opens it: caught up */
}

static int teardown(void **state)
{
    return tu_corefx_teardown(state);
}

/* Referrals of subjects S-<id> (one marac alert each) and the acceptance
 * of alert `accept` (0: none), in one batch. */
static void work(struct tu_corefx *f, const char *const *ids, size_t n, uint64_t accept)
{
    struct hub_error err;
    uint64_t seq;
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tu_corefx_referral(f, ids[i], T0, &seq, &err), CSPH_ERR_OK);
    if (accept)
        assert_int_equal(hub_ingest_alert_update(hub_core_ingest(f->core), accept,
                                                 CSPH_ALERT_ACCEPTED, NULL, 0, "ann", NULL, T0,
                                                 &seq, &err),
                         CSPH_ERR_OK);
    assert_int_equal(hub_core_batch_commit(f->core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_settle_all(f->core, &err), CSPH_ERR_OK);
}

/* The directory as a hub from before cases left it: no panel-work
 * databases (the core closed meanwhile). */
static void forget_cases(struct tu_corefx *f)
{
    hub_core_close(&f->core);
    MDB_env *env;
    MDB_txn *txn;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 64), 0);
    assert_int_equal(mdb_env_set_mapsize(env, TU_CORE_MAP_SIZE), 0);
    assert_int_equal(mdb_env_open(env, f->data, MDB_NOTLS, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    static const char *const dbs[] = {"cases", "cases_due", "case_log", "accepted", "lookback",
                                      "panelwork_meta", NULL};
    for (int i = 0; dbs[i]; i++) {
        MDB_dbi dbi;
        unsigned flags = !strcmp(dbs[i], "case_log") ? MDB_DUPSORT : 0;
        if (mdb_dbi_open(txn, dbs[i], flags, &dbi) == 0)
            assert_int_equal(mdb_drop(txn, dbi, 1), 0);
    }
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    tu_corefx_open(f, 1);
}

struct found {
    int n, open;
    char key[CSPH_CASE_KEY_MAX + 1];
    uint64_t alert;
};

static int see_case(void *ctx, const struct hub_case *c)
{
    struct found *x = ctx;
    x->n++;
    x->open += c->open;
    snprintf(x->key, sizeof x->key, "%s", c->key);
    x->alert = c->alert;
    return 0;
}

static struct found cases_of(struct tu_corefx *f)
{
    struct found x = {0};
    struct hub_error err;
    MDB_txn *txn;
    struct hub_store *s = hub_core_store(f->core);
    assert_int_equal(hub_pw_read_begin(s, &txn, &err), CSPH_ERR_OK);
    assert_int_equal(hub_cases_each(s, txn, "marac", see_case, &x, &err), CSPH_ERR_OK);
    hub_pw_read_end(txn);
    return x;
}

static void test_old_log_gets_its_cases_once(void **state)
{
    struct tu_corefx *f = *state;
    struct hub_error err;
    uint64_t read;
    /* this core's first start: an empty log, only the marker */
    assert_int_equal(hub_casederive_run(f->core, &read, &err), CSPH_ERR_OK);
    assert_int_equal(read, 0);
    static const char *const ids[] = {"1", "2", "3"};
    work(f, ids, 3, 2);
    assert_int_equal(cases_of(f).n, 1);
    forget_cases(f);
    assert_int_equal(cases_of(f).n, 0);
    uint64_t last = hub_store_last_seq(hub_core_store(f->core));
    assert_int_equal(hub_casederive_run(f->core, &read, &err), CSPH_ERR_OK);
    assert_int_equal(read, last); /* every event read, in order */
    struct found x = cases_of(f);
    assert_int_equal(x.n, 1);
    assert_int_equal(x.open, 1);
    assert_string_equal(x.key, "S-2");
    assert_int_equal(x.alert, 2);
    /* once: a second run reads nothing */
    assert_int_equal(hub_casederive_run(f->core, &read, &err), CSPH_ERR_OK);
    assert_int_equal(read, 0);
    /* after a restart too */
    hub_core_close(&f->core);
    tu_corefx_open(f, 1);
    assert_int_equal(hub_casederive_run(f->core, &read, &err), CSPH_ERR_OK);
    assert_int_equal(read, 0);
    assert_int_equal(cases_of(f).n, 1);
}

static void test_a_kept_case_index_is_not_derived_again(void **state)
{
    struct tu_corefx *f = *state;
    struct hub_error err;
    uint64_t read;
    /* a directory of the previous version: cases kept, no marker */
    static const char *const ids[] = {"1", "2"};
    work(f, ids, 2, 1);
    assert_int_equal(hub_casederive_run(f->core, &read, &err), CSPH_ERR_OK);
    assert_int_equal(read, 0);
    assert_int_equal(cases_of(f).n, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_old_log_gets_its_cases_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_kept_case_index_is_not_derived_again, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
