/* reportop.h: the `report` op (PROTOCOL.md 7, docs/reports.md) off the loop
 * thread.
 *
 * The loop thread checks the request and who asks (hub_reportop_submit),
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
 *              explanation of one indicator's month (never suppressed);
 *   a person through a gateway (`as`): as their role allows, but always
 *              suppressed and never explained. */
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

struct hub_store;
struct hub_queues;
struct ind_ref;
struct hub_schemas;
struct hub_reportop;

/* One report in flight. The server fills the first block (the request's
 * frames, moved in, and its ticket) and reads the result when done. */
struct hub_report_job {
    zmq_msg_t frames[CSPH_TRANSPORT_MAX_FRAMES];
    int nframes;
    struct hub_ticket tk;
    void *req; /* a copy of the request's `req` (malloc'd; freed with the job) */
    size_t req_len;
    char *query; /* the request as JSON, for the access record (malloc'd; may be NULL) */
    /* who asked, copied: an identity file reload may free the identity */
    char who[65];
    char role[16];
    char gateway[65]; /* the gateway it came through ("" for none) */
    /* the result, valid in the done callback */
    enum hub_err rc;
    struct hub_error err;
    msgpack_sbuffer body; /* npairs key/value pairs for the reply map */
    uint32_t npairs;
    uint64_t returned;
    uint64_t wall_ns, cpu_ns; /* what computing it took */
    /* private */
    struct hub_reportop *owner;
    struct ind_ref *ind; /* the indicators it is computed with (held) */
    struct hub_report_params params;
    uv_work_t work;
};

/* Called on the loop thread for each finished job; the callee owns it and
 * frees it with hub_report_job_free. */
typedef void (*hub_reportop_done_fn)(void *data, struct hub_report_job *job);

/* Load the indicators and areas named in cfg (checked against schemas and
 * the rules in force at start, which may be NULL) and
 * get ready to run reports on loop. store, queues, cfg and schemas are
 * borrowed and must outlive it. CSPH_ERR_CONFIG "file:line: ..." for a bad
 * indicator or area file. */
struct hub_rules;
enum hub_err hub_reportop_new(struct hub_reportop **out, uv_loop_t *loop,
                              const struct hub_config *cfg, struct hub_store *store,
                              struct hub_queues *queues, const struct hub_schemas *schemas,
                              const struct hub_rules *rules, hub_reportop_done_fn done,
                              void *data, struct hub_error *err);
/* SIGHUP: read the indicator and area files named in the config again,
 * checked against the schemas and rules (the ones now in force), and put
 * them in force; reports being computed finish with the ones they started
 * with. On CSPH_ERR_CONFIG ("file:line: ...") the ones in force stay. On
 * the loop thread. */
enum hub_err hub_reportop_reload(struct hub_reportop *ro, const struct hub_rules *rules,
                                 struct hub_error *err);
/* The indicators and areas in force (borrowed: valid until the next
 * reload, on the loop thread). */
const struct hub_indicators *hub_reportop_indicators(const struct hub_reportop *ro);
/* Free and NULL *ro; accepts NULL. No job may be running (the loop has
 * returned: libuv runs every queued work's callback before it does). */
void hub_reportop_destroy(struct hub_reportop **ro);

/* Check request r from who (NULL: security none) against the indicators,
 * the areas and who's role; last_seq is the log's last seq now (the default
 * as_of). On CSPH_ERR_OK a new job is returned in *job for the caller to
 * fill (frames, ticket) and start with hub_reportop_start. Otherwise the
 * error for the reply: BAD_REQUEST naming the field, FORBIDDEN, NOT_FOUND
 * (as_of beyond the log), BUSY (too many running). */
enum hub_err hub_reportop_submit(struct hub_reportop *ro, const struct hub_request *r,
                                 const struct hub_identity *who, uint64_t last_seq,
                                 struct hub_report_job **job, struct hub_error *err);
void hub_reportop_start(struct hub_reportop *ro, struct hub_report_job *job);
/* Reports being computed now. */
unsigned hub_reportop_running(const struct hub_reportop *ro);
/* The i-th job being computed (i < CSPH_REPORTOP_MAX_RUNNING), or NULL: so
 * that the server can let go of the ticket of a client that has gone (its
 * connection is freed before the job is done). Only the first block of the
 * job may be touched, on the loop thread. */
struct hub_report_job *hub_reportop_job(struct hub_reportop *ro, unsigned i);
void hub_report_job_free(struct hub_report_job *job);

#endif
