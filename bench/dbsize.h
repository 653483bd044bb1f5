/* Entries and bytes of every database of a stopped hub's LMDB
 * environments (data.mdb and index.mdb), opened read-only. */
#ifndef CSPH_BENCH_DBSIZE_H
#define CSPH_BENCH_DBSIZE_H

#include <stdint.h>
#include "hubctl.h"

#define MAX_DBSTAT 32

/* One database: mdb_stat's entries, pages (branch + leaf + overflow) x page
 * size in bytes, depth. */
struct dbstat {
    char name[48];
    uint64_t entries, pages, bytes;
    unsigned depth;
};

/* One --state-size (or --scale) run and what its stopped hub's LMDB held. */
struct staterun {
    uint64_t events;
    double span_days;
    double gen_s;
    struct hubrun hr;
    struct dbstat db[MAX_DBSTAT];
    int ndb;
    uint64_t file_bytes, used_bytes;
    int64_t first_ms, last_ms;
};

/* Both of the stopped hub's environments: data.mdb (the log and the queues)
 * and index.mdb (the idempotency index and the rule state). */
void lmdb_state(const char *dir, struct staterun *sr);

/* The database name of sr, or NULL. */
const struct dbstat *find_db(const struct staterun *sr, const char *name);

#endif
