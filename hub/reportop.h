/* reportop.h: the `report` op (PROTOCOL.md 7, docs/reports.md) off the loop
 * thread.
 *
 * The loop thread checks the request and who asks (csph_reportop_submit),
 * then a libuv worker computes the report (hub/report.c) in read
 * transactions of its own, so ingest never waits for it; when it is done,
 * the loop thread gets the job back (the done callback), records the run
 * as an audit.access event and sends the reply. At most
 * CSPH_REPORTOP_MAX_RUNNING reports run at once; more are answered `busy`.
 *
 * Who may ask what (curve mode; in none mode everything is allowed):
 *   strategic  whole months, the partnership or a configured area, always
 *              suppressed, no explanation;
 *   auditor    any period, suppressed unless suppress: false, and the
 *              explanation of one indicator's month (never suppressed). */
#ifndef CSPH_REPORTOP_H
#define CSPH_REPORTOP_H

#include <msgpack.h>
#include <stdint.h>
#include <uv.h>
#include <zmq.h>

#include "config.h"
#include "err.h"
#include "indicators.h"
#include "report.h"
#include "security.h"
#include "transport.h"
#include "wire.h"

#define CSPH_REPORTOP_MAX_RUNNING 2

struct csph_store;
struct csph_queues;
struct csph_schemas;
struct csph_reportop;

/* One report in flight. The server fills the first block (the request's
 * frames, moved in, and its ticket) and reads the result when done. */
struct csph_report_job {
    zmq_msg_t frames[CSPH_TRANSPORT_MAX_FRAMES];
    int nframes;
    struct csph_ticket tk;
    void *req; /* a copy of the request's `req` (malloc'd; freed with the job) */
    size_t req_len;
    char *query; /* the request as JSON, for the access record (malloc'd; may be NULL) */
    /* who asked, copied: an identity file reload may free the identity */
    char who[65];
    char role[16];
    /* the result, valid in the done callback */
    enum csph_err rc;
    struct csph_error err;
    msgpack_sbuffer body; /* npairs key/value pairs for the reply map */
    uint32_t npairs;
    uint64_t returned;
    uint64_t wall_ns, cpu_ns; /* what computing it took */
    /* private */
    struct csph_reportop *owner;
    struct csph_report_params params;
    uv_work_t work;
};

/* Called on the loop thread for each finished job; the callee owns it and
 * frees it with csph_report_job_free. */
typedef void (*csph_reportop_done_fn)(void *data, struct csph_report_job *job);

/* Load the indicators and areas named in cfg (checked against schemas and
 * the rules in force at start, which may be NULL) and
 * get ready to run reports on loop. store, queues, cfg and schemas are
 * borrowed and must outlive it. CSPH_ERR_CONFIG "file:line: ..." for a bad
 * indicator or area file. */
struct csph_rules;
enum csph_err csph_reportop_new(struct csph_reportop **out, uv_loop_t *loop,
                                const struct csph_config *cfg, struct csph_store *store,
                                struct csph_queues *queues, const struct csph_schemas *schemas,
                                const struct csph_rules *rules, csph_reportop_done_fn done,
                                void *data, struct csph_error *err);
/* Free and NULL *ro; accepts NULL. No job may be running (the loop has
 * returned: libuv runs every queued work's callback before it does). */
void csph_reportop_destroy(struct csph_reportop **ro);

/* Check request r from who (NULL: security none) against the indicators,
 * the areas and who's role; last_seq is the log's last seq now (the default
 * as_of). On CSPH_ERR_OK a new job is returned in *job for the caller to
 * fill (frames, ticket) and start with csph_reportop_start. Otherwise the
 * error for the reply: BAD_REQUEST naming the field, FORBIDDEN, NOT_FOUND
 * (as_of beyond the log), BUSY (too many running). */
enum csph_err csph_reportop_submit(struct csph_reportop *ro, const struct csph_request *r,
                                   const struct csph_identity *who, uint64_t last_seq,
                                   struct csph_report_job **job, struct csph_error *err);
void csph_reportop_start(struct csph_reportop *ro, struct csph_report_job *job);
/* Reports being computed now. */
unsigned csph_reportop_running(const struct csph_reportop *ro);
/* The i-th job being computed (i < CSPH_REPORTOP_MAX_RUNNING), or NULL: so
 * that the server can let go of the ticket of a client that has gone (its
 * connection is freed before the job is done). Only the first block of the
 * job may be touched, on the loop thread. */
struct csph_report_job *csph_reportop_job(struct csph_reportop *ro, unsigned i);
void csph_report_job_free(struct csph_report_job *job);

#endif
