#define _GNU_SOURCE /* qsort_r */
#include "alertdiff.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static enum hub_err nomem(struct hub_error *err)
{
    return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory comparing alerts");
}

void hub_alert_match_hash(const char *rule, const char *panel, size_t nkey, const char *tags,
                          const char (*values)[104], uint64_t anchor, uint64_t out[2])
{
    /* values are shorter than 104 and nkey at most CSPH_KEY_MAX_FIELDS */
    char buf[2 * 72 + CSPH_KEY_MAX_FIELDS * 106 + 32];
    int n = snprintf(buf, sizeof buf, "%.71s\x1f%.71s\x1f", rule, panel);
    for (size_t i = 0; i < nkey && i < CSPH_KEY_MAX_FIELDS; i++)
        n += snprintf(buf + n, sizeof buf - (size_t)n, "%c%.103s\x1e", tags[i], values[i]);
    n += snprintf(buf + n, sizeof buf - (size_t)n, "\x1f%020llu", (unsigned long long)anchor);
    XXH128_hash_t h = XXH3_128bits(buf, (size_t)n);
    out[0] = h.high64;
    out[1] = h.low64;
}

static void copy_str(char *out, size_t n, const msgpack_object *o)
{
    if (o->type == MSGPACK_OBJECT_STR)
        snprintf(out, n, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    else
        out[0] = 0;
}

static int keyis(const msgpack_object *k, const char *s)
{
    size_t n = strlen(s);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n && !memcmp(k->via.str.ptr, s, n);
}

/* What an alert shows, read from its packed form (the fields as
 * hub_queues_alert_brief reads them, so that both give the same match
 * string). */
struct detail {
    char rule[72], panel[72], priority[16];
    size_t nkey;
    char key_names[CSPH_KEY_MAX_FIELDS][72];
    char key_values[CSPH_KEY_MAX_FIELDS][104];
    char key_tags[CSPH_KEY_MAX_FIELDS];
    uint32_t nevidence;
    uint64_t anchor, ev_hash;
    char reason[600];
};

static int detail_parse(struct detail *d, const void *bytes, size_t len)
{
    msgpack_zone z;
    msgpack_object o;
    size_t off = 0;
    int rc = -1;
    memset(d, 0, sizeof *d);
    d->ev_hash = 1469598103934665603ull;
    msgpack_zone_init(&z, 2048);
    if (msgpack_unpack(bytes, len, &off, &z, &o) != MSGPACK_UNPACK_SUCCESS ||
        o.type != MSGPACK_OBJECT_MAP)
        goto done;
    for (uint32_t i = 0; i < o.via.map.size; i++) {
        const msgpack_object *k = &o.via.map.ptr[i].key, *v = &o.via.map.ptr[i].val;
        if (keyis(k, "rule"))
            copy_str(d->rule, sizeof d->rule, v);
        else if (keyis(k, "panel"))
            copy_str(d->panel, sizeof d->panel, v);
        else if (keyis(k, "priority"))
            copy_str(d->priority, sizeof d->priority, v);
        else if (keyis(k, "reason"))
            copy_str(d->reason, sizeof d->reason, v);
        else if (keyis(k, "key") && v->type == MSGPACK_OBJECT_MAP &&
                 v->via.map.size <= CSPH_KEY_MAX_FIELDS) {
            d->nkey = v->via.map.size;
            for (uint32_t j = 0; j < v->via.map.size; j++) {
                const msgpack_object *x = &v->via.map.ptr[j].val;
                char *out = d->key_values[j];
                size_t cap = sizeof d->key_values[j];
                copy_str(d->key_names[j], sizeof d->key_names[j], &v->via.map.ptr[j].key);
                if (x->type == MSGPACK_OBJECT_STR) {
                    snprintf(out, cap, "%.*s", (int)x->via.str.size, x->via.str.ptr);
                    d->key_tags[j] = 's';
                } else if (x->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                    snprintf(out, cap, "%llu", (unsigned long long)x->via.u64);
                    d->key_tags[j] = 'n';
                } else if (x->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
                    snprintf(out, cap, "%lld", (long long)x->via.i64);
                    d->key_tags[j] = 'n';
                } else if (x->type == MSGPACK_OBJECT_BOOLEAN) {
                    snprintf(out, cap, "%s", x->via.boolean ? "true" : "false");
                    d->key_tags[j] = 'b';
                } else {
                    d->nkey = 0;
                    break;
                }
            }
        } else if (keyis(k, "evidence") && v->type == MSGPACK_OBJECT_ARRAY) {
            d->nevidence = v->via.array.size;
            for (uint32_t j = 0; j < v->via.array.size; j++) {
                const msgpack_object *x = &v->via.array.ptr[j];
                uint64_t seq = x->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? x->via.u64 : 0;
                if (seq > d->anchor)
                    d->anchor = seq;
                for (int b = 0; b < 8; b++)
                    d->ev_hash = (d->ev_hash ^ ((seq >> (8 * b)) & 0xff)) * 1099511628211ull;
            }
        }
    }
    rc = 0;
done:
    msgpack_zone_destroy(&z);
    return rc;
}

/* The index of name in a set's table, added when new; -1 when full or
 * out of memory. */
static int group_index(struct hub_alert_set *s, const char *rule, const char *panel)
{
    char name[160];
    snprintf(name, sizeof name, "%s\x1f%s", rule, panel);
    for (size_t i = 0; i < s->ngroups; i++)
        if (!strcmp(s->groups[i], name))
            return (int)i;
    if (s->ngroups > UINT16_MAX)
        return -1;
    if (s->ngroups == s->capgroups) {
        size_t cap = s->capgroups ? 2 * s->capgroups : 16;
        char **g = realloc(s->groups, cap * sizeof *g);
        if (!g)
            return -1;
        s->groups = g;
        s->capgroups = cap;
    }
    if (!(s->groups[s->ngroups] = strdup(name)))
        return -1;
    return (int)s->ngroups++;
}

static int priority_index(struct hub_alert_set *s, const char *p)
{
    for (size_t i = 0; i < s->npriorities; i++)
        if (!strcmp(s->priorities[i], p))
            return (int)i;
    if (s->npriorities == CSPH_DIFF_PRIORITIES)
        return -1;
    snprintf(s->priorities[s->npriorities], sizeof s->priorities[0], "%s", p);
    return (int)s->npriorities++;
}

static int row_parse(struct hub_alert_set *s, struct hub_alert_row *r, uint64_t id,
                     const void *bytes, size_t len)
{
    struct detail d;
    memset(r, 0, sizeof *r);
    r->id = id;
    if (detail_parse(&d, bytes, len))
        return -1;
    r->anchor = d.anchor;
    r->ev_hash = d.ev_hash;
    r->nevidence = d.nevidence;
    hub_alert_match_hash(d.rule, d.panel, d.nkey, d.key_tags,
                         (const char(*)[104])d.key_values, d.anchor, r->match);
    XXH128_hash_t h = XXH3_128bits(bytes, len);
    r->digest[0] = h.high64;
    r->digest[1] = h.low64;
    int g = group_index(s, d.rule, d.panel), p = priority_index(s, d.priority);
    if (g < 0 || p < 0)
        return -1;
    r->group = (uint16_t)g;
    r->priority = (uint8_t)p;
    return 0;
}

struct collect {
    struct hub_alert_set *s;
    int failed;
};

static int collect_one(void *ctx, uint64_t id, const void *bytes, size_t len)
{
    struct collect *c = ctx;
    struct hub_alert_set *s = c->s;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 256;
        struct hub_alert_row *v = realloc(s->v, cap * sizeof *v);
        if (!v)
            return c->failed = 1;
        s->v = v;
        s->cap = cap;
    }
    if (row_parse(s, &s->v[s->n], id, bytes, len))
        return c->failed = 1;
    s->n++;
    return 0;
}

enum hub_err hub_alert_set_collect(struct hub_alert_set *s, struct hub_queues *q,
                                   MDB_txn *txn, struct hub_error *err)
{
    struct collect c = {s, 0};
    s->q = q;
    enum hub_err rc = txn ? hub_queues_each_in(q, txn, collect_one, &c, err)
                           : hub_queues_each(q, collect_one, &c, err);
    if (rc == CSPH_ERR_OK && c.failed)
        rc = nomem(err);
    if (rc == CSPH_ERR_OK && s->n && s->n < s->cap) { /* the doubling's slack back */
        struct hub_alert_row *v = realloc(s->v, s->n * sizeof *v);
        if (v) {
            s->v = v;
            s->cap = s->n;
        }
    }
    return rc;
}

void hub_alert_set_free(struct hub_alert_set *s)
{
    for (size_t i = 0; i < s->ngroups; i++)
        free(s->groups[i]);
    free(s->groups);
    free(s->v);
    memset(s, 0, sizeof *s);
}

const struct hub_alert_row *hub_alert_set_find(const struct hub_alert_set *s, uint64_t id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].id == id)
            return &s->v[mid];
        if (s->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *hub_alert_set_group(const struct hub_alert_set *s, const struct hub_alert_row *r)
{
    return r->group < s->ngroups ? s->groups[r->group] : "";
}

const char *hub_alert_set_priority(const struct hub_alert_set *s, const struct hub_alert_row *r)
{
    return r->priority < s->npriorities ? s->priorities[r->priority] : "";
}

struct copy {
    void *bytes;
    size_t len;
};

static int copy_one(void *ctx, uint64_t id, const void *bytes, size_t len)
{
    struct copy *c = ctx;
    (void)id;
    if ((c->bytes = malloc(len ? len : 1)))
        memcpy(c->bytes, bytes, len);
    c->len = len;
    return 0;
}

enum hub_err hub_alert_set_read(const struct hub_alert_set *s, const struct hub_alert_row *r,
                                void **bytes, size_t *len, struct hub_error *err)
{
    struct copy c = {0};
    *bytes = NULL;
    *len = 0;
    if (!s->q)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "alert %llu: its queues are closed",
                             (unsigned long long)r->id);
    enum hub_err rc = hub_queues_one(s->q, r->id, copy_one, &c, err);
    if (rc == CSPH_ERR_OK && !c.bytes)
        rc = nomem(err);
    *bytes = c.bytes;
    *len = c.len;
    return rc;
}

/* An alert's detail read again; 0, or -1 (d names nothing). */
static int detail_read(struct detail *d, const struct hub_alert_set *s,
                       const struct hub_alert_row *r)
{
    void *bytes;
    size_t len;
    struct hub_error err = {0};
    int rc = hub_alert_set_read(s, r, &bytes, &len, &err) || detail_parse(d, bytes, len) ? -1 : 0;
    free(bytes);
    if (rc)
        memset(d, 0, sizeof *d);
    return rc;
}

/* ---- the comparison ----------------------------------------------------- */

/* A set's groups ranked by name, so that two sets sort their rows alike. */
static uint32_t *group_ranks(const struct hub_alert_set *s)
{
    size_t n = s->ngroups ? s->ngroups : 1;
    uint32_t *rank = malloc(n * sizeof *rank), *by = malloc(n * sizeof *by);
    if (!rank || !by) {
        free(rank);
        free(by);
        return NULL;
    }
    for (size_t i = 0; i < s->ngroups; i++)
        by[i] = (uint32_t)i;
    for (size_t i = 1; i < s->ngroups; i++) /* few groups: insertion */
        for (size_t j = i; j > 0 && strcmp(s->groups[by[j - 1]], s->groups[by[j]]) > 0; j--) {
            uint32_t t = by[j];
            by[j] = by[j - 1];
            by[j - 1] = t;
        }
    for (size_t i = 0; i < s->ngroups; i++)
        rank[by[i]] = (uint32_t)i;
    free(by);
    return rank;
}

static int cmp_u64(uint64_t a, uint64_t b)
{
    return (a > b) - (a < b);
}

static int cmp_match(const struct hub_alert_row *a, const struct hub_alert_row *b)
{
    int c = cmp_u64(a->match[0], b->match[0]);
    return c ? c : cmp_u64(a->match[1], b->match[1]);
}

/* By group name, then match, then id. */
static int by_match(const void *x, const void *y, void *ctx)
{
    const uint32_t *rank = ctx;
    const struct hub_alert_row *a = *(const struct hub_alert_row *const *)x,
                                *b = *(const struct hub_alert_row *const *)y;
    int c = cmp_u64(rank[a->group], rank[b->group]);
    if (!c)
        c = cmp_match(a, b);
    return c ? c : cmp_u64(a->id, b->id);
}

static const struct hub_alert_row **sorted(const struct hub_alert_set *s)
{
    const struct hub_alert_row **v = malloc((s->n ? s->n : 1) * sizeof *v);
    uint32_t *rank = group_ranks(s);
    if (!v || !rank) {
        free(v);
        free(rank);
        return NULL;
    }
    for (size_t i = 0; i < s->n; i++)
        v[i] = &s->v[i];
    qsort_r(v, s->n, sizeof *v, by_match, rank);
    free(rank);
    return v;
}

static int differs(const struct hub_alert_set *sa, const struct hub_alert_row *a,
                   const struct hub_alert_set *sb, const struct hub_alert_row *b, int strict)
{
    if (strict)
        return a->digest[0] != b->digest[0] || a->digest[1] != b->digest[1];
    return strcmp(hub_alert_set_priority(sa, a), hub_alert_set_priority(sb, b)) != 0 ||
           a->nevidence != b->nevidence || a->ev_hash != b->ev_hash;
}

static struct hub_diff_group *group_of(struct hub_alert_diff *d, size_t *cap, const char *name)
{
    size_t rl = strcspn(name, "\x1f");
    const char *rule = name, *panel = name[rl] ? name + rl + 1 : name + rl;
    size_t pl = strlen(panel);
    for (size_t i = 0; i < d->n; i++)
        if (strlen(d->g[i].rule) == rl && !memcmp(d->g[i].rule, rule, rl) &&
            strlen(d->g[i].panel) == pl && !memcmp(d->g[i].panel, panel, pl))
            return &d->g[i];
    if (d->n == *cap) {
        size_t c = *cap ? *cap * 2 : 16;
        struct hub_diff_group *g = realloc(d->g, c * sizeof *g);
        if (!g)
            return NULL;
        d->g = g;
        *cap = c;
    }
    struct hub_diff_group *g = &d->g[d->n++];
    memset(g, 0, sizeof *g);
    snprintf(g->rule, sizeof g->rule, "%.*s", (int)rl, rule);
    snprintf(g->panel, sizeof g->panel, "%.*s", (int)pl, panel);
    return g;
}

/* The examples are the alerts with the lowest ids (the earliest raised),
 * in id order, whatever order the hashes put the rows in: r goes into ex
 * (seen met so far) when it is among them; twin, when not NULL, is a
 * parallel array (a changed alert's other side) moved in step. */
static void example(const struct hub_alert_row **ex, const struct hub_alert_row **twin,
                    size_t seen, const struct hub_alert_row *r, const struct hub_alert_row *rt)
{
    size_t n = seen < CSPH_DIFF_EXAMPLES ? seen : CSPH_DIFF_EXAMPLES;
    if (n == CSPH_DIFF_EXAMPLES && r->id >= ex[n - 1]->id)
        return;
    size_t at = n < CSPH_DIFF_EXAMPLES ? n : n - 1;
    for (; at > 0 && ex[at - 1]->id > r->id; at--) {
        ex[at] = ex[at - 1];
        if (twin)
            twin[at] = twin[at - 1];
    }
    ex[at] = r;
    if (twin)
        twin[at] = rt;
}

static int by_group(const void *x, const void *y)
{
    const struct hub_diff_group *a = x, *b = y;
    int c = strcmp(a->rule, b->rule);
    return c ? c : strcmp(a->panel, b->panel);
}

enum hub_err hub_alert_diff(struct hub_alert_diff *d, const struct hub_alert_set *a,
                            const struct hub_alert_set *b, int strict,
                            struct hub_error *err)
{
    memset(d, 0, sizeof *d);
    d->a = a;
    d->b = b;
    d->a_total = a->n;
    d->b_total = b->n;
    const struct hub_alert_row **x = sorted(a), **y = sorted(b);
    size_t i = 0, j = 0, cap = 0;
    enum hub_err rc = CSPH_ERR_OK;
    if (!x || !y) {
        rc = nomem(err);
        goto done;
    }
    while (i < a->n || j < b->n) {
        int c = i == a->n   ? 1
                : j == b->n ? -1
                            : strcmp(hub_alert_set_group(a, x[i]), hub_alert_set_group(b, y[j]));
        if (c == 0)
            c = cmp_match(x[i], y[j]);
        if (c == 0 && !differs(a, x[i], b, y[j], strict)) {
            d->same++;
            i++, j++;
            continue;
        }
        struct hub_diff_group *g =
            group_of(d, &cap, c <= 0 ? hub_alert_set_group(a, x[i]) : hub_alert_set_group(b, y[j]));
        if (!g) {
            rc = nomem(err);
            goto done;
        }
        if (c < 0) {
            example(g->removed_ex, NULL, g->removed, x[i], NULL);
            g->removed++;
            d->removed++;
            i++;
        } else if (c > 0) {
            example(g->added_ex, NULL, g->added, y[j], NULL);
            g->added++;
            d->added++;
            j++;
        } else {
            example(g->changed_a, g->changed_b, g->changed, x[i], y[j]);
            g->changed++;
            d->changed++;
            i++, j++;
        }
    }
    if (d->n)
        qsort(d->g, d->n, sizeof *d->g, by_group);
done:
    free(x);
    free(y);
    if (rc)
        hub_alert_diff_free(d);
    return rc;
}

void hub_alert_diff_free(struct hub_alert_diff *d)
{
    free(d->g);
    d->g = NULL;
    d->n = 0;
}

int hub_alert_diff_any(const struct hub_alert_diff *d)
{
    return d->added || d->removed || d->changed;
}

/* ---- for people ----------------------------------------------------------- */

static void key_text(const struct detail *r, char *out, size_t n)
{
    size_t off = 0;
    out[0] = 0;
    for (size_t i = 0; i < r->nkey && off < n; i++)
        off += (size_t)snprintf(out + off, n - off, "%s%s=%s", i ? ", " : "", r->key_names[i],
                                r->key_values[i]);
    if (!r->nkey)
        snprintf(out, n, "(no key)");
}

/* The reason cut to a line (at a UTF-8 character's start). */
static void short_reason(const struct detail *r, char *out, size_t n)
{
    const char *s = r->reason;
    size_t len = strlen(s);
    if (len < n) {
        memcpy(out, s, len + 1);
        return;
    }
    size_t cut = n - 4;
    while (cut && ((unsigned char)s[cut] & 0xc0) == 0x80)
        cut--;
    memcpy(out, s, cut);
    memcpy(out + cut, "...", 4);
}

static void print_one(FILE *out, const char *what, const char *side,
                      const struct hub_alert_set *set, const struct hub_alert_row *r)
{
    struct detail d;
    char key[512], reason[104], id[64];
    detail_read(&d, set, r);
    key_text(&d, key, sizeof key);
    short_reason(&d, reason, sizeof reason);
    snprintf(id, sizeof id, "%s #%llu", side, (unsigned long long)r->id);
    fprintf(out, "      %-8s %-16s %s  %s, evidence %u: %s\n", what, id, key,
            hub_alert_set_priority(set, r), r->nevidence, reason);
}

void hub_alert_diff_print(FILE *out, const struct hub_alert_diff *d, const char *a_name,
                          const char *b_name)
{
    if (!hub_alert_diff_any(d)) {
        fprintf(out, "no difference: %zu alerts in the %s, %zu in the %s, all the same\n",
                d->a_total, a_name, d->b_total, b_name);
        return;
    }
    fprintf(out, "%-36s %-20s %7s %7s %7s\n", "rule", "panel", "added", "removed", "changed");
    for (size_t i = 0; i < d->n; i++) {
        const struct hub_diff_group *g = &d->g[i];
        fprintf(out, "%-36s %-20s %7zu %7zu %7zu\n", g->rule, g->panel, g->added, g->removed,
                g->changed);
        for (size_t k = 0; k < g->added && k < CSPH_DIFF_EXAMPLES; k++)
            print_one(out, "added", b_name, d->b, g->added_ex[k]);
        for (size_t k = 0; k < g->removed && k < CSPH_DIFF_EXAMPLES; k++)
            print_one(out, "removed", a_name, d->a, g->removed_ex[k]);
        for (size_t k = 0; k < g->changed && k < CSPH_DIFF_EXAMPLES; k++) {
            const struct hub_alert_row *a = g->changed_a[k], *b = g->changed_b[k];
            struct detail db;
            char key[512], reason[104];
            detail_read(&db, d->b, b);
            key_text(&db, key, sizeof key);
            short_reason(&db, reason, sizeof reason);
            fprintf(out, "      %-8s %s #%llu -> %s #%llu  %s  %s -> %s, evidence %u -> %u: %s\n",
                    "changed", a_name, (unsigned long long)a->id, b_name,
                    (unsigned long long)b->id, key, hub_alert_set_priority(d->a, a),
                    hub_alert_set_priority(d->b, b), a->nevidence,
                    b->nevidence, reason);
        }
        if (g->added + g->removed + g->changed >
            (g->added < CSPH_DIFF_EXAMPLES ? g->added : CSPH_DIFF_EXAMPLES) +
                (g->removed < CSPH_DIFF_EXAMPLES ? g->removed : CSPH_DIFF_EXAMPLES) +
                (g->changed < CSPH_DIFF_EXAMPLES ? g->changed : CSPH_DIFF_EXAMPLES))
            fprintf(out, "      (at most %d examples of each are shown)\n", CSPH_DIFF_EXAMPLES);
    }
    fprintf(out, "%-36s %-20s %7zu %7zu %7zu\n", "total", "", d->added, d->removed, d->changed);
    fprintf(out, "%zu alerts in the %s, %zu in the %s, %zu the same\n", d->a_total, a_name,
            d->b_total, b_name, d->same);
}

/* ---- as JSON ---------------------------------------------------------------- */

static json_t *alert_json(const struct hub_alert_set *set, const struct hub_alert_row *row)
{
    struct detail d, *r = &d;
    detail_read(&d, set, row);
    json_t *key = json_object();
    for (size_t i = 0; i < r->nkey; i++) {
        json_t *v;
        if (r->key_tags[i] == 'n' && r->key_values[i][0] == '-')
            v = json_integer(strtoll(r->key_values[i], NULL, 10));
        else if (r->key_tags[i] == 'n')
            v = json_integer((json_int_t)strtoull(r->key_values[i], NULL, 10));
        else if (r->key_tags[i] == 'b')
            v = json_boolean(!strcmp(r->key_values[i], "true"));
        else
            v = json_string(r->key_values[i]);
        json_object_set_new(key, r->key_names[i], v);
    }
    return json_pack("{s:I, s:o, s:s, s:I, s:s}", "id", (json_int_t)row->id, "key", key,
                     "priority", hub_alert_set_priority(set, row), "evidence", (json_int_t)row->nevidence,
                     "reason", r->reason);
}

json_t *hub_alert_diff_json(const struct hub_alert_diff *d, const char *a_name,
                            const char *b_name)
{
    json_t *groups = json_array();
    for (size_t i = 0; i < d->n; i++) {
        const struct hub_diff_group *g = &d->g[i];
        json_t *added = json_array(), *removed = json_array(), *changed = json_array();
        for (size_t k = 0; k < g->added && k < CSPH_DIFF_EXAMPLES; k++)
            json_array_append_new(added, alert_json(d->b, g->added_ex[k]));
        for (size_t k = 0; k < g->removed && k < CSPH_DIFF_EXAMPLES; k++)
            json_array_append_new(removed, alert_json(d->a, g->removed_ex[k]));
        for (size_t k = 0; k < g->changed && k < CSPH_DIFF_EXAMPLES; k++)
            json_array_append_new(changed, json_pack("{s:o, s:o}", a_name,
                                                     alert_json(d->a, g->changed_a[k]), b_name,
                                                     alert_json(d->b, g->changed_b[k])));
        json_array_append_new(
            groups, json_pack("{s:s, s:s, s:I, s:I, s:I, s:{s:o, s:o, s:o}}", "rule", g->rule,
                              "panel", g->panel, "added", (json_int_t)g->added, "removed",
                              (json_int_t)g->removed, "changed", (json_int_t)g->changed,
                              "examples", "added", added, "removed", removed, "changed",
                              changed));
    }
    return json_pack("{s:I, s:I, s:I, s:I, s:{s:I, s:I}, s:o}", "added", (json_int_t)d->added,
                     "removed", (json_int_t)d->removed, "changed", (json_int_t)d->changed,
                     "same", (json_int_t)d->same, "alerts", a_name, (json_int_t)d->a_total,
                     b_name, (json_int_t)d->b_total, "groups", groups);
}
