/* people.h: the people a gateway (the coordinators' console) acts for
 * (PROTOCOL.md 8.1).
 *
 * The identity file lists them under `people:`, each with a name, a role
 * (panel, auditor, admin, strategic, or agency for someone at an agency)
 * and, for a panel member, the panels, for someone at an agency, the
 * agency; `disabled: true` keeps a person on record who may no longer act.
 * They have no keys: only a gateway identity may name them, in a
 * request's `as`, and the hub then applies that person's scope,
 * intersected with the gateway's panels. The console keeps only password
 * hashes and sessions, so a compromised console cannot widen anyone's
 * scope. Reloaded with the identity file (SIGHUP). */
#ifndef CSPH_PEOPLE_H
#define CSPH_PEOPLE_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "ingest.h"
#include "security.h"
#include "store.h"
#include "wire.h"
#include "yamlx.h"

struct hub_person {
    char name[65];
    enum hub_role role;
    uint64_t panels; /* bit i: config panel i (role panel) */
    char agency[65]; /* role agency: the agency (a client of role agency) they work for */
    int disabled;
};

/* Read root's `people:` (absent: none) into ids->people, checking each
 * against cfg's panels and ids' clients (a person may not share a client's
 * name: `by` and audit records must name one of them). Fails with
 * "file:line: what is wrong". */
enum hub_err hub_people_read(struct hub_yaml *y, yaml_node_t *root,
                             const struct hub_config *cfg, struct hub_identities *ids,
                             struct hub_error *err);

/* The person named name (len bytes), or NULL. */
const struct hub_person *hub_people_find(const struct hub_identities *ids, const char *name,
                                         size_t len);

/* Resolve request r's `as`. Without `as`: CSPH_ERR_OK and *who unchanged.
 * From a gateway: *as becomes that person's identity (their role, their
 * panels intersected with the gateway's, gateway set), *who points to it.
 * FORBIDDEN with field `as` when the sender is not a gateway, or the
 * person is unknown or disabled; BAD_REQUEST when `as` is not a name. */
enum hub_err hub_people_delegate(const struct hub_identities *ids, const struct hub_request *r,
                                 const struct hub_identity **who, struct hub_identity *as,
                                 struct hub_error *err);

/* Account changes are in the log: inside the batch's write transaction,
 * append a people.loaded event (the list as JSON and its digest) when the
 * list in ids differs from the one last recorded; *seq is its seq, 0 when
 * nothing changed. */
enum hub_err hub_people_record(struct hub_ingest *g, struct hub_store *s,
                               const struct hub_identities *ids, const struct hub_config *cfg,
                               int64_t now_ms, uint64_t *seq, struct hub_error *err);

#endif
