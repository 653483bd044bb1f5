/* err.h: the one way csphub fails.
 *
 * Every function that can fail returns an enum hub_err and hands results
 * through out-parameters. The names and messages come from one X-macro so the
 * wire code (`bad_event`) and the C name (CSPH_ERR_BAD_EVENT) cannot drift.
 * The first block of codes is CSPH/1's wire error table (PROTOCOL.md 2,
 * CSPH_CODE_MAP in include/csphub.h); the rest never cross the wire.
 */
#ifndef CSPH_ERR_H
#define CSPH_ERR_H

#include <stddef.h>

#include "csphub.h"

/* CSPH/1's codes come from the public header's table (include/csphub.h),
 * so the hub and every client agree on them; the rest never cross the
 * wire. */
#define CSPH_ERR_MAP(X)                                                        \
    CSPH_CODE_MAP(X)                                                           \
    X(CONFIG, "config", "the configuration is invalid")                        \
    X(IO, "io", "an input/output operation failed")                            \
    X(NOMEM, "nomem", "out of memory")                                         \
    X(LOCKED, "locked", "the data directory is held by another hub")            \
    X(DISK_FULL, "disk_full", "the disk holding the hub's data is full")

enum hub_err {
#define CSPH_ERR_ENUM(name, code, msg) CSPH_ERR_##name,
    CSPH_ERR_MAP(CSPH_ERR_ENUM)
#undef CSPH_ERR_ENUM
    CSPH_ERR__COUNT
};

/* The wire code, e.g. "bad_event". Static storage; never NULL. */
const char *hub_err_name(enum hub_err e);
/* A generic sentence for the code. Static storage; never NULL. */
const char *hub_err_message(enum hub_err e);
/* True for the codes that may appear in a CSPH/1 reply. */
int hub_err_is_wire(enum hub_err e);

/* A failure with its detail: the code, the dotted field path when there is
 * one (empty otherwise) and one human sentence. Plain data, caller-owned. */
struct hub_error {
    enum hub_err code;
    char field[160];
    char message[320];
};

/* Fill *e (when e is not NULL) and return code, so a caller can write
 * `return hub_error_set(e, CSPH_ERR_BAD_EVENT, "victim", "...", ...);`.
 * field may be NULL. */
enum hub_err hub_error_set(struct hub_error *e, enum hub_err code,
                           const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefix e->field with prefix and a dot ("events.3" + "victim"). */
void hub_error_prefix_field(struct hub_error *e, const char *prefix);

#endif
