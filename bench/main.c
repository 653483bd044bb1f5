#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "modes.h"

struct options opt = {
    .publishers = 10,
    .window = 100,
    .batch = 1,
    .events = 200000,
    .duration_limit_s = 60,
    .seed = 1,
    .commit_every = {1, 100, 1000},
    .ncommit_every = 3,
    .baseline_limit_s = 5,
    .reply_timeout_s = 30,
    .hwm = 100000,
    .alert_rate = -1,
};

static void usage(FILE *f)
{
    fprintf(f,
        "usage: csphub-bench [options]\n"
        "\n"
        "Drives csphubd with concurrent publishers and prints accepted events/s and\n"
        "publish-to-ack latency (p50/p99/p99.9 per request), next to baselines measured in\n"
        "the same run: a ZeroMQ ROUTER echo (no hub logic) and synced LMDB appends.\n"
        "\n"
        "The hub:\n"
        "      --endpoint EP        use an already-running hub at EP (e.g. tcp://127.0.0.1:7450).\n"
        "                           Without it the bench starts its own csphubd on a free\n"
        "                           loopback port with a fresh temporary data directory, and\n"
        "                           stops it and removes the directory at the end.\n"
        "      --hubd PATH          the csphubd to start (default: $CSPH_HUBD, else the csphubd\n"
        "                           of this build).\n"
        "      --hub-batch-max N    write limits.batch_max: N (group commit: requests per\n"
        "                           write transaction) into the generated hub config.\n"
        "      --hub-arg ARG        pass ARG to csphubd (repeat); it comes after the bench's own\n"
        "                           --config FILE --data DIR --listen EP, so a second --config\n"
        "                           replaces the generated file (data and listen still hold).\n"
        "      --perf FILE          run 'perf record -g -p <hub pid> -o FILE' during the\n"
        "                           publish phase (own hub only).\n"
        "      --perf-dwarf         with --perf: DWARF call graphs ('--call-graph dwarf,16384\n"
        "                           -F 2000'), whole stacks through liblmdb and libc, which\n"
        "                           keep no frame pointers (then bench/perf-callers.py).\n"
        "The load:\n"
        "  -p, --publishers N       publisher threads, one DEALER each (default 10).\n"
        "  -w, --window W           requests in flight per publisher (default 100).\n"
        "  -n, --events E           events in total (default 200000).\n"
        "  -b, --batch B            events per publish request: 1 sends 'event', more send\n"
        "                           'events' arrays (default 1, at most 1000).\n"
        "      --duration-limit S   stop sending after S seconds in a publish phase and\n"
        "                           count what was acked (default 60; 0: no limit).\n"
        "      --seed S             event generator seed (default 1). Event ids also carry a\n"
        "                           per-run nonce, so reruns against one hub are not duplicates.\n"
        "      --replay             also replay the whole log (max=10000 a page, after=next)\n"
        "                           and print replay events/s.\n"
        "      --rate R             paced publishers: R events/s in total, each publisher\n"
        "                           sending on a fixed schedule (default: as fast as the window\n"
        "                           allows).\n"
        "      --pace-tick US       paced: send what is due once every US microseconds instead\n"
        "                           of each request at its own instant (default 0: each on\n"
        "                           time). Fewer wake-ups of the bench on a small machine.\n"
        "The rules (escalation engine):\n"
        "      --rules MODE         default: the hub runs the rule pack of the source tree\n"
        "                           (config/rules.yaml, the hub's default); none: rules_file:\n"
        "                           none (a log only); both: the same publish phase on two\n"
        "                           fresh hubs, with and without rules, and the ratio\n"
        "                           rules/no-rules (target >= 0.80; the hub only, no\n"
        "                           baselines; -n defaults to 500000 there). Default: default.\n"
        "      --compare-rules      the same as --rules both.\n"
        "      --pairs K            with --compare-rules: K pairs of runs, each on two fresh\n"
        "                           hubs, alternating which goes first; prints each pair's\n"
        "                           ratio and judges the median (default 1). This VM's disk\n"
        "                           and scheduling move single ratios by +-0.05.\n"
        "      --alert-rate R       the alert feed: the classic mix made quiet (no event fires a\n"
        "                           per-event rule, people spread uniformly so windows rarely\n"
        "                           fill, occurred_at advancing in publish order) plus a share\n"
        "                           R (0-1) of da.incident with DASH >= 14, each raising one\n"
        "                           marac.high-risk alert. The achieved rate comes from the\n"
        "                           hub's alert counters. Default 0.05 with --compare-rules and\n"
        "                           --alert-latency; without it the classic feed.\n"
        "      --people N           person references drawn from N people (classic feed:\n"
        "                           50000, skewed; alert feed: 1000000, uniform; --state-size:\n"
        "                           100000, uniform).\n"
        "      --span-days D        occurred_at advances through D days in publish order\n"
        "                           (alert feed: 365; --state-size: 730). The classic feed\n"
        "                           draws occurred_at at random over one year instead.\n"
        "      --alert-latency      publish-to-alert latency: paced publishers (--rate,\n"
        "                           default 10000; there -p defaults to 2 and -w to 1000) and\n"
        "                           a consumer thread holding 'fetch' (wait_ms 30000) on the\n"
        "                           marac panel, sending each ack with the next fetch;\n"
        "                           prints send-to-alert and ack-to-alert percentiles\n"
        "                           (targets: p99 <= 2 ms; held fetch answered <= 10 ms after\n"
        "                           the commit).\n"
        "      --state-size         rule-state size: -n (default 1000000) events of the classic\n"
        "                           mix over --people (100000) with occurred_at over\n"
        "                           --span-days (730), then 2x the events over 2x the span, each\n"
        "                           on a fresh hub with the default rules; after each the hub is\n"
        "                           stopped and its LMDB opened read-only: entries and bytes of\n"
        "                           rules.state, rules.meta, events, dedup, alerts.\n"
        "                           Defaults there: --batch 100 --window 4, no duration limit.\n"
        "      --backfill           a new agency joins: a month of live events (occurred_at\n"
        "                           advancing in publish order), then a year of history for the\n"
        "                           same people arriving late (occurred_at at random in the 365\n"
        "                           days before; --span-days changes that), into a fresh hub\n"
        "                           with the default rules; then the same events sorted by\n"
        "                           occurred_at into a second fresh hub from one publisher.\n"
        "                           Prints both runs' events/s and compares their alerts (read\n"
        "                           with 'alerts' on every panel): every (rule, panel, key, max\n"
        "                           priority) of the in-order run must be reached by the\n"
        "                           backfill run, and every in-order alert of a windowed rule\n"
        "                           covered by one triggered less than the window from its\n"
        "                           events. Exit status 1 when a tier is missing. Defaults\n"
        "                           there: -n 300000 (1/13 live), -p 1 -w 10 -b 100, the\n"
        "                           classic people (50000, skewed), no duration limit.\n"
        "      --scale              a long run: -n (default 10000000) events of the classic mix\n"
        "                           over --people (100000, uniform), occurred_at advancing over\n"
        "                           --span-days (default one year per million events), made\n"
        "                           250000 at a time. Every --scale-step events (default\n"
        "                           1000000): events/s and the hub's CPU per event; at the end\n"
        "                           the last/first ratio of CPU per event (target <= 1.25), the\n"
        "                           hub's private memory (target < 100 MB), bytes per event of\n"
        "                           rules.state, rules.meta, people and dedup (index.mdb read\n"
        "                           after the hub stopped), the time to rebuild the index from\n"
        "                           the log (index files removed, hub restarted, until it\n"
        "                           answers ping), and when csphubd has --what-if the wall time\n"
        "                           and peak memory of a what-if with the default rules.\n"
        "                           Defaults there: --batch 100 --window 4, no duration limit.\n"
        "      --scale-step E       with --scale: report every E events (default 1000000).\n"
        "Peers:\n"
        "      --peers              the hub against Redis Streams (redis-server, appendonly yes,\n"
        "                           appendfsync always; XADD of the event bytes as one field)\n"
        "                           and, when nats-server is installed, NATS JetStream (file\n"
        "                           store, a PubAck a publish), in the same run, with the same\n"
        "                           event bytes and the same concurrency: for each --concurrency\n"
        "                           a fresh hub, then each peer started on a free loopback port in\n"
        "                           a temporary directory and stopped after its run. Prints\n"
        "                           events/s, latency p50/p99/p99.9/max and CPU per event of each,\n"
        "                           the ratios hub/peer, and the hub's CPU per acknowledged event\n"
        "                           (user+system of all its threads, /proc). A peer that is not\n"
        "                           installed is skipped with the reason (exit status 0). One\n"
        "                           event a request; -n as elsewhere (default 200000).\n"
        "      --concurrency LIST   with --peers: connections x requests in flight, comma-separated\n"
        "                           (default 1x100,10x100,50x100; at most 8).\n"
        "Baselines:\n"
        "      --commit-every LIST  LMDB baseline commit intervals, comma-separated (default\n"
        "                           1,100,1000); the hub's observed events per commit is\n"
        "                           always added.\n"
        "      --baseline-limit S   seconds at most for each LMDB/store run (default 5).\n"
        "      --no-baseline        measure the hub only.\n"
        "      --hwm N              ZeroMQ SNDHWM/RCVHWM of the bench's sockets and the echo\n"
        "                           ROUTER (default 100000, the hub's default).\n"
        "Other:\n"
        "      --tmpdir DIR         where temporary data directories go (default $TMPDIR or\n"
        "                           /tmp). Use a real disk: on tmpfs a sync costs nothing.\n"
        "      --reply-timeout S    a request with no reply after S seconds ends the run\n"
        "                           with exit status 1 (default 30).\n"
        "      --keep               keep the temporary directories (and the hub's log).\n"
        "  -h, --help               this help.\n"
        "\n"
        "Output: a table, then one line starting with '{' holding every figure as JSON.\n"
        "Exit status: 0 done, 1 the hub rejected an event, failed, hung, or a run failed,\n"
        "2 bad usage.\n");
}

static double parse_num(const char *name, const char *s, double min, double max)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "csphub-bench: %s must be a number from %g to %g, not '%s'\n", name, min,
                max, s);
        exit(2);
    }
    return v;
}

static void parse_commit_every(const char *s)
{
    opt.ncommit_every = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (opt.ncommit_every == MAX_COMMIT_EVERY) {
            fprintf(stderr, "csphub-bench: --commit-every takes at most %d values\n",
                    MAX_COMMIT_EVERY);
            exit(2);
        }
        opt.commit_every[opt.ncommit_every++] =
            (uint32_t)parse_num("--commit-every", tok, 1, 10000000);
    }
}

/* --concurrency 1x100,10x100: connections x requests in flight, each. */
static void parse_concurrency(const char *s)
{
    opt.nconc = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *x = strchr(tok, 'x');
        if (opt.nconc == MAX_CONCURRENCY || !x) {
            fprintf(stderr, "csphub-bench: --concurrency takes at most %d items CONNECTIONSxIN_FLIGHT "
                            "(e.g. 1x100,10x100), not '%s'\n",
                    MAX_CONCURRENCY, s);
            exit(2);
        }
        *x = 0;
        opt.conc_publishers[opt.nconc] = (int)parse_num("--concurrency connections", tok, 1, 1000);
        opt.conc_window[opt.nconc] = (int)parse_num("--concurrency in flight", x + 1, 1, 100000);
        opt.nconc++;
    }
}

/* events, publishers (0: as given), window: a long mode's defaults. */
static void long_mode_defaults(uint64_t events, int publishers, int window)
{
    if (!opt.set_events)
        opt.events = events;
    if (publishers && !opt.set_publishers)
        opt.publishers = publishers;
    if (!opt.set_batch)
        opt.batch = 100;
    if (!opt.set_window)
        opt.window = window;
    if (!opt.set_duration)
        opt.duration_limit_s = 0;
}

static void parse_options(int argc, char **argv)
{
    enum {
        O_ENDPOINT = 256, O_HUBD, O_HUB_ARG, O_HUB_BATCH_MAX, O_DURATION, O_SEED, O_REPLAY,
        O_COMMIT_EVERY, O_BASELINE_LIMIT, O_NO_BASELINE, O_TMPDIR, O_REPLY_TIMEOUT, O_HWM,
        O_PERF, O_KEEP, O_RULES, O_COMPARE_RULES, O_ALERT_RATE, O_RATE, O_PEOPLE, O_SPAN_DAYS,
        O_ALERT_LATENCY, O_STATE_SIZE, O_PACE_TICK, O_PAIRS, O_BACKFILL, O_SCALE, O_SCALE_STEP,
        O_PEERS, O_CONCURRENCY, O_PERF_DWARF
    };
    static const struct option lo[] = {
        {"endpoint", required_argument, 0, O_ENDPOINT},
        {"hubd", required_argument, 0, O_HUBD},
        {"hub-arg", required_argument, 0, O_HUB_ARG},
        {"hub-batch-max", required_argument, 0, O_HUB_BATCH_MAX},
        {"publishers", required_argument, 0, 'p'},
        {"window", required_argument, 0, 'w'},
        {"events", required_argument, 0, 'n'},
        {"batch", required_argument, 0, 'b'},
        {"duration-limit", required_argument, 0, O_DURATION},
        {"seed", required_argument, 0, O_SEED},
        {"replay", no_argument, 0, O_REPLAY},
        {"commit-every", required_argument, 0, O_COMMIT_EVERY},
        {"baseline-limit", required_argument, 0, O_BASELINE_LIMIT},
        {"no-baseline", no_argument, 0, O_NO_BASELINE},
        {"tmpdir", required_argument, 0, O_TMPDIR},
        {"reply-timeout", required_argument, 0, O_REPLY_TIMEOUT},
        {"hwm", required_argument, 0, O_HWM},
        {"perf", required_argument, 0, O_PERF},
        {"perf-dwarf", no_argument, 0, O_PERF_DWARF},
        {"keep", no_argument, 0, O_KEEP},
        {"rules", required_argument, 0, O_RULES},
        {"compare-rules", no_argument, 0, O_COMPARE_RULES},
        {"alert-rate", required_argument, 0, O_ALERT_RATE},
        {"rate", required_argument, 0, O_RATE},
        {"people", required_argument, 0, O_PEOPLE},
        {"span-days", required_argument, 0, O_SPAN_DAYS},
        {"alert-latency", no_argument, 0, O_ALERT_LATENCY},
        {"state-size", no_argument, 0, O_STATE_SIZE},
        {"pairs", required_argument, 0, O_PAIRS},
        {"backfill", no_argument, 0, O_BACKFILL},
        {"scale", no_argument, 0, O_SCALE},
        {"scale-step", required_argument, 0, O_SCALE_STEP},
        {"peers", no_argument, 0, O_PEERS},
        {"concurrency", required_argument, 0, O_CONCURRENCY},
        {"pace-tick", required_argument, 0, O_PACE_TICK},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "p:w:n:b:h", lo, NULL)) != -1) {
        switch (c) {
        case O_ENDPOINT: opt.endpoint = optarg; break;
        case O_HUBD: opt.hubd = optarg; break;
        case O_HUB_ARG:
            if (opt.nhub_args == MAX_HUB_ARGS) {
                fprintf(stderr, "csphub-bench: at most %d --hub-arg\n", MAX_HUB_ARGS);
                exit(2);
            }
            opt.hub_args[opt.nhub_args++] = optarg;
            break;
        case O_HUB_BATCH_MAX:
            opt.hub_batch_max = (uint32_t)parse_num("--hub-batch-max", optarg, 1, 1000000);
            break;
        case 'p':
            opt.publishers = (int)parse_num("--publishers", optarg, 1, 1000);
            opt.set_publishers = 1;
            break;
        case 'w': opt.window = (int)parse_num("--window", optarg, 1, 1000000); opt.set_window = 1; break;
        case 'n': opt.events = (uint64_t)parse_num("--events", optarg, 1, 1e9); opt.set_events = 1; break;
        case 'b': opt.batch = (int)parse_num("--batch", optarg, 1, 1000); opt.set_batch = 1; break;
        case O_DURATION:
            opt.duration_limit_s = parse_num("--duration-limit", optarg, 0, 1e6);
            opt.set_duration = 1;
            break;
        case O_RULES:
            if (!strcmp(optarg, "default"))
                opt.rules_mode = RULES_DEFAULT;
            else if (!strcmp(optarg, "none"))
                opt.rules_mode = RULES_NONE;
            else if (!strcmp(optarg, "both"))
                opt.rules_mode = RULES_BOTH;
            else {
                fprintf(stderr, "csphub-bench: --rules takes default, none or both, not '%s'\n",
                        optarg);
                exit(2);
            }
            break;
        case O_COMPARE_RULES: opt.rules_mode = RULES_BOTH; break;
        case O_ALERT_RATE: opt.alert_rate = parse_num("--alert-rate", optarg, 0, 1); break;
        case O_RATE: opt.rate = parse_num("--rate", optarg, 1, 1e8); break;
        case O_PEOPLE: opt.people = (uint32_t)parse_num("--people", optarg, 1, 99999999); break;
        case O_SPAN_DAYS: opt.span_days = parse_num("--span-days", optarg, 1, 36500); break;
        case O_ALERT_LATENCY: opt.alert_latency = 1; break;
        case O_STATE_SIZE: opt.state_size = 1; break;
        case O_PAIRS: opt.pairs = (int)parse_num("--pairs", optarg, 1, 50); break;
        case O_BACKFILL: opt.backfill = 1; break;
        case O_SCALE: opt.scale = 1; break;
        case O_PEERS: opt.peers = 1; break;
        case O_CONCURRENCY: parse_concurrency(optarg); break;
        case O_SCALE_STEP: opt.scale_step = (uint64_t)parse_num("--scale-step", optarg, 1000, 1e9); break;
        case O_PACE_TICK: opt.pace_tick_us = parse_num("--pace-tick", optarg, 0, 1e6); break;
        case O_SEED: opt.seed = (uint64_t)parse_num("--seed", optarg, 0, 1e18); break;
        case O_REPLAY: opt.replay = 1; break;
        case O_COMMIT_EVERY: parse_commit_every(optarg); break;
        case O_BASELINE_LIMIT: opt.baseline_limit_s = parse_num("--baseline-limit", optarg, 0.1, 1e6); break;
        case O_NO_BASELINE: opt.no_baseline = 1; break;
        case O_TMPDIR: opt.tmpdir = optarg; break;
        case O_REPLY_TIMEOUT: opt.reply_timeout_s = parse_num("--reply-timeout", optarg, 0.1, 3600); break;
        case O_HWM: opt.hwm = (int)parse_num("--hwm", optarg, 1, 1e8); break;
        case O_PERF: opt.perf_file = optarg; break;
        case O_PERF_DWARF: opt.perf_dwarf = 1; break;
        case O_KEEP: opt.keep = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "csphub-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
        exit(2);
    }
    if (opt.perf_dwarf && !opt.perf_file) {
        fprintf(stderr, "csphub-bench: --perf-dwarf says how --perf records: give --perf FILE "
                        "too\n");
        exit(2);
    }
    if (opt.endpoint && (opt.hub_batch_max || opt.nhub_args || opt.hubd || opt.perf_file)) {
        fprintf(stderr, "csphub-bench: --hub-batch-max, --hub-arg, --hubd and --perf start a hub "
                        "of our own; they do not go with --endpoint\n");
        exit(2);
    }
    int nmodes = (opt.rules_mode == RULES_BOTH) + opt.alert_latency + opt.state_size +
                 opt.backfill + opt.scale;
    if (nmodes > 1) {
        fprintf(stderr, "csphub-bench: --compare-rules (--rules both), --alert-latency, "
                        "--state-size, --backfill and --scale are separate runs: give one\n");
        exit(2);
    }
    if (nmodes && opt.endpoint) {
        fprintf(stderr, "csphub-bench: --compare-rules, --alert-latency, --state-size, --backfill "
                        "and --scale start hubs of their own; they do not go with --endpoint\n");
        exit(2);
    }
    if ((opt.backfill || opt.scale) && opt.rules_mode != RULES_DEFAULT) {
        fprintf(stderr, "csphub-bench: --backfill and --scale run the default rules\n");
        exit(2);
    }
    if ((opt.backfill || opt.scale) && opt.rate > 0) {
        fprintf(stderr, "csphub-bench: --backfill and --scale publish as fast as the window "
                        "allows; --rate does not go with them\n");
        exit(2);
    }
    if (opt.peers && (opt.rules_mode == RULES_BOTH || opt.alert_latency || opt.state_size ||
                      opt.backfill || opt.scale || opt.endpoint)) {
        fprintf(stderr, "csphub-bench: --peers is a run of its own with hubs it starts; it does not "
                        "go with another mode or --endpoint\n");
        exit(2);
    }
    if (opt.peers && (opt.batch != 1 || opt.rate > 0)) {
        fprintf(stderr, "csphub-bench: --peers sends one event a request as fast as the window "
                        "allows; --batch and --rate do not go with it\n");
        exit(2);
    }
    if (opt.nconc && !opt.peers) {
        fprintf(stderr, "csphub-bench: --concurrency goes with --peers (elsewhere: -p and -w)\n");
        exit(2);
    }
    if (opt.peers && !opt.nconc) {
        static const int p[] = {1, 10, 50};
        for (int i = 0; i < 3; i++) {
            opt.conc_publishers[i] = p[i];
            opt.conc_window[i] = 100;
        }
        opt.nconc = 3;
    }
    if (opt.scale_step && !opt.scale) {
        fprintf(stderr, "csphub-bench: --scale-step goes with --scale\n");
        exit(2);
    }
    if (opt.endpoint && opt.rules_mode != RULES_DEFAULT) {
        fprintf(stderr, "csphub-bench: --rules sets the rules of a hub the bench starts; it does "
                        "not go with --endpoint\n");
        exit(2);
    }
    if (opt.alert_latency && opt.alert_rate == 0) {
        fprintf(stderr, "csphub-bench: --alert-latency needs alerts: --alert-rate above 0\n");
        exit(2);
    }
    if ((opt.rules_mode == RULES_BOTH || opt.alert_latency) && opt.alert_rate < 0)
        opt.alert_rate = 0.05;
    /* A few seconds a hub move too much with what else the machine does. */
    if (opt.rules_mode == RULES_BOTH && !opt.set_events)
        opt.events = 500000;
    if (opt.alert_latency && opt.rate == 0)
        opt.rate = 10000;
    /* Each paced send is a wake-up of a bench thread and of ZeroMQ's I/O
     * thread; on 2 cores shared with the hub, fewer publishers disturb less. */
    if (opt.alert_latency && !opt.set_publishers)
        opt.publishers = 2;
    /* Paced, the window is only a cap: large enough that a slow commit never
     * holds a send back (5,000 events/s x 200 ms). */
    if (opt.alert_latency && !opt.set_window)
        opt.window = 1000;
    /* The long modes' defaults, each unless given on the command line: no
     * duration limit, a batch of 100 events. */
    if (opt.state_size)
        long_mode_defaults(1000000, 0, 4);
    if (opt.backfill)
        long_mode_defaults(300000, 1, 10);
    if (opt.scale) {
        long_mode_defaults(10000000, 0, 4);
        if (!opt.scale_step)
            opt.scale_step = 1000000;
    }
    if (!opt.tmpdir) {
        opt.tmpdir = getenv("TMPDIR");
        if (!opt.tmpdir || !*opt.tmpdir)
            opt.tmpdir = "/tmp";
    }
}

int main(int argc, char **argv)
{
    parse_options(argc, argv);
    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    char nonce[16];
    snprintf(nonce, sizeof nonce, "%08x",
             (unsigned)(splitmix64(&(uint64_t){(uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
                                                (uint64_t)now_ns()}) & 0xffffffffu));
    if (opt.rules_mode == RULES_BOTH)
        return run_compare(nonce);
    if (opt.alert_latency)
        return run_latency(nonce);
    if (opt.state_size)
        return run_state(nonce);
    if (opt.backfill)
        return run_backfill(nonce);
    if (opt.scale)
        return run_scale(nonce);

    if (opt.peers)
        return run_peers(nonce);
    return run_publish(nonce);
}
