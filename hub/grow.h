/* grow.h: an array grown by doubling, for the buffers that fill with an
 * event's or a transaction's work (refbuf, rsbuf, the rule evaluator),
 * and given back when a round needs far less. */
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

/* Buffers that grew for a large round keep their room while rounds stay
 * about that size, and give it back after one that used less than an
 * eighth of it (the index now commits fewer events at a time; a rebuild's
 * catch-up is over), so that the hub's memory follows what it holds now
 * rather than the most it ever held. Room of 1 MiB or less is kept. */
#define HUB_GROW_KEEP_BYTES (1u << 20)

static inline int hub_grow_oversized(size_t room_bytes, size_t used_bytes)
{
    return room_bytes > HUB_GROW_KEEP_BYTES && used_bytes < room_bytes / 8;
}

/* Free *p and make it an empty array (*cap 0) that hub_grow fills again. */
static inline void hub_grow_release(void **p, size_t *cap)
{
    free(*p);
    *p = NULL;
    *cap = 0;
}

#endif
