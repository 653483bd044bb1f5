#define _GNU_SOURCE
#include "pagealert.h"

#include <stdio.h>
#include <string.h>

#include "hubpool.h"
#include "page.h"
#include "render.h"

enum MHD_Result web_page_alert(struct web_console *w, struct MHD_Connection *con,
                                  const struct web_session *ss, unsigned long long id)
{
    char why[512];
    json_t *r = web_as_person(w, ss, json_pack("{s:s,s:I,s:b,s:i}", "op", "alert", "id",
                                           (json_int_t)id, "events", 1, "max", 1000),
                          why, sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return web_hub_refusal(w, con, ss, r, why);
    const json_t *a = json_object_get(r, "alert");
    if (!web_account_may(w, ss, json_string_value(json_object_get(a, "panel")))) {
        json_decref(r);
        char msg[64];
        snprintf(msg, sizeof msg, "no alert with id %llu", id); /* the hub's words */
        return web_error_page(w, con, 404, ss, "Not found", msg);
    }
    struct html h;
    html_init(&h);
    char title[64], raised[40], due[40];
    snprintf(title, sizeof title, "Alert %llu", id);
    web_page_head(&h, title, ss, w->cfg.panels);
    const char *status = json_string_value(json_object_get(a, "status"));
    html_printf(&h, "<h1>Alert %llu <span class=\"status\">", id);
    html_text(&h, status);
    html_raw(&h, "</span></h1><p class=\"noprint\"><a href=\"/queue?panel=");
    html_url(&h, json_string_value(json_object_get(a, "panel")));
    html_raw(&h, "\">Back to the queue</a> · Print this page for the panel meeting.</p><dl>");
    html_raw(&h, "<dt>Panel</dt><dd>");
    html_text(&h, json_string_value(json_object_get(a, "panel")));
    html_raw(&h, "</dd><dt>Reason</dt><dd class=\"reason\">");
    html_text(&h, json_string_value(json_object_get(a, "reason")));
    html_raw(&h, "</dd><dt>Rule</dt><dd>");
    html_text(&h, json_string_value(json_object_get(a, "rule")));
    html_raw(&h, " (rule set ");
    html_text(&h, json_string_value(json_object_get(a, "rule_version")));
    html_raw(&h, ")</dd><dt>Priority</dt><dd>");
    html_text(&h, json_string_value(json_object_get(a, "priority")));
    web_fmt_time(json_string_value(json_object_get(a, "raised_at")), raised, sizeof raised);
    web_fmt_time(json_string_value(json_object_get(a, "due_at")), due, sizeof due);
    html_raw(&h, "</dd><dt>Raised</dt><dd>");
    html_text(&h, raised);
    html_raw(&h, "</dd><dt>Due</dt><dd>");
    html_text(&h, json_object_get(a, "due_at") ? due : "-");
    if (web_overdue(a))
        html_raw(&h, " <strong>OVERDUE</strong>");
    html_raw(&h, "</dd><dt>Key</dt><dd>");
    const json_t *key = json_object_get(a, "key");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)key, k, v) {
        html_text(&h, k);
        html_raw(&h, " ");
        if (json_is_string(v) && web_is_ref(json_string_value(v))) {
            html_raw(&h, "<a href=\"/person/");
            html_url(&h, json_string_value(v));
            html_raw(&h, "\">");
            html_text(&h, json_string_value(v));
            html_raw(&h, "</a> ");
        } else if (json_is_string(v)) {
            html_text(&h, json_string_value(v)); /* withheld: no person page */
            html_raw(&h, " ");
        } else {
            html_printf(&h, "%lld ", (long long)json_integer_value(v));
        }
    }
    html_raw(&h, "</dd></dl>");
    /* The case this alert belongs to (opened when an alert for its key is
     * accepted): its page records the panel's work (pagecase.h). */
    json_t *first = json_object_iter_value(json_object_iter((json_t *)key));
    if (json_is_string(first)) {
        html_raw(&h, "<p class=\"noprint\"><a class=\"case-link\" href=\"/case?panel=");
        html_url(&h, json_string_value(json_object_get(a, "panel")));
        html_raw(&h, "&amp;key=");
        html_url(&h, json_string_value(first));
        html_printf(&h, "&amp;alert=%llu\">The case of ", id);
        html_text(&h, json_string_value(first));
        html_raw(&h, ": actions, hearings, reviews</a></p>");
    }
    html_printf(&h, "<h2>Evidence (%zu events)</h2>",
                json_array_size(json_object_get(a, "evidence")));
    web_event_rows(&h, json_object_get(r, "events"));
    html_raw(&h, "<h2>Decisions</h2><ol class=\"decisions\">");
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(r, "decisions"), i, d) {
        char at[40];
        web_fmt_time(json_string_value(json_object_get(d, "at")), at, sizeof at);
        html_raw(&h, "<li><b>");
        html_text(&h, json_string_value(json_object_get(d, "status")));
        html_raw(&h, "</b> by ");
        html_text(&h, json_object_get(d, "by") ? json_string_value(json_object_get(d, "by"))
                                               : "(not recorded)");
        if (json_object_get(d, "gateway")) {
            html_raw(&h, " through ");
            html_text(&h, json_string_value(json_object_get(d, "gateway")));
        }
        html_raw(&h, ", ");
        html_text(&h, at);
        if (json_object_get(d, "note")) {
            html_raw(&h, "<blockquote>");
            html_text(&h, json_string_value(json_object_get(d, "note")));
            html_raw(&h, "</blockquote>");
        }
        html_raw(&h, "</li>");
    }
    if (!json_array_size(json_object_get(r, "decisions")))
        html_raw(&h, "<li>None yet.</li>");
    html_printf(&h, "</ol><form class=\"decide noprint\" method=\"post\" action=\"/alert/%llu/"
                    "decide\"><h2>Record a decision</h2><input type=\"hidden\" name=\"csrf\" "
                    "value=\"",
                id);
    html_text(&h, ss->csrf);
    html_raw(&h, "\"><input type=\"hidden\" name=\"expect\" value=\"");
    html_text(&h, status);
    html_raw(&h, "\"><label for=\"status\">Decision</label> <select id=\"status\" "
                 "name=\"status\" required><option value=\"acknowledged\">acknowledge</option>"
                 "<option value=\"accepted\">accept</option><option value=\"declined\">"
                 "decline</option><option value=\"closed\">close</option><option "
                 "value=\"open\">reopen (needs a note)</option></select><br><label "
                 "for=\"note\">Note</label><br><textarea id=\"note\" name=\"note\" rows=\"3\" "
                 "cols=\"60\" maxlength=\"2000\"></textarea><br><button "
                 "type=\"submit\">Record</button></form>");
    web_page_foot(&h);
    json_decref(r);
    return web_send_html(w, con, 200, &h, NULL);
}

enum MHD_Result web_do_decide(struct web_console *w, struct MHD_Connection *con,
                              const struct web_session *ss, const struct req_state *st,
                              unsigned long long id)
{
    char status[32], note[2100] = "", expect[32] = "", why[512];
    if (web_form_field(st, "status", status, sizeof status))
        return web_error_page(w, con, 400, ss, "Not accepted", "choose a decision");
    web_form_field(st, "note", note, sizeof note);
    web_form_field(st, "expect", expect, sizeof expect);
    json_t *req = json_pack("{s:s,s:I,s:s}", "op", "alert.update", "id", (json_int_t)id,
                            "status", status);
    if (note[0])
        json_object_set_new(req, "note", json_string(note));
    if (expect[0])
        json_object_set_new(req, "expect", json_string(expect));
    json_t *r = web_as_person(w, ss, req, why, sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return web_hub_refusal(w, con, ss, r, why);
    json_decref(r);
    char to[64];
    snprintf(to, sizeof to, "/alert/%llu", id);
    return web_redirect(w, con, to, NULL);
}
