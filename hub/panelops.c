#include "panelops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "calendar.h"
#include "casefile.h"
#include "cases.h"
#include "csphub.h"
#include "londontime.h"
#include "meetings.h"
#include "mpx.h"
#include "panelwork.h"
#include "people.h"
#include "pwstore.h"
#include "reply.h"
#include "restrictview.h"
#include "timefmt.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000
#define DUE_DAYS_MAX 3650

/* The panel-work ops are the last rows of CSPH_OP_MAP (wire.h), cases to
 * agenda.issue. */
int hub_panelops_delegable(enum hub_op op)
{
    return op >= CSPH_OP_CASES && op <= CSPH_OP_AGENDA_ISSUE;
}

/* ---- arguments ---------------------------------------------------------- */

/* The indexes as the request should see them: inside the batch (an
 * audited read, or a write) the batch's own transaction, which holds the
 * batches the journal has not put into LMDB yet; otherwise a read
 * transaction of its own (*own = 1: end it with hub_pw_read_end). */
static enum hub_err txn_for(struct hub_ctx *h, MDB_txn **txn, int *own, struct hub_error *e)
{
    struct hub_store *s = hub_core_store(h->core);
    if (hub_core_batch_open(h->core)) {
        *txn = hub_store_txn(s);
        *own = 0;
        return CSPH_ERR_OK;
    }
    *own = 1;
    return hub_pw_read_begin(s, txn, e);
}

static enum hub_err key_arg(struct hub_req *q, char *key, struct hub_error *e)
{
    const char *p = NULL;
    size_t n = 0;
    enum hub_err rc = hub_wire_str(q->r, "key", 1, 64, 1, &p, &n, e);
    if (rc)
        return rc;
    if (!csph_ref_valid(p, n))
        return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "key",
                             "'key' must be a case's key: a person reference of 1-64 characters "
                             "from [A-Za-z0-9._:-]");
    memcpy(key, p, n);
    key[n] = 0;
    return CSPH_ERR_OK;
}

/* Who records it: the caller's identity (or the person a gateway acts
 * for); in security none the request's `by`, if any. */
static enum hub_err by_arg(struct hub_req *q, char *by, struct hub_error *e)
{
    const char *p = NULL;
    size_t n = 0;
    enum hub_err rc = hub_wire_str(q->r, "by", 1, 64, 0, &p, &n, e);
    if (rc)
        return rc;
    by[0] = 0;
    if (q->who) {
        if (p && (strlen(q->who->name) != n || memcmp(p, q->who->name, n) != 0))
            return hub_error_set(e, CSPH_ERR_FORBIDDEN, "by",
                                 "'by' must be the caller (%s): the hub records who did it",
                                 q->who->name);
        snprintf(by, 65, "%s", q->who->name);
        return CSPH_ERR_OK;
    }
    if (p) {
        memcpy(by, p, n);
        by[n] = 0;
    }
    return CSPH_ERR_OK;
}

static const char *gateway_of(const struct hub_req *q)
{
    return q->who && q->who->gateway[0] ? q->who->gateway : NULL;
}

/* An open case (panel, key), read in txn. */
static enum hub_err open_case_arg(struct hub_ctx *h, MDB_txn *txn, int panel, const char *key,
                                  struct hub_case *c, struct hub_error *e)
{
    int found;
    const char *pn = h->cfg->panels[panel].name;
    enum hub_err rc = hub_cases_get(hub_core_store(h->core), txn, pn, key, strlen(key), c, &found, e);
    if (rc)
        return rc;
    if (!found)
        return hub_error_set(e, CSPH_ERR_NOT_FOUND, "key",
                             "no case '%s' on panel %s (a case opens when an alert for it is "
                             "accepted)",
                             key, pn);
    if (!c->open)
        return hub_error_set(e, CSPH_ERR_CONFLICT, "key",
                             "the case '%s' on panel %s is closed (outcome %s): nothing can be "
                             "recorded on it",
                             key, pn, c->outcome[0] ? c->outcome : "not recorded");
    return CSPH_ERR_OK;
}

/* Answer a write: an error the request caused, or the event's seq. */
static enum hub_err answer_write(struct hub_req *q, enum hub_err rc, uint64_t seq,
                                 const char *idname, uint64_t id)
{
    if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL || rc == CSPH_ERR_NOMEM)
        return rc == CSPH_ERR_NOMEM ? CSPH_ERR_INTERNAL : rc;
    if (rc) {
        hub_reply_error(q->pk, &q->r->req, &q->e, 0);
        return CSPH_ERR_OK;
    }
    hub_reply_begin(q->pk, &q->r->req, 1, idname ? 2 : 1);
    hub_pack_str(q->pk, "seq");
    msgpack_pack_uint64(q->pk, seq);
    if (idname) {
        hub_pack_str(q->pk, idname);
        msgpack_pack_uint64(q->pk, id);
    }
    return CSPH_ERR_OK;
}

/* ---- reads ---------------------------------------------------------------- */

struct case_list {
    msgpack_packer pk;
    int status;          /* 1 open, 0 closed, -1 any */
    const char *after;   /* key order: cases after this key */
    uint32_t max, n;
    char last[CSPH_CASE_KEY_MAX + 1];
    int more;
    size_t room;
    msgpack_sbuffer *sb;
    struct hub_restrictview rv; /* restricted persons, for who may not read them */
};

/* A case, action or agenda entry keyed on a person under a standing
 * restriction, for a reader who may not read them (restrictview.h). */
static int withheld(const struct hub_restrictview *rv, const char *key)
{
    return rv->any && hub_restrictview_names(rv, key, strlen(key)) != 0;
}

static int list_case(void *ctx, const struct hub_case *c)
{
    struct case_list *l = ctx;
    if (l->after && strcmp(c->key, l->after) <= 0)
        return 0;
    if (withheld(&l->rv, c->key))
        return 0;
    if (l->status >= 0 && c->open != l->status)
        return 0;
    if (l->n == l->max || l->sb->size > l->room) {
        l->more = 1;
        return 1;
    }
    hub_cases_pack_reply(&l->pk, c);
    snprintf(l->last, sizeof l->last, "%s", c->key);
    l->n++;
    return 0;
}

/* cases: a panel's cases, open by default, in key order, paged by key. */
enum hub_err hub_op_cases(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_error *e = &q->e;
    int panel, own = 0;
    const char *st = NULL, *after = NULL;
    size_t stl = 0, afl = 0;
    uint64_t max = LIST_DEFAULT;
    char after_buf[CSPH_CASE_KEY_MAX + 1] = "";
    enum hub_err rc = hub_ops_panel_arg(h, q, &panel);
    if (!rc)
        rc = hub_wire_str(q->r, "status", 1, 16, 0, &st, &stl, e);
    if (!rc)
        rc = hub_wire_str(q->r, "after", 1, 64, 0, &after, &afl, e);
    if (!rc)
        rc = hub_wire_u64(q->r, "max", 1, LIST_MAX, &max, NULL, e);
    if (rc)
        return rc;
    struct case_list l = {.status = 1, .max = (uint32_t)max,
                          .room = hub_ops_reply_room(h, q->r->req.len), .sb = &h->items};
    if (st) {
        if (stl == 4 && !memcmp(st, "open", 4))
            l.status = 1;
        else if (stl == 6 && !memcmp(st, "closed", 6))
            l.status = 0;
        else if (stl == 3 && !memcmp(st, "all", 3))
            l.status = -1;
        else
            return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "status",
                                 "'status' must be open, closed or all");
    }
    if (after) {
        memcpy(after_buf, after, afl);
        l.after = after_buf;
    }
    h->items.size = 0;
    msgpack_packer_init(&l.pk, &h->items, msgpack_sbuffer_write);
    MDB_txn *txn;
    if ((rc = txn_for(h, &txn, &own, e)))
        return rc;
    if (hub_restrictview_applies(q->who))
        hub_restrictview_open(&l.rv, txn);
    rc = hub_cases_each(hub_core_store(h->core), txn, h->cfg->panels[panel].name, list_case, &l, e);
    if (own)
        hub_pw_read_end(txn);
    if (rc)
        return rc;
    hub_reply_begin(q->pk, &q->r->req, 1, 3);
    hub_pack_str(q->pk, "cases");
    msgpack_pack_array(q->pk, l.n);
    hub_pack_raw(q->pk, h->items.data, h->items.size);
    hub_pack_str(q->pk, "next");
    hub_pack_str(q->pk, l.last);
    hub_pack_str(q->pk, "end");
    if (l.more)
        msgpack_pack_false(q->pk);
    else
        msgpack_pack_true(q->pk);
    q->count = l.n;
    return CSPH_ERR_OK;
}

struct action_pack {
    msgpack_packer *pk;
    int status; /* -1 any */
    int restricted_of_others; /* pack restricted panels' actions as existence only */
    const char *only_panel;   /* NULL: any */
    const struct hub_config *cfg;
    uint32_t n;
    size_t room;
    msgpack_sbuffer *sb;
    int more;
    struct hub_restrictview rv; /* restricted persons, for who may not read them */
};

static int pack_action(void *ctx, const struct hub_action *a)
{
    struct action_pack *p = ctx;
    if (p->status >= 0 && a->status != p->status)
        return 0;
    if (withheld(&p->rv, a->key))
        return 0;
    if (p->only_panel && strcmp(a->panel, p->only_panel) != 0)
        return 0;
    if (p->n == LIST_MAX || p->sb->size > p->room) {
        p->more = 1;
        return 1;
    }
    int restricted = 0;
    if (p->restricted_of_others) {
        int pi = hub_config_panel_find(p->cfg, a->panel, strlen(a->panel));
        restricted = pi < 0 || p->cfg->panels[pi].restricted;
    }
    hub_actions_pack_reply(p->pk, a, restricted);
    p->n++;
    return 0;
}

/* case: one case with its actions. */
enum hub_err hub_op_case(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_error *e = &q->e;
    int panel, own = 0, found;
    char key[CSPH_CASE_KEY_MAX + 1];
    enum hub_err rc = hub_ops_panel_arg(h, q, &panel);
    if (!rc)
        rc = key_arg(q, key, e);
    if (rc)
        return rc;
    MDB_txn *txn;
    struct hub_case c;
    if ((rc = txn_for(h, &txn, &own, e)))
        return rc;
    const char *pn = h->cfg->panels[panel].name;
    struct hub_restrictview rv = {0};
    if (hub_restrictview_applies(q->who))
        hub_restrictview_open(&rv, txn);
    rc = hub_cases_get(hub_core_store(h->core), txn, pn, key, strlen(key), &c, &found, e);
    /* A restricted person's case: the words of a case that does not exist. */
    if (!rc && (!found || withheld(&rv, key)))
        rc = hub_error_set(e, CSPH_ERR_NOT_FOUND, "key", "no case '%s' on panel %s", key, pn);
    h->items.size = 0;
    msgpack_packer ipk;
    msgpack_packer_init(&ipk, &h->items, msgpack_sbuffer_write);
    struct action_pack ap = {.pk = &ipk, .status = -1, .cfg = h->cfg, .sb = &h->items,
                             .room = hub_ops_reply_room(h, q->r->req.len), .rv = rv};
    if (!rc)
        rc = hub_actions_each(hub_core_store(h->core), txn, NULL, pn, key, pack_action, &ap, e);
    /* hook: the case's history and the choices its forms offer (casefile.h) */
    msgpack_sbuffer hist;
    msgpack_sbuffer_init(&hist);
    msgpack_packer hpk;
    msgpack_packer_init(&hpk, &hist, msgpack_sbuffer_write);
    uint32_t nh = 0;
    int htrunc = 0;
    size_t room = ap.room > h->items.size ? ap.room - h->items.size : 0;
    if (!rc)
        rc = hub_casefile_pack_history(hub_core_store(h->core), txn, pn, key, &hpk, &hist, room,
                                       &nh, &htrunc, e);
    if (own)
        hub_pw_read_end(txn);
    if (rc) {
        msgpack_sbuffer_destroy(&hist);
        return rc;
    }
    hub_reply_begin(q->pk, &q->r->req, 1, 5);
    hub_pack_str(q->pk, "case");
    hub_cases_pack_reply(q->pk, &c);
    hub_pack_str(q->pk, "actions");
    msgpack_pack_array(q->pk, ap.n);
    hub_pack_raw(q->pk, h->items.data, h->items.size);
    hub_pack_str(q->pk, "history");
    msgpack_pack_array(q->pk, nh);
    hub_pack_raw(q->pk, hist.data, hist.size);
    hub_pack_str(q->pk, "history_truncated");
    if (htrunc)
        msgpack_pack_true(q->pk);
    else
        msgpack_pack_false(q->pk);
    hub_pack_str(q->pk, "choices");
    hub_casefile_pack_choices(q->pk, h->cfg, h->ids, panel);
    msgpack_sbuffer_destroy(&hist);
    q->count = 1 + ap.n + nh;
    return CSPH_ERR_OK;
}

/* actions: an agency's own (every panel, restricted ones as existence
 * only), or a panel's incomplete actions, or a case's. */
enum hub_err hub_op_actions(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_error *e = &q->e;
    int panel = -1, own = 0;
    const char *st = NULL, *owner = NULL;
    size_t stl = 0, ol = 0;
    char key[CSPH_CASE_KEY_MAX + 1] = "", owner_buf[65] = "";
    int agency = q->who && q->who->role == CSPH_ROLE_AGENCY;
    enum hub_err rc = hub_wire_str(q->r, "status", 1, 16, 0, &st, &stl, e);
    if (!rc)
        rc = hub_wire_str(q->r, "owner", 1, 64, 0, &owner, &ol, e);
    if (rc)
        return rc;
    int status = -1;
    if (st) {
        for (int i = 0; i < 3; i++)
            if (strlen(hub_action_status_name(i)) == stl &&
                !memcmp(st, hub_action_status_name(i), stl))
                status = i;
        if (status < 0)
            return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "status",
                                 "'status' must be open, done or not_done");
    }
    /* Someone at an agency, through the console (people.h), reads their
     * agency's actions and their own. */
    const char *agency_name = agency && q->who->agency[0] ? q->who->agency : NULL;
    if (agency) {
        /* An agency sees its own actions and nobody else's. */
        const char *mine = agency_name ? agency_name : q->who->name;
        if (owner && (ol != strlen(mine) || memcmp(owner, mine, ol)) &&
            (!agency_name || ol != strlen(q->who->name) || memcmp(owner, q->who->name, ol)))
            return hub_error_set(e, CSPH_ERR_FORBIDDEN, "owner",
                                 "agency '%s' may read only its own actions", mine);
        if (hub_mp_get(&q->r->root, "panel") || hub_mp_get(&q->r->root, "key"))
            return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "panel",
                                 "an agency reads its own actions: no panel or key");
        snprintf(owner_buf, sizeof owner_buf, "%.*s", owner ? (int)ol : 64, owner ? owner : mine);
    } else {
        if ((rc = hub_ops_panel_arg(h, q, &panel)))
            return rc;
        if (hub_mp_get(&q->r->root, "key") && (rc = key_arg(q, key, e)))
            return rc;
        if (owner)
            snprintf(owner_buf, sizeof owner_buf, "%.*s", (int)ol, owner);
    }
    MDB_txn *txn;
    if ((rc = txn_for(h, &txn, &own, e)))
        return rc;
    h->items.size = 0;
    msgpack_packer ipk;
    msgpack_packer_init(&ipk, &h->items, msgpack_sbuffer_write);
    struct action_pack ap = {.pk = &ipk, .status = status, .cfg = h->cfg, .sb = &h->items,
                             .room = hub_ops_reply_room(h, q->r->req.len),
                             .restricted_of_others = agency};
    if (hub_restrictview_applies(q->who))
        hub_restrictview_open(&ap.rv, txn);
    const char *pn = panel >= 0 ? h->cfg->panels[panel].name : NULL;
    if (agency) {
        rc = hub_actions_each(hub_core_store(h->core), txn, owner_buf, NULL, NULL, pack_action,
                              &ap, e);
        /* ... and, for someone at an agency asking for all, their own. */
        if (!rc && agency_name && !owner && !ap.more)
            rc = hub_actions_each(hub_core_store(h->core), txn, q->who->name, NULL, NULL,
                                  pack_action, &ap, e);
    } else if (key[0])
        rc = hub_actions_each(hub_core_store(h->core), txn, NULL, pn, key, pack_action, &ap, e);
    else if (owner_buf[0]) {
        /* A panel's actions of one owner: the owner's, on this panel. */
        ap.only_panel = pn;
        rc = hub_actions_each(hub_core_store(h->core), txn, owner_buf, NULL, NULL, pack_action,
                              &ap, e);
    } else
        rc = hub_actions_each(hub_core_store(h->core), txn, NULL, pn, NULL, pack_action, &ap, e);
    if (own)
        hub_pw_read_end(txn);
    if (rc)
        return rc;
    hub_reply_begin(q->pk, &q->r->req, 1, 2);
    hub_pack_str(q->pk, "actions");
    msgpack_pack_array(q->pk, ap.n);
    hub_pack_raw(q->pk, h->items.data, h->items.size);
    hub_pack_str(q->pk, "end");
    if (ap.more)
        msgpack_pack_false(q->pk);
    else
        msgpack_pack_true(q->pk);
    q->count = ap.n;
    return CSPH_ERR_OK;
}

/* The agenda of a meeting, packed into h->items. */
static enum hub_err draw_agenda(struct hub_ctx *h, struct hub_req *q, int panel, int64_t day,
                                MDB_txn *txn, struct hub_agenda_counts *counts)
{
    h->items.size = 0;
    msgpack_packer ipk;
    msgpack_packer_init(&ipk, &h->items, msgpack_sbuffer_write);
    struct hub_agenda_req a = {
        .store = hub_core_store(h->core), .txn = txn, .cfg = h->cfg, .panel = panel, .day = day,
        .now_ms = q->now_ms,
        /* The look-back list is evidence: never on a restricted panel's agenda. */
        .lookback = !h->cfg->panels[panel].restricted,
        .room = hub_ops_reply_room(h, q->r->req.len),
    };
    /* Restricted persons' entries are left out for who may not read them;
     * an issued agenda (agenda.issue) is drawn the same way for its issuer. */
    if (hub_restrictview_applies(q->who))
        hub_restrictview_open(&a.rv, txn);
    return hub_meetings_agenda(&a, &ipk, counts, &q->e);
}

static enum hub_err meeting_arg(struct hub_ctx *h, struct hub_req *q, int panel, int64_t *day)
{
    const char *m = NULL;
    size_t ml = 0;
    enum hub_err rc = hub_wire_str(q->r, "meeting", 1, 10, 0, &m, &ml, &q->e);
    if (rc)
        return rc;
    return hub_meetings_day(h->cfg, panel, m, ml, q->now_ms, day, &q->e);
}

/* agenda: the agenda of the panel's next meeting, or of `meeting`. */
enum hub_err hub_op_agenda(struct hub_ctx *h, struct hub_req *q)
{
    int panel, own = 0;
    int64_t day;
    enum hub_err rc = hub_ops_panel_arg(h, q, &panel);
    if (!rc)
        rc = meeting_arg(h, q, panel, &day);
    if (rc)
        return rc;
    MDB_txn *txn;
    struct hub_agenda_counts counts;
    if ((rc = txn_for(h, &txn, &own, &q->e)))
        return rc;
    rc = draw_agenda(h, q, panel, day, txn, &counts);
    if (own)
        hub_pw_read_end(txn);
    if (rc)
        return rc;
    hub_reply_begin(q->pk, &q->r->req, 1, 1);
    hub_pack_str(q->pk, "agenda");
    hub_pack_raw(q->pk, h->items.data, h->items.size);
    q->count = counts.new_cases + counts.reviews_due + counts.anniversaries + counts.actions +
               counts.lookback;
    return CSPH_ERR_OK;
}

/* ---- writes --------------------------------------------------------------- */

/* Who acted, in the hub events these ops write: `by` when given, and the
 * gateway it came through when one did (its map entries: who_fields). */
static uint32_t who_fields(const char *by, const char *gateway)
{
    return (by && by[0] ? 1u : 0u) + (gateway ? 1u : 0u);
}

static void pack_who(msgpack_packer *pk, const char *by, const char *gateway)
{
    if (by && by[0]) {
        hub_pack_str(pk, "by");
        hub_pack_str(pk, by);
    }
    if (gateway) {
        hub_pack_str(pk, "gateway");
        hub_pack_str(pk, gateway);
    }
}

struct case_update_fill {
    const char *panel, *key, *status, *outcome, *risk, *by, *gateway;
    int on_time; /* a review: -1 not said, 0 late, 1 on time */
};

static void fill_case_update(void *vctx, msgpack_packer *pk)
{
    struct case_update_fill *f = vctx;
    hub_pack_str(pk, "subject");
    hub_pack_str(pk, f->key);
    hub_pack_str(pk, "panel");
    hub_pack_str(pk, f->panel);
    hub_pack_str(pk, "status");
    hub_pack_str(pk, f->status);
    const char *opt[][2] = {{"outcome", f->outcome}, {"risk", f->risk}, {"by", f->by},
                            {"gateway", f->gateway}};
    for (size_t i = 0; i < 4; i++)
        if (opt[i][1] && opt[i][1][0]) {
            hub_pack_str(pk, opt[i][0]);
            hub_pack_str(pk, opt[i][1]);
        }
    if (f->on_time >= 0) {
        hub_pack_str(pk, "on_time");
        if (f->on_time)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
    }
}

static uint32_t count_set(const struct case_update_fill *f)
{
    return 3 + (f->outcome && f->outcome[0]) + (f->risk && f->risk[0]) + (f->by && f->by[0]) +
           (f->gateway && f->gateway[0]) + (f->on_time >= 0);
}

/* case.close / case.review / case.risk: a case.update written by the hub
 * for a panel member. */
static enum hub_err case_write(struct hub_ctx *h, struct hub_req *q, const char *status)
{
    struct hub_error *e = &q->e;
    int panel;
    char key[CSPH_CASE_KEY_MAX + 1], by[65], outcome[CSPH_OUTCOME_LEN + 1] = "",
                                              risk[16] = "";
    uint64_t seq = 0;
    struct hub_case c;
    enum hub_err rc = hub_ops_panel_arg(h, q, &panel);
    if (!rc)
        rc = key_arg(q, key, e);
    if (!rc)
        rc = by_arg(q, by, e);
    const char *p = NULL;
    size_t n = 0;
    const struct hub_panel *pp = rc ? NULL : &h->cfg->panels[panel];
    if (!rc && !strcmp(status, "closed")) {
        rc = hub_wire_str(q->r, "outcome", 1, 64, 1, &p, &n, e);
        if (!rc && !hub_panelcfg_outcome_ok(&pp->work, p, n)) {
            char list[600];
            hub_panelcfg_outcomes_text(&pp->work, list, sizeof list);
            rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "outcome",
                               "'%.*s' is not an outcome of panel %s (%s)", (int)n, p, pp->name,
                               pp->work.noutcomes ? list
                                                  : "it has none: add outcomes to its entry "
                                                    "in the panels file");
        }
        if (!rc)
            snprintf(outcome, sizeof outcome, "%.*s", (int)n, p);
    } else if (!rc) {
        rc = hub_wire_str(q->r, "risk", 1, 16, !strcmp(status, "open"), &p, &n, e);
        if (!rc && p) {
            if (hub_priority_parse(p, n) < 0)
                rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "risk",
                                   "'risk' must be standard, medium or high");
            else
                snprintf(risk, sizeof risk, "%.*s", (int)n, p);
        }
    }
    if (!rc)
        rc = open_case_arg(h, hub_store_txn(hub_core_store(h->core)), panel, key, &c, e);
    if (!rc) {
        /* A review is on time when recorded by the London day it fell due. */
        int on_time = -1;
        if (!strcmp(status, "reviewed"))
            on_time = !c.review_due_ms || hub_panelcfg_london_day(q->now_ms) <=
                                              hub_panelcfg_london_day(c.review_due_ms);
        struct case_update_fill f = {pp->name, key, status, outcome, risk, by, gateway_of(q),
                                     on_time};
        rc = hub_panelwork_emit(hub_core_ingest(h->core), "case.update", "case", count_set(&f),
                                fill_case_update, &f, q->now_ms, &seq, e);
    }
    return answer_write(q, rc, seq, NULL, 0);
}

enum hub_err hub_op_case_close(struct hub_ctx *h, struct hub_req *q)
{
    return case_write(h, q, "closed");
}

enum hub_err hub_op_case_review(struct hub_ctx *h, struct hub_req *q)
{
    return case_write(h, q, "reviewed");
}

enum hub_err hub_op_case_risk(struct hub_ctx *h, struct hub_req *q)
{
    return case_write(h, q, "open");
}

/* Whether name is an agency the hub knows, or a person (console account):
 * *kind 'a' or 'p'. BAD_REQUEST naming `owner` otherwise. */
static enum hub_err owner_known(struct hub_ctx *h, const char *name, size_t n, char *kind,
                                struct hub_error *e)
{
    if (h->cfg->security == CSPH_SECURITY_CURVE && h->ids) {
        const struct hub_identity *id = hub_identities_by_name(h->ids, name, n);
        if (id && id->role == CSPH_ROLE_AGENCY) {
            *kind = 'a';
            return CSPH_ERR_OK;
        }
        const struct hub_person *p = hub_people_find(h->ids, name, n);
        if (p && !p->disabled) {
            *kind = 'p';
            return CSPH_ERR_OK;
        }
        return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "owner",
                             "no agency or console account named '%.*s' in the hub's identity "
                             "file: an action's owner must be one",
                             (int)n, name);
    }
    for (size_t i = 0; i < h->cfg->nagencies; i++)
        if (strlen(h->cfg->agencies[i]) == n && !memcmp(h->cfg->agencies[i], name, n)) {
            *kind = 'a';
            return CSPH_ERR_OK;
        }
    return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "owner",
                         "no agency named '%.*s' in the hub config's agencies: list%s", (int)n,
                         name,
                         h->cfg->nagencies ? "" : " (it has none: add `agencies:` to csphub.yaml)");
}

/* One of due_days, due_working_days, due (a London date: the action is
 * due by the end of it). *present 0 when none was given. */
static enum hub_err due_arg(struct hub_ctx *h, struct hub_req *q, int64_t *due_ms, int *present,
                            struct hub_error *e)
{
    uint64_t days = 0, wdays = 0;
    int pd = 0, pw = 0;
    const char *d = NULL;
    size_t dl = 0;
    enum hub_err rc = hub_wire_u64(q->r, "due_days", 1, DUE_DAYS_MAX, &days, &pd, e);
    if (!rc)
        rc = hub_wire_u64(q->r, "due_working_days", 1, DUE_DAYS_MAX, &wdays, &pw, e);
    if (!rc)
        rc = hub_wire_str(q->r, "due", 1, 10, 0, &d, &dl, e);
    if (rc)
        return rc;
    *present = pd + pw + (d != NULL);
    if (*present > 1)
        return hub_error_set(e, CSPH_ERR_BAD_REQUEST, pd ? "due_days" : "due_working_days",
                             "give one of due_days, due_working_days or due, not several");
    if (pd) {
        *due_ms = q->now_ms + (int64_t)days * CSPH_MS_PER_DAY;
    } else if (pw) {
        struct hub_rules *rules = hub_core_rules(h->core);
        if (rules) {
            *due_ms = hub_rules_add_working_days(rules, q->now_ms, (int)wdays);
        } else { /* no rules, no bank holidays: weekends only */
            struct hub_calendar cal;
            hub_calendar_init(&cal);
            *due_ms = hub_calendar_add_working_days(&cal, q->now_ms, (int)wdays);
            hub_calendar_free(&cal);
        }
    } else if (d) {
        int64_t day;
        if (hub_panelcfg_day_parse(d, dl, &day))
            return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "due",
                                 "'due' must be a date (YYYY-MM-DD)");
        int y;
        unsigned m, dd;
        csph_civil_from_days(day + 1, &y, &m, &dd);
        *due_ms = csph_london_day_start(y, m, dd) - 1;
        if (*due_ms <= q->now_ms)
            return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "due",
                                 "the due date %.*s is in the past", (int)dl, d);
    }
    return CSPH_ERR_OK;
}

struct action_fill {
    const struct hub_action *a;
    const char *status; /* action.updated: done, not_done, retimed; NULL: action.created */
    int with_due;
    int on_time; /* done: -1 not said, 0 late, 1 by its due time */
    const char *by, *gateway;
};

static void fill_action(void *vctx, msgpack_packer *pk)
{
    struct action_fill *f = vctx;
    const struct hub_action *a = f->a;
    char when[32];
    hub_pack_str(pk, "action");
    msgpack_pack_uint64(pk, a->id);
    hub_pack_str(pk, "panel");
    hub_pack_str(pk, a->panel);
    hub_pack_str(pk, "subject");
    hub_pack_str(pk, a->key);
    if (!f->status) {
        hub_pack_str(pk, "what");
        hub_pack_str(pk, a->what);
        hub_pack_str(pk, "owner");
        hub_pack_str(pk, a->owner);
        hub_pack_str(pk, "owner_kind");
        hub_pack_str(pk, a->owner_kind == 'p' ? "person" : "agency");
        if (a->alert) {
            hub_pack_str(pk, "alert");
            msgpack_pack_uint64(pk, a->alert);
        }
    } else {
        hub_pack_str(pk, "status");
        hub_pack_str(pk, f->status);
        if (a->reason[0]) {
            hub_pack_str(pk, "reason");
            hub_pack_str(pk, a->reason);
        }
        if (f->on_time >= 0) {
            hub_pack_str(pk, "on_time");
            if (f->on_time)
                msgpack_pack_true(pk);
            else
                msgpack_pack_false(pk);
        }
    }
    if (f->with_due) {
        hub_pack_str(pk, "due_at");
        hub_pack_strn(pk, when, (size_t)csph_time_format(a->due_ms, when));
    }
    pack_who(pk, f->by, f->gateway);
}

static uint32_t action_fields(const struct action_fill *f)
{
    uint32_t n = 3 + (f->with_due ? 1 : 0) + who_fields(f->by, f->gateway);
    if (!f->status)
        return n + 3 + (f->a->alert ? 1 : 0);
    return n + 1 + (f->a->reason[0] ? 1 : 0) + (f->on_time >= 0);
}

/* action.create: {panel, key, what, owner, due_days | due_working_days |
 * due, alert?}: on an open case (and, given an alert, one of the case's
 * panel). */
enum hub_err hub_op_action_create(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_error *e = &q->e;
    int panel, present = 0;
    char key[CSPH_CASE_KEY_MAX + 1], by[65];
    const char *what = NULL, *owner = NULL;
    size_t wl = 0, ol = 0;
    uint64_t alert = 0, seq = 0;
    struct hub_action a = {0};
    struct hub_case c;
    enum hub_err rc = hub_ops_panel_arg(h, q, &panel);
    if (!rc)
        rc = key_arg(q, key, e);
    if (!rc)
        rc = hub_wire_str(q->r, "what", 1, CSPH_ACTION_WHAT_MAX, 1, &what, &wl, e);
    if (!rc)
        rc = hub_wire_str(q->r, "owner", 1, 64, 1, &owner, &ol, e);
    if (!rc)
        rc = hub_wire_u64(q->r, "alert", 1, UINT64_MAX, &alert, NULL, e);
    if (!rc)
        rc = by_arg(q, by, e);
    if (!rc)
        rc = owner_known(h, owner, ol, &a.owner_kind, e);
    if (!rc)
        rc = due_arg(h, q, &a.due_ms, &present, e);
    if (!rc && !present)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "due_days",
                           "an action needs a due date: due_days, due_working_days or due");
    if (!rc)
        rc = open_case_arg(h, hub_store_txn(hub_core_store(h->core)), panel, key, &c, e);
    if (!rc && alert) {
        int ap = -1;
        struct hub_error why;
        if (hub_core_alert_panel(h->core, alert, &ap, &why) || ap != panel)
            rc = hub_error_set(e, CSPH_ERR_NOT_FOUND, "alert",
                               "no alert %llu on panel %s", (unsigned long long)alert,
                               h->cfg->panels[panel].name);
    }
    if (!rc)
        rc = hub_actions_next_id(hub_core_store(h->core), &a.id, e);
    if (!rc) {
        snprintf(a.panel, sizeof a.panel, "%s", h->cfg->panels[panel].name);
        snprintf(a.key, sizeof a.key, "%s", key);
        snprintf(a.what, sizeof a.what, "%.*s", (int)wl, what);
        snprintf(a.owner, sizeof a.owner, "%.*s", (int)ol, owner);
        a.alert = alert;
        struct action_fill f = {&a, NULL, 1, -1, by, gateway_of(q)};
        rc = hub_panelwork_emit(hub_core_ingest(h->core), "action.created", "action",
                                action_fields(&f), fill_action, &f, q->now_ms, &seq, e);
    }
    return answer_write(q, rc, seq, "id", a.id);
}

/* action.update: {id, panel, status: done | not_done | retimed, reason?,
 * due...}: not_done needs a reason, retimed a new due date. */
enum hub_err hub_op_action_update(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_error *e = &q->e;
    int panel, present = 0, found = 0;
    uint64_t id = 0, seq = 0;
    const char *st = NULL, *reason = NULL;
    size_t stl = 0, rl = 0;
    char by[65];
    struct hub_action a;
    int64_t due = 0;
    enum hub_err rc = hub_wire_u64(q->r, "id", 1, UINT64_MAX, &id, &present, e);
    if (!rc && !present)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "id", "'id' (an action id) is required");
    if (!rc)
        rc = hub_ops_panel_arg(h, q, &panel);
    if (!rc)
        rc = hub_wire_str(q->r, "status", 1, 16, 1, &st, &stl, e);
    if (!rc)
        rc = hub_wire_str(q->r, "reason", 1, CSPH_ACTION_REASON_MAX, 0, &reason, &rl, e);
    if (!rc)
        rc = by_arg(q, by, e);
    int is_done = !rc && stl == 4 && !memcmp(st, "done", 4),
        is_not = !rc && stl == 8 && !memcmp(st, "not_done", 8),
        is_re = !rc && stl == 7 && !memcmp(st, "retimed", 7);
    if (!rc && !is_done && !is_not && !is_re)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "status",
                           "'status' must be done, not_done or retimed");
    if (!rc && is_not && !reason)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "reason",
                           "an action not done needs a reason");
    present = 0;
    if (!rc)
        rc = due_arg(h, q, &due, &present, e);
    if (!rc && is_re && !present)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "due_days",
                           "re-timing needs the new due date: due_days, due_working_days or due");
    if (!rc && !is_re && present)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "due_days",
                           "a due date is given only when re-timing (status retimed)");
    if (!rc)
        rc = hub_actions_get(hub_core_store(h->core), hub_store_txn(hub_core_store(h->core)), id,
                             &a, &found, e);
    if (!rc && found) {
        int ap = hub_config_panel_find(h->cfg, a.panel, strlen(a.panel));
        /* Another panel's action: named only to those who may see it. */
        if (ap != panel && (!q->who || hub_identity_may_panel(q->who, ap)))
            rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "panel",
                               "action %llu belongs to panel %s, not %s: update it there",
                               (unsigned long long)id, a.panel, h->cfg->panels[panel].name);
        else if (ap != panel)
            found = 0;
    }
    if (!rc && !found)
        rc = hub_error_set(e, CSPH_ERR_NOT_FOUND, "id", "no action %llu on panel %s",
                           (unsigned long long)id, h->cfg->panels[panel].name);
    if (!rc && a.status != CSPH_ACTION_OPEN)
        rc = hub_error_set(e, CSPH_ERR_CONFLICT, "status",
                           "action %llu is %s already: it can no longer be updated",
                           (unsigned long long)id, hub_action_status_name(a.status));
    /* An action outlives its case's closure: the owner may still report it
     * done (or not), and until then it escalates like any other. */
    if (!rc) {
        snprintf(a.reason, sizeof a.reason, "%.*s", (int)rl, reason ? reason : "");
        if (is_re)
            a.due_ms = due;
        char status[16];
        snprintf(status, sizeof status, "%.*s", (int)stl, st);
        struct action_fill f = {&a, status, is_re, is_done ? q->now_ms <= a.due_ms : -1, by,
                                gateway_of(q)};
        rc = hub_panelwork_emit(hub_core_ingest(h->core), "action.updated", "action-update",
                                action_fields(&f), fill_action, &f, q->now_ms, &seq, e);
    }
    return answer_write(q, rc, seq, NULL, 0);
}

struct heard_fill {
    const char *panel, *key, *meeting, *attendance, *minutes, *by, *gateway;
    size_t minutes_len;
};

static void fill_heard(void *vctx, msgpack_packer *pk)
{
    struct heard_fill *f = vctx;
    hub_pack_str(pk, "panel");
    hub_pack_str(pk, f->panel);
    hub_pack_str(pk, "subject");
    hub_pack_str(pk, f->key);
    hub_pack_str(pk, "meeting");
    hub_pack_str(pk, f->meeting);
    hub_pack_str(pk, "attendance");
    hub_pack_str(pk, f->attendance);
    if (f->minutes) {
        hub_pack_str(pk, "minutes");
        hub_pack_strn(pk, f->minutes, f->minutes_len);
    }
    pack_who(pk, f->by, f->gateway);
}

/* The agencies present: a list of known agencies, as "a,b,c". */
static enum hub_err attendance_arg(struct hub_ctx *h, struct hub_req *q, char *out, size_t n,
                                   struct hub_error *e)
{
    const msgpack_object *l = hub_mp_get(&q->r->root, "attendance");
    size_t off = 0;
    if (!l || l->type != MSGPACK_OBJECT_ARRAY || l->via.array.size == 0 ||
        l->via.array.size > 64)
        return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "attendance",
                             "'attendance' must list the agencies present (1-64 names)");
    for (uint32_t i = 0; i < l->via.array.size; i++) {
        const msgpack_object *it = &l->via.array.ptr[i];
        char field[32], kind;
        snprintf(field, sizeof field, "attendance.%u", i);
        if (it->type != MSGPACK_OBJECT_STR || it->via.str.size < 1 || it->via.str.size > 64)
            return hub_error_set(e, CSPH_ERR_BAD_REQUEST, field, "an agency's name (1-64 bytes)");
        enum hub_err rc = owner_known(h, it->via.str.ptr, it->via.str.size, &kind, e);
        if (!rc && kind != 'a')
            rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "owner", "'%.*s' is a person, not an agency",
                               (int)it->via.str.size, it->via.str.ptr);
        if (rc) {
            snprintf(e->field, sizeof e->field, "%s", field);
            return rc;
        }
        if (off + it->via.str.size + 2 >= n)
            return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "attendance", "too many agencies");
        off += (size_t)snprintf(out + off, n - off, "%s%.*s", off ? "," : "",
                                (int)it->via.str.size, it->via.str.ptr);
    }
    return CSPH_ERR_OK;
}

/* case.hear: {panel, key, meeting?, attendance: [agency...], minutes?}. */
enum hub_err hub_op_case_hear(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_error *e = &q->e;
    int panel;
    char key[CSPH_CASE_KEY_MAX + 1], by[65], att[2048], date[16];
    const char *minutes = NULL, *m = NULL;
    size_t ml = 0, dl = 0;
    int64_t day = 0;
    uint64_t seq = 0;
    struct hub_case c;
    enum hub_err rc = hub_ops_panel_arg(h, q, &panel);
    if (!rc)
        rc = key_arg(q, key, e);
    if (!rc)
        rc = by_arg(q, by, e);
    if (!rc)
        rc = hub_wire_str(q->r, "minutes", 1, 4000, 0, &minutes, &ml, e);
    if (!rc)
        rc = hub_wire_str(q->r, "meeting", 1, 10, 0, &m, &dl, e);
    if (!rc && m && hub_panelcfg_day_parse(m, dl, &day))
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "meeting",
                           "'meeting' must be the meeting's date (YYYY-MM-DD)");
    if (!rc && !m)
        day = hub_panelcfg_london_day(q->now_ms); /* heard today */
    if (!rc && day > hub_panelcfg_london_day(q->now_ms))
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "meeting",
                           "a hearing is recorded after the meeting, not before it");
    if (!rc)
        rc = attendance_arg(h, q, att, sizeof att, e);
    if (!rc)
        rc = open_case_arg(h, hub_store_txn(hub_core_store(h->core)), panel, key, &c, e);
    if (!rc) {
        hub_panelcfg_day_format(day, date);
        struct heard_fill f = {h->cfg->panels[panel].name, key, date, att, minutes, by,
                               gateway_of(q), ml};
        uint32_t n = 4 + (minutes ? 1 : 0) + who_fields(by, f.gateway);
        rc = hub_panelwork_emit(hub_core_ingest(h->core), "case.heard", "heard", n, fill_heard, &f,
                                q->now_ms, &seq, e);
    }
    return answer_write(q, rc, seq, NULL, 0);
}

struct agenda_fill {
    const char *panel, *meeting, *json, *by, *gateway;
    size_t json_len;
    int truncated;
};

static void fill_agenda(void *vctx, msgpack_packer *pk)
{
    struct agenda_fill *f = vctx;
    hub_pack_str(pk, "panel");
    hub_pack_str(pk, f->panel);
    hub_pack_str(pk, "meeting");
    hub_pack_str(pk, f->meeting);
    hub_pack_str(pk, "agenda");
    hub_pack_strn(pk, f->json, f->json_len);
    if (f->truncated) {
        hub_pack_str(pk, "truncated");
        msgpack_pack_true(pk);
    }
    pack_who(pk, f->by, f->gateway);
}

/* The agenda kept in the log: at most this much JSON (an event is at most
 * 64 KiB); a longer one keeps its counts and the lists that fit. */
#define AGENDA_JSON_MAX 49152

/* agenda.issue: the agenda as drawn now, recorded as a meeting.agenda
 * event; the reply carries it as the agenda op does, with the seq. */
enum hub_err hub_op_agenda_issue(struct hub_ctx *h, struct hub_req *q)
{
    int panel;
    int64_t day = 0;
    char by[65], date[16];
    uint64_t seq = 0;
    struct hub_agenda_counts counts;
    char *json = NULL;
    enum hub_err rc = hub_ops_panel_arg(h, q, &panel);
    if (!rc)
        rc = meeting_arg(h, q, panel, &day);
    if (!rc)
        rc = by_arg(q, by, &q->e);
    if (!rc)
        rc = draw_agenda(h, q, panel, day, hub_store_txn(hub_core_store(h->core)), &counts);
    if (!rc && csph_msgpack_to_json(h->items.data, h->items.size, 0, &json) != 0)
        rc = hub_error_set(&q->e, CSPH_ERR_INTERNAL, NULL, "the agenda could not be written as JSON");
    if (!rc) {
        size_t jl = strlen(json);
        int cut = jl > AGENDA_JSON_MAX;
        if (cut) {
            /* The lists do not fit an event: the counts do. */
            int k = snprintf(json, jl + 1,
                             "{\"new_cases\":%u,\"reviews_due\":%u,\"anniversaries\":%u,"
                             "\"actions\":%u,\"lookback\":%u}",
                             counts.new_cases, counts.reviews_due, counts.anniversaries,
                             counts.actions, counts.lookback);
            jl = (size_t)k;
        }
        hub_panelcfg_day_format(day, date);
        struct agenda_fill f = {h->cfg->panels[panel].name, date, json, by, gateway_of(q), jl,
                                cut || counts.truncated};
        uint32_t n = 3 + (f.truncated ? 1 : 0) + who_fields(by, f.gateway);
        rc = hub_panelwork_emit(hub_core_ingest(h->core), "meeting.agenda", "agenda", n,
                                fill_agenda, &f, q->now_ms, &seq, &q->e);
    }
    free(json);
    if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL)
        return rc;
    if (rc) {
        hub_reply_error(q->pk, &q->r->req, &q->e, 0);
        return CSPH_ERR_OK;
    }
    hub_reply_begin(q->pk, &q->r->req, 1, 2);
    hub_pack_str(q->pk, "seq");
    msgpack_pack_uint64(q->pk, seq);
    hub_pack_str(q->pk, "agenda");
    hub_pack_raw(q->pk, h->items.data, h->items.size);
    return CSPH_ERR_OK;
}
