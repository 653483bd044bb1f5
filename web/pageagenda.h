/* pageagenda.h: the agenda of a panel's next meeting (/agenda?panel=P,
 * &meeting=YYYY-MM-DD for another date) from the hub's `agenda` op
 * (docs/panels.md), for the coordinator to print before the meeting; a
 * panel member may issue it into the log (POST /agenda/issue: the hub's
 * `agenda.issue`, a meeting.agenda event). */
#ifndef CSPH_WEB_PAGEAGENDA_H
#define CSPH_WEB_PAGEAGENDA_H

#include "consolepriv.h"

enum MHD_Result web_page_agenda(struct web_console *w, struct MHD_Connection *con,
                                const struct web_session *ss);
enum MHD_Result web_do_agenda_issue(struct web_console *w, struct MHD_Connection *con,
                                    const struct web_session *ss, const struct req_state *st);

#endif
