#include "sessions.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKOFF_MAX 1024
#define BACKOFF_FREE 3          /* failures before any wait */
#define BACKOFF_CAP_MS (15 * 60 * 1000)

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
    struct web_session v[WEB_SESSIONS_MAX];
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

int web_sessions_create(struct web_sessions *s, const char *name, int64_t now_ms,
                        struct web_session *out)
{
    unsigned char id[32], csrf[32];
    randombytes_buf(id, sizeof id);
    randombytes_buf(csrf, sizeof csrf);
    pthread_mutex_lock(&s->mu);
    expire(s, now_ms);
    if (s->n == WEB_SESSIONS_MAX) {
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    struct web_session *ss = &s->v[s->n++];
    sodium_bin2hex(ss->id, sizeof ss->id, id, sizeof id);
    sodium_bin2base64(ss->csrf, sizeof ss->csrf, csrf, sizeof csrf,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(ss->name, sizeof ss->name, "%s", name);
    ss->last_ms = now_ms;
    *out = *ss;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

int web_sessions_use(struct web_sessions *s, const char *id, int64_t now_ms,
                     struct web_session *out)
{
    if (!id || strlen(id) != WEB_SESSION_ID_LEN)
        return 0;
    int found = 0;
    pthread_mutex_lock(&s->mu);
    expire(s, now_ms);
    for (size_t i = 0; i < s->n && !found; i++)
        if (sodium_memcmp(s->v[i].id, id, WEB_SESSION_ID_LEN) == 0) {
            s->v[i].last_ms = now_ms;
            *out = s->v[i];
            found = 1;
        }
    pthread_mutex_unlock(&s->mu);
    return found;
}

void web_sessions_end(struct web_sessions *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++)
        if (strlen(id) == WEB_SESSION_ID_LEN && !memcmp(s->v[i].id, id, WEB_SESSION_ID_LEN)) {
            drop(s, i);
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
