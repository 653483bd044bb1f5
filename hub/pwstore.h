/* pwstore.h: what the panel-work indexes (cases.h, actions.h) share about
 * their LMDB databases in the store's environment (data.mdb): opening one
 * in the batch's write transaction or in a read transaction, and puts and
 * deletes that go through the journal's recorder (redo.h), so recovery
 * after a power cut makes them again. Errors translated once, here. */
#ifndef CSPH_PWSTORE_H
#define CSPH_PWSTORE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "store.h"

/* Open database name (flags: MDB_DUPSORT...) in txn, to read (or to
 * delete from): a database never written is *absent = 1 (nothing there),
 * not an error, and is not created, so a batch that only read leaves
 * data.mdb as its journal record would make it again. */
enum hub_err hub_pw_dbi(struct hub_store *s, MDB_txn *txn, const char *name, unsigned flags,
                        MDB_dbi *dbi, int *absent, struct hub_error *err);
/* The same to write, in the batch's transaction: created when missing. */
enum hub_err hub_pw_dbi_create(struct hub_store *s, const char *name, unsigned flags,
                               MDB_dbi *dbi, struct hub_error *err);
/* A read transaction of the store's environment (end it with
 * hub_pw_read_end: committed, so handles it opened stay valid). */
enum hub_err hub_pw_read_begin(struct hub_store *s, MDB_txn **txn, struct hub_error *err);
void hub_pw_read_end(MDB_txn *txn);

/* Put / delete in the batch's write transaction, recorded for the journal.
 * A delete of what is not there is not an error. */
enum hub_err hub_pw_put(struct hub_store *s, MDB_dbi dbi, const void *k, size_t klen,
                        const void *v, size_t vlen, struct hub_error *err);
enum hub_err hub_pw_del(struct hub_store *s, MDB_dbi dbi, const void *k, size_t klen,
                        const void *v, size_t vlen, struct hub_error *err);

/* An LMDB failure as the hub reports it (map full is busy). */
enum hub_err hub_pw_fail(struct hub_error *err, int rc, const char *what);

/* panel \0 key: the key of a case in every panel-work index; returns its
 * length (out has room for 64 + 1 + 100 bytes). */
#define CSPH_PW_CASEKEY_MAX 166
size_t hub_pw_case_key(unsigned char *out, const char *panel, const char *key, size_t key_len);

#endif
