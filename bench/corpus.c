/* The events the bench sends, made before any timing: see corpus.h. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "corpus.h"
#include "bench.h"
#include "vocab.h"
#include "msg.h"
#include "figures.h"

static uint64_t rnd(uint64_t *s) { return splitmix64(s); }

static uint32_t rnd_below(uint64_t *s, uint32_t n) { return (uint32_t)(rnd(s) % n); }

static double rnd_unit(uint64_t *s) { return (double)(rnd(s) >> 11) / 9007199254740992.0; }

static int rnd_pct(uint64_t *s, unsigned pct) { return rnd_below(s, 100) < pct; }

/* A partnership's week, roughly: ASB and calls dominate, panel traffic is rare. */
static const unsigned type_weight[T__N] = {24, 20, 12, 10, 8, 4, 5, 8, 3, 5, 1};

/* Who sends each type (PROTOCOL.md 3.2 "sent by"), -1 ending a list of
 * fewer than MAX_SENDERS. */
#define MAX_SENDERS 6
static const int type_sources[T__N][MAX_SENDERS] = {
    [T_ASB] = {S_POLICE, S_COUNCIL, S_HOUSING, -1},
    [T_CALL] = {S_POLICE, S_COUNCIL, -1},
    [T_DA] = {S_POLICE, S_IDVA, S_HEALTH, -1},
    [T_ARREST] = {S_POLICE, -1},
    [T_VIOL] = {S_POLICE, S_HEALTH, -1},
    [T_HATE] = {S_POLICE, S_COUNCIL, S_HOUSING, -1},
    [T_MISSING] = {S_POLICE, S_CHILDREN, -1},
    [T_CONCERN] = {S_POLICE, S_COUNCIL, S_HOUSING, S_IDVA, S_CHILDREN, S_SCHOOL},
    [T_REFERRAL] = {S_POLICE, S_IDVA, S_CHILDREN, S_YOUTH, S_COUNCIL, S_PROBATION},
    [T_CASEUPD] = {S_IDVA, S_COUNCIL, S_PROBATION, S_YOUTH, -1},
    [T_CRR] = {S_COUNCIL, -1}};

#define COUNT(a) (uint32_t)(sizeof(a) / sizeof *(a))
/* The panels a referral or case update names: the unrestricted ones. */
#define OPEN_PANELS (P_TASKING + 1)

#define PERSON_POOL 50000

#define LSOA_POOL 400


struct gen {
    uint64_t rng;
    char nonce[16];
    uint32_t lsoa[LSOA_POOL];
    struct feed feed;
    int64_t span_start_s; /* chronological feeds */
    double progress;      /* 0..1: where the event being made falls in its publisher's order */
    uint64_t alert_no;
    uint64_t id_base;     /* event i's id carries id_base + i + 1 */
    int history;          /* FEED_BACKFILL: this event is from the history (late) */
};

/* Skewed towards low indices: a few people and places recur a lot. */
static uint32_t skewed(uint64_t *rng, uint32_t n)
{
    double u = rnd_unit(rng);
    return (uint32_t)(n * u * u * u) % n;
}

static void pk_person(msgpack_packer *pk, struct gen *gn)
{
    char b[16];
    uint32_t n = gn->feed.people;
    snprintf(b, sizeof b, "P-%06u",
             (gn->feed.uniform ? rnd_below(&gn->rng, n) : skewed(&gn->rng, n)) + 1);
    pk_str(pk, b);
}

static void pk_location(msgpack_packer *pk, struct gen *gn)
{
    uint32_t li = skewed(&gn->rng, LSOA_POOL);
    char b[32];
    unsigned shape = rnd_below(&gn->rng, 10);
    double lat = 51.40 + (li % 37) * 0.006 + rnd_unit(&gn->rng) * 0.004;
    double lon = -0.30 + (li / 37) * 0.025 + rnd_unit(&gn->rng) * 0.004;
    snprintf(b, sizeof b, "E0%07u", gn->lsoa[li]);
    if (shape < 6) {
        msgpack_pack_map(pk, 3);
        pk_str(pk, "lsoa");
        pk_str(pk, b);
        pk_str(pk, "lat");
        msgpack_pack_double(pk, lat);
        pk_str(pk, "lon");
        msgpack_pack_double(pk, lon);
    } else if (shape < 8) {
        char uprn[24];
        snprintf(uprn, sizeof uprn, "1000%08u", 1000000 + li * 1000 + rnd_below(&gn->rng, 1000));
        msgpack_pack_map(pk, 2);
        pk_str(pk, "id");
        pk_str(pk, uprn);
        pk_str(pk, "lsoa");
        pk_str(pk, b);
    } else if (shape < 9) {
        char ward[16];
        snprintf(ward, sizeof ward, "E05%06u", 9300 + li / 10);
        msgpack_pack_map(pk, 2);
        pk_str(pk, "ward");
        pk_str(pk, ward);
        pk_str(pk, "description");
        pk_str(pk, site_desc[rnd_below(&gn->rng, COUNT(site_desc))]);
    } else {
        msgpack_pack_map(pk, 1);
        pk_str(pk, "lsoa");
        pk_str(pk, b);
    }
}

/* RFC 3339: mostly Z, summer times often as local BST (+01:00), some with ms. */
static int64_t pk_occurred(msgpack_packer *pk, struct gen *gn)
{
    int64_t t;
    if (gn->history) /* a backfill's history: at random in the year before the live span */
        t = gn->span_start_s - (int64_t)(gn->feed.history_days * 86400.0) +
            (int64_t)rnd_below(&gn->rng, (uint32_t)(gn->feed.history_days * 86400.0));
    else if (gn->feed.span_days > 0) /* in publish order, some reported up to 2 days late */
        t = gn->span_start_s + (int64_t)(gn->progress * gn->feed.span_days * 86400.0) -
            (int64_t)rnd_below(&gn->rng, 2 * 86400);
    else
        t = YEAR_START_S + (int64_t)rnd_below(&gn->rng, 365 * 86400);
    int ms = rnd_pct(&gn->rng, 30) ? (int)rnd_below(&gn->rng, 1000) : -1;
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    int bst = tm.tm_mon >= 3 && tm.tm_mon <= 9 && rnd_pct(&gn->rng, 50);
    if (bst) {
        tt += 3600;
        gmtime_r(&tt, &tm);
    }
    char b[48], frac[16] = "";
    if (ms >= 0)
        snprintf(frac, sizeof frac, ".%03d", ms);
    snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d%s%s", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac, bst ? "+01:00" : "Z");
    pk_str(pk, b);
    return t * 1000 + (ms > 0 ? ms : 0);
}

/* The alert feed leaves out the types whose every event raises an alert
 * (referral.direct, asb-case-review.request). */
static unsigned weight_of(const struct gen *gn, int t)
{
    if (gn->feed.kind == FEED_ALERT && (t == T_REFERRAL || t == T_CRR))
        return 0;
    return type_weight[t];
}

static int pick_type(struct gen *gn)
{
    unsigned total = 0, r;
    for (int i = 0; i < T__N; i++)
        total += weight_of(gn, i);
    r = rnd_below(&gn->rng, total);
    for (int i = 0; i < T__N; i++) {
        if (r < weight_of(gn, i))
            return i;
        r -= weight_of(gn, i);
    }
    return 0;
}

/* Pack event number i. Every event must be valid against schemas/. */
static void gen_event(struct gen *gn, struct corpus *c, uint64_t i)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->buf, msgpack_sbuffer_write);
    /* The alert feed: a share of da.incident events with DASH >= 14 (each
     * raises marac.high-risk, for a victim of its own so nothing else fires),
     * and the rest quiet: no per-event rule matches them. */
    int alert = gn->feed.kind == FEED_ALERT && rnd_unit(&gn->rng) < gn->feed.alert_rate;
    int quiet = gn->feed.kind == FEED_ALERT && !alert;
    int t = alert ? T_DA : pick_type(gn);
    int nsrc = 0;
    while (nsrc < MAX_SENDERS && type_sources[t][nsrc] >= 0)
        nsrc++;
    int src = type_sources[t][rnd_below(&gn->rng, (uint32_t)nsrc)];
    /* Optional fields decided first: the map header needs the count. */
    uint64_t *r = &gn->rng;
    int o1 = 0, o2 = 0, o3 = 0, o4 = 0, o5 = 0, o6 = 0;
    unsigned nf = 0;
    switch (t) {
    case T_ASB: o1 = rnd_pct(r, 70); o2 = rnd_pct(r, 10); o3 = rnd_pct(r, 20); o4 = rnd_pct(r, 60);
        nf = 2 + o1 + o2 + o3 + o4; break;
    case T_CALL: o1 = rnd_pct(r, 80); nf = 2 + o1; break;
    case T_DA: o1 = rnd_pct(r, 85); o2 = rnd_pct(r, 70); o3 = rnd_pct(r, 60); o4 = rnd_pct(r, 50);
        o5 = rnd_pct(r, 60);
        if (alert)
            o2 = o3 = 1;
        nf = 1 + o1 + o2 + o3 + o4 + o5; break;
    case T_ARREST: o1 = rnd_pct(r, 90); o2 = rnd_pct(r, 70); nf = 2 + o1 + o2; break;
    case T_VIOL: o1 = rnd_pct(r, 90); o2 = o1 && rnd_pct(r, 80); o3 = rnd_pct(r, 50);
        o4 = o3 && rnd_pct(r, 70); o5 = rnd_pct(r, 30); o6 = rnd_pct(r, 85);
        nf = 2 + o1 + o2 + o3 + o4 + o5 + o6; break;
    case T_HATE: o1 = rnd_pct(r, 85); nf = 2 + o1; break;
    case T_MISSING: nf = 2; break;
    case T_CONCERN: o1 = rnd_pct(r, 70); nf = 2 + o1; break;
    case T_REFERRAL: nf = 3; break;
    case T_CASEUPD: o1 = rnd_pct(r, 60); nf = 3 + o1; break;
    case T_CRR: o1 = rnd_pct(r, 80); nf = 2 + o1; break;
    }
    size_t start = c->buf.size;
    msgpack_pack_map(&pk, 4 + nf);
    char id[96];
    snprintf(id, sizeof id, "%s-%s-%07" PRIu64, source_name[src], gn->nonce, gn->id_base + i + 1);
    pk_str(&pk, "id");
    pk_str(&pk, id);
    struct evmeta *m = &c->meta[i];
    m->id_len = (uint16_t)strlen(id);
    m->id_off = (uint32_t)(c->buf.size - m->id_len - start);
    m->type = (uint8_t)t;
    m->source = (uint8_t)src;
    pk_str(&pk, "type");
    pk_str(&pk, type_name[t]);
    pk_str(&pk, "source");
    pk_str(&pk, source_name[src]);
    pk_str(&pk, "occurred_at");
    m->occurred_ms = pk_occurred(&pk, gn);
    switch (t) {
    case T_ASB:
        if (o1) { pk_str(&pk, "victim"); pk_person(&pk, gn); }
        pk_str(&pk, "location"); pk_location(&pk, gn);
        pk_str(&pk, "category");
        pk_str(&pk, asb_cat[rnd_below(r, COUNT(asb_cat))]);
        if (o2) { pk_str(&pk, "hate"); quiet ? msgpack_pack_false(&pk) : msgpack_pack_true(&pk); }
        if (o3) { pk_str(&pk, "vulnerable"); rnd_pct(r, 50) ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk); }
        if (o4) { pk_str(&pk, "summary"); pk_str(&pk, asb_summary[rnd_below(r, COUNT(asb_summary))]); }
        break;
    case T_CALL:
        pk_str(&pk, "caller"); pk_person(&pk, gn);
        if (o1) { pk_str(&pk, "location"); pk_location(&pk, gn); }
        pk_str(&pk, "category");
        pk_str(&pk, call_cat[rnd_below(r, COUNT(call_cat))]);
        break;
    case T_DA: {
        unsigned dash = (unsigned)(rnd_unit(r) * rnd_unit(r) * 28) % 28;
        if (alert)
            dash = 14 + dash % 14;
        else if (quiet)
            dash %= 14;
        pk_str(&pk, "victim");
        if (alert) {
            char b[24];
            snprintf(b, sizeof b, "M-%08" PRIu64, ++gn->alert_no);
            pk_str(&pk, b);
            c->alert_events++;
        } else {
            pk_person(&pk, gn);
        }
        if (o1) { pk_str(&pk, "perpetrator"); pk_person(&pk, gn); }
        if (o2) { pk_str(&pk, "dash_score"); msgpack_pack_unsigned_int(&pk, dash); }
        if (o3) { pk_str(&pk, "risk"); pk_str(&pk, risk_name[dash >= 14 ? RISK_HIGH : dash >= 10 ? RISK_MEDIUM : RISK_STANDARD]); }
        if (o4) { pk_str(&pk, "children_present"); rnd_pct(r, 40) ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk); }
        if (o5) { pk_str(&pk, "location"); pk_location(&pk, gn); }
        break;
    }
    case T_ARREST:
        pk_str(&pk, "subject"); pk_person(&pk, gn);
        if (o1) { pk_str(&pk, "age"); msgpack_pack_unsigned_int(&pk, 14 + rnd_below(r, 50)); }
        pk_str(&pk, "offence");
        { unsigned oi = rnd_below(r, COUNT(offence_name)); /* quiet: no weapon.possession (sgv.possession) */
          pk_str(&pk, offence_name[quiet && oi == O_WEAPON ? O_VIOL_INJ : oi]); }
        if (o2) { pk_str(&pk, "location"); pk_location(&pk, gn); }
        break;
    case T_VIOL:
        if (o1) { pk_str(&pk, "victim"); pk_person(&pk, gn); }
        /* quiet: aged over 25, so sgv.weapon's key_each never applies */
        if (o2) { pk_str(&pk, "victim_age"); msgpack_pack_unsigned_int(&pk, (quiet ? 26 : 13) + rnd_below(r, 60)); }
        if (o3) { pk_str(&pk, "perpetrator"); pk_person(&pk, gn); }
        if (o4) { pk_str(&pk, "perpetrator_age"); msgpack_pack_unsigned_int(&pk, (quiet ? 26 : 14) + rnd_below(r, 40)); }
        pk_str(&pk, "weapon"); pk_str(&pk, weapon_name[(const int[]){W_KNIFE, W_FIREARM, W_OTHER, W_NONE, W_NONE}[rnd_below(r, 5)]]);
        pk_str(&pk, "injury"); pk_str(&pk, injury_name[(const int[]){I_NONE, I_MINOR, I_MINOR, I_SERIOUS, I_FATAL}[rnd_below(r, 5)]]);
        if (o5) { pk_str(&pk, "group"); msgpack_pack_true(&pk); }
        if (o6) { pk_str(&pk, "location"); pk_location(&pk, gn); }
        break;
    case T_HATE:
        if (o1) { pk_str(&pk, "victim"); pk_person(&pk, gn); }
        pk_str(&pk, "location"); pk_location(&pk, gn);
        pk_str(&pk, "strand");
        pk_str(&pk, strand_name[rnd_below(r, COUNT(strand_name))]);
        break;
    case T_MISSING:
        pk_str(&pk, "subject"); pk_person(&pk, gn);
        pk_str(&pk, "age"); msgpack_pack_unsigned_int(&pk, 11 + rnd_below(r, 7));
        break;
    case T_CONCERN:
        pk_str(&pk, "subject"); pk_person(&pk, gn);
        pk_str(&pk, "kind");
        /* quiet: none of the kinds mace.exploitation and channel.radicalisation take */
        { unsigned k = quiet ? K_MENTAL + rnd_below(r, COUNT(kind_name) - K_MENTAL) : rnd_below(r, COUNT(kind_name));
          pk_str(&pk, kind_name[k]);
          if (o1) { pk_str(&pk, "summary"); pk_str(&pk, concern_summary[k]); } }
        break;
    case T_REFERRAL:
        pk_str(&pk, "subject"); pk_person(&pk, gn);
        { unsigned pn = rnd_below(r, OPEN_PANELS);
          pk_str(&pk, "panel"); pk_str(&pk, panel_name[pn]);
          pk_str(&pk, "reason"); pk_str(&pk, referral_reason[pn]); }
        break;
    case T_CASEUPD:
        pk_str(&pk, "subject"); pk_person(&pk, gn);
        pk_str(&pk, "panel"); pk_str(&pk, panel_name[rnd_below(r, OPEN_PANELS)]);
        if (o1) { pk_str(&pk, "risk"); pk_str(&pk, risk_name[RISK_STANDARD + rnd_below(r, 3)]); }
        pk_str(&pk, "status"); pk_str(&pk, status_name[rnd_below(r, COUNT(status_name))]);
        break;
    case T_CRR:
        pk_str(&pk, "applicant"); pk_person(&pk, gn);
        if (o1) { pk_str(&pk, "location"); pk_location(&pk, gn); }
        pk_str(&pk, "summary"); pk_str(&pk, crr_summary[rnd_below(r, COUNT(crr_summary))]);
        break;
    }
    c->per_type[t]++;
}

/* Where event e falls in its publisher's sending order, 0..1. Publisher p
 * sends requests [nreq*p/np, nreq*(p+1)/np) in order, all publishers at
 * once, so a chronological feed makes every publisher's share advance
 * through the span together and the log stays roughly in time order. */
static double publish_progress(uint64_t e, uint64_t n, int batch, int np)
{
    uint64_t B = (uint64_t)batch, nreq = (n + B - 1) / B, r = e / B;
    uint64_t P = (uint64_t)np, p = r * P / nreq;
    while (p + 1 < P && r >= nreq * (p + 1) / P)
        p++;
    while (p > 0 && r < nreq * p / P)
        p--;
    uint64_t e0 = nreq * p / P * B, e1 = nreq * (p + 1) / P * B;
    if (e1 > n)
        e1 = n;
    return e1 > e0 ? (double)(e - e0) / (double)(e1 - e0) : 0;
}

void corpus_build_part(struct corpus *c, uint64_t n, uint64_t seed, const char *nonce,
                       const struct feed *feed, uint64_t first, uint64_t total)
{
    struct gen gn = {.rng = seed * 0x9e3779b97f4a7c15ull + 1, .feed = *feed, .id_base = first};
    snprintf(gn.nonce, sizeof gn.nonce, "%s", nonce);
    for (int i = 0; i < LSOA_POOL; i++) /* E01000001 .. E01033768: England's LSOAs */
        gn.lsoa[i] = 1000001 + rnd_below(&gn.rng, 33768);
    if (first) { /* another part: other draws, the same places */
        uint64_t x = seed ^ (first * 0xd1b54a32d192ed03ull);
        gn.rng = splitmix64(&x);
    }
    if (total < first + n)
        total = first + n;
    if (feed->span_days > 0)
        gn.span_start_s = SPAN_END_S - (int64_t)(feed->span_days * 86400.0);
    memset(c, 0, sizeof *c);
    c->feed = *feed;
    msgpack_sbuffer_init(&c->buf);
    c->n = n;
    c->off = malloc((n + 1) * sizeof *c->off);
    c->meta = calloc(n ? n : 1, sizeof *c->meta);
    if (!c->off || !c->meta)
        die("out of memory for %" PRIu64 " events", n);
    c->first_ms = INT64_MAX;
    c->last_ms = INT64_MIN;
    for (uint64_t i = 0; i < n; i++) {
        c->off[i] = c->buf.size;
        if (feed->kind == FEED_BACKFILL) {
            gn.history = i >= feed->live_n;
            if (!gn.history)
                gn.progress = publish_progress(i, feed->live_n, feed->batch, feed->publishers);
        } else if (feed->span_days > 0) {
            double pr = publish_progress(i, n, feed->batch, feed->publishers);
            gn.progress = total > n ? ((double)first + pr * (double)n) / (double)total : pr;
        }
        gen_event(&gn, c, i);
        if (c->meta[i].occurred_ms < c->first_ms)
            c->first_ms = c->meta[i].occurred_ms;
        if (c->meta[i].occurred_ms > c->last_ms)
            c->last_ms = c->meta[i].occurred_ms;
    }
    c->off[n] = c->buf.size;
}

void corpus_build(struct corpus *c, uint64_t n, uint64_t seed, const char *nonce,
                  const struct feed *feed)
{
    corpus_build_part(c, n, seed, nonce, feed, 0, n);
}

void corpus_free(struct corpus *c)
{
    msgpack_sbuffer_destroy(&c->buf);
    free(c->off);
    free(c->meta);
    memset(c, 0, sizeof *c);
}

struct feed feed_for(int kind, double span_days)
{
    struct feed f = {.kind = kind, .publishers = opt.publishers, .batch = opt.batch};
    switch (kind) {
    case FEED_CLASSIC:
        f.people = opt.people ? opt.people : PERSON_POOL;
        f.span_days = opt.span_days; /* 0 unless given: random over one year */
        break;
    case FEED_ALERT:
        f.people = opt.people ? opt.people : 1000000;
        f.uniform = 1;
        f.alert_rate = opt.alert_rate;
        f.span_days = opt.span_days ? opt.span_days : 365;
        break;
    case FEED_STATE:
        f.people = opt.people ? opt.people : 100000;
        f.uniform = 1;
        f.span_days = span_days;
        break;
    case FEED_BACKFILL: /* the classic mix and people; live_n is the caller's */
        f.people = opt.people ? opt.people : PERSON_POOL;
        f.span_days = 30;
        f.history_days = span_days > 0 ? span_days : 365;
        break;
    }
    return f;
}

void requests_build(struct requests *q, const struct corpus *c, int batch)
{
    memset(q, 0, sizeof *q);
    msgpack_sbuffer_init(&q->buf);
    q->n = (c->n + (uint64_t)batch - 1) / (uint64_t)batch;
    q->off = malloc((q->n + 1) * sizeof *q->off);
    if (!q->off)
        die("out of memory for the requests");
    msgpack_packer pk;
    msgpack_packer_init(&pk, &q->buf, msgpack_sbuffer_write);
    for (uint64_t r = 0; r < q->n; r++) {
        uint64_t e0 = r * (uint64_t)batch, e1 = e0 + (uint64_t)batch;
        if (e1 > c->n)
            e1 = c->n;
        q->off[r] = q->buf.size;
        msgpack_pack_map(&pk, 3);
        pk_str(&pk, "req");
        msgpack_pack_fix_uint64(&pk, r);
        pk_str(&pk, "op");
        pk_str(&pk, "publish");
        if (batch == 1) {
            pk_str(&pk, "event");
        } else {
            pk_str(&pk, "events");
            msgpack_pack_array(&pk, (size_t)(e1 - e0));
        }
        msgpack_sbuffer_write(&q->buf, ev_ptr(c, e0), c->off[e1] - c->off[e0]);
    }
    q->off[q->n] = q->buf.size;
}

void requests_free(struct requests *q)
{
    msgpack_sbuffer_destroy(&q->buf);
    free(q->off);
    memset(q, 0, sizeof *q);
}

struct corpus corpus_view(const struct corpus *c, uint64_t a, uint64_t b)
{
    struct corpus v = *c;
    v.off = c->off + a;
    v.meta = c->meta + a;
    v.n = b - a;
    return v;
}

void corpus_permute(struct corpus *dst, const struct corpus *src, const uint64_t *order)
{
    memset(dst, 0, sizeof *dst);
    msgpack_sbuffer_init(&dst->buf);
    dst->n = src->n;
    dst->feed = src->feed;
    dst->first_ms = src->first_ms;
    dst->last_ms = src->last_ms;
    memcpy(dst->per_type, src->per_type, sizeof dst->per_type);
    dst->off = malloc((src->n + 1) * sizeof *dst->off);
    dst->meta = malloc((src->n ? src->n : 1) * sizeof *dst->meta);
    if (!dst->off || !dst->meta)
        die("out of memory for %" PRIu64 " events", src->n);
    for (uint64_t i = 0; i < src->n; i++) {
        dst->off[i] = dst->buf.size;
        msgpack_sbuffer_write(&dst->buf, ev_ptr(src, order[i]), ev_len(src, order[i]));
        dst->meta[i] = src->meta[order[i]];
    }
    dst->off[src->n] = dst->buf.size;
}

void print_event(FILE *f, const struct corpus *c, uint64_t i)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 4096);
    msgpack_object o;
    size_t off = 0;
    if (msgpack_unpack(ev_ptr(c, i), ev_len(c, i), &off, &z, &o) >= 0)
        msgpack_object_print(f, o);
    fputc('\n', f);
    msgpack_zone_destroy(&z);
}

void describe_corpus(const struct corpus *c, const struct requests *q, double gen_s,
                     const char *nonce)
{
    const struct feed *f = &c->feed;
    int ntypes = 0;
    for (int t = 0; t < T__N; t++)
        ntypes += c->per_type[t] != 0;
    printf("csphub-bench: %" PRIu64 " events (%d types, avg %.0f B, generated in %.2f s, seed %"
           PRIu64 ", id nonce %s)\n",
           c->n, ntypes, (double)c->off[c->n] / (double)c->n, gen_s, opt.seed, nonce);
    char d0[16], d1[16];
    fmt_date(c->first_ms, d0, sizeof d0);
    fmt_date(c->last_ms, d1, sizeof d1);
    printf("  feed: %s; people P-000001..P-%06u drawn %s; occurred_at %s to %s %s\n",
           f->kind == FEED_ALERT ? "alert (quiet mix + marac high-risk share)"
           : f->kind == FEED_STATE ? "state (classic mix)" : "classic",
           f->people, f->uniform ? "uniformly" : "skewed (some recur a lot)", d0, d1,
           f->span_days > 0 ? "advancing in publish order" : "at random");
    if (f->kind == FEED_ALERT)
        printf("  alert events: %" PRIu64 " da.incident with DASH >= 14 for victims of their own "
               "(%.2f%% of events, --alert-rate %.3f)\n",
               c->alert_events, 100.0 * (double)c->alert_events / (double)c->n, f->alert_rate);
    printf("  mix:");
    for (int t = 0; t < T__N; t++)
        if (c->per_type[t])
            printf(" %s %.1f%%", type_name[t], 100.0 * (double)c->per_type[t] / (double)c->n);
    if (opt.peers) { /* each run has its own concurrency */
        printf("\n  load: one event a request (avg %.0f B); connections x in flight:",
               (double)q->off[q->n] / (double)q->n);
        for (int k = 0; k < opt.nconc; k++)
            printf("%s %dx%d", k ? "," : "", opt.conc_publishers[k], opt.conc_window[k]);
    } else {
        printf("\n  load: %d publisher(s) x window %d = %d requests in flight; batch %d event(s) "
               "per request -> %" PRIu64 " requests (avg %.0f B)",
               opt.publishers, opt.window, opt.publishers * opt.window, opt.batch, q->n,
               (double)q->off[q->n] / (double)q->n);
    }
    if (opt.rate > 0)
        printf("; paced at %.0f events/s in total (each publisher every %.0f us)", opt.rate,
               1e6 * opt.batch * opt.publishers / opt.rate);
    printf("\n");
    if (strcmp(fs_name(opt.tmpdir), "tmpfs") == 0)
        printf("  WARNING: %s is tmpfs: synced commits cost nothing there; use --tmpdir on a "
               "real disk\n",
               opt.tmpdir);
}
