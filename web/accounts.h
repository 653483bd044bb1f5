/* accounts.h: the console's local accounts: a name, the role and panels the
 * hub's people list gives them (shown on the pages; the hub decides what
 * they may do), disabled or not, and an Argon2id password hash
 * (libsodium's crypto_pwhash_str at the INTERACTIVE limits). Nothing else:
 * a compromised console holds no key to anyone's data but its own gateway
 * identity's, which the hub bounds.
 *
 * The file holds one account a line, "name:role:panel,panel:disabled:hash"
 * and, with a second factor, ":totp-secret";
 * it is written whole to a temporary file, synced and renamed, mode 0600.
 * Thread-safe: a mutex guards the table; verifying a password holds a slot
 * of a semaphore (at most CSPH_WEB_HASHES_MAX hashes at a time), never the
 * mutex. */
#ifndef CSPH_WEB_ACCOUNTS_H
#define CSPH_WEB_ACCOUNTS_H

#include <stddef.h>

#define CSPH_WEB_HASHES_MAX 2
#define CSPH_WEB_NAME_MAX 64

struct web_account {
    char name[CSPH_WEB_NAME_MAX + 1];
    char role[16];
    char panels[512]; /* comma-separated */
    int disabled;
    char hash[128];   /* crypto_pwhash_STRBYTES */
    char totp[64];    /* the TOTP secret, base32 ("" none): a second factor */
};

struct web_accounts;

/* Load path (a missing file is an empty table). -1 with why on a bad
 * line ("path:line: what is wrong") or a file others may read. */
int web_accounts_open(struct web_accounts **out, const char *path, char *why, size_t n);
void web_accounts_close(struct web_accounts **a);

/* A name is 1-64 of A-Z a-z 0-9 . _ - (the hub's people: list names them
 * the same way); a role is any the hub knows (panel, auditor, strategic,
 * dpo, ..., 1-15 of a-z 0-9 - _: the hub decides what it may do); panels
 * are names separated by commas. 0 or -1 with why. */
int web_account_name_valid(const char *name, char *why, size_t n);

/* user add: a new account with password (hashed here); user reset: a new
 * password (and enabled again); user disable. Each writes the file.
 * 0, or -1 with why. */
int web_accounts_add(struct web_accounts *a, const char *name, const char *role,
                     const char *panels, const char *password, char *why, size_t n);
int web_accounts_reset(struct web_accounts *a, const char *name, const char *password, char *why,
                       size_t n);
int web_accounts_disable(struct web_accounts *a, const char *name, char *why, size_t n);

/* user totp: a new TOTP secret (RFC 6238: 30 s steps, 6 digits, SHA-1, as
 * authenticator apps expect) for name, written to the file; its base32
 * text into secret (64 bytes). 0, or -1 with why. */
int web_accounts_totp(struct web_accounts *a, const char *name, char *secret, char *why, size_t n);
/* Whether code is name's current TOTP code (one step of clock drift either
 * way): the time step it belongs to (> 0), or 0 when it is not (and when
 * the account has no secret). A step is used once: see web_totp_claim. */
long web_totp_ok(const struct web_account *acc, const char *code, long now_s);

/* Check name's password: 1 and *out (a copy) when it matches an enabled
 * account, 0 otherwise. The hash runs whatever the name, so timing does not
 * tell which names exist. */
int web_accounts_verify(struct web_accounts *a, const char *name, const char *password,
                        struct web_account *out);
/* The account named name (a copy): 1, or 0 when there is none. */
int web_accounts_get(struct web_accounts *a, const char *name, struct web_account *out);

#endif
