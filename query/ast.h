/*
 * ast.h - the syntax tree of a PromQL expression, as the parser builds it
 * and the evaluator walks it.
 *
 * The tree mirrors Prometheus's promql/parser AST for float PromQL: number
 * and string literals, vector selectors (optionally ranged: a matrix
 * selector), subqueries, function calls, aggregations, binary and unary
 * operators and parentheses.  Types are checked at parse time, so every node
 * carries the type of value it yields.
 *
 * Positions: every node has the byte range [pos.start, pos.end) of the
 * query text it came from, so errors found later (evaluation, type checks)
 * can name the place as Prometheus does ("1:14: ...": line 1, column 14,
 * 1-based, columns counted in bytes).
 *
 * Ownership: every node, string and matcher array of a tree is allocated
 * from the pq_arena given to pq_parse(); pq_arena_free() releases the whole
 * tree at once.  Compiled regular expressions inside matchers are owned by
 * the arena too (freed with it).  Strings are NUL-terminated and also carry
 * their length (label values may contain NUL bytes after escape decoding).
 *
 * Threads: a tree is immutable after parsing and may be read by any thread;
 * but a matcher holds PCRE2 match data, so only one thread at a time may run
 * the matchers of one tree (one query is evaluated by one thread).
 */
#ifndef PROMLITE_QUERY_AST_H
#define PROMLITE_QUERY_AST_H

#include <stddef.h>
#include <stdint.h>

#include "common/selector.h"
#include "common/util.h"

/* ---------------------------------------------------------------- arena */

/* A bump allocator: many small allocations, one free.  Blocks are kept on
 * a list; pq_arena_free() releases them and the regexes registered with
 * pq_arena_own_matcher(). */
typedef struct pq_arena pq_arena;

pq_arena *pq_arena_new(void);
void pq_arena_free(pq_arena *a);
/* Zeroed, aligned for any type.  Aborts on exhaustion (like xmalloc). */
void *pq_alloc(pq_arena *a, size_t n);
char *pq_strndup(pq_arena *a, const char *s, size_t n);
/* Registers a matcher whose name/value/regex the arena frees with itself. */
void pq_arena_own_matcher(pq_arena *a, matcher *m);

/* ---------------------------------------------------------------- types */

typedef enum {
    PQ_TYPE_SCALAR,
    PQ_TYPE_VECTOR,   /* instant vector */
    PQ_TYPE_MATRIX,   /* range vector   */
    PQ_TYPE_STRING,
} pq_type;

/* "scalar", "instant vector", "range vector", "string": Prometheus's words
 * in error messages. */
const char *pq_type_name(pq_type t);

typedef struct { uint32_t start, end; } pq_pos;

typedef enum {
    PQ_NUMBER,        /* number literal                                     */
    PQ_STRING,        /* string literal                                     */
    PQ_SELECTOR,      /* vector selector; with range_ms > 0 a matrix one    */
    PQ_SUBQUERY,      /* expr[range:step]                                   */
    PQ_CALL,          /* function call                                      */
    PQ_AGGREGATE,     /* sum by (...) (...)                                 */
    PQ_BINARY,
    PQ_UNARY,         /* unary minus (unary plus is dropped by the parser)  */
    PQ_PAREN,
    PQ_STEP_INVARIANT,/* reserved for the evaluator's rewrites; never parsed */
} pq_kind;

typedef enum {
    /* arithmetic, by precedence: ^ binds tightest (right-associative), then
     * * / % atan2, then + -; then comparisons; then and/unless; then or. */
    PQ_OP_POW, PQ_OP_MUL, PQ_OP_DIV, PQ_OP_MOD, PQ_OP_ATAN2, PQ_OP_ADD, PQ_OP_SUB,
    PQ_OP_EQ, PQ_OP_NE, PQ_OP_GT, PQ_OP_LT, PQ_OP_GE, PQ_OP_LE,
    PQ_OP_AND, PQ_OP_UNLESS, PQ_OP_OR,
} pq_binop;

/* The operator as written ("+", "==", "and", "atan2"). */
const char *pq_binop_name(pq_binop op);
static inline int pq_binop_is_comparison(pq_binop op) { return op >= PQ_OP_EQ && op <= PQ_OP_LE; }
static inline int pq_binop_is_set(pq_binop op) { return op >= PQ_OP_AND; }

typedef enum {
    PQ_AGG_SUM, PQ_AGG_AVG, PQ_AGG_COUNT, PQ_AGG_MIN, PQ_AGG_MAX, PQ_AGG_GROUP,
    PQ_AGG_STDDEV, PQ_AGG_STDVAR, PQ_AGG_TOPK, PQ_AGG_BOTTOMK, PQ_AGG_QUANTILE,
    PQ_AGG_COUNT_VALUES,
} pq_aggop;

const char *pq_aggop_name(pq_aggop op);  /* "sum", "count_values", ... */
/* Whether the aggregation takes a parameter (topk, bottomk, quantile,
 * count_values). */
static inline int pq_aggop_has_param(pq_aggop op) { return op >= PQ_AGG_TOPK; }

/* A label-name list (by, without, on, ignoring, group_left(...)). */
typedef struct {
    const char **names;     /* NUL-terminated, arena-owned */
    size_t n;
} pq_labels;

/* Vector matching of a binary operator between two instant vectors. */
typedef enum { PQ_CARD_ONE_TO_ONE, PQ_CARD_MANY_TO_ONE, PQ_CARD_ONE_TO_MANY, PQ_CARD_MANY_TO_MANY } pq_card;

typedef struct {
    pq_card card;           /* many-to-many for and/or/unless               */
    int on;                 /* 1: on(labels); 0: ignoring(labels) or none   */
    int has_matching;       /* on(...) or ignoring(...) was written         */
    pq_labels matching;
    pq_labels include;      /* group_left(...) / group_right(...) labels    */
} pq_matching;

/* One PromQL function: its name, argument types and return type.  The
 * table (pq_functions) is the parser's and the evaluator's single source:
 * the evaluator indexes its implementations by pq_func.id. */
typedef struct {
    const char *name;
    int id;                 /* index in pq_functions                        */
    pq_type args[5];        /* declared argument types (label_replace: 5)   */
    int nargs;              /* declared count                               */
    int variadic;           /* 0: exactly nargs; -1: the last may be
                               repeated (label_join); k > 0: up to k of the
                               trailing args may be omitted                 */
    pq_type ret;
} pq_func;

extern const pq_func pq_functions[];
extern const size_t pq_nfunctions;
/* Finds a function by name; NULL when there is none. */
const pq_func *pq_func_lookup(const char *name, size_t len);

typedef struct pq_node pq_node;

struct pq_node {
    pq_kind kind;
    pq_type type;           /* the type this node evaluates to              */
    pq_pos pos;
    union {
        double number;                        /* PQ_NUMBER                 */
        struct { const char *s; size_t len; } string;   /* PQ_STRING      */
        struct {                              /* PQ_SELECTOR               */
            const char *name;                 /* metric name written before
                                                 the braces, or NULL         */
            matcher *matchers;                /* all matchers, the name as an
                                                 __name__ = matcher included */
            size_t nmatchers;
            int64_t range_ms;                 /* > 0: matrix selector [r]  */
            int64_t offset_ms;                /* offset (may be negative)  */
            int has_at;                       /* @ given                    */
            int at_kind;                      /* 0: timestamp, 1: start(), 2: end() */
            int64_t at_ms;                    /* @ timestamp when at_kind 0 */
        } sel;
        struct {                              /* PQ_SUBQUERY               */
            pq_node *expr;
            int64_t range_ms, step_ms;        /* step 0: the default        */
            int64_t offset_ms;
            int has_at, at_kind;
            int64_t at_ms;
        } subquery;
        struct {                              /* PQ_CALL                   */
            const pq_func *func;
            pq_node **args;
            size_t nargs;
        } call;
        struct {                              /* PQ_AGGREGATE              */
            pq_aggop op;
            pq_node *expr;
            pq_node *param;                   /* topk k, quantile q, ...; or NULL */
            int without;                      /* 1: without(...), 0: by(...) */
            int has_grouping;                 /* by/without was written     */
            pq_labels grouping;
        } agg;
        struct {                              /* PQ_BINARY                 */
            pq_binop op;
            pq_node *lhs, *rhs;
            int return_bool;                  /* comparison with bool       */
            pq_matching matching;             /* when both sides are vectors */
        } binary;
        struct {                              /* PQ_UNARY (minus)          */
            pq_node *expr;
        } unary;
        struct {                              /* PQ_PAREN                  */
            pq_node *expr;
        } paren;
    } u;
};

#endif
