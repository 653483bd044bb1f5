/* redo.h: a batch's writes to data.mdb, recorded as they are made, so the
 * journal can hold them and recovery can make them again.
 *
 * Every put and delete of a batch in data.mdb goes through these calls
 * (store.c, queues.c, ingest.c). When recording is on (the hub runs with its
 * journal), each successful write is appended to a buffer as an operation
 * naming its database; hub_redo_apply makes the same writes in another
 * transaction, in the same order, so the result is the same bytes. When it
 * is off the calls are mdb_put/mdb_del and nothing more.
 *
 * Why physical writes and not the requests: applying them again needs no
 * clock, no rules and no schemas, so recovery gives byte for byte what the
 * batch wrote (the hash chain included) whatever changed since.
 *
 * A database is named once (hub_redo_name) where it is opened: an operation
 * on a database that was never named is a programmer's error, refused with
 * EINVAL so a test finds it. test_journal_recovery compares a log recovered
 * from the journal with one never interrupted, database by database. */
#ifndef HUB_REDO_H
#define HUB_REDO_H

#include <lmdb.h>
#include <stddef.h>

#include "err.h"

struct hub_redo;

struct hub_redo *hub_redo_new(void);
void hub_redo_free(struct hub_redo **r);

/* Record (1) or not (0). */
void hub_redo_record(struct hub_redo *r, int on);
int hub_redo_recording(const struct hub_redo *r);

/* dbi is the database `name` opened with `flags` (MDB_DUPSORT, ...). */
void hub_redo_name(struct hub_redo *r, MDB_dbi dbi, const char *name, unsigned flags);

/* mdb_put / mdb_del / mdb_cursor_del, recorded when they succeed. A put
 * with MDB_RESERVE is recorded by hub_redo_filled once the caller has
 * written the value into the space LMDB handed out (before any other write
 * of the transaction). r may be NULL: not recorded. */
int hub_redo_put(struct hub_redo *r, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v,
                 unsigned flags);
void hub_redo_filled(struct hub_redo *r, MDB_dbi dbi, const MDB_val *k, const MDB_val *v,
                     unsigned flags);
int hub_redo_del(struct hub_redo *r, MDB_txn *txn, MDB_dbi dbi, MDB_val *k, MDB_val *v);
int hub_redo_cursor_del(struct hub_redo *r, MDB_cursor *c, MDB_dbi dbi);

/* The recorded bytes from position `from` (a length taken earlier). */
size_t hub_redo_len(const struct hub_redo *r);
const void *hub_redo_bytes(const struct hub_redo *r, size_t from, size_t *n);
/* Forget everything from position `to` on (an aborted batch), or all. */
void hub_redo_truncate(struct hub_redo *r, size_t to);
/* 1 when a write failed to be recorded (out of memory or an unnamed
 * database): the batch must not be acknowledged. Cleared by truncate. */
int hub_redo_failed(const struct hub_redo *r);

/* Make the writes in p (n bytes, from hub_redo_bytes) in txn. */
enum hub_err hub_redo_apply(MDB_txn *txn, const void *p, size_t n, struct hub_error *err);

#endif
