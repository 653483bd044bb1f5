/* test_yamlx.c: reading YAML with file:line complaints (hub/yamlx.c). Each
 * test writes its files into a private temporary directory; teardown
 * removes it and proves no file was left open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"
#include "yamlx.h"

struct fx {
    char *dir;
    char path[600];
    struct hub_yaml y;
    struct hub_error err;
    int fds;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->fds = tu_open_fds();
    f->dir = tu_tmpdir("yamlx");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc = 0;
    hub_yaml_free(&f->y);
    hub_yaml_free(&f->y); /* twice is safe */
    if (tu_open_fds() != f->fds) {
        fprintf(stderr, "%d descriptors open before, %d after\n", f->fds, tu_open_fds());
        rc = -1;
    }
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return rc;
}

/* Write text to DIR/name and load it; returns the load's result. */
static enum hub_err load(struct fx *f, const char *name, const char *text)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    hub_yaml_free(&f->y);
    memset(&f->err, 0, sizeof f->err);
    return hub_yaml_load(&f->y, f->path, &f->err);
}

static void load_ok(struct fx *f, const char *text)
{
    if (load(f, "ok.yaml", text) != CSPH_ERR_OK)
        fail_msg("load: %s", f->err.message);
}

/* err->message must start with "PATH:line: " and contain want. */
static void expect_at(struct fx *f, const struct hub_error *e, int line, const char *want)
{
    char prefix[700];
    snprintf(prefix, sizeof prefix, "%s:%d: ", f->path, line);
    if (strncmp(e->message, prefix, strlen(prefix)) != 0)
        fail_msg("message '%s' does not start with '%s'", e->message, prefix);
    if (want && !strstr(e->message, want))
        fail_msg("message '%s' does not mention '%s'", e->message, want);
}

static void test_syntax_errors(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *text;
        int line;
    } cases[] = {
        {"a: 1\nb: 2\n  c: 3\n", 3},           /* mapping value in the wrong place */
        {"a: 1\nb: [1, 2\nc: 3\n", 3},         /* unclosed flow sequence */
        {"a: 1\nb: \"open\n", 3},              /* unterminated quoted scalar */
        {"a: 1\nb:\n\t- x\n", 3},              /* a tab */
        {"# c\n# c\na: 1\n- b\n", 4},          /* a list item inside a mapping */
        {"a: *nope\n", 1},                     /* undefined alias */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        enum hub_err rc = load(f, "bad.yaml", cases[i].text);
        if (rc != CSPH_ERR_CONFIG)
            fail_msg("case %zu: %s, want config", i, hub_err_name(rc));
        assert_int_equal(f->err.code, CSPH_ERR_CONFIG);
        expect_at(f, &f->err, cases[i].line, NULL);
        assert_null(hub_yaml_root(&f->y));
    }
}

static void test_missing_file(void **state)
{
    struct fx *f = *state;
    snprintf(f->path, sizeof f->path, "%s/nope.yaml", f->dir);
    assert_int_equal(hub_yaml_load(&f->y, f->path, &f->err), CSPH_ERR_IO);
    assert_non_null(strstr(f->err.message, f->path));
    assert_null(hub_yaml_root(&f->y));
    /* a directory is not a YAML file */
    assert_int_not_equal(hub_yaml_load(&f->y, f->dir, &f->err), CSPH_ERR_OK);
}

static void test_empty_documents(void **state)
{
    struct fx *f = *state;
    load_ok(f, "");
    assert_null(hub_yaml_root(&f->y));
    load_ok(f, "# only a comment\n");
    assert_null(hub_yaml_root(&f->y));
}

static void test_navigation(void **state)
{
    struct fx *f = *state;
    load_ok(f, "# header\n"
               "name: hub\n"
               "list:\n"
               "  - one\n"
               "  - two\n"
               "map: {a: 1, b: 2}\n");
    yaml_node_t *root = hub_yaml_root(&f->y);
    assert_non_null(root);
    assert_int_equal(hub_yaml_line(root), 2);
    assert_int_equal(hub_yaml_map_len(root), 3);
    assert_int_equal(hub_yaml_seq_len(root), 0);
    assert_null(hub_yaml_scalar(root));

    yaml_node_t *name = hub_yaml_get(&f->y, root, "name");
    assert_string_equal(hub_yaml_scalar(name), "hub");
    assert_int_equal(hub_yaml_line(name), 2);
    assert_null(hub_yaml_get(&f->y, root, "nam"));
    assert_null(hub_yaml_get(&f->y, root, "names"));
    assert_null(hub_yaml_get(&f->y, name, "x")); /* not a map */
    assert_null(hub_yaml_get(&f->y, NULL, "x"));

    yaml_node_t *list = hub_yaml_get(&f->y, root, "list");
    assert_int_equal(hub_yaml_seq_len(list), 2);
    assert_int_equal(hub_yaml_map_len(list), 0);
    assert_string_equal(hub_yaml_scalar(hub_yaml_seq_item(&f->y, list, 0)), "one");
    assert_string_equal(hub_yaml_scalar(hub_yaml_seq_item(&f->y, list, 1)), "two");
    assert_int_equal(hub_yaml_line(hub_yaml_seq_item(&f->y, list, 1)), 5);
    assert_null(hub_yaml_seq_item(&f->y, list, 2));
    assert_null(hub_yaml_seq_item(&f->y, name, 0));

    yaml_node_t *map = hub_yaml_get(&f->y, root, "map");
    assert_int_equal(hub_yaml_map_len(map), 2);
    yaml_node_t *k, *v;
    hub_yaml_map_pair(&f->y, map, 1, &k, &v);
    assert_string_equal(hub_yaml_scalar(k), "b");
    assert_string_equal(hub_yaml_scalar(v), "2");
    assert_int_equal(hub_yaml_line(v), 6);
    assert_int_equal(hub_yaml_line(NULL), 1);
    assert_int_equal(hub_yaml_seq_len(NULL), 0);
    assert_int_equal(hub_yaml_map_len(NULL), 0);
    assert_null(hub_yaml_scalar(NULL));
}

static void test_fail(void **state)
{
    struct fx *f = *state;
    load_ok(f, "a: 1\nb: 2\n");
    yaml_node_t *b = hub_yaml_get(&f->y, hub_yaml_root(&f->y), "b");
    struct hub_error e;
    assert_int_equal(hub_yaml_fail(&f->y, b, &e, "b is %s", "wrong"), CSPH_ERR_CONFIG);
    assert_int_equal(e.code, CSPH_ERR_CONFIG);
    expect_at(f, &e, 2, "b is wrong");
    assert_int_equal(hub_yaml_fail(&f->y, NULL, &e, "no node"), CSPH_ERR_CONFIG);
    expect_at(f, &e, 1, "no node");
}

static void test_str(void **state)
{
    struct fx *f = *state;
    load_ok(f, "s: hello\nq: \"quoted: yes\"\nl: [a]\nm: {a: 1}\ne: \n");
    yaml_node_t *root = hub_yaml_root(&f->y);
    const char *s = NULL;
    struct hub_error e;
    assert_int_equal(hub_yaml_str(&f->y, hub_yaml_get(&f->y, root, "s"), "s", &s, &e),
                     CSPH_ERR_OK);
    assert_string_equal(s, "hello");
    assert_int_equal(hub_yaml_str(&f->y, hub_yaml_get(&f->y, root, "q"), "q", &s, &e),
                     CSPH_ERR_OK);
    assert_string_equal(s, "quoted: yes");
    assert_int_equal(hub_yaml_str(&f->y, hub_yaml_get(&f->y, root, "e"), "e", &s, &e),
                     CSPH_ERR_OK);
    assert_string_equal(s, "");
    s = "untouched";
    assert_int_equal(hub_yaml_str(&f->y, hub_yaml_get(&f->y, root, "l"), "the thing", &s, &e),
                     CSPH_ERR_CONFIG);
    expect_at(f, &e, 3, "the thing");
    assert_string_equal(s, "untouched");
    assert_int_equal(hub_yaml_str(&f->y, hub_yaml_get(&f->y, root, "m"), "m", &s, &e),
                     CSPH_ERR_CONFIG);
    expect_at(f, &e, 4, "m");
}

static void test_int(void **state)
{
    struct fx *f = *state;
    load_ok(f, "a: 42\n"                    /* 1 */
               "b: -7\n"                    /* 2 */
               "c: 0\n"                     /* 3 */
               "d: 12abc\n"                 /* 4 */
               "e: 1.5\n"                   /* 5 */
               "f: 0x10\n"                  /* 6 */
               "g: 99999999999999999999\n"  /* 7 */
               "h: \n"                      /* 8 */
               "i: [1]\n"                   /* 9 */
               "j: \"17\"\n"                /* 10 */
               "k: 9223372036854775807\n"); /* 11 */
    yaml_node_t *root = hub_yaml_root(&f->y);
    struct hub_error e;
    int64_t v;
#define GET(k) hub_yaml_get(&f->y, root, k)
    assert_int_equal(hub_yaml_int(&f->y, GET("a"), "a", 0, 100, &v, &e), CSPH_ERR_OK);
    assert_int_equal(v, 42);
    assert_int_equal(hub_yaml_int(&f->y, GET("a"), "a", 42, 42, &v, &e), CSPH_ERR_OK);
    assert_int_equal(hub_yaml_int(&f->y, GET("b"), "b", -10, 10, &v, &e), CSPH_ERR_OK);
    assert_int_equal(v, -7);
    assert_int_equal(hub_yaml_int(&f->y, GET("c"), "c", 0, 0, &v, &e), CSPH_ERR_OK);
    assert_int_equal(v, 0);
    assert_int_equal(hub_yaml_int(&f->y, GET("j"), "j", 0, 100, &v, &e), CSPH_ERR_OK);
    assert_int_equal(v, 17);
    assert_int_equal(hub_yaml_int(&f->y, GET("k"), "k", 0, INT64_MAX, &v, &e), CSPH_ERR_OK);
    assert_true(v == INT64_MAX);

    v = 555;
    assert_int_equal(hub_yaml_int(&f->y, GET("a"), "alpha", 0, 41, &v, &e), CSPH_ERR_CONFIG);
    expect_at(f, &e, 1, "alpha");
    assert_non_null(strstr(e.message, "41"));
    assert_int_equal(v, 555);
    assert_int_equal(hub_yaml_int(&f->y, GET("a"), "a", 43, 100, &v, &e), CSPH_ERR_CONFIG);
    assert_int_equal(hub_yaml_int(&f->y, GET("b"), "b", 0, 10, &v, &e), CSPH_ERR_CONFIG);
    expect_at(f, &e, 2, NULL);
    static const struct {
        const char *key;
        int line;
    } bad[] = {{"d", 4}, {"e", 5}, {"f", 6}, {"g", 7}, {"h", 8}, {"i", 9}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (hub_yaml_int(&f->y, GET(bad[i].key), bad[i].key, INT64_MIN, INT64_MAX, &v, &e) !=
            CSPH_ERR_CONFIG)
            fail_msg("'%s' read as the whole number %lld", bad[i].key, (long long)v);
        expect_at(f, &e, bad[i].line, "whole number");
        assert_int_equal(v, 555);
    }
#undef GET
}

static void test_bool(void **state)
{
    struct fx *f = *state;
    load_ok(f, "t1: true\nt2: yes\nt3: on\nf1: false\nf2: no\nf3: off\n"
               "b1: maybe\nb2: 2\nb3: [true]\nb4: \n");
    yaml_node_t *root = hub_yaml_root(&f->y);
    struct hub_error e;
    const char *truthy[] = {"t1", "t2", "t3"}, *falsy[] = {"f1", "f2", "f3"};
    for (int i = 0; i < 3; i++) {
        int v = -1;
        assert_int_equal(hub_yaml_bool(&f->y, hub_yaml_get(&f->y, root, truthy[i]), "x", &v, &e),
                         CSPH_ERR_OK);
        assert_int_equal(v, 1);
        v = -1;
        assert_int_equal(hub_yaml_bool(&f->y, hub_yaml_get(&f->y, root, falsy[i]), "x", &v, &e),
                         CSPH_ERR_OK);
        assert_int_equal(v, 0);
    }
    const char *bad[] = {"b1", "b2", "b3", "b4"};
    for (int i = 0; i < 4; i++) {
        int v = 9;
        assert_int_equal(hub_yaml_bool(&f->y, hub_yaml_get(&f->y, root, bad[i]), "restricted",
                                       &v, &e),
                         CSPH_ERR_CONFIG);
        expect_at(f, &e, 7 + i, "restricted");
        assert_int_equal(v, 9);
    }
}

static void test_only_keys(void **state)
{
    struct fx *f = *state;
    static const char *const allowed[] = {"alpha", "beta", NULL};
    load_ok(f, "alpha: 1\nbeta: 2\n");
    struct hub_error e;
    assert_int_equal(hub_yaml_only_keys(&f->y, hub_yaml_root(&f->y), allowed, "the test", &e),
                     CSPH_ERR_OK);
    load_ok(f, "alpha: 1\n\n# comment\nbetta: 2\n");
    assert_int_equal(hub_yaml_only_keys(&f->y, hub_yaml_root(&f->y), allowed, "the test", &e),
                     CSPH_ERR_CONFIG);
    expect_at(f, &e, 4, "betta");
    assert_non_null(strstr(e.message, "the test"));
    assert_non_null(strstr(e.message, "alpha, beta")); /* lists what is known */
    /* an empty mapping has no unknown keys */
    load_ok(f, "{}\n");
    assert_int_equal(hub_yaml_only_keys(&f->y, hub_yaml_root(&f->y), allowed, "x", &e),
                     CSPH_ERR_OK);
    /* not a mapping */
    load_ok(f, "- alpha\n");
    assert_int_equal(hub_yaml_only_keys(&f->y, hub_yaml_root(&f->y), allowed, "the test", &e),
                     CSPH_ERR_CONFIG);
    expect_at(f, &e, 1, "the test");
    assert_int_equal(hub_yaml_only_keys(&f->y, NULL, allowed, "nothing", &e), CSPH_ERR_CONFIG);
    expect_at(f, &e, 1, "nothing");
    /* a key that is not a scalar */
    load_ok(f, "alpha: 1\n? [x]\n: 2\n");
    assert_int_equal(hub_yaml_only_keys(&f->y, hub_yaml_root(&f->y), allowed, "t", &e),
                     CSPH_ERR_CONFIG);
    expect_at(f, &e, 2, NULL);
    /* many allowed keys: the list in the message is cut, not overrun */
    const char *many[60];
    char names[59][16];
    for (int i = 0; i < 59; i++) {
        snprintf(names[i], sizeof names[i], "setting_%02d", i);
        many[i] = names[i];
    }
    many[59] = NULL;
    load_ok(f, "nope: 1\n");
    assert_int_equal(hub_yaml_only_keys(&f->y, hub_yaml_root(&f->y), many, "t", &e),
                     CSPH_ERR_CONFIG);
    expect_at(f, &e, 1, "nope");
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_syntax_errors),
        T(test_missing_file),
        T(test_empty_documents),
        T(test_navigation),
        T(test_fail),
        T(test_str),
        T(test_int),
        T(test_bool),
        T(test_only_keys),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
