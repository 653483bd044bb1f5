/* pagealert.h: one alert (/alert/ID): reason, rule, priority, due, every
 * evidence event, its decisions with who, when and note, a print layout;
 * and the decision form's POST (/alert/ID/decide) as the person. */
#ifndef CSPH_WEB_PAGEALERT_H
#define CSPH_WEB_PAGEALERT_H

#include "consolepriv.h"

enum MHD_Result web_page_alert(struct web_console *w, struct MHD_Connection *con,
                               const struct web_session *ss, unsigned long long id);
enum MHD_Result web_do_decide(struct web_console *w, struct MHD_Connection *con,
                              const struct web_session *ss, const struct req_state *st,
                              unsigned long long id);

#endif
