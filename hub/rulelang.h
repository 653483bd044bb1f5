/* rulelang.h: the rule language's small parts, compiled from YAML and
 * evaluated against one event: field paths (victim, location.lsoa), tests
 * and groups of tests ("dash_score >= 14", {any: [...]}), and reason
 * templates ("{count} reports by {key} ..."). docs/rules.md describes the
 * language; the loader (ruleload.c) puts these parts together into rules.
 *
 * Everything compiled lives in an arena freed at once with the rule set.
 * Knows no LMDB and no rule state. */
#ifndef CSPH_RULELANG_H
#define CSPH_RULELANG_H

#include <msgpack.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "yamlx.h"

#define CSPH_PATH_SEG_MAX 6
#define CSPH_PATH_TEXT_MAX 128
#define CSPH_IN_LIST_MAX 64
#define CSPH_COND_DEPTH_MAX 8

/* Every allocation made while compiling, freed together. */
struct hub_arena {
    void **p;
    size_t n, cap;
};
void *hub_arena_alloc(struct hub_arena *a, size_t size); /* zeroed; NULL when out of memory */
char *hub_arena_strdup(struct hub_arena *a, const char *s, size_t n);
void hub_arena_free(struct hub_arena *a);

/* A field name, dotted into maps. */
struct hub_path {
    const char *text; /* as written, NUL-terminated */
    unsigned nseg;
    struct {
        const char *p;
        uint32_t n;
    } seg[CSPH_PATH_SEG_MAX];
};

/* 0; -1 when s is not a field name (victim, location.lsoa); -2 out of memory. */
int hub_path_compile(struct hub_arena *a, const char *s, size_t n, struct hub_path *p);
/* The value at p in map o, or NULL. */
const msgpack_object *hub_path_get(const msgpack_object *o, const struct hub_path *p);
/* 1 when c is a letter, digit, '_' or '-'. */
int hub_field_char(char c);

struct hub_lit {
    const char *s; /* the text, NUL-terminated */
    uint32_t n;
    uint8_t is_num, is_int, is_bool, b;
    int64_t i;
    double d;
};

enum hub_test_op {
    CSPH_TEST_EQ, CSPH_TEST_NE, CSPH_TEST_GE, CSPH_TEST_LE, CSPH_TEST_GT, CSPH_TEST_LT, CSPH_TEST_IN,
    CSPH_TEST_BETWEEN, CSPH_TEST_EXISTS, CSPH_TEST_MISSING
};

/* CSPH_COND_ALL first: a zeroed cond is "all of nothing", which holds. */
enum hub_cond_kind { CSPH_COND_ALL, CSPH_COND_ANY, CSPH_COND_TEST };

struct hub_cond {
    enum hub_cond_kind kind;
    struct hub_path field;  /* CSPH_COND_TEST */
    int line;               /* where the test is written (for the loader's messages) */
    enum hub_test_op op;
    struct hub_lit *lits;
    uint32_t nlits;
    struct hub_cond *kids; /* CSPH_COND_ANY, CSPH_COND_ALL */
    size_t nkids;
};

/* match: a list of tests (all must hold), or one test or group. Errors are
 * "file:line: what is wrong" (CSPH_ERR_CONFIG). */
enum hub_err hub_cond_compile(struct hub_arena *a, struct hub_yaml *y, yaml_node_t *node,
                              struct hub_cond *c, struct hub_error *err);
int hub_cond_eval(const struct hub_cond *c, const msgpack_object *ev);
/* Visit every test of c (depth first); stops at the first nonzero return,
 * which it returns. */
int hub_cond_each_test(const struct hub_cond *c,
                       int (*fn)(void *ctx, const struct hub_cond *test), void *ctx);

/* ---- reason templates ---------------------------------------------------- */

enum hub_ph {
    CSPH_PH_TEXT, CSPH_PH_COUNT, CSPH_PH_DISTINCT, CSPH_PH_KEY, CSPH_PH_KEY_NAME, CSPH_PH_FIRST,
    CSPH_PH_LAST, CSPH_PH_DATE, CSPH_PH_THRESHOLD, CSPH_PH_WINDOW, CSPH_PH_WITHIN, CSPH_PH_PANEL,
    CSPH_PH_PRIORITY, CSPH_PH_RULE, CSPH_PH_DUE, CSPH_PH_FIELD, CSPH_PH_FIELD_DATE
};

struct hub_tseg {
    enum hub_ph ph;
    const char *s; /* CSPH_PH_TEXT */
    size_t n;
    struct hub_path f; /* CSPH_PH_FIELD, CSPH_PH_FIELD_DATE */
};

struct hub_tmpl {
    struct hub_tseg *segs;
    size_t n;
    int has_last;
};

/* Compile the reason s (written at node). restricted: only placeholders
 * that show that a case exists are allowed (the message names panel). */
enum hub_err hub_tmpl_compile(struct hub_arena *a, struct hub_yaml *y, yaml_node_t *node,
                              const char *s, int restricted, const char *panel,
                              struct hub_tmpl *t, struct hub_error *err);

/* What a reason is filled in with. */
struct hub_tmpl_values {
    uint64_t count, distinct;
    size_t nkey;
    const char *const *key_names;
    const char *const *key_values;
    const uint8_t *key_lens;
    int64_t first_ms, last_ms, date_ms;
    int64_t threshold, window, within;
    const char *panel, *priority, *rule;
    int has_due;
    int64_t due_ms;
    const msgpack_object *event;
};

/* Render t into buf (at most cap - 1 bytes, never cutting a UTF-8
 * character). */
void hub_tmpl_render(const struct hub_tmpl *t, const struct hub_tmpl_values *v, char *buf,
                     size_t cap);

#endif
