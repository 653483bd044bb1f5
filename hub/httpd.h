/* httpd.h: the hub's HTTP listener for Prometheus metrics (GET /metrics)
 * and a health check (GET /health: 200 when the hub takes writes, 503
 * otherwise), on libmicrohttpd from Debian.
 *
 * The listener runs in libmicrohttpd's own thread and serves only what the
 * loop last published (hub_httpd_publish): it never reads LMDB or the
 * hub's structures, so a scrape cannot slow or race a batch.
 *
 * Exposure: loopback by default. Any other address needs TLS (tls_cert,
 * tls_key) and a bearer token (token_file): metrics name panels and
 * consumers, and a health check is a way to probe the hub. With a token,
 * every request must carry "Authorization: Bearer TOKEN". */
#ifndef CSPH_HTTPD_H
#define CSPH_HTTPD_H

#include <stddef.h>

#include "config.h"
#include "err.h"
#include "yamlx.h"

struct hub_httpd;

/* config.c's hook: read the `metrics:` map of the hub config into m
 * (hub_metrics_config in config.h). file:line errors. */
enum hub_err hub_httpd_config_read(struct hub_yaml *y, yaml_node_t *map,
                                   struct hub_metrics_config *m, struct hub_error *err);
/* Cross-field checks (config validation): an address that parses, TLS and
 * a token for a non-loopback one, cert and key together. */
enum hub_err hub_httpd_config_validate(const struct hub_metrics_config *m, const char *where,
                                       struct hub_error *err);
/* What the start reads, without listening (--check-config): the cert and
 * key readable, the key and the token file not readable by other users,
 * the token not empty. */
enum hub_err hub_httpd_check(const struct hub_metrics_config *m, struct hub_error *err);

/* Listen as m says (m->listen must not be empty). CSPH_ERR_CONFIG naming
 * metrics.listen when the address cannot be bound. Until the first
 * publish, /health answers 503 "starting". */
enum hub_err hub_httpd_new(struct hub_httpd **out, const struct hub_metrics_config *m,
                           struct hub_error *err);
/* The port bound (useful with port 0). */
unsigned hub_httpd_port(const struct hub_httpd *h);
/* Replace what is served: text (malloc'd, ownership passes) as /metrics;
 * writable and why as /health. Any thread; the loop's in practice. */
void hub_httpd_publish(struct hub_httpd *h, char *text, size_t len, int writable,
                       const char *why);
/* Stop the listener (joins its thread) and free; accepts NULL. */
void hub_httpd_destroy(struct hub_httpd **h);

#endif
