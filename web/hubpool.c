#define _GNU_SOURCE
#include "hubpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csphub.h"
#include "page.h"

int web_hub_open(const struct web_config *cfg, csph_client **out, char *why, size_t n)
{
    struct csph_client_options o = {0};
    char spub[41] = "", cpub[41] = "", csec[41] = "", skip[41];
    if (cfg->key_file) {
        if (csph_key_file_read(cfg->key_file, cpub, csec, why, n))
            return -1;
        if (!cfg->server_key) {
            snprintf(why, n, "--key needs --server-key (the hub's .pub file)");
            return -1;
        }
        if (strlen(cfg->server_key) == 40 && !strchr(cfg->server_key, '/'))
            snprintf(spub, sizeof spub, "%s", cfg->server_key);
        else if (csph_key_file_read(cfg->server_key, spub, skip, why, n))
            return -1;
        o.server_public_key = spub;
        o.public_key = cpub;
        o.secret_key = csec;
    }
    int rc = csph_client_open(out, cfg->hub, &o, why, n);
    memset(csec, 0, sizeof csec);
    return rc;
}

csph_client *web_hub_borrow(struct hub_pool *p)
{
    pthread_mutex_lock(&p->mu);
    while (!p->nfree)
        pthread_cond_wait(&p->cv, &p->mu);
    csph_client *c = p->free[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    return c;
}

void web_hub_return(struct hub_pool *p, csph_client *c)
{
    pthread_mutex_lock(&p->mu);
    p->free[p->nfree++] = c;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

json_t *web_hub_request(csph_client *c, json_t *req, char *why, size_t n)
{
    return web_hub_request_ms(c, req, HUB_TIMEOUT_MS, why, n);
}

json_t *web_hub_request_ms(csph_client *c, json_t *req, int timeout_ms, char *why, size_t n)
{
    char *text = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    const char *answer = NULL;
    json_t *r = NULL;
    if (text && csph_client_request_json(c, text, timeout_ms, &answer) == 0 && answer)
        r = json_loads(answer, 0, NULL);
    if (!r)
        snprintf(why, n, "the hub did not answer (%s)", csph_client_error(c));
    free(text);
    return r;
}

json_t *web_as_person(struct web_console *w, const struct web_session *ss, json_t *req,
                      char *why, size_t n)
{
    return web_as_person_ms(w, ss, req, HUB_TIMEOUT_MS, why, n);
}

json_t *web_as_person_ms(struct web_console *w, const struct web_session *ss, json_t *req,
                         int timeout_ms, char *why, size_t n)
{
    /* With a key the hub knows the console as a gateway and applies the
     * person's scope (`as`). A hub in security none has no gateways: the
     * console then checks the account's panels itself (account_may) and
     * names the person in decisions (`by`). */
    static const char *const writes[] = {"alert.update", "case.close", "case.review",
                                         "case.risk", "case.hear", "action.create",
                                         "action.update", "agenda.issue", NULL};
    const char *op = json_string_value(json_object_get(req, "op"));
    if (w->cfg.key_file)
        json_object_set_new(req, "as", json_string(ss->name));
    else
        for (int i = 0; op && writes[i]; i++)
            if (!strcmp(op, writes[i]))
                json_object_set_new(req, "by", json_string(ss->name));
    csph_client *c = web_hub_borrow(&w->pool);
    json_t *r = web_hub_request_ms(c, req, timeout_ms, why, n);
    web_hub_return(&w->pool, c);
    return r;
}

/* security none only: whether the signed-in account lists panel (an
 * auditor's or admin's: any panel the console shows). With a key the hub
 * decides, and this is not asked. */
int web_account_may(struct web_console *w, const struct web_session *ss, const char *panel)
{
    struct web_account acc;
    if (w->cfg.key_file)
        return 1;
    if (!panel || !web_accounts_get(w->accounts, ss->name, &acc))
        return 0;
    char list[600], needle[80];
    snprintf(list, sizeof list, ",%s,", strcmp(acc.role, "panel") ? w->cfg.panels : acc.panels);
    snprintf(needle, sizeof needle, ",%.64s,", panel);
    return strstr(list, needle) != NULL;
}
