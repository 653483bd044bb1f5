/* A publish phase: N publisher threads, each with its own DEALER and a
 * window of W requests in flight, timing every request from send to reply;
 * and the ZeroMQ ROUTER echo (no hub logic) they can be pointed at instead. */
#ifndef CSPH_BENCH_PUBLISH_H
#define CSPH_BENCH_PUBLISH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include "corpus.h"

/* The transport baseline: a ROUTER thread answering each publish at once
 * with a reply of the hub's shape. */
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

/* Bind the echo on the transport of like_endpoint (ipc:// or loopback TCP)
 * and start its thread; echo_stop joins it and closes its sockets. */
void echo_start(struct echo *e, const char *like_endpoint, uint64_t nevents);

void echo_stop(struct echo *e);

/* What a publish phase measured. */
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

/* A publish phase: what to send where, and (optional) arrays to note seqs in. */
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
    int publishers, window; /* 0: --publishers and --window */
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

/* Publish every request of ph->reqs to ph->endpoint from ph->publishers
 * threads (each its share, in order, window ph->window) and fill ph->res.
 * Dies on a rejection other than busy/internal, or a reply that is late by
 * --reply-timeout. */
void run_phase(struct phase *ph);

#endif
