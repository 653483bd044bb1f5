/* watch: a held fetch loop over a panel's queue. Alerts are printed, then
 * acknowledged (cumulatively, to the last one printed), with SIGINT and
 * SIGTERM held off between the two so that Ctrl-C never separates an alert
 * shown from its ack. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* How long the hub holds one fetch when nothing is new. The reply comes as
 * soon as an alert arrives, so this bounds only how long Ctrl-C may take:
 * the client library does not return from a request on a signal. */
#define WATCH_WAIT_MS 1000
#define WATCH_PAGE 100

static void on_signal(int sig)
{
    (void)sig;
    cli_interrupted = 1;
}

/* One alert as a line a coordinator reads. */
static void print_alert(struct cli *c, const json_t *a)
{
    if (c->json) {
        cli_print_json_line(a);
        return;
    }
    char raised[32], due[32];
    cli_fmt_stamp(cli_str(a, "raised_at"), 1, raised, sizeof raised);
    const char *due_at = cli_str(a, "due_at");
    if (*due_at) {
        char d[24];
        cli_fmt_stamp(due_at, 0, d, sizeof d);
        snprintf(due, sizeof due, "due %s", d);
    } else {
        snprintf(due, sizeof due, "no deadline");
    }
    printf("%s  alert %lld  %s  %s  %s\n", raised, (long long)cli_int(a, "id", 0),
           cli_str(a, "priority"), due, cli_str(a, "reason"));
}

/* --from now: move the consumer past the panel's newest alert, so that only
 * alerts raised from here on are printed (the queue read page by page to
 * its end; an alert raised meanwhile comes after it, so none is lost). */
static int skip_to_now(struct cli *c, const char *panel, const char *consumer)
{
    json_int_t last = 0, after = 0;
    for (;;) {
        json_t *rep, *req = json_pack("{s:s,s:s,s:i}", "op", "alerts", "panel", panel, "max", 1000);
        if (after)
            json_object_set_new(req, "after", json_integer(after));
        int rc = cli_call(c, req, c->timeout_ms, &rep);
        if (rc != CLI_OK)
            return rc;
        const json_t *list = json_object_get(rep, "alerts"), *a;
        size_t i;
        json_array_foreach(list, i, a) {
            json_int_t id = json_integer_value(json_object_get(a, "id"));
            if (id > last)
                last = id;
        }
        int end = json_is_true(json_object_get(rep, "end"));
        after = json_integer_value(json_object_get(rep, "next"));
        json_decref(rep);
        if (end || !json_array_size(list))
            break;
    }
    if (!last)
        return CLI_OK; /* an empty queue: everything from now on is new anyway */
    json_t *acked;
    int rc = cli_call(c, json_pack("{s:s,s:s,s:s,s:I}", "op", "ack", "panel", panel, "consumer",
                                   consumer, "upto", last),
                      c->timeout_ms, &acked);
    if (rc == CLI_OK)
        json_decref(acked);
    return rc;
}

int cli_cmd_watch(struct cli *c, int argc, char **argv)
{
    enum { OPT_CONSUMER = CLI_OPT__LAST, OPT_ONCE, OPT_COUNT, OPT_FROM };
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"consumer", required_argument, NULL, OPT_CONSUMER},
                                         {"from", required_argument, NULL, OPT_FROM},
                                         {"once", no_argument, NULL, OPT_ONCE},
                                         {"count", required_argument, NULL, OPT_COUNT},
                                         {0, 0, 0, 0}};
    const char *consumer = NULL;
    int once = 0, from_now = 0, rc = CLI_OK;
    uint64_t count = 0;
    int opt, optrc;
    cli_getopt_reset();
    while ((opt = cli_next_option(c, argc, argv, opts, &optrc)) >= 0) {
        if (opt == OPT_CONSUMER)
            consumer = optarg;
        else if (opt == OPT_FROM && strcmp(optarg, "now") == 0)
            from_now = 1;
        else if (opt == OPT_FROM)
            return cli_usage_error(c, "--from '%s': expected now (the alerts raised from now "
                                      "on; without it, from where this consumer stopped)",
                                   optarg);
        else if (opt == OPT_ONCE)
            once = 1;
        else if (cli_parse_u64(optarg, 1, UINT32_MAX, &count))
            return cli_usage_error(c, "--count '%s': expected a number of alerts, 1 or more",
                                   optarg);
    }
    if (optrc != CLI_OK)
        return optrc;
    if (argc - optind != 1)
        return cli_usage_error(c, "watch takes one panel name");
    const char *panel = argv[optind];
    if (!consumer)
        return cli_usage_error(c, "watch needs --consumer NAME: who is reading, so that the "
                                  "next run continues where this one stops");
    if (!*consumer || strlen(consumer) > 64)
        return cli_usage_error(c, "--consumer must be 1 to 64 characters");

    if (from_now && (rc = skip_to_now(c, panel, consumer)) != CLI_OK)
        return rc;

    struct sigaction sa = {0};
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed pipe is a write error: nothing printed, nothing acked */
    sigset_t hold, saved;
    sigemptyset(&hold);
    sigaddset(&hold, SIGINT);
    sigaddset(&hold, SIGTERM);

    uint64_t printed = 0;
    int answered = 0, lost = 0;
    while (!cli_interrupted) {
        uint64_t max = WATCH_PAGE;
        if (count && count - printed < max)
            max = count - printed;
        json_t *req = json_pack("{s:s,s:s,s:s,s:I}", "op", "fetch", "panel", panel, "consumer",
                                consumer, "max", (json_int_t)max);
        if (!once)
            json_object_set_new(req, "wait_ms", json_integer(WATCH_WAIT_MS));
        json_t *rep;
        char why[1024];
        rc = cli_request(c, req, (once ? 0 : WATCH_WAIT_MS) + c->timeout_ms, &rep, why,
                         sizeof why);
        if (rc == CLI_FAIL && answered && !once) {
            /* The hub went away after answering: say so once, keep trying
             * (the socket reconnects by itself). */
            if (!lost)
                cli_warn("%s; still trying", why);
            lost = 1;
            rc = CLI_OK;
            continue;
        }
        if (rc != CLI_OK) {
            cli_warn("%s", why);
            break;
        }
        if (lost)
            cli_warn("the hub at %s answers again", c->hub);
        answered = 1;
        lost = 0;
        json_t *alerts = json_object_get(rep, "alerts");
        size_t n = json_array_size(alerts);
        if (n == 0) {
            json_decref(rep);
            if (once)
                break;
            continue;
        }
        size_t i;
        json_t *a;
        /* --json prints each alert whole: one whose evidence was cut to fit
         * the reply gets the rest first (nothing is printed or acked when
         * that fails; the alerts come again). */
        json_array_foreach(alerts, i, a) {
            if (c->json && (rc = cli_alert_complete(c, a)) != CLI_OK)
                break;
        }
        if (rc != CLI_OK) {
            json_decref(rep);
            break;
        }
        sigprocmask(SIG_BLOCK, &hold, &saved);
        json_array_foreach(alerts, i, a) print_alert(c, a);
        int64_t upto = cli_int(json_array_get(alerts, n - 1), "id", 0);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            cli_warn("writing the alerts failed; they are not acknowledged and will come again");
            rc = CLI_FAIL;
        } else {
            json_t *acked;
            rc = cli_call(c,
                          json_pack("{s:s,s:s,s:s,s:I}", "op", "ack", "panel", panel, "consumer",
                                    consumer, "upto", (json_int_t)upto),
                          c->timeout_ms, &acked);
            if (rc == CLI_OK)
                json_decref(acked);
        }
        sigprocmask(SIG_SETMASK, &saved, NULL);
        json_decref(rep);
        if (rc != CLI_OK)
            break;
        printed += n;
        if (count && printed >= count)
            break;
    }
    if (rc == CLI_OK && !c->json && c->tty && printed == 0 && once)
        printf("no new alerts on %s for %s\n", panel, consumer);
    return rc;
}
