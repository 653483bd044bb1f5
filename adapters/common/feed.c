/* feed.c: the hub side of every adapter (see feed.h). */
#define _GNU_SOURCE /* strdup, asprintf */
#include "feed.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <msgpack.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "csphub.h"
#include "timefmt.h"

#define FEED_REASONS_MAX 1000 /* distinct reasons kept; more are counted as "other" */
/* The hub's socket drops a peer that sends a message over 1 MiB
 * (PROTOCOL.md section 1), and the client library would resend it for
 * ever: a batch is sent early before it grows past this, and a single
 * event that could never fit is rejected here. */
#define FEED_REQUEST_BYTES (768 * 1024)
#define FEED_EVENT_MAX_BYTES (1000 * 1000)
#define STATE_MAGIC "csphub-state 1"

/* A group of records that went the same way: rejected with the same
 * (code, field, message), or skipped for the same reason (message only). */
struct reason {
    char *code, *field, *message;
    uint64_t count;
    int local; /* rejected here, not by the hub */
};

struct reasons {
    struct reason *v;
    size_t n, cap;
    uint64_t other; /* beyond FEED_REASONS_MAX distinct reasons */
};

/* One of the first rejected records, for the summary. */
struct example {
    uint64_t rec, line;
    char *code, *field, *message, *detail;
};

struct counts {
    uint64_t accepted, duplicate, rejected, skipped;
};

struct feed {
    struct feed_options o;
    csph_client *c;
    /* Acknowledged records: a bit per record, and `done`, the highest
     * record number with every record up to it acknowledged. */
    uint8_t *bits;
    uint64_t bits_cap; /* records the bitmap covers */
    uint64_t done;
    uint64_t max_rec; /* the highest record read (or acknowledged in the state) */
    /* What earlier runs had acknowledged, from the state. */
    struct counts prior;
    int resumed;
    uint64_t resumed_done, resumed_acked; /* its watermark and its count of records */
    /* This run. */
    uint64_t read, already, sent, ignored;
    uint64_t rejected_local;
    struct counts now;
    uint64_t acks_since_save;
    struct reasons rejects, skips;
    struct example *ex;
    size_t nex;
    /* The input's identity, recorded in the state. */
    uint64_t in_size, in_head;
    /* Progress and timing. */
    int progress, tty;
    int64_t start_ms, last_print_ms, last_answer_ms;
    uint64_t bytes, total_bytes;
    /* The batch the library is gathering: events and bytes so far. */
    int batch_fill;
    size_t batch_bytes;
    /* Why the run stopped early. */
    int unreachable;
    char why[600];
};

static volatile sig_atomic_t g_signal, g_signals;

static void on_signal(int sig)
{
    g_signal = sig;
    g_signals++;
}

/* The secret key is not needed once the socket has it. */
static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return p;
}

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p) {
        fputs("out of memory\n", stderr);
        abort();
    }
    return p;
}

char *feed_default_state(const char *input)
{
    const char *base = strrchr(input, '/');
    base = base ? base + 1 : input;
    char *p;
    if (asprintf(&p, "%s.state", base) < 0)
        abort();
    return p;
}

/* ---- the acknowledgement bitmap ----------------------------------------- */

static void bits_grow(struct feed *f, uint64_t rec)
{
    if (rec < f->bits_cap)
        return;
    uint64_t cap = f->bits_cap ? f->bits_cap : 65536;
    while (cap <= rec)
        cap *= 2;
    uint8_t *b = realloc(f->bits, cap / 8);
    if (!b) {
        fputs("out of memory\n", stderr);
        abort();
    }
    memset(b + f->bits_cap / 8, 0, (cap - f->bits_cap) / 8);
    f->bits = b;
    f->bits_cap = cap;
}

static int bit_get(const struct feed *f, uint64_t rec)
{
    return rec < f->bits_cap && (f->bits[rec / 8] >> (rec % 8) & 1);
}

static void save_state(struct feed *f);

/* Record `rec` as acknowledged and move the watermark. */
static void ack(struct feed *f, uint64_t rec)
{
    bits_grow(f, rec);
    f->bits[rec / 8] |= (uint8_t)(1u << (rec % 8));
    if (rec > f->max_rec)
        f->max_rec = rec;
    while (bit_get(f, f->done + 1))
        f->done++;
    if (f->o.state_path && ++f->acks_since_save >= (uint64_t)f->o.save_every)
        save_state(f);
}

/* ---- reasons and examples --------------------------------------------- */

static void count_reason(struct reasons *rs, const char *code, const char *field,
                         const char *message, int local)
{
    code = code ? code : "";
    field = field ? field : "";
    message = message ? message : "";
    for (size_t i = 0; i < rs->n; i++) {
        struct reason *r = &rs->v[i];
        if (r->local == local && !strcmp(r->code, code) && !strcmp(r->field, field) &&
            !strcmp(r->message, message)) {
            r->count++;
            return;
        }
    }
    if (rs->n == FEED_REASONS_MAX) {
        rs->other++;
        return;
    }
    if (rs->n == rs->cap) {
        rs->cap = rs->cap ? rs->cap * 2 : 16;
        rs->v = realloc(rs->v, rs->cap * sizeof *rs->v);
        if (!rs->v)
            abort();
    }
    rs->v[rs->n++] = (struct reason){xstrdup(code), xstrdup(field), xstrdup(message), 1, local};
}

static void free_reasons(struct reasons *rs)
{
    for (size_t i = 0; i < rs->n; i++) {
        free(rs->v[i].code);
        free(rs->v[i].field);
        free(rs->v[i].message);
    }
    free(rs->v);
}

static void add_example(struct feed *f, uint64_t rec, uint64_t line, const char *code,
                        const char *field, const char *message, const char *detail)
{
    if (f->nex >= (size_t)f->o.show)
        return;
    f->ex[f->nex++] = (struct example){rec,
                                       line,
                                       xstrdup(code),
                                       xstrdup(field),
                                       xstrdup(message),
                                       detail ? xstrdup(detail) : NULL};
}

/* ---- the state file ------------------------------------------------------ */

/* FNV-1a over the first 64 KiB: enough to tell a different file of the
 * same size from the one an interrupted import was reading. */
static int input_identity(const char *path, uint64_t *size, uint64_t *head)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    *size = (uint64_t)st.st_size;
    uint64_t h = 1469598103934665603ULL;
    unsigned char buf[65536];
    ssize_t n = S_ISREG(st.st_mode) ? read(fd, buf, sizeof buf) : 0;
    for (ssize_t i = 0; i < n; i++) {
        h ^= buf[i];
        h *= 1099511628211ULL;
    }
    close(fd);
    *head = h;
    return 0;
}

static void save_state(struct feed *f)
{
    f->acks_since_save = 0;
    char *tmp;
    if (asprintf(&tmp, "%s.tmp.%ld", f->o.state_path, (long)getpid()) < 0)
        abort();
    FILE *fp = fopen(tmp, "w");
    if (!fp) {
        fprintf(stderr, "%s: cannot write the state %s: %s\n", f->o.program, tmp, strerror(errno));
        free(tmp);
        return;
    }
    fprintf(fp,
            "# csphub adapter state: the %ss of the input that the hub has acknowledged.\n"
            "# Written by %s; an interrupted import resumes from here. Delete it to\n"
            "# import the input from the start again (harmless: what the hub already\n"
            "# has comes back as duplicate).\n" STATE_MAGIC "\n",
            f->o.unit, f->o.program);
    fprintf(fp, "input %s\nsize %" PRIu64 "\nhead %016" PRIx64 "\nids %s\ndone %" PRIu64 "\n",
            f->o.input, f->in_size, f->in_head, f->o.ids ? f->o.ids : "", f->done);
    /* The acknowledged records above the watermark, as ranges. */
    fputs("acked", fp);
    for (uint64_t r = f->done + 1; r <= f->max_rec; r++) {
        if (!bit_get(f, r))
            continue;
        uint64_t e = r;
        while (e + 1 <= f->max_rec && bit_get(f, e + 1))
            e++;
        if (e == r)
            fprintf(fp, " %" PRIu64, r);
        else
            fprintf(fp, " %" PRIu64 "-%" PRIu64, r, e);
        r = e;
    }
    fprintf(fp, "\ncounts %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n",
            f->prior.accepted + f->now.accepted, f->prior.duplicate + f->now.duplicate,
            f->prior.rejected + f->now.rejected, f->prior.skipped + f->now.skipped);
    int bad = ferror(fp);
    bad |= fflush(fp) != 0;
    bad |= fsync(fileno(fp)) != 0;
    bad |= fclose(fp) != 0;
    if (bad || rename(tmp, f->o.state_path) != 0) {
        fprintf(stderr, "%s: cannot write the state %s: %s\n", f->o.program, f->o.state_path,
                strerror(errno));
        unlink(tmp);
    }
    free(tmp);
}

static int state_fail(struct feed *f, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int state_fail(struct feed *f, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s: %s:%d: ", f->o.program, f->o.state_path, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return FEED_EXIT_USAGE;
}

/* Read the state when the file exists; 0 or an exit status. */
static int load_state(struct feed *f)
{
    FILE *fp = fopen(f->o.state_path, "r");
    if (!fp) {
        if (errno == ENOENT)
            return 0;
        fprintf(stderr, "%s: cannot read the state %s: %s\n", f->o.program, f->o.state_path,
                strerror(errno));
        return FEED_EXIT_USAGE;
    }
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0, rc = 0, magic = 0, have_done = 0;
    uint64_t size = 0, head = 0;
    char *ids = NULL;
    while (rc == 0 && getline(&line, &cap, fp) >= 0) {
        lineno++;
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#' || line[0] == 0)
            continue;
        if (!magic) {
            if (strcmp(line, STATE_MAGIC) != 0)
                rc = state_fail(f, lineno, "not a csphub state file (expected '%s')", STATE_MAGIC);
            magic = 1;
            continue;
        }
        char *sp = strchr(line, ' ');
        const char *val = sp ? sp + 1 : "";
        if (sp)
            *sp = 0;
        char *end;
        if (!strcmp(line, "input")) {
            /* informational: the path may be given differently */
        } else if (!strcmp(line, "size")) {
            size = strtoull(val, &end, 10);
        } else if (!strcmp(line, "head")) {
            head = strtoull(val, &end, 16);
        } else if (!strcmp(line, "ids")) {
            free(ids);
            ids = xstrdup(val);
        } else if (!strcmp(line, "done")) {
            f->done = strtoull(val, &end, 10);
            if (*end)
                rc = state_fail(f, lineno, "'done' must be a record number");
            have_done = 1;
            if (f->done) {
                bits_grow(f, f->done);
                memset(f->bits, 0xff, f->done / 8 + 1);
                /* the bits above done in the last byte are not acknowledged */
                for (uint64_t r = f->done + 1; r < (f->done / 8 + 1) * 8; r++)
                    f->bits[r / 8] &= (uint8_t) ~(1u << (r % 8));
                f->bits[0] &= (uint8_t)~1u; /* record 0 does not exist */
                f->max_rec = f->done;
            }
        } else if (!strcmp(line, "acked")) {
            const char *p = val;
            while (rc == 0 && *p) {
                while (*p == ' ')
                    p++;
                if (!*p)
                    break;
                uint64_t a = strtoull(p, &end, 10), b = a;
                if (end == p) {
                    rc = state_fail(f, lineno, "'acked' must list record numbers and ranges");
                    break;
                }
                p = end;
                if (*p == '-') {
                    b = strtoull(p + 1, &end, 10);
                    p = end;
                }
                if (a == 0 || b < a || b - a > (1ULL << 32)) {
                    rc =
                        state_fail(f, lineno, "'acked' has a bad range %" PRIu64 "-%" PRIu64, a, b);
                    break;
                }
                bits_grow(f, b);
                for (uint64_t r = a; r <= b; r++)
                    f->bits[r / 8] |= (uint8_t)(1u << (r % 8));
                if (b > f->max_rec)
                    f->max_rec = b;
            }
        } else if (!strcmp(line, "counts")) {
            if (sscanf(val, "%" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64, &f->prior.accepted,
                       &f->prior.duplicate, &f->prior.rejected, &f->prior.skipped) != 4)
                rc = state_fail(f, lineno, "'counts' must be four numbers");
        } else {
            rc = state_fail(f, lineno, "unknown line '%s'", line);
        }
    }
    free(line);
    fclose(fp);
    if (rc == 0 && (!magic || !have_done))
        rc =
            state_fail(f, lineno, "incomplete state file (no '%s' or no 'done' line)", STATE_MAGIC);
    if (rc == 0 && (size != f->in_size || head != f->in_head))
        rc = state_fail(f, 1,
                        "was written for a different input (%" PRIu64 " bytes then, %" PRIu64
                        " now, or other content): remove %s to import %s from the start",
                        size, f->in_size, f->o.state_path, f->o.input);
    if (rc == 0 && strcmp(ids ? ids : "", f->o.ids ? f->o.ids : "") != 0)
        rc = state_fail(f, 1,
                        "was written with other event ids ('%s', now '%s': the mapping's id "
                        "scheme or prefix changed): resuming would send records under new ids; "
                        "remove %s to import from the start",
                        ids ? ids : "", f->o.ids ? f->o.ids : "", f->o.state_path);
    free(ids);
    if (rc)
        return rc;
    while (bit_get(f, f->done + 1))
        f->done++;
    f->resumed = 1;
    f->resumed_done = f->done;
    for (uint64_t r = 1; r <= f->max_rec; r++)
        f->resumed_acked += (uint64_t)bit_get(f, r);
    return 0;
}

/* ---- the hub ---------------------------------------------------------- */

static void on_result(void *ctx, const struct csph_result *r)
{
    struct feed *f = ctx;
    uint64_t rec = r->token & 0xffffffffu, line = r->token >> 32;
    f->last_answer_ms = now_ms();
    if (!strcmp(r->status, "accepted")) {
        f->now.accepted++;
    } else if (!strcmp(r->status, "duplicate")) {
        f->now.duplicate++;
    } else {
        /* In a batch the hub names the field with the event's position in
         * the request ("events.21.location"): the event's own path is what
         * groups rejections and what the sender can fix. */
        const char *field = r->field ? r->field : "";
        if (!strncmp(field, "events.", 7)) {
            const char *p = field + 7;
            while (*p >= '0' && *p <= '9')
                p++;
            if (p > field + 7 && (*p == '.' || *p == 0))
                field = *p ? p + 1 : p;
        }
        f->now.rejected++;
        count_reason(&f->rejects, r->code, field, r->message, 0);
        add_example(f, rec, line, r->code, field, r->message, NULL);
    }
    ack(f, rec);
}

int feed_open(struct feed **out, const struct feed_options *o)
{
    struct feed *f = xcalloc(1, sizeof *f);
    f->o = *o;
    if (f->o.window <= 0)
        f->o.window = 100;
    if (f->o.batch <= 0)
        f->o.batch = 100;
    if (f->o.save_every <= 0)
        f->o.save_every = 1000;
    if (f->o.timeout_s <= 0)
        f->o.timeout_s = 30;
    if (f->o.show < 0)
        f->o.show = 0;
    f->ex = xcalloc((size_t)f->o.show + 1, sizeof *f->ex);
    f->tty = isatty(2);
    f->progress = f->o.progress < 0 ? f->tty : f->o.progress;
    f->start_ms = f->last_print_ms = f->last_answer_ms = now_ms();
    int rc = 0;

    if (f->o.input) {
        if (input_identity(f->o.input, &f->in_size, &f->in_head) != 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", f->o.program, f->o.input, strerror(errno));
            rc = FEED_EXIT_USAGE;
            goto fail;
        }
        struct stat st;
        if (stat(f->o.input, &st) == 0 && S_ISREG(st.st_mode)) {
            f->total_bytes = (uint64_t)st.st_size;
        } else if (f->o.state_path) {
            /* A pipe cannot be read again: there is nothing to resume. */
            fprintf(stderr, "%s: %s is not a regular file: no state kept\n", f->o.program,
                    f->o.input);
            f->o.state_path = NULL;
        }
    }
    if (f->o.state_path && (rc = load_state(f)) != 0)
        goto fail;

    struct csph_client_options co = {
        .window = f->o.window,
        .batch = f->o.batch,
        .give_up_ms = f->o.timeout_s * 1000,
    };
    char err[512], spub[41] = "", ssec[41] = "", cpub[41] = "", csec[41] = "";
    if (!f->o.key_file != !f->o.server_key) {
        fprintf(stderr,
                "%s: CURVE needs both --key (this agency's key file) and --server-key "
                "(the hub's public key)\n",
                f->o.program);
        rc = FEED_EXIT_USAGE;
        goto fail;
    }
    if (f->o.key_file) {
        if (strlen(f->o.server_key) == 40 && access(f->o.server_key, F_OK) != 0) {
            memcpy(spub, f->o.server_key, 41);
        } else if (csph_key_file_read(f->o.server_key, spub, ssec, err, sizeof err) != 0) {
            fprintf(stderr, "%s: --server-key: %s\n", f->o.program, err);
            rc = FEED_EXIT_USAGE;
            goto fail;
        }
        if (csph_key_file_read(f->o.key_file, cpub, csec, err, sizeof err) != 0 || !csec[0]) {
            fprintf(stderr, "%s: --key: %s\n", f->o.program,
                    csec[0] ? err : "give the .key file (both keys), not the .pub file");
            rc = FEED_EXIT_USAGE;
            goto fail;
        }
        co.server_public_key = spub;
        co.public_key = cpub;
        co.secret_key = csec;
    }
    if (csph_client_open(&f->c, f->o.endpoint, &co, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", f->o.program, err);
        rc = FEED_EXIT_USAGE;
        goto fail;
    }
    wipe(csec, sizeof csec);
    csph_client_on_result(f->c, on_result, f);
    const char *reply;
    if (csph_client_request_json(f->c, "{\"op\":\"ping\"}", f->o.timeout_s * 1000, &reply) != 0) {
        fprintf(stderr,
                "%s: the hub at %s did not answer within %d s (is csphubd running there?%s)\n",
                f->o.program, f->o.endpoint, f->o.timeout_s,
                f->o.key_file ? " is this agency's key in its identity file?"
                              : " a hub with security curve needs --key and --server-key");
        rc = FEED_EXIT_UNREACHABLE;
        goto fail;
    }
    json_t *pong = json_loads(reply, 0, NULL);
    int ok = json_is_true(json_object_get(pong, "ok"));
    json_decref(pong);
    if (!ok) {
        fprintf(stderr, "%s: the hub at %s refused ping: %s\n", f->o.program, f->o.endpoint, reply);
        rc = FEED_EXIT_UNREACHABLE;
        goto fail;
    }

    /* No SA_RESTART: a read from a pipe returns on Ctrl-C. */
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    f->start_ms = f->last_print_ms = f->last_answer_ms = now_ms();
    *out = f;
    return 0;

fail:
    csph_client_close(&f->c);
    free(f->bits);
    free(f->ex);
    free(f);
    *out = NULL;
    return rc;
}

/* ---- progress --------------------------------------------------------- */

static void progress(struct feed *f, int final)
{
    if (!f->progress)
        return;
    int64_t now = now_ms();
    if (!final && now - f->last_print_ms < (f->tty ? 250 : 1000))
        return;
    f->last_print_ms = now;
    double s = (double)(now - f->start_ms) / 1000.0;
    char pct[32] = "";
    if (f->total_bytes)
        snprintf(pct, sizeof pct, " (%d%%)", (int)(f->bytes * 100 / f->total_bytes));
    fprintf(stderr, "%s%s: %" PRIu64 " %ss read%s, %" PRIu64 " answered, %.0f %ss/s%s",
            f->tty ? "\r" : "", f->o.program, f->read, f->o.unit, pct,
            f->now.accepted + f->now.duplicate + f->now.rejected, s > 0 ? (double)f->read / s : 0.0,
            f->o.unit, f->tty ? "   " : "\n");
}

/* ---- the reader's calls ----------------------------------------------- */

void feed_read(struct feed *f, uint64_t rec, uint64_t bytes)
{
    f->read++;
    f->bytes = bytes;
    if (rec > f->max_rec)
        f->max_rec = rec;
    bits_grow(f, rec);
    if (bit_get(f, rec))
        f->already++;
    progress(f, 0);
}

int feed_done(const struct feed *f, uint64_t rec)
{
    return bit_get(f, rec);
}

int feed_stopping(const struct feed *f)
{
    return g_signal != 0 || f->unreachable;
}

/* Wait, handling answers, until there is room for one more event without
 * the library blocking (where Ctrl-C could not reach us): while every
 * request in flight is a full batch, fewer than window * batch events
 * outstanding means a free slot. (After a batch sent early for its size
 * the library may still block, until a reply or --timeout.) Returns -1
 * when the reader should stop. */
static int make_room(struct feed *f)
{
    size_t cap = (size_t)f->o.window * (size_t)f->o.batch;
    if (csph_client_pending(f->c) == 0)
        f->last_answer_ms = now_ms(); /* idle time is not silence */
    while (csph_client_pending(f->c) >= cap) {
        if (g_signal)
            return -1;
        if (now_ms() - f->last_answer_ms > (int64_t)f->o.timeout_s * 1000) {
            f->unreachable = 1;
            snprintf(f->why, sizeof f->why, "the hub at %s answered nothing for %d s",
                     f->o.endpoint, f->o.timeout_s);
            return -1;
        }
        if (csph_client_poll(f->c, 100) != 0) {
            f->unreachable = 1;
            snprintf(f->why, sizeof f->why, "%s", csph_client_error(f->c));
            return -1;
        }
        progress(f, 0);
    }
    return 0;
}

int feed_publish(struct feed *f, uint64_t rec, uint64_t line, const void *event, size_t len)
{
    if (feed_stopping(f) || make_room(f) != 0) {
        f->read--; /* not handled: the next run reads it again */
        return -1;
    }
    if (len > FEED_EVENT_MAX_BYTES) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "the event is %zu bytes: over what one hub request may carry (1 MiB); the hub "
                 "takes events of up to 64 KiB",
                 len);
        feed_reject(f, rec, line, "too_large", "", msg, NULL);
        return 0;
    }
    if (f->batch_fill > 0 && f->batch_bytes + len > FEED_REQUEST_BYTES) {
        csph_client_flush(f->c, 0); /* sends the gathered batch now; returns at once */
        f->batch_fill = 0;
        f->batch_bytes = 0;
    }
    uint64_t token = (rec & 0xffffffffu) | (line << 32);
    if (csph_client_publish(f->c, event, len, token) != 0) {
        /* Only a malformed event gets here: the window had room. */
        feed_reject(f, rec, line, "bad_event", "", csph_client_error(f->c), NULL);
        return 0;
    }
    f->sent++;
    f->batch_bytes += len;
    if (++f->batch_fill == f->o.batch) { /* the library sent it as a full batch */
        f->batch_fill = 0;
        f->batch_bytes = 0;
    }
    return 0;
}

int feed_publish_json(struct feed *f, uint64_t rec, uint64_t line, json_t *event)
{
    /* One JSON -> MessagePack conversion for every program: the client
     * library's. */
    char *text = json_dumps(event, JSON_COMPACT | JSON_PRESERVE_ORDER);
    void *mp = NULL;
    size_t len = 0;
    char err[256];
    int rc;
    if (!text || csph_json_to_msgpack(text, strlen(text), &mp, &len, err, sizeof err) != 0) {
        feed_reject(f, rec, line, "bad_event", "", text ? err : "out of memory", NULL);
        rc = 0;
    } else {
        rc = feed_publish(f, rec, line, mp, len);
    }
    free(mp);
    free(text);
    return rc;
}

void feed_skip(struct feed *f, uint64_t rec, const char *reason)
{
    f->now.skipped++;
    count_reason(&f->skips, "", "", reason, 1);
    ack(f, rec);
}

void feed_reject(struct feed *f, uint64_t rec, uint64_t line, const char *code, const char *field,
                 const char *message, const char *detail)
{
    f->now.rejected++;
    f->rejected_local++;
    count_reason(&f->rejects, code, field, message, 1);
    add_example(f, rec, line, code, field, message, detail);
    ack(f, rec);
}

void feed_ignore(struct feed *f, uint64_t rec)
{
    f->ignored++;
    ack(f, rec);
}

/* ---- the end ---------------------------------------------------------- */

/* Wait for every outstanding answer: until none is left, the hub has been
 * silent for timeout_s, or a second Ctrl-C. */
static void drain(struct feed *f)
{
    int signals_before = g_signals;
    csph_client_flush(f->c, 0); /* sends the last partial batch; returns at once */
    if (csph_client_pending(f->c))
        f->last_answer_ms = now_ms();
    while (csph_client_pending(f->c) > 0) {
        if (g_signals > signals_before && g_signals >= 2)
            break;
        if (now_ms() - f->last_answer_ms > (int64_t)f->o.timeout_s * 1000) {
            f->unreachable = 1;
            snprintf(f->why, sizeof f->why, "the hub at %s answered nothing for %d s",
                     f->o.endpoint, f->o.timeout_s);
            break;
        }
        if (csph_client_poll(f->c, 100) != 0) {
            f->unreachable = 1;
            snprintf(f->why, sizeof f->why, "%s", csph_client_error(f->c));
            break;
        }
        progress(f, 0);
    }
}

static int cmp_example(const void *a, const void *b)
{
    const struct example *x = a, *y = b;
    return x->rec < y->rec ? -1 : x->rec > y->rec;
}

static int cmp_reason(const void *a, const void *b)
{
    const struct reason *x = a, *y = b;
    return x->count > y->count ? -1 : x->count < y->count;
}

static json_t *reasons_json(const struct reasons *rs, int with_code)
{
    json_t *a = json_array();
    for (size_t i = 0; i < rs->n; i++) {
        const struct reason *r = &rs->v[i];
        json_t *o = json_object();
        json_object_set_new(o, "count", json_integer((json_int_t)r->count));
        if (with_code) {
            json_object_set_new(o, "code", json_string(r->code));
            json_object_set_new(o, "field", json_string(r->field));
            json_object_set_new(o, "by", json_string(r->local ? "adapter" : "hub"));
        }
        json_object_set_new(o, with_code ? "message" : "reason", json_string(r->message));
        json_array_append_new(a, o);
    }
    if (rs->other) {
        json_t *o = json_object();
        json_object_set_new(o, "count", json_integer((json_int_t)rs->other));
        json_object_set_new(o, with_code ? "message" : "reason",
                            json_string("(other reasons, beyond the first 1000 distinct)"));
        json_array_append_new(a, o);
    }
    return a;
}

static void print_reason(const struct reason *r, int with_code)
{
    if (!with_code) {
        printf("  %8" PRIu64 "  %s\n", r->count, r->message);
        return;
    }
    printf("  %8" PRIu64 "  %s%s%s: %s%s\n", r->count, r->code, r->field[0] ? " " : "", r->field,
           r->message, r->local ? " (found here, not sent)" : "");
}

int feed_finish(struct feed **fp, int complete, int input_error)
{
    struct feed *f = *fp;
    if (!f->unreachable)
        drain(f);
    int64_t end = now_ms();
    int sig = g_signal;
    if (f->progress) {
        progress(f, 1);
        if (f->tty)
            fputc('\n', stderr);
    }
    /* A complete, fully answered import needs no state: remove it, so the
     * next import of this file starts from the top (and gets duplicates). */
    int all_answered = csph_client_pending(f->c) == 0;
    int finished = complete && all_answered && !sig && !f->unreachable && !input_error;
    if (f->o.state_path) {
        if (finished) {
            if (unlink(f->o.state_path) != 0 && errno != ENOENT)
                fprintf(stderr, "%s: cannot remove the state %s: %s\n", f->o.program,
                        f->o.state_path, strerror(errno));
        } else {
            save_state(f);
        }
    }

    int rc = FEED_EXIT_OK;
    uint64_t rejected_all = f->now.rejected + f->prior.rejected;
    if (sig == SIGINT)
        rc = FEED_EXIT_SIGINT;
    else if (sig)
        rc = FEED_EXIT_SIGTERM;
    else if (f->unreachable)
        rc = FEED_EXIT_UNREACHABLE;
    else if (input_error)
        rc = FEED_EXIT_USAGE;
    else if (rejected_all)
        rc = FEED_EXIT_REJECTED;

    double secs = (double)(end - f->start_ms) / 1000.0;
    double rate = secs > 0 ? (double)f->read / secs : 0.0;
    uint64_t unanswered = csph_client_pending(f->c);
    qsort(f->ex, f->nex, sizeof *f->ex, cmp_example);
    if (f->rejects.n)
        qsort(f->rejects.v, f->rejects.n, sizeof *f->rejects.v, cmp_reason);
    if (f->skips.n)
        qsort(f->skips.v, f->skips.n, sizeof *f->skips.v, cmp_reason);
    const char *status = finished         ? "complete"
                         : sig            ? "interrupted"
                         : f->unreachable ? "hub unreachable"
                         : input_error    ? "input error"
                                          : "incomplete";

    if (f->o.json) {
        json_t *j = json_object();
        json_object_set_new(j, "input", json_string(f->o.input ? f->o.input : "-"));
        json_object_set_new(j, "hub", json_string(f->o.endpoint));
        json_object_set_new(j, "status", json_string(status));
        json_object_set_new(j, "read", json_integer((json_int_t)f->read));
        json_object_set_new(j, "already_done", json_integer((json_int_t)f->already));
        json_object_set_new(j, "sent", json_integer((json_int_t)f->sent));
        json_object_set_new(j, "accepted", json_integer((json_int_t)f->now.accepted));
        json_object_set_new(j, "duplicate", json_integer((json_int_t)f->now.duplicate));
        json_object_set_new(j, "rejected", json_integer((json_int_t)f->now.rejected));
        json_object_set_new(j, "rejected_here", json_integer((json_int_t)f->rejected_local));
        json_object_set_new(j, "skipped", json_integer((json_int_t)f->now.skipped));
        json_object_set_new(j, "unanswered", json_integer((json_int_t)unanswered));
        json_object_set_new(j, "seconds", json_real(round(secs * 1000) / 1000));
        json_object_set_new(j, "per_second", json_real(floor(rate)));
        json_object_set_new(j, "rejected_by_reason", reasons_json(&f->rejects, 1));
        json_object_set_new(j, "skipped_by_reason", reasons_json(&f->skips, 0));
        json_t *ex = json_array();
        for (size_t i = 0; i < f->nex; i++) {
            json_t *o = json_object();
            json_object_set_new(o, f->o.unit, json_integer((json_int_t)f->ex[i].rec));
            json_object_set_new(o, "line", json_integer((json_int_t)f->ex[i].line));
            json_object_set_new(o, "code", json_string(f->ex[i].code));
            json_object_set_new(o, "field", json_string(f->ex[i].field));
            json_object_set_new(o, "message", json_string(f->ex[i].message));
            if (f->ex[i].detail)
                json_object_set_new(o, "detail", json_string(f->ex[i].detail));
            json_array_append_new(ex, o);
        }
        json_object_set_new(j, "first_rejected", ex);
        if (f->resumed) {
            json_t *p = json_object();
            json_object_set_new(p, "acknowledged", json_integer((json_int_t)f->resumed_acked));
            json_object_set_new(p, "accepted", json_integer((json_int_t)f->prior.accepted));
            json_object_set_new(p, "duplicate", json_integer((json_int_t)f->prior.duplicate));
            json_object_set_new(p, "rejected", json_integer((json_int_t)f->prior.rejected));
            json_object_set_new(p, "skipped", json_integer((json_int_t)f->prior.skipped));
            json_object_set_new(j, "earlier_runs", p);
        }
        if (f->o.state_path && !finished)
            json_object_set_new(j, "state", json_string(f->o.state_path));
        if (f->why[0])
            json_object_set_new(j, "error", json_string(f->why));
        json_object_set_new(j, "exit", json_integer(rc));
        char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
        puts(s);
        free(s);
        json_decref(j);
    } else {
        printf("%s: %s -> %s: %s\n", f->o.program, f->o.input ? f->o.input : "(stdin)",
               f->o.endpoint, status);
        printf("  %ss read       %8" PRIu64 "\n", f->o.unit, f->read);
        if (f->resumed)
            printf("  already done    %8" PRIu64
                   "  (acknowledged in an earlier run, per %s: not sent again)\n",
                   f->already, f->o.state_path);
        if (f->o.mapped || f->now.skipped)
            printf("  skipped         %8" PRIu64 "  (by the mapping)\n", f->now.skipped);
        printf("  sent            %8" PRIu64 "\n", f->sent);
        printf("  accepted        %8" PRIu64 "\n", f->now.accepted);
        printf("  duplicate       %8" PRIu64 "\n", f->now.duplicate);
        printf("  rejected        %8" PRIu64, f->now.rejected);
        if (f->rejected_local)
            printf("  (%" PRIu64 " by the hub, %" PRIu64 " found here and not sent)",
                   f->now.rejected - f->rejected_local, f->rejected_local);
        putchar('\n');
        if (unanswered)
            printf("  unanswered      %8" PRIu64 "  (sent again on the next run)\n", unanswered);
        printf("  time            %8.1f s, %.0f %ss/s\n", secs, rate, f->o.unit);
        if (f->resumed)
            printf("  earlier runs: %" PRIu64 " accepted, %" PRIu64 " duplicate, %" PRIu64
                   " rejected, %" PRIu64 " skipped\n",
                   f->prior.accepted, f->prior.duplicate, f->prior.rejected, f->prior.skipped);
        if (f->rejects.n) {
            printf("rejected by reason:\n");
            for (size_t i = 0; i < f->rejects.n; i++)
                print_reason(&f->rejects.v[i], 1);
            if (f->rejects.other)
                printf("  %8" PRIu64 "  (other reasons)\n", f->rejects.other);
        }
        if (f->skips.n) {
            printf("skipped by reason:\n");
            for (size_t i = 0; i < f->skips.n; i++)
                print_reason(&f->skips.v[i], 0);
            if (f->skips.other)
                printf("  %8" PRIu64 "  (other reasons)\n", f->skips.other);
        }
        if (f->nex) {
            printf("first rejected %ss:\n", f->o.unit);
            for (size_t i = 0; i < f->nex; i++) {
                const struct example *e = &f->ex[i];
                printf("  %s %" PRIu64, f->o.unit, e->rec);
                if (e->line && e->line != e->rec)
                    printf(" (line %" PRIu64 ")", e->line);
                printf(": %s%s%s: %s", e->code, e->field[0] ? " " : "", e->field, e->message);
                if (e->detail)
                    printf(" [%s]", e->detail);
                putchar('\n');
            }
        }
        if (f->why[0])
            printf("stopped: %s\n", f->why);
        if (f->o.state_path && !finished)
            printf("state saved in %s: run the same command again to resume\n", f->o.state_path);
    }
    fflush(stdout);
    if (f->why[0])
        fprintf(stderr, "%s: %s\n", f->o.program, f->why);

    csph_client_close(&f->c);
    free_reasons(&f->rejects);
    free_reasons(&f->skips);
    for (size_t i = 0; i < f->nex; i++) {
        free(f->ex[i].code);
        free(f->ex[i].field);
        free(f->ex[i].message);
        free(f->ex[i].detail);
    }
    free(f->ex);
    free(f->bits);
    free(f);
    *fp = NULL;
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    return rc;
}

int feed_parse_int(const char *program, const char *s, const char *what, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi) {
        fprintf(stderr, "%s: %s must be a number from %d to %d, not '%s'\n", program, what, lo,
                hi, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int feed_common_option(const char *program, int c, const char *arg, struct feed_options *fo,
                       struct feed_state_opts *st)
{
    switch (c) {
    case 'H': fo->endpoint = arg; return 1;
    case 's': st->state = arg; return 1;
    case FEED_OPT_NO_STATE: st->no_state = 1; return 1;
    case 'w': return feed_parse_int(program, arg, "--window", 1, 100000, &fo->window) ? -1 : 1;
    case 'b': return feed_parse_int(program, arg, "--batch", 1, 1000, &fo->batch) ? -1 : 1;
    case FEED_OPT_SAVE:
        return feed_parse_int(program, arg, "--save-every", 1, 100000000, &fo->save_every) ? -1
                                                                                           : 1;
    case FEED_OPT_TIMEOUT: {
        int64_t ms;
        const char *why;
        if (csph_duration_parse(arg, 1000, 86400000, &ms, &why)) {
            fprintf(stderr, "%s: --timeout '%s' %s (1s to 1440m)\n", program, arg, why);
            return -1;
        }
        fo->timeout_s = (int)(ms / 1000);
        return 1;
    }
    case 'p': fo->progress = 1; return 1;
    case FEED_OPT_NO_PROGRESS: fo->progress = 0; return 1;
    case FEED_OPT_JSON: fo->json = 1; return 1;
    case FEED_OPT_SHOW: return feed_parse_int(program, arg, "--show", 0, 10000, &fo->show) ? -1 : 1;
    case 'K': fo->key_file = arg; return 1;
    case 'S': fo->server_key = arg; return 1;
    }
    return 0;
}

const char *feed_env(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && *v ? v : def;
}
