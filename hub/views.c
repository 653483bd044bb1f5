#include "views.h"
#include "redo.h"

#include <stdlib.h>
#include <string.h>

#include "bekey.h"
#include "decision.h"
#include "erase.h"
#include "restrict.h"
#include "restrictview.h"
#include "mpx.h"
#include "timefmt.h"

#define PERSON_ALERTS_DB "person_alerts"
/* Present once the index holds every alert of the queues (a key no panel
 * name can start: panel names are never empty). */
static const char backfilled_key[] = "\0person_alerts v1";
#define DECISIONS_MAX 1000
#define PERSON_EVENTS_DEFAULT 1000
#define PERSON_EVENTS_MAX 10000
#define ALERT_EVENTS_DEFAULT 100
/* What a {seq, received_at, event} entry adds to the event's bytes. */
#define EVENT_ENTRY_OVERHEAD 64

static enum hub_err lmdb_fail(struct hub_error *err, int rc, const char *what)
{
    if (rc == MDB_MAP_FULL)
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "the hub's storage limit is reached");
    return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "%s: %s", what, mdb_strerror(rc));
}

static enum hub_err not_found(struct hub_error *err, uint64_t id)
{
    return hub_error_set(err, CSPH_ERR_NOT_FOUND, "id", "no alert with id %llu",
                         (unsigned long long)id);
}

static int is_auditor(const struct hub_views_req *v)
{
    return v->who && v->who->role == CSPH_ROLE_AUDITOR;
}

/* Whether ref is under a standing restriction (restrict.h); when that
 * cannot be read, the safe answer: it is. */
static int person_restricted(struct hub_store *s, const char *ref, size_t len)
{
    MDB_txn *txn;
    if (!hub_store_env(s) || mdb_txn_begin(hub_store_env(s), NULL, MDB_RDONLY, &txn))
        return 1;
    int r = hub_restrict_standing(txn, ref, len) != 0;
    mdb_txn_abort(txn);
    return r;
}

static int may_read(struct hub_views_req *v, int panel)
{
    return panel >= 0 && (!v->who || hub_identity_may_panel(v->who, panel));
}

static size_t index_key(unsigned char *out, const char *panel, const char *value, size_t len)
{
    size_t pl = strlen(panel);
    memcpy(out, panel, pl);
    out[pl] = 0;
    memcpy(out + pl + 1, value, len);
    return pl + 1 + len;
}

/* ---- alerts: the queue, filtered on the hub ------------------------------ */

static enum hub_err panel_arg(struct hub_views_req *v, const struct hub_request *r, int *panel,
                              struct hub_error *err)
{
    const char *p = NULL;
    size_t len = 0;
    enum hub_err rc = hub_wire_str(r, "panel", 1, 64, 1, &p, &len, err);
    if (rc)
        return rc;
    *panel = hub_config_panel_find(v->cfg, p, len);
    if (*panel < 0)
        return hub_error_set(err, CSPH_ERR_UNKNOWN_PANEL, "panel", "no panel named '%.*s'",
                             (int)len, p);
    if (v->who && !hub_identity_may_panel(v->who, *panel)) {
        v->refused = 1;
        return hub_error_set(err, CSPH_ERR_FORBIDDEN, "panel",
                             "identity '%s' may not read panel %s", v->who->name,
                             v->cfg->panels[*panel].name);
    }
    return CSPH_ERR_OK;
}

static enum hub_err filter_args(const struct hub_request *r, int64_t now_ms,
                                struct hub_queue_filter *f, struct hub_error *err)
{
    const char *st = NULL, *pr = NULL;
    size_t stlen = 0, prlen = 0;
    memset(f, 0, sizeof *f);
    f->status = f->priority = -1;
    f->now_ms = now_ms;
    enum hub_err rc = hub_wire_str(r, "status", 1, 32, 0, &st, &stlen, err);
    if (!rc && st && (f->status = hub_alert_status_parse(st, stlen)) < 0)
        rc = hub_error_set(err, CSPH_ERR_BAD_REQUEST, "status",
                           "'status' must be open, acknowledged, accepted, declined or closed");
    if (!rc)
        rc = hub_wire_str(r, "priority", 1, 32, 0, &pr, &prlen, err);
    if (!rc && pr && (f->priority = hub_priority_parse(pr, prlen)) < 0)
        rc = hub_error_set(err, CSPH_ERR_BAD_REQUEST, "priority",
                           "'priority' must be standard, medium or high");
    if (!rc)
        rc = hub_wire_str(r, "rule", 1, 128, 0, &f->rule, &f->rule_len, err);
    if (!rc)
        rc = hub_wire_str(r, "person", 1, 64, 0, &f->person, &f->person_len, err);
    if (!rc && f->person && !csph_ref_valid(f->person, f->person_len))
        rc = hub_error_set(err, CSPH_ERR_BAD_REQUEST, "person",
                           "'person' must be a person reference: 1-64 of A-Z a-z 0-9 . _ : -");
    const msgpack_object *o = rc ? NULL : hub_mp_get(&r->root, "overdue");
    if (o && o->type != MSGPACK_OBJECT_BOOLEAN)
        rc = hub_error_set(err, CSPH_ERR_BAD_REQUEST, "overdue", "'overdue' must be true or false");
    else if (o)
        f->overdue = o->via.boolean;
    /* A filter beyond status reads every alert's record: bound the walk. */
    if (f->priority >= 0 || f->rule || f->person || f->overdue)
        f->scan_max = CSPH_VIEWS_SCAN_MAX;
    return rc;
}

enum hub_err hub_views_alerts(struct hub_views_req *v, const struct hub_request *r,
                              msgpack_packer *pk, struct hub_error *err)
{
    int panel;
    uint64_t after = 0, max = 100, last = 0;
    uint32_t count = 0;
    int end = 1;
    struct hub_queue_filter f;
    enum hub_err rc = panel_arg(v, r, &panel, err);
    if (!rc)
        rc = filter_args(r, v->now_ms, &f, err);
    if (!rc)
        rc = hub_wire_u64(r, "after", 0, UINT64_MAX, &after, NULL, err);
    if (!rc)
        rc = hub_wire_u64(r, "max", 1, 1000, &max, NULL, err);
    if (rc)
        return rc;
    msgpack_sbuffer items;
    msgpack_sbuffer_init(&items);
    msgpack_packer ipk;
    msgpack_packer_init(&ipk, &items, msgpack_sbuffer_write);
    /* Restricted panels' evidence is for the auditor only. */
    rc = hub_queues_list_filtered(v->queues, panel, &f, after, (uint32_t)max,
                                  hub_restrictview_qview(v->who),
                                  v->room, &ipk, &count, &last, &end, err);
    if (!rc) {
        v->returned = count;
        hub_reply_begin(pk, &r->req, 1, 3);
        hub_pack_str(pk, "alerts");
        msgpack_pack_array(pk, count);
        hub_pack_raw(pk, items.data, items.size);
        hub_pack_str(pk, "next");
        msgpack_pack_uint64(pk, last);
        hub_pack_str(pk, "end");
        if (end)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
    }
    msgpack_sbuffer_destroy(&items);
    return rc;
}

struct event_pack {
    msgpack_packer *pk;
    msgpack_sbuffer *buf;
    size_t room;
    int packed;
};

static int pack_event(void *ctx, const struct hub_stored_event *ev)
{
    struct event_pack *c = ctx;
    char when[32];
    int wl = csph_time_format(ev->received_ms, when);
    msgpack_pack_map(c->pk, 3);
    hub_pack_str(c->pk, "seq");
    msgpack_pack_uint64(c->pk, ev->seq);
    hub_pack_str(c->pk, "received_at");
    hub_pack_strn(c->pk, when, (size_t)wl);
    hub_pack_str(c->pk, "event");
    hub_pack_raw(c->pk, ev->bytes, ev->len);
    c->packed = 1;
    return 0;
}

/* Only for the size check before packing. */
static int event_len(void *ctx, const struct hub_stored_event *ev)
{
    *(size_t *)ctx = ev->len;
    return 0;
}

/* ---- alert: one alert and its decisions ---------------------------------- */

struct decisions {
    struct hub_decision *v;
    size_t n;
};

static int collect_decision(void *ctx, const struct hub_decision *d)
{
    struct decisions *ds = ctx;
    ds->v[ds->n++] = *d;
    return ds->n == DECISIONS_MAX;
}

struct decision_pack {
    msgpack_packer *pk;
    const struct hub_decision *d;
    int with_note;
    int packed;
};

/* Pack one decision from its alert.status event: when, status, by,
 * gateway and note as the log holds them. */
static int pack_decision_event(void *ctx, const struct hub_stored_event *ev)
{
    struct decision_pack *c = ctx;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, ev->bytes, ev->len, NULL) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&u);
        return 0;
    }
    const msgpack_object *o = &u.data;
    const char *keys[] = {"status", "by", "gateway", "note"};
    const msgpack_object *vals[4];
    uint32_t n = 2; /* seq, at */
    for (int i = 0; i < 4; i++) {
        vals[i] = hub_mp_get(o, keys[i]);
        if (vals[i] && vals[i]->type != MSGPACK_OBJECT_STR)
            vals[i] = NULL;
        if (i == 3 && !c->with_note)
            vals[i] = NULL;
        n += vals[i] ? 1 : 0;
    }
    char when[32];
    int wl = csph_time_format(ev->occurred_ms, when);
    msgpack_pack_map(c->pk, n);
    hub_pack_str(c->pk, "seq");
    msgpack_pack_uint64(c->pk, ev->seq);
    hub_pack_str(c->pk, "at");
    hub_pack_strn(c->pk, when, (size_t)wl);
    for (int i = 0; i < 4; i++)
        if (vals[i]) {
            hub_pack_str(c->pk, keys[i]);
            hub_pack_strn(c->pk, vals[i]->via.str.ptr, vals[i]->via.str.size);
        }
    c->packed = 1;
    msgpack_unpacked_destroy(&u);
    return 0;
}

enum hub_err hub_views_alert(struct hub_views_req *v, const struct hub_request *r,
                             msgpack_packer *pk, struct hub_error *err)
{
    uint64_t id = 0, after = 0, max = ALERT_EVENTS_DEFAULT;
    int present = 0, panel = -1, events = 0;
    enum hub_err rc = hub_wire_u64(r, "id", 1, UINT64_MAX, &id, &present, err);
    if (!rc && !present)
        rc = hub_error_set(err, CSPH_ERR_BAD_REQUEST, "id", "'id' (an alert id) is required");
    const msgpack_object *ev = rc ? NULL : hub_mp_get(&r->root, "events");
    if (ev && ev->type != MSGPACK_OBJECT_BOOLEAN)
        rc = hub_error_set(err, CSPH_ERR_BAD_REQUEST, "events", "'events' must be true or false");
    else if (ev)
        events = ev->via.boolean;
    if (!rc)
        rc = hub_wire_u64(r, "after", 0, UINT64_MAX, &after, NULL, err);
    if (!rc)
        rc = hub_wire_u64(r, "max", 1, PERSON_EVENTS_MAX, &max, NULL, err);
    if (rc)
        return rc;
    msgpack_sbuffer a, ds, es;
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&ds);
    msgpack_sbuffer_init(&es);
    msgpack_packer apk, dpk, epk;
    msgpack_packer_init(&apk, &a, msgpack_sbuffer_write);
    msgpack_packer_init(&dpk, &ds, msgpack_sbuffer_write);
    msgpack_packer_init(&epk, &es, msgpack_sbuffer_write);
    struct decisions d = {calloc(DECISIONS_MAX, sizeof *d.v), 0};
    MDB_txn *txn = NULL;
    if (!d.v) {
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
        goto out;
    }
    if ((rc = hub_queues_pack_one(v->queues, id, hub_restrictview_qview(v->who), &apk, &panel,
                                  err)))
        goto out;
    if (!may_read(v, panel)) {
        /* Whether another panel (Channel, MAPPA) has alert id is not the
         * caller's to learn: the words of an alert that does not exist. */
        v->refused = 1;
        rc = not_found(err, id);
        goto out;
    }
    int mrc = mdb_txn_begin(hub_store_env(v->store), NULL, MDB_RDONLY, &txn);
    if (mrc) {
        rc = lmdb_fail(err, mrc, "reading the decisions");
        goto out;
    }
    rc = hub_decision_each(txn, id, collect_decision, &d, err);
    mdb_txn_commit(txn); /* a read transaction: commit keeps the handle it opened */
    if (rc)
        goto out;
    /* A restricted panel's notes are for the auditor: its queue shows only
     * that a case exists. */
    int with_note = !v->cfg->panels[panel].restricted || is_auditor(v);
    uint32_t packed = 0;
    for (size_t i = 0; i < d.n && ds.size < v->room / 2; i++) {
        struct decision_pack c = {&dpk, &d.v[i], with_note, 0};
        struct hub_error why;
        if (hub_store_get(v->store, d.v[i].seq, pack_decision_event, &c, &why) == CSPH_ERR_OK &&
            c.packed)
            packed++;
    }
    /* The evidence events, readable: as the alert's queue shows its
     * evidence (none on a restricted panel, but to an auditor). */
    uint32_t nevents = 0;
    uint64_t next = after;
    int end = 1;
    if (events) {
        struct hub_alert_brief b = {0};
        if (with_note && (rc = hub_queues_alert_brief(v->queues, NULL, id, &b, err)))
            goto out;
        size_t room = v->room > a.size + ds.size ? (v->room - a.size - ds.size) : 0;
        for (uint64_t i = after; i < b.nevidence && nevents < max; i++) {
            size_t len = 0;
            struct hub_error why;
            if (hub_erase_hidden(v->store, v->who, b.evidence[i]) || /* restricted (erase.h) */
                hub_store_get(v->store, b.evidence[i], event_len, &len, &why) != CSPH_ERR_OK) {
                next = i + 1;
                continue;
            }
            if (nevents && es.size + len + EVENT_ENTRY_OVERHEAD > room)
                break;
            struct event_pack c = {&epk, &es, room, 0};
            if ((rc = hub_store_get(v->store, b.evidence[i], pack_event, &c, err))) {
                hub_alert_brief_free(&b);
                goto out;
            }
            nevents++;
            next = i + 1;
        }
        end = next >= b.nevidence;
        hub_alert_brief_free(&b);
    }
    v->returned = 1 + packed + nevents;
    hub_reply_begin(pk, &r->req, 1, events ? 5 : 2);
    hub_pack_str(pk, "alert");
    hub_pack_raw(pk, a.data, a.size);
    hub_pack_str(pk, "decisions");
    msgpack_pack_array(pk, packed);
    hub_pack_raw(pk, ds.data, ds.size);
    if (events) {
        hub_pack_str(pk, "events");
        msgpack_pack_array(pk, nevents);
        hub_pack_raw(pk, es.data, es.size);
        hub_pack_str(pk, "next");
        msgpack_pack_uint64(pk, next);
        hub_pack_str(pk, "end");
        if (end)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
    }
out:
    free(d.v);
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&ds);
    msgpack_sbuffer_destroy(&es);
    return rc;
}

/* ---- person: the alerts keyed on a reference, and their evidence ---------- */

struct seqs {
    uint64_t *v;
    size_t n, cap;
};

static int seqs_add(struct seqs *s, const uint64_t *v, size_t n)
{
    if (s->n + n > s->cap) {
        size_t cap = (s->n + n) * 2;
        uint64_t *p = realloc(s->v, cap * sizeof *p);
        if (!p)
            return -1;
        s->v = p;
        s->cap = cap;
    }
    memcpy(s->v + s->n, v, n * sizeof *v);
    s->n += n;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* An alert of the person view and the panel it is on. */
struct pid {
    uint64_t id;
    int panel;
};

struct pids {
    struct pid *v;
    size_t n, cap;
};

static int cmp_pid(const void *a, const void *b)
{
    uint64_t x = ((const struct pid *)a)->id, y = ((const struct pid *)b)->id;
    return x < y ? -1 : x > y;
}

/* Append the ids of the alerts of panel (config index pi) keyed on ref.
 * Read in its own read transaction, committed so the handle it opened
 * stays. */
static enum hub_err person_alert_ids(struct hub_store *s, const char *panel, int pi,
                                     const char *ref, size_t len, struct pids *out,
                                     struct hub_error *err)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    int rc = mdb_txn_begin(hub_store_env(s), NULL, MDB_RDONLY, &txn);
    if (rc)
        return lmdb_fail(err, rc, "reading the person index");
    rc = mdb_dbi_open(txn, PERSON_ALERTS_DB, MDB_DUPSORT, &dbi);
    if (rc == MDB_NOTFOUND) {
        mdb_txn_abort(txn);
        return CSPH_ERR_OK;
    }
    if (rc) {
        mdb_txn_abort(txn);
        return lmdb_fail(err, rc, "reading the person index");
    }
    unsigned char kb[80 + 70];
    MDB_val k = {index_key(kb, panel, ref, len), kb}, v;
    MDB_cursor *cur;
    enum hub_err out_rc = CSPH_ERR_OK;
    if ((rc = mdb_cursor_open(txn, dbi, &cur)) == 0) {
        for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); rc == 0 && !out_rc;
             rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP)) {
            if (v.mv_size != 8)
                continue;
            if (out->n == out->cap) {
                size_t cap = out->cap ? out->cap * 2 : 64;
                struct pid *p = realloc(out->v, cap * sizeof *p);
                if (!p) {
                    out_rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
                    break;
                }
                out->v = p;
                out->cap = cap;
            }
            out->v[out->n].id = hub_get_be64(v.mv_data);
            out->v[out->n++].panel = pi;
        }
        mdb_cursor_close(cur);
    }
    mdb_txn_commit(txn);
    return out_rc;
}

/* hook: a subject access export (sar.h) lists every alert keyed on a
 * person, on every panel, through the same index as the person view. */
enum hub_err hub_views_person_alert_each(struct hub_store *s, const struct hub_config *cfg,
                                         const char *ref, size_t len,
                                         int (*fn)(void *ctx, uint64_t id, int panel),
                                         void *ctx, struct hub_error *err)
{
    struct pids ids = {0};
    enum hub_err rc = CSPH_ERR_OK;
    for (size_t p = 0; p < cfg->npanels && !rc; p++)
        rc = person_alert_ids(s, cfg->panels[p].name, (int)p, ref, len, &ids, err);
    if (!rc && ids.n)
        qsort(ids.v, ids.n, sizeof *ids.v, cmp_pid);
    for (size_t i = 0; i < ids.n && !rc; i++)
        if (fn(ctx, ids.v[i].id, ids.v[i].panel))
            break;
    free(ids.v);
    return rc;
}

enum hub_err hub_views_person(struct hub_views_req *v, const struct hub_request *r,
                              msgpack_packer *pk, struct hub_error *err)
{
    const char *ref = NULL;
    size_t ref_len = 0;
    uint64_t after = 0, max = PERSON_EVENTS_DEFAULT, alerts_after = 0;
    enum hub_err rc = hub_wire_str(r, "ref", 1, 64, 1, &ref, &ref_len, err);
    if (!rc && !csph_ref_valid(ref, ref_len))
        rc = hub_error_set(err, CSPH_ERR_BAD_REQUEST, "ref",
                           "'ref' must be a person reference: 1-64 of A-Z a-z 0-9 . _ : -");
    if (!rc)
        rc = hub_wire_u64(r, "after", 0, UINT64_MAX, &after, NULL, err);
    if (!rc)
        rc = hub_wire_u64(r, "max", 1, PERSON_EVENTS_MAX, &max, NULL, err);
    if (!rc)
        rc = hub_wire_u64(r, "alerts_after", 0, UINT64_MAX, &alerts_after, NULL, err);
    if (rc)
        return rc;
    msgpack_sbuffer as, es;
    msgpack_sbuffer_init(&as);
    msgpack_sbuffer_init(&es);
    msgpack_packer apk, epk;
    msgpack_packer_init(&apk, &as, msgpack_sbuffer_write);
    msgpack_packer_init(&epk, &es, msgpack_sbuffer_write);
    struct seqs ev = {0};
    struct pids ids = {0};
    uint32_t nalerts = 0;
    uint64_t alerts_last = alerts_after;
    int alerts_more = 0;
    int full = is_auditor(v);
    /* A panel the caller does not belong to is never shown, not even as
     * existence; a person under a standing restriction is not found by
     * their reference (restrictview.h), but by the dpo and the auditor. */
    int withheld = hub_restrictview_applies(v->who) && person_restricted(v->store, ref, ref_len);
    for (size_t p = 0; p < v->cfg->npanels && !rc && !withheld; p++)
        if (may_read(v, (int)p))
            rc = person_alert_ids(v->store, v->cfg->panels[p].name, (int)p, ref, ref_len, &ids,
                                  err);
    if (rc)
        goto out;
    if (ids.n)
        qsort(ids.v, ids.n, sizeof *ids.v, cmp_pid);
    /* Alerts in id order, a page after alerts_after (at most
     * CSPH_VIEWS_PERSON_ALERTS_MAX, and half the reply's room: the events
     * have the rest); the events are the evidence of all of them, paged on
     * their own. */
    for (size_t i = 0; i < ids.n && !rc; i++) {
        uint64_t id = ids.v[i].id;
        int p = ids.v[i].panel;
        if (id > alerts_after && !alerts_more) {
            if (nalerts < CSPH_VIEWS_PERSON_ALERTS_MAX && (!nalerts || as.size <= v->room / 2)) {
                int panel = -1;
                if ((rc = hub_queues_pack_one(v->queues, id, hub_restrictview_qview(v->who), &apk,
                                              &panel, err)))
                    break;
                nalerts++;
                alerts_last = id;
            } else {
                alerts_more = 1;
            }
        }
        /* On a restricted panel, only that a case exists: no evidence. */
        if (v->cfg->panels[p].restricted && !full)
            continue;
        struct hub_alert_brief b;
        if ((rc = hub_queues_alert_brief(v->queues, NULL, id, &b, err)))
            break;
        if (seqs_add(&ev, b.evidence, b.nevidence))
            rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
        hub_alert_brief_free(&b);
    }
    if (rc)
        goto out;
    if (ev.n)
        qsort(ev.v, ev.n, sizeof *ev.v, cmp_u64);
    /* Events after `after`, each once, in seq order, within max and the
     * reply's room (at least one while any is left, so paging moves on). */
    size_t i = 0;
    while (i < ev.n && ev.v[i] <= after)
        i++;
    uint32_t nevents = 0;
    uint64_t last = after, prev = 0;
    size_t room = v->room > as.size ? v->room - as.size : 0;
    for (; i < ev.n && nevents < max; i++) {
        if (ev.v[i] == prev)
            continue;
        prev = ev.v[i];
        size_t len = 0;
        struct hub_error why;
        if (hub_erase_hidden(v->store, v->who, ev.v[i]) || /* restricted (erase.h) */
            hub_store_get(v->store, ev.v[i], event_len, &len, &why) != CSPH_ERR_OK)
            continue;
        if (nevents && es.size + len + EVENT_ENTRY_OVERHEAD > room)
            break;
        struct event_pack c = {&epk, &es, room, 0};
        if ((rc = hub_store_get(v->store, ev.v[i], pack_event, &c, err)))
            goto out;
        nevents++;
        last = ev.v[i];
    }
    while (i < ev.n && ev.v[i] <= last)
        i++;
    v->returned = nalerts + nevents;
    hub_reply_begin(pk, &r->req, 1, 7);
    hub_pack_str(pk, "ref");
    hub_pack_strn(pk, ref, ref_len);
    hub_pack_str(pk, "alerts");
    msgpack_pack_array(pk, nalerts);
    hub_pack_raw(pk, as.data, as.size);
    hub_pack_str(pk, "alerts_next");
    msgpack_pack_uint64(pk, alerts_last);
    hub_pack_str(pk, "alerts_end");
    if (alerts_more)
        msgpack_pack_false(pk);
    else
        msgpack_pack_true(pk);
    hub_pack_str(pk, "events");
    msgpack_pack_array(pk, nevents);
    hub_pack_raw(pk, es.data, es.size);
    hub_pack_str(pk, "next");
    msgpack_pack_uint64(pk, last);
    hub_pack_str(pk, "end");
    if (i >= ev.n)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
out:
    free(ev.v);
    free(ids.v);
    msgpack_sbuffer_destroy(&as);
    msgpack_sbuffer_destroy(&es);
    return rc;
}

/* ---- the index ----------------------------------------------------------- */

static enum hub_err index_put(struct hub_store *s, MDB_dbi dbi, const char *panel,
                              const char *value, size_t len, uint64_t id,
                              struct hub_error *err)
{
    if (!csph_ref_valid(value, len))
        return CSPH_ERR_OK; /* not a reference a person page can ask for */
    unsigned char kb[80 + 70], idb[8];
    hub_put_be64(idb, id);
    MDB_val k = {index_key(kb, panel, value, len), kb}, v = {8, idb};
    int rc = hub_redo_put(hub_store_redo(s), hub_store_txn(s), dbi, &k, &v, 0);
    return rc && rc != MDB_KEYEXIST ? lmdb_fail(err, rc, "indexing an alert by person") : 0;
}

enum hub_err hub_views_index_alert(struct hub_store *s, const char *panel,
                                   const struct hub_alert_draft *d, uint64_t id,
                                   struct hub_error *err)
{
    MDB_dbi dbi;
    enum hub_err rc = hub_store_dbi(s, PERSON_ALERTS_DB, MDB_DUPSORT, &dbi, err);
    for (size_t i = 0; !rc && i < d->nkey; i++)
        if (d->key_tags[i] == 's')
            rc = index_put(s, dbi, panel, d->key_values[i], strlen(d->key_values[i]), id, err);
    return rc;
}

struct backfill {
    struct hub_store *s;
    MDB_dbi dbi;
    uint64_t n;
    enum hub_err rc;
    struct hub_error *err;
};

static int backfill_one(void *ctx, uint64_t id, const void *bytes, size_t len)
{
    struct backfill *b = ctx;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, bytes, len, NULL) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *panel = hub_mp_get(&u.data, "panel"),
                             *key = hub_mp_get(&u.data, "key");
        if (panel && panel->type == MSGPACK_OBJECT_STR && panel->via.str.size < 70 && key &&
            key->type == MSGPACK_OBJECT_MAP) {
            char pname[72];
            memcpy(pname, panel->via.str.ptr, panel->via.str.size);
            pname[panel->via.str.size] = 0;
            for (uint32_t i = 0; i < key->via.map.size && !b->rc; i++) {
                const msgpack_object *x = &key->via.map.ptr[i].val;
                if (x->type == MSGPACK_OBJECT_STR)
                    b->rc = index_put(b->s, b->dbi, pname, x->via.str.ptr, x->via.str.size, id,
                                      b->err);
            }
            b->n++;
        }
    }
    msgpack_unpacked_destroy(&u);
    return b->rc != CSPH_ERR_OK;
}

enum hub_err hub_views_backfill(struct hub_store *s, struct hub_queues *q, uint64_t *indexed,
                                struct hub_error *err)
{
    MDB_dbi dbi;
    *indexed = 0;
    enum hub_err rc = hub_store_dbi(s, PERSON_ALERTS_DB, MDB_DUPSORT, &dbi, err);
    if (rc)
        return rc;
    MDB_txn *txn = hub_store_txn(s);
    MDB_val k = {sizeof backfilled_key - 1, (void *)backfilled_key}, v;
    if (mdb_get(txn, dbi, &k, &v) == 0)
        return CSPH_ERR_OK;
    struct backfill b = {s, dbi, 0, CSPH_ERR_OK, err};
    if ((rc = hub_queues_each_in(q, txn, backfill_one, &b, err)) || (rc = b.rc))
        return rc;
    unsigned char one = 1;
    v.mv_size = 1;
    v.mv_data = &one;
    int mrc = hub_redo_put(hub_store_redo(s), txn, dbi, &k, &v, 0);
    if (mrc)
        return lmdb_fail(err, mrc, "marking the person index built");
    *indexed = b.n;
    return CSPH_ERR_OK;
}

/* hook (alertredact.h): an erasure takes the person's entries out, on
 * every panel; the alerts stay in the index under their other key values. */
enum hub_err hub_views_unindex_person(struct hub_store *s, const struct hub_config *cfg,
                                      const char *ref, size_t len, struct hub_error *err)
{
    MDB_dbi dbi;
    if (!csph_ref_valid(ref, len))
        return CSPH_ERR_OK;
    enum hub_err rc = hub_store_dbi(s, PERSON_ALERTS_DB, MDB_DUPSORT, &dbi, err);
    for (size_t p = 0; !rc && p < cfg->npanels; p++) {
        unsigned char kb[80 + 70];
        MDB_val k = {index_key(kb, cfg->panels[p].name, ref, len), kb};
        int mrc = hub_redo_del(hub_store_redo(s), hub_store_txn(s), dbi, &k, NULL);
        if (mrc && mrc != MDB_NOTFOUND)
            rc = lmdb_fail(err, mrc, "taking a person out of the person index");
    }
    return rc;
}

/* hook (alertredact.h): a retention sweep's expired alert leaves the index
 * under one key value of its panel; the panel's other alerts stay. */
enum hub_err hub_views_unindex_alert(struct hub_store *s, const char *panel, const char *value,
                                     size_t len, uint64_t id, struct hub_error *err)
{
    MDB_dbi dbi;
    if (!csph_ref_valid(value, len))
        return CSPH_ERR_OK; /* never indexed (index_put) */
    enum hub_err rc = hub_store_dbi(s, PERSON_ALERTS_DB, MDB_DUPSORT, &dbi, err);
    unsigned char kb[80 + 70], idb[8];
    hub_put_be64(idb, id);
    MDB_val k = {index_key(kb, panel, value, len), kb}, v = {8, idb};
    int mrc = rc ? 0 : hub_redo_del(hub_store_redo(s), hub_store_txn(s), dbi, &k, &v);
    if (mrc && mrc != MDB_NOTFOUND)
        rc = lmdb_fail(err, mrc, "taking an alert out of the person index");
    return rc;
}
