#include "reportcase.h"

#include <stdlib.h>
#include <string.h>

#include "mpx.h"
#include "panelcfg.h"
#include "timefmt.h"

#define NO_TIME INT64_MIN

enum {
    RC_OPEN,       /* case.opened */
    RC_CLOSE,      /* case.update closed */
    RC_REVIEW,     /* case.update reviewed */
    RC_REVIEW_DUE, /* timer.fired review: a review fell due unrecorded */
    RC_ACT_NEW,    /* action.created */
    RC_ACT_DONE,   /* action.updated done */
    RC_ACT_NOT,    /* action.updated not_done */
    RC_ACT_RETIME  /* action.updated retimed */
};

static const char *const types[] = {"case.opened", "case.update", "timer.fired", "action.created",
                                    "action.updated", NULL};

int hub_rcase_type(const char *type, size_t len)
{
    for (int i = 0; types[i]; i++)
        if (strlen(types[i]) == len && !memcmp(types[i], type, len))
            return 1;
    return 0;
}

int hub_rcase_measure(enum hub_ind_measure m)
{
    return m == CSPH_IND_CASE_ENTRIES || m == CSPH_IND_CASE_EXITS ||
           m == CSPH_IND_ACTIONS_ON_TIME || m == CSPH_IND_REVIEWS_ON_TIME;
}

static const msgpack_object *str_of(const msgpack_object *o, const char *k)
{
    const msgpack_object *v = hub_mp_get(o, k);
    return v && v->type == MSGPACK_OBJECT_STR ? v : NULL;
}

static int64_t time_of(const msgpack_object *o, const char *k)
{
    const msgpack_object *v = str_of(o, k);
    int64_t ms;
    const char *why;
    return v && !csph_time_parse(v->via.str.ptr, v->via.str.size, &ms, &why) ? ms : NO_TIME;
}

/* A case's identity: FNV-1a of panel \0 subject (deterministic). */
static uint64_t case_hash(const char *panel, const msgpack_object *subj)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = panel;; p++) {
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
        if (!*p)
            break;
    }
    for (uint32_t i = 0; i < subj->via.str.size; i++)
        h = (h ^ (unsigned char)subj->via.str.ptr[i]) * 1099511628211ull;
    return h;
}

int hub_rcase_collect(struct hub_rcase *c, const struct hub_config *cfg, uint64_t seq,
                      int64_t received_ms, const char *type, size_t type_len,
                      const msgpack_object *o)
{
    const msgpack_object *pn = str_of(o, "panel"), *subj = str_of(o, "subject"),
                         *st = str_of(o, "status");
    int panel = pn ? hub_config_panel_find(cfg, pn->via.str.ptr, pn->via.str.size) : -1;
    if (panel < 0)
        return 0;
    struct hub_rcase_rec x = {.seq = seq, .ms = received_ms, .due_ms = NO_TIME,
                              .panel = (int16_t)panel};
#define IS(t) (type_len == strlen(t) && !memcmp(type, t, type_len))
    if (IS("case.opened") || IS("case.update") || IS("timer.fired")) {
        if (!subj)
            return 0;
        x.key = case_hash(cfg->panels[panel].name, subj);
        if (IS("case.opened")) {
            x.kind = RC_OPEN;
        } else if (IS("timer.fired")) {
            if (!hub_mp_str_eq(hub_mp_get(o, "timer"), "review"))
                return 0;
            x.kind = RC_REVIEW_DUE;
            x.due_ms = time_of(o, "due_at");
        } else if (hub_mp_str_eq(st, "closed")) {
            x.kind = RC_CLOSE;
            const msgpack_object *oc = str_of(o, "outcome");
            const struct hub_panel_work *w = &cfg->panels[panel].work;
            for (int i = 0; oc && i < w->noutcomes; i++)
                if (strlen(w->outcomes[i]) == oc->via.str.size &&
                    !memcmp(w->outcomes[i], oc->via.str.ptr, oc->via.str.size))
                    x.outcome = (uint8_t)(i + 1);
        } else if (hub_mp_str_eq(st, "reviewed")) {
            x.kind = RC_REVIEW;
        } else {
            return 0;
        }
    } else {
        const msgpack_object *id = hub_mp_get(o, "action");
        if (!id || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            return 0;
        x.key = id->via.u64;
        x.due_ms = time_of(o, "due_at");
        if (IS("action.created"))
            x.kind = RC_ACT_NEW;
        else if (hub_mp_str_eq(st, "done"))
            x.kind = RC_ACT_DONE;
        else if (hub_mp_str_eq(st, "not_done"))
            x.kind = RC_ACT_NOT;
        else if (hub_mp_str_eq(st, "retimed"))
            x.kind = RC_ACT_RETIME;
        else
            return 0;
    }
#undef IS
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        struct hub_rcase_rec *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return -1;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = x;
    return 0;
}

int hub_rcase_append(struct hub_rcase *to, const struct hub_rcase *from)
{
    if (!from->n)
        return 0;
    if (to->n + from->n > to->cap) {
        size_t cap = to->n + from->n;
        struct hub_rcase_rec *v = realloc(to->v, cap * sizeof *v);
        if (!v)
            return -1;
        to->v = v;
        to->cap = cap;
    }
    memcpy(to->v + to->n, from->v, from->n * sizeof *from->v);
    to->n += from->n;
    return 0;
}

void hub_rcase_free(struct hub_rcase *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}

/* The state of the cases met so far: an open-addressing table on the
 * case's hash. */
struct cstate {
    uint64_t key;
    int used, open, closed;
    int16_t panel;
    int64_t pending_due; /* a review fell due unrecorded: its due time; else NO_TIME */
    uint64_t pending_seq;
};

struct ctab {
    struct cstate *v;
    size_t cap, n;
};

static struct cstate *ctab_get(struct ctab *t, uint64_t key)
{
    if ((t->n + 1) * 2 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        struct cstate *v = calloc(cap, sizeof *v);
        if (!v)
            return NULL;
        for (size_t i = 0; i < t->cap; i++)
            if (t->v[i].used) {
                size_t j = t->v[i].key & (cap - 1);
                while (v[j].used)
                    j = (j + 1) & (cap - 1);
                v[j] = t->v[i];
            }
        free(t->v);
        t->v = v;
        t->cap = cap;
    }
    size_t j = key & (t->cap - 1);
    while (t->v[j].used && t->v[j].key != key)
        j = (j + 1) & (t->cap - 1);
    if (!t->v[j].used) {
        t->v[j] = (struct cstate){.key = key, .used = 1, .pending_due = NO_TIME};
        t->n++;
    }
    return &t->v[j];
}

static int outcome_wanted(const struct hub_config *cfg, const struct hub_indicator *I,
                          const struct hub_rcase_rec *x)
{
    if (!I->noutcomes)
        return 1;
    if (!x->outcome)
        return 0;
    const char *name = cfg->panels[x->panel].work.outcomes[x->outcome - 1];
    for (size_t i = 0; i < I->noutcomes; i++)
        if (!strcmp(I->outcomes[i], name))
            return 1;
    return 0;
}

/* An action as the log leaves it. */
struct astate {
    int64_t due_ms, done_ms;
    uint64_t seq; /* its action.created */
    int16_t panel;
    uint8_t known, status; /* 0 open, 1 done, 2 not done */
};

static int figure_actions(const struct hub_rcase *c, const struct hub_indicator *I,
                          int64_t asof_ms, hub_rcase_fn fn, void *ctx)
{
    /* Ids are gap-free from 1: a table by id. */
    uint64_t max = 0;
    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].kind >= RC_ACT_NEW && c->v[i].key > max && c->v[i].key < (1ull << 32))
            max = c->v[i].key;
    struct astate *a = calloc(max + 1, sizeof *a);
    if (!a)
        return -1;
    for (size_t i = 0; i < c->n; i++) {
        const struct hub_rcase_rec *x = &c->v[i];
        if (x->kind < RC_ACT_NEW || x->key > max)
            continue;
        struct astate *s = &a[x->key];
        if (x->kind == RC_ACT_NEW) {
            *s = (struct astate){.due_ms = x->due_ms, .done_ms = NO_TIME, .seq = x->seq,
                                 .panel = x->panel, .known = 1};
        } else if (s->known && s->status == 0) {
            if (x->kind == RC_ACT_DONE) {
                s->status = 1;
                s->done_ms = x->ms;
            } else if (x->kind == RC_ACT_NOT) {
                s->status = 2;
            } else if (x->due_ms != NO_TIME) {
                s->due_ms = x->due_ms;
            }
        }
    }
    for (uint64_t id = 1; id <= max; id++) {
        const struct astate *s = &a[id];
        if (!s->known || s->due_ms == NO_TIME || (I->panel >= 0 && s->panel != I->panel))
            continue;
        if (s->status == 0 && s->due_ms > asof_ms)
            continue; /* not due yet: neither on time nor late */
        fn(ctx, s->due_ms, s->status == 1 && s->done_ms <= s->due_ms, 1, s->seq);
    }
    free(a);
    return 0;
}

int hub_rcase_figure(const struct hub_rcase *c, const struct hub_config *cfg,
                     const struct hub_indicator *I, int64_t asof_ms, hub_rcase_fn fn, void *ctx)
{
    if (I->measure == CSPH_IND_ACTIONS_ON_TIME)
        return figure_actions(c, I, asof_ms, fn, ctx);
    struct ctab t = {0};
    int rc = 0;
    for (size_t i = 0; i < c->n && !rc; i++) {
        const struct hub_rcase_rec *x = &c->v[i];
        if (x->kind >= RC_ACT_NEW)
            continue;
        struct cstate *s = ctab_get(&t, x->key);
        if (!s) {
            rc = -1;
            break;
        }
        s->panel = x->panel;
        int mine = I->panel < 0 || x->panel == I->panel;
        switch (x->kind) {
        case RC_OPEN:
            if (!s->open && mine && I->measure == CSPH_IND_CASE_ENTRIES)
                fn(ctx, x->ms, 1, 0, x->seq);
            s->open = 1;
            s->closed = 0;
            s->pending_due = NO_TIME;
            break;
        case RC_CLOSE:
            /* A case opened before the log had case.opened (an older log)
             * closes too; one closed already does not close again. */
            if (!s->closed && mine && I->measure == CSPH_IND_CASE_EXITS &&
                outcome_wanted(cfg, I, x))
                fn(ctx, x->ms, 1, 0, x->seq);
            if (s->pending_due != NO_TIME && mine && I->measure == CSPH_IND_REVIEWS_ON_TIME)
                fn(ctx, s->pending_due, 0, 1, s->pending_seq); /* never recorded */
            s->open = 0;
            s->closed = 1;
            s->pending_due = NO_TIME;
            break;
        case RC_REVIEW_DUE:
            if (s->pending_due == NO_TIME && x->due_ms != NO_TIME) {
                s->pending_due = x->due_ms;
                s->pending_seq = x->seq;
            }
            break;
        case RC_REVIEW:
            if (s->closed)
                break;
            if (mine && I->measure == CSPH_IND_REVIEWS_ON_TIME) {
                if (s->pending_due != NO_TIME)
                    fn(ctx, s->pending_due,
                       hub_panelcfg_london_day(x->ms) <= hub_panelcfg_london_day(s->pending_due), 1,
                       x->seq);
                else /* before it fell due */
                    fn(ctx, x->ms, 1, 1, x->seq);
            }
            s->pending_due = NO_TIME;
            break;
        }
    }
    /* Reviews still pending at the report's seq: fell due, not recorded. */
    if (!rc && I->measure == CSPH_IND_REVIEWS_ON_TIME)
        for (size_t j = 0; j < t.cap; j++)
            if (t.v[j].used && t.v[j].pending_due != NO_TIME && t.v[j].pending_due <= asof_ms &&
                (I->panel < 0 || t.v[j].panel == I->panel))
                fn(ctx, t.v[j].pending_due, 0, 1, t.v[j].pending_seq);
    free(t.v);
    return rc;
}
