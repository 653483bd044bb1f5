/* hubpool.h: the console's clients of the hub (HUB_CLIENTS of them, shared
 * by the request threads) and a request on behalf of the signed-in person
 * (`as`, PROTOCOL.md 8.1). web_hub_open is in console.h. */
#ifndef CSPH_WEB_HUBPOOL_H
#define CSPH_WEB_HUBPOOL_H

#include "consolepriv.h"

/* A client from the pool, waiting for one to be free; give it back. */
csph_client *web_hub_borrow(struct hub_pool *p);
void web_hub_return(struct hub_pool *p, csph_client *c);
/* Send req (reference taken) on client c: the reply (ok or not), or NULL
 * with why when the hub did not answer. */
json_t *web_hub_request(csph_client *c, json_t *req, char *why, size_t n);
/* The same, waiting up to timeout_ms (web_hub_request: HUB_TIMEOUT_MS). */
json_t *web_hub_request_ms(csph_client *c, json_t *req, int timeout_ms, char *why, size_t n);
/* Ask the hub as the signed-in person (req's reference taken); the reply,
 * or NULL with why. */
json_t *web_as_person(struct web_console *w, const struct web_session *ss, json_t *req,
                      char *why, size_t n);
json_t *web_as_person_ms(struct web_console *w, const struct web_session *ss, json_t *req,
                         int timeout_ms, char *why, size_t n);
/* security none only: whether the signed-in account lists panel (an
 * auditor's or admin's: any panel the console shows). With a key the hub
 * decides, and this answers 1. */
int web_account_may(struct web_console *w, const struct web_session *ss, const char *panel);

#endif
