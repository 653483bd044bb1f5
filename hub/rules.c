/* rules.c: the escalation engine (rules.h; the language is described in
 * config/rules.yaml and docs/rules.md).
 *
 * Load compiles the YAML into plain data: tests become (path, operator,
 * literals) triples, reasons become segment lists, types map to the rules
 * that take them. Eval touches only LMDB and amortised buffers.
 *
 * State. A record per windowed rule and key value(s) holds the rule's
 * events there {occurred, seq, distinct hash} and the tiers it fired
 * {occurred, tier}; a record per panel and key value(s) holds the alerts
 * raised on it {occurred, seq}, for prior_alert.
 *
 * Records are not kept in a tree by key, where each record an event
 * touches dirties its own random leaf page (hundreds of scattered page
 * writes per commit, each synced): they are appended to a log, rules.log
 * (log seq -> record), so a batch writes a few sequential pages. A record
 * rewritten in the transaction that appended it is updated in place.
 *
 * An index in memory (the key's hash -> the log seq of its live entry, the
 * high-water mark from which it is stale, its size) finds them. It is only
 * a cache of the log, rebuilt by scanning the log whenever it may not be
 * what the transaction sees: on first use, after an error (the caller
 * aborts), and whenever rules.meta's generation and writer are not what
 * this instance last wrote there (a batch aborted after it changed state,
 * another instance wrote, another environment). The first change in every
 * transaction bumps the generation, so an aborted batch always shows.
 *
 * The cleaner works at the log's tail: it deletes entries superseded or
 * stale and, while superseded entries outweigh the live ones (count or
 * bytes), moves live ones to the head. So the log holds at most about twice
 * the live state, and the live state is bounded by the horizon as before.
 *
 *   rules.log   log seq (MDB_INTEGERKEY) -> varint key length, key, section
 *               key: section kind, id, then the key values (kind, length,
 *               bytes each)
 *   rules.meta  "state" -> the high-water mark of min(occurred_at,
 *               received_at), the generation, the writer
 * A section is kind, id, varint body length, body. A window's id is the
 * first 8 bytes of BLAKE2b(rule name), so a rule keeps its state across
 * edits and reloads as long as its name stays; a prior section's id is the
 * panel's name. Bodies are varints (deltas from the previous item, zigzag).
 * Version 1 state (rules.window, rules.prior: fixed-size entries in a tree)
 * is converted, entry for entry, on first use.
 *
 * Everything logical (counting, suppression, prior alerts) ignores state
 * below the horizon, so when pruning physically happens (on touch, by the
 * cleaner) never changes an outcome: only the event sequence does. */
#include "rules.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "mpx.h"
#include "timefmt.h"
#include "yamlx.h"

#define RULE_NAME_MAX 64
#define PATH_SEG_MAX 6
#define PATH_TEXT_MAX 128
#define KEY_VALUE_MAX 100 /* bytes of one key value; longer: the rule does not apply */
#define KEY_EACH_MAX 8
#define TIERS_MAX 8
#define IN_LIST_MAX 64
#define COND_DEPTH_MAX 8
#define DAYS_MAX 3650
#define WINDOW_ENTRIES_MAX 4096 /* per rule and key; the oldest goes first */
#define FIRED_MAX 64
#define PRIOR_ENTRIES_MAX 64
/* At each flush the cleaner visits up to CLEAN_BUDGET log entries per event
 * evaluated; it moves live entries forward only while the log holds more
 * than three times the live records (plus GARBAGE_SLACK) or three times
 * their bytes (plus GARBAGE_SLACK_BYTES). At twice, with most keys live (a year of people
 * seen once), it moved about as many records as the events wrote; at three
 * times it moves half as many for a log a third longer. The index's stale
 * sweep looks at SWEEP_SLOTS slots per event. */
#define CLEAN_BUDGET 16
#define GARBAGE_SLACK 64
#define GARBAGE_SLACK_BYTES 65536
#define SWEEP_SLOTS 8
#define LEGACY_VERSION 1u /* rules.window, rules.prior */
#define META_VERSION 2u   /* rules.log */
#define SEC_WINDOW 1      /* section kinds */
#define SEC_WINDOW_H 2    /* a window whose entries carry distinct hashes */
#define SEC_PRIOR 3
#define SEQ_BITS 40 /* log seqs: a trillion appends */
#define SEQ_TOMB ((1ull << SEQ_BITS) - 1)
#define SIZE_FIELD_MAX ((1u << 24) - 1)

static const char DB_LOG[] = "rules.log";
static const char DB_META[] = "rules.meta";
static const char DB_LEGACY_WINDOW[] = "rules.window";
static const char DB_LEGACY_PRIOR[] = "rules.prior";
static const char META_KEY[] = "state";

/* ---- compiled rule set ---------------------------------------------- */

struct path {
    const char *text; /* as written, NUL-terminated */
    unsigned nseg;
    struct {
        const char *p;
        uint32_t n;
    } seg[PATH_SEG_MAX];
};

struct lit {
    const char *s; /* the text, NUL-terminated */
    uint32_t n;
    uint8_t is_num, is_int, is_bool, b;
    int64_t i;
    double d;
};

enum op { OP_EQ, OP_NE, OP_GE, OP_LE, OP_GT, OP_LT, OP_IN, OP_BETWEEN, OP_EXISTS, OP_MISSING };

/* COND_ALL first: a zeroed cond is "all of nothing", which holds. */
enum cond_kind { COND_ALL, COND_ANY, COND_TEST };

struct cond {
    enum cond_kind kind;
    struct path field; /* COND_TEST */
    enum op op;
    struct lit *lits;
    uint32_t nlits;
    struct cond *kids; /* COND_ANY, COND_ALL */
    size_t nkids;
};

enum ph {
    PH_TEXT, PH_COUNT, PH_DISTINCT, PH_KEY, PH_KEY_NAME, PH_FIRST, PH_LAST, PH_DATE,
    PH_THRESHOLD, PH_WINDOW, PH_WITHIN, PH_PANEL, PH_PRIORITY, PH_RULE, PH_DUE, PH_FIELD,
    PH_FIELD_DATE
};

static const struct {
    const char *name;
    enum ph ph;
    int restricted_ok; /* may appear in a restricted panel's reason */
} placeholders[] = {
    {"count", PH_COUNT, 0},         {"distinct", PH_DISTINCT, 0}, {"key", PH_KEY, 1},
    {"key_name", PH_KEY_NAME, 1},   {"first", PH_FIRST, 0},       {"last", PH_LAST, 0},
    {"date", PH_DATE, 0},           {"threshold", PH_THRESHOLD, 0}, {"window", PH_WINDOW, 0},
    {"within", PH_WITHIN, 0},       {"panel", PH_PANEL, 1},       {"priority", PH_PRIORITY, 1},
    {"rule", PH_RULE, 1},           {"due", PH_DUE, 1},
};

struct tseg {
    enum ph ph;
    const char *s; /* PH_TEXT */
    size_t n;
    struct path f; /* PH_FIELD, PH_FIELD_DATE */
};

struct tmpl {
    struct tseg *segs;
    size_t n;
    int has_last;
};

struct keyspec {
    size_t n;
    struct path f[CSPH_KEY_MAX_FIELDS];
    struct cond match; /* a key_each alternative's own tests */
};

enum due_kind { DUE_NONE, DUE_DAYS, DUE_WORKING_DAYS };

struct tier {
    int64_t at_least;
    enum csph_priority priority;
    enum due_kind due;
    int due_n;
};

struct rule {
    const char *name;
    unsigned char id[8];
    int panel; /* fixed panel, or -1: from panel_field */
    struct path panel_field;
    struct cond match;
    struct keyspec *keys;
    size_t nkeys;
    int windowed;
    int window_days;
    int64_t window_ms;
    int has_distinct;
    struct path distinct;
    struct tier tiers[TIERS_MAX]; /* a per-event rule: one tier, at_least 1 */
    size_t ntiers;
    int prio_from_field;
    struct path prio_field;
    int prio_raise;
    int prior; /* prior_alert */
    int prior_panel;
    int prior_days;
    int64_t prior_ms;
    struct tmpl reason, restricted_reason;
};

/* The windowed rules by id, for the sweep. */
struct rule_id {
    uint64_t id;
    const struct rule *rule;
};

struct type_slot {
    const char *name;
    size_t len;
    int *rules;
    size_t n;
};

/* ---- state ---------------------------------------------------------------- */

/* A window's event, a tier it fired, an alert on a panel: decoded. */
struct went {
    int64_t occ;
    uint64_t seq;
    uint64_t h;
};

struct wfired {
    int64_t occ;
    uint32_t tier;
    uint32_t pad;
};

struct pent {
    int64_t occ;
    uint64_t seq;
};

/* Version 1 records (native endian, read with memcpy), for the conversion. */
struct whdr {
    uint32_t version, n, nf, pad;
    int64_t max_occ, max_fired;
};

struct phdr {
    uint32_t version, n;
    int64_t max_occ;
};

struct mhdr1 {
    uint32_t version, sweep_db;
    int64_t hw;
    uint32_t sweep_len, pad;
};

/* rules.meta "state", version 2. */
struct mhdr {
    uint32_t version, pad;
    int64_t hw;
    uint64_t gen;    /* bumped by every call that writes the state */
    uint64_t writer; /* the engine instance that wrote it last */
};

struct meta {
    uint32_t version; /* 0: none or unreadable */
    int64_t hw;
    uint64_t gen, writer;
};

/* The index: a key's hash -> the log seq of its live entry (0: empty slot,
 * SEQ_TOMB: deleted), the high-water mark from which it is stale, its size.
 * A slot keeps the hash's low half (which places it); keys are compared in
 * full, and a live seq names one entry. 16 bytes a slot: the index is most
 * of the engine's memory (a million keys live is a 4M-slot table). */
struct islot {
    uint64_t seq : SEQ_BITS;
    uint64_t size : 24; /* bytes of the entry (accounting only; capped) */
    uint32_t hlo;
    int32_t stale_min;  /* stale_at in minutes, rounded up: kept a little longer, never less */
};

/* A record opened in this transaction: its key and sections live in r->ar. */
static int32_t stale_pack(int64_t ms)
{
    if (ms <= (int64_t)INT32_MIN * 60000)
        return INT32_MIN;
    if (ms >= (int64_t)INT32_MAX * 60000)
        return INT32_MAX;
    return (int32_t)(ms >= 0 ? (ms + 59999) / 60000 : -(-ms / 60000));
}

static int64_t slot_stale(const struct islot *s)
{
    return s->stale_min == INT32_MIN   ? INT64_MIN
           : s->stale_min == INT32_MAX ? INT64_MAX
                                       : (int64_t)s->stale_min * 60000;
}

static unsigned size_field(uint64_t n)
{
    return n > SIZE_FIELD_MAX ? SIZE_FIELD_MAX : (unsigned)n;
}

struct orec {
    size_t koff, klen;
    uint64_t h;
    uint64_t seq; /* its log entry, 0: none */
    size_t slot;  /* its index slot, while r->rehashes is what it was at open */
    uint64_t rehashes;
    int dirty;
    size_t first, last; /* its sections in r->secs, a list in order (SIZE_MAX: none) */
};

struct osec {
    size_t rec;       /* index in r->recs */
    size_t off, len;  /* the whole section in r->ar */
    size_t id, idlen; /* its id */
    size_t body, blen;
    unsigned char kind;
    int fresh;        /* encoded in this transaction: */
    int64_t stale_at; /* the hw from which it keeps nothing (stale_from) */
    size_t next;      /* the record's next section, SIZE_MAX: none */
    size_t wc;        /* a window held decoded (r->wc[wc - 1]) and newer than the body; 0: none */
};

/* A window section held decoded for the rest of the transaction, so a key
 * that many events touch (a busy area's hotspot window) is decoded and
 * encoded once per transaction instead of once per event. */
struct wcache {
    struct went *e;    /* oldest first, as eval_window leaves r->ents */
    struct wfired *f;
    size_t n, nf, cape, capf;
};

struct keyvals {
    char v[CSPH_KEY_MAX_FIELDS][KEY_VALUE_MAX + 1];
    uint8_t len[CSPH_KEY_MAX_FIELDS];
    char tag[CSPH_KEY_MAX_FIELDS];
};

/* A key value as text, with its kind: 's' text, 'n' number, 'b' yes/no. The
 * kind is part of the value's identity in the state, so alert 1042 (a
 * number) is never the person "1042". */
struct kval {
    const char *p;
    size_t n;
    char tag;
};

struct csph_rules {
    void **pool; /* every allocation made while loading */
    size_t npool, cappool;
    struct rule *rules;
    size_t nrules;
    struct type_slot *types;
    size_t ntypes;
    struct rule_id *window_ids;
    size_t nwindow_ids;
    struct csph_panel *panels;
    size_t *panel_len;
    int64_t *prior_keep_ms; /* per panel: longest prior_alert within_days on it, 0: none */
    size_t npanels;
    unsigned weekend; /* bit d: weekday d (0 Monday) is not a working day */
    int64_t *holidays; /* days since 1970-01-01, ascending */
    size_t nholidays;
    char digest[33];

    /* eval: handles and amortised buffers */
    MDB_dbi dbl, dbm;
    int64_t hw;
    int changed; /* this call wrote the state */
    /* the index of rules.log (valid while ivalid, for ienv) */
    int ivalid;
    MDB_env *ienv;
    uint64_t gen, writer;
    struct islot *slots;
    size_t nslots, nused, nlive, sweep_at, sweep_left;
    struct islot *spare; /* the next table (twice the size), zeroed ahead of need */
    size_t nspare, spare_ready;
    uint64_t *lbits; /* bit s - lbase: log entry s is live (the cleaner's test) */
    size_t lwords;
    uint64_t lbase;  /* a multiple of 64, at most the log's first seq */
    uint64_t nlog;     /* entries in the log */
    uint64_t logbytes, livebytes; /* of all entries, of the live ones */
    uint64_t head;     /* the next log seq */
    uint64_t txn_head; /* the head when the current transaction began */
    size_t txnid;
    uint64_t tail_seq;         /* the cleaner stopped at this live entry, */
    size_t tail_slot;          /* in this slot */
    uint64_t rehashes;         /* times the index was rebuilt or grown */
    size_t gen_txnid;          /* the transaction that bumped gen last */
    size_t clean_txnid;        /* ... or at this transaction's own entries */
    MDB_cursor *curl;          /* on the log, for one call */
    size_t cur_rec;            /* the record it points at, or SIZE_MAX */
    /* records opened in this transaction: written by csph_rules_flush */
    int open_valid;            /* they belong to transaction open_txnid */
    size_t open_txnid;
    size_t open_evals;         /* events evaluated since the last flush */
    int meta_dirty;            /* hw moved since the last flush */
    size_t *rmap;              /* key hash -> record index + 1 (open addressing) */
    size_t caprmap;
    struct wcache *wc;
    size_t nwc, capwc;
    unsigned char *ar;
    size_t nar, capar;
    struct orec *recs;
    size_t nrecs, caprecs;
    struct osec *secs;
    size_t nsecs, capsecs;
    unsigned char *sbuf, *wbuf; /* a section body being encoded, a log entry being moved */
    size_t capsbuf, capwbuf;
    struct csph_alert_draft *drafts;
    struct keyvals *keyvals;
    size_t *evoff;
    size_t ndrafts, capdrafts;
    uint64_t *ev;
    size_t nev, capev;
    struct went *ents;
    size_t capents;
    struct wfired *fired;
    size_t capfired;
    struct pent *pents;
    size_t cappents;
    uint64_t *hkeys;
    uint32_t *hcounts;
    size_t caph, hmask;
};

/* ---- small helpers ---------------------------------------------------- */

const char *csph_priority_name(enum csph_priority p)
{
    switch (p) {
    case CSPH_PRIORITY_STANDARD: return "standard";
    case CSPH_PRIORITY_MEDIUM: return "medium";
    case CSPH_PRIORITY_HIGH: return "high";
    }
    return "standard";
}

int csph_priority_parse(const char *s, size_t len)
{
    if (len == 8 && memcmp(s, "standard", 8) == 0)
        return CSPH_PRIORITY_STANDARD;
    if (len == 6 && memcmp(s, "medium", 6) == 0)
        return CSPH_PRIORITY_MEDIUM;
    if (len == 4 && memcmp(s, "high", 4) == 0)
        return CSPH_PRIORITY_HIGH;
    return -1;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    return a < INT64_MIN + b ? INT64_MIN : a - b;
}

static int64_t day_of(int64_t ms)
{
    return ms >= 0 ? ms / CSPH_MS_PER_DAY : -((-ms + CSPH_MS_PER_DAY - 1) / CSPH_MS_PER_DAY);
}

static int64_t abs_diff(int64_t a, int64_t b)
{
    return a > b ? a - b : b - a;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t c = *cap ? *cap : 16;
    while (c < need)
        c *= 2;
    void *q = realloc(*p, c * elem);
    if (!q)
        return -1;
    *p = q;
    *cap = c;
    return 0;
}

static void *palloc(struct csph_rules *r, size_t size)
{
    if (r->npool == r->cappool) {
        size_t c = r->cappool ? r->cappool * 2 : 64;
        void **p = realloc(r->pool, c * sizeof *p);
        if (!p)
            return NULL;
        r->pool = p;
        r->cappool = c;
    }
    void *m = calloc(1, size ? size : 1);
    if (m)
        r->pool[r->npool++] = m;
    return m;
}

static char *pstrdup(struct csph_rules *r, const char *s, size_t n)
{
    char *d = palloc(r, n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

static enum csph_err nomem(struct csph_error *err)
{
    return csph_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
}

static enum csph_err lmdb_fail(struct csph_error *err, int rc, const char *what)
{
    enum csph_err code =
        rc == MDB_MAP_FULL || rc == MDB_TXN_FULL ? CSPH_ERR_BUSY : CSPH_ERR_INTERNAL;
    return csph_error_set(err, code, NULL, "rules: %s: %s", what, mdb_strerror(rc));
}

static int is_field_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
}

/* 0; -1 when s is not a field name (victim, location.lsoa); -2 out of memory. */
static int path_compile(struct csph_rules *r, const char *s, size_t n, struct path *p)
{
    memset(p, 0, sizeof *p);
    if (n == 0 || n > PATH_TEXT_MAX)
        return -1;
    char *text = pstrdup(r, s, n);
    if (!text)
        return -2;
    p->text = text;
    for (size_t i = 0;;) {
        size_t start = i;
        while (i < n && is_field_char(text[i]))
            i++;
        if (i == start || p->nseg == PATH_SEG_MAX)
            return -1;
        p->seg[p->nseg].p = text + start;
        p->seg[p->nseg].n = (uint32_t)(i - start);
        p->nseg++;
        if (i == n)
            return 0;
        if (text[i] != '.')
            return -1;
        i++;
    }
}

static const msgpack_object *path_get(const msgpack_object *o, const struct path *p)
{
    for (unsigned s = 0; s < p->nseg; s++) {
        if (!o || o->type != MSGPACK_OBJECT_MAP)
            return NULL;
        const msgpack_object_kv *kv = o->via.map.ptr;
        const msgpack_object *next = NULL;
        for (uint32_t i = 0; i < o->via.map.size; i++)
            if (kv[i].key.type == MSGPACK_OBJECT_STR && kv[i].key.via.str.size == p->seg[s].n &&
                memcmp(kv[i].key.via.str.ptr, p->seg[s].p, p->seg[s].n) == 0) {
                next = &kv[i].val;
                break;
            }
        o = next;
    }
    return o;
}

static int panel_find(const struct csph_rules *r, const char *s, size_t n)
{
    for (size_t i = 0; i < r->npanels; i++)
        if (r->panel_len[i] == n && memcmp(r->panels[i].name, s, n) == 0)
            return (int)i;
    return -1;
}

/* ---- tests: parse ------------------------------------------------------ */

struct lex {
    const char *s;
    size_t i, n;
};

static void lex_ws(struct lex *l)
{
    while (l->i < l->n && (l->s[l->i] == ' ' || l->s[l->i] == '\t'))
        l->i++;
}

static int lex_end(struct lex *l)
{
    lex_ws(l);
    return l->i == l->n;
}

static int is_value_stop(char c)
{
    return c == ' ' || c == '\t' || c == ',' || c == '[' || c == ']';
}

/* A value: "quoted", 'quoted', or a bare word up to a space, ',' or ']'. */
static int lex_value(struct lex *l, const char **v, size_t *vn, int *quoted)
{
    lex_ws(l);
    if (l->i >= l->n)
        return -1;
    char q = l->s[l->i];
    if (q == '"' || q == '\'') {
        size_t start = ++l->i;
        while (l->i < l->n && l->s[l->i] != q)
            l->i++;
        if (l->i >= l->n)
            return -1;
        *v = l->s + start;
        *vn = l->i - start;
        *quoted = 1;
        l->i++;
        return 0;
    }
    size_t start = l->i;
    while (l->i < l->n && !is_value_stop(l->s[l->i]))
        l->i++;
    if (l->i == start)
        return -1;
    *v = l->s + start;
    *vn = l->i - start;
    *quoted = 0;
    return 0;
}

static int lit_make(struct csph_rules *r, const char *v, size_t vn, int quoted, struct lit *lit)
{
    memset(lit, 0, sizeof *lit);
    char *s = pstrdup(r, v, vn);
    if (!s)
        return -1;
    lit->s = s;
    lit->n = (uint32_t)vn;
    if (quoted)
        return 0; /* quoted: always text */
    if (!strcmp(s, "true") || !strcmp(s, "false")) {
        lit->is_bool = 1;
        lit->b = s[0] == 't';
        return 0;
    }
    int numeric = (s[0] >= '0' && s[0] <= '9') ||
                  ((s[0] == '-' || s[0] == '+' || s[0] == '.') && s[1] >= '0' && s[1] <= '9');
    if (!numeric)
        return 0;
    char *end;
    long long i = strtoll(s, &end, 10);
    if (*end == 0) {
        lit->is_num = lit->is_int = 1;
        lit->i = i;
        lit->d = (double)i;
        return 0;
    }
    double d = strtod(s, &end);
    if (*end == 0 && isfinite(d)) {
        lit->is_num = 1;
        lit->d = d;
    }
    return 0;
}

#define OPS_HELP "=, !=, >=, <=, >, <, in [a, b], between A and B, exists, missing"

static enum csph_err test_compile(struct csph_rules *r, struct csph_yaml *y, yaml_node_t *node,
                                  const char *s, struct cond *c, struct csph_error *err)
{
    struct lex l = {s, 0, strlen(s)};
    c->kind = COND_TEST;
    lex_ws(&l);
    size_t start = l.i;
    while (l.i < l.n && (is_field_char(s[l.i]) || s[l.i] == '.'))
        l.i++;
    if (l.i == start)
        return csph_yaml_fail(y, node, err,
                              "test '%s' must start with a field name, as in \"dash_score >= 14\"",
                              s);
    int pc = path_compile(r, s + start, l.i - start, &c->field);
    if (pc == -2)
        return nomem(err);
    if (pc)
        return csph_yaml_fail(y, node, err,
                              "'%.*s' in test '%s' is not a field name (letters, digits, _ and -; "
                              "a dot for a nested field such as location.lsoa)",
                              (int)(l.i - start), s + start, s);
    lex_ws(&l);
    if (l.i == l.n)
        return csph_yaml_fail(y, node, err, "test '%s' has no operator (use " OPS_HELP ")", s);
    size_t os = l.i;
    if (strchr("=!<>", s[l.i])) {
        while (l.i < l.n && strchr("=!<>~", s[l.i]) && s[l.i])
            l.i++;
    } else {
        while (l.i < l.n && s[l.i] != ' ' && s[l.i] != '\t' && s[l.i] != '[')
            l.i++;
    }
    const char *o = s + os;
    size_t on = l.i - os;
#define OPIS(word) (on == sizeof word - 1 && memcmp(o, word, on) == 0)
    if (OPIS("="))
        c->op = OP_EQ;
    else if (OPIS("!="))
        c->op = OP_NE;
    else if (OPIS(">="))
        c->op = OP_GE;
    else if (OPIS("<="))
        c->op = OP_LE;
    else if (OPIS(">"))
        c->op = OP_GT;
    else if (OPIS("<"))
        c->op = OP_LT;
    else if (OPIS("in"))
        c->op = OP_IN;
    else if (OPIS("between"))
        c->op = OP_BETWEEN;
    else if (OPIS("exists"))
        c->op = OP_EXISTS;
    else if (OPIS("missing"))
        c->op = OP_MISSING;
    else if (OPIS("=="))
        return csph_yaml_fail(y, node, err, "unknown operator '==' in test '%s' (write = to compare)",
                              s);
    else
        return csph_yaml_fail(y, node, err, "unknown operator '%.*s' in test '%s' (use " OPS_HELP ")",
                              (int)on, o, s);
#undef OPIS
    const char *v;
    size_t vn;
    int quoted;
    switch (c->op) {
    case OP_EXISTS:
    case OP_MISSING:
        break;
    case OP_IN: {
        lex_ws(&l);
        if (l.i >= l.n || s[l.i] != '[')
            return csph_yaml_fail(y, node, err, "test '%s': 'in' takes a list such as [knife, firearm]",
                                  s);
        l.i++;
        c->lits = palloc(r, IN_LIST_MAX * sizeof *c->lits);
        if (!c->lits)
            return nomem(err);
        for (;;) {
            if (lex_value(&l, &v, &vn, &quoted))
                return csph_yaml_fail(y, node, err, "test '%s': the list after 'in' has an empty "
                                      "or unterminated value", s);
            if (c->nlits == IN_LIST_MAX)
                return csph_yaml_fail(y, node, err, "test '%s': at most %d values after 'in'", s,
                                      IN_LIST_MAX);
            if (lit_make(r, v, vn, quoted, &c->lits[c->nlits++]))
                return nomem(err);
            lex_ws(&l);
            if (l.i < l.n && s[l.i] == ',') {
                l.i++;
                continue;
            }
            if (l.i < l.n && s[l.i] == ']') {
                l.i++;
                break;
            }
            return csph_yaml_fail(y, node, err, "test '%s': the list after 'in' must be "
                                  "[a, b, ...] with a closing ]", s);
        }
        break;
    }
    case OP_BETWEEN: {
        c->lits = palloc(r, 2 * sizeof *c->lits);
        if (!c->lits)
            return nomem(err);
        if (lex_value(&l, &v, &vn, &quoted) || lit_make(r, v, vn, quoted, &c->lits[0]))
            goto between_bad;
        lex_ws(&l);
        if (l.n - l.i < 4 || memcmp(s + l.i, "and", 3) != 0 || (s[l.i + 3] != ' ' && s[l.i + 3] != '\t'))
            goto between_bad;
        l.i += 3;
        if (lex_value(&l, &v, &vn, &quoted) || lit_make(r, v, vn, quoted, &c->lits[1]))
            goto between_bad;
        c->nlits = 2;
        if (c->lits[0].is_num && c->lits[1].is_num && c->lits[0].d > c->lits[1].d)
            return csph_yaml_fail(y, node, err, "test '%s': the lower bound comes first", s);
        break;
    between_bad:
        return csph_yaml_fail(y, node, err, "test '%s': write 'between LOW and HIGH', as in "
                              "\"age between 10 and 25\"", s);
    }
    default:
        if (lex_value(&l, &v, &vn, &quoted))
            return csph_yaml_fail(y, node, err, "test '%s' has no value after the operator", s);
        c->lits = palloc(r, sizeof *c->lits);
        if (!c->lits || lit_make(r, v, vn, quoted, c->lits))
            return nomem(err);
        c->nlits = 1;
        break;
    }
    if (!lex_end(&l))
        return csph_yaml_fail(y, node, err, "unexpected '%s' at the end of test '%s' (quote a value "
                              "that contains spaces)", s + l.i, s);
    return CSPH_ERR_OK;
}

static enum csph_err cond_compile(struct csph_rules *r, struct csph_yaml *y, yaml_node_t *node,
                                  struct cond *c, int depth, struct csph_error *err);

static enum csph_err cond_list(struct csph_rules *r, struct csph_yaml *y, yaml_node_t *seq,
                               struct cond *c, int depth, struct csph_error *err)
{
    size_t n = csph_yaml_seq_len(seq);
    c->kids = palloc(r, (n ? n : 1) * sizeof *c->kids);
    if (!c->kids)
        return nomem(err);
    c->nkids = n;
    for (size_t i = 0; i < n; i++) {
        enum csph_err rc = cond_compile(r, y, csph_yaml_seq_item(y, seq, i), &c->kids[i], depth + 1,
                                        err);
        if (rc)
            return rc;
    }
    return CSPH_ERR_OK;
}

static enum csph_err cond_compile(struct csph_rules *r, struct csph_yaml *y, yaml_node_t *node,
                                  struct cond *c, int depth, struct csph_error *err)
{
    memset(c, 0, sizeof *c);
    if (depth > COND_DEPTH_MAX)
        return csph_yaml_fail(y, node, err, "tests nested more than %d deep", COND_DEPTH_MAX);
    const char *s = csph_yaml_scalar(node);
    if (s)
        return test_compile(r, y, node, s, c, err);
    if (node && node->type == YAML_MAPPING_NODE && csph_yaml_map_len(node) == 1) {
        yaml_node_t *k, *v;
        csph_yaml_map_pair(y, node, 0, &k, &v);
        const char *ks = csph_yaml_scalar(k);
        if (ks && !strcmp(ks, "any"))
            c->kind = COND_ANY;
        else if (ks && !strcmp(ks, "all"))
            c->kind = COND_ALL;
        else
            return csph_yaml_fail(y, k, err, "unknown group '%s': a group is {any: [...]} or "
                                  "{all: [...]}", ks ? ks : "?");
        if (!v || v->type != YAML_SEQUENCE_NODE || csph_yaml_seq_len(v) == 0)
            return csph_yaml_fail(y, v ? v : k, err, "'%s' must list at least one test, as in "
                                  "%s: [\"risk = high\", \"dash_score >= 14\"]", ks, ks);
        return cond_list(r, y, v, c, depth, err);
    }
    return csph_yaml_fail(y, node, err, "a test is a text such as \"dash_score >= 14\", or a "
                          "group {any: [...]} / {all: [...]}");
}

/* match: a list (all must hold), or one test or group. */
static enum csph_err match_compile(struct csph_rules *r, struct csph_yaml *y, yaml_node_t *node,
                                   struct cond *c, struct csph_error *err)
{
    memset(c, 0, sizeof *c);
    if (node->type == YAML_SEQUENCE_NODE)
        return cond_list(r, y, node, c, 0, err);
    c->kids = palloc(r, sizeof *c->kids);
    if (!c->kids)
        return nomem(err);
    c->nkids = 1;
    return cond_compile(r, y, node, c->kids, 1, err);
}

/* ---- tests: evaluate -------------------------------------------------- */

/* Compare v with lit: 1 and *cmp (<0, 0, >0) when they are comparable. */
static int lit_cmp(const msgpack_object *v, const struct lit *lit, int *cmp)
{
    switch (v->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (lit->is_int) {
            *cmp = lit->i < 0 || v->via.u64 > (uint64_t)lit->i ? 1 : v->via.u64 < (uint64_t)lit->i ? -1 : 0;
            return 1;
        }
        if (lit->is_num) {
            double d = (double)v->via.u64;
            *cmp = d > lit->d ? 1 : d < lit->d ? -1 : 0;
            return 1;
        }
        return 0;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        if (lit->is_int) {
            *cmp = v->via.i64 > lit->i ? 1 : v->via.i64 < lit->i ? -1 : 0;
            return 1;
        }
        if (lit->is_num) {
            double d = (double)v->via.i64;
            *cmp = d > lit->d ? 1 : d < lit->d ? -1 : 0;
            return 1;
        }
        return 0;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        if (!lit->is_num)
            return 0;
        *cmp = v->via.f64 > lit->d ? 1 : v->via.f64 < lit->d ? -1 : 0;
        return 1;
    case MSGPACK_OBJECT_BOOLEAN:
        if (!lit->is_bool)
            return 0;
        *cmp = (int)v->via.boolean - (int)lit->b;
        return 1;
    case MSGPACK_OBJECT_STR: {
        uint32_t n = v->via.str.size < lit->n ? v->via.str.size : lit->n;
        int c = n ? memcmp(v->via.str.ptr, lit->s, n) : 0;
        *cmp = c ? c : (v->via.str.size > lit->n) - (v->via.str.size < lit->n);
        return 1;
    }
    default:
        return 0;
    }
}

static int test_eval(const struct cond *t, const msgpack_object *ev)
{
    const msgpack_object *v = path_get(ev, &t->field);
    int c;
    if (!v || v->type == MSGPACK_OBJECT_NIL)
        return t->op == OP_MISSING;
    switch (t->op) {
    case OP_EXISTS: return 1;
    case OP_MISSING: return 0;
    case OP_EQ: return lit_cmp(v, &t->lits[0], &c) && c == 0;
    case OP_NE: return !lit_cmp(v, &t->lits[0], &c) || c != 0;
    case OP_GE: return lit_cmp(v, &t->lits[0], &c) && c >= 0;
    case OP_LE: return lit_cmp(v, &t->lits[0], &c) && c <= 0;
    case OP_GT: return lit_cmp(v, &t->lits[0], &c) && c > 0;
    case OP_LT: return lit_cmp(v, &t->lits[0], &c) && c < 0;
    case OP_IN:
        for (uint32_t i = 0; i < t->nlits; i++)
            if (lit_cmp(v, &t->lits[i], &c) && c == 0)
                return 1;
        return 0;
    case OP_BETWEEN: {
        int lo, hi;
        return lit_cmp(v, &t->lits[0], &lo) && lo >= 0 && lit_cmp(v, &t->lits[1], &hi) && hi <= 0;
    }
    }
    return 0;
}

static int cond_eval(const struct cond *c, const msgpack_object *ev)
{
    switch (c->kind) {
    case COND_TEST: return test_eval(c, ev);
    case COND_ANY:
        for (size_t i = 0; i < c->nkids; i++)
            if (cond_eval(&c->kids[i], ev))
                return 1;
        return 0;
    case COND_ALL:
        for (size_t i = 0; i < c->nkids; i++)
            if (!cond_eval(&c->kids[i], ev))
                return 0;
        return 1;
    }
    return 0;
}

/* ---- reason templates ----------------------------------------------------- */

#define PH_HELP "{count} {distinct} {key} {key_name} {first} {last} {date} {threshold} " \
                "{window} {within} {panel} {priority} {rule} {due} {field:NAME} {date:NAME}"

static enum csph_err tmpl_compile(struct csph_rules *r, struct csph_yaml *y, yaml_node_t *node,
                                  const char *s, int restricted, const char *panel,
                                  struct tmpl *t, struct csph_error *err)
{
    size_t n = strlen(s);
    char *text = palloc(r, n + 1); /* literal text with {{ }} resolved */
    t->segs = palloc(r, (n + 1) * sizeof *t->segs);
    t->n = 0;
    t->has_last = 0;
    if (!text || !t->segs)
        return nomem(err);
    size_t tn = 0, lit_start = 0;
#define FLUSH()                                                                \
    do {                                                                       \
        if (tn > lit_start)                                                    \
            t->segs[t->n++] = (struct tseg){PH_TEXT, text + lit_start, tn - lit_start, {0}}; \
        lit_start = tn;                                                        \
    } while (0)
    for (size_t i = 0; i < n;) {
        if ((s[i] == '{' && s[i + 1] == '{') || (s[i] == '}' && s[i + 1] == '}')) {
            text[tn++] = s[i];
            i += 2;
            continue;
        }
        if (s[i] != '{') {
            text[tn++] = s[i++];
            continue;
        }
        const char *close = strchr(s + i + 1, '}');
        if (!close)
            return csph_yaml_fail(y, node, err, "reason: '{' without a closing '}' (write {{ for a "
                                  "literal brace)");
        const char *name = s + i + 1;
        size_t nl = (size_t)(close - name);
        struct tseg seg = {PH_TEXT, NULL, 0, {0}};
        int ok_restricted = 0, found = 0;
        if (nl > 6 && memcmp(name, "field:", 6) == 0) {
            seg.ph = PH_FIELD;
            found = 1;
        } else if (nl > 5 && memcmp(name, "date:", 5) == 0) {
            seg.ph = PH_FIELD_DATE;
            found = 1;
        } else {
            for (size_t k = 0; k < sizeof placeholders / sizeof *placeholders; k++)
                if (strlen(placeholders[k].name) == nl && !memcmp(placeholders[k].name, name, nl)) {
                    seg.ph = placeholders[k].ph;
                    ok_restricted = placeholders[k].restricted_ok;
                    found = 1;
                }
        }
        if (!found)
            return csph_yaml_fail(y, node, err, "reason: unknown placeholder {%.*s} (known: " PH_HELP ")",
                                  (int)nl, name);
        if (restricted && !ok_restricted)
            return csph_yaml_fail(y, node, err,
                                  "reason for restricted panel '%s' may show only that a case exists: "
                                  "{key}, {key_name}, {panel}, {priority}, {rule}, {due}; not {%.*s}",
                                  panel, (int)nl, name);
        if (seg.ph == PH_FIELD || seg.ph == PH_FIELD_DATE) {
            size_t skip = seg.ph == PH_FIELD ? 6 : 5;
            int pc = path_compile(r, name + skip, nl - skip, &seg.f);
            if (pc == -2)
                return nomem(err);
            if (pc)
                return csph_yaml_fail(y, node, err, "reason: {%.*s} does not name a field", (int)nl,
                                      name);
        }
        if (seg.ph == PH_LAST)
            t->has_last = 1;
        FLUSH();
        t->segs[t->n++] = seg;
        i = (size_t)(close - s) + 1;
    }
    FLUSH();
#undef FLUSH
    return CSPH_ERR_OK;
}

struct fire {
    const struct rule *R;
    const struct csph_rule_event *ev;
    int panel;
    enum csph_priority priority;
    const struct keyspec *K;
    const struct keyvals *kv;
    uint64_t count, distinct;
    int64_t first_ms, last_ms;
    int64_t threshold;
    int has_due;
    int64_t due_ms;
};

struct out {
    char *b;
    size_t n, cap;
    int full;
};

static void out_put(struct out *o, const char *s, size_t n)
{
    if (o->full)
        return;
    size_t room = o->cap - 1 - o->n;
    if (n > room) {
        n = room;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--; /* never cut a UTF-8 character */
        o->full = 1;
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
}

static void out_str(struct out *o, const char *s)
{
    out_put(o, s, strlen(s));
}

static void out_u64(struct out *o, uint64_t v)
{
    char b[24];
    out_put(o, b, (size_t)snprintf(b, sizeof b, "%" PRIu64, v));
}

static void out_date(struct out *o, int64_t ms, int drop_year)
{
    char b[32];
    int n = csph_time_format_date(ms, b);
    if (drop_year) {
        char *sp = strrchr(b, ' ');
        if (sp)
            n = (int)(sp - b);
    }
    out_put(o, b, (size_t)n);
}

static void out_value(struct out *o, const msgpack_object *v, int as_date)
{
    char b[40];
    if (!v || v->type == MSGPACK_OBJECT_NIL) {
        out_str(o, "not given");
        return;
    }
    switch (v->type) {
    case MSGPACK_OBJECT_STR: {
        int64_t ms;
        if (as_date && csph_time_parse(v->via.str.ptr, v->via.str.size, &ms, NULL) == 0)
            out_date(o, ms, 0);
        else
            out_put(o, v->via.str.ptr, v->via.str.size);
        return;
    }
    case MSGPACK_OBJECT_POSITIVE_INTEGER: out_u64(o, v->via.u64); return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        out_put(o, b, (size_t)snprintf(b, sizeof b, "%" PRId64, v->via.i64));
        return;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        out_put(o, b, (size_t)snprintf(b, sizeof b, "%g", v->via.f64));
        return;
    case MSGPACK_OBJECT_BOOLEAN: out_str(o, v->via.boolean ? "true" : "false"); return;
    default: out_str(o, "(several values)"); return;
    }
}

static void render(const struct csph_rules *r, const struct tmpl *t, const struct fire *f,
                   char *buf, size_t cap)
{
    struct out o = {buf, 0, cap, 0};
    const struct rule *R = f->R;
    for (size_t i = 0; i < t->n; i++) {
        const struct tseg *s = &t->segs[i];
        switch (s->ph) {
        case PH_TEXT: out_put(&o, s->s, s->n); break;
        case PH_COUNT: out_u64(&o, f->count); break;
        case PH_DISTINCT: out_u64(&o, f->distinct); break;
        case PH_KEY:
            for (size_t k = 0; k < f->K->n; k++) {
                if (k)
                    out_str(&o, " / ");
                out_put(&o, f->kv->v[k], f->kv->len[k]);
            }
            break;
        case PH_KEY_NAME:
            for (size_t k = 0; k < f->K->n; k++) {
                if (k)
                    out_str(&o, " + ");
                out_str(&o, f->K->f[k].text);
            }
            break;
        case PH_FIRST: {
            int y1, y2;
            unsigned m, d;
            csph_civil_from_days(day_of(f->first_ms), &y1, &m, &d);
            csph_civil_from_days(day_of(f->last_ms), &y2, &m, &d);
            out_date(&o, f->first_ms, t->has_last && y1 == y2);
            break;
        }
        case PH_LAST: out_date(&o, f->last_ms, 0); break;
        case PH_DATE: out_date(&o, f->ev->occurred_ms, 0); break;
        case PH_THRESHOLD: out_u64(&o, (uint64_t)f->threshold); break;
        case PH_WINDOW:
            out_u64(&o, (uint64_t)(R->windowed ? R->window_days : R->prior ? R->prior_days : 0));
            break;
        case PH_WITHIN: out_u64(&o, (uint64_t)(R->prior ? R->prior_days : R->window_days)); break;
        case PH_PANEL: out_str(&o, r->panels[f->panel].name); break;
        case PH_PRIORITY: out_str(&o, csph_priority_name(f->priority)); break;
        case PH_RULE: out_str(&o, R->name); break;
        case PH_DUE:
            if (f->has_due)
                out_date(&o, f->due_ms, 0);
            else
                out_str(&o, "no deadline");
            break;
        case PH_FIELD: out_value(&o, path_get(f->ev->obj, &s->f), 0); break;
        case PH_FIELD_DATE: out_value(&o, path_get(f->ev->obj, &s->f), 1); break;
        }
    }
    buf[o.n] = 0;
}

/* ---- calendar and deadlines ---------------------------------------------- */

static int is_working_day(const struct csph_rules *r, int64_t day)
{
    int wd = (int)(((day % 7) + 7 + 3) % 7); /* 1970-01-01 was a Thursday; 0 = Monday */
    if (r->weekend & (1u << wd))
        return 0;
    size_t lo = 0, hi = r->nholidays;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->holidays[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return !(lo < r->nholidays && r->holidays[lo] == day);
}

int64_t csph_rules_add_working_days(const struct csph_rules *r, int64_t ms, int n)
{
    int64_t day = day_of(ms), tod = ms - day * CSPH_MS_PER_DAY;
    while (n > 0) {
        day++;
        if (is_working_day(r, day))
            n--;
    }
    return day * CSPH_MS_PER_DAY + tod;
}

static int64_t tier_due(const struct csph_rules *r, const struct tier *t, int64_t raised_ms)
{
    if (t->due == DUE_DAYS)
        return raised_ms + (int64_t)t->due_n * CSPH_MS_PER_DAY;
    return csph_rules_add_working_days(r, raised_ms, t->due_n);
}

int csph_rules_due(const struct csph_rules *r, int rule_index, enum csph_priority priority,
                   int64_t raised_ms, int64_t *due_ms)
{
    if (!r || rule_index < 0 || (size_t)rule_index >= r->nrules)
        return 0;
    const struct rule *R = &r->rules[rule_index];
    const struct tier *t = NULL;
    if (!R->windowed) {
        t = &R->tiers[0]; /* a per-event rule has one cadence, whatever the priority */
    } else {
        for (size_t i = 0; i < R->ntiers; i++)
            if (R->tiers[i].priority == priority && R->tiers[i].due != DUE_NONE)
                t = &R->tiers[i];
    }
    if (!t || t->due == DUE_NONE)
        return 0;
    *due_ms = tier_due(r, t, raised_ms);
    return 1;
}

static int parse_date(const char *s, int64_t *day)
{
    int y, m, d;
    char tail;
    if (strlen(s) != 10 || sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || s[4] != '-' ||
        s[7] != '-' || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    *day = csph_days_from_civil(y, (unsigned)m, (unsigned)d);
    int y2;
    unsigned m2, d2;
    csph_civil_from_days(*day, &y2, &m2, &d2);
    return y2 == y && (int)m2 == m && (int)d2 == d ? 0 : -1;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static enum csph_err calendar_load(struct csph_rules *r, const char *path, struct csph_error *err)
{
    static const char *const keys[] = {"weekend", "bank_holidays", NULL};
    static const char *const days[] = {"monday", "tuesday", "wednesday", "thursday",
                                       "friday", "saturday", "sunday"};
    struct csph_yaml y;
    enum csph_err rc = csph_yaml_load(&y, path, err);
    if (rc)
        return rc;
    yaml_node_t *root = csph_yaml_root(&y), *n;
    r->weekend = (1u << 5) | (1u << 6);
    if (!root) {
        rc = csph_yaml_fail(&y, root, err, "the calendar is empty: expected 'weekend:' and "
                            "'bank_holidays:'");
        goto done;
    }
    if ((rc = csph_yaml_only_keys(&y, root, keys, "the calendar", err)))
        goto done;
    if ((n = csph_yaml_get(&y, root, "weekend"))) {
        if (n->type != YAML_SEQUENCE_NODE) {
            rc = csph_yaml_fail(&y, n, err, "weekend must list day names, as in [saturday, sunday]");
            goto done;
        }
        r->weekend = 0;
        for (size_t i = 0; i < csph_yaml_seq_len(n); i++) {
            yaml_node_t *it = csph_yaml_seq_item(&y, n, i);
            const char *s = csph_yaml_scalar(it);
            int found = -1;
            for (int d = 0; s && d < 7; d++)
                if (!strcmp(s, days[d]))
                    found = d;
            if (found < 0) {
                rc = csph_yaml_fail(&y, it, err, "'%s' is not a day name (monday ... sunday)",
                                    s ? s : "?");
                goto done;
            }
            r->weekend |= 1u << found;
        }
        if (r->weekend == 0x7f) {
            rc = csph_yaml_fail(&y, n, err, "at least one day of the week must be a working day");
            goto done;
        }
    }
    if ((n = csph_yaml_get(&y, root, "bank_holidays"))) {
        size_t len = csph_yaml_seq_len(n);
        if (n->type != YAML_SEQUENCE_NODE) {
            rc = csph_yaml_fail(&y, n, err, "bank_holidays must list dates, one a line: - 2025-12-25");
            goto done;
        }
        r->holidays = palloc(r, (len ? len : 1) * sizeof *r->holidays);
        if (!r->holidays) {
            rc = nomem(err);
            goto done;
        }
        for (size_t i = 0; i < len; i++) {
            yaml_node_t *it = csph_yaml_seq_item(&y, n, i);
            const char *s = csph_yaml_scalar(it);
            int64_t day;
            if (!s || parse_date(s, &day)) {
                rc = csph_yaml_fail(&y, it, err, "'%s' is not a date written YYYY-MM-DD",
                                    s ? s : "?");
                goto done;
            }
            for (size_t j = 0; j < r->nholidays; j++)
                if (r->holidays[j] == day) {
                    rc = csph_yaml_fail(&y, it, err, "%s is listed twice", s);
                    goto done;
                }
            r->holidays[r->nholidays++] = day;
        }
        qsort(r->holidays, r->nholidays, sizeof *r->holidays, cmp_i64);
    }
done:
    csph_yaml_free(&y);
    return rc;
}

/* ---- loading rules ----------------------------------------------------- */

static enum csph_err read_days(struct csph_yaml *y, yaml_node_t *n, const char *what, int *out,
                               int min, struct csph_error *err)
{
    int64_t v;
    enum csph_err rc = csph_yaml_int(y, n, what, min, DAYS_MAX, &v, err);
    if (!rc)
        *out = (int)v;
    return rc;
}

static enum csph_err read_priority(struct csph_yaml *y, yaml_node_t *n, enum csph_priority *p,
                                   struct csph_error *err)
{
    const char *s = csph_yaml_scalar(n);
    int v = s ? csph_priority_parse(s, strlen(s)) : -1;
    if (v < 0)
        return csph_yaml_fail(y, n, err, "unknown priority '%s' (use standard, medium or high)",
                              s ? s : "?");
    *p = (enum csph_priority)v;
    return CSPH_ERR_OK;
}

static enum csph_err read_path(struct csph_rules *r, struct csph_yaml *y, yaml_node_t *n,
                               const char *what, struct path *p, struct csph_error *err)
{
    const char *s = csph_yaml_scalar(n);
    if (!s)
        return csph_yaml_fail(y, n, err, "%s must be a field name", what);
    int pc = path_compile(r, s, strlen(s), p);
    if (pc == -2)
        return nomem(err);
    if (pc)
        return csph_yaml_fail(y, n, err, "%s '%s' is not a field name (letters, digits, _ and -; a "
                              "dot for a nested field such as location.lsoa)", what, s);
    return CSPH_ERR_OK;
}

/* A key: one field or a list of up to CSPH_KEY_MAX_FIELDS. */
static enum csph_err read_key(struct csph_rules *r, struct csph_yaml *y, yaml_node_t *n,
                              struct keyspec *k, struct csph_error *err)
{
    enum csph_err rc;
    if (csph_yaml_scalar(n)) {
        k->n = 1;
        return read_path(r, y, n, "key", &k->f[0], err);
    }
    size_t len = csph_yaml_seq_len(n);
    if (!n || n->type != YAML_SEQUENCE_NODE || len == 0 || len > CSPH_KEY_MAX_FIELDS)
        return csph_yaml_fail(y, n, err, "key must be a field or a list of 1 to %d fields",
                              CSPH_KEY_MAX_FIELDS);
    for (size_t i = 0; i < len; i++) {
        if ((rc = read_path(r, y, csph_yaml_seq_item(y, n, i), "key", &k->f[i], err)))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(k->f[i].text, k->f[j].text))
                return csph_yaml_fail(y, csph_yaml_seq_item(y, n, i), err,
                                      "key field '%s' is listed twice", k->f[i].text);
    }
    k->n = len;
    return CSPH_ERR_OK;
}

static enum csph_err read_due(struct csph_yaml *y, yaml_node_t *map, struct tier *t,
                              int has_calendar, struct csph_error *err)
{
    yaml_node_t *d = csph_yaml_get(y, map, "due_days"), *w = csph_yaml_get(y, map, "due_working_days");
    enum csph_err rc;
    if (d && w)
        return csph_yaml_fail(y, w, err, "give due_days or due_working_days, not both");
    if (d) {
        t->due = DUE_DAYS;
        return read_days(y, d, "due_days", &t->due_n, 0, err);
    }
    if (w) {
        if (!has_calendar)
            return csph_yaml_fail(y, w, err, "due_working_days needs a calendar: add "
                                  "'calendar: calendar.yaml' at the top of the rule file");
        t->due = DUE_WORKING_DAYS;
        if ((rc = read_days(y, w, "due_working_days", &t->due_n, 0, err)))
            return rc;
    }
    return CSPH_ERR_OK;
}

/* panel: NAME or {from_field: FIELD}. */
static enum csph_err read_panel(struct csph_rules *r, struct csph_yaml *y, yaml_node_t *n,
                                int allow_field, int *panel, struct path *field,
                                struct csph_error *err)
{
    static const char *const keys[] = {"from_field", NULL};
    const char *s = csph_yaml_scalar(n);
    if (s) {
        *panel = panel_find(r, s, strlen(s));
        if (*panel < 0) {
            char known[256] = "";
            size_t off = 0;
            for (size_t i = 0; i < r->npanels && off < sizeof known; i++)
                off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", i ? ", " : "",
                                        r->panels[i].name);
            return csph_yaml_fail(y, n, err, "unknown panel '%s' (configured: %s)", s, known);
        }
        return CSPH_ERR_OK;
    }
    if (!allow_field || !n || n->type != YAML_MAPPING_NODE)
        return csph_yaml_fail(y, n, err, allow_field
                                             ? "panel must be a panel name or {from_field: FIELD}"
                                             : "panel must be a panel name");
    enum csph_err rc = csph_yaml_only_keys(y, n, keys, "panel", err);
    yaml_node_t *f = csph_yaml_get(y, n, "from_field");
    if (rc)
        return rc;
    if (!f)
        return csph_yaml_fail(y, n, err, "panel: {from_field: FIELD} names the event field that "
                              "holds the panel");
    *panel = -1;
    return read_path(r, y, f, "from_field", field, err);
}

static enum csph_err read_tiers(struct csph_yaml *y, yaml_node_t *n, struct rule *R,
                                int has_calendar, struct csph_error *err)
{
    static const char *const keys[] = {"at_least", "priority", "due_days", "due_working_days", NULL};
    size_t len = csph_yaml_seq_len(n);
    enum csph_err rc;
    if (!n || n->type != YAML_SEQUENCE_NODE || len == 0 || len > TIERS_MAX)
        return csph_yaml_fail(y, n, err, "tiers must list 1 to %d tiers, as in "
                              "[{at_least: 3, priority: medium}]", TIERS_MAX);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *t = csph_yaml_seq_item(y, n, i), *v;
        struct tier *T = &R->tiers[i];
        if ((rc = csph_yaml_only_keys(y, t, keys, "a tier", err)))
            return rc;
        if (!(v = csph_yaml_get(y, t, "at_least")))
            return csph_yaml_fail(y, t, err, "a tier needs at_least (how many events)");
        if ((rc = csph_yaml_int(y, v, "at_least", 1, WINDOW_ENTRIES_MAX, &T->at_least, err)))
            return rc;
        if (!(v = csph_yaml_get(y, t, "priority")))
            return csph_yaml_fail(y, t, err, "a tier needs a priority (standard, medium or high)");
        if ((rc = read_priority(y, v, &T->priority, err)) ||
            (rc = read_due(y, t, T, has_calendar, err)))
            return rc;
        if (i > 0 && T->at_least <= R->tiers[i - 1].at_least)
            return csph_yaml_fail(y, t, err, "tiers must rise: at_least %lld does not exceed the "
                                  "tier before (%lld)", (long long)T->at_least,
                                  (long long)R->tiers[i - 1].at_least);
        if (i > 0 && T->priority < R->tiers[i - 1].priority)
            return csph_yaml_fail(y, t, err, "tiers must rise: priority %s is below the tier "
                                  "before (%s)", csph_priority_name(T->priority),
                                  csph_priority_name(R->tiers[i - 1].priority));
    }
    R->ntiers = len;
    return CSPH_ERR_OK;
}

static const char *const default_reason_event = "{rule}: {key_name} {key} on {date}";
static const char *const default_reason_prior =
    "{rule}: {key_name} {key} on {date}, with an earlier alert within {within} days";
static const char *const default_reason_window =
    "{count} events for {key_name} {key} between {first} and {last} (threshold {threshold} in "
    "{window} days)";
static const char *const default_reason_distinct =
    "{distinct} different values in {count} events for {key_name} {key} between {first} and "
    "{last} (threshold {threshold} in {window} days)";
static const char *const default_reason_restricted =
    "A case exists for {key_name} {key} under rule {rule}; details are restricted to the {panel} "
    "panel";

static enum csph_err parse_rule(struct csph_rules *r, struct csph_yaml *y, yaml_node_t *node,
                                struct rule *R, int has_calendar,
                                int (*type_known)(void *ctx, const char *type), void *ctx,
                                struct csph_error *err)
{
    static const char *const keys[] = {
        "name", "description", "panel", "when", "match", "key", "key_each", "distinct",
        "window_days", "tiers", "priority", "due_days", "due_working_days", "prior_alert",
        "reason", "restricted_reason", NULL};
    enum csph_err rc;
    yaml_node_t *n;
    const char *s;
    char where[96];
    if (!node || node->type != YAML_MAPPING_NODE)
        return csph_yaml_fail(y, node, err, "each rule is a mapping that starts with 'name:'");
    if (!(n = csph_yaml_get(y, node, "name")))
        return csph_yaml_fail(y, node, err, "a rule needs a name");
    if ((rc = csph_yaml_str(y, n, "name", &s, err)))
        return rc;
    size_t nl = strlen(s);
    int name_ok = nl > 0 && nl <= RULE_NAME_MAX;
    for (size_t i = 0; name_ok && i < nl; i++)
        name_ok = is_field_char(s[i]) || s[i] == '.';
    if (!name_ok)
        return csph_yaml_fail(y, n, err, "rule name '%s' must be 1-%d letters, digits, '.', '_' "
                              "or '-'", s, RULE_NAME_MAX);
    if (!(R->name = pstrdup(r, s, nl)))
        return nomem(err);
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)s, nl, NULL, 0);
    memcpy(R->id, h, sizeof R->id);
    snprintf(where, sizeof where, "rule '%s'", s);
    if ((rc = csph_yaml_only_keys(y, node, keys, where, err)))
        return rc;
    if ((n = csph_yaml_get(y, node, "description")) && (rc = csph_yaml_str(y, n, "description", &s, err)))
        return rc;

    /* panel */
    if (!(n = csph_yaml_get(y, node, "panel")))
        return csph_yaml_fail(y, node, err, "%s needs a panel", where);
    if ((rc = read_panel(r, y, n, 1, &R->panel, &R->panel_field, err)))
        return rc;

    /* when */
    if (!(n = csph_yaml_get(y, node, "when")))
        return csph_yaml_fail(y, node, err, "%s needs 'when:' (an event type or a list of types)",
                              where);
    size_t ntypes = csph_yaml_scalar(n) ? 1 : csph_yaml_seq_len(n);
    if (ntypes == 0)
        return csph_yaml_fail(y, n, err, "when must be an event type or a list of types");
    for (size_t i = 0; i < ntypes; i++) {
        yaml_node_t *t = csph_yaml_scalar(n) ? n : csph_yaml_seq_item(y, n, i);
        const char *ts = csph_yaml_scalar(t);
        if (!ts || !*ts)
            return csph_yaml_fail(y, t, err, "when must be an event type or a list of types");
        if (type_known && !type_known(ctx, ts))
            return csph_yaml_fail(y, t, err, "unknown event type '%s' (no schema of that name)", ts);
        size_t tl = strlen(ts), slot;
        for (slot = 0; slot < r->ntypes; slot++)
            if (r->types[slot].len == tl && !memcmp(r->types[slot].name, ts, tl))
                break;
        if (slot == r->ntypes) {
            if (!(r->types[slot].name = pstrdup(r, ts, tl)))
                return nomem(err);
            r->types[slot].len = tl;
            r->ntypes++;
        }
        struct type_slot *ty = &r->types[slot];
        int me = (int)(R - r->rules);
        if (ty->n && ty->rules[ty->n - 1] == me)
            return csph_yaml_fail(y, t, err, "event type '%s' is listed twice", ts);
        ty->rules[ty->n++] = me;
    }

    /* match */
    if ((n = csph_yaml_get(y, node, "match")) && (rc = match_compile(r, y, n, &R->match, err)))
        return rc;

    /* key / key_each */
    yaml_node_t *key = csph_yaml_get(y, node, "key"), *each = csph_yaml_get(y, node, "key_each");
    if (key && each)
        return csph_yaml_fail(y, each, err, "give key or key_each, not both");
    if (!key && !each)
        return csph_yaml_fail(y, node, err, "%s needs a key (the field(s) it groups by) or key_each",
                              where);
    if (key) {
        if (!(R->keys = palloc(r, sizeof *R->keys)))
            return nomem(err);
        R->nkeys = 1;
        if ((rc = read_key(r, y, key, &R->keys[0], err)))
            return rc;
    } else {
        static const char *const ekeys[] = {"key", "match", NULL};
        size_t len = csph_yaml_seq_len(each);
        if (each->type != YAML_SEQUENCE_NODE || len == 0 || len > KEY_EACH_MAX)
            return csph_yaml_fail(y, each, err, "key_each must list 1 to %d alternatives, each "
                                  "{key: FIELD, match: [...]}", KEY_EACH_MAX);
        if (!(R->keys = palloc(r, len * sizeof *R->keys)))
            return nomem(err);
        R->nkeys = len;
        for (size_t i = 0; i < len; i++) {
            yaml_node_t *alt = csph_yaml_seq_item(y, each, i), *m;
            if ((rc = csph_yaml_only_keys(y, alt, ekeys, "a key_each alternative", err)))
                return rc;
            if (!(n = csph_yaml_get(y, alt, "key")))
                return csph_yaml_fail(y, alt, err, "a key_each alternative needs a key");
            if ((rc = read_key(r, y, n, &R->keys[i], err)))
                return rc;
            if ((m = csph_yaml_get(y, alt, "match")) &&
                (rc = match_compile(r, y, m, &R->keys[i].match, err)))
                return rc;
        }
    }

    /* window, distinct, tiers / priority, prior_alert */
    yaml_node_t *win = csph_yaml_get(y, node, "window_days"), *tiers = csph_yaml_get(y, node, "tiers"),
                *prio = csph_yaml_get(y, node, "priority"), *prior = csph_yaml_get(y, node, "prior_alert"),
                *dist = csph_yaml_get(y, node, "distinct");
    if (win) {
        R->windowed = 1;
        if ((rc = read_days(y, win, "window_days", &R->window_days, 1, err)))
            return rc;
        R->window_ms = (int64_t)R->window_days * CSPH_MS_PER_DAY;
        if (prior)
            return csph_yaml_fail(y, prior, err, "prior_alert fires per event: remove window_days "
                                  "or prior_alert");
        if (prio)
            return csph_yaml_fail(y, prio, err, "a windowed rule sets its priority in each tier");
        if ((n = csph_yaml_get(y, node, "due_days")) || (n = csph_yaml_get(y, node, "due_working_days")))
            return csph_yaml_fail(y, n, err, "a windowed rule sets its deadline in each tier");
        if (!tiers)
            return csph_yaml_fail(y, win, err, "a windowed rule needs tiers, as in "
                                  "tiers: [{at_least: 3, priority: medium}]");
        if ((rc = read_tiers(y, tiers, R, has_calendar, err)))
            return rc;
        if (dist) {
            R->has_distinct = 1;
            if ((rc = read_path(r, y, dist, "distinct", &R->distinct, err)))
                return rc;
        }
    } else {
        if (tiers)
            return csph_yaml_fail(y, tiers, err, "tiers need window_days (the period they count in)");
        if (dist)
            return csph_yaml_fail(y, dist, err, "distinct needs window_days (the period it counts in)");
        if (!prio)
            return csph_yaml_fail(y, node, err, "%s needs a priority (standard, medium or high), or "
                                  "window_days and tiers", where);
        R->ntiers = 1;
        R->tiers[0].at_least = 1;
        if (csph_yaml_scalar(prio)) {
            if ((rc = read_priority(y, prio, &R->tiers[0].priority, err)))
                return rc;
        } else {
            static const char *const pkeys[] = {"from_field", "raise", NULL};
            yaml_node_t *f, *rs;
            int64_t raise = 0;
            if ((rc = csph_yaml_only_keys(y, prio, pkeys, "priority", err)))
                return rc;
            if (!(f = csph_yaml_get(y, prio, "from_field")))
                return csph_yaml_fail(y, prio, err, "priority must be standard, medium, high or "
                                      "{from_field: FIELD, raise: N}");
            if ((rc = read_path(r, y, f, "from_field", &R->prio_field, err)))
                return rc;
            if ((rs = csph_yaml_get(y, prio, "raise")) &&
                (rc = csph_yaml_int(y, rs, "raise", 0, 2, &raise, err)))
                return rc;
            R->prio_from_field = 1;
            R->prio_raise = (int)raise;
        }
        if ((rc = read_due(y, node, &R->tiers[0], has_calendar, err)))
            return rc;
        if (prior) {
            static const char *const akeys[] = {"panel", "within_days", NULL};
            yaml_node_t *p, *w;
            if ((rc = csph_yaml_only_keys(y, prior, akeys, "prior_alert", err)))
                return rc;
            if (!(p = csph_yaml_get(y, prior, "panel")) || !(w = csph_yaml_get(y, prior, "within_days")))
                return csph_yaml_fail(y, prior, err, "prior_alert needs panel and within_days, as in "
                                      "{panel: marac, within_days: 365}");
            struct path unused;
            if ((rc = read_panel(r, y, p, 0, &R->prior_panel, &unused, err)) ||
                (rc = read_days(y, w, "within_days", &R->prior_days, 1, err)))
                return rc;
            R->prior = 1;
            R->prior_ms = (int64_t)R->prior_days * CSPH_MS_PER_DAY;
        }
    }

    /* reasons: a fixed restricted panel only ever shows the restricted one */
    int fixed_restricted = R->panel >= 0 && r->panels[R->panel].restricted;
    const char *pname = R->panel >= 0 ? r->panels[R->panel].name : "";
    yaml_node_t *rn = csph_yaml_get(y, node, "reason"), *rrn = csph_yaml_get(y, node, "restricted_reason");
    const char *rs = R->prior ? default_reason_prior
                     : !R->windowed ? default_reason_event
                     : R->has_distinct ? default_reason_distinct
                                       : default_reason_window;
    if (rn && (rc = csph_yaml_str(y, rn, "reason", &rs, err)))
        return rc;
    if (fixed_restricted && !rn)
        rs = default_reason_restricted;
    if ((rc = tmpl_compile(r, y, rn, rs, fixed_restricted, pname, &R->reason, err)))
        return rc;
    const char *rrs = fixed_restricted ? rs : default_reason_restricted;
    if (rrn && (rc = csph_yaml_str(y, rrn, "restricted_reason", &rrs, err)))
        return rc;
    return tmpl_compile(r, y, rrn ? rrn : rn, rrs, 1, pname[0] ? pname : "(from the event)",
                        &R->restricted_reason, err);
}

static enum csph_err read_file(const char *path, unsigned char **buf, size_t *len,
                               struct csph_error *err)
{
    FILE *f = fopen(path, "rb");
    *buf = NULL;
    *len = 0;
    if (!f)
        return csph_error_set(err, CSPH_ERR_IO, NULL, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 0;
    for (;;) {
        if (grow((void **)buf, &cap, *len + 4096, 1)) {
            fclose(f);
            return nomem(err);
        }
        size_t got = fread(*buf + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return csph_error_set(err, CSPH_ERR_IO, NULL, "%s: cannot read", path);
    return CSPH_ERR_OK;
}

static void hash_bytes(crypto_generichash_state *st, const unsigned char *p, size_t n)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)n >> (8 * i));
    crypto_generichash_update(st, len, sizeof len);
    if (n)
        crypto_generichash_update(st, p, n);
}

enum csph_err csph_rules_load(struct csph_rules **out, const char *path,
                              const struct csph_panel *panels, size_t npanels,
                              int (*type_known)(void *ctx, const char *type), void *ctx,
                              struct csph_error *err)
{
    static const char *const keys[] = {"calendar", "rules", NULL};
    struct csph_yaml y = {0};
    unsigned char *rbytes = NULL, *cbytes = NULL;
    size_t rlen = 0, clen = 0;
    enum csph_err rc;
    if (sodium_init() < 0)
        return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "libsodium failed to start");
    struct csph_rules *r = calloc(1, sizeof *r);
    if (!r)
        return nomem(err);
    r->npanels = npanels;
    r->weekend = (1u << 5) | (1u << 6);
    /* Names this instance in rules.meta: its index is valid only while the
     * state there is the state it last wrote. */
    randombytes_buf(&r->writer, sizeof r->writer);
    r->writer |= 1;
    r->panels = palloc(r, (npanels ? npanels : 1) * sizeof *r->panels);
    r->panel_len = palloc(r, (npanels ? npanels : 1) * sizeof *r->panel_len);
    r->prior_keep_ms = palloc(r, (npanels ? npanels : 1) * sizeof *r->prior_keep_ms);
    if (!r->panels || !r->panel_len || !r->prior_keep_ms) {
        rc = nomem(err);
        goto fail;
    }
    for (size_t i = 0; i < npanels; i++) {
        r->panels[i] = panels[i];
        r->panel_len[i] = strlen(panels[i].name);
    }
    if ((rc = read_file(path, &rbytes, &rlen, err)) || (rc = csph_yaml_load(&y, path, err)))
        goto fail;
    yaml_node_t *root = csph_yaml_root(&y), *n;
    if (!root || root->type != YAML_MAPPING_NODE) {
        rc = csph_yaml_fail(&y, root, err, "expected 'calendar:' and 'rules:' followed by the rules");
        goto fail;
    }
    if ((rc = csph_yaml_only_keys(&y, root, keys, "the rule file", err)))
        goto fail;
    int has_calendar = 0;
    if ((n = csph_yaml_get(&y, root, "calendar"))) {
        const char *s;
        char cpath[1024];
        if ((rc = csph_yaml_str(&y, n, "calendar", &s, err)))
            goto fail;
        const char *slash = strrchr(path, '/');
        if (s[0] == '/' || !slash)
            snprintf(cpath, sizeof cpath, "%s", s);
        else
            snprintf(cpath, sizeof cpath, "%.*s/%s", (int)(slash - path), path, s);
        if ((rc = read_file(cpath, &cbytes, &clen, err))) {
            if (rc == CSPH_ERR_IO)
                rc = csph_yaml_fail(&y, n, err, "cannot read the calendar %s", cpath);
            goto fail;
        }
        if ((rc = calendar_load(r, cpath, err)))
            goto fail;
        has_calendar = 1;
    }
    if (!(n = csph_yaml_get(&y, root, "rules")) ||
        (n->type != YAML_SEQUENCE_NODE && !(csph_yaml_scalar(n) && !*csph_yaml_scalar(n)))) {
        rc = csph_yaml_fail(&y, n ? n : root, err, "expected 'rules:' followed by a list of rules");
        goto fail;
    }
    size_t nrules = csph_yaml_seq_len(n), ntypes_max = 0;
    for (size_t i = 0; i < nrules; i++) {
        yaml_node_t *w = csph_yaml_get(&y, csph_yaml_seq_item(&y, n, i), "when");
        ntypes_max += w && !csph_yaml_scalar(w) ? csph_yaml_seq_len(w) : 1;
    }
    r->rules = palloc(r, (nrules ? nrules : 1) * sizeof *r->rules);
    r->types = palloc(r, (ntypes_max ? ntypes_max : 1) * sizeof *r->types);
    if (!r->rules || !r->types) {
        rc = nomem(err);
        goto fail;
    }
    for (size_t i = 0; i < ntypes_max; i++)
        if (!(r->types[i].rules = palloc(r, (nrules ? nrules : 1) * sizeof(int)))) {
            rc = nomem(err);
            goto fail;
        }
    for (size_t i = 0; i < nrules; i++) {
        yaml_node_t *rn = csph_yaml_seq_item(&y, n, i);
        struct rule *R = &r->rules[i];
        if ((rc = parse_rule(r, &y, rn, R, has_calendar, type_known, ctx, err)))
            goto fail;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(r->rules[j].name, R->name) || !memcmp(r->rules[j].id, R->id, 8)) {
                rc = csph_yaml_fail(&y, csph_yaml_get(&y, rn, "name"), err,
                                    "rule name '%s' is used twice (rule %zu has it too)", R->name,
                                    j + 1);
                goto fail;
            }
        r->nrules++;
        if (R->prior && R->prior_ms > r->prior_keep_ms[R->prior_panel])
            r->prior_keep_ms[R->prior_panel] = R->prior_ms;
    }
    if (!(r->window_ids = palloc(r, (nrules ? nrules : 1) * sizeof *r->window_ids))) {
        rc = nomem(err);
        goto fail;
    }
    for (size_t i = 0; i < r->nrules; i++)
        if (r->rules[i].windowed) {
            memcpy(&r->window_ids[r->nwindow_ids].id, r->rules[i].id, 8);
            r->window_ids[r->nwindow_ids++].rule = &r->rules[i];
        }

    crypto_generichash_state st;
    unsigned char d[16];
    crypto_generichash_init(&st, NULL, 0, sizeof d);
    hash_bytes(&st, rbytes, rlen);
    hash_bytes(&st, cbytes, clen);
    for (size_t i = 0; i < npanels; i++) {
        hash_bytes(&st, (const unsigned char *)panels[i].name, strlen(panels[i].name));
        unsigned char flag = panels[i].restricted ? 1 : 0;
        crypto_generichash_update(&st, &flag, 1);
    }
    crypto_generichash_final(&st, d, sizeof d);
    sodium_bin2hex(r->digest, sizeof r->digest, d, sizeof d);

    csph_yaml_free(&y);
    free(rbytes);
    free(cbytes);
    *out = r;
    return CSPH_ERR_OK;
fail:
    csph_yaml_free(&y);
    free(rbytes);
    free(cbytes);
    csph_rules_destroy(&r);
    return rc;
}

static void table_free(struct islot *t, size_t n);

void csph_rules_destroy(struct csph_rules **rp)
{
    if (!rp || !*rp)
        return;
    struct csph_rules *r = *rp;
    for (size_t i = 0; i < r->npool; i++)
        free(r->pool[i]);
    free(r->pool);
    free(r->drafts);
    free(r->keyvals);
    free(r->evoff);
    free(r->ev);
    free(r->ents);
    free(r->fired);
    free(r->pents);
    free(r->hkeys);
    free(r->hcounts);
    table_free(r->slots, r->nslots);
    table_free(r->spare, r->nspare);
    free(r->lbits);
    free(r->ar);
    free(r->recs);
    free(r->secs);
    free(r->rmap);
    for (size_t i = 0; i < r->capwc; i++) {
        free(r->wc[i].e);
        free(r->wc[i].f);
    }
    free(r->wc);
    free(r->sbuf);
    free(r->wbuf);
    free(r);
    *rp = NULL;
}

const char *csph_rules_digest(const struct csph_rules *r)
{
    return r->digest;
}

size_t csph_rules_count(const struct csph_rules *r)
{
    return r->nrules;
}

const char *csph_rules_name(const struct csph_rules *r, size_t i)
{
    return i < r->nrules ? r->rules[i].name : NULL;
}

/* ---- eval ------------------------------------------------------------------ */

/* The key's values as text (numbers in decimal). -1: the rule does not apply. */
static int key_values(const struct keyspec *K, const msgpack_object *o, struct kval *out,
                      char (*num)[24])
{
    for (size_t i = 0; i < K->n; i++) {
        const msgpack_object *v = path_get(o, &K->f[i]);
        if (!v)
            return -1;
        switch (v->type) {
        case MSGPACK_OBJECT_STR:
            if (v->via.str.size == 0 || v->via.str.size > KEY_VALUE_MAX)
                return -1;
            out[i].p = v->via.str.ptr;
            out[i].n = v->via.str.size;
            out[i].tag = 's';
            break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER:
            out[i].p = num[i];
            out[i].n = (size_t)snprintf(num[i], 24, "%" PRIu64, v->via.u64);
            out[i].tag = 'n';
            break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER:
            out[i].p = num[i];
            out[i].n = (size_t)snprintf(num[i], 24, "%" PRId64, v->via.i64);
            out[i].tag = 'n';
            break;
        case MSGPACK_OBJECT_BOOLEAN:
            out[i].p = v->via.boolean ? "true" : "false";
            out[i].n = strlen(out[i].p);
            out[i].tag = 'b';
            break;
        default:
            return -1;
        }
    }
    return 0;
}

static size_t put_values(unsigned char *kb, size_t off, const struct kval *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        kb[off++] = (unsigned char)v[i].tag;
        kb[off++] = (unsigned char)v[i].n;
        memcpy(kb + off, v[i].p, v[i].n);
        off += v[i].n;
    }
    return off;
}

/* ---- state: varints ---------------------------------------------------------- */

static size_t uv_put(unsigned char *p, uint64_t v)
{
    if (v < 0x80) {
        p[0] = (unsigned char)v;
        return 1;
    }
    if (v < 0x4000) {
        p[0] = (unsigned char)(v | 0x80);
        p[1] = (unsigned char)(v >> 7);
        return 2;
    }
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (unsigned char)v;
    return n;
}

static uint64_t le64(uint64_t w)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    return __builtin_bswap64(w);
#else
    return w;
#endif
}

static size_t uv_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

static int uv_get_slow(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned s = 0; *p < end && s < 64; s += 7) {
        unsigned char b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static inline int uv_get(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
    if (*p < end && !(**p & 0x80)) {
        *v = *(*p)++;
        return 0;
    }
    if (end - *p >= 8) { /* up to 8 bytes (56 bits) at once, little-endian */
        uint64_t w, stop;
        memcpy(&w, *p, 8);
        w = le64(w);
        if ((stop = ~w & 0x8080808080808080ull)) {
            unsigned len = ((unsigned)__builtin_ctzll(stop) >> 3) + 1;
            uint64_t x = len == 8 ? w : w & ((1ull << (8 * len)) - 1);
            x = (x & 0x7f) | (x >> 1 & 0x3f80) | (x >> 2 & 0x1fc000) | (x >> 3 & 0xfe00000) |
                (x >> 4 & 0x7f0000000ull) | (x >> 5 & 0x3f800000000ull) |
                (x >> 6 & 0x1fc0000000000ull) | (x >> 7 & 0xfe000000000000ull);
            *v = x;
            *p += len;
            return 0;
        }
    }
    return uv_get_slow(p, end, v);
}

/* Deltas wrap (two's complement) and are zigzag-encoded. */
static uint64_t zz_enc(uint64_t d)
{
    return (d << 1) ^ (0 - (d >> 63));
}

static uint64_t zz_dec(uint64_t z)
{
    return (z >> 1) ^ (0 - (z & 1));
}

static uint64_t i64_delta(int64_t v, int64_t prev)
{
    return zz_enc((uint64_t)v - (uint64_t)prev);
}

static int64_t i64_undelta(int64_t prev, uint64_t z)
{
    return (int64_t)((uint64_t)prev + zz_dec(z));
}

static int64_t sat_add(int64_t a, int64_t b) /* b >= 0 */
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static uint64_t key_hash(const unsigned char *p, size_t n)
{
    uint64_t x = 14695981039346656037ull ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        x = (x ^ w) * 0x9E3779B97F4A7C15ull;
        x ^= x >> 29;
    }
    w = 0;
    memcpy(&w, p, n);
    x = (x ^ w) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

/* ---- state: sections ---------------------------------------------------------- */

/* A section: kind, id (window: 8 bytes; prior: length byte + panel name),
 * varint body length, body.
 *   window body: nf, nf x {occurred delta, tier}, n, n x {occurred delta,
 *     seq delta [, 8 bytes distinct hash: SEC_WINDOW_H]}, newest first
 *   prior body:  n, n x {occurred delta, seq delta}, as raised
 * Deltas are from the previous item of the list (the first from 0). */
struct secv {
    unsigned char kind;
    const unsigned char *id, *body;
    size_t idlen, blen, total;
};

static int sec_view(const unsigned char *p, const unsigned char *end, struct secv *s)
{
    const unsigned char *q = p;
    uint64_t bl;
    if (q >= end)
        return -1;
    s->kind = *q++;
    if (s->kind == SEC_WINDOW || s->kind == SEC_WINDOW_H) {
        s->idlen = 8;
    } else if (s->kind == SEC_PRIOR) {
        if (q >= end)
            return -1;
        s->idlen = *q++;
    } else {
        return -1;
    }
    if ((size_t)(end - q) < s->idlen)
        return -1;
    s->id = q;
    q += s->idlen;
    if (uv_get(&q, end, &bl) || bl > (uint64_t)(end - q))
        return -1;
    s->body = q;
    s->blen = (size_t)bl;
    s->total = (size_t)(q - p) + s->blen;
    return 0;
}

static const struct rule *rule_by_id(const struct csph_rules *r, const unsigned char *id)
{
    uint64_t x;
    memcpy(&x, id, 8);
    for (size_t i = 0; i < r->nwindow_ids; i++)
        if (r->window_ids[i].id == x)
            return r->window_ids[i].rule;
    return NULL;
}

/* The high-water mark from which the sections (n bytes at p) hold nothing
 * that counts any more: every window entry below its horizon, every fired
 * tier too old to suppress, every prior alert older than its panel's
 * longest within_days (a section of a rule or panel no longer in the file
 * keeps nothing alive). The record is stale when hw >= this.
 *
 * A record rewritten in a call gets max(what it had, its fresh sections')
 * instead of a full decode: changing a section never lowers what is live
 * in it (the newest entry, the latest tier fired, the latest alert stay or
 * get newer; what goes is below the horizon, stale already), so the two
 * agree whenever the result is above hw, and are both at most hw otherwise. */
static int64_t stale_from(const struct csph_rules *r, const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n;
    int64_t at = INT64_MIN;
    struct secv s;
    for (; p < end && !sec_view(p, end, &s); p += s.total) {
        const unsigned char *q = s.body, *qe = s.body + s.blen;
        uint64_t cnt, a, b;
        int64_t occ = 0, t;
        if (s.kind != SEC_PRIOR) {
            const struct rule *R = rule_by_id(r, s.id);
            if (!R || uv_get(&q, qe, &cnt))
                continue;
            for (uint64_t i = 0; i < cnt; i++) {
                if (uv_get(&q, qe, &a) || uv_get(&q, qe, &b))
                    goto next;
                occ = i64_undelta(occ, a);
                if ((t = sat_add(occ, 2 * R->window_ms)) > at)
                    at = t; /* fired <= hw - 2W suppresses nothing */
            }
            if (!uv_get(&q, qe, &cnt) && cnt && !uv_get(&q, qe, &a) &&
                (t = sat_add(sat_add(i64_undelta(0, a), R->window_ms), 1)) > at)
                at = t; /* the newest entry < hw - W: nothing counts */
        } else {
            int panel = panel_find(r, (const char *)s.id, s.idlen);
            int64_t keep = panel >= 0 ? r->prior_keep_ms[panel] : 0;
            if (!keep || uv_get(&q, qe, &cnt))
                continue;
            for (uint64_t i = 0; i < cnt; i++) {
                if (uv_get(&q, qe, &a) || uv_get(&q, qe, &b))
                    break;
                occ = i64_undelta(occ, a);
                if ((t = sat_add(sat_add(occ, keep), 1)) > at)
                    at = t;
            }
        }
    next:;
    }
    return at;
}

/* Append a section (its body in r->sbuf) to r->ar. */
static int sec_put(struct csph_rules *r, unsigned char kind, const unsigned char *id, size_t idlen,
                   size_t bl, size_t *off, size_t *len)
{
    unsigned char hdr[2 + 255 + 10];
    size_t hn = 0;
    hdr[hn++] = kind;
    if (kind == SEC_PRIOR)
        hdr[hn++] = (unsigned char)idlen;
    memcpy(hdr + hn, id, idlen);
    hn += idlen;
    hn += uv_put(hdr + hn, bl);
    if (grow((void **)&r->ar, &r->capar, r->nar + hn + bl, 1))
        return -1;
    *off = r->nar;
    *len = hn + bl;
    memcpy(r->ar + r->nar, hdr, hn);
    memcpy(r->ar + r->nar + hn, r->sbuf, bl);
    r->nar += hn + bl;
    return 0;
}

/* The window r->ents[0, n) (oldest first) and r->fired[0, nf) as a section;
 * *stale_at as stale_from would find it (R NULL: a rule no longer in the file). */
static int win_encode(struct csph_rules *r, const struct rule *R, const unsigned char *id, size_t n,
                      size_t nf, size_t *off, size_t *len, int64_t *stale_at)
{
    int64_t t;
    *stale_at = INT64_MIN;
    if (R) {
        for (size_t q = 0; q < nf; q++)
            if ((t = sat_add(r->fired[q].occ, 2 * R->window_ms)) > *stale_at)
                *stale_at = t;
        if (n && (t = sat_add(sat_add(r->ents[n - 1].occ, R->window_ms), 1)) > *stale_at)
            *stale_at = t;
    }
    int hashed = 0;
    for (size_t q = 0; q < n && !hashed; q++)
        hashed = r->ents[q].h != 0;
    if (grow((void **)&r->sbuf, &r->capsbuf, 20 + nf * 20 + n * 28, 1))
        return -1;
    unsigned char *b = r->sbuf;
    size_t bl = uv_put(b, nf);
    int64_t po = 0;
    uint64_t ps = 0;
    for (size_t q = 0; q < nf; q++) {
        bl += uv_put(b + bl, i64_delta(r->fired[q].occ, po));
        bl += uv_put(b + bl, r->fired[q].tier);
        po = r->fired[q].occ;
    }
    bl += uv_put(b + bl, n);
    po = 0;
    for (size_t q = n; q-- > 0;) {
        const struct went *e = &r->ents[q];
        bl += uv_put(b + bl, i64_delta(e->occ, po));
        bl += uv_put(b + bl, zz_enc(e->seq - ps));
        if (hashed) {
            memcpy(b + bl, &e->h, 8);
            bl += 8;
        }
        po = e->occ;
        ps = e->seq;
    }
    return sec_put(r, hashed ? SEC_WINDOW_H : SEC_WINDOW, id, 8, bl, off, len);
}

/* A window section into r->ents (oldest first, occurred >= horizon) and
 * r->fired (as stored, occurred > fired_horizon). 1: it already holds seq;
 * -1: unreadable (treated as empty); -2: out of memory. */
static int win_decode(struct csph_rules *r, const unsigned char *p, size_t blen, int hashed,
                      int64_t horizon, int64_t fired_horizon, uint64_t seq, size_t *pn, size_t *pnf)
{
    const unsigned char *end = p + blen;
    uint64_t nf, n, a, b, sq = 0;
    int64_t occ = 0;
    size_t k = 0, lo = 0;
    int dup = 0;
    *pn = *pnf = 0;
    if (uv_get(&p, end, &nf) || nf > (uint64_t)(end - p))
        return -1;
    if (grow((void **)&r->fired, &r->capfired, (size_t)nf + TIERS_MAX, sizeof *r->fired))
        return -2;
    for (uint64_t i = 0; i < nf; i++) {
        if (uv_get(&p, end, &a) || uv_get(&p, end, &b) || b > UINT32_MAX)
            return -1;
        occ = i64_undelta(occ, a);
        if (occ > fired_horizon)
            r->fired[k++] = (struct wfired){occ, (uint32_t)b, 0};
    }
    if (uv_get(&p, end, &n) || n > (uint64_t)(end - p))
        return -1;
    if (grow((void **)&r->ents, &r->capents, (size_t)n + 1, sizeof *r->ents))
        return -2;
    occ = 0;
    for (uint64_t i = 0; i < n; i++) {
        struct went *e = &r->ents[n - 1 - i];
        if (uv_get(&p, end, &a) || uv_get(&p, end, &b))
            return -1;
        occ = i64_undelta(occ, a);
        sq += zz_dec(b);
        e->occ = occ;
        e->seq = sq;
        e->h = 0;
        if (hashed) {
            if (end - p < 8)
                return -1;
            memcpy(&e->h, p, 8);
            p += 8;
        }
        dup |= sq == seq;
    }
    if (p != end)
        return -1;
    if (dup)
        return 1; /* already counted: evaluating an event twice is a no-op */
    while (lo < n && r->ents[lo].occ < horizon)
        lo++;
    memmove(r->ents, r->ents + lo, (size_t)(n - lo) * sizeof *r->ents);
    *pn = (size_t)(n - lo);
    *pnf = k;
    return 0;
}

static int prior_encode(struct csph_rules *r, const char *panel, size_t plen, size_t n,
                        size_t *off, size_t *len, int64_t *stale_at)
{
    int p = panel_find(r, panel, plen);
    int64_t keep = p >= 0 ? r->prior_keep_ms[p] : 0, t;
    *stale_at = INT64_MIN;
    for (size_t q = 0; q < n && keep; q++)
        if ((t = sat_add(sat_add(r->pents[q].occ, keep), 1)) > *stale_at)
            *stale_at = t;
    if (grow((void **)&r->sbuf, &r->capsbuf, 10 + n * 20, 1))
        return -1;
    unsigned char *b = r->sbuf;
    size_t bl = uv_put(b, n);
    int64_t po = 0;
    uint64_t ps = 0;
    for (size_t q = 0; q < n; q++) {
        bl += uv_put(b + bl, i64_delta(r->pents[q].occ, po));
        bl += uv_put(b + bl, zz_enc(r->pents[q].seq - ps));
        po = r->pents[q].occ;
        ps = r->pents[q].seq;
    }
    return sec_put(r, SEC_PRIOR, (const unsigned char *)panel, plen, bl, off, len);
}

/* A prior section into r->pents (as stored, occurred >= horizon).
 * -1: unreadable (treated as empty); -2: out of memory. */
static int prior_decode(struct csph_rules *r, const unsigned char *p, size_t blen, int64_t horizon,
                        size_t *pn)
{
    const unsigned char *end = p + blen;
    uint64_t n, a, b, sq = 0;
    int64_t occ = 0;
    size_t k = 0;
    *pn = 0;
    if (uv_get(&p, end, &n) || n > (uint64_t)(end - p))
        return -1;
    if (grow((void **)&r->pents, &r->cappents, (size_t)n + 1, sizeof *r->pents))
        return -2;
    for (uint64_t i = 0; i < n; i++) {
        if (uv_get(&p, end, &a) || uv_get(&p, end, &b))
            return -1;
        occ = i64_undelta(occ, a);
        sq += zz_dec(b);
        if (occ >= horizon)
            r->pents[k++] = (struct pent){occ, sq};
    }
    if (p != end)
        return -1;
    *pn = k;
    return 0;
}

/* ---- state: the log and its index ------------------------------------------------ */

/* A log entry: varint key length, key, sections. */
static int entry_split(const MDB_val *v, const unsigned char **k, size_t *kn,
                       const unsigned char **s, size_t *sn)
{
    const unsigned char *p = v->mv_data, *end = p + v->mv_size;
    uint64_t n;
    if (uv_get(&p, end, &n) || n > (uint64_t)(end - p))
        return -1;
    *k = p;
    *kn = (size_t)n;
    *s = p + n;
    *sn = (size_t)(end - p) - (size_t)n;
    return 0;
}

/* Log entry seq, through the call's cursor (left there for the write). */
static int log_get(struct csph_rules *r, MDB_txn *txn, uint64_t seq, MDB_val *v)
{
    MDB_val k = {sizeof seq, &seq};
    int rc = r->curl ? 0 : mdb_cursor_open(txn, r->dbl, &r->curl);
    r->cur_rec = SIZE_MAX;
    return rc ? rc : mdb_cursor_get(r->curl, &k, v, MDB_SET_KEY);
}

/* The live bitmap of log seqs. */
static int lbit_set(struct csph_rules *r, uint64_t seq, int on)
{
    if (seq < r->lbase)
        return 0;
    uint64_t w = (seq - r->lbase) >> 6, bit = 1ull << ((seq - r->lbase) & 63);
    if (w >= r->lwords) {
        if (!on)
            return 0;
        size_t nw = r->lwords ? r->lwords : 64;
        while (nw <= w)
            nw *= 2;
        uint64_t *p = realloc(r->lbits, nw * sizeof *p);
        if (!p)
            return -1;
        memset(p + r->lwords, 0, (nw - r->lwords) * sizeof *p);
        r->lbits = p;
        r->lwords = nw;
    }
    if (on)
        r->lbits[w] |= bit;
    else
        r->lbits[w] &= ~bit;
    return 0;
}

static int lbit_get(const struct csph_rules *r, uint64_t seq)
{
    if (seq < r->lbase || (seq - r->lbase) >> 6 >= r->lwords)
        return 0;
    return (int)(r->lbits[(seq - r->lbase) >> 6] >> ((seq - r->lbase) & 63) & 1);
}

/* The log now starts at tail: let go of the words below it. */
static void lbit_trim(struct csph_rules *r, uint64_t tail)
{
    uint64_t w = tail > r->lbase ? (tail - r->lbase) >> 6 : 0;
    if (!w || w * 2 < r->lwords)
        return;
    if (w > r->lwords)
        w = r->lwords;
    memmove(r->lbits, r->lbits + w, (r->lwords - w) * sizeof *r->lbits);
    memset(r->lbits + (r->lwords - w), 0, w * sizeof *r->lbits);
    r->lbase += w * 64;
}

/* The index tables come from mmap: zeroed by the kernel, and advised onto
 * transparent huge pages where the system allows it (the default
 * "madvise" setting). The table is read at random, so huge pages save TLB
 * misses, and filling it takes one fault per 2 MB instead of 512: on the
 * VMs we run on a fault costs about 11 us. */
static struct islot *table_new(size_t n)
{
    size_t len = n * sizeof(struct islot);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (len >= (2u << 20))
        (void)madvise(p, len, MADV_HUGEPAGE); /* advice only: without it, 4 KB pages */
#endif
    return p;
}

static void table_free(struct islot *t, size_t n)
{
    if (t)
        munmap(t, n * sizeof *t);
}

/* The slot holding (h, seq), or SIZE_MAX. */
static size_t index_find(const struct csph_rules *r, uint64_t h, uint64_t seq)
{
    if (!r->nslots)
        return SIZE_MAX;
    size_t mask = r->nslots - 1;
    for (size_t i = (size_t)h & mask; r->slots[i].seq; i = (i + 1) & mask)
        if (r->slots[i].seq == seq)
            return i;
    return SIZE_MAX;
}

/* The live entry of a key: 0 and *slot, *v; MDB_NOTFOUND; or an error
 * (MDB_CORRUPTED: the index names an entry the log does not hold). */
static int index_get(struct csph_rules *r, MDB_txn *txn, uint64_t h, const unsigned char *key,
                     size_t klen, size_t *slot, MDB_val *v)
{
    if (!r->nslots)
        return MDB_NOTFOUND;
    size_t mask = r->nslots - 1;
    for (size_t i = (size_t)h & mask; r->slots[i].seq; i = (i + 1) & mask) {
        const unsigned char *k, *s;
        size_t kn, sn;
        if (r->slots[i].seq == SEQ_TOMB || r->slots[i].hlo != (uint32_t)h)
            continue;
        int rc = log_get(r, txn, r->slots[i].seq, v);
        if (rc)
            return rc == MDB_NOTFOUND ? MDB_CORRUPTED : rc;
        if (entry_split(v, &k, &kn, &s, &sn))
            return MDB_CORRUPTED;
        if (kn == klen && !memcmp(k, key, klen)) {
            *slot = i;
            return 0;
        }
    }
    return MDB_NOTFOUND;
}

/* Room for one more key. */
static int index_reserve(struct csph_rules *r)
{
    if ((r->nused + 1) * 2 <= r->nslots)
        return 0;
    /* Twice the live keys: a table full of live keys doubles, one holding
     * many tombstones is rebuilt at its size. Half used at most. */
    size_t size = 64;
    while (size < r->nlive * 2 + 2)
        size *= 2;
    struct islot *ns;
    if (r->spare && r->nspare == size) {
        ns = r->spare; /* zero from mmap; index_warm only touched its pages */
        r->spare = NULL;
        r->nspare = r->spare_ready = 0;
    } else if (!(ns = table_new(size))) {
        return -1;
    }
    for (size_t i = 0; i < r->nslots; i++) {
        const struct islot *s = &r->slots[i];
        if (!s->seq || s->seq == SEQ_TOMB)
            continue;
        size_t j = (size_t)s->hlo & (size - 1);
        while (ns[j].seq)
            j = (j + 1) & (size - 1);
        ns[j] = *s;
    }
    table_free(r->slots, r->nslots);
    r->slots = ns;
    r->nslots = size;
    r->nused = r->nlive;
    r->sweep_at = 0;
    r->sweep_left = size;
    r->rehashes++;
    return 0;
}

/* Fault in the next table a little at a time, in step with the index
 * filling up, so that growing it costs no burst of page faults: fresh memory
 * costs about 11 us a 4 KB page to touch on the VMs we run on, and zeroing a
 * 24 MB table at once held one batch for 90 ms (huge pages, where the
 * system gives them, make this cheap anyway). From 45% used, the share of the
 * next table touched follows the share of the way to 50% used (when
 * index_reserve grows it); starting late keeps the two tables side by side
 * for a short stretch only. Best effort: without memory it waits. */
static void index_warm(struct csph_rules *r)
{
    size_t from = r->nslots / 20 * 9, span = r->nslots / 20;
    if (r->nslots < 4096 || r->nused < from)
        return;
    size_t want = r->nslots * 2;
    if (r->nspare != want) {
        table_free(r->spare, r->nspare);
        r->spare_ready = 0;
        r->nspare = (r->spare = table_new(want)) ? want : 0;
        if (!r->spare)
            return;
    }
    size_t done = r->nused - from;
    size_t target = done >= span ? want : (size_t)((double)want * (double)done / (double)span);
    target = target + 4096 < want ? target + 4096 : want; /* a little ahead */
    if (target > r->spare_ready) {
        /* The memory is zero already: writing a zero to each page is what
         * makes the kernel provide it now rather than in index_reserve. */
        const size_t per_page = 4096 / sizeof *r->spare;
        for (size_t i = r->spare_ready / per_page * per_page; i < target; i += per_page)
            ((volatile struct islot *)r->spare)[i].seq = 0;
        r->spare_ready = target;
    }
}

static size_t index_add(struct csph_rules *r, uint64_t h, uint64_t seq, int64_t stale_at,
                        uint64_t size)
{
    size_t mask = r->nslots - 1, i = (size_t)h & mask;
    while (r->slots[i].seq && r->slots[i].seq != SEQ_TOMB)
        i = (i + 1) & mask;
    if (lbit_set(r, seq, 1))
        return SIZE_MAX;
    if (!r->slots[i].seq)
        r->nused++;
    r->slots[i] = (struct islot){.seq = seq, .size = size_field(size), .hlo = (uint32_t)h,
                                 .stale_min = stale_pack(stale_at)};
    r->nlive++;
    r->livebytes += size;
    return i;
}

/* Slot i's entry moves to seq. */
static int index_move(struct csph_rules *r, size_t i, uint64_t seq)
{
    if (lbit_set(r, seq, 1))
        return -1;
    lbit_set(r, r->slots[i].seq, 0);
    r->slots[i].seq = seq;
    return 0;
}

static void index_drop(struct csph_rules *r, size_t i)
{
    lbit_set(r, r->slots[i].seq, 0);
    r->slots[i].seq = SEQ_TOMB;
    r->nlive--;
    r->livebytes -= r->slots[i].size;
}

/* More superseded than live: the cleaner moves live entries forward. */
static int log_pressure(const struct csph_rules *r)
{
    return r->nlog > 3 * (uint64_t)r->nlive + GARBAGE_SLACK ||
           r->logbytes > 3 * r->livebytes + GARBAGE_SLACK_BYTES;
}

static void index_clear(struct csph_rules *r)
{
    table_free(r->slots, r->nslots);
    r->slots = NULL;
    r->nslots = r->nused = r->nlive = r->sweep_at = r->sweep_left = 0;
    free(r->lbits);
    r->lbits = NULL;
    r->lwords = 0;
    r->lbase = 0;
    r->rehashes++;
    r->gen_txnid = 0;
    r->nlog = r->logbytes = r->livebytes = 0;
    r->head = 1;
    r->tail_seq = 0;
    r->clean_txnid = 0;
}

/* Drop stale keys from the index (their entries become garbage for the
 * cleaner). Memory only: the log keeps them until then, and a rebuild
 * finds them stale again. A record goes stale only as hw moves (one
 * written stale is dropped at once), so a pass follows every move. */
static void index_sweep(struct csph_rules *r, size_t budget)
{
    for (size_t k = 0; k < budget && r->sweep_left && r->nslots; k++, r->sweep_left--) {
        size_t i = r->sweep_at;
        r->sweep_at = (r->sweep_at + 1) & (r->nslots - 1);
        if (r->slots[i].seq && r->slots[i].seq != SEQ_TOMB && slot_stale(&r->slots[i]) <= r->hw)
            index_drop(r, i);
    }
}

/* ---- state: records opened in this transaction ------------------------------------- */

/* Split the sections at r->ar[off, off + n) for record ri. An unreadable
 * record has none (it was empty to version 1 too). */
static int sec_link(struct csph_rules *r, size_t ri, const struct osec *o, size_t *si)
{
    if (grow((void **)&r->secs, &r->capsecs, r->nsecs + 1, sizeof *r->secs))
        return -1;
    size_t i = r->nsecs++;
    struct orec *rec = &r->recs[ri];
    r->secs[i] = *o;
    r->secs[i].rec = ri;
    r->secs[i].next = SIZE_MAX;
    if (rec->last == SIZE_MAX)
        rec->first = i;
    else
        r->secs[rec->last].next = i;
    rec->last = i;
    if (si)
        *si = i;
    return 0;
}

static int secs_load(struct csph_rules *r, size_t ri, size_t off, size_t n)
{
    size_t pos, end = off + n;
    struct secv s;
    for (pos = off; pos < end; pos += s.total)
        if (sec_view(r->ar + pos, r->ar + end, &s))
            return 0;
    for (pos = off; pos < end; pos += s.total) {
        sec_view(r->ar + pos, r->ar + end, &s);
        struct osec o = {ri, pos, s.total, (size_t)(s.id - r->ar), s.idlen,
                         (size_t)(s.body - r->ar), s.blen, s.kind, 0, 0, SIZE_MAX, 0};
        if (sec_link(r, ri, &o, NULL))
            return -1;
    }
    return 0;
}

/* Forget the records opened in this transaction (written or not). A held
 * window's buffers are kept for the next transaction unless they grew past
 * WC_KEEP entries: a slot reused by busy keys one after another would
 * otherwise keep the largest window it ever held, for every slot. */
#define WC_KEEP 256
static void open_reset(struct csph_rules *r)
{
    for (size_t i = 0; i < r->nwc; i++) {
        struct wcache *c = &r->wc[i];
        if (c->cape > WC_KEEP) {
            free(c->e);
            c->e = NULL;
            c->cape = 0;
        }
        if (c->capf > WC_KEEP) {
            free(c->f);
            c->f = NULL;
            c->capf = 0;
        }
    }
    r->nar = r->nrecs = r->nsecs = r->nwc = 0;
    r->open_valid = 0;
    r->open_evals = 0;
    r->meta_dirty = 0;
    if (r->caprmap)
        memset(r->rmap, 0, r->caprmap * sizeof *r->rmap);
}

static void rmap_put(struct csph_rules *r, size_t ri)
{
    size_t mask = r->caprmap - 1, i = (size_t)r->recs[ri].h & mask;
    while (r->rmap[i])
        i = (i + 1) & mask;
    r->rmap[i] = ri + 1;
}

/* Record ri (the newest) joins the map of open records. */
static int rmap_add(struct csph_rules *r, size_t ri)
{
    if (r->nrecs * 2 > r->caprmap) {
        size_t cap = r->caprmap ? r->caprmap * 2 : 256;
        size_t *m = calloc(cap, sizeof *m);
        if (!m)
            return -1;
        free(r->rmap);
        r->rmap = m;
        r->caprmap = cap;
        for (size_t i = 0; i < ri; i++)
            rmap_put(r, i);
    }
    rmap_put(r, ri);
    return 0;
}

/* A record's key: its section's kind and id, then the key values. */
static size_t rec_key(unsigned char *kb, unsigned char kind, const void *id, size_t idlen,
                      const struct kval *vals, size_t nvals)
{
    size_t n = 0;
    kb[n++] = kind;
    if (kind == SEC_PRIOR)
        kb[n++] = (unsigned char)idlen;
    memcpy(kb + n, id, idlen);
    return put_values(kb, n + idlen, vals, nvals);
}

/* Open the record of key (key values as put_values writes them). */
static enum csph_err rec_open(struct csph_rules *r, MDB_txn *txn, const unsigned char *key,
                              size_t klen, size_t *ri, struct csph_error *err)
{
    uint64_t h = key_hash(key, klen);
    for (size_t m = r->caprmap - 1, i = r->caprmap ? (size_t)h & m : 0; r->caprmap && r->rmap[i];
         i = (i + 1) & m) {
        const struct orec *o = &r->recs[r->rmap[i] - 1];
        if (o->h == h && o->klen == klen && !memcmp(r->ar + o->koff, key, klen)) {
            *ri = r->rmap[i] - 1;
            return CSPH_ERR_OK;
        }
    }
    struct orec o = {.klen = klen, .h = h, .first = SIZE_MAX, .last = SIZE_MAX};
    size_t slot;
    MDB_val v;
    if (grow((void **)&r->recs, &r->caprecs, r->nrecs + 1, sizeof *r->recs) ||
        grow((void **)&r->ar, &r->capar, r->nar + klen, 1))
        return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
    o.koff = r->nar;
    memcpy(r->ar + r->nar, key, klen);
    r->nar += klen;
    int rc = index_get(r, txn, h, key, klen, &slot, &v);
    if (rc && rc != MDB_NOTFOUND)
        return lmdb_fail(err, rc, "reading the rule state");
    *ri = r->nrecs;
    if (rc == 0) {
        const unsigned char *k, *s;
        size_t kn, sn, off = r->nar;
        o.seq = r->slots[slot].seq;
        o.slot = slot;
        o.rehashes = r->rehashes;
        if (entry_split(&v, &k, &kn, &s, &sn))
            return lmdb_fail(err, MDB_CORRUPTED, "reading the rule state");
        if (grow((void **)&r->ar, &r->capar, r->nar + sn, 1))
            return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
        memcpy(r->ar + off, s, sn);
        r->nar += sn;
        r->recs[r->nrecs++] = o;
        r->cur_rec = *ri;
        if (rmap_add(r, *ri) || secs_load(r, *ri, off, sn))
            return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
    } else {
        r->recs[r->nrecs++] = o;
        if (rmap_add(r, *ri))
            return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
    }
    return CSPH_ERR_OK;
}

/* The section of record ri with that id (a prior section: the panel's
 * name), or SIZE_MAX. */
static size_t sec_find(const struct csph_rules *r, size_t ri, int prior, const void *id,
                       size_t idlen)
{
    for (size_t i = r->recs[ri].first; i != SIZE_MAX; i = r->secs[i].next) {
        const struct osec *s = &r->secs[i];
        if ((s->kind == SEC_PRIOR) == prior && s->idlen == idlen &&
            !memcmp(r->ar + s->id, id, idlen))
            return i;
    }
    return SIZE_MAX;
}

/* Section si of record ri (SIZE_MAX: a new one) is now r->ar[off, off + len). */
static int sec_set(struct csph_rules *r, size_t ri, size_t si, size_t off, size_t len,
                   int64_t stale_at)
{
    struct secv s;
    struct osec fresh = {0};
    if (si == SIZE_MAX && sec_link(r, ri, &fresh, &si))
        return -1;
    sec_view(r->ar + off, r->ar + off + len, &s);
    struct osec *o = &r->secs[si];
    o->off = off;
    o->len = len;
    o->id = (size_t)(s.id - r->ar);
    o->idlen = s.idlen;
    o->body = (size_t)(s.body - r->ar);
    o->blen = s.blen;
    o->kind = s.kind;
    o->fresh = 1;
    o->stale_at = stale_at;
    o->wc = 0;
    r->recs[ri].dirty = 1;
    return 0;
}

/* Write the records this call changed: in place when their entry was
 * appended in this transaction (its page is dirty already), else at the
 * head of the log. */
static enum csph_err rec_flush(struct csph_rules *r, MDB_txn *txn, struct csph_error *err)
{
    for (size_t ri = 0; ri < r->nrecs; ri++) {
        struct orec *o = &r->recs[ri];
        if (!o->dirty)
            continue;
        size_t n = uv_len(o->klen) + o->klen;
        size_t slot = !o->seq ? SIZE_MAX
                      : o->rehashes == r->rehashes ? o->slot
                                                   : index_find(r, o->h, o->seq);
        int64_t stale_at = slot != SIZE_MAX ? slot_stale(&r->slots[slot]) : INT64_MIN;
        for (size_t i = o->first; i != SIZE_MAX; i = r->secs[i].next) {
            n += r->secs[i].len;
            if (r->secs[i].fresh && r->secs[i].stale_at > stale_at)
                stale_at = r->secs[i].stale_at;
        }
        uint64_t seq = o->seq && o->seq >= r->txn_head ? o->seq : r->head;
        MDB_val k = {sizeof seq, &seq}, v = {n, NULL};
        unsigned flags = MDB_RESERVE;
        if (seq != o->seq)
            flags |= MDB_APPEND;
        else if (r->cur_rec == ri)
            flags |= MDB_CURRENT; /* where reading it left the cursor: no second descent */
        int rc = r->curl ? 0 : mdb_cursor_open(txn, r->dbl, &r->curl);
        if (rc || (rc = mdb_cursor_put(r->curl, &k, &v, flags)))
            return lmdb_fail(err, rc, "writing the rule state");
        r->cur_rec = ri;
        unsigned char *p = v.mv_data;
        p += uv_put(p, o->klen);
        memcpy(p, r->ar + o->koff, o->klen);
        p += o->klen;
        for (size_t i = o->first; i != SIZE_MAX; i = r->secs[i].next) {
            memcpy(p, r->ar + r->secs[i].off, r->secs[i].len);
            p += r->secs[i].len;
        }
        if (seq != o->seq) {
            r->head++;
            r->nlog++;
            r->logbytes += n;
        }
        if (slot != SIZE_MAX) {
            struct islot *sl = &r->slots[slot];
            if (seq == o->seq) /* rewritten in place */
                r->logbytes += n - sl->size;
            else if (index_move(r, slot, seq))
                return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
            r->livebytes += n - sl->size;
            sl->stale_min = stale_pack(stale_at);
            sl->size = size_field(n);
        } else {
            if (index_reserve(r) || (slot = index_add(r, o->h, seq, stale_at, n)) == SIZE_MAX)
                return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
            o->slot = slot;
            o->rehashes = r->rehashes;
        }
        if (stale_at <= r->hw) /* nothing in it counts (a late alert): garbage at once */
            index_drop(r, slot);
        o->seq = seq;
        o->dirty = 0;
        r->changed = 1;
    }
    return CSPH_ERR_OK;
}

/* The cleaner, at the log's tail: delete entries superseded or stale; while
 * garbage exceeds the live records, move live entries to the head. Entries
 * of the current transaction are left alone. */
static enum csph_err clean(struct csph_rules *r, MDB_txn *txn, size_t budget,
                           struct csph_error *err)
{
    if (r->tail_seq && r->tail_slot < r->nslots && r->slots[r->tail_slot].seq == r->tail_seq &&
        slot_stale(&r->slots[r->tail_slot]) > r->hw && !log_pressure(r))
        return CSPH_ERR_OK; /* the same live entry still heads the tail */
    if (!r->nlog || r->clean_txnid == r->txnid)
        return CSPH_ERR_OK;
    int rc = r->curl ? 0 : mdb_cursor_open(txn, r->dbl, &r->curl);
    MDB_cursor *c = r->curl;
    if (rc)
        return lmdb_fail(err, rc, "cleaning the rule state");
    uint64_t first = 0;
    r->tail_seq = 0;
    r->cur_rec = SIZE_MAX;
    for (; budget; budget--) {
        MDB_val k, v;
        const unsigned char *kp, *sp;
        size_t kn, sn, i = SIZE_MAX;
        uint64_t seq;
        if ((rc = mdb_cursor_get(c, &k, &v, MDB_FIRST)))
            break;
        if (k.mv_size != sizeof seq) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(&seq, k.mv_data, sizeof seq);
        if (!first)
            first = seq;
        if (seq >= r->txn_head) {
            r->clean_txnid = r->txnid; /* only this transaction's entries left */
            break;
        }
        if (lbit_get(r, seq) && !entry_split(&v, &kp, &kn, &sp, &sn))
            i = index_find(r, key_hash(kp, kn), seq);
        if (i != SIZE_MAX && slot_stale(&r->slots[i]) <= r->hw) {
            index_drop(r, i);
            i = SIZE_MAX;
        }
        if (i == SIZE_MAX) { /* superseded or stale */
            if ((rc = mdb_cursor_del(c, 0)))
                break;
            r->nlog--;
            r->logbytes -= v.mv_size;
            r->changed = 1;
            continue;
        }
        if (!log_pressure(r)) {
            r->tail_seq = seq;
            r->tail_slot = i;
            break;
        }
        /* move it to the head */
        if (grow((void **)&r->wbuf, &r->capwbuf, v.mv_size, 1))
            return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
        memcpy(r->wbuf, v.mv_data, v.mv_size);
        v.mv_data = r->wbuf;
        if ((rc = mdb_cursor_del(c, 0)))
            break;
        seq = r->head;
        k.mv_size = sizeof seq;
        k.mv_data = &seq;
        if ((rc = mdb_cursor_put(c, &k, &v, MDB_APPEND)))
            break;
        if (index_move(r, i, r->head++))
            return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
        r->changed = 1;
    }
    if (first)
        lbit_trim(r, first);
    if (rc && rc != MDB_NOTFOUND)
        return lmdb_fail(err, rc, "cleaning the rule state");
    return CSPH_ERR_OK;
}

/* Convert version 1 state: a record per (rule id, key values) in
 * rules.window and per (panel, key values) in rules.prior, with fixed-size
 * entries, becomes the same entries, in the same order, in the record whose
 * key is the old key with the section's kind in front; then the old
 * databases go. An unreadable old record was empty to version 1 too. */
static enum csph_err migrate(struct csph_rules *r, MDB_txn *txn, struct csph_error *err)
{
    static const char *const names[2] = {DB_LEGACY_WINDOW, DB_LEGACY_PRIOR};
    for (int d = 0; d < 2; d++) {
        enum csph_err e = CSPH_ERR_OK;
        MDB_dbi dbi;
        MDB_cursor *c;
        MDB_val k, v;
        int rc = mdb_dbi_open(txn, names[d], 0, &dbi);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc || (rc = mdb_cursor_open(txn, dbi, &c)))
            return lmdb_fail(err, rc, "converting the rule state");
        for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !rc && !e;
             rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
            const unsigned char *kp = k.mv_data, *vp = v.mv_data;
            unsigned char kb[1 + 511];
            size_t off, len, ri;
            int64_t stale_at;
            int bad;
            open_reset(r);
            if (k.mv_size > sizeof kb - 1)
                continue;
            if (d == 0) {
                struct whdr hd;
                if (k.mv_size <= 8 || v.mv_size < sizeof hd)
                    continue;
                memcpy(&hd, vp, sizeof hd);
                if (hd.version != LEGACY_VERSION ||
                    v.mv_size != sizeof hd + hd.n * sizeof(struct went) + hd.nf * sizeof(struct wfired))
                    continue;
                bad = grow((void **)&r->ents, &r->capents, hd.n + 1, sizeof *r->ents) ||
                      grow((void **)&r->fired, &r->capfired, hd.nf + TIERS_MAX, sizeof *r->fired);
                if (!bad) {
                    memcpy(r->ents, vp + sizeof hd, hd.n * sizeof(struct went));
                    memcpy(r->fired, vp + sizeof hd + hd.n * sizeof(struct went),
                           hd.nf * sizeof(struct wfired));
                    bad = win_encode(r, rule_by_id(r, kp), kp, hd.n, hd.nf, &off, &len, &stale_at);
                }
            } else {
                struct phdr hd;
                if (k.mv_size < 2 || k.mv_size < 2u + kp[0] || v.mv_size < sizeof hd)
                    continue;
                memcpy(&hd, vp, sizeof hd);
                if (hd.version != LEGACY_VERSION || v.mv_size != sizeof hd + hd.n * sizeof(struct pent))
                    continue;
                bad = grow((void **)&r->pents, &r->cappents, hd.n + 1, sizeof *r->pents);
                if (!bad) {
                    memcpy(r->pents, vp + sizeof hd, hd.n * sizeof(struct pent));
                    bad = prior_encode(r, (const char *)kp + 1, kp[0], hd.n, &off, &len, &stale_at);
                }
            }
            if (bad) {
                e = csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
                break;
            }
            kb[0] = d == 0 ? SEC_WINDOW : SEC_PRIOR;
            memcpy(kb + 1, kp, k.mv_size);
            if ((e = rec_open(r, txn, kb, 1 + k.mv_size, &ri, err)))
                break;
            struct secv s;
            sec_view(r->ar + off, r->ar + off + len, &s);
            if (sec_set(r, ri, sec_find(r, ri, s.kind == SEC_PRIOR, s.id, s.idlen), off, len,
                        stale_at))
                e = csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
            else
                e = rec_flush(r, txn, err);
        }
        mdb_cursor_close(c);
        open_reset(r);
        if (e)
            return e;
        if (rc != MDB_NOTFOUND || (rc = mdb_drop(txn, dbi, 1)))
            return lmdb_fail(err, rc, "converting the rule state");
        r->changed = 1;
    }
    return CSPH_ERR_OK;
}

/* Rebuild the index from the log as txn sees it (and convert version 1
 * state first when there is any). */
static enum csph_err rebuild(struct csph_rules *r, MDB_txn *txn, const struct meta *m,
                             struct csph_error *err)
{
    MDB_cursor *c;
    MDB_val k, v;
    int rc;
    index_clear(r);
    r->ivalid = 0;
    if ((rc = mdb_cursor_open(txn, r->dbl, &c)))
        return lmdb_fail(err, rc, "reading the rule state");
    for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); !rc; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
        const unsigned char *kp, *sp;
        size_t kn, sn, slot;
        uint64_t seq;
        MDB_val old;
        if (k.mv_size != sizeof seq) {
            rc = MDB_CORRUPTED;
            break;
        }
        memcpy(&seq, k.mv_data, sizeof seq);
        if (!r->nlog++)
            r->lbase = seq & ~(uint64_t)63;
        r->logbytes += v.mv_size;
        r->head = seq + 1;
        if (entry_split(&v, &kp, &kn, &sp, &sn))
            continue; /* unreadable: garbage */
        uint64_t h = key_hash(kp, kn);
        int64_t stale_at = stale_from(r, sp, sn);
        int got = index_get(r, txn, h, kp, kn, &slot, &old);
        if (got == 0) { /* a newer version */
            r->livebytes += v.mv_size - r->slots[slot].size;
            r->slots[slot].stale_min = stale_pack(stale_at);
            r->slots[slot].size = size_field(v.mv_size);
            if (index_move(r, slot, seq)) {
                mdb_cursor_close(c);
                return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
            }
        } else if (got == MDB_NOTFOUND) {
            if (index_reserve(r) || index_add(r, h, seq, stale_at, v.mv_size) == SIZE_MAX) {
                mdb_cursor_close(c);
                return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
            }
        } else {
            rc = got;
            break;
        }
    }
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND)
        return lmdb_fail(err, rc, "reading the rule state");
    for (size_t i = 0; i < r->nslots; i++)
        if (r->slots[i].seq && r->slots[i].seq != SEQ_TOMB && slot_stale(&r->slots[i]) <= r->hw)
            index_drop(r, i);
    r->txn_head = r->head;
    r->txnid = mdb_txn_id(txn);
    if (m->version != META_VERSION) {
        enum csph_err e = migrate(r, txn, err);
        if (e)
            return e;
    }
    r->gen = m->gen;
    r->ienv = mdb_txn_env(txn);
    r->ivalid = 1;
    r->changed = 1; /* rules.meta names this engine as its writer from now on */
    return CSPH_ERR_OK;
}

static int hash_value(const msgpack_object *v, uint64_t *h)
{
    uint64_t x = 14695981039346656037ull;
    const unsigned char *p;
    size_t n;
    unsigned char tag, num[8];
    if (!v)
        return 0;
    switch (v->type) {
    case MSGPACK_OBJECT_STR:
        tag = 's';
        p = (const unsigned char *)v->via.str.ptr;
        n = v->via.str.size;
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        tag = v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? 'u' : 'i';
        memcpy(num, &v->via.u64, 8);
        p = num;
        n = 8;
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        tag = 'b';
        num[0] = v->via.boolean;
        p = num;
        n = 1;
        break;
    default:
        return 0;
    }
    x = (x ^ tag) * 1099511628211ull;
    for (size_t i = 0; i < n; i++)
        x = (x ^ p[i]) * 1099511628211ull;
    *h = x ? x : 1;
    return 1;
}

/* Counting distinct values in a sliding window: a table of hash -> count. */
static int htab_prepare(struct csph_rules *r, size_t n)
{
    size_t size = 16;
    while (size < 2 * n + 2)
        size *= 2;
    size_t c1 = r->caph, c2 = r->caph;
    if (grow((void **)&r->hkeys, &c1, size, sizeof *r->hkeys) ||
        grow((void **)&r->hcounts, &c2, size, sizeof *r->hcounts))
        return -1;
    r->caph = c1 < c2 ? c1 : c2;
    r->hmask = size - 1;
    memset(r->hkeys, 0, size * sizeof *r->hkeys);
    memset(r->hcounts, 0, size * sizeof *r->hcounts);
    return 0;
}

static size_t htab_slot(const struct csph_rules *r, uint64_t h)
{
    size_t i = (size_t)((h * 0x9E3779B97F4A7C15ull) >> 32) & r->hmask;
    while (r->hkeys[i] && r->hkeys[i] != h)
        i = (i + 1) & r->hmask;
    return i;
}

static void htab_add(struct csph_rules *r, uint64_t h, uint64_t *nd)
{
    size_t i = htab_slot(r, h);
    r->hkeys[i] = h;
    if (r->hcounts[i]++ == 0)
        (*nd)++;
}

static void htab_del(struct csph_rules *r, uint64_t h, uint64_t *nd)
{
    size_t i = htab_slot(r, h);
    if (--r->hcounts[i] == 0)
        (*nd)--;
}

struct best {
    size_t lo, hi; /* ents[lo, hi) */
    uint64_t count, distinct;
};

/* The window of R->window_days containing t with the most events (or the
 * most distinct values); the earliest such window on a tie. */
static int best_window(struct csph_rules *r, const struct rule *R, size_t n, int64_t t,
                       struct best *b)
{
    const struct went *e = r->ents;
    int64_t W = R->window_ms;
    size_t i = 0, hi;
    uint64_t nd = 0, bestv = 0;
    while (i < n && e[i].occ <= t - W)
        i++;
    if (R->has_distinct && htab_prepare(r, n))
        return -1;
    memset(b, 0, sizeof *b);
    for (hi = i; i < n && e[i].occ <= t;) {
        int64_t s = e[i].occ;
        while (hi < n && e[hi].occ - s < W) {
            if (R->has_distinct)
                htab_add(r, e[hi].h, &nd);
            hi++;
        }
        uint64_t cnt = hi - i, v = R->has_distinct ? nd : cnt;
        if (v > bestv) {
            bestv = v;
            b->lo = i;
            b->hi = hi;
            b->count = cnt;
            b->distinct = v;
        }
        while (i < n && e[i].occ == s) {
            if (R->has_distinct)
                htab_del(r, e[i].h, &nd);
            i++;
        }
    }
    return 0;
}

static enum csph_err add_draft(struct csph_rules *r, struct fire *f, const struct kval *vals,
                               const struct tier *tier, size_t evoff, struct csph_error *err)
{
    size_t i = r->ndrafts, c1 = r->capdrafts, c2 = r->capdrafts, c3 = r->capdrafts;
    if (grow((void **)&r->drafts, &c1, i + 1, sizeof *r->drafts) ||
        grow((void **)&r->keyvals, &c2, i + 1, sizeof *r->keyvals) ||
        grow((void **)&r->evoff, &c3, i + 1, sizeof *r->evoff))
        return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
    r->capdrafts = c1 < c2 ? (c1 < c3 ? c1 : c3) : (c2 < c3 ? c2 : c3);
    struct csph_alert_draft *d = &r->drafts[i];
    struct keyvals *kv = &r->keyvals[i];
    memset(d, 0, sizeof *d);
    d->rule_index = (int)(f->R - r->rules);
    d->rule = f->R->name;
    d->panel_index = f->panel;
    d->priority = f->priority;
    d->nkey = f->K->n;
    for (size_t k = 0; k < f->K->n; k++) {
        memcpy(kv->v[k], vals[k].p, vals[k].n);
        kv->v[k][vals[k].n] = 0;
        kv->len[k] = (uint8_t)vals[k].n;
        kv->tag[k] = vals[k].tag;
        d->key_names[k] = f->K->f[k].text;
    }
    r->evoff[i] = evoff;
    d->nevidence = r->nev - evoff;
    d->raised_ms = f->ev->received_ms;
    d->event_seq = f->ev->seq;
    if (tier->due != DUE_NONE) {
        d->has_due = 1;
        d->due_ms = tier_due(r, tier, d->raised_ms);
    }
    f->has_due = d->has_due;
    f->due_ms = d->due_ms;
    f->kv = kv;
    const struct tmpl *t = r->panels[f->panel].restricted ? &f->R->restricted_reason : &f->R->reason;
    render(r, t, f, d->reason, sizeof d->reason);
    r->ndrafts++;
    return CSPH_ERR_OK;
}

static enum csph_err push_evidence(struct csph_rules *r, uint64_t seq, struct csph_error *err)
{
    if (grow((void **)&r->ev, &r->capev, r->nev + 1, sizeof *r->ev))
        return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
    r->ev[r->nev++] = seq;
    return CSPH_ERR_OK;
}

/* The entries change hands between the scratch buffer and a held window,
 * not bytes (a busy window holds thousands). */
static void ents_swap(struct csph_rules *r, struct wcache *c)
{
    struct went *e = r->ents;
    size_t cap = r->capents;
    r->ents = c->e;
    r->capents = c->cape;
    c->e = e;
    c->cape = cap;
}

/* A held window into r->ents / r->fired exactly as win_decode would read
 * its encoding: entries from horizon on, fired after fired_horizon; 1 when
 * it already holds seq; -2: out of memory. On 0 the entries are not
 * copied: the cache's buffer becomes r->ents (a busy window holds
 * thousands) and the cache holds nothing until win_hold gives it back, so
 * every path after a 0 ends in win_hold or in an error (the transaction
 * is given up). */
static int win_load(struct csph_rules *r, struct wcache *c, int64_t horizon,
                    int64_t fired_horizon, int64_t occ, uint64_t seq, size_t *pn, size_t *pnf)
{
    if (grow((void **)&r->fired, &r->capfired, c->nf + TIERS_MAX, sizeof *r->fired))
        return -2;
    size_t k = 0, lo = 0, n = c->n, a = 0, b = n;
    /* Entries are in (occurred, seq) order and an event's entry carries its
     * own occurred time: one binary search finds it if it is there. */
    while (a < b) {
        size_t mid = (a + b) / 2;
        if (c->e[mid].occ < occ || (c->e[mid].occ == occ && c->e[mid].seq < seq))
            a = mid + 1;
        else
            b = mid;
    }
    if (a < n && c->e[a].occ == occ && c->e[a].seq == seq)
        return 1;
    for (size_t q = 0; q < c->nf; q++)
        if (c->f[q].occ > fired_horizon)
            r->fired[k++] = c->f[q];
    ents_swap(r, c);
    c->n = 0;
    if (grow((void **)&r->ents, &r->capents, n + 1, sizeof *r->ents))
        return -2;
    while (lo < n && r->ents[lo].occ < horizon)
        lo++;
    if (lo)
        memmove(r->ents, r->ents + lo, (n - lo) * sizeof *r->ents);
    *pn = n - lo;
    *pnf = k;
    return 0;
}

/* Hold r->ents[0, n) and r->fired[0, nf) as the window section si of
 * record ri (SIZE_MAX: a new section for rule id); csph_rules_flush
 * encodes it. */
static int win_hold(struct csph_rules *r, size_t ri, size_t si, const unsigned char *id, size_t n,
                    size_t nf)
{
    if (si == SIZE_MAX) {
        if (grow((void **)&r->ar, &r->capar, r->nar + 8, 1))
            return -1;
        struct osec o = {.id = r->nar, .idlen = 8, .kind = SEC_WINDOW};
        memcpy(r->ar + r->nar, id, 8);
        r->nar += 8;
        if (sec_link(r, ri, &o, &si))
            return -1;
    }
    struct osec *o = &r->secs[si];
    if (!o->wc) {
        if (r->nwc == r->capwc) {
            size_t cap = r->capwc ? r->capwc * 2 : 64;
            struct wcache *w = realloc(r->wc, cap * sizeof *w);
            if (!w)
                return -1;
            memset(w + r->capwc, 0, (cap - r->capwc) * sizeof *w);
            r->wc = w;
            r->capwc = cap;
        }
        o->wc = ++r->nwc;
    }
    struct wcache *c = &r->wc[o->wc - 1];
    if (grow((void **)&c->f, &c->capf, nf + 1, sizeof *c->f))
        return -1;
    ents_swap(r, c); /* r->ents keeps the cache's old buffer as its scratch */
    memcpy(c->f, r->fired, nf * sizeof *c->f);
    c->n = n;
    c->nf = nf;
    r->recs[ri].dirty = 1;
    return 0;
}

static enum csph_err eval_window(struct csph_rules *r, MDB_txn *txn, struct fire *f,
                                 const struct kval *vals, struct csph_error *err)
{
    const struct rule *R = f->R;
    const struct csph_rule_event *ev = f->ev;
    int64_t W = R->window_ms, t = ev->occurred_ms;
    int64_t horizon = sat_sub(r->hw, W), fired_horizon = sat_sub(horizon, W);
    uint64_t h = 0;
    if (t < horizon)
        return CSPH_ERR_OK; /* too late to count (rules.h, caveats) */
    if (R->has_distinct && !hash_value(path_get(ev->obj, &R->distinct), &h))
        return CSPH_ERR_OK;
    unsigned char kb[512];
    size_t ri, si, n = 0, nf = 0;
    enum csph_err e =
        rec_open(r, txn, kb, rec_key(kb, SEC_WINDOW, R->id, 8, vals, f->K->n), &ri, err);
    if (e)
        return e;
    if ((si = sec_find(r, ri, 0, R->id, 8)) != SIZE_MAX) {
        const struct osec *s = &r->secs[si];
        int rc = s->wc ? win_load(r, &r->wc[s->wc - 1], horizon, fired_horizon, t, ev->seq, &n, &nf)
                       : win_decode(r, r->ar + s->body, s->blen, s->kind == SEC_WINDOW_H, horizon,
                                    fired_horizon, ev->seq, &n, &nf);
        if (rc == 1)
            return CSPH_ERR_OK; /* already counted: evaluating an event twice is a no-op */
        if (rc == -2)
            return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
        if (rc < 0)
            n = nf = 0;
    }
    if (grow((void **)&r->ents, &r->capents, n + 1, sizeof *r->ents) ||
        grow((void **)&r->fired, &r->capfired, nf + TIERS_MAX, sizeof *r->fired))
        return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");

    /* Insert at (occurred, seq) order; at the cap the oldest entry goes. */
    struct went ne = {t, ev->seq, h};
    if (n == WINDOW_ENTRIES_MAX) {
        if (t < r->ents[0].occ) /* older than all it keeps: unchanged (a held window goes back) */
            return si != SIZE_MAX && r->secs[si].wc && win_hold(r, ri, si, R->id, n, nf)
                       ? csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory")
                       : CSPH_ERR_OK;
        memmove(r->ents, r->ents + 1, (n - 1) * sizeof *r->ents);
        n--;
    }
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (r->ents[mid].occ < t || (r->ents[mid].occ == t && r->ents[mid].seq < ev->seq))
            lo = mid + 1;
        else
            hi = mid;
    }
    memmove(r->ents + lo + 1, r->ents + lo, (n - lo) * sizeof *r->ents);
    r->ents[lo] = ne;
    n++;

    /* Every tier quiet at t (each fired less than a window away): nothing
     * can fire, so the best window (a pass over a busy key's thousands of
     * entries) is not needed. */
    int quiet = 1;
    for (size_t j = 0; j < R->ntiers && quiet; j++) {
        int suppressed = 0;
        for (size_t q = 0; q < nf && !suppressed; q++)
            suppressed = r->fired[q].tier == (uint32_t)j && abs_diff(r->fired[q].occ, t) < W;
        quiet = suppressed;
    }
    struct best b = {0};
    if (!quiet && best_window(r, R, n, t, &b))
        return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
    uint64_t value = quiet ? 0 : R->has_distinct ? b.distinct : b.count;
    int reached = -1, fire = -1;
    for (size_t j = 0; j < R->ntiers; j++)
        if (value >= (uint64_t)R->tiers[j].at_least)
            reached = (int)j;
    for (int j = reached; j >= 0 && fire < 0; j--) {
        int suppressed = 0;
        for (size_t q = 0; q < nf && !suppressed; q++)
            suppressed = r->fired[q].tier == (uint32_t)j && abs_diff(r->fired[q].occ, t) < W;
        if (!suppressed)
            fire = j;
    }
    if (fire >= 0) {
        /* The tier that fires and every tier below it count as fired. */
        for (int j = 0; j <= fire; j++) {
            int dup = 0;
            for (size_t q = 0; q < nf && !dup; q++)
                dup = r->fired[q].tier == (uint32_t)j && r->fired[q].occ == t;
            if (!dup)
                r->fired[nf++] = (struct wfired){t, (uint32_t)j, 0};
        }
        while (nf > FIRED_MAX) {
            size_t old = 0;
            for (size_t q = 1; q < nf; q++)
                if (r->fired[q].occ < r->fired[old].occ)
                    old = q;
            r->fired[old] = r->fired[--nf];
        }
        size_t evoff = r->nev;
        for (size_t q = b.lo; q < b.hi; q++) {
            e = push_evidence(r, r->ents[q].seq, err);
            if (e)
                return e;
        }
        qsort(r->ev + evoff, r->nev - evoff, sizeof *r->ev, cmp_u64);
        f->count = b.count;
        f->distinct = b.distinct;
        f->first_ms = r->ents[b.lo].occ;
        f->last_ms = r->ents[b.hi - 1].occ;
        f->threshold = R->tiers[fire].at_least;
        f->priority = R->tiers[fire].priority;
        if ((e = add_draft(r, f, vals, &R->tiers[fire], evoff, err)))
            return e;
    }

    if (win_hold(r, ri, si, R->id, n, nf))
        return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
    return CSPH_ERR_OK;
}

/* The alerts on panel remembered for the key, into r->pents: those that
 * occurred keep_ms or less before the high-water mark. */
static enum csph_err prior_read(struct csph_rules *r, MDB_txn *txn, const struct kval *vals,
                                size_t nvals, int panel, int64_t keep_ms, size_t *ri, size_t *si,
                                size_t *n, struct csph_error *err)
{
    unsigned char kb[512];
    enum csph_err e = rec_open(
        r, txn, kb,
        rec_key(kb, SEC_PRIOR, r->panels[panel].name, r->panel_len[panel], vals, nvals), ri, err);
    *n = 0;
    if (e)
        return e;
    *si = sec_find(r, *ri, 1, r->panels[panel].name, r->panel_len[panel]);
    if (*si != SIZE_MAX) {
        int rc = prior_decode(r, r->ar + r->secs[*si].body, r->secs[*si].blen,
                              sat_sub(r->hw, keep_ms), n);
        if (rc == -2)
            return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
        if (rc < 0)
            *n = 0;
    }
    return CSPH_ERR_OK;
}

static enum csph_err eval_event(struct csph_rules *r, MDB_txn *txn, struct fire *f,
                                const struct kval *vals, struct csph_error *err)
{
    const struct rule *R = f->R;
    const struct csph_rule_event *ev = f->ev;
    size_t evoff = r->nev;
    enum csph_err e;
    f->count = f->distinct = 1;
    f->first_ms = f->last_ms = ev->occurred_ms;
    f->threshold = 1;
    if (R->prior) {
        size_t n, ri, si;
        if ((e = prior_read(r, txn, vals, f->K->n, R->prior_panel, R->prior_ms, &ri, &si, &n, err)))
            return e;
        uint64_t found = 0;
        for (size_t i = 0; i < n; i++) {
            const struct pent *pe = &r->pents[i];
            if (pe->seq >= ev->seq || abs_diff(pe->occ, ev->occurred_ms) >= R->prior_ms)
                continue;
            if ((e = push_evidence(r, pe->seq, err)))
                return e;
            found++;
            if (pe->occ < f->first_ms)
                f->first_ms = pe->occ;
            if (pe->occ > f->last_ms)
                f->last_ms = pe->occ;
        }
        if (!found) {
            r->nev = evoff;
            return CSPH_ERR_OK;
        }
        f->count = f->distinct = found;
    }
    if ((e = push_evidence(r, ev->seq, err)))
        return e;
    qsort(r->ev + evoff, r->nev - evoff, sizeof *r->ev, cmp_u64);
    /* the same event raised several alerts: one seq in the evidence */
    size_t w = evoff;
    for (size_t i = evoff; i < r->nev; i++)
        if (i == evoff || r->ev[i] != r->ev[w - 1])
            r->ev[w++] = r->ev[i];
    r->nev = w;
    return add_draft(r, f, vals, &R->tiers[0], evoff, err);
}

static enum csph_err eval_rule(struct csph_rules *r, MDB_txn *txn, const struct rule *R,
                               const struct csph_rule_event *ev, struct csph_error *err)
{
    const msgpack_object *o = ev->obj;
    if (!cond_eval(&R->match, o))
        return CSPH_ERR_OK;
    struct fire f = {.R = R, .ev = ev, .panel = R->panel, .priority = R->tiers[0].priority};
    if (f.panel < 0) {
        const msgpack_object *v = path_get(o, &R->panel_field);
        if (!v || v->type != MSGPACK_OBJECT_STR ||
            (f.panel = panel_find(r, v->via.str.ptr, v->via.str.size)) < 0)
            return CSPH_ERR_OK;
    }
    if (R->prio_from_field) {
        const msgpack_object *v = path_get(o, &R->prio_field);
        int p = v && v->type == MSGPACK_OBJECT_STR ? csph_priority_parse(v->via.str.ptr, v->via.str.size)
                                                   : -1;
        if (p < 0)
            return CSPH_ERR_OK;
        p += R->prio_raise;
        f.priority = (enum csph_priority)(p > CSPH_PRIORITY_HIGH ? CSPH_PRIORITY_HIGH : p);
    }
    struct kval vals[KEY_EACH_MAX][CSPH_KEY_MAX_FIELDS];
    char num[KEY_EACH_MAX][CSPH_KEY_MAX_FIELDS][24];
    for (size_t a = 0; a < R->nkeys; a++) {
        const struct keyspec *K = &R->keys[a];
        if (!cond_eval(&K->match, o) || key_values(K, o, vals[a], num[a]))
            continue;
        int dup = 0; /* two alternatives naming the same person: one alert */
        for (size_t b = 0; b < a && !dup; b++) {
            if (R->keys[b].n != K->n || !cond_eval(&R->keys[b].match, o) ||
                key_values(&R->keys[b], o, vals[b], num[b]))
                continue;
            dup = 1;
            for (size_t i = 0; i < K->n && dup; i++)
                dup = vals[a][i].tag == vals[b][i].tag && vals[a][i].n == vals[b][i].n &&
                      !memcmp(vals[a][i].p, vals[b][i].p, vals[a][i].n);
        }
        if (dup)
            continue;
        f.K = K;
        enum csph_err e = R->windowed ? eval_window(r, txn, &f, vals[a], err)
                                      : eval_event(r, txn, &f, vals[a], err);
        if (e)
            return e;
    }
    return CSPH_ERR_OK;
}

/* Every draft goes into the prior-alert index of its panel, when a
 * prior_alert rule looks at that panel. */
static enum csph_err record_prior(struct csph_rules *r, MDB_txn *txn,
                                  const struct csph_rule_event *ev, struct csph_error *err)
{
    for (size_t i = 0; i < r->ndrafts; i++) {
        const struct csph_alert_draft *d = &r->drafts[i];
        int64_t keep = r->prior_keep_ms[d->panel_index];
        if (!keep)
            continue;
        struct kval vals[CSPH_KEY_MAX_FIELDS];
        for (size_t k = 0; k < d->nkey; k++)
            vals[k] = (struct kval){r->keyvals[i].v[k], r->keyvals[i].len[k], r->keyvals[i].tag[k]};
        size_t n, ri, si, off, len;
        enum csph_err e = prior_read(r, txn, vals, d->nkey, d->panel_index, keep, &ri, &si, &n, err);
        if (e)
            return e;
        int dup = 0;
        for (size_t q = 0; q < n && !dup; q++)
            dup = r->pents[q].seq == ev->seq;
        if (dup)
            continue;
        if (grow((void **)&r->pents, &r->cappents, n + 1, sizeof *r->pents))
            return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
        r->pents[n++] = (struct pent){ev->occurred_ms, ev->seq};
        while (n > PRIOR_ENTRIES_MAX) {
            size_t old = 0;
            for (size_t q = 1; q < n; q++)
                if (r->pents[q].occ < r->pents[old].occ)
                    old = q;
            memmove(r->pents + old, r->pents + old + 1, (n - old - 1) * sizeof *r->pents);
            n--;
        }
        int64_t stale_at;
        if (prior_encode(r, r->panels[d->panel_index].name, r->panel_len[d->panel_index], n, &off,
                         &len, &stale_at) ||
            sec_set(r, ri, si, off, len, stale_at))
            return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
    }
    return CSPH_ERR_OK;
}

static int open_dbs(struct csph_rules *r, MDB_txn *txn)
{
    /* Opened in every transaction: a handle first opened in a transaction
     * that is later aborted does not survive it. */
    int rc = mdb_dbi_open(txn, DB_LOG, MDB_CREATE | MDB_INTEGERKEY, &r->dbl);
    if (!rc)
        rc = mdb_dbi_open(txn, DB_META, MDB_CREATE, &r->dbm);
    return rc;
}

static int meta_read(struct csph_rules *r, MDB_txn *txn, struct meta *m)
{
    MDB_val k = {sizeof META_KEY - 1, (void *)META_KEY}, v;
    uint32_t version;
    memset(m, 0, sizeof *m);
    m->hw = INT64_MIN;
    int rc = mdb_get(txn, r->dbm, &k, &v);
    if (rc)
        return rc == MDB_NOTFOUND ? 0 : rc;
    if (v.mv_size < sizeof version)
        return 0;
    memcpy(&version, v.mv_data, sizeof version);
    if (version == META_VERSION && v.mv_size == sizeof(struct mhdr)) {
        struct mhdr hd;
        memcpy(&hd, v.mv_data, sizeof hd);
        *m = (struct meta){META_VERSION, hd.hw, hd.gen, hd.writer};
    } else if (version == LEGACY_VERSION && v.mv_size >= sizeof(struct mhdr1)) {
        struct mhdr1 hd;
        memcpy(&hd, v.mv_data, sizeof hd);
        if (hd.sweep_len <= 512 && v.mv_size == sizeof hd + hd.sweep_len)
            *m = (struct meta){LEGACY_VERSION, hd.hw, 0, 0};
    }
    return 0;
}

static int meta_write(struct csph_rules *r, MDB_txn *txn)
{
    MDB_val k = {sizeof META_KEY - 1, (void *)META_KEY}, v;
    struct mhdr hd = {META_VERSION, 0, r->hw, r->gen, r->writer};
    v.mv_size = sizeof hd;
    v.mv_data = &hd;
    return mdb_put(txn, r->dbm, &k, &v, 0);
}

static enum csph_err eval(struct csph_rules *r, MDB_txn *txn, const struct csph_rule_event *ev,
                          struct csph_error *err);

enum csph_err csph_rules_eval(struct csph_rules *r, MDB_txn *txn, const struct csph_rule_event *ev,
                              const struct csph_alert_draft **drafts, size_t *ndrafts,
                              struct csph_error *err)
{
    *drafts = NULL;
    *ndrafts = 0;
    r->curl = NULL;
    r->cur_rec = SIZE_MAX;
    enum csph_err e = eval(r, txn, ev, err);
    if (r->curl)
        mdb_cursor_close(r->curl);
    r->curl = NULL;
    if (e) {
        r->ivalid = 0; /* the caller aborts: rebuild the index next time */
        open_reset(r);
        return e;
    }
    for (size_t i = 0; i < r->ndrafts; i++) {
        struct csph_alert_draft *d = &r->drafts[i];
        d->evidence = r->ev + r->evoff[i];
        for (size_t k = 0; k < d->nkey; k++)
            d->key_values[k] = r->keyvals[i].v[k];
    }
    *drafts = r->drafts;
    *ndrafts = r->ndrafts;
    return CSPH_ERR_OK;
}

static enum csph_err eval(struct csph_rules *r, MDB_txn *txn, const struct csph_rule_event *ev,
                          struct csph_error *err)
{
    enum csph_err e;
    r->ndrafts = 0;
    r->nev = 0;
    if (!r->open_valid || r->open_txnid != mdb_txn_id(txn)) {
        /* The first event of a transaction: the state as committed. */
        struct meta m;
        int rc;
        open_reset(r);
        if ((rc = open_dbs(r, txn)))
            return lmdb_fail(err, rc, "opening the rule state");
        if ((rc = meta_read(r, txn, &m)))
            return lmdb_fail(err, rc, "reading the rule state");
        r->hw = m.hw;
        if (!r->ivalid || r->ienv != mdb_txn_env(txn) || m.version != META_VERSION ||
            m.gen != r->gen || m.writer != r->writer) {
            if ((e = rebuild(r, txn, &m, err)))
                return e;
            open_reset(r); /* a conversion may have used the records */
        } else if (mdb_txn_id(txn) != r->txnid) {
            r->txnid = mdb_txn_id(txn);
            r->txn_head = r->head;
        }
        r->open_valid = 1;
        r->open_txnid = mdb_txn_id(txn);
    }
    int64_t mt = ev->occurred_ms < ev->received_ms ? ev->occurred_ms : ev->received_ms;
    if (!ev->from_hub && mt > r->hw) {
        r->hw = mt;
        r->sweep_left = r->nslots; /* records may have gone stale: look at them all */
        r->meta_dirty = 1;
    }
    for (size_t s = 0; s < r->ntypes; s++) {
        const struct type_slot *ts = &r->types[s];
        if (ts->len != ev->type_len || memcmp(ts->name, ev->type, ev->type_len))
            continue;
        for (size_t i = 0; i < ts->n; i++)
            if ((e = eval_rule(r, txn, &r->rules[ts->rules[i]], ev, err)))
                return e;
        break;
    }
    if ((e = record_prior(r, txn, ev, err)))
        return e;
    r->open_evals++;
    return CSPH_ERR_OK;
}

/* Write what the transaction's evaluations changed: windows held decoded
 * are encoded, every changed record goes to the log once, then the cleaner
 * and the index sweep get the budget of the events evaluated. */
static enum csph_err flush(struct csph_rules *r, MDB_txn *txn, struct csph_error *err)
{
    enum csph_err e;
    int rc;
    r->cur_rec = SIZE_MAX;
    for (size_t si = 0; si < r->nsecs; si++) {
        const struct osec *o = &r->secs[si];
        if (!o->wc)
            continue;
        const struct wcache *c = &r->wc[o->wc - 1];
        unsigned char id[8];
        size_t off, len;
        int64_t stale_at;
        memcpy(id, r->ar + o->id, sizeof id);
        if (grow((void **)&r->ents, &r->capents, c->n + 1, sizeof *r->ents) ||
            grow((void **)&r->fired, &r->capfired, c->nf + 1, sizeof *r->fired))
            return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
        memcpy(r->ents, c->e, c->n * sizeof *r->ents);
        memcpy(r->fired, c->f, c->nf * sizeof *r->fired);
        if (win_encode(r, rule_by_id(r, id), id, c->n, c->nf, &off, &len, &stale_at) ||
            sec_set(r, o->rec, si, off, len, stale_at))
            return csph_error_set(err, CSPH_ERR_INTERNAL, NULL, "rules: out of memory");
    }
    size_t evals = r->open_evals ? r->open_evals : 1;
    if ((e = rec_flush(r, txn, err)) || (e = clean(r, txn, CLEAN_BUDGET * evals, err)))
        return e;
    index_sweep(r, SWEEP_SLOTS * evals);
    index_warm(r);
    /* The first change in a transaction bumps the generation: an abort
     * takes it back, so the next call sees it differ and rebuilds. */
    int meta_dirty = r->meta_dirty;
    if (r->changed && r->gen_txnid != r->txnid) {
        r->gen++;
        r->gen_txnid = r->txnid;
        meta_dirty = 1;
    }
    if (meta_dirty && (rc = meta_write(r, txn)))
        return lmdb_fail(err, rc, "writing the rule state");
    r->changed = 0;
    return CSPH_ERR_OK;
}

enum csph_err csph_rules_flush(struct csph_rules *r, MDB_txn *txn, struct csph_error *err)
{
    if (!r || !r->open_valid || r->open_txnid != mdb_txn_id(txn))
        return CSPH_ERR_OK;
    r->curl = NULL;
    enum csph_err e = flush(r, txn, err);
    if (r->curl)
        mdb_cursor_close(r->curl);
    r->curl = NULL;
    if (e)
        r->ivalid = 0; /* the caller aborts: rebuild the index next time */
    open_reset(r);
    return e;
}

void csph_rules_abort(struct csph_rules *r)
{
    if (r)
        open_reset(r);
}

enum csph_err csph_rules_state_size(struct csph_rules *r, MDB_txn *txn, uint64_t *entries,
                                    uint64_t *bytes, struct csph_error *err)
{
    static const char *const names[] = {DB_LOG, DB_META, DB_LEGACY_WINDOW, DB_LEGACY_PRIOR};
    (void)r;
    *entries = *bytes = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        MDB_dbi dbi;
        MDB_stat st;
        int rc = mdb_dbi_open(txn, names[i], 0, &dbi);
        if (rc == MDB_NOTFOUND)
            continue;
        if (rc || (rc = mdb_stat(txn, dbi, &st)))
            return lmdb_fail(err, rc, "measuring the rule state");
        *entries += st.ms_entries;
        *bytes += (uint64_t)(st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages) * st.ms_psize;
    }
    return CSPH_ERR_OK;
}
