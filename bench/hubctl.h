/* Talking to a hub (the main thread's control requests: ping, stats) and
 * running our own csphubd on a temporary data directory and a free loopback
 * port. Every receive has a deadline: a hub that does not answer ends the
 * run (die). */
#ifndef CSPH_BENCH_HUBCTL_H
#define CSPH_BENCH_HUBCTL_H

#include <msgpack.h>
#include <stdint.h>
#include <sys/types.h>
#include <zmq.h>
#include "publish.h"

/* A DEALER connected to endpoint, with --hwm and no linger; dies on failure.
 * The caller zmq_closes it. */
void *dealer_new(void *ctx, const char *endpoint);

/* Wait for one message on s until deadline_ns. 1 got one, 0 timed out. */
int recv_until(void *s, zmq_msg_t *m, int64_t deadline_ns);

/* Send one request (packed map in sb) and unpack its reply into up. Replies
 * to earlier, abandoned requests (other req) are skipped. The unpacked
 * strings point into *m: the caller closes m once done with up. */
void call(void *s, msgpack_sbuffer *sb, uint64_t reqno, msgpack_unpacked *up,
          zmq_msg_t *m, double timeout_s, const char *what);

/* Start a control request in sb: a map of 2 + extra pairs, op and a new req
 * (in *reqno); the caller packs the extra pairs with pk. */
void pack_op(msgpack_sbuffer *sb, msgpack_packer *pk, const char *op, uint32_t extra,
             uint64_t *reqno);

#define MAX_COUNTERS 64
#define MAX_PANELS 32
/* A hub's stats reply: its counters by name, counters.alerts by panel. */
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

/* Alerts on panel's queue, 0 when not listed. */
uint64_t stat_panel(const struct stats *st, const char *panel);

/* The counter name, 0 when the hub has no such counter. */
uint64_t stat_get(const struct stats *st, const char *name);

/* Where the hub's time went between two stats snapshots: the work inside
 * its write transactions and their commits (rule-state flush + synced LMDB
 * commit), per commit and as a share of the wall time. Hubs older than
 * these counters print nothing. */
void print_hub_time(const char *indent, const struct stats *a, const struct stats *b,
                    double elapsed_s);

/* The hub's stats into st; dies when it refuses or does not answer. */
void get_stats(void *s, struct stats *st, double timeout_s);

/* Ping until the hub answers (it may still be starting). */
void wait_ready(void *s, double timeout_s, char *version, size_t vsz, uint64_t *last_seq);

/* Our own csphubd: its temporary directory, config, log, endpoint, pid, and
 * its memory as read just before it was stopped. */
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

/* A loopback TCP port nobody listens on now. */
int free_port(void);

/* Find csphubd (--hubd, $CSPH_HUBD, next to the bench, this build's), write
 * a config into a new temporary directory and start it on a free port. */
void hub_start(struct hub *h);

/* Start csphubd on h's config and data directory (hub_start wrote them),
 * its output to h->log; extra (NULL-terminated, may be NULL) comes after
 * the --hub-arg arguments. Sets h->pid. */
void hub_spawn(struct hub *h, const char *const *extra);

/* perf record -g of the hub into --perf FILE, until stop_child(&g.perf_pid). */
void perf_start(pid_t hub_pid);

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

/* VmRSS - RssFile: the memory the hub holds itself; -1 unknown. */
long private_kb(const struct hub *h);

/* hub_start, wait until it answers ping, take the first stats. */
void hubrun_start(struct hubrun *hr, void *ctx, int rules_none);

/* ph may carry extras (seq arrays); the rest is filled in here. */
void hubrun_publish(struct hubrun *hr, void *ctx, const struct corpus *c,
                    const struct requests *q, struct phase *ph);

/* Read its memory, stop it (SIGTERM), warn on a non-zero exit status;
 * remove its directory unless keep_dir. */
void hubrun_stop(struct hubrun *hr, int keep_dir);

/* The memory line every mode prints, and its JSON object. */
void print_memory(const struct hub *h, const char *label);

void json_memory(const struct hub *h);

/* Alerts raised per accepted event over the run, by panel. */
void print_alert_rate(const struct hubrun *hr, const struct corpus *c);

#endif
