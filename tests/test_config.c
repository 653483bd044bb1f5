/* test_config.c: the hub's settings: defaults, the YAML file, the panels
 * file and the cross-field checks (hub/config.c). Files are written into a
 * private temporary directory; teardown removes it and proves no file was
 * left open. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "log.h"
#include "testutil.h"

struct fx {
    char *dir;
    char path[600];
    struct hub_config c;
    struct hub_error err;
    int fds;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->fds = tu_open_fds();
    f->dir = tu_tmpdir("config");
    hub_config_defaults(&f->c);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc = 0;
    if (tu_open_fds() != f->fds) {
        fprintf(stderr, "%d descriptors open before, %d after\n", f->fds, tu_open_fds());
        rc = -1;
    }
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return rc;
}

static void write_file(struct fx *f, const char *name, const char *text)
{
    snprintf(f->path, sizeof f->path, "%s/%s", f->dir, name);
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/* Load text as a hub config over fresh defaults. */
static enum hub_err load(struct fx *f, const char *text)
{
    write_file(f, "csphub.yaml", text);
    hub_config_defaults(&f->c);
    memset(&f->err, 0, sizeof f->err);
    return hub_config_load(&f->c, f->path, &f->err);
}

static void load_ok(struct fx *f, const char *text)
{
    if (load(f, text) != CSPH_ERR_OK)
        fail_msg("load: %s", f->err.message);
}

/* The load fails with CSPH_ERR_CONFIG, "PATH:line: " and want. */
static void load_bad(struct fx *f, const char *text, int line, const char *want)
{
    enum hub_err rc = load(f, text);
    if (rc != CSPH_ERR_CONFIG)
        fail_msg("load of <<%s>>: %s (%s), want config", text, hub_err_name(rc), f->err.message);
    char prefix[700];
    snprintf(prefix, sizeof prefix, "%s:%d: ", f->path, line);
    if (strncmp(f->err.message, prefix, strlen(prefix)) != 0)
        fail_msg("message '%s' does not start with '%s'", f->err.message, prefix);
    if (want && !strstr(f->err.message, want))
        fail_msg("message '%s' does not mention '%s'", f->err.message, want);
}

static enum hub_err load_panels(struct fx *f, const char *text)
{
    write_file(f, "panels.yaml", text);
    snprintf(f->c.panels_file, sizeof f->c.panels_file, "%s", f->path);
    memset(&f->err, 0, sizeof f->err);
    return hub_config_load_panels(&f->c, &f->err);
}

static void panels_bad(struct fx *f, const char *text, int line, const char *want)
{
    enum hub_err rc = load_panels(f, text);
    if (rc != CSPH_ERR_CONFIG)
        fail_msg("panels <<%s>>: %s, want config", text, hub_err_name(rc));
    char prefix[700];
    snprintf(prefix, sizeof prefix, "%s:%d: ", f->path, line);
    if (strncmp(f->err.message, prefix, strlen(prefix)) != 0)
        fail_msg("message '%s' does not start with '%s'", f->err.message, prefix);
    if (want && !strstr(f->err.message, want))
        fail_msg("message '%s' does not mention '%s'", f->err.message, want);
}

static void test_defaults(void **state)
{
    struct fx *f = *state;
    struct hub_config *c = &f->c;
    assert_string_equal(c->source_file, "");
    assert_string_equal(c->data_dir, "data");
    assert_int_equal(c->nlisten, 1);
    assert_string_equal(c->listen[0], "tcp://127.0.0.1:7450");
    assert_int_equal(c->security, CSPH_SECURITY_NONE);
    assert_int_equal(c->log_level, CSPH_LOG_INFO);
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/schemas", CSPH_SOURCE_DIR);
    assert_string_equal(c->schemas_dir, want);
    snprintf(want, sizeof want, "%s/config/panels.yaml", CSPH_SOURCE_DIR);
    assert_string_equal(c->panels_file, want);
    assert_int_equal(c->limits.message_max, 1u << 20);   /* PROTOCOL.md 1 */
    assert_int_equal(c->limits.event_max, 64u << 10);    /* PROTOCOL.md 1 */
    assert_int_equal(c->limits.events_per_publish, 1000); /* PROTOCOL.md 4 */
    assert_int_equal(c->limits.replay_max, 10000);        /* PROTOCOL.md 6 */
    assert_true(c->limits.batch_max > 0);
    assert_true(c->limits.sndhwm > 0 && c->limits.rcvhwm > 0);
    assert_true(c->limits.map_size >= (16ull << 20));
    assert_int_equal(c->npanels, 0);
    /* the defaults are valid */
    assert_int_equal(hub_config_validate(c, &f->err), CSPH_ERR_OK);
    /* and the default panels file loads */
    assert_int_equal(hub_config_load_panels(c, &f->err), CSPH_ERR_OK);
    assert_int_equal(c->npanels, 10);
}

static void test_repo_config(void **state)
{
    struct fx *f = *state;
    struct hub_config *c = &f->c;
    const char *dir = tu_env("CSPH_CONFIG_DIR", CSPH_SOURCE_DIR "/config");
    char path[PATH_MAX], want[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/csphub.yaml", dir);
    if (hub_config_load(c, path, &f->err) != CSPH_ERR_OK)
        fail_msg("%s: %s", path, f->err.message);
    assert_string_equal(c->source_file, path);
    /* paths are relative to the file */
    snprintf(want, sizeof want, "%s/../data", dir);
    assert_string_equal(c->data_dir, want);
    snprintf(want, sizeof want, "%s/../schemas", dir);
    assert_string_equal(c->schemas_dir, want);
    snprintf(want, sizeof want, "%s/panels.yaml", dir);
    assert_string_equal(c->panels_file, want);
    snprintf(want, sizeof want, "%s/rules.yaml", dir);
    assert_string_equal(c->rules_file, want);
    assert_int_equal(c->limits.fetch_held_max, 1024);
    assert_int_equal(c->limits.index_hold_ms, 50);
    assert_int_equal(c->limits.rules_cache_mb, 16);
    assert_int_equal(c->limits.rejects_per_source_max, 10000);
    assert_int_equal(c->limits.rejects_per_source_mb, 16);
    assert_int_equal(c->limits.consumers_per_panel_max, 64);
    assert_int_equal(c->limits.consumers_per_identity_max, 16);
    assert_int_equal(c->nlisten, 1);
    assert_string_equal(c->listen[0], "tcp://127.0.0.1:7450");
    assert_int_equal(c->security, CSPH_SECURITY_NONE);
    assert_int_equal(c->log_level, CSPH_LOG_INFO);
    assert_int_equal(c->limits.batch_max, 4096);
    assert_int_equal(c->limits.batch_bytes_max, 33554432);
    assert_int_equal(c->limits.message_max, 1048576);
    assert_int_equal(c->limits.event_max, 65536);
    assert_int_equal(c->limits.events_per_publish, 1000);
    assert_int_equal(c->limits.sndhwm, 100000);
    assert_int_equal(c->limits.rcvhwm, 100000);
    assert_int_equal(c->limits.reply_backlog_max, 65536);
    assert_int_equal(c->limits.replay_max, 10000);
    assert_int_equal(c->limits.replay_scan_max, 200000);
    assert_true(c->limits.map_size == 65536ull << 20);
    assert_int_equal(hub_config_validate(c, &f->err), CSPH_ERR_OK);

    /* its panels file: the ten panels of RULES.md, two restricted */
    if (hub_config_load_panels(c, &f->err) != CSPH_ERR_OK)
        fail_msg("panels: %s", f->err.message);
    static const char *const names[] = {"marac",   "community-marac", "asb-case-review",
                                        "hate-crime", "iom",           "sgv",
                                        "mace",    "tasking",         "channel",
                                        "mappa"};
    assert_int_equal(c->npanels, 10);
    for (size_t i = 0; i < 10; i++) {
        assert_string_equal(c->panels[i].name, names[i]);
        assert_true(strlen(c->panels[i].title) > 0);
        int restricted = !strcmp(names[i], "channel") || !strcmp(names[i], "mappa");
        if (c->panels[i].restricted != restricted)
            fail_msg("panel %s: restricted %d, want %d", names[i], c->panels[i].restricted,
                     restricted);
        assert_int_equal(hub_config_panel_find(c, names[i], strlen(names[i])), (int)i);
    }
    assert_string_equal(c->panels[0].title, "Domestic abuse MARAC (high-risk victims)");
    assert_int_equal(hub_config_panel_find(c, "nope", 4), -1);
    assert_int_equal(hub_config_panel_find(c, "mara", 4), -1);
    assert_int_equal(hub_config_panel_find(c, "maracs", 6), -1);
    assert_int_equal(hub_config_panel_find(c, "marac-extra", 5), 0); /* by length */
}

static void test_relative_and_absolute_paths(void **state)
{
    struct fx *f = *state;
    load_ok(f, "data_dir: d\nschemas_dir: /abs/schemas\npanels_file: sub/p.yaml\n");
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/d", f->dir);
    assert_string_equal(f->c.data_dir, want);
    assert_string_equal(f->c.schemas_dir, "/abs/schemas");
    snprintf(want, sizeof want, "%s/sub/p.yaml", f->dir);
    assert_string_equal(f->c.panels_file, want);
    load_ok(f, "rules_file: r.yaml\n");
    snprintf(want, sizeof want, "%s/r.yaml", f->dir);
    assert_string_equal(f->c.rules_file, want);
    load_ok(f, "rules_file: none\n"); /* ingest only */
    assert_string_equal(f->c.rules_file, "");
    load_bad(f, "# x\ndata_dir: \"\"\n", 2, "data_dir");
    load_bad(f, "data_dir: [a, b]\n", 1, "data_dir");
}

static void test_empty_file_is_defaults(void **state)
{
    struct fx *f = *state;
    load_ok(f, "# nothing set\n");
    struct hub_config d;
    hub_config_defaults(&d);
    assert_string_equal(f->c.data_dir, d.data_dir);
    assert_string_equal(f->c.listen[0], d.listen[0]);
    assert_memory_equal(&f->c.limits, &d.limits, sizeof d.limits);
    assert_string_equal(f->c.source_file, f->path);
}

static void test_missing_file(void **state)
{
    struct fx *f = *state;
    char path[700];
    snprintf(path, sizeof path, "%s/none.yaml", f->dir);
    assert_int_equal(hub_config_load(&f->c, path, &f->err), CSPH_ERR_IO);
    assert_non_null(strstr(f->err.message, path));
}

static void test_unknown_key(void **state)
{
    struct fx *f = *state;
    load_bad(f,
             "# the hub\n"
             "data_dir: d\n"
             "\n"
             "colour: blue\n",
             4, "colour");
    load_bad(f, "listen: tcp://127.0.0.1:1\nlimits:\n  batch_max: 10\n  batchmax: 10\n", 4,
             "batchmax");
    load_bad(f, "- a\n- b\n", 1, NULL); /* not a mapping */
    load_bad(f, "limits: 5\n", 1, "limits");
}

static void test_security(void **state)
{
    struct fx *f = *state;
    load_ok(f, "security: none\n");
    assert_int_equal(f->c.security, CSPH_SECURITY_NONE);
    load_ok(f, "security: curve\n");
    assert_int_equal(f->c.security, CSPH_SECURITY_CURVE);
    load_bad(f, "data_dir: d\nsecurity: plain\n", 2, "security");
    load_bad(f, "security: NONE\n", 1, "security");
    load_bad(f, "security: [none]\n", 1, "security");
    load_bad(f, "security:\n", 1, "security");
}

static void test_log_level(void **state)
{
    struct fx *f = *state;
    static const struct {
        const char *s;
        int lvl;
    } ok[] = {{"debug", CSPH_LOG_DEBUG}, {"info", CSPH_LOG_INFO}, {"warn", CSPH_LOG_WARN},
              {"error", CSPH_LOG_ERROR}, {"off", CSPH_LOG_OFF}};
    for (size_t i = 0; i < 5; i++) {
        char text[64];
        snprintf(text, sizeof text, "log_level: %s\n", ok[i].s);
        load_ok(f, text);
        assert_int_equal(f->c.log_level, ok[i].lvl);
    }
    load_bad(f, "\n\nlog_level: verbose\n", 3, "log_level");
    load_bad(f, "log_level: {a: 1}\n", 1, "log_level");
}

static void test_limits(void **state)
{
    struct fx *f = *state;
    load_ok(f, "limits:\n"
               "  batch_max: 1\n"
               "  batch_bytes_max: 1048576\n"
               "  message_max_bytes: 2048\n"
               "  event_max_bytes: 1024\n"
               "  events_per_publish: 7\n"
               "  sndhwm: 100\n"
               "  rcvhwm: 200\n"
               "  reply_backlog_max: 16\n"
               "  replay_max: 1\n"
               "  replay_scan_max: 1000\n"
               "  map_size_mb: 16\n"
               "  index_hold_ms: 60000\n"
               "  rules_cache_mb: 0\n"
               "  rejects_per_source_max: 7\n"
               "  rejects_per_source_mb: 3\n"
               "  consumers_per_panel_max: 5\n"
               "  consumers_per_identity_max: 2\n");
    const struct hub_limits *l = &f->c.limits;
    assert_int_equal(l->batch_max, 1);
    assert_int_equal(l->batch_bytes_max, 1048576);
    assert_int_equal(l->message_max, 2048);
    assert_int_equal(l->event_max, 1024);
    assert_int_equal(l->events_per_publish, 7);
    assert_int_equal(l->sndhwm, 100);
    assert_int_equal(l->rcvhwm, 200);
    assert_int_equal(l->reply_backlog_max, 16);
    assert_int_equal(l->replay_max, 1);
    assert_int_equal(l->replay_scan_max, 1000);
    assert_true(l->map_size == 16ull << 20);
    assert_int_equal(l->index_hold_ms, 60000);
    assert_int_equal(l->rules_cache_mb, 0);
    assert_int_equal(l->rejects_per_source_max, 7);
    assert_int_equal(l->rejects_per_source_mb, 3);
    assert_int_equal(l->consumers_per_panel_max, 5);
    assert_int_equal(l->consumers_per_identity_max, 2);
    /* unset limits keep their defaults */
    load_ok(f, "limits:\n  batch_max: 9\n");
    struct hub_config d;
    hub_config_defaults(&d);
    assert_int_equal(f->c.limits.batch_max, 9);
    assert_int_equal(f->c.limits.sndhwm, d.limits.sndhwm);
    assert_true(f->c.limits.map_size == d.limits.map_size);

    static const struct {
        const char *text;
        int line;
        const char *want;
    } bad[] = {
        {"limits:\n  batch_max: 0\n", 2, "batch_max"},
        {"limits:\n  batch_max: 1000001\n", 2, "batch_max"},
        {"limits:\n  batch_max: -1\n", 2, "batch_max"},
        {"limits:\n  batch_max: many\n", 2, "batch_max"},
        {"limits:\n  batch_max: 1.5\n", 2, "batch_max"},
        {"limits:\n  event_max_bytes: 255\n", 2, "event_max_bytes"},
        {"limits:\n  message_max_bytes: 1023\n", 2, "message_max_bytes"},
        {"limits:\n  events_per_publish: 100001\n", 2, "events_per_publish"},
        {"limits:\n  sndhwm: 99\n", 2, "sndhwm"},
        {"limits:\n  rcvhwm: 10000001\n", 2, "rcvhwm"},
        {"limits:\n  replay_scan_max: 999\n", 2, "replay_scan_max"},
        {"limits:\n  map_size_mb: 15\n", 2, "map_size_mb"},
        {"limits:\n  map_size_mb: 4294967296\n", 2, "map_size_mb"},
        {"limits:\n  batch_max: 5\n  reply_backlog_max: 15\n", 3, "reply_backlog_max"},
        {"limits:\n  batch_bytes_max: 1048575\n", 2, "batch_bytes_max"},
        {"limits:\n  index_hold_ms: 0\n", 2, "index_hold_ms"},
        {"limits:\n  index_hold_ms: 60001\n", 2, "index_hold_ms"},
        {"limits:\n  rules_cache_mb: 4097\n", 2, "rules_cache_mb"},
        {"limits:\n  rejects_per_source_max: 0\n", 2, "rejects_per_source_max"},
        {"limits:\n  consumers_per_panel_max: 0\n", 2, "consumers_per_panel_max"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        load_bad(f, bad[i].text, bad[i].line, bad[i].want);
}

static void test_listen(void **state)
{
    struct fx *f = *state;
    load_ok(f, "listen:\n  - tcp://127.0.0.1:1\n  - ipc:///tmp/csphub.sock\n");
    assert_int_equal(f->c.nlisten, 2);
    assert_string_equal(f->c.listen[0], "tcp://127.0.0.1:1");
    assert_string_equal(f->c.listen[1], "ipc:///tmp/csphub.sock");
    assert_int_equal(hub_config_validate(&f->c, &f->err), CSPH_ERR_OK);
    load_ok(f, "listen: tcp://127.0.0.1:7777\n");
    assert_int_equal(f->c.nlisten, 1);
    assert_string_equal(f->c.listen[0], "tcp://127.0.0.1:7777");
    load_ok(f, "listen: [\"ipc:///a\"]\n");
    assert_int_equal(f->c.nlisten, 1);
    assert_string_equal(f->c.listen[0], "ipc:///a");
    load_bad(f, "listen: []\n", 1, "listen");
    load_bad(f, "listen: {a: b}\n", 1, "listen");
    load_bad(f, "listen:\n  - tcp://127.0.0.1:1\n  - [x]\n", 3, "endpoint");
    char text[1024] = "listen:\n";
    for (int i = 0; i < CSPH_MAX_ENDPOINTS + 1; i++)
        snprintf(text + strlen(text), sizeof text - strlen(text), "  - tcp://127.0.0.1:%d\n",
                 1000 + i);
    load_bad(f, text, 2, "listen");
}

static void validate_listen(struct fx *f, const char *ep, enum hub_security sec,
                            enum hub_err want)
{
    hub_config_defaults(&f->c);
    f->c.security = sec;
    snprintf(f->c.listen[0], sizeof f->c.listen[0], "%s", ep);
    memset(&f->err, 0, sizeof f->err);
    enum hub_err rc = hub_config_validate(&f->c, &f->err);
    if (rc != want)
        fail_msg("validate %s: %s (%s), want %s", ep, hub_err_name(rc), f->err.message,
                 hub_err_name(want));
    if (want == CSPH_ERR_CONFIG && sec == CSPH_SECURITY_NONE) {
        assert_string_equal(f->err.field, "listen");
        assert_non_null(strstr(f->err.message, ep));
    }
}

static void test_validate(void **state)
{
    struct fx *f = *state;
    validate_listen(f, "tcp://0.0.0.0:7450", CSPH_SECURITY_NONE, CSPH_ERR_CONFIG);
    assert_non_null(strstr(f->err.message, "none"));
    validate_listen(f, "tcp://10.0.0.1:1", CSPH_SECURITY_NONE, CSPH_ERR_CONFIG);
    validate_listen(f, "tcp://*:7450", CSPH_SECURITY_NONE, CSPH_ERR_CONFIG);
    validate_listen(f, "tcp://127.0.0.1:1", CSPH_SECURITY_NONE, CSPH_ERR_OK);
    validate_listen(f, "tcp://localhost:1", CSPH_SECURITY_NONE, CSPH_ERR_OK);
    validate_listen(f, "ipc:///tmp/csphub.sock", CSPH_SECURITY_NONE, CSPH_ERR_OK);
    validate_listen(f, "tcp://[::1]:1", CSPH_SECURITY_NONE, CSPH_ERR_OK);
    validate_listen(f, "inproc://hub", CSPH_SECURITY_NONE, CSPH_ERR_OK);
    validate_listen(f, "udp://127.0.0.1:1", CSPH_SECURITY_NONE, CSPH_ERR_CONFIG);
    validate_listen(f, "127.0.0.1:1", CSPH_SECURITY_NONE, CSPH_ERR_CONFIG);

    /* one bad endpoint among good ones */
    hub_config_defaults(&f->c);
    snprintf(f->c.listen[1], sizeof f->c.listen[1], "tcp://0.0.0.0:7451");
    f->c.nlisten = 2;
    assert_int_equal(hub_config_validate(&f->c, &f->err), CSPH_ERR_CONFIG);
    assert_non_null(strstr(f->err.message, "tcp://0.0.0.0:7451"));

    /* the message names the file the setting came from */
    load_ok(f, "listen: tcp://0.0.0.0:7450\n");
    assert_int_equal(hub_config_validate(&f->c, &f->err), CSPH_ERR_CONFIG);
    assert_non_null(strstr(f->err.message, f->path));

    /* event_max <= message_max */
    hub_config_defaults(&f->c);
    f->c.limits.message_max = 4096;
    f->c.limits.event_max = 4096;
    assert_int_equal(hub_config_validate(&f->c, &f->err), CSPH_ERR_OK);
    f->c.limits.event_max = 4097;
    assert_int_equal(hub_config_validate(&f->c, &f->err), CSPH_ERR_CONFIG);
    assert_string_equal(f->err.field, "limits.event_max_bytes");
    load_ok(f, "limits:\n  message_max_bytes: 2048\n  event_max_bytes: 4096\n");
    assert_int_equal(hub_config_validate(&f->c, &f->err), CSPH_ERR_CONFIG);
    assert_non_null(strstr(f->err.message, "event_max_bytes"));
}

static void test_endpoint_is_local(void **state)
{
    (void)state;
    static const struct {
        const char *ep;
        int local;
    } cases[] = {
        {"tcp://127.0.0.1:7450", 1},
        {"tcp://127.0.0.1:1", 1},
        {"tcp://127.1.2.3:1", 1},
        {"tcp://localhost:1", 1},
        {"tcp://[::1]:1", 1},
        {"tcp://lo:7450", 1},
        {"ipc:///tmp/x.sock", 1},
        {"ipc://@abstract", 1},
        {"inproc://hub", 1},
        {"tcp://0.0.0.0:7450", 0},
        {"tcp://*:7450", 0},
        {"tcp://10.0.0.1:1", 0},
        {"tcp://192.168.1.10:1", 0},
        {"tcp://128.0.0.1:1", 0},
        {"tcp://[::]:1", 0},
        {"tcp://[::ffff:10.0.0.1]:1", 0},
        {"tcp://eth0:7450", 0},
        {"tcp://localhost.example.org:1", 0},
        {"tcp://localhostx:1", 0},
        {"udp://127.0.0.1:1", 0},
        {"pgm://127.0.0.1:1", 0},
        {"127.0.0.1:1", 0},
        {"", 0},
        {"tcp://", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (hub_endpoint_is_local(cases[i].ep) != cases[i].local)
            fail_msg("hub_endpoint_is_local(\"%s\") = %d, want %d", cases[i].ep,
                     hub_endpoint_is_local(cases[i].ep), cases[i].local);
}

static void test_panels(void **state)
{
    struct fx *f = *state;
    assert_int_equal(load_panels(f, "panels:\n"
                                    "  a-1: {title: \"A one\"}\n"
                                    "  b: {restricted: yes}\n"
                                    "  c:\n"
                                    "    title: C\n"
                                    "    restricted: false\n"),
                     CSPH_ERR_OK);
    assert_int_equal(f->c.npanels, 3);
    assert_string_equal(f->c.panels[0].name, "a-1");
    assert_string_equal(f->c.panels[0].title, "A one");
    assert_int_equal(f->c.panels[0].restricted, 0);
    assert_string_equal(f->c.panels[1].title, "b"); /* defaults to the name */
    assert_int_equal(f->c.panels[1].restricted, 1);
    assert_string_equal(f->c.panels[2].title, "C");
    /* loading again replaces, does not append */
    assert_int_equal(load_panels(f, "panels:\n  x: {}\n"), CSPH_ERR_OK);
    assert_int_equal(f->c.npanels, 1);
    assert_string_equal(f->c.panels[0].name, "x");
}

static void test_panels_broken(void **state)
{
    struct fx *f = *state;
    panels_bad(f, "panels:\n  marac: {}\n  Bad_Name: {}\n", 3, "Bad_Name");
    panels_bad(f, "panels:\n  marac: {}\n  has space: {}\n", 3, "has space");
    panels_bad(f, "panels:\n  marac: {}\n  iom: {}\n  marac: {title: again}\n", 4, "twice");
    panels_bad(f, "panels:\n  marac:\n    title: x\n    colour: red\n", 4, "colour");
    panels_bad(f, "panels:\n  marac: {restricted: maybe}\n", 2, "restricted");
    panels_bad(f, "panels:\n  marac: {title: [a]}\n", 2, "title");
    panels_bad(f, "panel:\n  marac: {}\n", 1, "panels");
    panels_bad(f, "panels: []\n", 1, "panels");
    panels_bad(f, "# empty\n", 1, "panels");
    char longname[200] = "panels:\n  ";
    memset(longname + strlen(longname), 'a', 65);
    strcat(longname, ": {}\n");
    panels_bad(f, longname, 2, NULL);
    char many[4096] = "panels:\n";
    for (int i = 0; i <= CSPH_MAX_PANELS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "  p%d: {}\n", i);
    panels_bad(f, many, 2, NULL);
    /* a missing panels file */
    snprintf(f->c.panels_file, sizeof f->c.panels_file, "%s/missing.yaml", f->dir);
    assert_int_equal(hub_config_load_panels(&f->c, &f->err), CSPH_ERR_IO);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_repo_config),
        T(test_relative_and_absolute_paths),
        T(test_empty_file_is_defaults),
        T(test_missing_file),
        T(test_unknown_key),
        T(test_security),
        T(test_log_level),
        T(test_limits),
        T(test_listen),
        T(test_validate),
        T(test_endpoint_is_local),
        T(test_panels),
        T(test_panels_broken),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
