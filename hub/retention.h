/* retention.h: retention periods as plain data (issue 17, point 1;
 * config/retention.yaml, docs/retention.md).
 *
 * Every event type names a retention class in its schema (schema.h,
 * hub_schemas_retention); the retention file gives each class a period,
 * and may override it per event type and, for events naming a panel (a
 * field of kind panel: decisions, cases, actions, meetings, referrals),
 * per panel. A period is a span counted from the event's occurred_at, or
 * from the last activity of the people it names (the person index), or
 * `keep` (the hub's own records) or `none` (no published period: kept,
 * warned at start). Kept rejections have a period of their own.
 *
 * Loaded once and checked against the schemas and the panels; the sweep
 * (sweep.h) reads it. Knows no storage. */
#ifndef CSPH_RETENTION_H
#define CSPH_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "schema.h"

enum hub_period_kind {
    CSPH_PERIOD_NONE, /* no published period: kept, warned at start */
    CSPH_PERIOD_KEEP, /* kept for good on purpose */
    CSPH_PERIOD_SPAN
};

struct hub_period {
    enum hub_period_kind kind;
    uint32_t n;    /* CSPH_PERIOD_SPAN: n units */
    char unit;     /* 'd', 'w', 'm' (calendar months) or 'y' (calendar years) */
    int after_activity; /* counted from the last activity of the people named */
    char text[24]; /* as written ("6y"), for messages */
};

struct hub_retention;

/* Load path, checked against the schemas s (every class they name must
 * have a period; types named must exist) and the panels of cfg. On failure
 * CSPH_ERR_CONFIG with "path:line: reason" naming the field; *out
 * untouched. The caller frees *out with hub_retention_destroy. */
enum hub_err hub_retention_load(struct hub_retention **out, const char *path,
                                const struct hub_schemas *s, const struct hub_config *cfg,
                                struct hub_error *err);
void hub_retention_destroy(struct hub_retention **r);

/* The period of an event of type type_index naming panel (an index into
 * cfg's panels, -1 when none): the panel's, else the type's, else its
 * class's. Borrowed from r. */
const struct hub_period *hub_retention_period(const struct hub_retention *r, int type_index,
                                              int panel);
/* The period of an alert on panel (an index into cfg's panels): that of
 * its decisions (alert.status naming the panel): the panel's entry in
 * `panels`, else alert.status's in `types`, else its class's (panel_work
 * as shipped), so an alert and its decisions leave together. Counted from
 * its raised_at (after: last_activity: from the later of raised_at and
 * the last activity of the people of its key). A panel no longer
 * configured: none (kept). Borrowed from r. */
const struct hub_period *hub_retention_alert_period(const struct hub_retention *r, int panel);
const struct hub_period *hub_retention_rejections(const struct hub_retention *r);
/* The sweep's settings: a pass every every_ms of the hub's clock; work of
 * at most step_ms in one write transaction. */
int64_t hub_retention_every_ms(const struct hub_retention *r);
uint32_t hub_retention_step_ms(const struct hub_retention *r);
/* The SHA-256 of the file's bytes (64 hex), recorded in each dp.retention
 * event; and the file's path. */
const char *hub_retention_digest(const struct hub_retention *r);
const char *hub_retention_path(const struct hub_retention *r);

/* What has no period (`none`): one line per class or panel into fn, for the
 * warning at start. Returns how many. */
typedef void (*hub_retention_warn_fn)(void *ctx, const char *what);
size_t hub_retention_unset(const struct hub_retention *r, hub_retention_warn_fn fn, void *ctx);

/* basis_ms + p (a span), in UTC calendar arithmetic for months and years
 * (29 Feb + 1y is 1 Mar). INT64_MAX when p is not a span. */
int64_t hub_period_end(const struct hub_period *p, int64_t basis_ms);
/* Parse a period ("3y", "18m", "90d", "2w", "keep", "none"): 0, or -1. */
int hub_period_parse(const char *text, struct hub_period *p);

#endif
