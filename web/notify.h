/* notify.h: email notice of new and overdue alerts (issue 15, point 6).
 *
 * A panel may be set to notify addresses. For each such panel a thread
 * holds a fetch as the console's gateway under its own durable consumer
 * (csphub-web-notify), and at most once per interval sends one message
 * summing up what arrived since the last: the panel, how many new alerts
 * by priority, how many of them are overdue escalations, the earliest due
 * date and a link to the console. Never a person reference, a reason or an
 * event detail: MARAC information must not travel by ordinary email. The
 * cursor is acknowledged only after the server accepted the message, so a
 * restart neither resends nor misses.
 *
 * SMTP through libcurl: STARTTLS with certificate verification is required
 * unless the server is on loopback; credentials come from a file of mode
 * 0600 ("user:password", one line).
 *
 * The settings are a JSON file (--notify FILE):
 *   {"smtp": "smtp://mail.council.example:587", "from": "csphub@council.example",
 *    "credentials": "smtp.credentials", "console_url": "https://csphub.council.example/",
 *    "interval_s": 900, "panels": {"marac": ["marac-team@council.example"]}} */
#ifndef CSPH_WEB_NOTIFY_H
#define CSPH_WEB_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "console.h"

struct web_notify;

/* Read path and start one thread per panel. 0, or -1 with why naming the
 * field. cfg (the hub and the gateway key) is copied. */
int web_notify_start(struct web_notify **out, const char *path, const struct web_config *cfg,
                     char *why, size_t n);
/* Stop the threads (each within its held fetch's wait) and free. NULL ok. */
void web_notify_stop(struct web_notify **nt);

/* The message for a panel's new alerts (pure: tests and the threads).
 * counts[0..2]: standard, medium, high; overdue: escalations among them;
 * earliest_due: RFC 3339 or "" when none. Returns malloc'd text (headers
 * and body, CRLF) or NULL. */
char *web_notify_message(const char *from, const char *const *to, size_t nto, const char *panel,
                         const unsigned counts[3], unsigned overdue, const char *earliest_due,
                         const char *console_url, const char *date);

#endif
