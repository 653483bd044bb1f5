/* writes.h: the handlers of the write ops (ops.h's table): publish, ack,
 * alert.update, each run inside the core's batch and answered after its
 * commit; and the access record an audited read leaves in the same batch
 * (PROTOCOL.md 7). */
#ifndef CSPH_WRITES_H
#define CSPH_WRITES_H

#include "ops.h"

enum hub_err hub_op_publish(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_ack(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_alert_update(struct hub_ctx *h, struct hub_req *q);

/* Record q's read as an audit.access event in the batch: who (q->who,
 * never NULL here), its role, the op, the query (body: the request as
 * sent, len bytes, kept as JSON) and how many records it returned (0 when
 * it failed: failed). BUSY or INTERNAL when the batch is lost. */
enum hub_err hub_writes_audit(struct hub_ctx *h, const struct hub_req *q, const void *body,
                              size_t len, int failed);

#endif
