/* pagestatic.h: the console's own files (/static/NAME): its style and
 * script from the static directory, and the report's style sheet from the
 * report library (common/reporthtml.h); only names it ships, never a path
 * built from the request; cached an hour with an ETag. */
#ifndef CSPH_WEB_PAGESTATIC_H
#define CSPH_WEB_PAGESTATIC_H

#include "consolepriv.h"

enum MHD_Result web_page_static(struct web_console *w, struct MHD_Connection *con,
                                const char *name);

#endif
