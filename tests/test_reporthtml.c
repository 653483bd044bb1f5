/* The report's drawing (common/reporthtml.c), shared by `csphub report
 * --format html` and the console's report page: a reply built by hand is
 * drawn with a bar per shown month, hidden figures as their mark and no
 * bar, last year as points, the target band, escaped text and the
 * provenance line; the same reply gives the same bytes. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "reporthtml.h"

static const char REPLY[] =
    "{\"as_of\":42,\"chain\":{\"name\":\"sha256\",\"link\":\"00ff\"},"
    "\"indicators_digest\":\"d1\",\"from\":\"2025-04-01\",\"to\":\"2025-06-30\","
    "\"area\":{\"name\":\"north\",\"title\":\"North <locality>\"},\"suppressed\":true,"
    "\"suppress_below\":5,\"months\":[\"2025-04\",\"2025-05\",\"2025-06\"],"
    "\"last_year_months\":[\"2024-04\",\"2024-05\",\"2024-06\"],\"indicators\":["
    "{\"name\":\"a.count\",\"title\":\"Calls & <b>visits</b>\",\"unit\":\"count\","
    "\"values\":[12,\"<5\",7],\"total\":\"*\",\"last_year\":[10,11,null],"
    "\"last_year_total\":21,\"change\":null,\"rag\":\"green\",\"direction\":\"better\","
    "\"target\":30,\"baseline\":40},"
    "{\"name\":\"b.rate\",\"title\":\"Repeat rate\",\"unit\":\"percent\",\"values\":[25.0,"
    "30.5,null],\"total\":27.7,\"last_year\":[null,null,null],\"last_year_total\":null,"
    "\"change\":null,\"rag\":null,\"direction\":null,\"band\":[24,40]}]}";

static char *draw(const json_t *rep, int page)
{
    char *out = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&out, &n);
    assert_non_null(f);
    if (page)
        csph_report_html_page(f, rep);
    else
        csph_report_html_body(f, rep);
    assert_int_equal(fclose(f), 0);
    return out;
}

static int count(const char *s, const char *needle)
{
    int k = 0;
    for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
        k++;
    return k;
}

static void test_body(void **state)
{
    (void)state;
    json_error_t je;
    json_t *rep = json_loads(REPLY, 0, &je);
    assert_non_null(rep);
    char *b = draw(rep, 0);
    assert_int_equal(count(b, "<section class=\"card\""), 2);
    assert_int_equal(count(b, "<svg class=\"chart\""), 2);
    /* 12 and 7, then 25.0 and 30.5: a bar each; "<5" and nil none */
    assert_int_equal(count(b, "class=\"bar\""), 4);
    assert_non_null(strstr(b, "<text class=\"hidden\" x=\"")); /* the mark where a bar is hidden */
    assert_non_null(strstr(b, ">&lt;5</text>"));
    /* last year: two points joined by one line, a gap where nil */
    assert_int_equal(count(b, "class=\"lyp\""), 2);
    assert_int_equal(count(b, "class=\"ly\""), 1);
    assert_int_equal(count(b, "class=\"band\""), 1);     /* the rate's band */
    assert_int_equal(count(b, "class=\"target\""), 0);   /* a yearly count's target: no line */
    assert_non_null(strstr(b, "Calls &amp; &lt;b&gt;visits&lt;/b&gt;"));
    assert_null(strstr(b, "<b>visits"));
    assert_non_null(strstr(b, "Partnership report: North &lt;locality&gt;"));
    assert_non_null(strstr(b, "<td class=\"total\">*</td>"));
    assert_non_null(strstr(b, "target 30 &middot; baseline 40"));
    assert_non_null(strstr(b, "target 24-40"));
    assert_non_null(strstr(b, "<span class=\"rag rag-green\">green</span>"));
    assert_non_null(strstr(b, "Counts under 5 are shown as &lt;5"));
    assert_non_null(strstr(b, "id=\"provenance\">Computed by the hub from its log up to seq 42, "
                              "chain link <code>00ff</code> (sha256)"));
    assert_null(strstr(b, "<style")); /* the body: its page brings the style */
    /* the same reply, the same bytes */
    char *again = draw(rep, 0);
    assert_string_equal(b, again);
    free(again);
    free(b);
    json_decref(rep);
}

static void test_page(void **state)
{
    (void)state;
    json_t *rep = json_loads(REPLY, 0, NULL);
    char *p = draw(rep, 1);
    assert_non_null(strstr(p, "<!DOCTYPE html>"));
    assert_non_null(strstr(p, "@page { size: A3 portrait"));
    assert_non_null(strstr(p, "<div class=\"report\">"));
    assert_non_null(strstr(p, "<title>Partnership report 2025-04-01 to 2025-06-30</title>"));
    free(p);
    /* cells as the table and CSV show them */
    char buf[32];
    json_t *real = json_real(27.66);
    csph_report_cell_text(real, buf, sizeof buf);
    json_decref(real);
    assert_string_equal(buf, "27.7");
    json_t *nil = json_null();
    csph_report_cell_text(nil, buf, sizeof buf);
    assert_string_equal(buf, "");
    json_decref(rep);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_body), cmocka_unit_test(test_page)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
