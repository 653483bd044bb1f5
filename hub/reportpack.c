/* reportpack.c: the report's reply packed (reportpriv.h): the head, a row
 * per indicator with its cells, RAG and direction of travel, and an
 * explanation's events. */
#include "reportpriv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "londontime.h"
#include "mpx.h"
#include "suppress.h"
#include "timefmt.h"
#include "wire.h"

/* ---- packing ------------------------------------------------------------ */

static void pack_cell(msgpack_packer *pk, const struct hub_cell *c, int64_t T)
{
    char buf[16];
    switch (c->kind) {
    case CSPH_CELL_INT: msgpack_pack_int64(pk, (int64_t)c->v); break;
    case CSPH_CELL_REAL: msgpack_pack_double(pk, c->v); break;
    case CSPH_CELL_SUPPRESSED:
        snprintf(buf, sizeof buf, "<%lld", (long long)T);
        hub_pack_str(pk, buf);
        break;
    case CSPH_CELL_HIDDEN: hub_pack_str(pk, "*"); break;
    default: msgpack_pack_nil(pk);
    }
}

static const char *rag_of(const struct hub_indicator *I, const struct hub_cell *t)
{
    if (t->kind != CSPH_CELL_INT && t->kind != CSPH_CELL_REAL)
        return NULL;
    double v = t->v;
    if (I->has_band) {
        if (v >= I->band_lo && v <= I->band_hi)
            return "green";
        return v >= I->band_lo - I->amber && v <= I->band_hi + I->amber ? "amber" : "red";
    }
    if (!I->has_target)
        return NULL;
    if (I->good > 0)
        return v >= I->target ? "green" : v >= I->target - I->amber ? "amber" : "red";
    return v <= I->target ? "green" : v <= I->target + I->amber ? "amber" : "red";
}

static const char *direction_of(const struct hub_indicator *I, const struct hub_cell *now,
                                const struct hub_cell *before)
{
    if ((now->kind != CSPH_CELL_INT && now->kind != CSPH_CELL_REAL) ||
        (before->kind != CSPH_CELL_INT && before->kind != CSPH_CELL_REAL))
        return NULL;
    if (now->v == before->v)
        return "same";
    int up = now->v > before->v;
    if (I->has_band) {
        double mid = (I->band_lo + I->band_hi) / 2;
        double dn = fabs(now->v - mid), db = fabs(before->v - mid);
        return dn < db ? "better" : dn > db ? "worse" : "same";
    }
    if (!I->good)
        return up ? "up" : "down";
    return (up ? 1 : -1) * I->good > 0 ? "better" : "worse";
}

static void pack_kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    hub_pack_str(pk, k);
    if (v)
        hub_pack_str(pk, v);
    else
        msgpack_pack_nil(pk);
}

static void pack_indicator(struct run *r, msgpack_packer *pk, size_t i)
{
    const struct hub_indicator *I = &r->ind->v[i];
    const struct row *R = &r->rows[i];
    int64_t T = r->ind->suppress_below;
    int nm = r->P.nm;
    int has_nr = !r->area && R->nr[0] != -1, has_unev = R->unev[0] != 0;
    uint32_t n = 13 + (uint32_t)I->has_baseline + (uint32_t)I->has_target + (uint32_t)I->has_band +
                 (uint32_t)(I->has_target || I->has_band) + (uint32_t)has_nr +
                 (uint32_t)has_unev;
    msgpack_pack_map(pk, n);
    pack_kv_str(pk, "name", I->name);
    pack_kv_str(pk, "title", I->title);
    pack_kv_str(pk, "measure", hub_ind_measure_name(I->measure));
    pack_kv_str(pk, "unit", hub_ind_unit_name(I->unit));
    pack_kv_str(pk, "good", I->good > 0 ? "up" : I->good < 0 ? "down" : "neither");
    if (I->has_baseline) {
        hub_pack_str(pk, "baseline");
        msgpack_pack_double(pk, I->baseline);
    }
    if (I->has_target) {
        hub_pack_str(pk, "target");
        msgpack_pack_double(pk, I->target);
    }
    if (I->has_band) {
        hub_pack_str(pk, "band");
        msgpack_pack_array(pk, 2);
        msgpack_pack_double(pk, I->band_lo);
        msgpack_pack_double(pk, I->band_hi);
    }
    if (I->has_target || I->has_band) {
        hub_pack_str(pk, "amber");
        msgpack_pack_double(pk, I->amber);
    }
    hub_pack_str(pk, "values");
    msgpack_pack_array(pk, (uint32_t)nm);
    for (int b = 0; b < nm; b++)
        pack_cell(pk, &R->c[0][b], T);
    hub_pack_str(pk, "total");
    pack_cell(pk, &R->total[0], T);
    hub_pack_str(pk, "last_year");
    msgpack_pack_array(pk, (uint32_t)nm);
    for (int b = 0; b < nm; b++)
        pack_cell(pk, &R->c[1][b], T);
    hub_pack_str(pk, "last_year_total");
    pack_cell(pk, &R->total[1], T);
    /* The change on last year, in the indicator's unit; hidden with either side. */
    hub_pack_str(pk, "change");
    const struct hub_cell *a = &R->total[0], *b = &R->total[1];
    if (hub_cell_hidden(a) || hub_cell_hidden(b))
        hub_pack_str(pk, "*");
    else if (a->kind == CSPH_CELL_NONE || b->kind == CSPH_CELL_NONE)
        msgpack_pack_nil(pk);
    else if (a->kind == CSPH_CELL_INT && b->kind == CSPH_CELL_INT)
        msgpack_pack_int64(pk, (int64_t)a->v - (int64_t)b->v);
    else
        msgpack_pack_double(pk, round1(a->v - b->v));
    const char *rag = rag_of(I, a);
    hub_pack_str(pk, "rag");
    if (rag)
        hub_pack_str(pk, rag);
    else if (hub_cell_hidden(a) && (I->has_target || I->has_band))
        hub_pack_str(pk, "*");
    else
        msgpack_pack_nil(pk);
    const char *dir = direction_of(I, a, b);
    hub_pack_str(pk, "direction");
    if (dir)
        hub_pack_str(pk, dir);
    else if (hub_cell_hidden(a) || hub_cell_hidden(b))
        hub_pack_str(pk, "*");
    else
        msgpack_pack_nil(pk);
    if (has_nr) {
        hub_pack_str(pk, "area_not_recorded");
        if (R->nr[0] == -2)
            pack_cell(pk, &(struct hub_cell){CSPH_CELL_SUPPRESSED, 0}, T);
        else
            msgpack_pack_int64(pk, R->nr[0]);
    }
    if (has_unev) { /* redacted records of its types it could not evaluate */
        hub_pack_str(pk, "redacted_not_evaluated");
        if (R->unev[0] == -2)
            pack_cell(pk, &(struct hub_cell){CSPH_CELL_SUPPRESSED, 0}, T);
        else
            msgpack_pack_int64(pk, R->unev[0]);
    }
    hub_pack_str(pk, "line");
    msgpack_pack_int(pk, I->line);
}

static void pack_day(msgpack_packer *pk, int y, int m, int d)
{
    char buf[16];
    snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, d);
    hub_pack_str(pk, buf);
}

static void pack_months(msgpack_packer *pk, const struct period *P, int k)
{
    char buf[16];
    msgpack_pack_array(pk, (uint32_t)P->nm);
    for (int b = 0; b < P->nm; b++) {
        month_label(P->mo0[k] + b, buf, sizeof buf);
        hub_pack_str(pk, buf);
    }
}

/* The pairs every reply carries: what it was computed from. */
uint32_t hub_report_pack_head(struct run *r, msgpack_packer *pk, const unsigned char link[16])
{
    char hex[33];
    for (int i = 0; i < 16; i++)
        snprintf(hex + 2 * i, 3, "%02x", link[i]);
    hub_pack_str(pk, "as_of");
    msgpack_pack_uint64(pk, r->p->as_of);
    hub_pack_str(pk, "chain");
    msgpack_pack_map(pk, 2);
    pack_kv_str(pk, "name", hub_store_chain_name(r->st));
    pack_kv_str(pk, "link", hex);
    hub_pack_str(pk, "indicators_digest");
    hub_pack_str(pk, r->ind->digest);
    hub_pack_str(pk, "from");
    pack_day(pk, r->p->from_y, r->p->from_m, r->p->from_d);
    hub_pack_str(pk, "to");
    pack_day(pk, r->p->to_y, r->p->to_m, r->p->to_d);
    hub_pack_str(pk, "area");
    if (r->area) {
        msgpack_pack_map(pk, 2);
        pack_kv_str(pk, "name", r->area->name);
        pack_kv_str(pk, "title", r->area->title);
    } else {
        msgpack_pack_nil(pk);
    }
    hub_pack_str(pk, "suppressed");
    if (r->p->suppress)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    hub_pack_str(pk, "suppress_below");
    msgpack_pack_int64(pk, r->ind->suppress_below);
    return 8;
}

uint32_t hub_report_pack(struct run *r, msgpack_packer *pk, uint64_t *returned)
{
    hub_pack_str(pk, "months");
    pack_months(pk, &r->P, 0);
    hub_pack_str(pk, "last_year_months");
    pack_months(pk, &r->P, 1);
    hub_pack_str(pk, "indicators");
    msgpack_pack_array(pk, (uint32_t)r->ind->n);
    for (size_t i = 0; i < r->ind->n; i++)
        pack_indicator(r, pk, i);
    /* The areas a caller may ask for, so that a program can offer the
     * choice (the console's report page) without a list of its own. */
    hub_pack_str(pk, "areas");
    msgpack_pack_array(pk, (uint32_t)r->ind->nareas);
    for (size_t i = 0; i < r->ind->nareas; i++) {
        msgpack_pack_map(pk, 2);
        pack_kv_str(pk, "name", r->ind->areas[i].name);
        pack_kv_str(pk, "title", r->ind->areas[i].title);
    }
    *returned = r->ind->n;
    return 4;
}

static int event_item(void *ctx, const struct hub_stored_event *e)
{
    msgpack_packer *pk = ctx;
    char occ[40], rec[40];
    csph_time_format(e->occurred_ms, occ);
    csph_time_format(e->received_ms, rec);
    msgpack_pack_map(pk, 5);
    pack_kv_str(pk, "kind", "event");
    hub_pack_str(pk, "seq");
    msgpack_pack_uint64(pk, e->seq);
    hub_pack_str(pk, "type");
    hub_pack_strn(pk, e->type, e->type_len);
    pack_kv_str(pk, "occurred_at", occ);
    pack_kv_str(pk, "received_at", rec);
    return 0;
}

/* The explanation: the events, alerts or people the month's figure
 * counted, with the figure itself (never suppressed: auditors only). */
uint32_t hub_report_pack_explain(struct run *r, msgpack_packer *pk, uint64_t *returned,
                             struct hub_error *err)
{
    const struct hub_indicator *I = &r->ind->v[r->p->explain];
    char buf[16];
    month_label(csph_month_ordinal(r->p->explain_y, (unsigned)r->p->explain_m), buf, sizeof buf);
    pack_kv_str(pk, "indicator", I->name);
    pack_kv_str(pk, "month", buf);
    hub_pack_str(pk, "value");
    pack_cell(pk, &r->rows[r->p->explain].c[0][r->ex_bucket], r->ind->suppress_below);
    size_t n = r->ex.n, shown = n < CSPH_REPORT_EXPLAIN_MAX ? n : CSPH_REPORT_EXPLAIN_MAX;
    const uint64_t *x = r->ex.v;
    hub_pack_str(pk, "truncated");
    if (shown < n)
        msgpack_pack_true(pk);
    else
        msgpack_pack_false(pk);
    hub_pack_str(pk, "items");
    /* people: a person (UINT64_MAX - id) then the seqs that made them count */
    uint32_t items = 0;
    for (size_t j = 0; j < shown; j++)
        items += I->measure != CSPH_IND_PEOPLE || x[j] > UINT64_MAX - UINT32_MAX - 1;
    msgpack_pack_array(pk, items);
    const struct ralert *A = r->alerts.v;
    for (size_t j = 0; j < shown; j++) {
        if (I->measure == CSPH_IND_PEOPLE) {
            if (x[j] <= UINT64_MAX - UINT32_MAX - 1)
                continue;
            size_t e = j + 1;
            while (e < n && x[e] <= UINT64_MAX - UINT32_MAX - 1)
                e++;
            msgpack_pack_map(pk, 3);
            pack_kv_str(pk, "kind", "person");
            pack_kv_str(pk, "person", hub_intern_str(&r->people, (uint32_t)(UINT64_MAX - x[j])));
            hub_pack_str(pk, "events");
            msgpack_pack_array(pk, (uint32_t)(e - j - 1));
            for (size_t q = j + 1; q < e; q++)
                msgpack_pack_uint64(pk, x[q]);
        } else if (ind_uses_alerts(I) && I->measure != CSPH_IND_DECISIONS) {
            size_t lo = 0, hi = r->alerts.n;
            while (lo < hi) {
                size_t mid = (lo + hi) / 2;
                if (A[mid].id < x[j])
                    lo = mid + 1;
                else
                    hi = mid;
            }
            const struct ralert *a = &A[lo];
            char occ[40];
            csph_time_format(a->occ_ms, occ);
            msgpack_pack_map(pk, 8);
            pack_kv_str(pk, "kind", "alert");
            hub_pack_str(pk, "id");
            msgpack_pack_uint64(pk, a->id);
            pack_kv_str(pk, "panel", a->panel >= 0 ? r->cfg->panels[a->panel].name : "?");
            pack_kv_str(pk, "rule", hub_intern_str(&r->rules, a->rule));
            pack_kv_str(pk, "key", hub_intern_str(&r->keys, a->key));
            hub_pack_str(pk, "raised_by");
            msgpack_pack_uint64(pk, a->anchor);
            pack_kv_str(pk, "occurred_at", occ);
            hub_pack_str(pk, "decided_by");
            if (a->decided_ms == NO_TIME)
                msgpack_pack_nil(pk);
            else
                msgpack_pack_uint64(pk, a->decided_seq);
        } else {
            enum hub_err rc = hub_store_get(r->st, x[j], event_item, pk, err);
            if (rc)
                return 0;
        }
    }
    *returned = items;
    return 5;
}

