/* report.h: the partnership's report, computed from the log (docs/reports.md).
 *
 * A report is a pure function of the log up to a seq (as_of), the alerts
 * raised by those events and the indicator file: one pass over the alerts
 * (their panel, rule, key, deadline, and the seq of the event that raised
 * them) and one over the log up to as_of, in read transactions of their
 * own, so it may run on any thread and never holds the writer. Counting
 * bases (issue 16): events by the Europe/London month of their
 * occurred_at; alerts by the month of the event that raised them (the
 * highest seq of their evidence); decisions by received_at.
 *
 * Small numbers are suppressed here, in the hub, when asked (always for a
 * strategic reader): a count in 1..T-1 is "<T", and more cells are hidden
 * ("*") until no hidden cell can be worked out from a total; rates,
 * medians, changes, RAG and direction built on a hidden count are hidden.
 *
 * Knows no sockets: the caller packs the reply envelope. */
#ifndef CSPH_REPORT_H
#define CSPH_REPORT_H

#include <msgpack.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "indicators.h"

struct hub_store;
struct hub_queues;

/* The most months one report spans (and so the most buckets a row has). */
#define CSPH_REPORT_MONTHS_MAX 36
/* The most items one explanation lists (the reply says when it stopped). */
#define CSPH_REPORT_EXPLAIN_MAX 50000

struct hub_report_params {
    int from_y, from_m, from_d; /* first day, inclusive (London) */
    int to_y, to_m, to_d;       /* last day, inclusive */
    int area;                   /* index in the area list, -1: the whole partnership */
    uint64_t as_of;             /* the last seq counted */
    int suppress;               /* apply small-number suppression */
    int explain;                /* indicator index to explain, -1: the report */
    int explain_y, explain_m;   /* the month explained */
};

/* Check a period given as "YYYY-MM-DD" (or "YYYY-MM": the month's first
 * day for from, its last for to) and fill p's days. whole_months: refuse a
 * period that does not start on a month's first day and end on a month's
 * last (strategic readers). CSPH_ERR_BAD_REQUEST naming the field. */
enum hub_err hub_report_period(const char *from, size_t from_len, const char *to, size_t to_len,
                               int whole_months, struct hub_report_params *p,
                               struct hub_error *err);

/* Compute the report (or the explanation) as of p->as_of into out as
 * *npairs MessagePack key/value pairs (the caller wraps them in the reply
 * map). *returned is how many figures (or items explained) it holds, for
 * the access record. The store, queues, indicators and cfg are only read.
 * CSPH_ERR_BAD_REQUEST for an explanation the indicator cannot give;
 * CSPH_ERR_BUSY while the log is being reopened; CSPH_ERR_INTERNAL or
 * CSPH_ERR_NOMEM otherwise. */
enum hub_err hub_report_run(struct hub_store *st, struct hub_queues *q,
                            const struct hub_indicators *ind, const struct hub_config *cfg,
                            const struct hub_report_params *p, msgpack_sbuffer *out,
                            uint32_t *npairs, uint64_t *returned, struct hub_error *err);
/* CPU time (ns) the threads of the last hub_report_run on this thread
 * used, for the log and the benchmark. */
uint64_t hub_report_cpu_ns(void);

#endif
