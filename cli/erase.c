/* erase: a data protection officer's erasure or restriction of a person's
 * records on request (issue 17; hub/erase.h). It shows what would change
 * and acts only with --apply. */
#define _GNU_SOURCE
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

const char *cli_os_user(void)
{
    struct passwd *pw = getpwuid(geteuid());
    if (pw && pw->pw_name && pw->pw_name[0])
        return pw->pw_name;
    static char uid[32];
    snprintf(uid, sizeof uid, "uid-%lu", (unsigned long)geteuid());
    return uid;
}

int cli_cmd_erase(struct cli *c, int argc, char **argv)
{
    enum { O_PERSON = CLI_OPT__LAST, O_REASON, O_BASIS, O_APPLY, O_RESTRICT, O_LIFT };
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"person", required_argument, NULL, O_PERSON},
                                         {"reason", required_argument, NULL, O_REASON},
                                         {"basis", required_argument, NULL, O_BASIS},
                                         {"apply", no_argument, NULL, O_APPLY},
                                         {"restrict", no_argument, NULL, O_RESTRICT},
                                         {"lift", no_argument, NULL, O_LIFT},
                                         {NULL, 0, NULL, 0}};
    const char *person = NULL, *reason = NULL, *basis = NULL;
    int apply = 0, restrict_only = 0, lift = 0, opt, rc = CLI_OK;
    cli_getopt_reset();
    while ((opt = cli_next_option(c, argc, argv, opts, &rc)) != -1) {
        switch (opt) {
        case O_PERSON: person = optarg; break;
        case O_REASON: reason = optarg; break;
        case O_BASIS: basis = optarg; break;
        case O_APPLY: apply = 1; break;
        case O_RESTRICT: restrict_only = 1; break;
        case O_LIFT: lift = restrict_only = 1; break;
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
        return cli_usage_error(c, "--reason \"...\" is required: why the records are %s "
                                  "(kept in the log)",
                               lift ? "no longer restricted" : restrict_only ? "restricted"
                                                                             : "erased");
    json_t *req = json_pack("{s:s,s:s,s:s,s:b,s:b,s:s}", "op", "erase", "person", person,
                            "reason", reason, "apply", apply, "restrict", restrict_only,
                            "requested_by", cli_os_user());
    if (basis)
        json_object_set_new(req, "basis", json_string(basis));
    if (lift)
        json_object_set_new(req, "lift", json_true());
    json_t *rep;
    if ((rc = cli_call(c, req, c->timeout_ms, &rep)) != CLI_OK)
        return rc;
    if (c->json) {
        cli_print_reply_json(rep);
        json_decref(rep);
        return CLI_OK;
    }
    const json_t *events = json_object_get(rep, "events");
    size_t i;
    json_t *e;
    int64_t n = cli_int(rep, "count", 0);
    printf("%s %s: %lld event%s naming person %s\n", apply ? "Applied" : "Would apply",
           lift ? "lifting of the restriction" : restrict_only ? "restriction" : "erasure", (long long)n, n == 1 ? "" : "s", person);
    json_array_foreach(events, i, e) {
        const char *a = cli_str(e, "action");
        printf("  seq %-8lld %-20s %s\n", (long long)cli_int(e, "seq", 0), cli_str(e, "type"),
               !strcmp(a, "remove")     ? "removed: names nobody else (id, type, time, source kept)"
               : !strcmp(a, "redact")   ? "redacted: this person's fields out, others' kept"
               : !strcmp(a, "query")    ? "a read's record: the reference in its query replaced "
                                          "by the erasure's id"
               : !strcmp(a, "lift")     ? "readable again by every role that may read it"
                                        : "restricted: readable by dpo and auditor only");
    }
    int64_t nal = cli_int(rep, "alerts", 0);
    if (nal && restrict_only)
        printf("  %lld alert%s keyed on the person or naming them: %s in %s queue%s; every "
               "role but dpo and auditor %s key values naming them and %s reason as %s\n",
               (long long)nal, nal == 1 ? "" : "s", apply ? "kept" : "would stay",
               nal == 1 ? "its" : "their", nal == 1 ? "" : "s",
               lift ? (apply ? "now reads their" : "would read their")
                    : (apply ? "now reads the" : "would read the"),
               nal == 1 ? "its" : "their",
               lift ? "they are" : "\"[restricted by seq N]\"");
    else if (nal)
        printf("  %lld alert%s keyed on the person or naming them: %s in %s queue%s with %s "
               "decisions, key values naming them and reason %s \"[erased by seq N]\"\n",
               (long long)nal, nal == 1 ? "" : "s", apply ? "kept" : "would stay",
               nal == 1 ? "its" : "their", nal == 1 ? "" : "s", nal == 1 ? "its" : "their",
               apply ? "now read" : "would read");
    int64_t rej = cli_int(rep, "rejections", 0);
    if (rej)
        printf("  %lld kept rejection%s holding the reference: %s whole\n", (long long)rej,
               rej == 1 ? "" : "s", apply ? "removed" : "would be removed");
    const json_t *er = json_object_get(rep, "erasures");
    if (json_array_size(er)) {
        printf("Recorded in the log as dp.erasure seq");
        json_array_foreach(er, i, e) printf(" %lld", (long long)json_integer_value(e));
        printf("\n");
        if (!restrict_only)
            printf("The person's bytes stay in free pages and old journal files until the hub "
                   "is compacted:\nstop it and run csphubd --compact (README, \"Erasure\").\n");
    } else {
        printf("Nothing was changed: run again with --apply to do it.\n");
    }
    json_decref(rep);
    return CLI_OK;
}

int cli_cmd_hold(struct cli *c, int argc, char **argv)
{
    enum { O_PERSON = CLI_OPT__LAST, O_REASON, O_RELEASE };
    static const struct option opts[] = {CLI_COMMON_OPTIONS,
                                         {"person", required_argument, NULL, O_PERSON},
                                         {"reason", required_argument, NULL, O_REASON},
                                         {"release", no_argument, NULL, O_RELEASE},
                                         {NULL, 0, NULL, 0}};
    const char *person = NULL, *reason = NULL;
    int release = 0, opt, rc = CLI_OK;
    cli_getopt_reset();
    while ((opt = cli_next_option(c, argc, argv, opts, &rc)) != -1) {
        switch (opt) {
        case O_PERSON: person = optarg; break;
        case O_REASON: reason = optarg; break;
        case O_RELEASE: release = 1; break;
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
        return cli_usage_error(c, "--reason \"...\" is required: the review or case (kept in "
                                  "the log)");
    json_t *req = json_pack("{s:s,s:s,s:s,s:b,s:s}", "op", "hold", "person", person, "reason",
                            reason, "release", release, "requested_by", cli_os_user());
    json_t *rep;
    if ((rc = cli_call(c, req, c->timeout_ms, &rep)) != CLI_OK)
        return rc;
    if (c->json)
        cli_print_reply_json(rep);
    else
        printf("%s %s: recorded in the log as dp.hold seq %lld\n",
               release ? "Legal hold released for person" : "Legal hold put on person", person,
               (long long)cli_int(rep, "seq", 0));
    json_decref(rep);
    return CLI_OK;
}
