#include "ingest.h"

#include "access.h"
#include "restrict.h"

#include "redo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decision.h"
#include "log.h"
#include "progress.h"
#include "mpx.h"
#include "panelwork.h"
#include "ruleset.h"
#include "timefmt.h"
#include "views.h"
#include "wire.h"

/* The index behind the log by at most CATCH_UP_INLINE events is brought
 * level inside the next write (twice what held batches may leave behind,
 * CSPH_INDEX_HOLD_EVENTS). Further behind (a rebuild) it goes a step of
 * CATCH_UP_STEP events at a time between requests (hub_ingest_heal):
 * about 0.15 s of work with the default rules on the development VM under
 * load, so reads wait at most that long during a rebuild of millions. */
#define CATCH_UP_INLINE (2 * CSPH_INDEX_HOLD_EVENTS)
#define CATCH_UP_STEP 5000

static enum hub_err catch_up(struct hub_ingest *g, uint64_t max, int quiet, uint64_t *caught,
                             struct hub_error *err);

static const char *const hub_types[] = {"dp.erasure", "dp.hold", "dp.retention", /* issue 17 */
                                        "alert.status", "timer.fired", "audit.access",
                                        "rules.loaded", "people.loaded",
                                        /* panel work (panelwork.h) */
                                        "action.created", "action.updated", "case.heard",
                                        "meeting.agenda", "case.opened",
                                        /* subject access (sar.h, access.h) */
                                        "dp.sar", "audit.returned"};

/* Every rules.loaded of the log, seq -> digest (data.mdb, written in the
 * event's own transaction, so it is the log's word): the last one, and the
 * one in force at a seq, without reading the log. */
#define RULES_DB "hub.rules"

int hub_ingest_hub_type(const char *type, size_t len)
{
    for (size_t i = 0; i < sizeof hub_types / sizeof *hub_types; i++)
        if (strlen(hub_types[i]) == len && memcmp(hub_types[i], type, len) == 0)
            return 1;
    return 0;
}

void hub_ingest_init(struct hub_ingest *g, const struct hub_config *cfg,
                     struct hub_store *store, struct hub_schemas *schemas,
                     struct hub_rules *rules, struct hub_queues *queues)
{
    memset(g, 0, sizeof *g);
    g->cfg = cfg;
    g->store = store;
    g->schemas = schemas;
    g->rules = rules;
    g->queues = queues;
    msgpack_sbuffer_init(&g->hub_event);
    msgpack_zone_init(&g->zone, 4096);
}

void hub_ingest_fini(struct hub_ingest *g)
{
    msgpack_sbuffer_destroy(&g->hub_event);
    msgpack_zone_destroy(&g->zone);
}

enum hub_err hub_ingest_level(struct hub_ingest *g, struct hub_error *err)
{
    enum hub_err rc = CSPH_ERR_OK;
    uint64_t caught;
    /* A failed batch took the index of the batches its transaction held
     * with it (hub_store_write_abort): those events are in the log, and
     * the next batch must find them (a resend is a duplicate) and count
     * them (the rules). */
    if (hub_store_log_failed(g->store))
        /* Nothing of the log may be read or written until it is open again
         * (a catch-up below would read it). */
        return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                             "the hub is reopening its log after a disk error; nothing was "
                             "done; retry shortly");
    uint64_t applied = hub_store_index_applied(g->store), last = hub_store_last_seq(g->store);
    if (!hub_store_index_open(g->store) && applied < last) {
        struct hub_store_health h; /* only when behind: not on every batch */
        hub_store_health(g->store, &h);
        if (strcmp(h.index, "rebuilding") == 0 || last - applied > CATCH_UP_INLINE) {
            /* Too far behind to catch up inside one request's latency: a
             * step now, as hub_ingest_heal does between requests (and the
             * backfill that ends a rebuild), and busy until level. */
            int more;
            if ((rc = hub_ingest_heal(g, &more, err)))
                return rc;
            applied = hub_store_index_applied(g->store);
            if (applied < last)
                return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                                     "the hub is rebuilding its index from the log (%llu of "
                                     "%llu events); nothing was done; retry in a few seconds",
                                     (unsigned long long)applied, (unsigned long long)last);
        } else {
            /* Quiet while the index is failing: one line per refused
             * batch would bury the one ERROR that says what happened. */
            rc = catch_up(g, UINT64_MAX, strcmp(h.index, "ok") != 0, &caught, err);
        }
    }
    return rc;
}

/* Who decided, with the event's seq: what the workflow needs to answer a
 * resend (decision.h). */
static enum hub_err record_decision(struct hub_ingest *g, const msgpack_object *obj,
                                    uint64_t id, int status, uint64_t seq,
                                    struct hub_error *err)
{
    struct hub_decision d = {.seq = seq, .status = status};
    const msgpack_object *by = hub_mp_get(obj, "by");
    if (by && by->type == MSGPACK_OBJECT_STR)
        snprintf(d.by, sizeof d.by, "%.*s", (int)by->via.str.size, by->via.str.ptr);
    return hub_decision_record(g->store, id, &d, err);
}

/* What an event changes besides the rules: decisions and case updates. */
static enum hub_err apply_effects(struct hub_ingest *g, const struct hub_event_info *info,
                                  const msgpack_object *obj, uint64_t seq,
                                  struct hub_error *err)
{
    MDB_txn *txn = hub_store_txn(g->store);
    if (info->type_len == 12 && memcmp(info->type, "alert.status", 12) == 0) {
        const msgpack_object *a = hub_mp_get(obj, "alert"), *st = hub_mp_get(obj, "status");
        int status = st ? hub_alert_status_parse(st->via.str.ptr, st->via.str.size) : -1;
        int panel;
        if (!a || status < 0)
            return CSPH_ERR_OK;
        enum hub_err rc = hub_queues_set_status(g->queues, txn, a->via.u64,
                                                (enum hub_alert_status)status, &panel, err);
        if (rc == CSPH_ERR_OK)
            rc = record_decision(g, obj, a->via.u64, status, seq, err); /* hook: decision.h */
        return rc == CSPH_ERR_NOT_FOUND ? CSPH_ERR_OK : rc;
    }
    if (info->type_len == 11 && memcmp(info->type, "timer.fired", 11) == 0) {
        /* Live, the deadline was taken before this event was written; when
         * re-deriving, this is where it is spent. */
        const msgpack_object *a = hub_mp_get(obj, "alert");
        return a ? hub_queues_timer_spent(g->queues, txn, a->via.u64, err) : CSPH_ERR_OK;
    }
    if (info->type_len == 12 && memcmp(info->type, "rules.loaded", 12) == 0) {
        const msgpack_object *d = hub_mp_get(obj, "digest");
        MDB_dbi dbi;
        enum hub_err rc;
        if (!d || d->type != MSGPACK_OBJECT_STR)
            return CSPH_ERR_OK;
        if ((rc = hub_store_dbi(g->store, RULES_DB, MDB_INTEGERKEY, &dbi, err)))
            return rc;
        MDB_val k = {sizeof seq, &seq}, v = {d->via.str.size, (void *)d->via.str.ptr};
        int mrc = hub_redo_put(hub_store_redo(g->store), txn, dbi, &k, &v, 0);
        if (mrc == MDB_MAP_FULL)
            return hub_error_set(err, CSPH_ERR_BUSY, NULL, "the hub's storage limit is reached");
        return mrc ? hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "recording the rule set: %s",
                                   mdb_strerror(mrc))
                   : CSPH_ERR_OK;
    }
    if (info->type_len == 11 && memcmp(info->type, "case.update", 11) == 0) {
        const msgpack_object *subj = hub_mp_get(obj, "subject"), *panel = hub_mp_get(obj, "panel"),
                             *st = hub_mp_get(obj, "status"), *risk = hub_mp_get(obj, "risk");
        int pi = hub_config_panel_find(g->cfg, panel->via.str.ptr, panel->via.str.size);
        if (!subj || pi < 0 || !g->rules)
            return CSPH_ERR_OK;
        int closed = hub_mp_str_eq(st, "closed");
        int prio = risk ? hub_priority_parse(risk->via.str.ptr, risk->via.str.size) : -1;
        return hub_queues_case_update(g->queues, txn, g->rules, pi, subj->via.str.ptr,
                                      subj->via.str.size, closed, prio >= 0,
                                      (enum hub_priority)(prio >= 0 ? prio : 0), err);
    }
    return CSPH_ERR_OK;
}

/* The person index: every reference the event holds (schema.h). */
struct ref_ctx {
    struct hub_store *store;
    int64_t occurred_ms;
    uint64_t seq;
    enum hub_err rc;
    struct hub_error *err;
};

static int ref_one(void *vctx, char kind, const char *ref, size_t len)
{
    struct ref_ctx *c = vctx;
    c->rc = hub_store_index_ref(c->store, kind, ref, len, c->occurred_ms, c->seq, c->err);
    return c->rc != CSPH_ERR_OK;
}

static enum hub_err index_refs(struct hub_ingest *g, int type_index, const msgpack_object *obj,
                               int64_t occurred_ms, uint64_t seq, struct hub_error *err)
{
    struct ref_ctx c = {g->store, occurred_ms, seq, CSPH_ERR_OK, err};
    hub_schema_each_ref(g->schemas, type_index, obj, ref_one, &c);
    /* hook: what audited reads returned, for subject access (access.h) */
    if (c.rc == CSPH_ERR_OK)
        c.rc = hub_access_index(g->store,
                                type_index >= 0 ? hub_schemas_name(g->schemas, (size_t)type_index)
                                                : NULL,
                                obj, occurred_ms, seq, err);
    return c.rc;
}

/* A decision (alert.status) as the rules need it: the alert's panel, key
 * and anchor, from the queues (in txn, or committed when txn is NULL).
 * *drafts are the repeats it raises. */
static enum hub_err decide(struct hub_ingest *g, MDB_txn *txn, const msgpack_object *obj,
                           uint64_t seq, int64_t occurred_ms, int64_t received_ms,
                           const struct hub_alert_draft **drafts, size_t *n,
                           struct hub_error *err)
{
    const msgpack_object *a = hub_mp_get(obj, "alert"), *st = hub_mp_get(obj, "status");
    struct hub_alert_brief b;
    *n = 0;
    if (!a || a->type != MSGPACK_OBJECT_POSITIVE_INTEGER || !hub_mp_str_eq(st, "accepted"))
        return CSPH_ERR_OK;
    struct hub_error why;
    if (hub_queues_alert_brief(g->queues, txn, a->via.u64, &b, &why))
        return CSPH_ERR_OK; /* no such alert: the decision changes nothing */
    struct hub_rule_decision d = {
        .seq = seq, .occurred_ms = occurred_ms, .received_ms = received_ms, .obj = obj,
        .accepted = 1, .panel_index = b.panel_index, .nkey = b.nkey, .anchor_seq = b.anchor_seq,
        .evidence = b.evidence, .nevidence = b.nevidence,
    };
    for (size_t k = 0; k < b.nkey; k++) {
        d.key_values[k] = b.key_values[k];
        d.key_tags[k] = b.key_tags[k];
    }
    enum hub_err rc = hub_rules_decision(g->rules, hub_store_index_txn(g->store), &d, drafts, n,
                                         err);
    hub_alert_brief_free(&b);
    return rc;
}

static int is_type(const char *type, size_t len, const char *name)
{
    return strlen(name) == len && memcmp(type, name, len) == 0;
}

static enum hub_err run_rules(struct hub_ingest *g, const struct hub_event_info *info,
                              const msgpack_object *obj, uint64_t seq, int64_t received_ms,
                              struct hub_error *err)
{
    if (!g->rules)
        return CSPH_ERR_OK;
    struct hub_rule_event ev = {
        .seq = seq, .type = info->type, .type_len = info->type_len,
        .occurred_ms = info->occurred_at_ms, .received_ms = received_ms, .obj = obj,
    };
    const struct hub_alert_draft *drafts;
    size_t n;
    MDB_txn *txn = hub_store_txn(g->store);
    enum hub_err rc = hub_rules_eval(g->rules, hub_store_index_txn(g->store), &ev, &drafts, &n,
                                     err);
    for (int pass = 0; rc == CSPH_ERR_OK && pass < 2; pass++) {
        if (pass == 1) {
            if (!is_type(info->type, info->type_len, "alert.status"))
                break;
            rc = decide(g, txn, obj, seq, info->occurred_at_ms, received_ms, &drafts, &n, err);
        }
        for (size_t i = 0; rc == CSPH_ERR_OK && i < n; i++) {
            uint64_t id;
            rc = hub_queues_insert(g->queues, txn, &drafts[i], hub_rules_digest(g->rules), &id,
                                   err);
            if (rc == CSPH_ERR_OK) /* hook: the person view's index (views.h) */
                rc = hub_views_index_alert(g->store, g->cfg->panels[drafts[i].panel_index].name,
                                           &drafts[i], id, err);
            if (rc == CSPH_ERR_OK) {
                g->alerts_raised++;
                LOG_DEBUG("ingest", "alert %llu on %s by rule %s (event seq %llu)",
                          (unsigned long long)id, g->cfg->panels[drafts[i].panel_index].name,
                          drafts[i].rule, (unsigned long long)seq);
            }
        }
    }
    /* An event-level failure inside the rules cannot be undone for one
     * event: the batch is lost rather than half-applied. */
    if (rc != CSPH_ERR_OK && rc != CSPH_ERR_BUSY)
        rc = CSPH_ERR_INTERNAL;
    return rc;
}

enum hub_err hub_ingest_event(struct hub_ingest *g, const struct hub_event_info *info,
                              const msgpack_object *obj, const void *bytes, size_t len,
                              int64_t received_ms, uint64_t *seq, int *dup,
                              struct hub_error *err)
{
    struct hub_append a = {
        .source = info->source, .source_len = info->source_len,
        .id = info->id, .id_len = info->id_len,
        .type = info->type, .type_len = info->type_len,
        .occurred_ms = info->occurred_at_ms, .received_ms = received_ms,
        .bytes = bytes, .len = len,
    };
    enum hub_err rc = hub_store_append(g->store, &a, seq, dup, err);
    if (rc || *dup)
        return rc;
    if ((rc = index_refs(g, info->type_index, obj, info->occurred_at_ms, *seq, err)))
        return rc;
    /* hook: a standing restriction covers what arrives (restrict.h) */
    if ((rc = hub_restrict_on_ingest(g->store, g->schemas, info->type_index, obj, *seq, err)))
        return rc == CSPH_ERR_BUSY ? rc : CSPH_ERR_INTERNAL;
    if ((rc = apply_effects(g, info, obj, *seq, err)))
        return rc == CSPH_ERR_BUSY ? rc : CSPH_ERR_INTERNAL;
    /* hook: cases, actions and reviews follow the log (panelwork.h) */
    if ((rc = hub_panelwork_apply(g, info, obj, *seq, received_ms, err)))
        return rc == CSPH_ERR_BUSY ? rc : CSPH_ERR_INTERNAL;
    return run_rules(g, info, obj, *seq, received_ms, err);
}

/* Validate and ingest the hub event packed in g->hub_event. */
static enum hub_err ingest_hub_event(struct hub_ingest *g, int64_t received_ms, uint64_t *seq,
                                     struct hub_error *err)
{
    msgpack_object obj;
    size_t off = 0;
    msgpack_zone_clear(&g->zone);
    if (msgpack_unpack(g->hub_event.data, g->hub_event.size, &off, &g->zone, &obj) !=
        MSGPACK_UNPACK_SUCCESS)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "the hub built a bad event");
    struct hub_event_info info;
    struct hub_error why;
    if (hub_schema_check(g->schemas, &obj, 1, &info, &why)) {
        LOG_ERROR("ingest", "the hub's own event breaks its schema (%s: %s); check schemas/",
                  why.field, why.message);
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                             "the hub's own event breaks its schema: %s", why.message);
    }
    int dup;
    return hub_ingest_event(g, &info, &obj, g->hub_event.data, g->hub_event.size, received_ms,
                            seq, &dup, err);
}

/* hook: a hub event packed by another module (panelwork.h). */
enum hub_err hub_ingest_own_event(struct hub_ingest *g, const void *bytes, size_t len,
                                  int64_t now_ms, uint64_t *seq, struct hub_error *err)
{
    g->hub_event.size = 0;
    if (msgpack_sbuffer_write(&g->hub_event, bytes, len))
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    return ingest_hub_event(g, now_ms, seq, err);
}

static void pack_head(msgpack_packer *pk, size_t nfields, const char *id, const char *type,
                      int64_t occurred_ms)
{
    char when[32];
    msgpack_pack_map(pk, 4 + nfields);
    hub_pack_str(pk, "id");
    hub_pack_str(pk, id);
    hub_pack_str(pk, "type");
    hub_pack_str(pk, type);
    hub_pack_str(pk, "source");
    hub_pack_str(pk, CSPH_HUB_SOURCE);
    hub_pack_str(pk, "occurred_at");
    hub_pack_strn(pk, when, (size_t)csph_time_format(occurred_ms, when));
}

enum hub_err hub_ingest_alert_update(struct hub_ingest *g, uint64_t id,
                                     enum hub_alert_status status, const char *note,
                                     size_t note_len, const char *by, const char *gateway,
                                     int64_t now_ms, uint64_t *seq, struct hub_error *err)
{
    int panel = -1;
    enum hub_err rc =
        hub_queues_set_status(g->queues, hub_store_txn(g->store), id, status, &panel, err);
    if (rc)
        return rc;
    if (panel < 0)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                             "alert %llu is on a panel no longer configured",
                             (unsigned long long)id);
    char eid[64];
    snprintf(eid, sizeof eid, "alert-%llu-status-%llu", (unsigned long long)id,
             (unsigned long long)hub_store_next_seq(g->store));
    msgpack_packer pk;
    g->hub_event.size = 0;
    msgpack_packer_init(&pk, &g->hub_event, msgpack_sbuffer_write);
    pack_head(&pk, 3 + (note ? 1 : 0) + (by ? 1 : 0) + (gateway ? 1 : 0), eid, "alert.status",
              now_ms);
    hub_pack_str(&pk, "alert");
    msgpack_pack_uint64(&pk, id);
    hub_pack_str(&pk, "panel");
    hub_pack_str(&pk, g->cfg->panels[panel].name);
    hub_pack_str(&pk, "status");
    hub_pack_str(&pk, hub_alert_status_name(status));
    if (note) {
        hub_pack_str(&pk, "note");
        hub_pack_strn(&pk, note, note_len);
    }
    if (by) {
        hub_pack_str(&pk, "by");
        hub_pack_str(&pk, by);
    }
    if (gateway) {
        hub_pack_str(&pk, "gateway");
        hub_pack_str(&pk, gateway);
    }
    /* The status is already recorded; applying the event again is a no-op
     * (same status), which is also what re-derivation does; it records who
     * decided (decision.h) with the event's seq. */
    return ingest_hub_event(g, now_ms, seq, err);
}

enum hub_err hub_ingest_fire_due(struct hub_ingest *g, int64_t now_ms, size_t max,
                                 size_t *fired, struct hub_error *err)
{
    struct hub_due_alert due[64];
    size_t n;
    *fired = 0;
    if (max > 64)
        max = 64;
    enum hub_err rc =
        hub_queues_take_due(g->queues, hub_store_txn(g->store), now_ms, due, max, &n, err);
    for (size_t i = 0; rc == CSPH_ERR_OK && i < n; i++) {
        char eid[64], when[32];
        /* One timer per alert and due date: a restart that fires it again
         * is a duplicate, not a second escalation. */
        snprintf(eid, sizeof eid, "timer-%llu-%lld", (unsigned long long)due[i].id,
                 (long long)due[i].due_ms);
        msgpack_packer pk;
        g->hub_event.size = 0;
        msgpack_packer_init(&pk, &g->hub_event, msgpack_sbuffer_write);
        pack_head(&pk, 6, eid, "timer.fired", due[i].due_ms);
        hub_pack_str(&pk, "alert");
        msgpack_pack_uint64(&pk, due[i].id);
        hub_pack_str(&pk, "panel");
        hub_pack_str(&pk, g->cfg->panels[due[i].panel_index].name);
        hub_pack_str(&pk, "rule");
        hub_pack_str(&pk, due[i].rule);
        hub_pack_str(&pk, "priority");
        hub_pack_str(&pk, hub_priority_name(due[i].priority));
        hub_pack_str(&pk, "key");
        hub_pack_str(&pk, due[i].key);
        hub_pack_str(&pk, "due_at");
        hub_pack_strn(&pk, when, (size_t)csph_time_format(due[i].due_ms, when));
        uint64_t seq;
        rc = ingest_hub_event(g, now_ms, &seq, err);
        if (rc == CSPH_ERR_OK) {
            (*fired)++;
            LOG_INFO("ingest", "deadline of alert %llu (%s) passed with no decision: timer.fired "
                     "seq %llu", (unsigned long long)due[i].id, due[i].rule,
                     (unsigned long long)seq);
        }
    }
    return rc;
}

enum hub_err hub_ingest_audit(struct hub_ingest *g, const char *identity, const char *role,
                              const char *gateway, const char *op, const char *query, size_t query_len,
                              uint64_t returned, int64_t now_ms, struct hub_error *err)
{
    char eid[64];
    snprintf(eid, sizeof eid, "access-%llu", (unsigned long long)hub_store_next_seq(g->store));
    /* One record keeps at most CSPH_AUDIT_QUERY_MAX bytes of the query
     * (a request may be 1 MiB), and says when it was cut. */
    int cut = query_len > CSPH_AUDIT_QUERY_MAX;
    if (cut) {
        query_len = CSPH_AUDIT_QUERY_MAX;
        while (query_len && ((unsigned char)query[query_len] & 0xc0) == 0x80)
            query_len--; /* never cut a UTF-8 character */
    }
    msgpack_packer pk;
    g->hub_event.size = 0;
    msgpack_packer_init(&pk, &g->hub_event, msgpack_sbuffer_write);
    pack_head(&pk, 5 + (cut ? 1 : 0) + (gateway ? 1 : 0), eid, "audit.access", now_ms);
    if (cut) {
        hub_pack_str(&pk, "query_truncated");
        msgpack_pack_true(&pk);
    }
    if (gateway) {
        hub_pack_str(&pk, "gateway");
        hub_pack_str(&pk, gateway);
    }
    hub_pack_str(&pk, "identity");
    hub_pack_str(&pk, identity);
    hub_pack_str(&pk, "role");
    hub_pack_str(&pk, role);
    hub_pack_str(&pk, "op");
    hub_pack_str(&pk, op);
    hub_pack_str(&pk, "query");
    hub_pack_strn(&pk, query, query_len);
    hub_pack_str(&pk, "returned");
    msgpack_pack_uint64(&pk, returned);
    uint64_t seq;
    return ingest_hub_event(g, now_ms, &seq, err);
}

/* ---- the rule set in force, in the log ---------------------------------- */

enum hub_err hub_ingest_rules_fit(const struct hub_rules *rules, struct hub_error *err)
{
    const struct hub_ruleset *set = rules ? hub_rules_set(rules) : NULL;
    if (!set)
        return CSPH_ERR_OK;
    if (set->rules_len > CSPH_RULES_TEXT_MAX)
        return hub_error_set(err, CSPH_ERR_CONFIG, "rules_file",
                             "%s: the rule file is %zu bytes; the log keeps the rule set in "
                             "force, and a rule file may be at most %d bytes",
                             set->rules_name, set->rules_len, CSPH_RULES_TEXT_MAX);
    if (set->calendar_len > CSPH_CALENDAR_TEXT_MAX)
        return hub_error_set(err, CSPH_ERR_CONFIG, "rules_file",
                             "%s: the calendar is %zu bytes; the log keeps the rule set in "
                             "force, and a calendar may be at most %d bytes",
                             set->calendar_name, set->calendar_len, CSPH_CALENDAR_TEXT_MAX);
    return CSPH_ERR_OK;
}

/* The rules.loaded in force at seq at (the last one at or before it; at =
 * UINT64_MAX: the last one): *seq (0: none) and its digest into out. */
static enum hub_err rules_at(struct hub_ingest *g, uint64_t at, char *out, size_t n,
                             uint64_t *seq, struct hub_error *err)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_val k = {sizeof at, &at}, v;
    out[0] = 0;
    *seq = 0;
    int rc = mdb_txn_begin(hub_store_env(g->store), NULL, MDB_RDONLY, &txn);
    if (rc)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "reading the rule set in force: %s",
                             mdb_strerror(rc));
    if ((rc = mdb_dbi_open(txn, RULES_DB, MDB_INTEGERKEY, &dbi)) == 0 &&
        (rc = mdb_cursor_open(txn, dbi, &cur)) == 0) {
        rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
        if (rc == 0 && *(const uint64_t *)k.mv_data != at)
            rc = mdb_cursor_get(cur, &k, &v, MDB_PREV);
        else if (rc == MDB_NOTFOUND)
            rc = mdb_cursor_get(cur, &k, &v, MDB_LAST);
        if (rc == 0) {
            memcpy(seq, k.mv_data, sizeof *seq);
            snprintf(out, n, "%.*s", (int)v.mv_size, (const char *)v.mv_data);
        }
        mdb_cursor_close(cur);
    }
    /* Committed, not aborted: a handle opened in it stays usable. */
    mdb_txn_commit(txn);
    if (rc && rc != MDB_NOTFOUND)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "reading the rule set in force: %s",
                             mdb_strerror(rc));
    return CSPH_ERR_OK;
}

enum hub_err hub_ingest_rules_recorded(struct hub_ingest *g, char *out, size_t n,
                                       uint64_t *seq, struct hub_error *err)
{
    uint64_t s;
    enum hub_err rc = rules_at(g, UINT64_MAX, out, n, &s, err);
    if (seq)
        *seq = s;
    return rc;
}

enum hub_err hub_ingest_rules_loaded(struct hub_ingest *g, int64_t now_ms, uint64_t *seq,
                                     struct hub_error *err)
{
    const struct hub_ruleset *set = g->rules ? hub_rules_set(g->rules) : NULL;
    enum hub_err rc = hub_ingest_rules_fit(g->rules, err);
    if (rc)
        return rc;
    char eid[64];
    const char *digest = g->rules ? hub_rules_digest(g->rules) : CSPH_RULES_NONE;
    snprintf(eid, sizeof eid, "rules-%.16s-%llu", digest,
             (unsigned long long)hub_store_next_seq(g->store));
    int cal = set && set->has_calendar;
    msgpack_packer pk;
    g->hub_event.size = 0;
    msgpack_packer_init(&pk, &g->hub_event, msgpack_sbuffer_write);
    pack_head(&pk, cal ? 5 : 3, eid, "rules.loaded", now_ms);
    hub_pack_str(&pk, "digest");
    hub_pack_str(&pk, digest);
    hub_pack_str(&pk, "rules_name");
    hub_pack_str(&pk, set && set->rules_name[0] ? set->rules_name : CSPH_RULES_NONE);
    hub_pack_str(&pk, "rules_text");
    hub_pack_strn(&pk, set ? (const char *)set->rules_text : "", set ? set->rules_len : 0);
    if (cal) {
        hub_pack_str(&pk, "calendar_name");
        hub_pack_str(&pk, set->calendar_name);
        hub_pack_str(&pk, "calendar_text");
        hub_pack_strn(&pk, (const char *)set->calendar_text, set->calendar_len);
    }
    return ingest_hub_event(g, now_ms, seq, err);
}

enum hub_err hub_ingest_people_loaded(struct hub_ingest *g, const char *digest,
                                      const char *text, size_t len, int64_t now_ms,
                                      uint64_t *seq, struct hub_error *err)
{
    char eid[64];
    snprintf(eid, sizeof eid, "people-%.16s-%llu", digest,
             (unsigned long long)hub_store_next_seq(g->store));
    msgpack_packer pk;
    g->hub_event.size = 0;
    msgpack_packer_init(&pk, &g->hub_event, msgpack_sbuffer_write);
    pack_head(&pk, 2, eid, "people.loaded", now_ms);
    hub_pack_str(&pk, "digest");
    hub_pack_str(&pk, digest);
    hub_pack_str(&pk, "people");
    hub_pack_strn(&pk, text, len);
    return ingest_hub_event(g, now_ms, seq, err);
}

/* A string field as a NUL-terminated copy (name fields: at most 255). */
static void field_str(const msgpack_object *obj, const char *name, char *out, size_t n)
{
    const msgpack_object *v = hub_mp_get(obj, name);
    out[0] = 0;
    if (v && v->type == MSGPACK_OBJECT_STR)
        snprintf(out, n, "%.*s", (int)v->via.str.size, v->via.str.ptr);
}

enum hub_err hub_ingest_rules_from_event(struct hub_ingest *g, const msgpack_object *obj,
                                         struct hub_rules **out, struct hub_error *err)
{
    char digest[80], name[256], cal_name[256];
    const msgpack_object *text = hub_mp_get(obj, "rules_text"),
                         *cal = hub_mp_get(obj, "calendar_text");
    *out = NULL;
    field_str(obj, "digest", digest, sizeof digest);
    field_str(obj, "rules_name", name, sizeof name);
    field_str(obj, "calendar_name", cal_name, sizeof cal_name);
    if (!strcmp(digest, CSPH_RULES_NONE))
        return CSPH_ERR_OK;
    if (!text || text->type != MSGPACK_OBJECT_STR || (cal && cal->type != MSGPACK_OBJECT_STR))
        return hub_error_set(err, CSPH_ERR_BAD_EVENT, "rules_text",
                             "a rules.loaded event without its rule file's text");
    struct hub_ruleset *set;
    enum hub_err rc = hub_ruleset_load_text(
        &set, name[0] ? name : "rules.yaml", (const unsigned char *)text->via.str.ptr,
        text->via.str.size, cal_name[0] ? cal_name : NULL,
        cal ? (const unsigned char *)cal->via.str.ptr : NULL, cal ? cal->via.str.size : 0,
        g->cfg->panels, g->cfg->npanels, g->schemas, err);
    if (rc)
        return rc;
    return hub_rules_from_set(out, set, err);
}

struct recorded {
    struct hub_ingest *g;
    struct hub_rules *rules;
    enum hub_err rc;
    struct hub_error *err;
};

static int recorded_visit(void *ctx, const struct hub_stored_event *ev)
{
    struct recorded *r = ctx;
    msgpack_zone z;
    msgpack_object obj;
    size_t off = 0;
    msgpack_zone_init(&z, 4096);
    if (msgpack_unpack(ev->bytes, ev->len, &off, &z, &obj) != MSGPACK_UNPACK_SUCCESS)
        r->rc = hub_error_set(r->err, CSPH_ERR_INTERNAL, NULL,
                              "the rules.loaded event at seq %llu is not readable",
                              (unsigned long long)ev->seq);
    else
        r->rc = hub_ingest_rules_from_event(r->g, &obj, &r->rules, r->err);
    msgpack_zone_destroy(&z);
    return 1;
}

enum hub_err hub_ingest_rules_in_force(struct hub_ingest *g, uint64_t at,
                                       struct hub_rules **out, int *found,
                                       struct hub_error *err)
{
    char digest[80];
    uint64_t seq;
    *out = NULL;
    *found = 0;
    enum hub_err rc = rules_at(g, at, digest, sizeof digest, &seq, err);
    if (rc || !seq)
        return rc;
    struct recorded r = {g, NULL, CSPH_ERR_OK, err};
    if ((rc = hub_store_get(g->store, seq, recorded_visit, &r, err)))
        return rc;
    if (r.rc)
        return r.rc;
    *out = r.rules;
    *found = 1;
    return CSPH_ERR_OK;
}

/* An event as stored, as the rules see it: obj unpacked into zone. -1 when
 * it does not unpack (never for an accepted event). */
static int stored_rule_event(const struct hub_stored_event *ev, msgpack_zone *zone,
                             msgpack_object *obj, struct hub_rule_event *rev)
{
    size_t off = 0;
    msgpack_zone_clear(zone);
    if (msgpack_unpack(ev->bytes, ev->len, &off, zone, obj) != MSGPACK_UNPACK_SUCCESS)
        return -1;
    *rev = (struct hub_rule_event){
        .seq = ev->seq, .type = ev->type, .type_len = ev->type_len,
        .occurred_ms = ev->occurred_ms, .received_ms = ev->received_ms, .obj = obj,
    };
    return 0;
}

/* ---- catching the index up from the log ------------------------------- */

struct catch_up {
    struct hub_ingest *g;
    msgpack_zone zone;
    enum hub_err rc;
    struct hub_error *err;
    /* The rules the events were evaluated with when they arrived: the live
     * ones (the caller's), or a rule set the log records (owned). */
    struct hub_rules *live, *owned;
    /* A rebuild from seq 1: whole[i] while every event so far went through
     * the live rules' rule i or one counting alike (the same series) in the
     * rule set then in force. Those windows are whole at the end, and
     * marked so, instead of read from the log a second time (the backfill
     * fills the others). NULL when the catch-up did not start at seq 1. */
    unsigned char *whole;
};

/* Put r in force for the catch-up (the live rules when it is NULL and
 * use_live). */
static enum hub_err catch_up_switch(struct catch_up *c, struct hub_rules *r, int use_live)
{
    /* One filter of the state's series for every engine that writes it:
     * an engine that kept its own would miss the series the others made
     * (a false "absent" loses an alert). The next takes the filter of the
     * one in hand; an engine for an older rule set has none of its own. */
    struct hub_rules *next = use_live ? c->live : r;
    for (size_t i = 0; !use_live && c->whole && i < hub_rules_count(c->live); i++)
        if (c->whole[i] && !hub_rules_counts_alike(c->live, i, r))
            c->whole[i] = 0;
    if (!use_live && r)
        hub_rules_cache(r, 0, c->err);
    hub_rules_take_cache(next, c->g->rules);
    c->g->rules = next;
    if (c->owned != c->g->rules)
        hub_rules_destroy(&c->owned);
    if (!use_live)
        c->owned = r;
    return CSPH_ERR_OK;
}

/* The rule set of a rules.loaded event (obj) or, with obj NULL, of the log
 * at seq at, for the catch-up: the live rules when it is theirs (or when it
 * cannot be compiled, with a warning). */
static enum hub_err catch_up_rules(struct catch_up *c, const msgpack_object *obj, uint64_t at)
{
    struct hub_rules *r = NULL;
    struct hub_error why;
    enum hub_err rc;
    int found = 1;
    const char *live = c->live ? hub_rules_digest(c->live) : CSPH_RULES_NONE;
    if (obj) {
        const msgpack_object *d = hub_mp_get(obj, "digest");
        if (d && d->type == MSGPACK_OBJECT_STR && d->via.str.size == strlen(live) &&
            !memcmp(d->via.str.ptr, live, d->via.str.size))
            return catch_up_switch(c, NULL, 1);
        rc = hub_ingest_rules_from_event(c->g, obj, &r, &why);
    } else {
        char digest[80];
        uint64_t seq;
        if ((rc = rules_at(c->g, at, digest, sizeof digest, &seq, c->err)))
            return rc;
        if (!seq || !strcmp(digest, live)) /* none recorded yet: the configured rules */
            return catch_up_switch(c, NULL, 1);
        rc = hub_ingest_rules_in_force(c->g, at, &r, &found, &why);
    }
    if (rc || !found) {
        LOG_WARN("ingest", "the rules in force at seq %llu cannot be compiled (%s): the index "
                 "is brought level under the rules now loaded", (unsigned long long)at,
                 rc ? why.message : "not found");
        return catch_up_switch(c, NULL, 1);
    }
    return catch_up_switch(c, r, 0);
}

static int catch_up_visit(void *vctx, const struct hub_stored_event *ev)
{
    struct catch_up *c = vctx;
    msgpack_object obj;
    struct hub_rule_event rev;
    if (stored_rule_event(ev, &c->zone, &obj, &rev))
        return 0; /* cannot happen for an accepted event; nothing to index by */
    const msgpack_object *id = hub_mp_get(&obj, "id");
    if (id && id->type == MSGPACK_OBJECT_STR &&
        (c->rc = hub_store_index_add(c->g->store, ev, id->via.str.ptr, id->via.str.size,
                                     c->err)))
        return 1;
    int ti = hub_schemas_find(c->g->schemas, ev->type, ev->type_len);
    if ((c->rc = index_refs(c->g, ti, &obj, ev->occurred_ms, ev->seq, c->err)))
        return 1;
    /* The hub put these rules in force before it wrote the event. */
    if (is_type(ev->type, ev->type_len, "rules.loaded") &&
        (c->rc = catch_up_rules(c, &obj, ev->seq)))
        return 1;
    if (!c->g->rules)
        return 0;
    /* The rules see the event as they did when it arrived; the alerts it
     * raised then are in the log's environment already, so its drafts are
     * not inserted again. */
    const struct hub_alert_draft *drafts;
    size_t n;
    c->rc = hub_rules_eval(c->g->rules, hub_store_index_txn(c->g->store), &rev, &drafts, &n,
                           c->err);
    if (c->rc == CSPH_ERR_OK && is_type(ev->type, ev->type_len, "alert.status"))
        c->rc = decide(c->g, NULL, &obj, ev->seq, ev->occurred_ms, ev->received_ms, &drafts, &n,
                       c->err);
    return c->rc != CSPH_ERR_OK;
}

/* ---- filling new rules' series from the whole log ------------------------ */

struct backfill {
    struct hub_ingest *g;
    msgpack_zone zone;
    enum hub_err rc;
    struct hub_error *err;
};

static int backfill_visit(void *vctx, const struct hub_stored_event *ev)
{
    struct backfill *b = vctx;
    msgpack_object obj;
    struct hub_rule_event rev;
    if (stored_rule_event(ev, &b->zone, &obj, &rev))
        return 0;
    b->rc = hub_rules_backfill(b->g->rules, hub_store_index_txn(b->g->store), &rev, b->err);
    return b->rc != CSPH_ERR_OK;
}

enum hub_err hub_ingest_backfill(struct hub_ingest *g, uint64_t *events, struct hub_error *err)
{
    struct backfill b = {.g = g, .err = err};
    size_t unbuilt = 0;
    enum hub_err rc;
    *events = 0;
    if (!g->rules)
        return CSPH_ERR_OK;
    hub_store_index_settle(g->store); /* outside any batch, from a committed index */
    uint64_t applied = hub_store_index_applied(g->store), from = 0,
             last = hub_store_last_seq(g->store);
    if ((rc = hub_store_index_begin(g->store, err)))
        return rc;
    if ((rc = hub_rules_unbuilt(g->rules, hub_store_index_txn(g->store), &unbuilt, err)) ||
        !unbuilt) {
        hub_store_index_abort(g->store);
        return rc;
    }
    if (last)
        LOG_INFO("rules", "%zu rule(s) count events in a way the state has not seen: filling "
                 "their windows from the log (%llu events)", unbuilt, (unsigned long long)last);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct hub_progress pr;
    hub_progress_start(&pr, "rules", "filling new rules' windows from the log", 0, last, 0);
    msgpack_zone_init(&b.zone, 8192);
    while (rc == CSPH_ERR_OK) {
        uint64_t chunk = hub_store_index_hold_events(g->store);
        uint64_t upto = from, until = last - from > chunk ? from + chunk : last;
        int end = 1;
        if (from < last)
            rc = hub_store_scan(g->store, from, until, until - from, backfill_visit, &b, &upto,
                                &end, err);
        if (rc == CSPH_ERR_OK)
            rc = b.rc;
        if (rc == CSPH_ERR_OK && upto >= last)
            rc = hub_rules_mark_built(g->rules, hub_store_index_txn(g->store), err);
        if (rc) {
            hub_store_index_abort(g->store);
            break;
        }
        if ((rc = hub_store_index_commit(g->store, applied, err)))
            break;
        *events += upto - from;
        hub_progress_step(&pr, upto); /* the log every 10 s, systemd's STATUS */
        if (upto >= last || upto <= from)
            break;
        from = upto;
        if ((rc = hub_store_index_begin(g->store, err)))
            break;
        if ((rc = hub_rules_unbuilt(g->rules, hub_store_index_txn(g->store), &unbuilt, err))) {
            hub_store_index_abort(g->store);
            break;
        }
    }
    msgpack_zone_destroy(&b.zone);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (rc == CSPH_ERR_OK && last)
        LOG_INFO("rules", "windows filled from the log: %llu events in %.1f s",
                 (unsigned long long)*events,
                 (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return rc;
}

enum hub_err hub_ingest_catch_up(struct hub_ingest *g, uint64_t *caught,
                                 struct hub_error *err)
{
    return catch_up(g, UINT64_MAX, 0, caught, err);
}

enum hub_err hub_ingest_heal(struct hub_ingest *g, int *more, struct hub_error *err)
{
    struct hub_store_health h;
    enum hub_err rc = CSPH_ERR_OK;
    uint64_t caught;
    *more = 0;
    if (hub_store_log_failed(g->store)) {
        if ((rc = hub_store_reopen_log(g->store, err)) ||
            (rc = hub_queues_reopen(g->queues, hub_store_env(g->store), err))) {
            *more = 1;
            return rc;
        }
    }
    if (hub_store_index_open(g->store) || !hub_store_needs_heal(g->store))
        return CSPH_ERR_OK;
    /* A begin does the rebuild's reset when one is due (and then answers
     * busy: the emptied index is not for a batch). */
    rc = hub_store_index_begin(g->store, err);
    if (rc == CSPH_ERR_OK)
        hub_store_index_abort(g->store);
    hub_store_health(g->store, &h);
    int rebuilding = strcmp(h.index, "rebuilding") == 0;
    if (rc && !(rebuilding && hub_store_index_applied(g->store) == 0)) {
        *more = 1;
        return rc;
    }
    rc = catch_up(g, CATCH_UP_STEP, strcmp(h.index, "ok") != 0, &caught, err);
    hub_store_health(g->store, &h);
    if (rc == CSPH_ERR_OK && rebuilding && strcmp(h.index, "ok") == 0) {
        /* Level again: the rules' windows of events from before the rule
         * set in force, as at a start. */
        uint64_t filled;
        rc = hub_ingest_backfill(g, &filled, err);
    }
    *more = hub_store_needs_heal(g->store);
    return rc;
}

/* Bring the index level with the log, at most max events (UINT64_MAX: all
 * of them); quiet: no log lines (a rebuild in steps logs its own). */
static enum hub_err catch_up(struct hub_ingest *g, uint64_t max, int quiet, uint64_t *caught,
                             struct hub_error *err)
{
    struct catch_up c = {.g = g, .err = err, .live = g->rules};
    hub_store_index_settle(g->store); /* what is held first: it is level with the log */
    uint64_t from = hub_store_index_applied(g->store), last = hub_store_last_seq(g->store);
    enum hub_err rc = CSPH_ERR_OK;
    *caught = 0;
    if (from >= last)
        return CSPH_ERR_OK;
    /* The scan below reads the log with its own transaction: the batches
     * the journal acknowledged go into LMDB first, or it would stop at
     * LMDB's last commit (a failed index commit healed while batches were
     * held answered the next batch `internal`, now and then). */
    if ((rc = hub_store_flush(g->store, err)))
        return rc;
    if (last - from > max)
        last = from + max;
    if (!quiet)
        LOG_INFO("ingest", "bringing the index level with the log: events %llu to %llu",
                 (unsigned long long)from + 1, (unsigned long long)last);
    struct hub_progress pr;
    hub_progress_start(&pr, "ingest", "bringing the index level with the log", from, last, quiet);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* Each event through the rules that were in force when it came in (the
     * log's rules.loaded), as --rederive does: a restart with an edited
     * rule file does not re-evaluate the events before it with it. */
    if (from == 0 && c.live && (c.whole = malloc(hub_rules_count(c.live) + 1)))
        memset(c.whole, 1, hub_rules_count(c.live) + 1);
    if ((rc = catch_up_rules(&c, NULL, from))) {
        free(c.whole);
        return rc;
    }
    msgpack_zone_init(&c.zone, 8192);
    while (rc == CSPH_ERR_OK && from < last) {
        int end;
        if ((rc = hub_store_index_begin(g->store, err)))
            break;
        uint64_t chunk = hub_store_index_hold_events(g->store);
        uint64_t upto = from, until = last - from > chunk ? from + chunk : last;
        c.rc = CSPH_ERR_OK;
        rc = hub_store_scan(g->store, from, until, until - from, catch_up_visit, &c, &upto, &end,
                            err);
        if (rc == CSPH_ERR_OK)
            rc = c.rc;
        if (rc == CSPH_ERR_OK && upto <= from)
            rc = hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                               "the log has no event after seq %llu but its last is %llu",
                               (unsigned long long)from, (unsigned long long)last);
        if (rc == CSPH_ERR_OK && upto >= last && c.whole && hub_store_last_seq(g->store) == last)
            rc = hub_rules_mark_built_only(c.live, hub_store_index_txn(g->store), c.whole, err);
        if (rc) {
            hub_store_index_abort(g->store);
            break;
        }
        if ((rc = hub_store_index_commit(g->store, upto, err)))
            break;
        *caught += upto - from;
        from = upto;
        if (!quiet) /* the log every 10 s, systemd's STATUS and start timeout */
            hub_progress_step(&pr, from);
    }
    msgpack_zone_destroy(&c.zone);
    free(c.whole);
    hub_rules_take_cache(c.live, g->rules);
    g->rules = c.live;
    hub_rules_destroy(&c.owned);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (rc == CSPH_ERR_OK && !quiet)
        LOG_INFO("ingest", "the index is level with the log (%llu events applied in %.1f s, "
                 "%.0f events/s)", (unsigned long long)*caught, secs,
                 secs > 0 ? (double)*caught / secs : 0.0);
    return rc;
}
