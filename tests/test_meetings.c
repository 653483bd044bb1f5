/* meetings: the agenda drawn from the case, action, look-back and
 * acceptance indexes of a store of its own (no daemon): which case lands
 * in which list for a given meeting, the previous meeting of a calendar
 * and of an ad hoc panel, and a reply's room running out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "actions.h"
#include "cases.h"
#include "config.h"
#include "meetings.h"
#include "mpx.h"
#include "pwstore.h"
#include "store.h"
#include "timefmt.h"

#define DAY CSPH_MS_PER_DAY

struct fx {
    char *dir;
    struct hub_store *s;
    struct hub_config cfg;
    int sgv, adhoc;
};

static int64_t at(const char *iso)
{
    int64_t ms;
    assert_int_equal(csph_time_parse(iso, strlen(iso), &ms, NULL), 0);
    return ms;
}

static int64_t day_of(const char *date)
{
    int64_t d;
    assert_int_equal(hub_panelcfg_day_parse(date, strlen(date), &d), 0);
    return d;
}

static void put_case(struct fx *f, const char *panel, const char *key, const char *opened,
                     const char *heard, int64_t review_due_ms)
{
    struct hub_error err;
    struct hub_case c = {.open = 1, .opened_ms = at(opened), .risk = 1,
                         .review_due_ms = review_due_ms};
    snprintf(c.panel, sizeof c.panel, "%s", panel);
    snprintf(c.key, sizeof c.key, "%s", key);
    c.heard_day = heard ? day_of(heard) : 0;
    assert_int_equal(hub_cases_put(f->s, &c, 0, &err), CSPH_ERR_OK);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct hub_error err;
    f->dir = tu_tmpdir("meetings");
    hub_config_defaults(&f->cfg);
    snprintf(f->cfg.panels_file, sizeof f->cfg.panels_file, "%s/config/panels.yaml",
             CSPH_SOURCE_DIR);
    assert_int_equal(hub_config_load_panels(&f->cfg, &err), CSPH_ERR_OK);
    f->sgv = hub_config_panel_find(&f->cfg, "sgv", 3);
    f->adhoc = hub_config_panel_find(&f->cfg, "asb-case-review", 15);
    if (hub_store_open(&f->s, f->dir, 64u << 20, &err))
        fail_msg("store: %s", err.message);
    assert_int_equal(hub_store_write_begin(f->s, &err), CSPH_ERR_OK);
    /* SGV meets on the third Thursday: 15 May, 19 June 2025. */
    put_case(f, "sgv", "Y-new", "2025-06-02T10:00:00Z", NULL, 0);
    put_case(f, "sgv", "Y-meetingday", "2025-06-19T08:00:00Z", NULL, 0);
    put_case(f, "sgv", "Y-old", "2025-03-01T10:00:00Z", "2025-05-15", at("2025-06-10T09:00:00Z"));
    put_case(f, "sgv", "Y-year", "2024-05-01T10:00:00Z", "2024-06-01", at("2025-09-01T09:00:00Z"));
    put_case(f, "asb-case-review", "V-1", "2025-06-10T10:00:00Z", "2025-06-05", 0);
    struct hub_action a = {.id = 1, .owner_kind = 'a', .due_ms = at("2025-06-12T00:00:00Z")};
    snprintf(a.panel, sizeof a.panel, "sgv");
    snprintf(a.key, sizeof a.key, "Y-old");
    snprintf(a.what, sizeof a.what, "visit");
    snprintf(a.owner, sizeof a.owner, "police");
    assert_int_equal(hub_actions_put(f->s, &a, NULL, &err), CSPH_ERR_OK);
    struct hub_event_info info = {.type = "violence.incident", .type_len = 17};
    info.occurred_at_ms = at("2025-06-01T20:00:00Z");
    /* SGV lists violence by age (10-25): a 16-year-old's; not a 40-year-old's */
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    tu_json_to_mp(&sb, "{\"victim_age\":40,\"perpetrator_age\":16}");
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    msgpack_object young, adult;
    size_t off = 0;
    assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &zone, &young), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(hub_meetings_index_event(&f->cfg, f->s, &info, &young, 40, &err), CSPH_ERR_OK);
    msgpack_sbuffer_clear(&sb);
    tu_json_to_mp(&sb, "{\"victim_age\":40}");
    off = 0;
    assert_int_equal(msgpack_unpack(sb.data, sb.size, &off, &zone, &adult), MSGPACK_UNPACK_SUCCESS);
    info.occurred_at_ms = at("2025-06-02T20:00:00Z");
    assert_int_equal(hub_meetings_index_event(&f->cfg, f->s, &info, &adult, 43, &err), CSPH_ERR_OK);
    msgpack_zone_destroy(&zone);
    msgpack_sbuffer_destroy(&sb);
    info.occurred_at_ms = at("2025-06-01T20:00:00Z");
    info.occurred_at_ms = at("2025-05-01T20:00:00Z"); /* before the 28 days */
    assert_int_equal(hub_meetings_index_event(&f->cfg, f->s, &info, NULL, 41, &err), CSPH_ERR_OK);
    info.type = "arrest"; /* not a look-back type */
    info.type_len = 6;
    info.occurred_at_ms = at("2025-06-01T20:00:00Z");
    assert_int_equal(hub_meetings_index_event(&f->cfg, f->s, &info, NULL, 42, &err), CSPH_ERR_OK);
    assert_int_equal(hub_meetings_index_accepted(f->s, "sgv", 7, at("2025-06-02T10:00:00Z"),
                                                 "Y-new", &err), CSPH_ERR_OK);
    assert_int_equal(hub_meetings_index_accepted(f->s, "sgv", 3, at("2025-05-02T10:00:00Z"),
                                                 "Y-old", &err), CSPH_ERR_OK);
    assert_int_equal(hub_store_write_commit(f->s, &err), CSPH_ERR_OK);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    hub_store_close(&f->s);
    tu_rmrf(f->dir);
    free(f->dir);
    free(f);
    return 0;
}

/* Draw the agenda of panel on date into a fresh zone; *agenda its map. */
static void draw(struct fx *f, int panel, const char *date, size_t room, msgpack_object *agenda,
                 msgpack_zone *z, msgpack_sbuffer *sb, struct hub_agenda_counts *counts)
{
    struct hub_error err;
    MDB_txn *txn;
    msgpack_packer pk;
    msgpack_sbuffer_init(sb);
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    assert_int_equal(hub_pw_read_begin(f->s, &txn, &err), CSPH_ERR_OK);
    struct hub_agenda_req a = {.store = f->s, .txn = txn, .cfg = &f->cfg, .panel = panel,
                               .day = day_of(date), .lookback = 1, .room = room};
    assert_int_equal(hub_meetings_agenda(&a, &pk, counts, &err), CSPH_ERR_OK);
    hub_pw_read_end(txn);
    size_t off = 0;
    msgpack_zone_init(z, 4096);
    assert_int_equal(msgpack_unpack(sb->data, sb->size, &off, z, agenda), MSGPACK_UNPACK_SUCCESS);
}

static void test_sgv_in_june(void **state)
{
    struct fx *f = *state;
    msgpack_object a;
    msgpack_zone z;
    msgpack_sbuffer sb;
    struct hub_agenda_counts n;
    draw(f, f->sgv, "2025-06-19", 1 << 20, &a, &z, &sb, &n);
    assert_string_equal(tu_str(&a, "previous"), "2025-05-15");
    /* opened since 15 May, the meeting's own day included */
    assert_int_equal(n.new_cases, 2);
    assert_string_equal(tu_str(&a, "new_cases.0.key"), "Y-meetingday");
    assert_string_equal(tu_str(&a, "new_cases.1.key"), "Y-new");
    assert_int_equal(n.reviews_due, 1); /* Y-old, due 10 June */
    assert_string_equal(tu_str(&a, "reviews_due.0.key"), "Y-old");
    assert_int_equal(n.anniversaries, 1); /* Y-year, heard 1 June 2024 */
    assert_int_equal(n.actions, 1);
    assert_int_equal(n.lookback, 1); /* 1 June, not 1 May, not the arrest, not the adult's */
    assert_int_equal(tu_int(&a, "lookback.0.seq"), 40);
    assert_int_equal(tu_int(&a, "lookback.0.ages.1"), 16);
    assert_int_equal(n.accepted, 1); /* alert 7 on 2 June, not alert 3 in May */
    assert_int_equal(tu_int(&a, "accepted.0.alert"), 7);
    assert_int_equal(tu_bool(&a, "truncated"), 0);
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
}

static void test_room_runs_out(void **state)
{
    struct fx *f = *state;
    msgpack_object a;
    msgpack_zone z;
    msgpack_sbuffer sb;
    struct hub_agenda_counts n;
    draw(f, f->sgv, "2025-06-19", 64, &a, &z, &sb, &n);
    /* every list keeps its length; what did not fit is nil */
    assert_int_equal(tu_get(&a, "new_cases")->via.array.size, 2);
    assert_int_equal(tu_get(&a, "new_cases.1")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(tu_bool(&a, "truncated"), 1);
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
}

static void test_adhoc_previous_is_the_last_hearing(void **state)
{
    struct fx *f = *state;
    msgpack_object a;
    msgpack_zone z;
    msgpack_sbuffer sb;
    struct hub_agenda_counts n;
    draw(f, f->adhoc, "2025-06-20", 1 << 20, &a, &z, &sb, &n);
    assert_string_equal(tu_str(&a, "previous"), "2025-06-05");
    assert_int_equal(n.new_cases, 1); /* opened 10 June */
    assert_int_equal(n.lookback, 0);  /* no look-back configured */
    msgpack_zone_destroy(&z);
    msgpack_sbuffer_destroy(&sb);
    struct hub_error err;
    int64_t d;
    assert_int_equal(hub_meetings_day(&f->cfg, f->adhoc, NULL, 0, at("2025-06-02T10:00:00Z"), &d,
                                      &err),
                     CSPH_ERR_BAD_REQUEST);
    assert_string_equal(err.field, "meeting");
    assert_int_equal(hub_meetings_day(&f->cfg, f->sgv, NULL, 0, at("2025-06-02T10:00:00Z"), &d,
                                      &err),
                     CSPH_ERR_OK);
    assert_int_equal(d, day_of("2025-06-19"));
    assert_int_equal(hub_meetings_day(&f->cfg, f->sgv, "2025-06-31", 10, 0, &d, &err),
                     CSPH_ERR_BAD_REQUEST);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sgv_in_june, setup, teardown),
        cmocka_unit_test_setup_teardown(test_room_runs_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adhoc_previous_is_the_last_hearing, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
