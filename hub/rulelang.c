/* rulelang.c: field paths, tests and reason templates (rulelang.h). */
#include "rulelang.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"

void *hub_arena_alloc(struct hub_arena *a, size_t size)
{
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 64;
        void **p = realloc(a->p, c * sizeof *p);
        if (!p)
            return NULL;
        a->p = p;
        a->cap = c;
    }
    void *m = calloc(1, size ? size : 1);
    if (m)
        a->p[a->n++] = m;
    return m;
}

char *hub_arena_strdup(struct hub_arena *a, const char *s, size_t n)
{
    char *d = hub_arena_alloc(a, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

void hub_arena_free(struct hub_arena *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->p[i]);
    free(a->p);
    memset(a, 0, sizeof *a);
}

static enum hub_err nomem(struct hub_error *err)
{
    return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
}

static int64_t day_of(int64_t ms)
{
    return ms >= 0 ? ms / CSPH_MS_PER_DAY : -((-ms + CSPH_MS_PER_DAY - 1) / CSPH_MS_PER_DAY);
}

static const struct {
    const char *name;
    enum hub_ph ph;
    int restricted_ok; /* may appear in a restricted panel's reason */
} placeholders[] = {
    {"count", CSPH_PH_COUNT, 0},         {"distinct", CSPH_PH_DISTINCT, 0}, {"key", CSPH_PH_KEY, 1},
    {"key_name", CSPH_PH_KEY_NAME, 1},   {"first", CSPH_PH_FIRST, 0},       {"last", CSPH_PH_LAST, 0},
    {"date", CSPH_PH_DATE, 0},           {"threshold", CSPH_PH_THRESHOLD, 0}, {"window", CSPH_PH_WINDOW, 0},
    {"within", CSPH_PH_WITHIN, 0},       {"panel", CSPH_PH_PANEL, 1},       {"priority", CSPH_PH_PRIORITY, 1},
    {"rule", CSPH_PH_RULE, 1},           {"due", CSPH_PH_DUE, 1},
};

int hub_field_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* 0; -1 when s is not a field name (victim, location.lsoa); -2 out of memory. */
int hub_path_compile(struct hub_arena *r, const char *s, size_t n, struct hub_path *p)
{
    memset(p, 0, sizeof *p);
    if (n == 0 || n > CSPH_PATH_TEXT_MAX)
        return -1;
    char *text = hub_arena_strdup(r, s, n);
    if (!text)
        return -2;
    p->text = text;
    for (size_t i = 0;;) {
        size_t start = i;
        while (i < n && hub_field_char(text[i]))
            i++;
        if (i == start || p->nseg == CSPH_PATH_SEG_MAX)
            return -1;
        p->seg[p->nseg].p = text + start;
        p->seg[p->nseg].n = (uint32_t)(i - start);
        p->nseg++;
        if (i == n)
            return 0;
        if (text[i] != '.')
            return -1;
        i++;
    }
}

const msgpack_object *hub_path_get(const msgpack_object *o, const struct hub_path *p)
{
    for (unsigned s = 0; s < p->nseg; s++) {
        if (!o || o->type != MSGPACK_OBJECT_MAP)
            return NULL;
        const msgpack_object_kv *kv = o->via.map.ptr;
        const msgpack_object *next = NULL;
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (kv[i].key.type == MSGPACK_OBJECT_STR && kv[i].key.via.str.size == p->seg[s].n &&
                memcmp(kv[i].key.via.str.ptr, p->seg[s].p, p->seg[s].n) == 0) {
                next = &kv[i].val;
                break;
            }
        o = next;
    }
    return o;
}

/* ---- tests: parse ------------------------------------------------------ */

struct lex {
    const char *s;
    size_t i, n;
};

static void lex_ws(struct lex *l)
{
    while (l->i < l->n && (l->s[l->i] == ' ' || l->s[l->i] == '\t'))
        l->i++;
}

static int lex_end(struct lex *l)
{
    lex_ws(l);
    return l->i == l->n;
}

static int is_value_stop(char c)
{
    return c == ' ' || c == '\t' || c == ',' || c == '[' || c == ']';
}

/* A value: "quoted", 'quoted', or a bare word up to a space, ',' or ']'. */
static int lex_value(struct lex *l, const char **v, size_t *vn, int *quoted)
{
    lex_ws(l);
    if (l->i >= l->n)
        return -1;
    char q = l->s[l->i];
    if (q == '"' || q == '\'') {
        size_t start = ++l->i;
        while (l->i < l->n && l->s[l->i] != q)
            l->i++;
        if (l->i >= l->n)
            return -1;
        *v = l->s + start;
        *vn = l->i - start;
        *quoted = 1;
        l->i++;
        return 0;
    }
    size_t start = l->i;
    while (l->i < l->n && !is_value_stop(l->s[l->i]))
        l->i++;
    if (l->i == start)
        return -1;
    *v = l->s + start;
    *vn = l->i - start;
    *quoted = 0;
    return 0;
}

static int lit_make(struct hub_arena *r, const char *v, size_t vn, int quoted, struct hub_lit *lit)
{
    memset(lit, 0, sizeof *lit);
    char *s = hub_arena_strdup(r, v, vn);
    if (!s)
        return -1;
    lit->s = s;
    lit->n = (uint32_t)vn;
    if (quoted)
        return 0; /* quoted: always text */
    if (!strcmp(s, "true") || !strcmp(s, "false")) {
        lit->is_bool = 1;
        lit->b = s[0] == 't';
        return 0;
    }
    int numeric = (s[0] >= '0' && s[0] <= '9') ||
                  ((s[0] == '-' || s[0] == '+' || s[0] == '.') && s[1] >= '0' && s[1] <= '9');
    if (!numeric)
        return 0;
    char *end;
    errno = 0;
    long long i = strtoll(s, &end, 10);
    if (*end == 0 && errno != ERANGE) { /* beyond a 64-bit integer: compared as a real number */
        lit->is_num = lit->is_int = 1;
        lit->i = i;
        lit->d = (double)i;
        return 0;
    }
    double d = strtod(s, &end);
    if (*end == 0 && isfinite(d)) {
        lit->is_num = 1;
        lit->d = d;
    }
    return 0;
}

#define OPS_HELP "=, !=, >=, <=, >, <, in [a, b], between A and B, exists, missing"

static enum hub_err test_compile(struct hub_arena *r, struct hub_yaml *y, yaml_node_t *node,
                                 const char *s, struct hub_cond *c, struct hub_error *err)
{
    struct lex l = {s, 0, strlen(s)};
    c->kind = CSPH_COND_TEST;
    c->line = hub_yaml_line(node);
    lex_ws(&l);
    size_t start = l.i;
    while (l.i < l.n && (hub_field_char(s[l.i]) || s[l.i] == '.'))
        l.i++;
    if (l.i == start)
        return hub_yaml_fail(y, node, err,
                             "test '%s' must start with a field name, as in \"dash_score >= 14\"",
                             s);
    int pc = hub_path_compile(r, s + start, l.i - start, &c->field);
    if (pc == -2)
        return nomem(err);
    if (pc)
        return hub_yaml_fail(y, node, err,
                             "'%.*s' in test '%s' is not a field name (letters, digits, _ and -; "
                             "a dot for a nested field such as location.lsoa)",
                             (int)(l.i - start), s + start, s);
    lex_ws(&l);
    if (l.i == l.n)
        return hub_yaml_fail(y, node, err, "test '%s' has no operator (use " OPS_HELP ")", s);
    size_t os = l.i;
    if (strchr("=!<>", s[l.i])) {
        while (l.i < l.n && strchr("=!<>~", s[l.i]) && s[l.i])
            l.i++;
    } else {
        while (l.i < l.n && s[l.i] != ' ' && s[l.i] != '\t' && s[l.i] != '[')
            l.i++;
    }
    const char *o = s + os;
    size_t on = l.i - os;
#define OPIS(word) (on == sizeof word - 1 && memcmp(o, word, on) == 0)
    if (OPIS("="))
        c->op = CSPH_TEST_EQ;
    else if (OPIS("!="))
        c->op = CSPH_TEST_NE;
    else if (OPIS(">="))
        c->op = CSPH_TEST_GE;
    else if (OPIS("<="))
        c->op = CSPH_TEST_LE;
    else if (OPIS(">"))
        c->op = CSPH_TEST_GT;
    else if (OPIS("<"))
        c->op = CSPH_TEST_LT;
    else if (OPIS("in"))
        c->op = CSPH_TEST_IN;
    else if (OPIS("between"))
        c->op = CSPH_TEST_BETWEEN;
    else if (OPIS("exists"))
        c->op = CSPH_TEST_EXISTS;
    else if (OPIS("missing"))
        c->op = CSPH_TEST_MISSING;
    else if (OPIS("=="))
        return hub_yaml_fail(y, node, err, "unknown operator '==' in test '%s' (write = to compare)",
                             s);
    else
        return hub_yaml_fail(y, node, err, "unknown operator '%.*s' in test '%s' (use " OPS_HELP ")",
                             (int)on, o, s);
#undef OPIS
    const char *v;
    size_t vn;
    int quoted;
    switch (c->op) {
    case CSPH_TEST_EXISTS:
    case CSPH_TEST_MISSING:
        break;
    case CSPH_TEST_IN: {
        lex_ws(&l);
        if (l.i >= l.n || s[l.i] != '[')
            return hub_yaml_fail(y, node, err, "test '%s': 'in' takes a list such as [knife, firearm]",
                                 s);
        l.i++;
        c->lits = hub_arena_alloc(r, CSPH_IN_LIST_MAX * sizeof *c->lits);
        if (!c->lits)
            return nomem(err);
        for (;;) {
            if (lex_value(&l, &v, &vn, &quoted))
                return hub_yaml_fail(y, node, err, "test '%s': the list after 'in' has an empty "
                                     "or unterminated value", s);
            if (c->nlits == CSPH_IN_LIST_MAX)
                return hub_yaml_fail(y, node, err, "test '%s': at most %d values after 'in'", s,
                                     CSPH_IN_LIST_MAX);
            if (lit_make(r, v, vn, quoted, &c->lits[c->nlits++]))
                return nomem(err);
            lex_ws(&l);
            if (l.i < l.n && s[l.i] == ',') {
                l.i++;
                continue;
            }
            if (l.i < l.n && s[l.i] == ']') {
                l.i++;
                break;
            }
            return hub_yaml_fail(y, node, err, "test '%s': the list after 'in' must be "
                                 "[a, b, ...] with a closing ]", s);
        }
        break;
    }
    case CSPH_TEST_BETWEEN: {
        c->lits = hub_arena_alloc(r, 2 * sizeof *c->lits);
        if (!c->lits)
            return nomem(err);
        if (lex_value(&l, &v, &vn, &quoted) || lit_make(r, v, vn, quoted, &c->lits[0]))
            goto between_bad;
        lex_ws(&l);
        if (l.n - l.i < 4 || memcmp(s + l.i, "and", 3) != 0 || (s[l.i + 3] != ' ' && s[l.i + 3] != '\t'))
            goto between_bad;
        l.i += 3;
        if (lex_value(&l, &v, &vn, &quoted) || lit_make(r, v, vn, quoted, &c->lits[1]))
            goto between_bad;
        c->nlits = 2;
        if ((c->lits[0].is_num && c->lits[1].is_num && c->lits[0].d > c->lits[1].d) ||
            (!c->lits[0].is_num && !c->lits[1].is_num && !c->lits[0].is_bool &&
             !c->lits[1].is_bool && strcmp(c->lits[0].s, c->lits[1].s) > 0))
            return hub_yaml_fail(y, node, err, "test '%s': the lower bound comes first", s);
        break;
    between_bad:
        return hub_yaml_fail(y, node, err, "test '%s': write 'between LOW and HIGH', as in "
                             "\"age between 10 and 25\"", s);
    }
    default:
        if (lex_value(&l, &v, &vn, &quoted))
            return hub_yaml_fail(y, node, err, "test '%s' has no value after the operator", s);
        c->lits = hub_arena_alloc(r, sizeof *c->lits);
        if (!c->lits || lit_make(r, v, vn, quoted, c->lits))
            return nomem(err);
        c->nlits = 1;
        break;
    }
    if (!lex_end(&l))
        return hub_yaml_fail(y, node, err, "unexpected '%s' at the end of test '%s' (quote a value "
                             "that contains spaces)", s + l.i, s);
    return CSPH_ERR_OK;
}

static enum hub_err cond_one(struct hub_arena *r, struct hub_yaml *y, yaml_node_t *node,
                                  struct hub_cond *c, int depth, struct hub_error *err);

static enum hub_err cond_list(struct hub_arena *r, struct hub_yaml *y, yaml_node_t *seq,
                              struct hub_cond *c, int depth, struct hub_error *err)
{
    size_t n = hub_yaml_seq_len(seq);
    c->kids = hub_arena_alloc(r, (n ? n : 1) * sizeof *c->kids);
    if (!c->kids)
        return nomem(err);
    c->nkids = n;
    for (size_t i = 0; i < n; i++) {
        enum hub_err rc = cond_one(r, y, hub_yaml_seq_item(y, seq, i), &c->kids[i], depth + 1,
                                        err);
        if (rc)
            return rc;
    }
    return CSPH_ERR_OK;
}

static enum hub_err cond_one(struct hub_arena *r, struct hub_yaml *y, yaml_node_t *node,
                                  struct hub_cond *c, int depth, struct hub_error *err)
{
    memset(c, 0, sizeof *c);
    if (depth > CSPH_COND_DEPTH_MAX)
        return hub_yaml_fail(y, node, err, "tests nested more than %d deep", CSPH_COND_DEPTH_MAX);
    const char *s = hub_yaml_scalar(node);
    if (s)
        return test_compile(r, y, node, s, c, err);
    if (node && node->type == YAML_MAPPING_NODE && hub_yaml_map_len(node) == 1) {
        yaml_node_t *k, *v;
        hub_yaml_map_pair(y, node, 0, &k, &v);
        const char *ks = hub_yaml_scalar(k);
        if (ks && !strcmp(ks, "any"))
            c->kind = CSPH_COND_ANY;
        else if (ks && !strcmp(ks, "all"))
            c->kind = CSPH_COND_ALL;
        else
            return hub_yaml_fail(y, k, err, "unknown group '%s': a group is {any: [...]} or "
                                 "{all: [...]}", ks ? ks : "?");
        if (!v || v->type != YAML_SEQUENCE_NODE || hub_yaml_seq_len(v) == 0)
            return hub_yaml_fail(y, v ? v : k, err, "'%s' must list at least one test, as in "
                                 "%s: [\"risk = high\", \"dash_score >= 14\"]", ks, ks);
        return cond_list(r, y, v, c, depth, err);
    }
    return hub_yaml_fail(y, node, err, "a test is a text such as \"dash_score >= 14\", or a "
                         "group {any: [...]} / {all: [...]}");
}

/* match: a list (all must hold), or one test or group. */
enum hub_err hub_cond_compile(struct hub_arena *r, struct hub_yaml *y, yaml_node_t *node,
                                   struct hub_cond *c, struct hub_error *err)
{
    memset(c, 0, sizeof *c);
    if (node->type == YAML_SEQUENCE_NODE)
        return cond_list(r, y, node, c, 0, err);
    c->kids = hub_arena_alloc(r, sizeof *c->kids);
    if (!c->kids)
        return nomem(err);
    c->nkids = 1;
    return cond_one(r, y, node, c->kids, 1, err);
}

/* ---- tests: evaluate -------------------------------------------------- */

/* Compare v with lit: 1 and *cmp (<0, 0, >0) when they are comparable. */
static int lit_cmp(const msgpack_object *v, const struct hub_lit *lit, int *cmp)
{
    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (lit->is_int) {
            *cmp = lit->i < 0 || v->via.u64 > (uint64_t)lit->i ? 1 : v->via.u64 < (uint64_t)lit->i ? -1 : 0;
            return 1;
        }
        if (lit->is_num) {
            double d = (double)v->via.u64;
            *cmp = d > lit->d ? 1 : d < lit->d ? -1 : 0;
            return 1;
        }
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        if (lit->is_int) {
            *cmp = v->via.i64 > lit->i ? 1 : v->via.i64 < lit->i ? -1 : 0;
            return 1;
        }
        if (lit->is_num) {
            double d = (double)v->via.i64;
            *cmp = d > lit->d ? 1 : d < lit->d ? -1 : 0;
            return 1;
        }
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!lit->is_num)
            return 0;
        *cmp = v->via.f64 > lit->d ? 1 : v->via.f64 < lit->d ? -1 : 0;
        return 1;
    case MSGPACK_OBJECT_BOOLEAN:
        if (!lit->is_bool)
            return 0;
        *cmp = (int)v->via.boolean - (int)lit->b;
        return 1;
    case MSGPACK_OBJECT_STR: {
        uint32_t n = v->via.str.size < lit->n ? v->via.str.size : lit->n;
        int c = n ? memcmp(v->via.str.ptr, lit->s, n) : 0;
        *cmp = c ? c : (v->via.str.size > lit->n) - (v->via.str.size < lit->n);
        return 1;
    }
    default:
        return 0;
    }
}

static int test_eval(const struct hub_cond *t, const msgpack_object *ev)
{
    const msgpack_object *v = hub_path_get(ev, &t->field);
    int c;
    if (!v || v->type == MSGPACK_OBJECT_NIL)
        return t->op == CSPH_TEST_MISSING;
    switch (t->op) {
    case CSPH_TEST_EXISTS: return 1;
    case CSPH_TEST_MISSING: return 0;
    case CSPH_TEST_EQ: return lit_cmp(v, &t->lits[0], &c) && c == 0;
    case CSPH_TEST_NE: return !lit_cmp(v, &t->lits[0], &c) || c != 0;
    case CSPH_TEST_GE: return lit_cmp(v, &t->lits[0], &c) && c >= 0;
    case CSPH_TEST_LE: return lit_cmp(v, &t->lits[0], &c) && c <= 0;
    case CSPH_TEST_GT: return lit_cmp(v, &t->lits[0], &c) && c > 0;
    case CSPH_TEST_LT: return lit_cmp(v, &t->lits[0], &c) && c < 0;
    case CSPH_TEST_IN:
        for (uint32_t i = 0; i < t->nlits; i++)
            if (lit_cmp(v, &t->lits[i], &c) && c == 0)
                return 1;
        return 0;
    case CSPH_TEST_BETWEEN: {
        int lo, hi;
        return lit_cmp(v, &t->lits[0], &lo) && lo >= 0 && lit_cmp(v, &t->lits[1], &hi) && hi <= 0;
    }
    }
    return 0;
}

int hub_cond_eval(const struct hub_cond *c, const msgpack_object *ev)
{
    switch (c->kind) {
    case CSPH_COND_TEST: return test_eval(c, ev);
    case CSPH_COND_ANY:
        for (size_t i = 0; i < c->nkids; i++)
            if (hub_cond_eval(&c->kids[i], ev))
                return 1;
        return 0;
    case CSPH_COND_ALL:
        for (size_t i = 0; i < c->nkids; i++)
            if (!hub_cond_eval(&c->kids[i], ev))
                return 0;
        return 1;
    }
    return 0;
}

/* ---- reason templates ----------------------------------------------------- */

#define PH_HELP "{count} {distinct} {key} {key_name} {first} {last} {date} {threshold} " \
                "{window} {within} {panel} {priority} {rule} {due} {field:NAME} {date:NAME}"

enum hub_err hub_tmpl_compile(struct hub_arena *r, struct hub_yaml *y, yaml_node_t *node,
                                  const char *s, int restricted, const char *panel,
                                  struct hub_tmpl *t, struct hub_error *err)
{
    size_t n = strlen(s);
    char *text = hub_arena_alloc(r, n + 1); /* literal text with {{ }} resolved */
    t->segs = hub_arena_alloc(r, (n + 1) * sizeof *t->segs);
    t->n = 0;
    t->has_last = 0;
    if (!text || !t->segs)
        return nomem(err);
    size_t tn = 0, lit_start = 0;
#define FLUSH()                                                                \
    do {                                                                       \
        if (tn > lit_start)                                                    \
            t->segs[t->n++] = (struct hub_tseg){CSPH_PH_TEXT, text + lit_start, tn - lit_start, {0}}; \
        lit_start = tn;                                                        \
    } while (0)
    for (size_t i = 0; i < n;) {
        if ((s[i] == '{' && s[i + 1] == '{') || (s[i] == '}' && s[i + 1] == '}')) {
            text[tn++] = s[i];
            i += 2;
            continue;
        }
        if (s[i] != '{') {
            text[tn++] = s[i++];
            continue;
        }
        const char *close = strchr(s + i + 1, '}');
        if (!close)
            return hub_yaml_fail(y, node, err, "reason: '{' without a closing '}' (write {{ for a "
                                 "literal brace)");
        const char *name = s + i + 1;
        size_t nl = (size_t)(close - name);
        struct hub_tseg seg = {CSPH_PH_TEXT, NULL, 0, {0}};
        int ok_restricted = 0, found = 0;
        if (nl > 6 && memcmp(name, "field:", 6) == 0) {
            seg.ph = CSPH_PH_FIELD;
            found = 1;
        } else if (nl > 5 && memcmp(name, "date:", 5) == 0) {
            seg.ph = CSPH_PH_FIELD_DATE;
            found = 1;
        } else {
            for (size_t k = 0; k < sizeof placeholders / sizeof *placeholders; k++)
                if (strlen(placeholders[k].name) == nl && !memcmp(placeholders[k].name, name, nl)) {
                    seg.ph = placeholders[k].ph;
                    ok_restricted = placeholders[k].restricted_ok;
                    found = 1;
                }
        }
        if (!found)
            return hub_yaml_fail(y, node, err, "reason: unknown placeholder {%.*s} (known: " PH_HELP ")",
                                 (int)nl, name);
        if (restricted && !ok_restricted)
            return hub_yaml_fail(y, node, err,
                                 "reason for restricted panel '%s' may show only that a case exists: "
                                 "{key}, {key_name}, {panel}, {priority}, {rule}, {due}; not {%.*s}",
                                 panel, (int)nl, name);
        if (seg.ph == CSPH_PH_FIELD || seg.ph == CSPH_PH_FIELD_DATE) {
            size_t skip = seg.ph == CSPH_PH_FIELD ? 6 : 5;
            int pc = hub_path_compile(r, name + skip, nl - skip, &seg.f);
            if (pc == -2)
                return nomem(err);
            if (pc)
                return hub_yaml_fail(y, node, err, "reason: {%.*s} does not name a field", (int)nl,
                                     name);
        }
        if (seg.ph == CSPH_PH_LAST)
            t->has_last = 1;
        FLUSH();
        t->segs[t->n++] = seg;
        i = (size_t)(close - s) + 1;
    }
    FLUSH();
#undef FLUSH
    return CSPH_ERR_OK;
}

struct out {
    char *b;
    size_t n, cap;
    int full;
};

static void out_put(struct out *o, const char *s, size_t n)
{
    if (o->full)
        return;
    size_t room = o->cap - 1 - o->n;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* never cut a UTF-8 character */
        o->full = 1;
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
}

static void out_str(struct out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

static void out_u64(struct out *o, uint64_t v)
{
    char b[24];
    out_put(o, b, (size_t)snprintf(b, sizeof b, "%" PRIu64, v));
}

static void out_date(struct out *o, int64_t ms, int drop_year)
{
    char b[32];
    int n = csph_time_format_date(ms, b);
    if (drop_year) {
        char *sp = strrchr(b, ' ');
        if (sp)
            n = (int)(sp - b);
    }
    out_put(o, b, (size_t)n);
}

static void out_value(struct out *o, const msgpack_object *v, int as_date)
{
    char b[40];
    if (!v || v->type == MSGPACK_OBJECT_NIL) {
        out_str(o, "not given");
        return;
    }
    switch (v->type) {
    case MSGPACK_OBJECT_STR: {
        int64_t ms;
        if (as_date && csph_time_parse(v->via.str.ptr, v->via.str.size, &ms, NULL) == 0)
            out_date(o, ms, 0);
        else
            out_put(o, v->via.str.ptr, v->via.str.size);
        return;
    }
    case MSGPACK_OBJECT_POSITIVE_INTEGER: out_u64(o, v->via.u64); return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        out_put(o, b, (size_t)snprintf(b, sizeof b, "%" PRId64, v->via.i64));
        return;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        out_put(o, b, (size_t)snprintf(b, sizeof b, "%g", v->via.f64));
        return;
    case MSGPACK_OBJECT_BOOLEAN: out_str(o, v->via.boolean ? "true" : "false"); return;
    default: out_str(o, "(several values)"); return;
    }
}


int hub_cond_each_test(const struct hub_cond *c,
                       int (*fn)(void *ctx, const struct hub_cond *test), void *ctx)
{
    if (c->kind == CSPH_COND_TEST)
        return fn(ctx, c);
    for (size_t i = 0; i < c->nkids; i++) {
        int rc = hub_cond_each_test(&c->kids[i], fn, ctx);
        if (rc)
            return rc;
    }
    return 0;
}

void hub_tmpl_render(const struct hub_tmpl *t, const struct hub_tmpl_values *v, char *buf,
                     size_t cap)
{
    struct out o = {buf, 0, cap, 0};
    for (size_t i = 0; i < t->n; i++) {
        const struct hub_tseg *s = &t->segs[i];
        switch (s->ph) {
        case CSPH_PH_TEXT: out_put(&o, s->s, s->n); break;
        case CSPH_PH_COUNT: out_u64(&o, v->count); break;
        case CSPH_PH_DISTINCT: out_u64(&o, v->distinct); break;
        case CSPH_PH_KEY:
            for (size_t k = 0; k < v->nkey; k++) {
                if (k)
                    out_str(&o, " / ");
                out_put(&o, v->key_values[k], v->key_lens[k]);
            }
            break;
        case CSPH_PH_KEY_NAME:
            for (size_t k = 0; k < v->nkey; k++) {
                if (k)
                    out_str(&o, " + ");
                out_str(&o, v->key_names[k]);
            }
            break;
        case CSPH_PH_FIRST: {
            int y1, y2;
            unsigned m, d;
            csph_civil_from_days(day_of(v->first_ms), &y1, &m, &d);
            csph_civil_from_days(day_of(v->last_ms), &y2, &m, &d);
            out_date(&o, v->first_ms, t->has_last && y1 == y2);
            break;
        }
        case CSPH_PH_LAST: out_date(&o, v->last_ms, 0); break;
        case CSPH_PH_DATE: out_date(&o, v->date_ms, 0); break;
        case CSPH_PH_THRESHOLD: out_u64(&o, (uint64_t)v->threshold); break;
        case CSPH_PH_WINDOW: out_u64(&o, (uint64_t)v->window); break;
        case CSPH_PH_WITHIN: out_u64(&o, (uint64_t)v->within); break;
        case CSPH_PH_PANEL: out_str(&o, v->panel); break;
        case CSPH_PH_PRIORITY: out_str(&o, v->priority); break;
        case CSPH_PH_RULE: out_str(&o, v->rule); break;
        case CSPH_PH_DUE:
            if (v->has_due)
                out_date(&o, v->due_ms, 0);
            else
                out_str(&o, "no deadline");
            break;
        case CSPH_PH_FIELD: out_value(&o, hub_path_get(v->event, &s->f), 0); break;
        case CSPH_PH_FIELD_DATE: out_value(&o, hub_path_get(v->event, &s->f), 1); break;
        }
    }
    buf[o.n] = 0;
}
