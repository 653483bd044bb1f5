#include "heldrel.h"

#include "access.h"
#include "core.h"
#include "reads.h"
#include "wire.h"

/* The words every fetch of a failed batch is answered with. */
static void failure(enum hub_err rc, int began, struct hub_error *err)
{
    if (!began)
        return; /* the batch could not begin: its own words (a repair under way) */
    if (rc == CSPH_ERR_BUSY)
        hub_error_set(err, CSPH_ERR_BUSY, NULL,
                      "the hub's storage limit is reached (limits.map_size_mb), so this read "
                      "could not be recorded and returns nothing; retry after the operator "
                      "raises it");
    else
        hub_error_set(err, CSPH_ERR_INTERNAL, NULL,
                      "the hub could not record this read (audit.access), so it returns "
                      "nothing; retry the fetch");
}

enum hub_err hub_heldrel_answer(struct hub_ctx *h, struct hub_heldrel *v, size_t n,
                                int64_t now_ms, struct hub_heldrel_out *out,
                                struct hub_error *err)
{
    *out = (struct hub_heldrel_out){0};
    int audited = 0;
    for (size_t i = 0; i < n; i++)
        audited |= v[i].f.audit != NULL;
    /* The audited ones read inside the batch that records them: what they
     * return is what the records say they returned. */
    enum hub_err rc = audited ? hub_core_batch_begin(h->core, err) : CSPH_ERR_OK;
    int began = audited && rc == CSPH_ERR_OK;
    for (size_t i = 0; i < n && rc == CSPH_ERR_OK; i++) {
        struct hub_heldrel *x = &v[i];
        struct hub_span req = {x->f.req, x->f.req_len};
        struct hub_error e;
        uint32_t count = 0;
        msgpack_packer pk;
        x->reply.size = 0;
        msgpack_packer_init(&pk, &x->reply, msgpack_sbuffer_write);
        if (hub_reads_fetch_reply(h, &req, x->f.panel, x->f.consumer, x->f.consumer_len,
                                  x->f.max, x->f.view, &pk, &count, &e)) {
            x->reply.size = 0; /* its own error: nothing returned, nothing to record */
            hub_reply_error(&pk, &req, &e, 0);
            continue;
        }
        const struct hub_held_audit *a = x->f.audit;
        if (a && count &&
            (rc = hub_access_audit(hub_core_ingest(h->core), &a->who,
                                   hub_op_name(CSPH_OP_FETCH), a->body, a->body_len, 0, count,
                                   x->reply.data, x->reply.size, now_ms, err)) == CSPH_ERR_OK)
            out->recorded++;
    }
    if (began && rc == CSPH_ERR_OK && out->recorded) {
        rc = hub_core_batch_commit(h->core, err);
        out->committed = rc == CSPH_ERR_OK;
    } else if (began) {
        hub_core_batch_abort(h->core); /* nothing written, or a failure: no sync */
    }
    if (rc == CSPH_ERR_OK) {
        h->c.audit_records += out->recorded;
        h->c.commits += (uint64_t)out->committed;
        return CSPH_ERR_OK;
    }
    out->recorded = 0;
    failure(rc, began, err);
    for (size_t i = 0; i < n; i++) {
        struct hub_span req = {v[i].f.req, v[i].f.req_len};
        msgpack_packer pk;
        v[i].reply.size = 0;
        msgpack_packer_init(&pk, &v[i].reply, msgpack_sbuffer_write);
        hub_reply_error(&pk, &req, err, 0);
    }
    return rc;
}
