/* JSON <-> MessagePack for the client library, through jansson and
 * msgpack-c: what the command and the JSON-lines feed speak on one side and
 * CSPH/1 on the other. */
#include <jansson.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csphub.h"

static void pack_json(msgpack_packer *pk, json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        msgpack_pack_map(pk, json_object_size(j));
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            size_t kl = strlen(k);
            msgpack_pack_str(pk, kl);
            msgpack_pack_str_body(pk, k, kl);
            pack_json(pk, v);
        }
        break;
    }
    case JSON_ARRAY: {
        msgpack_pack_array(pk, json_array_size(j));
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v) pack_json(pk, v);
        break;
    }
    case JSON_STRING:
        msgpack_pack_str(pk, json_string_length(j));
        msgpack_pack_str_body(pk, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER:
        if (json_integer_value(j) >= 0)
            msgpack_pack_uint64(pk, (uint64_t)json_integer_value(j));
        else
            msgpack_pack_int64(pk, json_integer_value(j));
        break;
    case JSON_REAL: msgpack_pack_double(pk, json_real_value(j)); break;
    case JSON_TRUE: msgpack_pack_true(pk); break;
    case JSON_FALSE: msgpack_pack_false(pk); break;
    case JSON_NULL: msgpack_pack_nil(pk); break;
    }
}

int csph_json_to_msgpack(const char *json, size_t len, void **out, size_t *out_len, char *err,
                         size_t errlen)
{
    json_error_t je;
    /* JSON_DECODE_INT_AS_REAL is not set: 42 stays an integer, 4.2 a float. */
    json_t *j = json_loadb(json, len, JSON_PRESERVE_ORDER | JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!j) {
        if (err)
            snprintf(err, errlen, "not valid JSON at column %d: %s", je.column, je.text);
        return -1;
    }
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_json(&pk, j);
    json_decref(j);
    *out = sb.data; /* ownership passes to the caller (malloc'd by sbuffer) */
    *out_len = sb.size;
    return 0;
}

static json_t *to_json(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_NIL: return json_null();
    case MSGPACK_OBJECT_BOOLEAN: return json_boolean(o->via.boolean);
    case MSGPACK_OBJECT_POSITIVE_INTEGER: return json_integer((json_int_t)o->via.u64);
    case MSGPACK_OBJECT_NEGATIVE_INTEGER: return json_integer(o->via.i64);
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64: return json_real(o->via.f64);
    case MSGPACK_OBJECT_STR: return json_stringn_nocheck(o->via.str.ptr, o->via.str.size);
    case MSGPACK_OBJECT_ARRAY: {
        json_t *a = json_array();
        for (uint32_t i = 0; i < o->via.array.size; i++)
            json_array_append_new(a, to_json(&o->via.array.ptr[i]));
        return a;
    }
    case MSGPACK_OBJECT_MAP: {
        json_t *m = json_object();
        for (uint32_t i = 0; i < o->via.map.size; i++) {
            const msgpack_object *k = &o->via.map.ptr[i].key;
            char key[256];
            if (k->type == MSGPACK_OBJECT_STR)
                snprintf(key, sizeof key, "%.*s", (int)k->via.str.size, k->via.str.ptr);
            else if (k->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
                snprintf(key, sizeof key, "%llu", (unsigned long long)k->via.u64);
            else
                snprintf(key, sizeof key, "?%u", i);
            json_object_set_new(m, key, to_json(&o->via.map.ptr[i].val));
        }
        return m;
    }
    case MSGPACK_OBJECT_BIN:
    case MSGPACK_OBJECT_EXT: {
        const char *p = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.ptr : o->via.ext.ptr;
        size_t n = o->type == MSGPACK_OBJECT_BIN ? o->via.bin.size : o->via.ext.size;
        size_t b64len = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
        char *b64 = malloc(b64len);
        sodium_bin2base64(b64, b64len, (const unsigned char *)p, n,
                          sodium_base64_VARIANT_ORIGINAL);
        json_t *w = json_pack("{s:s}", "base64", b64);
        free(b64);
        return w;
    }
    }
    return json_null();
}

int csph_msgpack_to_json(const void *mp, size_t len, int pretty, char **out)
{
    msgpack_zone zone;
    msgpack_object obj;
    size_t off = 0;
    msgpack_zone_init(&zone, 4096);
    int rc = -1;
    if (msgpack_unpack(mp, len, &off, &zone, &obj) == MSGPACK_UNPACK_SUCCESS) {
        json_t *j = to_json(&obj);
        *out = json_dumps(j, JSON_PRESERVE_ORDER | JSON_ENCODE_ANY |
                                 (pretty ? JSON_INDENT(2) : JSON_COMPACT));
        json_decref(j);
        rc = *out ? 0 : -1;
    }
    msgpack_zone_destroy(&zone);
    return rc;
}
