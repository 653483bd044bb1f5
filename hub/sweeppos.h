/* sweeppos.h: where the retention sweep's pass is (sweep.h), kept in
 * data.mdb so that a restart resumes it instead of walking the log from
 * seq 1 again (issue 17, point 1).
 *
 * One record, in database dp.sweep under the key "position": the next seq
 * the pass looks at (and, once its event walk is done, the next alert id
 * its alert walk looks at), the hub clock it measures against (as_of) and began
 * at, whether it is still going, and the retention file (its SHA-256) it
 * runs under. It is written inside a batch, through the batch's redo
 * recorder (redo.h), in the same write transaction as the step it
 * describes: a kill -9 or a power cut leaves the step and its position
 * together, whole or absent, and recovery from the journal makes both
 * again. When to resume and when to begin a new pass is sweep.h's.
 *
 * Knows no clock and no sockets. */
#ifndef CSPH_SWEEPPOS_H
#define CSPH_SWEEPPOS_H

#include <stdint.h>

#include "err.h"
#include "store.h"

#define CSPH_SWEEP_POS_DB "dp.sweep"

struct hub_sweep_pos {
    uint64_t next;    /* the next seq the pass looks at */
    int64_t as_of_ms; /* the hub clock the pass measures periods against */
    int64_t began_ms; /* the hub clock it began at (the next pass: began + every) */
    int active;       /* 0: the pass reached the log's end */
    char policy[65];  /* the retention file's SHA-256 (64 hex) it runs under */
    int alerts;       /* 1: the event walk is done, the alert walk under way */
    uint64_t next_alert; /* the next alert id the alert walk looks at */
};

/* The saved position into *p: 1; 0 when none is saved (a hub that never
 * swept, or one from before this version); -1 when the record cannot be
 * read (another version's, or a damaged one: the caller begins a new
 * pass). Outside a batch, with a read transaction of its own. */
int hub_sweeppos_load(struct hub_store *st, struct hub_sweep_pos *p);

/* Save p inside the open batch (st's write transaction), through the
 * batch's redo recorder. CSPH_ERR_BUSY when the map is full,
 * CSPH_ERR_INTERNAL otherwise. */
enum hub_err hub_sweeppos_save(struct hub_store *st, const struct hub_sweep_pos *p,
                               struct hub_error *err);

#endif
