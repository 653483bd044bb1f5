/* csphub-gen's scenarios: the cases each panel exists for
 * (gen_scenarios.h). */
#include "gen_scenarios.h"

#include "gen_borough.h"
#include "gen_events.h"
#include "gen_people.h"
#include "genpriv.h"

const struct scenario_info sc_info[SC__N] = {
    [SC_ASB_REPEAT] = {"repeat ASB victims and callers", 30, 6, 1},
    [SC_ASB_LOCATION] = {"ASB at one place, many victims", 5, 2, 8},
    [SC_DA] = {"escalating domestic abuse", 30, 6, 2},
    [SC_YOUTH] = {"youth groups and knives", 8, 3, 12},
    [SC_MISSING] = {"missing and exploited children", 15, 4, 1},
    [SC_HATE] = {"repeat hate against a household", 10, 3, 2},
    [SC_PREVENT] = {"Prevent concerns", 4, 2, 1},
    [SC_IOM] = {"prolific neighbourhood offenders", 12, 3, 1},
    [SC_HOTSPOT] = {"hotspot bursts", 3, 1, 0},
};

/* Sorted random days in [d0, d0 + span]. */
static void spread_days(struct rng *r, int *days, int n, int d0, int span)
{
    for (int i = 0; i < n; i++)
        days[i] = d0 + (int)below(r, (uint32_t)span + 1);
    for (int i = 1; i < n; i++) /* insertion sort: n is small */
        for (int j = i; j > 0 && days[j - 1] > days[j]; j--) {
            int t = days[j];
            days[j] = days[j - 1];
            days[j - 1] = t;
        }
}

/* A victim who reports ASB at home to the police, the council and the
 * landlord, and keeps calling: asb-case-review (3 reports in 183 days),
 * community-marac (3 and 10 ASB calls in 168 days; 2 reports while
 * vulnerable), sometimes a hate flag, an ASB case review application, and
 * the panels' case updates (opened, re-risked, closed). */
static void sc_asb_repeat(struct gen *g, struct rng *r, int forced)
{
    uint32_t v = take(g, r, forced ? 74 : 22, forced ? 74 : 88) + 1;
    if (forced)
        g->textbook[SC_ASB_REPEAT] = v;
    int vulnerable = forced || chance(r, 0.35);
    int nrep = forced ? 4 : chance(r, 0.7) ? between(r, 3, 7) : between(r, 1, 2);
    double u = unit(r);
    int ncall = forced ? 11 : u < 0.2 ? between(r, 10, 14) : u < 0.65 ? between(r, 3, 6)
                                                                      : between(r, 0, 2);
    int span = forced ? 120 : between(r, 40, 160);
    int d0 = forced ? (int)below(r, 120) : (int)below(r, YEAR_DAYS - (unsigned)span);
    int cat = chance(r, 0.6) ? 0 : 1;
    int hate_at = forced ? 1 : chance(r, 0.12) ? (int)below(r, (uint32_t)nrep) : -1;
    int days[16];
    spread_days(r, days, nrep, d0, span);
    uint32_t third = UINT32_MAX, last = 0;
    for (int i = 0; i < nrep; i++) {
        /* The forced case reports to all three agencies: no system but the
         * hub sees more than two. */
        enum source s = forced ? (enum source[]){S_POLICE, S_COUNCIL, S_HOUSING, S_POLICE}[i]
                               : asb_source(r);
        struct ev *e = asb(g, r, s, at(&g->cal, r, days[i], H_EVENING), v, cat,
                           vulnerable && (s != S_POLICE || chance(r, 0.6) || forced), i == hate_at);
        if (!e)
            continue;
        loc_home(g, e, v - 1);
        if (i == 2)
            third = e->occ;
        last = e->occ;
    }
    spread_days(r, days, ncall, d0 > 10 ? d0 - 10 : 0, span < 150 ? span + 10 : 160);
    for (int i = 0; i < ncall; i++) {
        struct ev *e = call(g, chance(r, 0.65) ? S_POLICE : S_COUNCIL,
                            at(&g->cal, r, days[i], H_EVENING), v, CALL_ASB);
        if (e && chance(r, 0.5))
            loc_home(g, e, v - 1);
    }
    if (third != UINT32_MAX) {
        int tday = (int)(third / DAY_S);
        if (forced || chance(r, 0.6)) {
            case_update(g, at(&g->cal, r, tday + between(r, 3, 10), H_OFFICE), v, P_ACR, ST_OPEN,
                        RISK_MEDIUM);
            if (chance(r, 0.5))
                case_update(g, at(&g->cal, r, tday + between(r, 14, 28), H_OFFICE), v, P_ACR,
                            ST_REVIEWED, chance(r, 0.3) ? RISK_HIGH : RISK_MEDIUM);
            if (chance(r, 0.35))
                case_update(g, at(&g->cal, r, (int)(last / DAY_S) + between(r, 30, 80), H_OFFICE),
                            v, P_ACR, ST_CLOSED, RISK_NONE);
        }
        if (forced || chance(r, 0.25)) {
            struct ev *e =
                emit(g, T_CRR, S_COUNCIL, at(&g->cal, r, tday + between(r, 7, 40), H_OFFICE));
            if (e) {
                e->p1 = v;
                e->f[F_SUMMARY] = (uint8_t)(1 + below(r, sizeof crr_summary / sizeof *crr_summary));
                if (chance(r, 0.6))
                    loc_home(g, e, v - 1);
            }
        }
    }
    if (ncall >= 3) {
        int cday = d0 + span / 2;
        if (chance(r, 0.5))
            case_update(g, at(&g->cal, r, cday + between(r, 5, 20), H_OFFICE), v, P_CMARAC, ST_OPEN,
                        ncall >= 10 ? RISK_HIGH : RISK_MEDIUM);
        if (chance(r, 0.15))
            referral(g, S_HOUSING, at(&g->cal, r, cday, H_OFFICE), v, P_CMARAC);
        /* Re-risking: the case closed and then the calls came back. */
        if (chance(r, 0.1)) {
            case_update(g, at(&g->cal, r, cday + 40, H_OFFICE), v, P_CMARAC, ST_CLOSED, RISK_NONE);
            case_update(g, at(&g->cal, r, cday + 70, H_OFFICE), v, P_CMARAC, ST_OPEN, RISK_HIGH);
        }
    }
}

/* Several different people reporting ASB at one block, park or parade:
 * asb-case-review.location (5 distinct victims in 183 days). */
static void sc_asb_location(struct gen *g, struct rng *r, int forced, unsigned inst)
{
    uint32_t site = (inst * 7 + below(r, g->nsite)) % g->nsite;
    if (forced)
        g->textbook[SC_ASB_LOCATION] = site;
    int nv = forced ? 6 : chance(r, 0.75) ? between(r, 5, 8) : 4;
    int span = between(r, 30, 150);
    int d0 = forced ? (int)below(r, 150) : (int)below(r, YEAR_DAYS - (unsigned)span);
    for (int i = 0; i < nv; i++) {
        uint32_t v = take(g, r, 19, 80) + 1;
        int nrep = chance(r, 0.6) ? 1 : 2;
        for (int k = 0; k < nrep; k++) {
            struct ev *e = asb(g, r, asb_source(r),
                               at(&g->cal, r, d0 + (int)below(r, (uint32_t)span + 1), H_EVENING), v,
                               chance(r, 0.5), 0, 0);
            if (e)
                loc_site(e, site);
        }
    }
    for (int k = between(r, 0, 3); k > 0; k--) {
        struct ev *e = asb(g, r, S_COUNCIL,
                           at(&g->cal, r, d0 + (int)below(r, (uint32_t)span + 1), H_EVENING), 0,
                           chance(r, 0.5) ? 2 : 1, 0, 0);
        if (e)
            loc_site(e, site);
    }
}

/* Domestic abuse that escalates: incidents closer together, DASH scores
 * rising until some cross 14 (marac.high-risk); 3 in 12 months
 * (marac.escalation); a further incident after a MARAC alert (marac.repeat).
 * The IDVA and A&E record some incidents too; referrals and case updates
 * follow the MARAC. */
static void sc_da(struct gen *g, struct rng *r, int forced)
{
    uint32_t v = take(g, r, 18, 62) + 1;
    uint32_t perp = take(g, r, 19, 60) + 1;
    if (forced)
        g->textbook[SC_DA] = v;
    static const unsigned kw[] = {10, 25, 25, 20, 12, 8};
    int k = forced ? 4 : 1 + WEIGHTED(r, kw);
    int escalating = forced || chance(r, 0.55);
    int dash = forced ? 6 : escalating ? between(r, 3, 10) : between(r, 1, 9);
    int gap = between(r, 40, 110);
    int day = forced ? (int)below(r, 60) : (int)below(r, 200);
    int kids = chance(r, 0.35);
    uint32_t high_day = UINT32_MAX;
    int closed = 0;
    for (int i = 0; i < k; i++) {
        if (i > 0) {
            day += gap;
            gap = gap * 7 / 10 > 7 ? gap * 7 / 10 : 7;
            dash += escalating ? (forced ? (int[]){0, 4, 5, 3}[i] : between(r, 2, 5))
                               : between(r, -2, 2);
            dash = dash < 0 ? 0 : dash > 27 ? 27 : dash;
        }
        enum source s = i == 0 || forced ? S_POLICE
                                         : (enum source[]){S_POLICE, S_POLICE, S_POLICE, S_IDVA,
                                                           S_IDVA, S_HEALTH}[below(r, 6)];
        uint32_t occ = at(&g->cal, r, day, H_NIGHT);
        if (s == S_POLICE && (forced || chance(r, 0.6)) && occ != UINT32_MAX && occ > 900) {
            struct ev *c = call(g, S_POLICE, occ - 300 - below(r, 600), v, CALL_DOMESTIC);
            if (c && chance(r, 0.7))
                loc_home(g, c, v - 1);
        }
        struct ev *e = emit(g, T_DA, s, occ);
        if (!e)
            break;
        e->p1 = v;
        e->p2 = s == S_HEALTH && chance(r, 0.6) ? 0 : perp;
        uint8_t risk = risk_of(dash);
        if (!forced && risk == RISK_MEDIUM && chance(r, 0.1))
            risk = RISK_HIGH; /* high on professional judgement */
        int has_dash = s == S_IDVA || (s == S_POLICE && (forced || chance(r, 0.85)));
        e->f[F_DASH] = has_dash ? (uint8_t)dash : ABSENT;
        e->f[F_RISK] = s == S_HEALTH && chance(r, 0.5) ? RISK_NONE : risk;
        e->f[F_KIDS] = s == S_POLICE && chance(r, 0.7) ? (uint8_t)(kids ? 2 : 1) : 0;
        if (s == S_POLICE)
            loc_home(g, e, v - 1);
        int high = (has_dash && dash >= 14) || e->f[F_RISK] == RISK_HIGH;
        if (high && high_day == UINT32_MAX) {
            high_day = (uint32_t)day;
            if (forced || chance(r, 0.5))
                referral(g, S_IDVA, at(&g->cal, r, day + between(r, 1, 7), H_OFFICE), v, P_MARAC);
            if (forced || chance(r, 0.6)) {
                case_update(g, at(&g->cal, r, day + between(r, 2, 10), H_OFFICE), v, P_MARAC,
                            ST_OPEN, RISK_HIGH);
                case_update(g, at(&g->cal, r, day + between(r, 14, 28), H_OFFICE), v, P_MARAC,
                            ST_REVIEWED, chance(r, 0.7) ? RISK_HIGH : RISK_MEDIUM);
                if (!forced && chance(r, 0.4)) {
                    case_update(g, at(&g->cal, r, day + between(r, 30, 60), H_OFFICE), v, P_MARAC,
                                ST_CLOSED, RISK_NONE);
                    closed = 1;
                }
            }
        } else if (high_day != UINT32_MAX && closed) {
            /* Abuse resumed after the case closed: re-opened at high risk. */
            case_update(g, at(&g->cal, r, day + between(r, 1, 5), H_OFFICE), v, P_MARAC, ST_OPEN,
                        RISK_HIGH);
            closed = 0;
        }
    }
}

/* A group of young people in one area: knife and serious-injury incidents
 * (sgv.weapon), weapon possession arrests (sgv.possession), A&E recording
 * the injured, exploitation concerns for the under-18s, referrals. */
static void sc_youth(struct gen *g, struct rng *r, int forced, unsigned inst)
{
    int m = forced ? 4 : between(r, 3, 6);
    uint32_t member[6];
    for (int i = 0; i < m; i++)
        member[i] = take(g, r, 13, 22) + 1;
    if (forced)
        g->textbook[SC_YOUTH] = member[0];
    uint32_t area = chance(r, 0.5) ? g->hot[inst % g->nhot] : below(r, g->nlsoa);
    int ni = forced ? 3 : between(r, 2, 5);
    int span = between(r, 60, 200);
    int d0 = forced ? (int)below(r, 120) : (int)below(r, YEAR_DAYS - (unsigned)span);
    int days[8];
    spread_days(r, days, ni, d0, span);
    for (int i = 0; i < ni; i++) {
        static const unsigned ww[] = {70, 3, 27};
        int weapon = forced ? W_KNIFE : WEIGHTED(r, ww);
        static const unsigned iw[] = {15, 45, 38, 2};
        int injury = WEIGHTED(r, iw);
        uint32_t perp = forced ? member[0] : member[below(r, (uint32_t)m)];
        /* Mostly a rival is hurt, sometimes one of the group. */
        uint32_t victim = chance(r, 0.7) ? take(g, r, 14, 22) + 1 : member[below(r, (uint32_t)m)];
        if (victim == perp)
            victim = take(g, r, 14, 22) + 1;
        uint32_t occ = at(&g->cal, r, days[i], H_NIGHT);
        enum source s = chance(r, 0.8) || forced ? S_POLICE : S_HEALTH;
        struct ev *e = emit(g, T_VIOL, s, occ);
        if (!e)
            break;
        e->p1 = victim;
        e->f[F_WEAPON] = (uint8_t)weapon;
        e->f[F_INJURY] = (uint8_t)injury;
        e->f[F_VAGE] = age_or_absent(g, victim, e->occ, r, forced ? 1.0 : 0.9);
        if (s == S_POLICE) {
            e->p2 = perp;
            e->f[F_PAGE] = age_or_absent(g, perp, e->occ, r, forced ? 1.0 : 0.85);
            e->f[F_GROUP] = chance(r, 0.85) ? 2 : 0;
            loc_street(e, area);
            /* The same stabbing, seen by A&E: a different agency's record. */
            if (injury >= I_SERIOUS && chance(r, 0.4)) {
                struct ev *h = emit(g, T_VIOL, S_HEALTH, e->occ + 1800 + below(r, 5400));
                if (h) {
                    h->p1 = victim;
                    h->f[F_WEAPON] = (uint8_t)weapon;
                    h->f[F_INJURY] = (uint8_t)injury;
                    h->f[F_VAGE] = age_or_absent(g, victim, h->occ, r, 1.0);
                    h->f[F_PAGE] = ABSENT;
                }
            }
        } else {
            e->f[F_PAGE] = ABSENT;
        }
    }
    int na = forced ? 2 : between(r, 0, 3);
    for (int i = 0; i < na; i++) {
        uint32_t p = member[below(r, (uint32_t)m)];
        static const unsigned ow[] = {60, 20, 20};
        int off = forced ? O_WEAPON : (int[]){O_WEAPON, O_VIOL_SER, O_DRUG_SUP}[WEIGHTED(r, ow)];
        struct ev *e = arrest(g, r, at(&g->cal, r, d0 + (int)below(r, (uint32_t)span + 1), H_NIGHT),
                              p, off, area);
        if (e && forced && !e->f[F_AGE])
            e->f[F_AGE] = (uint8_t)age_at(g, p - 1, e->occ); /* the textbook case gives it */
    }
    for (int i = 0; i < m; i++) {
        uint32_t p = member[i];
        if (age_at(g, p - 1, (uint32_t)d0 * DAY_S) < 18 && chance(r, 0.25))
            concern(g, r, chance(r, 0.5) ? S_YOUTH : S_SCHOOL,
                    at(&g->cal, r, d0 + between(r, 0, span), H_OFFICE), p, K_CRIMINAL);
    }
    if (chance(r, 0.4))
        referral(g, S_YOUTH, at(&g->cal, r, d0 + span / 2, H_OFFICE), member[0], P_SGV);
    if (chance(r, 0.4))
        case_update(g, at(&g->cal, r, d0 + span / 2 + 14, H_OFFICE), member[0], P_SGV, ST_OPEN,
                    RISK_HIGH);
}

/* A child who goes missing: clusters of episodes (mace.missing: 3 in 90
 * days), exploitation concerns (mace.exploitation), and near misses whose
 * episodes are spread too thin to meet the threshold. */
static void sc_missing(struct gen *g, struct rng *r, int forced)
{
    uint32_t c = take(g, r, 11, 16) + 1;
    if (forced)
        g->textbook[SC_MISSING] = c;
    double u = unit(r);
    int pattern = forced ? 0 : u < 0.45 ? 0 : u < 0.75 ? 1 : 2; /* cluster, few, spread */
    int n = forced ? 3 : pattern == 0 ? between(r, 3, 6) : pattern == 1 ? between(r, 1, 2)
                                                                          : between(r, 3, 4);
    int day = forced ? (int)below(r, 120) : (int)below(r, 200);
    int second = -1;
    for (int i = 0; i < n; i++) {
        if (i > 0)
            day += pattern == 0 ? between(r, 5, 25) : between(r, 46, 80);
        uint32_t occ = at(&g->cal, r, day, H_MISSING);
        struct ev *e = emit(g, T_MISSING, chance(r, 0.7) ? S_POLICE : S_CHILDREN, occ);
        if (!e)
            break;
        e->p1 = c;
        uint32_t age = age_at(g, c - 1, e->occ);
        e->f[0] = (uint8_t)(age > 17 ? 17 : age);
        if (i == 1)
            second = day;
    }
    if (pattern == 0 && second >= 0 && (forced || chance(r, 0.55))) {
        static const enum source cs[] = {S_CHILDREN, S_SCHOOL, S_POLICE, S_HEALTH};
        concern(g, r, cs[below(r, 4)], at(&g->cal, r, second + between(r, 1, 20), H_OFFICE), c,
                chance(r, 0.65) ? K_CRIMINAL : K_SEXUAL);
        if (chance(r, 0.3))
            referral(g, S_CHILDREN, at(&g->cal, r, second + between(r, 5, 25), H_OFFICE), c,
                     P_MACE);
        if (chance(r, 0.5)) {
            case_update(g, at(&g->cal, r, second + between(r, 20, 40), H_OFFICE), c, P_MACE,
                        ST_REVIEWED, RISK_HIGH);
            if (chance(r, 0.4))
                case_update(g, at(&g->cal, r, second + between(r, 90, 150), H_OFFICE), c, P_MACE,
                            ST_CLOSED, RISK_NONE);
        }
    }
}

/* A household targeted again and again: hate-crime.repeat (the victim) and
 * hate-crime.household (the address), sometimes graffiti with no victim,
 * and ASB reports flagged as hate (asb-case-review.hate). */
static void sc_hate(struct gen *g, struct rng *r, int forced)
{
    uint32_t v1 = take(g, r, 25, 75) + 1, v2 = 0;
    if (forced)
        g->textbook[SC_HATE] = v1;
    if (chance(r, 0.5)) {
        v2 = take(g, r, 20, 75) + 1;
        g->home[v2 - 1] = g->home[v1 - 1];
    }
    static const unsigned sw[] = {45, 20, 15, 12, 5, 3};
    int strand = WEIGHTED(r, sw);
    int n = forced ? 3 : chance(r, 0.7) ? between(r, 2, 4) : 1;
    int span = between(r, 30, 300);
    int d0 = (int)below(r, YEAR_DAYS - (unsigned)span);
    int days[4];
    spread_days(r, days, n, d0, span);
    for (int i = 0; i < n; i++) {
        static const unsigned hw[] = {60, 25, 15};
        enum source s = (enum source[]){S_POLICE, S_COUNCIL, S_HOUSING}[WEIGHTED(r, hw)];
        struct ev *e = emit(g, T_HATE, s, at(&g->cal, r, days[i], H_EVENING));
        if (!e)
            break;
        e->p1 = forced || i == 0 ? v1 : chance(r, 0.15) ? 0 : v2 && chance(r, 0.4) ? v2 : v1;
        e->f[F_STRAND] = (uint8_t)strand;
        loc_home(g, e, v1 - 1);
    }
    if (chance(r, 0.3)) {
        struct ev *e = asb(g, r, chance(r, 0.5) ? S_COUNCIL : S_HOUSING,
                           at(&g->cal, r, d0 + (int)below(r, (uint32_t)span + 1), H_EVENING), v1,
                           0, 0, 1);
        if (e)
            loc_home(g, e, v1 - 1);
    }
    if (n >= 2 && chance(r, 0.3))
        case_update(g, at(&g->cal, r, days[1] + between(r, 7, 21), H_OFFICE), v1, P_HATE, ST_OPEN,
                    RISK_MEDIUM);
}

/* A young person or adult of concern for radicalisation: channel. */
static void sc_prevent(struct gen *g, struct rng *r, int forced)
{
    uint32_t p = take(g, r, 14, 34) + 1;
    if (forced)
        g->textbook[SC_PREVENT] = p;
    int young = age_at(g, p - 1, 0) < 18;
    int day = pick_day(&g->cal, r, T_CONCERN);
    enum source s = young && chance(r, 0.6) ? S_SCHOOL
                    : (enum source[]){S_HEALTH, S_POLICE, S_PROBATION, S_COUNCIL}[below(r, 4)];
    concern(g, r, s, at(&g->cal, r, day, H_OFFICE), p, K_RADICAL);
    if (chance(r, 0.25))
        concern(g, r, s, at(&g->cal, r, day + between(r, 10, 60), H_OFFICE), p,
                chance(r, 0.5) ? K_RADICAL : K_MENTAL);
    if (forced || chance(r, 0.35))
        referral(g, S_POLICE, at(&g->cal, r, day + between(r, 3, 20), H_OFFICE), p, P_CHANNEL);
    if (chance(r, 0.3))
        case_update(g, at(&g->cal, r, day + between(r, 30, 90), H_OFFICE), p, P_CHANNEL,
                    chance(r, 0.5) ? ST_REVIEWED : ST_CLOSED, RISK_NONE);
}

/* A prolific neighbourhood offender: iom.neighbourhood (3 arrests for
 * burglary, robbery, vehicle crime or theft in 365 days), referrals from
 * probation, IOM case updates; some stop at 2 (near misses). */
static void sc_iom(struct gen *g, struct rng *r, int forced)
{
    uint32_t p = take(g, r, 18, 42) + 1;
    if (forced)
        g->textbook[SC_IOM] = p;
    int n = forced ? 4 : chance(r, 0.75) ? between(r, 3, 9) : 2;
    int span = forced ? 150 : between(r, 60, 330);
    int d0 = forced ? (int)below(r, 150) : (int)below(r, YEAR_DAYS - (unsigned)span);
    uint32_t patch = below(r, g->nlsoa);
    int days[9];
    spread_days(r, days, n, d0, span);
    static const unsigned ow[] = {30, 15, 10, 15, 30};
    for (int i = 0; i < n; i++)
        arrest(g, r, at(&g->cal, r, days[i], H_ANY), p, WEIGHTED(r, ow),
               chance(r, 0.6) ? patch : street_lsoa(g, r));
    for (int k = between(r, 0, 2); k > 0; k--)
        arrest(g, r, at(&g->cal, r, d0 + (int)below(r, (uint32_t)span + 1), H_ANY), p,
               chance(r, 0.5) ? O_DRUG_POS : O_PUBLIC, patch);
    if (n >= 3) {
        int d3 = days[2];
        if (chance(r, 0.2))
            referral(g, S_PROBATION, at(&g->cal, r, d3 + between(r, 2, 14), H_OFFICE), p, P_IOM);
        if (forced || chance(r, 0.4))
            case_update(g, at(&g->cal, r, d3 + between(r, 10, 30), H_OFFICE), p, P_IOM, ST_OPEN,
                        chance(r, 0.5) ? RISK_HIGH : RISK_MEDIUM);
        if (chance(r, 0.1))
            case_update(g, at(&g->cal, r, d3 + between(r, 90, 200), H_OFFICE), p, P_IOM, ST_CLOSED,
                        RISK_NONE);
    }
}

/* A burst at a hotspot: a park in summer, the town centre before
 * Christmas, an estate at Halloween: 22+ ASB and violence reports in one
 * LSOA within a month (tasking.hotspot, 20 in 31 days). */
static void sc_hotspot(struct gen *g, struct rng *r, int forced, unsigned inst)
{
    uint32_t lsoa = g->hot[inst % g->nhot];
    if (forced)
        g->textbook[SC_HOTSPOT] = lsoa;
    int n = forced ? 24 : between(r, 22, 34);
    int span = between(r, 12, 28);
    static const int starts[] = {150, 180, 200, 295, 330}; /* Jun, Jul, Jul, Oct, Nov */
    int d0 = starts[below(r, 5)] + between(r, -10, 10);
    if (d0 + span >= (int)YEAR_DAYS)
        d0 = (int)YEAR_DAYS - span - 1;
    uint32_t site = UINT32_MAX;
    for (uint32_t s = 0; s < g->nsite; s++)
        if (g->site_lsoa[s] == lsoa)
            site = s;
    for (int i = 0; i < n; i++) {
        int day = d0 + (int)below(r, (uint32_t)span + 1);
        struct ev *e;
        if (chance(r, 0.8)) {
            uint32_t v = chance(r, 0.5) ? adult(g, r) + 1 : 0;
            e = asb(g, r, asb_source(r), at(&g->cal, r, day, H_EVENING), v,
                    v ? between(r, 0, 1) : 2, 0, 0);
        } else {
            e = emit(g, T_VIOL, S_POLICE, at(&g->cal, r, day, H_NIGHT));
            if (e) {
                e->p1 = adult(g, r) + 1;
                e->f[F_WEAPON] = chance(r, 0.7) ? W_NONE : W_OTHER;
                e->f[F_INJURY] = chance(r, 0.5) ? I_MINOR : I_NONE;
                e->f[F_VAGE] = age_or_absent(g, e->p1, e->occ, r, 0.8);
                if (e->f[F_VAGE] != ABSENT && e->f[F_VAGE] <= 25)
                    e->f[F_VAGE] = ABSENT; /* keep the burst a tasking matter */
                e->f[F_PAGE] = ABSENT;
            }
        }
        if (e) {
            if (site != UINT32_MAX && chance(r, 0.4))
                loc_site(e, site);
            else
                loc_street(e, lsoa);
        }
    }
}

void scenarios_plan(struct gen *g, unsigned count[SC__N])
{
    /* Scenario instances scale with the feed, with a floor from 2,000
     * events up so that even a small file reaches every panel, and never
     * take more than half the people or 60% of the events. */
    uint64_t need = 0;
    for (int s = 0; s < SC__N; s++) {
        uint64_t n = (uint64_t)g->nvalid * sc_info[s].per_10k / 10000;
        if (g->nvalid >= 2000 && n < sc_info[s].min)
            n = sc_info[s].min;
        count[s] = (unsigned)n;
        need += n * sc_info[s].people;
    }
    if (need > g->npeople / 2) {
        double f = (double)(g->npeople / 2) / (double)need;
        need = 0;
        for (int s = 0; s < SC__N; s++) {
            if (sc_info[s].people)
                count[s] = (unsigned)(count[s] * f);
            need += (uint64_t)count[s] * sc_info[s].people;
        }
    }
    g->reserved = (uint32_t)need;
    g->scen_cap = g->nvalid * 6 / 10;
}

void scenarios_run(struct gen *g, struct rng *r, const unsigned count[SC__N])
{
    /* Interleaved by kind so that a cap cuts all kinds evenly; instance 0
     * of each kind is the textbook case that meets every threshold it is
     * about. */
    unsigned most = 0;
    for (int s = 0; s < SC__N; s++)
        most = count[s] > most ? count[s] : most;
    /* emit() stops at nvalid: for the scenarios, at their cap. */
    size_t saved_nvalid = g->nvalid;
    g->nvalid = g->scen_cap;
    for (unsigned i = 0; i < most; i++)
        for (int s = 0; s < SC__N; s++) {
            if (i >= count[s] || g->nev >= g->scen_cap)
                continue;
            size_t before = g->nev;
            int forced = i == 0;
            switch ((enum scenario)s) {
            case SC_ASB_REPEAT: sc_asb_repeat(g, r, forced); break;
            case SC_ASB_LOCATION: sc_asb_location(g, r, forced, i); break;
            case SC_DA: sc_da(g, r, forced); break;
            case SC_YOUTH: sc_youth(g, r, forced, i); break;
            case SC_MISSING: sc_missing(g, r, forced); break;
            case SC_HATE: sc_hate(g, r, forced); break;
            case SC_PREVENT: sc_prevent(g, r, forced); break;
            case SC_IOM: sc_iom(g, r, forced); break;
            case SC_HOTSPOT: sc_hotspot(g, r, forced, i); break;
            default: break;
            }
            g->scen_count[s]++;
            g->scen_events[s] += g->nev - before;
        }
    g->nvalid = saved_nvalid;
}
