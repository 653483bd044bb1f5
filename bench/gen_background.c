/* csphub-gen's background: one-off contacts in realistic proportions
 * (gen_background.h). */
#include "gen_background.h"

#include "gen_borough.h"
#include "gen_events.h"
#include "gen_people.h"
#include "genpriv.h"

void background(struct gen *g, struct rng *r)
{
    static const unsigned tw[T__N] = {[T_ASB] = 240, [T_CALL] = 220, [T_DA] = 80,
                                      [T_ARREST] = 100, [T_VIOL] = 90, [T_HATE] = 30,
                                      [T_MISSING] = 40, [T_CONCERN] = 80, [T_REFERRAL] = 5,
                                      [T_CASEUPD] = 45, [T_CRR] = 1};
    enum type t = (enum type)WEIGHTED(r, tw);
    int day = pick_day(&g->cal, r, t);
    struct ev *e = NULL;
    switch (t) {
    case T_ASB: {
        static const unsigned cw[] = {35, 45, 20};
        int cat = WEIGHTED(r, cw);
        uint32_t v = cat != 2 && chance(r, 0.7) ? adult(g, r) + 1 : 0;
        e = asb(g, r, asb_source(r), at(&g->cal, r, day, H_EVENING), v, cat, v && chance(r, 0.06),
                v && chance(r, 0.015));
        if (e) {
            if (v && chance(r, 0.8))
                loc_home(g, e, v - 1);
            else
                loc_street(e, street_lsoa(g, r));
        }
        break;
    }
    case T_CALL: {
        static const unsigned cw[] = {22, 10, 38, 15, 15};
        e = call(g, chance(r, 0.75) ? S_POLICE : S_COUNCIL, at(&g->cal, r, day, H_EVENING),
                 adult(g, r) + 1, WEIGHTED(r, cw));
        if (e && chance(r, 0.6)) {
            if (chance(r, 0.5))
                loc_home(g, e, e->p1 - 1);
            else
                loc_street(e, street_lsoa(g, r));
        }
        break;
    }
    case T_DA: {
        static const unsigned sw[] = {70, 20, 10};
        enum source s = (enum source[]){S_POLICE, S_IDVA, S_HEALTH}[WEIGHTED(r, sw)];
        e = emit(g, T_DA, s, at(&g->cal, r, day, H_NIGHT));
        if (!e)
            break;
        e->p1 = adult_upto(g, r, 60) + 1;
        e->p2 = chance(r, 0.75) ? adult_upto(g, r, 55) + 1 : 0;
        if (e->p2 == e->p1)
            e->p2 = 0;
        /* Most incidents score low; about one in twelve is high risk. */
        int dash = chance(r, 0.9) ? (int)(unit(r) * unit(r) * 14.0) : between(r, 12, 24);
        int has = s == S_IDVA || (s == S_POLICE && chance(r, 0.6));
        e->f[F_DASH] = has ? (uint8_t)dash : ABSENT;
        e->f[F_RISK] = has || chance(r, 0.4) ? risk_of(dash) : RISK_NONE;
        e->f[F_KIDS] = chance(r, 0.4) ? (uint8_t)between(r, 1, 2) : 0;
        if (s == S_POLICE)
            loc_home(g, e, e->p1 - 1);
        break;
    }
    case T_ARREST: {
        static const unsigned ow[] = {5, 2, 2, 3, 12, 3, 15, 3, 3, 5, 15, 8, 1, 15, 8};
        int off = WEIGHTED(r, ow);
        uint32_t p = chance(r, 0.15) ? child(g, r, 10) : adult_upto(g, r, 45);
        if (age_at(g, p, 0) < 10)
            p = adult_upto(g, r, 45);
        e = arrest(g, r, at(&g->cal, r, day, H_ANY), p + 1, off, street_lsoa(g, r));
        break;
    }
    case T_VIOL: {
        enum source s = chance(r, 0.8) ? S_POLICE : S_HEALTH;
        e = emit(g, T_VIOL, s, at(&g->cal, r, day, H_NIGHT));
        if (!e)
            break;
        static const unsigned ww[] = {5, 1, 22, 72};
        static const unsigned iw[] = {28, 63, 9, 0};
        e->f[F_WEAPON] = (uint8_t)WEIGHTED(r, ww);
        e->f[F_INJURY] = (uint8_t)WEIGHTED(r, iw);
        e->p1 = chance(r, 0.8) ? adult_upto(g, r, 60) + 1 : 0;
        e->f[F_VAGE] = age_or_absent(g, e->p1, e->occ, r, 0.9);
        e->p2 = s == S_POLICE && chance(r, 0.6) ? adult_upto(g, r, 45) + 1 : 0;
        if (e->p2 == e->p1)
            e->p2 = 0;
        e->f[F_PAGE] = age_or_absent(g, e->p2, e->occ, r, 0.8);
        e->f[F_GROUP] = s == S_POLICE && chance(r, 0.4) ? (chance(r, 0.2) ? 2 : 1) : 0;
        if (s == S_POLICE || chance(r, 0.3))
            loc_street(e, street_lsoa(g, r));
        break;
    }
    case T_HATE: {
        static const unsigned hw[] = {60, 25, 15};
        e = emit(g, T_HATE, (enum source[]){S_POLICE, S_COUNCIL, S_HOUSING}[WEIGHTED(r, hw)],
                 at(&g->cal, r, day, H_EVENING));
        if (!e)
            break;
        static const unsigned sw[] = {45, 20, 15, 12, 5, 3};
        e->f[F_STRAND] = (uint8_t)WEIGHTED(r, sw);
        e->p1 = chance(r, 0.8) ? adult(g, r) + 1 : 0;
        if (e->p1 && chance(r, 0.7))
            loc_home(g, e, e->p1 - 1);
        else
            loc_street(e, street_lsoa(g, r));
        break;
    }
    case T_MISSING: {
        uint32_t c = child(g, r, 10);
        e = emit(g, T_MISSING, chance(r, 0.7) ? S_POLICE : S_CHILDREN,
                 at(&g->cal, r, day, H_MISSING));
        if (!e)
            break;
        e->p1 = c + 1;
        uint32_t age = age_at(g, c, e->occ);
        e->f[0] = (uint8_t)(age > 17 ? 17 : age);
        break;
    }
    case T_CONCERN: {
        static const unsigned kw[] = {25, 10, 3, 380, 140, 70, 280};
        int kind = WEIGHTED(r, kw);
        int kid = kind <= K_SEXUAL || (kind == K_OTHER && chance(r, 0.3));
        uint32_t p = kid ? child(g, r, 10) : adult(g, r);
        static const enum source adult_src[] = {S_HEALTH, S_POLICE, S_HOUSING, S_PROBATION,
                                                S_COUNCIL};
        static const enum source kid_src[] = {S_CHILDREN, S_SCHOOL, S_POLICE, S_HEALTH, S_YOUTH};
        enum source s = kid ? kid_src[below(r, 5)] : adult_src[below(r, 5)];
        e = concern(g, r, s, at(&g->cal, r, day, H_OFFICE), p + 1, kind);
        break;
    }
    case T_REFERRAL: {
        static const unsigned pw[P__N] = {25, 15, 5, 5, 10, 8, 12, 0, 5, 10};
        static const enum source by[P__N] = {S_IDVA,   S_HOUSING, S_COUNCIL, S_POLICE,
                                             S_PROBATION, S_YOUTH, S_CHILDREN, S_COUNCIL,
                                             S_POLICE, S_PROBATION};
        int p = WEIGHTED(r, pw);
        uint32_t who = p == P_MACE ? child(g, r, 10) : adult(g, r);
        e = referral(g, by[p], at(&g->cal, r, day, H_OFFICE), who + 1, (enum panel)p);
        break;
    }
    case T_CASEUPD: {
        static const unsigned pw[P__N] = {25, 15, 15, 5, 12, 8, 8, 4, 2, 6};
        static const unsigned stw[] = {35, 40, 25};
        int p = WEIGHTED(r, pw), st = WEIGHTED(r, stw);
        uint32_t who = p == P_MACE ? child(g, r, 10) : adult(g, r);
        e = case_update(g, at(&g->cal, r, day, H_OFFICE), who + 1, (enum panel)p, st,
                        st != ST_CLOSED && chance(r, 0.6) ? between(r, 1, 3) : RISK_NONE);
        break;
    }
    case T_CRR: {
        uint32_t v = adult(g, r);
        e = emit(g, T_CRR, S_COUNCIL, at(&g->cal, r, day, H_OFFICE));
        if (e) {
            e->p1 = v + 1;
            e->f[F_SUMMARY] = (uint8_t)(1 + below(r, sizeof crr_summary / sizeof *crr_summary));
            if (chance(r, 0.5))
                loc_home(g, e, v);
        }
        break;
    }
    default:
        break;
    }
}

void broken_rows(struct gen *g, struct rng *r, size_t nbroken)
{
    static const unsigned bw[B__N] = {0, 22, 18, 20, 15, 17, 8};
    g->nvalid = g->nvalid + nbroken;
    while (g->nev < g->nvalid) {
        size_t at_ = g->nev;
        background(g, r);
        if (g->nev == at_)
            continue;
        struct ev *e = &g->ev[at_];
        e->broken = (uint8_t)WEIGHTED(r, bw);
        /* A broken person or value needs the field there to break. */
        if (!e->p1)
            e->p1 = adult(g, r) + 1;
    }
}
