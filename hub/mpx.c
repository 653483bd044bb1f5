#include "mpx.h"

#include <string.h>

int csph_mp_str_eqn(const msgpack_object *o, const char *s, size_t len)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == len &&
           memcmp(o->via.str.ptr, s, len) == 0;
}

int csph_mp_str_eq(const msgpack_object *o, const char *s)
{
    return csph_mp_str_eqn(o, s, strlen(s));
}

static const msgpack_object *get_n(const msgpack_object *map, const char *key, size_t len)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    const msgpack_object_kv *kv = map->via.map.ptr;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (csph_mp_str_eqn(&kv[i].key, key, len))
            return &kv[i].val;
    return NULL;
}

const msgpack_object *csph_mp_get(const msgpack_object *map, const char *key)
{
    return get_n(map, key, strlen(key));
}

const msgpack_object *csph_mp_path(const msgpack_object *obj, const char *dotted)
{
    const char *p = dotted;
    while (obj) {
        const char *dot = strchr(p, '.');
        size_t len = dot ? (size_t)(dot - p) : strlen(p);
        obj = get_n(obj, p, len);
        if (!dot)
            return obj;
        p = dot + 1;
    }
    return NULL;
}

const char *csph_mp_type_name(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return "nil";
    case MSGPACK_OBJECT_BOOLEAN: return "boolean";
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "integer";
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return "float";
    case MSGPACK_OBJECT_STR: return "string";
    case MSGPACK_OBJECT_ARRAY: return "array";
    case MSGPACK_OBJECT_MAP: return "map";
    case MSGPACK_OBJECT_BIN: return "binary";
    case MSGPACK_OBJECT_EXT: return "extension";
    }
    return "unknown";
}
