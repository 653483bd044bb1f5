#define _GNU_SOURCE
#include "html.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void html_init(struct html *h)
{
    memset(h, 0, sizeof *h);
}

void html_free(struct html *h)
{
    free(h->p);
    html_init(h);
}

static int grow(struct html *h, size_t more)
{
    if (h->oom)
        return -1;
    if (h->len + more + 1 <= h->cap)
        return 0;
    size_t cap = h->cap ? h->cap : 4096;
    while (cap < h->len + more + 1)
        cap *= 2;
    char *p = realloc(h->p, cap);
    if (!p) {
        h->oom = 1;
        return -1;
    }
    h->p = p;
    h->cap = cap;
    return 0;
}

static void put(struct html *h, const char *s, size_t n)
{
    if (grow(h, n))
        return;
    memcpy(h->p + h->len, s, n);
    h->len += n;
    h->p[h->len] = 0;
}

void html_raw(struct html *h, const char *s)
{
    put(h, s, strlen(s));
}

void html_printf(struct html *h, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0) {
        h->oom = 1;
        return;
    }
    put(h, s, (size_t)n);
    free(s);
}

void html_text(struct html *h, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': put(h, "&amp;", 5); break;
        case '<': put(h, "&lt;", 4); break;
        case '>': put(h, "&gt;", 4); break;
        case '"': put(h, "&quot;", 6); break;
        case '\'': put(h, "&#39;", 5); break;
        default: put(h, s, 1);
        }
    }
}

void html_url(struct html *h, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_' || c == '.' || c == '~') {
            put(h, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            put(h, e, 3);
        }
    }
}
