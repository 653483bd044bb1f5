#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "timefmt.h"

enum hub_log_level hub_log_min = CSPH_LOG_INFO;

static const char *const level_names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};

int hub_log_level_parse(const char *s)
{
    static const char *const names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0)
            return i;
    return -1;
}

void hub_log_write(enum hub_log_level lvl, const char *module, const char *fmt, ...)
{
    /* Log lines carry wall-clock time even when a test clock drives the hub:
     * they are for the person reading the log, not for the rules. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    char when[40];
    csph_time_format((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, when);
    /* Under systemd (stderr connected to the journal), each line starts
     * with its syslog priority, <3> to <7>, which journald takes off and
     * keeps (sd-daemon(3)): `journalctl -p warning` then finds WARN lines. */
    static int journal = -1;
    static const char *const prio[] = {"<7>", "<6>", "<4>", "<3>"};
    if (journal < 0)
        journal = getenv("JOURNAL_STREAM") != NULL;
    char line[2048];
    int n = snprintf(line, sizeof line, "%s%s %s %s: ",
                     journal ? prio[lvl < CSPH_LOG_OFF ? lvl : CSPH_LOG_ERROR] : "", when,
                     level_names[lvl < CSPH_LOG_OFF ? lvl : CSPH_LOG_ERROR], module);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    /* One fputs per line keeps lines whole when several threads log. */
    size_t len = strlen(line);
    if (len + 1 < sizeof line) {
        line[len] = '\n';
        line[len + 1] = 0;
    }
    fputs(line, stderr);
}
