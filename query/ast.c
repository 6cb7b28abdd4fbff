/*
 * ast.c - the arena that owns a PromQL syntax tree, the names of types and
 * operators, and the function table.  Contract: ast.h.
 *
 * ARENA
 *
 * A parse allocates many small objects (nodes, label-name arrays, decoded
 * strings) that all die together when the query is done, so they come from
 * a bump allocator: blocks of 8 KiB (or one block of exactly the requested
 * size for a larger object) chained on a list.  Allocation is a pointer bump
 * plus alignment; pq_arena_free() walks the list once.  Matchers are the one
 * thing the arena cannot simply drop, because matcher_init() mallocs their
 * name, value and PCRE2 code: pq_arena_own_matcher() records them on a
 * second list (itself arena-allocated) and pq_arena_free() calls
 * matcher_free() on each before releasing the blocks.
 *
 * FUNCTION TABLE
 *
 * pq_functions lists every float function of Prometheus 2.53 with
 * Prometheus's declared argument types and variadic rule (functions.go), in
 * alphabetical order so that pq_func_lookup() is a binary search.  The
 * evaluator indexes its implementations by pq_func.id, which is the index in
 * this table; a test checks that ids and order agree.
 *
 * Threads: an arena is used by one thread at a time; the tables are
 * read-only.
 */
#include "query/ast.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 8192
#define ARENA_ALIGN 16

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    /* data follows, aligned to ARENA_ALIGN */
} arena_block;

typedef struct owned_matcher {
    matcher *m;
    struct owned_matcher *next;
} owned_matcher;

struct pq_arena {
    arena_block *blocks;     /* the current block first */
    owned_matcher *matchers;
};

#define BLOCK_HEADER (((sizeof(arena_block) + ARENA_ALIGN - 1) / ARENA_ALIGN) * ARENA_ALIGN)

pq_arena *pq_arena_new(void) { return xcalloc(1, sizeof(pq_arena)); }

void pq_arena_free(pq_arena *a) {
    if (!a) return;
    for (owned_matcher *o = a->matchers; o; o = o->next) matcher_free(o->m);
    arena_block *b = a->blocks;
    while (b) {
        arena_block *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

/* Bumps the current block; a request that does not fit starts a new block
 * (a big request gets a block of its own behind the current one, so the
 * rest of the current block stays usable). */
void *pq_alloc(pq_arena *a, size_t n) {
    size_t need = (n + ARENA_ALIGN - 1) / ARENA_ALIGN * ARENA_ALIGN;
    if (need == 0) need = ARENA_ALIGN;
    arena_block *b = a->blocks;
    if (!b || b->cap - b->used < need) {
        size_t cap = need > ARENA_BLOCK / 2 ? need : ARENA_BLOCK;
        arena_block *nb = xmalloc(BLOCK_HEADER + cap);
        nb->used = 0;
        nb->cap = cap;
        if (b && cap == need) {          /* oversized: keep the current block on top */
            nb->next = b->next;
            b->next = nb;
        } else {
            nb->next = b;
            a->blocks = nb;
        }
        b = nb;
    }
    void *p = (char *)b + BLOCK_HEADER + b->used;
    b->used += need;
    memset(p, 0, need);
    return p;
}

char *pq_strndup(pq_arena *a, const char *s, size_t n) {
    char *p = pq_alloc(a, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void pq_arena_own_matcher(pq_arena *a, matcher *m) {
    owned_matcher *o = pq_alloc(a, sizeof *o);
    o->m = m;
    o->next = a->matchers;
    a->matchers = o;
}

/* ---------------------------------------------------------------- names */

const char *pq_type_name(pq_type t) {
    switch (t) {
    case PQ_TYPE_SCALAR: return "scalar";
    case PQ_TYPE_VECTOR: return "instant vector";
    case PQ_TYPE_MATRIX: return "range vector";
    case PQ_TYPE_STRING: return "string";
    }
    return "none";
}

const char *pq_binop_name(pq_binop op) {
    static const char *const names[] = {
        [PQ_OP_POW] = "^", [PQ_OP_MUL] = "*", [PQ_OP_DIV] = "/", [PQ_OP_MOD] = "%",
        [PQ_OP_ATAN2] = "atan2", [PQ_OP_ADD] = "+", [PQ_OP_SUB] = "-", [PQ_OP_EQ] = "==",
        [PQ_OP_NE] = "!=", [PQ_OP_GT] = ">", [PQ_OP_LT] = "<", [PQ_OP_GE] = ">=",
        [PQ_OP_LE] = "<=", [PQ_OP_AND] = "and", [PQ_OP_UNLESS] = "unless", [PQ_OP_OR] = "or",
    };
    return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

const char *pq_aggop_name(pq_aggop op) {
    static const char *const names[] = {
        [PQ_AGG_SUM] = "sum", [PQ_AGG_AVG] = "avg", [PQ_AGG_COUNT] = "count",
        [PQ_AGG_MIN] = "min", [PQ_AGG_MAX] = "max", [PQ_AGG_GROUP] = "group",
        [PQ_AGG_STDDEV] = "stddev", [PQ_AGG_STDVAR] = "stdvar", [PQ_AGG_TOPK] = "topk",
        [PQ_AGG_BOTTOMK] = "bottomk", [PQ_AGG_QUANTILE] = "quantile",
        [PQ_AGG_COUNT_VALUES] = "count_values",
    };
    return (unsigned)op < sizeof names / sizeof names[0] ? names[op] : "?";
}

/* ---------------------------------------------------------------- functions */

#define S PQ_TYPE_SCALAR
#define V PQ_TYPE_VECTOR
#define M PQ_TYPE_MATRIX
#define T PQ_TYPE_STRING
/* F(name, return, variadic, argument types...) */
#define F(name, ret, variadic, ...) \
    { name, __COUNTER__ - counter_base - 1, { __VA_ARGS__ }, \
      (int)(sizeof((pq_type[]){ __VA_ARGS__ }) / sizeof(pq_type)), variadic, ret }
#define F0(name, ret) { name, __COUNTER__ - counter_base - 1, { 0 }, 0, 0, ret }

enum { counter_base = __COUNTER__ };

const pq_func pq_functions[] = {
    F("abs", V, 0, V),
    F("absent", V, 0, V),
    F("absent_over_time", V, 0, M),
    F("acos", V, 0, V),
    F("acosh", V, 0, V),
    F("asin", V, 0, V),
    F("asinh", V, 0, V),
    F("atan", V, 0, V),
    F("atanh", V, 0, V),
    F("avg_over_time", V, 0, M),
    F("ceil", V, 0, V),
    F("changes", V, 0, M),
    F("clamp", V, 0, V, S, S),
    F("clamp_max", V, 0, V, S),
    F("clamp_min", V, 0, V, S),
    F("cos", V, 0, V),
    F("cosh", V, 0, V),
    F("count_over_time", V, 0, M),
    F("day_of_month", V, 1, V),
    F("day_of_week", V, 1, V),
    F("day_of_year", V, 1, V),
    F("days_in_month", V, 1, V),
    F("deg", V, 0, V),
    F("delta", V, 0, M),
    F("deriv", V, 0, M),
    F("exp", V, 0, V),
    F("floor", V, 0, V),
    F("histogram_quantile", V, 0, S, V),
    F("holt_winters", V, 0, M, S, S),
    F("hour", V, 1, V),
    F("idelta", V, 0, M),
    F("increase", V, 0, M),
    F("irate", V, 0, M),
    F("label_join", V, -1, V, T, T, T),
    F("label_replace", V, 0, V, T, T, T, T),
    F("last_over_time", V, 0, M),
    F("ln", V, 0, V),
    F("log10", V, 0, V),
    F("log2", V, 0, V),
    F("max_over_time", V, 0, M),
    F("min_over_time", V, 0, M),
    F("minute", V, 1, V),
    F("month", V, 1, V),
    F0("pi", S),
    F("predict_linear", V, 0, M, S),
    F("present_over_time", V, 0, M),
    F("quantile_over_time", V, 0, S, M),
    F("rad", V, 0, V),
    F("rate", V, 0, M),
    F("resets", V, 0, M),
    F("round", V, 1, V, S),
    F("scalar", S, 0, V),
    F("sgn", V, 0, V),
    F("sin", V, 0, V),
    F("sinh", V, 0, V),
    F("sort", V, 0, V),
    F("sort_desc", V, 0, V),
    F("sqrt", V, 0, V),
    F("stddev_over_time", V, 0, M),
    F("stdvar_over_time", V, 0, M),
    F("sum_over_time", V, 0, M),
    F("tan", V, 0, V),
    F("tanh", V, 0, V),
    F0("time", S),
    F("timestamp", V, 0, V),
    F("vector", V, 0, S),
    F("year", V, 1, V),
};
const size_t pq_nfunctions = sizeof pq_functions / sizeof pq_functions[0];

#undef S
#undef V
#undef M
#undef T
#undef F
#undef F0

/* Binary search over the sorted table; names are compared as byte strings
 * of the given length (the text need not be NUL-terminated). */
const pq_func *pq_func_lookup(const char *name, size_t len) {
    size_t lo = 0, hi = pq_nfunctions;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *fn = pq_functions[mid].name;
        size_t fl = strlen(fn);
        int c = memcmp(name, fn, len < fl ? len : fl);
        if (c == 0) c = len < fl ? -1 : len > fl ? 1 : 0;
        if (c == 0) return &pq_functions[mid];
        if (c < 0) hi = mid;
        else lo = mid + 1;
    }
    return NULL;
}

/* ---------------------------------------------------------------- printing */

#include "query/parser.h"
#include "query/parser_tokens.h"

/* Prometheus prints label matchers as name, operator, Go-quoted value, and
 * sorts them as strings; this is the text of one. */
static void format_matcher(const matcher *m, buf *out) {
    static const char *const ops[] = {"=", "!=", "=~", "!~"};
    buf_append(out, m->name, m->name_len);
    buf_printf(out, "%s", ops[m->op]);
    pq_go_quote(out, m->value, m->value_len);
}

static int cmp_text(const void *a, const void *b) {
    const buf *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->data, y->data, n) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

static void format_labels(const pq_labels *l, buf *out) {
    buf_append(out, "(", 1);
    for (size_t i = 0; i < l->n; i++) buf_printf(out, "%s%s", i ? ", " : "", l->names[i]);
    buf_append(out, ")", 1);
}

/* " @ 123.000", " @ start()", " @ end()", then " offset 5m". */
static void format_modifiers(int has_at, int at_kind, int64_t at_ms, int64_t offset_ms, buf *out) {
    if (has_at) {
        if (at_kind == 1) buf_printf(out, " @ start()");
        else if (at_kind == 2) buf_printf(out, " @ end()");
        else {
            uint64_t a = at_ms < 0 ? (uint64_t)0 - (uint64_t)at_ms : (uint64_t)at_ms;
            buf_printf(out, " @ %s%llu.%03llu", at_ms < 0 ? "-" : "", (unsigned long long)(a / 1000),
                       (unsigned long long)(a % 1000));
        }
    }
    if (offset_ms > 0) {
        buf_printf(out, " offset ");
        pq_format_duration(out, offset_ms);
    } else if (offset_ms < 0) {
        buf_printf(out, " offset -");
        pq_format_duration(out, offset_ms);
    }
}

/* A vector selector's name and sorted matchers (the __name__ matcher that
 * repeats the name left out), without modifiers. */
static void format_selector(const pq_node *n, buf *out) {
    size_t k = 0;
    buf *texts = xcalloc(n->u.sel.nmatchers ? n->u.sel.nmatchers : 1, sizeof(buf));
    for (size_t i = 0; i < n->u.sel.nmatchers; i++) {
        const matcher *m = &n->u.sel.matchers[i];
        if (n->u.sel.name && m->op == MATCH_EQ && strcmp(m->name, "__name__") == 0 &&
            strlen(n->u.sel.name) == m->value_len && memcmp(m->value, n->u.sel.name, m->value_len) == 0)
            continue;
        format_matcher(m, &texts[k++]);
    }
    if (n->u.sel.name) buf_printf(out, "%s", n->u.sel.name);
    if (k) {
        qsort(texts, k, sizeof(buf), cmp_text);
        buf_append(out, "{", 1);
        for (size_t i = 0; i < k; i++) {
            if (i) buf_append(out, ",", 1);
            buf_append(out, texts[i].data, texts[i].len);
        }
        buf_append(out, "}", 1);
    }
    for (size_t i = 0; i < k; i++) buf_free(&texts[i]);
    free(texts);
}

void pq_format(const pq_node *n, buf *out) {
    char num[FLOAT_TEXT_MAX];
    switch (n->kind) {
    case PQ_NUMBER:
        buf_printf(out, "%s", format_float(n->u.number, num));
        break;
    case PQ_STRING:
        pq_go_quote(out, n->u.string.s, n->u.string.len);
        break;
    case PQ_SELECTOR:
        format_selector(n, out);
        if (n->u.sel.range_ms > 0) {
            buf_append(out, "[", 1);
            pq_format_duration(out, n->u.sel.range_ms);
            buf_append(out, "]", 1);
        }
        format_modifiers(n->u.sel.has_at, n->u.sel.at_kind, n->u.sel.at_ms, n->u.sel.offset_ms, out);
        break;
    case PQ_SUBQUERY:
        pq_format(n->u.subquery.expr, out);
        buf_append(out, "[", 1);
        pq_format_duration(out, n->u.subquery.range_ms);
        buf_append(out, ":", 1);
        if (n->u.subquery.step_ms) pq_format_duration(out, n->u.subquery.step_ms);
        buf_append(out, "]", 1);
        format_modifiers(n->u.subquery.has_at, n->u.subquery.at_kind, n->u.subquery.at_ms, n->u.subquery.offset_ms, out);
        break;
    case PQ_CALL:
        buf_printf(out, "%s(", n->u.call.func->name);
        for (size_t i = 0; i < n->u.call.nargs; i++) {
            if (i) buf_append(out, ", ", 2);
            pq_format(n->u.call.args[i], out);
        }
        buf_append(out, ")", 1);
        break;
    case PQ_AGGREGATE:
        buf_printf(out, "%s", pq_aggop_name(n->u.agg.op));
        if (n->u.agg.without) {
            buf_printf(out, " without ");
            format_labels(&n->u.agg.grouping, out);
            buf_append(out, " ", 1);
        } else if (n->u.agg.grouping.n > 0) {
            buf_printf(out, " by ");
            format_labels(&n->u.agg.grouping, out);
            buf_append(out, " ", 1);
        }
        buf_append(out, "(", 1);
        if (n->u.agg.param) {
            pq_format(n->u.agg.param, out);
            buf_append(out, ", ", 2);
        }
        pq_format(n->u.agg.expr, out);
        buf_append(out, ")", 1);
        break;
    case PQ_BINARY: {
        const pq_matching *vm = &n->u.binary.matching;
        pq_format(n->u.binary.lhs, out);
        buf_printf(out, " %s", pq_binop_name(n->u.binary.op));
        if (n->u.binary.return_bool) buf_printf(out, " bool");
        if (vm->matching.n > 0 || vm->on) {
            buf_printf(out, vm->on ? " on " : " ignoring ");
            format_labels(&vm->matching, out);
            if (vm->card == PQ_CARD_MANY_TO_ONE || vm->card == PQ_CARD_ONE_TO_MANY) {
                buf_printf(out, vm->card == PQ_CARD_MANY_TO_ONE ? " group_left " : " group_right ");
                format_labels(&vm->include, out);
            }
        }
        buf_append(out, " ", 1);
        pq_format(n->u.binary.rhs, out);
        break;
    }
    case PQ_UNARY:
        buf_append(out, "-", 1);
        pq_format(n->u.unary.expr, out);
        break;
    case PQ_PAREN:
        buf_append(out, "(", 1);
        pq_format(n->u.paren.expr, out);
        buf_append(out, ")", 1);
        break;
    case PQ_STEP_INVARIANT:
        pq_format(n->u.paren.expr, out);
        break;
    }
}

static void explain(const pq_node *n, int depth, buf *out) {
    static const char *const kinds[] = {"NUMBER", "STRING", "SELECTOR", "SUBQUERY", "CALL", "AGGREGATE",
                                        "BINARY", "UNARY", "PAREN", "STEP_INVARIANT"};
    char num[FLOAT_TEXT_MAX];
    buf_printf(out, "%*s%s", depth * 2, "", kinds[n->kind]);
    switch (n->kind) {
    case PQ_NUMBER: buf_printf(out, " %s", format_float(n->u.number, num)); break;
    case PQ_STRING: buf_append(out, " ", 1); pq_go_quote(out, n->u.string.s, n->u.string.len); break;
    case PQ_SELECTOR: {
        buf_append(out, " ", 1);
        pq_node plain = *n;
        plain.u.sel.range_ms = plain.u.sel.offset_ms = 0;
        plain.u.sel.has_at = 0;
        pq_format(&plain, out);
        if (n->u.sel.range_ms) {
            buf_printf(out, " range=");
            pq_format_duration(out, n->u.sel.range_ms);
        }
        format_modifiers(n->u.sel.has_at, n->u.sel.at_kind, n->u.sel.at_ms, n->u.sel.offset_ms, out);
        break;
    }
    case PQ_SUBQUERY:
        buf_printf(out, " range=");
        pq_format_duration(out, n->u.subquery.range_ms);
        buf_printf(out, " step=");
        pq_format_duration(out, n->u.subquery.step_ms);
        format_modifiers(n->u.subquery.has_at, n->u.subquery.at_kind, n->u.subquery.at_ms, n->u.subquery.offset_ms, out);
        break;
    case PQ_CALL: buf_printf(out, " %s", n->u.call.func->name); break;
    case PQ_AGGREGATE:
        buf_printf(out, " %s", pq_aggop_name(n->u.agg.op));
        if (n->u.agg.has_grouping) {
            buf_printf(out, n->u.agg.without ? " without " : " by ");
            format_labels(&n->u.agg.grouping, out);
        }
        break;
    case PQ_BINARY: {
        static const char *const cards[] = {"one-to-one", "many-to-one", "one-to-many", "many-to-many"};
        const pq_matching *vm = &n->u.binary.matching;
        buf_printf(out, " %s%s %s", pq_binop_name(n->u.binary.op), n->u.binary.return_bool ? " bool" : "",
                   cards[vm->card]);
        if (vm->has_matching) {
            buf_printf(out, vm->on ? " on " : " ignoring ");
            format_labels(&vm->matching, out);
        }
        if (vm->include.n) {
            buf_printf(out, " include ");
            format_labels(&vm->include, out);
        }
        break;
    }
    case PQ_UNARY: buf_printf(out, " -"); break;
    case PQ_PAREN: case PQ_STEP_INVARIANT: break;
    }
    buf_printf(out, " <%s> [%u,%u)\n", pq_type_name(n->type), n->pos.start, n->pos.end);
    switch (n->kind) {
    case PQ_SUBQUERY: explain(n->u.subquery.expr, depth + 1, out); break;
    case PQ_CALL:
        for (size_t i = 0; i < n->u.call.nargs; i++) explain(n->u.call.args[i], depth + 1, out);
        break;
    case PQ_AGGREGATE:
        if (n->u.agg.param) explain(n->u.agg.param, depth + 1, out);
        explain(n->u.agg.expr, depth + 1, out);
        break;
    case PQ_BINARY:
        explain(n->u.binary.lhs, depth + 1, out);
        explain(n->u.binary.rhs, depth + 1, out);
        break;
    case PQ_UNARY: explain(n->u.unary.expr, depth + 1, out); break;
    case PQ_PAREN: case PQ_STEP_INVARIANT: explain(n->u.paren.expr, depth + 1, out); break;
    default: break;
    }
}

void pq_explain(const pq_node *n, buf *out) { explain(n, 0, out); }
