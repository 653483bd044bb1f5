#define _GNU_SOURCE
#include "accounts.h"

#include <errno.h>
#include <fcntl.h>
#include <liboath/oath.h>
#include <pthread.h>
#include <semaphore.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct web_accounts {
    char path[1024];
    struct timespec mtime; /* of the file as last read: a change is read again */
    pthread_mutex_t mu;
    sem_t hashes; /* bounds the Argon2id runs at once */
    struct web_account *v;
    size_t n;
    char dummy_hash[crypto_pwhash_STRBYTES]; /* verified against for an unknown name */
};

int web_account_name_valid(const char *name, char *why, size_t n)
{
    size_t len = strlen(name);
    if (len < 1 || len > CSPH_WEB_NAME_MAX) {
        snprintf(why, n, "a name is 1-64 characters");
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-')) {
            snprintf(why, n, "name '%s': only letters, digits, '.', '_' and '-'", name);
            return -1;
        }
    }
    return 0;
}

static int panels_valid(const char *p)
{
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
              *p == ','))
            return 0;
    return 1;
}

static int base32_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 16 || n > 63)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= '2' && *s <= '7')))
            return 0;
    return 1;
}

static int parse_line(char *line, struct web_account *a)
{
    char *f[6];
    int k = 0;
    f[k++] = line;
    for (char *p = line; *p && k < 6; p++)
        if (*p == ':') {
            *p = 0;
            f[k++] = p + 1;
        }
    if (k != 5 && k != 6)
        return -1;
    if (k == 6 && !base32_valid(f[5]))
        return -1;
    char why[128];
    if (web_account_name_valid(f[0], why, sizeof why) || strlen(f[1]) >= sizeof a->role ||
        strlen(f[2]) >= sizeof a->panels || !panels_valid(f[2]) ||
        (strcmp(f[3], "0") && strcmp(f[3], "1")) || strlen(f[4]) >= sizeof a->hash ||
        strncmp(f[4], "$argon2id$", 10) != 0)
        return -1;
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%.64s", f[0]);
    snprintf(a->role, sizeof a->role, "%.15s", f[1]);
    snprintf(a->panels, sizeof a->panels, "%.511s", f[2]);
    a->disabled = f[3][0] == '1';
    snprintf(a->hash, sizeof a->hash, "%.127s", f[4]);
    if (k == 6)
        snprintf(a->totp, sizeof a->totp, "%.63s", f[5]);
    return 0;
}

int web_accounts_open(struct web_accounts **out, const char *path, char *why, size_t n)
{
    if (sodium_init() < 0) {
        snprintf(why, n, "libsodium did not start");
        return -1;
    }
    struct web_accounts *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(why, n, "out of memory");
        return -1;
    }
    snprintf(a->path, sizeof a->path, "%s", path);
    pthread_mutex_init(&a->mu, NULL);
    sem_init(&a->hashes, 0, CSPH_WEB_HASHES_MAX);
    /* A hash of a random password: an unknown name costs as much as a
     * known one. */
    unsigned char rnd[16];
    randombytes_buf(rnd, sizeof rnd);
    if (crypto_pwhash_str(a->dummy_hash, (const char *)rnd, sizeof rnd,
                          crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        snprintf(why, n, "out of memory hashing");
        web_accounts_close(&a);
        return -1;
    }
    FILE *f = fopen(path, "r");
    if (!f) {
        if (errno == ENOENT) {
            *out = a;
            return 0;
        }
        snprintf(why, n, "cannot read %s: %s", path, strerror(errno));
        web_accounts_close(&a);
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0)
        a->mtime = st.st_mtim;
    if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077)) {
        snprintf(why, n, "%s holds password hashes and others may read it (mode %03o): run "
                 "chmod 600 %s", path, (unsigned)(st.st_mode & 0777), path);
        fclose(f);
        web_accounts_close(&a);
        return -1;
    }
    char line[1024];
    int lineno = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        line[strcspn(line, "\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        struct web_account acc;
        struct web_account *v = realloc(a->v, (a->n + 1) * sizeof *v);
        if (!v || parse_line(line, &acc) != 0) {
            snprintf(why, n, "%s:%d: expected name:role:panels:0|1:$argon2id$... (written by "
                     "csphub-web user add)", path, lineno);
            if (v)
                a->v = v;
            fclose(f);
            web_accounts_close(&a);
            return -1;
        }
        a->v = v;
        a->v[a->n++] = acc;
    }
    fclose(f);
    *out = a;
    return 0;
}

void web_accounts_close(struct web_accounts **ap)
{
    struct web_accounts *a = *ap;
    if (!a)
        return;
    if (a->v)
        sodium_memzero(a->v, a->n * sizeof *a->v);
    free(a->v);
    pthread_mutex_destroy(&a->mu);
    sem_destroy(&a->hashes);
    free(a);
    *ap = NULL;
}

/* Write the table: a temporary file (0600), synced, renamed over. */
static int save(struct web_accounts *a, char *why, size_t n)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", a->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        snprintf(why, n, "cannot write %s: %s", tmp, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fprintf(f, "# csphub-web accounts: name:role:panels:disabled:argon2id hash[:totp secret].\n"
               "# Written by\n"
               "# csphub-web user add|disable|reset; keep it mode 0600.\n");
    for (size_t i = 0; i < a->n; i++)
        fprintf(f, "%s:%s:%s:%d:%s%s%s\n", a->v[i].name, a->v[i].role, a->v[i].panels,
                a->v[i].disabled, a->v[i].hash, a->v[i].totp[0] ? ":" : "", a->v[i].totp);
    int bad = fflush(f) != 0 || fsync(fileno(f)) != 0;
    bad |= fclose(f) != 0;
    if (bad || rename(tmp, a->path) != 0) {
        snprintf(why, n, "cannot write %s: %s", a->path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    struct stat st;
    if (stat(a->path, &st) == 0)
        a->mtime = st.st_mtim;
    return 0;
}

/* `csphub-web user ...` run beside a serving console writes the file: read
 * it again when it changed, so a disabled account is refused at its next
 * request. Called with the mutex held. A file that no longer reads keeps
 * the table as it was (the error is the command's to report). */
static void reload_if_changed(struct web_accounts *a)
{
    struct stat st;
    if (stat(a->path, &st) != 0 || (st.st_mtim.tv_sec == a->mtime.tv_sec &&
                                    st.st_mtim.tv_nsec == a->mtime.tv_nsec))
        return;
    struct web_accounts *fresh = NULL;
    char why[256];
    if (web_accounts_open(&fresh, a->path, why, sizeof why) != 0)
        return;
    struct web_account *v = a->v;
    size_t n = a->n;
    a->v = fresh->v;
    a->n = fresh->n;
    a->mtime = fresh->mtime;
    fresh->v = v;
    fresh->n = n;
    web_accounts_close(&fresh);
}

static struct web_account *find(struct web_accounts *a, const char *name)
{
    reload_if_changed(a);
    for (size_t i = 0; i < a->n; i++)
        if (!strcmp(a->v[i].name, name))
            return &a->v[i];
    return NULL;
}

static int hash_password(const char *password, char *out, char *why, size_t n)
{
    size_t len = strlen(password);
    if (len < 10 || len > 1024) {
        snprintf(why, n, "a password is 10 to 1024 characters");
        return -1;
    }
    if (crypto_pwhash_str(out, password, len, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        snprintf(why, n, "out of memory hashing the password");
        return -1;
    }
    return 0;
}

int web_accounts_add(struct web_accounts *a, const char *name, const char *role,
                     const char *panels, const char *password, char *why, size_t n)
{
    if (web_account_name_valid(name, why, n))
        return -1;
    /* Any role the hub knows, including roles added to it later: the
     * console shows pages by role (panel, auditor, strategic have their
     * own), and the hub decides what each person may do when the console
     * asks on their behalf (PROTOCOL.md 8.1), so a role name only has to
     * be well formed here. */
    size_t rl = strlen(role);
    int ok = rl > 0 && rl < sizeof a->v[0].role && role[0] >= 'a' && role[0] <= 'z';
    for (size_t i = 0; ok && i < rl; i++)
        ok = (role[i] >= 'a' && role[i] <= 'z') || (role[i] >= '0' && role[i] <= '9') ||
             role[i] == '-' || role[i] == '_';
    if (!ok) {
        snprintf(why, n, "--role '%s': a role the hub knows (panel, auditor, strategic, dpo, "
                 "...): 1-15 of a-z 0-9 - _, starting with a letter", role);
        return -1;
    }
    if (!strcmp(role, "panel") && !*panels) {
        snprintf(why, n, "a panel member needs --panels (e.g. --panels marac)");
        return -1;
    }
    if (strlen(panels) >= sizeof a->v[0].panels || !panels_valid(panels)) {
        snprintf(why, n, "--panels '%s': panel names separated by commas", panels);
        return -1;
    }
    char hash[crypto_pwhash_STRBYTES];
    if (hash_password(password, hash, why, n))
        return -1;
    pthread_mutex_lock(&a->mu);
    int rc = -1;
    struct web_account *v;
    if (find(a, name)) {
        snprintf(why, n, "an account named '%s' exists: csphub-web user reset %s", name, name);
    } else if ((v = realloc(a->v, (a->n + 1) * sizeof *v))) {
        a->v = v;
        struct web_account *acc = &a->v[a->n];
        memset(acc, 0, sizeof *acc);
        snprintf(acc->name, sizeof acc->name, "%.64s", name);
        snprintf(acc->role, sizeof acc->role, "%.15s", role);
        snprintf(acc->panels, sizeof acc->panels, "%.511s", panels);
        snprintf(acc->hash, sizeof acc->hash, "%.127s", hash);
        a->n++;
        if ((rc = save(a, why, n)))
            a->n--;
    } else {
        snprintf(why, n, "out of memory");
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int web_accounts_reset(struct web_accounts *a, const char *name, const char *password, char *why,
                       size_t n)
{
    char hash[crypto_pwhash_STRBYTES];
    if (hash_password(password, hash, why, n))
        return -1;
    pthread_mutex_lock(&a->mu);
    struct web_account *acc = find(a, name);
    int rc = -1;
    if (!acc) {
        snprintf(why, n, "no account named '%s'", name);
    } else {
        snprintf(acc->hash, sizeof acc->hash, "%.127s", hash);
        acc->disabled = 0;
        rc = save(a, why, n);
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int web_accounts_disable(struct web_accounts *a, const char *name, char *why, size_t n)
{
    pthread_mutex_lock(&a->mu);
    struct web_account *acc = find(a, name);
    int rc = -1;
    if (!acc) {
        snprintf(why, n, "no account named '%s'", name);
    } else {
        acc->disabled = 1;
        rc = save(a, why, n);
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

int web_accounts_get(struct web_accounts *a, const char *name, struct web_account *out)
{
    pthread_mutex_lock(&a->mu);
    struct web_account *acc = find(a, name);
    if (acc)
        *out = *acc;
    pthread_mutex_unlock(&a->mu);
    return acc != NULL;
}

int web_accounts_verify(struct web_accounts *a, const char *name, const char *password,
                        struct web_account *out)
{
    struct web_account acc;
    int known = web_accounts_get(a, name, &acc);
    const char *hash = known ? acc.hash : a->dummy_hash;
    sem_wait(&a->hashes);
    int ok = crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
    sem_post(&a->hashes);
    if (!known || !ok || acc.disabled)
        return 0;
    *out = acc;
    return 1;
}

int web_accounts_totp(struct web_accounts *a, const char *name, char *secret, char *why, size_t n)
{
    unsigned char key[20];
    char *b32 = NULL;
    size_t b32len = 0;
    randombytes_buf(key, sizeof key);
    if (oath_init() != OATH_OK ||
        oath_base32_encode((const char *)key, sizeof key, &b32, &b32len) != OATH_OK) {
        snprintf(why, n, "cannot make a TOTP secret");
        return -1;
    }
    sodium_memzero(key, sizeof key);
    /* Authenticator apps take the secret without '=' padding. */
    while (b32len && b32[b32len - 1] == '=')
        b32[--b32len] = 0;
    pthread_mutex_lock(&a->mu);
    struct web_account *acc = find(a, name);
    int rc = -1;
    if (!acc) {
        snprintf(why, n, "no account named '%s'", name);
    } else {
        snprintf(acc->totp, sizeof acc->totp, "%.63s", b32);
        snprintf(secret, 64, "%.63s", b32);
        rc = save(a, why, n);
    }
    pthread_mutex_unlock(&a->mu);
    sodium_memzero(b32, b32len);
    free(b32);
    return rc;
}

long web_totp_ok(const struct web_account *acc, const char *code, long now_s)
{
    if (!acc->totp[0] || !code || strlen(code) != 6 || strspn(code, "0123456789") != 6)
        return 0;
    char *key = NULL;
    size_t keylen = 0;
    if (oath_init() != OATH_OK ||
        oath_base32_decode(acc->totp, strlen(acc->totp), &key, &keylen) != OATH_OK)
        return 0;
    int pos = 0;
    int rc = oath_totp_validate2(key, keylen, (time_t)now_s, OATH_TOTP_DEFAULT_TIME_STEP_SIZE,
                                 OATH_TOTP_DEFAULT_START_TIME, 1, &pos, code);
    sodium_memzero(key, keylen);
    free(key);
    return rc >= 0 ? now_s / OATH_TOTP_DEFAULT_TIME_STEP_SIZE + pos : 0;
}
