/* stats and ping: what IT staff check first. */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

/* Commands with no arguments of their own. */
static int no_arguments(struct cli *c, int argc, char **argv)
{
    int rc = cli_common_only(c, argc, argv);
    if (rc != CLI_OK)
        return rc;
    if (optind < argc)
        return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
    return CLI_OK;
}

static void print_value(const char *indent, const char *key, const json_t *v)
{
    printf("%s%-24s ", indent, key);
    if (json_is_integer(v))
        printf("%lld\n", (long long)json_integer_value(v));
    else if (json_is_string(v))
        printf("%s\n", json_string_value(v));
    else
        cli_print_json_line(v);
}

/* The section title for a counter that is a map. */
static const char *section_title(const char *key)
{
    if (strcmp(key, "rejected") == 0)
        return "rejected, by error code";
    if (strcmp(key, "alerts") == 0)
        return "alerts, by panel";
    return key;
}

int cli_cmd_stats(struct cli *c, int argc, char **argv)
{
    int rc = no_arguments(c, argc, argv);
    if (rc != CLI_OK)
        return rc;
    json_t *rep;
    if ((rc = cli_call(c, json_pack("{s:s}", "op", "stats"), c->timeout_ms, &rep)) != CLI_OK)
        return rc;
    if (c->json) {
        cli_print_reply_json(rep);
        json_decref(rep);
        return CLI_OK;
    }
    const json_t *counters = json_object_get(rep, "counters");
    const char *key;
    json_t *v;
    printf("hub %s\n", c->hub);
    /* Plain counters first, then each map as its own section, so that a
     * counter the hub adds later shows up without a change here. */
    json_object_foreach((json_t *)counters, key, v) {
        if (!json_is_object(v))
            print_value("  ", key, v);
    }
    json_object_foreach((json_t *)counters, key, v) {
        if (!json_is_object(v))
            continue;
        printf("%s\n", section_title(key));
        if (json_object_size(v) == 0)
            printf("  (none)\n");
        const char *k2;
        json_t *v2;
        json_object_foreach(v, k2, v2) print_value("  ", k2, v2);
    }
    json_decref(rep);
    return CLI_OK;
}

int cli_cmd_ping(struct cli *c, int argc, char **argv)
{
    int rc = no_arguments(c, argc, argv);
    if (rc != CLI_OK)
        return rc;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    json_t *rep;
    if ((rc = cli_call(c, json_pack("{s:s}", "op", "ping"), c->timeout_ms, &rep)) != CLI_OK)
        return rc;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    if (c->json) {
        cli_print_reply_json(rep);
    } else {
        printf("hub %s answers: %s, last seq %lld (%ld ms)\n", c->hub, cli_str(rep, "version"),
               (long long)cli_int(rep, "last_seq", 0), ms);
    }
    json_decref(rep);
    return CLI_OK;
}
