#include "sweep.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "erase.h"
#include "hold.h"
#include "ingest.h"
#include "log.h"
#include "mpx.h"
#include "redo.h"
#include "reply.h"
#include "store.h"
#include "alertredact.h"
#include "sweepalerts.h"
#include "sweeppos.h"
#include "timefmt.h"

#define REJECTS_PER_STEP 1000
#define ACTIVITY_CACHE 64

struct activity {
    char ref[CSPH_STORE_REF_MAX];
    size_t len;
    int64_t last_ms;
};

struct hub_sweep {
    int active;
    int64_t as_of_ms, began_ms;
    uint64_t next;             /* the next seq the pass looks at */
    uint64_t high;             /* the highest seq the pass has looked at */
    uint64_t cand[CSPH_ERASE_PER_EVENT];
    size_t ncand;
    uint64_t scanned_to;       /* the last seq the step's scan looked at */
    int rejects_due;
    /* The alert walk (sweepalerts.h), after the event walk: alerts is 1
     * while it is under way; next_alert the next id it looks at. */
    int alerts;
    uint64_t next_alert, high_alert;
    uint64_t acand[CSPH_ERASE_PER_EVENT];
    size_t nacand;
    /* Where the step's scan began: a failed step goes back to it. */
    struct {
        int active, alerts;
        uint64_t next, next_alert;
    } from;
    struct hub_sweep_stats st, step; /* totals; the step in hand's */
    struct activity cache[ACTIVITY_CACHE];
    size_t ncache;
    /* The position as last committed (saved.next 0: none), and the one the
     * step in hand saved, until its batch commits. */
    struct hub_sweep_pos saved, pending;
    int have_pending, pending_alone;
    uint64_t saved_ns, pending_ns;
};

enum hub_err hub_sweep_new(struct hub_sweep **out, struct hub_error *err)
{
    if (!(*out = calloc(1, sizeof **out)))
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory for the sweep");
    (*out)->next = 1;
    (*out)->next_alert = 1;
    return CSPH_ERR_OK;
}

void hub_sweep_destroy(struct hub_sweep **sw)
{
    if (sw && *sw) {
        free(*sw);
        *sw = NULL;
    }
}

void hub_sweep_begin_pass(struct hub_sweep *sw, int64_t now_ms)
{
    if (!sw->active) {
        sw->next = 1;
        sw->high = 0;
        sw->alerts = 0;
        sw->next_alert = 1;
        sw->high_alert = 0;
    }
    sw->active = 1;
    sw->as_of_ms = now_ms;
    sw->began_ms = now_ms;
    sw->ncache = 0;
}

void hub_sweep_restart(struct hub_sweep *sw, int64_t now_ms)
{
    sw->active = 0;
    hub_sweep_begin_pass(sw, now_ms);
}

enum hub_sweep_resumed hub_sweep_resume(struct hub_sweep *sw, struct hub_store *st,
                                        const struct hub_retention *r, int64_t now_ms,
                                        struct hub_sweep_pos *pos)
{
    int got = hub_sweeppos_load(st, pos);
    if (got == 0)
        return CSPH_SWEEP_NONE_SAVED;
    if (got < 0)
        return CSPH_SWEEP_STALE;
    if (strcmp(pos->policy, hub_retention_digest(r)) != 0)
        return CSPH_SWEEP_NEW_POLICY;
    if (pos->next > hub_store_last_seq(st) + 1 || now_ms < pos->began_ms)
        return CSPH_SWEEP_STALE;
    sw->next = pos->next;
    sw->high = pos->next - 1;
    sw->as_of_ms = pos->as_of_ms;
    sw->began_ms = pos->began_ms;
    sw->active = pos->active;
    sw->alerts = pos->alerts;
    sw->next_alert = pos->next_alert;
    sw->high_alert = pos->next_alert - 1;
    sw->ncache = 0;
    sw->saved = *pos;
    sw->saved_ns = uv_hrtime();
    return pos->active ? CSPH_SWEEP_RESUMED : CSPH_SWEEP_WAITING;
}

int hub_sweep_active(const struct hub_sweep *sw)
{
    return sw->active;
}

int64_t hub_sweep_pass_began(const struct hub_sweep *sw)
{
    return sw->began_ms;
}

const struct hub_sweep_stats *hub_sweep_stats(const struct hub_sweep *sw)
{
    return &sw->st;
}

int64_t hub_sweep_cutoff(const struct hub_period *p, int64_t as_of_ms)
{
    if (p->kind != CSPH_PERIOD_SPAN)
        return INT64_MIN;
    const int64_t day = 86400000;
    if (p->unit == 'd' || p->unit == 'w')
        return as_of_ms - (int64_t)p->n * (p->unit == 'w' ? 7 : 1) * day;
    int64_t ms = as_of_ms % 1000;
    if (ms < 0)
        ms += 1000;
    time_t t = (time_t)((as_of_ms - ms) / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    int64_t months = (int64_t)tm.tm_year * 12 + tm.tm_mon -
                     (int64_t)p->n * (p->unit == 'y' ? 12 : 1);
    tm.tm_year = (int)(months / 12);
    tm.tm_mon = (int)(months % 12);
    return (int64_t)timegm(&tm) * 1000 + ms;
}

/* The panel an event names (its type's first field of kind panel), as an
 * index into cfg's panels; -1 when none. */
static int event_panel(const struct hub_schemas *s, int ti, const struct hub_config *cfg,
                       const msgpack_object *obj)
{
    const char *field = hub_schemas_panel_field(s, (size_t)ti);
    if (!field)
        return -1;
    const msgpack_object *v = hub_mp_get(obj, field);
    for (size_t i = 0; v && v->type == MSGPACK_OBJECT_STR && i < cfg->npanels; i++)
        if (hub_mp_str_eqn(v, cfg->panels[i].name, strlen(cfg->panels[i].name)))
            return (int)i;
    return -1;
}

static int is_common(const msgpack_object *k)
{
    static const char *const keep[] = {"id", "type", "occurred_at", "source"};
    for (size_t i = 0; i < 4; i++)
        if (hub_mp_str_eqn(k, keep[i], strlen(keep[i])))
            return 1;
    return 0;
}

/* 1 when the event holds anything beyond the common fields (a body left
 * to remove): a record removed already, or one with nothing else, is
 * passed over. */
static int has_body(const msgpack_object *obj)
{
    for (uint32_t i = 0; obj->type == MSGPACK_OBJECT_MAP && i < obj->via.map.size; i++)
        if (!is_common(&obj->via.map.ptr[i].key))
            return 1;
    return 0;
}

struct scan_ctx {
    struct hub_sweep *sw;
    struct hub_store *st;
    const struct hub_schemas *s;
    const struct hub_config *cfg;
    const struct hub_retention *r;
    uint64_t deadline_ns, n;
    msgpack_zone zone;
};

struct active {
    struct hub_store *st;
    int64_t from_ms;
    int found;
};

static int stop_at_first(void *ctx, int64_t occurred_ms, uint64_t seq)
{
    (void)occurred_ms;
    (void)seq;
    *(int *)ctx = 1;
    return 1;
}

int hub_sweep_person_active(struct hub_store *st, const char *ref, size_t len, int64_t from_ms)
{
    uint64_t applied;
    struct hub_error e;
    int found = 0;
    if (hub_store_refs(st, CSPH_REF_PERSON, ref, len, from_ms, INT64_MAX, stop_at_first, &found,
                       &applied, &e))
        return 0; /* cannot tell: a candidate, and apply decides */
    return found;
}

/* hub_schema_ref_fn: stops (1) at a person with an event since from_ms. */
static int any_active(void *ctx, char kind, const char *ref, size_t len)
{
    struct active *a = ctx;
    if (kind != CSPH_REF_PERSON)
        return 0;
    a->found = hub_sweep_person_active(a->st, ref, len, a->from_ms);
    return a->found;
}

static int scan_one(void *ctx, const struct hub_stored_event *ev)
{
    struct scan_ctx *c = ctx;
    struct hub_sweep *sw = c->sw;
    sw->scanned_to = ev->seq;
    if (ev->seq > sw->high) { /* looked at again after a step cut short: once */
        sw->step.examined++;
        sw->high = ev->seq;
    }
    int stop = (++c->n & 63) == 0 && uv_hrtime() >= c->deadline_ns;
    int ti = hub_schemas_find(c->s, ev->type, ev->type_len);
    if (ti < 0) /* a type no longer configured: its period is unknown, kept */
        return stop;
    msgpack_object obj;
    size_t off = 0;
    msgpack_zone_clear(&c->zone);
    if (msgpack_unpack(ev->bytes, ev->len, &off, &c->zone, &obj) != MSGPACK_UNPACK_SUCCESS ||
        obj.type != MSGPACK_OBJECT_MAP)
        return stop;
    const struct hub_period *p =
        hub_retention_period(c->r, ti, event_panel(c->s, ti, c->cfg, &obj));
    /* Its own date first: the last activity of the people it names is no
     * earlier, so an event within its period by its date is kept. */
    if (p->kind != CSPH_PERIOD_SPAN || hub_period_end(p, ev->occurred_ms) > sw->as_of_ms ||
        !has_body(&obj))
        return stop;
    /* Someone it names active within the period (the committed person
     * index): no candidate, so a pass over people still in touch opens no
     * batch for nothing. apply checks again as the batch sees it. */
    if (p->after_activity) {
        struct active a = {.st = c->st, .from_ms = hub_sweep_cutoff(p, sw->as_of_ms) + 1};
        hub_schema_each_ref(c->s, ti, &obj, any_active, &a);
        if (a.found)
            return stop;
    }
    sw->cand[sw->ncand++] = ev->seq;
    return stop || sw->ncand == CSPH_ERASE_PER_EVENT;
}

static int oldest_reject(void *ctx, const struct hub_stored_reject *r)
{
    *(int64_t *)ctx = r->received_ms;
    return 0;
}

enum hub_err hub_sweep_scan(struct hub_sweep *sw, struct hub_core *core,
                            const struct hub_schemas *s, const struct hub_config *cfg,
                            const struct hub_retention *r, uint64_t budget_us, int *work,
                            struct hub_error *err)
{
    struct hub_store *st = hub_core_store(core);
    struct scan_ctx c = {.sw = sw, .st = st, .s = s, .cfg = cfg, .r = r,
                         .deadline_ns = uv_hrtime() + budget_us * 1000};
    enum hub_err rc = CSPH_ERR_OK;
    *work = 0;
    sw->ncand = sw->nacand = 0;
    memset(&sw->step, 0, sizeof sw->step);
    sw->scanned_to = sw->next - 1;
    sw->from.active = sw->active;
    sw->from.alerts = sw->alerts;
    sw->from.next = sw->next;
    sw->from.next_alert = sw->next_alert;
    msgpack_zone_init(&c.zone, 4096);
    int end = 0;
    while (sw->active && !sw->alerts && !end && sw->ncand < CSPH_ERASE_PER_EVENT &&
           uv_hrtime() < c.deadline_ns) {
        uint64_t last;
        if ((rc = hub_store_scan(st, sw->next - 1, 0, 4096, scan_one, &c, &last, &end, err)))
            break;
        sw->next = last + 1;
        if (end && sw->ncand < CSPH_ERASE_PER_EVENT) {
            /* The event walk reached the log's end: the alert walk next.
             * After the events, not interleaved: one cursor at a time
             * (the saved position is a seq or an alert id), and the alerts
             * are measured against the person index as this pass's event
             * walk left it, as any later pass will see it. */
            sw->alerts = 1;
            sw->next_alert = 1;
        }
    }
    msgpack_zone_destroy(&c.zone);
    /* The alert walk, with what is left of the step's budget. */
    if (rc == CSPH_ERR_OK && sw->active && sw->alerts && sw->ncand < CSPH_ERASE_PER_EVENT &&
        uv_hrtime() < c.deadline_ns) {
        struct hub_sweepalerts_scan sc = {.after = sw->next_alert - 1,
                                          .deadline_ns = c.deadline_ns,
                                          .cand = sw->acand,
                                          .max = CSPH_ERASE_PER_EVENT - sw->ncand};
        if ((rc = hub_sweepalerts_scan(core, cfg, r, sw->as_of_ms, &sc, err)) == CSPH_ERR_OK) {
            sw->nacand = sc.n;
            if (sc.last > sw->high_alert) { /* looked at again after a step cut short: once */
                sw->step.alerts_examined += sc.last - (sw->high_alert > sc.after
                                                           ? sw->high_alert
                                                           : sc.after);
                sw->high_alert = sc.last;
            }
            sw->next_alert = sc.last + 1;
            if (sc.end)
                sw->active = 0; /* the pass reached the last alert */
        }
    }
    /* Kept rejections: due when the oldest is past its period. */
    sw->rejects_due = 0;
    const struct hub_period *rp = hub_retention_rejections(r);
    if (rc == CSPH_ERR_OK && rp->kind == CSPH_PERIOD_SPAN) {
        int64_t oldest = INT64_MAX;
        uint64_t last;
        int rend;
        rc = hub_store_rejects(st, 0, 1, oldest_reject, &oldest, &last, &rend, err);
        sw->rejects_due = rc == CSPH_ERR_OK && oldest < hub_sweep_cutoff(rp, sw->as_of_ms);
    }
    *work = sw->ncand > 0 || sw->nacand > 0 || sw->rejects_due;
    return rc;
}


struct refs {
    struct {
        char kind;
        const char *p;
        size_t len;
    } v[64];
    size_t n;
};

static int add_ref(void *ctx, char kind, const char *ref, size_t len)
{
    struct refs *r = ctx;
    if (r->n < sizeof r->v / sizeof *r->v)
        r->v[r->n++] = (typeof(r->v[0])){kind, ref, len};
    return 0;
}

static int latest(void *ctx, int64_t occurred_ms, uint64_t seq)
{
    (void)seq;
    int64_t *last = ctx;
    if (occurred_ms > *last)
        *last = occurred_ms;
    return 0;
}

/* The last activity of person ref: the latest occurred_at of the events
 * naming them, as the batch's index sees it (cached for the pass: the
 * pass measures against one time, and newer events only move it later,
 * which keeps more, never less). */
enum hub_err hub_sweep_last_activity(struct hub_sweep *sw, struct hub_store *st, const char *ref,
                                     size_t len, int64_t *out, struct hub_error *err)
{
    for (size_t i = 0; i < sw->ncache; i++)
        if (sw->cache[i].len == len && !memcmp(sw->cache[i].ref, ref, len)) {
            *out = sw->cache[i].last_ms;
            return CSPH_ERR_OK;
        }
    int64_t last = INT64_MIN;
    enum hub_err rc = hub_store_batch_refs(st, CSPH_REF_PERSON, ref, len, latest, &last, err);
    if (rc)
        return rc;
    *out = last;
    if (len <= sizeof sw->cache[0].ref) {
        struct activity *a = &sw->cache[sw->ncache < ACTIVITY_CACHE ? sw->ncache++
                                                                    : (size_t)(last & 63)];
        memcpy(a->ref, ref, len);
        a->len = len;
        a->last_ms = last;
    }
    return CSPH_ERR_OK;
}

static enum hub_err digest(const void *p, size_t n, unsigned char out[32], struct hub_error *e)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    if (!EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL))
        return hub_error_set(e, CSPH_ERR_INTERNAL, NULL, "SHA-256 failed (OpenSSL)");
    memcpy(out, md, 32);
    return CSPH_ERR_OK;
}

/* One candidate, as the batch sees it: removed (its record line appended
 * to lines, *removed its hash), or kept (held, within its period by the
 * last activity, removed already). */
static enum hub_err apply_one(struct hub_sweep *sw, struct hub_ctx *h,
                              const struct hub_retention *r, uint64_t seq, msgpack_sbuffer *lines,
                              unsigned char removed[32], int *done, struct hub_error *e)
{
    struct hub_store *st = hub_core_store(h->core);
    MDB_txn *txn = hub_store_txn(st);
    MDB_dbi erased;
    MDB_val k = {8, &seq}, v;
    *done = 0;
    if (mdb_dbi_open(txn, CSPH_STORE_ERASED_DB, MDB_INTEGERKEY, &erased) == 0 &&
        mdb_get(txn, erased, &k, &v) == 0)
        return CSPH_ERR_OK; /* removed by an earlier step or an erasure */
    struct hub_erase_copied c = {0};
    enum hub_err rc = hub_store_batch_get(st, seq, hub_erase_copy_event, &c, e);
    if (rc == CSPH_ERR_NOT_FOUND)
        return CSPH_ERR_OK;
    if (rc)
        return rc;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_sbuffer body;
    msgpack_sbuffer_init(&body);
    msgpack_object obj;
    size_t off = 0;
    struct refs refs = {.n = 0};
    int ti = hub_schemas_find(h->schemas, c.type, strlen(c.type)), others;
    if (!c.bytes) {
        rc = hub_error_set(e, CSPH_ERR_INTERNAL, NULL, "out of memory in the sweep");
        goto out;
    }
    if (ti < 0 || msgpack_unpack((const char *)c.bytes, c.len, &off, &zone, &obj) !=
                      MSGPACK_UNPACK_SUCCESS || obj.type != MSGPACK_OBJECT_MAP || !has_body(&obj))
        goto out;
    const struct hub_period *p = hub_retention_period(r, ti, event_panel(h->schemas, ti, h->cfg,
                                                                        &obj));
    if (p->kind != CSPH_PERIOD_SPAN || hub_period_end(p, c.occurred_ms) > sw->as_of_ms)
        goto out; /* the retention file changed since the scan */
    hub_schema_each_ref(h->schemas, ti, &obj, add_ref, &refs);
    for (size_t i = 0; i < refs.n; i++) {
        if (refs.v[i].kind != CSPH_REF_PERSON)
            continue;
        if (hub_hold_seq(txn, refs.v[i].p, refs.v[i].len)) {
            sw->step.held++;
            goto out;
        }
        int64_t last;
        if (p->after_activity) {
            if ((rc = hub_sweep_last_activity(sw, st, refs.v[i].p, refs.v[i].len, &last, e)))
                goto out;
            if (last != INT64_MIN && hub_period_end(p, last) > sw->as_of_ms)
                goto out; /* someone it names was active within the period */
        }
    }
    struct hub_erase_record rec = {.seq = seq,
                                   .received_ms = c.received_ms,
                                   .occurred_ms = c.occurred_ms};
    if (hub_erase_redact(h->schemas, ti, c.bytes, c.len, NULL, 0, &body, &others)) {
        rc = hub_error_set(e, CSPH_ERR_INTERNAL, NULL, "event seq %" PRIu64 " is not a map", seq);
        goto out;
    }
    if ((rc = digest(c.bytes, c.len, rec.removed, e)) ||
        (rc = hub_store_rewrite(st, seq, body.data, body.size, rec.link, rec.kept, e)))
        goto out;
    /* Its entries leave the person index (a rebuild from the rewritten
     * log would not find them either). */
    for (size_t i = 0; i < refs.n && rc == CSPH_ERR_OK; i++)
        rc = hub_store_drop_ref_point(st, refs.v[i].kind, refs.v[i].p, refs.v[i].len,
                                      c.occurred_ms, seq, e);
    if (rc)
        goto out;
    snprintf(rec.type, sizeof rec.type, "%s", c.type);
    snprintf(rec.source, sizeof rec.source, "%s", c.source);
    hub_erase_record_format(lines, &rec);
    memcpy(removed, rec.removed, 32);
    *done = 1;
out:
    msgpack_sbuffer_destroy(&body);
    msgpack_zone_destroy(&zone);
    free(c.bytes);
    return rc;
}

static void kv_str(msgpack_packer *pk, const char *k, const char *v, size_t n)
{
    hub_pack_str(pk, k);
    hub_pack_strn(pk, v, n);
}

static void kv_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
    hub_pack_str(pk, k);
    msgpack_pack_uint64(pk, v);
}

enum hub_err hub_sweep_apply(struct hub_sweep *sw, struct hub_ctx *h,
                             const struct hub_retention *r, struct hub_error *e)
{
    struct hub_store *st = hub_core_store(h->core);
    struct hub_redo *redo = hub_store_redo(st);
    uint64_t done_seq[CSPH_ERASE_PER_EVENT];
    unsigned char removed[CSPH_ERASE_PER_EVENT][32];
    size_t ndone = 0;
    enum hub_err rc = CSPH_ERR_OK;
    msgpack_sbuffer lines;
    msgpack_sbuffer_init(&lines);
    /* The work inside the write transaction is bounded as the scan is:
     * candidates left when step_ms has gone wait for the next step (the
     * pass goes back to the first of them). */
    uint64_t deadline = uv_hrtime() + (uint64_t)hub_retention_step_ms(r) * 1000000;
    int cut = 0;
    for (size_t i = 0; i < sw->ncand && rc == CSPH_ERR_OK; i++) {
        int done;
        if (i && uv_hrtime() >= deadline) {
            sw->next = sw->cand[i];
            sw->active = 1;
            sw->alerts = 0; /* events left: the alert walk waits for them */
            cut = 1;
            break;
        }
        rc = apply_one(sw, h, r, sw->cand[i], &lines, removed[ndone], &done, e);
        if (rc == CSPH_ERR_OK && done)
            done_seq[ndone++] = sw->cand[i];
    }
    /* The alert walk's candidates (sweepalerts.h), with the marker of the
     * dp.retention event this step appends: the next seq, as nothing else
     * is appended before it in this batch (checked below). */
    uint64_t expired[CSPH_ERASE_PER_EVENT], marker_seq = hub_store_next_seq(st);
    size_t nexpired = 0;
    char marker[CSPH_ALERT_MARKER_MAX];
    hub_alert_expired_marker(marker_seq, marker);
    for (size_t i = 0; i < sw->nacand && rc == CSPH_ERR_OK && !cut; i++) {
        enum hub_sweepalert_outcome out;
        if ((i || ndone) && uv_hrtime() >= deadline) {
            sw->next_alert = sw->acand[i];
            sw->active = 1;
            break;
        }
        rc = hub_sweepalerts_apply(sw, h, r, sw->as_of_ms, sw->acand[i], marker, &out, e);
        if (rc == CSPH_ERR_OK && out == CSPH_SWEEPALERT_EXPIRED)
            expired[nexpired++] = sw->acand[i];
        else if (rc == CSPH_ERR_OK && out == CSPH_SWEEPALERT_HELD)
            sw->step.alerts_held++;
    }
    sw->step.alerts = nexpired;
    uint64_t rejections = 0;
    int more = 0;
    if (rc == CSPH_ERR_OK && sw->rejects_due)
        rc = hub_store_reject_drop_before(
            st, hub_sweep_cutoff(hub_retention_rejections(r), sw->as_of_ms), REJECTS_PER_STEP,
            &rejections, &more, e);
    sw->step.removed = ndone;
    sw->step.rejections = rejections;
    uint64_t eseq = 0;
    if (rc == CSPH_ERR_OK &&
        (ndone || rejections || sw->step.held || nexpired || sw->step.alerts_held)) {
        char id[48], when[40];
        snprintf(id, sizeof id, "retention-%" PRIu64, hub_store_next_seq(st));
        int wl = csph_time_format(sw->as_of_ms, when);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 8 + (rejections ? 1 : 0) + (sw->step.held ? 1 : 0) +
                                  (nexpired ? 2 : 0) + (sw->step.alerts_held ? 1 : 0));
        kv_str(&pk, "id", id, strlen(id));
        kv_str(&pk, "type", CSPH_RETENTION_TYPE, strlen(CSPH_RETENTION_TYPE));
        kv_str(&pk, "occurred_at", when, (size_t)wl);
        kv_str(&pk, "source", CSPH_HUB_SOURCE, strlen(CSPH_HUB_SOURCE));
        kv_str(&pk, "as_of", when, (size_t)wl);
        kv_str(&pk, "policy", hub_retention_digest(r), 64);
        kv_u64(&pk, "count", ndone);
        if (rejections)
            kv_u64(&pk, "rejections", rejections);
        if (sw->step.held)
            kv_u64(&pk, "held", sw->step.held);
        if (nexpired) { /* at most 100 ids: ranges fit in 2,200 bytes */
            char ranges[CSPH_ERASE_PER_EVENT * 22 + 1];
            hub_sweepalerts_ranges(expired, nexpired, ranges, sizeof ranges);
            kv_u64(&pk, "alerts", nexpired);
            kv_str(&pk, "alert_ids", ranges, strlen(ranges));
        }
        if (sw->step.alerts_held)
            kv_u64(&pk, "alerts_held", sw->step.alerts_held);
        kv_str(&pk, "records", lines.data ? lines.data : "", lines.size);
        rc = hub_dp_append(h, sw->as_of_ms, &sb, &eseq, e);
        msgpack_sbuffer_destroy(&sb);
        if (rc == CSPH_ERR_OK && nexpired && eseq != marker_seq)
            rc = hub_error_set(e, CSPH_ERR_INTERNAL, NULL,
                               "the sweep's dp.retention event took seq %" PRIu64
                               ", not %" PRIu64 " that its expired alerts name",
                               eseq, marker_seq);
    }
    MDB_dbi dbi;
    if (rc == CSPH_ERR_OK && ndone &&
        hub_store_dbi(st, CSPH_STORE_ERASED_DB, MDB_INTEGERKEY, &dbi, e))
        rc = CSPH_ERR_INTERNAL;
    for (size_t i = 0; i < ndone && rc == CSPH_ERR_OK; i++) {
        unsigned char val[CSPH_STORE_ERASED_LEN];
        for (int b = 0; b < 8; b++)
            val[b] = (unsigned char)(eseq >> (8 * b));
        memcpy(val + 8, removed[i], 32);
        MDB_val k = {8, &done_seq[i]}, v = {CSPH_STORE_ERASED_LEN, val};
        int mrc = hub_redo_put(redo, hub_store_txn(st), dbi, &k, &v, 0);
        if (mrc)
            rc = hub_error_set(e, mrc == MDB_MAP_FULL ? CSPH_ERR_BUSY : CSPH_ERR_INTERNAL, NULL,
                               "recording the removal of seq %" PRIu64 ": %s", done_seq[i],
                               mdb_strerror(mrc));
    }
    msgpack_sbuffer_destroy(&lines);
    sw->step.last_seq = eseq;
    if (more)
        sw->active = 1; /* more rejections due: the pass goes on */
    /* Where the pass is, in the same transaction as what it removed. */
    if (rc == CSPH_ERR_OK)
        rc = hub_sweep_save(sw, st, r, uv_hrtime(), e);
    sw->pending_alone = 0;
    return rc && rc != CSPH_ERR_BUSY ? CSPH_ERR_INTERNAL : rc;
}

static void position(const struct hub_sweep *sw, const struct hub_retention *r,
                     struct hub_sweep_pos *p)
{
    memset(p, 0, sizeof *p);
    p->next = sw->next;
    p->as_of_ms = sw->as_of_ms;
    p->began_ms = sw->began_ms;
    p->active = sw->active;
    p->alerts = sw->alerts;
    p->next_alert = sw->next_alert;
    snprintf(p->policy, sizeof p->policy, "%s", hub_retention_digest(r));
}

enum hub_err hub_sweep_save(struct hub_sweep *sw, struct hub_store *st,
                            const struct hub_retention *r, uint64_t now_ns,
                            struct hub_error *err)
{
    struct hub_sweep_pos p;
    position(sw, r, &p);
    enum hub_err rc = hub_sweeppos_save(st, &p, err);
    if (rc == CSPH_ERR_OK) {
        sw->pending = p;
        sw->pending_ns = now_ns;
        sw->have_pending = 1;
        sw->pending_alone = 1;
    }
    return rc;
}

int hub_sweep_save_due(const struct hub_sweep *sw, uint64_t now_ns)
{
    if (!sw->began_ms)
        return 0; /* no pass yet */
    if (sw->saved.next == sw->next && sw->saved.active == sw->active &&
        sw->saved.as_of_ms == sw->as_of_ms && sw->saved.began_ms == sw->began_ms &&
        sw->saved.alerts == sw->alerts && sw->saved.next_alert == sw->next_alert)
        return 0; /* saved as it is */
    /* The end of a pass at once: a start then waits for the next pass. */
    return !sw->active || now_ns - sw->saved_ns >= (uint64_t)CSPH_SWEEP_SAVE_MS * 1000000;
}

enum hub_err hub_sweep_step(struct hub_sweep *sw, struct hub_ctx *h,
                            const struct hub_retention *r, int *wrote, uint64_t *txn_us,
                            struct hub_error *err)
{
    int work = 0;
    *wrote = 0;
    *txn_us = 0;
    enum hub_err rc = hub_sweep_scan(sw, h->core, h->schemas, h->cfg, r,
                                     (uint64_t)hub_retention_step_ms(r) * 1000, &work, err);
    int save = rc == CSPH_ERR_OK && !work && hub_sweep_save_due(sw, uv_hrtime());
    if (rc == CSPH_ERR_OK && (work || save)) {
        uint64_t b0 = uv_hrtime();
        if ((rc = hub_core_batch_begin(h->core, err)) == CSPH_ERR_OK) {
            rc = work ? hub_sweep_apply(sw, h, r, err)
                      : hub_sweep_save(sw, hub_core_store(h->core), r, uv_hrtime(), err);
            if (rc == CSPH_ERR_OK)
                rc = hub_core_batch_commit(h->core, err);
            else
                hub_core_batch_abort(h->core);
        }
        if (rc == CSPH_ERR_OK) {
            *wrote = 1;
            *txn_us = (uv_hrtime() - b0) / 1000;
            h->c.commits++;
        }
    }
    hub_sweep_step_done(sw, rc == CSPH_ERR_OK);
    return rc;
}

void hub_sweep_step_done(struct hub_sweep *sw, int committed)
{
    if (committed && sw->have_pending) {
        sw->saved = sw->pending;
        sw->saved_ns = sw->pending_ns;
        sw->st.saves += (uint64_t)sw->pending_alone;
    }
    sw->have_pending = sw->pending_alone = 0;
    if (committed) {
        sw->st.examined += sw->step.examined;
        sw->st.removed += sw->step.removed;
        sw->st.held += sw->step.held;
        sw->st.rejections += sw->step.rejections;
        sw->st.alerts += sw->step.alerts;
        sw->st.alerts_held += sw->step.alerts_held;
        sw->st.alerts_examined += sw->step.alerts_examined;
        if (sw->step.last_seq) {
            sw->st.steps++;
            sw->st.last_seq = sw->step.last_seq;
        }
        if (!sw->active)
            sw->st.passes++;
    } else if (sw->ncand || sw->nacand) {
        /* The step is tried again: the pass goes back to where its scan
         * began (its first candidate, or before it). */
        sw->active = sw->from.active;
        sw->alerts = sw->from.alerts;
        sw->next = sw->from.next;
        sw->next_alert = sw->from.next_alert;
    }
    sw->ncand = sw->nacand = 0;
    memset(&sw->step, 0, sizeof sw->step);
}
