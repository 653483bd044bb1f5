/* csphub-gen: a seeded scenario generator. It writes a year of one borough's
 * multi-agency feed as CSPH/1 events in JSON lines, in the order the hub
 * would receive them: police in near real time, the council, housing,
 * schools and children's services in nightly extracts (some nights fail and
 * arrive days later in one go), A&E weekly. On top of a realistic background
 * it plants the cases each panel exists for: repeat ASB victims and callers,
 * escalating domestic abuse, youth knife crime, missing and exploited
 * children, repeat hate, Prevent concerns, prolific offenders, hotspots. It
 * adds resends (exact duplicate lines) and broken rows the hub must reject.
 *
 * Same seed and options, same bytes: nothing here reads the clock, the
 * environment or an address. It knows nothing of the hub's internals; the
 * events follow the schemas in schemas/ (PROTOCOL.md 3.2). See docs/demo.md.
 *
 * This file is the command line and the order of the phases; each phase is
 * a file of its own (gen_*.c, listed in genpriv.h). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gen_background.h"
#include "gen_borough.h"
#include "gen_delivery.h"
#include "gen_people.h"
#include "gen_scenarios.h"
#include "gen_writer.h"
#include "genpriv.h"
#include "timefmt.h" /* civil dates: the hub's own, so the two agree on every day */

void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("csphub-gen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: csphub-gen [--seed N] [--events N] [--start YYYY-MM-DD] [--borough-lsoas N]\n"
        "                  [--people N] [--broken-pct P] [--dup-pct P] [--output FILE] [--stats]\n"
        "\n"
        "Writes a year of one borough's multi-agency feed as CSPH/1 events, one JSON\n"
        "object a line, in the order a hub receives them: police in near real time,\n"
        "council, housing, schools, children's services, probation, youth justice and the\n"
        "IDVA service in nightly extracts (failed nights arrive days late, together),\n"
        "A&E weekly. Repeat ASB victims and callers, escalating domestic abuse, youth\n"
        "knife crime, missing and exploited children, repeat hate, Prevent concerns,\n"
        "prolific offenders and hotspots sit in a realistic background, so that every\n"
        "panel of config/rules.yaml gets cases. Publish the file with `csphub publish`.\n"
        "\n"
        "  --seed N            random seed (default 1); the same seed and options give\n"
        "                      byte-identical output\n"
        "  --events N          lines to write, resends and broken rows included\n"
        "                      (default 50000; from 1,000 to tens of millions)\n"
        "  --start DATE        first day of the year covered (default 2025-01-01)\n"
        "  --borough-lsoas N   LSOAs in the borough (default: events/250, 120 to 30000)\n"
        "  --people N          people the agencies know (default: events/4, at least 2000)\n"
        "  --broken-pct P      share of rows the hub must reject (default 1): unknown\n"
        "                      fields, bad enums, bad timestamps, bad person references,\n"
        "                      missing required fields, values out of range\n"
        "  --dup-pct P         share of rows that resend an earlier line exactly\n"
        "                      (default 3)\n"
        "  --output FILE       write there instead of standard output\n"
        "  --stats             print a summary to standard error: events by type and\n"
        "                      source, scenarios, late arrivals, resends, broken rows\n"
        "  -h, --help          this help\n");
}

static uint64_t parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
        die("%s wants a whole number from %" PRIu64 " to %" PRIu64 ", not '%s'", opt, lo, hi, s);
    return v;
}

static double parse_pct(const char *opt, const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= 0 && v <= 50))
        die("%s wants a percentage from 0 to 50, not '%s'", opt, s);
    return v;
}

static int64_t parse_date(const char *s)
{
    int y;
    unsigned m, d;
    char tail;
    if (sscanf(s, "%4d-%2u-%2u%c", &y, &m, &d, &tail) != 3 || y < 1990 || y > 2100 || m < 1 ||
        m > 12 || d < 1 || d > 31)
        die("--start wants a date YYYY-MM-DD, not '%s'", s);
    int64_t days = csph_days_from_civil(y, m, d);
    int y2;
    unsigned m2, d2;
    csph_civil_from_days(days, &y2, &m2, &d2);
    if (m2 != m || d2 != d)
        die("--start: %s is not a date", s);
    return days * DAY_S;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* What a run made, for --stats. */
struct summary {
    size_t total, nvalid, nscen, nbroken, ndup;
    size_t late;     /* more than two days after they occurred */
    uint32_t latest; /* the longest lag, seconds */
    struct tally tally;
    double t_gen, t_all; /* seconds generating; in all */
};

static void print_stats(const struct gen *g, const struct summary *u, FILE *s)
{
    int yy;
    unsigned mm, dd;
    csph_civil_from_days(g->cal.start_day, &yy, &mm, &dd);
    fprintf(s, "csphub-gen: seed %" PRIu64 ", %zu lines from %04d-%02u-%02u for 365 days, "
               "%u LSOAs (%u hotspots), %u people\n",
            g->o.seed, u->total, yy, mm, dd, g->nlsoa, g->nhot, g->npeople);
    fprintf(s, "  valid events  %10zu  (%zu from scenarios, %zu background)\n", u->nvalid,
            u->nscen, u->nvalid - u->nscen);
    for (int t = 0; t < T__N; t++)
        fprintf(s, "    %-20s %9zu\n", type_name[t], u->tally.by_type[t]);
    fprintf(s, "  by source\n");
    for (int t = 0; t < S__N; t++)
        fprintf(s, "    %-20s %9zu\n", source_name[t], u->tally.by_src[t]);
    fprintf(s, "  scenarios (instances, events)\n");
    for (int t = 0; t < SC__N; t++)
        fprintf(s, "    %-34s %6u %8zu\n", sc_info[t].name, g->scen_count[t], g->scen_events[t]);
    fprintf(s, "  textbook cases, one per scenario: each meets every threshold it is about\n");
    for (int t = 0; t < SC__N; t++) {
        if (!g->scen_count[t])
            continue;
        if (t == SC_ASB_LOCATION)
            fprintf(s, "    %-34s UPRN-%012" PRIu64 " (%s)\n", sc_info[t].name,
                    g->site_base + (uint64_t)g->textbook[t] * 17,
                    site_desc[g->textbook[t] % (sizeof site_desc / sizeof *site_desc)]);
        else if (t == SC_HOTSPOT)
            fprintf(s, "    %-34s LSOA E01%06u\n", sc_info[t].name, g->lsoa_code[g->textbook[t]]);
        else
            fprintf(s, "    %-34s P-%06u\n", sc_info[t].name, g->textbook[t]);
    }
    fprintf(s, "  late arrivals  %9zu  (more than 2 days after they occurred; latest %u days)\n",
            u->late, u->latest / DAY_S);
    fprintf(s, "  resends        %9zu  (%.2f%%: exact duplicate lines)\n", u->ndup,
            100.0 * (double)u->ndup / (double)u->total);
    fprintf(s, "  broken rows    %9zu  (%.2f%%: the hub must reject them)\n", u->nbroken,
            100.0 * (double)u->nbroken / (double)u->total);
    for (int b = 1; b < B__N; b++)
        fprintf(s, "    %-24s %7zu\n", defect_name[b], u->tally.broken_by[b]);
    fprintf(s, "  time           %.2f s (%.2f s generating), %.0f lines/s\n", u->t_all, u->t_gen,
            (double)u->total / (u->t_all > 0 ? u->t_all : 1e-9));
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"seed", required_argument, 0, 's'},       {"events", required_argument, 0, 'n'},
        {"start", required_argument, 0, 'S'},      {"borough-lsoas", required_argument, 0, 'L'},
        {"people", required_argument, 0, 'p'},     {"broken-pct", required_argument, 0, 'b'},
        {"dup-pct", required_argument, 0, 'd'},    {"output", required_argument, 0, 'o'},
        {"stats", no_argument, 0, 'T'},            {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct opts o = {.seed = 1, .events = 50000, .broken_pct = 1.0, .dup_pct = 3.0};
    o.start = csph_days_from_civil(2025, 1, 1) * DAY_S;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': o.seed = parse_u64("--seed", optarg, 0, UINT64_MAX); break;
        case 'n': o.events = parse_u64("--events", optarg, 1, 400000000); break;
        case 'S': o.start = parse_date(optarg); break;
        case 'L': o.lsoas = (uint32_t)parse_u64("--borough-lsoas", optarg, 1, 34000); break;
        case 'p': o.people = (uint32_t)parse_u64("--people", optarg, 100, 100000000); break;
        case 'b': o.broken_pct = parse_pct("--broken-pct", optarg); break;
        case 'd': o.dup_pct = parse_pct("--dup-pct", optarg); break;
        case 'o': o.output = optarg; break;
        case 'T': o.stats = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc)
        die("unexpected argument '%s' (see --help)", argv[optind]);

    double t0 = now_s();
    static struct gen g;
    g.o = o;
    calendar_init(&g.cal, o.start);
    g.nlsoa = o.lsoas ? o.lsoas
                      : (uint32_t)(o.events / 250 < 120 ? 120
                                   : o.events / 250 > 30000 ? 30000 : o.events / 250);
    g.npeople = o.people ? o.people : (uint32_t)(o.events / 4 < 2000 ? 2000
                                                 : o.events / 4 > 50000000 ? 50000000
                                                                           : o.events / 4);

    /* The lines: broken and resent ones exactly to their shares, the rest
     * valid events. */
    struct summary sum = {.total = (size_t)o.events};
    sum.nbroken = (size_t)llround((double)sum.total * o.broken_pct / 100.0);
    sum.ndup = (size_t)llround((double)sum.total * o.dup_pct / 100.0);
    if (sum.nbroken + sum.ndup >= sum.total)
        die("--broken-pct and --dup-pct leave no valid events in %zu lines", sum.total);
    g.nvalid = sum.total - sum.nbroken - sum.ndup;
    g.ev = xcalloc(sum.total, sizeof *g.ev);
    unsigned count[SC__N];
    scenarios_plan(&g, count);

    /* One random stream a phase (gen_rng.h): a change in one phase leaves
     * the others' draws alone. */
    struct rng r;
    rng_seed(&r, o.seed, 1);
    build_borough(&g, &r);
    rng_seed(&r, o.seed, 2);
    build_people(&g, &r);
    rng_seed(&r, o.seed, 3);
    scenarios_run(&g, &r, count);
    sum.nscen = g.nev;
    rng_seed(&r, o.seed, 4);
    while (g.nev < g.nvalid)
        background(&g, &r);
    rng_seed(&r, o.seed, 5);
    broken_rows(&g, &r, sum.nbroken);
    sum.nvalid = g.nvalid - sum.nbroken;
    rng_seed(&r, o.seed, 6);
    deliver(&g, &r, &sum.late, &sum.latest);
    rng_seed(&r, o.seed, 7);
    resend(&g, &r, sum.ndup, sum.nvalid);
    uint64_t *keys = arrival_order(&g);
    sum.t_gen = now_s() - t0;

    FILE *f = stdout;
    if (o.output && !(f = fopen(o.output, "w")))
        die("cannot write %s: %s", o.output, strerror(errno));
    write_feed(&g, f, keys, &sum.tally);
    if (f != stdout ? fclose(f) != 0 : fflush(f) != 0)
        die("write failed: %s", strerror(errno));
    sum.t_all = now_s() - t0;

    if (o.stats)
        print_stats(&g, &sum, stderr);
    free(keys);
    return 0;
}
