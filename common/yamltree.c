/*
 * yamltree.c - YAML text to yt_node trees, and the typed decoders (see
 * yamltree.h).
 *
 * Why a tree of our own instead of walking libyaml's document: the tree is
 * allocated from the caller's arena, so a decoded struct may keep pointers
 * to nodes (the raw alerting section, a rule's expression with its
 * position) after libyaml's document is gone; and tags are resolved once,
 * at copy time, with yaml.v2's rules, so every decoder sees the type Go
 * would see.
 *
 * Decoders mirror yaml.v2's unmarshalling into Go's types: a string takes
 * any scalar, a bool only YAML 1.1 booleans, integers allow 0x/0o/0b and
 * underscores, and every failure is reported with the position of the
 * offending node.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/timeutil.h"
#include "common/yamltree.h"

#define YT_MAX_NODES 2000000u /* after alias expansion */
#define YT_MAX_DEPTH 200

/* ------------------------------------------------------------ arena */

/* Memory comes in chunks of at least 16 KiB, bumped forward and never
 * freed one by one: a configuration is built once and dropped whole. */
typedef struct arena_chunk {
    struct arena_chunk *next;
    size_t used, cap;
    max_align_t data[];
} arena_chunk;

typedef struct {
    void (*fn)(void *);
    void *p;
} deferred_free;

struct yt_arena {
    arena_chunk *chunks;
    deferred_free *deferred;
    size_t ndeferred, capdeferred;
};

yt_arena *yt_arena_new(void) { return xcalloc(1, sizeof(yt_arena)); }

void *yt_alloc(yt_arena *a, size_t n) {
    size_t align = sizeof(max_align_t);
    n = (n + align - 1) / align * align;
    if (n == 0) n = align;
    arena_chunk *c = a->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        c = xmalloc(sizeof *c + cap);
        c->used = 0;
        c->cap = cap;
        c->next = a->chunks;
        a->chunks = c;
    }
    void *p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *yt_strndup(yt_arena *a, const char *s, size_t n) {
    char *p = yt_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *yt_strdup(yt_arena *a, const char *s) { return yt_strndup(a, s, strlen(s)); }

void yt_arena_defer(yt_arena *a, void (*fn)(void *), void *p) {
    if (a->ndeferred == a->capdeferred) {
        a->capdeferred = a->capdeferred ? a->capdeferred * 2 : 16;
        a->deferred = xrealloc(a->deferred, a->capdeferred * sizeof *a->deferred);
    }
    a->deferred[a->ndeferred++] = (deferred_free){fn, p};
}

void yt_arena_free(yt_arena *a) {
    if (!a) return;
    for (size_t i = a->ndeferred; i-- > 0;) a->deferred[i].fn(a->deferred[i].p);
    free(a->deferred);
    for (arena_chunk *c = a->chunks, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}

yt_node *yt_copy(yt_arena *a, const yt_node *n) {
    if (!n) return NULL;
    yt_node *c = yt_alloc(a, sizeof *c);
    *c = *n;
    c->tag = yt_strdup(a, n->tag ? n->tag : "");
    if (n->value) c->value = yt_strndup(a, n->value, n->len);
    if (n->kind == YT_SEQUENCE) {
        c->items = yt_alloc(a, (n->n ? n->n : 1) * sizeof *c->items);
        for (size_t i = 0; i < n->n; i++) c->items[i] = yt_copy(a, n->items[i]);
    } else if (n->kind == YT_MAPPING) {
        c->pairs = yt_alloc(a, (n->n ? n->n : 1) * sizeof *c->pairs);
        for (size_t i = 0; i < n->n; i++)
            c->pairs[i] = (yt_pair){yt_copy(a, n->pairs[i].key), yt_copy(a, n->pairs[i].value)};
    }
    return c;
}

/* ------------------------------------------------------------ messages */

/* Sets the error "NAME:LINE:COL: message" at node `at` (or without a
 * position when at is NULL) and returns -1. */
int yt_fail(yt_loader *L, const yt_node *at, const char *fmt, ...) {
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
const char *yt_quote(char *out, size_t cap, const char *s) {
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

/* ------------------------------------------------------------ YAML → tree */

static const char *const yaml11_true[] = {"y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"};
static const char *const yaml11_false[] = {"n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"};

int yt_in_list(const char *s, const char *const *list, size_t n) {
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
    if (yt_in_list(s, special, sizeof special / sizeof special[0])) return 1;
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
    if (yt_in_list(s, yaml11_true, sizeof yaml11_true / sizeof yaml11_true[0]) ||
        yt_in_list(s, yaml11_false, sizeof yaml11_false / sizeof yaml11_false[0]))
        return "!!bool";
    int neg;
    uint64_t mag;
    if ((*s == '+' || *s == '-' || (*s >= '0' && *s <= '9')) && !yaml_parse_int(s, &neg, &mag)) return "!!int";
    if (yaml_is_float(s)) return "!!float";
    if (!strcmp(s, "<<")) return "!!merge";
    return "!!str";
}

/* Shortens "tag:yaml.org,2002:int" to "!!int"; other tags stay as written. */
static const char *short_tag(yt_loader *L, const char *tag) {
    static const char prefix[] = "tag:yaml.org,2002:";
    if (!strncmp(tag, prefix, sizeof prefix - 1)) {
        size_t n = strlen(tag + sizeof prefix - 1);
        char *t = yt_alloc(L->arena, n + 3);
        t[0] = t[1] = '!';
        memcpy(t + 2, tag + sizeof prefix - 1, n + 1);
        return t;
    }
    return yt_strdup(L->arena, tag);
}

static yt_node *convert_node(yt_loader *L, yaml_document_t *doc, yaml_node_t *yn, int depth);

static int pair_key_equal(const yt_node *a, const yt_node *b) {
    return a->kind == b->kind && a->kind != YT_SEQUENCE && a->kind != YT_MAPPING &&
           a->len == b->len && (a->len == 0 || !memcmp(a->value, b->value, a->len));
}

/* Copies a mapping.  Merge keys ("<<: *base" or "<<: [*a, *b]") are
 * expanded as YAML 1.1 and yaml.v2 do: explicit keys win over merged ones,
 * and among merged mappings the earlier wins. */
static int convert_mapping(yt_loader *L, yaml_document_t *doc, yaml_node_t *yn, yt_node *out, int depth) {
    size_t n = (size_t)(yn->data.mapping.pairs.top - yn->data.mapping.pairs.start);
    yt_pair *explicit_pairs = yt_alloc(L->arena, (n ? n : 1) * sizeof *explicit_pairs);
    yt_node **merges = yt_alloc(L->arena, (n ? n : 1) * sizeof *merges);
    size_t nexp = 0, nmerge = 0;
    for (size_t i = 0; i < n; i++) {
        yaml_node_pair_t *yp = &yn->data.mapping.pairs.start[i];
        yt_node *k = convert_node(L, doc, yaml_document_get_node(doc, yp->key), depth + 1);
        if (!k) return -1;
        yt_node *v = convert_node(L, doc, yaml_document_get_node(doc, yp->value), depth + 1);
        if (!v) return -1;
        if (k->kind == YT_SCALAR && !k->quoted && !strcmp(k->tag, "!!merge")) {
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
        const yt_node *src = merges[m];
        if (src->kind == YT_MAPPING) cap += src->n;
        else if (src->kind == YT_SEQUENCE) {
            for (size_t j = 0; j < src->n; j++) {
                if (src->items[j]->kind != YT_MAPPING)
                    return yt_fail(L, src->items[j], "yaml: map merge requires map or sequence of maps as the value");
                cap += src->items[j]->n;
            }
        } else {
            return yt_fail(L, src, "yaml: map merge requires map or sequence of maps as the value");
        }
    }
    yt_pair *all = yt_alloc(L->arena, (cap ? cap : 1) * sizeof *all);
    size_t nall = 0;
    for (size_t i = 0; i < nexp; i++) all[nall++] = explicit_pairs[i];
    for (size_t m = 0; m < nmerge; m++) {
        const yt_node *src = merges[m];
        size_t nsrc = src->kind == YT_MAPPING ? 1 : src->n;
        for (size_t s = 0; s < nsrc; s++) {
            const yt_node *map = src->kind == YT_MAPPING ? src : src->items[s];
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
static yt_node *convert_node(yt_loader *L, yaml_document_t *doc, yaml_node_t *yn, int depth) {
    if (depth > YT_MAX_DEPTH) {
        errf(L->err, "%s:%zu:%zu: yaml: nesting deeper than %d levels", L->name, yn->start_mark.line + 1,
             yn->start_mark.column + 1, YT_MAX_DEPTH);
        return NULL;
    }
    if (++L->nodes > YT_MAX_NODES) {
        errf(L->err, "%s:%zu:%zu: yaml: document has more than %u nodes (alias expansion?)", L->name,
             yn->start_mark.line + 1, yn->start_mark.column + 1, YT_MAX_NODES);
        return NULL;
    }
    yt_node *n = yt_alloc(L->arena, sizeof *n);
    n->line = (int)yn->start_mark.line + 1;
    n->column = (int)yn->start_mark.column + 1;
    const char *tag = yn->tag ? (const char *)yn->tag : "";
    switch (yn->type) {
    case YAML_SCALAR_NODE:
        n->kind = YT_SCALAR;
        n->len = yn->data.scalar.length;
        n->value = yt_strndup(L->arena, (const char *)yn->data.scalar.value, n->len);
        n->quoted = yn->data.scalar.style != YAML_PLAIN_SCALAR_STYLE && yn->data.scalar.style != YAML_ANY_SCALAR_STYLE;
        if (!n->quoted && !strcmp(tag, YAML_DEFAULT_SCALAR_TAG))
            n->tag = resolve_plain_tag(n->value);
        else
            n->tag = short_tag(L, tag);
        if (!strcmp(n->tag, "!!null")) n->kind = YT_NULL;
        return n;
    case YAML_SEQUENCE_NODE: {
        n->kind = YT_SEQUENCE;
        n->tag = "!!seq";
        size_t count = (size_t)(yn->data.sequence.items.top - yn->data.sequence.items.start);
        n->items = yt_alloc(L->arena, (count ? count : 1) * sizeof *n->items);
        for (size_t i = 0; i < count; i++) {
            n->items[i] = convert_node(L, doc, yaml_document_get_node(doc, yn->data.sequence.items.start[i]), depth + 1);
            if (!n->items[i]) return NULL;
        }
        n->n = count;
        return n;
    }
    case YAML_MAPPING_NODE:
        n->kind = YT_MAPPING;
        n->tag = "!!map";
        return convert_mapping(L, doc, yn, n, depth) ? NULL : n;
    default:
        n->kind = YT_NULL;
        n->tag = "!!null";
        return n;
    }
}

/* Formats libyaml's parse error as "NAME:LINE:COL: yaml: problem (context
 * at LINE:COL)". */
static int yaml_syntax_error(yt_loader *L, const yaml_parser_t *p) {
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
int yt_parse(yt_loader *L, const char *text, size_t len, yt_node **root) {
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
int yt_type_error(yt_loader *L, const yt_node *n, const char *into) {
    if (n->kind == YT_SEQUENCE || n->kind == YT_MAPPING)
        return yt_fail(L, n, "cannot unmarshal %s into %s", n->tag, into);
    if (n->len > 10) return yt_fail(L, n, "cannot unmarshal %s `%.7s...` into %s", n->tag, n->value, into);
    return yt_fail(L, n, "cannot unmarshal %s `%s` into %s", n->tag, n->value ? n->value : "", into);
}

/* A mapping, or null (an empty section), for a struct type. */
int yt_expect_mapping(yt_loader *L, const yt_node *n, const char *into) {
    return n->kind == YT_MAPPING || n->kind == YT_NULL ? 0 : yt_type_error(L, n, into);
}

/* The value of a field, NULL when absent.  Keys have been checked to be
 * unique scalars by yt_check_fields(). */
const yt_node *yt_field(const yt_node *map, const char *name) {
    if (!map || map->kind != YT_MAPPING) return NULL;
    for (size_t i = 0; i < map->n; i++)
        if (map->pairs[i].key->kind == YT_SCALAR && !strcmp(map->pairs[i].key->value, name))
            return map->pairs[i].value;
    return NULL;
}

/* Whether a value configures nothing (null, [], {}): an unsupported key
 * with such a value is accepted, since nothing is being ignored. */
int yt_is_empty(const yt_node *v) {
    return v->kind == YT_NULL ||
           ((v->kind == YT_SEQUENCE || v->kind == YT_MAPPING) && v->n == 0);
}

/* Checks the keys of a struct-like mapping: every key is one of `known`
 * (or of `unsupported`, which fails unless its value is empty) and no key
 * repeats.  Lists end with NULL. */
int yt_check_fields(yt_loader *L, const yt_node *map, const char *type_name, const char *const *known,
                        const char *const *unsupported) {
    if (map->kind != YT_MAPPING) return 0;
    for (size_t i = 0; i < map->n; i++) {
        const yt_node *k = map->pairs[i].key;
        if (k->kind != YT_SCALAR) return yt_type_error(L, k, "string");
        int ok = 0;
        for (const char *const *f = known; *f && !ok; f++) ok = !strcmp(*f, k->value);
        if (!ok && unsupported) {
            for (const char *const *f = unsupported; *f; f++)
                if (!strcmp(*f, k->value)) {
                    if (yt_is_empty(map->pairs[i].value)) {
                        ok = 1;
                        break;
                    }
                    char q[YT_QUOTE_MAX];
                    return yt_fail(L, k, "%s is not supported by promlite", yt_quote(q, sizeof q, k->value));
                }
        }
        if (!ok) return yt_fail(L, k, "field %s not found in type %s", k->value, type_name);
        for (size_t j = 0; j < i; j++)
            if (pair_key_equal(map->pairs[j].key, k))
                return yt_fail(L, k, "field %s already set in type %s", k->value, type_name);
    }
    return 0;
}

/* A string: any scalar (yaml.v2 takes 123 or yes as text).  Null or
 * absent leaves *out unchanged (the caller's default). */
int yt_string(yt_loader *L, const yt_node *n, const char **out) {
    if (!n || n->kind == YT_NULL) return 0;
    if (n->kind != YT_SCALAR) return yt_type_error(L, n, "string");
    *out = n->value;
    return 0;
}

/* A bool: only !!bool scalars.  Null sets false, as yaml.v2 zeroes it. */
int yt_bool(yt_loader *L, const yt_node *n, int *out) {
    if (!n) return 0;
    if (n->kind == YT_NULL) {
        *out = 0;
        return 0;
    }
    if (n->kind != YT_SCALAR || strcmp(n->tag, "!!bool")) return yt_type_error(L, n, "bool");
    *out = yt_in_list(n->value, yaml11_true, sizeof yaml11_true / sizeof yaml11_true[0]);
    return 0;
}

/* An unsigned integer: a non-negative !!int, or a !!float with an integral
 * value (yaml.v2 takes 1e3).  `into` names the Go type for messages. */
int yt_uint(yt_loader *L, const yt_node *n, uint64_t *out, const char *into) {
    if (!n || n->kind == YT_NULL) return 0;
    if (n->kind != YT_SCALAR) return yt_type_error(L, n, into);
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
    return yt_type_error(L, n, into);
}

/* A Prometheus duration (model.Duration): a scalar read as a string, then
 * parsed.  Null or absent leaves *ms (0 = "not given"). */
int yt_duration(yt_loader *L, const yt_node *n, int64_t *ms) {
    if (!n || n->kind == YT_NULL) return 0;
    if (n->kind != YT_SCALAR) return yt_type_error(L, n, "string");
    if (parse_duration(n->value, ms)) {
        char q[YT_QUOTE_MAX];
        return yt_fail(L, n, "not a valid duration string: %s", yt_quote(q, sizeof q, n->value));
    }
    return 0;
}

/* A size as Prometheus's body_size_limit (units.Base2Bytes): "0", or one
 * or more <number><unit> with units B, KB/KiB, MB/MiB, ... EB/EiB, all
 * powers of 1024 ("10MB", "1.5GiB", "1GB512MB"). */
int yt_size(yt_loader *L, const yt_node *n, uint64_t *out) {
    if (!n || n->kind == YT_NULL) return 0;
    if (n->kind != YT_SCALAR) return yt_type_error(L, n, "string");
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
    if (!*s) return yt_fail(L, n, "units: invalid %s", orig);
    double total = 0;
    while (*s) {
        if (!(*s == '.' || (*s >= '0' && *s <= '9'))) return yt_fail(L, n, "units: invalid %s", orig);
        double g = 0;
        int pre = 0, post = 0;
        while (*s >= '0' && *s <= '9') g = g * 10 + (*s++ - '0'), pre = 1;
        if (*s == '.') {
            s++;
            double scale = 1;
            while (*s >= '0' && *s <= '9') scale /= 10, g += (*s++ - '0') * scale, post = 1;
        }
        if (!pre && !post) return yt_fail(L, n, "units: invalid %s", orig);
        const char *u = s;
        while (*s && *s != '.' && !(*s >= '0' && *s <= '9')) s++;
        size_t ulen = (size_t)(s - u);
        double scale = -1;
        for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
            if (strlen(units[i].unit) == ulen && !memcmp(units[i].unit, u, ulen)) scale = units[i].scale;
        if (scale < 0) return yt_fail(L, n, "units: unknown unit %.*s in %s", (int)ulen, u, orig);
        total += g * scale;
    }
    if (neg && total > 0) return yt_fail(L, n, "units: a size cannot be negative: %s", orig);
    if (total >= 9223372036854775807.0) return yt_fail(L, n, "units: overflow parsing unit");
    *out = (uint64_t)total;
    return 0;
}

/* A list of strings ([]string or a named equivalent for messages).  Null
 * is an empty list.  Lines of the items go to *lines when asked. */
int yt_string_list(yt_loader *L, const yt_node *n, const char *into, const char ***out, size_t *nout,
                              int **lines) {
    *out = NULL;
    *nout = 0;
    if (!n || n->kind == YT_NULL) return 0;
    if (n->kind != YT_SEQUENCE) return yt_type_error(L, n, into);
    const char **v = yt_alloc(L->arena, (n->n ? n->n : 1) * sizeof *v);
    int *ln = lines ? yt_alloc(L->arena, (n->n ? n->n : 1) * sizeof *ln) : NULL;
    for (size_t i = 0; i < n->n; i++) {
        const yt_node *it = n->items[i];
        v[i] = "";
        if (yt_string(L, it, &v[i])) return -1;
        if (ln) ln[i] = it->line;
    }
    *out = v;
    *nout = n->n;
    if (lines) *lines = ln;
    return 0;
}

static int label_name_cmp(const void *a, const void *b) {
    const label *x = a, *y = b;
    return strcmp(x->name, y->name);
}

/* A label set (map[string]string or model.LabelSet): names must be valid
 * label names, values valid UTF-8; sorted by name on return. */
int yt_labels(yt_loader *L, const yt_node *n, const char *into, label **out, size_t *nout) {
    *out = NULL;
    *nout = 0;
    if (!n || n->kind == YT_NULL) return 0;
    if (n->kind != YT_MAPPING) return yt_type_error(L, n, into);
    label *v = yt_alloc(L->arena, (n->n ? n->n : 1) * sizeof *v);
    char q[YT_QUOTE_MAX];
    for (size_t i = 0; i < n->n; i++) {
        const yt_node *k = n->pairs[i].key, *val = n->pairs[i].value;
        const char *name = "", *value = "";
        if (yt_string(L, k, &name) || yt_string(L, val, &value)) return -1;
        for (size_t j = 0; j < i; j++)
            if (!strcmp(v[j].name, name)) return yt_fail(L, k, "key %s already set in map", yt_quote(q, sizeof q, name));
        if (!label_name_valid(name, strlen(name)) || strlen(name) != k->len)
            return yt_fail(L, k, "%s is not a valid label name", yt_quote(q, sizeof q, name));
        if (!utf8_valid(value, val->len) || strlen(value) != val->len)
            return yt_fail(L, val, "%s is not a valid label value", yt_quote(q, sizeof q, value));
        v[i].name = name;
        v[i].name_len = (uint32_t)strlen(name);
        v[i].value = value;
        v[i].value_len = (uint32_t)strlen(value);
    }
    qsort(v, n->n, sizeof *v, label_name_cmp);
    *out = v;
    *nout = n->n;
    return 0;
}

/* Resolves a file name against the configuration's folder, as
 * Prometheus's config.JoinDir (absolute and empty names stay). */
const char *yt_join_dir(yt_loader *L, const char *path) {
    if (!path || !*path || path[0] == '/' || !strcmp(L->dir, ".")) return path;
    size_t nd = strlen(L->dir), np = strlen(path);
    char *p = yt_alloc(L->arena, nd + np + 2);
    memcpy(p, L->dir, nd);
    p[nd] = '/';
    memcpy(p + nd + 1, path, np + 1);
    return p;
}
