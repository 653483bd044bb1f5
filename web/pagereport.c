#define _GNU_SOURCE
#include "pagereport.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hubpool.h"
#include "page.h"
#include "reporthtml.h"

/* A year over a large log takes seconds on the hub (docs/reports.md). */
#define REPORT_TIMEOUT_MS 60000

void web_report_default_period(time_t now, char from[8], char to[8])
{
    struct tm tm;
    gmtime_r(&now, &tm);
    int y = tm.tm_year + 1900, m = tm.tm_mon + 1; /* this month: not whole yet */
    int ty = m == 1 ? y - 1 : y, tmon = m == 1 ? 12 : m - 1;
    int fy = tmon == 12 ? ty : ty - 1, fmon = tmon == 12 ? 1 : tmon + 1;
    snprintf(from, 8, "%04u-%02u", (unsigned)fy % 10000u, (unsigned)fmon % 100u);
    snprintf(to, 8, "%04u-%02u", (unsigned)ty % 10000u, (unsigned)tmon % 100u);
}

int web_report_month_ok(const char *s)
{
    if (!s || strlen(s) != 7 || s[4] != '-')
        return 0;
    for (int i = 0; i < 7; i++)
        if (i != 4 && (s[i] < '0' || s[i] > '9'))
            return 0;
    int m = atoi(s + 5);
    return m >= 1 && m <= 12;
}

static void month_input(struct html *h, const char *id, const char *label, const char *value)
{
    html_printf(h, "<label for=\"%s\">%s</label> <input id=\"%s\" name=\"%s\" type=\"month\" "
                   "pattern=\"[0-9]{4}-[0-9]{2}\" placeholder=\"YYYY-MM\" required value=\"",
                id, label, id, id);
    html_text(h, value);
    html_raw(h, "\"> ");
}

enum MHD_Result web_page_report(struct web_console *w, struct MHD_Connection *con,
                                const struct web_session *ss)
{
    /* Without a key the hub cannot tell who asks: the console keeps the
     * report to the roles the hub gives it to (PROTOCOL.md 8). */
    if (!w->cfg.key_file && strcmp(ss->role, "auditor") && strcmp(ss->role, "strategic"))
        return web_error_page(w, con, 403, ss, "Not allowed",
                              "reports are for the auditor and strategic roles");
    char dfrom[8], dto[8];
    web_report_default_period(time(NULL), dfrom, dto);
    const char *from = web_arg(con, "from"), *to = web_arg(con, "to"),
               *area = web_arg(con, "area");
    if (!from || !*from)
        from = dfrom;
    if (!to || !*to)
        to = dto;
    if (!web_report_month_ok(from) || !web_report_month_ok(to)) {
        char msg[160];
        snprintf(msg, sizeof msg, "'%s' must be a month YYYY-MM (reports are of whole months)",
                 web_report_month_ok(from) ? "to" : "from");
        return web_error_page(w, con, 400, ss, "Not accepted", msg);
    }
    if (area && strlen(area) > 64)
        return web_error_page(w, con, 400, ss, "Not accepted", "'area' is at most 64 characters");
    char why[512];
    json_t *req = json_pack("{s:s,s:s,s:s}", "op", "report", "from", from, "to", to);
    if (area && *area)
        json_object_set_new(req, "area", json_string(area));
    json_t *r = web_as_person_ms(w, ss, req, REPORT_TIMEOUT_MS, why, sizeof why);
    if (!r || !json_is_true(json_object_get(r, "ok")))
        return web_hub_refusal(w, con, ss, r, why);
    char *body = NULL;
    size_t blen = 0;
    FILE *mem = open_memstream(&body, &blen);
    if (!mem) {
        json_decref(r);
        return web_error_page(w, con, 503, ss, "Busy", "out of memory");
    }
    csph_report_html_body(mem, r);
    int bad = fclose(mem) != 0;
    struct html h;
    html_init(&h);
    web_page_head_css(&h, "Partnership report", ss, w->cfg.panels, "report.css");
    html_raw(&h, "<form class=\"filters noprint\" method=\"get\" action=\"/report\">");
    month_input(&h, "from", "From", from);
    month_input(&h, "to", "To", to);
    html_raw(&h, "<label for=\"area\">Area</label> <select id=\"area\" name=\"area\">"
                 "<option value=\"\">the whole partnership</option>");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(r, "areas"), i, a) {
        const char *name = json_string_value(json_object_get(a, "name"));
        html_raw(&h, "<option value=\"");
        html_text(&h, name);
        html_raw(&h, area && name && !strcmp(area, name) ? "\" selected>" : "\">");
        html_text(&h, json_string_value(json_object_get(a, "title")));
        html_raw(&h, "</option>");
    }
    html_raw(&h, "</select> <button type=\"submit\">Show</button> <span>Print it on A3 for "
                 "the board.</span></form>");
    if (bad || !body)
        html_raw(&h, "<p class=\"error\" role=\"alert\">out of memory</p>");
    else
        html_raw(&h, body);
    free(body);
    web_page_foot(&h);
    json_decref(r);
    return web_send_html(w, con, 200, &h, NULL);
}
