#define _GNU_SOURCE
#include "testutil_inproc.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "timefmt.h"

int64_t tu_inproc_t0(void)
{
    int64_t ms;
    csph_time_parse("2025-06-02T09:00:00Z", 20, &ms, NULL); /* a Monday */
    return ms;
}

void tu_inproc_start(struct tu_inproc *f)
{
    struct hub_error err;
    uv_loop_init(&f->loop);
    if (hub_server_new(&f->srv, &f->loop, &f->cfg, &f->clock, &err))
        fail_msg("hub did not start: %s", err.message);
    tu_client_open(&f->c, f->endpoint, ZMQ_DEALER);
}

void tu_inproc_stop(struct tu_inproc *f)
{
    tu_client_close(&f->c);
    hub_server_stop(f->srv);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* returns once every handle is closed */
    hub_server_destroy(&f->srv);
    assert_int_equal(uv_loop_close(&f->loop), 0);
}

struct tu_inproc *tu_inproc_new(const char *tag)
{
    struct tu_inproc *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->fds_before = tu_open_fds();
    f->dir = tu_tmpdir(tag);
    snprintf(f->data, sizeof f->data, "%s/data", f->dir);
    snprintf(f->endpoint, sizeof f->endpoint, "ipc://%s/hub.sock", f->dir);
    hub_config_defaults(&f->cfg);
    struct hub_error err;
    char path[600];
    snprintf(path, sizeof path, "%s/csphub.yaml",
             tu_env("CSPH_CONFIG_DIR", CSPH_SOURCE_DIR "/config"));
    assert_int_equal(hub_config_load(&f->cfg, path, &err), CSPH_ERR_OK);
    snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s", f->data);
    snprintf(f->cfg.listen[0], sizeof f->cfg.listen[0], "%s", f->endpoint);
    f->cfg.nlisten = 1;
    f->cfg.log_level = CSPH_LOG_WARN;
    hub_log_min = CSPH_LOG_WARN;
    assert_int_equal(hub_config_load_panels(&f->cfg, &err), CSPH_ERR_OK);
    hub_clock_init_fixed(&f->clock, tu_inproc_t0());
    tu_inproc_start(f);
    return f;
}

void tu_inproc_free(struct tu_inproc *f)
{
    if (f->srv)
        tu_inproc_stop(f);
    tu_rmrf(f->dir);
    free(f->dir);
    assert_int_equal(tu_open_fds(), f->fds_before); /* nothing left open */
    free(f);
}

/* Step the hub's loop until the client has a reply (deadline 10 s). */
int tu_inproc_step_recv(struct tu_inproc *f, int timeout_ms, msgpack_object *reply)
{
    int64_t deadline = tu_now_ms() + timeout_ms;
    while (tu_now_ms() < deadline) {
        uv_run(&f->loop, UV_RUN_NOWAIT);
        if (tu_recv(&f->c, 2, reply) == 0)
            return 0;
    }
    return -1;
}

msgpack_object tu_inproc_call(struct tu_inproc *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *json;
    if (vasprintf(&json, fmt, ap) < 0)
        abort();
    va_end(ap);
    assert_int_equal(tu_send(&f->c, "%s", json), 0);
    free(json);
    msgpack_object r;
    if (tu_inproc_step_recv(f, 10000, &r) != 0)
        fail_msg("no reply from the hub within 10 s");
    return r;
}

void tu_inproc_asb(struct tu_inproc *f, const char *id, const char *victim, const char *when)
{
    msgpack_object r = tu_inproc_call(f,
                            "{\"op\":\"publish\",\"event\":{\"id\":\"%s\",\"type\":\"asb.report\","
                            "\"source\":\"council\",\"occurred_at\":\"%s\",\"victim\":\"%s\","
                            "\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"personal\"}}",
                            id, when, victim);
    assert_string_equal(tu_str(&r, "status"), "accepted");
}

/* Three ASB reports by one victim: one asb-case-review alert, 10 working
 * days to act. */
void tu_inproc_raise_case_review(struct tu_inproc *f, const char *victim)
{
    char id[64];
    for (int i = 0; i < 3; i++) {
        snprintf(id, sizeof id, "%s-asb-%d", victim, i);
        char when[32];
        snprintf(when, sizeof when, "2025-0%d-02T21:14:00Z", i + 1);
        tu_inproc_asb(f, id, victim, when);
    }
}

void tu_inproc_set_clock(struct tu_inproc *f, int64_t ms)
{
    hub_clock_set(&f->clock, ms);
    hub_server_clock_changed(f->srv);
}

/* Step the loop until replay finds an event of type, or fail. */
msgpack_object tu_inproc_wait_for_type(struct tu_inproc *f, const char *type)
{
    int64_t deadline = tu_now_ms() + 10000;
    while (tu_now_ms() < deadline) {
        msgpack_object r = tu_inproc_call(f, "{\"op\":\"replay\",\"types\":[\"%s\"]}", type);
        if (tu_get(&r, "events")->via.array.size > 0)
            return r;
    }
    fail_msg("no %s event appeared within 10 s", type);
    return (msgpack_object){0};
}

void tu_inproc_expect_bad(struct tu_inproc *f, const char *field, const char *json)
{
    msgpack_object r = tu_inproc_call(f, "%s", json);
    if (tu_bool(&r, "ok") != 0 || strcmp(tu_str(&r, "error.code"), "bad_request") != 0 ||
        strcmp(tu_str(&r, "error.field"), field) != 0)
        fail_msg("%s: expected bad_request on %s, got %s", json, field, tu_dump(&r));
}

void tu_warm_up_libuv_signals(void)
{
    uv_loop_t loop;
    uv_signal_t sig;
    uv_loop_init(&loop);
    uv_signal_init(&loop, &sig);
    uv_close((uv_handle_t *)&sig, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
}

