/* cli.h: what the csphub command's files share. One command a file
 * (publish.c, watch.c, queue.c, replay.c, status.c); main.c parses the
 * global options and dispatches; common.c talks to the hub (through the
 * client library only) and formats what people read. */
#ifndef CSPH_CLI_H
#define CSPH_CLI_H

#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "csphub.h"

/* Exit statuses, as documented in `csphub --help` and docs/csphub-command.md. */
enum cli_exit {
    CLI_OK = 0,
    CLI_FAIL = 1,    /* hub unreachable, no answer in time, internal or busy */
    CLI_USAGE = 2,   /* bad command line */
    CLI_REFUSED = 3, /* the hub refused something (its reason is on stderr) */
};

#define CLI_DEFAULT_HUB "tcp://127.0.0.1:7450"
#define CLI_DEFAULT_TIMEOUT_MS 10000

struct cli_command;

/* The run's settings and its one client. Plain data owned by main(). */
struct cli {
    const struct cli_command *command; /* the command being run */
    const char *hub;                   /* endpoint */
    const char *key_file;              /* CURVE: this client's NAME.key, or NULL */
    const char *server_key;            /* CURVE: the hub's .pub file or Z85 key, or NULL */
    int json;                          /* --json */
    int timeout_ms;                    /* --timeout */
    csph_client *client;               /* opened on first use */
    int64_t now_ms;                    /* wall clock (or $CSPHUB_NOW) for ages and deadlines */
    int tty;                           /* stdout is a terminal */
    int columns;                       /* its width (80 when not a terminal) */
};

typedef int (*cli_run_fn)(struct cli *c, int argc, char **argv);

struct cli_command {
    const char *name;
    cli_run_fn run;
    const char *summary; /* one line for `csphub --help` */
    const char *usage;   /* "csphub queue PANEL [--status S]" */
    const char *help;    /* the rest of `csphub COMMAND --help`: options, examples */
};

/* Set by SIGINT/SIGTERM while a command that handles them runs (watch). */
extern volatile sig_atomic_t cli_interrupted;

/* ---- command line ------------------------------------------------------ */

/* The options every command accepts (before or after the command name);
 * append to a command's getopt_long table. Their codes are above 255. */
enum { CLI_OPT_HUB = 256, CLI_OPT_JSON, CLI_OPT_TIMEOUT, CLI_OPT_KEY, CLI_OPT_SERVER_KEY,
       CLI_OPT__LAST };
#define CLI_COMMON_OPTIONS                                                     \
    {"hub", required_argument, NULL, CLI_OPT_HUB},                             \
        {"json", no_argument, NULL, CLI_OPT_JSON},                             \
        {"timeout", required_argument, NULL, CLI_OPT_TIMEOUT},                 \
        {"key", required_argument, NULL, CLI_OPT_KEY},                         \
        {"server-key", required_argument, NULL, CLI_OPT_SERVER_KEY},           \
        {"help", no_argument, NULL, 'h'}

/* Handle one getopt_long result that is a common option or an error.
 * Returns -1 when opt is not one of those (the command's own), CLI_OK when
 * handled, CLI_USAGE after printing a usage error, or CLI_HELP_SHOWN after
 * printing the command's help (the caller exits 0). */
#define CLI_HELP_SHOWN 100
int cli_common_option(struct cli *c, int opt, const char *arg, char **argv);
/* Print "csphub: <message>" and the command's usage on stderr; CLI_USAGE. */
int cli_usage_error(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the command's (or, with NULL, the command's own) full help on stdout. */
void cli_print_help(const struct cli_command *cmd);
/* Parse a decimal unsigned integer in [min, max]; -1 when it is not one. */
int cli_parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out);
/* getopt_long with the project's settings: permuting, errors reported by
 * cli_common_option. Call cli_getopt_reset before the first call. */
void cli_getopt_reset(void);
/* The next of the command's own options in argv (getopt_long over opts,
 * the common ones handled on the way), or -1 at the end: then *rc is CLI_OK,
 * or the status to exit with (a usage error, help shown). */
int cli_next_option(struct cli *c, int argc, char **argv, const struct option *opts, int *rc);
/* For commands with only the common options: parse them; positional
 * arguments are left from optind. CLI_OK or the status to exit with. */
int cli_common_only(struct cli *c, int argc, char **argv);

/* ---- talking to the hub ------------------------------------------------ */

/* Send req (a JSON object; the reference is taken) and wait up to timeout_ms
 * for the reply. CLI_OK with *reply (ok: true; the caller json_decrefs it),
 * or an exit status with the failure in why (one line, no "csphub: "):
 * CLI_FAIL for no answer, internal or busy; CLI_REFUSED for every other
 * error the hub sends ("<code>: <message> (field <f>)"). */
int cli_request(struct cli *c, json_t *req, int timeout_ms, json_t **reply, char *why,
                size_t whylen);
/* cli_request that prints a failure as "csphub: <why>" on stderr. */
int cli_call(struct cli *c, json_t *req, int timeout_ms, json_t **reply);
/* Open the client now (cli_request opens it when needed), with opts (NULL:
 * the defaults) and the CURVE keys of --key/--server-key. Prints why it
 * failed: CLI_USAGE for a bad key, CLI_FAIL otherwise. */
int cli_connect(struct cli *c, const struct csph_client_options *opts);
/* An alert that came with its evidence cut (a reply is at most 16 MiB:
 * PROTOCOL.md 5, evidence_next and evidence_total): fetch the rest with
 * the `evidence` op, append it, and drop the two fields, so that the alert
 * is whole as --json prints it. No-op for a whole alert. CLI_OK or the
 * status to exit with (the failure printed). */
int cli_alert_complete(struct cli *c, json_t *alert);
/* Print "csphub: ..." on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- output ------------------------------------------------------------ */

/* One JSON value as a compact line on stdout. */
void cli_print_json_line(const json_t *j);
/* The reply without `ok` and `req`, as one JSON line. */
void cli_print_reply_json(json_t *reply);
/* A string member, or "" (never NULL). An integer member, or def. */
const char *cli_str(const json_t *o, const char *key);
int64_t cli_int(const json_t *o, const char *key, int64_t def);

/* RFC 3339 ("2025-03-01T21:14:00Z", "...T21:14:00.123+01:00") to ms since
 * the epoch; -1 when it is not one. */
int cli_time_parse(const char *s, int64_t *ms, const char **why);
/* "now", "12m", "5h", "3d": how long ago `then` was. */
void cli_fmt_age(int64_t now_ms, int64_t then_ms, char *buf, size_t n);
/* Local date "2025-03-14", or with with_time "2025-03-14 09:05". */
void cli_fmt_local(int64_t ms, int with_time, char *buf, size_t n);
/* The RFC 3339 string s shown as a local date (and time); s itself when it
 * does not parse. */
void cli_fmt_stamp(const char *s, int with_time, char *buf, size_t n);
/* Print s on stdout, cut to at most width columns (UTF-8 aware) with
 * "..." when cut; width <= 0: all of it. */
void cli_print_cut(const char *s, int width);

/* ---- the commands ------------------------------------------------------ */

int cli_cmd_publish(struct cli *c, int argc, char **argv);
int cli_cmd_watch(struct cli *c, int argc, char **argv);
int cli_cmd_queue(struct cli *c, int argc, char **argv);
int cli_cmd_alert(struct cli *c, int argc, char **argv);
/* csphub alert show ID (show.c). */
int cli_alert_show(struct cli *c, uint64_t id);
int cli_cmd_replay(struct cli *c, int argc, char **argv);
int cli_cmd_rejects(struct cli *c, int argc, char **argv);
int cli_cmd_stats(struct cli *c, int argc, char **argv);
int cli_cmd_ping(struct cli *c, int argc, char **argv);
int cli_cmd_keygen(struct cli *c, int argc, char **argv);
int cli_cmd_report(struct cli *c, int argc, char **argv);
int cli_cmd_erase(struct cli *c, int argc, char **argv);
int cli_cmd_hold(struct cli *c, int argc, char **argv);
int cli_cmd_sar(struct cli *c, int argc, char **argv);
/* Who runs the command, for the log in security none (nobody is
 * authenticated there: the hub records this name, prefixed "os:"). */
const char *cli_os_user(void);
/* A panel's work after the alert (panel.c). */
int cli_cmd_case(struct cli *c, int argc, char **argv);
int cli_cmd_action(struct cli *c, int argc, char **argv);
int cli_cmd_meeting(struct cli *c, int argc, char **argv);

#endif
