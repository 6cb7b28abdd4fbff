/*
 * test_scrape.c - the scrape manager against fixture HTTP targets served
 * from inside this test on 127.0.0.1.
 *
 * The fixture server is a small threaded HTTP/1.1 server: a listening
 * thread accepts connections and hands each to a worker thread, which
 * reads the request, looks its path up in a route table the test edits
 * under a mutex (body, content type, status, delay, basic auth, gzip),
 * records the request's headers and answers with Connection: close.  All
 * threads are joined when the server stops.
 *
 * Each test opens a database in a fresh temporary folder, starts a scrape
 * manager with a configuration text (200 ms intervals), waits (bounded)
 * for what it expects to appear in storage or in the targets JSON, and
 * stops everything it started.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include "common/selector.h"
#include "ingest/config.h"
#include "ingest/scrape.h"
#include "ingest/scrape_int.h"
#include "tsdb/tsdb.h"

/* ------------------------------------------------------------ fixture server */

typedef struct {
    char path[64];
    char body[8192];
    char content_type[128];
    int status;
    int delay_ms;
    int require_auth;        /* expects user:pass */
    char location[128];      /* a Location header (redirects) */
    int gzip;                /* compress when the client accepts gzip: 1; 2: two gzip
                                members; 3: a damaged stream */
    int hits, gzipped;
    char last_request[4096];
} route;

typedef struct {
    int fd, port;
    pthread_t thread;
    pthread_mutex_t lock;
    int stop;
    route routes[8];
    int nroutes;
    pthread_t *workers;
    size_t nworkers, capworkers;
} http_server;

typedef struct {
    http_server *s;
    int fd;
} conn;

static int server_stopping(http_server *s) {
    pthread_mutex_lock(&s->lock);
    int v = s->stop;
    pthread_mutex_unlock(&s->lock);
    return v;
}

static void write_all(int fd, const void *p, size_t n) {
    const char *c = p;
    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL); /* the client may have given up */
        if (w <= 0) return;
        c += w;
        n -= (size_t)w;
    }
}

/* gzip-compresses in[0..n) into out (cap bytes).  Returns the length. */
static size_t gzip_bytes(const char *in, size_t n, char *out, size_t cap) {
    z_stream z = {0};
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)n;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    size_t len = z.total_out;
    deflateEnd(&z);
    return len;
}

static const char *status_reason(int st) {
    switch (st) {
    case 200: return "OK";
    case 302: return "Found";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    default: return "Internal Server Error";
    }
}

/* Serves one connection: one request, one answer. */
static void *serve_conn(void *arg) {
    conn *c = arg;
    http_server *s = c->s;
    char req[4096];
    size_t len = 0;
    while (len < sizeof req - 1) {
        struct pollfd p = {c->fd, POLLIN, 0};
        if (poll(&p, 1, 2000) <= 0) break;
        ssize_t n = read(c->fd, req + len, sizeof req - 1 - len);
        if (n <= 0) break;
        len += (size_t)n;
        req[len] = 0;
        if (strstr(req, "\r\n\r\n")) break;
    }
    req[len] = 0;
    char path[256] = "";
    sscanf(req, "GET %255s", path);
    char *q = strchr(path, '?');
    if (q) *q = 0;
    pthread_mutex_lock(&s->lock);
    route *r = NULL;
    for (int i = 0; i < s->nroutes; i++)
        if (!strcmp(s->routes[i].path, path)) r = &s->routes[i];
    route copy;
    if (r) {
        r->hits++;
        snprintf(r->last_request, sizeof r->last_request, "%s", req);
        copy = *r;
    }
    pthread_mutex_unlock(&s->lock);
    if (!r) {
        const char *nf = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        write_all(c->fd, nf, strlen(nf));
        goto done;
    }
    for (int waited = 0; waited < copy.delay_ms && !server_stopping(s); waited += 10) usleep(10000);
    int status = copy.status ? copy.status : 200;
    if (copy.require_auth && !strstr(req, "Authorization: Basic dXNlcjpwYXNz")) status = 401; /* user:pass */
    static char out[16384];
    char *body = copy.body;
    size_t blen = strlen(copy.body);
    char gz[16384];
    int use_gzip = copy.gzip && strstr(req, "Accept-Encoding: gzip") != NULL;
    if (use_gzip) {
        if (copy.gzip == 2) { /* what `gzip -c a b` makes */
            size_t half = blen / 2;
            size_t first = gzip_bytes(copy.body, half, gz, sizeof gz);
            blen = first + gzip_bytes(copy.body + half, blen - half, gz + first, sizeof gz - first);
        } else {
            blen = gzip_bytes(copy.body, blen, gz, sizeof gz);
        }
        if (copy.gzip == 3) memset(gz + 12, 0xff, blen > 40 ? 16 : 0); /* damage the deflate stream */
        body = gz;
        pthread_mutex_lock(&s->lock);
        r->gzipped++;
        pthread_mutex_unlock(&s->lock);
    }
    char head[768], location[160] = "";
    if (copy.location[0]) snprintf(location, sizeof location, "Location: %s\r\n", copy.location);
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%sConnection: close\r\n\r\n",
                      status, status_reason(status),
                      copy.content_type[0] ? copy.content_type : "text/plain; version=0.0.4", blen,
                      use_gzip ? "Content-Encoding: gzip\r\n" : "", location);
    (void)out;
    write_all(c->fd, head, (size_t)hl);
    write_all(c->fd, body, blen);
done:
    close(c->fd);
    free(c);
    return NULL;
}

static void *accept_loop(void *arg) {
    http_server *s = arg;
    while (!server_stopping(s)) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 20) <= 0) continue;
        int fd = accept(s->fd, NULL, NULL);
        if (fd < 0) continue;
        conn *c = malloc(sizeof *c);
        c->s = s;
        c->fd = fd;
        if (s->nworkers == s->capworkers) {
            s->capworkers = s->capworkers ? s->capworkers * 2 : 64;
            s->workers = realloc(s->workers, s->capworkers * sizeof *s->workers);
        }
        pthread_create(&s->workers[s->nworkers++], NULL, serve_conn, c);
    }
    return NULL;
}

static http_server *server_start(void) {
    http_server *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->lock, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 64), 0);
    socklen_t al = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    pthread_create(&s->thread, NULL, accept_loop, s);
    return s;
}

static void server_stop(http_server *s) {
    pthread_mutex_lock(&s->lock);
    s->stop = 1;
    pthread_mutex_unlock(&s->lock);
    pthread_join(s->thread, NULL);
    for (size_t i = 0; i < s->nworkers; i++) pthread_join(s->workers[i], NULL);
    close(s->fd);
    free(s->workers);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Adds or changes a route. */
static void server_route(http_server *s, const char *path, const char *body, int status) {
    pthread_mutex_lock(&s->lock);
    route *r = NULL;
    for (int i = 0; i < s->nroutes; i++)
        if (!strcmp(s->routes[i].path, path)) r = &s->routes[i];
    if (!r) {
        r = &s->routes[s->nroutes++];
        memset(r, 0, sizeof *r);
        snprintf(r->path, sizeof r->path, "%s", path);
    }
    snprintf(r->body, sizeof r->body, "%s", body);
    r->status = status;
    pthread_mutex_unlock(&s->lock);
}

static route server_get(http_server *s, const char *path) {
    route out = {0};
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->nroutes; i++)
        if (!strcmp(s->routes[i].path, path)) out = s->routes[i];
    pthread_mutex_unlock(&s->lock);
    return out;
}

static void server_set(http_server *s, const char *path, int delay_ms, int require_auth, int gzip,
                       const char *content_type) {
    pthread_mutex_lock(&s->lock);
    for (int i = 0; i < s->nroutes; i++)
        if (!strcmp(s->routes[i].path, path)) {
            s->routes[i].delay_ms = delay_ms;
            s->routes[i].require_auth = require_auth;
            s->routes[i].gzip = gzip;
            if (content_type) snprintf(s->routes[i].content_type, sizeof s->routes[i].content_type, "%s", content_type);
        }
    pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------ fixture */

typedef struct {
    char dir[64];
    tsdb *db;
    http_server *srv;
    scrape_manager *m;
} fixture;

static void fixture_open(fixture *f) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/promlite-scrape-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    char path[128];
    snprintf(path, sizeof path, "%s/data", f->dir);
    /* As the server opens it: the WAL synced once a second, so that a slow
     * fdatasync on a busy disk cannot hold the scrape thread past an
     * interval (the spacing checks would fail for the disk's sake). */
    tsdb_options o = {.path = path, .wal_sync_interval_ms = 1000};
    errbuf err;
    if (tsdb_open(&o, &f->db, &err)) fail_msg("open: %s", err.msg);
    f->srv = server_start();
}

static promlite_config *parse_config(fixture *f, const char *fmt, ...) {
    char text[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char name[128];
    snprintf(name, sizeof name, "%s/prometheus.yml", f->dir);
    promlite_config *cfg;
    errbuf err;
    if (config_parse(text, strlen(text), name, &cfg, &err)) fail_msg("config: %s\n%s", err.msg, text);
    return cfg;
}

static void fixture_start(fixture *f, promlite_config *cfg) {
    scrape_options o = {.user_agent = "promlite-test/1", .file_sd_poll_s = 0.05, .retention_every_s = 0.5};
    errbuf err;
    if (scrape_start(f->db, cfg, &o, &f->m, &err)) fail_msg("scrape_start: %s", err.msg);
}

static void fixture_close(fixture *f) {
    if (f->m) scrape_stop(f->m);
    server_stop(f->srv);
    errbuf err;
    if (tsdb_close(f->db, &err)) fail_msg("close: %s", err.msg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
}

/* What storage holds for a selector: the number of series, and the
 * samples and labels of the first. */
typedef struct {
    size_t nseries, n;
    double v[1024];
    int64_t t[1024];
    char labels[512];
} series_data;

static int is_stale(double v) {
    uint64_t b;
    memcpy(&b, &v, sizeof b);
    return b == STALE_NAN_BITS;
}

static series_data query(fixture *f, const char *sel) {
    series_data out;
    memset(&out, 0, sizeof out);
    matcher *ms;
    size_t nm;
    errbuf err;
    if (selector_parse(sel, &ms, &nm, &err)) fail_msg("selector %s: %s", sel, err.msg);
    tsdb_reader *r;
    if (tsdb_reader_open(f->db, &r, &err)) fail_msg("reader: %s", err.msg);
    const tsdb_series *ss;
    size_t count;
    if (tsdb_select(r, ms, nm, INT64_MIN, INT64_MAX, &ss, &count, &err)) fail_msg("select: %s", err.msg);
    out.nseries = count;
    if (count) {
        tsdb_samples smp;
        if (tsdb_read(r, ss[0].ref, INT64_MIN, INT64_MAX, &smp, &err)) fail_msg("read: %s", err.msg);
        out.n = smp.n > 1024 ? 1024 : smp.n;
        memcpy(out.v, smp.v, out.n * sizeof *out.v);
        memcpy(out.t, smp.t, out.n * sizeof *out.t);
        buf b = {0};
        labels_format(&b, ss[0].labels, ss[0].nlabels);
        snprintf(out.labels, sizeof out.labels, "%.*s", (int)b.len, (const char *)b.data);
        buf_free(&b);
    }
    tsdb_reader_close(r);
    matchers_free(ms, nm);
    return out;
}

static double last_value(const series_data *d) { return d->n ? d->v[d->n - 1] : NAN; }

/* Waits (at most ms) until expr holds; fails the test otherwise. */
#define WAIT_FOR(expr, ms)                                                                                  \
    do {                                                                                                   \
        int ok_ = 0;                                                                                       \
        for (int w_ = 0; w_ < (ms) / 20; w_++) {                                                           \
            if (expr) {                                                                                    \
                ok_ = 1;                                                                                   \
                break;                                                                                     \
            }                                                                                              \
            usleep(20000);                                                                                 \
        }                                                                                                  \
        if (!ok_ && !(expr)) fail_msg("timed out waiting for %s", #expr);                                  \
    } while (0)

static size_t samples_of(fixture *f, const char *sel) { return query(f, sel).n; }

static double last_of(fixture *f, const char *sel) {
    series_data d = query(f, sel);
    return last_value(&d);
}

static char *targets_json(fixture *f, const char *state) {
    buf b = {0};
    scrape_targets_json(f->m, &b, state);
    buf_append(&b, "", 1);
    return (char *)b.data;
}

static int json_has(fixture *f, const char *needle) {
    char *j = targets_json(f, NULL);
    int r = strstr(j, needle) != NULL;
    free(j);
    return r;
}

/* Gaps between the samples of a target scraped every 200 ms.  A scrape the
 * loop starts more than 2 ms late is stamped with its real start, so the
 * gap before it is long and the one after it short by the same amount; on
 * a busy machine (the suite runs tests in parallel) that is tens of ms.  A
 * missed scrape makes a gap of 400. */
#define GAP_MIN 140
#define GAP_MAX 260

/* A series scraped without a gap and never marked stale. */
static void assert_steady(const series_data *d) {
    for (size_t i = 1; i < d->n; i++) {
        if (!(d->t[i] - d->t[i - 1] >= GAP_MIN && d->t[i] - d->t[i - 1] <= GAP_MAX))
            fail_msg("samples %zu and %zu of %zu are %lld ms apart", i - 1, i, d->n, (long long)(d->t[i] - d->t[i - 1]));
        assert_false(is_stale(d->v[i]));
    }
}

#define GLOBAL "global:\n  scrape_interval: 200ms\n  scrape_timeout: 150ms\n"

/* Starts scraping the fixture's server as the one static target of job. */
static void start_one_target(fixture *f, const char *job) {
    fixture_start(f, parse_config(f, GLOBAL "scrape_configs:\n- job_name: %s\n  static_configs:\n"
                                         "  - targets: ['127.0.0.1:%d']\n",
                                  job, f->srv->port));
}

/* ------------------------------------------------------------ tests */

static void test_normal_target(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/metrics", "# TYPE foo counter\nfoo_total{a=\"1\"} 5\nbar 2.5\n", 200);
    start_one_target(&f, "t");
    WAIT_FOR(samples_of(&f, "up{job=\"t\"}") >= 3, 5000);
    char sel[128];
    snprintf(sel, sizeof sel, "foo_total{a=\"1\",job=\"t\",instance=\"127.0.0.1:%d\"}", f.srv->port);
    series_data d = query(&f, sel);
    assert_int_equal(d.nseries, 1);
    assert_true(last_value(&d) == 5);
    d = query(&f, "bar{job=\"t\"}");
    assert_true(last_value(&d) == 2.5);
    d = query(&f, "up{job=\"t\"}");
    assert_true(last_value(&d) == 1);
    /* Scrapes are spaced by the interval. */
    int64_t gap = d.t[d.n - 1] - d.t[d.n - 2];
    if (!(gap >= GAP_MIN && gap <= GAP_MAX)) fail_msg("gap %lld (n=%zu)", (long long)gap, d.n);
    assert_true(query(&f, "scrape_samples_scraped{job=\"t\"}").v[0] == 2);
    assert_true(query(&f, "scrape_samples_post_metric_relabeling{job=\"t\"}").v[0] == 2);
    series_data added = query(&f, "scrape_series_added{job=\"t\"}");
    assert_true(added.v[0] == 2);
    assert_true(added.v[1] == 0);
    double dur = last_of(&f, "scrape_duration_seconds{job=\"t\"}");
    assert_true(dur > 0 && dur < 1);
    route r = server_get(f.srv, "/metrics");
    assert_non_null(strstr(r.last_request,
                           "Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;"
                           "version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1\r\n"));
    assert_non_null(strstr(r.last_request, "Accept-Encoding: gzip\r\n"));
    assert_non_null(strstr(r.last_request, "User-Agent: promlite-test/1\r\n"));
    assert_non_null(strstr(r.last_request, "X-Prometheus-Scrape-Timeout-Seconds: 0.15\r\n"));
    char *j = targets_json(&f, NULL);
    assert_non_null(strstr(j, "\"health\":\"up\""));
    assert_non_null(strstr(j, "\"scrapePool\":\"t\""));
    assert_non_null(strstr(j, "\"scrapeInterval\":\"200ms\",\"scrapeTimeout\":\"150ms\""));
    assert_non_null(strstr(j, "\"lastError\":\"\""));
    assert_non_null(strstr(j, "\"__scrape_interval__\":\"200ms\""));
    free(j);
    buf mb = {0};
    scrape_metrics(f.m, &mb);
    buf_append(&mb, "", 1);
    assert_non_null(strstr((char *)mb.data, "promlite_scrape_targets{job=\"t\"} 1\n"));
    assert_non_null(strstr((char *)mb.data, "promlite_scrape_duration_seconds_count "));
    buf_free(&mb);
    fixture_close(&f);
}

static void test_honor_labels(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/a", "m{job=\"theirs\",instance=\"x\",exported_job=\"e\"} 1\n", 200);
    server_route(f.srv, "/b", "m{job=\"theirs\",instance=\"x\"} 2\n", 200);
    fixture_start(&f, parse_config(&f, GLOBAL "scrape_configs:\n"
                                          "- job_name: ours\n  metrics_path: /a\n  static_configs:\n"
                                          "  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: honored\n  honor_labels: true\n  metrics_path: /b\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n",
                                   f.srv->port, f.srv->port));
    WAIT_FOR(samples_of(&f, "up{job=\"ours\"}") >= 1 && samples_of(&f, "up{job=\"honored\"}") >= 1, 5000);
    /* Not honored: the target wins; exported_job is taken, so exported_exported_job. */
    series_data d = query(&f, "m{job=\"ours\"}");
    assert_int_equal(d.nseries, 1);
    char want[256];
    snprintf(want, sizeof want,
             "m{exported_exported_job=\"theirs\",exported_instance=\"x\",exported_job=\"e\",instance=\"127.0.0.1:%d\","
             "job=\"ours\"}",
             f.srv->port);
    assert_string_equal(d.labels, want);
    d = query(&f, "m{job=\"theirs\"}");
    assert_int_equal(d.nseries, 1);
    assert_string_equal(d.labels, "m{instance=\"x\",job=\"theirs\"}");
    assert_true(last_value(&d) == 2);
    /* The report series carry the target labels either way. */
    assert_int_equal(query(&f, "up{job=\"honored\",instance!=\"x\"}").nseries, 1);
    fixture_close(&f);
}

static void test_relabel(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/metrics", "keep_me{x=\"1\"} 1\ndrop_me 2\nrename_me{old=\"v\"} 3\n", 200);
    fixture_start(&f, parse_config(&f, GLOBAL "scrape_configs:\n- job_name: r\n"
                                          "  params:\n    module: [m1, m2]\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d', 'drop.invalid:1']\n"
                                          "    labels: {env: prod}\n"
                                          "  relabel_configs:\n"
                                          "  - source_labels: [__address__]\n    regex: drop.*\n    action: drop\n"
                                          "  - target_label: team\n    replacement: blue\n"
                                          "  - source_labels: [env]\n    target_label: __param_env\n"
                                          "  metric_relabel_configs:\n"
                                          "  - source_labels: [__name__]\n    regex: drop_me\n    action: drop\n"
                                          "  - source_labels: [old]\n    target_label: new\n"
                                          "  - regex: old\n    action: labeldrop\n",
                                   f.srv->port));
    WAIT_FOR(samples_of(&f, "up{job=\"r\"}") >= 1, 5000);
    assert_int_equal(query(&f, "keep_me{env=\"prod\",team=\"blue\",x=\"1\"}").nseries, 1);
    assert_int_equal(query(&f, "drop_me").nseries, 0);
    series_data d = query(&f, "rename_me");
    assert_int_equal(d.nseries, 1);
    assert_non_null(strstr(d.labels, "new=\"v\""));
    assert_null(strstr(d.labels, "old="));
    assert_true(query(&f, "scrape_samples_scraped{job=\"r\"}").v[0] == 3);
    assert_true(query(&f, "scrape_samples_post_metric_relabeling{job=\"r\"}").v[0] == 2);
    /* The dropped target is listed with its discovered labels. */
    char *j = targets_json(&f, "dropped");
    assert_non_null(strstr(j, "\"activeTargets\":[]"));
    assert_non_null(strstr(j, "\"droppedTargets\":[{\"discoveredLabels\":{\"__address__\":\"drop.invalid:1\""));
    free(j);
    j = targets_json(&f, "active");
    assert_non_null(strstr(j, "\"droppedTargets\":[]"));
    assert_non_null(strstr(j, "/metrics?env=prod\\u0026module=m1\\u0026module=m2\""));
    free(j);
    route r = server_get(f.srv, "/metrics");
    assert_non_null(strstr(r.last_request, "GET /metrics?env=prod&module=m1&module=m2 HTTP/1.1"));
    fixture_close(&f);
}

static void test_staleness(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/metrics", "a 1\nb 2\nc_with_ts 3 1000\n", 200);
    start_one_target(&f, "s");
    WAIT_FOR(samples_of(&f, "b") >= 2, 5000);
    /* An explicit timestamp is honored. */
    assert_int_equal(query(&f, "c_with_ts").t[0], 1000);
    server_route(f.srv, "/metrics", "a 1\n", 200);
    WAIT_FOR(is_stale(last_of(&f, "b")), 5000);
    series_data b = query(&f, "b");
    size_t nb = b.n;
    assert_false(is_stale(last_of(&f, "a")));
    /* Samples with their own timestamp are not marked stale. */
    assert_int_equal(query(&f, "c_with_ts").n, 1);
    /* The failed scrape marks everything of the last scrape stale. */
    server_route(f.srv, "/metrics", "a 1\n", 500);
    WAIT_FOR(is_stale(last_of(&f, "a")), 5000);
    WAIT_FOR(last_of(&f, "up{job=\"s\"}") == 0, 5000);
    WAIT_FOR(json_has(&f, "\"lastError\":\"server returned HTTP status 500 Internal Server Error\""), 5000);
    assert_true(json_has(&f, "\"health\":\"down\""));
    /* b got exactly one marker. */
    assert_int_equal(query(&f, "b").n, nb);
    fixture_close(&f);
}

static void test_sample_limit(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/metrics", "x1 1\nx2 2\nx3 3\n", 200);
    fixture_start(&f, parse_config(&f, GLOBAL "scrape_configs:\n- job_name: l\n  sample_limit: 2\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: ln\n  label_value_length_limit: 16\n  metrics_path: /long\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n",
                                   f.srv->port, f.srv->port));
    server_route(f.srv, "/long", "y{v=\"toolongvalue_abcdefgh\"} 1\n", 200);
    WAIT_FOR(samples_of(&f, "up{job=\"l\"}") >= 2 && samples_of(&f, "up{job=\"ln\"}") >= 1, 5000);
    assert_true(last_of(&f, "up{job=\"l\"}") == 0);
    assert_int_equal(query(&f, "x1").nseries, 0);
    assert_int_equal(query(&f, "x3").nseries, 0);
    assert_true(query(&f, "scrape_samples_scraped{job=\"l\"}").v[0] == 3);
    assert_true(json_has(&f, "\"lastError\":\"sample limit exceeded\""));
    assert_true(last_of(&f, "up{job=\"ln\"}") == 0);
    assert_int_equal(query(&f, "y").nseries, 0);
    assert_true(json_has(&f, "label_value_length_limit exceeded (metric: y, label name: v, value: "
                             "\\\"toolongvalue_abcdefgh\\\", length: 21, limit: 16)"));
    buf mb = {0};
    scrape_metrics(f.m, &mb);
    buf_append(&mb, "", 1);
    assert_null(strstr((char *)mb.data, "promlite_target_scrapes_exceeded_sample_limit_total 0\n"));
    buf_free(&mb);
    fixture_close(&f);
}

static void test_body_size_limit(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    char body[4096] = "";
    for (int i = 0; i < 100; i++) snprintf(body + strlen(body), sizeof body - strlen(body), "metric_%03d 1\n", i);
    server_route(f.srv, "/metrics", body, 200);
    server_route(f.srv, "/small", "s 1\n", 200);
    fixture_start(&f, parse_config(&f, GLOBAL "scrape_configs:\n- job_name: b\n  body_size_limit: 100B\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: ok\n  body_size_limit: 100B\n  metrics_path: /small\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n",
                                   f.srv->port, f.srv->port));
    WAIT_FOR(samples_of(&f, "up{job=\"b\"}") >= 1 && samples_of(&f, "up{job=\"ok\"}") >= 1, 5000);
    assert_true(last_of(&f, "up{job=\"b\"}") == 0);
    assert_true(last_of(&f, "up{job=\"ok\"}") == 1);
    assert_int_equal(query(&f, "metric_000").nseries, 0);
    assert_true(json_has(&f, "\"lastError\":\"body size limit exceeded\""));
    fixture_close(&f);
}

static void test_timeout(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/metrics", "slow 1\n", 200);
    server_set(f.srv, "/metrics", 1000, 0, 0, NULL);
    fixture_start(&f, parse_config(&f, "scrape_configs:\n- job_name: slow\n  scrape_interval: 400ms\n"
                                       "  scrape_timeout: 150ms\n"
                                       "  static_configs:\n  - targets: ['127.0.0.1:%d']\n",
                                   f.srv->port));
    WAIT_FOR(samples_of(&f, "up{job=\"slow\"}") >= 1, 5000);
    assert_true(last_of(&f, "up{job=\"slow\"}") == 0);
    double dur = last_of(&f, "scrape_duration_seconds{job=\"slow\"}");
    assert_true(dur >= 0.14 && dur < 0.5);
    assert_int_equal(query(&f, "slow").nseries, 0);
    char want[160];
    snprintf(want, sizeof want, "Get \\\"http://127.0.0.1:%d/metrics\\\": context deadline exceeded", f.srv->port);
    assert_true(json_has(&f, want));
    fixture_close(&f);
}

/* A redirect: followed (by libcurl, which then does the target's scrapes)
 * when follow_redirects is on, as by default; a failed scrape with the
 * status otherwise.  A target where nothing listens fails with Go's
 * words; one named by a host name is looked up (off the thread) and
 * scraped, one whose name does not exist fails with the lookup's error. */
static void test_redirect_and_refused(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/metrics", "moved_here 3\n", 200);
    server_route(f.srv, "/old", "", 302);
    pthread_mutex_lock(&f.srv->lock);
    for (int i = 0; i < f.srv->nroutes; i++)
        if (!strcmp(f.srv->routes[i].path, "/old")) snprintf(f.srv->routes[i].location, 128, "/metrics");
    pthread_mutex_unlock(&f.srv->lock);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd); /* a port where nothing listens */
    int closed = ntohs(a.sin_port);
    fixture_start(&f, parse_config(&f, GLOBAL "scrape_configs:\n- job_name: follow\n  metrics_path: /old\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: stay\n  metrics_path: /old\n  follow_redirects: false\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: refused\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: named\n"
                                          "  static_configs:\n  - targets: ['localhost:%d', 'no-such-host.invalid:%d']\n",
                                   f.srv->port, f.srv->port, closed, f.srv->port, f.srv->port));
    WAIT_FOR(samples_of(&f, "up{job=\"follow\"}") >= 3 && samples_of(&f, "up{job=\"stay\"}") >= 1 &&
                 samples_of(&f, "up{job=\"refused\"}") >= 1 && samples_of(&f, "up{job=\"named\"}") >= 4,
             5000);
    char named[96];
    snprintf(named, sizeof named, "up{job=\"named\",instance=\"localhost:%d\"}", f.srv->port);
    assert_true(last_of(&f, named) == 1);
    snprintf(named, sizeof named, "up{job=\"named\",instance=\"no-such-host.invalid:%d\"}", f.srv->port);
    assert_true(last_of(&f, named) == 0);
    assert_true(json_has(&f, "dial tcp: lookup no-such-host.invalid: "));
    assert_true(last_of(&f, "up{job=\"follow\"}") == 1);
    assert_true(last_of(&f, "moved_here{job=\"follow\"}") == 3);
    assert_true(last_of(&f, "up{job=\"stay\"}") == 0);
    assert_true(last_of(&f, "up{job=\"refused\"}") == 0);
    assert_true(server_get(f.srv, "/metrics").hits >= 3);
    assert_true(json_has(&f, "\"lastError\":\"server returned HTTP status 302 Found\""));
    char want[160];
    snprintf(want, sizeof want, "Get \\\"http://127.0.0.1:%d/metrics\\\": dial tcp 127.0.0.1:%d: connect: connection refused",
             closed, closed);
    assert_true(json_has(&f, want));
    fixture_close(&f);
}

static void test_garbage(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/metrics", "ok 1\nthis is {{ not metrics\n", 200);
    server_route(f.srv, "/om", "# TYPE o gauge\no 1\n", 200); /* OpenMetrics without # EOF */
    server_set(f.srv, "/om", 0, 0, 0, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    server_route(f.srv, "/omok", "# TYPE o2 gauge\no2 7\n# EOF\n", 200);
    server_set(f.srv, "/omok", 0, 0, 0, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    fixture_start(&f, parse_config(&f, GLOBAL "scrape_configs:\n- job_name: g\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: om\n  metrics_path: /om\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: omok\n  metrics_path: /omok\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n",
                                   f.srv->port, f.srv->port, f.srv->port));
    WAIT_FOR(samples_of(&f, "up{job=\"g\"}") >= 1 && samples_of(&f, "up{job=\"om\"}") >= 1 &&
                 samples_of(&f, "up{job=\"omok\"}") >= 1,
             5000);
    assert_true(last_of(&f, "up{job=\"g\"}") == 0);
    assert_true(last_of(&f, "up{job=\"om\"}") == 0);
    assert_true(last_of(&f, "up{job=\"omok\"}") == 1);
    assert_int_equal(query(&f, "ok").nseries, 0);
    assert_true(last_of(&f, "o2") == 7);
    char *j = targets_json(&f, NULL);
    char *g = strstr(j, "\"scrapePool\":\"g\"");
    assert_non_null(g);
    char *le = strstr(g, "\"lastError\":\"2:");
    assert_non_null(le); /* "LINE:COL: reason" from the parser */
    free(j);
    fixture_close(&f);
}

/* The series cache lets the parser skip the labels of a series it parsed
 * before, but only in the format it parsed them in: a text valid in text
 * 0.0.4 ("m {a=...}") is not valid OpenMetrics.  A series that changes at
 * the same position is parsed afresh. */
static void test_cache_and_format(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/metrics", "m {a=\"1\"} 1\nup2 5\n", 200);
    start_one_target(&f, "c");
    WAIT_FOR(samples_of(&f, "m{a=\"1\"}") >= 2, 5000);
    assert_true(last_of(&f, "up{job=\"c\"}") == 1);
    /* Same bytes, now OpenMetrics: the blank before '{' is an error. */
    server_route(f.srv, "/metrics", "m {a=\"1\"} 1\nup2 5\n# EOF\n", 200);
    server_set(f.srv, "/metrics", 0, 0, 0, "application/openmetrics-text; version=1.0.0; charset=utf-8");
    WAIT_FOR(last_of(&f, "up{job=\"c\"}") == 0, 5000);
    WAIT_FOR(json_has(&f, "\"lastError\":\"1:3: invalid sample value"), 5000);
    /* Back to valid OpenMetrics, where the label-less series gains labels
     * and the labelled one changes its value text only. */
    server_route(f.srv, "/metrics", "m{a=\"1\"} 2\nup2{x=\"1\"} 6\n# EOF\n", 200);
    WAIT_FOR(last_of(&f, "up2{x=\"1\"}") == 6, 5000);
    server_route(f.srv, "/metrics", "m{a=\"1\"} 3\nup2{x=\"10\"} 7\n# EOF\n", 200);
    WAIT_FOR(last_of(&f, "up2{x=\"10\"}") == 7, 5000);
    WAIT_FOR(last_of(&f, "m{a=\"1\"}") == 3, 5000);
    WAIT_FOR(is_stale(last_of(&f, "up2{x=\"1\"}")), 5000);
    assert_true(last_of(&f, "up{job=\"c\"}") == 1);
    fixture_close(&f);
}

static void test_basic_auth_and_gzip(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/metrics", "secret 42\n", 200);
    server_set(f.srv, "/metrics", 0, 1, 0, NULL);
    char pwfile[128];
    snprintf(pwfile, sizeof pwfile, "%s/pw", f.dir);
    FILE *pf = fopen(pwfile, "w");
    fputs("pass\n", pf);
    fclose(pf);
    char body[4096] = "";
    for (int i = 0; i < 50; i++) snprintf(body + strlen(body), sizeof body - strlen(body), "zipped_%02d %d\n", i, i);
    server_route(f.srv, "/gz", body, 200);
    server_set(f.srv, "/gz", 0, 0, 1, NULL);
    fixture_start(&f, parse_config(&f, GLOBAL "scrape_configs:\n- job_name: noauth\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: auth\n  basic_auth:\n    username: user\n    password: pass\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: authfile\n  basic_auth:\n    username: user\n"
                                          "    password_file: %s\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: gz\n  metrics_path: /gz\n  body_size_limit: 1KB\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n",
                                   f.srv->port, f.srv->port, pwfile, f.srv->port, f.srv->port));
    WAIT_FOR(samples_of(&f, "up{job=\"noauth\"}") >= 1 && samples_of(&f, "up{job=\"auth\"}") >= 1 &&
                 samples_of(&f, "up{job=\"authfile\"}") >= 1 && samples_of(&f, "up{job=\"gz\"}") >= 1,
             5000);
    assert_true(last_of(&f, "up{job=\"noauth\"}") == 0);
    assert_true(json_has(&f, "\"lastError\":\"server returned HTTP status 401 Unauthorized\""));
    assert_true(last_of(&f, "up{job=\"auth\"}") == 1);
    assert_true(last_of(&f, "up{job=\"authfile\"}") == 1);
    assert_true(last_of(&f, "secret{job=\"auth\"}") == 42);
    assert_true(last_of(&f, "secret{job=\"authfile\"}") == 42);
    /* gzip: decoded, and the limit applies to the decoded body (~650 B). */
    assert_true(last_of(&f, "up{job=\"gz\"}") == 1);
    assert_true(last_of(&f, "zipped_49") == 49);
    assert_true(server_get(f.srv, "/gz").gzipped >= 1);
    fixture_close(&f);
}

/* gzip bodies: several members, a damaged stream, and body_size_limit on
 * the inflated size of a body whose compressed size is far under it. */
static void test_gzip_edge_cases(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    char body[8192] = "";
    for (int i = 0; i < 100; i++) snprintf(body + strlen(body), sizeof body - strlen(body), "member_%02d %d\n", i, i);
    server_route(f.srv, "/two", body, 200);
    server_set(f.srv, "/two", 0, 0, 2, NULL);
    server_route(f.srv, "/bad", body, 200);
    server_set(f.srv, "/bad", 0, 0, 3, NULL);
    char big[8192] = "";
    for (int i = 0; i < 300; i++) snprintf(big + strlen(big), sizeof big - strlen(big), "same_metric_name 1\n");
    server_route(f.srv, "/big", big, 200);
    server_set(f.srv, "/big", 0, 0, 1, NULL);
    fixture_start(&f, parse_config(&f, GLOBAL "scrape_configs:\n"
                                          "- job_name: two\n  metrics_path: /two\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: bad\n  metrics_path: /bad\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                                          "- job_name: big\n  metrics_path: /big\n  body_size_limit: 2KB\n"
                                          "  static_configs:\n  - targets: ['127.0.0.1:%d']\n",
                                   f.srv->port, f.srv->port, f.srv->port));
    WAIT_FOR(samples_of(&f, "up{job=\"two\"}") >= 1 && samples_of(&f, "up{job=\"bad\"}") >= 1 &&
                 samples_of(&f, "up{job=\"big\"}") >= 1,
             5000);
    assert_true(server_get(f.srv, "/two").gzipped >= 1);
    assert_true(last_of(&f, "up{job=\"two\"}") == 1);
    assert_true(last_of(&f, "member_00") == 0);
    assert_true(last_of(&f, "member_99") == 99);
    assert_true(last_of(&f, "scrape_samples_scraped{job=\"two\"}") == 100);
    assert_true(last_of(&f, "up{job=\"bad\"}") == 0);
    assert_true(json_has(&f, "\"lastError\":\"gzip: invalid or truncated compressed data\""));
    assert_true(last_of(&f, "up{job=\"big\"}") == 0);
    assert_true(json_has(&f, "\"lastError\":\"body size limit exceeded\""));
    char *m = NULL;
    buf b = {0};
    scrape_metrics(f.m, &b);
    buf_append(&b, "", 1);
    m = (char *)b.data;
    const char *line = strstr(m, "\npromlite_target_scrapes_exceeded_body_size_limit_total ");
    assert_non_null(line);
    assert_true(atoi(line + strlen("\npromlite_target_scrapes_exceeded_body_size_limit_total ")) >= 1);
    buf_free(&b);
    fixture_close(&f);
}

static void write_file(const char *path, const char *text) {
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *fp = fopen(tmp, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    assert_int_equal(rename(tmp, path), 0);
}

static void test_file_sd(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/sd1", "one 1\n", 200);
    server_route(f.srv, "/sd2", "two 2\n", 200);
    char json[128], yml[128], text[512];
    snprintf(json, sizeof json, "%s/t1.json", f.dir);
    snprintf(yml, sizeof yml, "%s/t2.yml", f.dir);
    snprintf(text, sizeof text,
             "[{\"targets\": [\"127.0.0.1:%d\"], \"labels\": {\"__metrics_path__\": \"/sd1\", \"zone\": \"a\"}}]\n",
             f.srv->port);
    write_file(json, text);
    fixture_start(&f, parse_config(&f, GLOBAL "scrape_configs:\n- job_name: sd\n  file_sd_configs:\n"
                                          "  - files: ['%s/*.json', '%s/*.yml']\n",
                                   f.dir, f.dir));
    WAIT_FOR(samples_of(&f, "one{zone=\"a\",job=\"sd\"}") >= 1, 5000);
    assert_true(json_has(&f, "\"__meta_filepath\":"));
    /* A second file adds a target. */
    snprintf(text, sizeof text, "- targets: ['127.0.0.1:%d']\n  labels:\n    __metrics_path__: /sd2\n", f.srv->port);
    write_file(yml, text);
    WAIT_FOR(samples_of(&f, "two{job=\"sd\"}") >= 1, 5000);
    /* Emptying the first removes its target: its series go stale. */
    write_file(json, "[]\n");
    WAIT_FOR(is_stale(last_of(&f, "one")), 5000);
    WAIT_FOR(is_stale(last_of(&f, "up{job=\"sd\",zone=\"a\"}")), 5000);
    assert_false(json_has(&f, "/sd1\""));
    size_t n2 = samples_of(&f, "two");
    WAIT_FOR(samples_of(&f, "two") > n2, 5000);
    assert_false(is_stale(last_of(&f, "two")));
    fixture_close(&f);
}

static void test_apply_config(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/metrics", "v 1\n", 200);
    const char *tmpl = GLOBAL "scrape_configs:\n"
                              "- job_name: same\n  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                              "- job_name: changed\n  static_configs:\n  - targets: ['127.0.0.1:%d']\n"
                              "    labels: {version: '%d'}\n"
                              "%s";
    char gone[256];
    snprintf(gone, sizeof gone, "- job_name: gone\n  static_configs:\n  - targets: ['127.0.0.1:%d']\n", f.srv->port);
    fixture_start(&f, parse_config(&f, tmpl, f.srv->port, f.srv->port, 1, gone));
    WAIT_FOR(samples_of(&f, "up{job=\"same\"}") >= 3 && samples_of(&f, "up{job=\"gone\"}") >= 1 &&
                 samples_of(&f, "up{job=\"changed\"}") >= 1,
             5000);
    errbuf err;
    assert_int_equal(scrape_apply_config(f.m, parse_config(&f, tmpl, f.srv->port, f.srv->port, 2, ""), &err), 0);
    WAIT_FOR(samples_of(&f, "up{job=\"changed\",version=\"2\"}") >= 2, 5000);
    WAIT_FOR(is_stale(last_of(&f, "up{job=\"gone\"}")), 5000);
    WAIT_FOR(is_stale(last_of(&f, "up{job=\"changed\",version=\"1\"}")), 5000);
    size_t n = samples_of(&f, "up{job=\"same\"}");
    WAIT_FOR(samples_of(&f, "up{job=\"same\"}") >= n + 2, 5000);
    /* The unchanged job never stopped: evenly spaced, never stale. */
    series_data d = query(&f, "up{job=\"same\"}");
    assert_steady(&d);
    series_data v = query(&f, "v{job=\"same\"}");
    for (size_t i = 0; i < v.n; i++) assert_false(is_stale(v.v[i]));
    /* The job's series were added once: the cache survived. */
    series_data added = query(&f, "scrape_series_added{job=\"same\"}");
    assert_true(added.v[0] == 1);
    for (size_t i = 1; i < added.n; i++) assert_true(added.v[i] == 0);
    assert_false(json_has(&f, "\"scrapePool\":\"gone\""));
    fixture_close(&f);
}

/* A change of a job's static targets alone (what a managed target's
 * arrival is) resyncs the job: the target that stays keeps its schedule and
 * its series cache, the new one starts, a removed one goes stale. */
static void test_targets_only_change(void **state) {
    (void)state;
    fixture f;
    fixture_open(&f);
    server_route(f.srv, "/metrics", "v 1\n", 200);
    const char *one = GLOBAL "scrape_configs:\n- job_name: grow\n  static_configs:\n"
                             "  - {targets: ['127.0.0.1:%d'], labels: {t: a}}\n%s";
    char second[256];
    snprintf(second, sizeof second, "  - {targets: ['127.0.0.1:%d'], labels: {t: b}}\n", f.srv->port);
    fixture_start(&f, parse_config(&f, one, f.srv->port, ""));
    WAIT_FOR(samples_of(&f, "up{job=\"grow\",t=\"a\"}") >= 3, 5000);
    errbuf err;
    assert_int_equal(scrape_apply_config(f.m, parse_config(&f, one, f.srv->port, second), &err), 0);
    WAIT_FOR(samples_of(&f, "up{job=\"grow\",t=\"b\"}") >= 2, 5000);
    size_t n = samples_of(&f, "up{job=\"grow\",t=\"a\"}");
    WAIT_FOR(samples_of(&f, "up{job=\"grow\",t=\"a\"}") >= n + 2, 5000);
    series_data d = query(&f, "up{job=\"grow\",t=\"a\"}");
    assert_steady(&d);
    series_data added = query(&f, "scrape_series_added{job=\"grow\",t=\"a\"}");
    assert_true(added.v[0] == 1);
    for (size_t i = 1; i < added.n; i++) assert_true(added.v[i] == 0);
    /* And back: the second target goes stale at once. */
    assert_int_equal(scrape_apply_config(f.m, parse_config(&f, one, f.srv->port, ""), &err), 0);
    WAIT_FOR(is_stale(last_of(&f, "up{job=\"grow\",t=\"b\"}")), 5000);
    assert_false(is_stale(last_of(&f, "up{job=\"grow\",t=\"a\"}")));
    fixture_close(&f);
}

static void test_file_sd_parse(void **state) {
    (void)state;
    sd_group *g;
    size_t n;
    errbuf err;
    const char *j = "[{\"targets\":[\"a:1\",\"b:2\"],\"labels\":{\"x\":\"y\"}},{\"targets\":[\"c:3\"]}]";
    assert_int_equal(file_sd_parse(j, strlen(j), &g, &n, &err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(g[0].ntargets, 2);
    assert_string_equal(g[0].targets[1], "b:2");
    assert_int_equal(g[0].labels.n, 1);
    assert_string_equal(g[0].labels.v[0].value, "y");
    assert_int_equal(g[1].labels.n, 0);
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < g[i].ntargets; k++) free(g[i].targets[k]);
        free(g[i].targets);
        owned_labels_free(&g[i].labels);
    }
    free(g);
    const char *bad = "{\"targets\": 1}";
    assert_int_equal(file_sd_parse(bad, strlen(bad), &g, &n, &err), -1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_file_sd_parse),
        cmocka_unit_test(test_normal_target),
        cmocka_unit_test(test_honor_labels),
        cmocka_unit_test(test_relabel),
        cmocka_unit_test(test_staleness),
        cmocka_unit_test(test_sample_limit),
        cmocka_unit_test(test_body_size_limit),
        cmocka_unit_test(test_timeout),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_redirect_and_refused),
        cmocka_unit_test(test_cache_and_format),
        cmocka_unit_test(test_basic_auth_and_gzip),
        cmocka_unit_test(test_gzip_edge_cases),
        cmocka_unit_test(test_file_sd),
        cmocka_unit_test(test_apply_config),
        cmocka_unit_test(test_targets_only_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
