/* csphub-gen's writer: the events as JSON lines, broken rows broken
 * (gen_writer.h). */
#include "gen_writer.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen_delivery.h"
#include "genpriv.h"
#include "timefmt.h"

const char *const defect_name[B__N] = {"", "unknown field", "bad enum value", "bad timestamp",
                                       "bad person reference", "missing required field",
                                       "bad value or type"};

struct out {
    FILE *f;
    char *buf;
    size_t len, cap;
};

static void out_flush(struct out *o)
{
    if (o->len && fwrite(o->buf, 1, o->len, o->f) != o->len)
        die("write failed: %s", strerror(errno));
    o->len = 0;
}

/* Every line is far shorter than this: checked once per line. */
#define LINE_MAX_BYTES 8192
static inline void reserve_line(struct out *o)
{
    if (o->cap - o->len < LINE_MAX_BYTES)
        out_flush(o);
}
static inline void put(struct out *o, const char *s, size_t n)
{
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}
#define PUTL(o, lit) put(o, lit, sizeof(lit) - 1)
static inline void puts_(struct out *o, const char *s) { put(o, s, strlen(s)); }
static void put_u(struct out *o, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width)
        tmp[n++] = '0';
    while (n)
        o->buf[o->len++] = tmp[--n];
}
static void put_i(struct out *o, int64_t v)
{
    if (v < 0) {
        o->buf[o->len++] = '-';
        v = -v;
    }
    put_u(o, (uint64_t)v, 1);
}
/* Micro-degrees as a decimal with five places. */
static void put_deg(struct out *o, int32_t micro)
{
    int32_t v = micro / 10;
    if (v < 0) {
        o->buf[o->len++] = '-';
        v = -v;
    }
    put_u(o, (uint64_t)(v / 100000), 1);
    o->buf[o->len++] = '.';
    put_u(o, (uint64_t)(v % 100000), 5);
}

static void put_time(const struct gen *g, struct out *o, uint32_t rel, enum clockfmt c,
                     uint64_t h)
{
    int64_t t = g->cal.start + rel;
    int off = c == C_LOCAL && is_bst(&g->cal, t) ? 3600 : 0;
    t += off;
    int y;
    unsigned m, d;
    csph_civil_from_days(t / DAY_S, &y, &m, &d);
    unsigned sod = (unsigned)(t % DAY_S);
    put_u(o, (uint64_t)y, 4);
    o->buf[o->len++] = '-';
    put_u(o, m, 2);
    o->buf[o->len++] = '-';
    put_u(o, d, 2);
    o->buf[o->len++] = 'T';
    put_u(o, sod / 3600, 2);
    o->buf[o->len++] = ':';
    put_u(o, sod / 60 % 60, 2);
    o->buf[o->len++] = ':';
    put_u(o, sod % 60, 2);
    if (c == C_UTC_MS) {
        o->buf[o->len++] = '.';
        put_u(o, h % 1000, 3);
    }
    if (c == C_LOCAL)
        puts_(o, off ? "+01:00" : "+00:00");
    else
        o->buf[o->len++] = 'Z';
}

/* What a broken row breaks: one field, chosen per row. */
struct breakage {
    enum defect kind;
    const char *field; /* the field it applies to */
    unsigned variant;
};

static void key(struct out *o, const char *name)
{
    PUTL(o, ",\"");
    puts_(o, name);
    PUTL(o, "\":");
}

static int dropped(const struct breakage *b, const char *name)
{
    return b->kind == B_MISSING_FIELD && strcmp(b->field, name) == 0;
}

static int hits(const struct breakage *b, enum defect k, const char *name)
{
    return b->kind == k && strcmp(b->field, name) == 0;
}

static void person(struct out *o, const struct breakage *b, const char *name, uint32_t p)
{
    if (dropped(b, name))
        return;
    key(o, name);
    if (hits(b, B_BAD_PERSON, name)) {
        static const char *const bad[] = {"\"P 0", "\"P-0", "\"", "\"P#", "\"P-0"};
        static const char *const tail[] = {"\"", "/2\"", "", "\"", " (dup)\""};
        unsigned v = b->variant % 5;
        if (v == 2) { /* empty */
            PUTL(o, "\"\"");
            return;
        }
        puts_(o, bad[v]);
        put_u(o, p, 5);
        puts_(o, tail[v]);
        return;
    }
    PUTL(o, "\"P-");
    put_u(o, p, 6);
    o->buf[o->len++] = '"';
}

static void enum_field(struct out *o, const struct breakage *b, const char *name, const char *v)
{
    if (dropped(b, name))
        return;
    key(o, name);
    o->buf[o->len++] = '"';
    if (hits(b, B_BAD_ENUM, name)) {
        switch (b->variant % 3) {
        case 0: /* a capitalised legacy value: "Personal", "Knife" */
            o->buf[o->len++] = (char)(v[0] - 32);
            puts_(o, v + 1);
            break;
        case 1: /* an agency's own code */
            PUTL(o, "code-");
            put_u(o, b->variant % 97, 2);
            break;
        default: /* trailing space from a spreadsheet */
            puts_(o, v);
            o->buf[o->len++] = ' ';
        }
    } else {
        puts_(o, v);
    }
    o->buf[o->len++] = '"';
}

static void int_field(struct out *o, const struct breakage *b, const char *name, int v, int bad_hi)
{
    if (dropped(b, name))
        return;
    key(o, name);
    if (hits(b, B_BAD_VALUE, name)) {
        if (b->variant % 2) { /* a number sent as text */
            o->buf[o->len++] = '"';
            put_i(o, v);
            o->buf[o->len++] = '"';
        } else { /* out of range */
            put_i(o, bad_hi + (int)(b->variant % 5));
        }
        return;
    }
    put_i(o, v);
}

static void bool_field(struct out *o, const struct breakage *b, const char *name, int v)
{
    key(o, name);
    if (hits(b, B_BAD_VALUE, name))
        puts_(o, b->variant % 2 ? "\"Y\"" : "\"yes\"");
    else
        puts_(o, v ? "true" : "false");
}

static void str_field(struct out *o, const struct breakage *b, const char *name, const char *v)
{
    if (dropped(b, name))
        return;
    key(o, name);
    o->buf[o->len++] = '"';
    puts_(o, v);
    o->buf[o->len++] = '"';
}

static void ward_code(const struct gen *g, struct out *o, uint32_t lsoa)
{
    PUTL(o, ",\"ward\":\"E05");
    put_u(o, g->ward_base + lsoa * g->nward / g->nlsoa, 6);
    o->buf[o->len++] = '"';
}

static void location(const struct gen *g, struct out *o, const struct breakage *b,
                     const struct ev *e, uint64_t h)
{
    if (e->locmode == L_NONE || dropped(b, "location"))
        return;
    key(o, "location");
    if (hits(b, B_BAD_VALUE, "location")) {
        switch (b->variant % 3) {
        case 0: PUTL(o, "{\"lsoa\":\"E1000916\"}"); return;        /* a digit short */
        case 1: PUTL(o, "{\"description\":\"rear of the shops\"}"); return; /* no place */
        default: PUTL(o, "{\"lat\":51.50712}"); return;             /* lat without lon */
        }
    }
    uint32_t lsoa;
    o->buf[o->len++] = '{';
    if (e->locmode == L_ADDR || e->locmode == L_SITE) {
        uint64_t uprn;
        if (e->locmode == L_ADDR) {
            lsoa = g->addr_lsoa[e->loc];
            uprn = g->uprn_base + (uint64_t)e->loc * 13 + mix(e->loc) % 13;
        } else {
            lsoa = g->site_lsoa[e->loc];
            uprn = g->site_base + (uint64_t)e->loc * 17;
        }
        PUTL(o, "\"id\":\"UPRN-");
        put_u(o, uprn, 12);
        PUTL(o, "\",\"lsoa\":\"E01");
        put_u(o, g->lsoa_code[lsoa], 6);
        o->buf[o->len++] = '"';
        if (e->src == S_COUNCIL || e->src == S_HOUSING)
            ward_code(g, o, lsoa);
        if (e->locmode == L_SITE) {
            PUTL(o, ",\"description\":\"");
            puts_(o, site_desc[e->loc % (sizeof site_desc / sizeof *site_desc)]);
            o->buf[o->len++] = '"';
        }
    } else {
        /* A street point near the LSOA's centre, as the police map it. */
        lsoa = e->loc;
        PUTL(o, "\"lsoa\":\"E01");
        put_u(o, g->lsoa_code[lsoa], 6);
        PUTL(o, "\",\"lat\":");
        put_deg(o, g->lsoa_lat[lsoa] + (int32_t)(h >> 8 & 0xfff) - 2048);
        PUTL(o, ",\"lon\":");
        put_deg(o, g->lsoa_lon[lsoa] + (int32_t)(h >> 20 & 0x1fff) - 4096);
        if (e->src != S_POLICE)
            ward_code(g, o, lsoa);
    }
    if (hits(b, B_UNKNOWN_FIELD, "location")) {
        PUTL(o, ",\"postcode\":\"NE4 7");
        o->buf[o->len++] = (char)('A' + b->variant % 26);
        PUTL(o, "Q\"");
    }
    o->buf[o->len++] = '}';
}

/* Fields an agency's extract might carry that no schema allows. */
static const char *const unknown_field[][2] = {
    {"dob", "\"1987-04-12\""},           {"crime_ref", "\"NB/12345/25\""},
    {"officer_id", "4471"},             {"notes", "\"see attached\""},
    {"ethnicity", "\"W1\""},            {"Victim", "\"P-000001\""},
    {"risk_score", "12"},               {"nhs_number", "\"0000000000\""},
};

/* Decide what a broken row breaks, from its hash: the field must be one the
 * row has, and the defect one the hub rejects with bad_event. */
static struct breakage breakage_for(const struct ev *e, uint64_t h)
{
    struct breakage b = {(enum defect)e->broken, "", (unsigned)(h >> 32)};
    switch (b.kind) {
    case B_UNKNOWN_FIELD:
        b.field = e->locmode != L_NONE && h % 4 == 0 ? "location" : "";
        break;
    case B_BAD_ENUM: {
        static const char *const f[T__N] = {"category", "category", "risk", "offence", "weapon",
                                            "strand", "", "kind", "panel", "status", ""};
        b.field = f[e->type];
        if (!*b.field || (e->type == T_DA && e->f[F_RISK] == RISK_NONE))
            b.kind = B_BAD_TIME;
        break;
    }
    case B_BAD_PERSON:
        b.field = type_person[e->type];
        break;
    case B_MISSING_FIELD: {
        static const char *const f[T__N][2] = {
            {"location", "category"}, {"caller", "category"}, {"victim", "victim"},
            {"subject", "offence"},   {"weapon", "injury"},   {"location", "strand"},
            {"subject", "age"},       {"subject", "kind"},    {"panel", "reason"},
            {"panel", "status"},      {"applicant", "summary"}};
        unsigned v = (unsigned)(h % 6);
        b.field = v == 4 ? "occurred_at" : v == 5 ? "id" : f[e->type][v & 1];
        break;
    }
    case B_BAD_VALUE: {
        static const char *const f[T__N] = {"vulnerable", "location", "dash_score", "age",
                                            "victim_age", "location", "age", "",
                                            "",           "",         "location"};
        b.field = f[e->type];
        if (!*b.field || (strcmp(b.field, "location") == 0 && e->locmode == L_NONE) ||
            (e->type == T_DA && e->f[F_DASH] == ABSENT) ||
            (e->type == T_ARREST && e->f[F_AGE] == 0) ||
            (e->type == T_VIOL && e->f[F_VAGE] == ABSENT)) {
            b.kind = B_UNKNOWN_FIELD;
            b.field = "";
        }
        break;
    }
    default:
        break;
    }
    return b;
}

static void print_event(const struct gen *g, struct out *o, const struct ev *e, uint32_t idx)
{
    uint64_t h = mix(idx ^ 0x5eedULL);
    struct breakage b = {B_NONE, "", 0};
    if (e->broken)
        b = breakage_for(e, h);
    reserve_line(o);
    o->buf[o->len++] = '{';
    if (!dropped(&b, "id")) {
        PUTL(o, "\"id\":\"");
        const char *prefix = src_info[e->src].prefix;
        if (e->src == S_POLICE)
            prefix = e->type == T_CALL ? "CAD" : e->type == T_ARREST ? "CUS" : "OCC";
        puts_(o, prefix);
        o->buf[o->len++] = '-';
        put_u(o, (uint64_t)(g->cal.year0 % 100), 2);
        o->buf[o->len++] = '-';
        put_u(o, e->ref, 7);
        PUTL(o, "\",");
    }
    PUTL(o, "\"type\":\"");
    puts_(o, type_name[e->type]);
    PUTL(o, "\",\"source\":\"");
    puts_(o, source_name[e->src]);
    o->buf[o->len++] = '"';
    if (!dropped(&b, "occurred_at")) {
        PUTL(o, ",\"occurred_at\":");
        if (b.kind == B_BAD_TIME) {
            int64_t t = g->cal.start + e->occ;
            int y;
            unsigned m, d, sod = (unsigned)(t % DAY_S);
            csph_civil_from_days(t / DAY_S, &y, &m, &d);
            char tmp[64];
            switch (b.variant % 6) {
            case 0: /* a space for the T */
                snprintf(tmp, sizeof tmp, "\"%04d-%02u-%02u %02u:%02u:%02u\"", y, m, d,
                         sod / 3600, sod / 60 % 60, sod % 60);
                break;
            case 1: /* a British spreadsheet date */
                snprintf(tmp, sizeof tmp, "\"%02u/%02u/%04d %02u:%02u\"", d, m, y, sod / 3600,
                         sod / 60 % 60);
                break;
            case 2: /* no offset */
                snprintf(tmp, sizeof tmp, "\"%04d-%02u-%02uT%02u:%02u:%02u\"", y, m, d,
                         sod / 3600, sod / 60 % 60, sod % 60);
                break;
            case 3: /* a day that does not exist */
                snprintf(tmp, sizeof tmp, "\"%04d-%s:%02u:00Z\"", y,
                         m <= 6 ? "02-30T10" : "09-31T22", sod / 60 % 60);
                break;
            case 4: /* the date only */
                snprintf(tmp, sizeof tmp, "\"%04d-%02u-%02u\"", y, m, d);
                break;
            default: /* Unix seconds */
                snprintf(tmp, sizeof tmp, "%" PRId64, t);
            }
            puts_(o, tmp);
        } else {
            o->buf[o->len++] = '"';
            put_time(g, o, e->occ, src_info[e->src].clock, h);
            o->buf[o->len++] = '"';
        }
    }
    switch ((enum type)e->type) {
    case T_ASB:
        if (e->p1)
            person(o, &b, "victim", e->p1);
        location(g, o, &b, e, h);
        enum_field(o, &b, "category", asb_cat[e->f[F_CAT]]);
        if (e->f[F_HATE])
            bool_field(o, &b, "hate", e->f[F_HATE] == 2);
        if (e->f[F_VULN] || hits(&b, B_BAD_VALUE, "vulnerable"))
            bool_field(o, &b, "vulnerable", e->f[F_VULN] == 2);
        if (e->f[F_SUMMARY])
            str_field(o, &b, "summary", asb_summary[e->f[F_SUMMARY] - 1]);
        break;
    case T_CALL:
        person(o, &b, "caller", e->p1);
        location(g, o, &b, e, h);
        enum_field(o, &b, "category", call_cat[e->f[F_CAT]]);
        break;
    case T_DA:
        person(o, &b, "victim", e->p1);
        if (e->p2)
            person(o, &b, "perpetrator", e->p2);
        if (e->f[F_DASH] != ABSENT)
            int_field(o, &b, "dash_score", e->f[F_DASH], 28);
        if (e->f[F_RISK])
            enum_field(o, &b, "risk", risk_name[e->f[F_RISK]]);
        if (e->f[F_KIDS])
            bool_field(o, &b, "children_present", e->f[F_KIDS] == 2);
        location(g, o, &b, e, h);
        break;
    case T_ARREST:
        person(o, &b, "subject", e->p1);
        if (e->f[F_AGE])
            int_field(o, &b, "age", e->f[F_AGE], 121);
        enum_field(o, &b, "offence", offence_name[e->f[F_OFFENCE]]);
        location(g, o, &b, e, h);
        break;
    case T_VIOL:
        if (e->p1)
            person(o, &b, "victim", e->p1);
        if (e->f[F_VAGE] != ABSENT)
            int_field(o, &b, "victim_age", e->f[F_VAGE], 121);
        if (e->p2)
            person(o, &b, "perpetrator", e->p2);
        if (e->f[F_PAGE] != ABSENT)
            int_field(o, &b, "perpetrator_age", e->f[F_PAGE], 121);
        enum_field(o, &b, "weapon", weapon_name[e->f[F_WEAPON]]);
        enum_field(o, &b, "injury", injury_name[e->f[F_INJURY]]);
        if (e->f[F_GROUP])
            bool_field(o, &b, "group", e->f[F_GROUP] == 2);
        location(g, o, &b, e, h);
        break;
    case T_HATE:
        if (e->p1)
            person(o, &b, "victim", e->p1);
        location(g, o, &b, e, h);
        enum_field(o, &b, "strand", strand_name[e->f[F_STRAND]]);
        break;
    case T_MISSING:
        person(o, &b, "subject", e->p1);
        int_field(o, &b, "age", e->f[0], 18);
        break;
    case T_CONCERN:
        person(o, &b, "subject", e->p1);
        enum_field(o, &b, "kind", kind_name[e->f[F_KIND]]);
        if (e->f[F_SUMMARY])
            str_field(o, &b, "summary", concern_summary[e->f[F_SUMMARY] - 1]);
        break;
    case T_REFERRAL:
        person(o, &b, "subject", e->p1);
        enum_field(o, &b, "panel", panel_name[e->f[F_PANEL]]);
        str_field(o, &b, "reason", referral_reason[e->f[F_PANEL]]);
        break;
    case T_CASEUPD:
        person(o, &b, "subject", e->p1);
        enum_field(o, &b, "panel", panel_name[e->f[F_PANEL]]);
        if (e->f[F_RISK])
            enum_field(o, &b, "risk", risk_name[e->f[F_RISK]]);
        enum_field(o, &b, "status", status_name[e->f[F_STATUS]]);
        break;
    case T_CRR:
        person(o, &b, "applicant", e->p1);
        location(g, o, &b, e, h);
        str_field(o, &b, "summary", crr_summary[e->f[F_SUMMARY] - 1]);
        break;
    default:
        break;
    }
    if (b.kind == B_UNKNOWN_FIELD && !*b.field) {
        unsigned v = b.variant % (sizeof unknown_field / sizeof *unknown_field);
        key(o, unknown_field[v][0]);
        puts_(o, unknown_field[v][1]);
    }
    PUTL(o, "}\n");
}

void write_feed(struct gen *g, FILE *f, const uint64_t *keys, struct tally *t)
{
    struct out out = {f, malloc(1 << 20), 0, 1 << 20};
    if (!out.buf)
        die("out of memory");
    uint32_t next_id[S__N];
    for (int s = 0; s < S__N; s++)
        next_id[s] = 1000 + (uint32_t)(mix(g->o.seed + (uint64_t)s) % 50000);
    for (size_t k = 0; k < g->nev; k++) {
        uint32_t i = (uint32_t)keys[2 * k + 1];
        struct ev *e = &g->ev[i];
        if (e->resend) {
            print_event(g, &out, &g->ev[e->ref], e->ref);
            continue;
        }
        e->ref = next_id[e->src]++;
        print_event(g, &out, e, i);
        if (e->broken) {
            t->broken_by[e->broken]++;
        } else {
            t->by_type[e->type]++;
            t->by_src[e->src]++;
        }
    }
    out_flush(&out);
    free(out.buf);
}
