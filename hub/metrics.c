/* metrics.c: snapshots and their Prometheus text (metrics.h). */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* From half a millisecond (a commit that found the page cache warm) to
 * 2.5 s (a disk in trouble): where an alert on fsync latency would sit. */
const double hub_hist_bounds_s[CSPH_HIST_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                     0.05,   0.1,   0.25,   0.5,   1.0,  2.5};

void hub_hist_observe(struct hub_hist *h, uint64_t us)
{
    int b = 0;
    while (b < CSPH_HIST_BUCKETS && (double)us > hub_hist_bounds_s[b] * 1e6)
        b++;
    h->counts[b]++;
    h->count++;
    h->sum_us += us;
}

void hub_snap_init(struct hub_snap *s)
{
    memset(s, 0, sizeof *s);
}

void hub_snap_free(struct hub_snap *s)
{
    free(s->samples);
    hub_snap_init(s);
}

void hub_snap_add(struct hub_snap *s, const char *name, const char *help,
                  enum hub_metric_kind kind, double value, const char *l1, const char *v1,
                  const char *l2, const char *v2)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 128;
        struct hub_sample *p = realloc(s->samples, cap * sizeof *p);
        if (!p) {
            s->oom = 1;
            return;
        }
        s->samples = p;
        s->cap = cap;
    }
    struct hub_sample *x = &s->samples[s->n++];
    memset(x, 0, sizeof *x);
    x->name = name;
    x->help = help;
    x->kind = kind;
    x->value = value;
    x->label[0] = l1;
    x->label[1] = l2;
    if (l1)
        snprintf(x->value_of[0], sizeof x->value_of[0], "%s", v1 ? v1 : "");
    if (l2)
        snprintf(x->value_of[1], sizeof x->value_of[1], "%s", v2 ? v2 : "");
}

struct out {
    char *buf;
    size_t len, cap;
    int oom;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = o->oom ? 0 : vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
        va_end(ap);
        if (o->oom || n < 0)
            return;
        if ((size_t)n < o->cap - o->len) {
            o->len += (size_t)n;
            return;
        }
        size_t cap = (o->cap + (size_t)n + 1) * 2;
        char *b = realloc(o->buf, cap);
        if (!b) {
            o->oom = 1;
            return;
        }
        o->buf = b;
        o->cap = cap;
    }
}

/* A label value as the text format wants it: \\, \" and \n escaped. */
static void put_label(struct out *o, const char *name, const char *v)
{
    put(o, "%s=\"", name);
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            put(o, "\\%c", *v);
        else if (*v == '\n')
            put(o, "\\n");
        else
            put(o, "%c", *v);
    }
    put(o, "\"");
}

static void put_value(struct out *o, double v)
{
    /* Integers (every counter) exactly; the rest as %.17g round-trips. */
    if (v == (double)(int64_t)v && v < 9e15 && v > -9e15)
        put(o, "%lld", (long long)v);
    else
        put(o, "%.17g", v);
}

int hub_snap_render(const struct hub_snap *s, char **text, size_t *len)
{
    struct out o = {.cap = 4096};
    if (!(o.buf = malloc(o.cap)))
        return -1;
    o.buf[0] = 0;
    const char *last = NULL;
    for (size_t i = 0; i < s->n; i++) {
        const struct hub_sample *x = &s->samples[i];
        if (!last || strcmp(last, x->name)) {
            put(&o, "# HELP %s %s\n# TYPE %s %s\n", x->name, x->help, x->name,
                x->kind == CSPH_METRIC_COUNTER ? "counter" : "gauge");
            last = x->name;
        }
        put(&o, "%s", x->name);
        if (x->label[0]) {
            put(&o, "{");
            put_label(&o, x->label[0], x->value_of[0]);
            if (x->label[1]) {
                put(&o, ",");
                put_label(&o, x->label[1], x->value_of[1]);
            }
            put(&o, "}");
        }
        put(&o, " ");
        put_value(&o, x->value);
        put(&o, "\n");
    }
    if (s->has_commit) {
        const char *n = "csphub_commit_seconds";
        put(&o, "# HELP %s Time of each synced commit of a write batch (the log's fsync).\n"
                "# TYPE %s histogram\n", n, n);
        uint64_t cum = 0;
        for (int b = 0; b < CSPH_HIST_BUCKETS; b++) {
            cum += s->commit.counts[b];
            put(&o, "%s_bucket{le=\"%g\"} %llu\n", n, hub_hist_bounds_s[b],
                (unsigned long long)cum);
        }
        put(&o, "%s_bucket{le=\"+Inf\"} %llu\n", n, (unsigned long long)s->commit.count);
        put(&o, "%s_sum %.6f\n%s_count %llu\n", n, (double)s->commit.sum_us / 1e6, n,
            (unsigned long long)s->commit.count);
    }
    if (s->oom)
        put(&o, "# some samples were left out: the hub was out of memory\n");
    if (o.oom) {
        free(o.buf);
        return -1;
    }
    *text = o.buf;
    *len = o.len;
    return 0;
}
