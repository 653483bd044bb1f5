#define _GNU_SOURCE
#include "pageperson.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubpool.h"
#include "page.h"
#include "render.h"

/* A paging argument: 0 when absent, -1 when not a number. */
static long long cursor(struct MHD_Connection *con, const char *name)
{
    const char *v = web_arg(con, name);
    if (!v || !*v)
        return 0;
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    return *end || v[0] == '-' || n > INT64_MAX ? -1 : (long long)n;
}

/* A link to the same person's page with the two cursors. */
static void page_link(struct html *h, const char *ref, long long alerts_after, long long after,
                      const char *rel, const char *label)
{
    html_printf(h, "<p class=\"noprint\"><a rel=\"%s\" href=\"/person/", rel);
    html_url(h, ref);
    html_printf(h, "?alerts_after=%lld&amp;after=%lld\">%s</a></p>", alerts_after, after, label);
}

enum MHD_Result web_page_person(struct web_console *w, struct MHD_Connection *con,
                                const struct web_session *ss, const char *ref)
{
    char why[512];
    long long alerts_after = cursor(con, "alerts_after"), after = cursor(con, "after");
    if (alerts_after < 0 || after < 0)
        return web_error_page(w, con, 400, ss, "Not accepted",
                              alerts_after < 0 ? "'alerts_after' is an alert number"
                                               : "'after' is an event's seq");
    json_t *r = web_as_person(w, ss,
                              json_pack("{s:s,s:s,s:I,s:I}", "op", "person", "ref", ref,
                                        "alerts_after", (json_int_t)alerts_after, "after",
                                        (json_int_t)after),
                              why, sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return web_hub_refusal(w, con, ss, r, why);
    if (!w->cfg.key_file) {
        /* security none: keep the alerts of the account's panels and the
         * events that are their evidence, as the hub does for a person (of
         * this page's alerts: an event of an alert on another page waits
         * for that page; it is never shown more widely). */
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
    html_raw(&h, "</ul>");
    /* Each list pages on its own (the hub's person op): the next alerts
     * keep the events where they are, and the other way round. */
    if (json_is_false(json_object_get(r, "alerts_end")))
        page_link(&h, ref, (long long)json_integer_value(json_object_get(r, "alerts_next")), after,
                  "next", "More alerts");
    html_raw(&h, "<h2>Events</h2>");
    web_event_rows(&h, json_object_get(r, "events"));
    if (json_is_false(json_object_get(r, "end")))
        page_link(&h, ref, alerts_after, (long long)json_integer_value(json_object_get(r, "next")),
                  "next", "More events");
    web_page_foot(&h);
    json_decref(r);
    return web_send_html(w, con, 200, &h, NULL);
}
