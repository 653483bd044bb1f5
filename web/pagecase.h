/* pagecase.h: a case's page and its forms (docs/panels.md, docs/console.md).
 *
 * GET /case?panel=P&key=K shows the case (status, risk, reviews, last
 * hearing, outcome), its alerts, actions and history (reviews, risk
 * changes, hearings, closure), and to a panel member of an open case the
 * forms: set an action, update one, record a hearing with attendance,
 * set the risk level, record a review, close with an outcome. Each form
 * posts to /case/DO (DO: action, update, hear, risk, review, close) with
 * the page's CSRF token; the hub's ops decide (as the signed-in person),
 * and a refusal comes back on the same page next to the field it names,
 * with what was typed kept. GET /actions lists the signed-in person's
 * actions: someone at an agency sees their agency's and their own, a
 * panel member those they own on their panels. */
#ifndef CSPH_WEB_PAGECASE_H
#define CSPH_WEB_PAGECASE_H

#include "consolepriv.h"

enum MHD_Result web_page_case(struct web_console *w, struct MHD_Connection *con,
                              const struct web_session *ss);
/* A form of the case page posted to /case/<what>. */
enum MHD_Result web_do_case(struct web_console *w, struct MHD_Connection *con,
                            const struct web_session *ss, const struct req_state *st,
                            const char *what);
enum MHD_Result web_page_actions(struct web_console *w, struct MHD_Connection *con,
                                 const struct web_session *ss);

#endif
