#define _GNU_SOURCE /* memmem */
#include "access.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csphub.h"
#include "mpx.h"
#include "schema.h"
#include "timefmt.h"
#include "wire.h"

void hub_u64set_add(struct hub_u64set *s, uint64_t x)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        uint64_t *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->nomem = 1;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void hub_u64set_finish(struct hub_u64set *s)
{
    if (!s->n)
        return;
    qsort(s->v, s->n, sizeof *s->v, cmp_u64);
    size_t w = 1;
    for (size_t i = 1; i < s->n; i++)
        if (s->v[i] != s->v[w - 1])
            s->v[w++] = s->v[i];
    s->n = w;
}

void hub_u64set_free(struct hub_u64set *s)
{
    free(s->v);
    memset(s, 0, sizeof *s);
}

/* ---- what a reply returned ----------------------------------------------- */

static void take_field(const msgpack_object *item, const char *key, struct hub_u64set *to)
{
    if (item->type != MSGPACK_OBJECT_MAP)
        return;
    const msgpack_object *v = hub_mp_get(item, key);
    if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        hub_u64set_add(to, v->via.u64);
}

static void take_list(const msgpack_object *list, const char *key, struct hub_u64set *to)
{
    if (!list || list->type != MSGPACK_OBJECT_ARRAY)
        return;
    for (uint32_t i = 0; i < list->via.array.size; i++)
        take_field(&list->via.array.ptr[i], key, to);
}

int hub_access_collect(const void *reply, size_t len, struct hub_u64set *events,
                       struct hub_u64set *alerts)
{
    msgpack_zone zone;
    msgpack_object root;
    size_t off = 0;
    msgpack_zone_init(&zone, 4096);
    int rc = -1;
    if (msgpack_unpack(reply, len, &off, &zone, &root) == MSGPACK_UNPACK_SUCCESS &&
        root.type == MSGPACK_OBJECT_MAP) {
        /* The shapes of the audited replies (PROTOCOL.md 5, 6): events and
         * decisions are log records by seq; alerts by id. */
        take_list(hub_mp_get(&root, "events"), "seq", events);
        take_list(hub_mp_get(&root, "decisions"), "seq", events);
        take_list(hub_mp_get(&root, "alerts"), "id", alerts);
        const msgpack_object *a = hub_mp_get(&root, "alert");
        if (a)
            take_field(a, "id", alerts);
        rc = 0;
    }
    msgpack_zone_destroy(&zone);
    hub_u64set_finish(events);
    hub_u64set_finish(alerts);
    return rc;
}

/* ---- ranges -------------------------------------------------------------- */

void hub_access_ranges(const struct hub_u64set *s, size_t *from, size_t max, msgpack_sbuffer *out)
{
    size_t i = *from, start = out->size;
    while (i < s->n) {
        size_t j = i;
        while (j + 1 < s->n && s->v[j + 1] == s->v[j] + 1)
            j++;
        char buf[48];
        int n = j > i ? snprintf(buf, sizeof buf, "%s%" PRIu64 "-%" PRIu64,
                                 out->size > start ? "," : "", s->v[i], s->v[j])
                      : snprintf(buf, sizeof buf, "%s%" PRIu64, out->size > start ? "," : "",
                                 s->v[i]);
        if (out->size > start && out->size - start + (size_t)n > max)
            break;
        msgpack_sbuffer_write(out, buf, (size_t)n);
        i = j + 1;
    }
    *from = i;
}

static int parse_u64(const char **p, const char *end, uint64_t *v)
{
    uint64_t x = 0;
    const char *s = *p;
    while (*p < end && **p >= '0' && **p <= '9') {
        if (x > (UINT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (uint64_t)(**p - '0');
        (*p)++;
    }
    *v = x;
    return *p > s ? 0 : -1;
}

int hub_access_parse(const char *text, size_t len, int (*fn)(void *ctx, uint64_t v), void *ctx)
{
    const char *p = text, *end = text + len;
    while (p < end) {
        uint64_t a, b;
        if (parse_u64(&p, end, &a))
            return -1;
        b = a;
        if (p < end && *p == '-') {
            p++;
            if (parse_u64(&p, end, &b) || b < a || b - a >= 10000000)
                return -1;
        }
        if (p < end && *p++ != ',')
            return -1;
        if (p == end && end[-1] == ',')
            return -1;
        for (uint64_t x = a;; x++) {
            int r = fn(ctx, x);
            if (r)
                return r;
            if (x == b)
                break;
        }
    }
    return 0;
}

/* ---- the audit.returned events ------------------------------------------- */

enum hub_err hub_access_audit(struct hub_ingest *g, const struct hub_identity *who,
                              const char *op, const void *body, size_t body_len, int failed,
                              uint32_t count, const void *reply, size_t len, int64_t now_ms,
                              struct hub_error *err)
{
    /* The query as the client sent it, minus nothing: filters are what an
     * auditor of the auditors needs to see. */
    char *query = NULL;
    uint64_t access = hub_store_next_seq(g->store);
    if (csph_msgpack_to_json(body, body_len, 0, &query) != 0)
        query = NULL;
    enum hub_err rc = hub_ingest_audit(g, who->name, hub_role_name(who->role),
                                       who->gateway[0] ? who->gateway : NULL, op,
                                       query ? query : "", query ? strlen(query) : 0,
                                       failed ? 0 : count, now_ms, err);
    free(query);
    if (rc == CSPH_ERR_OK && !failed)
        rc = hub_access_record(g, access, reply, len, now_ms, err);
    return rc;
}

enum hub_err hub_access_record(struct hub_ingest *g, uint64_t access, const void *reply,
                               size_t len, int64_t now_ms, struct hub_error *err)
{
    struct hub_u64set ev = {0}, al = {0};
    enum hub_err rc = CSPH_ERR_OK;
    hub_access_collect(reply, len, &ev, &al);
    if (ev.nomem || al.nomem)
        rc = hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "out of memory recording a read");
    size_t ei = 0, ai = 0;
    msgpack_sbuffer sb, es, as;
    msgpack_sbuffer_init(&sb);
    msgpack_sbuffer_init(&es);
    msgpack_sbuffer_init(&as);
    /* One event while the ranges fit; more when a long filtered replay
     * returned scattered seqs. */
    for (int part = 1; rc == CSPH_ERR_OK && (ei < ev.n || ai < al.n); part++) {
        es.size = as.size = sb.size = 0;
        hub_access_ranges(&ev, &ei, CSPH_ACCESS_TEXT_MAX, &es);
        if (es.size < CSPH_ACCESS_TEXT_MAX / 2)
            hub_access_ranges(&al, &ai, CSPH_ACCESS_TEXT_MAX - es.size, &as);
        char id[64], when[40];
        snprintf(id, sizeof id, "returned-%" PRIu64 "-%d", access, part);
        int wl = csph_time_format(now_ms, when);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 5 + (es.size ? 1 : 0) + (as.size ? 1 : 0));
        hub_pack_str(&pk, "id");
        hub_pack_str(&pk, id);
        hub_pack_str(&pk, "type");
        hub_pack_str(&pk, CSPH_ACCESS_TYPE);
        hub_pack_str(&pk, "source");
        hub_pack_str(&pk, CSPH_HUB_SOURCE);
        hub_pack_str(&pk, "occurred_at");
        hub_pack_strn(&pk, when, (size_t)wl);
        hub_pack_str(&pk, "access");
        msgpack_pack_uint64(&pk, access);
        if (es.size) {
            hub_pack_str(&pk, "events");
            hub_pack_strn(&pk, es.data, es.size);
        }
        if (as.size) {
            hub_pack_str(&pk, "alerts");
            hub_pack_strn(&pk, as.data, as.size);
        }
        uint64_t seq;
        rc = hub_ingest_own_event(g, sb.data, sb.size, now_ms, &seq, err);
    }
    msgpack_sbuffer_destroy(&sb);
    msgpack_sbuffer_destroy(&es);
    msgpack_sbuffer_destroy(&as);
    hub_u64set_free(&ev);
    hub_u64set_free(&al);
    return rc;
}

struct index_ctx {
    struct hub_store *s;
    char kind;
    int64_t occurred_ms;
    uint64_t access;
    enum hub_err rc;
    struct hub_error *err;
};

static int index_one(void *vctx, uint64_t v)
{
    struct index_ctx *c = vctx;
    char ref[24];
    int n = snprintf(ref, sizeof ref, "%" PRIu64, v);
    c->rc = hub_store_index_ref(c->s, c->kind, ref, (size_t)n, c->occurred_ms, c->access, c->err);
    return c->rc != CSPH_ERR_OK;
}

/* The person references a query names: the values of its ref, person and
 * key (the ops that take a person: person, alerts, replay, case ops). */
static enum hub_err index_query(struct hub_store *s, const msgpack_object *obj,
                                int64_t occurred_ms, uint64_t seq, struct hub_error *err)
{
    const msgpack_object *q = hub_mp_get(obj, "query");
    if (!q || q->type != MSGPACK_OBJECT_STR)
        return CSPH_ERR_OK;
    static const char *const keys[] = {"\"ref\":\"", "\"person\":\"", "\"key\":\""};
    const char *text = q->via.str.ptr, *end = text + q->via.str.size;
    enum hub_err rc = CSPH_ERR_OK;
    for (size_t i = 0; i < sizeof keys / sizeof *keys && !rc; i++) {
        size_t kl = strlen(keys[i]);
        for (const char *p = text; p < end && !rc;) {
            const char *hit = memmem(p, (size_t)(end - p), keys[i], kl);
            if (!hit)
                break;
            const char *v = hit + kl, *ve = memchr(v, '"', (size_t)(end - v));
            if (!ve)
                break;
            if (csph_ref_valid(v, (size_t)(ve - v)))
                rc = hub_store_index_ref(s, CSPH_REF_QUERY, v, (size_t)(ve - v), occurred_ms,
                                         seq, err);
            p = ve;
        }
    }
    return rc;
}

enum hub_err hub_access_index(struct hub_store *s, const char *type, const msgpack_object *obj,
                              int64_t occurred_ms, uint64_t seq, struct hub_error *err)
{
    if (!type || strncmp(type, "audit.", 6) != 0)
        return CSPH_ERR_OK; /* every event passes here: the cheap test first */
    if (strcmp(type, "audit.access") == 0)
        return index_query(s, obj, occurred_ms, seq, err);
    if (strcmp(type, CSPH_ACCESS_TYPE) != 0)
        return CSPH_ERR_OK;
    const msgpack_object *a = hub_mp_get(obj, "access");
    if (!a || a->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return CSPH_ERR_OK; /* the schema requires it: nothing to index by */
    struct index_ctx c = {s, CSPH_REF_READ_EVENT, occurred_ms, a->via.u64, CSPH_ERR_OK, err};
    const msgpack_object *t = hub_mp_get(obj, "events");
    if (t && t->type == MSGPACK_OBJECT_STR)
        hub_access_parse(t->via.str.ptr, t->via.str.size, index_one, &c);
    c.kind = CSPH_REF_READ_ALERT;
    t = hub_mp_get(obj, "alerts");
    if (c.rc == CSPH_ERR_OK && t && t->type == MSGPACK_OBJECT_STR)
        hub_access_parse(t->via.str.ptr, t->via.str.size, index_one, &c);
    return c.rc;
}

static int ref_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

int hub_access_redact_query(const void *bytes, size_t n, const char *person, size_t len,
                            const char *with, msgpack_sbuffer *out, int *replaced)
{
    msgpack_zone zone;
    msgpack_object obj;
    size_t off = 0;
    *replaced = 0;
    msgpack_zone_init(&zone, 2048);
    if (msgpack_unpack(bytes, n, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS ||
        obj.type != MSGPACK_OBJECT_MAP) {
        msgpack_zone_destroy(&zone);
        return -1;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, obj.via.map.size);
    msgpack_sbuffer q;
    msgpack_sbuffer_init(&q);
    for (uint32_t i = 0; i < obj.via.map.size; i++) {
        const msgpack_object *k = &obj.via.map.ptr[i].key, *v = &obj.via.map.ptr[i].val;
        msgpack_pack_object(&pk, *k);
        if (!hub_mp_str_eq(k, "query") || v->type != MSGPACK_OBJECT_STR) {
            msgpack_pack_object(&pk, *v);
            continue;
        }
        /* Whole references only: P-1 is not erased out of P-10. */
        const char *t = v->via.str.ptr, *end = t + v->via.str.size;
        q.size = 0;
        for (const char *c = t; c < end;) {
            if ((size_t)(end - c) >= len && memcmp(c, person, len) == 0 &&
                (c == t || !ref_char(c[-1])) && (c + len == end || !ref_char(c[len]))) {
                msgpack_sbuffer_write(&q, with, strlen(with));
                c += len;
                (*replaced)++;
            } else {
                msgpack_sbuffer_write(&q, c++, 1);
            }
        }
        hub_pack_strn(&pk, q.data ? q.data : "", q.size);
    }
    msgpack_sbuffer_destroy(&q);
    msgpack_zone_destroy(&zone);
    return 0;
}
