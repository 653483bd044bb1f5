/* csphub-bench: drives csphubd over CSPH/1 and prints figures.
 *
 * N publisher threads, each with its own DEALER socket and a window of W
 * publish requests in flight, send realistic events (the 11 types of
 * PROTOCOL.md 3.2) to the hub and time every request from send to ack. In the
 * same run it measures what the hub is built on, with the same events and
 * the same client code:
 *   - a ZeroMQ ROUTER echo thread in this process (same HWMs, same message
 *     sizes, same publishers and window) answering with a reply of the hub's
 *     shape: the transport without hub logic;
 *   - raw LMDB appends of the same event bytes in a fresh environment with
 *     synced commits, committing every K events;
 *   - the hub's own storage layer (csph_store: dedup index + hash chain)
 *     committing every K events, with no network and no validation.
 * Then hub/baseline ratios, the hub's stats counters, replay throughput
 * (--replay) and the daemon's RSS. A table for people, a JSON line for
 * scripts.
 *
 * Never hangs: every receive is a zmq_poll with a deadline; a request with
 * no reply after --reply-timeout (30 s) ends the run with exit status 1. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <lmdb.h>
#include <math.h>
#include <msgpack.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "mpx.h"
#include "store.h"

#ifndef CSPH_SOURCE_DIR
#define CSPH_SOURCE_DIR "."
#endif
#ifndef CSPH_BENCH_HUBD
#define CSPH_BENCH_HUBD "csphubd"
#endif

#define REPLAY_PAGE_MAX 10000
#define MAX_HUB_ARGS 32
#define MAX_COMMIT_EVERY 16

/* ---- options ---------------------------------------------------------- */

struct options {
    const char *endpoint;  /* NULL: start our own csphubd */
    const char *hubd;
    const char *hub_args[MAX_HUB_ARGS];
    int nhub_args;
    uint32_t hub_batch_max; /* 0: the hub's default */
    int publishers;
    int window;
    int batch;
    uint64_t events;
    double duration_limit_s; /* per publish phase; 0: none */
    uint64_t seed;
    int replay;
    uint32_t commit_every[MAX_COMMIT_EVERY];
    int ncommit_every;
    double baseline_limit_s; /* per LMDB / store run */
    const char *tmpdir;
    double reply_timeout_s;
    int hwm;
    const char *perf_file;
    int no_baseline;
    int keep;
    /* The escalation engine's modes (bench/README.md "Rules"). */
    int rules_mode;     /* RULES_DEFAULT (the source tree's pack), RULES_NONE, RULES_BOTH */
    double alert_rate;  /* < 0: the classic feed; else the alert feed with this share */
    double rate;        /* events/s in total, paced publishers; 0: as fast as possible */
    double pace_tick_us; /* paced: round send times up to this tick (0: every send on time) */
    uint32_t people;    /* person references drawn from; 0: the feed's default */
    double span_days;   /* occurred_at in publish order over this span; 0: the feed's default */
    int alert_latency;  /* --alert-latency */
    int state_size;     /* --state-size */
    int pairs;          /* --pairs: --compare-rules runs, alternating which hub goes first */
    int backfill;       /* --backfill */
    int scale;          /* --scale */
    uint64_t scale_step; /* --scale-step: events per reported step (default 1,000,000) */
    int set_batch, set_window, set_events, set_duration, set_publishers; /* given */
};

enum { RULES_DEFAULT, RULES_NONE, RULES_BOTH };

static struct options opt = {
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

/* ---- small helpers ---------------------------------------------------- */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double secs(int64_t ns) { return (double)ns / 1e9; }

/* Everything the process must undo before it exits, however it exits. */
static struct {
    pthread_mutex_t dying; /* held by the one thread that cleans up and exits */
    pid_t hub_pid;
    pid_t perf_pid;
    char dirs[8][PATH_MAX];
    int ndirs;
    char hub_log[PATH_MAX + 32]; /* our hub's stderr, shown when the run fails */
    volatile sig_atomic_t interrupted;
} g = {.dying = PTHREAD_MUTEX_INITIALIZER};

static void rm_rf(const char *dir);
static void print_file_tail(const char *path, size_t max);
static void stop_child(pid_t *pid, int sig, double wait_s, int *status);

static void cleanup_all(void)
{
    int st;
    if (g.perf_pid > 0)
        stop_child(&g.perf_pid, SIGINT, 10, &st);
    if (g.hub_pid > 0)
        stop_child(&g.hub_pid, SIGTERM, 10, &st);
    for (int i = 0; i < g.ndirs; i++)
        if (g.dirs[i][0] && !opt.keep)
            rm_rf(g.dirs[i]);
    g.ndirs = 0;
}

/* Print, stop the hub, remove temp dirs, exit 1. Safe from any thread: a
 * second caller blocks until the first has exited the process. */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    pthread_mutex_lock(&g.dying);
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fprintf(stderr, "csphub-bench: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    struct stat sb;
    if (g.hub_log[0] && stat(g.hub_log, &sb) == 0 && sb.st_size > 0)
        print_file_tail(g.hub_log, 3000);
    cleanup_all();
    fflush(stderr);
    _exit(1);
}

static void on_signal(int sig)
{
    if (g.interrupted) {
        /* Second interrupt: stop now. kill() is async-signal-safe. */
        if (g.hub_pid > 0)
            kill(g.hub_pid, SIGTERM);
        if (g.perf_pid > 0)
            kill(g.perf_pid, SIGINT);
        _exit(130);
    }
    g.interrupted = 1; /* publishers stop sending and drain; then normal cleanup */
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *make_tmpdir(const char *what, char *out, size_t outsz)
{
    snprintf(out, outsz, "%s/csphub-bench-%s-XXXXXX", opt.tmpdir, what);
    if (!mkdtemp(out))
        die("cannot create a temporary directory in %s: %s (see --tmpdir)", opt.tmpdir,
            strerror(errno));
    if (g.ndirs < (int)(sizeof g.dirs / sizeof g.dirs[0]))
        snprintf(g.dirs[g.ndirs++], PATH_MAX, "%s", out);
    return out;
}

static void forget_tmpdir(const char *dir)
{
    for (int i = 0; i < g.ndirs; i++)
        if (strcmp(g.dirs[i], dir) == 0) {
            if (!opt.keep)
                rm_rf(dir);
            g.dirs[i][0] = 0;
        }
}

/* Wait up to wait_s for pid after sending sig, then SIGKILL. */
static void stop_child(pid_t *pid, int sig, double wait_s, int *status)
{
    if (*pid <= 0)
        return;
    kill(*pid, sig);
    int64_t until = now_ns() + (int64_t)(wait_s * 1e9);
    *status = -1;
    for (;;) {
        pid_t r = waitpid(*pid, status, WNOHANG);
        if (r == *pid || (r < 0 && errno != EINTR))
            break;
        if (now_ns() > until) {
            kill(*pid, SIGKILL);
            waitpid(*pid, status, 0);
            break;
        }
        usleep(10000);
    }
    *pid = 0;
}

static const char *fs_name(const char *dir)
{
    struct statfs sf;
    if (statfs(dir, &sf) != 0)
        return "unknown";
    switch ((unsigned long)sf.f_type) {
    case 0xEF53: return "ext4";
    case 0x01021994: return "tmpfs";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x794c7630: return "overlayfs";
    case 0x6969: return "nfs";
    case 0x2FC12FC1: return "zfs";
    default: return "other";
    }
}

/* ---- random numbers --------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *s) { return splitmix64(s); }
static uint32_t rnd_below(uint64_t *s, uint32_t n) { return (uint32_t)(rnd(s) % n); }
static double rnd_unit(uint64_t *s) { return (double)(rnd(s) >> 11) / 9007199254740992.0; }
static int rnd_pct(uint64_t *s, unsigned pct) { return rnd_below(s, 100) < pct; }

/* ---- the events ------------------------------------------------------- */

enum {
    T_ASB, T_CALL, T_DA, T_ARREST, T_VIOLENCE, T_HATE, T_MISSING, T_CONCERN, T_REFERRAL,
    T_CASE_UPDATE, T_CASE_REVIEW, NTYPES
};
static const char *const type_names[NTYPES] = {
    "asb.report", "call", "da.incident", "arrest", "violence.incident", "hate.incident",
    "missing.episode", "concern", "referral", "case.update", "case.review.request"};
/* A partnership's week, roughly: ASB and calls dominate, panel traffic is rare. */
static const unsigned type_weight[NTYPES] = {24, 20, 12, 10, 8, 4, 5, 8, 3, 5, 1};

static const char *const sources[] = {
    "police", "council-asb", "housing-assoc", "police-control-room", "council-contact-centre",
    "idva-service", "health", "ae-dept", "third-party-reporting", "childrens-services",
    "panel-member", "case-management", "council", "youth-offending"};
/* Who sends each type (PROTOCOL.md 3.2 "sent by"), as indices into sources. */
static const int type_sources[NTYPES][6] = {
    [T_ASB] = {0, 1, 2, -1},        [T_CALL] = {3, 4, -1},
    [T_DA] = {0, 5, 6, -1},         [T_ARREST] = {0, -1},
    [T_VIOLENCE] = {0, 7, -1},      [T_HATE] = {0, 12, 8, -1},
    [T_MISSING] = {0, 9, -1},       [T_CONCERN] = {0, 1, 2, 6, 9, 13},
    [T_REFERRAL] = {0, 5, 9, 13, 1, 6}, [T_CASE_UPDATE] = {10, 11, -1},
    [T_CASE_REVIEW] = {12, -1}};

static const char *const offences[] = {
    "burglary.residential", "burglary.business", "robbery", "vehicle.theft", "theft",
    "weapon.possession", "violence.injury", "violence.serious", "sexual", "drugs.supply",
    "drugs.possession", "criminal.damage", "arson", "public.order", "other"};
/* Unrestricted panels of config/panels.yaml. */
static const char *const panels[] = {"marac", "community-marac", "asb-case-review", "hate-crime",
                                     "iom", "sgv", "mace", "tasking"};
static const char *const summaries[] = {
    "Group of youths congregating in the stairwell, playing loud music late at night.",
    "Neighbour reports repeated shouting and banging through the wall after midnight.",
    "Fly-tipping of household waste behind the garages, third report this month.",
    "Caller says she is being followed and filmed by two males when leaving the flat.",
    "Graffiti and broken lights on the footpath; residents say they avoid it after dark.",
    "Young person seen entering and leaving the address frequently with different adults.",
    "Resident has not been seen for several days; post piling up, curtains drawn.",
    "Repeated verbal abuse directed at the victim because of her religion.",
    "Victim reports cuckooing: the address is being used by others to deal drugs.",
    "Applicant reports five incidents in six months with no action taken.",
    "Rough sleeper in the car park, appears unwell and declined support.",
    "School reports concerns about a pupil's sudden new phone, clothes and absences."};
static const char *const reasons[] = {
    "Repeat victim of domestic abuse; DASH 15; children in the household.",
    "Three ASB reports in 28 days at the same address; victim has a disability.",
    "Concerns of criminal exploitation; frequent missing episodes; county lines links.",
    "Escalating hate incidents against the family over two months.",
    "Prolific acquisitive offender released on licence; needs IOM oversight."};
static const char *const descriptions[] = {
    "rear of the parade of shops", "stairwell, block C", "bus stop outside the school",
    "park by the skate ramp", "car park of the leisure centre", "alley behind the high street"};

#define PERSON_POOL 50000
#define LSOA_POOL 400
#define YEAR_START_S 1719792000LL /* 2024-07-01T00:00:00Z: occurred_at spans one year */
#define SPAN_END_S (YEAR_START_S + 365 * 86400LL) /* chronological feeds end here */

/* What the generator makes (bench/README.md "What it sends"). */
enum { FEED_CLASSIC, FEED_ALERT, FEED_STATE, FEED_BACKFILL };
struct feed {
    int kind;
    uint32_t people;   /* person references P-000001 .. P-<people> */
    int uniform;       /* drawn uniformly (else skewed: some people recur a lot) */
    double alert_rate; /* FEED_ALERT: share of events that raise a marac alert */
    double span_days;  /* > 0: occurred_at advances through this span in publish order */
    int publishers;    /* how the events are split among publishers, for that order */
    int batch;
    /* FEED_BACKFILL (the classic mix): events [0, live_n) advance through the
     * span_days before SPAN_END_S in publish order (a month of live
     * traffic); the rest fall at random in the history_days before that. */
    uint64_t live_n;
    double history_days;
};

struct evmeta {
    uint32_t id_off; /* the id string's bytes within the event */
    uint16_t id_len;
    uint8_t type;
    uint8_t source;
    int64_t occurred_ms;
};

struct corpus {
    msgpack_sbuffer buf; /* every event, packed back to back */
    size_t *off;         /* n + 1 offsets into buf */
    struct evmeta *meta;
    uint64_t n;
    uint64_t per_type[NTYPES];
    uint64_t alert_events; /* FEED_ALERT: the da.incident events made to raise an alert */
    struct feed feed;
    int64_t first_ms, last_ms; /* occurred_at range */
};

struct gen {
    uint64_t rng;
    char nonce[16];
    uint32_t lsoa[LSOA_POOL];
    struct feed feed;
    int64_t span_start_s; /* chronological feeds */
    double progress;      /* 0..1: where the event being made falls in its publisher's order */
    uint64_t alert_no;
    uint64_t id_base;     /* event i's id carries id_base + i + 1 */
    int history;          /* FEED_BACKFILL: this event is from the history (late) */
};

static void pk_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

/* Skewed towards low indices: a few people and places recur a lot. */
static uint32_t skewed(uint64_t *rng, uint32_t n)
{
    double u = rnd_unit(rng);
    return (uint32_t)(n * u * u * u) % n;
}

static void pk_person(msgpack_packer *pk, struct gen *gn)
{
    char b[16];
    uint32_t n = gn->feed.people;
    snprintf(b, sizeof b, "P-%06u",
             (gn->feed.uniform ? rnd_below(&gn->rng, n) : skewed(&gn->rng, n)) + 1);
    pk_str(pk, b);
}

static void pk_location(msgpack_packer *pk, struct gen *gn)
{
    uint32_t li = skewed(&gn->rng, LSOA_POOL);
    char b[32];
    unsigned shape = rnd_below(&gn->rng, 10);
    double lat = 51.40 + (li % 37) * 0.006 + rnd_unit(&gn->rng) * 0.004;
    double lon = -0.30 + (li / 37) * 0.025 + rnd_unit(&gn->rng) * 0.004;
    snprintf(b, sizeof b, "E0%07u", gn->lsoa[li]);
    if (shape < 6) {
        msgpack_pack_map(pk, 3);
        pk_str(pk, "lsoa");
        pk_str(pk, b);
        pk_str(pk, "lat");
        msgpack_pack_double(pk, lat);
        pk_str(pk, "lon");
        msgpack_pack_double(pk, lon);
    } else if (shape < 8) {
        char uprn[24];
        snprintf(uprn, sizeof uprn, "1000%08u", 1000000 + li * 1000 + rnd_below(&gn->rng, 1000));
        msgpack_pack_map(pk, 2);
        pk_str(pk, "id");
        pk_str(pk, uprn);
        pk_str(pk, "lsoa");
        pk_str(pk, b);
    } else if (shape < 9) {
        char ward[16];
        snprintf(ward, sizeof ward, "E05%06u", 9300 + li / 10);
        msgpack_pack_map(pk, 2);
        pk_str(pk, "ward");
        pk_str(pk, ward);
        pk_str(pk, "description");
        pk_str(pk, descriptions[rnd_below(&gn->rng, 6)]);
    } else {
        msgpack_pack_map(pk, 1);
        pk_str(pk, "lsoa");
        pk_str(pk, b);
    }
}

/* RFC 3339: mostly Z, summer times often as local BST (+01:00), some with ms. */
static int64_t pk_occurred(msgpack_packer *pk, struct gen *gn)
{
    int64_t t;
    if (gn->history) /* a backfill's history: at random in the year before the live span */
        t = gn->span_start_s - (int64_t)(gn->feed.history_days * 86400.0) +
            (int64_t)rnd_below(&gn->rng, (uint32_t)(gn->feed.history_days * 86400.0));
    else if (gn->feed.span_days > 0) /* in publish order, some reported up to 2 days late */
        t = gn->span_start_s + (int64_t)(gn->progress * gn->feed.span_days * 86400.0) -
            (int64_t)rnd_below(&gn->rng, 2 * 86400);
    else
        t = YEAR_START_S + (int64_t)rnd_below(&gn->rng, 365 * 86400);
    int ms = rnd_pct(&gn->rng, 30) ? (int)rnd_below(&gn->rng, 1000) : -1;
    struct tm tm;
    time_t tt = (time_t)t;
    gmtime_r(&tt, &tm);
    int bst = tm.tm_mon >= 3 && tm.tm_mon <= 9 && rnd_pct(&gn->rng, 50);
    if (bst) {
        tt += 3600;
        gmtime_r(&tt, &tm);
    }
    char b[48], frac[16] = "";
    if (ms >= 0)
        snprintf(frac, sizeof frac, ".%03d", ms);
    snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d%s%s", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac, bst ? "+01:00" : "Z");
    pk_str(pk, b);
    return t * 1000 + (ms > 0 ? ms : 0);
}

/* The alert feed leaves out the types whose every event raises an alert
 * (referral.direct, asb-case-review.request). */
static unsigned weight_of(const struct gen *gn, int t)
{
    if (gn->feed.kind == FEED_ALERT && (t == T_REFERRAL || t == T_CASE_REVIEW))
        return 0;
    return type_weight[t];
}

static int pick_type(struct gen *gn)
{
    unsigned total = 0, r;
    for (int i = 0; i < NTYPES; i++)
        total += weight_of(gn, i);
    r = rnd_below(&gn->rng, total);
    for (int i = 0; i < NTYPES; i++) {
        if (r < weight_of(gn, i))
            return i;
        r -= weight_of(gn, i);
    }
    return 0;
}

/* Pack event number i. Every event must be valid against schemas/. */
static void gen_event(struct gen *gn, struct corpus *c, uint64_t i)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &c->buf, msgpack_sbuffer_write);
    /* The alert feed: a share of da.incident events with DASH >= 14 (each
     * raises marac.high-risk, for a victim of its own so nothing else fires),
     * and the rest quiet: no per-event rule matches them. */
    int alert = gn->feed.kind == FEED_ALERT && rnd_unit(&gn->rng) < gn->feed.alert_rate;
    int quiet = gn->feed.kind == FEED_ALERT && !alert;
    int t = alert ? T_DA : pick_type(gn);
    int nsrc = 0;
    while (nsrc < 6 && type_sources[t][nsrc] >= 0 && !(nsrc > 0 && type_sources[t][nsrc] == 0))
        nsrc++;
    int src = type_sources[t][rnd_below(&gn->rng, (uint32_t)nsrc)];
    /* Optional fields decided first: the map header needs the count. */
    uint64_t *r = &gn->rng;
    int o1 = 0, o2 = 0, o3 = 0, o4 = 0, o5 = 0, o6 = 0;
    unsigned nf = 0;
    switch (t) {
    case T_ASB: o1 = rnd_pct(r, 70); o2 = rnd_pct(r, 10); o3 = rnd_pct(r, 20); o4 = rnd_pct(r, 60);
        nf = 2 + o1 + o2 + o3 + o4; break;
    case T_CALL: o1 = rnd_pct(r, 80); nf = 2 + o1; break;
    case T_DA: o1 = rnd_pct(r, 85); o2 = rnd_pct(r, 70); o3 = rnd_pct(r, 60); o4 = rnd_pct(r, 50);
        o5 = rnd_pct(r, 60);
        if (alert)
            o2 = o3 = 1;
        nf = 1 + o1 + o2 + o3 + o4 + o5; break;
    case T_ARREST: o1 = rnd_pct(r, 90); o2 = rnd_pct(r, 70); nf = 2 + o1 + o2; break;
    case T_VIOLENCE: o1 = rnd_pct(r, 90); o2 = o1 && rnd_pct(r, 80); o3 = rnd_pct(r, 50);
        o4 = o3 && rnd_pct(r, 70); o5 = rnd_pct(r, 30); o6 = rnd_pct(r, 85);
        nf = 2 + o1 + o2 + o3 + o4 + o5 + o6; break;
    case T_HATE: o1 = rnd_pct(r, 85); nf = 2 + o1; break;
    case T_MISSING: nf = 2; break;
    case T_CONCERN: o1 = rnd_pct(r, 70); nf = 2 + o1; break;
    case T_REFERRAL: nf = 3; break;
    case T_CASE_UPDATE: o1 = rnd_pct(r, 60); nf = 3 + o1; break;
    case T_CASE_REVIEW: o1 = rnd_pct(r, 80); nf = 2 + o1; break;
    }
    size_t start = c->buf.size;
    msgpack_pack_map(&pk, 4 + nf);
    char id[96];
    snprintf(id, sizeof id, "%s-%s-%07" PRIu64, sources[src], gn->nonce, gn->id_base + i + 1);
    pk_str(&pk, "id");
    pk_str(&pk, id);
    struct evmeta *m = &c->meta[i];
    m->id_len = (uint16_t)strlen(id);
    m->id_off = (uint32_t)(c->buf.size - m->id_len - start);
    m->type = (uint8_t)t;
    m->source = (uint8_t)src;
    pk_str(&pk, "type");
    pk_str(&pk, type_names[t]);
    pk_str(&pk, "source");
    pk_str(&pk, sources[src]);
    pk_str(&pk, "occurred_at");
    m->occurred_ms = pk_occurred(&pk, gn);
    switch (t) {
    case T_ASB:
        if (o1) { pk_str(&pk, "victim"); pk_person(&pk, gn); }
        pk_str(&pk, "location"); pk_location(&pk, gn);
        pk_str(&pk, "category");
        pk_str(&pk, (const char *[]){"personal", "nuisance", "environmental"}[rnd_below(r, 3)]);
        if (o2) { pk_str(&pk, "hate"); quiet ? msgpack_pack_false(&pk) : msgpack_pack_true(&pk); }
        if (o3) { pk_str(&pk, "vulnerable"); rnd_pct(r, 50) ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk); }
        if (o4) { pk_str(&pk, "summary"); pk_str(&pk, summaries[rnd_below(r, 12)]); }
        break;
    case T_CALL:
        pk_str(&pk, "caller"); pk_person(&pk, gn);
        if (o1) { pk_str(&pk, "location"); pk_location(&pk, gn); }
        pk_str(&pk, "category");
        pk_str(&pk, (const char *[]){"asb", "domestic", "crime", "welfare", "other"}[rnd_below(r, 5)]);
        break;
    case T_DA: {
        unsigned dash = (unsigned)(rnd_unit(r) * rnd_unit(r) * 28) % 28;
        if (alert)
            dash = 14 + dash % 14;
        else if (quiet)
            dash %= 14;
        pk_str(&pk, "victim");
        if (alert) {
            char b[24];
            snprintf(b, sizeof b, "M-%08" PRIu64, ++gn->alert_no);
            pk_str(&pk, b);
            c->alert_events++;
        } else {
            pk_person(&pk, gn);
        }
        if (o1) { pk_str(&pk, "perpetrator"); pk_person(&pk, gn); }
        if (o2) { pk_str(&pk, "dash_score"); msgpack_pack_unsigned_int(&pk, dash); }
        if (o3) { pk_str(&pk, "risk"); pk_str(&pk, dash >= 14 ? "high" : dash >= 10 ? "medium" : "standard"); }
        if (o4) { pk_str(&pk, "children_present"); rnd_pct(r, 40) ? msgpack_pack_true(&pk) : msgpack_pack_false(&pk); }
        if (o5) { pk_str(&pk, "location"); pk_location(&pk, gn); }
        break;
    }
    case T_ARREST:
        pk_str(&pk, "subject"); pk_person(&pk, gn);
        if (o1) { pk_str(&pk, "age"); msgpack_pack_unsigned_int(&pk, 14 + rnd_below(r, 50)); }
        pk_str(&pk, "offence");
        { unsigned oi = rnd_below(r, 15); /* quiet: no weapon.possession (sgv.possession) */
          pk_str(&pk, offences[quiet && oi == 5 ? 6 : oi]); }
        if (o2) { pk_str(&pk, "location"); pk_location(&pk, gn); }
        break;
    case T_VIOLENCE:
        if (o1) { pk_str(&pk, "victim"); pk_person(&pk, gn); }
        /* quiet: aged over 25, so sgv.weapon's key_each never applies */
        if (o2) { pk_str(&pk, "victim_age"); msgpack_pack_unsigned_int(&pk, (quiet ? 26 : 13) + rnd_below(r, 60)); }
        if (o3) { pk_str(&pk, "perpetrator"); pk_person(&pk, gn); }
        if (o4) { pk_str(&pk, "perpetrator_age"); msgpack_pack_unsigned_int(&pk, (quiet ? 26 : 14) + rnd_below(r, 40)); }
        pk_str(&pk, "weapon"); pk_str(&pk, (const char *[]){"knife", "firearm", "other", "none", "none"}[rnd_below(r, 5)]);
        pk_str(&pk, "injury"); pk_str(&pk, (const char *[]){"none", "minor", "minor", "serious", "fatal"}[rnd_below(r, 5)]);
        if (o5) { pk_str(&pk, "group"); msgpack_pack_true(&pk); }
        if (o6) { pk_str(&pk, "location"); pk_location(&pk, gn); }
        break;
    case T_HATE:
        if (o1) { pk_str(&pk, "victim"); pk_person(&pk, gn); }
        pk_str(&pk, "location"); pk_location(&pk, gn);
        pk_str(&pk, "strand");
        pk_str(&pk, (const char *[]){"race", "religion", "sexual_orientation", "disability", "transgender", "other"}[rnd_below(r, 6)]);
        break;
    case T_MISSING:
        pk_str(&pk, "subject"); pk_person(&pk, gn);
        pk_str(&pk, "age"); msgpack_pack_unsigned_int(&pk, 11 + rnd_below(r, 7));
        break;
    case T_CONCERN:
        pk_str(&pk, "subject"); pk_person(&pk, gn);
        pk_str(&pk, "kind");
        /* quiet: none of the kinds mace.exploitation and channel.radicalisation take */
        pk_str(&pk, (const char *[]){"criminal_exploitation", "sexual_exploitation", "radicalisation", "mental_health", "rough_sleeping", "hoarding", "other"}[quiet ? 3 + rnd_below(r, 4) : rnd_below(r, 7)]);
        if (o1) { pk_str(&pk, "summary"); pk_str(&pk, summaries[rnd_below(r, 12)]); }
        break;
    case T_REFERRAL:
        pk_str(&pk, "subject"); pk_person(&pk, gn);
        pk_str(&pk, "panel"); pk_str(&pk, panels[rnd_below(r, 8)]);
        pk_str(&pk, "reason"); pk_str(&pk, reasons[rnd_below(r, 5)]);
        break;
    case T_CASE_UPDATE:
        pk_str(&pk, "subject"); pk_person(&pk, gn);
        pk_str(&pk, "panel"); pk_str(&pk, panels[rnd_below(r, 8)]);
        if (o1) { pk_str(&pk, "risk"); pk_str(&pk, (const char *[]){"standard", "medium", "high"}[rnd_below(r, 3)]); }
        pk_str(&pk, "status"); pk_str(&pk, (const char *[]){"open", "reviewed", "closed"}[rnd_below(r, 3)]);
        break;
    case T_CASE_REVIEW:
        pk_str(&pk, "applicant"); pk_person(&pk, gn);
        if (o1) { pk_str(&pk, "location"); pk_location(&pk, gn); }
        pk_str(&pk, "summary"); pk_str(&pk, summaries[rnd_below(r, 12)]);
        break;
    }
    c->per_type[t]++;
}

/* Where event e falls in its publisher's sending order, 0..1. Publisher p
 * sends requests [nreq*p/np, nreq*(p+1)/np) in order, all publishers at
 * once, so a chronological feed makes every publisher's share advance
 * through the span together and the log stays roughly in time order. */
static double publish_progress(uint64_t e, uint64_t n, int batch, int np)
{
    uint64_t B = (uint64_t)batch, nreq = (n + B - 1) / B, r = e / B;
    uint64_t P = (uint64_t)np, p = r * P / nreq;
    while (p + 1 < P && r >= nreq * (p + 1) / P)
        p++;
    while (p > 0 && r < nreq * p / P)
        p--;
    uint64_t e0 = nreq * p / P * B, e1 = nreq * (p + 1) / P * B;
    if (e1 > n)
        e1 = n;
    return e1 > e0 ? (double)(e - e0) / (double)(e1 - e0) : 0;
}

/* Events [first, first + n) of a feed of total events (the long run of
 * --scale makes its feed a part at a time): the same places whatever the
 * part, ids numbered from first + 1, and a chronological feed's occurred_at
 * advancing through the whole span over the total. first 0, total n: the
 * whole feed, as corpus_build. */
static void corpus_build_part(struct corpus *c, uint64_t n, uint64_t seed, const char *nonce,
                              const struct feed *feed, uint64_t first, uint64_t total)
{
    struct gen gn = {.rng = seed * 0x9e3779b97f4a7c15ull + 1, .feed = *feed, .id_base = first};
    snprintf(gn.nonce, sizeof gn.nonce, "%s", nonce);
    for (int i = 0; i < LSOA_POOL; i++) /* E01000001 .. E01033768: England's LSOAs */
        gn.lsoa[i] = 1000001 + rnd_below(&gn.rng, 33768);
    if (first) { /* another part: other draws, the same places */
        uint64_t x = seed ^ (first * 0xd1b54a32d192ed03ull);
        gn.rng = splitmix64(&x);
    }
    if (total < first + n)
        total = first + n;
    if (feed->span_days > 0)
        gn.span_start_s = SPAN_END_S - (int64_t)(feed->span_days * 86400.0);
    memset(c, 0, sizeof *c);
    c->feed = *feed;
    msgpack_sbuffer_init(&c->buf);
    c->n = n;
    c->off = malloc((n + 1) * sizeof *c->off);
    c->meta = calloc(n ? n : 1, sizeof *c->meta);
    if (!c->off || !c->meta)
        die("out of memory for %" PRIu64 " events", n);
    c->first_ms = INT64_MAX;
    c->last_ms = INT64_MIN;
    for (uint64_t i = 0; i < n; i++) {
        c->off[i] = c->buf.size;
        if (feed->kind == FEED_BACKFILL) {
            gn.history = i >= feed->live_n;
            if (!gn.history)
                gn.progress = publish_progress(i, feed->live_n, feed->batch, feed->publishers);
        } else if (feed->span_days > 0) {
            double pr = publish_progress(i, n, feed->batch, feed->publishers);
            gn.progress = total > n ? ((double)first + pr * (double)n) / (double)total : pr;
        }
        gen_event(&gn, c, i);
        if (c->meta[i].occurred_ms < c->first_ms)
            c->first_ms = c->meta[i].occurred_ms;
        if (c->meta[i].occurred_ms > c->last_ms)
            c->last_ms = c->meta[i].occurred_ms;
    }
    c->off[n] = c->buf.size;
}

static void corpus_build(struct corpus *c, uint64_t n, uint64_t seed, const char *nonce,
                         const struct feed *feed)
{
    corpus_build_part(c, n, seed, nonce, feed, 0, n);
}

static void corpus_free(struct corpus *c)
{
    msgpack_sbuffer_destroy(&c->buf);
    free(c->off);
    free(c->meta);
    memset(c, 0, sizeof *c);
}

/* The feed the options ask for; kind FEED_STATE for --state-size. */
static struct feed feed_for(int kind, double span_days)
{
    struct feed f = {.kind = kind, .publishers = opt.publishers, .batch = opt.batch};
    switch (kind) {
    case FEED_CLASSIC:
        f.people = opt.people ? opt.people : PERSON_POOL;
        f.span_days = opt.span_days; /* 0 unless given: random over one year */
        break;
    case FEED_ALERT:
        f.people = opt.people ? opt.people : 1000000;
        f.uniform = 1;
        f.alert_rate = opt.alert_rate;
        f.span_days = opt.span_days ? opt.span_days : 365;
        break;
    case FEED_STATE:
        f.people = opt.people ? opt.people : 100000;
        f.uniform = 1;
        f.span_days = span_days;
        break;
    case FEED_BACKFILL: /* the classic mix and people; live_n is the caller's */
        f.people = opt.people ? opt.people : PERSON_POOL;
        f.span_days = 30;
        f.history_days = span_days > 0 ? span_days : 365;
        break;
    }
    return f;
}

static const char *ev_ptr(const struct corpus *c, uint64_t i) { return c->buf.data + c->off[i]; }
static size_t ev_len(const struct corpus *c, uint64_t i) { return c->off[i + 1] - c->off[i]; }

/* ---- the requests ----------------------------------------------------- */

/* Request r publishes events [r*B, min(n, r*B+B)). Its first bytes are
 * fixed: {req: uint64 (0xcf + 8 bytes), op: "publish", event|events: ...},
 * so the echo thread finds req at a fixed offset without parsing. */
#define REQ_HDR_LEN 14

struct requests {
    msgpack_sbuffer buf;
    size_t *off;
    uint64_t n;
};

static void requests_build(struct requests *q, const struct corpus *c, int batch)
{
    memset(q, 0, sizeof *q);
    msgpack_sbuffer_init(&q->buf);
    q->n = (c->n + (uint64_t)batch - 1) / (uint64_t)batch;
    q->off = malloc((q->n + 1) * sizeof *q->off);
    if (!q->off)
        die("out of memory for the requests");
    msgpack_packer pk;
    msgpack_packer_init(&pk, &q->buf, msgpack_sbuffer_write);
    for (uint64_t r = 0; r < q->n; r++) {
        uint64_t e0 = r * (uint64_t)batch, e1 = e0 + (uint64_t)batch;
        if (e1 > c->n)
            e1 = c->n;
        q->off[r] = q->buf.size;
        msgpack_pack_map(&pk, 3);
        pk_str(&pk, "req");
        msgpack_pack_fix_uint64(&pk, r);
        pk_str(&pk, "op");
        pk_str(&pk, "publish");
        if (batch == 1) {
            pk_str(&pk, "event");
        } else {
            pk_str(&pk, "events");
            msgpack_pack_array(&pk, (size_t)(e1 - e0));
        }
        msgpack_sbuffer_write(&q->buf, ev_ptr(c, e0), c->off[e1] - c->off[e0]);
    }
    q->off[q->n] = q->buf.size;
}

/* ---- MessagePack reading ---------------------------------------------- */

static const msgpack_object *mp_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t kl = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == kl &&
            memcmp(k->via.str.ptr, key, kl) == 0)
            return &map->via.map.ptr[i].val;
    }
    return NULL;
}

static int mp_str_is(const msgpack_object *o, const char *s)
{
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

static void mp_str_copy(const msgpack_object *o, char *out, size_t outsz)
{
    if (o && o->type == MSGPACK_OBJECT_STR)
        snprintf(out, outsz, "%.*s", (int)o->via.str.size, o->via.str.ptr);
    else
        snprintf(out, outsz, "?");
}

/* "code: message (field F)" of an error map. */
static void describe_error(const msgpack_object *err, char *out, size_t outsz)
{
    char code[64], msg[512], field[128] = "";
    mp_str_copy(mp_get(err, "code"), code, sizeof code);
    mp_str_copy(mp_get(err, "message"), msg, sizeof msg);
    const msgpack_object *f = mp_get(err, "field");
    if (f)
        mp_str_copy(f, field, sizeof field);
    snprintf(out, outsz, "%s: %s%s%s%s", code, msg, field[0] ? " (field " : "", field,
             field[0] ? ")" : "");
}

static void print_event(FILE *f, const struct corpus *c, uint64_t i)
{
    msgpack_zone z;
    msgpack_zone_init(&z, 4096);
    msgpack_object o;
    size_t off = 0;
    if (msgpack_unpack(ev_ptr(c, i), ev_len(c, i), &off, &z, &o) >= 0)
        msgpack_object_print(f, o);
    fputc('\n', f);
    msgpack_zone_destroy(&z);
}

/* ---- talking to the hub (main thread) --------------------------------- */

static void *dealer_new(void *ctx, const char *endpoint)
{
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int linger = 0;
    if (!s || zmq_setsockopt(s, ZMQ_SNDHWM, &opt.hwm, sizeof opt.hwm) ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &opt.hwm, sizeof opt.hwm) ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger))
        die("cannot create a DEALER socket: %s", zmq_strerror(errno));
    if (zmq_connect(s, endpoint) != 0)
        die("cannot connect to %s: %s", endpoint, zmq_strerror(errno));
    return s;
}

/* Wait for one message on s until deadline_ns. 1 got one, 0 timed out. */
static int recv_until(void *s, zmq_msg_t *m, int64_t deadline_ns)
{
    for (;;) {
        if (zmq_msg_recv(m, s, ZMQ_DONTWAIT) >= 0)
            return 1;
        if (errno != EAGAIN && errno != EINTR)
            die("receive failed: %s", zmq_strerror(errno));
        int64_t left = deadline_ns - now_ns();
        if (left <= 0)
            return 0;
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        long ms = (long)(left / 1000000) + 1;
        if (ms > 100)
            ms = 100; /* wake up to notice an interrupt or a dead hub */
        if (zmq_poll(&it, 1, ms) < 0 && errno != EINTR)
            die("zmq_poll failed: %s", zmq_strerror(errno));
        if (g.hub_pid > 0) {
            int st;
            if (waitpid(g.hub_pid, &st, WNOHANG) == g.hub_pid) {
                g.hub_pid = 0;
                die("csphubd exited (%s %d) while the bench waited for a reply",
                    WIFEXITED(st) ? "status" : "signal",
                    WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
            }
        }
    }
}

/* Send one request (packed map in sb) and unpack its reply into up. Replies
 * to earlier, abandoned requests (other req) are skipped. The unpacked
 * strings point into *m: the caller closes m once done with up. */
static void call(void *s, msgpack_sbuffer *sb, uint64_t reqno, msgpack_unpacked *up,
                 zmq_msg_t *m, double timeout_s, const char *what)
{
    if (zmq_send(s, sb->data, sb->size, 0) < 0)
        die("cannot send %s: %s", what, zmq_strerror(errno));
    int64_t deadline = now_ns() + (int64_t)(timeout_s * 1e9);
    for (;;) {
        zmq_msg_init(m);
        if (!recv_until(s, m, deadline)) {
            zmq_msg_close(m);
            die("no reply to %s within %.0f s: the hub is hung, overloaded, or not at this "
                "endpoint",
                what, timeout_s);
        }
        size_t off = 0;
        int rc = msgpack_unpack_next(up, zmq_msg_data(m), zmq_msg_size(m), &off);
        if (rc != MSGPACK_UNPACK_SUCCESS || up->data.type != MSGPACK_OBJECT_MAP)
            die("the reply to %s is not a MessagePack map", what);
        const msgpack_object *req = mp_get(&up->data, "req");
        if (req && req->type == MSGPACK_OBJECT_POSITIVE_INTEGER && req->via.u64 == reqno)
            return;
        zmq_msg_close(m);
    }
}

static uint64_t ctl_reqno = 1u << 30;

static void pack_op(msgpack_sbuffer *sb, msgpack_packer *pk, const char *op, uint32_t extra,
                    uint64_t *reqno)
{
    sb->size = 0;
    msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(pk, 2 + extra);
    pk_str(pk, "op");
    pk_str(pk, op);
    pk_str(pk, "req");
    *reqno = ++ctl_reqno;
    msgpack_pack_uint64(pk, *reqno);
}

#define MAX_COUNTERS 64
#define MAX_PANELS 32
struct stats {
    int n;
    char name[MAX_COUNTERS][40];
    uint64_t v[MAX_COUNTERS];
    char rejected[256]; /* "code=n ..." */
    /* counters.alerts: alerts on each panel's queue */
    int npanels;
    char panel[MAX_PANELS][40];
    uint64_t panel_alerts[MAX_PANELS];
    uint64_t alerts_total;
    char rule_version[48];
};

static uint64_t stat_panel(const struct stats *st, const char *panel)
{
    for (int i = 0; i < st->npanels; i++)
        if (strcmp(st->panel[i], panel) == 0)
            return st->panel_alerts[i];
    return 0;
}

static uint64_t stat_get(const struct stats *st, const char *name)
{
    for (int i = 0; i < st->n; i++)
        if (strcmp(st->name[i], name) == 0)
            return st->v[i];
    return 0;
}

/* Where the hub's time went between two stats snapshots: the work inside
 * its write transactions and their commits (rule-state flush + synced LMDB
 * commit), per commit and as a share of the wall time. Hubs older than
 * these counters print nothing. */
static void print_hub_time(const char *indent, const struct stats *a, const struct stats *b,
                           double elapsed_s)
{
    uint64_t commits = stat_get(b, "commits") - stat_get(a, "commits");
    uint64_t work = stat_get(b, "batch_work_us") - stat_get(a, "batch_work_us");
    uint64_t commit = stat_get(b, "commit_us") - stat_get(a, "commit_us");
    if (!commits || !(work + commit) || elapsed_s <= 0)
        return;
    printf("%shub time: work in the transaction %.2f ms/commit (%.0f%% of the run), commit "
           "with its sync %.2f ms/commit (%.0f%%)\n",
           indent, (double)work / 1e3 / (double)commits, 100.0 * (double)work / 1e6 / elapsed_s,
           (double)commit / 1e3 / (double)commits, 100.0 * (double)commit / 1e6 / elapsed_s);
}

static void get_stats(void *s, struct stats *st, double timeout_s)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    uint64_t reqno;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    zmq_msg_t m;
    pack_op(&sb, &pk, "stats", 0, &reqno);
    call(s, &sb, reqno, &up, &m, timeout_s, "the stats request");
    const msgpack_object *ok = mp_get(&up.data, "ok");
    const msgpack_object *ctr = mp_get(&up.data, "counters");
    if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean || !ctr ||
        ctr->type != MSGPACK_OBJECT_MAP) {
        char why[700] = "no counters";
        if (mp_get(&up.data, "error"))
            describe_error(mp_get(&up.data, "error"), why, sizeof why);
        die("the hub refused 'stats': %s", why);
    }
    memset(st, 0, sizeof *st);
    for (uint32_t i = 0; i < ctr->via.map.size && st->n < MAX_COUNTERS; i++) {
        const msgpack_object *k = &ctr->via.map.ptr[i].key, *v = &ctr->via.map.ptr[i].val;
        if (k->type != MSGPACK_OBJECT_STR)
            continue;
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            mp_str_copy(k, st->name[st->n], sizeof st->name[0]);
            st->v[st->n++] = v->via.u64;
        } else if (mp_str_is(k, "alerts") && v->type == MSGPACK_OBJECT_MAP) {
            for (uint32_t j = 0; j < v->via.map.size && st->npanels < MAX_PANELS; j++) {
                const msgpack_object_kv *kv = &v->via.map.ptr[j];
                uint64_t cnt = kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER ? kv->val.via.u64 : 0;
                mp_str_copy(&kv->key, st->panel[st->npanels], sizeof st->panel[0]);
                st->panel_alerts[st->npanels++] = cnt;
                st->alerts_total += cnt;
            }
        } else if (mp_str_is(k, "rule_version")) {
            mp_str_copy(v, st->rule_version, sizeof st->rule_version);
        } else if (mp_str_is(k, "rejected") && v->type == MSGPACK_OBJECT_MAP) {
            size_t used = 0;
            for (uint32_t j = 0; j < v->via.map.size; j++) {
                const msgpack_object_kv *kv = &v->via.map.ptr[j];
                char name[40];
                mp_str_copy(&kv->key, name, sizeof name);
                if (used < sizeof st->rejected)
                    used += (size_t)snprintf(st->rejected + used, sizeof st->rejected - used,
                                             "%s%s=%" PRIu64, used ? " " : "", name,
                                             kv->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER
                                                 ? kv->val.via.u64 : 0);
            }
        }
    }
    zmq_msg_close(&m);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

/* Ping until the hub answers (it may still be starting). */
static void wait_ready(void *s, double timeout_s, char *version, size_t vsz, uint64_t *last_seq)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    uint64_t reqno;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    zmq_msg_t m;
    pack_op(&sb, &pk, "ping", 0, &reqno);
    call(s, &sb, reqno, &up, &m, timeout_s, "ping (is the hub running at this endpoint?)");
    mp_str_copy(mp_get(&up.data, "version"), version, vsz);
    const msgpack_object *ls = mp_get(&up.data, "last_seq");
    *last_seq = ls && ls->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? ls->via.u64 : 0;
    zmq_msg_close(&m);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- starting our own hub --------------------------------------------- */

struct hub {
    char dir[PATH_MAX];
    char config[PATH_MAX + 32];
    char log[PATH_MAX + 32];
    char hubd[PATH_MAX];
    char endpoint[64];
    pid_t pid;
    int rules_none; /* rules_file: none (else the source tree's config/rules.yaml) */
    long rss_kb, hwm_kb, anon_kb, file_kb, shmem_kb;
    int exit_status;
};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        die("cannot find a free loopback port: %s", strerror(errno));
    close(fd);
    return ntohs(a.sin_port);
}

static int executable(const char *p) { return p && *p && access(p, X_OK) == 0; }

static void find_hubd(char *out, size_t outsz)
{
    if (opt.hubd) {
        if (!executable(opt.hubd))
            die("--hubd %s: %s", opt.hubd, strerror(errno));
        snprintf(out, outsz, "%s", opt.hubd);
        return;
    }
    const char *env = getenv("CSPH_HUBD");
    if (env && *env) {
        if (!executable(env))
            die("CSPH_HUBD=%s: %s", env, strerror(errno));
        snprintf(out, outsz, "%s", env);
        return;
    }
    char self[PATH_MAX - 32];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = 0;
        char *slash = strrchr(self, '/');
        if (slash) {
            *slash = 0;
            snprintf(out, outsz, "%s/csphubd", self);
            if (executable(out))
                return;
            snprintf(out, outsz, "%s/../csphubd", self);
            if (executable(out))
                return;
        }
    }
    snprintf(out, outsz, "%s", CSPH_BENCH_HUBD);
    if (!executable(out))
        die("cannot find csphubd (tried --hubd, $CSPH_HUBD, next to the bench, %s); build it "
            "with 'cmake --build build --target csphubd' or pass --hubd PATH",
            CSPH_BENCH_HUBD);
}

static void yaml_quoted(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static void print_file_tail(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    if (size > (long)max)
        fseek(f, size - (long)max, SEEK_SET);
    else
        fseek(f, 0, SEEK_SET);
    char b[4096];
    size_t n;
    fprintf(stderr, "---- %s ----\n", path);
    while ((n = fread(b, 1, sizeof b, f)) > 0)
        fwrite(b, 1, n, stderr);
    fprintf(stderr, "----\n");
    fclose(f);
}

static void hub_spawn(struct hub *h, const char *const *extra);

static void hub_start(struct hub *h)
{
    find_hubd(h->hubd, sizeof h->hubd);
    make_tmpdir("hub", h->dir, sizeof h->dir);
    snprintf(h->endpoint, sizeof h->endpoint, "tcp://127.0.0.1:%d", free_port());
    snprintf(h->config, sizeof h->config, "%s/csphub.yaml", h->dir);
    snprintf(h->log, sizeof h->log, "%s/csphubd.log", h->dir);
    snprintf(g.hub_log, sizeof g.hub_log, "%s", h->log);
    FILE *f = fopen(h->config, "w");
    if (!f)
        die("cannot write %s: %s", h->config, strerror(errno));
    char data[PATH_MAX + 8];
    snprintf(data, sizeof data, "%s/data", h->dir);
    fprintf(f, "# written by csphub-bench\ndata_dir: ");
    yaml_quoted(f, data);
    fprintf(f, "\nlisten:\n  - ");
    yaml_quoted(f, h->endpoint);
    fprintf(f, "\nsecurity: none\nlog_level: warn\nschemas_dir: ");
    yaml_quoted(f, CSPH_SOURCE_DIR "/schemas");
    fprintf(f, "\npanels_file: ");
    yaml_quoted(f, CSPH_SOURCE_DIR "/config/panels.yaml");
    fprintf(f, "\nrules_file: ");
    if (h->rules_none)
        fprintf(f, "none");
    else
        yaml_quoted(f, CSPH_SOURCE_DIR "/config/rules.yaml");
    fputc('\n', f);
    if (opt.hub_batch_max)
        fprintf(f, "limits: {batch_max: %u}\n", opt.hub_batch_max);
    if (fclose(f) != 0)
        die("cannot write %s: %s", h->config, strerror(errno));
    hub_spawn(h, NULL);
}

/* Start csphubd on h's config and data directory (hub_start wrote them),
 * its output to h->log; extra (NULL-terminated, may be NULL) comes after
 * the --hub-arg arguments. Sets h->pid. */
static void hub_spawn(struct hub *h, const char *const *extra)
{
    const char *argv[MAX_HUB_ARGS + 16];
    int argc = 0;
    /* Flags override the config file, so --data and --listen hold even when
     * a --hub-arg names another --config. */
    char data_flag[PATH_MAX + 8];
    snprintf(data_flag, sizeof data_flag, "%s/data", h->dir);
    argv[argc++] = h->hubd;
    argv[argc++] = "--config";
    argv[argc++] = h->config;
    argv[argc++] = "--data";
    argv[argc++] = data_flag;
    argv[argc++] = "--listen";
    argv[argc++] = h->endpoint;
    for (int i = 0; i < opt.nhub_args; i++)
        argv[argc++] = opt.hub_args[i];
    for (int i = 0; extra && extra[i] && i < 6; i++)
        argv[argc++] = extra[i];
    argv[argc] = NULL;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        setpgid(0, 0); /* a terminal's ^C reaches the bench, which stops the hub */
        prctl(PR_SET_PDEATHSIG, SIGTERM); /* and a crashed bench leaves no hub behind */
        int fd = open(h->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        execv(h->hubd, (char *const *)argv);
        fprintf(stderr, "cannot run %s: %s\n", h->hubd, strerror(errno));
        _exit(127);
    }
    h->pid = g.hub_pid = pid;
}

/* VmRSS counts the LMDB map's file pages the hub touched (RssFile) as well
 * as its heap (RssAnon): both are shown. */
static void read_rss(pid_t pid, long *rss_kb, long *hwm_kb, long *anon_kb, long *file_kb,
                     long *shmem_kb)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    *rss_kb = *hwm_kb = *anon_kb = *file_kb = *shmem_kb = -1;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm_kb = strtol(line + 6, NULL, 10);
        else if (strncmp(line, "RssAnon:", 8) == 0)
            *anon_kb = strtol(line + 8, NULL, 10);
        else if (strncmp(line, "RssFile:", 8) == 0)
            *file_kb = strtol(line + 8, NULL, 10);
        else if (strncmp(line, "RssShmem:", 9) == 0)
            *shmem_kb = strtol(line + 9, NULL, 10);
    }
    fclose(f);
}

/* CPU seconds (user + system) of process pid, all its threads, or with
 * main_thread only the thread that runs its main() (the hub's loop), from
 * /proc; -1 when it cannot be read. */
static double proc_cpu_s(pid_t pid, int main_thread)
{
    char path[64], buf[1024];
    if (main_thread)
        snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)pid);
    else
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long long ut, st;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Page faults (minor + major) of process pid so far, from /proc; -1 when
 * it cannot be read. */
static double proc_faults(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    unsigned long long minflt, majflt;
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %llu %*u %llu", &minflt, &majflt) != 2)
        return -1;
    return (double)(minflt + majflt);
}

/* CPU seconds of this process (the publishers, their ZeroMQ threads). */
static double self_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void perf_start(pid_t hub_pid)
{
    char pid[24];
    snprintf(pid, sizeof pid, "%d", (int)hub_pid);
    fflush(stdout);
    fflush(stderr);
    pid_t p = fork();
    if (p < 0)
        die("fork: %s", strerror(errno));
    if (p == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGINT);
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0)
            dup2(fd, 1);
        execlp("perf", "perf", "record", "-g", "-q", "-o", opt.perf_file, "-p", pid, (char *)NULL);
        fprintf(stderr, "csphub-bench: cannot run perf: %s\n", strerror(errno));
        _exit(127);
    }
    g.perf_pid = p;
    usleep(300000); /* let perf attach before the load starts */
}

/* ---- the echo baseline ------------------------------------------------ */

struct echo {
    void *ctx;
    void *router;
    char endpoint[PATH_MAX + 16];
    atomic_int stop;
    pthread_t thread;
    uint64_t seq;
    uint64_t replies;
    uint64_t nevents;
    int batch;
};

/* Answer every request with a reply of the hub's shape and size, using no
 * hub logic: req is copied from its fixed place. */
static void *echo_main(void *arg)
{
    struct echo *e = arg;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    while (!atomic_load(&e->stop)) {
        zmq_pollitem_t it = {e->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 50) < 0 && errno != EINTR)
            die("echo: zmq_poll: %s", zmq_strerror(errno));
        for (;;) {
            zmq_msg_t id, body;
            zmq_msg_init(&id);
            if (zmq_msg_recv(&id, e->router, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&id);
                break;
            }
            if (!zmq_msg_more(&id)) {
                zmq_msg_close(&id);
                continue;
            }
            zmq_msg_init(&body);
            zmq_msg_recv(&body, e->router, 0);
            while (zmq_msg_more(&body)) { /* not ours: keep the last frame */
                zmq_msg_close(&body);
                zmq_msg_init(&body);
                zmq_msg_recv(&body, e->router, 0);
            }
            const unsigned char *b = zmq_msg_data(&body);
            uint64_t r = 0;
            if (zmq_msg_size(&body) >= REQ_HDR_LEN && b[0] == 0x83 && b[1] == 0xa3 &&
                memcmp(b + 2, "req", 3) == 0 && b[5] == 0xcf)
                for (int i = 0; i < 8; i++)
                    r = r << 8 | b[6 + i];
            uint64_t n = 1;
            if (e->batch > 1) {
                uint64_t e0 = r * (uint64_t)e->batch;
                n = e0 < e->nevents ? e->nevents - e0 : 1;
                if (n > (uint64_t)e->batch)
                    n = (uint64_t)e->batch;
            }
            sb.size = 0;
            if (e->batch == 1) {
                msgpack_pack_map(&pk, 4);
                pk_str(&pk, "req");
                msgpack_pack_fix_uint64(&pk, r);
                pk_str(&pk, "ok");
                msgpack_pack_true(&pk);
                pk_str(&pk, "status");
                pk_str(&pk, "accepted");
                pk_str(&pk, "seq");
                msgpack_pack_uint64(&pk, ++e->seq);
            } else {
                msgpack_pack_map(&pk, 3);
                pk_str(&pk, "req");
                msgpack_pack_fix_uint64(&pk, r);
                pk_str(&pk, "ok");
                msgpack_pack_true(&pk);
                pk_str(&pk, "results");
                msgpack_pack_array(&pk, (size_t)n);
                for (uint64_t i = 0; i < n; i++) {
                    msgpack_pack_map(&pk, 2);
                    pk_str(&pk, "status");
                    pk_str(&pk, "accepted");
                    pk_str(&pk, "seq");
                    msgpack_pack_uint64(&pk, ++e->seq);
                }
            }
            if (zmq_msg_send(&id, e->router, ZMQ_SNDMORE) < 0 ||
                zmq_send(e->router, sb.data, sb.size, 0) < 0) {
                zmq_msg_close(&id);
                if (errno == EHOSTUNREACH) { /* the client went away */
                    zmq_msg_close(&body);
                    continue;
                }
                die("echo: send: %s", zmq_strerror(errno));
            }
            e->replies++;
            zmq_msg_close(&body);
        }
    }
    msgpack_sbuffer_destroy(&sb);
    return NULL;
}

static void echo_start(struct echo *e, const char *like_endpoint, uint64_t nevents)
{
    memset(e, 0, sizeof *e);
    e->nevents = nevents;
    e->batch = opt.batch;
    e->ctx = zmq_ctx_new();
    e->router = zmq_socket(e->ctx, ZMQ_ROUTER);
    int one = 1, linger = 0;
    int64_t maxmsg = 1 << 20;
    if (!e->router || zmq_setsockopt(e->router, ZMQ_ROUTER_MANDATORY, &one, sizeof one) ||
        zmq_setsockopt(e->router, ZMQ_SNDHWM, &opt.hwm, sizeof opt.hwm) ||
        zmq_setsockopt(e->router, ZMQ_RCVHWM, &opt.hwm, sizeof opt.hwm) ||
        zmq_setsockopt(e->router, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) ||
        zmq_setsockopt(e->router, ZMQ_LINGER, &linger, sizeof linger))
        die("echo: cannot create the ROUTER: %s", zmq_strerror(errno));
    /* The hub's transport: ipc:// when the hub is on ipc://, else loopback TCP. */
    char bind_ep[PATH_MAX + 16];
    if (strncmp(like_endpoint, "ipc://", 6) == 0) {
        char dir[PATH_MAX];
        make_tmpdir("echo", dir, sizeof dir);
        snprintf(bind_ep, sizeof bind_ep, "ipc://%s/echo.sock", dir);
    } else {
        snprintf(bind_ep, sizeof bind_ep, "tcp://127.0.0.1:*");
    }
    if (zmq_bind(e->router, bind_ep) != 0)
        die("echo: cannot bind %s: %s", bind_ep, zmq_strerror(errno));
    size_t len = sizeof e->endpoint;
    zmq_getsockopt(e->router, ZMQ_LAST_ENDPOINT, e->endpoint, &len);
    if (pthread_create(&e->thread, NULL, echo_main, e) != 0)
        die("cannot start the echo thread");
}

static void echo_stop(struct echo *e)
{
    atomic_store(&e->stop, 1);
    pthread_join(e->thread, NULL);
    zmq_close(e->router);
    zmq_ctx_term(e->ctx);
}

/* ---- a publish phase -------------------------------------------------- */

struct phase_result {
    uint64_t requests;          /* replied */
    uint64_t requests_sent;
    uint64_t accepted, duplicate;
    uint64_t failed;            /* busy / internal: not accepted, not a bench bug */
    char first_failure[700];
    double elapsed_s;
    double events_per_s, requests_per_s;
    double p50_ms, p90_ms, p99_ms, p999_ms, max_ms, mean_ms;
    int paced;                  /* --rate: sent on a schedule */
    double lag_p99_ms, lag_max_ms; /* paced: how late sends were against the schedule */
};

struct phase {
    const char *name;
    const char *endpoint;
    void *ctx;
    const struct corpus *corpus;
    const struct requests *reqs;
    int64_t *sent_ns; /* per request */
    int64_t *lat_ns;  /* per request; 0: no reply (yet) */
    pthread_barrier_t ready;
    pthread_mutex_t mu;
    int hub; /* replies come from the hub: check them for rejections */
    struct phase_result res;
    /* --rate: publisher i sends its k-th request at start_ns + (k + i/np) x interval */
    int64_t start_ns;
    int64_t *lag_ns; /* per request: sent - scheduled */
    /* When set (--alert-latency): per seq (seq_base + 1 + i), when its request
     * was sent and when the publisher received its ack. */
    int64_t *seq_sent_ns, *seq_ack_ns;
    uint64_t seq_base, seq_cap;
    /* When set (--backfill): per event of the corpus, the seq its ack gave. */
    uint64_t *ev_seq;
};

struct publisher {
    struct phase *ph;
    int idx;
    pthread_t thread;
    uint64_t r0, r1;
    uint64_t sent, replied, accepted, duplicate, failed;
    int64_t first_ns, last_ns;
};

static void rejection(struct publisher *p, uint64_t r, int64_t ev, const msgpack_object *err,
                      uint64_t nreplied)
{
    struct phase *ph = p->ph;
    const msgpack_object *code = mp_get(err, "code");
    char why[600];
    describe_error(err, why, sizeof why);
    if (mp_str_is(code, "busy") || mp_str_is(code, "internal")) {
        /* The hub is at a limit or failed a commit: nothing was done. Counted
         * and shown; the events are not resent. */
        pthread_mutex_lock(&ph->mu);
        if (!ph->res.first_failure[0])
            snprintf(ph->res.first_failure, sizeof ph->res.first_failure,
                     "request %" PRIu64 ": %s", r, why);
        pthread_mutex_unlock(&ph->mu);
        p->failed++;
        return;
    }
    /* Any other rejection: our events should all be valid, so the figures
     * would be meaningless. Show the first one and stop. */
    pthread_mutex_lock(&g.dying);
    fflush(stdout);
    fprintf(stderr,
            "csphub-bench: the hub REJECTED an event (publisher %d, request %" PRIu64
            ", reply %" PRIu64 " of this publisher): %s\n",
            p->idx, r, nreplied, why);
    if (ev >= 0) {
        fprintf(stderr, "csphub-bench: the rejected event (#%" PRId64 "): ", ev);
        print_event(stderr, ph->corpus, (uint64_t)ev);
    }
    fprintf(stderr, "csphub-bench: every generated event should be valid against schemas/: "
                    "either the generator or the hub's schemas changed. No figures.\n");
    cleanup_all();
    _exit(1);
}

static void note_seq(struct phase *ph, const msgpack_object *seq, uint64_t r, int64_t t)
{
    if (!ph->seq_sent_ns || !seq || seq->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return;
    uint64_t sq = seq->via.u64;
    if (sq <= ph->seq_base || sq - ph->seq_base > ph->seq_cap)
        return;
    ph->seq_sent_ns[sq - ph->seq_base - 1] = ph->sent_ns[r];
    ph->seq_ack_ns[sq - ph->seq_base - 1] = t;
}

static void note_ev_seq(struct phase *ph, const msgpack_object *seq, uint64_t ev)
{
    if (ph->ev_seq && seq && seq->type == MSGPACK_OBJECT_POSITIVE_INTEGER && ev < ph->corpus->n)
        ph->ev_seq[ev] = seq->via.u64;
}

static void handle_reply(struct publisher *p, msgpack_unpacked *up, const char *data, size_t len,
                         int64_t t)
{
    struct phase *ph = p->ph;
    size_t off = 0;
    if (msgpack_unpack_next(up, data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
        up->data.type != MSGPACK_OBJECT_MAP)
        die("%s: publisher %d got a reply that is not a MessagePack map (%zu bytes)", ph->name,
            p->idx, len);
    const msgpack_object *root = &up->data;
    const msgpack_object *req = mp_get(root, "req"), *ok = mp_get(root, "ok");
    if (!req || req->type != MSGPACK_OBJECT_POSITIVE_INTEGER || req->via.u64 < p->r0 ||
        req->via.u64 >= p->r1 || ph->lat_ns[req->via.u64]) {
        char why[700] = "";
        if (mp_get(root, "error"))
            describe_error(mp_get(root, "error"), why, sizeof why);
        die("%s: publisher %d got a reply to no request of its own in flight (req %s%" PRIu64
            ")%s%s",
            ph->name, p->idx, req && req->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? "" : "absent ",
            req && req->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? req->via.u64 : 0,
            why[0] ? ": " : "", why);
    }
    uint64_t r = req->via.u64;
    int64_t lat = t - ph->sent_ns[r];
    ph->lat_ns[r] = lat > 0 ? lat : 1;
    p->replied++;
    p->last_ns = t;
    uint64_t e0 = r * (uint64_t)opt.batch;
    if (ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean) {
        const msgpack_object *results = mp_get(root, "results");
        if (results && results->type == MSGPACK_OBJECT_ARRAY) {
            for (uint32_t i = 0; i < results->via.array.size; i++) {
                const msgpack_object *el = &results->via.array.ptr[i];
                const msgpack_object *st = mp_get(el, "status");
                if (mp_str_is(st, "accepted")) {
                    p->accepted++;
                    note_seq(ph, mp_get(el, "seq"), r, t);
                    note_ev_seq(ph, mp_get(el, "seq"), e0 + i);
                } else if (mp_str_is(st, "duplicate"))
                    p->duplicate++;
                else if (ph->hub)
                    rejection(p, r, (int64_t)(e0 + i), mp_get(el, "error"), p->replied);
            }
        } else {
            const msgpack_object *st = mp_get(root, "status");
            if (mp_str_is(st, "accepted")) {
                p->accepted++;
                note_seq(ph, mp_get(root, "seq"), r, t);
                note_ev_seq(ph, mp_get(root, "seq"), e0);
            } else if (mp_str_is(st, "duplicate"))
                p->duplicate++;
            else
                die("%s: an ok reply to request %" PRIu64 " has neither status nor results",
                    ph->name, r);
        }
        return;
    }
    rejection(p, r, opt.batch == 1 ? (int64_t)e0 : -1, mp_get(root, "error"), p->replied);
    if (opt.batch > 1) { /* a whole batch refused (busy/internal): count its events */
        uint64_t n = ph->corpus->n - e0 < (uint64_t)opt.batch ? ph->corpus->n - e0
                                                              : (uint64_t)opt.batch;
        p->failed += n - 1;
    }
}

static void *publisher_main(void *arg)
{
    struct publisher *p = arg;
    struct phase *ph = p->ph;
    const struct requests *q = ph->reqs;
    void *s = dealer_new(ph->ctx, ph->endpoint);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    const int64_t timeout_ns = (int64_t)(opt.reply_timeout_s * 1e9);
    pthread_barrier_wait(&ph->ready);

    /* Paced (--rate): request k of this publisher is due at sched0 + k x
     * interval; a timerfd wakes the poll below at that instant, so sends
     * keep to the schedule without spinning. A late send (window full, HWM)
     * goes as soon as it can and its lateness is recorded. */
    const int paced = opt.rate > 0;
    const int64_t tick_ns = (int64_t)(opt.pace_tick_us * 1000.0);
    int tfd = -1;
    int64_t interval_ns = 0, sched0 = 0, tick0 = 0;
    if (paced) {
        interval_ns = (int64_t)(1e9 * (double)opt.batch * (double)opt.publishers / opt.rate);
        sched0 = ph->start_ns + interval_ns * p->idx / opt.publishers;
        /* ticks staggered too; the grid starts a tick early so sched - tick0 >= 0 */
        tick0 = ph->start_ns - tick_ns + tick_ns * p->idx / opt.publishers;
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (tfd < 0)
            die("timerfd_create: %s", strerror(errno));
        while (now_ns() < sched0 - 1000000) /* the first send is on schedule too */
            usleep(500);
    }
    p->first_ns = p->last_ns = now_ns();
    const int64_t stop_ns =
        opt.duration_limit_s > 0 ? p->first_ns + (int64_t)(opt.duration_limit_s * 1e9) : INT64_MAX;
    uint64_t next = p->r0, low = p->r0, end = p->r1;
    int inflight = 0;
    while (low < end) {
        int64_t now = now_ns();
        if (next < end && (g.interrupted || now >= stop_ns)) {
            end = next; /* stop sending; drain what is in flight */
            if (low >= end)
                break;
        }
        int blocked = 0;
        int64_t due = 0; /* paced: when the next request is due, if not yet */
        while (inflight < opt.window && next < end) {
            if (paced) {
                int64_t sched = sched0 + (int64_t)(next - p->r0) * interval_ns, t = now_ns();
                if (tick_ns) /* --pace-tick: wake once a tick, send what is due */
                    sched = tick0 + (sched - tick0 + tick_ns - 1) / tick_ns * tick_ns;
                if (t < sched) {
                    due = sched;
                    break;
                }
                ph->lag_ns[next] = t - sched;
            }
            ph->sent_ns[next] = now_ns();
            if (zmq_send(s, q->buf.data + q->off[next], q->off[next + 1] - q->off[next],
                         ZMQ_DONTWAIT) < 0) {
                if (errno == EAGAIN) {
                    blocked = 1; /* HWM reached: read replies first */
                    break;
                }
                if (errno == EINTR)
                    continue;
                die("%s: publisher %d cannot send: %s", ph->name, p->idx, zmq_strerror(errno));
            }
            next++;
            inflight++;
            p->sent++;
        }
        now = now_ns();
        int64_t deadline = inflight ? ph->sent_ns[low] + timeout_ns : now + 10000000;
        if (now >= deadline) {
            fflush(stdout);
            die("%s: NO REPLY to publish request %" PRIu64 " (publisher %d) within %.0f s; "
                "%d requests of this publisher in flight, %" PRIu64 " replies received so far. "
                "The hub hung or dropped replies.",
                ph->name, low, p->idx, opt.reply_timeout_s, inflight, p->replied);
        }
        long wait_ms = (long)((deadline - now) / 1000000) + 1;
        if (wait_ms > 100)
            wait_ms = 100; /* notice an interrupt or the duration limit */
        if (blocked && wait_ms > 1)
            wait_ms = 1;
        zmq_pollitem_t it[2] = {{s, 0, ZMQ_POLLIN, 0}, {NULL, tfd, ZMQ_POLLIN, 0}};
        if (due) {
            struct itimerspec its = {.it_value = {.tv_sec = due / 1000000000,
                                                  .tv_nsec = due % 1000000000}};
            if (timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
                die("timerfd_settime: %s", strerror(errno));
        }
        int rc = zmq_poll(it, due ? 2 : 1, wait_ms);
        if (rc < 0 && errno != EINTR)
            die("%s: zmq_poll: %s", ph->name, zmq_strerror(errno));
        if (due && (it[1].revents & ZMQ_POLLIN)) {
            uint64_t expirations;
            if (read(tfd, &expirations, sizeof expirations) < 0 && errno != EAGAIN)
                die("timerfd read: %s", strerror(errno));
        }
        if (rc <= 0 || !(it[0].revents & ZMQ_POLLIN))
            continue;
        for (;;) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&m);
                break;
            }
            handle_reply(p, &up, zmq_msg_data(&m), zmq_msg_size(&m), now_ns());
            zmq_msg_close(&m);
            inflight--;
        }
        while (low < next && ph->lat_ns[low])
            low++;
    }
    if (tfd >= 0)
        close(tfd);
    msgpack_unpacked_destroy(&up);
    zmq_close(s);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of a sorted array. */
static double pct_ms(const int64_t *v, uint64_t n, double p)
{
    if (!n)
        return 0;
    uint64_t k = (uint64_t)ceil(p * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return (double)v[k - 1] / 1e6;
}

static void run_phase(struct phase *ph)
{
    const struct requests *q = ph->reqs;
    int np = opt.publishers;
    ph->sent_ns = calloc(q->n ? q->n : 1, sizeof *ph->sent_ns);
    ph->lat_ns = calloc(q->n ? q->n : 1, sizeof *ph->lat_ns);
    ph->lag_ns = calloc(q->n ? q->n : 1, sizeof *ph->lag_ns);
    struct publisher *pubs = calloc((size_t)np, sizeof *pubs);
    if (!ph->sent_ns || !ph->lat_ns || !ph->lag_ns || !pubs)
        die("out of memory for %" PRIu64 " requests", q->n);
    pthread_mutex_init(&ph->mu, NULL);
    pthread_barrier_init(&ph->ready, NULL, (unsigned)np + 1);
    for (int i = 0; i < np; i++) {
        pubs[i] = (struct publisher){.ph = ph, .idx = i,
                                     .r0 = q->n * (uint64_t)i / (uint64_t)np,
                                     .r1 = q->n * (uint64_t)(i + 1) / (uint64_t)np};
        if (pthread_create(&pubs[i].thread, NULL, publisher_main, &pubs[i]) != 0)
            die("cannot start publisher thread %d", i);
    }
    usleep(200000); /* let every DEALER finish its TCP handshake */
    ph->start_ns = now_ns() + 20000000; /* paced: the schedule starts in 20 ms */
    pthread_barrier_wait(&ph->ready);
    for (int i = 0; i < np; i++)
        pthread_join(pubs[i].thread, NULL);

    struct phase_result *res = &ph->res;
    int64_t t0 = INT64_MAX, t1 = 0;
    for (int i = 0; i < np; i++) {
        struct publisher *p = &pubs[i];
        if (p->r0 == p->r1)
            continue;
        if (p->first_ns < t0)
            t0 = p->first_ns;
        if (p->last_ns > t1)
            t1 = p->last_ns;
        res->requests += p->replied;
        res->requests_sent += p->sent;
        res->accepted += p->accepted;
        res->duplicate += p->duplicate;
        res->failed += p->failed;
    }
    res->elapsed_s = t1 > t0 ? secs(t1 - t0) : 0;
    uint64_t nlat = res->requests > res->requests_sent ? res->requests : res->requests_sent;
    int64_t *lat = malloc((nlat ? nlat : 1) * sizeof *lat);
    uint64_t n = 0;
    double sum = 0;
    for (uint64_t r = 0; r < q->n; r++)
        if (ph->lat_ns[r]) {
            lat[n++] = ph->lat_ns[r];
            sum += (double)ph->lat_ns[r];
        }
    qsort(lat, n, sizeof *lat, cmp_i64);
    res->p50_ms = pct_ms(lat, n, 0.50);
    res->p90_ms = pct_ms(lat, n, 0.90);
    res->p99_ms = pct_ms(lat, n, 0.99);
    res->p999_ms = pct_ms(lat, n, 0.999);
    res->max_ms = n ? (double)lat[n - 1] / 1e6 : 0;
    res->mean_ms = n ? sum / (double)n / 1e6 : 0;
    if (res->elapsed_s > 0) {
        res->events_per_s = (double)res->accepted / res->elapsed_s;
        res->requests_per_s = (double)res->requests / res->elapsed_s;
    }
    if (opt.rate > 0) {
        res->paced = 1;
        n = 0;
        for (uint64_t r = 0; r < q->n; r++)
            if (ph->sent_ns[r])
                lat[n++] = ph->lag_ns[r];
        qsort(lat, n, sizeof *lat, cmp_i64);
        res->lag_p99_ms = pct_ms(lat, n, 0.99);
        res->lag_max_ms = n ? (double)lat[n - 1] / 1e6 : 0;
    }
    free(lat);
    free(ph->lag_ns);
    free(pubs);
    free(ph->sent_ns);
    free(ph->lat_ns);
    pthread_barrier_destroy(&ph->ready);
    pthread_mutex_destroy(&ph->mu);
}

/* ---- replay ----------------------------------------------------------- */

struct replay_result {
    uint64_t events, pages, bytes;
    double elapsed_s, events_per_s, mb_per_s;
    double page_p50_ms, page_max_ms;
};

/* A replay page read the way a fast client would: every event is walked
 * and checked to be a well-formed MessagePack map without building it
 * (msgpack-c's tree of 10,000 events costs the client more than the hub
 * spends serving the page); the small fields are decoded. */
struct replay_page {
    int have_req, ok, have_next, have_end, end, have_events;
    uint64_t req, next, events;
    size_t err_off, err_len; /* the error map's bytes, when ok is false */
};

static size_t str_header(const unsigned char *p, size_t len, size_t *n)
{
    if (len >= 1 && (p[0] & 0xe0) == 0xa0) {
        *n = p[0] & 0x1f;
        return 1;
    }
    if (len >= 2 && p[0] == 0xd9) {
        *n = p[1];
        return 2;
    }
    return 0;
}

static int read_page(const char *buf, size_t len, struct replay_page *pg)
{
    const unsigned char *p = (const unsigned char *)buf;
    size_t off = 0;
    uint32_t pairs;
    memset(pg, 0, sizeof *pg);
    if (csph_mp_header(buf, len, &off, 1, &pairs))
        return -1;
    for (uint32_t i = 0; i < pairs; i++) {
        size_t kl, h = str_header(p + off, len - off, &kl);
        if (!h || kl > len - off - h)
            return -1;
        const char *key = buf + off + h;
        off += h + kl;
        size_t v0 = off;
        if (kl == 6 && !memcmp(key, "events", 6)) {
            uint32_t n;
            if (csph_mp_header(buf, len, &off, 0, &n))
                return -1;
            for (uint32_t e = 0; e < n; e++) {
                if (off >= len || !((p[off] & 0xf0) == 0x80 || p[off] == 0xde || p[off] == 0xdf))
                    return -1;
                if (csph_mp_check(buf, len, &off, 64))
                    return -1;
            }
            pg->events = n;
            pg->have_events = 1;
            continue;
        }
        if (csph_mp_check(buf, len, &off, 64))
            return -1;
        msgpack_unpacked up;
        size_t o = 0;
        msgpack_unpacked_init(&up);
        if (msgpack_unpack_next(&up, buf + v0, off - v0, &o) != MSGPACK_UNPACK_SUCCESS) {
            msgpack_unpacked_destroy(&up);
            return -1;
        }
        const msgpack_object *v = &up.data;
        if (kl == 3 && !memcmp(key, "req", 3) && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            pg->have_req = 1;
            pg->req = v->via.u64;
        } else if (kl == 2 && !memcmp(key, "ok", 2) && v->type == MSGPACK_OBJECT_BOOLEAN) {
            pg->ok = v->via.boolean;
        } else if (kl == 4 && !memcmp(key, "next", 4) &&
                   v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            pg->have_next = 1;
            pg->next = v->via.u64;
        } else if (kl == 3 && !memcmp(key, "end", 3) && v->type == MSGPACK_OBJECT_BOOLEAN) {
            pg->have_end = 1;
            pg->end = v->via.boolean;
        } else if (kl == 5 && !memcmp(key, "error", 5)) {
            pg->err_off = v0;
            pg->err_len = off - v0;
        }
        msgpack_unpacked_destroy(&up);
    }
    return off == len ? 0 : -1;
}

static void run_replay(void *s, struct replay_result *rr)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    memset(rr, 0, sizeof *rr);
    uint64_t after = 0, cap = 64, reqno;
    int64_t *page_ns = malloc(cap * sizeof *page_ns);
    int64_t t0 = now_ns();
    for (;;) {
        if (g.interrupted)
            die("interrupted during replay");
        pack_op(&sb, &pk, "replay", 2, &reqno);
        pk_str(&pk, "after");
        msgpack_pack_uint64(&pk, after);
        pk_str(&pk, "max");
        msgpack_pack_uint32(&pk, REPLAY_PAGE_MAX);
        int64_t ts = now_ns();
        if (zmq_send(s, sb.data, sb.size, 0) < 0)
            die("cannot send a replay request: %s", zmq_strerror(errno));
        zmq_msg_t m;
        zmq_msg_init(&m);
        int64_t deadline = ts + (int64_t)(opt.reply_timeout_s * 1e9);
        struct replay_page pg;
        for (;;) {
            if (!recv_until(s, &m, deadline))
                die("replay: NO REPLY to the page after seq %" PRIu64 " within %.0f s", after,
                    opt.reply_timeout_s);
            if (read_page(zmq_msg_data(&m), zmq_msg_size(&m), &pg))
                die("replay: the reply is not well-formed MessagePack");
            if (pg.have_req && pg.req == reqno)
                break;
            zmq_msg_close(&m);
            zmq_msg_init(&m);
        }
        int64_t te = now_ns();
        rr->bytes += zmq_msg_size(&m);
        if (!pg.ok) {
            char why[700] = "?";
            size_t o = 0;
            if (pg.err_len &&
                msgpack_unpack_next(&up, (const char *)zmq_msg_data(&m) + pg.err_off, pg.err_len,
                                    &o) == MSGPACK_UNPACK_SUCCESS)
                describe_error(&up.data, why, sizeof why);
            die("replay after %" PRIu64 " was refused: %s", after, why);
        }
        if (!pg.have_events || !pg.have_next || !pg.have_end)
            die("replay: a reply without events, next and end");
        if (rr->pages == cap) {
            cap *= 2;
            page_ns = realloc(page_ns, cap * sizeof *page_ns);
        }
        page_ns[rr->pages++] = te - ts;
        rr->events += pg.events;
        int done = pg.end;
        uint64_t next = pg.next;
        zmq_msg_close(&m);
        if (done)
            break;
        if (next <= after)
            die("replay: 'next' (%" PRIu64 ") did not move past 'after' (%" PRIu64 ") and 'end' "
                "is false: the hub would page forever",
                next, after);
        after = next;
    }
    rr->elapsed_s = secs(now_ns() - t0);
    if (rr->elapsed_s > 0) {
        rr->events_per_s = (double)rr->events / rr->elapsed_s;
        rr->mb_per_s = (double)rr->bytes / 1048576.0 / rr->elapsed_s;
    }
    qsort(page_ns, rr->pages, sizeof *page_ns, cmp_i64);
    rr->page_p50_ms = pct_ms(page_ns, rr->pages, 0.5);
    rr->page_max_ms = rr->pages ? (double)page_ns[rr->pages - 1] / 1e6 : 0;
    free(page_ns);
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

/* ---- the storage baselines -------------------------------------------- */

struct store_result {
    uint32_t commit_every;
    int observed; /* K is the hub's observed events per commit */
    uint64_t events, commits;
    double elapsed_s, events_per_s, commits_per_s;
    double commit_p50_ms, commit_p99_ms; /* one batch: its puts and its synced commit */
    int limited; /* stopped by --baseline-limit before all events */
    int64_t *lat_ns;
    uint64_t nlat, caplat;
};

static void batch_time(struct store_result *r, int64_t ns)
{
    if (r->nlat == r->caplat) {
        r->caplat = r->caplat ? r->caplat * 2 : 1024;
        r->lat_ns = realloc(r->lat_ns, r->caplat * sizeof *r->lat_ns);
        if (!r->lat_ns)
            die("out of memory");
    }
    r->lat_ns[r->nlat++] = ns;
}

/* The counts and rates of a finished baseline; the batch times become
 * percentiles. */
static void baseline_done(struct store_result *r, uint64_t events, int64_t t0)
{
    r->elapsed_s = secs(now_ns() - t0);
    r->events = events;
    r->events_per_s = r->elapsed_s > 0 ? (double)events / r->elapsed_s : 0;
    r->commits_per_s = r->elapsed_s > 0 ? (double)r->commits / r->elapsed_s : 0;
    qsort(r->lat_ns, r->nlat, sizeof *r->lat_ns, cmp_i64);
    r->commit_p50_ms = pct_ms(r->lat_ns, r->nlat, 0.5);
    r->commit_p99_ms = pct_ms(r->lat_ns, r->nlat, 0.99);
    free(r->lat_ns);
    r->lat_ns = NULL;
    r->nlat = r->caplat = 0;
}

static void lmdb_check(int rc, const char *what)
{
    if (rc)
        die("LMDB baseline: %s: %s", what, mdb_strerror(rc));
}

/* Raw LMDB: the event bytes keyed by seq (MDB_APPEND), default (synced)
 * commits every K events. */
static void lmdb_baseline(const struct corpus *c, uint64_t n, struct store_result *r)
{
    char dir[PATH_MAX];
    make_tmpdir("lmdb", dir, sizeof dir);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    size_t map = (size_t)(c->off[n] * 3) + (256u << 20);
    lmdb_check(mdb_env_create(&env), "create");
    lmdb_check(mdb_env_set_mapsize(env, map), "mapsize");
    lmdb_check(mdb_env_set_maxdbs(env, 4), "maxdbs");
    lmdb_check(mdb_env_open(env, dir, MDB_NOTLS | MDB_NORDAHEAD, 0600), "open");
    lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "begin");
    lmdb_check(mdb_dbi_open(txn, "events", MDB_CREATE | MDB_INTEGERKEY, &dbi), "dbi");
    lmdb_check(mdb_txn_commit(txn), "commit");
    sync();
    const int64_t limit_ns = (int64_t)(opt.baseline_limit_s * 1e9);
    int64_t t0 = now_ns();
    uint64_t i = 0;
    r->commits = 0;
    while (i < n) {
        int64_t tb = now_ns();
        lmdb_check(mdb_txn_begin(env, NULL, 0, &txn), "begin");
        for (uint32_t k = 0; k < r->commit_every && i < n; k++, i++) {
            uint64_t seq = i + 1;
            MDB_val key = {8, &seq}, val = {ev_len(c, i), (void *)ev_ptr(c, i)};
            lmdb_check(mdb_put(txn, dbi, &key, &val, MDB_APPEND), "put");
        }
        lmdb_check(mdb_txn_commit(txn), "commit");
        r->commits++;
        batch_time(r, now_ns() - tb);
        if (now_ns() - t0 > limit_ns || g.interrupted)
            break;
    }
    r->limited = i < n;
    baseline_done(r, i, t0);
    mdb_env_close(env);
    forget_tmpdir(dir);
}

/* The hub's storage layer (hub/store.c): dedup lookup and insert, content
 * hash, hash chain, append, synced commit every K events. No network, no
 * MessagePack decoding, no schema checks. */
static void store_baseline(const struct corpus *c, uint64_t n, struct store_result *r)
{
    char dir[PATH_MAX], data[PATH_MAX + 8];
    make_tmpdir("store", dir, sizeof dir);
    snprintf(data, sizeof data, "%s/data", dir);
    struct csph_store *st = NULL;
    struct csph_error err;
    if (csph_store_open(&st, data, (uint64_t)c->off[n] * 4 + (256u << 20), &err))
        die("store baseline: %s", err.message);
    sync();
    const int64_t limit_ns = (int64_t)(opt.baseline_limit_s * 1e9);
    int64_t t0 = now_ns();
    uint64_t i = 0;
    r->commits = 0;
    while (i < n) {
        int64_t tb = now_ns();
        if (csph_store_write_begin(st, &err))
            die("store baseline: %s", err.message);
        for (uint32_t k = 0; k < r->commit_every && i < n; k++, i++) {
            const struct evmeta *m = &c->meta[i];
            const char *ev = ev_ptr(c, i);
            struct csph_append a = {
                .source = sources[m->source], .source_len = strlen(sources[m->source]),
                .id = ev + m->id_off, .id_len = m->id_len,
                .type = type_names[m->type], .type_len = strlen(type_names[m->type]),
                .occurred_ms = m->occurred_ms, .received_ms = m->occurred_ms,
                .bytes = ev, .len = ev_len(c, i),
            };
            uint64_t seq;
            int dup;
            if (csph_store_append(st, &a, &seq, &dup, &err))
                die("store baseline: %s", err.message);
        }
        if (csph_store_write_commit(st, &err))
            die("store baseline: %s", err.message);
        csph_store_index_settle(st); /* as the hub does after its replies */
        r->commits++;
        batch_time(r, now_ns() - tb);
        if (now_ns() - t0 > limit_ns || g.interrupted)
            break;
    }
    r->limited = i < n;
    baseline_done(r, i, t0);
    csph_store_close(&st);
    forget_tmpdir(dir);
}

/* ---- options parsing -------------------------------------------------- */

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

static void parse_options(int argc, char **argv)
{
    enum {
        O_ENDPOINT = 256, O_HUBD, O_HUB_ARG, O_HUB_BATCH_MAX, O_DURATION, O_SEED, O_REPLAY,
        O_COMMIT_EVERY, O_BASELINE_LIMIT, O_NO_BASELINE, O_TMPDIR, O_REPLY_TIMEOUT, O_HWM,
        O_PERF, O_KEEP, O_RULES, O_COMPARE_RULES, O_ALERT_RATE, O_RATE, O_PEOPLE, O_SPAN_DAYS,
        O_ALERT_LATENCY, O_STATE_SIZE, O_PACE_TICK, O_PAIRS, O_BACKFILL, O_SCALE, O_SCALE_STEP
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
        case O_KEEP: opt.keep = 1; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc) {
        fprintf(stderr, "csphub-bench: unexpected argument '%s' (see --help)\n", argv[optind]);
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
    if (opt.state_size) {
        if (!opt.set_events)
            opt.events = 1000000;
        if (!opt.set_batch)
            opt.batch = 100;
        if (!opt.set_window)
            opt.window = 4;
        if (!opt.set_duration)
            opt.duration_limit_s = 0;
    }
    if (opt.backfill) {
        if (!opt.set_events)
            opt.events = 300000;
        if (!opt.set_publishers)
            opt.publishers = 1;
        if (!opt.set_batch)
            opt.batch = 100;
        if (!opt.set_window)
            opt.window = 10;
        if (!opt.set_duration)
            opt.duration_limit_s = 0;
    }
    if (opt.scale) {
        if (!opt.set_events)
            opt.events = 10000000;
        if (!opt.set_batch)
            opt.batch = 100;
        if (!opt.set_window)
            opt.window = 4;
        if (!opt.set_duration)
            opt.duration_limit_s = 0;
        if (!opt.scale_step)
            opt.scale_step = 1000000;
    }
    if (!opt.tmpdir) {
        opt.tmpdir = getenv("TMPDIR");
        if (!opt.tmpdir || !*opt.tmpdir)
            opt.tmpdir = "/tmp";
    }
}

/* ---- output ----------------------------------------------------------- */

static void print_phase_row(const char *label, const struct phase_result *r)
{
    printf("  %-34s %10.0f %10.0f %9.3f %9.3f %9.3f %9.3f\n", label, r->events_per_s,
           r->requests_per_s, r->p50_ms, r->p99_ms, r->p999_ms, r->max_ms);
}

static double ratio(double a, double b) { return b > 0 ? a / b : 0; }

static void print_store_row(const char *label, const struct store_result *r,
                            const struct phase_result *H)
{
    printf("  %-44s %10.0f %10.0f %10" PRIu64 " %12.3f %9.3f %9.3f%s\n", label, r->events_per_s,
           r->commits_per_s, r->events, ratio(H->events_per_s, r->events_per_s),
           r->commit_p50_ms, r->commit_p99_ms, r->limited ? "  (time-limited)" : "");
}

static void json_phase(FILE *f, const char *name, const struct phase_result *r)
{
    fprintf(f,
            "\"%s\":{\"events_per_s\":%.1f,\"requests_per_s\":%.1f,\"accepted\":%" PRIu64
            ",\"duplicate\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"requests\":%" PRIu64
            ",\"elapsed_s\":%.3f,\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,"
            "\"p99_9\":%.3f,\"max\":%.3f,\"mean\":%.3f}}",
            name, r->events_per_s, r->requests_per_s, r->accepted, r->duplicate, r->failed,
            r->requests, r->elapsed_s, r->p50_ms, r->p90_ms, r->p99_ms, r->p999_ms, r->max_ms,
            r->mean_ms);
}

/* ---- the rules modes: shared pieces ----------------------------------- */

static void fmt_date(int64_t ms, char *out, size_t outsz)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, outsz, "%Y-%m-%d", &tm);
}

static void describe_corpus(const struct corpus *c, const struct requests *q, double gen_s,
                            const char *nonce)
{
    const struct feed *f = &c->feed;
    int ntypes = 0;
    for (int t = 0; t < NTYPES; t++)
        ntypes += c->per_type[t] != 0;
    printf("csphub-bench: %" PRIu64 " events (%d types, avg %.0f B, generated in %.2f s, seed %"
           PRIu64 ", id nonce %s)\n",
           c->n, ntypes, (double)c->off[c->n] / (double)c->n, gen_s, opt.seed, nonce);
    char d0[16], d1[16];
    fmt_date(c->first_ms, d0, sizeof d0);
    fmt_date(c->last_ms, d1, sizeof d1);
    printf("  feed: %s; people P-000001..P-%06u drawn %s; occurred_at %s to %s %s\n",
           f->kind == FEED_ALERT ? "alert (quiet mix + marac high-risk share)"
           : f->kind == FEED_STATE ? "state (classic mix)" : "classic",
           f->people, f->uniform ? "uniformly" : "skewed (some recur a lot)", d0, d1,
           f->span_days > 0 ? "advancing in publish order" : "at random");
    if (f->kind == FEED_ALERT)
        printf("  alert events: %" PRIu64 " da.incident with DASH >= 14 for victims of their own "
               "(%.2f%% of events, --alert-rate %.3f)\n",
               c->alert_events, 100.0 * (double)c->alert_events / (double)c->n, f->alert_rate);
    printf("  mix:");
    for (int t = 0; t < NTYPES; t++)
        if (c->per_type[t])
            printf(" %s %.1f%%", type_names[t], 100.0 * (double)c->per_type[t] / (double)c->n);
    printf("\n  load: %d publisher(s) x window %d = %d requests in flight; batch %d event(s) "
           "per request -> %" PRIu64 " requests (avg %.0f B)",
           opt.publishers, opt.window, opt.publishers * opt.window, opt.batch, q->n,
           (double)q->off[q->n] / (double)q->n);
    if (opt.rate > 0)
        printf("; paced at %.0f events/s in total (each publisher every %.0f us)", opt.rate,
               1e6 * opt.batch * opt.publishers / opt.rate);
    printf("\n");
    if (strcmp(fs_name(opt.tmpdir), "tmpfs") == 0)
        printf("  WARNING: %s is tmpfs: synced commits cost nothing there; use --tmpdir on a "
               "real disk\n",
               opt.tmpdir);
}

/* One own hub: started fresh, one publish phase, stopped. */
struct hubrun {
    const char *label;
    struct hub hub;
    void *ctl;
    char version[128];
    uint64_t last_seq0;
    struct stats st0, st1;
    struct phase_result res;
    uint64_t d_commits, d_accepted, d_alerts_raised;
};

static long private_kb(const struct hub *h)
{
    return h->rss_kb >= 0 && h->file_kb >= 0 ? h->rss_kb - h->file_kb : -1;
}

static void hubrun_start(struct hubrun *hr, void *ctx, int rules_none)
{
    hr->hub.rules_none = rules_none;
    hub_start(&hr->hub);
    hr->ctl = dealer_new(ctx, hr->hub.endpoint);
    wait_ready(hr->ctl, 15, hr->version, sizeof hr->version, &hr->last_seq0);
    get_stats(hr->ctl, &hr->st0, opt.reply_timeout_s);
    printf("  hub (%s): started %s (pid %d) on %s, rule_version %s, data in %s (%s)\n",
           hr->label, hr->hub.hubd, (int)hr->hub.pid, hr->hub.endpoint, hr->st0.rule_version,
           hr->hub.dir, fs_name(hr->hub.dir));
}

/* ph may carry extras (seq arrays); the rest is filled in here. */
static void hubrun_publish(struct hubrun *hr, void *ctx, const struct corpus *c,
                           const struct requests *q, struct phase *ph)
{
    /* Dirty pages of an earlier run would compete with the syncs measured. */
    sync();
    printf("running: hub publish (%s) ...\n", hr->label);
    ph->name = "hub";
    ph->endpoint = hr->hub.endpoint;
    ph->ctx = ctx;
    ph->corpus = c;
    ph->reqs = q;
    ph->hub = 1;
    run_phase(ph);
    hr->res = ph->res;
    get_stats(hr->ctl, &hr->st1, opt.reply_timeout_s);
    hr->d_commits = stat_get(&hr->st1, "commits") - stat_get(&hr->st0, "commits");
    hr->d_accepted = stat_get(&hr->st1, "accepted") - stat_get(&hr->st0, "accepted");
    hr->d_alerts_raised =
        stat_get(&hr->st1, "alerts_raised") - stat_get(&hr->st0, "alerts_raised");
}

static void hubrun_stop(struct hubrun *hr, int keep_dir)
{
    struct hub *h = &hr->hub;
    read_rss(h->pid, &h->rss_kb, &h->hwm_kb, &h->anon_kb, &h->file_kb, &h->shmem_kb);
    zmq_close(hr->ctl);
    hr->ctl = NULL;
    int status = 0;
    stop_child(&g.hub_pid, SIGTERM, 15, &status);
    h->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (h->exit_status != 0) {
        fprintf(stderr, "csphub-bench: WARNING: csphubd (%s) exited with status %d\n", hr->label,
                h->exit_status);
        print_file_tail(h->log, 4000);
    }
    g.hub_log[0] = 0;
    if (!keep_dir)
        forget_tmpdir(h->dir);
}

static void print_memory(const struct hub *h, const char *label)
{
    printf("  csphubd memory at the end%s%s%s: private %.1f MiB = VmRSS %.1f - RssFile %.1f "
           "(LMDB map pages) [RssAnon %.1f heap, RssShmem %.1f]; peak VmHWM %.1f MiB; exit "
           "status %d\n",
           label ? " (" : "", label ? label : "", label ? ")" : "", (double)private_kb(h) / 1024.0,
           (double)h->rss_kb / 1024.0, (double)h->file_kb / 1024.0, (double)h->anon_kb / 1024.0,
           (double)(h->shmem_kb > 0 ? h->shmem_kb : 0) / 1024.0, (double)h->hwm_kb / 1024.0,
           h->exit_status);
}

static void json_memory(const struct hub *h)
{
    printf("\"memory_kb\":{\"private\":%ld,\"vm_rss\":%ld,\"rss_anon\":%ld,\"rss_file\":%ld,"
           "\"rss_shmem\":%ld,\"vm_hwm\":%ld}",
           private_kb(h), h->rss_kb, h->anon_kb, h->file_kb, h->shmem_kb, h->hwm_kb);
}

static void print_alert_rate(const struct hubrun *hr, const struct corpus *c)
{
    double achieved = hr->d_accepted ? (double)hr->d_alerts_raised / (double)hr->d_accepted : 0;
    printf("  alerts (%s): %" PRIu64 " raised for %" PRIu64 " accepted events = %.2f%% (1 in %.1f)",
           hr->label, hr->d_alerts_raised, hr->d_accepted, 100.0 * achieved,
           achieved > 0 ? 1.0 / achieved : 0.0);
    if (c->feed.kind == FEED_ALERT)
        printf("; target %.2f%%", 100.0 * c->feed.alert_rate);
    printf("\n    counters.alerts (total %" PRIu64 "):", hr->st1.alerts_total);
    for (int i = 0; i < hr->st1.npanels; i++)
        if (hr->st1.panel_alerts[i])
            printf(" %s=%" PRIu64, hr->st1.panel[i], hr->st1.panel_alerts[i]);
    printf("\n");
}

/* ---- --compare-rules --------------------------------------------------- */

static void print_run_row(const char *label, const struct hubrun *hr)
{
    const struct phase_result *r = &hr->res;
    printf("  %-36s %10.0f %9.3f %9.3f %9.3f %9.3f %9.1f\n", label, r->events_per_s, r->p50_ms,
           r->p99_ms, r->p999_ms, r->max_ms,
           hr->d_commits ? (double)hr->d_accepted / (double)hr->d_commits : 0);
}

static int run_compare(const char *nonce)
{
    struct feed f = feed_for(opt.alert_rate >= 0 ? FEED_ALERT : FEED_CLASSIC, 0);
    static struct corpus corpus;
    static struct requests reqs;
    int64_t tg = now_ns();
    corpus_build(&corpus, opt.events, opt.seed, nonce, &f);
    requests_build(&reqs, &corpus, opt.batch);
    describe_corpus(&corpus, &reqs, secs(now_ns() - tg), nonce);

    void *ctx = zmq_ctx_new();
    static struct hubrun runs[2];
    runs[0].label = "default rules";
    runs[1].label = "rules_file: none";
    int done = 0, npairs = opt.pairs > 0 ? opt.pairs : 1, pairs_done = 0;
    double pair_r[50], pair_n[50], pair_ratio[50];
    for (int k = 0; k < npairs && !g.interrupted; k++) {
        done = 0;
        for (int j = 0; j < 2 && !g.interrupted; j++) {
            int i = k % 2 ? 1 - j : j; /* odd pairs start with the hub without rules */
            printf("\n");
            if (npairs > 1)
                printf("  pair %d of %d, run %d:\n", k + 1, npairs, j + 1);
            hubrun_start(&runs[i], ctx, i == 1);
            struct phase ph = {0};
            hubrun_publish(&runs[i], ctx, &corpus, &reqs, &ph);
            hubrun_stop(&runs[i], 0);
            done++;
        }
        if (done == 2) {
            pair_r[k] = runs[0].res.events_per_s;
            pair_n[k] = runs[1].res.events_per_s;
            pair_ratio[k] = ratio(pair_r[k], pair_n[k]);
            pairs_done++;
        }
    }
    const struct hubrun *R = &runs[0], *N = &runs[1];
    double median = 0;
    if (pairs_done) {
        double sorted[50];
        memcpy(sorted, pair_ratio, (size_t)pairs_done * sizeof *sorted);
        qsort(sorted, (size_t)pairs_done, sizeof *sorted, cmp_double);
        median = pairs_done % 2 ? sorted[pairs_done / 2]
                                : (sorted[pairs_done / 2 - 1] + sorted[pairs_done / 2]) / 2;
    }

    printf("\n== csphub-bench --compare-rules: %d publisher(s), window %d, batch %d, %" PRIu64
           " events, the same bytes to two fresh hubs ==\n",
           opt.publishers, opt.window, opt.batch, corpus.n);
    if (pairs_done > 1)
        printf("\n  the last pair in detail:");
    printf("\n  %-36s %10s %9s %9s %9s %9s %9s\n", "publish (latency per request)", "events/s",
           "p50 ms", "p99 ms", "p99.9 ms", "max ms", "ev/commit");
    print_run_row("hub, default rules (source tree)", R);
    if (done == 2) {
        print_run_row("hub, rules_file: none", N);
        double ratio_eps = ratio(R->res.events_per_s, N->res.events_per_s);
        printf("  %-36s %10.3f %9.2f %9.2f %9.2f %9.2f\n", "ratio rules/no-rules", ratio_eps,
               ratio(R->res.p50_ms, N->res.p50_ms), ratio(R->res.p99_ms, N->res.p99_ms),
               ratio(R->res.p999_ms, N->res.p999_ms), ratio(R->res.max_ms, N->res.max_ms));
        if (pairs_done > 1) {
            printf("  pairs (events/s with rules / without = ratio; odd pairs ran the hub without "
                   "rules first):\n");
            for (int k = 0; k < pairs_done; k++)
                printf("    %2d: %9.0f / %9.0f = %.3f\n", k + 1, pair_r[k], pair_n[k],
                       pair_ratio[k]);
            printf("  throughput with rules / without, median of %d pairs: %.3f (target >= 0.80: "
                   "%s)\n",
                   pairs_done, median, median >= 0.80 ? "met" : "NOT met");
        } else {
            printf("  throughput with rules / without: %.3f (target >= 0.80: %s)%s\n", ratio_eps,
                   ratio_eps >= 0.80 ? "met" : "NOT met",
                   opt.rate > 0 ? "; paced (--rate): throughput is the schedule's, compare latencies"
                                : "");
        }
    }
    printf("\n");
    print_alert_rate(R, &corpus);
    for (int i = 0; i < done; i++) {
        const struct hubrun *hr = &runs[i];
        printf("  hub (%s): %" PRIu64 " accepted, %" PRIu64 " duplicate, %" PRIu64
               " not accepted in %.2f s; commits %" PRIu64 "\n",
               hr->label, hr->res.accepted, hr->res.duplicate, hr->res.failed, hr->res.elapsed_s,
               hr->d_commits);
        print_hub_time("    ", &hr->st0, &hr->st1, hr->res.elapsed_s);
        if (hr->res.failed)
            printf("  WARNING: %" PRIu64 " events were not accepted; first: %s\n", hr->res.failed,
                   hr->res.first_failure);
        print_memory(&hr->hub, hr->label);
    }

    printf("{\"bench\":\"csphub-bench\",\"mode\":\"compare-rules\",\"config\":{\"publishers\":%d,"
           "\"window\":%d,\"batch\":%d,\"events\":%" PRIu64 ",\"seed\":%" PRIu64
           ",\"feed\":\"%s\",\"alert_rate\":%.4f,\"people\":%u,\"span_days\":%.0f,\"rate\":%.0f,"
           "\"tmpdir_fs\":\"%s\"}",
           opt.publishers, opt.window, opt.batch, corpus.n, opt.seed,
           f.kind == FEED_ALERT ? "alert" : "classic", f.alert_rate, f.people, f.span_days,
           opt.rate, fs_name(opt.tmpdir));
    for (int i = 0; i < done; i++) {
        const struct hubrun *hr = &runs[i];
        printf(",\"%s\":{", i == 0 ? "rules" : "no_rules");
        json_phase(stdout, "publish", &hr->res);
        printf(",\"commits\":%" PRIu64 ",\"alerts_raised\":%" PRIu64 ",\"alert_rate\":%.5f,",
               hr->d_commits, hr->d_alerts_raised,
               hr->d_accepted ? (double)hr->d_alerts_raised / (double)hr->d_accepted : 0);
        json_memory(&hr->hub);
        printf("}");
    }
    if (done == 2)
        printf(",\"ratio_rules_no_rules\":{\"events_per_s\":%.4f,\"p50\":%.3f,\"p99\":%.3f,"
               "\"p99_9\":%.3f}",
               ratio(R->res.events_per_s, N->res.events_per_s), ratio(R->res.p50_ms, N->res.p50_ms),
               ratio(R->res.p99_ms, N->res.p99_ms), ratio(R->res.p999_ms, N->res.p999_ms));
    if (pairs_done > 1) {
        printf(",\"pairs\":[");
        for (int k = 0; k < pairs_done; k++)
            printf("%s{\"rules\":%.1f,\"no_rules\":%.1f,\"ratio\":%.4f}", k ? "," : "",
                   pair_r[k], pair_n[k], pair_ratio[k]);
        printf("],\"ratio_median\":%.4f", median);
    }
    printf("}\n");
    zmq_ctx_term(ctx);
    cleanup_all();
    corpus_free(&corpus);
    msgpack_sbuffer_destroy(&reqs.buf);
    free(reqs.off);
    return g.interrupted || done < 2 ? 1 : 0;
}

/* ---- --alert-latency: the consumer -------------------------------------- */

#define FETCH_WAIT_MS 30000
#define LATENCY_PANEL "marac"

struct alert_rec {
    uint64_t id, trig_seq; /* trig_seq: the largest evidence seq, the event that fired it */
    int64_t recv_ns;       /* the fetch reply carrying it arrived */
    int64_t fetch_ns;      /* that fetch was sent */
};

struct consumer {
    void *ctx;
    const char *endpoint;
    char name[64];
    pthread_t thread;
    atomic_int stop;            /* leave once `target` alerts are in, or at deadline_ns */
    atomic_uint_fast64_t target;
    atomic_int_fast64_t deadline_ns;
    struct alert_rec *recs;
    size_t n, cap;
    uint64_t fetches, fetches_empty, acks, redelivered;
    int64_t *ack_ns; /* ack round trips */
    size_t nack, ack_cap;
};

static int consumer_done(struct consumer *c)
{
    if (g.interrupted)
        return 1;
    if (!atomic_load(&c->stop))
        return 0;
    return c->n >= (size_t)atomic_load(&c->target) || now_ns() >= atomic_load(&c->deadline_ns);
}

/* Wait for the reply to reqno on s until deadline_ns, waking every 100 ms to
 * check whether to leave. 1: got it in *m; 0: leave; dies at the deadline. */
static int consumer_wait(struct consumer *c, void *s, uint64_t reqno, zmq_msg_t *m,
                         msgpack_unpacked *up, int64_t deadline_ns, const char *what)
{
    for (;;) {
        int64_t slice = now_ns() + 100000000;
        zmq_msg_init(m);
        if (recv_until(s, m, slice < deadline_ns ? slice : deadline_ns)) {
            size_t off = 0;
            if (msgpack_unpack_next(up, zmq_msg_data(m), zmq_msg_size(m), &off) !=
                    MSGPACK_UNPACK_SUCCESS ||
                up->data.type != MSGPACK_OBJECT_MAP)
                die("consumer: the reply to %s is not a MessagePack map", what);
            const msgpack_object *rq = mp_get(&up->data, "req");
            if (rq && rq->type == MSGPACK_OBJECT_POSITIVE_INTEGER && rq->via.u64 == reqno) {
                const msgpack_object *ok = mp_get(&up->data, "ok");
                if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
                    char why[700] = "no ok";
                    if (mp_get(&up->data, "error"))
                        describe_error(mp_get(&up->data, "error"), why, sizeof why);
                    die("consumer: the hub refused %s: %s", what, why);
                }
                return 1;
            }
            zmq_msg_close(m);
            continue;
        }
        zmq_msg_close(m);
        if (now_ns() >= deadline_ns)
            die("consumer: NO REPLY to %s within its deadline: the hub hung or dropped it", what);
        if (consumer_done(c))
            return 0;
    }
}

static void consumer_pack(msgpack_sbuffer *sb, const char *op, uint64_t reqno, const char *name,
                          uint32_t extra)
{
    msgpack_packer pk;
    sb->size = 0;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4 + extra);
    pk_str(&pk, "req");
    msgpack_pack_uint64(&pk, reqno);
    pk_str(&pk, "op");
    pk_str(&pk, op);
    pk_str(&pk, "panel");
    pk_str(&pk, LATENCY_PANEL);
    pk_str(&pk, "consumer");
    pk_str(&pk, name);
}

/* fetch (held up to 30 s), note every alert; then ack up to the last and
 * fetch again, the two sent together: the hub answers a read after a write
 * of the same connection once the write is committed, so the fetch starts
 * past the acked alerts and is held from the moment the ack is done. */
static void *consumer_main(void *arg)
{
    struct consumer *c = arg;
    void *s = dealer_new(c->ctx, c->endpoint);
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked up;
    msgpack_unpacked_init(&up);
    uint64_t reqno = 0, max_id = 0, ack_upto = 0;
    const int64_t reply_ns = (int64_t)(opt.reply_timeout_s * 1e9);
    zmq_msg_t m;
    msgpack_packer pk;
    while (!consumer_done(c)) {
        uint64_t ackno = 0;
        int64_t ta = 0;
        if (ack_upto) {
            consumer_pack(&sb, "ack", ackno = ++reqno, c->name, 1);
            msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
            pk_str(&pk, "upto");
            msgpack_pack_uint64(&pk, ack_upto);
            ta = now_ns();
            if (zmq_send(s, sb.data, sb.size, 0) < 0)
                die("consumer: cannot send ack: %s", zmq_strerror(errno));
            ack_upto = 0;
        }
        consumer_pack(&sb, "fetch", ++reqno, c->name, 2);
        msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
        pk_str(&pk, "max");
        msgpack_pack_uint32(&pk, 1000);
        pk_str(&pk, "wait_ms");
        msgpack_pack_uint32(&pk, FETCH_WAIT_MS);
        int64_t tf = now_ns();
        if (zmq_send(s, sb.data, sb.size, 0) < 0)
            die("consumer: cannot send fetch: %s", zmq_strerror(errno));
        c->fetches++;
        if (ackno) {
            if (!consumer_wait(c, s, ackno, &m, &up, ta + reply_ns, "an ack"))
                break;
            zmq_msg_close(&m);
            c->acks++;
            if (c->nack == c->ack_cap) {
                c->ack_cap = c->ack_cap ? c->ack_cap * 2 : 4096;
                c->ack_ns = realloc(c->ack_ns, c->ack_cap * sizeof *c->ack_ns);
                if (!c->ack_ns)
                    die("consumer: out of memory");
            }
            c->ack_ns[c->nack++] = now_ns() - ta;
        }
        if (!consumer_wait(c, s, reqno, &m, &up, tf + FETCH_WAIT_MS * 1000000LL + reply_ns,
                           "a held fetch"))
            break;
        int64_t tr = now_ns();
        const msgpack_object *alerts = mp_get(&up.data, "alerts");
        if (!alerts || alerts->type != MSGPACK_OBJECT_ARRAY)
            die("consumer: a fetch reply without 'alerts'");
        uint64_t got = 0;
        for (uint32_t i = 0; i < alerts->via.array.size; i++) {
            const msgpack_object *a = &alerts->via.array.ptr[i];
            const msgpack_object *id = mp_get(a, "id"), *ev = mp_get(a, "evidence");
            if (!id || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER || !ev ||
                ev->type != MSGPACK_OBJECT_ARRAY)
                die("consumer: an alert without id or evidence");
            if (id->via.u64 <= max_id) {
                c->redelivered++;
                continue;
            }
            max_id = id->via.u64;
            uint64_t trig = 0;
            for (uint32_t j = 0; j < ev->via.array.size; j++)
                if (ev->via.array.ptr[j].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                    ev->via.array.ptr[j].via.u64 > trig)
                    trig = ev->via.array.ptr[j].via.u64;
            if (c->n == c->cap) {
                c->cap = c->cap ? c->cap * 2 : 4096;
                c->recs = realloc(c->recs, c->cap * sizeof *c->recs);
                if (!c->recs)
                    die("consumer: out of memory");
            }
            c->recs[c->n++] = (struct alert_rec){.id = id->via.u64, .trig_seq = trig,
                                                 .recv_ns = tr, .fetch_ns = tf};
            got++;
        }
        zmq_msg_close(&m);
        if (!alerts->via.array.size)
            c->fetches_empty++;
        if (got)
            ack_upto = max_id;
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
    zmq_close(s);
    return NULL;
}

struct pctl {
    uint64_t n;
    double p50, p99, p999, max, min;
};

static struct pctl pctl_of(int64_t *v, uint64_t n)
{
    struct pctl p = {.n = n};
    qsort(v, n, sizeof *v, cmp_i64);
    p.p50 = pct_ms(v, n, 0.50);
    p.p99 = pct_ms(v, n, 0.99);
    p.p999 = pct_ms(v, n, 0.999);
    p.max = n ? (double)v[n - 1] / 1e6 : 0;
    p.min = n ? (double)v[0] / 1e6 : 0;
    return p;
}

static void json_pctl(const char *name, const struct pctl *p)
{
    printf("\"%s\":{\"n\":%" PRIu64 ",\"p50\":%.3f,\"p99\":%.3f,\"p99_9\":%.3f,\"max\":%.3f,"
           "\"min\":%.3f}",
           name, p->n, p->p50, p->p99, p->p999, p->max, p->min);
}

static int run_latency(const char *nonce)
{
    struct feed f = feed_for(FEED_ALERT, 0);
    static struct corpus corpus;
    static struct requests reqs;
    int64_t tg = now_ns();
    corpus_build(&corpus, opt.events, opt.seed, nonce, &f);
    requests_build(&reqs, &corpus, opt.batch);
    describe_corpus(&corpus, &reqs, secs(now_ns() - tg), nonce);

    void *ctx = zmq_ctx_new();
    static struct hubrun hr;
    hr.label = opt.rules_mode == RULES_NONE ? "rules_file: none" : "default rules";
    printf("\n");
    hubrun_start(&hr, ctx, opt.rules_mode == RULES_NONE);

    static struct consumer con;
    con.ctx = ctx;
    con.endpoint = hr.hub.endpoint;
    snprintf(con.name, sizeof con.name, "csphub-bench-%s", nonce);
    atomic_store(&con.deadline_ns, INT64_MAX);
    if (pthread_create(&con.thread, NULL, consumer_main, &con) != 0)
        die("cannot start the consumer thread");

    struct phase ph = {0};
    ph.seq_base = hr.last_seq0;
    ph.seq_cap = corpus.n;
    ph.seq_sent_ns = calloc(corpus.n, sizeof *ph.seq_sent_ns);
    ph.seq_ack_ns = calloc(corpus.n, sizeof *ph.seq_ack_ns);
    if (!ph.seq_sent_ns || !ph.seq_ack_ns)
        die("out of memory for %" PRIu64 " seqs", corpus.n);
    hubrun_publish(&hr, ctx, &corpus, &reqs, &ph);
    uint64_t expected = stat_panel(&hr.st1, LATENCY_PANEL) - stat_panel(&hr.st0, LATENCY_PANEL);
    atomic_store(&con.target, expected);
    atomic_store(&con.deadline_ns, now_ns() + 10000000000LL); /* 10 s to drain */
    atomic_store(&con.stop, 1);
    pthread_join(con.thread, NULL);
    hubrun_stop(&hr, 0);

    /* Join each alert to its triggering event's send and ack times. */
    uint64_t n = con.n, matched = 0, after_commit_fetch = 0;
    int64_t *e2e = malloc((n ? n : 1) * sizeof *e2e), *held = malloc((n ? n : 1) * sizeof *held);
    int64_t *held_only = malloc((n ? n : 1) * sizeof *held_only);
    uint64_t nheld_only = 0;
    for (uint64_t i = 0; i < n; i++) {
        const struct alert_rec *a = &con.recs[i];
        if (a->trig_seq <= ph.seq_base || a->trig_seq - ph.seq_base > ph.seq_cap)
            continue;
        uint64_t k = a->trig_seq - ph.seq_base - 1;
        if (!ph.seq_sent_ns[k] || !ph.seq_ack_ns[k])
            continue;
        e2e[matched] = a->recv_ns - ph.seq_sent_ns[k];
        held[matched] = a->recv_ns - ph.seq_ack_ns[k];
        matched++;
        if (a->fetch_ns > ph.seq_ack_ns[k])
            after_commit_fetch++; /* the alert waited in the queue for the consumer's next fetch */
        else
            held_only[nheld_only++] = a->recv_ns - ph.seq_ack_ns[k];
    }
    struct pctl P_e2e = pctl_of(e2e, matched), P_held = pctl_of(held, matched);
    struct pctl P_heldonly = pctl_of(held_only, nheld_only);
    struct pctl P_ack = pctl_of(con.ack_ns, con.nack);
    const struct phase_result *H = &hr.res;

    printf("\n== csphub-bench --alert-latency: %d paced publisher(s) at %.0f events/s in total, "
           "window %d, batch %d, %" PRIu64 " events; consumer on '%s' ==\n",
           opt.publishers, opt.rate, opt.window, opt.batch, corpus.n, LATENCY_PANEL);
    printf("\n  %-44s %8s %9s %9s %9s %9s\n", "", "n", "p50 ms", "p99 ms", "p99.9 ms", "max ms");
    printf("  %-44s %8" PRIu64 " %9.3f %9.3f %9.3f %9.3f\n", "publish ack (per request)",
           H->requests, H->p50_ms, H->p99_ms, H->p999_ms, H->max_ms);
    printf("  %-44s %8" PRIu64 " %9.3f %9.3f %9.3f %9.3f\n", "send -> alert in a fetch reply",
           P_e2e.n, P_e2e.p50, P_e2e.p99, P_e2e.p999, P_e2e.max);
    printf("  %-44s %8" PRIu64 " %9.3f %9.3f %9.3f %9.3f\n",
           "publisher's ack -> alert (after the commit)", P_held.n, P_held.p50, P_held.p99,
           P_held.p999, P_held.max);
    printf("  %-44s %8" PRIu64 " %9.3f %9.3f %9.3f %9.3f\n", "  of which answered a held fetch",
           P_heldonly.n, P_heldonly.p50, P_heldonly.p99, P_heldonly.p999, P_heldonly.max);
    printf("  %-44s %8" PRIu64 " %9.3f %9.3f %9.3f %9.3f\n", "consumer's ack round trip", P_ack.n,
           P_ack.p50, P_ack.p99, P_ack.p999, P_ack.max);
    printf("\n  targets at %.0f events/s: send -> alert p99 <= 2 ms: %.3f ms, %s; held fetch "
           "answered <= 10 ms after the commit (p99): %.3f ms, %s\n",
           opt.rate, P_e2e.p99, P_e2e.n && P_e2e.p99 <= 2.0 ? "met" : "NOT met", P_held.p99,
           P_held.n && P_held.p99 <= 10.0 ? "met" : "NOT met");
    printf("  alerts: %" PRIu64 " raised on %s during the run, %" PRIu64 " received (%" PRIu64
           " matched to their triggering event's send and ack), %" PRIu64 " redelivered\n",
           expected, LATENCY_PANEL, n, matched, con.redelivered);
    if (n < expected)
        printf("  WARNING: %" PRIu64 " alerts were not received within 10 s of the last ack\n",
               expected - n);
    printf("  delivery: %" PRIu64 " by a fetch the hub held (sent before the triggering event's "
           "ack), %" PRIu64 " by a fetch sent after it (the alert waited for the consumer's next fetch)\n",
           nheld_only, after_commit_fetch);
    printf("  consumer: %" PRIu64 " fetches (%" PRIu64 " ended empty at wait_ms), %" PRIu64
           " acks\n",
           con.fetches, con.fetches_empty, con.acks);
    printf("  publish: %" PRIu64 " accepted in %.2f s = %.0f events/s; %" PRIu64 " commits (%.1f "
           "events/commit); sends behind schedule: p99 %.3f ms, max %.3f ms\n",
           H->accepted, H->elapsed_s, H->events_per_s, hr.d_commits,
           hr.d_commits ? (double)hr.d_accepted / (double)hr.d_commits : 0, H->lag_p99_ms,
           H->lag_max_ms);
    print_hub_time("  ", &hr.st0, &hr.st1, H->elapsed_s);
    if (H->lag_p99_ms > 1.0)
        printf("  NOTE: the publishers themselves ran late (p99 %.1f ms behind schedule): the "
               "bench's wake-ups compete with the hub for the CPUs, and the figures above include "
               "that; --pace-tick 1000 sends what is due once a millisecond instead\n",
               H->lag_p99_ms);
    if (H->failed)
        printf("  WARNING: %" PRIu64 " events were not accepted; first: %s\n", H->failed,
               H->first_failure);
    print_alert_rate(&hr, &corpus);
    print_memory(&hr.hub, NULL);

    printf("{\"bench\":\"csphub-bench\",\"mode\":\"alert-latency\",\"config\":{\"publishers\":%d,"
           "\"window\":%d,\"batch\":%d,\"events\":%" PRIu64 ",\"rate\":%.0f,\"alert_rate\":%.4f,"
           "\"people\":%u,\"panel\":\"%s\",\"fetch_wait_ms\":%d,\"tmpdir_fs\":\"%s\"},",
           opt.publishers, opt.window, opt.batch, corpus.n, opt.rate, f.alert_rate, f.people,
           LATENCY_PANEL, FETCH_WAIT_MS, fs_name(opt.tmpdir));
    json_phase(stdout, "publish", H);
    printf(",");
    json_pctl("send_to_alert_ms", &P_e2e);
    printf(",");
    json_pctl("ack_to_alert_ms", &P_held);
    printf(",");
    json_pctl("ack_to_alert_held_fetch_ms", &P_heldonly);
    printf(",");
    json_pctl("consumer_ack_rtt_ms", &P_ack);
    printf(",\"alerts\":{\"raised\":%" PRIu64 ",\"received\":%" PRIu64 ",\"matched\":%" PRIu64
           ",\"fetch_after_commit\":%" PRIu64 ",\"all_panels\":%" PRIu64 ",\"accepted\":%" PRIu64
           "},\"lag_ms\":{\"p99\":%.3f,\"max\":%.3f},",
           expected, n, matched, after_commit_fetch, hr.d_alerts_raised, hr.d_accepted,
           H->lag_p99_ms, H->lag_max_ms);
    json_memory(&hr.hub);
    printf("}\n");

    free(e2e);
    free(held);
    free(held_only);
    free(con.recs);
    free(con.ack_ns);
    free(ph.seq_sent_ns);
    free(ph.seq_ack_ns);
    zmq_ctx_term(ctx);
    cleanup_all();
    corpus_free(&corpus);
    msgpack_sbuffer_destroy(&reqs.buf);
    free(reqs.off);
    return g.interrupted || n < expected ? 1 : 0;
}

/* ---- --state-size -------------------------------------------------------- */

#define MAX_DBSTAT 32
struct dbstat {
    char name[48];
    uint64_t entries, pages, bytes;
    unsigned depth;
};

struct staterun {
    uint64_t events;
    double span_days;
    double gen_s;
    struct hubrun hr;
    struct dbstat db[MAX_DBSTAT];
    int ndb;
    uint64_t file_bytes, used_bytes;
    int64_t first_ms, last_ms;
};

static const char *const state_dbs[] = {"rules.state", "rules.meta", "events", "dedup", "alerts"};
#define NSTATE_DBS 5

/* Open one LMDB environment of the stopped hub read-only (path: a
 * directory, or a file with MDB_NOSUBDIR) and mdb_stat every named
 * database into sr; add its pages in use and its file size. */
static void lmdb_env_state(const char *path, const char *file, unsigned flags,
                           struct staterun *sr)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi main_dbi;
    int rc;
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, 64)) ||
        (rc = mdb_env_open(env, path, MDB_RDONLY | MDB_NOTLS | flags, 0600)))
        die("state size: cannot open %s read-only: %s", path, mdb_strerror(rc));
    if ((rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) ||
        (rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)))
        die("state size: %s: %s", path, mdb_strerror(rc));
    MDB_envinfo info;
    MDB_stat est;
    mdb_env_info(env, &info);
    mdb_env_stat(env, &est);
    sr->used_bytes += (uint64_t)(info.me_last_pgno + 1) * est.ms_psize;
    struct stat sb;
    sr->file_bytes += stat(file, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    /* The main database's keys are the named databases' names. */
    MDB_cursor *cur;
    MDB_val k, v;
    if ((rc = mdb_cursor_open(txn, main_dbi, &cur)))
        die("state size: %s", mdb_strerror(rc));
    while (sr->ndb < MAX_DBSTAT && mdb_cursor_get(cur, &k, &v, MDB_NEXT) == 0) {
        struct dbstat *d = &sr->db[sr->ndb];
        snprintf(d->name, sizeof d->name, "%.*s", (int)k.mv_size, (const char *)k.mv_data);
        MDB_dbi dbi;
        MDB_stat st;
        if (mdb_dbi_open(txn, d->name, 0, &dbi) != 0 || mdb_stat(txn, dbi, &st) != 0)
            continue; /* not a database */
        d->entries = st.ms_entries;
        d->pages = st.ms_branch_pages + st.ms_leaf_pages + st.ms_overflow_pages;
        d->bytes = (uint64_t)st.ms_psize * d->pages;
        d->depth = st.ms_depth;
        sr->ndb++;
    }
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    mdb_env_close(env);
}

/* Both of the stopped hub's environments: data.mdb (the log and the queues)
 * and index.mdb (the idempotency index and the rule state). */
static void lmdb_state(const char *dir, struct staterun *sr)
{
    char path[PATH_MAX + 48], index[PATH_MAX + 48];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    snprintf(index, sizeof index, "%s/index.mdb", dir);
    sr->ndb = 0;
    sr->used_bytes = sr->file_bytes = 0;
    lmdb_env_state(dir, path, 0, sr);
    lmdb_env_state(index, index, MDB_NOSUBDIR, sr);
}

static const struct dbstat *find_db(const struct staterun *sr, const char *name)
{
    for (int i = 0; i < sr->ndb; i++)
        if (!strcmp(sr->db[i].name, name))
            return &sr->db[i];
    return NULL;
}

static double mib(uint64_t b) { return (double)b / 1048576.0; }

static int run_state(const char *nonce)
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

/* ---- --backfill ---------------------------------------------------------- */

/* The window of each windowed rule in the source tree's rules file, by a
 * line scan ("- name: X", then "window_days: D" before the next rule):
 * enough for config/rules.yaml, which the bench's hubs run. */
#define MAX_RULE_NAMES 128
struct rulewin {
    char name[72];
    double days; /* 0: not windowed */
};
static struct rulewin rule_win[MAX_RULE_NAMES];
static int nrule_win;

static void read_rule_windows(void)
{
    FILE *f = fopen(CSPH_SOURCE_DIR "/config/rules.yaml", "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        const char *p = line + strspn(line, " ");
        if (!strncmp(p, "- name:", 7) && nrule_win < MAX_RULE_NAMES) {
            p += 7;
            p += strspn(p, " \"'");
            size_t len = strcspn(p, " \"'#\r\n");
            snprintf(rule_win[nrule_win].name, sizeof rule_win[0].name, "%.*s", (int)len, p);
            rule_win[nrule_win++].days = 0;
        } else if (!strncmp(p, "window_days:", 12) && nrule_win > 0) {
            rule_win[nrule_win - 1].days = strtod(p + 12, NULL);
        }
    }
    fclose(f);
}

static double rule_window_days(const char *rule)
{
    for (int i = 0; i < nrule_win; i++)
        if (!strcmp(rule_win[i].name, rule))
            return rule_win[i].days;
    return 0;
}

/* Names of rules and panels met in alerts, shared by both runs. */
#define MAX_NAMES 256
static char names_tab[MAX_NAMES][72];
static int nnames;

static int intern(const msgpack_object *o)
{
    char b[72];
    mp_str_copy(o, b, sizeof b);
    for (int i = 0; i < nnames; i++)
        if (!strcmp(names_tab[i], b))
            return i;
    if (nnames == MAX_NAMES)
        die("backfill: more than %d rule and panel names", MAX_NAMES);
    snprintf(names_tab[nnames], sizeof names_tab[0], "%s", b);
    return nnames++;
}

static const char *const prio_names[3] = {"standard", "medium", "high"};

static int prio_of(const msgpack_object *o)
{
    for (int i = 0; i < 3; i++)
        if (mp_str_is(o, prio_names[i]))
            return i;
    return -1;
}

/* One alert as the comparison needs it. */
struct arec {
    int rule, panel; /* into names_tab */
    int prio;        /* 0 standard, 1 medium, 2 high */
    char *key;       /* the key's values joined with ", ": what groups alerts */
    char *kshow;     /* with the fields' names: "victim=P-000123" */
    uint64_t id;
    uint64_t trig_seq; /* the largest seq of its evidence: the event that raised it */
    int64_t trig_ms;   /* that event's occurred_at; INT64_MIN: not known */
    int64_t ev_min_ms, ev_max_ms; /* occurred_at range of its evidence (INT64_MAX/MIN: none) */
    uint64_t nev;
};

struct aset {
    struct arec *a;
    size_t n, cap;
    uint64_t cut; /* alerts whose evidence came cut (paged with 'evidence') */
};

/* The key's values (names 0) or "field=value" pairs (names 1), joined with
 * ", ". A rule counting one person under several fields (key_each: the
 * victim of a report, the caller of a call) names the key after the field
 * of the event that raised the alert: the values are what is compared. */
static void key_string(const msgpack_object *key, int names, char *out, size_t outsz)
{
    size_t used = 0;
    out[0] = 0;
    if (!key || key->type != MSGPACK_OBJECT_MAP)
        return;
    for (uint32_t i = 0; i < key->via.map.size && used < outsz; i++) {
        const msgpack_object_kv *kv = &key->via.map.ptr[i];
        char k[128], v[512];
        mp_str_copy(&kv->key, k, sizeof k);
        switch (kv->val.type) {
        case MSGPACK_OBJECT_STR: mp_str_copy(&kv->val, v, sizeof v); break;
        case MSGPACK_OBJECT_POSITIVE_INTEGER: snprintf(v, sizeof v, "%" PRIu64, kv->val.via.u64); break;
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: snprintf(v, sizeof v, "%" PRId64, kv->val.via.i64); break;
        case MSGPACK_OBJECT_BOOLEAN: snprintf(v, sizeof v, "%s", kv->val.via.boolean ? "true" : "false"); break;
        case MSGPACK_OBJECT_FLOAT32:
        case MSGPACK_OBJECT_FLOAT64: snprintf(v, sizeof v, "%g", kv->val.via.f64); break;
        default: snprintf(v, sizeof v, "?"); break;
        }
        used += (size_t)snprintf(out + used, outsz - used, "%s%s%s%s", i ? ", " : "",
                                 names ? k : "", names ? "=" : "", v);
    }
}

/* Where a run's events fall: seq -> occurred_at (INT64_MIN: not one of ours). */
struct seqmap {
    int64_t *occ;
    uint64_t n; /* seqs 0 .. n-1 */
};

static void seqmap_build(struct seqmap *sm, const struct corpus *c, const uint64_t *ev_seq)
{
    uint64_t max = 0;
    for (uint64_t i = 0; i < c->n; i++)
        if (ev_seq[i] > max)
            max = ev_seq[i];
    sm->n = max + 1;
    sm->occ = malloc(sm->n * sizeof *sm->occ);
    if (!sm->occ)
        die("out of memory for a seq map");
    for (uint64_t s = 0; s < sm->n; s++)
        sm->occ[s] = INT64_MIN;
    for (uint64_t i = 0; i < c->n; i++)
        if (ev_seq[i])
            sm->occ[ev_seq[i]] = c->meta[i].occurred_ms;
}

static void note_evidence(struct arec *r, const struct seqmap *sm, const msgpack_object *ev)
{
    for (uint32_t j = 0; ev && ev->type == MSGPACK_OBJECT_ARRAY && j < ev->via.array.size; j++) {
        const msgpack_object *e = &ev->via.array.ptr[j];
        if (e->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
            continue;
        uint64_t s = e->via.u64;
        r->nev++;
        if (s > r->trig_seq)
            r->trig_seq = s;
        int64_t t = s < sm->n ? sm->occ[s] : INT64_MIN;
        if (t == INT64_MIN)
            continue;
        if (t < r->ev_min_ms)
            r->ev_min_ms = t;
        if (t > r->ev_max_ms)
            r->ev_max_ms = t;
    }
}

/* The rest of a cut alert's evidence, with {op: evidence, id, after}. */
static void page_evidence(void *s, struct arec *r, uint64_t after, const struct seqmap *sm)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    for (int pages = 0; pages < 100000; pages++) {
        uint64_t reqno;
        zmq_msg_t m;
        pack_op(&sb, &pk, "evidence", 2, &reqno);
        pk_str(&pk, "id");
        msgpack_pack_uint64(&pk, r->id);
        pk_str(&pk, "after");
        msgpack_pack_uint64(&pk, after);
        call(s, &sb, reqno, &up, &m, opt.reply_timeout_s, "an evidence request");
        const msgpack_object *ok = mp_get(&up.data, "ok");
        if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
            char why[700] = "no ok";
            if (mp_get(&up.data, "error"))
                describe_error(mp_get(&up.data, "error"), why, sizeof why);
            die("the hub refused 'evidence' for alert %" PRIu64 ": %s", r->id, why);
        }
        const msgpack_object *ev = mp_get(&up.data, "evidence"), *next = mp_get(&up.data, "next"),
                             *end = mp_get(&up.data, "end");
        note_evidence(r, sm, ev);
        int done = !end || end->type != MSGPACK_OBJECT_BOOLEAN || end->via.boolean || !next ||
                   next->type != MSGPACK_OBJECT_POSITIVE_INTEGER || next->via.u64 <= after;
        if (!done)
            after = next->via.u64;
        zmq_msg_close(&m);
        if (done)
            break;
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

/* Every alert of one panel, paged with {op: alerts, panel, after, max}. */
static void read_panel_alerts(void *s, const char *panel, const struct seqmap *sm,
                              struct aset *out)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked up;
    msgpack_sbuffer_init(&sb);
    msgpack_unpacked_init(&up);
    uint64_t after = 0;
    for (;;) {
        uint64_t reqno;
        zmq_msg_t m;
        pack_op(&sb, &pk, "alerts", 3, &reqno);
        pk_str(&pk, "panel");
        pk_str(&pk, panel);
        pk_str(&pk, "after");
        msgpack_pack_uint64(&pk, after);
        pk_str(&pk, "max");
        msgpack_pack_uint32(&pk, 1000);
        call(s, &sb, reqno, &up, &m, opt.reply_timeout_s, "an alerts request");
        const msgpack_object *ok = mp_get(&up.data, "ok");
        if (!ok || ok->type != MSGPACK_OBJECT_BOOLEAN || !ok->via.boolean) {
            char why[700] = "no ok";
            if (mp_get(&up.data, "error"))
                describe_error(mp_get(&up.data, "error"), why, sizeof why);
            die("the hub refused 'alerts' on panel %s: %s", panel, why);
        }
        const msgpack_object *alerts = mp_get(&up.data, "alerts"), *next = mp_get(&up.data, "next"),
                             *end = mp_get(&up.data, "end");
        if (!alerts || alerts->type != MSGPACK_OBJECT_ARRAY)
            die("an alerts reply without 'alerts' (panel %s)", panel);
        for (uint32_t i = 0; i < alerts->via.array.size; i++) {
            const msgpack_object *a = &alerts->via.array.ptr[i];
            const msgpack_object *id = mp_get(a, "id"), *enext = mp_get(a, "evidence_next");
            if (out->n == out->cap) {
                out->cap = out->cap ? out->cap * 2 : 4096;
                out->a = realloc(out->a, out->cap * sizeof *out->a);
                if (!out->a)
                    die("out of memory for alerts");
            }
            struct arec *r = &out->a[out->n++];
            char key[1024], kshow[1024];
            key_string(mp_get(a, "key"), 0, key, sizeof key);
            key_string(mp_get(a, "key"), 1, kshow, sizeof kshow);
            *r = (struct arec){.rule = intern(mp_get(a, "rule")), .panel = intern(mp_get(a, "panel")),
                               .prio = prio_of(mp_get(a, "priority")), .key = strdup(key),
                               .kshow = strdup(kshow),
                               .id = id && id->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? id->via.u64 : 0,
                               .trig_ms = INT64_MIN, .ev_min_ms = INT64_MAX,
                               .ev_max_ms = INT64_MIN};
            note_evidence(r, sm, mp_get(a, "evidence"));
            if (enext && enext->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                out->cut++;
                page_evidence(s, r, enext->via.u64, sm);
            }
            if (r->trig_seq && r->trig_seq < sm->n)
                r->trig_ms = sm->occ[r->trig_seq];
        }
        int done = !end || end->type != MSGPACK_OBJECT_BOOLEAN || end->via.boolean ||
                   !alerts->via.array.size || !next ||
                   next->type != MSGPACK_OBJECT_POSITIVE_INTEGER || next->via.u64 <= after;
        if (!done)
            after = next->via.u64;
        zmq_msg_close(&m);
        if (done)
            break;
    }
    msgpack_unpacked_destroy(&up);
    msgpack_sbuffer_destroy(&sb);
}

static void read_all_alerts(void *s, const struct stats *st, const struct seqmap *sm,
                            struct aset *out)
{
    static const char *const fallback[] = {"marac", "community-marac", "asb-case-review",
                                           "hate-crime", "iom", "sgv", "mace", "tasking",
                                           "channel", "mappa"};
    if (st->npanels)
        for (int i = 0; i < st->npanels; i++)
            read_panel_alerts(s, st->panel[i], sm, out);
    else
        for (size_t i = 0; i < sizeof fallback / sizeof *fallback; i++)
            read_panel_alerts(s, fallback[i], sm, out);
}

static void aset_free(struct aset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        free(s->a[i].key);
        free(s->a[i].kshow);
    }
    free(s->a);
    memset(s, 0, sizeof *s);
}

static int cmp_arec(const void *x, const void *y)
{
    const struct arec *a = x, *b = y;
    int c = strcmp(names_tab[a->rule], names_tab[b->rule]);
    if (!c)
        c = strcmp(names_tab[a->panel], names_tab[b->panel]);
    if (!c)
        c = strcmp(a->key, b->key);
    if (!c)
        c = (a->prio < b->prio) - (a->prio > b->prio); /* highest first */
    if (!c)
        c = (a->id > b->id) - (a->id < b->id);
    return c;
}

static int same_group(const struct arec *a, const struct arec *b)
{
    return a->rule == b->rule && a->panel == b->panel && !strcmp(a->key, b->key);
}

static int cmp_group(const struct arec *a, const struct arec *b)
{
    int c = strcmp(names_tab[a->rule], names_tab[b->rule]);
    if (!c)
        c = strcmp(names_tab[a->panel], names_tab[b->panel]);
    if (!c)
        c = strcmp(a->key, b->key);
    return c;
}

/* Per rule: alerts and keys of each run, and the guarantee's failures. */
struct rulecmp {
    int rule;
    uint64_t ref_alerts, ref_groups, bf_alerts, bf_groups;
    uint64_t missing, higher, extra_groups; /* groups: (rule, panel, key) */
    uint64_t win_checked, win_uncovered;
};

#define MAX_SHOWN 20
struct missing {
    const struct arec *ref; /* the in-order alert (its group's highest) */
    int bf_prio;            /* the backfill run's highest for the group; -1: none */
};

struct comparison {
    struct rulecmp rules[MAX_NAMES];
    int nrules;
    uint64_t groups, missing, higher, extra_groups;
    uint64_t win_checked, win_uncovered, win_unknown;
    struct missing shown[MAX_SHOWN];
    int nshown;
    const struct arec *uncov[MAX_SHOWN];
    int nuncov;
    uint64_t skipped_overdue;
};

static struct rulecmp *rulecmp_of(struct comparison *c, int rule)
{
    for (int i = 0; i < c->nrules; i++)
        if (c->rules[i].rule == rule)
            return &c->rules[i];
    c->rules[c->nrules] = (struct rulecmp){.rule = rule};
    return &c->rules[c->nrules++];
}

static int cmp_rulecmp(const void *x, const void *y)
{
    return strcmp(names_tab[((const struct rulecmp *)x)->rule],
                  names_tab[((const struct rulecmp *)y)->rule]);
}

/* ref: the in-order run, bf: the backfill run; both sorted by cmp_arec. */
static void compare_alerts(struct comparison *c, const struct aset *ref, const struct aset *bf)
{
    memset(c, 0, sizeof *c);
    size_t i = 0, j = 0;
    while (i < ref->n || j < bf->n) {
        int ord = i >= ref->n ? 1 : j >= bf->n ? -1 : cmp_group(&ref->a[i], &bf->a[j]);
        size_t i1 = i, j1 = j;
        if (ord <= 0)
            while (i1 < ref->n && same_group(&ref->a[i1], &ref->a[i]))
                i1++;
        if (ord >= 0)
            while (j1 < bf->n && same_group(&bf->a[j1], &bf->a[j]))
                j1++;
        const struct arec *any = ord <= 0 ? &ref->a[i] : &bf->a[j];
        if (!strcmp(names_tab[any->rule], "overdue")) { /* keyed by alert id: ids differ */
            c->skipped_overdue += (i1 - i) + (j1 - j);
            i = i1;
            j = j1;
            continue;
        }
        struct rulecmp *rc = rulecmp_of(c, any->rule);
        rc->ref_alerts += i1 - i;
        rc->bf_alerts += j1 - j;
        rc->ref_groups += i1 > i;
        rc->bf_groups += j1 > j;
        if (ord > 0) {
            rc->extra_groups++;
            c->extra_groups++;
        } else {
            c->groups++;
            int pr = ref->a[i].prio, pb = j1 > j ? bf->a[j].prio : -1; /* highest first */
            if (pb < pr) {
                rc->missing++;
                if (c->nshown < MAX_SHOWN)
                    c->shown[c->nshown++] = (struct missing){.ref = &ref->a[i], .bf_prio = pb};
                c->missing++;
            } else if (pb > pr) {
                rc->higher++;
                c->higher++;
            }
            /* The engine's guarantee, alert by alert, for windowed rules:
             * an alert of the rule and key at that tier or higher whose
             * triggering event lies less than window_days from an event of
             * this alert's window. */
            double days = rule_window_days(names_tab[any->rule]);
            for (size_t a = i; days > 0 && a < i1; a++) {
                const struct arec *R = &ref->a[a];
                if (R->ev_min_ms == INT64_MAX) {
                    c->win_unknown++;
                    continue;
                }
                int64_t D = (int64_t)(days * 86400000.0);
                int covered = 0;
                for (size_t b = j; b < j1 && !covered; b++) {
                    const struct arec *B = &bf->a[b];
                    covered = B->prio >= R->prio && B->trig_ms != INT64_MIN &&
                              B->trig_ms > R->ev_min_ms - D && B->trig_ms < R->ev_max_ms + D;
                }
                rc->win_checked++;
                c->win_checked++;
                if (!covered) {
                    rc->win_uncovered++;
                    c->win_uncovered++;
                    if (c->nuncov < MAX_SHOWN)
                        c->uncov[c->nuncov++] = R;
                }
            }
        }
        i = i1;
        j = j1;
    }
}

struct idxtime {
    int64_t t;
    uint64_t i;
};

static int cmp_idxtime(const void *x, const void *y)
{
    const struct idxtime *a = x, *b = y;
    if (a->t != b->t)
        return a->t < b->t ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* Events [a, b) of c, sharing its bytes: never freed on its own. */
static struct corpus corpus_view(const struct corpus *c, uint64_t a, uint64_t b)
{
    struct corpus v = *c;
    v.off = c->off + a;
    v.meta = c->meta + a;
    v.n = b - a;
    return v;
}

/* dst: the events of src in order[]. */
static void corpus_permute(struct corpus *dst, const struct corpus *src, const uint64_t *order)
{
    memset(dst, 0, sizeof *dst);
    msgpack_sbuffer_init(&dst->buf);
    dst->n = src->n;
    dst->feed = src->feed;
    dst->first_ms = src->first_ms;
    dst->last_ms = src->last_ms;
    memcpy(dst->per_type, src->per_type, sizeof dst->per_type);
    dst->off = malloc((src->n + 1) * sizeof *dst->off);
    dst->meta = malloc((src->n ? src->n : 1) * sizeof *dst->meta);
    if (!dst->off || !dst->meta)
        die("out of memory for %" PRIu64 " events", src->n);
    for (uint64_t i = 0; i < src->n; i++) {
        dst->off[i] = dst->buf.size;
        msgpack_sbuffer_write(&dst->buf, ev_ptr(src, order[i]), ev_len(src, order[i]));
        dst->meta[i] = src->meta[order[i]];
    }
    dst->off[src->n] = dst->buf.size;
}

static void requests_free(struct requests *q)
{
    msgpack_sbuffer_destroy(&q->buf);
    free(q->off);
    memset(q, 0, sizeof *q);
}

/* One publish phase into an own hub, with the hub's CPU over it. */
struct bphase {
    const char *label;
    struct phase_result res;
    double hub_cpu_s, loop_cpu_s;
    uint64_t alerts; /* alerts_raised over the phase */
};

static void bphase_run(struct bphase *bp, struct hubrun *hr, void *ctx, const struct corpus *c,
                       const struct requests *q, uint64_t *ev_seq)
{
    struct stats a, b;
    get_stats(hr->ctl, &a, opt.reply_timeout_s);
    sync();
    printf("running: %s: %" PRIu64 " events, %d publisher(s) x window %d, batch %d ...\n",
           bp->label, c->n, opt.publishers, opt.window, opt.batch);
    struct phase ph = {.name = "hub", .endpoint = hr->hub.endpoint, .ctx = ctx, .corpus = c,
                       .reqs = q, .hub = 1, .ev_seq = ev_seq};
    double c0 = proc_cpu_s(hr->hub.pid, 0), l0 = proc_cpu_s(hr->hub.pid, 1);
    run_phase(&ph);
    bp->hub_cpu_s = proc_cpu_s(hr->hub.pid, 0) - c0;
    bp->loop_cpu_s = proc_cpu_s(hr->hub.pid, 1) - l0;
    bp->res = ph.res;
    get_stats(hr->ctl, &b, opt.reply_timeout_s);
    bp->alerts = stat_get(&b, "alerts_raised") - stat_get(&a, "alerts_raised");
    if (ph.res.failed)
        printf("  WARNING: %" PRIu64 " events were not accepted; first: %s\n", ph.res.failed,
               ph.res.first_failure);
    if (ph.res.accepted + ph.res.duplicate < c->n)
        printf("  WARNING: only %" PRIu64 " of %" PRIu64 " events accepted%s\n", ph.res.accepted,
               c->n, ph.res.requests_sent < q->n ? " (stopped by --duration-limit or ^C)" : "");
}

static void print_bphase_row(const char *label, uint64_t events, double elapsed_s, double p50,
                             double p99, double hub_cpu_s, uint64_t alerts)
{
    printf("  %-44s %9" PRIu64 " %10.0f %8.3f %8.3f %10.2f %8" PRIu64 "\n", label, events,
           elapsed_s > 0 ? (double)events / elapsed_s : 0, p50, p99,
           events ? hub_cpu_s * 1e6 / (double)events : 0, alerts);
}

static void json_bphase(const char *name, const struct bphase *bp)
{
    printf("\"%s\":{\"events\":%" PRIu64 ",\"elapsed_s\":%.3f,\"events_per_s\":%.1f,"
           "\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"hub_cpu_us_per_event\":%.3f,"
           "\"loop_cpu_us_per_event\":%.3f,\"alerts_raised\":%" PRIu64 "}",
           name, bp->res.accepted, bp->res.elapsed_s, bp->res.events_per_s, bp->res.p50_ms,
           bp->res.p99_ms, bp->res.accepted ? bp->hub_cpu_s * 1e6 / (double)bp->res.accepted : 0,
           bp->res.accepted ? bp->loop_cpu_s * 1e6 / (double)bp->res.accepted : 0, bp->alerts);
}

static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

static int run_backfill(const char *nonce)
{
    uint64_t n = opt.events < 26 ? 26 : opt.events;
    uint64_t live_n = n / 13; /* a month of a year's rate, then the year */
    struct feed f = feed_for(FEED_BACKFILL, opt.span_days);
    f.live_n = live_n;
    read_rule_windows();

    static struct corpus all, sorted;
    static struct requests q_live, q_hist, q_sorted;
    int64_t tg = now_ns();
    corpus_build(&all, n, opt.seed, nonce, &f);
    struct corpus live = corpus_view(&all, 0, live_n), hist = corpus_view(&all, live_n, n);
    struct idxtime *it = malloc(n * sizeof *it);
    uint64_t *order = malloc(n * sizeof *order);
    if (!it || !order)
        die("out of memory for %" PRIu64 " events", n);
    for (uint64_t i = 0; i < n; i++)
        it[i] = (struct idxtime){.t = all.meta[i].occurred_ms, .i = i};
    qsort(it, n, sizeof *it, cmp_idxtime);
    for (uint64_t i = 0; i < n; i++)
        order[i] = it[i].i;
    free(it);
    corpus_permute(&sorted, &all, order);
    requests_build(&q_live, &live, opt.batch);
    requests_build(&q_hist, &hist, opt.batch);
    requests_build(&q_sorted, &sorted, opt.batch);
    double gen_s = secs(now_ns() - tg);

    int64_t live0 = INT64_MAX, live1 = INT64_MIN, hist0 = INT64_MAX, hist1 = INT64_MIN;
    for (uint64_t i = 0; i < n; i++) {
        int64_t t = all.meta[i].occurred_ms;
        if (i < live_n) {
            live0 = t < live0 ? t : live0;
            live1 = t > live1 ? t : live1;
        } else {
            hist0 = t < hist0 ? t : hist0;
            hist1 = t > hist1 ? t : hist1;
        }
    }
    char d[4][16];
    fmt_date(live0, d[0], sizeof d[0]);
    fmt_date(live1, d[1], sizeof d[1]);
    fmt_date(hist0, d[2], sizeof d[2]);
    fmt_date(hist1, d[3], sizeof d[3]);
    printf("csphub-bench --backfill: %" PRIu64 " events of the classic mix (avg %.0f B, generated "
           "and sorted in %.2f s, seed %" PRIu64 ", id nonce %s)\n",
           n, (double)all.off[n] / (double)n, gen_s, opt.seed, nonce);
    printf("  people P-000001..P-%06u drawn %s; rules: %s/config/rules.yaml\n", f.people,
           f.uniform ? "uniformly" : "skewed (some recur a lot)", CSPH_SOURCE_DIR);
    printf("  backfill run: 1. a month of live events: %" PRIu64 ", occurred_at %s to %s "
           "advancing in publish order (up to 2 days late)\n"
           "                2. a year of history for the same people, arriving late: %" PRIu64
           ", occurred_at at random %s to %s\n",
           live_n, d[0], d[1], n - live_n, d[2], d[3]);
    printf("  in-order run: the same %" PRIu64 " events sorted by occurred_at, from one "
           "publisher (so they arrive in that order)\n", n);
    if (strcmp(fs_name(opt.tmpdir), "tmpfs") == 0)
        printf("  WARNING: %s is tmpfs: synced commits cost nothing there; use --tmpdir on a "
               "real disk\n", opt.tmpdir);

    void *ctx = zmq_ctx_new();
    uint64_t *seq_bf = calloc(n, sizeof *seq_bf), *seq_io = calloc(n, sizeof *seq_io);
    if (!seq_bf || !seq_io)
        die("out of memory for %" PRIu64 " seqs", n);
    static struct hubrun A, B;
    static struct bphase pl = {.label = "backfill run, the live month"},
                         ph = {.label = "backfill run, the year's history (late)"},
                         po = {.label = "in-order run"};
    struct stats stA, stB;
    struct seqmap smA = {0}, smB = {0};
    static struct aset alA, alB;
    int done = 0;

    /* 1. the backfill run */
    A.label = "backfill";
    printf("\n");
    hubrun_start(&A, ctx, 0);
    bphase_run(&pl, &A, ctx, &live, &q_live, seq_bf);
    if (!g.interrupted)
        bphase_run(&ph, &A, ctx, &hist, &q_hist, seq_bf + live_n);
    get_stats(A.ctl, &stA, opt.reply_timeout_s);
    A.st1 = stA;
    if (!g.interrupted) {
        printf("running: reading the backfill hub's alerts ...\n");
        seqmap_build(&smA, &all, seq_bf);
        read_all_alerts(A.ctl, &stA, &smA, &alA);
        done++;
    }
    hubrun_stop(&A, 0);

    /* 2. the same events in occurred_at order, one publisher */
    uint64_t inversions = 0, unacked = 0;
    if (!g.interrupted) {
        int np = opt.publishers;
        opt.publishers = 1;
        B.label = "in occurred_at order";
        printf("\n");
        hubrun_start(&B, ctx, 0);
        bphase_run(&po, &B, ctx, &sorted, &q_sorted, seq_io);
        opt.publishers = np;
        get_stats(B.ctl, &stB, opt.reply_timeout_s);
        B.st1 = stB;
        for (uint64_t i = 0; i < n; i++) {
            if (!seq_io[i])
                unacked++;
            else if (i && seq_io[i - 1] && seq_io[i] < seq_io[i - 1])
                inversions++;
        }
        if (!g.interrupted) {
            printf("running: reading the in-order hub's alerts ...\n");
            seqmap_build(&smB, &sorted, seq_io);
            read_all_alerts(B.ctl, &stB, &smB, &alB);
            done++;
        }
        hubrun_stop(&B, 0);
    }

    struct comparison *cmp = calloc(1, sizeof *cmp);
    if (!cmp)
        die("out of memory");
    qsort(alA.a, alA.n, sizeof *alA.a, cmp_arec);
    qsort(alB.a, alB.n, sizeof *alB.a, cmp_arec);
    if (done == 2) {
        compare_alerts(cmp, &alB, &alA);
        qsort(cmp->rules, (size_t)cmp->nrules, sizeof *cmp->rules, cmp_rulecmp);
    }

    /* The figures. */
    double a_el = pl.res.elapsed_s + ph.res.elapsed_s;
    uint64_t a_acc = pl.res.accepted + ph.res.accepted;
    double a_eps = a_el > 0 ? (double)a_acc / a_el : 0;
    printf("\n== csphub-bench --backfill: %" PRIu64 " events (a live month of %" PRIu64
           ", then a year of history of %" PRIu64 "), default rules, batch %d, window %d ==\n",
           n, live_n, n - live_n, opt.batch, opt.window);
    printf("\n  %-44s %9s %10s %8s %8s %10s %8s\n", "publish", "events", "events/s", "p50 ms",
           "p99 ms", "hub CPU/ev", "alerts");
    printf("  %-44s %9s %10s %8s %8s %10s %8s\n", "", "", "", "", "", "us", "raised");
    char lab[96];
    snprintf(lab, sizeof lab, "backfill: live month (%d publisher%s)", opt.publishers,
             opt.publishers == 1 ? "" : "s");
    print_bphase_row(lab, pl.res.accepted, pl.res.elapsed_s, pl.res.p50_ms, pl.res.p99_ms,
                     pl.hub_cpu_s, pl.alerts);
    snprintf(lab, sizeof lab, "backfill: the year's history, late");
    print_bphase_row(lab, ph.res.accepted, ph.res.elapsed_s, ph.res.p50_ms, ph.res.p99_ms,
                     ph.hub_cpu_s, ph.alerts);
    printf("  %-44s %9" PRIu64 " %10.0f %8s %8s %10.2f %8" PRIu64 "\n", "backfill: both", a_acc,
           a_eps, "", "", a_acc ? (pl.hub_cpu_s + ph.hub_cpu_s) * 1e6 / (double)a_acc : 0,
           pl.alerts + ph.alerts);
    if (done == 2) {
        print_bphase_row("in occurred_at order (1 publisher)", po.res.accepted, po.res.elapsed_s,
                         po.res.p50_ms, po.res.p99_ms, po.hub_cpu_s, po.alerts);
        printf("  %-44s %9s %10.3f %8s %8s %10.3f\n", "ratio backfill/in-order", "",
               ratio(a_eps, po.res.events_per_s), "", "",
               ratio((pl.hub_cpu_s + ph.hub_cpu_s) / (double)(a_acc ? a_acc : 1),
                     po.hub_cpu_s / (double)(po.res.accepted ? po.res.accepted : 1)));
        printf("  in-order arrival checked: %" PRIu64 " of %" PRIu64 " events acked, seqs in "
               "occurred_at order (%" PRIu64 " inversions)\n",
               n - unacked, n, inversions);
    }

    if (done == 2) {
        printf("\n  alerts by rule (groups: distinct (rule, panel, key); a tier is missing when "
               "the backfill run's highest\n  priority for a group is below the in-order run's)\n");
        printf("  %-32s %9s %9s %9s %9s %8s %8s %8s %9s\n", "rule", "in-order", "keys",
               "backfill", "keys", "missing", "higher", "extra", "windows");
        printf("  %-32s %9s %9s %9s %9s %8s %8s %8s %9s\n", "", "alerts", "", "alerts", "",
               "tiers", "tiers", "keys", "uncovered");
        for (int r = 0; r < cmp->nrules; r++) { /* the rules by name */
            const struct rulecmp *rc = &cmp->rules[r];
            double days = rule_window_days(names_tab[rc->rule]);
            char win[32];
            if (days > 0)
                snprintf(win, sizeof win, "%" PRIu64 "/%" PRIu64, rc->win_uncovered,
                         rc->win_checked);
            else
                snprintf(win, sizeof win, "-");
            printf("  %-32s %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %9" PRIu64 " %8" PRIu64
                   " %8" PRIu64 " %8" PRIu64 " %9s\n",
                   names_tab[rc->rule], rc->ref_alerts, rc->ref_groups, rc->bf_alerts,
                   rc->bf_groups, rc->missing, rc->higher, rc->extra_groups, win);
        }
        printf("  %-32s %9zu %9s %9zu\n", "all", alB.n, "", alA.n);
        if (cmp->skipped_overdue)
            printf("  (%" PRIu64 " 'overdue' alerts left out: keyed by alert id, which differs "
                   "between hubs)\n", cmp->skipped_overdue);
        printf("\n  guarantee, (rule, panel, key, max priority): %" PRIu64 " reached in the "
               "in-order run; ", cmp->groups);
        if (!cmp->missing)
            printf("no tier missing in the backfill run\n");
        else
            printf("%" PRIu64 " MISSING in the backfill run:\n", cmp->missing);
        for (int k = 0; k < cmp->nshown; k++) {
            const struct arec *R = cmp->shown[k].ref;
            printf("    %s on %s, key %s: in order %s, backfill %s\n", names_tab[R->rule],
                   names_tab[R->panel], R->kshow, prio_names[R->prio < 0 ? 0 : R->prio],
                   cmp->shown[k].bf_prio < 0 ? "no alert" : prio_names[cmp->shown[k].bf_prio]);
        }
        if (cmp->missing > (uint64_t)cmp->nshown)
            printf("    ... and %" PRIu64 " more\n", cmp->missing - (uint64_t)cmp->nshown);
        printf("  guarantee, alert by alert (windowed rules): %" PRIu64 " in-order alerts, each "
               "needing a backfill alert of its rule and key at that tier or higher triggered "
               "less than window_days from an event of its window: ",
               cmp->win_checked);
        if (!cmp->win_uncovered)
            printf("all covered\n");
        else
            printf("%" PRIu64 " NOT covered\n", cmp->win_uncovered);
        for (int k = 0; k < cmp->nuncov; k++) {
            const struct arec *R = cmp->uncov[k];
            char a0[16], a1[16];
            fmt_date(R->ev_min_ms, a0, sizeof a0);
            fmt_date(R->ev_max_ms, a1, sizeof a1);
            printf("    %s on %s, key %s, %s: window %s to %s (%" PRIu64 " events, alert %" PRIu64
                   " of the in-order hub)\n",
                   names_tab[R->rule], names_tab[R->panel], R->kshow,
                   prio_names[R->prio < 0 ? 0 : R->prio], a0, a1, R->nev, R->id);
        }
        if (cmp->win_unknown)
            printf("  (%" PRIu64 " in-order alerts of windowed rules had no evidence the bench "
                   "could date: not checked)\n", cmp->win_unknown);
        printf("  the backfill run above the in-order run (allowed: a late window may fire on "
               "its own): %" PRIu64 " groups at a higher tier, %" PRIu64 " keys the in-order run "
               "has no alert for\n",
               cmp->higher, cmp->extra_groups);
        if (alA.cut || alB.cut)
            printf("  (%" PRIu64 " + %" PRIu64 " alerts came with their evidence cut and were "
                   "read on with 'evidence')\n", alA.cut, alB.cut);
    }
    printf("\n");
    print_memory(&A.hub, "backfill");
    if (done == 2)
        print_memory(&B.hub, "in order");

    /* One JSON line. */
    printf("{\"bench\":\"csphub-bench\",\"mode\":\"backfill\",\"config\":{\"events\":%" PRIu64
           ",\"live_events\":%" PRIu64 ",\"history_events\":%" PRIu64 ",\"live_days\":%.0f,"
           "\"history_days\":%.0f,\"publishers\":%d,\"in_order_publishers\":1,\"window\":%d,"
           "\"batch\":%d,\"people\":%u,\"seed\":%" PRIu64 ",\"tmpdir_fs\":\"%s\"},",
           n, live_n, n - live_n, f.span_days, f.history_days, opt.publishers, opt.window,
           opt.batch, f.people, opt.seed, fs_name(opt.tmpdir));
    printf("\"backfill\":{");
    json_bphase("live", &pl);
    printf(",");
    json_bphase("history", &ph);
    printf(",\"events\":%" PRIu64 ",\"elapsed_s\":%.3f,\"events_per_s\":%.1f,\"alerts\":%zu,",
           a_acc, a_el, a_eps, alA.n);
    json_memory(&A.hub);
    printf("}");
    if (done == 2) {
        printf(",\"in_order\":{");
        json_bphase("publish", &po);
        printf(",\"events_per_s\":%.1f,\"alerts\":%zu,\"inversions\":%" PRIu64 ",",
               po.res.events_per_s, alB.n, inversions);
        json_memory(&B.hub);
        printf("},\"ratio_backfill_in_order_events_per_s\":%.4f",
               ratio(a_eps, po.res.events_per_s));
        printf(",\"comparison\":{\"groups\":%" PRIu64 ",\"missing\":%" PRIu64 ",\"higher\":%" PRIu64
               ",\"extra_keys\":%" PRIu64 ",\"windows_checked\":%" PRIu64
               ",\"windows_uncovered\":%" PRIu64 ",\"overdue_skipped\":%" PRIu64 ",\"rules\":{",
               cmp->groups, cmp->missing, cmp->higher, cmp->extra_groups, cmp->win_checked,
               cmp->win_uncovered, cmp->skipped_overdue);
        for (int r = 0; r < cmp->nrules; r++) {
            const struct rulecmp *rc = &cmp->rules[r];
            printf("%s", r ? "," : "");
            json_str(names_tab[rc->rule]);
            printf(":{\"in_order_alerts\":%" PRIu64 ",\"in_order_keys\":%" PRIu64
                   ",\"backfill_alerts\":%" PRIu64 ",\"backfill_keys\":%" PRIu64
                   ",\"missing\":%" PRIu64 ",\"higher\":%" PRIu64 ",\"extra_keys\":%" PRIu64
                   ",\"windows_checked\":%" PRIu64 ",\"windows_uncovered\":%" PRIu64 "}",
                   rc->ref_alerts, rc->ref_groups, rc->bf_alerts, rc->bf_groups, rc->missing,
                   rc->higher, rc->extra_groups, rc->win_checked, rc->win_uncovered);
        }
        printf("},\"missing_list\":[");
        for (int k = 0; k < cmp->nshown; k++) {
            const struct arec *R = cmp->shown[k].ref;
            printf("%s{\"rule\":", k ? "," : "");
            json_str(names_tab[R->rule]);
            printf(",\"panel\":");
            json_str(names_tab[R->panel]);
            printf(",\"key\":");
            json_str(R->kshow);
            printf(",\"in_order\":\"%s\",\"backfill\":\"%s\"}", prio_names[R->prio < 0 ? 0 : R->prio],
                   cmp->shown[k].bf_prio < 0 ? "none" : prio_names[cmp->shown[k].bf_prio]);
        }
        printf("]}");
    }
    printf("}\n");

    int rc = g.interrupted || done < 2 || cmp->missing || cmp->win_uncovered ? 1 : 0;
    free(cmp);
    aset_free(&alA);
    aset_free(&alB);
    free(smA.occ);
    free(smB.occ);
    free(seq_bf);
    free(seq_io);
    free(order);
    zmq_ctx_term(ctx);
    cleanup_all();
    requests_free(&q_live);
    requests_free(&q_hist);
    requests_free(&q_sorted);
    corpus_free(&sorted);
    corpus_free(&all);
    return rc;
}

/* ---- --scale ------------------------------------------------------------- */

#define SCALE_PART_MAX 250000 /* events generated and held at a time */

struct scalestep {
    uint64_t events, failed, alerts;
    double elapsed_s, hub_cpu_s, loop_cpu_s, gen_s;
    double p99_max_ms; /* the largest p99 of its parts */
    double faults;     /* the hub's page faults over the step */
    long private_kb, rss_kb;
};

static double step_us(const struct scalestep *s, double cpu_s)
{
    return s->events ? cpu_s * 1e6 / (double)s->events : 0;
}

/* csphubd --help mentions --what-if? */
static int hubd_has_whatif(const char *hubd)
{
    int fd[2];
    if (pipe(fd) != 0)
        return 0;
    fflush(stdout);
    pid_t p = fork();
    if (p < 0)
        return 0;
    if (p == 0) {
        dup2(fd[1], 1);
        dup2(fd[1], 2);
        close(fd[0]);
        close(fd[1]);
        execl(hubd, hubd, "--help", (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[16384];
    size_t used = 0;
    ssize_t r;
    while ((r = read(fd[0], buf + used, sizeof buf - 1 - used)) > 0 && used < sizeof buf - 1)
        used += (size_t)r;
    buf[used] = 0;
    close(fd[0]);
    int st;
    waitpid(p, &st, 0);
    return strstr(buf, "--what-if") != NULL;
}

struct whatif_result {
    int ran;
    int exit_status; /* 0 no difference, 1 differences, 2 could not run */
    double wall_s;
    long maxrss_kb;
    char difference[16];
    uint64_t events;
    char info[256]; /* its last line on stderr */
};

/* csphubd --what-if RULES --data DIR --config FILE --json, timed, with its
 * peak memory from wait4's rusage. */
static void run_whatif(const struct hub *h, const char *data, struct whatif_result *w)
{
    char out[PATH_MAX + 32], err[PATH_MAX + 32];
    snprintf(out, sizeof out, "%s/whatif.json", h->dir);
    snprintf(err, sizeof err, "%s/whatif.err", h->dir);
    fflush(stdout);
    fflush(stderr);
    int64_t t0 = now_ns();
    pid_t p = fork();
    if (p < 0)
        die("fork: %s", strerror(errno));
    if (p == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo >= 0)
            dup2(fo, 1);
        if (fe >= 0)
            dup2(fe, 2);
        setenv("TMPDIR", opt.tmpdir, 1); /* its temporary log goes beside ours */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        execl(h->hubd, h->hubd, "--what-if", CSPH_SOURCE_DIR "/config/rules.yaml", "--data", data,
              "--config", h->config, "--json", (char *)NULL);
        fprintf(stderr, "cannot run %s: %s\n", h->hubd, strerror(errno));
        _exit(127);
    }
    g.hub_pid = p; /* so an interrupt or die() stops it */
    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (;;) {
        pid_t r = wait4(p, &st, 0, &ru);
        if (r == p)
            break;
        if (r < 0 && errno != EINTR)
            die("wait4: %s", strerror(errno));
        if (g.interrupted)
            kill(p, SIGTERM);
    }
    g.hub_pid = 0;
    w->ran = 1;
    w->wall_s = secs(now_ns() - t0);
    w->maxrss_kb = ru.ru_maxrss;
    w->exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    snprintf(w->difference, sizeof w->difference, "?");
    FILE *f = fopen(out, "r");
    if (f) {
        static char buf[1 << 16];
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        buf[n] = 0;
        fclose(f);
        /* the top-level fields come last; search from the end */
        char *dp = NULL, *ep = NULL;
        for (char *q = buf; (q = strstr(q, "\"difference\":")); q++)
            dp = q;
        for (char *q = buf; (q = strstr(q, "\"events\":")); q++)
            ep = q;
        if (dp) {
            dp += strlen("\"difference\":");
            dp += strspn(dp, " ");
            snprintf(w->difference, sizeof w->difference, "%.*s", (int)strcspn(dp, ",\n}"), dp);
        }
        if (ep)
            w->events = strtoull(ep + strlen("\"events\":"), NULL, 10);
    }
    f = fopen(err, "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f))
            if (line[0] != '\n')
                snprintf(w->info, sizeof w->info, "%.*s", (int)strcspn(line, "\n"), line);
        fclose(f);
    }
}

static const char *const scale_dbs[] = {"rules.state", "rules.meta", "people", "dedup"};
#define NSCALE_DBS 4

static int run_scale(const char *nonce)
{
    const uint64_t n = opt.events, step = opt.scale_step;
    const double span = opt.span_days ? opt.span_days : 365.0 * (double)n / 1e6;
    struct feed f = feed_for(FEED_STATE, span < 1 ? 1 : span);
    const uint64_t nsteps = (n + step - 1) / step;
    struct scalestep *steps = calloc(nsteps, sizeof *steps);
    if (!steps)
        die("out of memory");
    char d0[16], d1[16];
    fmt_date((SPAN_END_S - (int64_t)(f.span_days * 86400.0)) * 1000, d0, sizeof d0);
    fmt_date(SPAN_END_S * 1000, d1, sizeof d1);
    printf("csphub-bench --scale: %" PRIu64 " events of the classic mix, seed %" PRIu64
           ", id nonce %s, made at most %u at a time, between publish phases\n",
           n, opt.seed, nonce, SCALE_PART_MAX);
    printf("  people P-000001..P-%06u drawn uniformly; occurred_at advancing in publish order "
           "over %.0f days (%s to %s, up to 2 days late)\n",
           f.people, f.span_days, d0, d1);
    printf("  load: %d publisher(s) x window %d x batch %d = %d events in flight; the default "
           "rules; figures every %" PRIu64 " events\n",
           opt.publishers, opt.window, opt.batch, opt.publishers * opt.window * opt.batch, step);
    if (strcmp(fs_name(opt.tmpdir), "tmpfs") == 0)
        printf("  WARNING: %s is tmpfs: synced commits cost nothing there; use --tmpdir on a "
               "real disk\n", opt.tmpdir);

    void *ctx = zmq_ctx_new();
    static struct hubrun hr;
    hr.label = "scale";
    printf("\n");
    hubrun_start(&hr, ctx, 0);
    struct hub *h = &hr.hub;
    sync();
    printf("\n  %-10s %10s %10s %12s %8s %12s %9s %9s %11s %9s %8s\n", "events", "in step",
           "events/s", "hub CPU/ev", "x first", "loop CPU/ev", "faults/ev", "p99 ms", "private",
           "alerts", "gen s");
    printf("  %-10s %10s %10s %12s %8s %12s %9s %9s %11s %9s %8s\n", "(to)", "", "", "us", "",
           "us", "", "(worst)", "MiB", "raised", "");
    struct stats sa, sb;
    get_stats(hr.ctl, &sa, opt.reply_timeout_s);
    sb = sa;
    uint64_t done_steps = 0, accepted = 0;
    for (uint64_t k = 0; k < nsteps && !g.interrupted; k++) {
        struct scalestep *S = &steps[k];
        uint64_t a = k * step, b = a + step < n ? a + step : n;
        uint64_t parts = (b - a + SCALE_PART_MAX - 1) / SCALE_PART_MAX;
        double c0 = proc_cpu_s(h->pid, 0), l0 = proc_cpu_s(h->pid, 1), f0 = proc_faults(h->pid);
        for (uint64_t j = 0; j < parts && !g.interrupted; j++) {
            uint64_t pa = a + (b - a) * j / parts, pb = a + (b - a) * (j + 1) / parts;
            struct corpus c;
            struct requests q;
            int64_t tg = now_ns();
            corpus_build_part(&c, pb - pa, opt.seed, nonce, &f, pa, n);
            requests_build(&q, &c, opt.batch);
            S->gen_s += secs(now_ns() - tg);
            struct phase ph = {.name = "hub", .endpoint = h->endpoint, .ctx = ctx, .corpus = &c,
                               .reqs = &q, .hub = 1};
            run_phase(&ph);
            S->events += ph.res.accepted;
            S->failed += ph.res.failed;
            S->elapsed_s += ph.res.elapsed_s;
            if (ph.res.p99_ms > S->p99_max_ms)
                S->p99_max_ms = ph.res.p99_ms;
            if (ph.res.failed && S->failed == ph.res.failed)
                printf("  WARNING: %" PRIu64 " events not accepted; first: %s\n", ph.res.failed,
                       ph.res.first_failure);
            corpus_free(&c);
            requests_free(&q);
        }
        S->hub_cpu_s = proc_cpu_s(h->pid, 0) - c0;
        S->loop_cpu_s = proc_cpu_s(h->pid, 1) - l0;
        S->faults = proc_faults(h->pid) - f0;
        get_stats(hr.ctl, &sb, opt.reply_timeout_s);
        S->alerts = stat_get(&sb, "alerts_raised") - stat_get(&sa, "alerts_raised");
        sa = sb;
        long hwm, anon, file, shmem;
        read_rss(h->pid, &S->rss_kb, &hwm, &anon, &file, &shmem);
        S->private_kb = S->rss_kb >= 0 && file >= 0 ? S->rss_kb - file : -1;
        accepted += S->events;
        done_steps++;
        printf("  %-10" PRIu64 " %10" PRIu64 " %10.0f %12.2f %8.3f %12.2f %9.2f %9.1f %11.1f %9"
               PRIu64 " %8.1f\n",
               b, S->events, S->elapsed_s > 0 ? (double)S->events / S->elapsed_s : 0,
               step_us(S, S->hub_cpu_s),
               ratio(step_us(S, S->hub_cpu_s), step_us(&steps[0], steps[0].hub_cpu_s)),
               step_us(S, S->loop_cpu_s), S->events ? S->faults / (double)S->events : 0,
               S->p99_max_ms,
               (double)S->private_kb / 1024.0, S->alerts, S->gen_s);
    }
    hr.st1 = sb;
    uint64_t alerts_total = sb.alerts_total, last_seq = stat_get(&sb, "last_seq");

    /* Stop; the index's databases, read-only. */
    hubrun_stop(&hr, 1);
    char data[PATH_MAX + 8];
    snprintf(data, sizeof data, "%s/data", h->dir);
    static struct staterun live_db, rebuilt_db;
    int have_db = 0, rebuilt = 0;
    double rebuild_s = -1, rebuild_cpu_s = -1;
    long rb_rss = -1, rb_hwm = -1, rb_anon = -1, rb_file = -1, rb_shmem = -1;
    uint64_t rb_alerts = 0, rb_last_seq = 0;
    char level_line[512] = "";
    struct whatif_result wi = {0};
    int has_whatif = 0;
    if (!g.interrupted && done_steps) {
        lmdb_state(data, &live_db);
        have_db = 1;

        /* The rebuild after a power cut: no index at all. */
        static const char *const gone[] = {"index.mdb", "index.mdb-lock", "index.state"};
        for (int i = 0; i < 3; i++) {
            char p[PATH_MAX + 32];
            snprintf(p, sizeof p, "%s/%s", data, gone[i]);
            if (unlink(p) != 0 && errno != ENOENT)
                die("cannot remove %s: %s", p, strerror(errno));
        }
        snprintf(h->log, sizeof h->log, "%s/csphubd-rebuild.log", h->dir);
        snprintf(g.hub_log, sizeof g.hub_log, "%s", h->log);
        snprintf(h->endpoint, sizeof h->endpoint, "tcp://127.0.0.1:%d", free_port());
        printf("\nrunning: index rebuild: removed index.mdb, index.mdb-lock, index.state; "
               "starting csphubd on the same data ...\n");
        sync();
        static const char *const info[] = {"--log-level", "info", NULL};
        int64_t t0 = now_ns();
        hub_spawn(h, info);
        void *ctl = dealer_new(ctx, h->endpoint);
        char version[128];
        wait_ready(ctl, 24 * 3600, version, sizeof version, &rb_last_seq);
        rebuild_s = secs(now_ns() - t0);
        rebuild_cpu_s = proc_cpu_s(h->pid, 0);
        read_rss(h->pid, &rb_rss, &rb_hwm, &rb_anon, &rb_file, &rb_shmem);
        struct stats sr;
        get_stats(ctl, &sr, opt.reply_timeout_s);
        rb_alerts = sr.alerts_total;
        zmq_close(ctl);
        int st = 0;
        stop_child(&g.hub_pid, SIGTERM, 120, &st);
        g.hub_log[0] = 0;
        rebuilt = 1;
        FILE *lf = fopen(h->log, "r");
        if (lf) {
            char line[512];
            while (fgets(line, sizeof line, lf))
                if (strstr(line, "level with the log"))
                    snprintf(level_line, sizeof level_line, "%.*s", (int)strcspn(line, "\n"), line);
            fclose(lf);
        }
        lmdb_state(data, &rebuilt_db);

        has_whatif = hubd_has_whatif(h->hubd);
        if (has_whatif && !g.interrupted) {
            printf("running: csphubd --what-if %s/config/rules.yaml --data %s --config %s --json "
                   "...\n", CSPH_SOURCE_DIR, data, h->config);
            sync();
            run_whatif(h, data, &wi);
        }
    }
    forget_tmpdir(h->dir);

    /* The figures. */
    const struct scalestep *F = done_steps ? &steps[0] : NULL;
    const struct scalestep *L = done_steps ? &steps[done_steps - 1] : NULL;
    double cpu_ratio = F && L && step_us(F, F->hub_cpu_s) > 0
                           ? step_us(L, L->hub_cpu_s) / step_us(F, F->hub_cpu_s) : 0;
    double loop_ratio = F && L && step_us(F, F->loop_cpu_s) > 0
                            ? step_us(L, L->loop_cpu_s) / step_us(F, F->loop_cpu_s) : 0;
    double pub_s = 0;
    for (uint64_t k = 0; k < done_steps; k++)
        pub_s += steps[k].elapsed_s;
    long priv = private_kb(h);
    printf("\n== csphub-bench --scale: %" PRIu64 " events published (of %" PRIu64 "), default "
           "rules, %d publisher(s) x window %d x batch %d ==\n",
           accepted, n, opt.publishers, opt.window, opt.batch);
    if (L && L->events < step && done_steps > 1)
        printf("  (the last step holds %" PRIu64 " events, not %" PRIu64 ")\n", L->events, step);
    printf("\n  publish: %.0f events/s over the run (%.1f s publishing); %" PRIu64 " alerts on "
           "the queues; log last_seq %" PRIu64 "\n",
           pub_s > 0 ? (double)accepted / pub_s : 0, pub_s, alerts_total, last_seq);
    if (F && L)
        printf("  hub CPU per event, last step / first step: %.2f / %.2f us = %.3f (target <= "
               "1.25: %s); the loop thread %.2f / %.2f us = %.3f\n",
               step_us(L, L->hub_cpu_s), step_us(F, F->hub_cpu_s), cpu_ratio,
               done_steps > 1 && cpu_ratio <= 1.25 ? "met" : done_steps > 1 ? "NOT met" : "one step only",
               step_us(L, L->loop_cpu_s), step_us(F, F->loop_cpu_s), loop_ratio);
    printf("  csphubd private memory at the end: %.1f MiB = %.1f MB (target < 100 MB: %s); VmRSS "
           "%.1f MiB of which RssFile %.1f (LMDB map pages), peak VmHWM %.1f MiB\n",
           (double)priv / 1024.0, (double)priv * 1024.0 / 1e6,
           priv >= 0 && (double)priv * 1024.0 < 100e6 ? "met" : "NOT met",
           (double)h->rss_kb / 1024.0, (double)h->file_kb / 1024.0, (double)h->hwm_kb / 1024.0);
    if (have_db) {
        printf("\n  index.mdb after the run (read-only, mdb_stat: (branch + leaf + overflow pages) x "
               "page size), per event published\n");
        printf("  %-14s %-22s %14s %12s %12s %16s\n", "database", "what", "entries", "MiB",
               "bytes/event", "after rebuild B/ev");
        static const char *const what[NSCALE_DBS] = {"rule state", "rule state (meta)",
                                                     "person index", "idempotency index"};
        for (int i = 0; i < NSCALE_DBS; i++) {
            const struct dbstat *d = find_db(&live_db, scale_dbs[i]);
            const struct dbstat *r = rebuilt ? find_db(&rebuilt_db, scale_dbs[i]) : NULL;
            char rb[32] = "-";
            if (r)
                snprintf(rb, sizeof rb, "%.1f", accepted ? (double)r->bytes / (double)accepted : 0);
            printf("  %-14s %-22s %14" PRIu64 " %12.2f %12.1f %16s\n", scale_dbs[i], what[i],
                   d ? d->entries : 0, mib(d ? d->bytes : 0),
                   d && accepted ? (double)d->bytes / (double)accepted : 0, rb);
        }
        const struct dbstat *s0 = find_db(&live_db, "rules.state"),
                            *s1 = find_db(&live_db, "rules.meta");
        const struct dbstat *r0 = rebuilt ? find_db(&rebuilt_db, "rules.state") : NULL,
                            *r1 = rebuilt ? find_db(&rebuilt_db, "rules.meta") : NULL;
        uint64_t rs_bytes = (s0 ? s0->bytes : 0) + (s1 ? s1->bytes : 0);
        uint64_t rr_bytes = (r0 ? r0->bytes : 0) + (r1 ? r1->bytes : 0);
        char rb[32] = "-";
        if (rebuilt)
            snprintf(rb, sizeof rb, "%.1f", accepted ? (double)rr_bytes / (double)accepted : 0);
        printf("  %-14s %-22s %14s %12.2f %12.1f %16s\n", "rules.*", "rule state, both", "",
               mib(rs_bytes), accepted ? (double)rs_bytes / (double)accepted : 0, rb);
        const struct dbstat *ev = find_db(&live_db, "events");
        if (ev)
            printf("  %-14s %-22s %14" PRIu64 " %12.2f %12.1f %16s\n", "events", "the log (data.mdb)",
                   ev->entries, mib(ev->bytes), accepted ? (double)ev->bytes / (double)accepted : 0,
                   "");
    }
    if (rebuilt) {
        printf("\n  index rebuild from the log (as after a power cut): %.1f s from start to the "
               "first ping answered (%.0f events/s); hub CPU %.1f s; peak VmHWM %.1f MiB, private "
               "%.1f MiB once serving\n",
               rebuild_s, rebuild_s > 0 ? (double)rb_last_seq / rebuild_s : 0, rebuild_cpu_s,
               (double)rb_hwm / 1024.0, (double)(rb_rss - rb_file) / 1024.0);
        printf("    alerts on the queues: %" PRIu64 " before, %" PRIu64 " after%s; log says: %s\n",
               alerts_total, rb_alerts, alerts_total == rb_alerts ? " (the same)" : " (DIFFERENT)",
               level_line[0] ? level_line : "(no \"level with the log\" line found)");
    }
    if (!has_whatif && rebuilt)
        printf("\n  what-if: this csphubd has no --what-if (csphubd --help); not measured\n");
    else if (wi.ran)
        printf("\n  what-if (csphubd --what-if config/rules.yaml, the default rules, against the "
               "data dir; hub stopped): %.1f s wall, peak memory %.1f MiB (wait4 ru_maxrss); exit "
               "status %d (%s); difference %s; events %" PRIu64 "\n    its own line: %s\n",
               wi.wall_s, (double)wi.maxrss_kb / 1024.0, wi.exit_status,
               wi.exit_status == 0 ? "no difference" : wi.exit_status == 1 ? "differences"
                                                                            : "could not run",
               wi.difference, wi.events, wi.info[0] ? wi.info : "-");
    struct rusage self;
    getrusage(RUSAGE_SELF, &self);
    printf("\n  this bench's own peak RSS: %.1f MiB; the machine has %ld CPUs, shared by the hub "
           "and the bench\n",
           (double)self.ru_maxrss / 1024.0, sysconf(_SC_NPROCESSORS_ONLN));

    /* One JSON line. */
    printf("{\"bench\":\"csphub-bench\",\"mode\":\"scale\",\"config\":{\"events\":%" PRIu64
           ",\"step\":%" PRIu64 ",\"publishers\":%d,\"window\":%d,\"batch\":%d,\"people\":%u,"
           "\"span_days\":%.0f,\"seed\":%" PRIu64 ",\"tmpdir_fs\":\"%s\"},\"accepted\":%" PRIu64
           ",\"steps\":[",
           n, step, opt.publishers, opt.window, opt.batch, f.people, f.span_days, opt.seed,
           fs_name(opt.tmpdir), accepted);
    for (uint64_t k = 0; k < done_steps; k++) {
        const struct scalestep *S = &steps[k];
        printf("%s{\"events\":%" PRIu64 ",\"elapsed_s\":%.3f,\"events_per_s\":%.1f,"
               "\"hub_cpu_us_per_event\":%.3f,\"loop_cpu_us_per_event\":%.3f,\"p99_ms_worst\":%.3f,"
               "\"private_kb\":%ld,\"alerts_raised\":%" PRIu64 ",\"failed\":%" PRIu64
               ",\"page_faults_per_event\":%.3f}",
               k ? "," : "", S->events, S->elapsed_s,
               S->elapsed_s > 0 ? (double)S->events / S->elapsed_s : 0, step_us(S, S->hub_cpu_s),
               step_us(S, S->loop_cpu_s), S->p99_max_ms, S->private_kb, S->alerts, S->failed,
               S->events ? S->faults / (double)S->events : 0);
    }
    printf("],\"cpu_per_event_last_first\":%.4f,\"loop_cpu_per_event_last_first\":%.4f,",
           cpu_ratio, loop_ratio);
    json_memory(h);
    printf(",\"index_bytes_per_event\":{");
    for (int i = 0; have_db && i < NSCALE_DBS; i++) {
        const struct dbstat *d = find_db(&live_db, scale_dbs[i]);
        printf("%s\"%s\":%.2f", i ? "," : "", scale_dbs[i],
               d && accepted ? (double)d->bytes / (double)accepted : 0);
    }
    if (have_db) {
        const struct dbstat *s0 = find_db(&live_db, "rules.state"),
                            *s1 = find_db(&live_db, "rules.meta");
        printf(",\"rule_state\":%.2f",
               accepted ? (double)((s0 ? s0->bytes : 0) + (s1 ? s1->bytes : 0)) / (double)accepted
                        : 0);
    }
    printf("},\"index_bytes\":{");
    for (int i = 0; have_db && i < NSCALE_DBS; i++) {
        const struct dbstat *d = find_db(&live_db, scale_dbs[i]);
        printf("%s\"%s\":%" PRIu64, i ? "," : "", scale_dbs[i], d ? d->bytes : 0);
    }
    printf("}");
    if (rebuilt)
        printf(",\"rebuild\":{\"seconds\":%.3f,\"hub_cpu_s\":%.2f,\"vm_hwm_kb\":%ld,"
               "\"private_kb\":%ld,\"alerts_before\":%" PRIu64 ",\"alerts_after\":%" PRIu64 "}",
               rebuild_s, rebuild_cpu_s, rb_hwm, rb_rss - rb_file, alerts_total, rb_alerts);
    if (wi.ran)
        printf(",\"what_if\":{\"seconds\":%.3f,\"max_rss_kb\":%ld,\"exit_status\":%d,"
               "\"events\":%" PRIu64 "}",
               wi.wall_s, wi.maxrss_kb, wi.exit_status, wi.events);
    else
        printf(",\"what_if\":null");
    printf("}\n");
    free(steps);
    zmq_ctx_term(ctx);
    cleanup_all();
    return g.interrupted || !done_steps ? 1 : 0;
}

/* ---- main ------------------------------------------------------------- */

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

    int64_t tg = now_ns();
    static struct corpus corpus;
    static struct requests reqs;
    struct feed feed = feed_for(opt.alert_rate >= 0 ? FEED_ALERT : FEED_CLASSIC, 0);
    corpus_build(&corpus, opt.events, opt.seed, nonce, &feed);
    requests_build(&reqs, &corpus, opt.batch);
    double gen_s = secs(now_ns() - tg);
    double avg_ev = (double)corpus.off[corpus.n] / (double)corpus.n;
    describe_corpus(&corpus, &reqs, gen_s, nonce);

    void *ctx = zmq_ctx_new();
    static struct hub hub;
    const char *endpoint = opt.endpoint;
    if (!endpoint) {
        hub.rules_none = opt.rules_mode == RULES_NONE;
        hub_start(&hub);
        endpoint = hub.endpoint;
    }
    void *ctl = dealer_new(ctx, endpoint);
    char version[128];
    uint64_t last_seq0;
    wait_ready(ctl, opt.endpoint ? 5 : 15, version, sizeof version, &last_seq0);
    if (!opt.endpoint) {
        printf("  hub: started %s (pid %d) on %s, batch_max %s, data in %s (%s)\n", hub.hubd,
               (int)hub.pid, endpoint, opt.hub_batch_max ? "" : "default", hub.dir,
               fs_name(hub.dir));
        if (opt.hub_batch_max)
            printf("       (limits.batch_max: %u)\n", opt.hub_batch_max);
        printf("       rules_file: %s\n",
               hub.rules_none ? "none" : CSPH_SOURCE_DIR "/config/rules.yaml");
    } else {
        printf("  hub: %s at %s (log already holds %" PRIu64 " events)\n", version, endpoint,
               last_seq0);
    }
    printf("  hub version: %s\n", version);

    struct stats st0, st1;
    get_stats(ctl, &st0, opt.reply_timeout_s);

    /* 1. the hub */
    if (opt.perf_file)
        perf_start(hub.pid);
    /* Dirty pages left by an earlier phase or run would compete with the
     * syncs being measured: flush them first, in every measured phase. */
    sync();
    printf("\nrunning: hub publish ...\n");
    struct phase hubph = {.name = "hub", .endpoint = endpoint, .ctx = ctx, .corpus = &corpus,
                          .reqs = &reqs, .hub = 1};
    double hub_cpu0 = opt.endpoint ? -1 : proc_cpu_s(hub.pid, 0);
    double loop_cpu0 = opt.endpoint ? -1 : proc_cpu_s(hub.pid, 1), cli_cpu0 = self_cpu_s();
    run_phase(&hubph);
    double hub_cpu = opt.endpoint || hub_cpu0 < 0 ? -1 : proc_cpu_s(hub.pid, 0) - hub_cpu0;
    double loop_cpu = opt.endpoint || loop_cpu0 < 0 ? -1 : proc_cpu_s(hub.pid, 1) - loop_cpu0;
    double cli_cpu = self_cpu_s() - cli_cpu0;
    if (opt.perf_file) {
        int pst;
        stop_child(&g.perf_pid, SIGINT, 30, &pst);
    }
    get_stats(ctl, &st1, opt.reply_timeout_s);
    const struct phase_result *H = &hubph.res;
    uint64_t d_commits = stat_get(&st1, "commits") - stat_get(&st0, "commits");
    uint64_t d_accepted = stat_get(&st1, "accepted") - stat_get(&st0, "accepted");
    uint64_t d_requests = stat_get(&st1, "requests") - stat_get(&st0, "requests");
    double ev_per_commit = d_commits ? (double)d_accepted / (double)d_commits : 0;
    double req_per_commit = d_commits ? (double)(d_requests - 1) / (double)d_commits : 0;
    /* d_requests counts our stats request too: hence the -1. */

    /* 2. replay */
    struct replay_result rr = {0};
    uint64_t last_seq = stat_get(&st1, "last_seq");
    if (opt.replay && !g.interrupted) {
        printf("running: replay of the whole log (%" PRIu64 " events) ...\n", last_seq);
        void *rs = dealer_new(ctx, endpoint);
        run_replay(rs, &rr);
        zmq_close(rs);
    }
    struct stats st2 = st1;
    if (opt.replay)
        get_stats(ctl, &st2, opt.reply_timeout_s);

    /* 3. stop our hub */
    if (!opt.endpoint) {
        read_rss(hub.pid, &hub.rss_kb, &hub.hwm_kb, &hub.anon_kb, &hub.file_kb, &hub.shmem_kb);
        int status = 0;
        stop_child(&g.hub_pid, SIGTERM, 15, &status);
        hub.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        if (hub.exit_status != 0) {
            fprintf(stderr, "csphub-bench: WARNING: csphubd exited with status %d\n",
                    hub.exit_status);
            print_file_tail(hub.log, 4000);
        }
        g.hub_log[0] = 0;
        forget_tmpdir(hub.dir);
    }
    zmq_close(ctl);

    /* 4. baselines */
    struct phase_result E = {0};
    struct store_result lm[MAX_COMMIT_EVERY + 1];
    struct store_result sr = {0};
    int nlm = 0;
    uint64_t nbase = H->accepted ? H->accepted : corpus.n;
    if (nbase > corpus.n)
        nbase = corpus.n;
    uint32_t k_obs = (uint32_t)llround(ev_per_commit);
    if (k_obs < 1)
        k_obs = 1;
    if (!opt.no_baseline && !g.interrupted) {
        printf("running: zmq ROUTER echo ...\n");
        struct echo echo;
        echo_start(&echo, endpoint, corpus.n);
        struct phase eph = {.name = "echo", .endpoint = echo.endpoint, .ctx = ctx,
                            .corpus = &corpus, .reqs = &reqs};
        run_phase(&eph);
        echo_stop(&echo);
        E = eph.res;

        int have_obs = 0;
        for (int i = 0; i < opt.ncommit_every; i++) {
            lm[nlm] = (struct store_result){.commit_every = opt.commit_every[i]};
            if (opt.commit_every[i] == k_obs)
                lm[nlm].observed = have_obs = 1;
            nlm++;
        }
        if (!have_obs && d_commits)
            lm[nlm++] = (struct store_result){.commit_every = k_obs, .observed = 1};
        for (int i = 0; i < nlm && !g.interrupted; i++) {
            printf("running: LMDB appends, commit every %u ...\n", lm[i].commit_every);
            lmdb_baseline(&corpus, nbase, &lm[i]);
        }
        if (!g.interrupted) {
            sr.commit_every = k_obs;
            sr.observed = 1;
            printf("running: csph_store appends, commit every %u ...\n", k_obs);
            store_baseline(&corpus, nbase, &sr);
        }
    }

    /* 5. the figures */
    printf("\n== csphub-bench: %d publisher(s), window %d, batch %d, %" PRIu64 " events%s ==\n",
           opt.publishers, opt.window, opt.batch, corpus.n,
           opt.hub_batch_max ? "" : "");
    if (opt.hub_batch_max)
        printf("   hub limits.batch_max %u\n", opt.hub_batch_max);
    printf("\n  %-34s %10s %10s %9s %9s %9s %9s\n", "publish (latency per request)", "events/s",
           "req/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms");
    print_phase_row("hub (ack after synced commit)", H);
    if (!opt.no_baseline && E.requests) {
        print_phase_row("zmq ROUTER echo (no hub logic)", &E);
        printf("  %-34s %10.3f %10.3f %9.2f %9.2f %9.2f\n", "ratio hub/echo",
               ratio(H->events_per_s, E.events_per_s), ratio(H->requests_per_s, E.requests_per_s),
               ratio(H->p50_ms, E.p50_ms), ratio(H->p99_ms, E.p99_ms),
               ratio(H->p999_ms, E.p999_ms));
    }
    printf("\n  hub: %" PRIu64 " accepted, %" PRIu64 " duplicate, %" PRIu64
           " not accepted (busy/internal) of %" PRIu64 " sent events in %.2f s; %" PRIu64 "/%"
           PRIu64 " requests replied\n",
           H->accepted, H->duplicate, H->failed, corpus.n, H->elapsed_s, H->requests,
           H->requests_sent);
    if (H->failed)
        printf("  WARNING: %" PRIu64 " events were not accepted; first: %s\n", H->failed,
               H->first_failure);
    if (H->requests_sent < reqs.n)
        printf("  NOTE: stopped sending after %.0f s (--duration-limit) or an interrupt: %" PRIu64
               " of %" PRIu64 " requests sent\n",
               opt.duration_limit_s, H->requests_sent, reqs.n);
    printf("  hub stats (delta over the run): commits %" PRIu64 ", accepted %" PRIu64
           " -> %.1f events/commit, %.1f requests/commit; batch_requests_max %" PRIu64 "\n",
           d_commits, d_accepted, ev_per_commit, req_per_commit,
           stat_get(&st1, "batch_requests_max"));
    print_hub_time("  ", &st0, &st1, H->elapsed_s);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double per_ev = d_accepted ? 1e6 / (double)d_accepted : 0;
    double hub_us = hub_cpu >= 0 ? hub_cpu * per_ev : -1, loop_us = loop_cpu >= 0 ? loop_cpu * per_ev : -1;
    double cli_us = cli_cpu * per_ev;
    if (hub_us > 0 && loop_us > 0 && cli_us > 0 && ncpu > 0 && H->elapsed_s > 0) {
        /* The hub's loop is one thread: it cannot pass 1 / (its CPU per
         * event) even if it never waited for a sync. With the client on the
         * same machine, all the threads share its CPUs: nothing passes
         * ncpu / (hub + client). */
        printf("  CPU per accepted event: hub %.2f us (its loop thread %.2f us, busy %.0f%% of the "
               "run; ZeroMQ's I/O thread %.2f us), this bench's client %.2f us\n",
               hub_us, loop_us, 100.0 * loop_cpu / H->elapsed_s, hub_us - loop_us, cli_us);
        printf("  CPU ceilings at these costs: the hub's loop %.0f events/s (one thread, never "
               "waiting); the %ld CPUs %.0f events/s (hub and client together). 300,000 events/s "
               "needs the loop at %.2f us or less\n",
               1e6 / loop_us, ncpu, (double)ncpu * 1e6 / (hub_us + cli_us), 1e6 / 300000.0);
    }
    printf("  hub stats (totals):");
    for (int i = 0; i < st2.n; i++)
        printf(" %s=%" PRIu64, st2.name[i], st2.v[i]);
    if (st2.rejected[0])
        printf(" rejected{%s}", st2.rejected);
    printf("\n");
    uint64_t d_alerts = stat_get(&st1, "alerts_raised") - stat_get(&st0, "alerts_raised");
    printf("  alerts: %" PRIu64 " raised for %" PRIu64 " accepted events = %.2f%% (rule_version "
           "%s)",
           d_alerts, d_accepted, d_accepted ? 100.0 * (double)d_alerts / (double)d_accepted : 0,
           st1.rule_version);
    if (feed.kind == FEED_ALERT)
        printf("; --alert-rate target %.2f%%", 100.0 * feed.alert_rate);
    printf("\n");
    if (H->paced)
        printf("  paced at %.0f events/s: sends behind schedule p99 %.3f ms, max %.3f ms\n",
               opt.rate, H->lag_p99_ms, H->lag_max_ms);
    if (!opt.endpoint) {
        print_memory(&hub, NULL);
    }

    if (nlm || sr.events) {
        printf("\n  storage baselines on %s (%s), synced commits, the same event bytes (%"
               PRIu64 " events, <= %.0f s each)\n",
               opt.tmpdir, fs_name(opt.tmpdir), nbase, opt.baseline_limit_s);
        printf("  %-44s %10s %10s %10s %12s %9s %9s\n", "", "events/s", "commits/s", "events",
               "hub/baseline", "batch p50", "p99 ms");
        for (int i = 0; i < nlm; i++) {
            char label[96];
            snprintf(label, sizeof label, "LMDB append, commit every %u%s", lm[i].commit_every,
                     lm[i].observed ? " (hub's avg)" : "");
            print_store_row(label, &lm[i], H);
        }
        if (sr.events) {
            char label[96];
            snprintf(label, sizeof label, "csph_store append, commit every %u", sr.commit_every);
            print_store_row(label, &sr, H);
        }
        /* Little's law: with F events in flight and every ack after a synced
         * commit, events/s = F / mean latency, and an event's latency is at
         * least one commit; at best all F share it. */
        uint64_t inflight = (uint64_t)opt.publishers * (uint64_t)opt.window * (uint64_t)opt.batch;
        for (int i = 0; i < nlm; i++)
            if (lm[i].commit_every == inflight && lm[i].commits_per_s > 0)
                printf("  storage ceiling at %" PRIu64 " events in flight (acks after a synced "
                       "commit, all %" PRIu64 " in one commit): %.0f events/s (LMDB alone)\n",
                       inflight, inflight, (double)inflight * lm[i].commits_per_s);
    }
    if (opt.replay && rr.pages)
        printf("\n  replay: %" PRIu64 " events in %" PRIu64 " pages of <= %d, %.2f s: %.0f "
               "events/s, %.1f MiB/s; page p50 %.1f ms, max %.1f ms\n",
               rr.events, rr.pages, REPLAY_PAGE_MAX, rr.elapsed_s, rr.events_per_s, rr.mb_per_s,
               rr.page_p50_ms, rr.page_max_ms);
    if (opt.perf_file)
        printf("\n  perf profile of csphubd: perf report -i %s --no-children\n", opt.perf_file);

    /* One JSON line for scripts. */
    printf("{\"bench\":\"csphub-bench\",\"config\":{\"publishers\":%d,\"window\":%d,\"batch\":%d,"
           "\"events\":%" PRIu64 ",\"seed\":%" PRIu64 ",\"hub_batch_max\":%u,\"endpoint\":\"%s\","
           "\"own_hub\":%s,\"tmpdir_fs\":\"%s\",\"avg_event_bytes\":%.1f},",
           opt.publishers, opt.window, opt.batch, corpus.n, opt.seed, opt.hub_batch_max,
           opt.endpoint ? opt.endpoint : "own", opt.endpoint ? "false" : "true",
           fs_name(opt.tmpdir), avg_ev);
    json_phase(stdout, "hub", H);
    printf(",\"hub_stats\":{\"commits\":%" PRIu64 ",\"accepted\":%" PRIu64
           ",\"events_per_commit\":%.2f,\"requests_per_commit\":%.2f,\"batch_requests_max\":%"
           PRIu64 ",\"busy\":%" PRIu64 ",\"replies_held\":%" PRIu64 ",\"replies_dropped\":%"
           PRIu64 ",\"rss_kb\":%ld,\"rss_anon_kb\":%ld,\"rss_file_kb\":%ld,\"hwm_kb\":%ld}",
           d_commits, d_accepted, ev_per_commit, req_per_commit,
           stat_get(&st1, "batch_requests_max"), stat_get(&st1, "busy"),
           stat_get(&st1, "replies_held"), stat_get(&st1, "replies_dropped"),
           opt.endpoint ? -1L : hub.rss_kb, opt.endpoint ? -1L : hub.anon_kb,
           opt.endpoint ? -1L : hub.file_kb, opt.endpoint ? -1L : hub.hwm_kb);
    printf(",\"rules\":\"%s\",\"alerts_raised\":%" PRIu64 ",\"private_memory_kb\":%ld",
           opt.endpoint ? "?" : hub.rules_none ? "none" : "default", d_alerts,
           opt.endpoint ? -1L : private_kb(&hub));
    printf(",\"cpu_us_per_event\":{\"hub\":%.3f,\"hub_loop\":%.3f,\"client\":%.3f,\"cpus\":%ld}",
           hub_us, loop_us, cli_us, ncpu);
    if (E.requests) {
        printf(",");
        json_phase(stdout, "zmq_echo", &E);
    }
    printf(",\"lmdb\":[");
    for (int i = 0; i < nlm; i++)
        printf("%s{\"commit_every\":%u,\"hub_avg\":%s,\"events_per_s\":%.1f,\"commits_per_s\":"
               "%.1f,\"events\":%" PRIu64 ",\"hub_ratio\":%.4f,\"batch_p50_ms\":%.3f,"
               "\"batch_p99_ms\":%.3f}",
               i ? "," : "", lm[i].commit_every, lm[i].observed ? "true" : "false",
               lm[i].events_per_s, lm[i].commits_per_s, lm[i].events,
               ratio(H->events_per_s, lm[i].events_per_s), lm[i].commit_p50_ms,
               lm[i].commit_p99_ms);
    printf("]");
    if (sr.events)
        printf(",\"store\":{\"commit_every\":%u,\"events_per_s\":%.1f,\"events\":%" PRIu64
               ",\"hub_ratio\":%.4f,\"batch_p50_ms\":%.3f,\"batch_p99_ms\":%.3f}",
               sr.commit_every, sr.events_per_s, sr.events, ratio(H->events_per_s, sr.events_per_s),
               sr.commit_p50_ms, sr.commit_p99_ms);
    if (E.requests)
        printf(",\"ratios\":{\"hub_echo_events_per_s\":%.4f,\"hub_echo_p50\":%.3f,"
               "\"hub_echo_p99\":%.3f,\"hub_echo_p99_9\":%.3f}",
               ratio(H->events_per_s, E.events_per_s), ratio(H->p50_ms, E.p50_ms),
               ratio(H->p99_ms, E.p99_ms), ratio(H->p999_ms, E.p999_ms));
    if (opt.replay && rr.pages)
        printf(",\"replay\":{\"events\":%" PRIu64 ",\"pages\":%" PRIu64 ",\"elapsed_s\":%.3f,"
               "\"events_per_s\":%.1f,\"mib_per_s\":%.2f}",
               rr.events, rr.pages, rr.elapsed_s, rr.events_per_s, rr.mb_per_s);
    printf("}\n");

    zmq_ctx_term(ctx);
    cleanup_all();
    msgpack_sbuffer_destroy(&corpus.buf);
    msgpack_sbuffer_destroy(&reqs.buf);
    free(corpus.off);
    free(corpus.meta);
    free(reqs.off);
    return g.interrupted ? 1 : 0;
}
