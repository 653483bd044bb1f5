#include "restrictview.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "alertredact.h"
#include "queues.h"
#include "restrict.h"

int hub_restrictview_applies(const struct hub_identity *who)
{
    return who && who->role != CSPH_ROLE_DPO && who->role != CSPH_ROLE_AUDITOR;
}

int hub_restrictview_qview(const struct hub_identity *who)
{
    int full = who && who->role == CSPH_ROLE_AUDITOR;
    return (full ? CSPH_QVIEW_FULL : 0) | (hub_restrictview_applies(who) ? CSPH_QVIEW_RESTRICT : 0);
}

void hub_restrictview_open(struct hub_restrictview *rv, MDB_txn *txn)
{
    MDB_stat st;
    rv->txn = txn;
    rv->any = txn && mdb_dbi_open(txn, CSPH_RESTRICT_STANDING_DB, 0, &rv->dbi) == 0 &&
              mdb_stat(txn, rv->dbi, &st) == 0 && st.ms_entries > 0;
}

static uint64_t lookup(const struct hub_restrictview *rv, const char *ref, size_t len)
{
    MDB_val k = {len, (void *)ref}, v;
    uint64_t seq = 0;
    if (len && len <= 64 && mdb_get(rv->txn, rv->dbi, &k, &v) == 0 && v.mv_size == 8)
        memcpy(&seq, v.mv_data, 8);
    return seq;
}


/* The restriction a run of reference bytes names: the run, or the run
 * without the full stops and colons that end it ("... for V-1." names
 * V-1, a reference may end in neither as often as a sentence does). */
static uint64_t lookup_run(const struct hub_restrictview *rv, const char *run, size_t *len)
{
    uint64_t seq = lookup(rv, run, *len);
    while (!seq && *len > 1 && (run[*len - 1] == '.' || run[*len - 1] == ':'))
        seq = lookup(rv, run, --*len);
    return seq;
}

/* The next run of reference bytes of text (n bytes) from *pos: 1 and
 * [*start, *pos), or 0 when none is left. */
static int next_run(const char *text, size_t n, size_t *pos, size_t *start)
{
    size_t i = *pos;
    while (i < n && !hub_ref_byte((unsigned char)text[i]))
        i++;
    *start = i;
    while (i < n && hub_ref_byte((unsigned char)text[i]))
        i++;
    *pos = i;
    return i > *start;
}

uint64_t hub_restrictview_names(const struct hub_restrictview *rv, const char *text, size_t n)
{
    size_t pos = 0, start;
    uint64_t seq = 0;
    while (rv->any && !seq && next_run(text, n, &pos, &start)) {
        size_t len = pos - start;
        seq = lookup_run(rv, text + start, &len);
    }
    return seq;
}

/* The restricted persons an alert names: its key values, and the whole
 * references in its reason. At most this many are redacted by name; the
 * reason goes whole whatever it names. */
#define NAMED_MAX 16

struct named {
    char ref[NAMED_MAX][65];
    uint64_t seq[NAMED_MAX];
    size_t n;
};

static void add_named(struct named *nm, const char *ref, size_t len, uint64_t seq)
{
    for (size_t i = 0; i < nm->n; i++)
        if (strlen(nm->ref[i]) == len && !memcmp(nm->ref[i], ref, len))
            return;
    if (nm->n == NAMED_MAX || len > 64)
        return;
    memcpy(nm->ref[nm->n], ref, len);
    nm->ref[nm->n][len] = 0;
    nm->seq[nm->n++] = seq;
}

static int keyis(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && !memcmp(k->via.str.ptr, s, n);
}

/* The restricted persons named by the pairs' key values and reason into
 * nm; *reason_seq the restriction its reason names (0: none). -1 when the
 * pairs do not parse. */
static int find_named(const struct hub_restrictview *rv, const void *pairs, size_t len,
                      int npairs, struct named *nm, uint64_t *reason_seq)
{
    msgpack_unpacked k, v;
    msgpack_unpacked_init(&k);
    msgpack_unpacked_init(&v);
    size_t off = 0;
    int rc = 0;
    for (int i = 0; i < npairs; i++) {
        if (msgpack_unpack_next(&k, pairs, len, &off) != MSGPACK_UNPACK_SUCCESS ||
            msgpack_unpack_next(&v, pairs, len, &off) != MSGPACK_UNPACK_SUCCESS) {
            rc = -1;
            break;
        }
        const msgpack_object *val = &v.data;
        if (keyis(&k.data, "key") && val->type == MSGPACK_OBJECT_MAP) {
            for (uint32_t j = 0; j < val->via.map.size; j++) {
                const msgpack_object *x = &val->via.map.ptr[j].val;
                uint64_t seq;
                if (x->type == MSGPACK_OBJECT_STR &&
                    (seq = lookup(rv, x->via.str.ptr, x->via.str.size)))
                    add_named(nm, x->via.str.ptr, x->via.str.size, seq);
            }
        } else if (keyis(&k.data, "reason") && val->type == MSGPACK_OBJECT_STR) {
            const char *t = val->via.str.ptr;
            size_t n = val->via.str.size, p = 0, start;
            while (next_run(t, n, &p, &start)) {
                size_t rl = p - start; /* less the stops lookup_run takes off */
                uint64_t seq = lookup_run(rv, t + start, &rl);
                if (seq) {
                    add_named(nm, t + start, rl, seq);
                    if (!*reason_seq)
                        *reason_seq = seq;
                }
            }
        }
    }
    msgpack_unpacked_destroy(&k);
    msgpack_unpacked_destroy(&v);
    return rc;
}

int hub_restrictview_alert(const struct hub_restrictview *rv, const void *pairs, size_t len,
                           int npairs, msgpack_sbuffer *out)
{
    if (!rv->any)
        return 0;
    struct named nm = {.n = 0};
    uint64_t reason_seq = 0;
    if (find_named(rv, pairs, len, npairs, &nm, &reason_seq))
        return -1;
    if (!nm.n)
        return 0;
    /* One pass per person over the previous pass's output, each setting
     * the reason to its marker too: the person the reason names goes last,
     * so the reason reads their restriction whichever order the key holds. */
    for (size_t i = 0; reason_seq && i + 1 < nm.n; i++)
        if (nm.seq[i] == reason_seq) {
            char t[sizeof nm.ref[0]];
            memcpy(t, nm.ref[i], sizeof t);
            memcpy(nm.ref[i], nm.ref[nm.n - 1], sizeof t);
            memcpy(nm.ref[nm.n - 1], t, sizeof t);
            nm.seq[i] = nm.seq[nm.n - 1];
            nm.seq[nm.n - 1] = reason_seq;
            break;
        }
    msgpack_sbuffer a, b;
    msgpack_sbuffer_init(&a);
    msgpack_sbuffer_init(&b);
    const void *src = pairs;
    size_t srclen = len;
    int rc = 0;
    for (size_t i = 0; i < nm.n && rc == 0; i++) {
        char marker[CSPH_RESTRICTED_MARKER_MAX];
        snprintf(marker, sizeof marker, CSPH_RESTRICTED_HEAD "%" PRIu64 "]", nm.seq[i]);
        msgpack_sbuffer *dst = i + 1 == nm.n ? out : (i % 2 ? &b : &a);
        dst->size = 0;
        if (hub_alert_redact_pairs(src, srclen, npairs, nm.ref[i], strlen(nm.ref[i]), marker,
                                   dst))
            rc = -1;
        src = dst->data;
        srclen = dst->size;
    }
    msgpack_sbuffer_destroy(&a);
    msgpack_sbuffer_destroy(&b);
    return rc ? -1 : 1;
}
