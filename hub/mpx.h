/* mpx.h: small read helpers over msgpack-c objects. All returned pointers
 * are borrowed from the object's zone and valid while that zone lives. */
#ifndef CSPH_MPX_H
#define CSPH_MPX_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

/* The value for a string key in a map, or NULL when absent or obj is not a
 * map. */
const msgpack_object *hub_mp_get(const msgpack_object *map, const char *key);
/* Follow a dotted path of string keys ("location.lsoa"). */
const msgpack_object *hub_mp_path(const msgpack_object *obj, const char *dotted);
/* 1 when o is a string equal to s. */
int hub_mp_str_eq(const msgpack_object *o, const char *s);
/* 1 when o is a string equal to the len bytes at s. */
int hub_mp_str_eqn(const msgpack_object *o, const char *s, size_t len);
/* The msgpack type's name for messages: "string", "integer", "map"... */
const char *hub_mp_type_name(const msgpack_object *o);

/* Walk one MessagePack object at buf[*off] without building it, advancing
 * *off past it. Every container's declared count must fit in the bytes
 * left, so a 10-byte message cannot make a parser reserve gigabytes, and
 * nesting may be at most max_depth levels. Returns 0, or
 *   -1 not MessagePack (an unused type byte) or truncated,
 *   -2 nested deeper than max_depth,
 *   -3 a container declares more elements than the message holds. */
int hub_mp_check(const char *buf, size_t len, size_t *off, int max_depth);

/* Read the header of a map (map = 1) or an array at buf[*off], advancing
 * *off past it: 0 and *count (pairs or items), or -1 when it is not one.
 * For the places that walk MessagePack by hand to keep each value's exact
 * bytes. */
int hub_mp_header(const char *buf, size_t len, size_t *off, int map, uint32_t *count);

/* A string at buf[*off] (any of the str formats), advancing *off past it:
 * 0 with *s and *n pointing into buf, or -1 (not a string, or truncated).
 * For reading a few fields of many stored records without unpacking them. */
int hub_mp_raw_str(const char *buf, size_t len, size_t *off, const char **s, size_t *n);
/* An integer at buf[*off] that msgpack-c's unpacker would give as a positive
 * integer (any unsigned format, or a signed one holding a value >= 0),
 * advancing *off past it: 1 and *v. Any other object is skipped (*off past
 * it): 0. Malformed or truncated: -1. */
int hub_mp_raw_uint(const char *buf, size_t len, size_t *off, uint64_t *v);

/* Pack into sb (appended) the map at buf (len bytes) with the string pair
 * (key, value) first: its header rewritten for one more pair, its pairs'
 * bytes as they are. Returns 0, or -1 when buf does not start with a
 * complete map header or the map already holds UINT32_MAX pairs. The one
 * place a map is extended by hand (the hub stamping an event's source). */
int hub_mp_map_prepend(const char *buf, size_t len, const char *key, const char *value,
                       msgpack_sbuffer *sb);

#endif
