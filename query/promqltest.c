/*
 * promqltest.c - runs PromQL conformance scripts against the storage and
 * query engines (see promqltest.h).
 *
 * The runner is deliberately end to end: `load` goes through the appender
 * into a real data folder, queries go through the parser and evaluator and
 * read back through the storage readers, so a case that passes here passes
 * in the server.  Comparison follows FORMAT.md section 5: label sets must
 * match exactly, values within the harness's tolerance, order only for
 * eval_ordered, and range results must come sorted by label set.
 *
 * Every instant case also gets the Go harness's two extra checks (FORMAT.md
 * section 6): the same expression as a range query around t must agree at
 * t, and with every selector pinned to t by @ it must agree at other
 * evaluation times.
 */
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "query/engine.h"
#include "query/parser.h"
#include "query/promqltest.h"
#include "query/promqltest_script.h"
#include "tsdb/tsdb.h"

typedef struct {
    tsdb *db;
    char dir[4200];
} store;

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void store_close(store *s) {
    if (s->db) {
        errbuf e;
        tsdb_close(s->db, &e);
        s->db = NULL;
    }
    if (s->dir[0]) nftw(s->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    s->dir[0] = 0;
}

/* A fresh, empty data folder inside scratch. */
static int store_open(store *s, const char *scratch, errbuf *err) {
    if (mkdir(scratch, 0755) && errno != EEXIST) return errf(err, "cannot create %s: %s", scratch, strerror(errno));
    snprintf(s->dir, sizeof s->dir, "%s/promqltest-XXXXXX", scratch);
    if (!mkdtemp(s->dir)) {
        s->dir[0] = 0;
        return errf(err, "cannot create a folder in %s: %s", scratch, strerror(errno));
    }
    tsdb_options o = {.path = s->dir};
    if (tsdb_open(&o, &s->db, err)) {
        s->db = NULL;
        return -1;
    }
    return 0;
}

static int load(store *s, const pt_cmd *c, errbuf *err) {
    tsdb_appender *a = tsdb_appender_new(s->db);
    int rc = 0;
    for (size_t k = 0; k < c->nseries && !rc; k++) {
        const pt_series *ser = &c->series[k];
        /* A later line for the same series replaces an earlier one in the
         * same load block, as in Prometheus's harness (a map by series). */
        int replaced = 0;
        for (size_t j = k + 1; j < c->nseries && !replaced; j++)
            replaced = labels_compare(ser->labels, ser->nlabels, c->series[j].labels, c->series[j].nlabels) == 0;
        if (replaced) continue;
        label l[256];
        size_t n = ser->nlabels < 256 ? ser->nlabels : 256;
        memcpy(l, ser->labels, n * sizeof *l);
        tsdb_ref ref;
        if (tsdb_appender_ref(a, l, n, &ref, err)) {
            rc = -1;
            break;
        }
        for (size_t i = 0; i < ser->nentries; i++) {
            int64_t t = (int64_t)i * c->interval_ms;
            if (ser->entries[i].kind == PT_VALUE) {
                tsdb_appender_add(a, ref, t, ser->entries[i].v);
            } else if (ser->entries[i].kind == PT_STALE) {
                uint64_t bits = STALE_NAN_BITS;
                double v;
                memcpy(&v, &bits, 8);
                tsdb_appender_add(a, ref, t, v);
            }
        }
    }
    if (!rc) rc = tsdb_appender_commit(a, NULL, err);
    tsdb_appender_free(a);
    return rc;
}

static void format_labels(buf *b, const label *l, size_t n) {
    buf_append(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_append(b, ", ", 2);
        buf_printf(b, "%.*s=\"%.*s\"", (int)l[i].name_len, l[i].name, (int)l[i].value_len, l[i].value);
    }
    buf_append(b, "}", 1);
}

static int labels_equal(const label *a, size_t na, const label *b, size_t nb) {
    if (na != nb) return 0;
    for (size_t i = 0; i < na; i++)
        if (a[i].name_len != b[i].name_len || a[i].value_len != b[i].value_len ||
            memcmp(a[i].name, b[i].name, a[i].name_len) || memcmp(a[i].value, b[i].value, a[i].value_len))
            return 0;
    return 1;
}

static void format_result(buf *b, const pq_result *r) {
    char f[FLOAT_TEXT_MAX];
    switch (r->type) {
    case PQ_TYPE_SCALAR: buf_printf(b, "scalar %s", format_float(r->scalar, f)); return;
    case PQ_TYPE_STRING: buf_printf(b, "string \"%s\"", r->str); return;
    default: break;
    }
    buf_printf(b, "%s of %zu series", r->type == PQ_TYPE_VECTOR ? "vector" : "matrix", r->nseries);
    for (size_t k = 0; k < r->nseries && k < 20; k++) {
        buf_append(b, "\n      ", 7);
        format_labels(b, r->series[k].labels, r->series[k].nlabels);
        for (size_t i = 0; i < r->series[k].n && i < 30; i++)
            buf_printf(b, " %s@%lld", format_float(r->series[k].v[i], f), (long long)r->series[k].t[i] / 1000);
    }
    if (r->nseries > 20) buf_printf(b, "\n      ...");
}

static void format_expected(buf *b, const pt_cmd *c) {
    char f[FLOAT_TEXT_MAX];
    if (c->expect_scalar) {
        buf_printf(b, "scalar %s", format_float(c->scalar, f));
        return;
    }
    buf_printf(b, "%zu series", c->nseries);
    for (size_t k = 0; k < c->nseries && k < 20; k++) {
        buf_append(b, "\n      ", 7);
        format_labels(b, c->series[k].labels, c->series[k].nlabels);
        for (size_t i = 0; i < c->series[k].nentries && i < 30; i++) {
            const pt_entry *e = &c->series[k].entries[i];
            buf_printf(b, " %s", e->kind == PT_OMITTED ? "_" : e->kind == PT_STALE ? "stale" : format_float(e->v, f));
        }
    }
}

/* Compares a result with the expectation; returns 1 when they agree, else
 * 0 with the reason in why. */
static int compare(const pt_cmd *c, const pq_result *r, buf *why) {
    if (c->expect_scalar) {
        if (r->type != PQ_TYPE_SCALAR) {
            buf_printf(why, "expected a scalar");
            return 0;
        }
        if (!pt_almost_equal(r->scalar, c->scalar)) {
            buf_printf(why, "wrong scalar value");
            return 0;
        }
        return 1;
    }
    pq_type want = c->range ? PQ_TYPE_MATRIX : PQ_TYPE_VECTOR;
    if (r->type != want) {
        buf_printf(why, "expected a %s", c->range ? "matrix" : "vector");
        return 0;
    }
    if (c->range) {
        for (size_t k = 1; k < r->nseries; k++) {
            const pq_series *x = &r->series[k - 1], *y = &r->series[k];
            if (labels_compare(x->labels, x->nlabels, y->labels, y->nlabels) > 0) {
                buf_printf(why, "the matrix is not sorted by labels");
                return 0;
            }
        }
    }
    size_t matched = 0;
    for (size_t k = 0; k < r->nseries; k++) {
        const pq_series *s = &r->series[k];
        size_t e = 0;
        for (; e < c->nseries; e++)
            if (labels_equal(s->labels, s->nlabels, c->series[e].labels, c->series[e].nlabels)) break;
        if (e == c->nseries) {
            buf_printf(why, "unexpected series ");
            format_labels(why, s->labels, s->nlabels);
            return 0;
        }
        matched++;
        const pt_series *ex = &c->series[e];
        if (c->ordered && e != k) {
            buf_printf(why, "series ");
            format_labels(why, s->labels, s->nlabels);
            buf_printf(why, " is at position %zu, expected at %zu", k + 1, e + 1);
            return 0;
        }
        if (!c->range) {
            if (!pt_almost_equal(s->v[0], ex->entries[0].v)) {
                buf_printf(why, "wrong value for ");
                format_labels(why, s->labels, s->nlabels);
                return 0;
            }
            continue;
        }
        size_t p = 0;
        for (size_t i = 0; i < ex->nentries; i++) {
            if (ex->entries[i].kind == PT_OMITTED) continue;
            int64_t t = c->start_ms + (int64_t)i * c->step_ms;
            if (p >= s->n || s->t[p] != t || !pt_almost_equal(s->v[p], ex->entries[i].v)) {
                buf_printf(why, "wrong points for ");
                format_labels(why, s->labels, s->nlabels);
                return 0;
            }
            p++;
        }
        if (p != s->n) {
            buf_printf(why, "extra points for ");
            format_labels(why, s->labels, s->nlabels);
            return 0;
        }
    }
    if (matched != c->nseries) {
        buf_printf(why, "%zu expected series missing", c->nseries - matched);
        return 0;
    }
    return 1;
}

/* Range-mode consistency (FORMAT.md 6.1): the instant case's expression,
 * run as a range query from t-1m to t+1m at 1m, must succeed, and its
 * points at t must meet the same expectation. */
static int check_range_mode(store *s, const pt_cmd *c, pq_node *root, pq_arena *a, buf *why) {
    pq_options o = {.max_samples = 10000, .lookback_ms = 5 * 60 * 1000, .subquery_step_ms = 60 * 1000};
    pq_result r;
    errbuf e;
    if (pq_eval_tree(s->db, &o, a, root, c->at_ms - 60000, c->at_ms + 60000, 60000, 0, &r, &e)) {
        buf_printf(why, "as a range query (t-1m to t+1m, step 1m): unexpected error: %s", e.msg);
        return 0;
    }
    /* The points at t, as an instant result. */
    pq_result at = {.type = c->expect_scalar ? PQ_TYPE_SCALAR : PQ_TYPE_VECTOR, .t = c->at_ms};
    at.series = pq_alloc(a, (r.nseries + 1) * sizeof *at.series);
    int found_scalar = 0;
    for (size_t k = 0; k < r.nseries; k++) {
        for (size_t i = 0; i < r.series[k].n; i++) {
            if (r.series[k].t[i] != c->at_ms) continue;
            if (c->expect_scalar) {
                at.scalar = r.series[k].v[i];
                found_scalar = 1;
                continue;
            }
            pq_series *p = &at.series[at.nseries++];
            *p = r.series[k];
            p->t = &r.series[k].t[i];
            p->v = &r.series[k].v[i];
            p->n = 1;
        }
    }
    pt_cmd instant = *c;
    instant.ordered = 0; /* a range result is ordered by labels */
    if (c->expect_scalar && !found_scalar) {
        buf_printf(why, "as a range query: no point at t");
        return 0;
    }
    size_t mark = why->len;
    if (compare(&instant, &at, why)) return 1;
    buf tail = {0};
    buf_append(&tail, why->data + mark, why->len - mark);
    why->len = mark;
    buf_printf(why, "as a range query (t-1m to t+1m, step 1m): %.*s", (int)tail.len, (char *)tail.data);
    buf_free(&tail);
    return 0;
}

/* Whether the tree calls a function whose value depends on the evaluation
 * time, which @ pinning would change (FORMAT.md 6.2). */
static int uses_time(const pq_node *n) {
    if (!n) return 0;
    static const char *const timefns[] = {"time", "timestamp", "minute", "hour", "day_of_month", "day_of_week",
                                          "day_of_year", "days_in_month", "month", "year", "predict_linear"};
    switch (n->kind) {
    case PQ_CALL:
        for (size_t i = 0; i < sizeof timefns / sizeof timefns[0]; i++)
            if (!strcmp(n->u.call.func->name, timefns[i])) return 1;
        for (size_t i = 0; i < n->u.call.nargs; i++)
            if (uses_time(n->u.call.args[i])) return 1;
        return 0;
    case PQ_AGGREGATE: return uses_time(n->u.agg.expr) || uses_time(n->u.agg.param);
    case PQ_BINARY: return uses_time(n->u.binary.lhs) || uses_time(n->u.binary.rhs);
    case PQ_UNARY: return uses_time(n->u.unary.expr);
    case PQ_PAREN: return uses_time(n->u.paren.expr);
    case PQ_SUBQUERY: return uses_time(n->u.subquery.expr);
    default: return 0;
    }
}

/* Adds @ t to every selector and outermost subquery that has none; the
 * inside of subqueries is left alone. */
static void pin_at(pq_node *n, int64_t t) {
    switch (n->kind) {
    case PQ_SELECTOR:
        if (!n->u.sel.has_at) {
            n->u.sel.has_at = 1;
            n->u.sel.at_kind = 0;
            n->u.sel.at_ms = t;
        }
        break;
    case PQ_SUBQUERY:
        if (!n->u.subquery.has_at) {
            n->u.subquery.has_at = 1;
            n->u.subquery.at_kind = 0;
            n->u.subquery.at_ms = t;
        }
        break;
    case PQ_CALL:
        for (size_t i = 0; i < n->u.call.nargs; i++) pin_at(n->u.call.args[i], t);
        break;
    case PQ_AGGREGATE:
        pin_at(n->u.agg.expr, t);
        if (n->u.agg.param) pin_at(n->u.agg.param, t);
        break;
    case PQ_BINARY:
        pin_at(n->u.binary.lhs, t);
        pin_at(n->u.binary.rhs, t);
        break;
    case PQ_UNARY: pin_at(n->u.unary.expr, t); break;
    case PQ_PAREN: pin_at(n->u.paren.expr, t); break;
    default: break;
    }
}

/* @ pinning (FORMAT.md 6.2): with every selector pinned to t, the query
 * must give the same answer (or fail) at -10t, 0, t/5, t and 10t. */
static int check_at_pinning(store *s, const pt_cmd *c, pq_arena *a, buf *why) {
    errbuf e;
    pq_node *root = pq_parse(a, c->expr, strlen(c->expr), &e);
    if (!root || uses_time(root)) return 1;
    pin_at(root, c->at_ms);
    int64_t t = c->at_ms;
    int64_t times[5] = {-10 * t, 0, t / 5, t, 10 * t};
    size_t ntimes = 5;
    if (t == 0) {
        times[0] = -1000;
        times[1] = 0;
        times[2] = 1000;
        ntimes = 3;
    }
    pq_options o = {.max_samples = 10000, .lookback_ms = 5 * 60 * 1000, .subquery_step_ms = 60 * 1000};
    for (size_t k = 0; k < ntimes; k++) {
        pq_result r;
        int rc = pq_eval_tree(s->db, &o, a, root, times[k], times[k], 1, 1, &r, &e);
        if (c->expect_fail) {
            if (rc == 0) {
                buf_printf(why, "pinned with @ %lld and run at %lld ms: expected an error, got none", (long long)t,
                           (long long)times[k]);
                return 0;
            }
            continue;
        }
        if (rc) {
            buf_printf(why, "pinned with @ %lld and run at %lld ms: unexpected error: %s", (long long)t,
                       (long long)times[k], e.msg);
            return 0;
        }
        size_t mark = why->len;
        if (!compare(c, &r, why)) {
            buf tail = {0};
            buf_append(&tail, why->data + mark, why->len - mark);
            why->len = mark;
            buf_printf(why, "pinned with @ %lld and run at %lld ms: %.*s", (long long)t, (long long)times[k],
                       (int)tail.len, (char *)tail.data);
            buf_free(&tail);
            return 0;
        }
    }
    return 1;
}

static void run_eval(store *s, const char *path, const pt_cmd *c, FILE *report, pt_counts *counts) {
    pq_arena *a = pq_arena_new();
    errbuf e;
    buf why = {0};
    int ok = 0;
    pq_node *root = pq_parse(a, c->expr, strlen(c->expr), &e);
    pq_result r;
    if (!root) {
        buf_printf(&why, "cannot parse: %s", e.msg);
    } else {
        pq_options o = {.max_samples = 10000, .lookback_ms = 5 * 60 * 1000, .subquery_step_ms = 60 * 1000};
        int64_t start = c->range ? c->start_ms : c->at_ms, end = c->range ? c->end_ms : c->at_ms;
        int64_t step = c->range ? c->step_ms : 1;
        int rc = pq_eval_tree(s->db, &o, a, root, start, end, step, !c->range, &r, &e);
        if (c->expect_fail) {
            ok = rc != 0;
            if (!ok) buf_printf(&why, "expected an error, got none");
        } else if (rc) {
            buf_printf(&why, "unexpected error: %s", e.msg);
        } else {
            ok = compare(c, &r, &why);
            if (!ok) {
                buf_printf(&why, "\n    expected: ");
                format_expected(&why, c);
                buf_printf(&why, "\n    got:      ");
                format_result(&why, &r);
            }
        }
        if (ok && !c->range && !c->expect_fail) ok = check_range_mode(s, c, root, a, &why);
        if (ok && !c->range) ok = check_at_pinning(s, c, a, &why);
    }
    if (ok) {
        counts->passed++;
    } else {
        counts->failed++;
        fprintf(report, "%s:%d: %s%s %s\n    %.*s\n", path, c->line,
                c->expect_fail ? "eval_fail " : c->ordered ? "eval_ordered " : "eval ", c->range ? "range" : "instant",
                c->expr, (int)why.len, why.data ? (char *)why.data : "");
    }
    buf_free(&why);
    pq_arena_free(a);
}

int pt_run_file(const char *path, const char *scratch, FILE *report, pt_counts *counts, errbuf *err) {
    pt_script sc;
    if (pt_script_read(path, &sc, err)) return -1;
    store s = {0};
    int rc = store_open(&s, scratch, err);
    for (size_t i = 0; i < sc.ncmds && !rc; i++) {
        const pt_cmd *c = &sc.cmds[i];
        switch (c->kind) {
        case PT_CLEAR:
            store_close(&s);
            rc = store_open(&s, scratch, err);
            break;
        case PT_LOAD:
            if (load(&s, c, err)) {
                errbuf why = *err;
                rc = errf(err, "%s:%d: load: %.400s", path, c->line, why.msg);
            }
            break;
        case PT_EVAL: run_eval(&s, path, c, report, counts); break;
        }
    }
    store_close(&s);
    pt_script_free(&sc);
    return rc;
}
