#include "yamlx.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum hub_err load(struct hub_yaml *y, const char *name, FILE *f, const unsigned char *buf,
                         size_t len, struct hub_error *err)
{
    yaml_parser_t parser;
    enum hub_err rc = CSPH_ERR_OK;
    if (!yaml_parser_initialize(&parser))
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "%s: cannot start the YAML parser", name);
    if (f)
        yaml_parser_set_input_file(&parser, f);
    else
        yaml_parser_set_input_string(&parser, buf, len);
    if (!yaml_parser_load(&parser, &y->doc)) {
        rc = hub_error_set(err, CSPH_ERR_CONFIG, NULL, "%s:%lu: %s%s%s", name,
                           (unsigned long)parser.problem_mark.line + 1,
                           parser.problem ? parser.problem : "not valid YAML",
                           parser.context ? " " : "", parser.context ? parser.context : "");
    } else {
        y->loaded = 1;
    }
    yaml_parser_delete(&parser);
    return rc;
}

enum hub_err hub_yaml_load(struct hub_yaml *y, const char *path, struct hub_error *err)
{
    memset(y, 0, sizeof *y);
    snprintf(y->path, sizeof y->path, "%s", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return hub_error_set(err, CSPH_ERR_IO, NULL, "%s: cannot open: %s", path, strerror(errno));
    enum hub_err rc = load(y, path, f, NULL, 0, err);
    fclose(f);
    return rc;
}

enum hub_err hub_yaml_load_text(struct hub_yaml *y, const char *name, const unsigned char *buf,
                                size_t len, struct hub_error *err)
{
    memset(y, 0, sizeof *y);
    snprintf(y->path, sizeof y->path, "%s", name);
    return load(y, name, NULL, buf, len, err);
}

void hub_yaml_free(struct hub_yaml *y)
{
    if (y && y->loaded) {
        yaml_document_delete(&y->doc);
        y->loaded = 0;
    }
}

yaml_node_t *hub_yaml_root(struct hub_yaml *y)
{
    return y->loaded ? yaml_document_get_root_node(&y->doc) : NULL;
}

int hub_yaml_line(const yaml_node_t *node)
{
    return node ? (int)node->start_mark.line + 1 : 1;
}

const char *hub_yaml_scalar(const yaml_node_t *node)
{
    if (!node || node->type != YAML_SCALAR_NODE)
        return NULL;
    return (const char *)node->data.scalar.value;
}

size_t hub_yaml_seq_len(const yaml_node_t *node)
{
    if (!node || node->type != YAML_SEQUENCE_NODE)
        return 0;
    return (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
}

yaml_node_t *hub_yaml_seq_item(struct hub_yaml *y, yaml_node_t *seq, size_t i)
{
    if (i >= hub_yaml_seq_len(seq))
        return NULL;
    return yaml_document_get_node(&y->doc, seq->data.sequence.items.start[i]);
}

size_t hub_yaml_map_len(const yaml_node_t *node)
{
    if (!node || node->type != YAML_MAPPING_NODE)
        return 0;
    return (size_t)(node->data.mapping.pairs.top - node->data.mapping.pairs.start);
}

void hub_yaml_map_pair(struct hub_yaml *y, yaml_node_t *map, size_t i, yaml_node_t **key,
                       yaml_node_t **value)
{
    yaml_node_pair_t *p = map->data.mapping.pairs.start + i;
    *key = yaml_document_get_node(&y->doc, p->key);
    *value = yaml_document_get_node(&y->doc, p->value);
}

yaml_node_t *hub_yaml_get(struct hub_yaml *y, yaml_node_t *map, const char *key)
{
    size_t n = hub_yaml_map_len(map);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k, *v;
        hub_yaml_map_pair(y, map, i, &k, &v);
        const char *ks = hub_yaml_scalar(k);
        if (ks && strcmp(ks, key) == 0)
            return v;
    }
    return NULL;
}

enum hub_err hub_yaml_fail(struct hub_yaml *y, const yaml_node_t *node, struct hub_error *err,
                           const char *fmt, ...)
{
    char reason[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    return hub_error_set(err, CSPH_ERR_CONFIG, NULL, "%s:%d: %s", y->path, hub_yaml_line(node),
                         reason);
}

enum hub_err hub_yaml_str(struct hub_yaml *y, yaml_node_t *node, const char *what,
                          const char **out, struct hub_error *err)
{
    const char *s = hub_yaml_scalar(node);
    if (!s)
        return hub_yaml_fail(y, node, err, "%s must be a single value (text)", what);
    *out = s;
    return CSPH_ERR_OK;
}

enum hub_err hub_yaml_int(struct hub_yaml *y, yaml_node_t *node, const char *what, int64_t min,
                          int64_t max, int64_t *out, struct hub_error *err)
{
    const char *s = hub_yaml_scalar(node);
    if (!s || !*s)
        return hub_yaml_fail(y, node, err, "%s must be a whole number", what);
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end)
        return hub_yaml_fail(y, node, err, "%s must be a whole number, not '%s'", what, s);
    if (v < min || v > max)
        return hub_yaml_fail(y, node, err, "%s must be between %lld and %lld, not %lld", what,
                             (long long)min, (long long)max, v);
    *out = v;
    return CSPH_ERR_OK;
}

enum hub_err hub_yaml_bool(struct hub_yaml *y, yaml_node_t *node, const char *what, int *out,
                           struct hub_error *err)
{
    const char *s = hub_yaml_scalar(node);
    if (s && (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "on"))) {
        *out = 1;
        return CSPH_ERR_OK;
    }
    if (s && (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "off"))) {
        *out = 0;
        return CSPH_ERR_OK;
    }
    return hub_yaml_fail(y, node, err, "%s must be true or false", what);
}

enum hub_err hub_yaml_only_keys(struct hub_yaml *y, yaml_node_t *map, const char *const *allowed,
                                const char *where, struct hub_error *err)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, map, err, "%s must be a mapping of 'name: value' lines", where);
    size_t n = hub_yaml_map_len(map);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k, *v;
        hub_yaml_map_pair(y, map, i, &k, &v);
        const char *ks = hub_yaml_scalar(k);
        int known = 0;
        for (const char *const *a = allowed; ks && *a; a++)
            if (strcmp(*a, ks) == 0)
                known = 1;
        if (!known) {
            char list[256] = "";
            size_t off = 0;
            for (const char *const *a = allowed; *a && off < sizeof list; a++)
                off += (size_t)snprintf(list + off, sizeof list - off, "%s%s",
                                        a == allowed ? "" : ", ", *a);
            return hub_yaml_fail(y, k, err, "unknown setting '%s' in %s (known: %s)",
                                 ks ? ks : "?", where, list);
        }
    }
    return CSPH_ERR_OK;
}
