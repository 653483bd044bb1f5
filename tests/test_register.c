/* test_register: the erasure register and its re-application after a
 * restore (hub/register.h, issue 17 point 7), against the real csphubd:
 * a backup taken, a person erased (the register gets the line), the backup
 * restored (the person is back), csphubd --reapply-erasures (the person is
 * gone again, no file of the directory holds their bytes, --verify and
 * scripts/check-chain.py pass), again (nothing to do: idempotent), and a
 * register with a bad line (file:line). */
#define _GNU_SOURCE
#include "testutil.h"

#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

static int sh(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void verify_both(const char *data)
{
    char out[8192];
    int rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", data, NULL);
    if (rc != 0 || !strstr(out, "hash chain intact"))
        fail_msg("csphubd --verify: %d %s", rc, out);
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/scripts/check-chain.py %s >/dev/null 2>&1",
             tu_env("CSPH_SOURCE_DIR", "."), data);
    assert_int_equal(sh(cmd), 0);
}

static void test_restore_and_reapply(void **state)
{
    (void)state;
    struct tu_hub hub;
    struct tu_client c;
    char data[600], config[600], reg[700], backup[700], cmd[4096], out[16384];
    char *tmp = tu_hub_fresh_log_only(&hub, "register", data, sizeof data, config, sizeof config);
    assert_non_null(tmp);
    snprintf(reg, sizeof reg, "%s/dpo/register.jsonl", tmp);
    snprintf(backup, sizeof backup, "%s/backup", tmp);
    /* The DPO's register, outside the data directory. */
    assert_int_equal(tu_hub_stop(&hub), 0);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/dpo && echo 'erasure_register: %s' >> %s", tmp, reg,
             config);
    assert_int_equal(sh(cmd), 0);
    assert_int_equal(tu_hub_start(&hub, data, "--config", config, NULL), 0);
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    for (int b = 0; b < 10; b++) {
        char batch[65536];
        size_t len = (size_t)snprintf(batch, sizeof batch, "{\"op\":\"publish\",\"events\":[");
        for (int i = 0; i < 50; i++)
            len += (size_t)snprintf(batch + len, sizeof batch - len,
                                    "%s{\"id\":\"r%d-%d\",\"type\":\"da.incident\",\"source\":"
                                    "\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
                                    "\"victim\":\"%s\",\"perpetrator\":\"Z-%d\"}",
                                    i ? "," : "", b, i, i % 5 == 2 ? "P-9" : "V-2", i);
        snprintf(batch + len, sizeof batch - len, "]}");
        msgpack_object r = tu_call(&c, "%s", batch);
        assert_int_equal(tu_bool(&r, "ok"), 1);
    }
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    /* The backup, taken before the erasure. */
    snprintf(cmd, sizeof cmd, "cp -a %s %s", data, backup);
    assert_int_equal(sh(cmd), 0);

    assert_int_equal(tu_hub_start(&hub, data, "--config", config, NULL), 0);
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    msgpack_object r = tu_call(&c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"DPO case "
                                   "7\",\"requested_by\":\"dpo-jane\",\"apply\":true}");
    assert_int_equal(tu_int(&r, "count"), 100);
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    /* The register's line: who, why, what, and the dp.erasure events. */
    size_t len;
    char *text = tu_slurp(reg, &len);
    assert_non_null(text);
    json_error_t je;
    json_t *line = json_loads(text, JSON_DISABLE_EOF_CHECK, &je);
    assert_non_null(line);
    assert_string_equal(json_string_value(json_object_get(line, "person")), "P-9");
    assert_string_equal(json_string_value(json_object_get(line, "request")), "erase");
    assert_string_equal(json_string_value(json_object_get(line, "basis")), "art17");
    assert_string_equal(json_string_value(json_object_get(line, "by")), "os:dpo-jane");
    assert_int_equal(json_integer_value(json_object_get(line, "count")), 100);
    assert_int_equal(json_array_size(json_object_get(line, "erasures")), 1);
    json_decref(line);
    free(text);

    /* Restore the older backup: the person is back. */
    snprintf(cmd, sizeof cmd, "rm -rf %s && cp -a %s %s", data, backup, data);
    assert_int_equal(sh(cmd), 0);
    assert_non_null(tu_byte_search(data, "P-9"));
    int rc = tu_hub_run_ms(out, sizeof out, 60000, "--reapply-erasures", reg, "--config", config,
                           "--data", data, NULL);
    if (rc != 0 || !strstr(out, "erase of P-9 re-applied: 100 events") ||
        !strstr(out, "1 re-applied (100 events), 0 done already, 0 failed") ||
        !strstr(out, "compacted"))
        fail_msg("reapply: %d %s", rc, out);
    const char *hit = tu_byte_search(data, "P-9");
    if (hit)
        fail_msg("P-9 is in %s after --reapply-erasures", hit);
    verify_both(data);
    /* Again: nothing left to do, nothing changed. */
    rc = tu_hub_run_ms(out, sizeof out, 60000, "--reapply-erasures", reg, "--config", config,
                       "--data", data, NULL);
    if (rc != 0 || !strstr(out, "nothing left to erase (done already)") ||
        !strstr(out, "0 re-applied (0 events), 1 done already"))
        fail_msg("second reapply: %d %s", rc, out);
    /* The hub starts on the result, and a resend is a duplicate. */
    assert_int_equal(tu_hub_start(&hub, data, "--config", config, NULL), 0);
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    r = tu_call(&c, "{\"op\":\"publish\",\"event\":{\"id\":\"r0-2\",\"type\":\"da.incident\","
                    "\"source\":\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\",\"victim\":"
                    "\"P-9\",\"perpetrator\":\"Z-2\"}}");
    assert_string_equal(tu_str(&r, "status"), "duplicate");
    /* Re-applying while the hub runs is refused. */
    rc = tu_hub_run_ms(out, sizeof out, 20000, "--reapply-erasures", reg, "--config", config,
                       "--data", data, NULL);
    if (rc != 2 || !strstr(out, "another hub"))
        fail_msg("reapply on a running hub: %d %s", rc, out);
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);

    /* A damaged register: the line named, the rest applied. */
    char bad[800];
    snprintf(bad, sizeof bad, "%s/bad.jsonl", tmp);
    FILE *o = fopen(bad, "w");
    fputs("{\"request\":\"erase\",\"person\":\"P-9\"}\n"
          "{\"request\":\"forget\",\"person\":\"V-2\",\"basis\":\"art17\",\"reason\":\"x\","
          "\"by\":\"os:j\"}\n",
          o);
    fclose(o);
    rc = tu_hub_run_ms(out, sizeof out, 20000, "--reapply-erasures", bad, "--config", config,
                       "--data", data, NULL);
    if (rc != 2 || !strstr(out, "bad.jsonl:1: not a register line") ||
        !strstr(out, "bad.jsonl:2: not a register line ('request' must be erase or restrict)"))
        fail_msg("bad register: %d %s", rc, out);
    rc = tu_hub_run_ms(out, sizeof out, 20000, "--reapply-erasures", "/nonexistent/reg",
                       "--data", data, NULL);
    if (rc != 2 || !strstr(out, "cannot read the erasure register /nonexistent/reg"))
        fail_msg("missing register: %d %s", rc, out);
    tu_rmrf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_and_reapply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
