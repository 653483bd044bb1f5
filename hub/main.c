/* csphubd: the csphub daemon. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "clock.h"
#include "config.h"
#include "confighelp.h"
#include "layout.h"
#include "log.h"
#include "compact.h"
#include "erase.h"
#include "register.h"
#include "rederive.h"
#include "server.h"
#include "service.h"
#include "store.h"
#include "whatif.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: csphubd [--config FILE] [--data DIR] [--listen ENDPOINT]... [--log-level L]\n"
            "       csphubd --verify [--config FILE] [--data DIR]\n"
            "       csphubd --compact [--config FILE] [--data DIR]\n"
            "       csphubd --reapply-erasures FILE [--config FILE] [--data DIR]\n"
            "       csphubd --rederive FROM_DIR --data EMPTY_DIR [--config FILE]\n"
            "       csphubd --what-if RULES.yaml [--data DIR] [--config FILE] [--json]\n"
            "\n"
            "The csphub daemon: partner agencies publish incident events to it over CSPH/1\n"
            "(ZeroMQ + MessagePack); it keeps them in one durable, replayable log.\n"
            "\n"
            "  -c, --config FILE     read settings from FILE (YAML; csphub.yaml(5)).\n"
            "%s"
            "  -d, --data DIR        the data directory (LMDB log); overrides data_dir.\n"
            "  -l, --listen ENDPOINT bind this ZeroMQ endpoint (tcp://127.0.0.1:7450,\n"
            "                        ipc:///run/csphub.sock); repeat for several. Overrides\n"
            "                        the config file's listen list.\n"
            "      --log-level L     debug, info, warn, error or off (default info).\n"
            "      --check-config    load and validate the configuration, then exit.\n"
            "      --verify          check the log's hash chain end to end and print its last\n"
            "                        link, then exit (read-only: a running hub may hold DIR)\n"
            "                        (exit 0 intact, 1 altered or broken).\n"
            "      --compact         after an erasure (csphub erase), with the hub stopped:\n"
            "                        copy the log record by record into a fresh data.mdb\n"
            "                        (no free page or slack keeps erased bytes), zero and\n"
            "                        remove the old one, index.mdb (rebuilt at the next\n"
            "                        start) and the journal's files, then exit (0 done,\n"
            "                        2 the hub is running, 4 an I/O error).\n"
            "      --reapply-erasures FILE\n"
            "                        after a restore from a backup older than some\n"
            "                        erasures, with the hub stopped: apply each line of the\n"
            "                        erasure register FILE (erasure_register) again, each a\n"
            "                        dp.erasure in the log, skipping what is erased already\n"
            "                        (idempotent), print what it did, then compact as\n"
            "                        --compact does (exit 0 done, 2 a line or the hub\n"
            "                        refused, 4 an I/O error).\n"
            "      --rederive FROM   replay the log in FROM (a hub's data directory; the hub\n"
            "                        may be running) from seq 1 into the empty --data\n"
            "                        directory, through the rules the hub had in force at\n"
            "                        each seq (the log's rules.loaded events; before the\n"
            "                        first, the configured rules), and compare every alert\n"
            "                        (exit 0 identical, 1 different: the differences per\n"
            "                        rule and panel, 2 could not run). An alert an erasure\n"
            "                        redacted or took evidence of is checked on what it\n"
            "                        keeps and listed \"kept, evidence erased by erasure seq\n"
            "                        N\": not a difference.\n"
            "      --what-if RULES   before a reload: replay the whole log of the --data\n"
            "                        directory (read-only; the hub may be running) through the\n"
            "                        candidate rule file RULES into a temporary directory and\n"
            "                        show, per rule and panel, the alerts it would add, remove\n"
            "                        or change (priority, evidence) against today's, with\n"
            "                        examples; decisions carry over to the matching alerts;\n"
            "                        the records an erasure or retention redacted that it\n"
            "                        could not evaluate are counted, per rule, and the\n"
            "                        hub's alerts resting on them are not compared.\n"
            "                        Exit 0 no difference, 1 differences, 2 could not run.\n"
            "      --json            with --what-if: one JSON object instead of the table\n"
            "                        (the time taken and peak memory go to stderr).\n"
            "  -h, --help            this help.\n"
            "      --help-config     the configuration file's settings (csphub.yaml(5)).\n"
            "  -V, --version         print the version.\n"
            "\n"
            "Flags override the config file. The hub logs to stderr, stops cleanly on\n"
            "SIGTERM or SIGINT (finishing the batch in hand), and refuses to start when the\n"
            "config is wrong, the data directory is unusable or held by another hub, or\n"
            "security 'none' is asked for on a non-loopback endpoint.\n"
            "\n"
            "Exit status: 0 clean stop; 1 internal failure (report it); 2 bad usage or\n"
            "configuration (fix what the message names); 3 the disk is full (free space,\n"
            "start again); 4 an I/O error on the data directory (check the disk).\n",
            hub_layout_help());
}

/* The exit status of a start that failed: which kind of failure, so a
 * service manager (and the IT officer) can tell them apart (README.md,
 * operations). */
static int exit_status(enum hub_err e)
{
    switch (e) {
    case CSPH_ERR_CONFIG:
    case CSPH_ERR_LOCKED: return 2;
    case CSPH_ERR_DISK_FULL:
    case CSPH_ERR_BUSY: return 3; /* a full disk, or limits.map_size_mb reached */
    case CSPH_ERR_IO: return 4;
    default: return 1;
    }
}

static int compact(const struct hub_config *cfg)
{
    struct hub_compact_stats st;
    struct hub_error err;
    char path[4200];
    snprintf(path, sizeof path, "%s/data.mdb", cfg->data_dir);
    if (access(path, F_OK) != 0) {
        fprintf(stderr, "csphubd: no hub log in %s (data.mdb is missing)\n", cfg->data_dir);
        return 2;
    }
    if (hub_compact(cfg->data_dir, cfg->limits.map_size, &st, &err)) {
        fprintf(stderr, "csphubd: %s\n", err.message);
        return exit_status(err.code);
    }
    printf("log in %s compacted: %llu records in %llu databases copied into a fresh data.mdb "
           "(%llu -> %llu bytes); the old file zeroed and removed; index.mdb %s; %llu journal "
           "file(s) zeroed and removed\n",
           cfg->data_dir, (unsigned long long)st.records, (unsigned long long)st.databases,
           (unsigned long long)st.bytes_before, (unsigned long long)st.bytes_after,
           st.index_removed ? "zeroed and removed (rebuilt from the log at the next start)"
                            : "absent",
           (unsigned long long)st.journal_files);
    return 0;
}

static int verify(const struct hub_config *cfg)
{
    struct hub_store *st;
    struct hub_error err;
    /* Read-only, without the directory's lock: an auditor can check the log
     * of a running hub (LMDB's reader lock gives a consistent snapshot). */
    if (hub_store_open_readonly(&st, cfg->data_dir, &err)) {
        fprintf(stderr, "csphubd: %s\n", err.message);
        return 2;
    }
    uint64_t checked, bad;
    unsigned char tip[16];
    int rc = 0;
    /* Events an erasure rewrote verify against the dp.erasure event that
     * lists them (erase.h, docs/log-format.md "Erasure"). */
    if (hub_store_verify_with(st, hub_erase_verify_redacted, NULL, &checked, &bad, tip, &err)) {
        fprintf(stderr, "csphubd: %s\n", err.message);
        rc = 1;
    } else if (bad) {
        printf("log in %s is ALTERED or broken at seq %llu (%llu events before it verified)\n",
               cfg->data_dir, (unsigned long long)bad, (unsigned long long)checked);
        rc = 1;
    } else {
        char hex[33];
        for (int i = 0; i < 16; i++)
            snprintf(hex + 2 * i, 3, "%02x", tip[i]);
        printf("log in %s verified: %llu events, hash chain intact (%s); last link %s\n",
               cfg->data_dir, (unsigned long long)checked, hub_store_chain_name(st), hex);
    }
    hub_store_close(&st);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},  {"data", required_argument, 0, 'd'},
        {"listen", required_argument, 0, 'l'},  {"log-level", required_argument, 0, 'L'},
        {"check-config", no_argument, 0, 'C'},  {"verify", no_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},          {"version", no_argument, 0, 'V'},
        {"rederive", required_argument, 0, 'R'}, {"what-if", required_argument, 0, 'W'},
        {"json", no_argument, 0, 'J'},          {"help-config", no_argument, 0, 'H'},
        {"compact", no_argument, 0, 'P'},
        {"reapply-erasures", required_argument, 0, 'E'},
        {0, 0, 0, 0},
    };
    const char *config_file = NULL, *data = NULL, *level = NULL, *rederive_from = NULL,
               *whatif_rules = NULL, *reapply = NULL;
    const char *listen[CSPH_MAX_ENDPOINTS];
    size_t nlisten = 0;
    int check_only = 0, do_verify = 0, do_compact = 0, json = 0, c;
    while ((c = getopt_long(argc, argv, "c:d:l:hV", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config_file = optarg; break;
        case 'd': data = optarg; break;
        case 'l':
            if (nlisten == CSPH_MAX_ENDPOINTS) {
                fprintf(stderr, "csphubd: at most %d --listen endpoints\n", CSPH_MAX_ENDPOINTS);
                return 2;
            }
            listen[nlisten++] = optarg;
            break;
        case 'L': level = optarg; break;
        case 'C': check_only = 1; break;
        case 'v': do_verify = 1; break;
        case 'P': do_compact = 1; break;
        case 'E': reapply = optarg; break;
        case 'R': rederive_from = optarg; break;
        case 'W': whatif_rules = optarg; break;
        case 'J': json = 1; break;
        case 'h': usage(stdout); return 0;
        case 'H': hub_config_help(stdout); return 0;
        case 'V': printf("csphubd " CSPH_VERSION " (CSPH/1)\n"); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "csphubd: unexpected argument '%s' (see --help)\n", argv[optind]);
        return 2;
    }
    if (whatif_rules && (rederive_from || do_verify || check_only)) {
        fprintf(stderr, "csphubd: --what-if goes alone (with --data, --config and --json)\n");
        return 2;
    }
    if (json && !whatif_rules) {
        fprintf(stderr, "csphubd: --json goes with --what-if\n");
        return 2;
    }
    static struct hub_config cfg;
    struct hub_error err = {0};
    hub_config_defaults(&cfg);
    hub_layout_defaults(&cfg);
    if (!config_file)
        config_file = hub_layout_config_file();
    if (config_file && hub_config_load(&cfg, config_file, &err)) {
        fprintf(stderr, "csphubd: %s\n", err.message);
        return 2;
    }
    if (data)
        snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", data);
    if (nlisten) {
        for (size_t i = 0; i < nlisten; i++)
            snprintf(cfg.listen[i], sizeof cfg.listen[i], "%s", listen[i]);
        cfg.nlisten = nlisten;
    }
    if (level) {
        int l = hub_log_level_parse(level);
        if (l < 0) {
            fprintf(stderr, "csphubd: --log-level must be debug, info, warn, error or off\n");
            return 2;
        }
        cfg.log_level = l;
    }
    hub_log_min = (enum hub_log_level)cfg.log_level;
    if (hub_config_load_panels(&cfg, &err) || hub_config_validate(&cfg, &err)) {
        fprintf(stderr, "csphubd: %s\n", err.message);
        return 2;
    }
    if (reapply && (do_verify || do_compact || whatif_rules || rederive_from || check_only)) {
        fprintf(stderr, "csphubd: --reapply-erasures goes alone (with --data and --config)\n");
        return 2;
    }
    if (reapply)
        return hub_register_reapply(&cfg, reapply, stdout);
    if (do_verify && do_compact) {
        fprintf(stderr, "csphubd: --compact and --verify go one at a time\n");
        return 2;
    }
    if (do_verify)
        return verify(&cfg);
    if (do_compact)
        return compact(&cfg);
    if (whatif_rules)
        return hub_whatif(&cfg, whatif_rules, json, stdout, json ? stderr : stdout);
    if (rederive_from) {
        if (!data) {
            fprintf(stderr, "csphubd: --rederive needs --data EMPTY_DIR for the fresh log\n");
            return 2;
        }
        return hub_rederive(&cfg, rederive_from, stdout);
    }
    if (check_only) {
        /* Everything a start would refuse, short of opening the log and
         * binding (a running hub may hold both). */
        if (hub_server_check(&cfg, &err) || hub_service_check(&cfg, &err)) {
            fprintf(stderr, "csphubd: %s\n", err.message);
            return exit_status(err.code);
        }
        printf("configuration OK: %zu endpoint(s), %zu panels, data in %s\n", cfg.nlisten,
               cfg.npanels, cfg.data_dir);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct hub_clock clock;
    hub_clock_init_real(&clock);
    struct hub_server *srv = NULL;
    struct hub_service *svc = NULL; /* systemd, metrics and health (service.h) */
    enum hub_err rc = hub_service_new(&svc, &loop, &cfg, &err);
    if (rc == CSPH_ERR_OK)
        rc = hub_server_new(&srv, &loop, &cfg, &clock, &err);
    if (rc) {
        LOG_ERROR("hub", "cannot start: %s", err.message);
        hub_service_destroy(&svc);
        uv_loop_close(&loop);
        return exit_status(rc);
    }
    LOG_INFO("hub", "csphub " CSPH_VERSION " ready");
    hub_service_ready(svc, srv);
    uv_run(&loop, UV_RUN_DEFAULT);
    hub_service_destroy(&svc);
    hub_server_destroy(&srv);
    uv_loop_close(&loop);
    LOG_INFO("hub", "stopped cleanly");
    return 0;
}
