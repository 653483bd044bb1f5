#include "redacted.h"

#include <stdlib.h>
#include <string.h>

#include "store.h"

enum hub_err hub_erased_set_load(struct hub_erased_set *s, MDB_txn *txn, struct hub_error *err)
{
    MDB_dbi dbi;
    MDB_cursor *c;
    MDB_val k, v;
    size_t cap = 0;
    memset(s, 0, sizeof *s);
    int rc = mdb_dbi_open(txn, CSPH_STORE_ERASED_DB, MDB_INTEGERKEY, &dbi);
    if (rc == MDB_NOTFOUND)
        return CSPH_ERR_OK; /* nothing ever redacted */
    if (rc || (rc = mdb_cursor_open(txn, dbi, &c)))
        return hub_error_set(err, CSPH_ERR_IO, NULL, "cannot read the redacted records: %s",
                             mdb_strerror(rc));
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        if (k.mv_size != 8 || v.mv_size < 8)
            continue;
        if (s->n == cap) {
            cap = cap ? 2 * cap : 256;
            uint64_t *a = realloc(s->seq, cap * sizeof *a);
            if (a)
                s->seq = a;
            uint64_t *b = a ? realloc(s->by, cap * sizeof *b) : NULL;
            if (!b) {
                mdb_cursor_close(c);
                return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
            }
            s->by = b;
        }
        /* the value: the erasure's seq, 8 bytes little-endian, then a hash */
        const unsigned char *p = v.mv_data;
        uint64_t by = 0;
        for (int i = 7; i >= 0; i--)
            by = by << 8 | p[i];
        memcpy(&s->seq[s->n], k.mv_data, 8);
        s->by[s->n++] = by;
    }
    mdb_cursor_close(c);
    return rc == MDB_NOTFOUND ? CSPH_ERR_OK
                              : hub_error_set(err, CSPH_ERR_IO, NULL,
                                              "cannot read the redacted records: %s",
                                              mdb_strerror(rc));
}

enum hub_err hub_erased_set_load_env(struct hub_erased_set *s, MDB_env *env,
                                     struct hub_error *err)
{
    MDB_txn *txn;
    memset(s, 0, sizeof *s);
    int rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return hub_error_set(err, CSPH_ERR_IO, NULL, "cannot read the redacted records: %s",
                             mdb_strerror(rc));
    enum hub_err e = hub_erased_set_load(s, txn, err);
    mdb_txn_abort(txn);
    return e;
}

uint64_t hub_erased_set_by(const struct hub_erased_set *s, uint64_t seq)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->seq[mid] == seq)
            return s->by[mid];
        if (s->seq[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

void hub_erased_set_free(struct hub_erased_set *s)
{
    free(s->seq);
    free(s->by);
    memset(s, 0, sizeof *s);
}

int hub_redacted_count_add(struct hub_redacted_count *c, const char *type, size_t len)
{
    if (len > 64)
        len = 64;
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->v[i].type) == len && !memcmp(c->v[i].type, type, len)) {
            c->v[i].n++;
            c->total++;
            return 0;
        }
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        struct hub_redacted_type *v = realloc(c->v, cap * sizeof *v);
        if (!v)
            return -1;
        c->v = v;
        c->cap = cap;
    }
    memcpy(c->v[c->n].type, type, len);
    c->v[c->n].type[len] = 0;
    c->v[c->n++].n = 1;
    c->total++;
    return 0;
}

uint64_t hub_redacted_count_of(const struct hub_redacted_count *c, const char *type)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->v[i].type, type))
            return c->v[i].n;
    return 0;
}

void hub_redacted_count_free(struct hub_redacted_count *c)
{
    free(c->v);
    memset(c, 0, sizeof *c);
}
