/* csphub-web: the coordinators' web console (docs/console.md). Serves the
 * pages, or manages the local accounts (user add|disable|reset). */
#define _GNU_SOURCE
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "accounts.h"
#include "console.h"
#include "notify.h"

#ifndef CSPH_WEB_STATIC_DIR
#define CSPH_WEB_STATIC_DIR "web/static"
#endif

static const char usage[] =
    "usage: csphub-web [--listen ADDR:PORT] [--hub ENDPOINT] [--key console.key --server-key "
    "hub.pub]\n"
    "                  [--accounts FILE] [--sessions FILE] [--panels a,b] [--idle-timeout MIN]\n"
    "                  [--tls-cert F --tls-key F | --behind-tls-proxy] [--notify FILE]\n"
    "       csphub-web user add NAME --role ROLE [--panels a,b] [--accounts "
    "FILE]\n"
    "       csphub-web user disable NAME [--accounts FILE]\n"
    "       csphub-web user reset NAME [--accounts FILE]\n"
    "       csphub-web user totp NAME [--accounts FILE]\n";

static const char help[] =
    "\n"
    "The coordinators' web console for a csphub hub: a panel's queue with\n"
    "filters, an alert with its evidence and decisions, a person's case view,\n"
    "decisions recorded in the person's name, new alerts shown without a\n"
    "reload. It talks to the hub as its own gateway identity and names the\n"
    "signed-in person in every request: the hub decides what they may see.\n"
    "\n"
    "Serving:\n"
    "  --listen ADDR:PORT   where to listen (default 127.0.0.1:7480). Plain HTTP is\n"
    "                       served on a loopback address only; anywhere else needs\n"
    "                       --tls-cert/--tls-key or --behind-tls-proxy\n"
    "  --hub ENDPOINT       the hub (default $CSPHUB_HUB or tcp://127.0.0.1:7450)\n"
    "  --key FILE           the console's key (csphub keygen console); with\n"
    "  --server-key FILE    the hub's public key, for security curve. Default\n"
    "                       $CSPHUB_KEY and $CSPHUB_SERVER_KEY\n"
    "  --accounts FILE      the local accounts (default csphub-web.accounts, mode 0600)\n"
    "  --panels a,b         the panels the console shows (default: those of every\n"
    "                       account); list the gateway's panels of the identity file\n"
    "  --idle-timeout MIN   sign out after MIN minutes unused (default 30)\n"
    "  --sessions FILE      where sessions are kept so that a restart signs nobody\n"
    "                       out (mode 0600; default csphub-web.sessions beside the\n"
    "                       accounts file); none: in memory only\n"
    "  --tls-cert FILE      HTTPS with this certificate (chain, PEM) and\n"
    "  --tls-key FILE       its key (PEM, mode 0600); allows a non-loopback address\n"
    "  --behind-tls-proxy   cookies Secure, HSTS sent; allows a non-loopback address\n"
    "  --static DIR         the style and script it serves (default: the build's)\n"
    "  --proxy-user-header H  single sign-on: a reverse proxy puts the signed-in\n"
    "                       user's name in header H; believed only from\n"
    "  --trusted-proxy ADDR the proxy's address, and only on a loopback listen\n"
    "                       (otherwise ignored and logged); the name needs an account\n"
    "  --notify FILE        email notice of new and overdue alerts per panel (JSON:\n"
    "                       smtp, from, credentials, console_url, interval_s, panels;\n"
    "                       docs/console.md). Counts and a link only, no case details\n"
    "\n"
    "Accounts (the password is read from standard input, one line, 10+ chars):\n"
    "  user add NAME --role R [--panels a,b]   a new account; R is any role the hub\n"
    "                       knows (panel, auditor, strategic: reports only, dpo, ...),\n"
    "                       as the hub's people: list says (the hub decides)\n"
    "  user disable NAME    no more sign-ins; sessions end at their next request\n"
    "  user reset NAME      a new password (and enabled again)\n"
    "  user totp NAME       a new TOTP secret (a second factor; printed once, with\n"
    "                       its otpauth:// link). Needed by every local account when\n"
    "                       the console is reached over a network (off loopback or\n"
    "                       --behind-tls-proxy) without --proxy-user-header\n"
    "\n"
    "Examples:\n"
    "  echo 'a long passphrase' | csphub-web user add ann.smith --role panel --panels marac\n"
    "  csphub-web --key keys/console.key --server-key keys/hub.pub --panels marac,iom\n"
    "\n"
    "Exit status: 0 stopped cleanly (SIGINT/SIGTERM) or the account was written;\n"
    "1 could not start or write; 2 bad usage.\n";

static int bad_usage(const char *fmt, const char *a)
{
    fprintf(stderr, "csphub-web: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n%s", usage);
    return 2;
}

static int read_password(char *buf, size_t n)
{
    if (isatty(0))
        fprintf(stderr, "password (10+ characters): ");
    if (!fgets(buf, (int)n, stdin))
        return -1;
    buf[strcspn(buf, "\r\n")] = 0;
    return 0;
}

static int is_ipv4(const char *s)
{
    unsigned a, b, c, d;
    char tail;
    return sscanf(s, "%u.%u.%u.%u%c", &a, &b, &c, &d, &tail) == 4 && a < 256 && b < 256 &&
           c < 256 && d < 256;
}

static int is_loopback(const char *host)
{
    return !strncmp(host, "127.", 4);
}

int main(int argc, char **argv)
{
    enum { O_HUB = 256, O_KEY, O_SKEY, O_ACC, O_PANELS, O_IDLE, O_PROXY, O_STATIC, O_ROLE,
           O_NOTIFY, O_PROXY_HEADER, O_TRUSTED_PROXY, O_CERT, O_TLSKEY, O_SESSIONS };
    static const struct option opts[] = {
        {"listen", required_argument, NULL, 'l'},   {"hub", required_argument, NULL, O_HUB},
        {"key", required_argument, NULL, O_KEY},    {"server-key", required_argument, NULL, O_SKEY},
        {"accounts", required_argument, NULL, O_ACC}, {"panels", required_argument, NULL, O_PANELS},
        {"idle-timeout", required_argument, NULL, O_IDLE},
        {"sessions", required_argument, NULL, O_SESSIONS},
        {"behind-tls-proxy", no_argument, NULL, O_PROXY},
        {"static", required_argument, NULL, O_STATIC}, {"role", required_argument, NULL, O_ROLE},
        {"notify", required_argument, NULL, O_NOTIFY},
        {"proxy-user-header", required_argument, NULL, O_PROXY_HEADER},
        {"trusted-proxy", required_argument, NULL, O_TRUSTED_PROXY},
        {"tls-cert", required_argument, NULL, O_CERT}, {"tls-key", required_argument, NULL, O_TLSKEY},
        {"help", no_argument, NULL, 'h'},           {0, 0, 0, 0}};
    struct web_config cfg = {.host = "127.0.0.1", .port = 7480, .idle_ms = 30 * 60000,
                             .static_dir = CSPH_WEB_STATIC_DIR};
    const char *listen = NULL, *accounts_path = "csphub-web.accounts", *role = NULL,
               *panels = NULL, *notify_path = NULL, *sessions_path = NULL;
    cfg.hub = getenv("CSPHUB_HUB") ? getenv("CSPHUB_HUB") : "tcp://127.0.0.1:7450";
    cfg.key_file = getenv("CSPHUB_KEY");
    cfg.server_key = getenv("CSPHUB_SERVER_KEY");
    int opt;
    while ((opt = getopt_long(argc, argv, "l:h", opts, NULL)) >= 0) {
        switch (opt) {
        case 'l': listen = optarg; break;
        case O_HUB: cfg.hub = optarg; break;
        case O_KEY: cfg.key_file = optarg; break;
        case O_SKEY: cfg.server_key = optarg; break;
        case O_ACC: accounts_path = optarg; break;
        case O_SESSIONS: sessions_path = optarg; break;
        case O_PANELS: panels = optarg; break;
        case O_PROXY: cfg.behind_tls_proxy = 1; break;
        case O_STATIC: cfg.static_dir = optarg; break;
        case O_ROLE: role = optarg; break;
        case O_NOTIFY: notify_path = optarg; break;
        case O_CERT: cfg.tls_cert = optarg; break;
        case O_TLSKEY: cfg.tls_key = optarg; break;
        case O_PROXY_HEADER: cfg.proxy_header = optarg; break;
        case O_TRUSTED_PROXY:
            if (strlen(optarg) >= sizeof cfg.trusted_proxy || !is_ipv4(optarg))
                return bad_usage("--trusted-proxy '%s': the proxy's IPv4 address", optarg);
            snprintf(cfg.trusted_proxy, sizeof cfg.trusted_proxy, "%s", optarg);
            break;
        case O_IDLE: {
            char *end;
            long m = strtol(optarg, &end, 10);
            if (*end || m < 1 || m > 24 * 60)
                return bad_usage("--idle-timeout '%s': minutes, 1 to 1440", optarg);
            cfg.idle_ms = m * 60000;
            break;
        }
        case 'h': printf("%s%s", usage, help); return 0;
        default: fprintf(stderr, "%s", usage); return 2;
        }
    }
    char why[512];
    struct web_accounts *acc = NULL;
    if (optind < argc) {
        if (strcmp(argv[optind], "user") || argc - optind != 3)
            return bad_usage("unknown command '%s' (csphub-web user add|disable|reset|totp NAME)",
                             argv[optind]);
        const char *verb = argv[optind + 1], *name = argv[optind + 2];
        if (web_accounts_open(&acc, accounts_path, why, sizeof why)) {
            fprintf(stderr, "csphub-web: %s\n", why);
            return 1;
        }
        char pw[1100];
        int rc;
        if (!strcmp(verb, "add")) {
            if (!role) {
                web_accounts_close(&acc);
                return bad_usage("user add %s needs --role (panel, auditor, strategic, dpo, ...)",
                                 name);
            }
            rc = read_password(pw, sizeof pw) ? -1
                 : web_accounts_add(acc, name, role, panels ? panels : "", pw, why, sizeof why);
        } else if (!strcmp(verb, "reset")) {
            rc = read_password(pw, sizeof pw) ? -1
                 : web_accounts_reset(acc, name, pw, why, sizeof why);
        } else if (!strcmp(verb, "disable")) {
            rc = web_accounts_disable(acc, name, why, sizeof why);
        } else if (!strcmp(verb, "totp")) {
            char secret[64];
            if ((rc = web_accounts_totp(acc, name, secret, why, sizeof why)) == 0)
                printf("TOTP secret for %s: %s\n"
                       "Add it to an authenticator app (or as this link, e.g. a QR code):\n"
                       "otpauth://totp/csphub:%s?secret=%s&issuer=csphub&digits=6&period=30\n",
                       name, secret, name, secret);
            memset(secret, 0, sizeof secret);
        } else {
            web_accounts_close(&acc);
            return bad_usage("user '%s': expected add, disable, reset or totp", verb);
        }
        memset(pw, 0, sizeof pw);
        web_accounts_close(&acc);
        if (rc) {
            fprintf(stderr, "csphub-web: %s\n", why[0] ? why : "no password given");
            return 1;
        }
        printf("account %s: %s done\n", name, verb);
        return 0;
    }
    if (listen) {
        const char *colon = strrchr(listen, ':');
        char *end;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (!colon || *end || port < 1 || port > 65535 || colon - listen >= (long)sizeof cfg.host)
            return bad_usage("--listen '%s': expected ADDRESS:PORT, e.g. 127.0.0.1:7480", listen);
        snprintf(cfg.host, sizeof cfg.host, "%.*s", (int)(colon - listen), listen);
        cfg.port = (int)port;
    }
    if (!cfg.tls_cert != !cfg.tls_key)
        return bad_usage("%s", "--tls-cert and --tls-key go together");
    if (!is_loopback(cfg.host) && !cfg.behind_tls_proxy && !cfg.tls_cert) {
        fprintf(stderr, "csphub-web: refusing plain HTTP on %s: passwords and case details "
                "would cross the network unencrypted. Give --tls-cert and --tls-key (HTTPS), "
                "or listen on 127.0.0.1 behind a reverse proxy that terminates HTTPS and give "
                "--behind-tls-proxy\n", cfg.host);
        return 2;
    }
    /* Reached over a network without single sign-on: a second factor. */
    cfg.require_totp =
        (!is_loopback(cfg.host) || cfg.behind_tls_proxy || cfg.tls_cert) && !cfg.proxy_header;
    if (!cfg.proxy_header != !cfg.trusted_proxy[0])
        return bad_usage("%s", "--proxy-user-header and --trusted-proxy go together");
    if (cfg.proxy_header && !is_loopback(cfg.host))
        return bad_usage("--proxy-user-header: only while listening on loopback (%s is not): "
                         "anyone who can reach the console could claim a name", cfg.host);
    if (web_accounts_open(&acc, accounts_path, why, sizeof why)) {
        fprintf(stderr, "csphub-web: %s\n", why);
        return 1;
    }
    char all[512] = "";
    if (!panels) {
        /* The panels of every account, each once. */
        FILE *f = fopen(accounts_path, "r");
        char line[1024];
        while (f && fgets(line, sizeof line, f)) {
            char *p1 = strchr(line, ':'), *p2 = p1 ? strchr(p1 + 1, ':') : NULL,
                 *p3 = p2 ? strchr(p2 + 1, ':') : NULL;
            if (line[0] == '#' || !p3)
                continue;
            *p3 = 0;
            for (char *s = NULL, *p = strtok_r(p2 + 1, ",", &s); p; p = strtok_r(NULL, ",", &s)) {
                char needle[80];
                snprintf(needle, sizeof needle, ",%s,", p);
                char have[520];
                snprintf(have, sizeof have, ",%s,", all);
                if (!strstr(have, needle) && strlen(all) + strlen(p) + 2 < sizeof all)
                    snprintf(all + strlen(all), sizeof all - strlen(all), "%s%s", all[0] ? "," : "", p);
            }
        }
        if (f)
            fclose(f);
        panels = all;
    }
    cfg.panels = panels;
    /* Sessions survive a restart in a file beside the accounts (sessions.h
     * says why a file rather than signed cookies); "none": in memory. */
    char sess[4200];
    if (!sessions_path) {
        const char *slash = strrchr(accounts_path, '/');
        snprintf(sess, sizeof sess, "%.*scsphub-web.sessions",
                 slash ? (int)(slash - accounts_path + 1) : 0, accounts_path);
        sessions_path = sess;
    }
    cfg.sessions_file = strcmp(sessions_path, "none") ? sessions_path : NULL;
    signal(SIGPIPE, SIG_IGN);
    /* SIGINT and SIGTERM are taken by sigwait below, blocked first so that
     * every thread started from here (the HTTP server's, the live feed's)
     * inherits the block. A handler and pause() lost the stop whenever the
     * kernel handed the signal to one of those threads: main slept on (CI
     * saw the console ignore a SIGTERM for 20 s under ASan). */
    sigset_t stopset;
    sigemptyset(&stopset);
    sigaddset(&stopset, SIGINT);
    sigaddset(&stopset, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stopset, NULL);
    struct web_console *w = NULL;
    if (web_console_start(&w, &cfg, acc, why, sizeof why)) {
        fprintf(stderr, "csphub-web: %s\n", why);
        web_accounts_close(&acc);
        return 1;
    }
    struct web_notify *nt = NULL;
    if (notify_path && web_notify_start(&nt, notify_path, &cfg, why, sizeof why)) {
        fprintf(stderr, "csphub-web: %s\n", why);
        web_console_stop(&w);
        web_accounts_close(&acc);
        return 1;
    }
    fprintf(stderr, "csphub-web: serving %s://%s:%d/ for the hub at %s (panels %s)\n",
            cfg.tls_cert ? "https" : "http", cfg.host, cfg.port, cfg.hub,
            panels[0] ? panels : "none yet");
    if (!cfg.key_file)
        fprintf(stderr, "csphub-web: no --key: for a hub in security none (a single machine, "
                "a demo). The console checks each account's panels itself; with a hub in "
                "security curve and a gateway key, the hub decides\n");
    int sig;
    while (sigwait(&stopset, &sig) != 0)
        ;
    fprintf(stderr, "csphub-web: stopping\n");
    web_notify_stop(&nt);
    web_console_stop(&w);
    web_accounts_close(&acc);
    return 0;
}
