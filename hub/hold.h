/* hold.h: a legal hold on a person's records (issue 17, point 6): a
 * statutory review (a domestic homicide review, a safeguarding adults
 * review) stops records about the people involved from leaving.
 *
 * The op `hold` (role dpo; anyone in security none, recording the OS user
 * like `erase`) puts a person under hold, or releases them. Each is a
 * dp.hold event in the log naming the person in a field of kind person
 * (so a later erasure finds and rewrites it like any record of theirs);
 * dp.holds in data.mdb (person -> the dp.hold seq that put it in force),
 * written through the batch's redo recorder, is what `erase` checks: a
 * person under hold is refused with `conflict`. */
#ifndef CSPH_HOLD_H
#define CSPH_HOLD_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "ops.h"

#define CSPH_HOLD_TYPE "dp.hold"
#define CSPH_HOLD_DB "dp.holds"

/* The op handler (ops.c): a write, run in the batch. */
enum hub_err hub_op_hold(struct hub_ctx *h, struct hub_req *q);

/* The seq of the dp.hold event holding person (len bytes) as txn (the
 * batch's, or a read transaction of the log) sees it; 0 when not held. */
uint64_t hub_hold_seq(MDB_txn *txn, const char *person, size_t len);

#endif
