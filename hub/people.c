#include "people.h"

#include <stdlib.h>
#include <string.h>

static enum csph_err read_person(struct csph_yaml *y, yaml_node_t *item,
                                 const struct csph_config *cfg, struct csph_person *p,
                                 struct csph_error *err)
{
    static const char *const keys[] = {"name", "role", "panels", "disabled", "description", NULL};
    enum csph_err rc = csph_yaml_only_keys(y, item, keys, "a person", err);
    const char *s;
    if (rc)
        return rc;
    memset(p, 0, sizeof *p);
    yaml_node_t *n = csph_yaml_get(y, item, "name");
    if (!n)
        return csph_yaml_fail(y, item, err, "a person needs a name (their sign-in name)");
    if ((rc = csph_yaml_str(y, n, "name", &s, err)))
        return rc;
    size_t len = strlen(s);
    if (!len || len > 64)
        return csph_yaml_fail(y, n, err, "a person's name is 1-64 characters");
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f)
            return csph_yaml_fail(y, n, err, "person '%s': a name has no spaces or control "
                                  "characters", s);
    snprintf(p->name, sizeof p->name, "%s", s);
    n = csph_yaml_get(y, item, "role");
    const char *role = n ? csph_yaml_scalar(n) : NULL;
    int r = role ? csph_role_parse(role, strlen(role)) : -1;
    if (r != CSPH_ROLE_PANEL && r != CSPH_ROLE_AUDITOR && r != CSPH_ROLE_ADMIN)
        return csph_yaml_fail(y, n ? n : item, err,
                              "person '%s' needs a role: panel, auditor or admin", p->name);
    p->role = (enum csph_role)r;
    yaml_node_t *panels = csph_yaml_get(y, item, "panels");
    if (panels && p->role != CSPH_ROLE_PANEL)
        return csph_yaml_fail(y, panels, err, "only a panel member lists panels");
    if (p->role == CSPH_ROLE_PANEL && !csph_yaml_seq_len(panels))
        return csph_yaml_fail(y, panels ? panels : item, err,
                              "panel member '%s' must list their panels (panels: [...])", p->name);
    for (size_t i = 0; i < csph_yaml_seq_len(panels); i++) {
        yaml_node_t *pn = csph_yaml_seq_item(y, panels, i);
        if ((rc = csph_yaml_str(y, pn, "a panel", &s, err)))
            return rc;
        int pi = csph_config_panel_find(cfg, s, strlen(s));
        if (pi < 0)
            return csph_yaml_fail(y, pn, err, "no panel named '%s' (see the panels file)", s);
        p->panels |= 1ull << pi;
    }
    if ((n = csph_yaml_get(y, item, "disabled")) &&
        (rc = csph_yaml_bool(y, n, "disabled", &p->disabled, err)))
        return rc;
    return CSPH_ERR_OK;
}

enum csph_err csph_people_read(struct csph_yaml *y, yaml_node_t *root,
                               const struct csph_config *cfg, struct csph_identities *ids,
                               struct csph_error *err)
{
    yaml_node_t *people = csph_yaml_get(y, root, "people");
    size_t n = csph_yaml_seq_len(people);
    if (people && !n && !csph_yaml_scalar(people))
        return csph_yaml_fail(y, people, err, "expected 'people:' followed by a list of people");
    if (!n)
        return CSPH_ERR_OK;
    if (!(ids->people = calloc(n, sizeof *ids->people)))
        return csph_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = csph_yaml_seq_item(y, people, i);
        struct csph_person *p = &ids->people[ids->npeople];
        enum csph_err rc = read_person(y, item, cfg, p, err);
        if (rc)
            return rc;
        if (csph_people_find(ids, p->name, strlen(p->name)))
            return csph_yaml_fail(y, item, err, "person '%s' is listed twice", p->name);
        if (csph_identities_by_name(ids, p->name, strlen(p->name)))
            return csph_yaml_fail(y, item, err,
                                  "person '%s' has the name of a client: decisions and access "
                                  "records must say which of them acted",
                                  p->name);
        ids->npeople++;
    }
    return CSPH_ERR_OK;
}

const struct csph_person *csph_people_find(const struct csph_identities *ids, const char *name,
                                           size_t len)
{
    for (size_t i = 0; i < ids->npeople; i++)
        if (strlen(ids->people[i].name) == len && !memcmp(ids->people[i].name, name, len))
            return &ids->people[i];
    return NULL;
}

enum csph_err csph_people_delegate(const struct csph_identities *ids, const struct csph_request *r,
                                   const struct csph_identity **who, struct csph_identity *as,
                                   struct csph_error *err)
{
    const char *name = NULL;
    size_t len = 0;
    enum csph_err rc = csph_wire_str(r, "as", 1, 64, 0, &name, &len, err);
    if (rc || !name)
        return rc;
    const struct csph_identity *gw = *who;
    if (!gw || gw->role != CSPH_ROLE_GATEWAY)
        return csph_error_set(err, CSPH_ERR_FORBIDDEN, "as",
                              "only a gateway identity may act for a person ('as')");
    /* Scope is panels: a read of the whole log (replay, rejects) or of the
     * hub's counters is nobody's through a console. */
    enum csph_op op = r->op;
    if (op != CSPH_OP_PING && op != CSPH_OP_FETCH && op != CSPH_OP_ACK &&
        op != CSPH_OP_ALERTS && op != CSPH_OP_ALERT && op != CSPH_OP_PERSON &&
        op != CSPH_OP_EVIDENCE && op != CSPH_OP_ALERT_UPDATE)
        return csph_error_set(err, CSPH_ERR_FORBIDDEN, "as",
                              "a gateway acts for a person only on panels' queues and alerts, "
                              "not for op '%s'",
                              csph_op_name(op));
    const struct csph_person *p = csph_people_find(ids, name, len);
    /* The same words for unknown and disabled would hide nothing from a
     * gateway, which holds the accounts: say which. */
    if (!p)
        return csph_error_set(err, CSPH_ERR_FORBIDDEN, "as",
                              "no person named '%.*s' in the hub's identity file", (int)len, name);
    if (p->disabled)
        return csph_error_set(err, CSPH_ERR_FORBIDDEN, "as", "person '%s' is disabled", p->name);
    memset(as, 0, sizeof *as);
    snprintf(as->name, sizeof as->name, "%s", p->name);
    as->role = p->role;
    as->panels = p->panels & gw->panels;
    snprintf(as->gateway, sizeof as->gateway, "%s", gw->name);
    as->gateway_panels = gw->panels;
    *who = as;
    return CSPH_ERR_OK;
}
