/* csphub-bench-agenda: how long the hub takes to draw up a meeting's agenda
 * (hub/meetings.h) for a panel with many open cases in a large log. Not a
 * test: it prints figures (bench/README.md).
 *
 * It builds a data directory through the hub's own core: --events events
 * appended to the log (raw: the log's size is what matters, not their
 * rules), then --cases open cases on the SGV panel, --actions incomplete
 * actions on them and a look-back index entry per --lookback event, each
 * written in batches as the live hub writes them; it reopens the directory
 * and draws the agenda --runs times in read transactions, as the `agenda`
 * op does. The agenda reads the case, action and look-back indexes only:
 * its time should not grow with the log. */
#define _GNU_SOURCE
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "actions.h"
#include "cases.h"
#include "config.h"
#include "core.h"
#include "meetings.h"
#include "pwstore.h"
#include "timefmt.h"

#define DAY CSPH_MS_PER_DAY
#define BATCH 10000

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void die(const char *what, const struct hub_error *e)
{
    fprintf(stderr, "csphub-bench-agenda: %s: %s\n", what, e ? e->message : "failed");
    exit(1);
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: csphub-bench-agenda [--events N] [--cases N] [--actions N] [--lookback N]\n"
            "                           [--runs N] [--dir DIR] [--keep]\n"
            "\n"
            "Draws up the SGV panel's agenda from the case and action indexes of a log\n"
            "of N events and prints how long it took.\n"
            "\n"
            "  --events N    events in the log (default 1000000; the issue's target: 10000000)\n"
            "  --cases N     open cases on the panel (default 2000)\n"
            "  --actions N   incomplete actions on them (default 4000)\n"
            "  --lookback N  youth-violence events in the look-back index (default 500)\n"
            "  --runs N      agendas drawn (default 20)\n"
            "  --dir DIR     build the data directory there (default a new one in $TMPDIR)\n"
            "  --keep        keep it afterwards (the default removes it)\n");
}

int main(int argc, char **argv)
{
    uint64_t events = 1000000, ncases = 2000, nactions = 4000, nlook = 500, runs = 20;
    const char *dir = NULL;
    int keep = 0;
    static const struct option opts[] = {{"events", required_argument, 0, 'e'},
                                         {"cases", required_argument, 0, 'c'},
                                         {"actions", required_argument, 0, 'a'},
                                         {"lookback", required_argument, 0, 'l'},
                                         {"runs", required_argument, 0, 'r'},
                                         {"dir", required_argument, 0, 'd'},
                                         {"keep", no_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) >= 0) {
        char *end = NULL;
        uint64_t v = optarg ? strtoull(optarg, &end, 10) : 0;
        if (optarg && o != 'd' && (*end || end == optarg)) {
            fprintf(stderr, "csphub-bench-agenda: '%s' is not a number\n", optarg);
            return 2;
        }
        switch (o) {
        case 'e': events = v; break;
        case 'c': ncases = v; break;
        case 'a': nactions = v; break;
        case 'l': nlook = v; break;
        case 'r': runs = v ? v : 1; break;
        case 'd': dir = optarg; break;
        case 'k': keep = 1; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!ncases) {
        fprintf(stderr, "csphub-bench-agenda: --cases must be at least 1\n");
        return 2;
    }
    char tmpl[512];
    if (!dir) {
        snprintf(tmpl, sizeof tmpl, "%s/csphub-agenda-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
        if (!mkdtemp(tmpl)) {
            perror("mkdtemp");
            return 1;
        }
        dir = tmpl;
    }

    struct hub_config cfg;
    struct hub_error err;
    hub_config_defaults(&cfg);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", dir);
    if (hub_config_load_panels(&cfg, &err))
        die("panels", &err);
    int sgv = hub_config_panel_find(&cfg, "sgv", 3);
    if (sgv < 0)
        die("the panels file has no sgv panel", NULL);
    struct hub_core_opts co = {.cfg = &cfg, .dir = dir, .map_size = 256ull << 30};
    struct hub_core *core;
    if (hub_core_open(&core, &co, &err))
        die("opening the data directory", &err);

    /* The log: filler events of the size of a typical report. */
    int64_t t0 = 1748854800000LL; /* 2 June 2025 09:00 UTC */
    int64_t tb = now_ns();
    char body[300], id[32];
    memset(body, 0x61, sizeof body);
    body[0] = (char)0x81; /* a map of one pair, the rest its padding */
    body[1] = (char)0xa1;
    body[2] = 'x';
    body[3] = (char)0xda;
    body[4] = (char)((sizeof body - 6) >> 8); /* str 16: its length, big-endian */
    body[5] = (char)((sizeof body - 6) & 0xff);
    for (uint64_t i = 0; i < events;) {
        if (hub_core_batch_begin(core, &err))
            die("a batch", &err);
        for (uint64_t k = 0; k < BATCH && i < events; k++, i++) {
            int n = snprintf(id, sizeof id, "f-%" PRIu64, i);
            struct hub_append a = {.source = "police", .source_len = 6, .id = id,
                                   .id_len = (size_t)n, .type = "call", .type_len = 4,
                                   .occurred_ms = t0 - (int64_t)(events - i) * 1000,
                                   .received_ms = t0, .bytes = body, .len = sizeof body};
            uint64_t seq;
            int dup;
            if (hub_core_append_raw(core, &a, &seq, &dup, &err))
                die("appending", &err);
        }
        if (hub_core_batch_commit(core, &err) || hub_core_settle_all(core, &err))
            die("committing", &err);
    }
    double log_s = (double)(now_ns() - tb) / 1e9;

    /* The panel's cases, actions and look-back entries, through the
     * modules the live hub writes them with. */
    tb = now_ns();
    struct hub_store *s = hub_core_store(core);
    if (hub_core_batch_begin(core, &err))
        die("a batch", &err);
    for (uint64_t i = 0; i < ncases; i++) {
        struct hub_case c = {.open = 1, .opened_seq = i + 1, .alert = i + 1,
                             .risk = (int)(i % 3)};
        snprintf(c.panel, sizeof c.panel, "sgv");
        snprintf(c.key, sizeof c.key, "Y-%06" PRIu64, i);
        /* Opened over the last two years; some heard, some due for review. */
        c.opened_ms = t0 - (int64_t)(i % 730) * DAY;
        c.heard_day = i % 4 ? 0 : hub_panelcfg_london_day(c.opened_ms + 20 * DAY);
        c.review_due_ms = t0 + (int64_t)(i % 60 - 10) * DAY;
        if (hub_cases_put(s, &c, 0, &err))
            die("writing a case", &err);
    }
    for (uint64_t i = 0; i < nactions; i++) {
        struct hub_action a = {.id = i + 1, .owner_kind = 'a', .status = CSPH_ACTION_OPEN,
                               .created_seq = i + 1, .created_ms = t0 - 30 * DAY,
                               .due_ms = t0 + (int64_t)(i % 40 - 20) * DAY};
        snprintf(a.panel, sizeof a.panel, "sgv");
        snprintf(a.key, sizeof a.key, "Y-%06" PRIu64, i % ncases);
        snprintf(a.what, sizeof a.what, "Youth worker visit %" PRIu64, i);
        snprintf(a.owner, sizeof a.owner, "%s", i % 2 ? "youth-justice" : "police");
        if (hub_actions_put(s, &a, NULL, &err))
            die("writing an action", &err);
    }
    struct hub_event_info info = {.type = "violence.incident", .type_len = 17};
    /* SGV lists violence by age (10-25): three in four name a young person */
    msgpack_sbuffer ages[2];
    msgpack_object agemap[2];
    msgpack_zone zone;
    msgpack_zone_init(&zone, 1024);
    for (int k = 0; k < 2; k++) {
        msgpack_sbuffer_init(&ages[k]);
        msgpack_packer pk;
        msgpack_packer_init(&pk, &ages[k], msgpack_sbuffer_write);
        msgpack_pack_map(&pk, 1);
        msgpack_pack_str(&pk, 10);
        msgpack_pack_str_body(&pk, "victim_age", 10);
        msgpack_pack_uint8(&pk, k ? 40 : 17);
        size_t off = 0;
        if (msgpack_unpack(ages[k].data, ages[k].size, &off, &zone, &agemap[k]) !=
            MSGPACK_UNPACK_SUCCESS)
            die("packing an age", NULL);
    }
    for (uint64_t i = 0; i < nlook; i++) {
        info.occurred_at_ms = t0 - (int64_t)(i % 56) * DAY;
        if (hub_meetings_index_event(&cfg, s, &info, &agemap[i % 4 == 3], events + i + 1, &err))
            die("writing the look-back index", &err);
    }
    for (int k = 0; k < 2; k++)
        msgpack_sbuffer_destroy(&ages[k]);
    msgpack_zone_destroy(&zone);
    if (hub_core_batch_commit(core, &err) || hub_core_settle_all(core, &err))
        die("committing", &err);
    double idx_s = (double)(now_ns() - tb) / 1e9;
    hub_core_close(&core);

    /* Reopened: the agenda as the op draws it, in a read transaction. */
    co.readonly = 1;
    if (hub_core_open(&core, &co, &err))
        die("reopening", &err);
    s = hub_core_store(core);
    int64_t day = hub_panelcfg_next_meeting(&cfg.panels[sgv].work, hub_panelcfg_london_day(t0));
    double *ms = calloc(runs, sizeof *ms);
    struct hub_agenda_counts counts = {0};
    size_t bytes = 0;
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    for (uint64_t r = 0; r < runs; r++) {
        MDB_txn *txn;
        msgpack_packer pk;
        sb.size = 0;
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        int64_t a0 = now_ns();
        if (hub_pw_read_begin(s, &txn, &err))
            die("a read transaction", &err);
        struct hub_agenda_req req = {.store = s, .txn = txn, .cfg = &cfg, .panel = sgv,
                                     .day = day, .now_ms = t0, .lookback = 1,
                                     .room = CSPH_REPLY_MAX - CSPH_REPLY_ENVELOPE};
        if (hub_meetings_agenda(&req, &pk, &counts, &err))
            die("drawing the agenda", &err);
        hub_pw_read_end(txn);
        ms[r] = (double)(now_ns() - a0) / 1e6;
        bytes = sb.size;
    }
    msgpack_sbuffer_destroy(&sb);
    hub_core_close(&core);
    for (uint64_t i = 1; i < runs; i++) /* insertion sort: a handful of runs */
        for (uint64_t j = i; j > 0 && ms[j] < ms[j - 1]; j--) {
            double t = ms[j];
            ms[j] = ms[j - 1];
            ms[j - 1] = t;
        }
    char date[16];
    hub_panelcfg_day_format(day, date);
    printf("== csphub-bench-agenda: the sgv agenda of %s ==\n", date);
    printf("  log: %" PRIu64 " events appended in %.1f s; indexes: %" PRIu64 " open cases, %" PRIu64
           " actions, %" PRIu64 " look-back events written in %.2f s\n",
           events, log_s, ncases, nactions, nlook, idx_s);
    printf("  agenda: %u new cases, %u reviews due, %u at 12 months, %u actions, %u look-back; "
           "%zu bytes packed%s\n",
           counts.new_cases, counts.reviews_due, counts.anniversaries, counts.actions,
           counts.lookback, bytes, counts.truncated ? " (truncated)" : "");
    printf("  drawn %" PRIu64 " times: min %.2f ms, median %.2f ms, max %.2f ms (target: under "
           "1,000 ms)\n",
           runs, ms[0], ms[runs / 2], ms[runs - 1]);
    free(ms);
    if (!keep) {
        if (nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
            fprintf(stderr, "csphub-bench-agenda: could not remove %s\n", dir);
    } else {
        printf("  data directory kept: %s\n", dir);
    }
    return 0;
}
