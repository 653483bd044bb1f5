#include "utf8.h"

#include <string.h>

/* Length of the valid UTF-8 sequence at p[0..len), or 0 when it breaks. */
static size_t seq_len(const unsigned char *p, size_t len)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned cp;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (len <= n)
        return 0;
    for (size_t k = 1; k <= n; k++) {
        if ((p[k] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[k] & 0x3f);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n + 1;
}

size_t hub_utf8_bad_at(const void *vp, size_t len)
{
    const unsigned char *p = vp;
    size_t i = 0;
    while (i < len) {
        size_t n = seq_len(p + i, len - i);
        if (!n)
            return i;
        i += n;
    }
    return len;
}

size_t hub_utf8_repair(const void *vp, size_t len, char *out, size_t cap)
{
    static const char fffd[] = "\xef\xbf\xbd";
    const unsigned char *p = vp;
    size_t i = 0, o = 0;
    while (i < len) {
        size_t n = seq_len(p + i, len - i);
        const void *src = n ? (const void *)(p + i) : fffd;
        size_t w = n ? n : 3;
        if (o + w > cap)
            break;
        memcpy(out + o, src, w);
        o += w;
        i += n ? n : 1;
    }
    return o;
}
