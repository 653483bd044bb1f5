#include "queues.h"
#include "queuespriv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "redo.h"
#include "restrictview.h"
#include "bekey.h"
#include "timefmt.h"
#include "wire.h"

#define RESTRICTED_REASON "A case meets this panel's criteria; details are available to the panel's auditor."

static const char *const status_names[] = {
#define CSPH_AS_STR(name, str) str,
    CSPH_ALERT_STATUS_MAP(CSPH_AS_STR)
#undef CSPH_AS_STR
};

const char *hub_alert_status_name(enum hub_alert_status s)
{
    return (unsigned)s < CSPH_ALERT__COUNT ? status_names[s] : "open";
}

int hub_alert_status_parse(const char *s, size_t len)
{
    for (int i = 0; i < CSPH_ALERT__COUNT; i++)
        if (strlen(status_names[i]) == len && memcmp(status_names[i], s, len) == 0)
            return i;
    return -1;
}


enum hub_err hub_queues_lmdb_fail(struct hub_error *err, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "%s: the hub's storage limit is reached",
                             what);
    LOG_ERROR("queues", "%s: %s", what, mdb_strerror(rc));
    return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "%s: storage failure", what);
}

/* Keys "panel \0 tail": returns the length written into out. */
size_t hub_queues_panel_key(unsigned char *out, const char *panel, const void *tail, size_t tail_len)
{
    size_t pl = strlen(panel);
    memcpy(out, panel, pl);
    out[pl] = 0;
    memcpy(out + pl + 1, tail, tail_len);
    return pl + 1 + tail_len;
}

void hub_queues_deadline_key(unsigned char out[16], int64_t due_ms, uint64_t id)
{
    /* Offset so that negative times sort before positive ones. */
    hub_put_be64(out, (uint64_t)due_ms ^ 0x8000000000000000ull);
    hub_put_be64(out + 8, id);
}

/* The queues' databases in txn (created unless the environment is
 * read-only). */
static int queues_dbis(struct hub_queues *q, MDB_txn *txn, unsigned create)
{
    int rc;
    if ((rc = mdb_dbi_open(txn, "alerts", create | MDB_INTEGERKEY, &q->alerts)) ||
        (rc = mdb_dbi_open(txn, "panel_alerts", create, &q->panel_alerts)) ||
        (rc = mdb_dbi_open(txn, "cursors", create, &q->cursors)) ||
        (rc = mdb_dbi_open(txn, "deadlines", create, &q->deadlines)) ||
        (rc = mdb_dbi_open(txn, "case_alerts", create | MDB_DUPSORT, &q->cases)) ||
        (rc = mdb_dbi_open(txn, "queue_meta", create, &q->meta)))
        return rc;
    return 0;
}

void hub_queues_set_redo(struct hub_queues *q, struct hub_redo *redo)
{
    q->redo = redo;
    hub_redo_name(redo, q->alerts, "alerts", MDB_INTEGERKEY);
    hub_redo_name(redo, q->panel_alerts, "panel_alerts", 0);
    hub_redo_name(redo, q->cursors, "cursors", 0);
    hub_redo_name(redo, q->deadlines, "deadlines", 0);
    hub_redo_name(redo, q->cases, "case_alerts", MDB_DUPSORT);
    hub_redo_name(redo, q->meta, "queue_meta", 0);
}

enum hub_err hub_queues_reopen(struct hub_queues *q, MDB_env *env, struct hub_error *err)
{
    MDB_txn *txn;
    q->env = env;
    int rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc == 0) {
        if ((rc = queues_dbis(q, txn, MDB_CREATE)))
            mdb_txn_abort(txn);
        else
            rc = mdb_txn_commit(txn);
    }
    if (rc == 0 && q->redo)
        hub_queues_set_redo(q, q->redo); /* the handles may be new */
    return rc ? hub_queues_lmdb_fail(err, rc, "opening the panel queues again") : CSPH_ERR_OK;
}

enum hub_err hub_queues_open(struct hub_queues **out, MDB_env *env,
                             const struct hub_config *cfg, struct hub_error *err)
{
    struct hub_queues *q = calloc(1, sizeof *q);
    if (!q)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    q->env = env;
    q->cfg = cfg;
    msgpack_sbuffer_init(&q->buf);
    msgpack_sbuffer_init(&q->red);
    msgpack_sbuffer_init(&q->shown);
    MDB_txn *txn;
    unsigned env_flags = 0;
    mdb_env_get_flags(env, &env_flags);
    /* A read-only environment (re-derivation's source) cannot create. */
    unsigned ro = env_flags & MDB_RDONLY, create = ro ? 0 : MDB_CREATE;
    int rc = mdb_txn_begin(env, NULL, ro, &txn);
    if (rc) {
        hub_queues_close(&q);
        return hub_queues_lmdb_fail(err, rc, "opening the panel queues");
    }
    if ((rc = queues_dbis(q, txn, create))) {
        mdb_txn_abort(txn);
        hub_queues_close(&q);
        return hub_queues_lmdb_fail(err, rc, "opening the panel queues");
    }
    MDB_cursor *cur;
    MDB_val k, v;
    mdb_cursor_open(txn, q->alerts, &cur);
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0)
        memcpy(&q->last_id, k.mv_data, 8);
    mdb_cursor_close(cur);
    for (size_t i = 0; i < cfg->npanels; i++) {
        char name[80];
        int n = snprintf(name, sizeof name, "count:%s", cfg->panels[i].name);
        MDB_val mk = {(size_t)n, name};
        if (mdb_get(txn, q->meta, &mk, &v) == 0 && v.mv_size == 8)
            memcpy(&q->counts[i], v.mv_data, 8);
    }
    if ((rc = mdb_txn_commit(txn))) {
        hub_queues_close(&q);
        return hub_queues_lmdb_fail(err, rc, "opening the panel queues");
    }
    *out = q;
    return CSPH_ERR_OK;
}

void hub_queues_close(struct hub_queues **qp)
{
    if (!qp || !*qp)
        return;
    msgpack_sbuffer_destroy(&(*qp)->buf);
    msgpack_sbuffer_destroy(&(*qp)->red);
    msgpack_sbuffer_destroy(&(*qp)->shown);
    free(*qp);
    *qp = NULL;
}

void hub_queues_txn_begin(struct hub_queues *q)
{
    q->txn_last_id = q->last_id;
    memcpy(q->txn_counts, q->counts, sizeof q->counts);
    q->txn_touched = 0;
}

void hub_queues_txn_end(struct hub_queues *q, int committed)
{
    if (committed) {
        q->last_id = q->txn_last_id;
        memcpy(q->counts, q->txn_counts, sizeof q->counts);
        q->touched = q->txn_touched;
    } else {
        q->touched = 0;
    }
}

uint64_t hub_queues_touched(const struct hub_queues *q) { return q->touched; }

void hub_queues_counts(const struct hub_queues *q, uint64_t *counts)
{
    memcpy(counts, q->counts, sizeof q->counts);
}

/* A key value keeps the kind it had in the event: the overdue rule's key
 * is alert 17 (a number), as in its timer.fired. */
static void pack_key(msgpack_packer *pk, const struct hub_alert_draft *d)
{
    msgpack_pack_map(pk, d->nkey);
    for (size_t i = 0; i < d->nkey; i++) {
        const char *v = d->key_values[i];
        char *end;
        hub_pack_str(pk, d->key_names[i]);
        if (d->key_tags[i] == 'n' && v[0] == '-') {
            long long n = strtoll(v, &end, 10);
            if (!*end) {
                msgpack_pack_int64(pk, n);
                continue;
            }
        } else if (d->key_tags[i] == 'n') {
            unsigned long long n = strtoull(v, &end, 10);
            if (!*end) {
                msgpack_pack_uint64(pk, n);
                continue;
            }
        } else if (d->key_tags[i] == 'b') {
            if (!strcmp(v, "true")) {
                msgpack_pack_true(pk);
                continue;
            }
            if (!strcmp(v, "false")) {
                msgpack_pack_false(pk);
                continue;
            }
        }
        hub_pack_str(pk, v);
    }
}

/* The static pairs of an alert; redacted for restricted panels' queues. */
static void pack_pairs(msgpack_packer *pk, uint64_t id, const struct hub_alert_draft *d,
                       const char *panel, const char *rule_version, int redacted)
{
    char when[32];
    hub_pack_str(pk, "id");
    msgpack_pack_uint64(pk, id);
    hub_pack_str(pk, "panel");
    hub_pack_str(pk, panel);
    hub_pack_str(pk, "rule");
    hub_pack_str(pk, d->rule);
    hub_pack_str(pk, "rule_version");
    hub_pack_str(pk, rule_version);
    hub_pack_str(pk, "priority");
    hub_pack_str(pk, hub_priority_name(d->priority));
    hub_pack_str(pk, "key");
    pack_key(pk, d);
    hub_pack_str(pk, "reason");
    hub_pack_str(pk, redacted ? RESTRICTED_REASON : d->reason);
    hub_pack_str(pk, "evidence");
    msgpack_pack_array(pk, redacted ? 0 : d->nevidence);
    for (size_t i = 0; !redacted && i < d->nevidence; i++)
        msgpack_pack_uint64(pk, d->evidence[i]);
    hub_pack_str(pk, "raised_at");
    hub_pack_strn(pk, when, (size_t)csph_time_format(d->raised_ms, when));
}
#define ALERT_PAIRS 9

static void key_text(const struct hub_alert_draft *d, char *out, size_t n)
{
    size_t off = 0;
    out[0] = 0;
    for (size_t i = 0; i < d->nkey && off < n; i++)
        off += (size_t)snprintf(out + off, n - off, "%s%s", i ? ", " : "", d->key_values[i]);
}

static enum hub_err add_case_index(struct hub_queues *q, MDB_txn *txn, const char *panel,
                                   const struct hub_alert_draft *d, uint64_t id, int del,
                                   struct hub_error *err)
{
    unsigned char kb[80 + 260], idb[8];
    hub_put_be64(idb, id);
    for (size_t i = 0; i < d->nkey; i++) {
        size_t vl = strlen(d->key_values[i]);
        if (vl > 256)
            continue;
        MDB_val k = {hub_queues_panel_key(kb, panel, d->key_values[i], vl), kb}, v = {8, idb};
        int rc = del ? hub_redo_del(q->redo, txn, q->cases, &k, &v) : hub_redo_put(q->redo, txn, q->cases, &k, &v, 0);
        if (rc && rc != MDB_NOTFOUND && rc != MDB_KEYEXIST)
            return hub_queues_lmdb_fail(err, rc, "indexing a case");
    }
    return CSPH_ERR_OK;
}

enum hub_err hub_queues_insert(struct hub_queues *q, MDB_txn *txn,
                               const struct hub_alert_draft *d, const char *rule_version,
                               uint64_t *idp, struct hub_error *err)
{
    const struct hub_panel *panel = &q->cfg->panels[d->panel_index];
    if (q->keep) { /* hook: re-derivation puts its kept alerts first (alertredact.h) */
        enum hub_err e = q->keep(q->keep_ctx, q, txn, d, err);
        if (e)
            return e;
    }
    uint64_t id = q->txn_last_id + 1;
    msgpack_packer pk;
    q->buf.size = 0;
    msgpack_packer_init(&pk, &q->buf, msgpack_sbuffer_write);
    pack_pairs(&pk, id, d, panel->name, rule_version, 0);
    q->red.size = 0;
    if (panel->restricted) {
        msgpack_packer_init(&pk, &q->red, msgpack_sbuffer_write);
        pack_pairs(&pk, id, d, panel->name, rule_version, 1);
    }
    char key[256];
    key_text(d, key, sizeof key);
    size_t pl = strlen(panel->name), rl = strlen(d->rule), kl = strlen(key);
    if (rl > 255)
        rl = 255;
    size_t total = REC_FIXED + 1 + pl + 1 + rl + 1 + kl + 4 + q->buf.size + 4 + q->red.size;
    MDB_val k = {8, &id}, v = {total, NULL};
    int rc = hub_redo_put(q->redo, txn, q->alerts, &k, &v, MDB_APPEND | MDB_RESERVE);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "storing an alert");
    unsigned char *p = v.mv_data;
    int64_t due = d->has_due ? d->due_ms : NO_DUE;
    p[0] = CSPH_ALERT_OPEN;
    p[1] = (unsigned char)d->priority;
    p[2] = ALERT_PAIRS;
    p[3] = 0;
    memcpy(p + 4, &due, 8);
    memcpy(p + 12, &d->raised_ms, 8);
    p += REC_FIXED;
    *p++ = (unsigned char)pl;
    memcpy(p, panel->name, pl);
    p += pl;
    *p++ = (unsigned char)rl;
    memcpy(p, d->rule, rl);
    p += rl;
    *p++ = (unsigned char)kl;
    memcpy(p, key, kl);
    p += kl;
    uint32_t l = (uint32_t)q->buf.size;
    memcpy(p, &l, 4);
    memcpy(p + 4, q->buf.data, l);
    p += 4 + l;
    l = (uint32_t)q->red.size;
    memcpy(p, &l, 4);
    if (l)
        memcpy(p + 4, q->red.data, l);
    hub_redo_filled(q->redo, q->alerts, &k, &v, MDB_APPEND);

    unsigned char kb[80], idb[8];
    hub_put_be64(idb, id);
    unsigned char st = CSPH_ALERT_OPEN;
    MDB_val pk2 = {hub_queues_panel_key(kb, panel->name, idb, 8), kb}, pv = {1, &st};
    if ((rc = hub_redo_put(q->redo, txn, q->panel_alerts, &pk2, &pv, MDB_APPEND)) &&
        (rc = hub_redo_put(q->redo, txn, q->panel_alerts, &pk2, &pv, 0)))
        return hub_queues_lmdb_fail(err, rc, "queueing an alert");
    if (d->has_due) {
        unsigned char dk[16];
        hub_queues_deadline_key(dk, d->due_ms, id);
        MDB_val dkv = {16, dk}, empty = {0, NULL};
        if ((rc = hub_redo_put(q->redo, txn, q->deadlines, &dkv, &empty, 0)))
            return hub_queues_lmdb_fail(err, rc, "storing a deadline");
        enum hub_err e = add_case_index(q, txn, panel->name, d, id, 0, err);
        if (e)
            return e;
    }
    q->txn_counts[d->panel_index]++;
    char name[80];
    int n = snprintf(name, sizeof name, "count:%s", panel->name);
    MDB_val mk = {(size_t)n, name}, mv = {8, &q->txn_counts[d->panel_index]};
    if ((rc = hub_redo_put(q->redo, txn, q->meta, &mk, &mv, 0)))
        return hub_queues_lmdb_fail(err, rc, "counting an alert");
    q->txn_last_id = id;
    q->txn_touched |= 1ull << d->panel_index;
    *idp = id;
    return CSPH_ERR_OK;
}


int hub_queues_rec_parse(const MDB_val *v, struct hub_queue_rec *r)
{
    unsigned char *p = v->mv_data, *end = p + v->mv_size;
    if (v->mv_size < REC_FIXED + 3 + 8)
        return -1;
    r->base = p;
    r->status = p[0];
    r->priority = p[1];
    r->npairs = p[2];
    memcpy(&r->due_ms, p + 4, 8);
    memcpy(&r->raised_ms, p + 12, 8);
    p += REC_FIXED;
    r->panel_len = *p++;
    r->panel = (const char *)p;
    p += r->panel_len;
    r->rule_len = *p++;
    r->rule = (const char *)p;
    p += r->rule_len;
    r->key_len = *p++;
    r->key = (const char *)p;
    p += r->key_len;
    if (p + 4 > end)
        return -1;
    memcpy(&r->full_len, p, 4);
    r->full = p + 4;
    p += 4 + r->full_len;
    if (p + 4 > end)
        return -1;
    memcpy(&r->red_len, p, 4);
    r->red = p + 4;
    return p + 4 + r->red_len <= end ? 0 : -1;
}

void hub_queues_pack_rec(msgpack_packer *pk, const struct hub_queue_rec *r, int full)
{
    int has_due = r->due_ms != NO_DUE;
    msgpack_pack_map(pk, (size_t)r->npairs + 1 + (has_due ? 1 : 0));
    if (!full && r->red_len)
        hub_pack_raw(pk, r->red, r->red_len);
    else
        hub_pack_raw(pk, r->full, r->full_len);
    if (has_due) {
        char when[32];
        hub_pack_str(pk, "due_at");
        hub_pack_strn(pk, when, (size_t)csph_time_format(r->due_ms, when));
    }
    hub_pack_str(pk, "status");
    hub_pack_str(pk, hub_alert_status_name((enum hub_alert_status)r->status));
}

/* ---- reply sizes: what an alert takes, and an alert cut to fit ---------- */

/* A packer that only counts: what packing would write, without writing. */
static int count_write(void *data, const char *buf, size_t len)
{
    (void)buf;
    *(size_t *)data += len;
    return 0;
}

static size_t rec_size(const struct hub_queue_rec *r, int full)
{
    size_t n = 0;
    msgpack_packer cp;
    msgpack_packer_init(&cp, &n, count_write);
    hub_queues_pack_rec(&cp, r, full);
    return n;
}

/* Where the evidence array is inside an alert's pairs. */
struct ev_span {
    size_t key_off;   /* the "evidence" key */
    size_t elems_off; /* the first element (after the array header) */
    size_t end_off;   /* just after the last element */
    uint32_t n;       /* elements */
};

/* Bytes of the evidence element at p (a MessagePack unsigned integer, as
 * the queues pack them), or 0 when it is not one or runs past end. */
static size_t ev_elem_size(const unsigned char *p, const unsigned char *end)
{
    size_t n;
    if (p >= end)
        return 0;
    if (*p <= 0x7f)
        n = 1;
    else if (*p == 0xcc)
        n = 2;
    else if (*p == 0xcd)
        n = 3;
    else if (*p == 0xce)
        n = 5;
    else if (*p == 0xcf)
        n = 9;
    else
        return 0;
    return (size_t)(end - p) >= n ? n : 0;
}

static const char *rec_pairs(const struct hub_queue_rec *r, int full, size_t *len)
{
    if (!full && r->red_len) {
        *len = r->red_len;
        return r->red;
    }
    *len = r->full_len;
    return r->full;
}

/* Find the evidence array in pairs (npairs key/value pairs, len bytes).
 * Returns 0, or -1 when there is none or it is not readable. */
static int find_evidence(const void *pairs, size_t len, int npairs, struct ev_span *e)
{
    const unsigned char *b = pairs, *end = b + len;
    msgpack_unpacked u;
    size_t off = 0;
    int found = -1;
    msgpack_unpacked_init(&u);
    for (int i = 0; i < npairs && found < 0; i++) {
        size_t key_off = off;
        if (msgpack_unpack_next(&u, pairs, len, &off) != MSGPACK_UNPACK_SUCCESS)
            break;
        int is_ev = u.data.type == MSGPACK_OBJECT_STR && u.data.via.str.size == 8 &&
                    !memcmp(u.data.via.str.ptr, "evidence", 8);
        if (!is_ev) {
            if (msgpack_unpack_next(&u, pairs, len, &off) != MSGPACK_UNPACK_SUCCESS)
                break;
            continue;
        }
        const unsigned char *p = b + off;
        uint32_t n;
        size_t hdr;
        if (p >= end)
            break;
        if ((*p & 0xf0) == 0x90) {
            n = *p & 0x0f;
            hdr = 1;
        } else if (*p == 0xdc && end - p >= 3) {
            n = (uint32_t)p[1] << 8 | p[2];
            hdr = 3;
        } else if (*p == 0xdd && end - p >= 5) {
            n = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | p[4];
            hdr = 5;
        } else {
            break;
        }
        const unsigned char *q = p + hdr;
        uint32_t k;
        for (k = 0; k < n; k++) {
            size_t sz = ev_elem_size(q, end);
            if (!sz)
                break;
            q += sz;
        }
        if (k < n)
            break;
        e->key_off = key_off;
        e->elems_off = (size_t)(p + hdr - b);
        e->end_off = (size_t)(q - b);
        e->n = n;
        found = 0;
    }
    msgpack_unpacked_destroy(&u);
    return found;
}

/* From element `from` of the evidence, take elements while fewer than max
 * and their bytes stay within room: bytes [*b0, *b1) of pairs, *taken
 * elements. */
static void ev_slice(const char *pairs, const struct ev_span *e, uint64_t from, uint64_t max,
                     size_t room, size_t *b0, size_t *b1, uint32_t *taken)
{
    const unsigned char *b = (const unsigned char *)pairs, *end = b + e->end_off,
                        *q = b + e->elems_off;
    uint64_t i = 0;
    for (; i < from && i < e->n; i++)
        q += ev_elem_size(q, end);
    *b0 = *b1 = (size_t)(q - b);
    *taken = 0;
    for (; i < e->n && *taken < max; i++) {
        size_t sz = ev_elem_size(q, end);
        if (*b1 - *b0 + sz > room)
            break;
        q += sz;
        *b1 += sz;
        (*taken)++;
    }
}

/* r with the evidence bytes [b0, b1) of pairs (k elements) in place of its
 * evidence, then evidence_total and evidence_next. */
static void pack_cut(msgpack_packer *p, const struct hub_queue_rec *r, const char *pairs, size_t len,
                     const struct ev_span *e, size_t b0, size_t b1, uint64_t k, uint64_t total,
                     uint64_t next)
{
    int has_due = r->due_ms != NO_DUE;
    msgpack_pack_map(p, (size_t)r->npairs + 3 + (has_due ? 1 : 0));
    hub_pack_raw(p, pairs, e->key_off); /* the pairs before the evidence */
    hub_pack_str(p, "evidence");
    msgpack_pack_array(p, (size_t)k);
    hub_pack_raw(p, pairs + b0, b1 - b0);
    hub_pack_raw(p, pairs + e->end_off, len - e->end_off); /* and after it */
    hub_pack_str(p, "evidence_total");
    msgpack_pack_uint64(p, total);
    hub_pack_str(p, "evidence_next");
    msgpack_pack_uint64(p, next);
    if (has_due) {
        char when[32];
        hub_pack_str(p, "due_at");
        hub_pack_strn(p, when, (size_t)csph_time_format(r->due_ms, when));
    }
    hub_pack_str(p, "status");
    hub_pack_str(p, hub_alert_status_name((enum hub_alert_status)r->status));
}

/* Pack r with its evidence cut to the first K elements, K the most that
 * keep the whole alert within room bytes (0 when even the rest of it does
 * not fit), followed by evidence_total (how many the whole evidence has)
 * and evidence_next (K: where the `evidence` op goes on). Returns the bytes
 * packed. An alert whose evidence is not readable (never the case for what
 * hub_queues_insert stored) is packed whole. */
static size_t pack_rec_cut(msgpack_packer *pk, const struct hub_queue_rec *r, int full, size_t room)
{
    size_t len, n = 0;
    const char *pairs = rec_pairs(r, full, &len);
    struct ev_span e;
    msgpack_packer cp;
    msgpack_packer_init(&cp, &n, count_write);
    if (find_evidence(pairs, len, r->npairs, &e)) {
        hub_queues_pack_rec(pk, r, full);
        hub_queues_pack_rec(&cp, r, full);
        return n;
    }
    /* The rest at its widest: no element, the counts as 9-byte integers,
     * and 4 bytes for the array header growing from 1 to 5. */
    pack_cut(&cp, r, pairs, len, &e, 0, 0, 0, UINT64_MAX, UINT64_MAX);
    size_t fixed = n + 4, b0, b1;
    uint32_t k;
    ev_slice(pairs, &e, 0, UINT64_MAX, room > fixed ? room - fixed : 0, &b0, &b1, &k);
    n = 0;
    pack_cut(&cp, r, pairs, len, &e, b0, b1, k, e.n, k);
    pack_cut(pk, r, pairs, len, &e, b0, b1, k, e.n, k);
    return n;
}

/* Remove (put: arm again) id's deadline, if it has a due date, and its
 * case-index entries. */
enum hub_err hub_queues_deadline_entries(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                     const struct hub_queue_rec *r, int put, struct hub_error *err)
{
    if (r->due_ms == NO_DUE)
        return CSPH_ERR_OK;
    const char *what = put ? "arming a deadline again" : "ending a deadline";
    unsigned char dk[16];
    hub_queues_deadline_key(dk, r->due_ms, id);
    MDB_val k = {16, dk}, empty = {0, NULL};
    int rc = put ? hub_redo_put(q->redo, txn, q->deadlines, &k, &empty, 0)
                 : hub_redo_del(q->redo, txn, q->deadlines, &k, NULL);
    if (rc && rc != MDB_NOTFOUND)
        return hub_queues_lmdb_fail(err, rc, what);
    /* The case index holds the key's values; each one. */
    char panel[80], vals[260];
    snprintf(panel, sizeof panel, "%.*s", (int)r->panel_len, r->panel);
    snprintf(vals, sizeof vals, "%.*s", (int)r->key_len, r->key);
    unsigned char kb[80 + 260], idb[8];
    hub_put_be64(idb, id);
    for (char *save = NULL, *tok = strtok_r(vals, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        MDB_val ck = {hub_queues_panel_key(kb, panel, tok, strlen(tok)), kb}, cv = {8, idb};
        rc = put ? hub_redo_put(q->redo, txn, q->cases, &ck, &cv, 0)
                 : hub_redo_del(q->redo, txn, q->cases, &ck, &cv);
        if (rc && rc != MDB_NOTFOUND && rc != MDB_KEYEXIST)
            return hub_queues_lmdb_fail(err, rc, what);
    }
    return CSPH_ERR_OK;
}

static enum hub_err end_deadline(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                 struct hub_queue_rec *r, struct hub_error *err)
{
    return hub_queues_deadline_entries(q, txn, id, r, 0, err);
}

/* Rewrite the mutable header of alert id. */
static enum hub_err update_rec(struct hub_queues *q, MDB_txn *txn, uint64_t id, int status,
                               int64_t due_ms, struct hub_error *err)
{
    MDB_val k = {8, &id}, v;
    int rc = mdb_get(txn, q->alerts, &k, &v);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading an alert");
    /* Copy-on-write: LMDB values from a get must not be written in place. */
    unsigned char *copy = malloc(v.mv_size);
    if (!copy)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    memcpy(copy, v.mv_data, v.mv_size);
    copy[0] = (unsigned char)status;
    memcpy(copy + 4, &due_ms, 8);
    MDB_val nv = {v.mv_size, copy};
    rc = hub_redo_put(q->redo, txn, q->alerts, &k, &nv, 0);
    free(copy);
    return rc ? hub_queues_lmdb_fail(err, rc, "updating an alert") : CSPH_ERR_OK;
}

/* Alert id's record in txn (borrowed: valid until txn writes or ends);
 * NOT_FOUND in the words every op uses. */
enum hub_err hub_queues_read_rec(struct hub_queues *q, MDB_txn *txn, uint64_t id, struct hub_queue_rec *r,
                             struct hub_error *err)
{
    MDB_val k = {8, &id}, v;
    int rc = mdb_get(txn, q->alerts, &k, &v);
    if (rc == MDB_NOTFOUND || (rc == 0 && hub_queues_rec_parse(&v, r) != 0))
        return hub_error_set(err, CSPH_ERR_NOT_FOUND, "id", "no alert with id %llu",
                             (unsigned long long)id);
    return rc ? hub_queues_lmdb_fail(err, rc, "reading an alert") : CSPH_ERR_OK;
}

enum hub_err hub_queues_set_status(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                   enum hub_alert_status status, int *panel_index,
                                   struct hub_error *err)
{
    struct hub_queue_rec r;
    int rc;
    enum hub_err e = hub_queues_read_rec(q, txn, id, &r, err);
    if (e)
        return e;
    *panel_index = hub_config_panel_find(q->cfg, r.panel, r.panel_len);
    char panel[80];
    snprintf(panel, sizeof panel, "%.*s", (int)r.panel_len, r.panel);
    e = end_deadline(q, txn, id, &r, err);
    if (e)
        return e;
    unsigned char kb[80], idb[8], st = (unsigned char)status;
    hub_put_be64(idb, id);
    MDB_val pk = {hub_queues_panel_key(kb, panel, idb, 8), kb}, pv = {1, &st};
    if ((rc = hub_redo_put(q->redo, txn, q->panel_alerts, &pk, &pv, 0)))
        return hub_queues_lmdb_fail(err, rc, "updating a queue");
    /* A decision keeps the due date on record but no longer runs a timer.
     * Reopening runs it again: an alert reopened past its due date is
     * overdue at once and escalates (timer.fired) as an open one does. */
    if (status == CSPH_ALERT_OPEN && (e = hub_queues_deadline_entries(q, txn, id, &r, 1, err)))
        return e;
    return update_rec(q, txn, id, status, r.due_ms, err);
}

enum hub_err hub_queues_case_update(struct hub_queues *q, MDB_txn *txn,
                                    const struct hub_rules *rules, int panel_index,
                                    const char *value, size_t value_len, int closed,
                                    int has_risk, enum hub_priority risk,
                                    struct hub_error *err)
{
    if (!closed && !has_risk)
        return CSPH_ERR_OK;
    const char *panel = q->cfg->panels[panel_index].name;
    unsigned char kb[80 + 260];
    if (value_len > 256)
        return CSPH_ERR_OK;
    MDB_val k = {hub_queues_panel_key(kb, panel, value, value_len), kb}, v;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, q->cases, &cur);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading the case index");
    /* Collect first: ending a deadline edits the index being walked. */
    uint64_t ids[256];
    size_t n = 0;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET); rc == 0 && n < 256;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP))
        ids[n++] = hub_get_be64(v.mv_data);
    mdb_cursor_close(cur);
    for (size_t i = 0; i < n; i++) {
        MDB_val ak = {8, &ids[i]}, av;
        struct hub_queue_rec r;
        if (mdb_get(txn, q->alerts, &ak, &av) != 0 || hub_queues_rec_parse(&av, &r) != 0)
            continue;
        char rule[256];
        snprintf(rule, sizeof rule, "%.*s", (int)r.rule_len, r.rule);
        int64_t raised = r.raised_ms, old_due = r.due_ms;
        int status = r.status;
        enum hub_err e = end_deadline(q, txn, ids[i], &r, err);
        if (e)
            return e;
        int64_t due = NO_DUE;
        if (!closed) {
            int ri = -1;
            for (size_t j = 0; j < hub_rules_count(rules); j++)
                if (strcmp(hub_rules_name(rules, j), rule) == 0)
                    ri = (int)j;
            if (ri < 0 || !hub_rules_due(rules, ri, risk, raised, &due))
                due = old_due; /* no cadence for that risk: keep the deadline */
            /* Re-arm under the new (or kept) due date. */
            unsigned char dk[16];
            hub_queues_deadline_key(dk, due, ids[i]);
            MDB_val dkv = {16, dk}, empty = {0, NULL};
            unsigned char idb[8];
            hub_put_be64(idb, ids[i]);
            MDB_val ck = {k.mv_size, kb}, cv = {8, idb};
            if ((rc = hub_redo_put(q->redo, txn, q->deadlines, &dkv, &empty, 0)) ||
                (rc = hub_redo_put(q->redo, txn, q->cases, &ck, &cv, 0)))
                return hub_queues_lmdb_fail(err, rc, "moving a deadline");
        }
        if ((e = update_rec(q, txn, ids[i], status, due, err)))
            return e;
    }
    return CSPH_ERR_OK;
}

int hub_queues_next_due(struct hub_queues *q, int64_t *due_ms)
{
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    int found = 0;
    if (mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn))
        return 0;
    if (mdb_cursor_open(txn, q->deadlines, &cur) == 0) { /* fails on a handle of a closed log */
        if (mdb_cursor_get(cur, &k, &v, MDB_FIRST) == 0 && k.mv_size == 16) {
            *due_ms = (int64_t)(hub_get_be64(k.mv_data) ^ 0x8000000000000000ull);
            found = 1;
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_abort(txn);
    return found;
}

enum hub_err hub_queues_take_due(struct hub_queues *q, MDB_txn *txn, int64_t now_ms,
                                 struct hub_due_alert *out, size_t max, size_t *n,
                                 struct hub_error *err)
{
    *n = 0;
    while (*n < max) {
        MDB_cursor *cur;
        MDB_val k, v;
        int rc = mdb_cursor_open(txn, q->deadlines, &cur);
        if (rc)
            return hub_queues_lmdb_fail(err, rc, "reading deadlines");
        rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
        mdb_cursor_close(cur);
        if (rc == MDB_NOTFOUND)
            break;
        if (rc)
            return hub_queues_lmdb_fail(err, rc, "reading deadlines");
        int64_t due = (int64_t)(hub_get_be64(k.mv_data) ^ 0x8000000000000000ull);
        if (due > now_ms)
            break;
        uint64_t id = hub_get_be64((const unsigned char *)k.mv_data + 8);
        MDB_val ak = {8, &id}, av;
        struct hub_queue_rec r;
        if (mdb_get(txn, q->alerts, &ak, &av) != 0 || hub_queues_rec_parse(&av, &r) != 0) {
            MDB_val dk = k;
            hub_redo_del(q->redo, txn, q->deadlines, &dk, NULL);
            continue;
        }
        struct hub_due_alert *d = &out[*n];
        d->id = id;
        d->due_ms = due;
        d->panel_index = hub_config_panel_find(q->cfg, r.panel, r.panel_len);
        d->priority = (enum hub_priority)r.priority;
        snprintf(d->rule, sizeof d->rule, "%.*s", (int)r.rule_len, r.rule);
        snprintf(d->key, sizeof d->key, "%.*s", (int)r.key_len, r.key);
        /* The alert keeps its due date on record; the timer is spent. */
        enum hub_err e = end_deadline(q, txn, id, &r, err);
        if (e)
            return e;
        if (d->panel_index >= 0)
            (*n)++;
    }
    return CSPH_ERR_OK;
}

enum hub_err hub_queues_panel_of(struct hub_queues *q, MDB_txn *txn, uint64_t id, int *panel,
                                 struct hub_error *err)
{
    MDB_val k = {8, &id}, v;
    struct hub_queue_rec r;
    if (mdb_get(txn, q->alerts, &k, &v) != 0 || hub_queues_rec_parse(&v, &r) != 0)
        return hub_error_set(err, CSPH_ERR_NOT_FOUND, "id", "no alert with id %llu",
                             (unsigned long long)id);
    *panel = hub_config_panel_find(q->cfg, r.panel, r.panel_len);
    return CSPH_ERR_OK;
}

/* The key map and the evidence of an alert's full pairs. */
static int brief_parse(const struct hub_queue_rec *r, struct hub_alert_brief *b)
{
    msgpack_unpacked k, v;
    size_t off = 0;
    int ok = 0;
    msgpack_unpacked_init(&k);
    msgpack_unpacked_init(&v);
    for (int i = 0; i < r->npairs; i++) {
        if (msgpack_unpack_next(&k, r->full, r->full_len, &off) != MSGPACK_UNPACK_SUCCESS ||
            msgpack_unpack_next(&v, r->full, r->full_len, &off) != MSGPACK_UNPACK_SUCCESS)
            break;
        const msgpack_object *key = &k.data, *val = &v.data;
        if (key->type != MSGPACK_OBJECT_STR)
            continue;
        if (key->via.str.size == 3 && !memcmp(key->via.str.ptr, "key", 3) &&
            val->type == MSGPACK_OBJECT_MAP && val->via.map.size <= CSPH_KEY_MAX_FIELDS) {
            b->nkey = val->via.map.size;
            for (uint32_t j = 0; j < val->via.map.size; j++) {
                const msgpack_object *x = &val->via.map.ptr[j].val;
                char *out = b->key_values[j];
                size_t cap = sizeof b->key_values[j];
                if (x->type == MSGPACK_OBJECT_STR) {
                    snprintf(out, cap, "%.*s", (int)x->via.str.size, x->via.str.ptr);
                    b->key_tags[j] = 's';
                } else if (x->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                    snprintf(out, cap, "%llu", (unsigned long long)x->via.u64);
                    b->key_tags[j] = 'n';
                } else if (x->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
                    snprintf(out, cap, "%lld", (long long)x->via.i64);
                    b->key_tags[j] = 'n';
                } else if (x->type == MSGPACK_OBJECT_BOOLEAN) {
                    snprintf(out, cap, "%s", x->via.boolean ? "true" : "false");
                    b->key_tags[j] = 'b';
                } else {
                    b->nkey = 0;
                    break;
                }
            }
            ok |= 1;
        } else if (key->via.str.size == 8 && !memcmp(key->via.str.ptr, "evidence", 8) &&
                   val->type == MSGPACK_OBJECT_ARRAY) {
            free(b->evidence);
            b->nevidence = 0;
            if (!(b->evidence = malloc((val->via.array.size + 1) * sizeof *b->evidence)))
                break;
            for (uint32_t j = 0; j < val->via.array.size; j++) {
                if (val->via.array.ptr[j].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                    continue;
                uint64_t seq = val->via.array.ptr[j].via.u64;
                b->evidence[b->nevidence++] = seq;
                if (seq > b->anchor_seq)
                    b->anchor_seq = seq;
            }
            ok |= 2;
        }
    }
    msgpack_unpacked_destroy(&k);
    msgpack_unpacked_destroy(&v);
    return ok == 3 ? 0 : -1;
}

void hub_alert_brief_free(struct hub_alert_brief *b)
{
    free(b->evidence);
    b->evidence = NULL;
    b->nevidence = 0;
}

enum hub_err hub_queues_alert_brief(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                    struct hub_alert_brief *b, struct hub_error *err)
{
    MDB_txn *own = NULL;
    MDB_val k = {8, &id}, v;
    struct hub_queue_rec r;
    enum hub_err e = CSPH_ERR_OK;
    memset(b, 0, sizeof *b);
    if (!txn) {
        int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &own);
        if (rc)
            return hub_queues_lmdb_fail(err, rc, "reading an alert");
        txn = own;
    }
    if (mdb_get(txn, q->alerts, &k, &v) != 0 || hub_queues_rec_parse(&v, &r) != 0)
        e = hub_error_set(err, CSPH_ERR_NOT_FOUND, "id", "no alert with id %llu",
                          (unsigned long long)id);
    else {
        b->panel_index = hub_config_panel_find(q->cfg, r.panel, r.panel_len);
        b->status = r.status;
        b->priority = r.priority; /* hook: a case's first risk level (panelwork.h) */
        snprintf(b->rule, sizeof b->rule, "%.*s", (int)r.rule_len, r.rule);
        if (brief_parse(&r, b)) {
            e = hub_error_set(err, CSPH_ERR_INTERNAL, "id", "alert %llu is not readable",
                              (unsigned long long)id);
            hub_alert_brief_free(b);
        }
    }
    if (own)
        mdb_txn_abort(own);
    return e;
}

enum hub_err hub_queues_status_of(struct hub_queues *q, MDB_txn *txn, uint64_t id, int *status,
                                  int *panel_index, struct hub_error *err)
{
    struct hub_queue_rec r;
    enum hub_err e = hub_queues_read_rec(q, txn, id, &r, err);
    if (e)
        return e;
    *status = r.status;
    *panel_index = hub_config_panel_find(q->cfg, r.panel, r.panel_len);
    return CSPH_ERR_OK;
}

enum hub_err hub_queues_timer_spent(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                    struct hub_error *err)
{
    MDB_val k = {8, &id}, v;
    struct hub_queue_rec r;
    if (mdb_get(txn, q->alerts, &k, &v) != 0 || hub_queues_rec_parse(&v, &r) != 0)
        return CSPH_ERR_OK;
    return end_deadline(q, txn, id, &r, err);
}

/* A new durable consumer on panel, for identity (NULL: none): within the
 * limits on consumers per panel and per identity, counted in txn. The
 * panel's count is a walk of its cursors, at most the limit long. */
static enum hub_err consumer_admit(struct hub_queues *q, MDB_txn *txn, const char *panel,
                                   const char *identity, struct hub_error *err)
{
    const struct hub_limits *l = &q->cfg->limits;
    unsigned char kb[80];
    size_t plen = hub_queues_panel_key(kb, panel, "", 0);
    MDB_val k = {plen, kb}, v;
    MDB_cursor *c;
    uint32_t n = 0;
    int rc = mdb_cursor_open(txn, q->cursors, &c);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "counting a panel's consumers");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0 && n < l->consumers_per_panel_max;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size < plen || memcmp(k.mv_data, kb, plen) != 0)
            break;
        n++;
    }
    mdb_cursor_close(c);
    if (n >= l->consumers_per_panel_max)
        return hub_error_set(err, CSPH_ERR_TOO_LARGE, "consumer",
                             "panel %s already has %u durable consumers "
                             "(limits.consumers_per_panel_max); ack under a consumer name in "
                             "use, or ask the hub's operator",
                             panel, l->consumers_per_panel_max);
    if (!identity)
        return CSPH_ERR_OK;
    char key[200];
    uint64_t mine = 0;
    MDB_val mk = {(size_t)snprintf(key, sizeof key, "consumers:%s", identity), key}, mv;
    if (mdb_get(txn, q->meta, &mk, &mv) == 0 && mv.mv_size == 8)
        memcpy(&mine, mv.mv_data, 8);
    if (mine >= l->consumers_per_identity_max)
        return hub_error_set(err, CSPH_ERR_TOO_LARGE, "consumer",
                             "identity '%s' already made %llu durable consumers "
                             "(limits.consumers_per_identity_max); ack under a consumer name in "
                             "use, or ask the hub's operator",
                             identity, (unsigned long long)mine);
    mine++;
    mv.mv_size = 8;
    mv.mv_data = &mine;
    rc = hub_redo_put(q->redo, txn, q->meta, &mk, &mv, 0);
    return rc ? hub_queues_lmdb_fail(err, rc, "counting an identity's consumers") : CSPH_ERR_OK;
}

enum hub_err hub_queues_ack(struct hub_queues *q, MDB_txn *txn, int panel_index,
                            const char *consumer, size_t consumer_len, uint64_t upto,
                            const char *identity, struct hub_error *err)
{
    const char *panel = q->cfg->panels[panel_index].name;
    unsigned char kb[80 + 70], idb[8];
    hub_put_be64(idb, upto);
    MDB_val pk = {hub_queues_panel_key(kb, panel, idb, 8), kb}, pv;
    int rc = mdb_get(txn, q->panel_alerts, &pk, &pv);
    if (rc == MDB_NOTFOUND)
        return hub_error_set(err, CSPH_ERR_NOT_FOUND, "upto", "alert %llu is not on panel %s",
                             (unsigned long long)upto, panel);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading a queue");
    MDB_val ck = {hub_queues_panel_key(kb, panel, consumer, consumer_len), kb}, cv;
    uint64_t cur = 0;
    rc = mdb_get(txn, q->cursors, &ck, &cv);
    if (rc == 0 && cv.mv_size == 8)
        memcpy(&cur, cv.mv_data, 8);
    if (upto <= cur)
        return CSPH_ERR_OK; /* cumulative: an old ack changes nothing */
    if (rc == MDB_NOTFOUND && (rc = consumer_admit(q, txn, panel, identity, err)))
        return rc;
    ck.mv_size = hub_queues_panel_key(kb, panel, consumer, consumer_len); /* kb held the count's key */
    ck.mv_data = kb;
    cv.mv_size = 8;
    cv.mv_data = &upto;
    rc = hub_redo_put(q->redo, txn, q->cursors, &ck, &cv, 0);
    return rc ? hub_queues_lmdb_fail(err, rc, "moving a cursor") : CSPH_ERR_OK;
}

/* Walk panel's queue after `after` in one read transaction, packing what
 * fits in room bytes (an alert that alone does not fit goes cut, see
 * pack_rec_cut). */
static enum hub_err walk_filtered(struct hub_queues *q, MDB_txn *txn, const char *panel,
                                  uint64_t after, const struct hub_queue_filter *flt,
                                  uint32_t max, int view, size_t room, msgpack_packer *pk,
                                  uint32_t *count, uint64_t *last, int *end,
                                  struct hub_error *err);

/* Whether the key text (values joined by ", ") holds value v exactly. */
static int key_has(const char *key, size_t len, const char *v, size_t vlen)
{
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j + 1 < len && !(key[j] == ',' && key[j + 1] == ' '))
            j++;
        if (j + 1 >= len)
            j = len;
        if (j - i == vlen && memcmp(key + i, v, vlen) == 0)
            return 1;
        i = j + 2;
    }
    return 0;
}

/* Whether an alert passes the filter (its status is checked by walk). */
static int filter_keep(const struct hub_queue_filter *f, const struct hub_queue_rec *r)
{
    if (f->priority >= 0 && r->priority != f->priority)
        return 0;
    if (f->rule && (r->rule_len != f->rule_len || memcmp(r->rule, f->rule, f->rule_len) != 0))
        return 0;
    if (f->person && !key_has(r->key, r->key_len, f->person, f->person_len))
        return 0;
    if (f->overdue && !(r->status == CSPH_ALERT_OPEN && r->due_ms != NO_DUE &&
                        r->due_ms <= f->now_ms))
        return 0;
    return 1;
}

static enum hub_err walk(struct hub_queues *q, MDB_txn *txn, const char *panel, uint64_t after,
                         int status, uint32_t max, int view, size_t room, msgpack_packer *pk,
                         uint32_t *count, uint64_t *last, int *end, struct hub_error *err)
{
    struct hub_queue_filter any = {.status = status, .priority = -1};
    return walk_filtered(q, txn, panel, after, &any, max, view, room, pk, count, last, end, err);
}

/* r as a reader who may not read restricted persons sees it
 * (restrictview.h): when it names one, its pairs (those its view packs)
 * become q->shown's, with the person's key values and the reason withheld.
 * 0, or -1 when its pairs do not parse. */
static int restrict_rec(struct hub_queues *q, const struct hub_restrictview *rv,
                        struct hub_queue_rec *r, int full)
{
    size_t len;
    const char *pairs = rec_pairs(r, full, &len);
    int rc = hub_restrictview_alert(rv, pairs, len, r->npairs, &q->shown);
    if (rc == 1) {
        r->full = q->shown.data;
        r->full_len = (uint32_t)q->shown.size;
        r->red_len = 0;
    }
    return rc < 0 ? -1 : 0;
}

static enum hub_err walk_filtered(struct hub_queues *q, MDB_txn *txn, const char *panel,
                                  uint64_t after, const struct hub_queue_filter *flt,
                                  uint32_t max, int view, size_t room, msgpack_packer *pk,
                                  uint32_t *count, uint64_t *last, int *end,
                                  struct hub_error *err)
{
    int status = flt->status, full = view & CSPH_QVIEW_FULL;
    struct hub_restrictview rv = {0};
    *count = 0;
    *end = 1;
    *last = after;
    if (view & CSPH_QVIEW_RESTRICT)
        hub_restrictview_open(&rv, txn);
    /* A restricted person's alerts are not found by their reference. */
    if (rv.any && flt->person && hub_restrictview_names(&rv, flt->person, flt->person_len))
        return CSPH_ERR_OK;
    uint64_t examined = 0;
    unsigned char kb[80], idb[8];
    hub_put_be64(idb, after + 1);
    size_t plen = strlen(panel) + 1, used = 0;
    MDB_val k = {hub_queues_panel_key(kb, panel, idb, 8), kb}, v;
    MDB_cursor *cur;
    int rc = mdb_cursor_open(txn, q->panel_alerts, &cur);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading a queue");
    for (rc = after == UINT64_MAX ? MDB_NOTFOUND : mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
         rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        if (k.mv_size != plen + 8 || memcmp(k.mv_data, kb, plen) != 0)
            break;
        if (*count == max || (flt->scan_max && examined == flt->scan_max)) {
            *end = 0;
            break;
        }
        examined++;
        uint64_t id = hub_get_be64((const unsigned char *)k.mv_data + plen);
        if (status >= 0 && v.mv_size == 1 && *(const unsigned char *)v.mv_data != status) {
            *last = id;
            continue;
        }
        MDB_val ak = {8, &id}, av;
        struct hub_queue_rec r;
        if (mdb_get(txn, q->alerts, &ak, &av) != 0 || hub_queues_rec_parse(&av, &r) != 0)
            continue;
        if (!filter_keep(flt, &r)) {
            *last = id;
            continue;
        }
        if (rv.any && restrict_rec(q, &rv, &r, full))
            continue; /* unreadable: never shown unredacted */
        size_t need = rec_size(&r, full);
        if (used + need > room) {
            if (*count) {
                /* It starts the next reply. */
                *end = 0;
                break;
            }
            /* Alone it does not fit in a reply: it goes with its evidence
             * cut, and the `evidence` op gives the rest. */
            used += pack_rec_cut(pk, &r, full, room - used);
        } else {
            hub_queues_pack_rec(pk, &r, full);
            used += need;
        }
        (*count)++;
        *last = id;
    }
    mdb_cursor_close(cur);
    return CSPH_ERR_OK;
}

enum hub_err hub_queues_fetch(struct hub_queues *q, MDB_txn *in, int panel_index,
                              const char *consumer, size_t consumer_len, uint32_t max,
                              int view, size_t room, msgpack_packer *pk, uint32_t *count, uint64_t *last,
                              int *end, struct hub_error *err)
{
    const char *panel = q->cfg->panels[panel_index].name;
    MDB_txn *txn = in;
    int rc = in ? 0 : mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading a queue");
    unsigned char kb[80 + 70];
    MDB_val ck = {hub_queues_panel_key(kb, panel, consumer, consumer_len), kb}, cv;
    uint64_t cursor = 0;
    if (mdb_get(txn, q->cursors, &ck, &cv) == 0 && cv.mv_size == 8)
        memcpy(&cursor, cv.mv_data, 8);
    enum hub_err e =
        walk(q, txn, panel, cursor, -1, max, view, room, pk, count, last, end, err);
    if (!in)
        mdb_txn_abort(txn);
    return e;
}

enum hub_err hub_queues_list(struct hub_queues *q, int panel_index, int status, uint64_t after,
                             uint32_t max, int view, size_t room, msgpack_packer *pk,
                             uint32_t *count, uint64_t *last, int *end, struct hub_error *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading a queue");
    enum hub_err e = walk(q, txn, q->cfg->panels[panel_index].name, after, status, max, view,
                          room, pk, count, last, end, err);
    mdb_txn_abort(txn);
    return e;
}

enum hub_err hub_queues_list_filtered(struct hub_queues *q, int panel_index,
                                      const struct hub_queue_filter *flt, uint64_t after,
                                      uint32_t max, int view, size_t room, msgpack_packer *pk,
                                      uint32_t *count, uint64_t *last, int *end,
                                      struct hub_error *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading a queue");
    enum hub_err e = walk_filtered(q, txn, q->cfg->panels[panel_index].name, after, flt, max,
                                   view, room, pk, count, last, end, err);
    mdb_txn_abort(txn);
    return e;
}

enum hub_err hub_queues_pack_one(struct hub_queues *q, uint64_t id, int view,
                                 msgpack_packer *pk, int *panel_index, struct hub_error *err)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading an alert");
    MDB_val k = {8, &id}, v;
    struct hub_queue_rec r;
    enum hub_err e = CSPH_ERR_OK;
    if (mdb_get(txn, q->alerts, &k, &v) != 0 || hub_queues_rec_parse(&v, &r) != 0)
        e = hub_error_set(err, CSPH_ERR_NOT_FOUND, "id", "no alert with id %llu",
                          (unsigned long long)id);
    else {
        int full = view & CSPH_QVIEW_FULL;
        struct hub_restrictview rv = {0};
        if (view & CSPH_QVIEW_RESTRICT)
            hub_restrictview_open(&rv, txn);
        *panel_index = hub_config_panel_find(q->cfg, r.panel, r.panel_len);
        if (rv.any && restrict_rec(q, &rv, &r, full))
            e = hub_error_set(err, CSPH_ERR_INTERNAL, "id", "alert %llu is not readable",
                              (unsigned long long)id);
        else
            hub_queues_pack_rec(pk, &r, full);
    }
    mdb_txn_abort(txn);
    return e;
}

enum hub_err hub_queues_read_own(struct hub_queues *q, uint64_t id, MDB_txn **txn,
                                struct hub_queue_rec *r, struct hub_error *err)
{
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, txn);
    if (rc)
        return hub_queues_lmdb_fail(err, rc, "reading an alert");
    enum hub_err e = hub_queues_read_rec(q, *txn, id, r, err);
    if (e) {
        mdb_txn_abort(*txn);
        *txn = NULL;
    }
    return e;
}

enum hub_err hub_queues_evidence(struct hub_queues *q, uint64_t id, int view, uint64_t after,
                                 uint64_t max, size_t room, msgpack_packer *pk,
                                 int *panel_index, uint32_t *count, uint64_t *total,
                                 struct hub_error *err)
{
    MDB_txn *txn;
    struct hub_queue_rec r;
    *count = 0;
    *total = 0;
    enum hub_err e = hub_queues_read_own(q, id, &txn, &r, err);
    if (e)
        return e;
    *panel_index = hub_config_panel_find(q->cfg, r.panel, r.panel_len);
    size_t len; /* evidence seqs name nobody: a restriction changes none */
    const char *pairs = rec_pairs(&r, view & CSPH_QVIEW_FULL, &len);
    struct ev_span ev;
    if (find_evidence(pairs, len, r.npairs, &ev)) {
        e = hub_error_set(err, CSPH_ERR_INTERNAL, "id", "alert %llu is not readable",
                          (unsigned long long)id);
        goto out;
    }
    *total = ev.n;
    size_t b0, b1;
    /* At least one element whatever room says: every call makes progress. */
    ev_slice(pairs, &ev, after, max, room, &b0, &b1, count);
    if (!*count && after < ev.n && max)
        ev_slice(pairs, &ev, after, 1, SIZE_MAX, &b0, &b1, count);
    hub_pack_raw(pk, pairs + b0, b1 - b0);
out:
    mdb_txn_abort(txn);
    return e;
}

enum hub_err hub_queues_each_raw_in(struct hub_queues *q, MDB_txn *txn, uint64_t after,
                                    uint64_t until, hub_queues_raw_fn fn, void *ctx,
                                    struct hub_error *err)
{
    MDB_cursor *cur;
    int rc;
    if (after == UINT64_MAX)
        return CSPH_ERR_OK;
    if ((rc = mdb_cursor_open(txn, q->alerts, &cur)))
        return hub_queues_lmdb_fail(err, rc, "reading alerts");
    uint64_t start = after + 1;
    MDB_val k = {8, &start}, v;
    for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
         rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        struct hub_queue_rec r;
        struct hub_alert_raw a;
        memcpy(&a.id, k.mv_data, 8);
        if (until && a.id > until)
            break;
        if (hub_queues_rec_parse(&v, &r) != 0)
            continue;
        a.panel = r.panel;
        a.panel_len = r.panel_len;
        a.rule = r.rule;
        a.rule_len = r.rule_len;
        a.due_ms = r.due_ms;
        a.raised_ms = r.raised_ms;
        a.pairs = r.full;
        a.pairs_len = r.full_len;
        a.npairs = (uint32_t)r.npairs;
        if (fn(ctx, &a))
            break;
    }
    mdb_cursor_close(cur);
    return CSPH_ERR_OK;
}

enum hub_err hub_queues_last_id_in(struct hub_queues *q, MDB_txn *txn, uint64_t *last,
                                   struct hub_error *err)
{
    MDB_cursor *cur;
    MDB_val k, v;
    int rc;
    *last = 0;
    if ((rc = mdb_cursor_open(txn, q->alerts, &cur)))
        return hub_queues_lmdb_fail(err, rc, "reading alerts");
    if (mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 && k.mv_size == 8)
        memcpy(last, k.mv_data, 8);
    mdb_cursor_close(cur);
    return CSPH_ERR_OK;
}

/* Metrics (queues.h, hub_queues_gauges): the service's hook. */
static int gauge_panel(struct hub_queues *q, const MDB_val *k, size_t *plen)
{
    const char *key = k->mv_data, *nul = memchr(key, 0, k->mv_size);
    if (!nul)
        return -1;
    *plen = (size_t)(nul - key);
    return hub_config_panel_find(q->cfg, key, *plen);
}

enum hub_err hub_queues_gauges(struct hub_queues *q, int64_t now_ms,
                               struct hub_queue_gauges *g, struct hub_error *err)
{
    MDB_txn *txn = NULL;
    MDB_cursor *c = NULL, *lagc = NULL;
    MDB_val k, v;
    size_t plen;
    int rc = mdb_txn_begin(q->env, NULL, MDB_RDONLY, &txn);
    memset(g->open, 0, sizeof g->open);
    memset(g->overdue, 0, sizeof g->overdue);
    g->nconsumers = g->nconsumers_total = 0;
    if (rc || (rc = mdb_cursor_open(txn, q->panel_alerts, &c)))
        goto done;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        int pi = gauge_panel(q, &k, &plen);
        if (pi < 0 || v.mv_size != 1 || *(const unsigned char *)v.mv_data != CSPH_ALERT_OPEN ||
            k.mv_size != plen + 9)
            continue;
        g->open[pi]++;
        uint64_t id = hub_get_be64((const unsigned char *)k.mv_data + plen + 1);
        MDB_val ak = {8, &id}, av;
        struct hub_queue_rec r;
        if (mdb_get(txn, q->alerts, &ak, &av) == 0 && hub_queues_rec_parse(&av, &r) == 0 &&
            r.due_ms != NO_DUE && r.due_ms < now_ms)
            g->overdue[pi]++;
    }
    if (rc != MDB_NOTFOUND)
        goto done;
    mdb_cursor_close(c);
    c = NULL;
    if ((rc = mdb_cursor_open(txn, q->cursors, &c)) ||
        (rc = mdb_cursor_open(txn, q->panel_alerts, &lagc)))
        goto done;
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        int pi = gauge_panel(q, &k, &plen);
        if (pi < 0 || v.mv_size != 8)
            continue;
        g->nconsumers_total++;
        if (g->nconsumers == g->max_consumers)
            continue;
        struct hub_queue_consumer *qc = &g->consumers[g->nconsumers++];
        size_t nlen = k.mv_size - plen - 1;
        qc->panel = pi;
        snprintf(qc->name, sizeof qc->name, "%.*s", (int)nlen, (const char *)k.mv_data + plen + 1);
        memcpy(&qc->cursor, v.mv_data, 8);
        qc->lag = 0;
        unsigned char kb[80], idb[8];
        hub_put_be64(idb, qc->cursor + 1);
        const char *panel = q->cfg->panels[pi].name;
        size_t pk = strlen(panel) + 1;
        MDB_val lk = {hub_queues_panel_key(kb, panel, idb, 8), kb}, lv;
        int lr;
        for (lr = mdb_cursor_get(lagc, &lk, &lv, MDB_SET_RANGE);
             lr == 0 && qc->lag < CSPH_QUEUES_LAG_MAX;
             lr = mdb_cursor_get(lagc, &lk, &lv, MDB_NEXT)) {
            if (lk.mv_size != pk + 8 || memcmp(lk.mv_data, kb, pk) != 0)
                break;
            qc->lag++;
        }
    }
    if (rc == MDB_NOTFOUND)
        rc = 0;
done:
    if (lagc)
        mdb_cursor_close(lagc);
    if (c)
        mdb_cursor_close(c);
    if (txn)
        mdb_txn_abort(txn);
    return rc ? hub_queues_lmdb_fail(err, rc, "reading the queues for metrics") : CSPH_ERR_OK;
}
