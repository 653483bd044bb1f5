#include "zsock.h"

#include <zmq.h>

static int zevents(struct hub_zsock *z)
{
    int ev = 0;
    size_t len = sizeof ev;
    if (zmq_getsockopt(z->socket, ZMQ_EVENTS, &ev, &len) != 0)
        return 0;
    return ev;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct hub_zsock *z = h->data;
    z->on_ready(z);
}

static void on_check(uv_check_t *h)
{
    struct hub_zsock *z = h->data;
    int ev = zevents(z);
    if ((ev & ZMQ_POLLIN) || (z->wants && z->wants(z, ev)))
        z->on_ready(z);
}

static void on_idle(uv_idle_t *h)
{
    /* Nothing: its being active keeps the loop from blocking in the poll
     * phase, so on_check runs again at once. */
}

static void on_prepare(uv_prepare_t *h)
{
    struct hub_zsock *z = h->data;
    int ev = zevents(z);
    if ((ev & ZMQ_POLLIN) || (z->wants && z->wants(z, ev)))
        uv_idle_start(&z->idle, on_idle);
    else
        uv_idle_stop(&z->idle);
}

int hub_zsock_start(struct hub_zsock *z, uv_loop_t *loop, void *socket, hub_zsock_fn on_ready,
                    hub_zsock_want_fn wants, void *data)
{
    int fd;
    size_t len = sizeof fd;
    if (zmq_getsockopt(socket, ZMQ_FD, &fd, &len) != 0)
        return -1;
    z->socket = socket;
    z->on_ready = on_ready;
    z->wants = wants;
    z->data = data;
    z->open_handles = 0;
    uv_poll_init(loop, &z->poll, fd);
    uv_prepare_init(loop, &z->prepare);
    uv_check_init(loop, &z->check);
    uv_idle_init(loop, &z->idle);
    z->poll.data = z->prepare.data = z->check.data = z->idle.data = z;
    z->open_handles = 4;
    uv_poll_start(&z->poll, UV_READABLE, on_poll);
    uv_prepare_start(&z->prepare, on_prepare);
    uv_check_start(&z->check, on_check);
    return 0;
}

static void on_handle_closed(uv_handle_t *h)
{
    struct hub_zsock *z = h->data;
    if (--z->open_handles == 0 && z->on_closed)
        z->on_closed(z);
}

void hub_zsock_close(struct hub_zsock *z, void (*on_closed)(struct hub_zsock *z))
{
    z->on_closed = on_closed;
    /* Never close ZMQ_FD itself: it belongs to the ZeroMQ socket. */
    uv_close((uv_handle_t *)&z->poll, on_handle_closed);
    uv_close((uv_handle_t *)&z->prepare, on_handle_closed);
    uv_close((uv_handle_t *)&z->check, on_handle_closed);
    uv_close((uv_handle_t *)&z->idle, on_handle_closed);
}
