/* sar.h: subject access export (UK GDPR Art. 15, DPA 2018 s.45; issue 17,
 * point 5). The op `sar` (role dpo; anyone in security none, recording the
 * OS user like `erase`) answers everything the hub holds about a person,
 * for the data protection officer's review pack:
 * - events: every event naming them, through the person index (never a
 *   scan), with the fields that name other people (third parties);
 * - alerts: every alert keyed on them on any panel, in full (key, reason,
 *   evidence), with its decisions (alert.status events);
 * - reads: every audited read that returned one of those events or alerts
 *   (access.h: recorded at read time), with which of them it returned.
 * Each item carries the withholdings the hub proposes (code and reason);
 * the command (csphub sar, common/sarpack.h) writes the review pack and a
 * disclosure copy that applies them. Restricted panels' material (Channel,
 * MAPPA) is marked so that the disclosure leaves it out without a trace.
 *
 * The request is itself an event: dp.sar (who, role, why; never the
 * person), appended by the first call. A large export comes in pages:
 * later calls name the first's dp.sar seq in `request` and carry the
 * cursors the previous reply gave; they append nothing.
 *
 * A write (it appends), run in the batch; its reads of the log and the
 * index go through the batch's transactions, the alerts through the
 * queues' committed state (the server puts what the journal acknowledged
 * into LMDB before such a batch). Knows no sockets. */
#ifndef CSPH_SAR_H
#define CSPH_SAR_H

#include "ops.h"

#define CSPH_SAR_TYPE "dp.sar"

/* The op handler (ops.c). */
enum hub_err hub_op_sar(struct hub_ctx *h, struct hub_req *q);

/* Proposed withholdings, one code each (PROTOCOL.md 9.x). */
#define CSPH_SAR_RESTRICTED "restricted_panel" /* leave out, neither confirm nor deny */
#define CSPH_SAR_THIRD_PARTY "third_party"     /* others' references replaced */
#define CSPH_SAR_LEGAL_HOLD "legal_hold"       /* a statutory review's hold */
#define CSPH_SAR_STAFF "staff"                 /* staff names: shown by role */

#endif
