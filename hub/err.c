#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const err_names[] = {
#define CSPH_ERR_NAME(name, code, msg) code,
    CSPH_ERR_MAP(CSPH_ERR_NAME)
#undef CSPH_ERR_NAME
};

static const char *const err_messages[] = {
#define CSPH_ERR_MSG(name, code, msg) msg,
    CSPH_ERR_MAP(CSPH_ERR_MSG)
#undef CSPH_ERR_MSG
};

const char *hub_err_name(enum hub_err e)
{
    if ((unsigned)e >= CSPH_ERR__COUNT)
        return "internal";
    return err_names[e];
}

const char *hub_err_message(enum hub_err e)
{
    if ((unsigned)e >= CSPH_ERR__COUNT)
        return "unknown error";
    return err_messages[e];
}

_Static_assert((int)CSPH_ERR_INTERNAL == (int)CSPH_CODE_INTERNAL &&
                   (int)CSPH_ERR_BUSY == (int)CSPH_CODE_BUSY &&
                   (int)CSPH_ERR_CONFLICT == (int)CSPH_CODE_CONFLICT,
               "the wire codes are the first of the hub's");

int hub_err_is_wire(enum hub_err e)
{
    int i = (int)e;
    return i > (int)CSPH_ERR_OK && i < (int)CSPH_CODE__COUNT;
}

enum hub_err hub_error_set(struct hub_error *e, enum hub_err code,
                           const char *field, const char *fmt, ...)
{
    if (!e)
        return code;
    e->code = code;
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return code;
}

void hub_error_prefix_field(struct hub_error *e, const char *prefix)
{
    char buf[sizeof e->field];
    size_t n = strlen(prefix);
    if (n >= sizeof buf)
        n = sizeof buf - 1;
    memcpy(buf, prefix, n);
    if (e->field[0] && n + 1 < sizeof buf) {
        buf[n++] = '.';
        size_t m = strlen(e->field);
        if (m > sizeof buf - 1 - n)
            m = sizeof buf - 1 - n;
        memcpy(buf + n, e->field, m);
        n += m;
    }
    buf[n] = 0;
    memcpy(e->field, buf, sizeof buf);
}
