#include "wire.h"

#include <stdio.h>
#include <string.h>

#include "mpx.h"
#include "utf8.h"

static const char *const op_names[] = {
#define CSPH_OP_STR(name, str) str,
    CSPH_OP_MAP(CSPH_OP_STR)
#undef CSPH_OP_STR
};

/* Keys each op accepts besides op and req: a misspelt filter must fail
 * loudly, not silently widen a query. */
static const char *const op_keys[CSPH_OP__COUNT][12] = {
    [CSPH_OP_PING] = {"as", NULL},
    [CSPH_OP_STATS] = {"as", NULL},
    [CSPH_OP_PUBLISH] = {"event", "events", "as", NULL},
    [CSPH_OP_REPLAY] = {"after", "until", "since", "till", "types", "person", "max", "as", NULL},
    [CSPH_OP_REJECTS] = {"after", "max", "as", NULL},
    [CSPH_OP_FETCH] = {"panel", "consumer", "max", "wait_ms", "as", NULL},
    [CSPH_OP_ACK] = {"panel", "consumer", "upto", "as", NULL},
    [CSPH_OP_ALERTS] = {"panel", "status", "after", "max", "priority", "rule", "person",
                        "overdue", "as", NULL},
    [CSPH_OP_ALERT_UPDATE] = {"id", "status", "note", "by", "expect", "as", NULL},
    [CSPH_OP_EVIDENCE] = {"id", "after", "max", "as", NULL},
    [CSPH_OP_ALERT] = {"id", "events", "after", "max", "as", NULL},
    [CSPH_OP_PERSON] = {"ref", "after", "max", "alerts_after", "as", NULL},
    [CSPH_OP_REPORT] = {"from", "to", "area", "as_of", "explain", "month", "suppress", "as", NULL},
    [CSPH_OP_ERASE] = {"person", "reason", "basis", "apply", "restrict", "requested_by", "lift",
                       NULL},
    [CSPH_OP_HOLD] = {"person", "reason", "release", "requested_by", NULL},
    /* Panel work (panelops.h) */
    [CSPH_OP_CASES] = {"panel", "status", "after", "max", "as", NULL},
    [CSPH_OP_CASE] = {"panel", "key", "as", NULL},
    [CSPH_OP_CASE_CLOSE] = {"panel", "key", "outcome", "by", "as", NULL},
    [CSPH_OP_CASE_REVIEW] = {"panel", "key", "risk", "by", "as", NULL},
    [CSPH_OP_CASE_RISK] = {"panel", "key", "risk", "by", "as", NULL},
    [CSPH_OP_CASE_HEAR] = {"panel", "key", "meeting", "attendance", "minutes", "by", "as", NULL},
    [CSPH_OP_ACTIONS] = {"panel", "key", "owner", "status", "as", NULL},
    [CSPH_OP_ACTION_CREATE] = {"panel", "key", "what", "owner", "due_days", "due_working_days",
                               "due", "alert", "by", "as", NULL},
    [CSPH_OP_ACTION_UPDATE] = {"id", "panel", "status", "reason", "due_days", "due_working_days",
                               "due", "by", "as", NULL},
    [CSPH_OP_AGENDA] = {"panel", "meeting", "as", NULL},
    [CSPH_OP_AGENDA_ISSUE] = {"panel", "meeting", "by", "as", NULL},
    /* Subject access (sar.h) */
    [CSPH_OP_SAR] = {"person", "reason", "requested_by", "request", "events_after",
                     "alerts_after", "reads_after", NULL},
};

/* Every key any request may carry, for the duplicate check: a key outside
 * this table is refused by check_keys anyway, so only these need it. */
static const char *const known_keys[] = {
    "op",    "req",   "event",  "events", "after", "until",    "since",   "till", "types",
    "person", "max",  "panel",  "consumer", "wait_ms", "upto", "status", "id",   "note",
    "from",   "to",   "area",   "as_of",  "explain", "month", "suppress",
    "by",    "expect", "priority", "rule", "overdue", "ref",  "as", "alerts_after",
    /* data protection */
    "reason", "basis", "apply", "restrict", "requested_by", "release",
    /* panel work */
    "key", "outcome", "risk", "meeting", "attendance", "minutes", "what", "owner", "due_days",
    "due_working_days", "due", "alert",
    /* subject access */
    "request", "events_after", "reads_after", "lift",
};
#define NKNOWN (sizeof known_keys / sizeof *known_keys)
/* A bit each in check_keys' `seen`. */
_Static_assert(NKNOWN <= 64, "known_keys outgrew the duplicate check's 64 bits");

/* The index of key k in known_keys, or -1. At most NKNOWN comparisons. */
static int known_key(const msgpack_object *k)
{
    for (size_t i = 0; i < NKNOWN; i++)
        if (hub_mp_str_eq(k, known_keys[i]))
            return (int)i;
    return -1;
}

const char *hub_op_name(enum hub_op op)
{
    return (unsigned)op < CSPH_OP__COUNT ? op_names[op] : "?";
}

static enum hub_err unpack_one(const char *buf, size_t len, size_t *off, msgpack_zone *zone,
                               msgpack_object *obj, const char *field, struct hub_error *err)
{
    msgpack_unpack_return r = msgpack_unpack(buf, len, off, zone, obj);
    switch (r) {
    case MSGPACK_UNPACK_SUCCESS:
    case MSGPACK_UNPACK_EXTRA_BYTES:
        return CSPH_ERR_OK;
    case MSGPACK_UNPACK_CONTINUE:
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, field,
                             "the MessagePack is truncated%s%s", field ? " in " : "",
                             field ? field : "");
    case MSGPACK_UNPACK_NOMEM_ERROR:
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, field,
                             "the MessagePack is nested more than 32 levels deep or declares "
                             "more elements than it holds");
    default:
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, field, "not valid MessagePack");
    }
}

/* `req` is echoed as sent (docs/protocol-notes.md): only a scalar, and a
 * string only when it is UTF-8, so that the reply stays valid MessagePack
 * for a strict decoder. Anything else is refused and not echoed. */
static enum hub_err check_req(const msgpack_object *req, struct hub_error *err)
{
    switch (req->type) {
    case MSGPACK_OBJECT_NIL:
    case MSGPACK_OBJECT_BOOLEAN:
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
    case MSGPACK_OBJECT_BIN:
        return CSPH_ERR_OK;
    case MSGPACK_OBJECT_STR:
        if (hub_utf8_bad_at(req->via.str.ptr, req->via.str.size) == req->via.str.size)
            return CSPH_ERR_OK;
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "req",
                             "'req' is a string that is not valid UTF-8; send it as binary");
    default:
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "req",
                             "'req' must be a scalar (string, number, boolean, nil or "
                             "binary), not a %s",
                             hub_mp_type_name(req));
    }
}

static enum hub_err check_keys(const struct hub_request *r, struct hub_error *err)
{
    const msgpack_object_kv *kv = r->root.via.map.ptr;
    for (uint32_t i = 0; i < r->root.via.map.size; i++) {
        const msgpack_object *k = &kv[i].key;
        if (hub_mp_str_eq(k, "op") || hub_mp_str_eq(k, "req"))
            continue;
        int known = 0;
        for (const char *const *a = op_keys[r->op]; *a && !known; a++)
            known = hub_mp_str_eq(k, *a);
        if (!known) {
            char field[64];
            snprintf(field, sizeof field, "%.*s",
                     (int)(k->via.str.size < 63 ? k->via.str.size : 63), k->via.str.ptr);
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, field,
                                 "op '%s' takes no field '%s'", op_names[r->op], field);
        }
    }
    return CSPH_ERR_OK;
}

static enum hub_err decode_events(const char *buf, size_t len, size_t start, msgpack_zone *zone,
                                  uint32_t events_max, struct hub_request *r,
                                  struct hub_error *err)
{
    size_t off = start;
    uint32_t n;
    if (hub_mp_header(buf, len, &off, 0, &n) != 0)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "events",
                             "'events' must be an array of event maps");
    r->batch = 1; /* even when refused below: its reply is a batch's */
    if (n == 0)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "events", "'events' is empty");
    if (n > events_max)
        return hub_error_set(err, CSPH_ERR_TOO_LARGE, "events",
                             "a publish may carry at most %u events, not %u; split the batch",
                             events_max, n);
    /* n is bounded by events_max, so these allocations are too. */
    msgpack_object *objs = msgpack_zone_malloc(zone, n * sizeof *objs);
    struct hub_span *spans = msgpack_zone_malloc(zone, n * sizeof *spans);
    if (!objs || !spans)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "out of memory decoding a batch");
    for (uint32_t i = 0; i < n; i++) {
        size_t s = off;
        enum hub_err e = unpack_one(buf, len, &off, zone, &objs[i], "events", err);
        if (e)
            return e;
        spans[i].ptr = buf + s;
        spans[i].len = off - s;
    }
    r->batch = 1;
    r->nevents = n;
    r->events = objs;
    r->spans = spans;
    return CSPH_ERR_OK;
}

enum hub_err hub_wire_decode(const void *vbuf, size_t len, msgpack_zone *zone,
                             uint32_t events_max, struct hub_request *r,
                             struct hub_error *err)
{
    const char *buf = vbuf;
    size_t off = 0, events_at = 0;
    uint32_t n;
    memset(r, 0, sizeof *r);
    /* Check the request's structure first: msgpack-c reserves memory for a
     * container's declared count before reading its elements. (Bytes after
     * the request map are reported below, once `req` is known.) */
    int sane = hub_mp_check(buf, len, &off, 32);
    if (sane == -2)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, NULL,
                             "the MessagePack is nested more than 32 levels deep");
    if (sane == -3)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, NULL,
                             "the MessagePack declares more elements than the message holds");
    if (sane != 0)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, NULL,
                             "the message is not MessagePack, or is truncated (a request is one "
                             "MessagePack map with string keys)");
    off = 0;
    if (hub_mp_header(buf, len, &off, 1, &n) != 0) {
        /* Say which: valid MessagePack of another kind, or not MessagePack. */
        msgpack_object o;
        size_t o_off = 0;
        msgpack_unpack_return u = msgpack_unpack(buf, len, &o_off, zone, &o);
        if (u == MSGPACK_UNPACK_SUCCESS || u == MSGPACK_UNPACK_EXTRA_BYTES)
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, NULL,
                                 "a request must be a MessagePack map, not a %s",
                                 hub_mp_type_name(&o));
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, NULL,
                             "the message is not MessagePack (a request is one MessagePack map "
                             "with string keys)");
    }
    /* Every pair takes at least two bytes: a count beyond that is a lie. */
    if (n > (len - off) / 2)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, NULL,
                             "the request map declares %u entries but the message is shorter",
                             n);
    msgpack_object_kv *kv = msgpack_zone_malloc(zone, (n ? n : 1) * sizeof *kv);
    if (!kv)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "out of memory decoding a request");
    const msgpack_object *op = NULL;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        enum hub_err e = unpack_one(buf, len, &off, zone, &kv[i].key, NULL, err);
        if (e)
            return e;
        if (kv[i].key.type != MSGPACK_OBJECT_STR)
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, NULL,
                                 "request keys must be strings; entry %u has a %s key", i,
                                 hub_mp_type_name(&kv[i].key));
        /* Duplicates among the known keys, by a bit each: linear in the
         * map's size (checking every pair took 17 s for 100,000 keys). */
        int ki = known_key(&kv[i].key);
        if (ki >= 0 && (seen & (1ull << ki)))
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, known_keys[ki],
                                 "the request has the key '%s' twice", known_keys[ki]);
        if (ki >= 0)
            seen |= 1ull << ki;
        size_t vstart = off;
        if ((e = unpack_one(buf, len, &off, zone, &kv[i].val, NULL, err)))
            return e;
        if (hub_mp_str_eq(&kv[i].key, "req")) {
            /* Echoed only when it is what the notes promise to echo. */
            if ((e = check_req(&kv[i].val, err)))
                return e;
            r->req.ptr = buf + vstart;
            r->req.len = off - vstart;
        } else if (hub_mp_str_eq(&kv[i].key, "op")) {
            op = &kv[i].val;
        } else if (hub_mp_str_eq(&kv[i].key, "events")) {
            events_at = vstart;
        } else if (hub_mp_str_eq(&kv[i].key, "event")) {
            r->nevents = 1;
            r->spans = msgpack_zone_malloc(zone, sizeof *r->spans);
            if (!r->spans)
                return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "out of memory");
            ((struct hub_span *)r->spans)->ptr = buf + vstart;
            ((struct hub_span *)r->spans)->len = off - vstart;
            r->events = &kv[i].val;
        }
    }
    if (off != len)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, NULL,
                             "%zu unexpected bytes after the request map", len - off);
    r->root.type = MSGPACK_OBJECT_MAP;
    r->root.via.map.size = n;
    r->root.via.map.ptr = kv;
    if (!op)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "op", "the request has no 'op'");
    if (op->type != MSGPACK_OBJECT_STR)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "op", "'op' must be a string, not a %s",
                             hub_mp_type_name(op));
    r->op = CSPH_OP__COUNT;
    for (int i = 0; i < CSPH_OP__COUNT; i++)
        if (hub_mp_str_eq(op, op_names[i]))
            r->op = (enum hub_op)i;
    if (r->op == CSPH_OP__COUNT)
        return hub_error_set(err, CSPH_ERR_BAD_OP, "op",
                             "unknown op '%.*s'; known: ping, stats, publish, replay, rejects, "
                             "fetch, ack, alerts, alert.update",
                             (int)(op->via.str.size > 64 ? 64 : op->via.str.size),
                             op->via.str.ptr);
    enum hub_err e = check_keys(r, err);
    if (e)
        return e;
    if (r->op == CSPH_OP_PUBLISH) {
        if (events_at && r->nevents)
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "event",
                                 "give either 'event' or 'events', not both");
        if (events_at)
            return decode_events(buf, len, events_at, zone, events_max, r, err);
        if (!r->nevents)
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "event",
                                 "publish needs 'event' (one map) or 'events' (an array)");
    }
    return CSPH_ERR_OK;
}

enum hub_err hub_wire_u64(const struct hub_request *r, const char *key, uint64_t min,
                          uint64_t max, uint64_t *out, int *present, struct hub_error *err)
{
    const msgpack_object *o = hub_mp_get(&r->root, key);
    if (present)
        *present = o != NULL;
    if (!o)
        return CSPH_ERR_OK;
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER || o->via.u64 < min || o->via.u64 > max)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, key,
                             "'%s' must be an integer from %llu to %llu", key,
                             (unsigned long long)min, (unsigned long long)max);
    *out = o->via.u64;
    return CSPH_ERR_OK;
}

enum hub_err hub_wire_str(const struct hub_request *r, const char *key, size_t min_len,
                          size_t max_len, int required, const char **ptr, size_t *len,
                          struct hub_error *err)
{
    const msgpack_object *o = hub_mp_get(&r->root, key);
    if (!o) {
        if (required)
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, key, "'%s' is required", key);
        return CSPH_ERR_OK;
    }
    if (o->type != MSGPACK_OBJECT_STR || o->via.str.size < min_len || o->via.str.size > max_len)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, key,
                             "'%s' must be a string of %zu to %zu bytes", key, min_len, max_len);
    *ptr = o->via.str.ptr;
    *len = o->via.str.size;
    return CSPH_ERR_OK;
}

void hub_pack_strn(msgpack_packer *pk, const char *s, size_t len)
{
    msgpack_pack_str(pk, len);
    msgpack_pack_str_body(pk, s, len);
}

void hub_pack_str(msgpack_packer *pk, const char *s)
{
    hub_pack_strn(pk, s, strlen(s));
}

void hub_pack_raw(msgpack_packer *pk, const void *bytes, size_t len)
{
    pk->callback(pk->data, bytes, len);
}

void hub_reply_begin(msgpack_packer *pk, const struct hub_span *req, int ok, uint32_t extra)
{
    int has_req = req && req->len;
    msgpack_pack_map(pk, extra + 1 + (has_req ? 1 : 0));
    if (has_req) {
        hub_pack_str(pk, "req");
        hub_pack_raw(pk, req->ptr, req->len);
    }
    hub_pack_str(pk, "ok");
    if (ok)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void hub_pack_text(msgpack_packer *pk, const char *s, size_t len)
{
    if (hub_utf8_bad_at(s, len) == len) {
        hub_pack_strn(pk, s, len);
        return;
    }
    /* Error texts are short (struct hub_error): repair on the stack. */
    char fixed[3 * sizeof ((struct hub_error *)0)->message];
    if (len > sizeof fixed / 3)
        len = sizeof fixed / 3;
    hub_pack_strn(pk, fixed, hub_utf8_repair(s, len, fixed, sizeof fixed));
}

void hub_pack_error(msgpack_packer *pk, const struct hub_error *e)
{
    int has_field = e->field[0] != 0;
    msgpack_pack_map(pk, 2 + (has_field ? 1 : 0));
    hub_pack_str(pk, "code");
    hub_pack_str(pk, hub_err_name(hub_err_is_wire(e->code) ? e->code : CSPH_ERR_INTERNAL));
    hub_pack_str(pk, "message");
    const char *m = e->message[0] ? e->message : hub_err_message(e->code);
    /* Messages and fields quote the request, which may not be UTF-8, and
     * may be cut inside a character: never pass that on. */
    hub_pack_text(pk, m, strlen(m));
    if (has_field) {
        hub_pack_str(pk, "field");
        hub_pack_text(pk, e->field, strlen(e->field));
    }
}

void hub_reply_error(msgpack_packer *pk, const struct hub_span *req, const struct hub_error *e,
                     int with_status)
{
    hub_reply_begin(pk, req, 0, with_status ? 2 : 1);
    if (with_status) {
        hub_pack_str(pk, "status");
        hub_pack_str(pk, "rejected");
    }
    hub_pack_str(pk, "error");
    hub_pack_error(pk, e);
}
