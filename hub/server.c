#include "server.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "casederive.h"
#include "core.h"
#include "held.h"
#include "heldrel.h"
#include "csphub.h"
#include "ingest.h"
#include "listen.h"
#include "log.h"
#include "panelwork.h"
#include "people.h"
#include "views.h"
#include "reportop.h"
#include "indicators.h"
#include "metrics.h"
#include "ops.h"
#include "queues.h"
#include "reads.h"
#include "restrictview.h"
#include "rules.h"
#include "schema.h"
#include "security.h"
#include "store.h"
#include "storeuse.h"
#include "sweeprun.h"
#include "transport.h"
#include "wire.h"
#include "writes.h"
#include "zsock.h"

#define MAX_FRAMES 8 /* routing envelope + body; REQ adds one empty frame */
_Static_assert(MAX_FRAMES - 1 <= CSPH_HELD_ENV_MAX, "a held fetch keeps any envelope");

/* One write request of the batch in hand. */
struct pending {
    zmq_msg_t frames[MAX_FRAMES];
    int nframes;
    const struct hub_identity *who;
    int held;                        /* a fetch now waiting: no reply yet */
    size_t held_at;                  /* ... as the held set's newest of this many */
    struct hub_ticket tk;            /* who the reply is charged to */
    struct hub_request req;
    msgpack_sbuffer reply;
};

struct hub_server {
    const struct hub_config *cfg;
    struct hub_clock *clock;
    uv_loop_t *loop;
    struct hub_listener listen; /* the ROUTER socket, CURVE and ZAP */
    void *router;               /* listen.router */
    struct hub_zsock zs;
    struct hub_transport *transport; /* connections, their backlogs, sending */
    struct hub_transport_limits tlim;
    uv_signal_t sigint, sigterm;
    struct hub_ctx h; /* the parts handlers use: core, schemas, counters */
    struct hub_hist commit_hist; /* metrics: each batch's commit (the journal's sync) */
    struct hub_rules *rules;
    uv_signal_t sighup;
    uv_timer_t due_timer;   /* the next alert deadline */
    uv_timer_t fetch_timer; /* the next held fetch to expire */
    uv_timer_t index_timer; /* commits held index work when batches stop */
    uv_timer_t heal_timer;  /* heals a fault between requests (hub_ingest_heal) */
    char heal_error[320];   /* what its last step said, "" when it worked */
    struct hub_held *held;  /* fetches waiting for alerts */
    struct hub_heldrel *released; /* those taken out to be answered (heldrel.h) */
    struct hub_reportop *reports; /* the report op, computed off the loop thread */
    struct hub_sweeprun *sweep;   /* retention (sweeprun.h); NULL: retention_file none */
    /* security curve */
    struct hub_identities ids;
    msgpack_zone zone; /* decoded requests of the batch in hand */
    struct pending *batch;
    /* The person a gateway acts for, one per batch slot (who points there):
     * apart from the slots, whose pages a batch touches only as far as it
     * goes, since an identity is some 4 KiB and a gateway's requests are
     * few. */
    struct hub_identity *as_ids;
    msgpack_sbuffer scratch; /* replies to reads, and temporary packing */
    uint64_t batch_serial;   /* tags the connections with a write in the batch */
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
static void send_reply(struct hub_server *s, struct hub_ticket *tk, zmq_msg_t *f, int n,
                       const void *body, size_t len)
{
    hub_transport_reply(s->transport, tk, f, n - 1, body, len);
}

static void reply_error(struct hub_server *s, struct hub_ticket *tk, zmq_msg_t *f, int n,
                        const struct hub_span *req, const struct hub_error *e, int with_status)
{
    msgpack_packer pk;
    s->scratch.size = 0;
    msgpack_packer_init(&pk, &s->scratch, msgpack_sbuffer_write);
    hub_reply_error(&pk, req, e, with_status);
    send_reply(s, tk, f, n, s->scratch.data, s->scratch.size);
}

static void wake_fetches(struct hub_server *s, uint64_t panels);
static void arm_due_timer(struct hub_server *s);
static enum hub_err hold_fetch(struct hub_server *s, struct pending *p, const struct hub_req *q,
                               int audited, struct hub_error *e);

/* A read run in the batch because it leaves an access record: answered
 * into p->reply (or its fetch held), then who read what is written as an
 * audit.access event in the same transaction. */
static enum hub_err run_audited_read(struct hub_server *s, struct pending *p,
                                     const struct hub_op_row *row, struct hub_req *q)
{
    enum hub_err rc = row->fn(&s->h, q);
    if (rc == CSPH_ERR_OK && q->hold && (rc = hold_fetch(s, p, q, 1, &q->e)) == CSPH_ERR_OK) {
        p->held = 1; /* answered when an alert arrives or the wait ends */
        p->held_at = hub_held_count(s->held);
    }
    if (rc) {
        p->reply.size = 0;
        hub_reply_error(q->pk, &p->req.req, &q->e, 0);
    }
    zmq_msg_t *body = &p->frames[p->nframes - 1];
    return hub_writes_audit(&s->h, q, zmq_msg_data(body), zmq_msg_size(body), rc != 0);
}

static void arm_heal(struct hub_server *s);

/* What settling held back (hub_core_settle_all), counted with the commits
 * in commit_us. */
static void on_index_quiet(uv_timer_t *t)
{
    struct hub_server *s = t->data;
    uint64_t t0 = uv_hrtime();
    struct hub_error e;
    (void)hub_core_settle_all(s->h.core, &e); /* between batches: cannot be refused */
    s->h.c.commit_us += (uv_hrtime() - t0) / 1000;
    arm_due_timer(s); /* the deadlines of batches held until now */
    arm_heal(s);
}

/* Heal a fault between requests, a step a turn of the loop so reads go on;
 * a step that fails (the disk still full, say) is tried again a second
 * later rather than at once. The next step is due in 1 ms, not 0: libuv
 * 1.44 runs a timer re-armed with 0 from its own callback again in the
 * same pass, before polling the sockets. */
static void on_heal(uv_timer_t *t)
{
    struct hub_server *s = t->data;
    struct hub_error e;
    int more = 0;
    /* Report hook: data.mdb is not reopened under a report's read
     * transaction; a report on a failed log ends soon (its reads fail). */
    if (hub_store_log_failed(hub_core_store(s->h.core)) && hub_reportop_running(s->reports)) {
        uv_timer_start(&s->heal_timer, on_heal, 10, 0);
        return;
    }
    enum hub_err rc = hub_core_heal(s->h.core, &more, &e);
    /* A step that fails is retried; what it said is logged when it changes. */
    if (rc && strcmp(e.message, s->heal_error) != 0)
        LOG_ERROR("hub", "repairing after a disk error: %s (retrying every second)", e.message);
    snprintf(s->heal_error, sizeof s->heal_error, "%s", rc ? e.message : "");
    if (more && !s->stopping)
        uv_timer_start(&s->heal_timer, on_heal, rc ? 1000 : 1, 0);
}

static void arm_heal(struct hub_server *s)
{
    if (!s->stopping && hub_core_needs_heal(s->h.core) &&
        !uv_is_active((uv_handle_t *)&s->heal_timer))
        uv_timer_start(&s->heal_timer, on_heal, 0, 0);
}

/* After a batch's replies: the fetches held on panels whose alerts the
 * commit made readable are answered first (a fetch reads what the commit
 * acknowledged, hub_core_fetch, so it need not wait for what follows);
 * then the batch is settled (the journal's batches into LMDB when enough
 * are held; the index committed once it holds enough batches, and
 * otherwise when no batch has come for limits.index_hold_ms, so that a
 * quiet hub does not sit on uncommitted index work: a kill -9 would make
 * the next start catch it up). */
static void settle_batch(struct hub_server *s)
{
    wake_fetches(s, hub_core_take_readable(s->h.core));
    uint64_t t0 = uv_hrtime();
    int held = 0;
    struct hub_error e;
    (void)hub_core_batch_settle(s->h.core, &held, &e); /* between batches: cannot be refused */
    s->h.c.commit_us += (uv_hrtime() - t0) / 1000;
    if (held)
        uv_timer_start(&s->index_timer, on_index_quiet, s->cfg->limits.index_hold_ms, 0);
    else
        uv_timer_stop(&s->index_timer);
}

/* Run the batch in one transaction, commit with a sync, then reply. */
static void process_batch(struct hub_server *s, int n)
{
    /* Where a batch's time goes, for `stats`: the work inside the write
     * transaction, and its commit (the rule state's flush and the synced
     * LMDB commit). Monotonic, in microseconds. */
    uint64_t t0 = uv_hrtime();
    int64_t now_ms = hub_clock_now_ms(s->clock);
    struct hub_error e;
    uint64_t raised = hub_core_alerts_raised(s->h.core);
    /* What the batch counts stands only if it commits: stats equal the log. */
    struct hub_counters before = s->h.c;
    /* Ops that read the log with their own transactions see only what LMDB
     * committed: what the journal acknowledged goes into LMDB first (a
     * fetch reads the batch's own transaction: a consumer's fetch, ack,
     * fetch cycle makes no LMDB commit). */
    for (int i = 0; i < n; i++)
        if (hub_ops_reads_committed(hub_ops_row(s->batch[i].req.op))) {
            (void)hub_core_flush(s->h.core, &e);
            break;
        }
    enum hub_err rc = hub_core_batch_begin(s->h.core, &e), begin_rc = rc;
    for (int i = 0; i < n && rc == CSPH_ERR_OK; i++) {
        struct pending *p = &s->batch[i];
        p->reply.size = 0;
        msgpack_packer pk;
        msgpack_packer_init(&pk, &p->reply, msgpack_sbuffer_write);
        const struct hub_op_row *row = hub_ops_row(p->req.op);
        struct hub_req q = {.r = &p->req, .who = p->who, .now_ms = now_ms, .pk = &pk};
        rc = row->kind == CSPH_OPK_WRITE ? row->fn(&s->h, &q) : run_audited_read(s, p, row, &q);
    }
    uint64_t t1 = uv_hrtime();
    s->h.c.batch_work_us += (t1 - t0) / 1000;
    if (rc == CSPH_ERR_OK) {
        rc = hub_core_batch_commit(s->h.core, &e);
        if (rc == CSPH_ERR_OK)
            s->h.c.commits++;
        s->h.c.commit_us += (uv_hrtime() - t1) / 1000;
        hub_hist_observe(&s->commit_hist, (uv_hrtime() - t1) / 1000);
    } else {
        hub_core_batch_abort(s->h.core);
    }
    if (rc == CSPH_ERR_OK)
        s->h.c.alerts_raised += hub_core_alerts_raised(s->h.core) - raised;
    if (rc != CSPH_ERR_OK) {
        /* Nothing of this batch is durable: every request gets the same
         * answer and the counters of the batch are not trusted. */
        uint64_t work_us = s->h.c.batch_work_us, commit_us = s->h.c.commit_us;
        uint64_t requests = s->h.c.requests, malformed = s->h.c.malformed;
        s->h.c = before;
        s->h.c.batch_work_us = work_us;
        s->h.c.commit_us = commit_us;
        s->h.c.requests = requests;
        s->h.c.malformed = malformed;
        s->h.c.commit_failures++;
        struct hub_error out;
        if (rc == CSPH_ERR_BUSY)
            s->h.c.busy += (uint64_t)n;
        if (begin_rc == CSPH_ERR_BUSY)
            out = e; /* the index or the log is being repaired: its own words */
        else if (rc == CSPH_ERR_BUSY)
            hub_error_set(&out, CSPH_ERR_BUSY, NULL,
                          "the hub's storage limit is reached (limits.map_size_mb); nothing was "
                          "done; retry after the operator raises it");
        else
            hub_error_set(&out, CSPH_ERR_INTERNAL, NULL,
                          "the hub could not commit this batch; nothing was done; retry");
        /* A fetch this batch held is let go: its audit.access record went
         * with the batch, so it is answered now like the rest, never later
         * with alerts nobody recorded reading. Newest first: each is then
         * the newest held. */
        for (int i = n - 1; i >= 0; i--) {
            struct pending *p = &s->batch[i];
            struct hub_held_fetch h;
            if (!p->held || p->held_at != hub_held_count(s->held) ||
                !hub_held_take_newest(s->held, &h))
                continue;
            hub_transport_fetch_done(s->transport, &h.tk);
            for (int j = 0; j < h.nenv; j++)
                zmq_msg_move(&p->frames[j], &h.env[j]);
            hub_held_fetch_free(&h);
            p->held = 0;
        }
        for (int i = 0; i < n; i++) {
            s->batch[i].reply.size = 0;
            msgpack_packer pk;
            msgpack_packer_init(&pk, &s->batch[i].reply, msgpack_sbuffer_write);
            hub_reply_error(&pk, &s->batch[i].req.req, &out,
                            s->batch[i].req.op == CSPH_OP_PUBLISH && !s->batch[i].req.batch);
        }
    }
    if ((uint64_t)n > s->h.c.batch_requests_max)
        s->h.c.batch_requests_max = (uint64_t)n;
    for (int i = 0; i < n; i++) {
        struct pending *p = &s->batch[i];
        if (!p->held)
            send_reply(s, &p->tk, p->frames, p->nframes, p->reply.data, p->reply.size);
        close_frames(p->frames, p->nframes);
    }
    if (rc == CSPH_ERR_OK) {
        settle_batch(s); /* after the replies: they need only the commit */
        arm_due_timer(s);
    }
    arm_heal(s);
}

/* ---- deadlines -------------------------------------------------------- */

static void on_due(uv_timer_t *t)
{
    struct hub_server *s = t->data;
    int64_t now = hub_clock_now_ms(s->clock);
    size_t fired = 64;
    /* Bounded transactions: a backlog of passed deadlines (say after a long
     * outage) is worked off 64 at a time without holding the loop. */
    while (fired == 64 && !s->stopping) {
        struct hub_error e;
        enum hub_err rc = hub_core_batch_begin(s->h.core, &e);
        if (!rc) {
            rc = hub_ingest_fire_due(hub_core_ingest(s->h.core), now, 64, &fired, &e);
            size_t more = 0; /* hook: action and review timers (panelwork.h) */
            if (!rc && fired < 64)
                rc = hub_panelwork_fire_due(hub_core_ingest(s->h.core), now, 64 - fired, &more,
                                            &e);
            fired += more;
            if (!rc)
                rc = hub_core_batch_commit(s->h.core, &e);
            else
                hub_core_batch_abort(s->h.core);
        }
        if (rc) {
            /* busy (a full disk, a repair under way) is logged once by the
             * store; a line a second here would bury it. */
            if (rc != CSPH_ERR_BUSY)
                LOG_ERROR("hub", "cannot record passed deadlines: %s; retrying in 1 s",
                          e.message);
            uv_timer_start(&s->due_timer, on_due, 1000, 0);
            return;
        }
        s->h.c.commits++;
        s->h.c.timers_fired += fired;
        settle_batch(s);
    }
    /* The deadlines just spent leave what arm_due_timer reads (LMDB's
     * committed view) only once the journal's batches are in it: without
     * this the timer would come again at once for them. */
    struct hub_error fe;
    (void)hub_core_flush(s->h.core, &fe);
    arm_due_timer(s);
}

static void arm_due_timer(struct hub_server *s)
{
    int64_t due;
    /* The committed deadlines: a held batch's are read once it is put into
     * LMDB (on_index_quiet arms again), a deadline being days away. */
    int64_t work_due; /* hook: action and review timers (panelwork.h), committed too */
    int has_due = hub_queues_next_due(hub_core_queues_committed(s->h.core), &due);
    if (hub_panelwork_next_due(hub_core_ingest(s->h.core)->store, &work_due) &&
        (!has_due || work_due < due)) {
        due = work_due;
        has_due = 1;
    }
    if (s->stopping || !has_due) {
        uv_timer_stop(&s->due_timer);
        return;
    }
    int64_t wait = due - hub_clock_now_ms(s->clock);
    /* Re-check at least hourly: the hub clock may be moved (tests). */
    if (wait > 3600 * 1000)
        wait = 3600 * 1000;
    uv_timer_start(&s->due_timer, on_due, wait > 0 ? (uint64_t)wait : 0, 0);
}

void hub_server_clock_changed(struct hub_server *s)
{
    arm_due_timer(s);
    hub_sweeprun_clock_changed(s->sweep); /* retention hook: a pass as of the new time */
}

/* Retention hook: a sweep step's batch committed; settled like any. */
static void sweep_settled(void *arg)
{
    settle_batch(arg);
}

/* ---- held fetches ----------------------------------------------------- */

static void on_fetch_timer(uv_timer_t *t);

static void arm_fetch_timer(struct hub_server *s)
{
    uint64_t first = hub_held_next_expiry(s->held), now = uv_now(s->loop);
    if (first == UINT64_MAX) {
        uv_timer_stop(&s->fetch_timer);
        return;
    }
    uv_timer_start(&s->fetch_timer, on_fetch_timer, first > now ? first - now : 0, 0);
}

/* While data.mdb is being reopened (hub_store_log_failed) nothing may
 * read it: 1 with a busy error in *e then. */
static int log_reopening(struct hub_server *s, struct hub_error *e)
{
    if (!hub_store_log_failed(hub_core_store(s->h.core)))
        return 0;
    hub_error_set(e, CSPH_ERR_BUSY, NULL,
                  "the hub is reopening its log after a disk error; nothing was read; retry "
                  "shortly");
    return 1;
}

/* Answer the first n fetches of s->released (taken out of the held set)
 * with whatever their queries find now, and free them. The audited ones
 * that return records are recorded in one batch committed before any of
 * these replies goes (heldrel.h); that batch is then settled like any. */
static void answer_released(struct hub_server *s, size_t n)
{
    struct hub_error e;
    struct hub_heldrel_out out = {0};
    if (!n)
        return;
    for (size_t i = 0; i < n; i++)
        hub_transport_fetch_done(s->transport, &s->released[i].f.tk);
    if (log_reopening(s, &e)) {
        for (size_t i = 0; i < n; i++) {
            struct hub_span req = {s->released[i].f.req, s->released[i].f.req_len};
            msgpack_packer pk;
            s->released[i].reply.size = 0;
            msgpack_packer_init(&pk, &s->released[i].reply, msgpack_sbuffer_write);
            hub_reply_error(&pk, &req, &e, 0);
        }
    } else if (hub_heldrel_answer(&s->h, s->released, n, hub_clock_now_ms(s->clock), &out, &e)) {
        s->h.c.commit_failures++;
    }
    for (size_t i = 0; i < n; i++) {
        struct hub_heldrel *x = &s->released[i];
        zmq_msg_t frames[MAX_FRAMES + 1];
        for (int j = 0; j < x->f.nenv; j++) {
            zmq_msg_init(&frames[j]);
            zmq_msg_move(&frames[j], &x->f.env[j]);
        }
        zmq_msg_init(&frames[x->f.nenv]); /* stands for the request body */
        send_reply(s, &x->f.tk, frames, x->f.nenv + 1, x->reply.data, x->reply.size);
        close_frames(frames, x->f.nenv + 1);
        hub_held_fetch_free(&x->f);
        msgpack_sbuffer_destroy(&x->reply); /* a large reply's memory is not kept */
        msgpack_sbuffer_init(&x->reply);
    }
    if (out.committed)
        settle_batch(s);
}

static void on_fetch_timer(uv_timer_t *t)
{
    struct hub_server *s = t->data;
    uint64_t now = uv_now(s->loop);
    size_t n = 0;
    while (hub_held_take_expired(s->held, now, &s->released[n].f))
        n++;
    answer_released(s, n);
    arm_fetch_timer(s);
}

static void wake_fetches(struct hub_server *s, uint64_t panels)
{
    size_t n = 0;
    if (!panels || !hub_held_count(s->held))
        return;
    while (hub_held_take_panels(s->held, panels, &s->released[n].f))
        n++;
    answer_released(s, n);
    arm_fetch_timer(s);
}

/* Hold fetch q (no alert yet, wait_ms given) until an alert arrives or
 * the wait ends: its envelope frames move out of p. Bounded in all and per
 * client; BUSY in *e beyond. */
static enum hub_err hold_fetch(struct hub_server *s, struct pending *p, const struct hub_req *q,
                               int audited, struct hub_error *e)
{
    struct hub_ticket *tk = &p->tk;
    zmq_msg_t *f = p->frames;
    int n = p->nframes;
    enum hub_err rc;
    const struct hub_request *r = q->r;
    if ((rc = hub_held_room(s->held, e)))
        return rc;
    /* One client's waiting fetches are bounded too, so that it cannot take
     * the hub's whole allowance from the others. */
    if ((rc = hub_transport_fetch_hold(s->transport, tk, e)))
        return rc;
    /* An audited fetch is recorded again when it is answered with records
     * (heldrel.h): who asked and what, kept with it. */
    struct hub_held_audit *audit = NULL;
    if (audited && p->who &&
        !(audit = hub_held_audit_new(p->who, zmq_msg_data(&f[n - 1]), zmq_msg_size(&f[n - 1])))) {
        hub_transport_fetch_done(s->transport, tk);
        return hub_error_set(e, CSPH_ERR_BUSY, NULL, "out of memory holding a fetch");
    }
    /* The reply is charged to the request's client. */
    if ((rc = hub_held_add(s->held, tk, f, n - 1, &r->req, q->panel, q->consumer,
                           q->consumer_len, q->max, hub_restrictview_qview(q->who),
                           uv_now(s->loop) + q->wait_ms, audit, e))) {
        hub_held_audit_free(audit);
        hub_transport_fetch_done(s->transport, tk);
        return rc;
    }
    s->h.c.fetches_held++;
    arm_fetch_timer(s);
    return CSPH_ERR_OK;
}

/* ---- the read loop ---------------------------------------------------- */

/* Where the person a gateway acts for is kept for the request in slot p. */
static struct hub_identity *slot_as(struct hub_server *s, const struct pending *p)
{
    return &s->as_ids[p - s->batch];
}

/* security curve: find the sender's identity (ZeroMQ's User-Id, set by
 * our ZAP handler) and check its role may make this request at all.
 * Returns 0 when the request was refused (and answered). */
static int authorise_request(struct hub_server *s, struct pending *p)
{
    zmq_msg_t *body = &p->frames[p->nframes - 1];
    struct hub_error e;
    if (!hub_admit_request(&s->ids, zmq_msg_gets(body, "User-Id"), &p->req, &p->who, slot_as(s, p),
                           &e))
        return 1;
    s->h.c.forbidden++;
    reply_error(s, &p->tk, p->frames, p->nframes, &p->req.req, &e,
                p->req.op == CSPH_OP_PUBLISH && !p->req.batch);
    close_frames(p->frames, p->nframes);
    return 0;
}

/* security none: nobody is a gateway, so a request naming a person
 * (`as`) is refused. Returns 0 when refused (and answered). */
static int refuse_as(struct hub_server *s, struct pending *p)
{
    struct hub_error e;
    const struct hub_identity *none = NULL;
    if (!hub_people_delegate(&s->ids, &p->req, &none, slot_as(s, p), &e))
        return 1;
    s->h.c.forbidden++;
    reply_error(s, &p->tk, p->frames, p->nframes, &p->req.req, &e,
                p->req.op == CSPH_OP_PUBLISH && !p->req.batch);
    close_frames(p->frames, p->nframes);
    return 0;
}

/* Receive one multipart message into p. Returns 1 when one was read, 0 on
 * EAGAIN, -1 when a malformed message was dropped. */
static int recv_message(struct hub_server *s, struct pending *p)
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
        s->h.c.malformed++;
        close_frames(p->frames, p->nframes);
        return -1;
    }
    return 1;
}

/* Move a received request into an emptied batch slot. Its request is
 * decoded again: the decoded strings point into the message, and a small
 * message's bytes live inside the zmq_msg_t that moved. */
static void pending_move(struct hub_server *s, struct pending *to, struct pending *from)
{
    for (int i = 0; i < from->nframes; i++) {
        zmq_msg_init(&to->frames[i]);
        zmq_msg_move(&to->frames[i], &from->frames[i]);
        zmq_msg_close(&from->frames[i]);
    }
    to->nframes = from->nframes;
    from->nframes = 0;
    to->who = from->who;
    if (from->who == slot_as(s, from)) { /* a person a gateway acts for */
        *slot_as(s, to) = *slot_as(s, from);
        to->who = slot_as(s, to);
    }
    to->tk = from->tk;
    to->held = 0;
    zmq_msg_t *body = &to->frames[to->nframes - 1];
    struct hub_error e;
    (void)hub_wire_decode(zmq_msg_data(body), zmq_msg_size(body), &s->zone,
                          s->cfg->limits.events_per_publish, &to->req, &e); /* decoded once */
}

/* Report hooks (hub/reportop.h): a report is checked here, computed on a
 * worker thread from read transactions of its own, and answered by
 * report_done on the loop thread after its audit.access record commits. */
static enum hub_err report_start(struct hub_server *s, struct pending *p, struct hub_error *e)
{
    struct hub_report_job *job;
    /* hub_core_store puts what the journal acknowledged into LMDB first:
     * the worker's snapshot holds every event up to last_seq. */
    uint64_t last = hub_store_last_seq(hub_core_store(s->h.core));
    enum hub_err rc = hub_reportop_submit(s->reports, &p->req, p->who, last, &job, e);
    if (rc)
        return rc;
    const struct hub_request *r = &p->req;
    if (r->req.len && !(job->req = malloc(r->req.len))) {
        hub_report_job_free(job);
        return hub_error_set(e, CSPH_ERR_NOMEM, NULL, "out of memory");
    }
    if (r->req.len)
        memcpy(job->req, r->req.ptr, r->req.len);
    job->req_len = r->req.len;
    zmq_msg_t *f = p->frames;
    int n = p->nframes;
    if (csph_msgpack_to_json(zmq_msg_data(&f[n - 1]), zmq_msg_size(&f[n - 1]), 0, &job->query))
        job->query = NULL;
    for (int i = 0; i < n; i++) {
        zmq_msg_init(&job->frames[i]);
        zmq_msg_move(&job->frames[i], &f[i]);
    }
    job->nframes = n;
    job->tk = p->tk;
    s->h.c.reports++;
    hub_reportop_start(s->reports, job);
    return CSPH_ERR_OK;
}

static void settle_batch(struct hub_server *s);

static void report_done(void *data, struct hub_report_job *job)
{
    struct hub_server *s = data;
    if (s->stopping) { /* the socket is closed: nobody to answer */
        close_frames(job->frames, job->nframes);
        hub_report_job_free(job);
        return;
    }
    struct hub_error e;
    enum hub_err rc = hub_core_batch_begin(s->h.core, &e);
    if (!rc)
        rc = hub_ingest_audit(hub_core_ingest(s->h.core), job->who, job->role,
                              job->gateway[0] ? job->gateway : NULL, "report",
                              job->query ? job->query : "", job->query ? strlen(job->query) : 0,
                              job->rc ? 0 : job->returned, hub_clock_now_ms(s->clock), &e);
    if (!rc)
        rc = hub_core_batch_commit(s->h.core, &e);
    else
        hub_core_batch_abort(s->h.core);
    if (!rc) {
        s->h.c.commits++;
        s->h.c.audit_records++;
    } else {
        s->h.c.commit_failures++;
    }
    struct hub_span req = {job->req, job->req_len};
    msgpack_packer pk;
    s->scratch.size = 0;
    msgpack_packer_init(&pk, &s->scratch, msgpack_sbuffer_write);
    if (rc) /* no record of the run: no figures */
        hub_reply_error(&pk, &req, &e, 0);
    else if (job->rc)
        hub_reply_error(&pk, &req, &job->err, 0);
    else {
        hub_reply_begin(&pk, &req, 1, job->npairs);
        hub_pack_raw(&pk, job->body.data, job->body.size);
    }
    send_reply(s, &job->tk, job->frames, job->nframes, s->scratch.data, s->scratch.size);
    close_frames(job->frames, job->nframes);
    hub_report_job_free(job);
    if (!rc)
        settle_batch(s);
    arm_heal(s);
}

/* Answer a read that runs outside the write batch, at once, from read
 * transactions. */
static void answer_read(struct hub_server *s, struct pending *p, const struct hub_op_row *row)
{
    msgpack_packer pk;
    struct hub_req q = {.r = &p->req, .who = p->who, .pk = &pk,
                        .now_ms = hub_clock_now_ms(s->clock)};
    enum hub_err rc = CSPH_ERR_OK;
    s->scratch.size = 0;
    msgpack_packer_init(&pk, &s->scratch, msgpack_sbuffer_write);
    if (p->req.op != CSPH_OP_PING && p->req.op != CSPH_OP_STATS && log_reopening(s, &q.e))
        rc = q.e.code;
    else if (p->req.op == CSPH_OP_REPORT) {
        if ((rc = report_start(s, p, &q.e)) == CSPH_ERR_OK)
            return; /* answered when the worker is done (report_done) */
    } else if ((rc = row->fn(&s->h, &q)) == CSPH_ERR_OK && q.hold &&
             (rc = hold_fetch(s, p, &q, 0, &q.e)) == CSPH_ERR_OK)
        rc = CSPH_ERR_OK; /* held: answered when an alert arrives or the wait ends */
    if (rc)
        reply_error(s, &p->tk, p->frames, p->nframes, &p->req.req, &q.e, 0);
    else if (!q.hold)
        send_reply(s, &p->tk, p->frames, p->nframes, s->scratch.data, s->scratch.size);
    close_frames(p->frames, p->nframes);
}

static void on_ready(struct hub_zsock *z)
{
    struct hub_server *s = z->data;
    if (s->stopping)
        return;
    hub_transport_sweep(s->transport);
    uint32_t n = 0;
    size_t bytes = 0;
    /* Events in the batch: bounded too (hub_core_batch_events_max), so that
     * a burst of large publishes does not grow the memory the index's
     * transaction holds; what is left waits on the socket for the next. */
    uint64_t events = 0, events_max = hub_core_batch_events_max(s->h.core);
    /* Which clients have a write in this batch: a tag per connection, so
     * that finding out costs one comparison, not a scan of the batch. */
    uint64_t serial = ++s->batch_serial;
    msgpack_zone_clear(&s->zone);
    while (n < s->cfg->limits.batch_max && bytes < s->cfg->limits.batch_bytes_max &&
           events < events_max) {
        struct pending *p = &s->batch[n];
        int got = recv_message(s, p);
        if (got == 0)
            break;
        if (got < 0)
            continue;
        s->h.c.requests++;
        struct hub_conn *conn = hub_transport_sender(s->transport, p->frames, p->nframes);
        hub_transport_unadmitted(conn, &p->tk);
        zmq_msg_t *body = &p->frames[p->nframes - 1];
        struct hub_error e;
        enum hub_err rc = hub_wire_decode(zmq_msg_data(body), zmq_msg_size(body), &s->zone,
                                          s->cfg->limits.events_per_publish, &p->req, &e);
        if (rc) {
            s->h.c.malformed++;
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
            (void)hub_transport_set_account(s->transport, conn, acct, strlen(acct));
        }
        /* Every request, read or write, is refused while its own client (or
         * identity) has too many replies it has not read: the client that
         * does not read is answered busy, never the others. */
        if ((rc = hub_transport_admit(s->transport, conn, NULL, 0, &p->tk, &e))) {
            s->h.c.busy++;
            reply_error(s, &p->tk, p->frames, p->nframes, &p->req.req, &e,
                        p->req.op == CSPH_OP_PUBLISH && !p->req.batch);
            close_frames(p->frames, p->nframes);
            continue;
        }
        const struct hub_op_row *row = hub_ops_row(p->req.op);
        int in_batch = hub_ops_in_batch(row, p->who);
        if (row->kind != CSPH_OPK_WRITE && n && conn && hub_transport_conn_tag(conn) == serial) {
            /* A read sent after a write by the same client waits for that
             * write's commit: it sees the write (a fetch after an ack starts
             * past the acked alerts, a replay after a publish holds the
             * event) and its reply comes after the write's. The loop calls
             * again for what is left on the socket. */
            process_batch(s, (int)n);
            if (in_batch) {
                pending_move(s, &s->batch[0], p);
                process_batch(s, 1);
            } else {
                answer_read(s, p, row);
            }
            hub_transport_sweep(s->transport);
            return;
        }
        if (!in_batch) {
            answer_read(s, p, row);
            continue;
        }
        if (conn)
            hub_transport_conn_set_tag(conn, serial);
        bytes += zmq_msg_size(&p->frames[p->nframes - 1]);
        events += p->req.op == CSPH_OP_PUBLISH && p->req.nevents ? p->req.nevents : 1;
        n++;
    }
    if (n)
        process_batch(s, (int)n);
    hub_transport_sweep(s->transport);
}

/* ---- lifecycle -------------------------------------------------------- */

static enum hub_err load_rules(struct hub_server *s, struct hub_rules **out,
                               struct hub_error *err)
{
    *out = NULL;
    if (!s->cfg->rules_file[0])
        return CSPH_ERR_OK;
    enum hub_err rc = hub_rules_load(out, s->cfg->rules_file, s->cfg->panels, s->cfg->npanels,
                                     s->h.schemas, err);
    if (rc == CSPH_ERR_OK &&
        ((rc = hub_ingest_rules_fit(*out, err)) ||
         (rc = hub_rules_cache(*out, (size_t)s->cfg->limits.rules_cache_mb << 20, err))))
        hub_rules_destroy(out);
    return rc;
}

/* The rule set in force into the log (rules.loaded), unless the log's last
 * rules.loaded already records it, or neither the log nor the hub has
 * rules. */
static enum hub_err record_rules(struct hub_server *s, struct hub_error *err)
{
    char last[80];
    const char *now = s->rules ? hub_rules_digest(s->rules) : CSPH_RULES_NONE;
    enum hub_err rc =
        hub_ingest_rules_recorded(hub_core_ingest(s->h.core), last, sizeof last, NULL, err);
    if (rc || !strcmp(last, now) || (!last[0] && !s->rules))
        return rc;
    uint64_t seq = 0;
    if ((rc = hub_core_batch_begin(s->h.core, err)))
        return rc;
    if ((rc = hub_ingest_rules_loaded(hub_core_ingest(s->h.core), hub_clock_now_ms(s->clock),
                                      &seq, err))) {
        hub_core_batch_abort(s->h.core);
        return rc;
    }
    if ((rc = hub_core_batch_commit(s->h.core, err)))
        return rc;
    s->h.c.commits++;
    if ((rc = hub_core_settle_all(s->h.core, err))) /* rare: no need to hold it */
        return rc;
    LOG_INFO("rules", "rule set %s recorded in the log (rules.loaded, seq %llu)", now,
             (unsigned long long)seq);
    return CSPH_ERR_OK;
}

/* SIGHUP: reload the rules. A broken file leaves the running rules in
 * force; the error is logged with file:line. */
/* Account changes in the log (people.h): the people list, when it differs
 * from the one last recorded. security curve only. */
static enum hub_err record_people(struct hub_server *s, struct hub_error *err)
{
    uint64_t seq = 0;
    if (s->cfg->security != CSPH_SECURITY_CURVE)
        return CSPH_ERR_OK;
    enum hub_err rc = hub_core_batch_begin(s->h.core, err);
    if (rc)
        return rc;
    if ((rc = hub_people_record(hub_core_ingest(s->h.core), hub_core_store(s->h.core), &s->ids,
                                s->cfg, hub_clock_now_ms(s->clock), &seq, err))) {
        hub_core_batch_abort(s->h.core);
        return rc;
    }
    if ((rc = hub_core_batch_commit(s->h.core, err)))
        return rc;
    s->h.c.commits++;
    (void)hub_core_settle_all(s->h.core, err); /* rare: no need to hold it */
    if (seq)
        LOG_INFO("security", "%zu people recorded in the log (people.loaded, seq %llu)",
                 s->ids.npeople, (unsigned long long)seq);
    return CSPH_ERR_OK;
}

/* The person view's index of alerts (views.h), built once for a data
 * directory older than it. */
static enum hub_err backfill_views(struct hub_server *s, struct hub_error *err)
{
    uint64_t n = 0;
    enum hub_err rc = hub_core_batch_begin(s->h.core, err);
    if (rc)
        return rc;
    if ((rc = hub_views_backfill(hub_core_store(s->h.core), hub_core_queues(s->h.core), &n,
                                 err))) {
        hub_core_batch_abort(s->h.core);
        return rc;
    }
    if ((rc = hub_core_batch_commit(s->h.core, err)))
        return rc;
    (void)hub_core_settle_all(s->h.core, err);
    if (n)
        LOG_INFO("views", "%llu alerts indexed by person for the person view",
                 (unsigned long long)n);
    return CSPH_ERR_OK;
}

static void reload_rules(struct hub_server *s)
{
    struct hub_rules *fresh;
    struct hub_error err;
    if (s->cfg->security == CSPH_SECURITY_CURVE) {
        struct hub_identities ids;
        if (hub_identities_load(&ids, s->cfg->identities_file, s->cfg, &err)) {
            LOG_ERROR("security", "identity file reload refused, the running identities stay "
                      "in force: %s", err.message);
        } else {
            /* Revocation takes effect at once: requests look their sender
             * up by name, and a name no longer listed is forbidden. */
            hub_identities_free(&s->ids);
            s->ids = ids;
            LOG_INFO("security", "reloaded %zu identities from %s", ids.n,
                     s->cfg->identities_file);
            if (record_people(s, &err)) /* the list is in force regardless */
                LOG_ERROR("security", "the people list could not be recorded in the log: %s",
                          err.message);
        }
    }
    if (load_rules(s, &fresh, &err)) {
        s->h.c.rule_reload_failures++;
        LOG_ERROR("rules", "reload refused, the running rules (%s) stay in force: %s",
                  s->rules ? hub_rules_digest(s->rules) : "none", err.message);
        return;
    }
    /* The new rules start from a committed index, not held batches. Between
     * batches neither call can be refused. */
    (void)hub_core_settle_all(s->h.core, &err);
    struct hub_rules *old = s->rules;
    hub_rules_take_cache(fresh, old); /* the same state: no second pass over it */
    s->rules = fresh;
    (void)hub_core_set_rules(s->h.core, fresh, &err);
    /* In force only once the log says so (rules.loaded): re-derivation
     * must find every rule set the hub ran. */
    if (record_rules(s, &err)) {
        hub_rules_take_cache(old, fresh);
        s->rules = old;
        (void)hub_core_set_rules(s->h.core, old, NULL);
        hub_rules_destroy(&fresh);
        s->h.c.rule_reload_failures++;
        LOG_ERROR("rules", "reload refused, the running rules (%s) stay in force: cannot record "
                  "the new rules in the log: %s", old ? hub_rules_digest(old) : "none",
                  err.message);
        return;
    }
    hub_rules_destroy(&old);
    uint64_t filled;
    if (hub_ingest_backfill(hub_core_ingest(s->h.core), &filled, &err))
        LOG_ERROR("rules", "the reloaded rules are in force, but the windows of the rules that "
                  "changed could not be filled from the log (%s): they count from now; reload "
                  "again, or restart the hub, to retry", err.message);
    s->h.c.rule_reloads++;
    LOG_INFO("rules", "reloaded %zu rules from %s (version %s)",
             fresh ? hub_rules_count(fresh) : 0, s->cfg->rules_file,
             fresh ? hub_rules_digest(fresh) : "none");
}

/* Report hook (reportop.h): SIGHUP reads the indicator and area files
 * again, checked against the rules now in force; a bad file keeps the
 * ones in force and says file:line. */
static void reload_indicators(struct hub_server *s)
{
    struct hub_error err;
    const char *was = hub_reportop_indicators(s->reports)->digest;
    char before[sizeof hub_reportop_indicators(s->reports)->digest];
    snprintf(before, sizeof before, "%s", was);
    if (hub_reportop_reload(s->reports, s->rules, &err)) {
        LOG_ERROR("report", "indicator and area reload refused, the running ones (%s) stay in "
                  "force: %s", before, err.message);
        return;
    }
    const struct hub_indicators *ind = hub_reportop_indicators(s->reports);
    LOG_INFO("report", "reloaded %zu indicators and %zu areas from %s and %s (%s, was %s)",
             ind->n, ind->nareas, s->cfg->indicators_file, s->cfg->areas_file, ind->digest,
             before);
}

static void on_hup(uv_signal_t *h, int signum)
{
    (void)signum;
    struct hub_server *s = h->data;
    reload_rules(s);
    if (s->reports)
        reload_indicators(s);
    hub_sweeprun_reload(s->sweep); /* retention hook */
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct hub_server *s = h->data;
    LOG_INFO("hub", "received %s: stopping after the batch in hand",
             signum == SIGINT ? "SIGINT" : "SIGTERM");
    hub_server_stop(s);
}

/* A client has gone (its connection closed): its held fetches have no one
 * to answer, and would take slots from the others until they expire. */
static void on_conn_gone(void *data, struct hub_conn *c)
{
    struct hub_server *s = data;
    uint64_t released = 0;
    struct hub_held_fetch h;
    while (hub_held_take_conn(s->held, c, &h)) {
        hub_transport_fetch_done(s->transport, &h.tk);
        hub_transport_settle(s->transport, &h.tk);
        hub_held_fetch_free(&h);
        released++;
    }
    if (released) {
        hub_transport_fetches_released(s->transport, released);
        arm_fetch_timer(s);
    }
    /* Report hook: a report being computed for it is answered into the
     * void (the connection is freed now, the job finishes later). */
    for (unsigned i = 0; s->reports && i < CSPH_REPORTOP_MAX_RUNNING; i++) {
        struct hub_report_job *job = hub_reportop_job(s->reports, i);
        if (job && job->tk.conn == c) {
            hub_transport_settle(s->transport, &job->tk);
            job->tk.conn = NULL;
        }
    }
}

/* The listening socket, then the transport's monitor on it (which must
 * watch it before it binds: it learns the listening descriptors from the
 * bind), then the binds. */
static enum hub_err open_router(struct hub_server *s, struct hub_error *err)
{
    enum hub_err rc =
        hub_listen_open(&s->listen, s->cfg, &s->ids, &s->h.c.handshakes_refused, err);
    s->router = s->listen.router;
    if (rc == CSPH_ERR_OK)
        rc = hub_transport_new(&s->transport, s->loop, s->listen.zctx, s->router, &s->tlim,
                               on_conn_gone, s, err);
    s->h.transport = s->transport;
    if (rc == CSPH_ERR_OK)
        rc = hub_listen_bind(&s->listen, s->cfg, err);
    return rc;
}

enum hub_err hub_server_new(struct hub_server **out, uv_loop_t *loop,
                            const struct hub_config *cfg, struct hub_clock *clock,
                            struct hub_error *err)
{
    struct hub_server *s = calloc(1, sizeof *s);
    if (!s)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    s->cfg = cfg;
    s->clock = clock;
    s->loop = loop;
    s->h.started_ms = hub_clock_now_ms(clock);
    msgpack_zone_init(&s->zone, 64 * 1024);
    s->h.cfg = cfg;
    s->h.ids = &s->ids; /* hook: action owners are known agencies and people (panelops.h) */
    s->h.clock = clock;
    s->h.batch_zone = &s->zone;
    msgpack_zone_init(&s->h.scan_zone, 16 * 1024);
    msgpack_sbuffer_init(&s->scratch);
    msgpack_sbuffer_init(&s->h.items);
    enum hub_err rc;
    const char *panel_names[CSPH_MAX_PANELS];
    for (size_t i = 0; i < cfg->npanels; i++)
        panel_names[i] = cfg->panels[i].name;
    if ((rc = hub_schemas_load(&s->h.schemas, cfg->schemas_dir, panel_names, cfg->npanels, err)))
        goto fail;
    LOG_INFO("hub", "%zu event types loaded from %s", hub_schemas_count(s->h.schemas),
             cfg->schemas_dir);
    if ((rc = load_rules(s, &s->rules, err)))
        goto fail;
    struct hub_core_opts co = {.cfg = cfg, .dir = cfg->data_dir, .map_size = cfg->limits.map_size,
                               .schemas = s->h.schemas, .rules = s->rules, .apply_limits = 1,
                               .journal = 1};
    if ((rc = hub_core_open(&s->h.core, &co, err)))
        goto fail;
    if ((rc = hub_reportop_new(&s->reports, loop, cfg, hub_core_store(s->h.core),
                               hub_core_queues(s->h.core), s->h.schemas, s->rules, report_done, s,
                               err)))
        goto fail;
    struct hub_store *store = hub_core_store(s->h.core);
    LOG_INFO("hub", "log opened in %s: last seq %llu, %llu rejections kept, hash chain %s",
             cfg->data_dir, (unsigned long long)hub_store_last_seq(store),
             (unsigned long long)hub_store_last_reject(store), hub_store_chain_name(store));
    if (s->rules)
        LOG_INFO("rules", "%zu rules in force from %s (version %s)", hub_rules_count(s->rules),
                 cfg->rules_file, hub_rules_digest(s->rules));
    else
        LOG_WARN("rules", "no rules file configured: events are logged but raise no alerts");
    uint64_t caught;
    if ((rc = hub_core_recover(s->h.core, &caught, err)))
        goto fail;
    if ((rc = record_rules(s, err)))
        goto fail;
    if ((rc = backfill_views(s, err)))
        goto fail;
    uint64_t derived; /* hook: a log from before cases gets its cases (casederive.h) */
    if ((rc = hub_casederive_run(s->h.core, &derived, err)))
        goto fail;
    uint64_t filled;
    if ((rc = hub_ingest_backfill(hub_core_ingest(s->h.core), &filled, err)))
        goto fail;
    if ((rc = hub_held_new(&s->held, cfg->limits.fetch_held_max, err)))
        goto fail;
    /* One more than fetch_held_max so that calloc never gets 0. */
    s->released = calloc((size_t)cfg->limits.fetch_held_max + 1, sizeof *s->released);
    if (!s->released) {
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i <= cfg->limits.fetch_held_max; i++)
        msgpack_sbuffer_init(&s->released[i].reply);
    /* calloc's zeroes are each slot's reply buffer initialised (what
     * msgpack_sbuffer_init writes): a slot's pages are touched, and so
     * become the hub's memory, only once a batch reaches it. */
    s->batch = calloc(cfg->limits.batch_max, sizeof *s->batch);
    s->as_ids = calloc(cfg->limits.batch_max, sizeof *s->as_ids);
    if (!s->batch || !s->as_ids) {
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory for the batch");
        goto fail;
    }
    if (cfg->security == CSPH_SECURITY_CURVE &&
        (rc = hub_identities_load(&s->ids, cfg->identities_file, cfg, err)))
        goto fail;
    if ((rc = record_people(s, err)))
        goto fail;
    s->tlim = (struct hub_transport_limits){
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
    if (hub_transport_raise_fd_limit(&nofile_before, &nofile) != 0)
        LOG_WARN("hub", "cannot raise the file-descriptor limit (%s): it stays %llu",
                 strerror(errno), (unsigned long long)nofile);
    else if (nofile != nofile_before)
        LOG_INFO("hub", "file-descriptor limit raised from %llu to %llu (the hard limit)",
                 (unsigned long long)nofile_before, (unsigned long long)nofile);
    if ((rc = open_router(s, err)))
        goto fail;
    LOG_INFO("hub", "room for %llu client connections (file-descriptor limit %llu)",
             (unsigned long long)hub_transport_stats(s->transport)->connections_max,
             (unsigned long long)nofile);
    hub_zsock_start(&s->zs, loop, s->router, on_ready, NULL, s);
    hub_transport_start(s->transport);
    hub_listen_start(&s->listen, loop);
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
    /* Retention hook (sweeprun.h): last, so nothing after it can fail. */
    if ((rc = hub_sweeprun_new(&s->sweep, loop, &s->h, sweep_settled, s, err)))
        goto fail;
    *out = s;
    return CSPH_ERR_OK;
fail:
    hub_server_destroy(&s);
    return rc;
}

/* The data directory as hub_store_open will need it, without opening the
 * log (a running hub may hold it). */
static enum hub_err check_data_dir(const char *dir, struct hub_error *err)
{
    struct stat st;
    if (stat(dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return hub_error_set(err, CSPH_ERR_CONFIG, "data_dir",
                                 "the data directory %s is not a directory", dir);
        if (access(dir, R_OK | W_OK | X_OK) != 0)
            return hub_error_set(err, CSPH_ERR_CONFIG, "data_dir",
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
        return hub_error_set(err, CSPH_ERR_CONFIG, "data_dir",
                             "the data directory %s does not exist and cannot be created in "
                             "%s: %s",
                             dir, parent, strerror(errno));
    return CSPH_ERR_OK;
}

enum hub_err hub_server_check(const struct hub_config *cfg, struct hub_error *err)
{
    struct hub_schemas *schemas = NULL;
    struct hub_rules *rules = NULL;
    struct hub_identities ids = {0};
    const char *panel_names[CSPH_MAX_PANELS];
    enum hub_err rc;
    for (size_t i = 0; i < cfg->npanels; i++)
        panel_names[i] = cfg->panels[i].name;
    if ((rc = hub_schemas_load(&schemas, cfg->schemas_dir, panel_names, cfg->npanels, err)))
        goto done;
    if (cfg->rules_file[0] &&
        ((rc = hub_rules_load(&rules, cfg->rules_file, cfg->panels, cfg->npanels, schemas,
                              err)) ||
         (rc = hub_ingest_rules_fit(rules, err))))
        goto done;
    /* Report hook: the indicator and area files, as a start loads them. */
    struct hub_indicators ind;
    rc = hub_indicators_load(&ind, cfg->indicators_file, cfg->areas_file, cfg, schemas, rules,
                             err);
    hub_indicators_free(&ind);
    if (rc || (rc = hub_sweeprun_check(cfg, schemas, err))) /* retention hook */
        goto done;
    if (cfg->security == CSPH_SECURITY_CURVE) {
        char pub[41], sec[41], msg[512];
        int bad = csph_key_file_read(cfg->server_key_file, pub, sec, msg, sizeof msg) != 0;
        int has_secret = sec[0] != 0;
        memset(sec, 0, sizeof sec);
        if (bad) {
            rc = hub_error_set(err, CSPH_ERR_CONFIG, "server_key_file", "%s", msg);
            goto done;
        }
        if (!has_secret) {
            rc = hub_error_set(err, CSPH_ERR_CONFIG, "server_key_file",
                               "%s holds no secret key: give the hub's NAME.key, not NAME.pub",
                               cfg->server_key_file);
            goto done;
        }
        if ((rc = hub_identities_load(&ids, cfg->identities_file, cfg, err)))
            goto done;
    }
    rc = check_data_dir(cfg->data_dir, err);
done:
    hub_identities_free(&ids);
    hub_rules_destroy(&rules);
    hub_schemas_destroy(&schemas);
    return rc;
}

static void on_handle_closed(uv_handle_t *h) { (void)h; }
static void on_zsock_closed(struct hub_zsock *z) { (void)z; }

void hub_server_stop(struct hub_server *s)
{
    if (!s || s->stopping)
        return;
    s->stopping = 1;
    hub_zsock_close(&s->zs, on_zsock_closed);
    hub_listen_stop(&s->listen);
    uv_close((uv_handle_t *)&s->sigint, on_handle_closed);
    uv_close((uv_handle_t *)&s->sigterm, on_handle_closed);
    uv_close((uv_handle_t *)&s->sighup, on_handle_closed);
    uv_close((uv_handle_t *)&s->due_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->index_timer, on_handle_closed);
    uv_close((uv_handle_t *)&s->heal_timer, on_handle_closed);
    hub_sweeprun_stop(s->sweep); /* retention hook */
    /* Held fetches get their answer before the socket closes. */
    size_t n = 0;
    while (s->held && hub_held_take_newest(s->held, &s->released[n].f))
        n++;
    answer_released(s, n);
    uv_close((uv_handle_t *)&s->fetch_timer, on_handle_closed);
    /* After the fetches' answers: the last chance for held replies (the
     * ROUTER's linger then has them). */
    if (s->transport)
        hub_transport_close(s->transport, NULL);
}

void hub_server_destroy(struct hub_server **sp)
{
    if (!sp || !*sp)
        return;
    struct hub_server *s = *sp;
    hub_transport_destroy(&s->transport); /* before the ROUTER it monitors */
    hub_held_destroy(&s->held);
    if (s->released) {
        for (size_t i = 0; i <= s->cfg->limits.fetch_held_max; i++)
            msgpack_sbuffer_destroy(&s->released[i].reply);
        free(s->released);
    }
    hub_reportop_destroy(&s->reports);
    hub_sweeprun_destroy(&s->sweep); /* retention hook */
    hub_core_close(&s->h.core);
    hub_rules_destroy(&s->rules);
    hub_listen_close(&s->listen); /* after the transport that used its socket */
    hub_identities_free(&s->ids);
    if (s->batch) {
        for (uint32_t i = 0; i < s->cfg->limits.batch_max; i++)
            msgpack_sbuffer_destroy(&s->batch[i].reply);
        free(s->batch);
    }
    free(s->as_ids);
    hub_schemas_destroy(&s->h.schemas);
    msgpack_zone_destroy(&s->zone);
    msgpack_zone_destroy(&s->h.scan_zone);
    msgpack_sbuffer_destroy(&s->scratch);
    msgpack_sbuffer_destroy(&s->h.items);
    free(s);
    *sp = NULL;
}

/* Metrics: the service's hook (server.h). What `stats` says, as samples. */
enum hub_err hub_server_snapshot(struct hub_server *s, struct hub_snap *snap,
                                 struct hub_queue_gauges *g, struct hub_error *err)
{
    enum hub_err rc;
    const enum hub_metric_kind C = CSPH_METRIC_COUNTER, G = CSPH_METRIC_GAUGE;
    /* Counters end in _total (Prometheus' convention); the one gauge of
     * the map, and rejected_total, keep their names. */
#define CSPH_COUNTER_SAMPLE(name)                                              \
    hub_snap_add(snap,                                                         \
                 !strcmp(#name, "batch_requests_max") ? "csphub_" #name       \
                 : !strcmp(#name, "rejected_total")   ? "csphub_" #name       \
                                                       : "csphub_" #name "_total", \
                  "The hub's " #name " counter (as in csphub status).",        \
                  strcmp(#name, "batch_requests_max") ? C : G, (double)s->h.c.name, NULL, NULL, \
                  NULL, NULL);
    CSPH_COUNTER_MAP(CSPH_COUNTER_SAMPLE)
#undef CSPH_COUNTER_SAMPLE
    const struct hub_transport_stats *ts = hub_transport_stats(s->transport);
#define CSPH_TRANSPORT_SAMPLE(name)                                            \
    hub_snap_add(snap,                                                         \
                 strcmp(#name, "connections") && strcmp(#name, "connections_max")    \
                      ? "csphub_" #name "_total"                               \
                      : "csphub_" #name,                                       \
                  "The transport's " #name " (as in csphub status).",          \
                  strcmp(#name, "connections") && strcmp(#name, "connections_max") ? C : G, \
                  (double)ts->name, NULL, NULL, NULL, NULL);
    CSPH_TRANSPORT_COUNTERS(CSPH_TRANSPORT_SAMPLE)
#undef CSPH_TRANSPORT_SAMPLE
    hub_snap_add(snap, "csphub_replies_waiting", "Replies held for clients that are not reading.",
                 G, (double)ts->replies_waiting, NULL, NULL, NULL, NULL);
    for (int i = 1; i < CSPH_ERR__COUNT; i++)
        hub_snap_add(snap, "csphub_rejected_by_code_total",
                     "Events and requests refused, by error code.", C,
                     (double)s->h.c.rejected[i], "code", hub_err_name((enum hub_err)i), NULL,
                     NULL);
    snap->commit = s->commit_hist;
    snap->has_commit = 1;
    uint64_t raised[CSPH_MAX_PANELS];
    hub_queues_counts(hub_core_queues(s->h.core), raised);
    for (size_t i = 0; i < s->cfg->npanels; i++)
        hub_snap_add(snap, "csphub_panel_alerts_raised_total", "Alerts raised on each panel since the log began.",
                     C, (double)raised[i], "panel", s->cfg->panels[i].name, NULL, NULL);
    int64_t now = hub_clock_now_ms(s->clock);
    if (g && (rc = hub_queues_gauges(hub_core_queues(s->h.core), now, g, err)))
        return rc;
    for (size_t i = 0; g && i < s->cfg->npanels; i++)
        hub_snap_add(snap, "csphub_alerts_open", "Alerts open (no decision yet) on each panel.", G,
                     (double)g->open[i], "panel", s->cfg->panels[i].name, NULL, NULL);
    for (size_t i = 0; g && i < s->cfg->npanels; i++)
        hub_snap_add(snap, "csphub_alerts_overdue", "Open alerts past their due_at on each panel.",
                     G, (double)g->overdue[i], "panel", s->cfg->panels[i].name, NULL, NULL);
    struct hub_store_usage u;
    if ((rc = hub_store_usage_read(hub_core_store(s->h.core), &u, err)))
        return rc;
    hub_snap_add(snap, "csphub_log_last_seq", "The last event's seq in the log.", G,
                 (double)hub_store_last_seq(hub_core_store(s->h.core)), NULL, NULL, NULL, NULL);
    hub_snap_add(snap, "csphub_rejects_kept", "Rejected events kept for their sources.", G,
                 (double)hub_store_last_reject(hub_core_store(s->h.core)), NULL, NULL, NULL, NULL);
    hub_snap_add(snap, "csphub_log_file_bytes", "Disk space data.mdb takes.", G,
                 (double)u.file_bytes, NULL, NULL, NULL, NULL);
    hub_snap_add(snap, "csphub_map_bytes", "The log's ceiling (limits.map_size_mb).", G,
                 (double)u.map_bytes, NULL, NULL, NULL, NULL);
    hub_snap_add(snap, "csphub_map_used_bytes", "The log's map in use.", G, (double)u.used_bytes,
                 NULL, NULL, NULL, NULL);
    double ratio = u.map_bytes ? (double)u.used_bytes / (double)u.map_bytes : 1.0;
    hub_snap_add(snap, "csphub_map_used_ratio", "The log's map in use, 0 to 1 (alert at 0.8).", G,
                 ratio, NULL, NULL, NULL, NULL);
    struct hub_store_health h;
    hub_store_health(hub_core_store(s->h.core), &h);
    int index_ok = !strcmp(h.index, "ok"), log_ok = !strcmp(h.log, "ok");
    hub_snap_add(snap, "csphub_degraded", "1 while a part of the store heals (writes get busy).",
                 G, index_ok ? 0 : 1, "part", "index", "state", h.index);
    hub_snap_add(snap, "csphub_degraded", "1 while a part of the store heals (writes get busy).",
                 G, log_ok ? 0 : 1, "part", "log", "state", h.log);
    hub_snap_add(snap, "csphub_index_behind_events", "Events of the log the index has not applied.",
                 G, (double)(h.log_last > h.index_applied ? h.log_last - h.index_applied : 0),
                 NULL, NULL, NULL, NULL);
    hub_snap_add(snap, "csphub_index_failures_total", "Index commits that failed since the start.", C,
                 (double)h.index_failures, NULL, NULL, NULL, NULL);
    hub_snap_add(snap, "csphub_index_rebuilds_total", "Index rebuilds from the log since the start.", C,
                 (double)h.index_rebuilds, NULL, NULL, NULL, NULL);
    hub_snap_add(snap, "csphub_log_reopens_total", "Times data.mdb was reopened after a disk error.", C,
                 (double)h.log_reopens, NULL, NULL, NULL, NULL);
    hub_snap_add(snap, "csphub_rules_info", "The rule set in force (its digest).", G, 1,
                 "version", s->rules ? hub_rules_digest(s->rules) : "none", NULL, NULL);
    hub_snap_add(snap, "csphub_uptime_seconds", "Seconds since the hub started.", G,
                 (double)(now - s->h.started_ms) / 1000.0, NULL, NULL, NULL, NULL);
    /* Writable: what the health endpoint answers 200 for. A map past 99%
     * refuses the next large batch: not writable in any useful sense. */
    snap->writable = 0;
    if (s->stopping)
        snprintf(snap->why, sizeof snap->why, "stopping");
    else if (!index_ok)
        snprintf(snap->why, sizeof snap->why, "index %s: %s", h.index, h.index_why);
    else if (!log_ok)
        snprintf(snap->why, sizeof snap->why, "log %s", h.log);
    else if (ratio >= 0.99)
        snprintf(snap->why, sizeof snap->why, "the log's map is %.1f%% full: raise "
                 "limits.map_size_mb", ratio * 100);
    else {
        snap->writable = 1;
        snprintf(snap->why, sizeof snap->why, "ok");
    }
    hub_snap_add(snap, "csphub_writable", "1 when the hub takes writes (the health check's 200).",
                 G, snap->writable, NULL, NULL, NULL, NULL);
    return CSPH_ERR_OK;
}
