#include "server.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "ingest.h"
#include "csphub.h"
#include "decision.h"
#include "log.h"
#include "mpx.h"
#include "people.h"
#include "queues.h"
#include "rules.h"
#include "schema.h"
#include "security.h"
#include "store.h"
#include "timefmt.h"
#include "transport.h"
#include "views.h"
#include "wire.h"
#include "zsock.h"

#define MAX_FRAMES 8 /* routing envelope + body; REQ adds one empty frame */
/* A replay entry's bytes besides its event: {seq, received_at, event}. */
#define REPLAY_ENTRY_OVERHEAD 96

/* Counters reported by `stats`. */
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


/* Counters the transport keeps (hub/transport.h), reported beside them. */
#define CSPH_TRANSPORT_COUNTERS(X)                                             \
    X(replies_held)                                                            \
    X(replies_dropped)                                                         \
    X(busy_client)                                                             \
    X(connections)                                                             \
    X(connections_accepted)                                                    \
    X(connections_closed)                                                      \
    X(connections_refused)                                                     \
    X(connections_max)                                                         \
    X(fetches_released)

struct counters {
#define CSPH_COUNTER_FIELD(name) uint64_t name;
    CSPH_COUNTER_MAP(CSPH_COUNTER_FIELD)
#undef CSPH_COUNTER_FIELD
    uint64_t rejected[CSPH_ERR__COUNT];
};

/* One write request of the batch in hand. */
struct pending {
    zmq_msg_t frames[MAX_FRAMES];
    int nframes;
    const struct csph_identity *who; /* curve: the sender; NULL in none mode */
    struct csph_identity as_id;      /* the person a gateway acts for (who = &as_id) */
    int held;                        /* a fetch now waiting: no reply yet */
    size_t held_at;                  /* ... at this index of s->fetches */
    struct csph_ticket tk;           /* who the reply is charged to */
    struct csph_request req;
    msgpack_sbuffer reply;
};

/* A fetch waiting for alerts (PROTOCOL.md 5: wait_ms). */
struct held_fetch {
    zmq_msg_t env[MAX_FRAMES];
    int nenv;
    struct csph_ticket tk;
    void *req; /* a copy of `req` as sent */
    size_t req_len;
    int panel;
    char consumer[65];
    size_t consumer_len;
    uint32_t max;
    uint64_t expires; /* uv_now() ms */
};

struct csph_server {
    const struct csph_config *cfg;
    struct csph_clock *clock;
    uv_loop_t *loop;
    void *zctx;
    void *router;
    struct csph_zsock zs;
    struct csph_transport *transport; /* connections, their backlogs, sending */
    struct csph_transport_limits tlim;
    uv_signal_t sigint, sigterm;
    struct csph_store *store;
    struct csph_schemas *schemas;
    struct csph_rules *rules;
    struct csph_queues *queues;
    struct csph_ingest ingest;
    uv_signal_t sighup;
    uv_timer_t due_timer;   /* the next alert deadline */
    uv_timer_t fetch_timer; /* the next held fetch to expire */
    uv_timer_t index_timer; /* commits held index work when batches stop */
    uv_timer_t heal_timer;  /* heals a fault between requests (csph_ingest_heal) */
    char heal_error[320];   /* what its last step said, "" when it worked */
    struct held_fetch *fetches;
    size_t nfetches;
    /* security curve */
    struct csph_identities ids;
    void *zap;                 /* REP socket answering ZeroMQ's ZAP requests */
    struct csph_zsock zap_zs;
    const struct csph_identity *who; /* the sender of the request in hand */
    uint32_t last_count;       /* records the last read returned (audit) */
    msgpack_zone zone; /* decoded requests of the batch in hand */
    struct pending *batch;
    msgpack_sbuffer scratch; /* replies to reads, and temporary packing */
    msgpack_sbuffer scratch2;
    msgpack_zone scan_zone;  /* events unpacked by filtered replay */
    uint64_t batch_serial;   /* tags the connections with a write in the batch */
    struct counters c;
    int64_t started_ms;
    int stopping;
    int open_handles;
};

/* ---- sending ---------------------------------------------------------- */

static void close_frames(zmq_msg_t *f, int n)
{
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

/* Send body to the client of the request whose frames are f[0..n), the
 * last frame being the request body, through the transport (at once, or
 * held in order for a client that is not reading), settling tk. The
 * envelope frames are consumed; the caller still closes f. */
static void send_reply(struct csph_server *s, struct csph_ticket *tk, zmq_msg_t *f, int n,
                       const void *body, size_t len)
{
    csph_transport_reply(s->transport, tk, f, n - 1, body, len);
}

static void reply_error(struct csph_server *s, struct csph_ticket *tk, zmq_msg_t *f, int n,
                        const struct csph_span *req, const struct csph_error *e, int with_status)
{
    msgpack_packer pk;
    s->scratch.size = 0;
    msgpack_packer_init(&pk, &s->scratch, msgpack_sbuffer_write);
    csph_reply_error(&pk, req, e, with_status);
    send_reply(s, tk, f, n, s->scratch.data, s->scratch.size);
}

/* ---- publish ---------------------------------------------------------- */

static int is_write_op(enum csph_op op)
{
    return op == CSPH_OP_PUBLISH || op == CSPH_OP_ACK || op == CSPH_OP_ALERT_UPDATE;
}

/* Reads that leave an access record (PROTOCOL.md 7): in curve mode, every
 * replay, rejects, alerts, evidence or fetch by a panel member or an
 * auditor, and every rejects by the admin (rejected events' bytes hold
 * person references). They run in the write batch so the record commits
 * before the reply leaves. */
static int is_audited(const struct pending *p)
{
    if (p->who && p->who->role == CSPH_ROLE_ADMIN)
        return p->req.op == CSPH_OP_REJECTS;
    if (!p->who || (p->who->role != CSPH_ROLE_PANEL && p->who->role != CSPH_ROLE_AUDITOR))
        return 0;
    enum csph_op op = p->req.op;
    return op == CSPH_OP_REPLAY || op == CSPH_OP_REJECTS || op == CSPH_OP_ALERTS ||
           op == CSPH_OP_EVIDENCE || op == CSPH_OP_FETCH || op == CSPH_OP_ALERT ||
           op == CSPH_OP_PERSON;
}

/* security curve: an agency publishes only its listed types, under its own
 * name. An event without `source` is stamped with it: the stored bytes are
 * the event with `source` added first (kept in the batch's zone). */
static enum csph_err authorise_event(struct csph_server *s, struct csph_event_info *info,
                                     const struct csph_span *bytes, const void **stored,
                                     size_t *stored_len, struct csph_error *e)
{
    const char *name = s->who->name;
    size_t nl = strlen(name);
    if (info->source && (info->source_len != nl || memcmp(info->source, name, nl) != 0)) {
        s->c.forbidden++;
        return csph_error_set(e, CSPH_ERR_FORBIDDEN, "source",
                              "source '%.*s' is not this client's identity '%s'; leave source "
                              "out and the hub stamps it",
                              (int)info->source_len, info->source, name);
    }
    if (!csph_identity_may_publish(s->who, info->type, info->type_len)) {
        s->c.forbidden++;
        return csph_error_set(e, CSPH_ERR_FORBIDDEN, "type",
                              "identity '%s' may not publish events of type %.*s (see the "
                              "hub's identity file)",
                              name, (int)info->type_len, info->type);
    }
    if (info->source)
        return CSPH_ERR_OK;
    const unsigned char *b = (const unsigned char *)bytes->ptr;
    uint32_t n;
    size_t hdr;
    if ((b[0] & 0xf0) == 0x80) {
        n = b[0] & 0x0f;
        hdr = 1;
    } else if (b[0] == 0xde) {
        n = (uint32_t)b[1] << 8 | b[2];
        hdr = 3;
    } else {
        n = (uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 8 | b[4];
        hdr = 5;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n + 1);
    csph_pack_str(&pk, "source");
    csph_pack_str(&pk, name);
    msgpack_sbuffer_write(&sb, bytes->ptr + hdr, bytes->len - hdr);
    char *copy = msgpack_zone_malloc(&s->zone, sb.size);
    if (copy)
        memcpy(copy, sb.data, sb.size);
    *stored_len = sb.size;
    msgpack_sbuffer_destroy(&sb);
    if (!copy)
        return csph_error_set(e, CSPH_ERR_INTERNAL, NULL, "out of memory stamping the source");
    *stored = copy;
    info->source = name;
    info->source_len = (uint32_t)nl;
    return CSPH_ERR_OK;
}

/* Validate, dedup and append one event inside the batch's transaction.
 * Returns CSPH_ERR_OK with seq and dup set, an event-level error in *e (kept as
 * a rejection), or CSPH_ERR_BUSY/CSPH_ERR_INTERNAL when the transaction is
 * lost. */
static enum csph_err publish_one(struct csph_server *s, const msgpack_object *ev,
                                 const struct csph_span *bytes, int64_t now_ms, uint64_t *seq,
                                 int *dup, struct csph_error *e)
{
    struct csph_event_info info;
    enum csph_err rc;
    if (bytes->len > s->cfg->limits.event_max)
        rc = csph_error_set(e, CSPH_ERR_TOO_LARGE, NULL,
                            "the event is %zu bytes; one event may be at most %u bytes",
                            bytes->len, s->cfg->limits.event_max);
    else
        rc = csph_schema_check(s->schemas, ev, s->who == NULL, &info, e);
    if (rc == CSPH_ERR_OK && (csph_ingest_hub_type(info.type, info.type_len) ||
                              (info.source_len == 3 && !memcmp(info.source, "hub", 3))))
        rc = info.source_len == 3 && !memcmp(info.source, "hub", 3)
                 ? csph_error_set(e, CSPH_ERR_FORBIDDEN, "source",
                                  "source 'hub' is reserved for the hub's own events; use the "
                                  "agency's name")
                 : csph_error_set(e, CSPH_ERR_FORBIDDEN, "type",
                                  "events of type %.*s are written by the hub itself",
                                  (int)info.type_len, info.type);
    const void *stored = bytes->ptr;
    size_t stored_len = bytes->len;
    if (rc == CSPH_ERR_OK && s->who)
        rc = authorise_event(s, &info, bytes, &stored, &stored_len, e);
    if (rc == CSPH_ERR_OK) {
        rc = csph_ingest_event(&s->ingest, &info, ev, stored, stored_len, now_ms, seq, dup, e);
        if (rc == CSPH_ERR_OK) {
            if (*dup)
                s->c.duplicate++;
            else
                s->c.accepted++;
            return CSPH_ERR_OK;
        }
        if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL)
            return rc;
    }
    /* Keep the rejection, with the sender's identity (curve) or whatever
     * source the event claimed. */
    const msgpack_object *src = csph_mp_get(ev, "source");
    const char *sp = "";
    size_t sl = 0;
    if (s->who) {
        sp = s->who->name;
        sl = strlen(sp);
    } else if (src && src->type == MSGPACK_OBJECT_STR && src->via.str.size <= 64) {
        sp = src->via.str.ptr;
        sl = src->via.str.size;
    }
    struct csph_error serr;
    enum csph_err src_rc =
        csph_store_reject(s->store, now_ms, sp, sl, e, bytes->ptr, bytes->len, NULL, &serr);
    if (src_rc) {
        *e = serr;
        return src_rc;
    }
    s->c.rejected_total++;
    s->c.rejected[e->code]++;
    return rc;
}

/* Pack the reply for one publish request into p->reply. Returns BUSY or
 * INTERNAL when the batch's transaction is lost. */
static enum csph_err process_publish(struct csph_server *s, struct pending *p, int64_t now_ms)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p->reply, msgpack_sbuffer_write);
    struct csph_request *r = &p->req;
    for (uint32_t i = 0; i < r->nevents; i++) {
        uint64_t seq = 0;
        int dup = 0;
        struct csph_error e;
        enum csph_err rc = publish_one(s, &r->events[i], &r->spans[i], now_ms, &seq, &dup, &e);
        if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL)
            return rc;
        if (!r->batch) {
            if (rc) {
                csph_reply_error(&pk, &r->req, &e, 1);
            } else {
                csph_reply_begin(&pk, &r->req, 1, 2);
                csph_pack_str(&pk, "status");
                csph_pack_str(&pk, dup ? "duplicate" : "accepted");
                csph_pack_str(&pk, "seq");
                msgpack_pack_uint64(&pk, seq);
            }
            continue;
        }
        if (i == 0) {
            csph_reply_begin(&pk, &r->req, 1, 1);
            csph_pack_str(&pk, "results");
            msgpack_pack_array(&pk, r->nevents);
        }
        if (rc) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "events.%u", i);
            csph_error_prefix_field(&e, prefix);
            msgpack_pack_map(&pk, 2);
            csph_pack_str(&pk, "status");
            csph_pack_str(&pk, "rejected");
            csph_pack_str(&pk, "error");
            csph_pack_error(&pk, &e);
        } else {
            msgpack_pack_map(&pk, 2);
            csph_pack_str(&pk, "status");
            csph_pack_str(&pk, dup ? "duplicate" : "accepted");
            csph_pack_str(&pk, "seq");
            msgpack_pack_uint64(&pk, seq);
        }
    }
    return CSPH_ERR_OK;
}

static int panel_arg(struct csph_server *s, const struct csph_request *r, int *panel,
                     struct csph_error *e)
{
    const char *p = NULL;
    size_t len = 0;
    enum csph_err rc = csph_wire_str(r, "panel", 1, 64, 1, &p, &len, e);
    if (rc)
        return rc;
    *panel = csph_config_panel_find(s->cfg, p, len);
    if (*panel < 0)
        return csph_error_set(e, CSPH_ERR_UNKNOWN_PANEL, "panel", "no panel named '%.*s'",
                              (int)len, p);
    if (s->who && !csph_identity_may_panel(s->who, *panel)) {
        s->c.forbidden++;
        return csph_error_set(e, CSPH_ERR_FORBIDDEN, "panel",
                              "identity '%s' may not read panel %s", s->who->name,
                              s->cfg->panels[*panel].name);
    }
    return CSPH_ERR_OK;
}

/* ack: move a consumer's durable cursor. Event-level errors are replies. */
static enum csph_err process_ack(struct csph_server *s, struct pending *p)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p->reply, msgpack_sbuffer_write);
    struct csph_error e;
    const char *consumer = NULL;
    size_t clen = 0;
    uint64_t upto = 0;
    int panel, present = 0;
    enum csph_err rc = panel_arg(s, &p->req, &panel, &e);
    if (!rc)
        rc = csph_wire_str(&p->req, "consumer", 1, 64, 1, &consumer, &clen, &e);
    if (!rc)
        rc = csph_wire_u64(&p->req, "upto", 1, UINT64_MAX, &upto, &present, &e);
    if (!rc && !present)
        rc = csph_error_set(&e, CSPH_ERR_BAD_REQUEST, "upto", "'upto' (an alert id) is required");
    if (!rc)
        rc = csph_queues_ack(s->queues, csph_store_txn(s->store), panel, consumer, clen, upto,
                             s->who ? s->who->name : NULL, &e);
    if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL)
        return rc;
    if (rc)
        csph_reply_error(&pk, &p->req.req, &e, 0);
    else
        csph_reply_begin(&pk, &p->req.req, 1, 0);
    return CSPH_ERR_OK;
}

/* alert.update: a decision, recorded as an alert.status event, when the
 * workflow allows it (decision.h). */
static enum csph_err process_alert_update(struct csph_server *s, struct pending *p,
                                          int64_t now_ms)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p->reply, msgpack_sbuffer_write);
    struct csph_error e;
    uint64_t id = 0, seq = 0, repeat = 0;
    int present = 0, panel = -1;
    struct csph_decision_request dr = {.expect = -1, .by = ""};
    const char *note = NULL;
    size_t note_len = 0;
    char by[CSPH_DECISION_BY_MAX + 1] = "";
    enum csph_err rc = csph_wire_u64(&p->req, "id", 1, UINT64_MAX, &id, &present, &e);
    if (!rc && !present)
        rc = csph_error_set(&e, CSPH_ERR_BAD_REQUEST, "id", "'id' (an alert id) is required");
    if (!rc)
        rc = csph_decision_parse(&p->req, s->who ? s->who->name : NULL, &dr, by, &e);
    if (!rc)
        rc = csph_wire_str(&p->req, "note", 0, 2000, 0, &note, &note_len, &e);
    dr.id = id;
    dr.note_len = note_len;
    if (!rc)
        rc = csph_decision_admit(s->queues, s->store, &dr, &panel, &repeat, &e);
    if ((!rc || rc == CSPH_ERR_CONFLICT || rc == CSPH_ERR_BAD_REQUEST) && panel >= 0 && s->who &&
        !csph_identity_may_panel(s->who, panel)) {
        /* Answered exactly as for an alert that does not exist: whether
         * another panel (Channel, MAPPA) has alert id is not the caller's
         * to learn, nor its status. The same words as csph_queues_panel_of's. */
        s->c.forbidden++;
        rc = csph_error_set(&e, CSPH_ERR_NOT_FOUND, "id", "no alert with id %llu",
                            (unsigned long long)id);
    }
    if (!rc && repeat)
        seq = repeat; /* a resend: recorded already, nothing written */
    else if (!rc)
        rc = csph_ingest_alert_update(&s->ingest, id, (enum csph_alert_status)dr.status, note,
                                      note_len, by[0] ? by : NULL,
                                      s->who && s->who->gateway[0] ? s->who->gateway : NULL,
                                      now_ms, &seq, &e);
    if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL)
        return rc;
    if (rc) {
        csph_reply_error(&pk, &p->req.req, &e, 0);
        return CSPH_ERR_OK;
    }
    if (!repeat)
        s->c.alert_updates++;
    csph_reply_begin(&pk, &p->req.req, 1, 1);
    csph_pack_str(&pk, "seq");
    msgpack_pack_uint64(&pk, seq);
    return CSPH_ERR_OK;
}

static void wake_fetches(struct csph_server *s, uint64_t panels);
static void arm_due_timer(struct csph_server *s);
static enum csph_err reply_replay(struct csph_server *s, msgpack_packer *pk,
                                  const struct csph_request *r, struct csph_error *e);
static enum csph_err reply_rejects(struct csph_server *s, msgpack_packer *pk,
                                   const struct csph_request *r, struct csph_error *e);
static enum csph_err reply_alerts(struct csph_server *s, msgpack_packer *pk,
                                  const struct csph_request *r, struct csph_error *e);
static enum csph_err reply_view(struct csph_server *s, msgpack_packer *pk,
                                const struct csph_request *r, struct csph_error *e);
static enum csph_err reply_evidence(struct csph_server *s, msgpack_packer *pk,
                                    const struct csph_request *r, struct csph_error *e);
static int handle_fetch(struct csph_server *s, struct csph_ticket *tk, zmq_msg_t *f, int n,
                        const struct csph_request *r, struct csph_error *e, enum csph_err *rc);

/* An audited read: answer it into p->reply (or hold the fetch), then write
 * who read what as an audit.access event in the same transaction. */
static enum csph_err process_audited_read(struct csph_server *s, struct pending *p,
                                          int64_t now_ms)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p->reply, msgpack_sbuffer_write);
    struct csph_error e;
    enum csph_err rc = CSPH_ERR_OK;
    s->last_count = 0;
    switch (p->req.op) {
    case CSPH_OP_REPLAY: rc = reply_replay(s, &pk, &p->req, &e); break;
    case CSPH_OP_REJECTS: rc = reply_rejects(s, &pk, &p->req, &e); break;
    case CSPH_OP_ALERTS: rc = reply_alerts(s, &pk, &p->req, &e); break;
    case CSPH_OP_EVIDENCE: rc = reply_evidence(s, &pk, &p->req, &e); break;
    case CSPH_OP_ALERT:
    case CSPH_OP_PERSON: rc = reply_view(s, &pk, &p->req, &e); break;
    default:
        if (handle_fetch(s, &p->tk, p->frames, p->nframes, &p->req, &e, &rc)) {
            p->held = 1; /* answered when an alert arrives or the wait ends */
            p->held_at = s->nfetches - 1;
        }
        else if (!rc)
            msgpack_sbuffer_write(&p->reply, s->scratch.data, s->scratch.size);
    }
    if (rc)
        csph_reply_error(&pk, &p->req.req, &e, 0);
    /* The query as the client sent it, minus nothing: filters are what an
     * auditor of the auditors needs to see. */
    zmq_msg_t *body = &p->frames[p->nframes - 1];
    char *query = NULL;
    if (csph_msgpack_to_json(zmq_msg_data(body), zmq_msg_size(body), 0, &query) != 0)
        query = NULL;
    rc = csph_ingest_audit(&s->ingest, p->who->name, csph_role_name(p->who->role),
                           p->who->gateway[0] ? p->who->gateway : NULL, csph_op_name(p->req.op),
                           query ? query : "", query ? strlen(query) : 0,
                           rc ? 0 : s->last_count, now_ms, &e);
    free(query);
    if (rc == CSPH_ERR_OK)
        s->c.audit_records++;
    return rc;
}

static void arm_heal(struct csph_server *s);

/* The index commit of held batches (csph_store_index_settle), counted with
 * the commits in commit_us. */
static void on_index_quiet(uv_timer_t *t)
{
    struct csph_server *s = t->data;
    uint64_t t0 = uv_hrtime();
    csph_store_index_settle(s->store);
    s->c.commit_us += (uv_hrtime() - t0) / 1000;
    arm_heal(s);
}

/* Heal a fault between requests, a step a turn of the loop so reads go on;
 * a step that fails (the disk still full, say) is tried again a second
 * later rather than at once. The next step is due in 1 ms, not 0: libuv
 * 1.44 runs a timer re-armed with 0 from its own callback again in the
 * same pass, before polling the sockets. */
static void on_heal(uv_timer_t *t)
{
    struct csph_server *s = t->data;
    struct csph_error e;
    int more = 0;
    enum csph_err rc = csph_ingest_heal(&s->ingest, &more, &e);
    /* A step that fails is retried; what it said is logged when it changes. */
    if (rc && strcmp(e.message, s->heal_error) != 0)
        LOG_ERROR("hub", "repairing after a disk error: %s (retrying every second)", e.message);
    snprintf(s->heal_error, sizeof s->heal_error, "%s", rc ? e.message : "");
    if (more && !s->stopping)
        uv_timer_start(&s->heal_timer, on_heal, rc ? 1000 : 1, 0);
}

static void arm_heal(struct csph_server *s)
{
    if (!s->stopping && csph_store_needs_heal(s->store) &&
        !uv_is_active((uv_handle_t *)&s->heal_timer))
        uv_timer_start(&s->heal_timer, on_heal, 0, 0);
}

/* After a batch's replies: commit the index once it holds enough batches,
 * and otherwise when no batch has come for limits.index_hold_ms, so that a
 * quiet hub does not sit on uncommitted index work (a kill -9 would make
 * the next start catch it up). */
static void settle_index(struct csph_server *s)
{
    uint64_t t0 = uv_hrtime();
    int held = csph_store_index_settle_due(s->store);
    s->c.commit_us += (uv_hrtime() - t0) / 1000;
    if (held)
        uv_timer_start(&s->index_timer, on_index_quiet, s->cfg->limits.index_hold_ms, 0);
    else
        uv_timer_stop(&s->index_timer);
}

/* Run the batch in one transaction, commit with a sync, then reply. */
static void process_batch(struct csph_server *s, int n)
{
    /* Where a batch's time goes, for `stats`: the work inside the write
     * transaction, and its commit (the rule state's flush and the synced
     * LMDB commit). Monotonic, in microseconds. */
    uint64_t t0 = uv_hrtime();
    int64_t now_ms = csph_clock_now_ms(s->clock);
    struct csph_error e;
    uint64_t raised = s->ingest.alerts_raised;
    /* What the batch counts stands only if it commits: stats equal the log. */
    struct counters before = s->c;
    enum csph_err rc = csph_ingest_begin(&s->ingest, &e), begin_rc = rc;
    for (int i = 0; i < n && rc == CSPH_ERR_OK; i++) {
        struct pending *p = &s->batch[i];
        p->reply.size = 0;
        s->who = p->who;
        if (is_audited(p))
            rc = process_audited_read(s, p, now_ms);
        else if (p->req.op == CSPH_OP_ACK)
            rc = process_ack(s, p);
        else if (p->req.op == CSPH_OP_ALERT_UPDATE)
            rc = process_alert_update(s, p, now_ms);
        else
            rc = process_publish(s, p, now_ms);
    }
    s->who = NULL;
    uint64_t t1 = uv_hrtime();
    s->c.batch_work_us += (t1 - t0) / 1000;
    if (rc == CSPH_ERR_OK) {
        rc = csph_ingest_commit(&s->ingest, &e);
        if (rc == CSPH_ERR_OK)
            s->c.commits++;
        s->c.commit_us += (uv_hrtime() - t1) / 1000;
    } else {
        csph_ingest_abort(&s->ingest);
    }
    if (rc == CSPH_ERR_OK)
        s->c.alerts_raised += s->ingest.alerts_raised - raised;
    else
        s->ingest.alerts_raised = raised;
    if (rc != CSPH_ERR_OK) {
        /* Nothing of this batch is durable: every request gets the same
         * answer and the counters of the batch are not trusted. */
        uint64_t work_us = s->c.batch_work_us, commit_us = s->c.commit_us;
        uint64_t requests = s->c.requests, malformed = s->c.malformed;
        s->c = before;
        s->c.batch_work_us = work_us;
        s->c.commit_us = commit_us;
        s->c.requests = requests;
        s->c.malformed = malformed;
        s->c.commit_failures++;
        struct csph_error out;
        if (rc == CSPH_ERR_BUSY)
            s->c.busy += (uint64_t)n;
        if (begin_rc == CSPH_ERR_BUSY)
            out = e; /* the index or the log is being repaired: its own words */
        else if (rc == CSPH_ERR_BUSY)
            csph_error_set(&out, CSPH_ERR_BUSY, NULL,
                           "the hub's storage limit is reached (limits.map_size_mb); nothing was "
                           "done; retry after the operator raises it");
        else
            csph_error_set(&out, CSPH_ERR_INTERNAL, NULL,
                           "the hub could not commit this batch; nothing was done; retry");
        /* A fetch this batch held is let go: its audit.access record went
         * with the batch, so it is answered now like the rest, never later
         * with alerts nobody recorded reading. Newest first: each is then
         * the last of s->fetches. */
        for (int i = n - 1; i >= 0; i--) {
            struct pending *p = &s->batch[i];
            if (!p->held || p->held_at + 1 != s->nfetches)
                continue;
            struct held_fetch *h = &s->fetches[--s->nfetches];
            csph_transport_fetch_done(s->transport, &h->tk);
            for (int j = 0; j < h->nenv; j++)
                zmq_msg_move(&p->frames[j], &h->env[j]);
            free(h->req);
            p->held = 0;
        }
        for (int i = 0; i < n; i++) {
            s->batch[i].reply.size = 0;
            msgpack_packer pk;
            msgpack_packer_init(&pk, &s->batch[i].reply, msgpack_sbuffer_write);
            csph_reply_error(&pk, &s->batch[i].req.req, &out,
                             s->batch[i].req.op == CSPH_OP_PUBLISH && !s->batch[i].req.batch);
        }
    }
    if ((uint64_t)n > s->c.batch_requests_max)
        s->c.batch_requests_max = (uint64_t)n;
    for (int i = 0; i < n; i++) {
        struct pending *p = &s->batch[i];
        if (!p->held)
            send_reply(s, &p->tk, p->frames, p->nframes, p->reply.data, p->reply.size);
        close_frames(p->frames, p->nframes);
    }
    if (rc == CSPH_ERR_OK) {
        wake_fetches(s, csph_queues_touched(s->queues));
        settle_index(s); /* after the replies: they need only the log */
        arm_due_timer(s);
    }
    arm_heal(s);
}

/* ---- deadlines -------------------------------------------------------- */

static void on_due(uv_timer_t *t)
{
    struct csph_server *s = t->data;
    int64_t now = csph_clock_now_ms(s->clock);
    size_t fired = 64;
    /* Bounded transactions: a backlog of passed deadlines (say after a long
     * outage) is worked off 64 at a time without holding the loop. */
    while (fired == 64 && !s->stopping) {
        struct csph_error e;
        enum csph_err rc = csph_ingest_begin(&s->ingest, &e);
        if (!rc)
            rc = csph_ingest_fire_due(&s->ingest, now, 64, &fired, &e);
        if (!rc)
            rc = csph_ingest_commit(&s->ingest, &e);
        else
            csph_ingest_abort(&s->ingest);
        if (rc) {
            /* busy (a full disk, a repair under way) is logged once by the
             * store; a line a second here would bury it. */
            if (rc != CSPH_ERR_BUSY)
                LOG_ERROR("hub", "cannot record passed deadlines: %s; retrying in 1 s",
                          e.message);
            uv_timer_start(&s->due_timer, on_due, 1000, 0);
            return;
        }
        s->c.commits++;
        s->c.timers_fired += fired;
        wake_fetches(s, csph_queues_touched(s->queues));
        settle_index(s);
    }
    arm_due_timer(s);
}

static void arm_due_timer(struct csph_server *s)
{
    int64_t due;
    if (s->stopping || !csph_queues_next_due(s->queues, &due)) {
        uv_timer_stop(&s->due_timer);
        return;
    }
    int64_t wait = due - csph_clock_now_ms(s->clock);
    /* Re-check at least hourly: the hub clock may be moved (tests). */
    if (wait > 3600 * 1000)
        wait = 3600 * 1000;
    uv_timer_start(&s->due_timer, on_due, wait > 0 ? (uint64_t)wait : 0, 0);
}

void csph_server_clock_changed(struct csph_server *s)
{
    arm_due_timer(s);
}

/* ---- reads ------------------------------------------------------------ */

static void reply_ping(struct csph_server *s, msgpack_packer *pk, const struct csph_request *r)
{
    csph_reply_begin(pk, &r->req, 1, 3);
    csph_pack_str(pk, "version");
    csph_pack_str(pk, CSPH_PROTOCOL_VERSION " csphub " CSPH_VERSION);
    csph_pack_str(pk, "last_seq");
    msgpack_pack_uint64(pk, csph_store_last_seq(s->store));
    csph_pack_str(pk, "protocol");
    csph_pack_str(pk, CSPH_PROTOCOL_VERSION);
}

/* stats' "health": whether the log and the index are sound, and while
 * one heals, how far it got (PROTOCOL.md 7). */
static void pack_health(struct csph_server *s, msgpack_packer *pk)
{
    struct csph_store_health h;
    csph_store_health(s->store, &h);
    int ok = !strcmp(h.index, "ok") && !strcmp(h.log, "ok");
    csph_pack_str(pk, "health");
    msgpack_pack_map(pk, 9);
    csph_pack_str(pk, "status");
    csph_pack_str(pk, ok ? "ok" : "degraded");
    csph_pack_str(pk, "index");
    csph_pack_str(pk, h.index);
    csph_pack_str(pk, "index_applied");
    msgpack_pack_uint64(pk, h.index_applied);
    csph_pack_str(pk, "index_behind");
    msgpack_pack_uint64(pk, h.log_last > h.index_applied ? h.log_last - h.index_applied : 0);
    csph_pack_str(pk, "index_failures");
    msgpack_pack_uint64(pk, h.index_failures);
    csph_pack_str(pk, "index_rebuilds");
    msgpack_pack_uint64(pk, h.index_rebuilds);
    csph_pack_str(pk, "last_error");
    csph_pack_str(pk, h.index_why);
    csph_pack_str(pk, "log");
    csph_pack_str(pk, h.log);
    csph_pack_str(pk, "log_reopens");
    msgpack_pack_uint64(pk, h.log_reopens);
}

static void reply_stats(struct csph_server *s, msgpack_packer *pk, const struct csph_request *r)
{
    csph_reply_begin(pk, &r->req, 1, 1);
    csph_pack_str(pk, "counters");
    int ncodes = 0;
    for (int i = 0; i < CSPH_ERR__COUNT; i++)
        ncodes += s->c.rejected[i] != 0;
    uint32_t n = 0;
#define CSPH_COUNTER_COUNT(name) n++;
    CSPH_COUNTER_MAP(CSPH_COUNTER_COUNT)
#undef CSPH_COUNTER_COUNT
#define CSPH_COUNTER_COUNT(name) n++;
    CSPH_TRANSPORT_COUNTERS(CSPH_COUNTER_COUNT)
#undef CSPH_COUNTER_COUNT
    msgpack_pack_map(pk, n + 8);
#define CSPH_COUNTER_PACK(name)                                                \
    csph_pack_str(pk, #name);                                                  \
    msgpack_pack_uint64(pk, s->c.name);
    CSPH_COUNTER_MAP(CSPH_COUNTER_PACK)
#undef CSPH_COUNTER_PACK
    csph_pack_str(pk, "rejected");
    msgpack_pack_map(pk, (size_t)ncodes);
    for (int i = 0; i < CSPH_ERR__COUNT; i++)
        if (s->c.rejected[i]) {
            csph_pack_str(pk, csph_err_name((enum csph_err)i));
            msgpack_pack_uint64(pk, s->c.rejected[i]);
        }
    csph_pack_str(pk, "last_seq");
    msgpack_pack_uint64(pk, csph_store_last_seq(s->store));
    csph_pack_str(pk, "rejects_kept");
    msgpack_pack_uint64(pk, csph_store_last_reject(s->store));
    const struct csph_transport_stats *ts = csph_transport_stats(s->transport);
    csph_pack_str(pk, "replies_waiting");
    msgpack_pack_uint64(pk, ts->replies_waiting);
#define CSPH_TRANSPORT_PACK(name)                                              \
    csph_pack_str(pk, #name);                                                  \
    msgpack_pack_uint64(pk, ts->name);
    CSPH_TRANSPORT_COUNTERS(CSPH_TRANSPORT_PACK)
#undef CSPH_TRANSPORT_PACK
    uint64_t counts[CSPH_MAX_PANELS];
    csph_queues_counts(s->queues, counts);
    csph_pack_str(pk, "alerts");
    msgpack_pack_map(pk, s->cfg->npanels);
    for (size_t i = 0; i < s->cfg->npanels; i++) {
        csph_pack_str(pk, s->cfg->panels[i].name);
        msgpack_pack_uint64(pk, counts[i]);
    }
    pack_health(s, pk);
    csph_pack_str(pk, "rule_version");
    csph_pack_str(pk, s->rules ? csph_rules_digest(s->rules) : "none");
    csph_pack_str(pk, "uptime_s");
    msgpack_pack_uint64(pk, (uint64_t)(csph_clock_now_ms(s->clock) - s->started_ms) / 1000);
}

/* A reply carrying a list: {req, ok, KEY: [count items, packed in items]}
 * and, when paged, next and end. */
static void pack_list(msgpack_packer *pk, const struct csph_span *req, const char *key,
                      const msgpack_sbuffer *items, uint32_t count, int paged, uint64_t last,
                      int end)
{
    csph_reply_begin(pk, req, 1, paged ? 3 : 1);
    csph_pack_str(pk, key);
    msgpack_pack_array(pk, count);
    csph_pack_raw(pk, items->data, items->size);
    if (paged) {
        csph_pack_str(pk, "next");
        msgpack_pack_uint64(pk, last);
        csph_pack_str(pk, "end");
        if (end)
            msgpack_pack_true(pk);
        else
            msgpack_pack_false(pk);
    }
}

/* The bytes a read reply's list may take (PROTOCOL.md 1): the reply
 * limit less its envelope and the echoed req. */
static size_t reply_room(const struct csph_server *s, const struct csph_request *r)
{
    size_t limit = s->cfg->limits.reply_max, env = CSPH_REPLY_ENVELOPE + r->req.len;
    return limit > env ? limit - env : 0;
}

struct replay_ctx {
    struct csph_server *s;
    msgpack_packer *pk; /* packs into s->scratch2 */
    uint32_t count, max;
    size_t room;         /* bytes the entries may take */
    uint64_t stop_before; /* the event that did not fit (0: none) */
    int stopped;         /* the last visit asked to stop */
    uint64_t examined;
    int has_since, has_till;
    int64_t since_ms, till_ms;
    const msgpack_object *types;
    const char *person;
    size_t person_len;
    int64_t when_ms; /* the last received_at formatted, and its text */
    char when[32];
    int when_len;
};

static int replay_match(struct replay_ctx *c, const struct csph_stored_event *ev)
{
    if (c->has_since && ev->occurred_ms < c->since_ms)
        return 0;
    if (c->has_till && ev->occurred_ms >= c->till_ms)
        return 0;
    if (c->types) {
        int hit = 0;
        for (uint32_t i = 0; i < c->types->via.array.size && !hit; i++)
            hit = csph_mp_str_eqn(&c->types->via.array.ptr[i], ev->type, ev->type_len);
        if (!hit)
            return 0;
    }
    if (c->person) {
        struct csph_event_info info = {0};
        info.type_index = csph_schemas_find(c->s->schemas, ev->type, ev->type_len);
        if (info.type_index < 0)
            return 0;
        msgpack_object obj;
        size_t off = 0;
        msgpack_zone_clear(&c->s->scan_zone);
        if (msgpack_unpack(ev->bytes, ev->len, &off, &c->s->scan_zone, &obj) !=
            MSGPACK_UNPACK_SUCCESS)
            return 0;
        return csph_schema_mentions_person(c->s->schemas, &info, &obj, c->person, c->person_len);
    }
    return 1;
}

/* Returns 1 to stop: after this event when the reply is full (max events,
 * or its bytes), or before it (c->stop_before) when it would not fit. */
static int replay_visit(void *vctx, const struct csph_stored_event *ev)
{
    struct replay_ctx *c = vctx;
    c->examined++;
    if (!replay_match(c, ev))
        return 0;
    /* Bound the reply's bytes (10,000 events of 64 KiB would be 640 MiB):
     * an event that would take it past the limit starts the next reply. */
    if (c->count && c->s->scratch2.size + ev->len + REPLAY_ENTRY_OVERHEAD > c->room) {
        c->stop_before = ev->seq;
        return 1;
    }
    /* Events of one batch share received_at: format it once. */
    if (ev->received_ms != c->when_ms || !c->when_len) {
        c->when_ms = ev->received_ms;
        c->when_len = csph_time_format(ev->received_ms, c->when);
    }
    const char *when = c->when;
    int wl = c->when_len;
    msgpack_pack_map(c->pk, 3);
    csph_pack_str(c->pk, "seq");
    msgpack_pack_uint64(c->pk, ev->seq);
    csph_pack_str(c->pk, "received_at");
    csph_pack_strn(c->pk, when, (size_t)wl);
    csph_pack_str(c->pk, "event");
    csph_pack_raw(c->pk, ev->bytes, ev->len);
    return ++c->count == c->max || c->s->scratch2.size >= c->room;
}

static int replay_get_visit(void *vctx, const struct csph_stored_event *ev)
{
    struct replay_ctx *c = vctx;
    c->stopped = replay_visit(c, ev);
    return 0;
}

/* csph_store_scan with replay_visit: an event that did not fit is the
 * first of the next reply. */
static enum csph_err replay_scan(struct csph_server *s, struct replay_ctx *c, uint64_t after,
                                 uint64_t until, uint64_t scan_max, uint64_t *last, int *end,
                                 struct csph_error *e)
{
    c->stop_before = 0;
    enum csph_err rc = csph_store_scan(s->store, after, until, scan_max, replay_visit, c, last,
                                       end, e);
    if (!rc && c->stop_before) {
        *last = c->stop_before - 1;
        *end = 0;
    }
    return rc;
}

struct seq_list {
    uint64_t *v;
    size_t n, cap;
    uint64_t after, until;
    int oom;
};

static int seq_collect(void *ctx, int64_t occurred_ms, uint64_t seq)
{
    struct seq_list *l = ctx;
    (void)occurred_ms;
    if (seq <= l->after || (l->until && seq > l->until))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 256;
        uint64_t *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->oom = 1;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = seq;
    return 0;
}

static int cmp_seq(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* replay with `person`: the events the person index names (its committed
 * part, up to *applied), in seq order, each read by seq; then the log
 * after *applied, which the index does not hold yet, scanned and matched as
 * before. Together: every event naming the person after `after`, in seq
 * order, paged the same way. At most replay_scan_max events are examined
 * per reply, as for any filtered replay. */
static enum csph_err replay_person(struct csph_server *s, struct replay_ctx *c, uint64_t after,
                                   uint64_t until, uint64_t *last, int *end, struct csph_error *e)
{
    struct seq_list l = {.after = after, .until = until};
    uint64_t applied = 0, scan_max = s->cfg->limits.replay_scan_max;
    int64_t from = c->has_since ? c->since_ms : INT64_MIN, to = INT64_MAX;
    enum csph_err rc = CSPH_ERR_OK;
    if (c->has_till)
        to = c->till_ms > INT64_MIN ? c->till_ms - 1 : INT64_MIN; /* till is exclusive */
    if (from <= to) {
        struct csph_error ie;
        if (csph_store_refs(s->store, CSPH_REF_PERSON, c->person, c->person_len, from, to,
                            seq_collect, &l, &applied, &ie) ||
            l.oom) {
            /* The log alone still answers, only slower. */
            LOG_WARN("hub", "replay by person reads the whole log: %s",
                     l.oom ? "out of memory for the person index's answer" : ie.message);
            l.n = 0;
            applied = 0;
        }
    } else {
        /* No time can match; the index has nothing to add. */
        applied = 0;
    }
    /* The index's committed part ends at applied; what it holds past
     * that (none, but be exact) is read from the log's tail. */
    size_t n = 0;
    if (l.n)
        qsort(l.v, l.n, sizeof *l.v, cmp_seq);
    for (size_t i = 0; i < l.n; i++)
        if (l.v[i] <= applied && (!n || l.v[i] != l.v[n - 1]))
            l.v[n++] = l.v[i];
    uint64_t indexed_to = until && until < applied ? until : applied;
    uint64_t examined0 = c->examined;
    *last = after;
    *end = 1;
    for (size_t i = 0; i < n; i++) {
        if (c->examined - examined0 == scan_max) {
            *end = 0;
            goto done;
        }
        c->stop_before = 0;
        c->stopped = 0;
        struct csph_error ge;
        enum csph_err grc = csph_store_get(s->store, l.v[i], replay_get_visit, c, &ge);
        if (grc && grc != CSPH_ERR_NOT_FOUND) {
            *e = ge;
            rc = grc;
            goto done;
        }
        s->c.replay_person_indexed++;
        if (c->stop_before) {
            *last = c->stop_before - 1;
            *end = 0;
            goto done;
        }
        *last = l.v[i];
        if (c->stopped) {
            /* Full. Anything left: more the index named, or a tail. */
            *end = i + 1 == n && !(csph_store_last_seq(s->store) > indexed_to &&
                                   (!until || until > indexed_to));
            goto done;
        }
    }
    /* Everything the index holds for this query is in the reply. */
    if (indexed_to > *last)
        *last = indexed_to;
    if (until && *last >= until)
        goto done;
    uint64_t examined = c->examined - examined0;
    if (examined >= scan_max) {
        *end = csph_store_last_seq(s->store) <= *last;
        goto done;
    }
    uint64_t tail0 = c->examined;
    rc = replay_scan(s, c, *last, until, scan_max - examined, last, end, e);
    s->c.replay_person_scanned += c->examined - tail0;
done:
    free(l.v);
    return rc;
}

static enum csph_err time_arg(const struct csph_request *r, const char *key, int *has, int64_t *ms,
                              struct csph_error *e)
{
    const char *p = NULL, *why = NULL;
    size_t len = 0;
    enum csph_err rc = csph_wire_str(r, key, 1, 64, 0, &p, &len, e);
    if (rc || !p)
        return rc;
    if (csph_time_parse(p, len, ms, &why) != 0)
        return csph_error_set(e, CSPH_ERR_BAD_REQUEST, key, "'%s' %s", key, why);
    *has = 1;
    return CSPH_ERR_OK;
}

static enum csph_err reply_replay(struct csph_server *s, msgpack_packer *pk,
                                  const struct csph_request *r, struct csph_error *e)
{
    struct replay_ctx c = {.s = s};
    uint64_t after = 0, until = 0, max = 1000;
    enum csph_err rc;
    if ((rc = csph_wire_u64(r, "after", 0, UINT64_MAX, &after, NULL, e)) ||
        (rc = csph_wire_u64(r, "until", 0, UINT64_MAX, &until, NULL, e)) ||
        (rc = csph_wire_u64(r, "max", 1, s->cfg->limits.replay_max, &max, NULL, e)) ||
        (rc = time_arg(r, "since", &c.has_since, &c.since_ms, e)) ||
        (rc = time_arg(r, "till", &c.has_till, &c.till_ms, e)) ||
        (rc = csph_wire_str(r, "person", 1, 64, 0, &c.person, &c.person_len, e)))
        return rc;
    c.types = csph_mp_get(&r->root, "types");
    if (c.types) {
        int ok = c.types->type == MSGPACK_OBJECT_ARRAY && c.types->via.array.size <= 64;
        for (uint32_t i = 0; ok && i < c.types->via.array.size; i++)
            ok = c.types->via.array.ptr[i].type == MSGPACK_OBJECT_STR;
        if (!ok)
            return csph_error_set(e, CSPH_ERR_BAD_REQUEST, "types",
                                  "'types' must be an array of up to 64 type names");
    }
    if (c.person && !csph_person_ref_valid(c.person, c.person_len))
        return csph_error_set(e, CSPH_ERR_BAD_REQUEST, "person",
                              "'person' must be a person reference: 1-64 characters from "
                              "A-Z a-z 0-9 . _ : -");
    c.max = (uint32_t)max;
    c.room = reply_room(s, r);
    msgpack_packer epk;
    s->scratch2.size = 0;
    msgpack_packer_init(&epk, &s->scratch2, msgpack_sbuffer_write);
    c.pk = &epk;
    int filtered = c.has_since || c.has_till || c.types || c.person;
    uint64_t last = after;
    int end = 1;
    /* A filtered replay examines at most replay_scan_max events per reply,
     * so one query cannot hold the loop; `next` lets the client go on. */
    if (c.person)
        rc = replay_person(s, &c, after, until, &last, &end, e);
    else
        rc = replay_scan(s, &c, after, until, filtered ? s->cfg->limits.replay_scan_max : max,
                         &last, &end, e);
    if (rc)
        return rc;
    s->c.replay_requests++;
    s->c.replay_events += c.count;
    s->last_count = c.count;
    pack_list(pk, &r->req, "events", &s->scratch2, c.count, 1, last, end);
    return CSPH_ERR_OK;
}

struct rejects_ctx {
    msgpack_packer *pk;
    const msgpack_sbuffer *out;
    size_t room;
    uint32_t count;
};

static int rejects_visit(void *vctx, const struct csph_stored_reject *rj)
{
    struct rejects_ctx *c = vctx;
    /* A rejection's bytes may be a whole message: one that would take the
     * reply past its limit starts the next reply. */
    if (c->count && c->out->size + rj->len + strlen(rj->message) + 512 > c->room)
        return 1;
    char when[32];
    int wl = csph_time_format(rj->received_ms, when);
    msgpack_pack_map(c->pk, 5);
    csph_pack_str(c->pk, "id");
    msgpack_pack_uint64(c->pk, rj->id);
    csph_pack_str(c->pk, "received_at");
    csph_pack_strn(c->pk, when, (size_t)wl);
    csph_pack_str(c->pk, "source");
    csph_pack_strn(c->pk, rj->source, rj->source_len);
    csph_pack_str(c->pk, "error");
    int has_field = rj->field[0] != 0;
    msgpack_pack_map(c->pk, 2 + (has_field ? 1 : 0));
    csph_pack_str(c->pk, "code");
    csph_pack_str(c->pk, rj->code);
    /* Kept rejections quote the event, which may not be UTF-8. */
    csph_pack_str(c->pk, "message");
    csph_pack_text(c->pk, rj->message, strlen(rj->message));
    if (has_field) {
        csph_pack_str(c->pk, "field");
        csph_pack_text(c->pk, rj->field, strlen(rj->field));
    }
    csph_pack_str(c->pk, "bytes");
    msgpack_pack_bin(c->pk, rj->len);
    msgpack_pack_bin_body(c->pk, rj->bytes, rj->len);
    c->count++;
    return 0;
}

#define DROPPED_SOURCES_MAX 100

struct dropped_ctx {
    msgpack_packer *pk;
    uint32_t n;
};

static int dropped_visit(void *vctx, const char *source, size_t len, uint64_t count,
                         uint64_t bytes, uint64_t dropped)
{
    struct dropped_ctx *d = vctx;
    (void)count;
    (void)bytes;
    if (!dropped)
        return 0;
    csph_pack_strn(d->pk, source, len);
    msgpack_pack_uint64(d->pk, dropped);
    return ++d->n == DROPPED_SOURCES_MAX;
}

static enum csph_err reply_rejects(struct csph_server *s, msgpack_packer *pk,
                                   const struct csph_request *r, struct csph_error *e)
{
    uint64_t after = 0, max = 1000, last;
    int end;
    enum csph_err rc;
    if ((rc = csph_wire_u64(r, "after", 0, UINT64_MAX, &after, NULL, e)) ||
        (rc = csph_wire_u64(r, "max", 1, s->cfg->limits.replay_max, &max, NULL, e)))
        return rc;
    msgpack_packer epk;
    s->scratch2.size = 0;
    msgpack_packer_init(&epk, &s->scratch2, msgpack_sbuffer_write);
    /* Room kept for the dropped sources' map. */
    size_t room = reply_room(s, r);
    struct rejects_ctx c = {.pk = &epk, .out = &s->scratch2,
                            .room = room > 4 * DROPPED_SOURCES_MAX * 80
                                        ? room - DROPPED_SOURCES_MAX * 80
                                        : room};
    if ((rc = csph_store_rejects(s->store, after, max, rejects_visit, &c, &last, &end, e)))
        return rc;
    /* What the bound per source dropped (PROTOCOL.md 7): the total, and
     * the sources it dropped from (at most DROPPED_SOURCES_MAX named). */
    struct dropped_ctx d = {.pk = &epk};
    uint64_t dropped;
    size_t list_end = s->scratch2.size;
    if ((rc = csph_store_reject_usage(s->store, dropped_visit, &d, &dropped, e)))
        return rc;
    s->last_count = c.count;
    csph_reply_begin(pk, &r->req, 1, 5);
    csph_pack_str(pk, "rejects");
    msgpack_pack_array(pk, c.count);
    csph_pack_raw(pk, s->scratch2.data, list_end);
    csph_pack_str(pk, "next");
    msgpack_pack_uint64(pk, last);
    csph_pack_str(pk, "end");
    if (end)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    csph_pack_str(pk, "dropped");
    msgpack_pack_uint64(pk, dropped);
    csph_pack_str(pk, "dropped_by_source");
    msgpack_pack_map(pk, d.n);
    csph_pack_raw(pk, s->scratch2.data + list_end, s->scratch2.size - list_end);
    return CSPH_ERR_OK;
}


static enum csph_err fetch_args(struct csph_server *s, const struct csph_request *r, int *panel,
                                const char **consumer, size_t *clen, uint64_t *max,
                                uint64_t *wait_ms, struct csph_error *e)
{
    enum csph_err rc = panel_arg(s, r, panel, e);
    if (!rc)
        rc = csph_wire_str(r, "consumer", 1, 64, 1, consumer, clen, e);
    if (!rc)
        rc = csph_wire_u64(r, "max", 1, 1000, max, NULL, e);
    if (!rc)
        rc = csph_wire_u64(r, "wait_ms", 0, 30000, wait_ms, NULL, e);
    return rc;
}

/* Pack the fetch reply for a consumer into s->scratch; *count alerts.
 * req_len is the echoed req's length (it counts towards the reply's
 * limit). `next` is the last alert in the reply (what to ack), `end`
 * whether nothing more is waiting after it. */
static enum csph_err fetch_reply(struct csph_server *s, const struct csph_span *req, int panel,
                                 const char *consumer, size_t clen, uint32_t max, uint32_t *count,
                                 struct csph_error *e)
{
    msgpack_packer ipk, pk;
    s->scratch2.size = 0;
    msgpack_packer_init(&ipk, &s->scratch2, msgpack_sbuffer_write);
    struct csph_request shape = {.req = *req};
    uint64_t last = 0;
    int end = 1;
    enum csph_err rc = csph_queues_fetch(s->queues, panel, consumer, clen, max,
                                         reply_room(s, &shape), &ipk, count, &last, &end, e);
    if (rc)
        return rc;
    s->scratch.size = 0;
    msgpack_packer_init(&pk, &s->scratch, msgpack_sbuffer_write);
    pack_list(&pk, req, "alerts", &s->scratch2, *count, 1, last, end);
    return CSPH_ERR_OK;
}

static void on_fetch_timer(uv_timer_t *t);

static void arm_fetch_timer(struct csph_server *s)
{
    if (!s->nfetches) {
        uv_timer_stop(&s->fetch_timer);
        return;
    }
    uint64_t first = UINT64_MAX, now = uv_now(s->loop);
    for (size_t i = 0; i < s->nfetches; i++)
        if (s->fetches[i].expires < first)
            first = s->fetches[i].expires;
    uv_timer_start(&s->fetch_timer, on_fetch_timer, first > now ? first - now : 0, 0);
}

/* While data.mdb is being reopened (csph_store_log_failed) nothing may
 * read it: 1 with a busy error in *e then. */
static int log_reopening(struct csph_server *s, struct csph_error *e)
{
    if (!csph_store_log_failed(s->store))
        return 0;
    csph_error_set(e, CSPH_ERR_BUSY, NULL,
                   "the hub is reopening its log after a disk error; nothing was read; retry "
                   "shortly");
    return 1;
}

/* Answer held fetch i (with whatever its query finds now) and drop it. */
static void release_fetch(struct csph_server *s, size_t i)
{
    struct held_fetch *h = &s->fetches[i];
    struct csph_span req = {h->req, h->req_len};
    struct csph_error e;
    uint32_t count;
    zmq_msg_t frames[MAX_FRAMES + 1];
    for (int j = 0; j < h->nenv; j++) {
        zmq_msg_init(&frames[j]);
        zmq_msg_move(&frames[j], &h->env[j]);
    }
    zmq_msg_init(&frames[h->nenv]); /* stands for the request body */
    csph_transport_fetch_done(s->transport, &h->tk);
    if (log_reopening(s, &e) ||
        fetch_reply(s, &req, h->panel, h->consumer, h->consumer_len, h->max, &count, &e))
        reply_error(s, &h->tk, frames, h->nenv + 1, &req, &e, 0);
    else
        send_reply(s, &h->tk, frames, h->nenv + 1, s->scratch.data, s->scratch.size);
    close_frames(frames, h->nenv + 1);
    free(h->req);
    s->fetches[i] = s->fetches[--s->nfetches];
}

static void on_fetch_timer(uv_timer_t *t)
{
    struct csph_server *s = t->data;
    uint64_t now = uv_now(s->loop);
    for (size_t i = 0; i < s->nfetches;)
        if (s->fetches[i].expires <= now)
            release_fetch(s, i);
        else
            i++;
    arm_fetch_timer(s);
}

static void wake_fetches(struct csph_server *s, uint64_t panels)
{
    if (!panels || !s->nfetches)
        return;
    for (size_t i = 0; i < s->nfetches;)
        if (panels & (1ull << s->fetches[i].panel))
            release_fetch(s, i);
        else
            i++;
    arm_fetch_timer(s);
}

/* fetch: answer now, or hold until an alert arrives or wait_ms passes.
 * Returns 1 when the request was held (frames kept). */
static int handle_fetch(struct csph_server *s, struct csph_ticket *tk, zmq_msg_t *f, int n,
                        const struct csph_request *r, struct csph_error *e, enum csph_err *rc)
{
    int panel;
    const char *consumer = NULL;
    size_t clen = 0;
    uint64_t max = 100, wait_ms = 0;
    uint32_t count = 0;
    if ((*rc = fetch_args(s, r, &panel, &consumer, &clen, &max, &wait_ms, e)))
        return 0;
    if ((*rc = fetch_reply(s, &r->req, panel, consumer, clen, (uint32_t)max, &count, e)))
        return 0;
    s->last_count = count;
    if (count || !wait_ms)
        return 0;
    if (s->nfetches >= s->cfg->limits.fetch_held_max) {
        *rc = csph_error_set(e, CSPH_ERR_BUSY, NULL,
                             "the hub already holds %zu waiting fetches (limits.fetch_held_max); "
                             "retry later or fetch without wait_ms",
                             s->nfetches);
        return 0;
    }
    /* One client's waiting fetches are bounded too, so that it cannot take
     * the hub's whole allowance from the others. */
    if ((*rc = csph_transport_fetch_hold(s->transport, tk, e)))
        return 0;
    struct held_fetch *h = &s->fetches[s->nfetches];
    h->req = NULL;
    h->req_len = r->req.len;
    if (r->req.len && !(h->req = malloc(r->req.len))) {
        csph_transport_fetch_done(s->transport, tk);
        *rc = csph_error_set(e, CSPH_ERR_BUSY, NULL, "out of memory holding a fetch");
        return 0;
    }
    h->tk = *tk; /* the reply is charged to the request's client */
    if (r->req.len)
        memcpy(h->req, r->req.ptr, r->req.len);
    h->nenv = n - 1;
    for (int j = 0; j < h->nenv; j++) {
        zmq_msg_init(&h->env[j]);
        zmq_msg_move(&h->env[j], &f[j]);
    }
    h->panel = panel;
    memcpy(h->consumer, consumer, clen);
    h->consumer_len = clen;
    h->max = (uint32_t)max;
    h->expires = uv_now(s->loop) + wait_ms;
    s->nfetches++;
    s->c.fetches_held++;
    arm_fetch_timer(s);
    return 1;
}

/* alerts, alert, person: the coordinator's views (views.h), built from
 * an explicit request context. */
static enum csph_err reply_view(struct csph_server *s, msgpack_packer *pk,
                                const struct csph_request *r, struct csph_error *e)
{
    struct csph_views_req v = {.queues = s->queues, .store = s->store, .cfg = s->cfg,
                               .who = s->who, .room = reply_room(s, r),
                               .now_ms = csph_clock_now_ms(s->clock)};
    enum csph_err rc = r->op == CSPH_OP_ALERT    ? csph_views_alert(&v, r, pk, e)
                       : r->op == CSPH_OP_PERSON ? csph_views_person(&v, r, pk, e)
                                                 : csph_views_alerts(&v, r, pk, e);
    s->c.forbidden += v.refused ? 1 : 0;
    s->last_count = v.returned;
    return rc;
}

static enum csph_err reply_alerts(struct csph_server *s, msgpack_packer *pk,
                                  const struct csph_request *r, struct csph_error *e)
{
    return reply_view(s, pk, r, e);
}

/* evidence: the rest of an alert whose evidence did not fit in one reply
 * (PROTOCOL.md 5), or any alert's evidence, paged by position. */
static enum csph_err reply_evidence(struct csph_server *s, msgpack_packer *pk,
                                    const struct csph_request *r, struct csph_error *e)
{
    uint64_t id = 0, after = 0, max = UINT32_MAX, total = 0;
    int present = 0, panel = -1;
    uint32_t count = 0;
    enum csph_err rc = csph_wire_u64(r, "id", 1, UINT64_MAX, &id, &present, e);
    if (!rc && !present)
        rc = csph_error_set(e, CSPH_ERR_BAD_REQUEST, "id", "'id' (an alert id) is required");
    if (!rc)
        rc = csph_wire_u64(r, "after", 0, UINT64_MAX, &after, NULL, e);
    if (!rc)
        rc = csph_wire_u64(r, "max", 1, UINT32_MAX, &max, NULL, e);
    if (rc)
        return rc;
    msgpack_packer ipk;
    s->scratch2.size = 0;
    msgpack_packer_init(&ipk, &s->scratch2, msgpack_sbuffer_write);
    /* As the alert's queue shows it: restricted panels' evidence is for the
     * auditor only. */
    int full = s->who && s->who->role == CSPH_ROLE_AUDITOR;
    if ((rc = csph_queues_evidence(s->queues, id, full, after, max, reply_room(s, r), &ipk,
                                   &panel, &count, &total, e)))
        return rc;
    if (s->who && !csph_identity_may_panel(s->who, panel)) {
        /* Answered exactly as for an alert that does not exist (as
         * alert.update is): whether another panel (Channel, MAPPA) has
         * alert id is not the caller's to learn. */
        s->scratch2.size = 0;
        s->c.forbidden++;
        return csph_error_set(e, CSPH_ERR_NOT_FOUND, "id", "no alert with id %llu",
                              (unsigned long long)id);
    }
    uint64_t next = (after < total ? after : total) + count;
    s->last_count = count;
    csph_reply_begin(pk, &r->req, 1, 5);
    csph_pack_str(pk, "id");
    msgpack_pack_uint64(pk, id);
    csph_pack_str(pk, "total");
    msgpack_pack_uint64(pk, total);
    csph_pack_str(pk, "evidence");
    msgpack_pack_array(pk, count);
    csph_pack_raw(pk, s->scratch2.data, s->scratch2.size);
    csph_pack_str(pk, "next");
    msgpack_pack_uint64(pk, next);
    csph_pack_str(pk, "end");
    if (next >= total)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    return CSPH_ERR_OK;
}

/* Answer a read at once from a read transaction. */
static void handle_read(struct csph_server *s, struct csph_ticket *tk, zmq_msg_t *f, int n,
                        const struct csph_request *r)
{
    msgpack_packer pk;
    struct csph_error e;
    enum csph_err rc = CSPH_ERR_OK;
    s->scratch.size = 0;
    msgpack_packer_init(&pk, &s->scratch, msgpack_sbuffer_write);
    if (r->op != CSPH_OP_PING && r->op != CSPH_OP_STATS && log_reopening(s, &e)) {
        reply_error(s, tk, f, n, &r->req, &e, 0);
        return;
    }
    switch (r->op) {
    case CSPH_OP_PING: reply_ping(s, &pk, r); break;
    case CSPH_OP_STATS: reply_stats(s, &pk, r); break;
    case CSPH_OP_REPLAY: rc = reply_replay(s, &pk, r, &e); break;
    case CSPH_OP_REJECTS: rc = reply_rejects(s, &pk, r, &e); break;
    case CSPH_OP_ALERTS: rc = reply_alerts(s, &pk, r, &e); break;
    case CSPH_OP_EVIDENCE: rc = reply_evidence(s, &pk, r, &e); break;
    case CSPH_OP_ALERT:
    case CSPH_OP_PERSON: rc = reply_view(s, &pk, r, &e); break;
    case CSPH_OP_FETCH:
        if (handle_fetch(s, tk, f, n, r, &e, &rc))
            return; /* held: answered when an alert arrives or the wait ends */
        if (!rc) {
            send_reply(s, tk, f, n, s->scratch.data, s->scratch.size);
            return;
        }
        break;
    default:
        rc = csph_error_set(&e, CSPH_ERR_BAD_OP, "op", "op '%s' is not a read",
                            csph_op_name(r->op));
    }
    if (rc) {
        reply_error(s, tk, f, n, &r->req, &e, 0);
        return;
    }
    send_reply(s, tk, f, n, s->scratch.data, s->scratch.size);
}

/* ---- the read loop ---------------------------------------------------- */

/* security curve: find the sender's identity (ZeroMQ's User-Id, set by
 * our ZAP handler) and check its role may make this request at all.
 * Returns 0 when the request was refused (and answered). */
static int authorise_request(struct csph_server *s, struct pending *p)
{
    zmq_msg_t *body = &p->frames[p->nframes - 1];
    const char *uid = zmq_msg_gets(body, "User-Id");
    struct csph_error e;
    p->who = uid ? csph_identities_by_name(&s->ids, uid, strlen(uid)) : NULL;
    if (!p->who)
        csph_error_set(&e, CSPH_ERR_FORBIDDEN, NULL,
                       "this client's key is no longer in the hub's identity file");
    else if (csph_people_delegate(&s->ids, &p->req, &p->who, &p->as_id, &e))
        ; /* hook: a gateway acting for a person (people.h); e says why not */
    else if (!csph_identity_may(p->who, p->req.op))
        csph_error_set(&e, CSPH_ERR_FORBIDDEN, "op", "identity '%s' (role %s) may not use op '%s'",
                       p->who->name, csph_role_name(p->who->role), csph_op_name(p->req.op));
    else
        return 1;
    s->c.forbidden++;
    reply_error(s, &p->tk, p->frames, p->nframes, &p->req.req, &e,
                p->req.op == CSPH_OP_PUBLISH && !p->req.batch);
    close_frames(p->frames, p->nframes);
    return 0;
}

/* security none: nobody is a gateway, so a request naming a person
 * (`as`) is refused. Returns 0 when refused (and answered). */
static int refuse_as(struct csph_server *s, struct pending *p)
{
    struct csph_error e;
    const struct csph_identity *none = NULL;
    if (!csph_people_delegate(&s->ids, &p->req, &none, &p->as_id, &e))
        return 1;
    s->c.forbidden++;
    reply_error(s, &p->tk, p->frames, p->nframes, &p->req.req, &e,
                p->req.op == CSPH_OP_PUBLISH && !p->req.batch);
    close_frames(p->frames, p->nframes);
    return 0;
}

/* Receive one multipart message into p. Returns 1 when one was read, 0 on
 * EAGAIN, -1 when a malformed message was dropped. */
static int recv_message(struct csph_server *s, struct pending *p)
{
    int more = 1;
    p->nframes = 0;
    while (more) {
        zmq_msg_t scrap, *m = p->nframes < MAX_FRAMES ? &p->frames[p->nframes] : &scrap;
        zmq_msg_init(m);
        if (zmq_msg_recv(m, s->router, p->nframes == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(m);
            if (p->nframes == 0)
                return 0;
            break; /* cannot happen mid-message; be safe */
        }
        more = zmq_msg_more(m);
        if (m == &scrap)
            zmq_msg_close(m);
        else
            p->nframes++;
    }
    if (p->nframes < 2 || p->nframes == MAX_FRAMES) {
        /* No body, or too many frames to be CSPH/1: no reply address we
         * trust. Counted, dropped. */
        s->c.malformed++;
        close_frames(p->frames, p->nframes);
        return -1;
    }
    return 1;
}

/* Move a received request into an emptied batch slot. Its request is
 * decoded again: the decoded strings point into the message, and a small
 * message's bytes live inside the zmq_msg_t that moved. */
static void pending_move(struct csph_server *s, struct pending *to, struct pending *from)
{
    for (int i = 0; i < from->nframes; i++) {
        zmq_msg_init(&to->frames[i]);
        zmq_msg_move(&to->frames[i], &from->frames[i]);
        zmq_msg_close(&from->frames[i]);
    }
    to->nframes = from->nframes;
    from->nframes = 0;
    to->who = from->who;
    if (from->who == &from->as_id) { /* a person a gateway acts for */
        to->as_id = from->as_id;
        to->who = &to->as_id;
    }
    to->tk = from->tk;
    to->held = 0;
    zmq_msg_t *body = &to->frames[to->nframes - 1];
    struct csph_error e;
    (void)csph_wire_decode(zmq_msg_data(body), zmq_msg_size(body), &s->zone,
                           s->cfg->limits.events_per_publish, &to->req, &e); /* decoded once */
}

/* Answer a read that runs outside the write batch. */
static void answer_read(struct csph_server *s, struct pending *p)
{
    s->who = p->who;
    handle_read(s, &p->tk, p->frames, p->nframes, &p->req);
    s->who = NULL;
    close_frames(p->frames, p->nframes);
}

static void on_ready(struct csph_zsock *z)
{
    struct csph_server *s = z->data;
    if (s->stopping)
        return;
    csph_transport_sweep(s->transport);
    uint32_t n = 0;
    size_t bytes = 0;
    /* Which clients have a write in this batch: a tag per connection, so
     * that finding out costs one comparison, not a scan of the batch. */
    uint64_t serial = ++s->batch_serial;
    msgpack_zone_clear(&s->zone);
    while (n < s->cfg->limits.batch_max && bytes < s->cfg->limits.batch_bytes_max) {
        struct pending *p = &s->batch[n];
        int got = recv_message(s, p);
        if (got == 0)
            break;
        if (got < 0)
            continue;
        s->c.requests++;
        struct csph_conn *conn = csph_transport_sender(s->transport, p->frames, p->nframes);
        csph_transport_unadmitted(conn, &p->tk);
        zmq_msg_t *body = &p->frames[p->nframes - 1];
        struct csph_error e;
        enum csph_err rc = csph_wire_decode(zmq_msg_data(body), zmq_msg_size(body), &s->zone,
                                            s->cfg->limits.events_per_publish, &p->req, &e);
        if (rc) {
            s->c.malformed++;
            reply_error(s, &p->tk, p->frames, p->nframes, &p->req.req, &e,
                        rc != CSPH_ERR_BAD_REQUEST && p->req.op == CSPH_OP_PUBLISH &&
                            !p->req.batch);
            close_frames(p->frames, p->nframes);
            continue;
        }
        p->who = NULL;
        p->held = 0;
        if (s->cfg->security == CSPH_SECURITY_CURVE ? !authorise_request(s, p)
                                                    : !refuse_as(s, p))
            continue;
        if (conn && p->who) {
            /* Backlogs are the connection's identity's (a gateway's, not
             * the person's it acts for). */
            const char *acct = p->who->gateway[0] ? p->who->gateway : p->who->name;
            (void)csph_transport_set_account(s->transport, conn, acct, strlen(acct));
        }
        /* Every request, read or write, is refused while its own client (or
         * identity) has too many replies it has not read: the client that
         * does not read is answered busy, never the others. */
        if ((rc = csph_transport_admit(s->transport, conn, NULL, 0, &p->tk, &e))) {
            s->c.busy++;
            reply_error(s, &p->tk, p->frames, p->nframes, &p->req.req, &e,
                        p->req.op == CSPH_OP_PUBLISH && !p->req.batch);
            close_frames(p->frames, p->nframes);
            continue;
        }
        if (!is_write_op(p->req.op) && n && conn && csph_transport_conn_tag(conn) == serial) {
            /* A read sent after a write by the same client waits for that
             * write's commit: it sees the write (a fetch after an ack starts
             * past the acked alerts, a replay after a publish holds the
             * event) and its reply comes after the write's. The loop calls
             * again for what is left on the socket. */
            process_batch(s, (int)n);
            if (is_audited(p)) {
                pending_move(s, &s->batch[0], p);
                process_batch(s, 1);
            } else {
                answer_read(s, p);
            }
            csph_transport_sweep(s->transport);
            return;
        }
        if (!is_write_op(p->req.op) && !is_audited(p)) {
            answer_read(s, p);
            continue;
        }
        if (conn)
            csph_transport_conn_set_tag(conn, serial);
        bytes += zmq_msg_size(&p->frames[p->nframes - 1]);
        n++;
    }
    if (n)
        process_batch(s, (int)n);
    csph_transport_sweep(s->transport);
}

/* ---- lifecycle -------------------------------------------------------- */

static enum csph_err load_rules(struct csph_server *s, struct csph_rules **out,
                                struct csph_error *err)
{
    *out = NULL;
    if (!s->cfg->rules_file[0])
        return CSPH_ERR_OK;
    enum csph_err rc = csph_rules_load(out, s->cfg->rules_file, s->cfg->panels, s->cfg->npanels,
                                       s->schemas, err);
    if (rc == CSPH_ERR_OK &&
        ((rc = csph_ingest_rules_fit(*out, err)) ||
         (rc = csph_rules_cache(*out, (size_t)s->cfg->limits.rules_cache_mb << 20, err))))
        csph_rules_destroy(out);
    return rc;
}

/* The rule set in force into the log (rules.loaded), unless the log's last
 * rules.loaded already records it, or neither the log nor the hub has
 * rules. */
static enum csph_err record_rules(struct csph_server *s, struct csph_error *err)
{
    char last[80];
    const char *now = s->rules ? csph_rules_digest(s->rules) : CSPH_RULES_NONE;
    enum csph_err rc = csph_ingest_rules_recorded(&s->ingest, last, sizeof last, NULL, err);
    if (rc || !strcmp(last, now) || (!last[0] && !s->rules))
        return rc;
    uint64_t seq = 0;
    if ((rc = csph_ingest_begin(&s->ingest, err)))
        return rc;
    if ((rc = csph_ingest_rules_loaded(&s->ingest, csph_clock_now_ms(s->clock), &seq, err))) {
        csph_ingest_abort(&s->ingest);
        return rc;
    }
    if ((rc = csph_ingest_commit(&s->ingest, err)))
        return rc;
    s->c.commits++;
    csph_store_index_settle(s->store); /* rare: no need to hold it */
    LOG_INFO("rules", "rule set %s recorded in the log (rules.loaded, seq %llu)", now,
             (unsigned long long)seq);
    return CSPH_ERR_OK;
}

/* Account changes in the log (people.h): the people list, when it differs
 * from the one last recorded. security curve only. */
static enum csph_err record_people(struct csph_server *s, struct csph_error *err)
{
    uint64_t seq = 0;
    if (s->cfg->security != CSPH_SECURITY_CURVE)
        return CSPH_ERR_OK;
    enum csph_err rc = csph_ingest_begin(&s->ingest, err);
    if (rc)
        return rc;
    if ((rc = csph_people_record(&s->ingest, s->store, &s->ids, s->cfg,
                                 csph_clock_now_ms(s->clock), &seq, err))) {
        csph_ingest_abort(&s->ingest);
        return rc;
    }
    if ((rc = csph_ingest_commit(&s->ingest, err)))
        return rc;
    s->c.commits++;
    if (seq)
        LOG_INFO("security", "%zu people recorded in the log (people.loaded, seq %llu)",
                 s->ids.npeople, (unsigned long long)seq);
    return CSPH_ERR_OK;
}

/* The person view's index of alerts (views.h), built once for a data
 * directory older than it. */
static enum csph_err backfill_views(struct csph_server *s, struct csph_error *err)
{
    uint64_t n = 0;
    enum csph_err rc = csph_ingest_begin(&s->ingest, err);
    if (rc)
        return rc;
    if ((rc = csph_views_backfill(s->store, s->queues, &n, err))) {
        csph_ingest_abort(&s->ingest);
        return rc;
    }
    if ((rc = csph_ingest_commit(&s->ingest, err)))
        return rc;
    if (n)
        LOG_INFO("views", "%llu alerts indexed by person for the person view",
                 (unsigned long long)n);
    return CSPH_ERR_OK;
}

/* SIGHUP: reload the rules. A broken file leaves the running rules in
 * force; the error is logged with file:line. */
static void on_hup(uv_signal_t *h, int signum)
{
    struct csph_server *s = h->data;
    struct csph_rules *fresh;
    struct csph_error err;
    if (s->cfg->security == CSPH_SECURITY_CURVE) {
        struct csph_identities ids;
        if (csph_identities_load(&ids, s->cfg->identities_file, s->cfg, &err)) {
            LOG_ERROR("security", "identity file reload refused, the running identities stay "
                      "in force: %s", err.message);
        } else {
            /* Revocation takes effect at once: requests look their sender
             * up by name, and a name no longer listed is forbidden. */
            csph_identities_free(&s->ids);
            s->ids = ids;
            LOG_INFO("security", "reloaded %zu identities from %s", ids.n,
                     s->cfg->identities_file);
            if (record_people(s, &err)) /* hook: people.h; the list is in force regardless */
                LOG_ERROR("security", "the people list could not be recorded in the log: %s",
                          err.message);
        }
    }
    if (load_rules(s, &fresh, &err)) {
        s->c.rule_reload_failures++;
        LOG_ERROR("rules", "reload refused, the running rules (%s) stay in force: %s",
                  s->rules ? csph_rules_digest(s->rules) : "none", err.message);
        return;
    }
    /* The new rules start from a committed index, not held batches. */
    csph_store_index_settle(s->store);
    struct csph_rules *old = s->rules;
    csph_rules_take_cache(fresh, old); /* the same state: no second pass over it */
    s->rules = fresh;
    s->ingest.rules = fresh;
    /* In force only once the log says so (rules.loaded): re-derivation
     * must find every rule set the hub ran. */
    if (record_rules(s, &err)) {
        csph_rules_take_cache(old, fresh);
        s->rules = old;
        s->ingest.rules = old;
        csph_rules_destroy(&fresh);
        s->c.rule_reload_failures++;
        LOG_ERROR("rules", "reload refused, the running rules (%s) stay in force: cannot record "
                  "the new rules in the log: %s", old ? csph_rules_digest(old) : "none",
                  err.message);
        return;
    }
    csph_rules_destroy(&old);
    uint64_t filled;
    if (csph_ingest_backfill(&s->ingest, &filled, &err))
        LOG_ERROR("rules", "the reloaded rules are in force, but the windows of the rules that "
                  "changed could not be filled from the log (%s): they count from now; reload "
                  "again, or restart the hub, to retry", err.message);
    s->c.rule_reloads++;
    LOG_INFO("rules", "reloaded %zu rules from %s (version %s)",
             fresh ? csph_rules_count(fresh) : 0, s->cfg->rules_file,
             fresh ? csph_rules_digest(fresh) : "none");
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct csph_server *s = h->data;
    LOG_INFO("hub", "received %s: stopping after the batch in hand",
             signum == SIGINT ? "SIGINT" : "SIGTERM");
    csph_server_stop(s);
}

static enum csph_err zmq_fail(struct csph_error *err, const char *what, const char *ep)
{
    return csph_error_set(err, CSPH_ERR_CONFIG, "listen", "%s%s%s: %s", what, ep ? " " : "",
                          ep ? ep : "", zmq_strerror(errno));
}

/* ZAP (RFC 27): ZeroMQ asks, for every CURVE handshake, whether the
 * client's key may connect. A listed key gets 200 and its identity's name
 * as User-Id, which every later message from that connection carries. */
static void on_zap(struct csph_zsock *z)
{
    struct csph_server *s = z->data;
    for (;;) {
        zmq_msg_t f[8];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t *m = &f[n < 8 ? n : 7];
            if (n >= 8)
                zmq_msg_close(m);
            zmq_msg_init(m);
            if (zmq_msg_recv(m, s->zap, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(m);
                if (n == 0)
                    return;
                break;
            }
            more = zmq_msg_more(m);
            if (n < 8)
                n++;
        }
        /* version, request id, domain, address, identity, mechanism, key */
        const struct csph_identity *id = NULL;
        const char *why = "unknown key";
        if (n >= 7 && zmq_msg_size(&f[5]) == 5 && !memcmp(zmq_msg_data(&f[5]), "CURVE", 5) &&
            zmq_msg_size(&f[6]) == 32)
            id = csph_identities_by_key(&s->ids, zmq_msg_data(&f[6]));
        else
            why = "not a CURVE handshake";
        char addr[64] = "?";
        if (n >= 4)
            snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&f[3]),
                     (const char *)zmq_msg_data(&f[3]));
        if (!id) {
            s->c.handshakes_refused++;
            char key[41] = "";
            if (n >= 7 && zmq_msg_size(&f[6]) == 32)
                zmq_z85_encode(key, zmq_msg_data(&f[6]), 32);
            /* A public key is not a secret: naming it lets the IT officer
             * add or find the client. */
            LOG_WARN("security", "refused a connection from %s: %s %s", addr, why, key);
        } else {
            LOG_DEBUG("security", "%s connected from %s as %s", id->name, addr,
                      csph_role_name(id->role));
        }
        const char *status = id ? "200" : "400", *text = id ? "OK" : "key not in identity file";
        const char *user = id ? id->name : "";
        zmq_send(s->zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(s->zap, n >= 2 ? zmq_msg_data(&f[1]) : "", n >= 2 ? zmq_msg_size(&f[1]) : 0,
                 ZMQ_SNDMORE);
        zmq_send(s->zap, status, 3, ZMQ_SNDMORE);
        zmq_send(s->zap, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(s->zap, user, strlen(user), ZMQ_SNDMORE);
        zmq_send(s->zap, "", 0, 0);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
}

static enum csph_err open_curve(struct csph_server *s, struct csph_error *err)
{
    char pub[41], sec[41], msg[512];
    if (csph_key_file_read(s->cfg->server_key_file, pub, sec, msg, sizeof msg) != 0)
        return csph_error_set(err, CSPH_ERR_CONFIG, "server_key_file", "%s", msg);
    if (!sec[0])
        return csph_error_set(err, CSPH_ERR_CONFIG, "server_key_file",
                              "%s holds no secret key: give the hub's NAME.key, not NAME.pub",
                              s->cfg->server_key_file);
    int one = 1;
    int rc = zmq_setsockopt(s->router, ZMQ_CURVE_SERVER, &one, sizeof one) ||
             zmq_setsockopt(s->router, ZMQ_CURVE_SECRETKEY, sec, 40) ||
             zmq_setsockopt(s->router, ZMQ_ZAP_DOMAIN, "csphub", 6);
    memset(sec, 0, sizeof sec);
    if (rc)
        return zmq_fail(err, "cannot set up CURVE on the ROUTER socket", NULL);
    /* The ZAP handler must be bound before any CURVE socket binds. */
    s->zap = zmq_socket(s->zctx, ZMQ_REP);
    int linger = 0;
    if (!s->zap || zmq_setsockopt(s->zap, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(s->zap, "inproc://zeromq.zap.01") != 0)
        return zmq_fail(err, "cannot start the ZAP handler", NULL);
    LOG_INFO("security", "CURVE on; hub public key %s; %zu identities", pub, s->ids.n);
    return CSPH_ERR_OK;
}

static enum csph_err bind_one(struct csph_server *s, const char *ep, const char *as,
                              struct csph_error *err)
{
    if (zmq_bind(s->router, ep) != 0)
        return zmq_fail(err, "cannot listen on", as);
    LOG_INFO("hub", "listening on %s (security %s)", ep,
             s->cfg->security == CSPH_SECURITY_NONE ? "none" : "curve");
    return CSPH_ERR_OK;
}

/* ZeroMQ reads the host of a tcp:// bind as an address or an interface
 * name, so `localhost` fails (no such interface). It means loopback: bind
 * 127.0.0.1 and, where the machine has IPv6, ::1. */
static enum csph_err bind_endpoint(struct csph_server *s, const char *ep, struct csph_error *err)
{
    if (strncmp(ep, "tcp://localhost:", 16) != 0)
        return bind_one(s, ep, ep, err);
    char v4[280], v6[280];
    snprintf(v4, sizeof v4, "tcp://127.0.0.1:%s", ep + 16);
    snprintf(v6, sizeof v6, "tcp://[::1]:%s", ep + 16);
    enum csph_err rc = bind_one(s, v4, ep, err);
    if (rc)
        return rc;
    if (zmq_bind(s->router, v6) != 0) {
        if (errno != EADDRNOTAVAIL && errno != ENODEV && errno != EAFNOSUPPORT)
            return zmq_fail(err, "cannot listen on", ep);
        LOG_WARN("hub", "%s: listening on 127.0.0.1 only; this machine has no IPv6 loopback "
                 "(%s)", ep, zmq_strerror(errno));
        return CSPH_ERR_OK;
    }
    LOG_INFO("hub", "listening on %s (security %s)", v6,
             s->cfg->security == CSPH_SECURITY_NONE ? "none" : "curve");
    return CSPH_ERR_OK;
}

/* A client has gone (its connection closed): its held fetches have no one
 * to answer, and would take slots from the others until they expire. */
static void on_conn_gone(void *data, struct csph_conn *c)
{
    struct csph_server *s = data;
    uint64_t released = 0;
    for (size_t i = 0; i < s->nfetches;) {
        struct held_fetch *h = &s->fetches[i];
        if (h->tk.conn != c) {
            i++;
            continue;
        }
        csph_transport_fetch_done(s->transport, &h->tk);
        csph_transport_settle(s->transport, &h->tk);
        close_frames(h->env, h->nenv);
        free(h->req);
        s->fetches[i] = s->fetches[--s->nfetches];
        released++;
    }
    if (released) {
        csph_transport_fetches_released(s->transport, released);
        arm_fetch_timer(s);
    }
}

static enum csph_err open_router(struct csph_server *s, struct csph_error *err)
{
    const struct csph_limits *l = &s->cfg->limits;
    int one = 1, linger = 1000;
    int64_t maxmsg = l->message_max;
    s->zctx = zmq_ctx_new();
    if (!s->zctx)
        return zmq_fail(err, "cannot create the ZeroMQ context", NULL);
    s->router = zmq_socket(s->zctx, ZMQ_ROUTER);
    if (!s->router)
        return zmq_fail(err, "cannot create the ROUTER socket", NULL);
    /* ROUTER_MANDATORY: a reply to a full pipe is EAGAIN we handle, never a
     * silent drop. HWMs are sized from config, not left at ZeroMQ's 1,000. */
    if (zmq_setsockopt(s->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) ||
        zmq_setsockopt(s->router, ZMQ_SNDHWM, &l->sndhwm, sizeof l->sndhwm) ||
        zmq_setsockopt(s->router, ZMQ_RCVHWM, &l->rcvhwm, sizeof l->rcvhwm) ||
        zmq_setsockopt(s->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        zmq_setsockopt(s->router, ZMQ_LINGER, &linger, sizeof linger))
        return zmq_fail(err, "cannot configure the ROUTER socket", NULL);
    /* IPv6 endpoints ([::1]) bind only with ZMQ_IPV6 set before the bind;
     * IPv4 ones work the same with it. */
    if (zmq_setsockopt(s->router, ZMQ_IPV6, &one, sizeof one))
        return zmq_fail(err, "cannot configure the ROUTER socket", NULL);
    if (s->cfg->security == CSPH_SECURITY_CURVE) {
        enum csph_err rc = open_curve(s, err);
        if (rc)
            return rc;
    }
    /* The monitor must watch the socket before it binds: it learns the
     * listening descriptors from the bind. */
    enum csph_err rc = csph_transport_new(&s->transport, s->loop, s->zctx, s->router, &s->tlim,
                                          on_conn_gone, s, err);
    if (rc)
        return rc;
    for (size_t i = 0; i < s->cfg->nlisten; i++)
        if ((rc = bind_endpoint(s, s->cfg->listen[i], err)))
            return rc;
    return CSPH_ERR_OK;
}

enum csph_err csph_server_new(struct csph_server **out, uv_loop_t *loop,
                              const struct csph_config *cfg, struct csph_clock *clock,
                              struct csph_error *err)
{
    struct csph_server *s = calloc(1, sizeof *s);
    if (!s)
        return csph_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    s->cfg = cfg;
    s->clock = clock;
    s->loop = loop;
    s->started_ms = csph_clock_now_ms(clock);
    msgpack_zone_init(&s->zone, 64 * 1024);
    msgpack_zone_init(&s->scan_zone, 16 * 1024);
    msgpack_sbuffer_init(&s->scratch);
    msgpack_sbuffer_init(&s->scratch2);
    enum csph_err rc;
    const char *panel_names[CSPH_MAX_PANELS];
    for (size_t i = 0; i < cfg->npanels; i++)
        panel_names[i] = cfg->panels[i].name;
    if ((rc = csph_schemas_load(&s->schemas, cfg->schemas_dir, panel_names, cfg->npanels, err)))
        goto fail;
    LOG_INFO("hub", "%zu event types loaded from %s", csph_schemas_count(s->schemas),
             cfg->schemas_dir);
    if ((rc = csph_store_open(&s->store, cfg->data_dir, cfg->limits.map_size, err)))
        goto fail;
    csph_store_reject_limits(s->store, cfg->limits.rejects_per_source_max,
                             (uint64_t)cfg->limits.rejects_per_source_mb << 20);
    if (cfg->limits.index_writemap_mb)
        csph_store_index_writemap_max(s->store, (uint64_t)cfg->limits.index_writemap_mb << 20);
    LOG_INFO("hub", "log opened in %s: last seq %llu, %llu rejections kept, hash chain %s",
             cfg->data_dir, (unsigned long long)csph_store_last_seq(s->store),
             (unsigned long long)csph_store_last_reject(s->store),
             csph_store_chain_name(s->store));
    if ((rc = load_rules(s, &s->rules, err)))
        goto fail;
    if (s->rules)
        LOG_INFO("rules", "%zu rules in force from %s (version %s)", csph_rules_count(s->rules),
                 cfg->rules_file, csph_rules_digest(s->rules));
    else
        LOG_WARN("rules", "no rules file configured: events are logged but raise no alerts");
    if ((rc = csph_queues_open(&s->queues, csph_store_env(s->store), cfg, err)))
        goto fail;
    csph_ingest_init(&s->ingest, cfg, s->store, s->schemas, s->rules, s->queues);
    uint64_t caught;
    if ((rc = csph_ingest_catch_up(&s->ingest, &caught, err)) && csph_store_needs_heal(s->store)) {
        /* The index turned out damaged while catching up: rebuilt from the
         * log now, before serving. */
        int more = 1;
        rc = CSPH_ERR_OK;
        while (more && rc == CSPH_ERR_OK)
            rc = csph_ingest_heal(&s->ingest, &more, err);
    }
    if (rc)
        goto fail;
    if ((rc = record_rules(s, err)))
        goto fail;
    if ((rc = backfill_views(s, err))) /* hook: views.h */
        goto fail;
    uint64_t filled;
    if ((rc = csph_ingest_backfill(&s->ingest, &filled, err)))
        goto fail;
    s->fetches = calloc(cfg->limits.fetch_held_max, sizeof *s->fetches);
    if (!s->fetches) {
        rc = csph_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory for held fetches");
        goto fail;
    }
    s->batch = calloc(cfg->limits.batch_max, sizeof *s->batch);
    if (!s->batch) {
        rc = csph_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory for the batch");
        goto fail;
    }
    for (uint32_t i = 0; i < cfg->limits.batch_max; i++)
        msgpack_sbuffer_init(&s->batch[i].reply);
    if (cfg->security == CSPH_SECURITY_CURVE &&
        (rc = csph_identities_load(&s->ids, cfg->identities_file, cfg, err)))
        goto fail;
    if ((rc = record_people(s, err))) /* hook: people.h */
        goto fail;
    s->tlim = (struct csph_transport_limits){
        .replies_max = cfg->limits.reply_backlog_max,
        .reply_bytes_max = (uint64_t)cfg->limits.reply_backlog_mb << 20,
        .conn_replies_max = cfg->limits.reply_backlog_per_connection,
        .conn_reply_bytes_max = (uint64_t)cfg->limits.reply_backlog_mb_per_connection << 20,
        .account_replies_max = cfg->limits.reply_backlog_per_identity,
        .conn_fetches_max = cfg->limits.fetch_held_per_connection,
        .account_fetches_max = cfg->limits.fetch_held_per_identity,
        .conns_max = cfg->limits.connections_max,
    };
    /* Each client connection takes a descriptor: allow what the system
     * allows this process. */
    uint64_t nofile_before = 0, nofile = 0;
    if (csph_transport_raise_fd_limit(&nofile_before, &nofile) != 0)
        LOG_WARN("hub", "cannot raise the file-descriptor limit (%s): it stays %llu",
                 strerror(errno), (unsigned long long)nofile);
    else if (nofile != nofile_before)
        LOG_INFO("hub", "file-descriptor limit raised from %llu to %llu (the hard limit)",
                 (unsigned long long)nofile_before, (unsigned long long)nofile);
    if ((rc = open_router(s, err)))
        goto fail;
    LOG_INFO("hub", "room for %llu client connections (file-descriptor limit %llu)",
             (unsigned long long)csph_transport_stats(s->transport)->connections_max,
             (unsigned long long)nofile);
    csph_zsock_start(&s->zs, loop, s->router, on_ready, NULL, s);
    csph_transport_start(s->transport);
    if (s->zap)
        csph_zsock_start(&s->zap_zs, loop, s->zap, on_zap, NULL, s);
    uv_signal_init(loop, &s->sigint);
    uv_signal_init(loop, &s->sigterm);
    s->sigint.data = s->sigterm.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    uv_signal_init(loop, &s->sighup);
    s->sighup.data = s;
    uv_signal_start(&s->sighup, on_hup, SIGHUP);
    uv_timer_init(loop, &s->due_timer);
    uv_timer_init(loop, &s->fetch_timer);
    uv_timer_init(loop, &s->index_timer);
    uv_timer_init(loop, &s->heal_timer);
    s->due_timer.data = s->fetch_timer.data = s->index_timer.data = s->heal_timer.data = s;
    s->open_handles = 1;
    /* Deadlines that passed while the hub was down fire now. */
    arm_due_timer(s);
    *out = s;
    return CSPH_ERR_OK;
fail:
    csph_server_destroy(&s);
    return rc;
}

/* The data directory as csph_store_open will need it, without opening the
 * log (a running hub may hold it). */
static enum csph_err check_data_dir(const char *dir, struct csph_error *err)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return csph_error_set(err, CSPH_ERR_CONFIG, "data_dir",
                                  "the data directory %s is not a directory", dir);
        if (access(dir, R_OK | W_OK | X_OK) != 0)
            return csph_error_set(err, CSPH_ERR_CONFIG, "data_dir",
                                  "the data directory %s is not readable and writable by this "
                                  "user: %s",
                                  dir, strerror(errno));
        return CSPH_ERR_OK;
    }
    char parent[PATH_MAX];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = 0;
    else if (slash)
        *slash = 0;
    else
        snprintf(parent, sizeof parent, ".");
    if (access(parent, W_OK | X_OK) != 0)
        return csph_error_set(err, CSPH_ERR_CONFIG, "data_dir",
                              "the data directory %s does not exist and cannot be created in "
                              "%s: %s",
                              dir, parent, strerror(errno));
    return CSPH_ERR_OK;
}

enum csph_err csph_server_check(const struct csph_config *cfg, struct csph_error *err)
{
    struct csph_schemas *schemas = NULL;
    struct csph_rules *rules = NULL;
    struct csph_identities ids = {0};
    const char *panel_names[CSPH_MAX_PANELS];
    enum csph_err rc;
    for (size_t i = 0; i < cfg->npanels; i++)
        panel_names[i] = cfg->panels[i].name;
    if ((rc = csph_schemas_load(&schemas, cfg->schemas_dir, panel_names, cfg->npanels, err)))
        goto done;
    if (cfg->rules_file[0] &&
        ((rc = csph_rules_load(&rules, cfg->rules_file, cfg->panels, cfg->npanels, schemas,
                               err)) ||
         (rc = csph_ingest_rules_fit(rules, err))))
        goto done;
    if (cfg->security == CSPH_SECURITY_CURVE) {
        char pub[41], sec[41], msg[512];
        int bad = csph_key_file_read(cfg->server_key_file, pub, sec, msg, sizeof msg) != 0;
        int has_secret = sec[0] != 0;
        memset(sec, 0, sizeof sec);
        if (bad) {
            rc = csph_error_set(err, CSPH_ERR_CONFIG, "server_key_file", "%s", msg);
            goto done;
        }
        if (!has_secret) {
            rc = csph_error_set(err, CSPH_ERR_CONFIG, "server_key_file",
                                "%s holds no secret key: give the hub's NAME.key, not NAME.pub",
                                cfg->server_key_file);
            goto done;
        }
        if ((rc = csph_identities_load(&ids, cfg->identities_file, cfg, err)))
            goto done;
    }
    rc = check_data_dir(cfg->data_dir, err);
done:
    csph_identities_free(&ids);
    csph_rules_destroy(&rules);
    csph_schemas_destroy(&schemas);
    return rc;
}

static void on_handle_closed(uv_handle_t *h) { (void)h; }
static void on_zsock_closed(struct csph_zsock *z) { (void)z; }

void csph_server_stop(struct csph_server *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = 1;
    csph_zsock_close(&s->zs, on_zsock_closed);
    if (s->zap)
        csph_zsock_close(&s->zap_zs, on_zsock_closed);
    uv_close((uv_handle_t *)&s->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&s->sigterm, on_handle_closed);
    uv_close((uv_handle_t *)&s->sighup, on_handle_closed);
    uv_close((uv_handle_t *)&s->due_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->index_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->heal_timer, on_handle_closed);
    /* Held fetches get their (empty) answer before the socket closes. */
    while (s->nfetches)
        release_fetch(s, 0);
    uv_close((uv_handle_t *)&s->fetch_timer, on_handle_closed);
    /* After the fetches' answers: the last chance for held replies (the
     * ROUTER's linger then has them). */
    if (s->transport)
        csph_transport_close(s->transport, NULL);
}

void csph_server_destroy(struct csph_server **sp)
{
    if (!sp || !*sp)
        return;
    struct csph_server *s = *sp;
    for (size_t i = 0; i < s->nfetches; i++) {
        close_frames(s->fetches[i].env, s->fetches[i].nenv);
        free(s->fetches[i].req);
    }
    csph_transport_destroy(&s->transport); /* before the ROUTER it monitors */
    free(s->fetches);
    if (s->queues)
        csph_ingest_fini(&s->ingest);
    csph_queues_close(&s->queues);
    csph_rules_destroy(&s->rules);
    if (s->router)
        zmq_close(s->router);
    if (s->zap)
        zmq_close(s->zap);
    csph_identities_free(&s->ids);
    if (s->zctx)
        zmq_ctx_term(s->zctx);
    if (s->batch) {
        for (uint32_t i = 0; i < s->cfg->limits.batch_max; i++)
            msgpack_sbuffer_destroy(&s->batch[i].reply);
        free(s->batch);
    }
    csph_store_close(&s->store);
    csph_schemas_destroy(&s->schemas);
    msgpack_zone_destroy(&s->zone);
    msgpack_zone_destroy(&s->scan_zone);
    msgpack_sbuffer_destroy(&s->scratch);
    msgpack_sbuffer_destroy(&s->scratch2);
    free(s);
    *sp = NULL;
}
