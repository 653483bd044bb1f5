#include "writes.h"

#include "access.h"

#include "decision.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csphub.h"
#include "ingest.h"
#include "mpx.h"
#include "panelwork.h"
#include "reply.h"

/* Validate, dedup and append one event inside the batch's transaction.
 * Returns CSPH_ERR_OK with seq and dup set, an event-level error in *e (kept as
 * a rejection), or CSPH_ERR_BUSY/CSPH_ERR_INTERNAL when the transaction is
 * lost. */
static enum hub_err publish_one(struct hub_ctx *h, const struct hub_identity *who,
                                const msgpack_object *ev,
                                const struct hub_span *bytes, int64_t now_ms, uint64_t *seq,
                                int *dup, struct hub_error *e)
{
    struct hub_event_info info;
    enum hub_err rc;
    if (bytes->len > h->cfg->limits.event_max)
        rc = hub_error_set(e, CSPH_ERR_TOO_LARGE, NULL,
                           "the event is %zu bytes; one event may be at most %u bytes",
                           bytes->len, h->cfg->limits.event_max);
    else
        rc = hub_schema_check(h->schemas, ev, who == NULL, &info, e);
    if (rc == CSPH_ERR_OK)
        rc = hub_admit_reserved(&info, e);
    if (rc == CSPH_ERR_OK) /* hook: a case's outcome is one of its panel's (panelwork.h) */
        rc = hub_panelwork_check_event(h->cfg, &info, ev, e);
    const void *stored = bytes->ptr;
    size_t stored_len = bytes->len;
    if (rc == CSPH_ERR_OK && who &&
        (rc = hub_admit_publisher(who, &info, &stored, &stored_len, h->batch_zone, e)) ==
            CSPH_ERR_FORBIDDEN)
        h->c.forbidden++;
    if (rc == CSPH_ERR_OK) {
        rc = hub_ingest_event(hub_core_ingest(h->core), &info, ev, stored, stored_len, now_ms,
                              seq, dup, e);
        if (rc == CSPH_ERR_OK) {
            if (*dup)
                h->c.duplicate++;
            else
                h->c.accepted++;
            return CSPH_ERR_OK;
        }
        if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL)
            return rc;
    }
    /* Keep the rejection, with the sender's identity (curve) or whatever
     * source the event claimed. */
    const msgpack_object *src = hub_mp_get(ev, "source");
    const char *sp = "";
    size_t sl = 0;
    if (who) {
        sp = who->name;
        sl = strlen(sp);
    } else if (src && src->type == MSGPACK_OBJECT_STR && src->via.str.size <= 64) {
        sp = src->via.str.ptr;
        sl = src->via.str.size;
    }
    struct hub_error serr;
    enum hub_err src_rc = hub_store_reject(hub_core_store(h->core), now_ms, sp, sl, e,
                                           bytes->ptr, bytes->len, NULL, &serr);
    if (src_rc) {
        *e = serr;
        return src_rc;
    }
    h->c.rejected_total++;
    h->c.rejected[e->code]++;
    return rc;
}

/* publish: every event validated, admitted, deduplicated and appended (or
 * kept as a rejection) in the batch; one reply for the request. */
enum hub_err hub_op_publish(struct hub_ctx *h, struct hub_req *q)
{
    const struct hub_request *r = q->r;
    for (uint32_t i = 0; i < r->nevents; i++) {
        uint64_t seq = 0;
        int dup = 0;
        struct hub_error e;
        enum hub_err rc = publish_one(h, q->who, &r->events[i], &r->spans[i], q->now_ms, &seq,
                                      &dup, &e);
        if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL)
            return rc;
        if (!r->batch) {
            if (rc)
                hub_reply_error(q->pk, &r->req, &e, 1);
            else
                hub_reply_published(q->pk, &r->req, dup, seq);
            continue;
        }
        if (i == 0)
            hub_reply_results_begin(q->pk, &r->req, r->nevents);
        if (rc) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "events.%u", i);
            hub_error_prefix_field(&e, prefix);
            hub_reply_result_rejected(q->pk, &e);
        } else {
            hub_reply_result(q->pk, dup, seq);
        }
    }
    return CSPH_ERR_OK;
}

/* ack: move a consumer's durable cursor. Event-level errors are replies. */
enum hub_err hub_op_ack(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_error *e = &q->e;
    const char *consumer = NULL;
    size_t clen = 0;
    uint64_t upto = 0;
    int panel, present = 0;
    enum hub_err rc = hub_ops_panel_arg(h, q, &panel);
    if (!rc)
        rc = hub_wire_str(q->r, "consumer", 1, 64, 1, &consumer, &clen, e);
    if (!rc)
        rc = hub_wire_u64(q->r, "upto", 1, UINT64_MAX, &upto, &present, e);
    if (!rc && !present)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "upto", "'upto' (an alert id) is required");
    if (!rc)
        rc = hub_core_ack(h->core, panel, consumer, clen, upto, q->who ? q->who->name : NULL,
                          e);
    if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL)
        return rc;
    if (rc)
        hub_reply_error(q->pk, &q->r->req, e, 0);
    else
        hub_reply_ok(q->pk, &q->r->req);
    return CSPH_ERR_OK;
}

/* alert.update: a decision, recorded as an alert.status event. */
enum hub_err hub_op_alert_update(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_error *e = &q->e;
    uint64_t id = 0, seq = 0, repeat = 0;
    int present = 0, panel = -1;
    struct hub_decision_request dr = {.expect = -1, .by = ""};
    const char *note = NULL;
    size_t note_len = 0;
    char by[CSPH_DECISION_BY_MAX + 1] = "";
    enum hub_err rc = hub_wire_u64(q->r, "id", 1, UINT64_MAX, &id, &present, e);
    if (!rc && !present)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "id", "'id' (an alert id) is required");
    if (!rc)
        rc = hub_decision_parse(q->r, q->who ? q->who->name : NULL, &dr, by, e);
    if (!rc)
        rc = hub_wire_str(q->r, "note", 0, 2000, 0, &note, &note_len, e);
    dr.id = id;
    dr.note_len = note_len;
    /* The workflow (decision.h), read in the batch: a decision earlier in
     * it counts. */
    if (!rc)
        rc = hub_decision_admit(hub_core_queues(h->core), hub_core_store(h->core), &dr, &panel,
                                &repeat, e);
    if ((!rc || rc == CSPH_ERR_CONFLICT || rc == CSPH_ERR_BAD_REQUEST) && panel >= 0 && q->who &&
        !hub_identity_may_panel(q->who, panel)) {
        /* Answered exactly as for an alert that does not exist: whether
         * another panel (Channel, MAPPA) has alert id is not the caller's
         * to learn, nor its status. The same words as hub_queues_panel_of's. */
        h->c.forbidden++;
        rc = hub_error_set(e, CSPH_ERR_NOT_FOUND, "id", "no alert with id %llu",
                           (unsigned long long)id);
    }
    if (!rc && repeat)
        seq = repeat; /* a resend: recorded already, nothing written */
    else if (!rc)
        rc = hub_ingest_alert_update(hub_core_ingest(h->core), id,
                                     (enum hub_alert_status)dr.status, note, note_len,
                                     by[0] ? by : NULL,
                                     q->who && q->who->gateway[0] ? q->who->gateway : NULL,
                                     q->now_ms, &seq, e);
    if (!rc && !repeat) /* hook: a decision that opens a case says so (panelwork.h) */
        rc = hub_panelwork_decided(hub_core_ingest(h->core), id, seq, by[0] ? by : NULL,
                                   q->who && q->who->gateway[0] ? q->who->gateway : NULL,
                                   q->now_ms, e);
    if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL)
        return rc;
    if (rc) {
        hub_reply_error(q->pk, &q->r->req, e, 0);
        return CSPH_ERR_OK;
    }
    if (!repeat)
        h->c.alert_updates++;
    hub_reply_seq(q->pk, &q->r->req, seq);
    return CSPH_ERR_OK;
}

enum hub_err hub_writes_audit(struct hub_ctx *h, const struct hub_req *q, const void *body,
                              size_t len, int failed)
{
    struct hub_error e;
    const msgpack_sbuffer *reply = q->pk->data;
    /* hook: which records the reply returned, for subject access (access.h) */
    enum hub_err rc = hub_access_audit(hub_core_ingest(h->core), q->who, hub_op_name(q->r->op),
                                       body, len, failed, q->count, reply->data, reply->size,
                                       q->now_ms, &e);
    if (rc == CSPH_ERR_OK)
        h->c.audit_records++;
    return rc;
}
