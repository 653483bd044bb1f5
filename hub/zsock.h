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

struct hub_zsock;
typedef void (*hub_zsock_fn)(struct hub_zsock *z);
/* Tells whether the owner wants to be called although ZMQ_EVENTS shows no
 * input (e.g. replies waiting for POLLOUT). */
typedef int (*hub_zsock_want_fn)(struct hub_zsock *z, int zmq_events);

struct hub_zsock {
    uv_poll_t poll;
    uv_prepare_t prepare;
    uv_check_t check;
    uv_idle_t idle;
    void *socket;
    hub_zsock_fn on_ready;
    hub_zsock_want_fn wants;
    void (*on_closed)(struct hub_zsock *z);
    void *data;
    int open_handles;
};

/* Start watching socket on loop. on_ready is called when the socket may
 * have input (and after every loop iteration); wants may be NULL. */
int hub_zsock_start(struct hub_zsock *z, uv_loop_t *loop, void *socket, hub_zsock_fn on_ready,
                    hub_zsock_want_fn wants, void *data);
/* Close the uv handles; on_closed runs once all are closed. */
void hub_zsock_close(struct hub_zsock *z, void (*on_closed)(struct hub_zsock *z));

#endif
