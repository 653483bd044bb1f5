/* alert show: one alert in full, as a coordinator reads it before a panel
 * meeting: the whole reason, the rule and its version, the evidence events
 * with their time, source, type and fields, and every decision with who,
 * when and the note. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* The evidence events asked for in one request. */
#define SHOW_PAGE 500

/* An event's own fields as "name=value", nested maps as dotted names
 * ("location.lsoa=E01000916"); the envelope (id, type, source, occurred_at)
 * is shown in columns. */
static void print_fields(const json_t *o, const char *prefix, int *first)
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
            print_fields(v, name, first);
            continue;
        }
        printf("%s%s=", *first ? "" : " ", name);
        *first = 0;
        if (json_is_string(v)) {
            printf("%s", json_string_value(v));
        } else {
            char *t = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
            printf("%s", t ? t : "?");
            free(t);
        }
    }
}

static void print_event(const json_t *e)
{
    const json_t *ev = json_object_get(e, "event");
    char when[32];
    cli_fmt_stamp(cli_str(ev, "occurred_at"), 1, when, sizeof when);
    printf("  seq %-6lld %s  %-10s %-18s ", (long long)cli_int(e, "seq", 0), when,
           cli_str(ev, "source"), cli_str(ev, "type"));
    int first = 1;
    print_fields(ev, "", &first);
    putchar('\n');
}

static void print_head(struct cli *c, const json_t *a)
{
    char when[32], age[16], due[48];
    int64_t raised = 0, due_ms = 0;
    printf("Alert %lld on %s: %s priority, %s\n", (long long)cli_int(a, "id", 0),
           cli_str(a, "panel"), cli_str(a, "priority"), cli_str(a, "status"));
    printf("Rule:     %s (rule set %s)\n", cli_str(a, "rule"), cli_str(a, "rule_version"));
    cli_fmt_stamp(cli_str(a, "raised_at"), 1, when, sizeof when);
    if (cli_time_parse(cli_str(a, "raised_at"), &raised, NULL) == 0)
        cli_fmt_age(c->now_ms, raised, age, sizeof age);
    else
        snprintf(age, sizeof age, "?");
    printf("Raised:   %s (%s%s)\n", when, age, strcmp(age, "now") ? " ago" : "");
    if (cli_time_parse(cli_str(a, "due_at"), &due_ms, NULL) == 0) {
        cli_fmt_local(due_ms, 1, due, sizeof due);
        printf("Due:      %s%s\n", due,
               due_ms < c->now_ms && !strcmp(cli_str(a, "status"), "open") ? " OVERDUE" : "");
    }
    const json_t *key = json_object_get(a, "key");
    if (json_is_object(key)) {
        printf("Key:      ");
        int first = 1;
        print_fields(key, "", &first);
        putchar('\n');
    }
    printf("Reason:   %s\n", cli_str(a, "reason"));
}

static void print_decisions(const json_t *ds)
{
    size_t n = json_array_size(ds), i;
    json_t *d;
    printf("\nDecisions (%zu):\n", n);
    if (!n)
        printf("  none yet\n");
    json_array_foreach(ds, i, d) {
        char when[32];
        cli_fmt_stamp(cli_str(d, "at"), 1, when, sizeof when);
        printf("  %s  %-12s", when, cli_str(d, "status"));
        if (cli_str(d, "by")[0])
            printf("  by %s", cli_str(d, "by"));
        if (cli_str(d, "gateway")[0])
            printf(" (through %s)", cli_str(d, "gateway"));
        printf("  (seq %lld)\n", (long long)cli_int(d, "seq", 0));
        if (cli_str(d, "note")[0])
            printf("      note: %s\n", cli_str(d, "note"));
    }
}

int cli_alert_show(struct cli *c, uint64_t id)
{
    json_t *alert = NULL, *decisions = NULL, *events = json_array();
    uint64_t after = 0;
    int rc = CLI_OK;
    for (;;) {
        json_t *req = json_pack("{s:s,s:I,s:b,s:I,s:I}", "op", "alert", "id", (json_int_t)id,
                                "events", 1, "after", (json_int_t)after, "max",
                                (json_int_t)SHOW_PAGE);
        json_t *rep;
        if ((rc = cli_call(c, req, c->timeout_ms, &rep)) != CLI_OK)
            break;
        if (!alert) {
            alert = json_incref(json_object_get(rep, "alert"));
            decisions = json_incref(json_object_get(rep, "decisions"));
        }
        json_array_extend(events, json_object_get(rep, "events"));
        uint64_t next = (uint64_t)cli_int(rep, "next", 0);
        int end = !json_is_false(json_object_get(rep, "end"));
        json_decref(rep);
        if (end)
            break;
        if (next <= after) {
            cli_warn("internal: the hub's paging did not move past position %llu",
                     (unsigned long long)after);
            rc = CLI_FAIL;
            break;
        }
        after = next;
    }
    if (rc == CLI_OK && c->json) {
        json_t *j = json_pack("{s:O,s:O,s:O}", "alert", alert, "decisions", decisions, "events",
                              events);
        cli_print_json_line(j);
        json_decref(j);
    } else if (rc == CLI_OK) {
        print_head(c, alert);
        size_t total = json_array_size(json_object_get(alert, "evidence"));
        printf("\nEvidence (%zu event%s):\n", total, total == 1 ? "" : "s");
        size_t i;
        json_t *e;
        json_array_foreach(events, i, e) print_event(e);
        print_decisions(decisions);
    }
    json_decref(alert);
    json_decref(decisions);
    json_decref(events);
    return rc;
}
