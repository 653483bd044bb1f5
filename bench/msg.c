/* MessagePack helpers of the bench: see msg.h. */
#define _GNU_SOURCE
#include <msgpack.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "msg.h"

void pk_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

const msgpack_object *mp_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
            memcmp(k->via.str.ptr, key, kl) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

int mp_str_is(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

void mp_str_copy(const msgpack_object *o, char *out, size_t outsz)
{
    if (o && o->type == MSGPACK_OBJECT_STR)
        snprintf(out, outsz, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    else
        snprintf(out, outsz, "?");
}

void describe_error(const msgpack_object *err, char *out, size_t outsz)
{
    char code[64], msg[512], field[128] = "";
    mp_str_copy(mp_get(err, "code"), code, sizeof code);
    mp_str_copy(mp_get(err, "message"), msg, sizeof msg);
    const msgpack_object *f = mp_get(err, "field");
    if (f)
        mp_str_copy(f, field, sizeof field);
    snprintf(out, outsz, "%s: %s%s%s%s", code, msg, field[0] ? " (field " : "", field,
             field[0] ? ")" : "");
}
