/* csphub-gen's background: one-off contacts of every type in realistic
 * proportions, people drawn from the background pools, days by season. */
#ifndef CSPH_BENCH_GEN_BACKGROUND_H
#define CSPH_BENCH_GEN_BACKGROUND_H

#include <stddef.h>

struct gen;
struct rng;

/* One background event, or none when its time fell outside the year. */
void background(struct gen *g, struct rng *r);

/* nbroken more background events, each marked with one defect (ev.broken,
 * enum defect) for the writer to break. */
void broken_rows(struct gen *g, struct rng *r, size_t nbroken);

#endif
