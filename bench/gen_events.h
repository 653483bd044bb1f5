/* csphub-gen's event constructors: one planned event (struct ev) of each
 * type, with the fields each agency fills in. Each returns the event, or
 * NULL when its time falls outside the year (UINT32_MAX from at()) or the
 * events the phase may use are all taken (g->nvalid): callers skip what
 * they would have added to it. People are passed as index + 1. */
#ifndef CSPH_BENCH_GEN_EVENTS_H
#define CSPH_BENCH_GEN_EVENTS_H

#include <stdint.h>

#include "vocab.h"

struct ev;
struct gen;
struct rng;

/* A bare event of type t from s at occ (seconds after --start). */
struct ev *emit(struct gen *g, enum type t, enum source s, uint32_t occ);

/* Where it happened: person p's home (p an index), an LSOA's street, a site. */
void loc_home(const struct gen *g, struct ev *e, uint32_t p);
void loc_street(struct ev *e, uint32_t lsoa);
void loc_site(struct ev *e, uint32_t site);

/* The risk level a DASH score gives. */
uint8_t risk_of(int dash);

struct ev *asb(struct gen *g, struct rng *r, enum source s, uint32_t occ, uint32_t victim,
               int cat, int vulnerable, int hate);
struct ev *call(struct gen *g, enum source s, uint32_t occ, uint32_t caller, int cat);
struct ev *case_update(struct gen *g, uint32_t occ, uint32_t subject, enum panel p, int status,
                       int risk);
struct ev *referral(struct gen *g, enum source s, uint32_t occ, uint32_t subject, enum panel p);
struct ev *concern(struct gen *g, struct rng *r, enum source s, uint32_t occ, uint32_t subject,
                   int kind);
struct ev *arrest(struct gen *g, struct rng *r, uint32_t occ, uint32_t subject, int offence,
                  uint32_t lsoa);

/* Person p1's age at occ in share pct of the records, else ABSENT (also
 * for no person). */
uint8_t age_or_absent(struct gen *g, uint32_t p1, uint32_t occ, struct rng *r, double pct);

/* Who an ASB report goes to: the police, the council or the landlord. */
enum source asb_source(struct rng *r);

#endif
