/* live.h: new alerts on open queue pages without a reload. One held fetch
 * per panel (consumer csphub-web-live, a thread each, started on first
 * use) is fanned out to every open page of that panel as server-sent
 * events (/events?panel=NAME); an empty held fetch writes no audit.access,
 * and the pages get ids and priorities only. */
#ifndef CSPH_WEB_LIVE_H
#define CSPH_WEB_LIVE_H

#include "consolepriv.h"

enum MHD_Result web_page_events(struct web_console *w, struct MHD_Connection *con,
                                const struct web_session *ss);
/* Stop the panels' threads and free their rings (w->stopping is set). */
void web_live_stop(struct web_console *w);

#endif
