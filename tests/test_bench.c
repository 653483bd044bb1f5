/* test_bench: a smoke test of csphub-bench ($CSPH_BENCH) against the real
 * daemon ($CSPH_HUBD). The default run on a few thousand events prints its
 * table and its JSON line and exits 0; --peers with the peers hidden from
 * $PATH says what it skipped and exits 0; and --peers with redis-server
 * installed runs it. No timing is asserted: speed targets live in
 * bench/README.md, never in tests. Skipped when CSPH_BENCH is not set (the
 * bench is not in the build). */
#define _GNU_SOURCE
#include "testutil.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>


/* Run $CSPH_BENCH with the arguments (NULL-terminated), stdout and stderr
 * into out_path; path, when not NULL, replaces $PATH. Its exit status. */
static int run_bench(const char *out_path, const char *path, ...)
{
    va_list ap;
    va_start(ap, path);
    int rc = tu_run_va(out_path, out_path, path, getenv("CSPH_BENCH"), NULL, ap);
    va_end(ap);
    return rc;
}

/* Show the output when an expectation fails: it says why. */
static void expect(const char *out, const char *needle)
{
    if (!strstr(out, needle)) {
        print_error("expected '%s' in the bench's output:\n%s\n", needle, out);
        fail();
    }
}

/* The bench's temporary directories left in dir: none once it is done. */
static int leftovers(const char *dir)
{
    int left = -1;
    char cmd[PATH_MAX + 64];
    snprintf(cmd, sizeof cmd, "ls -d %s/csphub-bench-* 2>/dev/null | wc -l", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &left), 1);
    pclose(p);
    return left;
}

static int setup(void **state) { return tu_tmpfx_setup(state, "bench"); }
static int teardown(void **state) { return tu_tmpfx_teardown(state); }

#define NEED_BENCH() TU_NEED_PROGRAM("CSPH_BENCH", "csphub-bench")

/* The default run: the hub, the echo, an LMDB and a store baseline; every
 * event accepted; the figures table and the JSON line; the temporary
 * directories gone. */
static void test_publish(void **state)
{
    struct tu_tmpfx *f = *state;
    NEED_BENCH();
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/publish.out", f->tmp);
    int rc = run_bench(out, NULL, "-n", "2000", "-p", "2", "-w", "20", "--commit-every", "100",
                       "--baseline-limit", "0.3", "--tmpdir", f->tmp, NULL);
    char *text = tu_slurp(out, NULL);
    if (rc != 0)
        print_error("csphub-bench exited %d:\n%s\n", rc, text);
    assert_int_equal(rc, 0);
    expect(text, "== csphub-bench: 2 publisher(s), window 20, batch 1, 2000 events ==");
    expect(text, "hub (ack after synced commit)");
    expect(text, "zmq ROUTER echo (no hub logic)");
    expect(text, "hub: 2000 accepted, 0 duplicate, 0 not accepted");
    expect(text, "\n{\"bench\":\"csphub-bench\",\"config\":");
    free(text);
    unlink(out);
    assert_int_equal(leftovers(f->tmp), 0);
}

/* --peers with no peer reachable: both named as skipped, with the package
 * to install, the hub still measured, exit status 0. */
static void test_peers_skipped(void **state)
{
    struct tu_tmpfx *f = *state;
    NEED_BENCH();
    char out[PATH_MAX], empty[PATH_MAX];
    snprintf(out, sizeof out, "%s/peers.out", f->tmp);
    snprintf(empty, sizeof empty, "%s/no-peers", f->tmp);
    assert_int_equal(mkdir(empty, 0700), 0);
    int rc = run_bench(out, empty, "--peers", "-n", "1000", "--concurrency", "1x10", "--tmpdir",
                       f->tmp, NULL);
    char *text = tu_slurp(out, NULL);
    if (rc != 0)
        print_error("csphub-bench exited %d:\n%s\n", rc, text);
    assert_int_equal(rc, 0);
    expect(text, "peers: SKIPPED redis: ");
    expect(text, "peers: SKIPPED nats: nats-server not found in $PATH (Debian: apt-get install "
                 "nats-server");
    expect(text, "hub, default rules (synced commit)");
    expect(text, "\"mode\":\"peers\"");
    assert_null(strstr(text, "hub / redis"));
    free(text);
    unlink(out);
    rmdir(empty);
    assert_int_equal(leftovers(f->tmp), 0);
}

/* --peers with redis-server installed: it is started, driven and stopped,
 * and the ratio rows are printed; five concurrencies make ten temporary
 * directories, more than the bench holds at once, and none is left.
 * Skipped without redis-server or hiredis. */
static void test_peers_redis(void **state)
{
    struct tu_tmpfx *f = *state;
    NEED_BENCH();
    if (access("/usr/bin/redis-server", X_OK) != 0) {
        print_message("redis-server is not installed: nothing to compare with\n");
        skip();
    }
    char out[PATH_MAX];
    snprintf(out, sizeof out, "%s/redis.out", f->tmp);
    int rc = run_bench(out, "/usr/bin:/bin", "--peers", "-n", "1000", "--concurrency",
                       "1x10,2x10,1x10,2x10,1x10", "--tmpdir", f->tmp, NULL);
    char *text = tu_slurp(out, NULL);
    if (strstr(text, "built without hiredis")) {
        free(text);
        print_message("csphub-bench was built without hiredis\n");
        skip();
    }
    if (rc != 0)
        print_error("csphub-bench exited %d:\n%s\n", rc, text);
    assert_int_equal(rc, 0);
    expect(text, "redis streams, appendfsync always");
    expect(text, "hub / redis");
    expect(text, "\"ratio_hub_redis\":{");
    free(text);
    unlink(out);
    assert_int_equal(leftovers(f->tmp), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_publish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peers_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peers_redis, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
