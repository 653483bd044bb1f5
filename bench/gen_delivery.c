/* csphub-gen's delivery: when each event reaches the hub (gen_delivery.h). */
#include "gen_delivery.h"

#include <math.h>
#include <stdlib.h>

#include "genpriv.h"

const struct source_info src_info[S__N] = {
    [S_POLICE] = {D_REALTIME, C_UTC, 0, "OCC"},
    [S_COUNCIL] = {D_NIGHTLY, C_LOCAL, 5, "ASB"},
    [S_HOUSING] = {D_NIGHTLY, C_UTC_MS, 25, "HMS"},
    [S_HEALTH] = {D_WEEKLY, C_LOCAL, 60, "AE"},
    [S_IDVA] = {D_NIGHTLY, C_UTC, 40, "IDVA"},
    [S_CHILDREN] = {D_NIGHTLY, C_LOCAL, 15, "CSC"},
    [S_PROBATION] = {D_NIGHTLY, C_UTC, 50, "NDL"},
    [S_YOUTH] = {D_NIGHTLY, C_LOCAL, 35, "YJ"},
    [S_SCHOOL] = {D_NIGHTLY, C_LOCAL, 20, "CPOMS"},
};

/* Nightly extracts fail now and then (a full disk, an expired password) and
 * the missed nights arrive together when it is fixed. */
static void plan_outages(struct gen *g, struct rng *r)
{
    for (int s = 0; s < S__N; s++)
        for (uint32_t n = 0; n < NIGHTS; n++)
            if (chance(r, 0.02)) {
                uint32_t len = (uint32_t)between(r, 1, 6);
                for (uint32_t k = 0; k < len && n + k < NIGHTS - 1; k++)
                    g->fail[s][n + k] = 1;
                n += len;
            }
}

static uint32_t deliver_night(const struct gen *g, int s, uint32_t night)
{
    while (night < NIGHTS - 1 && g->fail[s][night])
        night++;
    return night * DAY_S + 2 * 3600 + src_info[s].extract_min * 60;
}

/* When e reaches the hub, seconds after --start. */
static uint32_t arrival(const struct gen *g, struct rng *r, const struct ev *e)
{
    uint32_t day = e->occ / DAY_S;
    switch (src_info[e->src].mode) {
    case D_REALTIME: {
        if (e->type == T_CALL)
            return e->occ + 15 + below(r, 165);
        if (e->type == T_ARREST)
            return e->occ + 600 + below(r, 4 * 3600);
        /* Crimes recorded later: five minutes to twelve hours, a few days. */
        if (chance(r, 0.03))
            return e->occ + (uint32_t)between(r, 1, 14) * DAY_S + below(r, DAY_S);
        return e->occ + (uint32_t)(300.0 * pow(144.0, unit(r)));
    }
    case D_NIGHTLY: {
        uint32_t lag = e->src == S_IDVA ? (uint32_t)between(r, 0, 5)
                       : e->src == S_PROBATION ? (uint32_t)between(r, 0, 2)
                                               : 0;
        return deliver_night(g, e->src, day + 1 + lag);
    }
    case D_WEEKLY: {
        uint32_t night = day + 1;
        while (weekday(&g->cal, (int)night) != 0)
            night++;
        return deliver_night(g, e->src, night);
    }
    }
    return e->occ;
}

void deliver(struct gen *g, struct rng *r, size_t *late, uint32_t *latest)
{
    plan_outages(g, r);
    *late = 0;
    *latest = 0;
    for (size_t i = 0; i < g->nev; i++) {
        struct ev *e = &g->ev[i];
        e->arr = arrival(g, r, e);
        uint32_t lag = e->arr - e->occ;
        if (lag > 2 * DAY_S)
            (*late)++;
        if (lag > *latest)
            *latest = lag;
    }
}

void resend(struct gen *g, struct rng *r, size_t ndup, size_t nvalid)
{
    for (size_t k = 0; k < ndup; k++) {
        uint32_t orig = (uint32_t)below(r, (uint32_t)nvalid);
        struct ev *e = &g->ev[g->nev++];
        *e = g->ev[orig];
        e->resend = 1;
        e->ref = orig;
        e->arr = g->ev[orig].arr +
                 (src_info[e->src].mode == D_REALTIME || chance(r, 0.7) ? 5 + below(r, 600)
                                                                        : DAY_S);
    }
}

static int cmp_key(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    if (x[0] != y[0])
        return x[0] < y[0] ? -1 : 1;
    return x[1] < y[1] ? -1 : x[1] > y[1];
}

uint64_t *arrival_order(const struct gen *g)
{
    uint64_t *keys = xcalloc(g->nev * 2, sizeof *keys);
    for (size_t i = 0; i < g->nev; i++) {
        keys[2 * i] = (uint64_t)g->ev[i].arr << 32 | g->ev[i].occ;
        keys[2 * i + 1] = i;
    }
    qsort(keys, g->nev, 2 * sizeof *keys, cmp_key);
    return keys;
}
