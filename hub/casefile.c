#include "casefile.h"

#include <stdio.h>
#include <string.h>

#include "bekey.h"
#include "mpx.h"
#include "people.h"
#include "pwstore.h"
#include "reply.h"
#include "timefmt.h"
#include "wire.h"

#define CASE_LOG_DB "case_log"

/* The event types that make up a case's history (docs/panels.md). */
static const char *const case_types[] = {"case.opened", "case.update", "case.heard",
                                         "risk.assessment", NULL};

static int is_case_type(const struct hub_event_info *info)
{
    for (int i = 0; case_types[i]; i++)
        if (strlen(case_types[i]) == info->type_len &&
            !memcmp(case_types[i], info->type, info->type_len))
            return 1;
    return 0;
}

enum hub_err hub_casefile_note(struct hub_store *s, const struct hub_config *cfg,
                               const struct hub_event_info *info, const msgpack_object *obj,
                               uint64_t seq, struct hub_error *err)
{
    if (!is_case_type(info))
        return CSPH_ERR_OK;
    const msgpack_object *p = hub_mp_get(obj, "panel"), *k = hub_mp_get(obj, "subject");
    if (!p || p->type != MSGPACK_OBJECT_STR || !k || k->type != MSGPACK_OBJECT_STR ||
        !k->via.str.size || k->via.str.size > 100)
        return CSPH_ERR_OK;
    int pi = hub_config_panel_find(cfg, p->via.str.ptr, p->via.str.size);
    if (pi < 0)
        return CSPH_ERR_OK;
    MDB_dbi dbi;
    enum hub_err rc = hub_pw_dbi_create(s, CASE_LOG_DB, MDB_DUPSORT, &dbi, err);
    if (rc)
        return rc;
    unsigned char kb[CSPH_PW_CASEKEY_MAX], vb[8];
    size_t kl = hub_pw_case_key(kb, cfg->panels[pi].name, k->via.str.ptr, k->via.str.size);
    hub_put_be64(vb, seq);
    return hub_pw_put(s, dbi, kb, kl, vb, sizeof vb, err);
}

struct history_pack {
    msgpack_packer *pk;
    msgpack_sbuffer *sb;
    size_t room;
    uint32_t n;
    int full;
};

static int history_visit(void *ctx, const struct hub_stored_event *ev)
{
    struct history_pack *h = ctx;
    if (h->sb->size + ev->len + CSPH_REPLY_EVENT_OVERHEAD > h->room) {
        h->full = 1;
        return 1;
    }
    char when[32];
    int wl = csph_time_format(ev->received_ms, when);
    hub_reply_event_entry(h->pk, ev->seq, when, (size_t)wl, ev->bytes, ev->len);
    h->n++;
    return 0;
}

enum hub_err hub_casefile_pack_history(struct hub_store *s, MDB_txn *txn, const char *panel,
                                       const char *key, msgpack_packer *pk, msgpack_sbuffer *sb,
                                       size_t room, uint32_t *n, int *truncated,
                                       struct hub_error *err)
{
    MDB_dbi dbi;
    int absent;
    *n = 0;
    *truncated = 0;
    enum hub_err rc = hub_pw_dbi(s, txn, CASE_LOG_DB, MDB_DUPSORT, &dbi, &absent, err);
    if (rc || absent)
        return rc;
    unsigned char kb[CSPH_PW_CASEKEY_MAX];
    MDB_val k = {hub_pw_case_key(kb, panel, key, strlen(key)), kb}, v;
    MDB_cursor *cur;
    int mrc = mdb_cursor_open(txn, dbi, &cur);
    if (mrc)
        return hub_pw_fail(err, mrc, "reading a case's history");
    /* The latest CSPH_CASEFILE_MAX: a ring over the duplicates, in order. */
    uint64_t seqs[CSPH_CASEFILE_MAX];
    size_t count = 0;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_KEY); mrc == 0;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT_DUP))
        if (v.mv_size == 8)
            seqs[count++ % CSPH_CASEFILE_MAX] = hub_get_be64(v.mv_data);
    mdb_cursor_close(cur);
    if (mrc != MDB_NOTFOUND)
        return hub_pw_fail(err, mrc, "reading a case's history");
    size_t first = count > CSPH_CASEFILE_MAX ? count % CSPH_CASEFILE_MAX : 0;
    size_t kept = count > CSPH_CASEFILE_MAX ? CSPH_CASEFILE_MAX : count;
    *truncated = count > CSPH_CASEFILE_MAX;
    struct history_pack h = {.pk = pk, .sb = sb, .room = room};
    for (size_t i = 0; i < kept && !h.full; i++) {
        struct hub_error ge;
        rc = hub_store_get(s, seqs[(first + i) % CSPH_CASEFILE_MAX], history_visit, &h, &ge);
        if (rc == CSPH_ERR_NOT_FOUND) /* cut by retention: no longer in the log */
            continue;
        if (rc) {
            *err = ge;
            return rc;
        }
    }
    *n = h.n;
    *truncated |= h.full;
    return CSPH_ERR_OK;
}

void hub_casefile_pack_choices(msgpack_packer *pk, const struct hub_config *cfg,
                               const struct hub_identities *ids, int panel)
{
    const struct hub_panel_work *w = &cfg->panels[panel].work;
    msgpack_pack_map(pk, 2);
    hub_pack_str(pk, "outcomes");
    msgpack_pack_array(pk, (uint32_t)w->noutcomes);
    for (int i = 0; i < w->noutcomes; i++)
        hub_pack_str(pk, w->outcomes[i]);
    hub_pack_str(pk, "owners");
    uint32_t n = 0;
    int curve = cfg->security == CSPH_SECURITY_CURVE && ids;
    if (curve) {
        for (size_t i = 0; i < ids->n; i++)
            n += ids->v[i].role == CSPH_ROLE_AGENCY;
        for (size_t i = 0; i < ids->npeople; i++)
            n += !ids->people[i].disabled && ids->people[i].role == CSPH_ROLE_PANEL &&
                 (ids->people[i].panels >> panel & 1);
    } else {
        n = (uint32_t)cfg->nagencies;
    }
    msgpack_pack_array(pk, n);
    if (!curve) {
        for (size_t i = 0; i < cfg->nagencies; i++) {
            msgpack_pack_map(pk, 2);
            hub_pack_str(pk, "name");
            hub_pack_str(pk, cfg->agencies[i]);
            hub_pack_str(pk, "kind");
            hub_pack_str(pk, "agency");
        }
        return;
    }
    for (size_t i = 0; i < ids->n; i++)
        if (ids->v[i].role == CSPH_ROLE_AGENCY) {
            msgpack_pack_map(pk, 2);
            hub_pack_str(pk, "name");
            hub_pack_str(pk, ids->v[i].name);
            hub_pack_str(pk, "kind");
            hub_pack_str(pk, "agency");
        }
    for (size_t i = 0; i < ids->npeople; i++)
        if (!ids->people[i].disabled && ids->people[i].role == CSPH_ROLE_PANEL &&
            (ids->people[i].panels >> panel & 1)) {
            msgpack_pack_map(pk, 2);
            hub_pack_str(pk, "name");
            hub_pack_str(pk, ids->people[i].name);
            hub_pack_str(pk, "kind");
            hub_pack_str(pk, "person");
        }
}

/* hook (alertredact.h): an erasure takes the person's case histories out
 * (their events no longer name them: a replay would not note them). */
enum hub_err hub_casefile_forget_panel(struct hub_store *s, const char *panel, const char *key,
                                       size_t len, struct hub_error *err)
{
    MDB_dbi dbi;
    int absent = 0;
    unsigned char kb[CSPH_PW_CASEKEY_MAX];
    enum hub_err rc = hub_pw_dbi(s, hub_store_txn(s), CASE_LOG_DB, MDB_DUPSORT, &dbi, &absent,
                                 err);
    if (!rc && !absent)
        rc = hub_pw_del(s, dbi, kb, hub_pw_case_key(kb, panel, key, len), NULL, 0, err);
    return rc;
}

enum hub_err hub_casefile_forget(struct hub_store *s, const struct hub_config *cfg,
                                 const char *key, size_t len, struct hub_error *err)
{
    enum hub_err rc = CSPH_ERR_OK;
    for (size_t p = 0; !rc && p < cfg->npanels; p++)
        rc = hub_casefile_forget_panel(s, cfg->panels[p].name, key, len, err);
    return rc;
}
