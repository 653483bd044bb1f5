/* zsock.h: a ZeroMQ socket inside the libuv loop.
 *
 * ZMQ_FD is edge-triggered and a readable fd does not mean a message is
 * waiting; after any zmq_send the socket may have become readable with no
 * new wake-up. So: a uv_poll_t on the fd wakes us, a uv_check_t runs the
 * handler after every loop iteration, and a uv_prepare_t re-reads
 * ZMQ_EVENTS before the loop blocks, starting a uv_idle_t (which keeps the
 * loop from blocking) while work is pending. The handler must drain with
 * ZMQ_DONTWAIT until EAGAIN or its own budget.
 *
 * Knows nothing of events. The caller owns the struct and the ZeroMQ
 * socket; close the watcher (and wait for close_cb) before zmq_close. */
#ifndef CSPH_ZSOCK_H
#define CSPH_ZSOCK_H

#include <uv.h>

struct csph_zsock;
typedef void (*csph_zsock_fn)(struct csph_zsock *z);
/* Tells whether the owner wants to be called although ZMQ_EVENTS shows no
 * input (e.g. replies waiting for POLLOUT). */
typedef int (*csph_zsock_want_fn)(struct csph_zsock *z, int zmq_events);

struct csph_zsock {
    uv_poll_t poll;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_idle_t idle;
    void *socket;
    csph_zsock_fn on_ready;
    csph_zsock_want_fn wants;
    void (*on_closed)(struct csph_zsock *z);
    void *data;
    int open_handles;
};

/* Start watching socket on loop. on_ready is called when the socket may
 * have input (and after every loop iteration); wants may be NULL. */
int csph_zsock_start(struct csph_zsock *z, uv_loop_t *loop, void *socket, csph_zsock_fn on_ready,
                     csph_zsock_want_fn wants, void *data);
/* Close the uv handles; on_closed runs once all are closed. */
void csph_zsock_close(struct csph_zsock *z, void (*on_closed)(struct csph_zsock *z));

#endif
