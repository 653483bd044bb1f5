#include "panelwork.h"
#include "alertredact.h"

#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "bekey.h"
#include "casefile.h"
#include "cases.h"
#include "ingest.h"
#include "log.h"
#include "meetings.h"
#include "mpx.h"
#include "pwstore.h"
#include "queues.h"
#include "timefmt.h"
#include "wire.h"

/* The views' person index (views.h): panel \0 key value -> alert ids.
 * Read here to find a case's open review.due alert without a scan. */
#define PERSON_ALERTS_DB "person_alerts"
#define REVIEW_RULE "review.due"

static int is_type(const struct hub_event_info *info, const char *name)
{
    return strlen(name) == info->type_len && memcmp(info->type, name, info->type_len) == 0;
}

static const msgpack_object *str_field(const msgpack_object *obj, const char *name)
{
    const msgpack_object *o = hub_mp_get(obj, name);
    return o && o->type == MSGPACK_OBJECT_STR ? o : NULL;
}

static uint64_t u64_field(const msgpack_object *obj, const char *name)
{
    const msgpack_object *o = hub_mp_get(obj, name);
    return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? o->via.u64 : 0;
}

static int64_t time_field(const msgpack_object *obj, const char *name)
{
    const msgpack_object *o = str_field(obj, name);
    int64_t ms = 0;
    if (o && csph_time_parse(o->via.str.ptr, o->via.str.size, &ms, NULL) != 0)
        ms = 0;
    return ms;
}

static void copy(char *out, size_t n, const msgpack_object *o)
{
    size_t len = o ? o->via.str.size : 0;
    if (len >= n)
        len = n - 1;
    if (len)
        memcpy(out, o->via.str.ptr, len);
    out[len] = 0;
}

/* The panel of an event's `panel` field, configured: its index or -1. */
static int panel_of(struct hub_ingest *g, const msgpack_object *obj)
{
    const msgpack_object *p = str_field(obj, "panel");
    return p ? hub_config_panel_find(g->cfg, p->via.str.ptr, p->via.str.size) : -1;
}

static int64_t cadence_ms(const struct hub_panel_work *w, int risk)
{
    return risk >= 0 && risk < 3 && w->review_days[risk]
               ? (int64_t)w->review_days[risk] * CSPH_MS_PER_DAY
               : 0;
}

/* The timer a case's record keeps in cases_due (cases.h). */
static int64_t timer_of(const struct hub_case *c)
{
    return c->open && !c->review_pending ? c->review_due_ms : 0;
}

/* alert.status accepted: the case opens unless one is open already. */
static enum hub_err open_case(struct hub_ingest *g, const msgpack_object *obj, uint64_t seq,
                              int64_t received_ms, struct hub_error *err)
{
    uint64_t id = u64_field(obj, "alert");
    struct hub_alert_brief b;
    struct hub_error why;
    if (!id || !hub_mp_str_eq(hub_mp_get(obj, "status"), "accepted"))
        return CSPH_ERR_OK;
    if (hub_queues_alert_brief(g->queues, hub_store_txn(g->store), id, &b, &why))
        return CSPH_ERR_OK; /* no such alert: nothing to open */
    enum hub_err rc = CSPH_ERR_OK;
    /* The hub's own escalations belong to a case already; a key that is
     * not a reference (an alert number) names no case. */
    if (b.panel_index < 0 || b.nkey == 0 || b.key_tags[0] != 's' ||
        strcmp(b.rule, REVIEW_RULE) == 0 ||
        !csph_ref_valid(b.key_values[0], strlen(b.key_values[0])))
        goto out;
    const struct hub_panel *p = &g->cfg->panels[b.panel_index];
    struct hub_case c;
    int found;
    /* Every acceptance is on the next agenda, a case's first or not. */
    if ((rc = hub_meetings_index_accepted(g->store, p->name, id, received_ms, b.key_values[0],
                                          err)))
        goto out;
    if ((rc = hub_cases_get(g->store, hub_store_txn(g->store), p->name, b.key_values[0],
                            strlen(b.key_values[0]), &c, &found, err)))
        goto out;
    if (found && c.open)
        goto out;
    int64_t old = found ? timer_of(&c) : 0;
    int64_t heard = found ? c.heard_day : 0;
    memset(&c, 0, sizeof c);
    snprintf(c.panel, sizeof c.panel, "%.*s", (int)sizeof c.panel - 1, p->name);
    snprintf(c.key, sizeof c.key, "%.*s", CSPH_CASE_KEY_MAX, b.key_values[0]);
    c.open = 1;
    c.opened_seq = seq;
    c.opened_ms = received_ms;
    c.alert = id;
    c.risk = b.priority;
    c.heard_day = heard; /* a case heard before and reopened keeps its last hearing */
    int64_t cad = cadence_ms(&p->work, c.risk);
    c.review_due_ms = cad ? received_ms + cad : 0;
    rc = hub_cases_put(g->store, &c, old, err);
out:
    hub_alert_brief_free(&b);
    return rc;
}

/* A case's open review.due alerts are closed when its review is recorded
 * (the record is the case.update itself, so a replay closes them too). */
static enum hub_err close_review_alerts(struct hub_ingest *g, const char *panel, const char *key,
                                        struct hub_error *err)
{
    MDB_txn *txn = hub_store_txn(g->store);
    MDB_dbi dbi;
    MDB_cursor *cur;
    int absent;
    enum hub_err rc = hub_pw_dbi(g->store, txn, PERSON_ALERTS_DB, MDB_DUPSORT, &dbi, &absent, err);
    if (rc)
        return rc;
    unsigned char kb[CSPH_PW_CASEKEY_MAX];
    MDB_val k = {hub_pw_case_key(kb, panel, key, strlen(key)), kb}, v;
    uint64_t ids[64];
    size_t n = 0;
    int mrc = mdb_cursor_open(txn, dbi, &cur);
    if (mrc)
        return hub_pw_fail(err, mrc, "reading the person index");
    /* Newest last: the open review is among a case's latest alerts. */
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP))
        if (v.mv_size == 8) {
            if (n == 64) {
                memmove(ids, ids + 1, 63 * sizeof *ids);
                n--;
            }
            ids[n++] = hub_get_be64(v.mv_data);
        }
    mdb_cursor_close(cur);
    for (size_t i = 0; i < n && rc == CSPH_ERR_OK; i++) {
        struct hub_alert_brief b;
        struct hub_error why;
        if (hub_queues_alert_brief(g->queues, txn, ids[i], &b, &why))
            continue;
        int open = strcmp(b.rule, REVIEW_RULE) == 0 &&
                   (b.status == CSPH_ALERT_OPEN || b.status == CSPH_ALERT_ACKNOWLEDGED);
        hub_alert_brief_free(&b);
        int pi;
        if (open)
            rc = hub_queues_set_status(g->queues, txn, ids[i], CSPH_ALERT_CLOSED, &pi, err);
    }
    return rc;
}

static enum hub_err case_update(struct hub_ingest *g, const msgpack_object *obj, uint64_t seq,
                                int64_t received_ms, struct hub_error *err)
{
    int pi = panel_of(g, obj);
    const msgpack_object *subj = str_field(obj, "subject"), *st = hub_mp_get(obj, "status"),
                         *risk = str_field(obj, "risk");
    if (pi < 0 || !subj)
        return CSPH_ERR_OK;
    const struct hub_panel *p = &g->cfg->panels[pi];
    struct hub_case c;
    int found;
    enum hub_err rc = hub_cases_get(g->store, hub_store_txn(g->store), p->name, subj->via.str.ptr,
                                    subj->via.str.size, &c, &found, err);
    if (rc || !found || !c.open)
        return rc;
    int64_t old = timer_of(&c);
    int prio = risk ? hub_priority_parse(risk->via.str.ptr, risk->via.str.size) : -1;
    if (hub_mp_str_eq(st, "closed")) {
        c.open = 0;
        copy(c.outcome, sizeof c.outcome, str_field(obj, "outcome"));
        c.closed_seq = seq;
        c.closed_ms = received_ms;
        c.review_pending = 0;
        if ((rc = close_review_alerts(g, c.panel, c.key, err)))
            return rc;
        return hub_cases_put(g->store, &c, old, err);
    }
    if (prio >= 0)
        c.risk = prio;
    int64_t cad = cadence_ms(&p->work, c.risk);
    if (hub_mp_str_eq(st, "reviewed")) {
        c.reviews++;
        /* On time: recorded by the London day it fell due (or before). */
        if (!c.review_due_ms ||
            hub_panelcfg_london_day(received_ms) <= hub_panelcfg_london_day(c.review_due_ms))
            c.reviews_on_time++;
        c.review_pending = 0;
        c.review_due_ms = cad ? received_ms + cad : 0;
        if ((rc = close_review_alerts(g, c.panel, c.key, err)))
            return rc;
    } else if (prio >= 0 && !c.review_pending) {
        /* A new risk level re-times the next review from now. */
        c.review_due_ms = cad ? received_ms + cad : 0;
    }
    return hub_cases_put(g->store, &c, old, err);
}

/* risk.assessment: the level the assessor set, or the one its score gives
 * on the panel (panelcfg.h risk_scores), re-times the next review like a
 * case.update with that risk. */
static enum hub_err risk_assessment(struct hub_ingest *g, const msgpack_object *obj,
                                    int64_t received_ms, struct hub_error *err)
{
    int pi = panel_of(g, obj);
    const msgpack_object *subj = str_field(obj, "subject"), *risk = str_field(obj, "risk"),
                         *tool = str_field(obj, "tool"), *score = hub_mp_get(obj, "score");
    if (pi < 0 || !subj)
        return CSPH_ERR_OK;
    const struct hub_panel *p = &g->cfg->panels[pi];
    int prio = risk ? hub_priority_parse(risk->via.str.ptr, risk->via.str.size)
               : tool && score && score->type == MSGPACK_OBJECT_POSITIVE_INTEGER
                   ? hub_panelcfg_risk_of_score(&p->work, tool->via.str.ptr, tool->via.str.size,
                                                (int64_t)score->via.u64)
                   : -1;
    struct hub_case c;
    int found;
    enum hub_err rc = hub_cases_get(g->store, hub_store_txn(g->store), p->name, subj->via.str.ptr,
                                    subj->via.str.size, &c, &found, err);
    if (rc || !found || !c.open || prio < 0 || prio == c.risk)
        return rc;
    int64_t old = timer_of(&c);
    c.risk = prio;
    int64_t cad = cadence_ms(&p->work, c.risk);
    if (!c.review_pending)
        c.review_due_ms = cad ? received_ms + cad : 0;
    return hub_cases_put(g->store, &c, old, err);
}

static enum hub_err case_heard(struct hub_ingest *g, const msgpack_object *obj,
                               struct hub_error *err)
{
    int pi = panel_of(g, obj);
    const msgpack_object *subj = str_field(obj, "subject"), *m = str_field(obj, "meeting");
    int64_t day;
    if (pi < 0 || !subj || !m || hub_panelcfg_day_parse(m->via.str.ptr, m->via.str.size, &day))
        return CSPH_ERR_OK;
    struct hub_case c;
    int found;
    enum hub_err rc = hub_cases_get(g->store, hub_store_txn(g->store), g->cfg->panels[pi].name,
                                    subj->via.str.ptr, subj->via.str.size, &c, &found, err);
    if (rc || !found)
        return rc;
    if (day > c.heard_day)
        c.heard_day = day;
    return hub_cases_put(g->store, &c, timer_of(&c), err);
}

static enum hub_err action_created(struct hub_ingest *g, const msgpack_object *obj, uint64_t seq,
                                   int64_t received_ms, struct hub_error *err)
{
    int pi = panel_of(g, obj);
    struct hub_action a = {0};
    a.id = u64_field(obj, "action");
    if (pi < 0 || !a.id)
        return CSPH_ERR_OK;
    snprintf(a.panel, sizeof a.panel, "%s", g->cfg->panels[pi].name);
    copy(a.key, sizeof a.key, str_field(obj, "subject"));
    copy(a.what, sizeof a.what, str_field(obj, "what"));
    copy(a.owner, sizeof a.owner, str_field(obj, "owner"));
    a.owner_kind = hub_mp_str_eq(hub_mp_get(obj, "owner_kind"), "person") ? 'p' : 'a';
    a.due_ms = time_field(obj, "due_at");
    a.status = CSPH_ACTION_OPEN;
    a.created_seq = seq;
    a.created_ms = received_ms;
    a.alert = u64_field(obj, "alert");
    return hub_actions_put(g->store, &a, NULL, err);
}

static enum hub_err action_updated(struct hub_ingest *g, const msgpack_object *obj,
                                   int64_t received_ms, struct hub_error *err)
{
    struct hub_action a, old;
    int found;
    enum hub_err rc = hub_actions_get(g->store, hub_store_txn(g->store), u64_field(obj, "action"),
                                      &old, &found, err);
    if (rc || !found)
        return rc;
    a = old;
    const msgpack_object *st = hub_mp_get(obj, "status");
    a.updated_ms = received_ms;
    copy(a.reason, sizeof a.reason, str_field(obj, "reason"));
    if (hub_mp_str_eq(st, "done")) {
        a.status = CSPH_ACTION_DONE;
        a.on_time = received_ms <= a.due_ms;
    } else if (hub_mp_str_eq(st, "not_done")) {
        a.status = CSPH_ACTION_NOT_DONE;
    } else if (hub_mp_str_eq(st, "retimed")) {
        int64_t due = time_field(obj, "due_at");
        if (due)
            a.due_ms = due;
        a.status = CSPH_ACTION_OPEN;
        a.escalated = 0; /* the new date runs again */
        a.retimed++;
    }
    return hub_actions_put(g->store, &a, &old, err);
}

static enum hub_err timer_fired(struct hub_ingest *g, const msgpack_object *obj,
                                struct hub_error *err)
{
    const msgpack_object *t = hub_mp_get(obj, "timer");
    enum hub_err rc;
    int found;
    if (hub_mp_str_eq(t, "action")) {
        struct hub_action a, old;
        if ((rc = hub_actions_get(g->store, hub_store_txn(g->store), u64_field(obj, "action"),
                                  &old, &found, err)) ||
            !found)
            return rc;
        a = old;
        a.escalated = 1;
        return hub_actions_put(g->store, &a, &old, err);
    }
    if (!hub_mp_str_eq(t, "review"))
        return CSPH_ERR_OK;
    int pi = panel_of(g, obj);
    const msgpack_object *subj = str_field(obj, "subject");
    struct hub_case c;
    if (pi < 0 || !subj)
        return CSPH_ERR_OK;
    if ((rc = hub_cases_get(g->store, hub_store_txn(g->store), g->cfg->panels[pi].name,
                            subj->via.str.ptr, subj->via.str.size, &c, &found, err)) ||
        !found || !c.open)
        return rc;
    int64_t old = c.review_due_ms; /* live, taken already; replayed, spent here */
    c.review_pending = 1;
    return hub_cases_put(g->store, &c, old, err);
}

enum hub_err hub_panelwork_apply(struct hub_ingest *g, const struct hub_event_info *info,
                                 const msgpack_object *obj, uint64_t seq, int64_t received_ms,
                                 struct hub_error *err)
{
    enum hub_err rc = hub_meetings_index_event(g->cfg, g->store, info, obj, seq, err);
    if (!rc) /* hook: the case's history for its page (casefile.h) */
        rc = hub_casefile_note(g->store, g->cfg, info, obj, seq, err);
    if (rc)
        return rc;
    if (is_type(info, "alert.status"))
        return open_case(g, obj, seq, received_ms, err);
    if (is_type(info, "case.update"))
        return case_update(g, obj, seq, received_ms, err);
    if (is_type(info, "case.heard"))
        return case_heard(g, obj, err);
    if (is_type(info, "risk.assessment"))
        return risk_assessment(g, obj, received_ms, err);
    if (is_type(info, "action.created"))
        return action_created(g, obj, seq, received_ms, err);
    if (is_type(info, "action.updated"))
        return action_updated(g, obj, received_ms, err);
    if (is_type(info, "timer.fired"))
        return timer_fired(g, obj, err);
    return CSPH_ERR_OK;
}

struct opened_fill {
    const struct hub_case *c;
    const char *by, *gateway;
};

static void fill_opened(void *vctx, msgpack_packer *pk)
{
    struct opened_fill *f = vctx;
    hub_pack_str(pk, "panel");
    hub_pack_str(pk, f->c->panel);
    hub_pack_str(pk, "subject");
    hub_pack_str(pk, f->c->key);
    hub_pack_str(pk, "alert");
    msgpack_pack_uint64(pk, f->c->alert);
    hub_pack_str(pk, "risk");
    hub_pack_str(pk, hub_priority_name((enum hub_priority)f->c->risk));
    if (f->by) {
        hub_pack_str(pk, "by");
        hub_pack_str(pk, f->by);
    }
    if (f->gateway) {
        hub_pack_str(pk, "gateway");
        hub_pack_str(pk, f->gateway);
    }
}

enum hub_err hub_panelwork_decided(struct hub_ingest *g, uint64_t id, uint64_t seq,
                                   const char *by, const char *gateway, int64_t now_ms,
                                   struct hub_error *err)
{
    struct hub_alert_brief b;
    struct hub_error why;
    enum hub_err rc = CSPH_ERR_OK;
    if (hub_queues_alert_brief(g->queues, hub_store_txn(g->store), id, &b, &why))
        return CSPH_ERR_OK;
    if (b.panel_index >= 0 && b.nkey > 0 && b.key_tags[0] == 's') {
        struct hub_case c;
        int found;
        rc = hub_cases_get(g->store, hub_store_txn(g->store), g->cfg->panels[b.panel_index].name,
                           b.key_values[0], strlen(b.key_values[0]), &c, &found, err);
        if (!rc && found && c.open && c.opened_seq == seq) {
            struct opened_fill f = {&c, by, gateway};
            uint64_t s2;
            rc = hub_panelwork_emit(g, "case.opened", "case-opened",
                                    4 + (by ? 1 : 0) + (gateway ? 1 : 0), fill_opened, &f, now_ms,
                                    &s2, err);
        }
    }
    hub_alert_brief_free(&b);
    return rc;
}

enum hub_err hub_panelwork_check_event(const struct hub_config *cfg,
                                       const struct hub_event_info *info,
                                       const msgpack_object *obj, struct hub_error *err)
{
    if (is_type(info, "risk.assessment") && !hub_mp_get(obj, "risk")) {
        /* A score alone must be one the panel knows how to read. */
        const msgpack_object *p = str_field(obj, "panel"), *tool = str_field(obj, "tool");
        int pi = p ? hub_config_panel_find(cfg, p->via.str.ptr, p->via.str.size) : -1;
        if (pi >= 0 && tool &&
            hub_panelcfg_risk_of_score(&cfg->panels[pi].work, tool->via.str.ptr,
                                       tool->via.str.size, 0) < 0)
            return hub_error_set(err, CSPH_ERR_BAD_EVENT, "tool",
                                 "panel %s has no risk_scores for '%.*s': send the level in "
                                 "'risk', or configure the tool (docs/panels.md)",
                                 cfg->panels[pi].name, (int)tool->via.str.size, tool->via.str.ptr);
        return CSPH_ERR_OK;
    }
    if (!is_type(info, "case.update"))
        return CSPH_ERR_OK;
    if (hub_mp_get(obj, "on_time"))
        return hub_error_set(err, CSPH_ERR_BAD_EVENT, "on_time",
                             "on_time is written by the hub on the reviews it records "
                             "(op case.review), not sent");
    const msgpack_object *out = str_field(obj, "outcome"), *p = str_field(obj, "panel");
    if (!out)
        return CSPH_ERR_OK;
    if (!hub_mp_str_eq(hub_mp_get(obj, "status"), "closed"))
        return hub_error_set(err, CSPH_ERR_BAD_EVENT, "outcome",
                             "an outcome is recorded only when a case is closed (status closed)");
    int pi = p ? hub_config_panel_find(cfg, p->via.str.ptr, p->via.str.size) : -1;
    if (pi < 0)
        return CSPH_ERR_OK; /* the schema refused it already */
    const struct hub_panel_work *w = &cfg->panels[pi].work;
    if (!hub_panelcfg_outcome_ok(w, out->via.str.ptr, out->via.str.size)) {
        char list[600];
        hub_panelcfg_outcomes_text(w, list, sizeof list);
        return hub_error_set(err, CSPH_ERR_BAD_EVENT, "outcome",
                             "'%.*s' is not an outcome of panel %s (%s)",
                             (int)out->via.str.size, out->via.str.ptr, cfg->panels[pi].name,
                             w->noutcomes ? list : "it has no outcomes configured");
    }
    return CSPH_ERR_OK;
}

int hub_panelwork_next_due(struct hub_store *s, int64_t *due_ms)
{
    MDB_txn *txn;
    struct hub_error err;
    int64_t a = 0, r = 0;
    if (hub_pw_read_begin(s, &txn, &err))
        return 0;
    int ha = hub_actions_next_due(s, txn, &a), hr = hub_cases_next_due(s, txn, &r);
    hub_pw_read_end(txn);
    if (!ha && !hr)
        return 0;
    *due_ms = ha && hr ? (a < r ? a : r) : ha ? a : r;
    return 1;
}

enum hub_err hub_panelwork_emit(struct hub_ingest *g, const char *type, const char *id_prefix,
                                uint32_t nfields, hub_panelwork_fill_fn fill, void *ctx,
                                int64_t now_ms, uint64_t *seq, struct hub_error *err)
{
    char eid[96], when[32];
    snprintf(eid, sizeof eid, "%s-%llu", id_prefix,
             (unsigned long long)hub_store_next_seq(g->store));
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4 + nfields);
    hub_pack_str(&pk, "id");
    hub_pack_str(&pk, eid);
    hub_pack_str(&pk, "type");
    hub_pack_str(&pk, type);
    hub_pack_str(&pk, "source");
    hub_pack_str(&pk, CSPH_HUB_SOURCE);
    hub_pack_str(&pk, "occurred_at");
    hub_pack_strn(&pk, when, (size_t)csph_time_format(now_ms, when));
    fill(ctx, &pk);
    enum hub_err rc = hub_ingest_own_event(g, sb.data, sb.size, now_ms, seq, err);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

/* timer.fired for an action or a review. */
struct timer_fill {
    const char *timer;
    uint64_t action;
    const char *panel, *key, *rule;
    int priority;
    int64_t due_ms;
};

static void fill_timer(void *vctx, msgpack_packer *pk)
{
    struct timer_fill *t = vctx;
    char when[32];
    hub_pack_str(pk, "timer");
    hub_pack_str(pk, t->timer);
    if (t->action) {
        hub_pack_str(pk, "action");
        msgpack_pack_uint64(pk, t->action);
    }
    hub_pack_str(pk, "subject");
    hub_pack_str(pk, t->key);
    hub_pack_str(pk, "panel");
    hub_pack_str(pk, t->panel);
    hub_pack_str(pk, "rule");
    hub_pack_str(pk, t->rule);
    hub_pack_str(pk, "priority");
    hub_pack_str(pk, hub_priority_name((enum hub_priority)t->priority));
    hub_pack_str(pk, "key");
    hub_pack_str(pk, t->key);
    hub_pack_str(pk, "due_at");
    hub_pack_strn(pk, when, (size_t)csph_time_format(t->due_ms, when));
}

enum hub_err hub_panelwork_fire_due(struct hub_ingest *g, int64_t now_ms, size_t max,
                                    size_t *fired, struct hub_error *err)
{
    uint64_t ids[64];
    int64_t dues[64];
    struct hub_case_due cd[64];
    size_t n = 0, nc = 0;
    *fired = 0;
    if (max > 64)
        max = 64;
    enum hub_err rc = hub_actions_take_due(g->store, now_ms, ids, dues, max, &n, err);
    for (size_t i = 0; rc == CSPH_ERR_OK && i < n; i++) {
        struct hub_action a;
        int found;
        if ((rc = hub_actions_get(g->store, hub_store_txn(g->store), ids[i], &a, &found, err)) ||
            !found)
            continue;
        /* The escalation's priority is the case's risk, raised a step by
         * the rule (config/rules.yaml: action.overdue). */
        struct hub_case c;
        int cf;
        if ((rc = hub_cases_get(g->store, hub_store_txn(g->store), a.panel, a.key, strlen(a.key),
                                &c, &cf, err)))
            break;
        char prefix[64];
        snprintf(prefix, sizeof prefix, "timer-action-%llu-%lld", (unsigned long long)a.id,
                 (long long)a.due_ms);
        struct timer_fill t = {"action", a.id, a.panel, a.key, "action", cf ? c.risk : 0, a.due_ms};
        uint64_t seq;
        if ((rc = hub_panelwork_emit(g, "timer.fired", prefix, 8, fill_timer, &t, a.due_ms, &seq,
                                     err)) == CSPH_ERR_OK) {
            (*fired)++;
            LOG_INFO("panelwork", "action %llu on %s passed its due date with no update: "
                     "timer.fired seq %llu", (unsigned long long)a.id, a.panel,
                     (unsigned long long)seq);
        }
    }
    if (rc == CSPH_ERR_OK && *fired < max)
        rc = hub_cases_take_due(g->store, now_ms, cd, max - *fired, &nc, err);
    for (size_t i = 0; rc == CSPH_ERR_OK && i < nc; i++) {
        struct hub_case c;
        int found;
        if ((rc = hub_cases_get(g->store, hub_store_txn(g->store), cd[i].panel, cd[i].key,
                                strlen(cd[i].key), &c, &found, err)) ||
            !found)
            continue;
        /* The timer leaves cases_due in the batch that writes this event,
         * so it fires once; the id need only be unique (emit adds the seq). */
        const char *prefix = "timer-review";
        struct timer_fill t = {"review", 0, c.panel, c.key, REVIEW_RULE, c.risk, cd[i].due_ms};
        uint64_t seq;
        if ((rc = hub_panelwork_emit(g, "timer.fired", prefix, 7, fill_timer, &t, cd[i].due_ms,
                                     &seq, err)) == CSPH_ERR_OK)
            (*fired)++;
    }
    return rc;
}

/* ---- re-derivation: the indexes compared ----------------------------- */

struct collect {
    int indexed;        /* the store has a case or an action index */
    msgpack_sbuffer sb; /* every record packed, in key order */
    size_t n;
    size_t *offsets;
    size_t cap;
    char (*names)[240];
};

static int collect_add(struct collect *c, const char *name)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        size_t *o = realloc(c->offsets, (cap + 1) * sizeof *o);
        if (!o)
            return 1;
        c->offsets = o;
        char(*nm)[240] = realloc(c->names, cap * sizeof *nm);
        if (!nm)
            return 1;
        c->names = nm;
        c->cap = cap;
    }
    snprintf(c->names[c->n], 240, "%s", name);
    c->offsets[c->n++] = c->sb.size;
    return 0;
}

static int collect_case(void *ctx, const struct hub_case *k)
{
    struct collect *c = ctx;
    char name[200];
    /* Named to sort as they are collected: cases (panel, key order: ' '
     * sorts before every character of a panel name), then actions by id. */
    snprintf(name, sizeof name, "1 case %s %s", k->panel, k->key);
    if (collect_add(c, name))
        return 1;
    hub_cases_pack(&c->sb, k);
    return 0;
}

static void collect_free(struct collect *c)
{
    msgpack_sbuffer_destroy(&c->sb);
    free(c->offsets);
    free(c->names);
}

static enum hub_err collect_all(struct hub_store *s, MDB_txn *txn, struct collect *c,
                                struct hub_error *err)
{
    memset(c, 0, sizeof *c);
    msgpack_sbuffer_init(&c->sb);
    MDB_dbi probe;
    int no_cases = 0, no_actions = 0;
    enum hub_err rc = hub_pw_dbi(s, txn, "cases", 0, &probe, &no_cases, err);
    if (!rc)
        rc = hub_pw_dbi(s, txn, "actions", 0, &probe, &no_actions, err);
    c->indexed = !no_cases || !no_actions;
    if (!rc)
        rc = hub_cases_each(s, txn, NULL, collect_case, c, err);
    /* Actions by id, 1 up: ids are gap-free. */
    for (uint64_t id = 1; rc == CSPH_ERR_OK; id++) {
        struct hub_action a;
        int found;
        if ((rc = hub_actions_get(s, txn, id, &a, &found, err)) || !found)
            break;
        char name[200];
        snprintf(name, sizeof name, "2 action %020llu", (unsigned long long)id);
        if (collect_add(c, name)) {
            rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
            break;
        }
        hub_actions_pack(&c->sb, &a);
    }
    if (c->offsets)
        c->offsets[c->n] = c->sb.size;
    return rc;
}

struct hub_panelwork_snapshot {
    struct collect c;
};

enum hub_err hub_panelwork_snapshot_take(struct hub_store *s, MDB_txn *txn,
                                         struct hub_panelwork_snapshot **out,
                                         struct hub_error *err)
{
    struct hub_panelwork_snapshot *snap = calloc(1, sizeof *snap);
    if (!snap)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    enum hub_err rc = collect_all(s, txn, &snap->c, err);
    if (rc) {
        collect_free(&snap->c);
        free(snap);
        return rc;
    }
    *out = snap;
    return CSPH_ERR_OK;
}

void hub_panelwork_snapshot_free(struct hub_panelwork_snapshot **snap)
{
    if (!snap || !*snap)
        return;
    collect_free(&(*snap)->c);
    free(*snap);
    *snap = NULL;
}

/* hook (alertredact.h): the erasure seq when item i of c is a case an
 * erasure renamed to its marker, or an action of one (their case.opened
 * and action.* events no longer name anyone to replay); 0 otherwise. */
static uint64_t kept_by(const struct collect *c, size_t i)
{
    const char *name = c->names[i];
    if (name[0] == '1') {
        const char *m = hub_alert_marker_in(name); /* erased or expired */
        return m ? hub_alert_marker_seq(m, strlen(m)) : 0;
    }
    struct hub_action a;
    if (name[0] != '2' ||
        hub_actions_unpack(c->sb.data + c->offsets[i], c->offsets[i + 1] - c->offsets[i], &a))
        return 0;
    return hub_alert_marker_seq(a.key, strlen(a.key));
}

long hub_panelwork_compare(const struct hub_panelwork_snapshot *snap, struct hub_store *b,
                           FILE *out)
{
    const struct collect ca = snap->c;
    struct collect cb;
    struct hub_error err;
    long diff = 0;
    MDB_txn *txn;
    enum hub_err rc = hub_pw_read_begin(b, &txn, &err);
    if (!rc) {
        rc = collect_all(b, txn, &cb, &err);
        hub_pw_read_end(txn);
    }
    if (rc) {
        fprintf(out, "cases and actions: cannot be read: %s\n", err.message);
        return -1;
    }
    if (!ca.indexed && cb.n) {
        /* A log written before cases existed: the hub never kept them. */
        fprintf(out, "cases and actions: the hub's log has no case index (written before "
                     "cases existed): %zu re-derived, not compared\n", cb.n);
        collect_free(&cb);
        return 0;
    }
    size_t i = 0, j = 0;
    while (i < ca.n || j < cb.n) {
        int cmp = i == ca.n ? 1 : j == cb.n ? -1 : strcmp(ca.names[i], cb.names[j]);
        if (cmp == 0) {
            size_t la = ca.offsets[i + 1] - ca.offsets[i], lb = cb.offsets[j + 1] - cb.offsets[j];
            if (la != lb || memcmp(ca.sb.data + ca.offsets[i], cb.sb.data + cb.offsets[j], la)) {
                if (diff++ < 20)
                    fprintf(out, "  %s differs\n", ca.names[i] + 2);
            }
            i++;
            j++;
        } else if (cmp < 0) {
            /* hook (alertredact.h): a case an erasure renamed to its
             * marker; its case.opened no longer names anyone to replay */
            uint64_t by = kept_by(&ca, i);
            if (by)
                fprintf(out, "  %s kept, erased by erasure seq %llu\n", ca.names[i] + 2,
                        (unsigned long long)by);
            else if (diff++ < 20)
                fprintf(out, "  %s: only in the hub's log\n", ca.names[i] + 2);
            i++;
        } else {
            if (diff++ < 20)
                fprintf(out, "  %s: only in the re-derived log\n", cb.names[j] + 2);
            j++;
        }
    }
    fprintf(out, "cases and actions: %zu in the hub, %zu re-derived, %ld differ\n", ca.n, cb.n,
            diff);
    collect_free(&cb);
    return diff;
}
