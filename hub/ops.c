#include "ops.h"

#include "erase.h"
#include "hold.h"
#include "panelops.h"
#include "reads.h"
#include "sar.h"
#include "writes.h"

#define AGENCY CSPH_ROLE_BIT(CSPH_ROLE_AGENCY)
#define PANEL CSPH_ROLE_BIT(CSPH_ROLE_PANEL)
#define AUDITOR CSPH_ROLE_BIT(CSPH_ROLE_AUDITOR)
#define ADMIN CSPH_ROLE_BIT(CSPH_ROLE_ADMIN)
#define STRATEGIC CSPH_ROLE_BIT(CSPH_ROLE_STRATEGIC)
#define GATEWAY CSPH_ROLE_BIT(CSPH_ROLE_GATEWAY)
#define DPO CSPH_ROLE_BIT(CSPH_ROLE_DPO)

/* One row an op, in CSPH_OP_MAP's order. `audited`: in curve mode, every
 * replay, rejects, alerts, evidence or fetch by a panel member or an
 * auditor, and every rejects by the admin (rejected events' bytes hold
 * person references), run in the write batch so the record commits before
 * the reply leaves (PROTOCOL.md 7). */
static const struct hub_op_row rows[CSPH_OP__COUNT] = {
    [CSPH_OP_PING] = {CSPH_OP_PING, CSPH_OPK_READ, CSPH_ROLES_ALL, 0, hub_op_ping},
    [CSPH_OP_STATS] = {CSPH_OP_STATS, CSPH_OPK_READ, AUDITOR | ADMIN, 0, hub_op_stats},
    [CSPH_OP_PUBLISH] = {CSPH_OP_PUBLISH, CSPH_OPK_WRITE, AGENCY, 0, hub_op_publish},
    [CSPH_OP_REPLAY] = {CSPH_OP_REPLAY, CSPH_OPK_READ, AUDITOR, PANEL | AUDITOR, hub_op_replay},
    [CSPH_OP_REJECTS] = {CSPH_OP_REJECTS, CSPH_OPK_READ, AUDITOR | ADMIN, PANEL | AUDITOR | ADMIN,
                         hub_op_rejects},
    /* On its own a gateway (the console) only holds the fetches that tell
     * it of new alerts; everything else it does as a person (people.h),
     * whose role then decides. */
    [CSPH_OP_FETCH] = {CSPH_OP_FETCH, CSPH_OPK_READ, PANEL | GATEWAY, PANEL | AUDITOR,
                       hub_op_fetch, CSPH_OPR_BATCH_TXN},
    [CSPH_OP_ACK] = {CSPH_OP_ACK, CSPH_OPK_WRITE, PANEL | GATEWAY, 0, hub_op_ack},
    [CSPH_OP_ALERTS] = {CSPH_OP_ALERTS, CSPH_OPK_READ, PANEL | AUDITOR, PANEL | AUDITOR,
                        hub_op_alerts},
    [CSPH_OP_ALERT_UPDATE] = {CSPH_OP_ALERT_UPDATE, CSPH_OPK_WRITE, PANEL, 0,
                              hub_op_alert_update},
    [CSPH_OP_EVIDENCE] = {CSPH_OP_EVIDENCE, CSPH_OPK_READ, PANEL | AUDITOR, PANEL | AUDITOR,
                          hub_op_evidence},
    [CSPH_OP_ALERT] = {CSPH_OP_ALERT, CSPH_OPK_READ, PANEL | AUDITOR, PANEL | AUDITOR,
                       hub_op_alert},
    [CSPH_OP_PERSON] = {CSPH_OP_PERSON, CSPH_OPK_READ, PANEL | AUDITOR, PANEL | AUDITOR,
                        hub_op_person},
    /* Computed off the loop thread (reportop.h): the server starts it and
     * records its audit.access itself when it is done, so no handler here
     * and never in a batch. */
    [CSPH_OP_REPORT] = {CSPH_OP_REPORT, CSPH_OPK_READ, AUDITOR | STRATEGIC, 0, NULL},
    /* Data protection (erase.h): the data protection officer only; the
     * request is itself an event in the log. */
    [CSPH_OP_ERASE] = {CSPH_OP_ERASE, CSPH_OPK_WRITE, DPO, 0, hub_op_erase},
    [CSPH_OP_HOLD] = {CSPH_OP_HOLD, CSPH_OPK_WRITE, DPO, 0, hub_op_hold},
    /* Panel work (panelops.h): reads for the panel's members and the
     * auditor, audited like the alert views; an agency reads its own
     * actions; writes by the panel's members. */
    [CSPH_OP_CASES] = {CSPH_OP_CASES, CSPH_OPK_READ, PANEL | AUDITOR, PANEL | AUDITOR,
                       hub_op_cases},
    [CSPH_OP_CASE] = {CSPH_OP_CASE, CSPH_OPK_READ, PANEL | AUDITOR, PANEL | AUDITOR, hub_op_case},
    [CSPH_OP_CASE_CLOSE] = {CSPH_OP_CASE_CLOSE, CSPH_OPK_WRITE, PANEL, 0, hub_op_case_close},
    [CSPH_OP_CASE_REVIEW] = {CSPH_OP_CASE_REVIEW, CSPH_OPK_WRITE, PANEL, 0, hub_op_case_review},
    [CSPH_OP_CASE_RISK] = {CSPH_OP_CASE_RISK, CSPH_OPK_WRITE, PANEL, 0, hub_op_case_risk},
    [CSPH_OP_CASE_HEAR] = {CSPH_OP_CASE_HEAR, CSPH_OPK_WRITE, PANEL, 0, hub_op_case_hear},
    [CSPH_OP_ACTIONS] = {CSPH_OP_ACTIONS, CSPH_OPK_READ, AGENCY | PANEL | AUDITOR,
                         PANEL | AUDITOR, hub_op_actions},
    [CSPH_OP_ACTION_CREATE] = {CSPH_OP_ACTION_CREATE, CSPH_OPK_WRITE, PANEL, 0,
                               hub_op_action_create},
    [CSPH_OP_ACTION_UPDATE] = {CSPH_OP_ACTION_UPDATE, CSPH_OPK_WRITE, PANEL, 0,
                               hub_op_action_update},
    [CSPH_OP_AGENDA] = {CSPH_OP_AGENDA, CSPH_OPK_READ, PANEL | AUDITOR, PANEL | AUDITOR,
                        hub_op_agenda},
    [CSPH_OP_AGENDA_ISSUE] = {CSPH_OP_AGENDA_ISSUE, CSPH_OPK_WRITE, PANEL, 0,
                              hub_op_agenda_issue},
    /* Subject access export (sar.h): the data protection officer only; a
     * write, because the request is itself an event (dp.sar). */
    [CSPH_OP_SAR] = {CSPH_OP_SAR, CSPH_OPK_WRITE, DPO, 0, hub_op_sar, CSPH_OPR_OWN_TXN},
};

const struct hub_op_row *hub_ops_row(enum hub_op op)
{
    return (unsigned)op < CSPH_OP__COUNT ? &rows[op] : NULL;
}

int hub_ops_audited(const struct hub_op_row *row, const struct hub_identity *who)
{
    return who && (row->audited & CSPH_ROLE_BIT(who->role));
}

int hub_ops_reads_committed(const struct hub_op_row *row)
{
    return row->reads == CSPH_OPR_BY_KIND ? row->kind != CSPH_OPK_WRITE
                                          : row->reads == CSPH_OPR_OWN_TXN;
}

int hub_ops_in_batch(const struct hub_op_row *row, const struct hub_identity *who)
{
    return row->kind == CSPH_OPK_WRITE || hub_ops_audited(row, who);
}

size_t hub_ops_reply_room(const struct hub_ctx *h, size_t req_len)
{
    size_t limit = h->cfg->limits.reply_max, env = CSPH_REPLY_ENVELOPE + req_len;
    return limit > env ? limit - env : 0;
}

enum hub_err hub_ops_panel_arg(struct hub_ctx *h, struct hub_req *q, int *panel)
{
    const char *p = NULL;
    size_t len = 0;
    enum hub_err rc = hub_wire_str(q->r, "panel", 1, 64, 1, &p, &len, &q->e);
    if (rc)
        return rc;
    *panel = hub_config_panel_find(h->cfg, p, len);
    if (*panel < 0)
        return hub_error_set(&q->e, CSPH_ERR_UNKNOWN_PANEL, "panel", "no panel named '%.*s'",
                             (int)len, p);
    if (q->who && !hub_identity_may_panel(q->who, *panel)) {
        h->c.forbidden++;
        return hub_error_set(&q->e, CSPH_ERR_FORBIDDEN, "panel",
                             "identity '%s' may not read panel %s", q->who->name,
                             h->cfg->panels[*panel].name);
    }
    return CSPH_ERR_OK;
}
