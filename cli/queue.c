/* queue and alert: a coordinator reads the panel's queue and records
 * decisions on it. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define QUEUE_PAGE_DEFAULT 500

/* What a table row shows for one alert. */
struct row {
    char id[24], age[16], due[32];
    const char *priority, *status, *reason;
    int overdue;
};

static void make_row(struct cli *c, const json_t *a, struct row *r)
{
    snprintf(r->id, sizeof r->id, "%lld", (long long)cli_int(a, "id", 0));
    r->priority = cli_str(a, "priority");
    r->status = cli_str(a, "status");
    r->reason = cli_str(a, "reason");
    int64_t raised;
    if (cli_time_parse(cli_str(a, "raised_at"), &raised, NULL) == 0)
        cli_fmt_age(c->now_ms, raised, r->age, sizeof r->age);
    else
        snprintf(r->age, sizeof r->age, "?");
    int64_t due;
    r->overdue = 0;
    if (cli_time_parse(cli_str(a, "due_at"), &due, NULL) == 0) {
        /* Overdue: past its deadline with no decision recorded; any
         * alert.update ends the deadline (RULES.md, `overdue`). */
        r->overdue = due < c->now_ms && strcmp(r->status, "open") == 0;
        char d[24];
        cli_fmt_local(due, 0, d, sizeof d);
        snprintf(r->due, sizeof r->due, "%s%s", d, r->overdue ? " OVERDUE" : "");
    } else {
        snprintf(r->due, sizeof r->due, "-");
    }
}

static int max_int(int a, int b)
{
    return a > b ? a : b;
}

static void print_table(struct cli *c, const char *panel, const char *status, json_t *alerts)
{
    size_t n = json_array_size(alerts);
    if (n == 0) {
        printf("no %s%salerts on %s\n", status ? status : "", status ? " " : "", panel);
        return;
    }
    struct row *rows = calloc(n, sizeof *rows);
    int wid = 2, wpri = 8, wage = 3, wdue = 3, wst = 6, overdue = 0;
    for (size_t i = 0; i < n; i++) {
        make_row(c, json_array_get(alerts, i), &rows[i]);
        wid = max_int(wid, (int)strlen(rows[i].id));
        wpri = max_int(wpri, (int)strlen(rows[i].priority));
        wage = max_int(wage, (int)strlen(rows[i].age));
        wdue = max_int(wdue, (int)strlen(rows[i].due));
        wst = max_int(wst, (int)strlen(rows[i].status));
        overdue += rows[i].overdue;
    }
    int lead = wid + wpri + wage + wdue + wst + 10; /* 2 spaces between columns */
    int wreason = c->tty ? max_int(c->columns - lead, 20) : 0;
    printf("%-*s  %-*s  %-*s  %-*s  %-*s  %s\n", wid, "ID", wpri, "PRIORITY", wage, "AGE",
           wdue, "DUE", wst, "STATUS", "REASON");
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        printf("%*s  %-*s  %-*s  %-*s  %-*s  ", wid, r->id, wpri, r->priority, wage, r->age,
               wdue, r->due, wst, r->status);
        cli_print_cut(r->reason, wreason);
        putchar('\n');
    }
    printf("%zu alert%s", n, n == 1 ? "" : "s");
    if (overdue)
        printf(", %d overdue", overdue);
    printf("\n");
    free(rows);
}

static int in_list(const char *s, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(s, list[i]) == 0)
            return 1;
    return 0;
}

int cli_cmd_queue(struct cli *c, int argc, char **argv)
{
    enum { OPT_STATUS = CLI_OPT__LAST, OPT_PAGE, OPT_PRIORITY, OPT_PERSON, OPT_RULE, OPT_OVERDUE,
           OPT_LIMIT };
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"status", required_argument, NULL, OPT_STATUS},
                                         {"page", required_argument, NULL, OPT_PAGE},
                                         {"priority", required_argument, NULL, OPT_PRIORITY},
                                         {"person", required_argument, NULL, OPT_PERSON},
                                         {"rule", required_argument, NULL, OPT_RULE},
                                         {"overdue", no_argument, NULL, OPT_OVERDUE},
                                         {"limit", required_argument, NULL, OPT_LIMIT},
                                         {0, 0, 0, 0}};
    static const char *const statuses[] = {"open", "acknowledged", "accepted", "declined",
                                           "closed"};
    static const char *const priorities[] = {"standard", "medium", "high"};
    const char *status = NULL, *priority = NULL, *person = NULL, *rule = NULL;
    int overdue = 0;
    uint64_t page = QUEUE_PAGE_DEFAULT, limit = 0;
    int opt, optrc;
    cli_getopt_reset();
    while ((opt = cli_next_option(c, argc, argv, opts, &optrc)) >= 0) {
        if (opt == OPT_STATUS) {
            status = optarg;
            if (!in_list(status, statuses, 5))
                return cli_usage_error(c, "--status '%s': expected open, acknowledged, "
                                          "accepted, declined or closed", status);
        } else if (opt == OPT_PRIORITY) {
            priority = optarg;
            if (!in_list(priority, priorities, 3))
                return cli_usage_error(c, "--priority '%s': expected standard, medium or high",
                                       priority);
        } else if (opt == OPT_PERSON) {
            person = optarg; /* the hub says what a person reference may hold */
        } else if (opt == OPT_RULE) {
            rule = optarg;
        } else if (opt == OPT_OVERDUE) {
            overdue = 1;
        } else if (opt == OPT_LIMIT) {
            if (cli_parse_u64(optarg, 1, 1000000, &limit))
                return cli_usage_error(c, "--limit '%s': expected 1 to 1000000", optarg);
        } else if (cli_parse_u64(optarg, 1, 1000, &page)) {
            return cli_usage_error(c, "--page '%s': expected 1 to 1000", optarg);
        }
    }
    if (optrc != CLI_OK)
        return optrc;
    if (argc - optind != 1)
        return cli_usage_error(c, "queue takes one panel name");
    const char *panel = argv[optind];
    if (limit && limit < page)
        page = limit;

    json_t *all = json_array();
    uint64_t after = 0, shown = 0;
    int rc = CLI_OK;
    for (;;) {
        json_t *req = json_pack("{s:s,s:s,s:I}", "op", "alerts", "panel", panel, "max",
                                (json_int_t)page);
        if (status)
            json_object_set_new(req, "status", json_string(status));
        /* Filtered on the hub: only the alerts that match cross the wire. */
        if (priority)
            json_object_set_new(req, "priority", json_string(priority));
        if (person)
            json_object_set_new(req, "person", json_string(person));
        if (rule)
            json_object_set_new(req, "rule", json_string(rule));
        if (overdue)
            json_object_set_new(req, "overdue", json_true());
        if (after)
            json_object_set_new(req, "after", json_integer((json_int_t)after));
        json_t *rep;
        if ((rc = cli_call(c, req, c->timeout_ms, &rep)) != CLI_OK)
            break;
        json_t *alerts = json_object_get(rep, "alerts");
        size_t i;
        json_t *a;
        json_array_foreach(alerts, i, a) {
            if (limit && shown == limit)
                break;
            shown++;
            if (!c->json) {
                json_array_append(all, a);
                continue;
            }
            /* An alert whose evidence alone is over a reply's size comes
             * cut: --json prints it whole. */
            if ((rc = cli_alert_complete(c, a)) != CLI_OK)
                break;
            cli_print_json_line(a);
        }
        if (rc != CLI_OK) {
            json_decref(rep);
            break;
        }
        /* Paged by `after` = the hub's `next` until `end`: a page holds at
         * most --page alerts, and fewer when 16 MiB would not hold them. */
        uint64_t next = (uint64_t)cli_int(rep, "next", 0);
        int end = !json_is_false(json_object_get(rep, "end"));
        json_decref(rep);
        if (end || (limit && shown == limit))
            break;
        if (next <= after) {
            cli_warn("internal: the hub's paging did not move past alert %llu",
                     (unsigned long long)after);
            rc = CLI_FAIL;
            break;
        }
        after = next;
    }
    if (rc == CLI_OK && !c->json)
        print_table(c, panel, priority || person || rule || overdue ? "matching" : status, all);
    json_decref(all);
    return rc;
}

int cli_cmd_alert(struct cli *c, int argc, char **argv)
{
    enum { OPT_NOTE = CLI_OPT__LAST, OPT_EXPECT, OPT_BY };
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"note", required_argument, NULL, OPT_NOTE},
                                         {"expect", required_argument, NULL, OPT_EXPECT},
                                         {"by", required_argument, NULL, OPT_BY},
                                         {0, 0, 0, 0}};
    static const struct {
        const char *action, *status;
    } actions[] = {{"ack", "acknowledged"},      {"acknowledge", "acknowledged"},
                   {"acknowledged", "acknowledged"}, {"accept", "accepted"},
                   {"accepted", "accepted"},     {"decline", "declined"},
                   {"declined", "declined"},     {"close", "closed"},
                   {"closed", "closed"},         {"reopen", "open"}};
    static const char *const statuses[] = {"open", "acknowledged", "accepted", "declined",
                                           "closed"};
    const char *note = NULL, *expect = NULL, *by = NULL;
    int opt, optrc;
    cli_getopt_reset();
    while ((opt = cli_next_option(c, argc, argv, opts, &optrc)) >= 0) {
        if (opt == OPT_NOTE)
            note = optarg;
        else if (opt == OPT_EXPECT)
            expect = optarg;
        else
            by = optarg;
    }
    if (optrc != CLI_OK)
        return optrc;
    uint64_t id;
    /* csphub alert show ID: read, not decide. */
    if (argc - optind == 2 && strcmp(argv[optind], "show") == 0) {
        if (note || expect || by)
            return cli_usage_error(c, "alert show takes no --note, --expect or --by");
        if (cli_parse_u64(argv[optind + 1], 1, INT64_MAX, &id))
            return cli_usage_error(c, "'%s' is not an alert id (a number such as 12)",
                                   argv[optind + 1]);
        return cli_alert_show(c, id);
    }
    if (argc - optind != 2)
        return cli_usage_error(c, "alert takes an alert id and what to record: ack, accept, "
                                  "decline, close or reopen (or: alert show ID)");
    if (cli_parse_u64(argv[optind], 1, INT64_MAX, &id))
        return cli_usage_error(c, "'%s' is not an alert id (a number such as 12)", argv[optind]);
    const char *status = NULL;
    for (size_t i = 0; i < sizeof actions / sizeof *actions && !status; i++)
        if (strcmp(argv[optind + 1], actions[i].action) == 0)
            status = actions[i].status;
    if (!status)
        return cli_usage_error(c, "'%s': expected ack, accept, decline, close or reopen",
                               argv[optind + 1]);
    if (note && strlen(note) > 2000)
        return cli_usage_error(c, "--note is %zu bytes; at most 2000", strlen(note));
    if (!strcmp(status, "open") && (!note || !*note))
        return cli_usage_error(c, "reopen needs --note saying why");
    if (expect && !in_list(expect, statuses, 5))
        return cli_usage_error(c, "--expect '%s': expected open, acknowledged, accepted, "
                                  "declined or closed", expect);

    json_t *req = json_pack("{s:s,s:I,s:s}", "op", "alert.update", "id", (json_int_t)id,
                            "status", status);
    if (note)
        json_object_set_new(req, "note", json_string(note));
    if (expect)
        json_object_set_new(req, "expect", json_string(expect));
    if (by)
        json_object_set_new(req, "by", json_string(by));
    json_t *rep;
    int rc = cli_call(c, req, c->timeout_ms, &rep);
    if (rc != CLI_OK)
        return rc;
    long long seq = (long long)cli_int(rep, "seq", 0);
    if (c->json) {
        json_t *j = json_pack("{s:I,s:s,s:I}", "id", (json_int_t)id, "status", status, "seq",
                              (json_int_t)seq);
        cli_print_json_line(j);
        json_decref(j);
    } else {
        printf("alert %llu %s (recorded as event seq %lld)\n", (unsigned long long)id,
               strcmp(status, "open") ? status : "reopened", seq);
    }
    json_decref(rep);
    return CLI_OK;
}
