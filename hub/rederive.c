#include "rederive.h"

#include <stdlib.h>
#include <string.h>

#include "ingest.h"
#include "log.h"
#include "queues.h"
#include "rules.h"
#include "schema.h"
#include "store.h"

#define CHUNK 1000

struct run {
    struct csph_ingest *g;
    msgpack_zone zone;
    uint64_t events, in_txn;
    enum csph_err rc;
    struct csph_error err;
    FILE *out;
};

static int feed(void *ctx, const struct csph_stored_event *ev)
{
    struct run *r = ctx;
    msgpack_object obj;
    size_t off = 0;
    struct csph_event_info info;
    struct csph_error why;
    msgpack_zone_clear(&r->zone);
    if (msgpack_unpack(ev->bytes, ev->len, &off, &r->zone, &obj) != MSGPACK_UNPACK_SUCCESS ||
        csph_schema_check(r->g->schemas, &obj, 0, &info, &why) != CSPH_ERR_OK) {
        fprintf(r->out, "event seq %llu no longer passes its schema: %s\n",
                (unsigned long long)ev->seq, why.message);
        r->rc = CSPH_ERR_BAD_EVENT;
        return 1;
    }
    info.source = ev->source; /* as stored: curve mode stamps it */
    info.source_len = (uint32_t)ev->source_len;
    if (r->in_txn == 0 && (r->rc = csph_ingest_begin(r->g, &r->err)))
        return 1;
    uint64_t seq;
    int dup;
    r->rc = csph_ingest_event(r->g, &info, &obj, ev->bytes, ev->len, ev->received_ms, &seq, &dup,
                              &r->err);
    if (r->rc == CSPH_ERR_OK && (dup || seq != ev->seq)) {
        fprintf(r->out, "event seq %llu re-derived as %s seq %llu: the log is not gap-free\n",
                (unsigned long long)ev->seq, dup ? "a duplicate of" : "", (unsigned long long)seq);
        r->rc = CSPH_ERR_INTERNAL;
    }
    if (r->rc) {
        csph_ingest_abort(r->g);
        r->in_txn = 0;
        return 1;
    }
    r->events++;
    if (++r->in_txn == CHUNK) {
        r->in_txn = 0;
        if ((r->rc = csph_ingest_commit(r->g, &r->err)))
            return 1;
    }
    return 0;
}

struct alert_copy {
    uint64_t id;
    void *bytes;
    size_t len;
};

struct collect {
    struct alert_copy *v;
    size_t n, cap;
};

static int collect_one(void *ctx, uint64_t id, const void *bytes, size_t len)
{
    struct collect *c = ctx;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        struct alert_copy *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return 1;
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n].id = id;
    c->v[c->n].bytes = malloc(len);
    memcpy(c->v[c->n].bytes, bytes, len);
    c->v[c->n].len = len;
    c->n++;
    return 0;
}

static void collect_free(struct collect *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].bytes);
    free(c->v);
}

static void print_alert(FILE *out, const char *label, const struct alert_copy *a)
{
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    msgpack_zone_init(&z, 1024);
    fprintf(out, "  %s: ", label);
    if (a && msgpack_unpack(a->bytes, a->len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS)
        msgpack_object_print(out, o);
    else
        fprintf(out, "(none)");
    fprintf(out, "\n");
    msgpack_zone_destroy(&z);
}

int csph_rederive(const struct csph_config *cfg, const char *from_dir, FILE *out)
{
    struct csph_error err = {0};
    struct csph_store *src = NULL, *dst = NULL;
    struct csph_queues *src_q = NULL, *dst_q = NULL;
    struct csph_schemas *schemas = NULL;
    struct csph_rules *rules = NULL;
    struct csph_ingest g;
    struct collect a = {0}, b = {0};
    int status = 2, have_ingest = 0;
    const char *names[CSPH_MAX_PANELS];
    for (size_t i = 0; i < cfg->npanels; i++)
        names[i] = cfg->panels[i].name;
    if (csph_store_open_readonly(&src, from_dir, &err) ||
        csph_queues_open(&src_q, csph_store_env(src), cfg, &err) ||
        csph_schemas_load(&schemas, cfg->schemas_dir, names, cfg->npanels, &err) ||
        (cfg->rules_file[0] &&
         csph_rules_load(&rules, cfg->rules_file, cfg->panels, cfg->npanels, schemas, &err)) ||
        csph_store_open(&dst, cfg->data_dir, cfg->limits.map_size, &err) ||
        csph_queues_open(&dst_q, csph_store_env(dst), cfg, &err)) {
        fprintf(out, "cannot re-derive: %s\n", err.message);
        goto done;
    }
    if (csph_store_last_seq(dst) != 0) {
        fprintf(out, "cannot re-derive into %s: it already holds a log; give an empty directory\n",
                cfg->data_dir);
        goto done;
    }
    csph_ingest_init(&g, cfg, dst, schemas, rules, dst_q);
    have_ingest = 1;
    struct run r = {.g = &g, .out = out};
    msgpack_zone_init(&r.zone, 8192);
    uint64_t after = 0, last;
    int end = 0;
    while (!end && r.rc == CSPH_ERR_OK) {
        if (csph_store_scan(src, after, 0, 100000, feed, &r, &last, &end, &err))
            break;
        if (r.rc == CSPH_ERR_OK && last == after)
            break;
        after = last;
    }
    if (r.rc == CSPH_ERR_OK && r.in_txn)
        r.rc = csph_ingest_commit(&g, &r.err);
    msgpack_zone_destroy(&r.zone);
    if (r.rc) {
        fprintf(out, "re-derivation stopped at event %llu: %s\n",
                (unsigned long long)r.events + 1, r.err.message);
        goto done;
    }
    csph_queues_each(src_q, collect_one, &a, &err);
    csph_queues_each(dst_q, collect_one, &b, &err);
    size_t same = 0, n = a.n > b.n ? a.n : b.n;
    status = 0;
    for (size_t i = 0; i < n; i++) {
        const struct alert_copy *x = i < a.n ? &a.v[i] : NULL, *y = i < b.n ? &b.v[i] : NULL;
        if (x && y && x->len == y->len && memcmp(x->bytes, y->bytes, x->len) == 0) {
            same++;
            continue;
        }
        if (status == 0) {
            fprintf(out, "alert %llu differs:\n", (unsigned long long)(x ? x->id : y->id));
            print_alert(out, "hub       ", x);
            print_alert(out, "re-derived", y);
        }
        status = 1;
    }
    fprintf(out,
            "re-derived %llu events through rules %s: %zu alerts in the hub, %zu re-derived, "
            "%zu identical%s\n",
            (unsigned long long)r.events, rules ? csph_rules_digest(rules) : "none", a.n, b.n,
            same, status ? " -- MISMATCH" : "");
done:
    if (have_ingest)
        csph_ingest_fini(&g);
    collect_free(&a);
    collect_free(&b);
    csph_queues_close(&dst_q);
    csph_queues_close(&src_q);
    csph_store_close(&dst);
    csph_store_close(&src);
    csph_rules_destroy(&rules);
    csph_schemas_destroy(&schemas);
    return status;
}
