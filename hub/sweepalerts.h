/* sweepalerts.h: the alert walk of a retention sweep pass (sweep.h; issue
 * 17, point 1: periods "per panel for alerts and decisions").
 *
 * After its event walk, a pass walks the alerts in id order. An alert's
 * period is its panel's (hub_retention_alert_period: that of its
 * decisions), counted from its raised_at; with `after: last_activity`,
 * from the later of raised_at and the latest occurred_at of any event
 * naming a value of its key (the person index, read as the event walk
 * reads it: hub_sweep_person_active, hub_sweep_last_activity). `keep` and
 * `none` never expire; an alert whose key names a person under legal hold
 * (hold.h) is kept and counted as held; one whose key values and reason
 * are all markers already (an earlier expiry or an erasure) holds nothing
 * more to remove.
 *
 * As the event walk, in two parts: hub_sweepalerts_scan finds candidates
 * with a read transaction, outside a batch, within the step's budget;
 * hub_sweepalerts_apply checks one again inside the step's batch and
 * expires it (alertredact.h, hub_alert_expire_one) with the marker of the
 * step's dp.retention event. Knows no sockets. */
#ifndef CSPH_SWEEPALERTS_H
#define CSPH_SWEEPALERTS_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "ops.h"
#include "retention.h"

struct hub_sweep;

/* One scan of the alert walk. */
struct hub_sweepalerts_scan {
    uint64_t after;       /* in: look at alerts with id > after */
    uint64_t deadline_ns; /* in: stop by this uv_hrtime() */
    uint64_t *cand;       /* in: room for max candidates (ids, ascending) */
    size_t max;
    size_t n;             /* out: candidates found */
    uint64_t last;        /* out: the last alert id looked at (after when none) */
    uint64_t examined;    /* out: alerts looked at */
    int end;              /* out: 1 when no alert is left after last */
};

/* Part one, outside a batch: look from sc->after for alerts past their
 * period as of as_of_ms, until sc->max are found, the deadline passes or
 * the alerts end. cfg and r are borrowed. */
enum hub_err hub_sweepalerts_scan(struct hub_core *core, const struct hub_config *cfg,
                                  const struct hub_retention *r, int64_t as_of_ms,
                                  struct hub_sweepalerts_scan *sc, struct hub_error *err);

/* What became of a candidate inside the batch. */
enum hub_sweepalert_outcome {
    CSPH_SWEEPALERT_KEPT,    /* within its period after all, or nothing left to remove */
    CSPH_SWEEPALERT_HELD,    /* past its period, kept for a legal hold */
    CSPH_SWEEPALERT_EXPIRED  /* redacted with marker */
};
/* Part two, inside the caller's batch (h->core's): check alert id again
 * as the batch sees it and, when it has expired, expire it with marker
 * (hub_alert_expired_marker of the step's dp.retention seq). */
enum hub_err hub_sweepalerts_apply(struct hub_sweep *sw, struct hub_ctx *h,
                                   const struct hub_retention *r, int64_t as_of_ms, uint64_t id,
                                   const char *marker, enum hub_sweepalert_outcome *outcome,
                                   struct hub_error *err);

/* 1 when an alert's pairs (npairs, len bytes) hold anything a marker has
 * not replaced: a key value or the reason. */
int hub_sweepalerts_personal(const void *pairs, size_t len, int npairs);

/* The alert ids (ascending) as ranges, "3-7,9", into out (a NUL-terminated
 * string): what a dp.retention event lists in alert_ids. */
void hub_sweepalerts_ranges(const uint64_t *ids, size_t n, char *out, size_t cap);

#endif
