/* httpd.c: metrics and health over HTTP on libmicrohttpd (httpd.h). */
#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

#define TOKEN_MAX 256
#define PEM_MAX (1u << 20)

struct hub_httpd {
    struct MHD_Daemon *d;
    pthread_mutex_t mu;
    char *text; /* what /metrics serves (owned; NULL before the first publish) */
    size_t len;
    int writable;
    char why[256];
    char token[TOKEN_MAX + 1]; /* "" : none asked */
    char *cert, *key;          /* PEM, kept while the daemon runs */
    unsigned port;
};

/* ---- settings ---------------------------------------------------------- */

static void resolve(char *out, size_t n, const char *base_file, const char *p)
{
    const char *slash = strrchr(base_file, '/');
    if (p[0] == '/' || !slash)
        snprintf(out, n, "%s", p);
    else
        snprintf(out, n, "%.*s/%s", (int)(slash - base_file), base_file, p);
}

enum hub_err hub_httpd_config_read(struct hub_yaml *y, yaml_node_t *map,
                                   struct hub_metrics_config *m, struct hub_error *err)
{
    static const char *const keys[] = {"listen", "tls_cert", "tls_key", "token_file",
                                       "interval_ms", "consumers_max", "consumer_idle_hours",
                                       NULL};
    enum hub_err rc = hub_yaml_only_keys(y, map, keys, "metrics", err);
    const char *s;
    yaml_node_t *n;
    int64_t v;
    if (rc)
        return rc;
    if ((n = hub_yaml_get(y, map, "listen"))) {
        if ((rc = hub_yaml_str(y, n, "metrics.listen", &s, err)))
            return rc;
        if (strlen(s) >= sizeof m->listen)
            return hub_yaml_fail(y, n, err, "metrics.listen is too long");
        snprintf(m->listen, sizeof m->listen, "%s", strcmp(s, "off") ? s : "");
    }
    struct { const char *key; char *out; } paths[] = {
        {"tls_cert", m->tls_cert}, {"tls_key", m->tls_key}, {"token_file", m->token_file}};
    for (size_t i = 0; i < 3; i++) {
        if (!(n = hub_yaml_get(y, map, paths[i].key)))
            continue;
        if ((rc = hub_yaml_str(y, n, paths[i].key, &s, err)))
            return rc;
        if (!*s)
            return hub_yaml_fail(y, n, err, "metrics.%s must not be empty", paths[i].key);
        resolve(paths[i].out, PATH_MAX, y->path, s);
    }
    if ((n = hub_yaml_get(y, map, "interval_ms"))) {
        if ((rc = hub_yaml_int(y, n, "metrics.interval_ms", 100, 600000, &v, err)))
            return rc;
        m->interval_ms = (uint32_t)v;
    }
    if ((n = hub_yaml_get(y, map, "consumers_max"))) {
        if ((rc = hub_yaml_int(y, n, "metrics.consumers_max", 0, 10000, &v, err)))
            return rc;
        m->consumers_max = (uint32_t)v;
    }
    if ((n = hub_yaml_get(y, map, "consumer_idle_hours"))) {
        if ((rc = hub_yaml_int(y, n, "metrics.consumer_idle_hours", 1, 24 * 366, &v, err)))
            return rc;
        m->consumer_idle_s = (uint32_t)v * 3600;
    }
    return CSPH_ERR_OK;
}

/* "host:port" (host an IPv4 literal, localhost, or [IPv6]) into sa. */
static int parse_listen(const char *s, struct sockaddr_storage *sa, socklen_t *salen, int *loopback)
{
    char host[128];
    const char *colon = strrchr(s, ':');
    if (!colon || colon == s || !colon[1])
        return -1;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535)
        return -1;
    size_t hl = (size_t)(colon - s);
    if (hl >= sizeof host)
        return -1;
    memcpy(host, s, hl);
    host[hl] = 0;
    memset(sa, 0, sizeof *sa);
    if (!strcmp(host, "localhost"))
        snprintf(host, sizeof host, "127.0.0.1");
    if (host[0] == '[' && host[hl - 1] == ']') {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)sa;
        host[hl - 1] = 0;
        if (inet_pton(AF_INET6, host + 1, &a6->sin6_addr) != 1)
            return -1;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *salen = sizeof *a6;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
        return 0;
    }
    struct sockaddr_in *a4 = (struct sockaddr_in *)sa;
    if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -1;
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *salen = sizeof *a4;
    *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
    return 0;
}

enum hub_err hub_httpd_config_validate(const struct hub_metrics_config *m, const char *where,
                                       struct hub_error *err)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    int loopback;
    if (!m->listen[0])
        return CSPH_ERR_OK;
    if (parse_listen(m->listen, &sa, &salen, &loopback))
        return hub_error_set(err, CSPH_ERR_CONFIG, "metrics.listen",
                             "%s: metrics.listen '%s' must be ADDRESS:PORT, as 127.0.0.1:9465 "
                             "or [::1]:9465 (or off)",
                             where, m->listen);
    if (!m->tls_cert[0] != !m->tls_key[0])
        return hub_error_set(err, CSPH_ERR_CONFIG, "metrics.tls_cert",
                             "%s: metrics.tls_cert and metrics.tls_key go together", where);
    if (!loopback && (!m->tls_cert[0] || !m->token_file[0]))
        return hub_error_set(err, CSPH_ERR_CONFIG, "metrics.listen",
                             "%s: refusing metrics on '%s' without TLS and a token: the "
                             "metrics name panels and consumers. Use a loopback address "
                             "(127.0.0.1:PORT) or set metrics.tls_cert, metrics.tls_key and "
                             "metrics.token_file",
                             where, m->listen);
    return CSPH_ERR_OK;
}

/* A whole small file into a NUL-terminated buffer; private = 1 refuses one
 * that other users can read. */
static enum hub_err slurp(const char *path, const char *field, int private, char **out,
                          size_t *len, struct hub_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return hub_error_set(err, CSPH_ERR_CONFIG, field, "%s %s cannot be read: %s", field,
                             path, strerror(e));
    }
    if (private && (st.st_mode & 077)) {
        close(fd);
        return hub_error_set(err, CSPH_ERR_CONFIG, field,
                             "%s %s can be read by other users (mode %03o); run: chmod 600 %s",
                             field, path, (unsigned)(st.st_mode & 0777), path);
    }
    if (st.st_size > PEM_MAX) {
        close(fd);
        return hub_error_set(err, CSPH_ERR_CONFIG, field, "%s %s is larger than 1 MiB", field,
                             path);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    ssize_t got = buf ? read(fd, buf, (size_t)st.st_size) : -1;
    close(fd);
    if (got < 0) {
        free(buf);
        return hub_error_set(err, CSPH_ERR_CONFIG, field, "%s %s cannot be read", field, path);
    }
    buf[got] = 0;
    *out = buf;
    *len = (size_t)got;
    return CSPH_ERR_OK;
}

/* The token file's first line, without surrounding blanks. */
static enum hub_err read_token(const char *path, char token[TOKEN_MAX + 1],
                               struct hub_error *err)
{
    char *buf;
    size_t len;
    enum hub_err rc = slurp(path, "metrics.token_file", 1, &buf, &len, err);
    if (rc)
        return rc;
    char *p = buf, *e;
    while (*p == ' ' || *p == '\t')
        p++;
    for (e = p; *e && *e != '\n' && *e != '\r'; e++)
        ;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
        e--;
    size_t n = (size_t)(e - p);
    if (n < 16 || n > TOKEN_MAX) {
        free(buf);
        return hub_error_set(err, CSPH_ERR_CONFIG, "metrics.token_file",
                             "metrics.token_file %s must hold a token of 16 to %d characters on "
                             "its first line (as from: openssl rand -hex 32)",
                             path, TOKEN_MAX);
    }
    memcpy(token, p, n);
    token[n] = 0;
    sodium_memzero(buf, len);
    free(buf);
    return CSPH_ERR_OK;
}

enum hub_err hub_httpd_check(const struct hub_metrics_config *m, struct hub_error *err)
{
    enum hub_err rc = CSPH_ERR_OK;
    char *cert = NULL, *key = NULL, token[TOKEN_MAX + 1];
    size_t len;
    if (!m->listen[0])
        return CSPH_ERR_OK;
    if (m->tls_cert[0] &&
        ((rc = slurp(m->tls_cert, "metrics.tls_cert", 0, &cert, &len, err)) ||
         (rc = slurp(m->tls_key, "metrics.tls_key", 1, &key, &len, err))))
        goto done;
    if (m->token_file[0])
        rc = read_token(m->token_file, token, err);
    sodium_memzero(token, sizeof token);
done:
    free(cert);
    if (key)
        sodium_memzero(key, strlen(key));
    free(key);
    return rc;
}

/* ---- serving ----------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"csphub\"");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static int authorised(struct hub_httpd *h, struct MHD_Connection *c)
{
    if (!h->token[0])
        return 1;
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    size_t tl = strlen(h->token);
    if (!a || strncmp(a, "Bearer ", 7) != 0 || strlen(a + 7) != tl)
        return 0;
    return sodium_memcmp(a + 7, h->token, tl) == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    struct hub_httpd *h = cls;
    (void)version;
    (void)upload;
    static const char text[] = "text/plain; charset=utf-8";
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, text, "GET only\n", 9);
    if (*upload_size)
        return reply(c, MHD_HTTP_BAD_REQUEST, text, "no body expected\n", 17);
    (void)con_cls;
    if (!authorised(h, c))
        return reply(c, MHD_HTTP_UNAUTHORIZED, text, "a bearer token is needed\n", 25);
    enum MHD_Result ret;
    pthread_mutex_lock(&h->mu);
    if (!strcmp(url, "/metrics")) {
        if (h->text)
            ret = reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", h->text,
                        h->len);
        else
            ret = reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, text, "starting\n", 9);
    } else if (!strcmp(url, "/health")) {
        char body[300];
        int n = snprintf(body, sizeof body, "%s\n", h->text ? h->why : "starting");
        ret = reply(c, h->text && h->writable ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, text,
                    body, (size_t)n);
    } else {
        ret = reply(c, MHD_HTTP_NOT_FOUND, text, "not found: /metrics or /health\n", 31);
    }
    pthread_mutex_unlock(&h->mu);
    return ret;
}

enum hub_err hub_httpd_new(struct hub_httpd **out, const struct hub_metrics_config *m,
                           struct hub_error *err)
{
    struct sockaddr_storage sa;
    socklen_t salen;
    int loopback;
    size_t len;
    enum hub_err rc;
    if (parse_listen(m->listen, &sa, &salen, &loopback))
        return hub_error_set(err, CSPH_ERR_CONFIG, "metrics.listen",
                             "metrics.listen '%s' must be ADDRESS:PORT", m->listen);
    struct hub_httpd *h = calloc(1, sizeof *h);
    if (!h)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    pthread_mutex_init(&h->mu, NULL);
    if (m->token_file[0] && (rc = read_token(m->token_file, h->token, err)))
        goto fail;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
    if (sa.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (m->tls_cert[0]) {
        if ((rc = slurp(m->tls_cert, "metrics.tls_cert", 0, &h->cert, &len, err)) ||
            (rc = slurp(m->tls_key, "metrics.tls_key", 1, &h->key, &len, err)))
            goto fail;
        flags |= MHD_USE_TLS;
    }
    uint16_t port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                                   : ((struct sockaddr_in *)&sa)->sin_port);
    /* A handful of scrapers at once; a slow client is cut after 10 s. */
    if (h->cert)
        h->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                                (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 16u,
                                MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_HTTPS_MEM_CERT,
                                h->cert, MHD_OPTION_HTTPS_MEM_KEY, h->key, MHD_OPTION_END);
    else
        h->d = MHD_start_daemon(flags, port, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR,
                                (struct sockaddr *)&sa, MHD_OPTION_CONNECTION_LIMIT, 16u,
                                MHD_OPTION_CONNECTION_TIMEOUT, 10u, MHD_OPTION_END);
    if (!h->d) {
        rc = hub_error_set(err, CSPH_ERR_CONFIG, "metrics.listen",
                           "cannot serve metrics on %s: %s (is another program on that port, "
                           "or the TLS certificate and key not a pair?)",
                           m->listen, strerror(errno ? errno : EADDRINUSE));
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    h->port = info ? info->port : port;
    LOG_INFO("hub", "metrics and health on %s://%s (port %u)%s", h->cert ? "https" : "http",
             m->listen, h->port, h->token[0] ? ", bearer token required" : "");
    *out = h;
    return CSPH_ERR_OK;
fail:
    hub_httpd_destroy(&h);
    return rc;
}

unsigned hub_httpd_port(const struct hub_httpd *h)
{
    return h->port;
}

void hub_httpd_publish(struct hub_httpd *h, char *text, size_t len, int writable,
                       const char *why)
{
    pthread_mutex_lock(&h->mu);
    free(h->text);
    h->text = text;
    h->len = len;
    h->writable = writable;
    snprintf(h->why, sizeof h->why, "%s", why);
    pthread_mutex_unlock(&h->mu);
}

void hub_httpd_destroy(struct hub_httpd **hp)
{
    if (!hp || !*hp)
        return;
    struct hub_httpd *h = *hp;
    if (h->d)
        MHD_stop_daemon(h->d);
    free(h->text);
    free(h->cert);
    if (h->key)
        sodium_memzero(h->key, strlen(h->key));
    free(h->key);
    sodium_memzero(h->token, sizeof h->token);
    pthread_mutex_destroy(&h->mu);
    free(h);
    *hp = NULL;
}
