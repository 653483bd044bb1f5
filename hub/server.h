/* server.h: the hub itself: binds the ROUTER socket, reads requests in
 * batches, runs each write batch in one LMDB transaction (group commit),
 * replies only after the commit is synced, and answers reads from read
 * transactions. Everything runs on the loop thread.
 *
 * Lifecycle: hub_server_new binds and opens everything or fails with a
 * message an IT officer can act on; hub_server_stop begins a clean stop
 * (the batch in hand is always finished: batches run to completion inside
 * one callback); the loop returns once every handle is closed; then
 * hub_server_destroy. */
#ifndef CSPH_SERVER_H
#define CSPH_SERVER_H

#include <uv.h>

#include "clock.h"
#include "config.h"
#include "err.h"

struct hub_server;

/* cfg and clock are borrowed and must outlive the server. */
enum hub_err hub_server_new(struct hub_server **out, uv_loop_t *loop,
                            const struct hub_config *cfg, struct hub_clock *clock,
                            struct hub_error *err);
/* Stop reading, flush what can be sent, close handles. Idempotent. */
void hub_server_stop(struct hub_server *s);
/* What hub_server_new would refuse, without starting: schemas, rules,
 * in curve mode the hub's key file (its mode) and the identity file (its
 * mode, each public key file's), and whether the data directory is usable.
 * For csphubd --check-config; opens no log and binds nothing. */
enum hub_err hub_server_check(const struct hub_config *cfg, struct hub_error *err);
/* Metrics (the service's hook, issue 18): the hub's counters, commit
 * latency, alerts per panel (raised, open, overdue), the log and its map,
 * rejections by code and the health, added to snap; the queues' consumers
 * into g (the caller's array, g->max_consumers long). g NULL: no walk of
 * the queues (no open, overdue or consumer figures). Loop thread only. */
struct hub_snap;
struct hub_queue_gauges;
enum hub_err hub_server_snapshot(struct hub_server *s, struct hub_snap *snap,
                                 struct hub_queue_gauges *g, struct hub_error *err);
/* The clock was moved (tests): re-arm the deadline timer at once. */
void hub_server_clock_changed(struct hub_server *s);
/* Free and NULL *s; accepts NULL. Call after the loop has returned. */
void hub_server_destroy(struct hub_server **s);

#endif
