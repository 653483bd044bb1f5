/* mapping.c: reading a csphub-csv mapping file with libyaml's document API
 * (which keeps every node's line for the error messages). */
#define _GNU_SOURCE
#include "mapping.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

struct loader {
    const char *file;
    yaml_document_t doc;
    char *err;
    size_t errlen;
    int failed;
};

static int fail(struct loader *l, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct loader *l, const yaml_node_t *n, const char *fmt, ...)
{
    if (l->failed)
        return -1;
    l->failed = 1;
    int k = snprintf(l->err, l->errlen, "%s:%lu: ", l->file,
                     n ? (unsigned long)n->start_mark.line + 1 : 1UL);
    if (k < 0 || (size_t)k >= l->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(l->err + k, l->errlen - (size_t)k, fmt, ap);
    va_end(ap);
    return -1;
}

static int line_of(const yaml_node_t *n)
{
    return (int)n->start_mark.line + 1;
}

static yaml_node_t *node(struct loader *l, int i)
{
    return yaml_document_get_node(&l->doc, i);
}

static const char *scalar(const yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s);
    if (!p)
        abort();
    return p;
}

static void *grow(void *p, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return p;
    *cap = *cap ? *cap * 2 : 8;
    p = realloc(p, *cap * size);
    if (!p)
        abort();
    return p;
}

/* A scalar as a JSON value: plain true/false are booleans, plain numbers
 * are numbers, everything else (and anything quoted) is a string. */
static json_t *scalar_json(struct loader *l, const yaml_node_t *n, const char *what)
{
    if (!n || n->type != YAML_SCALAR_NODE) {
        fail(l, n, "%s must be a single value (a string, number or true/false)", what);
        return NULL;
    }
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
        if (!strcmp(v, "true"))
            return json_true();
        if (!strcmp(v, "false"))
            return json_false();
        if (len == 0 || !strcmp(v, "null") || !strcmp(v, "~")) {
            fail(l, n, "%s has no value (write it in quotes if you mean an empty string)", what);
            return NULL;
        }
        char *end;
        errno = 0;
        long long i = strtoll(v, &end, 10);
        if (*end == 0 && errno == 0)
            return json_integer(i);
        double d = strtod(v, &end);
        if (*end == 0 && isfinite(d) && strpbrk(v, "0123456789"))
            return json_real(d);
    }
    return json_stringn(v, len);
}

/* Event field paths: dot-separated names of letters, digits and '_'. */
static int check_path(struct loader *l, const yaml_node_t *n, const char *path)
{
    const char *p = path;
    if (!*p)
        return fail(l, n, "an empty field name");
    for (; *p; p++) {
        int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                 *p == '_' || (*p == '.' && p != path && p[1] && p[1] != '.');
        if (!ok)
            return fail(l, n,
                        "'%s' is not an event field name (letters, digits and _, dotted for "
                        "a field inside another, like location.lsoa)",
                        path);
    }
    if (!strcmp(path, "id"))
        return fail(l, n,
                    "the event id is not mapped like other fields: set it in the id: section");
    return 0;
}

/* Every event field set by the mapping, to refuse setting one twice (or a
 * field and a field inside it). Type constants only conflict with the
 * common ones, not with each other's. */
struct seen {
    const char *path;
    int line;
};

static int conflicts(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), n = la < lb ? la : lb;
    return strncmp(a, b, n) == 0 && (la == lb || (la < lb ? b[la] : a[lb]) == '.');
}

static int check_unique(struct loader *l, const yaml_node_t *n, struct seen *seen, size_t nseen,
                        const char *path)
{
    for (size_t i = 0; i < nseen; i++)
        if (conflicts(seen[i].path, path))
            return fail(l, n, "'%s' is set twice: here and at line %d ('%s')", path, seen[i].line,
                        seen[i].path);
    return 0;
}

/* Constants: a mapping of field -> value; a nested mapping is a field
 * inside another (location: {ward: X} is location.ward: X). */
static int load_constants(struct loader *l, const yaml_node_t *n, const char *prefix,
                          struct map_constant **out, size_t *nout, size_t *cap)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(l, n, "expected a mapping of event field: value");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
        const char *key = scalar(k);
        if (!key)
            return fail(l, k, "a field name must be a plain name");
        char *path;
        if (asprintf(&path, "%s%s%s", prefix, *prefix ? "." : "", key) < 0)
            abort();
        if (check_path(l, k, path)) {
            free(path);
            return -1;
        }
        if (v->type == YAML_MAPPING_NODE) {
            int rc = load_constants(l, v, path, out, nout, cap);
            free(path);
            if (rc)
                return rc;
            continue;
        }
        json_t *val = scalar_json(l, v, path);
        if (!val) {
            free(path);
            return -1;
        }
        *out = grow(*out, cap, *nout, sizeof **out);
        (*out)[(*nout)++] = (struct map_constant){path, val, line_of(k)};
    }
    return 0;
}

static const struct {
    const char *name;
    enum map_convert c;
} converts[] = {
    {"string", CONVERT_STRING},     {"number", CONVERT_NUMBER}, {"int", CONVERT_INT},
    {"bool", CONVERT_BOOL},         {"month", CONVERT_MONTH},   {"date", CONVERT_DATE},
    {"datetime", CONVERT_DATETIME},
};

static int load_field(struct loader *l, yaml_node_t *k, yaml_node_t *v, struct map_field *f)
{
    memset(f, 0, sizeof *f);
    f->col = -1;
    f->line = line_of(k);
    f->path = xstrdup(scalar(k));
    if (check_path(l, k, f->path))
        return -1;
    if (scalar(v)) { /* the short form: field: column */
        if (!*scalar(v))
            return fail(l, v, "field '%s' names no column", f->path);
        f->column = xstrdup(scalar(v));
        return 0;
    }
    if (v->type != YAML_MAPPING_NODE)
        return fail(l, v, "field '%s': expected a column name or {column: ..., convert: ...}",
                    f->path);
    int have_unmapped = 0;
    size_t vcap = 0, ecap = 0;
    for (yaml_node_pair_t *p = v->data.mapping.pairs.start; p < v->data.mapping.pairs.top; p++) {
        yaml_node_t *kk = node(l, p->key), *vv = node(l, p->value);
        const char *key = scalar(kk), *val = scalar(vv);
        if (!key)
            return fail(l, kk, "field '%s': keys must be plain names", f->path);
        if (!strcmp(key, "column")) {
            if (!val || !*val)
                return fail(l, vv, "field '%s': column must be a header name", f->path);
            f->column = xstrdup(val);
        } else if (!strcmp(key, "convert")) {
            size_t i, n = sizeof converts / sizeof *converts;
            for (i = 0; i < n; i++)
                if (val && !strcmp(val, converts[i].name))
                    break;
            if (i == n)
                return fail(l, vv,
                            "field '%s': convert must be one of string, number, int, bool, month, "
                            "date, datetime (not '%s')",
                            f->path, val ? val : "a list or mapping");
            f->convert = converts[i].c;
        } else if (!strcmp(key, "map")) {
            if (vv->type != YAML_MAPPING_NODE)
                return fail(l, vv, "field '%s': map must be a mapping of column value: field value",
                            f->path);
            for (yaml_node_pair_t *q = vv->data.mapping.pairs.start; q < vv->data.mapping.pairs.top;
                 q++) {
                yaml_node_t *mk = node(l, q->key), *mv = node(l, q->value);
                if (!scalar(mk))
                    return fail(l, mk, "field '%s': a map key must be a column value", f->path);
                for (size_t i = 0; i < f->nvalues; i++)
                    if (!strcmp(f->values[i].from, scalar(mk)))
                        return fail(l, mk, "field '%s': '%s' is mapped twice", f->path, scalar(mk));
                json_t *to = scalar_json(l, mv, f->path);
                if (!to)
                    return -1;
                f->values = grow(f->values, &vcap, f->nvalues, sizeof *f->values);
                f->values[f->nvalues++] = (struct map_value){xstrdup(scalar(mk)), to};
            }
            if (!f->nvalues)
                return fail(l, vv, "field '%s': the map is empty", f->path);
        } else if (!strcmp(key, "unmapped")) {
            if (val && !strcmp(val, "skip"))
                f->unmapped = UNMAPPED_SKIP;
            else if (val && !strcmp(val, "reject"))
                f->unmapped = UNMAPPED_REJECT;
            else if (val && !strcmp(val, "keep"))
                f->unmapped = UNMAPPED_KEEP;
            else
                return fail(l, vv,
                            "field '%s': unmapped must be skip, reject or keep (or give a "
                            "default: value instead)",
                            f->path);
            have_unmapped = 1;
        } else if (!strcmp(key, "default")) {
            if (!(f->fallback = scalar_json(l, vv, f->path)))
                return -1;
        } else if (!strcmp(key, "empty")) {
            if (vv->type == YAML_SCALAR_NODE) {
                f->empty = grow(f->empty, &ecap, f->nempty, sizeof *f->empty);
                f->empty[f->nempty++] = xstrdup(val);
            } else if (vv->type == YAML_SEQUENCE_NODE) {
                for (yaml_node_item_t *it = vv->data.sequence.items.start;
                     it < vv->data.sequence.items.top; it++) {
                    const char *e = scalar(node(l, *it));
                    if (!e)
                        return fail(l, node(l, *it), "field '%s': empty lists values", f->path);
                    f->empty = grow(f->empty, &ecap, f->nempty, sizeof *f->empty);
                    f->empty[f->nempty++] = xstrdup(e);
                }
            } else {
                return fail(l, vv, "field '%s': empty must be a value or a list of values",
                            f->path);
            }
        } else {
            return fail(l, kk,
                        "field '%s': unknown key '%s' (expected column, convert, map, unmapped, "
                        "default, empty)",
                        f->path, key);
        }
    }
    if (!f->column)
        return fail(l, v, "field '%s' names no column (column: HEADER NAME)", f->path);
    if (f->fallback && have_unmapped)
        return fail(l, v, "field '%s': give either unmapped: or default:, not both", f->path);
    if ((f->fallback || have_unmapped) && !f->values)
        return fail(l, v, "field '%s': unmapped and default only apply with a map:", f->path);
    if (f->fallback)
        f->unmapped = UNMAPPED_DEFAULT;
    if (f->values && f->convert != CONVERT_STRING && f->unmapped != UNMAPPED_KEEP)
        return fail(l, v,
                    "field '%s': with a map the field takes the mapped values as written in the "
                    "mapping; convert applies only with unmapped: keep",
                    f->path);
    return 0;
}

static int one_char(struct loader *l, yaml_node_t *v, const char *what, unsigned char *out)
{
    const char *s = scalar(v);
    static const struct {
        const char *name;
        char c;
    } names[] = {{"tab", '\t'}, {"comma", ','}, {"semicolon", ';'}, {"pipe", '|'}, {"space", ' '}};
    if (!s)
        return fail(l, v, "%s must be one character", what);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (!strcmp(s, names[i].name)) {
            *out = (unsigned char)names[i].c;
            return 0;
        }
    if (strlen(s) != 1 || s[0] == '\n' || s[0] == '\r')
        return fail(l, v,
                    "%s must be one character (or tab, comma, semicolon, pipe, space), not '%s'",
                    what, s);
    *out = (unsigned char)s[0];
    return 0;
}

static int load_csv(struct loader *l, yaml_node_t *n, struct mapping *m)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(l, n, "csv: expected a mapping (delimiter, quote, encoding)");
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
        const char *key = scalar(k);
        if (key && !strcmp(key, "delimiter")) {
            if (one_char(l, v, "csv.delimiter", &m->delimiter))
                return -1;
        } else if (key && !strcmp(key, "quote")) {
            const char *s = scalar(v);
            if (s && (!strcmp(s, "none") || !*s))
                m->quote = 0;
            else if (one_char(l, v, "csv.quote", &m->quote))
                return -1;
        } else if (key && !strcmp(key, "encoding")) {
            const char *s = scalar(v);
            if (!s || !*s)
                return fail(l, v, "csv.encoding must name an encoding (utf-8, windows-1252, ...)");
            free(m->encoding);
            m->encoding = xstrdup(s);
        } else {
            return fail(l, k, "csv: unknown key '%s' (expected delimiter, quote, encoding)",
                        key ? key : "?");
        }
    }
    if (m->quote && m->quote == m->delimiter)
        return fail(l, n, "csv: the quote and the delimiter are the same character");
    return 0;
}

static int load_id(struct loader *l, yaml_node_t *n, struct mapping *m)
{
    if (n->type != YAML_MAPPING_NODE)
        return fail(l, n, "id: expected a mapping (scheme, prefix, column)");
    m->id_line = line_of(n);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(l, p->key), *v = node(l, p->value);
        const char *key = scalar(k), *val = scalar(v);
        if (key && !strcmp(key, "scheme")) {
            if (val && !strcmp(val, "row"))
                m->id_scheme = ID_ROW;
            else if (val && !strcmp(val, "content"))
                m->id_scheme = ID_CONTENT;
            else if (val && !strcmp(val, "column"))
                m->id_scheme = ID_COLUMN;
            else
                return fail(l, v, "id.scheme must be row, content or column");
        } else if (key && !strcmp(key, "prefix")) {
            if (!val || !*val || strlen(val) > 80)
                return fail(l, v, "id.prefix must be 1 to 80 characters");
            free(m->id_prefix);
            m->id_prefix = xstrdup(val);
        } else if (key && !strcmp(key, "column")) {
            if (!val || !*val)
                return fail(l, v, "id.column must be a header name");
            free(m->id_column);
            m->id_column = xstrdup(val);
        } else {
            return fail(l, k, "id: unknown key '%s' (expected scheme, prefix, column)",
                        key ? key : "?");
        }
    }
    if (m->id_scheme == ID_COLUMN && !m->id_column)
        return fail(l, n, "id.scheme column needs id.column: the header name of the ids");
    if (m->id_scheme != ID_COLUMN && m->id_column)
        return fail(l, n, "id.column is only used with scheme: column");
    return 0;
}

int mapping_load(struct mapping **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    struct mapping *m = calloc(1, sizeof *m);
    if (!m)
        abort();
    m->file = xstrdup(path);
    m->delimiter = ',';
    m->quote = '"';
    m->encoding = xstrdup("utf-8");
    m->id_col = -1;
    struct loader l = {.file = path, .err = err, .errlen = errlen};
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(err, errlen, "%s: cannot read the mapping: %s", path, strerror(errno));
        mapping_free(&m);
        return -1;
    }
    yaml_parser_t parser;
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, fp);
    if (!yaml_parser_load(&parser, &l.doc)) {
        snprintf(err, errlen, "%s:%lu: not valid YAML: %s%s%s", path,
                 (unsigned long)(parser.problem_mark.line + 1),
                 parser.problem ? parser.problem : "syntax error", parser.context ? " " : "",
                 parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        fclose(fp);
        mapping_free(&m);
        return -1;
    }
    yaml_parser_delete(&parser);
    fclose(fp);

    size_t ccap = 0, fcap = 0, tcap = 0;
    yaml_node_t *root = yaml_document_get_root_node(&l.doc);
    struct seen *seen = NULL;
    size_t nseen = 0, scap = 0;
    if (!root) {
        fail(&l, NULL, "the mapping is empty");
        goto done;
    }
    if (root->type != YAML_MAPPING_NODE) {
        fail(&l, root, "expected a mapping with csv, id, constants, fields and types");
        goto done;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
         p++) {
        yaml_node_t *k = node(&l, p->key), *v = node(&l, p->value);
        const char *key = scalar(k);
        if (key && !strcmp(key, "csv")) {
            if (load_csv(&l, v, m))
                goto done;
        } else if (key && !strcmp(key, "id")) {
            if (load_id(&l, v, m))
                goto done;
        } else if (key && !strcmp(key, "constants")) {
            if (load_constants(&l, v, "", &m->consts, &m->nconsts, &ccap))
                goto done;
        } else if (key && !strcmp(key, "fields")) {
            if (v->type != YAML_MAPPING_NODE) {
                fail(&l, v, "fields: expected a mapping of event field: column");
                goto done;
            }
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
                 q++) {
                yaml_node_t *fk = node(&l, q->key);
                if (!scalar(fk)) {
                    fail(&l, fk, "fields: a key must be an event field name");
                    goto done;
                }
                m->fields = grow(m->fields, &fcap, m->nfields, sizeof *m->fields);
                if (load_field(&l, fk, node(&l, q->value), &m->fields[m->nfields++]))
                    goto done;
            }
        } else if (key && !strcmp(key, "types")) {
            if (v->type != YAML_MAPPING_NODE) {
                fail(&l, v, "types: expected a mapping of event type: {field: value}");
                goto done;
            }
            for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top;
                 q++) {
                yaml_node_t *tk = node(&l, q->key), *tv = node(&l, q->value);
                if (!scalar(tk) || !*scalar(tk)) {
                    fail(&l, tk, "types: a key must be an event type such as asb.report");
                    goto done;
                }
                m->types = grow(m->types, &tcap, m->ntypes, sizeof *m->types);
                struct map_type *t = &m->types[m->ntypes++];
                memset(t, 0, sizeof *t);
                t->type = xstrdup(scalar(tk));
                t->line = line_of(tk);
                size_t cap = 0;
                if (load_constants(&l, tv, "", &t->consts, &t->nconsts, &cap))
                    goto done;
            }
        } else {
            fail(&l, k, "unknown section '%s' (expected csv, id, constants, fields, types)",
                 key ? key : "?");
            goto done;
        }
    }

    /* Each event field is set in one place only. */
    for (size_t i = 0; i < m->nconsts; i++) {
        yaml_node_t n = {.start_mark.line = (size_t)m->consts[i].line - 1};
        if (check_unique(&l, &n, seen, nseen, m->consts[i].path))
            goto done;
        seen = grow(seen, &scap, nseen, sizeof *seen);
        seen[nseen++] = (struct seen){m->consts[i].path, m->consts[i].line};
    }
    for (size_t i = 0; i < m->nfields; i++) {
        yaml_node_t n = {.start_mark.line = (size_t)m->fields[i].line - 1};
        if (check_unique(&l, &n, seen, nseen, m->fields[i].path))
            goto done;
        seen = grow(seen, &scap, nseen, sizeof *seen);
        seen[nseen++] = (struct seen){m->fields[i].path, m->fields[i].line};
    }
    for (size_t t = 0; t < m->ntypes; t++)
        for (size_t i = 0; i < m->types[t].nconsts; i++) {
            struct map_constant *c = &m->types[t].consts[i];
            yaml_node_t n = {.start_mark.line = (size_t)c->line - 1};
            if (!strcmp(c->path, "type")) {
                fail(&l, &n, "types.%s: the type cannot be set inside types:", m->types[t].type);
                goto done;
            }
            if (check_unique(&l, &n, seen, nseen, c->path))
                goto done;
        }
    int has_type = 0;
    for (size_t i = 0; i < nseen; i++)
        has_type |= !strcmp(seen[i].path, "type");
    if (!has_type)
        fail(&l, root,
             "no event type: set type under constants (type: asb.report) or map a column to it "
             "under fields");

done:
    free(seen);
    yaml_document_delete(&l.doc);
    if (l.failed) {
        mapping_free(&m);
        return -1;
    }
    m->utf8 = !strcasecmp(m->encoding, "utf-8") || !strcasecmp(m->encoding, "utf8");
    *out = m;
    return 0;
}

static void free_consts(struct map_constant *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(c[i].path);
        json_decref(c[i].value);
    }
    free(c);
}

void mapping_free(struct mapping **mp)
{
    struct mapping *m = mp ? *mp : NULL;
    if (!m)
        return;
    free(m->file);
    free(m->encoding);
    free(m->id_prefix);
    free(m->id_column);
    free_consts(m->consts, m->nconsts);
    for (size_t i = 0; i < m->nfields; i++) {
        struct map_field *f = &m->fields[i];
        free(f->path);
        free(f->column);
        for (size_t j = 0; j < f->nvalues; j++) {
            free(f->values[j].from);
            json_decref(f->values[j].to);
        }
        free(f->values);
        json_decref(f->fallback);
        for (size_t j = 0; j < f->nempty; j++)
            free(f->empty[j]);
        free(f->empty);
    }
    free(m->fields);
    for (size_t t = 0; t < m->ntypes; t++) {
        free(m->types[t].type);
        free_consts(m->types[t].consts, m->types[t].nconsts);
    }
    free(m->types);
    free(m);
    *mp = NULL;
}
