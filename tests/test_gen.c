/* test_gen: the scenario generator, csphub-gen ($CSPH_GEN). Its output is
 * reproducible (same seed, same bytes), every line is JSON, every line that
 * is not meant to be broken carries what its type's schema requires, the
 * broken and resent shares are what was asked, and a generated year run
 * through the real daemon with the default rules raises alerts on the
 * panels the scenarios are written for. Skipped when CSPH_GEN is not set
 * (the generator target is not in the build). */
#define _GNU_SOURCE
#include "testutil.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

/* ---- running the generator ---------------------------------------------- */

/* Run $CSPH_GEN with the arguments (NULL-terminated), writing to out_path.
 * Returns its exit status. */
static int run_gen(const char *out_path, ...)
{
    const char *const prefix[] = {"--output", out_path, NULL};
    va_list ap;
    va_start(ap, out_path);
    /* --stats is not asked for; keep the test output clean */
    int rc = tu_run_va(NULL, "/dev/null", NULL, getenv("CSPH_GEN"), prefix, ap);
    va_end(ap);
    return rc;
}

struct text {
    char *buf;
    size_t len;
    char **line; /* NUL-terminated lines inside buf */
    size_t nlines;
};

static void text_load(struct text *t, const char *path)
{
    t->buf = tu_slurp(path, &t->len);
    t->nlines = 0;
    for (size_t i = 0; i < t->len; i++)
        t->nlines += t->buf[i] == '\n';
    t->line = calloc(t->nlines + 1, sizeof *t->line);
    size_t k = 0;
    for (char *p = t->buf, *nl; k < t->nlines && (nl = strchr(p, '\n')); p = nl + 1) {
        *nl = 0;
        t->line[k++] = p;
    }
    assert_int_equal(k, t->nlines);
}

static void text_free(struct text *t)
{
    free(t->buf);
    free(t->line);
    memset(t, 0, sizeof *t);
}

/* Generate into dir/name and load it. */
static void gen_load(struct text *t, const char *dir, const char *name, const char *seed,
                     const char *events, const char *broken_pct)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(run_gen(path, "--seed", seed, "--events", events, "--broken-pct", broken_pct,
                             NULL),
                     0);
    text_load(t, path);
}

/* ---- a light schema check (PROTOCOL.md 3 and the schemas) -------------- */

enum kind { K_STR, K_PERSON, K_LOC, K_ENUM, K_INT, K_BOOL, K_PANEL };
struct field {
    const char *name;
    enum kind kind;
    int optional;
    const char *values; /* enum: space-separated */
    int min, max;       /* int range; string max bytes */
};
struct type {
    const char *name;
    struct field f[9];
};

#define OFFENCES                                                                   \
    "burglary.residential burglary.business robbery vehicle.theft theft "          \
    "weapon.possession violence.injury violence.serious sexual drugs.supply "      \
    "drugs.possession criminal.damage arson public.order other"
static const char *const panels =
    "marac community-marac asb-case-review hate-crime iom sgv mace tasking channel mappa";

/* Designated initializers: a field's unset parts are zero. */
#define F(n, k, opt) {.name = n, .kind = k, .optional = opt}
#define E(n, opt, v) {.name = n, .kind = K_ENUM, .optional = opt, .values = v}
#define I(n, opt, lo, hi) {.name = n, .kind = K_INT, .optional = opt, .min = lo, .max = hi}
#define S(n, opt) {.name = n, .kind = K_STR, .optional = opt, .max = 2000}
static const struct type types[] = {
    {"asb.report",
     {F("victim", K_PERSON, 1), F("location", K_LOC, 0),
      E("category", 0, "personal nuisance environmental"), F("hate", K_BOOL, 1),
      F("vulnerable", K_BOOL, 1), S("summary", 1)}},
    {"call",
     {F("caller", K_PERSON, 0), F("location", K_LOC, 1),
      E("category", 0, "asb domestic crime welfare other")}},
    {"da.incident",
     {F("victim", K_PERSON, 0), F("perpetrator", K_PERSON, 1), I("dash_score", 1, 0, 27),
      E("risk", 1, "standard medium high"), F("children_present", K_BOOL, 1),
      F("location", K_LOC, 1)}},
    {"arrest",
     {F("subject", K_PERSON, 0), I("age", 1, 10, 120), E("offence", 0, OFFENCES),
      F("location", K_LOC, 1)}},
    {"violence.incident",
     {F("victim", K_PERSON, 1), I("victim_age", 1, 0, 120), F("perpetrator", K_PERSON, 1),
      I("perpetrator_age", 1, 0, 120), E("weapon", 0, "knife firearm other none"),
      E("injury", 0, "none minor serious fatal"), F("group", K_BOOL, 1),
      F("location", K_LOC, 1)}},
    {"hate.incident",
     {F("victim", K_PERSON, 1), F("location", K_LOC, 0),
      E("strand", 0, "race religion sexual_orientation disability transgender other")}},
    {"missing.episode", {F("subject", K_PERSON, 0), I("age", 0, 0, 17)}},
    {"concern",
     {F("subject", K_PERSON, 0),
      E("kind", 0,
        "criminal_exploitation sexual_exploitation radicalisation mental_health "
        "rough_sleeping hoarding other"),
      S("summary", 1)}},
    {"referral", {F("subject", K_PERSON, 0), F("panel", K_PANEL, 0), S("reason", 0)}},
    {"case.update",
     {F("subject", K_PERSON, 0), F("panel", K_PANEL, 0), E("risk", 1, "standard medium high"),
      E("status", 0, "open reviewed closed")}},
    {"case.review.request",
     {F("applicant", K_PERSON, 0), F("location", K_LOC, 1), S("summary", 0)}},
};
#define NTYPES (sizeof types / sizeof *types)

static int in_list(const char *list, const char *v)
{
    size_t n = strlen(v);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ' ');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && memcmp(p, v, n) == 0)
            return 1;
        p += len + (end != NULL);
    }
    return 0;
}

static int is_person(const json_t *v)
{
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n < 1 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] >= 'A' && s[i] <= 'Z') && !(s[i] >= 'a' && s[i] <= 'z') &&
            !(s[i] >= '0' && s[i] <= '9') && !strchr("._:-", s[i]))
            return 0;
    return 1;
}

static int digits(const char *s, int n)
{
    for (int i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* RFC 3339 date-time with an offset, on a day that exists. */
static int is_time(const json_t *v)
{
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = strlen(s);
    if (n < 20 || !digits(s, 4) || s[4] != '-' || !digits(s + 5, 2) || s[7] != '-' ||
        !digits(s + 8, 2) || (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2) ||
        s[13] != ':' || !digits(s + 14, 2) || s[16] != ':' || !digits(s + 17, 2))
        return 0;
    int y = atoi(s), mo = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12)
        return 0;
    int dim = mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
    if (d < 1 || d > dim || atoi(s + 11) > 23 || atoi(s + 14) > 59 || atoi(s + 17) > 60)
        return 0;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!digits(p, 1))
            return 0;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == 0)
        return 1;
    return (*p == '+' || *p == '-') && digits(p + 1, 2) && p[3] == ':' && digits(p + 4, 2) &&
           p[6] == 0;
}

static int is_location(const json_t *v)
{
    if (!json_is_object(v))
        return 0;
    const char *k;
    json_t *x;
    json_object_foreach((json_t *)v, k, x) {
        if (!strcmp(k, "id") || !strcmp(k, "ward")) {
            if (!json_is_string(x) || json_string_length(x) < 1 || json_string_length(x) > 64)
                return 0;
        } else if (!strcmp(k, "lsoa")) {
            const char *s = json_is_string(x) ? json_string_value(x) : "";
            if (strlen(s) != 9 || (s[0] != 'E' && s[0] != 'W') || s[1] != '0' || s[2] != '1' ||
                !digits(s + 3, 6))
                return 0;
        } else if (!strcmp(k, "lat") || !strcmp(k, "lon")) {
            if (!json_is_number(x))
                return 0;
        } else if (!strcmp(k, "description")) {
            if (!json_is_string(x) || json_string_length(x) > 200)
                return 0;
        } else {
            return 0;
        }
    }
    int lat = json_object_get(v, "lat") != NULL, lon = json_object_get(v, "lon") != NULL;
    if (lat != lon)
        return 0;
    return json_object_get(v, "id") || json_object_get(v, "lsoa") || json_object_get(v, "ward") ||
           lat;
}

static int field_ok(const struct field *f, const json_t *v)
{
    switch (f->kind) {
    case K_STR: return json_is_string(v) && json_string_length(v) <= (size_t)f->max;
    case K_PERSON: return is_person(v);
    case K_LOC: return is_location(v);
    case K_ENUM: return json_is_string(v) && in_list(f->values, json_string_value(v));
    case K_PANEL: return json_is_string(v) && in_list(panels, json_string_value(v));
    case K_BOOL: return json_is_boolean(v);
    case K_INT:
        return json_is_integer(v) && json_integer_value(v) >= f->min &&
               json_integer_value(v) <= f->max;
    }
    return 0;
}

static const struct type *type_of(const json_t *ev)
{
    const char *t = json_string_value(json_object_get(ev, "type"));
    for (size_t i = 0; t && i < NTYPES; i++)
        if (!strcmp(types[i].name, t))
            return &types[i];
    return NULL;
}

/* 1 when the event would pass its schema: the common fields, every field
 * known, every required one there, every value of its kind. */
static int event_ok(const json_t *ev)
{
    const struct type *t = type_of(ev);
    if (!json_is_object(ev) || !t)
        return 0;
    const json_t *id = json_object_get(ev, "id"), *src = json_object_get(ev, "source");
    if (!json_is_string(id) || json_string_length(id) < 1 || json_string_length(id) > 128 ||
        !json_is_string(src) || json_string_length(src) < 1 || json_string_length(src) > 64 ||
        !is_time(json_object_get(ev, "occurred_at")))
        return 0;
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)ev, k, v) {
        if (!strcmp(k, "id") || !strcmp(k, "type") || !strcmp(k, "source") ||
            !strcmp(k, "occurred_at"))
            continue;
        const struct field *f = NULL;
        for (int i = 0; i < 9 && t->f[i].name && !f; i++)
            if (!strcmp(t->f[i].name, k))
                f = &t->f[i];
        if (!f || !field_ok(f, v))
            return 0;
    }
    for (int i = 0; i < 9 && t->f[i].name; i++)
        if (!t->f[i].optional && !json_object_get(ev, t->f[i].name))
            return 0;
    return 1;
}

/* ---- what a file holds --------------------------------------------------- */

struct census {
    size_t lines, broken, resends, unique;
    size_t by_type[NTYPES];
    size_t dash_high, knife_young, weapon_arrest_young, radicalisation, exploitation;
    size_t late; /* lines whose occurred_at is 2+ days before a line already seen */
    char *broken_flag; /* per line */
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Comparable seconds of an RFC 3339 time (offset applied); -1 if not one. */
static long long seconds_of(const json_t *v)
{
    if (!is_time(v))
        return -1;
    const char *s = json_string_value(v);
    struct tm tm = {0};
    tm.tm_year = atoi(s) - 1900;
    tm.tm_mon = atoi(s + 5) - 1;
    tm.tm_mday = atoi(s + 8);
    tm.tm_hour = atoi(s + 11);
    tm.tm_min = atoi(s + 14);
    tm.tm_sec = atoi(s + 17);
    long long t = (long long)timegm(&tm);
    const char *p = s + 19;
    while (*p && *p != 'Z' && *p != 'z' && *p != '+' && *p != '-')
        p++;
    if (*p == '+' || *p == '-')
        t -= (*p == '+' ? 1 : -1) * (atoi(p + 1) * 3600LL + atoi(p + 4) * 60LL);
    return t;
}

static void take_census(struct census *c, const struct text *t)
{
    memset(c, 0, sizeof *c);
    c->lines = t->nlines;
    c->broken_flag = calloc(t->nlines + 1, 1);
    char **valid = calloc(t->nlines + 1, sizeof *valid);
    size_t nvalid = 0;
    long long newest = 0;
    for (size_t i = 0; i < t->nlines; i++) {
        json_error_t je;
        json_t *ev = json_loads(t->line[i], 0, &je);
        if (!ev)
            fail_msg("line %zu is not JSON (%s): %s", i + 1, je.text, t->line[i]);
        if (!json_is_object(ev))
            fail_msg("line %zu is not a JSON object: %s", i + 1, t->line[i]);
        if (!event_ok(ev)) {
            c->broken++;
            c->broken_flag[i] = 1;
            json_decref(ev);
            continue;
        }
        valid[nvalid++] = t->line[i];
        const struct type *ty = type_of(ev);
        c->by_type[ty - types]++;
        const char *name = ty->name;
        json_int_t dash = json_integer_value(json_object_get(ev, "dash_score"));
        const char *weapon = json_string_value(json_object_get(ev, "weapon"));
        const char *kind = json_string_value(json_object_get(ev, "kind"));
        const char *offence = json_string_value(json_object_get(ev, "offence"));
        json_int_t va = json_integer_value(json_object_get(ev, "victim_age"));
        json_int_t pa = json_integer_value(json_object_get(ev, "perpetrator_age"));
        json_int_t age = json_integer_value(json_object_get(ev, "age"));
        if (!strcmp(name, "da.incident") && dash >= 14)
            c->dash_high++;
        if (weapon && !strcmp(weapon, "knife") && ((va >= 10 && va <= 25) || (pa >= 10 && pa <= 25)))
            c->knife_young++;
        if (offence && !strcmp(offence, "weapon.possession") && age >= 10 && age <= 25)
            c->weapon_arrest_young++;
        if (kind && !strcmp(kind, "radicalisation"))
            c->radicalisation++;
        if (kind && strstr(kind, "_exploitation"))
            c->exploitation++;
        long long when = seconds_of(json_object_get(ev, "occurred_at"));
        if (when > newest)
            newest = when;
        else if (newest - when > 2 * 86400)
            c->late++;
        json_decref(ev);
    }
    /* Resends are lines equal to an earlier valid line. */
    qsort(valid, nvalid, sizeof *valid, cmp_str);
    c->unique = nvalid ? 1 : 0;
    for (size_t i = 1; i < nvalid; i++)
        if (strcmp(valid[i - 1], valid[i]) != 0)
            c->unique++;
    c->resends = nvalid - c->unique;
    free(valid);
}

/* ---- fixtures ------------------------------------------------------------ */


static int setup(void **state) { return tu_tmpfx_setup(state, "gen"); }
static int teardown(void **state) { return tu_tmpfx_teardown(state); }

#define NEED_GEN() TU_NEED_PROGRAM("CSPH_GEN", "csphub-gen")

/* ---- tests --------------------------------------------------------------- */

/* The same seed gives the same bytes; another seed another file. */
static void test_determinism(void **state)
{
    struct tu_tmpfx *f = *state;
    NEED_GEN();
    struct text a, b, c;
    gen_load(&a, f->tmp, "a.jsonl", "7", "3000", "1");
    gen_load(&b, f->tmp, "b.jsonl", "7", "3000", "1");
    gen_load(&c, f->tmp, "c.jsonl", "8", "3000", "1");
    assert_int_equal(a.nlines, 3000);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.buf, b.buf, a.len);
    assert_true(a.len != c.len || memcmp(a.buf, c.buf, a.len) != 0);
    text_free(&a);
    text_free(&b);
    text_free(&c);
}

/* Every line is JSON; every line not meant to be broken passes the schema
 * check; the broken and resent shares are what was asked; the scenarios
 * are there. */
static void test_lines(void **state)
{
    struct tu_tmpfx *f = *state;
    NEED_GEN();
    struct text t;
    gen_load(&t, f->tmp, "y.jsonl", "11", "20000", "1");
    struct census c;
    take_census(&c, &t);
    assert_int_equal(c.lines, 20000);
    /* 1% of 20,000 asked: the generator makes it exact; allow a little. */
    if (c.broken < 180 || c.broken > 220)
        fail_msg("%zu broken lines, want about 200 (1%%)", c.broken);
    /* The default 3% resends. */
    if (c.resends < 540 || c.resends > 660)
        fail_msg("%zu resent lines, want about 600 (3%%)", c.resends);
    for (size_t i = 0; i < NTYPES; i++)
        if (c.by_type[i] == 0)
            fail_msg("no valid %s events", types[i].name);
    assert_true(c.dash_high > 0);
    assert_true(c.knife_young > 0);
    assert_true(c.weapon_arrest_young > 0);
    assert_true(c.radicalisation > 0);
    assert_true(c.exploitation > 0);
    /* Nightly extracts arrive late: many events are days older than the
     * stream around them. */
    if (c.late < c.lines / 50)
        fail_msg("only %zu late events in %zu", c.late, c.lines);
    free(c.broken_flag);
    text_free(&t);

    /* Another share of broken rows. */
    gen_load(&t, f->tmp, "z.jsonl", "12", "5000", "6");
    take_census(&c, &t);
    if (c.broken < 270 || c.broken > 330)
        fail_msg("%zu broken lines with --broken-pct 6, want about 300", c.broken);
    free(c.broken_flag);
    text_free(&t);
    gen_load(&t, f->tmp, "n.jsonl", "12", "5000", "0");
    take_census(&c, &t);
    assert_int_equal(c.broken, 0);
    free(c.broken_flag);
    text_free(&t);
}

/* Publish every line of the file in order with up to `window` requests in
 * flight; count the hub's answers. */
static void publish_all(struct tu_client *cl, const struct text *t, const char *broken_flag,
                        size_t *accepted, size_t *duplicate, size_t *rejected)
{
    const size_t window = 200;
    size_t sent = 0, answered = 0;
    msgpack_sbuffer ev, req;
    msgpack_sbuffer_init(&ev);
    msgpack_sbuffer_init(&req);
    *accepted = *duplicate = *rejected = 0;
    while (answered < t->nlines) {
        while (sent < t->nlines && sent - answered < window) {
            tu_json_to_mp(&ev, t->line[sent]);
            tu_publish_request(&req, ev.data, ev.size, (int64_t)sent);
            assert_int_equal(tu_send_raw(cl, req.data, req.size), 0);
            sent++;
        }
        msgpack_object r;
        if (tu_recv(cl, 10000, &r) != 0)
            fail_msg("no reply within 10 s (%zu sent, %zu answered)", sent, answered);
        answered++;
        int64_t i = tu_int(&r, "req");
        const char *status = tu_str(&r, "status");
        assert_true(i >= 0 && (size_t)i < t->nlines);
        assert_non_null(status);
        if (!strcmp(status, "accepted")) {
            (*accepted)++;
        } else if (!strcmp(status, "duplicate")) {
            (*duplicate)++;
        } else {
            (*rejected)++;
            if (!broken_flag[i])
                fail_msg("line %" PRId64 " rejected but it passes the schema check: %s\n%s",
                         i + 1, tu_dump(&r), t->line[i]);
        }
        if (broken_flag[i] && strcmp(status, "rejected") != 0)
            fail_msg("line %" PRId64 " is broken but the hub said %s: %s", i + 1, status,
                     t->line[i]);
    }
    msgpack_sbuffer_destroy(&ev);
    msgpack_sbuffer_destroy(&req);
}

/* A generated year through the real daemon and the default rules: every
 * broken row rejected and nothing else, every resend recognised, and alerts
 * on the panels the scenarios are written for. */
static void test_hub_alerts(void **state)
{
    struct tu_tmpfx *f = *state;
    NEED_GEN();
    struct text t;
    gen_load(&t, f->tmp, "year.jsonl", "5", "5000", "1");
    struct census c;
    take_census(&c, &t);

    char data[600], config[600];
    snprintf(data, sizeof data, "%s/data", f->tmp);
    snprintf(config, sizeof config, "%s/csphub.yaml", tu_env("CSPH_CONFIG_DIR", "config"));
    struct tu_hub hub;
    assert_int_equal(tu_hub_start(&hub, data, "--config", config, "--log-level", "warn", NULL), 0);
    struct tu_client cl;
    tu_client_open(&cl, hub.endpoint, ZMQ_DEALER);

    size_t accepted, duplicate, rejected;
    publish_all(&cl, &t, c.broken_flag, &accepted, &duplicate, &rejected);
    assert_int_equal(rejected, c.broken);
    assert_int_equal(duplicate, c.resends);
    assert_int_equal(accepted, c.unique);

    msgpack_object r = tu_call(&cl, "{\"op\":\"stats\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_int(&r, "counters.last_seq") >= (int64_t)c.unique, 1);
    static const char *const want[] = {"marac", "community-marac", "asb-case-review", "sgv",
                                       "mace",  "channel",         "iom",             "hate-crime",
                                       "tasking"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char path[96];
        snprintf(path, sizeof path, "counters.alerts.%s", want[i]);
        if (tu_int(&r, path) <= 0)
            fail_msg("no alerts on %s: %s", want[i], tu_dump(&r));
    }
    /* Every rejection is counted by its code; together they are the broken rows. */
    const msgpack_object *rej = tu_get(&r, "counters.rejected");
    assert_non_null(rej);
    assert_int_equal(rej->type, MSGPACK_OBJECT_MAP);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < rej->via.map.size; i++)
        sum += rej->via.map.ptr[i].val.via.u64;
    assert_int_equal(sum, c.broken);

    tu_client_close(&cl);
    assert_int_equal(tu_hub_stop(&hub), 0);
    free(c.broken_flag);
    text_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_determinism, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_alerts, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
