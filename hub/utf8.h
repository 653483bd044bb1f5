/* utf8.h: UTF-8 as MessagePack's str requires it (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF).
 *
 * The hub refuses request strings that break it, and never writes one
 * into a reply: text it copies from a request into an error message may be
 * invalid, or cut in the middle of a character, so replies pack their
 * strings through hub_utf8_repair's replacement. */
#ifndef CSPH_UTF8_H
#define CSPH_UTF8_H

#include <stddef.h>

/* Index of the first byte that breaks UTF-8 in p[0..len), or len when all
 * is well. Linear. */
size_t hub_utf8_bad_at(const void *p, size_t len);

/* Copy p[0..len) into out (cap bytes, cap >= 4), each byte that breaks
 * UTF-8 replaced by U+FFFD, as much as fits whole. Returns the bytes
 * written; out is not NUL-terminated. */
size_t hub_utf8_repair(const void *p, size_t len, char *out, size_t cap);

#endif
