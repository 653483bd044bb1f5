/* test_ops.c: the table of ops (hub/ops.c) and the handlers it names
 * (hub/reads.c, hub/writes.c), without sockets: requests decoded from
 * JSON, run through the table against a core over a private temporary
 * directory, replies decoded and checked. The rights are PROTOCOL.md 8's
 * matrix; the audited reads PROTOCOL.md 7's. The same ops over the wire
 * are in test_e2e.c and test_security.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core.h"
#include "log.h"
#include "ops.h"
#include "testutil.h"
#include "writes.h"

struct fx {
    char *dir;
    struct hub_config cfg;
    struct hub_clock clock;
    struct hub_rules *rules;
    struct hub_ctx h;
    msgpack_zone zone;     /* decoded requests */
    msgpack_zone batch;    /* the batch's zone */
    msgpack_sbuffer req;   /* the request's bytes */
    msgpack_sbuffer reply; /* the reply's */
    msgpack_zone rzone;    /* the reply decoded */
    struct hub_request r;
    struct hub_req q;
    msgpack_packer pk;
    int fds;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct hub_error err;
    hub_log_min = CSPH_LOG_ERROR;
    f->fds = tu_open_fds();
    f->dir = tu_tmpdir("ops");
    tu_load_defaults(&f->cfg, &f->h.schemas, &f->rules);
    hub_clock_init_fixed(&f->clock, 1740000000000LL);
    struct hub_core_opts o = {.cfg = &f->cfg, .dir = f->dir, .map_size = 64ull << 20,
                              .schemas = f->h.schemas, .rules = f->rules};
    if (hub_core_open(&f->h.core, &o, &err))
        fail_msg("core: %s", err.message);
    f->h.cfg = &f->cfg;
    f->h.clock = &f->clock;
    msgpack_zone_init(&f->zone, 4096);
    msgpack_zone_init(&f->batch, 4096);
    msgpack_zone_init(&f->rzone, 4096);
    msgpack_zone_init(&f->h.scan_zone, 4096);
    msgpack_sbuffer_init(&f->h.items);
    msgpack_sbuffer_init(&f->req);
    msgpack_sbuffer_init(&f->reply);
    f->h.batch_zone = &f->batch;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hub_core_close(&f->h.core);
    hub_rules_destroy(&f->rules);
    hub_schemas_destroy(&f->h.schemas);
    msgpack_zone_destroy(&f->zone);
    msgpack_zone_destroy(&f->batch);
    msgpack_zone_destroy(&f->rzone);
    msgpack_zone_destroy(&f->h.scan_zone);
    msgpack_sbuffer_destroy(&f->h.items);
    msgpack_sbuffer_destroy(&f->req);
    msgpack_sbuffer_destroy(&f->reply);
    tu_rmrf(f->dir);
    free(f->dir);
    assert_int_equal(tu_open_fds(), f->fds);
    free(f);
    return 0;
}

/* Run the JSON request as who, through the table (a write or an audited
 * read inside a batch of its own, committed); *out is the reply, NIL
 * when the handler returned an error (q.e says which). */
static enum hub_err run(struct fx *f, const struct hub_identity *who, const char *json,
                        msgpack_object *out)
{
    struct hub_error err;
    msgpack_sbuffer_clear(&f->req);
    tu_json_to_mp(&f->req, json);
    msgpack_zone_clear(&f->zone);
    assert_int_equal(hub_wire_decode(f->req.data, f->req.size, &f->zone, 100, &f->r, &err),
                     CSPH_ERR_OK);
    const struct hub_op_row *row = hub_ops_row(f->r.op);
    assert_non_null(row);
    assert_int_equal(row->op, f->r.op);
    msgpack_sbuffer_clear(&f->reply);
    msgpack_packer_init(&f->pk, &f->reply, msgpack_sbuffer_write);
    memset(&f->q, 0, sizeof f->q);
    f->q = (struct hub_req){.r = &f->r, .who = who, .pk = &f->pk,
                            .now_ms = hub_clock_now_ms(&f->clock)};
    int in_batch = hub_ops_in_batch(row, who);
    if (in_batch)
        assert_int_equal(hub_core_batch_begin(f->h.core, &err), CSPH_ERR_OK);
    enum hub_err rc = row->fn(&f->h, &f->q);
    if (in_batch && hub_ops_audited(row, who))
        assert_int_equal(hub_writes_audit(&f->h, &f->q, f->req.data, f->req.size, rc != 0),
                         CSPH_ERR_OK);
    if (in_batch) {
        assert_int_equal(hub_core_batch_commit(f->h.core, &err), CSPH_ERR_OK);
        assert_int_equal(hub_core_settle_all(f->h.core, &err), CSPH_ERR_OK);
    }
    out->type = MSGPACK_OBJECT_NIL;
    if (rc == CSPH_ERR_OK) {
        size_t off = 0;
        assert_int_equal(msgpack_unpack(f->reply.data, f->reply.size, &off, &f->rzone, out),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(off, f->reply.size);
    } else {
        assert_int_equal(f->reply.size, 0); /* a read's error is the caller's to pack */
    }
    return rc;
}

#define REFERRAL(id)                                                           \
    "{\"op\":\"publish\",\"req\":7,\"event\":{\"id\":\"" id "\",\"type\":\"referral\","  \
    "\"source\":\"council\",\"occurred_at\":\"2025-03-01T21:14:00Z\",\"subject\":\"S-" id \
    "\",\"panel\":\"marac\",\"reason\":\"repeat victim\"}}"

/* PROTOCOL.md 8: who may call what. */
static void test_rights_and_kinds(void **state)
{
    (void)state;
    static const struct {
        enum hub_op op;
        int write;
        const char *may; /* roles: a agency, p panel, u auditor, d admin, s strategic,
                          * g gateway, o dpo */
        const char *audited;
    } want[] = {
        {CSPH_OP_PING, 0, "apudsgo", ""},    {CSPH_OP_STATS, 0, "ud", ""},
        {CSPH_OP_PUBLISH, 1, "a", ""},     {CSPH_OP_REPLAY, 0, "u", "pu"},
        {CSPH_OP_REJECTS, 0, "ud", "pud"}, {CSPH_OP_FETCH, 0, "pg", "pu"},
        {CSPH_OP_ACK, 1, "pg", ""},         {CSPH_OP_ALERTS, 0, "pu", "pu"},
        {CSPH_OP_ALERT_UPDATE, 1, "p", ""}, {CSPH_OP_EVIDENCE, 0, "pu", "pu"},
        {CSPH_OP_ALERT, 0, "pu", "pu"},     {CSPH_OP_PERSON, 0, "pu", "pu"},
        {CSPH_OP_REPORT, 0, "us", ""},     {CSPH_OP_ERASE, 1, "o", ""},
        {CSPH_OP_HOLD, 1, "o", ""},
        /* panel work (panelops.h) */
        {CSPH_OP_CASES, 0, "pu", "pu"},     {CSPH_OP_CASE, 0, "pu", "pu"},
        {CSPH_OP_CASE_CLOSE, 1, "p", ""},   {CSPH_OP_CASE_REVIEW, 1, "p", ""},
        {CSPH_OP_CASE_RISK, 1, "p", ""},    {CSPH_OP_CASE_HEAR, 1, "p", ""},
        {CSPH_OP_ACTIONS, 0, "apu", "pu"},  {CSPH_OP_ACTION_CREATE, 1, "p", ""},
        {CSPH_OP_ACTION_UPDATE, 1, "p", ""}, {CSPH_OP_AGENDA, 0, "pu", "pu"},
        {CSPH_OP_AGENDA_ISSUE, 1, "p", ""},
        /* subject access (sar.h) */
        {CSPH_OP_SAR, 1, "o", ""},
    };
    static const char role_letter[] = {'a', 'p', 'u', 'd', 's', 'g', 'o'};
    assert_int_equal(sizeof want / sizeof *want, CSPH_OP__COUNT);
    for (size_t i = 0; i < CSPH_OP__COUNT; i++) {
        const struct hub_op_row *row = hub_ops_row(want[i].op);
        assert_non_null(row);
        assert_int_equal(row->op, want[i].op);
        /* report alone is started by the server and computed off the loop */
        if (want[i].op != CSPH_OP_REPORT)
            assert_non_null(row->fn);
        assert_int_equal(row->kind == CSPH_OPK_WRITE, want[i].write);
        for (int role = CSPH_ROLE_AGENCY; role <= CSPH_ROLE_DPO; role++) {
            struct hub_identity id = {.role = (enum hub_role)role};
            int may = strchr(want[i].may, role_letter[role]) != NULL;
            int audited = strchr(want[i].audited, role_letter[role]) != NULL;
            if (hub_identity_may(&id, want[i].op) != may)
                fail_msg("op %s, role %s: may %d", hub_op_name(want[i].op),
                         hub_role_name(id.role), !may);
            assert_int_equal(hub_ops_audited(row, &id), audited);
            assert_int_equal(hub_ops_in_batch(row, &id), want[i].write || audited);
        }
        /* security none: nobody is audited; only writes run in the batch. */
        assert_int_equal(hub_ops_audited(row, NULL), 0);
        assert_int_equal(hub_ops_in_batch(row, NULL), want[i].write);
        /* Reads see what the journal acknowledged once it is in LMDB; a
         * fetch reads the batch's transaction, and sar reads like a read. */
        int committed = want[i].op == CSPH_OP_SAR || (!want[i].write && want[i].op != CSPH_OP_FETCH);
        if (hub_ops_reads_committed(row) != committed)
            fail_msg("%s: reads_committed %d, want %d", hub_op_name(want[i].op),
                     hub_ops_reads_committed(row), committed);
    }
    assert_null(hub_ops_row(CSPH_OP__COUNT));
}

static void test_publish_replay_ping(void **state)
{
    struct fx *f = *state;
    msgpack_object o;
    assert_int_equal(run(f, NULL, REFERRAL("p1"), &o), CSPH_ERR_OK);
    assert_int_equal(tu_int(&o, "req"), 7);
    assert_int_equal(tu_bool(&o, "ok"), 1);
    assert_string_equal(tu_str(&o, "status"), "accepted");
    assert_int_equal(tu_int(&o, "seq"), 1);
    assert_int_equal(f->h.c.accepted, 1);
    assert_int_equal(run(f, NULL, REFERRAL("p1"), &o), CSPH_ERR_OK);
    assert_string_equal(tu_str(&o, "status"), "duplicate");
    assert_int_equal(f->h.c.duplicate, 1);
    /* A batch with a rejected event: its error names events.1. */
    assert_int_equal(run(f, NULL,
                         "{\"op\":\"publish\",\"events\":[{\"id\":\"p2\",\"type\":\"referral\","
                         "\"source\":\"council\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
                         "\"subject\":\"S-2\",\"panel\":\"marac\",\"reason\":\"r\"},"
                         "{\"id\":\"p3\",\"type\":\"alert.status\",\"source\":\"council\"}]}",
                         &o),
                     CSPH_ERR_OK);
    assert_string_equal(tu_str(&o, "results.0.status"), "accepted");
    assert_string_equal(tu_str(&o, "results.1.status"), "rejected");
    assert_string_equal(tu_str(&o, "results.1.error.field"), "events.1.occurred_at");
    assert_int_equal(f->h.c.rejected_total, 1);
    assert_int_equal(run(f, NULL, "{\"op\":\"replay\",\"after\":0}", &o), CSPH_ERR_OK);
    assert_int_equal(f->q.count, 2);
    assert_int_equal(tu_int(&o, "events.1.seq"), 2);
    assert_string_equal(tu_str(&o, "events.0.event.id"), "p1");
    assert_int_equal(tu_bool(&o, "end"), 1);
    assert_int_equal(run(f, NULL, "{\"op\":\"replay\",\"types\":\"x\"}", &o),
                     CSPH_ERR_BAD_REQUEST);
    assert_string_equal(f->q.e.field, "types");
    assert_int_equal(run(f, NULL, "{\"op\":\"ping\",\"req\":\"a\"}", &o), CSPH_ERR_OK);
    assert_int_equal(tu_int(&o, "last_seq"), 2);
    assert_string_equal(tu_str(&o, "protocol"), CSPH_PROTOCOL_VERSION);
}

static void test_alerts_fetch_ack_update(void **state)
{
    struct fx *f = *state;
    msgpack_object o;
    struct hub_identity member = {.name = "coordinator", .role = CSPH_ROLE_PANEL};
    struct hub_identity other = {.name = "channel-lead", .role = CSPH_ROLE_PANEL};
    int marac = hub_config_panel_find(&f->cfg, "marac", 5);
    member.panels = 1ull << marac;
    other.panels = ~(1ull << marac);
    /* Nothing yet: a fetch with wait_ms asks to be held. */
    assert_int_equal(run(f, &member,
                         "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"c\","
                         "\"wait_ms\":500}",
                         &o),
                     CSPH_ERR_OK);
    assert_int_equal(f->q.hold, 1);
    assert_int_equal(f->q.panel, marac);
    assert_int_equal(f->q.wait_ms, 500);
    assert_int_equal(f->h.c.audit_records, 1); /* a panel member's read is recorded */
    assert_int_equal(run(f, NULL, REFERRAL("a1"), &o), CSPH_ERR_OK);
    assert_int_equal(run(f, &member, "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"c\"}",
                         &o),
                     CSPH_ERR_OK);
    assert_int_equal(f->q.hold, 0);
    assert_int_equal(f->q.count, 1);
    assert_int_equal(tu_int(&o, "alerts.0.id"), 1);
    assert_int_equal(tu_int(&o, "next"), 1);
    assert_int_equal(run(f, &member, "{\"op\":\"alerts\",\"panel\":\"marac\"}", &o),
                     CSPH_ERR_OK);
    assert_int_equal(f->q.count, 1);
    /* Another panel's member: the panel is forbidden, the alert unknown. */
    uint64_t forbidden = f->h.c.forbidden;
    assert_int_equal(run(f, &other, "{\"op\":\"alerts\",\"panel\":\"marac\"}", &o),
                     CSPH_ERR_FORBIDDEN);
    assert_string_equal(f->q.e.field, "panel");
    assert_int_equal(run(f, &other, "{\"op\":\"evidence\",\"id\":1}", &o), CSPH_ERR_NOT_FOUND);
    assert_int_equal(run(f, &other, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\"}",
                         &o),
                     CSPH_ERR_OK);
    assert_int_equal(tu_bool(&o, "ok"), 0);
    assert_string_equal(tu_str(&o, "error.code"), "not_found");
    assert_int_equal(f->h.c.forbidden, forbidden + 3);
    assert_int_equal(run(f, &member, "{\"op\":\"evidence\",\"id\":1}", &o), CSPH_ERR_OK);
    assert_int_equal(tu_int(&o, "total"), 1);
    assert_int_equal(tu_bool(&o, "end"), 1);
    /* Writes pack their own errors. */
    assert_int_equal(run(f, &member, "{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"c\"}",
                         &o),
                     CSPH_ERR_OK);
    assert_string_equal(tu_str(&o, "error.field"), "upto");
    assert_int_equal(run(f, &member,
                         "{\"op\":\"ack\",\"panel\":\"nope\",\"consumer\":\"c\",\"upto\":1}", &o),
                     CSPH_ERR_OK);
    assert_string_equal(tu_str(&o, "error.code"), "unknown_panel");
    assert_int_equal(run(f, &member,
                         "{\"op\":\"ack\",\"panel\":\"marac\",\"consumer\":\"c\",\"upto\":1}",
                         &o),
                     CSPH_ERR_OK);
    assert_int_equal(tu_bool(&o, "ok"), 1);
    assert_int_equal(run(f, &member,
                         "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\"}", &o),
                     CSPH_ERR_OK);
    assert_int_equal(tu_bool(&o, "ok"), 1);
    assert_true(tu_int(&o, "seq") > 1);
    assert_int_equal(f->h.c.alert_updates, 1);
    /* After the ack, the fetch starts past alert 1. */
    assert_int_equal(run(f, &member, "{\"op\":\"fetch\",\"panel\":\"marac\",\"consumer\":\"c\"}",
                         &o),
                     CSPH_ERR_OK);
    assert_int_equal(f->q.count, 0);
}

/* An agency publishes only its types, under its name; the hub's reserved
 * source is refused in every mode. */
static void test_publish_admission(void **state)
{
    struct fx *f = *state;
    msgpack_object o;
    struct hub_identity council = {.name = "council", .role = CSPH_ROLE_AGENCY, .ntypes = 1};
    snprintf(council.types[0], sizeof council.types[0], "referral");
    assert_int_equal(run(f, &council,
                         "{\"op\":\"publish\",\"event\":{\"id\":\"s1\",\"type\":\"referral\","
                         "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"subject\":\"S-1\","
                         "\"panel\":\"marac\",\"reason\":\"r\"}}",
                         &o),
                     CSPH_ERR_OK);
    assert_string_equal(tu_str(&o, "status"), "accepted");
    assert_int_equal(run(f, NULL, "{\"op\":\"replay\"}", &o), CSPH_ERR_OK);
    assert_string_equal(tu_str(&o, "events.0.event.source"), "council"); /* stamped */
    assert_int_equal(run(f, NULL,
                         "{\"op\":\"publish\",\"event\":{\"id\":\"s2\",\"type\":\"referral\","
                         "\"source\":\"hub\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
                         "\"subject\":\"S-1\",\"panel\":\"marac\",\"reason\":\"r\"}}",
                         &o),
                     CSPH_ERR_OK);
    assert_string_equal(tu_str(&o, "status"), "rejected");
    assert_string_equal(tu_str(&o, "error.field"), "source");
    assert_int_equal(f->h.c.rejected[CSPH_ERR_FORBIDDEN], 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rights_and_kinds),
        cmocka_unit_test_setup_teardown(test_publish_replay_ping, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alerts_fetch_ack_update, setup, teardown),
        cmocka_unit_test_setup_teardown(test_publish_admission, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
