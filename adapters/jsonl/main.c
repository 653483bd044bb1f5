/* csphub-jsonl: publish events written one JSON object per line, from a
 * file or stdin: the simplest feed an agency can write. Each line is a
 * whole CSPH/1 event (id, type, occurred_at, source and the type's fields,
 * PROTOCOL.md section 3); common/feed.c does the window, the resume state,
 * the summary and the exit status. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/feed.h"

#define PROGRAM "csphub-jsonl"

static const char usage[] =
    "usage: csphub-jsonl [options] [FILE | -]\n"
    "\n"
    "Publish events to a csphub hub, one JSON object per line, from FILE or from\n"
    "stdin (no FILE, or -). Each line is a whole event: id, type, occurred_at,\n"
    "source and the fields of its type, e.g.\n"
    "  {\"id\":\"asb-1\",\"type\":\"asb.report\",\"source\":\"council-asb\",\n"
    "   \"occurred_at\":\"2025-03-01T21:14:00Z\",\"location\":{\"lsoa\":\"E01000916\"},\n"
    "   \"category\":\"nuisance\"}\n"
    "Blank lines are ignored. See adapters/README.md.\n"
    "\n"
    "options:\n"
    "  --hub ENDPOINT      the hub [$CSPHUB_HUB, else tcp://127.0.0.1:7450]\n"
    "  --state FILE        (FILE input only) where to record which lines the hub\n"
    "                      acknowledged, so that an interrupted import resumes\n"
    "                      [<basename of FILE>.state in the current directory];\n"
    "                      removed once the whole file is acknowledged\n"
    "  --no-state          keep no state\n"
    "  --window N          publish requests in flight [50]\n"
    "  --batch N           events per publish request, 1-1000 [100; 1 for stdin,\n"
    "                      so that each line goes out as soon as it is read]\n"
    "  --save-every N      write the state after every N acknowledged lines [1000]\n"
    "  --timeout T         give up when the hub answers nothing for T, a duration\n"
    "                      with its unit: 30s, 2m [30s]\n"
    "  --progress          show progress on stderr [when it is a terminal];\n"
    "                      --no-progress never\n"
    "  --json              print the summary as one JSON object\n"
    "  --show N            list the first N rejected lines in the summary [10]\n"
    "  --help              this text\n"
    "\n"
    "CURVE (a hub with security: curve):\n"
    "  --key FILE          this agency's key file (NAME.key, mode 0600) [$CSPHUB_KEY]\n"
    "  --server-key KEY    [$CSPHUB_SERVER_KEY] the hub's public key: its .pub file or the 40 Z85\n"
    "                      characters\n"
    "  In curve mode the hub takes the source from the key's identity: the events'\n"
    "  source must be that name.\n"
    "\n"
    "exit status: 0 every line accepted or duplicate; 3 some lines rejected (by\n"
    "the hub, or not JSON objects); 1 the hub did not answer; 2 usage or input\n"
    "error; 130 interrupted (Ctrl-C: what was sent is answered and the state\n"
    "saved first).\n";

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
            return 0;
    return 1;
}

static const char *json_kind(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER:
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    default: return "an object";
    }
}

int main(int argc, char **argv)
{

    static const struct option lopts[] = {
        FEED_COMMON_LONG_OPTIONS,
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    struct feed_options fo = {
        .program = PROGRAM,
        .unit = "line",
        .endpoint = feed_env("CSPHUB_HUB", "tcp://127.0.0.1:7450"),
        .key_file = feed_env("CSPHUB_KEY", NULL),
        .server_key = feed_env("CSPHUB_SERVER_KEY", NULL),
        .window = 50,
        .batch = 0,
        .save_every = 1000,
        .timeout_s = 30,
        .progress = -1,
        .show = 10,
        .ids = "json",
    };
    struct feed_state_opts st = {0};
    int c;
    while ((c = getopt_long(argc, argv, "h" FEED_COMMON_SHORT_OPTIONS, lopts, NULL)) != -1) {
        int common = feed_common_option(PROGRAM, c, optarg, &fo, &st);
        if (common < 0)
            return FEED_EXIT_USAGE;
        if (common)
            continue;
        switch (c) {
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return FEED_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        fprintf(stderr, PROGRAM ": give at most one FILE\n\n%s", usage);
        return FEED_EXIT_USAGE;
    }
    const char *path = optind < argc && strcmp(argv[optind], "-") != 0 ? argv[optind] : NULL;
    if (!path && st.state) {
        fprintf(stderr, PROGRAM ": --state needs a FILE: stdin cannot be resumed\n");
        return FEED_EXIT_USAGE;
    }
    if (st.no_state && st.state) {
        fprintf(stderr, PROGRAM ": --state and --no-state together\n");
        return FEED_EXIT_USAGE;
    }
    /* From stdin, events may trickle in: a batch would hold the first ones
     * back until it fills. */
    if (fo.batch == 0)
        fo.batch = path ? 100 : 1;

    FILE *in = stdin;
    if (path && !(in = fopen(path, "rb"))) {
        fprintf(stderr, PROGRAM ": cannot read %s: %s\n", path, strerror(errno));
        return FEED_EXIT_USAGE;
    }
    char *default_state = NULL;
    fo.input = path;
    if (path && !st.no_state)
        fo.state_path = st.state ? st.state : (default_state = feed_default_state(path));
    struct feed *f;
    int rc = feed_open(&f, &fo);
    if (rc) {
        if (path)
            fclose(in);
        free(default_state);
        return rc;
    }

    char *line = NULL;
    size_t cap = 0;
    uint64_t lineno = 0, bytes = 0;
    int complete = 0, input_error = 0;
    for (;;) {
        errno = 0;
        ssize_t n = getline(&line, &cap, in);
        if (n < 0) {
            if (feed_stopping(f))
                break;
            if (ferror(in)) {
                if (errno == EINTR) {
                    clearerr(in);
                    continue;
                }
                fprintf(stderr, PROGRAM ": cannot read %s at line %" PRIu64 ": %s\n",
                        path ? path : "stdin", lineno + 1, strerror(errno));
                input_error = 1;
                break;
            }
            complete = 1;
            break;
        }
        lineno++;
        bytes += (uint64_t)n;
        feed_read(f, lineno, bytes);
        if (feed_done(f, lineno))
            continue;
        if (blank(line, (size_t)n)) {
            feed_ignore(f, lineno);
            continue;
        }
        json_error_t je;
        json_t *ev = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &je);
        if (!ev) {
            char msg[300], detail[64];
            snprintf(msg, sizeof msg, "not valid JSON: %s", je.text);
            snprintf(detail, sizeof detail, "column %d", je.column);
            feed_reject(f, lineno, lineno, "bad_json", "", msg, detail);
            continue;
        }
        if (!json_is_object(ev)) {
            char msg[160];
            snprintf(msg, sizeof msg, "the line is %s, not a JSON object (one event per line)",
                     json_kind(ev));
            feed_reject(f, lineno, lineno, "bad_json", "", msg, NULL);
            json_decref(ev);
            continue;
        }
        int stop = feed_publish_json(f, lineno, lineno, ev);
        json_decref(ev);
        if (stop || feed_stopping(f))
            break;
    }
    free(line);
    if (path)
        fclose(in);
    rc = feed_finish(&f, complete, input_error);
    free(default_state);
    return rc;
}
