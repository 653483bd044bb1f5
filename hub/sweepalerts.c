#include "sweepalerts.h"

#include <inttypes.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "alertredact.h"
#include "hold.h"
#include "queues.h"
#include "store.h"
#include "sweep.h"

struct personal {
    int any;
};

static int value_personal(void *ctx, const char *v, size_t n)
{
    struct personal *p = ctx;
    if (!hub_alert_marker_seq(v, n))
        p->any = 1;
    return p->any;
}

int hub_sweepalerts_personal(const void *pairs, size_t len, int npairs)
{
    struct personal p = {0};
    const char *reason = NULL;
    size_t rlen = 0;
    if (hub_alert_key_each(pairs, len, npairs, value_personal, &p, &reason, &rlen))
        return 0; /* damaged: nothing the sweep can rewrite */
    return p.any || (reason && !hub_alert_marker_seq(reason, rlen));
}

void hub_sweepalerts_ranges(const uint64_t *ids, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && o < cap;) {
        size_t j = i;
        while (j + 1 < n && ids[j + 1] == ids[j] + 1)
            j++;
        int w = j > i ? snprintf(out + o, cap - o, "%s%" PRIu64 "-%" PRIu64, o ? "," : "",
                                 ids[i], ids[j])
                      : snprintf(out + o, cap - o, "%s%" PRIu64, o ? "," : "", ids[i]);
        o += w > 0 ? (size_t)w : 0;
        i = j + 1;
    }
}

/* Whether alert a (panel, raised_ms, pairs) is past its period as of
 * as_of_ms by its own date, with something left to remove: its period
 * into *p, its key values into vals. */
static int past_period(const struct hub_config *cfg, const struct hub_retention *r,
                       const char *panel, size_t panel_len, int64_t raised_ms,
                       const void *pairs, size_t len, int npairs, int64_t as_of_ms,
                       const struct hub_period **p, struct hub_alert_key_values *vals)
{
    *p = hub_retention_alert_period(r, hub_config_panel_find(cfg, panel, panel_len));
    if ((*p)->kind != CSPH_PERIOD_SPAN || hub_period_end(*p, raised_ms) > as_of_ms ||
        !hub_sweepalerts_personal(pairs, len, npairs))
        return 0;
    vals->n = 0;
    return hub_alert_key_each(pairs, len, npairs, hub_alert_key_values_add, vals, NULL, NULL) == 0;
}

struct scan {
    const struct hub_config *cfg;
    const struct hub_retention *r;
    struct hub_store *st;
    int64_t as_of_ms;
    struct hub_sweepalerts_scan *sc;
    int stopped;
};

static int scan_one(void *ctx, const struct hub_alert_raw *a)
{
    struct scan *c = ctx;
    struct hub_sweepalerts_scan *sc = c->sc;
    const struct hub_period *p;
    struct hub_alert_key_values vals;
    sc->last = a->id;
    sc->examined++;
    int stop = (sc->examined & 63) == 0 && uv_hrtime() >= sc->deadline_ns;
    if (past_period(c->cfg, c->r, a->panel, a->panel_len, a->raised_ms, a->pairs, a->pairs_len,
                    (int)a->npairs, c->as_of_ms, &p, &vals)) {
        /* Someone of its key active within the period (the committed
         * index): no candidate; apply checks again as the batch sees it. */
        int active = 0;
        int64_t from = hub_sweep_cutoff(p, c->as_of_ms) + 1;
        for (size_t i = 0; p->after_activity && i < vals.n && !active; i++)
            active = hub_sweep_person_active(c->st, vals.v[i], vals.len[i], from);
        if (!active)
            sc->cand[sc->n++] = a->id;
    }
    c->stopped = stop || sc->n == sc->max;
    return c->stopped;
}

enum hub_err hub_sweepalerts_scan(struct hub_core *core, const struct hub_config *cfg,
                                  const struct hub_retention *r, int64_t as_of_ms,
                                  struct hub_sweepalerts_scan *sc, struct hub_error *err)
{
    struct hub_queues *q = hub_core_queues(core); /* flushed: reads see every commit */
    struct hub_store *st = hub_core_store(core);
    struct scan c = {.cfg = cfg, .r = r, .st = st, .as_of_ms = as_of_ms, .sc = sc};
    MDB_txn *txn;
    sc->n = 0;
    sc->examined = 0;
    sc->last = sc->after;
    sc->end = 0;
    int mrc = mdb_txn_begin(hub_store_env(st), NULL, MDB_RDONLY, &txn);
    if (mrc)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "reading the alerts: %s",
                             mdb_strerror(mrc));
    enum hub_err rc = hub_queues_each_raw_in(q, txn, sc->after, 0, scan_one, &c, err);
    mdb_txn_abort(txn);
    sc->end = rc == CSPH_ERR_OK && !c.stopped;
    return rc;
}

struct copied {
    char panel[72];
    size_t panel_len;
    int64_t raised_ms;
    const struct hub_config *cfg;
    const struct hub_retention *r;
    int64_t as_of_ms;
    const struct hub_period *p;
    struct hub_alert_key_values vals;
    int due;
};

static int check_stored(void *ctx, const struct hub_alert_stored *a)
{
    struct copied *c = ctx;
    c->due = past_period(c->cfg, c->r, a->panel, a->panel_len, a->raised_ms, a->full,
                         a->full_len, a->npairs, c->as_of_ms, &c->p, &c->vals);
    c->raised_ms = a->raised_ms;
    return 0;
}

enum hub_err hub_sweepalerts_apply(struct hub_sweep *sw, struct hub_ctx *h,
                                   const struct hub_retention *r, int64_t as_of_ms, uint64_t id,
                                   const char *marker, enum hub_sweepalert_outcome *outcome,
                                   struct hub_error *err)
{
    struct hub_store *st = hub_core_store(h->core);
    struct hub_queues *q = hub_core_queues(h->core);
    MDB_txn *txn = hub_store_txn(st);
    struct copied c = {.cfg = h->cfg, .r = r, .as_of_ms = as_of_ms};
    *outcome = CSPH_SWEEPALERT_KEPT;
    enum hub_err rc = hub_queues_stored_one(q, txn, id, check_stored, &c, err);
    if (rc == CSPH_ERR_NOT_FOUND)
        return CSPH_ERR_OK;
    if (rc || !c.due)
        return rc; /* the retention file changed since the scan, or expired already */
    for (size_t i = 0; i < c.vals.n; i++)
        if (hub_hold_seq(txn, c.vals.v[i], c.vals.len[i])) {
            *outcome = CSPH_SWEEPALERT_HELD;
            return CSPH_ERR_OK;
        }
    /* after: last_activity: the later of raised_at and the last event
     * naming a value of its key (an alert raised late on old events keeps
     * its period from when it was raised). */
    for (size_t i = 0; c.p->after_activity && i < c.vals.n; i++) {
        int64_t last;
        if ((rc = hub_sweep_last_activity(sw, st, c.vals.v[i], c.vals.len[i], &last, err)))
            return rc;
        if (last != INT64_MIN && hub_period_end(c.p, last) > as_of_ms)
            return CSPH_ERR_OK;
    }
    int renamed;
    if ((rc = hub_alert_expire_one(q, st, id, marker, &renamed, err)))
        return rc;
    *outcome = CSPH_SWEEPALERT_EXPIRED;
    return CSPH_ERR_OK;
}
