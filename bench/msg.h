/* MessagePack helpers of the bench: packing a string, reading a map's
 * fields and a reply's error. Every msgpack_object passed in is borrowed from
 * its unpacked zone and must outlive the call. */
#ifndef CSPH_BENCH_MSG_H
#define CSPH_BENCH_MSG_H

#include <msgpack.h>
#include <stddef.h>

/* Pack s as a MessagePack str. */
void pk_str(msgpack_packer *pk, const char *s);

/* The value of key in map, or NULL (also when map is not a map). */
const msgpack_object *mp_get(const msgpack_object *map, const char *key);

/* o is the str s. */
int mp_str_is(const msgpack_object *o, const char *s);

/* o's text into out (truncated), "?" when o is not a str. */
void mp_str_copy(const msgpack_object *o, char *out, size_t outsz);

/* "code: message (field F)" of an error map. */
void describe_error(const msgpack_object *err, char *out, size_t outsz);

#endif
