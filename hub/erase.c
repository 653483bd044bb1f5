#define _GNU_SOURCE /* memmem */
#include "erase.h"

#include <inttypes.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "alertredact.h"
#include "hold.h"
#include "restrict.h"
#include "ingest.h"
#include "log.h"
#include "mpx.h"
#include "redo.h"
#include "register.h"
#include "reply.h"
#include "timefmt.h"

/* ---- a record line ------------------------------------------------------- */

static void put_hex(msgpack_sbuffer *sb, const unsigned char *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    char buf[128];
    for (size_t i = 0; i < n; i++) {
        buf[2 * i] = digits[p[i] >> 4];
        buf[2 * i + 1] = digits[p[i] & 15];
    }
    msgpack_sbuffer_write(sb, buf, 2 * n);
}

/* '%', space and control bytes escaped, so a line splits on spaces. */
static void put_escaped(msgpack_sbuffer *sb, const char *s)
{
    char buf[4];
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= 0x20 || c == '%' || c == 0x7f) {
            snprintf(buf, sizeof buf, "%%%02X", c);
            msgpack_sbuffer_write(sb, buf, 3);
        } else {
            msgpack_sbuffer_write(sb, s, 1);
        }
    }
}

void hub_erase_record_format(msgpack_sbuffer *sb, const struct hub_erase_record *r)
{
    char head[80];
    int n = snprintf(head, sizeof head, "%" PRIu64 " %" PRId64 " %" PRId64 " ", r->seq,
                     r->received_ms, r->occurred_ms);
    msgpack_sbuffer_write(sb, head, (size_t)n);
    put_hex(sb, r->link, 16);
    msgpack_sbuffer_write(sb, " ", 1);
    put_hex(sb, r->removed, 32);
    msgpack_sbuffer_write(sb, " ", 1);
    put_hex(sb, r->kept, 32);
    msgpack_sbuffer_write(sb, " ", 1);
    put_escaped(sb, r->type);
    msgpack_sbuffer_write(sb, " ", 1);
    put_escaped(sb, r->source);
    msgpack_sbuffer_write(sb, "\n", 1);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int get_hex(const char **p, const char *end, unsigned char *out, size_t n)
{
    if ((size_t)(end - *p) < 2 * n)
        return -1;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval((*p)[2 * i]), lo = hexval((*p)[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    *p += 2 * n;
    return 0;
}

static int get_escaped(const char **p, const char *end, char *out, size_t cap)
{
    size_t n = 0;
    while (*p < end && **p != ' ' && **p != '\n') {
        char c = **p;
        if (c == '%') {
            unsigned char v;
            const char *q = *p + 1;
            char up[2];
            if (end - q < 2)
                return -1;
            for (int i = 0; i < 2; i++) /* written upper-case: read either */
                up[i] = (char)(q[i] >= 'A' && q[i] <= 'F' ? q[i] - 'A' + 'a' : q[i]);
            const char *u = up;
            if (get_hex(&u, up + 2, &v, 1))
                return -1;
            c = (char)v;
            *p += 3;
        } else {
            (*p)++;
        }
        if (n + 1 >= cap)
            return -1;
        out[n++] = c;
    }
    out[n] = 0;
    return n ? 0 : -1;
}

static int get_int(const char **p, const char *end, int64_t *v, int is_signed)
{
    char buf[24];
    size_t n = 0;
    while (*p < end && **p != ' ' && n < sizeof buf - 1)
        buf[n++] = *(*p)++;
    buf[n] = 0;
    if (!n)
        return -1;
    char *e;
    if (is_signed)
        *v = strtoll(buf, &e, 10);
    else
        *v = (int64_t)strtoull(buf, &e, 10);
    return *e ? -1 : 0;
}

static int space(const char **p, const char *end)
{
    if (*p >= end || **p != ' ')
        return -1;
    (*p)++;
    return 0;
}

static int parse_line(const char *p, const char *end, struct hub_erase_record *r)
{
    int64_t seq;
    if (get_int(&p, end, &seq, 0) || space(&p, end) ||
        get_int(&p, end, &r->received_ms, 1) || space(&p, end) ||
        get_int(&p, end, &r->occurred_ms, 1) || space(&p, end) ||
        get_hex(&p, end, r->link, 16) || space(&p, end) || get_hex(&p, end, r->removed, 32) ||
        space(&p, end) || get_hex(&p, end, r->kept, 32) || space(&p, end) ||
        get_escaped(&p, end, r->type, sizeof r->type) || space(&p, end) ||
        get_escaped(&p, end, r->source, sizeof r->source) || p != end)
        return -1;
    r->seq = (uint64_t)seq;
    return 0;
}

int hub_erase_record_find(const char *text, size_t len, uint64_t seq,
                          struct hub_erase_record *r)
{
    char want[24];
    int wn = snprintf(want, sizeof want, "%" PRIu64 " ", seq);
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = nl ? nl : end;
        if (line_end - p > wn && memcmp(p, want, (size_t)wn) == 0)
            return parse_line(p, line_end, r);
        p = nl ? nl + 1 : end;
    }
    return -1;
}

/* ---- the rewritten event ------------------------------------------------- */

static int is_common(const char *k, size_t n)
{
    static const char *const keep[] = {"id", "type", "occurred_at", "source"};
    for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
        if (strlen(keep[i]) == n && memcmp(keep[i], k, n) == 0)
            return 1;
    return 0;
}

/* The key and value of the pair at buf[*off]: their bytes [start, *off). */
struct pair {
    size_t start, end;
    msgpack_object key, val;
};

/* text (n bytes) with each whole reference person (hub_alert_names_at)
 * replaced by "[erased]": malloc'd (free it), *out_len its length; NULL
 * when out of memory. */
static char *text_redact(const char *t, size_t n, const char *person, size_t len,
                         size_t *out_len)
{
    static const char with[] = "[erased]";
    size_t wl = sizeof with - 1, used = 0, from = 0, hit;
    char *out = malloc(n + (n / len + 1) * wl + 1);
    if (!out)
        return NULL;
    while ((hit = hub_alert_names_at(t, n, from, person, len)) < n) {
        memcpy(out + used, t + from, hit - from);
        used += hit - from;
        memcpy(out + used, with, wl);
        used += wl;
        from = hit + len;
    }
    memcpy(out + used, t + from, n - from);
    used += n - from;
    *out_len = used;
    return out;
}

int hub_erase_redact(const struct hub_schemas *s, int type_index, const void *bytes, size_t n,
                     const char *person, size_t len, msgpack_sbuffer *out, int *others)
{
    const char *buf = bytes;
    size_t off = 0;
    uint32_t count;
    *others = 0;
    if (hub_mp_header(buf, n, &off, 1, &count))
        return -1;
    struct pair *pairs = calloc(count ? count : 1, sizeof *pairs);
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    int rc = 0;
    for (uint32_t i = 0; i < count && rc == 0; i++) {
        struct pair *pr = &pairs[i];
        pr->start = off;
        size_t koff = off;
        if (hub_mp_check(buf, n, &off, 8) ||
            msgpack_unpack(buf, off, &koff, &zone, &pr->key) != MSGPACK_UNPACK_SUCCESS) {
            rc = -1;
            break;
        }
        size_t voff = off;
        if (hub_mp_check(buf, n, &off, 32) ||
            msgpack_unpack(buf, off, &voff, &zone, &pr->val) != MSGPACK_UNPACK_SUCCESS)
            rc = -1;
        pr->end = off;
    }
    /* Which pairs go: the person's own fields; then, when nobody else is
     * named, everything but the common fields. */
    uint32_t kept = 0;
    char *drop = calloc(count ? count : 1, 1);
    /* A field of kind json (an agenda) that names the person is rewritten
     * with its strings naming them replaced, not removed: what it says of
     * others stays (hub_schema_json_redact). */
    char **repl = calloc(count ? count : 1, sizeof *repl);
    size_t *repl_len = calloc(count ? count : 1, sizeof *repl_len);
    if (!drop || !repl || !repl_len)
        rc = -1;
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        const msgpack_object *k = &pairs[i].key;
        if (k->type != MSGPACK_OBJECT_STR ||
            !hub_schema_person_field(s, type_index, k->via.str.ptr, k->via.str.size))
            continue;
        if (person && pairs[i].val.type == MSGPACK_OBJECT_STR &&
            hub_schema_json_field(s, type_index, k->via.str.ptr, k->via.str.size) &&
            hub_schema_field_names(s, type_index, k->via.str.ptr, k->via.str.size,
                                   &pairs[i].val, person, len) &&
            (repl[i] = hub_schema_json_redact(pairs[i].val.via.str.ptr,
                                              pairs[i].val.via.str.size, person, len,
                                              "[erased]", &repl_len[i])) != NULL)
            (*others)++;
        else if (!person || hub_schema_field_names(s, type_index, k->via.str.ptr,
                                                   k->via.str.size, &pairs[i].val, person,
                                                   len)) /* NULL: everyone */
            drop[i] = 1;
        else
            (*others)++;
    }
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        const msgpack_object *k = &pairs[i].key;
        if (!*others && !(k->type == MSGPACK_OBJECT_STR && is_common(k->via.str.ptr, k->via.str.size)))
            drop[i] = 1;
        kept += !drop[i];
        /* Free text that stays (a summary, a note) loses the person's
         * reference where it was typed in: "[erased]" in its place. */
        const msgpack_object *v = &pairs[i].val;
        if (person && !drop[i] && !repl[i] && k->type == MSGPACK_OBJECT_STR &&
            v->type == MSGPACK_OBJECT_STR && !is_common(k->via.str.ptr, k->via.str.size) &&
            hub_schema_text_field(s, type_index, k->via.str.ptr, k->via.str.size) &&
            hub_alert_names(v->via.str.ptr, v->via.str.size, person, len) &&
            !(repl[i] = text_redact(v->via.str.ptr, v->via.str.size, person, len, &repl_len[i])))
            rc = -1;
    }
    if (rc == 0) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
        msgpack_pack_map(&pk, kept);
        for (uint32_t i = 0; i < count; i++) {
            if (drop[i])
                continue;
            if (!repl[i]) {
                msgpack_sbuffer_write(out, buf + pairs[i].start, pairs[i].end - pairs[i].start);
                continue;
            }
            msgpack_pack_object(&pk, pairs[i].key);
            msgpack_pack_str_with_body(&pk, repl[i], repl_len[i]);
        }
    }
    for (uint32_t i = 0; repl && i < count; i++)
        free(repl[i]);
    free(repl);
    free(repl_len);
    free(drop);
    free(pairs);
    msgpack_zone_destroy(&zone);
    return rc;
}

/* ---- the verify oracle --------------------------------------------------- */

static int span_eq(const char *a, size_t an, const char *b)
{
    return strlen(b) == an && memcmp(a, b, an) == 0;
}

int hub_erase_verify_redacted(void *ctx, const struct hub_stored_event *ev,
                              const unsigned char link[16], const unsigned char kept[32],
                              const struct hub_stored_event *erasure)
{
    (void)ctx;
    /* Retention hook (sweep.h): a sweep's dp.retention event lists the
     * bodies it removed in the same lines, with no `request`. */
    int retention = span_eq(erasure->type, erasure->type_len, CSPH_RETENTION_TYPE);
    if ((!retention && !span_eq(erasure->type, erasure->type_len, CSPH_ERASE_TYPE)) ||
        !span_eq(erasure->source, erasure->source_len, CSPH_HUB_SOURCE))
        return 0;
    msgpack_zone zone;
    msgpack_object obj;
    size_t off = 0;
    int ok = 0;
    msgpack_zone_init(&zone, 4096);
    if (msgpack_unpack(erasure->bytes, erasure->len, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS &&
        obj.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *req = hub_mp_get(&obj, "request"),
                             *recs = hub_mp_get(&obj, "records");
        struct hub_erase_record r;
        if ((retention || hub_mp_str_eq(req, "erase")) && recs && recs->type == MSGPACK_OBJECT_STR &&
            hub_erase_record_find(recs->via.str.ptr, recs->via.str.size, ev->seq, &r) == 0)
            ok = r.received_ms == ev->received_ms && r.occurred_ms == ev->occurred_ms &&
                 memcmp(r.link, link, 16) == 0 && memcmp(r.kept, kept, 32) == 0 &&
                 span_eq(ev->type, ev->type_len, r.type) &&
                 span_eq(ev->source, ev->source_len, r.source);
    }
    msgpack_zone_destroy(&zone);
    return ok;
}

int hub_erase_restricted(MDB_txn *txn, uint64_t seq)
{
    MDB_dbi dbi;
    MDB_val k = {8, &seq}, v;
    return mdb_dbi_open(txn, CSPH_ERASE_RESTRICTED_DB, MDB_INTEGERKEY, &dbi) == 0 &&
           mdb_get(txn, dbi, &k, &v) == 0;
}

uint64_t hub_erase_erased_by(struct hub_store *s, uint64_t seq)
{
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val k = {8, &seq}, v;
    uint64_t by = 0;
    if (!hub_store_env(s) || mdb_txn_begin(hub_store_env(s), NULL, MDB_RDONLY, &txn))
        return 0;
    if (mdb_dbi_open(txn, CSPH_STORE_ERASED_DB, MDB_INTEGERKEY, &dbi) == 0 &&
        mdb_get(txn, dbi, &k, &v) == 0 && v.mv_size == CSPH_STORE_ERASED_LEN)
        memcpy(&by, v.mv_data, 8);
    mdb_txn_abort(txn);
    return by;
}

int hub_erase_hidden(struct hub_store *s, const struct hub_identity *who, uint64_t seq)
{
    if (!who || who->role == CSPH_ROLE_DPO || who->role == CSPH_ROLE_AUDITOR)
        return 0;
    MDB_txn *txn;
    if (!hub_store_env(s) || mdb_txn_begin(hub_store_env(s), NULL, MDB_RDONLY, &txn))
        return 1; /* cannot tell: the safe answer */
    int hidden = hub_erase_restricted(txn, seq);
    mdb_txn_abort(txn);
    return hidden;
}

/* ---- the op -------------------------------------------------------------- */

struct seqs {
    uint64_t *v;
    size_t n, cap;
    int nomem;
};

static int collect(void *ctx, int64_t t, uint64_t seq)
{
    (void)t;
    struct seqs *s = ctx;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        uint64_t *v = realloc(s->v, cap * sizeof *v);
        if (!v) {
            s->nomem = 1;
            return 1;
        }
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = seq;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int hub_erase_copy_event(void *ctx, const struct hub_stored_event *ev)
{
    struct hub_erase_copied *c = ctx;
    c->received_ms = ev->received_ms;
    c->occurred_ms = ev->occurred_ms;
    snprintf(c->type, sizeof c->type, "%.*s", (int)ev->type_len, ev->type);
    snprintf(c->source, sizeof c->source, "%.*s", (int)ev->source_len, ev->source);
    c->bytes = malloc(ev->len ? ev->len : 1);
    if (c->bytes)
        memcpy(c->bytes, ev->bytes, ev->len);
    c->len = ev->len;
    return 0;
}

/* What the request asks for, checked. */
struct request {
    const char *person, *reason, *basis, *by;
    size_t person_len, reason_len, basis_len, by_len;
    int apply, restrict_only, lift; /* lift: end a restriction (restrict.h) */
    char by_buf[81];
};

static enum hub_err bool_arg(const struct hub_request *r, const char *key, int *out,
                             struct hub_error *e)
{
    const msgpack_object *o = hub_mp_get(&r->root, key);
    *out = 0;
    if (!o)
        return CSPH_ERR_OK;
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        return hub_error_set(e, CSPH_ERR_BAD_REQUEST, key, "'%s' must be true or false", key);
    *out = o->via.boolean;
    return CSPH_ERR_OK;
}

static int contains(const char *hay, size_t hn, const char *needle, size_t nn)
{
    return nn && hn >= nn && memmem(hay, hn, needle, nn) != NULL;
}

enum hub_err hub_erase_person_arg(const struct hub_request *r, const char **person,
                                  size_t *len, struct hub_error *e)
{
    enum hub_err rc = hub_wire_str(r, "person", 1, 64, 1, person, len, e);
    if (!rc && !csph_ref_valid(*person, *len))
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "person",
                           "'person' must be a person reference of 1-64 characters from "
                           "A-Z a-z 0-9 . _ : -");
    return rc;
}

static enum hub_err parse_request(const struct hub_req *q, struct request *rq,
                                  struct hub_error *e)
{
    const struct hub_request *r = q->r;
    memset(rq, 0, sizeof *rq);
    enum hub_err rc = hub_erase_person_arg(r, &rq->person, &rq->person_len, e);
    if (!rc)
        rc = hub_wire_str(r, "reason", 1, CSPH_ERASE_REASON_MAX, 1, &rq->reason,
                          &rq->reason_len, e);
    if (!rc && contains(rq->reason, rq->reason_len, rq->person, rq->person_len))
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "reason",
                           "'reason' names the person being erased; the reason is kept in "
                           "the log for good: describe the request without the reference");
    if (!rc)
        rc = bool_arg(r, "apply", &rq->apply, e);
    if (!rc)
        rc = bool_arg(r, "restrict", &rq->restrict_only, e);
    if (!rc)
        rc = bool_arg(r, "lift", &rq->lift, e);
    if (!rc && rq->lift && !rq->restrict_only)
        rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "lift",
                           "'lift' ends a restriction: it goes with restrict: true");
    if (!rc)
        rc = hub_wire_str(r, "basis", 1, 16, 0, &rq->basis, &rq->basis_len, e);
    if (!rc && !rq->basis) {
        rq->basis = rq->restrict_only ? "art18" : "art17";
        rq->basis_len = 5;
    }
    if (!rc) {
        /* Art. 17 is erasure, Art. 18 restriction; s.47 (DPA 2018 Part 3)
         * covers both (s.47(2): restrict where the data must be kept as
         * evidence). */
        int art17 = span_eq(rq->basis, rq->basis_len, "art17"),
            art18 = span_eq(rq->basis, rq->basis_len, "art18"),
            s47 = span_eq(rq->basis, rq->basis_len, "s47");
        if (!art17 && !art18 && !s47)
            rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "basis",
                               "'basis' must be art17 (UK GDPR Art. 17, erasure), art18 (Art. "
                               "18, restriction) or s47 (DPA 2018 s.47), not '%.*s'",
                               (int)rq->basis_len, rq->basis);
        else if (art17 && rq->restrict_only)
            rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "basis",
                               "a restriction's basis is art18 or s47; art17 is erasure");
        else if (art18 && !rq->restrict_only)
            rc = hub_error_set(e, CSPH_ERR_BAD_REQUEST, "basis",
                               "an erasure's basis is art17 or s47; art18 is restriction "
                               "(add restrict)");
    }
    if (!rc)
        rc = hub_dp_requester(q, rq->by_buf, e);
    rq->by = rq->by_buf;
    rq->by_len = strlen(rq->by_buf);
    return rc;
}

enum hub_err hub_dp_requester(const struct hub_req *q, char by[81], struct hub_error *e)
{
    if (q->who) {
        snprintf(by, 81, "%s", q->who->name);
        return CSPH_ERR_OK;
    }
    /* security none: nobody is authenticated; the command sends the OS
     * user it runs as, and that is what the log records. */
    const char *u = NULL;
    size_t n = 0;
    enum hub_err rc = hub_wire_str(q->r, "requested_by", 1, 64, 1, &u, &n, e);
    if (!rc)
        snprintf(by, 81, "os:%.*s", (int)n, u);
    return rc;
}

static void kv_str(msgpack_packer *pk, const char *k, const char *v, size_t n)
{
    hub_pack_str(pk, k);
    hub_pack_strn(pk, v, n);
}

static void kv_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
    hub_pack_str(pk, k);
    msgpack_pack_uint64(pk, v);
}

static const char *request_name(const struct request *rq)
{
    return rq->lift ? "lift" : rq->restrict_only ? "restrict" : "erase";
}

/* Append one dp.erasure event (part of parts) in the batch. */
static enum hub_err append_erasure(struct hub_ctx *h, const struct hub_req *q,
                                   const struct request *rq, size_t total, uint64_t rejections,
                                   size_t part, size_t parts, const msgpack_sbuffer *records,
                                   uint64_t *seq, struct hub_error *e)
{
    struct hub_store *st = hub_core_store(h->core);
    char id[48], when[40];
    snprintf(id, sizeof id, "erasure-%llu", (unsigned long long)hub_store_next_seq(st));
    int wl = csph_time_format(q->now_ms, when);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 13 + (part == 1 && rejections ? 1 : 0));
    kv_str(&pk, "id", id, strlen(id));
    kv_str(&pk, "type", CSPH_ERASE_TYPE, strlen(CSPH_ERASE_TYPE));
    kv_str(&pk, "occurred_at", when, (size_t)wl);
    kv_str(&pk, "source", CSPH_HUB_SOURCE, strlen(CSPH_HUB_SOURCE));
    kv_str(&pk, "request", request_name(rq), strlen(request_name(rq)));
    kv_str(&pk, "by", rq->by, rq->by_len);
    kv_str(&pk, "role", q->who ? hub_role_name(q->who->role) : "none",
           strlen(q->who ? hub_role_name(q->who->role) : "none"));
    kv_str(&pk, "basis", rq->basis, rq->basis_len);
    kv_str(&pk, "reason", rq->reason, rq->reason_len);
    kv_u64(&pk, "count", total);
    if (part == 1 && rejections)
        kv_u64(&pk, "rejections", rejections);
    kv_u64(&pk, "part", part);
    kv_u64(&pk, "parts", parts);
    kv_str(&pk, "records", records->data ? records->data : "", records->size);
    enum hub_err rc = hub_dp_append(h, q->now_ms, &sb, seq, e);
    msgpack_sbuffer_destroy(&sb);
    return rc;
}

enum hub_err hub_dp_append(struct hub_ctx *h, int64_t now_ms, const msgpack_sbuffer *sb,
                           uint64_t *seq, struct hub_error *e)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_object obj;
    size_t off = 0;
    struct hub_event_info info;
    struct hub_error why;
    enum hub_err rc;
    int dup = 0;
    if (msgpack_unpack(sb->data, sb->size, &off, &zone, &obj) != MSGPACK_UNPACK_SUCCESS)
        rc = hub_error_set(e, CSPH_ERR_INTERNAL, NULL, "the hub built a bad event");
    else if (hub_schema_check(h->schemas, &obj, 1, &info, &why)) {
        LOG_ERROR("erase", "the hub's own event breaks its schema (%s: %s); check schemas/",
                  why.field, why.message);
        rc = hub_error_set(e, CSPH_ERR_INTERNAL, NULL,
                           "the hub's own event breaks its schema: %s", why.message);
    } else {
        rc = hub_ingest_event(hub_core_ingest(h->core), &info, &obj, sb->data, sb->size,
                              now_ms, seq, &dup, e);
        if (rc == CSPH_ERR_OK && dup)
            rc = hub_error_set(e, CSPH_ERR_INTERNAL, NULL,
                               "the hub's event %.*s was taken for a duplicate",
                               (int)info.id_len, info.id);
    }
    msgpack_zone_destroy(&zone);
    /* The transaction is whole again only when the batch is dropped. */
    return rc && rc != CSPH_ERR_BUSY ? CSPH_ERR_INTERNAL : rc;
}

/* An audit.access record whose query named the person (access.h). */
static const char action_query[] = "query";

/* One planned change: the seq, its type, what happens to it. */
struct change {
    uint64_t seq;
    char type[65];
    const char *action; /* "remove", "redact", "restrict" or action_query */
    unsigned char removed[32];
};

static void reply_plan(msgpack_packer *pk, const struct hub_req *q, const struct request *rq,
                       const struct change *ch, size_t n, uint64_t rejections,
                       uint64_t alerts, const uint64_t *eseq, size_t parts)
{
    hub_reply_begin(pk, &q->r->req, 1, 6 + (parts ? 1 : 0));
    /* erase: redacted (alertredact.h); restrict, lift: the alerts naming
     * the person that other roles read withheld, or read again
     * (restrictview.h) */
    kv_u64(pk, "alerts", alerts);
    hub_pack_str(pk, "applied");
    if (rq->apply)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    kv_str(pk, "request", request_name(rq), strlen(request_name(rq)));
    kv_u64(pk, "count", n);
    kv_u64(pk, "rejections", rejections); /* kept rejections holding the reference */
    hub_pack_str(pk, "events");
    msgpack_pack_array(pk, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_map(pk, 3);
        kv_u64(pk, "seq", ch[i].seq);
        kv_str(pk, "type", ch[i].type, strlen(ch[i].type));
        kv_str(pk, "action", ch[i].action, strlen(ch[i].action));
    }
    if (parts) {
        hub_pack_str(pk, "erasures");
        msgpack_pack_array(pk, (uint32_t)parts);
        for (size_t i = 0; i < parts; i++)
            msgpack_pack_uint64(pk, eseq[i]);
    }
}

static enum hub_err digest(const void *p, size_t n, unsigned char out[32], struct hub_error *e)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    if (!EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL))
        return hub_error_set(e, CSPH_ERR_INTERNAL, NULL, "SHA-256 failed (OpenSSL)");
    memcpy(out, md, 32);
    return CSPH_ERR_OK;
}

static enum hub_err redact_alerts(struct hub_ctx *h, const struct request *rq,
                                  const struct change *ch, size_t n, uint64_t erasure,
                                  int do_it, uint64_t *alerts, struct hub_error *e)
{
    uint64_t *removed = malloc((n ? n : 1) * sizeof *removed), cases = 0;
    size_t nr = 0;
    if (!removed)
        return hub_error_set(e, CSPH_ERR_NOMEM, NULL, "out of memory erasing");
    for (size_t i = 0; i < n; i++) /* ch is in seq order (plan) */
        if (!strcmp(ch[i].action, "remove"))
            removed[nr++] = ch[i].seq;
    enum hub_err rc = hub_alert_redact_person(hub_core_queues(h->core), hub_core_store(h->core),
                                              h->cfg, rq->person, rq->person_len, removed, nr,
                                              erasure, do_it, alerts, &cases, e);
    free(removed);
    if (rc == CSPH_ERR_OK && do_it && (*alerts || cases))
        LOG_INFO("erase", "%llu alerts and %llu cases redacted by erasure seq %llu",
                 (unsigned long long)*alerts, (unsigned long long)cases,
                 (unsigned long long)erasure);
    return rc == CSPH_ERR_NOMEM ? CSPH_ERR_INTERNAL : rc;
}

/* The erase or restriction itself, once planned: rewrite (erase), append
 * the dp.erasure events, map each seq to its event. */
static enum hub_err apply(struct hub_ctx *h, const struct hub_req *q, const struct request *rq,
                          struct change *ch, size_t n, uint64_t *eseq, size_t parts,
                          uint64_t *rejections, uint64_t *alerts, struct hub_error *e)
{
    struct hub_store *st = hub_core_store(h->core);
    struct hub_redo *redo = hub_store_redo(st);
    enum hub_err rc = CSPH_ERR_OK;
    /* Kept rejections go whole: their bytes may not even parse, so they are
     * found by a byte search for the reference. */
    if (!rq->restrict_only &&
        hub_store_reject_drop_matching(st, rq->person, rq->person_len, 1, rejections, e))
        return CSPH_ERR_INTERNAL;
    msgpack_sbuffer records;
    msgpack_sbuffer_init(&records);
    for (size_t part = 0; part < parts && rc == CSPH_ERR_OK; part++) {
        size_t from = part * CSPH_ERASE_PER_EVENT,
               to = from + CSPH_ERASE_PER_EVENT < n ? from + CSPH_ERASE_PER_EVENT : n;
        records.size = 0;
        for (size_t i = from; i < to && rc == CSPH_ERR_OK; i++) {
            if (rq->restrict_only) {
                char line[24];
                int ln = snprintf(line, sizeof line, "%llu\n", (unsigned long long)ch[i].seq);
                msgpack_sbuffer_write(&records, line, (size_t)ln);
                continue;
            }
            struct hub_erase_copied c = {0};
            msgpack_sbuffer body;
            msgpack_sbuffer_init(&body);
            struct hub_erase_record r = {.seq = ch[i].seq};
            int others;
            char with[48];
            snprintf(with, sizeof with, "erasure-%llu",
                     (unsigned long long)hub_store_next_seq(st)); /* this part's dp.erasure */
            if ((rc = hub_store_batch_get(st, ch[i].seq, hub_erase_copy_event, &c, e)) == CSPH_ERR_OK) {
                if (!c.bytes)
                    rc = hub_error_set(e, CSPH_ERR_NOMEM, NULL, "out of memory erasing");
                else if (ch[i].action == action_query) /* hook: access.h */
                    rc = hub_access_redact_query(c.bytes, c.len, rq->person, rq->person_len,
                                                 with, &body, &others)
                             ? hub_error_set(e, CSPH_ERR_INTERNAL, NULL,
                                             "event seq %llu is not a map",
                                             (unsigned long long)r.seq)
                             : CSPH_ERR_OK;
                else if (hub_erase_redact(h->schemas, hub_schemas_find(h->schemas, c.type,
                                                                       strlen(c.type)),
                                          c.bytes, c.len, rq->person, rq->person_len, &body,
                                          &others))
                    rc = hub_error_set(e, CSPH_ERR_INTERNAL, NULL,
                                       "event seq %llu is not a map", (unsigned long long)r.seq);
            }
            if (rc == CSPH_ERR_OK && (rc = digest(c.bytes, c.len, r.removed, e)) == CSPH_ERR_OK)
                rc = hub_store_rewrite(st, r.seq, body.data, body.size, r.link, r.kept, e);
            if (rc == CSPH_ERR_OK) {
                r.received_ms = c.received_ms;
                r.occurred_ms = c.occurred_ms;
                snprintf(r.type, sizeof r.type, "%s", c.type);
                snprintf(r.source, sizeof r.source, "%s", c.source);
                memcpy(ch[i].removed, r.removed, 32);
                hub_erase_record_format(&records, &r);
            }
            free(c.bytes);
            msgpack_sbuffer_destroy(&body);
        }
        if (rc == CSPH_ERR_OK)
            rc = append_erasure(h, q, rq, n, *rejections, part + 1, parts, &records,
                                &eseq[part], e);
        MDB_dbi dbi;
        const char *db = rq->restrict_only ? CSPH_ERASE_RESTRICTED_DB : CSPH_STORE_ERASED_DB;
        if (rc == CSPH_ERR_OK && (rc = hub_store_dbi(st, db, MDB_INTEGERKEY, &dbi, e)))
            rc = CSPH_ERR_INTERNAL;
        for (size_t i = from; i < to && rc == CSPH_ERR_OK; i++) {
            unsigned char val[CSPH_STORE_ERASED_LEN];
            for (int b = 0; b < 8; b++)
                val[b] = (unsigned char)(eseq[part] >> (8 * b));
            memcpy(val + 8, ch[i].removed, 32);
            MDB_val k = {8, &ch[i].seq}, v = {rq->restrict_only ? 8 : CSPH_STORE_ERASED_LEN, val};
            int mrc = rq->lift ? hub_redo_del(redo, hub_store_txn(st), dbi, &k, NULL)
                               : hub_redo_put(redo, hub_store_txn(st), dbi, &k, &v, 0);
            if (mrc)
                rc = hub_error_set(e, mrc == MDB_MAP_FULL ? CSPH_ERR_BUSY : CSPH_ERR_INTERNAL,
                                   NULL, "recording the erasure of seq %llu: %s",
                                   (unsigned long long)ch[i].seq, mdb_strerror(mrc));
        }
    }
    msgpack_sbuffer_destroy(&records);
    /* hook (restrict.h): a restriction stands for what arrives later, until
     * lifted; an erasure ends it too (nothing of theirs is left). */
    if (rc == CSPH_ERR_OK)
        rc = rq->restrict_only && !rq->lift
                 ? hub_restrict_stand(st, rq->person, rq->person_len, eseq[0], e)
                 : hub_restrict_lift(st, rq->person, rq->person_len, e);
    /* The person leaves the person index (index.mdb; rebuilt from the
     * rewritten log it would not name them either). */
    if (rc == CSPH_ERR_OK && !rq->restrict_only &&
        (hub_store_drop_ref(st, CSPH_REF_PERSON, rq->person, rq->person_len, e) ||
         hub_store_drop_ref(st, CSPH_REF_QUERY, rq->person, rq->person_len, e)))
        rc = CSPH_ERR_INTERNAL;
    /* hook (alertredact.h): their alerts keep what is not theirs (panel,
     * rule, dates, evidence seqs, decisions); key values and reasons naming
     * them become "[erased by seq N]", and so do those raised on events
     * the erasure leaves naming nobody. */
    if (rc == CSPH_ERR_OK && !rq->restrict_only)
        rc = redact_alerts(h, rq, ch, n, eseq[0], 1, alerts, e);
    /* ... and out of the rule state at once: their windows stop counting
     * now, not at the next compaction's rebuild. */
    struct hub_rules *rules = hub_core_ingest(h->core)->rules;
    uint64_t forgot = 0;
    if (rc == CSPH_ERR_OK && !rq->restrict_only && rules)
        rc = hub_rules_forget(rules, hub_store_index_txn(st), rq->person, rq->person_len,
                              &forgot, e);
    return rc;
}

/* Plan: the events naming the person that the request still changes. */
static enum hub_err plan(struct hub_ctx *h, const struct request *rq, struct seqs *found,
                         struct change **out, size_t *nout, struct hub_error *e)
{
    struct hub_store *st = hub_core_store(h->core);
    enum hub_err rc = hub_store_batch_refs(st, CSPH_REF_PERSON, rq->person, rq->person_len,
                                           collect, found, e);
    if (rc)
        return rc;
    if (found->nomem)
        return hub_error_set(e, CSPH_ERR_NOMEM, NULL, "out of memory listing the events");
    if (found->n) /* qsort of NULL is undefined even for no elements */
        qsort(found->v, found->n, sizeof *found->v, cmp_u64);
    struct change *ch = calloc(found->n ? found->n : 1, sizeof *ch);
    if (!ch)
        return hub_error_set(e, CSPH_ERR_NOMEM, NULL, "out of memory listing the events");
    size_t n = 0;
    MDB_txn *txn = hub_store_txn(st);
    for (size_t i = 0; i < found->n && rc == CSPH_ERR_OK; i++) {
        if (i && found->v[i] == found->v[i - 1])
            continue; /* named in two fields */
        if (rq->restrict_only && !rq->lift && hub_erase_restricted(txn, found->v[i]))
            continue; /* restricted already */
        if (rq->lift && !hub_erase_restricted(txn, found->v[i]))
            continue; /* nothing to lift */
        struct hub_erase_copied c = {0};
        if ((rc = hub_store_batch_get(st, found->v[i], hub_erase_copy_event, &c, e)))
            break;
        ch[n].seq = found->v[i];
        snprintf(ch[n].type, sizeof ch[n].type, "%s", c.type);
        if (rq->restrict_only) {
            ch[n].action = rq->lift ? "lift" : "restrict";
        } else {
            msgpack_sbuffer body;
            msgpack_sbuffer_init(&body);
            int others = 0;
            if (c.bytes)
                hub_erase_redact(h->schemas, hub_schemas_find(h->schemas, c.type, strlen(c.type)),
                                 c.bytes, c.len, rq->person, rq->person_len, &body, &others);
            ch[n].action = others ? "redact" : "remove";
            msgpack_sbuffer_destroy(&body);
        }
        free(c.bytes);
        n++;
    }
    /* hook (access.h): the audit.access records whose query named the
     * person; rewritten with the reference replaced by the erasure's id. */
    struct seqs qs = {0};
    if (!rc && !rq->restrict_only)
        rc = hub_store_batch_refs(st, CSPH_REF_QUERY, rq->person, rq->person_len, collect, &qs,
                                  e);
    if (!rc && qs.nomem)
        rc = hub_error_set(e, CSPH_ERR_NOMEM, NULL, "out of memory listing the events");
    if (!rc && qs.n) {
        qsort(qs.v, qs.n, sizeof *qs.v, cmp_u64);
        struct change *more = realloc(ch, (n + qs.n) * sizeof *ch);
        if (!more)
            rc = hub_error_set(e, CSPH_ERR_NOMEM, NULL, "out of memory listing the events");
        else
            ch = more;
        for (size_t i = 0; !rc && i < qs.n; i++) {
            if (i && qs.v[i] == qs.v[i - 1])
                continue;
            memset(&ch[n], 0, sizeof ch[n]);
            ch[n].seq = qs.v[i];
            snprintf(ch[n].type, sizeof ch[n].type, "audit.access");
            ch[n++].action = action_query;
        }
    }
    free(qs.v);
    if (rc) {
        free(ch);
        return rc;
    }
    *out = ch;
    *nout = n;
    return CSPH_ERR_OK;
}

enum hub_err hub_op_erase(struct hub_ctx *h, struct hub_req *q)
{
    struct hub_error *e = &q->e;
    struct request rq;
    struct seqs found = {0};
    struct change *ch = NULL;
    uint64_t *eseq = NULL;
    size_t n = 0, parts = 0;
    uint64_t rejections = 0, alerts = 0;
    enum hub_err rc = parse_request(q, &rq, e);
    uint64_t held = rc ? 0 : hub_hold_seq(hub_store_txn(hub_core_store(h->core)), rq.person,
                                          rq.person_len);
    if (held && !rq.restrict_only)
        rc = hub_error_set(e, CSPH_ERR_CONFLICT, "person",
                           "person '%.*s' is under legal hold (dp.hold seq %llu): nothing of "
                           "theirs may be erased until it is released (csphub hold --release)",
                           (int)rq.person_len, rq.person, (unsigned long long)held);
    if (!rc)
        rc = plan(h, &rq, &found, &ch, &n, e);
    if (!rc && !rq.restrict_only &&
        hub_store_reject_drop_matching(hub_core_store(h->core), rq.person, rq.person_len, 0,
                                       &rejections, e))
        rc = CSPH_ERR_INTERNAL;
    if (!rc && n == 0 && rejections == 0)
        rc = hub_error_set(e, CSPH_ERR_NOT_FOUND, "person",
                           rq.lift ? "person '%.*s' is not restricted"
                           : found.n ? "every event naming person '%.*s' is restricted already"
                                   : "no event in the log names person '%.*s' (erased "
                                     "already, or never named)",
                           (int)rq.person_len, rq.person);
    /* hook (alertredact.h): the dry run counts the alerts it would redact;
     * a restriction rewrites no alert: it counts those naming the person
     * (key or reason), whose reads it withholds or, lifted, gives back */
    if (!rc && (!rq.apply || rq.restrict_only))
        rc = redact_alerts(h, &rq, ch, n, 0, 0, &alerts, e);
    if (!rc && rq.apply) {
        parts = n ? (n + CSPH_ERASE_PER_EVENT - 1) / CSPH_ERASE_PER_EVENT : 1;
        if (!(eseq = calloc(parts, sizeof *eseq)))
            rc = hub_error_set(e, CSPH_ERR_NOMEM, NULL, "out of memory erasing");
        else
            rc = apply(h, q, &rq, ch, n, eseq, parts, &rejections, &alerts, e);
        /* Register hook (register.h): the DPO's register holds every
         * applied erasure before it is acknowledged; no register, no
         * erasure (the batch is dropped). */
        struct hub_register_entry re = {
            .at_ms = q->now_ms, .restrict_only = rq.restrict_only, .person = rq.person,
            .person_len = rq.person_len, .basis = rq.basis, .basis_len = rq.basis_len,
            .reason = rq.reason, .reason_len = rq.reason_len, .by = rq.by, .count = n,
            .rejections = rejections, .erasures = eseq, .nerasures = parts};
        if (rc == CSPH_ERR_OK && hub_register_append(h->cfg, &re, e)) {
            LOG_ERROR("erase", "%s", e->message);
            rc = CSPH_ERR_INTERNAL;
        }
        if (rc == CSPH_ERR_OK)
            LOG_INFO("erase", "%s of %zu events by %s recorded in seq %llu..%llu",
                     rq.restrict_only ? "restriction" : "erasure", n, rq.by,
                     (unsigned long long)eseq[0],
                     (unsigned long long)eseq[parts - 1]);
    }
    if (rc == CSPH_ERR_OK)
        reply_plan(q->pk, q, &rq, ch, n, rejections, alerts, eseq, rq.apply ? parts : 0);
    free(found.v);
    free(ch);
    free(eseq);
    if (rc == CSPH_ERR_BUSY || rc == CSPH_ERR_INTERNAL || rc == CSPH_ERR_NOMEM)
        return rc == CSPH_ERR_NOMEM ? CSPH_ERR_INTERNAL : rc;
    if (rc)
        hub_reply_error(q->pk, &q->r->req, e, 0);
    return CSPH_ERR_OK;
}
