/* testutil.h: what the tests share: temporary directories, the real daemon
 * started as a child process on a free TCP port, a DEALER client with
 * deadlines (never sleeps), and JSON -> MessagePack for readable requests. */
#ifndef CSPH_TESTUTIL_H
#define CSPH_TESTUTIL_H

#include <msgpack.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <cmocka.h>

#include "config.h"
#include "core.h"

/* A fresh directory under $TMPDIR (malloc'd path); tu_rmrf removes a tree. */
char *tu_tmpdir(const char *tag);
void tu_rmrf(const char *path);
/* The first regular file under dir whose data holds needle's bytes
 * (erased means unreadable: issue 17), or NULL. Reads only a sparse file's
 * data extents (index.mdb is as large as its map). The path is in a
 * static buffer: copy it before the next call. */
const char *tu_byte_search(const char *dir, const char *needle);
/* An environment variable or a default. */
const char *tu_env(const char *name, const char *fallback);
/* Monotonic milliseconds. */
int64_t tu_now_ms(void);
/* How many file descriptors this process has open (from /proc/self/fd):
 * a fixture counts before and after to prove it closed everything. */
int tu_open_fds(void);

struct tu_hub {
    pid_t pid;
    int port;
    char endpoint[64];
    char data[512];
    char log[600];
};

/* Run a shell command, its output (at most n-1 bytes) into out: its exit
 * status, -1 when it did not exit. */
int tu_run_cmd(char *out, size_t n, const char *cmd);

/* How many lines of the hub's log (h->log) hold what. */
int tu_log_count(const struct tu_hub *h, const char *what);

/* When not 0, hubs started from now on run with this RLIMIT_NOFILE (soft
 * and hard), as a machine with a low descriptor limit would. */
extern unsigned tu_hub_nofile;
/* Start csphubd ($CSPH_HUBD) on a free loopback port with data in data_dir
 * and the extra arguments (NULL-terminated). Waits (up to 20 s) until it
 * answers ping. Returns 0, or -1 when it exited or never answered (its log
 * is printed). */
int tu_hub_start(struct tu_hub *h, const char *data_dir, ...);
/* A fresh temporary directory (tu_tmpdir(tag)) with a hub started on its
 * data/ subdirectory (written into data, n bytes). Returns the directory
 * (the caller tu_rmrfs and frees it), or NULL when the hub did not start
 * (the directory is gone again). */
char *tu_hub_fresh(struct tu_hub *h, const char *tag, char *data, size_t n);
/* Like tu_hub_fresh, with a hub that runs no rules (rules_file: none: a
 * log only), for the tests of the protocol and the log: the log then holds
 * only what the test sends, seq 1 its first event. (A hub with rules puts
 * its rule set in the log first: rules.loaded at seq 1.) config gets the
 * config file's path (n bytes), for a restart's --config. */
char *tu_hub_fresh_log_only(struct tu_hub *h, const char *tag, char *data, size_t n,
                            char *config, size_t config_n);
/* Start csphubd again on the same port and data directory (after a stop
 * or a kill), with the extra arguments (NULL-terminated). */
int tu_hub_restart(struct tu_hub *h, ...);
/* Run csphubd with args (NULL-terminated) to completion: its exit status,
 * with stderr captured into out (size n). */
int tu_hub_run(char *out, size_t n, ...);
/* SIGTERM and wait; returns the exit status (or -1 on timeout). */
int tu_hub_stop(struct tu_hub *h);
/* SIGKILL and reap. */
void tu_hub_kill9(struct tu_hub *h);

struct tu_client {
    void *ctx;
    void *sock;
    msgpack_zone zone;
    /* The last reply's raw bytes (in zone, valid like the reply objects):
     * for byte-exact checks with tu_mp_span. */
    const char *raw;
    size_t raw_len;
};

/* Connect a socket of type (ZMQ_DEALER or ZMQ_REQ) to endpoint. */
void tu_client_open(struct tu_client *c, const char *endpoint, int type);
void tu_client_close(struct tu_client *c);
/* Send raw bytes as one request body (a REQ socket adds its delimiter). */
int tu_send_raw(struct tu_client *c, const void *buf, size_t len);
/* Receive one reply body within timeout_ms into *reply (objects live in
 * c->zone until the next tu_recv/tu_call). Returns 0 or -1 on timeout. */
int tu_recv(struct tu_client *c, int timeout_ms, msgpack_object *reply);
/* JSON text -> MessagePack into sbuf (cleared first). */
void tu_json_to_mp(msgpack_sbuffer *sbuf, const char *json);
/* Send the JSON request (formatted with printf args) without waiting for
 * its reply; tu_send_raw's result. */
int tu_send(struct tu_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Send the JSON request (formatted with printf args) and wait for the reply
 * (10 s). Fails the test on timeout. */
msgpack_object tu_call(struct tu_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Send raw bytes and wait for the reply (10 s). */
msgpack_object tu_call_raw(struct tu_client *c, const void *buf, size_t len);

/* Reply accessors: a field, a string field (NUL-terminated copy in a static
 * ring of buffers), an integer field (or -1), a boolean (or -1). */
const msgpack_object *tu_get(const msgpack_object *o, const char *path);
const char *tu_str(const msgpack_object *o, const char *path);
int64_t tu_int(const msgpack_object *o, const char *path);
int tu_bool(const msgpack_object *o, const char *path);

/* A valid asb.report event as JSON, id and victim given. */
#define TU_ASB_EVENT(id, victim)                                               \
    "{\"id\":\"" id "\",\"type\":\"asb.report\",\"source\":\"police\","       \
    "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"victim\":\"" victim "\","   \
    "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"personal\"}"

/* The object as text for failure messages (a ring of 4 static buffers). */
const char *tu_dump(const msgpack_object *o);
/* A free loopback TCP port (bound then released). */
int tu_free_port(void);
/* Like tu_hub_run, but a csphubd still running after timeout_ms is killed
 * (SIGKILL) and -1 returned: a refusal that never comes fails fast. */
int tu_hub_run_ms(char *out, size_t n, int timeout_ms, ...);
/* Find the encoded bytes of the value at a dotted path ("events.3.event")
 * inside the MessagePack at buf: *p and *n point into buf. Returns 0, or -1
 * when the path is absent or the bytes are not MessagePack. */
int tu_mp_span(const char *buf, size_t len, const char *path, const char **p, size_t *n);
/* Send one event, given as its exact MessagePack bytes, as
 * {op: publish, req: req, event: <bytes>} (req < 0: no req) and wait for
 * the reply (10 s). */
msgpack_object tu_publish_raw(struct tu_client *c, const void *ev, size_t len, int64_t req);
/* Build {op: publish, [req,] event: <ev bytes>} into sb (cleared first). */
void tu_publish_request(msgpack_sbuffer *sb, const void *ev, size_t len, int64_t req);

/* A test's fixture of its own temporary directory: setup makes it,
 * teardown removes it and fails the test when a descriptor opened during it
 * was left open. */
struct tu_tmpfx {
    char *tmp;
    int fds;
};
int tu_tmpfx_setup(void **state, const char *name);
int tu_tmpfx_teardown(void **state);
/* The end-to-end tests' fixture: a log-only hub (rules_file: none, so the
 * log holds only what a test sends) in a fresh temporary directory, and a
 * DEALER client open on it. teardown stops the hub if it runs. */
struct tu_logonly_fx {
    char *tmp;
    char data[600];
    char config[600];
    struct tu_hub hub;
    struct tu_client c;
    int client_open;
};
int tu_logonly_setup(void **state, const char *tag);
int tu_logonly_teardown(void **state);
/* The same on a fixture the caller holds (inside a test's own, with more
 * in it): 0, or -1 when the hub did not start; close stops the hub (-1,
 * said on stderr, when it did not exit 0 on SIGTERM) and removes the
 * directory. */
int tu_logonly_open(struct tu_logonly_fx *f, const char *tag);
int tu_logonly_close(struct tu_logonly_fx *f);
/* Skip the test (saying why) when the program the environment variable var
 * names is not in the build. */
#define TU_NEED_PROGRAM(var, program)                                                     \
    do {                                                                                  \
        if (!getenv(var) || !*getenv(var)) {                                              \
            print_message(var " is not set (" program " is not in the build)\n");          \
            skip();                                                                       \
        }                                                                                 \
    } while (0)

/* Run prog with the arguments of prefix (NULL-terminated; may be NULL)
 * then those in ap (NULL-terminated), at most 31 in all: its stdout into
 * out_path and its stderr into err_path (NULL: the test's own; the same
 * path: one file for both; "/dev/null" to drop it), and $PATH replaced by
 * path_env when not NULL. Its exit status (128 + the signal that ended it),
 * or -1. */
int tu_run_va(const char *out_path, const char *err_path, const char *path_env,
              const char *prog, const char *const *prefix, va_list ap);
/* The whole file (malloc'd, NUL-terminated; *len its size when len is not
 * NULL); the test fails when it cannot be read. */
char *tu_slurp(const char *path, size_t *len);

/* The shipped panels, schemas and rules (config/, schemas/) loaded as a hub
 * with the default configuration loads them, for the tests that drive the
 * hub's modules without a daemon; the test fails when they do not load. */
void tu_load_defaults(struct hub_config *cfg, struct hub_schemas **schemas,
                      struct hub_rules **rules);

/* The modules' tests over the batch's owner without a daemon: a core
 * (hub/core.h) over data/ in a private temporary directory, with the
 * shipped panels, schemas and rules (tu_load_defaults) and a 64 MiB map.
 * setup opens the core (with recover: as tu_corefx_open); teardown closes it, removes the
 * directory and fails the test when a descriptor opened during it was left
 * open. */
#define TU_CORE_MAP_SIZE (64ull << 20)
struct tu_corefx {
    char *dir;
    char data[600];
    struct hub_config cfg;
    struct hub_schemas *schemas;
    struct hub_rules *rules;
    struct hub_core *core;
    msgpack_zone zone; /* the last ingested event's unpacked form */
    int fds;
};
int tu_corefx_setup(void **state, const char *tag, int recover);
int tu_corefx_teardown(void **state);
/* Open f->core over f->data (after a close: a restart), and with recover
 * bring its index level with the log (hub_core_recover) as a hub does
 * before serving; the test fails when either fails. */
void tu_corefx_open(struct tu_corefx *f, int recover);
/* Ingest one event given as JSON into the open batch (received at
 * received_ms): it must pass its schema; what hub_ingest_event returns. */
enum hub_err tu_corefx_ingest(struct tu_corefx *f, const char *json, int64_t received_ms,
                              uint64_t *seq, struct hub_error *err);
/* A council's referral of subject S-<id> to MARAC (event id `id`), which
 * the shipped rules answer with one marac alert (rule referral.direct),
 * ingested like tu_corefx_ingest. */
enum hub_err tu_corefx_referral(struct tu_corefx *f, const char *id, int64_t received_ms,
                                uint64_t *seq, struct hub_error *err);

#endif
