/* views.h: what a coordinator reads (PROTOCOL.md 5): a panel's queue
 * filtered and paged on the hub (`alerts`), one alert with its decisions
 * (`alert`), and a person's case view (`person`): the alerts on the
 * caller's panels keyed on a person reference, and the events that are
 * their evidence, nothing else.
 *
 * The person view reads an index of its own, `person_alerts` in the
 * store's environment: panel \0 key value -> alert ids, written in the
 * batch's transaction when an alert is raised (hub_views_index_alert),
 * and built once from the queues for a data directory older than it
 * (hub_views_backfill). Never a scan of the log.
 *
 * Each reply is built from an explicit request context: the caller says
 * who asks (NULL in security none), and gets back how many records were
 * returned (for audit.access) and whether a panel was refused. Knows no
 * sockets. */
#ifndef CSPH_VIEWS_H
#define CSPH_VIEWS_H

#include <msgpack.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "queues.h"
#include "rules.h"
#include "security.h"
#include "store.h"
#include "wire.h"

/* Alerts examined at most per `alerts` reply when a filter other than
 * status is given: a filter that matches little still answers at once
 * (end: false, next: the last alert examined). */
#define CSPH_VIEWS_SCAN_MAX 100000
/* A person view lists at most this many alerts a reply (alerts_after
 * pages on). */
#define CSPH_VIEWS_PERSON_ALERTS_MAX 500

struct hub_views_req {
    struct hub_queues *queues;
    struct hub_store *store;
    const struct hub_config *cfg;
    const struct hub_identity *who;  /* the caller; NULL in security none */
    size_t room;                     /* bytes the reply's lists may take */
    int64_t now_ms;
    /* out */
    uint32_t returned;  /* records returned (audit.access) */
    int refused;        /* a panel the caller may not read was asked for */
};

/* {op: alerts, panel, status?, priority?, rule?, person?, overdue?, after?,
 * max?} -> {alerts, next, end}. */
enum hub_err hub_views_alerts(struct hub_views_req *v, const struct hub_request *r,
                              msgpack_packer *pk, struct hub_error *err);
/* {op: alert, id, events?, after?, max?} -> {alert, decisions: [{seq, at,
 * status, by?, gateway?, note?}]} and, with events: true, the evidence
 * events from position after (at most max): {events: [{seq, received_at,
 * event}], next, end}. NOT_FOUND for an alert on a panel the caller may not read, in
 * the words used for one that does not exist. */
enum hub_err hub_views_alert(struct hub_views_req *v, const struct hub_request *r,
                             msgpack_packer *pk, struct hub_error *err);
/* {op: person, ref, alerts_after?, after?, max?} -> {ref, alerts,
 * alerts_next, alerts_end, events: [{seq, received_at, event}], next, end}:
 * the alerts in id order after alerts_after, a page of them; the events
 * are the evidence of all the person's alerts the caller may see, after
 * seq after. */
enum hub_err hub_views_person(struct hub_views_req *v, const struct hub_request *r,
                              msgpack_packer *pk, struct hub_error *err);

/* Call fn for each alert keyed on ref (len bytes) on any configured
 * panel, in id order (fn's nonzero stops). Own read transactions. For the
 * subject access export (sar.h). */
enum hub_err hub_views_person_alert_each(struct hub_store *s, const struct hub_config *cfg,
                                         const char *ref, size_t len,
                                         int (*fn)(void *ctx, uint64_t id, int panel),
                                         void *ctx, struct hub_error *err);

/* Index alert id (draft d, on panel) under each of its key's text values,
 * in the batch's write transaction. */
enum hub_err hub_views_index_alert(struct hub_store *s, const char *panel,
                                   const struct hub_alert_draft *d, uint64_t id,
                                   struct hub_error *err);
/* Take every entry of ref (len bytes) out of person_alerts on every
 * panel, in the batch's write transaction (an erasure: alertredact.h). */
enum hub_err hub_views_unindex_person(struct hub_store *s, const struct hub_config *cfg,
                                      const char *ref, size_t len, struct hub_error *err);
/* Take alert id's entry under key value (len bytes) on panel out of
 * person_alerts, in the batch's write transaction (a retention sweep's
 * expiry: alertredact.h). */
enum hub_err hub_views_unindex_alert(struct hub_store *s, const char *panel, const char *value,
                                     size_t len, uint64_t id, struct hub_error *err);
/* Build person_alerts from the queues when this data directory has never
 * had it, in the batch's write transaction (hub_ingest_begin'd). *indexed
 * is how many alerts were indexed (0 when it was there already). */
enum hub_err hub_views_backfill(struct hub_store *s, struct hub_queues *q, uint64_t *indexed,
                                struct hub_error *err);

#endif
