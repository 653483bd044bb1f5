/* config.h: the hub's settings as plain data.
 *
 * Order: defaults, then the YAML file, then command-line flags, then
 * validation naming the file and line. Never changed after start; each
 * module is handed only its part. Paths in the file are relative to the
 * file's own directory; paths from flags are relative to the working
 * directory. */
#ifndef CSPH_CONFIG_H
#define CSPH_CONFIG_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "panelcfg.h"

#define CSPH_MAX_ENDPOINTS 8
#define CSPH_MAX_PANELS 64
#define CSPH_AGENCIES_MAX 64
/* The largest reply (PROTOCOL.md 1): a client may set its ZMQ_MAXMSGSIZE
 * to this. limits.reply_max_bytes may lower it, not raise it. */
#define CSPH_REPLY_MAX (16u << 20)
/* What a reply needs besides its list (req excepted, which counts on top):
 * the map, ok, the list's key and header, next, end and the like. */
#define CSPH_REPLY_ENVELOPE 4096u

enum hub_security { CSPH_SECURITY_NONE, CSPH_SECURITY_CURVE };

struct hub_panel {
    char name[65];
    char title[128];
    int restricted; /* alerts show only that a case exists */
    struct hub_panel_work work; /* cases, actions, reviews, meetings (panelcfg.h) */
};

struct hub_limits {
    uint32_t batch_max;          /* requests in one write transaction (group commit) */
    uint32_t batch_bytes_max;    /* bytes of requests held for one batch */
    uint32_t message_max;        /* ZMQ_MAXMSGSIZE: larger messages never reach the hub */
    uint32_t event_max;          /* one event over this is too_large */
    uint32_t events_per_publish; /* events in one publish batch */
    int sndhwm;                  /* ZeroMQ high-water marks, per client pipe */
    int rcvhwm;
    uint32_t reply_backlog_max;  /* replies waiting for clients that are not reading: the hub */
    uint32_t reply_backlog_per_connection; /* ... one connection (held and in hand) */
    uint32_t reply_backlog_per_identity;   /* ... one identity's connections (curve) */
    uint32_t reply_backlog_mb;             /* their bytes, the hub */
    uint32_t reply_backlog_mb_per_connection; /* their bytes, one connection */
    uint32_t replay_max;         /* events in one replay reply */
    uint32_t replay_scan_max;    /* events examined by one filtered replay reply */
    uint32_t reply_max;          /* bytes of one reply (replay, rejects, fetch, alerts,
                                  * evidence): PROTOCOL.md 1, at most 16 MiB */
    uint64_t map_size;           /* LMDB map size in bytes: the log's hard ceiling */
    uint32_t fetch_held_max;     /* fetches held waiting for alerts */
    uint32_t fetch_held_per_connection;
    uint32_t fetch_held_per_identity;
    uint32_t connections_max;    /* open client connections; 0: from the fd limit */
    uint32_t index_hold_ms;      /* held index work is committed after this much quiet */
    uint32_t rules_cache_mb;     /* the rule engine's memory between events (0: none) */
    /* Kept rejections of one source: beyond either bound its oldest go. */
    uint32_t rejects_per_source_max;
    uint32_t rejects_per_source_mb;
    /* Durable consumers (cursors made by acking under a new name). */
    uint32_t consumers_per_panel_max;
    uint32_t consumers_per_identity_max;
    uint32_t index_writemap_mb;  /* index.mdb through its map below this (0: from the kernel's
                                    dirty-page limits) */
};

/* The metrics and health listener (httpd.h). */
struct hub_metrics_config {
    char listen[128];           /* "host:port"; "" : no listener */
    char tls_cert[PATH_MAX];    /* PEM files: both or neither */
    char tls_key[PATH_MAX];
    char token_file[PATH_MAX];  /* a bearer token every request must carry */
    uint32_t interval_ms;       /* how often the loop publishes a snapshot */
    uint32_t consumers_max;     /* per-consumer series at most (the largest lags) */
    uint32_t consumer_idle_s;   /* a cursor unmoved this long, and behind: its series dropped */
};

struct hub_config {
    char source_file[PATH_MAX]; /* the file read, or "" for built-in defaults */
    char data_dir[PATH_MAX];
    char schemas_dir[PATH_MAX];
    char panels_file[PATH_MAX];
    char rules_file[PATH_MAX]; /* "" : no rules (ingest only) */
    char indicators_file[PATH_MAX]; /* reports: the indicators (hub/indicators.h) */
    char areas_file[PATH_MAX];      /* reports: named areas */
    /* Issue 17: retention periods (hub/retention.h; "none": no sweep), and
     * the erasure register the DPO keeps ("": DATA_DIR.erasure-register.jsonl;
     * beside the directory, outside it: a restore must not roll it back). */
    char retention_file[PATH_MAX];
    char erasure_register[PATH_MAX];
    int indicators_shipped;         /* indicators_file not set: the source tree's, whose
                                     * indicators on panels not configured are left out */
    char identities_file[PATH_MAX]; /* security curve: who may connect */
    char server_key_file[PATH_MAX]; /* security curve: the hub's key pair */
    char listen[CSPH_MAX_ENDPOINTS][256];
    size_t nlisten;
    enum hub_security security;
    int log_level; /* enum hub_log_level */
    struct hub_limits limits;
    struct hub_metrics_config metrics;
    struct hub_panel panels[CSPH_MAX_PANELS];
    size_t npanels;
    /* Agencies that may own actions in security none (`agencies:`); in
     * curve mode the identity file's agencies (panelwork.h). */
    char agencies[CSPH_AGENCIES_MAX][65];
    size_t nagencies;
};

/* Built-in defaults: data in ./data, tcp://127.0.0.1:7450, security none,
 * schemas and panels from the source tree the hub was built from. */
void hub_config_defaults(struct hub_config *c);
/* Read path over c. CSPH_ERR_CONFIG or CSPH_ERR_IO with "file:line: ..." */
enum hub_err hub_config_load(struct hub_config *c, const char *path, struct hub_error *err);
/* Read the panels file named by c->panels_file into c->panels. */
enum hub_err hub_config_load_panels(struct hub_config *c, struct hub_error *err);
/* Cross-field checks once every source is applied: endpoints are valid
 * ZeroMQ addresses, `none` only on loopback or ipc://, limits consistent. */
enum hub_err hub_config_validate(const struct hub_config *c, struct hub_error *err);
/* 1 when endpoint is ipc://, inproc:// or tcp:// on a loopback address. */
int hub_endpoint_is_local(const char *endpoint);
/* Index of panel name (len bytes) or -1. */
int hub_config_panel_find(const struct hub_config *c, const char *name, size_t len);

#endif
