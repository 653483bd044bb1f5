#include "sweeprun.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "timefmt.h"

struct hub_sweeprun {
    uv_timer_t timer;
    struct hub_ctx *h;
    struct hub_retention *r;
    struct hub_sweep *sw;
    void (*settled)(void *);
    void *arg;
    int stopping, closed;
    uint64_t max_txn_us, pass_txn_us;
};

static void warn_unset(void *ctx, const char *what)
{
    LOG_WARN("retention", "%s has no retention period in %s ('none': no published period): "
                          "its events are kept until the partnership sets one",
             what, (const char *)ctx);
}

static void on_step(uv_timer_t *t);

static void arm(struct hub_sweeprun *run, uint64_t ms)
{
    if (!run->stopping)
        uv_timer_start(&run->timer, on_step, ms, 0);
}

static void on_step(uv_timer_t *t)
{
    struct hub_sweeprun *run = t->data;
    struct hub_ctx *h = run->h;
    int64_t now = hub_clock_now_ms(h->clock), every = hub_retention_every_ms(run->r);
    if (!hub_sweep_active(run->sw)) {
        int64_t began = hub_sweep_pass_began(run->sw);
        if (began && now < began + every) {
            /* Checked at least hourly: the hub's clock may be moved. */
            int64_t wait = began + every - now;
            arm(run, (uint64_t)(wait < 3600000 ? wait : 3600000));
            return;
        }
        hub_sweep_begin_pass(run->sw, now);
        run->pass_txn_us = 0;
    }
    uint64_t t0 = uv_hrtime(), us = 0;
    struct hub_error e;
    int wrote = 0;
    enum hub_err rc = hub_sweep_step(run->sw, h, run->r, &wrote, &us, &e);
    if (wrote) {
        if (us > run->max_txn_us)
            run->max_txn_us = us;
        if (us > run->pass_txn_us)
            run->pass_txn_us = us;
        run->settled(run->arg);
    }
    if (rc) {
        /* busy (a full disk, a repair) is logged by the store; the step is
         * tried again in a second. */
        if (rc != CSPH_ERR_BUSY)
            LOG_ERROR("retention", "sweep step failed: %s; retrying in 1 s", e.message);
        arm(run, 1000);
        return;
    }
    const struct hub_sweep_stats *st = hub_sweep_stats(run->sw);
    if (!hub_sweep_active(run->sw)) {
        LOG_INFO("retention", "sweep pass done: %llu bodies removed, %llu kept rejections "
                              "removed, %llu expired events kept under legal hold, %llu alerts "
                              "expired, %llu expired alerts kept under legal hold so far; "
                              "%llu events examined since the hub started, %llu alerts; "
                              "longest write transaction this pass %.1f ms",
                 (unsigned long long)st->removed, (unsigned long long)st->rejections,
                 (unsigned long long)st->held, (unsigned long long)st->alerts,
                 (unsigned long long)st->alerts_held, (unsigned long long)st->examined,
                 (unsigned long long)st->alerts_examined, (double)run->pass_txn_us / 1000.0);
        arm(run, 0); /* waits for the next pass in the branch above */
        return;
    }
    /* Paced: the sweep takes at most a sixth of the loop. */
    uint64_t ms = (uv_hrtime() - t0) / 1000000;
    arm(run, ms ? 5 * ms : 1);
}

/* Take up the saved position of the pass (sweep.h, hub_sweep_resume) and
 * say what became of it. */
static void resume(struct hub_sweeprun *run)
{
    struct hub_sweep_pos pos;
    char as_of[40] = "";
    int64_t now = hub_clock_now_ms(run->h->clock);
    enum hub_sweep_resumed how =
        hub_sweep_resume(run->sw, hub_core_store(run->h->core), run->r, now, &pos);
    if (how == CSPH_SWEEP_RESUMED || how == CSPH_SWEEP_WAITING)
        as_of[csph_time_format(pos.as_of_ms, as_of)] = 0;
    switch (how) {
    case CSPH_SWEEP_NONE_SAVED:
        LOG_INFO("retention", "no sweep position saved: the first pass starts at seq 1");
        break;
    case CSPH_SWEEP_RESUMED:
        if (pos.alerts)
            LOG_INFO("retention", "resuming the sweep pass as of %s at alert %llu (its events "
                                  "done; saved position)",
                     as_of, (unsigned long long)pos.next_alert);
        else
            LOG_INFO("retention", "resuming the sweep pass as of %s at seq %llu (saved position)",
                     as_of, (unsigned long long)pos.next);
        break;
    case CSPH_SWEEP_WAITING:
        LOG_INFO("retention", "the last sweep pass (as of %s) finished; the next is due %lld s "
                              "after it began",
                 as_of, (long long)(hub_retention_every_ms(run->r) / 1000));
        break;
    case CSPH_SWEEP_NEW_POLICY:
        LOG_INFO("retention", "the retention file changed since the saved sweep pass (%.12s, "
                              "now %.12s): a new pass starts at seq 1",
                 pos.policy, hub_retention_digest(run->r));
        break;
    case CSPH_SWEEP_STALE:
        LOG_WARN("retention", "the saved sweep position does not fit this log or clock (a "
                              "restore, or the clock moved back): a new pass starts at seq 1");
        break;
    }
}

enum hub_err hub_sweeprun_new(struct hub_sweeprun **out, uv_loop_t *loop, struct hub_ctx *h,
                              void (*settled)(void *arg), void *arg, struct hub_error *err)
{
    *out = NULL;
    if (!h->cfg->retention_file[0]) {
        LOG_WARN("retention", "no retention file (retention_file: none): nothing leaves the "
                              "log by age");
        return CSPH_ERR_OK;
    }
    struct hub_sweeprun *run = calloc(1, sizeof *run);
    if (!run)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory for the sweep");
    enum hub_err rc = hub_retention_load(&run->r, h->cfg->retention_file, h->schemas, h->cfg, err);
    if (!rc)
        rc = hub_sweep_new(&run->sw, err);
    if (rc) {
        hub_retention_destroy(&run->r);
        free(run);
        return rc;
    }
    run->h = h;
    run->settled = settled;
    run->arg = arg;
    hub_retention_unset(run->r, warn_unset, (void *)h->cfg->retention_file);
    LOG_INFO("retention", "retention periods in force from %s (%.12s); a sweep every %lld s",
             h->cfg->retention_file, hub_retention_digest(run->r),
             (long long)(hub_retention_every_ms(run->r) / 1000));
    resume(run);
    uv_timer_init(loop, &run->timer);
    run->timer.data = run;
    arm(run, 0); /* the first step at start: the pass resumed, or due, or waited for */
    *out = run;
    return CSPH_ERR_OK;
}

void hub_sweeprun_reload(struct hub_sweeprun *run)
{
    if (!run)
        return;
    struct hub_retention *fresh = NULL;
    struct hub_error e;
    if (hub_retention_load(&fresh, run->h->cfg->retention_file, run->h->schemas, run->h->cfg,
                           &e)) {
        LOG_ERROR("retention", "reload refused, the periods in force (%.12s) stay: %s",
                  hub_retention_digest(run->r), e.message);
        return;
    }
    hub_retention_unset(fresh, warn_unset, (void *)run->h->cfg->retention_file);
    LOG_INFO("retention", "reloaded the retention periods from %s (%.12s, was %.12s)",
             run->h->cfg->retention_file, hub_retention_digest(fresh),
             hub_retention_digest(run->r));
    /* Another file (a period or the sweep's settings): a new pass under
     * it from seq 1, not the rest of one measured under the old one. */
    int changed = strcmp(hub_retention_digest(fresh), hub_retention_digest(run->r)) != 0;
    hub_retention_destroy(&run->r);
    run->r = fresh;
    if (changed && !run->stopping) {
        hub_sweep_restart(run->sw, hub_clock_now_ms(run->h->clock));
        run->pass_txn_us = 0;
        arm(run, 0);
    }
}

void hub_sweeprun_clock_changed(struct hub_sweeprun *run)
{
    if (!run || run->stopping)
        return;
    /* A new pass from seq 1: one under way (perhaps resumed as of an
     * earlier time) has walked part of the log as of that time. */
    hub_sweep_restart(run->sw, hub_clock_now_ms(run->h->clock));
    run->pass_txn_us = 0;
    arm(run, 0);
}

void hub_sweeprun_stop(struct hub_sweeprun *run)
{
    if (!run || run->stopping)
        return;
    run->stopping = 1;
    uv_close((uv_handle_t *)&run->timer, NULL);
}

void hub_sweeprun_destroy(struct hub_sweeprun **rp)
{
    if (!rp || !*rp)
        return;
    hub_sweep_destroy(&(*rp)->sw);
    hub_retention_destroy(&(*rp)->r);
    free(*rp);
    *rp = NULL;
}

enum hub_err hub_sweeprun_check(const struct hub_config *cfg, const struct hub_schemas *s,
                                struct hub_error *err)
{
    struct hub_retention *r = NULL;
    if (!cfg->retention_file[0])
        return CSPH_ERR_OK;
    enum hub_err rc = hub_retention_load(&r, cfg->retention_file, s, cfg, err);
    hub_retention_destroy(&r);
    return rc;
}

const struct hub_sweep_stats *hub_sweeprun_stats(const struct hub_sweeprun *run)
{
    return hub_sweep_stats(run->sw);
}

uint64_t hub_sweeprun_max_txn_us(const struct hub_sweeprun *run)
{
    return run->max_txn_us;
}
