#include "security.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "csphub.h"
#include "ingest.h"
#include "mpx.h"
#include "ops.h"
#include "people.h"
#include "schema.h"
#include "yamlx.h"

static const char *const role_names[CSPH_ROLE__COUNT] = {"agency",    "panel",   "auditor", "admin",
                                                         "strategic", "gateway", "dpo"};

const char *hub_role_name(enum hub_role r)
{
    return (unsigned)r < CSPH_ROLE__COUNT ? role_names[r] : "?";
}

int hub_role_parse(const char *s, size_t len)
{
    for (int i = 0; i < CSPH_ROLE__COUNT; i++)
        if (strlen(role_names[i]) == len && !memcmp(role_names[i], s, len))
            return i;
    return -1;
}

void hub_identities_free(struct hub_identities *ids)
{
    free(ids->v);
    ids->v = NULL;
    ids->n = 0;
    free(ids->people);
    ids->people = NULL;
    ids->npeople = 0;
}

/* Who may connect is decided by the identity file and the public key
 * files it names: one another user could change is refused, as a secret
 * key file others can read is. Returns 0, or -1 with the sentence in msg. */
static int not_writable_by_others(const char *path, const char *what, char *msg, size_t n)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(msg, n, "cannot read %s %s: %s", what, path, strerror(errno));
        return -1;
    }
    if (st.st_mode & (S_IWGRP | S_IWOTH)) {
        snprintf(msg, n,
                 "%s %s can be changed by other users (mode %03o), who could then connect as "
                 "any client; run: chmod go-w %s",
                 what, path, (unsigned)(st.st_mode & 0777), path);
        return -1;
    }
    return 0;
}

static enum hub_err read_key(struct hub_yaml *y, yaml_node_t *item, struct hub_identity *id,
                             struct hub_error *err)
{
    yaml_node_t *k = hub_yaml_get(y, item, "key"), *kf = hub_yaml_get(y, item, "key_file");
    const char *z85 = NULL;
    char pub[41], sec[41], msg[512];
    if (!k == !kf)
        return hub_yaml_fail(y, item, err,
                             "client '%s' needs exactly one of key (the Z85 public key, "
                             "quoted) or key_file (its NAME.pub file)",
                             id->name);
    if (k) {
        enum hub_err rc = hub_yaml_str(y, k, "key", &z85, err);
        if (rc)
            return rc;
    } else {
        const char *f;
        enum hub_err rc = hub_yaml_str(y, kf, "key_file", &f, err);
        if (rc)
            return rc;
        char path[1024];
        const char *slash = strrchr(y->path, '/');
        if (f[0] != '/' && slash)
            snprintf(path, sizeof path, "%.*s/%s", (int)(slash - y->path), y->path, f);
        else
            snprintf(path, sizeof path, "%s", f);
        if (not_writable_by_others(path, "the public key file", msg, sizeof msg) ||
            csph_key_file_read(path, pub, sec, msg, sizeof msg) != 0) {
            memset(sec, 0, sizeof sec);
            return hub_yaml_fail(y, kf, err, "%s", msg);
        }
        memset(sec, 0, sizeof sec); /* a public key file is all the hub needs */
        z85 = pub;
    }
    if (strlen(z85) != 40 || !zmq_z85_decode(id->public_key, z85))
        return hub_yaml_fail(y, k ? k : kf, err,
                             "client '%s': a public key is 40 characters of Z85 (from "
                             "csphub keygen)",
                             id->name);
    memcpy(id->public_z85, z85, 41);
    return CSPH_ERR_OK;
}

static enum hub_err read_client(struct hub_yaml *y, yaml_node_t *item,
                                const struct hub_config *cfg, struct hub_identity *id,
                                struct hub_error *err)
{
    static const char *const keys[] = {"name", "role", "key", "key_file", "types", "panels",
                                       "description", NULL};
    enum hub_err rc = hub_yaml_only_keys(y, item, keys, "a client", err);
    const char *s;
    if (rc)
        return rc;
    memset(id, 0, sizeof *id);
    yaml_node_t *n = hub_yaml_get(y, item, "name");
    if (!n)
        return hub_yaml_fail(y, item, err, "a client needs a name (its agency or person)");
    if ((rc = hub_yaml_str(y, n, "name", &s, err)))
        return rc;
    if (!*s || strlen(s) > 64)
        return hub_yaml_fail(y, n, err, "a client's name is 1-64 characters");
    snprintf(id->name, sizeof id->name, "%s", s);
    n = hub_yaml_get(y, item, "role");
    int role = -1;
    for (int i = 0; n && hub_yaml_scalar(n) && i < CSPH_ROLE__COUNT; i++)
        if (!strcmp(hub_yaml_scalar(n), role_names[i]))
            role = i;
    if (role < 0)
        return hub_yaml_fail(y, n ? n : item, err,
                             "client '%s' needs a role: agency, panel, auditor, admin, strategic, "
                             "gateway or dpo",
                             id->name);
    id->role = (enum hub_role)role;
    if ((rc = read_key(y, item, id, err)))
        return rc;
    yaml_node_t *types = hub_yaml_get(y, item, "types"), *panels = hub_yaml_get(y, item, "panels");
    if (types && id->role != CSPH_ROLE_AGENCY)
        return hub_yaml_fail(y, types, err, "only an agency lists types");
    if (panels && id->role != CSPH_ROLE_PANEL && id->role != CSPH_ROLE_GATEWAY)
        return hub_yaml_fail(y, panels, err, "only a panel member or a gateway lists panels");
    if (id->role == CSPH_ROLE_AGENCY && !hub_yaml_seq_len(types))
        return hub_yaml_fail(y, types ? types : item, err,
                             "agency '%s' must list the event types it may publish (types: [...])",
                             id->name);
    if (id->role == CSPH_ROLE_GATEWAY && !hub_yaml_seq_len(panels))
        return hub_yaml_fail(y, panels ? panels : item, err,
                             "gateway '%s' must list the panels it may act on (panels: [...]): "
                             "they bound the people it acts for",
                             id->name);
    if (id->role == CSPH_ROLE_PANEL && !hub_yaml_seq_len(panels))
        return hub_yaml_fail(y, panels ? panels : item, err,
                             "panel member '%s' must list the panels it may read (panels: [...])",
                             id->name);
    for (size_t i = 0; i < hub_yaml_seq_len(types); i++) {
        yaml_node_t *t = hub_yaml_seq_item(y, types, i);
        if ((rc = hub_yaml_str(y, t, "a type", &s, err)))
            return rc;
        if (id->ntypes == CSPH_MAX_TYPES || strlen(s) > 64)
            return hub_yaml_fail(y, t, err, "too many types, or a type name over 64 characters");
        snprintf(id->types[id->ntypes++], 65, "%s", s);
    }
    for (size_t i = 0; i < hub_yaml_seq_len(panels); i++) {
        yaml_node_t *p = hub_yaml_seq_item(y, panels, i);
        if ((rc = hub_yaml_str(y, p, "a panel", &s, err)))
            return rc;
        int pi = hub_config_panel_find(cfg, s, strlen(s));
        if (pi < 0)
            return hub_yaml_fail(y, p, err, "no panel named '%s' (see the panels file)", s);
        id->panels |= 1ull << pi;
    }
    return CSPH_ERR_OK;
}

enum hub_err hub_identities_load(struct hub_identities *out, const char *path,
                                 const struct hub_config *cfg, struct hub_error *err)
{
    struct hub_yaml y;
    char msg[600];
    if (not_writable_by_others(path, "the identity file", msg, sizeof msg))
        return hub_error_set(err, CSPH_ERR_CONFIG, "identities_file", "%s", msg);
    enum hub_err rc = hub_yaml_load(&y, path, err);
    if (rc)
        return rc;
    struct hub_identities ids = {0};
    yaml_node_t *root = hub_yaml_root(&y);
    yaml_node_t *clients = hub_yaml_get(&y, root, "clients");
    size_t n = hub_yaml_seq_len(clients);
    if (!n) {
        rc = hub_yaml_fail(&y, root, err, "expected 'clients:' followed by a list of clients");
        goto done;
    }
    ids.v = calloc(n, sizeof *ids.v);
    if (!ids.v) {
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = hub_yaml_seq_item(&y, clients, i);
        struct hub_identity *id = &ids.v[ids.n];
        if ((rc = read_client(&y, item, cfg, id, err)))
            goto done;
        for (size_t j = 0; j < ids.n; j++) {
            if (!strcmp(ids.v[j].name, id->name)) {
                rc = hub_yaml_fail(&y, item, err, "client '%s' is listed twice", id->name);
                goto done;
            }
            if (!memcmp(ids.v[j].public_key, id->public_key, 32)) {
                rc = hub_yaml_fail(&y, item, err, "clients '%s' and '%s' have the same key",
                                   ids.v[j].name, id->name);
                goto done;
            }
        }
        ids.n++;
    }
    rc = hub_people_read(&y, root, cfg, &ids, err); /* hook: people.h */
done:
    hub_yaml_free(&y);
    if (rc)
        hub_identities_free(&ids);
    else
        *out = ids;
    return rc;
}

const struct hub_identity *hub_identities_by_key(const struct hub_identities *ids,
                                                 const uint8_t key[32])
{
    for (size_t i = 0; i < ids->n; i++)
        if (!memcmp(ids->v[i].public_key, key, 32))
            return &ids->v[i];
    return NULL;
}

const struct hub_identity *hub_identities_by_name(const struct hub_identities *ids,
                                                  const char *name, size_t len)
{
    for (size_t i = 0; i < ids->n; i++)
        if (strlen(ids->v[i].name) == len && !memcmp(ids->v[i].name, name, len))
            return &ids->v[i];
    return NULL;
}

int hub_identity_may(const struct hub_identity *id, enum hub_op op)
{
    const struct hub_op_row *row = hub_ops_row(op);
    return row && (row->may & CSPH_ROLE_BIT(id->role));
}

int hub_identity_may_publish(const struct hub_identity *id, const char *type, size_t len)
{
    if (id->role != CSPH_ROLE_AGENCY)
        return 0;
    for (size_t i = 0; i < id->ntypes; i++)
        if (strlen(id->types[i]) == len && !memcmp(id->types[i], type, len))
            return 1;
    return 0;
}

int hub_identity_may_panel(const struct hub_identity *id, int panel)
{
    /* A person a gateway acts for: never beyond the gateway's panels. */
    if (id->gateway[0] && (panel < 0 || !(id->gateway_panels >> panel & 1)))
        return 0;
    if (id->role == CSPH_ROLE_AUDITOR)
        return 1;
    return (id->role == CSPH_ROLE_PANEL || id->role == CSPH_ROLE_GATEWAY) && panel >= 0 &&
           (id->panels >> panel & 1);
}

enum hub_err hub_admit_request(const struct hub_identities *ids, const char *uid,
                               const struct hub_request *r, const struct hub_identity **who,
                               struct hub_identity *as, struct hub_error *err)
{
    *who = uid ? hub_identities_by_name(ids, uid, strlen(uid)) : NULL;
    if (!*who)
        return hub_error_set(err, CSPH_ERR_FORBIDDEN, NULL,
                             "this client's key is no longer in the hub's identity file");
    /* A gateway acting for a person (people.h): that person's rights. */
    enum hub_err rc = hub_people_delegate(ids, r, who, as, err);
    if (rc)
        return rc;
    if (!hub_identity_may(*who, r->op))
        return hub_error_set(err, CSPH_ERR_FORBIDDEN, "op",
                             "identity '%s' (role %s) may not use op '%s'", (*who)->name,
                             hub_role_name((*who)->role), hub_op_name(r->op));
    return CSPH_ERR_OK;
}

enum hub_err hub_admit_reserved(const struct hub_event_info *info, struct hub_error *err)
{
    size_t hl = strlen(CSPH_HUB_SOURCE);
    if (info->source && info->source_len == hl && !memcmp(info->source, CSPH_HUB_SOURCE, hl))
        return hub_error_set(err, CSPH_ERR_FORBIDDEN, "source",
                             "source '%s' is reserved for the hub's own events; use the "
                             "agency's name",
                             CSPH_HUB_SOURCE);
    if (hub_ingest_hub_type(info->type, info->type_len))
        return hub_error_set(err, CSPH_ERR_FORBIDDEN, "type",
                             "events of type %.*s are written by the hub itself",
                             (int)info->type_len, info->type);
    return CSPH_ERR_OK;
}

enum hub_err hub_admit_publisher(const struct hub_identity *who, struct hub_event_info *info,
                                 const void **stored, size_t *stored_len, msgpack_zone *zone,
                                 struct hub_error *err)
{
    const char *name = who->name;
    size_t nl = strlen(name);
    if (info->source && (info->source_len != nl || memcmp(info->source, name, nl) != 0))
        return hub_error_set(err, CSPH_ERR_FORBIDDEN, "source",
                             "source '%.*s' is not this client's identity '%s'; leave source "
                             "out and the hub stamps it",
                             (int)info->source_len, info->source, name);
    if (!hub_identity_may_publish(who, info->type, info->type_len))
        return hub_error_set(err, CSPH_ERR_FORBIDDEN, "type",
                             "identity '%s' may not publish events of type %.*s (see the "
                             "hub's identity file)",
                             name, (int)info->type_len, info->type);
    if (info->source)
        return CSPH_ERR_OK;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    enum hub_err rc = CSPH_ERR_OK;
    char *copy = NULL;
    if (hub_mp_map_prepend(*stored, *stored_len, "source", name, &sb) != 0)
        rc = hub_error_set(err, CSPH_ERR_BAD_EVENT, NULL,
                           "the event is not a MessagePack map: no source can be stamped");
    else if (!(copy = msgpack_zone_malloc(zone, sb.size)))
        rc = hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "out of memory stamping the source");
    if (copy) {
        memcpy(copy, sb.data, sb.size);
        *stored = copy;
        *stored_len = sb.size;
        info->source = name;
        info->source_len = (uint32_t)nl;
    }
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

void hub_zap_decide(const struct hub_identities *ids, const struct hub_span *f, int n,
                    struct hub_zap_decision *d)
{
    memset(d, 0, sizeof *d);
    d->why = "unknown key";
    if (n >= 7 && f[5].len == 5 && !memcmp(f[5].ptr, "CURVE", 5) && f[6].len == 32)
        d->id = hub_identities_by_key(ids, (const uint8_t *)f[6].ptr);
    else
        d->why = "not a CURVE handshake";
    snprintf(d->addr, sizeof d->addr, "?");
    if (n >= 4)
        snprintf(d->addr, sizeof d->addr, "%.*s", (int)f[3].len, f[3].ptr);
    /* A public key is not a secret: naming it lets the IT officer add or
     * find the client. */
    if (!d->id && n >= 7 && f[6].len == 32)
        zmq_z85_encode(d->key_z85, (const uint8_t *)f[6].ptr, 32);
    d->status = d->id ? "200" : "400";
    d->text = d->id ? "OK" : "key not in identity file";
    d->user = d->id ? d->id->name : "";
}
