/* Percentiles (nearest rank), ratios and the rows and JSON pieces every mode
 * prints. Printing goes to stdout unless a FILE is given. */
#ifndef CSPH_BENCH_FIGURES_H
#define CSPH_BENCH_FIGURES_H

#include <stdint.h>
#include <stdio.h>
#include "publish.h"

/* qsort comparators. */
int cmp_i64(const void *a, const void *b);

int cmp_double(const void *a, const void *b);

/* Nearest-rank percentile of a sorted array. */
double pct_ms(const int64_t *v, uint64_t n, double p);

/* Percentiles in ms of a set of nanosecond durations. */
struct pctl {
    uint64_t n;
    double p50, p99, p999, max, min;
};

/* Sorts v. */
struct pctl pctl_of(int64_t *v, uint64_t n);

void json_pctl(const char *name, const struct pctl *p);

/* The default run's row: events/s, req/s, p50, p99, p99.9, max. */
void print_phase_row(const char *label, const struct phase_result *r);

static inline double ratio(double a, double b) { return b > 0 ? a / b : 0; }

/* "name":{events_per_s, ..., latency_ms:{...}} */
void json_phase(FILE *f, const char *name, const struct phase_result *r);

/* YYYY-MM-DD (UTC) of ms since the epoch. */
void fmt_date(int64_t ms, char *out, size_t outsz);

static inline double mib(uint64_t b) { return (double)b / 1048576.0; }

/* s as a JSON string, to stdout. */
void json_str(const char *s);

#endif
