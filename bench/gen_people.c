/* csphub-gen's population: people, their ages and homes (gen_people.h). */
#include "gen_people.h"

#include "genpriv.h"

uint32_t age_at(const struct gen *g, uint32_t p, uint32_t occ)
{
    int64_t days = g->cal.start_day + occ / DAY_S - g->birth[p];
    return days < 0 ? 0 : (uint32_t)((double)days / 365.2425);
}

void set_age(struct gen *g, struct rng *r, uint32_t p, int age)
{
    g->birth[p] = g->cal.start_day - (int32_t)(age * 365.2425) - (int32_t)below(r, 300);
}

uint32_t take(struct gen *g, struct rng *r, int age_lo, int age_hi)
{
    uint32_t p;
    if (g->taken < g->reserved)
        p = g->perm[g->taken++];
    else /* cannot happen with scenarios_plan's reservation; stay valid anyway */
        p = g->perm[g->adult0 + below(r, g->adult1 - g->adult0)];
    set_age(g, r, p, between(r, age_lo, age_hi));
    return p;
}

/* A background person: a fifth of the contacts come from the pool's first
 * 10% (people agencies see again and again), the rest from anyone. */
static uint32_t pool_pick(const struct gen *g, struct rng *r, uint32_t lo, uint32_t hi)
{
    uint32_t n = hi - lo;
    if (chance(r, 0.2)) {
        uint32_t k = n / 10 ? n / 10 : 1;
        return g->perm[lo + below(r, k)];
    }
    return g->perm[lo + below(r, n)];
}
uint32_t adult(const struct gen *g, struct rng *r)
{
    return pool_pick(g, r, g->adult0, g->adult1);
}
uint32_t adult_upto(const struct gen *g, struct rng *r, uint32_t max_age)
{
    uint32_t p = adult(g, r);
    for (int i = 0; i < 4 && age_at(g, p, 0) > max_age && !chance(r, 0.1); i++)
        p = adult(g, r);
    return p;
}
uint32_t child(const struct gen *g, struct rng *r, int min_age)
{
    for (int i = 0; i < 40; i++) {
        uint32_t p = pool_pick(g, r, g->child0, g->child1);
        if (age_at(g, p, 0) >= (uint32_t)min_age)
            return p;
    }
    return pool_pick(g, r, g->child0, g->child1); /* rare: age checked by callers */
}

void build_people(struct gen *g, struct rng *r)
{
    uint32_t n = g->npeople;
    g->birth = xcalloc(n, sizeof *g->birth);
    g->home = xcalloc(n, sizeof *g->home);
    g->perm = xcalloc(n, sizeof *g->perm);
    for (uint32_t i = 0; i < n; i++)
        g->perm[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = below(r, i + 1), t = g->perm[i];
        g->perm[i] = g->perm[j];
        g->perm[j] = t;
    }
    for (uint32_t i = 0; i < n; i++)
        g->home[i] = below(r, g->naddr);
    /* Background pools after the scenario reservation: a fifth children. */
    uint32_t rest = n - g->reserved;
    g->child0 = g->reserved;
    g->child1 = g->child0 + rest / 5;
    g->adult0 = g->child1;
    g->adult1 = n;
    for (uint32_t k = g->child0; k < g->child1; k++)
        set_age(g, r, g->perm[k], between(r, 0, 16));
    static const unsigned aw[] = {14, 18, 17, 16, 14, 11, 7, 3}; /* 18-24, 25-34, ... 85+ */
    static const int lo[] = {18, 25, 35, 45, 55, 65, 75, 85}, hi[] = {24, 34, 44, 54, 64, 74, 84, 95};
    for (uint32_t k = g->adult0; k < g->adult1; k++) {
        int band = WEIGHTED(r, aw);
        set_age(g, r, g->perm[k], between(r, lo[band], hi[band]));
    }
    for (uint32_t k = 0; k < g->reserved; k++) /* overwritten by the scenario */
        set_age(g, r, g->perm[k], 40);
}
