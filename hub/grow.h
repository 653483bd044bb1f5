/* grow.h: an array grown by doubling, for the buffers that fill with an
 * event's or a transaction's work (refbuf, rsbuf, the rule evaluator). */
#ifndef CSPH_GROW_H
#define CSPH_GROW_H

#include <stdint.h>
#include <stdlib.h>

/* Make *p (of *cap elements of unit bytes) hold at least need elements:
 * first when empty, doubled until enough. 0, or -1 when memory runs out or
 * the size would overflow (*p and *cap unchanged). */
static inline int hub_grow(void **p, size_t *cap, size_t need, size_t unit, size_t first)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : first;
    while (c < need) {
        if (c > SIZE_MAX / 2 / unit)
            return -1;
        c *= 2;
    }
    void *q = realloc(*p, c * unit);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

#endif
