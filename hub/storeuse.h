/* storeuse.h: how full the log's LMDB map is, and its file's size, for the
 * metrics endpoint and the early warning before the map is full (issue
 * 18). Storage-side: the one place outside store.c that reads the log's
 * environment, and only its info. */
#ifndef CSPH_STOREUSE_H
#define CSPH_STOREUSE_H

#include <stdint.h>

#include "err.h"
#include "store.h"

struct hub_store_usage {
    uint64_t map_bytes;  /* limits.map_size_mb: the log's ceiling */
    uint64_t used_bytes; /* pages in use (the high-water mark: LMDB reuses freed pages) */
    uint64_t file_bytes; /* data.mdb on disk (sparse files count what is allocated) */
};

/* Loop thread, between batches or inside one. */
enum hub_err hub_store_usage_read(struct hub_store *s, struct hub_store_usage *u,
                                  struct hub_error *err);

#endif
