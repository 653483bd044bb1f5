#include "alertdiff.h"

#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

static enum hub_err nomem(struct hub_error *err)
{
    return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory comparing alerts");
}

char *hub_alert_match(const char *rule, const char *panel, size_t nkey, const char *tags,
                      const char (*values)[104], uint64_t anchor)
{
    size_t n = strlen(rule) + strlen(panel) + 48;
    for (size_t i = 0; i < nkey; i++)
        n += strlen(values[i]) + 3;
    char *s = malloc(n), *p = s;
    if (!s)
        return NULL;
    p += sprintf(p, "%s\x1f%s\x1f", rule, panel);
    for (size_t i = 0; i < nkey; i++)
        p += sprintf(p, "%c%s\x1e", tags[i], values[i]);
    sprintf(p, "\x1f%020llu", (unsigned long long)anchor);
    return s;
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

static int row_parse(struct hub_alert_row *r, uint64_t id, const void *bytes, size_t len)
{
    struct detail d;
    memset(r, 0, sizeof *r);
    r->id = id;
    if (detail_parse(&d, bytes, len))
        return -1;
    r->anchor = d.anchor;
    r->ev_hash = d.ev_hash;
    r->nevidence = d.nevidence;
    snprintf(r->priority, sizeof r->priority, "%s", d.priority);
    r->group_len = strlen(d.rule) + 1 + strlen(d.panel);
    if (!(r->match = hub_alert_match(d.rule, d.panel, d.nkey, d.key_tags,
                                     (const char(*)[104])d.key_values, d.anchor)) ||
        !(r->bytes = malloc(len ? len : 1)))
        return -1;
    memcpy(r->bytes, bytes, len);
    r->len = len;
    return 0;
}

static void row_free(struct hub_alert_row *r)
{
    free(r->match);
    free(r->bytes);
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
    if (row_parse(&s->v[s->n], id, bytes, len)) {
        row_free(&s->v[s->n]);
        return c->failed = 1;
    }
    s->n++;
    return 0;
}

enum hub_err hub_alert_set_collect(struct hub_alert_set *s, struct hub_queues *q,
                                   MDB_txn *txn, struct hub_error *err)
{
    struct collect c = {s, 0};
    enum hub_err rc = txn ? hub_queues_each_in(q, txn, collect_one, &c, err)
                           : hub_queues_each(q, collect_one, &c, err);
    if (rc == CSPH_ERR_OK && c.failed)
        rc = nomem(err);
    return rc;
}

void hub_alert_set_free(struct hub_alert_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        row_free(&s->v[i]);
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

/* ---- the comparison ----------------------------------------------------- */

static int by_match(const void *x, const void *y)
{
    const struct hub_alert_row *a = *(const struct hub_alert_row *const *)x,
                                *b = *(const struct hub_alert_row *const *)y;
    int c = strcmp(a->match, b->match);
    return c ? c : (a->id > b->id) - (a->id < b->id);
}

static const struct hub_alert_row **sorted(const struct hub_alert_set *s)
{
    const struct hub_alert_row **v = malloc((s->n ? s->n : 1) * sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        v[i] = &s->v[i];
    qsort(v, s->n, sizeof *v, by_match);
    return v;
}

static int differs(const struct hub_alert_row *a, const struct hub_alert_row *b, int strict)
{
    if (strict)
        return a->len != b->len || memcmp(a->bytes, b->bytes, a->len) != 0;
    return strcmp(a->priority, b->priority) != 0 || a->nevidence != b->nevidence ||
           a->ev_hash != b->ev_hash;
}

static struct hub_diff_group *group_of(struct hub_alert_diff *d, size_t *cap,
                                       const struct hub_alert_row *r)
{
    size_t rl = strcspn(r->match, "\x1f");
    const char *rule = r->match, *panel = r->match + rl + 1;
    size_t pl = r->group_len > rl ? r->group_len - rl - 1 : 0;
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
        int c = i == a->n ? 1 : j == b->n ? -1 : strcmp(x[i]->match, y[j]->match);
        const struct hub_alert_row *r = c <= 0 ? x[i] : y[j];
        if (c == 0 && !differs(x[i], y[j], strict)) {
            d->same++;
            i++, j++;
            continue;
        }
        struct hub_diff_group *g = group_of(d, &cap, r);
        if (!g) {
            rc = nomem(err);
            goto done;
        }
        if (c < 0) {
            if (g->removed < CSPH_DIFF_EXAMPLES)
                g->removed_ex[g->removed] = x[i];
            g->removed++;
            d->removed++;
            i++;
        } else if (c > 0) {
            if (g->added < CSPH_DIFF_EXAMPLES)
                g->added_ex[g->added] = y[j];
            g->added++;
            d->added++;
            j++;
        } else {
            if (g->changed < CSPH_DIFF_EXAMPLES)
                g->changed_ex[g->changed] = (struct hub_diff_change){x[i], y[j]};
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
                      const struct hub_alert_row *r)
{
    struct detail d;
    char key[512], reason[104], id[64];
    detail_parse(&d, r->bytes, r->len);
    key_text(&d, key, sizeof key);
    short_reason(&d, reason, sizeof reason);
    snprintf(id, sizeof id, "%s #%llu", side, (unsigned long long)r->id);
    fprintf(out, "      %-8s %-16s %s  %s, evidence %u: %s\n", what, id, key, r->priority,
            r->nevidence, reason);
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
            print_one(out, "added", b_name, g->added_ex[k]);
        for (size_t k = 0; k < g->removed && k < CSPH_DIFF_EXAMPLES; k++)
            print_one(out, "removed", a_name, g->removed_ex[k]);
        for (size_t k = 0; k < g->changed && k < CSPH_DIFF_EXAMPLES; k++) {
            const struct hub_alert_row *a = g->changed_ex[k].a, *b = g->changed_ex[k].b;
            struct detail db;
            char key[512], reason[104];
            detail_parse(&db, b->bytes, b->len);
            key_text(&db, key, sizeof key);
            short_reason(&db, reason, sizeof reason);
            fprintf(out, "      %-8s %s #%llu -> %s #%llu  %s  %s -> %s, evidence %u -> %u: %s\n",
                    "changed", a_name, (unsigned long long)a->id, b_name,
                    (unsigned long long)b->id, key, a->priority, b->priority, a->nevidence,
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

static json_t *alert_json(const struct hub_alert_row *row)
{
    struct detail d, *r = &d;
    detail_parse(&d, row->bytes, row->len);
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
                     "priority", row->priority, "evidence", (json_int_t)row->nevidence,
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
            json_array_append_new(added, alert_json(g->added_ex[k]));
        for (size_t k = 0; k < g->removed && k < CSPH_DIFF_EXAMPLES; k++)
            json_array_append_new(removed, alert_json(g->removed_ex[k]));
        for (size_t k = 0; k < g->changed && k < CSPH_DIFF_EXAMPLES; k++)
            json_array_append_new(changed, json_pack("{s:o, s:o}", a_name,
                                                     alert_json(g->changed_ex[k].a), b_name,
                                                     alert_json(g->changed_ex[k].b)));
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
