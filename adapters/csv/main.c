/* csphub-csv: import a CSV (or TSV) file into the hub, one event a row, as
 * a YAML mapping file says (adapters/README.md). libcsv splits the rows;
 * this file turns each row into an event; common/feed.c does the rest
 * (window, resume state, summary, exit status). */
#define _GNU_SOURCE
#include <csv.h>
#include <errno.h>
#include <getopt.h>
#include <iconv.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../common/feed.h"
#include "csphub.h"
#include "mapping.h"

#define PROGRAM "csphub-csv"

static const char usage[] =
    "usage: csphub-csv --mapping MAP.yaml [options] FILE\n"
    "\n"
    "Import a CSV or TSV file into a csphub hub: one event per row, as the mapping\n"
    "file MAP.yaml says (delimiter and quoting, which column becomes which event\n"
    "field, constants, value maps, the event id). See adapters/README.md.\n"
    "\n"
    "options:\n"
    "  --mapping MAP.yaml  the mapping file (required)\n"
    "  --hub ENDPOINT      the hub [$CSPHUB_HUB, else tcp://127.0.0.1:7450]\n"
    "  --state FILE        where to record what the hub acknowledged, so that an\n"
    "                      interrupted import resumes where it stopped\n"
    "                      [<basename of FILE>.state in the current directory];\n"
    "                      removed once the whole file is acknowledged\n"
    "  --no-state          keep no state (an interrupted import starts again;\n"
    "                      harmless, the resent rows come back duplicate)\n"
    "  --window N          publish requests in flight [50]\n"
    "  --batch N           events per publish request, 1-1000 [100]\n"
    "  --save-every N      write the state after every N acknowledged rows [1000]\n"
    "  --timeout T         give up when the hub answers nothing for T, a duration\n"
    "                      with its unit: 30s, 2m [30s]\n"
    "  --id-prefix P       the event id prefix [the mapping's, or the file name\n"
    "                      without its extension]\n"
    "  --progress          show progress (rows/s, percent) on stderr [when it is a\n"
    "                      terminal]; --no-progress never\n"
    "  --json              print the summary as one JSON object\n"
    "  --show N            list the first N rejected rows in the summary [10]\n"
    "  --help              this text\n"
    "\n"
    "CURVE (a hub with security: curve):\n"
    "  --key FILE          this agency's key file (NAME.key, mode 0600) [$CSPHUB_KEY]\n"
    "  --server-key KEY    [$CSPHUB_SERVER_KEY] the hub's public key: its .pub file or the 40 Z85\n"
    "                      characters\n"
    "  In curve mode the hub takes the source from the key's identity: the events'\n"
    "  source must be that name.\n"
    "\n"
    "Ctrl-C stops reading, waits for the answers to what was sent, saves the state\n"
    "and exits 130; run the same command again to resume.\n"
    "\n"
    "exit status: 0 every row accepted, duplicate or skipped by the mapping;\n"
    "3 some rows rejected; 1 the hub did not answer; 2 usage, mapping or input\n"
    "error (mapping errors as file:line: what is wrong); 130 interrupted.\n";

/* ---- reading rows ------------------------------------------------------- */

struct row {
    char *buf; /* the fields, each NUL-terminated, one after another */
    size_t len, cap;
    size_t *off; /* field i starts at buf + off[i] */
    size_t *flen;
    size_t n, ncap;
    uint64_t line; /* the line the row starts on */
    int bad_quote; /* 1: malformed quoting; 2: a quoted field never closed */
    int bad_enc;   /* a line of it could not be converted from the file's encoding */
};

struct reader {
    FILE *fp;
    const struct mapping *m;
    struct csv_parser p;
    unsigned char opts;
    iconv_t cd;
    char *conv;
    size_t convcap;
    char *line;
    size_t linecap;
    uint64_t lineno, bytes;
    int line_bad_enc;
    struct row cur;
    struct row *q; /* completed rows: q[head..n) */
    size_t qn, qhead, qcap;
    int eof;
};

static int space_only(unsigned char c)
{
    return c == ' ';
}

static int space_or_tab(unsigned char c)
{
    return c == ' ' || c == '\t';
}

static void parser_init(struct reader *r)
{
    /* Strict: a stray quote is an error we report, not a guess. */
    r->opts = CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL;
    if (csv_init(&r->p, r->opts) != 0)
        abort();
    csv_set_delim(&r->p, r->m->delimiter);
    csv_set_quote(&r->p, r->m->quote);
    /* libcsv trims spaces around unquoted fields; never the delimiter. */
    csv_set_space_func(&r->p, r->m->delimiter == '\t' ? space_only : space_or_tab);
}

static void row_add(struct row *w, const char *s, size_t len)
{
    if (w->n == w->ncap) {
        w->ncap = w->ncap ? w->ncap * 2 : 32;
        w->off = realloc(w->off, w->ncap * sizeof *w->off);
        w->flen = realloc(w->flen, w->ncap * sizeof *w->flen);
        if (!w->off || !w->flen)
            abort();
    }
    if (w->len + len + 1 > w->cap) {
        while (w->len + len + 1 > w->cap)
            w->cap = w->cap ? w->cap * 2 : 1024;
        w->buf = realloc(w->buf, w->cap);
        if (!w->buf)
            abort();
    }
    memcpy(w->buf + w->len, s, len);
    w->buf[w->len + len] = 0;
    w->off[w->n] = w->len;
    w->flen[w->n] = len;
    w->n++;
    w->len += len + 1;
}

static void on_field(void *s, size_t len, void *data)
{
    struct reader *r = data;
    row_add(&r->cur, s ? s : "", s ? len : 0);
}

/* A row is complete: queue it, and start the next on the current line. */
static void push_row(struct reader *r)
{
    if (r->qn == r->qcap) {
        size_t cap = r->qcap ? r->qcap * 2 : 4;
        r->q = realloc(r->q, cap * sizeof *r->q);
        if (!r->q)
            abort();
        memset(r->q + r->qcap, 0, (cap - r->qcap) * sizeof *r->q);
        r->qcap = cap;
    }
    struct row spare = r->q[r->qn];
    r->q[r->qn++] = r->cur;
    r->cur = spare;
    r->cur.n = r->cur.len = 0;
    r->cur.bad_quote = 0;
    r->cur.bad_enc = r->line_bad_enc;
    r->cur.line = r->lineno;
}

static void on_row(int c, void *data)
{
    push_row(data);
}

/* Convert one line to UTF-8. Bytes the encoding does not define become
 * '?', and the line is marked. */
static const char *convert_line(struct reader *r, const char *in, size_t len, size_t *out_len)
{
    if (r->convcap < len * 4 + 16) {
        r->convcap = len * 4 + 16;
        r->conv = realloc(r->conv, r->convcap);
        if (!r->conv)
            abort();
    }
    char *ip = (char *)in, *op = r->conv;
    size_t il = len, ol = r->convcap;
    iconv(r->cd, NULL, NULL, NULL, NULL);
    while (il > 0) {
        if (iconv(r->cd, &ip, &il, &op, &ol) != (size_t)-1)
            break;
        if (errno == EILSEQ || errno == EINVAL) {
            r->line_bad_enc = 1;
            *op++ = '?';
            ol--;
            ip++;
            il--;
            iconv(r->cd, NULL, NULL, NULL, NULL);
        } else {
            break; /* E2BIG cannot happen: 4 bytes out per byte in */
        }
    }
    *out_len = (size_t)(op - r->conv);
    return r->conv;
}

/* The next row into *out (valid until the next call): 1, or 0 at the end,
 * or -1 on a read error. */
static int next_row(struct reader *r, struct row **out)
{
    while (r->qhead == r->qn) {
        r->qhead = r->qn = 0;
        if (r->eof)
            return 0;
        errno = 0;
        ssize_t n = getline(&r->line, &r->linecap, r->fp);
        if (n < 0) {
            if (ferror(r->fp))
                return -1;
            r->eof = 1;
            if (csv_fini(&r->p, on_field, on_row, r) != 0) {
                /* a quoted field never closed: what was read is one broken row */
                r->cur.bad_quote = 2;
                push_row(r);
            }
            continue;
        }
        r->lineno++;
        r->bytes += (uint64_t)n;
        const char *data = r->line;
        size_t len = (size_t)n;
        if (r->lineno == 1 && len >= 3 && !memcmp(data, "\xEF\xBB\xBF", 3)) {
            data += 3; /* a UTF-8 byte order mark */
            len -= 3;
        }
        r->line_bad_enc = 0;
        if (r->cd != (iconv_t)-1)
            data = convert_line(r, data, len, &len);
        if (r->cur.n == 0 && r->p.pstate == 0) { /* a row starts on this line */
            r->cur.line = r->lineno;
            r->cur.bad_enc = 0;
        }
        r->cur.bad_enc |= r->line_bad_enc;
        size_t used = csv_parse(&r->p, data, len, on_field, on_row, r);
        if (used < len) {
            /* Strict mode refused a quote. The row is broken; start afresh on
             * the next line. */
            r->cur.bad_quote = 1;
            push_row(r);
            csv_free(&r->p);
            parser_init(r);
        }
    }
    *out = &r->q[r->qhead++];
    return 1;
}

static void reader_free(struct reader *r)
{
    csv_free(&r->p);
    if (r->cd != (iconv_t)-1)
        iconv_close(r->cd);
    free(r->conv);
    free(r->line);
    free(r->cur.buf);
    free(r->cur.off);
    free(r->cur.flen);
    for (size_t i = 0; i < r->qcap; i++) {
        free(r->q[i].buf);
        free(r->q[i].off);
        free(r->q[i].flen);
    }
    free(r->q);
    if (r->fp)
        fclose(r->fp);
}

/* ---- occurrences, for content ids ------------------------------------- */

struct occ {
    unsigned char h[16];
    uint64_t count;
    int used;
};

struct occurrences {
    struct occ *v;
    size_t cap, n;
};

static uint64_t occur(struct occurrences *o, const unsigned char h[16])
{
    if (o->n * 2 >= o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4096;
        struct occ *v = calloc(cap, sizeof *v);
        if (!v)
            abort();
        for (size_t i = 0; i < o->cap; i++)
            if (o->v[i].used) {
                uint64_t k;
                memcpy(&k, o->v[i].h, 8);
                size_t j = k & (cap - 1);
                while (v[j].used)
                    j = (j + 1) & (cap - 1);
                v[j] = o->v[i];
            }
        free(o->v);
        o->v = v;
        o->cap = cap;
    }
    uint64_t k;
    memcpy(&k, h, 8);
    size_t j = k & (o->cap - 1);
    while (o->v[j].used && memcmp(o->v[j].h, h, 16) != 0)
        j = (j + 1) & (o->cap - 1);
    if (!o->v[j].used) {
        memcpy(o->v[j].h, h, 16);
        o->v[j].used = 1;
        o->n++;
    }
    return ++o->v[j].count;
}

/* ---- rows to events --------------------------------------------------- */

struct importer {
    const struct mapping *m;
    struct feed *feed;
    struct reader r;
    char **header;
    size_t ncols;
    const char *prefix; /* the id prefix, or NULL */
    struct occurrences occ;
    uint64_t rows;
};

/* Index of the first byte that breaks UTF-8, or len. */
static size_t utf8_bad_at(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            n = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (i + n >= len)
            return i;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return i;
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return i;
        i += n + 1;
    }
    return len;
}

/* Set obj[path] (dotted), creating the maps on the way; steals val. */
static void set_path(json_t *obj, const char *path, json_t *val)
{
    const char *dot;
    while ((dot = strchr(path, '.'))) {
        char key[128];
        size_t n = (size_t)(dot - path) < sizeof key - 1 ? (size_t)(dot - path) : sizeof key - 1;
        memcpy(key, path, n);
        key[n] = 0;
        json_t *sub = json_object_get(obj, key);
        if (!json_is_object(sub)) {
            sub = json_object();
            json_object_set_new(obj, key, sub);
        }
        obj = sub;
        path = dot + 1;
    }
    json_object_set_new(obj, path, val);
}

static void set_constants(json_t *ev, const struct map_constant *c, size_t n)
{
    for (size_t i = 0; i < n; i++)
        set_path(ev, c[i].path, json_deep_copy(c[i].value));
}

static int is_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* YYYY-MM or YYYY-MM-DD -> the first of the month; 0 or -1. */
static int to_month(const char *s, char out[32])
{
    size_t n = strlen(s);
    if ((n != 7 && n != 10) || !is_digits(s, 4) || s[4] != '-' || !is_digits(s + 5, 2))
        return -1;
    int mo = (s[5] - '0') * 10 + (s[6] - '0');
    if (mo < 1 || mo > 12)
        return -1;
    if (n == 10) {
        int d = (s[8] - '0') * 10 + (s[9] - '0');
        if (s[7] != '-' || !is_digits(s + 8, 2) || d < 1 || d > 31)
            return -1;
    }
    snprintf(out, 32, "%.7s-01T00:00:00Z", s);
    return 0;
}

/* YYYY-MM-DD or DD/MM/YYYY -> midnight UTC that day; 0 or -1. */
static int to_date(const char *s, char out[32])
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    size_t n = strlen(s);
    int y, mo, d;
    if (n == 10 && is_digits(s, 4) && s[4] == '-' && is_digits(s + 5, 2) && s[7] == '-' &&
        is_digits(s + 8, 2)) {
        y = atoi(s);
        mo = atoi(s + 5);
        d = atoi(s + 8);
    } else if (n == 10 && is_digits(s, 2) && s[2] == '/' && is_digits(s + 3, 2) && s[5] == '/' &&
               is_digits(s + 6, 4)) {
        d = atoi(s);
        mo = atoi(s + 3);
        y = atoi(s + 6);
    } else {
        return -1;
    }
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
        return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    snprintf(out, 32, "%04d-%02d-%02dT00:00:00Z", y, mo, d);
    return 0;
}

/* The value of one field for this row: a new JSON value (*out, NULL when
 * the field is left out), or the row is skipped or rejected here (the
 * return: 0 ok, 1 skipped, 2 rejected; the feed is told). */
static int field_value(struct importer *im, const struct map_field *f, const char *cell,
                       uint64_t rec, uint64_t line, json_t **out)
{
    char msg[600], detail[300];
    *out = NULL;
    for (size_t i = 0; i < f->nempty; i++)
        if (!strcmp(cell, f->empty[i]))
            return 0;
    if (f->values) {
        for (size_t i = 0; i < f->nvalues; i++)
            if (!strcmp(cell, f->values[i].from)) {
                *out = json_deep_copy(f->values[i].to);
                return 0;
            }
        if (!*cell)
            return 0;
        switch (f->unmapped) {
        case UNMAPPED_SKIP:
            snprintf(msg, sizeof msg, "%s '%.200s' is not in the map for %s", f->column, cell,
                     f->path);
            feed_skip(im->feed, rec, msg);
            return 1;
        case UNMAPPED_REJECT:
            snprintf(msg, sizeof msg, "column '%s' value '%.200s' is not in the map for %s",
                     f->column, cell, f->path);
            feed_reject(im->feed, rec, line, "unmapped_value", f->path, msg, NULL);
            return 2;
        case UNMAPPED_DEFAULT: *out = json_deep_copy(f->fallback); return 0;
        case UNMAPPED_KEEP: break;
        }
    }
    if (!*cell)
        return 0;
    char buf[32], *end;
    const char *want = NULL;
    switch (f->convert) {
    case CONVERT_STRING:
    case CONVERT_DATETIME: *out = json_string(cell); return 0;
    case CONVERT_NUMBER: {
        errno = 0;
        double d = strtod(cell, &end);
        if (*end || errno || !isfinite(d) || end == cell) {
            want = "is not a number";
            break;
        }
        *out = json_real(d);
        return 0;
    }
    case CONVERT_INT: {
        errno = 0;
        long long v = strtoll(cell, &end, 10);
        if (*end || errno || end == cell) {
            want = "is not a whole number";
            break;
        }
        *out = json_integer(v);
        return 0;
    }
    case CONVERT_BOOL: {
        static const char *yes[] = {"true", "yes", "y", "1"}, *no[] = {"false", "no", "n", "0"};
        for (int i = 0; i < 4; i++) {
            if (!strcasecmp(cell, yes[i])) {
                *out = json_true();
                return 0;
            }
            if (!strcasecmp(cell, no[i])) {
                *out = json_false();
                return 0;
            }
        }
        want = "is not true or false (true/false, yes/no, y/n, 1/0)";
        break;
    }
    case CONVERT_MONTH:
        if (to_month(cell, buf) == 0) {
            *out = json_string(buf);
            return 0;
        }
        want = "is not a month (YYYY-MM or YYYY-MM-DD)";
        break;
    case CONVERT_DATE:
        if (to_date(cell, buf) == 0) {
            *out = json_string(buf);
            return 0;
        }
        want = "is not a date (YYYY-MM-DD or DD/MM/YYYY)";
        break;
    }
    snprintf(msg, sizeof msg, "column '%s' %s", f->column, want);
    snprintf(detail, sizeof detail, "value '%.200s'", cell);
    feed_reject(im->feed, rec, line, "bad_value", f->path, msg, detail);
    return 2;
}

/* Top-level keys in this order first, then the rest as the mapping has them. */
static json_t *ordered(json_t *ev)
{
    static const char *first[] = {"id", "type", "occurred_at", "source"};
    json_t *out = json_object();
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(ev, first[i]);
        if (v)
            json_object_set(out, first[i], v);
    }
    const char *k;
    json_t *v;
    json_object_foreach (ev, k, v) {
        if (!json_object_get(out, k))
            json_object_set(out, k, v);
    }
    json_decref(ev);
    return out;
}

static const char *cell_of(const struct row *w, int col)
{
    return col >= 0 && (size_t)col < w->n ? w->buf + w->off[col] : "";
}

/* One data row; returns -1 when the import must stop. */
static int import_row(struct importer *im, const struct row *w)
{
    const struct mapping *m = im->m;
    uint64_t rec = ++im->rows, line = w->line;
    char msg[600], detail[300], id[300];
    feed_read(im->feed, rec, im->r.bytes);

    if (w->bad_quote == 2) {
        if (feed_done(im->feed, rec))
            return 0;
        snprintf(msg, sizeof msg,
                 "a quoted field is never closed: the rest of the file from here was read as "
                 "one field");
        feed_reject(im->feed, rec, line, "bad_quoting", "", msg, NULL);
        return 0;
    }
    if (w->bad_quote) {
        if (!feed_done(im->feed, rec))
            feed_reject(im->feed, rec, line, "bad_quoting", "",
                        "malformed quoting: a quote inside an unquoted field, or text after a "
                        "closing quote",
                        NULL);
        return 0;
    }
    if (w->n != im->ncols) {
        if (!feed_done(im->feed, rec)) {
            snprintf(msg, sizeof msg,
                     "the row has %zu field%s, the header %zu (a missing or extra delimiter?)",
                     w->n, w->n == 1 ? "" : "s", im->ncols);
            feed_reject(im->feed, rec, line, "ragged_row", "", msg, NULL);
        }
        return 0;
    }

    /* The id; a content id counts occurrences, so every row takes part. */
    if (m->id_scheme == ID_ROW) {
        snprintf(id, sizeof id, "%s-%" PRIu64, im->prefix, rec);
    } else if (m->id_scheme == ID_CONTENT) {
        crypto_generichash_state st;
        crypto_generichash_init(&st, NULL, 0, 16);
        for (size_t i = 0; i < m->nfields; i++) {
            const char *c = cell_of(w, m->fields[i].col);
            crypto_generichash_update(&st, (const unsigned char *)c, strlen(c) + 1);
        }
        unsigned char h[16];
        crypto_generichash_final(&st, h, sizeof h);
        uint64_t n = occur(&im->occ, h);
        char hex[33];
        sodium_bin2hex(hex, sizeof hex, h, sizeof h);
        snprintf(id, sizeof id, "%s%s%s-%" PRIu64, im->prefix ? im->prefix : "",
                 im->prefix ? "-" : "", hex, n);
    } else {
        const char *c = cell_of(w, m->id_col);
        snprintf(id, sizeof id, "%s%s%.250s", im->prefix ? im->prefix : "", im->prefix ? "-" : "",
                 c);
        if (!*c) {
            if (!feed_done(im->feed, rec)) {
                snprintf(msg, sizeof msg, "column '%s' (the event id) is empty", m->id_column);
                feed_reject(im->feed, rec, line, "bad_value", "id", msg, NULL);
            }
            return 0;
        }
    }
    if (feed_done(im->feed, rec))
        return 0;

    if (w->bad_enc) {
        snprintf(msg, sizeof msg,
                 "the row has bytes that are not %s text (shown as '?'): is csv.encoding "
                 "right?",
                 m->encoding);
        feed_reject(im->feed, rec, line, "bad_encoding", "", msg, NULL);
        return 0;
    }
    if (m->utf8) {
        /* Every mapped column, and the id column (i == nfields). */
        for (size_t i = 0; i <= m->nfields; i++) {
            int col = i < m->nfields ? m->fields[i].col : m->id_col;
            if (col < 0)
                continue;
            const char *c = cell_of(w, col);
            size_t len = strlen(c), bad = utf8_bad_at((const unsigned char *)c, len);
            if (bad == len)
                continue;
            snprintf(msg, sizeof msg,
                     "column '%s' is not valid UTF-8: if the file is Latin-1 or Windows-1252, "
                     "set csv.encoding in the mapping (encoding: windows-1252)",
                     i < m->nfields ? m->fields[i].column : m->id_column);
            snprintf(detail, sizeof detail, "byte %zu is 0x%02X", bad + 1, (unsigned char)c[bad]);
            feed_reject(im->feed, rec, line, "bad_encoding",
                        i < m->nfields ? m->fields[i].path : "id", msg, detail);
            return 0;
        }
    }

    json_t *ev = json_object();
    json_object_set_new(ev, "id", json_string(id));
    set_constants(ev, m->consts, m->nconsts);
    for (size_t i = 0; i < m->nfields; i++) {
        const struct map_field *f = &m->fields[i];
        json_t *v;
        int rc = field_value(im, f, cell_of(w, f->col), rec, line, &v);
        if (rc) {
            json_decref(ev);
            return 0;
        }
        if (v)
            set_path(ev, f->path, v);
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    for (size_t t = 0; type && t < m->ntypes; t++)
        if (!strcmp(m->types[t].type, type))
            set_constants(ev, m->types[t].consts, m->types[t].nconsts);
    ev = ordered(ev);
    int rc = feed_publish_json(im->feed, rec, line, ev);
    json_decref(ev);
    return rc;
}

/* The header: find each mapped column. 0, or an exit status. */
static int read_header(struct importer *im, const char *path)
{
    struct row *w;
    int rc = next_row(&im->r, &w);
    if (rc < 0) {
        fprintf(stderr, PROGRAM ": cannot read %s: %s\n", path, strerror(errno));
        return FEED_EXIT_USAGE;
    }
    if (rc == 0) {
        fprintf(stderr,
                PROGRAM ": %s is empty: expected a header row naming the columns the mapping "
                        "%s uses\n",
                path, im->m->file);
        return FEED_EXIT_USAGE;
    }
    if (w->bad_quote) {
        fprintf(stderr, PROGRAM ": %s:%" PRIu64 ": the header row has malformed quoting\n", path,
                w->line);
        return FEED_EXIT_USAGE;
    }
    im->ncols = w->n;
    im->header = calloc(w->n, sizeof *im->header);
    for (size_t i = 0; i < w->n; i++)
        im->header[i] = strdup(w->buf + w->off[i]);
    struct mapping *m = (struct mapping *)im->m;
    for (size_t i = 0; i <= m->nfields; i++) {
        const char *col = i < m->nfields ? m->fields[i].column : m->id_column;
        int line = i < m->nfields ? m->fields[i].line : m->id_line;
        if (!col)
            continue;
        int found = -1;
        for (size_t c = 0; c < im->ncols && found < 0; c++)
            if (!strcmp(im->header[c], col))
                found = (int)c;
        if (found < 0) {
            fprintf(stderr,
                    PROGRAM ": %s: no column '%s' in the header (%s:%d names it); the header has:",
                    path, col, m->file, line);
            for (size_t c = 0; c < im->ncols; c++)
                fprintf(stderr, "%s '%s'", c ? "," : "", im->header[c]);
            fputc('\n', stderr);
            if (im->ncols == 1)
                fprintf(stderr,
                        PROGRAM ": only one column: is the delimiter right? the mapping says "
                                "'%s'\n",
                        m->delimiter == '\t' ? "\\t (tab)" : (char[]){(char)m->delimiter, 0});
            return FEED_EXIT_USAGE;
        }
        if (i < m->nfields)
            m->fields[i].col = found;
        else
            m->id_col = found;
    }
    return 0;
}

int main(int argc, char **argv)
{
    enum { O_PREFIX = FEED_OPT__NEXT };
    static const struct option lopts[] = {
        {"mapping", required_argument, 0, 'm'},
        {"id-prefix", required_argument, 0, O_PREFIX},
        FEED_COMMON_LONG_OPTIONS,
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *mapping_path = NULL, *prefix_opt = NULL;
    struct feed_state_opts st = {0};
    struct feed_options fo = {
        .program = PROGRAM,
        .unit = "row",
        .mapped = 1,
        .endpoint = feed_env("CSPHUB_HUB", "tcp://127.0.0.1:7450"),
        .key_file = feed_env("CSPHUB_KEY", NULL),
        .server_key = feed_env("CSPHUB_SERVER_KEY", NULL),
        .window = 50,
        .batch = 100,
        .save_every = 1000,
        .timeout_s = 30,
        .progress = -1,
        .show = 10,
    };
    int c;
    while ((c = getopt_long(argc, argv, "m:h" FEED_COMMON_SHORT_OPTIONS, lopts, NULL)) != -1) {
        int common = feed_common_option(PROGRAM, c, optarg, &fo, &st);
        if (common < 0)
            return FEED_EXIT_USAGE;
        if (common)
            continue;
        switch (c) {
        case 'm': mapping_path = optarg; break;
        case O_PREFIX: prefix_opt = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return FEED_EXIT_USAGE;
        }
    }
    if (!mapping_path || optind != argc - 1) {
        fprintf(stderr, PROGRAM ": %s\n\n%s",
                !mapping_path ? "--mapping MAP.yaml is required" : "give exactly one FILE", usage);
        return FEED_EXIT_USAGE;
    }
    if (st.no_state && st.state) {
        fprintf(stderr, PROGRAM ": --state and --no-state together\n");
        return FEED_EXIT_USAGE;
    }
    const char *path = argv[optind];
    if (sodium_init() < 0)
        return FEED_EXIT_USAGE;

    char err[1024];
    struct mapping *m;
    if (mapping_load(&m, mapping_path, err, sizeof err) != 0) {
        fprintf(stderr, PROGRAM ": %s\n", err);
        return FEED_EXIT_USAGE;
    }

    struct importer im = {.m = m};
    im.r.m = m;
    im.r.cd = (iconv_t)-1;
    if (!m->utf8 && (im.r.cd = iconv_open("UTF-8", m->encoding)) == (iconv_t)-1) {
        fprintf(stderr,
                PROGRAM ": %s: csv.encoding '%s' is not an encoding this system knows "
                        "(iconv -l lists them)\n",
                m->file, m->encoding);
        mapping_free(&m);
        return FEED_EXIT_USAGE;
    }
    parser_init(&im.r);
    int rc;
    char *prefix = NULL, *ids = NULL, *default_state = NULL;
    if (!(im.r.fp = fopen(path, "rb"))) {
        fprintf(stderr, PROGRAM ": cannot read %s: %s\n", path, strerror(errno));
        rc = FEED_EXIT_USAGE;
        goto out;
    }
    if ((rc = read_header(&im, path)) != 0)
        goto out;

    /* The id prefix: the option, the mapping's, or (row ids) the file's name. */
    if (prefix_opt || m->id_prefix) {
        prefix = strdup(prefix_opt ? prefix_opt : m->id_prefix);
    } else if (m->id_scheme == ID_ROW) {
        const char *base = strrchr(path, '/');
        prefix = strdup(base ? base + 1 : path);
        char *dot = strrchr(prefix, '.');
        if (dot && dot != prefix)
            *dot = 0;
    }
    if (prefix && (!*prefix || strlen(prefix) > 80)) {
        fprintf(stderr, PROGRAM ": the id prefix must be 1 to 80 characters: '%s'\n", prefix);
        rc = FEED_EXIT_USAGE;
        goto out;
    }
    im.prefix = prefix;
    static const char *scheme_names[] = {"row", "content", "column"};
    if (asprintf(&ids, "%s %s%s%s", scheme_names[m->id_scheme], prefix ? prefix : "-",
                 m->id_column ? " " : "", m->id_column ? m->id_column : "") < 0)
        abort();
    fo.ids = ids;
    fo.input = path;
    if (!st.no_state)
        fo.state_path = st.state ? st.state : (default_state = feed_default_state(path));
    if ((rc = feed_open(&im.feed, &fo)) != 0)
        goto out;

    struct row *w;
    int got, complete = 0, input_error = 0;
    while ((got = next_row(&im.r, &w)) > 0) {
        if (import_row(&im, w) != 0 || feed_stopping(im.feed))
            break;
    }
    if (got == 0)
        complete = 1;
    if (got < 0) {
        fprintf(stderr, PROGRAM ": cannot read %s at line %" PRIu64 ": %s\n", path, im.r.lineno,
                strerror(errno));
        input_error = 1;
    }
    rc = feed_finish(&im.feed, complete, input_error);

out:
    reader_free(&im.r);
    for (size_t i = 0; i < im.ncols; i++)
        free(im.header[i]);
    free(im.header);
    free(im.occ.v);
    free(prefix);
    free(ids);
    free(default_state);
    mapping_free(&m);
    return rc;
}
