/* feed.h: what every adapter shares once it has turned a record of its
 * input into an event: the hub client with its window, the record of what
 * the hub has acknowledged (the state file that makes an import resumable),
 * the counts and reasons for the summary, progress on stderr, and Ctrl-C.
 *
 * An input is a sequence of records numbered from 1 (CSV rows after the
 * header, JSON lines). For each record the adapter calls feed_read, then
 * either stops there when feed_done says an earlier run already had it
 * acknowledged, or hands it on with exactly one of feed_publish, feed_skip,
 * feed_reject or feed_ignore. feed_finish waits for the hub's last answers,
 * writes or removes the state, prints the summary and returns the exit
 * status.
 *
 * A record is "acknowledged" once its outcome is final: the hub answered
 * accepted, duplicate or rejected, or the adapter skipped or rejected it
 * itself. Only acknowledged records are written to the state, so a resumed
 * run never sends an acknowledged record again and never loses one; a
 * record that was in flight when the adapter died is sent again and comes
 * back `duplicate` if the hub had already committed it.
 *
 * Not thread-safe; one feed per process (it owns the SIGINT and SIGTERM
 * handlers while open). */
#ifndef CSPH_FEED_H
#define CSPH_FEED_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses, the same for every adapter. */
enum feed_exit {
    FEED_EXIT_OK = 0,          /* every record accepted, duplicate or skipped by the mapping */
    FEED_EXIT_UNREACHABLE = 1, /* the hub did not answer (at the start or mid-run) */
    FEED_EXIT_USAGE = 2,       /* bad arguments, mapping, state file or unreadable input */
    FEED_EXIT_REJECTED = 3,    /* some records were rejected (by the hub or here) */
    FEED_EXIT_SIGINT = 130,
    FEED_EXIT_SIGTERM = 143,
};

struct feed_options {
    const char *program;    /* for messages: "csphub-csv" */
    const char *unit;       /* what a record is called: "row" or "line" */
    const char *endpoint;   /* the hub */
    const char *input;      /* the input file; NULL: stdin (no state, no percentage) */
    const char *state_path; /* NULL: no state file */
    /* What the events' ids depend on besides the record number (the id
     * scheme and prefix): recorded in the state, which refuses to resume
     * an import whose ids would now come out differently. */
    const char *ids;
    int window;     /* publish requests in flight */
    int batch;      /* events per publish request */
    int save_every; /* write the state after this many acknowledgements */
    int timeout_s;  /* give up when the hub answers nothing for this long */
    int progress;   /* 1: show progress; 0: never; -1: when stderr is a terminal */
    int json;       /* print the summary as one JSON object */
    int show;       /* how many rejected records the summary lists */
    int mapped;     /* records go through a mapping that may skip them */
    /* CURVE (a hub with security: curve), or NULL: this agency's key file
     * (NAME.key from csph_keygen) and the hub's public key (its .pub file,
     * or the 40 characters of Z85 themselves). */
    const char *key_file, *server_key;
};

struct feed;

/* Connect to the hub (it must answer ping within timeout_s), load the
 * state when there is one, install the signal handlers. Returns 0, or an
 * exit status (FEED_EXIT_UNREACHABLE, FEED_EXIT_USAGE) after printing why
 * on stderr. */
int feed_open(struct feed **out, const struct feed_options *o);

/* Record `rec` has been read; `bytes` is how far into the input the reader
 * is (for the percentage). */
void feed_read(struct feed *f, uint64_t rec, uint64_t bytes);
/* True when an earlier run already has record `rec` acknowledged: the
 * adapter must not send it again (and must not call anything else for it). */
int feed_done(const struct feed *f, uint64_t rec);
/* True once the reader should stop: Ctrl-C, or the hub stopped answering. */
int feed_stopping(const struct feed *f);

/* Send one event (MessagePack map, copied). `line` is where the record
 * starts in the input, for messages. Returns 0, or -1 when the reader
 * should stop (feed_stopping is then true). */
int feed_publish(struct feed *f, uint64_t rec, uint64_t line, const void *event, size_t len);
/* The same for an event built as a JSON object (packed as csph_json_to_msgpack
 * would: integers stay integers, reals are floats). */
int feed_publish_json(struct feed *f, uint64_t rec, uint64_t line, json_t *event);
/* The record was skipped by the mapping: counted under `reason`. */
void feed_skip(struct feed *f, uint64_t rec, const char *reason);
/* The record was rejected here, never sent: counted under (code, field,
 * message) like a rejection by the hub; `detail` (may be NULL) is shown
 * only with the record in the list of first rejections. */
void feed_reject(struct feed *f, uint64_t rec, uint64_t line, const char *code, const char *field,
                 const char *message, const char *detail);
/* The record carries nothing (a blank line): acknowledged, not counted. */
void feed_ignore(struct feed *f, uint64_t rec);

/* The reader reached the end of the input (complete = 1) or stopped early
 * (complete = 0; input_error: it could not read on, say why on stderr
 * first). Waits for the outstanding answers, writes the state (or removes
 * it once the whole input is acknowledged), prints the summary on stdout,
 * closes and frees *f. Returns the exit status. */
int feed_finish(struct feed **f, int complete, int input_error);

/* The default state file for an input: "<basename>.state" in the current
 * directory (malloc'd). */
char *feed_default_state(const char *input);

/* The command-line options every feed takes. A program lists
 * FEED_COMMON_LONG_OPTIONS in its getopt_long table (its own long options
 * start at FEED_OPT__NEXT), passes FEED_COMMON_SHORT_OPTIONS plus its own
 * short ones, and offers each result to feed_common_option first. */
enum {
    FEED_OPT_NO_STATE = 256,
    FEED_OPT_SAVE,
    FEED_OPT_TIMEOUT,
    FEED_OPT_NO_PROGRESS,
    FEED_OPT_JSON,
    FEED_OPT_SHOW,
    FEED_OPT__NEXT
};
#define FEED_COMMON_SHORT_OPTIONS "H:s:w:b:p"
#define FEED_COMMON_LONG_OPTIONS                                               \
    {"hub", required_argument, 0, 'H'}, {"state", required_argument, 0, 's'},  \
        {"no-state", no_argument, 0, FEED_OPT_NO_STATE},                       \
        {"window", required_argument, 0, 'w'},                                 \
        {"batch", required_argument, 0, 'b'},                                  \
        {"save-every", required_argument, 0, FEED_OPT_SAVE},                   \
        {"timeout", required_argument, 0, FEED_OPT_TIMEOUT},                   \
        {"progress", no_argument, 0, 'p'},                                     \
        {"no-progress", no_argument, 0, FEED_OPT_NO_PROGRESS},                 \
        {"json", no_argument, 0, FEED_OPT_JSON},                               \
        {"show", required_argument, 0, FEED_OPT_SHOW},                         \
        {"key", required_argument, 0, 'K'}, {"server-key", required_argument, 0, 'S'}

/* Where the state options go (the state file is the program's to open). */
struct feed_state_opts {
    const char *state;
    int no_state;
};

/* Apply getopt result c (argument arg) when it is a common option: 1 applied,
 * 0 not a common option, -1 a bad value (the message is printed, prefixed
 * with program). */
int feed_common_option(const char *program, int c, const char *arg, struct feed_options *fo,
                       struct feed_state_opts *st);
/* A whole number from lo to hi, or -1 with a message naming what. */
int feed_parse_int(const char *program, const char *s, const char *what, int lo, int hi, int *out);

/* The environment variable name's value when set and not empty, else def:
 * the adapters read CSPHUB_HUB, CSPHUB_KEY and CSPHUB_SERVER_KEY as the
 * csphub command does (an option given on the command line wins). */
const char *feed_env(const char *name, const char *def);

#endif
