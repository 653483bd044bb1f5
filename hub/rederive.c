#include "rederive.h"

#include <stdlib.h>
#include <string.h>

#include "erase.h"
#include "log.h"
#include "mpx.h"
#include "panelwork.h"
#include "rules.h"

#define CHUNK 1000
#define KEPT_SHOWN 20 /* kept alerts listed one a line */

/* ---- the replay, shared with --what-if ------------------------------------ */

enum hub_err hub_replay_source_open(struct hub_replay_source *s, const struct hub_config *cfg,
                                    const char *dir, struct hub_error *err)
{
    memset(s, 0, sizeof *s);
    struct hub_core_opts o = {.cfg = cfg, .dir = dir, .readonly = 1};
    enum hub_err rc = hub_core_open(&s->core, &o, err);
    if (rc)
        goto fail;
    s->store = hub_core_store(s->core);
    /* One snapshot for the log's end and the alerts: a running hub goes on
     * appending, and what it appends later is in neither. */
    MDB_txn *txn;
    int mrc = mdb_txn_begin(hub_store_env(s->store), NULL, MDB_RDONLY, &txn);
    if (mrc) {
        rc = hub_error_set(err, CSPH_ERR_IO, NULL, "cannot read the log in %s: %s", dir,
                           mdb_strerror(mrc));
        goto fail;
    }
    s->last_seq = hub_store_last_seq_in(s->store, txn);
    rc = hub_alert_set_collect(&s->alerts, hub_core_queues(s->core), txn, err);
    if (rc == CSPH_ERR_OK) /* hook: cases and actions, the same snapshot (panelwork.h) */
        rc = hub_panelwork_snapshot_take(s->store, txn, &s->work, err);
    if (rc == CSPH_ERR_OK) /* hook: alerts kept after an erasure (alertredact.h) */
        rc = hub_alert_keep_collect(&s->keep, hub_core_queues(s->core), s->store, txn,
                                    &s->alerts, err);
    mdb_txn_abort(txn);
    if (rc == CSPH_ERR_OK)
        return rc;
fail:
    hub_replay_source_close(s);
    return rc;
}

void hub_replay_source_close(struct hub_replay_source *s)
{
    hub_alert_set_free(&s->alerts);
    hub_panelwork_snapshot_free(&s->work);
    hub_alert_keep_free(&s->keep);
    hub_core_close(&s->core);
    s->store = NULL;
}

enum hub_err hub_replay_commit(struct hub_replay *r, struct hub_error *err)
{
    if (r->in_txn) {
        r->in_txn = 0;
        enum hub_err rc = hub_core_batch_commit(r->core, err);
        if (rc)
            return rc;
    }
    return hub_core_settle_all(r->core, err);
}

/* hook (alertredact.h): kept alerts raised before event seq and not
 * raised again take their ids, in the open batch. */
static enum hub_err place_kept(struct hub_replay *r, uint64_t seq)
{
    return r->keep ? hub_alert_keep_fill(r->keep, hub_core_queues(r->core),
                                         hub_store_txn(hub_core_store(r->core)), seq, &r->err)
                   : CSPH_ERR_OK;
}

/* An event an erasure rewrote without its person fields: kept in the
 * fresh log at its seq (as stored), evaluated by no rule. */
static int feed_erased(struct hub_replay *r, const struct hub_stored_event *ev,
                       const msgpack_object *obj)
{
    const msgpack_object *id = hub_mp_get(obj, "id");
    struct hub_append a = {
        .source = ev->source, .source_len = ev->source_len,
        .id = id && id->type == MSGPACK_OBJECT_STR ? id->via.str.ptr : "",
        .id_len = id && id->type == MSGPACK_OBJECT_STR ? id->via.str.size : 0,
        .type = ev->type, .type_len = ev->type_len,
        .occurred_ms = ev->occurred_ms, .received_ms = ev->received_ms,
        .bytes = ev->bytes, .len = ev->len,
    };
    uint64_t seq;
    int dup;
    if (r->in_txn == 0 && (r->rc = hub_core_batch_begin(r->core, &r->err)))
        return 1;
    r->rc = place_kept(r, ev->seq);
    if (r->rc == CSPH_ERR_OK)
        r->rc = hub_core_append_raw(r->core, &a, &seq, &dup, &r->err);
    if (r->rc == CSPH_ERR_OK && (dup || seq != ev->seq)) {
        hub_error_set(&r->err, CSPH_ERR_INTERNAL, NULL, "the log is not gap-free at seq %llu",
                      (unsigned long long)ev->seq);
        r->rc = CSPH_ERR_INTERNAL;
    }
    if (r->rc) {
        hub_core_batch_abort(r->core);
        r->in_txn = 0;
        return 1;
    }
    r->events++;
    r->erased++;
    if (++r->in_txn == CHUNK) {
        r->in_txn = 0;
        if ((r->rc = hub_core_batch_commit(r->core, &r->err)))
            return 1;
    }
    return 0;
}

static int feed(void *ctx, const struct hub_stored_event *ev)
{
    struct hub_replay *r = ctx;
    if (r->erased_set.n && hub_erased_set_by(&r->erased_set, ev->seq) &&
        hub_redacted_count_add(&r->redacted, ev->type, ev->type_len)) {
        r->rc = hub_error_set(&r->err, CSPH_ERR_NOMEM, NULL, "out of memory");
        goto stop;
    }
    msgpack_object obj;
    size_t off = 0;
    struct hub_event_info info;
    struct hub_error why = {0};
    msgpack_zone_clear(&r->zone);
    int unpacked = msgpack_unpack(ev->bytes, ev->len, &off, &r->zone, &obj) ==
                   MSGPACK_UNPACK_SUCCESS;
    if (unpacked &&
        hub_schema_check(hub_core_ingest(r->core)->schemas, &obj, 0, &info, &why) !=
            CSPH_ERR_OK &&
        r->src && (r->erased_by = hub_erase_erased_by(r->src, ev->seq)) != 0)
        return feed_erased(r, ev, &obj);
    if (!unpacked ||
        hub_schema_check(hub_core_ingest(r->core)->schemas, &obj, 0, &info, &why) !=
            CSPH_ERR_OK) {
        fprintf(r->out, "event seq %llu no longer passes its schema: %s\n",
                (unsigned long long)ev->seq, why.message);
        hub_error_set(&r->err, CSPH_ERR_BAD_EVENT, NULL, "event seq %llu breaks its schema: %s",
                      (unsigned long long)ev->seq, why.message);
        r->rc = CSPH_ERR_BAD_EVENT;
        goto stop;
    }
    info.source = ev->source; /* as stored: curve mode stamps it */
    info.source_len = (uint32_t)ev->source_len;
    r->bytes = ev->bytes;
    r->len = ev->len;
    if (r->hook && (r->rc = r->hook(r, ev, &obj, &r->err)))
        goto stop;
    if (r->in_txn == 0 && (r->rc = hub_core_batch_begin(r->core, &r->err)))
        return 1;
    uint64_t seq;
    int dup;
    if ((r->rc = place_kept(r, ev->seq)))
        goto stop;
    r->rc = hub_ingest_event(hub_core_ingest(r->core), &info, &obj, r->bytes, r->len,
                             ev->received_ms, &seq, &dup, &r->err);
    if (r->rc == CSPH_ERR_OK && (dup || seq != ev->seq)) {
        fprintf(r->out, "event seq %llu re-derived as %s seq %llu: the log is not gap-free\n",
                (unsigned long long)ev->seq, dup ? "a duplicate of" : "", (unsigned long long)seq);
        hub_error_set(&r->err, CSPH_ERR_INTERNAL, NULL, "the log is not gap-free at seq %llu",
                      (unsigned long long)ev->seq);
        r->rc = CSPH_ERR_INTERNAL;
    }
    if (r->rc)
        goto stop;
    r->events++;
    if (++r->in_txn == CHUNK) {
        r->in_txn = 0;
        if ((r->rc = hub_core_batch_commit(r->core, &r->err)))
            return 1;
    }
    return 0;
stop:
    if (r->in_txn) {
        hub_core_batch_abort(r->core);
        r->in_txn = 0;
    }
    return 1;
}

enum hub_err hub_replay_run(struct hub_replay *r, struct hub_store *src, uint64_t until,
                            struct hub_error *err)
{
    enum hub_err rc = CSPH_ERR_OK;
    uint64_t after = 0, last;
    int end = 0;
    r->rc = CSPH_ERR_OK;
    r->in_txn = 0;
    r->src = src;
    if ((rc = hub_erased_set_load_env(&r->erased_set, hub_store_env(src), err)))
        return rc;
    msgpack_zone_init(&r->zone, 8192);
    while (!end && after < until && r->rc == CSPH_ERR_OK) {
        if ((rc = hub_store_scan(src, after, until, 100000, feed, r, &last, &end, err)))
            break;
        if (r->rc == CSPH_ERR_OK && last == after)
            break;
        after = last;
    }
    /* kept alerts after the last event raised again (alertredact.h) */
    if (rc == CSPH_ERR_OK && r->rc == CSPH_ERR_OK && r->keep && r->in_txn == 0 &&
        (r->rc = hub_core_batch_begin(r->core, &r->err)) == CSPH_ERR_OK)
        r->in_txn = 1;
    if (rc == CSPH_ERR_OK && r->rc == CSPH_ERR_OK && r->keep &&
        (r->rc = place_kept(r, UINT64_MAX))) {
        hub_core_batch_abort(r->core);
        r->in_txn = 0;
    }
    if (rc == CSPH_ERR_OK && r->rc == CSPH_ERR_OK)
        r->rc = hub_replay_commit(r, &r->err);
    else if (r->in_txn) {
        hub_core_batch_abort(r->core);
        r->in_txn = 0;
    }
    msgpack_zone_destroy(&r->zone);
    hub_erased_set_free(&r->erased_set);
    if (rc == CSPH_ERR_OK && r->rc) {
        rc = r->rc;
        *err = r->err;
    }
    return rc;
}

/* ---- re-derivation ---------------------------------------------------------- */

/* The rules in force as the replay goes: a rules.loaded event switches to
 * the rule set it records. */
struct in_force {
    struct hub_rules *rules; /* owned; the ingest's */
    uint64_t switches;
    FILE *out;
};

static enum hub_err follow_rules(struct hub_replay *r, const struct hub_stored_event *ev,
                                 msgpack_object *obj, struct hub_error *err)
{
    struct in_force *f = r->ctx;
    if (ev->type_len != 12 || memcmp(ev->type, "rules.loaded", 12) != 0)
        return CSPH_ERR_OK;
    struct hub_rules *next;
    struct hub_error why;
    enum hub_err rc =
        hub_ingest_rules_from_event(hub_core_ingest(r->core), obj, &next, &why);
    if (rc)
        return hub_error_set(err, rc, NULL, "the rule set of rules.loaded seq %llu does not load: %s",
                             (unsigned long long)ev->seq, why.message);
    const msgpack_object *d = hub_mp_get(obj, "digest");
    const char *got = next ? hub_rules_digest(next) : CSPH_RULES_NONE;
    if (d && d->type == MSGPACK_OBJECT_STR &&
        (d->via.str.size != strlen(got) || memcmp(d->via.str.ptr, got, d->via.str.size)))
        fprintf(f->out, "rules.loaded seq %llu records rule set %.*s; with this configuration's "
                        "panels it is %s\n",
                (unsigned long long)ev->seq, (int)d->via.str.size, d->via.str.ptr, got);
    /* As the hub does on a reload: the new rules start from a committed
     * index. */
    if ((rc = hub_replay_commit(r, err))) {
        hub_rules_destroy(&next);
        return rc;
    }
    if ((rc = hub_core_set_rules(r->core, next, err))) {
        hub_rules_destroy(&next);
        return rc;
    }
    hub_rules_take_cache(next, f->rules); /* the same state: no second pass over it */
    hub_rules_destroy(&f->rules);
    f->rules = next;
    f->switches++;
    /* As the hub does after a reload: rules that count events differently
     * get their windows filled from the log so far. */
    uint64_t filled;
    return hub_ingest_backfill(hub_core_ingest(r->core), &filled, err);
}

static void print_alert(FILE *out, const char *label, const struct hub_alert_set *set,
                        const struct hub_alert_row *a)
{
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0, len = 0;
    void *bytes = NULL;
    struct hub_error err = {0};
    msgpack_zone_init(&z, 1024);
    fprintf(out, "  %s: ", label);
    if (a && hub_alert_set_read(set, a, &bytes, &len, &err) == CSPH_ERR_OK &&
        msgpack_unpack(bytes, len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS)
        msgpack_object_print(out, o);
    else if (a)
        fprintf(out, "(cannot be read again: %s)", err.message[0] ? err.message : "damaged");
    else
        fprintf(out, "(none)");
    fprintf(out, "\n");
    free(bytes);
    msgpack_zone_destroy(&z);
}

/* Whether kept alert x (the hub's, as packed in its snapshot) and y
 * (re-derived, read again: the sets hold digests) agree on what a kept
 * alert keeps (alertredact.h). */
static int kept_agrees(const struct hub_replay_source *src, const struct hub_alert_set *b,
                       const struct hub_alert_row *x, const struct hub_alert_row *y)
{
    const void *xb;
    void *yb = NULL;
    size_t xl, yl;
    struct hub_error err = {0};
    int ok = hub_alert_keep_packed(src->keep, x->id, &xb, &xl) &&
             hub_alert_set_read(b, y, &yb, &yl, &err) == CSPH_ERR_OK &&
             hub_alert_keep_agrees(xb, xl, yb, yl, hub_alert_keep_expired(src->keep, x->id));
    free(yb);
    return ok;
}

int hub_rederive(const struct hub_config *cfg, const char *from_dir, FILE *out)
{
    struct hub_error err = {0};
    struct hub_replay_source src = {0};
    struct hub_core *dst = NULL;
    struct hub_schemas *schemas = NULL;
    struct in_force f = {.out = out};
    struct hub_alert_set b = {0};
    struct hub_replay r = {0};
    int status = 2;
    const char *names[CSPH_MAX_PANELS];
    for (size_t i = 0; i < cfg->npanels; i++)
        names[i] = cfg->panels[i].name;
    if (hub_replay_source_open(&src, cfg, from_dir, &err) ||
        hub_schemas_load(&schemas, cfg->schemas_dir, names, cfg->npanels, &err) ||
        (cfg->rules_file[0] &&
         hub_rules_load(&f.rules, cfg->rules_file, cfg->panels, cfg->npanels, schemas, &err))) {
        fprintf(out, "cannot re-derive: %s\n", err.message);
        goto done;
    }
    struct hub_core_opts o = {.cfg = cfg, .dir = cfg->data_dir, .map_size = cfg->limits.map_size,
                              .schemas = schemas, .rules = f.rules};
    if (hub_core_open(&dst, &o, &err)) {
        fprintf(out, "cannot re-derive: %s\n", err.message);
        goto done;
    }
    if (hub_store_last_seq(hub_core_store(dst)) != 0) {
        fprintf(out, "cannot re-derive into %s: it already holds a log; give an empty directory\n",
                cfg->data_dir);
        goto done;
    }
    hub_alert_keep_install(src.keep, hub_core_queues(dst), cfg);
    r = (struct hub_replay){.core = dst, .out = out, .hook = follow_rules, .ctx = &f,
                            .keep = src.keep};
    if (hub_replay_run(&r, src.store, src.last_seq, &err)) {
        fprintf(out, "re-derivation stopped at event %llu: %s\n", (unsigned long long)r.events + 1,
                err.message);
        goto done;
    }
    if (hub_alert_set_collect(&b, hub_core_queues(dst), NULL, &err)) {
        fprintf(out, "cannot read the re-derived alerts: %s\n", err.message);
        goto done;
    }
    const struct hub_alert_set *a = &src.alerts;
    size_t same = 0, kept = 0, n = a->n > b.n ? a->n : b.n;
    status = 0;
    for (size_t i = 0; i < n; i++) {
        const struct hub_alert_row *x = i < a->n ? &a->v[i] : NULL, *y = i < b.n ? &b.v[i] : NULL;
        uint64_t by = 0;
        /* An alert an erasure took the evidence of, or redacted: checked
         * on what it keeps (alertredact.h), not on key and reason. */
        if (x && y && hub_alert_keep_is(src.keep, x->id, &by) && kept_agrees(&src, &b, x, y)) {
            if (kept++ >= KEPT_SHOWN)
                continue;
            if (hub_alert_keep_expired(src.keep, x->id)) /* hook: a sweep's expiry */
                fprintf(out, "alert %llu kept, expired by retention seq %llu\n",
                        (unsigned long long)x->id, (unsigned long long)by);
            else
                fprintf(out, "alert %llu kept, evidence erased by erasure seq %llu\n",
                        (unsigned long long)x->id, (unsigned long long)by);
            continue;
        }
        if (x && y && x->digest[0] == y->digest[0] && x->digest[1] == y->digest[1]) {
            same++;
            continue;
        }
        if (status == 0) {
            fprintf(out, "alert %llu differs:\n", (unsigned long long)(x ? x->id : y->id));
            print_alert(out, "hub       ", a, x);
            print_alert(out, "re-derived", &b, y);
        }
        status = 1;
    }
    if (status) {
        struct hub_alert_diff d;
        if (hub_alert_diff(&d, a, &b, 1, &err) == CSPH_ERR_OK) {
            fprintf(out, "differences by rule and panel (alerts matched by rule, panel, key and "
                         "anchor; changed: any other difference):\n");
            hub_alert_diff_print(out, &d, "hub", "re-derived");
            hub_alert_diff_free(&d);
        }
    }
    /* hook: cases, actions and reviews follow from the log too (panelwork.h) */
    if (hub_panelwork_compare(src.work, hub_core_store(dst), out) != 0)
        status = 1;
    char rules_text[160];
    if (f.switches)
        snprintf(rules_text, sizeof rules_text, "the rules in force at each seq (%llu rule set%s "
                 "in the log, the last %s)", (unsigned long long)f.switches,
                 f.switches == 1 ? "" : "s", f.rules ? hub_rules_digest(f.rules) : "none");
    else
        snprintf(rules_text, sizeof rules_text, "rules %s",
                 f.rules ? hub_rules_digest(f.rules) : "none");
    fprintf(out,
            "re-derived %llu events through %s: %zu alerts in the hub, %zu re-derived, "
            "%zu identical%s\n",
            (unsigned long long)r.events, rules_text, a->n, b.n, same,
            status ? " -- MISMATCH" : "");
    if (kept)
        fprintf(out,
                "%zu alerts kept, evidence erased: their panel, rule, version, priority, "
                "dates, evidence seqs and status are as recorded; an erasure or a retention "
                "sweep redacted their key or reason, or took events of their evidence%s\n",
                kept, kept > KEPT_SHOWN ? " (the first listed above)" : "");
    if (r.erased)
        fprintf(out,
                "%llu events could not be evaluated: an erasure removed the fields their rules "
                "read (the last by erasure seq %llu); alerts they raised, if any, are kept above\n",
                (unsigned long long)r.erased, (unsigned long long)r.erased_by);
done:
    hub_redacted_count_free(&r.redacted);
    hub_alert_set_free(&b);
    hub_core_close(&dst);
    hub_replay_source_close(&src);
    hub_rules_destroy(&f.rules);
    hub_schemas_destroy(&schemas);
    return status;
}
