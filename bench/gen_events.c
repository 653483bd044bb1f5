/* csphub-gen's event constructors: one planned event of each type
 * (gen_events.h). */
#include "gen_events.h"

#include <string.h>

#include "gen_people.h"
#include "genpriv.h"

struct ev *emit(struct gen *g, enum type t, enum source s, uint32_t occ)
{
    if (occ == UINT32_MAX || occ >= YEAR_DAYS * DAY_S || g->nev >= g->nvalid)
        return NULL;
    struct ev *e = &g->ev[g->nev++];
    memset(e, 0, sizeof *e);
    e->type = (uint8_t)t;
    e->src = (uint8_t)s;
    /* Case-management systems record minutes, not seconds. */
    e->occ = s == S_POLICE || s == S_HOUSING ? occ : occ - occ % 60;
    return e;
}

static void loc_addr(struct ev *e, uint32_t addr) { e->locmode = L_ADDR, e->loc = addr; }
void loc_home(const struct gen *g, struct ev *e, uint32_t p) { loc_addr(e, g->home[p]); }
void loc_street(struct ev *e, uint32_t lsoa) { e->locmode = L_STREET, e->loc = lsoa; }
void loc_site(struct ev *e, uint32_t site) { e->locmode = L_SITE, e->loc = site; }

uint8_t risk_of(int dash)
{
    return dash >= 14 ? RISK_HIGH : dash >= 10 ? RISK_MEDIUM : RISK_STANDARD;
}

struct ev *asb(struct gen *g, struct rng *r, enum source s, uint32_t occ, uint32_t victim,
               int cat, int vulnerable, int hate)
{
    struct ev *e = emit(g, T_ASB, s, occ);
    if (!e)
        return NULL;
    e->p1 = victim ? victim : 0;
    e->f[F_CAT] = (uint8_t)cat;
    /* The council and housing systems always carry the flags; the police
     * set them when they apply. */
    int flags = s != S_POLICE;
    e->f[F_VULN] = vulnerable ? 2 : flags ? 1 : 0;
    e->f[F_HATE] = hate ? 2 : flags ? 1 : 0;
    e->f[F_SUMMARY] = chance(r, s == S_POLICE ? 0.3 : 0.7)
                          ? (uint8_t)(1 + below(r, sizeof asb_summary / sizeof *asb_summary))
                          : 0;
    return e;
}

struct ev *call(struct gen *g, enum source s, uint32_t occ, uint32_t caller, int cat)
{
    struct ev *e = emit(g, T_CALL, s, occ);
    if (e) {
        e->p1 = caller;
        e->f[F_CAT] = (uint8_t)cat;
    }
    return e;
}

struct ev *case_update(struct gen *g, uint32_t occ, uint32_t subject, enum panel p, int status,
                       int risk)
{
    struct ev *e = emit(g, T_CASEUPD, panel_owner[p], occ);
    if (e) {
        e->p1 = subject;
        e->f[F_PANEL] = (uint8_t)p;
        e->f[F_STATUS] = (uint8_t)status;
        e->f[F_RISK] = (uint8_t)risk;
    }
    return e;
}

struct ev *referral(struct gen *g, enum source s, uint32_t occ, uint32_t subject, enum panel p)
{
    struct ev *e = emit(g, T_REFERRAL, s, occ);
    if (e) {
        e->p1 = subject;
        e->f[F_PANEL] = (uint8_t)p;
    }
    return e;
}

struct ev *concern(struct gen *g, struct rng *r, enum source s, uint32_t occ, uint32_t subject,
                   int kind)
{
    struct ev *e = emit(g, T_CONCERN, s, occ);
    if (e) {
        e->p1 = subject;
        e->f[F_KIND] = (uint8_t)kind;
        e->f[F_SUMMARY] = chance(r, 0.75) ? (uint8_t)(kind + 1) : 0;
    }
    return e;
}

struct ev *arrest(struct gen *g, struct rng *r, uint32_t occ, uint32_t subject, int offence,
                  uint32_t lsoa)
{
    struct ev *e = emit(g, T_ARREST, S_POLICE, occ);
    if (!e)
        return NULL;
    e->p1 = subject;
    e->f[F_OFFENCE] = (uint8_t)offence;
    uint32_t age = age_at(g, subject - 1, e->occ);
    e->f[F_AGE] = chance(r, 0.88) && age >= 10 && age <= 120 ? (uint8_t)age : 0;
    if (chance(r, 0.8))
        loc_street(e, lsoa);
    return e;
}

uint8_t age_or_absent(struct gen *g, uint32_t p1, uint32_t occ, struct rng *r, double pct)
{
    if (!p1 || !chance(r, pct))
        return ABSENT;
    uint32_t a = age_at(g, p1 - 1, occ);
    return a > 120 ? ABSENT : (uint8_t)a;
}

enum source asb_source(struct rng *r)
{
    static const unsigned w[] = {45, 35, 20};
    static const enum source s[] = {S_POLICE, S_COUNCIL, S_HOUSING};
    return s[WEIGHTED(r, w)];
}
