/* people.h: the people a gateway (the coordinators' console) acts for
 * (PROTOCOL.md 8.1).
 *
 * The identity file lists them under `people:`, each with a name, a role
 * (panel, auditor or admin: the roles of section 8) and, for a panel
 * member, the panels; `disabled: true` keeps a person on record who may no
 * longer act. They have no keys: only a gateway identity may name them, in
 * a request's `as`, and the hub then applies that person's scope,
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

struct csph_person {
    char name[65];
    enum csph_role role;
    uint64_t panels; /* bit i: config panel i (role panel) */
    int disabled;
};

/* Read root's `people:` (absent: none) into ids->people, checking each
 * against cfg's panels and ids' clients (a person may not share a client's
 * name: `by` and audit records must name one of them). Fails with
 * "file:line: what is wrong". */
enum csph_err csph_people_read(struct csph_yaml *y, yaml_node_t *root,
                               const struct csph_config *cfg, struct csph_identities *ids,
                               struct csph_error *err);

/* The person named name (len bytes), or NULL. */
const struct csph_person *csph_people_find(const struct csph_identities *ids, const char *name,
                                           size_t len);

/* Resolve request r's `as`. Without `as`: CSPH_ERR_OK and *who unchanged.
 * From a gateway: *as becomes that person's identity (their role, their
 * panels intersected with the gateway's, gateway set), *who points to it.
 * FORBIDDEN with field `as` when the sender is not a gateway, or the
 * person is unknown or disabled; BAD_REQUEST when `as` is not a name. */
enum csph_err csph_people_delegate(const struct csph_identities *ids, const struct csph_request *r,
                                   const struct csph_identity **who, struct csph_identity *as,
                                   struct csph_error *err);

/* Account changes are in the log: inside the batch's write transaction,
 * append a people.loaded event (the list as JSON and its digest) when the
 * list in ids differs from the one last recorded; *seq is its seq, 0 when
 * nothing changed. */
enum csph_err csph_people_record(struct csph_ingest *g, struct csph_store *s,
                                 const struct csph_identities *ids, const struct csph_config *cfg,
                                 int64_t now_ms, uint64_t *seq, struct csph_error *err);

#endif
