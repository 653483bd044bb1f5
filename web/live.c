#define _GNU_SOURCE
#include "live.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "csphub.h"
#include "hubpool.h"
#include "page.h"

/* A held fetch returns at once when an alert arrives; its length only
 * bounds how long stopping the console waits for this thread (a request
 * cannot be interrupted). An empty held fetch costs the hub no record. */
#define LIVE_WAIT_MS 1000

struct live_arg {
    struct web_console *w;
    int index;
};

/* Hold a fetch on the panel as the gateway (consumer csphub-web-live),
 * acknowledging as it goes, and wake every open page of that panel. It
 * starts from now: what is already on the queue is the page's own. The
 * pages get the alert's id and priority only; opening the alert is a
 * request as the person, which the hub checks and audits. */
static void *live_run(void *arg)
{
    struct live_arg *la = arg;
    struct web_console *w = la->w;
    struct live_panel *lp = &w->live[la->index];
    free(la);
    char why[512];
    csph_client *c = NULL;
    int skipping = 1;
    while (!w->stopping) {
        if (!c && web_hub_open(&w->cfg, &c, why, sizeof why)) {
            web_log("live %s: %s", lp->name, why);
            sleep(1);
            continue;
        }
        json_t *req = json_pack("{s:s,s:s,s:s,s:i,s:i}", "op", "fetch", "panel", lp->name,
                                "consumer", "csphub-web-live", "max", 1000, "wait_ms",
                                skipping ? 0 : LIVE_WAIT_MS);
        json_t *r = web_hub_request(c, req, why, sizeof why);
        if (!r || !json_is_true(json_object_get(r, "ok"))) {
            if (r)
                web_log("live %s: the hub refused the fetch: %s", lp->name,
                      json_string_value(json_object_get(json_object_get(r, "error"), "message")));
            json_decref(r);
            csph_client_close(&c);
            sleep(1);
            continue;
        }
        json_t *alerts = json_object_get(r, "alerts");
        json_int_t next = json_integer_value(json_object_get(r, "next"));
        size_t i;
        json_t *a;
        if (!skipping && json_array_size(alerts)) {
            pthread_mutex_lock(&w->live_mu);
            json_array_foreach(alerts, i, a) {
                json_t *item = json_pack("{s:O,s:O}", "id", json_object_get(a, "id"), "priority",
                                         json_object_get(a, "priority"));
                json_decref(lp->ring[lp->seq % LIVE_RING]);
                lp->ring[lp->seq % LIVE_RING] = item;
                lp->seq++;
            }
            pthread_cond_broadcast(&w->live_cv);
            pthread_mutex_unlock(&w->live_mu);
        }
        int end = !json_is_false(json_object_get(r, "end"));
        if (json_array_size(alerts)) {
            json_t *ack = json_pack("{s:s,s:s,s:s,s:I}", "op", "ack", "panel", lp->name,
                                    "consumer", "csphub-web-live", "upto", next);
            json_decref(web_hub_request(c, ack, why, sizeof why));
        }
        if (skipping && end) {
            skipping = 0;
            pthread_mutex_lock(&w->live_mu);
            lp->ready = 1;
            pthread_cond_broadcast(&w->live_cv);
            pthread_mutex_unlock(&w->live_mu);
        }
        json_decref(r);
    }
    csph_client_close(&c);
    return NULL;
}

/* The live panel's index, its thread started on first use; -1 when full. */
static int live_panel(struct web_console *w, const char *panel)
{
    pthread_mutex_lock(&w->live_mu);
    int i;
    for (i = 0; i < w->nlive; i++)
        if (!strcmp(w->live[i].name, panel))
            break;
    if (i == w->nlive) {
        if (w->nlive == LIVE_PANELS_MAX) {
            pthread_mutex_unlock(&w->live_mu);
            return -1;
        }
        snprintf(w->live[i].name, sizeof w->live[i].name, "%s", panel);
        struct live_arg *la = malloc(sizeof *la);
        la->w = w;
        la->index = i;
        if (pthread_create(&w->live[i].thread, NULL, live_run, la) == 0) {
            w->live[i].started = 1;
            w->nlive++;
        } else {
            free(la);
            i = -1;
        }
    }
    pthread_mutex_unlock(&w->live_mu);
    return i;
}

struct stream {
    struct web_console *w;
    int panel;
    uint64_t seen;
    int64_t last_write_ms;
};

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct stream *s = cls;
    struct web_console *w = s->w;
    struct live_panel *lp = &w->live[s->panel];
    pthread_mutex_lock(&w->live_mu);
    while (!w->stopping && s->seen == lp->seq && web_now_ms() - s->last_write_ms < 15000) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        pthread_cond_timedwait(&w->live_cv, &w->live_mu, &ts);
    }
    if (w->stopping) {
        pthread_mutex_unlock(&w->live_mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t used = 0;
    if (lp->seq - s->seen > LIVE_RING)
        s->seen = lp->seq - LIVE_RING;
    while (s->seen < lp->seq && used + 200 < max) {
        char *j = json_dumps(lp->ring[s->seen % LIVE_RING], JSON_COMPACT);
        int n = snprintf(buf + used, max - used, "event: alert\ndata: %s\n\n", j ? j : "{}");
        free(j);
        used += (size_t)n;
        s->seen++;
    }
    pthread_mutex_unlock(&w->live_mu);
    if (!used)
        used = (size_t)snprintf(buf, max, ": still here\n\n"); /* keeps proxies from closing */
    s->last_write_ms = web_now_ms();
    return (ssize_t)used;
}

enum MHD_Result web_page_events(struct web_console *w, struct MHD_Connection *con,
                                   const struct web_session *ss)
{
    const char *panel = web_arg(con, "panel");
    struct web_account acc;
    if (!panel || !web_accounts_get(w->accounts, ss->name, &acc))
        return web_error_page(w, con, 400, ss, "Not accepted", "which panel? (/events?panel=NAME)");
    /* Only a panel this person's account lists (an auditor: any the console
     * shows); the page gets ids and priorities, the alert itself is asked
     * of the hub as the person. */
    char list[600];
    snprintf(list, sizeof list, ",%s,", strcmp(acc.role, "panel") ? w->cfg.panels : acc.panels);
    char needle[80];
    snprintf(needle, sizeof needle, ",%s,", panel);
    if (strlen(panel) > 64 || !strstr(list, needle))
        return web_error_page(w, con, 403, ss, "Not allowed", "not a panel of yours");
    int i = live_panel(w, panel);
    if (i < 0)
        return web_error_page(w, con, 503, ss, "Busy", "too many panels are watched");
    struct stream *s = calloc(1, sizeof *s);
    if (!s)
        return web_error_page(w, con, 503, ss, "Busy", "out of memory");
    s->w = w;
    s->panel = i;
    /* The stream starts once the panel's fetch is live (past what was
     * queued before), so that nothing arriving after the page opened is
     * missed; the page says hello then. */
    int64_t deadline = web_now_ms() + 5000;
    pthread_mutex_lock(&w->live_mu);
    while (!w->live[i].ready && !w->stopping && web_now_ms() < deadline) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 100 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&w->live_cv, &w->live_mu, &ts);
    }
    s->seen = w->live[i].seq; /* from now */
    pthread_mutex_unlock(&w->live_mu);
    s->last_write_ms = 0;     /* say hello at once */
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read,
                                                               s, free);
    MHD_add_response_header(r, "Content-Type", "text/event-stream");
    web_security_headers(w, r, 1);
    enum MHD_Result rc = MHD_queue_response(con, 200, r);
    MHD_destroy_response(r);
    return rc;
}

void web_live_stop(struct web_console *w)
{
    for (int i = 0; i < w->nlive; i++) {
        if (w->live[i].started)
            pthread_join(w->live[i].thread, NULL);
        for (int k = 0; k < LIVE_RING; k++)
            json_decref(w->live[i].ring[k]);
    }
}
