/* rederive.h: the auditor's proof that alerts follow from the log. Replays
 * a hub's log from seq 1 through the configured rules into a fresh data
 * directory and compares every alert (id, panel, rule, version, priority,
 * key, reason, evidence, raised_at, due_at, status) with the hub's. */
#ifndef CSPH_REDERIVE_H
#define CSPH_REDERIVE_H

#include <stdio.h>

#include "config.h"

/* Re-derive from_dir's log into cfg->data_dir (which must hold no events)
 * with cfg's schemas, panels and rules; report on out. Returns 0 when
 * every alert is identical, 1 when they differ, 2 when it could not run. */
int csph_rederive(const struct csph_config *cfg, const char *from_dir, FILE *out);

#endif
