/* service.h: what running as a service adds around the hub, on the loop
 * thread: systemd's READY=1 once the hub listens and its watchdog pinged
 * from the loop (sdnotify.h); a snapshot of the hub's numbers every
 * metrics.interval_ms, published to the HTTP listener (httpd.h) and to
 * systemd's STATUS line; a warning in the log well before the log's map is
 * full.
 *
 * Lifecycle, in csphubd's main():
 *   csph_service_new      before the hub starts (binds the metrics port,
 *                         so a port in use fails the start early)
 *   csph_service_ready    once csph_server_new succeeded
 *   uv_run                the service's timers do not keep the loop alive
 *   csph_service_destroy  after uv_run returned, before the server's
 *                         destroy (it closes its timers and runs the loop
 *                         until they are closed). */
#ifndef CSPH_SERVICE_H
#define CSPH_SERVICE_H

#include <uv.h>

#include "config.h"
#include "err.h"
#include "server.h"

struct csph_service;

/* loop and cfg are borrowed and outlive the service. */
enum csph_err csph_service_new(struct csph_service **out, uv_loop_t *loop,
                               const struct csph_config *cfg, struct csph_error *err);
/* The hub listens: notify systemd, start the watchdog and the snapshots. */
void csph_service_ready(struct csph_service *svc, struct csph_server *srv);
/* What --check-config adds for the service: the metrics files. */
enum csph_err csph_service_check(const struct csph_config *cfg, struct csph_error *err);
/* Accepts NULL. */
void csph_service_destroy(struct csph_service **svc);

/* The map's fill levels that log a WARN (percent), rising. */
#define CSPH_MAP_WARN_LEVELS {80, 90, 95}
/* The highest level of CSPH_MAP_WARN_LEVELS that used/map reaches (0:
 * none): pure, for the tests. */
int csph_service_map_level(uint64_t used, uint64_t map);

#endif
