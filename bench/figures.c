/* Percentiles, ratios and the rows and JSON pieces every mode prints: see
 * figures.h. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "figures.h"
#include "publish.h"

int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double pct_ms(const int64_t *v, uint64_t n, double p)
{
    if (!n)
        return 0;
    uint64_t k = (uint64_t)ceil(p * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1e6;
}

struct pctl pctl_of(int64_t *v, uint64_t n)
{
    struct pctl p = {.n = n};
    qsort(v, n, sizeof *v, cmp_i64);
    p.p50 = pct_ms(v, n, 0.50);
    p.p99 = pct_ms(v, n, 0.99);
    p.p999 = pct_ms(v, n, 0.999);
    p.max = n ? (double)v[n - 1] / 1e6 : 0;
    p.min = n ? (double)v[0] / 1e6 : 0;
    return p;
}

void json_pctl(const char *name, const struct pctl *p)
{
    printf("\"%s\":{\"n\":%" PRIu64 ",\"p50\":%.3f,\"p99\":%.3f,\"p99_9\":%.3f,\"max\":%.3f,"
           "\"min\":%.3f}",
           name, p->n, p->p50, p->p99, p->p999, p->max, p->min);
}

void print_phase_row(const char *label, const struct phase_result *r)
{
    printf("  %-34s %10.0f %10.0f %9.3f %9.3f %9.3f %9.3f\n", label, r->events_per_s,
           r->requests_per_s, r->p50_ms, r->p99_ms, r->p999_ms, r->max_ms);
}

void json_phase(FILE *f, const char *name, const struct phase_result *r)
{
    fprintf(f,
            "\"%s\":{\"events_per_s\":%.1f,\"requests_per_s\":%.1f,\"accepted\":%" PRIu64
            ",\"duplicate\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"requests\":%" PRIu64
            ",\"elapsed_s\":%.3f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
            "\"p99_9\":%.3f,\"max\":%.3f,\"mean\":%.3f}}",
            name, r->events_per_s, r->requests_per_s, r->accepted, r->duplicate, r->failed,
            r->requests, r->elapsed_s, r->p50_ms, r->p90_ms, r->p99_ms, r->p999_ms, r->max_ms,
            r->mean_ms);
}

void fmt_date(int64_t ms, char *out, size_t outsz)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%Y-%m-%d", &tm);
}

void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}
