/* test_whatif: `csphubd --what-if` (a candidate rule file over a hub's
 * whole log, the hub running) and the rule set in force kept in the log
 * (rules.loaded), which --rederive follows across a SIGHUP reload. Each
 * test runs the real daemon on a directory of its own with a small rule
 * file of its own (so that the default pack's edits do not move it). */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

/* Two rules: 3 ASB reports by a victim within 183 days; every high-risk
 * domestic abuse incident. */
static const char RULES[] =
    "calendar: calendar.yaml\n"
    "rules:\n"
    "  - name: asb.victim\n"
    "    panel: asb-case-review\n"
    "    when: asb.report\n"
    "    key: victim\n"
    "    window_days: 183\n"
    "    tiers:\n"
    "      - {at_least: 3, priority: standard, due_working_days: 10}\n"
    "    reason: \"{count} ASB reports by victim {key} between {first} and {last}\"\n"
    "  - name: marac.high-risk\n"
    "    panel: marac\n"
    "    when: da.incident\n"
    "    match:\n"
    "      - any: [\"dash_score >= 14\", \"risk = high\"]\n"
    "    key: victim\n"
    "    priority: high\n"
    "    reason: \"High-risk domestic abuse: victim {key}\"\n";

struct fx {
    char *tmp;
    char data[600], cfg[600], rules[600], cand[600], whatif_tmp[600];
    struct tu_hub hub;
    struct tu_client c;
    int running;
};

/* ---- files ---------------------------------------------------------------- */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    size_t got;
    while ((got = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0)
            b = realloc(b, cap *= 2);
    }
    fclose(f);
    b[n] = 0;
    if (len)
        *len = n;
    return b;
}

/* RULES with its threshold of 3 replaced by at_least (the candidate). */
static void write_rules(const char *path, int at_least)
{
    char text[sizeof RULES + 16];
    const char *hit = strstr(RULES, "at_least: 3");
    assert_non_null(hit);
    snprintf(text, sizeof text, "%.*sat_least: %d%s", (int)(hit - RULES), RULES, at_least,
             hit + strlen("at_least: 3"));
    write_file(path, text);
}

/* ---- fixture -------------------------------------------------------------- */

static void start_hub(struct fx *f)
{
    assert_int_equal(tu_hub_start(&f->hub, f->data, "--config", f->cfg, NULL), 0);
    tu_client_open(&f->c, f->hub.endpoint, ZMQ_DEALER);
    f->running = 1;
}

static void stop_hub(struct fx *f)
{
    tu_client_close(&f->c);
    f->running = 0;
    assert_int_equal(tu_hub_stop(&f->hub), 0);
}

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    f->tmp = tu_tmpdir("wi");
    snprintf(f->data, sizeof f->data, "%s/data", f->tmp);
    snprintf(f->cfg, sizeof f->cfg, "%s/hub.yaml", f->tmp);
    snprintf(f->rules, sizeof f->rules, "%s/rules.yaml", f->tmp);
    snprintf(f->cand, sizeof f->cand, "%s/candidate.yaml", f->tmp);
    snprintf(f->whatif_tmp, sizeof f->whatif_tmp, "%s/tmpdir", f->tmp);
    mkdir(f->whatif_tmp, 0700);
    char cal[700], src[700];
    snprintf(src, sizeof src, "%s/calendar.yaml",
             tu_env("CSPH_CONFIG_DIR", CSPH_SOURCE_DIR "/config"));
    snprintf(cal, sizeof cal, "%s/calendar.yaml", f->tmp);
    char *text = read_file(src, NULL);
    assert_non_null(text);
    write_file(cal, text);
    free(text);
    write_rules(f->rules, 3);
    write_rules(f->cand, 2);
    write_file(f->cfg, "rules_file: rules.yaml\n");
    start_hub(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    int rc = 0;
    if (f->running) {
        tu_client_close(&f->c);
        rc = tu_hub_stop(&f->hub);
    }
    tu_rmrf(f->tmp);
    free(f->tmp);
    free(f);
    return rc == 0 ? 0 : -1;
}

/* ---- running csphubd to completion ----------------------------------------- */

/* Run csphubd with args (NULL-terminated) and $TMPDIR = f->whatif_tmp:
 * its exit status, stdout and stderr (malloc'd, NUL-terminated). */
static int run(struct fx *f, char **out, char **err, ...)
{
    const char *argv[32];
    int k = 0;
    argv[k++] = tu_env("CSPH_HUBD", "csphubd");
    va_list ap;
    va_start(ap, err);
    const char *a;
    while ((a = va_arg(ap, const char *)) && k < 30)
        argv[k++] = a;
    va_end(ap);
    argv[k] = NULL;
    char po[700], pe[700];
    snprintf(po, sizeof po, "%s/run.out", f->tmp);
    snprintf(pe, sizeof pe, "%s/run.err", f->tmp);
    pid_t pid = fork();
    if (pid == 0) {
        int o = open(po, O_WRONLY | O_CREAT | O_TRUNC, 0600),
            e = open(pe, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(o, 1);
        dup2(e, 2);
        setenv("TMPDIR", f->whatif_tmp, 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    /* Wait on a pidfd with a deadline rather than for ever. */
    int pfd = (int)syscall(SYS_pidfd_open, pid, 0), status;
    struct pollfd p = {pfd, POLLIN, 0};
    if (pfd >= 0 && poll(&p, 1, 120000) != 1) {
        kill(pid, SIGKILL);
        fail_msg("csphubd %s did not finish within 120 s", argv[1]);
    }
    if (pfd >= 0)
        close(pfd);
    waitpid(pid, &status, 0);
    *out = read_file(po, NULL);
    *err = read_file(pe, NULL);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* ---- the hub ---------------------------------------------------------------- */

static void publish(struct fx *f, const char *id, const char *type, const char *rest)
{
    msgpack_object r = tu_call(&f->c,
                               "{\"op\":\"publish\",\"event\":{\"id\":\"%s\",\"type\":\"%s\","
                               "\"source\":\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\",%s}}",
                               id, type, rest);
    if (tu_bool(&r, "ok") != 1 || strcmp(tu_str(&r, "status"), "accepted") != 0)
        fail_msg("publish %s: %s", id, tu_dump(&r));
}

static void asb(struct fx *f, const char *id, const char *victim)
{
    char rest[256];
    snprintf(rest, sizeof rest,
             "\"victim\":\"%s\",\"location\":{\"lsoa\":\"E01000916\"},\"category\":\"personal\"",
             victim);
    publish(f, id, "asb.report", rest);
}

static int64_t counter(struct fx *f, const char *name)
{
    msgpack_object r = tu_call(&f->c, "{\"op\":\"stats\"}");
    char path[128];
    snprintf(path, sizeof path, "counters.%s", name);
    return tu_int(&r, path);
}

static const char *rule_version(struct fx *f)
{
    static char v[64];
    msgpack_object r = tu_call(&f->c, "{\"op\":\"stats\"}");
    snprintf(v, sizeof v, "%s", tu_str(&r, "counters.rule_version"));
    return v;
}

/* SIGHUP, then wait (bounded, no sleep) until the hub counted the reload. */
static void reload(struct fx *f)
{
    int64_t before = counter(f, "rule_reloads"), deadline = tu_now_ms() + 10000;
    kill(f->hub.pid, SIGHUP);
    while (counter(f, "rule_reloads") == before && tu_now_ms() < deadline)
        ;
    assert_int_equal(counter(f, "rule_reloads"), before + 1);
}

/* The log's rules.loaded events: how many, and the digest of the one at
 * index i (when digest is given). */
static uint32_t rules_loaded(struct fx *f, uint32_t i, char *digest, size_t n, uint64_t *seq)
{
    msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\",\"types\":[\"rules.loaded\"]}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    const msgpack_object *evs = tu_get(&r, "events");
    assert_non_null(evs);
    if (digest && i < evs->via.array.size) {
        char path[64];
        snprintf(path, sizeof path, "events.%u.event.digest", i);
        snprintf(digest, n, "%s", tu_str(&r, path));
        snprintf(path, sizeof path, "events.%u.seq", i);
        if (seq)
            *seq = (uint64_t)tu_int(&r, path);
    }
    return evs->via.array.size;
}

/* The events of the what-if examples: V-1 twice (an alert only at 2),
 * V-2 three times (at 3 for the hub, at 2 for the candidate: another
 * anchor), V-9 a high-risk incident, accepted by the panel (alert 2), and
 * alert 1 (V-2) acknowledged. */
static void feed(struct fx *f)
{
    asb(f, "a1", "V-1");
    asb(f, "a2", "V-1");
    asb(f, "a3", "V-2");
    asb(f, "a4", "V-2");
    asb(f, "a5", "V-2");
    publish(f, "d1", "da.incident", "\"victim\":\"V-9\",\"dash_score\":16");
    msgpack_object r =
        tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":2,\"status\":\"accepted\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"acknowledged\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    assert_int_equal(counter(f, "alerts.asb-case-review"), 1);
    assert_int_equal(counter(f, "alerts.marac"), 1);
}

static json_int_t jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_integer(v))
        fail_msg("no integer '%s' in the JSON", key);
    return json_integer_value(v);
}

/* No csphub-whatif-* directory left behind in $TMPDIR. */
static void expect_tmpdir_empty(struct fx *f)
{
    DIR *d = opendir(f->whatif_tmp);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            fail_msg("--what-if left %s/%s behind", f->whatif_tmp, e->d_name);
    closedir(d);
}

/* ---- what-if ------------------------------------------------------------------ */

/* A candidate with a lower threshold, over the log of the running hub:
 * the alerts it adds (and the one it raises earlier, so at another anchor)
 * as a table and as JSON whose counts add up. */
static void test_whatif_lower_threshold(void **state)
{
    struct fx *f = *state;
    feed(f);
    char *out, *err;
    int rc = run(f, &out, &err, "--what-if", f->cand, "--data", f->data, "--config", f->cfg,
                 "--json", NULL);
    if (rc != 1)
        fail_msg("--what-if exited %d, want 1 (differences)\nstdout: %s\nstderr: %s", rc, out, err);
    json_error_t je;
    json_t *o = json_loads(out, 0, &je);
    if (!o)
        fail_msg("stdout is not one JSON object (%s): %s", je.text, out);
    assert_int_equal(jint(o, "added"), 2);   /* V-1 at 2; V-2 at 2 */
    assert_int_equal(jint(o, "removed"), 1); /* V-2 at 3 */
    assert_int_equal(jint(o, "changed"), 0);
    assert_int_equal(jint(o, "same"), 1); /* V-9 */
    json_t *alerts = json_object_get(o, "alerts");
    assert_int_equal(jint(alerts, "hub"), 2);
    assert_int_equal(jint(alerts, "candidate"), 3);
    /* rules.loaded, 6 events, 2 decisions, and the case V-9's acceptance opened */
    assert_int_equal(jint(o, "events"), 10);
    assert_true(json_is_true(json_object_get(o, "difference")));
    json_t *dec = json_object_get(o, "decisions");
    assert_int_equal(jint(dec, "carried"), 1);   /* V-9's acceptance */
    assert_int_equal(jint(dec, "unmatched"), 1); /* V-2's alert at 3: the candidate has none */
    assert_string_equal(json_string_value(json_object_get(o, "hub_rule_version")),
                        rule_version(f));
    /* per rule and panel: the counts add up to the totals */
    json_t *groups = json_object_get(o, "groups");
    assert_true(json_is_array(groups));
    assert_int_equal(json_array_size(groups), 1);
    json_int_t added = 0, removed = 0, changed = 0;
    size_t i;
    json_t *g;
    json_array_foreach(groups, i, g) {
        added += jint(g, "added");
        removed += jint(g, "removed");
        changed += jint(g, "changed");
    }
    assert_int_equal(added, jint(o, "added"));
    assert_int_equal(removed, jint(o, "removed"));
    assert_int_equal(changed, jint(o, "changed"));
    g = json_array_get(groups, 0);
    assert_string_equal(json_string_value(json_object_get(g, "rule")), "asb.victim");
    assert_string_equal(json_string_value(json_object_get(g, "panel")), "asb-case-review");
    json_t *ex = json_object_get(json_object_get(g, "examples"), "added");
    assert_int_equal(json_array_size(ex), 2);
    json_t *a0 = json_array_get(ex, 0);
    /* the examples are the earliest raised, in id order */
    assert_true(jint(a0, "id") < jint(json_array_get(ex, 1), "id"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(a0, "key"), "victim")),
                        "V-1");
    assert_int_equal(jint(a0, "evidence"), 2);
    assert_string_equal(json_string_value(json_object_get(a0, "priority")), "standard");
    assert_non_null(strstr(json_string_value(json_object_get(a0, "reason")),
                           "2 ASB reports by victim V-1"));
    ex = json_object_get(json_object_get(g, "examples"), "removed");
    assert_int_equal(json_array_size(ex), 1);
    assert_int_equal(jint(json_array_get(ex, 0), "evidence"), 3);
    json_decref(o);
    /* the time and memory on stderr */
    assert_non_null(strstr(err, "what-if took"));
    assert_non_null(strstr(err, "peak memory"));
    assert_non_null(strstr(err, "private ")); /* its own memory, without the logs' pages */
    free(out);
    free(err);

    /* the same as a table */
    rc = run(f, &out, &err, "--what-if", f->cand, "--data", f->data, "--config", f->cfg, NULL);
    assert_int_equal(rc, 1);
    if (!strstr(out, "asb.victim") || !strstr(out, "asb-case-review") ||
        !strstr(out, "victim=V-1") || !strstr(out, "what-if took") || !strstr(out, "total"))
        fail_msg("the table lacks what it should show:\n%s", out);
    free(out);
    free(err);
    expect_tmpdir_empty(f);
    /* the hub went on as before */
    asb(f, "a6", "V-1");
    assert_int_equal(counter(f, "alerts.asb-case-review"), 2);
}

/* The hub's own rules as the candidate: no difference, exit 0. */
static void test_whatif_same_rules(void **state)
{
    struct fx *f = *state;
    feed(f);
    char *out, *err;
    int rc = run(f, &out, &err, "--what-if", f->rules, "--data", f->data, "--config", f->cfg,
                 NULL);
    if (rc != 0 || !strstr(out, "no difference"))
        fail_msg("--what-if with the same rules exited %d:\n%s\n%s", rc, out, err);
    assert_non_null(strstr(out, "2 carried over"));
    free(out);
    free(err);
    rc = run(f, &out, &err, "--what-if", f->rules, "--data", f->data, "--config", f->cfg,
             "--json", NULL);
    assert_int_equal(rc, 0);
    json_t *o = json_loads(out, 0, NULL);
    assert_non_null(o);
    assert_int_equal(jint(o, "added") + jint(o, "removed") + jint(o, "changed"), 0);
    assert_int_equal(jint(o, "same"), 2);
    assert_true(json_is_false(json_object_get(o, "difference")));
    assert_int_equal(json_array_size(json_object_get(o, "groups")), 0);
    json_decref(o);
    free(out);
    free(err);
    /* a candidate that does not load: exit 2, the reason on stderr */
    write_file(f->cand, "rules:\n  - name: x\n    windw_days: 3\n");
    rc = run(f, &out, &err, "--what-if", f->cand, "--data", f->data, "--config", f->cfg, NULL);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(err, "windw_days"));
    free(out);
    free(err);
    expect_tmpdir_empty(f);
}

struct file_state {
    char name[256];
    off_t size;
    struct timespec mtime, ctime;
    char *bytes;
    size_t len;
};

/* Every file of dir: name, size, times and content. LMDB's lock files
 * (lock.mdb, index.mdb-lock) are its readers' shared memory: every reader
 * (--verify too) takes a slot in them, so only that they are there counts. */
static size_t dir_state(const char *dir, struct file_state *out, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    size_t n = 0;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        assert_true(n < cap);
        char path[1200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        assert_int_equal(stat(path, &st), 0);
        struct file_state *s = &out[n++];
        memset(s, 0, sizeof *s);
        snprintf(s->name, sizeof s->name, "%s", e->d_name);
        if (!strcmp(e->d_name, "lock.mdb") || !strcmp(e->d_name, "index.mdb-lock"))
            continue;
        s->size = st.st_size;
        s->mtime = st.st_mtim;
        s->ctime = st.st_ctim;
        /* The LMDB files are sparse (index.mdb's map is gigabytes): their
         * times say whether they were written; small ones are read. */
        if (st.st_blocks * 512 < (1 << 20) && st.st_size < (1 << 20))
            s->bytes = read_file(path, &s->len);
    }
    closedir(d);
    return n;
}

static void expect_same_state(struct file_state *a, size_t na, struct file_state *b, size_t nb)
{
    if (na != nb)
        fail_msg("the data directory held %zu files, now %zu", na, nb);
    for (size_t i = 0; i < na; i++) {
        size_t j = 0;
        while (j < nb && strcmp(a[i].name, b[j].name))
            j++;
        if (j == nb)
            fail_msg("%s is gone from the data directory", a[i].name);
        if (a[i].size != b[j].size || a[i].mtime.tv_sec != b[j].mtime.tv_sec ||
            a[i].mtime.tv_nsec != b[j].mtime.tv_nsec || a[i].ctime.tv_sec != b[j].ctime.tv_sec ||
            a[i].ctime.tv_nsec != b[j].ctime.tv_nsec || a[i].len != b[j].len ||
            (a[i].len && memcmp(a[i].bytes, b[j].bytes, a[i].len)))
            fail_msg("%s in the data directory was modified", a[i].name);
    }
    for (size_t i = 0; i < na; i++)
        free(a[i].bytes);
    for (size_t i = 0; i < nb; i++)
        free(b[i].bytes);
}

static char *verify_line(struct fx *f)
{
    char *out, *err;
    int rc = run(f, &out, &err, "--verify", "--data", f->data, "--config", f->cfg, NULL);
    if (rc != 0)
        fail_msg("--verify exited %d: %s%s", rc, out, err);
    free(err);
    return out;
}

/* --what-if changes nothing in the directory: the hub running (the
 * --verify line and the log are the same after), and stopped (no file is
 * modified at all). */
static void test_whatif_changes_nothing(void **state)
{
    struct fx *f = *state;
    feed(f);
    struct file_state before[16], after[16];
    char path[700];
    snprintf(path, sizeof path, "%s/data.mdb", f->data);
    char *v1 = verify_line(f);
    size_t log1len, log2len;
    char *log1 = read_file(path, &log1len);
    char *out, *err;
    assert_int_equal(run(f, &out, &err, "--what-if", f->cand, "--data", f->data, "--config",
                         f->cfg, NULL),
                     1);
    free(out);
    free(err);
    char *v2 = verify_line(f);
    char *log2 = read_file(path, &log2len);
    assert_string_equal(v1, v2);
    assert_int_equal(log1len, log2len);
    assert_memory_equal(log1, log2, log1len);
    free(v1);
    free(v2);
    free(log1);
    free(log2);

    /* stopped: every file as it was */
    stop_hub(f);
    v1 = verify_line(f);
    size_t na = dir_state(f->data, before, 16);
    assert_int_equal(run(f, &out, &err, "--what-if", f->cand, "--data", f->data, "--config",
                         f->cfg, "--json", NULL),
                     1);
    free(out);
    free(err);
    size_t nb = dir_state(f->data, after, 16);
    expect_same_state(before, na, after, nb);
    v2 = verify_line(f);
    assert_string_equal(v1, v2);
    free(v1);
    free(v2);
    expect_tmpdir_empty(f);
    start_hub(f);
}

/* ---- rules.loaded ------------------------------------------------------------- */

/* The rule set in force is in the log: once at start, again after a
 * reload that changed it, not after one that did not, nor after a restart
 * with the same file. It holds the files' texts; clients cannot write it. */
static void test_rules_loaded_in_the_log(void **state)
{
    struct fx *f = *state;
    char digest[64];
    uint64_t seq;
    assert_int_equal(rules_loaded(f, 0, digest, sizeof digest, &seq), 1);
    assert_int_equal(seq, 1);
    char v1[64];
    snprintf(v1, sizeof v1, "%s", rule_version(f));
    assert_string_equal(digest, v1);
    /* the texts as the files hold them */
    msgpack_object r = tu_call(&f->c, "{\"op\":\"replay\",\"types\":[\"rules.loaded\"]}");
    const msgpack_object *t = tu_get(&r, "events.0.event.rules_text");
    assert_non_null(t);
    assert_int_equal(t->type, MSGPACK_OBJECT_STR);
    size_t len;
    char *text = read_file(f->rules, &len);
    assert_int_equal(t->via.str.size, len);
    assert_memory_equal(t->via.str.ptr, text, len);
    free(text);
    assert_string_equal(tu_str(&r, "events.0.event.rules_name"), "rules.yaml");
    assert_string_equal(tu_str(&r, "events.0.event.calendar_name"), "calendar.yaml");
    assert_string_equal(tu_str(&r, "events.0.event.source"), "hub");

    asb(f, "a1", "V-1");
    reload(f); /* the same file */
    assert_int_equal(rules_loaded(f, 0, NULL, 0, NULL), 1);
    assert_string_equal(rule_version(f), v1);

    write_rules(f->rules, 2); /* a changed file */
    reload(f);
    assert_int_equal(rules_loaded(f, 1, digest, sizeof digest, &seq), 2);
    assert_string_not_equal(digest, v1);
    assert_string_equal(digest, rule_version(f));
    assert_int_equal(seq, 3);

    reload(f); /* the same again */
    assert_int_equal(rules_loaded(f, 0, NULL, 0, NULL), 2);
    stop_hub(f); /* a restart with the same file */
    start_hub(f);
    assert_int_equal(rules_loaded(f, 0, NULL, 0, NULL), 2);

    /* a client may not publish one */
    r = tu_call(&f->c, "{\"op\":\"publish\",\"event\":{\"id\":\"x\",\"type\":\"rules.loaded\","
                       "\"source\":\"police\",\"occurred_at\":\"2025-03-01T21:14:00Z\","
                       "\"digest\":\"abcd\",\"rules_name\":\"r.yaml\",\"rules_text\":\"\"}}");
    assert_int_equal(tu_bool(&r, "ok"), 0);
    assert_string_equal(tu_str(&r, "error.code"), "forbidden");
    assert_int_equal(rules_loaded(f, 0, NULL, 0, NULL), 2);
}

/* --rederive of a log whose rules changed mid-way (SIGHUP) is identical:
 * each part is re-derived through the rules then in force, whatever the
 * rule file says today. */
static void test_rederive_across_reload(void **state)
{
    struct fx *f = *state;
    asb(f, "a1", "V-1");
    asb(f, "a2", "V-1");
    asb(f, "a3", "V-2");
    assert_int_equal(counter(f, "alerts.asb-case-review"), 0);
    write_rules(f->rules, 2);
    reload(f);
    asb(f, "a4", "V-3");
    asb(f, "a5", "V-3"); /* 2 for V-3: an alert under the new rules */
    asb(f, "a6", "V-1"); /* V-1's third: the new tier (2) reached */
    assert_int_equal(counter(f, "alerts.asb-case-review"), 2);
    msgpack_object r = tu_call(&f->c, "{\"op\":\"alert.update\",\"id\":1,\"status\":\"accepted\"}");
    assert_int_equal(tu_bool(&r, "ok"), 1);
    write_rules(f->rules, 3); /* the file as it was: not what was in force */

    char re[700];
    char *out, *err;
    snprintf(re, sizeof re, "%s/re1", f->tmp);
    int rc = run(f, &out, &err, "--rederive", f->data, "--data", re, "--config", f->cfg, NULL);
    if (rc != 0 || !strstr(out, "2 alerts in the hub, 2 re-derived, 2 identical") ||
        !strstr(out, "2 rule sets in the log"))
        fail_msg("--rederive exited %d:\n%s%s", rc, out, err);
    free(out);
    free(err);

    /* stopped, and re-derived again: the same */
    stop_hub(f);
    snprintf(re, sizeof re, "%s/re2", f->tmp);
    rc = run(f, &out, &err, "--rederive", f->data, "--data", re, "--config", f->cfg, NULL);
    if (rc != 0)
        fail_msg("--rederive exited %d:\n%s%s", rc, out, err);
    free(out);
    free(err);
    start_hub(f);
}

/* A log with no rules.loaded (a hub run without rules) re-derived through
 * rules: the configured rules apply, and the differences come per rule and
 * panel. */
static void test_rederive_summary(void **state)
{
    struct fx *f = *state;
    stop_hub(f);
    tu_rmrf(f->data);
    write_file(f->cfg, "rules_file: none\n");
    start_hub(f);
    assert_int_equal(rules_loaded(f, 0, NULL, 0, NULL), 0);
    asb(f, "a1", "V-1");
    asb(f, "a2", "V-1");
    asb(f, "a3", "V-1");
    publish(f, "d1", "da.incident", "\"victim\":\"V-9\",\"dash_score\":16");
    stop_hub(f);
    char cfg2[700], re[700];
    snprintf(cfg2, sizeof cfg2, "%s/with-rules.yaml", f->tmp);
    write_file(cfg2, "rules_file: rules.yaml\n");
    snprintf(re, sizeof re, "%s/re", f->tmp);
    char *out, *err;
    int rc = run(f, &out, &err, "--rederive", f->data, "--data", re, "--config", cfg2, NULL);
    if (rc != 1 || !strstr(out, "MISMATCH") || !strstr(out, "asb.victim") ||
        !strstr(out, "marac.high-risk") || !strstr(out, "victim=V-1"))
        fail_msg("--rederive exited %d:\n%s%s", rc, out, err);
    assert_non_null(strstr(out, "0 alerts in the hub, 2 in the re-derived"));
    free(out);
    free(err);
    write_file(f->cfg, "rules_file: rules.yaml\n");
    start_hub(f);
}

/* A hub killed with its index behind the log, restarted with an edited
 * rule file: the events the index had not taken are brought in under the
 * rules in force when they arrived (the log's rules.loaded), not the new
 * ones, so the live hub goes on as --rederive says it should. With the new
 * threshold (2) applied to them, V-1's second report would have counted
 * as the tier reached (no alert: they are not raised twice) and its third
 * would raise nothing. */
static void test_catch_up_under_the_rules_then_in_force(void **state)
{
    struct fx *f = *state;
    stop_hub(f);
    tu_rmrf(f->data);
    write_file(f->cfg, "rules_file: rules.yaml\nlimits:\n  index_hold_ms: 60000\n");
    start_hub(f);
    asb(f, "a1", "V-1");
    asb(f, "a2", "V-1"); /* held in the index transaction */
    tu_client_close(&f->c);
    f->running = 0;
    tu_hub_kill9(&f->hub);
    write_rules(f->rules, 2);
    start_hub(f);
    assert_int_equal(rules_loaded(f, 0, NULL, 0, NULL), 2);
    assert_int_equal(counter(f, "alerts.asb-case-review"), 0);
    asb(f, "a3", "V-1");
    assert_int_equal(counter(f, "alerts.asb-case-review"), 1);
    char re[700];
    char *out, *err;
    snprintf(re, sizeof re, "%s/re", f->tmp);
    int rc = run(f, &out, &err, "--rederive", f->data, "--data", re, "--config", f->cfg, NULL);
    if (rc != 0)
        fail_msg("--rederive exited %d:\n%s%s", rc, out, err);
    free(out);
    free(err);
}

/* A rebuild of the index (after a power cut) runs older rule sets through
 * engines of their own: every one must see the series the others wrote, or
 * a person's third report would find "no earlier reports" and raise
 * nothing. */
static void test_rebuild_across_rule_sets_keeps_counts(void **state)
{
    struct fx *f = *state;
    asb(f, "b0", "V-0");
    write_rules(f->rules, 5);
    reload(f);
    asb(f, "b1", "V-1");
    asb(f, "b2", "V-1");
    write_rules(f->rules, 3);
    reload(f);
    stop_hub(f);
    char path[800];
    static const char *const index_files[] = {"index.mdb", "index.mdb-lock", "index.state"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", f->data, index_files[i]);
        assert_int_equal(unlink(path), 0);
    }
    start_hub(f);
    assert_int_equal(counter(f, "alerts.asb-case-review"), 0);
    asb(f, "b3", "V-1");
    assert_int_equal(counter(f, "alerts.asb-case-review"), 1);
}

/* Editing what a rule counts (here, a test added that the earlier reports
 * also meet) keeps its windows: they are filled from the log at the
 * reload, so the third report completes the window. */
static void test_edited_rule_counts_the_log(void **state)
{
    struct fx *f = *state;
    asb(f, "e1", "V-1");
    asb(f, "e2", "V-1");
    char *text = read_file(f->rules, NULL);
    const char *at = strstr(text, "    key: victim\n    window_days: 183");
    assert_non_null(at);
    char edited[sizeof RULES + 128];
    snprintf(edited, sizeof edited, "%.*s    match: [\"category = personal\"]\n%s",
             (int)(at - text), text, at);
    write_file(f->rules, edited);
    free(text);
    reload(f);
    assert_int_equal(counter(f, "alerts.asb-case-review"), 0);
    asb(f, "e3", "V-1");
    assert_int_equal(counter(f, "alerts.asb-case-review"), 1);
    /* and --rederive, following the reload in the log, agrees */
    char re[700];
    char *out, *err;
    snprintf(re, sizeof re, "%s/re", f->tmp);
    int rc = run(f, &out, &err, "--rederive", f->data, "--data", re, "--config", f->cfg, NULL);
    if (rc != 0)
        fail_msg("--rederive exited %d:\n%s%s", rc, out, err);
    free(out);
    free(err);
}

static void test_help(void **state)
{
    struct fx *f = *state;
    char *out, *err;
    assert_int_equal(run(f, &out, &err, "--help", NULL), 0);
    assert_non_null(strstr(out, "--what-if RULES"));
    assert_non_null(strstr(out, "--json"));
    free(out);
    free(err);
    assert_int_equal(run(f, &out, &err, "--json", NULL), 2);
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_whatif_lower_threshold, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whatif_same_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whatif_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rules_loaded_in_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rederive_across_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rederive_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_catch_up_under_the_rules_then_in_force, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rebuild_across_rule_sets_keeps_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edited_rule_counts_the_log, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
