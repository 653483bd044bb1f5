/* queuespriv.h: what the queues' source files share (queues.c, and
 * queuerecords.c: alert records read and written whole, for erasure and
 * re-derivation). Not for other modules: they use queues.h. */
#ifndef CSPH_QUEUESPRIV_H
#define CSPH_QUEUESPRIV_H

#include <lmdb.h>
#include <msgpack.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "queues.h"

/* Alert record (value in `alerts`, key = id):
 *   status(1) priority(1) npairs(1) pad(1) due_ms(8, INT64_MIN: none)
 *   raised_ms(8) panel_len(1) panel rule_len(1) rule key_len(1) key
 *   full_len(4) full pairs, red_len(4) redacted pairs
 * The pairs are MessagePack key/value pairs without a map header; status
 * and due_at change after raising and are packed from the header. */
#define REC_FIXED 20
#define NO_DUE INT64_MIN

struct hub_queues {
    MDB_env *env;
    const struct hub_config *cfg;
    MDB_dbi alerts, panel_alerts, cursors, deadlines, cases, meta;
    struct hub_redo *redo; /* the store's write recorder (the journal), or NULL */
    uint64_t last_id, txn_last_id;
    uint64_t counts[CSPH_MAX_PANELS], txn_counts[CSPH_MAX_PANELS];
    uint64_t touched, txn_touched;
    msgpack_sbuffer buf, red;
    msgpack_sbuffer shown; /* an alert as a restricted reader sees it (restrictview.h) */
    /* re-derivation's kept alerts (hub_queues_set_keep), or NULL */
    hub_queues_keep_fn keep;
    void *keep_ctx;
};

/* Parsed view of an alert record. Borrowed from the LMDB value. */
struct hub_queue_rec {
    unsigned char *base;
    int status, priority, npairs;
    int64_t due_ms, raised_ms;
    const char *panel, *rule, *key;
    size_t panel_len, rule_len, key_len;
    const void *full, *red;
    uint32_t full_len, red_len;
};

/* LMDB's failure rc in the words every op uses (storage limit: busy). */
enum hub_err hub_queues_lmdb_fail(struct hub_error *err, int rc, const char *what);
/* Keys "panel \0 tail": returns the length written into out. */
size_t hub_queues_panel_key(unsigned char *out, const char *panel, const void *tail,
                            size_t tail_len);
/* A deadline's key: due time (sorting negative first), then id. */
void hub_queues_deadline_key(unsigned char out[16], int64_t due_ms, uint64_t id);
/* 0 and r filled (borrowing v's bytes), or -1 for a damaged record. */
int hub_queues_rec_parse(const MDB_val *v, struct hub_queue_rec *r);
/* Alert id's record in txn (borrowed: valid until txn writes or ends);
 * NOT_FOUND in the words every op uses. */
enum hub_err hub_queues_read_rec(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                 struct hub_queue_rec *r, struct hub_error *err);
/* The same in a read transaction of its own (*txn: abort it when done
 * with r, which borrows from it; NULL after a failure). */
enum hub_err hub_queues_read_own(struct hub_queues *q, uint64_t id, MDB_txn **txn,
                                struct hub_queue_rec *r, struct hub_error *err);
/* An alert's map, as every reply and hub_queues_each pack it (full: the
 * whole pairs; else the restricted panel's). */
void hub_queues_pack_rec(msgpack_packer *pk, const struct hub_queue_rec *r, int full);
/* Remove (put: arm again) id's deadline, if it has a due date, and its
 * case-index entries. */
enum hub_err hub_queues_deadline_entries(struct hub_queues *q, MDB_txn *txn, uint64_t id,
                                         const struct hub_queue_rec *r, int put,
                                         struct hub_error *err);

#endif
