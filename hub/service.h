/* service.h: what running as a service adds around the hub, on the loop
 * thread: systemd's READY=1 once the hub listens and its watchdog pinged
 * from the loop (sdnotify.h); a snapshot of the hub's numbers every
 * metrics.interval_ms, published to the HTTP listener (httpd.h) and to
 * systemd's STATUS line; a warning in the log well before the log's map is
 * full.
 *
 * Lifecycle, in csphubd's main():
 *   hub_service_new      before the hub starts (binds the metrics port,
 *                         so a port in use fails the start early)
 *   hub_service_ready    once hub_server_new succeeded
 *   uv_run                the service's timers do not keep the loop alive
 *   hub_service_destroy  after uv_run returned, before the server's
 *                         destroy (it closes its timers and runs the loop
 *                         until they are closed). */
#ifndef CSPH_SERVICE_H
#define CSPH_SERVICE_H

#include <uv.h>

#include "config.h"
#include "err.h"
#include "server.h"

struct hub_service;

/* loop and cfg are borrowed and outlive the service. */
enum hub_err hub_service_new(struct hub_service **out, uv_loop_t *loop,
                             const struct hub_config *cfg, struct hub_error *err);
/* The hub listens: notify systemd, start the watchdog and the snapshots. */
void hub_service_ready(struct hub_service *svc, struct hub_server *srv);
/* What --check-config adds for the service: the metrics files. */
enum hub_err hub_service_check(const struct hub_config *cfg, struct hub_error *err);
/* Accepts NULL. */
void hub_service_destroy(struct hub_service **svc);

/* The map's fill levels that log a WARN (percent), rising. */
#define CSPH_MAP_WARN_LEVELS {80, 90, 95}
/* The highest level of CSPH_MAP_WARN_LEVELS that used/map reaches (0:
 * none): pure, for the tests. */
int hub_service_map_level(uint64_t used, uint64_t map);

#endif
