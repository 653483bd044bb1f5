/* reportpriv.h: what the report's computation (report.c) and the packing of
 * its reply (reportpack.c) share: the period, the run's state and the
 * records its passes collect. Private to the two. */
#ifndef CSPH_REPORTPRIV_H
#define CSPH_REPORTPRIV_H

#include <lmdb.h>
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>

#include "intern.h"
#include "redacted.h"
#include "report.h"
#include "reportcase.h"
#include "store.h"
#include "suppress.h"
#include <math.h>

#define NO_TIME INT64_MIN
#define DAY_MS CSPH_MS_PER_DAY

/* The period and the same period a year before (k = 1), as instants and
 * months. */
struct period {
    int64_t from_ms[2], to_ms[2]; /* [from, to) */
    int64_t mo0[2];               /* the first month's ordinal */
    int nm;                       /* months in each */
};

struct vec {
    void *v;
    size_t n, cap, size;
};

struct ralert {
    uint64_t id, anchor;   /* anchor: the seq of the event that raised it */
    int64_t raised_ms, due_ms, occ_ms, decided_ms;
    uint64_t decided_seq;
    uint32_t key, rule;
    int panel;
    unsigned char in_area, no_area;
};

struct person_ev {
    uint32_t person;
    int64_t ms;
    uint64_t seq;
};

struct decision {
    size_t alert; /* index in alerts */
    int status;
    int64_t ms; /* received_at */
    uint64_t seq;
};


struct row {
    struct hub_cell c[2][CSPH_REPORT_MONTHS_MAX];
    struct hub_cell total[2];
    int64_t nr[2]; /* counted records whose area was not recorded (-1: not applicable) */
    int64_t unev[2]; /* redacted records of its types it could not evaluate (redacted.h) */
    int64_t cnt[2][CSPH_REPORT_MONTHS_MAX]; /* raw counts while collecting */
    int64_t den[2][CSPH_REPORT_MONTHS_MAX]; /* in time: alerts that could be */
    int64_t cnt_total[2], den_total[2];
};

/* An alert's index beside its anchor, so that sorting reads no alert. */
struct anchor {
    uint64_t seq;
    size_t alert;
};

struct run {
    struct hub_store *st;
    const struct hub_indicators *ind;
    const struct hub_config *cfg;
    const struct hub_report_params *p;
    struct period P;
    const struct hub_area *area;
    int64_t asof_ms; /* received_at of as_of: deadlines passed by then count */
    struct hub_intern keys, rules, people;
    struct vec alerts;       /* struct ralert, id order */
    struct anchor *by_anchor; /* the alerts in anchor order */
    struct vec decisions;    /* struct decision, seq order */
    struct hub_rcase rcase;  /* panel work, seq order (reportcase.h) */
    int case_measures;       /* some wanted indicator is a case measure */
    struct vec *pev;         /* per indicator: struct person_ev (people) */
    uint32_t (*ind_rules)[CSPH_IND_MAX_RULES]; /* per indicator: its rules, interned */
    struct row *rows;
    /* The event types the counting indicators name, each with the
     * (indicator, item) pairs naming it in indicator then item order, so
     * that an event is compared with each type once, not with every item
     * of every indicator. */
    struct rtype {
        const char *type;
        size_t len, first, n;
    } *types;
    size_t ntypes;
    struct rpair {
        uint32_t i, t;
    } *pairs;
    int64_t earliest_ms;     /* events before this count for nothing */
    int64_t latest_ms;       /* nor from this on */
    msgpack_zone zone;
    /* explanation */
    int ex_bucket;
    struct vec ex;           /* uint64_t: seqs or alert ids (see explain) */
    int fail;                /* out of memory during a visit */
    uint64_t other_cpu_ns;   /* CPU of the log pass's other threads */
    struct hub_erased_set erased; /* the log's redacted records (redacted.h) */
    struct hub_error *err;
};

static inline int ind_uses_alerts(const struct hub_indicator *I)
{
    return I->measure == CSPH_IND_ALERTS || I->measure == CSPH_IND_ALERT_KEYS ||
           I->measure == CSPH_IND_DECISIONS || I->measure == CSPH_IND_IN_TIME ||
           I->measure == CSPH_IND_DAYS;
}

static inline double round1(double x) { return floor(x * 10 + 0.5) / 10; }

static inline void month_label(int64_t ordinal, char *buf, size_t n)
{
    snprintf(buf, n, "%04d-%02d", (int)(ordinal / 12) % 10000, (int)(ordinal % 12 + 1));
}

/* The reply (reportpack.c): its head (period, areas, as_of and its chain
 * link), the indicators' rows, or one indicator's explanation. Each returns
 * the pairs it packed into the reply's map. */
uint32_t hub_report_pack_head(struct run *r, msgpack_packer *pk, const unsigned char link[16]);
uint32_t hub_report_pack(struct run *r, msgpack_packer *pk, uint64_t *returned);
uint32_t hub_report_pack_explain(struct run *r, msgpack_packer *pk, uint64_t *returned,
                             struct hub_error *err);

#endif
