/* suppress.h: small-number suppression of a report's figures (issue 16,
 * docs/reports.md "Suppression"), as pure functions over cells.
 *
 * A cell is one figure as a reader sees it: a count, a rate, nothing, or
 * hidden. Primary suppression hides a count from 1 to T - 1 ("<T");
 * secondary suppression hides more cells ("*") of a row until the hidden
 * ones cannot be worked out from the row's total. */
#ifndef CSPH_SUPPRESS_H
#define CSPH_SUPPRESS_H

#include <stdint.h>

enum hub_cell_kind {
    CSPH_CELL_NONE,       /* nothing to show (a rate without a denominator) */
    CSPH_CELL_INT,        /* a count */
    CSPH_CELL_REAL,       /* a rate, a median */
    CSPH_CELL_SUPPRESSED, /* a small count: "<T" */
    CSPH_CELL_HIDDEN,     /* hidden so that a small count cannot be worked out: "*" */
};

struct hub_cell {
    enum hub_cell_kind kind;
    double v; /* the value, kept when hidden (the caller never shows it) */
};

/* 1 when the reader may not see c's value. */
int hub_cell_hidden(const struct hub_cell *c);

/* A row of n counts (months) and their total: counts in 1..T-1 become
 * CSPH_CELL_SUPPRESSED; then, while the row's hidden months could be worked
 * out from a shown total (one hidden, or several summing under T), the
 * smallest shown month (the earliest of equals) becomes CSPH_CELL_HIDDEN,
 * or the total when no month is left. A zero is never suppressed (it says
 * nothing of anyone) but may be hidden. */
void hub_suppress_counts(struct hub_cell *row, int n, struct hub_cell *total, int64_t T);

#endif
