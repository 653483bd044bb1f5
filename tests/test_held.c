/* test_held.c: the set of held fetches (hub/held.c): its bound, what each
 * take selects, frames moved in and out intact, and nothing left open or
 * allocated (the sanitizers' build checks the latter). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "held.h"

/* Hold a fetch whose one envelope frame holds tag, on panel, charged to
 * connection conn, expiring at expires. */
static enum hub_err hold(struct hub_held *h, const char *tag, int panel, void *conn,
                         uint64_t expires)
{
    zmq_msg_t env[1];
    struct hub_error e;
    zmq_msg_init_size(&env[0], strlen(tag));
    memcpy(zmq_msg_data(&env[0]), tag, strlen(tag));
    struct hub_ticket tk = {.conn = conn};
    struct hub_span req = {"\x07", 1};
    enum hub_err rc =
        hub_held_add(h, &tk, env, 1, &req, panel, "consumer", 8, 10, 0, expires, NULL, &e);
    if (rc == CSPH_ERR_OK)
        assert_int_equal(zmq_msg_size(&env[0]), 0); /* moved in */
    zmq_msg_close(&env[0]);
    return rc;
}

static void taken_is(struct hub_held_fetch *f, const char *tag)
{
    assert_int_equal(f->nenv, 1);
    assert_int_equal(zmq_msg_size(&f->env[0]), strlen(tag));
    assert_memory_equal(zmq_msg_data(&f->env[0]), tag, strlen(tag));
    assert_int_equal(f->req_len, 1);
    assert_int_equal(((char *)f->req)[0], 7);
    assert_string_equal(f->consumer, "consumer");
    assert_int_equal(f->max, 10);
    hub_held_fetch_free(f);
}

static void test_bound(void **state)
{
    (void)state;
    struct hub_held *h = NULL;
    struct hub_error e;
    assert_int_equal(hub_held_new(&h, 2, &e), CSPH_ERR_OK);
    assert_int_equal(hub_held_next_expiry(h), UINT64_MAX);
    assert_int_equal(hold(h, "a", 0, NULL, 100), CSPH_ERR_OK);
    assert_int_equal(hold(h, "b", 1, NULL, 50), CSPH_ERR_OK);
    assert_int_equal(hub_held_room(h, &e), CSPH_ERR_BUSY);
    assert_non_null(strstr(e.message, "limits.fetch_held_max"));
    assert_int_equal(hold(h, "c", 0, NULL, 10), CSPH_ERR_BUSY);
    assert_int_equal(hub_held_count(h), 2);
    assert_int_equal(hub_held_next_expiry(h), 50);
    hub_held_destroy(&h); /* frees what is still held */
    assert_null(h);
    hub_held_destroy(&h);
}

static void test_takes(void **state)
{
    (void)state;
    struct hub_held *h = NULL;
    struct hub_error e;
    struct hub_held_fetch f;
    int conn_a, conn_b;
    assert_int_equal(hub_held_new(&h, 8, &e), CSPH_ERR_OK);
    assert_int_equal(hold(h, "p0-late", 0, &conn_a, 900), CSPH_ERR_OK);
    assert_int_equal(hold(h, "p3-soon", 3, &conn_b, 100), CSPH_ERR_OK);
    assert_int_equal(hold(h, "p3-late", 3, &conn_a, 800), CSPH_ERR_OK);
    assert_int_equal(hold(h, "p5", 5, &conn_b, 700), CSPH_ERR_OK);
    /* Expired by 100: only that one. */
    assert_int_equal(hub_held_take_expired(h, 99, &f), 0);
    assert_int_equal(hub_held_take_expired(h, 100, &f), 1);
    taken_is(&f, "p3-soon");
    assert_int_equal(hub_held_take_expired(h, 100, &f), 0);
    /* Panels 3 and 4: the late one on 3. */
    assert_int_equal(hub_held_take_panels(h, 1ull << 3 | 1ull << 4, &f), 1);
    taken_is(&f, "p3-late");
    assert_int_equal(hub_held_take_panels(h, 1ull << 3 | 1ull << 4, &f), 0);
    assert_int_equal(hub_held_take_panels(h, 0, &f), 0);
    /* Connection b's. */
    assert_int_equal(hub_held_take_conn(h, (void *)&conn_b, &f), 1);
    taken_is(&f, "p5");
    assert_int_equal(hub_held_take_conn(h, (void *)&conn_b, &f), 0);
    assert_int_equal(hub_held_next_expiry(h), 900);
    /* The newest (undoing a hold), then nothing. */
    assert_int_equal(hold(h, "newest", 1, &conn_a, 10), CSPH_ERR_OK);
    assert_int_equal(hub_held_take_newest(h, &f), 1);
    taken_is(&f, "newest");
    assert_int_equal(hub_held_take_newest(h, &f), 1);
    taken_is(&f, "p0-late");
    assert_int_equal(hub_held_take_newest(h, &f), 0);
    assert_int_equal(hub_held_count(h), 0);
    hub_held_destroy(&h);
}

/* An audited fetch's record (who, the request body) is owned by the set
 * while held, moves out with the fetch, and is freed with it; a refused
 * hold leaves it the caller's. */
static void test_audit_moves(void **state)
{
    (void)state;
    struct hub_held *h = NULL;
    struct hub_error e;
    struct hub_identity who = {.name = "marac-coord", .role = CSPH_ROLE_PANEL};
    assert_int_equal(hub_held_new(&h, 1, &e), CSPH_ERR_OK);
    struct hub_held_audit *a = hub_held_audit_new(&who, "\x81\xa2op", 4);
    assert_non_null(a);
    zmq_msg_t env[1];
    zmq_msg_init_size(&env[0], 1);
    struct hub_ticket tk = {0};
    struct hub_span req = {"\x07", 1};
    assert_int_equal(hub_held_add(h, &tk, env, 1, &req, 0, "c", 1, 10, 0, 100, a, &e),
                     CSPH_ERR_OK);
    struct hub_held_audit *b = hub_held_audit_new(&who, NULL, 0);
    assert_int_equal(hub_held_add(h, &tk, env, 1, &req, 0, "c", 1, 10, 0, 100, b, &e),
                     CSPH_ERR_BUSY);
    hub_held_audit_free(b); /* refused: still the caller's */
    zmq_msg_close(&env[0]);
    struct hub_held_fetch f;
    assert_int_equal(hub_held_take_newest(h, &f), 1);
    assert_ptr_equal(f.audit, a);
    assert_string_equal(f.audit->who.name, "marac-coord");
    assert_int_equal(f.audit->body_len, 4);
    assert_memory_equal(f.audit->body, "\x81\xa2op", 4);
    hub_held_fetch_free(&f);
    assert_null(f.audit);
    hub_held_destroy(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_takes),
        cmocka_unit_test(test_audit_moves),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
