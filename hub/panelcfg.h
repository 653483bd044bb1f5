/* panelcfg.h: a panel's work after the alert, as configured in the panels
 * file (docs/panels.md): the outcomes a case may close with, the review
 * cadence by risk level, the meeting calendar and the look-back list its
 * agenda carries. Plain data, read once with the panels (config.c calls
 * hub_panelcfg_parse for each panel) and never changed after start.
 *
 *   marac:
 *     title: ...
 *     outcomes: [risk-reduced, referred-on, moved-away]
 *     reviews: {high: 14, medium: 28}          # days between reviews
 *     meetings: {weekly: wednesday}            # or {monthly: {nth: 3, weekday: thursday}}
 *                                              # or adhoc
 *     lookback: {types: [violence.incident], days: 28, ages: [10, 25]}
 *     risk_scores: {dash: {medium: 10, high: 14}}  # a score's level
 *
 * Every mistake is refused with "file:line: what is wrong". */
#ifndef CSPH_PANELCFG_H
#define CSPH_PANELCFG_H

#include <stdint.h>
#include <yaml.h>

#include "err.h"

struct hub_yaml;

#define CSPH_OUTCOMES_MAX 16
#define CSPH_OUTCOME_LEN 32
#define CSPH_LOOKBACK_TYPES_MAX 8
#define CSPH_RISK_TOOLS_MAX 4

enum hub_meeting_kind {
    CSPH_MEETING_NONE,    /* no calendar: no agenda is drawn for a date */
    CSPH_MEETING_WEEKLY,  /* every week on weekday */
    CSPH_MEETING_MONTHLY, /* the nth weekday of every month (nth -1: the last) */
    CSPH_MEETING_ADHOC    /* dates set by the coordinator (meeting.schedule) */
};

struct hub_panel_work {
    char outcomes[CSPH_OUTCOMES_MAX][CSPH_OUTCOME_LEN + 1];
    int noutcomes;
    /* Days between reviews by risk level (enum hub_priority: standard,
     * medium, high); 0: no reviews at that level. */
    int review_days[3];
    enum hub_meeting_kind meeting;
    int weekday; /* 0 Monday .. 6 Sunday */
    int nth;     /* monthly: 1..4, or -1 for the last */
    /* The look-back list: events of these types that occurred within
     * lookback_days before the meeting (SGV: 28 days of violence). */
    char lookback_types[CSPH_LOOKBACK_TYPES_MAX][65];
    int nlookback;
    int lookback_days;
    /* lookback.ages: [min, max]: only events naming someone of those ages
     * (an int field `age` or `*_age` of the event, as the rules read them:
     * SGV's 10-25); lookback_by_age 0: any event of the types. */
    int lookback_by_age, lookback_age_min, lookback_age_max;
    /* Risk-assessment scores that set a case's level (risk.assessment
     * events): per tool, the lowest score of medium and of high (-1: none). */
    struct {
        char tool[33];
        int medium, high;
    } risk_scores[CSPH_RISK_TOOLS_MAX];
    int nrisk_scores;
};

/* Read a panel's work settings from its map v (the keys outcomes,
 * reviews, meetings, lookback; others are the caller's) into *w (zeroed
 * first). CSPH_ERR_CONFIG with file:line on any mistake. */
enum hub_err hub_panelcfg_parse(struct hub_yaml *y, yaml_node_t *v, struct hub_panel_work *w,
                                struct hub_error *err);

/* The hub config's `agencies:` list (security none: who may own an
 * action) into out (at most max names of 1-64 characters), *n how many. */
enum hub_err hub_panelcfg_agencies(struct hub_yaml *y, yaml_node_t *n, char (*out)[65], size_t max,
                                   size_t *count, struct hub_error *err);

/* The risk level (enum hub_priority) a score of tool gives on this panel:
 * the highest whose threshold it reaches; standard below them; -1 when
 * the panel does not configure the tool. */
int hub_panelcfg_risk_of_score(const struct hub_panel_work *w, const char *tool, size_t len,
                               int64_t score);

/* 1 when name (len bytes) is one of w's outcomes. */
int hub_panelcfg_outcome_ok(const struct hub_panel_work *w, const char *name, size_t len);
/* The outcomes as "a, b, c" into buf (n bytes), for error messages. */
void hub_panelcfg_outcomes_text(const struct hub_panel_work *w, char *buf, size_t n);

/* The panel's next meeting on or after the London day `day` (days since
 * 1970-01-01): the day, or -1 when it has no regular calendar. Pure. */
int64_t hub_panelcfg_next_meeting(const struct hub_panel_work *w, int64_t day);
/* The regular meeting before `day` (strictly), or -1. Pure. */
int64_t hub_panelcfg_prev_meeting(const struct hub_panel_work *w, int64_t day);
/* Weekday of a day since 1970-01-01, 0 Monday .. 6 Sunday. */
int hub_panelcfg_weekday(int64_t day);

/* Dates as the panels use them: London civil days, counted since
 * 1970-01-01. The London day the instant utc_ms falls on; a day as
 * "YYYY-MM-DD" (buf >= 11 bytes; returns the length); "YYYY-MM-DD" (len
 * bytes) to a day (0, or -1 when it is not a date). */
int64_t hub_panelcfg_london_day(int64_t utc_ms);
int hub_panelcfg_day_format(int64_t day, char *buf);
int hub_panelcfg_day_parse(const char *s, size_t len, int64_t *day);

#endif
