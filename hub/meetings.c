#include "meetings.h"

#include <stdlib.h>
#include <string.h>

#include "actions.h"
#include "bekey.h"
#include "cases.h"
#include "londontime.h"
#include "pwstore.h"
#include "timefmt.h"
#include "wire.h"

#define LOOKBACK_DB "lookback"
#define ACCEPTED_DB "accepted"
#define YEAR_DAYS 365

#define AGES_MAX 4

/* The ages an event records: its int fields named `age` or ending in
 * `_age` (victim_age, perpetrator_age), as the rules read them. */
static size_t event_ages(const msgpack_object *obj, unsigned char *ages)
{
    size_t n = 0;
    if (!obj || obj->type != MSGPACK_OBJECT_MAP)
        return 0;
    for (uint32_t i = 0; i < obj->via.map.size && n < AGES_MAX; i++) {
        const msgpack_object *k = &obj->via.map.ptr[i].key, *v = &obj->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
            v->via.u64 > 150)
            continue;
        size_t kl = k->via.str.size;
        if ((kl == 3 && !memcmp(k->via.str.ptr, "age", 3)) ||
            (kl > 4 && !memcmp(k->via.str.ptr + kl - 4, "_age", 4)))
            ages[n++] = (unsigned char)v->via.u64;
    }
    return n;
}

enum hub_err hub_meetings_index_event(const struct hub_config *cfg, struct hub_store *s,
                                      const struct hub_event_info *info,
                                      const msgpack_object *obj, uint64_t seq,
                                      struct hub_error *err)
{
    MDB_dbi dbi;
    int opened = 0;
    enum hub_err rc = CSPH_ERR_OK;
    for (size_t p = 0; p < cfg->npanels && rc == CSPH_ERR_OK; p++) {
        const struct hub_panel_work *w = &cfg->panels[p].work;
        for (int t = 0; t < w->nlookback; t++) {
            if (strlen(w->lookback_types[t]) != info->type_len ||
                memcmp(w->lookback_types[t], info->type, info->type_len) != 0)
                continue;
            if (!opened && (rc = hub_pw_dbi_create(s, LOOKBACK_DB, 0, &dbi, err)))
                return rc;
            opened = 1;
            unsigned char k[65 + 16];
            size_t pl = strlen(cfg->panels[p].name);
            memcpy(k, cfg->panels[p].name, pl);
            k[pl] = 0;
            hub_put_point(k + pl + 1, info->occurred_at_ms, seq);
            unsigned char v[65 + 1 + AGES_MAX];
            memcpy(v, info->type, info->type_len);
            v[info->type_len] = 0;
            size_t na = event_ages(obj, v + info->type_len + 1);
            rc = hub_pw_put(s, dbi, k, pl + 17, v, info->type_len + 1 + na, err);
            break;
        }
    }
    return rc;
}

enum hub_err hub_meetings_index_accepted(struct hub_store *s, const char *panel, uint64_t id,
                                         int64_t received_ms, const char *key,
                                         struct hub_error *err)
{
    MDB_dbi dbi;
    enum hub_err rc = hub_pw_dbi_create(s, ACCEPTED_DB, 0, &dbi, err);
    if (rc)
        return rc;
    unsigned char k[65 + 16];
    size_t pl = strlen(panel);
    memcpy(k, panel, pl);
    k[pl] = 0;
    hub_put_point(k + pl + 1, received_ms, id);
    return hub_pw_put(s, dbi, k, pl + 17, key, strlen(key), err);
}

enum hub_err hub_meetings_day(const struct hub_config *cfg, int panel, const char *date,
                              size_t len, int64_t now_ms, int64_t *day, struct hub_error *err)
{
    const struct hub_panel_work *w = &cfg->panels[panel].work;
    if (date) {
        if (hub_panelcfg_day_parse(date, len, day))
            return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "meeting",
                                 "'%.*s' is not a date (YYYY-MM-DD)", (int)(len > 40 ? 40 : len),
                                 date);
        return CSPH_ERR_OK;
    }
    *day = hub_panelcfg_next_meeting(w, hub_panelcfg_london_day(now_ms));
    if (*day < 0)
        return hub_error_set(err, CSPH_ERR_BAD_REQUEST, "meeting",
                             "panel %s has no regular meeting calendar (config/panels.yaml "
                             "meetings): give the meeting's date",
                             cfg->panels[panel].name);
    return CSPH_ERR_OK;
}

/* What the walk of the panel's cases keeps: the cases of each list. */
struct walk {
    const struct hub_agenda_req *a;
    int64_t prev;      /* the previous meeting's day, -1: none */
    int64_t last_heard; /* the latest hearing before the meeting (ad hoc panels) */
    struct hub_case *v;
    size_t n, cap;
    int failed;
};

static int walk_case(void *ctx, const struct hub_case *c)
{
    struct walk *w = ctx;
    if (c->heard_day && c->heard_day < w->a->day && c->heard_day > w->last_heard)
        w->last_heard = c->heard_day;
    if (!c->open || (w->a->rv.any && hub_restrictview_names(&w->a->rv, c->key, strlen(c->key))))
        return 0;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 256;
        struct hub_case *v = realloc(w->v, cap * sizeof *v);
        if (!v) {
            w->failed = 1;
            return 1;
        }
        w->v = v;
        w->cap = cap;
    }
    w->v[w->n++] = *c;
    return 0;
}

/* Opened after the previous meeting's day, up to this meeting's (one
 * accepted on the morning of the meeting is on its agenda). */
static int is_new(const struct walk *w, const struct hub_case *c)
{
    int64_t opened = hub_panelcfg_london_day(c->opened_ms);
    if (opened > w->a->day)
        return 0;
    /* Without an earlier meeting, everything not heard yet is new. */
    return w->prev < 0 ? c->heard_day == 0 : opened > w->prev;
}

static int review_due(const struct walk *w, const struct hub_case *c)
{
    return c->review_pending ||
           (c->review_due_ms && hub_panelcfg_london_day(c->review_due_ms) <= w->a->day);
}

static int anniversary(const struct walk *w, const struct hub_case *c)
{
    int64_t since = c->heard_day ? c->heard_day : hub_panelcfg_london_day(c->opened_ms);
    return since + YEAR_DAYS <= w->a->day;
}

/* Pack one list of cases, stopping before room runs out. */
static uint32_t pack_cases(struct walk *w, int (*keep)(const struct walk *, const struct hub_case *),
                           msgpack_packer *pk, msgpack_sbuffer *sb, size_t room, int *truncated)
{
    uint32_t n = 0;
    for (size_t i = 0; i < w->n; i++)
        if (keep(w, &w->v[i]))
            n++;
    msgpack_pack_array(pk, n);
    uint32_t packed = 0;
    for (size_t i = 0; i < w->n; i++) {
        if (!keep(w, &w->v[i]))
            continue;
        if (sb->size > room) {
            /* Too much for one reply: the rest as nil, counted as truncated. */
            msgpack_pack_nil(pk);
            *truncated = 1;
        } else {
            hub_cases_pack_reply(pk, &w->v[i]);
        }
        packed++;
    }
    return packed;
}

struct action_list {
    struct hub_action *v;
    size_t n, cap;
    int failed;
    const struct hub_restrictview *rv;
};

static int collect_action(void *ctx, const struct hub_action *a)
{
    struct action_list *l = ctx;
    if (l->rv->any && hub_restrictview_names(l->rv, a->key, strlen(a->key)))
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 128;
        struct hub_action *v = realloc(l->v, cap * sizeof *v);
        if (!v) {
            l->failed = 1;
            return 1;
        }
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = *a;
    return 0;
}

static int64_t day_start(int64_t day)
{
    int y;
    unsigned m, d;
    csph_civil_from_days(day, &y, &m, &d);
    return csph_london_day_start(y, m, d);
}

/* One of the panel's time indexes (key: panel \0 point(time, id); value: a
 * short text) over [from_ms, to_ms) as an array of maps {id_name: id,
 * text_name: value, time_name: time}: two passes, the count first (the
 * array's header), entries past the reply's room packed as nil. */
struct range_shape {
    const char *db, *what;                       /* the index, for errors */
    const char *id_name, *text_name, *time_name; /* the packed map's keys */
    int lookback; /* values are type \0 ages: filtered by the panel's ages, ages packed */
};

/* A look-back entry's type and ages (v: type \0 ages; an older entry is
 * the type alone: *known 0), and whether the panel lists it. */
static int lookback_entry(const struct hub_panel_work *w, const MDB_val *v, size_t *type_len,
                          const unsigned char **ages, size_t *nages, int *known)
{
    const unsigned char *p = v->mv_data, *z = memchr(p, 0, v->mv_size);
    *known = z != NULL;
    *type_len = z ? (size_t)(z - p) : v->mv_size;
    *ages = z ? z + 1 : NULL;
    *nages = z ? v->mv_size - *type_len - 1 : 0;
    if (!w->lookback_by_age || !*known)
        return 1;
    for (size_t i = 0; i < *nages; i++)
        if ((*ages)[i] >= w->lookback_age_min && (*ages)[i] <= w->lookback_age_max)
            return 1;
    return 0; /* no age recorded in range, or none recorded */
}

static enum hub_err pack_range(const struct hub_agenda_req *a, const struct range_shape *sh,
                               int64_t from_ms, int64_t to_ms, msgpack_packer *pk,
                               msgpack_sbuffer *sb, uint32_t *count, int *truncated,
                               struct hub_error *err)
{
    const struct hub_panel *p = &a->cfg->panels[a->panel];
    MDB_dbi dbi;
    int absent;
    *count = 0;
    enum hub_err rc = hub_pw_dbi(a->store, a->txn, sh->db, 0, &dbi, &absent, err);
    if (rc)
        return rc;
    if (absent) {
        msgpack_pack_array(pk, 0);
        return CSPH_ERR_OK;
    }
    size_t pl = strlen(p->name);
    unsigned char lo[65 + 16];
    memcpy(lo, p->name, pl);
    lo[pl] = 0;
    hub_put_point(lo + pl + 1, from_ms, 0);
    for (int pass = 0; pass < 2; pass++) {
        MDB_cursor *cur;
        int mrc = mdb_cursor_open(a->txn, dbi, &cur);
        if (mrc)
            return hub_pw_fail(err, mrc, sh->what);
        MDB_val k = {pl + 17, lo}, v;
        uint32_t n = 0;
        for (mrc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); mrc == 0;
             mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
            if (k.mv_size != pl + 17 || memcmp(k.mv_data, lo, pl + 1) != 0)
                break;
            int64_t at;
            uint64_t id;
            hub_get_point((const unsigned char *)k.mv_data + pl + 1, &at, &id);
            if (at >= to_ms)
                break;
            size_t tl = v.mv_size, na = 0;
            const unsigned char *ages = NULL;
            int known = 0;
            if (sh->lookback && !lookback_entry(&p->work, &v, &tl, &ages, &na, &known))
                continue;
            /* an accepted alert keyed on a restricted person (its key text) */
            if (!sh->lookback && a->rv.any && hub_restrictview_names(&a->rv, v.mv_data, v.mv_size))
                continue;
            if (pass == 1) {
                if (sb->size > a->room) {
                    msgpack_pack_nil(pk);
                    *truncated = 1;
                } else {
                    char when[32];
                    msgpack_pack_map(pk, known ? 4 : 3);
                    hub_pack_str(pk, sh->id_name);
                    msgpack_pack_uint64(pk, id);
                    hub_pack_str(pk, sh->text_name);
                    hub_pack_strn(pk, v.mv_data, tl);
                    if (known) {
                        hub_pack_str(pk, "ages");
                        msgpack_pack_array(pk, (uint32_t)na);
                        for (size_t i = 0; i < na; i++)
                            msgpack_pack_uint8(pk, ages[i]);
                    }
                    hub_pack_str(pk, sh->time_name);
                    hub_pack_strn(pk, when, (size_t)csph_time_format(at, when));
                }
            }
            n++;
        }
        mdb_cursor_close(cur);
        if (pass == 0)
            msgpack_pack_array(pk, n);
        *count = n;
    }
    return CSPH_ERR_OK;
}

/* The alerts accepted in [from_ms, to_ms). */
static enum hub_err pack_accepted(const struct hub_agenda_req *a, int64_t from_ms, int64_t to_ms,
                                  msgpack_packer *pk, msgpack_sbuffer *sb, uint32_t *count,
                                  int *truncated, struct hub_error *err)
{
    static const struct range_shape accepted = {ACCEPTED_DB, "reading the accepted alerts",
                                                "alert", "key", "accepted_at", 0};
    return pack_range(a, &accepted, from_ms, to_ms, pk, sb, count, truncated, err);
}

/* The look-back list: the panel's events of its look-back types in the
 * days before the meeting (empty where the panel asks for none). */
static enum hub_err pack_lookback(const struct hub_agenda_req *a, msgpack_packer *pk,
                                  msgpack_sbuffer *sb, uint32_t *count, int *truncated,
                                  struct hub_error *err)
{
    static const struct range_shape lookback = {LOOKBACK_DB, "reading the look-back index",
                                                "seq", "type", "occurred_at", 1};
    const struct hub_panel *p = &a->cfg->panels[a->panel];
    if (!a->lookback || !p->work.nlookback) {
        *count = 0;
        msgpack_pack_array(pk, 0);
        return CSPH_ERR_OK;
    }
    return pack_range(a, &lookback, day_start(a->day - p->work.lookback_days),
                      day_start(a->day), pk, sb, count, truncated, err);
}

enum hub_err hub_meetings_agenda(const struct hub_agenda_req *a, msgpack_packer *pk,
                                 struct hub_agenda_counts *counts, struct hub_error *err)
{
    const struct hub_panel *p = &a->cfg->panels[a->panel];
    struct walk w = {.a = a, .prev = -1};
    struct action_list al = {.rv = &a->rv};
    msgpack_sbuffer *sb = pk->data; /* the packer writes to an sbuffer: its size is the bytes so far */
    memset(counts, 0, sizeof *counts);
    enum hub_err rc = hub_cases_each(a->store, a->txn, p->name, walk_case, &w, err);
    if (!rc && !w.failed)
        rc = hub_actions_each(a->store, a->txn, NULL, p->name, NULL, collect_action, &al, err);
    if (!rc && (w.failed || al.failed))
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory drawing up the agenda");
    if (rc)
        goto out;
    w.prev = p->work.meeting == CSPH_MEETING_WEEKLY || p->work.meeting == CSPH_MEETING_MONTHLY
                 ? hub_panelcfg_prev_meeting(&p->work, a->day)
                 : (w.last_heard ? w.last_heard : -1);
    char date[16];
    msgpack_pack_map(pk, 10);
    hub_pack_str(pk, "panel");
    hub_pack_str(pk, p->name);
    hub_pack_str(pk, "meeting");
    hub_pack_strn(pk, date, (size_t)hub_panelcfg_day_format(a->day, date));
    hub_pack_str(pk, "previous");
    if (w.prev >= 0)
        hub_pack_strn(pk, date, (size_t)hub_panelcfg_day_format(w.prev, date));
    else
        msgpack_pack_nil(pk);
    /* Accepted after the previous meeting's day (a year back without one),
     * up to the end of this meeting's. */
    hub_pack_str(pk, "accepted");
    if ((rc = pack_accepted(a, day_start(w.prev >= 0 ? w.prev + 1 : a->day - YEAR_DAYS),
                            day_start(a->day + 1), pk, sb, &counts->accepted,
                            &counts->truncated, err)))
        goto out;
    hub_pack_str(pk, "new_cases");
    counts->new_cases = pack_cases(&w, is_new, pk, sb, a->room, &counts->truncated);
    hub_pack_str(pk, "reviews_due");
    counts->reviews_due = pack_cases(&w, review_due, pk, sb, a->room, &counts->truncated);
    hub_pack_str(pk, "anniversaries");
    counts->anniversaries = pack_cases(&w, anniversary, pk, sb, a->room, &counts->truncated);
    hub_pack_str(pk, "actions");
    msgpack_pack_array(pk, (uint32_t)al.n);
    for (size_t i = 0; i < al.n; i++) {
        if (sb->size > a->room) {
            msgpack_pack_nil(pk);
            counts->truncated = 1;
        } else {
            hub_actions_pack_reply(pk, &al.v[i], 0);
        }
    }
    counts->actions = (uint32_t)al.n;
    hub_pack_str(pk, "lookback");
    if ((rc = pack_lookback(a, pk, sb, &counts->lookback, &counts->truncated, err)))
        goto out;
    hub_pack_str(pk, "truncated");
    if (counts->truncated)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
out:
    free(w.v);
    free(al.v);
    return rc;
}

/* hook (alertredact.h): the accepted alerts' index keeps each alert's key
 * text; an erasure rewrites the values naming the person with marker,
 * as re-derivation indexes them from the redacted alerts. *n: how many. */
enum hub_err hub_meetings_redact_accepted(struct hub_store *s, const char *person, size_t len,
                                          const char *marker, uint64_t *n,
                                          struct hub_error *err)
{
    MDB_dbi dbi;
    MDB_cursor *cur;
    MDB_txn *txn = hub_store_txn(s);
    int absent = 0;
    *n = 0;
    enum hub_err rc = hub_pw_dbi(s, txn, ACCEPTED_DB, 0, &dbi, &absent, err);
    if (rc || absent)
        return rc;
    /* Found first, rewritten after: no write under an open cursor. */
    struct hit {
        unsigned char k[65 + 16];
        size_t klen;
        char v[CSPH_ACCEPTED_KEY_MAX];
        size_t vlen;
    } *hits = NULL;
    size_t nh = 0, cap = 0;
    int mrc = mdb_cursor_open(txn, dbi, &cur);
    if (mrc)
        return hub_pw_fail(err, mrc, "reading the accepted alerts");
    MDB_val k, v;
    for (mrc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); mrc == 0 && !rc;
         mrc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
        const char *t = v.mv_data;
        int named = 0;
        for (size_t i = 0; i < v.mv_size && !named;) {
            size_t j = i;
            while (j < v.mv_size && !(j + 1 < v.mv_size && t[j] == ',' && t[j + 1] == ' '))
                j++;
            named = j - i == len && memcmp(t + i, person, len) == 0;
            i = j + 2;
        }
        if (!named || k.mv_size > sizeof hits->k || v.mv_size >= CSPH_ACCEPTED_KEY_MAX)
            continue;
        if (nh == cap) {
            cap = cap ? 2 * cap : 8;
            struct hit *more = realloc(hits, cap * sizeof *hits);
            if (!more) {
                rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
                break;
            }
            hits = more;
        }
        memcpy(hits[nh].k, k.mv_data, k.mv_size);
        hits[nh].klen = k.mv_size;
        memcpy(hits[nh].v, v.mv_data, v.mv_size);
        hits[nh++].vlen = v.mv_size;
    }
    mdb_cursor_close(cur);
    if (!rc && mrc && mrc != MDB_NOTFOUND)
        rc = hub_pw_fail(err, mrc, "reading the accepted alerts");
    size_t ml = strlen(marker);
    for (size_t h = 0; h < nh && !rc; h++) {
        char out[CSPH_ACCEPTED_KEY_MAX + 64 * 4];
        size_t o = 0;
        const char *t = hits[h].v;
        for (size_t i = 0; i < hits[h].vlen;) {
            size_t j = i;
            while (j < hits[h].vlen && !(j + 1 < hits[h].vlen && t[j] == ',' && t[j + 1] == ' '))
                j++;
            if (o)
                memcpy(out + o, ", ", 2), o += 2;
            if (j - i == len && memcmp(t + i, person, len) == 0)
                memcpy(out + o, marker, ml), o += ml;
            else
                memcpy(out + o, t + i, j - i), o += j - i;
            i = j + 2;
        }
        rc = hub_pw_put(s, dbi, hits[h].k, hits[h].klen, out, o, err);
        *n += !rc;
    }
    free(hits);
    return rc;
}

/* hook (alertredact.h): a retention sweep's expired alert, accepted at
 * received_ms, shows marker in the accepted alerts' index. */
enum hub_err hub_meetings_redact_accepted_at(struct hub_store *s, const char *panel,
                                             int64_t received_ms, uint64_t id,
                                             const char *marker, int *changed,
                                             struct hub_error *err)
{
    MDB_dbi dbi;
    int absent = 0;
    *changed = 0;
    enum hub_err rc = hub_pw_dbi(s, hub_store_txn(s), ACCEPTED_DB, 0, &dbi, &absent, err);
    if (rc || absent)
        return rc;
    unsigned char k[65 + 16];
    size_t pl = strlen(panel);
    if (pl > 64)
        return CSPH_ERR_OK;
    memcpy(k, panel, pl);
    k[pl] = 0;
    hub_put_point(k + pl + 1, received_ms, id);
    MDB_val kv = {pl + 17, k}, v;
    if (mdb_get(hub_store_txn(s), dbi, &kv, &v) != 0)
        return CSPH_ERR_OK;
    rc = hub_pw_put(s, dbi, k, pl + 17, marker, strlen(marker), err);
    *changed = !rc;
    return rc;
}
