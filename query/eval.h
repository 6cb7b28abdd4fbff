/*
 * eval.h - internals shared by the evaluator's files (engine.c: the tree
 * walk, selectors, operators and aggregations; functions.c: the function
 * library).  Not for use outside query/.
 *
 * Values during evaluation cover every step of the current range at once:
 *   scalar          sc[i] for step i
 *   instant vector  series, each with v[i] and has[i] for step i
 *   range vector    series with their raw samples; the consumer slides a
 *                   window over them (ev_window gives its bounds per step)
 * All memory comes from the query's arena.
 */
#ifndef PROMLITE_QUERY_EVAL_H
#define PROMLITE_QUERY_EVAL_H

#include "query/engine.h"

typedef struct {
    tsdb *db;
    tsdb_reader *reader;
    pq_arena *arena;
    pq_options opts;
    int64_t start, end, step;   /* this evaluation level's steps           */
    size_t nsteps;
    int64_t query_start, query_end;  /* for @ start() / end()             */
    uint64_t samples;           /* samples held now (for max_samples)      */
    double deadline;            /* mono_seconds() limit                    */
    errbuf *err;
    const char *query;          /* the text, for error positions           */
} ev_ctx;

typedef struct {
    label *l;
    size_t nl;
    double *v;                  /* nsteps values                           */
    uint8_t *has;               /* nsteps flags: a value at this step      */
    int64_t *ts;                /* selectors only: the sample's own time    */
} ev_vseries;

typedef struct {
    label *l;
    size_t nl;
    int64_t *t;                 /* may point into the reader's memory:     */
    double *v;                  /* read-only                               */
    size_t n;
} ev_mseries;

/* How a range vector's window moves with the steps. */
typedef struct {
    int64_t range_ms, offset_ms;
    int has_at;
    int64_t at_ms;
} ev_window;

typedef struct {
    pq_type type;
    double *sc;                 /* scalar: nsteps                          */
    ev_vseries *vs;             /* instant vector                          */
    size_t nvs;
    ev_mseries *ms;             /* range vector                            */
    size_t nms;
    ev_window win;              /* range vector                            */
    const char *str;            /* string                                  */
} ev_value;

/* Evaluates a node over the context's steps.  Returns 0, or -1 with
 * ctx->err set. */
int ev_eval(ev_ctx *c, pq_node *n, ev_value *out);
/* Evaluates a range-vector node (selector with range, subquery). */
/* newest > 0: the caller reads only the newest samples of each window
 * (see eval_matrix_selector); 0: all of them. */
int ev_eval_matrix(ev_ctx *c, pq_node *n, int newest, ev_value *out);

/* Step i's time. */
static inline int64_t ev_step_time(const ev_ctx *c, size_t i) { return c->start + (int64_t)i * c->step; }
/* The newest end of step i's window for a range vector (before the range). */
int64_t ev_window_end(const ev_ctx *c, const ev_window *w, size_t i);

/* Allocation and bookkeeping helpers. */
ev_vseries *ev_new_vseries(ev_ctx *c, size_t n);
void ev_alloc_steps(ev_ctx *c, ev_vseries *s);
int ev_charge(ev_ctx *c, uint64_t samples);   /* max_samples, timeout */
int ev_fail(ev_ctx *c, pq_pos pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Label helpers (results in the arena). */
label *ev_labels_copy(ev_ctx *c, const label *l, size_t n);
/* l without __name__; *nout set. */
label *ev_drop_name(ev_ctx *c, const label *l, size_t n, size_t *nout);
/* Sets (or with an empty value removes) one label, keeping the order. */
label *ev_set_label(ev_ctx *c, const label *l, size_t n, const char *name, size_t nlen, const char *value,
                    size_t vlen, size_t *nout);
const label *ev_get_label(const label *l, size_t n, const char *name, size_t nlen);
int ev_labels_cmp(const label *a, size_t na, const label *b, size_t nb);
/* Fails with "vector cannot contain metrics with the same labelset" when
 * two series of v have a value at the same step and equal labels. */
int ev_check_duplicates(ev_ctx *c, pq_pos pos, ev_value *v);

/* functions.c */
int ev_call(ev_ctx *c, pq_node *n, ev_value *out);

#endif
