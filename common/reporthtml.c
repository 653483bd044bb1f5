#include "reporthtml.h"

#include <math.h>
#include <string.h>

/* One A3 sheet, portrait: four indicators a row (nine rows, 36 fit), each
 * a chart with its table under it; columns never wider than the sheet,
 * whatever the numbers. The card holds no header or footer element: the
 * console's own style gives those its navigation bar. */
const char csph_report_css[] =
    "@page { size: A3 portrait; margin: 8mm; }\n"
    "@media print { .report { zoom: 0.72; } } /* 33 indicators, with room */\n"
    ".report { font: 8pt/1.25 'DejaVu Sans', Arial, sans-serif; color: #111; }\n"
    ".report .report-head { border-bottom: 2px solid #333; margin-bottom: 4mm; }\n"
    ".report h1 { font-size: 16pt; margin: 0 0 1mm; }\n"
    ".report .meta { font-size: 8pt; color: #333; }\n"
    ".report .grid { display: grid; grid-template-columns: repeat(4, minmax(0, 1fr)); "
    "gap: 3mm; }\n"
    ".report .card { border: 1px solid #bbb; padding: 1.5mm; break-inside: avoid; }\n"
    ".report .card h2 { font-size: 9pt; margin: 0 0 0.5mm; }\n"
    ".report .rag { display: inline-block; padding: 0 2mm; border-radius: 2mm; color: #fff; }\n"
    ".report .rag-green { background: #2e7d32; } .report .rag-amber { background: #b26a00; }\n"
    ".report .rag-red { background: #c62828; } .report .rag-none { background: #666; }\n"
    ".report svg.chart { width: 100%; height: auto; display: block; }\n"
    ".report svg .bar { fill: #3f6fb5; } .report svg .ly { stroke: #888; stroke-width: 1.2; }\n"
    ".report svg .lyp { fill: #888; }\n"
    ".report svg .target { stroke: #c62828; stroke-dasharray: 4 3; }\n"
    ".report svg .band { fill: #2e7d32; opacity: 0.15; } .report svg .grid { stroke: #ddd; }\n"
    ".report svg .axis { font-size: 8px; fill: #444; }\n"
    ".report svg .hidden { font-size: 7px; fill: #c62828; }\n"
    ".report table { border-collapse: collapse; width: 100%; table-layout: fixed; "
    "font-size: 6.5pt;\n"
    "  font-variant-numeric: tabular-nums; margin: 1mm 0 0; }\n"
    ".report th:first-child { width: 11%; } .report tr:first-child th:last-child "
    "{ width: 9%; }\n"
    ".report td { overflow: hidden; white-space: nowrap; }\n"
    ".report th, .report td { border: 1px solid #ddd; padding: 0 1px; text-align: right; "
    "vertical-align: baseline; }\n"
    ".report th { text-align: left; font-weight: normal; color: #444; }\n"
    ".report td.total { font-weight: bold; }\n"
    ".report .summary { font-size: 7pt; margin-top: 0.5mm; }\n"
    ".report .report-foot { margin-top: 4mm; font-size: 7.5pt; color: #333; }\n";

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

void csph_report_cell_text(const json_t *v, char *buf, size_t n)
{
    if (json_is_integer(v))
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, n, "%.1f", json_real_value(v));
    else if (json_is_string(v))
        snprintf(buf, n, "%s", json_string_value(v));
    else if (n)
        buf[0] = 0;
}

static int cell_number(const json_t *v, double *x)
{
    if (!json_is_number(v))
        return 0;
    *x = json_number_value(v);
    return 1;
}

const char *csph_report_target_text(const json_t *ind, char *buf, size_t n)
{
    const json_t *band = json_object_get(ind, "band"), *t = json_object_get(ind, "target");
    if (json_is_array(band))
        snprintf(buf, n, "%g-%g", json_number_value(json_array_get(band, 0)),
                 json_number_value(json_array_get(band, 1)));
    else if (json_is_number(t))
        snprintf(buf, n, "%g", json_number_value(t));
    else if (n)
        buf[0] = 0;
    return buf;
}

const char *csph_report_opt_number(const json_t *ind, const char *key, char *buf, size_t n)
{
    const json_t *v = json_object_get(ind, key);
    if (json_is_number(v))
        snprintf(buf, n, "%g", json_number_value(v));
    else if (n)
        buf[0] = 0;
    return buf;
}

static void text(FILE *out, const char *s)
{
    for (; s && *s; s++)
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
}

void csph_report_svg_chart(FILE *out, const json_t *ind, const json_t *months)
{
    const double W = 360, H = 84, L = 34, B = 14, T = 6;
    size_t nm = json_array_size(months), j;
    const json_t *vals = json_object_get(ind, "values"), *ly = json_object_get(ind, "last_year");
    double max = 0, x;
    json_t *v;
    json_array_foreach(vals, j, v) if (cell_number(v, &x) && x > max) max = x;
    json_array_foreach(ly, j, v) if (cell_number(v, &x) && x > max) max = x;
    const json_t *band = json_object_get(ind, "band"), *target = json_object_get(ind, "target");
    /* A yearly target (a count) is not a monthly line; a band or a rate is. */
    int monthly_target = json_is_array(band) || !strcmp(str(ind, "unit"), "percent");
    if (json_is_array(band) && json_number_value(json_array_get(band, 1)) > max)
        max = json_number_value(json_array_get(band, 1));
    if (monthly_target && json_is_number(target) && json_number_value(target) > max)
        max = json_number_value(target);
    /* A round top for the axis: 1, 2 or 5 times a power of ten. */
    double top = 1;
    if (max > 0) {
        double p = pow(10, floor(log10(max)));
        top = max <= p ? p : max <= 2 * p ? 2 * p : max <= 5 * p ? 5 * p : 10 * p;
    }
    double pw = (W - L - 4) / (double)(nm ? nm : 1), ph = H - B - T;
#define YPOS(val) (T + ph - (val) / top * ph)
    fprintf(out, "<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", W,
            H);
    text(out, str(ind, "title"));
    fprintf(out, " by month\">\n");
    if (json_is_array(band)) {
        double lo = json_number_value(json_array_get(band, 0)),
               hi = json_number_value(json_array_get(band, 1));
        fprintf(out, "<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
                L, YPOS(hi), W - L - 4, YPOS(lo) - YPOS(hi));
    }
    for (int k = 0; k <= 2; k++) {
        double val = top * k / 2;
        fprintf(out, "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
                     "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
                L, W - 4, YPOS(val), YPOS(val), L - 3, YPOS(val) + 3, val);
    }
    json_array_foreach(vals, j, v) {
        double bx = L + pw * (double)j;
        if (cell_number(v, &x)) {
            fprintf(out, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                         "height=\"%.1f\"/>\n",
                    bx + pw * 0.15, YPOS(x), pw * 0.7, YPOS(0) - YPOS(x));
        } else if (json_is_string(v)) {
            fprintf(out, "<text class=\"hidden\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                    bx + pw / 2, YPOS(0) - 3);
            text(out, json_string_value(v));
            fprintf(out, "</text>\n");
        }
        const char *label = json_string_value(json_array_get(months, j));
        fprintf(out, "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">",
                bx + pw / 2, H - 6);
        if (label && strlen(label) >= 7)
            fprintf(out, "%.2s", label + 5);
        fprintf(out, "</text>\n");
    }
    /* last year: points joined where both neighbours are shown */
    double px = 0, py = 0;
    int have = 0;
    json_array_foreach(ly, j, v) {
        if (!cell_number(v, &x)) {
            have = 0;
            continue;
        }
        double cx = L + pw * ((double)j + 0.5), cy = YPOS(x);
        if (have)
            fprintf(out, "<line class=\"ly\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
                    px, py, cx, cy);
        fprintf(out, "<circle class=\"lyp\" cx=\"%.1f\" cy=\"%.1f\" r=\"2\"/>\n", cx, cy);
        px = cx;
        py = cy;
        have = 1;
    }
    if (monthly_target && json_is_number(target))
        fprintf(out, "<line class=\"target\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n",
                L, W - 4, YPOS(json_number_value(target)), YPOS(json_number_value(target)));
    fprintf(out, "</svg>\n");
#undef YPOS
}

static void cells(FILE *out, const char *head, const json_t *arr, const json_t *total)
{
    char buf[32];
    size_t j;
    json_t *v;
    fprintf(out, "<tr><th>%s</th>", head);
    json_array_foreach(arr, j, v) {
        csph_report_cell_text(v, buf, sizeof buf);
        fputs("<td>", out);
        text(out, buf);
        fputs("</td>", out);
    }
    csph_report_cell_text(total, buf, sizeof buf);
    fputs("<td class=\"total\">", out);
    text(out, buf);
    fputs("</td></tr>\n", out);
}

static void card(FILE *out, const json_t *ind, const json_t *months)
{
    char buf[64], t[64];
    size_t j;
    json_t *m;
    const char *rag = str(ind, "rag");
    fprintf(out, "<section class=\"card\" id=\"ind-");
    text(out, str(ind, "name"));
    fprintf(out, "\">\n<h2>");
    text(out, str(ind, "title"));
    fprintf(out, "</h2>\n");
    csph_report_svg_chart(out, ind, months);
    fprintf(out, "<table>\n<tr><th></th>");
    json_array_foreach(months, j, m) {
        const char *s = json_string_value(m);
        fputs("<th>", out);
        if (s && strlen(s) >= 7)
            text(out, s + 5);
        fputs("</th>", out);
    }
    fprintf(out, "<th>total</th></tr>\n");
    cells(out, "this year", json_object_get(ind, "values"), json_object_get(ind, "total"));
    cells(out, "last year", json_object_get(ind, "last_year"),
          json_object_get(ind, "last_year_total"));
    int known = !strcmp(rag, "green") || !strcmp(rag, "amber") || !strcmp(rag, "red");
    fprintf(out, "</table>\n<div class=\"summary\">RAG <span class=\"rag rag-%s\">",
            known ? rag : "none");
    text(out, *rag ? rag : "no target");
    csph_report_cell_text(json_object_get(ind, "change"), buf, sizeof buf);
    fputs("</span> &middot; change on last year ", out);
    text(out, *buf ? buf : "n/a");
    fputs(" &middot; direction ", out);
    text(out, *str(ind, "direction") ? str(ind, "direction") : "n/a");
    if (*csph_report_target_text(ind, t, sizeof t)) {
        fputs(" &middot; target ", out);
        text(out, t);
    }
    if (*csph_report_opt_number(ind, "baseline", buf, sizeof buf))
        fprintf(out, " &middot; baseline %s", buf);
    if (json_object_get(ind, "area_not_recorded")) {
        csph_report_cell_text(json_object_get(ind, "area_not_recorded"), buf, sizeof buf);
        fputs(" &middot; area not recorded ", out);
        text(out, buf);
    }
    fprintf(out, "</div>\n</section>\n");
}

void csph_report_html_body(FILE *out, const json_t *rep)
{
    const json_t *months = json_object_get(rep, "months"), *inds = json_object_get(rep, "indicators");
    const json_t *area = json_object_get(rep, "area"), *chain = json_object_get(rep, "chain");
    size_t i;
    json_t *ind;
    fprintf(out, "<div class=\"report\">\n<div class=\"report-head\">\n<h1>Partnership report: ");
    text(out, json_is_object(area) ? str(area, "title") : "the whole partnership");
    fprintf(out, "</h1>\n<div class=\"meta\">");
    text(out, str(rep, "from"));
    fputs(" to ", out);
    text(out, str(rep, "to"));
    fprintf(out, " (Europe/London calendar months), compared with the same months a year "
                 "before. Bars: this period; grey line: last year; dashed red: target; green "
                 "strip: target band.</div>\n</div>\n<div class=\"grid\">\n");
    json_array_foreach(inds, i, ind) card(out, ind, months);
    fprintf(out, "</div>\n<div class=\"report-foot\">\n");
    json_int_t below = json_integer_value(json_object_get(rep, "suppress_below"));
    if (json_is_true(json_object_get(rep, "suppressed")))
        fprintf(out, "<p>Counts under %lld are shown as &lt;%lld; * marks a figure hidden so "
                     "that they cannot be worked out from a total.</p>\n",
                (long long)(below ? below : 5), (long long)(below ? below : 5));
    fprintf(out, "<p id=\"provenance\">Computed by the hub from its log up to seq %lld, chain "
                 "link <code>",
            (long long)json_integer_value(json_object_get(rep, "as_of")));
    text(out, str(chain, "link"));
    fputs("</code> (", out);
    text(out, str(chain, "name"));
    fputs("), with indicator files ", out);
    text(out, str(rep, "indicators_digest"));
    fprintf(out, ". The same seq gives the same figures.</p>\n</div>\n</div>\n");
}

void csph_report_html_page(FILE *out, const json_t *rep)
{
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                 "<link rel=\"icon\" href=\"data:,\">\n<title>Partnership report ");
    text(out, str(rep, "from"));
    fputs(" to ", out);
    text(out, str(rep, "to"));
    fprintf(out, "</title>\n<style>\nbody { margin: 0; }\n%s</style>\n</head>\n<body>\n",
            csph_report_css);
    csph_report_html_body(out, rep);
    fprintf(out, "</body>\n</html>\n");
}
