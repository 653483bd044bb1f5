/* The bench's modes, one file each: main.c runs one and returns its exit
 * status (0 done, 1 a run failed, was interrupted or missed a required
 * result). nonce goes into every event id, so reruns against one hub are not
 * duplicates. */
#ifndef CSPH_BENCH_MODES_H
#define CSPH_BENCH_MODES_H

/* mode_publish.c: the default run, the hub and its baselines. */
int run_publish(const char *nonce);
/* mode_rules.c: --compare-rules (--rules both) and --alert-latency. */
int run_compare(const char *nonce);
int run_latency(const char *nonce);
/* mode_state.c: --state-size. */
int run_state(const char *nonce);
/* mode_backfill.c: --backfill. */
int run_backfill(const char *nonce);
/* mode_scale.c: --scale. */
int run_scale(const char *nonce);
/* mode_peers.c: --peers, the hub against Redis and NATS at the same
 * concurrency. */
int run_peers(const char *nonce);

#endif
