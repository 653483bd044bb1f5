/* test_service.c: the hub as a service, end to end against the real
 * daemon: systemd's notifications (READY=1 once listening, STATUS= and
 * EXTEND_TIMEOUT_USEC= while the index is rebuilt, WATCHDOG=1 from the
 * loop) on a notify socket of the test's own; the metrics endpoint scraped
 * and parsed by python3-prometheus-client; /health 503 while the hub is
 * degraded (the fault shim) and 200 again once healed; the token and the
 * loopback-only rule; --check-config on each metrics setting the start
 * refuses. No sleeps: every wait polls with a deadline. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include <cmocka.h>

#include "testutil.h"

struct fx {
    char *tmp;
    char cfg[700], data[700];
    int port; /* metrics */
    struct tu_hub hub;
    struct tu_client c;
    int notify; /* the notify socket, -1 when none */
    char notify_path[700];
};

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->tmp = tu_tmpdir("service");
    f->notify = -1;
    snprintf(f->cfg, sizeof f->cfg, "%s/hub.yaml", f->tmp);
    snprintf(f->data, sizeof f->data, "%s/data", f->tmp);
    f->port = tu_free_port();
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc = 0;
    if (f->hub.pid > 0) {
        tu_client_close(&f->c);
        rc = tu_hub_stop(&f->hub);
    }
    if (f->notify >= 0)
        close(f->notify);
    tu_rmrf(f->tmp);
    free(f->tmp);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* The config: extra settings after a metrics listener on f->port. */
static void write_config(struct fx *f, const char *extra)
{
    char text[2048];
    snprintf(text, sizeof text,
             "metrics:\n  listen: 127.0.0.1:%d\n  interval_ms: 100\n%s", f->port, extra);
    write_file(f->cfg, text);
}

static void start(struct fx *f)
{
    if (f->notify >= 0)
        setenv("NOTIFY_SOCKET", f->notify_path, 1);
    int rc = tu_hub_start(&f->hub, f->data, "--config", f->cfg, NULL);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    assert_int_equal(rc, 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
}

/* GET path on the metrics port: the status (or -1), the body into out. */
static int http_get(int port, const char *path, const char *token, char *out, size_t n)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    out[0] = 0;
    if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return -1;
    }
    char req[600];
    int len = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\n%s%s%s"
                       "Connection: close\r\n\r\n", path, token ? "Authorization: Bearer " : "",
                       token ? token : "", token ? "\r\n" : "");
    if (write(s, req, (size_t)len) != len) {
        close(s);
        return -1;
    }
    size_t got = 0;
    int64_t deadline = tu_now_ms() + 10000;
    for (;;) {
        struct pollfd p = {s, POLLIN, 0};
        int64_t left = deadline - tu_now_ms();
        if (left <= 0 || poll(&p, 1, (int)left) <= 0)
            break;
        ssize_t r = read(s, out + got, n - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        if (got == n - 1)
            break;
    }
    out[got] = 0;
    close(s);
    int status = -1;
    if (sscanf(out, "HTTP/1.%*d %d", &status) != 1)
        return -1;
    char *body = strstr(out, "\r\n\r\n");
    if (body)
        memmove(out, body + 4, strlen(body + 4) + 1);
    return status;
}

/* Scrape /metrics and run it through python3-prometheus-client's parser:
 * its canonical lines into out. */
static void scrape_parsed(struct fx *f, char *out, size_t n)
{
    static char body[1 << 20];
    assert_int_equal(http_get(f->port, "/metrics", NULL, body, sizeof body), 200);
    char in[800], outp[800], cmd[3000];
    snprintf(in, sizeof in, "%s/scrape.txt", f->tmp);
    snprintf(outp, sizeof outp, "%s/parsed.txt", f->tmp);
    write_file(in, body);
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/prom_parse.py < %s > %s",
             tu_env("CSPH_SOURCE_DIR", "."), in, outp);
    if (system(cmd) != 0)
        fail_msg("the Prometheus parser refused the scrape:\n%s", body);
    FILE *fp = fopen(outp, "r");
    assert_non_null(fp);
    size_t got = fread(out, 1, n - 1, fp);
    out[got] = 0;
    fclose(fp);
}

/* Scrape until the parsed text holds line (10 s). */
static void wait_sample(struct fx *f, const char *line)
{
    static char parsed[1 << 20];
    int64_t deadline = tu_now_ms() + 10000;
    while (tu_now_ms() < deadline) {
        scrape_parsed(f, parsed, sizeof parsed);
        if (strstr(parsed, line))
            return;
    }
    fail_msg("no sample '%s' in:\n%s", line, parsed);
}

static void publish_da(struct tu_client *c, const char *id, const char *victim)
{
    msgpack_object r = tu_call(c,
                               "{\"op\":\"publish\",\"event\":{\"id\":\"%s\",\"type\":\"da.incident\","
                               "\"source\":\"police\",\"occurred_at\":\"2025-04-01T22:00:00Z\","
                               "\"victim\":\"%s\",\"dash_score\":16}}",
                               id, victim);
    assert_string_equal(tu_str(&r, "status"), "accepted");
}

/* The scrape parses with a parser that is not ours, and says what the hub
 * did: counters, alerts per panel, a consumer's lag, the map, the commit
 * histogram, rejections by code. */
static void test_metrics_scrape(void **state)
{
    struct fx *f = *state;
    write_config(f, "");
    start(f);
    publish_da(&f->c, "da-1", "V-1");
    publish_da(&f->c, "da-2", "V-2");
    publish_da(&f->c, "da-3", "V-3");
    msgpack_object r = tu_call(&f->c, "{\"op\":\"publish\",\"event\":{\"id\":\"x\"}}");
    assert_string_equal(tu_str(&r, "status"), "rejected");
    r = tu_call(&f->c, "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"console\",\"max\":1}");
    int64_t first = tu_int(&r, "alerts.0.id");
    assert_true(first > 0);
    r = tu_call(&f->c, "{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"console\",\"upto\":%lld}",
                (long long)first);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    wait_sample(f, "csphub_accepted_total{} 3.0 counter");
    wait_sample(f, "csphub_consumer_lag{consumer=\"console\",panel=\"marac\"} 2.0 gauge");
    static char p[1 << 20];
    scrape_parsed(f, p, sizeof p);
    const char *want[] = {
        "csphub_panel_alerts_raised_total{panel=\"marac\"} 3.0 counter",
        "csphub_alerts_open{panel=\"marac\"} 3.0 gauge",
        "csphub_alerts_overdue{panel=\"marac\"} 0.0 gauge",
        "csphub_alerts_open{panel=\"channel\"} 0.0 gauge",
        "csphub_rejected_by_code_total{code=\"bad_event\"} 1.0 counter",
        "csphub_log_last_seq{} 4.0 gauge",
        "csphub_degraded{part=\"index\",state=\"ok\"} 0.0 gauge",
        "csphub_writable{} 1.0 gauge",
        "csphub_consumers{} 1.0 gauge",
        "csphub_commit_seconds_bucket{le=\"+Inf\"}",
        "csphub_commit_seconds_count{}",
        "csphub_map_used_ratio{}",
        "csphub_log_file_bytes{}",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(p, want[i]))
            fail_msg("no '%s' in:\n%s", want[i], p);
    char body[4096];
    assert_int_equal(http_get(f->port, "/health", NULL, body, sizeof body), 200);
    assert_string_equal(body, "ok\n");
    assert_int_equal(http_get(f->port, "/nothing", NULL, body, sizeof body), 404);
}

/* Per-consumer series are bounded: with consumers_max 1 only the largest
 * lag is listed; every consumer is still counted. */
static void test_consumer_series_bounded(void **state)
{
    struct fx *f = *state;
    write_config(f, "  consumers_max: 1\n");
    start(f);
    publish_da(&f->c, "da-1", "V-1");
    publish_da(&f->c, "da-2", "V-2");
    publish_da(&f->c, "da-3", "V-3");
    msgpack_object r =
        tu_call(&f->c, "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"a\",\"max\":3}");
    int64_t first = tu_int(&r, "alerts.0.id"), last = tu_int(&r, "alerts.2.id");
    assert_true(first > 0 && last > first);
    tu_call(&f->c, "{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"a\",\"upto\":%lld}",
            (long long)first);
    tu_call(&f->c, "{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"b\",\"upto\":%lld}",
            (long long)last);
    wait_sample(f, "csphub_consumers{} 2.0 gauge");
    static char p[1 << 20];
    scrape_parsed(f, p, sizeof p);
    if (!strstr(p, "csphub_consumer_lag{consumer=\"a\",panel=\"marac\"} 2.0 gauge") ||
        strstr(p, "consumer=\"b\""))
        fail_msg("want only consumer a's lag:\n%s", p);
}

/* Under systemd (JOURNAL_STREAM set) each log line starts with its syslog
 * priority, which journald keeps: WARN is <4>, INFO <6>. */
static void test_journal_priorities(void **state)
{
    struct fx *f = *state;
    write_config(f, "rules_file: none\n");
    setenv("JOURNAL_STREAM", "8:12345", 1);
    start(f);
    unsetenv("JOURNAL_STREAM");
    FILE *fp = fopen(f->hub.log, "r");
    assert_non_null(fp);
    char line[4096];
    int warn = 0, info = 0, bare = 0;
    while (fgets(line, sizeof line, fp)) {
        if (!strncmp(line, "<4>", 3) && strstr(line, "WARN  rules: no rules file configured"))
            warn++;
        else if (!strncmp(line, "<6>", 3) && strstr(line, "INFO "))
            info++;
        else if (!strncmp(line, "<4>", 3) && strstr(line, "WARN  retention: "))
            continue; /* the shipped periods' none (Channel, MAPPA): docs/retention.md */
        else
            bare++;
    }
    fclose(fp);
    assert_int_equal(warn, 1);
    assert_true(info > 0);
    assert_int_equal(bare, 0);
}

/* /health is 503 while the index cannot commit (every commit failed by the
 * fault shim), with the reason; 200 again once it heals. */
static void test_health_503_while_degraded(void **state)
{
    struct fx *f = *state;
    char faults[800], body[4096];
    snprintf(faults, sizeof faults, "%s/faults", f->tmp);
    write_file(faults, "none 0\n");
    write_config(f, "rules_file: none\nlimits:\n  index_hold_ms: 1\n");
    const char *asan = getenv("ASAN_OPTIONS");
    char opts[512];
    snprintf(opts, sizeof opts, "%s%sverify_asan_link_order=0", asan ? asan : "", asan ? ":" : "");
    char *saved = asan ? strdup(asan) : NULL;
    setenv("ASAN_OPTIONS", opts, 1);
    setenv("LD_PRELOAD", tu_env("CSPH_FAULTSHIM", "libcsph_faultshim.so"), 1);
    setenv("CSPH_FAULTS", faults, 1);
    start(f);
    unsetenv("LD_PRELOAD");
    unsetenv("CSPH_FAULTS");
    if (saved)
        setenv("ASAN_OPTIONS", saved, 1);
    else
        unsetenv("ASAN_OPTIONS");
    free(saved);
    int64_t deadline = tu_now_ms() + 10000;
    while (http_get(f->port, "/health", NULL, body, sizeof body) != 200 && tu_now_ms() < deadline)
        ;
    assert_int_equal(http_get(f->port, "/health", NULL, body, sizeof body), 200);
    write_file(faults, "index-commit 1000000\n");
    msgpack_object r = tu_call(&f->c, "{\"op\":\"publish\",\"event\":" TU_ASB_EVENT("a-1", "V") "}");
    assert_string_equal(tu_str(&r, "status"), "accepted");
    int status = 0;
    deadline = tu_now_ms() + 10000;
    while ((status = http_get(f->port, "/health", NULL, body, sizeof body)) != 503 &&
           tu_now_ms() < deadline)
        ;
    assert_int_equal(status, 503);
    if (!strstr(body, "index"))
        fail_msg("health says '%s'", body);
    wait_sample(f, "csphub_writable{} 0.0 gauge");
    /* healed: the shim idle again, the next write brings the index level */
    write_file(faults, "none 0\n");
    deadline = tu_now_ms() + 10000;
    while ((status = http_get(f->port, "/health", NULL, body, sizeof body)) != 200 &&
           tu_now_ms() < deadline)
        tu_call(&f->c, "{\"op\":\"publish\",\"event\":" TU_ASB_EVENT("a-2", "V") "}");
    assert_int_equal(status, 200);
}

/* A token file: every request needs it; a wrong one is 401. */
static void test_token(void **state)
{
    struct fx *f = *state;
    char tok[800], extra[1000], body[4096];
    snprintf(tok, sizeof tok, "%s/metrics.token", f->tmp);
    write_file(tok, "0123456789abcdef0123456789abcdef\n");
    chmod(tok, 0600);
    snprintf(extra, sizeof extra, "  token_file: %s\n", tok);
    write_config(f, extra);
    start(f);
    assert_int_equal(http_get(f->port, "/metrics", NULL, body, sizeof body), 401);
    assert_int_equal(http_get(f->port, "/health", "0123456789abcdef0123456789abcdeX", body,
                              sizeof body), 401);
    int64_t deadline = tu_now_ms() + 10000;
    int status;
    while ((status = http_get(f->port, "/health", "0123456789abcdef0123456789abcdef", body,
                              sizeof body)) != 200 && tu_now_ms() < deadline)
        ;
    assert_int_equal(status, 200);
}

/* Each metrics setting a start refuses, --check-config refuses the same
 * way (exit 2, the field named), and the start does too. */
static void test_check_config_metrics(void **state)
{
    struct fx *f = *state;
    char out[4096], tok[800], key[800], cert[800], text[3000];
    snprintf(tok, sizeof tok, "%s/t", f->tmp);
    snprintf(key, sizeof key, "%s/key.pem", f->tmp);
    snprintf(cert, sizeof cert, "%s/cert.pem", f->tmp);
    write_file(tok, "0123456789abcdef0123456789abcdef\n");
    write_file(key, "-----BEGIN PRIVATE KEY-----\n");
    write_file(cert, "-----BEGIN CERTIFICATE-----\n");
    chmod(key, 0600);
    struct { const char *metrics; const char *says; mode_t tok_mode; } cases[] = {
        {"  listen: 0.0.0.0:9465\n", "without TLS and a token", 0600},
        {"  listen: 10.1.2.3:9465\n  token_file: t\n", "without TLS and a token", 0600},
        {"  listen: nowhere\n", "must be ADDRESS:PORT", 0600},
        {"  listen: 127.0.0.1:99999\n", "must be ADDRESS:PORT", 0600},
        {"  listen: 127.0.0.1:9465\n  tls_cert: cert.pem\n", "go together", 0600},
        {"  listen: 127.0.0.1:9465\n  token_file: t\n", "can be read by other users", 0644},
        {"  listen: 127.0.0.1:9465\n  token_file: absent\n", "cannot be read", 0600},
        {"  listen: 127.0.0.1:9465\n  colour: blue\n", "colour", 0600},
        {"  listen: 127.0.0.1:9465\n  interval_ms: 5\n", "interval_ms", 0600},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        chmod(tok, cases[i].tok_mode);
        snprintf(text, sizeof text, "data_dir: data\nmetrics:\n%s", cases[i].metrics);
        write_file(f->cfg, text);
        int rc = tu_hub_run(out, sizeof out, "--check-config", "--config", f->cfg, NULL);
        if (rc != 2 || !strstr(out, cases[i].says))
            fail_msg("check-config of\n%s: exit %d, said: %s (want 2 and '%s')", text, rc, out,
                     cases[i].says);
        rc = tu_hub_run_ms(out, sizeof out, 20000, "--config", f->cfg, "--listen",
                           "tcp://127.0.0.1:1", NULL);
        if (rc != 2 || !strstr(out, cases[i].says))
            fail_msg("start with\n%s: exit %d, said: %s (want 2 and '%s')", text, rc, out,
                     cases[i].says);
    }
    /* a good one passes */
    chmod(tok, 0600);
    write_file(f->cfg, "data_dir: data\nmetrics:\n  listen: 127.0.0.1:9465\n  token_file: t\n");
    int rc = tu_hub_run(out, sizeof out, "--check-config", "--config", f->cfg, NULL);
    if (rc != 0)
        fail_msg("exit %d: %s", rc, out);
}

/* A datagram socket standing for systemd's notify socket. */
static void notify_open(struct fx *f)
{
    snprintf(f->notify_path, sizeof f->notify_path, "%s/notify", f->tmp);
    f->notify = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    snprintf(a.sun_path, sizeof a.sun_path, "%.100s", f->notify_path);
    assert_int_equal(bind(f->notify, (struct sockaddr *)&a, sizeof a), 0);
}

/* Read notifications until one holds want (10 s); everything read so far
 * is appended to log. */
static int notify_wait(struct fx *f, const char *want, char *log, size_t n)
{
    int64_t deadline = tu_now_ms() + 10000;
    while (tu_now_ms() < deadline) {
        struct pollfd p = {f->notify, POLLIN, 0};
        if (poll(&p, 1, (int)(deadline - tu_now_ms())) <= 0)
            break;
        char msg[2048];
        ssize_t r = recv(f->notify, msg, sizeof msg - 1, 0);
        if (r <= 0)
            continue;
        msg[r] = 0;
        snprintf(log + strlen(log), n - strlen(log), "%s\n--\n", msg);
        if (strstr(msg, want))
            return 0;
    }
    return -1;
}

/* READY=1 comes once the hub listens: at that moment a connection to its
 * port is taken. The watchdog is pinged from the loop. */
static void test_notify_ready_and_watchdog(void **state)
{
    struct fx *f = *state;
    char log[16384] = "";
    notify_open(f);
    write_config(f, "rules_file: none\n");
    int port = tu_free_port();
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", port);
    setenv("NOTIFY_SOCKET", f->notify_path, 1);
    setenv("WATCHDOG_USEC", "200000", 1);
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 2);
        const char *hubd = tu_env("CSPH_HUBD", "csphubd");
        execl(hubd, hubd, "--config", f->cfg, "--data", f->data, "--listen", ep, (char *)NULL);
        _exit(127);
    }
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    if (notify_wait(f, "READY=1", log, sizeof log) != 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        fail_msg("no READY=1; got:\n%s", log);
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int connected = connect(s, (struct sockaddr *)&a, sizeof a);
    close(s);
    /* two pings at 100 ms (half of WatchdogSec) */
    int pings = notify_wait(f, "WATCHDOG=1", log, sizeof log) == 0 &&
                notify_wait(f, "WATCHDOG=1", log, sizeof log) == 0;
    kill(pid, SIGTERM);
    int status;
    waitpid(pid, &status, 0);
    assert_int_equal(connected, 0);
    assert_true(pings);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_non_null(strstr(log, "STATUS=serving"));
}

/* A start that rebuilds the index from the log says so to systemd (STATUS=
 * and EXTEND_TIMEOUT_USEC=) before READY=1. */
static void test_notify_rebuild_status(void **state)
{
    struct fx *f = *state;
    char log[16384] = "", mark[800];
    write_config(f, "rules_file: none\n");
    start(f);
    for (int i = 0; i < 50; i++) {
        char id[32];
        snprintf(id, sizeof id, "e-%d", i);
        msgpack_object r = tu_call(&f->c, "{\"op\":\"publish\",\"event\":{\"id\":\"%s\","
                                   "\"type\":\"asb.report\",\"source\":\"police\","
                                   "\"occurred_at\":\"2025-03-01T21:14:00Z\","
                                   "\"location\":{\"lsoa\":\"E01000916\"},"
                                   "\"category\":\"personal\"}}", id);
        assert_string_equal(tu_str(&r, "status"), "accepted");
    }
    tu_client_close(&f->c);
    assert_int_equal(tu_hub_stop(&f->hub), 0);
    snprintf(mark, sizeof mark, "%s/index.rebuild", f->data);
    write_file(mark, "test: rebuild at the next start\n");
    notify_open(f);
    start(f);
    assert_int_equal(notify_wait(f, "READY=1", log, sizeof log), 0);
    const char *status = strstr(log, "STATUS=bringing the index level with the log: 50 of 50");
    const char *extend = strstr(log, "EXTEND_TIMEOUT_USEC=");
    const char *ready = strstr(log, "READY=1");
    if (!status || !extend || status > ready || extend > ready)
        fail_msg("want STATUS and EXTEND_TIMEOUT_USEC before READY=1, got:\n%s", log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metrics_scrape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_503_while_degraded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consumer_series_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_priorities, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_config_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_ready_and_watchdog, setup, teardown),
        cmocka_unit_test_setup_teardown(test_notify_rebuild_status, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
