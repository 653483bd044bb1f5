/* test_late: the guarantee of docs/rules.md "Late events" against the real
 * daemon. One feed of domestic abuse incidents (the default pack's
 * marac.escalation: 3 within 365 days) is published in several random
 * arrival orders, in batches, with kill -9 and a restart between some of
 * them (in two of the orders the index removed before the restart, so it
 * is rebuilt from the log as after a power cut); for every order, every victim whose incidents reach 3 within 365
 * days (taken in occurred_at order) has an escalation alert, and no other
 * victim has one. */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define VICTIMS 12
#define PER_VICTIM 5
#define EVENTS (VICTIMS * PER_VICTIM)
#define DAY_MS 86400000LL

struct incident {
    int victim;
    int day; /* days after 2024-01-01 */
};

static uint64_t rng_state;

static uint32_t rnd(void)
{
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* Victims' incidents spread so that some reach 3 within 365 days and some
 * do not: victim v's days are drawn from a span that grows with v. */
static void make_feed(struct incident *f)
{
    for (int v = 0; v < VICTIMS; v++)
        for (int i = 0; i < PER_VICTIM; i++)
            f[v * PER_VICTIM + i] = (struct incident){v, (int)(rnd() % (unsigned)(200 + 250 * v))};
}

/* The reference: does victim v have 3 incidents within 365 days? */
static int reaches(const struct incident *f, int v)
{
    for (int i = 0; i < EVENTS; i++) {
        if (f[i].victim != v)
            continue;
        int n = 0;
        for (int j = 0; j < EVENTS; j++)
            n += f[j].victim == v && f[j].day >= f[i].day && f[j].day - f[i].day < 365;
        if (n >= 3)
            return 1;
    }
    return 0;
}

static void shuffle(int *order, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rnd() % (unsigned)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

static void publish_batch(struct tu_client *c, const struct incident *f, const int *order, int from,
                          int to, int run)
{
    char buf[16384];
    size_t off = (size_t)snprintf(buf, sizeof buf, "{\"op\":\"publish\",\"events\":[");
    for (int k = from; k < to; k++) {
        const struct incident *x = &f[order[k]];
        int64_t ms = 1704067200000LL + (int64_t)x->day * DAY_MS + order[k] * 60000LL;
        char when[32];
        time_t secs = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        off += (size_t)snprintf(buf + off, sizeof buf - off,
                                "%s{\"id\":\"r%d-e%d\",\"type\":\"da.incident\",\"source\":\"police\","
                                "\"occurred_at\":\"%s\",\"victim\":\"V-%d\",\"dash_score\":2}",
                                k > from ? "," : "", run, order[k], when, x->victim);
    }
    snprintf(buf + off, sizeof buf - off, "]}");
    msgpack_object r = tu_call(c, "%s", buf);
    const msgpack_object *res = tu_get(&r, "results");
    if (!res || res->type != MSGPACK_OBJECT_ARRAY || res->via.array.size != (uint32_t)(to - from))
        fail_msg("publish: %s", tu_dump(&r));
    for (uint32_t i = 0; i < res->via.array.size; i++)
        assert_string_equal(tu_str(&res->via.array.ptr[i], "status"), "accepted");
}

/* Which victims have a marac.escalation alert. */
static void escalated(struct tu_client *c, int *has)
{
    memset(has, 0, VICTIMS * sizeof *has);
    uint64_t after = 0;
    for (;;) {
        msgpack_object r = tu_call(c, "{\"op\":\"alerts\",\"panel\":\"marac\",\"after\":%llu,"
                                      "\"max\":1000}", (unsigned long long)after);
        const msgpack_object *a = tu_get(&r, "alerts");
        assert_non_null(a);
        for (uint32_t i = 0; i < a->via.array.size; i++) {
            const msgpack_object *al = &a->via.array.ptr[i];
            int v;
            if (!strcmp(tu_str(al, "rule"), "marac.escalation") &&
                sscanf(tu_str(al, "key.victim"), "V-%d", &v) == 1 && v >= 0 && v < VICTIMS)
                has[v] = 1;
        }
        if (tu_bool(&r, "end"))
            break;
        after = (uint64_t)tu_int(&r, "next");
    }
}

static void test_arrival_orders_with_kill9(void **state)
{
    (void)state;
    struct incident feed[EVENTS];
    int want[VICTIMS], got[VICTIMS], reached = 0;
    rng_state = 20261205;
    make_feed(feed);
    for (int v = 0; v < VICTIMS; v++)
        reached += want[v] = reaches(feed, v);
    assert_true(reached > 2 && reached < VICTIMS); /* the feed tells the two apart */
    for (int run = 0; run < 4; run++) {
        int order[EVENTS];
        for (int i = 0; i < EVENTS; i++)
            order[i] = i;
        if (run > 0) /* run 0 in the order of the feed, the others shuffled */
            shuffle(order, EVENTS);
        char data[600];
        struct tu_hub hub;
        struct tu_client c;
        char *tmp = tu_hub_fresh(&hub, "late", data, sizeof data);
        assert_non_null(tmp);
        tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
        for (int from = 0, batch = 0; from < EVENTS; batch++) {
            int to = from + 1 + (int)(rnd() % 9);
            if (to > EVENTS)
                to = EVENTS;
            publish_batch(&c, feed, order, from, to, run);
            from = to;
            if (batch % 3 == 1) { /* acknowledged is durable: kill -9, start again */
                tu_client_close(&c);
                tu_hub_kill9(&hub);
                int filled = tu_log_count(&hub, "filling their windows");
                if (run >= 2) {
                    /* As after a power cut: the index is rebuilt from the
                     * log, windows included, in one pass (no second pass
                     * filling them: every event went through these rules). */
                    const char *files[] = {"index.mdb", "index.mdb-lock", "index.state"};
                    for (size_t i = 0; i < 3; i++) {
                        char path[700];
                        snprintf(path, sizeof path, "%s/%s", data, files[i]);
                        unlink(path);
                    }
                }
                assert_int_equal(tu_hub_restart(&hub, NULL), 0);
                tu_client_open(&c, hub.endpoint, ZMQ_DEALER);
                if (run >= 2) {
                    assert_true(tu_log_count(&hub, "rebuilding the index from the log") > 0);
                    assert_int_equal(tu_log_count(&hub, "filling their windows"), filled);
                }
            }
        }
        escalated(&c, got);
        for (int v = 0; v < VICTIMS; v++)
            if (want[v] != got[v])
                fail_msg("run %d: victim V-%d %s 3 incidents within 365 days but %s an "
                         "escalation alert", run, v, want[v] ? "reaches" : "never reaches",
                         got[v] ? "has" : "has no");
        tu_client_close(&c);
        assert_int_equal(tu_hub_stop(&hub), 0);
        tu_rmrf(tmp);
        free(tmp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arrival_orders_with_kill9),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
