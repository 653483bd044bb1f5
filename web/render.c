#define _GNU_SOURCE
#include "render.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "csphub.h"

void web_fmt_time(const char *rfc, char *out, size_t n)
{
    /* "2026-12-05T12:35:00.000Z" shown as "2026-12-05 12:35 UTC" */
    if (rfc && strlen(rfc) >= 16)
        snprintf(out, n, "%.10s %.5s UTC", rfc, rfc + 11);
    else
        snprintf(out, n, "%s", rfc ? rfc : "-");
}

int web_overdue(const json_t *a)
{
    const char *due = json_string_value(json_object_get(a, "due_at"));
    const char *st = json_string_value(json_object_get(a, "status"));
    if (!due || !st || strcmp(st, "open"))
        return 0;
    char now[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%S", &tm);
    return strncmp(due, now, 19) < 0;
}

/* The fields of an event (or a key) as "name: value" items, nested maps
 * dotted; the envelope is shown in its own columns. */
void web_fields(struct html *h, const json_t *o, const char *prefix)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        if (!prefix[0] && (!strcmp(k, "id") || !strcmp(k, "type") || !strcmp(k, "source") ||
                           !strcmp(k, "occurred_at")))
            continue;
        char name[256];
        snprintf(name, sizeof name, "%s%s%s", prefix, prefix[0] ? "." : "", k);
        if (json_is_object(v)) {
            web_fields(h, v, name);
            continue;
        }
        html_raw(h, "<span class=\"field\"><b>");
        html_text(h, name);
        html_raw(h, "</b> ");
        if (json_is_string(v)) {
            html_text(h, json_string_value(v));
        } else {
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            html_text(h, t);
            free(t);
        }
        html_raw(h, "</span> ");
    }
}

const char *web_first_panel(const char *panels, char *buf, size_t n)
{
    snprintf(buf, n, "%s", panels ? panels : "");
    buf[strcspn(buf, ",")] = 0;
    return buf;
}

void web_select_opt(struct html *h, const char *name, const char *label,
                       const char *const *values, size_t nv, const char *cur)
{
    html_printf(h, "<label>%s <select name=\"%s\"><option value=\"\">any</option>", label, name);
    for (size_t i = 0; i < nv; i++) {
        html_raw(h, "<option");
        if (cur && !strcmp(cur, values[i]))
            html_raw(h, " selected");
        html_raw(h, ">");
        html_text(h, values[i]);
        html_raw(h, "</option>");
    }
    html_raw(h, "</select></label> ");
}

void web_event_rows(struct html *h, const json_t *events)
{
    html_raw(h, "<table class=\"events\"><thead><tr><th scope=\"col\">Seq</th>"
                "<th scope=\"col\">Occurred</th><th scope=\"col\">Source</th>"
                "<th scope=\"col\">Type</th><th scope=\"col\">Fields</th></tr></thead><tbody>");
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e) {
        const json_t *ev = json_object_get(e, "event");
        char when[40];
        web_fmt_time(json_string_value(json_object_get(ev, "occurred_at")), when, sizeof when);
        html_printf(h, "<tr><td>%lld</td><td>", (long long)json_integer_value(json_object_get(e, "seq")));
        html_text(h, when);
        html_raw(h, "</td><td>");
        html_text(h, json_string_value(json_object_get(ev, "source")));
        html_raw(h, "</td><td>");
        html_text(h, json_string_value(json_object_get(ev, "type")));
        html_raw(h, "</td><td>");
        web_fields(h, ev, "");
        html_raw(h, "</td></tr>");
    }
    if (!json_array_size(events))
        html_raw(h, "<tr><td colspan=\"5\">None shown.</td></tr>");
    html_raw(h, "</tbody></table>");
}

int web_is_ref(const char *s)
{
    return csph_ref_valid(s, s ? strlen(s) : 0);
}
