#include "register.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "compact.h"
#include "csphub.h"
#include "core.h"
#include "erase.h"
#include "mpx.h"
#include "ops.h"
#include "rules.h"
#include "schema.h"
#include "timefmt.h"
#include "wire.h"

void hub_register_path(const struct hub_config *cfg, char *out, size_t n)
{
    if (!strcmp(cfg->erasure_register, "none"))
        snprintf(out, n, "%s", "");
    else if (cfg->erasure_register[0])
        snprintf(out, n, "%s", cfg->erasure_register);
    else
        snprintf(out, n, "%s.erasure-register.jsonl", cfg->data_dir);
}

enum hub_err hub_register_append(const struct hub_config *cfg,
                                 const struct hub_register_entry *e, struct hub_error *err)
{
    char path[PATH_MAX + 32], when[40];
    hub_register_path(cfg, path, sizeof path);
    if (!path[0])
        return CSPH_ERR_OK;
    csph_time_format(e->at_ms, when);
    json_t *o = json_object(), *ers = json_array();
    json_object_set_new(o, "at", json_string(when));
    json_object_set_new(o, "request", json_string(e->restrict_only ? "restrict" : "erase"));
    json_object_set_new(o, "person", json_stringn(e->person, e->person_len));
    json_object_set_new(o, "basis", json_stringn(e->basis, e->basis_len));
    json_object_set_new(o, "reason", json_stringn(e->reason, e->reason_len));
    json_object_set_new(o, "by", json_string(e->by));
    json_object_set_new(o, "count", json_integer((json_int_t)e->count));
    json_object_set_new(o, "rejections", json_integer((json_int_t)e->rejections));
    for (size_t i = 0; i < e->nerasures; i++)
        json_array_append_new(ers, json_integer((json_int_t)e->erasures[i]));
    json_object_set_new(o, "erasures", ers);
    char *line = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!line)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "out of memory writing the register");
    size_t len = strlen(line);
    line[len] = '\n'; /* json_dumps's NUL becomes the line's end */
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write(fd, line, len + 1) == (ssize_t)(len + 1) && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    free(line);
    if (!ok)
        return hub_error_set(err, CSPH_ERR_IO, NULL,
                             "cannot append to the erasure register %s: %s (nothing was erased; "
                             "fix the path, erasure_register in the hub config)",
                             path, strerror(saved));
    return CSPH_ERR_OK;
}

/* One register line applied through the erase op in its own batch. The
 * reply says what happened. 0 applied, 1 nothing left to do, -1 failed
 * (*why set). */
static int reapply_one(struct hub_ctx *h, const char *person, const char *reason,
                       const char *basis, int restrict_only, const char *by, int64_t now_ms,
                       uint64_t *count, uint64_t *rejections, char *why, size_t why_n)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:s,s:b,s:b}", "op", "erase", "person", person, "reason",
                          reason, "basis", basis, "apply", 1, "restrict", restrict_only);
    char *json = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    void *mp = NULL;
    size_t mp_len = 0;
    char jerr[200];
    int rc = -1;
    msgpack_zone zone;
    msgpack_zone_init(&zone, 4096);
    msgpack_sbuffer reply;
    msgpack_sbuffer_init(&reply);
    struct hub_request r;
    struct hub_error e;
    if (!json || csph_json_to_msgpack(json, strlen(json), &mp, &mp_len, jerr, sizeof jerr) ||
        hub_wire_decode(mp, mp_len, &zone, 1, &r, &e)) {
        snprintf(why, why_n, "cannot build the request");
        goto out;
    }
    /* Recorded as the DPO's: a dpo identity named for the original. */
    struct hub_identity who = {.role = CSPH_ROLE_DPO};
    snprintf(who.name, sizeof who.name, "reapply:%.56s", by);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &reply, msgpack_sbuffer_write);
    struct hub_req q = {.r = &r, .who = &who, .now_ms = now_ms, .pk = &pk};
    enum hub_err brc = hub_core_batch_begin(h->core, &e);
    if (brc == CSPH_ERR_OK) {
        brc = hub_op_erase(h, &q);
        if (brc == CSPH_ERR_OK)
            brc = hub_core_batch_commit(h->core, &e);
        else
            hub_core_batch_abort(h->core);
    }
    if (brc == CSPH_ERR_OK)
        brc = hub_core_settle_all(h->core, &e);
    if (brc) {
        snprintf(why, why_n, "%s", q.e.message[0] ? q.e.message : e.message);
        goto out;
    }
    msgpack_object ro;
    size_t off = 0;
    if (msgpack_unpack(reply.data, reply.size, &off, &zone, &ro) != MSGPACK_UNPACK_SUCCESS) {
        snprintf(why, why_n, "unreadable reply");
        goto out;
    }
    const msgpack_object *ok = hub_mp_get(&ro, "ok");
    if (ok && ok->type == MSGPACK_OBJECT_BOOLEAN && ok->via.boolean) {
        const msgpack_object *c = hub_mp_get(&ro, "count"), *rj = hub_mp_get(&ro, "rejections");
        *count = c && c->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? c->via.u64 : 0;
        *rejections = rj && rj->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? rj->via.u64 : 0;
        rc = 0;
    } else {
        const msgpack_object *er = hub_mp_get(&ro, "error"),
                             *code = er ? hub_mp_get(er, "code") : NULL,
                             *msg = er ? hub_mp_get(er, "message") : NULL;
        if (hub_mp_str_eq(code, "not_found")) {
            rc = 1; /* erased already, or never in this copy */
        } else {
            snprintf(why, why_n, "%.*s",
                     msg && msg->type == MSGPACK_OBJECT_STR ? (int)msg->via.str.size : 7,
                     msg && msg->type == MSGPACK_OBJECT_STR ? msg->via.str.ptr : "refused");
        }
    }
out:
    free(json);
    free(mp);
    msgpack_sbuffer_destroy(&reply);
    msgpack_zone_destroy(&zone);
    return rc;
}

int hub_register_reapply(const struct hub_config *cfg_in, const char *file, FILE *out)
{
    static struct hub_config cfg;
    cfg = *cfg_in;
    /* Re-applying writes no new register lines: the file is the register. */
    snprintf(cfg.erasure_register, sizeof cfg.erasure_register, "none");
    struct hub_schemas *schemas = NULL;
    struct hub_rules *rules = NULL;
    struct hub_core *core = NULL;
    struct hub_error err;
    int status = 2;
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(out, "cannot read the erasure register %s: %s\n", file, strerror(errno));
        return 2;
    }
    const char *names[CSPH_MAX_PANELS];
    for (size_t i = 0; i < cfg.npanels; i++)
        names[i] = cfg.panels[i].name;
    if (hub_schemas_load(&schemas, cfg.schemas_dir, names, cfg.npanels, &err) ||
        (cfg.rules_file[0] &&
         hub_rules_load(&rules, cfg.rules_file, cfg.panels, cfg.npanels, schemas, &err))) {
        fprintf(out, "cannot re-apply erasures: %s\n", err.message);
        goto done;
    }
    struct hub_core_opts o = {.cfg = &cfg, .dir = cfg.data_dir, .map_size = cfg.limits.map_size,
                              .schemas = schemas, .rules = rules, .apply_limits = 1};
    uint64_t caught;
    if (hub_core_open(&core, &o, &err) || hub_core_recover(core, &caught, &err)) {
        fprintf(out, "cannot re-apply erasures to %s: %s\n", cfg.data_dir, err.message);
        status = err.code == CSPH_ERR_LOCKED ? 2 : err.code == CSPH_ERR_IO ? 4 : 2;
        goto done;
    }
    struct hub_clock clock;
    hub_clock_init_real(&clock);
    struct hub_ctx h = {.cfg = &cfg, .clock = &clock, .core = core, .schemas = schemas};
    msgpack_sbuffer_init(&h.items);
    msgpack_zone_init(&h.scan_zone, 4096);
    char line[65536];
    int lineno = 0;
    uint64_t applied = 0, skipped = 0, events = 0, failed = 0;
    status = 0;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (line[0] == '\n' || line[0] == '#')
            continue;
        json_error_t je;
        json_t *o2 = json_loads(line, 0, &je);
        const char *person = NULL, *reason = NULL, *basis = NULL, *request = NULL, *by = NULL;
        if (!o2 || json_unpack_ex(o2, &je, 0, "{s:s,s:s,s:s,s:s,s:s}", "person", &person,
                                  "reason", &reason, "basis", &basis, "request", &request, "by",
                                  &by) ||
            (strcmp(request, "erase") && strcmp(request, "restrict"))) {
            fprintf(out, "%s:%d: not a register line (%s): nothing re-applied from it\n", file,
                    lineno, o2 ? (request && strcmp(request, "erase") && strcmp(request,
                        "restrict") ? "'request' must be erase or restrict" : je.text)
                               : je.text);
            json_decref(o2);
            failed++;
            status = 2;
            continue;
        }
        uint64_t count = 0, rej = 0;
        char why[400] = "";
        int r = reapply_one(&h, person, reason, basis, !strcmp(request, "restrict"), by,
                            hub_clock_now_ms(&clock), &count, &rej, why, sizeof why);
        if (r == 0) {
            applied++;
            events += count;
            fprintf(out, "%s:%d: %s of %s re-applied: %llu events, %llu kept rejections\n", file,
                    lineno, request, person, (unsigned long long)count, (unsigned long long)rej);
        } else if (r == 1) {
            skipped++;
            fprintf(out, "%s:%d: %s of %s: nothing left to %s (done already)\n", file, lineno,
                    request, person, request);
        } else {
            failed++;
            status = 2;
            fprintf(out, "%s:%d: %s of %s NOT re-applied: %s\n", file, lineno, request, person,
                    why);
        }
        json_decref(o2);
    }
    msgpack_sbuffer_destroy(&h.items);
    msgpack_zone_destroy(&h.scan_zone);
    hub_core_close(&core);
    fprintf(out, "%llu re-applied (%llu events), %llu done already, %llu failed\n",
            (unsigned long long)applied, (unsigned long long)events, (unsigned long long)skipped,
            (unsigned long long)failed);
    if (applied) {
        /* What the erasures freed is still in LMDB's pages: compact. */
        struct hub_compact_stats st;
        if (hub_compact(cfg.data_dir, cfg.limits.map_size, &st, &err)) {
            fprintf(out, "compaction failed: %s (run csphubd --compact)\n", err.message);
            status = err.code == CSPH_ERR_IO ? 4 : 2;
        } else {
            fprintf(out, "compacted: %llu records copied into a fresh data.mdb; old bytes "
                         "zeroed\n",
                    (unsigned long long)st.records);
        }
    }
done:
    fclose(f);
    hub_core_close(&core);
    hub_rules_destroy(&rules);
    hub_schemas_destroy(&schemas);
    return status;
}
