#include "sarpack.h"

#include <stdlib.h>
#include <string.h>

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static void copy(json_t *dst, const char *key, json_t *v)
{
    if (v)
        json_object_set(dst, key, v);
}

int csph_sar_merge(json_t **acc, const json_t *page)
{
    static const char *const lists[] = {"events", "alerts", "reads"};
    if (!json_is_object(page) || !json_is_integer(json_object_get(page, "request")))
        return -1;
    if (!*acc) {
        *acc = json_object();
        json_object_set(*acc, "request", json_object_get(page, "request"));
        json_object_set(*acc, "person", json_object_get(page, "person"));
        json_object_set(*acc, "counts", json_object_get(page, "counts"));
        json_object_set(*acc, "restricted_panels", json_object_get(page, "restricted_panels"));
        for (size_t i = 0; i < 3; i++)
            json_object_set_new(*acc, lists[i], json_array());
    }
    for (size_t i = 0; i < 3; i++) {
        json_t *l = json_object_get(page, lists[i]);
        if (json_is_array(l))
            json_array_extend(json_object_get(*acc, lists[i]), l);
    }
    return 0;
}

/* ---- proposals ----------------------------------------------------------- */

static int withheld(const json_t *item, const char *code)
{
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(item, "withhold"), i, w)
        if (!strcmp(str(w, "code"), code))
            return 1;
    return 0;
}

/* Left out of the disclosure altogether. */
static int left_out(const json_t *item)
{
    return withheld(item, "restricted_panel") || withheld(item, "legal_hold");
}

/* Third parties in order of first appearance: the references in events'
 * `others` fields and in alerts' keys that are not the person's. */
struct parties {
    json_t *refs; /* array of strings */
};

static void party_add(struct parties *p, const char *ref, const char *person)
{
    if (!ref || !ref[0] || !strcmp(ref, person))
        return;
    size_t i;
    json_t *r;
    json_array_foreach(p->refs, i, r)
        if (!strcmp(json_string_value(r), ref))
            return;
    json_array_append_new(p->refs, json_string(ref));
}

static void find_parties(const json_t *m, struct parties *p, int disclosed_only)
{
    const char *person = str(m, "person");
    size_t i, j;
    json_t *it, *f;
    json_array_foreach(json_object_get(m, "events"), i, it) {
        if (disclosed_only && left_out(it))
            continue;
        json_array_foreach(json_object_get(it, "others"), j, f)
            party_add(p, json_string_value(json_object_get(json_object_get(it, "event"),
                                                           json_string_value(f))),
                      person);
    }
    json_array_foreach(json_object_get(m, "alerts"), i, it) {
        if (disclosed_only && left_out(it))
            continue;
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(json_object_get(it, "alert"), "key"), k, v)
            if (json_is_string(v) && json_object_get(json_object_get(it, "alert"), "key"))
                party_add(p, json_string_value(v), person);
    }
}

static void placeholder(size_t i, char *buf, size_t n)
{
    snprintf(buf, n, "third-party-%zu", i + 1);
}

static int ref_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == ':' || c == '-';
}

/* s with every whole occurrence of a third party's reference replaced. */
static char *replace_refs(const char *s, const struct parties *p)
{
    size_t cap = strlen(s) * 2 + 64, n = 0;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    for (const char *c = s; *c;) {
        size_t i, hit = 0;
        json_t *r;
        char ph[40];
        if (c == s || !ref_char(c[-1])) {
            json_array_foreach(p->refs, i, r) {
                const char *ref = json_string_value(r);
                size_t rl = strlen(ref);
                if (!strncmp(c, ref, rl) && !ref_char(c[rl])) {
                    placeholder(i, ph, sizeof ph);
                    hit = rl;
                    break;
                }
            }
        }
        size_t add = hit ? strlen(ph) : 1;
        if (n + add + 1 > cap) {
            cap = 2 * (n + add + 1);
            char *m = realloc(out, cap);
            if (!m) {
                free(out);
                return NULL;
            }
            out = m;
        }
        if (hit) {
            memcpy(out + n, ph, add);
            c += hit;
        } else {
            out[n] = *c++;
        }
        n += add;
    }
    out[n] = 0;
    return out;
}

/* v (new reference) with every string's third parties replaced. */
static json_t *scrub(const json_t *v, const struct parties *p)
{
    if (json_is_string(v)) {
        char *s = replace_refs(json_string_value(v), p);
        json_t *r = json_string(s ? s : "");
        free(s);
        return r;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(a, scrub(x, p));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) json_object_set_new(o, k, scrub(x, p));
        return o;
    }
    return json_deep_copy(v);
}

json_t *csph_sar_review(const json_t *m, const char *generated_at)
{
    struct parties p = {json_array()};
    find_parties(m, &p, 0);
    json_t *tp = json_array();
    size_t i;
    json_t *r;
    /* The placeholders are the disclosure's: numbered over what it shows. */
    struct parties d = {json_array()};
    find_parties(m, &d, 1);
    json_array_foreach(p.refs, i, r) {
        char ph[40] = "";
        size_t j;
        json_t *x;
        json_array_foreach(d.refs, j, x)
            if (!strcmp(json_string_value(x), json_string_value(r)))
                placeholder(j, ph, sizeof ph);
        json_array_append_new(tp, json_pack("{s:O,s:s}", "ref", r, "placeholder",
                                            ph[0] ? ph : "(only in material left out)"));
    }
    json_t *out = json_pack("{s:s}", "kind", "review");
    copy(out, "request", json_object_get(m, "request"));
    copy(out, "person", json_object_get(m, "person"));
    json_object_set_new(out, "generated_at", json_string(generated_at));
    copy(out, "counts", json_object_get(m, "counts"));
    copy(out, "restricted_panels", json_object_get(m, "restricted_panels"));
    json_object_set_new(out, "third_parties", tp);
    copy(out, "events", json_object_get(m, "events"));
    copy(out, "alerts", json_object_get(m, "alerts"));
    copy(out, "reads", json_object_get(m, "reads"));
    json_decref(p.refs);
    json_decref(d.refs);
    return out;
}

/* The organisation a reader acted for, as far as the log says: an agency's
 * identity is the agency; otherwise the panel of what they read (the
 * query's panel, or the panel of the alerts it returned, of those the
 * disclosure shows), else the partnership. Never the person's name. */
static json_t *organisation(const json_t *access, const json_t *returned, const json_t *alerts)
{
    const char *role = str(access, "role");
    if (!strcmp(role, "agency"))
        return json_string(str(access, "identity"));
    json_t *q = json_loads(str(access, "query"), 0, NULL);
    const char *panel = json_string_value(json_object_get(q, "panel"));
    size_t i, j;
    json_t *x, *y;
    json_array_foreach(returned, i, x) json_array_foreach(alerts, j, y) if (
        !panel && json_integer_value(json_object_get(y, "id")) == json_integer_value(x))
        panel = json_string_value(json_object_get(y, "panel"));
    char buf[120];
    if (panel)
        snprintf(buf, sizeof buf, "%s panel", panel);
    else
        snprintf(buf, sizeof buf, "the partnership (%s)", role);
    json_decref(q);
    return json_string(buf);
}

json_t *csph_sar_disclosure(const json_t *m, const char *generated_at)
{
    struct parties p = {json_array()};
    find_parties(m, &p, 1);
    json_t *events = json_array(), *alerts = json_array(), *reads = json_array();
    json_t *shown = json_object(); /* seqs disclosed, for alerts' evidence */
    size_t i, j;
    json_t *it, *x;
    json_array_foreach(json_object_get(m, "events"), i, it) {
        if (left_out(it))
            continue;
        json_t *o = json_object();
        copy(o, "seq", json_object_get(it, "seq"));
        copy(o, "received_at", json_object_get(it, "received_at"));
        copy(o, "type", json_object_get(it, "type"));
        json_object_set_new(o, "event", scrub(json_object_get(it, "event"), &p));
        json_array_append_new(events, o);
        char k[24];
        snprintf(k, sizeof k, "%lld", (long long)json_integer_value(json_object_get(it, "seq")));
        json_object_set_new(shown, k, json_true());
    }
    json_array_foreach(json_object_get(m, "alerts"), i, it) {
        if (left_out(it))
            continue;
        const json_t *a = json_object_get(it, "alert");
        json_t *ev = json_array(), *ds = json_array();
        json_array_foreach(json_object_get(a, "evidence"), j, x) {
            char k[24];
            snprintf(k, sizeof k, "%lld", (long long)json_integer_value(x));
            if (json_object_get(shown, k))
                json_array_append(ev, x);
        }
        /* Decisions: what was decided and when; who decided is staff. */
        json_array_foreach(json_object_get(it, "decisions"), j, x) {
            const json_t *e = json_object_get(x, "event");
            json_t *d = json_object();
            copy(d, "at", json_object_get(x, "received_at"));
            copy(d, "status", json_object_get(e, "status"));
            if (json_object_get(e, "note"))
                json_object_set_new(d, "note", scrub(json_object_get(e, "note"), &p));
            json_array_append_new(ds, d);
        }
        json_t *o = json_object();
        copy(o, "id", json_object_get(it, "id"));
        copy(o, "panel", json_object_get(it, "panel"));
        static const char *const plain[] = {"rule", "priority", "raised_at", "due_at", "status"};
        for (size_t k = 0; k < sizeof plain / sizeof *plain; k++)
            copy(o, plain[k], json_object_get(a, plain[k]));
        if (json_object_get(a, "key"))
            json_object_set_new(o, "key", scrub(json_object_get(a, "key"), &p));
        if (json_object_get(a, "reason"))
            json_object_set_new(o, "reason", scrub(json_object_get(a, "reason"), &p));
        json_object_set_new(o, "evidence", ev);
        json_object_set_new(o, "decisions", ds);
        json_array_append_new(alerts, o);
    }
    json_array_foreach(json_object_get(m, "reads"), i, it) {
        if (left_out(it) || json_is_true(json_object_get(it, "restricted")))
            continue;
        const json_t *acc = json_object_get(json_object_get(it, "access"), "event");
        /* Only the records this disclosure shows: a read that returned
         * nothing else is listed with what it returned of those. */
        json_t *evs = json_array(), *als = json_array();
        json_array_foreach(json_object_get(it, "events"), j, x) {
            char k[24];
            snprintf(k, sizeof k, "%lld", (long long)json_integer_value(x));
            if (json_object_get(shown, k))
                json_array_append(evs, x);
        }
        json_array_foreach(json_object_get(it, "alerts"), j, x) {
            size_t a;
            json_t *y;
            json_array_foreach(alerts, a, y)
                if (json_integer_value(json_object_get(y, "id")) == json_integer_value(x))
                    json_array_append(als, x);
        }
        if (!json_array_size(evs) && !json_array_size(als)) {
            json_decref(evs);
            json_decref(als);
            continue;
        }
        json_t *o = json_object();
        copy(o, "at", json_object_get(json_object_get(it, "access"), "received_at"));
        copy(o, "role", json_object_get(acc, "role"));
        json_object_set_new(o, "organisation", organisation(acc, als, alerts));
        copy(o, "op", json_object_get(acc, "op"));
        json_object_set_new(o, "events", evs);
        json_object_set_new(o, "alerts", als);
        json_array_append_new(reads, o);
    }
    json_t *out = json_pack("{s:s}", "kind", "disclosure");
    copy(out, "person", json_object_get(m, "person"));
    json_object_set_new(out, "generated_at", json_string(generated_at));
    json_object_set_new(out, "events", events);
    json_object_set_new(out, "alerts", alerts);
    json_object_set_new(out, "reads", reads);
    json_decref(shown);
    json_decref(p.refs);
    return out;
}

/* ---- HTML ---------------------------------------------------------------- */

static void esc(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '&': fputs("&amp;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}

/* A value as text: strings as they are, anything else as compact JSON. */
static void value(FILE *out, const json_t *v)
{
    if (json_is_string(v)) {
        esc(out, json_string_value(v));
        return;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
    esc(out, s);
    free(s);
}

static void fields(FILE *out, const json_t *o)
{
    const char *k;
    json_t *v;
    fputs("<dl>", out);
    json_object_foreach((json_t *)o, k, v) {
        fputs("<dt>", out);
        esc(out, k);
        fputs("</dt><dd>", out);
        value(out, v);
        fputs("</dd>", out);
    }
    fputs("</dl>", out);
}

static void proposals(FILE *out, const json_t *it)
{
    size_t i;
    json_t *w;
    if (!json_array_size(json_object_get(it, "withhold"))) {
        fputs("<td>disclose</td>", out);
        return;
    }
    fputs("<td><ul>", out);
    json_array_foreach(json_object_get(it, "withhold"), i, w) {
        fputs("<li><b>", out);
        esc(out, str(w, "code"));
        fputs("</b>: ", out);
        esc(out, str(w, "reason"));
        fputs("</li>", out);
    }
    fputs("</ul></td>", out);
}

static const char css[] =
    "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#111}"
    "h1{font-size:1.4em}h2{font-size:1.15em;margin-top:1.6em}"
    "table{border-collapse:collapse;width:100%}th,td{border:1px solid #bbb;padding:4px 6px;"
    "vertical-align:top;text-align:left}th{background:#eee}"
    "dl{margin:0;display:grid;grid-template-columns:max-content 1fr;gap:0 .8em}dt{color:#555}"
    "dd{margin:0}ul{margin:0;padding-left:1.2em}.note{color:#444}"
    "@media print{body{margin:1cm}}";

void csph_sar_html(FILE *out, const json_t *pack)
{
    int review = !strcmp(str(pack, "kind"), "review");
    size_t i, j;
    json_t *it, *x;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width\"><title>",
          out);
    fputs(review ? "Subject access: review pack" : "Subject access: your records", out);
    fprintf(out, "</title><style>%s</style></head><body>\n<h1>", css);
    fputs(review ? "Subject access request: review pack for the data protection officer"
                 : "Records held about you",
          out);
    fputs("</h1>\n<p>Person reference <b>", out);
    esc(out, str(pack, "person"));
    fputs("</b>; generated ", out);
    esc(out, str(pack, "generated_at"));
    if (review) {
        fprintf(out, "; recorded in the log as dp.sar seq %lld.</p>\n",
                (long long)json_integer_value(json_object_get(pack, "request")));
        fputs("<p class=\"note\">Everything the hub holds about the person, with the "
              "withholdings the hub proposes. The disclosure copy applies them: review both "
              "before anything is sent. This pack names staff and third parties: keep it "
              "within data protection.</p>\n<h2>Third parties</h2><table><tr><th>reference"
              "</th><th>shown in the disclosure as</th></tr>",
              out);
        json_array_foreach(json_object_get(pack, "third_parties"), i, it) {
            fputs("<tr><td>", out);
            esc(out, str(it, "ref"));
            fputs("</td><td>", out);
            esc(out, str(it, "placeholder"));
            fputs("</td></tr>", out);
        }
        fputs("</table>\n", out);
    } else {
        fputs(".</p>\n<p class=\"note\">Where a record also concerns other people, their "
              "references are replaced by placeholders (third-party-1, ...).</p>\n",
              out);
    }
    fputs("<h2>Records naming you</h2>\n<table><tr><th>seq</th><th>received</th><th>type"
          "</th><th>content</th>",
          out);
    fputs(review ? "<th>proposal</th></tr>\n" : "</tr>\n", out);
    json_array_foreach(json_object_get(pack, "events"), i, it) {
        fprintf(out, "<tr><td>%lld</td><td>",
                (long long)json_integer_value(json_object_get(it, "seq")));
        esc(out, str(it, "received_at"));
        fputs("</td><td>", out);
        esc(out, str(it, "type"));
        fputs("</td><td>", out);
        fields(out, json_object_get(it, "event"));
        fputs("</td>", out);
        if (review)
            proposals(out, it);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n<h2>Alerts about you and what was decided</h2>\n<table><tr><th>alert"
          "</th><th>details</th><th>decisions</th>",
          out);
    fputs(review ? "<th>proposal</th></tr>\n" : "</tr>\n", out);
    json_array_foreach(json_object_get(pack, "alerts"), i, it) {
        fprintf(out, "<tr><td>%lld</td><td>",
                (long long)json_integer_value(json_object_get(it, "id")));
        if (review) {
            fields(out, json_object_get(it, "alert"));
        } else {
            json_t *d = json_deep_copy(it);
            json_object_del(d, "decisions");
            json_object_del(d, "id");
            fields(out, d);
            json_decref(d);
        }
        fputs("</td><td><ul>", out);
        json_array_foreach(json_object_get(it, "decisions"), j, x) {
            fputs("<li>", out);
            fields(out, review ? json_object_get(x, "event") : x);
            fputs("</li>", out);
        }
        fputs("</ul></td>", out);
        if (review)
            proposals(out, it);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n<h2>Who read these records</h2>\n<table><tr><th>when</th>", out);
    fputs(review ? "<th>reader (identity, role)</th><th>query</th>"
                 : "<th>role</th><th>organisation</th><th>what was read</th>",
          out);
    fputs("<th>records returned</th>", out);
    fputs(review ? "<th>proposal</th></tr>\n" : "</tr>\n", out);
    json_array_foreach(json_object_get(pack, "reads"), i, it) {
        const json_t *acc = review ? json_object_get(json_object_get(it, "access"), "event") : it;
        fputs("<tr><td>", out);
        esc(out, review ? str(json_object_get(it, "access"), "received_at") : str(it, "at"));
        fputs("</td><td>", out);
        if (review) {
            esc(out, str(acc, "identity"));
            fputs(" (", out);
            esc(out, str(acc, "role"));
            if (json_object_get(acc, "gateway")) {
                fputs(", via ", out);
                esc(out, str(acc, "gateway"));
            }
            fputs(")</td><td>", out);
            esc(out, str(acc, "op"));
            fputs(" ", out);
            esc(out, str(acc, "query"));
        } else {
            esc(out, str(it, "role"));
            fputs("</td><td>", out);
            esc(out, str(it, "organisation"));
            fputs("</td><td>", out);
            esc(out, str(it, "op"));
        }
        fputs("</td><td>events ", out);
        value(out, json_object_get(it, "events"));
        fputs(", alerts ", out);
        value(out, json_object_get(it, "alerts"));
        fputs("</td>", out);
        if (review)
            proposals(out, it);
        fputs("</tr>\n", out);
    }
    fputs("</table>\n</body></html>\n", out);
}
