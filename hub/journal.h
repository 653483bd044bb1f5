/* journal.h: the write-ahead journal in front of the log.
 *
 * A batch is acknowledged once its record is on disk in the journal (one
 * fdatasync of a preallocated file), while LMDB commits - synced, as
 * always - come later and cover many batches. After a crash or a power cut
 * the records past what LMDB holds are applied again before the hub serves.
 *
 * The journal knows nothing of events: a record is the caller's bytes under
 * a batch number, numbers consecutive from the first record ever written.
 * What it promises:
 *   - hub_journal_sync returns OK only when every record appended before it
 *     is on disk: a completed fdatasync of a file whose blocks were written
 *     (zeros) and synced when it was made, so the sync has no metadata to
 *     write; a new file's directory entry is synced before any record in it
 *     is trusted;
 *   - after a failed fdatasync nothing written since the last good one is
 *     trusted, even if a retry succeeds (Linux reports a write-back error
 *     once and may have dropped the pages): the pending records are written
 *     again into a fresh file, which is synced; only if that fails too is the
 *     sync refused (the caller then refuses the batch and discards);
 *   - each record carries its batch number, length and a 64-bit XXH3 of
 *     both and its bytes; reading stops at the first record that does not
 *     check (a torn tail: only records never acknowledged can be torn), and
 *     a file made later supersedes the records of the earlier ones from its
 *     first batch on (the rewrite after a failed sync);
 *   - files LMDB has synced past are recycled or removed at a checkpoint, so
 *     the journal holds only what LMDB does not: replaying it is bounded by
 *     how often the caller checkpoints.
 *
 * Layout: DIR/NNNNNNNNNNNNNNNN.csj, named by the first batch (hex), each a
 * 4 KiB header page ("CSPHJNL1", version, first batch, checksum) and then
 * records, 8-byte aligned. One writer; not thread-safe. */
#ifndef HUB_JOURNAL_H
#define HUB_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct hub_journal;

struct hub_journal_stats {
    uint64_t files;        /* files in the directory now */
    uint64_t records;      /* records appended since open */
    uint64_t syncs;        /* completed syncs */
    uint64_t sync_failures; /* failed fdatasyncs (each followed by a rewrite) */
    uint64_t rewrites;      /* pending records written again into a fresh file */
    uint64_t recovered;     /* records found at open past the checkpoint */
    uint64_t torn;          /* open found a torn or stale tail (1) or not (0) */
    uint64_t pending_bytes; /* appended, not yet synced */
    uint64_t bytes;      /* bytes of records in the files kept (replayed after a crash) */
    uint64_t last_batch; /* the last batch appended or recovered (0: none) */
};

/* Open (creating) the journal in dir; files are file_bytes long (rounded
 * up to 1 MiB, at least 1 MiB). The records found are read and checked
 * now; hub_journal_replay hands them out. */
enum hub_journal_open_flags { HUB_JOURNAL_READONLY = 1 };
enum hub_err hub_journal_open(struct hub_journal **out, const char *dir, uint64_t file_bytes,
                              unsigned flags, struct hub_error *err);
void hub_journal_close(struct hub_journal **j);

/* The records found at open with a batch after `after` (what LMDB holds
 * durably), in order. fn returns 0 to go on. A gap between `after` and the
 * first record found is an error (the journal lost what LMDB lacks). */
typedef int (*hub_journal_record_fn)(void *ctx, uint64_t batch, const void *p, size_t n);
enum hub_err hub_journal_replay(struct hub_journal *j, uint64_t after, hub_journal_record_fn fn,
                                void *ctx, struct hub_error *err);

/* Append a record for `batch` (the last batch + 1, or any number for the
 * first record of an empty journal). Kept in memory until synced. */
enum hub_err hub_journal_append(struct hub_journal *j, uint64_t batch, const void *p, size_t n,
                                struct hub_error *err);
/* Write the pending records and make them durable (see above). */
enum hub_err hub_journal_sync(struct hub_journal *j, struct hub_error *err);
/* Forget the pending records (after a refused sync, or a batch given up):
 * the next append may reuse their numbers; they go to a fresh file. */
void hub_journal_discard(struct hub_journal *j);

/* LMDB holds every batch up to `durable` on disk: files holding nothing
 * after it are recycled (kept for reuse, at most two) or removed. */
enum hub_err hub_journal_checkpoint(struct hub_journal *j, uint64_t durable,
                                    struct hub_error *err);

void hub_journal_stats(const struct hub_journal *j, struct hub_journal_stats *st);

#endif
