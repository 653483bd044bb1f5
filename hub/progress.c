/* progress.c: progress of long start-up work in the log (progress.h). */
#include "progress.h"

#include <stdio.h>
#include <time.h>

#include "log.h"
#include "sdnotify.h"

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hub_progress_start(struct hub_progress *p, const char *module, const char *what,
                        uint64_t first, uint64_t total, int quiet)
{
    p->what = what;
    p->module = module;
    p->first = first;
    p->total = total;
    p->t0_ms = p->last_log_ms = mono_ms();
    p->quiet = quiet;
}

void hub_progress_format(char *out, size_t cap, const char *what, uint64_t done_events,
                         uint64_t all_events, double elapsed_s)
{
    double rate = elapsed_s > 0 ? (double)done_events / elapsed_s : 0;
    double pct = all_events ? 100.0 * (double)done_events / (double)all_events : 100.0;
    if (rate > 0 && done_events < all_events)
        snprintf(out, cap, "%s: %llu of %llu events (%.0f%%), %.0f events/s, about %.0f s left",
                 what, (unsigned long long)done_events, (unsigned long long)all_events, pct,
                 rate, (double)(all_events - done_events) / rate);
    else
        snprintf(out, cap, "%s: %llu of %llu events (%.0f%%)", what,
                 (unsigned long long)done_events, (unsigned long long)all_events, pct);
}

void hub_progress_step(struct hub_progress *p, uint64_t done)
{
    hub_sd_progress(p->what, done, p->total); /* service hook: STATUS, start timeout */
    int64_t now = mono_ms();
    if (p->quiet || now - p->last_log_ms < CSPH_PROGRESS_LOG_S * 1000 || done >= p->total)
        return; /* the end has its own line, with the total time */
    p->last_log_ms = now;
    char line[300];
    hub_progress_format(line, sizeof line, p->what, done - p->first, p->total - p->first,
                        (double)(now - p->t0_ms) / 1000.0);
    LOG_INFO(p->module, "%s", line);
}
