#define _GNU_SOURCE
#include "console.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csphub.h"
#include "html.h"
#include "sessions.h"

#define BODY_MAX 8192 /* a form is a few fields: anything larger is refused */
#define HUB_CLIENTS 4
#define HUB_TIMEOUT_MS 10000
#define QUEUE_PAGE 50
#define LIVE_PANELS_MAX 32
#define LIVE_RING 64
#define COOKIE "csphub_session"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s csphub-web: ", when);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* ---- the hub: a few clients shared by the request threads ------------------ */

struct hub_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    csph_client *free[HUB_CLIENTS];
    int nfree;
};

int web_hub_open(const struct web_config *cfg, csph_client **out, char *why, size_t n)
{
    struct csph_client_options o = {0};
    char spub[41] = "", cpub[41] = "", csec[41] = "", skip[41];
    if (cfg->key_file) {
        if (csph_key_file_read(cfg->key_file, cpub, csec, why, n))
            return -1;
        if (!cfg->server_key) {
            snprintf(why, n, "--key needs --server-key (the hub's .pub file)");
            return -1;
        }
        if (strlen(cfg->server_key) == 40 && !strchr(cfg->server_key, '/'))
            snprintf(spub, sizeof spub, "%s", cfg->server_key);
        else if (csph_key_file_read(cfg->server_key, spub, skip, why, n))
            return -1;
        o.server_public_key = spub;
        o.public_key = cpub;
        o.secret_key = csec;
    }
    int rc = csph_client_open(out, cfg->hub, &o, why, n);
    memset(csec, 0, sizeof csec);
    return rc;
}

static csph_client *hub_borrow(struct hub_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (!p->nfree)
        pthread_cond_wait(&p->cv, &p->mu);
    csph_client *c = p->free[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    return c;
}

static void hub_return(struct hub_pool *p, csph_client *c)
{
    pthread_mutex_lock(&p->mu);
    p->free[p->nfree++] = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* Send req (reference taken) on client c; the reply, or NULL with why. */
static json_t *hub_request(csph_client *c, json_t *req, char *why, size_t n)
{
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    const char *answer = NULL;
    json_t *r = NULL;
    if (text && csph_client_request_json(c, text, HUB_TIMEOUT_MS, &answer) == 0 && answer)
        r = json_loads(answer, 0, NULL);
    if (!r)
        snprintf(why, n, "the hub did not answer (%s)", csph_client_error(c));
    free(text);
    return r;
}

/* ---- live arrival: one held fetch per panel, fanned out --------------------- */

struct live_panel {
    char name[65];
    pthread_t thread;
    int started;
    int ready;                     /* past what was queued before: now live */
    uint64_t seq;                  /* alerts seen so far */
    json_t *ring[LIVE_RING];       /* the last ones: {id, priority} */
};

struct web_console {
    struct web_config cfg;
    struct web_accounts *accounts;
    struct web_sessions *sessions;
    struct hub_pool pool;
    struct MHD_Daemon *mhd;
    pthread_mutex_t live_mu;
    pthread_cond_t live_cv;
    struct live_panel live[LIVE_PANELS_MAX];
    int nlive;
    volatile int stopping;
};

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
            logf_("live %s: %s", lp->name, why);
            sleep(1);
            continue;
        }
        json_t *req = json_pack("{s:s,s:s,s:s,s:i,s:i}", "op", "fetch", "panel", lp->name,
                                "consumer", "csphub-web-live", "max", 1000, "wait_ms",
                                skipping ? 0 : 5000);
        json_t *r = hub_request(c, req, why, sizeof why);
        if (!r || !json_is_true(json_object_get(r, "ok"))) {
            if (r)
                logf_("live %s: the hub refused the fetch: %s", lp->name,
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
            json_decref(hub_request(c, ack, why, sizeof why));
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

/* ---- responses --------------------------------------------------------- */

static void security_headers(struct web_console *w, struct MHD_Response *r, int page)
{
    /* What a council's IT check looks for: no framing, no foreign
     * scripts or styles, no sniffing, no referrer leaking an alert's URL. */
    MHD_add_response_header(r, "Content-Security-Policy",
                            "default-src 'self'; script-src 'self'; style-src 'self'; "
                            "img-src 'self'; connect-src 'self'; form-action 'self'; "
                            "frame-ancestors 'none'; base-uri 'none'; object-src 'none'");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "X-Frame-Options", "DENY");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
    if (w->cfg.behind_tls_proxy || w->cfg.tls_cert)
        MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
    if (page)
        MHD_add_response_header(r, "Cache-Control", "no-store");
}

static enum MHD_Result send_html(struct web_console *w, struct MHD_Connection *con, int status,
                                 struct html *h, const char *cookie)
{
    if (h->oom) {
        html_free(h);
        html_raw(h, "out of memory");
        status = 500;
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(h->len, h->p ? h->p : (char *)"", MHD_RESPMEM_MUST_COPY);
    html_free(h);
    MHD_add_response_header(r, "Content-Type", "text/html; charset=utf-8");
    security_headers(w, r, 1);
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    enum MHD_Result rc = MHD_queue_response(con, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result redirect(struct web_console *w, struct MHD_Connection *con,
                                const char *to, const char *cookie)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Location", to);
    security_headers(w, r, 1);
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    enum MHD_Result rc = MHD_queue_response(con, 303, r);
    MHD_destroy_response(r);
    return rc;
}

static void page_head(struct html *h, const char *title, const struct web_session *ss,
                      const char *panels)
{
    html_raw(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>");
    html_text(h, title);
    html_raw(h, " - csphub</title><link rel=\"stylesheet\" href=\"/static/app.css\">"
                "<script src=\"/static/live.js\" defer></script></head><body>"
                "<a class=\"skip\" href=\"#main\">Skip to content</a><header><nav>"
                "<span class=\"brand\">csphub</span>");
    if (ss) {
        char list[512];
        snprintf(list, sizeof list, "%s", panels ? panels : "");
        for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            html_raw(h, "<a href=\"/queue?panel=");
            html_url(h, p);
            html_raw(h, "\">");
            html_text(h, p);
            html_raw(h, "</a>");
        }
        html_raw(h, "<form class=\"signout\" method=\"post\" action=\"/signout\">"
                    "<input type=\"hidden\" name=\"csrf\" value=\"");
        html_text(h, ss->csrf);
        html_raw(h, "\"><span>Signed in as ");
        html_text(h, ss->name);
        html_raw(h, "</span> <button type=\"submit\">Sign out</button></form>");
    }
    html_raw(h, "</nav></header><main id=\"main\">");
}

static void page_foot(struct html *h)
{
    html_raw(h, "</main></body></html>\n");
}

static enum MHD_Result error_page(struct web_console *w, struct MHD_Connection *con, int status,
                                  const struct web_session *ss, const char *title,
                                  const char *message)
{
    struct html h;
    html_init(&h);
    page_head(&h, title, ss, w->cfg.panels);
    html_raw(&h, "<h1>");
    html_text(&h, title);
    html_raw(&h, "</h1><p class=\"error\" role=\"alert\">");
    html_text(&h, message);
    html_raw(&h, "</p>");
    if (ss)
        html_raw(&h, "<p><a href=\"/queue\">Back to the queue</a></p>");
    else
        html_raw(&h, "<p><a href=\"/signin\">Sign in</a></p>");
    page_foot(&h);
    return send_html(w, con, status, &h, NULL);
}

/* ---- requests ------------------------------------------------------------ */

/* What one connection's request accumulates (MHD's per-request pointer). */
struct req_state {
    char body[BODY_MAX + 1];
    size_t len;
    int too_large;
};

static const char *arg(struct MHD_Connection *con, const char *name)
{
    return MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, name);
}

/* A field of an application/x-www-form-urlencoded body, decoded into out
 * (n bytes); 0, or -1 when absent. */
static int form_field(const struct req_state *st, const char *name, char *out, size_t n)
{
    size_t nl = strlen(name);
    const char *p = st->body;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && p[nl] == '=' && !strncmp(p, name, nl)) {
            size_t vl = len - nl - 1;
            if (vl >= n)
                vl = n - 1;
            memcpy(out, p + nl + 1, vl);
            out[vl] = 0;
            for (char *c = out; *c; c++)
                if (*c == '+')
                    *c = ' ';
            out[MHD_http_unescape(out)] = 0;
            return 0;
        }
        p = amp ? amp + 1 : NULL;
    }
    return -1;
}

/* The request's session, or 0. */
static int session_of(struct web_console *w, struct MHD_Connection *con, struct web_session *ss)
{
    const char *id = MHD_lookup_connection_value(con, MHD_COOKIE_KIND, COOKIE);
    struct web_account acc;
    if (!id || !web_sessions_use(w->sessions, id, now_ms(), ss))
        return 0;
    /* An account disabled since sign-in ends its sessions at once. */
    if (!web_accounts_get(w->accounts, ss->name, &acc) || acc.disabled) {
        web_sessions_end(w->sessions, ss->id);
        return 0;
    }
    return 1;
}

static const char *peer(struct MHD_Connection *con, char *buf, size_t n)
{
    snprintf(buf, n, "?");
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr && ci->client_addr->sa_family == AF_INET) {
        const unsigned char *a =
            (const unsigned char *)&((const struct sockaddr_in *)ci->client_addr)->sin_addr;
        snprintf(buf, n, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    }
    return buf;
}

/* Ask the hub as the signed-in person. The reply (ok or not), or NULL with
 * why when the hub did not answer. */
static json_t *as_person(struct web_console *w, const struct web_session *ss, json_t *req,
                         char *why, size_t n)
{
    /* With a key the hub knows the console as a gateway and applies the
     * person's scope (`as`). A hub in security none has no gateways: the
     * console then checks the account's panels itself (account_may) and
     * names the person in decisions (`by`). */
    if (w->cfg.key_file)
        json_object_set_new(req, "as", json_string(ss->name));
    else if (!strcmp(json_string_value(json_object_get(req, "op")), "alert.update"))
        json_object_set_new(req, "by", json_string(ss->name));
    csph_client *c = hub_borrow(&w->pool);
    json_t *r = hub_request(c, req, why, n);
    hub_return(&w->pool, c);
    return r;
}

/* security none only: whether the signed-in account lists panel (an
 * auditor's or admin's: any panel the console shows). With a key the hub
 * decides, and this is not asked. */
static int account_may(struct web_console *w, const struct web_session *ss, const char *panel)
{
    struct web_account acc;
    if (w->cfg.key_file)
        return 1;
    if (!panel || !web_accounts_get(w->accounts, ss->name, &acc))
        return 0;
    char list[600], needle[80];
    snprintf(list, sizeof list, ",%s,", strcmp(acc.role, "panel") ? w->cfg.panels : acc.panels);
    snprintf(needle, sizeof needle, ",%.64s,", panel);
    return strstr(list, needle) != NULL;
}

/* A refusal of the hub as a page: not_found and forbidden say so plainly. */
static enum MHD_Result hub_refusal(struct web_console *w, struct MHD_Connection *con,
                                   const struct web_session *ss, json_t *r, const char *why)
{
    if (!r)
        return error_page(w, con, 502, ss, "The hub did not answer", why);
    const json_t *e = json_object_get(r, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    int status = !code ? 502
                 : !strcmp(code, "not_found") ? 404
                 : !strcmp(code, "forbidden") || !strcmp(code, "unknown_panel") ? 403
                 : !strcmp(code, "conflict") ? 409
                 : !strcmp(code, "bad_request") ? 400
                 : 502;
    logf_("%s: the hub refused: %s", ss ? ss->name : "-", msg ? msg : "?");
    enum MHD_Result rc = error_page(w, con, status, ss,
                                    status == 404 ? "Not found"
                                    : status == 403 ? "Not allowed"
                                    : status == 409 ? "Changed meanwhile"
                                    : status == 400 ? "Not accepted"
                                                    : "The hub failed",
                                    msg ? msg : "no reason given");
    json_decref(r);
    return rc;
}

static void fmt_time(const char *rfc, char *out, size_t n)
{
    /* "2026-12-05T12:35:00.000Z" shown as "2026-12-05 12:35 UTC" */
    if (rfc && strlen(rfc) >= 16)
        snprintf(out, n, "%.10s %.5s UTC", rfc, rfc + 11);
    else
        snprintf(out, n, "%s", rfc ? rfc : "-");
}

static int overdue(const json_t *a)
{
    const char *due = json_string_value(json_object_get(a, "due_at"));
    const char *st = json_string_value(json_object_get(a, "status"));
    if (!due || !st || strcmp(st, "open"))
        return 0;
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S", &tm);
    return strncmp(due, now, 19) < 0;
}

/* The fields of an event (or a key) as "name: value" items, nested maps
 * dotted; the envelope is shown in its own columns. */
static void fields(struct html *h, const json_t *o, const char *prefix)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        if (!prefix[0] && (!strcmp(k, "id") || !strcmp(k, "type") || !strcmp(k, "source") ||
                           !strcmp(k, "occurred_at")))
            continue;
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", prefix, prefix[0] ? "." : "", k);
        if (json_is_object(v)) {
            fields(h, v, name);
            continue;
        }
        html_raw(h, "<span class=\"field\"><b>");
        html_text(h, name);
        html_raw(h, "</b> ");
        if (json_is_string(v)) {
            html_text(h, json_string_value(v));
        } else {
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            html_text(h, t);
            free(t);
        }
        html_raw(h, "</span> ");
    }
}

static const char *first_panel(const char *panels, char *buf, size_t n)
{
    snprintf(buf, n, "%s", panels ? panels : "");
    buf[strcspn(buf, ",")] = 0;
    return buf;
}

static void select_opt(struct html *h, const char *name, const char *label,
                       const char *const *values, size_t nv, const char *cur)
{
    html_printf(h, "<label>%s <select name=\"%s\"><option value=\"\">any</option>", label, name);
    for (size_t i = 0; i < nv; i++) {
        html_raw(h, "<option");
        if (cur && !strcmp(cur, values[i]))
            html_raw(h, " selected");
        html_raw(h, ">");
        html_text(h, values[i]);
        html_raw(h, "</option>");
    }
    html_raw(h, "</select></label> ");
}

static enum MHD_Result page_queue(struct web_console *w, struct MHD_Connection *con,
                                  const struct web_session *ss)
{
    static const char *const statuses[] = {"open", "acknowledged", "accepted", "declined",
                                           "closed"};
    static const char *const priorities[] = {"standard", "medium", "high"};
    char pbuf[65];
    const char *panel = arg(con, "panel");
    if (!panel || !*panel)
        panel = first_panel(w->cfg.panels, pbuf, sizeof pbuf);
    const char *status = arg(con, "status"), *priority = arg(con, "priority"),
               *rule = arg(con, "rule"), *person = arg(con, "person"), *after = arg(con, "after");
    int over = arg(con, "overdue") && !strcmp(arg(con, "overdue"), "1");
    if (!account_may(w, ss, panel))
        return error_page(w, con, 403, ss, "Not allowed", "not a panel of yours");
    json_t *req = json_pack("{s:s,s:s,s:i}", "op", "alerts", "panel", panel, "max", QUEUE_PAGE);
    if (status && *status)
        json_object_set_new(req, "status", json_string(status));
    if (priority && *priority)
        json_object_set_new(req, "priority", json_string(priority));
    if (rule && *rule)
        json_object_set_new(req, "rule", json_string(rule));
    if (person && *person)
        json_object_set_new(req, "person", json_string(person));
    if (over)
        json_object_set_new(req, "overdue", json_true());
    if (after && *after) {
        char *end;
        unsigned long long v = strtoull(after, &end, 10);
        if (*end)
            return error_page(w, con, 400, ss, "Not accepted", "'after' is an alert number");
        json_object_set_new(req, "after", json_integer((json_int_t)v));
    }
    char why[512];
    json_t *r = as_person(w, ss, req, why, sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return hub_refusal(w, con, ss, r, why);
    struct html h;
    html_init(&h);
    char title[128];
    snprintf(title, sizeof title, "Queue: %s", panel);
    page_head(&h, title, ss, w->cfg.panels);
    html_raw(&h, "<h1>Queue: ");
    html_text(&h, panel);
    /* hook: the panel's next meeting (page_agenda) */
    html_raw(&h, "</h1><p class=\"noprint\"><a href=\"/agenda?panel=");
    html_url(&h, panel);
    html_raw(&h, "\">Next meeting's agenda</a></p>");
    html_raw(&h, "<form class=\"filters\" method=\"get\" action=\"/queue\">"
                 "<input type=\"hidden\" name=\"panel\" value=\"");
    html_text(&h, panel);
    html_raw(&h, "\">");
    select_opt(&h, "status", "Status", statuses, 5, status);
    select_opt(&h, "priority", "Priority", priorities, 3, priority);
    html_raw(&h, "<label>Rule <input name=\"rule\" size=\"24\" value=\"");
    html_text(&h, rule);
    html_raw(&h, "\"></label> <label>Person <input name=\"person\" size=\"12\" value=\"");
    html_text(&h, person);
    html_printf(&h, "\"></label> <label><input type=\"checkbox\" name=\"overdue\" value=\"1\"%s>"
                    " Overdue only</label> <button type=\"submit\">Filter</button></form>",
                over ? " checked" : "");
    html_raw(&h, "<p id=\"live\" class=\"live\" aria-live=\"polite\" data-panel=\"");
    html_text(&h, panel);
    html_raw(&h, "\"></p><table class=\"queue\"><caption>Alerts, oldest first</caption><thead><tr>"
                 "<th scope=\"col\">Alert</th><th scope=\"col\">Priority</th>"
                 "<th scope=\"col\">Status</th><th scope=\"col\">Raised</th>"
                 "<th scope=\"col\">Due</th><th scope=\"col\">Rule</th>"
                 "<th scope=\"col\">Reason</th></tr></thead><tbody>");
    json_t *alerts = json_object_get(r, "alerts");
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a) {
        char raised[40], due[40];
        fmt_time(json_string_value(json_object_get(a, "raised_at")), raised, sizeof raised);
        fmt_time(json_string_value(json_object_get(a, "due_at")), due, sizeof due);
        int od = overdue(a);
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        html_printf(&h, "<tr%s><td><a href=\"/alert/%lld\">%lld</a></td><td class=\"p-",
                    od ? " class=\"overdue\"" : "", (long long)id, (long long)id);
        html_text(&h, json_string_value(json_object_get(a, "priority")));
        html_raw(&h, "\">");
        html_text(&h, json_string_value(json_object_get(a, "priority")));
        html_raw(&h, "</td><td>");
        html_text(&h, json_string_value(json_object_get(a, "status")));
        html_raw(&h, "</td><td>");
        html_text(&h, raised);
        html_raw(&h, "</td><td>");
        html_text(&h, json_object_get(a, "due_at") ? due : "-");
        if (od)
            html_raw(&h, " <strong>OVERDUE</strong>");
        html_raw(&h, "</td><td>");
        html_text(&h, json_string_value(json_object_get(a, "rule")));
        html_raw(&h, "</td><td>");
        html_text(&h, json_string_value(json_object_get(a, "reason")));
        html_raw(&h, "</td></tr>");
    }
    if (!json_array_size(alerts))
        html_raw(&h, "<tr><td colspan=\"7\">No alerts match.</td></tr>");
    html_raw(&h, "</tbody></table>");
    if (json_is_false(json_object_get(r, "end"))) {
        html_raw(&h, "<p><a rel=\"next\" href=\"/queue?panel=");
        html_url(&h, panel);
        const char *names[] = {"status", "priority", "rule", "person"};
        const char *vals[] = {status, priority, rule, person};
        for (int k = 0; k < 4; k++)
            if (vals[k] && *vals[k]) {
                html_printf(&h, "&amp;%s=", names[k]);
                html_url(&h, vals[k]);
            }
        if (over)
            html_raw(&h, "&amp;overdue=1");
        html_printf(&h, "&amp;after=%lld\">Next page</a></p>",
                    (long long)json_integer_value(json_object_get(r, "next")));
    }
    page_foot(&h);
    json_decref(r);
    return send_html(w, con, 200, &h, NULL);
}

static void event_rows(struct html *h, const json_t *events)
{
    html_raw(h, "<table class=\"events\"><thead><tr><th scope=\"col\">Seq</th>"
                "<th scope=\"col\">Occurred</th><th scope=\"col\">Source</th>"
                "<th scope=\"col\">Type</th><th scope=\"col\">Fields</th></tr></thead><tbody>");
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        const json_t *ev = json_object_get(e, "event");
        char when[40];
        fmt_time(json_string_value(json_object_get(ev, "occurred_at")), when, sizeof when);
        html_printf(h, "<tr><td>%lld</td><td>", (long long)json_integer_value(json_object_get(e, "seq")));
        html_text(h, when);
        html_raw(h, "</td><td>");
        html_text(h, json_string_value(json_object_get(ev, "source")));
        html_raw(h, "</td><td>");
        html_text(h, json_string_value(json_object_get(ev, "type")));
        html_raw(h, "</td><td>");
        fields(h, ev, "");
        html_raw(h, "</td></tr>");
    }
    if (!json_array_size(events))
        html_raw(h, "<tr><td colspan=\"5\">None shown.</td></tr>");
    html_raw(h, "</tbody></table>");
}

static enum MHD_Result page_alert(struct web_console *w, struct MHD_Connection *con,
                                  const struct web_session *ss, unsigned long long id)
{
    char why[512];
    json_t *r = as_person(w, ss, json_pack("{s:s,s:I,s:b,s:i}", "op", "alert", "id",
                                           (json_int_t)id, "events", 1, "max", 1000),
                          why, sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return hub_refusal(w, con, ss, r, why);
    const json_t *a = json_object_get(r, "alert");
    if (!account_may(w, ss, json_string_value(json_object_get(a, "panel")))) {
        json_decref(r);
        char msg[64];
        snprintf(msg, sizeof msg, "no alert with id %llu", id); /* the hub's words */
        return error_page(w, con, 404, ss, "Not found", msg);
    }
    struct html h;
    html_init(&h);
    char title[64], raised[40], due[40];
    snprintf(title, sizeof title, "Alert %llu", id);
    page_head(&h, title, ss, w->cfg.panels);
    const char *status = json_string_value(json_object_get(a, "status"));
    html_printf(&h, "<h1>Alert %llu <span class=\"status\">", id);
    html_text(&h, status);
    html_raw(&h, "</span></h1><p class=\"noprint\"><a href=\"/queue?panel=");
    html_url(&h, json_string_value(json_object_get(a, "panel")));
    html_raw(&h, "\">Back to the queue</a> · Print this page for the panel meeting.</p><dl>");
    html_raw(&h, "<dt>Panel</dt><dd>");
    html_text(&h, json_string_value(json_object_get(a, "panel")));
    html_raw(&h, "</dd><dt>Reason</dt><dd class=\"reason\">");
    html_text(&h, json_string_value(json_object_get(a, "reason")));
    html_raw(&h, "</dd><dt>Rule</dt><dd>");
    html_text(&h, json_string_value(json_object_get(a, "rule")));
    html_raw(&h, " (rule set ");
    html_text(&h, json_string_value(json_object_get(a, "rule_version")));
    html_raw(&h, ")</dd><dt>Priority</dt><dd>");
    html_text(&h, json_string_value(json_object_get(a, "priority")));
    fmt_time(json_string_value(json_object_get(a, "raised_at")), raised, sizeof raised);
    fmt_time(json_string_value(json_object_get(a, "due_at")), due, sizeof due);
    html_raw(&h, "</dd><dt>Raised</dt><dd>");
    html_text(&h, raised);
    html_raw(&h, "</dd><dt>Due</dt><dd>");
    html_text(&h, json_object_get(a, "due_at") ? due : "-");
    if (overdue(a))
        html_raw(&h, " <strong>OVERDUE</strong>");
    html_raw(&h, "</dd><dt>Key</dt><dd>");
    const json_t *key = json_object_get(a, "key");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)key, k, v) {
        html_text(&h, k);
        html_raw(&h, " ");
        if (json_is_string(v)) {
            html_raw(&h, "<a href=\"/person/");
            html_url(&h, json_string_value(v));
            html_raw(&h, "\">");
            html_text(&h, json_string_value(v));
            html_raw(&h, "</a> ");
        } else {
            html_printf(&h, "%lld ", (long long)json_integer_value(v));
        }
    }
    html_raw(&h, "</dd></dl>");
    html_printf(&h, "<h2>Evidence (%zu events)</h2>",
                json_array_size(json_object_get(a, "evidence")));
    event_rows(&h, json_object_get(r, "events"));
    html_raw(&h, "<h2>Decisions</h2><ol class=\"decisions\">");
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(r, "decisions"), i, d) {
        char at[40];
        fmt_time(json_string_value(json_object_get(d, "at")), at, sizeof at);
        html_raw(&h, "<li><b>");
        html_text(&h, json_string_value(json_object_get(d, "status")));
        html_raw(&h, "</b> by ");
        html_text(&h, json_object_get(d, "by") ? json_string_value(json_object_get(d, "by"))
                                               : "(not recorded)");
        if (json_object_get(d, "gateway")) {
            html_raw(&h, " through ");
            html_text(&h, json_string_value(json_object_get(d, "gateway")));
        }
        html_raw(&h, ", ");
        html_text(&h, at);
        if (json_object_get(d, "note")) {
            html_raw(&h, "<blockquote>");
            html_text(&h, json_string_value(json_object_get(d, "note")));
            html_raw(&h, "</blockquote>");
        }
        html_raw(&h, "</li>");
    }
    if (!json_array_size(json_object_get(r, "decisions")))
        html_raw(&h, "<li>None yet.</li>");
    html_printf(&h, "</ol><form class=\"decide noprint\" method=\"post\" action=\"/alert/%llu/"
                    "decide\"><h2>Record a decision</h2><input type=\"hidden\" name=\"csrf\" "
                    "value=\"",
                id);
    html_text(&h, ss->csrf);
    html_raw(&h, "\"><input type=\"hidden\" name=\"expect\" value=\"");
    html_text(&h, status);
    html_raw(&h, "\"><label for=\"status\">Decision</label> <select id=\"status\" "
                 "name=\"status\" required><option value=\"acknowledged\">acknowledge</option>"
                 "<option value=\"accepted\">accept</option><option value=\"declined\">"
                 "decline</option><option value=\"closed\">close</option><option "
                 "value=\"open\">reopen (needs a note)</option></select><br><label "
                 "for=\"note\">Note</label><br><textarea id=\"note\" name=\"note\" rows=\"3\" "
                 "cols=\"60\" maxlength=\"2000\"></textarea><br><button "
                 "type=\"submit\">Record</button></form>");
    page_foot(&h);
    json_decref(r);
    return send_html(w, con, 200, &h, NULL);
}

static enum MHD_Result page_person(struct web_console *w, struct MHD_Connection *con,
                                   const struct web_session *ss, const char *ref)
{
    char why[512];
    json_t *r = as_person(w, ss, json_pack("{s:s,s:s}", "op", "person", "ref", ref), why,
                          sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return hub_refusal(w, con, ss, r, why);
    if (!w->cfg.key_file) {
        /* security none: keep the alerts of the account's panels and the
         * events that are their evidence, as the hub does for a person. */
        json_t *alerts = json_object_get(r, "alerts"), *keep = json_array(), *seqs = json_object();
        size_t i, k;
        json_t *a, *e;
        json_array_foreach(alerts, i, a) {
            if (!account_may(w, ss, json_string_value(json_object_get(a, "panel"))))
                continue;
            json_array_append(keep, a);
            json_array_foreach(json_object_get(a, "evidence"), k, e) {
                char key[32];
                snprintf(key, sizeof key, "%lld", (long long)json_integer_value(e));
                json_object_set_new(seqs, key, json_true());
            }
        }
        json_t *events = json_array();
        json_array_foreach(json_object_get(r, "events"), i, e) {
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(json_object_get(e, "seq")));
            if (json_object_get(seqs, key))
                json_array_append(events, e);
        }
        json_object_set_new(r, "alerts", keep);
        json_object_set_new(r, "events", events);
        json_decref(seqs);
    }
    struct html h;
    html_init(&h);
    char title[96];
    snprintf(title, sizeof title, "Person %s", ref);
    page_head(&h, title, ss, w->cfg.panels);
    html_raw(&h, "<h1>Person ");
    html_text(&h, ref);
    html_raw(&h, "</h1><p>The alerts on your panels keyed on this reference, and the events "
                 "that are their evidence.</p><h2>Alerts</h2><ul>");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(r, "alerts"), i, a) {
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        html_printf(&h, "<li><a href=\"/alert/%lld\">Alert %lld</a> on ", (long long)id,
                    (long long)id);
        html_text(&h, json_string_value(json_object_get(a, "panel")));
        html_raw(&h, " (");
        html_text(&h, json_string_value(json_object_get(a, "status")));
        html_raw(&h, "): ");
        html_text(&h, json_string_value(json_object_get(a, "reason")));
        html_raw(&h, "</li>");
    }
    if (!json_array_size(json_object_get(r, "alerts")))
        html_raw(&h, "<li>None on your panels.</li>");
    html_raw(&h, "</ul><h2>Events</h2>");
    event_rows(&h, json_object_get(r, "events"));
    page_foot(&h);
    json_decref(r);
    return send_html(w, con, 200, &h, NULL);
}

/* The agenda of a panel's next meeting (or of ?meeting=YYYY-MM-DD), read
 * only: the hub's `agenda` op (docs/panels.md), for the coordinator to
 * print before the meeting. */
static void agenda_cases(struct html *h, const char *title, json_t *cases)
{
    size_t i;
    json_t *c;
    html_printf(h, "<h2>%s (%zu)</h2>", title, json_array_size(cases));
    if (!json_array_size(cases)) {
        html_raw(h, "<p>None.</p>");
        return;
    }
    html_raw(h, "<table><thead><tr><th>Case</th><th>Risk</th><th>Opened</th><th>Review due</th>"
                "<th>Last heard</th></tr></thead><tbody>");
    json_array_foreach(cases, i, c) {
        if (json_is_null(c))
            continue;
        const char *key = json_string_value(json_object_get(c, "key"));
        const char *due = json_string_value(json_object_get(c, "review_due"));
        const char *heard = json_string_value(json_object_get(c, "last_heard"));
        const char *opened = json_string_value(json_object_get(c, "opened_at"));
        html_raw(h, "<tr><td><a href=\"/person/");
        html_text(h, key ? key : "");
        html_raw(h, "\">");
        html_text(h, key ? key : "");
        html_raw(h, "</a></td><td>");
        html_text(h, json_string_value(json_object_get(c, "risk")));
        html_raw(h, "</td><td>");
        html_printf(h, "%.10s", opened ? opened : "");
        html_raw(h, "</td><td>");
        html_printf(h, "%.10s%s", due ? due : "-",
                    json_is_true(json_object_get(c, "review_pending")) ? " (waiting)" : "");
        html_raw(h, "</td><td>");
        html_text(h, heard ? heard : "never");
        html_raw(h, "</td></tr>");
    }
    html_raw(h, "</tbody></table>");
}

static enum MHD_Result page_agenda(struct web_console *w, struct MHD_Connection *con,
                                   const struct web_session *ss)
{
    char pbuf[65], why[512];
    const char *panel = arg(con, "panel"), *meeting = arg(con, "meeting");
    if (!panel || !*panel)
        panel = first_panel(w->cfg.panels, pbuf, sizeof pbuf);
    if (!account_may(w, ss, panel))
        return error_page(w, con, 403, ss, "Not allowed", "not a panel of yours");
    json_t *req = json_pack("{s:s,s:s}", "op", "agenda", "panel", panel);
    if (meeting && *meeting)
        json_object_set_new(req, "meeting", json_string(meeting));
    json_t *r = as_person(w, ss, req, why, sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return hub_refusal(w, con, ss, r, why);
    json_t *a = json_object_get(r, "agenda");
    struct html h;
    html_init(&h);
    char title[128];
    snprintf(title, sizeof title, "Agenda: %s", panel);
    page_head(&h, title, ss, w->cfg.panels);
    html_raw(&h, "<h1>Agenda: ");
    html_text(&h, panel);
    html_raw(&h, ", meeting of ");
    html_text(&h, json_string_value(json_object_get(a, "meeting")));
    html_raw(&h, "</h1><p>Previous meeting: ");
    const char *prev = json_string_value(json_object_get(a, "previous"));
    html_text(&h, prev ? prev : "none");
    html_raw(&h, "</p>");
    json_t *acc = json_object_get(a, "accepted"), *x;
    size_t i;
    html_printf(&h, "<h2>Alerts accepted since the last meeting (%zu)</h2><ul>",
                json_array_size(acc));
    json_array_foreach(acc, i, x) {
        json_int_t id = json_integer_value(json_object_get(x, "alert"));
        html_printf(&h, "<li><a href=\"/alert/%lld\">Alert %lld</a>: ", (long long)id,
                    (long long)id);
        html_text(&h, json_string_value(json_object_get(x, "key")));
        html_raw(&h, "</li>");
    }
    html_raw(&h, "</ul>");
    agenda_cases(&h, "New cases since the last meeting", json_object_get(a, "new_cases"));
    agenda_cases(&h, "Reviews due", json_object_get(a, "reviews_due"));
    agenda_cases(&h, "12 months since last heard", json_object_get(a, "anniversaries"));
    json_t *acts = json_object_get(a, "actions");
    html_printf(&h, "<h2>Incomplete actions (%zu)</h2>", json_array_size(acts));
    if (json_array_size(acts)) {
        html_raw(&h, "<table><thead><tr><th>#</th><th>Case</th><th>What</th><th>Owner</th>"
                     "<th>Due</th></tr></thead><tbody>");
        json_array_foreach(acts, i, x) {
            if (json_is_null(x))
                continue;
            const char *due = json_string_value(json_object_get(x, "due_at"));
            html_printf(&h, "<tr><td>%lld</td><td>",
                        (long long)json_integer_value(json_object_get(x, "id")));
            html_text(&h, json_string_value(json_object_get(x, "key")));
            html_raw(&h, "</td><td>");
            html_text(&h, json_string_value(json_object_get(x, "what")));
            html_raw(&h, "</td><td>");
            html_text(&h, json_string_value(json_object_get(x, "owner")));
            html_printf(&h, "</td><td>%.10s%s</td></tr>", due ? due : "",
                        json_is_true(json_object_get(x, "escalated")) ? " (overdue)" : "");
        }
        html_raw(&h, "</tbody></table>");
    } else {
        html_raw(&h, "<p>None.</p>");
    }
    json_t *lb = json_object_get(a, "lookback");
    if (json_array_size(lb)) {
        html_printf(&h, "<h2>Look-back (%zu events)</h2><ul>", json_array_size(lb));
        json_array_foreach(lb, i, x) {
            const char *at = json_string_value(json_object_get(x, "occurred_at"));
            html_printf(&h, "<li>%.10s: ", at ? at : "");
            html_text(&h, json_string_value(json_object_get(x, "type")));
            html_printf(&h, " (event %lld)</li>",
                        (long long)json_integer_value(json_object_get(x, "seq")));
        }
        html_raw(&h, "</ul>");
    }
    page_foot(&h);
    json_decref(r);
    return send_html(w, con, 200, &h, NULL);
}

static enum MHD_Result page_signin(struct web_console *w, struct MHD_Connection *con, int status,
                                   const char *message)
{
    struct html h;
    html_init(&h);
    page_head(&h, "Sign in", NULL, NULL);
    html_raw(&h, "<h1>Sign in</h1>");
    if (message) {
        html_raw(&h, "<p class=\"error\" role=\"alert\">");
        html_text(&h, message);
        html_raw(&h, "</p>");
    }
    html_raw(&h, "<form class=\"signin\" method=\"post\" action=\"/signin\"><label for=\"name\">"
                 "Name</label><input id=\"name\" name=\"name\" autocomplete=\"username\" "
                 "required autofocus><label for=\"password\">Password</label><input "
                 "id=\"password\" name=\"password\" type=\"password\" "
                 "autocomplete=\"current-password\" required><label for=\"code\">One-time "
                 "code (from your authenticator app, if you have one)</label><input id=\"code\" "
                 "name=\"code\" inputmode=\"numeric\" autocomplete=\"one-time-code\" "
                 "maxlength=\"6\"><button type=\"submit\">Sign in</button></form>");
    page_foot(&h);
    return send_html(w, con, status, &h, NULL);
}

static enum MHD_Result do_signin(struct web_console *w, struct MHD_Connection *con,
                                 const struct req_state *st)
{
    char name[CSPH_WEB_NAME_MAX + 1], password[1025], why[128], ip[64];
    if (form_field(st, "name", name, sizeof name) ||
        form_field(st, "password", password, sizeof password))
        return page_signin(w, con, 400, "Give your name and password.");
    if (web_account_name_valid(name, why, sizeof why))
        return page_signin(w, con, 401, "Wrong name, password or one-time code.");
    int wait = web_backoff_wait_s(w->sessions, name, now_ms());
    if (wait) {
        logf_("sign-in of '%s' from %s refused: %d s of backoff left", name,
              peer(con, ip, sizeof ip), wait);
        char msg[128];
        snprintf(msg, sizeof msg, "Too many failed sign-ins: try again in %d seconds.", wait);
        return page_signin(w, con, 429, msg);
    }
    struct web_account acc;
    int ok = web_accounts_verify(w->accounts, name, password, &acc);
    memset(password, 0, sizeof password);
    char code[16] = "";
    form_field(st, "code", code, sizeof code);
    if (ok && !acc.totp[0] && w->cfg.require_totp) {
        logf_("sign-in of '%s' from %s refused: no second factor set up", name,
              peer(con, ip, sizeof ip));
        return page_signin(w, con, 401, "This console needs a one-time code as well as the "
                                        "password: ask its administrator to set one up "
                                        "(csphub-web user totp NAME).");
    }
    long step = 0;
    if (ok && acc.totp[0] &&
        (!(step = web_totp_ok(&acc, code, (long)time(NULL))) ||
         !web_totp_claim(w->sessions, acc.name, step))) {
        if (step)
            logf_("sign-in of '%s' from %s: a one-time code used before", name,
                  peer(con, ip, sizeof ip));
        ok = 0;
    }
    if (!ok) {
        web_backoff_failed(w->sessions, name, now_ms());
        logf_("sign-in of '%s' from %s failed", name, peer(con, ip, sizeof ip));
        return page_signin(w, con, 401, "Wrong name, password or one-time code.");
    }
    web_backoff_clear(w->sessions, name);
    struct web_session ss;
    if (web_sessions_create(w->sessions, acc.name, now_ms(), &ss))
        return page_signin(w, con, 503, "Too many people are signed in: try again later.");
    char cookie[256];
    snprintf(cookie, sizeof cookie, COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", ss.id,
             w->cfg.behind_tls_proxy || w->cfg.tls_cert ? "; Secure" : "");
    logf_("'%s' signed in from %s", acc.name, peer(con, ip, sizeof ip));
    return redirect(w, con, "/queue", cookie);
}

/* ---- /events: new alerts of a panel, as server-sent events ----------------- */

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
    while (!w->stopping && s->seen == lp->seq && now_ms() - s->last_write_ms < 15000) {
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
    s->last_write_ms = now_ms();
    return (ssize_t)used;
}

static enum MHD_Result page_events(struct web_console *w, struct MHD_Connection *con,
                                   const struct web_session *ss)
{
    const char *panel = arg(con, "panel");
    struct web_account acc;
    if (!panel || !web_accounts_get(w->accounts, ss->name, &acc))
        return error_page(w, con, 400, ss, "Not accepted", "which panel? (/events?panel=NAME)");
    /* Only a panel this person's account lists (an auditor: any the console
     * shows); the page gets ids and priorities, the alert itself is asked
     * of the hub as the person. */
    char list[600];
    snprintf(list, sizeof list, ",%s,", strcmp(acc.role, "panel") ? w->cfg.panels : acc.panels);
    char needle[80];
    snprintf(needle, sizeof needle, ",%s,", panel);
    if (strlen(panel) > 64 || !strstr(list, needle))
        return error_page(w, con, 403, ss, "Not allowed", "not a panel of yours");
    int i = live_panel(w, panel);
    if (i < 0)
        return error_page(w, con, 503, ss, "Busy", "too many panels are watched");
    struct stream *s = calloc(1, sizeof *s);
    if (!s)
        return error_page(w, con, 503, ss, "Busy", "out of memory");
    s->w = w;
    s->panel = i;
    /* The stream starts once the panel's fetch is live (past what was
     * queued before), so that nothing arriving after the page opened is
     * missed; the page says hello then. */
    int64_t deadline = now_ms() + 5000;
    pthread_mutex_lock(&w->live_mu);
    while (!w->live[i].ready && !w->stopping && now_ms() < deadline) {
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
    security_headers(w, r, 1);
    enum MHD_Result rc = MHD_queue_response(con, 200, r);
    MHD_destroy_response(r);
    return rc;
}

/* ---- static files ---------------------------------------------------------- */

static enum MHD_Result page_static(struct web_console *w, struct MHD_Connection *con,
                                   const char *name)
{
    static const struct {
        const char *name, *type;
    } files[] = {{"app.css", "text/css; charset=utf-8"},
                 {"live.js", "text/javascript; charset=utf-8"}};
    const char *type = NULL;
    /* Only the files the console ships, by name: no path is ever built from
     * what the client sent, so ../ leads nowhere. */
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        if (!strcmp(name, files[i].name))
            type = files[i].type;
    char ip[64];
    if (!type) {
        logf_("static file '%.100s' refused (from %s)", name, peer(con, ip, sizeof ip));
        return error_page(w, con, 404, NULL, "Not found", "no such file");
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", w->cfg.static_dir, name);
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (fd >= 0)
            close(fd);
        logf_("cannot read %s: %s", path, strerror(errno));
        return error_page(w, con, 500, NULL, "The console failed", "a file it ships is missing");
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    MHD_add_response_header(r, "Content-Type", type);
    security_headers(w, r, 0);
    /* Cached for an hour, then checked again: a new release is seen the
     * same day without a versioned URL. */
    char etag[64];
    snprintf(etag, sizeof etag, "\"%llx-%llx\"", (unsigned long long)st.st_mtime,
             (unsigned long long)st.st_size);
    MHD_add_response_header(r, "Cache-Control", "public, max-age=3600");
    MHD_add_response_header(r, "ETag", etag);
    const char *inm = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "If-None-Match");
    enum MHD_Result rc;
    if (inm && !strcmp(inm, etag)) {
        MHD_destroy_response(r);
        r = MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
        MHD_add_response_header(r, "ETag", etag);
        MHD_add_response_header(r, "Cache-Control", "public, max-age=3600");
        security_headers(w, r, 0);
        rc = MHD_queue_response(con, 304, r);
    } else {
        rc = MHD_queue_response(con, 200, r);
    }
    MHD_destroy_response(r);
    return rc;
}

/* Rebuild the query string (for a redirect to the same page). */
static enum MHD_Result add_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                               const char *value)
{
    (void)kind;
    struct html *h = cls;
    html_raw(h, strchr(h->p, '?') ? "&" : "?");
    html_url(h, key);
    if (value) {
        html_raw(h, "=");
        html_url(h, value);
    }
    return MHD_YES;
}

/* ---- the router ----------------------------------------------------------- */

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    struct web_console *w = cls;
    int post = !strcmp(method, "POST");
    if (!*con_cls) {
        struct req_state *st = calloc(1, sizeof *st);
        if (!st)
            return MHD_NO;
        *con_cls = st;
        return MHD_YES;
    }
    struct req_state *st = *con_cls;
    if (*upload_size) {
        if (st->len + *upload_size > BODY_MAX)
            st->too_large = 1;
        else {
            memcpy(st->body + st->len, upload, *upload_size);
            st->len += *upload_size;
            st->body[st->len] = 0;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    char ip[64];
    if (st->too_large) {
        logf_("%s %s from %s refused: a body over %d bytes", method, url, peer(con, ip, sizeof ip),
              BODY_MAX);
        return error_page(w, con, 413, NULL, "Too large", "a form is at most 8 KiB");
    }
    if (!post && strcmp(method, "GET") && strcmp(method, "HEAD"))
        return error_page(w, con, 405, NULL, "Not allowed", "only GET and POST");
    if (!strncmp(url, "/static/", 8))
        return page_static(w, con, url + 8);
    if (!strcmp(url, "/signin"))
        return post ? do_signin(w, con, st) : page_signin(w, con, 200, NULL);
    struct web_session ss;
    int have = session_of(w, con, &ss);
    const char *sso = w->cfg.proxy_header
                          ? MHD_lookup_connection_value(con, MHD_HEADER_KIND, w->cfg.proxy_header)
                          : NULL;
    if (sso && strcmp(peer(con, ip, sizeof ip), w->cfg.trusted_proxy) != 0) {
        /* Anyone can send a header: only the configured proxy is believed. */
        logf_("%s %s: header %s from %s ignored (not the trusted proxy %s)", method, url,
              w->cfg.proxy_header, ip, w->cfg.trusted_proxy);
        sso = NULL;
    }
    if (sso && (!have || strcmp(ss.name, sso) != 0)) {
        struct web_account acc;
        char why[128];
        if (have)
            web_sessions_end(w->sessions, ss.id);
        if (web_account_name_valid(sso, why, sizeof why) || !web_accounts_get(w->accounts, sso, &acc) ||
            acc.disabled) {
            logf_("single sign-on of '%.64s' refused: no enabled account of that name", sso);
            return error_page(w, con, 403, NULL, "Not allowed",
                              "Your sign-on has no enabled account on this console: ask its "
                              "administrator (csphub-web user add).");
        }
        if (post)
            return error_page(w, con, 403, NULL, "Signed out",
                              "Your session has ended: reload the page. Nothing was changed.");
        if (web_sessions_create(w->sessions, acc.name, now_ms(), &ss))
            return error_page(w, con, 503, NULL, "Busy", "too many people are signed in");
        char cookie[256];
        snprintf(cookie, sizeof cookie, COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", ss.id,
                 w->cfg.behind_tls_proxy || w->cfg.tls_cert ? "; Secure" : "");
        logf_("'%s' signed in by the proxy's %s from %s", acc.name, w->cfg.proxy_header, ip);
        /* The same page again, now with the session's cookie. */
        struct html to;
        html_init(&to);
        /* A path of the console's own alphabet, or the queue: never a
         * header built from arbitrary bytes. */
        html_raw(&to, strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789/._-:") == strlen(url) ? url : "/queue");
        MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, add_arg, &to);
        enum MHD_Result rc = redirect(w, con, to.oom ? "/" : to.p, cookie);
        html_free(&to);
        return rc;
    }
    if (!have) {
        if (MHD_lookup_connection_value(con, MHD_COOKIE_KIND, COOKIE))
            logf_("%s %s from %s: unknown or expired session", method, url,
                  peer(con, ip, sizeof ip));
        if (post)
            return error_page(w, con, 403, NULL, "Signed out",
                              "Your session has ended: sign in again. Nothing was changed.");
        return redirect(w, con, "/signin", NULL);
    }
    char csrf[WEB_CSRF_LEN + 8] = "";
    if (post && (form_field(st, "csrf", csrf, sizeof csrf) || !web_csrf_ok(&ss, csrf))) {
        logf_("%s %s by '%s' from %s refused: missing or wrong CSRF token", method, url, ss.name,
              peer(con, ip, sizeof ip));
        return error_page(w, con, 403, &ss, "Not accepted",
                          "This form is out of date (missing or wrong token): reload the page "
                          "and try again. Nothing was changed.");
    }
    if (!strcmp(url, "/signout") && post) {
        web_sessions_end(w->sessions, ss.id);
        logf_("'%s' signed out", ss.name);
        return redirect(w, con, "/signin",
                        COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    }
    if (!strcmp(url, "/") && !post)
        return redirect(w, con, "/queue", NULL);
    if (!strcmp(url, "/queue") && !post)
        return page_queue(w, con, &ss);
    if (!strcmp(url, "/events") && !post)
        return page_events(w, con, &ss);
    unsigned long long id;
    char tail[16] = "";
    int n = 0;
    if (sscanf(url, "/alert/%llu%n", &id, &n) == 1 && id > 0 && url[7] >= '1' && url[7] <= '9') {
        snprintf(tail, sizeof tail, "%.15s", url + n);
        if (!tail[0] && !post)
            return page_alert(w, con, &ss, id);
        if (!strcmp(tail, "/decide") && post) {
            char status[32], note[2100] = "", expect[32] = "", why[512];
            if (form_field(st, "status", status, sizeof status))
                return error_page(w, con, 400, &ss, "Not accepted", "choose a decision");
            form_field(st, "note", note, sizeof note);
            form_field(st, "expect", expect, sizeof expect);
            json_t *req = json_pack("{s:s,s:I,s:s}", "op", "alert.update", "id", (json_int_t)id,
                                    "status", status);
            if (note[0])
                json_object_set_new(req, "note", json_string(note));
            if (expect[0])
                json_object_set_new(req, "expect", json_string(expect));
            json_t *r = as_person(w, &ss, req, why, sizeof why);
            if (!r || !json_is_true(json_object_get(r, "ok")))
                return hub_refusal(w, con, &ss, r, why);
            json_decref(r);
            char to[64];
            snprintf(to, sizeof to, "/alert/%llu", id);
            return redirect(w, con, to, NULL);
        }
    }
    if (!strncmp(url, "/person/", 8) && !post && url[8])
        return page_person(w, con, &ss, url + 8);
    if (!strcmp(url, "/agenda") && !post) /* panel work (docs/panels.md) */
        return page_agenda(w, con, &ss);
    return error_page(w, con, 404, &ss, "Not found", "no such page");
}

static void on_done(void *cls, struct MHD_Connection *con, void **con_cls,
                    enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)con;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

/* A PEM file read whole (malloc'd), or NULL with why. A key file others
 * may read is refused. */
static char *read_pem(const char *path, int secret, char *why, size_t n)
{
    FILE *f = fopen(path, "r");
    struct stat st;
    char *buf = NULL;
    if (!f || fstat(fileno(f), &st) != 0) {
        snprintf(why, n, "cannot read %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return NULL;
    }
    if (secret && (st.st_mode & 077)) {
        snprintf(why, n, "%s is a private key and others may read it (mode %03o): run chmod "
                 "600 %s", path, (unsigned)(st.st_mode & 0777), path);
        fclose(f);
        return NULL;
    }
    if (st.st_size > 1 << 20 || !(buf = calloc(1, (size_t)st.st_size + 1)) ||
        fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size ||
        !strstr(buf, "-----BEGIN ")) {
        snprintf(why, n, "%s is not a PEM file (-----BEGIN ...)", path);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

int web_console_start(struct web_console **out, const struct web_config *cfg,
                      struct web_accounts *accounts, char *why, size_t n)
{
    struct web_console *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    w->cfg = *cfg;
    w->accounts = accounts;
    pthread_mutex_init(&w->pool.mu, NULL);
    pthread_cond_init(&w->pool.cv, NULL);
    pthread_mutex_init(&w->live_mu, NULL);
    pthread_cond_init(&w->live_cv, NULL);
    if (web_sessions_new(&w->sessions, cfg->idle_ms)) {
        snprintf(why, n, "out of memory");
        web_console_stop(&w);
        return -1;
    }
    for (int i = 0; i < HUB_CLIENTS; i++) {
        if (web_hub_open(cfg, &w->pool.free[i], why, n)) {
            web_console_stop(&w);
            return -1;
        }
        w->pool.nfree++;
    }
    struct sockaddr_in sa = {0};
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)cfg->port);
    if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1) {
        snprintf(why, n, "--listen: '%s' is not an IPv4 address", cfg->host);
        web_console_stop(&w);
        return -1;
    }
    char *cert = NULL, *key = NULL;
    if (cfg->tls_cert && (!(cert = read_pem(cfg->tls_cert, 0, why, n)) ||
                          !(key = read_pem(cfg->tls_key, 1, why, n)))) {
        free(cert);
        web_console_stop(&w);
        return -1;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_ERROR_LOG | (cert ? MHD_USE_TLS : 0);
    /* The key and certificate go as options only with TLS (MHD refuses
     * them otherwise): an empty option list ends at the first END. */
    w->mhd = MHD_start_daemon(flags, (uint16_t)cfg->port, NULL, NULL, on_request, w,
                              MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                              MHD_OPTION_NOTIFY_COMPLETED, on_done, w,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)256,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
                              cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, cert,
                              MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    if (key)
        memset(key, 0, strlen(key));
    free(cert);
    free(key);
    if (!w->mhd) {
        snprintf(why, n, "cannot listen on %s:%d (in use, not an address of this machine%s)",
                 cfg->host, cfg->port, cfg->tls_cert ? ", or a certificate and key that do "
                                                        "not go together" : "");
        web_console_stop(&w);
        return -1;
    }
    *out = w;
    return 0;
}

void web_console_stop(struct web_console **wp)
{
    struct web_console *w = *wp;
    if (!w)
        return;
    pthread_mutex_lock(&w->live_mu);
    w->stopping = 1;
    pthread_cond_broadcast(&w->live_cv);
    pthread_mutex_unlock(&w->live_mu);
    if (w->mhd)
        MHD_stop_daemon(w->mhd);
    for (int i = 0; i < w->nlive; i++) {
        if (w->live[i].started)
            pthread_join(w->live[i].thread, NULL);
        for (int k = 0; k < LIVE_RING; k++)
            json_decref(w->live[i].ring[k]);
    }
    for (int i = 0; i < w->pool.nfree; i++)
        csph_client_close(&w->pool.free[i]);
    web_sessions_free(&w->sessions);
    pthread_mutex_destroy(&w->pool.mu);
    pthread_cond_destroy(&w->pool.cv);
    pthread_mutex_destroy(&w->live_mu);
    pthread_cond_destroy(&w->live_cv);
    free(w);
    *wp = NULL;
}
