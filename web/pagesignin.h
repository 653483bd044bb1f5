/* pagesignin.h: the sign-in form and its POST: the password (Argon2id, off
 * this thread's lock), the one-time code when the account has one or the
 * console needs one, backoff after failures, and the session's cookie. */
#ifndef CSPH_WEB_PAGESIGNIN_H
#define CSPH_WEB_PAGESIGNIN_H

#include "consolepriv.h"

enum MHD_Result web_page_signin(struct web_console *w, struct MHD_Connection *con, int status,
                                const char *message);
enum MHD_Result web_do_signin(struct web_console *w, struct MHD_Connection *con,
                              const struct req_state *st);
/* The session cookie's attributes (Secure under TLS). */
void web_session_cookie(struct web_console *w, const char *id, char *out, size_t n);

#endif
