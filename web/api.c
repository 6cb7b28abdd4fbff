/*
 * api.c - the handlers of Prometheus's HTTP API (v1): query, query_range,
 * series, labels, label values, status pages, health, and promlite's own
 * /metrics.
 *
 * Every handler answers with Prometheus's envelope and status codes:
 *   200 {"status":"success","data":...}
 *   400 bad_data (bad parameters, parse errors), 422 execution (evaluation
 *   errors), 503 timeout, 404 not_found, 405 for a wrong method.
 * Parameters come from the query string or a form-encoded POST body alike
 * (Grafana posts its queries), times as RFC 3339 or Unix seconds, steps
 * and timeouts as Prometheus durations or seconds.
 *
 * Rights: web/server.c authenticates every request first (web/webconfig.h)
 * and sets req->admin; endpoints that change the server's state (/-/reload,
 * /-/quit, /api/v1/admin/...) call web_require_admin(), which answers
 * 403 to a client that authenticated with read rights only.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/timeutil.h"
#include "config.h"
#include "query/parser.h"
#include "web/json.h"
#include "web/web_int.h"

#define MAX_POINTS_PER_SERIES 11000
#define MAX_MATCH_PARAMS 64

static void api_error(web_response *resp, unsigned status, const char *type, const char *msg) {
    resp->status = status;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    buf_printf(&resp->body, "{\"status\":\"error\",\"errorType\":\"%s\",\"error\":", type);
    jw_cstring(&resp->body, msg);
    buf_append(&resp->body, "}", 1);
}

static void bad_data(web_response *resp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void bad_data(web_response *resp, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    api_error(resp, 400, "bad_data", msg);
}

/* Starts a success envelope; the caller appends data and calls end. */
static void success_begin(web_response *resp) {
    resp->status = 200;
    resp->content_type = "application/json";
    buf_reset(&resp->body);
    buf_append(&resp->body, "{\"status\":\"success\",\"data\":", 27);
}
static void success_end(web_response *resp) { buf_append(&resp->body, "}", 1); }

static int64_t now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A time parameter; def when absent.  Returns 0, or -1 after answering. */
static int time_param(const web_request *req, web_response *resp, const char *name, int64_t def, int64_t *out) {
    const char *v = web_param_get(req, name);
    if (!v || !*v) {
        *out = def;
        return 0;
    }
    if (parse_time(v, out)) {
        bad_data(resp, "invalid parameter \"%s\": cannot parse \"%s\" to a valid timestamp", name, v);
        return -1;
    }
    return 0;
}

/* A duration parameter: a Prometheus duration or (fractional) seconds. */
static int duration_param(const web_request *req, web_response *resp, const char *name, int64_t *out, int *given) {
    const char *v = web_param_get(req, name);
    *given = v && *v;
    if (!*given) return 0;
    char *end;
    double sec = strtod(v, &end);
    if (end != v && !*end && isfinite(sec)) {
        double ms = round(sec * 1000);
        if (ms > 9.2e18 || ms < -9.2e18) {
            bad_data(resp, "invalid parameter \"%s\": cannot parse \"%s\" to a valid duration. It overflows int64", name, v);
            return -1;
        }
        *out = (int64_t)ms;
        return 0;
    }
    if (parse_duration(v, out)) {
        bad_data(resp, "invalid parameter \"%s\": cannot parse \"%s\" to a valid duration", name, v);
        return -1;
    }
    return 0;
}

/* The engine options of one request: the server's, with the request's
 * timeout when it is shorter. */
static int query_options(const web_request *req, web_response *resp, pq_options *o) {
    const web_options *so = &req->srv->opts;
    *o = so->query;
    o->timeout_s = so->query_timeout_s > 0 ? so->query_timeout_s : 120;
    int64_t t;
    int given;
    if (duration_param(req, resp, "timeout", &t, &given)) return -1;
    if (given && t > 0 && (double)t / 1000 < o->timeout_s) o->timeout_s = (double)t / 1000;
    return 0;
}

/* Maps an evaluation error to Prometheus's error type. */
static void eval_error(web_response *resp, const char *msg) {
    if (strstr(msg, "timed out")) api_error(resp, 503, "timeout", msg);
    else api_error(resp, 422, "execution", msg);
}

static void record_query(web_server *srv, double seconds) {
    atomic_fetch_add(&srv->query_count, 1);
    atomic_fetch_add(&srv->query_micros, (unsigned long long)(seconds * 1e6));
}

static void handle_query(web_request *req, web_response *resp, int range) {
    const char *q = web_param_get(req, "query");
    if (!q) q = "";
    int64_t start, end, step = 1;
    pq_options o;
    if (query_options(req, resp, &o)) return;
    if (!range) {
        if (time_param(req, resp, "time", now_ms(), &start)) return;
        end = start;
    } else {
        if (!web_param_get(req, "start")) return bad_data(resp, "invalid parameter \"start\": cannot parse \"\" to a valid timestamp");
        if (!web_param_get(req, "end")) return bad_data(resp, "invalid parameter \"end\": cannot parse \"\" to a valid timestamp");
        if (time_param(req, resp, "start", 0, &start) || time_param(req, resp, "end", 0, &end)) return;
        if (end < start) return bad_data(resp, "invalid parameter \"end\": end timestamp must not be before start time");
        int given;
        if (duration_param(req, resp, "step", &step, &given)) return;
        if (!given) return bad_data(resp, "invalid parameter \"step\": cannot parse \"\" to a valid duration");
        if (step <= 0)
            return bad_data(resp, "invalid parameter \"step\": zero or negative query resolution step widths are not "
                                  "accepted. Try a positive integer");
        if ((end - start) / step > MAX_POINTS_PER_SERIES)
            return bad_data(resp, "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the "
                                  "query resolution (?step=XX)");
    }
    pq_arena *a = pq_arena_new();
    errbuf err;
    double t0 = mono_seconds();
    pq_node *root = pq_parse(a, q, strlen(q), &err);
    if (!root) {
        bad_data(resp, "%s", err.msg);
        pq_arena_free(a);
        return;
    }
    pq_result r;
    if (pq_eval_tree(req->srv->opts.db, &o, a, root, start, end, step, !range, &r, &err)) {
        if (strstr(err.msg, "invalid expression type")) bad_data(resp, "%s", err.msg);
        else eval_error(resp, err.msg);
    } else {
        success_begin(resp);
        jw_query_result(&resp->body, &r);
        success_end(resp);
    }
    record_query(req->srv, mono_seconds() - t0);
    pq_arena_free(a);
}

/* Parses the match[] selectors; returns their count, or -1 after answering. */
static long parse_matches(web_request *req, web_response *resp, pq_arena *a, pq_node **sel, int required) {
    const char *m[MAX_MATCH_PARAMS];
    size_t n = web_param_all(req, "match[]", m, MAX_MATCH_PARAMS);
    if (!n && required) {
        bad_data(resp, "no match[] parameter provided");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        errbuf err;
        pq_node *root = pq_parse(a, m[i], strlen(m[i]), &err);
        while (root && root->kind == PQ_PAREN) root = root->u.paren.expr;
        if (!root) {
            bad_data(resp, "invalid parameter \"match[]\": %s", err.msg);
            return -1;
        }
        if (root->kind != PQ_SELECTOR || root->u.sel.range_ms || root->u.sel.offset_ms || root->u.sel.has_at) {
            bad_data(resp, "invalid parameter \"match[]\": 1:1: parse error: expected a series selector, got \"%s\"", m[i]);
            return -1;
        }
        sel[i] = root;
    }
    return (long)n;
}

static int range_params(web_request *req, web_response *resp, int64_t *mint, int64_t *maxt) {
    if (time_param(req, resp, "start", INT64_MIN / 2, mint) || time_param(req, resp, "end", INT64_MAX / 2, maxt)) return -1;
    if (*maxt < *mint) {
        bad_data(resp, "invalid parameter \"end\": end timestamp must not be before start time");
        return -1;
    }
    return 0;
}

static int cmp_str(const void *x, const void *y) {
    const tsdb_str *a = x, *b = y;
    size_t l = a->len < b->len ? a->len : b->len;
    int c = memcmp(a->s, b->s, l);
    return c ? c : (a->len > b->len) - (a->len < b->len);
}

/* Appends ["a","b",...] from sorted, possibly repeating strings. */
static void json_unique_strings(buf *b, tsdb_str *v, size_t n) {
    qsort(v, n, sizeof *v, cmp_str);
    buf_append(b, "[", 1);
    size_t out = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && !cmp_str(&v[i - 1], &v[i])) continue;
        if (out++) buf_append(b, ",", 1);
        jw_string(b, v[i].s, v[i].len);
    }
    buf_append(b, "]", 1);
}

/* Series of the union of the selectors, each once. */
static int cmp_series_ptr(const void *x, const void *y) {
    const tsdb_series *a = *(const tsdb_series *const *)x, *b = *(const tsdb_series *const *)y;
    return labels_compare(a->labels, a->nlabels, b->labels, b->nlabels);
}

/* Series of the union of the selectors, each once, sorted by label set
 * (each tsdb_select answer is sorted; the union is sorted once and equal
 * neighbours dropped, instead of comparing every pair). */
static int select_union(tsdb_reader *r, pq_node **sel, long nsel, int64_t mint, int64_t maxt, const tsdb_series ***out,
                        size_t *count, errbuf *err) {
    size_t cap = 64, n = 0;
    const tsdb_series **all = xmalloc(cap * sizeof *all);
    for (long i = 0; i < nsel; i++) {
        const tsdb_series *ss;
        size_t cnt;
        if (tsdb_select(r, sel[i]->u.sel.matchers, sel[i]->u.sel.nmatchers, mint, maxt, &ss, &cnt, err)) {
            free(all);
            return -1;
        }
        for (size_t k = 0; k < cnt; k++) {
            if (n == cap) all = xrealloc(all, (cap *= 2) * sizeof *all);
            all[n++] = &ss[k];
        }
    }
    if (nsel > 1) {
        qsort(all, n, sizeof *all, cmp_series_ptr);
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (!k || all[k - 1]->ref != all[i]->ref) all[k++] = all[i];
        n = k;
    }
    *out = all;
    *count = n;
    return 0;
}

/* What the match[] endpoints share: the selectors, the time range, a
 * reader, and the union of the series they select. */
typedef struct {
    pq_arena *arena;
    pq_node *sel[MAX_MATCH_PARAMS];
    long nsel;
    int64_t mint, maxt;
    tsdb_reader *reader;
    const tsdb_series **series;
    size_t nseries;
} match_req;

/* Fills m from the request (match[] required or not; the range from
 * start/end unless the caller set m->mint/maxt and passes use_params 0).
 * With select set, also selects.  Returns 0, or -1 after answering. */
static int match_begin(web_request *req, web_response *resp, match_req *m, int required, int use_params, int select) {
    errbuf err;
    m->arena = pq_arena_new();
    m->nsel = parse_matches(req, resp, m->arena, m->sel, required);
    if (m->nsel < 0 || (use_params && range_params(req, resp, &m->mint, &m->maxt))) return -1;
    if (tsdb_reader_open(req->srv->opts.db, &m->reader, &err)) {
        api_error(resp, 500, "internal", err.msg);
        return -1;
    }
    if (select && select_union(m->reader, m->sel, m->nsel, m->mint, m->maxt, &m->series, &m->nseries, &err)) {
        api_error(resp, 422, "execution", err.msg);
        return -1;
    }
    return 0;
}

static void match_end(match_req *m) {
    free(m->series);
    if (m->reader) tsdb_reader_close(m->reader);
    pq_arena_free(m->arena);
}

static void handle_series(web_request *req, web_response *resp) {
    match_req m = {0};
    if (match_begin(req, resp, &m, 1, 1, 1) == 0) {
        success_begin(resp);
        buf_append(&resp->body, "[", 1);
        for (size_t i = 0; i < m.nseries; i++) {
            if (i) buf_append(&resp->body, ",", 1);
            jw_labels(&resp->body, m.series[i]->labels, m.series[i]->nlabels);
        }
        buf_append(&resp->body, "]", 1);
        success_end(resp);
    }
    match_end(&m);
}

static void handle_labels(web_request *req, web_response *resp, const char *value_of) {
    if (value_of && !label_name_valid(value_of, strlen(value_of)))
        return bad_data(resp, "invalid label name: \"%s\"", value_of);
    match_req m = {0};
    errbuf err;
    tsdb_str *v = NULL;
    size_t n = 0;
    if (match_begin(req, resp, &m, 0, 1, 0)) goto out;
    if (m.nsel == 0 && (web_param_get(req, "start") || web_param_get(req, "end"))) {
        /* A time range without match[]: the series with samples in it, as
         * Prometheus answers (the index alone knows no time). */
        static const char all[] = "{__name__=~\".+\"}";
        m.sel[0] = pq_parse(m.arena, all, sizeof all - 1, &err);
        if (m.sel[0]) m.nsel = 1;
    }
    if (m.nsel == 0) {
        const tsdb_str *all;
        size_t cnt;
        int rc = value_of ? tsdb_label_values(m.reader, value_of, &all, &cnt, &err)
                          : tsdb_label_names(m.reader, &all, &cnt, &err);
        if (rc) {
            api_error(resp, 422, "execution", err.msg);
            goto out;
        }
        v = xmalloc((cnt + 1) * sizeof *v);
        memcpy(v, all, cnt * sizeof *v);
        n = cnt;
    } else {
        if (select_union(m.reader, m.sel, m.nsel, m.mint, m.maxt, &m.series, &m.nseries, &err)) {
            api_error(resp, 422, "execution", err.msg);
            goto out;
        }
        size_t cap = 64, vlen = value_of ? strlen(value_of) : 0;
        v = xmalloc(cap * sizeof *v);
        for (size_t i = 0; i < m.nseries; i++) {
            for (size_t k = 0; k < m.series[i]->nlabels; k++) {
                const label *l = &m.series[i]->labels[k];
                if (value_of && (l->name_len != vlen || memcmp(l->name, value_of, vlen))) continue;
                if (n == cap) v = xrealloc(v, (cap *= 2) * sizeof *v);
                v[n++] = value_of ? (tsdb_str){l->value, l->value_len} : (tsdb_str){l->name, l->name_len};
            }
        }
    }
    success_begin(resp);
    json_unique_strings(&resp->body, v, n);
    success_end(resp);
out:
    free(v);
    match_end(&m);
}

/* /federate: the newest sample (within the lookback) of every series the
 * match[] selectors pick, in the text exposition format with its own
 * timestamp, grouped by metric name under "# TYPE NAME untyped" as
 * Prometheus writes it. */
static void handle_federate(web_request *req, web_response *resp) {
    match_req m = {0};
    errbuf err;
    int64_t now = now_ms(), lookback = req->srv->opts.query.lookback_ms ? req->srv->opts.query.lookback_ms : 300000;
    m.mint = now - lookback;
    m.maxt = now;
    if (match_begin(req, resp, &m, 0, 0, 1) == 0) {
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
        buf_reset(&resp->body);
        const label *last_name = NULL;
        for (size_t i = 0; i < m.nseries; i++) {
            int64_t t;
            double v;
            int got = tsdb_read_last(m.reader, m.series[i]->ref, m.mint, m.maxt, &t, &v, &err);
            uint64_t bits;
            memcpy(&bits, &v, 8);
            if (got <= 0 || bits == STALE_NAN_BITS) continue;
            const label *name = labels_get(m.series[i]->labels, m.series[i]->nlabels, METRIC_NAME_LABEL, 8);
            if (name && (!last_name || last_name->value_len != name->value_len ||
                         memcmp(last_name->value, name->value, name->value_len))) {
                buf_printf(&resp->body, "# TYPE %.*s untyped\n", (int)name->value_len, name->value);
                last_name = name;
            }
            char f[FLOAT_TEXT_MAX];
            labels_format(&resp->body, m.series[i]->labels, m.series[i]->nlabels);
            buf_printf(&resp->body, " %s %lld\n", format_float(v, f), (long long)t);
        }
    }
    match_end(&m);
}

static void handle_buildinfo(web_response *resp) {
    success_begin(resp);
    buf_printf(&resp->body,
               "{\"version\":\"%s\",\"revision\":\"%s\",\"branch\":\"\",\"buildUser\":\"\",\"buildDate\":\"%s\","
               "\"goVersion\":\"none (C11)\"}",
               PACKAGE_VERSION, PROMLITE_REVISION, __DATE__);
    success_end(resp);
}

static void handle_runtimeinfo(web_request *req, web_response *resp) {
    const web_options *o = &req->srv->opts;
    char start[64];
    format_time(o->start_time_ms, start, sizeof start);
    success_begin(resp);
    buf_printf(&resp->body,
               "{\"startTime\":\"%s\",\"CWD\":\"\",\"reloadConfigSuccess\":true,\"lastConfigTime\":\"%s\","
               "\"corruptionCount\":0,\"goroutineCount\":0,\"GOMAXPROCS\":0,\"GOGC\":\"\",\"GODEBUG\":\"\","
               "\"storageRetention\":\"\"}",
               start, start);
    success_end(resp);
}

static void handle_flags(web_request *req, web_response *resp) {
    success_begin(resp);
    buf_append(&resp->body, "{", 1);
    const char *const *f = req->srv->opts.flags;
    for (size_t i = 0; f && f[i] && f[i + 1]; i += 2) {
        if (i) buf_append(&resp->body, ",", 1);
        jw_cstring(&resp->body, f[i]);
        buf_append(&resp->body, ":", 1);
        jw_cstring(&resp->body, f[i + 1]);
    }
    buf_append(&resp->body, "}", 1);
    success_end(resp);
}

static void handle_config(web_request *req, web_response *resp) {
    const web_options *o = &req->srv->opts;
    buf copy = {0};
    const char *yaml = o->config_yaml_now ? o->config_yaml_now(o->ctx, &copy) : o->config_yaml;
    success_begin(resp);
    buf_append(&resp->body, "{\"yaml\":", 8);
    jw_cstring(&resp->body, yaml ? yaml : "");
    buf_free(&copy);
    buf_append(&resp->body, "}", 1);
    success_end(resp);
}

static void json_counts(buf *b, const tsdb_count *c, size_t n) {
    buf_append(b, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_append(b, ",", 1);
        buf_append(b, "{\"name\":", 8);
        jw_cstring(b, c[i].name);
        buf_printf(b, ",\"value\":%llu}", (unsigned long long)c[i].count);
    }
    buf_append(b, "]", 1);
}

static void handle_tsdb_status(web_request *req, web_response *resp) {
    tsdb_reader *r;
    errbuf err;
    tsdb_stats st;
    if (tsdb_reader_open(req->srv->opts.db, &r, &err)) return api_error(resp, 500, "internal", err.msg);
    if (tsdb_stats_collect(r, &st, &err)) {
        tsdb_reader_close(r);
        return api_error(resp, 500, "internal", err.msg);
    }
    success_begin(resp);
    buf_printf(&resp->body, "{\"headStats\":{\"numSeries\":%llu,\"numLabelPairs\":0,\"chunkCount\":%llu,",
               (unsigned long long)st.head_series, (unsigned long long)st.chunks);
    buf_printf(&resp->body, "\"minTime\":%lld,\"maxTime\":%lld},", (long long)(st.samples ? st.min_time : 0),
               (long long)(st.samples ? st.max_time : 0));
    buf_append(&resp->body, "\"seriesCountByMetricName\":", 26);
    json_counts(&resp->body, st.top_metrics, st.n_top_metrics);
    buf_append(&resp->body, ",\"labelValueCountByLabelName\":", 30);
    json_counts(&resp->body, st.top_label_values, st.n_top_label_values);
    buf_append(&resp->body, ",\"memoryInBytesByLabelName\":[]", 30);
    buf_append(&resp->body, ",\"seriesCountByLabelValuePair\":", 31);
    json_counts(&resp->body, st.top_label_pairs, st.n_top_label_pairs);
    buf_append(&resp->body, "}", 1);
    success_end(resp);
    tsdb_reader_close(r);
}

static const char *const family_names[WEB_H_COUNT] = {
    "/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels", "/api/v1/label/:name/values",
    "/api/v1/status", "/metrics", "/-/lifecycle", "/api/v1/admin", "other"};

/* promlite's own metrics, in the text exposition format. */
static void handle_metrics(web_request *req, web_response *resp) {
    web_server *s = req->srv;
    buf *b = &resp->body;
    buf_reset(b);
    resp->status = 200;
    resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
    buf_printf(b, "# HELP promlite_build_info A metric with a constant '1' value labeled by version and revision.\n"
                  "# TYPE promlite_build_info gauge\n"
                  "promlite_build_info{revision=\"%s\",version=\"%s\"} 1\n",
               PROMLITE_REVISION, PACKAGE_VERSION);
    buf_printf(b, "# HELP promlite_http_requests_total Counter of HTTP requests by handler and status code class.\n"
                  "# TYPE promlite_http_requests_total counter\n");
    static const char *const codes[6] = {"0xx", "1xx", "2xx", "3xx", "4xx", "5xx"};
    for (int h = 0; h < WEB_H_COUNT; h++)
        for (int k = 1; k < 6; k++) {
            unsigned long n = atomic_load(&s->requests[h][k]);
            if (n || k == 2)
                buf_printf(b, "promlite_http_requests_total{code=\"%s\",handler=\"%s\"} %lu\n", codes[k], family_names[h], n);
        }
    buf_printf(b, "# HELP promlite_http_unauthorized_requests_total Requests refused for missing or wrong credentials.\n"
                  "# TYPE promlite_http_unauthorized_requests_total counter\n"
                  "promlite_http_unauthorized_requests_total %lu\n",
               atomic_load(&s->unauthorized));
    buf_printf(b, "# HELP promlite_engine_query_duration_seconds Query evaluation time.\n"
                  "# TYPE promlite_engine_query_duration_seconds summary\n"
                  "promlite_engine_query_duration_seconds_sum %.6f\n"
                  "promlite_engine_query_duration_seconds_count %lu\n",
               (double)atomic_load(&s->query_micros) / 1e6, atomic_load(&s->query_count));
    buf_printf(b, "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                  "# TYPE process_start_time_seconds gauge\n"
                  "process_start_time_seconds %.3f\n",
               (double)s->opts.start_time_ms / 1000);
    buf_printf(b, "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                  "# TYPE process_resident_memory_bytes gauge\n"
                  "process_resident_memory_bytes %llu\n"
                  "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                  "# TYPE process_cpu_seconds_total counter\n"
                  "process_cpu_seconds_total %.2f\n",
               (unsigned long long)current_rss_bytes(), cpu_seconds());
    if (s->opts.db) {
        tsdb_counters tc;
        tsdb_counters_get(s->opts.db, &tc);
        buf_printf(b,
                   "# HELP promlite_tsdb_head_series Series held in memory.\n"
                   "# TYPE promlite_tsdb_head_series gauge\n"
                   "promlite_tsdb_head_series %llu\n"
                   "# HELP promlite_tsdb_samples_appended_total Samples stored.\n"
                   "# TYPE promlite_tsdb_samples_appended_total counter\n"
                   "promlite_tsdb_samples_appended_total %llu\n"
                   "# HELP promlite_tsdb_out_of_order_samples_total Samples rejected for being older than their series' newest.\n"
                   "# TYPE promlite_tsdb_out_of_order_samples_total counter\n"
                   "promlite_tsdb_out_of_order_samples_total %llu\n"
                   "# HELP promlite_tsdb_duplicate_samples_total Samples rejected for another value at a stored timestamp.\n"
                   "# TYPE promlite_tsdb_duplicate_samples_total counter\n"
                   "promlite_tsdb_duplicate_samples_total %llu\n"
                   "# HELP promlite_tsdb_series_created_total Series created.\n"
                   "# TYPE promlite_tsdb_series_created_total counter\n"
                   "promlite_tsdb_series_created_total %llu\n"
                   "# HELP promlite_tsdb_commits_total Batches made durable.\n"
                   "# TYPE promlite_tsdb_commits_total counter\n"
                   "promlite_tsdb_commits_total %llu\n"
                   "# HELP promlite_tsdb_wal_bytes Size of the write-ahead log.\n"
                   "# TYPE promlite_tsdb_wal_bytes gauge\n"
                   "promlite_tsdb_wal_bytes %llu\n",
                   (unsigned long long)tc.head_series, (unsigned long long)tc.samples_appended,
                   (unsigned long long)tc.out_of_order, (unsigned long long)tc.duplicate,
                   (unsigned long long)tc.series_created, (unsigned long long)tc.commits,
                   (unsigned long long)tc.wal_bytes);
        if (s->opts.storage_path) {
            char p[4200];
            struct stat st;
            snprintf(p, sizeof p, "%s/data.mdb", s->opts.storage_path);
            unsigned long long bytes = stat(p, &st) == 0 ? (unsigned long long)st.st_blocks * 512 : 0;
            buf_printf(b,
                       "# HELP promlite_tsdb_storage_bytes Disk space used by the data file.\n"
                       "# TYPE promlite_tsdb_storage_bytes gauge\n"
                       "promlite_tsdb_storage_bytes %llu\n",
                       bytes);
        }
    }
    if (s->opts.metrics) s->opts.metrics(s->opts.ctx, b);
}

static void text(web_response *resp, unsigned status, const char *msg) {
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    buf_reset(&resp->body);
    buf_append(&resp->body, msg, strlen(msg));
}

/* 403 rather than 401: the client did authenticate, and a 401 would make a
 * browser ask for other credentials.  docs/security.md documents it. */
int web_require_admin(const web_request *req, web_response *resp) {
    if (req->admin) return 0;
    text(resp, 403, "Forbidden: this endpoint needs admin rights (a bearer token with role admin)\n");
    return -1;
}

/* Percent-decoding for a path segment (label names are plain, but
 * clients encode anyway). */
static char *path_decode(const char *s, size_t n) {
    char *out = xmalloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) && isxdigit((unsigned char)s[i + 2])) {
            char hex[3] = {s[i + 1], s[i + 2], 0};
            out[k++] = (char)strtol(hex, NULL, 16);
            i += 2;
            continue;
        }
        out[k++] = s[i];
    }
    out[k] = 0;
    return out;
}

int api_handle(web_request *req, web_response *resp) {
    const char *p = req->path;
    int get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD"), post = !strcmp(req->method, "POST");
    if (!strcmp(p, "/api/v1/query") || !strcmp(p, "/api/v1/query_range")) {
        int range = p[13] == '_';
        if (!get && !post) return text(resp, 405, "Method Not Allowed\n"), range ? WEB_H_QUERY_RANGE : WEB_H_QUERY;
        handle_query(req, resp, range);
        return range ? WEB_H_QUERY_RANGE : WEB_H_QUERY;
    }
    if (!strcmp(p, "/api/v1/series")) {
        if (!get && !post) return text(resp, 405, "Method Not Allowed\n"), WEB_H_SERIES;
        handle_series(req, resp);
        return WEB_H_SERIES;
    }
    if (!strcmp(p, "/api/v1/labels")) {
        if (!get && !post) return text(resp, 405, "Method Not Allowed\n"), WEB_H_LABELS;
        handle_labels(req, resp, NULL);
        return WEB_H_LABELS;
    }
    if (!strncmp(p, "/api/v1/label/", 14)) {
        const char *name = p + 14, *slash = strchr(name, '/');
        if (!slash || strcmp(slash, "/values")) return api_error(resp, 404, "not_found", "not found"), WEB_H_OTHER;
        char *decoded = path_decode(name, (size_t)(slash - name));
        handle_labels(req, resp, decoded);
        free(decoded);
        return WEB_H_LABEL_VALUES;
    }
    if (!strcmp(p, "/api/v1/status/buildinfo")) return handle_buildinfo(resp), WEB_H_STATUS;
    if (!strcmp(p, "/api/v1/status/runtimeinfo")) return handle_runtimeinfo(req, resp), WEB_H_STATUS;
    if (!strcmp(p, "/api/v1/status/flags")) return handle_flags(req, resp), WEB_H_STATUS;
    if (!strcmp(p, "/api/v1/status/config")) return handle_config(req, resp), WEB_H_STATUS;
    if (!strcmp(p, "/api/v1/status/tsdb")) return handle_tsdb_status(req, resp), WEB_H_STATUS;
    if (!strcmp(p, "/api/v1/metadata")) {
        const web_options *o = &req->srv->opts;
        const char *lim = web_param_get(req, "limit");
        char *end = NULL;
        long limit = lim && *lim ? strtol(lim, &end, 10) : 0;
        if (lim && *lim && *end) return bad_data(resp, "invalid parameter \"limit\": %s", lim), WEB_H_STATUS;
        success_begin(resp);
        if (o->metadata_json) o->metadata_json(o->ctx, &resp->body, web_param_get(req, "metric"), limit);
        else buf_append(&resp->body, "{}", 2);
        success_end(resp);
        return WEB_H_STATUS;
    }
    if (!strcmp(p, "/api/v1/targets")) {
        const web_options *o = &req->srv->opts;
        const char *state = web_param_get(req, "state");
        if (state && strcmp(state, "active") && strcmp(state, "dropped") && strcmp(state, "any") && *state)
            return bad_data(resp, "invalid parameter \"state\": %s", state), WEB_H_STATUS;
        success_begin(resp);
        if (o->targets_json) o->targets_json(o->ctx, &resp->body, state);
        else buf_append(&resp->body, "{\"activeTargets\":[],\"droppedTargets\":[]}", 40);
        success_end(resp);
        return WEB_H_STATUS;
    }
    if (!strcmp(p, "/api/v1/rules")) {
        const web_options *o = &req->srv->opts;
        const char *type = web_param_get(req, "type");
        if (type && *type && strcmp(type, "alert") && strcmp(type, "record"))
            return bad_data(resp, "not supported value \"%s\"", type), WEB_H_STATUS;
        success_begin(resp);
        if (o->rules_json) o->rules_json(o->ctx, &resp->body, type);
        else buf_append(&resp->body, "{\"groups\":[]}", 13);
        success_end(resp);
        return WEB_H_STATUS;
    }
    if (!strcmp(p, "/api/v1/alerts")) {
        const web_options *o = &req->srv->opts;
        success_begin(resp);
        if (o->alerts_json) o->alerts_json(o->ctx, &resp->body);
        else buf_append(&resp->body, "{\"alerts\":[]}", 13);
        success_end(resp);
        return WEB_H_STATUS;
    }
    if (!strcmp(p, "/-/reload")) {
        const web_options *o = &req->srv->opts;
        if (!o->enable_lifecycle) return text(resp, 403, "Lifecycle API is not enabled.\n"), WEB_H_LIFECYCLE;
        if (web_require_admin(req, resp)) return WEB_H_LIFECYCLE;
        if (!post && strcmp(req->method, "PUT")) return text(resp, 405, "Only POST or PUT requests allowed\n"), WEB_H_LIFECYCLE;
        errbuf err;
        if (!o->reload) return text(resp, 200, ""), WEB_H_LIFECYCLE;
        if (o->reload(o->ctx, &err)) {
            char msg[600];
            snprintf(msg, sizeof msg, "failed to reload config: %s\n", err.msg);
            return text(resp, 500, msg), WEB_H_LIFECYCLE;
        }
        return text(resp, 200, ""), WEB_H_LIFECYCLE;
    }
    if (!strncmp(p, "/api/v1/admin/", 14)) {
        const web_options *o = &req->srv->opts;
        if (!o->admin) return api_error(resp, 404, "not_found", "unknown API endpoint"), WEB_H_ADMIN;
        if (web_require_admin(req, resp)) return WEB_H_ADMIN;
        const char *cascade = web_param_get(req, "cascade");
        resp->status = 200;
        resp->content_type = "application/json";
        buf_reset(&resp->body);
        resp->status = o->admin(o->ctx, req->method, p + 14, (const char *)req->body.data, req->body.len,
                                web_param_get(req, "job"), cascade && (!strcmp(cascade, "true") || !strcmp(cascade, "1")),
                                &resp->body);
        return WEB_H_ADMIN;
    }
    if (!strncmp(p, "/api/v2/", 8)) {
        const web_options *o = &req->srv->opts;
        if (!o->alertmanager) return api_error(resp, 404, "not_found", "unknown API endpoint"), WEB_H_OTHER;
        if (!get && web_require_admin(req, resp)) return WEB_H_ADMIN;
        const char **params = xcalloc(2 * req->nparams + 1, sizeof *params);
        for (size_t i = 0; i < req->nparams; i++) {
            params[2 * i] = req->params[i].key;
            params[2 * i + 1] = req->params[i].value;
        }
        resp->content_type = "application/json";
        buf_reset(&resp->body);
        resp->status = o->alertmanager(o->ctx, req->method, p + 8, params, req->nparams,
                                       (const char *)req->body.data, req->body.len, &resp->body);
        free(params);
        return get ? WEB_H_STATUS : WEB_H_ADMIN;
    }
    if (!strcmp(p, "/metrics")) return handle_metrics(req, resp), WEB_H_METRICS;
    if (!strcmp(p, "/federate")) return handle_federate(req, resp), WEB_H_OTHER;
    if (!strcmp(p, "/-/healthy")) return text(resp, 200, "promlite is Healthy.\n"), WEB_H_LIFECYCLE;
    if (!strcmp(p, "/-/ready")) return text(resp, 200, "promlite is Ready.\n"), WEB_H_LIFECYCLE;
    if (!strcmp(p, "/-/quit")) {
        if (!req->srv->opts.enable_lifecycle) return text(resp, 403, "Lifecycle API is not enabled.\n"), WEB_H_LIFECYCLE;
        if (web_require_admin(req, resp)) return WEB_H_LIFECYCLE;
        if (!post) return text(resp, 405, "Only POST or PUT requests allowed\n"), WEB_H_LIFECYCLE;
        atomic_store(&req->srv->quit, 1);
        return text(resp, 200, "Requesting termination... Goodbye!\n"), WEB_H_LIFECYCLE;
    }
    if (!strncmp(p, "/api/v1/", 8)) return api_error(resp, 404, "not_found", "unknown API endpoint"), WEB_H_OTHER;
    text(resp, 404, "404 page not found\n");
    return WEB_H_OTHER;
}
