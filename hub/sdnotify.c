/* sdnotify.c: systemd notifications through libsystemd (sdnotify.h). */
#include "sdnotify.h"

#include <stdarg.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

#include "log.h"

void hub_sd_notify(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int rc = sd_notify(0, msg);
    if (rc < 0)
        LOG_DEBUG("hub", "sd_notify: %d", rc);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hub_sd_progress(const char *what, uint64_t done, uint64_t total)
{
    static int64_t last_ms = -1;
    int64_t now = mono_ms();
    if (last_ms >= 0 && now - last_ms < 500 && done < total)
        return;
    last_ms = now;
    hub_sd_notify("STATUS=%s: %llu of %llu events\nEXTEND_TIMEOUT_USEC=%llu", what,
                  (unsigned long long)done, (unsigned long long)total,
                  (unsigned long long)CSPH_SD_EXTEND_S * 1000000ull);
}

uint64_t hub_sd_watchdog_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec / 2000 ? usec / 2000 : 1;
}
