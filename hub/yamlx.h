/* yamlx.h: reading csphub's YAML files (hub config, schemas, rules, panels,
 * calendar) through libyaml's document API, with every complaint phrased as
 * "file:line: what is wrong" so the person editing the file can fix it.
 *
 * Node pointers returned here are borrowed from the document and stay valid
 * until csph_yaml_free. */
#ifndef CSPH_YAMLX_H
#define CSPH_YAMLX_H

#include <stdint.h>
#include <yaml.h>

#include "err.h"

struct csph_yaml {
    yaml_document_t doc;
    char path[512];
    int loaded;
};

/* Load path. On failure returns CSPH_ERR_CONFIG (or CSPH_ERR_IO when the file
 * cannot be opened) with "path:line: reason" in err->message. */
enum csph_err csph_yaml_load(struct csph_yaml *y, const char *path, struct csph_error *err);
/* The same from len bytes at buf (a file's text kept elsewhere, such as
 * the log); name stands for the file in messages. */
enum csph_err csph_yaml_load_text(struct csph_yaml *y, const char *name, const unsigned char *buf,
                                  size_t len, struct csph_error *err);
/* Release the document. Safe on a zeroed or already-freed struct. */
void csph_yaml_free(struct csph_yaml *y);

/* The root node, or NULL for an empty document. */
yaml_node_t *csph_yaml_root(struct csph_yaml *y);
/* 1-based line of node. */
int csph_yaml_line(const yaml_node_t *node);
/* The value for key in a mapping node, or NULL (also when map is not a map). */
yaml_node_t *csph_yaml_get(struct csph_yaml *y, yaml_node_t *map, const char *key);
/* The text of a scalar node, or NULL when node is not a scalar. */
const char *csph_yaml_scalar(const yaml_node_t *node);
/* The i-th item of a sequence node (NULL when out of range). */
size_t csph_yaml_seq_len(const yaml_node_t *node);
yaml_node_t *csph_yaml_seq_item(struct csph_yaml *y, yaml_node_t *seq, size_t i);
/* The i-th key/value pair of a mapping node. */
size_t csph_yaml_map_len(const yaml_node_t *node);
void csph_yaml_map_pair(struct csph_yaml *y, yaml_node_t *map, size_t i, yaml_node_t **key,
                        yaml_node_t **value);

/* Set err to CSPH_ERR_CONFIG with "path:line: " + the formatted reason, the
 * line taken from node (or 1 when node is NULL). Returns CSPH_ERR_CONFIG. */
enum csph_err csph_yaml_fail(struct csph_yaml *y, const yaml_node_t *node, struct csph_error *err,
                             const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Typed readers. Each fails with a file:line message naming `what`. */
enum csph_err csph_yaml_str(struct csph_yaml *y, yaml_node_t *node, const char *what,
                            const char **out, struct csph_error *err);
enum csph_err csph_yaml_int(struct csph_yaml *y, yaml_node_t *node, const char *what, int64_t min,
                            int64_t max, int64_t *out, struct csph_error *err);
enum csph_err csph_yaml_bool(struct csph_yaml *y, yaml_node_t *node, const char *what, int *out,
                             struct csph_error *err);
/* Refuse any key of map not in allowed (NULL-terminated): a misspelt setting
 * must not be silently ignored. */
enum csph_err csph_yaml_only_keys(struct csph_yaml *y, yaml_node_t *map, const char *const *allowed,
                                  const char *where, struct csph_error *err);

#endif
