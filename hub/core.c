#include "core.h"

#include <stdlib.h>
#include <string.h>

enum batch_state { IDLE, OPEN };

struct csph_core {
    const struct csph_config *cfg;
    struct csph_store *store;
    struct csph_queues *queues;
    struct csph_ingest ingest;
    int have_ingest;
    int readonly;
    enum batch_state state;
    uint64_t raised_before; /* ingest.alerts_raised when the batch began */
    uint64_t readable;      /* panels with alerts committed, not yet taken */
};

static enum csph_err misuse(struct csph_error *err, const char *what)
{
    return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "the hub's core was asked to %s", what);
}

enum csph_err csph_core_open(struct csph_core **out, const struct csph_core_opts *o,
                             struct csph_error *err)
{
    *out = NULL;
    struct csph_core *c = calloc(1, sizeof *c);
    if (!c)
        return csph_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory opening %s", o->dir);
    c->cfg = o->cfg;
    c->readonly = o->readonly;
    enum csph_err rc = o->readonly ? csph_store_open_readonly(&c->store, o->dir, err)
                                   : csph_store_open(&c->store, o->dir, o->map_size, err);
    if (rc)
        goto fail;
    if (o->apply_limits && !o->readonly) {
        const struct csph_limits *l = &o->cfg->limits;
        csph_store_reject_limits(c->store, l->rejects_per_source_max,
                                 (uint64_t)l->rejects_per_source_mb << 20);
        if (l->index_writemap_mb)
            csph_store_index_writemap_max(c->store, (uint64_t)l->index_writemap_mb << 20);
    }
    if ((rc = csph_queues_open(&c->queues, csph_store_env(c->store), o->cfg, err)))
        goto fail;
    csph_ingest_init(&c->ingest, o->cfg, c->store, o->schemas, o->rules, c->queues);
    c->have_ingest = 1;
    *out = c;
    return CSPH_ERR_OK;
fail:
    csph_core_close(&c);
    return rc;
}

void csph_core_close(struct csph_core **cp)
{
    if (!cp || !*cp)
        return;
    struct csph_core *c = *cp;
    if (c->state == OPEN)
        csph_core_batch_abort(c);
    if (c->have_ingest)
        csph_ingest_fini(&c->ingest);
    csph_queues_close(&c->queues);
    csph_store_close(&c->store); /* settles held index work */
    free(c);
    *cp = NULL;
}

enum csph_err csph_core_recover(struct csph_core *c, uint64_t *caught, struct csph_error *err)
{
    enum csph_err rc = csph_ingest_catch_up(&c->ingest, caught, err);
    if (rc && csph_store_needs_heal(c->store)) {
        /* The index turned out damaged while catching up: rebuilt from the
         * log now, before serving. */
        int more = 1;
        rc = CSPH_ERR_OK;
        while (more && rc == CSPH_ERR_OK)
            rc = csph_ingest_heal(&c->ingest, &more, err);
    }
    return rc;
}

enum csph_err csph_core_batch_begin(struct csph_core *c, struct csph_error *err)
{
    if (c->readonly)
        return misuse(err, "write into a log opened read-only");
    if (c->state != IDLE)
        return misuse(err, "begin a batch inside a batch");
    enum csph_err rc = csph_ingest_level(&c->ingest, err);
    if (rc == CSPH_ERR_OK)
        rc = csph_store_write_begin(c->store, err);
    if (rc)
        return rc;
    csph_queues_txn_begin(c->queues);
    c->raised_before = c->ingest.alerts_raised;
    c->state = OPEN;
    return CSPH_ERR_OK;
}

enum csph_err csph_core_batch_commit(struct csph_core *c, struct csph_error *err)
{
    if (c->state != OPEN)
        return misuse(err, "commit with no batch open");
    c->state = IDLE;
    enum csph_err rc = csph_store_write_commit(c->store, err);
    csph_queues_txn_end(c->queues, rc == CSPH_ERR_OK);
    if (rc == CSPH_ERR_OK)
        c->readable |= csph_queues_touched(c->queues);
    else
        c->ingest.alerts_raised = c->raised_before;
    return rc;
}

void csph_core_batch_abort(struct csph_core *c)
{
    if (c->state != OPEN)
        return;
    c->state = IDLE;
    csph_store_write_abort(c->store);
    csph_queues_txn_end(c->queues, 0);
    c->ingest.alerts_raised = c->raised_before;
}

enum csph_err csph_core_batch_settle(struct csph_core *c, int *held, struct csph_error *err)
{
    if (c->state != IDLE)
        return misuse(err, "settle inside an open batch");
    int h = c->readonly ? 0 : csph_store_index_settle_due(c->store);
    if (held)
        *held = h;
    return CSPH_ERR_OK;
}

enum csph_err csph_core_settle_all(struct csph_core *c, struct csph_error *err)
{
    if (c->state != IDLE)
        return misuse(err, "settle inside an open batch");
    if (!c->readonly)
        csph_store_index_settle(c->store);
    return CSPH_ERR_OK;
}

int csph_core_batch_open(const struct csph_core *c)
{
    return c->state == OPEN;
}

uint64_t csph_core_take_readable(struct csph_core *c)
{
    uint64_t r = c->readable;
    c->readable = 0;
    return r;
}

uint64_t csph_core_alerts_raised(const struct csph_core *c)
{
    return c->ingest.alerts_raised;
}

enum csph_err csph_core_ack(struct csph_core *c, int panel_index, const char *consumer,
                            size_t consumer_len, uint64_t upto, const char *identity,
                            struct csph_error *err)
{
    if (c->state != OPEN)
        return misuse(err, "move a cursor outside a batch");
    return csph_queues_ack(c->queues, csph_store_txn(c->store), panel_index, consumer,
                           consumer_len, upto, identity, err);
}

enum csph_err csph_core_alert_panel(struct csph_core *c, uint64_t id, int *panel,
                                    struct csph_error *err)
{
    if (c->state != OPEN)
        return misuse(err, "read an alert's panel outside a batch");
    return csph_queues_panel_of(c->queues, csph_store_txn(c->store), id, panel, err);
}

enum csph_err csph_core_alert_brief(struct csph_core *c, uint64_t id, struct csph_alert_brief *b,
                                    struct csph_error *err)
{
    return csph_queues_alert_brief(c->queues, c->state == OPEN ? csph_store_txn(c->store) : NULL,
                                   id, b, err);
}

enum csph_err csph_core_append_raw(struct csph_core *c, const struct csph_append *ev,
                                   uint64_t *seq, int *duplicate, struct csph_error *err)
{
    if (c->state != OPEN)
        return misuse(err, "append outside a batch");
    return csph_store_append(c->store, ev, seq, duplicate, err);
}

int csph_core_needs_heal(const struct csph_core *c)
{
    return csph_store_needs_heal(c->store);
}

enum csph_err csph_core_heal(struct csph_core *c, int *more, struct csph_error *err)
{
    if (c->state != IDLE) {
        *more = 1;
        return misuse(err, "heal inside an open batch");
    }
    return csph_ingest_heal(&c->ingest, more, err);
}

enum csph_err csph_core_set_rules(struct csph_core *c, struct csph_rules *rules,
                                  struct csph_error *err)
{
    if (c->state != IDLE)
        return misuse(err, "change the rules inside an open batch");
    c->ingest.rules = rules;
    return CSPH_ERR_OK;
}

struct csph_rules *csph_core_rules(const struct csph_core *c)
{
    return c->ingest.rules;
}

struct csph_ingest *csph_core_ingest(struct csph_core *c)
{
    return &c->ingest;
}

struct csph_store *csph_core_store(struct csph_core *c)
{
    return c->store;
}

struct csph_queues *csph_core_queues(struct csph_core *c)
{
    return c->queues;
}
