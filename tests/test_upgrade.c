/* test_upgrade: a data directory written by csphub 0.1 before the rule
 * engine was rebuilt (tests/fixtures/upgrade-0.1: 3,002 events, 174 alerts,
 * alert 1 accepted and alert 2 declined; see its README) starts under this
 * hub: the index (idempotency entries, rule state, person index) is rebuilt
 * from the log, the alerts and their ids and decisions are kept, and
 * --rederive with the rule file that was in force is identical. */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#define FIXTURE CSPH_SOURCE_DIR "/tests/fixtures/upgrade-0.1"

static const char *const panels[] = {"marac", "community-marac", "asb-case-review", "hate-crime",
                                     "iom", "sgv", "mace", "tasking", "channel", "mappa"};

/* The fixture's log, unpacked into DIR/data. */
static char *unpack(char *data, size_t n)
{
    char *tmp = tu_tmpdir("upgrade"), cmd[2048];
    snprintf(data, n, "%s/data", tmp);
    assert_int_equal(mkdir(data, 0700), 0);
    snprintf(cmd, sizeof cmd, "gzip -dc '%s/data.mdb.gz' > '%s/data.mdb'", FIXTURE, data);
    assert_int_equal(system(cmd), 0);
    return tmp;
}

static int file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    char line[1024];
    int found = 0;
    while (f && !found && fgets(line, sizeof line, f))
        found = strstr(line, needle) != NULL;
    if (f)
        fclose(f);
    return found;
}

/* Every alert of every panel: how many, and the status of ids 1 and 2. */
static size_t all_alerts(struct tu_client *c, const char **status1, const char **status2)
{
    static char s1[32], s2[32];
    size_t total = 0;
    *status1 = *status2 = NULL;
    for (size_t p = 0; p < sizeof panels / sizeof *panels; p++) {
        msgpack_object r = tu_call(c, "{\"op\":\"alerts\",\"panel\":\"%s\",\"max\":1000}", panels[p]);
        const msgpack_object *a = tu_get(&r, "alerts");
        assert_non_null(a);
        assert_int_equal(tu_bool(&r, "end"), 1);
        for (uint32_t i = 0; i < a->via.array.size; i++) {
            const msgpack_object *al = &a->via.array.ptr[i];
            int64_t id = tu_int(al, "id");
            if (id == 1)
                *status1 = strcpy(s1, tu_str(al, "status"));
            if (id == 2)
                *status2 = strcpy(s2, tu_str(al, "status"));
        }
        total += a->via.array.size;
    }
    return total;
}

/* The new hub on the old directory: index rebuilt (logged), alerts, ids and
 * decisions kept, resends still duplicates, new events continue the log. */
static void test_old_directory_starts(void **state)
{
    (void)state;
    char data[600];
    char *tmp = unpack(data, sizeof data);
    struct tu_hub hub;
    struct tu_client c;
    assert_int_equal(tu_hub_start(&hub, data, NULL), 0);
    assert_true(file_has(hub.log, "rebuilding the index from the log (3002 events)"));
    assert_true(file_has(hub.log, "the index is level with the log (3002 events applied in "));
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    const char *s1, *s2;
    assert_int_equal(all_alerts(&c, &s1, &s2), 174);
    assert_non_null(s1);
    assert_non_null(s2);
    assert_string_equal(s1, "accepted");
    assert_string_equal(s2, "declined");
    /* the first event of the fixture's feed, sent again: a duplicate */
    msgpack_object r = tu_call(&c, "{\"op\":\"publish\",\"event\":{\"id\":\"CAD-25-0023465\","
                                   "\"type\":\"call\",\"source\":\"police\",\"occurred_at\":"
                                   "\"2025-01-01T21:59:12Z\",\"caller\":\"P-001278\",\"location\":"
                                   "{\"id\":\"UPRN-186483003745\",\"lsoa\":\"E01026424\"},"
                                   "\"category\":\"welfare\"}}");
    assert_string_equal(tu_str(&r, "status"), "duplicate");
    assert_int_equal(tu_int(&r, "seq"), 1);
    /* the log had no record of its rules (rules.loaded): the hub wrote one
     * for the rules it put in force, at seq 3003 */
    assert_true(file_has(hub.log, "recorded in the log (rules.loaded, seq 3003)"));
    r = tu_call(&c, "{\"op\":\"publish\",\"event\":" TU_ASB_EVENT("after-upgrade", "V-UP") "}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    assert_int_equal(tu_int(&r, "seq"), 3004);
    /* Panel work: the log was written before cases existed (3002 events and
     * the rules.loaded just recorded); alert 1's
     * acceptance opens its case, derived from the log at this first start
     * (logged), as a re-derivation would make it. */
    assert_true(file_has(hub.log, "a log written before cases existed: deriving its cases from "
                                  "its 3003 events"));
    assert_true(file_has(hub.log, "cases derived from the log (3003 events read): 1 cases, 1 open"));
    size_t ncases = 0;
    const char *key1 = NULL;
    static char keybuf[128];
    for (size_t p = 0; p < sizeof panels / sizeof *panels; p++) {
        r = tu_call(&c, "{\"op\":\"cases\",\"panel\":\"%s\",\"status\":\"all\"}", panels[p]);
        const msgpack_object *cs = tu_get(&r, "cases");
        assert_non_null(cs);
        ncases += cs->via.array.size;
        if (cs->via.array.size) {
            assert_int_equal(tu_int(&cs->via.array.ptr[0], "alert"), 1);
            key1 = strcpy(keybuf, tu_str(&cs->via.array.ptr[0], "key"));
        }
    }
    assert_int_equal(ncases, 1);
    assert_non_null(key1);
    /* the person index was rebuilt too */
    r = tu_call(&c, "{\"op\":\"replay\",\"person\":\"P-001278\",\"max\":1000}");
    const msgpack_object *evs = tu_get(&r, "events");
    assert_non_null(evs);
    assert_true(evs->via.array.size >= 1);
    assert_int_equal(tu_int(&evs->via.array.ptr[0], "seq"), 1);
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    char out[8192];
    assert_int_equal(tu_hub_run(out, sizeof out, "--verify", "--data", data, NULL), 0);
    assert_non_null(strstr(out, "verified: 3004 events, hash chain intact"));
    /* A second start derives nothing again (its log written afresh). */
    char logpath[700];
    snprintf(logpath, sizeof logpath, "%s.log", data);
    assert_int_equal(truncate(logpath, 0), 0);
    assert_int_equal(tu_hub_start(&hub, data, NULL), 0);
    assert_true(file_has(hub.log, "ready"));
    assert_false(file_has(hub.log, "deriving its cases"));
    assert_int_equal(tu_hub_stop(&hub), 0);
    /* Re-derivation makes the same cases: none only in one of the logs (its
     * alerts differ: the log's were raised by the rules of 0.1). */
    char re[700];
    static char rout[1 << 16];
    snprintf(re, sizeof re, "%s/re", tmp);
    int rc = tu_hub_run(rout, sizeof rout, "--rederive", data, "--data", re, NULL);
    if (!strstr(rout, "cases and actions: 1 in the hub, 1 re-derived, 0 differ"))
        fail_msg("rederive (%d): %s", rc, rout);
    tu_rmrf(tmp);
    free(tmp);
}

/* --rederive of the old log with the rule file that was in force then gives
 * every alert byte for byte (the log's events arrived as csphub-gen's feed
 * does: nightly extracts and late weekly ones). */
static void test_rederive_with_old_rules_identical(void **state)
{
    (void)state;
    char data[600], cfg[700], re[700], out[8192];
    char *tmp = unpack(data, sizeof data);
    snprintf(cfg, sizeof cfg, "%s/old.yaml", tmp);
    snprintf(re, sizeof re, "%s/re", tmp);
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f, "rules_file: %s/rules-0.1.yaml\nschemas_dir: %s/schemas\npanels_file: %s/config/panels.yaml\n",
            FIXTURE, CSPH_SOURCE_DIR, CSPH_SOURCE_DIR);
    fclose(f);
    int rc = tu_hub_run(out, sizeof out, "--rederive", data, "--data", re, "--config", cfg, NULL);
    if (rc != 0)
        fprintf(stderr, "%s\n", out);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "re-derived 3002 events through rules "));
    assert_non_null(strstr(out, ": 174 alerts in the hub, 174 re-derived, 174 identical"));
    tu_rmrf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_old_directory_starts),
        cmocka_unit_test(test_rederive_with_old_rules_identical),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
