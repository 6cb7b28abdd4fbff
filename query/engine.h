/*
 * engine.h - the PromQL evaluator: instant and range queries over a tsdb,
 * with Prometheus 2.x semantics (float samples).
 *
 * Design in one paragraph: every query is evaluated as a range query, an
 * instant query being a range of one step, as Prometheus's engine does.
 * Each node of the tree yields its value at every step at once: a scalar is
 * an array of step values, an instant vector a list of series each with an
 * array of step values (and which steps have one).  Selectors read each
 * series once for the whole range and step over its samples, so a range
 * query costs one read per series, not one per step.  Range-vector
 * arguments (a selector with [r], or a subquery) are kept as whole sample
 * arrays that the function slides a window over.  Everything a query
 * allocates comes from its arena, freed in one go by the caller.
 *
 * Limits: max_samples bounds the samples held at once (Prometheus's
 * --query.max-samples), timeout the evaluation time; both end the query
 * with a clear error instead of exhausting the machine.
 *
 * Ownership: the result and every string and label in it live in the arena
 * passed in; pq_arena_free() releases them.
 * Threads: a query runs on the calling thread; any number of threads may
 * run queries against one tsdb concurrently (each opens its own reader).
 */
#ifndef PROMLITE_QUERY_ENGINE_H
#define PROMLITE_QUERY_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "common/labels.h"
#include "common/util.h"
#include "query/ast.h"
#include "tsdb/tsdb.h"

typedef struct {
    int64_t lookback_ms;        /* --query.lookback-delta; 0 = 5m          */
    uint64_t max_samples;       /* --query.max-samples; 0 = 50,000,000     */
    double timeout_s;           /* --query.timeout; 0 = 120 s              */
    int64_t subquery_step_ms;   /* step of [r:] subqueries; 0 = 1m         */
} pq_options;

/* One series of a result: an instant vector has one point per series (at
 * the evaluation time), a matrix any number in time order. */
typedef struct {
    label *labels;              /* sorted by name                          */
    size_t nlabels;
    int64_t *t;
    double *v;
    size_t n;
} pq_series;

typedef struct {
    pq_type type;               /* PQ_TYPE_SCALAR, _VECTOR, _MATRIX, _STRING */
    int64_t t;                  /* evaluation time (instant queries)       */
    double scalar;              /* PQ_TYPE_SCALAR                          */
    const char *str;            /* PQ_TYPE_STRING                          */
    pq_series *series;          /* vector or matrix                        */
    size_t nseries;
} pq_result;

/* Parses and evaluates q at time t.  Returns 0 with *out filled, or -1 with
 * err set: a parse error as Prometheus words it ("1:5: parse error: ..."),
 * or an evaluation error.  A range-vector expression gives a matrix. */
int pq_query_instant(tsdb *db, const pq_options *opts, pq_arena *arena, const char *q, size_t len, int64_t t,
                     pq_result *out, errbuf *err);

/* Evaluates q at start, start+step, ... <= end.  The result is a matrix
 * sorted by label set (a scalar expression gives one series without
 * labels); series without points are left out. */
int pq_query_range(tsdb *db, const pq_options *opts, pq_arena *arena, const char *q, size_t len, int64_t start,
                   int64_t end, int64_t step, pq_result *out, errbuf *err);

/* Evaluates an already parsed tree (the conformance runner rewrites trees
 * before running them).  Same contract as above, for steps start..end. */
int pq_eval_tree(tsdb *db, const pq_options *opts, pq_arena *arena, pq_node *root, int64_t start, int64_t end,
                 int64_t step, int instant, pq_result *out, errbuf *err);

#endif
