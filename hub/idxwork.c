/* idxwork.c: work held in memory for an index transaction (idxwork.h). */
#include "idxwork.h"

#include <stddef.h>

void hub_idxwork_install(MDB_env *env, struct hub_idxwork_set *set)
{
    mdb_env_set_userctx(env, set);
}

int hub_idxwork_attach(MDB_txn *txn, struct hub_idxwork *w)
{
    struct hub_idxwork_set *set = mdb_env_get_userctx(mdb_txn_env(txn));
    if (!set)
        return 0;
    if (w->set == set)
        return 1;
    if (w->set)
        hub_idxwork_detach(w);
    /* At the end: flushed in the order attached. */
    struct hub_idxwork **at = &set->head;
    while (*at)
        at = &(*at)->next;
    w->next = NULL;
    *at = w;
    w->set = set;
    return 1;
}

int hub_idxwork_flush(struct hub_idxwork_set *set, MDB_txn *txn)
{
    for (struct hub_idxwork *w = set->head; w; w = w->next) {
        int rc = w->flush(w->ctx, txn);
        if (rc)
            return rc;
    }
    return 0;
}

void hub_idxwork_end(struct hub_idxwork_set *set, int dropped)
{
    struct hub_idxwork *w = set->head;
    set->head = NULL;
    while (w) {
        struct hub_idxwork *next = w->next;
        if (dropped)
            w->drop(w->ctx);
        w->set = NULL;
        w->next = NULL;
        w = next;
    }
}

void hub_idxwork_detach(struct hub_idxwork *w)
{
    if (!w->set)
        return;
    for (struct hub_idxwork **at = &w->set->head; *at; at = &(*at)->next)
        if (*at == w) {
            *at = w->next;
            break;
        }
    w->set = NULL;
    w->next = NULL;
}
