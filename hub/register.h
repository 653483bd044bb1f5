/* register.h: the erasure register (issue 17, point 7; docs/retention.md).
 *
 * Every applied erasure or restriction is also appended, as one JSON line,
 * to a file the data protection officer keeps outside the data directory
 * (cfg->erasure_register; "none" turns it off, which the docs advise
 * against):
 *
 *   {"at":"2026-12-05T17:00:00.000Z","request":"erase","person":"P-9",
 *    "basis":"art17","reason":"DPO case 3","by":"os:dpo-jane","count":140,
 *    "rejections":1,"erasures":[1001,1002]}
 *
 * It names the person (the log does not: it could not be re-applied
 * otherwise), so it is as sensitive as the log and kept as the DPO keeps
 * the request itself. The line is written and synced in the erasure's
 * batch before its reply: an erasure the hub acknowledged is in the
 * register. (A batch lost after the line was written leaves a line the log
 * lacks; re-applying it does what the DPO asked.)
 *
 * After a restore from a backup older than some erasures,
 * `csphubd --reapply-erasures FILE --data DIR` (the hub stopped) applies
 * each line again through the erase op, in the log as a dp.erasure by
 * "reapply:<original by>", skipping what is erased already, then compacts
 * the data directory so no erased byte stays on disk. */
#ifndef CSPH_REGISTER_H
#define CSPH_REGISTER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "err.h"

struct hub_register_entry {
    int64_t at_ms;
    int restrict_only;
    const char *person, *basis, *reason, *by;
    size_t person_len, basis_len, reason_len;
    uint64_t count, rejections;
    const uint64_t *erasures; /* the dp.erasure events' seqs */
    size_t nerasures;
};

/* The register's path for cfg: erasure_register, or
 * DATA_DIR.erasure-register.jsonl; "" when it is "none". */
void hub_register_path(const struct hub_config *cfg, char *out, size_t n);
/* Append e as one line to the register of cfg and sync it. CSPH_ERR_IO
 * naming the path and the system's reason. */
enum hub_err hub_register_append(const struct hub_config *cfg,
                                 const struct hub_register_entry *e, struct hub_error *err);
/* csphubd --reapply-erasures: apply every line of file to cfg's data
 * directory (the hub stopped), report each to out, compact when anything
 * was erased. Exit status: 0 done, 2 bad usage, a bad line (file:line) or
 * the hub running, 4 an I/O error. */
int hub_register_reapply(const struct hub_config *cfg, const char *file, FILE *out);

#endif
