/* What the parts of csphub-gen share: the event as it is planned (struct
 * ev), the run's options and the one struct gen that holds the borough,
 * its people and the events. Private to bench/gen*.c. Each part's
 * functions are in its own header: gen_calendar.h (the year and its
 * clock), gen_people.h, gen_borough.h, gen_events.h (one event of each
 * type), gen_scenarios.h, gen_background.h, gen_delivery.h (arrival),
 * gen_writer.h (JSON lines and broken rows). */
#ifndef CSPH_BENCH_GENPRIV_H
#define CSPH_BENCH_GENPRIV_H

#include <stddef.h>
#include <stdint.h>

#include "gen_calendar.h"
#include "gen_rng.h"
#include "gen_scenarios.h"
#include "vocab.h" /* the types, agencies, panels and values, shared with csphub-bench */

/* Nights of delivery kept per source: the year and a margin for late ones. */
#define NIGHTS (YEAR_DAYS + 64u)

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

/* The defect of a broken row (ev.broken): broken_rows() picks it, the
 * writer makes it; each one the hub rejects with bad_event. */
enum defect { B_NONE, B_UNKNOWN_FIELD, B_BAD_ENUM, B_BAD_TIME, B_BAD_PERSON, B_MISSING_FIELD,
              B_BAD_VALUE, B__N };

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
    struct calendar cal;

    /* The borough (gen_borough.c). */
    uint32_t nlsoa, nward, naddr, nsite, nhot, npeople;
    uint32_t ward_base;
    uint32_t *lsoa_code;            /* E01 + six digits */
    int32_t *lsoa_lat, *lsoa_lon;   /* centroids in micro-degrees */
    uint32_t *addr_lsoa;
    uint64_t uprn_base, site_base;
    uint32_t *site_lsoa;
    uint32_t *hot;                  /* hotspot LSOAs */
    double *lsoa_cum;               /* cumulative street-crime weights */
    /* Its people (gen_people.c). */
    int32_t *birth;                 /* day of birth, days since 1970 */
    uint32_t *home;                 /* address of each person */
    uint32_t *perm;                 /* people in the order scenarios take them */
    uint32_t taken, reserved;       /* scenario people: perm[0, reserved) */
    uint32_t child0, child1, adult0, adult1; /* background pools: perm ranges */
    /* Delivery (gen_delivery.c). */
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

/* Prints "csphub-gen: " and the message to standard error, exits 2. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* calloc that dies when memory runs out; never returns NULL. */
void *xcalloc(size_t n, size_t size);

#endif
