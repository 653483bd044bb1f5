/* render.h: alerts and events as HTML, shared by the queue, alert and
 * person pages. Every value from the hub is escaped. */
#ifndef CSPH_WEB_RENDER_H
#define CSPH_WEB_RENDER_H

#include <jansson.h>
#include <stddef.h>

#include "html.h"

/* "2026-12-05T12:35:00.000Z" as "2026-12-05 12:35 UTC" ("-" for NULL). */
void web_fmt_time(const char *rfc, char *out, size_t n);
/* Whether an open alert's due time has passed (on the console's clock). */
int web_overdue(const json_t *a);
/* An event's fields as "name value" items, nested maps dotted; the
 * envelope (id, type, source, occurred_at) is left to its own columns. */
void web_fields(struct html *h, const json_t *o, const char *prefix);
/* The first of a comma-separated list, into buf. */
const char *web_first_panel(const char *panels, char *buf, size_t n);
/* A labelled <select> with "any" and values, cur selected. */
void web_select_opt(struct html *h, const char *name, const char *label,
                    const char *const *values, size_t nv, const char *cur);
/* Whether s is a person reference (PROTOCOL.md 3: 1-64 of A-Z a-z 0-9 . _
 * : -), so a link to its person page leads somewhere: a key value or a case
 * an erasure, a restriction or the retention sweep replaced ("[erased by
 * seq N]") is shown as text, without one. */
int web_is_ref(const char *s);
/* A table of events ({seq, event} items). */
void web_event_rows(struct html *h, const json_t *events);

#endif
