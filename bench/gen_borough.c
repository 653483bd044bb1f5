/* csphub-gen's borough: its LSOAs, wards, addresses, sites and hotspots
 * (gen_borough.h). */
#include "gen_borough.h"

#include <math.h>
#include <stdlib.h>

#include "genpriv.h"

void build_borough(struct gen *g, struct rng *r)
{
    /* LSOA codes come in runs per local authority: a block of E01 codes,
     * and for a larger area a few blocks. */
    g->lsoa_code = xcalloc(g->nlsoa, sizeof *g->lsoa_code);
    g->lsoa_lat = xcalloc(g->nlsoa, sizeof *g->lsoa_lat);
    g->lsoa_lon = xcalloc(g->nlsoa, sizeof *g->lsoa_lon);
    int gaps = g->nlsoa <= 15000; /* room for gaps within E01000001..E01035999 */
    uint32_t room = 35000 - (gaps ? 2 * g->nlsoa : g->nlsoa);
    uint32_t code = 1000 + below(r, room > 1 ? room : 1);
    for (uint32_t i = 0; i < g->nlsoa; i++) {
        code += gaps && chance(r, 0.1) ? 2 : 1;
        g->lsoa_code[i] = code;
    }
    /* LSOAs on a rough grid around a town centre, about 400 m apart. */
    int32_t lat0 = 50800000 + (int32_t)below(r, 4000000), lon0 = -2900000 + (int32_t)below(r, 3000000);
    uint32_t side = (uint32_t)ceil(sqrt((double)g->nlsoa));
    for (uint32_t i = 0; i < g->nlsoa; i++) {
        g->lsoa_lat[i] = lat0 + (int32_t)(i / side) * 3600 + (int32_t)below(r, 1500);
        g->lsoa_lon[i] = lon0 + (int32_t)(i % side) * 5800 + (int32_t)below(r, 2500);
    }
    g->ward_base = 1000 + below(r, 60000);
    g->nhot = g->nlsoa / 40 > 2 ? g->nlsoa / 40 : 2;
    if (g->nhot > g->nlsoa)
        g->nhot = g->nlsoa;
    g->hot = xcalloc(g->nhot, sizeof *g->hot);
    for (uint32_t i = 0; i < g->nhot; i++)
        g->hot[i] = below(r, g->nlsoa);
    double *w = xcalloc(g->nlsoa, sizeof *w);
    for (uint32_t i = 0; i < g->nlsoa; i++) {
        double u1 = unit(r), u2 = unit(r);
        double z = sqrt(-2.0 * log(u1 > 0 ? u1 : 1e-300)) * cos(6.283185307179586 * u2);
        w[i] = exp(0.6 * z);
    }
    for (uint32_t i = 0; i < g->nhot; i++)
        w[g->hot[i]] *= 2.5;
    g->lsoa_cum = xcalloc(g->nlsoa, sizeof *g->lsoa_cum);
    double acc = 0;
    for (uint32_t i = 0; i < g->nlsoa; i++)
        g->lsoa_cum[i] = acc += w[i];
    free(w);
    g->naddr = g->npeople / 2 + 1;
    g->addr_lsoa = xcalloc(g->naddr, sizeof *g->addr_lsoa);
    for (uint32_t i = 0; i < g->naddr; i++)
        g->addr_lsoa[i] = below(r, g->nlsoa);
    g->uprn_base = 100000000000ULL + (uint64_t)below(r, 90000) * 1000000ULL;
    g->site_base = 200000000000ULL + (uint64_t)below(r, 90000) * 1000000ULL;
    g->nsite = g->nlsoa / 5 > 4 ? g->nlsoa / 5 : 4;
    g->site_lsoa = xcalloc(g->nsite, sizeof *g->site_lsoa);
    for (uint32_t i = 0; i < g->nsite; i++)
        g->site_lsoa[i] = i < g->nhot ? g->hot[i] : below(r, g->nlsoa);
    g->nward = g->nlsoa / 8 ? g->nlsoa / 8 : 1;
}

uint32_t street_lsoa(const struct gen *g, struct rng *r)
{
    double x = unit(r) * g->lsoa_cum[g->nlsoa - 1];
    uint32_t lo = 0, hi = g->nlsoa - 1;
    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (g->lsoa_cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}
