/*
 * rules.c - rule files: YAML to rule_set, with Prometheus 2.42's checks (see
 * rules.h).
 *
 * Design.  The text goes through common/yamltree.c, so YAML is read exactly
 * as prometheus.yml is (yaml.v2 tags, aliases, merge keys) and every node
 * keeps its position.  Decoding has two passes per file, like Prometheus's
 * rulefmt: first the shape (keys known, types right, durations valid), which
 * stops at the first problem; then the contents of each group and rule,
 * which collects every problem, in rulefmt's order, so that `promlite check
 * rules` lists the same problems `promtool check rules` does.  A file is
 * added to the set only when it has no problem at all, so a failed reload
 * never runs half a file.
 *
 * Everything a set keeps lives in two arenas: a yt_arena for the decoded
 * strings and arrays (templates registered to be freed with it) and a
 * pq_arena for the expression trees.
 */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "alert/rules.h"
#include "common/yamltree.h"
#include "query/parser.h"

#define RULES_MAX_FILE_BYTES (16u << 20)

typedef struct {
    yt_arena *arena;
    pq_arena *trees;
} rule_set_ctx;

/* ------------------------------------------------------------ errors */

/* Appends one message to the list. */
static void add_error(rule_errors *e, const char *msg) {
    if (!e) return;
    if (e->n == e->cap) {
        e->cap = e->cap ? e->cap * 2 : 8;
        e->msgs = xrealloc(e->msgs, e->cap * sizeof *e->msgs);
    }
    e->msgs[e->n++] = xstrndup(msg, strlen(msg));
}

void rule_errors_free(rule_errors *e) {
    if (!e) return;
    for (size_t i = 0; i < e->n; i++) free(e->msgs[i]);
    free(e->msgs);
    e->msgs = NULL;
    e->n = e->cap = 0;
}

/* ------------------------------------------------------------ the set */

rule_set *rule_set_new(void) {
    rule_set *rs = xcalloc(1, sizeof *rs);
    rule_set_ctx *ctx = xcalloc(1, sizeof *ctx);
    ctx->arena = yt_arena_new();
    ctx->trees = pq_arena_new();
    rs->priv = ctx;
    return rs;
}

void rule_set_free(rule_set *rs) {
    if (!rs) return;
    rule_set_ctx *ctx = rs->priv;
    yt_arena_free(ctx->arena);
    pq_arena_free(ctx->trees);
    free(ctx);
    free(rs->groups);
    free(rs);
}

size_t rule_set_count(const rule_set *rs) {
    size_t n = 0;
    for (size_t i = 0; i < rs->ngroups; i++) n += rs->groups[i].nrules;
    return n;
}

/* ------------------------------------------------------------ decoding */

typedef struct {
    yt_loader L;
    rule_set_ctx *ctx;
    rule_errors *errs;
    size_t nerrs_at_start;
    errbuf err;
} file_loader;

/* Records a content problem of rule `index` (1-based) of group `group` at
 * node `at` (the file's name alone when at is NULL), in rulefmt's words:
 * FILE:LINE:COL: group "g", rule N, "name": reason. */
__attribute__((format(printf, 6, 7))) static void rule_problem(file_loader *F, const yt_node *at, const char *group,
                                                                size_t index, const char *rule_name,
                                                                const char *fmt, ...) {
    char reason[sizeof F->err.msg], gq[YT_QUOTE_MAX], rq[YT_QUOTE_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof reason, fmt, ap);
    va_end(ap);
    yt_quote(gq, sizeof gq, group);
    yt_quote(rq, sizeof rq, rule_name);
    char msg[1024];
    if (at)
        snprintf(msg, sizeof msg, "%s:%d:%d: group %s, rule %zu, %s: %s", F->L.name, at->line, at->column, gq, index,
                 rq, reason);
    else
        snprintf(msg, sizeof msg, "%s: group %s, rule %zu, %s: %s", F->L.name, gq, index, rq, reason);
    add_error(F->errs, msg);
}

/* Records the message the YAML layer left in F->err. */
static int shape_problem(file_loader *F) {
    add_error(F->errs, F->err.msg);
    return -1;
}

/* Arena cleanup for a template a rule keeps. */
static void free_template(void *t) { tmpl_free(t); }

/* Parses a label or annotation template of alerting rule `alert` as
 * Prometheus does (named "__alert_NAME", with the $labels, $value,
 * $externalLabels and $externalURL variables defined), keeping it in the
 * arena.  NULL with err set when it does not parse. */
static tmpl *parse_rule_template(file_loader *F, const char *alert, const char *text, errbuf *err) {
    size_t n = strlen(alert);
    char *name = yt_alloc(F->ctx->arena, n + 9);
    memcpy(name, "__alert_", 8);
    memcpy(name + 8, alert, n + 1);
    tmpl *t = NULL;
    tmpl_options o = {.funcs = TMPL_FUNCS_PROMETHEUS};
    if (tmpl_parse_alert(name, text, strlen(text), &o, &t, err)) return NULL;
    yt_arena_defer(F->ctx->arena, free_template, t);
    return t;
}

/* Decodes a map of strings (labels or annotations) keeping document order
 * and each key's node, so problems name the key.  Shape problems only. */
static int decode_string_map(file_loader *F, const yt_node *n, const char *into, label **out, size_t *nout,
                             const yt_node ***keys) {
    *out = NULL;
    *nout = 0;
    *keys = NULL;
    if (!n || n->kind == YT_NULL) return 0;
    if (n->kind != YT_MAPPING) return yt_type_error(&F->L, n, into);
    label *v = yt_alloc(F->ctx->arena, (n->n ? n->n : 1) * sizeof *v);
    const yt_node **k = yt_alloc(F->ctx->arena, (n->n ? n->n : 1) * sizeof *k);
    char q[YT_QUOTE_MAX];
    for (size_t i = 0; i < n->n; i++) {
        const char *name = "", *value = "";
        if (yt_string(&F->L, n->pairs[i].key, &name) || yt_string(&F->L, n->pairs[i].value, &value)) return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(v[j].name, name))
                return yt_fail(&F->L, n->pairs[i].key, "key %s already set in map", yt_quote(q, sizeof q, name));
        v[i] = (label){name, (uint32_t)strlen(name), value, (uint32_t)strlen(value)};
        k[i] = n->pairs[i].key;
    }
    *out = v;
    *nout = n->n;
    *keys = k;
    return 0;
}

/* Hashes a string with its terminator, so ("ab","c") and ("a","bc")
 * differ. */
static void hash_str(XXH3_state_t *h, const char *s) { XXH3_64bits_update(h, s ? s : "", s ? strlen(s) + 1 : 1); }

/* The shape of one rule (pass one) and its contents (pass two).  Returns
 * -1 on a shape problem (the file stops), else 0; content problems go to
 * the error list and are counted by the caller. */
static int decode_rule(file_loader *F, const yt_node *n, const char *group, size_t index, rule_def *r) {
    static const char *const known[] = {"record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations",
                                        NULL};
    memset(r, 0, sizeof *r);
    if (yt_expect_mapping(&F->L, n, "rulefmt.RuleNode") ||
        yt_check_fields(&F->L, n, "rulefmt.RuleNode", known, NULL))
        return -1;
    const yt_node *record = yt_field(n, "record"), *alert = yt_field(n, "alert"), *expr = yt_field(n, "expr");
    const char *record_name = "", *alert_name = "", *expr_text = "";
    if (yt_string(&F->L, record, &record_name) || yt_string(&F->L, alert, &alert_name) ||
        yt_string(&F->L, expr, &expr_text) || yt_duration(&F->L, yt_field(n, "for"), &r->for_ms) ||
        yt_duration(&F->L, yt_field(n, "keep_firing_for"), &r->keep_firing_for_ms))
        return -1;
    const yt_node **label_keys, **annotation_keys;
    if (decode_string_map(F, yt_field(n, "labels"), "map[string]string", &r->labels, &r->nlabels, &label_keys) ||
        decode_string_map(F, yt_field(n, "annotations"), "map[string]string", &r->annotations, &r->nannotations,
                          &annotation_keys))
        return -1;

    /* Pass two: rulefmt's RuleNode.Validate, in its order. */
    const char *rule_name = *alert_name ? alert_name : record_name;
    const yt_node *at_rule = n;
    if (*record_name && *alert_name)
        rule_problem(F, record, group, index, rule_name, "only one of 'record' and 'alert' must be set");
    if (!*record_name && !*alert_name)
        rule_problem(F, at_rule, group, index, rule_name, "one of 'record' or 'alert' must be set");
    if (!*expr_text) {
        rule_problem(F, expr ? expr : at_rule, group, index, rule_name, "field 'expr' must be set in rule");
    } else {
        errbuf perr;
        r->tree = pq_parse(F->ctx->trees, expr_text, strlen(expr_text), &perr);
        if (!r->tree) rule_problem(F, expr, group, index, rule_name, "could not parse expression: %s", perr.msg);
    }
    if (*record_name) {
        if (r->nannotations)
            rule_problem(F, record, group, index, rule_name, "invalid field 'annotations' in recording rule");
        if (r->for_ms) rule_problem(F, record, group, index, rule_name, "invalid field 'for' in recording rule");
        if (r->keep_firing_for_ms)
            rule_problem(F, record, group, index, rule_name, "invalid field 'keep_firing_for' in recording rule");
        if (!metric_name_valid(record_name, strlen(record_name)))
            rule_problem(F, record, group, index, rule_name, "invalid recording rule name: %s", record_name);
    }
    for (size_t i = 0; i < r->nlabels; i++) {
        const label *l = &r->labels[i];
        if (!label_name_valid(l->name, l->name_len) || !strcmp(l->name, METRIC_NAME_LABEL))
            rule_problem(F, label_keys[i], group, index, rule_name, "invalid label name: %s", l->name);
        if (!utf8_valid(l->value, l->value_len))
            rule_problem(F, label_keys[i], group, index, rule_name, "invalid label value: %s", l->value);
    }
    for (size_t i = 0; i < r->nannotations; i++)
        if (!label_name_valid(r->annotations[i].name, r->annotations[i].name_len))
            rule_problem(F, annotation_keys[i], group, index, rule_name, "invalid annotation name: %s",
                         r->annotations[i].name);
    if (*alert_name && !*record_name) {
        r->label_templates = yt_alloc(F->ctx->arena, (r->nlabels ? r->nlabels : 1) * sizeof *r->label_templates);
        r->annotation_templates =
            yt_alloc(F->ctx->arena, (r->nannotations ? r->nannotations : 1) * sizeof *r->annotation_templates);
        errbuf terr;
        for (size_t i = 0; i < r->nlabels; i++)
            if (!(r->label_templates[i] = parse_rule_template(F, alert_name, r->labels[i].value, &terr)))
                rule_problem(F, label_keys[i], group, index, rule_name, "label \"%s\": %s", r->labels[i].name,
                             terr.msg);
        for (size_t i = 0; i < r->nannotations; i++)
            if (!(r->annotation_templates[i] = parse_rule_template(F, alert_name, r->annotations[i].value, &terr)))
                rule_problem(F, annotation_keys[i], group, index, rule_name, "annotation \"%s\": %s",
                             r->annotations[i].name, terr.msg);
    }

    r->kind = *alert_name ? RULE_ALERTING : RULE_RECORDING;
    r->name = rule_name;
    r->expr = expr_text;
    if (r->tree) {
        buf b = {0};
        pq_format(r->tree, &b);
        r->query = yt_strndup(F->ctx->arena, (const char *)b.data, b.len);
        buf_free(&b);
    } else {
        r->query = expr_text;
    }
    /* Sorted as Prometheus keeps them, templates moved along. */
    for (size_t i = 1; i < r->nlabels; i++)
        for (size_t j = i; j > 0 && strcmp(r->labels[j - 1].name, r->labels[j].name) > 0; j--) {
            label t = r->labels[j];
            r->labels[j] = r->labels[j - 1];
            r->labels[j - 1] = t;
            if (r->label_templates) {
                tmpl *tt = r->label_templates[j];
                r->label_templates[j] = r->label_templates[j - 1];
                r->label_templates[j - 1] = tt;
            }
        }
    for (size_t i = 1; i < r->nannotations; i++)
        for (size_t j = i; j > 0 && strcmp(r->annotations[j - 1].name, r->annotations[j].name) > 0; j--) {
            label t = r->annotations[j];
            r->annotations[j] = r->annotations[j - 1];
            r->annotations[j - 1] = t;
            if (r->annotation_templates) {
                tmpl *tt = r->annotation_templates[j];
                r->annotation_templates[j] = r->annotation_templates[j - 1];
                r->annotation_templates[j - 1] = tt;
            }
        }
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, &r->kind, sizeof r->kind);
    hash_str(h, r->name);
    hash_str(h, r->query);
    XXH3_64bits_update(h, &r->for_ms, sizeof r->for_ms);
    XXH3_64bits_update(h, &r->keep_firing_for_ms, sizeof r->keep_firing_for_ms);
    for (size_t i = 0; i < r->nlabels; i++) hash_str(h, r->labels[i].name), hash_str(h, r->labels[i].value);
    hash_str(h, "\1");
    for (size_t i = 0; i < r->nannotations; i++)
        hash_str(h, r->annotations[i].name), hash_str(h, r->annotations[i].value);
    r->source_hash = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return 0;
}

/* One group: shape, then rulefmt's group checks (empty name, repeated
 * name within the file), then each rule. */
static int decode_group(file_loader *F, const yt_node *n, rule_group_def *groups, size_t gi) {
    static const char *const known[] = {"name", "interval", "limit", "rules", NULL};
    rule_group_def *g = &groups[gi];
    memset(g, 0, sizeof *g);
    if (yt_expect_mapping(&F->L, n, "rulefmt.RuleGroup") ||
        yt_check_fields(&F->L, n, "rulefmt.RuleGroup", known, NULL))
        return -1;
    g->name = "";
    g->file = F->L.name;
    if (yt_string(&F->L, yt_field(n, "name"), &g->name) ||
        yt_duration(&F->L, yt_field(n, "interval"), &g->interval_ms) ||
        yt_uint(&F->L, yt_field(n, "limit"), &g->limit, "int"))
        return -1;
    const yt_node *rules = yt_field(n, "rules");
    if (rules && rules->kind != YT_NULL && rules->kind != YT_SEQUENCE)
        return yt_type_error(&F->L, rules, "[]rulefmt.RuleNode");
    char msg[1024], q[YT_QUOTE_MAX];
    if (!*g->name) {
        snprintf(msg, sizeof msg, "%s:%d:%d: Groupname must not be empty", F->L.name, n->line, n->column);
        add_error(F->errs, msg);
    }
    for (size_t j = 0; j < gi; j++)
        if (!strcmp(groups[j].name, g->name)) {
            snprintf(msg, sizeof msg, "%s:%d:%d: groupname: %s is repeated in the same file", F->L.name, n->line,
                     n->column, yt_quote(q, sizeof q, g->name));
            add_error(F->errs, msg);
            break;
        }
    size_t nrules = rules && rules->kind == YT_SEQUENCE ? rules->n : 0;
    g->rules = yt_alloc(F->ctx->arena, (nrules ? nrules : 1) * sizeof *g->rules);
    for (size_t i = 0; i < nrules; i++)
        if (decode_rule(F, rules->items[i], g->name, i + 1, &g->rules[i])) return -1;
    g->nrules = nrules;
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    hash_str(h, g->name);
    hash_str(h, g->file);
    XXH3_64bits_update(h, &g->interval_ms, sizeof g->interval_ms);
    XXH3_64bits_update(h, &g->limit, sizeof g->limit);
    for (size_t i = 0; i < nrules; i++) XXH3_64bits_update(h, &g->rules[i].source_hash, sizeof(uint64_t));
    g->source_hash = XXH3_64bits_digest(h);
    XXH3_freeState(h);
    return 0;
}

int rule_set_add_text(rule_set *rs, const char *text, size_t len, const char *name, rule_errors *errs) {
    rule_set_ctx *ctx = rs->priv;
    file_loader F = {.ctx = ctx, .errs = errs};
    F.L = (yt_loader){.arena = ctx->arena, .name = yt_strdup(ctx->arena, name ? name : "<rules>"), .dir = ".",
                      .err = &F.err};
    rule_errors local = {0};
    if (!errs) F.errs = &local;
    size_t before = F.errs->n;
    static const char *const known[] = {"groups", NULL};
    yt_node *root = NULL;
    rule_group_def *groups = NULL;
    size_t ngroups = 0;
    if (yt_parse(&F.L, text, len, &root)) goto shape;
    if (root) {
        if (yt_expect_mapping(&F.L, root, "rulefmt.RuleGroups") ||
            yt_check_fields(&F.L, root, "rulefmt.RuleGroups", known, NULL))
            goto shape;
        const yt_node *gs = yt_field(root, "groups");
        if (gs && gs->kind != YT_NULL) {
            if (gs->kind != YT_SEQUENCE) {
                yt_type_error(&F.L, gs, "[]rulefmt.RuleGroup");
                goto shape;
            }
            groups = xcalloc(gs->n ? gs->n : 1, sizeof *groups);
            for (size_t i = 0; i < gs->n; i++)
                if (decode_group(&F, gs->items[i], groups, i)) goto shape;
            ngroups = gs->n;
        }
    }
    if (F.errs->n != before) goto fail;
    rs->groups = xrealloc(rs->groups, (rs->ngroups + ngroups + 1) * sizeof *rs->groups);
    if (ngroups) memcpy(rs->groups + rs->ngroups, groups, ngroups * sizeof *groups);
    rs->ngroups += ngroups;
    rs->nfiles++;
    free(groups);
    rule_errors_free(&local);
    return 0;
shape:
    shape_problem(&F);
fail:
    free(groups);
    rule_errors_free(&local);
    return -1;
}

int rule_set_add_file(rule_set *rs, const char *path, rule_errors *errs) {
    size_t len = 0;
    char *text = read_small_file(path, RULES_MAX_FILE_BYTES, &len);
    if (!text) {
        char msg[1024];
        if (errno == EFBIG)
            snprintf(msg, sizeof msg, "%s: larger than %u MiB", path, RULES_MAX_FILE_BYTES >> 20);
        else
            snprintf(msg, sizeof msg, "%s: cannot read: %s", path, strerror(errno));
        add_error(errs, msg);
        return -1;
    }
    int rc = rule_set_add_text(rs, text, len, path, errs);
    free(text);
    return rc;
}

int rule_set_add_globs(rule_set *rs, const char *const *patterns, size_t n, rule_errors *errs) {
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        glob_t g;
        int grc = glob(patterns[i], GLOB_ERR, NULL, &g);
        if (grc == GLOB_NOMATCH) continue;
        if (grc) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s: cannot expand the pattern: %s", patterns[i], strerror(errno));
            add_error(errs, msg);
            rc = -1;
            continue;
        }
        for (size_t j = 0; j < g.gl_pathc; j++)
            if (rule_set_add_file(rs, g.gl_pathv[j], errs)) rc = -1;
        globfree(&g);
    }
    return rc;
}
