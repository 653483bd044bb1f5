#include "actions.h"

#include <stdio.h>
#include <string.h>

#include "bekey.h"
#include "pwstore.h"
#include "timefmt.h"
#include "wire.h"

#define ACTIONS_DB "actions"
#define DUE_DB "actions_due"
#define OWNER_DB "actions_owner"
#define OPEN_DB "actions_open"
#define CASE_DB "case_actions"
#define FIELDS 16

static const char *const status_names[] = {"open", "done", "not_done"};

const char *hub_action_status_name(int status)
{
    return status >= 0 && status < 3 ? status_names[status] : "open";
}

void hub_actions_pack(msgpack_sbuffer *sb, const struct hub_action *a)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_array(&pk, FIELDS);
    hub_pack_str(&pk, a->panel);
    hub_pack_str(&pk, a->key);
    hub_pack_str(&pk, a->what);
    hub_pack_str(&pk, a->owner);
    msgpack_pack_int(&pk, a->owner_kind);
    msgpack_pack_int64(&pk, a->due_ms);
    msgpack_pack_int(&pk, a->status);
    hub_pack_str(&pk, a->reason);
    msgpack_pack_uint64(&pk, a->created_seq);
    msgpack_pack_int64(&pk, a->created_ms);
    msgpack_pack_int64(&pk, a->updated_ms);
    msgpack_pack_uint64(&pk, a->alert);
    msgpack_pack_int(&pk, a->escalated);
    msgpack_pack_int(&pk, a->on_time);
    msgpack_pack_uint32(&pk, a->retimed);
    msgpack_pack_uint64(&pk, a->id);
}

static int64_t as_i64(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ? o->via.i64 : (int64_t)o->via.u64;
}

static int copy_str(const msgpack_object *o, char *out, size_t n)
{
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size >= n)
        return -1;
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = 0;
    return 0;
}

static int is_int(const msgpack_object *o)
{
    return o->type == MSGPACK_OBJECT_POSITIVE_INTEGER || o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER;
}

int hub_actions_unpack(const void *p, size_t n, struct hub_action *a)
{
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    int rc = -1;
    msgpack_zone_init(&z, 2048);
    if (msgpack_unpack(p, n, &off, &z, &o) != MSGPACK_UNPACK_SUCCESS ||
        o.type != MSGPACK_OBJECT_ARRAY || o.via.array.size != FIELDS)
        goto out;
    const msgpack_object *f = o.via.array.ptr;
    if (copy_str(&f[0], a->panel, sizeof a->panel) || copy_str(&f[1], a->key, sizeof a->key) ||
        copy_str(&f[2], a->what, sizeof a->what) || copy_str(&f[3], a->owner, sizeof a->owner) ||
        copy_str(&f[7], a->reason, sizeof a->reason))
        goto out;
    static const int ints[] = {4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15};
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++)
        if (!is_int(&f[ints[i]]))
            goto out;
    a->owner_kind = (char)as_i64(&f[4]);
    a->due_ms = as_i64(&f[5]);
    a->status = (int)as_i64(&f[6]);
    a->created_seq = f[8].via.u64;
    a->created_ms = as_i64(&f[9]);
    a->updated_ms = as_i64(&f[10]);
    a->alert = f[11].via.u64;
    a->escalated = (int)as_i64(&f[12]);
    a->on_time = (int)as_i64(&f[13]);
    a->retimed = (uint32_t)f[14].via.u64;
    a->id = f[15].via.u64;
    rc = 0;
out:
    msgpack_zone_destroy(&z);
    return rc;
}

struct dbs {
    MDB_dbi main, due, owner, open, cases;
    int absent;
};

/* The five databases: to read (create 0: any of them missing is
 * d->absent, nothing written yet) or to write (create 1, the batch's). */
static enum hub_err open_dbs(struct hub_store *s, MDB_txn *txn, struct dbs *d, int create,
                             struct hub_error *err)
{
    static const char *const names[] = {ACTIONS_DB, DUE_DB, OWNER_DB, OPEN_DB, CASE_DB};
    static const unsigned flags[] = {0, 0, MDB_DUPSORT, MDB_DUPSORT, MDB_DUPSORT};
    MDB_dbi *out[] = {&d->main, &d->due, &d->owner, &d->open, &d->cases};
    d->absent = 0;
    for (int i = 0; i < 5; i++) {
        int absent = 0;
        enum hub_err rc = create ? hub_pw_dbi_create(s, names[i], flags[i], out[i], err)
                                 : hub_pw_dbi(s, txn, names[i], flags[i], out[i], &absent, err);
        if (rc)
            return rc;
        if (absent) {
            d->absent = 1;
            return CSPH_ERR_OK;
        }
    }
    return CSPH_ERR_OK;
}

enum hub_err hub_actions_next_id(struct hub_store *s, uint64_t *id, struct hub_error *err)
{
    struct dbs d;
    MDB_cursor *cur;
    MDB_txn *txn = hub_store_txn(s);
    *id = 1;
    enum hub_err rc = open_dbs(s, txn, &d, 0, err);
    if (rc || d.absent)
        return rc;
    int mrc = mdb_cursor_open(txn, d.main, &cur);
    if (mrc)
        return hub_pw_fail(err, mrc, "reading the actions");
    MDB_val k, v;
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
        *id = hub_get_be64(k.mv_data) + 1;
    mdb_cursor_close(cur);
    return CSPH_ERR_OK;
}

enum hub_err hub_actions_get(struct hub_store *s, MDB_txn *txn, uint64_t id,
                             struct hub_action *a, int *found, struct hub_error *err)
{
    struct dbs d;
    *found = 0;
    enum hub_err rc = open_dbs(s, txn, &d, 0, err);
    if (rc || d.absent)
        return rc;
    unsigned char kb[8];
    hub_put_be64(kb, id);
    MDB_val k = {8, kb}, v;
    int mrc = mdb_get(txn, d.main, &k, &v);
    if (mrc == MDB_NOTFOUND)
        return CSPH_ERR_OK;
    if (mrc)
        return hub_pw_fail(err, mrc, "reading an action");
    memset(a, 0, sizeof *a);
    if (hub_actions_unpack(v.mv_data, v.mv_size, a))
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "action %llu is damaged",
                             (unsigned long long)id);
    *found = 1;
    return CSPH_ERR_OK;
}

/* An escalation runs while the action is open and has not fired. */
static int timer_of(const struct hub_action *a)
{
    return a && a->status == CSPH_ACTION_OPEN && !a->escalated;
}

enum hub_err hub_actions_put(struct hub_store *s, const struct hub_action *a,
                             const struct hub_action *old, struct hub_error *err)
{
    struct dbs d;
    enum hub_err rc = open_dbs(s, hub_store_txn(s), &d, 1, err);
    if (rc)
        return rc;
    unsigned char id[8], due[16], ck[CSPH_PW_CASEKEY_MAX];
    hub_put_be64(id, a->id);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    hub_actions_pack(&sb, a);
    rc = hub_pw_put(s, d.main, id, 8, sb.data, sb.size, err);
    msgpack_sbuffer_destroy(&sb);
    if (rc)
        return rc;
    if (timer_of(old) && (!timer_of(a) || old->due_ms != a->due_ms)) {
        hub_put_point(due, old->due_ms, a->id);
        if ((rc = hub_pw_del(s, d.due, due, 16, NULL, 0, err)))
            return rc;
    }
    if (timer_of(a) && (!timer_of(old) || old->due_ms != a->due_ms)) {
        hub_put_point(due, a->due_ms, a->id);
        if ((rc = hub_pw_put(s, d.due, due, 16, "", 0, err)))
            return rc;
    }
    int was_open = old && old->status == CSPH_ACTION_OPEN, is_open = a->status == CSPH_ACTION_OPEN;
    if (was_open && !is_open &&
        (rc = hub_pw_del(s, d.open, a->panel, strlen(a->panel), id, 8, err)))
        return rc;
    if (is_open && !was_open &&
        (rc = hub_pw_put(s, d.open, a->panel, strlen(a->panel), id, 8, err)))
        return rc;
    if (!old) {
        if ((rc = hub_pw_put(s, d.owner, a->owner, strlen(a->owner), id, 8, err)))
            return rc;
        size_t kl = hub_pw_case_key(ck, a->panel, a->key, strlen(a->key));
        if ((rc = hub_pw_put(s, d.cases, ck, kl, id, 8, err)))
            return rc;
    }
    return CSPH_ERR_OK;
}

enum hub_err hub_actions_each(struct hub_store *s, MDB_txn *txn, const char *owner,
                              const char *panel, const char *key, hub_actions_fn fn, void *ctx,
                              struct hub_error *err)
{
    struct dbs d;
    enum hub_err rc = open_dbs(s, txn, &d, 0, err);
    if (rc || d.absent)
        return rc;
    unsigned char ck[CSPH_PW_CASEKEY_MAX];
    MDB_dbi idx;
    MDB_val k;
    if (owner) {
        idx = d.owner;
        k = (MDB_val){strlen(owner), (void *)owner};
    } else if (key) {
        idx = d.cases;
        k = (MDB_val){hub_pw_case_key(ck, panel, key, strlen(key)), ck};
    } else {
        idx = d.open;
        k = (MDB_val){strlen(panel), (void *)panel};
    }
    MDB_cursor *cur;
    int mrc = mdb_cursor_open(txn, idx, &cur);
    if (mrc)
        return hub_pw_fail(err, mrc, "reading the actions");
    MDB_val v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        struct hub_action a;
        int found;
        if (v.mv_size != 8)
            continue;
        if ((rc = hub_actions_get(s, txn, hub_get_be64(v.mv_data), &a, &found, err)))
            break;
        if (found && fn(ctx, &a))
            break;
    }
    mdb_cursor_close(cur);
    if (rc)
        return rc;
    return mrc && mrc != MDB_NOTFOUND ? hub_pw_fail(err, mrc, "reading the actions")
                                      : CSPH_ERR_OK;
}

int hub_actions_next_due(struct hub_store *s, MDB_txn *txn, int64_t *due_ms)
{
    MDB_dbi dbi;
    MDB_cursor *cur;
    int absent, found = 0;
    struct hub_error err;
    if (hub_pw_dbi(s, txn, DUE_DB, 0, &dbi, &absent, &err) || absent)
        return 0;
    if (mdb_cursor_open(txn, dbi, &cur))
        return 0;
    MDB_val k, v;
    if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 && k.mv_size == 16) {
        uint64_t id;
        hub_get_point(k.mv_data, due_ms, &id);
        found = 1;
    }
    mdb_cursor_close(cur);
    return found;
}

enum hub_err hub_actions_take_due(struct hub_store *s, int64_t now_ms, uint64_t *ids,
                                  int64_t *dues, size_t max, size_t *n, struct hub_error *err)
{
    MDB_dbi dbi;
    MDB_cursor *cur;
    int absent;
    MDB_txn *txn = hub_store_txn(s);
    *n = 0;
    enum hub_err rc = hub_pw_dbi(s, txn, DUE_DB, 0, &dbi, &absent, err);
    if (rc || absent)
        return rc;
    int mrc = mdb_cursor_open(txn, dbi, &cur);
    if (mrc)
        return hub_pw_fail(err, mrc, "reading the action timers");
    MDB_val k, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && *n < max;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 16)
            continue;
        hub_get_point(k.mv_data, &dues[*n], &ids[*n]);
        if (dues[*n] > now_ms)
            break;
        (*n)++;
    }
    mdb_cursor_close(cur);
    if (mrc && mrc != MDB_NOTFOUND)
        return hub_pw_fail(err, mrc, "reading the action timers");
    /* Taken out as the timer.fired events are written; re-derivation
     * spends them when it applies those events (panelwork.c). */
    unsigned char due[16];
    for (size_t i = 0; i < *n; i++) {
        hub_put_point(due, dues[i], ids[i]);
        if ((rc = hub_pw_del(s, dbi, due, 16, NULL, 0, err)))
            return rc;
    }
    return CSPH_ERR_OK;
}

void hub_actions_pack_reply(msgpack_packer *pk, const struct hub_action *a, int restricted)
{
    char when[32];
    if (restricted) {
        msgpack_pack_map(pk, 5);
    } else {
        msgpack_pack_map(pk, 11 + (a->reason[0] ? 1 : 0) + (a->updated_ms ? 1 : 0) +
                                 (a->alert ? 1 : 0));
    }
    hub_pack_str(pk, "id");
    msgpack_pack_uint64(pk, a->id);
    hub_pack_str(pk, "panel");
    hub_pack_str(pk, a->panel);
    hub_pack_str(pk, "key");
    hub_pack_str(pk, a->key);
    hub_pack_str(pk, "due_at");
    hub_pack_strn(pk, when, (size_t)csph_time_format(a->due_ms, when));
    hub_pack_str(pk, "status");
    hub_pack_str(pk, hub_action_status_name(a->status));
    if (restricted)
        return;
    hub_pack_str(pk, "what");
    hub_pack_str(pk, a->what);
    hub_pack_str(pk, "owner");
    hub_pack_str(pk, a->owner);
    hub_pack_str(pk, "owner_kind");
    hub_pack_str(pk, a->owner_kind == 'p' ? "person" : "agency");
    hub_pack_str(pk, "created_at");
    hub_pack_strn(pk, when, (size_t)csph_time_format(a->created_ms, when));
    hub_pack_str(pk, "escalated");
    if (a->escalated)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    hub_pack_str(pk, "on_time");
    if (a->on_time)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    if (a->reason[0]) {
        hub_pack_str(pk, "reason");
        hub_pack_str(pk, a->reason);
    }
    if (a->updated_ms) {
        hub_pack_str(pk, "updated_at");
        hub_pack_strn(pk, when, (size_t)csph_time_format(a->updated_ms, when));
    }
    if (a->alert) {
        hub_pack_str(pk, "alert");
        msgpack_pack_uint64(pk, a->alert);
    }
}

/* hook (alertredact.h): an erasure renames the person's case; its actions
 * follow (their record's key and the case index), so that nothing of
 * theirs stays under the old key. */
struct ids {
    uint64_t *v;
    size_t n, cap;
    int nomem;
};

static int collect_id(void *ctx, const struct hub_action *a)
{
    struct ids *x = ctx;
    if (x->n == x->cap) {
        size_t cap = x->cap ? 2 * x->cap : 16;
        uint64_t *v = realloc(x->v, cap * sizeof *v);
        if (!v)
            return x->nomem = 1;
        x->v = v;
        x->cap = cap;
    }
    x->v[x->n++] = a->id;
    return 0;
}

enum hub_err hub_actions_rename_case(struct hub_store *s, const char *panel, const char *key,
                                     size_t key_len, const char *to, uint64_t *n,
                                     struct hub_error *err)
{
    struct dbs d;
    struct ids ids = {0};
    char from[CSPH_CASE_KEY_MAX + 1];
    MDB_txn *txn = hub_store_txn(s);
    *n = 0;
    if (key_len > CSPH_CASE_KEY_MAX)
        return CSPH_ERR_OK; /* no case has such a key */
    snprintf(from, sizeof from, "%.*s", (int)key_len, key);
    enum hub_err rc = open_dbs(s, txn, &d, 0, err);
    if (rc || d.absent)
        return rc;
    rc = hub_actions_each(s, txn, NULL, panel, from, collect_id, &ids, err);
    if (!rc && ids.nomem)
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    unsigned char ck[CSPH_PW_CASEKEY_MAX], id[8];
    if (!rc && ids.n)
        rc = hub_pw_del(s, d.cases, ck, hub_pw_case_key(ck, panel, from, key_len), NULL, 0,
                        err);
    for (size_t i = 0; i < ids.n && !rc; i++) {
        struct hub_action a, old;
        int found = 0;
        if ((rc = hub_actions_get(s, txn, ids.v[i], &a, &found, err)) || !found)
            continue;
        old = a;
        snprintf(a.key, sizeof a.key, "%s", to);
        hub_put_be64(id, a.id);
        if (!(rc = hub_actions_put(s, &a, &old, err)) &&
            !(rc = hub_pw_put(s, d.cases, ck, hub_pw_case_key(ck, panel, to, strlen(to)), id, 8,
                              err)))
            (*n)++;
    }
    free(ids.v);
    return rc;
}
