#define _GNU_SOURCE
#include "testutil_curve.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "csphub.h"

void tu_write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

struct tu_curve *tu_curve_new(const char *tag, const char *const *names, const char *identities)
{
    struct tu_curve *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->dir = tu_tmpdir(tag);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->keys, sizeof f->keys, "%s/keys", f->dir);
    snprintf(f->ids, sizeof f->ids, "%s/identities.yaml", f->dir);
    snprintf(f->config, sizeof f->config, "%s/hub.yaml", f->dir);
    mkdir(f->keys, 0700);
    char err[256], pub[41];
    if (csph_keygen(f->keys, "hub", f->hub_pub, err, sizeof err))
        fail_msg("keygen: %s", err);
    for (size_t i = 0; names[i]; i++)
        if (csph_keygen(f->keys, names[i], pub, err, sizeof err))
            fail_msg("keygen: %s", err);
    tu_write_file(f->ids, identities);
    chmod(f->ids, 0644); /* whatever the umask: the hub refuses one others can write */
    tu_write_file(f->config, "security: curve\n"
                             "identities_file: identities.yaml\n"
                             "server_key_file: keys/hub.key\n");
    f->hub.port = tu_free_port();
    snprintf(f->hub.endpoint, sizeof f->hub.endpoint, "tcp://127.0.0.1:%d", f->hub.port);
    snprintf(f->hub.data, sizeof f->hub.data, "%.500s", f->data);
    snprintf(f->hub.log, sizeof f->hub.log, "%.500s.log", f->data);
    return f;
}

void tu_curve_free(struct tu_curve *f)
{
    if (f->hub.pid > 0)
        assert_int_equal(tu_hub_stop(&f->hub), 0);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
}

/* tu_hub_start waits for a plain ping, which CURVE refuses: start the hub
 * here and wait for an answer over CURVE instead. */
void tu_curve_start(struct tu_curve *f)
{
    if (f->hub.pid > 0)
        tu_hub_kill9(&f->hub);
    char log[700];
    snprintf(log, sizeof log, "%s", f->hub.log);
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        FILE *lf = freopen(log, "a", stderr);
        (void)lf;
        execl(tu_env("CSPH_HUBD", "csphubd"), "csphubd", "--data", f->data, "--listen",
              f->hub.endpoint, "--config", f->config, (char *)NULL);
        _exit(127);
    }
    f->hub.pid = pid;
    struct tu_client c;
    tu_curve_connect(f, &c, "admin");
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, "{\"op\":\"ping\"}");
    int64_t deadline = tu_now_ms() + 20000;
    msgpack_object r;
    int ok = 0;
    while (!ok && tu_now_ms() < deadline) {
        tu_send_raw(&c, sb.data, sb.size);
        ok = tu_recv(&c, 200, &r) == 0;
    }
    msgpack_sbuffer_destroy(&sb);
    tu_client_close(&c);
    if (!ok)
        fail_msg("the hub did not answer over CURVE (log: %s)", log);
}

void tu_curve_connect(struct tu_curve *f, struct tu_client *c, const char *who)
{
    int linger = 0;
    c->ctx = zmq_ctx_new();
    c->sock = zmq_socket(c->ctx, ZMQ_DEALER);
    zmq_setsockopt(c->sock, ZMQ_LINGER, &linger, sizeof linger);
    msgpack_zone_init(&c->zone, 4096);
    if (who) {
        char path[700], pub[41], sec[41], err[256];
        snprintf(path, sizeof path, "%s/%s.key", f->keys, who);
        if (csph_key_file_read(path, pub, sec, err, sizeof err))
            fail_msg("%s", err);
        zmq_setsockopt(c->sock, ZMQ_CURVE_SERVERKEY, f->hub_pub, 40);
        zmq_setsockopt(c->sock, ZMQ_CURVE_PUBLICKEY, pub, 40);
        zmq_setsockopt(c->sock, ZMQ_CURVE_SECRETKEY, sec, 40);
    }
    zmq_connect(c->sock, f->hub.endpoint);
}

int tu_try_call(struct tu_client *c, int ms, msgpack_object *r, const char *json)
{
    (void)tu_send(c, "%s", json);
    return tu_recv(c, ms, r);
}

