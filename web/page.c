#define _GNU_SOURCE
#include "page.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t web_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void web_log(const char *fmt, ...)
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

void web_security_headers(struct web_console *w, struct MHD_Response *r, int page)
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

enum MHD_Result web_send_html(struct web_console *w, struct MHD_Connection *con, int status,
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
    web_security_headers(w, r, 1);
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    enum MHD_Result rc = MHD_queue_response(con, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

enum MHD_Result web_redirect(struct web_console *w, struct MHD_Connection *con,
                                const char *to, const char *cookie)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (char *)"", MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header(r, "Location", to);
    web_security_headers(w, r, 1);
    if (cookie)
        MHD_add_response_header(r, "Set-Cookie", cookie);
    enum MHD_Result rc = MHD_queue_response(con, 303, r);
    MHD_destroy_response(r);
    return rc;
}

void web_page_head(struct html *h, const char *title, const struct web_session *ss,
                   const char *panels)
{
    web_page_head_css(h, title, ss, panels, NULL);
}

void web_page_head_css(struct html *h, const char *title, const struct web_session *ss,
                       const char *panels, const char *extra_css)
{
    html_raw(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>");
    html_text(h, title);
    html_raw(h, " - csphub</title><link rel=\"stylesheet\" href=\"/static/app.css\">");
    if (extra_css)
        html_printf(h, "<link rel=\"stylesheet\" href=\"/static/%s\">", extra_css);
    html_raw(h, "<script src=\"/static/live.js\" defer></script></head><body>"
                "<a class=\"skip\" href=\"#main\">Skip to content</a><header><nav>"
                "<span class=\"brand\">csphub</span>");
    if (ss) {
        char list[512];
        /* The board's members have no queue: reports are all they may ask. */
        int strategic = !strcmp(ss->role, "strategic") || !strcmp(ss->role, "agency");
        snprintf(list, sizeof list, "%s", panels && !strategic ? panels : "");
        for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            html_raw(h, "<a href=\"/queue?panel=");
            html_url(h, p);
            html_raw(h, "\">");
            html_text(h, p);
            html_raw(h, "</a>");
        }
        if (!strcmp(ss->role, "strategic") || !strcmp(ss->role, "auditor"))
            html_raw(h, "<a href=\"/report\">Report</a>");
        if (strcmp(ss->role, "strategic")) /* pagecase.h */
            html_raw(h, "<a href=\"/actions\">My actions</a>");
        html_raw(h, "<form class=\"signout\" method=\"post\" action=\"/signout\">"
                    "<input type=\"hidden\" name=\"csrf\" value=\"");
        html_text(h, ss->csrf);
        html_raw(h, "\"><span>Signed in as ");
        html_text(h, ss->name);
        html_raw(h, "</span> <button type=\"submit\">Sign out</button></form>");
    }
    html_raw(h, "</nav></header><main id=\"main\">");
}

void web_page_foot(struct html *h)
{
    html_raw(h, "</main></body></html>\n");
}

enum MHD_Result web_error_page(struct web_console *w, struct MHD_Connection *con, int status,
                                  const struct web_session *ss, const char *title,
                                  const char *message)
{
    struct html h;
    html_init(&h);
    web_page_head(&h, title, ss, w->cfg.panels);
    html_raw(&h, "<h1>");
    html_text(&h, title);
    html_raw(&h, "</h1><p class=\"error\" role=\"alert\">");
    html_text(&h, message);
    html_raw(&h, "</p>");
    if (ss)
        html_raw(&h, "<p><a href=\"/queue\">Back to the queue</a></p>");
    else
        html_raw(&h, "<p><a href=\"/signin\">Sign in</a></p>");
    web_page_foot(&h);
    return web_send_html(w, con, status, &h, NULL);
}

const char *web_arg(struct MHD_Connection *con, const char *name)
{
    return MHD_lookup_connection_value(con, MHD_GET_ARGUMENT_KIND, name);
}

int web_form_field(const struct req_state *st, const char *name, char *out, size_t n)
{
    return web_form_field_nth(st, name, 0, out, n);
}

int web_form_field_nth(const struct req_state *st, const char *name, int nth, char *out,
                       size_t n)
{
    size_t nl = strlen(name);
    const char *p = st->body;
    while (p && *p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > nl && p[nl] == '=' && !strncmp(p, name, nl) && nth-- == 0) {
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

const char *web_peer(struct MHD_Connection *con, char *buf, size_t n)
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

/* A refusal of the hub as a page: not_found and forbidden say so plainly. */
enum MHD_Result web_hub_refusal(struct web_console *w, struct MHD_Connection *con,
                                   const struct web_session *ss, json_t *r, const char *why)
{
    if (!r)
        return web_error_page(w, con, 502, ss, "The hub did not answer", why);
    const json_t *e = json_object_get(r, "error");
    const char *code = json_string_value(json_object_get(e, "code"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    int status = !code ? 502
                 : !strcmp(code, "not_found") ? 404
                 : !strcmp(code, "forbidden") || !strcmp(code, "unknown_panel") ? 403
                 : !strcmp(code, "conflict") ? 409
                 : !strcmp(code, "bad_request") ? 400
                 : !strcmp(code, "busy") ? 503
                 : 502;
    web_log("%s: the hub refused: %s", ss ? ss->name : "-", msg ? msg : "?");
    enum MHD_Result rc = web_error_page(w, con, status, ss,
                                    status == 404 ? "Not found"
                                    : status == 403 ? "Not allowed"
                                    : status == 409 ? "Changed meanwhile"
                                    : status == 400 ? "Not accepted"
                                    : status == 503 ? "Busy"
                                                    : "The hub failed",
                                    msg ? msg : "no reason given");
    json_decref(r);
    return rc;
}
