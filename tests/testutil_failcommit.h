/* testutil_failcommit.h: LMDB commits failed on demand, for the tests that
 * prove what a failed batch leaves (test_core, test_heldrel). The test is
 * linked with -Wl,--wrap=mdb_txn_commit and testutil_failcommit.c
 * (tests/CMakeLists.txt): while tu_fail_commits > 0, a commit of a
 * transaction of tu_fail_env fails with EIO (one a commit), the transaction
 * freed as LMDB frees one whose commit failed. */
#ifndef CSPH_TESTUTIL_FAILCOMMIT_H
#define CSPH_TESTUTIL_FAILCOMMIT_H

#include <lmdb.h>

extern MDB_env *tu_fail_env;
extern int tu_fail_commits;

#endif
