/* common.c: the command line, the requests and the formatting every
 * command shares. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "timefmt.h"

volatile sig_atomic_t cli_interrupted;

/* ---- command line ------------------------------------------------------ */

void cli_getopt_reset(void)
{
    optind = 0; /* glibc: 0 re-initialises, so each command parses afresh */
    opterr = 0; /* errors are reported in our words by cli_common_option */
}

void cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("csphub: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_usage_error(struct cli *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("csphub: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: %s\n", c->command->usage);
    if (c->command->name[0])
        fprintf(stderr, "(see csphub %s --help)\n", c->command->name);
    else
        fprintf(stderr, "(see csphub --help)\n");
    return CLI_USAGE;
}

int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

int cli_common_option(struct cli *c, int opt, const char *arg, char **argv)
{
    switch (opt) {
    case CLI_OPT_HUB:
        if (strncmp(arg, "tcp://", 6) != 0 && strncmp(arg, "ipc://", 6) != 0)
            return cli_usage_error(c, "--hub '%s': expected tcp://HOST:PORT or ipc://PATH", arg);
        c->hub = arg;
        return CLI_OK;
    case CLI_OPT_JSON:
        c->json = 1;
        return CLI_OK;
    case CLI_OPT_KEY:
        c->key_file = arg;
        return CLI_OK;
    case CLI_OPT_SERVER_KEY:
        c->server_key = arg;
        return CLI_OK;
    case CLI_OPT_TIMEOUT: {
        int64_t ms;
        const char *why;
        if (csph_duration_parse(arg, 1, 3600000, &ms, &why))
            return cli_usage_error(c, "--timeout '%s' %s (1ms to 60m)", arg, why);
        c->timeout_ms = (int)ms;
        return CLI_OK;
    }
    case 'h':
        cli_print_help(c->command);
        return CLI_HELP_SHOWN;
    case '?':
        if (optopt && optopt < 256)
            return cli_usage_error(c, "unknown option '-%c'", optopt);
        return cli_usage_error(c, "unknown option '%s'", argv[optind - 1]);
    case ':':
        return cli_usage_error(c, "option '%s' needs a value", argv[optind - 1]);
    default:
        return -1;
    }
}

int cli_next_option(struct cli *c, int argc, char **argv, const struct option *opts, int *rc)
{
    int opt;
    *rc = CLI_OK;
    while ((opt = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        int r = cli_common_option(c, opt, optarg, argv);
        if (r < 0)
            return opt;
        if (r != CLI_OK) {
            *rc = r;
            return -1;
        }
    }
    return -1;
}

int cli_common_only(struct cli *c, int argc, char **argv)
{
    static const struct option opts[] = {CLI_COMMON_OPTIONS, {0, 0, 0, 0}};
    int rc;
    cli_getopt_reset();
    while (cli_next_option(c, argc, argv, opts, &rc) >= 0)
        ; /* every option here is a common one */
    return rc;
}

/* ---- talking to the hub ------------------------------------------------ */

/* The CURVE keys of --key and --server-key into o (buffers the caller
 * wipes). CLI_USAGE with why when they are missing or unreadable. */
static int curve_keys(struct cli *c, struct csph_client_options *o, char *spub, char *cpub,
                      char *csec, char *why, size_t whylen)
{
    char err[512], ssec[41] = "";
    if (!c->key_file && !c->server_key)
        return CLI_OK;
    if (!c->key_file || !c->server_key) {
        snprintf(why, whylen, "CURVE needs both --key (your NAME.key file) and --server-key (the "
                              "hub's .pub file or its 40-character public key)");
        return CLI_USAGE;
    }
    /* The hub's key: 40 characters of Z85, or a file holding it. */
    if (strlen(c->server_key) == 40 && access(c->server_key, F_OK) != 0) {
        memcpy(spub, c->server_key, 41);
    } else if (csph_key_file_read(c->server_key, spub, ssec, err, sizeof err) != 0) {
        snprintf(why, whylen, "--server-key: %s", err);
        return CLI_USAGE;
    }
    memset(ssec, 0, sizeof ssec);
    if (csph_key_file_read(c->key_file, cpub, csec, err, sizeof err) != 0) {
        snprintf(why, whylen, "--key: %s", err);
        return CLI_USAGE;
    }
    if (!csec[0]) {
        snprintf(why, whylen, "--key %s has no secret key: give the .key file, not the .pub",
                 c->key_file);
        return CLI_USAGE;
    }
    o->server_public_key = spub;
    o->public_key = cpub;
    o->secret_key = csec;
    return CLI_OK;
}

static int open_client(struct cli *c, const struct csph_client_options *opts, char *why,
                       size_t whylen)
{
    if (c->client)
        return CLI_OK;
    struct csph_client_options o = {0};
    if (opts)
        o = *opts;
    char spub[41] = "", cpub[41] = "", csec[41] = "";
    int rc = curve_keys(c, &o, spub, cpub, csec, why, whylen);
    if (rc == CLI_OK && csph_client_open(&c->client, c->hub, &o, why, whylen) != 0)
        rc = CLI_FAIL;
    memset(csec, 0, sizeof csec); /* the socket holds its copy */
    return rc;
}

int cli_connect(struct cli *c, const struct csph_client_options *opts)
{
    char why[512];
    int rc = open_client(c, opts, why, sizeof why);
    if (rc != CLI_OK)
        cli_warn("%s", why);
    return rc;
}

int cli_request(struct cli *c, json_t *req, int timeout_ms, json_t **reply, char *why,
                size_t whylen)
{
    *reply = NULL;
    why[0] = 0;
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    if (!text) {
        snprintf(why, whylen, "out of memory");
        return CLI_FAIL;
    }
    int rc = open_client(c, NULL, why, whylen);
    const char *answer = NULL;
    if (rc == CLI_OK && csph_client_request_json(c->client, text, timeout_ms, &answer) != 0 &&
        strstr(csph_client_error(c->client), "no hub is listening")) {
        snprintf(why, whylen, "%s: is csphubd running there? (--hub or CSPHUB_HUB names another "
                 "hub)", csph_client_error(c->client));
        rc = CLI_FAIL;
    } else if (rc == CLI_OK && answer == NULL) {
        snprintf(why, whylen,
                 "no answer from the hub at %s within %d ms: is csphubd running there? "
                 "(--hub or CSPHUB_HUB names another hub; --timeout waits longer%s)",
                 c->hub, timeout_ms,
                 c->key_file ? "; is your key listed in the hub's identity file?"
                             : "; a hub with security curve needs --key and --server-key");
        rc = CLI_FAIL;
    }
    free(text);
    if (rc != CLI_OK)
        return rc;
    json_error_t je;
    json_t *r = json_loads(answer, 0, &je);
    if (!r || !json_is_object(r)) {
        json_decref(r);
        snprintf(why, whylen, "internal: the hub's reply could not be read (%s)", je.text);
        return CLI_FAIL;
    }
    if (json_is_true(json_object_get(r, "ok"))) {
        *reply = r;
        return CLI_OK;
    }
    const json_t *err = json_object_get(r, "error");
    const char *code = cli_str(err, "code"), *field = cli_str(err, "field");
    int n = snprintf(why, whylen, "%s: %s", *code ? code : "error", cli_str(err, "message"));
    if (*field && n >= 0 && (size_t)n < whylen)
        snprintf(why + n, whylen - (size_t)n, " (field %s)", field);
    /* busy and internal: nothing was done and trying later may work; every
     * other code is the hub refusing what was asked. */
    rc = csph_code_retry(csph_code_parse(code, strlen(code))) ? CLI_FAIL : CLI_REFUSED;
    json_decref(r);
    return rc;
}

int cli_call(struct cli *c, json_t *req, int timeout_ms, json_t **reply)
{
    char why[1024];
    int rc = cli_request(c, req, timeout_ms, reply, why, sizeof why);
    if (rc != CLI_OK)
        cli_warn("%s", why);
    return rc;
}

int cli_alert_complete(struct cli *c, json_t *alert)
{
    json_t *ev = json_object_get(alert, "evidence");
    const json_t *nx = json_object_get(alert, "evidence_next");
    if (!nx || !json_is_array(ev))
        return CLI_OK;
    json_int_t id = json_integer_value(json_object_get(alert, "id"));
    json_int_t after = json_integer_value(nx);
    for (;;) {
        json_t *rep;
        int rc = cli_call(c,
                          json_pack("{s:s,s:I,s:I}", "op", "evidence", "id", id, "after", after),
                          c->timeout_ms, &rep);
        if (rc != CLI_OK)
            return rc;
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(rep, "evidence"), i, v) json_array_append(ev, v);
        json_int_t next = (json_int_t)cli_int(rep, "next", after);
        int end = !json_is_false(json_object_get(rep, "end"));
        json_decref(rep);
        if (end)
            break;
        if (next <= after) {
            cli_warn("internal: the hub's evidence of alert %lld did not move past %lld",
                     (long long)id, (long long)after);
            return CLI_FAIL;
        }
        after = next;
    }
    json_object_del(alert, "evidence_next");
    json_object_del(alert, "evidence_total");
    return CLI_OK;
}

/* ---- output ------------------------------------------------------------ */

void cli_print_json_line(const json_t *j)
{
    json_dumpf(j, stdout, JSON_COMPACT | JSON_ENCODE_ANY);
    fputc('\n', stdout);
}

void cli_print_reply_json(json_t *reply)
{
    json_object_del(reply, "ok");
    json_object_del(reply, "req");
    cli_print_json_line(reply);
}

const char *cli_str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

int64_t cli_int(const json_t *o, const char *key, int64_t def)
{
    const json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : def;
}

int cli_time_parse(const char *s, int64_t *ms, const char **why)
{
    return csph_time_parse(s, strlen(s), ms, why); /* the hub's own parser: what it accepts */
}

void cli_fmt_age(int64_t now_ms, int64_t then_ms, char *buf, size_t n)
{
    int64_t d = now_ms - then_ms;
    if (d < 60000)
        snprintf(buf, n, "now");
    else if (d < 3600000)
        snprintf(buf, n, "%lldm", (long long)(d / 60000));
    else if (d < 86400000)
        snprintf(buf, n, "%lldh", (long long)(d / 3600000));
    else
        snprintf(buf, n, "%lldd", (long long)(d / 86400000));
}

void cli_fmt_local(int64_t ms, int with_time, char *buf, size_t n)
{
    time_t t = (time_t)(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
    struct tm tm;
    localtime_r(&t, &tm);
    strftime(buf, n, with_time ? "%Y-%m-%d %H:%M" : "%Y-%m-%d", &tm);
}

void cli_fmt_stamp(const char *s, int with_time, char *buf, size_t n)
{
    int64_t ms;
    if (cli_time_parse(s, &ms, NULL) == 0)
        cli_fmt_local(ms, with_time, buf, n);
    else
        snprintf(buf, n, "%s", s);
}

void cli_print_cut(const char *s, int width)
{
    size_t cols = 0;
    for (const char *p = s; *p; p++)
        cols += ((unsigned char)*p & 0xc0) != 0x80;
    int cut = width > 0 && cols > (size_t)width;
    size_t keep = cut ? (size_t)(width > 3 ? width - 3 : 0) : cols, seen = 0;
    for (const char *p = s; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if ((ch & 0xc0) != 0x80 && seen++ == keep)
            break;
        /* One line per row: control characters (a newline in a summary)
         * become spaces. */
        fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, stdout);
    }
    if (cut)
        fputs(width >= 3 ? "..." : "", stdout);
}
