/* ops.h: the table of ops. Each op of CSPH/1 is one row: its kind (a read
 * answered at once from a read transaction, or a write run in the batch),
 * the roles that may call it (PROTOCOL.md 8), the roles whose reads of it
 * leave an access record (PROTOCOL.md 7), and its handler. The server
 * dispatches every request through it, in one place; a new op is a row
 * here, a CSPH_OP_MAP entry in wire.h and a handler in reads.c or
 * writes.c.
 *
 * Handlers get the hub's parts (struct hub_ctx, borrowed from the server
 * that owns them) and an explicit request context (struct hub_req: who
 * sent it, the batch's clock reading, where the reply goes, what a read
 * returned). Nothing is passed through fields set around a call. */
#ifndef CSPH_OPS_H
#define CSPH_OPS_H

#include <msgpack.h>
#include <stdint.h>

#include "clock.h"
#include "config.h"
#include "core.h"
#include "err.h"
#include "schema.h"
#include "security.h"
#include "transport.h"
#include "wire.h"

/* Counters reported by `stats` (PROTOCOL.md 7), kept by the handlers and
 * the server. */
#define CSPH_COUNTER_MAP(X)                                                    \
    X(requests)                                                                \
    X(accepted)                                                                \
    X(duplicate)                                                               \
    X(rejected_total)                                                          \
    X(commits)                                                                 \
    X(commit_failures)                                                         \
    X(batch_work_us)                                                           \
    X(commit_us)                                                               \
    X(batch_requests_max)                                                      \
    X(malformed)                                                               \
    X(busy)                                                                    \
    X(replay_requests)                                                         \
    X(replay_events)                                                           \
    X(replay_person_indexed)                                                   \
    X(replay_person_scanned)                                                   \
    X(alerts_raised)                                                           \
    X(alert_updates)                                                           \
    X(timers_fired)                                                            \
    X(fetches_held)                                                            \
    X(rule_reloads)                                                            \
    X(rule_reload_failures)                                                    \
    X(forbidden)                                                               \
    X(handshakes_refused)                                                      \
    X(audit_records)                                                           \
    X(reports)

struct hub_counters {
#define CSPH_COUNTER_FIELD(name) uint64_t name;
    CSPH_COUNTER_MAP(CSPH_COUNTER_FIELD)
#undef CSPH_COUNTER_FIELD
    uint64_t rejected[CSPH_ERR__COUNT];
};

/* The hub's parts a handler may use. The server owns them and fills this
 * once; handlers borrow. */
struct hub_ctx {
    const struct hub_config *cfg;
    struct hub_clock *clock;
    struct hub_core *core;
    struct hub_schemas *schemas;
    struct hub_transport *transport; /* stats only */
    struct hub_counters c;
    int64_t started_ms;
    msgpack_zone *batch_zone; /* lives for the batch in hand (source stamping) */
    msgpack_zone scan_zone;   /* events unpacked by a filtered replay */
    msgpack_sbuffer items;    /* a reply's list, packed before its envelope */
    /* The identity file in force (security curve; replaced in place on a
     * reload): who may own an action (panelops.h). */
    const struct hub_identities *ids;
};

/* One request as its handler sees it. */
struct hub_req {
    const struct hub_request *r;
    const struct hub_identity *who;  /* the sender (security curve); NULL in none */
    int64_t now_ms;                  /* the batch's clock reading */
    msgpack_packer *pk;              /* the reply is packed here */
    struct hub_error e;              /* why, when the handler returns an error */
    uint32_t count;                  /* records a read returned (audit.access) */
    /* fetch: no alert yet and wait_ms given: the caller holds the request
     * (hold = 1) and answers it later with hub_reads_fetch_reply. */
    int hold;
    int panel;
    const char *consumer;
    size_t consumer_len;
    uint32_t max;
    uint64_t wait_ms;
};

enum hub_op_kind {
    CSPH_OPK_READ, /* answered at once, from read transactions */
    CSPH_OPK_WRITE /* run inside the batch; replied to after its commit */
};

/* Roles as bits of a row's `may` and `audited`. */
#define CSPH_ROLE_BIT(role) (1u << (role))
#define CSPH_ROLES_ALL 0x7fu /* agency, panel, auditor, admin, strategic, gateway, dpo */

/* A handler packs its reply into q->pk and returns CSPH_ERR_OK, or:
 * - a read returns an error with q->e set and packs nothing: the caller
 *   answers it with that error;
 * - a write packs its request's errors itself, and returns CSPH_ERR_BUSY or
 *   CSPH_ERR_INTERNAL only when the batch is lost. */
typedef enum hub_err (*hub_op_fn)(struct hub_ctx *h, struct hub_req *q);

struct hub_op_row {
    enum hub_op op;
    enum hub_op_kind kind;
    unsigned may;     /* roles that may call it (security curve) */
    unsigned audited; /* roles whose calls leave an audit.access record, in the batch */
    hub_op_fn fn;
    /* How it reads the log (hub_ops_reads_committed): by its kind (0), or
     * as stated where that is not so. */
    enum { CSPH_OPR_BY_KIND = 0, CSPH_OPR_OWN_TXN, CSPH_OPR_BATCH_TXN } reads;
};

/* The row of op (every op of CSPH_OP_MAP has one). */
const struct hub_op_row *hub_ops_row(enum hub_op op);
/* Whether a call by who (NULL: security none) runs in the write batch:
 * a write, or a read who's role must leave an access record for. */
int hub_ops_in_batch(const struct hub_op_row *row, const struct hub_identity *who);
/* Whether the op reads the log with read transactions of its own, which
 * see only what LMDB committed: the journal's held batches must go into
 * LMDB before a batch holding it begins. Reads do, but fetch (it reads the
 * batch's own transaction, hub_core_fetch); writes do not, but sar (it
 * reads the queues as a read would). */
int hub_ops_reads_committed(const struct hub_op_row *row);
/* Whether who's call of row leaves an access record. */
int hub_ops_audited(const struct hub_op_row *row, const struct hub_identity *who);

/* The request's `panel`: a configured panel that q->who (security curve)
 * may read. Errors in q->e: BAD_REQUEST, UNKNOWN_PANEL, FORBIDDEN. */
enum hub_err hub_ops_panel_arg(struct hub_ctx *h, struct hub_req *q, int *panel);

/* The bytes a read reply's list may take (PROTOCOL.md 1): the reply limit
 * less its envelope and the echoed req of req_len bytes. */
size_t hub_ops_reply_room(const struct hub_ctx *h, size_t req_len);

#endif
