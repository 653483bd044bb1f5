/* rstate.h: the rule state store. What the evaluator keeps between events,
 * in named databases of the index environment (index.mdb), written in the
 * caller's transaction: so it is transactional with the batch (an aborted
 * batch leaves exactly what the committed log implies) and holds nothing in
 * memory between transactions (memory does not grow with people or the
 * log; LMDB's pages are the only cache).
 *
 * A record is addressed by a series (a kind byte, an 8-byte id such as a
 * rule's, the key's encoded values) and a point in it (a time and a seq),
 * and holds a small value. A series is kept in (time, seq) order, so a
 * window of any width around any time is one range read, whatever the
 * order events arrived in. The evaluator gives the kinds their meaning
 * (rules.c).
 *
 *   rules.state  key_len(2) key kind(1) id(8)  time(8, big-endian, sign
 *                flipped) seq(8, big-endian) -> value
 *                (the key first: a person's series of every rule together)
 *   rules.meta   small named records (the state's version, the series ids
 *                built from the log)
 *
 * Knows no rules and no events. */
#ifndef CSPH_RSTATE_H
#define CSPH_RSTATE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define CSPH_RS_KEY_MAX 440 /* bytes of a series' encoded key values */
#define CSPH_RS_VALUE_MAX 64

struct csph_rstate;

struct csph_rs_series {
    unsigned char kind;
    unsigned char id[8];
    const unsigned char *key; /* encoded key values */
    size_t key_len;           /* at most CSPH_RS_KEY_MAX */
};

struct csph_rs_rec {
    int64_t t;
    uint64_t seq;
    const unsigned char *val; /* borrowed: valid during the visit */
    size_t len;
};

enum csph_err csph_rstate_new(struct csph_rstate **out, struct csph_error *err);
void csph_rstate_free(struct csph_rstate **s);

/* Keep a filter of bytes (0: none) telling which series surely hold
 * nothing, built from the state at the next csph_rstate_begin: memory is
 * this, whatever the number of people or the length of the log (limits.
 * rules_cache_mb). */
enum csph_err csph_rstate_cache(struct csph_rstate *s, size_t bytes, struct csph_error *err);
/* Hand src's filter to dst (both on the same state: a reloaded rule set),
 * so that dst need not build its own; src keeps working without one. */
void csph_rstate_take_cache(struct csph_rstate *dst, struct csph_rstate *src);
/* 0 when the series surely holds no record; 1 when it may. */
int csph_rstate_may_exist(struct csph_rstate *s, const struct csph_rs_series *sr);

/* Start (or go on) using txn: the databases are opened in it. Call it for
 * each transaction before anything else (a handle first opened in an
 * aborted transaction does not survive it). */
enum csph_err csph_rstate_begin(struct csph_rstate *s, MDB_txn *txn, struct csph_error *err);

/* Done with txn for now: closes the cursor range reads keep open. Call it
 * only in the transaction that read (one that ends frees it anyway). */
void csph_rstate_end(struct csph_rstate *s);

/* Put a record; *existed = 1 (and nothing written) when the point is
 * already in the series. */
enum csph_err csph_rstate_put(struct csph_rstate *s, const struct csph_rs_series *sr, int64_t t,
                              uint64_t seq, const void *val, size_t len, int *existed,
                              struct csph_error *err);
/* Replace a record's value (put when absent). */
enum csph_err csph_rstate_set(struct csph_rstate *s, const struct csph_rs_series *sr, int64_t t,
                              uint64_t seq, const void *val, size_t len, struct csph_error *err);
/* The record at (t, seq): CSPH_ERR_OK and *found; its value into val,
 * whose size is *len on entry (longer values are cut), its length on
 * return. */
enum csph_err csph_rstate_get(struct csph_rstate *s, const struct csph_rs_series *sr, int64_t t,
                              uint64_t seq, unsigned char *val, size_t *len, int *found,
                              struct csph_error *err);
/* Visit the records with from <= t <= to in (t, seq) order; fn returns
 * nonzero to stop. fn must not write to the state. */
typedef int (*csph_rs_fn)(void *ctx, const struct csph_rs_rec *r);
enum csph_err csph_rstate_range(struct csph_rstate *s, const struct csph_rs_series *sr,
                                int64_t from, int64_t to, csph_rs_fn fn, void *ctx,
                                struct csph_error *err);
/* Delete every record of the series (a person's entries, when a later
 * issue erases people). *n is how many. */
enum csph_err csph_rstate_drop(struct csph_rstate *s, const struct csph_rs_series *sr, uint64_t *n,
                               struct csph_error *err);
/* Delete every record whose key values include (tag, value): one person's
 * entries in every series, whatever its kind or the key's other values (a
 * pass over the whole state: for erasure, not for events). */
enum csph_err csph_rstate_drop_value(struct csph_rstate *s, char tag, const char *value, size_t len,
                                     uint64_t *n, struct csph_error *err);
/* Delete one record (no error when absent). */
enum csph_err csph_rstate_del(struct csph_rstate *s, const struct csph_rs_series *sr, int64_t t,
                              uint64_t seq, struct csph_error *err);

/* Named records of rules.meta. */
enum csph_err csph_rstate_meta_get(struct csph_rstate *s, const char *name, void *val, size_t cap,
                                   size_t *len, int *found, struct csph_error *err);
enum csph_err csph_rstate_meta_put(struct csph_rstate *s, const char *name, const void *val,
                                   size_t len, struct csph_error *err);

/* Entries and bytes in pages of the state's databases, read in txn. */
enum csph_err csph_rstate_size(MDB_txn *txn, uint64_t *entries, uint64_t *bytes,
                               struct csph_error *err);

#endif
