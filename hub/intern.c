#include "intern.h"

#include <stdlib.h>
#include <string.h>

/* FNV-1a, folded: the low bits pick the slot, the high bits are kept
 * beside it so that most probes compare no bytes. */
static uint64_t hash_bytes(const char *s, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

const char *hub_intern_str(const struct hub_intern *t, uint32_t id)
{
    return t->arena + t->offs[id];
}

uint32_t hub_intern_len(const struct hub_intern *t, uint32_t id) { return t->lens[id]; }

static int intern_grow(struct hub_intern *t)
{
    size_t ns = t->nslots ? t->nslots * 2 : 1024;
    uint32_t *slots = calloc(ns, sizeof *slots), *hashes = calloc(ns, sizeof *hashes);
    if (!slots || !hashes) {
        free(slots);
        free(hashes);
        return -1;
    }
    for (uint32_t id = 0; id < t->n; id++) {
        uint64_t h = hash_bytes(hub_intern_str(t, id), t->lens[id]);
        size_t i = h & (ns - 1);
        while (slots[i])
            i = (i + 1) & (ns - 1);
        slots[i] = id + 1;
        hashes[i] = (uint32_t)(h >> 32);
    }
    free(t->slots);
    free(t->hashes);
    t->slots = slots;
    t->hashes = hashes;
    t->nslots = ns;
    return 0;
}

uint32_t hub_intern_get(struct hub_intern *t, const char *s, size_t len)
{
    if ((t->n + 1) * 2 > t->nslots && intern_grow(t))
        return UINT32_MAX;
    uint64_t h = hash_bytes(s, len);
    size_t i = h & (t->nslots - 1);
    uint32_t hi = (uint32_t)(h >> 32);
    while (t->slots[i]) {
        uint32_t id = t->slots[i] - 1;
        if (t->hashes[i] == hi && t->lens[id] == len && !memcmp(hub_intern_str(t, id), s, len))
            return id;
        i = (i + 1) & (t->nslots - 1);
    }
    if (t->used + len + 1 > t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 65536;
        while (nc < t->used + len + 1)
            nc *= 2;
        char *a = realloc(t->arena, nc);
        if (!a)
            return UINT32_MAX;
        t->arena = a;
        t->cap = nc;
    }
    if (t->n == t->cap_ids) {
        uint32_t nc = t->cap_ids ? t->cap_ids * 2 : 1024;
        size_t *o = realloc(t->offs, nc * sizeof *o);
        if (o)
            t->offs = o;
        uint32_t *l = realloc(t->lens, nc * sizeof *l);
        if (l)
            t->lens = l;
        if (!o || !l)
            return UINT32_MAX;
        t->cap_ids = nc;
    }
    memcpy(t->arena + t->used, s, len);
    t->arena[t->used + len] = 0;
    t->offs[t->n] = t->used;
    t->lens[t->n] = (uint32_t)len;
    t->used += len + 1;
    t->slots[i] = t->n + 1;
    t->hashes[i] = hi;
    return t->n++;
}

void hub_intern_free(struct hub_intern *t)
{
    free(t->arena);
    free(t->offs);
    free(t->lens);
    free(t->slots);
    free(t->hashes);
    memset(t, 0, sizeof *t);
}

