/* test_install.c: the installed layout. `cmake --install` into a
 * temporary DESTDIR puts the daemon, the schemas, the configuration, the
 * systemd unit and the man pages where GNUInstallDirs says; the staged
 * daemon carries the installed paths in its --help; run from an unrelated
 * directory with --config pointing into the staged tree (DESTDIR only
 * stages), it takes a publish and replays it; `systemd-analyze verify`
 * passes on the staged unit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include "testutil.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[1 << 18];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static void expect_file(const char *stage, const char *path, const char *holds)
{
    char full[2048];
    snprintf(full, sizeof full, "%s%s", stage, path);
    char *text = slurp(full);
    if (!text)
        fail_msg("the install put no %s", path);
    if (holds && !strstr(text, holds))
        fail_msg("%s does not hold '%s'", path, holds);
}

/* Run a shell command; its output into out. Its exit status. */
static int run(char *out, size_t n, const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return tu_run_cmd(out, n, cmd);
}

static void test_destdir_install_runs(void **state)
{
    (void)state;
    char *tmp = tu_tmpdir("install"), stage[700], out[65536], path[2048];
    const char *sysconf = getenv("CSPH_INSTALL_SYSCONF"), *share = getenv("CSPH_INSTALL_SHARE"),
               *sbin = getenv("CSPH_INSTALL_SBINDIR"), *man = getenv("CSPH_INSTALL_MANDIR"),
               *unitdir = getenv("CSPH_INSTALL_UNITDIR"), *state_dir = getenv("CSPH_INSTALL_STATE");
    assert_non_null(sysconf);
    assert_non_null(unitdir);
    snprintf(stage, sizeof stage, "%s/stage", tmp);
    int rc = run(out, sizeof out, "DESTDIR=%s %s --install %s 2>&1", stage,
                 tu_env("CSPH_CMAKE", "cmake"), tu_env("CSPH_BUILD_DIR", "."));
    if (rc != 0)
        fail_msg("cmake --install: %d\n%s", rc, out);

    /* Where GNUInstallDirs puts things. */
    snprintf(path, sizeof path, "%s/csphubd", sbin);
    expect_file(stage, path, NULL);
    snprintf(path, sizeof path, "%s/csphub.yaml", sysconf);
    char want[1024];
    snprintf(want, sizeof want, "data_dir: %s", state_dir);
    expect_file(stage, path, want);
    snprintf(want, sizeof want, "schemas_dir: %s/schemas", share);
    expect_file(stage, path, want);
    expect_file(stage, path, "listen: 127.0.0.1:9465");
    snprintf(path, sizeof path, "%s/panels.yaml", sysconf);
    expect_file(stage, path, "marac");
    snprintf(path, sizeof path, "%s/calendar.yaml", sysconf);
    expect_file(stage, path, "regular: england-and-wales");
    snprintf(path, sizeof path, "%s/rules.yaml", sysconf);
    expect_file(stage, path, "rules:");
    snprintf(path, sizeof path, "%s/schemas/asb.report.yaml", share);
    expect_file(stage, path, NULL);
    snprintf(path, sizeof path, "%s/man8/csphubd.8", man);
    expect_file(stage, path, "check\\-config");
    snprintf(path, sizeof path, "%s/man5/csphub.yaml.5", man);
    expect_file(stage, path, "map_size_mb");
    snprintf(path, sizeof path, "%s/man1/csphub.1", man);
    expect_file(stage, path, "keygen");
    snprintf(path, sizeof path, "%s/man1/csphub-csv.1", man);
    expect_file(stage, path, "mapping");
    snprintf(path, sizeof path, "%s/csphubd.service", unitdir);
    snprintf(want, sizeof want, "ExecStart=%s/csphubd --config %s/csphub.yaml", sbin, sysconf);
    expect_file(stage, path, want);

    /* The staged daemon knows the installed paths... */
    char hubd[2048];
    snprintf(hubd, sizeof hubd, "%s%s/csphubd", stage, sbin);
    rc = run(out, sizeof out, "%s --help", hubd);
    assert_int_equal(rc, 0);
    snprintf(want, sizeof want, "%s/csphub.yaml", sysconf);
    if (!strstr(out, want))
        fail_msg("--help does not name %s:\n%s", want, out);

    /* ...and, with its staged config pointed into the stage, runs from an
     * unrelated directory. */
    char cfg[2048];
    static char staged[1 << 18];
    snprintf(cfg, sizeof cfg, "%s%s/csphub.yaml", stage, sysconf);
    char *text = slurp(cfg);
    assert_non_null(text);
    memcpy(staged, text, strlen(text) + 1); /* both 256 KiB at most */
    FILE *fp = fopen(cfg, "w");
    assert_non_null(fp);
    for (char *line = strtok(staged, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "data_dir:", 9))
            fprintf(fp, "data_dir: %s/data\n", tmp);
        else if (!strncmp(line, "schemas_dir:", 12))
            fprintf(fp, "schemas_dir: %s%s/schemas\n", stage, share);
        else if (strstr(line, "listen: 127.0.0.1:9465"))
            fprintf(fp, "  listen: off\n"); /* tests run side by side: no fixed port */
        else
            fprintf(fp, "%s\n", line);
    }
    fclose(fp);
    char elsewhere[800], cwd[1024];
    snprintf(elsewhere, sizeof elsewhere, "%s/elsewhere", tmp);
    mkdir(elsewhere, 0700);
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(elsewhere), 0);
    rc = run(out, sizeof out, "%s --check-config --config %s 2>&1", hubd, cfg);
    if (rc != 0)
        fail_msg("--check-config: %d %s", rc, out);
    const char *before = getenv("CSPH_HUBD");
    char *saved = before ? strdup(before) : NULL;
    setenv("CSPH_HUBD", hubd, 1);
    struct tu_hub hub;
    char data[800];
    snprintf(data, sizeof data, "%s/data", tmp);
    rc = tu_hub_start(&hub, data, "--config", cfg, NULL);
    if (saved)
        setenv("CSPH_HUBD", saved, 1);
    free(saved);
    assert_int_equal(rc, 0);
    struct tu_client c;
    tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
    msgpack_object r = tu_call(&c, "{\"op\":\"publish\",\"event\":" TU_ASB_EVENT("inst-1", "V-1") "}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    /* seq 1 is the hub's rules.loaded: the event is seq 2 */
    r = tu_call(&c, "{\"op\":\"replay\",\"after\":1}");
    assert_string_equal(tu_str(&r, "events.0.event.id"), "inst-1");
    assert_int_equal(tu_int(&r, "events.0.seq"), 2);
    tu_client_close(&c);
    assert_int_equal(tu_hub_stop(&hub), 0);
    assert_int_equal(chdir(cwd), 0);

    /* The unit passes systemd's own check (no systemd needs to run): the
     * staged unit with only its ExecStart's directory moved into the stage
     * (verify wants the program to exist), its man pages found in the stage
     * (verify runs man on Documentation=). */
    char unit[2048], checked[800];
    snprintf(unit, sizeof unit, "%s%s/csphubd.service", stage, unitdir);
    text = slurp(unit);
    assert_non_null(text);
    snprintf(checked, sizeof checked, "%s/csphubd.service", tmp);
    fp = fopen(checked, "w");
    assert_non_null(fp);
    snprintf(want, sizeof want, "ExecStart=%s/csphubd", sbin);
    const char *at = strstr(text, want);
    assert_non_null(at);
    fprintf(fp, "%.*sExecStart=%s%s/csphubd%s", (int)(at - text), text, stage, sbin,
            at + strlen(want));
    fclose(fp);
    rc = run(out, sizeof out, "MANPATH=%s%s systemd-analyze verify %s 2>&1", stage, man, checked);
    if (rc != 0 || strstr(out, "csphubd.service"))
        fail_msg("systemd-analyze verify: %d\n%s", rc, out);
    tu_rmrf(tmp);
    free(tmp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_destdir_install_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
