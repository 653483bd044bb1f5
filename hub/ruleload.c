/* ruleload.c: the rule file into a hub_ruleset (ruleset.h). Every
 * mistake is refused with "file:line: what is wrong" (docs/rules.md,
 * "Mistakes in the file"). */
#include "ruleset.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schema.h"
#include "timefmt.h"
#include "yamlx.h"

static enum hub_err nomem(struct hub_error *err)
{
    return hub_error_set(err, CSPH_ERR_NOMEM, NULL, "out of memory");
}

/* ---- loading rules ----------------------------------------------------- */

static enum hub_err read_days(struct hub_yaml *y, yaml_node_t *n, const char *what, int *out,
                              int min, struct hub_error *err)
{
    int64_t v;
    enum hub_err rc = hub_yaml_int(y, n, what, min, CSPH_DAYS_MAX, &v, err);
    if (!rc)
        *out = (int)v;
    return rc;
}

static enum hub_err read_priority(struct hub_yaml *y, yaml_node_t *n, enum hub_priority *p,
                                  struct hub_error *err)
{
    const char *s = hub_yaml_scalar(n);
    int v = s ? hub_priority_parse(s, strlen(s)) : -1;
    if (v < 0)
        return hub_yaml_fail(y, n, err, "unknown priority '%s' (use standard, medium or high)",
                             s ? s : "?");
    *p = (enum hub_priority)v;
    return CSPH_ERR_OK;
}

static enum hub_err read_path(struct hub_ruleset *r, struct hub_yaml *y, yaml_node_t *n,
                              const char *what, struct hub_path *p, struct hub_error *err)
{
    const char *s = hub_yaml_scalar(n);
    if (!s)
        return hub_yaml_fail(y, n, err, "%s must be a field name", what);
    int pc = hub_path_compile(&r->arena, s, strlen(s), p);
    if (pc == -2)
        return nomem(err);
    if (pc)
        return hub_yaml_fail(y, n, err, "%s '%s' is not a field name (letters, digits, _ and -; a "
                             "dot for a nested field such as location.lsoa)", what, s);
    return CSPH_ERR_OK;
}

/* A key: one field or a list of up to CSPH_KEY_MAX_FIELDS. */
static enum hub_err read_key(struct hub_ruleset *r, struct hub_yaml *y, yaml_node_t *n,
                             struct hub_keyspec *k, struct hub_error *err)
{
    enum hub_err rc;
    if (hub_yaml_scalar(n)) {
        k->n = 1;
        return read_path(r, y, n, "key", &k->f[0], err);
    }
    size_t len = hub_yaml_seq_len(n);
    if (!n || n->type != YAML_SEQUENCE_NODE || len == 0 || len > CSPH_KEY_MAX_FIELDS)
        return hub_yaml_fail(y, n, err, "key must be a field or a list of 1 to %d fields",
                             CSPH_KEY_MAX_FIELDS);
    for (size_t i = 0; i < len; i++) {
        if ((rc = read_path(r, y, hub_yaml_seq_item(y, n, i), "key", &k->f[i], err)))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(k->f[i].text, k->f[j].text))
                return hub_yaml_fail(y, hub_yaml_seq_item(y, n, i), err,
                                     "key field '%s' is listed twice", k->f[i].text);
    }
    k->n = len;
    return CSPH_ERR_OK;
}

static enum hub_err read_due(struct hub_yaml *y, yaml_node_t *map, struct hub_tier *t,
                             int has_calendar, struct hub_error *err)
{
    yaml_node_t *d = hub_yaml_get(y, map, "due_days"), *w = hub_yaml_get(y, map, "due_working_days");
    enum hub_err rc;
    if (d && w)
        return hub_yaml_fail(y, w, err, "give due_days or due_working_days, not both");
    if (d) {
        t->due = CSPH_DUE_DAYS;
        return read_days(y, d, "due_days", &t->due_n, 0, err);
    }
    if (w) {
        if (!has_calendar)
            return hub_yaml_fail(y, w, err, "due_working_days needs a calendar: add "
                                 "'calendar: calendar.yaml' at the top of the rule file");
        t->due = CSPH_DUE_WORKING_DAYS;
        if ((rc = read_days(y, w, "due_working_days", &t->due_n, 0, err)))
            return rc;
    }
    return CSPH_ERR_OK;
}

/* panel: NAME or {from_field: FIELD}. */
static enum hub_err read_panel(struct hub_ruleset *r, struct hub_yaml *y, yaml_node_t *n,
                               int allow_field, int *panel, struct hub_path *field,
                               struct hub_error *err)
{
    static const char *const keys[] = {"from_field", NULL};
    const char *s = hub_yaml_scalar(n);
    if (s) {
        *panel = hub_ruleset_panel_find(r, s, strlen(s));
        if (*panel < 0) {
            char known[256] = "";
            size_t off = 0;
            for (size_t i = 0; i < r->npanels && off < sizeof known; i++)
                off += (size_t)snprintf(known + off, sizeof known - off, "%s%s", i ? ", " : "",
                                        r->panels[i].name);
            return hub_yaml_fail(y, n, err, "unknown panel '%s' (configured: %s)", s, known);
        }
        return CSPH_ERR_OK;
    }
    if (!allow_field || !n || n->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, n, err, allow_field
                                             ? "panel must be a panel name or {from_field: FIELD}"
                                             : "panel must be a panel name");
    enum hub_err rc = hub_yaml_only_keys(y, n, keys, "panel", err);
    yaml_node_t *f = hub_yaml_get(y, n, "from_field");
    if (rc)
        return rc;
    if (!f)
        return hub_yaml_fail(y, n, err, "panel: {from_field: FIELD} names the event field that "
                             "holds the panel");
    *panel = -1;
    return read_path(r, y, f, "from_field", field, err);
}

static enum hub_err read_tiers(struct hub_yaml *y, yaml_node_t *n, struct hub_rule *R,
                               int has_calendar, struct hub_error *err)
{
    static const char *const keys[] = {"at_least", "priority", "due_days", "due_working_days", NULL};
    size_t len = hub_yaml_seq_len(n);
    enum hub_err rc;
    if (!n || n->type != YAML_SEQUENCE_NODE || len == 0 || len > CSPH_TIERS_MAX)
        return hub_yaml_fail(y, n, err, "tiers must list 1 to %d tiers, as in "
                             "[{at_least: 3, priority: medium}]", CSPH_TIERS_MAX);
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *t = hub_yaml_seq_item(y, n, i), *v;
        struct hub_tier *T = &R->tiers[i];
        if ((rc = hub_yaml_only_keys(y, t, keys, "a tier", err)))
            return rc;
        if (!(v = hub_yaml_get(y, t, "at_least")))
            return hub_yaml_fail(y, t, err, "a tier needs at_least (how many events)");
        if ((rc = hub_yaml_int(y, v, "at_least", 1, CSPH_AT_LEAST_MAX, &T->at_least, err)))
            return rc;
        if (!(v = hub_yaml_get(y, t, "priority")))
            return hub_yaml_fail(y, t, err, "a tier needs a priority (standard, medium or high)");
        if ((rc = read_priority(y, v, &T->priority, err)) ||
            (rc = read_due(y, t, T, has_calendar, err)))
            return rc;
        if (i > 0 && T->at_least <= R->tiers[i - 1].at_least)
            return hub_yaml_fail(y, t, err, "tiers must rise: at_least %lld does not exceed the "
                                 "tier before (%lld)", (long long)T->at_least,
                                 (long long)R->tiers[i - 1].at_least);
        if (i > 0 && T->priority < R->tiers[i - 1].priority)
            return hub_yaml_fail(y, t, err, "tiers must rise: priority %s is below the tier "
                                 "before (%s)", hub_priority_name(T->priority),
                                 hub_priority_name(R->tiers[i - 1].priority));
    }
    R->ntiers = len;
    return CSPH_ERR_OK;
}

static const char *const default_reason_event = "{rule}: {key_name} {key} on {date}";
static const char *const default_reason_prior =
    "{rule}: {key_name} {key} on {date}, with an earlier alert within {within} days";
static const char *const default_reason_window =
    "{count} events for {key_name} {key} between {first} and {last} (threshold {threshold} in "
    "{window} days)";
static const char *const default_reason_distinct =
    "{distinct} different values in {count} events for {key_name} {key} between {first} and "
    "{last} (threshold {threshold} in {window} days)";
static const char *const default_reason_restricted =
    "A case exists for {key_name} {key} under rule {rule}; details are restricted to the {panel} "
    "panel";

static void hash_bytes(crypto_generichash_state *st, const unsigned char *p, size_t n)
{
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)n >> (8 * i));
    crypto_generichash_update(st, len, sizeof len);
    if (n)
        crypto_generichash_update(st, p, n);
}

/* A YAML subtree into a hash: its shape and scalars, not its layout, so
 * re-indenting or re-quoting a rule keeps its state. */
static void hash_node(crypto_generichash_state *st, struct hub_yaml *y, yaml_node_t *n)
{
    unsigned char tag = n ? (unsigned char)n->type : 0;
    crypto_generichash_update(st, &tag, 1);
    if (!n)
        return;
    if (n->type == YAML_SCALAR_NODE) {
        hash_bytes(st, n->data.scalar.value, n->data.scalar.length);
    } else if (n->type == YAML_SEQUENCE_NODE) {
        for (size_t i = 0; i < hub_yaml_seq_len(n); i++)
            hash_node(st, y, hub_yaml_seq_item(y, n, i));
    } else if (n->type == YAML_MAPPING_NODE) {
        for (size_t i = 0; i < hub_yaml_map_len(n); i++) {
            yaml_node_t *k, *v;
            hub_yaml_map_pair(y, n, i, &k, &v);
            hash_node(st, y, k);
            hash_node(st, y, v);
        }
    }
}

/* when: a type or a list of types, each with a schema. */
static enum hub_err read_types(struct hub_ruleset *r, struct hub_yaml *y, yaml_node_t *n,
                               const struct hub_schemas *schemas, const char ***out,
                               size_t *nout, struct hub_error *err)
{
    size_t ntypes = hub_yaml_scalar(n) ? 1 : hub_yaml_seq_len(n);
    if (!n || ntypes == 0 || (!hub_yaml_scalar(n) && n->type != YAML_SEQUENCE_NODE))
        return hub_yaml_fail(y, n, err, "when must be an event type or a list of types");
    const char **v = hub_arena_alloc(&r->arena, ntypes * sizeof *v);
    if (!v)
        return nomem(err);
    for (size_t i = 0; i < ntypes; i++) {
        yaml_node_t *t = hub_yaml_scalar(n) ? n : hub_yaml_seq_item(y, n, i);
        const char *ts = hub_yaml_scalar(t);
        if (!ts || !*ts)
            return hub_yaml_fail(y, t, err, "when must be an event type or a list of types");
        if (schemas && hub_schemas_find(schemas, ts, strlen(ts)) < 0)
            return hub_yaml_fail(y, t, err, "unknown event type '%s' (no schema of that name)", ts);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(v[j], ts))
                return hub_yaml_fail(y, t, err, "event type '%s' is listed twice", ts);
        if (!(v[i] = hub_arena_strdup(&r->arena, ts, strlen(ts))))
            return nomem(err);
    }
    *out = v;
    *nout = ntypes;
    return CSPH_ERR_OK;
}

static int type_in(const char *const *types, size_t n, const char *t)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(types[i], t))
            return 1;
    return 0;
}

/* Every field a rule names must be one that each type it is tested on can
 * carry: a misspelt field would make the rule silently never fire. */
struct field_check {
    const struct hub_schemas *schemas;
    const char *const *types;
    size_t ntypes;
    const char *missing_type;
    const char *missing_field;
};

static int check_path(struct field_check *fc, const struct hub_path *p)
{
    for (size_t i = 0; i < fc->ntypes; i++)
        if (!hub_schema_has_field(fc->schemas, fc->types[i], p->text)) {
            fc->missing_type = fc->types[i];
            fc->missing_field = p->text;
            return 1;
        }
    return 0;
}

static int check_test(void *ctx, const struct hub_cond *t)
{
    return check_path(ctx, &t->field);
}

static enum hub_err field_fail(struct hub_yaml *y, yaml_node_t *n, const struct field_check *fc,
                               const char *rule, struct hub_error *err)
{
    return hub_yaml_fail(y, n, err, "rule '%s' names field '%s', which events of type %s do not "
                         "have (see schemas/%s.yaml)", rule, fc->missing_field, fc->missing_type,
                         fc->missing_type);
}

static enum hub_err check_fields(struct hub_ruleset *r, struct hub_yaml *y, yaml_node_t *node,
                                 const struct hub_rule *R, const struct hub_schemas *schemas,
                                 struct hub_error *err)
{
    struct field_check fc = {schemas, R->types, R->ntypes, NULL, NULL};
    yaml_node_t *n;
    if (!schemas)
        return CSPH_ERR_OK;
    if (hub_cond_each_test(&R->match, check_test, &fc))
        return field_fail(y, hub_yaml_get(y, node, "match"), &fc, R->name, err);
    if (R->panel < 0 && check_path(&fc, &R->panel_field))
        return field_fail(y, hub_yaml_get(y, node, "panel"), &fc, R->name, err);
    if (R->prio_from_field && check_path(&fc, &R->prio_field))
        return field_fail(y, hub_yaml_get(y, node, "priority"), &fc, R->name, err);
    if (R->has_distinct && !R->distinct_criteria && check_path(&fc, &R->distinct))
        return field_fail(y, hub_yaml_get(y, node, "distinct"), &fc, R->name, err);
    if (R->prior_has_same && check_path(&fc, &R->prior_same))
        return field_fail(y, hub_yaml_get(y, node, "prior_alert"), &fc, R->name, err);
    for (size_t a = 0; a < R->nkeys; a++) {
        const struct hub_keyspec *K = &R->keys[a];
        struct field_check kc = {schemas, K->ntypes ? K->types : R->types,
                                 K->ntypes ? K->ntypes : R->ntypes, NULL, NULL};
        yaml_node_t *where = (n = hub_yaml_get(y, node, "key_each"))
                                 ? hub_yaml_seq_item(y, n, a)
                                 : hub_yaml_get(y, node, "key");
        for (size_t i = 0; i < K->n; i++)
            if (check_path(&kc, &K->f[i]))
                return field_fail(y, where, &kc, R->name, err);
        if (hub_cond_each_test(&K->match, check_test, &kc))
            return field_fail(y, where, &kc, R->name, err);
    }
    /* A reason's {field:X} shows "not given" for a type without X: it is
     * checked against the types only when the rule has one. */
    if (R->ntypes == 1)
        for (int w = 0; w < 2; w++) {
            const struct hub_tmpl *t = w ? &R->restricted_reason : &R->reason;
            for (size_t i = 0; i < t->n; i++)
                if ((t->segs[i].ph == CSPH_PH_FIELD || t->segs[i].ph == CSPH_PH_FIELD_DATE) &&
                    check_path(&fc, &t->segs[i].f))
                    return field_fail(y, hub_yaml_get(y, node, w ? "restricted_reason" : "reason"),
                                      &fc, R->name, err);
        }
    return CSPH_ERR_OK;
}

static enum hub_err read_key_each(struct hub_ruleset *r, struct hub_yaml *y, yaml_node_t *each,
                                  struct hub_rule *R, const struct hub_schemas *schemas,
                                  struct hub_error *err)
{
    static const char *const ekeys[] = {"key", "match", "when", "criterion", NULL};
    size_t len = hub_yaml_seq_len(each);
    enum hub_err rc;
    yaml_node_t *n;
    if (each->type != YAML_SEQUENCE_NODE || len == 0 || len > CSPH_KEY_EACH_MAX)
        return hub_yaml_fail(y, each, err, "key_each must list 1 to %d alternatives, each "
                             "{key: FIELD, match: [...]} (with when: TYPE to count several "
                             "types)", CSPH_KEY_EACH_MAX);
    if (!(R->keys = hub_arena_alloc(&r->arena, len * sizeof *R->keys)))
        return nomem(err);
    R->nkeys = len;
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *alt = hub_yaml_seq_item(y, each, i), *m, *w, *c;
        struct hub_keyspec *K = &R->keys[i];
        if ((rc = hub_yaml_only_keys(y, alt, ekeys, "a key_each alternative", err)))
            return rc;
        if (!(n = hub_yaml_get(y, alt, "key")))
            return hub_yaml_fail(y, alt, err, "a key_each alternative needs a key");
        if ((rc = read_key(r, y, n, K, err)))
            return rc;
        if ((m = hub_yaml_get(y, alt, "match")) &&
            (rc = hub_cond_compile(&r->arena, y, m, &K->match, err)))
            return rc;
        if ((w = hub_yaml_get(y, alt, "when"))) {
            if ((rc = read_types(r, y, w, schemas, &K->types, &K->ntypes, err)))
                return rc;
            for (size_t t = 0; t < K->ntypes; t++)
                if (!type_in(R->types, R->ntypes, K->types[t]))
                    return hub_yaml_fail(y, w, err, "type '%s' of this alternative is not in the "
                                         "rule's when", K->types[t]);
        }
        if ((c = hub_yaml_get(y, alt, "criterion"))) {
            const char *s;
            if ((rc = hub_yaml_str(y, c, "criterion", &s, err)))
                return rc;
            if (!*s)
                return hub_yaml_fail(y, c, err, "criterion must name the criterion");
            if (!(K->criterion = hub_arena_strdup(&r->arena, s, strlen(s))))
                return nomem(err);
        }
    }
    return CSPH_ERR_OK;
}

static enum hub_err read_prior(struct hub_ruleset *r, struct hub_yaml *y, yaml_node_t *prior,
                               struct hub_rule *R, struct hub_error *err)
{
    static const char *const akeys[] = {"panel", "within_days", "status", "same", NULL};
    yaml_node_t *p, *w, *st, *same;
    enum hub_err rc;
    if ((rc = hub_yaml_only_keys(y, prior, akeys, "prior_alert", err)))
        return rc;
    if (!(p = hub_yaml_get(y, prior, "panel")) || !(w = hub_yaml_get(y, prior, "within_days")))
        return hub_yaml_fail(y, prior, err, "prior_alert needs panel and within_days, as in "
                             "{panel: marac, within_days: 365}");
    struct hub_path unused;
    if ((rc = read_panel(r, y, p, 0, &R->prior_panel, &unused, err)) ||
        (rc = read_days(y, w, "within_days", &R->prior_days, 1, err)))
        return rc;
    if ((st = hub_yaml_get(y, prior, "status"))) {
        const char *s = hub_yaml_scalar(st);
        if (!s || strcmp(s, "accepted"))
            return hub_yaml_fail(y, st, err, "prior_alert status can only be 'accepted' (an "
                                 "alert the panel accepted, or leave it out for any alert)");
        R->prior_accepted = 1;
    }
    if ((same = hub_yaml_get(y, prior, "same"))) {
        if ((rc = read_path(r, y, same, "same", &R->prior_same, err)))
            return rc;
        R->prior_has_same = 1;
    }
    R->prior = 1;
    R->prior_ms = (int64_t)R->prior_days * CSPH_MS_PER_DAY;
    return CSPH_ERR_OK;
}

static enum hub_err read_incidents(struct hub_ruleset *r, struct hub_yaml *y, yaml_node_t *inc,
                                   struct hub_rule *R, const struct hub_schemas *schemas,
                                   struct hub_error *err)
{
    static const char *const ikeys[] = {"tolerance_minutes", "reported_within_days", "merge", NULL};
    yaml_node_t *t, *rw, *m;
    enum hub_err rc;
    int64_t minutes = 60;
    int days = 0;
    if (!inc || inc->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, inc, err, "incidents must be a mapping, as in {tolerance_minutes: "
                             "60, reported_within_days: 31, merge: [call, asb.report]}");
    if ((rc = hub_yaml_only_keys(y, inc, ikeys, "incidents", err)))
        return rc;
    if ((t = hub_yaml_get(y, inc, "tolerance_minutes")) &&
        (rc = hub_yaml_int(y, t, "tolerance_minutes", 0, 10080, &minutes, err)))
        return rc;
    if ((rw = hub_yaml_get(y, inc, "reported_within_days")) &&
        (rc = read_days(y, rw, "reported_within_days", &days, 1, err)))
        return rc;
    if ((m = hub_yaml_get(y, inc, "merge"))) {
        if ((rc = read_types(r, y, m, schemas, &R->merge_types, &R->nmerge_types, err)))
            return rc;
        for (size_t i = 0; i < R->nmerge_types; i++)
            if (!type_in(R->types, R->ntypes, R->merge_types[i]))
                return hub_yaml_fail(y, m, err, "merge type '%s' is not in the rule's when",
                                     R->merge_types[i]);
    }
    R->incidents = 1;
    R->tolerance_ms = minutes * 60000;
    R->report_limit_ms = (int64_t)days * CSPH_MS_PER_DAY;
    return CSPH_ERR_OK;
}

static enum hub_err parse_rule(struct hub_ruleset *r, struct hub_yaml *y, yaml_node_t *node,
                               struct hub_rule *R, const struct hub_schemas *schemas,
                               struct hub_error *err)
{
    static const char *const keys[] = {
        "name", "description", "panel", "when", "match", "key", "key_each", "distinct",
        "window_days", "tiers", "priority", "due_days", "due_working_days", "prior_alert",
        "incidents", "reason", "restricted_reason", NULL};
    enum hub_err rc;
    yaml_node_t *n;
    const char *s;
    char where[96];
    if (!node || node->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, node, err, "each rule is a mapping that starts with 'name:'");
    if (!(n = hub_yaml_get(y, node, "name")))
        return hub_yaml_fail(y, node, err, "a rule needs a name");
    if ((rc = hub_yaml_str(y, n, "name", &s, err)))
        return rc;
    size_t nl = strlen(s);
    int name_ok = nl > 0 && nl <= CSPH_RULE_NAME_MAX;
    for (size_t i = 0; name_ok && i < nl; i++)
        name_ok = hub_field_char(s[i]) || s[i] == '.';
    if (!name_ok)
        return hub_yaml_fail(y, n, err, "rule name '%s' must be 1-%d letters, digits, '.', '_' "
                             "or '-'", s, CSPH_RULE_NAME_MAX);
    if (!(R->name = hub_arena_strdup(&r->arena, s, nl)))
        return nomem(err);
    unsigned char h[16];
    crypto_generichash(h, sizeof h, (const unsigned char *)s, nl, NULL, 0);
    memcpy(R->id, h, sizeof R->id);
    snprintf(where, sizeof where, "rule '%s'", s);
    if ((rc = hub_yaml_only_keys(y, node, keys, where, err)))
        return rc;
    if ((n = hub_yaml_get(y, node, "description")) && (rc = hub_yaml_str(y, n, "description", &s, err)))
        return rc;

    if (!(n = hub_yaml_get(y, node, "panel")))
        return hub_yaml_fail(y, node, err, "%s needs a panel", where);
    if ((rc = read_panel(r, y, n, 1, &R->panel, &R->panel_field, err)))
        return rc;
    if (!(n = hub_yaml_get(y, node, "when")))
        return hub_yaml_fail(y, node, err, "%s needs 'when:' (an event type or a list of types)",
                             where);
    if ((rc = read_types(r, y, n, schemas, &R->types, &R->ntypes, err)))
        return rc;
    if ((n = hub_yaml_get(y, node, "match")) &&
        (rc = hub_cond_compile(&r->arena, y, n, &R->match, err)))
        return rc;

    yaml_node_t *key = hub_yaml_get(y, node, "key"), *each = hub_yaml_get(y, node, "key_each");
    if (key && each)
        return hub_yaml_fail(y, each, err, "give key or key_each, not both");
    if (!key && !each)
        return hub_yaml_fail(y, node, err, "%s needs a key (the field(s) it groups by) or key_each",
                             where);
    if (key) {
        if (!(R->keys = hub_arena_alloc(&r->arena, sizeof *R->keys)))
            return nomem(err);
        R->nkeys = 1;
        if ((rc = read_key(r, y, key, &R->keys[0], err)))
            return rc;
    } else if ((rc = read_key_each(r, y, each, R, schemas, err))) {
        return rc;
    }
    size_t ncriteria = 0;
    for (size_t a = 0; a < R->nkeys; a++)
        ncriteria += R->keys[a].criterion != NULL;
    if (ncriteria && ncriteria != R->nkeys)
        return hub_yaml_fail(y, each, err, "%s: give every key_each alternative a criterion, or "
                             "none", where);

    yaml_node_t *win = hub_yaml_get(y, node, "window_days"), *tiers = hub_yaml_get(y, node, "tiers"),
                *prio = hub_yaml_get(y, node, "priority"), *prior = hub_yaml_get(y, node, "prior_alert"),
                *dist = hub_yaml_get(y, node, "distinct"), *inc = hub_yaml_get(y, node, "incidents");
    if (win) {
        R->windowed = 1;
        if ((rc = read_days(y, win, "window_days", &R->window_days, 1, err)))
            return rc;
        R->window_ms = (int64_t)R->window_days * CSPH_MS_PER_DAY;
        if (prior)
            return hub_yaml_fail(y, prior, err, "prior_alert fires per event: remove window_days "
                                 "or prior_alert");
        if (prio)
            return hub_yaml_fail(y, prio, err, "a windowed rule sets its priority in each tier");
        if ((n = hub_yaml_get(y, node, "due_days")) || (n = hub_yaml_get(y, node, "due_working_days")))
            return hub_yaml_fail(y, n, err, "a windowed rule sets its deadline in each tier");
        if (!tiers)
            return hub_yaml_fail(y, win, err, "a windowed rule needs tiers, as in "
                                 "tiers: [{at_least: 3, priority: medium}]");
        if ((rc = read_tiers(y, tiers, R, r->has_calendar, err)))
            return rc;
        if (dist) {
            R->has_distinct = 1;
            const char *ds = hub_yaml_scalar(dist);
            if (ncriteria && ds && !strcmp(ds, "criterion"))
                R->distinct_criteria = 1;
            else if (ncriteria)
                return hub_yaml_fail(y, dist, err, "a rule whose alternatives name criteria "
                                     "counts them: write distinct: criterion");
            else if ((rc = read_path(r, y, dist, "distinct", &R->distinct, err)))
                return rc;
        } else if (ncriteria) {
            return hub_yaml_fail(y, each, err, "criteria are counted with distinct: criterion");
        }
        if (R->distinct_criteria) {
            size_t names = 0;
            for (size_t a = 0; a < R->nkeys; a++) {
                int seen = 0;
                for (size_t b = 0; b < a; b++)
                    seen |= !strcmp(R->keys[a].criterion, R->keys[b].criterion);
                names += !seen;
            }
            if ((size_t)R->tiers[R->ntiers - 1].at_least > names)
                return hub_yaml_fail(y, tiers, err, "%s: a tier needs %lld different criteria "
                                     "but the rule names %zu: it could never fire", where,
                                     (long long)R->tiers[R->ntiers - 1].at_least, names);
        }
        if (inc) {
            if (R->has_distinct)
                return hub_yaml_fail(y, inc, err, "incidents counts reports of one person as "
                                     "incidents; it cannot be combined with distinct");
            if ((rc = read_incidents(r, y, inc, R, schemas, err)))
                return rc;
        }
    } else {
        if (tiers)
            return hub_yaml_fail(y, tiers, err, "tiers need window_days (the period they count in)");
        if (dist)
            return hub_yaml_fail(y, dist, err, "distinct needs window_days (the period it counts in)");
        if (inc)
            return hub_yaml_fail(y, inc, err, "incidents needs window_days (the period it counts in)");
        if (ncriteria)
            return hub_yaml_fail(y, each, err, "criteria need window_days (the period they are "
                                 "met in)");
        if (!prio)
            return hub_yaml_fail(y, node, err, "%s needs a priority (standard, medium or high), or "
                                 "window_days and tiers", where);
        R->ntiers = 1;
        R->tiers[0].at_least = 1;
        if (hub_yaml_scalar(prio)) {
            if ((rc = read_priority(y, prio, &R->tiers[0].priority, err)))
                return rc;
        } else {
            static const char *const pkeys[] = {"from_field", "raise", NULL};
            yaml_node_t *f, *rs;
            int64_t raise = 0;
            if ((rc = hub_yaml_only_keys(y, prio, pkeys, "priority", err)))
                return rc;
            if (!(f = hub_yaml_get(y, prio, "from_field")))
                return hub_yaml_fail(y, prio, err, "priority must be standard, medium, high or "
                                     "{from_field: FIELD, raise: N}");
            if ((rc = read_path(r, y, f, "from_field", &R->prio_field, err)))
                return rc;
            if ((rs = hub_yaml_get(y, prio, "raise")) &&
                (rc = hub_yaml_int(y, rs, "raise", 0, 2, &raise, err)))
                return rc;
            R->prio_from_field = 1;
            R->prio_raise = (int)raise;
        }
        if ((rc = read_due(y, node, &R->tiers[0], r->has_calendar, err)))
            return rc;
        if (prior && (rc = read_prior(r, y, prior, R, err)))
            return rc;
        if (R->prior_accepted && R->panel < 0)
            return hub_yaml_fail(y, prior, err, "%s: a repeat of an accepted referral is raised "
                                 "when the decision arrives, so it needs a fixed panel (panel: "
                                 "NAME), not one from the event", where);
    }

    /* The window state belongs to what decides which events count: editing
     * a threshold or a reason keeps it, editing a test starts it again
     * (from the log: rules.c). */
    crypto_generichash_state st;
    static const char *const counted[] = {"when", "match", "key", "key_each", "distinct",
                                          "incidents", "window_days", "prior_alert", NULL};
    crypto_generichash_init(&st, NULL, 0, sizeof h);
    hash_bytes(&st, (const unsigned char *)R->name, strlen(R->name));
    for (size_t i = 0; counted[i]; i++) {
        hash_bytes(&st, (const unsigned char *)counted[i], strlen(counted[i]));
        hash_node(&st, y, hub_yaml_get(y, node, counted[i]));
    }
    crypto_generichash_final(&st, h, sizeof h);
    memcpy(R->sid, h, sizeof R->sid);

    /* reasons: a fixed restricted panel only ever shows the restricted one */
    int fixed_restricted = R->panel >= 0 && r->panels[R->panel].restricted;
    const char *pname = R->panel >= 0 ? r->panels[R->panel].name : "";
    yaml_node_t *rn = hub_yaml_get(y, node, "reason"), *rrn = hub_yaml_get(y, node, "restricted_reason");
    const char *rs = R->prior ? default_reason_prior
                     : !R->windowed ? default_reason_event
                     : R->has_distinct ? default_reason_distinct
                                       : default_reason_window;
    if (rn && (rc = hub_yaml_str(y, rn, "reason", &rs, err)))
        return rc;
    if (fixed_restricted && !rn)
        rs = default_reason_restricted;
    if ((rc = hub_tmpl_compile(&r->arena, y, rn, rs, fixed_restricted, pname, &R->reason, err)))
        return rc;
    const char *rrs = fixed_restricted ? rs : default_reason_restricted;
    if (rrn && (rc = hub_yaml_str(y, rrn, "restricted_reason", &rrs, err)))
        return rc;
    if ((rc = hub_tmpl_compile(&r->arena, y, rrn ? rrn : rn, rrs, 1,
                               pname[0] ? pname : "(from the event)", &R->restricted_reason, err)))
        return rc;
    return check_fields(r, y, node, R, schemas, err);
}

static enum hub_err read_file(const char *path, unsigned char **buf, size_t *len,
                              struct hub_error *err)
{
    FILE *f = fopen(path, "rb");
    *buf = NULL;
    *len = 0;
    if (!f)
        return hub_error_set(err, CSPH_ERR_IO, NULL, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 0;
    for (;;) {
        if (*len + 4096 > cap) {
            size_t c = cap ? cap * 2 : 65536;
            unsigned char *b = realloc(*buf, c);
            if (!b) {
                fclose(f);
                return nomem(err);
            }
            *buf = b;
            cap = c;
        }
        size_t got = fread(*buf + *len, 1, cap - *len, f);
        *len += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad)
        return hub_error_set(err, CSPH_ERR_IO, NULL, "%s: cannot read", path);
    return CSPH_ERR_OK;
}

int hub_ruleset_panel_find(const struct hub_ruleset *r, const char *s, size_t n)
{
    for (size_t i = 0; i < r->npanels; i++)
        if (r->panel_len[i] == n && memcmp(r->panels[i].name, s, n) == 0)
            return (int)i;
    return -1;
}

int64_t hub_ruleset_tier_due(const struct hub_ruleset *r, const struct hub_tier *t,
                             int64_t raised_ms)
{
    if (t->due == CSPH_DUE_DAYS)
        return raised_ms + (int64_t)t->due_n * CSPH_MS_PER_DAY;
    return hub_calendar_add_working_days(&r->calendar, raised_ms, t->due_n);
}

void hub_ruleset_free(struct hub_ruleset **sp)
{
    if (!sp || !*sp)
        return;
    struct hub_ruleset *r = *sp;
    hub_calendar_free(&r->calendar);
    free(r->rules_text);
    free(r->calendar_text);
    hub_arena_free(&r->arena);
    free(r);
    *sp = NULL;
}

/* The rules of y (the rule file, its calendar already read into r). */
static enum hub_err read_rules(struct hub_ruleset *r, struct hub_yaml *y, yaml_node_t *n,
                               const struct hub_schemas *schemas, struct hub_error *err)
{
    enum hub_err rc;
    size_t nrules = hub_yaml_seq_len(n), ntypes_max = 0;
    for (size_t i = 0; i < nrules; i++) {
        yaml_node_t *w = hub_yaml_get(y, hub_yaml_seq_item(y, n, i), "when");
        ntypes_max += w && !hub_yaml_scalar(w) ? hub_yaml_seq_len(w) : 1;
    }
    r->rules = hub_arena_alloc(&r->arena, (nrules ? nrules : 1) * sizeof *r->rules);
    r->types = hub_arena_alloc(&r->arena, (ntypes_max ? ntypes_max : 1) * sizeof *r->types);
    if (!r->rules || !r->types)
        return nomem(err);
    for (size_t i = 0; i < ntypes_max; i++)
        if (!(r->types[i].rules = hub_arena_alloc(&r->arena, (nrules ? nrules : 1) * sizeof(int))))
            return nomem(err);
    for (size_t i = 0; i < nrules; i++) {
        yaml_node_t *rn = hub_yaml_seq_item(y, n, i);
        struct hub_rule *R = &r->rules[i];
        if ((rc = parse_rule(r, y, rn, R, schemas, err)))
            return rc;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(r->rules[j].name, R->name) || !memcmp(r->rules[j].id, R->id, 8))
                return hub_yaml_fail(y, hub_yaml_get(y, rn, "name"), err,
                                     "rule name '%s' is used twice (rule %zu has it too)", R->name,
                                     j + 1);
        for (size_t t = 0; t < R->ntypes; t++) {
            size_t tl = strlen(R->types[t]), slot;
            for (slot = 0; slot < r->ntypes; slot++)
                if (r->types[slot].len == tl && !memcmp(r->types[slot].name, R->types[t], tl))
                    break;
            if (slot == r->ntypes) {
                r->types[slot].name = R->types[t];
                r->types[slot].len = tl;
                r->ntypes++;
            }
            r->types[slot].rules[r->types[slot].n++] = (int)i;
        }
        r->nrules++;
    }
    return CSPH_ERR_OK;
}

static enum hub_err ruleset_new(struct hub_ruleset **out, const struct hub_panel *panels,
                                size_t npanels, struct hub_error *err)
{
    if (sodium_init() < 0)
        return hub_error_set(err, CSPH_ERR_INTERNAL, NULL, "libsodium failed to start");
    struct hub_ruleset *r = calloc(1, sizeof *r);
    if (!r)
        return nomem(err);
    hub_calendar_init(&r->calendar);
    r->npanels = npanels;
    size_t np = npanels ? npanels : 1;
    r->panels = hub_arena_alloc(&r->arena, np * sizeof *r->panels);
    r->panel_len = hub_arena_alloc(&r->arena, np * sizeof *r->panel_len);
    if (!r->panels || !r->panel_len) {
        hub_ruleset_free(&r);
        return nomem(err);
    }
    for (size_t i = 0; i < npanels; i++) {
        r->panels[i] = panels[i];
        r->panel_len[i] = strlen(panels[i].name);
    }
    *out = r;
    return CSPH_ERR_OK;
}

static void digest(struct hub_ruleset *r)
{
    crypto_generichash_state st;
    unsigned char d[16];
    crypto_generichash_init(&st, NULL, 0, sizeof d);
    hash_bytes(&st, r->rules_text, r->rules_len);
    hash_bytes(&st, r->calendar_text, r->calendar_len);
    for (size_t i = 0; i < r->npanels; i++) {
        hash_bytes(&st, (const unsigned char *)r->panels[i].name, r->panel_len[i]);
        unsigned char flag = r->panels[i].restricted ? 1 : 0;
        crypto_generichash_update(&st, &flag, 1);
    }
    crypto_generichash_final(&st, d, sizeof d);
    sodium_bin2hex(r->digest, sizeof r->digest, d, sizeof d);
}

/* Done reading: the set and its digest, or nothing when rc says so. */
static enum hub_err finish(struct hub_ruleset *r, struct hub_yaml *y, enum hub_err rc,
                           struct hub_ruleset **out)
{
    hub_yaml_free(y);
    if (rc) {
        hub_ruleset_free(&r);
        return rc;
    }
    digest(r);
    *out = r;
    return CSPH_ERR_OK;
}

/* The whole file once its YAML is loaded: the calendar it names is read
 * by read_calendar (from disk, or from the text the log kept). */
static enum hub_err read_top(struct hub_ruleset *r, struct hub_yaml *y,
                             const struct hub_schemas *schemas,
                             enum hub_err (*read_calendar)(struct hub_ruleset *r,
                                                            const char *name, void *ctx,
                                                            struct hub_error *err),
                              void *ctx, struct hub_error *err)
{
    static const char *const keys[] = {"calendar", "rules", NULL};
    yaml_node_t *root = hub_yaml_root(y), *n;
    enum hub_err rc;
    if (!root || root->type != YAML_MAPPING_NODE)
        return hub_yaml_fail(y, root, err, "expected 'calendar:' and 'rules:' followed by the rules");
    if ((rc = hub_yaml_only_keys(y, root, keys, "the rule file", err)))
        return rc;
    if ((n = hub_yaml_get(y, root, "calendar"))) {
        const char *s;
        if ((rc = hub_yaml_str(y, n, "calendar", &s, err)) || (rc = read_calendar(r, s, ctx, err)))
            return rc;
        r->has_calendar = 1;
    }
    if (!(n = hub_yaml_get(y, root, "rules")) ||
        (n->type != YAML_SEQUENCE_NODE && !(hub_yaml_scalar(n) && !*hub_yaml_scalar(n))))
        return hub_yaml_fail(y, n ? n : root, err, "expected 'rules:' followed by a list of rules");
    return read_rules(r, y, n, schemas, err);
}

struct from_disk {
    const char *path;
    struct hub_yaml *y;
};

static enum hub_err calendar_from_disk(struct hub_ruleset *r, const char *name, void *ctx,
                                       struct hub_error *err)
{
    struct from_disk *d = ctx;
    char cpath[1024];
    const char *slash = strrchr(d->path, '/');
    enum hub_err rc;
    if (name[0] == '/' || !slash)
        snprintf(cpath, sizeof cpath, "%s", name);
    else
        snprintf(cpath, sizeof cpath, "%.*s/%s", (int)(slash - d->path), d->path, name);
    snprintf(r->calendar_name, sizeof r->calendar_name, "%s", name);
    if ((rc = read_file(cpath, &r->calendar_text, &r->calendar_len, err))) {
        if (rc == CSPH_ERR_IO)
            rc = hub_yaml_fail(d->y, hub_yaml_get(d->y, hub_yaml_root(d->y), "calendar"), err,
                               "cannot read the calendar %s", cpath);
        return rc;
    }
    return hub_calendar_load(&r->calendar, cpath, err);
}

enum hub_err hub_ruleset_load(struct hub_ruleset **out, const char *path,
                              const struct hub_panel *panels, size_t npanels,
                              const struct hub_schemas *schemas, struct hub_error *err)
{
    struct hub_yaml y = {0};
    struct hub_ruleset *r;
    enum hub_err rc = ruleset_new(&r, panels, npanels, err);
    if (rc)
        return rc;
    const char *base = strrchr(path, '/');
    snprintf(r->rules_name, sizeof r->rules_name, "%s", base ? base + 1 : path);
    struct from_disk d = {path, &y};
    if (!(rc = read_file(path, &r->rules_text, &r->rules_len, err)) &&
        !(rc = hub_yaml_load(&y, path, err)))
        rc = read_top(r, &y, schemas, calendar_from_disk, &d, err);
    return finish(r, &y, rc, out);
}

struct from_text {
    const char *name;
    const unsigned char *text;
    size_t len;
};

static enum hub_err calendar_from_text(struct hub_ruleset *r, const char *name, void *ctx,
                                       struct hub_error *err)
{
    const struct from_text *t = ctx;
    snprintf(r->calendar_name, sizeof r->calendar_name, "%s", name);
    if (!t->text)
        return hub_error_set(err, CSPH_ERR_CONFIG, NULL, "%s: the calendar %s was not kept with "
                             "the rules", r->rules_name, name);
    if (!(r->calendar_text = malloc(t->len ? t->len : 1)))
        return nomem(err);
    memcpy(r->calendar_text, t->text, t->len);
    r->calendar_len = t->len;
    return hub_calendar_load_text(&r->calendar, t->name ? t->name : name, t->text, t->len, err);
}

enum hub_err hub_ruleset_load_text(struct hub_ruleset **out, const char *name,
                                   const unsigned char *rules, size_t rules_len,
                                   const char *calendar_name, const unsigned char *calendar,
                                   size_t calendar_len, const struct hub_panel *panels,
                                   size_t npanels, const struct hub_schemas *schemas,
                                   struct hub_error *err)
{
    struct hub_yaml y = {0};
    struct hub_ruleset *r;
    enum hub_err rc = ruleset_new(&r, panels, npanels, err);
    if (rc)
        return rc;
    snprintf(r->rules_name, sizeof r->rules_name, "%s", name);
    struct from_text t = {calendar_name, calendar, calendar_len};
    if (!(r->rules_text = malloc(rules_len ? rules_len : 1)))
        rc = nomem(err);
    if (!rc) {
        memcpy(r->rules_text, rules, rules_len);
        r->rules_len = rules_len;
        rc = hub_yaml_load_text(&y, name, rules, rules_len, err);
    }
    if (!rc)
        rc = read_top(r, &y, schemas, calendar_from_text, &t, err);
    return finish(r, &y, rc, out);
}
