/* reporthtml.h: the partnership report (the `report` op's reply, as JSON:
 * PROTOCOL.md 7) laid out as HTML: one card per indicator with its chart
 * (SVG drawn here: no script, no library, nothing from the internet) and
 * its table, the provenance line, and the style of one A3 sheet.
 *
 * Two programs use it so that they show the same thing: `csphub report
 * --format html` (a whole self-contained page, the style inline) and the
 * console's report page (the body inside its own page, the style served as
 * /static/report.css because its Content-Security-Policy allows no inline
 * style). Everything the hub sent is escaped; the hub did the counting and
 * the suppression, this only draws. The same reply gives the same bytes. */
#ifndef CSPH_REPORTHTML_H
#define CSPH_REPORTHTML_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

/* The report's style sheet (CSS text, no <style> tags), every rule under
 * the .report class so that it sits inside another page's style. */
extern const char csph_report_css[];

/* A figure as text: an integer, a number with one decimal, "<5", "*", or
 * "" (nil). buf holds n bytes. */
void csph_report_cell_text(const json_t *v, char *buf, size_t n);
/* The indicator's target ("12" or a band "24-40"), or "". Returns buf. */
const char *csph_report_target_text(const json_t *ind, char *buf, size_t n);
/* The indicator's number under key (baseline, ...) as text, or "". */
const char *csph_report_opt_number(const json_t *ind, const char *key, char *buf, size_t n);

/* One indicator's chart: this period's months as bars, last year's as a
 * line of points, the target as a dashed line or the band as a strip.
 * Hidden figures are not drawn (their mark, "<5" or "*", is). */
void csph_report_svg_chart(FILE *out, const json_t *ind, const json_t *months);
/* The report inside <div class="report">: title, legend, the cards, the
 * suppression note and the provenance line (id="provenance"). */
void csph_report_html_body(FILE *out, const json_t *rep);
/* A whole HTML page: the body above with the style inline. */
void csph_report_html_page(FILE *out, const json_t *rep);

#endif
