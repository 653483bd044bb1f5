#include "testutil_failcommit.h"

#include <errno.h>

MDB_env *tu_fail_env;
int tu_fail_commits;

int __real_mdb_txn_commit(MDB_txn *txn);
int __wrap_mdb_txn_commit(MDB_txn *txn);

int __wrap_mdb_txn_commit(MDB_txn *txn)
{
    if (tu_fail_commits > 0 && mdb_txn_env(txn) == tu_fail_env) {
        tu_fail_commits--;
        mdb_txn_abort(txn);
        return EIO;
    }
    return __real_mdb_txn_commit(txn);
}
