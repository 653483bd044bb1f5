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
 * events follow the schemas in schemas/ (PROTOCOL.md 3.2). See docs/demo.md. */
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

#include "timefmt.h" /* civil dates: the hub's own, so the two agree on every day */
#include "vocab.h"   /* the types, agencies, panels and values, shared with csphub-bench */

#define DAY_S 86400u
#define YEAR_DAYS 365u
/* Nights of delivery kept per source: the year and a margin for late ones. */
#define NIGHTS (YEAR_DAYS + 64u)

/* ---- random numbers: xoshiro256**, seeded by splitmix64 ------------------ */

struct rng {
    uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* One independent stream per phase, so that (say) the broken rows never
 * shift the scenarios drawn before them. */
static void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t rnext(struct rng *r)
{
    uint64_t *s = r->s, out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* Uniform in [0, n); n > 0. */
static inline uint32_t below(struct rng *r, uint32_t n)
{
    return (uint32_t)(((rnext(r) >> 32) * (uint64_t)n) >> 32);
}

/* Uniform in [lo, hi]. */
static inline int between(struct rng *r, int lo, int hi)
{
    return lo + (int)below(r, (uint32_t)(hi - lo + 1));
}

static inline double unit(struct rng *r) { return (double)(rnext(r) >> 11) * 0x1.0p-53; }
static inline int chance(struct rng *r, double p) { return unit(r) < p; }

/* Index by weight: w[0..n), not all zero. */
static int weighted(struct rng *r, const unsigned *w, int n)
{
    unsigned total = 0;
    for (int i = 0; i < n; i++)
        total += w[i];
    unsigned x = below(r, total);
    for (int i = 0; i < n; i++) {
        if (x < w[i])
            return i;
        x -= w[i];
    }
    return n - 1;
}
#define WEIGHTED(r, w) weighted(r, w, (int)(sizeof(w) / sizeof(w[0])))

/* A stateless hash: per-event print variants (milliseconds, map jitter,
 * which field a broken row breaks) that a resend must repeat exactly. */
static inline uint64_t mix(uint64_t x)
{
    return splitmix(&x);
}

/* How each agency delivers (the vocabulary's source_name is its name). */
enum delivery { D_REALTIME, D_NIGHTLY, D_WEEKLY };
enum clockfmt { C_UTC, C_LOCAL, C_UTC_MS };
static const struct {
    enum delivery mode;
    enum clockfmt clock;
    unsigned extract_min; /* the nightly extract lands at 02:00 UTC + this */
    const char *prefix;   /* the agency's own reference style */
} src_info[S__N] = {
    [S_POLICE] = {D_REALTIME, C_UTC, 0, "OCC"},
    [S_COUNCIL] = {D_NIGHTLY, C_LOCAL, 5, "ASB"},
    [S_HOUSING] = {D_NIGHTLY, C_UTC_MS, 25, "HMS"},
    [S_HEALTH] = {D_WEEKLY, C_LOCAL, 60, "AE"},
    [S_IDVA] = {D_NIGHTLY, C_UTC, 40, "IDVA"},
    [S_CHILDREN] = {D_NIGHTLY, C_LOCAL, 15, "CSC"},
    [S_PROBATION] = {D_NIGHTLY, C_UTC, 50, "NDL"},
    [S_YOUTH] = {D_NIGHTLY, C_LOCAL, 35, "YJ"},
    [S_SCHOOL] = {D_NIGHTLY, C_LOCAL, 20, "CPOMS"},
};

/* ---- the borough, its people and the events ----------------------------- */

struct ev {
    uint32_t occ;    /* occurred_at: seconds after --start 00:00 UTC */
    uint32_t arr;    /* when it reaches the hub: its place in the stream */
    uint32_t p1, p2; /* person index + 1, 0 for none (p1: the type's main person) */
    uint32_t loc;    /* address, LSOA or site index, per locmode */
    uint32_t ref;    /* resend: the original's index; else the source's running number */
    uint8_t type, src, locmode, broken;
    uint8_t f[6];    /* the type's small fields (see the printer) */
    uint8_t resend;
};
enum { L_NONE, L_ADDR, L_STREET, L_SITE };

/* Field slots per type in ev.f. */
enum { F_CAT = 0, F_HATE = 1, F_VULN = 2, F_SUMMARY = 3 };      /* asb: flags 0 absent, 1 false, 2 true */
enum { F_DASH = 0, F_RISK = 1, F_KIDS = 2 };                     /* da: dash 255 absent */
enum { F_OFFENCE = 0, F_AGE = 1 };                               /* arrest: age 0 absent */
enum { F_WEAPON = 0, F_INJURY = 1, F_VAGE = 2, F_PAGE = 3, F_GROUP = 4 }; /* ages 255 absent */
enum { F_STRAND = 0 };
enum { F_KIND = 0 };                                             /* concern; summary in F_SUMMARY */
enum { F_PANEL = 0, F_STATUS = 2 };                              /* referral, case.update; risk F_RISK */
#define ABSENT 255

enum defect { B_NONE, B_UNKNOWN_FIELD, B_BAD_ENUM, B_BAD_TIME, B_BAD_PERSON, B_MISSING_FIELD,
              B_BAD_VALUE, B__N };
static const char *const defect_name[B__N] = {"", "unknown field", "bad enum value",
                                              "bad timestamp", "bad person reference",
                                              "missing required field", "bad value or type"};

enum scenario { SC_ASB_REPEAT, SC_ASB_LOCATION, SC_DA, SC_YOUTH, SC_MISSING, SC_HATE, SC_PREVENT,
                SC_IOM, SC_HOTSPOT, SC__N };
static const struct {
    const char *name;
    unsigned per_10k; /* instances per 10,000 valid events */
    unsigned min;     /* at least this many from 2,000 events up */
    unsigned people;  /* people one instance takes, at most */
} sc_info[SC__N] = {
    [SC_ASB_REPEAT] = {"repeat ASB victims and callers", 30, 6, 1},
    [SC_ASB_LOCATION] = {"ASB at one place, many victims", 5, 2, 8},
    [SC_DA] = {"escalating domestic abuse", 30, 6, 2},
    [SC_YOUTH] = {"youth groups and knives", 8, 3, 12},
    [SC_MISSING] = {"missing and exploited children", 15, 4, 1},
    [SC_HATE] = {"repeat hate against a household", 10, 3, 2},
    [SC_PREVENT] = {"Prevent concerns", 4, 2, 1},
    [SC_IOM] = {"prolific neighbourhood offenders", 12, 3, 1},
    [SC_HOTSPOT] = {"hotspot bursts", 3, 1, 0},
};

struct opts {
    uint64_t seed;
    uint64_t events;
    int64_t start;      /* Unix seconds, 00:00 UTC */
    uint32_t lsoas;     /* 0: sized from --events */
    uint32_t people;    /* 0: sized from --events */
    double broken_pct;
    double dup_pct;
    const char *output;
    int stats;
};

struct gen {
    struct opts o;
    int64_t start;
    int start_day; /* days since 1970 */
    int year0;
    int64_t bst_on[3], bst_off[3]; /* BST spans of year0 .. year0+2, Unix seconds */

    uint32_t nlsoa, nward, naddr, nsite, nhot, npeople;
    uint32_t ward_base;
    uint32_t *lsoa_code;            /* E01 + six digits */
    int32_t *lsoa_lat, *lsoa_lon;   /* centroids in micro-degrees */
    uint32_t *addr_lsoa;
    uint64_t uprn_base, site_base;
    uint32_t *site_lsoa;
    uint32_t *hot;                  /* hotspot LSOAs */
    double *lsoa_cum;               /* cumulative street-crime weights */
    int32_t *birth;                 /* day of birth, days since 1970 */
    uint32_t *home;                 /* address of each person */
    uint32_t *perm;                 /* people in the order scenarios take them */
    uint32_t taken, reserved;       /* scenario people: perm[0, reserved) */
    uint32_t child0, child1, adult0, adult1; /* background pools: perm ranges */
    uint8_t fail[S__N][NIGHTS];     /* 1: that night's extract did not arrive */

    struct ev *ev;
    size_t nev, nvalid;
    size_t scen_cap;                /* valid events scenarios may use */
    unsigned scen_count[SC__N];
    size_t scen_events[SC__N];
    /* The textbook case of each scenario, to follow in the hub: its main
     * person + 1, or for places the site or LSOA. */
    uint32_t textbook[SC__N];
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("csphub-gen: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size);
    if (!p)
        die("out of memory (%zu x %zu bytes)", n, size);
    return p;
}

/* ---- calendar ------------------------------------------------------------ */

/* Last Sunday of a 31-day month, 01:00 UTC: when British Summer Time
 * starts (March) and ends (October). */
static int64_t last_sunday_0100(int y, unsigned m)
{
    int64_t d31 = csph_days_from_civil(y, m, 31);
    int64_t wd = (d31 + 4) % 7; /* 0 = Sunday; 1970-01-01 was a Thursday */
    return (d31 - wd) * (int64_t)DAY_S + 3600;
}

static int is_bst(const struct gen *g, int64_t t)
{
    for (int i = 0; i < 3; i++)
        if (t >= g->bst_on[i] && t < g->bst_off[i])
            return 1;
    return 0;
}

/* Weekday of a day of the year, 0 = Monday. */
static int weekday(const struct gen *g, int day) { return (int)((g->start_day + day + 3) % 7); }

/* Hour-of-day weights (local time) for the kinds of events. */
enum profile { H_EVENING, H_NIGHT, H_OFFICE, H_ANY, H_MISSING };
static const unsigned hour_w[][24] = {
    [H_EVENING] = {3, 2, 1, 1, 1, 1, 1, 2, 3, 4, 5, 6, 6, 6, 7, 8, 10, 12, 13, 13, 12, 10, 7, 5},
    [H_NIGHT] = {9, 8, 6, 4, 2, 1, 1, 1, 2, 2, 3, 3, 4, 4, 4, 5, 6, 7, 8, 9, 10, 11, 12, 11},
    [H_OFFICE] = {0, 0, 0, 0, 0, 0, 0, 1, 4, 9, 10, 10, 8, 9, 10, 10, 8, 4, 1, 0, 0, 0, 0, 0},
    [H_ANY] = {4, 4, 3, 2, 2, 2, 3, 4, 5, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 5},
    [H_MISSING] = {3, 3, 2, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 4, 6, 8, 10, 12, 12, 10, 7, 4},
};

/* A moment on day `day` (of the year) at a local hour drawn from the
 * profile, as seconds after --start; office hours move to the next weekday.
 * Returns UINT32_MAX when that falls outside the year. */
static uint32_t at(const struct gen *g, struct rng *r, int day, enum profile p)
{
    if (p == H_OFFICE)
        while (weekday(g, day) >= 5)
            day++;
    if (day < 0 || day >= (int)YEAR_DAYS)
        return UINT32_MAX;
    int h = weighted(r, hour_w[p], 24);
    int64_t local = (int64_t)day * DAY_S + h * 3600 + below(r, 3600);
    int64_t utc = local - (is_bst(g, g->start + local) ? 3600 : 0);
    if (utc < 0 || utc >= (int64_t)YEAR_DAYS * DAY_S)
        return UINT32_MAX;
    return (uint32_t)utc;
}

/* Seasonal weight of a day for a type, 0..100: ASB in summer and around
 * bonfire night, domestic abuse at Christmas and New Year, violence at
 * weekends. */
static unsigned season(const struct gen *g, int day, enum type t)
{
    int y;
    unsigned m, d;
    csph_civil_from_days(g->start_day + day, &y, &m, &d);
    int wd = weekday(g, day);
    unsigned w = 60;
    switch (t) {
    case T_ASB:
    case T_CALL:
        w = (m >= 5 && m <= 8) ? 85 : 60;
        if ((m == 10 && d >= 25) || (m == 11 && d <= 6))
            w = 100;
        break;
    case T_DA:
        w = (m == 12 && d >= 20) || (m == 1 && d <= 2) ? 100 : 60;
        if (wd >= 5)
            w += 15;
        break;
    case T_VIOL:
        w = wd >= 4 ? 90 : 60;
        break;
    default:
        break;
    }
    return w;
}

static int pick_day(const struct gen *g, struct rng *r, enum type t)
{
    for (;;) {
        int day = (int)below(r, YEAR_DAYS);
        if (below(r, 100) < season(g, day, t))
            return day;
    }
}

/* ---- people and places --------------------------------------------------- */

static uint32_t age_at(const struct gen *g, uint32_t p, uint32_t occ)
{
    int64_t days = g->start_day + occ / DAY_S - g->birth[p];
    return days < 0 ? 0 : (uint32_t)((double)days / 365.2425);
}

/* Born so as to be `age` (plus a fraction) on the first day of the year. */
static void set_age(struct gen *g, struct rng *r, uint32_t p, int age)
{
    g->birth[p] = g->start_day - (int32_t)(age * 365.2425) - (int32_t)below(r, 300);
}

/* A person for a scenario: not in any background pool. */
static uint32_t take(struct gen *g, struct rng *r, int age_lo, int age_hi)
{
    uint32_t p;
    if (g->taken < g->reserved)
        p = g->perm[g->taken++];
    else /* cannot happen with the reservation below; stay valid anyway */
        p = g->perm[g->adult0 + below(r, g->adult1 - g->adult0)];
    set_age(g, r, p, between(r, age_lo, age_hi));
    return p;
}

/* A background person: a fifth of the contacts come from the pool's first
 * 10% (people agencies see again and again), the rest from anyone. */
static uint32_t pool_pick(const struct gen *g, struct rng *r, uint32_t lo, uint32_t hi)
{
    uint32_t n = hi - lo;
    if (chance(r, 0.2)) {
        uint32_t k = n / 10 ? n / 10 : 1;
        return g->perm[lo + below(r, k)];
    }
    return g->perm[lo + below(r, n)];
}
static uint32_t adult(const struct gen *g, struct rng *r)
{
    return pool_pick(g, r, g->adult0, g->adult1);
}
/* An adult, mostly no older than max_age: offenders and those involved in
 * domestic abuse and violence are younger than the population. */
static uint32_t adult_upto(const struct gen *g, struct rng *r, uint32_t max_age)
{
    uint32_t p = adult(g, r);
    for (int i = 0; i < 4 && age_at(g, p, 0) > max_age && !chance(r, 0.1); i++)
        p = adult(g, r);
    return p;
}
/* A child aged at least min_age all year. */
static uint32_t child(const struct gen *g, struct rng *r, int min_age)
{
    for (int i = 0; i < 40; i++) {
        uint32_t p = pool_pick(g, r, g->child0, g->child1);
        if (age_at(g, p, 0) >= (uint32_t)min_age)
            return p;
    }
    return pool_pick(g, r, g->child0, g->child1); /* rare: age checked by callers */
}

/* A street location: each LSOA has a lognormal weight (some places are
 * simply busier) and the hotspots several times more. */
static uint32_t street_lsoa(const struct gen *g, struct rng *r)
{
    double x = unit(r) * g->lsoa_cum[g->nlsoa - 1];
    uint32_t lo = 0, hi = g->nlsoa - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (g->lsoa_cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* ---- events -------------------------------------------------------------- */

static struct ev *emit(struct gen *g, enum type t, enum source s, uint32_t occ)
{
    if (occ == UINT32_MAX || occ >= YEAR_DAYS * DAY_S || g->nev >= g->nvalid)
        return NULL;
    struct ev *e = &g->ev[g->nev++];
    memset(e, 0, sizeof *e);
    e->type = (uint8_t)t;
    e->src = (uint8_t)s;
    /* Case-management systems record minutes, not seconds. */
    e->occ = s == S_POLICE || s == S_HOUSING ? occ : occ - occ % 60;
    return e;
}

static void loc_addr(struct ev *e, uint32_t addr) { e->locmode = L_ADDR, e->loc = addr; }
static void loc_home(const struct gen *g, struct ev *e, uint32_t p) { loc_addr(e, g->home[p]); }
static void loc_street(struct ev *e, uint32_t lsoa) { e->locmode = L_STREET, e->loc = lsoa; }
static void loc_site(struct ev *e, uint32_t site) { e->locmode = L_SITE, e->loc = site; }

static uint8_t risk_of(int dash)
{
    return dash >= 14 ? RISK_HIGH : dash >= 10 ? RISK_MEDIUM : RISK_STANDARD;
}

static struct ev *asb(struct gen *g, struct rng *r, enum source s, uint32_t occ, uint32_t victim,
                      int cat, int vulnerable, int hate)
{
    struct ev *e = emit(g, T_ASB, s, occ);
    if (!e)
        return NULL;
    e->p1 = victim ? victim : 0;
    e->f[F_CAT] = (uint8_t)cat;
    /* The council and housing systems always carry the flags; the police
     * set them when they apply. */
    int flags = s != S_POLICE;
    e->f[F_VULN] = vulnerable ? 2 : flags ? 1 : 0;
    e->f[F_HATE] = hate ? 2 : flags ? 1 : 0;
    e->f[F_SUMMARY] = chance(r, s == S_POLICE ? 0.3 : 0.7)
                          ? (uint8_t)(1 + below(r, sizeof asb_summary / sizeof *asb_summary))
                          : 0;
    return e;
}

static struct ev *call(struct gen *g, enum source s, uint32_t occ, uint32_t caller, int cat)
{
    struct ev *e = emit(g, T_CALL, s, occ);
    if (e) {
        e->p1 = caller;
        e->f[F_CAT] = (uint8_t)cat;
    }
    return e;
}

static struct ev *case_update(struct gen *g, uint32_t occ, uint32_t subject, enum panel p,
                              int status, int risk)
{
    struct ev *e = emit(g, T_CASEUPD, panel_owner[p], occ);
    if (e) {
        e->p1 = subject;
        e->f[F_PANEL] = (uint8_t)p;
        e->f[F_STATUS] = (uint8_t)status;
        e->f[F_RISK] = (uint8_t)risk;
    }
    return e;
}

static struct ev *referral(struct gen *g, enum source s, uint32_t occ, uint32_t subject,
                           enum panel p)
{
    struct ev *e = emit(g, T_REFERRAL, s, occ);
    if (e) {
        e->p1 = subject;
        e->f[F_PANEL] = (uint8_t)p;
    }
    return e;
}

static struct ev *concern(struct gen *g, struct rng *r, enum source s, uint32_t occ,
                          uint32_t subject, int kind)
{
    struct ev *e = emit(g, T_CONCERN, s, occ);
    if (e) {
        e->p1 = subject;
        e->f[F_KIND] = (uint8_t)kind;
        e->f[F_SUMMARY] = chance(r, 0.75) ? (uint8_t)(kind + 1) : 0;
    }
    return e;
}

static struct ev *arrest(struct gen *g, struct rng *r, uint32_t occ, uint32_t subject, int offence,
                         uint32_t lsoa)
{
    struct ev *e = emit(g, T_ARREST, S_POLICE, occ);
    if (!e)
        return NULL;
    e->p1 = subject;
    e->f[F_OFFENCE] = (uint8_t)offence;
    uint32_t age = age_at(g, subject - 1, e->occ);
    e->f[F_AGE] = chance(r, 0.88) && age >= 10 && age <= 120 ? (uint8_t)age : 0;
    if (chance(r, 0.8))
        loc_street(e, lsoa);
    return e;
}

static uint8_t age_or_absent(struct gen *g, uint32_t p1, uint32_t occ, struct rng *r, double pct)
{
    if (!p1 || !chance(r, pct))
        return ABSENT;
    uint32_t a = age_at(g, p1 - 1, occ);
    return a > 120 ? ABSENT : (uint8_t)a;
}

/* ---- scenarios: the cases each panel exists for -------------------------- */

/* Sorted random days in [d0, d0 + span]. */
static void spread_days(struct rng *r, int *days, int n, int d0, int span)
{
    for (int i = 0; i < n; i++)
        days[i] = d0 + (int)below(r, (uint32_t)span + 1);
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && days[j - 1] > days[j]; j--) {
            int t = days[j];
            days[j] = days[j - 1];
            days[j - 1] = t;
        }
}

static enum source asb_source(struct rng *r)
{
    static const unsigned w[] = {45, 35, 20};
    static const enum source s[] = {S_POLICE, S_COUNCIL, S_HOUSING};
    return s[WEIGHTED(r, w)];
}

/* A victim who reports ASB at home to the police, the council and the
 * landlord, and keeps calling: asb-case-review (3 reports in 183 days),
 * community-marac (3 and 10 ASB calls in 168 days; 2 reports while
 * vulnerable), sometimes a hate flag, an ASB case review application, and
 * the panels' case updates (opened, re-risked, closed). */
static void sc_asb_repeat(struct gen *g, struct rng *r, int forced)
{
    uint32_t v = take(g, r, forced ? 74 : 22, forced ? 74 : 88) + 1;
    if (forced)
        g->textbook[SC_ASB_REPEAT] = v;
    int vulnerable = forced || chance(r, 0.35);
    int nrep = forced ? 4 : chance(r, 0.7) ? between(r, 3, 7) : between(r, 1, 2);
    double u = unit(r);
    int ncall = forced ? 11 : u < 0.2 ? between(r, 10, 14) : u < 0.65 ? between(r, 3, 6)
                                                                      : between(r, 0, 2);
    int span = forced ? 120 : between(r, 40, 160);
    int d0 = forced ? (int)below(r, 120) : (int)below(r, YEAR_DAYS - (unsigned)span);
    int cat = chance(r, 0.6) ? 0 : 1;
    int hate_at = forced ? 1 : chance(r, 0.12) ? (int)below(r, (uint32_t)nrep) : -1;
    int days[16];
    spread_days(r, days, nrep, d0, span);
    uint32_t third = UINT32_MAX, last = 0;
    for (int i = 0; i < nrep; i++) {
        /* The forced case reports to all three agencies: no system but the
         * hub sees more than two. */
        enum source s = forced ? (enum source[]){S_POLICE, S_COUNCIL, S_HOUSING, S_POLICE}[i]
                               : asb_source(r);
        struct ev *e = asb(g, r, s, at(g, r, days[i], H_EVENING), v, cat,
                           vulnerable && (s != S_POLICE || chance(r, 0.6) || forced), i == hate_at);
        if (!e)
            continue;
        loc_home(g, e, v - 1);
        if (i == 2)
            third = e->occ;
        last = e->occ;
    }
    spread_days(r, days, ncall, d0 > 10 ? d0 - 10 : 0, span < 150 ? span + 10 : 160);
    for (int i = 0; i < ncall; i++) {
        struct ev *e = call(g, chance(r, 0.65) ? S_POLICE : S_COUNCIL,
                            at(g, r, days[i], H_EVENING), v, CALL_ASB);
        if (e && chance(r, 0.5))
            loc_home(g, e, v - 1);
    }
    if (third != UINT32_MAX) {
        int tday = (int)(third / DAY_S);
        if (forced || chance(r, 0.6)) {
            case_update(g, at(g, r, tday + between(r, 3, 10), H_OFFICE), v, P_ACR, ST_OPEN,
                        RISK_MEDIUM);
            if (chance(r, 0.5))
                case_update(g, at(g, r, tday + between(r, 14, 28), H_OFFICE), v, P_ACR,
                            ST_REVIEWED, chance(r, 0.3) ? RISK_HIGH : RISK_MEDIUM);
            if (chance(r, 0.35))
                case_update(g, at(g, r, (int)(last / DAY_S) + between(r, 30, 80), H_OFFICE), v,
                            P_ACR, ST_CLOSED, RISK_NONE);
        }
        if (forced || chance(r, 0.25)) {
            struct ev *e = emit(g, T_CRR, S_COUNCIL, at(g, r, tday + between(r, 7, 40), H_OFFICE));
            if (e) {
                e->p1 = v;
                e->f[F_SUMMARY] = (uint8_t)(1 + below(r, sizeof crr_summary / sizeof *crr_summary));
                if (chance(r, 0.6))
                    loc_home(g, e, v - 1);
            }
        }
    }
    if (ncall >= 3) {
        int cday = d0 + span / 2;
        if (chance(r, 0.5))
            case_update(g, at(g, r, cday + between(r, 5, 20), H_OFFICE), v, P_CMARAC, ST_OPEN,
                        ncall >= 10 ? RISK_HIGH : RISK_MEDIUM);
        if (chance(r, 0.15))
            referral(g, S_HOUSING, at(g, r, cday, H_OFFICE), v, P_CMARAC);
        /* Re-risking: the case closed and then the calls came back. */
        if (chance(r, 0.1)) {
            case_update(g, at(g, r, cday + 40, H_OFFICE), v, P_CMARAC, ST_CLOSED, RISK_NONE);
            case_update(g, at(g, r, cday + 70, H_OFFICE), v, P_CMARAC, ST_OPEN, RISK_HIGH);
        }
    }
}

/* Several different people reporting ASB at one block, park or parade:
 * asb-case-review.location (5 distinct victims in 183 days). */
static void sc_asb_location(struct gen *g, struct rng *r, int forced, unsigned inst)
{
    uint32_t site = (inst * 7 + below(r, g->nsite)) % g->nsite;
    if (forced)
        g->textbook[SC_ASB_LOCATION] = site;
    int nv = forced ? 6 : chance(r, 0.75) ? between(r, 5, 8) : 4;
    int span = between(r, 30, 150);
    int d0 = forced ? (int)below(r, 150) : (int)below(r, YEAR_DAYS - (unsigned)span);
    for (int i = 0; i < nv; i++) {
        uint32_t v = take(g, r, 19, 80) + 1;
        int nrep = chance(r, 0.6) ? 1 : 2;
        for (int k = 0; k < nrep; k++) {
            struct ev *e = asb(g, r, asb_source(r),
                               at(g, r, d0 + (int)below(r, (uint32_t)span + 1), H_EVENING), v,
                               chance(r, 0.5), 0, 0);
            if (e)
                loc_site(e, site);
        }
    }
    for (int k = between(r, 0, 3); k > 0; k--) {
        struct ev *e = asb(g, r, S_COUNCIL,
                           at(g, r, d0 + (int)below(r, (uint32_t)span + 1), H_EVENING), 0,
                           chance(r, 0.5) ? 2 : 1, 0, 0);
        if (e)
            loc_site(e, site);
    }
}

/* Domestic abuse that escalates: incidents closer together, DASH scores
 * rising until some cross 14 (marac.high-risk); 3 in 12 months
 * (marac.escalation); a further incident after a MARAC alert (marac.repeat).
 * The IDVA and A&E record some incidents too; referrals and case updates
 * follow the MARAC. */
static void sc_da(struct gen *g, struct rng *r, int forced)
{
    uint32_t v = take(g, r, 18, 62) + 1;
    uint32_t perp = take(g, r, 19, 60) + 1;
    if (forced)
        g->textbook[SC_DA] = v;
    static const unsigned kw[] = {10, 25, 25, 20, 12, 8};
    int k = forced ? 4 : 1 + WEIGHTED(r, kw);
    int escalating = forced || chance(r, 0.55);
    int dash = forced ? 6 : escalating ? between(r, 3, 10) : between(r, 1, 9);
    int gap = between(r, 40, 110);
    int day = forced ? (int)below(r, 60) : (int)below(r, 200);
    int kids = chance(r, 0.35);
    uint32_t high_day = UINT32_MAX;
    int closed = 0;
    for (int i = 0; i < k; i++) {
        if (i > 0) {
            day += gap;
            gap = gap * 7 / 10 > 7 ? gap * 7 / 10 : 7;
            dash += escalating ? (forced ? (int[]){0, 4, 5, 3}[i] : between(r, 2, 5))
                               : between(r, -2, 2);
            dash = dash < 0 ? 0 : dash > 27 ? 27 : dash;
        }
        enum source s = i == 0 || forced ? S_POLICE
                                         : (enum source[]){S_POLICE, S_POLICE, S_POLICE, S_IDVA,
                                                           S_IDVA, S_HEALTH}[below(r, 6)];
        uint32_t occ = at(g, r, day, H_NIGHT);
        if (s == S_POLICE && (forced || chance(r, 0.6)) && occ != UINT32_MAX && occ > 900) {
            struct ev *c = call(g, S_POLICE, occ - 300 - below(r, 600), v, CALL_DOMESTIC);
            if (c && chance(r, 0.7))
                loc_home(g, c, v - 1);
        }
        struct ev *e = emit(g, T_DA, s, occ);
        if (!e)
            break;
        e->p1 = v;
        e->p2 = s == S_HEALTH && chance(r, 0.6) ? 0 : perp;
        uint8_t risk = risk_of(dash);
        if (!forced && risk == RISK_MEDIUM && chance(r, 0.1))
            risk = RISK_HIGH; /* high on professional judgement */
        int has_dash = s == S_IDVA || (s == S_POLICE && (forced || chance(r, 0.85)));
        e->f[F_DASH] = has_dash ? (uint8_t)dash : ABSENT;
        e->f[F_RISK] = s == S_HEALTH && chance(r, 0.5) ? RISK_NONE : risk;
        e->f[F_KIDS] = s == S_POLICE && chance(r, 0.7) ? (uint8_t)(kids ? 2 : 1) : 0;
        if (s == S_POLICE)
            loc_home(g, e, v - 1);
        int high = (has_dash && dash >= 14) || e->f[F_RISK] == RISK_HIGH;
        if (high && high_day == UINT32_MAX) {
            high_day = (uint32_t)day;
            if (forced || chance(r, 0.5))
                referral(g, S_IDVA, at(g, r, day + between(r, 1, 7), H_OFFICE), v, P_MARAC);
            if (forced || chance(r, 0.6)) {
                case_update(g, at(g, r, day + between(r, 2, 10), H_OFFICE), v, P_MARAC, ST_OPEN,
                            RISK_HIGH);
                case_update(g, at(g, r, day + between(r, 14, 28), H_OFFICE), v, P_MARAC,
                            ST_REVIEWED, chance(r, 0.7) ? RISK_HIGH : RISK_MEDIUM);
                if (!forced && chance(r, 0.4)) {
                    case_update(g, at(g, r, day + between(r, 30, 60), H_OFFICE), v, P_MARAC,
                                ST_CLOSED, RISK_NONE);
                    closed = 1;
                }
            }
        } else if (high_day != UINT32_MAX && closed) {
            /* Abuse resumed after the case closed: re-opened at high risk. */
            case_update(g, at(g, r, day + between(r, 1, 5), H_OFFICE), v, P_MARAC, ST_OPEN,
                        RISK_HIGH);
            closed = 0;
        }
    }
}

/* A group of young people in one area: knife and serious-injury incidents
 * (sgv.weapon), weapon possession arrests (sgv.possession), A&E recording
 * the injured, exploitation concerns for the under-18s, referrals. */
static void sc_youth(struct gen *g, struct rng *r, int forced, unsigned inst)
{
    int m = forced ? 4 : between(r, 3, 6);
    uint32_t member[6];
    for (int i = 0; i < m; i++)
        member[i] = take(g, r, 13, 22) + 1;
    if (forced)
        g->textbook[SC_YOUTH] = member[0];
    uint32_t area = chance(r, 0.5) ? g->hot[inst % g->nhot] : below(r, g->nlsoa);
    int ni = forced ? 3 : between(r, 2, 5);
    int span = between(r, 60, 200);
    int d0 = forced ? (int)below(r, 120) : (int)below(r, YEAR_DAYS - (unsigned)span);
    int days[8];
    spread_days(r, days, ni, d0, span);
    for (int i = 0; i < ni; i++) {
        static const unsigned ww[] = {70, 3, 27};
        int weapon = forced ? W_KNIFE : WEIGHTED(r, ww);
        static const unsigned iw[] = {15, 45, 38, 2};
        int injury = WEIGHTED(r, iw);
        uint32_t perp = forced ? member[0] : member[below(r, (uint32_t)m)];
        /* Mostly a rival is hurt, sometimes one of the group. */
        uint32_t victim = chance(r, 0.7) ? take(g, r, 14, 22) + 1 : member[below(r, (uint32_t)m)];
        if (victim == perp)
            victim = take(g, r, 14, 22) + 1;
        uint32_t occ = at(g, r, days[i], H_NIGHT);
        enum source s = chance(r, 0.8) || forced ? S_POLICE : S_HEALTH;
        struct ev *e = emit(g, T_VIOL, s, occ);
        if (!e)
            break;
        e->p1 = victim;
        e->f[F_WEAPON] = (uint8_t)weapon;
        e->f[F_INJURY] = (uint8_t)injury;
        e->f[F_VAGE] = age_or_absent(g, victim, e->occ, r, forced ? 1.0 : 0.9);
        if (s == S_POLICE) {
            e->p2 = perp;
            e->f[F_PAGE] = age_or_absent(g, perp, e->occ, r, forced ? 1.0 : 0.85);
            e->f[F_GROUP] = chance(r, 0.85) ? 2 : 0;
            loc_street(e, area);
            /* The same stabbing, seen by A&E: a different agency's record. */
            if (injury >= I_SERIOUS && chance(r, 0.4)) {
                struct ev *h = emit(g, T_VIOL, S_HEALTH, e->occ + 1800 + below(r, 5400));
                if (h) {
                    h->p1 = victim;
                    h->f[F_WEAPON] = (uint8_t)weapon;
                    h->f[F_INJURY] = (uint8_t)injury;
                    h->f[F_VAGE] = age_or_absent(g, victim, h->occ, r, 1.0);
                    h->f[F_PAGE] = ABSENT;
                }
            }
        } else {
            e->f[F_PAGE] = ABSENT;
        }
    }
    int na = forced ? 2 : between(r, 0, 3);
    for (int i = 0; i < na; i++) {
        uint32_t p = member[below(r, (uint32_t)m)];
        static const unsigned ow[] = {60, 20, 20};
        int off = forced ? O_WEAPON : (int[]){O_WEAPON, O_VIOL_SER, O_DRUG_SUP}[WEIGHTED(r, ow)];
        struct ev *e =
            arrest(g, r, at(g, r, d0 + (int)below(r, (uint32_t)span + 1), H_NIGHT), p, off, area);
        if (e && forced && !e->f[F_AGE])
            e->f[F_AGE] = (uint8_t)age_at(g, p - 1, e->occ); /* the textbook case gives it */
    }
    for (int i = 0; i < m; i++) {
        uint32_t p = member[i];
        if (age_at(g, p - 1, (uint32_t)d0 * DAY_S) < 18 && chance(r, 0.25))
            concern(g, r, chance(r, 0.5) ? S_YOUTH : S_SCHOOL,
                    at(g, r, d0 + between(r, 0, span), H_OFFICE), p, K_CRIMINAL);
    }
    if (chance(r, 0.4))
        referral(g, S_YOUTH, at(g, r, d0 + span / 2, H_OFFICE), member[0], P_SGV);
    if (chance(r, 0.4))
        case_update(g, at(g, r, d0 + span / 2 + 14, H_OFFICE), member[0], P_SGV, ST_OPEN,
                    RISK_HIGH);
}

/* A child who goes missing: clusters of episodes (mace.missing: 3 in 90
 * days), exploitation concerns (mace.exploitation), and near misses whose
 * episodes are spread too thin to meet the threshold. */
static void sc_missing(struct gen *g, struct rng *r, int forced)
{
    uint32_t c = take(g, r, 11, 16) + 1;
    if (forced)
        g->textbook[SC_MISSING] = c;
    double u = unit(r);
    int pattern = forced ? 0 : u < 0.45 ? 0 : u < 0.75 ? 1 : 2; /* cluster, few, spread */
    int n = forced ? 3 : pattern == 0 ? between(r, 3, 6) : pattern == 1 ? between(r, 1, 2)
                                                                          : between(r, 3, 4);
    int day = forced ? (int)below(r, 120) : (int)below(r, 200);
    int second = -1;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            day += pattern == 0 ? between(r, 5, 25) : between(r, 46, 80);
        uint32_t occ = at(g, r, day, H_MISSING);
        struct ev *e = emit(g, T_MISSING, chance(r, 0.7) ? S_POLICE : S_CHILDREN, occ);
        if (!e)
            break;
        e->p1 = c;
        uint32_t age = age_at(g, c - 1, e->occ);
        e->f[0] = (uint8_t)(age > 17 ? 17 : age);
        if (i == 1)
            second = day;
    }
    if (pattern == 0 && second >= 0 && (forced || chance(r, 0.55))) {
        static const enum source cs[] = {S_CHILDREN, S_SCHOOL, S_POLICE, S_HEALTH};
        concern(g, r, cs[below(r, 4)], at(g, r, second + between(r, 1, 20), H_OFFICE), c,
                chance(r, 0.65) ? K_CRIMINAL : K_SEXUAL);
        if (chance(r, 0.3))
            referral(g, S_CHILDREN, at(g, r, second + between(r, 5, 25), H_OFFICE), c, P_MACE);
        if (chance(r, 0.5)) {
            case_update(g, at(g, r, second + between(r, 20, 40), H_OFFICE), c, P_MACE,
                        ST_REVIEWED, RISK_HIGH);
            if (chance(r, 0.4))
                case_update(g, at(g, r, second + between(r, 90, 150), H_OFFICE), c, P_MACE,
                            ST_CLOSED, RISK_NONE);
        }
    }
}

/* A household targeted again and again: hate-crime.repeat (the victim) and
 * hate-crime.household (the address), sometimes graffiti with no victim,
 * and ASB reports flagged as hate (asb-case-review.hate). */
static void sc_hate(struct gen *g, struct rng *r, int forced)
{
    uint32_t v1 = take(g, r, 25, 75) + 1, v2 = 0;
    if (forced)
        g->textbook[SC_HATE] = v1;
    if (chance(r, 0.5)) {
        v2 = take(g, r, 20, 75) + 1;
        g->home[v2 - 1] = g->home[v1 - 1];
    }
    static const unsigned sw[] = {45, 20, 15, 12, 5, 3};
    int strand = WEIGHTED(r, sw);
    int n = forced ? 3 : chance(r, 0.7) ? between(r, 2, 4) : 1;
    int span = between(r, 30, 300);
    int d0 = (int)below(r, YEAR_DAYS - (unsigned)span);
    int days[4];
    spread_days(r, days, n, d0, span);
    for (int i = 0; i < n; i++) {
        static const unsigned hw[] = {60, 25, 15};
        enum source s = (enum source[]){S_POLICE, S_COUNCIL, S_HOUSING}[WEIGHTED(r, hw)];
        struct ev *e = emit(g, T_HATE, s, at(g, r, days[i], H_EVENING));
        if (!e)
            break;
        e->p1 = forced || i == 0 ? v1 : chance(r, 0.15) ? 0 : v2 && chance(r, 0.4) ? v2 : v1;
        e->f[F_STRAND] = (uint8_t)strand;
        loc_home(g, e, v1 - 1);
    }
    if (chance(r, 0.3)) {
        struct ev *e = asb(g, r, chance(r, 0.5) ? S_COUNCIL : S_HOUSING,
                           at(g, r, d0 + (int)below(r, (uint32_t)span + 1), H_EVENING), v1, 0, 0, 1);
        if (e)
            loc_home(g, e, v1 - 1);
    }
    if (n >= 2 && chance(r, 0.3))
        case_update(g, at(g, r, days[1] + between(r, 7, 21), H_OFFICE), v1, P_HATE, ST_OPEN,
                    RISK_MEDIUM);
}

/* A young person or adult of concern for radicalisation: channel. */
static void sc_prevent(struct gen *g, struct rng *r, int forced)
{
    uint32_t p = take(g, r, 14, 34) + 1;
    if (forced)
        g->textbook[SC_PREVENT] = p;
    int young = age_at(g, p - 1, 0) < 18;
    int day = pick_day(g, r, T_CONCERN);
    enum source s = young && chance(r, 0.6) ? S_SCHOOL
                    : (enum source[]){S_HEALTH, S_POLICE, S_PROBATION, S_COUNCIL}[below(r, 4)];
    concern(g, r, s, at(g, r, day, H_OFFICE), p, K_RADICAL);
    if (chance(r, 0.25))
        concern(g, r, s, at(g, r, day + between(r, 10, 60), H_OFFICE), p,
                chance(r, 0.5) ? K_RADICAL : K_MENTAL);
    if (forced || chance(r, 0.35))
        referral(g, S_POLICE, at(g, r, day + between(r, 3, 20), H_OFFICE), p, P_CHANNEL);
    if (chance(r, 0.3))
        case_update(g, at(g, r, day + between(r, 30, 90), H_OFFICE), p, P_CHANNEL,
                    chance(r, 0.5) ? ST_REVIEWED : ST_CLOSED, RISK_NONE);
}

/* A prolific neighbourhood offender: iom.neighbourhood (3 arrests for
 * burglary, robbery, vehicle crime or theft in 365 days), referrals from
 * probation, IOM case updates; some stop at 2 (near misses). */
static void sc_iom(struct gen *g, struct rng *r, int forced)
{
    uint32_t p = take(g, r, 18, 42) + 1;
    if (forced)
        g->textbook[SC_IOM] = p;
    int n = forced ? 4 : chance(r, 0.75) ? between(r, 3, 9) : 2;
    int span = forced ? 150 : between(r, 60, 330);
    int d0 = forced ? (int)below(r, 150) : (int)below(r, YEAR_DAYS - (unsigned)span);
    uint32_t patch = below(r, g->nlsoa);
    int days[9];
    spread_days(r, days, n, d0, span);
    static const unsigned ow[] = {30, 15, 10, 15, 30};
    for (int i = 0; i < n; i++)
        arrest(g, r, at(g, r, days[i], H_ANY), p, WEIGHTED(r, ow),
               chance(r, 0.6) ? patch : street_lsoa(g, r));
    for (int k = between(r, 0, 2); k > 0; k--)
        arrest(g, r, at(g, r, d0 + (int)below(r, (uint32_t)span + 1), H_ANY), p,
               chance(r, 0.5) ? O_DRUG_POS : O_PUBLIC, patch);
    if (n >= 3) {
        int d3 = days[2];
        if (chance(r, 0.2))
            referral(g, S_PROBATION, at(g, r, d3 + between(r, 2, 14), H_OFFICE), p, P_IOM);
        if (forced || chance(r, 0.4))
            case_update(g, at(g, r, d3 + between(r, 10, 30), H_OFFICE), p, P_IOM, ST_OPEN,
                        chance(r, 0.5) ? RISK_HIGH : RISK_MEDIUM);
        if (chance(r, 0.1))
            case_update(g, at(g, r, d3 + between(r, 90, 200), H_OFFICE), p, P_IOM, ST_CLOSED,
                        RISK_NONE);
    }
}

/* A burst at a hotspot: a park in summer, the town centre before
 * Christmas, an estate at Halloween: 22+ ASB and violence reports in one
 * LSOA within a month (tasking.hotspot, 20 in 31 days). */
static void sc_hotspot(struct gen *g, struct rng *r, int forced, unsigned inst)
{
    uint32_t lsoa = g->hot[inst % g->nhot];
    if (forced)
        g->textbook[SC_HOTSPOT] = lsoa;
    int n = forced ? 24 : between(r, 22, 34);
    int span = between(r, 12, 28);
    static const int starts[] = {150, 180, 200, 295, 330}; /* Jun, Jul, Jul, Oct, Nov */
    int d0 = starts[below(r, 5)] + between(r, -10, 10);
    if (d0 + span >= (int)YEAR_DAYS)
        d0 = (int)YEAR_DAYS - span - 1;
    uint32_t site = UINT32_MAX;
    for (uint32_t s = 0; s < g->nsite; s++)
        if (g->site_lsoa[s] == lsoa)
            site = s;
    for (int i = 0; i < n; i++) {
        int day = d0 + (int)below(r, (uint32_t)span + 1);
        struct ev *e;
        if (chance(r, 0.8)) {
            uint32_t v = chance(r, 0.5) ? adult(g, r) + 1 : 0;
            e = asb(g, r, asb_source(r), at(g, r, day, H_EVENING), v, v ? between(r, 0, 1) : 2, 0,
                    0);
        } else {
            e = emit(g, T_VIOL, S_POLICE, at(g, r, day, H_NIGHT));
            if (e) {
                e->p1 = adult(g, r) + 1;
                e->f[F_WEAPON] = chance(r, 0.7) ? W_NONE : W_OTHER;
                e->f[F_INJURY] = chance(r, 0.5) ? I_MINOR : I_NONE;
                e->f[F_VAGE] = age_or_absent(g, e->p1, e->occ, r, 0.8);
                if (e->f[F_VAGE] != ABSENT && e->f[F_VAGE] <= 25)
                    e->f[F_VAGE] = ABSENT; /* keep the burst a tasking matter */
                e->f[F_PAGE] = ABSENT;
            }
        }
        if (e) {
            if (site != UINT32_MAX && chance(r, 0.4))
                loc_site(e, site);
            else
                loc_street(e, lsoa);
        }
    }
}

/* ---- the background: one-off contacts in realistic proportions ---------- */

static void background(struct gen *g, struct rng *r)
{
    static const unsigned tw[T__N] = {[T_ASB] = 240, [T_CALL] = 220, [T_DA] = 80,
                                      [T_ARREST] = 100, [T_VIOL] = 90, [T_HATE] = 30,
                                      [T_MISSING] = 40, [T_CONCERN] = 80, [T_REFERRAL] = 5,
                                      [T_CASEUPD] = 45, [T_CRR] = 1};
    enum type t = (enum type)WEIGHTED(r, tw);
    int day = pick_day(g, r, t);
    struct ev *e = NULL;
    switch (t) {
    case T_ASB: {
        static const unsigned cw[] = {35, 45, 20};
        int cat = WEIGHTED(r, cw);
        uint32_t v = cat != 2 && chance(r, 0.7) ? adult(g, r) + 1 : 0;
        e = asb(g, r, asb_source(r), at(g, r, day, H_EVENING), v, cat, v && chance(r, 0.06),
                v && chance(r, 0.015));
        if (e) {
            if (v && chance(r, 0.8))
                loc_home(g, e, v - 1);
            else
                loc_street(e, street_lsoa(g, r));
        }
        break;
    }
    case T_CALL: {
        static const unsigned cw[] = {22, 10, 38, 15, 15};
        e = call(g, chance(r, 0.75) ? S_POLICE : S_COUNCIL, at(g, r, day, H_EVENING),
                 adult(g, r) + 1, WEIGHTED(r, cw));
        if (e && chance(r, 0.6)) {
            if (chance(r, 0.5))
                loc_home(g, e, e->p1 - 1);
            else
                loc_street(e, street_lsoa(g, r));
        }
        break;
    }
    case T_DA: {
        static const unsigned sw[] = {70, 20, 10};
        enum source s = (enum source[]){S_POLICE, S_IDVA, S_HEALTH}[WEIGHTED(r, sw)];
        e = emit(g, T_DA, s, at(g, r, day, H_NIGHT));
        if (!e)
            break;
        e->p1 = adult_upto(g, r, 60) + 1;
        e->p2 = chance(r, 0.75) ? adult_upto(g, r, 55) + 1 : 0;
        if (e->p2 == e->p1)
            e->p2 = 0;
        /* Most incidents score low; about one in twelve is high risk. */
        int dash = chance(r, 0.9) ? (int)(unit(r) * unit(r) * 14.0) : between(r, 12, 24);
        int has = s == S_IDVA || (s == S_POLICE && chance(r, 0.6));
        e->f[F_DASH] = has ? (uint8_t)dash : ABSENT;
        e->f[F_RISK] = has || chance(r, 0.4) ? risk_of(dash) : RISK_NONE;
        e->f[F_KIDS] = chance(r, 0.4) ? (uint8_t)between(r, 1, 2) : 0;
        if (s == S_POLICE)
            loc_home(g, e, e->p1 - 1);
        break;
    }
    case T_ARREST: {
        static const unsigned ow[] = {5, 2, 2, 3, 12, 3, 15, 3, 3, 5, 15, 8, 1, 15, 8};
        int off = WEIGHTED(r, ow);
        uint32_t p = chance(r, 0.15) ? child(g, r, 10) : adult_upto(g, r, 45);
        if (age_at(g, p, 0) < 10)
            p = adult_upto(g, r, 45);
        e = arrest(g, r, at(g, r, day, H_ANY), p + 1, off, street_lsoa(g, r));
        break;
    }
    case T_VIOL: {
        enum source s = chance(r, 0.8) ? S_POLICE : S_HEALTH;
        e = emit(g, T_VIOL, s, at(g, r, day, H_NIGHT));
        if (!e)
            break;
        static const unsigned ww[] = {5, 1, 22, 72};
        static const unsigned iw[] = {28, 63, 9, 0};
        e->f[F_WEAPON] = (uint8_t)WEIGHTED(r, ww);
        e->f[F_INJURY] = (uint8_t)WEIGHTED(r, iw);
        e->p1 = chance(r, 0.8) ? adult_upto(g, r, 60) + 1 : 0;
        e->f[F_VAGE] = age_or_absent(g, e->p1, e->occ, r, 0.9);
        e->p2 = s == S_POLICE && chance(r, 0.6) ? adult_upto(g, r, 45) + 1 : 0;
        if (e->p2 == e->p1)
            e->p2 = 0;
        e->f[F_PAGE] = age_or_absent(g, e->p2, e->occ, r, 0.8);
        e->f[F_GROUP] = s == S_POLICE && chance(r, 0.4) ? (chance(r, 0.2) ? 2 : 1) : 0;
        if (s == S_POLICE || chance(r, 0.3))
            loc_street(e, street_lsoa(g, r));
        break;
    }
    case T_HATE: {
        static const unsigned hw[] = {60, 25, 15};
        e = emit(g, T_HATE, (enum source[]){S_POLICE, S_COUNCIL, S_HOUSING}[WEIGHTED(r, hw)],
                 at(g, r, day, H_EVENING));
        if (!e)
            break;
        static const unsigned sw[] = {45, 20, 15, 12, 5, 3};
        e->f[F_STRAND] = (uint8_t)WEIGHTED(r, sw);
        e->p1 = chance(r, 0.8) ? adult(g, r) + 1 : 0;
        if (e->p1 && chance(r, 0.7))
            loc_home(g, e, e->p1 - 1);
        else
            loc_street(e, street_lsoa(g, r));
        break;
    }
    case T_MISSING: {
        uint32_t c = child(g, r, 10);
        e = emit(g, T_MISSING, chance(r, 0.7) ? S_POLICE : S_CHILDREN, at(g, r, day, H_MISSING));
        if (!e)
            break;
        e->p1 = c + 1;
        uint32_t age = age_at(g, c, e->occ);
        e->f[0] = (uint8_t)(age > 17 ? 17 : age);
        break;
    }
    case T_CONCERN: {
        static const unsigned kw[] = {25, 10, 3, 380, 140, 70, 280};
        int kind = WEIGHTED(r, kw);
        int kid = kind <= K_SEXUAL || (kind == K_OTHER && chance(r, 0.3));
        uint32_t p = kid ? child(g, r, 10) : adult(g, r);
        static const enum source adult_src[] = {S_HEALTH, S_POLICE, S_HOUSING, S_PROBATION,
                                                S_COUNCIL};
        static const enum source kid_src[] = {S_CHILDREN, S_SCHOOL, S_POLICE, S_HEALTH, S_YOUTH};
        enum source s = kid ? kid_src[below(r, 5)] : adult_src[below(r, 5)];
        e = concern(g, r, s, at(g, r, day, H_OFFICE), p + 1, kind);
        break;
    }
    case T_REFERRAL: {
        static const unsigned pw[P__N] = {25, 15, 5, 5, 10, 8, 12, 0, 5, 10};
        static const enum source by[P__N] = {S_IDVA,   S_HOUSING, S_COUNCIL, S_POLICE,
                                             S_PROBATION, S_YOUTH, S_CHILDREN, S_COUNCIL,
                                             S_POLICE, S_PROBATION};
        int p = WEIGHTED(r, pw);
        uint32_t who = p == P_MACE ? child(g, r, 10) : adult(g, r);
        e = referral(g, by[p], at(g, r, day, H_OFFICE), who + 1, (enum panel)p);
        break;
    }
    case T_CASEUPD: {
        static const unsigned pw[P__N] = {25, 15, 15, 5, 12, 8, 8, 4, 2, 6};
        static const unsigned stw[] = {35, 40, 25};
        int p = WEIGHTED(r, pw), st = WEIGHTED(r, stw);
        uint32_t who = p == P_MACE ? child(g, r, 10) : adult(g, r);
        e = case_update(g, at(g, r, day, H_OFFICE), who + 1, (enum panel)p, st,
                        st != ST_CLOSED && chance(r, 0.6) ? between(r, 1, 3) : RISK_NONE);
        break;
    }
    case T_CRR: {
        uint32_t v = adult(g, r);
        e = emit(g, T_CRR, S_COUNCIL, at(g, r, day, H_OFFICE));
        if (e) {
            e->p1 = v + 1;
            e->f[F_SUMMARY] = (uint8_t)(1 + below(r, sizeof crr_summary / sizeof *crr_summary));
            if (chance(r, 0.5))
                loc_home(g, e, v);
        }
        break;
    }
    default:
        break;
    }
}

/* ---- arrival: the order the hub sees ------------------------------------- */

/* Nightly extracts fail now and then (a full disk, an expired password) and
 * the missed nights arrive together when it is fixed. */
static void plan_outages(struct gen *g, struct rng *r)
{
    for (int s = 0; s < S__N; s++)
        for (uint32_t n = 0; n < NIGHTS; n++)
            if (chance(r, 0.02)) {
                uint32_t len = (uint32_t)between(r, 1, 6);
                for (uint32_t k = 0; k < len && n + k < NIGHTS - 1; k++)
                    g->fail[s][n + k] = 1;
                n += len;
            }
}

static uint32_t deliver_night(const struct gen *g, int s, uint32_t night)
{
    while (night < NIGHTS - 1 && g->fail[s][night])
        night++;
    return night * DAY_S + 2 * 3600 + src_info[s].extract_min * 60;
}

static uint32_t arrival(const struct gen *g, struct rng *r, const struct ev *e)
{
    uint32_t day = e->occ / DAY_S;
    switch (src_info[e->src].mode) {
    case D_REALTIME: {
        if (e->type == T_CALL)
            return e->occ + 15 + below(r, 165);
        if (e->type == T_ARREST)
            return e->occ + 600 + below(r, 4 * 3600);
        /* Crimes recorded later: five minutes to twelve hours, a few days. */
        if (chance(r, 0.03))
            return e->occ + (uint32_t)between(r, 1, 14) * DAY_S + below(r, DAY_S);
        return e->occ + (uint32_t)(300.0 * pow(144.0, unit(r)));
    }
    case D_NIGHTLY: {
        uint32_t lag = e->src == S_IDVA ? (uint32_t)between(r, 0, 5)
                       : e->src == S_PROBATION ? (uint32_t)between(r, 0, 2)
                                               : 0;
        return deliver_night(g, e->src, day + 1 + lag);
    }
    case D_WEEKLY: {
        uint32_t night = day + 1;
        while (weekday(g, (int)night) != 0)
            night++;
        return deliver_night(g, e->src, night);
    }
    }
    return e->occ;
}

/* ---- printing ------------------------------------------------------------ */

struct out {
    FILE *f;
    char *buf;
    size_t len, cap;
};

static void out_flush(struct out *o)
{
    if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len)
        die("write failed: %s", strerror(errno));
    o->len = 0;
}

/* Every line is far shorter than this: checked once per line. */
#define LINE_MAX_BYTES 8192
static inline void reserve_line(struct out *o)
{
    if (o->cap - o->len < LINE_MAX_BYTES)
        out_flush(o);
}
static inline void put(struct out *o, const char *s, size_t n)
{
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}
#define PUTL(o, lit) put(o, lit, sizeof(lit) - 1)
static inline void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }
static void put_u(struct out *o, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        o->buf[o->len++] = tmp[--n];
}
static void put_i(struct out *o, int64_t v)
{
    if (v < 0) {
        o->buf[o->len++] = '-';
        v = -v;
    }
    put_u(o, (uint64_t)v, 1);
}
/* Micro-degrees as a decimal with five places. */
static void put_deg(struct out *o, int32_t micro)
{
    int32_t v = micro / 10;
    if (v < 0) {
        o->buf[o->len++] = '-';
        v = -v;
    }
    put_u(o, (uint64_t)(v / 100000), 1);
    o->buf[o->len++] = '.';
    put_u(o, (uint64_t)(v % 100000), 5);
}

static void put_time(const struct gen *g, struct out *o, uint32_t rel, enum clockfmt c,
                     uint64_t h)
{
    int64_t t = g->start + rel;
    int off = c == C_LOCAL && is_bst(g, t) ? 3600 : 0;
    t += off;
    int y;
    unsigned m, d;
    csph_civil_from_days(t / DAY_S, &y, &m, &d);
    unsigned sod = (unsigned)(t % DAY_S);
    put_u(o, (uint64_t)y, 4);
    o->buf[o->len++] = '-';
    put_u(o, m, 2);
    o->buf[o->len++] = '-';
    put_u(o, d, 2);
    o->buf[o->len++] = 'T';
    put_u(o, sod / 3600, 2);
    o->buf[o->len++] = ':';
    put_u(o, sod / 60 % 60, 2);
    o->buf[o->len++] = ':';
    put_u(o, sod % 60, 2);
    if (c == C_UTC_MS) {
        o->buf[o->len++] = '.';
        put_u(o, h % 1000, 3);
    }
    if (c == C_LOCAL)
        puts_(o, off ? "+01:00" : "+00:00");
    else
        o->buf[o->len++] = 'Z';
}

/* What a broken row breaks: one field, chosen per row. */
struct breakage {
    enum defect kind;
    const char *field; /* the field it applies to */
    unsigned variant;
};

static void key(struct out *o, const char *name)
{
    PUTL(o, ",\"");
    puts_(o, name);
    PUTL(o, "\":");
}

static int dropped(const struct breakage *b, const char *name)
{
    return b->kind == B_MISSING_FIELD && strcmp(b->field, name) == 0;
}

static int hits(const struct breakage *b, enum defect k, const char *name)
{
    return b->kind == k && strcmp(b->field, name) == 0;
}

static void person(struct out *o, const struct breakage *b, const char *name, uint32_t p)
{
    if (dropped(b, name))
        return;
    key(o, name);
    if (hits(b, B_BAD_PERSON, name)) {
        static const char *const bad[] = {"\"P 0", "\"P-0", "\"", "\"P#", "\"P-0"};
        static const char *const tail[] = {"\"", "/2\"", "", "\"", " (dup)\""};
        unsigned v = b->variant % 5;
        if (v == 2) { /* empty */
            PUTL(o, "\"\"");
            return;
        }
        puts_(o, bad[v]);
        put_u(o, p, 5);
        puts_(o, tail[v]);
        return;
    }
    PUTL(o, "\"P-");
    put_u(o, p, 6);
    o->buf[o->len++] = '"';
}

static void enum_field(struct out *o, const struct breakage *b, const char *name, const char *v)
{
    if (dropped(b, name))
        return;
    key(o, name);
    o->buf[o->len++] = '"';
    if (hits(b, B_BAD_ENUM, name)) {
        switch (b->variant % 3) {
        case 0: /* a capitalised legacy value: "Personal", "Knife" */
            o->buf[o->len++] = (char)(v[0] - 32);
            puts_(o, v + 1);
            break;
        case 1: /* an agency's own code */
            PUTL(o, "code-");
            put_u(o, b->variant % 97, 2);
            break;
        default: /* trailing space from a spreadsheet */
            puts_(o, v);
            o->buf[o->len++] = ' ';
        }
    } else {
        puts_(o, v);
    }
    o->buf[o->len++] = '"';
}

static void int_field(struct out *o, const struct breakage *b, const char *name, int v, int bad_hi)
{
    if (dropped(b, name))
        return;
    key(o, name);
    if (hits(b, B_BAD_VALUE, name)) {
        if (b->variant % 2) { /* a number sent as text */
            o->buf[o->len++] = '"';
            put_i(o, v);
            o->buf[o->len++] = '"';
        } else { /* out of range */
            put_i(o, bad_hi + (int)(b->variant % 5));
        }
        return;
    }
    put_i(o, v);
}

static void bool_field(struct out *o, const struct breakage *b, const char *name, int v)
{
    key(o, name);
    if (hits(b, B_BAD_VALUE, name))
        puts_(o, b->variant % 2 ? "\"Y\"" : "\"yes\"");
    else
        puts_(o, v ? "true" : "false");
}

static void str_field(struct out *o, const struct breakage *b, const char *name, const char *v)
{
    if (dropped(b, name))
        return;
    key(o, name);
    o->buf[o->len++] = '"';
    puts_(o, v);
    o->buf[o->len++] = '"';
}

static void ward_code(const struct gen *g, struct out *o, uint32_t lsoa)
{
    PUTL(o, ",\"ward\":\"E05");
    put_u(o, g->ward_base + lsoa * g->nward / g->nlsoa, 6);
    o->buf[o->len++] = '"';
}

static void location(const struct gen *g, struct out *o, const struct breakage *b,
                     const struct ev *e, uint64_t h)
{
    if (e->locmode == L_NONE || dropped(b, "location"))
        return;
    key(o, "location");
    if (hits(b, B_BAD_VALUE, "location")) {
        switch (b->variant % 3) {
        case 0: PUTL(o, "{\"lsoa\":\"E1000916\"}"); return;        /* a digit short */
        case 1: PUTL(o, "{\"description\":\"rear of the shops\"}"); return; /* no place */
        default: PUTL(o, "{\"lat\":51.50712}"); return;             /* lat without lon */
        }
    }
    uint32_t lsoa;
    o->buf[o->len++] = '{';
    if (e->locmode == L_ADDR || e->locmode == L_SITE) {
        uint64_t uprn;
        if (e->locmode == L_ADDR) {
            lsoa = g->addr_lsoa[e->loc];
            uprn = g->uprn_base + (uint64_t)e->loc * 13 + mix(e->loc) % 13;
        } else {
            lsoa = g->site_lsoa[e->loc];
            uprn = g->site_base + (uint64_t)e->loc * 17;
        }
        PUTL(o, "\"id\":\"UPRN-");
        put_u(o, uprn, 12);
        PUTL(o, "\",\"lsoa\":\"E01");
        put_u(o, g->lsoa_code[lsoa], 6);
        o->buf[o->len++] = '"';
        if (e->src == S_COUNCIL || e->src == S_HOUSING)
            ward_code(g, o, lsoa);
        if (e->locmode == L_SITE) {
            PUTL(o, ",\"description\":\"");
            puts_(o, site_desc[e->loc % (sizeof site_desc / sizeof *site_desc)]);
            o->buf[o->len++] = '"';
        }
    } else {
        /* A street point near the LSOA's centre, as the police map it. */
        lsoa = e->loc;
        PUTL(o, "\"lsoa\":\"E01");
        put_u(o, g->lsoa_code[lsoa], 6);
        PUTL(o, "\",\"lat\":");
        put_deg(o, g->lsoa_lat[lsoa] + (int32_t)(h >> 8 & 0xfff) - 2048);
        PUTL(o, ",\"lon\":");
        put_deg(o, g->lsoa_lon[lsoa] + (int32_t)(h >> 20 & 0x1fff) - 4096);
        if (e->src != S_POLICE)
            ward_code(g, o, lsoa);
    }
    if (hits(b, B_UNKNOWN_FIELD, "location")) {
        PUTL(o, ",\"postcode\":\"NE4 7");
        o->buf[o->len++] = (char)('A' + b->variant % 26);
        PUTL(o, "Q\"");
    }
    o->buf[o->len++] = '}';
}

/* Fields an agency's extract might carry that no schema allows. */
static const char *const unknown_field[][2] = {
    {"dob", "\"1987-04-12\""},           {"crime_ref", "\"NB/12345/25\""},
    {"officer_id", "4471"},             {"notes", "\"see attached\""},
    {"ethnicity", "\"W1\""},            {"Victim", "\"P-000001\""},
    {"risk_score", "12"},               {"nhs_number", "\"0000000000\""},
};

/* Decide what a broken row breaks, from its hash: the field must be one the
 * row has, and the defect one the hub rejects with bad_event. */
static struct breakage breakage_for(const struct ev *e, uint64_t h)
{
    struct breakage b = {(enum defect)e->broken, "", (unsigned)(h >> 32)};
    switch (b.kind) {
    case B_UNKNOWN_FIELD:
        b.field = e->locmode != L_NONE && h % 4 == 0 ? "location" : "";
        break;
    case B_BAD_ENUM: {
        static const char *const f[T__N] = {"category", "category", "risk", "offence", "weapon",
                                            "strand", "", "kind", "panel", "status", ""};
        b.field = f[e->type];
        if (!*b.field || (e->type == T_DA && e->f[F_RISK] == RISK_NONE))
            b.kind = B_BAD_TIME;
        break;
    }
    case B_BAD_PERSON:
        b.field = type_person[e->type];
        break;
    case B_MISSING_FIELD: {
        static const char *const f[T__N][2] = {
            {"location", "category"}, {"caller", "category"}, {"victim", "victim"},
            {"subject", "offence"},   {"weapon", "injury"},   {"location", "strand"},
            {"subject", "age"},       {"subject", "kind"},    {"panel", "reason"},
            {"panel", "status"},      {"applicant", "summary"}};
        unsigned v = (unsigned)(h % 6);
        b.field = v == 4 ? "occurred_at" : v == 5 ? "id" : f[e->type][v & 1];
        break;
    }
    case B_BAD_VALUE: {
        static const char *const f[T__N] = {"vulnerable", "location", "dash_score", "age",
                                            "victim_age", "location", "age", "",
                                            "",           "",         "location"};
        b.field = f[e->type];
        if (!*b.field || (strcmp(b.field, "location") == 0 && e->locmode == L_NONE) ||
            (e->type == T_DA && e->f[F_DASH] == ABSENT) ||
            (e->type == T_ARREST && e->f[F_AGE] == 0) ||
            (e->type == T_VIOL && e->f[F_VAGE] == ABSENT)) {
            b.kind = B_UNKNOWN_FIELD;
            b.field = "";
        }
        break;
    }
    default:
        break;
    }
    return b;
}

static void print_event(const struct gen *g, struct out *o, const struct ev *e, uint32_t idx)
{
    uint64_t h = mix(idx ^ 0x5eedULL);
    struct breakage b = {B_NONE, "", 0};
    if (e->broken)
        b = breakage_for(e, h);
    reserve_line(o);
    o->buf[o->len++] = '{';
    if (!dropped(&b, "id")) {
        PUTL(o, "\"id\":\"");
        const char *prefix = src_info[e->src].prefix;
        if (e->src == S_POLICE)
            prefix = e->type == T_CALL ? "CAD" : e->type == T_ARREST ? "CUS" : "OCC";
        puts_(o, prefix);
        o->buf[o->len++] = '-';
        put_u(o, (uint64_t)(g->year0 % 100), 2);
        o->buf[o->len++] = '-';
        put_u(o, e->ref, 7);
        PUTL(o, "\",");
    }
    PUTL(o, "\"type\":\"");
    puts_(o, type_name[e->type]);
    PUTL(o, "\",\"source\":\"");
    puts_(o, source_name[e->src]);
    o->buf[o->len++] = '"';
    if (!dropped(&b, "occurred_at")) {
        PUTL(o, ",\"occurred_at\":");
        if (b.kind == B_BAD_TIME) {
            int64_t t = g->start + e->occ;
            int y;
            unsigned m, d, sod = (unsigned)(t % DAY_S);
            csph_civil_from_days(t / DAY_S, &y, &m, &d);
            char tmp[64];
            switch (b.variant % 6) {
            case 0: /* a space for the T */
                snprintf(tmp, sizeof tmp, "\"%04d-%02u-%02u %02u:%02u:%02u\"", y, m, d,
                         sod / 3600, sod / 60 % 60, sod % 60);
                break;
            case 1: /* a British spreadsheet date */
                snprintf(tmp, sizeof tmp, "\"%02u/%02u/%04d %02u:%02u\"", d, m, y, sod / 3600,
                         sod / 60 % 60);
                break;
            case 2: /* no offset */
                snprintf(tmp, sizeof tmp, "\"%04d-%02u-%02uT%02u:%02u:%02u\"", y, m, d,
                         sod / 3600, sod / 60 % 60, sod % 60);
                break;
            case 3: /* a day that does not exist */
                snprintf(tmp, sizeof tmp, "\"%04d-%s:%02u:00Z\"", y,
                         m <= 6 ? "02-30T10" : "09-31T22", sod / 60 % 60);
                break;
            case 4: /* the date only */
                snprintf(tmp, sizeof tmp, "\"%04d-%02u-%02u\"", y, m, d);
                break;
            default: /* Unix seconds */
                snprintf(tmp, sizeof tmp, "%" PRId64, t);
            }
            puts_(o, tmp);
        } else {
            o->buf[o->len++] = '"';
            put_time(g, o, e->occ, src_info[e->src].clock, h);
            o->buf[o->len++] = '"';
        }
    }
    switch ((enum type)e->type) {
    case T_ASB:
        if (e->p1)
            person(o, &b, "victim", e->p1);
        location(g, o, &b, e, h);
        enum_field(o, &b, "category", asb_cat[e->f[F_CAT]]);
        if (e->f[F_HATE])
            bool_field(o, &b, "hate", e->f[F_HATE] == 2);
        if (e->f[F_VULN] || hits(&b, B_BAD_VALUE, "vulnerable"))
            bool_field(o, &b, "vulnerable", e->f[F_VULN] == 2);
        if (e->f[F_SUMMARY])
            str_field(o, &b, "summary", asb_summary[e->f[F_SUMMARY] - 1]);
        break;
    case T_CALL:
        person(o, &b, "caller", e->p1);
        location(g, o, &b, e, h);
        enum_field(o, &b, "category", call_cat[e->f[F_CAT]]);
        break;
    case T_DA:
        person(o, &b, "victim", e->p1);
        if (e->p2)
            person(o, &b, "perpetrator", e->p2);
        if (e->f[F_DASH] != ABSENT)
            int_field(o, &b, "dash_score", e->f[F_DASH], 28);
        if (e->f[F_RISK])
            enum_field(o, &b, "risk", risk_name[e->f[F_RISK]]);
        if (e->f[F_KIDS])
            bool_field(o, &b, "children_present", e->f[F_KIDS] == 2);
        location(g, o, &b, e, h);
        break;
    case T_ARREST:
        person(o, &b, "subject", e->p1);
        if (e->f[F_AGE])
            int_field(o, &b, "age", e->f[F_AGE], 121);
        enum_field(o, &b, "offence", offence_name[e->f[F_OFFENCE]]);
        location(g, o, &b, e, h);
        break;
    case T_VIOL:
        if (e->p1)
            person(o, &b, "victim", e->p1);
        if (e->f[F_VAGE] != ABSENT)
            int_field(o, &b, "victim_age", e->f[F_VAGE], 121);
        if (e->p2)
            person(o, &b, "perpetrator", e->p2);
        if (e->f[F_PAGE] != ABSENT)
            int_field(o, &b, "perpetrator_age", e->f[F_PAGE], 121);
        enum_field(o, &b, "weapon", weapon_name[e->f[F_WEAPON]]);
        enum_field(o, &b, "injury", injury_name[e->f[F_INJURY]]);
        if (e->f[F_GROUP])
            bool_field(o, &b, "group", e->f[F_GROUP] == 2);
        location(g, o, &b, e, h);
        break;
    case T_HATE:
        if (e->p1)
            person(o, &b, "victim", e->p1);
        location(g, o, &b, e, h);
        enum_field(o, &b, "strand", strand_name[e->f[F_STRAND]]);
        break;
    case T_MISSING:
        person(o, &b, "subject", e->p1);
        int_field(o, &b, "age", e->f[0], 18);
        break;
    case T_CONCERN:
        person(o, &b, "subject", e->p1);
        enum_field(o, &b, "kind", kind_name[e->f[F_KIND]]);
        if (e->f[F_SUMMARY])
            str_field(o, &b, "summary", concern_summary[e->f[F_SUMMARY] - 1]);
        break;
    case T_REFERRAL:
        person(o, &b, "subject", e->p1);
        enum_field(o, &b, "panel", panel_name[e->f[F_PANEL]]);
        str_field(o, &b, "reason", referral_reason[e->f[F_PANEL]]);
        break;
    case T_CASEUPD:
        person(o, &b, "subject", e->p1);
        enum_field(o, &b, "panel", panel_name[e->f[F_PANEL]]);
        if (e->f[F_RISK])
            enum_field(o, &b, "risk", risk_name[e->f[F_RISK]]);
        enum_field(o, &b, "status", status_name[e->f[F_STATUS]]);
        break;
    case T_CRR:
        person(o, &b, "applicant", e->p1);
        location(g, o, &b, e, h);
        str_field(o, &b, "summary", crr_summary[e->f[F_SUMMARY] - 1]);
        break;
    default:
        break;
    }
    if (b.kind == B_UNKNOWN_FIELD && !*b.field) {
        unsigned v = b.variant % (sizeof unknown_field / sizeof *unknown_field);
        key(o, unknown_field[v][0]);
        puts_(o, unknown_field[v][1]);
    }
    PUTL(o, "}\n");
}

/* ---- the borough --------------------------------------------------------- */

static void build_borough(struct gen *g, struct rng *r)
{
    /* LSOA codes come in runs per local authority: a block of E01 codes,
     * and for a larger area a few blocks. */
    g->lsoa_code = xcalloc(g->nlsoa, sizeof *g->lsoa_code);
    g->lsoa_lat = xcalloc(g->nlsoa, sizeof *g->lsoa_lat);
    g->lsoa_lon = xcalloc(g->nlsoa, sizeof *g->lsoa_lon);
    int gaps = g->nlsoa <= 15000; /* room for gaps within E01000001..E01035999 */
    uint32_t room = 35000 - (gaps ? 2 * g->nlsoa : g->nlsoa);
    uint32_t code = 1000 + below(r, room > 1 ? room : 1);
    for (uint32_t i = 0; i < g->nlsoa; i++) {
        code += gaps && chance(r, 0.1) ? 2 : 1;
        g->lsoa_code[i] = code;
    }
    /* LSOAs on a rough grid around a town centre, about 400 m apart. */
    int32_t lat0 = 50800000 + (int32_t)below(r, 4000000), lon0 = -2900000 + (int32_t)below(r, 3000000);
    uint32_t side = (uint32_t)ceil(sqrt((double)g->nlsoa));
    for (uint32_t i = 0; i < g->nlsoa; i++) {
        g->lsoa_lat[i] = lat0 + (int32_t)(i / side) * 3600 + (int32_t)below(r, 1500);
        g->lsoa_lon[i] = lon0 + (int32_t)(i % side) * 5800 + (int32_t)below(r, 2500);
    }
    g->ward_base = 1000 + below(r, 60000);
    g->nhot = g->nlsoa / 40 > 2 ? g->nlsoa / 40 : 2;
    if (g->nhot > g->nlsoa)
        g->nhot = g->nlsoa;
    g->hot = xcalloc(g->nhot, sizeof *g->hot);
    for (uint32_t i = 0; i < g->nhot; i++)
        g->hot[i] = below(r, g->nlsoa);
    double *w = xcalloc(g->nlsoa, sizeof *w);
    for (uint32_t i = 0; i < g->nlsoa; i++) {
        double u1 = unit(r), u2 = unit(r);
        double z = sqrt(-2.0 * log(u1 > 0 ? u1 : 1e-300)) * cos(6.283185307179586 * u2);
        w[i] = exp(0.6 * z);
    }
    for (uint32_t i = 0; i < g->nhot; i++)
        w[g->hot[i]] *= 2.5;
    g->lsoa_cum = xcalloc(g->nlsoa, sizeof *g->lsoa_cum);
    double acc = 0;
    for (uint32_t i = 0; i < g->nlsoa; i++)
        g->lsoa_cum[i] = acc += w[i];
    free(w);
    g->naddr = g->npeople / 2 + 1;
    g->addr_lsoa = xcalloc(g->naddr, sizeof *g->addr_lsoa);
    for (uint32_t i = 0; i < g->naddr; i++)
        g->addr_lsoa[i] = below(r, g->nlsoa);
    g->uprn_base = 100000000000ULL + (uint64_t)below(r, 90000) * 1000000ULL;
    g->site_base = 200000000000ULL + (uint64_t)below(r, 90000) * 1000000ULL;
    g->nsite = g->nlsoa / 5 > 4 ? g->nlsoa / 5 : 4;
    g->site_lsoa = xcalloc(g->nsite, sizeof *g->site_lsoa);
    for (uint32_t i = 0; i < g->nsite; i++)
        g->site_lsoa[i] = i < g->nhot ? g->hot[i] : below(r, g->nlsoa);
    g->nward = g->nlsoa / 8 ? g->nlsoa / 8 : 1;
}

static void build_people(struct gen *g, struct rng *r)
{
    uint32_t n = g->npeople;
    g->birth = xcalloc(n, sizeof *g->birth);
    g->home = xcalloc(n, sizeof *g->home);
    g->perm = xcalloc(n, sizeof *g->perm);
    for (uint32_t i = 0; i < n; i++)
        g->perm[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = below(r, i + 1), t = g->perm[i];
        g->perm[i] = g->perm[j];
        g->perm[j] = t;
    }
    for (uint32_t i = 0; i < n; i++)
        g->home[i] = below(r, g->naddr);
    /* Background pools after the scenario reservation: a fifth children. */
    uint32_t rest = n - g->reserved;
    g->child0 = g->reserved;
    g->child1 = g->child0 + rest / 5;
    g->adult0 = g->child1;
    g->adult1 = n;
    for (uint32_t k = g->child0; k < g->child1; k++)
        set_age(g, r, g->perm[k], between(r, 0, 16));
    static const unsigned aw[] = {14, 18, 17, 16, 14, 11, 7, 3}; /* 18-24, 25-34, ... 85+ */
    static const int lo[] = {18, 25, 35, 45, 55, 65, 75, 85}, hi[] = {24, 34, 44, 54, 64, 74, 84, 95};
    for (uint32_t k = g->adult0; k < g->adult1; k++) {
        int band = WEIGHTED(r, aw);
        set_age(g, r, g->perm[k], between(r, lo[band], hi[band]));
    }
    for (uint32_t k = 0; k < g->reserved; k++) /* overwritten by the scenario */
        set_age(g, r, g->perm[k], 40);
}

/* ---- main ---------------------------------------------------------------- */

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

static int cmp_key(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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
    g.start = o.start;
    g.start_day = (int)(o.start / DAY_S);
    int yy;
    unsigned mm, dd;
    csph_civil_from_days(g.start_day, &yy, &mm, &dd);
    g.year0 = yy;
    for (int i = 0; i < 3; i++) {
        g.bst_on[i] = last_sunday_0100(yy + i, 3);
        g.bst_off[i] = last_sunday_0100(yy + i, 10);
    }
    g.nlsoa = o.lsoas ? o.lsoas
                      : (uint32_t)(o.events / 250 < 120 ? 120
                                   : o.events / 250 > 30000 ? 30000 : o.events / 250);
    g.npeople = o.people ? o.people : (uint32_t)(o.events / 4 < 2000 ? 2000
                                                 : o.events / 4 > 50000000 ? 50000000
                                                                           : o.events / 4);

    /* The lines: broken and resent ones exactly to their shares, the rest
     * valid events. */
    size_t total = (size_t)o.events;
    size_t nbroken = (size_t)llround((double)total * o.broken_pct / 100.0);
    size_t ndup = (size_t)llround((double)total * o.dup_pct / 100.0);
    if (nbroken + ndup >= total)
        die("--broken-pct and --dup-pct leave no valid events in %zu lines", total);
    g.nvalid = total - nbroken - ndup;
    g.ev = xcalloc(total, sizeof *g.ev);

    /* Scenario instances scale with the feed, with a floor from 2,000
     * events up so that even a small file reaches every panel, and never
     * take more than half the people or 60% of the events. */
    unsigned count[SC__N];
    uint64_t need = 0;
    for (int s = 0; s < SC__N; s++) {
        uint64_t n = (uint64_t)g.nvalid * sc_info[s].per_10k / 10000;
        if (g.nvalid >= 2000 && n < sc_info[s].min)
            n = sc_info[s].min;
        count[s] = (unsigned)n;
        need += n * sc_info[s].people;
    }
    if (need > g.npeople / 2) {
        double f = (double)(g.npeople / 2) / (double)need;
        need = 0;
        for (int s = 0; s < SC__N; s++) {
            if (sc_info[s].people)
                count[s] = (unsigned)(count[s] * f);
            need += (uint64_t)count[s] * sc_info[s].people;
        }
    }
    g.reserved = (uint32_t)need;
    g.scen_cap = g.nvalid * 6 / 10;

    struct rng r;
    rng_seed(&r, o.seed, 1);
    build_borough(&g, &r);
    rng_seed(&r, o.seed, 2);
    build_people(&g, &r);

    /* Scenarios, interleaved by kind so that a cap cuts all kinds evenly;
     * instance 0 of each kind is the textbook case that meets every
     * threshold it is about. */
    rng_seed(&r, o.seed, 3);
    unsigned most = 0;
    for (int s = 0; s < SC__N; s++)
        most = count[s] > most ? count[s] : most;
    size_t saved_nvalid = g.nvalid;
    g.nvalid = g.scen_cap;
    for (unsigned i = 0; i < most; i++)
        for (int s = 0; s < SC__N; s++) {
            if (i >= count[s] || g.nev >= g.scen_cap)
                continue;
            size_t before = g.nev;
            int forced = i == 0;
            switch ((enum scenario)s) {
            case SC_ASB_REPEAT: sc_asb_repeat(&g, &r, forced); break;
            case SC_ASB_LOCATION: sc_asb_location(&g, &r, forced, i); break;
            case SC_DA: sc_da(&g, &r, forced); break;
            case SC_YOUTH: sc_youth(&g, &r, forced, i); break;
            case SC_MISSING: sc_missing(&g, &r, forced); break;
            case SC_HATE: sc_hate(&g, &r, forced); break;
            case SC_PREVENT: sc_prevent(&g, &r, forced); break;
            case SC_IOM: sc_iom(&g, &r, forced); break;
            case SC_HOTSPOT: sc_hotspot(&g, &r, forced, i); break;
            default: break;
            }
            g.scen_count[s]++;
            g.scen_events[s] += g.nev - before;
        }
    g.nvalid = saved_nvalid;
    size_t nscen = g.nev;

    rng_seed(&r, o.seed, 4);
    while (g.nev < g.nvalid)
        background(&g, &r);

    /* Broken rows: background events with one defect each. */
    rng_seed(&r, o.seed, 5);
    g.nvalid = g.nvalid + nbroken;
    static const unsigned bw[B__N] = {0, 22, 18, 20, 15, 17, 8};
    size_t broken_by[B__N] = {0};
    while (g.nev < g.nvalid) {
        size_t at_ = g.nev;
        background(&g, &r);
        if (g.nev == at_)
            continue;
        struct ev *e = &g.ev[at_];
        e->broken = (uint8_t)WEIGHTED(&r, bw);
        /* A broken person or value needs the field there to break. */
        if (!e->p1)
            e->p1 = adult(&g, &r) + 1;
    }
    size_t nvalid = g.nvalid - nbroken;

    /* When each reaches the hub. */
    rng_seed(&r, o.seed, 6);
    plan_outages(&g, &r);
    size_t late = 0;
    uint32_t latest = 0;
    for (size_t i = 0; i < g.nev; i++) {
        struct ev *e = &g.ev[i];
        e->arr = arrival(&g, &r, e);
        uint32_t lag = e->arr - e->occ;
        if (lag > 2 * DAY_S)
            late++;
        if (lag > latest)
            latest = lag;
    }
    /* Resends: the same line again, seconds later (a client that timed
     * out) or the next night (an extract sent twice). */
    rng_seed(&r, o.seed, 7);
    for (size_t k = 0; k < ndup; k++) {
        uint32_t orig = (uint32_t)below(&r, (uint32_t)nvalid);
        struct ev *e = &g.ev[g.nev++];
        *e = g.ev[orig];
        e->resend = 1;
        e->ref = orig;
        e->arr = g.ev[orig].arr +
                 (src_info[e->src].mode == D_REALTIME || chance(&r, 0.7) ? 5 + below(&r, 600)
                                                                         : DAY_S);
    }

    /* Arrival order; within one nightly extract, by time of occurrence. */
    uint64_t *keys = xcalloc(g.nev * 2, sizeof *keys);
    for (size_t i = 0; i < g.nev; i++) {
        keys[2 * i] = (uint64_t)g.ev[i].arr << 32 | g.ev[i].occ;
        keys[2 * i + 1] = i;
    }
    qsort(keys, g.nev, 2 * sizeof *keys, cmp_key);
    double t_gen = now_s() - t0;

    FILE *f = stdout;
    if (o.output && !(f = fopen(o.output, "w")))
        die("cannot write %s: %s", o.output, strerror(errno));
    struct out out = {f, malloc(1 << 20), 0, 1 << 20};
    if (!out.buf)
        die("out of memory");
    uint32_t next_id[S__N];
    for (int s = 0; s < S__N; s++)
        next_id[s] = 1000 + (uint32_t)(mix(o.seed + (uint64_t)s) % 50000);
    size_t by_type[T__N] = {0}, by_src[S__N] = {0};
    for (size_t k = 0; k < g.nev; k++) {
        uint32_t i = (uint32_t)keys[2 * k + 1];
        struct ev *e = &g.ev[i];
        if (e->resend) {
            print_event(&g, &out, &g.ev[e->ref], e->ref);
            continue;
        }
        e->ref = next_id[e->src]++;
        print_event(&g, &out, e, i);
        if (e->broken) {
            broken_by[e->broken]++;
        } else {
            by_type[e->type]++;
            by_src[e->src]++;
        }
    }
    out_flush(&out);
    if (f != stdout ? fclose(f) != 0 : fflush(f) != 0)
        die("write failed: %s", strerror(errno));
    double t_all = now_s() - t0;

    if (o.stats) {
        FILE *s = stderr;
        fprintf(s, "csphub-gen: seed %" PRIu64 ", %zu lines from %04d-%02u-%02u for 365 days, "
                   "%u LSOAs (%u hotspots), %u people\n",
                o.seed, total, yy, mm, dd, g.nlsoa, g.nhot, g.npeople);
        fprintf(s, "  valid events  %10zu  (%zu from scenarios, %zu background)\n", nvalid, nscen,
                nvalid - nscen);
        for (int t = 0; t < T__N; t++)
            fprintf(s, "    %-20s %9zu\n", type_name[t], by_type[t]);
        fprintf(s, "  by source\n");
        for (int t = 0; t < S__N; t++)
            fprintf(s, "    %-20s %9zu\n", source_name[t], by_src[t]);
        fprintf(s, "  scenarios (instances, events)\n");
        for (int t = 0; t < SC__N; t++)
            fprintf(s, "    %-34s %6u %8zu\n", sc_info[t].name, g.scen_count[t],
                    g.scen_events[t]);
        fprintf(s, "  textbook cases, one per scenario: each meets every threshold it is about\n");
        for (int t = 0; t < SC__N; t++) {
            if (!g.scen_count[t])
                continue;
            if (t == SC_ASB_LOCATION)
                fprintf(s, "    %-34s UPRN-%012" PRIu64 " (%s)\n", sc_info[t].name,
                        g.site_base + (uint64_t)g.textbook[t] * 17,
                        site_desc[g.textbook[t] % (sizeof site_desc / sizeof *site_desc)]);
            else if (t == SC_HOTSPOT)
                fprintf(s, "    %-34s LSOA E01%06u\n", sc_info[t].name,
                        g.lsoa_code[g.textbook[t]]);
            else
                fprintf(s, "    %-34s P-%06u\n", sc_info[t].name, g.textbook[t]);
        }
        fprintf(s, "  late arrivals  %9zu  (more than 2 days after they occurred; latest %u days)\n",
                late, latest / DAY_S);
        fprintf(s, "  resends        %9zu  (%.2f%%: exact duplicate lines)\n", ndup,
                100.0 * (double)ndup / (double)total);
        fprintf(s, "  broken rows    %9zu  (%.2f%%: the hub must reject them)\n", nbroken,
                100.0 * (double)nbroken / (double)total);
        for (int b = 1; b < B__N; b++)
            fprintf(s, "    %-24s %7zu\n", defect_name[b], broken_by[b]);
        fprintf(s, "  time           %.2f s (%.2f s generating), %.0f lines/s\n", t_all, t_gen,
                (double)total / (t_all > 0 ? t_all : 1e-9));
    }
    free(keys);
    free(out.buf);
    return 0;
}
