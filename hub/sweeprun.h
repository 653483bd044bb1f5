/* sweeprun.h: the retention sweep in the running hub (sweep.h): loads the
 * retention file (cfg->retention_file; reloaded on SIGHUP, a bad file
 * keeping the periods in force), warns at start of every class or panel
 * with no period, and runs passes on the hub's clock, each step between
 * batches through the core (begin, hub_sweep_apply, commit, then the
 * server's settle), paced so the sweep takes at most a sixth of the loop:
 * after a step that took d ms the next comes 5*d ms later.
 *
 * The server owns it and calls the hooks below from its loop thread. */
#ifndef CSPH_SWEEPRUN_H
#define CSPH_SWEEPRUN_H

#include <uv.h>

#include "err.h"
#include "ops.h"
#include "sweep.h"

struct hub_sweeprun;

/* settled(arg) runs after each committed step (the server's settle of a
 * batch). With no retention file (cfg "none") *out is NULL and nothing
 * runs. CSPH_ERR_CONFIG with file:line when the file is wrong. h is
 * borrowed and must outlive the run. */
enum hub_err hub_sweeprun_new(struct hub_sweeprun **out, uv_loop_t *loop, struct hub_ctx *h,
                              void (*settled)(void *arg), void *arg, struct hub_error *err);
/* SIGHUP: read the retention file again. */
void hub_sweeprun_reload(struct hub_sweeprun *run);
/* The hub's clock was moved (tests): a pass starts now. */
void hub_sweeprun_clock_changed(struct hub_sweeprun *run);
/* Close the timer (the loop then finishes); destroy after the loop. */
void hub_sweeprun_stop(struct hub_sweeprun *run);
void hub_sweeprun_destroy(struct hub_sweeprun **run);
/* What --check-config checks: the retention file against the schemas. */
enum hub_err hub_sweeprun_check(const struct hub_config *cfg, const struct hub_schemas *s,
                                struct hub_error *err);
/* Figures: the sweep's totals and the longest step's write transaction. */
const struct hub_sweep_stats *hub_sweeprun_stats(const struct hub_sweeprun *run);
uint64_t hub_sweeprun_max_txn_us(const struct hub_sweeprun *run);

#endif
