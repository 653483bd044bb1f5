/* metrics.h: a snapshot of the hub's numbers and its health, as plain
 * data, and its Prometheus text exposition (format 0.0.4).
 *
 * The loop thread builds a snapshot (hub_server_snapshot fills it from
 * the hub's structures) and renders it; the HTTP threads only ever see the
 * rendered text (httpd.h), never LMDB or the hub. So a scrape costs the
 * loop nothing and cannot race a batch.
 *
 * Samples of one metric must be added one after the other: the renderer
 * writes a metric's HELP and TYPE once, before its first sample. */
#ifndef CSPH_METRICS_H
#define CSPH_METRICS_H

#include <stddef.h>
#include <stdint.h>

enum hub_metric_kind { CSPH_METRIC_COUNTER, CSPH_METRIC_GAUGE };

/* Commit latency, in microseconds as measured, exposed in seconds. */
#define CSPH_HIST_BUCKETS 12
extern const double hub_hist_bounds_s[CSPH_HIST_BUCKETS];
struct hub_hist {
    uint64_t counts[CSPH_HIST_BUCKETS + 1]; /* per bucket (not cumulative); the last: +Inf */
    uint64_t count;
    uint64_t sum_us;
};
void hub_hist_observe(struct hub_hist *h, uint64_t us);

struct hub_sample {
    const char *name; /* static: csphub_... */
    const char *help; /* static */
    enum hub_metric_kind kind;
    const char *label[2];  /* static label names, NULL when absent */
    char value_of[2][96];  /* their values (escaped when rendered) */
    double value;
};

struct hub_snap {
    struct hub_sample *samples;
    size_t n, cap;
    int oom; /* a sample could not be added: rendered as a comment */
    struct hub_hist commit;
    int has_commit;
    /* Health: 1 when the hub can take writes now; why not, otherwise. */
    int writable;
    char why[256];
};

void hub_snap_init(struct hub_snap *s);
void hub_snap_free(struct hub_snap *s);
/* Add a sample; l1/l2 are a label name and value each (NULL: none). */
void hub_snap_add(struct hub_snap *s, const char *name, const char *help,
                  enum hub_metric_kind kind, double value, const char *l1, const char *v1,
                  const char *l2, const char *v2);
/* The Prometheus text of s, malloc'd and NUL-terminated (*len without the
 * NUL). Returns 0, or -1 out of memory. */
int hub_snap_render(const struct hub_snap *s, char **text, size_t *len);

#endif
