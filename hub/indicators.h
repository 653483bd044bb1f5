/* indicators.h: the partnership's indicators and areas (config/indicators.yaml,
 * config/areas.yaml, docs/reports.md) as plain data, for the report module.
 *
 * An indicator is one figure a committee paper shows by month: what it
 * counts (a measure over the log: events, alerts, distinct alert keys,
 * decisions, people over a threshold, a ratio of two others, decisions in
 * time, days to a decision), its baseline, target or band, which way is
 * good and the amber margin. An area is a named list of LSOA codes and
 * ward names.
 *
 * Loaded once, validated with "file:line: what is wrong", never changed. */
#ifndef CSPH_INDICATORS_H
#define CSPH_INDICATORS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

struct hub_schemas;
struct hub_rules;

#define CSPH_IND_MAX_TYPES 8
#define CSPH_IND_MAX_TESTS 8
#define CSPH_IND_MAX_VALUES 8
#define CSPH_IND_MAX_RULES 16

#define CSPH_IND_MEASURE_MAP(X)                                                \
    X(EVENTS, "events")                                                        \
    X(ALERTS, "alerts")                                                        \
    X(ALERT_KEYS, "alert_keys")                                                \
    X(DECISIONS, "decisions")                                                  \
    X(PEOPLE, "people")                                                        \
    X(RATIO, "ratio")                                                          \
    X(IN_TIME, "decided_in_time")                                              \
    X(DAYS, "days_to_decision")                                                \
    X(CASE_ENTRIES, "case_entries")                                            \
    X(CASE_EXITS, "case_exits")                                                \
    X(ACTIONS_ON_TIME, "actions_on_time")                                      \
    X(REVIEWS_ON_TIME, "reviews_on_time")

enum hub_ind_measure {
#define CSPH_IND_ENUM(name, str) CSPH_IND_##name,
    CSPH_IND_MEASURE_MAP(CSPH_IND_ENUM)
#undef CSPH_IND_ENUM
    CSPH_IND__COUNT
};
const char *hub_ind_measure_name(enum hub_ind_measure m);

/* A test on one field of an event: equal to one of values (strings,
 * numbers or booleans written as YAML scalars) or within [min, max]. */
struct hub_ind_test {
    char field[64]; /* dotted path: category, location.lsoa */
    int range;      /* 1: min/max; 0: values */
    int64_t min, max;
    char values[CSPH_IND_MAX_VALUES][65];
    size_t nvalues;
};

/* Which events count (events, people): a type, the field naming the person
 * (people), and tests that must all hold. */
struct hub_ind_type {
    char type[65];
    char person[64];
    struct hub_ind_test tests[CSPH_IND_MAX_TESTS];
    size_t ntests;
};

enum hub_ind_unit { CSPH_UNIT_COUNT, CSPH_UNIT_PERCENT, CSPH_UNIT_DAYS };
const char *hub_ind_unit_name(enum hub_ind_unit u);

struct hub_indicator {
    char name[65];
    char title[161];
    enum hub_ind_measure measure;
    enum hub_ind_unit unit;
    struct hub_ind_type types[CSPH_IND_MAX_TYPES]; /* events, people */
    size_t ntypes;
    int panel; /* alerts, decisions: config panel index, -1 any */
    char rules[CSPH_IND_MAX_RULES][65];
    size_t nrules; /* 0: any rule of the panel */
    unsigned statuses; /* decisions: bit per enum hub_alert_status */
    /* case_exits: the outcomes counted (none: any); case measures: panel
     * -1 is every panel (reportcase.h) */
    char outcomes[CSPH_IND_MAX_VALUES][33];
    size_t noutcomes;
    int64_t at_least, within_days; /* people */
    int num, den; /* ratio: indices of two count indicators */
    int good;     /* +1 higher is better, -1 lower is better, 0 neither */
    int has_baseline, has_target, has_band;
    double baseline, target, band_lo, band_hi, amber;
    int line; /* in the file, for messages */
    int left_out; /* while loading: a shipped indicator on a panel not configured */
};

struct hub_area {
    char name[65];
    char title[129];
    char (*lsoa)[16];
    size_t nlsoa;
    char (*wards)[65];
    size_t nwards;
};

struct hub_indicators {
    struct hub_indicator *v;
    size_t n;
    int64_t suppress_below; /* counts under this are shown as "<N" to suppressed readers */
    struct hub_area *areas;
    size_t nareas;
    char digest[17]; /* of both files' bytes, hex: a report names what it was computed from */
};

/* Load the indicator file and (areas_path not "") the area file. cfg gives
 * the panels; schemas (may be NULL) checks every type and field named.
 * CSPH_ERR_CONFIG "file:line: ..." or CSPH_ERR_IO. Free with
 * hub_indicators_free (also after a failure).
 * rules (may be NULL: not checked) names the rules an indicator may count.
 * cfg->indicators_shipped: the file is the source tree's, written for the
 * shipped panels and rules; an indicator on a panel or rule this hub does
 * not have (and a ratio built on one) is left out with a warning in the
 * log instead of refusing the start (a hub with its own panels or rules). */
enum hub_err hub_indicators_load(struct hub_indicators *out, const char *path,
                                 const char *areas_path, const struct hub_config *cfg,
                                 const struct hub_schemas *schemas,
                                 const struct hub_rules *rules, struct hub_error *err);
void hub_indicators_free(struct hub_indicators *ind);

/* The indicator or area named name (len bytes), or -1. */
int hub_indicators_find(const struct hub_indicators *ind, const char *name, size_t len);
int hub_areas_find(const struct hub_indicators *ind, const char *name, size_t len);
/* 1 when area a holds the LSOA code or the ward (either may be NULL). */
int hub_area_has(const struct hub_area *a, const char *lsoa, size_t lsoa_len, const char *ward,
                 size_t ward_len);

#endif
