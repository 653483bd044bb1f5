/* schema.h: event types as data. Each file schemas/<type>.yaml describes one
 * event type of CSPH/1 (PROTOCOL.md 3.2); the hub reads them all at start,
 * so adding a type is adding a file. hub_schema_check validates one event
 * map against the common fields (id, type, occurred_at, source) and its
 * type's fields, rejecting any field the schema does not name.
 *
 * Knows no sockets and no storage. */
#ifndef CSPH_SCHEMA_H
#define CSPH_SCHEMA_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct hub_schemas;

/* What the checker learnt about a valid event. Pointers are borrowed from
 * the event object and valid while its zone lives. */
struct hub_event_info {
    const char *id;
    uint32_t id_len;
    const char *type;
    uint32_t type_len;
    const char *source; /* NULL when the event carries no source */
    uint32_t source_len;
    int64_t occurred_at_ms;
    int type_index; /* index into the loaded schemas */
};

/* Load every *.yaml file in dir. panels (npanels names) is the set a field
 * of kind `panel` may name. On failure returns CSPH_ERR_CONFIG with
 * "file:line: reason" in err->message and *out untouched. The caller owns
 * *out and frees it with hub_schemas_destroy. */
enum hub_err hub_schemas_load(struct hub_schemas **out, const char *dir,
                              const char *const *panels, size_t npanels,
                              struct hub_error *err);
/* Free and NULL *s; accepts NULL and *s == NULL. */
void hub_schemas_destroy(struct hub_schemas **s);

size_t hub_schemas_count(const struct hub_schemas *s);
/* Type name of schema i (borrowed, valid until destroy). */
const char *hub_schemas_name(const struct hub_schemas *s, size_t i);
/* Retention class of schema i (its `retention`; borrowed, valid until
 * destroy), and the name of its first field of kind panel (NULL: none). */
const char *hub_schemas_retention(const struct hub_schemas *s, size_t i);
const char *hub_schemas_panel_field(const struct hub_schemas *s, size_t i);
/* Index of the type named by the len bytes at name, or -1. */
int hub_schemas_find(const struct hub_schemas *s, const char *name, size_t len);

/* Validate one event. require_source: 1 when the event must carry `source`
 * (security none), 0 when the hub stamps it (curve).
 * Returns CSPH_ERR_OK and fills *info, or one of
 *   CSPH_ERR_BAD_EVENT     a field is missing, unknown, of the wrong type,
 *                          out of range, not in its enum, too long, or
 *                          malformed (person reference, location, time);
 *   CSPH_ERR_UNKNOWN_TYPE  `type` names no schema;
 *   CSPH_ERR_UNKNOWN_PANEL a field of kind panel names no configured panel;
 * with err->field the dotted path inside the event ("location.lsoa") and
 * err->message one sentence naming the field and the reason. */
enum hub_err hub_schema_check(const struct hub_schemas *s, const msgpack_object *event,
                              int require_source, struct hub_event_info *info,
                              struct hub_error *err);

/* 1 when a field of kind person (at any depth the schema allows) of this
 * valid event equals the len bytes at person. */
int hub_schema_mentions_person(const struct hub_schemas *s, const struct hub_event_info *info,
                               const msgpack_object *event, const char *person, size_t len);

/* 1 when name (len bytes) is a field of kind person of type type_index
 * (erase.c: which fields of an event name a person). */
int hub_schema_person_field(const struct hub_schemas *s, int type_index, const char *name,
                            size_t len);

/* 1 when the field name (name_len bytes) of type type_index names person
 * (len bytes) in value v: a field of kind person equal to it, or a field
 * of kind key (an alert's key: values joined by ", ") holding it as one
 * of its values (erase.c). */
int hub_schema_field_names(const struct hub_schemas *s, int type_index, const char *name,
                           size_t name_len, const msgpack_object *v, const char *person,
                           size_t len);

/* 1 when field name of type type_index is of kind json: JSON text whose
 * string values may name people (meeting.agenda's agenda). An erasure
 * rewrites such a field instead of removing it. */
int hub_schema_json_field(const struct hub_schemas *s, int type_index, const char *name,
                          size_t name_len);
/* 1 when field name of type type_index is a top-level field of kind
 * string: free text (a summary, a note, a reason) in which an erasure
 * replaces the person's reference (erase.c). */
int hub_schema_text_field(const struct hub_schemas *s, int type_index, const char *name,
                          size_t name_len);
/* JSON text (n bytes) with every string value naming person (len bytes,
 * a whole reference) replaced by with: malloc'd (free it), *out_len its
 * length; NULL when text is not JSON or out of memory. */
char *hub_schema_json_redact(const char *text, size_t n, const char *person, size_t len,
                             const char *with, size_t *out_len);

/* The references an event holds, for the person index: every field of
 * kind person, each value of a field of kind key and each string value of a
 * field of kind json that is a person reference, and the id and lsoa of every location. fn returns nonzero
 * to stop (that value is returned). */
enum hub_ref_kind { CSPH_REF_PERSON = 'p', CSPH_REF_PLACE = 'l', CSPH_REF_LSOA = 'a' };
typedef int (*hub_schema_ref_fn)(void *ctx, char kind, const char *ref, size_t len);
int hub_schema_each_ref(const struct hub_schemas *s, int type_index,
                        const msgpack_object *event, hub_schema_ref_fn fn, void *ctx);

/* 1 when events of type may carry the field at path (dotted: a location's
 * id, lsoa, ward, lat, lon, description), including the common fields. */
int hub_schema_has_field(const struct hub_schemas *s, const char *type, const char *path);


#endif
