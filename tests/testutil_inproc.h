/* testutil_inproc.h: a hub running in the test's own process on a private
 * libuv loop, its clock in the test's hand (time-based behaviour is tested
 * by moving the clock, never by sleeping), reached over real sockets by a
 * DEALER client: the fixture of test_queues and test_views. Teardown proves
 * the loop closed and no descriptor was left open. */
#ifndef CSPH_TESTUTIL_INPROC_H
#define CSPH_TESTUTIL_INPROC_H

#include <uv.h>

#include "testutil.h"

#include "clock.h"
#include "config.h"
#include "server.h"

struct tu_inproc {
    char *dir;
    char data[200];
    char endpoint[256];
    struct hub_config cfg;
    struct hub_clock clock;
    uv_loop_t loop;
    struct hub_server *srv;
    struct tu_client c;
    int fds_before;
};

/* The fixed clock's start: Monday 2 June 2025 09:00 UTC. */
int64_t tu_inproc_t0(void);
/* A fresh directory (tu_tmpdir(tag)) and the shipped config, the hub
 * started on an ipc:// endpoint in it with the clock at tu_inproc_t0(). */
struct tu_inproc *tu_inproc_new(const char *tag);
/* Stop the hub (if running), remove the directory, check nothing is left
 * open, free. */
void tu_inproc_free(struct tu_inproc *f);
/* Start or stop the hub on the same data directory (a restart). */
void tu_inproc_start(struct tu_inproc *f);
void tu_inproc_stop(struct tu_inproc *f);
/* Step the hub's loop until the client has a reply (0), or -1 after
 * timeout_ms. */
int tu_inproc_step_recv(struct tu_inproc *f, int timeout_ms, msgpack_object *reply);
/* Send the JSON request (printf args) and step the loop until its reply
 * (failing the test after 10 s). */
msgpack_object tu_inproc_call(struct tu_inproc *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* An asb.report by victim at when, accepted. */
void tu_inproc_asb(struct tu_inproc *f, const char *id, const char *victim, const char *when);
/* Three ASB reports by one victim (Jan-Mar 2025): one asb-case-review
 * alert, 10 working days to act. */
void tu_inproc_raise_case_review(struct tu_inproc *f, const char *victim);
/* Move the hub's clock to ms and tell the hub. */
void tu_inproc_set_clock(struct tu_inproc *f, int64_t ms);
/* Step the loop until replay finds an event of type (its reply), or fail. */
msgpack_object tu_inproc_wait_for_type(struct tu_inproc *f, const char *type);
/* The request is refused bad_request naming field, or fail. */
void tu_inproc_expect_bad(struct tu_inproc *f, const char *field, const char *json);
/* libuv sets up its signal handling once per process, leaving a
 * descriptor open; done before the first fixture counts descriptors. */
void tu_warm_up_libuv_signals(void);

#endif
