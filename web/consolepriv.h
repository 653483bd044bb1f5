/* consolepriv.h: the console's state, shared by its parts and by no other
 * program: console.c (start, stop, the router), page.c (responses and
 * request helpers), hubpool.c (the hub), live.c (new alerts streamed to
 * open pages), render.c (alerts and events as HTML) and one file a page
 * (pagequeue.c, pagealert.c, pageperson.c, pagesignin.c, pagestatic.c,
 * pagereport.c). */
#ifndef CSPH_WEB_CONSOLEPRIV_H
#define CSPH_WEB_CONSOLEPRIV_H

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <jansson.h>
#include <microhttpd.h>

#include "accounts.h"
#include "console.h"
#include "sessions.h"

/* a form is a few fields: anything larger is refused. 16 KiB: a hearing's
 * minutes (at most 4,000 bytes) percent-encoded outside ASCII take 12. */
#define BODY_MAX 16384
#define HUB_CLIENTS 4
#define HUB_TIMEOUT_MS 10000
#define QUEUE_PAGE 50
#define LIVE_PANELS_MAX 32
#define LIVE_RING 64
#define COOKIE "csphub_session"

/* A few clients of the hub shared by the request threads (hubpool.c). */
struct hub_pool {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    csph_client *free[HUB_CLIENTS];
    int nfree;
};

/* One panel's held fetch, fanned out to its open pages (live.c). */
struct live_panel {
    char name[65];
    pthread_t thread;
    int started;
    int ready;               /* past what was queued before: now live */
    uint64_t seq;            /* alerts seen so far */
    json_t *ring[LIVE_RING]; /* the last ones: {id, priority} */
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

/* What one connection's request accumulates (MHD's per-request pointer). */
struct req_state {
    char body[BODY_MAX + 1];
    size_t len;
    int too_large;
};

#endif
