/* whatif.h: a candidate rule file over the whole log, before a reload.
 *
 * `csphubd --what-if RULES.yaml --data DIR` opens DIR read-only (a running
 * hub's directory works: LMDB gives a read snapshot; nothing in DIR
 * changes), replays its log from seq 1 through the candidate rules into a
 * temporary directory (mkdtemp under $TMPDIR, removed at the end) exactly as
 * --rederive does, and compares the hub's alerts with the candidate's.
 *
 * Decisions carry over: an alert.status event names an alert of the hub;
 * the candidate's alert with the same rule, panel, key and anchor (highest
 * seq in its evidence) takes the decision instead, and a decision on an
 * alert the candidate does not raise decides nothing (the event is still
 * replayed, naming no alert, so that every later event keeps its seq).
 * timer.fired events are replayed as they are: the candidate's own
 * deadlines do not fire in a what-if (their escalations are the hub's).
 *
 * The hub's alerts that rest on redacted records (an erasure's or a
 * sweep's: kept, alertredact.h) are left out of the comparison, with the
 * candidate's alerts on the same rule, panel and anchor, and counted.
 *
 * Alerts are matched by (rule, panel, key, anchor) (alertdiff.h): the
 * report gives, per rule and panel, the alerts added, removed and changed
 * (priority or evidence) with up to 3 examples each. */
#ifndef CSPH_WHATIF_H
#define CSPH_WHATIF_H

#include <stdio.h>

#include <jansson.h>

#include "config.h"
#include "redacted.h"
#include "rules.h"

/* Run rules_path over the log in cfg->data_dir (cfg's schemas and panels).
 * The report goes to out (a table, or one JSON object when json); the time
 * taken and the peak memory to info. Returns 0 when the candidate raises
 * exactly the hub's alerts, 1 when they differ, 2 when it could not run
 * (the reason on stderr). */
int hub_whatif(const struct hub_config *cfg, const char *rules_path, int json, FILE *out,
               FILE *info);

/* The redacted records a replay met (redacted.h), in the table: the total
 * and, per rule of rules that takes their types, "N redacted records could
 * not be evaluated"; nothing when there were none. */
void hub_whatif_redacted_print(FILE *out, const struct hub_rules *rules,
                               const struct hub_redacted_count *c);
/* The same as JSON: {not_evaluated, types: {type: n}, rules: {rule: n}}. */
json_t *hub_whatif_redacted_json(const struct hub_rules *rules,
                                 const struct hub_redacted_count *c);

#endif
