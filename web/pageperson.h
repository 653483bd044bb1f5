/* pageperson.h: a person's case view (/person/REF): the alerts on the
 * signed-in person's panels keyed on that reference and the events that
 * are their evidence, from the hub's person index, a page at a time. */
#ifndef CSPH_WEB_PAGEPERSON_H
#define CSPH_WEB_PAGEPERSON_H

#include "consolepriv.h"

enum MHD_Result web_page_person(struct web_console *w, struct MHD_Connection *con,
                                const struct web_session *ss, const char *ref);

#endif
