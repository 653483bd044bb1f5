/* sar: a data protection officer's subject access export (issue 17,
 * point 5; hub/sar.h for what the hub answers, common/sarpack.h for the
 * review pack and the disclosure copy made of it). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "sarpack.h"

/* Write a new file (never over an existing one) mode 0600. */
static int write_new(const char *dir, const char *name, const json_t *pack, int html)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        cli_warn("cannot create %s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (an earlier export is there: choose another --out)" : "");
        return -1;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        cli_warn("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    if (html)
        csph_sar_html(f, pack);
    else
        json_dumpf(pack, f, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (!html)
        fputc('\n', f);
    int bad = ferror(f);
    if (fclose(f) || bad) {
        cli_warn("cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int cli_cmd_sar(struct cli *c, int argc, char **argv)
{
    enum { O_PERSON = CLI_OPT__LAST, O_REASON, O_OUT };
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"person", required_argument, NULL, O_PERSON},
                                         {"reason", required_argument, NULL, O_REASON},
                                         {"out", required_argument, NULL, O_OUT},
                                         {NULL, 0, NULL, 0}};
    const char *person = NULL, *reason = NULL, *out = NULL;
    int opt, rc = CLI_OK;
    cli_getopt_reset();
    while ((opt = cli_next_option(c, argc, argv, opts, &rc)) != -1) {
        switch (opt) {
        case O_PERSON: person = optarg; break;
        case O_REASON: reason = optarg; break;
        case O_OUT: out = optarg; break;
        default: return cli_usage_error(c, "unknown option");
        }
    }
    if (rc != CLI_OK)
        return rc;
    if (optind < argc)
        return cli_usage_error(c, "unexpected argument '%s'", argv[optind]);
    if (!person)
        return cli_usage_error(c, "--person P is required (the person reference)");
    if (!reason || !reason[0])
        return cli_usage_error(c, "--reason \"...\" is required: the request's reference "
                                  "(kept in the log)");
    if (out && !out[0])
        return cli_usage_error(c, "--out DIR must name a directory");
    /* The first call records the request; the rest page on without. */
    json_t *merged = NULL, *rep = NULL;
    json_int_t request = 0, ev = 0, al = 0, rd = 0;
    for (;;) {
        json_t *req = request
                          ? json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "op", "sar", "person",
                                      person, "requested_by", cli_os_user(), "request", request,
                                      "events_after", ev, "alerts_after", al, "reads_after", rd)
                          : json_pack("{s:s,s:s,s:s,s:s}", "op", "sar", "person", person,
                                      "reason", reason, "requested_by", cli_os_user());
        if ((rc = cli_call(c, req, c->timeout_ms, &rep)) != CLI_OK) {
            json_decref(merged);
            return rc;
        }
        if (csph_sar_merge(&merged, rep)) {
            cli_warn("the hub's sar reply is not one: %s", "no request seq");
            json_decref(rep);
            json_decref(merged);
            return CLI_FAIL;
        }
        request = json_integer_value(json_object_get(rep, "request"));
        ev = json_integer_value(json_object_get(rep, "events_next"));
        al = json_integer_value(json_object_get(rep, "alerts_next"));
        rd = json_integer_value(json_object_get(rep, "reads_next"));
        int end = json_is_true(json_object_get(rep, "end"));
        json_decref(rep);
        if (end)
            break;
    }
    char dir[4096], when[40];
    if (out)
        snprintf(dir, sizeof dir, "%s", out);
    else
        snprintf(dir, sizeof dir, "sar-%lld", (long long)request);
    time_t now = (time_t)(c->now_ms / 1000);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (mkdir(dir, 0700) && errno != EEXIST) {
        cli_warn("cannot create directory %s: %s", dir, strerror(errno));
        json_decref(merged);
        return CLI_FAIL;
    }
    json_t *review = csph_sar_review(merged, when), *disc = csph_sar_disclosure(merged, when);
    rc = write_new(dir, "review.json", review, 0) || write_new(dir, "review.html", review, 1) ||
                 write_new(dir, "disclosure.json", disc, 0) ||
                 write_new(dir, "disclosure.html", disc, 1)
             ? CLI_FAIL
             : CLI_OK;
    if (rc == CLI_OK && c->json) {
        json_t *line = json_pack("{s:I,s:s,s:O,s:I,s:I,s:I}", "request", request, "dir",
                                      dir, "counts", json_object_get(merged, "counts"),
                                      "disclosed_events",
                                      (json_int_t)json_array_size(json_object_get(disc, "events")),
                                      "disclosed_alerts",
                                      (json_int_t)json_array_size(json_object_get(disc, "alerts")),
                                      "disclosed_reads",
                                      (json_int_t)json_array_size(json_object_get(disc, "reads")));
        cli_print_json_line(line);
        json_decref(line);
    } else if (rc == CLI_OK) {
        const json_t *n = json_object_get(merged, "counts");
        printf("Subject access export of person %s, recorded in the log as dp.sar seq %lld:\n"
               "  held: %lld events, %lld alerts, %lld reads that returned them\n"
               "  disclosure: %zu events, %zu alerts, %zu reads (the rest proposed for "
               "withholding: see the review pack)\n"
               "Written to %s/: review.json review.html (for the DPO: names staff and third "
               "parties)\n  disclosure.json disclosure.html (for the person, once reviewed)\n",
               person, (long long)request, (long long)cli_int(n, "events", 0),
               (long long)cli_int(n, "alerts", 0), (long long)cli_int(n, "reads", 0),
               json_array_size(json_object_get(disc, "events")),
               json_array_size(json_object_get(disc, "alerts")),
               json_array_size(json_object_get(disc, "reads")), dir);
    }
    json_decref(review);
    json_decref(disc);
    json_decref(merged);
    return rc;
}
