/* redacted.h: which records of a log an erasure or a retention sweep
 * redacted, for the analyses that read the log again (re-derivation's kept
 * alerts, what-if, reports: issue 17 point 4). A redacted record keeps
 * seq, times, type and source (and, after an erasure, other people's
 * fields); a test on a field it lost cannot be evaluated, so the analyses
 * count such records by what they keep and say how many they could not
 * evaluate.
 *
 * The set is dp.erased (store.h, CSPH_STORE_ERASED_DB: seq -> the
 * dp.erasure or dp.retention event that rewrote it) read once into memory:
 * 16 bytes a redacted record. */
#ifndef CSPH_REDACTED_H
#define CSPH_REDACTED_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

struct hub_erased_set {
    uint64_t *seq, *by; /* ascending seq; by: the erasure (or retention) seq */
    size_t n;
};
/* Read dp.erased in txn (a transaction of the log's environment); an
 * empty set when the log never had a record redacted. Free it with
 * hub_erased_set_free (also after a failure). */
enum hub_err hub_erased_set_load(struct hub_erased_set *s, MDB_txn *txn, struct hub_error *err);
/* The same in a read transaction of its own. */
enum hub_err hub_erased_set_load_env(struct hub_erased_set *s, MDB_env *env,
                                     struct hub_error *err);
/* The seq of the event that redacted seq, 0 when it was not. */
uint64_t hub_erased_set_by(const struct hub_erased_set *s, uint64_t seq);
void hub_erased_set_free(struct hub_erased_set *s);

/* Redacted records counted by event type. */
struct hub_redacted_count {
    struct hub_redacted_type {
        char type[65];
        uint64_t n;
    } *v;
    size_t n, cap;
    uint64_t total;
};
/* Count one record of type (len bytes). 0, or -1 out of memory. */
int hub_redacted_count_add(struct hub_redacted_count *c, const char *type, size_t len);
/* How many of type were counted. */
uint64_t hub_redacted_count_of(const struct hub_redacted_count *c, const char *type);
void hub_redacted_count_free(struct hub_redacted_count *c);

#endif
