#include "mpx.h"

#include <string.h>

int hub_mp_str_eqn(const msgpack_object *o, const char *s, size_t len)
{
    /* An empty string's ptr may be NULL: memcmp must not see it. */
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == len &&
           (len == 0 || memcmp(o->via.str.ptr, s, len) == 0);
}

int hub_mp_str_eq(const msgpack_object *o, const char *s)
{
    return hub_mp_str_eqn(o, s, strlen(s));
}

static const msgpack_object *get_n(const msgpack_object *map, const char *key, size_t len)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    const msgpack_object_kv *kv = map->via.map.ptr;
    for (uint32_t i = 0; i < map->via.map.size; i++)
        if (hub_mp_str_eqn(&kv[i].key, key, len))
            return &kv[i].val;
    return NULL;
}

const msgpack_object *hub_mp_get(const msgpack_object *map, const char *key)
{
    return get_n(map, key, strlen(key));
}

const msgpack_object *hub_mp_path(const msgpack_object *obj, const char *dotted)
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

const char *hub_mp_type_name(const msgpack_object *o)
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

static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

int hub_mp_check(const char *buf, size_t len, size_t *off, int max_depth)
{
    const unsigned char *p = (const unsigned char *)buf;
    if (*off >= len)
        return -1;
    unsigned char b = p[*off];
    size_t left = len - *off - 1;
    uint64_t count = 0, skip = 0;
    int hdr = 0, map = 0;
    if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
        skip = 0;
    } else if ((b & 0xf0) == 0x80 || (b & 0xf0) == 0x90) {
        count = b & 0x0f;
        map = (b & 0xf0) == 0x80;
    } else if ((b & 0xe0) == 0xa0) {
        skip = b & 0x1f;
    } else {
        switch (b) {
        case 0xc4: case 0xd9: hdr = 1; break;
        case 0xc5: case 0xda: hdr = 2; break;
        case 0xc6: case 0xdb: hdr = 4; break;
        case 0xc7: hdr = 1; skip = 1; break; /* ext: + type byte */
        case 0xc8: hdr = 2; skip = 1; break;
        case 0xc9: hdr = 4; skip = 1; break;
        case 0xca: skip = 4; break;
        case 0xcb: skip = 8; break;
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xce: case 0xd2: skip = 4; break;
        case 0xcf: case 0xd3: skip = 8; break;
        case 0xd4: skip = 2; break;
        case 0xd5: skip = 3; break;
        case 0xd6: skip = 5; break;
        case 0xd7: skip = 9; break;
        case 0xd8: skip = 17; break;
        case 0xdc: case 0xde: hdr = 2; map = b == 0xde; break;
        case 0xdd: case 0xdf: hdr = 4; map = b == 0xdf; break;
        default: return -1; /* 0xc1: never used */
        }
        if ((size_t)hdr > left)
            return -1;
        uint64_t n = be(p + *off + 1, hdr);
        left -= (size_t)hdr;
        if (b >= 0xdc) {
            count = n;
        } else {
            skip += n;
        }
    }
    *off += 1 + (size_t)hdr;
    int container = (b & 0xe0) == 0x80 || (b >= 0xdc && b <= 0xdf);
    if (!container) {
        if (skip > left)
            return -1;
        *off += (size_t)skip;
        return 0;
    }
    if (max_depth <= 0)
        return -2;
    uint64_t items = map ? count * 2 : count;
    if (items > left)
        return -3;
    for (uint64_t i = 0; i < items; i++) {
        int rc = hub_mp_check(buf, len, off, max_depth - 1);
        if (rc)
            return rc;
    }
    return 0;
}

int hub_mp_header(const char *buf, size_t len, size_t *off, int map, uint32_t *count)
{
    const unsigned char *p = (const unsigned char *)buf;
    if (*off >= len)
        return -1;
    unsigned char b = p[*off];
    unsigned char fix = map ? 0x80 : 0x90, c16 = map ? 0xde : 0xdc, c32 = map ? 0xdf : 0xdd;
    if ((b & 0xf0) == fix) {
        *count = b & 0x0f;
        *off += 1;
    } else if (b == c16 && *off + 3 <= len) {
        *count = (uint32_t)p[*off + 1] << 8 | p[*off + 2];
        *off += 3;
    } else if (b == c32 && *off + 5 <= len) {
        *count = (uint32_t)p[*off + 1] << 24 | (uint32_t)p[*off + 2] << 16 |
                 (uint32_t)p[*off + 3] << 8 | p[*off + 4];
        *off += 5;
    } else {
        return -1;
    }
    return 0;
}

int hub_mp_map_prepend(const char *buf, size_t len, const char *key, const char *value,
                       msgpack_sbuffer *sb)
{
    size_t off = 0;
    uint32_t n;
    if (hub_mp_header(buf, len, &off, 1, &n) != 0 || n == UINT32_MAX)
        return -1;
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t kl = strlen(key), vl = strlen(value);
    msgpack_pack_map(&pk, n + 1);
    msgpack_pack_str(&pk, kl);
    msgpack_pack_str_body(&pk, key, kl);
    msgpack_pack_str(&pk, vl);
    msgpack_pack_str_body(&pk, value, vl);
    msgpack_sbuffer_write(sb, buf + off, len - off);
    return 0;
}

int hub_mp_raw_str(const char *b, size_t len, size_t *off, const char **s, size_t *n)
{
    if (*off >= len)
        return -1;
    unsigned char t = (unsigned char)b[*off];
    size_t h, l;
    if (t >= 0xa0 && t <= 0xbf) {
        h = 1;
        l = t & 0x1f;
    } else if (t == 0xd9 && *off + 2 <= len) {
        h = 2;
        l = (unsigned char)b[*off + 1];
    } else if (t == 0xda && *off + 3 <= len) {
        h = 3;
        l = (size_t)(unsigned char)b[*off + 1] << 8 | (unsigned char)b[*off + 2];
    } else if (t == 0xdb && *off + 5 <= len) {
        const unsigned char *u = (const unsigned char *)b + *off + 1;
        h = 5;
        l = (size_t)u[0] << 24 | (size_t)u[1] << 16 | (size_t)u[2] << 8 | u[3];
    } else {
        return -1;
    }
    if (l > len - *off - h)
        return -1;
    *s = b + *off + h;
    *n = l;
    *off += h + l;
    return 0;
}

int hub_mp_raw_uint(const char *b, size_t len, size_t *off, uint64_t *v)
{
    if (*off >= len)
        return -1;
    const unsigned char *u = (const unsigned char *)b + *off;
    unsigned char t = u[0];
    static const unsigned char width[] = {1, 2, 4, 8};
    if (t <= 0x7f) {
        *v = t;
        *off += 1;
        return 1;
    }
    if ((t >= 0xcc && t <= 0xcf) || (t >= 0xd0 && t <= 0xd3)) {
        size_t w = width[(t - (t >= 0xd0 ? 0xd0 : 0xcc))];
        if (w + 1 > len - *off)
            return -1;
        uint64_t x = 0;
        for (size_t i = 0; i < w; i++)
            x = x << 8 | u[1 + i];
        *off += 1 + w;
        if (t >= 0xd0) {
            /* signed: negative when the top bit of its width is set */
            if (x >> (w * 8 - 1) & 1)
                return 0;
        }
        *v = x;
        return 1;
    }
    return hub_mp_check(b, len, off, 8) ? -1 : 0;
}
