/* console.h: the coordinators' web console: an HTTP server (libmicrohttpd,
 * a thread per connection, so a password hash or a held live stream never
 * holds up another page) that talks to the hub over CSPH/1 through the
 * client library as its own `gateway` identity, naming the signed-in
 * person in every request (`as`, PROTOCOL.md 8.1). It never opens the
 * hub's data directory: the hub decides what each person may see and do.
 *
 * Pages: sign-in, a panel's queue (filters and paging on the hub), an
 * alert (evidence, decisions, a decision form, a print layout), a
 * person's case view; /events streams new alerts of a panel to open
 * pages (server-sent events) from one held fetch per panel; /static/
 * serves the program's own style and script. */
#ifndef CSPH_WEB_CONSOLE_H
#define CSPH_WEB_CONSOLE_H

#include <stdint.h>

#include "accounts.h"

struct web_config {
    char host[64];        /* the address listened on */
    int port;
    const char *hub;      /* the hub's endpoint */
    const char *key_file; /* the console's gateway key (CURVE), or NULL */
    const char *server_key;
    const char *static_dir;
    const char *panels;   /* the panels the console shows (comma-separated) */
    int64_t idle_ms;      /* a session's idle timeout */
    const char *sessions_file; /* where sessions survive a restart (sessions.h); NULL: memory */
    int behind_tls_proxy; /* off loopback: a reverse proxy terminates TLS */
    /* Single sign-on: the header a reverse proxy puts the authenticated
     * user's name in, trusted only from trusted_proxy (and only while the
     * console listens on loopback); NULL: none. */
    const char *proxy_header;
    char trusted_proxy[64];
    /* People reach the console over a network (off loopback, or behind a
     * TLS proxy) without single sign-on: local accounts need their TOTP
     * code too. */
    int require_totp;
    /* HTTPS: the certificate chain and its key (PEM files); NULL: plain
     * HTTP, which is refused off loopback without behind_tls_proxy. */
    const char *tls_cert, *tls_key;
};

struct web_console;

/* Start serving (threads of its own). 0, or -1 with why. accounts is
 * borrowed and must outlive the console. */
int web_console_start(struct web_console **out, const struct web_config *cfg,
                      struct web_accounts *accounts, char *why, size_t n);
/* A new client of the hub as the console's gateway identity (its key when
 * cfg has one). 0, or -1 with why. */
typedef struct csph_client csph_client;
int web_hub_open(const struct web_config *cfg, csph_client **out, char *why, size_t n);

/* Stop serving, end the live streams, free. Accepts NULL. */
void web_console_stop(struct web_console **c);

#endif
