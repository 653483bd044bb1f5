/* test_heldrel.c: held fetches answered (hub/heldrel.c) over a core in a
 * private directory (testutil's core fixture): a referral raises a marac
 * alert; fetches taken out of the held set are answered with it. An
 * audited one is recorded (audit.access then audit.returned) in a batch
 * committed before the call returns; one that returns nothing records
 * nothing and commits nothing; one not audited is answered without a
 * batch; a failed commit (mdb_txn_commit wrapped at link time,
 * tests/CMakeLists.txt) answers every fetch with the error and leaves the
 * log as it was. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lmdb.h>

#include "heldrel.h"
#include "testutil.h"
#include "testutil_failcommit.h"

#define T0 1740000000000LL

struct fx {
    struct tu_corefx *core;
    struct hub_ctx h;
    struct hub_identity who;
    struct hub_heldrel v[2];
    msgpack_zone zone;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    void *cs;
    if (!f || tu_corefx_setup(&cs, "heldrel", 0))
        return -1;
    f->core = cs;
    f->h.cfg = &f->core->cfg;
    f->h.core = f->core->core;
    f->h.schemas = f->core->schemas;
    msgpack_sbuffer_init(&f->h.items);
    snprintf(f->who.name, sizeof f->who.name, "marac-coord");
    f->who.role = CSPH_ROLE_PANEL;
    msgpack_zone_init(&f->zone, 4096);
    /* one marac alert */
    struct hub_error err;
    uint64_t seq;
    assert_int_equal(hub_core_batch_begin(f->h.core, &err), CSPH_ERR_OK);
    assert_int_equal(tu_corefx_referral(f->core, "1", T0, &seq, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_batch_commit(f->h.core, &err), CSPH_ERR_OK);
    assert_int_equal(hub_core_settle_all(f->h.core, &err), CSPH_ERR_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    for (int i = 0; i < 2; i++) {
        hub_held_fetch_free(&f->v[i].f);
        msgpack_sbuffer_destroy(&f->v[i].reply);
    }
    msgpack_sbuffer_destroy(&f->h.items);
    msgpack_zone_destroy(&f->zone);
    void *cs = f->core;
    free(f);
    tu_fail_commits = 0;
    return tu_corefx_teardown(&cs);
}

/* Fetch i: consumer `consumer` on panel, audited when audited, its request
 * body {op: fetch, panel, consumer, wait_ms} and req 7+i. */
static void held(struct fx *f, int i, const char *panel, const char *consumer, int audited)
{
    struct hub_heldrel *x = &f->v[i];
    memset(&x->f, 0, sizeof x->f);
    msgpack_sbuffer_init(&x->reply);
    x->f.panel = hub_config_panel_find(&f->core->cfg, panel, strlen(panel));
    assert_true(x->f.panel >= 0);
    snprintf(x->f.consumer, sizeof x->f.consumer, "%s", consumer);
    x->f.consumer_len = strlen(consumer);
    x->f.max = 10;
    x->f.req = malloc(1);
    ((char *)x->f.req)[0] = (char)(7 + i);
    x->f.req_len = 1;
    if (audited) {
        char json[200];
        snprintf(json, sizeof json,
                 "{\"op\":\"fetch\",\"panel\":\"%s\",\"consumer\":\"%s\",\"wait_ms\":30000}",
                 panel, consumer);
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        tu_json_to_mp(&sb, json);
        x->f.audit = hub_held_audit_new(&f->who, sb.data, sb.size);
        assert_non_null(x->f.audit);
        msgpack_sbuffer_destroy(&sb);
    }
}

static msgpack_object reply(struct fx *f, int i)
{
    msgpack_object o;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(f->v[i].reply.data, f->v[i].reply.size, &off, &f->zone, &o),
                     MSGPACK_UNPACK_SUCCESS);
    return o;
}

static uint64_t last_seq(struct fx *f)
{
    struct hub_error err;
    assert_int_equal(hub_core_flush(f->h.core, &err), CSPH_ERR_OK);
    return hub_store_last_seq(hub_core_store(f->h.core));
}

struct typed {
    char type[64];
    char text[4096];
};

static int keep(void *ctx, const struct hub_stored_event *ev)
{
    struct typed *t = ctx;
    snprintf(t->type, sizeof t->type, "%.*s", (int)ev->type_len, ev->type);
    char *json = NULL;
    if (csph_msgpack_to_json(ev->bytes, ev->len, 0, &json) == 0)
        snprintf(t->text, sizeof t->text, "%s", json);
    free(json);
    return 0;
}

static struct typed event(struct fx *f, uint64_t seq)
{
    struct typed t = {0};
    struct hub_error err;
    assert_int_equal(hub_store_get(hub_core_store(f->h.core), seq, keep, &t, &err), CSPH_ERR_OK);
    return t;
}

/* An audited fetch and one that is not, answered together: both get the
 * alert; the audited one's read is in the log, committed. */
static void test_audited_recorded(void **state)
{
    struct fx *f = *state;
    uint64_t before = last_seq(f);
    held(f, 0, "marac", "coord", 1);
    held(f, 1, "marac", "console", 0);
    struct hub_heldrel_out out;
    struct hub_error err;
    assert_int_equal(hub_heldrel_answer(&f->h, f->v, 2, T0 + 1000, &out, &err), CSPH_ERR_OK);
    assert_int_equal(out.recorded, 1);
    assert_int_equal(out.committed, 1);
    assert_int_equal(f->h.c.audit_records, 1);
    assert_int_equal(f->h.c.commits, 1);
    for (int i = 0; i < 2; i++) {
        msgpack_object r = reply(f, i);
        assert_int_equal(tu_bool(&r, "ok"), 1);
        assert_int_equal(tu_int(&r, "req"), 7 + i);
        assert_int_equal(tu_get(&r, "alerts")->via.array.size, 1);
        assert_int_equal(tu_int(&r, "alerts.0.id"), 1);
    }
    assert_int_equal(last_seq(f), before + 2);
    struct typed a = event(f, before + 1), b = event(f, before + 2);
    assert_string_equal(a.type, "audit.access");
    if (!strstr(a.text, "\"identity\":\"marac-coord\"") || !strstr(a.text, "\"role\":\"panel\"") ||
        !strstr(a.text, "\"op\":\"fetch\"") || !strstr(a.text, "\"returned\":1") ||
        !strstr(a.text, "wait_ms"))
        fail_msg("%s", a.text);
    assert_string_equal(b.type, "audit.returned");
    char want[64];
    snprintf(want, sizeof want, "\"access\":%llu", (unsigned long long)before + 1);
    if (!strstr(b.text, want) || !strstr(b.text, "\"alerts\":\"1\""))
        fail_msg("%s", b.text);
}

/* A release with nothing to return (a panel without alerts) records
 * nothing and commits nothing: the hold's record stands for it. */
static void test_nothing_returned(void **state)
{
    struct fx *f = *state;
    uint64_t before = last_seq(f);
    held(f, 0, "channel", "coord", 1);
    struct hub_heldrel_out out;
    struct hub_error err;
    assert_int_equal(hub_heldrel_answer(&f->h, f->v, 1, T0, &out, &err), CSPH_ERR_OK);
    assert_int_equal(out.recorded, 0);
    assert_int_equal(out.committed, 0);
    msgpack_object r = reply(f, 0);
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_get(&r, "alerts")->via.array.size, 0);
    assert_int_equal(last_seq(f), before);
    assert_int_equal(hub_core_batch_open(f->h.core), 0);
}

/* The record's commit fails: no fetch gets the alert (the one not audited
 * neither: the batch's replies all go or none), each gets the error with
 * its own req; nothing of the batch is in the log. */
static void test_failed_commit_sends_no_alert(void **state)
{
    struct fx *f = *state;
    uint64_t before = last_seq(f);
    held(f, 0, "marac", "coord", 1);
    held(f, 1, "marac", "console", 0);
    tu_fail_env = hub_store_env(hub_core_store(f->h.core));
    tu_fail_commits = 1;
    struct hub_heldrel_out out;
    struct hub_error err;
    assert_int_equal(hub_heldrel_answer(&f->h, f->v, 2, T0, &out, &err), CSPH_ERR_INTERNAL);
    assert_int_equal(tu_fail_commits, 0);
    assert_int_equal(out.recorded, 0);
    assert_int_equal(f->h.c.audit_records, 0);
    for (int i = 0; i < 2; i++) {
        msgpack_object r = reply(f, i);
        assert_int_equal(tu_bool(&r, "ok"), 0);
        assert_int_equal(tu_int(&r, "req"), 7 + i);
        assert_string_equal(tu_str(&r, "error.code"), "internal");
        assert_non_null(strstr(tu_str(&r, "error.message"), "could not record this read"));
        assert_null(tu_get(&r, "alerts"));
    }
    assert_int_equal(hub_core_batch_open(f->h.core), 0);
    assert_int_equal(last_seq(f), before);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_audited_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nothing_returned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_sends_no_alert, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
