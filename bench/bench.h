/* csphub-bench: what every part of the bench shares. The options (parsed
 * once in main.c, never changed after), the process state that must be undone
 * however the process exits, the clock, child processes and /proc.
 *
 * The bench's files: main.c (options, usage, the mode chosen), one
 * mode_*.c a mode (modes.h), and the parts they share: corpus.c (the events,
 * in csphub-gen's vocabulary, vocab.c), publish.c (publishers and the echo
 * baseline), hubctl.c (talking to a hub and running our own), figures.c
 * (percentiles and output), dbsize.c (LMDB sizes), msg.c (MessagePack),
 * common.c (this header), and the peers of --peers (peer.h: peer_redis.c,
 * peer_nats.c). */
#ifndef CSPH_BENCH_BENCH_H
#define CSPH_BENCH_BENCH_H

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifndef CSPH_SOURCE_DIR
#define CSPH_SOURCE_DIR "."
#endif
#ifndef CSPH_BENCH_HUBD
#define CSPH_BENCH_HUBD "csphubd"
#endif

#define MAX_HUB_ARGS 32
#define MAX_COMMIT_EVERY 16
#define MAX_CONCURRENCY 8

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
    int perf_dwarf; /* --perf-dwarf: DWARF call graphs */
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
    int peers;           /* --peers */
    int nconc;           /* --concurrency: connections x requests in flight, each */
    int conc_publishers[MAX_CONCURRENCY], conc_window[MAX_CONCURRENCY];
    int set_batch, set_window, set_events, set_duration, set_publishers; /* given */
};

enum { RULES_DEFAULT, RULES_NONE, RULES_BOTH };

/* The options, from main.c's parse_options. */
extern struct options opt;

/* Everything the process must undo before it exits, however it exits. */
struct bench_process {
    pthread_mutex_t dying; /* held by the one thread that cleans up and exits */
    pid_t hub_pid;
    pid_t peer_pid; /* --peers: the redis-server or nats-server running */
    pid_t perf_pid;
    char dirs[8][PATH_MAX];
    int ndirs;
    char hub_log[PATH_MAX + 32]; /* our hub's stderr, shown when the run fails */
    volatile sig_atomic_t interrupted;
};
extern struct bench_process g;

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t now_ns(void);

static inline double secs(int64_t ns) { return (double)ns / 1e9; }

/* Stop perf and our hub, remove the temporary directories (unless --keep). */
void cleanup_all(void);

/* Print to stderr (with the tail of our hub's log), stop the hub and perf,
 * remove the temporary directories, exit 1. Safe from any thread: a second
 * caller blocks until the first has exited the process. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* SIGINT/SIGTERM: the first stops sending (publishers drain, then normal
 * cleanup), the second stops everything at once. */
void on_signal(int sig);

/* A new directory csphub-bench-WHAT-XXXXXX under --tmpdir, in out; removed
 * by cleanup_all or forget_tmpdir. Dies when it cannot be made. */
const char *make_tmpdir(const char *what, char *out, size_t outsz);

/* Remove dir now (unless --keep) and forget it. */
void forget_tmpdir(const char *dir);

/* Wait up to wait_s for pid after sending sig, then SIGKILL. */
void stop_child(pid_t *pid, int sig, double wait_s, int *status);

/* "ext4", "tmpfs", ...: the file system dir is on (a sync on tmpfs costs
 * nothing). */
const char *fs_name(const char *dir);

/* The last max bytes of path, to stderr between two rules. */
void print_file_tail(const char *path, size_t max);

/* VmRSS counts the LMDB map's file pages the hub touched (RssFile) as well
 * as its heap (RssAnon): both are shown. */
void read_rss(pid_t pid, long *rss_kb, long *hwm_kb, long *anon_kb, long *file_kb,
              long *shmem_kb);

/* CPU seconds (user + system) of process pid, all its threads, or with
 * main_thread only the thread that runs its main() (the hub's loop), from
 * /proc; -1 when it cannot be read. */
double proc_cpu_s(pid_t pid, int main_thread);

/* Page faults (minor + major) of process pid so far, from /proc; -1 when
 * it cannot be read. */
double proc_faults(pid_t pid);

/* CPU seconds of this process (the publishers, their ZeroMQ threads). */
double self_cpu_s(void);

/* The next value of the splitmix64 sequence at *x (advanced). */
uint64_t splitmix64(uint64_t *x);

#endif
