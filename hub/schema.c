#include "schema.h"

#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csphub.h"
#include "mpx.h"
#include "timefmt.h"
#include "utf8.h"
#include "yamlx.h"

/* Kinds a schema file may name, then kinds used only inside a location. */
enum schema_kind {
    K_STRING,
    K_PERSON,
    K_LOCATION,
    K_ENUM,
    K_INT,
    K_BOOL,
    K_NUMBER,
    K_DATETIME,
    K_PANEL,
    K_KEY,  /* an alert's key as text: its values joined by ", " (issue 17) */
    K_JSON, /* JSON text whose string values may name people (an agenda) */
    K__FILE_COUNT,
    K_LSOA = K__FILE_COUNT,
};

static const char *const kind_names[K__FILE_COUNT] = {
    "string", "person", "location", "enum", "int", "bool", "number", "datetime", "panel", "key",
    "json",
};
#define KIND_LIST "string, person, location, enum, int, bool, number, datetime, panel, key, json"

/* The settings each kind accepts: a misspelt one is refused, never ignored. */
static const char *const kind_settings[K__FILE_COUNT][7] = {
    [K_STRING] = {"kind", "optional", "description", "min", "max", NULL},
    [K_PERSON] = {"kind", "optional", "description", NULL},
    [K_LOCATION] = {"kind", "optional", "description", NULL},
    [K_ENUM] = {"kind", "optional", "description", "values", NULL},
    [K_INT] = {"kind", "optional", "description", "min", "max", NULL},
    [K_BOOL] = {"kind", "optional", "description", NULL},
    [K_NUMBER] = {"kind", "optional", "description", "min", "max", NULL},
    [K_DATETIME] = {"kind", "optional", "description", NULL},
    [K_KEY] = {"kind", "optional", "description", "max", NULL},
    [K_JSON] = {"kind", "optional", "description", "max", NULL},
    [K_PANEL] = {"kind", "optional", "description", NULL},
};

/* A seen-set per event is one 64-bit word: 4 common fields + 60 of the type's. */
#define NCOMMON 4
#define MAX_FIELDS 60
#define MAX_STRING_BYTES 65536 /* an event is at most 64 KiB (PROTOCOL.md 1) */
#define NAME_MAX_LEN 64

enum { C_ID, C_TYPE, C_OCCURRED_AT, C_SOURCE };

struct field {
    const char *name; /* owned (strdup) for a schema's fields; static for the rest */
    uint32_t name_len;
    enum schema_kind kind;
    int optional;
    int64_t imin, imax; /* int range; string length range in bytes */
    double dmin, dmax;  /* number range */
    char **values;      /* enum */
    uint32_t *value_lens;
    uint32_t nvalues;
    char expect[288]; /* what a valid value is, for messages: "an integer 0-27" */
};

struct schema {
    char *type;
    uint32_t type_len;
    struct field *fields;
    uint32_t nfields;
    uint32_t person[MAX_FIELDS]; /* indices of the fields of kind person */
    uint32_t nperson;
    char *retention;  /* its retention class (config/retention.yaml) */
    int panel_field;  /* index of its first field of kind panel, -1 when none */
    char allowed[256]; /* "victim, location, ... plus id, ..." for unknown-field messages */
};

struct hub_schemas {
    struct schema *v;
    size_t n;
    char **panels;
    uint32_t *panel_lens;
    size_t npanels;
    char type_list[256];
    char panel_list[256];
};

/* PROTOCOL.md 3. `type` is checked before the loop; occurred_at's optional
 * flag is ignored (source's depends on require_source). */
static const struct field common_fields[NCOMMON] = {
    [C_ID] = {.name = "id", .name_len = 2, .kind = K_STRING, .imin = 1, .imax = 128,
              .expect = "a string of 1-128 bytes"},
    [C_TYPE] = {.name = "type", .name_len = 4, .kind = K_STRING, .imin = 1, .imax = 64,
                .expect = "a string naming an event type"},
    [C_OCCURRED_AT] = {.name = "occurred_at", .name_len = 11, .kind = K_DATETIME,
                       .expect = "an RFC 3339 date-time with offset such as 2025-03-01T21:14:00Z"},
    [C_SOURCE] = {.name = "source", .name_len = 6, .kind = K_STRING, .imin = 1, .imax = 64,
                  .expect = "a string of 1-64 bytes naming the sending agency"},
};

/* Names a type may not use: the common fields and what the store adds. */
static const char *const reserved_names[] = {"id", "type", "occurred_at", "source", "seq",
                                             "received_at", NULL};

enum { L_ID, L_LSOA, L_WARD, L_LAT, L_LON, L_DESCRIPTION, L__COUNT };
static const struct field location_fields[L__COUNT] = {
    [L_ID] = {.name = "id", .name_len = 2, .kind = K_STRING, .imin = 1, .imax = 64,
              .expect = "a place reference (such as a UPRN) of 1-64 bytes"},
    [L_LSOA] = {.name = "lsoa", .name_len = 4, .kind = K_LSOA,
                .expect = "an ONS LSOA code such as E01000916 (E or W, then 01, then six digits)"},
    [L_WARD] = {.name = "ward", .name_len = 4, .kind = K_STRING, .imin = 1, .imax = 64,
                .expect = "a string of 1-64 bytes"},
    [L_LAT] = {.name = "lat", .name_len = 3, .kind = K_NUMBER, .dmin = -90, .dmax = 90,
               .expect = "a WGS84 latitude from -90 to 90"},
    [L_LON] = {.name = "lon", .name_len = 3, .kind = K_NUMBER, .dmin = -180, .dmax = 180,
               .expect = "a WGS84 longitude from -180 to 180"},
    [L_DESCRIPTION] = {.name = "description", .name_len = 11, .kind = K_STRING, .imin = 0,
                       .imax = 200, .expect = "a string of at most 200 bytes"},
};

#define PERSON_RULE "person reference of 1-64 characters from A-Z a-z 0-9 . _ : -"
#define PERSON_EXPECT "a " PERSON_RULE

/* ---- small helpers --------------------------------------------------- */

/* 1 for a byte a person reference may hold (csph_ref_valid, one byte):
 * for naming the character at fault, and for a reference's edges in text. */
static int ref_char(char c)
{
    return csph_ref_valid(&c, 1);
}

static const char *shown(char buf[48], const char *p, size_t len)
{
    size_t n = len > 40 ? 40 : len, o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        buf[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (n < len) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

/* "a string", "an integer": the value's msgpack type with its article. */
static const char *a_type(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "a boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "an integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "a float";
    case MSGPACK_OBJECT_STR: return "a string";
    case MSGPACK_OBJECT_ARRAY: return "an array";
    case MSGPACK_OBJECT_MAP: return "a map";
    case MSGPACK_OBJECT_BIN: return "binary data";
    case MSGPACK_OBJECT_EXT: return "an extension value";
    }
    return "an unknown value";
}

static int name_eq(const msgpack_object *key, const char *name, uint32_t len)
{
    return key->via.str.size == len && memcmp(key->via.str.ptr, name, len) == 0;
}

/* Fail with field = parent.name (or name) and message "field '<path>' <rest>". */
static enum hub_err field_fail(struct hub_error *err, enum hub_err code, const char *parent,
                               const char *name, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static enum hub_err field_fail(struct hub_error *err, enum hub_err code, const char *parent,
                               const char *name, const char *fmt, ...)
{
    char path[160], rest[300];
    if (parent)
        snprintf(path, sizeof path, "%s.%s", parent, name);
    else
        snprintf(path, sizeof path, "%s", name);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rest, sizeof rest, fmt, ap);
    va_end(ap);
    return hub_error_set(err, code, path, "field '%s' %s", path, rest);
}

/* ---- checking events (the hot path: no allocation) ------------------- */

static enum hub_err check_value(const struct hub_schemas *s, const struct field *f,
                                const char *parent, const msgpack_object *v, int64_t *ms,
                                struct hub_error *err);

static enum hub_err check_location(const struct hub_schemas *s, const struct field *f,
                                   const msgpack_object *v, struct hub_error *err)
{
    if (v->type != MSGPACK_OBJECT_MAP)
        return field_fail(err, CSPH_ERR_BAD_EVENT, NULL, f->name, "must be %s, not %s", f->expect,
                          a_type(v));
    unsigned seen = 0;
    const msgpack_object_kv *kv = v->via.map.ptr;
    for (uint32_t i = 0; i < v->via.map.size; i++) {
        const msgpack_object *key = &kv[i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            return field_fail(err, CSPH_ERR_BAD_EVENT, NULL, f->name,
                              "has %s as a key; location keys must be strings", a_type(key));
        int j = -1;
        for (int k = 0; k < L__COUNT; k++)
            if (name_eq(key, location_fields[k].name, location_fields[k].name_len)) {
                j = k;
                break;
            }
        if (j < 0) {
            char b[48];
            shown(b, key->via.str.ptr, key->via.str.size);
            char path[160];
            snprintf(path, sizeof path, "%s.%s", f->name, b);
            return hub_error_set(err, CSPH_ERR_BAD_EVENT, path,
                                 "unknown field '%s'; a location may have only id, lsoa, ward, "
                                 "lat, lon and description",
                                 path);
        }
        if (seen & (1u << j))
            return field_fail(err, CSPH_ERR_BAD_EVENT, f->name, location_fields[j].name,
                              "appears more than once in the location");
        seen |= 1u << j;
        enum hub_err rc = check_value(s, &location_fields[j], f->name, &kv[i].val, NULL, err);
        if (rc)
            return rc;
    }
    if (((seen >> L_LAT) ^ (seen >> L_LON)) & 1) {
        int missing = (seen & (1u << L_LAT)) ? L_LON : L_LAT;
        return field_fail(err, CSPH_ERR_BAD_EVENT, f->name, location_fields[missing].name,
                          "is missing: lat and lon must be given together");
    }
    if (!(seen & ((1u << L_ID) | (1u << L_LSOA) | (1u << L_WARD) | (1u << L_LAT))))
        return field_fail(err, CSPH_ERR_BAD_EVENT, NULL, f->name,
                          "must identify a place: give at least one of id, lsoa, ward, or lat "
                          "and lon");
    return CSPH_ERR_OK;
}

static enum hub_err check_value(const struct hub_schemas *s, const struct field *f,
                                const char *parent, const msgpack_object *v, int64_t *ms,
                                struct hub_error *err)
{
    char b[48];
    if (f->kind == K_LOCATION)
        return check_location(s, f, v, err);
    if (f->kind == K_BOOL) {
        if (v->type != MSGPACK_OBJECT_BOOLEAN)
            return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name, "must be %s, not %s",
                              f->expect, a_type(v));
        return CSPH_ERR_OK;
    }
    if (f->kind == K_INT) {
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            if (v->via.u64 > (uint64_t)INT64_MAX || (int64_t)v->via.u64 > f->imax ||
                (int64_t)v->via.u64 < f->imin)
                return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name, "must be %s, not %llu",
                                  f->expect, (unsigned long long)v->via.u64);
            return CSPH_ERR_OK;
        }
        if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            if (v->via.i64 < f->imin || v->via.i64 > f->imax)
                return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name, "must be %s, not %lld",
                                  f->expect, (long long)v->via.i64);
            return CSPH_ERR_OK;
        }
        return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name, "must be %s, not %s",
                          f->expect, a_type(v));
    }
    if (f->kind == K_NUMBER) {
        double d;
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
            d = (double)v->via.u64;
        else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
            d = (double)v->via.i64;
        else if (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64)
            d = v->via.f64;
        else
            return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name, "must be %s, not %s",
                              f->expect, a_type(v));
        if (!(d >= f->dmin && d <= f->dmax)) /* also refuses NaN */
            return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name, "must be %s, not %g",
                              f->expect, d);
        return CSPH_ERR_OK;
    }

    /* Every other kind is a string. */
    if (v->type != MSGPACK_OBJECT_STR)
        return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name, "must be %s, not %s",
                          f->expect, a_type(v));
    const char *p = v->via.str.ptr;
    uint32_t len = v->via.str.size;
    switch (f->kind) {
    case K_KEY:
    case K_JSON:
    case K_STRING: {
        if ((int64_t)len < f->imin || (int64_t)len > f->imax) {
            if (len == 0)
                return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name,
                                  "must be %s, not empty", f->expect);
            return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name,
                              "must be %s, not %lu byte%s", f->expect, (unsigned long)len,
                              len == 1 ? "" : "s");
        }
        size_t bad = hub_utf8_bad_at(p, len);
        if (bad != len)
            return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name,
                              "is not valid UTF-8 text (byte %lu)", (unsigned long)bad + 1);
        return CSPH_ERR_OK;
    }
    case K_PERSON: {
        if (len == 0)
            return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name, "must be %s, not empty",
                              PERSON_EXPECT);
        if (len > 64)
            return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name,
                              "must be %s, not %lu characters long", PERSON_EXPECT,
                              (unsigned long)len);
        if (csph_ref_valid(p, len)) /* one pass, the usual case */
            return CSPH_ERR_OK;
        for (uint32_t i = 0; i < len; i++) /* which character: only on a refusal */
            if (!ref_char(p[i]))
                return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name,
                                  "must be a pseudonymous %s, never a name: character %lu is "
                                  "not allowed",
                                  PERSON_RULE, (unsigned long)i + 1);
        return CSPH_ERR_OK;
    }
    case K_ENUM:
        for (uint32_t i = 0; i < f->nvalues; i++)
            if (f->value_lens[i] == len && memcmp(f->values[i], p, len) == 0)
                return CSPH_ERR_OK;
        return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name, "must be %s, not '%s'",
                          f->expect, shown(b, p, len));
    case K_DATETIME: {
        int64_t t;
        const char *why = "is not valid";
        if (csph_time_parse(p, len, &t, &why) != 0)
            return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name,
                              "is not a valid date-time: it %s%s", why,
                              strstr(why, "RFC 3339") ? ""
                                                      : " (send RFC 3339 such as "
                                                        "2025-03-01T21:14:00Z)");
        if (ms)
            *ms = t;
        return CSPH_ERR_OK;
    }
    case K_PANEL:
        for (size_t i = 0; i < s->npanels; i++)
            if (s->panel_lens[i] == len && memcmp(s->panels[i], p, len) == 0)
                return CSPH_ERR_OK;
        return field_fail(err, CSPH_ERR_UNKNOWN_PANEL, parent, f->name,
                          "names no configured panel: '%s' (panels: %s)", shown(b, p, len),
                          s->panel_list);
    case K_LSOA:
        if (len == 9 && (p[0] == 'E' || p[0] == 'W') && p[1] == '0' && p[2] == '1') {
            uint32_t i = 3;
            while (i < 9 && p[i] >= '0' && p[i] <= '9')
                i++;
            if (i == 9)
                return CSPH_ERR_OK;
        }
        return field_fail(err, CSPH_ERR_BAD_EVENT, parent, f->name, "must be %s, not '%s'",
                          f->expect, shown(b, p, len));
    default:
        break;
    }
    return hub_error_set(err, CSPH_ERR_INTERNAL, f->name, "field '%s' has a kind the checker "
                         "does not know", f->name);
}

int hub_schemas_find(const struct hub_schemas *s, const char *name, size_t len)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (s->v[i].type_len == len && memcmp(s->v[i].type, name, len) == 0)
            return (int)i;
    return -1;
}

enum hub_err hub_schema_check(const struct hub_schemas *s, const msgpack_object *event,
                              int require_source, struct hub_event_info *info,
                              struct hub_error *err)
{
    char b[48];
    if (event->type != MSGPACK_OBJECT_MAP)
        return hub_error_set(err, CSPH_ERR_BAD_EVENT, NULL,
                             "the event must be a map of field names to values, not %s",
                             a_type(event));
    const msgpack_object_kv *kv = event->via.map.ptr;
    const uint32_t n = event->via.map.size;

    /* The type first, so that an unknown type wins over field errors. */
    const msgpack_object *type = NULL;
    for (uint32_t i = 0; i < n; i++)
        if (kv[i].key.type == MSGPACK_OBJECT_STR && name_eq(&kv[i].key, "type", 4)) {
            type = &kv[i].val;
            break;
        }
    if (!type)
        return hub_error_set(err, CSPH_ERR_BAD_EVENT, "type",
                             "missing required field 'type' (%s)", common_fields[C_TYPE].expect);
    if (type->type != MSGPACK_OBJECT_STR)
        return field_fail(err, CSPH_ERR_BAD_EVENT, NULL, "type", "must be %s, not %s",
                          common_fields[C_TYPE].expect, a_type(type));
    int ti = hub_schemas_find(s, type->via.str.ptr, type->via.str.size);
    if (ti < 0)
        return hub_error_set(err, CSPH_ERR_UNKNOWN_TYPE, "type",
                             "unknown event type '%s' in field 'type'; known types: %s",
                             shown(b, type->via.str.ptr, type->via.str.size), s->type_list);
    const struct schema *sc = &s->v[ti];

    struct hub_event_info in = {.type = type->via.str.ptr,
                                .type_len = type->via.str.size,
                                .type_index = ti};
    uint64_t seen = 0;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *key = &kv[i].key;
        if (key->type != MSGPACK_OBJECT_STR)
            return hub_error_set(err, CSPH_ERR_BAD_EVENT, NULL,
                                 "the event has %s as a field name; field names must be strings",
                                 a_type(key));
        const struct field *f = NULL;
        unsigned bit = 0;
        for (unsigned k = 0; k < NCOMMON; k++)
            if (name_eq(key, common_fields[k].name, common_fields[k].name_len)) {
                f = &common_fields[k];
                bit = k;
                break;
            }
        for (uint32_t k = 0; !f && k < sc->nfields; k++)
            if (name_eq(key, sc->fields[k].name, sc->fields[k].name_len)) {
                f = &sc->fields[k];
                bit = NCOMMON + k;
            }
        if (!f) {
            shown(b, key->via.str.ptr, key->via.str.size);
            return hub_error_set(err, CSPH_ERR_BAD_EVENT, b,
                                 "unknown field '%s' for type %s; allowed: %s", b, sc->type,
                                 sc->allowed);
        }
        if (seen & (1ull << bit))
            return field_fail(err, CSPH_ERR_BAD_EVENT, NULL, f->name,
                              "appears more than once in the event");
        seen |= 1ull << bit;
        if (bit == C_TYPE)
            continue; /* checked above */
        enum hub_err rc = check_value(s, f, NULL, &kv[i].val,
                                      bit == C_OCCURRED_AT ? &in.occurred_at_ms : NULL, err);
        if (rc)
            return rc;
        if (bit == C_ID) {
            in.id = kv[i].val.via.str.ptr;
            in.id_len = kv[i].val.via.str.size;
        } else if (bit == C_SOURCE) {
            in.source = kv[i].val.via.str.ptr;
            in.source_len = kv[i].val.via.str.size;
        }
    }

    static const unsigned common_required[] = {C_ID, C_OCCURRED_AT, C_SOURCE};
    for (size_t k = 0; k < sizeof common_required / sizeof *common_required; k++) {
        unsigned c = common_required[k];
        if (c == C_SOURCE && !require_source)
            continue;
        if (!(seen & (1ull << c)))
            return hub_error_set(err, CSPH_ERR_BAD_EVENT, common_fields[c].name,
                                 "missing required field '%s' (%s)", common_fields[c].name,
                                 common_fields[c].expect);
    }
    for (uint32_t k = 0; k < sc->nfields; k++)
        if (!sc->fields[k].optional && !(seen & (1ull << (NCOMMON + k))))
            return hub_error_set(err, CSPH_ERR_BAD_EVENT, sc->fields[k].name,
                                 "missing required field '%s' (%s)", sc->fields[k].name,
                                 sc->fields[k].expect);
    if (info)
        *info = in;
    return CSPH_ERR_OK;
}

/* Call fn for each value of a key text (joined by ", "); nonzero stops. */
static int each_key_value(const char *p, size_t n,
                          int (*fn)(void *ctx, const char *v, size_t len), void *ctx)
{
    const char *end = p + n;
    for (;;) {
        const char *sep = p;
        while (sep < end && !(sep + 1 < end && sep[0] == ',' && sep[1] == ' '))
            sep++;
        int rc = fn(ctx, p, (size_t)(sep - p));
        if (rc || sep >= end)
            return rc;
        p = sep + 2;
    }
}

struct want {
    const char *v;
    size_t len;
};

static int is_wanted(void *ctx, const char *v, size_t len)
{
    const struct want *w = ctx;
    return len == w->len && memcmp(v, w->v, len) == 0;
}

/* 1 when text (n bytes) holds ref (len) as a whole reference, not inside
 * a longer one. */
static int text_names(const char *text, size_t n, const char *ref, size_t len)
{
    for (size_t i = 0; len && i + len <= n; i++)
        if (memcmp(text + i, ref, len) == 0 && (i == 0 || !ref_char(text[i - 1])) &&
            (i + len == n || !ref_char(text[i + len])))
            return 1;
    return 0;
}

/* 1 when the value of person field f names person: equal to it (kind
 * person), or one of its values (kind key). */
static int field_names(const struct field *f, const msgpack_object *v, const char *person,
                       size_t len)
{
    if (v->type != MSGPACK_OBJECT_STR)
        return 0;
    if (f->kind == K_JSON)
        return text_names(v->via.str.ptr, v->via.str.size, person, len);
    if (f->kind != K_KEY)
        return hub_mp_str_eqn(v, person, len);
    struct want w = {person, len};
    return each_key_value(v->via.str.ptr, v->via.str.size, is_wanted, &w);
}

/* The person field of a type named name (len bytes), NULL when it has none. */
static const struct field *person_field(const struct hub_schemas *s, int type_index,
                                        const char *name, size_t len)
{
    if (!s || type_index < 0 || (size_t)type_index >= s->n)
        return NULL;
    const struct schema *sc = &s->v[type_index];
    for (uint32_t k = 0; k < sc->nperson; k++) {
        const struct field *f = &sc->fields[sc->person[k]];
        if (f->name_len == len && memcmp(f->name, name, len) == 0)
            return f;
    }
    return NULL;
}

int hub_schema_field_names(const struct hub_schemas *s, int type_index, const char *name,
                           size_t name_len, const msgpack_object *v, const char *person,
                           size_t len)
{
    const struct field *f = person_field(s, type_index, name, name_len);
    return f ? field_names(f, v, person, len) : 0;
}

int hub_schema_mentions_person(const struct hub_schemas *s, const struct hub_event_info *info,
                               const msgpack_object *event, const char *person, size_t len)
{
    if (!s || !info || !event || event->type != MSGPACK_OBJECT_MAP || info->type_index < 0 ||
        (size_t)info->type_index >= s->n)
        return 0;
    const struct schema *sc = &s->v[info->type_index];
    const msgpack_object_kv *kv = event->via.map.ptr;
    for (uint32_t i = 0; sc->nperson && i < event->via.map.size; i++) {
        if (kv[i].key.type != MSGPACK_OBJECT_STR)
            continue;
        for (uint32_t k = 0; k < sc->nperson; k++) {
            const struct field *f = &sc->fields[sc->person[k]];
            if (name_eq(&kv[i].key, f->name, f->name_len)) {
                if (field_names(f, &kv[i].val, person, len))
                    return 1;
                break;
            }
        }
    }
    return 0;
}

int hub_schema_person_field(const struct hub_schemas *s, int type_index, const char *name,
                            size_t len)
{
    return person_field(s, type_index, name, len) != NULL;
}

/* A key's values that are person references go to the person index like
 * a person field's (a location id or an alert number may be one too:
 * indexing them costs an entry; leaving a person out would hide them from
 * erasure and a subject access export). */
struct key_refs {
    hub_schema_ref_fn fn;
    void *ctx;
};

static int key_ref(void *ctx, const char *v, size_t len)
{
    const struct key_refs *kr = ctx;
    return csph_ref_valid(v, len) ? kr->fn(kr->ctx, CSPH_REF_PERSON, v, len) : 0;
}

/* Every string value of a JSON document that is a person reference. */
static int json_refs(json_t *j, struct key_refs *kr)
{
    const char *k;
    size_t i;
    json_t *v;
    int rc = 0;
    if (json_is_string(j))
        return key_ref(kr, json_string_value(j), json_string_length(j));
    if (json_is_array(j))
        json_array_foreach(j, i, v) if ((rc = json_refs(v, kr))) return rc;
    if (json_is_object(j))
        json_object_foreach(j, k, v) if ((rc = json_refs(v, kr))) return rc;
    return 0;
}

/* A JSON document's string values that name person (len) replaced by
 * with; 1 when one was. */
static int json_redact(json_t *j, const char *person, size_t len, const char *with)
{
    const char *k;
    size_t i;
    json_t *v;
    int n = 0;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            if (json_is_string(v) &&
                text_names(json_string_value(v), json_string_length(v), person, len))
                n |= !json_array_set_new(j, i, json_string(with));
            else
                n |= json_redact(v, person, len, with);
        }
    } else if (json_is_object(j)) {
        json_object_foreach(j, k, v) {
            if (json_is_string(v) &&
                text_names(json_string_value(v), json_string_length(v), person, len))
                n |= !json_object_set_new(j, k, json_string(with));
            else
                n |= json_redact(v, person, len, with);
        }
    }
    return n;
}

int hub_schema_json_field(const struct hub_schemas *s, int type_index, const char *name,
                          size_t name_len)
{
    const struct field *f = person_field(s, type_index, name, name_len);
    return f && f->kind == K_JSON;
}

int hub_schema_text_field(const struct hub_schemas *s, int type_index, const char *name,
                          size_t name_len)
{
    if (!s || type_index < 0 || (size_t)type_index >= s->n)
        return 0;
    const struct schema *sc = &s->v[type_index];
    for (uint32_t k = 0; k < sc->nfields; k++) {
        const struct field *f = &sc->fields[k];
        if (f->name_len == name_len && memcmp(f->name, name, name_len) == 0)
            return f->kind == K_STRING;
    }
    return 0;
}

char *hub_schema_json_redact(const char *text, size_t n, const char *person, size_t len,
                             const char *with, size_t *out_len)
{
    json_t *j = json_loadb(text, n, 0, NULL);
    if (!j)
        return NULL;
    json_redact(j, person, len, with);
    char *out = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(j);
    if (out)
        *out_len = strlen(out);
    return out;
}

int hub_schema_each_ref(const struct hub_schemas *s, int type_index,
                        const msgpack_object *event, hub_schema_ref_fn fn, void *ctx)
{
    if (!s || !event || event->type != MSGPACK_OBJECT_MAP || type_index < 0 ||
        (size_t)type_index >= s->n)
        return 0;
    const struct schema *sc = &s->v[type_index];
    const msgpack_object_kv *kv = event->via.map.ptr;
    for (uint32_t i = 0; i < event->via.map.size; i++) {
        if (kv[i].key.type != MSGPACK_OBJECT_STR)
            continue;
        for (uint32_t k = 0; k < sc->nfields; k++) {
            const struct field *f = &sc->fields[k];
            if (!name_eq(&kv[i].key, f->name, f->name_len))
                continue;
            const msgpack_object *v = &kv[i].val;
            int rc = 0;
            if (f->kind == K_PERSON && v->type == MSGPACK_OBJECT_STR)
                rc = fn(ctx, CSPH_REF_PERSON, v->via.str.ptr, v->via.str.size);
            else if (f->kind == K_KEY && v->type == MSGPACK_OBJECT_STR) {
                struct key_refs kr = {fn, ctx};
                rc = each_key_value(v->via.str.ptr, v->via.str.size, key_ref, &kr);
            } else if (f->kind == K_JSON && v->type == MSGPACK_OBJECT_STR) {
                json_t *j = json_loadb(v->via.str.ptr, v->via.str.size, 0, NULL);
                struct key_refs kr = {fn, ctx};
                rc = j ? json_refs(j, &kr) : 0;
                json_decref(j);
            }
            else if (f->kind == K_LOCATION && v->type == MSGPACK_OBJECT_MAP) {
                const msgpack_object *id = hub_mp_get(v, "id"), *lsoa = hub_mp_get(v, "lsoa");
                if (id && id->type == MSGPACK_OBJECT_STR)
                    rc = fn(ctx, CSPH_REF_PLACE, id->via.str.ptr, id->via.str.size);
                if (!rc && lsoa && lsoa->type == MSGPACK_OBJECT_STR)
                    rc = fn(ctx, CSPH_REF_LSOA, lsoa->via.str.ptr, lsoa->via.str.size);
            }
            if (rc)
                return rc;
            break;
        }
    }
    return 0;
}

int hub_schema_has_field(const struct hub_schemas *s, const char *type, const char *path)
{
    int ti = hub_schemas_find(s, type, strlen(type));
    if (ti < 0)
        return 0;
    const struct schema *sc = &s->v[ti];
    const char *dot = strchr(path, '.');
    size_t n = dot ? (size_t)(dot - path) : strlen(path);
    for (unsigned k = 0; k < NCOMMON; k++)
        if (common_fields[k].name_len == n && !memcmp(common_fields[k].name, path, n))
            return dot == NULL;
    for (uint32_t k = 0; k < sc->nfields; k++) {
        const struct field *f = &sc->fields[k];
        if (f->name_len != n || memcmp(f->name, path, n))
            continue;
        if (!dot)
            return 1;
        if (f->kind != K_LOCATION)
            return 0;
        for (unsigned l = 0; l < L__COUNT; l++)
            if (!strcmp(location_fields[l].name, dot + 1))
                return 1;
        return 0;
    }
    return 0;
}

size_t hub_schemas_count(const struct hub_schemas *s)
{
    return s ? s->n : 0;
}

const char *hub_schemas_name(const struct hub_schemas *s, size_t i)
{
    return s && i < s->n ? s->v[i].type : NULL;
}

const char *hub_schemas_retention(const struct hub_schemas *s, size_t i)
{
    return s && i < s->n ? s->v[i].retention : NULL;
}

const char *hub_schemas_panel_field(const struct hub_schemas *s, size_t i)
{
    return s && i < s->n && s->v[i].panel_field >= 0 ? s->v[i].fields[s->v[i].panel_field].name
                                                      : NULL;
}

/* ---- loading (once, at start) ---------------------------------------- */

static void field_free(struct field *f)
{
    free((void *)f->name);
    for (uint32_t i = 0; i < f->nvalues; i++)
        free(f->values[i]);
    free(f->values);
    free(f->value_lens);
}

void hub_schemas_destroy(struct hub_schemas **sp)
{
    if (!sp || !*sp)
        return;
    struct hub_schemas *s = *sp;
    for (size_t i = 0; i < s->n; i++) {
        for (uint32_t k = 0; k < s->v[i].nfields; k++)
            field_free(&s->v[i].fields[k]);
        free(s->v[i].fields);
        free(s->v[i].type);
        free(s->v[i].retention);
    }
    free(s->v);
    for (size_t i = 0; i < s->npanels; i++)
        free(s->panels[i]);
    free(s->panels);
    free(s->panel_lens);
    free(s);
    *sp = NULL;
}

/* Append item to a ", "-separated list in buf, ending in "..." when full. */
static void list_add(char *buf, size_t cap, const char *item)
{
    size_t used = strlen(buf), need = strlen(item) + (used ? 2 : 0);
    if (used >= 3 && strcmp(buf + used - 3, "...") == 0)
        return;
    if (used + need + 4 >= cap) {
        snprintf(buf + used, cap - used, "%s...", used ? ", " : "");
        return;
    }
    snprintf(buf + used, cap - used, "%s%s", used ? ", " : "", item);
}

/* libyaml's document API keeps duplicate keys; a schema must not. */
static enum hub_err no_duplicate_keys(struct hub_yaml *y, yaml_node_t *map, const char *where,
                                      struct hub_error *err)
{
    size_t n = hub_yaml_map_len(map);
    for (size_t i = 1; i < n; i++) {
        yaml_node_t *k, *v;
        hub_yaml_map_pair(y, map, i, &k, &v);
        const char *ks = hub_yaml_scalar(k);
        for (size_t j = 0; ks && j < i; j++) {
            yaml_node_t *k2, *v2;
            hub_yaml_map_pair(y, map, j, &k2, &v2);
            const char *ks2 = hub_yaml_scalar(k2);
            if (ks2 && strcmp(ks, ks2) == 0)
                return hub_yaml_fail(y, k, err, "'%s' is given twice in %s (first on line %d)",
                                     ks, where, hub_yaml_line(k2));
        }
    }
    return CSPH_ERR_OK;
}

static int name_chars_ok(const char *s, int allow_dot)
{
    size_t len = strlen(s);
    if (len < 1 || len > NAME_MAX_LEN || !(s[0] >= 'a' && s[0] <= 'z'))
        return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
              (allow_dot && (c == '.' || c == '-'))))
            return 0;
    }
    return 1;
}

static enum hub_err yaml_number(struct hub_yaml *y, yaml_node_t *node, const char *what,
                                double *out, struct hub_error *err)
{
    const char *s = hub_yaml_scalar(node);
    char *end;
    if (!s || !*s)
        return hub_yaml_fail(y, node, err, "%s must be a number", what);
    errno = 0;
    double d = strtod(s, &end);
    if (errno || *end || !isfinite(d))
        return hub_yaml_fail(y, node, err, "%s must be a number, not '%s'", what, s);
    *out = d;
    return CSPH_ERR_OK;
}

static enum hub_err load_enum_values(struct hub_yaml *y, yaml_node_t *spec, struct field *f,
                                     const char *name, struct hub_error *err)
{
    yaml_node_t *vals = hub_yaml_get(y, spec, "values");
    if (!vals)
        return hub_yaml_fail(y, spec, err,
                             "field '%s' (kind enum) needs 'values', a list such as "
                             "[standard, medium, high]",
                             name);
    size_t n = hub_yaml_seq_len(vals);
    if (vals->type != YAML_SEQUENCE_NODE || n == 0)
        return hub_yaml_fail(y, vals, err,
                             "'values' of field '%s' must be a non-empty list such as "
                             "[standard, medium, high]",
                             name);
    f->values = calloc(n, sizeof *f->values);
    f->value_lens = calloc(n, sizeof *f->value_lens);
    if (!f->values || !f->value_lens)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "%s: out of memory", y->path);
    strcpy(f->expect, "one of ");
    size_t prefix = strlen(f->expect);
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *item = hub_yaml_seq_item(y, vals, i);
        const char *v = hub_yaml_scalar(item);
        if (!v || !*v || strlen(v) > NAME_MAX_LEN)
            return hub_yaml_fail(y, item, err,
                                 "each of the values of field '%s' must be a word of 1-%d "
                                 "characters",
                                 name, NAME_MAX_LEN);
        for (uint32_t j = 0; j < f->nvalues; j++)
            if (strcmp(f->values[j], v) == 0)
                return hub_yaml_fail(y, item, err, "value '%s' of field '%s' is listed twice",
                                     v, name);
        if (!(f->values[f->nvalues] = strdup(v)))
            return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "%s: out of memory", y->path);
        f->value_lens[f->nvalues++] = (uint32_t)strlen(v);
        list_add(f->expect + prefix, sizeof f->expect - prefix, v);
    }
    return CSPH_ERR_OK;
}

/* The 'max' every kind of text (string, key, json) needs: its longest
 * length in bytes, into f->imax, with f->imin 0. */
static enum hub_err text_max(struct hub_yaml *y, yaml_node_t *spec, yaml_node_t *max,
                             const char *what_max, struct field *f, const char *name,
                             const char *kind, struct hub_error *err)
{
    if (!max)
        return hub_yaml_fail(y, spec, err,
                             "field '%s' (kind %s) needs 'max', its longest length in bytes",
                             name, kind);
    f->imin = 0;
    return hub_yaml_int(y, max, what_max, 1, MAX_STRING_BYTES, &f->imax, err);
}

static enum hub_err load_field(struct hub_yaml *y, yaml_node_t *spec, struct field *f,
                               const char *name, struct hub_error *err)
{
    if (!spec || spec->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, spec, err,
                             "field '%s' must be a mapping of settings such as "
                             "{kind: string, max: 200}",
                             name);
    enum hub_err rc;
    char where[128], what_min[96], what_max[96];
    snprintf(where, sizeof where, "field '%s'", name);
    snprintf(what_min, sizeof what_min, "'min' of field '%s'", name);
    snprintf(what_max, sizeof what_max, "'max' of field '%s'", name);
    if ((rc = no_duplicate_keys(y, spec, where, err)))
        return rc;
    yaml_node_t *kind = hub_yaml_get(y, spec, "kind");
    if (!kind)
        return hub_yaml_fail(y, spec, err, "field '%s' has no kind (one of " KIND_LIST ")", name);
    const char *ks;
    if ((rc = hub_yaml_str(y, kind, "kind", &ks, err)))
        return rc;
    int k = -1;
    for (int i = 0; i < K__FILE_COUNT; i++)
        if (strcmp(kind_names[i], ks) == 0)
            k = i;
    if (k < 0)
        return hub_yaml_fail(y, kind, err,
                             "field '%s' has unknown kind '%s' (known: " KIND_LIST ")", name, ks);
    f->kind = (enum schema_kind)k;
    snprintf(where, sizeof where, "field '%s' of kind %s", name, ks);
    if ((rc = hub_yaml_only_keys(y, spec, kind_settings[k], where, err)))
        return rc;
    yaml_node_t *opt = hub_yaml_get(y, spec, "optional");
    snprintf(what_min, sizeof what_min, "'optional' of field '%s'", name);
    if (opt && (rc = hub_yaml_bool(y, opt, what_min, &f->optional, err)))
        return rc;
    yaml_node_t *desc = hub_yaml_get(y, spec, "description");
    const char *ds;
    snprintf(what_min, sizeof what_min, "'description' of field '%s'", name);
    if (desc && (rc = hub_yaml_str(y, desc, what_min, &ds, err)))
        return rc;
    snprintf(what_min, sizeof what_min, "'min' of field '%s'", name);

    yaml_node_t *min = hub_yaml_get(y, spec, "min"), *max = hub_yaml_get(y, spec, "max");
    switch (f->kind) {
    case K_STRING:
        if ((rc = text_max(y, spec, max, what_max, f, name, "string", err)))
            return rc;
        if (min && (rc = hub_yaml_int(y, min, what_min, 0, f->imax, &f->imin, err)))
            return rc;
        if (f->imin == 0)
            snprintf(f->expect, sizeof f->expect, "a string of at most %lld bytes",
                     (long long)f->imax);
        else
            snprintf(f->expect, sizeof f->expect, "a string of %lld-%lld bytes",
                     (long long)f->imin, (long long)f->imax);
        break;
    case K_INT:
        if (!min || !max)
            return hub_yaml_fail(y, spec, err, "field '%s' (kind int) needs both 'min' and 'max'",
                                 name);
        if ((rc = hub_yaml_int(y, min, what_min, INT64_MIN, INT64_MAX, &f->imin, err)) ||
            (rc = hub_yaml_int(y, max, what_max, f->imin, INT64_MAX, &f->imax, err)))
            return rc;
        if (f->imin >= 0)
            snprintf(f->expect, sizeof f->expect, "an integer %lld-%lld", (long long)f->imin,
                     (long long)f->imax);
        else
            snprintf(f->expect, sizeof f->expect, "an integer from %lld to %lld",
                     (long long)f->imin, (long long)f->imax);
        break;
    case K_NUMBER:
        if (!min || !max)
            return hub_yaml_fail(y, spec, err,
                                 "field '%s' (kind number) needs both 'min' and 'max'", name);
        if ((rc = yaml_number(y, min, what_min, &f->dmin, err)) ||
            (rc = yaml_number(y, max, what_max, &f->dmax, err)))
            return rc;
        if (f->dmin > f->dmax)
            return hub_yaml_fail(y, max, err, "'max' of field '%s' is below its 'min'", name);
        snprintf(f->expect, sizeof f->expect, "a number from %g to %g", f->dmin, f->dmax);
        break;
    case K_ENUM:
        if ((rc = load_enum_values(y, spec, f, name, err)))
            return rc;
        break;
    case K_PERSON: snprintf(f->expect, sizeof f->expect, "%s", PERSON_EXPECT); break;
    case K_KEY:
        if ((rc = text_max(y, spec, max, what_max, f, name, "key", err)))
            return rc;
        snprintf(f->expect, sizeof f->expect, "an alert's key of at most %lld bytes",
                 (long long)f->imax);
        break;
    case K_JSON:
        if ((rc = text_max(y, spec, max, what_max, f, name, "json", err)))
            return rc;
        snprintf(f->expect, sizeof f->expect, "JSON text of at most %lld bytes",
                 (long long)f->imax);
        break;
    case K_LOCATION: snprintf(f->expect, sizeof f->expect, "a location map"); break;
    case K_BOOL: snprintf(f->expect, sizeof f->expect, "true or false"); break;
    case K_DATETIME: snprintf(f->expect, sizeof f->expect, "%s", common_fields[C_OCCURRED_AT].expect); break;
    case K_PANEL: snprintf(f->expect, sizeof f->expect, "a panel name"); break;
    default: break;
    }
    return CSPH_ERR_OK;
}

/* Issue 17, point 8: every type declares the fields that name a person
 * (`persons`: exactly its fields of kind person, [] when none) and its
 * retention class (`retention`, whose period config/retention.yaml sets),
 * so a type added later cannot slip past retention, erasure or a subject
 * access export unconsidered. */
static enum hub_err load_data_protection(struct hub_yaml *y, yaml_node_t *root, struct schema *sc,
                                         struct hub_error *err)
{
    enum hub_err rc;
    yaml_node_t *persons = hub_yaml_get(y, root, "persons");
    if (!persons)
        return hub_yaml_fail(y, root, err,
                             "missing 'persons': every event type lists the fields that name a "
                             "person (its fields of kind person), e.g. 'persons: [victim]', or "
                             "'persons: []' when it names nobody");
    if (persons->type != YAML_SEQUENCE_NODE)
        return hub_yaml_fail(y, persons, err,
                             "'persons' must be a list of field names, e.g. 'persons: [victim]' "
                             "or 'persons: []'");
    size_t np = hub_yaml_seq_len(persons);
    uint64_t listed = 0;
    for (size_t i = 0; i < np; i++) {
        yaml_node_t *it = hub_yaml_seq_item(y, persons, i);
        const char *name;
        if ((rc = hub_yaml_str(y, it, "an entry of 'persons'", &name, err)))
            return rc;
        uint32_t k = 0;
        while (k < sc->nfields && strcmp(sc->fields[k].name, name) != 0)
            k++;
        if (k == sc->nfields)
            return hub_yaml_fail(y, it, err, "'persons' names '%s', which is not a field of %s",
                                 name, sc->type);
        if (sc->fields[k].kind != K_PERSON && sc->fields[k].kind != K_KEY &&
            sc->fields[k].kind != K_JSON)
            return hub_yaml_fail(y, it, err,
                                 "'persons' names '%s', a field of kind %s: only fields of kind "
                                 "person (or key, json: text that may name people) name a "
                                 "person (give it kind person, or leave it out)",
                                 name, kind_names[sc->fields[k].kind]);
        if (listed & (1ull << k))
            return hub_yaml_fail(y, it, err, "'persons' lists '%s' twice", name);
        listed |= 1ull << k;
    }
    for (uint32_t i = 0; i < sc->nperson; i++)
        if (!(listed & (1ull << sc->person[i])))
            return hub_yaml_fail(y, persons, err,
                                 "'persons' leaves out '%s', a field of kind %s: list every "
                                 "field that names a person",
                                 sc->fields[sc->person[i]].name,
                                 kind_names[sc->fields[sc->person[i]].kind]);
    yaml_node_t *ret = hub_yaml_get(y, root, "retention");
    const char *cls;
    if (!ret)
        return hub_yaml_fail(y, root, err,
                             "missing 'retention': every event type names its retention class, "
                             "whose period config/retention.yaml sets (e.g. 'retention: asb')");
    if ((rc = hub_yaml_str(y, ret, "'retention'", &cls, err)))
        return rc;
    if (!name_chars_ok(cls, 0))
        return hub_yaml_fail(y, ret, err,
                             "retention class '%s' must be 1-%d characters from a-z, 0-9 and "
                             "'_', starting with a letter",
                             cls, NAME_MAX_LEN);
    if (!(sc->retention = strdup(cls)))
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
    return CSPH_ERR_OK;
}

/* Load one schema file into sc (zeroed by the caller; freed by destroy
 * whatever happens here). fname is the file's name within the directory. */
static enum hub_err load_one(struct hub_schemas *s, struct schema *sc, const char *path,
                             const char *fname, struct hub_error *err)
{
    static const char *const top_keys[] = {"type",    "description", "fields",
                                           "persons", "retention",   NULL};
    struct hub_yaml y;
    enum hub_err rc = hub_yaml_load(&y, path, err);
    if (rc) {
        if (rc == CSPH_ERR_IO && err)
            err->code = CSPH_ERR_CONFIG;
        return rc == CSPH_ERR_IO ? CSPH_ERR_CONFIG : rc;
    }
    size_t stem_len = strlen(fname) - 5; /* without ".yaml" */
    yaml_node_t *root = hub_yaml_root(&y);
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = hub_yaml_fail(&y, root, err,
                           "a schema file must be a mapping with 'type', 'description' and "
                           "'fields'");
        goto done;
    }
    if ((rc = no_duplicate_keys(&y, root, "the schema", err)) ||
        (rc = hub_yaml_only_keys(&y, root, top_keys, "a schema file", err)))
        goto done;

    yaml_node_t *type = hub_yaml_get(&y, root, "type");
    const char *ts;
    if (!type) {
        rc = hub_yaml_fail(&y, root, err, "missing 'type': this file's should be 'type: %.*s'",
                           (int)stem_len, fname);
        goto done;
    }
    if ((rc = hub_yaml_str(&y, type, "'type'", &ts, err)))
        goto done;
    if (!name_chars_ok(ts, 1)) {
        rc = hub_yaml_fail(&y, type, err,
                           "type '%s' must be 1-%d characters from a-z, 0-9, '.', '_' and '-', "
                           "starting with a letter",
                           ts, NAME_MAX_LEN);
        goto done;
    }
    if (strlen(ts) != stem_len || strncmp(ts, fname, stem_len) != 0) {
        rc = hub_yaml_fail(&y, type, err,
                           "type '%s' does not match the file name '%s': the schema of type T "
                           "must be in T.yaml",
                           ts, fname);
        goto done;
    }
    for (size_t i = 0; s->v + i < sc; i++)
        if (strcmp(s->v[i].type, ts) == 0) {
            rc = hub_yaml_fail(&y, type, err, "type '%s' is already defined by another file", ts);
            goto done;
        }
    if (!(sc->type = strdup(ts))) {
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "%s: out of memory", path);
        goto done;
    }
    sc->type_len = (uint32_t)strlen(ts);
    sc->panel_field = -1;

    yaml_node_t *desc = hub_yaml_get(&y, root, "description");
    const char *ds;
    if (desc && (rc = hub_yaml_str(&y, desc, "'description'", &ds, err)))
        goto done;

    yaml_node_t *fields = hub_yaml_get(&y, root, "fields");
    if (!fields || fields->type != YAML_MAPPING_NODE) {
        rc = hub_yaml_fail(&y, fields ? fields : root, err,
                           "'fields' must be a mapping of field names to settings such as "
                           "'victim: {kind: person}' (write 'fields: {}' for none)");
        goto done;
    }
    if ((rc = no_duplicate_keys(&y, fields, "'fields'", err)))
        goto done;
    size_t nf = hub_yaml_map_len(fields);
    if (nf > MAX_FIELDS) {
        rc = hub_yaml_fail(&y, fields, err, "a type may have at most %d fields, not %lu",
                           MAX_FIELDS, (unsigned long)nf);
        goto done;
    }
    if (nf && !(sc->fields = calloc(nf, sizeof *sc->fields))) {
        rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "%s: out of memory", path);
        goto done;
    }
    for (size_t i = 0; i < nf; i++) {
        yaml_node_t *k, *v;
        hub_yaml_map_pair(&y, fields, i, &k, &v);
        const char *name;
        if ((rc = hub_yaml_str(&y, k, "a field name", &name, err)))
            goto done;
        if (!name_chars_ok(name, 0)) {
            rc = hub_yaml_fail(&y, k, err,
                               "field name '%s' must be 1-%d characters from a-z, 0-9 and '_', "
                               "starting with a letter",
                               name, NAME_MAX_LEN);
            goto done;
        }
        for (const char *const *r = reserved_names; *r; r++)
            if (strcmp(*r, name) == 0) {
                rc = hub_yaml_fail(&y, k, err,
                                   "field name '%s' is reserved: every event already has id, "
                                   "type, occurred_at and source, and the hub adds seq and "
                                   "received_at",
                                   name);
                goto done;
            }
        struct field *f = &sc->fields[sc->nfields++];
        if (!(f->name = strdup(name))) {
            rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "%s: out of memory", path);
            goto done;
        }
        f->name_len = (uint32_t)strlen(name);
        if ((rc = load_field(&y, v, f, name, err)))
            goto done;
        if (f->kind == K_PERSON || f->kind == K_KEY || f->kind == K_JSON)
            sc->person[sc->nperson++] = (uint32_t)i;
        if (f->kind == K_PANEL && sc->panel_field < 0)
            sc->panel_field = (int)i;
        list_add(sc->allowed, sizeof sc->allowed - 48, name);
    }
    if ((rc = load_data_protection(&y, root, sc, err)))
        goto done;
    size_t used = strlen(sc->allowed);
    snprintf(sc->allowed + used, sizeof sc->allowed - used, "%s id, type, occurred_at and source",
             nf ? ", plus" : "only");

done:
    hub_yaml_free(&y);
    return rc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int is_schema_file(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".yaml") == 0;
}

enum hub_err hub_schemas_load(struct hub_schemas **out, const char *dir,
                              const char *const *panels, size_t npanels,
                              struct hub_error *err)
{
    enum hub_err rc = CSPH_ERR_OK;
    char **names = NULL;
    size_t nnames = 0, cap = 0;
    struct hub_schemas *s = calloc(1, sizeof *s);
    DIR *d = NULL;
    if (!s)
        return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "%s: out of memory", dir);

    if (npanels) {
        s->panels = calloc(npanels, sizeof *s->panels);
        s->panel_lens = calloc(npanels, sizeof *s->panel_lens);
        if (!s->panels || !s->panel_lens)
            goto nomem;
        for (; s->npanels < npanels; s->npanels++) {
            if (!(s->panels[s->npanels] = strdup(panels[s->npanels])))
                goto nomem;
            s->panel_lens[s->npanels] = (uint32_t)strlen(panels[s->npanels]);
            list_add(s->panel_list, sizeof s->panel_list, panels[s->npanels]);
        }
    } else {
        snprintf(s->panel_list, sizeof s->panel_list, "none configured");
    }

    if (!(d = opendir(dir))) {
        rc = hub_error_set(err, CSPH_ERR_CONFIG, NULL, "%s: cannot open the schema directory: %s",
                           dir, strerror(errno));
        goto done;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!is_schema_file(de->d_name))
            continue;
        if (nnames == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn)
                goto nomem;
            names = nn;
            cap = ncap;
        }
        if (!(names[nnames] = strdup(de->d_name)))
            goto nomem;
        nnames++;
    }
    if (!nnames) {
        rc = hub_error_set(err, CSPH_ERR_CONFIG, NULL,
                           "%s: no schema files (<type>.yaml) in this directory", dir);
        goto done;
    }
    qsort(names, nnames, sizeof *names, cmp_names);

    if (!(s->v = calloc(nnames, sizeof *s->v)))
        goto nomem;
    for (size_t i = 0; i < nnames; i++) {
        char path[1024];
        if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, names[i]) >= sizeof path) {
            rc = hub_error_set(err, CSPH_ERR_CONFIG, NULL, "%s/%s: path too long", dir,
                               names[i]);
            goto done;
        }
        if ((rc = load_one(s, &s->v[s->n++], path, names[i], err)))
            goto done;
        list_add(s->type_list, sizeof s->type_list, s->v[i].type);
    }
    *out = s;
    s = NULL;
    goto done;

nomem:
    rc = hub_error_set(err, CSPH_ERR_NOMEM, NULL, "%s: out of memory loading schemas", dir);
done:
    if (d)
        closedir(d);
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    hub_schemas_destroy(&s);
    return rc;
}
