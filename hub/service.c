/* service.c: systemd, metrics snapshots and the map's warning (service.h). */
#include "service.h"

#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "log.h"
#include "metrics.h"
#include "queues.h"
#include "sdnotify.h"

/* A consumer seen by the snapshots: when its cursor last moved. */
struct seen {
    int panel;
    char name[96];
    uint64_t cursor;
    int64_t moved_ms;
    int alive; /* in the latest snapshot */
};

struct hub_service {
    uv_loop_t *loop;
    const struct hub_config *cfg;
    struct hub_server *srv;
    struct hub_httpd *http;
    uv_timer_t watchdog, snapshot;
    int timers; /* the timers are initialised (close them) */
    int closing;
    int map_level; /* the last map level warned about */
    struct hub_queue_consumer *consumers;
    size_t max_consumers;
    struct seen *seen;
    size_t nseen, capseen;
};

/* Consumers read from the queues each snapshot: at most this many, then a
 * count of the rest (a runaway client making consumers cannot make the
 * snapshot unbounded). */
#define CONSUMERS_READ_MAX 4096

int hub_service_map_level(uint64_t used, uint64_t map)
{
    static const int levels[] = CSPH_MAP_WARN_LEVELS;
    int got = 0;
    for (size_t i = 0; i < sizeof levels / sizeof *levels; i++)
        if (map && used * 100 >= (uint64_t)levels[i] * map)
            got = levels[i];
    return got;
}

static int64_t wall_ms(const struct hub_service *svc)
{
    return (int64_t)uv_now(svc->loop);
}

static struct seen *seen_find(struct hub_service *svc, int panel, const char *name)
{
    for (size_t i = 0; i < svc->nseen; i++)
        if (svc->seen[i].panel == panel && !strcmp(svc->seen[i].name, name))
            return &svc->seen[i];
    if (svc->nseen == svc->capseen) {
        size_t cap = svc->capseen ? svc->capseen * 2 : 64;
        struct seen *p = realloc(svc->seen, cap * sizeof *p);
        if (!p)
            return NULL;
        svc->seen = p;
        svc->capseen = cap;
    }
    struct seen *s = &svc->seen[svc->nseen++];
    memset(s, 0, sizeof *s);
    s->panel = panel;
    snprintf(s->name, sizeof s->name, "%s", name);
    s->moved_ms = wall_ms(svc);
    s->cursor = UINT64_MAX; /* first sight counts as a move */
    return s;
}

static int by_lag_desc(const void *a, const void *b)
{
    const struct hub_queue_consumer *x = a, *y = b;
    return (x->lag < y->lag) - (x->lag > y->lag);
}

/* Per-consumer series, bounded: consumers whose cursor has not moved for
 * metrics.consumer_idle_hours (a console taken out of use) are dropped and
 * only counted; of the rest, the metrics.consumers_max largest lags. */
static void add_consumers(struct hub_service *svc, struct hub_snap *snap,
                          struct hub_queue_gauges *g)
{
    const struct hub_metrics_config *m = &svc->cfg->metrics;
    int64_t now = wall_ms(svc);
    uint64_t idle[CSPH_MAX_PANELS] = {0};
    size_t keep = 0;
    for (size_t i = 0; i < svc->nseen; i++)
        svc->seen[i].alive = 0;
    for (size_t i = 0; i < g->nconsumers; i++) {
        struct hub_queue_consumer *c = &g->consumers[i];
        struct seen *s = seen_find(svc, c->panel, c->name);
        if (s) {
            s->alive = 1;
            if (s->cursor != c->cursor) {
                s->cursor = c->cursor;
                s->moved_ms = now;
            }
            if (c->lag > 0 && now - s->moved_ms > (int64_t)m->consumer_idle_s * 1000) {
                idle[c->panel]++;
                continue;
            }
        }
        g->consumers[keep++] = *c;
    }
    /* Forget consumers that are gone, so the table stays as long as the
     * queues' own. */
    size_t w = 0;
    for (size_t i = 0; i < svc->nseen; i++)
        if (svc->seen[i].alive)
            svc->seen[w++] = svc->seen[i];
    svc->nseen = w;
    qsort(g->consumers, keep, sizeof *g->consumers, by_lag_desc);
    if (keep > m->consumers_max)
        keep = m->consumers_max;
    for (size_t i = 0; i < keep; i++) {
        const struct hub_queue_consumer *c = &g->consumers[i];
        hub_snap_add(snap, "csphub_consumer_lag",
                     "Alerts on the panel after the consumer's cursor (fetched, not acked).",
                     CSPH_METRIC_GAUGE, (double)c->lag, "panel",
                     svc->cfg->panels[c->panel].name, "consumer", c->name);
    }
    for (size_t i = 0; i < svc->cfg->npanels; i++)
        hub_snap_add(snap, "csphub_consumers_idle",
                     "Consumers behind whose cursor has not moved for consumer_idle_hours.",
                     CSPH_METRIC_GAUGE, (double)idle[i], "panel", svc->cfg->panels[i].name, NULL,
                     NULL);
    hub_snap_add(snap, "csphub_consumers", "Durable consumers (cursors) of all panels.",
                 CSPH_METRIC_GAUGE, (double)g->nconsumers_total, NULL, NULL, NULL, NULL);
}

static void warn_map(struct hub_service *svc, const struct hub_snap *snap)
{
    double used = 0, map = 0;
    for (size_t i = 0; i < snap->n; i++) {
        if (!strcmp(snap->samples[i].name, "csphub_map_used_bytes"))
            used = snap->samples[i].value;
        else if (!strcmp(snap->samples[i].name, "csphub_map_bytes"))
            map = snap->samples[i].value;
    }
    int level = hub_service_map_level((uint64_t)used, (uint64_t)map);
    if (level > svc->map_level)
        LOG_WARN("store", "the log's map is %d%% full (%.0f of %.0f MiB): raise "
                 "limits.map_size_mb and restart before it fills; a full map refuses every "
                 "write (busy)",
                 level, used / 1048576.0, map / 1048576.0);
    svc->map_level = level;
}

static void on_snapshot(uv_timer_t *t)
{
    struct hub_service *svc = t->data;
    struct hub_snap snap;
    struct hub_error err;
    struct hub_queue_gauges g = {.consumers = svc->consumers, .max_consumers = svc->max_consumers};
    /* Without a listener nobody reads the queues' figures: skip their walk
     * (the map's warning and systemd's STATUS need only the rest). */
    struct hub_queue_gauges *gp = svc->http ? &g : NULL;
    hub_snap_init(&snap);
    uint64_t t0 = uv_hrtime();
    if (hub_server_snapshot(svc->srv, &snap, gp, &err)) {
        LOG_WARN("hub", "metrics: %s", err.message);
        snap.writable = 0;
        snprintf(snap.why, sizeof snap.why, "cannot read the hub's state: %.200s", err.message);
    } else {
        if (gp)
            add_consumers(svc, &snap, gp);
        warn_map(svc, &snap);
    }
    char *text;
    size_t len;
    if (svc->http && hub_snap_render(&snap, &text, &len) == 0)
        hub_httpd_publish(svc->http, text, len, snap.writable, snap.why);
    hub_sd_notify("STATUS=%s", snap.writable ? "serving" : snap.why);
    /* The loop's cost of a snapshot (a walk of the queues when metrics are
     * served): for sizing metrics.interval_ms. */
    LOG_DEBUG("hub", "metrics snapshot: %zu samples in %llu us", snap.n,
              (unsigned long long)((uv_hrtime() - t0) / 1000));
    hub_snap_free(&snap);
}

static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    /* From the loop thread: a loop stuck in a batch stops the pings. */
    hub_sd_notify("WATCHDOG=1");
}

enum hub_err hub_service_new(struct hub_service **out, uv_loop_t *loop,
                             const struct hub_config *cfg, struct hub_error *err)
{
    struct hub_service *svc = calloc(1, sizeof *svc);
    enum hub_err rc;
    if (!svc)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    svc->loop = loop;
    svc->cfg = cfg;
    svc->max_consumers = CONSUMERS_READ_MAX;
    if (!(svc->consumers = calloc(svc->max_consumers, sizeof *svc->consumers))) {
        free(svc);
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    }
    if (cfg->metrics.listen[0] && (rc = hub_httpd_new(&svc->http, &cfg->metrics, err))) {
        free(svc->consumers);
        free(svc);
        return rc;
    }
    *out = svc;
    return CSPH_ERR_OK;
}

void hub_service_ready(struct hub_service *svc, struct hub_server *srv)
{
    svc->srv = srv;
    uv_timer_init(svc->loop, &svc->watchdog);
    uv_timer_init(svc->loop, &svc->snapshot);
    svc->watchdog.data = svc->snapshot.data = svc;
    svc->timers = 1;
    /* Neither keeps the loop alive: the hub stops when its own handles do. */
    uv_unref((uv_handle_t *)&svc->watchdog);
    uv_unref((uv_handle_t *)&svc->snapshot);
    uint64_t wd = hub_sd_watchdog_ms();
    if (wd)
        uv_timer_start(&svc->watchdog, on_watchdog, 0, wd);
    uv_timer_start(&svc->snapshot, on_snapshot, 0, svc->cfg->metrics.interval_ms);
    hub_sd_notify("READY=1\nSTATUS=serving");
}

enum hub_err hub_service_check(const struct hub_config *cfg, struct hub_error *err)
{
    return hub_httpd_check(&cfg->metrics, err);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

void hub_service_destroy(struct hub_service **sp)
{
    if (!sp || !*sp)
        return;
    struct hub_service *svc = *sp;
    hub_sd_notify("STOPPING=1");
    if (svc->timers) {
        uv_close((uv_handle_t *)&svc->watchdog, on_closed);
        uv_close((uv_handle_t *)&svc->snapshot, on_closed);
        uv_run(svc->loop, UV_RUN_DEFAULT); /* until both are closed */
    }
    hub_httpd_destroy(&svc->http);
    free(svc->consumers);
    free(svc->seen);
    free(svc);
    *sp = NULL;
}
