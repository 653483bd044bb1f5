/* case, action and meeting: a panel's work after the alert (docs/panels.md):
 * its cases and their outcomes, the actions it sets agencies, its
 * meetings' agendas and hearings. Every change is one op the hub writes
 * to its log as an event. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The options of the three commands: each sends the ones it is given. */
enum {
    OPT_STATUS = CLI_OPT__LAST, OPT_OUTCOME, OPT_RISK, OPT_WHAT, OPT_OWNER, OPT_DUE_DAYS,
    OPT_DUE_WDAYS, OPT_DUE, OPT_ALERT, OPT_REASON, OPT_KEY, OPT_DATE, OPT_ATTEND, OPT_MINUTES,
    OPT_BY, OPT_ISSUE
};

static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                     {"status", required_argument, NULL, OPT_STATUS},
                                     {"outcome", required_argument, NULL, OPT_OUTCOME},
                                     {"risk", required_argument, NULL, OPT_RISK},
                                     {"what", required_argument, NULL, OPT_WHAT},
                                     {"owner", required_argument, NULL, OPT_OWNER},
                                     {"due-days", required_argument, NULL, OPT_DUE_DAYS},
                                     {"due-working-days", required_argument, NULL, OPT_DUE_WDAYS},
                                     {"due", required_argument, NULL, OPT_DUE},
                                     {"alert", required_argument, NULL, OPT_ALERT},
                                     {"reason", required_argument, NULL, OPT_REASON},
                                     {"key", required_argument, NULL, OPT_KEY},
                                     {"date", required_argument, NULL, OPT_DATE},
                                     {"attend", required_argument, NULL, OPT_ATTEND},
                                     {"minutes", required_argument, NULL, OPT_MINUTES},
                                     {"by", required_argument, NULL, OPT_BY},
                                     {"issue", no_argument, NULL, OPT_ISSUE},
                                     {0, 0, 0, 0}};

/* Which option is which request field (NULL: not a field). */
static const char *const field_of[] = {
    [OPT_STATUS - CLI_OPT__LAST] = "status", [OPT_OUTCOME - CLI_OPT__LAST] = "outcome",
    [OPT_RISK - CLI_OPT__LAST] = "risk",     [OPT_WHAT - CLI_OPT__LAST] = "what",
    [OPT_OWNER - CLI_OPT__LAST] = "owner",   [OPT_DUE_DAYS - CLI_OPT__LAST] = "due_days",
    [OPT_DUE_WDAYS - CLI_OPT__LAST] = "due_working_days", [OPT_DUE - CLI_OPT__LAST] = "due",
    [OPT_ALERT - CLI_OPT__LAST] = "alert",   [OPT_REASON - CLI_OPT__LAST] = "reason",
    [OPT_KEY - CLI_OPT__LAST] = "key",       [OPT_DATE - CLI_OPT__LAST] = "meeting",
    [OPT_ATTEND - CLI_OPT__LAST] = "attendance", [OPT_MINUTES - CLI_OPT__LAST] = "minutes",
    [OPT_BY - CLI_OPT__LAST] = "by",
};

/* Parse the options into req's fields; *issue for --issue. */
static int parse(struct cli *c, int argc, char **argv, json_t *req, int *issue)
{
    int opt, rc;
    cli_getopt_reset();
    while ((opt = cli_next_option(c, argc, argv, opts, &rc)) >= 0) {
        if (opt == OPT_ISSUE) {
            *issue = 1;
            continue;
        }
        const char *field = field_of[opt - CLI_OPT__LAST];
        if (opt == OPT_DUE_DAYS || opt == OPT_DUE_WDAYS || opt == OPT_ALERT) {
            uint64_t v;
            if (cli_parse_u64(optarg, 1, opt == OPT_ALERT ? UINT64_MAX >> 12 : 3650, &v))
                return cli_usage_error(c, "--%s '%s': expected a whole number",
                                       opts[opt - CLI_OPT__LAST + 6].name, optarg);
            json_object_set_new(req, field, json_integer((json_int_t)v));
        } else if (opt == OPT_ATTEND) {
            json_t *l = json_array();
            char *copy = strdup(optarg), *save = NULL;
            for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
                json_array_append_new(l, json_string(t));
            free(copy);
            json_object_set_new(req, field, l);
        } else {
            json_object_set_new(req, field, json_string(optarg));
        }
    }
    return rc;
}

/* The positional arguments left after the options: exactly n of them. */
static int positional(struct cli *c, int argc, int n, const char *what)
{
    if (argc - optind != n)
        return cli_usage_error(c, "expected %s", what);
    return CLI_OK;
}

static int send(struct cli *c, json_t *req, json_t **reply)
{
    return cli_call(c, req, c->timeout_ms, reply);
}

static void stamp(const char *s, char *buf, size_t n)
{
    if (s && *s)
        cli_fmt_stamp(s, 0, buf, n);
    else
        snprintf(buf, n, "-");
}

static void print_case_line(const json_t *k)
{
    char opened[24], due[24];
    stamp(cli_str(k, "opened_at"), opened, sizeof opened);
    stamp(cli_str(k, "review_due"), due, sizeof due);
    const char *heard = cli_str(k, "last_heard"), *outcome = cli_str(k, "outcome");
    printf("%-16s  %-6s  %-8s  %-10s  %-10s%s  %-10s  %s\n", cli_str(k, "key"),
           cli_str(k, "status"), cli_str(k, "risk"), opened, due,
           json_is_true(json_object_get(k, "review_pending")) ? "!" : " ", *heard ? heard : "-",
           *outcome ? outcome : "");
}

static void print_cases(const char *title, json_t *cases)
{
    size_t n = json_array_size(cases);
    printf("%s: %zu\n", title, n);
    if (!n)
        return;
    printf("  %-16s  %-6s  %-8s  %-10s  %-10s   %-10s  %s\n", "KEY", "STATUS", "RISK", "OPENED",
           "REVIEW", "HEARD", "OUTCOME");
    for (size_t i = 0; i < n; i++) {
        json_t *k = json_array_get(cases, i);
        printf("  ");
        if (json_is_null(k))
            printf("(not shown: the reply's size limit)\n");
        else
            print_case_line(k);
    }
}

static void print_actions(struct cli *c, const char *title, json_t *actions)
{
    size_t n = json_array_size(actions);
    printf("%s: %zu\n", title, n);
    if (!n)
        return;
    printf("  %-5s  %-10s  %-8s  %-16s  %-14s  %s\n", "ID", "DUE", "STATUS", "OWNER", "CASE",
           "WHAT");
    for (size_t i = 0; i < n; i++) {
        json_t *a = json_array_get(actions, i);
        if (json_is_null(a)) {
            printf("  (not shown: the reply's size limit)\n");
            continue;
        }
        char due[24];
        stamp(cli_str(a, "due_at"), due, sizeof due);
        int64_t dms;
        int late = cli_time_parse(cli_str(a, "due_at"), &dms, NULL) == 0 && dms < c->now_ms &&
                   !strcmp(cli_str(a, "status"), "open");
        printf("  %-5lld  %-10s  %-8s  %-16s  %-14s  %s%s\n", (long long)cli_int(a, "id", 0), due,
               cli_str(a, "status"), cli_str(a, "owner"), cli_str(a, "key"),
               *cli_str(a, "what") ? cli_str(a, "what") : "(restricted panel)",
               late ? "  OVERDUE" : "");
    }
}

static int done(struct cli *c, json_t *reply, const char *what)
{
    if (c->json)
        cli_print_reply_json(reply);
    else if (json_object_get(reply, "id"))
        printf("%s %lld recorded (seq %lld)\n", what, (long long)cli_int(reply, "id", 0),
               (long long)cli_int(reply, "seq", 0));
    else
        printf("%s recorded (seq %lld)\n", what, (long long)cli_int(reply, "seq", 0));
    json_decref(reply);
    return CLI_OK;
}

int cli_cmd_case(struct cli *c, int argc, char **argv)
{
    json_t *req = json_object(), *reply = NULL;
    int issue = 0, rc = parse(c, argc, argv, req, &issue);
    const char *sub = optind < argc ? argv[optind] : "";
    if (rc != CLI_OK)
        goto out;
    optind++;
    static const struct {
        const char *sub, *op, *args;
        int nargs;
    } subs[] = {
        {"list", "cases", "PANEL", 1},         {"show", "case", "PANEL KEY", 2},
        {"close", "case.close", "PANEL KEY", 2}, {"review", "case.review", "PANEL KEY", 2},
        {"risk", "case.risk", "PANEL KEY", 2},
    };
    size_t i;
    for (i = 0; i < sizeof subs / sizeof *subs; i++)
        if (!strcmp(sub, subs[i].sub))
            break;
    if (i == sizeof subs / sizeof *subs) {
        rc = cli_usage_error(c, "'%s': expected list, show, close, review or risk", sub);
        goto out;
    }
    if ((rc = positional(c, argc, subs[i].nargs, subs[i].args)))
        goto out;
    json_object_set_new(req, "op", json_string(subs[i].op));
    json_object_set_new(req, "panel", json_string(argv[optind]));
    if (subs[i].nargs == 2)
        json_object_set_new(req, "key", json_string(argv[optind + 1]));
    /* The list's title, before the request (and its reference) goes. */
    json_t *st = json_object_get(req, "status");
    char title[160];
    snprintf(title, sizeof title, "%s cases on %s", st ? json_string_value(st) : "open",
             argv[optind]);
    if ((rc = send(c, req, &reply)))
        return rc;
    if (i >= 2)
        return done(c, reply, "case");
    if (c->json) {
        cli_print_reply_json(reply);
    } else if (i == 0) {
        print_cases(title, json_object_get(reply, "cases"));
    } else {
        printf("case ");
        print_case_line(json_object_get(reply, "case"));
        print_actions(c, "actions", json_object_get(reply, "actions"));
    }
    json_decref(reply);
    return CLI_OK;
out:
    json_decref(req);
    return rc;
}

int cli_cmd_action(struct cli *c, int argc, char **argv)
{
    json_t *req = json_object(), *reply = NULL;
    int issue = 0, rc = parse(c, argc, argv, req, &issue);
    const char *sub = optind < argc ? argv[optind] : "";
    if (rc != CLI_OK)
        goto out;
    optind++;
    if (!strcmp(sub, "list") || !strcmp(sub, "mine")) {
        int mine = !strcmp(sub, "mine");
        if ((rc = positional(c, argc, mine ? 0 : 1, mine ? "no arguments" : "PANEL")))
            goto out;
        json_object_set_new(req, "op", json_string("actions"));
        if (!mine)
            json_object_set_new(req, "panel", json_string(argv[optind]));
        if ((rc = send(c, req, &reply)))
            return rc;
        if (c->json)
            cli_print_reply_json(reply);
        else
            print_actions(c, mine ? "your actions" : "actions", json_object_get(reply, "actions"));
        json_decref(reply);
        return CLI_OK;
    }
    if (!strcmp(sub, "create")) {
        if ((rc = positional(c, argc, 2, "PANEL KEY")))
            goto out;
        json_object_set_new(req, "op", json_string("action.create"));
        json_object_set_new(req, "panel", json_string(argv[optind]));
        json_object_set_new(req, "key", json_string(argv[optind + 1]));
    } else if (!strcmp(sub, "update")) {
        uint64_t id;
        if ((rc = positional(c, argc, 2, "PANEL ID")))
            goto out;
        if (cli_parse_u64(argv[optind + 1], 1, UINT64_MAX >> 12, &id)) {
            rc = cli_usage_error(c, "'%s' is not an action id", argv[optind + 1]);
            goto out;
        }
        json_object_set_new(req, "op", json_string("action.update"));
        json_object_set_new(req, "panel", json_string(argv[optind]));
        json_object_set_new(req, "id", json_integer((json_int_t)id));
    } else {
        rc = cli_usage_error(c, "'%s': expected list, mine, create or update", sub);
        goto out;
    }
    if ((rc = send(c, req, &reply)))
        return rc;
    return done(c, reply, "action");
out:
    json_decref(req);
    return rc;
}

int cli_cmd_meeting(struct cli *c, int argc, char **argv)
{
    json_t *req = json_object(), *reply = NULL;
    int issue = 0, rc = parse(c, argc, argv, req, &issue);
    const char *sub = optind < argc ? argv[optind] : "";
    if (rc != CLI_OK)
        goto out;
    optind++;
    if (!strcmp(sub, "agenda")) {
        if ((rc = positional(c, argc, 1, "PANEL")))
            goto out;
        json_object_set_new(req, "op", json_string(issue ? "agenda.issue" : "agenda"));
        json_object_set_new(req, "panel", json_string(argv[optind]));
        if ((rc = send(c, req, &reply)))
            return rc;
        if (c->json) {
            cli_print_reply_json(reply);
        } else {
            json_t *a = json_object_get(reply, "agenda");
            const char *prev = cli_str(a, "previous");
            printf("%s meeting of %s (previous: %s)%s\n", cli_str(a, "panel"),
                   cli_str(a, "meeting"), *prev ? prev : "none",
                   issue ? "; issued to the log" : "");
            json_t *acc = json_object_get(a, "accepted");
            printf("alerts accepted since the last meeting: %zu\n", json_array_size(acc));
            for (size_t i = 0; i < json_array_size(acc); i++) {
                json_t *e = json_array_get(acc, i);
                char when[24];
                stamp(cli_str(e, "accepted_at"), when, sizeof when);
                printf("  alert %-6lld  %-10s  %s\n", (long long)cli_int(e, "alert", 0), when,
                       cli_str(e, "key"));
            }
            print_cases("new cases", json_object_get(a, "new_cases"));
            print_cases("reviews due", json_object_get(a, "reviews_due"));
            print_cases("12 months since last heard", json_object_get(a, "anniversaries"));
            print_actions(c, "incomplete actions", json_object_get(a, "actions"));
            json_t *lb = json_object_get(a, "lookback");
            printf("look-back events: %zu\n", json_array_size(lb));
            for (size_t i = 0; i < json_array_size(lb); i++) {
                json_t *e = json_array_get(lb, i);
                char when[24];
                stamp(cli_str(e, "occurred_at"), when, sizeof when);
                printf("  seq %-8lld  %-10s  %s", (long long)cli_int(e, "seq", 0), when,
                       cli_str(e, "type"));
                json_t *ages = json_object_get(e, "ages");
                for (size_t k = 0; k < json_array_size(ages); k++)
                    printf("%s%lld", k ? ", " : "  aged ",
                           (long long)json_integer_value(json_array_get(ages, k)));
                printf("\n");
            }
            if (json_is_true(json_object_get(a, "truncated")))
                printf("(some entries not shown: the reply's size limit; use --json pages)\n");
        }
        json_decref(reply);
        return CLI_OK;
    }
    if (!strcmp(sub, "hear")) {
        if ((rc = positional(c, argc, 2, "PANEL KEY")))
            goto out;
        json_object_set_new(req, "op", json_string("case.hear"));
        json_object_set_new(req, "panel", json_string(argv[optind]));
        json_object_set_new(req, "key", json_string(argv[optind + 1]));
        if ((rc = send(c, req, &reply)))
            return rc;
        return done(c, reply, "hearing");
    }
    rc = cli_usage_error(c, "'%s': expected agenda or hear", sub);
out:
    json_decref(req);
    return rc;
}
