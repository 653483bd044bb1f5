/* panelops.h: the handlers of the panel-work ops (ops.h's table;
 * docs/PROTOCOL.md 5.1-5.4). Reads answer from the case and action
 * indexes (cases.h, actions.h, meetings.h); writes check the request and
 * write one hub event in the batch (panelwork.h applies it), so every
 * change is in the log:
 *
 *   cases, case, actions, agenda              reads
 *   case.close, case.review, case.risk        -> case.update
 *   case.hear                                 -> case.heard
 *   action.create / action.update             -> action.created / action.updated
 *   agenda.issue                              -> meeting.agenda
 *
 * Bad input is refused with the field it names and nothing is written. */
#ifndef CSPH_PANELOPS_H
#define CSPH_PANELOPS_H

#include "ops.h"

/* 1 for the ops above: all scoped to a panel, so a gateway (the console)
 * may make them for a person (PROTOCOL.md 8.1). */
int hub_panelops_delegable(enum hub_op op);

enum hub_err hub_op_cases(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_case(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_actions(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_agenda(struct hub_ctx *h, struct hub_req *q);

enum hub_err hub_op_case_close(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_case_review(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_case_risk(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_case_hear(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_action_create(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_action_update(struct hub_ctx *h, struct hub_req *q);
enum hub_err hub_op_agenda_issue(struct hub_ctx *h, struct hub_req *q);

#endif
