#define _GNU_SOURCE
#include "pagequeue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubpool.h"
#include "page.h"
#include "render.h"

enum MHD_Result web_page_queue(struct web_console *w, struct MHD_Connection *con,
                                  const struct web_session *ss)
{
    static const char *const statuses[] = {"open", "acknowledged", "accepted", "declined",
                                           "closed"};
    static const char *const priorities[] = {"standard", "medium", "high"};
    char pbuf[65];
    const char *panel = web_arg(con, "panel");
    if (!panel || !*panel)
        panel = web_first_panel(w->cfg.panels, pbuf, sizeof pbuf);
    const char *status = web_arg(con, "status"), *priority = web_arg(con, "priority"),
               *rule = web_arg(con, "rule"), *person = web_arg(con, "person"), *after = web_arg(con, "after");
    int over = web_arg(con, "overdue") && !strcmp(web_arg(con, "overdue"), "1");
    if (!web_account_may(w, ss, panel))
        return web_error_page(w, con, 403, ss, "Not allowed", "not a panel of yours");
    json_t *req = json_pack("{s:s,s:s,s:i}", "op", "alerts", "panel", panel, "max", QUEUE_PAGE);
    if (status && *status)
        json_object_set_new(req, "status", json_string(status));
    if (priority && *priority)
        json_object_set_new(req, "priority", json_string(priority));
    if (rule && *rule)
        json_object_set_new(req, "rule", json_string(rule));
    if (person && *person)
        json_object_set_new(req, "person", json_string(person));
    if (over)
        json_object_set_new(req, "overdue", json_true());
    if (after && *after) {
        char *end;
        unsigned long long v = strtoull(after, &end, 10);
        if (*end)
            return web_error_page(w, con, 400, ss, "Not accepted", "'after' is an alert number");
        json_object_set_new(req, "after", json_integer((json_int_t)v));
    }
    char why[512];
    json_t *r = web_as_person(w, ss, req, why, sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return web_hub_refusal(w, con, ss, r, why);
    struct html h;
    html_init(&h);
    char title[128];
    snprintf(title, sizeof title, "Queue: %s", panel);
    web_page_head(&h, title, ss, w->cfg.panels);
    html_raw(&h, "<h1>Queue: ");
    html_text(&h, panel);
    /* the panel's next meeting (pageagenda.h) */
    html_raw(&h, "</h1><p class=\"noprint\"><a href=\"/agenda?panel=");
    html_url(&h, panel);
    html_raw(&h, "\">Next meeting's agenda</a></p>");
    html_raw(&h, "<form class=\"filters\" method=\"get\" action=\"/queue\">"
                 "<input type=\"hidden\" name=\"panel\" value=\"");
    html_text(&h, panel);
    html_raw(&h, "\">");
    web_select_opt(&h, "status", "Status", statuses, 5, status);
    web_select_opt(&h, "priority", "Priority", priorities, 3, priority);
    html_raw(&h, "<label>Rule <input name=\"rule\" size=\"24\" value=\"");
    html_text(&h, rule);
    html_raw(&h, "\"></label> <label>Person <input name=\"person\" size=\"12\" value=\"");
    html_text(&h, person);
    html_printf(&h, "\"></label> <label><input type=\"checkbox\" name=\"overdue\" value=\"1\"%s>"
                    " Overdue only</label> <button type=\"submit\">Filter</button></form>",
                over ? " checked" : "");
    html_raw(&h, "<p id=\"live\" class=\"live\" aria-live=\"polite\" data-panel=\"");
    html_text(&h, panel);
    html_raw(&h, "\"></p><table class=\"queue\"><caption>Alerts, oldest first</caption><thead><tr>"
                 "<th scope=\"col\">Alert</th><th scope=\"col\">Priority</th>"
                 "<th scope=\"col\">Status</th><th scope=\"col\">Raised</th>"
                 "<th scope=\"col\">Due</th><th scope=\"col\">Rule</th>"
                 "<th scope=\"col\">Reason</th></tr></thead><tbody>");
    json_t *alerts = json_object_get(r, "alerts");
    size_t i;
    json_t *a;
    json_array_foreach(alerts, i, a) {
        char raised[40], due[40];
        web_fmt_time(json_string_value(json_object_get(a, "raised_at")), raised, sizeof raised);
        web_fmt_time(json_string_value(json_object_get(a, "due_at")), due, sizeof due);
        int od = web_overdue(a);
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        html_printf(&h, "<tr%s><td><a href=\"/alert/%lld\">%lld</a></td><td class=\"p-",
                    od ? " class=\"overdue\"" : "", (long long)id, (long long)id);
        html_text(&h, json_string_value(json_object_get(a, "priority")));
        html_raw(&h, "\">");
        html_text(&h, json_string_value(json_object_get(a, "priority")));
        html_raw(&h, "</td><td>");
        html_text(&h, json_string_value(json_object_get(a, "status")));
        html_raw(&h, "</td><td>");
        html_text(&h, raised);
        html_raw(&h, "</td><td>");
        html_text(&h, json_object_get(a, "due_at") ? due : "-");
        if (od)
            html_raw(&h, " <strong>OVERDUE</strong>");
        html_raw(&h, "</td><td>");
        html_text(&h, json_string_value(json_object_get(a, "rule")));
        html_raw(&h, "</td><td>");
        html_text(&h, json_string_value(json_object_get(a, "reason")));
        html_raw(&h, "</td></tr>");
    }
    if (!json_array_size(alerts))
        html_raw(&h, "<tr><td colspan=\"7\">No alerts match.</td></tr>");
    html_raw(&h, "</tbody></table>");
    if (json_is_false(json_object_get(r, "end"))) {
        html_raw(&h, "<p><a rel=\"next\" href=\"/queue?panel=");
        html_url(&h, panel);
        const char *names[] = {"status", "priority", "rule", "person"};
        const char *vals[] = {status, priority, rule, person};
        for (int k = 0; k < 4; k++)
            if (vals[k] && *vals[k]) {
                html_printf(&h, "&amp;%s=", names[k]);
                html_url(&h, vals[k]);
            }
        if (over)
            html_raw(&h, "&amp;overdue=1");
        html_printf(&h, "&amp;after=%lld\">Next page</a></p>",
                    (long long)json_integer_value(json_object_get(r, "next")));
    }
    web_page_foot(&h);
    json_decref(r);
    return web_send_html(w, con, 200, &h, NULL);
}
