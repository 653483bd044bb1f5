#define _GNU_SOURCE
/* The console's start and stop, and its router: each request's body
 * gathered (bounded), the session and single sign-on, CSRF on every POST,
 * then the page (one file a page: consolepriv.h lists them). */
#include "console.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "consolepriv.h"
#include "csphub.h"
#include "live.h"
#include "page.h"
#include "pagealert.h"
#include "pageagenda.h"
#include "pagecase.h"
#include "pageperson.h"
#include "pagequeue.h"
#include "pagereport.h"
#include "pagesignin.h"
#include "pagestatic.h"

/* The request's session, or 0. The account's role is copied in (the
 * navigation offers the report to those who may run one). */
static int session_of(struct web_console *w, struct MHD_Connection *con, struct web_session *ss)
{
    const char *id = MHD_lookup_connection_value(con, MHD_COOKIE_KIND, COOKIE);
    struct web_account acc;
    if (!id || !web_sessions_use(w->sessions, id, web_now_ms(), ss))
        return 0;
    /* An account disabled since sign-in ends its sessions at once. */
    if (!web_accounts_get(w->accounts, ss->name, &acc) || acc.disabled) {
        web_sessions_end(w->sessions, ss->id);
        return 0;
    }
    snprintf(ss->role, sizeof ss->role, "%s", acc.role);
    return 1;
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
        web_log("%s %s from %s refused: a body over %d bytes", method, url, web_peer(con, ip, sizeof ip),
              BODY_MAX);
        return web_error_page(w, con, 413, NULL, "Too large", "a form is at most 16 KiB");
    }
    if (!post && strcmp(method, "GET") && strcmp(method, "HEAD"))
        return web_error_page(w, con, 405, NULL, "Not allowed", "only GET and POST");
    if (!strncmp(url, "/static/", 8))
        return web_page_static(w, con, url + 8);
    if (!strcmp(url, "/signin"))
        return post ? web_do_signin(w, con, st) : web_page_signin(w, con, 200, NULL);
    struct web_session ss;
    int have = session_of(w, con, &ss);
    const char *sso = w->cfg.proxy_header
                          ? MHD_lookup_connection_value(con, MHD_HEADER_KIND, w->cfg.proxy_header)
                          : NULL;
    if (sso && strcmp(web_peer(con, ip, sizeof ip), w->cfg.trusted_proxy) != 0) {
        /* Anyone can send a header: only the configured proxy is believed. */
        web_log("%s %s: header %s from %s ignored (not the trusted proxy %s)", method, url,
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
            web_log("single sign-on of '%.64s' refused: no enabled account of that name", sso);
            return web_error_page(w, con, 403, NULL, "Not allowed",
                              "Your sign-on has no enabled account on this console: ask its "
                              "administrator (csphub-web user add).");
        }
        if (post)
            return web_error_page(w, con, 403, NULL, "Signed out",
                              "Your session has ended: reload the page. Nothing was changed.");
        if (web_sessions_create(w->sessions, acc.name, web_now_ms(), &ss))
            return web_error_page(w, con, 503, NULL, "Busy", "too many people are signed in");
        char cookie[256];
        web_session_cookie(w, ss.id, cookie, sizeof cookie);
        web_log("'%s' signed in by the proxy's %s from %s", acc.name, w->cfg.proxy_header, ip);
        /* The same page again, now with the session's cookie. */
        struct html to;
        html_init(&to);
        /* A path of the console's own alphabet, or the queue: never a
         * header built from arbitrary bytes. */
        html_raw(&to, strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789/._-:") == strlen(url) ? url : "/queue");
        MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, add_arg, &to);
        enum MHD_Result rc = web_redirect(w, con, to.oom ? "/" : to.p, cookie);
        html_free(&to);
        return rc;
    }
    if (!have) {
        if (MHD_lookup_connection_value(con, MHD_COOKIE_KIND, COOKIE))
            web_log("%s %s from %s: unknown or expired session", method, url,
                  web_peer(con, ip, sizeof ip));
        if (post)
            return web_error_page(w, con, 403, NULL, "Signed out",
                              "Your session has ended: sign in again. Nothing was changed.");
        return web_redirect(w, con, "/signin", NULL);
    }
    char csrf[WEB_CSRF_LEN + 8] = "";
    if (post && (web_form_field(st, "csrf", csrf, sizeof csrf) || !web_csrf_ok(&ss, csrf))) {
        web_log("%s %s by '%s' from %s refused: missing or wrong CSRF token", method, url, ss.name,
              web_peer(con, ip, sizeof ip));
        return web_error_page(w, con, 403, &ss, "Not accepted",
                          "This form is out of date (missing or wrong token): reload the page "
                          "and try again. Nothing was changed.");
    }
    if (!strcmp(url, "/signout") && post) {
        web_sessions_end(w->sessions, ss.id);
        web_log("'%s' signed out", ss.name);
        return web_redirect(w, con, "/signin",
                        COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    }
    if (!strcmp(url, "/") && !post) /* the board's members have reports only; an agency its actions */
        return web_redirect(w, con, !strcmp(ss.role, "strategic") ? "/report"
                                    : !strcmp(ss.role, "agency")  ? "/actions"
                                                                  : "/queue",
                            NULL);
    if (!strcmp(url, "/report") && !post)
        return web_page_report(w, con, &ss);
    if (!strcmp(url, "/queue") && !post)
        return web_page_queue(w, con, &ss);
    if (!strcmp(url, "/events") && !post)
        return web_page_events(w, con, &ss);
    unsigned long long id;
    char tail[16] = "";
    int n = 0;
    if (sscanf(url, "/alert/%llu%n", &id, &n) == 1 && id > 0 && url[7] >= '1' && url[7] <= '9') {
        snprintf(tail, sizeof tail, "%.15s", url + n);
        if (!tail[0] && !post)
            return web_page_alert(w, con, &ss, id);
        if (!strcmp(tail, "/decide") && post)
            return web_do_decide(w, con, &ss, st, id);
    }
    if (!strncmp(url, "/person/", 8) && !post && url[8])
        return web_page_person(w, con, &ss, url + 8);
    if (!strcmp(url, "/agenda") && !post) /* panel work (docs/panels.md) */
        return web_page_agenda(w, con, &ss);
    if (!strcmp(url, "/agenda/issue") && post)
        return web_do_agenda_issue(w, con, &ss, st);
    if (!strcmp(url, "/case") && !post)
        return web_page_case(w, con, &ss);
    if (!strncmp(url, "/case/", 6) && post)
        return web_do_case(w, con, &ss, st, url + 6);
    if (!strcmp(url, "/actions") && !post)
        return web_page_actions(w, con, &ss);
    return web_error_page(w, con, 404, &ss, "Not found", "no such page");
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
    if (cfg->sessions_file &&
        web_sessions_open_file(w->sessions, cfg->sessions_file, web_now_ms(), why, n)) {
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
    web_live_stop(w);
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