/*
 * config.c - loads prometheus.yml (the subset promlite supports) into the
 * structs of config.h.
 *
 * Design.  libyaml's document API parses the whole text; the result is
 * copied at once into promlite's own node tree (config_node), allocated
 * from the configuration's arena, and libyaml's document is dropped.  The
 * copy resolves each plain scalar's tag the way Go's yaml.v2 does (YAML 1.1:
 * yes/no/on/off are booleans, 0x10 and 1_000 are integers, ~ is null), so
 * type errors read like Prometheus's ("cannot unmarshal !!str `abc` into
 * bool"); it expands aliases (with a budget against alias bombs) and merge
 * keys ("<<").  Everything later works on that tree, which keeps every
 * node's line and column for messages and lets the raw `alerting` node
 * outlive the parse.
 *
 * Decoding is one function per Prometheus type.  Each first checks the
 * mapping's keys against the type's known fields (unknown keys fail with
 * Prometheus's "field X not found in type T", keys Prometheus has but
 * promlite lacks fail as unsupported, repeated keys as "already set"), then
 * decodes the fields it needs by name, then applies Prometheus's checks in
 * Prometheus's order.  The first problem stops the load: the message is
 * "NAME:LINE:COL: reason" with the position of the node at fault (for
 * checks that Prometheus makes on a whole section, the section's start).
 *
 * Memory: one arena (a list of chunks) per configuration holds the node
 * tree and every decoded string and array; relabel rules, which
 * relabel_rule_new() allocates itself, are registered with the arena and
 * freed with it.  An error leaves nothing behind: the half-built
 * configuration is freed whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <yaml.h>

#include "common/timeutil.h"
#include "ingest/config.h"

#define CONFIG_MAX_FILE_BYTES (16u << 20)
#define CONFIG_MAX_NODES 2000000u /* after alias expansion */
#define CONFIG_MAX_DEPTH 200

/* ------------------------------------------------------------ arena */

typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
} arena_chunk;

/* The allocation context of one configuration. */
typedef struct {
    arena_chunk *chunks;
    relabel_rule **rules; /* to free with the arena */
    size_t nrules, caprules;
} config_ctx;

/* Returns n zeroed bytes aligned for any type, owned by the context. */
static void *arena_alloc(config_ctx *ctx, size_t n) {
    size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    if (n == 0) n = align;
    arena_chunk *c = ctx->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        c = xmalloc(sizeof *c + cap);
        c->used = 0;
        c->cap = cap;
        c->next = ctx->chunks;
        ctx->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strndup(config_ctx *ctx, const char *s, size_t n) {
    char *p = arena_alloc(ctx, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

static char *arena_strdup(config_ctx *ctx, const char *s) { return arena_strndup(ctx, s, strlen(s)); }

static void arena_keep_rule(config_ctx *ctx, relabel_rule *r) {
    if (ctx->nrules == ctx->caprules) {
        ctx->caprules = ctx->caprules ? ctx->caprules * 2 : 16;
        ctx->rules = xrealloc(ctx->rules, ctx->caprules * sizeof *ctx->rules);
    }
    ctx->rules[ctx->nrules++] = r;
}

static void ctx_free(config_ctx *ctx) {
    for (size_t i = 0; i < ctx->nrules; i++) relabel_rule_free(ctx->rules[i]);
    free(ctx->rules);
    for (arena_chunk *c = ctx->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(ctx);
}

/* ------------------------------------------------------------ loader state */

typedef struct {
    config_ctx *ctx;
    const char *name; /* for messages */
    const char *dir;  /* for relative paths */
    errbuf *err;
    size_t nodes;     /* nodes made so far (alias budget) */
} loader;

/* Sets the error "NAME:LINE:COL: message" at node `at` (or without a
 * position when at is NULL) and returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(loader *L, const config_node *at, const char *fmt, ...) {
    char msg[sizeof L->err->msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (at) return errf(L->err, "%s:%d:%d: %s", L->name, at->line, at->column, msg);
    return errf(L->err, "%s: %s", L->name, msg);
}

/* Writes s as Go's %q would (quotes, backslash escapes for quotes,
 * backslashes and control bytes), cut to fit out.  Returns out. */
static const char *goquote(char *out, size_t cap, const char *s) {
    size_t o = 0;
    out[o++] = '"';
    for (const unsigned char *p = (const unsigned char *)s; *p && o + 6 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            out[o++] = '\\';
            out[o++] = (char)*p;
        } else if (*p == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (*p == '\t') {
            out[o++] = '\\';
            out[o++] = 't';
        } else if (*p < 0x20 || *p == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", *p);
        } else {
            out[o++] = (char)*p;
        }
    }
    out[o++] = '"';
    out[o] = 0;
    return out;
}
#define QUOTE_MAX 160

/* ------------------------------------------------------------ YAML → tree */

static const char *const yaml11_true[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
static const char *const yaml11_false[] = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};

static int in_list(const char *s, const char *const *list, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!strcmp(s, list[i])) return 1;
    return 0;
}

/* Parses an integer as yaml.v2 does (underscores dropped, then Go's
 * ParseInt with base 0: 0x, 0o, 0b, a leading 0 for octal).  Sets *neg and
 * the magnitude; returns 0, or -1 when s is not an integer that fits. */
static int yaml_parse_int(const char *s, int *neg, uint64_t *mag) {
    char digits[128];
    size_t n = 0;
    for (const char *p = s; *p; p++) {
        if (*p == '_') continue;
        if (n + 1 >= sizeof digits) return -1;
        digits[n++] = *p;
    }
    digits[n] = 0;
    const char *p = digits;
    *neg = 0;
    if (*p == '+' || *p == '-') *neg = *p++ == '-';
    unsigned base = 10;
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) base = 16, p += 2;
    else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O')) base = 8, p += 2;
    else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B')) base = 2, p += 2;
    else if (p[0] == '0' && p[1]) base = 8, p += 1;
    if (!*p) return -1;
    uint64_t v = 0;
    for (; *p; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9') d = (unsigned)(*p - '0');
        else if (*p >= 'a' && *p <= 'f') d = (unsigned)(*p - 'a' + 10);
        else if (*p >= 'A' && *p <= 'F') d = (unsigned)(*p - 'A' + 10);
        else return -1;
        if (d >= base) return -1;
        if (v > (UINT64_MAX - d) / base) return -1;
        v = v * base + d;
    }
    /* Go's ParseInt(…, 64): the value must fit an int64. */
    if (*neg ? v > (uint64_t)INT64_MAX + 1 : v > (uint64_t)INT64_MAX) return -1;
    *mag = v;
    return 0;
}

/* yaml.v2's float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
 * or .inf/.nan in their spellings. */
static int yaml_is_float(const char *s) {
    static const char *const special[] = {".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
                                          "-.Inf", "-.INF", ".nan", ".NaN", ".NAN"};
    if (in_list(s, special, sizeof special / sizeof special[0])) return 1;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9') p++;
    } else {
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9') p++;
        if (*p == '.') {
            p++;
            while (*p >= '0' && *p <= '9') p++;
        }
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (*p < '0' || *p > '9') return 0;
        while (*p >= '0' && *p <= '9') p++;
    }
    return *p == 0;
}

/* The tag yaml.v2 gives a plain (unquoted, untagged) scalar. */
static const char *resolve_plain_tag(const char *s) {
    if (!*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL")) return "!!null";
    if (in_list(s, yaml11_true, sizeof yaml11_true / sizeof yaml11_true[0]) ||
        in_list(s, yaml11_false, sizeof yaml11_false / sizeof yaml11_false[0]))
        return "!!bool";
    int neg;
    uint64_t mag;
    if ((*s == '+' || *s == '-' || (*s >= '0' && *s <= '9')) && !yaml_parse_int(s, &neg, &mag)) return "!!int";
    if (yaml_is_float(s)) return "!!float";
    if (!strcmp(s, "<<")) return "!!merge";
    return "!!str";
}

/* Shortens "tag:yaml.org,2002:int" to "!!int"; other tags stay as written. */
static const char *short_tag(loader *L, const char *tag) {
    static const char prefix[] = "tag:yaml.org,2002:";
    if (!strncmp(tag, prefix, sizeof prefix - 1)) {
        size_t n = strlen(tag + sizeof prefix - 1);
        char *t = arena_alloc(L->ctx, n + 3);
        t[0] = t[1] = '!';
        memcpy(t + 2, tag + sizeof prefix - 1, n + 1);
        return t;
    }
    return arena_strdup(L->ctx, tag);
}

static config_node *convert_node(loader *L, yaml_document_t *doc, yaml_node_t *yn, int depth);

static int pair_key_equal(const config_node *a, const config_node *b) {
    return a->kind == b->kind && a->kind != CONFIG_NODE_SEQUENCE && a->kind != CONFIG_NODE_MAPPING &&
           a->len == b->len && (a->len == 0 || !memcmp(a->value, b->value, a->len));
}

/* Copies a mapping.  Merge keys ("<<: *base" or "<<: [*a, *b]") are
 * expanded as YAML 1.1 and yaml.v2 do: explicit keys win over merged ones,
 * and among merged mappings the earlier wins. */
static int convert_mapping(loader *L, yaml_document_t *doc, yaml_node_t *yn, config_node *out, int depth) {
    size_t n = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
    config_pair *explicit_pairs = arena_alloc(L->ctx, (n ? n : 1) * sizeof *explicit_pairs);
    config_node **merges = arena_alloc(L->ctx, (n ? n : 1) * sizeof *merges);
    size_t nexp = 0, nmerge = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *yp = &yn->data.mapping.pairs.start[i];
        config_node *k = convert_node(L, doc, yaml_document_get_node(doc, yp->key), depth + 1);
        if (!k) return -1;
        config_node *v = convert_node(L, doc, yaml_document_get_node(doc, yp->value), depth + 1);
        if (!v) return -1;
        if (k->kind == CONFIG_NODE_SCALAR && !k->quoted && !strcmp(k->tag, "!!merge")) {
            merges[nmerge++] = v;
            continue;
        }
        explicit_pairs[nexp].key = k;
        explicit_pairs[nexp++].value = v;
    }
    if (!nmerge) {
        out->pairs = explicit_pairs;
        out->n = nexp;
        return 0;
    }
    /* Gather the merged mappings in priority order. */
    size_t cap = nexp;
    for (size_t m = 0; m < nmerge; m++) {
        const config_node *src = merges[m];
        if (src->kind == CONFIG_NODE_MAPPING) cap += src->n;
        else if (src->kind == CONFIG_NODE_SEQUENCE) {
            for (size_t j = 0; j < src->n; j++) {
                if (src->items[j]->kind != CONFIG_NODE_MAPPING)
                    return fail(L, src->items[j], "yaml: map merge requires map or sequence of maps as the value");
                cap += src->items[j]->n;
            }
        } else {
            return fail(L, src, "yaml: map merge requires map or sequence of maps as the value");
        }
    }
    config_pair *all = arena_alloc(L->ctx, (cap ? cap : 1) * sizeof *all);
    size_t nall = 0;
    for (size_t i = 0; i < nexp; i++) all[nall++] = explicit_pairs[i];
    for (size_t m = 0; m < nmerge; m++) {
        const config_node *src = merges[m];
        size_t nsrc = src->kind == CONFIG_NODE_MAPPING ? 1 : src->n;
        for (size_t s = 0; s < nsrc; s++) {
            const config_node *map = src->kind == CONFIG_NODE_MAPPING ? src : src->items[s];
            for (size_t j = 0; j < map->n; j++) {
                int seen = 0;
                for (size_t a = 0; a < nall && !seen; a++) seen = pair_key_equal(all[a].key, map->pairs[j].key);
                if (!seen) all[nall++] = map->pairs[j];
            }
        }
    }
    out->pairs = all;
    out->n = nall;
    return 0;
}

/* Copies one libyaml node (recursively) into the arena.  Returns NULL with
 * the error set when the budget of nodes or depth is exceeded. */
static config_node *convert_node(loader *L, yaml_document_t *doc, yaml_node_t *yn, int depth) {
    if (depth > CONFIG_MAX_DEPTH) {
        errf(L->err, "%s:%zu:%zu: yaml: nesting deeper than %d levels", L->name, yn->start_mark.line + 1,
             yn->start_mark.column + 1, CONFIG_MAX_DEPTH);
        return NULL;
    }
    if (++L->nodes > CONFIG_MAX_NODES) {
        errf(L->err, "%s:%zu:%zu: yaml: document has more than %u nodes (alias expansion?)", L->name,
             yn->start_mark.line + 1, yn->start_mark.column + 1, CONFIG_MAX_NODES);
        return NULL;
    }
    config_node *n = arena_alloc(L->ctx, sizeof *n);
    n->line = (int)yn->start_mark.line + 1;
    n->column = (int)yn->start_mark.column + 1;
    const char *tag = yn->tag ? (const char *)yn->tag : "";
    switch (yn->type) {
    case YAML_SCALAR_NODE:
        n->kind = CONFIG_NODE_SCALAR;
        n->len = yn->data.scalar.length;
        n->value = arena_strndup(L->ctx, (const char *)yn->data.scalar.value, n->len);
        n->quoted = yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE && yn->data.scalar.style != YAML_ANY_SCALAR_STYLE;
        if (!n->quoted && !strcmp(tag, YAML_DEFAULT_SCALAR_TAG))
            n->tag = resolve_plain_tag(n->value);
        else
            n->tag = short_tag(L, tag);
        if (!strcmp(n->tag, "!!null")) n->kind = CONFIG_NODE_NULL;
        return n;
    case YAML_SEQUENCE_NODE: {
        n->kind = CONFIG_NODE_SEQUENCE;
        n->tag = "!!seq";
        size_t count = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
        n->items = arena_alloc(L->ctx, (count ? count : 1) * sizeof *n->items);
        for (size_t i = 0; i < count; i++) {
            n->items[i] = convert_node(L, doc, yaml_document_get_node(doc, yn->data.sequence.items.start[i]), depth + 1);
            if (!n->items[i]) return NULL;
        }
        n->n = count;
        return n;
    }
    case YAML_MAPPING_NODE:
        n->kind = CONFIG_NODE_MAPPING;
        n->tag = "!!map";
        return convert_mapping(L, doc, yn, n, depth) ? NULL : n;
    default:
        n->kind = CONFIG_NODE_NULL;
        n->tag = "!!null";
        return n;
    }
}

/* Formats libyaml's parse error as "NAME:LINE:COL: yaml: problem (context
 * at LINE:COL)". */
static int yaml_syntax_error(loader *L, const yaml_parser_t *p) {
    const char *problem = p->problem ? p->problem : "unknown problem parsing YAML content";
    if (p->context)
        return errf(L->err, "%s:%zu:%zu: yaml: %s %s (started at line %zu, column %zu)", L->name,
                    p->problem_mark.line + 1, p->problem_mark.column + 1, problem, p->context,
                    p->context_mark.line + 1, p->context_mark.column + 1);
    if (p->error == YAML_READER_ERROR) return errf(L->err, "%s: yaml: %s at byte %zu", L->name, problem, p->problem_offset);
    return errf(L->err, "%s:%zu:%zu: yaml: %s", L->name, p->problem_mark.line + 1, p->problem_mark.column + 1, problem);
}

/* Parses the text into the node tree.  *root is NULL for an empty
 * document.  A second document is refused (yaml.v2 would read only the
 * first and silently drop the rest). */
static int parse_yaml(loader *L, const char *text, size_t len, config_node **root) {
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) return errf(L->err, "%s: yaml: cannot initialise the parser", L->name);
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    int rc = 0;
    *root = NULL;
    if (!yaml_parser_load(&parser, &doc)) {
        rc = yaml_syntax_error(L, &parser);
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_node_t *yroot = yaml_document_get_root_node(&doc);
    if (yroot) {
        *root = convert_node(L, &doc, yroot, 0);
        if (!*root) rc = -1;
    }
    yaml_document_delete(&doc);
    if (rc == 0 && yroot) {
        if (!yaml_parser_load(&parser, &doc)) {
            rc = yaml_syntax_error(L, &parser);
        } else {
            yaml_node_t *second = yaml_document_get_root_node(&doc);
            if (second)
                rc = errf(L->err, "%s:%zu:%zu: a second YAML document is not supported (Prometheus reads only the first)",
                          L->name, doc.start_mark.line + 1, doc.start_mark.column + 1);
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* ------------------------------------------------------------ typed values */

/* "cannot unmarshal !!str `abc` into T", as yaml.v2 words it (values over
 * 10 bytes are cut to 7 and "..."). */
static int type_error(loader *L, const config_node *n, const char *into) {
    if (n->kind == CONFIG_NODE_SEQUENCE || n->kind == CONFIG_NODE_MAPPING)
        return fail(L, n, "cannot unmarshal %s into %s", n->tag, into);
    if (n->len > 10) return fail(L, n, "cannot unmarshal %s `%.7s...` into %s", n->tag, n->value, into);
    return fail(L, n, "cannot unmarshal %s `%s` into %s", n->tag, n->value ? n->value : "", into);
}

/* A mapping, or null (an empty section), for a struct type. */
static int expect_mapping(loader *L, const config_node *n, const char *into) {
    return n->kind == CONFIG_NODE_MAPPING || n->kind == CONFIG_NODE_NULL ? 0 : type_error(L, n, into);
}

/* The value of a field, NULL when absent.  Keys have been checked to be
 * unique scalars by check_fields(). */
static const config_node *field(const config_node *map, const char *name) {
    if (!map || map->kind != CONFIG_NODE_MAPPING) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (map->pairs[i].key->kind == CONFIG_NODE_SCALAR && !strcmp(map->pairs[i].key->value, name))
            return map->pairs[i].value;
    return NULL;
}

/* Whether a value configures nothing (null, [], {}): an unsupported key
 * with such a value is accepted, since nothing is being ignored. */
static int is_empty(const config_node *v) {
    return v->kind == CONFIG_NODE_NULL ||
           ((v->kind == CONFIG_NODE_SEQUENCE || v->kind == CONFIG_NODE_MAPPING) && v->n == 0);
}

/* Checks the keys of a struct-like mapping: every key is one of `known`
 * (or of `unsupported`, which fails unless its value is empty) and no key
 * repeats.  Lists end with NULL. */
static int check_fields(loader *L, const config_node *map, const char *type_name, const char *const *known,
                        const char *const *unsupported) {
    if (map->kind != CONFIG_NODE_MAPPING) return 0;
    for (size_t i = 0; i < map->n; i++) {
        const config_node *k = map->pairs[i].key;
        if (k->kind != CONFIG_NODE_SCALAR) return type_error(L, k, "string");
        int ok = 0;
        for (const char *const *f = known; *f && !ok; f++) ok = !strcmp(*f, k->value);
        if (!ok && unsupported) {
            for (const char *const *f = unsupported; *f; f++)
                if (!strcmp(*f, k->value)) {
                    if (is_empty(map->pairs[i].value)) {
                        ok = 1;
                        break;
                    }
                    char q[QUOTE_MAX];
                    return fail(L, k, "%s is not supported by promlite", goquote(q, sizeof q, k->value));
                }
        }
        if (!ok) return fail(L, k, "field %s not found in type %s", k->value, type_name);
        for (size_t j = 0; j < i; j++)
            if (pair_key_equal(map->pairs[j].key, k))
                return fail(L, k, "field %s already set in type %s", k->value, type_name);
    }
    return 0;
}

/* A string: any scalar (yaml.v2 takes 123 or yes as text).  Null or
 * absent leaves *out unchanged (the caller's default). */
static int decode_string(loader *L, const config_node *n, const char **out) {
    if (!n || n->kind == CONFIG_NODE_NULL) return 0;
    if (n->kind != CONFIG_NODE_SCALAR) return type_error(L, n, "string");
    *out = n->value;
    return 0;
}

/* A bool: only !!bool scalars.  Null sets false, as yaml.v2 zeroes it. */
static int decode_bool(loader *L, const config_node *n, int *out) {
    if (!n) return 0;
    if (n->kind == CONFIG_NODE_NULL) {
        *out = 0;
        return 0;
    }
    if (n->kind != CONFIG_NODE_SCALAR || strcmp(n->tag, "!!bool")) return type_error(L, n, "bool");
    *out = in_list(n->value, yaml11_true, sizeof yaml11_true / sizeof yaml11_true[0]);
    return 0;
}

/* An unsigned integer: a non-negative !!int, or a !!float with an integral
 * value (yaml.v2 takes 1e3).  `into` names the Go type for messages. */
static int decode_uint(loader *L, const config_node *n, uint64_t *out, const char *into) {
    if (!n || n->kind == CONFIG_NODE_NULL) return 0;
    if (n->kind != CONFIG_NODE_SCALAR) return type_error(L, n, into);
    int neg;
    uint64_t mag;
    if (!strcmp(n->tag, "!!int") && !yaml_parse_int(n->value, &neg, &mag) && (!neg || mag == 0)) {
        *out = mag;
        return 0;
    }
    if (!strcmp(n->tag, "!!float")) {
        char *end;
        double d = strtod(n->value, &end);
        if (*end == 0 && d >= 0 && d < 18446744073709551616.0 && d == (double)(uint64_t)d) {
            *out = (uint64_t)d;
            return 0;
        }
    }
    return type_error(L, n, into);
}

/* A Prometheus duration (model.Duration): a scalar read as a string, then
 * parsed.  Null or absent leaves *ms (0 = "not given"). */
static int decode_duration(loader *L, const config_node *n, int64_t *ms) {
    if (!n || n->kind == CONFIG_NODE_NULL) return 0;
    if (n->kind != CONFIG_NODE_SCALAR) return type_error(L, n, "string");
    if (parse_duration(n->value, ms)) {
        char q[QUOTE_MAX];
        return fail(L, n, "not a valid duration string: %s", goquote(q, sizeof q, n->value));
    }
    return 0;
}

/* A size as Prometheus's body_size_limit (units.Base2Bytes): "0", or one
 * or more <number><unit> with units B, KB/KiB, MB/MiB, ... EB/EiB, all
 * powers of 1024 ("10MB", "1.5GiB", "1GB512MB"). */
static int decode_size(loader *L, const config_node *n, uint64_t *out) {
    if (!n || n->kind == CONFIG_NODE_NULL) return 0;
    if (n->kind != CONFIG_NODE_SCALAR) return type_error(L, n, "string");
    static const struct { const char *unit; double scale; } units[] = {
        {"B", 1},
        {"KB", 1024.0}, {"KiB", 1024.0},
        {"MB", 1048576.0}, {"MiB", 1048576.0},
        {"GB", 1073741824.0}, {"GiB", 1073741824.0},
        {"TB", 1099511627776.0}, {"TiB", 1099511627776.0},
        {"PB", 1125899906842624.0}, {"PiB", 1125899906842624.0},
        {"EB", 1152921504606846976.0}, {"EiB", 1152921504606846976.0},
    };
    const char *orig = n->value, *s = orig;
    int neg = 0;
    if (*s == '+' || *s == '-') neg = *s++ == '-';
    if (!strcmp(s, "0")) {
        *out = 0;
        return 0;
    }
    if (!*s) return fail(L, n, "units: invalid %s", orig);
    double total = 0;
    while (*s) {
        if (!(*s == '.' || (*s >= '0' && *s <= '9'))) return fail(L, n, "units: invalid %s", orig);
        double g = 0;
        int pre = 0, post = 0;
        while (*s >= '0' && *s <= '9') g = g * 10 + (*s++ - '0'), pre = 1;
        if (*s == '.') {
            s++;
            double scale = 1;
            while (*s >= '0' && *s <= '9') scale /= 10, g += (*s++ - '0') * scale, post = 1;
        }
        if (!pre && !post) return fail(L, n, "units: invalid %s", orig);
        const char *u = s;
        while (*s && *s != '.' && !(*s >= '0' && *s <= '9')) s++;
        size_t ulen = (size_t)(s - u);
        double scale = -1;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].unit) == ulen && !memcmp(units[i].unit, u, ulen)) scale = units[i].scale;
        if (scale < 0) return fail(L, n, "units: unknown unit %.*s in %s", (int)ulen, u, orig);
        total += g * scale;
    }
    if (neg && total > 0) return fail(L, n, "units: a size cannot be negative: %s", orig);
    if (total >= 9223372036854775807.0) return fail(L, n, "units: overflow parsing unit");
    *out = (uint64_t)total;
    return 0;
}

/* A list of strings ([]string or a named equivalent for messages).  Null
 * is an empty list.  Lines of the items go to *lines when asked. */
static int decode_string_list(loader *L, const config_node *n, const char *into, const char ***out, size_t *nout,
                              int **lines) {
    *out = NULL;
    *nout = 0;
    if (!n || n->kind == CONFIG_NODE_NULL) return 0;
    if (n->kind != CONFIG_NODE_SEQUENCE) return type_error(L, n, into);
    const char **v = arena_alloc(L->ctx, (n->n ? n->n : 1) * sizeof *v);
    int *ln = lines ? arena_alloc(L->ctx, (n->n ? n->n : 1) * sizeof *ln) : NULL;
    for (size_t i = 0; i < n->n; i++) {
        const config_node *it = n->items[i];
        v[i] = "";
        if (decode_string(L, it, &v[i])) return -1;
        if (ln) ln[i] = it->line;
    }
    *out = v;
    *nout = n->n;
    if (lines) *lines = ln;
    return 0;
}

static int label_cmp(const void *a, const void *b) {
    const label *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* A label set (map[string]string or model.LabelSet): names must be valid
 * label names, values valid UTF-8; sorted by name on return. */
static int decode_labels(loader *L, const config_node *n, const char *into, label **out, size_t *nout) {
    *out = NULL;
    *nout = 0;
    if (!n || n->kind == CONFIG_NODE_NULL) return 0;
    if (n->kind != CONFIG_NODE_MAPPING) return type_error(L, n, into);
    label *v = arena_alloc(L->ctx, (n->n ? n->n : 1) * sizeof *v);
    char q[QUOTE_MAX];
    for (size_t i = 0; i < n->n; i++) {
        const config_node *k = n->pairs[i].key, *val = n->pairs[i].value;
        const char *name = "", *value = "";
        if (decode_string(L, k, &name) || decode_string(L, val, &value)) return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(v[j].name, name)) return fail(L, k, "key %s already set in map", goquote(q, sizeof q, name));
        if (!label_name_valid(name, strlen(name)) || strlen(name) != k->len)
            return fail(L, k, "%s is not a valid label name", goquote(q, sizeof q, name));
        if (!utf8_valid(value, val->len) || strlen(value) != val->len)
            return fail(L, val, "%s is not a valid label value", goquote(q, sizeof q, value));
        v[i].name = name;
        v[i].name_len = (uint32_t)strlen(name);
        v[i].value = value;
        v[i].value_len = (uint32_t)strlen(value);
    }
    qsort(v, n->n, sizeof *v, label_cmp);
    *out = v;
    *nout = n->n;
    return 0;
}

/* Resolves a file name against the configuration's folder, as
 * Prometheus's config.JoinDir (absolute and empty names stay). */
static const char *join_dir(loader *L, const char *path) {
    if (!path || !*path || path[0] == '/' || !strcmp(L->dir, ".")) return path;
    size_t nd = strlen(L->dir), np = strlen(path);
    char *p = arena_alloc(L->ctx, nd + np + 2);
    memcpy(p, L->dir, nd);
    p[nd] = '/';
    memcpy(p + nd + 1, path, np + 1);
    return p;
}

/* ------------------------------------------------------------ sections */

static int decode_global(loader *L, const config_node *n, config_global *g) {
    static const char *const known[] = {"scrape_interval", "scrape_timeout", "evaluation_interval",
                                        "external_labels", NULL};
    static const char *const unsupported[] = {"query_log_file", NULL};
    g->scrape_interval_ms = g->scrape_timeout_ms = g->evaluation_interval_ms = 0;
    if (n) {
        if (expect_mapping(L, n, "config.plain") || check_fields(L, n, "config.plain", known, unsupported)) return -1;
        if (decode_duration(L, field(n, "scrape_interval"), &g->scrape_interval_ms) ||
            decode_duration(L, field(n, "scrape_timeout"), &g->scrape_timeout_ms) ||
            decode_duration(L, field(n, "evaluation_interval"), &g->evaluation_interval_ms) ||
            decode_labels(L, field(n, "external_labels"), "map[string]string", &g->external_labels,
                          &g->nexternal_labels))
            return -1;
    }
    /* GlobalConfig.UnmarshalYAML's defaults and check, in its order. */
    if (g->scrape_interval_ms == 0) g->scrape_interval_ms = 60000;
    if (g->scrape_timeout_ms > g->scrape_interval_ms) {
        const config_node *at = field(n, "scrape_timeout");
        return fail(L, at, "global scrape timeout greater than scrape interval");
    }
    if (g->scrape_timeout_ms == 0) g->scrape_timeout_ms = g->scrape_interval_ms < 10000 ? g->scrape_interval_ms : 10000;
    if (g->evaluation_interval_ms == 0) g->evaluation_interval_ms = 60000;
    return 0;
}

static int decode_basic_auth(loader *L, const config_node *n, config_basic_auth *ba) {
    static const char *const known[] = {"username", "password", "password_file", NULL};
    if (expect_mapping(L, n, "config.plain") || check_fields(L, n, "config.plain", known, NULL)) return -1;
    ba->username = "";
    if (decode_string(L, field(n, "username"), &ba->username) ||
        decode_string(L, field(n, "password"), &ba->password) ||
        decode_string(L, field(n, "password_file"), &ba->password_file))
        return -1;
    /* Go keeps "" for absent strings: an empty value counts as not given. */
    if (ba->password && !*ba->password) ba->password = NULL;
    if (ba->password_file && !*ba->password_file) ba->password_file = NULL;
    ba->password_file = join_dir(L, ba->password_file);
    return 0;
}

static int decode_authorization(loader *L, const config_node *n, config_authorization *a) {
    static const char *const known[] = {"type", "credentials", "credentials_file", NULL};
    if (expect_mapping(L, n, "config.Authorization") || check_fields(L, n, "config.Authorization", known, NULL))
        return -1;
    a->type = "";
    if (decode_string(L, field(n, "type"), &a->type) || decode_string(L, field(n, "credentials"), &a->credentials) ||
        decode_string(L, field(n, "credentials_file"), &a->credentials_file))
        return -1;
    if (a->credentials && !*a->credentials) a->credentials = NULL;
    if (a->credentials_file && !*a->credentials_file) a->credentials_file = NULL;
    a->credentials_file = join_dir(L, a->credentials_file);
    return 0;
}

static int decode_tls(loader *L, const config_node *n, config_tls *t) {
    static const char *const known[] = {"ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify",
                                        "min_version", "max_version", NULL};
    if (!n) return 0;
    if (expect_mapping(L, n, "config.plain") || check_fields(L, n, "config.plain", known, NULL)) return -1;
    if (decode_string(L, field(n, "ca_file"), &t->ca_file) ||
        decode_string(L, field(n, "cert_file"), &t->cert_file) ||
        decode_string(L, field(n, "key_file"), &t->key_file) ||
        decode_string(L, field(n, "server_name"), &t->server_name) ||
        decode_bool(L, field(n, "insecure_skip_verify"), &t->insecure_skip_verify))
        return -1;
    static const char *const versions[] = {"TLS10", "TLS11", "TLS12", "TLS13"};
    const char *names[2] = {"min_version", "max_version"};
    const char **targets[2] = {&t->min_version, &t->max_version};
    for (int i = 0; i < 2; i++) {
        const config_node *v = field(n, names[i]);
        if (decode_string(L, v, targets[i])) return -1;
        if (*targets[i] && !in_list(*targets[i], versions, 4))
            return fail(L, v, "unknown TLS version: %s", *targets[i]);
    }
    const char **files[3] = {&t->ca_file, &t->cert_file, &t->key_file};
    for (int i = 0; i < 3; i++)
        if (*files[i] && !**files[i]) *files[i] = NULL;
    /* promtool's pairing check: a client certificate needs its key. */
    char q[QUOTE_MAX];
    if (t->cert_file && !t->key_file)
        return fail(L, field(n, "cert_file"), "client cert file %s specified without client key file",
                    goquote(q, sizeof q, t->cert_file));
    if (t->key_file && !t->cert_file)
        return fail(L, field(n, "key_file"), "client key file %s specified without client cert file",
                    goquote(q, sizeof q, t->key_file));
    t->ca_file = join_dir(L, t->ca_file);
    t->cert_file = join_dir(L, t->cert_file);
    t->key_file = join_dir(L, t->key_file);
    return 0;
}

/* A proxy URL: scheme://host[:port][/...] with scheme http, https or
 * socks5.  Go's url.Parse is looser (it takes "foo" as a relative URL,
 * which then fails at scrape time); the messages follow Go's where both
 * refuse. */
static int check_proxy_url(loader *L, const config_node *at, const char *u) {
    char q[QUOTE_MAX];
    goquote(q, sizeof q, u);
    const char *colon = strstr(u, "://");
    if (!colon || colon == u) return fail(L, at, "parse %s: missing protocol scheme", q);
    for (const char *p = u; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (p > u && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
            return fail(L, at, "parse %s: first path segment in URL cannot contain colon", q);
    size_t slen = (size_t)(colon - u);
    if (!((slen == 4 && !strncasecmp(u, "http", 4)) || (slen == 5 && !strncasecmp(u, "https", 5)) ||
          (slen == 6 && !strncasecmp(u, "socks5", 6))))
        return fail(L, at, "proxy_url %s: scheme must be http, https or socks5", q);
    const char *host = colon + 3, *end = host + strcspn(host, "/?#");
    const char *at_sign = memchr(host, '@', (size_t)(end - host));
    if (at_sign) host = at_sign + 1;
    if (host == end) return fail(L, at, "proxy_url %s has no host", q);
    for (const char *p = host; p < end; p++)
        if (*p == ' ' || (unsigned char)*p < 0x20)
            return fail(L, at, "parse %s: invalid character \"%c\" in host name", q, *p == ' ' ? ' ' : '?');
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (!close) return fail(L, at, "parse %s: missing ']' in host", q);
        host = close + 1;
        if (host < end && *host != ':') return fail(L, at, "parse %s: invalid port after host", q);
    }
    const char *port = memchr(host, ':', (size_t)(end - host));
    if (port) {
        if (port + 1 == end) return 0;
        for (const char *p = port + 1; p < end; p++)
            if (*p < '0' || *p > '9') return fail(L, at, "parse %s: invalid port %.*s after host", q, (int)(end - port), port);
    }
    return 0;
}

/* A target address as static_configs take it: "host", "host:port" or
 * "[v6]:port".  Prometheus refuses only a "/"; promlite also refuses what
 * could never be scraped (spaces, a bad port, an unbracketed IPv6). */
static int check_target(loader *L, const config_node *at, const char *t, size_t ti, size_t gi) {
    char q[QUOTE_MAX];
    goquote(q, sizeof q, t);
    if (!*t) return fail(L, at, "instance %zu in group %zu: no address", ti, gi);
    if (strchr(t, '/')) return fail(L, at, "%s is not a valid hostname", q);
    for (const char *p = t; *p; p++)
        if (*p == ' ' || (unsigned char)*p < 0x20 || *p == 0x7f)
            return fail(L, at, "%s is not a valid target address: it contains a space or control character", q);
    const char *port = NULL;
    if (*t == '[') {
        const char *close = strchr(t, ']');
        if (!close || close == t + 1) return fail(L, at, "%s is not a valid target address: missing ']'", q);
        if (close[1] && close[1] != ':') return fail(L, at, "%s is not a valid target address: junk after ']'", q);
        if (close[1]) port = close + 2;
    } else {
        const char *c = strchr(t, ':');
        if (c && strchr(c + 1, ':'))
            return fail(L, at, "%s is not a valid target address: an IPv6 address needs brackets ([::1]:9100)", q);
        if (c == t) return fail(L, at, "%s is not a valid target address: no host", q);
        if (c) port = c + 1;
    }
    if (port) {
        unsigned long v = 0;
        const char *p = port;
        for (; *p >= '0' && *p <= '9' && v <= 65535; p++) v = v * 10 + (unsigned long)(*p - '0');
        if (p == port || *p || v == 0 || v > 65535)
            return fail(L, at, "%s is not a valid target address: invalid port", q);
    }
    return 0;
}

static int decode_static(loader *L, const config_node *n, size_t gi, config_static *sc) {
    static const char type_name[] = "struct { Targets []string \"yaml:\\\"targets\\\"\"; Labels model.LabelSet "
                                    "\"yaml:\\\"labels\\\"\" }";
    static const char *const known[] = {"targets", "labels", NULL};
    if (n->kind == CONFIG_NODE_NULL) return fail(L, n, "empty or null section in static_configs");
    if (expect_mapping(L, n, type_name) || check_fields(L, n, type_name, known, NULL)) return -1;
    sc->line = n->line;
    const config_node *targets = field(n, "targets");
    if (decode_string_list(L, targets, "[]string", &sc->targets, &sc->ntargets, NULL) ||
        decode_labels(L, field(n, "labels"), "model.LabelSet", &sc->labels, &sc->nlabels))
        return -1;
    for (size_t i = 0; i < sc->ntargets; i++)
        if (check_target(L, targets->items[i], sc->targets[i], i, gi)) return -1;
    char q[QUOTE_MAX];
    const label *addr = labels_get(sc->labels, sc->nlabels, "__address__", 11);
    if (addr && strchr(addr->value, '/')) return fail(L, field(n, "labels"), "%s is not a valid hostname", goquote(q, sizeof q, addr->value));
    return 0;
}

/* file_sd's name rule (patFileSDName): one "*" at most, in the last path
 * element, and a .json, .yml or .yaml ending. */
static int file_sd_name_valid(const char *s) {
    const char *star = strchr(s, '*');
    if (star && (strchr(star + 1, '*') || strchr(star, '/'))) return 0;
    const char *dot = strrchr(s, '.');
    if (!dot || (star && dot < star)) return 0;
    static const char *const exts[] = {".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"};
    return in_list(dot, exts, sizeof exts / sizeof exts[0]);
}

static int decode_file_sd(loader *L, const config_node *n, config_file_sd *fs) {
    static const char *const known[] = {"files", "refresh_interval", NULL};
    if (n->kind == CONFIG_NODE_NULL) return fail(L, n, "empty or null section in file_sd_configs");
    if (expect_mapping(L, n, "file.plain") || check_fields(L, n, "file.plain", known, NULL)) return -1;
    fs->line = n->line;
    fs->refresh_interval_ms = 0;
    const config_node *files = field(n, "files");
    if (decode_string_list(L, files, "[]string", &fs->files, &fs->nfiles, NULL) ||
        decode_duration(L, field(n, "refresh_interval"), &fs->refresh_interval_ms))
        return -1;
    if (!field(n, "refresh_interval") || field(n, "refresh_interval")->kind == CONFIG_NODE_NULL)
        fs->refresh_interval_ms = 300000;
    if (fs->nfiles == 0) return fail(L, n, "file service discovery config must contain at least one path name");
    char q[QUOTE_MAX];
    for (size_t i = 0; i < fs->nfiles; i++) {
        if (!file_sd_name_valid(fs->files[i]))
            return fail(L, files->items[i], "path name %s is not valid for file discovery",
                        goquote(q, sizeof q, fs->files[i]));
        fs->files[i] = join_dir(L, fs->files[i]);
    }
    return 0;
}

/* One relabel_configs entry: decoded into a relabel_spec and built by
 * relabel_rule_new(), whose error gets this entry's position. */
static int decode_relabel(loader *L, const config_node *n, int metric, relabel_rule **out) {
    static const char *const known[] = {"source_labels", "separator", "regex", "modulus",
                                        "target_label", "replacement", "action", NULL};
    if (n->kind == CONFIG_NODE_NULL)
        return fail(L, n, "empty or null %s relabeling rule in scrape config", metric ? "metric" : "target");
    if (expect_mapping(L, n, "relabel.plain") || check_fields(L, n, "relabel.plain", known, NULL)) return -1;
    relabel_spec spec;
    memset(&spec, 0, sizeof spec);
    const char **sources = NULL;
    const config_node *src = field(n, "source_labels");
    if (decode_string_list(L, src, "model.LabelNames", &sources, &spec.nsource, NULL)) return -1;
    char q[QUOTE_MAX];
    for (size_t i = 0; i < spec.nsource; i++)
        if (!label_name_valid(sources[i], strlen(sources[i])))
            return fail(L, src->items[i], "%s is not a valid label name", goquote(q, sizeof q, sources[i]));
    spec.source_labels = sources;
    const config_node *mod = field(n, "modulus");
    if (decode_string(L, field(n, "separator"), &spec.separator) ||
        decode_string(L, field(n, "regex"), &spec.regex) ||
        decode_uint(L, mod, &spec.modulus, "uint64") ||
        decode_string(L, field(n, "target_label"), &spec.target_label) ||
        decode_string(L, field(n, "replacement"), &spec.replacement) ||
        decode_string(L, field(n, "action"), &spec.action))
        return -1;
    spec.has_modulus = mod && mod->kind != CONFIG_NODE_NULL;
    errbuf rerr;
    rerr.msg[0] = 0;
    relabel_rule *r = NULL;
    if (relabel_rule_new(&spec, &r, &rerr)) {
        if (r) relabel_rule_free(r);
        return fail(L, n, "%s", rerr.msg[0] ? rerr.msg : "invalid relabel configuration");
    }
    arena_keep_rule(L->ctx, r);
    *out = r;
    return 0;
}

static int decode_relabel_list(loader *L, const config_node *n, int metric, relabel_rule ***out, size_t *nout) {
    *out = NULL;
    *nout = 0;
    if (!n || n->kind == CONFIG_NODE_NULL) return 0;
    if (n->kind != CONFIG_NODE_SEQUENCE) return type_error(L, n, "[]*relabel.Config");
    relabel_rule **v = arena_alloc(L->ctx, (n->n ? n->n : 1) * sizeof *v);
    for (size_t i = 0; i < n->n; i++)
        if (decode_relabel(L, n->items[i], metric, &v[i])) return -1;
    *out = v;
    *nout = n->n;
    return 0;
}

static int decode_params(loader *L, const config_node *n, config_scrape *sc) {
    if (!n || n->kind == CONFIG_NODE_NULL) return 0;
    if (n->kind != CONFIG_NODE_MAPPING) return type_error(L, n, "url.Values");
    sc->params = arena_alloc(L->ctx, (n->n ? n->n : 1) * sizeof *sc->params);
    char q[QUOTE_MAX];
    for (size_t i = 0; i < n->n; i++) {
        const config_node *k = n->pairs[i].key;
        config_param *p = &sc->params[i];
        p->name = "";
        if (decode_string(L, k, &p->name)) return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(sc->params[j].name, p->name))
                return fail(L, k, "key %s already set in map", goquote(q, sizeof q, p->name));
        if (decode_string_list(L, n->pairs[i].value, "[]string", &p->values, &p->nvalues, NULL)) return -1;
    }
    sc->nparams = n->n;
    return 0;
}

/* The HTTP client part of a scrape config (Prometheus's inlined
 * HTTPClientConfig), with HTTPClientConfig.Validate's checks in order. */
static int decode_http_client(loader *L, const config_node *n, config_scrape *sc) {
    const config_node *ba_node = field(n, "basic_auth"), *auth_node = field(n, "authorization");
    const config_node *bt = field(n, "bearer_token"), *btf = field(n, "bearer_token_file");
    const char *bearer = NULL, *bearer_file = NULL;
    config_basic_auth *ba = NULL;
    config_authorization *auth = NULL;
    if (ba_node && ba_node->kind != CONFIG_NODE_NULL) {
        ba = arena_alloc(L->ctx, sizeof *ba);
        if (decode_basic_auth(L, ba_node, ba)) return -1;
    }
    if (auth_node && auth_node->kind != CONFIG_NODE_NULL) {
        auth = arena_alloc(L->ctx, sizeof *auth);
        if (decode_authorization(L, auth_node, auth)) return -1;
    }
    if (decode_string(L, bt, &bearer) || decode_string(L, btf, &bearer_file)) return -1;
    if (bearer && !*bearer) bearer = NULL;
    if (bearer_file && !*bearer_file) bearer_file = NULL;
    if (decode_tls(L, field(n, "tls_config"), &sc->tls)) return -1;
    const config_node *proxy = field(n, "proxy_url");
    if (decode_string(L, proxy, &sc->proxy_url)) return -1;
    if (sc->proxy_url && !*sc->proxy_url) sc->proxy_url = NULL;
    if (sc->proxy_url && check_proxy_url(L, proxy, sc->proxy_url)) return -1;
    if (decode_bool(L, field(n, "follow_redirects"), &sc->follow_redirects) ||
        decode_bool(L, field(n, "enable_http2"), &sc->enable_http2))
        return -1;

    const config_node *at_bearer = bt ? bt : btf;
    if (bearer && bearer_file) return fail(L, btf, "at most one of bearer_token & bearer_token_file must be configured");
    if (ba && (bearer || bearer_file))
        return fail(L, at_bearer, "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured");
    if (ba && ba->password && ba->password_file)
        return fail(L, field(ba_node, "password_file"), "at most one of basic_auth password & password_file must be configured");
    if (auth) {
        if (bearer || bearer_file)
            return fail(L, auth_node, "authorization is not compatible with bearer_token & bearer_token_file");
        if (auth->credentials && auth->credentials_file)
            return fail(L, field(auth_node, "credentials_file"),
                        "at most one of authorization credentials & credentials_file must be configured");
        /* strings.TrimSpace, then the default. */
        const char *t = auth->type;
        while (*t == ' ' || *t == '\t' || *t == '\n' || *t == '\r') t++;
        size_t tl = strlen(t);
        while (tl && (t[tl - 1] == ' ' || t[tl - 1] == '\t' || t[tl - 1] == '\n' || t[tl - 1] == '\r')) tl--;
        auth->type = tl ? arena_strndup(L->ctx, t, tl) : "Bearer";
        if (!strcasecmp(auth->type, "basic"))
            return fail(L, field(auth_node, "type"), "authorization type cannot be set to \"basic\", use \"basic_auth\" instead");
        if (ba) return fail(L, auth_node, "at most one of basic_auth, oauth2 & authorization must be configured");
    } else if (bearer || bearer_file) {
        auth = arena_alloc(L->ctx, sizeof *auth);
        auth->type = "Bearer";
        auth->credentials = bearer;
        auth->credentials_file = join_dir(L, bearer_file);
    }
    sc->basic_auth = ba;
    sc->authorization = auth;
    return 0;
}

/* Appends a canonical serialisation of a node: mapping entries sorted by
 * key, scalars by resolved tag and text, so that formatting, quoting and
 * key order do not count. */
static void canonical_node(buf *b, const config_node *n);

static int pair_order(const void *a, const void *b) {
    const config_pair *x = *(const config_pair *const *)a, *y = *(const config_pair *const *)b;
    const char *kx = x->key->value ? x->key->value : "", *ky = y->key->value ? y->key->value : "";
    return strcmp(kx, ky);
}

static void canonical_node(buf *b, const config_node *n) {
    switch (n->kind) {
    case CONFIG_NODE_NULL: buf_append(b, "N", 1); break;
    case CONFIG_NODE_SCALAR:
        buf_printf(b, "S%s:%zu:", n->tag, n->len);
        buf_append(b, n->value, n->len);
        break;
    case CONFIG_NODE_SEQUENCE:
        buf_printf(b, "Q%zu[", n->n);
        for (size_t i = 0; i < n->n; i++) canonical_node(b, n->items[i]);
        buf_append(b, "]", 1);
        break;
    case CONFIG_NODE_MAPPING: {
        const config_pair **order = xmalloc((n->n ? n->n : 1) * sizeof *order);
        for (size_t i = 0; i < n->n; i++) order[i] = &n->pairs[i];
        qsort(order, n->n, sizeof *order, pair_order);
        buf_printf(b, "M%zu{", n->n);
        for (size_t i = 0; i < n->n; i++) {
            canonical_node(b, order[i]->key);
            canonical_node(b, order[i]->value);
        }
        buf_append(b, "}", 1);
        free(order);
        break;
    }
    }
}

static int decode_scrape(loader *L, const config_node *n, const config_global *g, config_scrape *sc) {
    static const char *const known[] = {
        "job_name", "honor_labels", "honor_timestamps", "params", "scrape_interval", "scrape_timeout",
        "metrics_path", "scheme", "body_size_limit", "sample_limit", "target_limit", "label_limit",
        "label_name_length_limit", "label_value_length_limit", "static_configs", "file_sd_configs",
        "relabel_configs", "metric_relabel_configs", "basic_auth", "authorization", "bearer_token",
        "bearer_token_file", "tls_config", "proxy_url", "follow_redirects", "enable_http2", NULL};
    /* Prometheus 2.42 has these; promlite does not yet. */
    static const char *const unsupported[] = {
        "oauth2", "proxy_connect_header", "azure_sd_configs", "consul_sd_configs", "digitalocean_sd_configs",
        "docker_sd_configs", "dockerswarm_sd_configs", "dns_sd_configs", "ec2_sd_configs", "eureka_sd_configs",
        "gce_sd_configs", "hetzner_sd_configs", "http_sd_configs", "ionos_sd_configs", "kubernetes_sd_configs",
        "kuma_sd_configs", "lightsail_sd_configs", "linode_sd_configs", "marathon_sd_configs", "nerve_sd_configs",
        "nomad_sd_configs", "openstack_sd_configs", "ovhcloud_sd_configs", "puppetdb_sd_configs",
        "scaleway_sd_configs", "serverset_sd_configs", "triton_sd_configs", "uyuni_sd_configs", "vultr_sd_configs",
        NULL};
    if (n->kind == CONFIG_NODE_NULL) return fail(L, n, "empty or null scrape config section");
    if (expect_mapping(L, n, "config.ScrapeConfig") || check_fields(L, n, "config.ScrapeConfig", known, unsupported))
        return -1;
    sc->line = n->line;
    sc->metrics_path = "/metrics";
    sc->scheme = "http";
    sc->honor_timestamps = 1;
    sc->follow_redirects = 1;
    sc->enable_http2 = 1;
    const char *job = NULL;
    if (decode_string(L, field(n, "job_name"), &job)) return -1;
    if (!job || !*job) return fail(L, field(n, "job_name") ? field(n, "job_name") : n, "job_name is empty");
    sc->job_name = job;
    const config_node *scheme = field(n, "scheme");
    if (decode_bool(L, field(n, "honor_labels"), &sc->honor_labels) ||
        decode_bool(L, field(n, "honor_timestamps"), &sc->honor_timestamps) ||
        decode_params(L, field(n, "params"), sc) ||
        decode_duration(L, field(n, "scrape_interval"), &sc->scrape_interval_ms) ||
        decode_duration(L, field(n, "scrape_timeout"), &sc->scrape_timeout_ms) ||
        decode_string(L, field(n, "metrics_path"), &sc->metrics_path) ||
        decode_string(L, scheme, &sc->scheme) ||
        decode_size(L, field(n, "body_size_limit"), &sc->body_size_limit) ||
        decode_uint(L, field(n, "sample_limit"), &sc->sample_limit, "uint") ||
        decode_uint(L, field(n, "target_limit"), &sc->target_limit, "uint") ||
        decode_uint(L, field(n, "label_limit"), &sc->label_limit, "uint") ||
        decode_uint(L, field(n, "label_name_length_limit"), &sc->label_name_length_limit, "uint") ||
        decode_uint(L, field(n, "label_value_length_limit"), &sc->label_value_length_limit, "uint"))
        return -1;
    if (!*sc->metrics_path) sc->metrics_path = "/metrics";
    if (!*sc->scheme) sc->scheme = "http";
    char q[QUOTE_MAX];
    if (strcmp(sc->scheme, "http") && strcmp(sc->scheme, "https"))
        return fail(L, scheme, "scheme %s is not supported: want \"http\" or \"https\"", goquote(q, sizeof q, sc->scheme));
    if (decode_http_client(L, n, sc)) return -1;

    const config_node *statics = field(n, "static_configs"), *fsd = field(n, "file_sd_configs");
    if (statics && statics->kind != CONFIG_NODE_NULL) {
        if (statics->kind != CONFIG_NODE_SEQUENCE) return type_error(L, statics, "[]*targetgroup.Group");
        sc->static_configs = arena_alloc(L->ctx, (statics->n ? statics->n : 1) * sizeof *sc->static_configs);
        for (size_t i = 0; i < statics->n; i++)
            if (decode_static(L, statics->items[i], i, &sc->static_configs[i])) return -1;
        sc->nstatic = statics->n;
    }
    if (fsd && fsd->kind != CONFIG_NODE_NULL) {
        if (fsd->kind != CONFIG_NODE_SEQUENCE) return type_error(L, fsd, "[]*file.SDConfig");
        sc->file_sd_configs = arena_alloc(L->ctx, (fsd->n ? fsd->n : 1) * sizeof *sc->file_sd_configs);
        for (size_t i = 0; i < fsd->n; i++)
            if (decode_file_sd(L, fsd->items[i], &sc->file_sd_configs[i])) return -1;
        sc->nfile_sd = fsd->n;
    }
    if (decode_relabel_list(L, field(n, "relabel_configs"), 0, &sc->relabel_rules, &sc->nrelabel) ||
        decode_relabel_list(L, field(n, "metric_relabel_configs"), 1, &sc->metric_relabel_rules,
                            &sc->nmetric_relabel))
        return -1;

    /* ScrapeConfig.Validate: inherit the interval, check, then inherit the
     * timeout capped at the interval. */
    if (sc->scrape_interval_ms == 0) sc->scrape_interval_ms = g->scrape_interval_ms;
    if (sc->scrape_timeout_ms > sc->scrape_interval_ms)
        return fail(L, field(n, "scrape_timeout") ? field(n, "scrape_timeout") : n,
                    "scrape timeout greater than scrape interval for scrape config with job name %s",
                    goquote(q, sizeof q, sc->job_name));
    if (sc->scrape_timeout_ms == 0)
        sc->scrape_timeout_ms = g->scrape_timeout_ms > sc->scrape_interval_ms ? sc->scrape_interval_ms : g->scrape_timeout_ms;

    /* The settings' canonical form leaves the static targets out: a change
     * of targets alone is applied by resyncing the job's targets (the others
     * keep scraping as they were), not by rebuilding the job. */
    buf b = {0};
    config_node settings = *n;
    config_pair *pairs = xmalloc((n->n ? n->n : 1) * sizeof *pairs);
    settings.pairs = pairs;
    settings.n = 0;
    for (size_t i = 0; i < n->n; i++)
        if (!n->pairs[i].key->value || strcmp(n->pairs[i].key->value, "static_configs"))
            pairs[settings.n++] = n->pairs[i];
    canonical_node(&b, &settings);
    free(pairs);
    buf_printf(&b, "|dir=%s|interval=%lld|timeout=%lld", L->dir, (long long)sc->scrape_interval_ms,
               (long long)sc->scrape_timeout_ms);
    if (statics) {
        buf t = {0};
        canonical_node(&t, statics);
        sc->targets_hash = XXH3_64bits(t.data, t.len);
        buf_free(&t);
    }
    sc->canonical = arena_strndup(L->ctx, (const char *)b.data, b.len);
    sc->canonical_len = b.len;
    sc->source_hash = XXH3_64bits(b.data, b.len);
    buf_free(&b);
    return 0;
}

/* rule_files' name rule (patRulePath): at most one "*", in the last path
 * element. */
static int rule_path_valid(const char *s) {
    const char *star = strchr(s, '*');
    return !star || (!strchr(star + 1, '*') && !strchr(star, '/'));
}

static int decode_root(loader *L, const config_node *root, promlite_config *cfg) {
    static const char *const known[] = {"global", "scrape_configs", "rule_files", "alerting", NULL};
    static const char *const unsupported[] = {"remote_write", "remote_read", "storage", "tracing", NULL};
    if (root) {
        if (expect_mapping(L, root, "config.plain") || check_fields(L, root, "config.plain", known, unsupported))
            return -1;
    }
    const config_node *global = field(root, "global");
    if (decode_global(L, global && global->kind != CONFIG_NODE_NULL ? global : NULL, &cfg->global)) return -1;

    const config_node *rules = field(root, "rule_files");
    if (decode_string_list(L, rules, "[]string", &cfg->rule_files, &cfg->nrule_files, &cfg->rule_file_lines)) return -1;
    char q[QUOTE_MAX];
    for (size_t i = 0; i < cfg->nrule_files; i++) {
        if (!rule_path_valid(cfg->rule_files[i]))
            return fail(L, rules->items[i], "invalid rule file path %s", goquote(q, sizeof q, cfg->rule_files[i]));
        cfg->rule_files[i] = join_dir(L, cfg->rule_files[i]);
    }

    const config_node *alerting = field(root, "alerting");
    if (alerting && alerting->kind != CONFIG_NODE_NULL) {
        if (expect_mapping(L, alerting, "config.plain")) return -1;
        cfg->alerting = alerting;
    }

    const config_node *scrapes = field(root, "scrape_configs");
    if (scrapes && scrapes->kind != CONFIG_NODE_NULL) {
        if (scrapes->kind != CONFIG_NODE_SEQUENCE) return type_error(L, scrapes, "[]*config.ScrapeConfig");
        cfg->scrape_configs = arena_alloc(L->ctx, (scrapes->n ? scrapes->n : 1) * sizeof *cfg->scrape_configs);
        for (size_t i = 0; i < scrapes->n; i++) {
            config_scrape *sc = &cfg->scrape_configs[i];
            if (decode_scrape(L, scrapes->items[i], &cfg->global, sc)) return -1;
            cfg->nscrape = i + 1;
            for (size_t j = 0; j < i; j++)
                if (!strcmp(cfg->scrape_configs[j].job_name, sc->job_name))
                    return fail(L, field(scrapes->items[i], "job_name"), "found multiple scrape configs with job name %s",
                                goquote(q, sizeof q, sc->job_name));
        }
    }
    return 0;
}

/* ------------------------------------------------------------ API */

int config_parse(const char *text, size_t len, const char *name, promlite_config **out, errbuf *err) {
    *out = NULL;
    config_ctx *ctx = xcalloc(1, sizeof *ctx);
    promlite_config *cfg = arena_alloc(ctx, sizeof *cfg);
    cfg->ctx = ctx;
    cfg->name = arena_strdup(ctx, name ? name : "<config>");
    const char *slash = strrchr(cfg->name, '/');
    cfg->dir = !slash ? "." : slash == cfg->name ? "/" : arena_strndup(ctx, cfg->name, (size_t)(slash - cfg->name));
    loader L = {.ctx = ctx, .name = cfg->name, .dir = cfg->dir, .err = err};
    config_node *root = NULL;
    if (parse_yaml(&L, text, len, &root) || decode_root(&L, root, cfg)) {
        config_free(cfg);
        return -1;
    }
    *out = cfg;
    return 0;
}

int config_load(const char *path, promlite_config **out, errbuf *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return errf(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return errf(err, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > CONFIG_MAX_FILE_BYTES) {
        close(fd);
        return errf(err, "%s: larger than %u MiB", path, CONFIG_MAX_FILE_BYTES >> 20);
    }
    size_t size = (size_t)st.st_size, got = 0;
    char *text = xmalloc(size + 1);
    while (got < size) {
        ssize_t r = read(fd, text + got, size - got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            close(fd);
            free(text);
            return errf(err, "%s: cannot read: %s", path, strerror(e));
        }
        got += (size_t)r;
    }
    close(fd);
    int rc = config_parse(text, size, path, out, err);
    free(text);
    return rc;
}

void config_free(promlite_config *cfg) {
    if (cfg) ctx_free(cfg->ctx);
}

int config_scrape_targets_equal(const config_scrape *a, const config_scrape *b) {
    return a->targets_hash == b->targets_hash;
}

int config_scrape_equal(const config_scrape *a, const config_scrape *b) {
    return a->source_hash == b->source_hash && a->canonical_len == b->canonical_len &&
           !memcmp(a->canonical, b->canonical, a->canonical_len);
}

const config_scrape *config_find_job(const promlite_config *cfg, const char *job_name) {
    for (size_t i = 0; i < cfg->nscrape; i++)
        if (!strcmp(cfg->scrape_configs[i].job_name, job_name)) return &cfg->scrape_configs[i];
    return NULL;
}

/* The adders work in the configuration's own arena; on failure what was
 * allocated stays there unused until config_free (no pointer to it is kept),
 * so cfg is unchanged as far as any reader can tell. */
int config_add_scrape_configs(promlite_config *cfg, const char *text, size_t len, const char *name, errbuf *err) {
    config_ctx *ctx = cfg->ctx;
    loader L = {.ctx = ctx, .name = arena_strdup(ctx, name ? name : "<scrape configs>"), .dir = cfg->dir, .err = err};
    config_node *root = NULL;
    if (parse_yaml(&L, text, len, &root)) return -1;
    if (!root || root->kind == CONFIG_NODE_NULL) return 0;
    if (root->kind != CONFIG_NODE_SEQUENCE) return type_error(&L, root, "[]*config.ScrapeConfig");
    size_t total = cfg->nscrape + root->n;
    config_scrape *all = arena_alloc(ctx, (total ? total : 1) * sizeof *all);
    if (cfg->nscrape) memcpy(all, cfg->scrape_configs, cfg->nscrape * sizeof *all);
    char q[QUOTE_MAX];
    for (size_t i = 0; i < root->n; i++) {
        config_scrape *sc = &all[cfg->nscrape + i];
        if (decode_scrape(&L, root->items[i], &cfg->global, sc)) return -1;
        for (size_t j = 0; j < cfg->nscrape + i; j++)
            if (!strcmp(all[j].job_name, sc->job_name))
                return fail(&L, field(root->items[i], "job_name"), "found multiple scrape configs with job name %s",
                            goquote(q, sizeof q, sc->job_name));
    }
    cfg->scrape_configs = all;
    cfg->nscrape = total;
    return 0;
}

int config_add_targets(promlite_config *cfg, const char *job_name, const config_target_input *in, size_t n,
                       errbuf *err) {
    config_ctx *ctx = cfg->ctx;
    config_scrape *sc = NULL;
    for (size_t i = 0; i < cfg->nscrape; i++)
        if (!strcmp(cfg->scrape_configs[i].job_name, job_name)) sc = &cfg->scrape_configs[i];
    char q[QUOTE_MAX];
    if (!sc) return errf(err, "no scrape config with job name %s", goquote(q, sizeof q, job_name));
    if (!n) return 0;
    config_static *all = arena_alloc(ctx, (sc->nstatic + n) * sizeof *all);
    if (sc->nstatic) memcpy(all, sc->static_configs, sc->nstatic * sizeof *all);
    XXH3_state_t *h = XXH3_createState();
    XXH3_64bits_reset(h);
    XXH3_64bits_update(h, &sc->targets_hash, sizeof sc->targets_hash);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const config_target_input *t = &in[i];
        loader L = {.ctx = ctx, .name = t->name ? t->name : "<target>", .dir = cfg->dir, .err = err};
        config_static *g = &all[sc->nstatic + i];
        memset(g, 0, sizeof *g);
        if ((rc = check_target(&L, NULL, t->address, 0, sc->nstatic + i))) break;
        g->targets = arena_alloc(ctx, sizeof *g->targets);
        g->targets[0] = arena_strdup(ctx, t->address);
        g->ntargets = 1;
        g->labels = arena_alloc(ctx, (t->nlabels ? t->nlabels : 1) * sizeof *g->labels);
        for (size_t k = 0; k < t->nlabels && !rc; k++) {
            const label *l = &t->labels[k];
            if (!label_name_valid(l->name, l->name_len))
                rc = fail(&L, NULL, "%s is not a valid label name", goquote(q, sizeof q, l->name));
            else if (!utf8_valid(l->value, l->value_len))
                rc = fail(&L, NULL, "%s is not a valid label value", goquote(q, sizeof q, l->value));
            for (size_t j = 0; j < k && !rc; j++)
                if (!strcmp(g->labels[j].name, l->name))
                    rc = fail(&L, NULL, "key %s already set in map", goquote(q, sizeof q, l->name));
            if (rc) break;
            g->labels[k] = (label){arena_strndup(ctx, l->name, l->name_len), l->name_len,
                                   arena_strndup(ctx, l->value, l->value_len), l->value_len};
        }
        if (rc) break;
        g->nlabels = t->nlabels;
        qsort(g->labels, g->nlabels, sizeof *g->labels, label_cmp);
        const label *addr = labels_get(g->labels, g->nlabels, "__address__", 11);
        if (addr && strchr(addr->value, '/')) {
            rc = fail(&L, NULL, "%s is not a valid hostname", goquote(q, sizeof q, addr->value));
            break;
        }
        XXH3_64bits_update(h, t->address, strlen(t->address) + 1);
        for (size_t k = 0; k < g->nlabels; k++) {
            XXH3_64bits_update(h, g->labels[k].name, g->labels[k].name_len + 1);
            XXH3_64bits_update(h, g->labels[k].value, g->labels[k].value_len + 1);
        }
        XXH3_64bits_update(h, "\n", 1);
    }
    if (!rc) {
        sc->targets_hash = XXH3_64bits_digest(h);
        sc->static_configs = all;
        sc->nstatic += n;
    }
    XXH3_freeState(h);
    return rc;
}
