#define _GNU_SOURCE
#include "pageperson.h"

#include <stdio.h>
#include <string.h>

#include "hubpool.h"
#include "page.h"
#include "render.h"

enum MHD_Result web_page_person(struct web_console *w, struct MHD_Connection *con,
                                   const struct web_session *ss, const char *ref)
{
    char why[512];
    json_t *r = web_as_person(w, ss, json_pack("{s:s,s:s}", "op", "person", "ref", ref), why,
                          sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return web_hub_refusal(w, con, ss, r, why);
    if (!w->cfg.key_file) {
        /* security none: keep the alerts of the account's panels and the
         * events that are their evidence, as the hub does for a person. */
        json_t *alerts = json_object_get(r, "alerts"), *keep = json_array(), *seqs = json_object();
        size_t i, k;
        json_t *a, *e;
        json_array_foreach(alerts, i, a) {
            if (!web_account_may(w, ss, json_string_value(json_object_get(a, "panel"))))
                continue;
            json_array_append(keep, a);
            json_array_foreach(json_object_get(a, "evidence"), k, e) {
                char key[32];
                snprintf(key, sizeof key, "%lld", (long long)json_integer_value(e));
                json_object_set_new(seqs, key, json_true());
            }
        }
        json_t *events = json_array();
        json_array_foreach(json_object_get(r, "events"), i, e) {
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(json_object_get(e, "seq")));
            if (json_object_get(seqs, key))
                json_array_append(events, e);
        }
        json_object_set_new(r, "alerts", keep);
        json_object_set_new(r, "events", events);
        json_decref(seqs);
    }
    struct html h;
    html_init(&h);
    char title[96];
    snprintf(title, sizeof title, "Person %s", ref);
    web_page_head(&h, title, ss, w->cfg.panels);
    html_raw(&h, "<h1>Person ");
    html_text(&h, ref);
    html_raw(&h, "</h1><p>The alerts on your panels keyed on this reference, and the events "
                 "that are their evidence.</p><h2>Alerts</h2><ul>");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(r, "alerts"), i, a) {
        json_int_t id = json_integer_value(json_object_get(a, "id"));
        html_printf(&h, "<li><a href=\"/alert/%lld\">Alert %lld</a> on ", (long long)id,
                    (long long)id);
        html_text(&h, json_string_value(json_object_get(a, "panel")));
        html_raw(&h, " (");
        html_text(&h, json_string_value(json_object_get(a, "status")));
        html_raw(&h, "): ");
        html_text(&h, json_string_value(json_object_get(a, "reason")));
        html_raw(&h, "</li>");
    }
    if (!json_array_size(json_object_get(r, "alerts")))
        html_raw(&h, "<li>None on your panels.</li>");
    html_raw(&h, "</ul><h2>Events</h2>");
    web_event_rows(&h, json_object_get(r, "events"));
    web_page_foot(&h);
    json_decref(r);
    return web_send_html(w, con, 200, &h, NULL);
}
