#define _GNU_SOURCE /* memmem */
#include "sar.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "decision.h"
#include "erase.h"
#include "hold.h"
#include "log.h"
#include "mpx.h"
#include "queues.h"
#include "reply.h"
#include "timefmt.h"
#include "views.h"

static const char why_restricted[] =
    "material of a restricted panel (Channel, MAPPA): exempt where disclosure would prejudice "
    "the prevention or detection of crime (DPA 2018 Sch. 2 para 2; s.45(4) for Part 3 "
    "processing); the disclosure copy leaves it out and neither confirms nor denies that it "
    "exists";
static const char why_third[] =
    "names other people: disclosed with their references replaced by placeholders (UK GDPR "
    "Art. 15(4); DPA 2018 Sch. 2 para 16)";
static const char why_hold[] =
    "a legal hold for a statutory review (a domestic homicide or safeguarding adults review): "
    "disclosure could prejudice it (DPA 2018 Sch. 2 para 5); the DPO decides";
static const char why_staff[] =
    "staff names and their queries are not the subject's data: readers are shown by role "
    "and organisation";

/* A person's alert and its panel (config index). */
struct alert_ref {
    uint64_t id;
    int panel;
};

/* One record of the person an audited read returned. */
struct read_pair {
    uint64_t access; /* the audit.access seq */
    int is_alert;
    uint64_t rec; /* event seq, or alert id */
};

struct sar {
    struct hub_ctx *h;
    struct hub_req *q;
    struct hub_store *st;
    const char *person;
    size_t plen;
    struct hub_u64set events;     /* seqs naming the person */
    struct hub_u64set restricted; /* seqs that are a restricted panel's evidence */
    struct alert_ref *alerts;
    size_t nalerts, acap;
    struct read_pair *reads;
    size_t nreads, rcap;
    size_t naccess; /* distinct audit.access seqs */
    int nomem;
    /* while visiting a read pair's lookup */
    int cur_is_alert;
    uint64_t cur_rec;
};

static int add_event(void *ctx, int64_t t, uint64_t seq)
{
    (void)t;
    hub_u64set_add(&((struct sar *)ctx)->events, seq);
    return 0;
}

static int add_alert(void *ctx, uint64_t id, int panel)
{
    struct sar *s = ctx;
    if (s->nalerts == s->acap) {
        size_t cap = s->acap ? 2 * s->acap : 16;
        struct alert_ref *v = realloc(s->alerts, cap * sizeof *v);
        if (!v) {
            s->nomem = 1;
            return 1;
        }
        s->alerts = v;
        s->acap = cap;
    }
    s->alerts[s->nalerts++] = (struct alert_ref){id, panel};
    return 0;
}

static int add_read(void *ctx, int64_t t, uint64_t access)
{
    (void)t;
    struct sar *s = ctx;
    if (s->nreads == s->rcap) {
        size_t cap = s->rcap ? 2 * s->rcap : 64;
        struct read_pair *v = realloc(s->reads, cap * sizeof *v);
        if (!v) {
            s->nomem = 1;
            return 1;
        }
        s->reads = v;
        s->rcap = cap;
    }
    s->reads[s->nreads++] = (struct read_pair){access, s->cur_is_alert, s->cur_rec};
    return 0;
}

static int cmp_read(const void *a, const void *b)
{
    const struct read_pair *x = a, *y = b;
    if (x->access != y->access)
        return x->access < y->access ? -1 : 1;
    if (x->is_alert != y->is_alert)
        return x->is_alert - y->is_alert;
    return x->rec < y->rec ? -1 : x->rec > y->rec;
}

static int has(const struct hub_u64set *s, uint64_t x)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid] == x)
            return 1;
        if (s->v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

static int panel_restricted(const struct hub_config *cfg, int panel)
{
    return panel >= 0 && (size_t)panel < cfg->npanels && cfg->panels[panel].restricted;
}

static int alert_restricted(const struct sar *s, uint64_t id)
{
    for (size_t i = 0; i < s->nalerts; i++)
        if (s->alerts[i].id == id)
            return panel_restricted(s->h->cfg, s->alerts[i].panel);
    return 0;
}

/* Everything the export lists, found through indexes. */
static enum hub_err gather(struct sar *s, struct hub_error *e)
{
    enum hub_err rc = hub_store_batch_refs(s->st, CSPH_REF_PERSON, s->person, s->plen, add_event,
                                           s, e);
    if (!rc)
        rc = hub_views_person_alert_each(s->st, s->h->cfg, s->person, s->plen, add_alert, s, e);
    hub_u64set_finish(&s->events);
    /* A restricted panel's evidence is its material too. */
    for (size_t i = 0; i < s->nalerts && !rc; i++) {
        if (!panel_restricted(s->h->cfg, s->alerts[i].panel))
            continue;
        struct hub_alert_brief b;
        if ((rc = hub_core_alert_brief(s->h->core, s->alerts[i].id, &b, e)))
            break;
        for (size_t j = 0; j < b.nevidence; j++)
            hub_u64set_add(&s->restricted, b.evidence[j]);
        hub_alert_brief_free(&b);
    }
    hub_u64set_finish(&s->restricted);
    /* The reads that returned them: one index look-up a record. */
    char ref[24];
    for (size_t i = 0; i < s->events.n + s->nalerts && !rc; i++) {
        s->cur_is_alert = i >= s->events.n;
        s->cur_rec = s->cur_is_alert ? s->alerts[i - s->events.n].id : s->events.v[i];
        int n = snprintf(ref, sizeof ref, "%" PRIu64, s->cur_rec);
        rc = hub_store_batch_refs(s->st, s->cur_is_alert ? CSPH_REF_READ_ALERT : CSPH_REF_READ_EVENT,
                                  ref, (size_t)n, add_read, s, e);
    }
    if (s->nreads)
        qsort(s->reads, s->nreads, sizeof *s->reads, cmp_read);
    for (size_t i = 0; i < s->nreads; i++)
        s->naccess += !i || s->reads[i].access != s->reads[i - 1].access;
    if (!rc && (s->nomem || s->events.nomem || s->restricted.nomem))
        rc = hub_error_set(e, CSPH_ERR_NOMEM, NULL, "out of memory gathering the export");
    return rc;
}

/* ---- packing ------------------------------------------------------------- */

static void pack_withhold(msgpack_packer *pk, const char *code, const char *why)
{
    msgpack_pack_map(pk, 2);
    hub_pack_str(pk, "code");
    hub_pack_str(pk, code);
    hub_pack_str(pk, "reason");
    hub_pack_str(pk, why);
}

static void pack_when(msgpack_packer *pk, const char *key, int64_t ms)
{
    char when[40];
    hub_pack_str(pk, key);
    hub_pack_strn(pk, when, (size_t)csph_time_format(ms, when));
}

struct event_item {
    struct sar *s;
    msgpack_packer *pk;
    int found;
};

/* {seq, received_at, type, event, others, withhold} */
static int pack_event_item(void *ctx, const struct hub_stored_event *ev)
{
    struct event_item *c = ctx;
    const struct hub_config *cfg = c->s->h->cfg;
    msgpack_zone zone;
    msgpack_object obj;
    size_t off = 0;
    msgpack_zone_init(&zone, 2048);
    int ok = msgpack_unpack(ev->bytes, ev->len, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS &&
             obj.type == MSGPACK_OBJECT_MAP;
    int ti = hub_schemas_find(c->s->h->schemas, ev->type, ev->type_len);
    /* Fields naming someone else: the disclosure replaces their values. */
    const msgpack_object *others[64];
    uint32_t nothers = 0;
    int restricted = has(&c->s->restricted, ev->seq), hold = 0;
    for (uint32_t i = 0; ok && i < obj.via.map.size; i++) {
        const msgpack_object *k = &obj.via.map.ptr[i].key, *v = &obj.via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR)
            continue;
        if (ti >= 0 && hub_schema_person_field(c->s->h->schemas, ti, k->via.str.ptr,
                                               k->via.str.size) &&
            !hub_mp_str_eqn(v, c->s->person, c->s->plen) && nothers < 64)
            others[nothers++] = k;
        /* A referral to a restricted panel is that panel's material. */
        if (hub_mp_str_eq(k, "panel") && v->type == MSGPACK_OBJECT_STR)
            restricted |= panel_restricted(
                cfg, hub_config_panel_find(cfg, v->via.str.ptr, v->via.str.size));
    }
    hold = ev->type_len == strlen(CSPH_HOLD_TYPE) &&
           memcmp(ev->type, CSPH_HOLD_TYPE, ev->type_len) == 0;
    msgpack_packer *pk = c->pk;
    msgpack_pack_map(pk, 6);
    hub_pack_str(pk, "seq");
    msgpack_pack_uint64(pk, ev->seq);
    pack_when(pk, "received_at", ev->received_ms);
    hub_pack_str(pk, "type");
    hub_pack_strn(pk, ev->type, ev->type_len);
    hub_pack_str(pk, "event");
    hub_pack_raw(pk, ev->bytes, ev->len);
    hub_pack_str(pk, "others");
    msgpack_pack_array(pk, nothers);
    for (uint32_t i = 0; i < nothers; i++)
        hub_pack_strn(pk, others[i]->via.str.ptr, others[i]->via.str.size);
    hub_pack_str(pk, "withhold");
    msgpack_pack_array(pk, (uint32_t)(restricted + (nothers > 0) + hold));
    if (restricted)
        pack_withhold(pk, CSPH_SAR_RESTRICTED, why_restricted);
    if (nothers)
        pack_withhold(pk, CSPH_SAR_THIRD_PARTY, why_third);
    if (hold)
        pack_withhold(pk, CSPH_SAR_LEGAL_HOLD, why_hold);
    msgpack_zone_destroy(&zone);
    c->found = 1;
    return 0;
}

/* {seq, received_at, event}: a decision, or the read's audit.access. */
static int pack_plain(void *ctx, const struct hub_stored_event *ev)
{
    struct event_item *c = ctx;
    msgpack_pack_map(c->pk, 3);
    hub_pack_str(c->pk, "seq");
    msgpack_pack_uint64(c->pk, ev->seq);
    pack_when(c->pk, "received_at", ev->received_ms);
    hub_pack_str(c->pk, "event");
    hub_pack_raw(c->pk, ev->bytes, ev->len);
    c->found = 1;
    return 0;
}

struct decisions {
    uint64_t v[256];
    size_t n;
};

static int collect_decision(void *ctx, const struct hub_decision *d)
{
    struct decisions *ds = ctx;
    if (ds->n < sizeof ds->v / sizeof *ds->v)
        ds->v[ds->n++] = d->seq;
    return 0;
}

/* {id, panel, alert, decisions, withhold} */
static enum hub_err pack_alert_item(struct sar *s, const struct alert_ref *a, msgpack_packer *pk,
                                    struct hub_error *e)
{
    msgpack_sbuffer one;
    msgpack_sbuffer_init(&one);
    msgpack_packer opk;
    msgpack_packer_init(&opk, &one, msgpack_sbuffer_write);
    int panel = -1;
    struct decisions *ds = calloc(1, sizeof *ds);
    enum hub_err rc = ds ? hub_queues_pack_one(hub_core_queues(s->h->core), a->id, CSPH_QVIEW_FULL, &opk,
                                               &panel, e)
                         : hub_error_set(e, CSPH_ERR_NOMEM, NULL, "out of memory");
    if (!rc)
        rc = hub_decision_each(hub_store_txn(s->st), a->id, collect_decision, ds, e);
    if (!rc) {
        int restricted = panel_restricted(s->h->cfg, a->panel);
        msgpack_pack_map(pk, 5);
        hub_pack_str(pk, "id");
        msgpack_pack_uint64(pk, a->id);
        hub_pack_str(pk, "panel");
        hub_pack_str(pk, a->panel >= 0 ? s->h->cfg->panels[a->panel].name : "");
        hub_pack_str(pk, "alert");
        hub_pack_raw(pk, one.data, one.size);
        hub_pack_str(pk, "decisions");
        msgpack_pack_array(pk, (uint32_t)ds->n);
        for (size_t i = 0; i < ds->n && !rc; i++) {
            struct event_item c = {s, pk, 0};
            rc = hub_store_batch_get(s->st, ds->v[i], pack_plain, &c, e);
        }
        hub_pack_str(pk, "withhold");
        msgpack_pack_array(pk, (uint32_t)(restricted + (ds->n > 0)));
        if (restricted)
            pack_withhold(pk, CSPH_SAR_RESTRICTED, why_restricted);
        if (ds->n)
            pack_withhold(pk, CSPH_SAR_STAFF, why_staff);
    }
    free(ds);
    msgpack_sbuffer_destroy(&one);
    return rc;
}

struct access_peek {
    int restricted_query;
    const struct hub_config *cfg;
};

/* Whether the read's query named a restricted panel. */
static int peek_access(void *ctx, const struct hub_stored_event *ev)
{
    struct access_peek *p = ctx;
    for (size_t i = 0; i < p->cfg->npanels; i++) {
        if (!p->cfg->panels[i].restricted)
            continue;
        char needle[100];
        int n = snprintf(needle, sizeof needle, "\"panel\":\"%s\"", p->cfg->panels[i].name);
        if (memmem(ev->bytes, ev->len, needle, (size_t)n))
            p->restricted_query = 1;
    }
    return 0;
}

/* {seq, received_at, event, events, alerts, withhold} for the read whose
 * pairs are s->reads[from, to). */
static enum hub_err pack_read_item(struct sar *s, size_t from, size_t to, msgpack_packer *pk,
                                   struct hub_error *e)
{
    uint64_t access = s->reads[from].access;
    struct access_peek peek = {0, s->h->cfg};
    enum hub_err rc = hub_store_batch_get(s->st, access, peek_access, &peek, e);
    if (rc)
        return rc;
    /* Restricted when it named a restricted panel, or returned only that
     * panel's material. */
    int all_restricted = 1;
    uint32_t nev = 0, nal = 0;
    for (size_t i = from; i < to; i++) {
        int r = s->reads[i].is_alert ? alert_restricted(s, s->reads[i].rec)
                                     : has(&s->restricted, s->reads[i].rec);
        all_restricted &= r;
        nev += !s->reads[i].is_alert;
        nal += s->reads[i].is_alert;
    }
    int restricted = peek.restricted_query || all_restricted;
    msgpack_pack_map(pk, 6);
    struct event_item c = {s, pk, 0};
    hub_pack_str(pk, "access");
    if ((rc = hub_store_batch_get(s->st, access, pack_plain, &c, e)))
        return rc;
    hub_pack_str(pk, "events");
    msgpack_pack_array(pk, nev);
    for (size_t i = from; i < to; i++)
        if (!s->reads[i].is_alert)
            msgpack_pack_uint64(pk, s->reads[i].rec);
    hub_pack_str(pk, "alerts");
    msgpack_pack_array(pk, nal);
    for (size_t i = from; i < to; i++)
        if (s->reads[i].is_alert)
            msgpack_pack_uint64(pk, s->reads[i].rec);
    hub_pack_str(pk, "seq");
    msgpack_pack_uint64(pk, access);
    hub_pack_str(pk, "restricted");
    if (restricted)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    hub_pack_str(pk, "withhold");
    msgpack_pack_array(pk, (uint32_t)(1 + restricted));
    if (restricted)
        pack_withhold(pk, CSPH_SAR_RESTRICTED, why_restricted);
    pack_withhold(pk, CSPH_SAR_STAFF, why_staff);
    return CSPH_ERR_OK;
}

/* ---- the request --------------------------------------------------------- */

struct request {
    const char *person, *reason;
    size_t person_len, reason_len;
    uint64_t request, events_after, alerts_after, reads_after;
    char by[81];
};

static enum hub_err parse(const struct hub_req *q, struct request *rq, struct hub_error *e)
{
    const struct hub_request *r = q->r;
    memset(rq, 0, sizeof *rq);
    enum hub_err rc = hub_erase_person_arg(r, &rq->person, &rq->person_len, e);
    int has_request = 0;
    if (!rc)
        rc = hub_wire_u64(r, "request", 1, UINT64_MAX, &rq->request, &has_request, e);
    if (!rc)
        rc = hub_wire_str(r, "reason", 1, CSPH_ERASE_REASON_MAX, !has_request, &rq->reason,
                          &rq->reason_len, e);
    if (!rc && rq->reason && rq->reason_len >= rq->person_len &&
        memmem(rq->reason, rq->reason_len, rq->person, rq->person_len))
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "reason",
                           "'reason' names the person; the reason is kept in the log for good: "
                           "give the request's reference without theirs");
    if (!rc && has_request && rq->reason)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "reason",
                           "a later page ('request' given) carries no reason: the first call "
                           "recorded it");
    if (!rc)
        rc = hub_wire_u64(r, "events_after", 0, UINT64_MAX, &rq->events_after, NULL, e);
    if (!rc)
        rc = hub_wire_u64(r, "alerts_after", 0, UINT64_MAX, &rq->alerts_after, NULL, e);
    if (!rc)
        rc = hub_wire_u64(r, "reads_after", 0, UINT64_MAX, &rq->reads_after, NULL, e);
    if (!rc)
        rc = hub_dp_requester(q, rq->by, e);
    return rc;
}

struct sar_event_check {
    int is_sar;
    char by[81];
};

static int check_sar_event(void *ctx, const struct hub_stored_event *ev)
{
    struct sar_event_check *c = ctx;
    c->is_sar = ev->type_len == strlen(CSPH_SAR_TYPE) &&
                memcmp(ev->type, CSPH_SAR_TYPE, ev->type_len) == 0;
    msgpack_zone zone;
    msgpack_object obj;
    size_t off = 0;
    msgpack_zone_init(&zone, 1024);
    if (c->is_sar &&
        msgpack_unpack(ev->bytes, ev->len, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS) {
        const msgpack_object *by = hub_mp_get(&obj, "by");
        if (by && by->type == MSGPACK_OBJECT_STR)
            snprintf(c->by, sizeof c->by, "%.*s", (int)by->via.str.size, by->via.str.ptr);
    }
    msgpack_zone_destroy(&zone);
    return 0;
}

/* The first call's dp.sar event; a later page's check of the one it names. */
static enum hub_err record_or_check(struct hub_ctx *h, struct hub_req *q, struct request *rq,
                                    struct hub_error *e)
{
    struct hub_store *st = hub_core_store(h->core);
    if (rq->request) {
        struct sar_event_check c = {0};
        enum hub_err rc = hub_store_batch_get(st, rq->request, check_sar_event, &c, e);
        if (rc == CSPH_ERR_NOT_FOUND || (!rc && (!c.is_sar || strcmp(c.by, rq->by) != 0)))
            return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "request",
                                 "'request' must be the seq of a dp.sar event this requester's "
                                 "first call recorded (seq %llu is not)",
                                 (unsigned long long)rq->request);
        return rc;
    }
    char id[48], when[40];
    snprintf(id, sizeof id, "sar-%llu", (unsigned long long)hub_store_next_seq(st));
    int wl = csph_time_format(q->now_ms, when);
    const char *role = q->who ? hub_role_name(q->who->role) : "none";
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 7);
    hub_pack_str(&pk, "id");
    hub_pack_str(&pk, id);
    hub_pack_str(&pk, "type");
    hub_pack_str(&pk, CSPH_SAR_TYPE);
    hub_pack_str(&pk, "occurred_at");
    hub_pack_strn(&pk, when, (size_t)wl);
    hub_pack_str(&pk, "source");
    hub_pack_str(&pk, CSPH_HUB_SOURCE);
    hub_pack_str(&pk, "by");
    hub_pack_str(&pk, rq->by);
    hub_pack_str(&pk, "role");
    hub_pack_str(&pk, role);
    hub_pack_str(&pk, "reason");
    hub_pack_strn(&pk, rq->reason, rq->reason_len);
    enum hub_err rc = hub_dp_append(h, q->now_ms, &sb, &rq->request, e);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

static void pack_end(msgpack_packer *pk, const char *key, int end)
{
    hub_pack_str(pk, key);
    if (end)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

enum hub_err hub_op_sar(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_error *e = &q->e;
    struct request rq;
    struct sar s = {.h = h, .q = q, .st = hub_core_store(h->core)};
    msgpack_sbuffer ev, al, rd;
    msgpack_sbuffer_init(&ev);
    msgpack_sbuffer_init(&al);
    msgpack_sbuffer_init(&rd);
    msgpack_packer epk, apk, rpk;
    msgpack_packer_init(&epk, &ev, msgpack_sbuffer_write);
    msgpack_packer_init(&apk, &al, msgpack_sbuffer_write);
    msgpack_packer_init(&rpk, &rd, msgpack_sbuffer_write);
    enum hub_err rc = parse(q, &rq, e);
    s.person = rq.person;
    s.plen = rq.person_len;
    if (!rc)
        rc = gather(&s, e);
    if (!rc && !rq.request && s.events.n == 0 && s.nalerts == 0)
        rc = hub_error_set(e, CSPH_ERR_NOT_FOUND, "person",
                           "the hub holds nothing about person '%.*s' (no event names them "
                           "and no alert is keyed on them: erased, or never named)",
                           (int)rq.person_len, rq.person);
    if (!rc)
        rc = record_or_check(h, q, &rq, e);
    /* Pages: events, then alerts, then reads, each in its own order, as
     * many as the reply's room takes (at least one item while any is
     * left). */
    size_t room = hub_ops_reply_room(h, q->r->req.len) - 512;
    uint32_t nev = 0, nal = 0, nrd = 0;
    uint64_t ev_next = rq.events_after, al_next = rq.alerts_after, rd_next = rq.reads_after;
    int ev_end = 1, al_end = 1, rd_end = 1, full = 0;
#define USED (ev.size + al.size + rd.size)
    for (size_t i = 0; !rc && i < s.events.n; i++) {
        if (s.events.v[i] <= rq.events_after)
            continue;
        if (full) {
            ev_end = 0;
            break;
        }
        size_t before = ev.size;
        struct event_item c = {&s, &epk, 0};
        rc = hub_store_batch_get(s.st, s.events.v[i], pack_event_item, &c, e);
        if (!rc && USED > room && nev + nal + nrd > 0) {
            ev.size = before; /* the next page starts with it */
            ev_end = 0;
            full = 1;
            break;
        }
        nev++;
        ev_next = s.events.v[i];
    }
    for (size_t i = 0; !rc && i < s.nalerts; i++) {
        if (s.alerts[i].id <= rq.alerts_after)
            continue;
        if (full) {
            al_end = 0;
            break;
        }
        size_t before = al.size;
        rc = pack_alert_item(&s, &s.alerts[i], &apk, e);
        if (!rc && USED > room && nev + nal + nrd > 0) {
            al.size = before;
            al_end = 0;
            full = 1;
            break;
        }
        nal++;
        al_next = s.alerts[i].id;
    }
    for (size_t i = 0; !rc && i < s.nreads;) {
        size_t j = i;
        while (j < s.nreads && s.reads[j].access == s.reads[i].access)
            j++;
        if (s.reads[i].access > rq.reads_after) {
            if (full) {
                rd_end = 0;
                break;
            }
            size_t before = rd.size;
            rc = pack_read_item(&s, i, j, &rpk, e);
            if (!rc && USED > room && nev + nal + nrd > 0) {
                rd.size = before;
                rd_end = 0;
                full = 1;
                break;
            }
            nrd++;
            rd_next = s.reads[i].access;
        }
        i = j;
    }
#undef USED
    if (!rc) {
        msgpack_packer *pk = q->pk;
        hub_reply_begin(pk, &q->r->req, 1, 14);
        hub_pack_str(pk, "request");
        msgpack_pack_uint64(pk, rq.request);
        hub_pack_str(pk, "person");
        hub_pack_strn(pk, rq.person, rq.person_len);
        hub_pack_str(pk, "counts");
        msgpack_pack_map(pk, 3);
        hub_pack_str(pk, "events");
        msgpack_pack_uint64(pk, s.events.n);
        hub_pack_str(pk, "alerts");
        msgpack_pack_uint64(pk, s.nalerts);
        hub_pack_str(pk, "reads");
        msgpack_pack_uint64(pk, s.naccess);
        hub_pack_str(pk, "restricted_panels");
        uint32_t nr = 0;
        for (size_t i = 0; i < h->cfg->npanels; i++)
            nr += h->cfg->panels[i].restricted != 0;
        msgpack_pack_array(pk, nr);
        for (size_t i = 0; i < h->cfg->npanels; i++)
            if (h->cfg->panels[i].restricted)
                hub_pack_str(pk, h->cfg->panels[i].name);
        hub_pack_str(pk, "events");
        msgpack_pack_array(pk, nev);
        hub_pack_raw(pk, ev.data, ev.size);
        hub_pack_str(pk, "events_next");
        msgpack_pack_uint64(pk, ev_next);
        pack_end(pk, "events_end", ev_end);
        hub_pack_str(pk, "alerts");
        msgpack_pack_array(pk, nal);
        hub_pack_raw(pk, al.data, al.size);
        hub_pack_str(pk, "alerts_next");
        msgpack_pack_uint64(pk, al_next);
        pack_end(pk, "alerts_end", al_end);
        hub_pack_str(pk, "reads");
        msgpack_pack_array(pk, nrd);
        hub_pack_raw(pk, rd.data, rd.size);
        hub_pack_str(pk, "reads_next");
        msgpack_pack_uint64(pk, rd_next);
        pack_end(pk, "reads_end", rd_end);
        pack_end(pk, "end", ev_end && al_end && rd_end);
        if (!rq.events_after && !rq.alerts_after && !rq.reads_after)
            LOG_INFO("sar", "subject access export by %s recorded in dp.sar seq %llu: %zu "
                     "events, %zu alerts, %zu reads", rq.by, (unsigned long long)rq.request,
                     s.events.n, s.nalerts, s.naccess);
    }
    hub_u64set_free(&s.events);
    hub_u64set_free(&s.restricted);
    free(s.alerts);
    free(s.reads);
    msgpack_sbuffer_destroy(&ev);
    msgpack_sbuffer_destroy(&al);
    msgpack_sbuffer_destroy(&rd);
    if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL || rc == CSPH_ERR_NOMEM)
        return rc == CSPH_ERR_NOMEM ? CSPH_ERR_INTERNAL : rc;
    if (rc)
        hub_reply_error(q->pk, &q->r->req, e, 0);
    return CSPH_ERR_OK;
}
