/* publish: JSON lines in, events to the hub with a window of requests in
 * flight, a summary out. Each event's line number is its token, so every
 * rejection names its line. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define PUBLISH_WINDOW 100 /* events in flight */
#define KEEP_REJECTIONS 10 /* the first (by line) shown in the summary */

struct rejection {
    uint64_t line;
    char *code, *field, *message;
};

struct tally {
    uint64_t read, accepted, duplicate, rejected;
    json_t *by_code; /* code -> count */
    struct rejection first[KEEP_REJECTIONS];
    size_t nfirst;
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Count a rejection and keep it when it is among the first by line
 * (results arrive in any order). */
static void add_rejection(struct tally *t, uint64_t line, const char *code, const char *field,
                          const char *message)
{
    t->rejected++;
    json_int_t n = json_integer_value(json_object_get(t->by_code, code));
    json_object_set_new(t->by_code, code, json_integer(n + 1));
    if (t->nfirst == KEEP_REJECTIONS) {
        struct rejection *last = &t->first[KEEP_REJECTIONS - 1];
        if (line > last->line)
            return;
        free(last->code);
        free(last->field);
        free(last->message);
        t->nfirst--;
    }
    size_t pos = t->nfirst;
    for (; pos > 0 && t->first[pos - 1].line > line; pos--)
        t->first[pos] = t->first[pos - 1];
    t->first[pos] = (struct rejection){line, strdup(code), strdup(field ? field : ""),
                                       strdup(message ? message : "")};
    t->nfirst++;
}

static void on_result(void *ctx, const struct csph_result *r)
{
    struct tally *t = ctx;
    if (strcmp(r->status, "accepted") == 0)
        t->accepted++;
    else if (strcmp(r->status, "duplicate") == 0)
        t->duplicate++;
    else
        add_rejection(t, r->token, r->code ? r->code : "rejected", r->field, r->message);
}

/* Handle replies until at most `limit` events are unanswered. Gives up
 * (CLI_FAIL) when the hub answers nothing for the time-out. */
static int wait_pending(struct cli *c, size_t limit)
{
    size_t before = csph_client_pending(c->client);
    int64_t progress = mono_ms();
    while (csph_client_pending(c->client) > limit) {
        if (csph_client_poll(c->client, 100) != 0) {
            cli_warn("%s", csph_client_error(c->client));
            return CLI_FAIL;
        }
        size_t now = csph_client_pending(c->client);
        if (now < before) {
            before = now;
            progress = mono_ms();
        } else if (mono_ms() - progress >= c->timeout_ms) {
            return CLI_FAIL;
        }
    }
    return CLI_OK;
}

static int flush_all(struct cli *c)
{
    while (csph_client_pending(c->client) > 0) {
        size_t before = csph_client_pending(c->client);
        if (csph_client_flush(c->client, c->timeout_ms) == 0)
            break;
        if (csph_client_pending(c->client) >= before)
            return CLI_FAIL;
    }
    return CLI_OK;
}

static void print_summary(struct cli *c, const char *name, const struct tally *t)
{
    if (c->json) {
        json_t *rej = json_array();
        for (size_t i = 0; i < t->nfirst; i++)
            json_array_append_new(rej, json_pack("{s:I,s:s,s:s,s:s}", "line",
                                                 (json_int_t)t->first[i].line, "code",
                                                 t->first[i].code, "field", t->first[i].field,
                                                 "message", t->first[i].message));
        json_t *j = json_pack("{s:s,s:I,s:I,s:I,s:I,s:O,s:o}", "file", name, "read",
                              (json_int_t)t->read, "accepted", (json_int_t)t->accepted,
                              "duplicate", (json_int_t)t->duplicate, "rejected",
                              (json_int_t)t->rejected, "rejected_by_code", t->by_code,
                              "rejections", rej);
        cli_print_json_line(j);
        json_decref(j);
        return;
    }
    printf("%s: %llu event%s read\n", name, (unsigned long long)t->read, t->read == 1 ? "" : "s");
    printf("  accepted   %llu\n", (unsigned long long)t->accepted);
    printf("  duplicate  %llu\n", (unsigned long long)t->duplicate);
    printf("  rejected   %llu", (unsigned long long)t->rejected);
    if (t->rejected) {
        const char *code;
        json_t *n;
        int first = 1;
        printf("  (");
        json_object_foreach(t->by_code, code, n) {
            printf("%s%s %lld", first ? "" : ", ", code, (long long)json_integer_value(n));
            first = 0;
        }
        printf(")");
    }
    printf("\n");
    if (t->nfirst) {
        printf("%s:\n", t->rejected > t->nfirst ? "first rejections" : "rejections");
        for (size_t i = 0; i < t->nfirst; i++) {
            const struct rejection *r = &t->first[i];
            printf("  line %llu: %s: %s", (unsigned long long)r->line, r->code, r->message);
            if (*r->field)
                printf(" (field %s)", r->field);
            printf("\n");
        }
    }
}

/* One line with its end-of-line characters removed; 1 when it is blank. */
static int trim_line(char *line, ssize_t *len)
{
    while (*len > 0 && (line[*len - 1] == '\n' || line[*len - 1] == '\r'))
        line[--*len] = 0;
    for (ssize_t i = 0; i < *len; i++)
        if (line[i] != ' ' && line[i] != '\t')
            return 0;
    return 1;
}

int cli_cmd_publish(struct cli *c, int argc, char **argv)
{
    int optrc = cli_common_only(c, argc, argv);
    if (optrc != CLI_OK)
        return optrc;
    if (argc - optind > 1)
        return cli_usage_error(c, "publish takes one file (or - for standard input)");
    const char *path = optind < argc ? argv[optind] : "-";
    int from_stdin = strcmp(path, "-") == 0;
    FILE *in = from_stdin ? stdin : fopen(path, "r");
    if (!in)
        return cli_usage_error(c, "cannot open '%s': %s", path, strerror(errno));

    struct tally t = {.by_code = json_object()};
    char *line = NULL;
    size_t cap = 0;
    int rc;
    /* The hub must answer before anything is read: an unreachable hub is a
     * clear failure, not a wait on a full window. */
    json_t *pong = NULL;
    struct csph_client_options o = {.window = PUBLISH_WINDOW, .batch = 1};
    if ((rc = cli_connect(c, &o)) != CLI_OK ||
        (rc = cli_call(c, json_pack("{s:s}", "op", "ping"), c->timeout_ms, &pong)) != CLI_OK)
        goto done;
    json_decref(pong);
    csph_client_on_result(c->client, on_result, &t);
    if (from_stdin && isatty(STDIN_FILENO))
        fprintf(stderr, "csphub: reading events from the terminal, one JSON object a line; "
                        "end with Ctrl-D\n");

    uint64_t lineno = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, in)) >= 0) {
        lineno++;
        char *p = line;
        if (lineno == 1 && len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0) {
            p += 3; /* a byte-order mark from a spreadsheet export */
            len -= 3;
        }
        if (trim_line(p, &len))
            continue;
        t.read++;
        /* Keep below the window so publishing never blocks without a
         * time-out. */
        if ((rc = wait_pending(c, PUBLISH_WINDOW - 1)) != CLI_OK)
            goto lost;
        if (csph_client_publish_json(c->client, p, (size_t)len, lineno) != 0)
            add_rejection(&t, lineno, "bad_json", "", csph_client_error(c->client));
    }
    if (ferror(in)) {
        cli_warn("reading '%s': %s", path, strerror(errno));
        rc = CLI_FAIL;
        goto done;
    }
    if ((rc = flush_all(c)) != CLI_OK)
        goto lost;
    print_summary(c, from_stdin ? "-" : path, &t);
    if (t.rejected) {
        const struct rejection *r = &t.first[0];
        fprintf(stderr, "csphub: %llu of %llu events rejected; the first, line %llu: %s: %s",
                (unsigned long long)t.rejected, (unsigned long long)t.read,
                (unsigned long long)r->line, r->code, r->message);
        if (*r->field)
            fprintf(stderr, " (field %s)", r->field);
        fputc('\n', stderr);
        rc = CLI_REFUSED;
    }
    goto done;
lost:
    cli_warn("the hub at %s stopped answering: %zu of %llu events read have no answer after "
             "%d ms; publishing the same input again is safe (the hub recognises duplicates)",
             c->hub, csph_client_pending(c->client), (unsigned long long)t.read, c->timeout_ms);
    rc = CLI_FAIL;
done:
    if (c->client)
        csph_client_on_result(c->client, NULL, NULL);
    free(line);
    if (!from_stdin)
        fclose(in);
    for (size_t i = 0; i < t.nfirst; i++) {
        free(t.first[i].code);
        free(t.first[i].field);
        free(t.first[i].message);
    }
    json_decref(t.by_code);
    return rc;
}
