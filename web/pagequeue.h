/* pagequeue.h: a panel's queue (/queue?panel=...): open alerts by priority
 * and due date, overdue ones marked, filters and paging on the hub. */
#ifndef CSPH_WEB_PAGEQUEUE_H
#define CSPH_WEB_PAGEQUEUE_H

#include "consolepriv.h"

enum MHD_Result web_page_queue(struct web_console *w, struct MHD_Connection *con,
                               const struct web_session *ss);

#endif
