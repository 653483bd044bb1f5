/* pageagenda.c: a panel's next meeting's agenda (pageagenda.h). */
#define _GNU_SOURCE
#include "pageagenda.h"

#include <stdio.h>
#include <string.h>

#include "hubpool.h"
#include "page.h"
#include "render.h"

/* The agenda of a panel's next meeting (or of ?meeting=YYYY-MM-DD), read
 * only: the hub's `agenda` op (docs/panels.md), for the coordinator to
 * print before the meeting. */
static void agenda_cases(struct html *h, const char *title, json_t *cases)
{
    size_t i;
    json_t *c;
    html_printf(h, "<h2>%s (%zu)</h2>", title, json_array_size(cases));
    if (!json_array_size(cases)) {
        html_raw(h, "<p>None.</p>");
        return;
    }
    html_raw(h, "<table><thead><tr><th>Case</th><th>Risk</th><th>Opened</th><th>Review due</th>"
                "<th>Last heard</th></tr></thead><tbody>");
    json_array_foreach(cases, i, c) {
        if (json_is_null(c))
            continue;
        const char *key = json_string_value(json_object_get(c, "key"));
        const char *due = json_string_value(json_object_get(c, "review_due"));
        const char *heard = json_string_value(json_object_get(c, "last_heard"));
        const char *opened = json_string_value(json_object_get(c, "opened_at"));
        /* the case's page (pagecase.h), where its work is recorded */
        html_raw(h, "<tr><td><a class=\"case-link\" href=\"/case?panel=");
        html_url(h, json_string_value(json_object_get(c, "panel")));
        html_raw(h, "&amp;key=");
        html_url(h, key ? key : "");
        html_raw(h, "\">");
        html_text(h, key ? key : "");
        html_raw(h, "</a>");
        if (web_is_ref(key)) {
            html_raw(h, " <small><a href=\"/person/");
            html_url(h, key);
            html_raw(h, "\">person</a></small>");
        }
        html_raw(h, "</td><td>");
        html_text(h, json_string_value(json_object_get(c, "risk")));
        html_raw(h, "</td><td>");
        html_printf(h, "%.10s", opened ? opened : "");
        html_raw(h, "</td><td>");
        html_printf(h, "%.10s%s", due ? due : "-",
                    json_is_true(json_object_get(c, "review_pending")) ? " (waiting)" : "");
        html_raw(h, "</td><td>");
        html_text(h, heard ? heard : "never");
        html_raw(h, "</td></tr>");
    }
    html_raw(h, "</tbody></table>");
}

enum MHD_Result web_do_agenda_issue(struct web_console *w, struct MHD_Connection *con,
                                    const struct web_session *ss, const struct req_state *st)
{
    char panel[80], meeting[16] = "", why[512];
    if (web_form_field(st, "panel", panel, sizeof panel))
        return web_error_page(w, con, 400, ss, "Not accepted", "the form names no panel");
    web_form_field(st, "meeting", meeting, sizeof meeting);
    if (!web_account_may(w, ss, panel))
        return web_error_page(w, con, 403, ss, "Not allowed", "not a panel of yours");
    json_t *req = json_pack("{s:s,s:s}", "op", "agenda.issue", "panel", panel);
    if (meeting[0])
        json_object_set_new(req, "meeting", json_string(meeting));
    json_t *r = web_as_person(w, ss, req, why, sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return web_hub_refusal(w, con, ss, r, why);
    web_log("'%s' issued the agenda of %s's meeting of %s", ss->name, panel, meeting);
    struct html to;
    html_init(&to);
    html_raw(&to, "/agenda?panel=");
    html_url(&to, panel);
    html_raw(&to, "&meeting=");
    html_url(&to, meeting);
    html_printf(&to, "&issued=%lld", (long long)json_integer_value(json_object_get(r, "seq")));
    enum MHD_Result rc = web_redirect(w, con, to.oom ? "/queue" : to.p, NULL);
    html_free(&to);
    json_decref(r);
    return rc;
}

enum MHD_Result web_page_agenda(struct web_console *w, struct MHD_Connection *con,
                                   const struct web_session *ss)
{
    char pbuf[65], why[512];
    const char *panel = web_arg(con, "panel"), *meeting = web_arg(con, "meeting");
    if (!panel || !*panel)
        panel = web_first_panel(w->cfg.panels, pbuf, sizeof pbuf);
    if (!web_account_may(w, ss, panel))
        return web_error_page(w, con, 403, ss, "Not allowed", "not a panel of yours");
    json_t *req = json_pack("{s:s,s:s}", "op", "agenda", "panel", panel);
    if (meeting && *meeting)
        json_object_set_new(req, "meeting", json_string(meeting));
    json_t *r = web_as_person(w, ss, req, why, sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return web_hub_refusal(w, con, ss, r, why);
    json_t *a = json_object_get(r, "agenda");
    struct html h;
    html_init(&h);
    char title[128];
    snprintf(title, sizeof title, "Agenda: %s", panel);
    web_page_head(&h, title, ss, w->cfg.panels);
    html_raw(&h, "<h1>Agenda: ");
    html_text(&h, panel);
    html_raw(&h, ", meeting of ");
    html_text(&h, json_string_value(json_object_get(a, "meeting")));
    html_raw(&h, "</h1><p>Previous meeting: ");
    const char *prev = json_string_value(json_object_get(a, "previous"));
    html_text(&h, prev ? prev : "none");
    html_raw(&h, "</p>");
    const char *issued = web_arg(con, "issued");
    if (issued && strspn(issued, "0123456789") == strlen(issued) && *issued)
        html_printf(&h, "<p class=\"notice\" role=\"status\">Issued: this agenda is recorded in the "
                        "log (event %s).</p>",
                    issued);
    if (!strcmp(ss->role, "panel")) {
        /* The agenda as sent to the panel, kept in the log (meeting.agenda). */
        html_raw(&h, "<form class=\"noprint\" id=\"form-issue\" method=\"post\" "
                     "action=\"/agenda/issue\"><input type=\"hidden\" name=\"csrf\" value=\"");
        html_text(&h, ss->csrf);
        html_raw(&h, "\"><input type=\"hidden\" name=\"panel\" value=\"");
        html_text(&h, panel);
        html_raw(&h, "\"><input type=\"hidden\" name=\"meeting\" value=\"");
        html_text(&h, json_string_value(json_object_get(a, "meeting")));
        html_raw(&h, "\"><button type=\"submit\">Issue this agenda (record it in the log)</button>"
                     "</form>");
    }
    json_t *acc = json_object_get(a, "accepted"), *x;
    size_t i;
    html_printf(&h, "<h2>Alerts accepted since the last meeting (%zu)</h2><ul>",
                json_array_size(acc));
    json_array_foreach(acc, i, x) {
        json_int_t id = json_integer_value(json_object_get(x, "alert"));
        html_printf(&h, "<li><a href=\"/alert/%lld\">Alert %lld</a>: ", (long long)id,
                    (long long)id);
        html_text(&h, json_string_value(json_object_get(x, "key")));
        html_raw(&h, "</li>");
    }
    html_raw(&h, "</ul>");
    agenda_cases(&h, "New cases since the last meeting", json_object_get(a, "new_cases"));
    agenda_cases(&h, "Reviews due", json_object_get(a, "reviews_due"));
    agenda_cases(&h, "12 months since last heard", json_object_get(a, "anniversaries"));
    json_t *acts = json_object_get(a, "actions");
    html_printf(&h, "<h2>Incomplete actions (%zu)</h2>", json_array_size(acts));
    if (json_array_size(acts)) {
        html_raw(&h, "<table><thead><tr><th>#</th><th>Case</th><th>What</th><th>Owner</th>"
                     "<th>Due</th></tr></thead><tbody>");
        json_array_foreach(acts, i, x) {
            if (json_is_null(x))
                continue;
            const char *due = json_string_value(json_object_get(x, "due_at"));
            html_printf(&h, "<tr><td>%lld</td><td><a href=\"/case?panel=",
                        (long long)json_integer_value(json_object_get(x, "id")));
            html_url(&h, panel);
            html_raw(&h, "&amp;key=");
            html_url(&h, json_string_value(json_object_get(x, "key")));
            html_raw(&h, "\">");
            html_text(&h, json_string_value(json_object_get(x, "key")));
            html_raw(&h, "</a></td><td>");
            html_text(&h, json_string_value(json_object_get(x, "what")));
            html_raw(&h, "</td><td>");
            html_text(&h, json_string_value(json_object_get(x, "owner")));
            html_printf(&h, "</td><td>%.10s%s</td></tr>", due ? due : "",
                        json_is_true(json_object_get(x, "escalated")) ? " (overdue)" : "");
        }
        html_raw(&h, "</tbody></table>");
    } else {
        html_raw(&h, "<p>None.</p>");
    }
    json_t *lb = json_object_get(a, "lookback");
    if (json_array_size(lb)) {
        html_printf(&h, "<h2>Look-back (%zu events)</h2><ul>", json_array_size(lb));
        json_array_foreach(lb, i, x) {
            const char *at = json_string_value(json_object_get(x, "occurred_at"));
            html_printf(&h, "<li>%.10s: ", at ? at : "");
            html_text(&h, json_string_value(json_object_get(x, "type")));
            json_t *ages = json_object_get(x, "ages"), *ag;
            size_t k;
            json_array_foreach(ages, k, ag)
                html_printf(&h, "%s%lld", k ? ", " : ", aged ", (long long)json_integer_value(ag));
            html_printf(&h, " (event %lld)</li>",
                        (long long)json_integer_value(json_object_get(x, "seq")));
        }
        html_raw(&h, "</ul>");
    }
    web_page_foot(&h);
    json_decref(r);
    return web_send_html(w, con, 200, &h, NULL);
}
