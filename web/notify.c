#define _GNU_SOURCE
#include "notify.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csphub.h"

#define NOTIFY_PANELS_MAX 32
#define NOTIFY_TO_MAX 16
#define CONSUMER "csphub-web-notify"

struct notify_panel {
    struct web_notify *nt;
    char name[65];
    char *to[NOTIFY_TO_MAX];
    size_t nto;
    pthread_t thread;
    int started;
};

struct web_notify {
    struct web_config cfg;
    char smtp[512], from[256], console_url[512], user[256], password[256];
    int loopback;
    int64_t interval_ms;
    struct notify_panel panels[NOTIFY_PANELS_MAX];
    size_t npanels;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void logf_(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "csphub-web: notify: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

char *web_notify_message(const char *from, const char *const *to, size_t nto, const char *panel,
                         const unsigned counts[3], unsigned overdue, const char *earliest_due,
                         const char *console_url, const char *date)
{
    char *m = NULL, *rcpt = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&rcpt, &len);
    if (!f)
        return NULL;
    for (size_t i = 0; i < nto; i++)
        fprintf(f, "%s%s", i ? ", " : "", to[i]);
    fclose(f);
    unsigned total = counts[0] + counts[1] + counts[2];
    f = open_memstream(&m, &len);
    if (!f) {
        free(rcpt);
        return NULL;
    }
    /* Only the panel, counts, priorities, due dates and a link: never a
     * person reference, a reason or an event detail. */
    fprintf(f,
            "Date: %s\r\nFrom: %s\r\nTo: %s\r\nSubject: csphub: %u new alert%s on %s\r\n"
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Auto-Submitted: auto-generated\r\n\r\n"
            "%u new alert%s on the %s queue since the last notice:\r\n\r\n"
            "  high priority:     %u\r\n  medium priority:   %u\r\n  standard priority: %u\r\n"
            "  overdue (escalated): %u\r\n",
            date, from, rcpt, total, total == 1 ? "" : "s", panel, total, total == 1 ? "" : "s",
            panel, counts[2], counts[1], counts[0], overdue);
    if (earliest_due && *earliest_due)
        fprintf(f, "  earliest due:      %.10s %.5s UTC\r\n", earliest_due, earliest_due + 11);
    fprintf(f, "\r\nRead them in the console (sign in first):\r\n  %squeue?panel=%s\r\n\r\n"
               "This notice carries no case details by design.\r\n",
            console_url, panel);
    fclose(f);
    free(rcpt);
    return m;
}

struct upload {
    const char *p;
    size_t left;
};

static size_t read_cb(char *buf, size_t size, size_t nmemb, void *ctx)
{
    struct upload *u = ctx;
    size_t n = size * nmemb < u->left ? size * nmemb : u->left;
    memcpy(buf, u->p, n);
    u->p += n;
    u->left -= n;
    return n;
}

/* Send text to the panel's addresses. 0, or -1 (logged). */
static int send_mail(struct web_notify *nt, struct notify_panel *p, const char *text)
{
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    struct curl_slist *rcpt = NULL;
    for (size_t i = 0; i < p->nto; i++) {
        char addr[300];
        snprintf(addr, sizeof addr, "<%s>", p->to[i]);
        rcpt = curl_slist_append(rcpt, addr);
    }
    char from[300];
    snprintf(from, sizeof from, "<%s>", nt->from);
    struct upload u = {text, strlen(text)};
    curl_easy_setopt(c, CURLOPT_URL, nt->smtp);
    curl_easy_setopt(c, CURLOPT_MAIL_FROM, from);
    curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(c, CURLOPT_READDATA, &u);
    curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    /* STARTTLS, certificate checked, unless the server is on this machine. */
    curl_easy_setopt(c, CURLOPT_USE_SSL, nt->loopback ? (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (nt->user[0]) {
        curl_easy_setopt(c, CURLOPT_USERNAME, nt->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, nt->password);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        logf_("%s: sending to %s failed: %s", p->name, nt->smtp, curl_easy_strerror(rc));
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(c);
    return rc == CURLE_OK ? 0 : -1;
}

static json_t *request(csph_client *c, json_t *req)
{
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    const char *answer = NULL;
    json_t *r = NULL;
    if (text && csph_client_request_json(c, text, 35000, &answer) == 0 && answer)
        r = json_loads(answer, 0, NULL);
    free(text);
    return r;
}

/* Wait up to ms unless stopping; returns whether stopping. */
static int nap(struct web_notify *nt, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&nt->mu);
    if (!nt->stopping)
        pthread_cond_timedwait(&nt->cv, &nt->mu, &ts);
    int s = nt->stopping;
    pthread_mutex_unlock(&nt->mu);
    return s;
}

/* The panel's loop: fetch what is unacknowledged (held while none); when
 * some is there and the interval since the last notice has passed, send
 * one message for all of it, then acknowledge it. */
static void *panel_run(void *arg)
{
    struct notify_panel *p = arg;
    struct web_notify *nt = p->nt;
    csph_client *c = NULL;
    char why[512];
    int64_t last_sent = 0;
    while (!nt->stopping) {
        if (!c && web_hub_open(&nt->cfg, &c, why, sizeof why)) {
            logf_("%s: %s", p->name, why);
            if (nap(nt, 1000))
                break;
            continue;
        }
        json_t *r = request(c, json_pack("{s:s,s:s,s:s,s:i,s:i}", "op", "fetch", "panel", p->name,
                                         "consumer", CONSUMER, "max", 1000, "wait_ms", 2000));
        if (!r || !json_is_true(json_object_get(r, "ok"))) {
            if (r)
                logf_("%s: the hub refused the fetch: %s", p->name,
                      json_string_value(json_object_get(json_object_get(r, "error"), "message")));
            json_decref(r);
            csph_client_close(&c);
            if (nap(nt, 1000))
                break;
            continue;
        }
        json_t *alerts = json_object_get(r, "alerts");
        if (!json_array_size(alerts)) {
            json_decref(r);
            continue;
        }
        int64_t wait = last_sent + nt->interval_ms - now_ms();
        if (wait > 0) {
            /* Within the interval: the alerts stay unacknowledged and are
             * counted in the next notice. */
            json_decref(r);
            if (nap(nt, wait))
                break;
            continue;
        }
        unsigned counts[3] = {0, 0, 0}, overdue = 0;
        char due[40] = "";
        size_t i;
        json_t *a;
        json_array_foreach(alerts, i, a) {
            const char *pr = json_string_value(json_object_get(a, "priority"));
            counts[pr && !strcmp(pr, "high") ? 2 : pr && !strcmp(pr, "medium") ? 1 : 0]++;
            const char *rule = json_string_value(json_object_get(a, "rule"));
            overdue += rule && !strcmp(rule, "overdue");
            const char *d = json_string_value(json_object_get(a, "due_at"));
            if (d && (!due[0] || strcmp(d, due) < 0))
                snprintf(due, sizeof due, "%.39s", d);
        }
        char date[64];
        time_t t = time(NULL);
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S +0000", &tm);
        char *msg = web_notify_message(nt->from, (const char *const *)p->to, p->nto, p->name,
                                       counts, overdue, due, nt->console_url, date);
        json_int_t upto = json_integer_value(json_object_get(r, "next"));
        json_decref(r);
        if (!msg || send_mail(nt, p, msg) != 0) {
            free(msg);
            if (nap(nt, 30000)) /* the server is down: try again, nothing acknowledged */
                break;
            continue;
        }
        free(msg);
        last_sent = now_ms();
        logf_("%s: notice sent (%u new alerts)", p->name, counts[0] + counts[1] + counts[2]);
        json_decref(request(c, json_pack("{s:s,s:s,s:s,s:I}", "op", "ack", "panel", p->name,
                                         "consumer", CONSUMER, "upto", upto)));
    }
    csph_client_close(&c);
    return NULL;
}

static int fail(char *why, size_t n, const char *path, const char *fmt, const char *a)
{
    char msg[400];
    snprintf(msg, sizeof msg, fmt, a);
    snprintf(why, n, "%s: %s", path, msg);
    return -1;
}

static int read_credentials(struct web_notify *nt, const char *path, char *why, size_t n)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return fail(why, n, path, "cannot read the SMTP credentials: %s", strerror(errno));
    if (st.st_mode & 077)
        return fail(why, n, path, "holds a password and others may read it: run chmod 600 %s",
                    path);
    FILE *f = fopen(path, "r");
    char line[520];
    if (!f || !fgets(line, sizeof line, f)) {
        if (f)
            fclose(f);
        return fail(why, n, path, "expected one line user:password%s", "");
    }
    fclose(f);
    line[strcspn(line, "\r\n")] = 0;
    char *colon = strchr(line, ':');
    if (!colon || colon == line || strlen(line) >= sizeof nt->user)
        return fail(why, n, path, "expected one line user:password%s", "");
    *colon = 0;
    snprintf(nt->user, sizeof nt->user, "%s", line);
    snprintf(nt->password, sizeof nt->password, "%s", colon + 1);
    memset(line, 0, sizeof line);
    return 0;
}

static int str_field(json_t *root, const char *key, char *out, size_t cap, int required,
                     const char *path, char *why, size_t n)
{
    json_t *v = json_object_get(root, key);
    if (!v && !required)
        return 0;
    if (!json_is_string(v) || !*json_string_value(v) || strlen(json_string_value(v)) >= cap)
        return fail(why, n, path, "'%s' must be a non-empty string", key);
    snprintf(out, cap, "%s", json_string_value(v));
    return 0;
}

int web_notify_start(struct web_notify **out, const char *path, const struct web_config *cfg,
                     char *why, size_t n)
{
    json_error_t je;
    json_t *root = json_load_file(path, 0, &je);
    if (!root) {
        snprintf(why, n, "%s:%d: %s", path, je.line, je.text);
        return -1;
    }
    struct web_notify *nt = calloc(1, sizeof *nt);
    int rc = -1;
    if (!nt) {
        snprintf(why, n, "out of memory");
        goto out;
    }
    nt->cfg = *cfg;
    pthread_mutex_init(&nt->mu, NULL);
    pthread_cond_init(&nt->cv, NULL);
    static const char *const keys[] = {"smtp", "from", "credentials", "console_url", "interval_s",
                                       "panels"};
    const char *k;
    json_t *v;
    json_object_foreach(root, k, v) {
        int known = 0;
        for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
            known |= !strcmp(k, keys[i]);
        if (!known) {
            fail(why, n, path, "unknown setting '%s' (smtp, from, credentials, console_url, "
                               "interval_s, panels)", k);
            goto out;
        }
    }
    char cred[512] = "";
    if (str_field(root, "smtp", nt->smtp, sizeof nt->smtp, 1, path, why, n) ||
        str_field(root, "from", nt->from, sizeof nt->from, 1, path, why, n) ||
        str_field(root, "console_url", nt->console_url, sizeof nt->console_url, 1, path, why, n) ||
        str_field(root, "credentials", cred, sizeof cred, 0, path, why, n))
        goto out;
    if (strncmp(nt->smtp, "smtp://", 7)) {
        fail(why, n, path, "'smtp' must be smtp://HOST:PORT (STARTTLS is required off loopback), "
                           "not '%.100s'", nt->smtp);
        goto out;
    }
    const char *host = nt->smtp + 7;
    nt->loopback = !strncmp(host, "127.", 4) || !strncmp(host, "localhost", 9) ||
                   !strncmp(host, "[::1]", 5);
    if (cred[0] && read_credentials(nt, cred, why, n))
        goto out;
    json_t *iv = json_object_get(root, "interval_s");
    if (iv && (!json_is_integer(iv) || json_integer_value(iv) < 1 ||
               json_integer_value(iv) > 7 * 86400)) {
        fail(why, n, path, "'interval_s' is seconds, 1 to 604800%s", "");
        goto out;
    }
    nt->interval_ms = (iv ? json_integer_value(iv) : 900) * 1000;
    json_t *panels = json_object_get(root, "panels");
    if (!json_is_object(panels) || !json_object_size(panels)) {
        fail(why, n, path, "'panels' maps each panel to the addresses it notifies%s", "");
        goto out;
    }
    json_object_foreach(panels, k, v) {
        if (nt->npanels == NOTIFY_PANELS_MAX || strlen(k) > 64 || !json_is_array(v) ||
            !json_array_size(v) || json_array_size(v) > NOTIFY_TO_MAX) {
            fail(why, n, path, "panel '%s': a list of 1 to 16 addresses", k);
            goto out;
        }
        struct notify_panel *p = &nt->panels[nt->npanels++];
        p->nt = nt;
        snprintf(p->name, sizeof p->name, "%s", k);
        size_t i;
        json_t *a;
        json_array_foreach(v, i, a) {
            const char *s = json_string_value(a);
            if (!s || !strchr(s, '@') || strpbrk(s, "<>\r\n, ") || strlen(s) > 254) {
                fail(why, n, path, "panel '%s': not an email address", k);
                goto out;
            }
            p->to[p->nto++] = strdup(s);
        }
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (size_t i = 0; i < nt->npanels; i++)
        nt->panels[i].started = pthread_create(&nt->panels[i].thread, NULL, panel_run,
                                               &nt->panels[i]) == 0;
    rc = 0;
    *out = nt;
out:
    json_decref(root);
    if (rc && nt)
        web_notify_stop(&nt);
    return rc;
}

void web_notify_stop(struct web_notify **ntp)
{
    struct web_notify *nt = *ntp;
    if (!nt)
        return;
    pthread_mutex_lock(&nt->mu);
    nt->stopping = 1;
    pthread_cond_broadcast(&nt->cv);
    pthread_mutex_unlock(&nt->mu);
    for (size_t i = 0; i < nt->npanels; i++) {
        if (nt->panels[i].started)
            pthread_join(nt->panels[i].thread, NULL);
        for (size_t k = 0; k < nt->panels[i].nto; k++)
            free(nt->panels[i].to[k]);
    }
    memset(nt->password, 0, sizeof nt->password);
    pthread_mutex_destroy(&nt->mu);
    pthread_cond_destroy(&nt->cv);
    free(nt);
    *ntp = NULL;
}
