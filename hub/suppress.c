#include "suppress.h"

int hub_cell_hidden(const struct hub_cell *c)
{
    return c->kind == CSPH_CELL_SUPPRESSED || c->kind == CSPH_CELL_HIDDEN;
}

void hub_suppress_counts(struct hub_cell *c, int nm, struct hub_cell *total, int64_t T)
{
    for (int b = 0; b < nm; b++)
        if (c[b].kind == CSPH_CELL_INT && c[b].v > 0 && c[b].v < T)
            c[b].kind = CSPH_CELL_SUPPRESSED;
    if (total->kind == CSPH_CELL_INT && total->v > 0 && total->v < T)
        total->kind = CSPH_CELL_SUPPRESSED;
    for (;;) {
        int nh = 0;
        double sum = 0;
        for (int b = 0; b < nm; b++)
            if (hub_cell_hidden(&c[b])) {
                nh++;
                sum += c[b].v;
            }
        /* Nothing hidden, or nothing to work it out from, or only a sum of
         * two or more that is itself not small. */
        if (!nh || hub_cell_hidden(total) || (nh >= 2 && sum >= T))
            return;
        int pick = -1;
        for (int b = 0; b < nm; b++)
            if (!hub_cell_hidden(&c[b]) && (pick < 0 || c[b].v < c[pick].v))
                pick = b;
        if (pick < 0) {
            total->kind = CSPH_CELL_HIDDEN;
            return;
        }
        c[pick].kind = CSPH_CELL_HIDDEN;
    }
}
