/* testutil_curve.h: the real daemon in security curve with real CURVE
 * sockets (test_security, test_people): a directory with a key pair for the
 * hub and for each client name, the identity file and the config; the hub
 * started and waited for over CURVE; clients connected as a name. */
#ifndef CSPH_TESTUTIL_CURVE_H
#define CSPH_TESTUTIL_CURVE_H

#include "testutil.h"

struct tu_curve {
    char *dir;
    char data[600], config[600], ids[600], keys[600];
    struct tu_hub hub;
    char hub_pub[41];
};

/* A fresh directory (tu_tmpdir(tag)) with keys/hub.key and keys/NAME.key
 * for each of names (NULL-terminated), identities (the identity file's
 * text, mode 0644) and a config for security curve. The hub is not started
 * (tu_curve_start). */
struct tu_curve *tu_curve_new(const char *tag, const char *const *names, const char *identities);
/* Stop the hub (if running: it must stop cleanly), remove the directory,
 * free. */
void tu_curve_free(struct tu_curve *f);
/* Start csphubd (again: a running one is killed first) and wait until it
 * answers a ping over CURVE as "admin" (that key must exist). */
void tu_curve_start(struct tu_curve *f);
/* Connect c (DEALER) as who (a name given to tu_curve_new), or with no
 * CURVE keys at all when who is NULL. */
void tu_curve_connect(struct tu_curve *f, struct tu_client *c, const char *who);

/* Send json and wait up to ms: 0 and *r, or -1 when no reply came. */
int tu_try_call(struct tu_client *c, int ms, msgpack_object *r, const char *json);
/* Write text to path (or fail the test). */
void tu_write_file(const char *path, const char *text);

#endif
