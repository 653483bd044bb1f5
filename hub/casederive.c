#include "casederive.h"

#include <string.h>

#include "bekey.h"
#include "cases.h"
#include "log.h"
#include "panelwork.h"
#include "pwstore.h"

#define META_DB "panelwork_meta"
#define CASES_DB "cases"
static const char marker[] = "derived";

/* The marker: *have 0 when absent; else the seq done and the target. */
static enum hub_err read_marker(struct hub_store *s, int *have, uint64_t *done, uint64_t *target,
                                int *cases_kept, struct hub_error *err)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    int absent;
    *have = 0;
    enum hub_err rc = hub_pw_read_begin(s, &txn, err);
    if (rc)
        return rc;
    if (!(rc = hub_pw_dbi(s, txn, META_DB, 0, &dbi, &absent, err)) && !absent) {
        MDB_val k = {sizeof marker - 1, (void *)marker}, v;
        int mrc = mdb_get(txn, dbi, &k, &v);
        if (mrc == 0 && v.mv_size == 16) {
            *have = 1;
            *done = hub_get_be64(v.mv_data);
            *target = hub_get_be64((const unsigned char *)v.mv_data + 8);
        } else if (mrc != MDB_NOTFOUND) {
            rc = hub_pw_fail(err, mrc, "reading the panel-work marker");
        }
    }
    if (!rc)
        rc = hub_pw_dbi(s, txn, CASES_DB, 0, &dbi, &absent, err);
    *cases_kept = !absent;
    hub_pw_read_end(txn);
    return rc;
}

/* In the batch: the marker says done of target. */
static enum hub_err write_marker(struct hub_store *s, uint64_t done, uint64_t target,
                                 struct hub_error *err)
{
    MDB_dbi dbi;
    enum hub_err rc = hub_pw_dbi_create(s, META_DB, 0, &dbi, err);
    if (rc)
        return rc;
    unsigned char v[16];
    hub_put_be64(v, done);
    hub_put_be64(v + 8, target);
    return hub_pw_put(s, dbi, marker, sizeof marker - 1, v, sizeof v, err);
}

struct derive {
    struct hub_ingest *g;
    msgpack_zone zone;
    enum hub_err rc;
    struct hub_error err;
    uint64_t read;
};

static int derive_visit(void *ctx, const struct hub_stored_event *e)
{
    struct derive *d = ctx;
    msgpack_object o;
    size_t off = 0;
    d->read++;
    msgpack_zone_clear(&d->zone);
    if (msgpack_unpack(e->bytes, e->len, &off, &d->zone, &o) != MSGPACK_UNPACK_SUCCESS)
        return 0; /* not an event of ours: nothing to apply (the log's own check says so) */
    struct hub_event_info info = {.type = e->type, .type_len = (uint32_t)e->type_len,
                                  .source = e->source, .source_len = (uint32_t)e->source_len,
                                  .occurred_at_ms = e->occurred_ms, .type_index = -1};
    d->rc = hub_panelwork_apply(d->g, &info, &o, e->seq, e->received_ms, &d->err);
    return d->rc != CSPH_ERR_OK;
}

struct count {
    uint64_t all, open;
};

static int count_case(void *ctx, const struct hub_case *c)
{
    struct count *n = ctx;
    n->all++;
    n->open += c->open;
    return 0;
}

enum hub_err hub_casederive_run(struct hub_core *core, uint64_t *read, struct hub_error *err)
{
    struct hub_store *s = hub_core_store(core);
    int have, cases_kept;
    uint64_t done = 0, target = 0, last = hub_store_last_seq(s);
    *read = 0;
    enum hub_err rc = read_marker(s, &have, &done, &target, &cases_kept, err);
    if (rc || (have && done >= target))
        return rc;
    if (!have) {
        /* Nothing to derive from an empty log, nor where a case index is
         * kept already (cases opened from the decisions made since):
         * only the marker. */
        target = cases_kept ? 0 : last;
        done = 0;
        if (!target) {
            if ((rc = hub_core_batch_begin(core, err)))
                return rc;
            if ((rc = write_marker(s, 0, 0, err))) {
                hub_core_batch_abort(core);
                return rc;
            }
            if ((rc = hub_core_batch_commit(core, err)))
                return rc;
            return hub_core_settle_all(core, err);
        }
        LOG_INFO("panelwork", "a log written before cases existed: deriving its cases from "
                 "its %llu events", (unsigned long long)target);
    } else {
        LOG_INFO("panelwork", "deriving cases from the log: going on from seq %llu of %llu",
                 (unsigned long long)done, (unsigned long long)target);
    }
    struct derive d = {.g = hub_core_ingest(core)};
    msgpack_zone_init(&d.zone, 8192);
    while (done < target) {
        if ((rc = hub_core_batch_begin(core, err)))
            break;
        uint64_t upto = target - done > CSPH_CASEDERIVE_BATCH ? done + CSPH_CASEDERIVE_BATCH
                                                              : target;
        uint64_t scanned;
        int end;
        d.rc = CSPH_ERR_OK;
        rc = hub_store_scan(s, done, upto, UINT64_MAX, derive_visit, &d, &scanned, &end, err);
        if (!rc && d.rc) {
            rc = d.rc;
            *err = d.err;
        }
        if (!rc)
            rc = write_marker(s, upto, target, err);
        if (rc) {
            hub_core_batch_abort(core);
            break;
        }
        if ((rc = hub_core_batch_commit(core, err)) || (rc = hub_core_settle_all(core, err)))
            break;
        done = upto;
    }
    msgpack_zone_destroy(&d.zone);
    *read = d.read;
    if (rc)
        return rc;
    MDB_txn *txn;
    struct count n = {0};
    if (!(rc = hub_pw_read_begin(s, &txn, err))) {
        rc = hub_cases_each(s, txn, NULL, count_case, &n, err);
        hub_pw_read_end(txn);
    }
    if (!rc)
        LOG_INFO("panelwork", "cases derived from the log (%llu events read): %llu cases, %llu "
                 "open", (unsigned long long)d.read, (unsigned long long)n.all,
                 (unsigned long long)n.open);
    return rc;
}
