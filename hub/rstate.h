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

struct hub_rstate;

struct hub_rs_series {
    unsigned char kind;
    unsigned char id[8];
    const unsigned char *key; /* encoded key values */
    size_t key_len;           /* at most CSPH_RS_KEY_MAX */
};

struct hub_rs_rec {
    int64_t t;
    uint64_t seq;
    const unsigned char *val; /* borrowed: valid during the visit */
    size_t len;
};

enum hub_err hub_rstate_new(struct hub_rstate **out, struct hub_error *err);
void hub_rstate_free(struct hub_rstate **s);

/* Keep a filter of bytes (0: none) telling which series surely hold
 * nothing, built from the state at the next hub_rstate_begin: memory is
 * this, whatever the number of people or the length of the log (limits.
 * rules_cache_mb). */
enum hub_err hub_rstate_cache(struct hub_rstate *s, size_t bytes, struct hub_error *err);
/* Hand src's filter to dst (both on the same state: a reloaded rule set),
 * so that dst need not build its own; src keeps working without one. */
void hub_rstate_take_cache(struct hub_rstate *dst, struct hub_rstate *src);
/* 0 when the series surely holds no record; 1 when it may. */
int hub_rstate_may_exist(struct hub_rstate *s, const struct hub_rs_series *sr);

/* Start (or go on) using txn: the databases are opened in it. Call it for
 * each transaction before anything else (a handle first opened in an
 * aborted transaction does not survive it). */
enum hub_err hub_rstate_begin(struct hub_rstate *s, MDB_txn *txn, struct hub_error *err);

/* Done with txn for now: closes the cursor range reads keep open. Call it
 * only in the transaction that read (one that ends frees it anyway). */
void hub_rstate_end(struct hub_rstate *s);

/* Put a record; *existed = 1 (and nothing written) when the point is
 * already in the series. */
enum hub_err hub_rstate_put(struct hub_rstate *s, const struct hub_rs_series *sr, int64_t t,
                            uint64_t seq, const void *val, size_t len, int *existed,
                            struct hub_error *err);
/* Replace a record's value (put when absent). */
enum hub_err hub_rstate_set(struct hub_rstate *s, const struct hub_rs_series *sr, int64_t t,
                            uint64_t seq, const void *val, size_t len, struct hub_error *err);
/* The record at (t, seq): CSPH_ERR_OK and *found; its value into val,
 * whose size is *len on entry (longer values are cut), its length on
 * return. */
enum hub_err hub_rstate_get(struct hub_rstate *s, const struct hub_rs_series *sr, int64_t t,
                            uint64_t seq, unsigned char *val, size_t *len, int *found,
                            struct hub_error *err);
/* Visit the records with from <= t <= to in (t, seq) order; fn returns
 * nonzero to stop. fn must not write to the state. */
typedef int (*hub_rs_fn)(void *ctx, const struct hub_rs_rec *r);
enum hub_err hub_rstate_range(struct hub_rstate *s, const struct hub_rs_series *sr,
                              int64_t from, int64_t to, hub_rs_fn fn, void *ctx,
                              struct hub_error *err);
/* Delete every record of the series (a person's entries, when a later
 * issue erases people). *n is how many. */
enum hub_err hub_rstate_drop(struct hub_rstate *s, const struct hub_rs_series *sr, uint64_t *n,
                             struct hub_error *err);
/* Delete every record whose key values include (tag, value): one person's
 * entries in every series, whatever its kind or the key's other values (a
 * pass over the whole state: for erasure, not for events). */
enum hub_err hub_rstate_drop_value(struct hub_rstate *s, char tag, const char *value, size_t len,
                                   uint64_t *n, struct hub_error *err);
/* Delete one record (no error when absent). */
enum hub_err hub_rstate_del(struct hub_rstate *s, const struct hub_rs_series *sr, int64_t t,
                            uint64_t seq, struct hub_error *err);

/* Named records of rules.meta. */
enum hub_err hub_rstate_meta_get(struct hub_rstate *s, const char *name, void *val, size_t cap,
                                 size_t *len, int *found, struct hub_error *err);
enum hub_err hub_rstate_meta_put(struct hub_rstate *s, const char *name, const void *val,
                                 size_t len, struct hub_error *err);

/* Entries and bytes in pages of the state's databases, read in txn. */
enum hub_err hub_rstate_size(MDB_txn *txn, uint64_t *entries, uint64_t *bytes,
                             struct hub_error *err);

#endif
