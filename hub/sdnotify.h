/* sdnotify.h: telling systemd how the hub is doing (sd_notify(3)), for a
 * unit of Type=notify: READY=1 once the hub listens, a STATUS= line and
 * EXTEND_TIMEOUT_USEC= while a long piece of start-up work (the index
 * rebuilt or brought level from the log) goes on, WATCHDOG=1 from the loop.
 *
 * Every call is a no-op when the hub was not started by systemd
 * (NOTIFY_SOCKET unset), so modules may call them unconditionally. The
 * state here is process-wide by nature: the socket is the process's. */
#ifndef CSPH_SDNOTIFY_H
#define CSPH_SDNOTIFY_H

#include <stdint.h>

/* Send one notification (sd_notify's "KEY=VALUE\n..." text). */
void hub_sd_notify(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Progress of a long step: STATUS="what: done of total events" and, so
 * that a start that is working is not killed by TimeoutStartSec, an
 * extension of CSPH_SD_EXTEND_S seconds. At most one message every 500 ms
 * (the first always goes). */
#define CSPH_SD_EXTEND_S 90
void hub_sd_progress(const char *what, uint64_t done, uint64_t total);
/* The watchdog interval systemd asked for, in ms (0: none): half of
 * WatchdogSec, as sd_watchdog_enabled(3) advises. */
uint64_t hub_sd_watchdog_ms(void);

#endif
