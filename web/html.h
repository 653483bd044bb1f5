/* html.h: building pages. A growable buffer with printf, and text escaped
 * for HTML (every value from the hub or a form goes through html_text or
 * html_attr: notes, reasons and references may hold markup). */
#ifndef CSPH_WEB_HTML_H
#define CSPH_WEB_HTML_H

#include <stddef.h>

struct html {
    char *p;
    size_t len, cap;
    int oom;
};

void html_init(struct html *h);
void html_free(struct html *h);
/* Append raw markup (the program's own, never data). */
void html_raw(struct html *h, const char *s);
void html_printf(struct html *h, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append s escaped for text and for a double-quoted attribute alike
 * (& < > " ' become entities). NULL appends nothing. */
void html_text(struct html *h, const char *s);
/* Append s percent-encoded for a URL's path segment or query value. */
void html_url(struct html *h, const char *s);

#endif
