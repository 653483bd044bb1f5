#include "decision.h"

#include <stdio.h>
#include <string.h>

#include "bekey.h"

/* Key: the alert id, big-endian (ids in order). Sorted duplicates, one per
 * decision: seq (big-endian, so they sort in log order) | status | by. The
 * last duplicate is the decision in force; the others are its history. */
#define DECISIONS_DB "decisions"

int csph_decision_allowed(enum csph_alert_status from, enum csph_alert_status to)
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
static void moves_text(enum csph_alert_status from, char *out, size_t n)
{
    const char *names[CSPH_ALERT__COUNT];
    size_t k = 0;
    for (int to = 0; to < CSPH_ALERT__COUNT; to++)
        if (csph_decision_allowed(from, (enum csph_alert_status)to))
            names[k++] = csph_alert_status_name((enum csph_alert_status)to);
    out[0] = 0;
    size_t used = 0;
    for (size_t i = 0; i < k && used < n; i++)
        used += (size_t)snprintf(out + used, n - used, "%s%s", i == 0 ? "" : i + 1 == k ? " or " : ", ",
                                 names[i]);
}

static void by_text(const struct csph_decision *last, int current, char *out, size_t n)
{
    if (last && last->status == current && last->by[0])
        snprintf(out, n, " (by %s)", last->by);
    else
        out[0] = 0;
}

enum csph_err csph_decision_check(int current, const struct csph_decision *last,
                                  const struct csph_decision_request *r, uint64_t *repeat_seq,
                                  struct csph_error *err)
{
    *repeat_seq = 0;
    const char *cur = csph_alert_status_name((enum csph_alert_status)current);
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
        return csph_error_set(err, CSPH_ERR_CONFLICT, "expect",
                              "alert %llu is %s%s, not %s: someone changed it since it was read",
                              (unsigned long long)r->id, cur, by,
                              csph_alert_status_name((enum csph_alert_status)r->expect));
    if (r->status == current)
        return csph_error_set(err, CSPH_ERR_CONFLICT, "status", "alert %llu is already %s%s",
                              (unsigned long long)r->id, cur, by);
    if (!csph_decision_allowed((enum csph_alert_status)current,
                               (enum csph_alert_status)r->status)) {
        char moves[96];
        moves_text((enum csph_alert_status)current, moves, sizeof moves);
        return csph_error_set(err, CSPH_ERR_CONFLICT, "status",
                              "alert %llu is %s%s: it can move to %s, not %s",
                              (unsigned long long)r->id, cur, by, moves,
                              csph_alert_status_name((enum csph_alert_status)r->status));
    }
    if (r->status == CSPH_ALERT_OPEN && r->note_len == 0)
        return csph_error_set(err, CSPH_ERR_BAD_REQUEST, "note",
                              "reopening alert %llu needs a note saying why",
                              (unsigned long long)r->id);
    return CSPH_ERR_OK;
}

static int decision_parse(const MDB_val *v, struct csph_decision *d);

static enum csph_err lmdb_fail(struct csph_error *err, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        return csph_error_set(err, CSPH_ERR_BUSY, NULL, "the hub's storage limit is reached");
    return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "%s: %s", what, mdb_strerror(rc));
}

enum csph_err csph_decision_get(struct csph_store *s, MDB_txn *txn, uint64_t id,
                                struct csph_decision *out, int *found, struct csph_error *err)
{
    (void)s;
    *found = 0;
    MDB_dbi dbi;
    /* No MDB_CREATE: a store that never recorded a decision has none. */
    int rc = mdb_dbi_open(txn, DECISIONS_DB, MDB_DUPSORT, &dbi);
    if (rc == MDB_NOTFOUND)
        return CSPH_ERR_OK;
    if (rc)
        return lmdb_fail(err, rc, "opening the decisions");
    unsigned char kb[8];
    csph_put_be64(kb, id);
    MDB_val k = {8, kb}, v;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)))
        return lmdb_fail(err, rc, "reading the decisions");
    rc = mdb_cursor_get(cur, &k, &v, MDB_SET);
    if (rc == 0)
        rc = mdb_cursor_get(cur, &k, &v, MDB_LAST_DUP);
    if (rc == 0 && decision_parse(&v, out) == 0)
        *found = 1;
    mdb_cursor_close(cur);
    return rc == 0 || rc == MDB_NOTFOUND ? CSPH_ERR_OK : lmdb_fail(err, rc, "reading a decision");
}

enum csph_err csph_decision_record(struct csph_store *s, uint64_t id,
                                   const struct csph_decision *d, struct csph_error *err)
{
    MDB_dbi dbi;
    enum csph_err e = csph_store_dbi(s, DECISIONS_DB, MDB_DUPSORT, &dbi, err);
    if (e)
        return e;
    unsigned char kb[8], vb[9 + CSPH_DECISION_BY_MAX];
    size_t by_len = strnlen(d->by, CSPH_DECISION_BY_MAX);
    csph_put_be64(kb, id);
    csph_put_be64(vb, d->seq);
    vb[8] = (unsigned char)d->status;
    memcpy(vb + 9, d->by, by_len);
    MDB_val k = {8, kb}, v = {9 + by_len, vb};
    int rc = mdb_put(csph_store_txn(s), dbi, &k, &v, 0);
    return rc ? lmdb_fail(err, rc, "recording a decision") : CSPH_ERR_OK;
}

enum csph_err csph_decision_admit(struct csph_queues *q, struct csph_store *s,
                                  const struct csph_decision_request *r, int *panel_index,
                                  uint64_t *repeat_seq, struct csph_error *err)
{
    MDB_txn *txn = csph_store_txn(s);
    struct csph_alert_brief b;
    *repeat_seq = 0;
    enum csph_err e = csph_queues_alert_brief(q, txn, r->id, &b, err);
    if (e)
        return e;
    *panel_index = b.panel_index;
    int current = b.status;
    csph_alert_brief_free(&b);
    struct csph_decision last;
    int found = 0;
    if ((e = csph_decision_get(s, txn, r->id, &last, &found, err)))
        return e;
    return csph_decision_check(current, found ? &last : NULL, r, repeat_seq, err);
}

static enum csph_err status_arg(const struct csph_request *r, const char *key, int required,
                                int *out, struct csph_error *err)
{
    const char *st = NULL;
    size_t len = 0;
    enum csph_err e = csph_wire_str(r, key, 1, 32, required, &st, &len, err);
    if (e || !st)
        return e;
    if ((*out = csph_alert_status_parse(st, len)) < 0)
        return csph_error_set(err, CSPH_ERR_BAD_REQUEST, key,
                              "'%s' must be open, acknowledged, accepted, declined or closed",
                              key);
    return CSPH_ERR_OK;
}

enum csph_err csph_decision_parse(const struct csph_request *r, const char *identity,
                                  struct csph_decision_request *out, char *by_buf,
                                  struct csph_error *err)
{
    const char *by = NULL;
    size_t by_len = 0;
    out->expect = -1;
    enum csph_err e = status_arg(r, "status", 1, &out->status, err);
    if (!e)
        e = status_arg(r, "expect", 0, &out->expect, err);
    if (!e)
        e = csph_wire_str(r, "by", 1, CSPH_DECISION_BY_MAX, 0, &by, &by_len, err);
    if (e)
        return e;
    for (size_t i = 0; by && i < by_len; i++)
        if ((unsigned char)by[i] < 0x20 || by[i] == 0x7f)
            return csph_error_set(err, CSPH_ERR_BAD_REQUEST, "by",
                                  "'by' must be a name without control characters");
    if (identity) {
        if (by && (strlen(identity) != by_len || memcmp(identity, by, by_len) != 0))
            return csph_error_set(err, CSPH_ERR_FORBIDDEN, "by",
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

static int decision_parse(const MDB_val *v, struct csph_decision *d)
{
    if (v->mv_size < 9 || v->mv_size > 9 + CSPH_DECISION_BY_MAX)
        return -1;
    const unsigned char *p = v->mv_data;
    d->seq = csph_get_be64(p);
    d->status = p[8];
    memcpy(d->by, p + 9, v->mv_size - 9);
    d->by[v->mv_size - 9] = 0;
    return 0;
}

enum csph_err csph_decision_each(MDB_txn *txn, uint64_t id, csph_decision_fn fn, void *ctx,
                                 struct csph_error *err)
{
    MDB_dbi dbi;
    int rc = mdb_dbi_open(txn, DECISIONS_DB, MDB_DUPSORT, &dbi);
    if (rc == MDB_NOTFOUND)
        return CSPH_ERR_OK;
    if (rc)
        return lmdb_fail(err, rc, "opening the decisions");
    unsigned char kb[8];
    csph_put_be64(kb, id);
    MDB_val k = {8, kb}, v;
    MDB_cursor *cur;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)))
        return lmdb_fail(err, rc, "reading the decisions");
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
        struct csph_decision d;
        if (decision_parse(&v, &d) == 0 && fn(ctx, &d))
            break;
    }
    mdb_cursor_close(cur);
    return CSPH_ERR_OK;
}
