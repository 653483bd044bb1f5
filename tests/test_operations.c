/* test_ops.c: what an IT officer relies on, end to end against the real
 * daemon: --check-config refuses each broken file the start refuses (the
 * same exit status, the same words, the file named); the README's backup
 * (mdb_copy while the hub runs) restored into a fresh directory starts and
 * serves every event, duplicates still found; the log warns well before
 * its map is full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include "testutil.h"

struct fx {
    char *tmp;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->tmp = tu_tmpdir("ops");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    tu_rmrf(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* cp -r of the source tree's config and schemas into dir, so each case
 * breaks its own copy. */
static void copy_config(const char *dir)
{
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "cp -r %s/config %s/schemas %s/", tu_env("CSPH_SOURCE_DIR", "."),
             tu_env("CSPH_SOURCE_DIR", "."), dir);
    assert_int_equal(system(cmd), 0);
}

/* Each file the start refuses, --check-config refuses: exit 2 and the
 * same message (which names the file). */
static void test_check_config_each_file(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *file, *text, *says;
    } cases[] = {
        {"config/csphub.yaml", "data_dir: ../data\nlimits:\n  batch_max: 0\n", "batch_max"},
        /* (a file that is not there is an I/O error, exit 4, both ways) */
        {"config/csphub.yaml", "data_dir: ../data\nrules_file: rulez.yaml\n", "rulez.yaml"},
        {"config/panels.yaml", "panels:\n  Marac: {title: x}\n", "panels.yaml:2"},
        {"config/rules.yaml",
         "rules:\n  - name: x\n    panel: marak\n    when: da.incident\n    key: victim\n"
         "    priority: high\n",
         "marak"},
        {"config/calendar.yaml", "regular: england-and-wales\nmoved:\n  - {from: 2020-05-05, "
                                 "to: 2020-05-08}\n",
         "calendar.yaml:3"},
        {"schemas/asb.report.yaml", "type: asb.report\nfields:\n  victim: {kind: persn}\n",
         "asb.report.yaml"},
        {"schemas/call.yaml", "type: cal\nfields: {}\n", "call.yaml"},
    };
    char out[8192], start_out[8192];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char dir[800], cfg[900], ep[64];
        snprintf(dir, sizeof dir, "%s/case%zu", f->tmp, i);
        mkdir(dir, 0700);
        copy_config(dir);
        write_file(dir, cases[i].file, cases[i].text);
        snprintf(cfg, sizeof cfg, "%s/config/csphub.yaml", dir);
        snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", tu_free_port());
        int check = tu_hub_run_ms(out, sizeof out, 20000, "--check-config", "--config", cfg, NULL);
        int start = tu_hub_run_ms(start_out, sizeof start_out, 20000, "--config", cfg, "--listen",
                                  ep, NULL);
        if (check != (strstr(cases[i].text, "rulez") ? 4 : 2) || !strstr(out, cases[i].says))
            fail_msg("%s broken: --check-config exit %d saying %s (want 2 or 4, '%s')", cases[i].file,
                     check, out, cases[i].says);
        if (start != check || !strstr(start_out, cases[i].says))
            fail_msg("%s broken: the start exit %d saying %s (want %d, '%s')", cases[i].file,
                     start, start_out, check, cases[i].says);
        /* the same message: the check's line is in the start's log */
        out[strcspn(out, "\n")] = 0;
        if (!strstr(start_out, strchr(out, ' ') + 1))
            fail_msg("check said '%s'; the start said '%s'", out, start_out);
    }
}

static int run_cmd(const char *fmt, ...)
{
    char cmd[3000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* README, backups: mdb_copy -c of a running hub's data directory, checked
 * with --verify, restored into a fresh directory: the hub starts on it
 * (rebuilding the index it was not given), replays every event, and finds
 * a resent event a duplicate at its seq. */
static void test_backup_restore(void **state)
{
    struct fx *f = *state;
    char data[800], backup[800], restored[800], out[4096];
    snprintf(data, sizeof data, "%s/data", f->tmp);
    snprintf(backup, sizeof backup, "%s/backup", f->tmp);
    snprintf(restored, sizeof restored, "%s/restored", f->tmp);
    struct tu_hub hub;
    struct tu_client c;
    assert_int_equal(tu_hub_start(&hub, data, NULL), 0);
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    for (int i = 0; i < 20; i++) {
        msgpack_object r = tu_call(&c,
                                   "{\"op\":\"publish\",\"event\":{\"id\":\"b-%d\",\"type\":\"da.incident\","
                                   "\"source\":\"police\",\"occurred_at\":\"2025-04-01T22:00:00Z\","
                                   "\"victim\":\"V-%d\",\"dash_score\":16}}", i, i % 5);
        assert_string_equal(tu_str(&r, "status"), "accepted");
    }
    msgpack_object r = tu_call(&c, "{\"op\":\"stats\"}");
    int64_t alerts = tu_int(&r, "counters.alerts.marac");
    assert_true(alerts >= 20);
    /* while the hub runs */
    mkdir(backup, 0700);
    assert_int_equal(run_cmd("mdb_copy -c %s %s", data, backup), 0);
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    assert_int_equal(tu_hub_run(out, sizeof out, "--verify", "--data", backup, NULL), 0);
    if (!strstr(out, "21 events, hash chain intact"))
        fail_msg("--verify: %s", out);
    /* restore: the copy's data.mdb alone into a new directory */
    mkdir(restored, 0700);
    assert_int_equal(run_cmd("cp %s/data.mdb %s/", backup, restored), 0);
    assert_int_equal(tu_hub_start(&hub, restored, NULL), 0);
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    r = tu_call(&c, "{\"op\":\"replay\",\"after\":1,\"types\":[\"da.incident\"]}");
    if (tu_get(&r, "events")->via.array.size != 20)
        fail_msg("replay: %s", tu_dump(&r));
    assert_string_equal(tu_str(&r, "events.19.event.id"), "b-19");
    r = tu_call(&c, "{\"op\":\"publish\",\"event\":{\"id\":\"b-7\",\"type\":\"da.incident\","
                    "\"source\":\"police\",\"occurred_at\":\"2025-04-01T22:00:00Z\","
                    "\"victim\":\"V-2\",\"dash_score\":16}}");
    assert_string_equal(tu_str(&r, "status"), "duplicate");
    assert_int_equal(tu_int(&r, "seq"), 9);
    /* the alerts came back with the log */
    r = tu_call(&c, "{\"op\":\"stats\"}");
    assert_int_equal(tu_int(&r, "counters.alerts.marac"), alerts);
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
}

/* A log filling its map: WARN at 80% (and 90, 95), naming the setting to
 * raise, well before writes are refused. */
static void test_map_warns_before_full(void **state)
{
    struct fx *f = *state;
    char data[800], cfg[800];
    snprintf(data, sizeof data, "%s/data", f->tmp);
    write_file(f->tmp, "hub.yaml", "rules_file: none\nlimits:\n  map_size_mb: 16\n"
                                   "metrics:\n  interval_ms: 100\n");
    snprintf(cfg, sizeof cfg, "%s/hub.yaml", f->tmp);
    struct tu_hub hub;
    struct tu_client c;
    assert_int_equal(tu_hub_start(&hub, data, "--config", cfg, NULL), 0);
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    static char req[1 << 20];
    char summary[1501];
    memset(summary, 's', 1500);
    summary[1500] = 0;
    int warned = 0, n = 0;
    for (int round = 0; round < 40 && !warned; round++) {
        size_t len = (size_t)snprintf(req, sizeof req, "{\"op\":\"publish\",\"events\":[");
        for (int i = 0; i < 400; i++, n++)
            len += (size_t)snprintf(req + len, sizeof req - len,
                                    "%s{\"id\":\"m-%d\",\"type\":\"asb.report\",\"source\":\"police\","
                                    "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"location\":{\"lsoa\":"
                                    "\"E01000916\"},\"category\":\"personal\",\"summary\":\"%s\"}",
                                    i ? "," : "", n, summary);
        snprintf(req + len, sizeof req - len, "]}");
        msgpack_object r = tu_call(&c, "%s", req);
        const char *st = tu_str(&r, "results.399.status");
        if (!st || strcmp(st, "accepted"))
            fail_msg("round %d: %s", round, tu_dump(&r));
        /* the snapshot that warns comes within 100 ms: wait for it, or for
         * the next round's evidence */
        int64_t deadline = tu_now_ms() + 300;
        while (!warned && tu_now_ms() < deadline) {
            FILE *fp = fopen(hub.log, "r");
            char line[4096];
            while (fp && fgets(line, sizeof line, fp))
                if (strstr(line, "WARN") && strstr(line, "the log's map is 80% full") &&
                    strstr(line, "limits.map_size_mb"))
                    warned = 1;
            if (fp)
                fclose(fp);
        }
    }
    assert_true(warned);
    /* and the hub still takes writes: the warning came first */
    msgpack_object r = tu_call(&c, "{\"op\":\"publish\",\"event\":" TU_ASB_EVENT("after", "V") "}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_check_config_each_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backup_restore, setup, teardown),
        cmocka_unit_test_setup_teardown(test_map_warns_before_full, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
