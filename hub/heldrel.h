/* heldrel.h: held fetches (held.h) answered, and audited like a fetch
 * answered at once (issue 17, subject access).
 *
 * A fetch held in security curve by a role whose fetches are audited
 * (ops.h: panel members, auditors) left its audit.access record when it
 * was held, with nothing returned. Released by an alert (or at the end of
 * its wait, or when the hub stops), its reply can hold alerts: then that
 * read is recorded exactly like an immediate fetch's, an audit.access (the
 * same query, who, role, how many records) and its audit.returned events
 * (access.h), all the fetches released together in one batch through the
 * core, committed before any of their replies leaves. A failed batch
 * answers every one of them with the failure, never with alerts nobody
 * recorded reading. A release that returns nothing records nothing more:
 * the hold's record stands for that read, so an idle console's long poll
 * costs one access record, not two. Fetches that are not audited (security
 * none, a gateway's) are answered without a batch.
 *
 * Knows no sockets: the caller sends the replies. */
#ifndef CSPH_HELDREL_H
#define CSPH_HELDREL_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "held.h"
#include "ops.h"

/* One fetch taken out of the held set, and its reply. */
struct hub_heldrel {
    struct hub_held_fetch f;
    msgpack_sbuffer reply; /* initialised by the caller; packed here */
};

/* What answering a set of released fetches did, for the counters. */
struct hub_heldrel_out {
    int committed;     /* a batch committed: the caller settles it */
    uint64_t recorded; /* reads recorded (audit.access events) */
};

/* Answer v[0..n) with what their queries find now, each reply packed into
 * v[i].reply (a fetch's own error, such as a panel no longer configured,
 * is its reply). Reads with records of an audited fetch among them are
 * recorded in one batch (above). Returns CSPH_ERR_OK, or the batch's error
 * (in *err: busy when the storage is full or being repaired, internal
 * otherwise): then every reply of v has been replaced by that error and
 * nothing of the batch is durable. Called between batches (none open). */
enum hub_err hub_heldrel_answer(struct hub_ctx *h, struct hub_heldrel *v, size_t n,
                                int64_t now_ms, struct hub_heldrel_out *out,
                                struct hub_error *err);

#endif
