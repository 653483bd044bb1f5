/* csphub-gen's delivery: when each event reaches the hub. The police send
 * in near real time, most agencies in a nightly extract (some nights fail
 * and arrive days later in one go), A&E weekly; some lines are sent twice.
 * The stream is in arrival order. */
#ifndef CSPH_BENCH_GEN_DELIVERY_H
#define CSPH_BENCH_GEN_DELIVERY_H

#include <stddef.h>
#include <stdint.h>

#include "vocab.h"

struct gen;
struct rng;

/* How each agency delivers (the vocabulary's source_name is its name). */
enum delivery { D_REALTIME, D_NIGHTLY, D_WEEKLY };
enum clockfmt { C_UTC, C_LOCAL, C_UTC_MS };
struct source_info {
    enum delivery mode;
    enum clockfmt clock;
    unsigned extract_min; /* the nightly extract lands at 02:00 UTC + this */
    const char *prefix;   /* the agency's own reference style */
};
extern const struct source_info src_info[S__N];

/* Plans the outages and sets every event's arrival; counts those more
 * than two days late (late) and the longest lag in seconds (latest). */
void deliver(struct gen *g, struct rng *r, size_t *late, uint32_t *latest);

/* Resends: ndup copies of events drawn from the first nvalid, each the
 * same line again seconds later (a client that timed out) or the next
 * night (an extract sent twice). g->ev must have room for them. */
void resend(struct gen *g, struct rng *r, size_t ndup, size_t nvalid);

/* The events in arrival order, within one nightly extract by time of
 * occurrence: pairs (key, event index), 2 * g->nev words. The caller
 * frees it. */
uint64_t *arrival_order(const struct gen *g);

#endif
