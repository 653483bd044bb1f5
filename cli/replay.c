/* replay and rejects: an auditor's exports, paged with the hub's
 * `next`/`end` until everything that matches has been written. */
#define _GNU_SOURCE
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* A --since/--till value: RFC 3339, or a date standing for its midnight UTC.
 * Writes the RFC 3339 text into buf; -1 when it is neither. */
static int time_option(const char *arg, char *buf, size_t n, const char **why)
{
    int64_t ms;
    if (strlen(arg) == 10 && arg[4] == '-' && arg[7] == '-')
        snprintf(buf, n, "%sT00:00:00Z", arg);
    else
        snprintf(buf, n, "%s", arg);
    return cli_time_parse(buf, &ms, why);
}

/* "a, b,c" -> ["a","b","c"]; NULL when there is no name in it. */
static json_t *type_list(const char *arg)
{
    json_t *a = json_array();
    char *copy = strdup(arg), *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        while (*t == ' ')
            t++;
        size_t len = strlen(t);
        while (len && t[len - 1] == ' ')
            t[--len] = 0;
        if (len)
            json_array_append_new(a, json_string(t));
    }
    free(copy);
    if (json_array_size(a) == 0) {
        json_decref(a);
        return NULL;
    }
    return a;
}

/* One paged read: ask `op` with the filters in `base` (copied for each
 * page) from `after` on, at most max items in all (0: no limit), handing
 * each item of the reply's `list` to emit. */
static int page_through(struct cli *c, const json_t *base, const char *list, uint64_t after,
                        uint64_t max, uint64_t page,
                        void (*emit)(struct cli *, json_t *, void *), void *ctx)
{
    uint64_t done = 0;
    for (;;) {
        uint64_t ask = page;
        if (max && max - done < ask)
            ask = max - done;
        json_t *req = json_deep_copy(base);
        json_object_set_new(req, "after", json_integer((json_int_t)after));
        json_object_set_new(req, "max", json_integer((json_int_t)ask));
        json_t *rep;
        int rc = cli_call(c, req, c->timeout_ms, &rep);
        if (rc != CLI_OK)
            return rc;
        json_t *items = json_object_get(rep, list);
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) emit(c, it, ctx);
        done += json_array_size(items);
        uint64_t next = (uint64_t)cli_int(rep, "next", 0);
        int end = !json_is_false(json_object_get(rep, "end"));
        json_decref(rep);
        if (ferror(stdout)) {
            cli_warn("writing the output failed");
            return CLI_FAIL;
        }
        if (end || (max && done >= max))
            return CLI_OK;
        if (next <= after) {
            cli_warn("internal: the hub's paging did not move past %llu",
                     (unsigned long long)after);
            return CLI_FAIL;
        }
        after = next;
    }
}

static void emit_event(struct cli *c, json_t *ev, void *ctx)
{
    (void)c;
    (void)ctx;
    cli_print_json_line(ev);
}

int cli_cmd_replay(struct cli *c, int argc, char **argv)
{
    enum { OPT_AFTER = CLI_OPT__LAST, OPT_UNTIL, OPT_SINCE, OPT_TILL, OPT_TYPES, OPT_PERSON,
           OPT_MAX, OPT_PAGE };
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"after", required_argument, NULL, OPT_AFTER},
                                         {"until", required_argument, NULL, OPT_UNTIL},
                                         {"since", required_argument, NULL, OPT_SINCE},
                                         {"till", required_argument, NULL, OPT_TILL},
                                         {"types", required_argument, NULL, OPT_TYPES},
                                         {"type", required_argument, NULL, OPT_TYPES},
                                         {"person", required_argument, NULL, OPT_PERSON},
                                         {"max", required_argument, NULL, OPT_MAX},
                                         {"page", required_argument, NULL, OPT_PAGE},
                                         {0, 0, 0, 0}};
    json_t *base = json_pack("{s:s}", "op", "replay");
    uint64_t after = 0, max = 0, page = 1000, v;
    char tbuf[80];
    const char *why = "";
    int rc = CLI_OK, opt;
    cli_getopt_reset();
    while (rc == CLI_OK && (opt = cli_next_option(c, argc, argv, opts, &rc)) >= 0) {
        switch (opt) {
        case OPT_AFTER:
            if (cli_parse_u64(optarg, 0, INT64_MAX, &after))
                rc = cli_usage_error(c, "--after '%s': expected a sequence number", optarg);
            break;
        case OPT_UNTIL:
            if (cli_parse_u64(optarg, 0, INT64_MAX, &v))
                rc = cli_usage_error(c, "--until '%s': expected a sequence number", optarg);
            else
                json_object_set_new(base, "until", json_integer((json_int_t)v));
            break;
        case OPT_SINCE:
        case OPT_TILL:
            if (time_option(optarg, tbuf, sizeof tbuf, &why))
                rc = cli_usage_error(c, "--%s '%s' %s: expected a date-time such as "
                                        "2025-03-01T00:00:00Z or a date such as 2025-03-01",
                                     opt == OPT_SINCE ? "since" : "till", optarg, why);
            else
                json_object_set_new(base, opt == OPT_SINCE ? "since" : "till", json_string(tbuf));
            break;
        case OPT_TYPES: {
            json_t *types = type_list(optarg);
            if (!types)
                rc = cli_usage_error(c, "--types needs event types, e.g. asb.report,call");
            else
                json_object_set_new(base, "types", types);
            break;
        }
        case OPT_PERSON:
            json_object_set_new(base, "person", json_string(optarg));
            break;
        case OPT_MAX:
            if (cli_parse_u64(optarg, 1, INT64_MAX, &max))
                rc = cli_usage_error(c, "--max '%s': expected a number, 1 or more", optarg);
            break;
        case OPT_PAGE:
            if (cli_parse_u64(optarg, 1, 10000, &page))
                rc = cli_usage_error(c, "--page '%s': expected 1 to 10000", optarg);
            break;
        }
    }
    if (rc == CLI_OK && optind < argc)
        rc = cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
    if (rc == CLI_OK)
        rc = page_through(c, base, "events", after, max, page, emit_event, NULL);
    json_decref(base);
    return rc;
}

/* A kept rejection as the command shows it: the bytes decoded into the
 * event when they are MessagePack, else kept as base64. */
static json_t *reject_view(const json_t *r)
{
    json_t *o = json_pack("{s:O?,s:O?,s:O?,s:O?}", "id", json_object_get(r, "id"), "received_at",
                          json_object_get(r, "received_at"), "source",
                          json_object_get(r, "source"), "error", json_object_get(r, "error"));
    const char *b64 = cli_str(json_object_get(r, "bytes"), "base64");
    size_t blen = strlen(b64), len = 0;
    unsigned char *bin = malloc(blen + 1);
    json_t *event = NULL;
    if (bin && sodium_base642bin(bin, blen + 1, b64, blen, NULL, &len, NULL,
                                 sodium_base64_VARIANT_ORIGINAL) == 0) {
        char *text = NULL;
        if (csph_msgpack_to_json(bin, len, 0, &text) == 0)
            event = json_loads(text, JSON_DECODE_ANY, NULL);
        free(text);
    }
    free(bin);
    if (event)
        json_object_set_new(o, "event", event);
    else
        json_object_set_new(o, "bytes_base64", json_string(b64));
    return o;
}

static void emit_reject(struct cli *c, json_t *r, void *ctx)
{
    json_t *v = reject_view(r);
    ++*(uint64_t *)ctx;
    if (c->json) {
        cli_print_json_line(v);
        json_decref(v);
        return;
    }
    char when[32];
    cli_fmt_stamp(cli_str(v, "received_at"), 1, when, sizeof when);
    const json_t *err = json_object_get(v, "error");
    printf("reject %lld  %s  from %s\n", (long long)cli_int(v, "id", 0), when,
           cli_str(v, "source"));
    printf("  %s: %s", cli_str(err, "code"), cli_str(err, "message"));
    if (*cli_str(err, "field"))
        printf(" (field %s)", cli_str(err, "field"));
    printf("\n");
    json_t *ev = json_object_get(v, "event");
    if (ev) {
        printf("  event: ");
        cli_print_json_line(ev);
    } else {
        printf("  bytes (not MessagePack, base64): %s\n", cli_str(v, "bytes_base64"));
    }
    json_decref(v);
}

int cli_cmd_rejects(struct cli *c, int argc, char **argv)
{
    enum { OPT_AFTER = CLI_OPT__LAST, OPT_MAX, OPT_PAGE };
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"after", required_argument, NULL, OPT_AFTER},
                                         {"max", required_argument, NULL, OPT_MAX},
                                         {"page", required_argument, NULL, OPT_PAGE},
                                         {0, 0, 0, 0}};
    uint64_t after = 0, max = 0, page = 1000;
    int opt, optrc;
    cli_getopt_reset();
    while ((opt = cli_next_option(c, argc, argv, opts, &optrc)) >= 0) {
        if (opt == OPT_AFTER && cli_parse_u64(optarg, 0, INT64_MAX, &after))
            return cli_usage_error(c, "--after '%s': expected a rejection number", optarg);
        if (opt == OPT_MAX && cli_parse_u64(optarg, 1, INT64_MAX, &max))
            return cli_usage_error(c, "--max '%s': expected a number, 1 or more", optarg);
        if (opt == OPT_PAGE && cli_parse_u64(optarg, 1, 10000, &page))
            return cli_usage_error(c, "--page '%s': expected 1 to 10000", optarg);
    }
    if (optrc != CLI_OK)
        return optrc;
    if (optind < argc)
        return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
    if (sodium_init() < 0) {
        cli_warn("internal: libsodium could not start");
        return CLI_FAIL;
    }
    json_t *base = json_pack("{s:s}", "op", "rejects");
    uint64_t shown = 0;
    int rc = page_through(c, base, "rejects", after, max, page, emit_reject, &shown);
    json_decref(base);
    if (rc == CLI_OK && !c->json) {
        if (shown)
            printf("%llu rejection%s\n", (unsigned long long)shown, shown == 1 ? "" : "s");
        else if (after)
            printf("no rejections kept after %llu\n", (unsigned long long)after);
        else
            printf("no rejections kept\n");
    }
    return rc;
}
