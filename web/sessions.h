/* sessions.h: signed-in sessions and sign-in backoff. A session is a random
 * 256-bit id (the cookie) with the person's name, a CSRF token for every
 * form that changes something, and the time of its last use: idle longer
 * than the timeout, it is gone. Failed sign-ins of one name make the next
 * attempt wait 1, 2, 4 ... s (at most 15 min) after the third.
 *
 * Sessions survive a restart of the console when given a file
 * (web_sessions_open_file): a small store of mode 0600, written whole
 * (temporary file, synced, renamed) when a session starts or ends and when
 * one's last use moved on by a minute or more, so a restart may end an idle
 * session up to a minute early, never late. The file holds a hash of each
 * id (BLAKE2b), never the id itself: a copy of it signs nobody in. A store
 * rather than signed cookies because signing out and disabling an account
 * must end a session at once on the server (a signed cookie stays good
 * until it expires, unless a list of revoked ones is kept: a store again),
 * and the idle timeout needs the last use, which a cookie would have to be
 * re-signed for on every request; there is no key to keep and rotate.
 *
 * Thread-safe (one mutex); every call copies out, nothing is borrowed. */
#ifndef CSPH_WEB_SESSIONS_H
#define CSPH_WEB_SESSIONS_H

#include <stddef.h>
#include <stdint.h>

#define WEB_SESSION_ID_LEN 64 /* hex */
#define WEB_CSRF_LEN 43       /* base64url of 32 bytes */
#define WEB_SESSIONS_MAX 4096

struct web_session {
    char id[WEB_SESSION_ID_LEN + 1];
    char csrf[WEB_CSRF_LEN + 1];
    char name[65];
    int64_t last_ms;
    char role[16]; /* the account's, filled by the console on each request */
};

struct web_sessions;

int web_sessions_new(struct web_sessions **out, int64_t idle_ms);
/* Keep the sessions in path from now on, after reading the ones it holds
 * (those idle past the timeout at now_ms are dropped). A missing file is an
 * empty store. 0, or -1 with why: the file others may read or write, or a
 * line that is not a session ("file:line: ..."). */
int web_sessions_open_file(struct web_sessions *s, const char *path, int64_t now_ms, char *why,
                           size_t n);
void web_sessions_free(struct web_sessions **s);
/* A new session for name: 0 and *out, -1 when the table is full (the
 * oldest idle ones are dropped first). A store that cannot be written is
 * logged (stderr); the session still holds until the console stops. */
int web_sessions_create(struct web_sessions *s, const char *name, int64_t now_ms,
                        struct web_session *out);
/* The session with this id, used now: 1 and *out; 0 when unknown or idle
 * past the timeout (then dropped). */
int web_sessions_use(struct web_sessions *s, const char *id, int64_t now_ms,
                     struct web_session *out);
void web_sessions_end(struct web_sessions *s, const char *id);
/* Whether the CSRF token given matches the session's (constant time). */
int web_csrf_ok(const struct web_session *ss, const char *given);

/* Seconds name must still wait before another sign-in (0: may try). */
int web_backoff_wait_s(struct web_sessions *s, const char *name, int64_t now_ms);
void web_backoff_failed(struct web_sessions *s, const char *name, int64_t now_ms);
void web_backoff_clear(struct web_sessions *s, const char *name);
/* A TOTP code is good once: 1 when step is later than the last step name
 * signed in with (and it is recorded), 0 for a code already used. */
int web_totp_claim(struct web_sessions *s, const char *name, long step);

#endif
