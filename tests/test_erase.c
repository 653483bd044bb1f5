/* test_erase: erasure and restriction on request (hub/erase.h, issue 17).
 * Unit tests of the record lines, the rewritten event and the verify
 * oracle; then end to end against the real csphubd over TCP: a dry run
 * that changes nothing, an erasure that keeps others' part, the log still
 * verified by csphubd --verify and by scripts/check-chain.py (and any
 * other change still caught by both), resends of erased events answered
 * duplicate, a restart, a restriction, and every bad input. */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <ftw.h>
#include <lmdb.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "erase.h"
#include "mpx.h"
#include "schema.h"

/* ---- unit: record lines -------------------------------------------------- */

static void fill(struct hub_erase_record *r, uint64_t seq)
{
    memset(r, 0, sizeof *r);
    r->seq = seq;
    r->received_ms = 1796483775477;
    r->occurred_ms = -5; /* before 1970: signed */
    for (int i = 0; i < 16; i++)
        r->link[i] = (unsigned char)(i * 17);
    for (int i = 0; i < 32; i++) {
        r->removed[i] = (unsigned char)(255 - i);
        r->kept[i] = (unsigned char)(i * 3);
    }
    snprintf(r->type, sizeof r->type, "da.incident");
    snprintf(r->source, sizeof r->source, "north police 100%%\n");
}

static void test_record_round_trip(void **state)
{
    (void)state;
    struct hub_erase_record a, b, got;
    fill(&a, 1);
    fill(&b, 12);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    hub_erase_record_format(&sb, &b);
    hub_erase_record_format(&sb, &a);
    /* one line each; spaces, '%' and the newline in the source escaped */
    assert_non_null(memmem(sb.data, sb.size, "north%20police%20100%25%0A\n", 27));
    assert_int_equal(hub_erase_record_find(sb.data, sb.size, 1, &got), 0);
    assert_int_equal(got.seq, 1);
    assert_int_equal(got.received_ms, a.received_ms);
    assert_int_equal(got.occurred_ms, -5);
    assert_memory_equal(got.link, a.link, 16);
    assert_memory_equal(got.removed, a.removed, 32);
    assert_memory_equal(got.kept, a.kept, 32);
    assert_string_equal(got.type, "da.incident");
    assert_string_equal(got.source, a.source);
    /* seq 12 is not seq 1 or 2 */
    assert_int_equal(hub_erase_record_find(sb.data, sb.size, 12, &got), 0);
    assert_int_equal(got.seq, 12);
    assert_int_equal(hub_erase_record_find(sb.data, sb.size, 2, &got), -1);
    /* a damaged line is not a record */
    sb.data[5] = 'x';
    assert_int_equal(hub_erase_record_find(sb.data, sb.size, 12, &got), -1);
    msgpack_sbuffer_destroy(&sb);
    const char *junk = "7 1 2 zz\n";
    assert_int_equal(hub_erase_record_find(junk, strlen(junk), 7, &got), -1);
}

/* ---- unit: the rewritten event ------------------------------------------- */

static struct hub_schemas *schemas(void)
{
    static const char *const panels[] = {"marac", "channel", "mappa"};
    struct hub_schemas *s = NULL;
    struct hub_error err;
    if (hub_schemas_load(&s, tu_env("CSPH_SCHEMAS", "schemas"), panels, 3, &err))
        fail_msg("schemas: %s", err.message);
    return s;
}

static void redact(struct hub_schemas *s, const char *json, const char *person,
                   msgpack_sbuffer *out, msgpack_zone *zone, msgpack_object *obj, int *others)
{
    msgpack_sbuffer in;
    msgpack_sbuffer_init(&in);
    tu_json_to_mp(&in, json);
    msgpack_object ev;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(in.data, in.size, &off, zone, &ev), MSGPACK_UNPACK_SUCCESS);
    int ti = hub_schemas_find(s, tu_str(&ev, "type"), strlen(tu_str(&ev, "type")));
    assert_true(ti >= 0);
    assert_int_equal(hub_erase_redact(s, ti, in.data, in.size, person, strlen(person), out,
                                      others),
                     0);
    off = 0;
    assert_int_equal(msgpack_unpack(out->data, out->size, &off, zone, obj),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, out->size);
    msgpack_sbuffer_destroy(&in);
}

#define INCIDENT(victim, perp)                                                 \
    "{\"id\":\"e1\",\"type\":\"da.incident\",\"source\":\"police\","        \
    "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"victim\":\"" victim "\","  \
    "\"perpetrator\":\"" perp "\",\"risk\":\"high\",\"location\":{\"lsoa\":\"E01000916\"}}"

static void test_redact_keeps_others(void **state)
{
    (void)state;
    struct hub_schemas *s = schemas();
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_sbuffer out;
    msgpack_object o;
    int others;

    /* The perpetrator asks: the victim's record stays, without them. */
    msgpack_sbuffer_init(&out);
    redact(s, INCIDENT("V-1", "P-9"), "P-9", &out, &zone, &o, &others);
    assert_int_equal(others, 1);
    assert_int_equal(o.via.map.size, 7);
    assert_null(tu_get(&o, "perpetrator"));
    assert_string_equal(tu_str(&o, "victim"), "V-1");
    assert_string_equal(tu_str(&o, "risk"), "high");
    assert_string_equal(tu_str(&o, "location.lsoa"), "E01000916");
    assert_null(memmem(out.data, out.size, "P-9", 3));
    msgpack_sbuffer_destroy(&out);

    /* Free text that stays loses the reference typed into it (schema kind
     * string, here the incident's reference): "[erased]" in its place. */
    msgpack_sbuffer_init(&out);
    redact(s,
           "{\"id\":\"e2\",\"type\":\"da.incident\",\"source\":\"police\","
           "\"occurred_at\":\"2025-03-01T21:14:00Z\",\"victim\":\"V-1\","
           "\"perpetrator\":\"P-9\",\"incident_ref\":\"re P-9: see P-90, V-1 and P-9.\"}",
           "P-9", &out, &zone, &o, &others);
    assert_int_equal(others, 1);
    assert_string_equal(tu_str(&o, "incident_ref"), "re [erased]: see P-90, V-1 and [erased].");
    assert_string_equal(tu_str(&o, "victim"), "V-1");
    msgpack_sbuffer_destroy(&out);

    /* Nobody else named: only id, type, occurred_at, source stay. */
    msgpack_sbuffer_init(&out);
    redact(s, INCIDENT("P-9", "P-9"), "P-9", &out, &zone, &o, &others);
    assert_int_equal(others, 0);
    assert_int_equal(o.via.map.size, 4);
    assert_string_equal(tu_str(&o, "id"), "e1");
    assert_string_equal(tu_str(&o, "type"), "da.incident");
    assert_string_equal(tu_str(&o, "source"), "police");
    assert_string_equal(tu_str(&o, "occurred_at"), "2025-03-01T21:14:00Z");
    assert_null(memmem(out.data, out.size, "E01000916", 9));
    msgpack_sbuffer_destroy(&out);

    /* A person not named: the event as it was (same bytes). */
    msgpack_sbuffer in;
    msgpack_sbuffer_init(&in);
    tu_json_to_mp(&in, INCIDENT("V-1", "P-9"));
    msgpack_sbuffer_init(&out);
    redact(s, INCIDENT("V-1", "P-9"), "Q-1", &out, &zone, &o, &others);
    assert_int_equal(others, 2);
    assert_int_equal(out.size, in.size);
    assert_memory_equal(out.data, in.data, in.size);
    msgpack_sbuffer_destroy(&out);
    msgpack_sbuffer_destroy(&in);

    /* Not a map */
    msgpack_sbuffer_init(&out);
    assert_int_equal(hub_erase_redact(s, 0, "\x93\x01\x02\x03", 4, "P", 1, &out, &others), -1);
    msgpack_sbuffer_destroy(&out);
    msgpack_zone_destroy(&zone);
    hub_schemas_destroy(&s);
}

/* ---- unit: the verify oracle --------------------------------------------- */

static void test_oracle(void **state)
{
    (void)state;
    struct hub_erase_record r;
    fill(&r, 3);
    snprintf(r.source, sizeof r.source, "police");
    msgpack_sbuffer lines, ev;
    msgpack_sbuffer_init(&lines);
    msgpack_sbuffer_init(&ev);
    hub_erase_record_format(&lines, &r);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &ev, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "request", 7);
    msgpack_pack_str_with_body(&pk, "erase", 5);
    msgpack_pack_str_with_body(&pk, "records", 7);
    msgpack_pack_str_with_body(&pk, lines.data, lines.size);
    struct hub_stored_event erasure = {.seq = 9, .type = "dp.erasure", .type_len = 10,
                                       .source = "hub", .source_len = 3, .bytes = ev.data,
                                       .len = ev.size};
    struct hub_stored_event red = {.seq = 3, .received_ms = r.received_ms,
                                   .occurred_ms = r.occurred_ms, .type = "da.incident",
                                   .type_len = 11, .source = "police", .source_len = 6};
    assert_int_equal(hub_erase_verify_redacted(NULL, &red, r.link, r.kept, &erasure), 1);
    unsigned char bad[32];
    memcpy(bad, r.kept, 32);
    bad[0] ^= 1; /* the kept bytes changed after the erasure */
    assert_int_equal(hub_erase_verify_redacted(NULL, &red, r.link, bad, &erasure), 0);
    assert_int_equal(hub_erase_verify_redacted(NULL, &red, bad, r.kept, &erasure), 0);
    red.received_ms++;
    assert_int_equal(hub_erase_verify_redacted(NULL, &red, r.link, r.kept, &erasure), 0);
    red.received_ms--;
    red.seq = 4; /* not listed */
    assert_int_equal(hub_erase_verify_redacted(NULL, &red, r.link, r.kept, &erasure), 0);
    red.seq = 3;
    erasure.source = "police"; /* only the hub writes erasures */
    erasure.source_len = 6;
    assert_int_equal(hub_erase_verify_redacted(NULL, &red, r.link, r.kept, &erasure), 0);
    msgpack_sbuffer_destroy(&lines);
    msgpack_sbuffer_destroy(&ev);
}

/* ---- end to end ------------------------------------------------------------ */


static int setup(void **state) { return tu_logonly_setup(state, "erase"); }
static int teardown(void **state) { return tu_logonly_teardown(state); }

static void stop(struct tu_logonly_fx *f)
{
    tu_client_close(&f->c);
    f->client_open = 0;
    assert_int_equal(tu_hub_stop(&f->hub), 0);
}

static void start(struct tu_logonly_fx *f)
{
    char data[600];
    snprintf(data, sizeof data, "%s", f->data);
    assert_int_equal(tu_hub_start(&f->hub, data, "--config", f->config, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    f->client_open = 1;
}

#define EV1 INCIDENT("V-1", "P-9")
#define EV2                                                                    \
    "{\"id\":\"e2\",\"type\":\"da.incident\",\"source\":\"police\","        \
    "\"occurred_at\":\"2025-03-02T21:14:00Z\",\"victim\":\"P-9\",\"risk\":\"medium\"}"
#define EV3                                                                    \
    "{\"id\":\"e3\",\"type\":\"da.incident\",\"source\":\"police\","        \
    "\"occurred_at\":\"2025-03-03T21:14:00Z\",\"victim\":\"X-3\"}"

static void expect_error(const msgpack_object *r, const char *code, const char *field,
                         const char *words)
{
    if (tu_bool(r, "ok") != 0 || !tu_str(r, "error.code") ||
        strcmp(tu_str(r, "error.code"), code) != 0 ||
        (field && (!tu_str(r, "error.field") || strcmp(tu_str(r, "error.field"), field))) ||
        !strstr(tu_str(r, "error.message") ? tu_str(r, "error.message") : "", words))
        fail_msg("want %s (field %s, '%s'), got %s", code, field ? field : "-", words,
                 tu_dump(r));
}

static void publish3(struct tu_logonly_fx *f)
{
    msgpack_object r = tu_call(&f->c, "{\"op\":\"publish\",\"events\":[%s,%s,%s]}", EV1, EV2, EV3);
    assert_int_equal(tu_bool(&r, "ok"), 1);
}

/* The whole log as one JSON-ish dump, for byte searches. */
static int replay_has(struct tu_logonly_fx *f, const char *needle)
{
    msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\",\"max\":1000}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    return strstr(tu_dump(&r), needle) != NULL;
}


static int check_chain(const char *dir, char *out, size_t n)
{
    char cmd[2000];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/scripts/check-chain.py %s 2>&1",
             tu_env("CSPH_SOURCE_DIR", "."), dir);
    return tu_run_cmd(out, n, cmd);
}

/* Flip one byte of seq's stored value (the hub stopped). */
static void tamper(const char *dir, uint64_t seq, size_t from_end)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    mdb_env_set_maxdbs(env, 32);
    mdb_env_set_mapsize(env, 1ull << 30);
    assert_int_equal(mdb_env_open(env, dir, 0, 0600), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "events", MDB_INTEGERKEY, &dbi), 0);
    MDB_val k = {8, &seq}, v;
    assert_int_equal(mdb_get(txn, dbi, &k, &v), 0);
    unsigned char *copy = malloc(v.mv_size);
    memcpy(copy, v.mv_data, v.mv_size);
    copy[v.mv_size - from_end] ^= 0x01;
    MDB_val nv = {v.mv_size, copy};
    assert_int_equal(mdb_put(txn, dbi, &k, &nv, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    free(copy);
}

static void test_erase_end_to_end(void **state)
{
    struct tu_logonly_fx *f = *state;
    publish3(f);

    /* A dry run lists and changes nothing. */
    msgpack_object r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"DPO "
                                      "case 1\",\"requested_by\":\"dpo-jane\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_bool(&r, "applied"), 0);
    assert_int_equal(tu_int(&r, "count"), 2);
    assert_int_equal(tu_int(&r, "events.0.seq"), 1);
    assert_string_equal(tu_str(&r, "events.0.action"), "redact");
    assert_int_equal(tu_int(&r, "events.1.seq"), 2);
    assert_string_equal(tu_str(&r, "events.1.action"), "remove");
    assert_null(tu_get(&r, "erasures"));
    assert_true(replay_has(f, "P-9"));

    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"DPO case 1\","
                       "\"requested_by\":\"dpo-jane\",\"apply\":true}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_bool(&r, "applied"), 1);
    assert_int_equal(tu_int(&r, "erasures.0"), 4);
    assert_false(replay_has(f, "P-9"));
    /* the victim's part of e1 stays, e2 keeps its envelope only */
    r = tu_call(&f->c, "{\"op\":\"replay\",\"max\":10}");
    assert_string_equal(tu_str(&r, "events.0.event.victim"), "V-1");
    assert_string_equal(tu_str(&r, "events.0.event.risk"), "high");
    assert_null(tu_get(&r, "events.1.event.risk"));
    assert_string_equal(tu_str(&r, "events.1.event.id"), "e2");
    assert_string_equal(tu_str(&r, "events.2.event.victim"), "X-3");
    /* the request, in the log, without the person */
    assert_string_equal(tu_str(&r, "events.3.event.type"), "dp.erasure");
    assert_string_equal(tu_str(&r, "events.3.event.by"), "os:dpo-jane");
    assert_string_equal(tu_str(&r, "events.3.event.role"), "none");
    assert_string_equal(tu_str(&r, "events.3.event.basis"), "art17");
    assert_string_equal(tu_str(&r, "events.3.event.reason"), "DPO case 1");
    assert_int_equal(tu_int(&r, "events.3.event.count"), 2);

    /* Resends of the erased events: duplicates with the original seq. */
    r = tu_call(&f->c, "{\"op\":\"publish\",\"events\":[%s,%s]}", EV1, EV2);
    assert_string_equal(tu_str(&r, "results.0.status"), "duplicate");
    assert_int_equal(tu_int(&r, "results.0.seq"), 1);
    assert_string_equal(tu_str(&r, "results.1.status"), "duplicate");
    assert_int_equal(tu_int(&r, "results.1.seq"), 2);
    assert_false(replay_has(f, "P-9"));
    /* the same id with other content is still a conflict */
    r = tu_call(&f->c, "{\"op\":\"publish\",\"event\":" INCIDENT("V-1", "P-8") "}");
    expect_error(&r, "id_conflict", "id", "different content");
    /* nothing left to erase */
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"again\","
                       "\"requested_by\":\"dpo-jane\",\"apply\":true}");
    expect_error(&r, "not_found", "person", "no event in the log names person 'P-9'");

    /* The log verifies, by the hub and by the auditor's own script. */
    stop(f);
    char out[8192], py[8192];
    int rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    if (rc != 0 || !strstr(out, "4 events, hash chain intact"))
        fail_msg("verify: %d %s", rc, out);
    rc = check_chain(f->data, py, sizeof py);
    if (rc != 0 || !strstr(py, "4 events, hash chain intact"))
        fail_msg("check-chain.py: %d %s", rc, py);
    char *tip = strstr(out, "last link"), *pytip = strstr(py, "last link");
    assert_non_null(tip);
    assert_non_null(pytip);
    assert_memory_equal(tip, pytip, 42);

    /* Re-derivation runs through: the event that kept only its envelope is
     * kept at its seq and evaluated by no rule, and said so. */
    char fresh[700];
    snprintf(fresh, sizeof fresh, "%s/fresh", f->tmp);
    rc = tu_hub_run_ms(out, sizeof out, 60000, "--rederive", f->data, "--data", fresh,
                       "--config", f->config, NULL);
    if (rc != 0 || !strstr(out, "re-derived 4 events") ||
        !strstr(out, "1 events could not be evaluated") || !strstr(out, "erasure seq 4"))
        fail_msg("rederive: %d %s", rc, out);

    /* A restart keeps all of it. */
    start(f);
    assert_false(replay_has(f, "P-9"));
    r = tu_call(&f->c, "{\"op\":\"publish\",\"event\":" EV2 "}");
    assert_string_equal(tu_str(&r, "status"), "duplicate");
    assert_int_equal(tu_int(&r, "seq"), 2);
    stop(f);

    /* Any other change is still caught, in a redacted event too. */
    tamper(f->data, 1, 1);
    rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    if (rc != 1 || !strstr(out, "ALTERED or broken at seq 1"))
        fail_msg("verify after a change to seq 1: %d %s", rc, out);
    rc = check_chain(f->data, py, sizeof py);
    if (rc != 1 || !strstr(py, "ALTERED or broken at seq 1"))
        fail_msg("check-chain.py after a change to seq 1: %d %s", rc, py);
    tamper(f->data, 1, 1); /* back */
    tamper(f->data, 3, 1); /* an event no erasure touched */
    rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    if (rc != 1 || !strstr(out, "at seq 3"))
        fail_msg("verify after a change to seq 3: %d %s", rc, out);
    rc = check_chain(f->data, py, sizeof py);
    if (rc != 1 || !strstr(py, "at seq 3"))
        fail_msg("check-chain.py after a change to seq 3: %d %s", rc, py);
    tamper(f->data, 3, 1);
    tamper(f->data, 4, 3); /* the erasure event itself */
    rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    assert_int_equal(rc, 1);
    rc = check_chain(f->data, py, sizeof py);
    assert_int_equal(rc, 1);
    tamper(f->data, 4, 3);
    rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    assert_int_equal(rc, 0);
    start(f);
}

/* da.incident for victim, id and day given: marac.escalation counts three
 * of them for one victim within a year. */
static void incident(struct tu_logonly_fx *f, const char *id, const char *victim, int day)
{
    msgpack_object r = tu_call(&f->c, "{\"op\":\"publish\",\"event\":{\"id\":\"%s\","
                                      "\"type\":\"da.incident\",\"source\":\"police\","
                                      "\"occurred_at\":\"2026-09-%02dT21:14:00Z\","
                                      "\"victim\":\"%s\",\"risk\":\"medium\"}}",
                               id, day, victim);
    if (tu_bool(&r, "ok") != 1)
        fail_msg("publish %s: %s", id, tu_dump(&r));
}

static int escalations(struct tu_logonly_fx *f, const char *victim)
{
    msgpack_object r = tu_call(&f->c, "{\"op\":\"alerts\",\"panel\":\"marac\",\"max\":100}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    int n = 0;
    char path[64];
    for (int i = 0; i < 100; i++) {
        snprintf(path, sizeof path, "alerts.%d.rule", i);
        const char *rule = tu_str(&r, path);
        if (!rule)
            break;
        snprintf(path, sizeof path, "alerts.%d.key.victim", i);
        const char *key = tu_str(&r, path);
        n += !strcmp(rule, "marac.escalation") && key && !strcmp(key, victim);
    }
    return n;
}

/* An erased person's events stop counting in the rule state at once: two
 * incidents, the erasure, then a third makes no "3 in 12 months" alert,
 * while the same three for someone else do (the rule would have fired). */
static void test_erased_events_stop_counting(void **state)
{
    struct tu_logonly_fx *f = *state;
    stop(f);
    char data[700];
    snprintf(data, sizeof data, "%s/rules-data", f->tmp);
    assert_int_equal(tu_hub_start(&f->hub, data, NULL), 0); /* the default rules */
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    f->client_open = 1;

    incident(f, "w-1", "V-ERASED", 1);
    incident(f, "w-2", "V-ERASED", 2);
    incident(f, "k-1", "V-KEPT", 1);
    incident(f, "k-2", "V-KEPT", 2);
    msgpack_object r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"V-ERASED\",\"reason\":"
                                      "\"DPO case 7\",\"requested_by\":\"dpo-jane\","
                                      "\"apply\":true}");
    if (tu_bool(&r, "ok") != 1 || tu_bool(&r, "applied") != 1)
        fail_msg("erase: %s", tu_dump(&r));
    incident(f, "w-3", "V-ERASED", 3);
    incident(f, "k-3", "V-KEPT", 3);
    assert_int_equal(escalations(f, "V-KEPT"), 1);
    assert_int_equal(escalations(f, "V-ERASED"), 0);
    /* ... and after a restart (the rule state is in index.mdb) */
    stop(f);
    assert_int_equal(tu_hub_start(&f->hub, data, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    f->client_open = 1;
    incident(f, "w-4", "V-ERASED", 4);
    assert_int_equal(escalations(f, "V-ERASED"), 0);
    incident(f, "w-5", "V-ERASED", 5);
    assert_int_equal(escalations(f, "V-ERASED"), 1); /* three new ones: w-3, w-4, w-5 */
}

static void test_restrict(void **state)
{
    struct tu_logonly_fx *f = *state;
    publish3(f);
    msgpack_object r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"kept "
                                      "as evidence\",\"requested_by\":\"dpo-jane\",\"restrict\":"
                                      "true,\"basis\":\"s47\",\"apply\":true}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_string_equal(tu_str(&r, "request"), "restrict");
    assert_string_equal(tu_str(&r, "events.0.action"), "restrict");
    assert_int_equal(tu_int(&r, "erasures.0"), 4);
    /* kept as it was; the request recorded */
    assert_true(replay_has(f, "P-9"));
    r = tu_call(&f->c, "{\"op\":\"replay\",\"after\":3}");
    assert_string_equal(tu_str(&r, "events.0.event.request"), "restrict");
    assert_string_equal(tu_str(&r, "events.0.event.basis"), "s47");
    assert_string_equal(tu_str(&r, "events.0.event.records"), "1\n2\n");
    /* restricted already */
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"again\","
                       "\"requested_by\":\"dpo-jane\",\"restrict\":true}");
    expect_error(&r, "not_found", "person", "restricted already");
    /* and erasable later */
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"now erase\","
                       "\"requested_by\":\"dpo-jane\",\"apply\":true}");
    assert_int_equal(tu_int(&r, "count"), 2);
    assert_false(replay_has(f, "P-9"));
}

/* Acknowledged, then killed: the journal makes the erasure again at the
 * next start, exactly (the log verifies, resends are duplicates). */
static void test_kill9_after_erasure(void **state)
{
    struct tu_logonly_fx *f = *state;
    publish3(f);
    msgpack_object r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"DPO "
                                      "case 4\",\"requested_by\":\"dpo-jane\",\"apply\":true}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    tu_client_close(&f->c);
    f->client_open = 0;
    tu_hub_kill9(&f->hub);
    start(f);
    assert_false(replay_has(f, "P-9"));
    r = tu_call(&f->c, "{\"op\":\"publish\",\"events\":[%s,%s]}", EV1, EV2);
    assert_string_equal(tu_str(&r, "results.0.status"), "duplicate");
    assert_string_equal(tu_str(&r, "results.1.status"), "duplicate");
    stop(f);
    char out[8192];
    int rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    if (rc != 0 || !strstr(out, "4 events, hash chain intact"))
        fail_msg("verify after kill -9: %d %s", rc, out);
    start(f);
}

/* A legal hold stops erasure until released; both are in the log, and
 * an erasure afterwards rewrites them too. */
static void test_legal_hold(void **state)
{
    struct tu_logonly_fx *f = *state;
    publish3(f);
    msgpack_object r = tu_call(&f->c, "{\"op\":\"hold\",\"person\":\"P-9\",\"reason\":\"DHR "
                                      "2026/03\",\"requested_by\":\"dpo-jane\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    int64_t hold = tu_int(&r, "seq");
    assert_int_equal(hold, 4);
    r = tu_call(&f->c, "{\"op\":\"hold\",\"person\":\"P-9\",\"reason\":\"again\","
                       "\"requested_by\":\"dpo-jane\"}");
    expect_error(&r, "conflict", "person", "under legal hold already (dp.hold seq 4)");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"DPO case 5\","
                       "\"requested_by\":\"dpo-jane\",\"apply\":true}");
    expect_error(&r, "conflict", "person", "under legal hold (dp.hold seq 4)");
    /* the dry run is refused the same way: nothing can be planned */
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"DPO case 5\","
                       "\"requested_by\":\"dpo-jane\"}");
    expect_error(&r, "conflict", "person", "release");
    assert_true(replay_has(f, "P-9"));
    /* held after a restart too */
    stop(f);
    start(f);
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"DPO case 5\","
                       "\"requested_by\":\"dpo-jane\",\"apply\":true}");
    expect_error(&r, "conflict", "person", "under legal hold");
    r = tu_call(&f->c, "{\"op\":\"hold\",\"person\":\"P-9\",\"reason\":\"DHR 2026/03 "
                       "done\",\"release\":true,\"requested_by\":\"dpo-jane\"}");
    assert_int_equal(tu_int(&r, "seq"), 5);
    r = tu_call(&f->c, "{\"op\":\"hold\",\"person\":\"P-9\",\"reason\":\"x\",\"release\":"
                       "true,\"requested_by\":\"dpo-jane\"}");
    expect_error(&r, "not_found", "person", "not under legal hold");
    r = tu_call(&f->c, "{\"op\":\"replay\",\"after\":3}");
    assert_string_equal(tu_str(&r, "events.0.event.type"), "dp.hold");
    assert_string_equal(tu_str(&r, "events.0.event.action"), "hold");
    assert_string_equal(tu_str(&r, "events.0.event.by"), "os:dpo-jane");
    assert_string_equal(tu_str(&r, "events.1.event.action"), "release");
    /* Released: the erasure takes the hold's own records with the rest. */
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"DPO case 5\","
                       "\"requested_by\":\"dpo-jane\",\"apply\":true}");
    assert_int_equal(tu_int(&r, "count"), 4);
    assert_string_equal(tu_str(&r, "events.2.type"), "dp.hold");
    assert_false(replay_has(f, "P-9"));
    /* bad input */
    r = tu_call(&f->c, "{\"op\":\"hold\",\"person\":\"X-3\",\"reason\":\"about X-3\","
                       "\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "reason", "names the person");
    r = tu_call(&f->c, "{\"op\":\"hold\",\"person\":\"X-3\",\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "reason", "'reason' is required");
    r = tu_call(&f->c, "{\"op\":\"hold\",\"person\":\"X-3\",\"reason\":\"r\",\"release\":1,"
                       "\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "release", "true or false");
    r = tu_call(&f->c, "{\"op\":\"hold\",\"person\":\"X-3\",\"reason\":\"r\"}");
    expect_error(&r, "bad_request", "requested_by", "required");
    stop(f);
    char out[8192];
    int rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    if (rc != 0 || !strstr(out, "intact"))
        fail_msg("verify: %d %s", rc, out);
    start(f);
}

static void test_bad_input(void **state)
{
    struct tu_logonly_fx *f = *state;
    publish3(f);
    msgpack_object r;
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "reason", "'reason' is required");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"\",\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "reason", "string of 1 to");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"about P-9\","
                       "\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "reason", "names the person");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"reason\":\"r\",\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "person", "'person' is required");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P 9\",\"reason\":\"r\",\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "person", "person reference");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"Q-1\",\"reason\":\"r\",\"requested_by\":\"u\"}");
    expect_error(&r, "not_found", "person", "no event in the log names person 'Q-1'");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"r\",\"basis\":\"gdpr\","
                       "\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "basis", "art17");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"r\",\"basis\":\"art17\","
                       "\"restrict\":true,\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "basis", "restriction's basis");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"r\",\"basis\":\"art18\","
                       "\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "basis", "erasure's basis");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"r\",\"apply\":1,"
                       "\"requested_by\":\"u\"}");
    expect_error(&r, "bad_request", "apply", "true or false");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"r\"}");
    expect_error(&r, "bad_request", "requested_by", "'requested_by' is required");
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"r\",\"colour\":1}");
    expect_error(&r, "bad_request", "colour", "takes no field");
    /* None of it changed anything, and a client may not write dp.erasure */
    assert_true(replay_has(f, "P-9"));
    r = tu_call(&f->c, "{\"op\":\"publish\",\"event\":{\"id\":\"x\",\"type\":\"dp.erasure\","
                       "\"source\":\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\"}}");
    assert_int_equal(tu_bool(&r, "ok"), 0);
}

/* ---- erased means unreadable --------------------------------------------- */

static void test_erased_means_unreadable(void **state)
{
    struct tu_logonly_fx *f = *state;
    /* Enough events to fill many pages, the person's among them (the last
     * event of a page too), and a rejection naming them. */
    for (int b = 0; b < 20; b++) {
        char batch[65536];
        size_t len = (size_t)snprintf(batch, sizeof batch, "{\"op\":\"publish\",\"events\":[");
        for (int i = 0; i < 50; i++)
            len += (size_t)snprintf(batch + len, sizeof batch - len,
                                    "%s{\"id\":\"f%d-%d\",\"type\":\"da.incident\",\"source\":"
                                    "\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
                                    "\"victim\":\"%s\",\"perpetrator\":\"Z-%d\"}",
                                    i ? "," : "", b, i, i % 7 == 3 ? "P-9" : "V-2", i);
        snprintf(batch + len, sizeof batch - len, "]}");
        msgpack_object r = tu_call(&f->c, "%s", batch);
        assert_int_equal(tu_bool(&r, "ok"), 1);
    }
    msgpack_object r = tu_call(&f->c, "{\"op\":\"publish\",\"event\":{\"id\":\"bad\",\"type\":"
                                      "\"da.incident\",\"source\":\"police\",\"occurred_at\":"
                                      "\"2025-03-01T21:14:00Z\",\"victim\":\"P-9\",\"colour\":1}}");
    assert_int_equal(tu_bool(&r, "ok"), 0);
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"DPO case 3\","
                       "\"requested_by\":\"dpo-jane\"}");
    assert_int_equal(tu_int(&r, "count"), 140);
    assert_int_equal(tu_int(&r, "rejections"), 1);
    r = tu_call(&f->c, "{\"op\":\"erase\",\"person\":\"P-9\",\"reason\":\"DPO case 3\","
                       "\"requested_by\":\"dpo-jane\",\"apply\":true}");
    assert_int_equal(tu_int(&r, "count"), 140);
    assert_int_equal(tu_int(&r, "rejections"), 1);
    assert_int_equal(tu_int(&r, "erasures.0"), 1001);
    assert_int_equal(tu_int(&r, "erasures.1"), 1002);
    r = tu_call(&f->c, "{\"op\":\"rejects\"}");
    assert_null(strstr(tu_dump(&r), "P-9"));
    assert_false(replay_has(f, "P-9"));

    /* The hub stopped: compact, then no file of the directory holds it. */
    stop(f);
    char out[8192];
    int rc = tu_hub_run_ms(out, sizeof out, 60000, "--compact", "--data", f->data, NULL);
    if (rc != 0 || !strstr(out, "compacted"))
        fail_msg("compact: %d %s", rc, out);
    const char *hit = tu_byte_search(f->data, "P-9");
    if (hit)
        fail_msg("P-9 is still in %s after --compact", hit);
    rc = tu_hub_run_ms(out, sizeof out, 20000, "--verify", "--data", f->data, NULL);
    if (rc != 0 || !strstr(out, "1002 events, hash chain intact"))
        fail_msg("verify after compact: %d %s", rc, out);
    char py[8192];
    rc = check_chain(f->data, py, sizeof py);
    if (rc != 0 || !strstr(py, "1002 events, hash chain intact"))
        fail_msg("check-chain.py after compact: %d %s", rc, py);

    /* The index rebuilt from the log: resends are still duplicates. */
    start(f);
    r = tu_call(&f->c, "{\"op\":\"publish\",\"event\":{\"id\":\"f0-3\",\"type\":"
                       "\"da.incident\",\"source\":\"police\",\"occurred_at\":"
                       "\"2025-03-01T21:14:00Z\",\"victim\":\"P-9\",\"perpetrator\":\"Z-3\"}}");
    assert_string_equal(tu_str(&r, "status"), "duplicate");
    assert_int_equal(tu_int(&r, "seq"), 4);
    assert_false(replay_has(f, "P-9"));
    /* A backup taken now, from the running hub (plain mdb_copy: free pages
     * and all), holds nothing of them either. */
    char backup[700], cmd[4096];
    snprintf(backup, sizeof backup, "%s/backup", f->tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p %s && mdb_copy %s %s 2>&1", backup, f->data, backup);
    assert_int_equal(tu_run_cmd(out, sizeof out, cmd), 0);
    hit = tu_byte_search(backup, "P-9");
    if (hit)
        fail_msg("P-9 is in the backup %s", hit);
    hit = tu_byte_search(f->data, "P-9");
    if (hit)
        fail_msg("P-9 is in %s after the restart", hit);
    /* Compaction refuses a running hub. */
    rc = tu_hub_run_ms(out, sizeof out, 20000, "--compact", "--data", f->data, NULL);
    if (rc != 2 || !strstr(out, "another hub (pid"))
        fail_msg("compact of a running hub: %d %s", rc, out);
}

/* csphub erase: the dry run, then --apply, as a DPO types them. */
static void test_cli(void **state)
{
    struct tu_logonly_fx *f = *state;
    publish3(f);
    char cmd[2000], out[8192];
    snprintf(cmd, sizeof cmd, "%s --hub %s erase --person P-9 --reason 'DPO case 7' 2>&1",
             tu_env("CSPH_CLI", "csphub"), f->hub.endpoint);
    assert_int_equal(tu_run_cmd(out, sizeof out, cmd), 0);
    if (!strstr(out, "Would apply erasure: 2 events naming person P-9") ||
        !strstr(out, "run again with --apply"))
        fail_msg("%s", out);
    snprintf(cmd, sizeof cmd, "%s --hub %s hold --person P-9 --reason 'DHR 2026/04' 2>&1",
             tu_env("CSPH_CLI", "csphub"), f->hub.endpoint);
    assert_int_equal(tu_run_cmd(out, sizeof out, cmd), 0);
    if (!strstr(out, "Legal hold put on person P-9: recorded in the log as dp.hold seq 4"))
        fail_msg("%s", out);
    snprintf(cmd, sizeof cmd, "%s --hub %s erase --person P-9 --reason 'DPO case 7' --apply 2>&1",
             tu_env("CSPH_CLI", "csphub"), f->hub.endpoint);
    assert_int_equal(tu_run_cmd(out, sizeof out, cmd), 3);
    assert_non_null(strstr(out, "conflict"));
    snprintf(cmd, sizeof cmd, "%s --hub %s hold --person P-9 --reason 'DHR 2026/04' --release 2>&1",
             tu_env("CSPH_CLI", "csphub"), f->hub.endpoint);
    assert_int_equal(tu_run_cmd(out, sizeof out, cmd), 0);
    assert_non_null(strstr(out, "Legal hold released for person P-9"));
    snprintf(cmd, sizeof cmd, "%s --hub %s erase --person P-9 --reason 'DPO case 7' --apply 2>&1",
             tu_env("CSPH_CLI", "csphub"), f->hub.endpoint);
    assert_int_equal(tu_run_cmd(out, sizeof out, cmd), 0);
    if (!strstr(out, "Applied erasure: 4 events") || !strstr(out, "dp.erasure seq 6"))
        fail_msg("%s", out);
    snprintf(cmd, sizeof cmd, "%s --hub %s erase --person P-9 2>&1",
             tu_env("CSPH_CLI", "csphub"), f->hub.endpoint);
    assert_int_equal(tu_run_cmd(out, sizeof out, cmd), 2);
    assert_non_null(strstr(out, "--reason"));
    snprintf(cmd, sizeof cmd, "%s --hub %s erase --person P-9 --reason x --apply 2>&1",
             tu_env("CSPH_CLI", "csphub"), f->hub.endpoint);
    assert_int_equal(tu_run_cmd(out, sizeof out, cmd), 3);
    assert_non_null(strstr(out, "not_found"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_round_trip),
        cmocka_unit_test(test_redact_keeps_others),
        cmocka_unit_test(test_oracle),
        cmocka_unit_test_setup_teardown(test_erase_end_to_end, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erased_events_stop_counting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restrict, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kill9_after_erasure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legal_hold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cli, setup, teardown),
        cmocka_unit_test_setup_teardown(test_erased_means_unreadable, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
