#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "log.h"
#include "yamlx.h"

#ifndef CSPH_SOURCE_DIR
#define CSPH_SOURCE_DIR "."
#endif

void hub_config_defaults(struct hub_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->data_dir, sizeof c->data_dir, "data");
    snprintf(c->schemas_dir, sizeof c->schemas_dir, "%s/schemas", CSPH_SOURCE_DIR);
    snprintf(c->panels_file, sizeof c->panels_file, "%s/config/panels.yaml", CSPH_SOURCE_DIR);
    snprintf(c->rules_file, sizeof c->rules_file, "%s/config/rules.yaml", CSPH_SOURCE_DIR);
    /* Reports (hub/report.c): the indicators and the areas. */
    snprintf(c->indicators_file, sizeof c->indicators_file, "%s/config/indicators.yaml",
             CSPH_SOURCE_DIR);
    snprintf(c->areas_file, sizeof c->areas_file, "%s/config/areas.yaml", CSPH_SOURCE_DIR);
    snprintf(c->retention_file, sizeof c->retention_file, "%s/config/retention.yaml",
             CSPH_SOURCE_DIR);
    c->indicators_shipped = 1;
    snprintf(c->listen[0], sizeof c->listen[0], "tcp://127.0.0.1:7450");
    c->nlisten = 1;
    c->security = CSPH_SECURITY_NONE;
    c->log_level = CSPH_LOG_INFO;
    c->limits = (struct hub_limits){
        .batch_max = 4096,
        .batch_bytes_max = 32u << 20,
        .message_max = 1u << 20,
        .event_max = 64u << 10,
        .events_per_publish = 1000,
        /* Sized so that 1,000 requests in flight from each of dozens of
         * clients never meet the mark: with ROUTER_MANDATORY a full pipe is
         * an EAGAIN we handle, not a silent drop. */
        .sndhwm = 100000,
        .rcvhwm = 100000,
        .reply_backlog_max = 65536,
        /* A client that reads keeps nothing here: its pipe (sndhwm) takes
         * its replies. These bound one that does not. */
        .reply_backlog_per_connection = 4096,
        .reply_backlog_per_identity = 16384,
        .reply_backlog_mb = 1024,
        .reply_backlog_mb_per_connection = 64,
        .replay_max = 10000,
        .replay_scan_max = 200000,
        .reply_max = CSPH_REPLY_MAX,
        .map_size = 64ull << 30,
        .fetch_held_max = 1024,
        .fetch_held_per_connection = 64,
        .fetch_held_per_identity = 256,
        .connections_max = 0,
        .index_hold_ms = 50,
        .rules_cache_mb = 16,
        /* A flood of rejected events (a broken adapter) keeps its newest
         * 10,000 or 16 MiB, not the disk. */
        .rejects_per_source_max = 10000,
        .rejects_per_source_mb = 16,
        .consumers_per_panel_max = 64,
        .consumers_per_identity_max = 16,
    };
    c->metrics = (struct hub_metrics_config){
        .interval_ms = 5000, .consumers_max = 100, .consumer_idle_s = 7 * 86400};
}

/* Paths in a config file are relative to the file, so a config can be moved
 * together with what it names. */
static void resolve_path(char *out, size_t outsz, const char *base_file, const char *p)
{
    if (p[0] == '/' || !base_file[0]) {
        snprintf(out, outsz, "%s", p);
        return;
    }
    const char *slash = strrchr(base_file, '/');
    if (!slash)
        snprintf(out, outsz, "%s", p);
    else
        snprintf(out, outsz, "%.*s/%s", (int)(slash - base_file), base_file, p);
}

static enum hub_err read_path(struct hub_yaml *y, yaml_node_t *root, const char *key, char *out,
                              size_t outsz, struct hub_error *err)
{
    yaml_node_t *n = hub_yaml_get(y, root, key);
    if (!n)
        return CSPH_ERR_OK;
    const char *s;
    enum hub_err rc = hub_yaml_str(y, n, key, &s, err);
    if (rc)
        return rc;
    if (!*s)
        return hub_yaml_fail(y, n, err, "%s must not be empty", key);
    resolve_path(out, outsz, y->path, s);
    return CSPH_ERR_OK;
}

static enum hub_err read_u32(struct hub_yaml *y, yaml_node_t *map, const char *key, int64_t min,
                             int64_t max, uint32_t *out, struct hub_error *err)
{
    yaml_node_t *n = hub_yaml_get(y, map, key);
    int64_t v;
    if (!n)
        return CSPH_ERR_OK;
    enum hub_err rc = hub_yaml_int(y, n, key, min, max, &v, err);
    if (!rc)
        *out = (uint32_t)v;
    return rc;
}

static enum hub_err read_limits(struct hub_yaml *y, yaml_node_t *m, struct hub_limits *l,
                                struct hub_error *err)
{
    static const char *const keys[] = {"batch_max", "batch_bytes_max", "message_max_bytes",
                                       "event_max_bytes", "events_per_publish", "sndhwm", "rcvhwm",
                                       "reply_backlog_max", "replay_max", "replay_scan_max",
                                       "reply_max_bytes", "map_size_mb", "fetch_held_max",
                                       "index_hold_ms", "rules_cache_mb", "index_writemap_mb",
                                       "rejects_per_source_max", "rejects_per_source_mb",
                                       "consumers_per_panel_max", "consumers_per_identity_max",
                                       "reply_backlog_per_connection",
                                       "reply_backlog_per_identity", "reply_backlog_mb",
                                       "reply_backlog_mb_per_connection",
                                       "fetch_held_per_connection", "fetch_held_per_identity",
                                       "connections_max", NULL};
    enum hub_err rc = hub_yaml_only_keys(y, m, keys, "limits", err);
    uint32_t hwm_s = (uint32_t)l->sndhwm, hwm_r = (uint32_t)l->rcvhwm, map_mb = 0;
    if (!rc) rc = read_u32(y, m, "batch_max", 1, 1000000, &l->batch_max, err);
    if (!rc) rc = read_u32(y, m, "batch_bytes_max", 1 << 20, 1 << 30, &l->batch_bytes_max, err);
    if (!rc) rc = read_u32(y, m, "message_max_bytes", 1024, 1 << 30, &l->message_max, err);
    if (!rc) rc = read_u32(y, m, "event_max_bytes", 256, 1 << 30, &l->event_max, err);
    if (!rc) rc = read_u32(y, m, "events_per_publish", 1, 100000, &l->events_per_publish, err);
    if (!rc) rc = read_u32(y, m, "sndhwm", 100, 10000000, &hwm_s, err);
    if (!rc) rc = read_u32(y, m, "rcvhwm", 100, 10000000, &hwm_r, err);
    if (!rc) rc = read_u32(y, m, "reply_backlog_max", 16, 10000000, &l->reply_backlog_max, err);
    if (!rc) rc = read_u32(y, m, "replay_max", 1, 100000, &l->replay_max, err);
    if (!rc) rc = read_u32(y, m, "replay_scan_max", 1000, 100000000, &l->replay_scan_max, err);
    if (!rc) rc = read_u32(y, m, "reply_max_bytes", 8192, CSPH_REPLY_MAX, &l->reply_max, err);
    if (!rc) rc = read_u32(y, m, "map_size_mb", 16, 16u << 20, &map_mb, err);
    if (!rc) rc = read_u32(y, m, "fetch_held_max", 1, 1000000, &l->fetch_held_max, err);
    if (!rc) rc = read_u32(y, m, "reply_backlog_per_connection", 16, 10000000,
                           &l->reply_backlog_per_connection, err);
    if (!rc) rc = read_u32(y, m, "reply_backlog_per_identity", 16, 10000000,
                           &l->reply_backlog_per_identity, err);
    if (!rc) rc = read_u32(y, m, "reply_backlog_mb", 16, 1 << 20, &l->reply_backlog_mb, err);
    if (!rc) rc = read_u32(y, m, "reply_backlog_mb_per_connection", 16, 1 << 20,
                           &l->reply_backlog_mb_per_connection, err);
    if (!rc) rc = read_u32(y, m, "fetch_held_per_connection", 1, 1000000,
                           &l->fetch_held_per_connection, err);
    if (!rc) rc = read_u32(y, m, "fetch_held_per_identity", 1, 1000000,
                           &l->fetch_held_per_identity, err);
    if (!rc) rc = read_u32(y, m, "connections_max", 0, 10000000, &l->connections_max, err);
    if (!rc) rc = read_u32(y, m, "index_hold_ms", 1, 60000, &l->index_hold_ms, err);
    if (!rc) rc = read_u32(y, m, "rules_cache_mb", 0, 4096, &l->rules_cache_mb, err);
    if (!rc) rc = read_u32(y, m, "index_writemap_mb", 0, 16u << 20, &l->index_writemap_mb, err);
    if (!rc)
        rc = read_u32(y, m, "rejects_per_source_max", 1, 100000000, &l->rejects_per_source_max,
                      err);
    if (!rc)
        rc = read_u32(y, m, "rejects_per_source_mb", 1, 1u << 20, &l->rejects_per_source_mb, err);
    if (!rc)
        rc = read_u32(y, m, "consumers_per_panel_max", 1, 1000000, &l->consumers_per_panel_max,
                      err);
    if (!rc)
        rc = read_u32(y, m, "consumers_per_identity_max", 1, 1000000,
                      &l->consumers_per_identity_max, err);
    l->sndhwm = (int)hwm_s;
    l->rcvhwm = (int)hwm_r;
    if (map_mb)
        l->map_size = (uint64_t)map_mb << 20;
    return rc;
}

enum hub_err hub_config_load(struct hub_config *c, const char *path, struct hub_error *err)
{
    static const char *const keys[] = {"data_dir", "schemas_dir", "panels_file", "rules_file",
                                       "identities_file", "server_key_file", "listen",
                                       "security", "log_level", "limits", "metrics", "indicators_file",
                                       "areas_file", "agencies", "retention_file",
                                       "erasure_register", NULL};
    struct hub_yaml y;
    enum hub_err rc = hub_yaml_load(&y, path, err);
    if (rc)
        return rc;
    snprintf(c->source_file, sizeof c->source_file, "%s", path);
    yaml_node_t *root = hub_yaml_root(&y);
    if (!root) /* an empty file means all defaults */
        goto done;
    if ((rc = hub_yaml_only_keys(&y, root, keys, "the hub config", err)))
        goto done;
    if ((rc = read_path(&y, root, "data_dir", c->data_dir, sizeof c->data_dir, err)) ||
        (rc = read_path(&y, root, "schemas_dir", c->schemas_dir, sizeof c->schemas_dir, err)) ||
        (rc = read_path(&y, root, "panels_file", c->panels_file, sizeof c->panels_file, err)))
        goto done;
    if (hub_yaml_get(&y, root, "indicators_file"))
        c->indicators_shipped = 0;
    if ((rc = read_path(&y, root, "indicators_file", c->indicators_file,
                        sizeof c->indicators_file, err)) ||
        (rc = read_path(&y, root, "areas_file", c->areas_file, sizeof c->areas_file, err)))
        goto done;
    if ((rc = read_path(&y, root, "identities_file", c->identities_file,
                        sizeof c->identities_file, err)) ||
        (rc = read_path(&y, root, "server_key_file", c->server_key_file,
                        sizeof c->server_key_file, err)))
        goto done;
    yaml_node_t *rt = hub_yaml_get(&y, root, "retention_file"); /* issue 17: retention.h */
    if (rt && hub_yaml_scalar(rt) && !strcmp(hub_yaml_scalar(rt), "none"))
        c->retention_file[0] = 0; /* no sweep: nothing leaves the log by age */
    else if ((rc = read_path(&y, root, "retention_file", c->retention_file,
                             sizeof c->retention_file, err)))
        goto done;
    if ((rc = read_path(&y, root, "erasure_register", c->erasure_register,
                        sizeof c->erasure_register, err)))
        goto done;
    yaml_node_t *ag = hub_yaml_get(&y, root, "agencies"); /* hook: panelcfg.h */
    if (ag && (rc = hub_panelcfg_agencies(&y, ag, c->agencies, CSPH_AGENCIES_MAX, &c->nagencies,
                                          err)))
        goto done;
    yaml_node_t *rf = hub_yaml_get(&y, root, "rules_file");
    if (rf && hub_yaml_scalar(rf) && !strcmp(hub_yaml_scalar(rf), "none"))
        c->rules_file[0] = 0; /* ingest only: no escalation */
    else if ((rc = read_path(&y, root, "rules_file", c->rules_file, sizeof c->rules_file, err)))
        goto done;
    yaml_node_t *n = hub_yaml_get(&y, root, "listen");
    if (n) {
        size_t len = hub_yaml_seq_len(n);
        if (hub_yaml_scalar(n)) { /* one endpoint written without a list */
            snprintf(c->listen[0], sizeof c->listen[0], "%s", hub_yaml_scalar(n));
            c->nlisten = 1;
        } else if (len == 0 || len > CSPH_MAX_ENDPOINTS) {
            rc = hub_yaml_fail(&y, n, err, "listen must list 1 to %d endpoints",
                               CSPH_MAX_ENDPOINTS);
            goto done;
        } else {
            for (size_t i = 0; i < len; i++) {
                const char *s;
                if ((rc = hub_yaml_str(&y, hub_yaml_seq_item(&y, n, i), "an endpoint", &s, err)))
                    goto done;
                snprintf(c->listen[i], sizeof c->listen[i], "%s", s);
            }
            c->nlisten = len;
        }
    }
    if ((n = hub_yaml_get(&y, root, "security"))) {
        const char *s = hub_yaml_scalar(n);
        if (s && !strcmp(s, "none"))
            c->security = CSPH_SECURITY_NONE;
        else if (s && !strcmp(s, "curve"))
            c->security = CSPH_SECURITY_CURVE;
        else {
            rc = hub_yaml_fail(&y, n, err, "security must be none or curve");
            goto done;
        }
    }
    if ((n = hub_yaml_get(&y, root, "log_level"))) {
        const char *s = hub_yaml_scalar(n);
        int lvl = s ? hub_log_level_parse(s) : -1;
        if (lvl < 0) {
            rc = hub_yaml_fail(&y, n, err, "log_level must be debug, info, warn, error or off");
            goto done;
        }
        c->log_level = lvl;
    }
    if ((n = hub_yaml_get(&y, root, "limits")))
        rc = read_limits(&y, n, &c->limits, err);
    if (!rc && (n = hub_yaml_get(&y, root, "metrics"))) /* service hook (httpd.c) */
        rc = hub_httpd_config_read(&y, n, &c->metrics, err);
done:
    hub_yaml_free(&y);
    return rc;
}

static int panel_name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return 0;
    return 1;
}

enum hub_err hub_config_load_panels(struct hub_config *c, struct hub_error *err)
{
    static const char *const keys[] = {"title", "restricted", "outcomes", "reviews", "meetings",
                                       "lookback", "risk_scores", NULL};
    struct hub_yaml y;
    enum hub_err rc = hub_yaml_load(&y, c->panels_file, err);
    if (rc)
        return rc;
    yaml_node_t *root = hub_yaml_root(&y);
    yaml_node_t *panels = hub_yaml_get(&y, root, "panels");
    size_t n = hub_yaml_map_len(panels);
    c->npanels = 0;
    if (!panels || n == 0) {
        rc = hub_yaml_fail(&y, root, err, "expected 'panels:' followed by one entry per panel");
        goto done;
    }
    if (n > CSPH_MAX_PANELS) {
        rc = hub_yaml_fail(&y, panels, err, "at most %d panels", CSPH_MAX_PANELS);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        yaml_node_t *k, *v;
        hub_yaml_map_pair(&y, panels, i, &k, &v);
        const char *name = hub_yaml_scalar(k);
        struct hub_panel *p = &c->panels[c->npanels];
        if (!name || !panel_name_ok(name)) {
            rc = hub_yaml_fail(&y, k, err,
                               "panel name '%s' must be 1-64 lower-case letters, digits or '-'",
                               name ? name : "?");
            goto done;
        }
        if (hub_config_panel_find(c, name, strlen(name)) >= 0) {
            rc = hub_yaml_fail(&y, k, err, "panel '%s' is listed twice", name);
            goto done;
        }
        if ((rc = hub_yaml_only_keys(&y, v, keys, "a panel", err)))
            goto done;
        memset(p, 0, sizeof *p);
        snprintf(p->name, sizeof p->name, "%s", name);
        yaml_node_t *t = hub_yaml_get(&y, v, "title");
        const char *title = name;
        if (t && (rc = hub_yaml_str(&y, t, "title", &title, err)))
            goto done;
        snprintf(p->title, sizeof p->title, "%s", title);
        yaml_node_t *r = hub_yaml_get(&y, v, "restricted");
        if (r && (rc = hub_yaml_bool(&y, r, "restricted", &p->restricted, err)))
            goto done;
        if ((rc = hub_panelcfg_parse(&y, v, &p->work, err))) /* hook: panelcfg.h */
            goto done;
        c->npanels++;
    }
done:
    hub_yaml_free(&y);
    return rc;
}

int hub_config_panel_find(const struct hub_config *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->npanels; i++)
        if (strlen(c->panels[i].name) == len && memcmp(c->panels[i].name, name, len) == 0)
            return (int)i;
    return -1;
}

int hub_endpoint_is_local(const char *ep)
{
    if (!strncmp(ep, "ipc://", 6) || !strncmp(ep, "inproc://", 9))
        return 1;
    if (strncmp(ep, "tcp://", 6) != 0)
        return 0;
    const char *host = ep + 6;
    if (!strncmp(host, "127.", 4) || !strncmp(host, "localhost:", 10) ||
        !strncmp(host, "[::1]:", 6) || !strncmp(host, "lo:", 3))
        return 1;
    return 0;
}

enum hub_err hub_config_validate(const struct hub_config *c, struct hub_error *err)
{
    const char *where = c->source_file[0] ? c->source_file : "the command line";
    for (size_t i = 0; i < c->nlisten; i++) {
        const char *ep = c->listen[i];
        if (strncmp(ep, "tcp://", 6) && strncmp(ep, "ipc://", 6) && strncmp(ep, "inproc://", 9))
            return hub_error_set(err, CSPH_ERR_CONFIG, "listen",
                                 "%s: endpoint '%s' must start with tcp://, ipc:// or inproc://",
                                 where, ep);
        if (c->security == CSPH_SECURITY_NONE && !hub_endpoint_is_local(ep))
            return hub_error_set(
                err, CSPH_ERR_CONFIG, "listen",
                "%s: refusing security 'none' on '%s': without CURVE anyone who can reach that "
                "address could publish and read events. Use a loopback address "
                "(tcp://127.0.0.1:PORT), an ipc:// endpoint, or set security: curve",
                where, ep);
    }
    if (c->security == CSPH_SECURITY_CURVE && (!c->identities_file[0] || !c->server_key_file[0]))
        return hub_error_set(err, CSPH_ERR_CONFIG, "security",
                             "%s: security 'curve' needs identities_file (who may connect) and "
                             "server_key_file (the hub's key pair from `csphub keygen hub`)",
                             where);
    if (c->limits.event_max > c->limits.message_max)
        return hub_error_set(err, CSPH_ERR_CONFIG, "limits.event_max_bytes",
                             "%s: event_max_bytes (%u) must not exceed message_max_bytes (%u)",
                             where, c->limits.event_max, c->limits.message_max);
    enum hub_err mrc = hub_httpd_config_validate(&c->metrics, where, err); /* service hook */
    if (mrc)
        return mrc;
    /* A replay reply always carries at least one event whole. */
    if ((uint64_t)c->limits.event_max + CSPH_REPLY_ENVELOPE > c->limits.reply_max)
        return hub_error_set(err, CSPH_ERR_CONFIG, "limits.event_max_bytes",
                             "%s: event_max_bytes (%u) must leave room for a reply's envelope "
                             "within reply_max_bytes (%u): at most %u",
                             where, c->limits.event_max, c->limits.reply_max,
                             c->limits.reply_max > CSPH_REPLY_ENVELOPE
                                  ? c->limits.reply_max - CSPH_REPLY_ENVELOPE
                                  : 0);
    return CSPH_ERR_OK;
}
