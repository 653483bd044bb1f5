#include "reportop.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mpx.h"
#include "store.h"

/* The indicators and areas in force, shared with the jobs computing with
 * them: a reload puts new ones in force while a job finishes on the old,
 * freed when the last of them lets go. Counted on the loop thread only
 * (submit, job free, reload), so no atomics. */
struct ind_ref {
    struct hub_indicators ind;
    unsigned refs;
};

static void ind_release(struct ind_ref *r)
{
    if (r && --r->refs == 0) {
        hub_indicators_free(&r->ind);
        free(r);
    }
}

struct hub_reportop {
    uv_loop_t *loop;
    const struct hub_config *cfg;
    struct hub_store *store;
    struct hub_queues *queues;
    const struct hub_schemas *schemas;
    struct ind_ref *cur; /* in force */
    hub_reportop_done_fn done;
    void *data;
    unsigned running;
    struct hub_report_job *jobs[CSPH_REPORTOP_MAX_RUNNING]; /* being computed */
};

enum hub_err hub_reportop_new(struct hub_reportop **out, uv_loop_t *loop,
                              const struct hub_config *cfg, struct hub_store *store,
                              struct hub_queues *queues, const struct hub_schemas *schemas,
                              const struct hub_rules *rules, hub_reportop_done_fn done,
                              void *data, struct hub_error *err)
{
    struct hub_reportop *ro = calloc(1, sizeof *ro);
    struct ind_ref *ir = calloc(1, sizeof *ir);
    if (!ro || !ir) {
        free(ro);
        free(ir);
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    }
    enum hub_err rc = hub_indicators_load(&ir->ind, cfg->indicators_file, cfg->areas_file, cfg,
                                          schemas, rules, err);
    if (rc) {
        hub_indicators_free(&ir->ind);
        free(ir);
        free(ro);
        return rc;
    }
    ir->refs = 1;
    ro->cur = ir;
    ro->schemas = schemas;
    ro->loop = loop;
    ro->cfg = cfg;
    ro->store = store;
    ro->queues = queues;
    ro->done = done;
    ro->data = data;
    *out = ro;
    return CSPH_ERR_OK;
}

void hub_reportop_destroy(struct hub_reportop **rop)
{
    struct hub_reportop *ro = *rop;
    if (!ro)
        return;
    ind_release(ro->cur);
    free(ro);
    *rop = NULL;
}

unsigned hub_reportop_running(const struct hub_reportop *ro) { return ro ? ro->running : 0; }

struct hub_report_job *hub_reportop_job(struct hub_reportop *ro, unsigned i)
{
    return ro && i < CSPH_REPORTOP_MAX_RUNNING ? ro->jobs[i] : NULL;
}

static void job_slot(struct hub_reportop *ro, struct hub_report_job *job, int take)
{
    for (unsigned i = 0; i < CSPH_REPORTOP_MAX_RUNNING; i++)
        if (ro->jobs[i] == (take ? NULL : job)) {
            ro->jobs[i] = take ? job : NULL;
            return;
        }
}

enum hub_err hub_reportop_reload(struct hub_reportop *ro, const struct hub_rules *rules,
                                 struct hub_error *err)
{
    struct ind_ref *ir = calloc(1, sizeof *ir);
    if (!ir)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    /* Checked whole (against the schemas and the rules now in force)
     * before they replace the ones in force: a bad file changes nothing. */
    enum hub_err rc = hub_indicators_load(&ir->ind, ro->cfg->indicators_file,
                                          ro->cfg->areas_file, ro->cfg, ro->schemas, rules, err);
    if (rc) {
        hub_indicators_free(&ir->ind);
        free(ir);
        return rc;
    }
    ir->refs = 1;
    ind_release(ro->cur);
    ro->cur = ir;
    return CSPH_ERR_OK;
}

const struct hub_indicators *hub_reportop_indicators(const struct hub_reportop *ro)
{
    return &ro->cur->ind;
}

void hub_report_job_free(struct hub_report_job *job)
{
    if (!job)
        return;
    ind_release(job->ind);
    msgpack_sbuffer_destroy(&job->body);
    free(job->req);
    free(job->query);
    free(job);
}

/* A list of names for a message ("a, b, c"), cut to fit. */
static void names(char *buf, size_t n, const struct hub_indicators *ind, int areas)
{
    size_t used = 0, count = areas ? ind->nareas : ind->n;
    buf[0] = 0;
    for (size_t i = 0; i < count && used + 4 < n; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "",
                         areas ? ind->areas[i].name : ind->v[i].name);
        if (w < 0 || (size_t)w >= n - used) {
            snprintf(buf + used, n - used, "...");
            break;
        }
        used += (size_t)w;
    }
    if (!count)
        snprintf(buf, n, "none configured");
}

enum hub_err hub_reportop_submit(struct hub_reportop *ro, const struct hub_request *r,
                                 const struct hub_identity *who, uint64_t last_seq,
                                 struct hub_report_job **jobp, struct hub_error *err)
{
    struct hub_report_params p = {.area = -1, .explain = -1, .suppress = 1};
    const char *from, *to, *area = NULL, *explain = NULL, *month = NULL;
    size_t from_len, to_len, area_len = 0, explain_len = 0, month_len = 0;
    int strategic = who && who->role == CSPH_ROLE_STRATEGIC;
    /* Through a gateway (`as`) a report is what the board sees, whoever the
     * person: the gateway's panels cannot bound a drill-down over the whole
     * log, and a compromised console must not widen anyone's view. */
    int delegated = who && who->gateway[0];
    enum hub_err rc;
    char list[200];
    if ((rc = hub_wire_str(r, "from", 1, 10, 1, &from, &from_len, err)) ||
        (rc = hub_wire_str(r, "to", 1, 10, 1, &to, &to_len, err)) ||
        (rc = hub_wire_str(r, "area", 1, 64, 0, &area, &area_len, err)) ||
        (rc = hub_wire_str(r, "explain", 1, 64, 0, &explain, &explain_len, err)) ||
        (rc = hub_wire_str(r, "month", 1, 7, 0, &month, &month_len, err)))
        return rc;
    if ((rc = hub_report_period(from, from_len, to, to_len, strategic, &p, err)))
        return rc;
    if (area) {
        p.area = hub_areas_find(&ro->cur->ind, area, area_len);
        if (p.area < 0) {
            names(list, sizeof list, &ro->cur->ind, 1);
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "area", "no area '%.*s' in the "
                                 "hub's areas file (known: %s)", (int)area_len, area, list);
        }
    }
    const msgpack_object *sup = hub_mp_get(&r->root, "suppress");
    if (sup) {
        if (sup->type != MSGPACK_OBJECT_BOOLEAN)
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "suppress", "suppress must be true "
                                 "or false, not a %s", hub_mp_type_name(sup));
        p.suppress = sup->via.boolean;
        if (!p.suppress && strategic)
            return hub_error_set(err, CSPH_ERR_FORBIDDEN, "suppress", "identity '%s' (role "
                                 "strategic) sees suppressed figures only", who->name);
        if (!p.suppress && delegated)
            return hub_error_set(err, CSPH_ERR_FORBIDDEN, "suppress", "a report through "
                                 "gateway '%s' is suppressed: ask as yourself for the figures "
                                 "unsuppressed", who->gateway);
    }
    uint64_t as_of = last_seq;
    int has_as_of = 0;
    if ((rc = hub_wire_u64(r, "as_of", 0, UINT64_MAX, &as_of, &has_as_of, err)))
        return rc;
    if (as_of > last_seq)
        return hub_error_set(err, CSPH_ERR_NOT_FOUND, "as_of", "as_of %llu is beyond the log's "
                             "last seq %llu", (unsigned long long)as_of,
                             (unsigned long long)last_seq);
    p.as_of = as_of;
    if (explain || month) {
        if (!explain || !month)
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, explain ? "month" : "explain",
                                 "an explanation needs both explain (an indicator) and month "
                                 "(YYYY-MM)");
        if (delegated)
            return hub_error_set(err, CSPH_ERR_FORBIDDEN, "explain", "no drill-down through "
                                 "gateway '%s': an auditor asks as themself (csphub report "
                                 "--explain)", who->gateway);
        if (who && who->role != CSPH_ROLE_AUDITOR)
            return hub_error_set(err, CSPH_ERR_FORBIDDEN, "explain", "identity '%s' (role %s) "
                                 "may not drill down to records: auditors only", who->name,
                                 hub_role_name(who->role));
        p.explain = hub_indicators_find(&ro->cur->ind, explain, explain_len);
        if (p.explain < 0) {
            names(list, sizeof list, &ro->cur->ind, 0);
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "explain", "no indicator '%.*s' "
                                 "(known: %s)", (int)explain_len, explain, list);
        }
        struct hub_report_params m;
        if (month_len != 7 || hub_report_period(month, month_len, month, month_len, 0, &m, err))
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "month", "month must be YYYY-MM, "
                                 "not '%.*s'", (int)month_len, month);
        p.explain_y = m.from_y;
        p.explain_m = m.from_m;
        p.suppress = 0; /* the auditor sees what was counted */
    }
    if (ro->running >= CSPH_REPORTOP_MAX_RUNNING)
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "%u reports are being computed; retry "
                             "when one has finished", ro->running);
    struct hub_report_job *job = calloc(1, sizeof *job);
    if (!job)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    msgpack_sbuffer_init(&job->body);
    job->owner = ro;
    job->ind = ro->cur; /* computed with these, whatever a reload does meanwhile */
    ro->cur->refs++;
    job->params = p;
    job->work.data = job;
    snprintf(job->who, sizeof job->who, "%s", who ? who->name : "local");
    snprintf(job->role, sizeof job->role, "%s", who ? hub_role_name(who->role) : "none");
    snprintf(job->gateway, sizeof job->gateway, "%s", delegated ? who->gateway : "");
    *jobp = job;
    return CSPH_ERR_OK;
}

/* On a worker thread: reads only (the store's and queues' read
 * transactions, the indicators). */
static void work(uv_work_t *w)
{
    struct hub_report_job *job = w->data;
    struct hub_reportop *ro = job->owner;
    uint64_t t0 = uv_hrtime();
    job->rc = hub_report_run(ro->store, ro->queues, &job->ind->ind, ro->cfg, &job->params, &job->body,
                             &job->npairs, &job->returned, &job->err);
    job->wall_ns = uv_hrtime() - t0;
    job->cpu_ns = hub_report_cpu_ns();
}

static void after(uv_work_t *w, int status)
{
    struct hub_report_job *job = w->data;
    struct hub_reportop *ro = job->owner;
    ro->running--;
    job_slot(ro, job, 0);
    if (status == UV_ECANCELED && !job->rc)
        job->rc = hub_error_set(&job->err, CSPH_ERR_INTERNAL, NULL, "the report was cancelled");
    if (job->rc)
        LOG_WARN("report", "a report for %s (%s) failed: %s", job->who, job->role,
                 job->err.message);
    else
        LOG_INFO("report", "report for %s (%s) as of seq %llu: %llu figures in %.3f s "
                 "(%.3f s of CPU)", job->who, job->role, (unsigned long long)job->params.as_of,
                 (unsigned long long)job->returned, (double)job->wall_ns / 1e9,
                 (double)job->cpu_ns / 1e9);
    ro->done(ro->data, job);
}

void hub_reportop_start(struct hub_reportop *ro, struct hub_report_job *job)
{
    ro->running++;
    job_slot(ro, job, 1);
    int rc = uv_queue_work(ro->loop, &job->work, work, after);
    if (rc) {
        LOG_ERROR("report", "cannot queue a report: %s", uv_strerror(rc));
        ro->running--;
        job_slot(ro, job, 0);
        job->rc = hub_error_set(&job->err, CSPH_ERR_INTERNAL, NULL, "the hub could not start the "
                                "report; retry");
        ro->done(ro->data, job);
    }
}
