/* csphub-gen's population: who the agencies know, when each was born and
 * where each lives. People are indexes into struct gen's arrays (events
 * carry index + 1, 0 for none). The scenarios take people reserved for
 * them (perm[0, reserved)); the background draws from a pool of children
 * and a pool of adults after them, so no background contact lands on a
 * planted case by chance. */
#ifndef CSPH_BENCH_GEN_PEOPLE_H
#define CSPH_BENCH_GEN_PEOPLE_H

#include <stdint.h>

struct gen;
struct rng;

/* Shuffles the people, gives each a home and an age. Needs the borough
 * (its addresses) and g->reserved. */
void build_people(struct gen *g, struct rng *r);

/* Person p's age in whole years at occ (seconds after --start). */
uint32_t age_at(const struct gen *g, uint32_t p, uint32_t occ);

/* Born so as to be `age` (plus a fraction) on the first day of the year. */
void set_age(struct gen *g, struct rng *r, uint32_t p, int age);

/* A person for a scenario: not in any background pool. */
uint32_t take(struct gen *g, struct rng *r, int age_lo, int age_hi);

/* A background adult. */
uint32_t adult(const struct gen *g, struct rng *r);

/* An adult, mostly no older than max_age: offenders and those involved in
 * domestic abuse and violence are younger than the population. */
uint32_t adult_upto(const struct gen *g, struct rng *r, uint32_t max_age);

/* A child aged at least min_age all year. */
uint32_t child(const struct gen *g, struct rng *r, int min_age);

#endif
