/* security.h: identities and roles for `security: curve` (PROTOCOL.md 1, 8).
 *
 * The identity file lists every client's CURVE public key with a name and a
 * role; an agency also lists the event types it may publish, a panel member
 * the panels it may read. The hub's ZAP handler admits only listed keys and
 * tags each connection with the identity's name (ZeroMQ's User-Id), which
 * every request then carries.
 *
 * Knows no sockets: the ZAP exchange and the admission of a request and of
 * an event are pure functions of what they are given. */
#ifndef CSPH_SECURITY_H
#define CSPH_SECURITY_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "config.h"
#include "err.h"
#include "wire.h"

/* A gateway (the coordinators' console) acts for people listed in the
 * identity file (people.h): see hub_people_delegate. strategic: a scrutiny
 * committee, the CSP board, the PCC's office. They see aggregates only:
 * `report` (suppressed, whole months, configured areas) and `ping`,
 * nothing that names a person (docs/security.md). */
enum hub_role {
    CSPH_ROLE_AGENCY,
    CSPH_ROLE_PANEL,
    CSPH_ROLE_AUDITOR,
    CSPH_ROLE_ADMIN,
    CSPH_ROLE_STRATEGIC,
    CSPH_ROLE_GATEWAY,
    CSPH_ROLE_DPO /* the data protection officer: erase, restrict (erase.h) */
};
#define CSPH_ROLE__COUNT 7
/* The role named s (len bytes), or -1. */
int hub_role_parse(const char *s, size_t len);
const char *hub_role_name(enum hub_role r);

#define CSPH_MAX_TYPES 64

struct hub_identity {
    char name[65];
    enum hub_role role;
    char public_z85[41];
    uint8_t public_key[32];
    uint64_t panels; /* bit i: may read config panel i (role panel) */
    char types[CSPH_MAX_TYPES][65]; /* role agency: the types it may publish */
    size_t ntypes;
    /* A person a gateway acts for (people.h): the gateway's name ("" for
     * anyone else) and its panels, which bound the person's. */
    char gateway[65];
    uint64_t gateway_panels;
    /* A person of role agency (people.h): the agency whose actions they
     * read; "" otherwise. */
    char agency[65];
};

struct hub_person;

struct hub_identities {
    struct hub_identity *v;
    size_t n;
    struct hub_person *people; /* the identity file's people: (people.h) */
    size_t npeople;
};

/* Load the identity file (YAML). panels name the configured panels. Fails
 * with "file:line: what is wrong" for a bad key, an unknown role, panel or
 * setting, a duplicate name or key. The caller frees with
 * hub_identities_free. */
enum hub_err hub_identities_load(struct hub_identities *out, const char *path,
                                 const struct hub_config *cfg, struct hub_error *err);
void hub_identities_free(struct hub_identities *ids);

/* The identity with this 32-byte public key, or NULL. */
const struct hub_identity *hub_identities_by_key(const struct hub_identities *ids,
                                                 const uint8_t key[32]);
/* The identity with this name (len bytes), or NULL. */
const struct hub_identity *hub_identities_by_name(const struct hub_identities *ids,
                                                  const char *name, size_t len);

/* May this identity make a request of this op at all (PROTOCOL.md 8)?
 * Panel and type scoping are checked where the panel or type is known. */
int hub_identity_may(const struct hub_identity *id, enum hub_op op);
/* May id publish events of this type? (agency only) */
int hub_identity_may_publish(const struct hub_identity *id, const char *type, size_t len);
/* May id read or update panel i? (panel: its panels; auditor: every panel
 * for reading) */
int hub_identity_may_panel(const struct hub_identity *id, int panel);

/* Admission (PROTOCOL.md 8), decided here and nowhere else.
 *
 * hub_admit_request (security curve): uid is the User-Id ZeroMQ stamped
 * on the request (our ZAP handler's answer; NULL when none). *who becomes
 * the sender's identity. FORBIDDEN when its key is no longer in the
 * identity file (revoked since it connected), or field "op" when its role
 * may not use op at all. */
enum hub_err hub_admit_request(const struct hub_identities *ids, const char *uid,
                               const struct hub_request *r, const struct hub_identity **who,
                               struct hub_identity *as, struct hub_error *err);

/* hub_admit_reserved (every mode): source "hub" (CSPH_HUB_SOURCE) and the
 * hub's own event types are written by the hub only. FORBIDDEN naming
 * "source" or "type". info is the event's hub_schema_check result. */
struct hub_event_info;
enum hub_err hub_admit_reserved(const struct hub_event_info *info, struct hub_error *err);

/* hub_admit_publisher (security curve, who the sender): an agency
 * publishes only its listed types, under its own name. An event without
 * `source` is stamped with who's name: *stored and *stored_len (the
 * event's bytes on entry) become the event with `source` first, allocated
 * in zone (valid while it lives), and info->source is who's name.
 * FORBIDDEN naming "source" or "type"; BAD_EVENT when the bytes are not a
 * map; INTERNAL when out of memory. */
enum hub_err hub_admit_publisher(const struct hub_identity *who, struct hub_event_info *info,
                                 const void **stored, size_t *stored_len, msgpack_zone *zone,
                                 struct hub_error *err);

/* The ZAP decision (RFC 27) for one request, f[0..n) its frames (version,
 * request id, domain, address, identity, mechanism, credentials): a CURVE
 * handshake whose client key is listed is admitted as that identity. The
 * caller sends the reply frames "1.0", f[1], status, text, user, "". */
struct hub_zap_decision {
    const struct hub_identity *id;  /* NULL: refused */
    const char *why;                /* refused: "unknown key", "not a CURVE handshake" */
    char addr[64];                  /* the peer's address, "?" when not given */
    char key_z85[41];               /* the key offered, "" when none */
    const char *status, *text, *user;
};
void hub_zap_decide(const struct hub_identities *ids, const struct hub_span *f, int n,
                    struct hub_zap_decision *d);

/* Key files are read and written by the client library (csph_keygen,
 * csph_key_file_read in include/csphub.h), the same code for the hub and
 * its clients. */

#endif
