#include "cases.h"

#include <stdio.h>
#include <string.h>

#include "bekey.h"
#include "pwstore.h"
#include "rules.h"
#include "timefmt.h"
#include "wire.h"

#define CASES_DB "cases"
#define CASES_DUE_DB "cases_due"
#define FIELDS 13

void hub_cases_pack(msgpack_sbuffer *sb, const struct hub_case *c)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, FIELDS);
    msgpack_pack_int(&pk, c->open);
    msgpack_pack_uint64(&pk, c->opened_seq);
    msgpack_pack_int64(&pk, c->opened_ms);
    msgpack_pack_uint64(&pk, c->alert);
    msgpack_pack_int(&pk, c->risk);
    hub_pack_str(&pk, c->outcome);
    msgpack_pack_uint64(&pk, c->closed_seq);
    msgpack_pack_int64(&pk, c->closed_ms);
    msgpack_pack_int64(&pk, c->heard_day);
    msgpack_pack_int64(&pk, c->review_due_ms);
    msgpack_pack_int(&pk, c->review_pending);
    msgpack_pack_uint32(&pk, c->reviews);
    msgpack_pack_uint32(&pk, c->reviews_on_time);
}

static int64_t as_i64(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o->via.i64 : (int64_t)o->via.u64;
}

int hub_cases_unpack(const void *p, size_t n, struct hub_case *c)
{
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    int rc = -1;
    msgpack_zone_init(&z, 512);
    if (msgpack_unpack(p, n, &off, &z, &o) != MSGPACK_UNPACK_SUCCESS ||
        o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != FIELDS)
        goto out;
    const msgpack_object *a = o.via.array.ptr;
    for (int i = 0; i < FIELDS; i++)
        if (i != 5 && a[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER &&
            a[i].type != MSGPACK_OBJECT_NEGATIVE_INTEGER)
            goto out;
    if (a[5].type != MSGPACK_OBJECT_STR || a[5].via.str.size > CSPH_OUTCOME_LEN)
        goto out;
    c->open = (int)as_i64(&a[0]);
    c->opened_seq = a[1].via.u64;
    c->opened_ms = as_i64(&a[2]);
    c->alert = a[3].via.u64;
    c->risk = (int)as_i64(&a[4]);
    memcpy(c->outcome, a[5].via.str.ptr, a[5].via.str.size);
    c->outcome[a[5].via.str.size] = 0;
    c->closed_seq = a[6].via.u64;
    c->closed_ms = as_i64(&a[7]);
    c->heard_day = as_i64(&a[8]);
    c->review_due_ms = as_i64(&a[9]);
    c->review_pending = (int)as_i64(&a[10]);
    c->reviews = (uint32_t)a[11].via.u64;
    c->reviews_on_time = (uint32_t)a[12].via.u64;
    rc = 0;
out:
    msgpack_zone_destroy(&z);
    return rc;
}

/* panel \0 key -> the names in c. */
static void split_key(const MDB_val *k, struct hub_case *c)
{
    const char *p = k->mv_data;
    size_t pl = strnlen(p, k->mv_size);
    snprintf(c->panel, sizeof c->panel, "%.*s", (int)pl, p);
    size_t kl = pl < k->mv_size ? k->mv_size - pl - 1 : 0;
    snprintf(c->key, sizeof c->key, "%.*s", (int)(kl > CSPH_CASE_KEY_MAX ? CSPH_CASE_KEY_MAX : kl),
             p + pl + 1);
}

enum hub_err hub_cases_get(struct hub_store *s, MDB_txn *txn, const char *panel, const char *key,
                           size_t key_len, struct hub_case *c, int *found,
                           struct hub_error *err)
{
    MDB_dbi dbi;
    int absent;
    *found = 0;
    enum hub_err rc = hub_pw_dbi(s, txn, CASES_DB, 0, &dbi, &absent, err);
    if (rc || absent)
        return rc;
    unsigned char kb[CSPH_PW_CASEKEY_MAX];
    MDB_val k = {hub_pw_case_key(kb, panel, key, key_len), kb}, v;
    int mrc = mdb_get(txn, dbi, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return CSPH_ERR_OK;
    if (mrc)
        return hub_pw_fail(err, mrc, "reading a case");
    memset(c, 0, sizeof *c);
    split_key(&k, c);
    if (hub_cases_unpack(v.mv_data, v.mv_size, c))
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "case %s/%.*s is damaged", panel,
                             (int)key_len, key);
    *found = 1;
    return CSPH_ERR_OK;
}

static size_t due_key(unsigned char *out, int64_t due_ms, const char *panel, const char *key)
{
    hub_put_point(out, due_ms, 0);
    return 16 + hub_pw_case_key(out + 16, panel, key, strlen(key));
}

enum hub_err hub_cases_put(struct hub_store *s, const struct hub_case *c, int64_t old_due_ms,
                           struct hub_error *err)
{
    MDB_dbi dbi, due;
    enum hub_err rc;
    if ((rc = hub_pw_dbi_create(s, CASES_DB, 0, &dbi, err)))
        return rc;
    unsigned char kb[CSPH_PW_CASEKEY_MAX], db[16 + CSPH_PW_CASEKEY_MAX];
    size_t kl = hub_pw_case_key(kb, c->panel, c->key, strlen(c->key));
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    hub_cases_pack(&sb, c);
    rc = hub_pw_put(s, dbi, kb, kl, sb.data, sb.size, err);
    msgpack_sbuffer_destroy(&sb);
    if (rc)
        return rc;
    /* One pending timer per case: the one its record names, while it is
     * open, has a cadence and is not waiting for a review already. */
    int64_t want = c->open && !c->review_pending ? c->review_due_ms : 0;
    /* The timers' database is made by the first timer, never empty: the
     * journal records writes, not the creation of a database. */
    int absent = 0;
    if (old_due_ms && old_due_ms != want &&
        !(rc = hub_pw_dbi(s, hub_store_txn(s), CASES_DUE_DB, 0, &due, &absent, err)) && !absent)
        rc = hub_pw_del(s, due, db, due_key(db, old_due_ms, c->panel, c->key), NULL, 0, err);
    if (rc)
        return rc;
    if (want && want != old_due_ms && !(rc = hub_pw_dbi_create(s, CASES_DUE_DB, 0, &due, err)))
        rc = hub_pw_put(s, due, db, due_key(db, want, c->panel, c->key), "", 0, err);
    return rc;
}

enum hub_err hub_cases_each(struct hub_store *s, MDB_txn *txn, const char *panel,
                            hub_cases_fn fn, void *ctx, struct hub_error *err)
{
    MDB_dbi dbi;
    MDB_cursor *cur;
    int absent;
    enum hub_err rc = hub_pw_dbi(s, txn, CASES_DB, 0, &dbi, &absent, err);
    if (rc || absent)
        return rc;
    int mrc = mdb_cursor_open(txn, dbi, &cur);
    if (mrc)
        return hub_pw_fail(err, mrc, "reading the cases");
    unsigned char kb[CSPH_PW_CASEKEY_MAX];
    size_t pl = panel ? hub_pw_case_key(kb, panel, "", 0) : 0;
    MDB_val k = {pl, kb}, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, pl ? MDB_SET_RANGE : MDB_FIRST); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (pl && (k.mv_size < pl || memcmp(k.mv_data, kb, pl) != 0))
            break;
        struct hub_case c = {0};
        split_key(&k, &c);
        if (hub_cases_unpack(v.mv_data, v.mv_size, &c))
            continue;
        if (fn(ctx, &c))
            break;
    }
    mdb_cursor_close(cur);
    return mrc && mrc != MDB_NOTFOUND ? hub_pw_fail(err, mrc, "reading the cases") : CSPH_ERR_OK;
}

int hub_cases_next_due(struct hub_store *s, MDB_txn *txn, int64_t *due_ms)
{
    MDB_dbi dbi;
    MDB_cursor *cur;
    int absent, found = 0;
    struct hub_error err;
    if (hub_pw_dbi(s, txn, CASES_DUE_DB, 0, &dbi, &absent, &err) || absent)
        return 0;
    if (mdb_cursor_open(txn, dbi, &cur))
        return 0;
    MDB_val k, v;
    if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 && k.mv_size >= 16) {
        uint64_t zero;
        hub_get_point(k.mv_data, due_ms, &zero);
        found = 1;
    }
    mdb_cursor_close(cur);
    return found;
}

enum hub_err hub_cases_take_due(struct hub_store *s, int64_t now_ms, struct hub_case_due *out,
                                size_t max, size_t *n, struct hub_error *err)
{
    MDB_dbi dbi;
    MDB_cursor *cur;
    int absent;
    MDB_txn *txn = hub_store_txn(s);
    *n = 0;
    enum hub_err rc = hub_pw_dbi(s, txn, CASES_DUE_DB, 0, &dbi, &absent, err);
    if (rc || absent)
        return rc;
    int mrc = mdb_cursor_open(txn, dbi, &cur);
    if (mrc)
        return hub_pw_fail(err, mrc, "reading the review timers");
    MDB_val k, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && *n < max;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        int64_t due;
        uint64_t zero;
        if (k.mv_size < 17)
            continue;
        hub_get_point(k.mv_data, &due, &zero);
        if (due > now_ms)
            break;
        struct hub_case c;
        MDB_val ck = {k.mv_size - 16, (char *)k.mv_data + 16};
        split_key(&ck, &c);
        snprintf(out[*n].panel, sizeof out[*n].panel, "%s", c.panel);
        snprintf(out[*n].key, sizeof out[*n].key, "%s", c.key);
        out[*n].due_ms = due;
        (*n)++;
    }
    mdb_cursor_close(cur);
    if (mrc && mrc != MDB_NOTFOUND)
        return hub_pw_fail(err, mrc, "reading the review timers");
    /* Taken out as they are written to the log: the timer.fired that
     * follows spends them for good (and re-derivation, applying that
     * event, takes them out the same way). */
    unsigned char db[16 + CSPH_PW_CASEKEY_MAX];
    for (size_t i = 0; i < *n; i++)
        if ((rc = hub_pw_del(s, dbi, db, due_key(db, out[i].due_ms, out[i].panel, out[i].key),
                             NULL, 0, err)))
            return rc;
    return CSPH_ERR_OK;
}

void hub_cases_pack_reply(msgpack_packer *pk, const struct hub_case *c)
{
    char when[32];
    uint32_t n = 7 + (c->outcome[0] ? 1 : 0) + (c->open ? 0 : 1) + (c->heard_day ? 1 : 0) +
                 (c->review_due_ms ? 1 : 0);
    msgpack_pack_map(pk, n);
    hub_pack_str(pk, "panel");
    hub_pack_str(pk, c->panel);
    hub_pack_str(pk, "key");
    hub_pack_str(pk, c->key);
    hub_pack_str(pk, "status");
    hub_pack_str(pk, c->open ? "open" : "closed");
    hub_pack_str(pk, "opened_at");
    hub_pack_strn(pk, when, (size_t)csph_time_format(c->opened_ms, when));
    hub_pack_str(pk, "alert");
    msgpack_pack_uint64(pk, c->alert);
    hub_pack_str(pk, "risk");
    hub_pack_str(pk, hub_priority_name((enum hub_priority)c->risk));
    hub_pack_str(pk, "review_pending");
    if (c->review_pending)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    if (c->outcome[0]) {
        hub_pack_str(pk, "outcome");
        hub_pack_str(pk, c->outcome);
    }
    if (!c->open) {
        hub_pack_str(pk, "closed_at");
        hub_pack_strn(pk, when, (size_t)csph_time_format(c->closed_ms, when));
    }
    if (c->heard_day) {
        hub_pack_str(pk, "last_heard");
        hub_pack_strn(pk, when, (size_t)hub_panelcfg_day_format(c->heard_day, when));
    }
    if (c->review_due_ms) {
        hub_pack_str(pk, "review_due");
        hub_pack_strn(pk, when, (size_t)csph_time_format(c->review_due_ms, when));
    }
}

/* hook (alertredact.h): an erasure renames the person's case on a panel
 * to the erasure's marker, its record and review timer with it. */
enum hub_err hub_cases_rename(struct hub_store *s, const char *panel, const char *key,
                              size_t key_len, const char *to, int *renamed,
                              struct hub_error *err)
{
    struct hub_case c;
    MDB_dbi dbi, due;
    int found = 0, absent = 0;
    *renamed = 0;
    enum hub_err rc = hub_cases_get(s, hub_store_txn(s), panel, key, key_len, &c, &found, err);
    if (rc || !found)
        return rc;
    unsigned char kb[CSPH_PW_CASEKEY_MAX], db[16 + CSPH_PW_CASEKEY_MAX];
    int64_t timer = c.open && !c.review_pending ? c.review_due_ms : 0;
    if ((rc = hub_pw_dbi_create(s, CASES_DB, 0, &dbi, err)) ||
        (rc = hub_pw_del(s, dbi, kb, hub_pw_case_key(kb, panel, key, key_len), NULL, 0, err)))
        return rc;
    if (timer && !(rc = hub_pw_dbi(s, hub_store_txn(s), CASES_DUE_DB, 0, &due, &absent, err)) &&
        !absent)
        rc = hub_pw_del(s, due, db, due_key(db, timer, c.panel, c.key), NULL, 0, err);
    if (rc)
        return rc;
    snprintf(c.key, sizeof c.key, "%s", to);
    if ((rc = hub_cases_put(s, &c, 0, err)) == CSPH_ERR_OK)
        *renamed = 1;
    return rc;
}
