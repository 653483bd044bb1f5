/* page.h: what every page of the console does the same way: the log line,
 * the security headers, an HTML response, a redirect, the page's frame
 * (navigation, sign-out), error pages (a hub's refusal among them), and
 * the request's arguments, form fields and peer address. */
#ifndef CSPH_WEB_PAGE_H
#define CSPH_WEB_PAGE_H

#include "consolepriv.h"
#include "html.h"

int64_t web_now_ms(void);
void web_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CSP, nosniff, framing, referrer; page: also Cache-Control no-store. */
void web_security_headers(struct web_console *w, struct MHD_Response *r, int page);
/* Send h (freed) with status; cookie, when not NULL, is a Set-Cookie. */
enum MHD_Result web_send_html(struct web_console *w, struct MHD_Connection *con, int status,
                              struct html *h, const char *cookie);
enum MHD_Result web_redirect(struct web_console *w, struct MHD_Connection *con, const char *to,
                             const char *cookie);
/* The page's start, up to <main>; ss NULL: signed out (no navigation).
 * extra_css, when not NULL, is one more of the console's style sheets. */
void web_page_head(struct html *h, const char *title, const struct web_session *ss,
                   const char *panels);
void web_page_head_css(struct html *h, const char *title, const struct web_session *ss,
                       const char *panels, const char *extra_css);
void web_page_foot(struct html *h);
enum MHD_Result web_error_page(struct web_console *w, struct MHD_Connection *con, int status,
                               const struct web_session *ss, const char *title,
                               const char *message);
/* A refusal of the hub (r, which is freed; NULL: no answer, why says so)
 * as a page: not_found and forbidden say so plainly. */
enum MHD_Result web_hub_refusal(struct web_console *w, struct MHD_Connection *con,
                                const struct web_session *ss, json_t *r, const char *why);

/* A query argument (borrowed from MHD for the request), or NULL. */
const char *web_arg(struct MHD_Connection *con, const char *name);
/* A field of an application/x-www-form-urlencoded body, decoded into out
 * (n bytes); 0, or -1 when absent. */
int web_form_field(const struct req_state *st, const char *name, char *out, size_t n);
/* The same for the nth (from 0) of a field given several times (a group of
 * checkboxes); -1 when there are not that many. */
int web_form_field_nth(const struct req_state *st, const char *name, int nth, char *out,
                       size_t n);
/* The client's IPv4 address as text in buf ("?" when not IPv4). */
const char *web_peer(struct MHD_Connection *con, char *buf, size_t n);

#endif
