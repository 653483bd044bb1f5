#include "decision.h"
#include "redo.h"

#include <stdio.h>
#include <string.h>

#include "bekey.h"

/* Key: the alert id, big-endian (ids in order). Sorted duplicates, one per
 * decision: seq (big-endian, so they sort in log order) | status | by. The
 * last duplicate is the decision in force; the others are its history. */
#define DECISIONS_DB "decisions"

int hub_decision_allowed(enum hub_alert_status from, enum hub_alert_status to)
{
    switch (from) {
    case CSPH_ALERT_OPEN:
        return to == CSPH_ALERT_ACKNOWLEDGED || to == CSPH_ALERT_ACCEPTED ||
               to == CSPH_ALERT_DECLINED;
    case CSPH_ALERT_ACKNOWLEDGED:
        return to == CSPH_ALERT_ACCEPTED || to == CSPH_ALERT_DECLINED;
    case CSPH_ALERT_ACCEPTED:
    case CSPH_ALERT_DECLINED:
        return to == CSPH_ALERT_CLOSED;
    case CSPH_ALERT_CLOSED:
        return to == CSPH_ALERT_OPEN;
    default:
        return 0;
    }
}

/* "acknowledged, accepted or declined": the moves from `from`, as text. */
static void moves_text(enum hub_alert_status from, char *out, size_t n)
{
    const char *names[CSPH_ALERT__COUNT];
    size_t k = 0;
    for (int to = 0; to < CSPH_ALERT__COUNT; to++)
        if (hub_decision_allowed(from, (enum hub_alert_status)to))
            names[k++] = hub_alert_status_name((enum hub_alert_status)to);
    out[0] = 0;
    size_t used = 0;
    for (size_t i = 0; i < k && used < n; i++)
        used += (size_t)snprintf(out + used, n - used, "%s%s", i == 0 ? "" : i + 1 == k ? " or " : ", ",
                                 names[i]);
}

static void by_text(const struct hub_decision *last, int current, char *out, size_t n)
{
    if (last && last->status == current && last->by[0])
        snprintf(out, n, " (by %s)", last->by);
    else
        out[0] = 0;
}

enum hub_err hub_decision_check(int current, const struct hub_decision *last,
                                const struct hub_decision_request *r, uint64_t *repeat_seq,
                                struct hub_error *err)
{
    *repeat_seq = 0;
    const char *cur = hub_alert_status_name((enum hub_alert_status)current);
    char by[CSPH_DECISION_BY_MAX + 16];
    by_text(last, current, by, sizeof by);
    /* A resend after a lost reply: what is in force is this very request's
     * result. Checked before `expect`, which the resend still carries. */
    if (r->status == current && last && last->status == current &&
        strlen(last->by) == r->by_len && memcmp(last->by, r->by, r->by_len) == 0) {
        *repeat_seq = last->seq;
        return CSPH_ERR_OK;
    }
    if (r->expect >= 0 && r->expect != current)
        return hub_error_set(err, CSPH_ERR_CONFLICT, "expect",
                             "alert %llu is %s%s, not %s: someone changed it since it was read",
                             (unsigned long long)r->id, cur, by,
                             hub_alert_status_name((enum hub_alert_status)r->expect));
    if (r->status == current)
        return hub_error_set(err, CSPH_ERR_CONFLICT, "status", "alert %llu is already %s%s",
                             (unsigned long long)r->id, cur, by);
    if (!hub_decision_allowed((enum hub_alert_status)current,
                              (enum hub_alert_status)r->status)) {
        char moves[96];
        moves_text((enum hub_alert_status)current, moves, sizeof moves);
        return hub_error_set(err, CSPH_ERR_CONFLICT, "status",
                             "alert %llu is %s%s: it can move to %s, not %s",
                             (unsigned long long)r->id, cur, by, moves,
                             hub_alert_status_name((enum hub_alert_status)r->status));
    }
    if (r->status == CSPH_ALERT_OPEN && r->note_len == 0)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "note",
                             "reopening alert %llu needs a note saying why",
                             (unsigned long long)r->id);
    return CSPH_ERR_OK;
}

static int decision_parse(const MDB_val *v, struct hub_decision *d);

static enum hub_err lmdb_fail(struct hub_error *err, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "the hub's storage limit is reached");
    return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "%s: %s", what, mdb_strerror(rc));
}

struct last_decision {
    struct hub_decision d;
    int found;
};

static int keep_last(void *ctx, const struct hub_decision *d)
{
    struct last_decision *l = ctx;
    l->d = *d;
    l->found = 1;
    return 0;
}

/* The decision in force: the last of the alert's, in the order
 * hub_decision_each walks them. */
enum hub_err hub_decision_get(struct hub_store *s, MDB_txn *txn, uint64_t id,
                              struct hub_decision *out, int *found, struct hub_error *err)
{
    (void)s;
    struct last_decision l = {.found = 0};
    enum hub_err rc = hub_decision_each(txn, id, keep_last, &l, err);
    *found = l.found;
    if (l.found)
        *out = l.d;
    return rc;
}

enum hub_err hub_decision_record(struct hub_store *s, uint64_t id,
                                 const struct hub_decision *d, struct hub_error *err)
{
    MDB_dbi dbi;
    enum hub_err e = hub_store_dbi(s, DECISIONS_DB, MDB_DUPSORT, &dbi, err);
    if (e)
        return e;
    unsigned char kb[8], vb[9 + CSPH_DECISION_BY_MAX];
    size_t by_len = strnlen(d->by, CSPH_DECISION_BY_MAX);
    hub_put_be64(kb, id);
    hub_put_be64(vb, d->seq);
    vb[8] = (unsigned char)d->status;
    memcpy(vb + 9, d->by, by_len);
    MDB_val k = {8, kb}, v = {9 + by_len, vb};
    int rc = hub_redo_put(hub_store_redo(s), hub_store_txn(s), dbi, &k, &v, 0);
    return rc ? lmdb_fail(err, rc, "recording a decision") : CSPH_ERR_OK;
}

enum hub_err hub_decision_admit(struct hub_queues *q, struct hub_store *s,
                                const struct hub_decision_request *r, int *panel_index,
                                uint64_t *repeat_seq, struct hub_error *err)
{
    MDB_txn *txn = hub_store_txn(s);
    int current;
    *repeat_seq = 0;
    /* The status only: the alert's evidence (thousands of seqs for some)
     * is not copied to decide. */
    enum hub_err e = hub_queues_status_of(q, txn, r->id, &current, panel_index, err);
    if (e)
        return e;
    struct hub_decision last;
    int found = 0;
    if ((e = hub_decision_get(s, txn, r->id, &last, &found, err)))
        return e;
    return hub_decision_check(current, found ? &last : NULL, r, repeat_seq, err);
}

static enum hub_err status_arg(const struct hub_request *r, const char *key, int required,
                               int *out, struct hub_error *err)
{
    const char *st = NULL;
    size_t len = 0;
    enum hub_err e = hub_wire_str(r, key, 1, 32, required, &st, &len, err);
    if (e || !st)
        return e;
    if ((*out = hub_alert_status_parse(st, len)) < 0)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, key,
                             "'%s' must be open, acknowledged, accepted, declined or closed",
                             key);
    return CSPH_ERR_OK;
}

enum hub_err hub_decision_parse(const struct hub_request *r, const char *identity,
                                struct hub_decision_request *out, char *by_buf,
                                struct hub_error *err)
{
    const char *by = NULL;
    size_t by_len = 0;
    out->expect = -1;
    enum hub_err e = status_arg(r, "status", 1, &out->status, err);
    if (!e)
        e = status_arg(r, "expect", 0, &out->expect, err);
    if (!e)
        e = hub_wire_str(r, "by", 1, CSPH_DECISION_BY_MAX, 0, &by, &by_len, err);
    if (e)
        return e;
    for (size_t i = 0; by && i < by_len; i++)
        if ((unsigned char)by[i] < 0x20 || by[i] == 0x7f)
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "by",
                                 "'by' must be a name without control characters");
    if (identity) {
        if (by && (strlen(identity) != by_len || memcmp(identity, by, by_len) != 0))
            return hub_error_set(err, CSPH_ERR_FORBIDDEN, "by",
                                 "identity '%s' decides as itself; 'by' may only name it",
                                 identity);
        snprintf(by_buf, CSPH_DECISION_BY_MAX + 1, "%s", identity);
    } else {
        snprintf(by_buf, CSPH_DECISION_BY_MAX + 1, "%.*s", (int)by_len, by ? by : "");
    }
    out->by = by_buf;
    out->by_len = strlen(by_buf);
    return CSPH_ERR_OK;
}

static int decision_parse(const MDB_val *v, struct hub_decision *d)
{
    if (v->mv_size < 9 || v->mv_size > 9 + CSPH_DECISION_BY_MAX)
        return -1;
    const unsigned char *p = v->mv_data;
    d->seq = hub_get_be64(p);
    d->status = p[8];
    memcpy(d->by, p + 9, v->mv_size - 9);
    d->by[v->mv_size - 9] = 0;
    return 0;
}

enum hub_err hub_decision_each(MDB_txn *txn, uint64_t id, hub_decision_fn fn, void *ctx,
                               struct hub_error *err)
{
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn, DECISIONS_DB, MDB_DUPSORT, &dbi);
    if (rc == MDB_NOTFOUND)
        return CSPH_ERR_OK;
    if (rc)
        return lmdb_fail(err, rc, "opening the decisions");
    unsigned char kb[8];
    hub_put_be64(kb, id);
    MDB_val k = {8, kb}, v;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)))
        return lmdb_fail(err, rc, "reading the decisions");
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        struct hub_decision d;
        if (decision_parse(&v, &d) == 0 && fn(ctx, &d))
            break;
    }
    mdb_cursor_close(cur);
    return CSPH_ERR_OK;
}
