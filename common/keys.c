/* CURVE key files, shared by the hub and its clients. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "csphub.h"

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '-' || s[i] == '_' || s[i] == '.'))
            return 0;
    return 1;
}

int csph_keygen(const char *dir, const char *name, char *public_z85, char *err, size_t errlen)
{
    char pub[41], sec[41], path[4096];
    if (!name_ok(name)) {
        snprintf(err, errlen, "a key name is 1-64 letters, digits, '-', '_' or '.', not '%s'",
                 name);
        return -1;
    }
    if (zmq_curve_keypair(pub, sec) != 0) {
        snprintf(err, errlen, "cannot make a CURVE key pair: %s (is libzmq built with CURVE?)",
                 zmq_strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s.key", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "cannot create %s: %s%s", path, strerror(errno),
                 errno == EEXIST ? " (keys are never overwritten: remove it first)" : "");
        return -1;
    }
    char text[200];
    int n = snprintf(text, sizeof text,
                     "# csphub CURVE key pair for %s. SECRET: give it to that client only.\n"
                     "public: %s\nsecret: %s\n",
                     name, pub, sec);
    int bad = write(fd, text, (size_t)n) != n;
    bad |= fsync(fd) != 0;
    close(fd);
    memset(sec, 0, sizeof sec);
    memset(text, 0, sizeof text);
    if (bad) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    snprintf(path, sizeof path, "%s/%s.pub", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fprintf(f, "# csphub CURVE public key for %s: list it in the hub's identity file\n"
                         "public: %s\n", name, pub) < 0 || fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    memcpy(public_z85, pub, 41);
    return 0;
}

int csph_key_file_read(const char *path, char *public_z85, char *secret_z85, char *err,
                       size_t errlen)
{
    struct stat st;
    FILE *f = fopen(path, "r");
    if (!f || fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "cannot read the key file %s: %s", path, strerror(errno));
        if (f)
            fclose(f);
        return -1;
    }
    char line[256];
    public_z85[0] = secret_z85[0] = 0;
    while (fgets(line, sizeof line, f)) {
        char *v = NULL;
        if (!strncmp(line, "public:", 7))
            v = line + 7;
        else if (!strncmp(line, "secret:", 7))
            v = line + 7;
        if (!v)
            continue;
        while (*v == ' ')
            v++;
        v[strcspn(v, " \r\n")] = 0;
        if (strlen(v) != 40) {
            snprintf(err, errlen, "%s: a key must be 40 characters of Z85", path);
            fclose(f);
            memset(line, 0, sizeof line);
            return -1;
        }
        memcpy(line[0] == 'p' ? public_z85 : secret_z85, v, 41);
    }
    fclose(f);
    memset(line, 0, sizeof line);
    if (secret_z85[0] && (st.st_mode & 077)) {
        memset(secret_z85, 0, 41);
        snprintf(err, errlen,
                 "the secret key file %s can be read by other users (mode %03o); run: chmod 600 %s",
                 path, (unsigned)(st.st_mode & 0777), path);
        return -1;
    }
    if (!public_z85[0]) {
        snprintf(err, errlen, "%s has no 'public:' line", path);
        return -1;
    }
    return 0;
}
