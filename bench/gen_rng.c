/* csphub-gen's random numbers: seeding, the part not worth inlining (gen_rng.h). */
#include "gen_rng.h"

void rng_seed(struct rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * 0xd1b54a32d192ed03ULL);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix(&x);
}
