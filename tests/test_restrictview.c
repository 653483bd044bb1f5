/* test_restrictview: what every role but dpo and auditor reads of a person
 * under a standing restriction (hub/restrictview.h, issue 17 point 2), on
 * an LMDB environment of its own holding dp.restricting: who is hidden
 * from, references found in text, and an alert's pairs with the persons'
 * key values and its reason withheld. End to end over CURVE sockets:
 * test_security (test_restricted_person_alerts). */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "restrict.h"
#include "restrictview.h"

struct fx {
    char *dir;
    MDB_env *env;
};

static void restrict_person(struct fx *f, const char *ref, uint64_t eseq)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_txn_begin(f->env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, CSPH_RESTRICT_STANDING_DB, MDB_CREATE, &dbi), 0);
    MDB_val k = {strlen(ref), (void *)ref}, v = {8, &eseq};
    assert_int_equal(mdb_put(txn, dbi, &k, &v, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->dir = tu_tmpdir("restrictview");
    assert_int_equal(mdb_env_create(&f->env), 0);
    mdb_env_set_maxdbs(f->env, 4);
    assert_int_equal(mdb_env_open(f->env, f->dir, 0, 0600), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    mdb_env_close(f->env);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* An alert's pairs as the queues store them: id, key, reason, evidence. */
static void alert_pairs(msgpack_sbuffer *sb, const char *victim, const char *perp,
                        const char *reason)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_uint64(&pk, 7);
    msgpack_pack_str_with_body(&pk, "key", 3);
    msgpack_pack_map(&pk, perp ? 2 : 1);
    msgpack_pack_str_with_body(&pk, "victim", 6);
    msgpack_pack_str_with_body(&pk, victim, strlen(victim));
    if (perp) {
        msgpack_pack_str_with_body(&pk, "perpetrator", 11);
        msgpack_pack_str_with_body(&pk, perp, strlen(perp));
    }
    msgpack_pack_str_with_body(&pk, "reason", 6);
    msgpack_pack_str_with_body(&pk, reason, strlen(reason));
    msgpack_pack_str_with_body(&pk, "evidence", 8);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_uint64(&pk, 3);
    msgpack_pack_uint64(&pk, 5);
}

/* The value of field name in pairs (npairs 4) as text, into out. */
static const char *field(const msgpack_sbuffer *sb, const char *name, const char *sub,
                         char *out, size_t n)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    out[0] = 0;
    for (int i = 0; i < 4; i++) {
        assert_int_equal(msgpack_unpack_next(&u, sb->data, sb->size, &off), MSGPACK_UNPACK_SUCCESS);
        int match = u.data.type == MSGPACK_OBJECT_STR && u.data.via.str.size == strlen(name) &&
                    !memcmp(u.data.via.str.ptr, name, strlen(name));
        assert_int_equal(msgpack_unpack_next(&u, sb->data, sb->size, &off), MSGPACK_UNPACK_SUCCESS);
        if (!match)
            continue;
        const msgpack_object *o = &u.data, *map = &u.data;
        if (sub && map->type == MSGPACK_OBJECT_MAP) {
            for (uint32_t j = 0; j < map->via.map.size; j++) {
                const msgpack_object *k = &map->via.map.ptr[j].key;
                if (k->via.str.size == strlen(sub) && !memcmp(k->via.str.ptr, sub, strlen(sub)))
                    o = &map->via.map.ptr[j].val;
            }
        }
        if (o->type == MSGPACK_OBJECT_STR)
            snprintf(out, n, "%.*s", (int)o->via.str.size, o->via.str.ptr);
        else if (o->type == MSGPACK_OBJECT_ARRAY)
            snprintf(out, n, "array %u", o->via.array.size);
    }
    msgpack_unpacked_destroy(&u);
    return out;
}

static void test_who_is_hidden_from(void **state)
{
    (void)state;
    struct hub_identity who = {.role = CSPH_ROLE_PANEL};
    assert_int_equal(hub_restrictview_applies(NULL), 0); /* security none */
    assert_int_equal(hub_restrictview_applies(&who), 1);
    who.role = CSPH_ROLE_AGENCY;
    assert_int_equal(hub_restrictview_applies(&who), 1);
    who.role = CSPH_ROLE_DPO;
    assert_int_equal(hub_restrictview_applies(&who), 0);
    who.role = CSPH_ROLE_AUDITOR;
    assert_int_equal(hub_restrictview_applies(&who), 0);
}

static void test_nothing_restricted(void **state)
{
    struct fx *f = *state;
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn), 0);
    struct hub_restrictview rv;
    hub_restrictview_open(&rv, txn);
    assert_int_equal(rv.any, 0);
    msgpack_sbuffer in, out;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&out);
    alert_pairs(&in, "V-1", NULL, "DASH 16 for V-1");
    assert_int_equal(hub_restrictview_alert(&rv, in.data, in.size, 4, &out), 0);
    assert_int_equal(out.size, 0);
    mdb_txn_abort(txn);
    msgpack_sbuffer_destroy(&in);
    msgpack_sbuffer_destroy(&out);
}

static void test_names_whole_references(void **state)
{
    struct fx *f = *state;
    restrict_person(f, "P-9", 41);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn), 0);
    struct hub_restrictview rv;
    hub_restrictview_open(&rv, txn);
    assert_int_equal(rv.any, 1);
    assert_int_equal(hub_restrictview_names(&rv, "P-9", 3), 41);
    assert_int_equal(hub_restrictview_names(&rv, "V-1, P-9", 8), 41);
    assert_int_equal(hub_restrictview_names(&rv, "seen with P-9.", 14), 41); /* a full stop */
    assert_int_equal(hub_restrictview_names(&rv, "P-9: seen", 9), 41);
    assert_int_equal(hub_restrictview_names(&rv, "P-9.x", 5), 0);
    assert_int_equal(hub_restrictview_names(&rv, "seen with P-9 today", 19), 41);
    assert_int_equal(hub_restrictview_names(&rv, "P-90", 4), 0);
    assert_int_equal(hub_restrictview_names(&rv, "XP-9", 4), 0);
    assert_int_equal(hub_restrictview_names(&rv, "", 0), 0);
    mdb_txn_abort(txn);
}

static void test_alert_withheld(void **state)
{
    struct fx *f = *state;
    restrict_person(f, "P-9", 41);
    restrict_person(f, "V-1", 43);
    MDB_txn *txn;
    assert_int_equal(mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn), 0);
    struct hub_restrictview rv;
    hub_restrictview_open(&rv, txn);
    msgpack_sbuffer in, out;
    msgpack_sbuffer_init(&in);
    msgpack_sbuffer_init(&out);
    char t[80];

    /* the victim's alert names the restricted perpetrator in its key: that
     * value and the reason go, the victim stays, evidence stays */
    alert_pairs(&in, "V-2", "P-9", "3 incidents with P-9");
    assert_int_equal(hub_restrictview_alert(&rv, in.data, in.size, 4, &out), 1);
    assert_string_equal(field(&out, "key", "victim", t, sizeof t), "V-2");
    assert_string_equal(field(&out, "key", "perpetrator", t, sizeof t), "[restricted by seq 41]");
    assert_string_equal(field(&out, "reason", NULL, t, sizeof t), "[restricted by seq 41]");
    assert_string_equal(field(&out, "evidence", NULL, t, sizeof t), "array 2");

    /* named in the reason only */
    in.size = 0;
    alert_pairs(&in, "V-2", NULL, "seen at the address with P-9.");
    assert_int_equal(hub_restrictview_alert(&rv, in.data, in.size, 4, &out), 1);
    assert_string_equal(field(&out, "key", "victim", t, sizeof t), "V-2");
    assert_string_equal(field(&out, "reason", NULL, t, sizeof t), "[restricted by seq 41]");

    /* two restricted persons: each value its own restriction */
    in.size = 0;
    alert_pairs(&in, "V-1", "P-9", "repeat");
    assert_int_equal(hub_restrictview_alert(&rv, in.data, in.size, 4, &out), 1);
    assert_string_equal(field(&out, "key", "victim", t, sizeof t), "[restricted by seq 43]");
    assert_string_equal(field(&out, "key", "perpetrator", t, sizeof t), "[restricted by seq 41]");
    assert_null(memmem(out.data, out.size, "V-1", 3));
    assert_null(memmem(out.data, out.size, "P-9", 3));

    /* the reason reads the restriction of the person it names, whatever
     * the key's order */
    in.size = 0;
    alert_pairs(&in, "P-9", "V-1", "seen with P-9 again");
    assert_int_equal(hub_restrictview_alert(&rv, in.data, in.size, 4, &out), 1);
    assert_string_equal(field(&out, "reason", NULL, t, sizeof t), "[restricted by seq 41]");
    assert_string_equal(field(&out, "key", "perpetrator", t, sizeof t), "[restricted by seq 43]");

    /* naming nobody restricted: untouched */
    in.size = 0;
    out.size = 0;
    alert_pairs(&in, "V-2", "P-90", "3 incidents with P-90");
    assert_int_equal(hub_restrictview_alert(&rv, in.data, in.size, 4, &out), 0);
    assert_int_equal(out.size, 0);

    /* pairs that do not parse */
    assert_int_equal(hub_restrictview_alert(&rv, "\xc1", 1, 4, &out), -1);
    mdb_txn_abort(txn);
    msgpack_sbuffer_destroy(&in);
    msgpack_sbuffer_destroy(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_who_is_hidden_from),
        cmocka_unit_test_setup_teardown(test_nothing_restricted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_names_whole_references, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_withheld, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
