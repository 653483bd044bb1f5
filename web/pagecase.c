/* pagecase.c: a case's page, its forms, and a person's actions (pagecase.h). */
#define _GNU_SOURCE
#include "pagecase.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubpool.h"
#include "page.h"
#include "render.h"

#define WHAT_MAX 500
#define MINUTES_MAX 4000
#define ATTEND_MAX 64
#define CSPH_WEB_REASON 500

/* A form the hub (or the console) refused: shown again on the case page
 * with the message next to the field it names and what was typed kept. */
struct form_err {
    const char *form;         /* action, update, hear, risk, review, close */
    unsigned long long id;    /* update: the action's id */
    char field[64];           /* the field the refusal names ("" : none) */
    char message[512];
    const struct req_state *st;
};

static const char *const risks[] = {"standard", "medium", "high"};

/* Whether fe is about this form (and, for an update, this action). */
static int fe_is(const struct form_err *fe, const char *form, unsigned long long id)
{
    return fe && fe->form && !strcmp(fe->form, form) && fe->id == id;
}

/* Whether the refused field is one of names (a prefix: attendance.3 is
 * attendance's). */
static int fe_names(const struct form_err *fe, const char *const *names)
{
    for (int i = 0; names[i]; i++)
        if (!strncmp(fe->field, names[i], strlen(names[i])))
            return 1;
    return 0;
}

/* The refusal's message next to a field of names, when it names one. */
static void field_error(struct html *h, const struct form_err *fe, const char *form,
                        unsigned long long id, const char *const *names)
{
    if (!fe_is(fe, form, id) || !fe_names(fe, names))
        return;
    html_raw(h, "<p class=\"field-error\" role=\"alert\" data-field=\"");
    html_text(h, fe->field);
    html_raw(h, "\">");
    html_text(h, fe->message);
    html_raw(h, "</p>");
}

/* At a form's top: a refusal naming none of the form's fields (the case
 * closed meanwhile, a panel not one's own). */
static void form_error(struct html *h, const struct form_err *fe, const char *form,
                       unsigned long long id, const char *const *all)
{
    if (!fe_is(fe, form, id) || (fe->field[0] && fe_names(fe, all)))
        return;
    html_raw(h, "<p class=\"field-error\" role=\"alert\" data-field=\"");
    html_text(h, fe->field);
    html_raw(h, "\">");
    html_text(h, fe->message);
    html_raw(h, "</p>");
}

/* What was typed in field name of the refused form, or "". */
static const char *kept(const struct form_err *fe, const char *form, unsigned long long id,
                        const char *name, char *buf, size_t n)
{
    buf[0] = 0;
    if (fe_is(fe, form, id) && fe->st)
        web_form_field(fe->st, name, buf, n);
    return buf;
}

static void hidden(struct html *h, const char *name, const char *value)
{
    html_printf(h, "<input type=\"hidden\" name=\"%s\" value=\"", name);
    html_text(h, value);
    html_raw(h, "\">");
}

static void form_start(struct html *h, const struct web_session *ss, const char *what,
                       const char *panel, const char *key, const char *title)
{
    html_printf(h, "<form class=\"case-form noprint\" id=\"form-%s\" method=\"post\" "
                   "action=\"/case/%s\">",
                what, what);
    if (title)
        html_printf(h, "<h3>%s</h3>", title);
    hidden(h, "csrf", ss->csrf);
    hidden(h, "panel", panel);
    hidden(h, "key", key);
}

/* A <select> of values (label shown as the value), cur selected; first,
 * when not NULL, is an option with an empty value. */
static void select_of(struct html *h, const char *id, const char *name, const char *const *values,
                      size_t nv, const char *cur, const char *first)
{
    html_printf(h, "<select id=\"%s\" name=\"%s\">", id, name);
    if (first) {
        html_raw(h, "<option value=\"\">");
        html_text(h, first);
        html_raw(h, "</option>");
    }
    for (size_t i = 0; i < nv; i++) {
        html_raw(h, "<option value=\"");
        html_text(h, values[i]);
        html_printf(h, "\"%s>", cur && !strcmp(cur, values[i]) ? " selected" : "");
        html_text(h, values[i]);
        html_raw(h, "</option>");
    }
    html_raw(h, "</select>");
}

/* The three ways of giving a due date (PROTOCOL.md 5.2): one is filled. */
static void due_inputs(struct html *h, const struct form_err *fe, const char *form,
                       unsigned long long id, const char *prefix)
{
    static const char *const due_fields[] = {"due", NULL};
    char b1[16], b2[16], b3[16];
    html_printf(h, "<fieldset class=\"due\"><legend>Due (one of)</legend>"
                   "<label for=\"%s-due-days\">in days</label> <input id=\"%s-due-days\" "
                   "name=\"due_days\" type=\"number\" min=\"1\" max=\"3650\" size=\"4\" value=\"",
                prefix, prefix);
    html_text(h, kept(fe, form, id, "due_days", b1, sizeof b1));
    html_printf(h, "\"> <label for=\"%s-due-wdays\">or in working days</label> <input "
                   "id=\"%s-due-wdays\" name=\"due_working_days\" type=\"number\" min=\"1\" "
                   "max=\"3650\" size=\"4\" value=\"",
                prefix, prefix);
    html_text(h, kept(fe, form, id, "due_working_days", b2, sizeof b2));
    html_printf(h, "\"> <label for=\"%s-due-date\">or by the date</label> <input "
                   "id=\"%s-due-date\" name=\"due\" type=\"date\" value=\"",
                prefix, prefix);
    html_text(h, kept(fe, form, id, "due", b3, sizeof b3));
    html_raw(h, "\">");
    field_error(h, fe, form, id, due_fields);
    html_raw(h, "</fieldset>");
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* A case page's link: /case?panel=P&key=K (escaped for an attribute). */
static void case_href(struct html *h, const char *panel, const char *key)
{
    html_raw(h, "/case?panel=");
    html_url(h, panel);
    html_raw(h, "&amp;key=");
    html_url(h, key);
}

static void who_line(struct html *h, const json_t *ev, const char *at)
{
    char when[40];
    web_fmt_time(at, when, sizeof when);
    html_raw(h, " <span class=\"who\">(");
    if (str(ev, "by")) {
        html_raw(h, "by ");
        html_text(h, str(ev, "by"));
        if (str(ev, "gateway")) {
            html_raw(h, " through ");
            html_text(h, str(ev, "gateway"));
        }
        html_raw(h, ", ");
    }
    html_text(h, when);
    html_raw(h, ")</span>");
}

/* The case's history: its events as sentences, oldest first. */
static void history(struct html *h, const json_t *hist, int truncated)
{
    size_t i;
    json_t *x;
    html_printf(h, "<h2 id=\"history\">Reviews, hearings and decisions (%zu)</h2>",
                json_array_size(hist));
    if (truncated)
        html_raw(h, "<p>The earliest entries are not shown.</p>");
    if (!json_array_size(hist)) {
        html_raw(h, "<p>None recorded.</p>");
        return;
    }
    html_raw(h, "<ol class=\"history\">");
    json_array_foreach(hist, i, x) {
        const json_t *ev = json_object_get(x, "event");
        const char *type = str(ev, "type"), *status = str(ev, "status");
        html_raw(h, "<li>");
        if (!type) {
            html_raw(h, "(an entry no longer readable)");
        } else if (!strcmp(type, "case.opened")) {
            html_printf(h, "<b>Opened</b> on accepting <a href=\"/alert/%lld\">alert %lld</a>, "
                           "risk ",
                        (long long)json_integer_value(json_object_get(ev, "alert")),
                        (long long)json_integer_value(json_object_get(ev, "alert")));
            html_text(h, str(ev, "risk"));
        } else if (!strcmp(type, "case.update") && status && !strcmp(status, "reviewed")) {
            html_raw(h, "<b>Review recorded</b>");
            if (json_object_get(ev, "on_time"))
                html_raw(h, json_is_true(json_object_get(ev, "on_time")) ? ", on time" : ", late");
            if (str(ev, "risk")) {
                html_raw(h, "; risk ");
                html_text(h, str(ev, "risk"));
            }
        } else if (!strcmp(type, "case.update") && status && !strcmp(status, "closed")) {
            html_raw(h, "<b>Closed</b>, outcome ");
            html_text(h, str(ev, "outcome") ? str(ev, "outcome") : "not recorded");
        } else if (!strcmp(type, "case.update")) {
            html_raw(h, "<b>Risk set</b> to ");
            html_text(h, str(ev, "risk") ? str(ev, "risk") : "(unchanged)");
        } else if (!strcmp(type, "case.heard")) {
            html_raw(h, "<b>Heard</b> at the meeting of ");
            html_text(h, str(ev, "meeting"));
            html_raw(h, "; present: ");
            html_text(h, str(ev, "attendance"));
        } else if (!strcmp(type, "risk.assessment")) {
            html_raw(h, "<b>Risk assessment</b>: ");
            html_text(h, str(ev, "tool"));
            html_printf(h, " score %lld", (long long)json_integer_value(json_object_get(ev, "score")));
            if (str(ev, "risk")) {
                html_raw(h, ", risk ");
                html_text(h, str(ev, "risk"));
            }
            html_raw(h, " (from ");
            html_text(h, str(ev, "source"));
            html_raw(h, ")");
        } else {
            html_text(h, type);
        }
        who_line(h, ev, str(x, "received_at"));
        if (str(ev, "minutes")) {
            html_raw(h, "<blockquote>");
            html_text(h, str(ev, "minutes"));
            html_raw(h, "</blockquote>");
        }
        html_raw(h, "</li>");
    }
    html_raw(h, "</ol>");
}

/* One action's row; with write, an open action gets its update form. */
static void action_row(struct html *h, const struct web_session *ss, const json_t *a,
                       const char *panel, const char *key, int write, const struct form_err *fe)
{
    static const char *const upd_fields[] = {"status", "reason", "due", NULL};
    static const char *const st_fields[] = {"status", NULL}, *const reason_fields[] = {"reason", NULL};
    static const char *const statuses[] = {"done", "not_done", "retimed"};
    unsigned long long id = (unsigned long long)json_integer_value(json_object_get(a, "id"));
    char due[40], b1[32], b2[CSPH_WEB_REASON + 8];
    const char *status = str(a, "status");
    web_fmt_time(str(a, "due_at"), due, sizeof due);
    html_printf(h, "<tr id=\"action-%llu\"><td>%llu</td><td>", id, id);
    html_text(h, str(a, "what"));
    html_raw(h, "</td><td>");
    html_text(h, str(a, "owner"));
    html_raw(h, " <small>(");
    html_text(h, str(a, "owner_kind"));
    html_raw(h, ")</small></td><td>");
    html_text(h, due);
    if (json_is_true(json_object_get(a, "escalated")) && status && !strcmp(status, "open"))
        html_raw(h, " <strong>OVERDUE</strong>");
    html_raw(h, "</td><td class=\"action-status\">");
    html_text(h, status);
    if (status && !strcmp(status, "done"))
        html_raw(h, json_is_true(json_object_get(a, "on_time")) ? " (on time)" : " (late)");
    if (str(a, "reason")) {
        html_raw(h, ": ");
        html_text(h, str(a, "reason"));
    }
    html_raw(h, "</td><td>");
    if (write && status && !strcmp(status, "open")) {
        char fid[32];
        snprintf(fid, sizeof fid, "upd%llu", id);
        html_printf(h, "<form class=\"action-update noprint\" id=\"update-%llu\" method=\"post\" "
                       "action=\"/case/update\">",
                    id);
        hidden(h, "csrf", ss->csrf);
        hidden(h, "panel", panel);
        hidden(h, "key", key);
        html_printf(h, "<input type=\"hidden\" name=\"id\" value=\"%llu\">", id);
        form_error(h, fe, "update", id, upd_fields);
        html_printf(h, "<label for=\"%s-status\">Update</label> ", fid);
        char sid[40];
        snprintf(sid, sizeof sid, "%s-status", fid);
        select_of(h, sid, "status", statuses, 3, kept(fe, "update", id, "status", b1, sizeof b1),
                  NULL);
        field_error(h, fe, "update", id, st_fields);
        html_printf(h, " <label for=\"%s-reason\">reason (not done)</label> <input "
                       "id=\"%s-reason\" name=\"reason\" maxlength=\"500\" size=\"24\" value=\"",
                    fid, fid);
        html_text(h, kept(fe, "update", id, "reason", b2, sizeof b2));
        html_raw(h, "\">");
        field_error(h, fe, "update", id, reason_fields);
        due_inputs(h, fe, "update", id, fid);
        html_raw(h, "<button type=\"submit\">Save</button></form>");
    }
    html_raw(h, "</td></tr>");
}

/* The forms of an open case. */
static void case_forms(struct html *h, const struct web_session *ss, const char *panel,
                       const char *key, const json_t *choices, const char *alert,
                       const struct form_err *fe)
{
    static const char *const act_fields[] = {"what", "owner", "due", NULL};
    static const char *const what_f[] = {"what", NULL}, *const owner_f[] = {"owner", NULL};
    static const char *const hear_fields[] = {"meeting", "attendance", "minutes", NULL};
    static const char *const meeting_f[] = {"meeting", NULL}, *const att_f[] = {"attendance", NULL},
                             *const minutes_f[] = {"minutes", NULL};
    static const char *const risk_f[] = {"risk", NULL}, *const outcome_f[] = {"outcome", NULL};
    char buf[MINUTES_MAX + 8], cur[80];
    const json_t *owners = json_object_get(choices, "owners"), *o;
    size_t i;

    form_start(h, ss, "action", panel, key, "Set an action");
    if (alert && *alert)
        hidden(h, "alert", alert);
    form_error(h, fe, "action", 0, act_fields);
    html_raw(h, "<label for=\"action-what\">What</label><br><textarea id=\"action-what\" "
                "name=\"what\" rows=\"2\" cols=\"60\" maxlength=\"500\">");
    html_text(h, kept(fe, "action", 0, "what", buf, WHAT_MAX + 8));
    html_raw(h, "</textarea>");
    field_error(h, fe, "action", 0, what_f);
    html_raw(h, "<br><label for=\"action-owner\">Owner</label> <select id=\"action-owner\" "
                "name=\"owner\"><option value=\"\">choose</option>");
    kept(fe, "action", 0, "owner", cur, sizeof cur);
    json_array_foreach(owners, i, o) {
        const char *name = str(o, "name");
        html_raw(h, "<option value=\"");
        html_text(h, name);
        html_printf(h, "\"%s>", name && !strcmp(cur, name) ? " selected" : "");
        html_text(h, name);
        html_raw(h, " (");
        html_text(h, str(o, "kind"));
        html_raw(h, ")</option>");
    }
    html_raw(h, "</select>");
    field_error(h, fe, "action", 0, owner_f);
    due_inputs(h, fe, "action", 0, "action");
    html_raw(h, "<button type=\"submit\">Set the action</button></form>");

    form_start(h, ss, "hear", panel, key, "Record a hearing");
    form_error(h, fe, "hear", 0, hear_fields);
    html_raw(h, "<label for=\"hear-meeting\">Meeting (blank: today)</label> <input "
                "id=\"hear-meeting\" name=\"meeting\" type=\"date\" value=\"");
    html_text(h, kept(fe, "hear", 0, "meeting", cur, sizeof cur));
    html_raw(h, "\">");
    field_error(h, fe, "hear", 0, meeting_f);
    html_raw(h, "<fieldset class=\"attendance\"><legend>Agencies present</legend>");
    json_array_foreach(owners, i, o) {
        const char *name = str(o, "name"), *kind = str(o, "kind");
        if (!name || !kind || strcmp(kind, "agency"))
            continue;
        int checked = 0;
        for (int k = 0; fe_is(fe, "hear", 0) && fe->st && k < ATTEND_MAX; k++) {
            if (web_form_field_nth(fe->st, "attendance", k, cur, sizeof cur))
                break;
            checked |= !strcmp(cur, name);
        }
        html_raw(h, "<label><input type=\"checkbox\" name=\"attendance\" value=\"");
        html_text(h, name);
        html_printf(h, "\"%s> ", checked ? " checked" : "");
        html_text(h, name);
        html_raw(h, "</label> ");
    }
    field_error(h, fe, "hear", 0, att_f);
    html_raw(h, "</fieldset><label for=\"hear-minutes\">Minutes: what was decided</label><br>"
                "<textarea id=\"hear-minutes\" name=\"minutes\" rows=\"3\" cols=\"60\" "
                "maxlength=\"4000\">");
    html_text(h, kept(fe, "hear", 0, "minutes", buf, sizeof buf));
    html_raw(h, "</textarea>");
    field_error(h, fe, "hear", 0, minutes_f);
    html_raw(h, "<br><button type=\"submit\">Record the hearing</button></form>");

    form_start(h, ss, "risk", panel, key, "Risk level");
    form_error(h, fe, "risk", 0, risk_f);
    html_raw(h, "<label for=\"risk-risk\">New level</label> ");
    select_of(h, "risk-risk", "risk", risks, 3, kept(fe, "risk", 0, "risk", cur, sizeof cur), NULL);
    field_error(h, fe, "risk", 0, risk_f);
    html_raw(h, " <button type=\"submit\">Set the risk</button></form>");

    form_start(h, ss, "review", panel, key, "Record a review");
    form_error(h, fe, "review", 0, risk_f);
    html_raw(h, "<label for=\"review-risk\">Risk after the review</label> ");
    select_of(h, "review-risk", "risk", risks, 3, kept(fe, "review", 0, "risk", cur, sizeof cur),
              "unchanged");
    field_error(h, fe, "review", 0, risk_f);
    html_raw(h, " <button type=\"submit\">Record the review</button></form>");

    form_start(h, ss, "close", panel, key, "Close the case");
    form_error(h, fe, "close", 0, outcome_f);
    const json_t *outs = json_object_get(choices, "outcomes");
    if (!json_array_size(outs)) {
        html_raw(h, "<p>This panel has no outcomes configured (outcomes: in the panels file): a "
                    "case is closed with one of them.</p></form>");
        return;
    }
    const char *vals[32];
    size_t nv = 0;
    json_array_foreach(outs, i, o)
        if (nv < 32)
            vals[nv++] = json_string_value(o);
    html_raw(h, "<label for=\"close-outcome\">Outcome</label> ");
    select_of(h, "close-outcome", "outcome", vals, nv,
              kept(fe, "close", 0, "outcome", cur, sizeof cur), "choose");
    field_error(h, fe, "close", 0, outcome_f);
    html_raw(h, " <button type=\"submit\">Close the case</button></form>");
}

/* The case page; fe, when not NULL, is the form refused (status then the
 * refusal's HTTP status). */
static enum MHD_Result case_page(struct web_console *w, struct MHD_Connection *con,
                                 const struct web_session *ss, const char *panel, const char *key,
                                 const char *alert, const struct form_err *fe, int status)
{
    char why[512];
    if (!panel || !*panel || !key || !*key)
        return web_error_page(w, con, 400, ss, "Not accepted",
                              "a case is named by its panel and key: /case?panel=P&key=K");
    if (!web_account_may(w, ss, panel))
        return web_error_page(w, con, 403, ss, "Not allowed", "not a panel of yours");
    json_t *r = web_as_person(w, ss, json_pack("{s:s,s:s,s:s}", "op", "case", "panel", panel,
                                               "key", key),
                              why, sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return web_hub_refusal(w, con, ss, r, why);
    json_t *alerts = web_as_person(w, ss, json_pack("{s:s,s:s,s:s,s:i}", "op", "alerts", "panel",
                                                    panel, "person", key, "max", 100),
                                   why, sizeof why);
    const json_t *c = json_object_get(r, "case");
    int open = str(c, "status") && !strcmp(str(c, "status"), "open");
    /* Writes are a panel member's (the hub decides; the forms are shown
     * to those who may use them). */
    int write = !strcmp(ss->role, "panel");
    struct html h;
    html_init(&h);
    char title[200], when[40];
    snprintf(title, sizeof title, "Case %s (%s)", key, panel);
    web_page_head(&h, title, ss, w->cfg.panels);
    html_raw(&h, "<h1>Case ");
    html_text(&h, key);
    html_raw(&h, " on ");
    html_text(&h, panel);
    html_raw(&h, " <span class=\"status\">");
    html_text(&h, str(c, "status"));
    html_raw(&h, "</span></h1><p class=\"noprint\"><a href=\"/agenda?panel=");
    html_url(&h, panel);
    html_raw(&h, "\">The panel's agenda</a> · <a href=\"/queue?panel=");
    html_url(&h, panel);
    html_raw(&h, "\">Queue</a>");
    if (web_is_ref(key)) {
        html_raw(&h, " · <a href=\"/person/");
        html_url(&h, key);
        html_raw(&h, "\">Everything on this person</a>");
    }
    html_raw(&h, "</p><dl class=\"case\"><dt>Risk</dt><dd id=\"case-risk\">");
    html_text(&h, str(c, "risk"));
    web_fmt_time(str(c, "opened_at"), when, sizeof when);
    html_printf(&h, "</dd><dt>Opened</dt><dd>%s, on <a href=\"/alert/%lld\">alert %lld</a></dd>",
                when, (long long)json_integer_value(json_object_get(c, "alert")),
                (long long)json_integer_value(json_object_get(c, "alert")));
    web_fmt_time(str(c, "review_due"), when, sizeof when);
    html_raw(&h, "<dt>Next review</dt><dd>");
    html_text(&h, str(c, "review_due") ? when : "none (no cadence at this risk level)");
    if (json_is_true(json_object_get(c, "review_pending")))
        html_raw(&h, " <strong>due now</strong>");
    html_raw(&h, "</dd><dt>Last heard</dt><dd>");
    html_text(&h, str(c, "last_heard") ? str(c, "last_heard") : "never");
    html_raw(&h, "</dd>");
    if (!open) {
        web_fmt_time(str(c, "closed_at"), when, sizeof when);
        html_raw(&h, "<dt>Closed</dt><dd id=\"case-outcome\">");
        html_text(&h, when);
        html_raw(&h, ", outcome ");
        html_text(&h, str(c, "outcome") ? str(c, "outcome") : "not recorded");
        html_raw(&h, "</dd>");
    }
    html_raw(&h, "</dl>");

    html_raw(&h, "<h2 id=\"alerts\">Alerts</h2>");
    size_t i;
    json_t *a;
    if (!alerts || !json_is_true(json_object_get(alerts, "ok"))) {
        html_raw(&h, "<p class=\"error\">The hub did not list the alerts: ");
        html_text(&h, alerts ? str(json_object_get(alerts, "error"), "message") : why);
        html_raw(&h, "</p>");
    } else {
        html_raw(&h, "<ul class=\"case-alerts\">");
        json_array_foreach(json_object_get(alerts, "alerts"), i, a) {
            json_int_t id = json_integer_value(json_object_get(a, "id"));
            html_printf(&h, "<li><a href=\"/alert/%lld\">Alert %lld</a> (", (long long)id,
                        (long long)id);
            html_text(&h, str(a, "status"));
            html_raw(&h, ", ");
            html_text(&h, str(a, "priority"));
            html_raw(&h, "): ");
            html_text(&h, str(a, "reason"));
            html_raw(&h, "</li>");
        }
        if (!json_array_size(json_object_get(alerts, "alerts")))
            html_raw(&h, "<li>None.</li>");
        html_raw(&h, "</ul>");
    }

    const json_t *acts = json_object_get(r, "actions");
    html_printf(&h, "<h2 id=\"actions\">Actions (%zu)</h2>", json_array_size(acts));
    if (json_array_size(acts)) {
        html_raw(&h, "<table class=\"actions\"><thead><tr><th>#</th><th>What</th><th>Owner</th>"
                     "<th>Due</th><th>Status</th><th></th></tr></thead><tbody>");
        json_array_foreach(acts, i, a)
            action_row(&h, ss, a, panel, key, write, fe);
        html_raw(&h, "</tbody></table>");
    } else {
        html_raw(&h, "<p>None.</p>");
    }
    history(&h, json_object_get(r, "history"),
            json_is_true(json_object_get(r, "history_truncated")));
    if (write && open)
        case_forms(&h, ss, panel, key, json_object_get(r, "choices"), alert, fe);
    else if (write)
        html_raw(&h, "<p>The case is closed: nothing more can be recorded on it (its open "
                     "actions may still be updated). A new accepted alert opens it again.</p>");
    web_page_foot(&h);
    json_decref(r);
    json_decref(alerts);
    return web_send_html(w, con, status, &h, NULL);
}

enum MHD_Result web_page_case(struct web_console *w, struct MHD_Connection *con,
                              const struct web_session *ss)
{
    return case_page(w, con, ss, web_arg(con, "panel"), web_arg(con, "key"), web_arg(con, "alert"),
                     NULL, 200);
}

/* A whole number form field into req as name: 0 (absent or blank), 1 set,
 * -1 not a number (fe says so). */
static int int_field(const struct req_state *st, json_t *req, const char *name,
                     struct form_err *fe)
{
    char b[32], *end;
    if (web_form_field(st, name, b, sizeof b) || !b[0])
        return 0;
    long long v = strtoll(b, &end, 10);
    if (*end || v < 0) {
        snprintf(fe->field, sizeof fe->field, "%s", name);
        snprintf(fe->message, sizeof fe->message, "'%s' must be a whole number", name);
        return -1;
    }
    json_object_set_new(req, name, json_integer(v));
    return 1;
}

/* A text form field into req as name, when not blank. */
static void text_field(const struct req_state *st, json_t *req, const char *name, size_t max)
{
    char *b = malloc(max + 1);
    if (b && !web_form_field(st, name, b, max + 1) && b[0])
        json_object_set_new(req, name, json_string(b));
    free(b);
}

/* The request a posted form makes, or NULL when the console refuses it
 * itself (fe set). */
static json_t *form_request(const struct req_state *st, const char *what, const char *panel,
                            const char *key, struct form_err *fe)
{
    json_t *req = json_pack("{s:s,s:s}", "panel", panel, "key", key);
    int bad = 0;
    char b[80];
    if (!strcmp(what, "action")) {
        json_object_set_new(req, "op", json_string("action.create"));
        text_field(st, req, "what", WHAT_MAX * 2);
        text_field(st, req, "owner", 64);
        text_field(st, req, "due", 16);
        bad = int_field(st, req, "due_days", fe) < 0 || int_field(st, req, "due_working_days", fe) < 0 ||
              int_field(st, req, "alert", fe) < 0;
    } else if (!strcmp(what, "update")) {
        json_object_del(req, "key");
        json_object_set_new(req, "op", json_string("action.update"));
        text_field(st, req, "status", 16);
        text_field(st, req, "reason", CSPH_WEB_REASON * 2);
        text_field(st, req, "due", 16);
        bad = int_field(st, req, "id", fe) < 0 || int_field(st, req, "due_days", fe) < 0 ||
              int_field(st, req, "due_working_days", fe) < 0;
    } else if (!strcmp(what, "hear")) {
        json_object_set_new(req, "op", json_string("case.hear"));
        text_field(st, req, "meeting", 16);
        text_field(st, req, "minutes", MINUTES_MAX * 2);
        json_t *att = json_array();
        for (int k = 0; k < ATTEND_MAX && !web_form_field_nth(st, "attendance", k, b, sizeof b); k++)
            json_array_append_new(att, json_string(b));
        json_object_set_new(req, "attendance", att);
    } else if (!strcmp(what, "risk")) {
        json_object_set_new(req, "op", json_string("case.risk"));
        text_field(st, req, "risk", 16);
    } else if (!strcmp(what, "review")) {
        json_object_set_new(req, "op", json_string("case.review"));
        text_field(st, req, "risk", 16);
    } else {
        json_object_set_new(req, "op", json_string("case.close"));
        text_field(st, req, "outcome", 32);
    }
    if (bad) {
        json_decref(req);
        return NULL;
    }
    return req;
}

enum MHD_Result web_do_case(struct web_console *w, struct MHD_Connection *con,
                            const struct web_session *ss, const struct req_state *st,
                            const char *what)
{
    static const char *const forms[] = {"action", "update", "hear", "risk", "review", "close",
                                        NULL};
    const char *form = NULL;
    for (int i = 0; forms[i]; i++)
        if (!strcmp(what, forms[i]))
            form = forms[i];
    if (!form)
        return web_error_page(w, con, 404, ss, "Not found", "no such page");
    char panel[80], key[120], idb[32] = "", alert[32] = "", why[512];
    if (web_form_field(st, "panel", panel, sizeof panel) || web_form_field(st, "key", key, sizeof key))
        return web_error_page(w, con, 400, ss, "Not accepted",
                              "the form names no case (panel and key): reload the case's page");
    if (!web_account_may(w, ss, panel))
        return web_error_page(w, con, 403, ss, "Not allowed", "not a panel of yours");
    web_form_field(st, "alert", alert, sizeof alert);
    struct form_err fe = {.form = form, .st = st};
    if (!strcmp(form, "update") && !web_form_field(st, "id", idb, sizeof idb))
        fe.id = strtoull(idb, NULL, 10);
    json_t *req = form_request(st, form, panel, key, &fe);
    if (!req)
        return case_page(w, con, ss, panel, key, alert, &fe, 400);
    json_t *r = web_as_person(w, ss, req, why, sizeof why);
    if (!r)
        return web_hub_refusal(w, con, ss, r, why);
    if (!json_is_true(json_object_get(r, "ok"))) {
        const json_t *e = json_object_get(r, "error");
        const char *code = str(e, "code"), *msg = str(e, "message"), *field = str(e, "field");
        web_log("%s: the hub refused %s on %s/%s: %s", ss->name, form, panel, key,
                msg ? msg : "?");
        snprintf(fe.field, sizeof fe.field, "%s", field ? field : "");
        snprintf(fe.message, sizeof fe.message, "%s", msg ? msg : "refused, no reason given");
        /* due_days, due_working_days and due are one group on the form */
        if (!strncmp(fe.field, "due", 3))
            snprintf(fe.field, sizeof fe.field, "due");
        int status = !code                         ? 502
                     : !strcmp(code, "conflict")   ? 409
                     : !strcmp(code, "not_found")  ? 404
                     : !strcmp(code, "forbidden")  ? 403
                     : !strcmp(code, "busy")       ? 503
                                                   : 400;
        json_decref(r);
        return case_page(w, con, ss, panel, key, alert, &fe, status);
    }
    json_decref(r);
    web_log("'%s' recorded %s on case %s/%s", ss->name, form, panel, key);
    struct html to;
    html_init(&to);
    html_raw(&to, "/case?panel=");
    html_url(&to, panel);
    html_raw(&to, "&key=");
    html_url(&to, key);
    html_raw(&to, !strcmp(form, "action") || !strcmp(form, "update") ? "#actions" : "#history");
    enum MHD_Result rc = web_redirect(w, con, to.oom ? "/queue" : to.p, NULL);
    html_free(&to);
    return rc;
}

/* One list of actions (an `actions` reply's), linked to their cases when
 * link. */
static void actions_table(struct html *h, const json_t *acts, int link)
{
    size_t i;
    json_t *a;
    html_raw(h, "<table class=\"actions\"><thead><tr><th>#</th><th>Panel</th><th>Case</th>"
                "<th>What</th><th>Owner</th><th>Due</th><th>Status</th></tr></thead><tbody>");
    json_array_foreach(acts, i, a) {
        char due[40];
        web_fmt_time(str(a, "due_at"), due, sizeof due);
        html_printf(h, "<tr><td>%lld</td><td>", (long long)json_integer_value(json_object_get(a, "id")));
        html_text(h, str(a, "panel"));
        html_raw(h, "</td><td>");
        if (link) {
            html_raw(h, "<a href=\"");
            case_href(h, str(a, "panel"), str(a, "key"));
            html_raw(h, "\">");
            html_text(h, str(a, "key"));
            html_raw(h, "</a>");
        } else {
            html_text(h, str(a, "key"));
        }
        html_raw(h, "</td><td>");
        /* a restricted panel's action shows only that it exists */
        html_text(h, str(a, "what") ? str(a, "what") : "(restricted panel)");
        html_raw(h, "</td><td>");
        html_text(h, str(a, "owner") ? str(a, "owner") : "");
        html_raw(h, "</td><td>");
        html_text(h, due);
        html_raw(h, "</td><td>");
        html_text(h, str(a, "status"));
        html_raw(h, "</td></tr>");
    }
    if (!json_array_size(acts))
        html_raw(h, "<tr><td colspan=\"7\">None.</td></tr>");
    html_raw(h, "</tbody></table>");
}

enum MHD_Result web_page_actions(struct web_console *w, struct MHD_Connection *con,
                                 const struct web_session *ss)
{
    char why[512];
    const char *status = web_arg(con, "status");
    struct html h;
    html_init(&h);
    web_page_head(&h, "My actions", ss, w->cfg.panels);
    html_raw(&h, "<h1>My actions</h1>");
    if (!strcmp(ss->role, "agency")) {
        /* Someone at an agency: the hub answers with their agency's actions
         * and their own, nobody else's (PROTOCOL.md 5.2). */
        if (!w->cfg.key_file) {
            html_free(&h);
            return web_error_page(w, con, 403, ss, "Not allowed",
                                  "an agency's accounts need the hub in security curve (the "
                                  "identity file names the agency each person works for)");
        }
        json_t *req = json_pack("{s:s}", "op", "actions");
        if (status && *status)
            json_object_set_new(req, "status", json_string(status));
        json_t *r = web_as_person(w, ss, req, why, sizeof why);
        if (!r || !json_is_true(json_object_get(r, "ok"))) {
            html_free(&h);
            return web_hub_refusal(w, con, ss, r, why);
        }
        html_raw(&h, "<p>The actions panels have set your agency and you.</p>");
        actions_table(&h, json_object_get(r, "actions"), 0);
        json_decref(r);
    } else {
        char list[512];
        snprintf(list, sizeof list, "%s", w->cfg.panels ? w->cfg.panels : "");
        html_raw(&h, "<p>The actions you own on your panels.</p>");
        for (char *save = NULL, *p = strtok_r(list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            if (!web_account_may(w, ss, p))
                continue;
            json_t *req = json_pack("{s:s,s:s,s:s}", "op", "actions", "panel", p, "owner", ss->name);
            if (status && *status)
                json_object_set_new(req, "status", json_string(status));
            json_t *r = web_as_person(w, ss, req, why, sizeof why);
            if (!r) {
                html_free(&h);
                return web_hub_refusal(w, con, ss, r, why);
            }
            if (json_is_true(json_object_get(r, "ok"))) { /* a panel not theirs: skipped */
                html_raw(&h, "<h2>");
                html_text(&h, p);
                html_raw(&h, "</h2>");
                actions_table(&h, json_object_get(r, "actions"), 1);
            }
            json_decref(r);
        }
    }
    web_page_foot(&h);
    return web_send_html(w, con, 200, &h, NULL);
}
