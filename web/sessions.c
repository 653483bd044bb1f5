#include "sessions.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BACKOFF_MAX 1024
#define BACKOFF_FREE 3          /* failures before any wait */
#define BACKOFF_CAP_MS (15 * 60 * 1000)
#define SAVE_EVERY_MS 60000 /* a last use this much newer than the file's is written */
#define IDH_LEN 64          /* hex of a 32-byte BLAKE2b of the id */

/* A session as kept: the hash of its id, never the id. */
struct entry {
    char idh[IDH_LEN + 1];
    char csrf[WEB_CSRF_LEN + 1];
    char name[65];
    int64_t last_ms;
    int64_t saved_ms; /* the last use the file holds */
};

struct backoff {
    char name[65];
    int failures;
    int64_t until_ms;
};

struct totp_used {
    char name[65];
    long step;
};

struct web_sessions {
    pthread_mutex_t mu;
    int64_t idle_ms;
    char *path; /* the store, or NULL: in memory only */
    struct entry v[WEB_SESSIONS_MAX];
    size_t n;
    struct backoff b[BACKOFF_MAX];
    size_t nb;
    struct totp_used t[BACKOFF_MAX];
    size_t nt;
};

int web_sessions_new(struct web_sessions **out, int64_t idle_ms)
{
    struct web_sessions *s = calloc(1, sizeof *s);
    if (!s || sodium_init() < 0) {
        free(s);
        return -1;
    }
    pthread_mutex_init(&s->mu, NULL);
    s->idle_ms = idle_ms;
    *out = s;
    return 0;
}

void web_sessions_free(struct web_sessions **sp)
{
    if (!*sp)
        return;
    sodium_memzero((*sp)->v, sizeof (*sp)->v);
    free((*sp)->path);
    pthread_mutex_destroy(&(*sp)->mu);
    free(*sp);
    *sp = NULL;
}

static void drop(struct web_sessions *s, size_t i)
{
    s->v[i] = s->v[--s->n];
    memset(&s->v[s->n], 0, sizeof s->v[s->n]);
}

static void expire(struct web_sessions *s, int64_t now_ms)
{
    for (size_t i = 0; i < s->n;)
        if (now_ms - s->v[i].last_ms > s->idle_ms)
            drop(s, i);
        else
            i++;
}

static void id_hash(const char *id, char out[IDH_LEN + 1])
{
    unsigned char h[32];
    crypto_generichash(h, sizeof h, (const unsigned char *)id, strlen(id), NULL, 0);
    sodium_bin2hex(out, IDH_LEN + 1, h, sizeof h);
}

static void say(const char *fmt, const char *path, const char *what)
{
    char when[32];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(stderr, "%s csphub-web: ", when);
    fprintf(stderr, fmt, path, what);
    fputc('\n', stderr);
}

/* Write the store whole: a temporary file (0600), synced, renamed over.
 * With the mutex held. A failure is logged; the sessions hold in memory. */
static void save(struct web_sessions *s)
{
    if (!s->path)
        return;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", s->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        say("cannot write the sessions file %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    fprintf(f, "# csphub-web sessions: blake2b(id):csrf:name:last use (ms). Delete the file "
               "(console stopped) to sign everyone out.\n");
    for (size_t i = 0; i < s->n; i++)
        fprintf(f, "%s:%s:%s:%lld\n", s->v[i].idh, s->v[i].csrf, s->v[i].name,
                (long long)s->v[i].last_ms);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, s->path) != 0) {
        say("cannot write the sessions file %s: %s", s->path, strerror(errno));
        unlink(tmp);
        return;
    }
    for (size_t i = 0; i < s->n; i++)
        s->v[i].saved_ms = s->v[i].last_ms;
}

static int name_ok(const char *p)
{
    size_t len = strlen(p);
    if (!len || len > 64)
        return 0;
    for (; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
              (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' || *p == '@' || *p == '-'))
            return 0;
    return 1;
}

/* One line "idh:csrf:name:last_ms" into e; 0, or -1 with what is wrong. */
static int parse_line(char *line, struct entry *e, const char **what)
{
    char *f[4], *save_p = NULL;
    int k = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *p = strtok_r(line, ":", &save_p); p && k < 5; p = strtok_r(NULL, ":", &save_p))
        if (k < 4)
            f[k++] = p;
        else
            k++;
    *what = "expected blake2b(id):csrf:name:last_ms";
    if (k != 4)
        return -1;
    if (strlen(f[0]) != IDH_LEN || strspn(f[0], "0123456789abcdef") != IDH_LEN) {
        *what = "the id hash is not 64 hex digits";
        return -1;
    }
    if (strlen(f[1]) != WEB_CSRF_LEN ||
        strspn(f[1], "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
            WEB_CSRF_LEN) {
        *what = "the CSRF token is not 43 base64url characters";
        return -1;
    }
    if (!name_ok(f[2])) {
        *what = "the name is not an account name (1-64 of letters, digits, . _ @ -)";
        return -1;
    }
    char *end;
    long long ms = strtoll(f[3], &end, 10);
    if (*end || end == f[3] || ms < 0) {
        *what = "the last use is not a time in milliseconds";
        return -1;
    }
    memcpy(e->idh, f[0], IDH_LEN + 1);
    memcpy(e->csrf, f[1], WEB_CSRF_LEN + 1);
    snprintf(e->name, sizeof e->name, "%s", f[2]);
    e->last_ms = e->saved_ms = ms;
    return 0;
}

int web_sessions_open_file(struct web_sessions *s, const char *path, int64_t now_ms, char *why,
                           size_t n)
{
    FILE *f = fopen(path, "r");
    struct stat st;
    if (!f && errno != ENOENT) {
        snprintf(why, n, "cannot read the sessions file %s: %s", path, strerror(errno));
        return -1;
    }
    if (f && (fstat(fileno(f), &st) != 0 || (st.st_mode & 077))) {
        snprintf(why, n, "the sessions file %s may be read or written by others (mode %03o): "
                 "run chmod 600 %s", path, (unsigned)(st.st_mode & 0777), path);
        fclose(f);
        return -1;
    }
    pthread_mutex_lock(&s->mu);
    char line[512];
    int lineno = 0, rc = 0;
    while (f && fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        struct entry e = {0};
        const char *what;
        if (parse_line(line, &e, &what)) {
            snprintf(why, n, "%s:%d: %s (delete the file, with the console stopped, to sign "
                     "everyone out)", path, lineno, what);
            rc = -1;
            break;
        }
        if (now_ms - e.last_ms <= s->idle_ms && s->n < WEB_SESSIONS_MAX)
            s->v[s->n++] = e;
        sodium_memzero(&e, sizeof e);
    }
    sodium_memzero(line, sizeof line);
    if (!rc) {
        free(s->path);
        if (!(s->path = strdup(path))) {
            snprintf(why, n, "out of memory");
            rc = -1;
        }
    }
    if (rc)
        s->n = 0;
    pthread_mutex_unlock(&s->mu);
    if (f)
        fclose(f);
    return rc;
}

int web_sessions_create(struct web_sessions *s, const char *name, int64_t now_ms,
                        struct web_session *out)
{
    unsigned char id[32], csrf[32];
    randombytes_buf(id, sizeof id);
    randombytes_buf(csrf, sizeof csrf);
    memset(out, 0, sizeof *out);
    sodium_bin2hex(out->id, sizeof out->id, id, sizeof id);
    sodium_memzero(id, sizeof id);
    pthread_mutex_lock(&s->mu);
    expire(s, now_ms);
    if (s->n == WEB_SESSIONS_MAX) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    struct entry *e = &s->v[s->n++];
    id_hash(out->id, e->idh);
    sodium_bin2base64(e->csrf, sizeof e->csrf, csrf, sizeof csrf,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(e->name, sizeof e->name, "%s", name);
    e->last_ms = now_ms;
    memcpy(out->csrf, e->csrf, sizeof out->csrf);
    snprintf(out->name, sizeof out->name, "%s", e->name);
    out->last_ms = now_ms;
    save(s);
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int web_sessions_use(struct web_sessions *s, const char *id, int64_t now_ms,
                     struct web_session *out)
{
    if (!id || strlen(id) != WEB_SESSION_ID_LEN)
        return 0;
    char idh[IDH_LEN + 1];
    id_hash(id, idh);
    int found = 0;
    pthread_mutex_lock(&s->mu);
    expire(s, now_ms);
    for (size_t i = 0; i < s->n && !found; i++)
        if (sodium_memcmp(s->v[i].idh, idh, IDH_LEN) == 0) {
            struct entry *e = &s->v[i];
            e->last_ms = now_ms;
            memset(out, 0, sizeof *out);
            memcpy(out->id, id, WEB_SESSION_ID_LEN + 1);
            memcpy(out->csrf, e->csrf, sizeof out->csrf);
            snprintf(out->name, sizeof out->name, "%s", e->name);
            out->last_ms = now_ms;
            found = 1;
            if (now_ms - e->saved_ms >= SAVE_EVERY_MS)
                save(s);
        }
    pthread_mutex_unlock(&s->mu);
    return found;
}

void web_sessions_end(struct web_sessions *s, const char *id)
{
    if (!id || strlen(id) != WEB_SESSION_ID_LEN)
        return;
    char idh[IDH_LEN + 1];
    id_hash(id, idh);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        if (!memcmp(s->v[i].idh, idh, IDH_LEN)) {
            drop(s, i);
            save(s);
            break;
        }
    pthread_mutex_unlock(&s->mu);
}

int web_csrf_ok(const struct web_session *ss, const char *given)
{
    return given && strlen(given) == WEB_CSRF_LEN &&
           sodium_memcmp(ss->csrf, given, WEB_CSRF_LEN) == 0;
}

static struct backoff *backoff_of(struct web_sessions *s, const char *name, int create)
{
    for (size_t i = 0; i < s->nb; i++)
        if (!strcmp(s->b[i].name, name))
            return &s->b[i];
    if (!create)
        return NULL;
    size_t i = s->nb < BACKOFF_MAX ? s->nb++ : (size_t)randombytes_uniform(BACKOFF_MAX);
    memset(&s->b[i], 0, sizeof s->b[i]);
    snprintf(s->b[i].name, sizeof s->b[i].name, "%s", name);
    return &s->b[i];
}

int web_backoff_wait_s(struct web_sessions *s, const char *name, int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    struct backoff *b = backoff_of(s, name, 0);
    int wait = b && b->until_ms > now_ms ? (int)((b->until_ms - now_ms + 999) / 1000) : 0;
    pthread_mutex_unlock(&s->mu);
    return wait;
}

void web_backoff_failed(struct web_sessions *s, const char *name, int64_t now_ms)
{
    pthread_mutex_lock(&s->mu);
    struct backoff *b = backoff_of(s, name, 1);
    b->failures++;
    if (b->failures >= BACKOFF_FREE) {
        int shift = b->failures - BACKOFF_FREE;
        int64_t wait = shift > 20 ? BACKOFF_CAP_MS : (int64_t)1000 << shift;
        b->until_ms = now_ms + (wait > BACKOFF_CAP_MS ? BACKOFF_CAP_MS : wait);
    }
    pthread_mutex_unlock(&s->mu);
}

void web_backoff_clear(struct web_sessions *s, const char *name)
{
    pthread_mutex_lock(&s->mu);
    struct backoff *b = backoff_of(s, name, 0);
    if (b)
        *b = s->b[--s->nb];
    pthread_mutex_unlock(&s->mu);
}

int web_totp_claim(struct web_sessions *s, const char *name, long step)
{
    pthread_mutex_lock(&s->mu);
    struct totp_used *u = NULL;
    for (size_t i = 0; i < s->nt && !u; i++)
        if (!strcmp(s->t[i].name, name))
            u = &s->t[i];
    if (!u) {
        /* Full: an old entry goes; its code has long expired anyway. */
        size_t i = s->nt < BACKOFF_MAX ? s->nt++ : (size_t)randombytes_uniform(BACKOFF_MAX);
        u = &s->t[i];
        snprintf(u->name, sizeof u->name, "%s", name);
        u->step = 0;
    }
    int fresh = step > u->step;
    if (fresh)
        u->step = step;
    pthread_mutex_unlock(&s->mu);
    return fresh;
}
