/* test_recovery: recovery from the journal is deterministic. A hub that
 * acknowledged batches through its journal, and had not yet put them into
 * LMDB, is frozen (SIGSTOP) and its data directory copied as a kill -9
 * would leave it; then it is stopped cleanly (its held transaction
 * committed as it was built). A hub started on the copy makes the same
 * batches again from the journal. The two logs must be equal byte for byte,
 * database by database (mdb_dump of every database of data.mdb): events
 * and their hash chain, kept rejections, alerts, queues, cursors,
 * decisions. A write that bypasses the journal's recorder (redo.h) shows
 * here as a difference. */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

static int setup(void **state) { return tu_tmpfx_setup(state, "recovery"); }
static int teardown(void **state) { return tu_tmpfx_teardown(state); }

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void copy_tree(const char *from, const char *to)
{
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "cp -a --sparse=always '%s' '%s'", from, to);
    assert_int_equal(system(cmd), 0);
}

/* Every database of DIR/data.mdb, dumped (mdb_dump -a: all databases),
 * into out. */
static char *dump(const char *dir)
{
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mdb_dump -a '%s' 2>&1", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 20, len = 0;
    char *out = malloc(cap);
    size_t got;
    while ((got = fread(out + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (cap - len < 4096)
            out = realloc(out, cap *= 2);
    }
    out[len] = 0;
    assert_int_equal(pclose(p), 0);
    return out;
}

static void expect_ok(struct tu_client *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void expect_ok(struct tu_client *c, const char *fmt, ...)
{
    char json[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(json, sizeof json, fmt, ap);
    va_end(ap);
    msgpack_object r = tu_call(c, "%s", json);
    if (tu_bool(&r, "ok") != 1)
        fail_msg("%s: %s", json, tu_dump(&r));
}

/* A time days before now, RFC 3339: deadlines counted from the events
 * stay in the future, so no timer fires a batch after the copy. */
static const char *days_ago(int days, char *buf, size_t n)
{
    time_t t = time(NULL) - (time_t)days * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

static void test_journal_recovery_is_byte_identical(void **state)
{
    struct tu_tmpfx *fx = *state;
    char cfg[1100], data[1100], copy[1100];
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", fx->tmp);
    snprintf(data, sizeof data, "%s/data", fx->tmp);
    snprintf(copy, sizeof copy, "%s/copy", fx->tmp);
    /* Nothing makes the hub put held batches into LMDB before the copy: no
     * quiet time (index_hold_ms a minute) and no read. */
    write_file(cfg, "limits:\n  index_hold_ms: 60000\nagencies: [police, idva]\n");
    struct tu_hub h;
    assert_int_equal(tu_hub_start(&h, data, "--config", cfg, NULL), 0);
    struct tu_client c;
    tu_client_open(&c, h.endpoint, ZMQ_DEALER);
    /* The README's three ASB complaints: an alert on asb-case-review. */
    char d1[32], d2[32], d3[32], d4[32];
    days_ago(10, d3, sizeof d3);
    expect_ok(&c, "{\"op\":\"publish\",\"events\":["
                  "{\"id\":\"r-1\",\"type\":\"call\",\"source\":\"police\",\"occurred_at\":"
                  "\"%s\",\"caller\":\"V-1042\",\"location\":{\"lsoa\":"
                  "\"E01000916\"},\"category\":\"asb\"},"
                  "{\"id\":\"r-2\",\"type\":\"asb.report\",\"source\":\"council-asb\","
                  "\"occurred_at\":\"%s\",\"victim\":\"V-1042\","
                  "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"personal\"}]}",
              days_ago(30, d1, sizeof d1), days_ago(20, d2, sizeof d2));
    expect_ok(&c, "{\"op\":\"publish\",\"event\":{\"id\":\"r-3\",\"type\":\"call\",\"source\":"
                  "\"police\",\"occurred_at\":\"%s\",\"caller\":\"V-1042\","
                  "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"asb\"}}",
              d3);
    /* A refused event: a kept rejection and its per-source count. */
    msgpack_object r = tu_call(&c, "{\"op\":\"publish\",\"event\":{\"id\":\"r-bad\",\"type\":"
                                   "\"asb.report\",\"source\":\"police\",\"occurred_at\":"
                                   "\"2026-11-02\",\"location\":{},\"category\":\"personal\"}}");
    assert_int_equal(tu_bool(&r, "ok"), 0);
    /* A consumer's cursor and a decision, writes of the queues. */
    expect_ok(&c, "{\"op\":\"ack\",\"panel\":\"asb-case-review\",\"consumer\":\"team\","
                  "\"upto\":1}");
    expect_ok(&c, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"acknowledged\","
                  "\"note\":\"seen\"}");
    /* A case opened, an action on it, a hearing: the panel-work indexes. */
    expect_ok(&c, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\"}");
    expect_ok(&c, "{\"op\":\"action.create\",\"panel\":\"asb-case-review\",\"key\":"
                  "\"V-1042\",\"what\":\"visit\",\"owner\":\"police\",\"due_days\":30}");
    expect_ok(&c, "{\"op\":\"case.hear\",\"panel\":\"asb-case-review\",\"key\":"
                  "\"V-1042\",\"attendance\":[\"police\"]}");
    /* More events: a DA incident raising MARAC, a duplicate, a conflict. */
    expect_ok(&c, "{\"op\":\"publish\",\"event\":{\"id\":\"r-4\",\"type\":\"da.incident\","
                  "\"source\":\"police\",\"occurred_at\":\"%s\",\"victim\":"
                  "\"V-7\",\"perpetrator\":\"Q-7\",\"dash_score\":16,\"risk\":\"high\","
                  "\"children_present\":true}}",
              days_ago(1, d4, sizeof d4));
    expect_ok(&c, "{\"op\":\"publish\",\"event\":{\"id\":\"r-3\",\"type\":\"call\",\"source\":"
                  "\"police\",\"occurred_at\":\"%s\",\"caller\":\"V-1042\","
                  "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"asb\"}}",
              d3);
    tu_client_close(&c);

    /* The disk as kill -9 would leave it: the journal holds the batches. */
    assert_int_equal(kill(h.pid, SIGSTOP), 0);
    copy_tree(data, copy);
    assert_int_equal(kill(h.pid, SIGCONT), 0);
    assert_int_equal(tu_hub_stop(&h), 0);

    struct tu_hub h2;
    assert_int_equal(tu_hub_start(&h2, copy, "--config", cfg, NULL), 0);
    assert_int_equal(tu_hub_stop(&h2), 0);
    char log[1300], line[512];
    snprintf(log, sizeof log, "%s.log", copy);
    FILE *lf = fopen(log, "r");
    assert_non_null(lf);
    int replayed = 0;
    while (fgets(line, sizeof line, lf))
        replayed |= strstr(line, "the journal held") != NULL;
    fclose(lf);
    if (!replayed)
        fail_msg("the copy's start made nothing again from the journal: the test proves "
                 "nothing (did something put the batches into LMDB before the copy?)");

    char *a = dump(data), *b = dump(copy);
    if (strcmp(a, b) != 0) {
        /* The first differing line, and the database it is in. */
        size_t i = 0, at = 0, db = 0;
        while (a[i] && a[i] == b[i]) {
            if (a[i] == '\n')
                at = i + 1;
            if (!strncmp(a + i, "database=", 9))
                db = i;
            i++;
        }
        fail_msg("the log recovered from the journal differs from the one committed "
                 "directly (%.40s), first at:\n--- committed ---\n%.300s\n--- recovered "
                 "---\n%.300s",
                 a + db, a + at, b + at);
    }
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_journal_recovery_is_byte_identical, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
