#define _GNU_SOURCE
#include "pagesignin.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "page.h"

enum MHD_Result web_page_signin(struct web_console *w, struct MHD_Connection *con, int status,
                                   const char *message)
{
    struct html h;
    html_init(&h);
    web_page_head(&h, "Sign in", NULL, NULL);
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
    web_page_foot(&h);
    return web_send_html(w, con, status, &h, NULL);
}

enum MHD_Result web_do_signin(struct web_console *w, struct MHD_Connection *con,
                                 const struct req_state *st)
{
    char name[CSPH_WEB_NAME_MAX + 1], password[1025], why[128], ip[64];
    if (web_form_field(st, "name", name, sizeof name) ||
        web_form_field(st, "password", password, sizeof password))
        return web_page_signin(w, con, 400, "Give your name and password.");
    if (web_account_name_valid(name, why, sizeof why))
        return web_page_signin(w, con, 401, "Wrong name, password or one-time code.");
    int wait = web_backoff_wait_s(w->sessions, name, web_now_ms());
    if (wait) {
        web_log("sign-in of '%s' from %s refused: %d s of backoff left", name,
              web_peer(con, ip, sizeof ip), wait);
        char msg[128];
        snprintf(msg, sizeof msg, "Too many failed sign-ins: try again in %d seconds.", wait);
        return web_page_signin(w, con, 429, msg);
    }
    struct web_account acc;
    int ok = web_accounts_verify(w->accounts, name, password, &acc);
    memset(password, 0, sizeof password);
    char code[16] = "";
    web_form_field(st, "code", code, sizeof code);
    if (ok && !acc.totp[0] && w->cfg.require_totp) {
        web_log("sign-in of '%s' from %s refused: no second factor set up", name,
              web_peer(con, ip, sizeof ip));
        return web_page_signin(w, con, 401, "This console needs a one-time code as well as the "
                                        "password: ask its administrator to set one up "
                                        "(csphub-web user totp NAME).");
    }
    long step = 0;
    if (ok && acc.totp[0] &&
        (!(step = web_totp_ok(&acc, code, (long)time(NULL))) ||
         !web_totp_claim(w->sessions, acc.name, step))) {
        if (step)
            web_log("sign-in of '%s' from %s: a one-time code used before", name,
                  web_peer(con, ip, sizeof ip));
        ok = 0;
    }
    if (!ok) {
        web_backoff_failed(w->sessions, name, web_now_ms());
        web_log("sign-in of '%s' from %s failed", name, web_peer(con, ip, sizeof ip));
        return web_page_signin(w, con, 401, "Wrong name, password or one-time code.");
    }
    web_backoff_clear(w->sessions, name);
    struct web_session ss;
    if (web_sessions_create(w->sessions, acc.name, web_now_ms(), &ss))
        return web_page_signin(w, con, 503, "Too many people are signed in: try again later.");
    char cookie[256];
    web_session_cookie(w, ss.id, cookie, sizeof cookie);
    web_log("'%s' signed in from %s", acc.name, web_peer(con, ip, sizeof ip));
    /* The board's members have reports only: they start there. */
    /* Each role's first page: the board's the report, an agency's its actions. */
    return web_redirect(w, con, !strcmp(acc.role, "strategic") ? "/report"
                                : !strcmp(acc.role, "agency")  ? "/actions"
                                                               : "/queue",
                        cookie);
}

void web_session_cookie(struct web_console *w, const char *id, char *out, size_t n)
{
    snprintf(out, n, COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict%s", id,
             w->cfg.behind_tls_proxy || w->cfg.tls_cert ? "; Secure" : "");
}
