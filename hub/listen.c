#include "listen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include "csphub.h"
#include "log.h"

static enum hub_err zmq_fail(struct hub_error *err, const char *what, const char *ep)
{
    return hub_error_set(err, CSPH_ERR_CONFIG, "listen", "%s%s%s: %s", what, ep ? " " : "",
                         ep ? ep : "", zmq_strerror(errno));
}

/* ZAP (RFC 27): ZeroMQ asks, for every CURVE handshake, whether the
 * client's key may connect. A listed key gets 200 and its identity's name
 * as User-Id, which every later message from that connection carries. The
 * decision is security.c's (hub_zap_decide). */
static void on_zap(struct hub_zsock *z)
{
    struct hub_listener *l = z->data;
    for (;;) {
        zmq_msg_t f[8];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t *m = &f[n < 8 ? n : 7];
            if (n >= 8)
                zmq_msg_close(m);
            zmq_msg_init(m);
            if (zmq_msg_recv(m, l->zap, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
                zmq_msg_close(m);
                if (n == 0)
                    return;
                break;
            }
            more = zmq_msg_more(m);
            if (n < 8)
                n++;
        }
        struct hub_span span[8];
        for (int i = 0; i < n; i++)
            span[i] = (struct hub_span){zmq_msg_data(&f[i]), zmq_msg_size(&f[i])};
        struct hub_zap_decision d;
        hub_zap_decide(l->ids, span, n, &d);
        if (!d.id) {
            (*l->refused)++;
            LOG_WARN("security", "refused a connection from %s: %s %s", d.addr, d.why, d.key_z85);
        } else {
            LOG_DEBUG("security", "%s connected from %s as %s", d.id->name, d.addr,
                      hub_role_name(d.id->role));
        }
        zmq_send(l->zap, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(l->zap, n >= 2 ? zmq_msg_data(&f[1]) : "", n >= 2 ? zmq_msg_size(&f[1]) : 0,
                 ZMQ_SNDMORE);
        zmq_send(l->zap, d.status, 3, ZMQ_SNDMORE);
        zmq_send(l->zap, d.text, strlen(d.text), ZMQ_SNDMORE);
        zmq_send(l->zap, d.user, strlen(d.user), ZMQ_SNDMORE);
        zmq_send(l->zap, "", 0, 0);
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
}

static enum hub_err open_curve(struct hub_listener *l, const struct hub_config *cfg,
                               struct hub_error *err)
{
    char pub[41], sec[41], msg[512];
    if (csph_key_file_read(cfg->server_key_file, pub, sec, msg, sizeof msg) != 0)
        return hub_error_set(err, CSPH_ERR_CONFIG, "server_key_file", "%s", msg);
    if (!sec[0])
        return hub_error_set(err, CSPH_ERR_CONFIG, "server_key_file",
                             "%s holds no secret key: give the hub's NAME.key, not NAME.pub",
                             cfg->server_key_file);
    int one = 1;
    int rc = zmq_setsockopt(l->router, ZMQ_CURVE_SERVER, &one, sizeof one) ||
             zmq_setsockopt(l->router, ZMQ_CURVE_SECRETKEY, sec, 40) ||
             zmq_setsockopt(l->router, ZMQ_ZAP_DOMAIN, "csphub", 6);
    memset(sec, 0, sizeof sec);
    if (rc)
        return zmq_fail(err, "cannot set up CURVE on the ROUTER socket", NULL);
    /* The ZAP handler must be bound before any CURVE socket binds. */
    l->zap = zmq_socket(l->zctx, ZMQ_REP);
    int linger = 0;
    if (!l->zap || zmq_setsockopt(l->zap, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(l->zap, "inproc://zeromq.zap.01") != 0)
        return zmq_fail(err, "cannot start the ZAP handler", NULL);
    LOG_INFO("security", "CURVE on; hub public key %s; %zu identities", pub, l->ids->n);
    return CSPH_ERR_OK;
}

enum hub_err hub_listen_open(struct hub_listener *l, const struct hub_config *cfg,
                             const struct hub_identities *ids, uint64_t *refused,
                             struct hub_error *err)
{
    const struct hub_limits *lim = &cfg->limits;
    int one = 1, linger = 1000;
    int64_t maxmsg = lim->message_max;
    memset(l, 0, sizeof *l);
    l->ids = ids;
    l->refused = refused;
    l->zctx = zmq_ctx_new();
    if (!l->zctx)
        return zmq_fail(err, "cannot create the ZeroMQ context", NULL);
    l->router = zmq_socket(l->zctx, ZMQ_ROUTER);
    if (!l->router)
        return zmq_fail(err, "cannot create the ROUTER socket", NULL);
    /* ROUTER_MANDATORY: a reply to a full pipe is EAGAIN we handle, never a
     * silent drop. HWMs are sized from config, not left at ZeroMQ's 1,000. */
    if (zmq_setsockopt(l->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) ||
        zmq_setsockopt(l->router, ZMQ_SNDHWM, &lim->sndhwm, sizeof lim->sndhwm) ||
        zmq_setsockopt(l->router, ZMQ_RCVHWM, &lim->rcvhwm, sizeof lim->rcvhwm) ||
        zmq_setsockopt(l->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        zmq_setsockopt(l->router, ZMQ_LINGER, &linger, sizeof linger))
        return zmq_fail(err, "cannot configure the ROUTER socket", NULL);
    /* IPv6 endpoints ([::1]) bind only with ZMQ_IPV6 set before the bind;
     * IPv4 ones work the same with it. */
    if (zmq_setsockopt(l->router, ZMQ_IPV6, &one, sizeof one))
        return zmq_fail(err, "cannot configure the ROUTER socket", NULL);
    if (cfg->security == CSPH_SECURITY_CURVE)
        return open_curve(l, cfg, err);
    return CSPH_ERR_OK;
}

static enum hub_err bind_one(struct hub_listener *l, const struct hub_config *cfg, const char *ep,
                             const char *as, struct hub_error *err)
{
    if (zmq_bind(l->router, ep) != 0)
        return zmq_fail(err, "cannot listen on", as);
    LOG_INFO("hub", "listening on %s (security %s)", ep,
             cfg->security == CSPH_SECURITY_NONE ? "none" : "curve");
    return CSPH_ERR_OK;
}

/* ZeroMQ reads the host of a tcp:// bind as an address or an interface
 * name, so `localhost` fails (no such interface). It means loopback: bind
 * 127.0.0.1 and, where the machine has IPv6, ::1. */
static enum hub_err bind_endpoint(struct hub_listener *l, const struct hub_config *cfg,
                                  const char *ep, struct hub_error *err)
{
    if (strncmp(ep, "tcp://localhost:", 16) != 0)
        return bind_one(l, cfg, ep, ep, err);
    char v4[280], v6[280];
    snprintf(v4, sizeof v4, "tcp://127.0.0.1:%s", ep + 16);
    snprintf(v6, sizeof v6, "tcp://[::1]:%s", ep + 16);
    enum hub_err rc = bind_one(l, cfg, v4, ep, err);
    if (rc)
        return rc;
    if (zmq_bind(l->router, v6) != 0) {
        if (errno != EADDRNOTAVAIL && errno != ENODEV && errno != EAFNOSUPPORT)
            return zmq_fail(err, "cannot listen on", ep);
        LOG_WARN("hub", "%s: listening on 127.0.0.1 only; this machine has no IPv6 loopback "
                 "(%s)", ep, zmq_strerror(errno));
        return CSPH_ERR_OK;
    }
    LOG_INFO("hub", "listening on %s (security %s)", v6,
             cfg->security == CSPH_SECURITY_NONE ? "none" : "curve");
    return CSPH_ERR_OK;
}

enum hub_err hub_listen_bind(struct hub_listener *l, const struct hub_config *cfg,
                             struct hub_error *err)
{
    enum hub_err rc = CSPH_ERR_OK;
    for (size_t i = 0; i < cfg->nlisten && rc == CSPH_ERR_OK; i++)
        rc = bind_endpoint(l, cfg, cfg->listen[i], err);
    return rc;
}

void hub_listen_start(struct hub_listener *l, uv_loop_t *loop)
{
    if (!l->zap)
        return;
    hub_zsock_start(&l->zap_zs, loop, l->zap, on_zap, NULL, l);
    l->zap_started = 1;
}

static void on_zsock_closed(struct hub_zsock *z)
{
    (void)z;
}

void hub_listen_stop(struct hub_listener *l)
{
    if (l->zap_started)
        hub_zsock_close(&l->zap_zs, on_zsock_closed);
    l->zap_started = 0;
}

void hub_listen_close(struct hub_listener *l)
{
    if (l->router)
        zmq_close(l->router);
    if (l->zap)
        zmq_close(l->zap);
    if (l->zctx)
        zmq_ctx_term(l->zctx);
    l->router = l->zap = l->zctx = NULL;
}
