/*
 * engine.c - the PromQL evaluator's core: the tree walk, selectors,
 * subqueries, unary and binary operators, vector matching, aggregations,
 * and the public entry points.  The function library is in functions.c.
 *
 * Every node is evaluated for all steps of its range at once (eval.h says
 * how values look).  Semantics follow Prometheus 2.x's engine:
 *  - an instant selector at step time T (after offset and @) takes, per
 *    series, the newest sample in [T - lookback, T]; a staleness marker
 *    there means "no value";
 *  - a range selector x[r] takes the samples in [T - r, T], staleness
 *    markers left out;
 *  - a subquery evaluates its expression at the multiples of its step that
 *    fall in [T - r, T] (aligned to absolute time, as Prometheus does);
 *  - arithmetic, bool comparisons, unary minus and functions drop the
 *    metric name; filters (comparisons without bool) and set operators
 *    keep it;
 *  - a result that would hold two series with the same labels at one step
 *    is an error ("vector cannot contain metrics with the same labelset").
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <xxhash.h>

#include "query/eval.h"
#include "query/parser.h"

#define DEFAULT_LOOKBACK_MS (5 * 60 * 1000)
#define DEFAULT_MAX_SAMPLES 50000000ULL
#define DEFAULT_TIMEOUT_S 120.0
#define DEFAULT_SUBQUERY_STEP_MS (60 * 1000)

/* ------------------------------------------------------------ helpers */

int ev_fail(ev_ctx *c, pq_pos pos, const char *fmt, ...) {
    (void)pos;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err->msg, sizeof c->err->msg, fmt, ap);
    va_end(ap);
    return -1;
}

int ev_charge(ev_ctx *c, uint64_t samples) {
    c->samples += samples;
    if (c->samples > c->opts.max_samples)
        return errf(c->err, "query processing would load too many samples into memory in query execution");
    if (mono_seconds() > c->deadline) return errf(c->err, "query timed out in query execution");
    return 0;
}

ev_vseries *ev_new_vseries(ev_ctx *c, size_t n) { return pq_alloc(c->arena, (n ? n : 1) * sizeof(ev_vseries)); }

void ev_alloc_steps(ev_ctx *c, ev_vseries *s) {
    s->v = pq_alloc(c->arena, c->nsteps * sizeof *s->v);
    s->has = pq_alloc(c->arena, c->nsteps);
}

label *ev_labels_copy(ev_ctx *c, const label *l, size_t n) {
    label *out = pq_alloc(c->arena, (n ? n : 1) * sizeof *out);
    memcpy(out, l, n * sizeof *out);
    return out;
}

const label *ev_get_label(const label *l, size_t n, const char *name, size_t nlen) {
    for (size_t i = 0; i < n; i++)
        if (l[i].name_len == nlen && !memcmp(l[i].name, name, nlen)) return &l[i];
    return NULL;
}

label *ev_drop_name(ev_ctx *c, const label *l, size_t n, size_t *nout) {
    return ev_set_label(c, l, n, METRIC_NAME_LABEL, 8, "", 0, nout);
}

label *ev_set_label(ev_ctx *c, const label *l, size_t n, const char *name, size_t nlen, const char *value,
                    size_t vlen, size_t *nout) {
    label *out = pq_alloc(c->arena, (n + 1) * sizeof *out);
    size_t k = 0;
    int placed = vlen == 0;
    for (size_t i = 0; i < n; i++) {
        int cmp = strncmp(l[i].name, name, l[i].name_len < nlen ? l[i].name_len : nlen);
        if (cmp == 0) cmp = (l[i].name_len > nlen) - (l[i].name_len < nlen);
        if (cmp == 0) continue; /* replaced or removed */
        if (cmp > 0 && !placed) {
            out[k++] = (label){pq_strndup(c->arena, name, nlen), (uint32_t)nlen, pq_strndup(c->arena, value, vlen),
                               (uint32_t)vlen};
            placed = 1;
        }
        out[k++] = l[i];
    }
    if (!placed)
        out[k++] = (label){pq_strndup(c->arena, name, nlen), (uint32_t)nlen, pq_strndup(c->arena, value, vlen),
                           (uint32_t)vlen};
    *nout = k;
    return out;
}

int ev_labels_cmp(const label *a, size_t na, const label *b, size_t nb) { return labels_compare(a, na, b, nb); }

/* Hash of a label set restricted by a name list (on: only those; not on:
 * all but those and __name__), and the encoded key for exact comparison. */
static int in_list(const pq_labels *list, const char *name, size_t nlen) {
    for (size_t i = 0; i < list->n; i++)
        if (strlen(list->names[i]) == nlen && !memcmp(list->names[i], name, nlen)) return 1;
    return 0;
}

static void signature(const label *l, size_t n, const pq_labels *list, int on, buf *out) {
    buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        int listed = in_list(list, l[i].name, l[i].name_len);
        if (on ? !listed : (listed || (l[i].name_len == 8 && !memcmp(l[i].name, METRIC_NAME_LABEL, 8)))) continue;
        uint8_t len[10];
        buf_append(out, len, varint_put(len, l[i].name_len));
        buf_append(out, l[i].name, l[i].name_len);
        buf_append(out, len, varint_put(len, l[i].value_len));
        buf_append(out, l[i].value, l[i].value_len);
    }
}

/* A small string-keyed hash map from a signature to an index. */
typedef struct {
    uint64_t *hash;
    char **key;
    size_t *klen;
    size_t *val;
    size_t cap, n;
} sigmap;

static void sigmap_init(ev_ctx *c, sigmap *m, size_t expect) {
    m->cap = 16;
    while (m->cap < expect * 2) m->cap *= 2;
    m->n = 0;
    m->hash = pq_alloc(c->arena, m->cap * sizeof *m->hash);
    m->key = pq_alloc(c->arena, m->cap * sizeof *m->key);
    m->klen = pq_alloc(c->arena, m->cap * sizeof *m->klen);
    m->val = pq_alloc(c->arena, m->cap * sizeof *m->val);
}

/* Finds key; when absent and insert is set, adds it with value v.
 * Returns the slot's value pointer, or NULL when absent (no insert). */
static size_t *sigmap_find(ev_ctx *c, sigmap *m, const void *key, size_t len, int insert, size_t v) {
    uint64_t h = XXH3_64bits(key, len);
    size_t i = (size_t)h & (m->cap - 1);
    while (m->key[i]) {
        if (m->hash[i] == h && m->klen[i] == len && !memcmp(m->key[i], key, len)) return &m->val[i];
        i = (i + 1) & (m->cap - 1);
    }
    if (!insert) return NULL;
    if ((m->n + 1) * 2 > m->cap) {
        sigmap old = *m;
        sigmap_init(c, m, old.cap);
        for (size_t k = 0; k < old.cap; k++)
            if (old.key[k]) sigmap_find(c, m, old.key[k], old.klen[k], 1, old.val[k]);
        return sigmap_find(c, m, key, len, 1, v);
    }
    m->hash[i] = h;
    m->key[i] = pq_strndup(c->arena, key, len);
    m->klen[i] = len;
    m->val[i] = v;
    m->n++;
    return &m->val[i];
}

static void labels_key(const label *l, size_t n, buf *out) {
    static const pq_labels none = {NULL, 0};
    buf_reset(out);
    (void)none;
    for (size_t i = 0; i < n; i++) {
        uint8_t len[10];
        buf_append(out, len, varint_put(len, l[i].name_len));
        buf_append(out, l[i].name, l[i].name_len);
        buf_append(out, len, varint_put(len, l[i].value_len));
        buf_append(out, l[i].value, l[i].value_len);
    }
}

int ev_check_duplicates(ev_ctx *c, pq_pos pos, ev_value *v) {
    if (v->type != PQ_TYPE_VECTOR || v->nvs < 2) return 0;
    sigmap m;
    sigmap_init(c, &m, v->nvs);
    buf key = {0};
    int rc = 0;
    for (size_t i = 0; i < v->nvs && !rc; i++) {
        labels_key(v->vs[i].l, v->vs[i].nl, &key);
        size_t *slot = sigmap_find(c, &m, key.data ? (const char *)key.data : "", key.len, 1, i);
        if (*slot == i) continue;
        /* Same labels: a conflict only where both have a value. */
        ev_vseries *a = &v->vs[*slot], *b = &v->vs[i];
        for (size_t s = 0; s < c->nsteps; s++) {
            if (a->has[s] && b->has[s]) {
                rc = ev_fail(c, pos, "vector cannot contain metrics with the same labelset");
                break;
            }
        }
        if (!rc) {
            /* Merge b into a so later duplicates are checked against both. */
            for (size_t s = 0; s < c->nsteps; s++)
                if (b->has[s]) {
                    a->has[s] = 1;
                    a->v[s] = b->v[s];
                }
            b->nl = (size_t)-1; /* mark merged */
        }
    }
    buf_free(&key);
    if (rc) return rc;
    size_t k = 0;
    for (size_t i = 0; i < v->nvs; i++)
        if (v->vs[i].nl != (size_t)-1) v->vs[k++] = v->vs[i];
    v->nvs = k;
    return 0;
}

/* The time a selector or subquery looks at for step i. */
static int64_t modified_time(const ev_ctx *c, size_t i, int has_at, int at_kind, int64_t at_ms, int64_t offset_ms) {
    int64_t t;
    if (!has_at) t = ev_step_time(c, i);
    else if (at_kind == 1) t = c->query_start;
    else if (at_kind == 2) t = c->query_end;
    else t = at_ms;
    return t - offset_ms;
}

int64_t ev_window_end(const ev_ctx *c, const ev_window *w, size_t i) {
    if (!w->has_at) return ev_step_time(c, i) - w->offset_ms;
    return w->at_ms - w->offset_ms;
}

static int is_stale(double v) {
    uint64_t b;
    memcpy(&b, &v, 8);
    return b == STALE_NAN_BITS;
}

/* ------------------------------------------------------------ selectors */

static int select_series(ev_ctx *c, pq_node *n, int64_t mint, int64_t maxt, const tsdb_series **out, size_t *count) {
    errbuf e;
    if (tsdb_select(c->reader, n->u.sel.matchers, n->u.sel.nmatchers, mint, maxt, out, count, &e))
        return errf(c->err, "%s", e.msg);
    return 0;
}

static int eval_vector_selector(ev_ctx *c, pq_node *n, ev_value *out) {
    int64_t lookback = c->opts.lookback_ms;
    int64_t t_first = modified_time(c, 0, n->u.sel.has_at, n->u.sel.at_kind, n->u.sel.at_ms, n->u.sel.offset_ms);
    int64_t t_last = modified_time(c, c->nsteps - 1, n->u.sel.has_at, n->u.sel.at_kind, n->u.sel.at_ms,
                                   n->u.sel.offset_ms);
    const tsdb_series *ss;
    size_t count;
    if (select_series(c, n, t_first - lookback, t_last, &ss, &count)) return -1;
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, count);
    out->nvs = 0;
    for (size_t k = 0; k < count; k++) {
        tsdb_samples smp;
        errbuf e;
        int64_t one_t;
        double one_v;
        if (c->nsteps == 1) {
            /* One step needs only the newest sample in the window. */
            int got = tsdb_read_last(c->reader, ss[k].ref, t_first - lookback, t_last, &one_t, &one_v, &e);
            if (got < 0) return errf(c->err, "%s", e.msg);
            if (!got) continue;
            smp.t = &one_t;
            smp.v = &one_v;
            smp.n = 1;
        } else {
            if (tsdb_read(c->reader, ss[k].ref, t_first - lookback, t_last, &smp, &e)) return errf(c->err, "%s", e.msg);
            if (smp.n == 0) continue;
        }
        ev_vseries *s = &out->vs[out->nvs];
        memset(s, 0, sizeof *s);
        ev_alloc_steps(c, s);
        s->ts = pq_alloc(c->arena, c->nsteps * sizeof *s->ts);
        size_t j = 0, points = 0;
        for (size_t i = 0; i < c->nsteps; i++) {
            int64_t t = modified_time(c, i, n->u.sel.has_at, n->u.sel.at_kind, n->u.sel.at_ms, n->u.sel.offset_ms);
            /* Newest sample at or before t: j only moves forward, as the
             * step times ascend (or stay put with @). */
            while (j + 1 < smp.n && smp.t[j + 1] <= t) j++;
            if (smp.t[j] > t || smp.t[j] < t - lookback || is_stale(smp.v[j])) continue;
            s->has[i] = 1;
            s->v[i] = smp.v[j];
            s->ts[i] = smp.t[j];
            points++;
        }
        if (!points) continue;
        if (ev_charge(c, points)) return -1;
        s->l = ev_labels_copy(c, ss[k].labels, ss[k].nlabels);
        s->nl = ss[k].nlabels;
        for (size_t i = 0; i < s->nl; i++) {
            s->l[i].name = pq_strndup(c->arena, s->l[i].name, s->l[i].name_len);
            s->l[i].value = pq_strndup(c->arena, s->l[i].value, s->l[i].value_len);
        }
        out->nvs++;
    }
    return 0;
}

/* Range selector: the samples of every window, stale markers left out.
 * newest > 0: the caller's window function reads only the newest samples
 * of a window (irate, idelta: 2), so a query of one step asks the storage
 * for just those, which the head answers without decoding the open chunk
 * (the cost of an instant irate was almost all that decoding).  The
 * samples not loaded are not counted against max_samples. */
static int eval_matrix_selector(ev_ctx *c, pq_node *n, int newest, ev_value *out) {
    ev_window w = {n->u.sel.range_ms, n->u.sel.offset_ms, n->u.sel.has_at, 0};
    if (n->u.sel.has_at)
        w.at_ms = n->u.sel.at_kind == 1 ? c->query_start : n->u.sel.at_kind == 2 ? c->query_end : n->u.sel.at_ms;
    int64_t maxt = ev_window_end(c, &w, c->nsteps - 1), mint = ev_window_end(c, &w, 0) - w.range_ms;
    const tsdb_series *ss;
    size_t count;
    if (select_series(c, n, mint, maxt, &ss, &count)) return -1;
    out->type = PQ_TYPE_MATRIX;
    out->win = w;
    out->ms = pq_alloc(c->arena, (count ? count : 1) * sizeof *out->ms);
    out->nms = 0;
    for (size_t k = 0; k < count; k++) {
        tsdb_samples smp;
        errbuf e;
        ev_mseries *m = &out->ms[out->nms];
        if (newest > 0 && c->nsteps == 1) {
            int64_t *tt = pq_alloc(c->arena, (size_t)newest * sizeof *tt);
            double *vv = pq_alloc(c->arena, (size_t)newest * sizeof *vv);
            int got = tsdb_read_newest(c->reader, ss[k].ref, mint, maxt, newest, tt, vv, &e);
            if (got < 0) return errf(c->err, "%s", e.msg);
            m->t = tt;
            m->v = vv;
            m->n = (size_t)got;
        } else if (tsdb_read(c->reader, ss[k].ref, mint, maxt, &smp, &e)) {
            return errf(c->err, "%s", e.msg);
        } else {
            size_t stale = 0;
            for (size_t j = 0; j < smp.n; j++) stale += is_stale(smp.v[j]);
            if (!stale) {
                /* The reader's arrays live as long as the query: no copy. */
                m->t = (int64_t *)smp.t;
                m->v = (double *)smp.v;
                m->n = smp.n;
            } else {
                m->t = pq_alloc(c->arena, (smp.n ? smp.n : 1) * sizeof *m->t);
                m->v = pq_alloc(c->arena, (smp.n ? smp.n : 1) * sizeof *m->v);
                m->n = 0;
                for (size_t j = 0; j < smp.n; j++) {
                    if (is_stale(smp.v[j])) continue;
                    m->t[m->n] = smp.t[j];
                    m->v[m->n] = smp.v[j];
                    m->n++;
                }
            }
        }
        if (!m->n) continue;
        if (ev_charge(c, m->n)) return -1;
        m->l = ev_labels_copy(c, ss[k].labels, ss[k].nlabels);
        m->nl = ss[k].nlabels;
        for (size_t i = 0; i < m->nl; i++) {
            m->l[i].name = pq_strndup(c->arena, m->l[i].name, m->l[i].name_len);
            m->l[i].value = pq_strndup(c->arena, m->l[i].value, m->l[i].value_len);
        }
        out->nms++;
    }
    return 0;
}

/* Subquery: the inner expression at the multiples of the step inside the
 * windows, as series of samples. */
static int eval_subquery(ev_ctx *c, pq_node *n, ev_value *out) {
    int64_t step = n->u.subquery.step_ms ? n->u.subquery.step_ms : c->opts.subquery_step_ms;
    ev_window w = {n->u.subquery.range_ms, n->u.subquery.offset_ms, n->u.subquery.has_at, 0};
    if (w.has_at)
        w.at_ms = n->u.subquery.at_kind == 1 ? c->query_start
                  : n->u.subquery.at_kind == 2 ? c->query_end : n->u.subquery.at_ms;
    int64_t first = ev_window_end(c, &w, 0) - w.range_ms, last = ev_window_end(c, &w, c->nsteps - 1);
    /* Aligned to absolute time, with Go's truncating division. */
    int64_t start = step * (first / step);
    if (start < first) start += step;
    out->type = PQ_TYPE_MATRIX;
    out->win = w;
    out->nms = 0;
    if (start > last) {
        out->ms = pq_alloc(c->arena, sizeof *out->ms);
        return 0;
    }
    ev_ctx inner = *c;
    inner.start = start;
    inner.end = last;
    inner.step = step;
    inner.nsteps = (size_t)((last - start) / step) + 1;
    ev_value v;
    if (ev_eval(&inner, n->u.subquery.expr, &v)) return -1;
    c->samples = inner.samples;
    if (v.type == PQ_TYPE_SCALAR) {
        out->ms = pq_alloc(c->arena, sizeof *out->ms);
        ev_mseries *m = &out->ms[0];
        m->t = pq_alloc(c->arena, inner.nsteps * sizeof *m->t);
        m->v = pq_alloc(c->arena, inner.nsteps * sizeof *m->v);
        for (size_t i = 0; i < inner.nsteps; i++) {
            m->t[i] = ev_step_time(&inner, i);
            m->v[i] = v.sc[i];
        }
        m->n = inner.nsteps;
        out->nms = 1;
        return 0;
    }
    out->ms = pq_alloc(c->arena, (v.nvs ? v.nvs : 1) * sizeof *out->ms);
    for (size_t k = 0; k < v.nvs; k++) {
        ev_vseries *s = &v.vs[k];
        size_t cnt = 0;
        for (size_t i = 0; i < inner.nsteps; i++) cnt += s->has[i];
        if (!cnt) continue;
        ev_mseries *m = &out->ms[out->nms++];
        m->l = s->l;
        m->nl = s->nl;
        m->t = pq_alloc(c->arena, cnt * sizeof *m->t);
        m->v = pq_alloc(c->arena, cnt * sizeof *m->v);
        m->n = 0;
        for (size_t i = 0; i < inner.nsteps; i++) {
            if (!s->has[i]) continue;
            m->t[m->n] = ev_step_time(&inner, i);
            m->v[m->n] = s->v[i];
            m->n++;
        }
    }
    return 0;
}

int ev_eval_matrix(ev_ctx *c, pq_node *n, int newest, ev_value *out) {
    while (n->kind == PQ_PAREN) n = n->u.paren.expr;
    if (n->kind == PQ_SELECTOR && n->u.sel.range_ms > 0) return eval_matrix_selector(c, n, newest, out);
    if (n->kind == PQ_SUBQUERY) return eval_subquery(c, n, out);
    return errf(c->err, "expected a range vector");
}

/* ------------------------------------------------------------ operators */

static double arith(pq_binop op, double a, double b, int *keep) {
    *keep = 1;
    switch (op) {
    case PQ_OP_ADD: return a + b;
    case PQ_OP_SUB: return a - b;
    case PQ_OP_MUL: return a * b;
    case PQ_OP_DIV: return a / b;
    case PQ_OP_MOD: return fmod(a, b);
    case PQ_OP_POW: return pow(a, b);
    case PQ_OP_ATAN2: return atan2(a, b);
    case PQ_OP_EQ: *keep = a == b; return a;
    case PQ_OP_NE: *keep = a != b; return a;
    case PQ_OP_GT: *keep = a > b; return a;
    case PQ_OP_LT: *keep = a < b; return a;
    case PQ_OP_GE: *keep = a >= b; return a;
    case PQ_OP_LE: *keep = a <= b; return a;
    default: *keep = 0; return 0;
    }
}

/* Whether the operator's result loses the metric name. */
static int drops_name(pq_binop op, int return_bool) {
    if (pq_binop_is_set(op)) return 0;
    if (pq_binop_is_comparison(op)) return return_bool;
    return 1;
}

static int eval_scalar_scalar(ev_ctx *c, pq_node *n, ev_value *l, ev_value *r, ev_value *out) {
    out->type = PQ_TYPE_SCALAR;
    out->sc = pq_alloc(c->arena, c->nsteps * sizeof *out->sc);
    for (size_t i = 0; i < c->nsteps; i++) {
        int keep;
        double v = arith(n->u.binary.op, l->sc[i], r->sc[i], &keep);
        out->sc[i] = pq_binop_is_comparison(n->u.binary.op) ? keep : v;
    }
    return 0;
}

/* vector op scalar, or scalar op vector (swap). */
static int eval_vector_scalar(ev_ctx *c, pq_node *n, ev_value *vec, ev_value *sc, int swap, ev_value *out) {
    pq_binop op = n->u.binary.op;
    int rb = n->u.binary.return_bool, dn = drops_name(op, rb);
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, vec->nvs);
    out->nvs = 0;
    for (size_t k = 0; k < vec->nvs; k++) {
        ev_vseries *s = &vec->vs[k], *o = &out->vs[out->nvs];
        memset(o, 0, sizeof *o);
        ev_alloc_steps(c, o);
        size_t pts = 0;
        for (size_t i = 0; i < c->nsteps; i++) {
            if (!s->has[i]) continue;
            double a = s->v[i], b = sc->sc[i];
            int keep;
            double v = swap ? arith(op, b, a, &keep) : arith(op, a, b, &keep);
            if (pq_binop_is_comparison(op)) {
                if (rb) {
                    v = keep;
                    keep = 1;
                } else {
                    v = a; /* the vector's value, whichever side it is on */
                }
            }
            if (!keep) continue;
            o->has[i] = 1;
            o->v[i] = v;
            pts++;
        }
        if (!pts) continue;
        if (dn) o->l = ev_drop_name(c, s->l, s->nl, &o->nl);
        else {
            o->l = s->l;
            o->nl = s->nl;
        }
        out->nvs++;
    }
    return ev_check_duplicates(c, n->pos, out);
}

/* The labels of the result of lhs op rhs under the matching, Prometheus's
 * resultMetric(): the many side's labels, the name dropped where the
 * operator drops it, reduced to the on() labels (one-to-one with on) or
 * without the ignoring() ones (one-to-one), plus group_x() labels taken
 * from the one side. */
static label *result_labels(ev_ctx *c, const pq_node *n, const ev_vseries *many, const ev_vseries *one, size_t *nout) {
    const pq_matching *m = &n->u.binary.matching;
    size_t nl = many->nl;
    label *l = ev_labels_copy(c, many->l, nl);
    if (drops_name(n->u.binary.op, n->u.binary.return_bool)) l = ev_drop_name(c, l, nl, &nl);
    if (m->card == PQ_CARD_ONE_TO_ONE && m->has_matching) {
        size_t k = 0;
        for (size_t i = 0; i < nl; i++) {
            int listed = in_list(&m->matching, l[i].name, l[i].name_len);
            if (m->on ? listed : !listed) l[k++] = l[i];
        }
        nl = k;
    }
    for (size_t i = 0; i < m->include.n; i++) {
        const char *name = m->include.names[i];
        size_t len = strlen(name);
        const label *v = ev_get_label(one->l, one->nl, name, len);
        l = ev_set_label(c, l, nl, name, len, v ? v->value : "", v ? v->value_len : 0, &nl);
    }
    *nout = nl;
    return l;
}

static int eval_set_op(ev_ctx *c, pq_node *n, ev_value *l, ev_value *r, ev_value *out) {
    const pq_matching *m = &n->u.binary.matching;
    pq_binop op = n->u.binary.op;
    buf sig = {0};
    /* Signatures once per series. */
    char **lsig = pq_alloc(c->arena, (l->nvs + 1) * sizeof *lsig), **rsig = pq_alloc(c->arena, (r->nvs + 1) * sizeof *rsig);
    size_t *llen = pq_alloc(c->arena, (l->nvs + 1) * sizeof *llen), *rlen = pq_alloc(c->arena, (r->nvs + 1) * sizeof *rlen);
    for (size_t k = 0; k < l->nvs; k++) {
        signature(l->vs[k].l, l->vs[k].nl, &m->matching, m->on, &sig);
        lsig[k] = pq_strndup(c->arena, sig.data ? (char *)sig.data : "", sig.len);
        llen[k] = sig.len;
    }
    for (size_t k = 0; k < r->nvs; k++) {
        signature(r->vs[k].l, r->vs[k].nl, &m->matching, m->on, &sig);
        rsig[k] = pq_strndup(c->arena, sig.data ? (char *)sig.data : "", sig.len);
        rlen[k] = sig.len;
    }
    buf_free(&sig);
    size_t nout = op == PQ_OP_OR ? l->nvs + r->nvs : l->nvs;
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, nout);
    out->nvs = 0;
    for (size_t k = 0; k < nout; k++) {
        ev_vseries *o = &out->vs[k];
        int from_r = k >= l->nvs;
        ev_vseries *s = from_r ? &r->vs[k - l->nvs] : &l->vs[k];
        o->l = s->l;
        o->nl = s->nl;
        ev_alloc_steps(c, o);
    }
    out->nvs = nout;
    for (size_t i = 0; i < c->nsteps; i++) {
        sigmap rs, ls;
        sigmap_init(c, &rs, r->nvs);
        for (size_t k = 0; k < r->nvs; k++)
            if (r->vs[k].has[i]) sigmap_find(c, &rs, rsig[k], rlen[k], 1, k);
        if (op == PQ_OP_OR) sigmap_init(c, &ls, l->nvs);
        for (size_t k = 0; k < l->nvs; k++) {
            if (!l->vs[k].has[i]) continue;
            int in_r = sigmap_find(c, &rs, lsig[k], llen[k], 0, 0) != NULL;
            int keep = op == PQ_OP_AND ? in_r : op == PQ_OP_UNLESS ? !in_r : 1;
            if (op == PQ_OP_OR) sigmap_find(c, &ls, lsig[k], llen[k], 1, k);
            if (!keep) continue;
            out->vs[k].has[i] = 1;
            out->vs[k].v[i] = l->vs[k].v[i];
        }
        if (op != PQ_OP_OR) continue;
        for (size_t k = 0; k < r->nvs; k++) {
            if (!r->vs[k].has[i] || sigmap_find(c, &ls, rsig[k], rlen[k], 0, 0)) continue;
            out->vs[l->nvs + k].has[i] = 1;
            out->vs[l->nvs + k].v[i] = r->vs[k].v[i];
        }
        if (mono_seconds() > c->deadline) return errf(c->err, "query timed out in query execution");
    }
    size_t k = 0;
    for (size_t j = 0; j < out->nvs; j++) {
        size_t any = 0;
        for (size_t i = 0; i < c->nsteps && !any; i++) any = out->vs[j].has[i];
        if (any) out->vs[k++] = out->vs[j];
    }
    out->nvs = k;
    return 0;
}

/* Formats a label set as Prometheus does in error messages: {a="b", c="d"}. */
static const char *labels_text(ev_ctx *c, const label *l, size_t n) {
    buf b = {0};
    buf_append(&b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_append(&b, ", ", 2);
        buf_printf(&b, "%.*s=\"%.*s\"", (int)l[i].name_len, l[i].name, (int)l[i].value_len, l[i].value);
    }
    buf_append(&b, "}", 1);
    const char *s = pq_strndup(c->arena, (const char *)b.data, b.len);
    buf_free(&b);
    return s;
}

/* The output series with labels l (its index in out->vs), created when it
 * is new: outs maps label keys to indices, *cap is out->vs's capacity. */
static size_t output_series(ev_ctx *c, ev_value *out, size_t *cap, sigmap *outs, label *l, size_t nl, buf *key) {
    labels_key(l, nl, key);
    size_t *slot = sigmap_find(c, outs, key->data ? (char *)key->data : "", key->len, 1, out->nvs);
    if (*slot == out->nvs) {
        if (out->nvs == *cap) {
            ev_vseries *nv = ev_new_vseries(c, *cap * 2);
            memcpy(nv, out->vs, *cap * sizeof *nv);
            out->vs = nv;
            *cap *= 2;
        }
        ev_vseries *o = &out->vs[out->nvs++];
        memset(o, 0, sizeof *o);
        o->l = l;
        o->nl = nl;
        ev_alloc_steps(c, o);
    }
    return *slot;
}

/* Vector matching for arithmetic and comparisons.  Signatures are hashed
 * once per series, not once per step: the series of both sides are put
 * into groups by signature up front, and each step then only checks which
 * group members have a value there (a group with two on the "one" side at
 * one step is Prometheus's many-to-many error).  The output series of a
 * (many, one) pair is looked up by its labels once and then cached on the
 * many-side series, since pairs rarely change from step to step. */
static int eval_vector_vector(ev_ctx *c, pq_node *n, ev_value *l, ev_value *r, ev_value *out) {
    const pq_matching *m = &n->u.binary.matching;
    if (pq_binop_is_set(n->u.binary.op)) return eval_set_op(c, n, l, r, out);
    pq_binop op = n->u.binary.op;
    int rb = n->u.binary.return_bool;
    /* The "many" side is the left unless group_right. */
    int swapped = m->card == PQ_CARD_ONE_TO_MANY;
    ev_value *many = swapped ? r : l, *one = swapped ? l : r;
    buf sig = {0};
    sigmap groups;
    sigmap_init(c, &groups, one->nvs);
    size_t ngroups = 0;
    size_t *one_group = pq_alloc(c->arena, (one->nvs + 1) * sizeof *one_group);
    size_t *many_group = pq_alloc(c->arena, (many->nvs + 1) * sizeof *many_group);
    for (size_t k = 0; k < one->nvs; k++) {
        signature(one->vs[k].l, one->vs[k].nl, &m->matching, m->on, &sig);
        size_t *slot = sigmap_find(c, &groups, sig.data ? (char *)sig.data : "", sig.len, 1, ngroups);
        if (*slot == ngroups) ngroups++;
        one_group[k] = *slot;
    }
    for (size_t k = 0; k < many->nvs; k++) {
        signature(many->vs[k].l, many->vs[k].nl, &m->matching, m->on, &sig);
        size_t *slot = sigmap_find(c, &groups, sig.data ? (char *)sig.data : "", sig.len, 0, 0);
        many_group[k] = slot ? *slot : SIZE_MAX;
    }
    /* Per group: the step it last had a one-side value at (+1), which
     * series that was, and (one-to-one) the step a many-side series last
     * matched it. */
    size_t *one_mark = pq_alloc(c->arena, (ngroups + 1) * sizeof *one_mark);
    size_t *one_at = pq_alloc(c->arena, (ngroups + 1) * sizeof *one_at);
    size_t *many_mark = pq_alloc(c->arena, (ngroups + 1) * sizeof *many_mark);
    size_t *cache_one = pq_alloc(c->arena, (many->nvs + 1) * sizeof *cache_one);
    size_t *cache_out = pq_alloc(c->arena, (many->nvs + 1) * sizeof *cache_out);
    for (size_t k = 0; k < many->nvs; k++) cache_one[k] = SIZE_MAX;
    sigmap outs;
    sigmap_init(c, &outs, many->nvs);
    size_t cap = many->nvs + 1;
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, cap);
    out->nvs = 0;
    int rc = 0;
    for (size_t i = 0; i < c->nsteps && !rc; i++) {
        for (size_t k = 0; k < one->nvs; k++) {
            if (!one->vs[k].has[i]) continue;
            size_t g = one_group[k];
            if (one_mark[g] == i + 1) {
                size_t prev = one_at[g];
                rc = ev_fail(c, n->pos,
                             "found duplicate series for the match group %s on the %s hand-side of the operation: "
                             "[%s, %s];many-to-many matching not allowed: matching labels must be unique on one side",
                             labels_text(c, NULL, 0), swapped ? "left" : "right",
                             labels_text(c, one->vs[prev].l, one->vs[prev].nl),
                             labels_text(c, one->vs[k].l, one->vs[k].nl));
                break;
            }
            one_mark[g] = i + 1;
            one_at[g] = k;
        }
        if (rc) break;
        for (size_t k = 0; k < many->nvs; k++) {
            size_t g = many_group[k];
            if (!many->vs[k].has[i] || g == SIZE_MAX || one_mark[g] != i + 1) continue;
            if (m->card == PQ_CARD_ONE_TO_ONE) {
                if (many_mark[g] == i + 1) {
                    rc = ev_fail(c, n->pos,
                                 "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)");
                    break;
                }
                many_mark[g] = i + 1;
            }
            size_t o = one_at[g];
            ev_vseries *ms = &many->vs[k], *os_ = &one->vs[o];
            double a = ms->v[i], b = os_->v[i];
            if (swapped) {
                double t = a;
                a = b;
                b = t;
            }
            int keep;
            double v = arith(op, a, b, &keep);
            if (pq_binop_is_comparison(op)) {
                if (rb) {
                    v = keep;
                    keep = 1;
                } else {
                    v = a;
                }
            }
            if (!keep) continue;
            size_t idx;
            if (cache_one[k] == o) {
                idx = cache_out[k];
            } else {
                size_t nl;
                label *rl = result_labels(c, n, ms, os_, &nl);
                idx = output_series(c, out, &cap, &outs, rl, nl, &sig);
                cache_one[k] = o;
                cache_out[k] = idx;
            }
            ev_vseries *dst = &out->vs[idx];
            if (dst->has[i]) {
                rc = ev_fail(c, n->pos, "multiple matches for labels: grouping labels must ensure unique matches");
                break;
            }
            dst->has[i] = 1;
            dst->v[i] = v;
        }
        if (!rc && (i & 63) == 63 && mono_seconds() > c->deadline)
            rc = errf(c->err, "query timed out in query execution");
    }
    buf_free(&sig);
    return rc;
}

static int eval_binary(ev_ctx *c, pq_node *n, ev_value *out) {
    ev_value l, r;
    if (ev_eval(c, n->u.binary.lhs, &l) || ev_eval(c, n->u.binary.rhs, &r)) return -1;
    if (l.type == PQ_TYPE_SCALAR && r.type == PQ_TYPE_SCALAR) return eval_scalar_scalar(c, n, &l, &r, out);
    if (l.type == PQ_TYPE_VECTOR && r.type == PQ_TYPE_SCALAR) return eval_vector_scalar(c, n, &l, &r, 0, out);
    if (l.type == PQ_TYPE_SCALAR && r.type == PQ_TYPE_VECTOR) return eval_vector_scalar(c, n, &r, &l, 1, out);
    return eval_vector_vector(c, n, &l, &r, out);
}

static int eval_unary(ev_ctx *c, pq_node *n, ev_value *out) {
    ev_value v;
    if (ev_eval(c, n->u.unary.expr, &v)) return -1;
    *out = v;
    if (v.type == PQ_TYPE_SCALAR) {
        out->sc = pq_alloc(c->arena, c->nsteps * sizeof *out->sc);
        for (size_t i = 0; i < c->nsteps; i++) out->sc[i] = -v.sc[i];
        return 0;
    }
    out->vs = ev_new_vseries(c, v.nvs);
    for (size_t k = 0; k < v.nvs; k++) {
        ev_vseries *s = &v.vs[k], *o = &out->vs[k];
        memset(o, 0, sizeof *o);
        ev_alloc_steps(c, o);
        for (size_t i = 0; i < c->nsteps; i++) {
            o->has[i] = s->has[i];
            o->v[i] = -s->v[i];
        }
        o->l = ev_drop_name(c, s->l, s->nl, &o->nl);
    }
    return ev_check_duplicates(c, n->pos, out);
}

/* ------------------------------------------------------------ aggregation */

/* The grouping labels of a series: by (only those) or without (all but
 * those and the name). */
static label *group_labels(ev_ctx *c, const pq_node *n, const ev_vseries *s, size_t *nout) {
    label *l = pq_alloc(c->arena, (s->nl ? s->nl : 1) * sizeof *l);
    size_t k = 0;
    for (size_t i = 0; i < s->nl; i++) {
        int listed = in_list(&n->u.agg.grouping, s->l[i].name, s->l[i].name_len);
        int is_name = s->l[i].name_len == 8 && !memcmp(s->l[i].name, METRIC_NAME_LABEL, 8);
        if (n->u.agg.without ? (listed || is_name) : !listed) continue;
        l[k++] = s->l[i];
    }
    *nout = k;
    return l;
}

/* Ascending, NaN first (Prometheus's vectorByValueHeap order). */
static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    if (isnan(x)) return isnan(y) ? 0 : -1;
    if (isnan(y)) return 1;
    return x < y ? -1 : x > y;
}

/* Prometheus's quantile over a sorted-to-be list (rank interpolation). */
double ev_quantile(double q, double *v, size_t n);
double ev_quantile(double q, double *v, size_t n) {
    if (n == 0) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    if (isnan(q)) return NAN;
    qsort(v, n, sizeof *v, cmp_double);
    double rank = q * (double)(n - 1);
    double lower = fmax(0, floor(rank)), upper = fmin((double)(n - 1), lower + 1);
    double w = rank - floor(rank);
    return v[(size_t)lower] * (1 - w) + v[(size_t)upper] * w;
}

static int eval_topk(ev_ctx *c, pq_node *n, ev_value *in, double *kparam, size_t *grp, size_t ngroups, ev_value *out) {
    int bottom = n->u.agg.op == PQ_AGG_BOTTOMK;
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, in->nvs);
    out->nvs = in->nvs;
    for (size_t k = 0; k < in->nvs; k++) {
        memset(&out->vs[k], 0, sizeof out->vs[k]);
        out->vs[k].l = in->vs[k].l;
        out->vs[k].nl = in->vs[k].nl;
        ev_alloc_steps(c, &out->vs[k]);
    }
    size_t *cand = pq_alloc(c->arena, (in->nvs + 1) * sizeof *cand);
    for (size_t i = 0; i < c->nsteps; i++) {
        double kf = kparam[i];
        if (isnan(kf) || kf < 1) continue;
        size_t kk = kf > (double)in->nvs ? in->nvs : (size_t)kf;
        for (size_t g = 0; g < ngroups; g++) {
            /* Selection by repeated extraction: k is small in practice. */
            size_t nc = 0;
            for (size_t s = 0; s < in->nvs; s++)
                if (grp[s] == g && in->vs[s].has[i]) cand[nc++] = s;
            for (size_t pick = 0; pick < kk && nc; pick++) {
                size_t best = 0;
                for (size_t x = 1; x < nc; x++) {
                    double a = in->vs[cand[x]].v[i], b = in->vs[cand[best]].v[i];
                    /* NaN ranks last in both directions. */
                    int better = bottom ? (a < b || (isnan(b) && !isnan(a))) : (a > b || (isnan(b) && !isnan(a)));
                    if (better) best = x;
                }
                size_t s = cand[best];
                out->vs[s].has[i] = 1;
                out->vs[s].v[i] = in->vs[s].v[i];
                /* Keep the candidates in input order: on ties the earlier
                 * series wins, as with Prometheus's heap. */
                memmove(&cand[best], &cand[best + 1], (nc - best - 1) * sizeof *cand);
                nc--;
            }
        }
    }
    size_t k = 0;
    size_t *kept_grp = pq_alloc(c->arena, (out->nvs + 1) * sizeof *kept_grp);
    for (size_t j = 0; j < out->nvs; j++) {
        size_t any = 0;
        for (size_t i = 0; i < c->nsteps && !any; i++) any = out->vs[j].has[i];
        if (any) {
            kept_grp[k] = grp[j];
            out->vs[k++] = out->vs[j];
        }
    }
    out->nvs = k;
    /* An instant result lists each group's picks best first, groups in the
     * order they first appeared, as Prometheus does (insertion sort: the
     * result holds k series per group). */
    if (c->nsteps == 1) {
        for (size_t i = 1; i < out->nvs; i++) {
            ev_vseries x = out->vs[i];
            size_t xg = kept_grp[i], j = i;
            for (; j > 0; j--) {
                size_t pg = kept_grp[j - 1];
                double pv = out->vs[j - 1].v[0], xv = x.v[0];
                int before = xg < pg || (xg == pg && (bottom ? (xv < pv || (isnan(pv) && !isnan(xv)))
                                                              : (xv > pv || (isnan(pv) && !isnan(xv)))));
                if (!before) break;
                out->vs[j] = out->vs[j - 1];
                kept_grp[j] = kept_grp[j - 1];
            }
            out->vs[j] = x;
            kept_grp[j] = xg;
        }
    }
    return 0;
}

/* A value as Go's strconv.FormatFloat(v, 'f', -1, 64) writes it, which is
 * how count_values names its label values: the fewest digits that read
 * back to the same float, never in exponent form ("1000000", "0.0001"). */
static const char *format_float_plain(ev_ctx *c, double v) {
    char tmp[64];
    if (!isfinite(v)) return pq_strndup(c->arena, format_float(v, tmp), strlen(format_float(v, tmp)));
    int p = 1;
    for (; p <= 17; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p - 1, v);
        if (strtod(tmp, NULL) == v) break;
    }
    /* tmp is [-]d.ddde[+-]XX: collect the digits and the exponent. */
    char digits[32];
    size_t nd = 0;
    const char *q = tmp;
    int neg = *q == '-';
    if (neg) q++;
    for (; *q && *q != 'e'; q++)
        if (*q != '.') digits[nd++] = *q;
    int exp10 = atoi(q + 1);
    while (nd > 1 && digits[nd - 1] == '0') nd--;
    size_t cap = (size_t)abs(exp10) + nd + 8;
    char *out = pq_alloc(c->arena, cap);
    size_t k = 0;
    if (neg) out[k++] = '-';
    if (exp10 < 0) {
        out[k++] = '0';
        out[k++] = '.';
        for (int z = 0; z < -exp10 - 1; z++) out[k++] = '0';
        for (size_t d = 0; d < nd; d++) out[k++] = digits[d];
    } else {
        for (int d = 0; d <= exp10; d++) out[k++] = (size_t)d < nd ? digits[d] : '0';
        if ((size_t)exp10 + 1 < nd) {
            out[k++] = '.';
            for (size_t d = (size_t)exp10 + 1; d < nd; d++) out[k++] = digits[d];
        }
    }
    out[k] = 0;
    if (v == 0) return neg ? "-0" : "0";
    return out;
}

static int eval_count_values(ev_ctx *c, pq_node *n, ev_value *in, const char *lname, size_t *grp, label **gl,
                             size_t *gnl, ev_value *out) {
    (void)n;
    sigmap m;
    sigmap_init(c, &m, in->nvs);
    size_t cap = in->nvs + 1;
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, cap);
    out->nvs = 0;
    buf key = {0};
    size_t lnlen = strlen(lname);
    for (size_t i = 0; i < c->nsteps; i++) {
        for (size_t s = 0; s < in->nvs; s++) {
            if (!in->vs[s].has[i]) continue;
            const char *vtext = format_float_plain(c, in->vs[s].v[i]);
            size_t nl;
            label *l = ev_set_label(c, gl[grp[s]], gnl[grp[s]], lname, lnlen, vtext, strlen(vtext), &nl);
            size_t idx = output_series(c, out, &cap, &m, l, nl, &key); /* may move out->vs */
            ev_vseries *o = &out->vs[idx];
            o->has[i] = 1;
            o->v[i] += 1;
        }
    }
    buf_free(&key);
    return 0;
}

/* quantile: per step, the values of each group. */
static int eval_quantile_steps(ev_ctx *c, ev_value *in, const size_t *grp, size_t ngroups, const double *q,
                               ev_value *out) {
    double **qv = pq_alloc(c->arena, (ngroups + 1) * sizeof *qv);
    size_t *qn = pq_alloc(c->arena, (ngroups + 1) * sizeof *qn);
    size_t *members = pq_alloc(c->arena, (ngroups + 1) * sizeof *members);
    for (size_t s = 0; s < in->nvs; s++) members[grp[s]]++;
    for (size_t g = 0; g < ngroups; g++) qv[g] = pq_alloc(c->arena, (members[g] + 1) * sizeof(double));
    for (size_t i = 0; i < c->nsteps; i++) {
        memset(qn, 0, ngroups * sizeof *qn);
        for (size_t s = 0; s < in->nvs; s++)
            if (in->vs[s].has[i]) qv[grp[s]][qn[grp[s]]++] = in->vs[s].v[i];
        for (size_t g = 0; g < ngroups; g++) {
            if (!qn[g]) continue;
            out->vs[g].has[i] = 1;
            out->vs[g].v[i] = ev_quantile(q[i], qv[g], qn[g]);
        }
        if (mono_seconds() > c->deadline) return errf(c->err, "query timed out in query execution");
    }
    return 0;
}

/* The other aggregations, accumulated series by series (each series' step
 * array is then read in order, which is what makes wide range queries
 * fast); per step the series still come in input order, so every result
 * is bit for bit what a step-by-step loop gives.  Accumulators follow
 * Prometheus 2.53: Kahan-Neumaier sums, incremental means, Welford's
 * variance. */
static int accumulate_series_major(ev_ctx *c, pq_aggop op, ev_value *in, const size_t *grp, size_t ngroups,
                                   ev_value *out) {
    size_t ns = c->nsteps;
    double *comp = op == PQ_AGG_SUM ? pq_alloc(c->arena, ngroups * ns * sizeof *comp) : NULL;
    double *m2 = op == PQ_AGG_STDDEV || op == PQ_AGG_STDVAR ? pq_alloc(c->arena, ngroups * ns * sizeof *m2) : NULL;
    uint32_t *cnt = op == PQ_AGG_AVG || m2 ? pq_alloc(c->arena, ngroups * ns * sizeof *cnt) : NULL;
    for (size_t s = 0; s < in->nvs; s++) {
        size_t g = grp[s], base = g * ns;
        ev_vseries *src = &in->vs[s], *o = &out->vs[g];
        for (size_t i = 0; i < ns; i++) {
            if (!src->has[i]) continue;
            double v = src->v[i];
            int first = !o->has[i];
            o->has[i] = 1;
            switch (op) {
            case PQ_AGG_SUM:
                if (first) o->v[i] = v;
                else {
                    double t = o->v[i] + v;
                    if (isinf(t)) comp[base + i] = 0;
                    else if (fabs(o->v[i]) >= fabs(v)) comp[base + i] += (o->v[i] - t) + v;
                    else comp[base + i] += (v - t) + o->v[i];
                    o->v[i] = t;
                }
                break;
            case PQ_AGG_AVG: {
                double k1 = (double)++cnt[base + i];
                double mean = o->v[i];
                if (first) o->v[i] = v;
                else if (isinf(mean)) {
                    if (isinf(v) && (mean > 0) != (v > 0)) o->v[i] = NAN;
                    else if (isnan(v)) o->v[i] = NAN;
                } else {
                    o->v[i] = mean + (v / k1 - mean / k1);
                }
                break;
            }
            case PQ_AGG_COUNT: o->v[i] = first ? 1 : o->v[i] + 1; break;
            case PQ_AGG_GROUP: o->v[i] = 1; break;
            case PQ_AGG_MIN:
                if (first || o->v[i] > v || isnan(o->v[i])) o->v[i] = v;
                break;
            case PQ_AGG_MAX:
                if (first || o->v[i] < v || isnan(o->v[i])) o->v[i] = v;
                break;
            case PQ_AGG_STDDEV:
            case PQ_AGG_STDVAR: {
                double k1 = (double)++cnt[base + i];
                if (first) {
                    o->v[i] = v;
                    m2[base + i] = 0;
                } else {
                    double d = v - o->v[i];
                    o->v[i] += d / k1;
                    m2[base + i] += d * (v - o->v[i]);
                }
                break;
            }
            default: break;
            }
        }
        if ((s & 255) == 255 && mono_seconds() > c->deadline)
            return errf(c->err, "query timed out in query execution");
    }
    for (size_t g = 0; g < ngroups; g++) {
        ev_vseries *o = &out->vs[g];
        size_t base = g * ns;
        for (size_t i = 0; i < ns; i++) {
            if (!o->has[i]) continue;
            if (op == PQ_AGG_SUM && !isinf(o->v[i])) o->v[i] += comp[base + i];
            else if (op == PQ_AGG_STDVAR) o->v[i] = m2[base + i] / cnt[base + i];
            else if (op == PQ_AGG_STDDEV) o->v[i] = sqrt(m2[base + i] / cnt[base + i]);
        }
    }
    return 0;
}

static int eval_aggregate(ev_ctx *c, pq_node *n, ev_value *out) {
    ev_value in, param = {0};
    if (ev_eval(c, n->u.agg.expr, &in)) return -1;
    if (n->u.agg.param && ev_eval(c, n->u.agg.param, &param)) return -1;
    pq_aggop op = n->u.agg.op;
    /* Groups. */
    size_t *grp = pq_alloc(c->arena, (in.nvs + 1) * sizeof *grp);
    label **gl = pq_alloc(c->arena, (in.nvs + 1) * sizeof *gl);
    size_t *gnl = pq_alloc(c->arena, (in.nvs + 1) * sizeof *gnl);
    size_t ngroups = 0;
    sigmap gm;
    sigmap_init(c, &gm, in.nvs);
    buf key = {0};
    for (size_t s = 0; s < in.nvs; s++) {
        size_t nl;
        label *l = group_labels(c, n, &in.vs[s], &nl);
        labels_key(l, nl, &key);
        size_t *slot = sigmap_find(c, &gm, key.data ? (char *)key.data : "", key.len, 1, ngroups);
        if (*slot == ngroups) {
            gl[ngroups] = l;
            gnl[ngroups] = nl;
            ngroups++;
        }
        grp[s] = *slot;
    }
    buf_free(&key);
    if (op == PQ_AGG_TOPK || op == PQ_AGG_BOTTOMK) return eval_topk(c, n, &in, param.sc, grp, ngroups, out);
    if (op == PQ_AGG_COUNT_VALUES) {
        const char *lname = param.str;
        if (!label_name_valid(lname, strlen(lname))) return errf(c->err, "invalid label name \"%s\"", lname);
        return eval_count_values(c, n, &in, lname, grp, gl, gnl, out);
    }
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, ngroups);
    out->nvs = ngroups;
    for (size_t g = 0; g < ngroups; g++) {
        memset(&out->vs[g], 0, sizeof out->vs[g]);
        out->vs[g].l = gl[g];
        out->vs[g].nl = gnl[g];
        ev_alloc_steps(c, &out->vs[g]);
    }
    if (op == PQ_AGG_QUANTILE) {
        if (eval_quantile_steps(c, &in, grp, ngroups, param.sc, out)) return -1;
    } else if (accumulate_series_major(c, op, &in, grp, ngroups, out)) {
        return -1;
    }
    size_t k = 0;
    for (size_t g = 0; g < out->nvs; g++) {
        size_t any = 0;
        for (size_t i = 0; i < c->nsteps && !any; i++) any = out->vs[g].has[i];
        if (any) out->vs[k++] = out->vs[g];
    }
    out->nvs = k;
    return 0;
}

/* ------------------------------------------------------------ dispatch */

int ev_eval(ev_ctx *c, pq_node *n, ev_value *out) {
    memset(out, 0, sizeof *out);
    if (mono_seconds() > c->deadline) return errf(c->err, "query timed out in query execution");
    switch (n->kind) {
    case PQ_NUMBER:
        out->type = PQ_TYPE_SCALAR;
        out->sc = pq_alloc(c->arena, c->nsteps * sizeof *out->sc);
        for (size_t i = 0; i < c->nsteps; i++) out->sc[i] = n->u.number;
        return 0;
    case PQ_STRING:
        out->type = PQ_TYPE_STRING;
        out->str = n->u.string.s;
        return 0;
    case PQ_PAREN: return ev_eval(c, n->u.paren.expr, out);
    case PQ_UNARY: return eval_unary(c, n, out);
    case PQ_SELECTOR:
        if (n->u.sel.range_ms > 0) return eval_matrix_selector(c, n, 0, out);
        return eval_vector_selector(c, n, out);
    case PQ_SUBQUERY: return eval_subquery(c, n, out);
    case PQ_CALL: return ev_call(c, n, out);
    case PQ_AGGREGATE: return eval_aggregate(c, n, out);
    case PQ_BINARY: return eval_binary(c, n, out);
    default: return errf(c->err, "unsupported expression");
    }
}

/* ------------------------------------------------------------ entry points */

static int cmp_pq_series(const void *a, const void *b) {
    const pq_series *x = a, *y = b;
    return ev_labels_cmp(x->labels, x->nlabels, y->labels, y->nlabels);
}

int pq_eval_tree(tsdb *db, const pq_options *opts, pq_arena *arena, pq_node *root, int64_t start, int64_t end,
                 int64_t step, int instant, pq_result *out, errbuf *err) {
    memset(out, 0, sizeof *out);
    if (!instant && (root->type == PQ_TYPE_MATRIX || root->type == PQ_TYPE_STRING))
        return errf(err, "invalid expression type \"%s\" for range query, must be Scalar or instant Vector",
                    pq_type_name(root->type));
    if (step <= 0) return errf(err, "zero or negative query resolution step widths are not accepted. Try a positive integer");
    if (end < start) return errf(err, "end timestamp must not be before start time");
    ev_ctx c = {0};
    c.db = db;
    c.arena = arena;
    c.opts = opts ? *opts : (pq_options){0};
    if (!c.opts.lookback_ms) c.opts.lookback_ms = DEFAULT_LOOKBACK_MS;
    if (!c.opts.max_samples) c.opts.max_samples = DEFAULT_MAX_SAMPLES;
    if (c.opts.timeout_s <= 0) c.opts.timeout_s = DEFAULT_TIMEOUT_S;
    if (!c.opts.subquery_step_ms) c.opts.subquery_step_ms = DEFAULT_SUBQUERY_STEP_MS;
    c.start = start;
    c.end = end;
    c.step = step;
    c.nsteps = (size_t)((end - start) / step) + 1;
    c.query_start = start;
    c.query_end = end;
    c.deadline = mono_seconds() + c.opts.timeout_s;
    c.err = err;
    if (tsdb_reader_open(db, &c.reader, err)) return -1;
    ev_value v;
    int rc = ev_eval(&c, root, &v);
    if (rc) goto done;
    out->t = start;
    out->type = v.type;
    switch (v.type) {
    case PQ_TYPE_STRING: out->str = v.str; break;
    case PQ_TYPE_SCALAR:
        if (instant) {
            out->scalar = v.sc[0];
            break;
        }
        out->type = PQ_TYPE_MATRIX;
        out->series = pq_alloc(arena, sizeof *out->series);
        out->nseries = 1;
        out->series[0].t = pq_alloc(arena, c.nsteps * sizeof(int64_t));
        out->series[0].v = pq_alloc(arena, c.nsteps * sizeof(double));
        for (size_t i = 0; i < c.nsteps; i++) {
            out->series[0].t[i] = ev_step_time(&c, i);
            out->series[0].v[i] = v.sc[i];
        }
        out->series[0].n = c.nsteps;
        break;
    case PQ_TYPE_VECTOR:
        out->type = instant ? PQ_TYPE_VECTOR : PQ_TYPE_MATRIX;
        out->series = pq_alloc(arena, (v.nvs ? v.nvs : 1) * sizeof *out->series);
        for (size_t k = 0; k < v.nvs; k++) {
            ev_vseries *s = &v.vs[k];
            size_t cnt = 0;
            for (size_t i = 0; i < c.nsteps; i++) cnt += s->has[i];
            if (!cnt) continue;
            pq_series *o = &out->series[out->nseries++];
            o->labels = s->l;
            o->nlabels = s->nl;
            o->t = pq_alloc(arena, cnt * sizeof *o->t);
            o->v = pq_alloc(arena, cnt * sizeof *o->v);
            for (size_t i = 0; i < c.nsteps; i++) {
                if (!s->has[i]) continue;
                o->t[o->n] = ev_step_time(&c, i);
                o->v[o->n] = s->v[i];
                o->n++;
            }
        }
        if (!instant) qsort(out->series, out->nseries, sizeof *out->series, cmp_pq_series);
        break;
    case PQ_TYPE_MATRIX:
        out->series = pq_alloc(arena, (v.nms ? v.nms : 1) * sizeof *out->series);
        for (size_t k = 0; k < v.nms; k++) {
            ev_mseries *m = &v.ms[k];
            int64_t hi = ev_window_end(&c, &v.win, 0), lo = hi - v.win.range_ms;
            pq_series *o = &out->series[out->nseries];
            o->labels = m->l;
            o->nlabels = m->nl;
            o->t = pq_alloc(arena, (m->n ? m->n : 1) * sizeof *o->t);
            o->v = pq_alloc(arena, (m->n ? m->n : 1) * sizeof *o->v);
            for (size_t j = 0; j < m->n; j++) {
                if (m->t[j] < lo || m->t[j] > hi) continue;
                o->t[o->n] = m->t[j];
                o->v[o->n] = m->v[j];
                o->n++;
            }
            if (o->n) out->nseries++;
        }
        qsort(out->series, out->nseries, sizeof *out->series, cmp_pq_series);
        break;
    }
done:
    tsdb_reader_close(c.reader);
    return rc;
}

int pq_query_instant(tsdb *db, const pq_options *opts, pq_arena *arena, const char *q, size_t len, int64_t t,
                     pq_result *out, errbuf *err) {
    pq_node *root = pq_parse(arena, q, len, err);
    if (!root) return -1;
    return pq_eval_tree(db, opts, arena, root, t, t, 1, 1, out, err);
}

int pq_query_range(tsdb *db, const pq_options *opts, pq_arena *arena, const char *q, size_t len, int64_t start,
                   int64_t end, int64_t step, pq_result *out, errbuf *err) {
    pq_node *root = pq_parse(arena, q, len, err);
    if (!root) return -1;
    return pq_eval_tree(db, opts, arena, root, start, end, step, 0, out, err);
}
