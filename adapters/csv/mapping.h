/* mapping.h: a csphub-csv mapping file (YAML), read and checked. The format
 * is documented in adapters/README.md; every error names the file and the
 * line ("map.yaml:12: ..."). */
#ifndef CSPH_CSV_MAPPING_H
#define CSPH_CSV_MAPPING_H

#include <jansson.h>
#include <stddef.h>

enum map_convert {
    CONVERT_STRING,   /* as written */
    CONVERT_NUMBER,   /* a float: 55.7663 */
    CONVERT_INT,      /* an integer: 42 */
    CONVERT_BOOL,     /* true/false, yes/no, y/n, 1/0 */
    CONVERT_MONTH,    /* YYYY-MM or YYYY-MM-DD -> YYYY-MM-01T00:00:00Z */
    CONVERT_DATE,     /* YYYY-MM-DD or DD/MM/YYYY -> YYYY-MM-DDT00:00:00Z */
    CONVERT_DATETIME, /* RFC 3339 as written; the hub checks it */
};

/* What to do with a row whose column value the value map does not name. */
enum map_unmapped {
    UNMAPPED_SKIP,    /* skip the row, counted by value (the default) */
    UNMAPPED_REJECT,  /* reject the row here, counted by value */
    UNMAPPED_KEEP,    /* send the value as written (converted) */
    UNMAPPED_DEFAULT, /* send the mapping's `default` */
};

enum map_id_scheme {
    ID_ROW,     /* <prefix>-<row number> */
    ID_CONTENT, /* [<prefix>-]<hash of the mapped columns>-<occurrence> */
    ID_COLUMN,  /* [<prefix>-]<a column's value> */
};

struct map_value {
    char *from; /* the column's value */
    json_t *to; /* what the field becomes */
};

struct map_field {
    char *path;   /* the event field, dotted: location.lat */
    char *column; /* the header name */
    int col;      /* its index in the header (set by the reader), -1 before */
    int line;     /* where the mapping sets it */
    enum map_convert convert;
    struct map_value *values; /* the value map, or NULL */
    size_t nvalues;
    enum map_unmapped unmapped;
    json_t *fallback; /* UNMAPPED_DEFAULT */
    char **empty;     /* values that mean "no value": the field is left out */
    size_t nempty;
};

struct map_constant {
    char *path;
    json_t *value;
    int line;
};

/* Constants added to events of one type only. */
struct map_type {
    char *type;
    struct map_constant *consts;
    size_t nconsts;
    int line;
};

struct mapping {
    char *file;
    unsigned char delimiter, quote; /* quote 0: no quoting */
    char *encoding;                 /* iconv name; "utf-8" reads the bytes as they are */
    int utf8;                       /* encoding is UTF-8: no conversion */
    enum map_id_scheme id_scheme;
    char *id_prefix; /* NULL: the default for the scheme */
    char *id_column;
    int id_col;
    int id_line;
    struct map_constant *consts;
    size_t nconsts;
    struct map_field *fields;
    size_t nfields;
    struct map_type *types;
    size_t ntypes;
};

/* Read and check a mapping. Returns 0, or -1 with "file:line: what is
 * wrong" in err. *out is the caller's: mapping_free. */
int mapping_load(struct mapping **out, const char *path, char *err, size_t errlen);
void mapping_free(struct mapping **m);

#endif
