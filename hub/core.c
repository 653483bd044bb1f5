#include "core.h"

#include <stdlib.h>
#include <string.h>

enum batch_state { IDLE, OPEN };

struct hub_core {
    const struct hub_config *cfg;
    struct hub_store *store;
    struct hub_queues *queues;
    struct hub_ingest ingest;
    int have_ingest;
    int readonly;
    enum batch_state state;
    uint64_t raised_before; /* ingest.alerts_raised when the batch began */
    uint64_t readable;      /* panels with alerts acknowledged, not yet taken */
};

/* What the journal acknowledged, into LMDB where a read finds it. */
static enum hub_err flush(struct hub_core *c, struct hub_error *err)
{
    if (c->readonly || c->state != IDLE || !hub_store_held(c->store))
        return CSPH_ERR_OK;
    return hub_store_flush(c->store, err);
}

/* Before a read outside a batch: a failure is logged by the store and
 * healed (the log reopened); the read then sees what LMDB holds. */
static void flush_for_read(struct hub_core *c)
{
    struct hub_error e;
    (void)flush(c, &e);
}

static enum hub_err misuse(struct hub_error *err, const char *what)
{
    return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "the hub's core was asked to %s", what);
}

enum hub_err hub_core_open(struct hub_core **out, const struct hub_core_opts *o,
                           struct hub_error *err)
{
    *out = NULL;
    struct hub_core *c = calloc(1, sizeof *c);
    if (!c)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory opening %s", o->dir);
    c->cfg = o->cfg;
    c->readonly = o->readonly;
    enum hub_err rc = o->readonly ? hub_store_open_readonly(&c->store, o->dir, err)
                                   : hub_store_open(&c->store, o->dir, o->map_size, err);
    if (rc)
        goto fail;
    if (o->scratch && !o->readonly)
        hub_store_scratch(c->store);
    if (o->apply_limits && !o->readonly) {
        const struct hub_limits *l = &o->cfg->limits;
        hub_store_reject_limits(c->store, l->rejects_per_source_max,
                                (uint64_t)l->rejects_per_source_mb << 20);
        if (l->index_writemap_mb)
            hub_store_index_writemap_max(c->store, (uint64_t)l->index_writemap_mb << 20);
    }
    if ((rc = hub_queues_open(&c->queues, hub_store_env(c->store), o->cfg, err)))
        goto fail;
    if (!o->readonly)
        hub_queues_set_redo(c->queues, hub_store_redo(c->store));
    if (o->journal && !o->readonly)
        hub_store_journal_use(c->store, 1);
    hub_ingest_init(&c->ingest, o->cfg, c->store, o->schemas, o->rules, c->queues);
    c->have_ingest = 1;
    *out = c;
    return CSPH_ERR_OK;
fail:
    hub_core_close(&c);
    return rc;
}

void hub_core_close(struct hub_core **cp)
{
    if (!cp || !*cp)
        return;
    struct hub_core *c = *cp;
    if (c->state == OPEN)
        hub_core_batch_abort(c);
    if (c->have_ingest)
        hub_ingest_fini(&c->ingest);
    hub_queues_close(&c->queues);
    hub_store_close(&c->store); /* settles held index work */
    free(c);
    *cp = NULL;
}

enum hub_err hub_core_recover(struct hub_core *c, uint64_t *caught, struct hub_error *err)
{
    enum hub_err rc = hub_ingest_catch_up(&c->ingest, caught, err);
    if (rc && hub_store_needs_heal(c->store)) {
        /* The index turned out damaged while catching up: rebuilt from the
         * log now, before serving. */
        int more = 1;
        rc = CSPH_ERR_OK;
        while (more && rc == CSPH_ERR_OK)
            rc = hub_ingest_heal(&c->ingest, &more, err);
    }
    return rc;
}

enum hub_err hub_core_batch_begin(struct hub_core *c, struct hub_error *err)
{
    if (c->readonly)
        return misuse(err, "write into a log opened read-only");
    if (c->state != IDLE)
        return misuse(err, "begin a batch inside a batch");
    enum hub_err rc = hub_ingest_level(&c->ingest, err);
    if (rc == CSPH_ERR_OK)
        rc = hub_store_write_begin(c->store, err);
    if (rc)
        return rc;
    hub_queues_txn_begin(c->queues);
    c->raised_before = c->ingest.alerts_raised;
    c->state = OPEN;
    return CSPH_ERR_OK;
}

enum hub_err hub_core_batch_commit(struct hub_core *c, struct hub_error *err)
{
    if (c->state != OPEN)
        return misuse(err, "commit with no batch open");
    c->state = IDLE;
    enum hub_err rc = hub_store_write_commit(c->store, err);
    hub_queues_txn_end(c->queues, rc == CSPH_ERR_OK);
    /* Readable by a fetch at once, through the journal or not
     * (hub_core_fetch). */
    if (rc == CSPH_ERR_OK)
        c->readable |= hub_queues_touched(c->queues);
    else
        c->ingest.alerts_raised = c->raised_before;
    return rc;
}

void hub_core_batch_abort(struct hub_core *c)
{
    if (c->state != OPEN)
        return;
    c->state = IDLE;
    hub_store_write_abort(c->store);
    hub_queues_txn_end(c->queues, 0);
    c->ingest.alerts_raised = c->raised_before;
}

enum hub_err hub_core_batch_settle(struct hub_core *c, int *held, struct hub_error *err)
{
    if (c->state != IDLE)
        return misuse(err, "settle inside an open batch");
    enum hub_err rc = CSPH_ERR_OK;
    /* The journal's batches into LMDB when enough are held. */
    if (!c->readonly && hub_store_flush_due(c->store))
        rc = flush(c, err);
    int h = c->readonly ? 0 : hub_store_index_settle_due(c->store);
    if (held)
        *held = h || (!c->readonly && hub_store_held(c->store));
    return rc;
}

enum hub_err hub_core_settle_all(struct hub_core *c, struct hub_error *err)
{
    if (c->state != IDLE)
        return misuse(err, "settle inside an open batch");
    enum hub_err rc = flush(c, err);
    if (!c->readonly)
        hub_store_index_settle(c->store);
    return rc;
}

int hub_core_batch_open(const struct hub_core *c)
{
    return c->state == OPEN;
}


enum hub_err hub_core_flush(struct hub_core *c, struct hub_error *err)
{
    if (c->state != IDLE)
        return misuse(err, "flush inside an open batch");
    return flush(c, err);
}

uint64_t hub_core_take_readable(struct hub_core *c)
{
    uint64_t r = c->readable;
    c->readable = 0;
    return r;
}

uint64_t hub_core_batch_events_max(const struct hub_core *c)
{
    return hub_store_index_hold_events(c->store);
}

uint64_t hub_core_alerts_raised(const struct hub_core *c)
{
    return c->ingest.alerts_raised;
}

enum hub_err hub_core_ack(struct hub_core *c, int panel_index, const char *consumer,
                          size_t consumer_len, uint64_t upto, const char *identity,
                          struct hub_error *err)
{
    if (c->state != OPEN)
        return misuse(err, "move a cursor outside a batch");
    return hub_queues_ack(c->queues, hub_store_txn(c->store), panel_index, consumer,
                          consumer_len, upto, identity, err);
}

enum hub_err hub_core_alert_panel(struct hub_core *c, uint64_t id, int *panel,
                                  struct hub_error *err)
{
    if (c->state != OPEN)
        return misuse(err, "read an alert's panel outside a batch");
    return hub_queues_panel_of(c->queues, hub_store_txn(c->store), id, panel, err);
}

enum hub_err hub_core_alert_brief(struct hub_core *c, uint64_t id, struct hub_alert_brief *b,
                                  struct hub_error *err)
{
    return hub_queues_alert_brief(c->queues, c->state == OPEN ? hub_store_txn(c->store) : NULL,
                                  id, b, err);
}

enum hub_err hub_core_append_raw(struct hub_core *c, const struct hub_append *ev,
                                 uint64_t *seq, int *duplicate, struct hub_error *err)
{
    if (c->state != OPEN)
        return misuse(err, "append outside a batch");
    return hub_store_append(c->store, ev, seq, duplicate, err);
}

int hub_core_needs_heal(const struct hub_core *c)
{
    return hub_store_needs_heal(c->store);
}

enum hub_err hub_core_heal(struct hub_core *c, int *more, struct hub_error *err)
{
    if (c->state != IDLE) {
        *more = 1;
        return misuse(err, "heal inside an open batch");
    }
    return hub_ingest_heal(&c->ingest, more, err);
}

enum hub_err hub_core_set_rules(struct hub_core *c, struct hub_rules *rules,
                                struct hub_error *err)
{
    if (c->state != IDLE)
        return misuse(err, "change the rules inside an open batch");
    enum hub_err rc = flush(c, err); /* the rule set's own writes take a transaction */
    if (rc)
        return rc;
    c->ingest.rules = rules;
    return CSPH_ERR_OK;
}

struct hub_rules *hub_core_rules(const struct hub_core *c)
{
    return c->ingest.rules;
}

struct hub_ingest *hub_core_ingest(struct hub_core *c)
{
    return &c->ingest;
}

struct hub_store *hub_core_store(struct hub_core *c)
{
    flush_for_read(c);
    return c->store;
}

struct hub_queues *hub_core_queues(struct hub_core *c)
{
    flush_for_read(c);
    return c->queues;
}

enum hub_err hub_core_fetch(struct hub_core *c, int panel, const char *consumer, size_t clen,
                            uint32_t max, int view, size_t room, msgpack_packer *pk, uint32_t *count,
                            uint64_t *last, int *end, struct hub_error *err)
{
    MDB_txn *txn = NULL;
    if (c->state == OPEN)
        txn = hub_store_txn(c->store);
    else if (!c->readonly && !(txn = hub_store_held_txn(c->store)))
        flush_for_read(c);
    return hub_queues_fetch(c->queues, txn, panel, consumer, clen, max, view, room, pk, count, last,
                            end, err);
}

struct hub_queues *hub_core_queues_committed(struct hub_core *c)
{
    return c->queues;
}
