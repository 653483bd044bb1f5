/* reportcase.h: the report's case measures (docs/reports.md), counted
 * from the cases and actions the log's panel-work events make, not from
 * counts of those events:
 *
 *   case_entries     cases opened (a cohort's entries), in the month opened
 *   case_exits       open cases closed, with `outcomes` (any when absent),
 *                    in the month closed
 *   actions_on_time  % of actions due in the month done by their due time;
 *                    one not done, or still open past it at the report's
 *                    seq, is late; re-timing moves the due time
 *   reviews_on_time  % of reviews falling due in the month recorded by the
 *                    London day they fell due; one never recorded (still
 *                    pending at the report's seq, or the case closed) is
 *                    late; a review recorded before it fell due counts, on
 *                    time, in the month it was recorded
 *
 * The report's log pass (two threads, each over its seqs) collects the
 * panel-work events into records (hub_rcase_collect); merged in seq order,
 * hub_rcase_figure replays them for one indicator. Times are received_at:
 * when the hub recorded the work. */
#ifndef CSPH_REPORTCASE_H
#define CSPH_REPORTCASE_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "indicators.h"

struct hub_rcase_rec {
    uint64_t seq;
    uint64_t key;   /* a case: hash of panel \0 subject; an action: its id */
    int64_t ms;     /* received_at */
    int64_t due_ms; /* an action's due time, a review's */
    int16_t panel;
    uint8_t kind;
    uint8_t outcome; /* 1 + index in the panel's outcomes; 0 none */
};

struct hub_rcase {
    struct hub_rcase_rec *v;
    size_t n, cap;
};

/* Whether the report collects events of this type. */
int hub_rcase_type(const char *type, size_t len);
/* Add event o (seq, received_ms, of type) when it is panel work on a
 * configured panel. 0, or -1 out of memory. */
int hub_rcase_collect(struct hub_rcase *c, const struct hub_config *cfg, uint64_t seq,
                      int64_t received_ms, const char *type, size_t type_len,
                      const msgpack_object *o);
/* Append from's records to to's (from's seqs follow to's). 0 or -1. */
int hub_rcase_append(struct hub_rcase *to, const struct hub_rcase *from);
void hub_rcase_free(struct hub_rcase *c);

/* Whether measure m is one of the case measures. */
int hub_rcase_measure(enum hub_ind_measure m);

/* Replay c (seq order) for indicator I (a case measure) as of asof_ms:
 * fn(ctx, ms, num, den, seq) for each figure, in the month of ms; for
 * counts den is 0. seq is the record that explains it. 0 or -1 (memory). */
typedef void (*hub_rcase_fn)(void *ctx, int64_t ms, int num, int den, uint64_t seq);
int hub_rcase_figure(const struct hub_rcase *c, const struct hub_config *cfg,
                     const struct hub_indicator *I, int64_t asof_ms, hub_rcase_fn fn, void *ctx);

#endif
