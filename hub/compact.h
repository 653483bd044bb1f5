/* compact.h: make erased bytes unreadable on disk (issue 17, point 3;
 * `csphubd --compact`, with the hub stopped).
 *
 * An erasure rewrites events in place, but LMDB keeps the old bytes: in
 * pages it has freed, and in the unused space inside pages still in use
 * (a node deleted from a leaf leaves its bytes in the gap), which a plain
 * mdb_copy, and even mdb_env_copy2 with MDB_CP_COMPACT (it copies each
 * page whole), carries into a backup. So compaction copies records, not
 * pages: every database of data.mdb is written record by record into a
 * fresh environment (new pages start zeroed), which replaces data.mdb by
 * an atomic rename; the old file is then overwritten with zeros before it
 * is removed. index.mdb is overwritten and removed too (the next start
 * rebuilds it from the rewritten log: the idempotency index, the person
 * index, the rule state's keys), and so are the journal's files, spares
 * included, once the journal's batches are in data.mdb.
 *
 * Residual risk, stated in the README: zeros written over a file reach the
 * same blocks on a plain disk, but an SSD or a copy-on-write file system
 * may write them elsewhere and keep the old blocks until it reuses them;
 * full-disk encryption covers that. */
#ifndef CSPH_COMPACT_H
#define CSPH_COMPACT_H

#include <stdint.h>

#include "err.h"

struct hub_compact_stats {
    uint64_t records;        /* records copied, every database */
    uint64_t databases;
    uint64_t bytes_before, bytes_after; /* data.mdb's size */
    uint64_t journal_files;  /* journal files overwritten and removed */
    int index_removed;       /* index.mdb was there, overwritten and removed */
};

/* Compact the data directory dir (the hub must be stopped: CSPH_ERR_LOCKED
 * names its pid otherwise). map_size is the log's map (limits), used to
 * open it and make the journal's batches durable in it first. On failure
 * data.mdb is the old one, whole (a temporary directory is left removed). */
enum hub_err hub_compact(const char *dir, uint64_t map_size, struct hub_compact_stats *st,
                         struct hub_error *err);

/* Overwrite the file at path with zeros, sync it and remove it. 0, or -1
 * with errno. A missing file is 0. */
int hub_compact_shred(const char *path);

#endif
