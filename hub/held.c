#include "held.h"

#include <stdlib.h>
#include <string.h>

struct hub_held {
    struct hub_held_fetch *v;
    size_t n, max;
};

enum hub_err hub_held_new(struct hub_held **out, size_t max, struct hub_error *err)
{
    struct hub_held *h = calloc(1, sizeof *h);
    if (h && max && !(h->v = calloc(max, sizeof *h->v))) {
        free(h);
        h = NULL;
    }
    if (!h)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory for held fetches");
    h->max = max;
    *out = h;
    return CSPH_ERR_OK;
}

struct hub_held_audit *hub_held_audit_new(const struct hub_identity *who, const void *body,
                                          size_t body_len)
{
    struct hub_held_audit *a = calloc(1, sizeof *a);
    if (a && body_len && !(a->body = malloc(body_len))) {
        free(a);
        a = NULL;
    }
    if (!a)
        return NULL;
    a->who = *who;
    if (body_len)
        memcpy(a->body, body, body_len);
    a->body_len = body_len;
    return a;
}

void hub_held_audit_free(struct hub_held_audit *a)
{
    if (a) {
        free(a->body);
        free(a);
    }
}

void hub_held_fetch_free(struct hub_held_fetch *f)
{
    hub_held_audit_free(f->audit);
    f->audit = NULL;
    for (int i = 0; i < f->nenv; i++)
        zmq_msg_close(&f->env[i]);
    f->nenv = 0;
    free(f->req);
    f->req = NULL;
}

void hub_held_destroy(struct hub_held **hp)
{
    if (!hp || !*hp)
        return;
    struct hub_held *h = *hp;
    for (size_t i = 0; i < h->n; i++)
        hub_held_fetch_free(&h->v[i]);
    free(h->v);
    free(h);
    *hp = NULL;
}

size_t hub_held_count(const struct hub_held *h)
{
    return h->n;
}

enum hub_err hub_held_room(const struct hub_held *h, struct hub_error *err)
{
    if (h->n < h->max)
        return CSPH_ERR_OK;
    return hub_error_set(err, CSPH_ERR_BUSY, NULL,
                         "the hub already holds %zu waiting fetches (limits.fetch_held_max); "
                         "retry later or fetch without wait_ms",
                         h->n);
}

enum hub_err hub_held_add(struct hub_held *h, const struct hub_ticket *tk, zmq_msg_t *env,
                          int nenv, const struct hub_span *req, int panel,
                          const char *consumer, size_t consumer_len, uint32_t max, int view,
                          uint64_t expires, struct hub_held_audit *audit,
                          struct hub_error *err)
{
    enum hub_err rc = hub_held_room(h, err);
    if (rc)
        return rc;
    if (nenv < 0 || nenv > CSPH_HELD_ENV_MAX || consumer_len >= sizeof h->v->consumer)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "a fetch that cannot be held");
    struct hub_held_fetch *f = &h->v[h->n];
    f->req = NULL;
    f->req_len = req->len;
    if (req->len && !(f->req = malloc(req->len)))
        return hub_error_set(err, CSPH_ERR_BUSY, NULL, "out of memory holding a fetch");
    if (req->len)
        memcpy(f->req, req->ptr, req->len);
    f->tk = *tk;
    f->nenv = nenv;
    for (int j = 0; j < nenv; j++) {
        zmq_msg_init(&f->env[j]);
        zmq_msg_move(&f->env[j], &env[j]);
    }
    f->panel = panel;
    memcpy(f->consumer, consumer, consumer_len);
    f->consumer[consumer_len] = 0;
    f->consumer_len = consumer_len;
    f->max = max;
    f->view = view;
    f->expires = expires;
    f->audit = audit;
    h->n++;
    return CSPH_ERR_OK;
}

/* Move fetch i out (its frames into out's) and fill the gap with the last. */
static void take(struct hub_held *h, size_t i, struct hub_held_fetch *out)
{
    struct hub_held_fetch *f = &h->v[i];
    *out = *f; /* the scalars; the frames are moved below */
    for (int j = 0; j < f->nenv; j++) {
        zmq_msg_init(&out->env[j]);
        zmq_msg_move(&out->env[j], &f->env[j]);
        zmq_msg_close(&f->env[j]);
    }
    h->n--;
    if (i != h->n) {
        struct hub_held_fetch *last = &h->v[h->n];
        *f = *last;
        for (int j = 0; j < last->nenv; j++) {
            zmq_msg_init(&f->env[j]);
            zmq_msg_move(&f->env[j], &last->env[j]);
            zmq_msg_close(&last->env[j]);
        }
    }
}

int hub_held_take_expired(struct hub_held *h, uint64_t now, struct hub_held_fetch *out)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].expires <= now) {
            take(h, i, out);
            return 1;
        }
    return 0;
}

int hub_held_take_panels(struct hub_held *h, uint64_t panels, struct hub_held_fetch *out)
{
    for (size_t i = 0; panels && i < h->n; i++)
        if (panels & (1ull << h->v[i].panel)) {
            take(h, i, out);
            return 1;
        }
    return 0;
}

int hub_held_take_conn(struct hub_held *h, const struct hub_conn *c,
                       struct hub_held_fetch *out)
{
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].tk.conn == c) {
            take(h, i, out);
            return 1;
        }
    return 0;
}

int hub_held_take_newest(struct hub_held *h, struct hub_held_fetch *out)
{
    if (!h->n)
        return 0;
    take(h, h->n - 1, out);
    return 1;
}

uint64_t hub_held_next_expiry(const struct hub_held *h)
{
    uint64_t first = UINT64_MAX;
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].expires < first)
            first = h->v[i].expires;
    return first;
}
