#include "reads.h"
#include "restrictview.h"

#include "views.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mpx.h"
#include "reply.h"
#include "timefmt.h"

/* ping and stats answer from memory and the store's counters. */
enum hub_err hub_op_ping(struct hub_ctx *h, struct hub_req *q)
{
    hub_reply_ping(q->pk, &q->r->req, hub_store_last_seq(hub_core_store(h->core)));
    return CSPH_ERR_OK;
}

enum hub_err hub_op_stats(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_store *st = hub_core_store(h->core);
    struct hub_store_health health;
    uint64_t alerts[CSPH_MAX_PANELS];
    const struct hub_rules *rules = hub_core_rules(h->core);
    hub_store_health(st, &health);
    hub_queues_counts(hub_core_queues(h->core), alerts);
    struct hub_reply_stats s = {
        .c = &h->c,
        .ts = hub_transport_stats(h->transport),
        .last_seq = hub_store_last_seq(st),
        .rejects_kept = hub_store_last_reject(st),
        .cfg = h->cfg,
        .alerts = alerts,
        .health = &health,
        .rule_version = rules ? hub_rules_digest(rules) : "none",
        .uptime_s = (uint64_t)(hub_clock_now_ms(h->clock) - h->started_ms) / 1000,
    };
    hub_reply_stats(q->pk, &q->r->req, &s);
    return CSPH_ERR_OK;
}

/* A reply's list is packed into h->items first, then framed (reply.h). */
static void items_begin(struct hub_ctx *h, msgpack_packer *pk)
{
    h->items.size = 0;
    msgpack_packer_init(pk, &h->items, msgpack_sbuffer_write);
}

/* Restricted panels' evidence is for the auditor only. */
struct replay_ctx {
    struct hub_ctx *h;
    msgpack_packer *pk; /* packs into h->items */
    uint32_t count, max;
    size_t room;         /* bytes the entries may take */
    uint64_t stop_before; /* the event that did not fit (0: none) */
    int stopped;         /* the last visit asked to stop */
    uint64_t examined;
    int has_since, has_till;
    int64_t since_ms, till_ms;
    const msgpack_object *types;
    const char *person;
    size_t person_len;
    int64_t when_ms; /* the last received_at formatted, and its text */
    char when[32];
    int when_len;
};

static int replay_match(struct replay_ctx *c, const struct hub_stored_event *ev)
{
    if (c->has_since && ev->occurred_ms < c->since_ms)
        return 0;
    if (c->has_till && ev->occurred_ms >= c->till_ms)
        return 0;
    if (c->types) {
        int hit = 0;
        for (uint32_t i = 0; i < c->types->via.array.size && !hit; i++)
            hit = hub_mp_str_eqn(&c->types->via.array.ptr[i], ev->type, ev->type_len);
        if (!hit)
            return 0;
    }
    if (c->person) {
        struct hub_event_info info = {0};
        info.type_index = hub_schemas_find(c->h->schemas, ev->type, ev->type_len);
        if (info.type_index < 0)
            return 0;
        msgpack_object obj;
        size_t off = 0;
        msgpack_zone_clear(&c->h->scan_zone);
        if (msgpack_unpack(ev->bytes, ev->len, &off, &c->h->scan_zone, &obj) !=
            MSGPACK_UNPACK_SUCCESS)
            return 0;
        return hub_schema_mentions_person(c->h->schemas, &info, &obj, c->person, c->person_len);
    }
    return 1;
}

/* Returns 1 to stop: after this event when the reply is full (max events,
 * or its bytes), or before it (c->stop_before) when it would not fit. */
static int replay_visit(void *vctx, const struct hub_stored_event *ev)
{
    struct replay_ctx *c = vctx;
    c->examined++;
    if (!replay_match(c, ev))
        return 0;
    /* Bound the reply's bytes (10,000 events of 64 KiB would be 640 MiB):
     * an event that would take it past the limit starts the next reply. */
    if (c->count && c->h->items.size + ev->len + CSPH_REPLY_EVENT_OVERHEAD > c->room) {
        c->stop_before = ev->seq;
        return 1;
    }
    /* Events of one batch share received_at: format it once. */
    if (ev->received_ms != c->when_ms || !c->when_len) {
        c->when_ms = ev->received_ms;
        c->when_len = csph_time_format(ev->received_ms, c->when);
    }
    hub_reply_event_entry(c->pk, ev->seq, c->when, (size_t)c->when_len, ev->bytes, ev->len);
    return ++c->count == c->max || c->h->items.size >= c->room;
}

static int replay_get_visit(void *vctx, const struct hub_stored_event *ev)
{
    struct replay_ctx *c = vctx;
    c->stopped = replay_visit(c, ev);
    return 0;
}

/* hub_store_scan with replay_visit: an event that did not fit is the
 * first of the next reply. */
static enum hub_err replay_scan(struct hub_ctx *h, struct replay_ctx *c, uint64_t after,
                                uint64_t until, uint64_t scan_max, uint64_t *last, int *end,
                                struct hub_error *e)
{
    c->stop_before = 0;
    enum hub_err rc = hub_store_scan(hub_core_store(h->core), after, until, scan_max,
                                     replay_visit, c, last, end, e);
    if (!rc && c->stop_before) {
        *last = c->stop_before - 1;
        *end = 0;
    }
    return rc;
}

struct seq_list {
    uint64_t *v;
    size_t n, cap;
    uint64_t after, until;
    int oom;
};

static int seq_collect(void *ctx, int64_t occurred_ms, uint64_t seq)
{
    struct seq_list *l = ctx;
    (void)occurred_ms;
    if (seq <= l->after || (l->until && seq > l->until))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        uint64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = 1;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = seq;
    return 0;
}

static int cmp_seq(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* replay with `person`: the events the person index names (its committed
 * part, up to *applied), in seq order, each read by seq; then the log
 * after *applied, which the index does not hold yet, scanned and matched as
 * before. Together: every event naming the person after `after`, in seq
 * order, paged the same way. At most replay_scan_max events are examined
 * per reply, as for any filtered replay. */
static enum hub_err replay_person(struct hub_ctx *h, struct replay_ctx *c, uint64_t after,
                                  uint64_t until, uint64_t *last, int *end, struct hub_error *e)
{
    struct seq_list l = {.after = after, .until = until};
    uint64_t applied = 0, scan_max = h->cfg->limits.replay_scan_max;
    int64_t from = c->has_since ? c->since_ms : INT64_MIN, to = INT64_MAX;
    enum hub_err rc = CSPH_ERR_OK;
    if (c->has_till)
        to = c->till_ms > INT64_MIN ? c->till_ms - 1 : INT64_MIN; /* till is exclusive */
    if (from <= to) {
        struct hub_error ie;
        if (hub_store_refs(hub_core_store(h->core), CSPH_REF_PERSON, c->person, c->person_len,
                           from, to, seq_collect, &l, &applied, &ie) ||
            l.oom) {
            /* The log alone still answers, only slower. */
            LOG_WARN("hub", "replay by person reads the whole log: %s",
                     l.oom ? "out of memory for the person index's answer" : ie.message);
            l.n = 0;
            applied = 0;
        }
    } else {
        /* No time can match; the index has nothing to add. */
        applied = 0;
    }
    /* The index's committed part ends at applied; what it holds past
     * that (none, but be exact) is read from the log's tail. */
    size_t n = 0;
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, cmp_seq);
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i] <= applied && (!n || l.v[i] != l.v[n - 1]))
            l.v[n++] = l.v[i];
    uint64_t indexed_to = until && until < applied ? until : applied;
    uint64_t examined0 = c->examined;
    *last = after;
    *end = 1;
    for (size_t i = 0; i < n; i++) {
        if (c->examined - examined0 == scan_max) {
            *end = 0;
            goto done;
        }
        c->stop_before = 0;
        c->stopped = 0;
        struct hub_error ge;
        enum hub_err grc =
            hub_store_get(hub_core_store(h->core), l.v[i], replay_get_visit, c, &ge);
        if (grc && grc != CSPH_ERR_NOT_FOUND) {
            *e = ge;
            rc = grc;
            goto done;
        }
        h->c.replay_person_indexed++;
        if (c->stop_before) {
            *last = c->stop_before - 1;
            *end = 0;
            goto done;
        }
        *last = l.v[i];
        if (c->stopped) {
            /* Full. Anything left: more the index named, or a tail. */
            *end = i + 1 == n && !(hub_store_last_seq(hub_core_store(h->core)) > indexed_to &&
                                   (!until || until > indexed_to));
            goto done;
        }
    }
    /* Everything the index holds for this query is in the reply. */
    if (indexed_to > *last)
        *last = indexed_to;
    if (until && *last >= until)
        goto done;
    uint64_t examined = c->examined - examined0;
    if (examined >= scan_max) {
        *end = hub_store_last_seq(hub_core_store(h->core)) <= *last;
        goto done;
    }
    uint64_t tail0 = c->examined;
    rc = replay_scan(h, c, *last, until, scan_max - examined, last, end, e);
    h->c.replay_person_scanned += c->examined - tail0;
done:
    free(l.v);
    return rc;
}

static enum hub_err time_arg(const struct hub_request *r, const char *key, int *has, int64_t *ms,
                             struct hub_error *e)
{
    const char *p = NULL, *why = NULL;
    size_t len = 0;
    enum hub_err rc = hub_wire_str(r, key, 1, 64, 0, &p, &len, e);
    if (rc || !p)
        return rc;
    if (csph_time_parse(p, len, ms, &why) != 0)
        return hub_error_set(e, CSPH_ERR_BAD_REQUEST, key, "'%s' %s", key, why);
    *has = 1;
    return CSPH_ERR_OK;
}

enum hub_err hub_op_replay(struct hub_ctx *h, struct hub_req *q)
{
    const struct hub_request *r = q->r;
    struct hub_error *e = &q->e;
    struct replay_ctx c = {.h = h};
    uint64_t after = 0, until = 0, max = 1000;
    enum hub_err rc;
    if ((rc = hub_wire_u64(r, "after", 0, UINT64_MAX, &after, NULL, e)) ||
        (rc = hub_wire_u64(r, "until", 0, UINT64_MAX, &until, NULL, e)) ||
        (rc = hub_wire_u64(r, "max", 1, h->cfg->limits.replay_max, &max, NULL, e)) ||
        (rc = time_arg(r, "since", &c.has_since, &c.since_ms, e)) ||
        (rc = time_arg(r, "till", &c.has_till, &c.till_ms, e)) ||
        (rc = hub_wire_str(r, "person", 1, 64, 0, &c.person, &c.person_len, e)))
        return rc;
    c.types = hub_mp_get(&r->root, "types");
    if (c.types) {
        int ok = c.types->type == MSGPACK_OBJECT_ARRAY && c.types->via.array.size <= 64;
        for (uint32_t i = 0; ok && i < c.types->via.array.size; i++)
            ok = c.types->via.array.ptr[i].type == MSGPACK_OBJECT_STR;
        if (!ok)
            return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "types",
                                 "'types' must be an array of up to 64 type names");
    }
    if (c.person && !csph_ref_valid(c.person, c.person_len))
        return hub_error_set(e, CSPH_ERR_BAD_REQUEST, "person",
                             "'person' must be a person reference: 1-64 characters from "
                             "A-Z a-z 0-9 . _ : -");
    c.max = (uint32_t)max;
    c.room = hub_ops_reply_room(h, r->req.len);
    msgpack_packer epk;
    items_begin(h, &epk);
    c.pk = &epk;
    int filtered = c.has_since || c.has_till || c.types || c.person;
    uint64_t last = after;
    int end = 1;
    /* A filtered replay examines at most replay_scan_max events per reply,
     * so one query cannot hold the loop; `next` lets the client go on. */
    if (c.person)
        rc = replay_person(h, &c, after, until, &last, &end, e);
    else
        rc = replay_scan(h, &c, after, until, filtered ? h->cfg->limits.replay_scan_max : max,
                         &last, &end, e);
    if (rc)
        return rc;
    h->c.replay_requests++;
    h->c.replay_events += c.count;
    q->count = c.count;
    hub_reply_list(q->pk, &r->req, "events", &h->items, c.count, 1, last, end);
    return CSPH_ERR_OK;
}

struct rejects_ctx {
    msgpack_packer *pk;
    const msgpack_sbuffer *out;
    size_t room;
    uint32_t count;
    struct hub_restrictview rv; /* restricted persons, for who may not read them */
};

static int rejects_visit(void *vctx, const struct hub_stored_reject *rj)
{
    struct rejects_ctx *c = vctx;
    /* A rejection naming a restricted person (its bytes may not parse:
     * searched as text) is left out, as their events are (restrictview.h). */
    if (c->rv.any && hub_restrictview_names(&c->rv, rj->bytes, rj->len))
        return 0;
    /* A rejection's bytes may be a whole message: one that would take the
     * reply past its limit starts the next reply. */
    if (c->count && c->out->size + rj->len + strlen(rj->message) + 512 > c->room)
        return 1;
    hub_reply_reject_entry(c->pk, rj);
    c->count++;
    return 0;
}

#define DROPPED_SOURCES_MAX 100

struct dropped_ctx {
    msgpack_packer *pk;
    uint32_t n;
};

static int dropped_visit(void *vctx, const char *source, size_t len, uint64_t count,
                         uint64_t bytes, uint64_t dropped)
{
    struct dropped_ctx *d = vctx;
    (void)count;
    (void)bytes;
    if (!dropped)
        return 0;
    hub_pack_strn(d->pk, source, len);
    msgpack_pack_uint64(d->pk, dropped);
    return ++d->n == DROPPED_SOURCES_MAX;
}

enum hub_err hub_op_rejects(struct hub_ctx *h, struct hub_req *q)
{
    const struct hub_request *r = q->r;
    struct hub_error *e = &q->e;
    uint64_t after = 0, max = 1000, last;
    int end;
    enum hub_err rc;
    if ((rc = hub_wire_u64(r, "after", 0, UINT64_MAX, &after, NULL, e)) ||
        (rc = hub_wire_u64(r, "max", 1, h->cfg->limits.replay_max, &max, NULL, e)))
        return rc;
    msgpack_packer epk;
    items_begin(h, &epk);
    /* Room kept for the dropped sources' map. */
    size_t room = hub_ops_reply_room(h, r->req.len);
    struct rejects_ctx c = {.pk = &epk, .out = &h->items,
                            .room = room > 4 * DROPPED_SOURCES_MAX * 80
                                        ? room - DROPPED_SOURCES_MAX * 80
                                        : room};
    MDB_txn *rtxn = NULL;
    if (hub_restrictview_applies(q->who)) {
        int mrc = mdb_txn_begin(hub_store_env(hub_core_store(h->core)), NULL, MDB_RDONLY, &rtxn);
        if (mrc)
            return hub_error_set(e, CSPH_ERR_INTERNAL, NULL, "reading the restrictions: %s",
                                 mdb_strerror(mrc));
        hub_restrictview_open(&c.rv, rtxn);
    }
    rc = hub_store_rejects(hub_core_store(h->core), after, max, rejects_visit, &c, &last, &end,
                           e);
    if (rtxn)
        mdb_txn_abort(rtxn);
    if (rc)
        return rc;
    /* What the bound per source dropped (PROTOCOL.md 7): the total, and
     * the sources it dropped from (at most DROPPED_SOURCES_MAX named). */
    struct dropped_ctx d = {.pk = &epk};
    uint64_t dropped;
    size_t list_end = h->items.size;
    if ((rc = hub_store_reject_usage(hub_core_store(h->core), dropped_visit, &d, &dropped, e)))
        return rc;
    q->count = c.count;
    hub_reply_rejects(q->pk, &r->req, &h->items, list_end, c.count, last, end, dropped, d.n);
    return CSPH_ERR_OK;
}


static enum hub_err fetch_args(struct hub_ctx *h, struct hub_req *q, int *panel,
                               const char **consumer, size_t *clen, uint64_t *max,
                               uint64_t *wait_ms, struct hub_error *e)
{
    const struct hub_request *r = q->r;
    enum hub_err rc = hub_ops_panel_arg(h, q, panel);
    if (!rc)
        rc = hub_wire_str(r, "consumer", 1, 64, 1, consumer, clen, e);
    if (!rc)
        rc = hub_wire_u64(r, "max", 1, 1000, max, NULL, e);
    if (!rc)
        rc = hub_wire_u64(r, "wait_ms", 0, 30000, wait_ms, NULL, e);
    return rc;
}

enum hub_err hub_reads_fetch_reply(struct hub_ctx *h, const struct hub_span *req, int panel,
                                   const char *consumer, size_t clen, uint32_t max, int view,
                                   msgpack_packer *pk, uint32_t *count, struct hub_error *e)
{
    msgpack_packer ipk;
    items_begin(h, &ipk);
    uint64_t last = 0;
    int end = 1;
    enum hub_err rc = hub_core_fetch(h->core, panel, consumer, clen, max, view,
                                     hub_ops_reply_room(h, req->len), &ipk, count, &last, &end,
                                     e);
    if (rc)
        return rc;
    hub_reply_list(pk, req, "alerts", &h->items, *count, 1, last, end);
    return CSPH_ERR_OK;
}

/* fetch: the alerts after the consumer's cursor; none yet and wait_ms
 * given: q->hold, and the caller holds the request (PROTOCOL.md 5). */
enum hub_err hub_op_fetch(struct hub_ctx *h, struct hub_req *q)
{
    uint64_t max = 100;
    uint32_t count = 0;
    q->wait_ms = 0;
    q->hold = 0;
    enum hub_err rc = fetch_args(h, q, &q->panel, &q->consumer, &q->consumer_len, &max,
                                 &q->wait_ms, &q->e);
    if (!rc)
        rc = hub_reads_fetch_reply(h, &q->r->req, q->panel, q->consumer, q->consumer_len,
                                   (uint32_t)max, hub_restrictview_qview(q->who), q->pk, &count, &q->e);
    if (rc)
        return rc;
    q->max = (uint32_t)max;
    q->count = count;
    q->hold = !count && q->wait_ms;
    return CSPH_ERR_OK;
}

/* alerts, alert, person: the coordinator's views (views.h): a queue
 * filtered and paged on the hub, one alert with its decisions, the alerts
 * keyed on a person with their evidence (from the person index). */
static enum hub_err view(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_views_req v = {.queues = hub_core_queues(h->core),
                              .store = hub_core_store(h->core),
                              .cfg = h->cfg,
                              .who = q->who,
                              .room = hub_ops_reply_room(h, q->r->req.len),
                              .now_ms = q->now_ms};
    enum hub_err rc = q->r->op == CSPH_OP_ALERT    ? hub_views_alert(&v, q->r, q->pk, &q->e)
                      : q->r->op == CSPH_OP_PERSON ? hub_views_person(&v, q->r, q->pk, &q->e)
                                                   : hub_views_alerts(&v, q->r, q->pk, &q->e);
    h->c.forbidden += v.refused ? 1 : 0;
    q->count = v.returned;
    return rc;
}

enum hub_err hub_op_alerts(struct hub_ctx *h, struct hub_req *q) { return view(h, q); }
enum hub_err hub_op_alert(struct hub_ctx *h, struct hub_req *q) { return view(h, q); }
enum hub_err hub_op_person(struct hub_ctx *h, struct hub_req *q) { return view(h, q); }

/* evidence: the rest of an alert whose evidence did not fit in one reply
 * (PROTOCOL.md 5), or any alert's evidence, paged by position. */
enum hub_err hub_op_evidence(struct hub_ctx *h, struct hub_req *q)
{
    const struct hub_request *r = q->r;
    struct hub_error *e = &q->e;
    uint64_t id = 0, after = 0, max = UINT32_MAX, total = 0;
    int present = 0, panel = -1;
    uint32_t count = 0;
    enum hub_err rc = hub_wire_u64(r, "id", 1, UINT64_MAX, &id, &present, e);
    if (!rc && !present)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "id", "'id' (an alert id) is required");
    if (!rc)
        rc = hub_wire_u64(r, "after", 0, UINT64_MAX, &after, NULL, e);
    if (!rc)
        rc = hub_wire_u64(r, "max", 1, UINT32_MAX, &max, NULL, e);
    if (rc)
        return rc;
    msgpack_packer ipk;
    items_begin(h, &ipk);
    int view = hub_restrictview_qview(q->who); /* as the alert's queue shows it */
    if ((rc = hub_queues_evidence(hub_core_queues(h->core), id, view, after, max,
                                  hub_ops_reply_room(h, r->req.len), &ipk, &panel, &count, &total, e)))
        return rc;
    if (q->who && !hub_identity_may_panel(q->who, panel)) {
        /* Answered exactly as for an alert that does not exist (as
         * alert.update is): whether another panel (Channel, MAPPA) has
         * alert id is not the caller's to learn. */
        h->items.size = 0;
        h->c.forbidden++;
        return hub_error_set(e, CSPH_ERR_NOT_FOUND, "id", "no alert with id %llu",
                             (unsigned long long)id);
    }
    uint64_t next = (after < total ? after : total) + count;
    q->count = count;
    hub_reply_evidence(q->pk, &r->req, id, total, &h->items, count, next);
    return CSPH_ERR_OK;
}

