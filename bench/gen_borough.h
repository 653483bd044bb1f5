/* csphub-gen's borough: LSOAs with their codes and centroids, wards,
 * addresses (UPRNs), sites (blocks, parks, parades) and hotspots, all in
 * struct gen. Sized by g->nlsoa and g->npeople before it is built. */
#ifndef CSPH_BENCH_GEN_BOROUGH_H
#define CSPH_BENCH_GEN_BOROUGH_H

#include <stdint.h>

struct gen;
struct rng;

void build_borough(struct gen *g, struct rng *r);

/* A street location: each LSOA has a lognormal weight (some places are
 * simply busier) and the hotspots several times more. */
uint32_t street_lsoa(const struct gen *g, struct rng *r);

#endif
