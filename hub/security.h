/* security.h: identities and roles for `security: curve` (PROTOCOL.md 1, 8).
 *
 * The identity file lists every client's CURVE public key with a name and a
 * role; an agency also lists the event types it may publish, a panel member
 * the panels it may read. The hub's ZAP handler admits only listed keys and
 * tags each connection with the identity's name (ZeroMQ's User-Id), which
 * every request then carries.
 *
 * Knows no sockets: the ZAP exchange is a pure function of its frames. */
#ifndef CSPH_SECURITY_H
#define CSPH_SECURITY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "wire.h"

/* A gateway (the coordinators' console) acts for people listed in the
 * identity file (people.h): see csph_people_delegate. */
enum csph_role {
    CSPH_ROLE_AGENCY,
    CSPH_ROLE_PANEL,
    CSPH_ROLE_AUDITOR,
    CSPH_ROLE_ADMIN,
    CSPH_ROLE_GATEWAY
};
#define CSPH_ROLE__COUNT 5
/* The role named s (len bytes), or -1. */
int csph_role_parse(const char *s, size_t len);
const char *csph_role_name(enum csph_role r);

#define CSPH_MAX_TYPES 64

struct csph_identity {
    char name[65];
    enum csph_role role;
    char public_z85[41];
    uint8_t public_key[32];
    uint64_t panels; /* bit i: may read config panel i (role panel) */
    char types[CSPH_MAX_TYPES][65]; /* role agency: the types it may publish */
    size_t ntypes;
    /* A person a gateway acts for (people.h): the gateway's name ("" for
     * anyone else) and its panels, which bound the person's. */
    char gateway[65];
    uint64_t gateway_panels;
};

struct csph_person;

struct csph_identities {
    struct csph_identity *v;
    size_t n;
    struct csph_person *people; /* the identity file's people: (people.h) */
    size_t npeople;
};

/* Load the identity file (YAML). panels name the configured panels. Fails
 * with "file:line: what is wrong" for a bad key, an unknown role, panel or
 * setting, a duplicate name or key. The caller frees with
 * csph_identities_free. */
enum csph_err csph_identities_load(struct csph_identities *out, const char *path,
                                   const struct csph_config *cfg, struct csph_error *err);
void csph_identities_free(struct csph_identities *ids);

/* The identity with this 32-byte public key, or NULL. */
const struct csph_identity *csph_identities_by_key(const struct csph_identities *ids,
                                                   const uint8_t key[32]);
/* The identity with this name (len bytes), or NULL. */
const struct csph_identity *csph_identities_by_name(const struct csph_identities *ids,
                                                    const char *name, size_t len);

/* May this identity make a request of this op at all (PROTOCOL.md 8)?
 * Panel and type scoping are checked where the panel or type is known. */
int csph_identity_may(const struct csph_identity *id, enum csph_op op);
/* May id publish events of this type? (agency only) */
int csph_identity_may_publish(const struct csph_identity *id, const char *type, size_t len);
/* May id read or update panel i? (panel: its panels; auditor: every panel
 * for reading) */
int csph_identity_may_panel(const struct csph_identity *id, int panel);

/* Key files are read and written by the client library (csph_keygen,
 * csph_key_file_read in include/csphub.h), the same code for the hub and
 * its clients. */

#endif
