/*
 * functions.c - the PromQL function library (Prometheus 2.53 on floats).
 *
 * Functions come in a few shapes, each with one driver here:
 *  - element-wise on an instant vector (abs, ceil, clamp, the date
 *    functions, ...): map every value, drop the metric name;
 *  - over a range vector (rate, *_over_time, deriv, ...): for every step
 *    the driver finds the window [T - r, T] of each series' samples with
 *    two indices that only move forward, and calls the function on it;
 *  - the rest (absent, scalar, vector, time, timestamp, label_replace,
 *    label_join, sort, histogram_quantile, ...) are written out.
 * Numerical details (extrapolation of rate, Kahan summation in the
 * *_over_time functions, the bucket interpolation of histogram_quantile)
 * follow Prometheus's promql/functions.go and quantile.go so that results
 * agree to the last bits where Prometheus's tests check them.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "query/eval.h"

double ev_quantile(double q, double *v, size_t n);

static int fname_is(const pq_node *n, const char *name) { return strcmp(n->u.call.func->name, name) == 0; }

/* ------------------------------------------------------------ numerics */

/* Kahan-Babuska-Neumaier step, as Prometheus's kahanSumInc. */
static double kahan_inc(double inc, double sum, double *c) {
    double t = sum + inc;
    if (isinf(t)) *c = 0;
    else if (fabs(sum) >= fabs(inc)) *c += (sum - t) + inc;
    else *c += (inc - t) + sum;
    return t;
}

/* Prometheus's extrapolatedRate (v2.53): the increase over the window,
 * extrapolated towards its edges by at most half an average sample
 * interval, or all the way to the start when the gap there is under 1.1
 * intervals, then cut off where a counter would have been zero. */
static int extrapolated_rate(const int64_t *t, const double *v, size_t n, int64_t range_start, int64_t range_end,
                             int is_counter, int is_rate, int may_reset, double *out) {
    if (n < 2) return 0;
    double result = v[n - 1] - v[0];
    if (is_counter && may_reset) {
        double last = v[0];
        for (size_t i = 1; i < n; i++) {
            if (v[i] < last) result += last;
            last = v[i];
        }
    }
    double duration_to_start = (double)(t[0] - range_start) / 1000.0;
    double duration_to_end = (double)(range_end - t[n - 1]) / 1000.0;
    double sampled_interval = (double)(t[n - 1] - t[0]) / 1000.0;
    double avg_duration_between = sampled_interval / (double)(n - 1);
    double extrapolation_threshold = avg_duration_between * 1.1;
    double extrapolate_to_interval = sampled_interval;
    if (duration_to_start >= extrapolation_threshold) duration_to_start = avg_duration_between / 2;
    if (is_counter && result > 0 && v[0] >= 0) {
        double duration_to_zero = sampled_interval * (v[0] / result);
        if (duration_to_zero < duration_to_start) duration_to_start = duration_to_zero;
    }
    extrapolate_to_interval += duration_to_start;
    if (duration_to_end >= extrapolation_threshold) duration_to_end = avg_duration_between / 2;
    extrapolate_to_interval += duration_to_end;
    double factor = extrapolate_to_interval / sampled_interval;
    if (is_rate) factor /= (double)(range_end - range_start) / 1000.0;
    *out = result * factor;
    return 1;
}

/* Least-squares slope and intercept of (t - intercept_time, v). */
static void linear_regression(const int64_t *t, const double *v, size_t n, int64_t intercept_time, double *slope,
                              double *intercept) {
    double sum_x = 0, cx = 0, sum_y = 0, cy = 0, sum_xy = 0, cxy = 0, sum_x2 = 0, cx2 = 0;
    int const_y = 1;
    double init_y = v[0];
    for (size_t i = 0; i < n; i++) {
        if (const_y && i > 0 && v[i] != init_y) const_y = 0;
        double x = (double)(t[i] - intercept_time) / 1e3;
        sum_x = kahan_inc(x, sum_x, &cx);
        sum_y = kahan_inc(v[i], sum_y, &cy);
        sum_xy = kahan_inc(x * v[i], sum_xy, &cxy);
        sum_x2 = kahan_inc(x * x, sum_x2, &cx2);
    }
    if (const_y) {
        if (isinf(init_y)) {
            *slope = NAN;
            *intercept = NAN;
        } else {
            *slope = 0;
            *intercept = init_y;
        }
        return;
    }
    sum_x += cx;
    sum_y += cy;
    sum_xy += cxy;
    sum_x2 += cx2;
    double nf = (double)n;
    double cov_xy = sum_xy - sum_x * sum_y / nf;
    double var_x = sum_x2 - sum_x * sum_x / nf;
    *slope = cov_xy / var_x;
    *intercept = sum_y / nf - *slope * sum_x / nf;
}

/* ------------------------------------------------------------ range functions */

typedef struct {
    const pq_node *call;
    ev_ctx *c;
    double scalar_arg;          /* quantile, predict_linear duration, ...  */
    double scalar_arg2;
    int64_t t;                  /* the window's end                        */
    int64_t step_t;             /* the evaluation time of the step         */
    int may_reset;              /* the window may hold a counter reset     */
    int64_t range_ms;
} win_ctx;

/* Computes one window; returns 1 with *out set, or 0 for "no value". */
typedef int (*window_fn)(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out);

static int fn_rate(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    return extrapolated_rate(t, v, n, w->t - w->range_ms, w->t, 1, 1, w->may_reset, out);
}
static int fn_increase(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    return extrapolated_rate(t, v, n, w->t - w->range_ms, w->t, 1, 0, w->may_reset, out);
}
static int fn_delta(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    return extrapolated_rate(t, v, n, w->t - w->range_ms, w->t, 0, 0, 0, out);
}

/* irate/idelta: the last two samples. */
static int instant_value(const int64_t *t, const double *v, size_t n, int is_rate, double *out) {
    if (n < 2) return 0;
    double last = v[n - 1], prev = v[n - 2], r;
    if (is_rate && last < prev) r = last; /* counter reset */
    else r = last - prev;
    int64_t dt = t[n - 1] - t[n - 2];
    if (is_rate) {
        if (dt == 0) return 0;
        r /= (double)dt / 1000.0;
    }
    *out = r;
    return 1;
}
static int fn_irate(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    return instant_value(t, v, n, 1, out);
}
static int fn_idelta(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    return instant_value(t, v, n, 0, out);
}

static int fn_deriv(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    if (n < 2) return 0;
    double slope, icpt;
    linear_regression(t, v, n, t[0], &slope, &icpt);
    *out = slope;
    return 1;
}

static int fn_predict_linear(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    if (n < 2) return 0;
    double slope, icpt;
    /* Prometheus takes the intercept at the evaluation time, not at the
     * window's end (they differ with offset and @). */
    linear_regression(t, v, n, w->step_t, &slope, &icpt);
    *out = slope * w->scalar_arg + icpt;
    return 1;
}

static int fn_holt_winters(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)t;
    double sf = w->scalar_arg, tf = w->scalar_arg2;
    if (n < 2) return 0;
    double s0 = 0, s1 = v[0], b = v[1] - v[0];
    for (size_t i = 1; i < n; i++) {
        double x = sf * v[i];
        if (i > 1) b = tf * (s1 - s0) + (1 - tf) * b;
        double y = (1 - sf) * (s1 + b);
        s0 = s1;
        s1 = x + y;
    }
    *out = s1;
    return 1;
}

static int fn_resets(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    (void)t;
    if (n == 0) return 0;
    double r = 0, prev = v[0];
    for (size_t i = 1; i < n; i++) {
        if (v[i] < prev) r++;
        prev = v[i];
    }
    *out = r;
    return 1;
}

static int fn_changes(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    (void)t;
    if (n == 0) return 0;
    double r = 0, prev = v[0];
    for (size_t i = 1; i < n; i++) {
        if (v[i] != prev && !(isnan(v[i]) && isnan(prev))) r++;
        prev = v[i];
    }
    *out = r;
    return 1;
}

static int fn_avg_over_time(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    (void)t;
    if (n == 0) return 0;
    double mean = 0, c = 0, count = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        if (isinf(mean)) {
            if (isinf(v[i]) && (mean > 0) == (v[i] > 0)) continue;
            if (!isinf(v[i]) && !isnan(v[i])) continue;
        }
        mean = kahan_inc(v[i] / count - mean / count, mean, &c);
    }
    *out = isinf(mean) ? mean : mean + c;
    return 1;
}

static int fn_sum_over_time(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    (void)t;
    if (n == 0) return 0;
    double sum = 0, c = 0;
    for (size_t i = 0; i < n; i++) sum = kahan_inc(v[i], sum, &c);
    *out = isinf(sum) ? sum : sum + c;
    return 1;
}

static int fn_count_over_time(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    (void)t;
    (void)v;
    if (n == 0) return 0;
    *out = (double)n;
    return 1;
}

static int fn_min_over_time(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    (void)t;
    if (n == 0) return 0;
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        if (v[i] < m || isnan(m)) m = v[i];
    *out = m;
    return 1;
}

static int fn_max_over_time(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    (void)t;
    if (n == 0) return 0;
    double m = v[0];
    for (size_t i = 1; i < n; i++)
        if (v[i] > m || isnan(m)) m = v[i];
    *out = m;
    return 1;
}

static int fn_last_over_time(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    (void)t;
    if (n == 0) return 0;
    *out = v[n - 1];
    return 1;
}

static int fn_present_over_time(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    (void)t;
    (void)v;
    if (n == 0) return 0;
    *out = 1;
    return 1;
}

static int fn_quantile_over_time(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)t;
    if (n == 0) return 0;
    double *copy = pq_alloc(w->c->arena, n * sizeof *copy);
    memcpy(copy, v, n * sizeof *copy);
    *out = ev_quantile(w->scalar_arg, copy, n);
    return 1;
}

static int stdvar_window(const double *v, size_t n, double *out) {
    double count = 0, mean = 0, cmean = 0, aux = 0, caux = 0;
    for (size_t i = 0; i < n; i++) {
        count++;
        double delta = v[i] - (mean + cmean);
        mean = kahan_inc(delta / count, mean, &cmean);
        aux = kahan_inc(delta * (v[i] - (mean + cmean)), aux, &caux);
    }
    *out = (aux + caux) / count;
    return 1;
}

static int fn_stdvar_over_time(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    (void)t;
    if (n == 0) return 0;
    return stdvar_window(v, n, out);
}

static int fn_stddev_over_time(win_ctx *w, const int64_t *t, const double *v, size_t n, double *out) {
    (void)w;
    (void)t;
    if (n == 0) return 0;
    stdvar_window(v, n, out);
    *out = sqrt(*out);
    return 1;
}

/* Drives a window function over a range-vector argument. */
static int eval_range_fn(ev_ctx *c, pq_node *n, pq_node *marg, window_fn fn, int keep_name, win_ctx *w,
                         double *scalar_args, double *scalar_args2, ev_value *out) {
    ev_value m;
    int newest = fn == fn_irate || fn == fn_idelta ? 2 : 0;
    if (ev_eval_matrix(c, marg, newest, &m)) return -1;
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, m.nms);
    out->nvs = 0;
    w->c = c;
    w->call = n;
    w->range_ms = m.win.range_ms;
    for (size_t k = 0; k < m.nms; k++) {
        ev_mseries *s = &m.ms[k];
        ev_vseries *o = &out->vs[out->nvs];
        memset(o, 0, sizeof *o);
        ev_alloc_steps(c, o);
        size_t lo = 0, hi = 0, pts = 0;
        /* drops[j]: counter resets among samples 0..j, so that rate and
         * increase skip their reset scan over windows without one. */
        uint32_t *drops = NULL;
        if (fn == fn_rate || fn == fn_increase) {
            drops = pq_alloc(c->arena, (s->n + 1) * sizeof *drops);
            for (size_t j = 1; j < s->n; j++) drops[j] = drops[j - 1] + (s->v[j] < s->v[j - 1]);
        }
        for (size_t i = 0; i < c->nsteps; i++) {
            int64_t end = ev_window_end(c, &m.win, i), start = end - m.win.range_ms;
            if (m.win.has_at) lo = hi = 0; /* the same window every step */
            while (lo < s->n && s->t[lo] < start) lo++;
            if (hi < lo) hi = lo;
            while (hi < s->n && s->t[hi] <= end) hi++;
            w->t = end;
            w->step_t = ev_step_time(c, i);
            w->may_reset = !drops || hi <= lo || drops[hi - 1] != drops[lo];
            if (scalar_args) w->scalar_arg = scalar_args[i];
            if (scalar_args2) w->scalar_arg2 = scalar_args2[i];
            double v;
            if (hi > lo && fn(w, s->t + lo, s->v + lo, hi - lo, &v)) {
                o->has[i] = 1;
                o->v[i] = v;
                pts++;
            } else if (hi == lo && fn == fn_count_over_time) {
                /* empty window: no value */
            }
        }
        if (!pts) continue;
        if (keep_name) {
            o->l = s->l;
            o->nl = s->nl;
        } else {
            o->l = ev_drop_name(c, s->l, s->nl, &o->nl);
        }
        out->nvs++;
    }
    return ev_check_duplicates(c, n->pos, out);
}

/* ------------------------------------------------------------ element-wise */

typedef double (*elem_fn)(double v, const double *args);

static double e_abs(double v, const double *a) { (void)a; return fabs(v); }
static double e_ceil(double v, const double *a) { (void)a; return ceil(v); }
static double e_floor(double v, const double *a) { (void)a; return floor(v); }
static double e_exp(double v, const double *a) { (void)a; return exp(v); }
static double e_ln(double v, const double *a) { (void)a; return log(v); }
static double e_log2(double v, const double *a) { (void)a; return log2(v); }
static double e_log10(double v, const double *a) { (void)a; return log10(v); }
static double e_sqrt(double v, const double *a) { (void)a; return sqrt(v); }
static double e_sgn(double v, const double *a) { (void)a; return v < 0 ? -1 : v > 0 ? 1 : v; }
static double e_acos(double v, const double *a) { (void)a; return acos(v); }
static double e_acosh(double v, const double *a) { (void)a; return acosh(v); }
static double e_asin(double v, const double *a) { (void)a; return asin(v); }
static double e_asinh(double v, const double *a) { (void)a; return asinh(v); }
static double e_atan(double v, const double *a) { (void)a; return atan(v); }
static double e_atanh(double v, const double *a) { (void)a; return atanh(v); }
static double e_cos(double v, const double *a) { (void)a; return cos(v); }
static double e_cosh(double v, const double *a) { (void)a; return cosh(v); }
static double e_sin(double v, const double *a) { (void)a; return sin(v); }
static double e_sinh(double v, const double *a) { (void)a; return sinh(v); }
static double e_tan(double v, const double *a) { (void)a; return tan(v); }
static double e_tanh(double v, const double *a) { (void)a; return tanh(v); }
static double e_deg(double v, const double *a) { (void)a; return v * 180 / M_PI; }
static double e_rad(double v, const double *a) { (void)a; return v * M_PI / 180; }
static double e_round(double v, const double *a) {
    /* Prometheus: floor(v * 1/to_nearest + 0.5) / (1/to_nearest). */
    double inv = 1.0 / a[0];
    return floor(v * inv + 0.5) / inv;
}
/* Go's math.Max and math.Min: NaN wins, and +0 > -0 (C's fmax/fmin
 * ignore a NaN instead). */
static double go_max(double x, double y) {
    if (isnan(x) || isnan(y)) return NAN;
    if (x == 0 && y == 0) return signbit(x) ? y : x;
    return x > y ? x : y;
}
static double go_min(double x, double y) {
    if (isnan(x) || isnan(y)) return NAN;
    if (x == 0 && y == 0) return signbit(x) ? x : y;
    return x < y ? x : y;
}
static double e_clamp(double v, const double *a) { return go_max(a[0], go_min(a[1], v)); }
static double e_clamp_min(double v, const double *a) { return go_max(a[0], v); }
static double e_clamp_max(double v, const double *a) { return go_min(a[0], v); }

/* Date parts of a Unix time in seconds (UTC). */
static struct tm utc_of(double v) {
    time_t t = (time_t)floor(v);
    struct tm tm;
    gmtime_r(&t, &tm);
    return tm;
}
static double e_minute(double v, const double *a) { (void)a; return utc_of(v).tm_min; }
static double e_hour(double v, const double *a) { (void)a; return utc_of(v).tm_hour; }
static double e_day_of_week(double v, const double *a) { (void)a; return utc_of(v).tm_wday; }
static double e_day_of_month(double v, const double *a) { (void)a; return utc_of(v).tm_mday; }
static double e_day_of_year(double v, const double *a) { (void)a; return utc_of(v).tm_yday + 1; }
static double e_month(double v, const double *a) { (void)a; return utc_of(v).tm_mon + 1; }
static double e_year(double v, const double *a) { (void)a; return utc_of(v).tm_year + 1900; }
static double e_days_in_month(double v, const double *a) {
    (void)a;
    struct tm tm = utc_of(v);
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = tm.tm_year + 1900;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return days[tm.tm_mon] + (tm.tm_mon == 1 && leap);
}

/* Applies f to every value of vector argument 0; extra scalar arguments
 * (per step) are args 1.. of the call.  Drops the metric name. */
static int eval_elementwise(ev_ctx *c, pq_node *n, ev_value *vec, elem_fn f, double **sargs, size_t nsargs,
                            ev_value *out) {
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
            double a[4] = {0};
            for (size_t j = 0; j < nsargs && j < 4; j++) a[j] = sargs[j][i];
            if (f == e_clamp && a[1] < a[0]) continue; /* max < min: nothing */
            o->has[i] = 1;
            o->v[i] = f(s->v[i], a);
            pts++;
        }
        if (!pts) continue;
        o->l = ev_drop_name(c, s->l, s->nl, &o->nl);
        out->nvs++;
    }
    return ev_check_duplicates(c, n->pos, out);
}

/* A vector with one series {} = time() at every step: the default
 * argument of the date functions. */
static void time_vector(ev_ctx *c, ev_value *out) {
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, 1);
    out->nvs = 1;
    ev_vseries *s = &out->vs[0];
    memset(s, 0, sizeof *s);
    ev_alloc_steps(c, s);
    s->l = pq_alloc(c->arena, sizeof(label));
    for (size_t i = 0; i < c->nsteps; i++) {
        s->has[i] = 1;
        s->v[i] = (double)ev_step_time(c, i) / 1000.0;
    }
}

/* ------------------------------------------------------------ others */

/* The labels absent() gives: the equality matchers of a selector argument
 * (a name given twice is left out), nothing otherwise. */
static label *absent_labels(ev_ctx *c, pq_node *arg, size_t *nout) {
    while (arg->kind == PQ_PAREN) arg = arg->u.paren.expr;
    *nout = 0;
    if (arg->kind != PQ_SELECTOR) return pq_alloc(c->arena, sizeof(label));
    size_t nm = arg->u.sel.nmatchers, k = 0;
    label *l = pq_alloc(c->arena, (nm + 1) * sizeof *l);
    for (size_t i = 0; i < nm; i++) {
        matcher *m = &arg->u.sel.matchers[i];
        if (m->op != MATCH_EQ || (m->name_len == 8 && !memcmp(m->name, METRIC_NAME_LABEL, 8))) continue;
        int dup = 0;
        for (size_t j = 0; j < nm; j++)
            if (j != i && arg->u.sel.matchers[j].name_len == m->name_len &&
                !memcmp(arg->u.sel.matchers[j].name, m->name, m->name_len))
                dup = 1;
        if (dup) continue;
        l[k++] = (label){m->name, (uint32_t)m->name_len, m->value, (uint32_t)m->value_len};
    }
    labels_sort(l, k);
    *nout = k;
    return l;
}

static int eval_absent(ev_ctx *c, pq_node *n, int over_time, ev_value *out) {
    pq_node *arg = n->u.call.args[0];
    ev_value v;
    if (over_time ? ev_eval_matrix(c, arg, 0, &v) : ev_eval(c, arg, &v)) return -1;
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, 1);
    ev_vseries *o = &out->vs[0];
    memset(o, 0, sizeof *o);
    ev_alloc_steps(c, o);
    pq_node *inner = arg;
    while (inner->kind == PQ_PAREN) inner = inner->u.paren.expr;
    if (over_time && inner->kind == PQ_SUBQUERY) o->l = pq_alloc(c->arena, sizeof(label)), o->nl = 0;
    else o->l = absent_labels(c, inner, &o->nl);
    size_t pts = 0;
    for (size_t i = 0; i < c->nsteps; i++) {
        int present = 0;
        if (over_time) {
            int64_t end = ev_window_end(c, &v.win, i), start = end - v.win.range_ms;
            for (size_t k = 0; k < v.nms && !present; k++)
                for (size_t j = 0; j < v.ms[k].n && !present; j++)
                    present = v.ms[k].t[j] >= start && v.ms[k].t[j] <= end;
        } else {
            for (size_t k = 0; k < v.nvs && !present; k++) present = v.vs[k].has[i];
        }
        if (present) continue;
        o->has[i] = 1;
        o->v[i] = 1;
        pts++;
    }
    out->nvs = pts ? 1 : 0;
    return 0;
}

static int eval_label_replace(ev_ctx *c, pq_node *n, ev_value *out) {
    ev_value v, a[4];
    if (ev_eval(c, n->u.call.args[0], &v)) return -1;
    for (int i = 0; i < 4; i++)
        if (ev_eval(c, n->u.call.args[i + 1], &a[i])) return -1;
    const char *dst = a[0].str, *repl = a[1].str, *src = a[2].str, *re_text = a[3].str;
    if (!label_name_valid(dst, strlen(dst))) return ev_fail(c, n->pos, "invalid destination label name in label_replace(): %s", dst);
    /* Anchored like Prometheus: ^(?:re)$. */
    size_t rlen = strlen(re_text);
    char *anch = pq_alloc(c->arena, rlen + 8);
    snprintf(anch, rlen + 8, "^(?:%s)$", re_text);
    int ecode;
    PCRE2_SIZE eoff;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)anch, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_DOLLAR_ENDONLY, &ecode, &eoff, NULL);
    if (!re) return ev_fail(c, n->pos, "invalid regular expression in label_replace(): %s", re_text);
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, v.nvs);
    out->nvs = v.nvs;
    for (size_t k = 0; k < v.nvs; k++) {
        ev_vseries *s = &v.vs[k], *o = &out->vs[k];
        *o = *s;
        const label *sl = ev_get_label(s->l, s->nl, src, strlen(src));
        const char *sv = sl ? sl->value : "";
        size_t svlen = sl ? sl->value_len : 0;
        int rc = pcre2_match(re, (PCRE2_SPTR)sv, svlen, 0, 0, md, NULL);
        if (rc < 0) continue;
        /* Expand $1, ${1}, $name in the replacement (Go's Regexp.Expand). */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        buf res = {0};
        for (const char *p = repl; *p;) {
            if (*p != '$') {
                buf_append(&res, p++, 1);
                continue;
            }
            p++;
            if (*p == '$') {
                buf_append(&res, "$", 1);
                p++;
                continue;
            }
            char name[64];
            size_t nl = 0;
            int braced = *p == '{';
            if (braced) p++;
            while (*p && (isalnum((unsigned char)*p) || *p == '_') && nl < sizeof name - 1) name[nl++] = *p++;
            name[nl] = 0;
            if (braced) {
                if (*p != '}') { nl = 0; }
                else p++;
            }
            if (nl == 0) continue;
            long group = -1;
            char *endp;
            long num = strtol(name, &endp, 10);
            if (*endp == 0) group = num;
            else group = pcre2_substring_number_from_name(re, (PCRE2_SPTR)name);
            if (group >= 0 && group < rc && ov[2 * group] != PCRE2_UNSET)
                buf_append(&res, sv + ov[2 * group], ov[2 * group + 1] - ov[2 * group]);
        }
        const char *nv = res.data ? pq_strndup(c->arena, (const char *)res.data, res.len) : "";
        o->l = ev_set_label(c, s->l, s->nl, dst, strlen(dst), nv, res.len, &o->nl);
        buf_free(&res);
    }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    return ev_check_duplicates(c, n->pos, out);
}

static int eval_label_join(ev_ctx *c, pq_node *n, ev_value *out) {
    ev_value v, dst, sep;
    if (ev_eval(c, n->u.call.args[0], &v) || ev_eval(c, n->u.call.args[1], &dst) || ev_eval(c, n->u.call.args[2], &sep))
        return -1;
    size_t nsrc = n->u.call.nargs - 3;
    const char **src = pq_alloc(c->arena, (nsrc + 1) * sizeof *src);
    for (size_t i = 0; i < nsrc; i++) {
        ev_value s;
        if (ev_eval(c, n->u.call.args[3 + i], &s)) return -1;
        src[i] = s.str;
    }
    if (!label_name_valid(dst.str, strlen(dst.str)))
        return ev_fail(c, n->pos, "invalid destination label name in label_join(): %s", dst.str);
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, v.nvs);
    out->nvs = v.nvs;
    for (size_t k = 0; k < v.nvs; k++) {
        ev_vseries *s = &v.vs[k], *o = &out->vs[k];
        *o = *s;
        buf b = {0};
        for (size_t i = 0; i < nsrc; i++) {
            if (i) buf_append(&b, sep.str, strlen(sep.str));
            const label *l = ev_get_label(s->l, s->nl, src[i], strlen(src[i]));
            if (l) buf_append(&b, l->value, l->value_len);
        }
        const char *val = b.data ? pq_strndup(c->arena, (const char *)b.data, b.len) : "";
        o->l = ev_set_label(c, s->l, s->nl, dst.str, strlen(dst.str), val, b.len, &o->nl);
        buf_free(&b);
    }
    return ev_check_duplicates(c, n->pos, out);
}

/* ------------------------------------------------------------ histogram_quantile */

typedef struct {
    double upper, count;
} bucket;

static int cmp_bucket(const void *a, const void *b) {
    double x = ((const bucket *)a)->upper, y = ((const bucket *)b)->upper;
    return x < y ? -1 : x > y;
}

/* Prometheus's bucketQuantile (v2.53): buckets sorted by bound, cumulative
 * counts made monotonic, linear interpolation inside the bucket. */
static double bucket_quantile(double q, bucket *b, size_t n) {
    if (isnan(q)) return NAN;
    if (q < 0) return -INFINITY;
    if (q > 1) return INFINITY;
    qsort(b, n, sizeof *b, cmp_bucket);
    if (n == 0 || !isinf(b[n - 1].upper) || b[n - 1].upper < 0) return NAN;
    /* Coalesce buckets with the same bound. */
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && b[k - 1].upper == b[i].upper) b[k - 1].count += b[i].count;
        else b[k++] = b[i];
    }
    n = k;
    if (n < 2) return NAN;
    double observations = b[n - 1].count;
    if (observations == 0) return NAN;
    /* Monotonic: a count below its predecessor's is raised to it. */
    double maxc = b[0].count;
    for (size_t i = 1; i < n; i++) {
        if (b[i].count < maxc) b[i].count = maxc;
        else maxc = b[i].count;
    }
    observations = b[n - 1].count;
    double rank = q * observations;
    size_t i = 0;
    while (i < n - 1 && b[i].count < rank) i++;
    if (i == n - 1) return b[n - 2].upper;
    if (i == 0 && b[0].upper <= 0) return b[0].upper;
    double bucket_start = 0, bucket_end = b[i].upper, count = b[i].count;
    if (i > 0) {
        bucket_start = b[i - 1].upper;
        count -= b[i - 1].count;
        rank -= b[i - 1].count;
    }
    return bucket_start + (bucket_end - bucket_start) * (rank / count);
}

static int eval_histogram_quantile(ev_ctx *c, pq_node *n, ev_value *out) {
    ev_value q, v;
    if (ev_eval(c, n->u.call.args[0], &q) || ev_eval(c, n->u.call.args[1], &v)) return -1;
    /* Group the series by their labels without le and __name__. */
    size_t *grp = pq_alloc(c->arena, (v.nvs + 1) * sizeof *grp);
    double *upper = pq_alloc(c->arena, (v.nvs + 1) * sizeof *upper);
    size_t ngroups = 0;
    label **gl = pq_alloc(c->arena, (v.nvs + 1) * sizeof *gl);
    size_t *gnl = pq_alloc(c->arena, (v.nvs + 1) * sizeof *gnl);
    for (size_t k = 0; k < v.nvs; k++) {
        ev_vseries *s = &v.vs[k];
        const label *le = ev_get_label(s->l, s->nl, "le", 2);
        grp[k] = SIZE_MAX;
        if (!le) continue;
        char tmp[64];
        size_t ll = le->value_len < 63 ? le->value_len : 63;
        memcpy(tmp, le->value, ll);
        tmp[ll] = 0;
        char *endp;
        upper[k] = strtod(tmp, &endp);
        if (*endp || ll == 0) continue; /* not a number: ignored, as Prometheus */
        size_t nl;
        label *l = ev_drop_name(c, s->l, s->nl, &nl);
        l = ev_set_label(c, l, nl, "le", 2, "", 0, &nl);
        size_t g = 0;
        for (; g < ngroups; g++)
            if (!ev_labels_cmp(gl[g], gnl[g], l, nl)) break;
        if (g == ngroups) {
            gl[g] = l;
            gnl[g] = nl;
            ngroups++;
        }
        grp[k] = g;
    }
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, ngroups);
    out->nvs = ngroups;
    bucket *b = pq_alloc(c->arena, (v.nvs + 1) * sizeof *b);
    for (size_t g = 0; g < ngroups; g++) {
        ev_vseries *o = &out->vs[g];
        memset(o, 0, sizeof *o);
        ev_alloc_steps(c, o);
        o->l = gl[g];
        o->nl = gnl[g];
        for (size_t i = 0; i < c->nsteps; i++) {
            size_t nb = 0;
            for (size_t k = 0; k < v.nvs; k++)
                if (grp[k] == g && v.vs[k].has[i]) b[nb++] = (bucket){upper[k], v.vs[k].v[i]};
            if (!nb) continue;
            o->has[i] = 1;
            o->v[i] = bucket_quantile(q.sc[i], b, nb);
        }
    }
    return 0;
}

/* ------------------------------------------------------------ sort */

/* Orders two values as Prometheus's sort() and sort_desc() do, NaN last. */
static int cmp_sort(const double *vals, int desc, size_t a, size_t b) {
    double x = vals[a], y = vals[b];
    if (isnan(x)) return isnan(y) ? 0 : 1;
    if (isnan(y)) return -1;
    int r = x < y ? -1 : x > y;
    return desc ? -r : r;
}

static int eval_sort(ev_ctx *c, pq_node *n, int desc, ev_value *out) {
    if (ev_eval(c, n->u.call.args[0], out)) return -1;
    if (c->nsteps != 1 || out->nvs < 2) return 0; /* ordering is an instant-query matter */
    size_t *idx = pq_alloc(c->arena, out->nvs * sizeof *idx);
    double *vals = pq_alloc(c->arena, out->nvs * sizeof *vals);
    for (size_t k = 0; k < out->nvs; k++) {
        idx[k] = k;
        vals[k] = out->vs[k].v[0];
    }
    /* A stable order for ties: insertion sort over the indices (result
     * vectors of instant queries are small). */
    for (size_t i = 1; i < out->nvs; i++) {
        size_t x = idx[i], j = i;
        while (j > 0 && cmp_sort(vals, desc, idx[j - 1], x) > 0) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = x;
    }
    ev_vseries *sorted = ev_new_vseries(c, out->nvs);
    for (size_t k = 0; k < out->nvs; k++) sorted[k] = out->vs[idx[k]];
    out->vs = sorted;
    return 0;
}

/* ------------------------------------------------------------ dispatch */

static const struct {
    const char *name;
    elem_fn f;
} elem_table[] = {
    {"abs", e_abs},       {"ceil", e_ceil},       {"floor", e_floor},       {"exp", e_exp},
    {"ln", e_ln},         {"log2", e_log2},       {"log10", e_log10},       {"sqrt", e_sqrt},
    {"sgn", e_sgn},       {"acos", e_acos},       {"acosh", e_acosh},       {"asin", e_asin},
    {"asinh", e_asinh},   {"atan", e_atan},       {"atanh", e_atanh},       {"cos", e_cos},
    {"cosh", e_cosh},     {"sin", e_sin},         {"sinh", e_sinh},         {"tan", e_tan},
    {"tanh", e_tanh},     {"deg", e_deg},         {"rad", e_rad},           {"round", e_round},
    {"clamp", e_clamp},   {"clamp_min", e_clamp_min}, {"clamp_max", e_clamp_max},
    {"minute", e_minute}, {"hour", e_hour},       {"day_of_week", e_day_of_week},
    {"day_of_month", e_day_of_month}, {"day_of_year", e_day_of_year}, {"month", e_month},
    {"year", e_year},     {"days_in_month", e_days_in_month},
};

static const struct {
    const char *name;
    window_fn f;
    int keep_name;
    int scalar_first;   /* quantile_over_time(q, m): the scalar comes first */
    int nscalars;       /* scalar arguments after the range vector          */
} range_table[] = {
    {"rate", fn_rate, 0, 0, 0},
    {"increase", fn_increase, 0, 0, 0},
    {"delta", fn_delta, 0, 0, 0},
    {"irate", fn_irate, 0, 0, 0},
    {"idelta", fn_idelta, 0, 0, 0},
    {"deriv", fn_deriv, 0, 0, 0},
    {"predict_linear", fn_predict_linear, 0, 0, 1},
    {"holt_winters", fn_holt_winters, 0, 0, 2},
    {"resets", fn_resets, 0, 0, 0},
    {"changes", fn_changes, 0, 0, 0},
    {"avg_over_time", fn_avg_over_time, 0, 0, 0},
    {"sum_over_time", fn_sum_over_time, 0, 0, 0},
    {"count_over_time", fn_count_over_time, 0, 0, 0},
    {"min_over_time", fn_min_over_time, 0, 0, 0},
    {"max_over_time", fn_max_over_time, 0, 0, 0},
    {"last_over_time", fn_last_over_time, 1, 0, 0},
    {"present_over_time", fn_present_over_time, 0, 0, 0},
    {"quantile_over_time", fn_quantile_over_time, 0, 1, 0},
    {"stddev_over_time", fn_stddev_over_time, 0, 0, 0},
    {"stdvar_over_time", fn_stdvar_over_time, 0, 0, 0},
};

/* timestamp(): the sample's own time for a selector argument (Prometheus
 * special-cases it), the step time otherwise. */
static int eval_timestamp(ev_ctx *c, pq_node *n, ev_value *out) {
    ev_value v;
    if (ev_eval(c, n->u.call.args[0], &v)) return -1;
    pq_node *arg = n->u.call.args[0];
    while (arg->kind == PQ_PAREN) arg = arg->u.paren.expr;
    out->type = PQ_TYPE_VECTOR;
    out->vs = ev_new_vseries(c, v.nvs);
    out->nvs = v.nvs;
    for (size_t k = 0; k < v.nvs; k++) {
        ev_vseries *s = &v.vs[k], *o = &out->vs[k];
        memset(o, 0, sizeof *o);
        ev_alloc_steps(c, o);
        for (size_t i = 0; i < c->nsteps; i++) {
            if (!s->has[i]) continue;
            o->has[i] = 1;
            o->v[i] = (double)(arg->kind == PQ_SELECTOR && s->ts ? s->ts[i] : ev_step_time(c, i)) / 1000.0;
        }
        o->l = ev_drop_name(c, s->l, s->nl, &o->nl);
    }
    return ev_check_duplicates(c, n->pos, out);
}

int ev_call(ev_ctx *c, pq_node *n, ev_value *out) {
    const char *name = n->u.call.func->name;
    size_t nargs = n->u.call.nargs;
    for (size_t i = 0; i < sizeof range_table / sizeof range_table[0]; i++) {
        if (strcmp(range_table[i].name, name)) continue;
        win_ctx w = {0};
        double *s1 = NULL, *s2 = NULL;
        pq_node *marg = n->u.call.args[0];
        ev_value sv;
        if (range_table[i].scalar_first) {
            if (ev_eval(c, n->u.call.args[0], &sv)) return -1;
            s1 = sv.sc;
            marg = n->u.call.args[1];
        } else if (range_table[i].nscalars >= 1) {
            if (ev_eval(c, n->u.call.args[1], &sv)) return -1;
            s1 = sv.sc;
            if (range_table[i].nscalars >= 2) {
                ev_value sv2;
                if (ev_eval(c, n->u.call.args[2], &sv2)) return -1;
                s2 = sv2.sc;
            }
        }
        return eval_range_fn(c, n, marg, range_table[i].f, range_table[i].keep_name, &w, s1, s2, out);
    }
    for (size_t i = 0; i < sizeof elem_table / sizeof elem_table[0]; i++) {
        if (strcmp(elem_table[i].name, name)) continue;
        ev_value v;
        if (nargs == 0) time_vector(c, &v); /* date functions default to vector(time()) */
        else if (ev_eval(c, n->u.call.args[0], &v)) return -1;
        double *sargs[3] = {0};
        size_t ns = 0;
        for (size_t a = 1; a < nargs && ns < 3; a++) {
            ev_value s;
            if (ev_eval(c, n->u.call.args[a], &s)) return -1;
            sargs[ns++] = s.sc;
        }
        if (elem_table[i].f == e_round && ns == 0) {
            double *ones = pq_alloc(c->arena, c->nsteps * sizeof *ones);
            for (size_t k = 0; k < c->nsteps; k++) ones[k] = 1;
            sargs[ns++] = ones;
        }
        return eval_elementwise(c, n, &v, elem_table[i].f, sargs, ns, out);
    }
    if (fname_is(n, "time")) {
        out->type = PQ_TYPE_SCALAR;
        out->sc = pq_alloc(c->arena, c->nsteps * sizeof *out->sc);
        for (size_t i = 0; i < c->nsteps; i++) out->sc[i] = (double)ev_step_time(c, i) / 1000.0;
        return 0;
    }
    if (fname_is(n, "pi")) {
        out->type = PQ_TYPE_SCALAR;
        out->sc = pq_alloc(c->arena, c->nsteps * sizeof *out->sc);
        for (size_t i = 0; i < c->nsteps; i++) out->sc[i] = M_PI;
        return 0;
    }
    if (fname_is(n, "vector")) {
        ev_value s;
        if (ev_eval(c, n->u.call.args[0], &s)) return -1;
        time_vector(c, out);
        for (size_t i = 0; i < c->nsteps; i++) out->vs[0].v[i] = s.sc[i];
        return 0;
    }
    if (fname_is(n, "scalar")) {
        ev_value v;
        if (ev_eval(c, n->u.call.args[0], &v)) return -1;
        out->type = PQ_TYPE_SCALAR;
        out->sc = pq_alloc(c->arena, c->nsteps * sizeof *out->sc);
        for (size_t i = 0; i < c->nsteps; i++) {
            size_t cnt = 0;
            double val = NAN;
            for (size_t k = 0; k < v.nvs; k++)
                if (v.vs[k].has[i]) {
                    cnt++;
                    val = v.vs[k].v[i];
                }
            out->sc[i] = cnt == 1 ? val : NAN;
        }
        return 0;
    }
    if (fname_is(n, "timestamp")) return eval_timestamp(c, n, out);
    if (fname_is(n, "absent")) return eval_absent(c, n, 0, out);
    if (fname_is(n, "absent_over_time")) return eval_absent(c, n, 1, out);
    if (fname_is(n, "label_replace")) return eval_label_replace(c, n, out);
    if (fname_is(n, "label_join")) return eval_label_join(c, n, out);
    if (fname_is(n, "sort")) return eval_sort(c, n, 0, out);
    if (fname_is(n, "sort_desc")) return eval_sort(c, n, 1, out);
    if (fname_is(n, "histogram_quantile")) return eval_histogram_quantile(c, n, out);
    return ev_fail(c, n->pos, "function \"%s\" is not implemented", name);
}
