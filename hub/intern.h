/* intern.h: a set of strings, each given a small dense id (0, 1, 2, ...)
 * the first time it is added: the report counts people and alert keys by
 * id rather than by string. Owns its memory; not thread-safe (one per
 * thread). */
#ifndef CSPH_INTERN_H
#define CSPH_INTERN_H

#include <stddef.h>
#include <stdint.h>

struct hub_intern {
    char *arena;
    size_t used, cap;
    size_t *offs;     /* id -> arena offset */
    uint32_t *lens;   /* id -> length */
    uint32_t n, cap_ids;
    uint32_t *slots;  /* open addressing: id + 1, 0 empty */
    uint32_t *hashes; /* beside each slot, the high bits of its string's hash */
    size_t nslots;
};

/* Start with a zeroed struct. The id of the len bytes at s, added when new;
 * UINT32_MAX when out of memory (the set is unchanged). */
uint32_t hub_intern_get(struct hub_intern *t, const char *s, size_t len);
/* The string of id (NUL-terminated; borrowed until the next add or free)
 * and its length. id must be below t->n. */
const char *hub_intern_str(const struct hub_intern *t, uint32_t id);
uint32_t hub_intern_len(const struct hub_intern *t, uint32_t id);
/* Free everything and zero t. */
void hub_intern_free(struct hub_intern *t);

#endif
