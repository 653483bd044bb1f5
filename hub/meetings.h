/* meetings.h: a panel's meetings and the agenda the hub draws up for one
 * (docs/panels.md). The agenda of the meeting on London day `day` lists,
 * from the case and action indexes (cases.h, actions.h), never a scan of
 * the log:
 *   accepted       alerts the panel accepted after the previous meeting's
 *                  day, up to this meeting's (a repeat on an open case too)
 *   new_cases      cases opened (an alert or referral accepted) since the
 *                  panel's previous meeting, before this one
 *   reviews_due    open cases whose review is pending or falls due by then
 *   anniversaries  open cases 12 months or more since their last hearing
 *                  (or, never heard, since they opened)
 *   actions        the panel's incomplete actions, overdue ones marked
 *   lookback       for a panel that asks (panelcfg.h lookback), every
 *                  event of its types that occurred in the days before
 *                  the meeting: from the lookback index kept here
 * The previous meeting is the calendar's; for a panel meeting ad hoc, the
 * last day any of its cases was heard.
 *
 * The indexes kept here (data.mdb, through the journal's recorder):
 *   lookback   panel \0 point(occurred_at, seq) -> type \0 ages (a byte each,
 *              at most 4; an entry written before ages were kept has no \0:
 *              its ages are not known, and it is listed whatever the panel's
 *              lookback.ages)
 *   accepted   panel \0 point(decided at, alert id) -> the alert key's first value */
#ifndef CSPH_MEETINGS_H
#define CSPH_MEETINGS_H

#include <lmdb.h>
#include <msgpack.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "restrictview.h"
#include "schema.h"
#include "store.h"

/* Index event seq (obj, may be NULL) under every panel whose look-back
 * list counts its type (in the batch), with the ages the event records
 * (its int fields `age` and `*_age`), for a list by age. */
enum hub_err hub_meetings_index_event(const struct hub_config *cfg, struct hub_store *s,
                                      const struct hub_event_info *info,
                                      const msgpack_object *obj, uint64_t seq,
                                      struct hub_error *err);

/* Index alert id, accepted at received_ms on panel, keyed on key (in the
 * batch). */
enum hub_err hub_meetings_index_accepted(struct hub_store *s, const char *panel, uint64_t id,
                                         int64_t received_ms, const char *key,
                                         struct hub_error *err);

struct hub_agenda_req {
    struct hub_store *store;
    MDB_txn *txn;            /* a read transaction, or the batch's */
    const struct hub_config *cfg;
    int panel;
    int64_t day;             /* the meeting's London day (panelcfg.h) */
    int64_t now_ms;
    int lookback;            /* include the look-back list (not for a restricted panel) */
    size_t room;             /* bytes the lists may take; beyond, truncated */
    struct hub_restrictview rv; /* entries naming these restricted persons are left
                                 * out (restrictview.h); zeroed: none */
};

struct hub_agenda_counts {
    uint32_t accepted, new_cases, reviews_due, anniversaries, actions, lookback;
    int truncated;
};

/* Pack the agenda as one map into pk: {panel, meeting, previous?,
 * accepted, new_cases, reviews_due, anniversaries, actions, lookback,
 * truncated}. pk must write to a msgpack_sbuffer (its size bounds it). */
enum hub_err hub_meetings_agenda(const struct hub_agenda_req *a, msgpack_packer *pk,
                                 struct hub_agenda_counts *counts, struct hub_error *err);

/* The meeting day a request asks for: `date` ("YYYY-MM-DD", len bytes;
 * NULL: the panel's next meeting on or after today). BAD_REQUEST naming
 * `meeting` for a date that is not one, or when the panel has no regular
 * calendar and no date was given. */
enum hub_err hub_meetings_day(const struct hub_config *cfg, int panel, const char *date,
                              size_t len, int64_t now_ms, int64_t *day, struct hub_error *err);

/* An erasure (alertredact.h): in the accepted alerts' index, each key
 * value equal to person (len bytes) becomes marker, in the batch's
 * transaction; *n is how many entries changed. */
#define CSPH_ACCEPTED_KEY_MAX 300
enum hub_err hub_meetings_redact_accepted(struct hub_store *s, const char *person, size_t len,
                                          const char *marker, uint64_t *n,
                                          struct hub_error *err);
/* A retention sweep's expired alert id (alertredact.h): its entry in the
 * accepted alerts' index of panel, accepted at received_ms, shows marker,
 * in the batch's transaction; *changed 1 when there was one. */
enum hub_err hub_meetings_redact_accepted_at(struct hub_store *s, const char *panel,
                                             int64_t received_ms, uint64_t id,
                                             const char *marker, int *changed,
                                             struct hub_error *err);

#endif
