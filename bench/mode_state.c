/* --state-size: the rule state's size after N and 2N events (over a span and
 * twice it), read from the stopped hub's LMDB. */
#define _GNU_SOURCE
#include <inttypes.h>
#include <limits.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bench.h"
#include "corpus.h"
#include "figures.h"
#include "publish.h"
#include "hubctl.h"
#include "dbsize.h"
#include "modes.h"

static const char *const state_dbs[] = {"rules.state", "rules.meta", "events", "dedup", "alerts"};

#define NSTATE_DBS 5

int run_state(const char *nonce)
{
    static struct staterun runs[2];
    void *ctx = zmq_ctx_new();
    double span = opt.span_days ? opt.span_days : 730;
    int done = 0;
    for (int i = 0; i < 2 && !g.interrupted; i++) {
        struct staterun *sr = &runs[i];
        sr->events = opt.events * (uint64_t)(i + 1);
        sr->span_days = span * (i + 1);
        struct feed f = feed_for(FEED_STATE, sr->span_days);
        static struct corpus corpus;
        static struct requests reqs;
        int64_t tg = now_ns();
        corpus_build(&corpus, sr->events, opt.seed + (uint64_t)i, nonce, &f);
        requests_build(&reqs, &corpus, opt.batch);
        sr->gen_s = secs(now_ns() - tg);
        sr->first_ms = corpus.first_ms;
        sr->last_ms = corpus.last_ms;
        printf("%s", i ? "\n" : "");
        describe_corpus(&corpus, &reqs, sr->gen_s, nonce);
        sr->hr.label = i ? "run 2: 2x events, 2x span" : "run 1";
        hubrun_start(&sr->hr, ctx, 0);
        struct phase ph = {0};
        hubrun_publish(&sr->hr, ctx, &corpus, &reqs, &ph);
        hubrun_stop(&sr->hr, 1);
        char data[PATH_MAX + 8];
        snprintf(data, sizeof data, "%s/data", sr->hr.hub.dir);
        lmdb_state(data, sr);
        forget_tmpdir(sr->hr.hub.dir);
        const struct phase_result *H = &sr->hr.res;
        printf("  published %" PRIu64 " events in %.1f s (%.0f events/s), %" PRIu64
               " alerts raised; hub stopped, its LMDB read\n",
               H->accepted, H->elapsed_s, H->events_per_s, sr->hr.d_alerts_raised);
        if (H->failed || H->accepted + H->duplicate < sr->events)
            printf("  WARNING: only %" PRIu64 " of %" PRIu64 " events accepted (%" PRIu64
                   " not accepted%s)\n",
                   H->accepted, sr->events, H->failed,
                   H->requests_sent < reqs.n ? "; stopped by --duration-limit or ^C" : "");
        print_memory(&sr->hr.hub, NULL);
        corpus_free(&corpus);
        msgpack_sbuffer_destroy(&reqs.buf);
        free(reqs.off);
        done++;
    }

    printf("\n== csphub-bench --state-size: the default rules, %u people; run 1 %" PRIu64
           " events over %.0f days, run 2 %" PRIu64 " over %.0f days ==\n",
           opt.people ? opt.people : 100000, runs[0].events, runs[0].span_days, runs[1].events,
           runs[1].span_days);
    printf("   (LMDB read-only after the hub stopped: entries and bytes = page size x (branch + "
           "leaf + overflow pages))\n\n");
    printf("  %-16s %12s %11s %12s %11s %9s\n", "database", "entries 1", "MiB 1", "entries 2",
           "MiB 2", "bytes 2/1");
    /* The ones asked about first, then the rest. */
    const char *order[MAX_DBSTAT + NSTATE_DBS];
    int norder = 0;
    for (int i = 0; i < NSTATE_DBS; i++)
        order[norder++] = state_dbs[i];
    for (int r = 0; r < done; r++)
        for (int i = 0; i < runs[r].ndb; i++) {
            int seen = 0;
            for (int j = 0; j < norder; j++)
                seen |= !strcmp(order[j], runs[r].db[i].name);
            if (!seen && norder < MAX_DBSTAT + NSTATE_DBS)
                order[norder++] = runs[r].db[i].name;
        }
    uint64_t rules_bytes[2] = {0, 0}, rules_entries[2] = {0, 0};
    for (int j = 0; j < norder; j++) {
        const struct dbstat *a = find_db(&runs[0], order[j]);
        const struct dbstat *b = done > 1 ? find_db(&runs[1], order[j]) : NULL;
        if (!a && !b)
            continue;
        if (j == NSTATE_DBS)
            printf("  (the hub's other databases)\n");
        printf("  %-16s %12" PRIu64 " %11.2f %12" PRIu64 " %11.2f %9.2f\n", order[j],
               a ? a->entries : 0, mib(a ? a->bytes : 0), b ? b->entries : 0,
               mib(b ? b->bytes : 0), a && b && a->bytes ? (double)b->bytes / (double)a->bytes : 0);
        if (!strncmp(order[j], "rules.", 6)) {
            rules_bytes[0] += a ? a->bytes : 0;
            rules_bytes[1] += b ? b->bytes : 0;
            rules_entries[0] += a ? a->entries : 0;
            rules_entries[1] += b ? b->entries : 0;
        }
    }
    printf("  %-16s %12" PRIu64 " %11.2f %12" PRIu64 " %11.2f %9.2f\n", "rule state (all)",
           rules_entries[0], mib(rules_bytes[0]), rules_entries[1], mib(rules_bytes[1]),
           rules_bytes[0] ? (double)rules_bytes[1] / (double)rules_bytes[0] : 0);
    printf("  %-16s %12s %11.2f %12s %11.2f %9.2f\n", "data+index in use", "", mib(runs[0].used_bytes),
           "", mib(runs[1].used_bytes),
           runs[0].used_bytes ? (double)runs[1].used_bytes / (double)runs[0].used_bytes : 0);
    printf("\n  the engine keeps no horizon (hub/rules.c): the rule state holds every event a "
           "rule counted,\n  so it grows with the log; compare its bytes 2/1 with those of "
           "events and dedup.\n");
    for (int r = 0; r < done; r++) {
        char d0[16], d1[16];
        fmt_date(runs[r].first_ms, d0, sizeof d0);
        fmt_date(runs[r].last_ms, d1, sizeof d1);
        const struct hub *h = &runs[r].hr.hub;
        printf("  run %d: occurred_at %s to %s; %.1f s generating, %.1f s publishing (%.0f "
               "events/s); csphubd private memory at the end %.1f MiB (VmRSS %.1f - RssFile "
               "%.1f)\n",
               r + 1, d0, d1, runs[r].gen_s, runs[r].hr.res.elapsed_s,
               runs[r].hr.res.events_per_s, (double)private_kb(h) / 1024.0,
               (double)h->rss_kb / 1024.0, (double)h->file_kb / 1024.0);
    }

    printf("{\"bench\":\"csphub-bench\",\"mode\":\"state-size\",\"config\":{\"publishers\":%d,"
           "\"window\":%d,\"batch\":%d,\"people\":%u,\"seed\":%" PRIu64 "},\"runs\":[",
           opt.publishers, opt.window, opt.batch, opt.people ? opt.people : 100000, opt.seed);
    for (int r = 0; r < done; r++) {
        const struct staterun *sr = &runs[r];
        printf("%s{\"events\":%" PRIu64 ",\"span_days\":%.0f,\"accepted\":%" PRIu64
               ",\"events_per_s\":%.1f,\"alerts_raised\":%" PRIu64 ",\"data_used_bytes\":%" PRIu64
               ",\"data_file_bytes\":%" PRIu64 ",\"databases\":{",
               r ? "," : "", sr->events, sr->span_days, sr->hr.res.accepted,
               sr->hr.res.events_per_s, sr->hr.d_alerts_raised, sr->used_bytes, sr->file_bytes);
        for (int i = 0; i < sr->ndb; i++)
            printf("%s\"%s\":{\"entries\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"depth\":%u}",
                   i ? "," : "", sr->db[i].name, sr->db[i].entries, sr->db[i].bytes,
                   sr->db[i].depth);
        printf("},");
        json_memory(&sr->hr.hub);
        printf("}");
    }
    printf("]}\n");
    zmq_ctx_term(ctx);
    cleanup_all();
    return g.interrupted || done < 2 ? 1 : 0;
}
