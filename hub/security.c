#include "security.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zmq.h>

#include "csphub.h"
#include "people.h"
#include "yamlx.h"

static const char *const role_names[CSPH_ROLE__COUNT] = {"agency", "panel", "auditor", "admin",
                                                         "gateway"};

const char *csph_role_name(enum csph_role r)
{
    return (unsigned)r < CSPH_ROLE__COUNT ? role_names[r] : "?";
}

int csph_role_parse(const char *s, size_t len)
{
    for (int i = 0; i < CSPH_ROLE__COUNT; i++)
        if (strlen(role_names[i]) == len && !memcmp(role_names[i], s, len))
            return i;
    return -1;
}

void csph_identities_free(struct csph_identities *ids)
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

static enum csph_err read_key(struct csph_yaml *y, yaml_node_t *item, struct csph_identity *id,
                              struct csph_error *err)
{
    yaml_node_t *k = csph_yaml_get(y, item, "key"), *kf = csph_yaml_get(y, item, "key_file");
    const char *z85 = NULL;
    char pub[41], sec[41], msg[512];
    if (!k == !kf)
        return csph_yaml_fail(y, item, err,
                              "client '%s' needs exactly one of key (the Z85 public key, "
                              "quoted) or key_file (its NAME.pub file)",
                              id->name);
    if (k) {
        enum csph_err rc = csph_yaml_str(y, k, "key", &z85, err);
        if (rc)
            return rc;
    } else {
        const char *f;
        enum csph_err rc = csph_yaml_str(y, kf, "key_file", &f, err);
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
            return csph_yaml_fail(y, kf, err, "%s", msg);
        }
        memset(sec, 0, sizeof sec); /* a public key file is all the hub needs */
        z85 = pub;
    }
    if (strlen(z85) != 40 || !zmq_z85_decode(id->public_key, z85))
        return csph_yaml_fail(y, k ? k : kf, err,
                              "client '%s': a public key is 40 characters of Z85 (from "
                              "csphub keygen)",
                              id->name);
    memcpy(id->public_z85, z85, 41);
    return CSPH_ERR_OK;
}

static enum csph_err read_client(struct csph_yaml *y, yaml_node_t *item,
                                 const struct csph_config *cfg, struct csph_identity *id,
                                 struct csph_error *err)
{
    static const char *const keys[] = {"name", "role", "key", "key_file", "types", "panels",
                                       "description", NULL};
    enum csph_err rc = csph_yaml_only_keys(y, item, keys, "a client", err);
    const char *s;
    if (rc)
        return rc;
    memset(id, 0, sizeof *id);
    yaml_node_t *n = csph_yaml_get(y, item, "name");
    if (!n)
        return csph_yaml_fail(y, item, err, "a client needs a name (its agency or person)");
    if ((rc = csph_yaml_str(y, n, "name", &s, err)))
        return rc;
    if (!*s || strlen(s) > 64)
        return csph_yaml_fail(y, n, err, "a client's name is 1-64 characters");
    snprintf(id->name, sizeof id->name, "%s", s);
    n = csph_yaml_get(y, item, "role");
    int role = -1;
    for (int i = 0; n && csph_yaml_scalar(n) && i < CSPH_ROLE__COUNT; i++)
        if (!strcmp(csph_yaml_scalar(n), role_names[i]))
            role = i;
    if (role < 0)
        return csph_yaml_fail(y, n ? n : item, err,
                              "client '%s' needs a role: agency, panel, auditor, admin or gateway",
                              id->name);
    id->role = (enum csph_role)role;
    if ((rc = read_key(y, item, id, err)))
        return rc;
    yaml_node_t *types = csph_yaml_get(y, item, "types"), *panels = csph_yaml_get(y, item, "panels");
    if (types && id->role != CSPH_ROLE_AGENCY)
        return csph_yaml_fail(y, types, err, "only an agency lists types");
    if (panels && id->role != CSPH_ROLE_PANEL && id->role != CSPH_ROLE_GATEWAY)
        return csph_yaml_fail(y, panels, err, "only a panel member or a gateway lists panels");
    if (id->role == CSPH_ROLE_AGENCY && !csph_yaml_seq_len(types))
        return csph_yaml_fail(y, types ? types : item, err,
                              "agency '%s' must list the event types it may publish (types: [...])",
                              id->name);
    if (id->role == CSPH_ROLE_GATEWAY && !csph_yaml_seq_len(panels))
        return csph_yaml_fail(y, panels ? panels : item, err,
                              "gateway '%s' must list the panels it may act on (panels: [...]): "
                              "they bound the people it acts for",
                              id->name);
    if (id->role == CSPH_ROLE_PANEL && !csph_yaml_seq_len(panels))
        return csph_yaml_fail(y, panels ? panels : item, err,
                              "panel member '%s' must list the panels it may read (panels: [...])",
                              id->name);
    for (size_t i = 0; i < csph_yaml_seq_len(types); i++) {
        yaml_node_t *t = csph_yaml_seq_item(y, types, i);
        if ((rc = csph_yaml_str(y, t, "a type", &s, err)))
            return rc;
        if (id->ntypes == CSPH_MAX_TYPES || strlen(s) > 64)
            return csph_yaml_fail(y, t, err, "too many types, or a type name over 64 characters");
        snprintf(id->types[id->ntypes++], 65, "%s", s);
    }
    for (size_t i = 0; i < csph_yaml_seq_len(panels); i++) {
        yaml_node_t *p = csph_yaml_seq_item(y, panels, i);
        if ((rc = csph_yaml_str(y, p, "a panel", &s, err)))
            return rc;
        int pi = csph_config_panel_find(cfg, s, strlen(s));
        if (pi < 0)
            return csph_yaml_fail(y, p, err, "no panel named '%s' (see the panels file)", s);
        id->panels |= 1ull << pi;
    }
    return CSPH_ERR_OK;
}

enum csph_err csph_identities_load(struct csph_identities *out, const char *path,
                                   const struct csph_config *cfg, struct csph_error *err)
{
    struct csph_yaml y;
    char msg[600];
    if (not_writable_by_others(path, "the identity file", msg, sizeof msg))
        return csph_error_set(err, CSPH_ERR_CONFIG, "identities_file", "%s", msg);
    enum csph_err rc = csph_yaml_load(&y, path, err);
    if (rc)
        return rc;
    struct csph_identities ids = {0};
    yaml_node_t *root = csph_yaml_root(&y);
    yaml_node_t *clients = csph_yaml_get(&y, root, "clients");
    size_t n = csph_yaml_seq_len(clients);
    if (!n) {
        rc = csph_yaml_fail(&y, root, err, "expected 'clients:' followed by a list of clients");
        goto done;
    }
    ids.v = calloc(n, sizeof *ids.v);
    if (!ids.v) {
        rc = csph_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = csph_yaml_seq_item(&y, clients, i);
        struct csph_identity *id = &ids.v[ids.n];
        if ((rc = read_client(&y, item, cfg, id, err)))
            goto done;
        for (size_t j = 0; j < ids.n; j++) {
            if (!strcmp(ids.v[j].name, id->name)) {
                rc = csph_yaml_fail(&y, item, err, "client '%s' is listed twice", id->name);
                goto done;
            }
            if (!memcmp(ids.v[j].public_key, id->public_key, 32)) {
                rc = csph_yaml_fail(&y, item, err, "clients '%s' and '%s' have the same key",
                                    ids.v[j].name, id->name);
                goto done;
            }
        }
        ids.n++;
    }
    rc = csph_people_read(&y, root, cfg, &ids, err); /* hook: people.h */
done:
    csph_yaml_free(&y);
    if (rc)
        csph_identities_free(&ids);
    else
        *out = ids;
    return rc;
}

const struct csph_identity *csph_identities_by_key(const struct csph_identities *ids,
                                                   const uint8_t key[32])
{
    for (size_t i = 0; i < ids->n; i++)
        if (!memcmp(ids->v[i].public_key, key, 32))
            return &ids->v[i];
    return NULL;
}

const struct csph_identity *csph_identities_by_name(const struct csph_identities *ids,
                                                    const char *name, size_t len)
{
    for (size_t i = 0; i < ids->n; i++)
        if (strlen(ids->v[i].name) == len && !memcmp(ids->v[i].name, name, len))
            return &ids->v[i];
    return NULL;
}

int csph_identity_may(const struct csph_identity *id, enum csph_op op)
{
    if (op == CSPH_OP_PING)
        return 1;
    switch (id->role) {
    case CSPH_ROLE_AGENCY: return op == CSPH_OP_PUBLISH;
    case CSPH_ROLE_PANEL:
        return op == CSPH_OP_FETCH || op == CSPH_OP_ACK || op == CSPH_OP_ALERTS ||
               op == CSPH_OP_ALERT_UPDATE || op == CSPH_OP_EVIDENCE || op == CSPH_OP_ALERT ||
               op == CSPH_OP_PERSON;
    case CSPH_ROLE_AUDITOR:
        return op == CSPH_OP_REPLAY || op == CSPH_OP_REJECTS || op == CSPH_OP_ALERTS ||
               op == CSPH_OP_EVIDENCE || op == CSPH_OP_STATS || op == CSPH_OP_ALERT ||
               op == CSPH_OP_PERSON;
    case CSPH_ROLE_ADMIN: return op == CSPH_OP_STATS || op == CSPH_OP_REJECTS;
    /* On its own a gateway only holds the fetches that tell it of new
     * alerts; everything else it does as a person (people.h). */
    case CSPH_ROLE_GATEWAY: return op == CSPH_OP_FETCH || op == CSPH_OP_ACK;
    }
    return 0;
}

int csph_identity_may_publish(const struct csph_identity *id, const char *type, size_t len)
{
    if (id->role != CSPH_ROLE_AGENCY)
        return 0;
    for (size_t i = 0; i < id->ntypes; i++)
        if (strlen(id->types[i]) == len && !memcmp(id->types[i], type, len))
            return 1;
    return 0;
}

int csph_identity_may_panel(const struct csph_identity *id, int panel)
{
    /* A person a gateway acts for: never beyond the gateway's panels. */
    if (id->gateway[0] && (panel < 0 || !(id->gateway_panels >> panel & 1)))
        return 0;
    if (id->role == CSPH_ROLE_AUDITOR)
        return 1;
    return (id->role == CSPH_ROLE_PANEL || id->role == CSPH_ROLE_GATEWAY) && panel >= 0 &&
           (id->panels >> panel & 1);
}
