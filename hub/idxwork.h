/* idxwork.h: work a module holds in memory for an index transaction.
 *
 * A module above the store may keep writes for index.mdb in memory and put
 * them into the index transaction all at once, in key order, just before
 * it commits (the rule state's write buffer, rsbuf.h: records put one
 * event at a time land on random leaf pages; put sorted, one cursor walks
 * the tree forward). The store installs a set on its index environment;
 * a module attaches to it through any transaction of that environment,
 * without a handle on the store; the store then flushes every attached
 * module into the transaction before its commit, and tells each to drop
 * its work when the transaction aborts. Both detach every module: a module
 * attaches again in the next transaction.
 *
 * An environment with no set installed (a unit test's, a tool's) has
 * nothing to attach to: the module then writes through at once.
 *
 * One thread, as the index transaction. */
#ifndef CSPH_IDXWORK_H
#define CSPH_IDXWORK_H

#include <lmdb.h>

struct hub_idxwork_set;

struct hub_idxwork {
    /* Put the held work into txn (0, or an LMDB error: the transaction is
     * then aborted, and drop follows). */
    int (*flush)(void *ctx, MDB_txn *txn);
    /* Forget the held work (the transaction it was for is gone). */
    void (*drop)(void *ctx);
    void *ctx;
    /* Private: the set attached to and the next module in it. */
    struct hub_idxwork_set *set;
    struct hub_idxwork *next;
};

struct hub_idxwork_set {
    struct hub_idxwork *head;
};

/* Make set the one of env's transactions (mdb_env_set_userctx: nothing
 * else in the hub uses it). NULL removes it. */
void hub_idxwork_install(MDB_env *env, struct hub_idxwork_set *set);
/* Attach w to the set of txn's environment: 1 when attached (now or
 * already), 0 when that environment has none (write through). */
int hub_idxwork_attach(MDB_txn *txn, struct hub_idxwork *w);
/* Flush every attached module into txn, in the order attached; the first
 * error stops and is returned. Modules stay attached (call
 * hub_idxwork_end after the commit or abort). */
int hub_idxwork_flush(struct hub_idxwork_set *set, MDB_txn *txn);
/* The transaction ended: committed (after hub_idxwork_flush) or aborted
 * (dropped = 1: every module drops its work). Detaches every module. */
void hub_idxwork_end(struct hub_idxwork_set *set, int dropped);
/* Detach one module (it is freed while attached: flush it first). */
void hub_idxwork_detach(struct hub_idxwork *w);

#endif
