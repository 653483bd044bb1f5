/* report: the partnership's figures as the hub computes them (the `report`
 * op, docs/reports.md), shown as a table, CSV, JSON or one printable A3
 * HTML page with SVG charts (common/reporthtml.c, shared with the console's
 * report page). The hub does the counting and the
 * suppression; this file only lays out what it sent, so the same seq gives
 * the same bytes. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "reporthtml.h"

enum format { FMT_TABLE, FMT_CSV, FMT_JSON, FMT_HTML };

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
        csph_report_cell_text(json_object_get(ind, "total"), a, sizeof a);
        csph_report_cell_text(json_object_get(ind, "last_year_total"), b, sizeof b);
        csph_report_cell_text(json_object_get(ind, "change"), c, sizeof c);
        printf("%-34.34s %8s %9s %7s %9s %6s %9s\n", cli_str(ind, "name"), a, b, c,
               csph_report_target_text(ind, t, sizeof t), cli_str(ind, "rag"), cli_str(ind, "direction"));
    }
    json_array_foreach(inds, i, ind) {
        const json_t *u = json_object_get(ind, "redacted_not_evaluated");
        if (!u)
            continue;
        csph_report_cell_text(u, a, sizeof a);
        printf("%-34.34s %s redacted records could not be evaluated (erased or past "
               "retention: a field it tests was removed)\n", cli_str(ind, "name"), a);
    }
    printf("\n%-34s", "by month");
    json_array_foreach(months, j, m) printf(" %7s", json_string_value(m));
    printf("\n");
    json_array_foreach(inds, i, ind) {
        printf("%-34.34s", cli_str(ind, "name"));
        json_t *v;
        json_array_foreach(json_object_get(ind, "values"), j, v) {
            csph_report_cell_text(v, a, sizeof a);
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
            csph_report_cell_text(v, buf, sizeof buf);
            csv_field(buf, 0);
        }
        json_array_foreach(json_object_get(ind, "last_year"), j, v) {
            csph_report_cell_text(v, buf, sizeof buf);
            csv_field(buf, 0);
        }
        static const char *const cells[] = {"total", "last_year_total", "change"};
        for (size_t k = 0; k < 3; k++) {
            csph_report_cell_text(json_object_get(ind, cells[k]), buf, sizeof buf);
            csv_field(buf, 0);
        }
        csv_field(csph_report_opt_number(ind, "baseline", buf, sizeof buf), 0);
        csv_field(csph_report_target_text(ind, buf, sizeof buf), 0);
        csv_field(cli_str(ind, "rag"), 0);
        csv_field(cli_str(ind, "direction"), 0);
        csph_report_cell_text(json_object_get(ind, "area_not_recorded"), buf, sizeof buf);
        csv_field(buf, 0);
        csv_field(json_is_object(area) ? cli_str(area, "name") : "partnership", 0);
        csv_field(cli_str(rep, "from"), 0);
        csv_field(cli_str(rep, "to"), 0);
        csv_field(seq, 0);
        csv_field(cli_str(json_object_get(rep, "chain"), "link"), 1);
    }
}

static void print_explain(const json_t *rep)
{
    char v[32];
    csph_report_cell_text(json_object_get(rep, "value"), v, sizeof v);
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
    /* Not resent while it is computed: the client library resends a
     * request unanswered after resend_ms (5 s), and a report is no
     * idempotent write: a resend starts a second computation, and the third
     * was answered busy (seen at 10 million events, where a year takes
     * about 10 s). One send, one wait for the whole timeout. */
    struct csph_client_options once = {.resend_ms = timeout > 0 ? timeout : INT32_MAX};
    if ((rc = cli_connect(c, &once)) != CLI_OK) {
        json_decref(req);
        return rc;
    }
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
        csph_report_html_page(stdout, rep);
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
