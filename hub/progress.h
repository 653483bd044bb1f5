/* progress.h: progress of a long piece of start-up work (the index rebuilt
 * or brought level from the log, new rules' windows filled) where an IT
 * officer watching the log, or systemd, can see it: a log line every
 * CSPH_PROGRESS_LOG_S seconds with the events done, the rate and the time
 * left at that rate, and systemd's STATUS on every step (sdnotify.h). */
#ifndef CSPH_PROGRESS_H
#define CSPH_PROGRESS_H

#include <stddef.h>
#include <stdint.h>

#define CSPH_PROGRESS_LOG_S 10

struct hub_progress {
    const char *what;  /* "bringing the index level with the log" */
    const char *module; /* the log line's module */
    uint64_t first, total; /* the work: events first+1 .. total */
    int64_t t0_ms, last_log_ms;
    int quiet;          /* no log lines (systemd's STATUS still) */
};

void hub_progress_start(struct hub_progress *p, const char *module, const char *what,
                        uint64_t first, uint64_t total, int quiet);
/* done: the last event done (between first and total). */
void hub_progress_step(struct hub_progress *p, uint64_t done);
/* Formats the line a step logs, for the unit test: "WHAT: D of N events
 * (P%), R events/s, about S s left". */
void hub_progress_format(char *out, size_t cap, const char *what, uint64_t done_events,
                         uint64_t all_events, double elapsed_s);

#endif
