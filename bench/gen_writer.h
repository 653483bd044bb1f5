/* csphub-gen's writer: each event as one CSPH/1 JSON line, the way its
 * agency writes it (its own reference style, clock and location fields),
 * and the broken rows with the one defect each was given. It prints with
 * its own buffer and digit writer, not printf: the feed runs to tens of
 * millions of lines. The same event index gives the same bytes, so that a
 * resend repeats its original exactly. */
#ifndef CSPH_BENCH_GEN_WRITER_H
#define CSPH_BENCH_GEN_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "genpriv.h"

/* The defects' names, for --stats. */
extern const char *const defect_name[B__N];

/* What was written: valid lines by type and source, broken ones by defect. */
struct tally {
    size_t by_type[T__N], by_src[S__N], broken_by[B__N];
};

/* Writes the events to f in the order of keys (arrival_order()), numbering
 * each source's events as they go out (ev.ref); adds to t. Dies when a
 * write fails. Does not close or flush f. */
void write_feed(struct gen *g, FILE *f, const uint64_t *keys, struct tally *t);

#endif
