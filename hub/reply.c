#include "reply.h"

#include <string.h>

#include "timefmt.h"

/* One key and its value. */
static void kv_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
    hub_pack_str(pk, key);
    msgpack_pack_uint64(pk, v);
}

static void kv_str(msgpack_packer *pk, const char *key, const char *v)
{
    hub_pack_str(pk, key);
    hub_pack_str(pk, v);
}

static void pack_bool(msgpack_packer *pk, int b)
{
    if (b)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
}

void hub_reply_ok(msgpack_packer *pk, const struct hub_span *req)
{
    hub_reply_begin(pk, req, 1, 0);
}

void hub_reply_seq(msgpack_packer *pk, const struct hub_span *req, uint64_t seq)
{
    hub_reply_begin(pk, req, 1, 1);
    kv_u64(pk, "seq", seq);
}

void hub_reply_published(msgpack_packer *pk, const struct hub_span *req, int dup,
                         uint64_t seq)
{
    hub_reply_begin(pk, req, 1, 2);
    kv_str(pk, "status", dup ? "duplicate" : "accepted");
    kv_u64(pk, "seq", seq);
}

void hub_reply_results_begin(msgpack_packer *pk, const struct hub_span *req, uint32_t n)
{
    hub_reply_begin(pk, req, 1, 1);
    hub_pack_str(pk, "results");
    msgpack_pack_array(pk, n);
}

void hub_reply_result(msgpack_packer *pk, int dup, uint64_t seq)
{
    msgpack_pack_map(pk, 2);
    kv_str(pk, "status", dup ? "duplicate" : "accepted");
    kv_u64(pk, "seq", seq);
}

void hub_reply_result_rejected(msgpack_packer *pk, const struct hub_error *e)
{
    msgpack_pack_map(pk, 2);
    kv_str(pk, "status", "rejected");
    hub_pack_str(pk, "error");
    hub_pack_error(pk, e);
}

void hub_reply_ping(msgpack_packer *pk, const struct hub_span *req, uint64_t last_seq)
{
    hub_reply_begin(pk, req, 1, 3);
    kv_str(pk, "version", CSPH_PROTOCOL_VERSION " csphub " CSPH_VERSION);
    kv_u64(pk, "last_seq", last_seq);
    kv_str(pk, "protocol", CSPH_PROTOCOL_VERSION);
}

/* stats' "health": whether the log and the index are sound, and while
 * one heals, how far it got (PROTOCOL.md 7). */
static void pack_health(msgpack_packer *pk, const struct hub_store_health *h)
{
    int ok = !strcmp(h->index, "ok") && !strcmp(h->log, "ok");
    hub_pack_str(pk, "health");
    msgpack_pack_map(pk, 9);
    kv_str(pk, "status", ok ? "ok" : "degraded");
    kv_str(pk, "index", h->index);
    kv_u64(pk, "index_applied", h->index_applied);
    kv_u64(pk, "index_behind", h->log_last > h->index_applied ? h->log_last - h->index_applied : 0);
    kv_u64(pk, "index_failures", h->index_failures);
    kv_u64(pk, "index_rebuilds", h->index_rebuilds);
    kv_str(pk, "last_error", h->index_why);
    kv_str(pk, "log", h->log);
    kv_u64(pk, "log_reopens", h->log_reopens);
}

void hub_reply_stats(msgpack_packer *pk, const struct hub_span *req,
                     const struct hub_reply_stats *st)
{
    const struct hub_counters *c = st->c;
    const struct hub_transport_stats *ts = st->ts;
    hub_reply_begin(pk, req, 1, 1);
    hub_pack_str(pk, "counters");
    int ncodes = 0;
    for (int i = 0; i < CSPH_ERR__COUNT; i++)
        ncodes += c->rejected[i] != 0;
    uint32_t n = 0;
#define CSPH_COUNTER_COUNT(name) n++;
    CSPH_COUNTER_MAP(CSPH_COUNTER_COUNT)
    CSPH_TRANSPORT_COUNTERS(CSPH_COUNTER_COUNT)
#undef CSPH_COUNTER_COUNT
    msgpack_pack_map(pk, n + 8);
#define CSPH_COUNTER_PACK(name) kv_u64(pk, #name, c->name);
    CSPH_COUNTER_MAP(CSPH_COUNTER_PACK)
#undef CSPH_COUNTER_PACK
    hub_pack_str(pk, "rejected");
    msgpack_pack_map(pk, (size_t)ncodes);
    for (int i = 0; i < CSPH_ERR__COUNT; i++)
        if (c->rejected[i])
            kv_u64(pk, hub_err_name((enum hub_err)i), c->rejected[i]);
    kv_u64(pk, "last_seq", st->last_seq);
    kv_u64(pk, "rejects_kept", st->rejects_kept);
    kv_u64(pk, "replies_waiting", ts->replies_waiting);
#define CSPH_TRANSPORT_PACK(name) kv_u64(pk, #name, ts->name);
    CSPH_TRANSPORT_COUNTERS(CSPH_TRANSPORT_PACK)
#undef CSPH_TRANSPORT_PACK
    hub_pack_str(pk, "alerts");
    msgpack_pack_map(pk, st->cfg->npanels);
    for (size_t i = 0; i < st->cfg->npanels; i++) {
        hub_pack_str(pk, st->cfg->panels[i].name);
        msgpack_pack_uint64(pk, st->alerts[i]);
    }
    pack_health(pk, st->health);
    kv_str(pk, "rule_version", st->rule_version);
    kv_u64(pk, "uptime_s", st->uptime_s);
}

void hub_reply_list(msgpack_packer *pk, const struct hub_span *req, const char *key,
                    const msgpack_sbuffer *items, uint32_t count, int paged, uint64_t last,
                    int end)
{
    hub_reply_begin(pk, req, 1, paged ? 3 : 1);
    hub_pack_str(pk, key);
    msgpack_pack_array(pk, count);
    hub_pack_raw(pk, items->data, items->size);
    if (paged) {
        kv_u64(pk, "next", last);
        hub_pack_str(pk, "end");
        pack_bool(pk, end);
    }
}

void hub_reply_event_entry(msgpack_packer *pk, uint64_t seq, const char *when, size_t wl,
                           const void *bytes, size_t len)
{
    msgpack_pack_map(pk, 3);
    kv_u64(pk, "seq", seq);
    hub_pack_str(pk, "received_at");
    hub_pack_strn(pk, when, wl);
    hub_pack_str(pk, "event");
    hub_pack_raw(pk, bytes, len);
}

void hub_reply_reject_entry(msgpack_packer *pk, const struct hub_stored_reject *rj)
{
    char when[32];
    int wl = csph_time_format(rj->received_ms, when);
    msgpack_pack_map(pk, 5);
    kv_u64(pk, "id", rj->id);
    hub_pack_str(pk, "received_at");
    hub_pack_strn(pk, when, (size_t)wl);
    hub_pack_str(pk, "source");
    hub_pack_strn(pk, rj->source, rj->source_len);
    hub_pack_str(pk, "error");
    int has_field = rj->field[0] != 0;
    msgpack_pack_map(pk, 2 + (has_field ? 1 : 0));
    kv_str(pk, "code", rj->code);
    /* Kept rejections quote the event, which may not be UTF-8. */
    hub_pack_str(pk, "message");
    hub_pack_text(pk, rj->message, strlen(rj->message));
    if (has_field) {
        hub_pack_str(pk, "field");
        hub_pack_text(pk, rj->field, strlen(rj->field));
    }
    hub_pack_str(pk, "bytes");
    msgpack_pack_bin(pk, rj->len);
    msgpack_pack_bin_body(pk, rj->bytes, rj->len);
}

void hub_reply_rejects(msgpack_packer *pk, const struct hub_span *req,
                       const msgpack_sbuffer *items, size_t list_len, uint32_t count,
                       uint64_t last, int end, uint64_t dropped, uint32_t nsources)
{
    hub_reply_begin(pk, req, 1, 5);
    hub_pack_str(pk, "rejects");
    msgpack_pack_array(pk, count);
    hub_pack_raw(pk, items->data, list_len);
    kv_u64(pk, "next", last);
    hub_pack_str(pk, "end");
    pack_bool(pk, end);
    kv_u64(pk, "dropped", dropped);
    hub_pack_str(pk, "dropped_by_source");
    msgpack_pack_map(pk, nsources);
    hub_pack_raw(pk, items->data + list_len, items->size - list_len);
}

void hub_reply_evidence(msgpack_packer *pk, const struct hub_span *req, uint64_t id,
                        uint64_t total, const msgpack_sbuffer *items, uint32_t count,
                        uint64_t next)
{
    hub_reply_begin(pk, req, 1, 5);
    kv_u64(pk, "id", id);
    kv_u64(pk, "total", total);
    hub_pack_str(pk, "evidence");
    msgpack_pack_array(pk, count);
    hub_pack_raw(pk, items->data, items->size);
    kv_u64(pk, "next", next);
    hub_pack_str(pk, "end");
    pack_bool(pk, next >= total);
}
