/* pagereport.h: the partnership report (/report?from=YYYY-MM&to=YYYY-MM
 * &area=NAME), computed by the hub (the `report` op, asked as the signed-in
 * person: the hub decides who may, and through the console it is always
 * suppressed) and drawn by the same library as `csphub report --format
 * html` (common/reporthtml.h): the same figures, charts and A3 print
 * layout, with a form to choose the period and the area. */
#ifndef CSPH_WEB_PAGEREPORT_H
#define CSPH_WEB_PAGEREPORT_H

#include <time.h>

#include "consolepriv.h"

enum MHD_Result web_page_report(struct web_console *w, struct MHD_Connection *con,
                                const struct web_session *ss);
/* The period shown when none is asked: the twelve whole months before the
 * month of now ("YYYY-MM" each, 8 bytes). */
void web_report_default_period(time_t now, char from[8], char to[8]);
/* Whether s is a month "YYYY-MM" (01-12). */
int web_report_month_ok(const char *s);

#endif
