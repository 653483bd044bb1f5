/* sarpack.h: a subject access export (the `sar` op's pages, PROTOCOL.md
 * 7.3) made into what the data protection officer works from:
 * - the review pack: everything the hub holds about the person, with the
 *   withholdings the hub proposes (code and reason) on each item and the
 *   placeholder each third party gets in the disclosure;
 * - the disclosure copy for the person: third parties' references replaced
 *   by stable placeholders ("third-party-1", the same person the same
 *   placeholder throughout), restricted panels' material (Channel, MAPPA)
 *   left out without a trace (no count, no gap, no panel name: neither
 *   confirm nor deny), legal holds' records left out, and readers shown by
 *   role and organisation, never by staff name or query.
 * Both as JSON and as a self-contained HTML page (style inline, no script,
 * nothing from the internet). Pure functions of the pages: the same
 * export gives the same bytes. */
#ifndef CSPH_SARPACK_H
#define CSPH_SARPACK_H

#include <jansson.h>
#include <stdio.h>

/* Append page (a `sar` reply) to *acc (NULL at first: created), keeping
 * request, person, counts and restricted_panels of the first page and
 * concatenating events, alerts and reads. 0, or -1 when page is not a sar
 * reply. */
int csph_sar_merge(json_t **acc, const json_t *page);

/* The review pack of a merged export (new reference): kind "review",
 * request, person, generated_at (given), counts, restricted_panels,
 * third_parties [{ref, placeholder}], events, alerts, reads as the hub
 * sent them (each with its withhold list). */
json_t *csph_sar_review(const json_t *merged, const char *generated_at);

/* The disclosure copy (new reference): kind "disclosure", person,
 * generated_at, events [{seq, received_at, type, event}], alerts [{id,
 * panel, rule, priority, key, reason, raised_at, status, decisions:
 * [{at, status, note?}]}], reads [{at, role, organisation, op, events,
 * alerts}], with the withholdings applied. */
json_t *csph_sar_disclosure(const json_t *merged, const char *generated_at);

/* A pack (review or disclosure) as one HTML page on out. */
void csph_sar_html(FILE *out, const json_t *pack);

#endif
