/* reads.h: the handlers of the read ops (ops.h's table): ping, stats,
 * replay, rejects, fetch, alerts, evidence. Each answers from read
 * transactions of the core's store and queues; a read whose caller's role
 * leaves an access record runs inside the write batch instead
 * (csph_ops_in_batch), with the same handler. */
#ifndef CSPH_READS_H
#define CSPH_READS_H

#include "ops.h"

enum csph_err csph_op_ping(struct csph_ctx *h, struct csph_req *q);
enum csph_err csph_op_stats(struct csph_ctx *h, struct csph_req *q);
enum csph_err csph_op_replay(struct csph_ctx *h, struct csph_req *q);
enum csph_err csph_op_rejects(struct csph_ctx *h, struct csph_req *q);
enum csph_err csph_op_fetch(struct csph_ctx *h, struct csph_req *q);
enum csph_err csph_op_alerts(struct csph_ctx *h, struct csph_req *q);
enum csph_err csph_op_evidence(struct csph_ctx *h, struct csph_req *q);

/* The fetch reply for consumer on panel (at most max alerts, within the
 * reply's room given the echoed req), packed into pk; *count alerts. For a
 * fetch answered now and for a held fetch answered later. */
enum csph_err csph_reads_fetch_reply(struct csph_ctx *h, const struct csph_span *req, int panel,
                                     const char *consumer, size_t clen, uint32_t max,
                                     msgpack_packer *pk, uint32_t *count, struct csph_error *e);

#endif
