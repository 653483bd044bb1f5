/* test_queueraw.c: the alerts read as stored (hub_queues_each_raw_in,
 * hub_queues_last_id_in), which the report uses instead of packing every
 * alert: each field it hands over must be what the packed alert
 * (hub_queues_each) says, and the id bounds must hold. Over a core in a
 * private directory, alerts raised by ingesting referrals. */
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
#include "mpx.h"
#include "queues.h"
#include "store.h"
#include "testutil.h"
#include "timefmt.h"

#define T0 1740000000000LL /* received_at of every event */

static int setup(void **state)
{
    return tu_corefx_setup(state, "queueraw", 0);
}

static int teardown(void **state)
{
    return tu_corefx_teardown(state);
}

/* Ingest one event (JSON) into the open batch. */
static void ingest(struct tu_corefx *f, const char *json)
{
    struct hub_error err;
    uint64_t seq;
    if (tu_corefx_ingest(f, json, T0, &seq, &err))
        fail_msg("ingesting %s: %s", json, err.message);
}

/* Referrals to MARAC (one alert each, with a deadline) and three ASB
 * complaints by one victim (an ASB Case Review alert, its evidence three
 * seqs), committed. */
static void raise_alerts(struct tu_corefx *f)
{
    struct hub_error err;
    char json[512];
    assert_int_equal(hub_core_batch_begin(f->core, &err), CSPH_ERR_OK);
    for (int i = 0; i < 3; i++) {
        snprintf(json, sizeof json,
                 "{\"id\":\"r%d\",\"type\":\"referral\",\"source\":\"council\","
                 "\"occurred_at\":\"2025-03-0%dT21:14:00Z\",\"subject\":\"S-%d\","
                 "\"panel\":\"marac\",\"reason\":\"repeat victim\"}",
                 i, i + 1, i);
        ingest(f, json);
    }
    for (int i = 0; i < 3; i++) {
        snprintf(json, sizeof json,
                 "{\"id\":\"a%d\",\"type\":\"asb.report\",\"source\":\"council-asb\","
                 "\"occurred_at\":\"2025-0%d-02T20:00:00Z\",\"victim\":\"V-7\","
                 "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"personal\"}",
                 i, i + 1);
        ingest(f, json);
    }
    assert_int_equal(hub_core_batch_commit(f->core, &err), CSPH_ERR_OK);
}

/* The packed alerts, one msgpack object each, in id order. */
struct packed {
    msgpack_zone zone;
    msgpack_object v[16];
    uint64_t id[16];
    size_t n;
};

static int collect(void *ctx, uint64_t id, const void *bytes, size_t len)
{
    struct packed *p = ctx;
    size_t off = 0;
    assert_true(p->n < 16);
    /* copied: the bytes are valid only during the call */
    char *copy = msgpack_zone_malloc(&p->zone, len);
    memcpy(copy, bytes, len);
    assert_int_equal(msgpack_unpack(copy, len, &off, &p->zone, &p->v[p->n]),
                     MSGPACK_UNPACK_SUCCESS);
    p->id[p->n++] = id;
    return 0;
}

struct raw {
    struct packed *p;
    uint64_t ids[16];
    size_t n;
};

static int str_is(const msgpack_object *o, const char *s, size_t len)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == len &&
           !memcmp(o->via.str.ptr, s, len);
}

/* Each raw alert against the packed one of the same id. */
static int check_raw(void *ctx, const struct hub_alert_raw *a)
{
    struct raw *w = ctx;
    const struct packed *p = w->p;
    size_t k = 0;
    while (k < p->n && p->id[k] != a->id)
        k++;
    assert_true(k < p->n);
    const msgpack_object *m = &p->v[k];
    w->ids[w->n++] = a->id;
    assert_true(str_is(hub_mp_get(m, "panel"), a->panel, a->panel_len));
    assert_true(str_is(hub_mp_get(m, "rule"), a->rule, a->rule_len));
    int64_t raised;
    const msgpack_object *ra = hub_mp_get(m, "raised_at"), *due = hub_mp_get(m, "due_at");
    assert_int_equal(csph_time_parse(ra->via.str.ptr, ra->via.str.size, &raised, NULL), 0);
    assert_int_equal(a->raised_ms, raised);
    if (due) {
        int64_t d;
        assert_int_equal(csph_time_parse(due->via.str.ptr, due->via.str.size, &d, NULL), 0);
        assert_int_equal(a->due_ms, d);
    } else {
        assert_true(a->due_ms == INT64_MIN);
    }
    /* the pairs are the packed map's first npairs, byte for byte */
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    size_t off = 0;
    assert_true(a->npairs >= 9 && a->npairs <= m->via.map.size);
    for (uint32_t i = 0; i < 2 * a->npairs; i++) {
        msgpack_object o;
        msgpack_unpack_return u = msgpack_unpack(a->pairs, a->pairs_len, &off, &z, &o);
        /* one object, the rest of the pairs after it */
        assert_true(u == MSGPACK_UNPACK_SUCCESS || u == MSGPACK_UNPACK_EXTRA_BYTES);
        const msgpack_object_kv *kv = &m->via.map.ptr[i / 2];
        assert_true(msgpack_object_equal(o, i % 2 ? kv->val : kv->key));
    }
    assert_int_equal(off, a->pairs_len);
    msgpack_zone_destroy(&z);
    return 0;
}

static int stop_at_first(void *ctx, const struct hub_alert_raw *a)
{
    *(uint64_t *)ctx = a->id;
    return 1;
}

static void test_raw_alerts_are_the_packed_ones(void **state)
{
    struct tu_corefx *f = *state;
    struct hub_error err;
    raise_alerts(f);
    struct packed p = {.n = 0};
    msgpack_zone_init(&p.zone, 4096);
    struct hub_queues *q = hub_core_queues(f->core);
    assert_int_equal(hub_queues_each(q, collect, &p, &err), CSPH_ERR_OK);
    assert_int_equal(p.n, 4); /* three MARAC referrals, one ASB Case Review */

    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(hub_store_env(hub_core_store(f->core)), NULL, MDB_RDONLY, &txn),
                     0);
    uint64_t last = 0;
    assert_int_equal(hub_queues_last_id_in(q, txn, &last, &err), CSPH_ERR_OK);
    assert_int_equal(last, p.id[p.n - 1]);

    struct raw w = {.p = &p};
    assert_int_equal(hub_queues_each_raw_in(q, txn, 0, 0, check_raw, &w, &err), CSPH_ERR_OK);
    assert_int_equal(w.n, 4);
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(w.ids[i], p.id[i]);
    /* after < id <= until */
    w.n = 0;
    assert_int_equal(hub_queues_each_raw_in(q, txn, p.id[0], p.id[2], check_raw, &w, &err),
                     CSPH_ERR_OK);
    assert_int_equal(w.n, 2);
    assert_int_equal(w.ids[0], p.id[1]);
    assert_int_equal(w.ids[1], p.id[2]);
    w.n = 0;
    assert_int_equal(hub_queues_each_raw_in(q, txn, last, 0, check_raw, &w, &err), CSPH_ERR_OK);
    assert_int_equal(hub_queues_each_raw_in(q, txn, UINT64_MAX, 0, check_raw, &w, &err),
                     CSPH_ERR_OK);
    assert_int_equal(w.n, 0);
    /* the visitor stops the walk */
    uint64_t first = 0;
    assert_int_equal(hub_queues_each_raw_in(q, txn, 0, 0, stop_at_first, &first, &err),
                     CSPH_ERR_OK);
    assert_int_equal(first, p.id[0]);
    mdb_txn_abort(txn);
    msgpack_zone_destroy(&p.zone);
}

static void test_no_alerts(void **state)
{
    struct tu_corefx *f = *state;
    struct hub_error err;
    MDB_txn *txn;
    struct hub_queues *q = hub_core_queues(f->core);
    assert_int_equal(mdb_txn_begin(hub_store_env(hub_core_store(f->core)), NULL, MDB_RDONLY, &txn),
                     0);
    uint64_t last = 7;
    assert_int_equal(hub_queues_last_id_in(q, txn, &last, &err), CSPH_ERR_OK);
    assert_int_equal(last, 0);
    struct raw w = {.p = NULL};
    assert_int_equal(hub_queues_each_raw_in(q, txn, 0, 0, check_raw, &w, &err), CSPH_ERR_OK);
    assert_int_equal(w.n, 0);
    mdb_txn_abort(txn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_raw_alerts_are_the_packed_ones, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_alerts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
