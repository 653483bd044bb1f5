#define _GNU_SOURCE /* memmem */
#include "alertredact.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "casefile.h"
#include "cases.h"
#include "decision.h"
#include "grow.h"
#include "meetings.h"
#include "redacted.h"
#include "mpx.h"
#include "views.h"
#include "wire.h"

#define MARKER_HEAD "[erased by seq "
#define EXPIRED_HEAD "[expired by seq "

int hub_alert_marker(uint64_t seq, char out[CSPH_ALERT_MARKER_MAX])
{
    return snprintf(out, CSPH_ALERT_MARKER_MAX, MARKER_HEAD "%" PRIu64 "]", seq);
}

int hub_alert_expired_marker(uint64_t seq, char out[CSPH_ALERT_MARKER_MAX])
{
    return snprintf(out, CSPH_ALERT_MARKER_MAX, EXPIRED_HEAD "%" PRIu64 "]", seq);
}

/* The seq after head in s (n bytes) when s is "head N]", else 0. */
static uint64_t marker_with(const char *s, size_t n, const char *head)
{
    size_t hl = strlen(head);
    if (n < hl + 2 || memcmp(s, head, hl) != 0 || s[n - 1] != ']')
        return 0;
    uint64_t v = 0;
    for (size_t i = hl; i < n - 1; i++) {
        if (s[i] < '0' || s[i] > '9' || v > UINT64_MAX / 10)
            return 0;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    return v;
}

uint64_t hub_alert_marker_seq(const char *s, size_t n)
{
    uint64_t v = marker_with(s, n, MARKER_HEAD);
    return v ? v : marker_with(s, n, EXPIRED_HEAD);
}

int hub_alert_marker_expired(const char *s, size_t n)
{
    return marker_with(s, n, EXPIRED_HEAD) != 0;
}

const char *hub_alert_marker_in(const char *s)
{
    const char *e = strstr(s, MARKER_HEAD), *x = strstr(s, EXPIRED_HEAD);
    const char *m = e && (!x || e < x) ? e : x;
    return m && hub_alert_marker_seq(m, strcspn(m, "]") + (m[strcspn(m, "]")] ? 1 : 0)) ? m
                                                                                          : NULL;
}

int hub_ref_byte(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

int hub_alert_names(const void *text, size_t n, const char *ref, size_t len)
{
    return hub_alert_names_at(text, n, 0, ref, len) < n;
}

size_t hub_alert_names_at(const void *text, size_t n, size_t from, const char *ref, size_t len)
{
    const unsigned char *p = (const unsigned char *)text + from, *end = (const unsigned char *)text + n;
    while (len && p < end) {
        const unsigned char *hit = memmem(p, (size_t)(end - p), ref, len);
        if (!hit)
            return n;
        /* "P-9" is not named by "P-90", but is by "... P-9." (the stops and
         * colons that end a sentence or a label are not the reference's) */
        const unsigned char *after = hit + len;
        while (after < end && (*after == '.' || *after == ':'))
            after++;
        if ((hit == text || !hub_ref_byte(hit[-1])) && (after == end || !hub_ref_byte(*after)))
            return (size_t)(hit - (const unsigned char *)text);
        p = hit + 1;
    }
    return n;
}

/* The object at *off of a run of objects: 0, or -1 (msgpack_unpack
 * answers EXTRA_BYTES for all but the last). */
static int next_obj(const void *buf, size_t len, size_t *off, msgpack_zone *z, msgpack_object *o)
{
    msgpack_unpack_return r = msgpack_unpack(buf, len, off, z, o);
    return r == MSGPACK_UNPACK_SUCCESS || r == MSGPACK_UNPACK_EXTRA_BYTES ? 0 : -1;
}

static int keyis(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && !memcmp(k->via.str.ptr, s, n);
}

/* A key value as the queues' key text shows it. */
static int value_text(const msgpack_object *o, char *buf, size_t cap)
{
    switch (o->type) {
    case MSGPACK_OBJECT_STR:
        return snprintf(buf, cap, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return snprintf(buf, cap, "%" PRIu64, o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return snprintf(buf, cap, "%" PRId64, o->via.i64);
    case MSGPACK_OBJECT_BOOLEAN:
        return snprintf(buf, cap, "%s", o->via.boolean ? "true" : "false");
    default:
        buf[0] = 0;
        return 0;
    }
}

int hub_alert_redact_pairs(const void *pairs, size_t len, int npairs, const char *person,
                           size_t plen, const char *marker, msgpack_sbuffer *out)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, msgpack_sbuffer_write);
    size_t off = 0;
    int rc = 0;
    for (int i = 0; i < npairs && rc == 0; i++) {
        size_t start = off;
        msgpack_object k, v;
        if (next_obj(pairs, len, &off, &zone, &k) ||
            next_obj(pairs, len, &off, &zone, &v)) {
            rc = -1;
            break;
        }
        if (keyis(&k, "reason")) {
            hub_pack_str(&pk, "reason");
            hub_pack_str(&pk, marker);
        } else if (keyis(&k, "key") && v.type == MSGPACK_OBJECT_MAP) {
            hub_pack_str(&pk, "key");
            msgpack_pack_map(&pk, v.via.map.size);
            for (uint32_t j = 0; j < v.via.map.size; j++) {
                char text[128];
                const msgpack_object_kv *kv = &v.via.map.ptr[j];
                int tl = value_text(&kv->val, text, sizeof text);
                msgpack_pack_object(&pk, kv->key);
                if (!person || ((size_t)tl == plen && memcmp(text, person, plen) == 0))
                    hub_pack_str(&pk, marker);
                else
                    msgpack_pack_object(&pk, kv->val);
            }
        } else {
            msgpack_sbuffer_write(out, (const char *)pairs + start, off - start);
        }
    }
    msgpack_zone_destroy(&zone);
    return rc;
}

static int in_set(const uint64_t *set, size_t n, uint64_t v)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (set[mid] == v)
            return 1;
        if (set[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Walked in place, nothing unpacked: every alert's record is read this
 * way when the erasure left events naming nobody. */
int hub_alert_evidence_in(const void *pairs, size_t len, int npairs, const uint64_t *set, size_t n)
{
    const char *buf = pairs;
    size_t off = 0;
    for (int i = 0; n && i < npairs; i++) {
        const char *k;
        size_t kl;
        if (hub_mp_raw_str(buf, len, &off, &k, &kl))
            return 0;
        if (kl != 8 || memcmp(k, "evidence", 8) != 0) {
            if (hub_mp_check(buf, len, &off, 8))
                return 0;
            continue;
        }
        uint32_t count;
        if (hub_mp_header(buf, len, &off, 0, &count))
            return 0;
        for (uint32_t j = 0; j < count; j++) {
            uint64_t seq;
            int r = hub_mp_raw_uint(buf, len, &off, &seq);
            if (r < 0)
                return 0;
            if (r == 1 && in_set(set, n, seq))
                return 1;
        }
        return 0;
    }
    return 0;
}

/* An alert to redact, copied out of the walk (the walk may not write). */
struct found {
    uint64_t id;
    char *key, *full, *red;
    size_t key_len, full_len, red_len;
    int npairs;
};

static enum hub_err case_to_marker(struct hub_store *s, const char *panel, const char *key,
                                   size_t len, const char *marker, int *renamed,
                                   struct hub_error *err);

struct walk {
    const char *person;
    size_t plen;
    const uint64_t *removed;
    size_t nremoved;
    struct found *v;
    size_t n, cap;
    int nomem;
};

static char *dup_bytes(const void *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    if (c && n)
        memcpy(c, p, n);
    return c;
}

static int walk_one(void *ctx, const struct hub_alert_stored *a)
{
    struct walk *w = ctx;
    if (!hub_alert_names(a->key, a->key_len, w->person, w->plen) &&
        !hub_alert_names(a->full, a->full_len, w->person, w->plen) &&
        !hub_alert_names(a->red, a->red_len, w->person, w->plen) &&
        !hub_alert_evidence_in(a->full, a->full_len, a->npairs, w->removed, w->nremoved))
        return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        struct found *v = realloc(w->v, cap * sizeof *v);
        if (!v) {
            w->nomem = 1;
            return 1;
        }
        w->v = v;
        w->cap = cap;
    }
    struct found *f = &w->v[w->n];
    memset(f, 0, sizeof *f);
    f->id = a->id;
    f->key = dup_bytes(a->key, a->key_len);
    f->full = dup_bytes(a->full, a->full_len);
    f->red = dup_bytes(a->red, a->red_len);
    f->key_len = a->key_len;
    f->full_len = a->full_len;
    f->red_len = a->red_len;
    f->npairs = a->npairs;
    w->n++;
    if (!f->key || !f->full || !f->red) {
        w->nomem = 1;
        return 1;
    }
    return 0;
}

/* The key text (values joined by ", ") with the values equal to person
 * replaced by marker. */
static void redact_key_text(const char *key, size_t n, const char *person, size_t plen,
                            const char *marker, msgpack_sbuffer *out)
{
    const char *p = key, *end = key + n;
    for (;;) {
        const char *sep = p;
        while (sep < end && !(sep + 1 < end && sep[0] == ',' && sep[1] == ' '))
            sep++;
        if (!person || ((size_t)(sep - p) == plen && memcmp(p, person, plen) == 0))
            msgpack_sbuffer_write(out, marker, strlen(marker));
        else
            msgpack_sbuffer_write(out, p, (size_t)(sep - p));
        if (sep >= end)
            break;
        msgpack_sbuffer_write(out, ", ", 2);
        p = sep + 2;
    }
}

enum hub_err hub_alert_redact_one(struct hub_queues *q, MDB_txn *txn,
                                  const struct hub_alert_stored *a, const char *person,
                                  size_t plen, const char *marker, struct hub_error *err)
{
    msgpack_sbuffer key, full, red;
    msgpack_sbuffer_init(&key);
    msgpack_sbuffer_init(&full);
    msgpack_sbuffer_init(&red);
    enum hub_err rc = CSPH_ERR_OK;
    redact_key_text(a->key, a->key_len, person, plen, marker, &key);
    if (hub_alert_redact_pairs(a->full, a->full_len, a->npairs, person, plen, marker, &full) ||
        (a->red_len &&
         hub_alert_redact_pairs(a->red, a->red_len, a->npairs, person, plen, marker, &red)))
        rc = hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "alert %llu is damaged",
                           (unsigned long long)a->id);
    else
        rc = hub_queues_rewrite(q, txn, a->id, key.data ? key.data : "", key.size, full.data,
                                full.size, red.data, red.size, err);
    msgpack_sbuffer_destroy(&key);
    msgpack_sbuffer_destroy(&full);
    msgpack_sbuffer_destroy(&red);
    return rc;
}

enum hub_err hub_alert_redact_person(struct hub_queues *q, struct hub_store *s,
                                     const struct hub_config *cfg, const char *person,
                                     size_t plen, const uint64_t *removed, size_t n,
                                     uint64_t erasure_seq, int apply, uint64_t *redacted,
                                     uint64_t *cases, struct hub_error *err)
{
    MDB_txn *txn = hub_store_txn(s);
    char marker[CSPH_ALERT_MARKER_MAX];
    hub_alert_marker(erasure_seq, marker);
    struct walk w = {.person = person, .plen = plen, .removed = removed, .nremoved = n};
    *redacted = *cases = 0;
    /* Every alert's record is read once: an erasure is rare, and an alert
     * can name the person in its reason without being keyed on them. */
    enum hub_err rc = hub_queues_each_stored_in(q, txn, walk_one, &w, err);
    if (!rc && w.nomem)
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory redacting alerts");
    if (!apply) /* a dry run: how many */
        *redacted = w.n;
    for (size_t i = 0; apply && i < w.n && !rc; i++) {
        struct found *f = &w.v[i];
        struct hub_alert_stored a = {.id = f->id, .key = f->key, .key_len = f->key_len,
                                     .full = f->full, .full_len = f->full_len, .red = f->red,
                                     .red_len = f->red_len, .npairs = f->npairs};
        if (!(rc = hub_alert_redact_one(q, txn, &a, person, plen, marker, err)))
            (*redacted)++;
    }
    for (size_t i = 0; i < w.n; i++) {
        free(w.v[i].key);
        free(w.v[i].full);
        free(w.v[i].red);
    }
    free(w.v);
    if (rc || !apply)
        return rc;
    rc = hub_views_unindex_person(s, cfg, person, plen, err);
    uint64_t accepted = 0;
    if (!rc)
        rc = hub_meetings_redact_accepted(s, person, plen, marker, &accepted, err);
    if (!rc)
        rc = hub_casefile_forget(s, cfg, person, plen, err);
    /* A case is keyed on its alert's first key value: the person's case on
     * each panel is renamed, as re-derivation opens it from the redacted
     * alert's key. */
    for (size_t p = 0; p < cfg->npanels && !rc; p++) {
        int renamed = 0;
        rc = case_to_marker(s, cfg->panels[p].name, person, plen, marker, &renamed, err);
        *cases += (uint64_t)renamed;
    }
    return rc;
}

/* A case (panel, key) renamed to marker with its actions: what an erasure
 * does on each panel and an expiry on its alert's. */
static enum hub_err case_to_marker(struct hub_store *s, const char *panel, const char *key,
                                   size_t len, const char *marker, int *renamed,
                                   struct hub_error *err)
{
    uint64_t actions = 0;
    enum hub_err rc = hub_cases_rename(s, panel, key, len, marker, renamed, err);
    if (!rc)
        rc = hub_actions_rename_case(s, panel, key, len, marker, &actions, err);
    return rc;
}

/* An alert copied out of its record, with its key's values, for an expiry
 * (the record is rewritten while they are read). */
struct expiring {
    struct found f;
    char panel[72];
    int64_t raised_ms;
    struct hub_alert_key_values kv;
    int nomem;
};

static int copy_expiring(void *ctx, const struct hub_alert_stored *a)
{
    struct expiring *x = ctx;
    x->f.id = a->id;
    x->f.key = dup_bytes(a->key, a->key_len);
    x->f.full = dup_bytes(a->full, a->full_len);
    x->f.red = dup_bytes(a->red, a->red_len);
    x->f.key_len = a->key_len;
    x->f.full_len = a->full_len;
    x->f.red_len = a->red_len;
    x->f.npairs = a->npairs;
    x->raised_ms = a->raised_ms;
    snprintf(x->panel, sizeof x->panel, "%.*s", (int)(a->panel_len < 64 ? a->panel_len : 64),
             a->panel);
    x->nomem = !x->f.key || !x->f.full || !x->f.red;
    return 0;
}

int hub_alert_key_values_add(void *ctx, const char *v, size_t len)
{
    struct hub_alert_key_values *x = ctx;
    if (x->n < CSPH_KEY_MAX_FIELDS && len < sizeof x->v[0]) {
        memcpy(x->v[x->n], v, len);
        x->v[x->n][len] = 0;
        x->len[x->n++] = len;
    }
    return 0;
}

int hub_alert_key_each(const void *pairs, size_t len, int npairs,
                       int (*fn)(void *ctx, const char *v, size_t n), void *ctx,
                       const char **reason, size_t *reason_len)
{
    msgpack_zone zone;
    msgpack_zone_init(&zone, 2048);
    size_t off = 0;
    int rc = 0, stop = 0;
    if (reason)
        *reason = NULL;
    for (int i = 0; i < npairs && !rc && !stop; i++) {
        msgpack_object k, v;
        if (next_obj(pairs, len, &off, &zone, &k) || next_obj(pairs, len, &off, &zone, &v)) {
            rc = -1;
            break;
        }
        if (keyis(&k, "reason") && v.type == MSGPACK_OBJECT_STR && reason) {
            /* borrowed from pairs: a str object points into the buffer */
            *reason = v.via.str.ptr;
            *reason_len = v.via.str.size;
        } else if (keyis(&k, "key") && v.type == MSGPACK_OBJECT_MAP) {
            for (uint32_t j = 0; j < v.via.map.size && !stop; j++) {
                char text[128];
                const msgpack_object *x = &v.via.map.ptr[j].val;
                int tl = x->type == MSGPACK_OBJECT_STR ? (int)x->via.str.size
                                                       : value_text(x, text, sizeof text);
                stop = fn(ctx, x->type == MSGPACK_OBJECT_STR ? x->via.str.ptr : text,
                          (size_t)tl);
            }
        }
    }
    msgpack_zone_destroy(&zone);
    return rc;
}

struct accepted_at {
    struct hub_store *s;
    uint64_t seqs[16];
    size_t n;
};

static int accepted_decision(void *ctx, const struct hub_decision *d)
{
    struct accepted_at *a = ctx;
    if (d->status == CSPH_ALERT_ACCEPTED && a->n < sizeof a->seqs / sizeof *a->seqs)
        a->seqs[a->n++] = d->seq;
    return 0;
}

static int received_of(void *ctx, const struct hub_stored_event *ev)
{
    *(int64_t *)ctx = ev->received_ms;
    return 1;
}

enum hub_err hub_alert_expire_one(struct hub_queues *q, struct hub_store *s, uint64_t id,
                                  const char *marker, int *case_renamed, struct hub_error *err)
{
    MDB_txn *txn = hub_store_txn(s);
    struct expiring x;
    memset(&x, 0, sizeof x);
    *case_renamed = 0;
    enum hub_err rc = hub_queues_stored_one(q, txn, id, copy_expiring, &x, err);
    if (!rc && x.nomem)
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory expiring an alert");
    if (!rc && hub_alert_key_each(x.f.full, x.f.full_len, x.f.npairs, hub_alert_key_values_add, &x.kv, NULL,
                                  NULL))
        rc = hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "alert %llu is damaged",
                           (unsigned long long)id);
    /* Its deadline ends first: an expired alert never fires timer.fired
     * (the rewrite then finds no pending deadline to move). */
    if (!rc)
        rc = hub_queues_timer_spent(q, txn, id, err);
    struct hub_alert_stored a = {.id = id, .key = x.f.key, .key_len = x.f.key_len,
                                 .full = x.f.full, .full_len = x.f.full_len, .red = x.f.red,
                                 .red_len = x.f.red_len, .npairs = x.f.npairs};
    if (!rc)
        rc = hub_alert_redact_one(q, txn, &a, NULL, 0, marker, err);
    for (size_t i = 0; i < x.kv.n && !rc; i++)
        rc = hub_views_unindex_alert(s, x.panel, x.kv.v[i], x.kv.len[i], id, err);
    /* The case its acceptance opened (keyed on the first key value) goes
     * with it; a case a later alert opened again stays with that one. */
    if (!rc && x.kv.n) {
        struct hub_case c;
        int found = 0;
        rc = hub_cases_get(s, txn, x.panel, x.kv.v[0], x.kv.len[0], &c, &found, err);
        if (!rc && found && c.alert == id) {
            rc = hub_casefile_forget_panel(s, x.panel, x.kv.v[0], x.kv.len[0], err);
            if (!rc)
                rc = case_to_marker(s, x.panel, x.kv.v[0], x.kv.len[0], marker, case_renamed,
                                    err);
        }
    }
    /* Its acceptances in the meetings' index show the marker. */
    struct accepted_at acc = {.s = s, .n = 0};
    if (!rc)
        rc = hub_decision_each(txn, id, accepted_decision, &acc, err);
    for (size_t i = 0; i < acc.n && !rc; i++) {
        int64_t received = 0;
        int changed;
        rc = hub_store_batch_get(s, acc.seqs[i], received_of, &received, err);
        if (rc == CSPH_ERR_NOT_FOUND) {
            rc = CSPH_ERR_OK;
            continue;
        }
        if (!rc)
            rc = hub_meetings_redact_accepted_at(s, x.panel, received, id, marker, &changed,
                                                 err);
    }
    free(x.f.key);
    free(x.f.full);
    free(x.f.red);
    return rc;
}

/* ---- re-derivation's kept alerts ----------------------------------------- */

struct kept {
    uint64_t id, anchor, erasure;
    int expired; /* by a retention sweep, not an erasure */
    char *rule, *panel;
    void *rec;
    size_t rec_len;
    void *packed; /* as hub_queues_each packed it in the snapshot (--rederive compares it) */
    size_t packed_len;
};

struct hub_alert_keep {
    const struct hub_config *cfg; /* the fresh hub's panels */
    struct kept *v;
    size_t n, next; /* next: the first not yet placed or raised again */
};

/* Why alert bytes is kept: the erasure (or dp.retention) seq, 0 when it
 * is not; *expired 1 when its reason is an expiry's marker. */
static uint64_t kept_by(const void *bytes, size_t len, const struct hub_erased_set *e,
                        int *expired)
{
    *expired = 0;
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    uint64_t by = 0;
    msgpack_zone_init(&z, 2048);
    if (msgpack_unpack(bytes, len, &off, &z, &o) == MSGPACK_UNPACK_SUCCESS &&
        o.type == MSGPACK_OBJECT_MAP) {
        for (uint32_t i = 0; i < o.via.map.size && !by; i++) {
            const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
            if (keyis(k, "key") && v->type == MSGPACK_OBJECT_MAP) {
                for (uint32_t j = 0; j < v->via.map.size && !by; j++) {
                    const msgpack_object *x = &v->via.map.ptr[j].val;
                    if (x->type == MSGPACK_OBJECT_STR) {
                        by = hub_alert_marker_seq(x->via.str.ptr, x->via.str.size);
                        *expired = hub_alert_marker_expired(x->via.str.ptr, x->via.str.size);
                    }
                }
            } else if (keyis(k, "reason") && v->type == MSGPACK_OBJECT_STR) {
                by = hub_alert_marker_seq(v->via.str.ptr, v->via.str.size);
                *expired = hub_alert_marker_expired(v->via.str.ptr, v->via.str.size);
            } else if (keyis(k, "evidence") && v->type == MSGPACK_OBJECT_ARRAY && e->n) {
                for (uint32_t j = 0; j < v->via.array.size && !by; j++)
                    if (v->via.array.ptr[j].type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                        by = hub_erased_set_by(e, v->via.array.ptr[j].via.u64);
            }
        }
    }
    msgpack_zone_destroy(&z);
    return by;
}

void hub_alert_keep_free(struct hub_alert_keep **kp)
{
    if (!kp || !*kp)
        return;
    struct hub_alert_keep *k = *kp;
    for (size_t i = 0; i < k->n; i++) {
        free(k->v[i].rule);
        free(k->v[i].panel);
        free(k->v[i].rec);
        free(k->v[i].packed);
    }
    free(k->v);
    free(k);
    *kp = NULL;
}

struct keep_scan {
    struct hub_alert_keep *k;
    size_t cap;
    const struct hub_erased_set *e;
    const struct hub_alert_set *alerts;
    struct hub_queues *q;
    MDB_txn *txn;
    enum hub_err rc;
    struct hub_error *err;
};

/* One alert of the walk: kept or not, on its packed form (the set keeps
 * only a digest of it). */
static int keep_one(void *ctx, uint64_t id, const void *bytes, size_t len)
{
    struct keep_scan *ks = ctx;
    struct hub_alert_keep *k = ks->k;
    int expired;
    uint64_t by = kept_by(bytes, len, ks->e, &expired);
    const struct hub_alert_row *a = by ? hub_alert_set_find(ks->alerts, id) : NULL;
    if (!a)
        return 0;
    if (hub_grow((void **)&k->v, &ks->cap, k->n + 1, sizeof *k->v, 16)) {
        ks->rc = hub_error_set(ks->err, CSPH_ERR_NOMEM, NULL, "out of memory");
        return 1;
    }
    struct kept *x = &k->v[k->n];
    memset(x, 0, sizeof *x);
    x->id = a->id;
    x->anchor = a->anchor;
    x->erasure = by;
    x->expired = expired;
    /* the group: rule \x1f panel */
    const char *g = hub_alert_set_group(ks->alerts, a), *s1 = strchr(g, '\x1f');
    x->rule = s1 ? strndup(g, (size_t)(s1 - g)) : NULL;
    x->panel = s1 ? strdup(s1 + 1) : NULL;
    x->packed = malloc(len ? len : 1);
    x->packed_len = len;
    k->n++;
    if (!x->rule || !x->panel || !x->packed) {
        ks->rc = hub_error_set(ks->err, CSPH_ERR_NOMEM, NULL, "out of memory");
        return 1;
    }
    memcpy(x->packed, bytes, len);
    ks->rc = hub_queues_record_copy(ks->q, ks->txn, a->id, &x->rec, &x->rec_len, ks->err);
    return ks->rc != CSPH_ERR_OK;
}

enum hub_err hub_alert_keep_collect(struct hub_alert_keep **out, struct hub_queues *q,
                                    struct hub_store *store, MDB_txn *txn,
                                    const struct hub_alert_set *alerts, struct hub_error *err)
{
    (void)store;
    struct hub_erased_set e;
    *out = NULL;
    enum hub_err rc = hub_erased_set_load(&e, txn, err);
    struct hub_alert_keep *k = rc ? NULL : calloc(1, sizeof *k);
    if (!rc && !k)
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    if (!rc) {
        struct keep_scan ks = {.k = k, .e = &e, .alerts = alerts, .q = q, .txn = txn, .err = err};
        rc = hub_queues_each_in(q, txn, keep_one, &ks, err);
        if (rc == CSPH_ERR_OK)
            rc = ks.rc;
    }
    hub_erased_set_free(&e);
    if (rc || (k && !k->n))
        hub_alert_keep_free(&k);
    *out = k;
    return rc;
}

/* Place kept alerts at the fresh queue's next ids while that id is kept
 * and due: its anchor came before `before` (or, for a draft of the same
 * event, the draft is not the kept alert raised again). */
static enum hub_err place(struct hub_alert_keep *k, struct hub_queues *fresh, MDB_txn *txn,
                          uint64_t before, const struct hub_alert_draft *d,
                          struct hub_error *err)
{
    while (k->next < k->n) {
        uint64_t next = hub_queues_next_id(fresh);
        struct kept *x = &k->v[k->next];
        if (x->id < next) { /* raised again at its id */
            k->next++;
            continue;
        }
        if (x->id > next)
            return CSPH_ERR_OK;
        if (d) {
            uint64_t anchor = d->nevidence ? d->evidence[d->nevidence - 1] : 0;
            for (size_t i = 0; i < d->nevidence; i++)
                anchor = d->evidence[i] > anchor ? d->evidence[i] : anchor;
            if (!strcmp(d->rule, x->rule) &&
                !strcmp(k->cfg->panels[d->panel_index].name, x->panel) &&
                anchor == x->anchor)
                return CSPH_ERR_OK; /* raised again: it takes its id */
            if (x->anchor > anchor)
                return CSPH_ERR_OK;
        } else if (x->anchor >= before) {
            return CSPH_ERR_OK;
        }
        uint64_t id;
        enum hub_err rc = hub_queues_insert_record(fresh, txn, x->rec, x->rec_len, &id, err);
        if (rc)
            return rc;
        k->next++;
    }
    return CSPH_ERR_OK;
}

static enum hub_err keep_hook(void *ctx, struct hub_queues *q, MDB_txn *txn,
                              const struct hub_alert_draft *d, struct hub_error *err)
{
    return place(ctx, q, txn, 0, d, err);
}

void hub_alert_keep_install(struct hub_alert_keep *k, struct hub_queues *fresh,
                            const struct hub_config *cfg)
{
    if (k)
        k->cfg = cfg;
    hub_queues_set_keep(fresh, k ? keep_hook : NULL, k);
}

enum hub_err hub_alert_keep_fill(struct hub_alert_keep *k, struct hub_queues *fresh,
                                 MDB_txn *txn, uint64_t seq, struct hub_error *err)
{
    return k ? place(k, fresh, txn, seq, NULL, err) : CSPH_ERR_OK;
}

static const struct kept *kept_find(const struct hub_alert_keep *k, uint64_t id)
{
    size_t lo = 0, hi = k ? k->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->v[mid].id == id)
            return &k->v[mid];
        if (k->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int hub_alert_keep_is(const struct hub_alert_keep *k, uint64_t id, uint64_t *erasure)
{
    const struct kept *x = kept_find(k, id);
    if (x)
        *erasure = x->erasure;
    return x != NULL;
}

int hub_alert_keep_packed(const struct hub_alert_keep *k, uint64_t id, const void **bytes,
                          size_t *len)
{
    const struct kept *x = kept_find(k, id);
    if (x) {
        *bytes = x->packed;
        *len = x->packed_len;
    }
    return x != NULL;
}

int hub_alert_keep_expired(const struct hub_alert_keep *k, uint64_t id)
{
    size_t lo = 0, hi = k ? k->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (k->v[mid].id == id)
            return k->v[mid].expired;
        if (k->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Where field name's value is in a packed alert map: 0, or -1. */
static int field_span(const void *bytes, size_t len, const char *name, size_t *from,
                      size_t *to)
{
    size_t off = 0;
    uint32_t count;
    if (hub_mp_header((const char *)bytes, len, &off, 1, &count))
        return -1;
    msgpack_zone z;
    msgpack_zone_init(&z, 1024);
    int found = -1;
    for (uint32_t i = 0; i < count && found < 0; i++) {
        msgpack_object k, v;
        if (next_obj(bytes, len, &off, &z, &k))
            break;
        size_t start = off;
        if (next_obj(bytes, len, &off, &z, &v))
            break;
        if (keyis(&k, name)) {
            *from = start;
            *to = off;
            found = 0;
        }
    }
    msgpack_zone_destroy(&z);
    return found;
}

int hub_alert_keep_agrees(const void *a, size_t alen, const void *b, size_t blen, int expired)
{
    static const char *const kept[] = {"id",       "panel",     "rule",   "rule_version",
                                       "priority", "evidence",  "raised_at", "due_at",
                                       "status"};
    /* An expired alert's decisions go by its panel's period too: the
     * sweep may have taken their bodies, and the replay cannot give its
     * status again. */
    size_t n = sizeof kept / sizeof *kept - (expired ? 1 : 0);
    for (size_t i = 0; i < n; i++) {
        size_t af = 0, at = 0, bf = 0, bt = 0;
        int ha = field_span(a, alen, kept[i], &af, &at) == 0,
            hb = field_span(b, blen, kept[i], &bf, &bt) == 0;
        if (ha != hb || (ha && (at - af != bt - bf ||
                                memcmp((const char *)a + af, (const char *)b + bf, at - af))))
            return 0;
    }
    return 1;
}
