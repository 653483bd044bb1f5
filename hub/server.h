/* server.h: the hub itself: binds the ROUTER socket, reads requests in
 * batches, runs each write batch in one LMDB transaction (group commit),
 * replies only after the commit is synced, and answers reads from read
 * transactions. Everything runs on the loop thread.
 *
 * Lifecycle: csph_server_new binds and opens everything or fails with a
 * message an IT officer can act on; csph_server_stop begins a clean stop
 * (the batch in hand is always finished: batches run to completion inside
 * one callback); the loop returns once every handle is closed; then
 * csph_server_destroy. */
#ifndef CSPH_SERVER_H
#define CSPH_SERVER_H

#include <uv.h>

#include "clock.h"
#include "config.h"
#include "err.h"

struct csph_server;

/* cfg and clock are borrowed and must outlive the server. */
enum csph_err csph_server_new(struct csph_server **out, uv_loop_t *loop,
                              const struct csph_config *cfg, struct csph_clock *clock,
                              struct csph_error *err);
/* Stop reading, flush what can be sent, close handles. Idempotent. */
void csph_server_stop(struct csph_server *s);
/* What csph_server_new would refuse, without starting: schemas, rules,
 * in curve mode the hub's key file (its mode) and the identity file (its
 * mode, each public key file's), and whether the data directory is usable.
 * For csphubd --check-config; opens no log and binds nothing. */
enum csph_err csph_server_check(const struct csph_config *cfg, struct csph_error *err);
/* Metrics (the service's hook, issue 18): the hub's counters, commit
 * latency, alerts per panel (raised, open, overdue), the log and its map,
 * rejections by code and the health, added to snap; the queues' consumers
 * into g (the caller's array, g->max_consumers long). g NULL: no walk of
 * the queues (no open, overdue or consumer figures). Loop thread only. */
struct csph_snap;
struct csph_queue_gauges;
enum csph_err csph_server_snapshot(struct csph_server *s, struct csph_snap *snap,
                                   struct csph_queue_gauges *g, struct csph_error *err);
/* The clock was moved (tests): re-arm the deadline timer at once. */
void csph_server_clock_changed(struct csph_server *s);
/* Free and NULL *s; accepts NULL. Call after the loop has returned. */
void csph_server_destroy(struct csph_server **s);

#endif
