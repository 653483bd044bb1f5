/* yamlx.h: reading csphub's YAML files (hub config, schemas, rules, panels,
 * calendar) through libyaml's document API, with every complaint phrased as
 * "file:line: what is wrong" so the person editing the file can fix it.
 *
 * Node pointers returned here are borrowed from the document and stay valid
 * until hub_yaml_free. */
#ifndef CSPH_YAMLX_H
#define CSPH_YAMLX_H

#include <stdint.h>
#include <yaml.h>

#include "err.h"

struct hub_yaml {
    yaml_document_t doc;
    char path[512];
    int loaded;
};

/* Load path. On failure returns CSPH_ERR_CONFIG (or CSPH_ERR_IO when the file
 * cannot be opened) with "path:line: reason" in err->message. */
enum hub_err hub_yaml_load(struct hub_yaml *y, const char *path, struct hub_error *err);
/* The same from len bytes at buf (a file's text kept elsewhere, such as
 * the log); name stands for the file in messages. */
enum hub_err hub_yaml_load_text(struct hub_yaml *y, const char *name, const unsigned char *buf,
                                size_t len, struct hub_error *err);
/* Release the document. Safe on a zeroed or already-freed struct. */
void hub_yaml_free(struct hub_yaml *y);

/* The root node, or NULL for an empty document. */
yaml_node_t *hub_yaml_root(struct hub_yaml *y);
/* 1-based line of node. */
int hub_yaml_line(const yaml_node_t *node);
/* The value for key in a mapping node, or NULL (also when map is not a map). */
yaml_node_t *hub_yaml_get(struct hub_yaml *y, yaml_node_t *map, const char *key);
/* The text of a scalar node, or NULL when node is not a scalar. */
const char *hub_yaml_scalar(const yaml_node_t *node);
/* The i-th item of a sequence node (NULL when out of range). */
size_t hub_yaml_seq_len(const yaml_node_t *node);
yaml_node_t *hub_yaml_seq_item(struct hub_yaml *y, yaml_node_t *seq, size_t i);
/* The i-th key/value pair of a mapping node. */
size_t hub_yaml_map_len(const yaml_node_t *node);
void hub_yaml_map_pair(struct hub_yaml *y, yaml_node_t *map, size_t i, yaml_node_t **key,
                       yaml_node_t **value);

/* Set err to CSPH_ERR_CONFIG with "path:line: " + the formatted reason, the
 * line taken from node (or 1 when node is NULL). Returns CSPH_ERR_CONFIG. */
enum hub_err hub_yaml_fail(struct hub_yaml *y, const yaml_node_t *node, struct hub_error *err,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Typed readers. Each fails with a file:line message naming `what`. */
enum hub_err hub_yaml_str(struct hub_yaml *y, yaml_node_t *node, const char *what,
                          const char **out, struct hub_error *err);
enum hub_err hub_yaml_int(struct hub_yaml *y, yaml_node_t *node, const char *what, int64_t min,
                          int64_t max, int64_t *out, struct hub_error *err);
enum hub_err hub_yaml_bool(struct hub_yaml *y, yaml_node_t *node, const char *what, int *out,
                           struct hub_error *err);
/* Refuse any key of map not in allowed (NULL-terminated): a misspelt setting
 * must not be silently ignored. */
enum hub_err hub_yaml_only_keys(struct hub_yaml *y, yaml_node_t *map, const char *const *allowed,
                                const char *where, struct hub_error *err);

#endif
