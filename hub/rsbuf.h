/* rsbuf.h: the rule state's write buffer. The records an index
 * transaction puts into the rule state (rstate.h), held in memory and
 * written into the tree in key order just before that transaction commits
 * (idxwork.h), instead of one at a time as events come.
 *
 * Why: a record's key starts with the person's reference, so the records
 * of a stream of events land on random leaf pages of rules.state, and a
 * put one at a time searched the tree from its root and copied a leaf for
 * nearly every record (the largest single cost of an event with the
 * default rules). Put sorted, one cursor walks the tree forward.
 *
 * Reads of the state in the same transaction must see what is held here:
 * rstate.c looks a point up here before the tree, and merges a series'
 * records held here with the tree's in a range read.
 *
 * A record is a series' prefix (rstate.c's key before the point), a
 * 16-byte point (time and seq, big-endian: memcmp order is point order)
 * and a value of 0..CSPH_RSBUF_VALUE_MAX bytes (rstate.c writes a longer
 * one to the tree at once, after what is held). At most one record per
 * (prefix, point): a later put replaces the value.
 *
 * Bounded by the index transaction (CSPH_INDEX_HOLD_EVENTS events' puts);
 * cleared when it ends. Knows no rules. */
#ifndef CSPH_RSBUF_H
#define CSPH_RSBUF_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#define CSPH_RSBUF_POINT 16
#define CSPH_RSBUF_VALUE_MAX 64

struct hub_rsbuf;

/* A held record: borrowed, valid until the buffer is next changed. */
struct hub_rsbuf_rec {
    const unsigned char *point; /* CSPH_RSBUF_POINT bytes */
    const unsigned char *val;
    size_t len;
};

struct hub_rsbuf *hub_rsbuf_new(void);
void hub_rsbuf_free(struct hub_rsbuf **b);

/* Records held. */
size_t hub_rsbuf_count(const struct hub_rsbuf *b);

/* Hold (prefix, point) -> val, replacing the value of one held already.
 * hash is the prefix's (the caller has it for its filter). Returns the
 * series' records held now; -1 when memory runs out or a size is out of
 * range (nothing held). */
int hub_rsbuf_put(struct hub_rsbuf *b, uint64_t hash, const unsigned char *prefix, size_t plen,
                  const unsigned char *point, const void *val, size_t len);
/* Write one series' records into dbi in txn now (in key order) and hold
 * them no more: a busy key's records (a rebuild's thousands of events of
 * one person in a transaction) would make its list long, and each put
 * and read walks it; its pages are hot anyway. An LMDB error is returned
 * as is (the series is let go all the same). */
int hub_rsbuf_write_series(struct hub_rsbuf *b, uint64_t hash, const unsigned char *prefix,
                           size_t plen, MDB_txn *txn, MDB_dbi dbi);
/* Records held for the series (0: none). */
uint32_t hub_rsbuf_series_len(const struct hub_rsbuf *b, uint64_t hash,
                              const unsigned char *prefix, size_t plen);
/* The record held at (prefix, point): 1 and *r, or 0. */
int hub_rsbuf_get(const struct hub_rsbuf *b, uint64_t hash, const unsigned char *prefix,
                  size_t plen, const unsigned char *point, struct hub_rsbuf_rec *r);

/* Walking a series' records in point order, from the first at or after a
 * point: a cursor (opaque) that hub_rsbuf_next moves. 0 when none. */
struct hub_rsbuf_it {
    const struct hub_rsbuf *b;
    uint32_t at;
};
int hub_rsbuf_seek(const struct hub_rsbuf *b, uint64_t hash, const unsigned char *prefix,
                   size_t plen, const unsigned char *from, struct hub_rsbuf_it *it,
                   struct hub_rsbuf_rec *r);
int hub_rsbuf_next(struct hub_rsbuf_it *it, struct hub_rsbuf_rec *r);

/* Marks: 64-bit tags the caller sets while it holds records and asks
 * after, cleared with the records (a write, a clear). rstate.c marks a
 * person new at the transaction's start, so that the person's later
 * series in the same transaction are held too: the filter knows the key
 * from its first put on, and would otherwise send the rest to the tree
 * one at a time. A tag may stand for several keys (it is a hash): a
 * series held that need not be is still read and written right. */
int hub_rsbuf_mark(struct hub_rsbuf *b, uint64_t tag); /* 0, or -1 out of memory */
int hub_rsbuf_marked(const struct hub_rsbuf *b, uint64_t tag);

/* Write every record into dbi in txn, in key order (prefix then point),
 * replacing values, and clear the buffer. An LMDB error is returned as is
 * (the transaction is then to be aborted; the buffer is cleared all the
 * same). */
int hub_rsbuf_write(struct hub_rsbuf *b, MDB_txn *txn, MDB_dbi dbi);
/* Forget every record. Here and after a write, a buffer whose room for
 * records is over 1 MiB and more than eight times what it held gives its
 * room back (refbuf.h does the same). */
void hub_rsbuf_clear(struct hub_rsbuf *b);
/* Bytes of memory the buffer holds now (its room, used or not). */
size_t hub_rsbuf_room(const struct hub_rsbuf *b);

#endif
