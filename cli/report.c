/* report: the partnership's figures as the hub computes them (the `report`
 * op, docs/reports.md), shown as a table, CSV, JSON or one printable A3
 * HTML page with SVG charts drawn here. The hub does the counting and the
 * suppression; this file only lays out what it sent, so the same seq gives
 * the same bytes. */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum format { FMT_TABLE, FMT_CSV, FMT_JSON, FMT_HTML };

/* A cell as text: a number (integer, or one decimal), "<5", "*", or "". */
static void cell_text(const json_t *v, char *buf, size_t n)
{
    if (json_is_integer(v))
        snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, n, "%.1f", json_real_value(v));
    else if (json_is_string(v))
        snprintf(buf, n, "%s", json_string_value(v));
    else
        buf[0] = 0;
}

static int cell_number(const json_t *v, double *x)
{
    if (!json_is_number(v))
        return 0;
    *x = json_number_value(v);
    return 1;
}

static const char *target_text(const json_t *ind, char *buf, size_t n)
{
    const json_t *band = json_object_get(ind, "band"), *t = json_object_get(ind, "target");
    if (json_is_array(band))
        snprintf(buf, n, "%g-%g", json_number_value(json_array_get(band, 0)),
                 json_number_value(json_array_get(band, 1)));
    else if (json_is_number(t))
        snprintf(buf, n, "%g", json_number_value(t));
    else
        buf[0] = 0;
    return buf;
}

static const char *opt_number(const json_t *ind, const char *key, char *buf, size_t n)
{
    const json_t *v = json_object_get(ind, key);
    if (json_is_number(v))
        snprintf(buf, n, "%g", json_number_value(v));
    else
        buf[0] = 0;
    return buf;
}

static void print_header(const json_t *rep)
{
    const json_t *area = json_object_get(rep, "area");
    printf("Partnership report %s to %s, %s%s\n", cli_str(rep, "from"), cli_str(rep, "to"),
           json_is_object(area) ? "area " : "the whole partnership",
           json_is_object(area) ? cli_str(area, "title") : "");
    printf("Computed from the log up to seq %lld, chain link %s (%s); indicators %s\n",
           (long long)cli_int(rep, "as_of", 0), cli_str(json_object_get(rep, "chain"), "link"),
           cli_str(json_object_get(rep, "chain"), "name"), cli_str(rep, "indicators_digest"));
    if (json_is_true(json_object_get(rep, "suppressed")))
        printf("Counts under %lld are shown as <%lld; * marks a figure hidden so that they "
               "cannot be worked out.\n",
               (long long)cli_int(rep, "suppress_below", 5),
               (long long)cli_int(rep, "suppress_below", 5));
}

static void print_table(const json_t *rep)
{
    const json_t *months = json_object_get(rep, "months"), *inds = json_object_get(rep, "indicators");
    size_t i, j;
    json_t *ind, *m;
    char a[32], b[32], c[32], t[32];
    print_header(rep);
    printf("\n%-34s %8s %9s %7s %9s %6s %9s\n", "indicator", "total", "last year", "change",
           "target", "RAG", "direction");
    json_array_foreach(inds, i, ind) {
        cell_text(json_object_get(ind, "total"), a, sizeof a);
        cell_text(json_object_get(ind, "last_year_total"), b, sizeof b);
        cell_text(json_object_get(ind, "change"), c, sizeof c);
        printf("%-34.34s %8s %9s %7s %9s %6s %9s\n", cli_str(ind, "name"), a, b, c,
               target_text(ind, t, sizeof t), cli_str(ind, "rag"), cli_str(ind, "direction"));
    }
    printf("\n%-34s", "by month");
    json_array_foreach(months, j, m) printf(" %7s", json_string_value(m));
    printf("\n");
    json_array_foreach(inds, i, ind) {
        printf("%-34.34s", cli_str(ind, "name"));
        json_t *v;
        json_array_foreach(json_object_get(ind, "values"), j, v) {
            cell_text(v, a, sizeof a);
            printf(" %7s", a);
        }
        printf("\n");
    }
}

/* RFC 4180: quote a field when it holds a comma, a quote or a line break. */
static void csv_field(const char *s, int last)
{
    if (strpbrk(s, ",\"\r\n")) {
        putchar('"');
        for (; *s; s++) {
            if (*s == '"')
                putchar('"');
            putchar(*s);
        }
        putchar('"');
    } else {
        fputs(s, stdout);
    }
    fputs(last ? "\r\n" : ",", stdout);
}

static void print_csv(const json_t *rep)
{
    const json_t *months = json_object_get(rep, "months"), *inds = json_object_get(rep, "indicators");
    size_t i, j;
    json_t *ind, *m, *v;
    char buf[64], seq[32];
    static const char *const head[] = {"indicator", "title", "unit"};
    static const char *const tail[] = {"total", "last_year_total", "change", "baseline",
                                       "target", "rag", "direction", "area_not_recorded",
                                       "area", "from", "to", "as_of", "chain_link"};
    for (size_t k = 0; k < 3; k++)
        csv_field(head[k], 0);
    json_array_foreach(months, j, m) csv_field(json_string_value(m), 0);
    json_array_foreach(json_object_get(rep, "last_year_months"), j, m) {
        snprintf(buf, sizeof buf, "last_year_%s", json_string_value(m));
        csv_field(buf, 0);
    }
    for (size_t k = 0; k < sizeof tail / sizeof *tail; k++)
        csv_field(tail[k], k + 1 == sizeof tail / sizeof *tail);
    const json_t *area = json_object_get(rep, "area");
    snprintf(seq, sizeof seq, "%lld", (long long)cli_int(rep, "as_of", 0));
    json_array_foreach(inds, i, ind) {
        csv_field(cli_str(ind, "name"), 0);
        csv_field(cli_str(ind, "title"), 0);
        csv_field(cli_str(ind, "unit"), 0);
        json_array_foreach(json_object_get(ind, "values"), j, v) {
            cell_text(v, buf, sizeof buf);
            csv_field(buf, 0);
        }
        json_array_foreach(json_object_get(ind, "last_year"), j, v) {
            cell_text(v, buf, sizeof buf);
            csv_field(buf, 0);
        }
        static const char *const cells[] = {"total", "last_year_total", "change"};
        for (size_t k = 0; k < 3; k++) {
            cell_text(json_object_get(ind, cells[k]), buf, sizeof buf);
            csv_field(buf, 0);
        }
        csv_field(opt_number(ind, "baseline", buf, sizeof buf), 0);
        csv_field(target_text(ind, buf, sizeof buf), 0);
        csv_field(cli_str(ind, "rag"), 0);
        csv_field(cli_str(ind, "direction"), 0);
        cell_text(json_object_get(ind, "area_not_recorded"), buf, sizeof buf);
        csv_field(buf, 0);
        csv_field(json_is_object(area) ? cli_str(area, "name") : "partnership", 0);
        csv_field(cli_str(rep, "from"), 0);
        csv_field(cli_str(rep, "to"), 0);
        csv_field(seq, 0);
        csv_field(cli_str(json_object_get(rep, "chain"), "link"), 1);
    }
}

/* ---- HTML --------------------------------------------------------------- */

static void html_text(const char *s)
{
    for (; *s; s++)
        switch (*s) {
        case '<': fputs("&lt;", stdout); break;
        case '>': fputs("&gt;", stdout); break;
        case '&': fputs("&amp;", stdout); break;
        case '"': fputs("&quot;", stdout); break;
        default: putchar(*s);
        }
}

/* One chart: this year's months as bars, last year's as a line of points,
 * the target as a dashed line or the band as a shaded strip. Hidden
 * figures are not drawn (a gap, and the table says why). */
static void html_chart(const json_t *ind, const json_t *months)
{
    const double W = 360, H = 84, L = 34, B = 14, T = 6;
    size_t nm = json_array_size(months), j;
    const json_t *vals = json_object_get(ind, "values"), *ly = json_object_get(ind, "last_year");
    double max = 0, x;
    json_t *v;
    json_array_foreach(vals, j, v) if (cell_number(v, &x) && x > max) max = x;
    json_array_foreach(ly, j, v) if (cell_number(v, &x) && x > max) max = x;
    const json_t *band = json_object_get(ind, "band"), *target = json_object_get(ind, "target");
    int monthly_target = json_is_array(band) || !strcmp(cli_str(ind, "unit"), "percent");
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
    printf("<svg class=\"chart\" viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"", W, H);
    html_text(cli_str(ind, "title"));
    printf(" by month\">\n");
    if (json_is_array(band)) {
        double lo = json_number_value(json_array_get(band, 0)),
               hi = json_number_value(json_array_get(band, 1));
        printf("<rect class=\"band\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n", L,
               YPOS(hi), W - L - 4, YPOS(lo) - YPOS(hi));
    }
    for (int k = 0; k <= 2; k++) {
        double val = top * k / 2;
        printf("<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>"
               "<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n",
               L, W - 4, YPOS(val), YPOS(val), L - 3, YPOS(val) + 3, val);
    }
    json_array_foreach(vals, j, v) {
        double bx = L + pw * (double)j;
        if (cell_number(v, &x))
            printf("<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>\n",
                   bx + pw * 0.15, YPOS(x), pw * 0.7, YPOS(0) - YPOS(x));
        else if (json_is_string(v))
            printf("<text class=\"hidden\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                   bx + pw / 2, YPOS(0) - 3, json_string_value(v));
        const char *label = json_string_value(json_array_get(months, j));
        printf("<text class=\"axis\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.2s</text>\n",
               bx + pw / 2, H - 6, label ? label + 5 : "");
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
            printf("<line class=\"ly\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px, py,
                   cx, cy);
        printf("<circle class=\"lyp\" cx=\"%.1f\" cy=\"%.1f\" r=\"2\"/>\n", cx, cy);
        px = cx;
        py = cy;
        have = 1;
    }
    if (monthly_target && json_is_number(target))
        printf("<line class=\"target\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%.1f\" y2=\"%.1f\"/>\n", L,
               W - 4, YPOS(json_number_value(target)), YPOS(json_number_value(target)));
    printf("</svg>\n");
#undef YPOS
}

static void html_cells(const char *head, const json_t *arr, const json_t *total)
{
    char buf[32];
    size_t j;
    json_t *v;
    printf("<tr><th>%s</th>", head);
    json_array_foreach(arr, j, v) {
        cell_text(v, buf, sizeof buf);
        printf("<td>%s</td>", buf);
    }
    cell_text(total, buf, sizeof buf);
    printf("<td class=\"total\">%s</td></tr>\n", buf);
}

static void print_html(const json_t *rep)
{
    const json_t *months = json_object_get(rep, "months"), *inds = json_object_get(rep, "indicators");
    const json_t *area = json_object_get(rep, "area"), *chain = json_object_get(rep, "chain");
    size_t i, j;
    json_t *ind, *m;
    char buf[64];
    printf("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
           "<link rel=\"icon\" href=\"data:,\">\n<title>Partnership report %s to %s</title>\n",
           cli_str(rep, "from"), cli_str(rep, "to"));
    /* One A3 sheet, portrait: three indicators a row (seven rows, 21 fit),
     * each a chart with its table under it; columns never wider than the
     * sheet, whatever the numbers. */
    printf("<style>\n"
           "@page { size: A3 portrait; margin: 8mm; }\n"
           "@media print { body { zoom: 0.85; } } /* 21 indicators, with room */\n"
           "body { font: 8pt/1.25 'DejaVu Sans', Arial, sans-serif; color: #111; margin: 0; }\n"
           "header { border-bottom: 2px solid #333; margin-bottom: 4mm; }\n"
           "h1 { font-size: 16pt; margin: 0 0 1mm; }\n"
           ".meta { font-size: 8pt; color: #333; }\n"
           ".grid { display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 3mm; }\n"
           ".card { border: 1px solid #bbb; padding: 1.5mm; break-inside: avoid; }\n"
           ".card h2 { font-size: 9pt; margin: 0 0 0.5mm; }\n"
           ".rag { display: inline-block; padding: 0 2mm; border-radius: 2mm; color: #fff; }\n"
           ".rag-green { background: #2e7d32; } .rag-amber { background: #b26a00; }\n"
           ".rag-red { background: #c62828; } .rag-none { background: #777; }\n"
           "svg.chart { width: 100%%; height: auto; display: block; }\n"
           "svg .bar { fill: #3f6fb5; } svg .ly { stroke: #888; stroke-width: 1.2; }\n"
           "svg .lyp { fill: #888; } svg .target { stroke: #c62828; stroke-dasharray: 4 3; }\n"
           "svg .band { fill: #2e7d32; opacity: 0.15; } svg .grid { stroke: #ddd; }\n"
           "svg .axis { font-size: 8px; fill: #444; } svg .hidden { font-size: 7px; fill: #c62828; }\n"
           "table { border-collapse: collapse; width: 100%%; table-layout: fixed; font-size: 6.5pt;\n"
           "  font-variant-numeric: tabular-nums; margin-top: 1mm; }\n"
           "th:first-child { width: 11%%; } tr:first-child th:last-child { width: 9%%; }\n"
           "td { overflow: hidden; white-space: nowrap; }\n"
           "th, td { border: 1px solid #ddd; padding: 0 1px; text-align: right; }\n"
           "th { text-align: left; font-weight: normal; color: #444; }\n"
           "td.total { font-weight: bold; }\n"
           ".summary { font-size: 7pt; margin-top: 0.5mm; }\n"
           "footer { margin-top: 4mm; font-size: 7.5pt; color: #333; }\n"
           "</style>\n</head>\n<body>\n<header>\n<h1>Partnership report: ");
    html_text(json_is_object(area) ? cli_str(area, "title") : "the whole partnership");
    printf("</h1>\n<div class=\"meta\">%s to %s (Europe/London calendar months), compared with "
           "the same months a year before. Bars: this period; grey line: last year; dashed "
           "red: target; green strip: target band.</div>\n</header>\n<main class=\"grid\">\n",
           cli_str(rep, "from"), cli_str(rep, "to"));
    json_array_foreach(inds, i, ind) {
        const char *rag = cli_str(ind, "rag");
        printf("<section class=\"card\" id=\"ind-");
        html_text(cli_str(ind, "name"));
        printf("\">\n<h2>");
        html_text(cli_str(ind, "title"));
        printf("</h2>\n");
        html_chart(ind, months);
        printf("<table>\n<tr><th></th>");
        json_array_foreach(months, j, m) printf("<th>%.3s</th>",
                                                json_string_value(m) + 5);
        printf("<th>total</th></tr>\n");
        html_cells("this year", json_object_get(ind, "values"), json_object_get(ind, "total"));
        html_cells("last year", json_object_get(ind, "last_year"),
                   json_object_get(ind, "last_year_total"));
        printf("</table>\n<div class=\"summary\">RAG <span class=\"rag rag-%s\">%s</span>",
               !strcmp(rag, "green") || !strcmp(rag, "amber") || !strcmp(rag, "red") ? rag
                                                                                     : "none",
               *rag ? rag : "no target");
        cell_text(json_object_get(ind, "change"), buf, sizeof buf);
        printf(" &middot; change on last year %s &middot; direction %s", *buf ? buf : "n/a",
               *cli_str(ind, "direction") ? cli_str(ind, "direction") : "n/a");
        char t[32];
        if (*target_text(ind, t, sizeof t))
            printf(" &middot; target %s", t);
        if (*opt_number(ind, "baseline", buf, sizeof buf))
            printf(" &middot; baseline %s", buf);
        if (json_object_get(ind, "area_not_recorded")) {
            cell_text(json_object_get(ind, "area_not_recorded"), buf, sizeof buf);
            printf(" &middot; area not recorded %s", buf);
        }
        printf("</div>\n</section>\n");
    }
    printf("</main>\n<footer>\n");
    if (json_is_true(json_object_get(rep, "suppressed")))
        printf("<p>Counts under %lld are shown as &lt;%lld; * marks a figure hidden so that "
               "they cannot be worked out from a total.</p>\n",
               (long long)cli_int(rep, "suppress_below", 5),
               (long long)cli_int(rep, "suppress_below", 5));
    printf("<p id=\"provenance\">Computed by the hub from its log up to seq %lld, chain link "
           "<code>%s</code> (%s), with indicator files %s. The same seq gives the same "
           "figures.</p>\n</footer>\n</body>\n</html>\n",
           (long long)cli_int(rep, "as_of", 0), cli_str(chain, "link"), cli_str(chain, "name"),
           cli_str(rep, "indicators_digest"));
}

static void print_explain(const json_t *rep)
{
    char v[32];
    cell_text(json_object_get(rep, "value"), v, sizeof v);
    printf("%s in %s: %s, as of seq %lld (chain link %s)\n", cli_str(rep, "indicator"),
           cli_str(rep, "month"), v, (long long)cli_int(rep, "as_of", 0),
           cli_str(json_object_get(rep, "chain"), "link"));
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(rep, "items"), i, it) {
        const char *kind = cli_str(it, "kind");
        if (!strcmp(kind, "event")) {
            printf("  event seq %lld  %-20s occurred %s\n", (long long)cli_int(it, "seq", 0),
                   cli_str(it, "type"), cli_str(it, "occurred_at"));
        } else if (!strcmp(kind, "alert")) {
            printf("  alert %lld  %-16s %-30s key %s  raised by seq %lld\n",
                   (long long)cli_int(it, "id", 0), cli_str(it, "panel"), cli_str(it, "rule"),
                   cli_str(it, "key"), (long long)cli_int(it, "raised_by", 0));
        } else {
            printf("  person %s: events", cli_str(it, "person"));
            size_t j;
            json_t *s;
            json_array_foreach(json_object_get(it, "events"), j, s)
                printf(" %lld", (long long)json_integer_value(s));
            printf("\n");
        }
    }
    if (json_is_true(json_object_get(rep, "truncated")))
        printf("  (more: the list stops at the hub's limit)\n");
}

/* "2025-04-01" or "2025-04" as the hub takes them. */
static int day_ok(const char *s)
{
    size_t n = strlen(s);
    if (n != 7 && n != 10)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (i == 4 || i == 7 ? s[i] != '-' : (s[i] < '0' || s[i] > '9'))
            return 0;
    return 1;
}

int cli_cmd_report(struct cli *c, int argc, char **argv)
{
    enum { OPT_FROM = CLI_OPT__LAST, OPT_TO, OPT_AREA, OPT_AS_OF, OPT_FORMAT, OPT_EXPLAIN,
           OPT_MONTH, OPT_UNSUPPRESSED };
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"from", required_argument, NULL, OPT_FROM},
                                         {"to", required_argument, NULL, OPT_TO},
                                         {"area", required_argument, NULL, OPT_AREA},
                                         {"as-of", required_argument, NULL, OPT_AS_OF},
                                         {"format", required_argument, NULL, OPT_FORMAT},
                                         {"explain", required_argument, NULL, OPT_EXPLAIN},
                                         {"month", required_argument, NULL, OPT_MONTH},
                                         {"unsuppressed", no_argument, NULL, OPT_UNSUPPRESSED},
                                         {0, 0, 0, 0}};
    json_t *req = json_pack("{s:s}", "op", "report");
    const char *from = NULL, *to = NULL, *explain = NULL, *month = NULL;
    enum format fmt = FMT_TABLE;
    uint64_t v;
    int rc = CLI_OK, opt;
    cli_getopt_reset();
    while (rc == CLI_OK && (opt = cli_next_option(c, argc, argv, opts, &rc)) >= 0) {
        switch (opt) {
        case OPT_FROM: from = optarg; break;
        case OPT_TO: to = optarg; break;
        case OPT_AREA: json_object_set_new(req, "area", json_string(optarg)); break;
        case OPT_AS_OF:
            if (cli_parse_u64(optarg, 0, INT64_MAX, &v))
                rc = cli_usage_error(c, "--as-of '%s': expected a sequence number", optarg);
            else
                json_object_set_new(req, "as_of", json_integer((json_int_t)v));
            break;
        case OPT_FORMAT:
            if (!strcmp(optarg, "table"))
                fmt = FMT_TABLE;
            else if (!strcmp(optarg, "csv"))
                fmt = FMT_CSV;
            else if (!strcmp(optarg, "json"))
                fmt = FMT_JSON;
            else if (!strcmp(optarg, "html"))
                fmt = FMT_HTML;
            else
                rc = cli_usage_error(c, "--format '%s': expected table, csv, json or html", optarg);
            break;
        case OPT_EXPLAIN: explain = optarg; break;
        case OPT_MONTH: month = optarg; break;
        case OPT_UNSUPPRESSED: json_object_set_new(req, "suppress", json_false()); break;
        }
    }
    if (rc == CLI_OK && optind < argc)
        rc = cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
    if (rc == CLI_OK && (!from || !to))
        rc = cli_usage_error(c, "--from and --to are required (dates YYYY-MM-DD or months "
                                "YYYY-MM)");
    if (rc == CLI_OK && (!day_ok(from) || !day_ok(to)))
        rc = cli_usage_error(c, "--%s '%s': expected a date YYYY-MM-DD or a month YYYY-MM",
                             day_ok(from) ? "to" : "from", day_ok(from) ? to : from);
    if (rc == CLI_OK && (!explain != !month))
        rc = cli_usage_error(c, "--explain INDICATOR and --month YYYY-MM go together");
    if (rc == CLI_OK && explain && (fmt == FMT_CSV || fmt == FMT_HTML))
        rc = cli_usage_error(c, "--explain prints a list: use the table (default) or json");
    if (rc != CLI_OK) {
        json_decref(req);
        return rc;
    }
    json_object_set_new(req, "from", json_string(from));
    json_object_set_new(req, "to", json_string(to));
    if (explain) {
        json_object_set_new(req, "explain", json_string(explain));
        json_object_set_new(req, "month", json_string(month));
    }
    json_t *rep;
    /* A year over a large log takes seconds: at least a minute unless the
     * user said otherwise. */
    int timeout = c->timeout_ms == CLI_DEFAULT_TIMEOUT_MS ? 60000 : c->timeout_ms;
    if ((rc = cli_call(c, req, timeout, &rep)) != CLI_OK)
        return rc;
    if (fmt == FMT_JSON || c->json) {
        json_object_del(rep, "ok");
        json_object_del(rep, "req");
        json_dumpf(rep, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
        fputc('\n', stdout);
    } else if (explain) {
        print_explain(rep);
    } else if (fmt == FMT_CSV) {
        print_csv(rep);
    } else if (fmt == FMT_HTML) {
        print_html(rep);
    } else {
        print_table(rep);
    }
    json_decref(rep);
    if (fflush(stdout) || ferror(stdout)) {
        cli_warn("writing the output failed");
        return CLI_FAIL;
    }
    return CLI_OK;
}
