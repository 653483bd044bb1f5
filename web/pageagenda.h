/* pageagenda.h: the agenda of a panel's next meeting (/agenda?panel=P,
 * &meeting=YYYY-MM-DD for another date), read only, from the hub's
 * `agenda` op (docs/panels.md), for the coordinator to print before the
 * meeting. */
#ifndef CSPH_WEB_PAGEAGENDA_H
#define CSPH_WEB_PAGEAGENDA_H

#include "consolepriv.h"

enum MHD_Result web_page_agenda(struct web_console *w, struct MHD_Connection *con,
                                const struct web_session *ss);

#endif
