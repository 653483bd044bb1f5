/* csphub-gen's scenarios: the cases each panel exists for (repeat ASB
 * victims, escalating domestic abuse, youth knife crime, missing children,
 * repeat hate, Prevent, prolific offenders, hotspots), planted in the
 * background at a rate that scales with the feed. Instance 0 of each kind
 * is the textbook case, which meets every threshold it is about; its
 * person or place is kept in g->textbook. */
#ifndef CSPH_BENCH_GEN_SCENARIOS_H
#define CSPH_BENCH_GEN_SCENARIOS_H

struct gen;
struct rng;

enum scenario { SC_ASB_REPEAT, SC_ASB_LOCATION, SC_DA, SC_YOUTH, SC_MISSING, SC_HATE, SC_PREVENT,
                SC_IOM, SC_HOTSPOT, SC__N };

struct scenario_info {
    const char *name;
    unsigned per_10k; /* instances per 10,000 valid events */
    unsigned min;     /* at least this many from 2,000 events up */
    unsigned people;  /* people one instance takes, at most */
};
extern const struct scenario_info sc_info[SC__N];

/* How many instances of each kind (count) from g->nvalid and g->npeople;
 * sets the people they reserve (g->reserved) and the events they may use
 * (g->scen_cap). Before build_people, which keeps the reserved apart. */
void scenarios_plan(struct gen *g, unsigned count[SC__N]);

/* Plants count[s] instances of each kind; tallies g->scen_count and
 * g->scen_events. */
void scenarios_run(struct gen *g, struct rng *r, const unsigned count[SC__N]);

#endif
