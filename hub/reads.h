/* reads.h: the handlers of the read ops (ops.h's table): ping, stats,
 * replay, rejects, fetch, alerts, evidence. Each answers from read
 * transactions of the core's store and queues; a read whose caller's role
 * leaves an access record runs inside the write batch instead
 * (hub_ops_in_batch), with the same handler. */
#ifndef CSPH_READS_H
#define CSPH_READS_H

#include "ops.h"

enum hub_err hub_op_ping(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_stats(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_replay(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_rejects(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_fetch(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_alerts(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_evidence(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_alert(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_person(struct hub_ctx *h, struct hub_req *q);

/* The fetch reply for consumer on panel (at most max alerts as view,
 * CSPH_QVIEW_*, shows them, within the
 * reply's room given the echoed req), packed into pk; *count alerts. For a
 * fetch answered now and for a held fetch answered later. */
enum hub_err hub_reads_fetch_reply(struct hub_ctx *h, const struct hub_span *req, int panel,
                                   const char *consumer, size_t clen, uint32_t max, int view,
                                   msgpack_packer *pk, uint32_t *count, struct hub_error *e);

#endif
