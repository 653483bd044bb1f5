/* refbuf.h: index entries waiting for the index's commit: the person
 * index's, and the idempotency index's while it is rebuilt from the log.
 *
 * The person index (store.h: kind(1) reference -> occurred(8) seq(8)) is
 * read only through its own read transactions, which see what the index
 * committed (readers scan the log's tail past it). So an event's entries
 * need not be in the B-tree until the index transaction commits, and
 * written there in key order they cost a fraction of the same entries
 * put one event at a time: one cursor walks the tree forward, each leaf is
 * copied once and found from the last one rather than from the root, and
 * the compares run on pages already in the CPU's cache (the person index
 * was a quarter of the hub's time per event, put event by event).
 *
 * The same holds for the idempotency index while the index is brought
 * level with the log (a rebuild after a power cut): nothing looks a
 * duplicate up until the catch-up has committed, so its entries wait and
 * go in sorted too. The live hub's own lookups put theirs at once.
 *
 * Bounded by the index transaction (at most CSPH_INDEX_HOLD_EVENTS events'
 * entries); cleared when that transaction ends either way. */
#ifndef CSPH_REFBUF_H
#define CSPH_REFBUF_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

struct hub_refbuf;

/* vlen: each entry's value, 1..64 bytes, or 0 for values of their own
 * length each (0..64 bytes, hub_refbuf_add_len; the rule state's write
 * buffer, rsbuf.h); put_flags: mdb_cursor_put's (MDB_NODUPDATA for sorted
 * duplicates, MDB_NOOVERWRITE for a plain key, 0 to replace): an entry
 * already in the tree is no error either way. */
struct hub_refbuf *hub_refbuf_new(size_t vlen, unsigned put_flags);
void hub_refbuf_free(struct hub_refbuf **b);

/* Keep one entry: key (1..65535 bytes) and its value (vlen bytes). -1
 * when memory runs out (nothing kept). */
int hub_refbuf_add(struct hub_refbuf *b, const void *key, size_t klen, const void *val);
/* The same for a buffer made with vlen 0: val is vlen bytes (0..64). A
 * key given twice is written twice, in the order given. */
int hub_refbuf_add_len(struct hub_refbuf *b, const void *key, size_t klen, const void *val,
                       size_t vlen);
/* Entries waiting. */
size_t hub_refbuf_count(const struct hub_refbuf *b);
/* Put every entry into dbi in txn, in key order, and clear
 * the buffer. An LMDB error is returned as is (the transaction is then to
 * be aborted; the buffer is cleared all the same). */
int hub_refbuf_write(struct hub_refbuf *b, MDB_txn *txn, MDB_dbi dbi);
/* Drop every entry (the index transaction was aborted). Here and after a
 * write, a buffer whose room is more than eight times what it held (and
 * over 1 MiB) gives that room back. */
void hub_refbuf_clear(struct hub_refbuf *b);
/* Bytes of memory the buffer holds now (its room, used or not). */
size_t hub_refbuf_room(const struct hub_refbuf *b);
/* Drop the entries of one key (erasure, before the key's entries in the
 * tree are deleted). */
void hub_refbuf_drop(struct hub_refbuf *b, const void *key, size_t klen);

#endif
