/* restrict.h: a restriction is a standing state (issue 17; erase.h). Once
 * the data protection officer restricts a person (`erase` with restrict),
 * every event naming them that arrives later is restricted too, in the
 * batch that appends it, until the DPO lifts the restriction (`erase` with
 * restrict and lift), which also lifts it from every event it covered.
 *
 * dp.restricting in data.mdb (person -> the seq of the dp.erasure event
 * that put the restriction in force, 8 bytes little-endian), written
 * through the batch's redo recorder like erase.h's databases, so the
 * journal makes it again after a power cut. */
#ifndef CSPH_RESTRICT_H
#define CSPH_RESTRICT_H

#include <lmdb.h>
#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "schema.h"
#include "store.h"

#define CSPH_RESTRICT_STANDING_DB "dp.restricting"

/* The dp.erasure seq of person's standing restriction in txn (the batch's,
 * or a read transaction of the log); 0 when none. */
uint64_t hub_restrict_standing(MDB_txn *txn, const char *person, size_t len);
/* Put person's restriction in force from erasure seq eseq (in the batch). */
enum hub_err hub_restrict_stand(struct hub_store *st, const char *person, size_t len,
                                uint64_t eseq, struct hub_error *err);
/* End it (in the batch); nothing when none stands. */
enum hub_err hub_restrict_lift(struct hub_store *st, const char *person, size_t len,
                               struct hub_error *err);
/* Ingest hook (ingest.c, live appends only: the log's batch records it,
 * the index's catch-up must not): when event seq (obj, of type type_index)
 * names a person under a standing restriction, restrict it (dp.restricted
 * -> that restriction's dp.erasure seq). */
enum hub_err hub_restrict_on_ingest(struct hub_store *st, const struct hub_schemas *s,
                                    int type_index, const msgpack_object *obj, uint64_t seq,
                                    struct hub_error *err);

#endif
