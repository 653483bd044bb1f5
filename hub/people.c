#include "people.h"

#include "panelops.h"
#include "redo.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum hub_err read_person(struct hub_yaml *y, yaml_node_t *item,
                                const struct hub_config *cfg, const struct hub_identities *ids,
                                struct hub_person *p, struct hub_error *err)
{
    static const char *const keys[] = {"name", "role", "panels", "agency", "disabled",
                                       "description", NULL};
    enum hub_err rc = hub_yaml_only_keys(y, item, keys, "a person", err);
    const char *s;
    if (rc)
        return rc;
    memset(p, 0, sizeof *p);
    yaml_node_t *n = hub_yaml_get(y, item, "name");
    if (!n)
        return hub_yaml_fail(y, item, err, "a person needs a name (their sign-in name)");
    if ((rc = hub_yaml_str(y, n, "name", &s, err)))
        return rc;
    size_t len = strlen(s);
    if (!len || len > 64)
        return hub_yaml_fail(y, n, err, "a person's name is 1-64 characters");
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '-'))
            return hub_yaml_fail(y, n, err, "person '%s': a name is letters, digits and . _ @ - "
                                 "(no spaces)", s);
    }
    snprintf(p->name, sizeof p->name, "%s", s);
    n = hub_yaml_get(y, item, "role");
    const char *role = n ? hub_yaml_scalar(n) : NULL;
    int r = role ? hub_role_parse(role, strlen(role)) : -1;
    if (r != CSPH_ROLE_PANEL && r != CSPH_ROLE_AUDITOR && r != CSPH_ROLE_ADMIN &&
        r != CSPH_ROLE_STRATEGIC && r != CSPH_ROLE_AGENCY)
        return hub_yaml_fail(y, n ? n : item, err,
                             "person '%s' needs a role: panel, auditor, admin, strategic or "
                             "agency",
                             p->name);
    p->role = (enum hub_role)r;
    /* Someone at an agency: through the console they read their agency's
     * actions and their own (PROTOCOL.md 5.2), nothing else. */
    yaml_node_t *ag = hub_yaml_get(y, item, "agency");
    if (ag && p->role != CSPH_ROLE_AGENCY)
        return hub_yaml_fail(y, ag, err, "only a person of role agency names an agency");
    if (p->role == CSPH_ROLE_AGENCY) {
        if (!ag)
            return hub_yaml_fail(y, item, err,
                                 "person '%s' of role agency must name their agency (agency: "
                                 "NAME, a client of role agency)",
                                 p->name);
        if ((rc = hub_yaml_str(y, ag, "agency", &s, err)))
            return rc;
        const struct hub_identity *id = hub_identities_by_name(ids, s, strlen(s));
        if (!id || id->role != CSPH_ROLE_AGENCY)
            return hub_yaml_fail(y, ag, err,
                                 "agency: no client named '%s' of role agency in this file", s);
        snprintf(p->agency, sizeof p->agency, "%s", s);
    }
    yaml_node_t *panels = hub_yaml_get(y, item, "panels");
    if (panels && p->role != CSPH_ROLE_PANEL)
        return hub_yaml_fail(y, panels, err, "only a panel member lists panels");
    if (p->role == CSPH_ROLE_PANEL && !hub_yaml_seq_len(panels))
        return hub_yaml_fail(y, panels ? panels : item, err,
                             "panel member '%s' must list their panels (panels: [...])", p->name);
    for (size_t i = 0; i < hub_yaml_seq_len(panels); i++) {
        yaml_node_t *pn = hub_yaml_seq_item(y, panels, i);
        if ((rc = hub_yaml_str(y, pn, "a panel", &s, err)))
            return rc;
        int pi = hub_config_panel_find(cfg, s, strlen(s));
        if (pi < 0)
            return hub_yaml_fail(y, pn, err, "no panel named '%s' (see the panels file)", s);
        p->panels |= 1ull << pi;
    }
    if ((n = hub_yaml_get(y, item, "disabled")) &&
        (rc = hub_yaml_bool(y, n, "disabled", &p->disabled, err)))
        return rc;
    return CSPH_ERR_OK;
}

enum hub_err hub_people_read(struct hub_yaml *y, yaml_node_t *root,
                             const struct hub_config *cfg, struct hub_identities *ids,
                             struct hub_error *err)
{
    yaml_node_t *people = hub_yaml_get(y, root, "people");
    size_t n = hub_yaml_seq_len(people);
    if (people && !n && !hub_yaml_scalar(people))
        return hub_yaml_fail(y, people, err, "expected 'people:' followed by a list of people");
    if (!n)
        return CSPH_ERR_OK;
    if (!(ids->people = calloc(n, sizeof *ids->people)))
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = hub_yaml_seq_item(y, people, i);
        struct hub_person *p = &ids->people[ids->npeople];
        enum hub_err rc = read_person(y, item, cfg, ids, p, err);
        if (rc)
            return rc;
        if (hub_people_find(ids, p->name, strlen(p->name)))
            return hub_yaml_fail(y, item, err, "person '%s' is listed twice", p->name);
        if (hub_identities_by_name(ids, p->name, strlen(p->name)))
            return hub_yaml_fail(y, item, err,
                                 "person '%s' has the name of a client: decisions and access "
                                 "records must say which of them acted",
                                 p->name);
        ids->npeople++;
    }
    return CSPH_ERR_OK;
}

const struct hub_person *hub_people_find(const struct hub_identities *ids, const char *name,
                                         size_t len)
{
    for (size_t i = 0; i < ids->npeople; i++)
        if (strlen(ids->people[i].name) == len && !memcmp(ids->people[i].name, name, len))
            return &ids->people[i];
    return NULL;
}

enum hub_err hub_people_delegate(const struct hub_identities *ids, const struct hub_request *r,
                                 const struct hub_identity **who, struct hub_identity *as,
                                 struct hub_error *err)
{
    const char *name = NULL;
    size_t len = 0;
    enum hub_err rc = hub_wire_str(r, "as", 1, 64, 0, &name, &len, err);
    if (rc || !name)
        return rc;
    const struct hub_identity *gw = *who;
    if (!gw || gw->role != CSPH_ROLE_GATEWAY)
        return hub_error_set(err, CSPH_ERR_FORBIDDEN, "as",
                             "only a gateway identity may act for a person ('as')");
    /* Scope is panels: a read of the whole log (replay, rejects) or of the
     * hub's counters is nobody's through a console. A report is aggregates
     * only through a gateway (suppressed, no drill-down: reportop.c). */
    enum hub_op op = r->op;
    if (op != CSPH_OP_PING && op != CSPH_OP_FETCH && op != CSPH_OP_ACK &&
        op != CSPH_OP_ALERTS && op != CSPH_OP_ALERT && op != CSPH_OP_PERSON &&
        op != CSPH_OP_EVIDENCE && op != CSPH_OP_ALERT_UPDATE && op != CSPH_OP_REPORT &&
        !hub_panelops_delegable(op)) /* hook: a panel's cases, actions, meetings */
        return hub_error_set(err, CSPH_ERR_FORBIDDEN, "as",
                             "a gateway acts for a person only on panels' queues and alerts "
                             "and on reports, not for op '%s'",
                             hub_op_name(op));
    const struct hub_person *p = hub_people_find(ids, name, len);
    /* The same words for unknown and disabled would hide nothing from a
     * gateway, which holds the accounts: say which. */
    if (!p)
        return hub_error_set(err, CSPH_ERR_FORBIDDEN, "as",
                             "no person named '%.*s' in the hub's identity file", (int)len, name);
    if (p->disabled)
        return hub_error_set(err, CSPH_ERR_FORBIDDEN, "as", "person '%s' is disabled", p->name);
    memset(as, 0, sizeof *as);
    snprintf(as->name, sizeof as->name, "%s", p->name);
    as->role = p->role;
    as->panels = p->panels & gw->panels;
    snprintf(as->agency, sizeof as->agency, "%s", p->agency);
    snprintf(as->gateway, sizeof as->gateway, "%s", gw->name);
    as->gateway_panels = gw->panels;
    *who = as;
    return CSPH_ERR_OK;
}

/* The list as JSON text: names and panels are of a safe alphabet (checked
 * when read), so no escaping is needed. */
static char *people_json(const struct hub_identities *ids, const struct hub_config *cfg,
                         size_t *len)
{
    size_t cap = 64 + ids->npeople * (176 + cfg->npanels * 70), used = 0;
    char *t = malloc(cap);
    if (!t)
        return NULL;
    used += (size_t)snprintf(t + used, cap - used, "[");
    for (size_t i = 0; i < ids->npeople; i++) {
        const struct hub_person *p = &ids->people[i];
        used += (size_t)snprintf(t + used, cap - used, "%s{\"name\":\"%s\",\"role\":\"%s\",\"panels\":[",
                                 i ? "," : "", p->name, hub_role_name(p->role));
        int first = 1;
        for (size_t k = 0; k < cfg->npanels; k++)
            if (p->panels >> k & 1) {
                used += (size_t)snprintf(t + used, cap - used, "%s\"%s\"", first ? "" : ",",
                                         cfg->panels[k].name);
                first = 0;
            }
        used += (size_t)snprintf(t + used, cap - used, "]");
        if (p->agency[0]) /* only for role agency: older lists keep their digest */
            used += (size_t)snprintf(t + used, cap - used, ",\"agency\":\"%s\"", p->agency);
        used += (size_t)snprintf(t + used, cap - used, ",\"disabled\":%s}",
                                 p->disabled ? "true" : "false");
    }
    used += (size_t)snprintf(t + used, cap - used, "]");
    *len = used;
    return t;
}

#define PEOPLE_DB "people_recorded"

enum hub_err hub_people_record(struct hub_ingest *g, struct hub_store *s,
                               const struct hub_identities *ids, const struct hub_config *cfg,
                               int64_t now_ms, uint64_t *seq, struct hub_error *err)
{
    *seq = 0;
    size_t len = 0;
    char *text = people_json(ids, cfg, &len);
    if (!text)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    if (len > 60000) {
        free(text);
        return hub_error_set(err, CSPH_ERR_CONFIG, "identities_file",
                             "the people list is too long to record in the log (%zu bytes of "
                             "JSON, at most 60000)", len);
    }
    unsigned char h[16];
    char digest[33];
    crypto_generichash(h, sizeof h, (const unsigned char *)text, len, NULL, 0);
    sodium_bin2hex(digest, sizeof digest, h, sizeof h);
    MDB_dbi dbi;
    enum hub_err rc = hub_store_dbi(s, PEOPLE_DB, 0, &dbi, err);
    MDB_val k = {4, (void *)"last"}, v;
    if (!rc && mdb_get(hub_store_txn(s), dbi, &k, &v) == 0 && v.mv_size == 32 &&
        !memcmp(v.mv_data, digest, 32)) {
        free(text);
        return CSPH_ERR_OK; /* the list in force is the one last recorded */
    }
    if (!rc)
        rc = hub_ingest_people_loaded(g, digest, text, len, now_ms, seq, err);
    free(text);
    if (rc)
        return rc;
    v.mv_size = 32;
    v.mv_data = digest;
    int mrc = hub_redo_put(hub_store_redo(s), hub_store_txn(s), dbi, &k, &v, 0);
    if (mrc)
        return hub_error_set(err, mrc == MDB_MAP_FULL ? CSPH_ERR_BUSY : CSPH_ERR_INTERNAL, NULL,
                             "recording the people list: %s", mdb_strerror(mrc));
    return CSPH_ERR_OK;
}
