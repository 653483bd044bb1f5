/* bekey.h: numbers in LMDB keys, big-endian so that keys sort as the
 * numbers do, and the (time, seq) point that orders the rule state's
 * series and the person index: a signed time with its sign bit flipped,
 * then the seq. Shared by the stores; nothing here knows LMDB. */
#ifndef CSPH_BEKEY_H
#define CSPH_BEKEY_H

#include <stdint.h>

static inline void hub_put_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

static inline uint64_t hub_get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* 16 bytes at p: t then seq, sorting as (t, seq) do. */
static inline void hub_put_point(unsigned char *p, int64_t t, uint64_t seq)
{
    hub_put_be64(p, (uint64_t)t ^ (1ull << 63));
    hub_put_be64(p + 8, seq);
}

static inline void hub_get_point(const unsigned char *p, int64_t *t, uint64_t *seq)
{
    *t = (int64_t)(hub_get_be64(p) ^ (1ull << 63));
    *seq = hub_get_be64(p + 8);
}

#endif
