/* ruleset.h: a rule file compiled into plain data (ruleload.c reads it,
 * rules.c evaluates it). docs/rules.md is the language; this is its shape
 * in memory:
 *
 *   a rule      which events it takes (types, tests), what it groups by
 *               (one or more key alternatives, each with its own types and
 *               tests), and what makes it fire: every event; N events (or
 *               N distinct values, or N distinct criteria) within a window;
 *               an earlier alert on a panel (optionally one the panel
 *               accepted). Tiers give rising thresholds.
 *   incidents   a windowed rule may count incidents instead of reports: one
 *               incident reported to several agencies counts once, and the
 *               window runs on when each was reported.
 *
 * Knows no LMDB and no events beyond the compiled tests. */
#ifndef CSPH_RULESET_H
#define CSPH_RULESET_H

#include <stddef.h>
#include <stdint.h>

#include "calendar.h"
#include "config.h"
#include "rulelang.h"
#include "rules.h"

struct hub_schemas;

#define CSPH_RULE_NAME_MAX 64
#define CSPH_KEY_VALUE_MAX 100 /* bytes of one key value; longer: the rule does not apply */
#define CSPH_KEY_EACH_MAX 8
#define CSPH_TIERS_MAX 8
#define CSPH_DAYS_MAX 3650
#define CSPH_AT_LEAST_MAX 100000

enum hub_due_kind { CSPH_DUE_NONE, CSPH_DUE_DAYS, CSPH_DUE_WORKING_DAYS };

struct hub_tier {
    int64_t at_least;
    enum hub_priority priority;
    enum hub_due_kind due;
    int due_n;
};

/* One way an event gives the rule its key: the field(s), the alternative's
 * own tests, the event types it applies to (none listed: every type of the
 * rule), and for a multi-criteria rule the criterion it stands for. */
struct hub_keyspec {
    size_t n;
    struct hub_path f[CSPH_KEY_MAX_FIELDS];
    struct hub_cond match;
    const char **types;
    size_t ntypes;
    const char *criterion; /* NULL unless the rule counts distinct criteria */
};

struct hub_rule {
    const char *name;
    unsigned char id[8];  /* BLAKE2b(name): the tiers it fired, its alerts */
    unsigned char sid[8]; /* BLAKE2b of what decides which events it counts and how
                             (types, tests, keys, distinct, incidents): its window state */
    int panel;            /* a fixed panel, or -1: from panel_field */
    struct hub_path panel_field;
    struct hub_cond match;
    struct hub_keyspec *keys;
    size_t nkeys;
    const char **types; /* every type the rule takes */
    size_t ntypes;
    int windowed;
    int window_days;
    int64_t window_ms;
    int has_distinct;
    int distinct_criteria; /* distinct: criterion */
    struct hub_path distinct;
    struct hub_tier tiers[CSPH_TIERS_MAX]; /* a per-event rule: one tier, at_least 1 */
    size_t ntiers;
    int prio_from_field;
    struct hub_path prio_field;
    int prio_raise;
    /* prior_alert */
    int prior;
    int prior_panel;
    int prior_days;
    int64_t prior_ms;
    int prior_accepted;           /* only alerts a decision accepted count (SafeLives) */
    int prior_has_same;           /* when both events name this field, it must be equal */
    struct hub_path prior_same;
    /* incidents */
    int incidents;
    int64_t tolerance_ms;         /* reports from different sources this close are one incident */
    int64_t report_limit_ms;      /* a report made later than this after the incident does not count; 0: no limit */
    const char **merge_types;     /* types that may describe one incident (NULL: all the rule's) */
    size_t nmerge_types;
    struct hub_tmpl reason, restricted_reason;
};

struct hub_type_slot {
    const char *name;
    size_t len;
    int *rules; /* indices into rules, in file order */
    size_t n;
};

struct hub_ruleset {
    struct hub_arena arena;
    struct hub_rule *rules;
    size_t nrules;
    struct hub_type_slot *types;
    size_t ntypes;
    struct hub_panel *panels;
    size_t *panel_len;
    size_t npanels;
    struct hub_calendar calendar;
    int has_calendar;
    char digest[33];
    /* The files as read, for the log's record of the rule set in force. */
    unsigned char *rules_text, *calendar_text;
    size_t rules_len, calendar_len;
    char rules_name[256], calendar_name[256];
};

/* Read the rule file at path and the calendar it names. schemas (may be
 * NULL) are the event types: a rule naming an unknown type, or a field
 * that no type it takes has, is refused. */
enum hub_err hub_ruleset_load(struct hub_ruleset **out, const char *path,
                              const struct hub_panel *panels, size_t npanels,
                              const struct hub_schemas *schemas, struct hub_error *err);
/* The same from the texts of a rule file and its calendar (as the log
 * keeps them): name is used in messages. */
enum hub_err hub_ruleset_load_text(struct hub_ruleset **out, const char *name,
                                   const unsigned char *rules, size_t rules_len,
                                   const char *calendar_name, const unsigned char *calendar,
                                   size_t calendar_len, const struct hub_panel *panels,
                                   size_t npanels, const struct hub_schemas *schemas,
                                   struct hub_error *err);
void hub_ruleset_free(struct hub_ruleset **s);

int hub_ruleset_panel_find(const struct hub_ruleset *s, const char *name, size_t len);
/* The deadline of tier t for an alert raised at raised_ms. */
int64_t hub_ruleset_tier_due(const struct hub_ruleset *s, const struct hub_tier *t,
                             int64_t raised_ms);

#endif
