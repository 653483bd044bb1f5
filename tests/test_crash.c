/* test_crash: the durability promise of PROTOCOL.md 4 against a hub killed
 * with SIGKILL mid-stream. A DEALER client publishes 5,000 distinct events
 * keeping ~200 requests in flight; after ~2,000 acknowledgements the hub
 * is killed. Restarted on the same data directory, the log must hold every
 * acknowledged event once, at its acknowledged seq, byte-exact, with seqs
 * gap-free; resending everything must give only accepted or duplicate, and
 * the log must end with each event exactly once. */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define NEVENTS 5000
#define WINDOW 200
#define KILL_AFTER 2000

struct event {
    char id[32];
    unsigned char *bytes; /* the event's MessagePack, sent identically every time */
    size_t len;
    uint64_t acked_seq; /* 0 when never acknowledged */
    uint64_t log_seq;   /* where replay found it (0: not in the log) */
    int log_count;
};

struct fx {
    char *tmp;
    char data[600];
    struct tu_hub hub;
    struct event *ev;
};

/* ---- a deterministic mix of valid events ------------------------------ */

static const char *const sources[] = {"police", "council", "housing", "health"};
static const char *const panels[] = {"marac", "community-marac", "asb-case-review", "hate-crime",
                                     "iom", "sgv", "mace", "tasking", "channel", "mappa"};
static const char *const offences[] = {
    "burglary.residential", "burglary.business", "robbery", "vehicle.theft", "theft",
    "weapon.possession", "violence.injury", "violence.serious", "sexual", "drugs.supply",
    "drugs.possession", "criminal.damage", "arson", "public.order", "other"};
static const char *const kinds[] = {"criminal_exploitation", "sexual_exploitation",
                                    "radicalisation", "mental_health", "rough_sleeping",
                                    "hoarding", "other"};
static const char *const strands[] = {"race", "religion", "sexual_orientation", "disability",
                                      "transgender", "other"};
static const char *const risks[] = {"standard", "medium", "high"};
static const char *const asb_cats[] = {"personal", "nuisance", "environmental"};
static const char *const call_cats[] = {"asb", "domestic", "crime", "welfare", "other"};
static const char *const weapons[] = {"knife", "firearm", "other", "none"};
static const char *const injuries[] = {"none", "minor", "serious", "fatal"};
static const char *const statuses[] = {"open", "reviewed", "closed"};

static void make_event(int i, struct event *e, msgpack_sbuffer *sb)
{
    char json[1024], common[256];
    snprintf(e->id, sizeof e->id, "crash-%05d", i);
    snprintf(common, sizeof common,
             "\"id\":\"%s\",\"source\":\"%s\",\"occurred_at\":\"2025-%02d-%02dT%02d:%02d:%02dZ\"",
             e->id, sources[i % 4], 1 + i % 12, 1 + i % 28, i % 24, i % 60, (i * 7) % 60);
    int p = i % 97, q = (i * 31) % 89;
    switch (i % 10) {
    case 0:
        snprintf(json, sizeof json,
                 "{%s,\"type\":\"asb.report\",\"victim\":\"P-%d\",\"location\":{\"lsoa\":"
                 "\"E01%06d\"},\"category\":\"%s\",\"hate\":%s,\"summary\":\"report %d\"}",
                 common, p, i % 1000, asb_cats[i % 3], i % 2 ? "true" : "false", i);
        break;
    case 1:
        snprintf(json, sizeof json,
                 "{%s,\"type\":\"call\",\"caller\":\"P-%d\",\"category\":\"%s\","
                 "\"location\":{\"lat\":%.4f,\"lon\":%.4f}}",
                 common, p, call_cats[i % 5], 51.0 + (i % 100) / 1000.0, -0.1 - (i % 50) / 1000.0);
        break;
    case 2:
        snprintf(json, sizeof json,
                 "{%s,\"type\":\"da.incident\",\"victim\":\"P-%d\",\"perpetrator\":\"Q-%d\","
                 "\"dash_score\":%d,\"risk\":\"%s\",\"children_present\":%s}",
                 common, p, q, i % 28, risks[i % 3], i % 3 ? "false" : "true");
        break;
    case 3:
        snprintf(json, sizeof json,
                 "{%s,\"type\":\"arrest\",\"subject\":\"Q-%d\",\"age\":%d,\"offence\":\"%s\"}",
                 common, q, 10 + i % 100, offences[i % 15]);
        break;
    case 4:
        snprintf(json, sizeof json,
                 "{%s,\"type\":\"concern\",\"subject\":\"P-%d\",\"kind\":\"%s\","
                 "\"summary\":\"concern %d\"}",
                 common, p, kinds[i % 7], i);
        break;
    case 5:
        snprintf(json, sizeof json,
                 "{%s,\"type\":\"missing.episode\",\"subject\":\"C-%d\",\"age\":%d}", common, p,
                 i % 18);
        break;
    case 6:
        snprintf(json, sizeof json,
                 "{%s,\"type\":\"violence.incident\",\"victim\":\"P-%d\",\"victim_age\":%d,"
                 "\"weapon\":\"%s\",\"injury\":\"%s\",\"group\":%s,"
                 "\"location\":{\"ward\":\"Ward-%d\"}}",
                 common, p, i % 121, weapons[i % 4], injuries[(i / 4) % 4],
                 i % 5 ? "false" : "true", i % 20);
        break;
    case 7:
        snprintf(json, sizeof json,
                 "{%s,\"type\":\"hate.incident\",\"victim\":\"P-%d\",\"location\":{\"id\":"
                 "\"UPRN-%d\",\"description\":\"near %d\"},\"strand\":\"%s\"}",
                 common, p, i, i % 300, strands[i % 6]);
        break;
    case 8:
        snprintf(json, sizeof json,
                 "{%s,\"type\":\"referral\",\"subject\":\"P-%d\",\"panel\":\"%s\","
                 "\"reason\":\"referred %d\"}",
                 common, p, panels[i % 10], i);
        break;
    default:
        snprintf(json, sizeof json,
                 "{%s,\"type\":\"case.update\",\"subject\":\"P-%d\",\"panel\":\"%s\","
                 "\"status\":\"%s\",\"risk\":\"%s\"}",
                 common, p, panels[(i / 10) % 10], statuses[i % 3], risks[(i / 3) % 3]);
        break;
    }
    tu_json_to_mp(sb, json);
    e->bytes = malloc(sb->size);
    memcpy(e->bytes, sb->data, sb->size);
    e->len = sb->size;
}

/* ---- fixtures --------------------------------------------------------- */

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!(f->tmp = tu_hub_fresh(&f->hub, "crash", f->data, sizeof f->data))) {
        free(f);
        return -1;
    }
    f->ev = calloc(NEVENTS, sizeof *f->ev);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (int i = 0; i < NEVENTS; i++)
        make_event(i, &f->ev[i], &sb);
    msgpack_sbuffer_destroy(&sb);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc = f->hub.pid > 0 ? tu_hub_stop(&f->hub) : 0;
    tu_rmrf(f->tmp);
    free(f->tmp);
    for (int i = 0; i < NEVENTS; i++)
        free(f->ev[i].bytes);
    free(f->ev);
    free(f);
    if (rc != 0) {
        fprintf(stderr, "csphubd exited %d on SIGTERM (want 0)\n", rc);
        return -1;
    }
    return 0;
}

/* ---- the pipelined publisher ------------------------------------------- */

enum phase { FIRST, RESEND };

/* Publish every event once with WINDOW requests in flight (req = index).
 * FIRST: every reply must be `accepted`. RESEND: every reply must be
 * accepted or duplicate, a duplicate of an acknowledged or logged event at
 * that event's seq. Stops after stop_after replies (0: never), leaving the
 * rest in flight. Returns the number of replies handled. */
static int pump(struct fx *f, struct tu_client *c, enum phase phase, int stop_after)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    int next = 0, inflight = 0, got = 0, accepted = 0, duplicate = 0;
    while (got < NEVENTS) {
        while (inflight < WINDOW && next < NEVENTS) {
            tu_publish_request(&sb, f->ev[next].bytes, f->ev[next].len, next);
            assert_int_equal(tu_send_raw(c, sb.data, sb.size), 0);
            next++;
            inflight++;
        }
        msgpack_object r;
        if (tu_recv(c, 15000, &r) != 0)
            fail_msg("no reply within 15 s (%d replies so far, %d in flight)", got, inflight);
        inflight--;
        got++;
        int64_t i = tu_int(&r, "req");
        if (i < 0 || i >= NEVENTS)
            fail_msg("reply with an unknown req: %s", tu_dump(&r));
        struct event *e = &f->ev[i];
        const char *status = tu_str(&r, "status");
        int64_t seq = tu_int(&r, "seq");
        if (tu_bool(&r, "ok") != 1 || !status || seq <= 0)
            fail_msg("event %s: %s", e->id, tu_dump(&r));
        if (phase == FIRST) {
            if (strcmp(status, "accepted") != 0)
                fail_msg("event %s, first publish: %s", e->id, tu_dump(&r));
            e->acked_seq = (uint64_t)seq;
            accepted++;
        } else if (!strcmp(status, "duplicate")) {
            uint64_t want = e->acked_seq ? e->acked_seq : e->log_seq;
            if (!want || (uint64_t)seq != want)
                fail_msg("event %s: duplicate at seq %lld, but it was acked at %llu and found "
                         "in the log at %llu",
                         e->id, (long long)seq, (unsigned long long)e->acked_seq,
                         (unsigned long long)e->log_seq);
            e->acked_seq = want;
            duplicate++;
        } else if (!strcmp(status, "accepted")) {
            if (e->acked_seq || e->log_seq)
                fail_msg("event %s accepted again (seq %lld) though already in the log",
                         e->id, (long long)seq);
            e->acked_seq = (uint64_t)seq;
            accepted++;
        } else {
            fail_msg("event %s, resend: %s", e->id, tu_dump(&r));
        }
        if (stop_after && got >= stop_after)
            break;
    }
    msgpack_sbuffer_destroy(&sb);
    print_message("%s: %d accepted, %d duplicate%s\n", phase == FIRST ? "first" : "resend",
                  accepted, duplicate, got < NEVENTS ? ", then the hub goes down" : "");
    return got;
}

/* Replies that had already reached the client when the hub died are
 * acknowledgements too: take them without waiting. */
static int drain_acks(struct fx *f, struct tu_client *c)
{
    int n = 0;
    msgpack_object r;
    while (tu_recv(c, 0, &r) == 0) {
        int64_t i = tu_int(&r, "req");
        const char *status = tu_str(&r, "status");
        int64_t seq = tu_int(&r, "seq");
        if (i < 0 || i >= NEVENTS || !status || seq <= 0 ||
            (strcmp(status, "accepted") && strcmp(status, "duplicate")))
            fail_msg("late reply: %s", tu_dump(&r));
        struct event *e = &f->ev[i];
        if (e->acked_seq && e->acked_seq != (uint64_t)seq)
            fail_msg("event %s acknowledged at %llu and at %lld", e->id,
                     (unsigned long long)e->acked_seq, (long long)seq);
        e->acked_seq = (uint64_t)seq;
        n++;
    }
    return n;
}

/* Every acknowledged event is in the log exactly at its seq. */
static void check_acked_in_log(struct fx *f, uint64_t last)
{
    int in_log = 0, acked = 0;
    for (int i = 0; i < NEVENTS; i++) {
        struct event *e = &f->ev[i];
        in_log += e->log_count;
        acked += e->acked_seq != 0;
        if (e->acked_seq && e->log_seq != e->acked_seq)
            fail_msg("event %s was acknowledged at seq %llu but the log has it at %llu "
                     "(0: lost)",
                     e->id, (unsigned long long)e->acked_seq, (unsigned long long)e->log_seq);
    }
    assert_int_equal(in_log, last);
    print_message("after restart: %llu events in the log, all %d acknowledged in place\n",
                  (unsigned long long)last, acked);
}

/* SIGKILL the hub, collect the acks already received, restart it on the
 * same data directory and reconnect c. */
static void crash_and_restart(struct fx *f, struct tu_client *c)
{
    tu_hub_kill9(&f->hub);
    int late = drain_acks(f, c);
    if (late)
        print_message("%d acknowledgements read after the kill\n", late);
    tu_client_close(c);
    char data[600];
    snprintf(data, sizeof data, "%s", f->data);
    assert_int_equal(tu_hub_start(&f->hub, data, NULL), 0);
    tu_client_open(c, f->hub.endpoint, ZMQ_DEALER);
}

static int find_event(struct fx *f, const char *id)
{
    int i;
    if (sscanf(id, "crash-%d", &i) != 1 || i < 0 || i >= NEVENTS || strcmp(f->ev[i].id, id))
        return -1;
    return i;
}

/* Replay the whole log: seqs gap-free from 1, every event one of ours,
 * byte-exact, but for the hub's record of its rules (rules.loaded, seq 1).
 * Fills log_seq and log_count; returns how many of ours the log holds. */
static uint64_t scan_log(struct fx *f, struct tu_client *c)
{
    for (int i = 0; i < NEVENTS; i++) {
        f->ev[i].log_seq = 0;
        f->ev[i].log_count = 0;
    }
    uint64_t after = 0, expect = 1, hub = 0;
    for (int pages = 0; pages < 1000; pages++) {
        msgpack_object r =
            tu_call(c, "{\"op\":\"replay\",\"after\":%llu,\"max\":250}", (unsigned long long)after);
        if (tu_bool(&r, "ok") != 1)
            fail_msg("replay failed: %s", tu_dump(&r));
        const msgpack_object *evs = tu_get(&r, "events");
        assert_non_null(evs);
        /* Walk the raw reply once to find each event's bytes. */
        const char *p;
        size_t plen;
        assert_int_equal(tu_mp_span(c->raw, c->raw_len, "events", &p, &plen), 0);
        for (uint32_t k = 0; k < evs->via.array.size; k++) {
            const msgpack_object *e = &evs->via.array.ptr[k];
            int64_t seq = tu_int(e, "seq");
            if (seq != (int64_t)expect)
                fail_msg("the log has seq %lld where %llu was due: not gap-free", (long long)seq,
                         (unsigned long long)expect);
            expect++;
            const char *source = tu_str(e, "event.source");
            if (source && !strcmp(source, "hub")) {
                hub++; /* the hub's record of its rules (rules.loaded) */
                continue;
            }
            const msgpack_object *id = tu_get(e, "event.id");
            if (!id || id->type != MSGPACK_OBJECT_STR || id->via.str.size >= 32)
                fail_msg("seq %lld has no usable id: %s", (long long)seq, tu_dump(e));
            char ids[32];
            memcpy(ids, id->via.str.ptr, id->via.str.size);
            ids[id->via.str.size] = 0;
            int i = find_event(f, ids);
            if (i < 0)
                fail_msg("seq %lld holds an event nobody sent: %s", (long long)seq, ids);
            struct event *ev = &f->ev[i];
            ev->log_count++;
            if (ev->log_count > 1)
                fail_msg("event %s is in the log twice (seq %llu and %lld)", ids,
                         (unsigned long long)ev->log_seq, (long long)seq);
            ev->log_seq = (uint64_t)seq;
            char path[32];
            snprintf(path, sizeof path, "%u.event", k);
            const char *eb;
            size_t elen;
            if (tu_mp_span(p, plen, path, &eb, &elen) != 0)
                fail_msg("no bytes for seq %lld", (long long)seq);
            if (elen != ev->len || memcmp(eb, ev->bytes, elen) != 0)
                fail_msg("event %s (seq %lld) does not come back byte-exact", ids, (long long)seq);
        }
        if (tu_bool(&r, "end") == 1) {
            msgpack_object ping = tu_call(c, "{\"op\":\"ping\"}");
            if (tu_int(&ping, "last_seq") != (int64_t)(expect - 1))
                fail_msg("ping last_seq %lld but replay ends at %llu",
                         (long long)tu_int(&ping, "last_seq"), (unsigned long long)(expect - 1));
            return expect - 1 - hub;
        }
        after = (uint64_t)tu_int(&r, "next");
    }
    fail_msg("replay never ended");
    return 0;
}

static void test_kill9_mid_stream(void **state)
{
    struct fx *f = *state;
    struct tu_client c;
    tu_client_open(&c, f->hub.endpoint, ZMQ_DEALER);

    /* Crash 1: while publishing for the first time. */
    pump(f, &c, FIRST, KILL_AFTER);
    crash_and_restart(f, &c);
    uint64_t last = scan_log(f, &c);
    check_acked_in_log(f, last);
    assert_true(last >= KILL_AFTER);
    assert_true(last < NEVENTS);

    /* Crash 2: while resending (duplicates and new events mixed). */
    pump(f, &c, RESEND, (int)last + 1000);
    crash_and_restart(f, &c);
    last = scan_log(f, &c);
    check_acked_in_log(f, last);

    /* Resend everything: nothing rejected; the log ends with each once. */
    pump(f, &c, RESEND, 0);
    last = scan_log(f, &c);
    assert_int_equal(last, NEVENTS);
    for (int i = 0; i < NEVENTS; i++) {
        if (f->ev[i].log_count != 1)
            fail_msg("event %s is in the log %d times", f->ev[i].id, f->ev[i].log_count);
        if (f->ev[i].log_seq != f->ev[i].acked_seq)
            fail_msg("event %s acknowledged at %llu, logged at %llu", f->ev[i].id,
                     (unsigned long long)f->ev[i].acked_seq,
                     (unsigned long long)f->ev[i].log_seq);
    }
    msgpack_object r = tu_call(&c, "{\"op\":\"rejects\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(tu_get(&r, "rejects")->via.array.size, 0);
    r = tu_call(&c, "{\"op\":\"stats\"}");
    assert_int_equal(tu_int(&r, "counters.rejected_total"), 0);
    tu_client_close(&c);
}

/* SIGTERM with requests in flight: the hub finishes the batch in hand and
 * exits 0; whatever it acknowledged is in the log after a restart. */
static void test_sigterm_mid_stream(void **state)
{
    struct fx *f = *state;
    struct tu_client c;
    tu_client_open(&c, f->hub.endpoint, ZMQ_DEALER);
    pump(f, &c, FIRST, KILL_AFTER);
    /* Up to WINDOW requests are in flight now. */
    assert_int_equal(tu_hub_stop(&f->hub), 0);
    int late = drain_acks(f, &c);
    print_message("%d acknowledgements read after SIGTERM\n", late);
    tu_client_close(&c);
    char data[600];
    snprintf(data, sizeof data, "%s", f->data);
    assert_int_equal(tu_hub_start(&f->hub, data, NULL), 0);
    tu_client_open(&c, f->hub.endpoint, ZMQ_DEALER);
    uint64_t last = scan_log(f, &c);
    check_acked_in_log(f, last);
    pump(f, &c, RESEND, 0);
    assert_int_equal(scan_log(f, &c), NEVENTS);
    tu_client_close(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_kill9_mid_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigterm_mid_stream, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
