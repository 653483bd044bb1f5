/* csphub-gen's random numbers: xoshiro256**, seeded by splitmix64. The
 * generator's bytes depend on every draw, so nothing here may change
 * without changing every seed's output. The draws sit in the header,
 * inline, because every event takes dozens of them and the parts that draw
 * them are in other files. */
#ifndef CSPH_BENCH_GEN_RNG_H
#define CSPH_BENCH_GEN_RNG_H

#include <stdint.h>

struct rng {
    uint64_t s[4];
};

static inline uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* One independent stream per phase, so that (say) the broken rows never
 * shift the scenarios drawn before them. */
void rng_seed(struct rng *r, uint64_t seed, uint64_t stream);

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rnext(struct rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n); n > 0. */
static inline uint32_t below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rnext(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static inline int between(struct rng *r, int lo, int hi)
{
    return lo + (int)below(r, (uint32_t)(hi - lo + 1));
}

static inline double unit(struct rng *r) { return (double)(rnext(r) >> 11) * 0x1.0p-53; }
static inline int chance(struct rng *r, double p) { return unit(r) < p; }

/* Index by weight: w[0..n), not all zero. */
static inline int weighted(struct rng *r, const unsigned *w, int n)
{
    unsigned total = 0;
    for (int i = 0; i < n; i++)
        total += w[i];
    unsigned x = below(r, total);
    for (int i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}
#define WEIGHTED(r, w) weighted(r, w, (int)(sizeof(w) / sizeof(w[0])))

/* A stateless hash: per-event print variants (milliseconds, map jitter,
 * which field a broken row breaks) that a resend must repeat exactly. */
static inline uint64_t mix(uint64_t x)
{
    return splitmix(&x);
}

#endif
